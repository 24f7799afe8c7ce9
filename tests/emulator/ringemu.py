#!/usr/bin/env python3
"""ringemu: an emulator of the RingCentral-platform API subset ringsync speaks.

It serves the OAuth, SCIM and REST endpoints listed in
docs/phone-api.md and tests/emulator/README.md with the same rules, rate limits and error
bodies, plus a control interface under /_emu/ that tests use to seed data,
inject faults and read a request log. Choices where the platform's documentation is silent are
listed in tests/emulator/README.md. Standard library only.

Layout, top to bottom:
  constants and helpers    JSON responses, error bodies, small parsers
  RateLimiter              per-group sliding windows and penalties
  TokenStore               client check, grants, access/refresh tokens, codes
  contact rules            state/province tables, contact merge and validation
  profile images           type by magic bytes, size from the header, multipart
  Directory                extensions, phone numbers, custom fields, sites,
                           cost centers, roles, creates, seeding
  TaskQueue                extension-bulk-update tasks
  SCIM mapping             extension <-> SCIM User, PATCH operations
  FaultInjector, RequestLog
  OAuthApi, ScimApi, RestApi, ControlApi   one method per endpoint
  Emulator                 the pipeline: rate limit, fault, auth, dispatch, log
  Handler, EmuServer, main HTTP/1.1 keep-alive plumbing, TLS, signals

Concurrency: one lock (Emulator.lock) guards all state; socket I/O and
injected delays happen outside it.
"""

import argparse
import base64
import copy
import email.parser
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

# ---------------------------------------------------------------------------
# Constants

ACCOUNT_PATH = "/restapi/v1.0/account/~"
ACCOUNT_V2_PATH = "/restapi/v2/accounts/~"
SCIM_PATH = "/scim/v2"
GROUPS = ("Light", "Medium", "Heavy", "Auth")
DEFAULT_LIMITS = {"Light": 50, "Medium": 40, "Heavy": 10, "Auth": 5}

SCHEMA_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCHEMA_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MSG_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MSG_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCHEMA_SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
SCHEMA_RT = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
SCIM_JSON = "application/scim+json"
REST_JSON = "application/json"

GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "ReadAccounts EditAccounts EditExtensions ReadContacts"
OWNER_ID = "2000000001"
ACCESS_TTL_DEFAULT, ACCESS_TTL_MIN, ACCESS_TTL_MAX = 3600, 600, 3600
REFRESH_TTL_DEFAULT, REFRESH_TTL_MAX = 604800, 2592000
AUTH_CODE_TTL = 60
EXPIRED_TOKEN_MEMORY = 3600     # expired tokens answer "Token expired" this long

# Auto-assigned ids exceed 2^31, as real ones do, so clients must use 64 bits.
EXT_ID_BASE = 3000000001
NUMBER_ID_BASE = 5000000001
# Extension ids have at most 18 digits (parse_int reads no more). With the
# switch scim_ids "distinct" a SCIM user id is SCIM_ID_BASE + the extension
# id: 19 digits, "1" then the extension id zero-padded to 18, so it never
# equals an extension id and still fits a signed 64-bit integer.
EXT_ID_MAX = 10 ** 18 - 1
SCIM_ID_BASE = 10 ** 18
SCIM_ID_RE = re.compile(r"1[0-9]{18}")
LONG_ID_RE = re.compile(r"[0-9]{19}")     # beyond every extension id

DEFAULT_PER_PAGE, MAX_PER_PAGE = 100, 1000
DIRECTORY_STATUSES = ("Enabled", "Disabled", "NotActivated")   # what the directory lists
SCIM_DEFAULT_COUNT, SCIM_MAX_COUNT = 100, 1000
BULK_MAX = 500
MAX_BODY = 32 * 1024 * 1024
LOG_CAP = 200000

SETTABLE_STATUSES = ("Enabled", "Disabled", "NotActivated", "Frozen")
ALL_STATUSES = SETTABLE_STATUSES + ("Unassigned",)
ACTIVE_STATUSES = ("Enabled", "NotActivated")
USAGE_TYPES = (
    "DirectNumber", "MainCompanyNumber", "CompanyNumber", "Inventory",
    "AdditionalCompanyNumber", "CompanyFaxNumber", "ContactCenterNumber",
    "ConferencingNumber", "MeetingsNumber", "BusinessMobileNumber",
    "ForwardedNumber", "ForwardedCompanyNumber", "IntegrationNumber",
)
CONTACT_FIELDS = ("firstName", "lastName", "email", "businessPhone",
                  "mobilePhone", "department", "jobTitle", "company")
ADDRESS_FIELDS = ("street", "city", "state", "zip", "country")

E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
EXT_NUMBER_RE = re.compile(r"[0-9]{1,10}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
HOST_RE = re.compile(r"[A-Za-z0-9.\-:\[\]]{1,255}")
SERVER_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")

# Provisioning (v1 create, v2 batch create, sites, cost centers, roles)
MAIN_SITE = "main-site"             # the main site's id on a multi-site account
MAX_EXT_LEN_DEFAULT = 5             # service-info limits.maxExtensionNumberLength
FIRST_FREE_NUMBER = 101             # where the search for a free extension number starts
CREATE_STATUSES = ("Enabled", "NotActivated")
BATCH_MAX = 10                      # records of one v2 batch-provisioning call
BATCH_FIELD_MAX = 64                # characters of a batch record's name or email
DEVICE_TYPES = ("OtherPhone", "WebRTC")

# HTTP status of a REST error, by errorCode (first error of a response).
ERROR_STATUS = {"CMN-100": 400, "CMN-101": 400, "CMN-102": 404, "CMN-103": 400,
                "CMN-106": 400, "CMN-406": 409, "CMN-408": 403, "EXT-107": 409,
                "EXT-402": 403, "FeatureNotAvailable": 403}

# ---------------------------------------------------------------------------
# Small helpers


def iso_time(ts):
    """ISO 8601 UTC with milliseconds, as the platform prints times."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return "%s.%03dZ" % (whole, int(ts * 1000) % 1000)


def parse_int(value):
    """An int from a JSON int or a decimal string; None otherwise (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
        return int(value)
    return None


def fold(value):
    """Case-insensitive comparison key; non-strings compare as empty."""
    return value.casefold() if isinstance(value, str) else ""


def parse_json_body(body):
    """Decoded JSON document; ValueError for bad UTF-8, bad JSON, too deep."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


@dataclass
class Response:
    """What the HTTP layer sends. action: None, "reset" or "truncate"."""
    status: int
    body: bytes = b""
    headers: list = field(default_factory=list)
    action: str = None


def json_response(status, obj, ctype=REST_JSON, headers=None, stable=False):
    """A JSON response; stable=True sorts keys and indents (state dumps)."""
    if stable:
        text = json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False)
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    hdrs = [("Content-Type", ctype)] + list(headers or [])
    return Response(status, text.encode("utf-8"), hdrs)


class ApiError(Exception):
    """Carries a complete error response up to the dispatcher."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def err_item(code, message, param=None, value=None):
    """One entry of a REST errors[] array."""
    item = {"errorCode": code, "message": message}
    if param is not None:
        item["parameterName"] = param
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        item["parameterValue"] = str(value)
    return item


def invalid(param, value=None):
    return err_item("CMN-101", "Parameter [%s] value is invalid." % param, param, value)


def not_found(param, value=None):
    return err_item("CMN-102", "Resource for parameter [%s] is not found." % param,
                    param, value)


def ext_in_use(value):
    return err_item("EXT-107", "Extension already in use", "extensionNumber", value)


def mandatory(param):
    return err_item("CMN-100", "Mandatory parameter [%s] not specified." % param, param)


def duplicate(param, value, code="CMN-406"):
    """A value another extension has, on a create: CMN-406, or CMN-101 (the
    code of a duplicate extension number is not published: either may come)."""
    if code == "CMN-101":
        return invalid(param, value)
    return err_item("CMN-406", "Duplicate value for parameter [%s]." % param, param, value)


def licence_limit():
    return err_item("EXT-402", "License limit has been reached.")


def feature_missing(param=None):
    """The account lacks a feature (cost centers)."""
    return err_item("FeatureNotAvailable", "The requested feature is not available", param)


def too_many(limit):
    return err_item("CMN-106", "Batch request is limited to %d entries" % limit)


def permission_error(name):
    """403 CMN-408: the app lacks a permission (permissionName as the
    platform's answers carry it, at the top and in errors[])."""
    item = err_item("CMN-408", "In order to call this API endpoint, application needs "
                    "to have [%s] permission" % name)
    item["permissionName"] = name
    body = rest_body([item])
    body["permissionName"] = name
    return ApiError(json_response(403, body))


def rest_body(items):
    first = items[0]
    return {"errorCode": first["errorCode"], "message": first["message"], "errors": items}


def rest_errors(items, status=None):
    """ApiError with the REST error body; status from the first errorCode."""
    status = status or ERROR_STATUS.get(items[0]["errorCode"], 400)
    return ApiError(json_response(status, rest_body(items)))


def rest_error(status, code, message, headers=None):
    body = rest_body([err_item(code, message)])
    return ApiError(json_response(status, body, headers=headers))


def scim_error(status, detail, scim_type=None, headers=None):
    body = {"schemas": [MSG_ERROR], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return ApiError(json_response(status, body, SCIM_JSON, headers))


def oauth_error(status, error, code, description, headers=None, top=None):
    """OAuth error body; top=(errorCode, message) adds the REST-style fields."""
    body = {}
    if top:
        body["errorCode"], body["message"] = top
    body.update({"error": error, "error_description": description,
                 "errors": [{"errorCode": code, "message": description}]})
    return ApiError(json_response(status, body, headers=headers))


def rest_json(req):
    """The request body as a JSON object, or the REST CMN-103/CMN-101 error."""
    try:
        data = parse_json_body(req.body)
    except ValueError:
        raise rest_errors([err_item("CMN-103", "JSON can't be parsed.")]) from None
    if not isinstance(data, dict):
        raise rest_errors([invalid("body")])
    return data


def scim_json(req):
    """The request body as a JSON object, or the SCIM invalidSyntax error."""
    try:
        data = parse_json_body(req.body)
    except ValueError:
        raise scim_error(400, "JSON can not be parsed", "invalidSyntax") from None
    if not isinstance(data, dict):
        raise scim_error(400, "Request body must be a JSON object.", "invalidSyntax")
    return data


@dataclass
class Request:
    """A parsed HTTP request as the API layer sees it."""
    method: str
    raw_path: str           # as sent, without the query
    path: str               # percent-decoded
    query: str
    headers: object         # email.message.Message (case-insensitive get)
    body: bytes
    base_url: str           # scheme://host[:port] of this server

    def __post_init__(self):
        self.params = parse_qs(self.query, keep_blank_values=True)

    def q(self, name, default=None):
        values = self.params.get(name)
        return values[0] if values else default

    def q_all(self, name):
        """All values of a repeatable parameter; commas also separate values."""
        out = []
        for value in self.params.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def url_with(self, **overrides):
        """This request's absolute URL with some query parameters replaced."""
        pairs = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True)
                 if k not in overrides]
        pairs += [(k, str(v)) for k, v in overrides.items()]
        query = urlencode(pairs, quote_via=quote)
        return "%s%s%s" % (self.base_url, self.raw_path, "?" + query if query else "")


# ---------------------------------------------------------------------------
# Behaviour switches: where the platform's definitions allow two behaviours
# (or say nothing), tests choose one with POST /_emu/behaviour.


class Behaviour:
    """The switches and their defaults (README, control interface)."""

    CHOICES = {
        "cmn101_status": (400, 403),
        "empty_paging": ("full", "no-fields", "none"),
        "bulk_ids": ("string", "any"),
        "bulk_result_ids": ("string", "number"),
        "state_mandatory": (False, True),
        "scim_ids": ("same", "distinct"),
        "directory_per_page": (1000, 2000),
        "ws_permission": (True, False),
        "ws_recovery": ("success", "fail"),
        "directory_events": (True, False),
        "ext_event_shape": ("flat", "nested"),
        "duplicate_extension_code": ("CMN-406", "CMN-101"),
        "v1_create_uses_unassigned": (False, True),
        "role_permission": (True, False),
        "cost_center_feature": (True, False),
        "batch_create_uses_unassigned": (False, True),
        "batch_result_order": ("same", "reversed"),
        "profile_image_method": ("put", "post-only"),
    }
    NUMBERS = ("refresh_ttl_app", "session_limit", "role_bulk_max")     # 0: off

    def __init__(self):
        self.reset()

    def reset(self):
        self.values = {k: v[0] for k, v in self.CHOICES.items()}
        self.values.update({k: 0 for k in self.NUMBERS})

    def __getattr__(self, name):
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def update(self, body):
        """Validate every key first, then apply: a bad body changes nothing."""
        for key, value in body.items():
            if key in self.CHOICES:
                if not any(value == c and type(value) is type(c) for c in self.CHOICES[key]):
                    raise ValueError("%s must be one of %s" % (
                        key, ", ".join(map(str, self.CHOICES[key]))))
            elif key in self.NUMBERS:
                if parse_int(value) is None or parse_int(value) < 0:
                    raise ValueError("%s must be an integer >= 0" % key)
            else:
                raise ValueError("unknown switch %s" % key)
        for key, value in body.items():
            self.values[key] = parse_int(value) if key in self.NUMBERS else value
        return dict(self.values)

    def adjust(self, req, resp):
        """CMN-101 as 403 (the platform sends either) on API calls."""
        if self.cmn101_status == 400 or resp.status != 400 or \
                req.path.startswith("/restapi/oauth/"):
            return resp
        try:
            code = json.loads(resp.body.decode("utf-8")).get("errorCode")
        except (ValueError, AttributeError):
            return resp
        if code == "CMN-101":
            resp.status = 403
        return resp


# ---------------------------------------------------------------------------
# Rate limits


@dataclass
class RateDecision:
    group: str
    limit: int
    remaining: int
    window: int
    retry_after: int = None     # set when the request is refused

    @property
    def allowed(self):
        return self.retry_after is None

    def headers(self):
        return [("X-Rate-Limit-Group", self.group),
                ("X-Rate-Limit-Limit", str(self.limit)),
                ("X-Rate-Limit-Remaining", str(self.remaining)),
                ("X-Rate-Limit-Window", str(self.window))]


class RateLimiter:
    """Per-group sliding window of `window` seconds; a request over the limit
    blocks the whole group for `penalty` seconds. When a block starts the
    window is emptied, so the group starts afresh once the penalty is over."""

    def __init__(self, limits, window, penalty):
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(limits)
        self.window = window
        self.penalty = penalty
        self.reset()

    def reset(self):
        self.hits = {g: deque() for g in GROUPS}
        self.blocked_until = {g: 0.0 for g in GROUPS}

    def configure(self, limits=None, window=None, penalty=None):
        self.limits.update(limits or {})
        if window is not None:
            self.window = window
        if penalty is not None:
            self.penalty = penalty
        self.reset()

    def check(self, group, now):
        """Count one request of `group` at monotonic time `now`."""
        limit = self.limits[group]
        if now < self.blocked_until[group]:
            wait = math.ceil(self.blocked_until[group] - now)
            return RateDecision(group, limit, 0, self.window, max(wait, 1))
        hits = self.hits[group]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= limit:
            self.blocked_until[group] = now + self.penalty
            hits.clear()
            return RateDecision(group, limit, 0, self.window, self.penalty)
        hits.append(now)
        return RateDecision(group, limit, limit - len(hits), self.window)

    def config(self):
        out = dict(self.limits)
        out.update(window=self.window, penalty=self.penalty)
        return out


def rate_limited(decision):
    body = rest_body([err_item("CMN-301", "Request rate exceeded")])
    return json_response(429, body, headers=[("Retry-After", str(decision.retry_after))])


# ---------------------------------------------------------------------------
# OAuth tokens


@dataclass
class AuthCode:
    redirect_uri: str
    challenge: str
    expires: float


class TokenStore:
    """The OAuth server side: one client, optional JWT credential, tokens.

    Access and refresh tokens of one grant share a session; revoking either
    revokes the session. Refresh rotates: the old refresh token is revoked.
    Times are time.monotonic() values supplied by the caller."""

    BASIC_REALM = [("WWW-Authenticate", 'Basic realm="RingCentral REST API"')]
    BEARER_REALM = [("WWW-Authenticate", 'Bearer realm="RingCentral REST API"')]

    def __init__(self, client_id, client_secret, jwt, access_ttl_max, refresh_ttl_max):
        self.client_id = client_id.encode()
        self.client_secret = client_secret.encode()
        self.jwt = jwt.encode() if jwt else None
        self.access_ttl_max = access_ttl_max
        self.refresh_ttl_max = refresh_ttl_max
        self.refresh_ttl_app = 0    # the app's default: longer asks are cut to it
        self.session_limit = 0      # parallel sessions; a new one ends the oldest
        self.redirect_uris = []     # registered for the app; empty: any
        self.endpoint_id = secrets.token_urlsafe(16)
        self.reset()

    def reset(self):
        self.access = {}        # token -> [session, expires]
        self.refresh = {}       # token -> [session, expires]
        self.revoked = set()    # refresh tokens revoked or rotated out
        self.codes = {}         # authorization code -> AuthCode
        self.sessions = 0

    # -- client authentication

    def check_client(self, header):
        """Verify HTTP Basic client credentials or raise 401 invalid_client."""
        if not header or header[:6].lower() != "basic ":
            raise oauth_error(401, "invalid_client", "OAU-123",
                              "Client authentication is required", self.BASIC_REALM)
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True)
        except ValueError:
            raw = b""
        cid, sep, secret = raw.partition(b":")
        ok_id = hmac.compare_digest(cid, self.client_id)
        ok_secret = hmac.compare_digest(secret, self.client_secret)
        if not (sep and ok_id and ok_secret):
            raise oauth_error(401, "invalid_client", "OAU-153", "Invalid client",
                              self.BASIC_REALM)

    # -- grants

    def grant(self, form, now):
        """Handle a token request body; returns the success JSON object."""
        kind = form.get("grant_type")
        if not kind:
            raise self._bad_param("grant_type")
        handlers = {GRANT_JWT: self._grant_jwt, "refresh_token": self._grant_refresh,
                    "authorization_code": self._grant_code}
        if kind not in handlers:
            raise oauth_error(400, "unsupported_grant_type", "OAU-250",
                              "Unsupported grant type")
        access_ttl, refresh_ttl = self._ttls(form)
        session = handlers[kind](form, now)
        return self._issue(now, access_ttl, refresh_ttl, session)

    def _bad_param(self, name):
        return oauth_error(400, "invalid_request", "CMN-101",
                           "Parameter [%s] value is invalid." % name)

    def _ttls(self, form):
        """Effective TTLs: clamp to the platform's bounds, then to the CLI caps."""
        access, refresh = ACCESS_TTL_DEFAULT, REFRESH_TTL_DEFAULT
        if form.get("access_token_ttl"):
            access = parse_int(form["access_token_ttl"])
            if access is None:
                raise self._bad_param("access_token_ttl")
            access = min(max(access, ACCESS_TTL_MIN), ACCESS_TTL_MAX)
        if form.get("refresh_token_ttl"):
            refresh = parse_int(form["refresh_token_ttl"])
            if refresh is None or refresh < 1:
                raise self._bad_param("refresh_token_ttl")
        refresh = min(refresh, REFRESH_TTL_MAX, self.refresh_ttl_max)
        if self.refresh_ttl_app:
            refresh = min(refresh, self.refresh_ttl_app)
        return min(access, self.access_ttl_max), refresh

    def _grant_jwt(self, form, now):
        if self.jwt is None:
            raise oauth_error(400, "unauthorized_client", "OAU-112",
                              "The client is unauthorized for the required grant type: "
                              "[%s]" % GRANT_JWT)
        assertion = form.get("assertion")
        if not assertion:
            raise self._bad_param("assertion")
        if not hmac.compare_digest(assertion.encode(), self.jwt):
            raise oauth_error(400, "invalid_grant", "OAU-144", "Invalid JWT token")
        return None

    def _grant_refresh(self, form, now):
        token = form.get("refresh_token")
        if not token:
            raise self._bad_param("refresh_token")
        entry = self.refresh.get(token)
        if entry is None:
            if token in self.revoked:
                raise oauth_error(400, "invalid_grant", "OAU-211", "Token is revoked")
            raise oauth_error(400, "invalid_grant", "OAU-213", "Token not found")
        if now >= entry[1]:
            raise oauth_error(400, "invalid_grant", "OAU-210", "Token expired")
        del self.refresh[token]
        self.revoked.add(token)
        return entry[0]

    def _grant_code(self, form, now):
        code = form.get("code")
        if not code:
            raise self._bad_param("code")
        entry = self.codes.pop(code, None)      # single use, even on failure
        if entry is None:
            raise oauth_error(400, "invalid_grant", "OAU-106", "Invalid authorization code")
        if now >= entry.expires:
            raise oauth_error(400, "invalid_grant", "OAU-108", "Authorization code is expired")
        if form.get("redirect_uri") != entry.redirect_uri:
            raise oauth_error(400, "invalid_grant", "OAU-109", "Redirect URIs do not match")
        if entry.challenge and not pkce_matches(form.get("code_verifier"), entry.challenge):
            raise oauth_error(400, "invalid_grant", "OAU-106", "Invalid code verifier")
        return None

    def _issue(self, now, access_ttl, refresh_ttl, session):
        self._purge(now)
        new = session is None
        if new:
            self.sessions += 1
            session = str(100000 + self.sessions)
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = [session, now + access_ttl]
        self.refresh[refresh] = [session, now + refresh_ttl]
        live = self.live_sessions()
        while new and self.session_limit and len(live) > self.session_limit:
            self._end_session(live.pop(0))
        return {"access_token": access, "token_type": "bearer",
                "expires_in": access_ttl, "refresh_token": refresh,
                "refresh_token_expires_in": refresh_ttl, "scope": SCOPE,
                "owner_id": OWNER_ID, "endpoint_id": self.endpoint_id,
                "session_id": session}

    def _purge(self, now):
        """Forget tokens long expired, so memory stays bounded."""
        for table in (self.access, self.refresh):
            for token in [t for t, e in table.items() if e[1] + EXPIRED_TOKEN_MEMORY < now]:
                del table[token]

    # -- authorization code flow

    def authorize(self, query, now):
        """Auto-approve an authorization request; returns the redirect URL."""
        client = (query.get("client_id") or "").encode()
        if not hmac.compare_digest(client, self.client_id):
            raise oauth_error(401, "invalid_client", "OAU-120", "Wrong Application ID")
        redirect = query.get("redirect_uri") or ""
        if not redirect.startswith(("http://", "https://")):
            raise self._bad_param("redirect_uri")
        if self.redirect_uris and redirect not in self.redirect_uris:
            # exactly one of the app's registered URIs, or the page fails
            raise oauth_error(400, "invalid_request", "OAU-109",
                              "Redirect URIs do not match")
        state = query.get("state")
        if query.get("response_type") != "code":
            return add_query(redirect, error="unsupported_response_type", state=state)
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method")
        if (challenge or method) and (method != "S256" or not challenge):
            return add_query(redirect, error="invalid_request",
                             error_description="Only S256 PKCE is supported", state=state)
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(redirect, challenge, now + AUTH_CODE_TTL)
        return add_query(redirect, code=code, state=state)

    # -- bearer tokens on API calls

    def check_bearer(self, header, now):
        """Accept a valid access token or raise the 401 the platform sends."""
        if not header:
            raise self._unauthorized("AGW-401", "Authorization header is not specified",
                                     "invalid_request", "AGW-401")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._unauthorized("AGW-402", "Invalid Authorization header",
                                     "invalid_request", "AGW-402")
        entry = self.access.get(token)
        if entry is None:
            raise self._unauthorized("OAU-213", "Token not found", "invalid_grant",
                                     "TokenInvalid")
        if now >= entry[1]:
            raise self._unauthorized("OAU-210", "Token expired", "invalid_grant",
                                     "TokenExpired")

    def _unauthorized(self, code, text, error, top_code):
        return oauth_error(401, error, code, text, self.BEARER_REALM, (top_code, text))

    # -- revocation and test controls

    def live_sessions(self):
        """The ids of sessions that still have a token, oldest first."""
        ids = {e[0] for e in self.access.values()} | {e[0] for e in self.refresh.values()}
        return sorted(ids, key=int)

    def revoke(self, token):
        """Revoke the session of an access or refresh token (unknown: no-op)."""
        entry = self.access.get(token) or self.refresh.get(token)
        if entry is not None:
            self._end_session(entry[0])

    def _end_session(self, session):
        for t in [t for t, e in self.access.items() if e[0] == session]:
            del self.access[t]
        for t in [t for t, e in self.refresh.items() if e[0] == session]:
            del self.refresh[t]
            self.revoked.add(t)

    def expire_all_access(self, now):
        for entry in self.access.values():
            entry[1] = min(entry[1], now)
        return len(self.access)

    def revoke_all_refresh(self):
        count = len(self.refresh)
        self.revoked.update(self.refresh)
        self.refresh.clear()
        return count


def pkce_matches(verifier, challenge):
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def add_query(url, **params):
    pairs = [(k, v) for k, v in params.items() if v is not None]
    return url + ("&" if "?" in url else "?") + urlencode(pairs)


def parse_form(body):
    """A form body as a dict; a repeated parameter is the platform's OAU-111."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise oauth_error(400, "invalid_request", "CMN-101",
                          "Parameter [body] value is invalid.") from None
    form = {}
    for key, value in pairs:
        if key in form:
            raise oauth_error(400, "invalid_request", "OAU-111",
                              "Request parameter duplication detected")
        form[key] = value
    return form


# ---------------------------------------------------------------------------
# Contact rules: what the platform accepts in contact and businessAddress

US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware",
    "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii",
    "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
    "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming",
    # territories and military "states"
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico", "VI": "U.S. Virgin Islands|Virgin Islands",
    "UM": "U.S. Minor Outlying Islands|United States Minor Outlying Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}
CA_PROVINCES = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba",
    "NB": "New Brunswick", "NL": "Newfoundland and Labrador|Newfoundland",
    "NS": "Nova Scotia", "NT": "Northwest Territories", "NU": "Nunavut",
    "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec|Québec",
    "SK": "Saskatchewan", "YT": "Yukon",
}
US_COUNTRY = {"us", "usa", "united states", "united states of america"}
CA_COUNTRY = {"ca", "can", "canada"}
UK_COUNTRY = {"gb", "gbr", "uk", "united kingdom"}


def _norm(text):
    return " ".join(text.split()).casefold()


def _region_keys(table):
    keys = set()
    for code, names in table.items():
        keys.add(code.casefold())
        keys.update(_norm(n) for n in names.split("|"))
    return frozenset(keys)


US_KEYS, CA_KEYS = _region_keys(US_STATES), _region_keys(CA_PROVINCES)


def state_is_valid(state, country):
    """A state must be a US state/territory or CA province, by name or 2-letter
    code, when the country is US or CA or absent; elsewhere anything goes."""
    if not state:
        return True
    country = _norm(country or "")
    if country in US_COUNTRY:
        keys = US_KEYS
    elif country in CA_COUNTRY:
        keys = CA_KEYS
    elif country == "":
        keys = US_KEYS | CA_KEYS
    else:
        return True
    return _norm(state) in keys


def _merge_value(target, key, value, param, errs):
    """Set one contact string; None or "" clears it; other types are errors."""
    if value is None or value == "":
        target.pop(key, None)
    elif isinstance(value, str):
        target[key] = value
    else:
        errs.append(invalid(param, value))


def merge_contact(old, patch):
    """Partial merge of a contact update. Returns (new contact, errors)."""
    if not isinstance(patch, dict):
        return old, [invalid("contact")]
    new, errs = copy.deepcopy(old), []
    for key in CONTACT_FIELDS:
        if key in patch:
            _merge_value(new, key, patch[key], "contact." + key, errs)
    if "businessAddress" in patch:
        patch_addr = patch["businessAddress"]
        addr = dict(new.get("businessAddress") or {})
        if patch_addr is None:
            addr = {}
        elif not isinstance(patch_addr, dict):
            errs.append(invalid("contact.businessAddress"))
        else:
            for key in ADDRESS_FIELDS:
                if key in patch_addr:
                    _merge_value(addr, key, patch_addr[key],
                                 "contact.businessAddress." + key, errs)
        if addr:
            new["businessAddress"] = addr
        else:
            new.pop("businessAddress", None)
    return new, errs


def contact_errors(new, old):
    """Validation the platform does on values that change (old -> new)."""
    errs = []
    email = new.get("email")
    if email != old.get("email") and email and not EMAIL_RE.fullmatch(email):
        errs.append(invalid("contact.email", email))
    addr, old_addr = new.get("businessAddress") or {}, old.get("businessAddress") or {}
    pair, old_pair = ((addr.get("state"), addr.get("country")),
                      (old_addr.get("state"), old_addr.get("country")))
    if pair != old_pair and not state_is_valid(*pair):
        errs.append(invalid("contact.businessAddress.state", addr.get("state")))
    return errs


def state_missing(new, old):
    """CMN-100 when an address in the USA, the UK or Canada changes and has
    no state (businessAddress.state is mandatory there)."""
    addr, old_addr = new.get("businessAddress") or {}, old.get("businessAddress") or {}
    country = _norm(addr.get("country") or "")
    if addr == old_addr or addr.get("state") or \
            country not in US_COUNTRY | CA_COUNTRY | UK_COUNTRY:
        return []
    param = "contact.businessAddress.state"
    return [err_item("CMN-100", "Mandatory parameter [%s] not specified." % param, param)]


# ---------------------------------------------------------------------------
# Profile images: the type comes from the content's magic bytes, the size
# from its header; pixels are never decoded. Uploads are multipart/form-data.

IMAGE_MAX_BODY = 10 * 1024 * 1024       # request body of an upload (413 above)
IMAGE_MAX_PIXELS = 12000000             # width * height (ACT-334 above)
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))
# JPEG start-of-frame markers: C0 to CF but DHT (C4), JPG (C8) and DAC (CC).
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
NO_IMAGE_PART = "Invalid image: the body needs one multipart/form-data part named image"


class ImageError(ValueError):
    """An image the platform refuses: its REST status and errorCode."""

    def __init__(self, status, code, message):
        super().__init__("%s %s" % (code, message))
        self.status, self.code, self.message = status, code, message

    def api_error(self):
        return rest_errors([err_item(self.code, self.message, "image")], self.status)


@dataclass
class ProfileImage:
    data: bytes
    type: str                       # from the magic bytes, never the declared type
    width: int
    height: int
    modified: float
    filename: str = None            # the upload's part named these, if it did
    declared_type: str = None

    def __post_init__(self):
        self.sha256 = hashlib.sha256(self.data).hexdigest()

    def snapshot(self):
        """The state dump's view: never the bytes."""
        return {"sha256": self.sha256, "type": self.type, "width": self.width,
                "height": self.height, "bytes": len(self.data),
                "filename": self.filename, "declaredType": self.declared_type}


def png_size(data):
    if len(data) < 24 or data[8:16] != b"\0\0\0\x0dIHDR":
        return None
    return struct.unpack(">II", data[16:24])


def gif_size(data):
    """The logical screen descriptor's width and height."""
    return struct.unpack("<HH", data[6:10]) if len(data) >= 13 else None


def bmp_size(data):
    """From the info header: 16-bit in the 12-byte core header, 32-bit in
    the others (a negative height: rows stored top-down)."""
    if len(data) < 18:
        return None
    dib = struct.unpack("<I", data[14:18])[0]
    if not (dib == 12 or 16 <= dib <= 124) or len(data) < 14 + dib:
        return None
    if dib == 12:
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return width, abs(height)


def jpeg_size(data):
    """From the first SOFn segment, walking the segments before it."""
    pos = 2
    while pos + 2 <= len(data):
        marker = data[pos + 1]
        if data[pos] != 0xFF or (marker < 0xC0 and marker != 0x01):
            return None
        if marker == 0xFF:                          # a fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:    # TEM, RSTn: no length
            pos += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA) or pos + 4 > len(data):
            return None                             # SOI, EOI or scan before a frame
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2 or pos + 2 + length > len(data):
            return None
        if marker in JPEG_SOF:
            if length < 8:
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


IMAGE_SIZES = {"image/png": png_size, "image/jpeg": jpeg_size, "image/gif": gif_size,
               "image/bmp": bmp_size}


def image_info(data):
    """(type, width, height) of image bytes; ImageError: ACT-331 empty or a
    header without a size, ACT-330 not PNG, JPEG, GIF or BMP by its magic
    bytes, ACT-334 more than 12 megapixels."""
    if not data:
        raise ImageError(400, "ACT-331", "Invalid image")
    ctype = next((t for magic, t in IMAGE_MAGIC if data.startswith(magic)), None)
    if ctype is None:
        raise ImageError(415, "ACT-330", "Unsupported image type")
    size = IMAGE_SIZES[ctype](data)
    if size is None or min(size) < 1:
        raise ImageError(400, "ACT-331", "Invalid image")
    if size[0] * size[1] > IMAGE_MAX_PIXELS:
        raise ImageError(400, "ACT-334", "Image resolution exceeds 12 megapixels")
    return ctype, size[0], size[1]


def image_from_base64(value, now):
    """A ProfileImage from {"base64": "..."} (seed, control call), by the
    upload's rules; ValueError saying what is wrong."""
    if not isinstance(value, dict) or set(value) != {"base64"} \
            or not isinstance(value["base64"], str):
        raise ValueError('profileImage must be {"base64": "..."}')
    try:
        data = base64.b64decode(value["base64"], validate=True)
    except ValueError:
        raise ValueError("profileImage.base64 can not be decoded") from None
    if len(data) > IMAGE_MAX_BODY:
        raise ValueError("profileImage is over 10 MiB")
    try:
        return ProfileImage(data, *image_info(data), now)
    except ImageError as exc:
        raise ValueError("profileImage: %s" % exc) from None


def form_parts(headers, body):
    """The parts of a multipart/form-data body, [(header Message, data)];
    ValueError when it is not one. Strict: CRLF line ends, a boundary of 1
    to 70 characters (quoted or not), a closing delimiter."""
    if headers.get_content_type() != "multipart/form-data":
        raise ValueError("not multipart/form-data")
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise ValueError("no boundary")
    delim = b"--" + boundary.encode("ascii")
    if body.startswith(delim):
        pos = len(delim)
    else:
        pos = body.find(b"\r\n" + delim)          # after a preamble
        if pos < 0:
            raise ValueError("no delimiter")
        pos += 2 + len(delim)
    parts = []
    while not body.startswith(b"--", pos):
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise ValueError("bad delimiter line")
        end = body.find(b"\r\n" + delim, eol + 2)
        if end < 0:
            raise ValueError("no closing delimiter")
        part = body[eol + 2:end]
        if part.startswith(b"\r\n"):
            head, data = b"", part[2:]
        else:
            head, sep, data = part.partition(b"\r\n\r\n")
            if not sep:
                raise ValueError("part without a blank line")
        # Browsers send a filename as raw UTF-8 (RFC 7578): decode it here.
        text = head.decode("utf-8", "replace") + "\r\n\r\n"
        parts.append((email.parser.HeaderParser().parsestr(text), data))
        pos = end + 2 + len(delim)
    return parts


def image_part(req):
    """(data, filename, declared type) of the one form-data part named
    image; ImageError ACT-331 when there is none (or the body is not
    multipart/form-data)."""
    try:
        parts = form_parts(req.headers, req.body)
    except ValueError:
        raise ImageError(400, "ACT-331", NO_IMAGE_PART) from None
    found = [(h, d) for h, d in parts if h.get_content_disposition() == "form-data"
             and h.get_param("name", header="content-disposition") == "image"]
    if len(found) != 1:
        raise ImageError(400, "ACT-331", NO_IMAGE_PART)
    head, data = found[0]
    filename = head.get_filename()
    declared = head.get_content_type() if "Content-Type" in head else None
    return data, filename if isinstance(filename, str) else None, declared


# ---------------------------------------------------------------------------
# Directory: extensions, phone numbers, custom fields


@dataclass
class Extension:
    id: int
    number: str                                   # extensionNumber
    type: str = "User"
    status: str = "Enabled"
    status_info: dict = None
    contact: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)    # custom field id -> value
    external_id: str = None                       # SCIM externalId
    numbers: list = field(default_factory=list)   # phone number ids, primary first
    hidden: bool = False                          # left out of the company directory
    created: float = 0.0
    modified: float = 0.0
    version: int = 1                              # bumped on every real change
    site: str = None                              # site id; None: the main site
    cost_center: int = None                       # cost center id, if any
    roles: list = None                            # role ids; None: the default role
    image: ProfileImage = None                    # the profile image, if any

    @property
    def scim_visible(self):
        return self.type == "User" and self.status != "Unassigned"

    @property
    def name(self):
        parts = (self.contact.get("firstName"), self.contact.get("lastName"))
        return " ".join(p for p in parts if p)

    def snapshot(self):
        return json.dumps([self.number, self.type, self.status, self.status_info,
                           self.contact, self.custom, self.external_id, self.numbers,
                           self.site, self.cost_center, self.roles,
                           self.image.sha256 if self.image else None], sort_keys=True)


@dataclass
class PhoneNumber:
    id: int
    number: str                                   # E.164
    usage: str                                    # usageType
    type: str = "VoiceFax"
    status: str = "Normal"
    ext_id: int = None
    hidden: bool = False                          # not shown in the company directory


class SeedError(ValueError):
    pass


# The change feed's hook for every extension change (WsHub.changed): kept
# outside the Directory, which a seed deep-copies.
CHANGE_HOOK = [None]


class Directory:
    """The account's extensions, phone numbers and custom fields.

    Methods that change an extension call _touched() so that its version and
    modification time move only when something really changed."""

    def __init__(self):
        self.extensions = {}        # id -> Extension
        self.numbers = {}           # id -> PhoneNumber
        self.custom_fields = {}     # id (str) -> {"id", "category", "displayName"}
        self.by_number = {}         # extensionNumber -> extension id
        self.by_phone = {}          # E.164 -> phone number id
        self.state_mandatory = False    # the behaviour switches of those names
        self.scim_ids = "same"
        self.sites = {}             # id -> {"id", "name", "code"?, "extensionNumber"?}
        self.company_name = None    # names the main site
        self.cost_centers = {}      # id (int) -> {"id", "name", "billingCode"?, "parentId"?}
        self.roles = {}             # id (str) -> {"id", "displayName"}
        self.default_role = None    # a role id (the first seeded unless named)
        self.max_ext_len = MAX_EXT_LEN_DEFAULT
        self.next_ext_id = EXT_ID_BASE
        self.next_number_id = NUMBER_ID_BASE
        self._sorted = None

    # -- lookups

    def ext(self, ext_id):
        ext_id = parse_int(ext_id)
        return self.extensions.get(ext_id) if ext_id is not None else None

    def sorted_extensions(self):
        if self._sorted is None:
            self._sorted = sorted(self.extensions)
        return [self.extensions[i] for i in self._sorted]

    def sorted_numbers(self):
        return [self.numbers[i] for i in sorted(self.numbers)]

    def scim_users(self):
        return [e for e in self.sorted_extensions() if e.scim_visible]

    def scim_id(self, ext):
        """The SCIM id of ext's user: its extension id as a string, or with
        scim_ids "distinct" SCIM_ID_BASE + the extension id. Derived, never
        stored: a flip of the switch changes the id of every user at once."""
        return str(SCIM_ID_BASE + ext.id if self.scim_ids == "distinct" else ext.id)

    def scim_ext(self, user_id):
        """The extension whose SCIM id is user_id (None: none); the inverse
        of scim_id under the current switch."""
        if self.scim_ids != "distinct":
            return self.ext(user_id)
        if not isinstance(user_id, str) or not SCIM_ID_RE.fullmatch(user_id):
            return None
        return self.extensions.get(int(user_id) - SCIM_ID_BASE)

    def users_with_email(self, email):
        key = fold(email)
        return [e for e in self.scim_users() if fold(e.contact.get("email")) == key]

    def free_extension(self):
        """The Unassigned User extension with the lowest extension number."""
        free = [e for e in self.extensions.values()
                if e.type == "User" and e.status == "Unassigned"]
        key = lambda e: (0, int(e.number), e.id) if e.number.isdigit() else (1, 0, e.id)
        return min(free, key=key) if free else None

    def inventory_number(self):
        spare = [n for n in self.numbers.values() if n.usage == "Inventory"]
        return min(spare, key=lambda n: n.id) if spare else None

    # -- sites, cost centers, extension numbers

    @property
    def multi_site(self):
        """Sites exist only on a multi-site account (then main-site too)."""
        return bool(self.sites)

    def add_site(self, site):
        if not self.sites:
            self.sites[MAIN_SITE] = {"id": MAIN_SITE,
                                     "name": self.company_name or "Main Site"}
        self.sites[site["id"]] = site

    def site_numbers(self):
        return {s["extensionNumber"] for s in self.sites.values() if s.get("extensionNumber")}

    def number_taken(self, number, ext=None):
        """Whether an extension number belongs to another extension or a site."""
        return self.by_number.get(number, ext.id if ext else None) != (
            ext.id if ext else None) or number in self.site_numbers()

    def next_free_number(self):
        """The lowest free extension number from 101 within the account's
        maximum length (None when every one is taken)."""
        sites, candidate = self.site_numbers(), FIRST_FREE_NUMBER
        while len(str(candidate)) <= self.max_ext_len:
            number = str(candidate)
            if number not in self.by_number and number not in sites:
                return number
            candidate += 1
        return None

    def site_ref(self, ext):
        """{id, name} of an extension's site; None on a single-site account."""
        if not self.multi_site:
            return None
        site = self.sites.get(ext.site or MAIN_SITE) or self.sites[MAIN_SITE]
        return {"id": site["id"], "name": site["name"]}

    def site_errors(self, value):
        """A `site` {id} of a write: (site id or None for main, errors)."""
        if not isinstance(value, dict):
            return None, [invalid("site")]
        sid = value.get("id")
        if not isinstance(sid, str) or not sid:
            return None, [invalid("site.id", sid)]
        if sid not in self.sites:
            return None, [not_found("site.id", sid)]
        return (None if sid == MAIN_SITE else sid), []

    def cost_center_errors(self, value):
        """A `costCenter` {id} (a string, as CostCenterInfo has it): (id, errors)."""
        if not isinstance(value, dict):
            return None, [invalid("costCenter")]
        cid = value.get("id")
        if not isinstance(cid, str) or not re.fullmatch(r"[0-9]{1,18}", cid):
            return None, [invalid("costCenter.id", cid)]
        if int(cid) not in self.cost_centers:
            return None, [not_found("costCenter.id", cid)]
        return int(cid), []

    @staticmethod
    def has_roles(ext):
        """Users hold roles: User extensions that are not Unassigned."""
        return ext.type == "User" and ext.status != "Unassigned"

    def ext_roles(self, ext):
        """The role ids assigned to an extension (the default one unless
        another was assigned; none on an account without roles)."""
        if not self.has_roles(ext):
            return []
        if ext.roles:
            return list(ext.roles)
        return [self.default_role] if self.default_role else []

    def role_view(self, role_id, base):
        return {"uri": "%s%s/user-role/%s" % (base, ACCOUNT_PATH, role_id), "id": role_id,
                "displayName": self.roles[role_id]["displayName"]}

    def email_taken(self, email):
        """Another extension (any type, not Unassigned) has this email."""
        key = fold(email)
        return any(fold(e.contact.get("email")) == key and e.status != "Unassigned"
                   for e in self.extensions.values())

    # -- changes

    def _touched(self, ext, before, now):
        if ext.snapshot() != before:
            ext.version += 1
            ext.modified = now
            if CHANGE_HOOK[0] is not None:
                CHANGE_HOOK[0](self, ext, "Update")

    def add_extension(self, ext):
        self.extensions[ext.id] = ext
        self.by_number[ext.number] = ext.id
        self.next_ext_id = max(self.next_ext_id, ext.id + 1)
        self._sorted = None

    def add_number(self, num):
        self.numbers[num.id] = num
        self.by_phone[num.number] = num.id
        self.next_number_id = max(self.next_number_id, num.id + 1)

    def assign_number(self, num, ext, primary=False):
        """Make `num` a DirectNumber of `ext` (taking it from any other owner)."""
        self._detach(num)
        num.usage, num.ext_id = "DirectNumber", ext.id
        if primary:
            ext.numbers.insert(0, num.id)
        else:
            ext.numbers.append(num.id)

    def release_number(self, num):
        """Back to Inventory, no extension."""
        self._detach(num)
        num.usage = "Inventory"

    def _detach(self, num):
        owner = self.extensions.get(num.ext_id)
        if owner is not None and num.id in owner.numbers:
            before = owner.snapshot()
            owner.numbers.remove(num.id)
            self._touched(owner, before, time.time())
        num.ext_id = None

    def update_extension(self, ext, upd, now):
        """Apply a REST update (PUT body or bulk record without id): status,
        statusInfo, extensionNumber, contact (partial), customFields. Either
        everything applies or nothing does; returns the list of errors."""
        if not isinstance(upd, dict):
            return [invalid("body")]
        errs, plan = [], {}
        self._plan_status(ext, upd, plan, errs)
        self._plan_number(ext, upd, plan, errs)
        self._plan_site(upd, plan, errs)
        if "contact" in upd:
            contact, cerrs = merge_contact(ext.contact, upd["contact"])
            errs += cerrs or contact_errors(contact, ext.contact) or (
                state_missing(contact, ext.contact) if self.state_mandatory else [])
            plan["contact"] = contact
        if "customFields" in upd:
            plan["custom"] = self._merge_custom(ext.custom, upd["customFields"], errs)
        if errs:
            return errs
        before = ext.snapshot()
        if "number" in plan:
            del self.by_number[ext.number]
            self.by_number[plan["number"]] = ext.id
        for attr, value in plan.items():
            setattr(ext, attr, value)
        if plan.get("status") == "Enabled" and "status_info" not in plan:
            ext.status_info = None
        self._touched(ext, before, now)
        return []

    def _plan_status(self, ext, upd, plan, errs):
        if "status" in upd:
            status = upd["status"]
            if status not in SETTABLE_STATUSES or ext.status == "Unassigned":
                errs.append(invalid("status", status))
            else:
                plan["status"] = status
        if "statusInfo" in upd:
            info = upd["statusInfo"]
            if info is None:
                plan["status_info"] = None
            elif isinstance(info, dict) and all(
                    isinstance(info.get(k), (str, type(None))) for k in ("reason", "comment")):
                kept = {k: info[k] for k in ("reason", "comment") if info.get(k)}
                plan["status_info"] = kept or None
            else:
                errs.append(invalid("statusInfo"))

    def _plan_number(self, ext, upd, plan, errs):
        if "extensionNumber" not in upd:
            return
        number = upd["extensionNumber"]
        if not isinstance(number, str) or not EXT_NUMBER_RE.fullmatch(number):
            errs.append(invalid("extensionNumber", number))
        elif self.number_taken(number, ext):
            errs.append(ext_in_use(number))
        else:
            plan["number"] = number

    def _plan_site(self, upd, plan, errs):
        if "site" in upd:
            site, serrs = self.site_errors(upd["site"])
            errs += serrs
            plan["site"] = site

    def _merge_custom(self, old, items, errs):
        new = dict(old)
        if not isinstance(items, list):
            errs.append(invalid("customFields"))
            return new
        for item in items:
            if not isinstance(item, dict):
                errs.append(invalid("customFields"))
                continue
            fid = item.get("id")
            fid = str(fid) if isinstance(fid, (str, int)) and not isinstance(fid, bool) else None
            value = item.get("value")
            if fid is None or fid not in self.custom_fields:
                errs.append(not_found("customFields.id", item.get("id")))
            elif value is None or value == "":
                new.pop(fid, None)
            elif isinstance(value, str):
                new[fid] = value
            else:
                errs.append(invalid("customFields.value", value))
        return new

    def set_user(self, ext, fields, now):
        """Store SCIM-managed fields (a ScimFields) on an existing user."""
        before = ext.snapshot()
        contact = {k: v for k, v in ext.contact.items() if k not in SCIM_CONTACT_KEYS}
        contact.update(fields.contact)
        ext.contact, ext.external_id = contact, fields.external_id
        if fields.active is True and ext.status not in ACTIVE_STATUSES:
            ext.status = "Enabled"
        elif fields.active is False:
            ext.status = "Disabled"
        self._touched(ext, before, now)

    def assign_user(self, ext, fields, now):
        """Turn an Unassigned extension into a user with one direct number."""
        before = ext.snapshot()
        ext.contact, ext.external_id = dict(fields.contact), fields.external_id
        ext.status = "Disabled" if fields.active is False else "Enabled"
        ext.status_info, ext.custom, ext.created = None, {}, now
        ext.cost_center, ext.roles = None, None
        spare = self.inventory_number()
        if spare is not None:
            self.assign_number(spare, ext, primary=True)
        self._touched(ext, before, now)

    def create_user(self, new, now, take_unassigned, dup_code="CMN-406"):
        """A REST create (v1 or a v2 batch record) whose values are valid:
        `new` has contact, status, number (None: choose), site, cost_center,
        custom. take_unassigned: the user takes the Unassigned User extension
        with the lowest number, as a SCIM create does, else a new extension is
        made. Either way it gets the lowest-id Inventory number, if any.
        Returns (extension, errors): the email or the number in use (the
        number's code: dup_code), or no Unassigned extension left."""
        errs = []
        if self.email_taken(new["contact"]["email"]):
            errs.append(duplicate("contact.email", new["contact"]["email"]))
        ext = self.free_extension() if take_unassigned else None
        number = new["number"]
        if number is not None and self.number_taken(number, ext):
            errs.append(duplicate("extensionNumber", number, dup_code))
        if errs:
            return None, errs
        if take_unassigned and ext is None:
            return None, [licence_limit()]
        if number is None and ext is None:
            number = self.next_free_number()
            if number is None:
                return None, [invalid("extensionNumber")]
        kind, before = "Create", None
        if ext is None:
            ext = Extension(self.next_ext_id, number, created=now, modified=now)
            self.add_extension(ext)
        else:
            kind, before = "Update", ext.snapshot()
            if number is not None and number != ext.number:
                del self.by_number[ext.number]
                ext.number = number
                self.by_number[number] = ext.id
        ext.contact, ext.status, ext.status_info = new["contact"], new["status"], None
        ext.custom, ext.external_id, ext.created = new["custom"], None, now
        ext.site, ext.cost_center = new["site"], new["cost_center"]
        ext.roles = new.get("roles")
        spare = self.inventory_number()
        if spare is not None:
            self.assign_number(spare, ext, primary=True)
        if before is None:
            if CHANGE_HOOK[0] is not None:
                CHANGE_HOOK[0](self, ext, kind)
        else:
            self._touched(ext, before, now)
        return ext, []

    def unassign(self, ext, now):
        """SCIM DELETE: back to Unassigned, direct numbers back to Inventory."""
        before = ext.snapshot()
        for num_id in list(ext.numbers):
            self.release_number(self.numbers[num_id])
        ext.status, ext.status_info, ext.contact = "Unassigned", None, {}
        ext.custom, ext.external_id, ext.cost_center, ext.roles = {}, None, None, None
        ext.image = None
        self._touched(ext, before, now)

    def set_image(self, ext, image, now):
        """ext's profile image becomes `image` (None: none). The same bytes
        again change nothing (not even lastModified)."""
        if (ext.image and ext.image.sha256) == (image and image.sha256):
            return
        before = ext.snapshot()
        ext.image = image
        self._touched(ext, before, now)

    def set_direct_numbers(self, ext, phones, now):
        """Control call: `phones` become ext's DirectNumbers in order (first is
        primary); numbers it had and not listed go back to Inventory."""
        before = ext.snapshot()
        wanted = []
        for phone in phones:
            num_id = self.by_phone.get(phone)
            if num_id is None:
                num_id = self.next_number_id
                self.add_number(PhoneNumber(num_id, phone, "Inventory"))
            wanted.append(self.numbers[num_id])
        wanted_ids = {n.id for n in wanted}
        for num_id in list(ext.numbers):
            if num_id not in wanted_ids:
                self.release_number(self.numbers[num_id])
        for num in wanted:
            self._detach(num)
            num.usage, num.ext_id = "DirectNumber", ext.id
        ext.numbers = [n.id for n in wanted]
        self._touched(ext, before, now)

    def set_extension_number(self, ext, number, now):
        before = ext.snapshot()
        del self.by_number[ext.number]
        ext.number = number
        self.by_number[number] = ext.id
        self._touched(ext, before, now)

    # -- JSON views

    def ext_record(self, ext, base):
        """The REST extension record (list and get)."""
        rec = {"id": ext.id, "uri": "%s%s/extension/%d" % (base, ACCOUNT_PATH, ext.id),
               "extensionNumber": ext.number}
        if ext.name:
            rec["name"] = ext.name
        rec.update(type=ext.type, status=ext.status)
        if ext.status_info:
            rec["statusInfo"] = dict(ext.status_info)
        rec["contact"] = copy.deepcopy(ext.contact)
        rec["profileImage"] = self.image_ref(ext, base)
        if ext.custom:
            rec["customFields"] = [
                {"id": fid, "value": ext.custom[fid],
                 "displayName": self.custom_fields[fid]["displayName"]}
                for fid in sorted(ext.custom, key=id_sort_key)]
        roles = self.ext_roles(ext)
        if roles:
            rec["roles"] = [{"uri": "%s%s/user-role/%s" % (base, ACCOUNT_PATH, r), "id": r}
                            for r in roles]
        site = self.site_ref(ext)
        if site is not None:
            rec["site"] = site
        if ext.cost_center is not None:
            rec["costCenter"] = {"id": str(ext.cost_center),
                                 "name": self.cost_centers[ext.cost_center]["name"]}
        return rec

    @staticmethod
    def image_ref(ext, base):
        """ProfileImageInfo: the uri only while no image is set (the
        definitions' rule), then its etag, lastModified and contentType."""
        ref = {"uri": "%s%s/extension/%d/profile-image" % (base, ACCOUNT_PATH, ext.id)}
        if ext.image is not None:
            ref.update(etag=ext.image.sha256, lastModified=iso_time(ext.image.modified),
                       contentType=ext.image.type)
        return ref

    def directory_record(self, ext):
        """The company directory's entry (ContactResource) of a listed
        extension: the extension id as a string, and the numbers it shows
        (the direct numbers not hidden, then the contact's mobile)."""
        c = ext.contact
        rec = {"id": str(ext.id), "type": ext.type, "status": ext.status,
               "extensionNumber": ext.number, "hidden": False}
        for key in ("firstName", "lastName", "email", "department", "jobTitle"):
            if c.get(key):
                rec[key] = c[key]
        site = self.site_ref(ext)
        if site is not None:
            rec["site"] = site
        phones = []
        for n in ext.numbers:
            num = self.numbers[n]
            if not num.hidden:
                phones.append({"phoneNumber": num.number, "type": num.type,
                               "usageType": "DirectNumber", "hidden": False,
                               "primary": not phones})
        if c.get("mobilePhone"):
            phones.append({"phoneNumber": c["mobilePhone"], "usageType": "MobileNumber",
                           "hidden": False, "primary": False})
        rec["phoneNumbers"] = phones
        return rec

    def number_record(self, num, base):
        """The REST phone number record."""
        owner = self.extensions.get(num.ext_id)
        rec = {"id": num.id, "uri": "%s%s/phone-number/%d" % (base, ACCOUNT_PATH, num.id),
               "phoneNumber": num.number, "paymentType": "Local", "type": num.type,
               "usageType": num.usage, "status": num.status,
               "primary": bool(owner and owner.numbers and owner.numbers[0] == num.id)}
        if owner is not None:
            rec["extension"] = {"id": owner.id, "uri": "%s%s/extension/%d" % (
                base, ACCOUNT_PATH, owner.id), "extensionNumber": owner.number}
        return rec

    def dump(self):
        """Everything, in a deterministic order and without wall-clock times."""
        exts = [{"id": e.id, "extensionNumber": e.number, "type": e.type,
                 "status": e.status, "statusInfo": e.status_info, "contact": e.contact,
                 "customFields": [{"id": f, "value": e.custom[f]}
                                  for f in sorted(e.custom, key=id_sort_key)],
                 "externalId": e.external_id, "scimId": self.scim_id(e),
                 "directNumbers": [self.numbers[n].number for n in e.numbers],
                 "version": e.version,
                 "site": (self.site_ref(e) or {}).get("id"), "costCenter": e.cost_center,
                 "roles": self.ext_roles(e),
                 "profileImage": e.image.snapshot() if e.image else None}
                for e in self.sorted_extensions()]
        nums = [{"id": n.id, "phoneNumber": n.number, "usageType": n.usage,
                 "type": n.type, "status": n.status, "extensionId": n.ext_id,
                 "primary": self.number_record(n, "")["primary"]}
                for n in self.sorted_numbers()]
        fields = [self.custom_fields[f] for f in sorted(self.custom_fields, key=id_sort_key)]
        users = [dict(id=self.scim_id(e), **scim_core(e)) for e in self.scim_users()]
        return {"extensions": exts, "numbers": nums, "custom_fields": fields,
                "scim_users": users, "sites": list(self.sites.values()),
                "cost_centers": [self.cost_centers[c] for c in sorted(self.cost_centers)],
                "roles": [self.roles[r] for r in sorted(self.roles, key=id_sort_key)],
                "default_role": self.default_role,
                "max_extension_length": self.max_ext_len}


def id_sort_key(value):
    """Numeric ids sort as numbers, others after them as strings."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


class Seeder:
    """Validates a seed document and loads it into a Directory.

    Keys: company_name, max_extension_length, sites, cost_centers, roles,
    default_role, custom_fields, extensions, free_extensions, main_number, numbers,
    inventory_numbers (see README). Callers load into a copy and swap it in
    only on success, so a bad seed changes nothing."""

    KEYS = ("company_name", "max_extension_length", "sites", "cost_centers", "roles",
            "default_role", "custom_fields", "extensions", "free_extensions", "main_number",
            "numbers", "inventory_numbers")

    def __init__(self, directory, now):
        self.d, self.now = directory, now

    def load(self, data):
        if not isinstance(data, dict):
            raise SeedError("seed must be a JSON object")
        unknown = sorted(set(data) - set(self.KEYS))
        if unknown:
            raise SeedError("unknown seed keys: %s" % ", ".join(unknown))
        self.account(data)
        for spec in self._list(data, "sites"):
            self.site(spec)
        for spec in self._list(data, "cost_centers"):
            self.cost_center(spec)
        for cc in self.d.cost_centers.values():
            if cc.get("parentId") is not None and cc["parentId"] not in self.d.cost_centers:
                raise SeedError("cost center %d: unknown parentId %r" % (cc["id"], cc["parentId"]))
        for spec in self._list(data, "roles"):
            self.role(spec)
        if data.get("default_role") is not None:
            role = self._role_id(data["default_role"])
            if role not in self.d.roles:
                raise SeedError("default_role %r is not a seeded role" % (data["default_role"],))
            self.d.default_role = role
        for spec in self._list(data, "custom_fields"):
            self.custom_field(spec)
        for spec in self._list(data, "extensions"):
            self.extension(spec)
        if "free_extensions" in data:
            self.free_extensions(data["free_extensions"])
        if data.get("main_number"):
            self.number({"phoneNumber": data["main_number"], "usageType": "MainCompanyNumber"})
        for spec in self._list(data, "numbers"):
            self.number(spec)
        if "inventory_numbers" in data:
            self.inventory(data["inventory_numbers"])

    @staticmethod
    def _list(data, key):
        value = data.get(key, [])
        if not isinstance(value, list):
            raise SeedError("%s must be a list" % key)
        return value

    @staticmethod
    def _dict(spec, what):
        if not isinstance(spec, dict):
            raise SeedError("%s must be an object" % what)
        return spec

    def account(self, data):
        if "company_name" in data:
            name = data["company_name"]
            if not isinstance(name, str) or not name.strip():
                raise SeedError("company_name must be a non-empty string")
            self.d.company_name = name
            if MAIN_SITE in self.d.sites:
                self.d.sites[MAIN_SITE]["name"] = name
        if "max_extension_length" in data:
            length = data["max_extension_length"]
            if parse_int(length) is None or isinstance(length, str) or not 3 <= length <= 8:
                raise SeedError("max_extension_length must be an integer from 3 to 8")
            self.d.max_ext_len = length

    @staticmethod
    def _opt_str(spec, key, what):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise SeedError("%s: %s must be a string" % (what, key))
        return value

    def site(self, spec):
        self._dict(spec, "site")
        sid, name = spec.get("id"), spec.get("name")
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str) or not sid or sid == MAIN_SITE or sid in self.d.sites \
                or not isinstance(name, str) or not name:
            raise SeedError("site needs a new id (not %s) and a name: %r" % (MAIN_SITE, spec))
        site = {"id": sid, "name": name}
        code = self._opt_str(spec, "code", "site " + sid)
        number = self._opt_str(spec, "extensionNumber", "site " + sid)
        if code is not None:
            site["code"] = code
        if number is not None:
            if not EXT_NUMBER_RE.fullmatch(number) or self.d.number_taken(number):
                raise SeedError("site %s: extensionNumber invalid or in use: %r" % (sid, number))
            site["extensionNumber"] = number
        self.d.add_site(site)

    def cost_center(self, spec):
        self._dict(spec, "cost center")
        cid, name, parent = spec.get("id"), spec.get("name"), spec.get("parentId")
        if not isinstance(cid, int) or isinstance(cid, bool) or not 1 <= cid <= EXT_ID_MAX \
                or cid in self.d.cost_centers or not isinstance(name, str) or not name:
            raise SeedError("cost center needs a new numeric id and a name: %r" % (spec,))
        if parent is not None and (not isinstance(parent, int) or isinstance(parent, bool)):
            raise SeedError("cost center %d: parentId must be a number" % cid)
        cc = {"id": cid, "name": name}
        billing = self._opt_str(spec, "billingCode", "cost center %d" % cid)
        if billing is not None:
            cc["billingCode"] = billing
        if parent is not None:
            cc["parentId"] = parent
        self.d.cost_centers[cid] = cc

    @staticmethod
    def _role_id(value):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) and value else None

    def role(self, spec):
        self._dict(spec, "role")
        rid, name = self._role_id(spec.get("id")), spec.get("displayName")
        if rid is None or rid in self.d.roles or not isinstance(name, str) or not name:
            raise SeedError("role needs a new id and a displayName: %r" % (spec,))
        self.d.roles[rid] = {"id": rid, "displayName": name}
        if self.d.default_role is None:
            self.d.default_role = rid

    def custom_field(self, spec):
        self._dict(spec, "custom field")
        fid, name = spec.get("id"), spec.get("displayName")
        fid = str(fid) if isinstance(fid, (str, int)) and not isinstance(fid, bool) else None
        if not fid or not isinstance(name, str) or fid in self.d.custom_fields:
            raise SeedError("custom field needs a new id and a displayName: %r" % (spec,))
        self.d.custom_fields[fid] = {"id": fid, "category": str(spec.get("category", "User")),
                                     "displayName": name}

    def extension(self, spec):
        self._dict(spec, "extension")
        ext_id, number = self._extension_id(spec), self._extension_number(spec)
        status = spec.get("status", "Enabled")
        if status not in ALL_STATUSES:
            raise SeedError("invalid status: %r" % (status,))
        contact, errs = merge_contact({}, spec.get("contact", {}))
        custom = self.d._merge_custom({}, spec.get("customFields", []), errs)
        if errs:
            raise SeedError("extension %d: %s" % (ext_id, errs[0]["message"]))
        ext_type, external = spec.get("type", "User"), spec.get("externalId")
        info = spec.get("statusInfo")
        if not isinstance(ext_type, str) or not isinstance(external, (str, type(None))) \
                or not isinstance(info, (dict, type(None))):
            raise SeedError("extension %d: bad type, externalId or statusInfo" % ext_id)
        hidden = spec.get("hidden", False)
        if not isinstance(hidden, bool):
            raise SeedError("extension %d: hidden must be true or false" % ext_id)
        site, cost_center = self._ext_site(spec, ext_id), self._ext_cost_center(spec, ext_id)
        self.d.add_extension(Extension(ext_id, number, ext_type, status, info, contact,
                                       custom, external, hidden=hidden, created=self.now,
                                       modified=self.now, site=site,
                                       cost_center=cost_center,
                                       roles=self._ext_role(spec, ext_id),
                                       image=self._ext_image(spec, ext_id, status)))

    def _ext_image(self, spec, ext_id, status):
        if spec.get("profileImage") is None:
            return None
        if status == "Unassigned":
            raise SeedError("extension %d: an Unassigned extension has no profileImage" % ext_id)
        try:
            return image_from_base64(spec["profileImage"], self.now)
        except ValueError as exc:
            raise SeedError("extension %d: %s" % (ext_id, exc)) from None

    def _ext_role(self, spec, ext_id):
        if spec.get("role") is None:
            return None
        role = self._role_id(spec["role"])
        if role not in self.d.roles:
            raise SeedError("extension %d: unknown role %r" % (ext_id, spec["role"]))
        return [role]

    def _ext_site(self, spec, ext_id):
        if spec.get("site") is None:
            return None
        sid = spec["site"]
        if not isinstance(sid, str) or sid not in self.d.sites:
            raise SeedError("extension %d: unknown site %r (sites: %s)" % (
                ext_id, sid, ", ".join(self.d.sites) or "none"))
        return None if sid == MAIN_SITE else sid

    def _ext_cost_center(self, spec, ext_id):
        if spec.get("costCenter") is None:
            return None
        cid = parse_int(spec["costCenter"])
        if cid is None or cid not in self.d.cost_centers:
            raise SeedError("extension %d: unknown costCenter %r" % (ext_id, spec["costCenter"]))
        return cid

    def _extension_id(self, spec):
        ext_id = parse_int(spec.get("id", self.d.next_ext_id))
        if ext_id is None or not 1 <= ext_id <= EXT_ID_MAX or ext_id in self.d.extensions:
            raise SeedError("extension id invalid or duplicate: %r" % (spec.get("id"),))
        return ext_id

    def _extension_number(self, spec):
        # The default only when none is given: computing it scans every
        # extension, which made seeding 100,000 users quadratic.
        number = spec["extensionNumber"] if "extensionNumber" in spec \
            else self._next_ext_number()
        if isinstance(number, int) and not isinstance(number, bool):
            number = str(number)
        if not isinstance(number, str) or not EXT_NUMBER_RE.fullmatch(number) \
                or self.d.number_taken(number):
            raise SeedError("extensionNumber invalid or duplicate: %r" % (number,))
        return number

    def _next_ext_number(self):
        used = [int(n) for n in self.d.by_number if n.isdigit()]
        number, sites = max(used) + 1 if used else 101, self.d.site_numbers()
        while str(number) in sites:
            number += 1
        return str(number)

    def free_extensions(self, spec):
        self._dict(spec, "free_extensions")
        count, start = parse_int(spec.get("count", 0)), parse_int(spec.get("start", 1000))
        if count is None or start is None or not 0 <= count <= 1000000 or start < 0:
            raise SeedError("free_extensions needs count (0..1000000) and start")
        made, candidate, sites = 0, start, self.d.site_numbers()
        while made < count:
            if self.d.next_ext_id > EXT_ID_MAX:
                raise SeedError("free_extensions: no extension id left below 10^18")
            if str(candidate) not in self.d.by_number and str(candidate) not in sites:
                self.d.add_extension(Extension(self.d.next_ext_id, str(candidate),
                                               status="Unassigned", created=self.now,
                                               modified=self.now))
                made += 1
            candidate += 1

    def number(self, spec):
        self._dict(spec, "number")
        phone = spec.get("phoneNumber")
        if not isinstance(phone, str) or not E164_RE.fullmatch(phone) or phone in self.d.by_phone:
            raise SeedError("phoneNumber invalid (E.164) or duplicate: %r" % (phone,))
        owner = spec.get("extensionId")
        usage = spec.get("usageType", "DirectNumber" if owner is not None else "Inventory")
        num_id = parse_int(spec.get("id", self.d.next_number_id))
        if usage not in USAGE_TYPES or num_id is None or num_id in self.d.numbers:
            raise SeedError("number %s: bad usageType or id" % phone)
        ext = self.d.ext(owner) if owner is not None else None
        if owner is not None and (ext is None or usage != "DirectNumber"):
            raise SeedError("number %s: extensionId needs an existing extension and "
                            "usageType DirectNumber" % phone)
        if not isinstance(spec.get("hidden", False), bool):
            raise SeedError("number %s: hidden must be true or false" % phone)
        num = PhoneNumber(num_id, phone, usage, str(spec.get("type", "VoiceFax")),
                          str(spec.get("status", "Normal")), hidden=spec.get("hidden", False))
        self.d.add_number(num)
        if ext is not None:
            self.d.assign_number(num, ext, primary=spec.get("primary") is True)

    def inventory(self, spec):
        self._dict(spec, "inventory_numbers")
        count, start = parse_int(spec.get("count", 0)), spec.get("start", "+16505551000")
        if count is None or not 0 <= count <= 1000000 or not isinstance(start, str) \
                or not E164_RE.fullmatch(start):
            raise SeedError("inventory_numbers needs count and an E.164 start")
        made, candidate = 0, int(start[1:])
        while made < count:
            phone = "+%d" % candidate
            if not E164_RE.fullmatch(phone):
                raise SeedError("inventory_numbers ran out of E.164 numbers")
            if phone not in self.d.by_phone:
                self.d.add_number(PhoneNumber(self.d.next_number_id, phone, "Inventory"))
                made += 1
            candidate += 1


# ---------------------------------------------------------------------------
# Bulk update tasks


@dataclass
class Task:
    id: str
    records: list
    due: float                  # monotonic time at which it completes
    created: float              # wall-clock times for the JSON view
    modified: float
    status: str = "Accepted"
    result: dict = None


class TaskQueue:
    """extension-bulk-update tasks: Accepted when created, InProgress once
    seen again before `delay` has passed, then Completed. Records are applied
    at completion, in order; a failing record never stops the others."""

    def __init__(self, delay):
        self.delay = delay
        self.numeric_ids = False    # result extensionIds as JSON numbers
        self.reset()

    def reset(self):
        self.tasks = {}
        self.pending = []
        self.count = 0

    def create(self, records, mono, wall):
        self.count += 1
        task_id = "00000000-0000-4000-8000-%012d" % self.count
        task = Task(task_id, copy.deepcopy(records), mono + self.delay, wall, wall)
        self.tasks[task_id] = task
        self.pending.append(task)
        return task

    def advance(self, mono, wall, directory):
        """Move pending tasks on; called at the start of every request."""
        still = []
        for task in self.pending:
            if mono >= task.due:
                results = [apply_bulk_record(directory, r, wall, self.numeric_ids)
                           for r in task.records]
                task.result = {"affectedItems": {"result": results}}
                task.status, task.modified = "Completed", wall
            else:
                if task.status == "Accepted":
                    task.status, task.modified = "InProgress", wall
                still.append(task)
        self.pending = still

    def view(self, task, base):
        out = {"id": task.id,
               "uri": "%s%s/extension-bulk-update/tasks/%s" % (base, ACCOUNT_PATH, task.id),
               "status": task.status, "creationTime": iso_time(task.created),
               "lastModifiedTime": iso_time(task.modified)}
        if task.result is not None:
            out["result"] = task.result
        return out

    def dump(self):
        return [{"id": t.id, "status": t.status, "records": len(t.records),
                 "result": t.result} for t in self.tasks.values()]


def apply_bulk_record(directory, record, now, numeric=False):
    """One ExtensionBulkUpdateInfo -> {extensionId, status, errors?};
    numeric: extensionId as a JSON number when it is one."""
    raw_id = record.get("id") if isinstance(record, dict) else None
    shown = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
    number = parse_int(raw_id)
    if number is None and isinstance(raw_id, str) and LONG_ID_RE.fullmatch(raw_id):
        number = int(raw_id)        # a well-formed id no extension has (a SCIM id)
    if numeric and number is not None:
        shown = number
    if number is None:
        errs = [invalid("id", raw_id)]
    else:
        ext = directory.ext(raw_id)
        if ext is None:
            errs = [not_found("extensionId", raw_id)]
        else:
            update = {k: v for k, v in record.items() if k != "id"}
            errs = directory.update_extension(ext, update, now)
    if errs:
        return {"extensionId": shown, "status": "Fail", "errors": errs}
    return {"extensionId": shown, "status": "Success"}


# ---------------------------------------------------------------------------
# SCIM mapping: extension <-> SCIM User

SCIM_CONTACT_KEYS = ("firstName", "lastName", "email", "businessPhone", "mobilePhone",
                     "department", "jobTitle", "businessAddress")
SCIM_PHONE_TYPES = {"work": "businessPhone", "mobile": "mobilePhone"}
SCIM_ADDRESS_MAP = (("streetAddress", "street"), ("locality", "city"), ("region", "state"),
                    ("postalCode", "zip"), ("country", "country"))


@dataclass
class ScimFields:
    """What a SCIM User body sets on an extension."""
    contact: dict
    external_id: str
    active: bool                # None: not given


def scim_core(ext):
    """The SCIM attributes of a user, without schemas/id/meta."""
    c = ext.contact
    user = {"userName": c.get("email", ""),
            "name": {"givenName": c.get("firstName", ""), "familyName": c.get("lastName", "")},
            "emails": [{"type": "work", "value": c["email"], "primary": True}]
            if c.get("email") else [],
            "active": ext.status in ACTIVE_STATUSES}
    if ext.external_id is not None:
        user["externalId"] = ext.external_id
    phones = [{"type": t, "value": c[k]} for t, k in SCIM_PHONE_TYPES.items() if c.get(k)]
    if phones:
        user["phoneNumbers"] = phones
    addr = c.get("businessAddress") or {}
    if addr:
        item = {"type": "work"}
        item.update((s, addr[r]) for s, r in SCIM_ADDRESS_MAP if addr.get(r))
        user["addresses"] = [item]
    if c.get("jobTitle"):
        user["title"] = c["jobTitle"]
    if c.get("department"):
        user[SCHEMA_ENTERPRISE] = {"department": c["department"]}
    return user


def scim_user(ext, user_id, base):
    """The full SCIM User resource; user_id: its SCIM id (Directory.scim_id)."""
    out = {"schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE], "id": user_id}
    out.update(scim_core(ext))
    out["meta"] = {"resourceType": "User", "created": iso_time(ext.created),
                   "lastModified": iso_time(ext.modified),
                   "location": "%s%s/Users/%s" % (base, SCIM_PATH, user_id)}
    return out


def scim_invalid(attr):
    return scim_error(400, "Parameter [%s] value is invalid." % attr, "invalidValue")


def scim_required(attr):
    return scim_error(400, "Parameter [%s] is required." % attr, "invalidValue")


def _opt_str(user_value, attr):
    if user_value is None or isinstance(user_value, str):
        return user_value or None
    raise scim_invalid(attr)


def parse_active(value):
    """SCIM active: a boolean; "true"/"false" strings are accepted (Azure AD)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    raise scim_invalid("active")


def scim_identity(user):
    """userName, the one work email and the name; returns the contact part."""
    user_name = user.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise scim_required("userName")
    emails = user.get("emails")
    if not isinstance(emails, list) or len(emails) != 1 or not isinstance(emails[0], dict):
        raise scim_invalid("emails")
    email, etype = emails[0].get("value"), emails[0].get("type", "work")
    if not isinstance(email, str) or not email:
        raise scim_invalid("emails.value")
    if etype is not None and fold(etype) != "work":
        raise scim_invalid("emails.type")
    if fold(user_name) != fold(email):
        raise scim_invalid("userName")
    name = user.get("name")
    if not isinstance(name, dict):
        raise scim_required("name.givenName")
    contact = {"email": email}
    for attr, key in (("givenName", "firstName"), ("familyName", "lastName")):
        value = name.get(attr)
        if not isinstance(value, str) or not value.strip():
            raise scim_required("name." + attr)
        contact[key] = value
    return contact


def scim_phones_addresses(user, contact):
    """phoneNumbers work/mobile and addresses[type=work] into the contact."""
    phones = user.get("phoneNumbers") or []
    if not isinstance(phones, list):
        raise scim_invalid("phoneNumbers")
    for phone in phones:
        if not isinstance(phone, dict) or not isinstance(phone.get("type", ""), str):
            raise scim_invalid("phoneNumbers")
        value = _opt_str(phone.get("value"), "phoneNumbers.value")
        key = SCIM_PHONE_TYPES.get(fold(phone.get("type")))
        if key and value and key not in contact:
            contact[key] = value
    addresses = user.get("addresses") or []
    if not isinstance(addresses, list) or not all(isinstance(a, dict) for a in addresses):
        raise scim_invalid("addresses")
    work = [a for a in addresses if fold(a.get("type", "work")) == "work"]
    if work:
        addr = {}
        for scim_key, rc_key in SCIM_ADDRESS_MAP:
            value = _opt_str(work[0].get(scim_key), "addresses." + scim_key)
            if value:
                addr[rc_key] = value
        if addr:
            contact["businessAddress"] = addr


def scim_to_fields(user, old_contact):
    """Validate a whole SCIM User body; returns ScimFields or raises 400."""
    contact = scim_identity(user)
    scim_phones_addresses(user, contact)
    title = _opt_str(user.get("title"), "title")
    if title:
        contact["jobTitle"] = title
    ent = user.get(SCHEMA_ENTERPRISE)
    if ent is not None and not isinstance(ent, dict):
        raise scim_invalid(SCHEMA_ENTERPRISE)
    department = _opt_str((ent or {}).get("department"), "department")
    if department:
        contact["department"] = department
    external = _opt_str(user.get("externalId"), "externalId")
    old = {k: v for k, v in old_contact.items() if k in SCIM_CONTACT_KEYS}
    errs = contact_errors(contact, old)
    if errs:
        raise scim_invalid("extension." + errs[0]["parameterName"])
    return ScimFields(contact, external, parse_active(user.get("active")))


# -- PATCH (RFC 7644 3.5.2) on the dict scim_core() returns

PATCH_PATH_RE = re.compile(
    r'([A-Za-z][\w$-]*)(?:\[\s*(\w+)\s+eq\s+"([^"]*)"\s*\])?(?:\.([A-Za-z][\w$-]*))?', re.I)
CORE_ATTRS = {"username": "userName", "externalid": "externalId", "name": "name",
              "emails": "emails", "phonenumbers": "phoneNumbers", "addresses": "addresses",
              "title": "title", "active": "active"}
# Core attributes the platform does not keep: accepted and ignored.
IGNORED_ATTRS = {"displayname", "nickname", "profileurl", "usertype", "preferredlanguage",
                 "locale", "timezone", "ims", "photos", "entitlements", "roles",
                 "x509certificates", "groups", "password", "id", "meta", "schemas"}
IGNORED_ENTERPRISE = {"employeenumber", "costcenter", "organization", "division", "manager"}
MULTI_ATTRS = ("emails", "phoneNumbers", "addresses")
SUB_ATTRS = {k.casefold(): k for k in (
    "givenName", "familyName", "formatted", "middleName", "honorificPrefix",
    "honorificSuffix", "value", "type", "primary", "display", "streetAddress",
    "locality", "region", "postalCode", "country")}


def scim_invalid_path(path):
    return scim_error(400, "Path [%s] is not supported." % path, "invalidPath")


def apply_patch(user, ops):
    """Apply PatchOp Operations to `user` in place."""
    if not isinstance(ops, list) or not ops:
        raise scim_error(400, "Parameter [Operations] value is invalid.", "invalidSyntax")
    for op in ops:
        if not isinstance(op, dict):
            raise scim_error(400, "Parameter [Operations] value is invalid.", "invalidSyntax")
        kind, path, value = fold(op.get("op")), op.get("path"), op.get("value")
        if kind not in ("add", "replace", "remove"):
            raise scim_error(400, "Parameter [op] value is invalid.", "invalidSyntax")
        if path is None or path == "":
            if kind == "remove":
                raise scim_error(400, "Parameter [path] is required for remove.", "noTarget")
            if not isinstance(value, dict):
                raise scim_invalid("value")
            for key, item in value.items():
                patch_path(user, kind, key, item)
        elif isinstance(path, str):
            patch_path(user, kind, path, value)
        else:
            raise scim_invalid_path(str(path))


def patch_path(user, kind, path, value):
    if fold(path).startswith(fold(SCHEMA_ENTERPRISE)):
        return patch_enterprise(user, kind, path[len(SCHEMA_ENTERPRISE):], value, path)
    if fold(path).startswith(fold(SCHEMA_USER) + ":"):
        path = path[len(SCHEMA_USER) + 1:]
    match = PATCH_PATH_RE.fullmatch(path)
    if not match:
        raise scim_invalid_path(path)
    attr, f_attr, f_value, sub = match.groups()
    if attr.casefold() in IGNORED_ATTRS:
        return None
    if attr.casefold() not in CORE_ATTRS:
        raise scim_invalid_path(path)
    attr = CORE_ATTRS[attr.casefold()]
    sub = SUB_ATTRS.get(sub.casefold(), sub) if sub else None
    if attr in MULTI_ATTRS:
        return patch_multi(user, kind, attr, (f_attr, f_value), sub, value)
    if f_attr or (sub and attr != "name"):
        raise scim_invalid_path(path)
    if sub:
        target = user.get("name") if isinstance(user.get("name"), dict) else {}
        user["name"] = target
        if kind == "remove":
            target.pop(sub, None)
        else:
            target[sub] = value
    elif kind == "remove":
        user.pop(attr, None)
    elif attr == "name":
        if not isinstance(value, dict):
            raise scim_invalid("name")
        merged = dict(user.get("name") or {}) if kind == "add" else {}
        merged.update({SUB_ATTRS.get(k.casefold(), k): v for k, v in value.items()})
        user["name"] = merged
    else:
        user[attr] = value
    return None


def patch_enterprise(user, kind, rest, value, path):
    ent = user.get(SCHEMA_ENTERPRISE)
    ent = ent if isinstance(ent, dict) else {}
    user[SCHEMA_ENTERPRISE] = ent
    if rest == "":
        if kind == "remove":
            ent.clear()
            return
        if not isinstance(value, dict):
            raise scim_invalid(SCHEMA_ENTERPRISE)
        if kind == "replace":
            ent.clear()
        for key, item in value.items():
            patch_enterprise(user, "add", ":" + key, item, path)
        return
    attr = rest[1:].casefold() if rest.startswith(":") else None
    if attr == "department":
        if kind == "remove":
            ent.pop("department", None)
        else:
            ent["department"] = value
    elif attr not in IGNORED_ENTERPRISE:
        raise scim_invalid_path(path)


def patch_multi(user, kind, attr, flt, sub, value):
    """emails/phoneNumbers/addresses, with an optional [type eq "x"] filter."""
    items = user.get(attr)
    if not isinstance(items, list):
        items = []
    user[attr] = items
    f_attr, f_value = flt
    if f_attr:
        if f_attr.casefold() != "type":
            raise scim_error(400, "Filter [%s] is not supported in a path." % f_attr,
                             "invalidFilter")
        return patch_filtered(user, kind, attr, f_value, sub, value)
    if kind == "remove":
        if sub:
            for item in items:
                if isinstance(item, dict):
                    item.pop(sub, None)
        else:
            user.pop(attr)
        return None
    if sub:
        items[:] = items or [{}]
        for item in items:
            if isinstance(item, dict):
                item[sub] = value
        return None
    new = value if isinstance(value, list) else [value]
    if kind == "replace":
        user[attr] = list(new)
        return None
    for item in new:        # add: an element of the same type is replaced
        same = [i for i in items if isinstance(i, dict) and isinstance(item, dict)
                and "type" in item and fold(i.get("type")) == fold(item.get("type"))]
        if same:
            same[0].update(item)
        else:
            items.append(item)
    return None


def patch_filtered(user, kind, attr, f_value, sub, value):
    items = user[attr]
    matches = [i for i in items if isinstance(i, dict) and fold(i.get("type")) == fold(f_value)]
    if kind == "remove":
        if sub:
            for item in matches:
                item.pop(sub, None)
        else:
            user[attr] = [i for i in items if not any(i is m for m in matches)]
        return None
    target = matches[0] if matches else None
    if target is None:
        target = {"type": f_value}
        items.append(target)
    if sub:
        target[sub] = value
        return None
    if not isinstance(value, dict):
        raise scim_invalid(attr)
    if kind == "replace":
        target.clear()
        target["type"] = f_value
    target.update(value)
    return None


# ---------------------------------------------------------------------------
# Fault injection and the request log

FAULT_KINDS = ("503", "500", "delay", "reset", "truncated", "nonjson", "429", "redirect",
               "cmn101")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
BASE_URL_RE = re.compile(r"https?://[A-Za-z0-9.\-:\[\]]{1,255}")


@dataclass
class Fault:
    kind: str
    count: int
    path_prefix: str = ""
    delay: float = None
    status: int = None          # redirect: 301, 302, 303, 307 or 308
    location: str = None        # redirect: scheme://host:port to send it to
    param: str = None           # cmn101: the parameter named invalid


class FaultInjector:
    """Faults for the next N API requests whose path starts with a prefix."""

    def __init__(self):
        self.faults = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        kind, count = str(spec.get("kind")), parse_int(spec.get("count", 1))
        prefix, delay = spec.get("path_prefix") or "", spec.get("delay")
        if kind not in FAULT_KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(FAULT_KINDS))
        if count is None or count < 1 or not isinstance(prefix, str):
            raise ValueError("count must be a positive integer, path_prefix a string")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))
                                  or not 0 <= delay <= 300):
            raise ValueError("delay must be a number of seconds (0..300)")
        if kind == "delay" and delay is None:
            delay = 1.0
        status, location = self._redirect(kind, spec)
        param = spec.get("param", "contact.department") if kind == "cmn101" else None
        if kind == "cmn101" and (not isinstance(param, str) or not param):
            raise ValueError("param must be a parameter name")
        fault = Fault(kind, count, prefix, delay, status, location, param)
        self.faults.append(fault)
        return fault

    @staticmethod
    def _redirect(kind, spec):
        """A redirect's status (default 307) and target base URL (None: here)."""
        if kind != "redirect":
            return None, None
        status, location = parse_int(spec.get("status", 307)), spec.get("location")
        if status not in REDIRECT_STATUSES:
            raise ValueError("status must be one of %s" % ", ".join(
                map(str, REDIRECT_STATUSES)))
        if location is not None and (not isinstance(location, str)
                                     or not BASE_URL_RE.fullmatch(location)):
            raise ValueError("location must be scheme://host[:port]")
        return status, location

    def take(self, path):
        """The fault for this request, if any (its count goes down by one)."""
        for fault in self.faults:
            if path.startswith(fault.path_prefix):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self):
        self.faults = []

    def list(self):
        return [{"kind": f.kind, "count": f.count, "path_prefix": f.path_prefix,
                 "delay": f.delay, "status": f.status, "location": f.location,
                 "param": f.param}
                for f in self.faults]


def fault_response(fault, penalty, req):
    """The response of a fault that replaces the request's processing."""
    if fault.kind == "redirect":
        # to the same path and query, here or on the fault's location
        target = "%s%s%s" % (fault.location or req.base_url, req.raw_path,
                             "?" + req.query if req.query else "")
        return Response(fault.status, b"", [("Location", target)])
    if fault.kind == "503":
        return json_response(503, rest_body([err_item(
            "CMN-201", "Service Temporarily Unavailable")]))
    if fault.kind == "500":
        return json_response(500, rest_body([err_item("CMN-500", "Internal Server Error")]))
    if fault.kind == "429":
        retry = math.ceil(fault.delay) if fault.delay is not None else penalty
        return json_response(429, rest_body([err_item("CMN-301", "Request rate exceeded")]),
                             headers=[("Retry-After", str(retry))])
    if fault.kind == "cmn101":
        # a request-level "bad value"; the cmn101_status switch may make it 403
        return json_response(400, rest_body([invalid(fault.param)]))
    if fault.kind == "nonjson":
        html = b"<html><head><title>Maintenance</title></head>" \
               b"<body><h1>Service maintenance</h1></body></html>"
        return Response(200, html, [("Content-Type", "text/html; charset=utf-8")])
    return Response(0, action="reset")


class RequestLog:
    """Every API request: seq (in the order answered), arrival (in the order
    the rate limiter counted them), t (arrival time), method, path, query,
    group, status, fault.
    Never bodies or headers. Optionally mirrored to a JSON-lines file."""

    def __init__(self, path, t0):
        self.t0 = t0
        self.file = open(path, "a", encoding="utf-8") if path else None
        self.reset()

    def reset(self):
        self.entries = deque(maxlen=LOG_CAP)
        self.seq = 0
        self.arrivals = 0

    def arrive(self):
        """The next arrival number: taken under the same lock as the rate
        limiter's count, so two requests that arrive within the clock's
        resolution still have an order."""
        self.arrivals += 1
        return self.arrivals

    def append(self, req, group, status, fault, arrived):
        """One answered request; arrived is (arrival number, time): when
        the rate limiter counted it, so windows can be checked from the
        log."""
        self.seq += 1
        entry = {"seq": self.seq, "arrival": arrived[0],
                 "t": round(arrived[1] - self.t0, 3),
                 "method": req.method, "path": req.raw_path, "query": req.query,
                 "host": req.headers.get("Host", ""), "group": group,
                 "status": status, "fault": fault}
        self.entries.append(entry)
        if self.file:
            self.file.write(json.dumps(entry) + "\n")
            self.file.flush()

    def since(self, seq):
        return [e for e in self.entries if e["seq"] > seq]

    def clear(self):
        self.entries.clear()


# ---------------------------------------------------------------------------
# Paging (REST)


def page_params(req):
    """page (1-based) and perPage (clamped to 1000) of a list request."""
    page = parse_int(req.q("page", "1"))
    per_page = parse_int(req.q("perPage", str(DEFAULT_PER_PAGE)))
    if page is None or page < 1:
        raise rest_errors([invalid("page", req.q("page"))])
    if per_page is None or per_page < 1:
        raise rest_errors([invalid("perPage", req.q("perPage"))])
    return page, min(per_page, MAX_PER_PAGE)


def paged(req, items, render, empty="full"):
    """A paged list response: records, paging and navigation (absolute URIs;
    the last page has no nextPage; pageStart/pageEnd only when not empty).
    An empty page leaves out the fields the definitions let it omit:
    empty="no-fields" drops page, totalPages and totalElements too, "none"
    sends no paging and no navigation at all."""
    page, per_page = page_params(req)
    total = len(items)
    pages = math.ceil(total / per_page)
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    paging = {"page": page, "totalPages": pages, "perPage": per_page, "totalElements": total}
    if chunk:
        paging.update(pageStart=start, pageEnd=start + len(chunk) - 1)
    nav = {"firstPage": {"uri": req.url_with(page=1, perPage=per_page)}}
    if page < pages:
        nav["nextPage"] = {"uri": req.url_with(page=page + 1, perPage=per_page)}
    if page > 1:
        nav["previousPage"] = {"uri": req.url_with(page=page - 1, perPage=per_page)}
    nav["lastPage"] = {"uri": req.url_with(page=max(pages, 1), perPage=per_page)}
    body = {"uri": req.url_with(page=page, perPage=per_page),
            "records": [render(x) for x in chunk], "paging": paging, "navigation": nav}
    if not chunk and empty == "no-fields":
        body["paging"] = {"perPage": per_page}
    elif not chunk and empty == "none":
        del body["paging"], body["navigation"]
    return json_response(200, body)


# ---------------------------------------------------------------------------
# SCIM discovery documents


def scim_attr(name, kind="string", multi=False, required=False, sub=None, **extra):
    attr = {"name": name, "type": kind, "multiValued": multi, "required": required,
            "caseExact": False, "mutability": "readWrite", "returned": "default",
            "uniqueness": "none"}
    if sub:
        attr["subAttributes"] = sub
    attr.update(extra)
    return attr


def user_schema():
    address = [scim_attr("type", canonicalValues=["work"])] + [
        scim_attr(n) for n in ("streetAddress", "locality", "region", "postalCode", "country")]
    return {"schemas": [SCHEMA_SCHEMA], "id": SCHEMA_USER, "name": "User",
            "description": "User Account", "attributes": [
                scim_attr("userName", required=True, uniqueness="server"),
                scim_attr("externalId", caseExact=True),
                scim_attr("name", "complex", required=True, sub=[
                    scim_attr("givenName", required=True),
                    scim_attr("familyName", required=True)]),
                scim_attr("emails", "complex", True, True, sub=[
                    scim_attr("value", required=True),
                    scim_attr("type", canonicalValues=["work"]),
                    scim_attr("primary", "boolean")]),
                scim_attr("phoneNumbers", "complex", True, sub=[
                    scim_attr("value"),
                    scim_attr("type", canonicalValues=["work", "mobile", "other"])]),
                scim_attr("addresses", "complex", True, sub=address),
                scim_attr("title"),
                scim_attr("active", "boolean")]}


def enterprise_schema():
    return {"schemas": [SCHEMA_SCHEMA], "id": SCHEMA_ENTERPRISE, "name": "EnterpriseUser",
            "description": "Enterprise User", "attributes": [scim_attr("department")]}


def with_meta(doc, kind, location):
    doc = dict(doc)
    doc["meta"] = {"resourceType": kind, "location": location}
    return doc


def list_response(resources, start=1):
    return {"schemas": [MSG_LIST], "totalResults": len(resources), "startIndex": start,
            "itemsPerPage": len(resources), "Resources": resources}


# ---------------------------------------------------------------------------
# API endpoints. Each method gets the Request (and path parameters), runs
# under Emulator.lock, and returns a Response or raises ApiError.


class OAuthApi:
    def __init__(self, emu):
        self.emu = emu

    def token(self, req):
        tokens = self.emu.tokens
        tokens.check_client(req.headers.get("Authorization"))
        body = tokens.grant(parse_form(req.body), time.monotonic())
        return json_response(200, body, headers=[("Cache-Control", "no-store"),
                                                 ("Pragma", "no-cache")])

    def authorize(self, req):
        query = {k: v[0] for k, v in req.params.items()}
        location = self.emu.tokens.authorize(query, time.monotonic())
        return Response(302, b"", [("Location", location), ("Cache-Control", "no-store")])

    def revoke(self, req):
        self.emu.tokens.check_client(req.headers.get("Authorization"))
        token = parse_form(req.body).get("token")
        if not token:
            raise oauth_error(400, "invalid_request", "CMN-101",
                              "Parameter [token] value is invalid.")
        self.emu.tokens.revoke(token)
        return Response(200)

    def wstoken(self, req):
        """The change feed's single-use WebSocket token (a Bearer call)."""
        self.emu.tokens.check_bearer(req.headers.get("Authorization"), time.monotonic())
        if not self.emu.behaviour.ws_permission:
            raise rest_errors([err_item(
                "CMN-408", "In order to call this API endpoint, application needs "
                "to have [WebSockets Subscriptions] permission")], 403)
        scheme = "wss" if req.base_url.startswith("https") else "ws"
        return json_response(200, {"ws_access_token": self.emu.ws.issue(),
                                   "uri": "%s://%s/ws" % (scheme, req.base_url.split("://", 1)[1]),
                                   "expires_in": 60})


FILTER_RE = re.compile(r'\s*([A-Za-z][\w.]*)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*', re.I)


def parse_filter(text):
    """`userName eq "x"` or `email eq "x"` -> the value; else invalidFilter."""
    match = FILTER_RE.fullmatch(text) if isinstance(text, str) else None
    if not match or match.group(1).casefold() not in ("username", "email"):
        raise scim_error(400, "Filter [%s] is not supported: use 'userName eq' or "
                         "'email eq'." % text, "invalidFilter")
    return re.sub(r"\\(.)", r"\1", match.group(2))


def scim_paging(start, count):
    start_i = parse_int(start) if start not in (None, "") else 1
    count_i = parse_int(count) if count not in (None, "") else SCIM_DEFAULT_COUNT
    if start_i is None:
        raise scim_invalid("startIndex")
    if count_i is None:
        raise scim_invalid("count")
    return max(start_i, 1), min(max(count_i, 0), SCIM_MAX_COUNT)


class ScimApi:
    def __init__(self, emu):
        self.emu = emu

    @property
    def d(self):
        return self.emu.directory

    def respond(self, status, obj, headers=None):
        return json_response(status, obj, SCIM_JSON, headers)

    def user(self, ext, req):
        return scim_user(ext, self.d.scim_id(ext), req.base_url)

    def list(self, req):
        return self._search(req, req.q("filter"), req.q("startIndex"), req.q("count"))

    def search(self, req):
        body = scim_json(req)
        return self._search(req, body.get("filter"), body.get("startIndex"), body.get("count"))

    def _search(self, req, flt, start, count):
        start, count = scim_paging(start, count)
        if flt is None or flt == "":
            users = self.d.scim_users()
        else:
            value = parse_filter(flt)
            users = self.d.users_with_email(value)
            if len(users) > 1:
                raise scim_error(409, "More than one record found for Email: [%s]" % value,
                                 "uniqueness")
        page = [self.user(e, req) for e in users[start - 1:start - 1 + count]]
        body = list_response(page, start)
        body["totalResults"] = len(users)
        return self.respond(200, body)

    def _user(self, user_id):
        ext = self.d.scim_ext(user_id)
        if ext is None or not ext.scim_visible:
            raise scim_error(404, "Resource for parameter [id] is not found.")
        return ext

    def _check_unique(self, fields, ext):
        """409 when the email changes to one another user already has."""
        email = fields.contact["email"]
        if ext is not None and fold(ext.contact.get("email")) == fold(email):
            return
        if any(e is not ext for e in self.d.users_with_email(email)):
            raise scim_error(409, "User with email [%s] already exists." % email, "uniqueness")

    def get(self, req, user_id):
        return self.respond(200, self.user(self._user(user_id), req))

    def create(self, req):
        fields = scim_to_fields(scim_json(req), {})
        self._check_unique(fields, None)
        ext = self.d.free_extension()
        if ext is None:
            raise scim_error(403, "License limit has been reached.")
        self.d.assign_user(ext, fields, time.time())
        user = self.user(ext, req)
        return self.respond(201, user, [("Location", user["meta"]["location"])])

    def replace(self, req, user_id):
        ext = self._user(user_id)
        fields = scim_to_fields(scim_json(req), ext.contact)
        self._check_unique(fields, ext)
        self.d.set_user(ext, fields, time.time())
        return self.respond(200, self.user(ext, req))

    def patch(self, req, user_id):
        ext = self._user(user_id)
        body = scim_json(req)
        user = scim_core(ext)
        apply_patch(user, body.get("Operations"))
        fields = scim_to_fields(user, ext.contact)
        self._check_unique(fields, ext)
        self.d.set_user(ext, fields, time.time())
        return self.respond(200, self.user(ext, req))

    def delete(self, req, user_id):
        self.d.unassign(self._user(user_id), time.time())
        return Response(204)

    def service_provider_config(self, req):
        doc = {"schemas": [SCHEMA_SPC],
               "documentationUri": "https://developers.ringcentral.com/api-reference/SCIM",
               "patch": {"supported": True},
               "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
               "filter": {"supported": True, "maxResults": SCIM_MAX_COUNT},
               "changePassword": {"supported": False}, "sort": {"supported": False},
               "etag": {"supported": False},
               "authenticationSchemes": [{
                   "type": "oauthbearertoken", "name": "OAuth Bearer Token",
                   "description": "Authentication with an OAuth 2.0 bearer token",
                   "primary": True}]}
        location = req.base_url + SCIM_PATH + "/ServiceProviderConfig"
        return self.respond(200, with_meta(doc, "ServiceProviderConfig", location))

    def _schemas(self, req):
        base = req.base_url + SCIM_PATH + "/Schemas/"
        return [with_meta(s, "Schema", base + s["id"]) for s in (user_schema(),
                                                                 enterprise_schema())]

    def schemas(self, req):
        return self.respond(200, list_response(self._schemas(req)))

    def schema(self, req, uri):
        for doc in self._schemas(req):
            if doc["id"] == uri:
                return self.respond(200, doc)
        raise scim_error(404, "Resource for parameter [uri] is not found.")

    def _resource_type(self, req):
        doc = {"schemas": [SCHEMA_RT], "id": "User", "name": "User", "endpoint": "/Users",
               "description": "User Account", "schema": SCHEMA_USER,
               "schemaExtensions": [{"schema": SCHEMA_ENTERPRISE, "required": False}]}
        return with_meta(doc, "ResourceType", req.base_url + SCIM_PATH + "/ResourceTypes/User")

    def resource_types(self, req):
        return self.respond(200, list_response([self._resource_type(req)]))

    def resource_type(self, req, name):
        if name != "User":
            raise scim_error(404, "Resource for parameter [name] is not found.")
        return self.respond(200, self._resource_type(req))


class RestApi:
    def __init__(self, emu):
        self.emu = emu

    @property
    def d(self):
        return self.emu.directory

    def _ext(self, ext_id):
        ext = self.d.ext(ext_id)
        if ext is None:
            raise rest_errors([not_found("extensionId", ext_id)])
        return ext

    def ext_list(self, req):
        types, statuses = req.q_all("type"), req.q_all("status")
        email, number = req.q("email"), req.q("extensionNumber")
        for status in statuses:
            if status not in ALL_STATUSES:
                raise rest_errors([invalid("status", status)])

        def keep(e):
            return ((not types or e.type in types) and (not statuses or e.status in statuses)
                    and (email is None or fold(e.contact.get("email")) == fold(email))
                    and (number is None or e.number == number))
        exts = [e for e in self.d.sorted_extensions() if keep(e)]
        return paged(req, exts, lambda e: self.d.ext_record(e, req.base_url),
                     self.emu.behaviour.empty_paging)

    def ext_get(self, req, ext_id):
        return json_response(200, self.d.ext_record(self._ext(ext_id), req.base_url))

    def ext_put(self, req, ext_id):
        ext = self._ext(ext_id)
        errs = self.d.update_extension(ext, rest_json(req), time.time())
        if errs:
            raise rest_errors(errs)
        return json_response(200, self.d.ext_record(ext, req.base_url))

    def ext_create(self, req):
        """POST .../extension (ExtensionCreationRequest): a User extension,
        answered with its record (GetExtensionInfoResponse)."""
        new, errs = self._creation(rest_json(req))
        if errs:
            raise rest_errors(errs)
        b = self.emu.behaviour
        ext, errs = self.d.create_user(new, time.time(), b.v1_create_uses_unassigned,
                                       b.duplicate_extension_code)
        if errs:
            raise rest_errors(errs)
        return json_response(200, self.d.ext_record(ext, req.base_url))

    def _creation(self, body):
        """Validate an ExtensionCreationRequest: (values for create_user,
        errors). Keys the emulator does not model are accepted and ignored."""
        d, errs = self.d, []
        new = {"number": None, "site": None, "cost_center": None, "custom": {}}
        contact = body.get("contact")
        if contact is None:
            contact = {}
        new["contact"], cerrs = merge_contact({}, contact)
        errs += cerrs
        if not cerrs:
            errs += contact_errors(new["contact"], {}) or (
                state_missing(new["contact"], {}) if d.state_mandatory else [])
        if isinstance(contact, dict):
            for key in ("email", "firstName"):
                if not new["contact"].get(key) and "contact." + key not in \
                        [e.get("parameterName") for e in errs]:
                    errs.append(mandatory("contact." + key))
            if not isinstance(contact.get("emailAsLoginName", False), bool):
                errs.append(invalid("contact.emailAsLoginName"))
        if body.get("type", "User") != "User":
            errs.append(invalid("type", body.get("type")))
        new["status"] = body.get("status", "Enabled")
        if new["status"] not in CREATE_STATUSES:
            errs.append(invalid("status", new["status"]))
        if "extensionNumber" in body:
            number = body["extensionNumber"]
            if not isinstance(number, str) or not re.fullmatch(
                    r"[0-9]{1,%d}" % d.max_ext_len, number):
                errs.append(invalid("extensionNumber", number))
            else:
                new["number"] = number
        if body.get("site") is not None:
            new["site"], serrs = d.site_errors(body["site"])
            errs += serrs
        if body.get("costCenter") is not None:
            new["cost_center"], cerrs = self._cost_center(body["costCenter"])
            errs += cerrs
        if "customFields" in body:
            new["custom"] = d._merge_custom({}, body["customFields"], errs)
        return new, errs

    def sites(self, req):
        """GET .../sites: every site, main-site first, no paging (none on a
        single-site account)."""
        base = req.base_url + ACCOUNT_PATH + "/sites"
        records = [dict(site, uri="%s/%s" % (base, site["id"]))
                   for site in self.d.sites.values()]
        return json_response(200, {"uri": base, "records": records})

    def _id_list(self, body, key):
        """A list of extension ids (strings, or JSON integers) naming
        extensions: the extensions, or CMN-101 / CMN-102 on `key`."""
        ids = body.get(key, [])
        if not isinstance(ids, list):
            raise rest_errors([invalid(key)])
        exts = []
        for raw in ids:
            if parse_int(raw) is None:
                raise rest_errors([invalid(key, raw)])
            ext = self.d.ext(raw)
            if ext is None:
                raise rest_errors([not_found(key, raw)])
            exts.append(ext)
        return exts

    def site_bulk_assign(self, req, site_id):
        """POST .../sites/{siteId}/bulk-assign: added extensions move to the
        site; removed ones that are in it go back to the main site. 204."""
        if site_id not in self.d.sites:
            raise rest_errors([not_found("siteId", site_id)])
        body = rest_json(req)
        removed = self._id_list(body, "removedExtensionIds")
        added = self._id_list(body, "addedExtensionIds")
        target, now = None if site_id == MAIN_SITE else site_id, time.time()
        for ext in removed:
            if ext.site == target:
                before = ext.snapshot()
                ext.site = None
                self.d._touched(ext, before, now)
        for ext in added:
            before = ext.snapshot()
            ext.site = target
            self.d._touched(ext, before, now)
        return Response(204)

    # -- roles

    def _role_permission(self):
        """Role writes (and the default role's read) need RoleManagement."""
        if not self.emu.behaviour.role_permission:
            raise permission_error("RoleManagement")

    def _role(self, role_id):
        if role_id not in self.d.roles:
            raise rest_errors([not_found("roleId", role_id)])
        return role_id

    def role_list(self, req):
        roles = sorted(self.d.roles, key=id_sort_key)
        return paged(req, roles, lambda r: self.d.role_view(r, req.base_url),
                     self.emu.behaviour.empty_paging)

    def role_default(self, req):
        self._role_permission()
        if self.d.default_role is None:
            raise rest_errors([not_found("roleId", "default")])
        return json_response(200, self.d.role_view(self.d.default_role, req.base_url))

    def _assigned(self, ext, req):
        return [self.d.role_view(r, req.base_url) for r in self.d.ext_roles(ext)]

    def assigned_roles(self, req):
        """GET .../assigned-role: every user with its roles (paged)."""
        users = [e for e in self.d.sorted_extensions() if self.d.has_roles(e)]
        base = req.base_url + ACCOUNT_PATH

        def render(ext):
            return {"uri": "%s/extension/%d/assigned-role" % (base, ext.id),
                    "extensionId": str(ext.id), "roles": self._assigned(ext, req)}
        return paged(req, users, render, self.emu.behaviour.empty_paging)

    def ext_roles_get(self, req, ext_id):
        ext = self._ext(ext_id)
        return json_response(200, {
            "uri": "%s%s/extension/%d/assigned-role" % (req.base_url, ACCOUNT_PATH, ext.id),
            "records": self._assigned(ext, req)})

    def ext_roles_put(self, req, ext_id):
        """PUT .../extension/{id}/assigned-role {records: [{id}]}: the user's
        roles become these (at least one)."""
        self._role_permission()
        ext = self._ext(ext_id)
        if not self.d.has_roles(ext):
            raise rest_errors([invalid("extensionId", ext_id)])
        records = rest_json(req).get("records")
        if not isinstance(records, list) or not records:
            raise rest_errors([invalid("records")])
        roles = []
        for rec in records:
            rid = rec.get("id") if isinstance(rec, dict) else None
            if not isinstance(rid, str) or not rid:
                raise rest_errors([invalid("records.id", rid)])
            if rid not in self.d.roles:
                raise rest_errors([not_found("records.id", rid)])
            if rid not in roles:
                roles.append(rid)
        before = ext.snapshot()
        ext.roles = roles
        self.d._touched(ext, before, time.time())
        return self.ext_roles_get(req, ext_id)

    def role_bulk_assign(self, req, role_id):
        """POST .../user-role/{roleId}/bulk-assign: the added users get this
        role (in place of theirs); the removed ones that have it lose it
        (none left: the default role). 204."""
        self._role_permission()
        role = self._role(role_id)
        body = rest_json(req)
        limit = self.emu.behaviour.role_bulk_max
        count = sum(len(body[k]) for k in ("addedExtensionIds", "removedExtensionIds")
                    if isinstance(body.get(k), list))
        if limit and count > limit:
            raise rest_errors([too_many(limit)])
        removed = self._id_list(body, "removedExtensionIds")
        added = self._id_list(body, "addedExtensionIds")
        for key, exts in (("removedExtensionIds", removed), ("addedExtensionIds", added)):
            for ext in exts:
                if not self.d.has_roles(ext):
                    raise rest_errors([invalid(key, str(ext.id))])
        now = time.time()
        for ext in removed:
            if ext.roles and role in ext.roles:
                before = ext.snapshot()
                ext.roles = [r for r in ext.roles if r != role] or None
                self.d._touched(ext, before, now)
        for ext in added:
            before = ext.snapshot()
            ext.roles = [role]
            self.d._touched(ext, before, now)
        return Response(204)

    def batch_users(self, req):
        """POST /restapi/v2/accounts/~/batch-provisioning/users: up to 10
        records, each created on its own (a bad one fails alone), answered
        at once with one result per record."""
        records = rest_json(req).get("records")
        if not isinstance(records, list) or not records:
            raise rest_errors([invalid("records")])
        if len(records) > BATCH_MAX:
            raise rest_errors([too_many(BATCH_MAX)])
        b, results = self.emu.behaviour, []
        for record in records:
            new, errs = self._batch_record(record)
            if not errs:
                ext, errs = self.d.create_user(new, time.time(), b.batch_create_uses_unassigned,
                                               b.duplicate_extension_code)
            if errs:
                results.append({"successful": False, "errors": errs})
            else:
                results.append({"successful": True,
                                "extension": {"id": str(ext.id), "devices": []}})
        if b.batch_result_order == "reversed":
            results.reverse()
        return json_response(200, {"results": results})

    def _batch_record(self, rec):
        """Validate a BatchProvisionUsersRequestItem: (values for
        create_user, errors). No site: the item has none (ignored)."""
        if not isinstance(rec, dict):
            return None, [invalid("records")]
        d, errs = self.d, []
        new = {"number": None, "site": None, "cost_center": None, "custom": {},
               "status": "Enabled", "roles": None, "contact": {}}
        if rec.get("status", "Enabled") != "Enabled":
            errs.append(invalid("status", rec.get("status")))
        contact = rec.get("contact")
        if not isinstance(contact, dict):
            errs.append(mandatory("contact.email") if contact is None else invalid("contact"))
            contact = None
        for key in ("firstName", "lastName", "email") if contact is not None else ():
            value = contact.get(key)
            if value is None or value == "":
                if key != "lastName":
                    errs.append(mandatory("contact." + key))
            elif not isinstance(value, str) or len(value) > BATCH_FIELD_MAX or (
                    key == "email" and not EMAIL_RE.fullmatch(value)):
                errs.append(invalid("contact." + key, value))
            else:
                new["contact"][key] = value
        if contact is not None and contact.get("mobileNumber") is not None:
            mobile = contact["mobileNumber"]
            if not isinstance(mobile, str) or not E164_RE.fullmatch(mobile):
                errs.append(invalid("contact.mobileNumber", mobile))
            else:
                new["contact"]["mobilePhone"] = mobile
        if contact is not None and not isinstance(contact.get("emailAsLoginName", True), bool):
            errs.append(invalid("contact.emailAsLoginName"))
        if "extensionNumber" in rec:
            number = rec["extensionNumber"]
            if not isinstance(number, str) or not re.fullmatch(
                    r"[0-9]{3,%d}" % min(8, d.max_ext_len), number):
                errs.append(invalid("extensionNumber", number))
            else:
                new["number"] = number
        if rec.get("costCenter") is not None:
            new["cost_center"], cerrs = self._cost_center(rec["costCenter"])
            errs += cerrs
        if rec.get("roles") is not None:
            new["roles"] = self._batch_roles(rec["roles"], errs)
        devices = rec.get("devices")
        if devices is not None:
            if not isinstance(devices, list) or len(devices) > 1 or \
                    not all(isinstance(x, dict) for x in devices):
                errs.append(invalid("devices"))
            elif devices and devices[0].get("deviceInfo") is not None:
                info = devices[0]["deviceInfo"]
                if not isinstance(info, dict) or info.get("type") not in DEVICE_TYPES:
                    errs.append(invalid("devices.deviceInfo.type",
                                        info.get("type") if isinstance(info, dict) else None))
        return new, errs

    def _batch_roles(self, roles, errs):
        """A batch record's roles: at most one {id}."""
        if not isinstance(roles, list) or len(roles) > 1:
            errs.append(invalid("roles"))
            return None
        if not roles:
            return None
        rid = roles[0].get("id") if isinstance(roles[0], dict) else None
        if not isinstance(rid, str) or not rid:
            errs.append(invalid("roles.id", rid))
        elif rid not in self.d.roles:
            errs.append(not_found("roles.id", rid))
        else:
            return [rid]
        return None

    def service_info(self, req):
        """GET .../service-info (AccountServiceInfo): brand, plan, country
        and the limit creates obey (maxExtensionNumberLength)."""
        us = {"id": "1", "uri": req.base_url + "/restapi/v1.0/dictionary/country/1",
              "name": "United States", "isoCode": "US", "callingCode": "1"}
        return json_response(200, {
            "uri": req.base_url + ACCOUNT_PATH + "/service-info",
            "servicePlanName": "RingEX Advanced",
            "brand": {"id": "1210", "name": "RingCentral", "homeCountry": us},
            "contractedCountry": us,
            "servicePlan": {"id": "12000", "name": "RingEX Advanced", "edition": "Advanced"},
            "limits": {"maxExtensionNumberLength": self.d.max_ext_len}})

    def _cost_center(self, value):
        """A create's costCenter {id}: (id, errors); the feature first."""
        if not self.emu.behaviour.cost_center_feature:
            return None, [feature_missing("costCenter")]
        return self.d.cost_center_errors(value)

    def cost_centers(self, req):
        """GET /restapi/v2/accounts/~/cost-centers: all of them, no paging."""
        if not self.emu.behaviour.cost_center_feature:
            raise rest_errors([feature_missing()])
        return json_response(200, {"records": [dict(self.d.cost_centers[c])
                                               for c in sorted(self.d.cost_centers)]})

    def _image_ext(self, ext_id):
        """The extension of a profile-image write; 403 ACT-332 when it is
        Unassigned (no user whose photo it would be)."""
        ext = self._ext(ext_id)
        if ext.status == "Unassigned":
            raise rest_errors([err_item("ACT-332", "Unassigned extension cannot have a "
                                        "profile image", "extensionId", ext_id)], 403)
        return ext

    def image_get(self, req, ext_id):
        """GET .../profile-image: the bytes, as the type their magic says."""
        image = self._ext(ext_id).image
        if image is None:
            raise rest_errors([not_found("profileImage")])
        return Response(200, image.data, [("Content-Type", image.type)])

    def image_put(self, req, ext_id):
        """PUT .../profile-image (UpdateUserProfileImageRequest)."""
        return self._image_upload(req, ext_id)

    def image_post(self, req, ext_id):
        """POST .../profile-image (CreateUserProfileImageRequest): as PUT."""
        return self._image_upload(req, ext_id)

    def _image_upload(self, req, ext_id):
        """The part named image replaces the extension's image: 204."""
        if len(req.body) > IMAGE_MAX_BODY:
            raise rest_error(413, "CMN-101", "Request entity too large")
        ext = self._image_ext(ext_id)
        try:
            data, filename, declared = image_part(req)
            ctype, width, height = image_info(data)
        except ImageError as exc:
            raise exc.api_error() from None
        now = time.time()
        self.d.set_image(ext, ProfileImage(data, ctype, width, height, now, filename,
                                           declared), now)
        return Response(204)

    def image_delete(self, req, ext_id):
        """DELETE .../profile-image: 204, with or without an image."""
        self.d.set_image(self._image_ext(ext_id), None, time.time())
        return Response(204)

    def ext_numbers(self, req, ext_id):
        ext = self._ext(ext_id)
        nums = [self.d.numbers[n] for n in ext.numbers]
        return paged(req, nums, lambda n: self.d.number_record(n, req.base_url),
                     self.emu.behaviour.empty_paging)

    def bulk_update(self, req):
        records = rest_json(req).get("records")
        if not isinstance(records, list) or not 1 <= len(records) <= BULK_MAX:
            raise rest_errors([invalid("records")])
        if self.emu.behaviour.bulk_ids == "string":
            # ExtensionBulkUpdateInfo.id is a string in the definitions
            bad = [r["id"] for r in records if isinstance(r, dict)
                   and isinstance(r.get("id"), (int, float))
                   and not isinstance(r.get("id"), bool)]
            if bad:
                raise rest_errors([invalid("records.id", bad[0])])
        task = self.emu.tasks.create(records, time.monotonic(), time.time())
        return json_response(202, self.emu.tasks.view(task, req.base_url))

    def bulk_task(self, req, task_id):
        task = self.emu.tasks.tasks.get(task_id)
        if task is None:
            raise rest_errors([not_found("taskId", task_id)])
        return json_response(200, self.emu.tasks.view(task, req.base_url))

    def directory(self, req):
        """GET .../directory/entries: the listed statuses only, hidden users
        left out; EnumeratedPagingModel paging (no navigation); perPage up
        to the directory_per_page switch (1000 or 2000)."""
        types = req.q_all("type")
        page = parse_int(req.q("page", "1"))
        per_page = parse_int(req.q("perPage", "1000"))
        if page is None or page < 1:
            raise rest_errors([invalid("page", req.q("page"))])
        if per_page is None or per_page < 1:
            raise rest_errors([invalid("perPage", req.q("perPage"))])
        per_page = min(per_page, self.emu.behaviour.directory_per_page)
        listed = [e for e in self.d.sorted_extensions()
                  if e.status in DIRECTORY_STATUSES and not e.hidden
                  and (not types or e.type in types)]
        start = (page - 1) * per_page
        chunk = listed[start:start + per_page]
        return json_response(200, {
            "records": [self.d.directory_record(e) for e in chunk],
            "paging": {"page": page, "perPage": per_page,
                       "totalPages": math.ceil(len(listed) / per_page),
                       "totalElements": len(listed)}})

    def number_list(self, req):
        usage = req.q_all("usageType")
        nums = [n for n in self.d.sorted_numbers() if not usage or n.usage in usage]
        return paged(req, nums, lambda n: self.d.number_record(n, req.base_url),
                     self.emu.behaviour.empty_paging)

    def custom_fields(self, req):
        records = [dict(self.d.custom_fields[f])
                   for f in sorted(self.d.custom_fields, key=id_sort_key)]
        return json_response(200, {"records": records})


def api_routes(oauth, scim, rest):
    """(method, path regex, rate group, handler): the tables of tests/emulator/README.md."""
    a, s, v2 = re.escape(ACCOUNT_PATH), re.escape(SCIM_PATH), re.escape(ACCOUNT_V2_PATH)
    ext, uid = a + r"/extension/(?P<ext_id>[^/]+)", s + r"/Users/(?P<user_id>[^/]+)"
    return [
        ("POST", r"/restapi/oauth/token", "Auth", oauth.token),
        ("GET", r"/restapi/oauth/authorize", "Auth", oauth.authorize),
        ("POST", r"/restapi/oauth/revoke", "Auth", oauth.revoke),
        ("POST", r"/restapi/oauth/wstoken", "Auth", oauth.wstoken),
        ("GET", s + r"/Users", "Light", scim.list),
        ("POST", s + r"/Users/\.search", "Light", scim.search),
        ("POST", s + r"/Users", "Heavy", scim.create),
        ("GET", uid, "Light", scim.get),
        ("PUT", uid, "Heavy", scim.replace),
        ("PATCH", uid, "Heavy", scim.patch),
        ("DELETE", uid, "Heavy", scim.delete),
        ("GET", s + r"/ServiceProviderConfig", "Light", scim.service_provider_config),
        ("GET", s + r"/Schemas", "Light", scim.schemas),
        ("GET", s + r"/Schemas/(?P<uri>.+)", "Light", scim.schema),
        ("GET", s + r"/ResourceTypes", "Light", scim.resource_types),
        ("GET", s + r"/ResourceTypes/(?P<name>[^/]+)", "Light", scim.resource_type),
        ("GET", a + r"/extension", "Medium", rest.ext_list),
        ("POST", a + r"/extension", "Medium", rest.ext_create),
        ("GET", ext, "Light", rest.ext_get),
        ("PUT", ext, "Medium", rest.ext_put),
        ("GET", ext + r"/phone-number", "Light", rest.ext_numbers),
        ("GET", ext + r"/profile-image", "Medium", rest.image_get),
        ("PUT", ext + r"/profile-image", "Heavy", rest.image_put),
        ("POST", ext + r"/profile-image", "Heavy", rest.image_post),
        ("DELETE", ext + r"/profile-image", "Medium", rest.image_delete),
        ("POST", a + r"/extension-bulk-update", "Heavy", rest.bulk_update),
        ("GET", a + r"/extension-bulk-update/tasks/(?P<task_id>[^/]+)", "Light",
         rest.bulk_task),
        ("GET", a + r"/phone-number", "Heavy", rest.number_list),
        ("GET", a + r"/directory/entries", "Medium", rest.directory),
        ("GET", a + r"/custom-fields", "Light", rest.custom_fields),
        ("GET", a + r"/sites", "Light", rest.sites),
        ("POST", a + r"/sites/(?P<site_id>[^/]+)/bulk-assign", "Medium", rest.site_bulk_assign),
        ("GET", a + r"/user-role", "Medium", rest.role_list),
        ("GET", a + r"/user-role/default", "Light", rest.role_default),
        ("POST", a + r"/user-role/(?P<role_id>[^/]+)/bulk-assign", "Heavy",
         rest.role_bulk_assign),
        ("GET", a + r"/assigned-role", "Medium", rest.assigned_roles),
        ("GET", ext + r"/assigned-role", "Light", rest.ext_roles_get),
        ("PUT", ext + r"/assigned-role", "Medium", rest.ext_roles_put),
        ("GET", a + r"/service-info", "Light", rest.service_info),
        ("GET", v2 + r"/cost-centers", "Light", rest.cost_centers),
        ("POST", v2 + r"/batch-provisioning/users", "Heavy", rest.batch_users),
    ]


@dataclass
class Route:
    method: str
    pattern: object
    group: str
    handler: object


class Router:
    """Matches (method, path); also reports routes of the path with other methods."""

    def __init__(self, table):
        self.routes = [Route(m, re.compile(p), g, h) for m, p, g, h in table]

    def match(self, method, path, off=()):
        """(route, path params, routes of this path with another method).
        Routes whose handler is in `off` (a switch took them away) are absent."""
        others = []
        for route in self.routes:
            if route.handler in off:
                continue
            match = route.pattern.fullmatch(path)
            if match and route.method == method:
                return route, match.groupdict(), []
            if match:
                others.append(route)
        return None, {}, others


# ---------------------------------------------------------------------------
# Control interface: /_emu/ (no auth, no rate limit, not logged)


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def distinct_e164(phones):
    return (isinstance(phones, list) and all(isinstance(p, str) and E164_RE.fullmatch(p)
                                             for p in phones)
            and len(set(phones)) == len(phones))


def ctl_response(status, obj, stable=False):
    return json_response(status, obj, stable=stable)


class ControlApi:
    def __init__(self, emu):
        self.emu = emu
        self.router = Router([
            ("POST", r"/_emu/seed", None, self.seed),
            ("POST", r"/_emu/reset", None, self.reset),
            ("GET", r"/_emu/state", None, self.state),
            ("GET", r"/_emu/log", None, self.get_log),
            ("DELETE", r"/_emu/log", None, self.clear_log),
            ("GET", r"/_emu/fault", None, self.list_faults),
            ("POST", r"/_emu/fault", None, self.add_fault),
            ("DELETE", r"/_emu/fault", None, self.clear_faults),
            ("POST", r"/_emu/tokens", None, self.tokens),
            ("GET", r"/_emu/sessions", None, self.sessions),
            ("POST", r"/_emu/extension/(?P<ext_id>[^/]+)", None, self.extension),
            ("GET", r"/_emu/extension/(?P<ext_id>[^/]+)", None, self.extension_view),
            ("GET", r"/_emu/limits", None, self.get_limits),
            ("POST", r"/_emu/limits", None, self.set_limits),
            ("GET", r"/_emu/health", None, self.health),
            ("GET", r"/_emu/behaviour", None, self.get_behaviour),
            ("POST", r"/_emu/behaviour", None, self.set_behaviour),
            ("GET", r"/_emu/ws", None, self.ws_view),
            ("POST", r"/_emu/ws/close", None, self.ws_close),
            ("POST", r"/_emu/ws/drop", None, self.ws_drop),
        ])

    def handle(self, req):
        route, params, others = self.router.match(req.method, req.path)
        if route is None:
            status = 405 if others else 404
            return ctl_response(status, {"ok": False, "error": "unknown control call"})
        try:
            with self.emu.lock:
                try:
                    self.emu.advance_tasks()
                    return route.handler(req, **params)
                finally:
                    self.emu.ws.flush()
        except ControlError as exc:
            return ctl_response(exc.status, {"ok": False, "error": str(exc)})

    @staticmethod
    def _body(req):
        if not req.body.strip():
            return {}
        try:
            data = parse_json_body(req.body)
        except ValueError:
            raise ControlError(400, "JSON can not be parsed") from None
        if not isinstance(data, dict):
            raise ControlError(400, "body must be a JSON object")
        return data

    def seed(self, req):
        data = self._body(req)
        directory = copy.deepcopy(self.emu.directory)
        try:
            Seeder(directory, time.time()).load(data)
        except SeedError as exc:
            raise ControlError(400, str(exc)) from None
        finally:
            self.emu.ws.pending = {}    # a seed is the starting state: no events
        self.emu.directory = directory
        return ctl_response(200, {"ok": True, "extensions": len(directory.extensions),
                                  "numbers": len(directory.numbers)})

    def reset(self, req):
        self.emu.reset()
        return ctl_response(200, {"ok": True})

    def state(self, req):
        dump = self.emu.directory.dump()
        dump["tasks"] = self.emu.tasks.dump()
        return ctl_response(200, dump, stable=True)

    def get_log(self, req):
        since = parse_int(req.q("since", "0"))
        if since is None:
            raise ControlError(400, "since must be an integer")
        return ctl_response(200, {"requests": self.emu.log.since(since)})

    def clear_log(self, req):
        self.emu.log.clear()
        return ctl_response(200, {"ok": True})

    def list_faults(self, req):
        return ctl_response(200, {"faults": self.emu.faults.list()})

    def add_fault(self, req):
        try:
            self.emu.faults.add(self._body(req))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return ctl_response(200, {"ok": True, "faults": self.emu.faults.list()})

    def clear_faults(self, req):
        self.emu.faults.clear()
        return ctl_response(200, {"ok": True})

    def tokens(self, req):
        body, out = self._body(req), {"ok": True}
        if body.get("expire_access") is True:
            out["expired_access"] = self.emu.tokens.expire_all_access(time.monotonic())
        if body.get("revoke_refresh") is True:
            out["revoked_refresh"] = self.emu.tokens.revoke_all_refresh()
        if len(out) == 1:
            raise ControlError(400, 'give {"expire_access": true} and/or {"revoke_refresh": true}')
        return ctl_response(200, out)

    def sessions(self, req):
        return ctl_response(200, {"sessions": self.emu.tokens.live_sessions()})

    def extension(self, req, ext_id):
        d, body = self.emu.directory, self._body(req)
        ext = d.ext(ext_id)
        if ext is None:
            raise ControlError(404, "no extension %s" % ext_id)
        number, phones = body.get("extensionNumber"), body.get("directNumbers")
        if number is not None and (not isinstance(number, str)
                                   or not EXT_NUMBER_RE.fullmatch(number)):
            raise ControlError(400, "extensionNumber must be digits")
        if number is not None and d.by_number.get(number, ext.id) != ext.id:
            raise ControlError(409, "Extension already in use")
        if phones is not None and not distinct_e164(phones):
            raise ControlError(400, "directNumbers must be distinct E.164 strings")
        hidden, hidden_numbers = body.get("hidden"), body.get("hiddenNumbers")
        if hidden is not None and not isinstance(hidden, bool):
            raise ControlError(400, "hidden must be true or false")
        if hidden_numbers is not None and not (isinstance(hidden_numbers, list) and all(
                isinstance(x, str) for x in hidden_numbers)):
            raise ControlError(400, "hiddenNumbers must be a list of E.164 strings")
        image = body.get("profileImage")
        if image is not None and ext.status == "Unassigned":
            raise ControlError(409, "an Unassigned extension has no profileImage")
        if image is not None:
            try:
                image = image_from_base64(image, time.time())
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        if number is not None:
            d.set_extension_number(ext, number, time.time())
        if phones is not None:
            d.set_direct_numbers(ext, phones, time.time())
        if hidden is not None:
            ext.hidden = hidden
        if hidden_numbers is not None:
            for n in ext.numbers:
                d.numbers[n].hidden = d.numbers[n].number in hidden_numbers
        if "profileImage" in body:
            d.set_image(ext, image, time.time())
        return ctl_response(200, {"ok": True, "extension": d.ext_record(ext, req.base_url),
                                  "directNumbers": [d.numbers[n].number for n in ext.numbers]})

    def extension_view(self, req, ext_id):
        """One extension as the API has it, without a rate limit (a test's
        or the benchmark's eye on the phone side)."""
        d = self.emu.directory
        ext = d.ext(ext_id)
        if ext is None:
            raise ControlError(404, "no extension %s" % ext_id)
        return ctl_response(200, {"ok": True, "extension": d.ext_record(ext, req.base_url),
                                  "directNumbers": [d.numbers[n].number for n in ext.numbers]})

    def ws_view(self, req):
        return ctl_response(200, self.emu.ws.view())

    def ws_close(self, req):
        body = self._body(req)
        self.emu.ws.close_all(body.get("mode", "close"), body.get("code", "WSG-903"))
        return ctl_response(200, {"ok": True})

    def ws_drop(self, req):
        self.emu.ws.drop_next += int(self._body(req).get("count", 1))
        return ctl_response(200, {"ok": True})

    def get_limits(self, req):
        return ctl_response(200, self.emu.limiter.config())

    def set_limits(self, req):
        body = self._body(req)
        unknown = set(body) - set(GROUPS) - {"window", "penalty"}
        values = {k: parse_int(v) for k, v in body.items()}
        bad = [k for k, v in values.items() if v is None or v < (0 if k == "penalty" else 1)]
        if unknown or bad:
            raise ControlError(400, "limits: groups %s, window >= 1, penalty >= 0"
                               % "/".join(GROUPS))
        self.emu.limiter.configure({g: values[g] for g in GROUPS if g in values},
                                   values.get("window"), values.get("penalty"))
        return ctl_response(200, self.emu.limiter.config())

    def health(self, req):
        return ctl_response(200, {"ok": True})

    def get_behaviour(self, req):
        return ctl_response(200, dict(self.emu.behaviour.values))

    def set_behaviour(self, req):
        try:
            values = self.emu.behaviour.update(self._body(req))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        self.emu.apply_behaviour()
        return ctl_response(200, {"ok": True, "behaviour": values})


# ---------------------------------------------------------------------------
# The emulator: the request pipeline


def internal_error():
    return json_response(500, rest_body([err_item("CMN-500", "Internal Server Error")]))


class Emulator:
    """All state, one lock, and the pipeline every API request goes through:
    rate limit -> fault -> (delay) -> bearer check -> endpoint -> log."""

    IMMEDIATE_FAULTS = ("503", "500", "429", "nonjson", "reset", "redirect", "cmn101")

    def __init__(self, cfg, client_secret, jwt):
        self.lock = threading.RLock()
        self.t0 = time.monotonic()
        self.limiter = RateLimiter(cfg.limits, cfg.window, cfg.penalty)
        self.tokens = TokenStore(cfg.client_id, client_secret, jwt, cfg.access_ttl,
                                 cfg.refresh_ttl_max)
        self.tokens.redirect_uris = list(cfg.redirect_uri or [])
        self.directory = Directory()
        self.tasks = TaskQueue(cfg.task_delay)
        self.behaviour = Behaviour()
        self.faults = FaultInjector()
        self.log = RequestLog(cfg.log_file, self.t0)
        self.rest = RestApi(self)
        self.router = Router(api_routes(OAuthApi(self), ScimApi(self), self.rest))
        self.control = ControlApi(self)
        self.server_name = cfg.server_name      # None: any Host
        self.ws = WsHub(self, cfg.ws_idle, 180)
        CHANGE_HOOK[0] = self.ws.changed

    def load_seed_file(self, path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        Seeder(self.directory, time.time()).load(data)

    def reset(self):
        self.ws.close_all("drop", "reset")
        self.ws.sessions, self.ws.tokens, self.ws.pending = [], {}, {}
        self.ws.tokens_issued = self.ws.dropped = self.ws.drop_next = 0
        self.directory = Directory()
        CHANGE_HOOK[0] = self.ws.changed
        self.behaviour.reset()
        self.apply_behaviour()
        self.tasks.reset()
        self.faults.clear()
        self.tokens.reset()
        self.limiter.reset()
        self.log.reset()

    def apply_behaviour(self):
        """Hand the switches to the parts that act on them."""
        self.tokens.refresh_ttl_app = self.behaviour.refresh_ttl_app
        self.tokens.session_limit = self.behaviour.session_limit
        self.tasks.numeric_ids = self.behaviour.bulk_result_ids == "number"
        self.directory.state_mandatory = self.behaviour.state_mandatory
        self.directory.scim_ids = self.behaviour.scim_ids

    def advance_tasks(self):
        self.tasks.advance(time.monotonic(), time.time(), self.directory)

    def handle(self, req):
        """Serve one request; never raises."""
        try:
            if req.path == "/_emu" or req.path.startswith("/_emu/"):
                return self.control.handle(req)
            if self.server_name and not self._host_is_server_name(req):
                return self._misdirected(req)
            return self._api(req)
        except Exception as exc:        # noqa: BLE001 - the server must not die
            report(req, exc)
            return internal_error()

    def _host_is_server_name(self, req):
        host = req.headers.get("Host", "").strip().casefold()
        name = self.server_name.casefold()
        return host in (name, name + ":443")

    def _misdirected(self, req):
        """421 for an API request whose Host is not --server-name: logged
        (group null), not rate-counted, no fault taken, not processed."""
        with self.lock:
            arrived = (self.log.arrive(), time.monotonic())
            self.log.append(req, None, 421, None, arrived)
        return json_response(421, {"errorCode": "EMU-421",
                                   "message": "Host must be %s" % self.server_name})

    def _routes_off(self):
        """Handlers a behaviour switch takes away: answered as unknown methods."""
        if self.behaviour.profile_image_method == "post-only":
            return (self.rest.image_put,)
        return ()

    def _api(self, req):
        with self.lock:
            route, params, others = self.router.match(req.method, req.path,
                                                      self._routes_off())
            group = route.group if route else fallback_group(req.path, others)
            arrived = (self.log.arrive(), time.monotonic())
            decision = self.limiter.check(group, arrived[1])
            fault = self.faults.take(req.path) if decision.allowed else None
        if not decision.allowed:
            resp = rate_limited(decision)
        elif fault and fault.kind in self.IMMEDIATE_FAULTS:
            resp = self.behaviour.adjust(req, fault_response(fault, self.limiter.penalty,
                                                             req))
        else:
            if fault and fault.kind == "delay":
                time.sleep(fault.delay)
            resp = self._process(req, route, params, others)
            if fault and fault.kind == "truncated":
                resp.action = "truncate"
        resp.headers += decision.headers()
        with self.lock:
            self.log.append(req, group, resp.status, fault.kind if fault else None,
                            arrived)
        return resp

    def _process(self, req, route, params, others):
        try:
            with self.lock:
                try:
                    self.advance_tasks()
                    if route is None:
                        raise no_route(req, others)
                    if not route.pattern.pattern.startswith("/restapi/oauth/"):
                        self.tokens.check_bearer(req.headers.get("Authorization"),
                                                 time.monotonic())
                    return route.handler(req, **params)
                finally:
                    self.ws.flush()
        except ApiError as exc:
            return self.behaviour.adjust(req, exc.response)
        except Exception as exc:        # noqa: BLE001 - answer 500, keep serving
            report(req, exc)
            return internal_error()


def fallback_group(path, others):
    """Rate group of a request that matches no route."""
    if others:
        return others[0].group
    return "Auth" if path.startswith("/restapi/oauth/") else "Light"


def no_route(req, others):
    scim = req.path == SCIM_PATH or req.path.startswith(SCIM_PATH + "/")
    if others:
        allow = [("Allow", ", ".join(sorted({r.method for r in others})))]
        if scim:
            return scim_error(405, "Method not allowed", headers=allow)
        return rest_error(405, "AGW-405", "Method not allowed", allow)
    if scim:
        return scim_error(404, "Resource not found")
    return rest_error(404, "AGW-404", "Resource not found")


def report(req, exc):
    """One stderr line for a handler exception (never bodies or headers)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = " at line %d" % frame.lineno if frame else ""
    print("ringemu: internal error on %s %s%s: %s: %s"
          % (req.method, req.raw_path, where, type(exc).__name__, exc),
          file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# HTTP plumbing


class BodyError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every response has a Content-Length, every
    request body is read in full (Content-Length or chunked)."""

    protocol_version = "HTTP/1.1"
    server_version = "ringemu/1.0"
    timeout = 300                       # idle keep-alive connections end then

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()      # here, not in the accept loop

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass                            # requests are in /_emu/log instead

    def do_GET(self):
        if self.path.startswith("/ws") and \
                self.headers.get("Upgrade", "").lower() == "websocket":
            ws_serve(self, self.server.emulator.ws, self.server.emulator)
            return
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self):
        try:
            body = self._read_body()
        except BodyError as exc:
            self.close_connection = True
            self._write(json_response(exc.status, rest_body([err_item("CMN-101", str(exc))])))
            return
        self._write(self.server.emulator.handle(self._request(body)))

    def _request(self, body):
        split = urlsplit(self.path)
        raw_path = split.path or "/"
        name = self.server.emulator.server_name
        if name:
            # Clients reach us as https://NAME on port 443 (curl's CONNECT_TO
            # sends the TCP connection here): URIs name no port.
            base = "https://" + name
        else:
            host = self.headers.get("Host", "")
            if not HOST_RE.fullmatch(host):
                host = self.server.default_host
            base = "%s://%s" % (self.server.scheme, host)
        return Request(self.command, raw_path, unquote(raw_path), split.query,
                       self.headers, body, base)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        size = parse_int(length)
        if size is None or size < 0:
            raise BodyError(400, "Parameter [Content-Length] value is invalid.")
        if size > MAX_BODY:
            raise BodyError(413, "Request entity too large")
        data = self.rfile.read(size)
        if len(data) < size:
            self.close_connection = True        # the peer went away mid-body
        return data

    def _read_chunked(self):
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError(400, "Malformed chunked body") from None
            if size < 0:
                raise BodyError(400, "Malformed chunked body")
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise BodyError(413, "Request entity too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass                                # trailers
        return b"".join(chunks)

    def _write(self, resp):
        if resp.action == "reset":
            self._reset()
            return
        body = resp.body
        sent, declared = body, len(body)
        if resp.action == "truncate":
            # Declare the full length (or more), send half, then close.
            sent, declared = body[:len(body) // 2], max(len(body), 64)
            self.close_connection = True
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        if sent:
            self.wfile.write(sent)

    def _reset(self):
        """Close with SO_LINGER 0 so the peer gets a TCP RST, no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()      # drop makefile()'s reference: close() is then real
        self.connection.close()


# ---------------------------------------------------------------------------
# The change feed: WebSocket sessions (RFC 6455 framing written here: the
# emulator is standard-library-only test code).

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_FILTERS = ("/restapi/v1.0/account/~/extension",
              "/restapi/v1.0/account/~/directory/entries")


class WsSession:
    def __init__(self, hub, sock):
        self.hub, self.sock = hub, sock
        self.id = secrets.token_hex(8)
        self.wsc = secrets.token_urlsafe(24)
        self.seq = 0
        self.filters, self.sub_id = [], None
        self.connected, self.closed_at, self.buffer = True, None, []
        self.sent = self.heartbeats = self.recoveries = 0
        self.closed_reason = None
        self.send_lock = threading.Lock()

    def send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        with self.send_lock:
            try:
                self.sock.sendall(head + payload)
            except OSError:
                return False
        return True

    def send(self, msg):
        return self.send_frame(1, json.dumps(msg).encode())

    def notify(self, event, body):
        self.seq += 1
        msg = [{"type": "ServerNotification", "messageId": str(uuid.uuid4()), "status": 200,
                "wsc": {"token": self.wsc, "sequence": self.seq}},
               {"uuid": str(uuid.uuid4()), "event": event, "timestamp": iso_time(time.time()),
                "subscriptionId": self.sub_id, "ownerId": "1", "body": body}]
        if self.connected and self.send(msg):
            self.sent += 1
            return
        # Away, or the connection broke under the send: kept for recovery.
        if self.connected:
            self.connected, self.closed_at = False, time.monotonic()
        if len(self.buffer) <= 100:
            self.buffer.append(msg)


class WsHub:
    def __init__(self, emu, idle, recovery_timeout):
        self.emu, self.idle, self.recovery_timeout = emu, idle, recovery_timeout
        self.tokens, self.sessions, self.pending = {}, [], {}
        self.tokens_issued = self.dropped = self.drop_next = 0

    def issue(self):
        tok = secrets.token_urlsafe(24)
        self.tokens[tok] = time.monotonic() + 60
        self.tokens_issued += 1
        return tok

    def changed(self, directory, ext, kind):
        """Noted while a request changes the directory; flush() sends one
        notification per extension once the request is done (a number moved
        from one user to another touches both, each once)."""
        if ext.type != "User":
            return
        was = self.pending.get(ext.id)
        self.pending[ext.id] = (directory, ext, was[2] if was else kind)

    def flush(self):
        pending, self.pending = self.pending, {}
        for directory, ext, kind in pending.values():
            self._send(directory, ext, kind)

    def _send(self, directory, ext, kind):
        ext_body = {"extensionId": str(ext.id), "eventType": kind,
                    "hints": [] if kind != "Update" else ["CompanyNumbers", "ExtensionInfo"]}
        if self.emu.behaviour.ext_event_shape == "nested":
            ext_body = {"extensions": [ext_body]}
        out = [(WS_FILTERS[0], ext_body)]
        if self.emu.behaviour.directory_events and not ext.hidden and \
                ext.status in ("Enabled", "Disabled", "NotActivated"):
            rec = directory.directory_record(ext)
            rec["eventType"] = kind
            out.append((WS_FILTERS[1], rec))
        for event, body in out:
            if self.drop_next > 0:
                self.drop_next -= 1
                self.dropped += 1
                continue
            for sess in self.sessions:
                if event in sess.filters:
                    sess.notify(event, json.loads(json.dumps(body)))

    def view(self):
        return {"sessions": [{"id": x.id, "connected": x.connected, "filters": x.filters,
                              "notifications_sent": x.sent, "heartbeats": x.heartbeats,
                              "recoveries": x.recoveries, "closed_reason": x.closed_reason}
                             for x in self.sessions],
                "tokens_issued": self.tokens_issued, "dropped": self.dropped}

    def close_all(self, mode, code):
        for x in list(self.sessions):
            if x.connected:
                # Away from now on: what comes next is buffered for recovery
                # (the connection's thread notices the close later).
                x.connected, x.closed_at = False, time.monotonic()
                x.closed_reason = code if mode == "close" else "drop"
                if mode == "close":
                    x.send([{"type": "Error", "messageId": str(uuid.uuid4()), "status": 400},
                            {"errorCode": code, "message": "Session closed"}])
                    x.send_frame(8, struct.pack("!H", 1000) + code.encode())
                try:
                    x.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def ws_serve(handler, hub, emu):
    """One WebSocket connection in the handler's thread."""
    split = urlsplit(handler.path)
    q = parse_qs(split.query)
    tok = (q.get("access_token") or [""])[0]
    with emu.lock:
        ok = hub.tokens.pop(tok, 0) > time.monotonic()
    if not ok:
        handler._write(json_response(401, {"errorCode": "WSG-401",
                                           "message": "Invalid or expired token"}))
        return
    key = handler.headers.get("Sec-WebSocket-Key", "")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    handler.send_response(101)
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    sock = handler.connection
    wsc = (q.get("wsc") or [""])[0]
    with emu.lock:
        old = next((x for x in hub.sessions if wsc and x.wsc == wsc), None)
        if old is not None and old.connected:
            # The client is back before this side saw it go: the new
            # connection takes the session over.
            old.connected, old.closed_at = False, time.monotonic()
            try:
                old.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        recovered = old is not None and emu.behaviour.ws_recovery == "success" and \
            time.monotonic() - old.closed_at < hub.recovery_timeout and len(old.buffer) <= 100
        if recovered:
            sess, sess.sock, sess.connected = old, sock, True
            sess.recoveries += 1
        else:
            sess = WsSession(hub, sock)
            hub.sessions.append(sess)
        meta = {"type": "ConnectionDetails", "messageId": str(uuid.uuid4()), "status": 200,
                "wsc": {"token": sess.wsc, "sequence": sess.seq},
                "recoveryTimeout": hub.recovery_timeout, "recoveryBufferSize": 100,
                "idleTimeout": hub.idle, "absoluteTimeout": 86400, "maxActiveRequests": 10}
        if wsc:
            meta["recoveryState"] = "Successful" if recovered else "Failed"
        sess.send([meta, {}])
        if recovered:
            for msg in sess.buffer:
                sess.sent += 1
                sess.send(msg)
            sess.buffer = []
    last = time.monotonic()
    sock.settimeout(None)

    def ready():
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        return bool(select.select([sock], [], [], 0.2)[0])

    def recv_exact(n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise OSError("closed")
            out += chunk
        return out
    try:
        while True:
            if not ready():
                if time.monotonic() - last > hub.idle:
                    sess.closed_reason = "WSG-902"
                    sess.send([{"type": "Error", "messageId": str(uuid.uuid4()), "status": 400},
                               {"errorCode": "WSG-902", "message": "Idle timeout"}])
                    sess.send_frame(8, struct.pack("!H", 1000) + b"WSG-902")
                    break
                continue
            b = recv_exact(2)
            opcode, n = b[0] & 0x0F, b[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", recv_exact(8))[0]
            mask = recv_exact(4) if b[1] & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(recv_exact(n)))
            last = time.monotonic()
            if opcode == 8:
                sess.send_frame(8, data[:2])
                break
            if opcode == 9:
                sess.send_frame(10, data)
                continue
            if opcode != 1:
                continue
            with emu.lock:
                ws_message(sess, data)
    except OSError:
        pass
    with emu.lock:
        if sess.sock is sock:
            sess.connected, sess.closed_at = False, time.monotonic()


def ws_message(sess, data):
    try:
        msg = json.loads(data.decode())
        meta = msg[0]
    except (ValueError, IndexError, KeyError, TypeError):
        return
    if meta.get("type") == "Heartbeat":
        sess.heartbeats += 1
        sess.send([{"type": "Heartbeat", "messageId": meta.get("messageId"), "status": 200}])
        return
    if meta.get("type") != "ClientRequest":
        return
    mid = meta.get("messageId")
    body = msg[1] if len(msg) > 1 and isinstance(msg[1], dict) else {}
    filters = body.get("eventFilters")
    if meta.get("method") != "POST" or meta.get("path") != "/restapi/v1.0/subscription/":
        sess.send([{"type": "ClientRequest", "messageId": mid, "status": 404},
                   {"errorCode": "CMN-102", "message": "Resource not found"}])
        return
    if not isinstance(filters, list) or not filters:
        sess.send([{"type": "ClientRequest", "messageId": mid, "status": 400},
                   {"errorCode": "CMN-101", "message": "eventFilters is required"}])
        return
    bad = [f for f in filters if f not in WS_FILTERS]
    if bad:
        sess.send([{"type": "ClientRequest", "messageId": mid, "status": 400},
                   {"errorCode": "SUB-508", "message": "Event filter %s is not supported" % bad[0]}])
        return
    sess.filters, sess.sub_id = list(filters), secrets.token_hex(8)
    sess.send([{"type": "ClientRequest", "messageId": mid, "status": 200},
               {"id": sess.sub_id, "eventFilters": filters, "status": "Active",
                "deliveryMode": {"transportType": "WebSocket"}, "expiresIn": 86400}])


class EmuServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host, port, emulator, tls):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.emulator, self.tls = emulator, tls
        self.scheme = "https" if tls else "http"
        super().__init__((host, port), Handler)
        shown = "[%s]" % host if ":" in host else host
        self.default_host = "%s:%d" % (shown, self.server_address[1])

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls:
            # The handshake runs in the connection's thread (Handler.setup).
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        print("ringemu: connection %s: %s: %s" % (client_address[0], type(exc).__name__, exc),
              file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Command line


def parse_limits(text):
    limits = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        number = parse_int(value)
        if name.strip() not in GROUPS or number is None or number < 1:
            raise argparse.ArgumentTypeError("expected Light=N,Medium=N,Heavy=N,Auth=N")
        limits[name.strip()] = number
    return limits


def int_at_least(minimum):
    def check(text):
        value = parse_int(text)
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError("expected an integer >= %d" % minimum)
        return value
    return check


def seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("expected seconds (0..3600)")
    return value


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    number = parse_int(port)
    if not sep or not host or number is None or not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host, number


def server_name(text):
    if not SERVER_NAME_RE.fullmatch(text):
        raise argparse.ArgumentTypeError("expected a host name, e.g. platform.ringcentral.biz")
    return text


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="ringemu.py", description="RingCentral-platform API emulator for ringsync tests")
    p.add_argument("--listen", type=parse_listen, required=True,
                   help="HOST:PORT to listen on; port 0 picks a free port")
    p.add_argument("--tls-cert", help="PEM certificate (chain): serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--port-file", required=True,
                   help="written (atomically) with the port once listening")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret-file", required=True)
    p.add_argument("--jwt-file", help="the one JWT credential the jwt-bearer grant accepts")
    p.add_argument("--seed", help="seed JSON file loaded at start")
    p.add_argument("--limits", type=parse_limits, default={},
                   help="requests per window, e.g. Light=50,Medium=40,Heavy=10,Auth=5")
    p.add_argument("--window", type=int_at_least(1), default=60,
                   help="rate-limit window in seconds (default 60)")
    p.add_argument("--penalty", type=int_at_least(0), default=60,
                   help="seconds a group stays blocked after a 429 (default 60)")
    p.add_argument("--access-ttl", type=int_at_least(1), default=ACCESS_TTL_MAX,
                   help="cap on access token lifetime in seconds (default 3600)")
    p.add_argument("--refresh-ttl-max", type=int_at_least(1), default=REFRESH_TTL_MAX,
                   help="cap on refresh token lifetime in seconds (default 2592000)")
    p.add_argument("--ws-idle", type=float, default=1800.0,
                   help="seconds a WebSocket session may stay silent")
    p.add_argument("--task-delay", type=seconds, default=0.2,
                   help="seconds a bulk-update task stays InProgress (default 0.2)")
    p.add_argument("--log-file", help="append the API request log here as JSON lines")
    p.add_argument("--server-name", type=server_name,
                   help="absolute URIs in answers are https://NAME; API requests with "
                        "another Host get 421")
    p.add_argument("--redirect-uri", action="append",
                   help="a redirect URI registered for the app (repeatable); "
                        "the authorization page refuses any other (OAU-109)")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return args


def read_secret(path):
    """File content, stripped. Never printed."""
    with open(path, encoding="utf-8") as f:
        value = f.read().strip()
    if not value:
        raise ValueError("%s is empty" % path)
    return value


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv=None):
    # Handlers first: a signal that arrives during start-up is not lost.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    args = parse_args(argv)
    args.client_id = args.client_id.strip()
    host, port = args.listen
    try:
        secret = read_secret(args.client_secret_file)
        jwt = read_secret(args.jwt_file) if args.jwt_file else None
        emu = Emulator(args, secret, jwt)
        if args.seed:
            emu.load_seed_file(args.seed)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        server = EmuServer(host, port, emu, tls)
    except (OSError, ValueError, ssl.SSLError) as exc:   # SeedError is a ValueError
        print("ringemu: %s" % exc, file=sys.stderr)
        return 2
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    worker.start()
    write_port_file(args.port_file, server.server_address[1])
    print("ringemu: listening on %s://%s%s" % (
        server.scheme, server.default_host,
        " as https://%s" % args.server_name if args.server_name else ""),
        file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    print("ringemu: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

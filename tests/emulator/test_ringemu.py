#!/usr/bin/env python3
"""Tests for ringemu.py (standard library only).

Each TestCase class starts its own emulator as a subprocess on 127.0.0.1 port 0
(one class over HTTPS with a CA and certificate made by the openssl CLI), and
stops it by PID in a class cleanup, which runs even when a test fails.

Run: python3 tests/emulator/test_ringemu.py   (exit status 0 when all pass)
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib
from urllib.parse import parse_qs, quote, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "ringemu.py")

CLIENT_ID, CLIENT_SECRET, JWT = "test-client-id", "test-client-secret", "test.jwt.credential"
GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCT = "/restapi/v1.0/account/~"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BIZ = "platform.ringcentral.biz"     # AT&T Office@Hand and Verizon
HIGH_LIMITS = {"Light": 100000, "Medium": 100000, "Heavy": 100000, "Auth": 100000,
               "window": 6, "penalty": 2}

SEED = {
    "custom_fields": [{"id": "1", "category": "User", "displayName": "Cost Center"}],
    "extensions": [
        {"id": 101, "extensionNumber": "101", "type": "User", "status": "Enabled",
         "contact": {"firstName": "Ann", "lastName": "Lee", "email": "ann.lee@example.com",
                     "mobilePhone": "+14155550101",
                     "businessAddress": {"street": "1 Main St", "city": "San Mateo",
                                         "state": "CA", "zip": "94403", "country": "US"}},
         "customFields": [{"id": "1", "value": "CC-1"}]},
        {"id": 102, "extensionNumber": "102", "status": "Disabled",
         "contact": {"firstName": "Bob", "lastName": "Ray", "email": "bob.ray@example.com"}},
        {"id": 103, "extensionNumber": "103",
         "contact": {"firstName": "Dup", "lastName": "One", "email": "dup@example.com"}},
        {"id": 104, "extensionNumber": "104",
         "contact": {"firstName": "Dup", "lastName": "Two", "email": "DUP@example.com"}},
    ],
    "free_extensions": {"count": 3, "start": 1000},
    "numbers": [
        {"phoneNumber": "+16505550101", "usageType": "DirectNumber", "extensionId": 101},
        {"phoneNumber": "+16505550102", "usageType": "DirectNumber", "extensionId": 101},
        {"phoneNumber": "+16505550201", "usageType": "DirectNumber", "extensionId": 102},
    ],
    "inventory_numbers": {"count": 2, "start": "+16505551000"},
    "main_number": "+16505550000",
}

STATE_ERROR_SCIM = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
    "scimType": "invalidValue",
    "detail": "Parameter [extension.contact.businessAddress.state] value is invalid."}
STATE_ERROR_REST = {
    "errorCode": "CMN-101",
    "message": "Parameter [contact.businessAddress.state] value is invalid.",
    "errors": [{"errorCode": "CMN-101",
                "message": "Parameter [contact.businessAddress.state] value is invalid.",
                "parameterName": "contact.businessAddress.state",
                "parameterValue": "Calif."}]}


def new_user(email, given="Carol", family="King", **extra):
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "userName": email, "name": {"givenName": given, "familyName": family},
            "emails": [{"type": "work", "value": email}]}
    user.update(extra)
    return user


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())


class ConnectTo(http.client.HTTPSConnection):
    """HTTPS to `host` (SNI and certificate check for it) over a TCP
    connection to 127.0.0.1:port, as curl's CONNECT_TO does."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Emu:
    """One emulator process and a small HTTP client for it. With a
    server_name (the emulator's --server-name) API requests are sent as to
    https://server_name (that Host header, TLS for that name)."""

    def __init__(self, workdir, args=(), tls=None, server_name=None):
        self.workdir, self.args, self.tls = workdir, list(args), tls
        self.server_name = server_name
        self.proc = None
        self.port_file = os.path.join(workdir, "port")
        self.stderr_path = os.path.join(workdir, "stderr.txt")

    def start(self):
        secret, jwt = (os.path.join(self.workdir, n) for n in ("secret", "jwt"))
        for path, value in ((secret, CLIENT_SECRET + "\n"), (jwt, JWT + "\n")):
            with open(path, "w") as f:
                f.write(value)
        cmd = [sys.executable, EMULATOR, "--listen", "127.0.0.1:0", "--port-file",
               self.port_file, "--client-id", CLIENT_ID, "--client-secret-file", secret,
               "--jwt-file", jwt] + self.args
        if self.tls:
            cmd += ["--tls-cert", self.tls["cert"], "--tls-key", self.tls["key"]]
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start: " + self.stderr_text())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.base = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def stop(self):
        """SIGTERM by PID (SIGKILL if it hangs); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode

    def stderr_text(self):
        with open(self.stderr_path) as f:
            return f.read()

    def conn(self, timeout=10):
        if self.tls and self.server_name:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
            return ConnectTo(self.server_name, self.port, timeout=timeout, context=ctx)
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, conn=None):
        hdrs = dict(headers or {})
        if self.server_name and not path.startswith("/_emu/"):
            hdrs.setdefault("Host", self.server_name)
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=hdrs)
            resp = c.getresponse()
            data = resp.read()
        finally:
            if conn is None:
                c.close()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def oauth(self, path, form, client=(CLIENT_ID, CLIENT_SECRET)):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if client:
            raw = ("%s:%s" % client).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        body = form if isinstance(form, bytes) else urlencode(form).encode()
        return self.request("POST", path, body, headers=headers)

    def token(self, **extra):
        form = {"grant_type": GRANT_JWT, "assertion": JWT}
        form.update(extra)
        reply = self.oauth("/restapi/oauth/token", form)
        assert reply.status == 200, reply.body
        return reply.json

    def ctl(self, method, path, body=None, expect=200):
        reply = self.request(method, "/_emu/" + path, body)
        assert reply.status == expect, (path, reply.status, reply.body)
        return reply.json

    def state(self):
        return self.ctl("GET", "state")


class EmuCase(unittest.TestCase):
    """Starts one emulator for the class; each test starts from SEED."""

    args = ["--window", "6", "--penalty", "2", "--task-delay", "0.3"]
    tls = False
    reseed = True
    server_name = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ringemu-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        tls = make_tls(cls.tmp) if cls.tls else None
        cls.emu = Emu(cls.tmp, cls.class_args(), tls, cls.server_name)
        cls.addClassCleanup(cls.emu.stop)
        cls.emu.start()

    @classmethod
    def class_args(cls):
        return cls.args

    def setUp(self):
        if self.reseed:
            self.emu.ctl("POST", "reset")
            self.emu.ctl("POST", "limits", HIGH_LIMITS)
            self.emu.ctl("POST", "seed", SEED)
        self.tok = self.emu.token()["access_token"]

    def tearDown(self):
        # A handler exception is answered with a 500 and reported on stderr:
        # no test may provoke one.
        self.assertNotIn("internal error", self.emu.stderr_text())

    def api(self, method, path, body=None, **kw):
        return self.emu.request(method, path, body, token=kw.pop("token", self.tok), **kw)

    def assertStatus(self, reply, status):
        self.assertEqual(reply.status, status, reply.body[:500])

    def ext(self, ext_id):
        reply = self.api("GET", "%s/extension/%s" % (ACCT, ext_id))
        self.assertStatus(reply, 200)
        return reply.json

    def scim_find(self, flt):
        return self.api("GET", "/scim/v2/Users?filter=" + quote(flt))


def make_tls(tmp):
    """A throw-away CA and a server certificate for 127.0.0.1/localhost."""
    p = {n: os.path.join(tmp, n) for n in ("ca.key", "ca.pem", "srv.key", "srv.csr",
                                             "srv.pem", "ext.cnf")}
    with open(p["ext.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:platform.ringcentral.biz,"
                "DNS:platform.ringcentral.com\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", *ec, "-keyout", p["ca.key"], "-out", p["ca.pem"], "-days", "2",
        "-subj", "/CN=ringemu test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", p["srv.key"], "-out", p["srv.csr"], "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", p["srv.csr"], "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
        "-CAcreateserial", "-out", p["srv.pem"], "-days", "2", "-extfile", p["ext.cnf"])
    return {"ca": p["ca.pem"], "cert": p["srv.pem"], "key": p["srv.key"]}


# ---------------------------------------------------------------------------


class OAuthTests(EmuCase):

    def test_jwt_grant_response_fields(self):
        reply = self.emu.oauth("/restapi/oauth/token", {"grant_type": GRANT_JWT,
                                                        "assertion": JWT})
        self.assertStatus(reply, 200)
        body = reply.json
        self.assertEqual(set(body), {"access_token", "token_type", "expires_in",
                                     "refresh_token", "refresh_token_expires_in", "scope",
                                     "owner_id", "endpoint_id", "session_id"})
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertEqual(body["refresh_token_expires_in"], 604800)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Auth")
        self.assertEqual(reply.header("Cache-Control"), "no-store")

    def test_ttl_bounds(self):
        self.assertEqual(self.emu.token(access_token_ttl="100")["expires_in"], 600)
        self.assertEqual(self.emu.token(access_token_ttl="5000")["expires_in"], 3600)
        self.assertEqual(self.emu.token(access_token_ttl="900")["expires_in"], 900)
        body = self.emu.token(refresh_token_ttl="99999999")
        self.assertEqual(body["refresh_token_expires_in"], 2592000)
        form = {"grant_type": GRANT_JWT, "assertion": JWT, "access_token_ttl": "abc"}
        reply = self.emu.oauth("/restapi/oauth/token", form)
        self.assertStatus(reply, 400)
        self.assertEqual(reply.json["error"], "invalid_request")

    def test_client_authentication(self):
        form = {"grant_type": GRANT_JWT, "assertion": JWT}
        for client in (None, (CLIENT_ID, "wrong"), ("other", CLIENT_SECRET)):
            reply = self.emu.oauth("/restapi/oauth/token", form, client=client)
            self.assertStatus(reply, 401)
            self.assertEqual(reply.json["error"], "invalid_client")
            self.assertIn("errorCode", reply.json["errors"][0])
            self.assertIn("error_description", reply.json)
        reply = self.emu.request("POST", "/restapi/oauth/token", urlencode(form).encode(),
                                 headers={"Authorization": "Basic !!notbase64"})
        self.assertStatus(reply, 401)

    def test_grant_errors(self):
        cases = [({"grant_type": GRANT_JWT, "assertion": "forged"}, "invalid_grant"),
                 ({"grant_type": "password", "username": "x"}, "unsupported_grant_type"),
                 ({"assertion": JWT}, "invalid_request"),
                 ({"grant_type": GRANT_JWT}, "invalid_request"),
                 ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant")]
        for form, error in cases:
            reply = self.emu.oauth("/restapi/oauth/token", form)
            self.assertStatus(reply, 400)
            self.assertEqual(reply.json["error"], error, form)
        dup = b"grant_type=x&grant_type=y"
        reply = self.emu.oauth("/restapi/oauth/token", dup)
        self.assertEqual(reply.json["errors"][0]["errorCode"], "OAU-111")

    def test_refresh_rotates(self):
        first = self.emu.token()
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                "refresh_token_ttl": "2592000"}
        reply = self.emu.oauth("/restapi/oauth/token", form)
        self.assertStatus(reply, 200)
        second = reply.json
        self.assertEqual(second["refresh_token_expires_in"], 2592000)
        self.assertEqual(second["session_id"], first["session_id"])
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        again = self.emu.oauth("/restapi/oauth/token", form)
        self.assertStatus(again, 400)
        self.assertEqual(again.json["error"], "invalid_grant")
        self.assertEqual(again.json["errors"][0]["errorCode"], "OAU-211")
        self.assertStatus(self.api("GET", "/scim/v2/Users", token=second["access_token"]), 200)
        form["refresh_token"] = second["refresh_token"]
        self.assertStatus(self.emu.oauth("/restapi/oauth/token", form), 200)

    def authorize(self, challenge, client=CLIENT_ID, response_type="code",
                  redirect="http://127.0.0.1:9/callback"):
        query = urlencode({"response_type": response_type, "client_id": client,
                           "redirect_uri": redirect, "state": "st-42",
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return self.emu.request("GET", "/restapi/oauth/authorize?" + query)

    def test_authorization_code_pkce(self):
        verifier = "v3r1f13r-" * 6
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://127.0.0.1:9/callback"

        def code():
            reply = self.authorize(challenge)
            self.assertStatus(reply, 302)
            self.assertEqual(reply.header("X-Rate-Limit-Group"), "Auth")
            location = urlsplit(reply.header("Location"))
            self.assertEqual("%s://%s%s" % location[:3], redirect)
            query = parse_qs(location.query)
            self.assertEqual(query["state"], ["st-42"])
            return query["code"][0]

        def exchange(c, v, uri=redirect):
            return self.emu.oauth("/restapi/oauth/token", {
                "grant_type": "authorization_code", "code": c, "redirect_uri": uri,
                "code_verifier": v})

        c1 = code()
        bad = exchange(c1, "wrong-verifier")
        self.assertStatus(bad, 400)
        self.assertEqual(bad.json["error"], "invalid_grant")
        self.assertStatus(exchange(c1, verifier), 400)          # codes are single-use
        c2 = code()
        good = exchange(c2, verifier)
        self.assertStatus(good, 200)
        self.assertStatus(self.api("GET", "/scim/v2/Users", token=good.json["access_token"]),
                          200)
        self.assertStatus(exchange(c2, verifier), 400)
        mismatch = exchange(code(), verifier, "http://127.0.0.1:9/other")
        self.assertEqual(mismatch.json["errors"][0]["errorCode"], "OAU-109")
        self.assertStatus(self.authorize(challenge, client="intruder"), 401)
        reply = self.authorize(challenge, response_type="token")
        self.assertIn("error=unsupported_response_type", reply.header("Location"))

    def test_revoke(self):
        tokens = self.emu.token()
        reply = self.emu.oauth("/restapi/oauth/revoke", {"token": tokens["access_token"]})
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Auth")
        after = self.api("GET", "/scim/v2/Users", token=tokens["access_token"])
        self.assertStatus(after, 401)
        self.assertEqual(after.json["errors"][0]["errorCode"], "OAU-213")
        refresh = self.emu.oauth("/restapi/oauth/token", {
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        self.assertStatus(refresh, 400)
        self.assertStatus(self.emu.oauth("/restapi/oauth/revoke", {"token": "x"}, None), 401)

    def test_api_401_bodies(self):
        cases = [({}, "AGW-401"), ({"Authorization": "Basic eDp5"}, "AGW-402"),
                 ({"Authorization": "Bearer not-a-token"}, "OAU-213")]
        for headers, code in cases:
            reply = self.emu.request("GET", ACCT + "/extension", headers=headers)
            self.assertStatus(reply, 401)
            body = reply.json
            self.assertEqual(body["errors"][0]["errorCode"], code)
            self.assertIn("error", body)
            self.assertIn("error_description", body)
            self.assertIn("Bearer", reply.header("WWW-Authenticate"))
            self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        self.assertEqual(reply.json["errorCode"], "TokenInvalid")

    def test_control_tokens(self):
        tokens = self.emu.token()
        self.emu.ctl("POST", "tokens", {"expire_access": True})
        reply = self.api("GET", "/scim/v2/Users", token=tokens["access_token"])
        self.assertStatus(reply, 401)
        self.assertEqual(reply.json["errors"][0]["errorCode"], "OAU-210")
        self.assertEqual(reply.json["errorCode"], "TokenExpired")
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        fresh = self.emu.oauth("/restapi/oauth/token", form)
        self.assertStatus(fresh, 200)
        self.assertStatus(self.api("GET", "/scim/v2/Users",
                                   token=fresh.json["access_token"]), 200)
        self.emu.ctl("POST", "tokens", {"revoke_refresh": True})
        form["refresh_token"] = fresh.json["refresh_token"]
        dead = self.emu.oauth("/restapi/oauth/token", form)
        self.assertStatus(dead, 400)
        self.assertEqual(dead.json["error"], "invalid_grant")
        self.emu.ctl("POST", "tokens", {}, expect=400)


# ---------------------------------------------------------------------------


class ScimTests(EmuCase):

    def test_search_by_username_and_email(self):
        for flt in ('userName eq "ANN.LEE@example.com"', 'email eq "ann.lee@EXAMPLE.com"',
                    'USERNAME EQ "ann.lee@example.com"'):
            reply = self.scim_find(flt)
            self.assertStatus(reply, 200)
            self.assertTrue(reply.header("Content-Type").startswith("application/scim+json"))
            self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
            body = reply.json
            self.assertEqual(body["schemas"],
                             ["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
            self.assertEqual((body["totalResults"], body["startIndex"], body["itemsPerPage"]),
                             (1, 1, 1))
            user = body["Resources"][0]
            self.assertEqual(user["id"], "101")
            self.assertEqual(user["userName"], "ann.lee@example.com")
            self.assertEqual(user["name"], {"givenName": "Ann", "familyName": "Lee"})
            self.assertEqual(user["emails"][0]["value"], "ann.lee@example.com")
            self.assertEqual(user["phoneNumbers"], [{"type": "mobile", "value": "+14155550101"}])
            self.assertEqual(user["addresses"][0]["region"], "CA")
            self.assertTrue(user["active"])
            self.assertEqual(user["meta"]["location"], self.emu.base + "/scim/v2/Users/101")
        self.assertEqual(self.scim_find('userName eq "nobody@example.com"').json["Resources"], [])
        bob = self.scim_find('userName eq "bob.ray@example.com"').json["Resources"][0]
        self.assertFalse(bob["active"])

    def test_search_errors(self):
        for flt in ('displayName eq "x"', 'userName co "ann"', "garbage",
                    'userName eq "a" and email eq "b"'):
            reply = self.scim_find(flt)
            self.assertStatus(reply, 400)
            self.assertEqual(reply.json["scimType"], "invalidFilter")
            self.assertEqual(reply.json["status"], "400")
        reply = self.api("GET", "/scim/v2/Users?startIndex=abc")
        self.assertEqual((reply.status, reply.json["scimType"]), (400, "invalidValue"))

    def test_search_paging(self):
        body = self.api("GET", "/scim/v2/Users?startIndex=2&count=2").json
        self.assertEqual(body["totalResults"], 4)
        self.assertEqual((body["startIndex"], body["itemsPerPage"]), (2, 2))
        self.assertEqual([u["id"] for u in body["Resources"]], ["102", "103"])
        self.assertEqual(self.api("GET", "/scim/v2/Users?count=0").json["Resources"], [])
        last = self.api("GET", "/scim/v2/Users?startIndex=4&count=10").json
        self.assertEqual([u["id"] for u in last["Resources"]], ["104"])

    def test_search_post(self):
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": 'userName eq "bob.ray@example.com"', "startIndex": 1, "count": 10}
        reply = self.api("POST", "/scim/v2/Users/.search", body)
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        self.assertEqual(reply.json["Resources"][0]["id"], "102")
        bad = self.api("POST", "/scim/v2/Users/.search", b"{not json")
        self.assertEqual((bad.status, bad.json["scimType"]), (400, "invalidSyntax"))

    def test_duplicate_email_search_is_409(self):
        for flt in ('email eq "dup@example.com"', 'userName eq "Dup@Example.com"'):
            reply = self.scim_find(flt)
            self.assertStatus(reply, 409)
            self.assertEqual(reply.json["status"], "409")
            self.assertTrue(reply.json["detail"].startswith(
                "More than one record found for Email: "))
            self.assertIn("dup@example.com", reply.json["detail"].lower())

    def test_get_user(self):
        reply = self.api("GET", "/scim/v2/Users/101")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.json["id"], "101")
        free_id = self.emu.state()["extensions"][4]["id"]
        for user_id in (free_id, 999, "abc"):
            missing = self.api("GET", "/scim/v2/Users/%s" % user_id)
            self.assertStatus(missing, 404)
            self.assertEqual(missing.json["status"], "404")

    def test_create_user(self):
        body = new_user("carol.king@example.com", externalId="guid-carol", title="CFO",
                        phoneNumbers=[{"type": "work", "value": "+16505550999"},
                                      {"type": "mobile", "value": "+14155550999"},
                                      {"type": "other", "value": "+1999"}],
                        addresses=[{"type": "work", "streetAddress": "9 Bay St",
                                    "locality": "Toronto", "region": "ON",
                                    "postalCode": "M5J", "country": "CA"}],
                        **{ENT: {"department": "Finance"}})
        reply = self.api("POST", "/scim/v2/Users", body,
                         headers={"Content-Type": "application/scim+json"})
        self.assertStatus(reply, 201)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        user = reply.json
        self.assertEqual(reply.header("Location"), user["meta"]["location"])
        self.assertEqual(user["externalId"], "guid-carol")
        ext = self.ext(user["id"])
        self.assertEqual((ext["extensionNumber"], ext["status"]), ("1000", "Enabled"))
        self.assertEqual(ext["contact"], {
            "firstName": "Carol", "lastName": "King", "email": "carol.king@example.com",
            "businessPhone": "+16505550999", "mobilePhone": "+14155550999",
            "jobTitle": "CFO", "department": "Finance",
            "businessAddress": {"street": "9 Bay St", "city": "Toronto", "state": "ON",
                                "zip": "M5J", "country": "CA"}})
        nums = self.api("GET", "%s/extension/%s/phone-number" % (ACCT, user["id"])).json
        self.assertEqual([(n["phoneNumber"], n["usageType"], n["primary"])
                          for n in nums["records"]], [("+16505551000", "DirectNumber", True)])
        found = self.scim_find('email eq "CAROL.KING@example.com"').json
        self.assertEqual(found["Resources"][0]["id"], user["id"])

    def test_create_validation(self):
        before = self.emu.state()
        cases = [new_user("a@example.com", userName="b@example.com"),
                 new_user("a@example.com", family=""),
                 {k: v for k, v in new_user("a@example.com").items() if k != "name"},
                 new_user("a@example.com", emails=[{"type": "work", "value": "a@example.com"},
                                                    {"type": "work", "value": "c@example.com"}]),
                 new_user("a@example.com", emails=[]),
                 new_user("a@example.com", active="maybe")]
        for body in cases:
            reply = self.api("POST", "/scim/v2/Users", body)
            self.assertStatus(reply, 400)
            self.assertEqual(reply.json["scimType"], "invalidValue")
        bad_state = new_user("a@example.com", addresses=[{"type": "work", "region": "Calif."}])
        reply = self.api("POST", "/scim/v2/Users", bad_state)
        self.assertStatus(reply, 400)
        self.assertEqual(reply.json, STATE_ERROR_SCIM)
        reply = self.api("POST", "/scim/v2/Users", b'{"userName": ')
        self.assertEqual(reply.json["scimType"], "invalidSyntax")
        self.assertEqual(reply.json["detail"], "JSON can not be parsed")
        self.assertEqual(self.emu.state(), before)

    def test_create_duplicate_email_is_409(self):
        reply = self.api("POST", "/scim/v2/Users", new_user("Ann.Lee@Example.com"))
        self.assertStatus(reply, 409)
        self.assertEqual(reply.json["scimType"], "uniqueness")

    def test_no_free_extension(self):
        for i in range(3):
            self.assertStatus(self.api("POST", "/scim/v2/Users",
                                       new_user("u%d@example.com" % i)), 201)
        reply = self.api("POST", "/scim/v2/Users", new_user("u9@example.com"))
        self.assertStatus(reply, 403)
        self.assertEqual(reply.json["detail"], "License limit has been reached.")
        third = self.scim_find('email eq "u2@example.com"').json["Resources"][0]
        nums = self.api("GET", "%s/extension/%s/phone-number" % (ACCT, third["id"])).json
        self.assertEqual(nums["records"], [])      # inventory ran out after two

    def test_patch(self):
        ops = [{"op": "Replace", "path": "active", "value": "False"}]
        reply = self.api("PATCH", "/scim/v2/Users/101", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        self.assertFalse(reply.json["active"])
        self.assertEqual(self.ext(101)["status"], "Disabled")
        ops = [
            {"op": "replace", "path": 'phoneNumbers[type eq "work"].value',
             "value": "+16505550111"},
            {"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Toronto"},
            {"op": "replace", "path": 'addresses[type eq "work"].region', "value": "Ontario"},
            {"op": "replace", "path": 'addresses[type eq "work"].country', "value": "CA"},
            {"op": "replace", "path": ENT + ":department", "value": "Sales"},
            {"op": "replace", "path": "title", "value": "Rep"},
            {"op": "add", "path": "externalId", "value": "guid-ann"},
            {"op": "replace", "path": "displayName", "value": "ignored"},
            {"op": "replace", "value": {"active": True, "name.givenName": "Annie"}}]
        self.assertStatus(self.api("PATCH", "/scim/v2/Users/101", {"Operations": ops}), 200)
        ext = self.ext(101)
        self.assertEqual(ext["status"], "Enabled")
        c = ext["contact"]
        self.assertEqual((c["firstName"], c["businessPhone"], c["mobilePhone"],
                          c["department"], c["jobTitle"]),
                         ("Annie", "+16505550111", "+14155550101", "Sales", "Rep"))
        self.assertEqual(c["businessAddress"], {"street": "1 Main St", "city": "Toronto",
                                                "state": "Ontario", "zip": "94403",
                                                "country": "CA"})
        self.assertEqual(ext["customFields"][0]["value"], "CC-1")     # not SCIM-managed
        remove = [{"op": "remove", "path": 'phoneNumbers[type eq "mobile"]'}]
        self.assertStatus(self.api("PATCH", "/scim/v2/Users/101", {"Operations": remove}), 200)
        self.assertNotIn("mobilePhone", self.ext(101)["contact"])
        self.assertEqual(self.api("GET", "/scim/v2/Users/101").json["externalId"], "guid-ann")

    def test_patch_errors(self):
        cases = [
            ([{"op": "replace", "path": 'addresses[type eq "work"].region', "value": "Calif."},
              {"op": "replace", "path": 'addresses[type eq "work"].country', "value": "US"}],
             "invalidValue"),
            ([{"op": "replace", "path": "favouriteColour", "value": "red"}], "invalidPath"),
            ([{"op": "explode", "path": "title", "value": "x"}], "invalidSyntax"),
            ([{"op": "replace", "path": 'emails[type eq "work"].value',
               "value": "new@example.com"}], "invalidValue"),
            ([{"op": "remove", "path": "name.familyName"}], "invalidValue"),
            ([{"op": "remove"}], "noTarget"),
            ([], "invalidSyntax")]
        before = self.emu.state()
        for ops, scim_type in cases:
            reply = self.api("PATCH", "/scim/v2/Users/101", {"Operations": ops})
            self.assertStatus(reply, 400)
            self.assertEqual(reply.json["scimType"], scim_type, ops)
        reply = self.api("PATCH", "/scim/v2/Users/101", {"Operations": cases[0][0]})
        self.assertEqual(reply.json, STATE_ERROR_SCIM)
        self.assertEqual(self.emu.state(), before)
        self.assertStatus(self.api("PATCH", "/scim/v2/Users/999", {"Operations": []}), 404)

    def test_patch_email_with_username(self):
        ops = [{"op": "replace", "path": "userName", "value": "ann@example.org"},
               {"op": "replace", "path": 'emails[type eq "work"].value',
                "value": "ann@example.org"}]
        self.assertStatus(self.api("PATCH", "/scim/v2/Users/101", {"Operations": ops}), 200)
        self.assertEqual(self.ext(101)["contact"]["email"], "ann@example.org")

    def test_put_replace(self):
        body = new_user("ann.lee@example.com", given="Ann", family="Lee-Smith",
                        externalId="guid-1", active=False)
        reply = self.api("PUT", "/scim/v2/Users/101", body)
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        ext = self.ext(101)
        self.assertEqual(ext["status"], "Disabled")
        self.assertEqual(ext["contact"], {"firstName": "Ann", "lastName": "Lee-Smith",
                                          "email": "ann.lee@example.com"})
        self.assertEqual(reply.json["externalId"], "guid-1")
        conflict = self.api("PUT", "/scim/v2/Users/102", new_user("ann.lee@example.com"))
        self.assertEqual((conflict.status, conflict.json["scimType"]), (409, "uniqueness"))
        self.assertStatus(self.api("PUT", "/scim/v2/Users/999", body), 404)
        # A duplicate-email user may still be updated while its email stays the same.
        self.assertStatus(self.api("PUT", "/scim/v2/Users/103", new_user("dup@example.com")),
                          200)

    def test_delete(self):
        reply = self.api("DELETE", "/scim/v2/Users/101")
        self.assertStatus(reply, 204)
        self.assertEqual(reply.body, b"")
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        self.assertStatus(self.api("GET", "/scim/v2/Users/101"), 404)
        ext = self.ext(101)
        self.assertEqual((ext["status"], ext["contact"], ext["extensionNumber"]),
                         ("Unassigned", {}, "101"))
        numbers = {n["phoneNumber"]: n for n in self.emu.state()["numbers"]}
        for phone in ("+16505550101", "+16505550102"):
            self.assertEqual((numbers[phone]["usageType"], numbers[phone]["extensionId"]),
                             ("Inventory", None))
        self.assertEqual(self.scim_find('email eq "ann.lee@example.com"').json["totalResults"], 0)
        created = self.api("POST", "/scim/v2/Users", new_user("new@example.com")).json
        self.assertEqual(created["id"], "101")      # lowest free extension number again
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/101"), 204)
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/101"), 404)

    def test_discovery(self):
        spc = self.api("GET", "/scim/v2/ServiceProviderConfig")
        self.assertStatus(spc, 200)
        self.assertTrue(spc.json["patch"]["supported"])
        self.assertFalse(spc.json["bulk"]["supported"])
        schemas = self.api("GET", "/scim/v2/Schemas").json
        ids = [s["id"] for s in schemas["Resources"]]
        self.assertEqual(ids, ["urn:ietf:params:scim:schemas:core:2.0:User", ENT])
        one = self.api("GET", "/scim/v2/Schemas/" + ids[0])
        self.assertStatus(one, 200)
        names = [a["name"] for a in one.json["attributes"]]
        self.assertIn("userName", names)
        self.assertStatus(self.api("GET", "/scim/v2/Schemas/" + quote(ENT, safe="")), 200)
        self.assertStatus(self.api("GET", "/scim/v2/Schemas/urn:bogus"), 404)
        types = self.api("GET", "/scim/v2/ResourceTypes")
        self.assertEqual(types.json["Resources"][0]["endpoint"], "/Users")
        self.assertEqual(types.header("X-Rate-Limit-Group"), "Light")
        self.assertStatus(self.api("GET", "/scim/v2/ResourceTypes/User"), 200)


# ---------------------------------------------------------------------------


class RestTests(EmuCase):

    def test_extension_list_paging(self):
        reply = self.api("GET", ACCT + "/extension?type=User&status=Enabled&perPage=2")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        body = reply.json
        self.assertEqual([r["id"] for r in body["records"]], [101, 103])
        self.assertEqual(body["paging"], {"page": 1, "totalPages": 2, "perPage": 2,
                                          "totalElements": 3, "pageStart": 0, "pageEnd": 1})
        nav = body["navigation"]
        self.assertEqual(set(nav), {"firstPage", "nextPage", "lastPage"})
        nxt = urlsplit(nav["nextPage"]["uri"])
        self.assertEqual("%s://%s" % nxt[:2], self.emu.base)
        self.assertEqual(parse_qs(nxt.query), {"type": ["User"], "status": ["Enabled"],
                                               "page": ["2"], "perPage": ["2"]})
        page2 = self.api("GET", nxt.path + "?" + nxt.query).json
        self.assertEqual([r["id"] for r in page2["records"]], [104])
        self.assertNotIn("nextPage", page2["navigation"])
        self.assertIn("previousPage", page2["navigation"])
        self.assertEqual(page2["paging"]["pageStart"], 2)

    def test_extension_list_filters(self):
        def ids(query):
            reply = self.api("GET", ACCT + "/extension?" + query)
            self.assertStatus(reply, 200)
            return [r["id"] for r in reply.json["records"]]
        self.assertEqual(len(ids("status=Unassigned")), 3)
        self.assertEqual(ids("email=ANN.LEE@example.com"), [101])
        self.assertEqual(ids("extensionNumber=102"), [102])
        self.assertEqual(ids("status=Enabled,Disabled"), [101, 102, 103, 104])
        self.assertEqual(ids("status=Enabled&status=Disabled&type=User"), [101, 102, 103, 104])
        bad = self.api("GET", ACCT + "/extension?status=Enabled,Bogus")
        self.assertEqual((bad.status, bad.json["errors"][0]["parameterName"],
                          bad.json["errors"][0]["parameterValue"]), (400, "status", "Bogus"))
        self.assertEqual(len(ids("")), 7)
        big = self.api("GET", ACCT + "/extension?perPage=5000").json
        self.assertEqual(big["paging"]["perPage"], 1000)
        empty = self.api("GET", ACCT + "/extension?page=9").json
        self.assertEqual(empty["records"], [])
        self.assertNotIn("pageStart", empty["paging"])
        for query in ("page=0", "perPage=x"):
            reply = self.api("GET", ACCT + "/extension?" + query)
            self.assertEqual((reply.status, reply.json["errorCode"]), (400, "CMN-101"))

    def test_get_extension(self):
        reply = self.api("GET", ACCT + "/extension/101")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        ext = reply.json
        self.assertEqual((ext["id"], ext["extensionNumber"], ext["name"], ext["type"],
                          ext["status"]), (101, "101", "Ann Lee", "User", "Enabled"))
        self.assertEqual(ext["uri"], self.emu.base + ACCT + "/extension/101")
        self.assertEqual(ext["customFields"], [{"id": "1", "value": "CC-1",
                                                "displayName": "Cost Center"}])
        for ext_id in (999, "abc"):
            missing = self.api("GET", ACCT + "/extension/%s" % ext_id)
            self.assertStatus(missing, 404)
            self.assertEqual(missing.json["errorCode"], "CMN-102")
            self.assertEqual(missing.json["message"],
                             "Resource for parameter [extensionId] is not found.")
            self.assertEqual(missing.json["errors"][0]["parameterName"], "extensionId")

    def test_put_extension(self):
        body = {"contact": {"department": "Eng", "businessAddress": {"city": "Toronto",
                                                                    "state": "ON",
                                                                    "country": "CA"}},
                "customFields": [{"id": "1", "value": "CC-2"}]}
        reply = self.api("PUT", ACCT + "/extension/101", body)
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        c = reply.json["contact"]
        self.assertEqual((c["firstName"], c["department"]), ("Ann", "Eng"))
        self.assertEqual(c["businessAddress"], {"street": "1 Main St", "city": "Toronto",
                                                "state": "ON", "zip": "94403", "country": "CA"})
        for state, country in (("Ontario", "CA"), ("California", "US"), ("ca", None),
                               ("new  york", "USA"), ("Quebec", "Canada"), ("Bavaria", "DE")):
            addr = {"state": state, "country": country}
            reply = self.api("PUT", ACCT + "/extension/101",
                             {"contact": {"businessAddress": addr}})
            self.assertStatus(reply, 200)
        self.assertStatus(self.api("PUT", ACCT + "/extension/101", {
            "extensionNumber": "150", "status": "Disabled",
            "statusInfo": {"reason": "Voluntarily", "comment": "leave"}}), 200)
        ext = self.ext(101)
        self.assertEqual((ext["extensionNumber"], ext["status"], ext["statusInfo"]["reason"]),
                         ("150", "Disabled", "Voluntarily"))

    def test_put_extension_errors(self):
        before = self.emu.state()
        reply = self.api("PUT", ACCT + "/extension/101",
                         {"contact": {"businessAddress": {"state": "Calif."}}})
        self.assertStatus(reply, 400)
        self.assertEqual(reply.json, STATE_ERROR_REST)
        cases = [({"contact": {"businessAddress": {"state": "ON", "country": "US"}}},
                  400, "CMN-101"),
                 ({"extensionNumber": "102"}, 409, "EXT-107"),
                 ({"extensionNumber": "12a"}, 400, "CMN-101"),
                 ({"status": "Bogus"}, 400, "CMN-101"),
                 ({"contact": {"firstName": 7}}, 400, "CMN-101"),
                 ({"contact": {"email": "not-an-email"}}, 400, "CMN-101"),
                 ({"customFields": [{"id": "77", "value": "x"}]}, 404, "CMN-102")]
        for body, status, code in cases:
            reply = self.api("PUT", ACCT + "/extension/101", body)
            self.assertEqual((reply.status, reply.json["errorCode"]), (status, code), body)
        self.assertEqual(reply.json["errors"][0]["parameterName"], "customFields.id")
        in_use = self.api("PUT", ACCT + "/extension/101", {"extensionNumber": "102"}).json
        self.assertEqual(in_use["message"], "Extension already in use")
        bad = self.api("PUT", ACCT + "/extension/101", b"{oops")
        self.assertEqual((bad.status, bad.json["errorCode"], bad.json["message"]),
                         (400, "CMN-103", "JSON can't be parsed."))
        self.assertStatus(self.api("PUT", ACCT + "/extension/999", {"status": "Enabled"}), 404)
        self.assertEqual(self.emu.state(), before)

    def test_bulk_update(self):
        records = [
            {"id": "101", "contact": {"department": "Ops"},
             "customFields": [{"id": "1", "value": "CC-9"}]},
            {"id": "102", "status": "Enabled"},
            {"id": "103", "contact": {"businessAddress": {"state": "Calif."}}},
            {"id": "999999", "status": "Disabled"},
            {"id": "104", "extensionNumber": "101"},
            {"id": "104", "customFields": [{"id": "77", "value": "x"}]},
            {"id": "104", "status": "Disabled",
             "statusInfo": {"reason": "Voluntarily", "comment": "left"}},
            {"status": "Enabled"}]
        reply = self.api("POST", ACCT + "/extension-bulk-update", {"records": records})
        self.assertStatus(reply, 202)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        task = reply.json
        self.assertEqual(task["status"], "Accepted")
        self.assertNotIn("result", task)
        path = urlsplit(task["uri"]).path
        self.assertEqual(task["uri"], self.emu.base + path)
        polled = self.api("GET", path)
        self.assertEqual(polled.header("X-Rate-Limit-Group"), "Light")
        self.assertEqual(polled.json["status"], "InProgress")
        self.assertEqual(self.ext(101)["contact"].get("department"), None)   # not applied yet
        deadline = time.monotonic() + 5
        while polled.json["status"] != "Completed" and time.monotonic() < deadline:
            time.sleep(0.1)
            polled = self.api("GET", path)
        results = polled.json["result"]["affectedItems"]["result"]
        self.assertEqual([(r["extensionId"], r["status"]) for r in results], [
            ("101", "Success"), ("102", "Success"), ("103", "Fail"), ("999999", "Fail"),
            ("104", "Fail"), ("104", "Fail"), ("104", "Success"), ("", "Fail")])
        self.assertEqual([r["errors"][0]["errorCode"] for r in results if r["status"] == "Fail"],
                         ["CMN-101", "CMN-102", "EXT-107", "CMN-102", "CMN-101"])
        self.assertEqual(results[2]["errors"], STATE_ERROR_REST["errors"])
        ext101, ext104 = self.ext(101), self.ext(104)
        self.assertEqual(ext101["contact"]["department"], "Ops")
        self.assertEqual(ext101["customFields"][0]["value"], "CC-9")
        self.assertEqual(self.ext(102)["status"], "Enabled")
        self.assertEqual((ext104["status"], ext104["statusInfo"]["comment"]),
                         ("Disabled", "left"))
        self.assertEqual(self.ext(103)["contact"].get("businessAddress"), None)
        missing = self.api("GET", ACCT + "/extension-bulk-update/tasks/nope")
        self.assertEqual((missing.status, missing.json["errorCode"]), (404, "CMN-102"))

    def test_bulk_limits(self):
        path = ACCT + "/extension-bulk-update"
        for body in ({"records": [{"id": "101"}] * 501}, {"records": {}}, {"records": []}, {}):
            reply = self.api("POST", path, body)
            self.assertEqual((reply.status, reply.json["errorCode"]), (400, "CMN-101"))
        self.assertStatus(self.api("POST", path, {"records": [{"id": "101"}] * 500}), 202)
        bad = self.api("POST", path, b"not json")
        self.assertEqual(bad.json["errorCode"], "CMN-103")

    def test_phone_numbers(self):
        reply = self.api("GET", ACCT + "/phone-number?usageType=DirectNumber")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        recs = reply.json["records"]
        self.assertEqual([(r["phoneNumber"], r["extension"]["id"],
                           r["extension"]["extensionNumber"], r["primary"]) for r in recs],
                         [("+16505550101", 101, "101", True), ("+16505550102", 101, "101", False),
                          ("+16505550201", 102, "102", True)])
        self.assertTrue(all(r["usageType"] == "DirectNumber" for r in recs))
        inventory = self.api("GET", ACCT + "/phone-number?usageType=Inventory").json["records"]
        self.assertEqual(len(inventory), 2)
        self.assertTrue(all("extension" not in r for r in inventory))
        everything = self.api("GET", ACCT + "/phone-number?perPage=4").json
        self.assertEqual(everything["paging"]["totalElements"], 6)
        self.assertIn("nextPage", everything["navigation"])
        main = [r for r in everything["records"] if r["usageType"] == "MainCompanyNumber"]
        self.assertEqual(main[0]["phoneNumber"], "+16505550000")
        mine = self.api("GET", ACCT + "/extension/101/phone-number")
        self.assertEqual(mine.header("X-Rate-Limit-Group"), "Light")
        self.assertEqual([(r["phoneNumber"], r["primary"]) for r in mine.json["records"]],
                         [("+16505550101", True), ("+16505550102", False)])
        self.assertStatus(self.api("GET", ACCT + "/extension/999/phone-number"), 404)

    def test_directory(self):
        """The company directory: listed statuses only, hidden users and
        numbers left out, ids as strings, EnumeratedPagingModel paging."""
        reply = self.api("GET", ACCT + "/directory/entries?type=User")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        body = reply.json
        self.assertEqual(set(body), {"records", "paging"})
        self.assertEqual(body["paging"], {"page": 1, "perPage": 1000, "totalPages": 1,
                                          "totalElements": 4})
        recs = {r["id"]: r for r in body["records"]}
        self.assertEqual(sorted(recs), ["101", "102", "103", "104"])   # no Unassigned
        ann = recs["101"]
        self.assertEqual((ann["email"], ann["extensionNumber"], ann["status"]),
                         ("ann.lee@example.com", "101", "Enabled"))
        self.assertEqual([(p["phoneNumber"], p["usageType"], p["primary"])
                          for p in ann["phoneNumbers"]],
                         [("+16505550101", "DirectNumber", True),
                          ("+16505550102", "DirectNumber", False),
                          ("+14155550101", "MobileNumber", False)])
        self.assertEqual(recs["102"]["status"], "Disabled")
        # Hidden: a user, then one number of another.
        self.emu.ctl("POST", "extension/102", {"hidden": True})
        self.emu.ctl("POST", "extension/101", {"hiddenNumbers": ["+16505550101"]})
        recs = {r["id"]: r for r in self.api("GET", ACCT + "/directory/entries").json["records"]}
        self.assertNotIn("102", recs)
        self.assertEqual([(p["phoneNumber"], p["primary"]) for p in recs["101"]["phoneNumbers"]
                          if p["usageType"] == "DirectNumber"], [("+16505550102", True)])
        # The per-extension list still has everything.
        mine = self.api("GET", ACCT + "/extension/101/phone-number").json["records"]
        self.assertEqual(len(mine), 2)
        self.emu.ctl("POST", "extension/102", {"hidden": False})
        self.assertEqual(len(self.api("GET", ACCT + "/directory/entries").json["records"]), 4)
        self.emu.ctl("POST", "extension/102", {"hidden": 1}, expect=400)
        # Frozen is not listed.
        self.emu.ctl("POST", "seed", {"extensions": [{"id": 105, "status": "Frozen",
                                                       "contact": {"email": "f@example.com"}},
                                                      {"id": 106, "hidden": True}]})
        ids = [r["id"] for r in self.api("GET", ACCT + "/directory/entries").json["records"]]
        self.assertNotIn("105", ids)
        self.assertNotIn("106", ids)
        # Paging, and the largest page by the switch.
        page2 = self.api("GET", ACCT + "/directory/entries?perPage=3&page=2").json
        self.assertEqual(([r["id"] for r in page2["records"]], page2["paging"]["totalPages"]),
                         (["104"], 2))
        self.assertEqual(self.api("GET", ACCT + "/directory/entries?perPage=5000")
                         .json["paging"]["perPage"], 1000)
        self.emu.ctl("POST", "behaviour", {"directory_per_page": 2000})
        self.assertEqual(self.api("GET", ACCT + "/directory/entries?perPage=5000")
                         .json["paging"]["perPage"], 2000)
        self.emu.ctl("POST", "behaviour", {"directory_per_page": 1500}, expect=400)
        self.assertEqual(self.api("GET", ACCT + "/directory/entries?page=0").status, 400)

    def test_custom_fields(self):
        reply = self.api("GET", ACCT + "/custom-fields")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        self.assertEqual(reply.json, {"records": [{"id": "1", "category": "User",
                                                   "displayName": "Cost Center"}]})

    def test_unknown_route_and_method(self):
        reply = self.emu.request("GET", ACCT + "/nothing")
        self.assertStatus(reply, 404)
        self.assertIn("errorCode", reply.json)
        reply = self.api("DELETE", ACCT + "/extension/101")
        self.assertStatus(reply, 405)
        self.assertIn("PUT", reply.header("Allow"))
        self.assertStatus(self.api("GET", "/scim/v2/Groups"), 404)

    def test_rate_limit_groups(self):
        """Every endpoint reports its group from the README's table."""
        bulk = {"records": [{"id": "101"}]}
        table = [("GET", "/scim/v2/Users", None, "Light"),
                 ("POST", "/scim/v2/Users/.search", {}, "Light"),
                 ("GET", "/scim/v2/Users/101", None, "Light"),
                 ("POST", "/scim/v2/Users", new_user("z@example.com"), "Heavy"),
                 ("PUT", "/scim/v2/Users/101", new_user("ann.lee@example.com"), "Heavy"),
                 ("PATCH", "/scim/v2/Users/101", {"Operations": [
                     {"op": "replace", "path": "title", "value": "x"}]}, "Heavy"),
                 ("DELETE", "/scim/v2/Users/104", None, "Heavy"),
                 ("GET", "/scim/v2/ServiceProviderConfig", None, "Light"),
                 ("GET", "/scim/v2/Schemas", None, "Light"),
                 ("GET", "/scim/v2/ResourceTypes", None, "Light"),
                 ("GET", ACCT + "/extension", None, "Medium"),
                 ("POST", ACCT + "/extension", create_body("rg@example.com"), "Medium"),
                 ("GET", ACCT + "/extension/101", None, "Light"),
                 ("PUT", ACCT + "/extension/101", {}, "Medium"),
                 ("POST", ACCT + "/extension-bulk-update", bulk, "Heavy"),
                 ("GET", ACCT + "/extension-bulk-update/tasks/x", None, "Light"),
                 ("GET", ACCT + "/phone-number", None, "Heavy"),
                 ("GET", ACCT + "/extension/101/phone-number", None, "Light"),
                 ("GET", ACCT + "/custom-fields", None, "Light"),
                 ("GET", ACCT + "/sites", None, "Light"),
                 ("POST", ACCT + "/sites/x/bulk-assign", {}, "Medium"),
                 ("GET", ACCT + "/user-role", None, "Medium"),
                 ("GET", ACCT + "/user-role/default", None, "Light"),
                 ("POST", ACCT + "/user-role/x/bulk-assign", {}, "Heavy"),
                 ("GET", ACCT + "/assigned-role", None, "Medium"),
                 ("GET", ACCT + "/extension/101/assigned-role", None, "Light"),
                 ("GET", "/restapi/v2/accounts/~/cost-centers", None, "Light"),
                 ("GET", ACCT + "/service-info", None, "Light"),
                 ("POST", "/restapi/v2/accounts/~/batch-provisioning/users",
                  {"records": [batch_record("rgb@example.com")]}, "Heavy"),
                 ("PUT", ACCT + "/extension/101/assigned-role", {}, "Medium"),
                 ("GET", ACCT + "/directory/entries", None, "Medium"),
                 ("POST", "/restapi/oauth/revoke", b"token=x", "Auth")]
        self.emu.ctl("DELETE", "log")
        for method, path, body, group in table:
            reply = self.api(method, path, body)
            self.assertLess(reply.status, 500)
            self.assertEqual(reply.header("X-Rate-Limit-Group"), group, path)
            self.assertEqual(reply.header("X-Rate-Limit-Window"), "6")
            self.assertIsNotNone(reply.header("X-Rate-Limit-Limit"))
            self.assertIsNotNone(reply.header("X-Rate-Limit-Remaining"))
        # The request log names the same group for each call.
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual([(e["method"], e["path"], e["group"]) for e in log],
                         [(m, p.split("?")[0], g) for m, p, _, g in table])
        self.assertIsNone(self.emu.request("GET", "/_emu/health").header("X-Rate-Limit-Group"))


# ---------------------------------------------------------------------------


# A multi-site account with cost centers, added to SEED by the tests that need it.
SITES_SEED = {
    "company_name": "Acme Inc",
    "sites": [{"id": "4001", "name": "Berlin", "code": "BER", "extensionNumber": "4000"},
              {"id": "5001", "name": "Austin", "code": "AUS"}],
    "cost_centers": [{"id": 7, "name": "Sales", "billingCode": "BC-7"},
                     {"id": 8, "name": "Sales EMEA", "parentId": 7}],
    "extensions": [{"id": 201, "extensionNumber": "201", "site": "4001", "costCenter": 8,
                    "contact": {"firstName": "Eve", "lastName": "Berg",
                                "email": "eve@example.com"}}],
}


def create_body(email, **extra):
    body = {"contact": {"firstName": "Nia", "lastName": "Cole", "email": email}}
    body.update(extra)
    return body


class CreateTests(EmuCase):
    """POST .../extension (v1 create) and the seed of sites and cost centers."""

    def create(self, body, status=200):
        reply = self.api("POST", ACCT + "/extension", body)
        self.assertStatus(reply, status)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        return reply.json

    def visible(self, ext_id, email):
        """The user is seen everywhere a SCIM-created one is."""
        listed = self.api("GET", ACCT + "/extension?email=" + quote(email)).json["records"]
        self.assertEqual([r["id"] for r in listed], [ext_id])
        users = self.scim_find('email eq "%s"' % email).json["Resources"]
        self.assertEqual([u["id"] for u in users], [str(ext_id)])
        self.assertTrue(users[0]["active"])
        entries = self.api("GET", ACCT + "/directory/entries").json["records"]
        self.assertIn(str(ext_id), [e["id"] for e in entries])
        view = self.emu.ctl("GET", "extension/%d" % ext_id)
        self.assertEqual(view["extension"], self.ext(ext_id))
        return listed[0], users[0], view

    def test_create_minimal(self):
        ext = self.create(create_body("nia@example.com"))
        self.assertEqual((ext["extensionNumber"], ext["type"], ext["status"], ext["name"]),
                         ("105", "User", "Enabled", "Nia Cole"))    # lowest free from 101
        self.assertGreater(ext["id"], 2 ** 31)
        self.assertEqual(ext["uri"], "%s%s/extension/%d" % (self.emu.base, ACCT, ext["id"]))
        self.assertEqual(ext["contact"], {"firstName": "Nia", "lastName": "Cole",
                                          "email": "nia@example.com"})
        for key in ("site", "costCenter"):          # a single-site account, none given
            self.assertNotIn(key, ext)
        listed, user, view = self.visible(ext["id"], "nia@example.com")
        self.assertEqual(listed, ext)
        self.assertEqual(view["directNumbers"], ["+16505551000"])    # an Inventory number
        # A new extension: the Unassigned ones are left (switch default).
        self.assertEqual(len(self.api("GET", ACCT + "/extension?status=Unassigned")
                             .json["records"]), 3)
        log = self.emu.ctl("GET", "log")["requests"]
        create = [e for e in log if e["method"] == "POST" and e["path"] == ACCT + "/extension"]
        self.assertEqual([(e["group"], e["status"]) for e in create], [("Medium", 200)])

    def test_create_everything_on_a_multi_site_account(self):
        self.emu.ctl("POST", "seed", SITES_SEED)
        contact = {"firstName": "Ola", "lastName": "Nord", "email": "ola@example.com",
                   "department": "Sales", "jobTitle": "Rep", "businessPhone": "+14155550199",
                   "mobilePhone": "+14155550198", "company": "Acme",
                   "emailAsLoginName": True,
                   "businessAddress": {"street": "1 Elm", "city": "Austin", "state": "TX",
                                       "zip": "73301", "country": "US"}}
        ext = self.create({"contact": contact, "type": "User", "status": "NotActivated",
                           "extensionNumber": "4321", "site": {"id": "5001"},
                           "costCenter": {"id": "7"},
                           "customFields": [{"id": "1", "value": "CC-5"}],
                           "password": "ignored", "regionalSettings": {}})
        del contact["emailAsLoginName"]
        self.assertEqual((ext["extensionNumber"], ext["status"], ext["contact"]),
                         ("4321", "NotActivated", contact))
        self.assertEqual(ext["site"], {"id": "5001", "name": "Austin"})
        self.assertEqual(ext["costCenter"], {"id": "7", "name": "Sales"})
        self.assertEqual(ext["customFields"][0]["value"], "CC-5")
        _, user, view = self.visible(ext["id"], "ola@example.com")
        self.assertEqual(view["extension"]["site"], {"id": "5001", "name": "Austin"})
        self.assertEqual(view["extension"]["costCenter"], {"id": "7", "name": "Sales"})
        self.assertEqual(user["title"], "Rep")
        # No site given on a multi-site account: the main site, named after the company.
        plain = self.create(create_body("pat@example.com", site={"id": "main-site"}))
        self.assertEqual(plain["site"], {"id": "main-site", "name": "Acme Inc"})
        self.assertEqual(self.create(create_body("quin@example.com"))["site"],
                         {"id": "main-site", "name": "Acme Inc"})
        self.assertEqual(self.ext(101)["site"], {"id": "main-site", "name": "Acme Inc"})
        eve = self.ext(201)
        self.assertEqual((eve["site"], eve["costCenter"]), ({"id": "4001", "name": "Berlin"},
                                                            {"id": "8", "name": "Sales EMEA"}))
        entry = [e for e in self.api("GET", ACCT + "/directory/entries").json["records"]
                 if e["id"] == "201"][0]
        self.assertEqual(entry["site"], {"id": "4001", "name": "Berlin"})
        state = self.emu.state()
        self.assertEqual([s["id"] for s in state["sites"]], ["main-site", "4001", "5001"])
        self.assertEqual([(x["id"], x["site"], x["costCenter"]) for x in state["extensions"]
                          if x["id"] in (101, 201, ext["id"])],
                         [(101, "main-site", None), (201, "4001", 8),
                          (ext["id"], "5001", 7)])

    def test_create_errors(self):
        self.emu.ctl("POST", "seed", {"cost_centers": [{"id": 7, "name": "Sales"}]})
        before = self.emu.state()
        ok = create_body("new@example.com")
        cases = [
            ({}, 400, "CMN-100", "contact.email"),
            ({"contact": {"firstName": "A"}}, 400, "CMN-100", "contact.email"),
            ({"contact": {"email": "a@example.com"}}, 400, "CMN-100", "contact.firstName"),
            ({"contact": "x"}, 400, "CMN-101", "contact"),
            (create_body("not-an-email"), 400, "CMN-101", "contact.email"),
            ({"contact": {"firstName": 7, "email": "a@example.com"}}, 400, "CMN-101",
             "contact.firstName"),
            (dict(ok, contact=dict(ok["contact"], businessAddress={"state": "Calif."})),
             400, "CMN-101", "contact.businessAddress.state"),
            (dict(ok, contact=dict(ok["contact"], emailAsLoginName="yes")), 400, "CMN-101",
             "contact.emailAsLoginName"),
            (dict(ok, type="Department"), 400, "CMN-101", "type"),
            (dict(ok, status="Disabled"), 400, "CMN-101", "status"),
            (dict(ok, status="Unassigned"), 400, "CMN-101", "status"),
            (dict(ok, extensionNumber="123456"), 400, "CMN-101", "extensionNumber"),
            (dict(ok, extensionNumber="12a"), 400, "CMN-101", "extensionNumber"),
            (dict(ok, extensionNumber=105), 400, "CMN-101", "extensionNumber"),
            (dict(ok, site={"id": "main-site"}), 404, "CMN-102", "site.id"),   # single-site
            (dict(ok, site="4001"), 400, "CMN-101", "site"),
            (dict(ok, costCenter={"id": "99"}), 404, "CMN-102", "costCenter.id"),
            (dict(ok, costCenter={"id": 7}), 400, "CMN-101", "costCenter.id"),
            (dict(ok, customFields=[{"id": "77", "value": "x"}]), 404, "CMN-102",
             "customFields.id"),
        ]
        for body, status, code, param in cases:
            reply = self.api("POST", ACCT + "/extension", body)
            self.assertEqual((reply.status, reply.json["errorCode"],
                              reply.json["errors"][0].get("parameterName")),
                             (status, code, param), body)
        message = "Mandatory parameter [contact.%s] not specified."
        self.assertEqual(self.api("POST", ACCT + "/extension", {}).json, {
            "errorCode": "CMN-100", "message": message % "email", "errors": [
                {"errorCode": "CMN-100", "message": message % "email",
                 "parameterName": "contact.email"},
                {"errorCode": "CMN-100", "message": message % "firstName",
                 "parameterName": "contact.firstName"}]})
        bad = self.api("POST", ACCT + "/extension", b"{oops")
        self.assertEqual((bad.status, bad.json["errorCode"]), (400, "CMN-103"))
        self.assertEqual(self.emu.state(), before)
        # The account's maximum length (service-info) bounds the number.
        self.emu.ctl("POST", "seed", {"max_extension_length": 6})
        self.assertEqual(self.create(dict(ok, extensionNumber="123456"))["extensionNumber"],
                         "123456")

    def test_duplicate_email(self):
        before = self.emu.state()
        for email in ("ANN.LEE@example.com", "bob.ray@example.com"):    # Disabled counts too
            reply = self.api("POST", ACCT + "/extension", create_body(email))
            self.assertStatus(reply, 409)
            message = "Duplicate value for parameter [contact.email]."
            self.assertEqual(reply.json, {"errorCode": "CMN-406", "message": message, "errors": [
                {"errorCode": "CMN-406", "message": message, "parameterName": "contact.email",
                 "parameterValue": email}]})
        self.assertEqual(self.emu.state(), before)
        # The email of a user deleted through SCIM is free again.
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/102"), 204)
        self.create(create_body("bob.ray@example.com"))

    def test_duplicate_extension_number_both_codes(self):
        self.emu.ctl("POST", "seed", {"sites": [{"id": "4001", "name": "Berlin",
                                                 "extensionNumber": "4000"}]})
        before = self.emu.state()
        for number in ("101", "1000", "4000"):      # a user's, an Unassigned one's, a site's
            reply = self.api("POST", ACCT + "/extension",
                             create_body("n%s@example.com" % number, extensionNumber=number))
            message = "Duplicate value for parameter [extensionNumber]."
            self.assertEqual((reply.status, reply.json), (409, {
                "errorCode": "CMN-406", "message": message, "errors": [
                    {"errorCode": "CMN-406", "message": message,
                     "parameterName": "extensionNumber", "parameterValue": number}]}))
        self.emu.ctl("POST", "behaviour", {"duplicate_extension_code": "CMN-101"})
        reply = self.api("POST", ACCT + "/extension",
                         create_body("x@example.com", extensionNumber="101"))
        message = "Parameter [extensionNumber] value is invalid."
        self.assertEqual((reply.status, reply.json), (400, {
            "errorCode": "CMN-101", "message": message, "errors": [
                {"errorCode": "CMN-101", "message": message, "parameterName": "extensionNumber",
                 "parameterValue": "101"}]}))
        self.emu.ctl("POST", "behaviour", {"cmn101_status": 403})
        self.assertStatus(self.api("POST", ACCT + "/extension",
                                   create_body("x@example.com", extensionNumber="101")), 403)
        self.emu.ctl("POST", "behaviour", {"duplicate_extension_code": "CMN-999"}, expect=400)
        self.assertEqual(self.emu.state(), before)

    def test_uses_unassigned_switch(self):
        # false (default): a new extension; with the switch, the Unassigned
        # User extension with the lowest number, as a SCIM create takes.
        free = {x["extensionNumber"]: x["id"] for x in self.emu.state()["extensions"]
                if x["status"] == "Unassigned"}
        self.emu.ctl("POST", "behaviour", {"v1_create_uses_unassigned": True})
        first = self.create(create_body("u1@example.com"))
        self.assertEqual((first["id"], first["extensionNumber"], first["status"]),
                         (free["1000"], "1000", "Enabled"))
        second = self.create(create_body("u2@example.com", extensionNumber="777"))
        self.assertEqual((second["id"], second["extensionNumber"]), (free["1001"], "777"))
        self.visible(second["id"], "u2@example.com")
        self.assertEqual(self.emu.ctl("GET", "extension/%d" % second["id"])["directNumbers"],
                         ["+16505551001"])
        self.create(create_body("u3@example.com"))
        reply = self.api("POST", ACCT + "/extension", create_body("u4@example.com"))
        self.assertEqual((reply.status, reply.json), (403, {
            "errorCode": "EXT-402", "message": "License limit has been reached.",
            "errors": [{"errorCode": "EXT-402", "message": "License limit has been reached."}]}))
        self.emu.ctl("POST", "behaviour", {"v1_create_uses_unassigned": False})
        self.create(create_body("u4@example.com"))
        self.emu.ctl("POST", "behaviour", {"v1_create_uses_unassigned": 1}, expect=400)

    def test_next_free_number_within_the_maximum_length(self):
        self.emu.ctl("POST", "reset")
        self.emu.ctl("POST", "limits", HIGH_LIMITS)
        self.tok = self.emu.token()["access_token"]
        self.emu.ctl("POST", "seed", {"max_extension_length": 3, "extensions": [
            {"extensionNumber": str(n)} for n in range(101, 999)]})
        self.assertEqual(self.create(create_body("a@example.com"))["extensionNumber"], "999")
        reply = self.api("POST", ACCT + "/extension", create_body("b@example.com"))
        self.assertEqual((reply.status, reply.json["errors"][0]["parameterName"]),
                         (400, "extensionNumber"))
        reply = self.api("POST", ACCT + "/extension",
                         create_body("b@example.com", extensionNumber="1234"))
        self.assertEqual((reply.status, reply.json["errorCode"]), (400, "CMN-101"))

    def test_service_info(self):
        reply = self.api("GET", ACCT + "/service-info")
        self.assertEqual((reply.status, reply.header("X-Rate-Limit-Group")), (200, "Light"))
        info = reply.json
        self.assertEqual(info["uri"], self.emu.base + ACCT + "/service-info")
        self.assertEqual(info["limits"], {"maxExtensionNumberLength": 5})
        self.assertEqual((info["brand"]["id"], info["brand"]["homeCountry"]["isoCode"],
                          info["contractedCountry"]["isoCode"]), ("1210", "US", "US"))
        self.assertEqual(set(info["servicePlan"]), {"id", "name", "edition"})
        self.emu.ctl("POST", "seed", {"max_extension_length": 8})
        self.assertEqual(self.api("GET", ACCT + "/service-info").json["limits"]
                         ["maxExtensionNumberLength"], 8)
        self.assertEqual(self.emu.state()["max_extension_length"], 8)

    def test_seed_rejects_bad_provisioning_data(self):
        before = self.emu.state()
        bad = [
            {"extensions": [{"site": "4001"}]},                       # no sites at all
            {"sites": [{"id": "4001", "name": "B"}], "extensions": [{"site": "9"}]},
            {"sites": [{"id": "4001"}]},                              # no name
            {"sites": [{"id": "main-site", "name": "M"}]},
            {"sites": [{"id": "4001", "name": "B"}, {"id": "4001", "name": "C"}]},
            {"sites": [{"id": "", "name": "B"}]},
            {"sites": [{"id": "4001", "name": "B", "extensionNumber": "101"}]},   # a user's
            {"sites": [{"id": "4001", "name": "B", "code": 5}]},
            {"sites": {"id": "4001"}},
            {"cost_centers": [{"id": "7", "name": "S"}]},              # id must be a number
            {"cost_centers": [{"id": 7}]},
            {"cost_centers": [{"id": 7, "name": "S"}, {"id": 7, "name": "T"}]},
            {"cost_centers": [{"id": 8, "name": "S", "parentId": 9}]},
            {"extensions": [{"costCenter": 7}]},
            {"max_extension_length": 9}, {"max_extension_length": "5"},
            {"company_name": ""}, {"company_name": 5},
        ]
        for seed in bad:
            reply = self.emu.request("POST", "/_emu/seed", seed)
            self.assertEqual(reply.status, 400, seed)
            self.assertFalse(reply.json["ok"])
        self.assertEqual(self.emu.state(), before)
        # Sites and cost centers of one seed can be named by a later one.
        self.emu.ctl("POST", "seed", {"sites": [{"id": 4001, "name": "B"}],
                                      "cost_centers": [{"id": 7, "name": "S"}]})
        self.emu.ctl("POST", "seed", {"company_name": "Later Ltd",
                                      "cost_centers": [{"id": 8, "name": "T", "parentId": 7}],
                                      "extensions": [{"id": 301, "site": "4001",
                                                      "costCenter": 8}]})
        state = self.emu.state()
        self.assertEqual(state["sites"], [{"id": "main-site", "name": "Later Ltd"},
                                          {"id": "4001", "name": "B"}])
        self.assertEqual(state["cost_centers"], [{"id": 7, "name": "S"},
                                                 {"id": 8, "name": "T", "parentId": 7}])
        self.assertEqual(self.ext(301)["site"], {"id": "4001", "name": "B"})


class SiteTests(EmuCase):
    """GET .../sites, POST .../sites/{id}/bulk-assign, and `site` in updates."""

    def setUp(self):
        super().setUp()
        self.emu.ctl("POST", "seed", SITES_SEED)

    def site_of(self, ext_id):
        return self.ext(ext_id)["site"]["id"]

    def test_list(self):
        reply = self.api("GET", ACCT + "/sites")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        base = self.emu.base + ACCT + "/sites"
        self.assertEqual(reply.json, {"uri": base, "records": [
            {"id": "main-site", "name": "Acme Inc", "uri": base + "/main-site"},
            {"id": "4001", "name": "Berlin", "code": "BER", "extensionNumber": "4000",
             "uri": base + "/4001"},
            {"id": "5001", "name": "Austin", "code": "AUS", "uri": base + "/5001"}]})
        self.emu.ctl("POST", "reset")
        self.emu.ctl("POST", "limits", HIGH_LIMITS)
        tok = self.emu.token()["access_token"]
        single = self.api("GET", ACCT + "/sites", token=tok).json
        self.assertEqual(single["records"], [])
        self.emu.ctl("POST", "seed", {"sites": [{"id": "9", "name": "Nine"}]})
        self.assertEqual([r["name"] for r in self.api("GET", ACCT + "/sites", token=tok)
                          .json["records"]], ["Main Site", "Nine"])

    def test_bulk_assign(self):
        path = ACCT + "/sites/5001/bulk-assign"
        reply = self.api("POST", path, {"addedExtensionIds": ["101", "102"],
                                        "removedExtensionIds": ["201"]})
        self.assertStatus(reply, 204)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        self.assertEqual((self.site_of(101), self.site_of(102)), ("5001", "5001"))
        self.assertEqual(self.site_of(201), "4001")         # not in 5001: unchanged
        self.assertStatus(self.api("POST", ACCT + "/sites/4001/bulk-assign",
                                   {"removedExtensionIds": ["201"]}), 204)
        self.assertEqual(self.site_of(201), "main-site")
        self.assertStatus(self.api("POST", ACCT + "/sites/main-site/bulk-assign",
                                   {"addedExtensionIds": [101]}), 204)
        self.assertEqual(self.site_of(101), "main-site")
        self.assertStatus(self.api("POST", path, {}), 204)
        before = self.emu.state()
        cases = [(ACCT + "/sites/9999/bulk-assign", {"addedExtensionIds": ["101"]},
                  404, "CMN-102", "siteId"),
                 (path, {"addedExtensionIds": ["101", "999"]}, 404, "CMN-102",
                  "addedExtensionIds"),
                 (path, {"removedExtensionIds": ["x"]}, 400, "CMN-101", "removedExtensionIds"),
                 (path, {"addedExtensionIds": "101"}, 400, "CMN-101", "addedExtensionIds")]
        for p, body, status, code, param in cases:
            reply = self.api("POST", p, body)
            self.assertEqual((reply.status, reply.json["errorCode"],
                              reply.json["errors"][0]["parameterName"]),
                             (status, code, param), body)
        self.assertEqual(self.api("POST", path, b"[").json["errorCode"], "CMN-103")
        self.assertEqual(self.emu.state(), before)          # all or nothing

    def test_site_in_put_and_bulk_update(self):
        reply = self.api("PUT", ACCT + "/extension/101", {"site": {"id": "4001"}})
        self.assertEqual((reply.status, reply.json["site"]),
                         (200, {"id": "4001", "name": "Berlin"}))
        reply = self.api("PUT", ACCT + "/extension/101", {"site": {"id": "nope"}})
        self.assertEqual((reply.status, reply.json["errors"][0]["parameterName"]),
                         (404, "site.id"))
        results = BehaviourTests.bulk_results(self, [
            {"id": "102", "site": {"id": "5001"}},
            {"id": "103", "site": {"id": "9999"}},
            {"id": "104", "site": "5001"},
            {"id": "201", "site": {"id": "main-site"}}])
        self.assertEqual([(r["status"], (r.get("errors") or [{}])[0].get("parameterName"))
                          for r in results],
                         [("Success", None), ("Fail", "site.id"), ("Fail", "site"),
                          ("Success", None)])
        self.assertEqual(results[1]["errors"][0], {
            "errorCode": "CMN-102", "message": "Resource for parameter [site.id] is not found.",
            "parameterName": "site.id", "parameterValue": "9999"})
        self.assertEqual([self.site_of(i) for i in (101, 102, 103, 104, 201)],
                         ["4001", "5001", "main-site", "main-site", "main-site"])
        # A site change is a change: version and change feed.
        versions = {x["id"]: x["version"] for x in self.emu.state()["extensions"]}
        self.api("PUT", ACCT + "/extension/101", {"site": {"id": "4001"}})     # the same
        self.api("PUT", ACCT + "/extension/102", {"site": {"id": "4001"}})
        after = {x["id"]: x["version"] for x in self.emu.state()["extensions"]}
        self.assertEqual((after[101], after[102]), (versions[101], versions[102] + 1))


ROLES_SEED = {
    "roles": [{"id": "1", "displayName": "Super Admin"},
              {"id": "2", "displayName": "Standard"},
              {"id": "3", "displayName": "Phone Admin"}],
    "default_role": "2",
    "extensions": [{"id": 211, "extensionNumber": "211", "role": "1",
                    "contact": {"firstName": "Ada", "lastName": "Root",
                                "email": "ada@example.com"}}],
}
PERMISSION_ERROR = {
    "errorCode": "CMN-408",
    "message": "In order to call this API endpoint, application needs to have "
               "[RoleManagement] permission",
    "errors": [{"errorCode": "CMN-408",
                "message": "In order to call this API endpoint, application needs to have "
                           "[RoleManagement] permission",
                "permissionName": "RoleManagement"}],
    "permissionName": "RoleManagement"}


class RoleTests(EmuCase):
    """user-role, assigned-role, bulk-assign and the RoleManagement switch."""

    def setUp(self):
        super().setUp()
        self.emu.ctl("POST", "seed", ROLES_SEED)

    def roles_of(self, ext_id):
        reply = self.api("GET", ACCT + "/extension/%s/assigned-role" % ext_id)
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        return [r["id"] for r in reply.json["records"]]

    def test_lists(self):
        reply = self.api("GET", ACCT + "/user-role?perPage=2")
        self.assertStatus(reply, 200)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Medium")
        body = reply.json
        base = self.emu.base + ACCT + "/user-role/"
        self.assertEqual(body["records"], [
            {"uri": base + "1", "id": "1", "displayName": "Super Admin"},
            {"uri": base + "2", "id": "2", "displayName": "Standard"}])
        self.assertEqual((body["paging"]["totalElements"], body["paging"]["totalPages"]), (3, 2))
        self.assertIn("nextPage", body["navigation"])
        self.assertEqual(self.api("GET", ACCT + "/user-role?page=0").status, 400)
        reply = self.api("GET", ACCT + "/user-role/default")
        self.assertEqual((reply.status, reply.header("X-Rate-Limit-Group"), reply.json),
                         (200, "Light", {"uri": base + "2", "id": "2",
                                         "displayName": "Standard"}))
        # Every user has one role: the default unless seeded; others none.
        self.assertEqual(self.roles_of(211), ["1"])
        self.assertEqual(self.roles_of(101), ["2"])
        self.assertEqual(self.roles_of(102), ["2"])                 # Disabled: a user still
        unassigned = self.api("GET", ACCT + "/extension?status=Unassigned").json["records"][0]
        self.assertEqual(self.roles_of(unassigned["id"]), [])
        self.assertNotIn("roles", unassigned)
        self.assertStatus(self.api("GET", ACCT + "/extension/999/assigned-role"), 404)
        mine = self.api("GET", ACCT + "/extension/101/assigned-role").json
        self.assertEqual(mine, {"uri": self.emu.base + ACCT + "/extension/101/assigned-role",
                                "records": [{"uri": base + "2", "id": "2",
                                             "displayName": "Standard"}]})
        # The extension list and GET carry roles[] {uri, id} (the SDK's record has them).
        self.assertEqual(self.ext(211)["roles"], [{"uri": base + "1", "id": "1"}])
        listed = {r["id"]: r for r in self.api("GET", ACCT + "/extension").json["records"]}
        self.assertEqual(listed[101]["roles"], [{"uri": base + "2", "id": "2"}])
        # All users' roles, paged.
        reply = self.api("GET", ACCT + "/assigned-role?perPage=2&page=3")
        self.assertEqual((reply.status, reply.header("X-Rate-Limit-Group")), (200, "Medium"))
        self.assertEqual(reply.json["paging"]["totalElements"], 5)
        self.assertEqual(reply.json["records"], [{
            "uri": self.emu.base + ACCT + "/extension/211/assigned-role",
            "extensionId": "211", "roles": [{"uri": base + "1", "id": "1",
                                             "displayName": "Super Admin"}]}])
        self.assertEqual([x["roles"] for x in self.emu.state()["extensions"]
                          if x["id"] in (101, 211)], [["2"], ["1"]])

    def test_put_assigned_role(self):
        path = ACCT + "/extension/101/assigned-role"
        reply = self.api("PUT", path, {"records": [{"id": "3"}, {"id": "1"}, {"id": "3"}]})
        self.assertEqual((reply.status, reply.header("X-Rate-Limit-Group")), (200, "Medium"))
        self.assertEqual([r["id"] for r in reply.json["records"]], ["3", "1"])
        self.assertEqual(self.roles_of(101), ["3", "1"])
        before = self.emu.state()
        unassigned = self.api("GET", ACCT + "/extension?status=Unassigned").json["records"][0]
        cases = [(ACCT + "/extension/999/assigned-role", {"records": [{"id": "1"}]},
                  404, "CMN-102", "extensionId"),
                 (ACCT + "/extension/%d/assigned-role" % unassigned["id"],
                  {"records": [{"id": "1"}]}, 400, "CMN-101", "extensionId"),
                 (path, {"records": []}, 400, "CMN-101", "records"),
                 (path, {}, 400, "CMN-101", "records"),
                 (path, {"records": [{"id": 1}]}, 400, "CMN-101", "records.id"),
                 (path, {"records": [{"id": "9"}]}, 404, "CMN-102", "records.id")]
        for p, body, status, code, param in cases:
            reply = self.api("PUT", p, body)
            self.assertEqual((reply.status, reply.json["errorCode"],
                              reply.json["errors"][0]["parameterName"]),
                             (status, code, param), body)
        self.assertEqual(self.emu.state(), before)

    def test_bulk_assign(self):
        path = ACCT + "/user-role/3/bulk-assign"
        reply = self.api("POST", path, {"addedExtensionIds": ["101", 102, "211"]})
        self.assertEqual((reply.status, reply.body, reply.header("X-Rate-Limit-Group")),
                         (204, b"", "Heavy"))
        self.assertEqual([self.roles_of(i) for i in (101, 102, 211, 103)],
                         [["3"], ["3"], ["3"], ["2"]])
        self.assertStatus(self.api("POST", path, {"removedExtensionIds": ["101", "103"]}), 204)
        self.assertEqual((self.roles_of(101), self.roles_of(103)), (["2"], ["2"]))  # default
        # Added and removed in one call: removed first.
        self.assertStatus(self.api("POST", ACCT + "/user-role/1/bulk-assign", {
            "addedExtensionIds": ["104"], "removedExtensionIds": ["104"]}), 204)
        self.assertEqual(self.roles_of(104), ["1"])
        before = self.emu.state()
        unassigned = self.api("GET", ACCT + "/extension?status=Unassigned").json["records"][0]
        cases = [(ACCT + "/user-role/9/bulk-assign", {"addedExtensionIds": ["101"]},
                  404, "CMN-102", "roleId"),
                 (path, {"addedExtensionIds": ["101", "999"]}, 404, "CMN-102",
                  "addedExtensionIds"),
                 (path, {"addedExtensionIds": [str(unassigned["id"])]}, 400, "CMN-101",
                  "addedExtensionIds"),
                 (path, {"removedExtensionIds": {}}, 400, "CMN-101", "removedExtensionIds")]
        for p, body, status, code, param in cases:
            reply = self.api("POST", p, body)
            self.assertEqual((reply.status, reply.json["errorCode"],
                              reply.json["errors"][0]["parameterName"]),
                             (status, code, param), body)
        self.assertEqual(self.emu.state(), before)

    def test_bulk_limit_switch(self):
        path = ACCT + "/user-role/3/bulk-assign"
        body = {"addedExtensionIds": ["101", "102"], "removedExtensionIds": ["103"]}
        self.emu.ctl("POST", "behaviour", {"role_bulk_max": 2})
        before = self.emu.state()
        reply = self.api("POST", path, body)
        message = "Batch request is limited to 2 entries"
        self.assertEqual((reply.status, reply.json), (400, {
            "errorCode": "CMN-106", "message": message,
            "errors": [{"errorCode": "CMN-106", "message": message}]}))
        self.assertEqual(self.emu.state(), before)
        self.assertStatus(self.api("POST", path, {"addedExtensionIds": ["101", "102"]}), 204)
        self.emu.ctl("POST", "behaviour", {"role_bulk_max": 0})     # no limit
        body["addedExtensionIds"] = [str(i) for i in (101, 102, 103, 104, 211)] * 200
        self.assertStatus(self.api("POST", path, body), 204)
        self.emu.ctl("POST", "behaviour", {"role_bulk_max": -1}, expect=400)

    def test_role_permission_switch(self):
        self.emu.ctl("POST", "behaviour", {"role_permission": False})
        before = self.emu.state()
        writes = [("GET", ACCT + "/user-role/default", None, "Light"),
                  ("PUT", ACCT + "/extension/101/assigned-role", {"records": [{"id": "1"}]},
                   "Medium"),
                  ("PUT", ACCT + "/extension/999/assigned-role", {}, "Medium"),  # before 404
                  ("POST", ACCT + "/user-role/1/bulk-assign", {"addedExtensionIds": ["101"]},
                   "Heavy"),
                  ("POST", ACCT + "/user-role/9/bulk-assign", b"{", "Heavy")]
        for method, path, body, group in writes:
            reply = self.api(method, path, body)
            self.assertEqual((reply.status, reply.json, reply.header("X-Rate-Limit-Group")),
                             (403, PERMISSION_ERROR, group), path)
        self.assertEqual(self.emu.state(), before)
        # Reads that need only ReadAccounts still work.
        for path in ("/user-role", "/assigned-role", "/extension/101/assigned-role"):
            self.assertStatus(self.api("GET", ACCT + path), 200)
        self.emu.ctl("POST", "behaviour", {"role_permission": True})
        self.assertStatus(self.api("GET", ACCT + "/user-role/default"), 200)

    def test_created_users_hold_the_default_role(self):
        ext = self.api("POST", ACCT + "/extension", create_body("r1@example.com")).json
        self.assertEqual(self.roles_of(ext["id"]), ["2"])
        self.assertEqual([r["id"] for r in ext["roles"]], ["2"])
        scim = self.api("POST", "/scim/v2/Users", new_user("r2@example.com")).json
        self.assertEqual(self.roles_of(scim["id"]), ["2"])
        # A SCIM delete forgets the roles: the next user of the extension starts again.
        self.api("PUT", ACCT + "/extension/%s/assigned-role" % scim["id"],
                 {"records": [{"id": "3"}]})
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/" + scim["id"]), 204)
        self.assertEqual(self.roles_of(scim["id"]), [])
        again = self.api("POST", "/scim/v2/Users", new_user("r3@example.com")).json
        self.assertEqual((again["id"], self.roles_of(again["id"])), (scim["id"], ["2"]))

    def test_account_without_roles(self):
        self.emu.ctl("POST", "reset")
        self.emu.ctl("POST", "limits", HIGH_LIMITS)
        self.tok = self.emu.token()["access_token"]
        self.emu.ctl("POST", "seed", SEED)
        self.assertEqual(self.api("GET", ACCT + "/user-role").json["records"], [])
        reply = self.api("GET", ACCT + "/user-role/default")
        self.assertEqual((reply.status, reply.json["errorCode"]), (404, "CMN-102"))
        self.assertEqual(self.roles_of(101), [])
        self.assertNotIn("roles", self.ext(101))
        # Roles seeded later: the first is the default, for users seeded before.
        self.emu.ctl("POST", "seed", {"roles": [{"id": 5, "displayName": "User"},
                                                {"id": "6", "displayName": "Admin"}]})
        self.assertEqual(self.roles_of(101), ["5"])
        for bad in ({"roles": [{"id": "7"}]}, {"roles": [{"id": "5", "displayName": "X"}]},
                    {"default_role": "9"}, {"extensions": [{"role": "9"}]},
                    {"roles": {"id": "7"}}):
            self.emu.ctl("POST", "seed", bad, expect=400)
        self.emu.ctl("POST", "seed", {"default_role": 6})
        self.assertEqual(self.roles_of(101), ["6"])


FEATURE_ERROR = {"errorCode": "FeatureNotAvailable",
                 "message": "The requested feature is not available",
                 "errors": [{"errorCode": "FeatureNotAvailable",
                             "message": "The requested feature is not available"}]}


class CostCenterTests(EmuCase):
    """GET /restapi/v2/accounts/~/cost-centers and the feature switch."""

    PATH = "/restapi/v2/accounts/~/cost-centers"

    def test_list_and_feature(self):
        empty = self.api("GET", self.PATH)
        self.assertEqual((empty.status, empty.json, empty.header("X-Rate-Limit-Group")),
                         (200, {"records": []}, "Light"))
        self.emu.ctl("POST", "seed", SITES_SEED)
        self.assertEqual(self.api("GET", self.PATH).json, {"records": [
            {"id": 7, "name": "Sales", "billingCode": "BC-7"},
            {"id": 8, "name": "Sales EMEA", "parentId": 7}]})
        listed = {r["id"]: r for r in self.api("GET", ACCT + "/extension").json["records"]}
        self.assertEqual(listed[201]["costCenter"], {"id": "8", "name": "Sales EMEA"})
        self.assertNotIn("costCenter", listed[101])
        self.emu.ctl("POST", "behaviour", {"cost_center_feature": False})
        reply = self.api("GET", self.PATH)
        self.assertEqual((reply.status, reply.json, reply.header("X-Rate-Limit-Group")),
                         (403, FEATURE_ERROR, "Light"))
        before = self.emu.state()
        reply = self.api("POST", ACCT + "/extension",
                         create_body("cc@example.com", costCenter={"id": "7"}))
        self.assertEqual((reply.status, reply.json["errorCode"],
                          reply.json["errors"][0]["parameterName"]),
                         (403, "FeatureNotAvailable", "costCenter"))
        self.assertEqual(self.emu.state(), before)
        self.assertStatus(self.api("POST", ACCT + "/extension", create_body("cc@example.com")),
                          200)
        self.emu.ctl("POST", "behaviour", {"cost_center_feature": True})
        reply = self.api("POST", ACCT + "/extension",
                         create_body("cc2@example.com", costCenter={"id": "7"}))
        self.assertEqual((reply.status, reply.json["costCenter"]), (200, {"id": "7",
                                                                         "name": "Sales"}))

    def test_updates_take_no_cost_center(self):
        self.emu.ctl("POST", "seed", SITES_SEED)
        reply = self.api("PUT", ACCT + "/extension/201", {"costCenter": {"id": "7"}})
        self.assertEqual((reply.status, reply.json["costCenter"]["id"]), (200, "8"))


def batch_record(email, **extra):
    record = {"status": "Enabled",
              "contact": {"firstName": "Bo", "lastName": "Lind", "email": email}}
    record.update(extra)
    return record


class BatchTests(EmuCase):
    """POST /restapi/v2/accounts/~/batch-provisioning/users."""

    PATH = "/restapi/v2/accounts/~/batch-provisioning/users"

    def setUp(self):
        super().setUp()
        self.emu.ctl("POST", "seed", dict(SITES_SEED, **{
            k: v for k, v in ROLES_SEED.items() if k != "extensions"}))

    def batch(self, records, status=200):
        reply = self.api("POST", self.PATH, {"records": records})
        self.assertStatus(reply, status)
        self.assertEqual(reply.header("X-Rate-Limit-Group"), "Heavy")
        return reply.json

    def id_by_email(self, email):
        """What a client does to confirm a result: list the extensions by email."""
        records = self.api("GET", ACCT + "/extension?email=" + quote(email)).json["records"]
        return [r["id"] for r in records]

    def test_create_three(self):
        records = [
            batch_record("b1@example.com"),
            batch_record("b2@example.com", extensionNumber="7001", costCenter={"id": "7"},
                         roles=[{"id": "3"}], site={"id": "4001"},
                         devices=[{"deviceInfo": {"type": "OtherPhone",
                                                  "phoneInfo": {"phoneNumber": "+1"}}}]),
            {"contact": {"firstName": "Cy", "email": "b3@example.com",
                         "mobileNumber": "+14155550177", "emailAsLoginName": False}}]
        body = self.batch(records)
        self.assertEqual(set(body), {"results"})
        results = body["results"]
        self.assertEqual([set(r) for r in results], [{"successful", "extension"}] * 3)
        self.assertTrue(all(r["successful"] and r["extension"]["devices"] == []
                            for r in results))
        ids = [r["extension"]["id"] for r in results]
        self.assertTrue(all(isinstance(i, str) for i in ids))          # a string, as defined
        for i, record in enumerate(records):
            email = record["contact"]["email"]
            self.assertEqual(self.id_by_email(email), [int(ids[i])])
            self.assertEqual([u["id"] for u in self.scim_find('email eq "%s"' % email)
                              .json["Resources"]], [ids[i]])
        entries = {e["id"]: e for e in self.api("GET", ACCT + "/directory/entries")
                   .json["records"]}
        self.assertTrue(set(ids) <= set(entries))
        b2 = self.ext(ids[1])
        self.assertEqual((b2["extensionNumber"], b2["status"], b2["costCenter"],
                          [r["id"] for r in b2["roles"]], b2["site"]["id"]),
                         ("7001", "Enabled", {"id": "7", "name": "Sales"}, ["3"], "main-site"))
        b1, b3 = self.ext(ids[0]), self.ext(ids[2])
        self.assertEqual([r["id"] for r in b1["roles"]], ["2"])       # the default
        self.assertEqual(b3["contact"], {"firstName": "Cy", "email": "b3@example.com",
                                         "mobilePhone": "+14155550177"})
        self.assertEqual(b1["extensionNumber"], "105")                 # the lowest free
        self.assertEqual(len(self.api("GET", ACCT + "/extension?status=Unassigned")
                             .json["records"]), 3)                      # left (switch)
        log = [e for e in self.emu.ctl("GET", "log")["requests"] if e["path"] == self.PATH]
        self.assertEqual([(e["method"], e["group"], e["status"]) for e in log],
                         [("POST", "Heavy", 200)])

    def test_bad_records_fail_alone(self):
        long = "x" * 65
        bad = [
            (batch_record("e1@example.com", status="NotActivated"), "CMN-101", "status"),
            ({"status": "Enabled"}, "CMN-100", "contact.email"),
            ({"contact": "x"}, "CMN-101", "contact"),
            ({"contact": {"firstName": "A"}}, "CMN-100", "contact.email"),
            ({"contact": {"email": "e2@example.com"}}, "CMN-100", "contact.firstName"),
            (batch_record("not-an-email"), "CMN-101", "contact.email"),
            ({"contact": {"firstName": long, "email": "e3@example.com"}}, "CMN-101",
             "contact.firstName"),
            ({"contact": {"firstName": "A", "lastName": long, "email": "e4@example.com"}},
             "CMN-101", "contact.lastName"),
            (batch_record("e5" + "x" * 60 + "@example.com"), "CMN-101", "contact.email"),
        ]
        bad2 = [
            (batch_record("e6@example.com", contact={"firstName": "A", "email": "e6@example.com",
                                                     "mobileNumber": "555"}),
             "CMN-101", "contact.mobileNumber"),
            (batch_record("e7@example.com", extensionNumber="12"), "CMN-101", "extensionNumber"),
            (batch_record("e8@example.com", extensionNumber="123456"), "CMN-101",
             "extensionNumber"),                                       # over the account's 5
            (batch_record("e9@example.com", costCenter={"id": "99"}), "CMN-102", "costCenter.id"),
            (batch_record("e10@example.com", roles=[{"id": "1"}, {"id": "2"}]), "CMN-101",
             "roles"),
            (batch_record("e11@example.com", roles=[{"id": "9"}]), "CMN-102", "roles.id"),
            (batch_record("e12@example.com", devices=[{}, {}]), "CMN-101", "devices"),
            (batch_record("e13@example.com", devices=[{"deviceInfo": {"type": "HardPhone"}}]),
             "CMN-101", "devices.deviceInfo.type"),
            ("record", "CMN-101", "records"),
        ]
        for n, cases in enumerate((bad, bad2)):
            good = batch_record("good-%d@example.com" % n)
            results = self.batch([c[0] for c in cases] + [good])["results"]
            self.assertEqual([(r["successful"], r["errors"][0]["errorCode"],
                               r["errors"][0].get("parameterName")) for r in results[:-1]],
                             [(False, code, param) for _, code, param in cases])
            self.assertTrue(all(set(r) == {"successful", "errors"} for r in results[:-1]))
            self.assertTrue(results[-1]["successful"])
            self.assertEqual(len(self.id_by_email(good["contact"]["email"])), 1)
        self.assertEqual(self.id_by_email("e1@example.com"), [])
        results = self.batch([batch_record("e14@example.com", extensionNumber="12345678")])
        self.assertFalse(results["results"][0]["successful"])
        self.emu.ctl("POST", "seed", {"max_extension_length": 8})
        results = self.batch([batch_record("e14@example.com", extensionNumber="12345678")])
        self.assertTrue(results["results"][0]["successful"])

    def test_request_errors(self):
        before = self.emu.state()
        reply = self.api("POST", self.PATH, {"records": [batch_record(
            "t%d@example.com" % i) for i in range(11)]})
        message = "Batch request is limited to 10 entries"
        self.assertEqual((reply.status, reply.json), (400, {
            "errorCode": "CMN-106", "message": message,
            "errors": [{"errorCode": "CMN-106", "message": message}]}))
        for body in ({"records": []}, {"records": {}}, {}):
            reply = self.api("POST", self.PATH, body)
            self.assertEqual((reply.status, reply.json["errorCode"],
                              reply.json["errors"][0]["parameterName"]),
                             (400, "CMN-101", "records"))
        self.assertEqual(self.api("POST", self.PATH, b"{").json["errorCode"], "CMN-103")
        self.assertEqual(self.emu.state(), before)
        self.assertEqual(len(self.batch([batch_record("t%d@example.com" % i)
                                         for i in range(10)])["results"]), 10)

    def test_duplicates(self):
        results = self.batch([batch_record("ann.lee@example.com"),
                              batch_record("dupe@example.com"),
                              batch_record("DUPE@example.com"),
                              batch_record("n1@example.com", extensionNumber="101"),
                              batch_record("n2@example.com", extensionNumber="4000")])["results"]
        self.assertEqual([r["successful"] for r in results], [False, True, False, False, False])
        email_error = {"errorCode": "CMN-406",
                       "message": "Duplicate value for parameter [contact.email].",
                       "parameterName": "contact.email"}
        self.assertEqual(results[0]["errors"], [dict(email_error,
                                                     parameterValue="ann.lee@example.com")])
        self.assertEqual(results[2]["errors"], [dict(email_error,
                                                     parameterValue="DUPE@example.com")])
        self.assertEqual([(r["errors"][0]["errorCode"], r["errors"][0]["parameterName"])
                          for r in results[3:]], [("CMN-406", "extensionNumber")] * 2)
        self.emu.ctl("POST", "behaviour", {"duplicate_extension_code": "CMN-101"})
        results = self.batch([batch_record("n3@example.com", extensionNumber="101")])["results"]
        self.assertEqual(results[0]["errors"], [{
            "errorCode": "CMN-101", "message": "Parameter [extensionNumber] value is invalid.",
            "parameterName": "extensionNumber", "parameterValue": "101"}])

    def test_result_order_switch(self):
        emails = ["o%d@example.com" % i for i in range(4)]
        records = [batch_record(e) for e in emails]
        records[2]["contact"]["email"] = "ann.lee@example.com"          # fails
        same = self.batch(records)["results"]
        self.assertEqual([r["successful"] for r in same], [True, True, False, True])
        for i in (0, 1, 3):
            self.assertEqual(self.id_by_email(emails[i]), [int(same[i]["extension"]["id"])])
        self.emu.ctl("POST", "behaviour", {"batch_result_order": "reversed"})
        emails = ["r%d@example.com" % i for i in range(4)]
        records = [batch_record(e) for e in emails]
        records[0]["contact"]["email"] = "ann.lee@example.com"          # fails
        results = self.batch(records)["results"]
        self.assertEqual([r["successful"] for r in results], [True, True, True, False])
        # results[i] does not belong to records[i]: a client that pairs them by
        # position is wrong; listing by email confirms each created user.
        confirmed = {e: self.id_by_email(e) for e in emails[1:]}
        self.assertTrue(all(len(v) == 1 for v in confirmed.values()))
        self.assertEqual(sorted(int(r["extension"]["id"]) for r in results if r["successful"]),
                         sorted(v[0] for v in confirmed.values()))
        self.assertNotEqual(int(results[1]["extension"]["id"]), confirmed[emails[1]][0])
        self.assertEqual(self.id_by_email("r0@example.com"), [])
        self.emu.ctl("POST", "behaviour", {"batch_result_order": "random"}, expect=400)

    def test_uses_unassigned_switch(self):
        free = sorted((int(x["extensionNumber"]), x["id"]) for x in self.emu.state()["extensions"]
                      if x["status"] == "Unassigned")
        self.emu.ctl("POST", "behaviour", {"batch_create_uses_unassigned": True})
        results = self.batch([batch_record("f%d@example.com" % i) for i in range(4)])["results"]
        self.assertEqual([r["successful"] for r in results], [True, True, True, False])
        self.assertEqual([int(r["extension"]["id"]) for r in results[:3]], [i for _, i in free])
        self.assertEqual(results[3]["errors"], [{"errorCode": "EXT-402",
                                                 "message": "License limit has been reached."}])
        self.emu.ctl("POST", "behaviour", {"batch_create_uses_unassigned": False})
        self.assertTrue(self.batch([batch_record("f3@example.com")])["results"][0]["successful"])

    def test_cost_center_feature(self):
        self.emu.ctl("POST", "behaviour", {"cost_center_feature": False})
        results = self.batch([batch_record("c1@example.com", costCenter={"id": "7"}),
                              batch_record("c2@example.com")])["results"]
        self.assertEqual(results[0]["errors"], [{
            "errorCode": "FeatureNotAvailable",
            "message": "The requested feature is not available", "parameterName": "costCenter"}])
        self.assertTrue(results[1]["successful"])


def png_image(width=2, height=3, truncate=None):
    """A PNG signature, IHDR and IEND: enough for a header parse."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">II", width, height) + bytes([8, 6, 0, 0, 0])
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    return data[:truncate] if truncate else data


def jpeg_image(width=4, height=5):
    """SOI, APP0 (JFIF), SOF0 with the size, EOI: no pixels."""
    def segment(marker, data):
        return b"\xff" + bytes([marker]) + struct.pack(">H", 2 + len(data)) + data
    app0 = b"JFIF\0" + bytes([1, 1, 0, 0, 1, 0, 1, 0, 0])
    sof0 = bytes([8]) + struct.pack(">HH", height, width) + bytes([1, 1, 0x11, 0])
    return b"\xff\xd8" + segment(0xE0, app0) + segment(0xC0, sof0) + b"\xff\xd9"


def gif_image(width=6, height=7):
    return b"GIF89a" + struct.pack("<HH", width, height) + bytes([0, 0, 0]) + b";"


def bmp_image(width=8, height=9):
    """File header and BITMAPINFOHEADER (top-down: a negative height)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def form(parts, boundary="ringemu-test-7d1f", quoted=False, preamble=b""):
    """A multipart/form-data body and its Content-Type header, from parts
    (name, filename or None, Content-Type or None, data)."""
    delim, out = b"--" + boundary.encode(), [preamble]
    for name, filename, ctype, data in parts:
        head = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            head += '; filename="%s"' % filename
        if ctype is not None:
            head += "\r\nContent-Type: " + ctype
        out.append(delim + b"\r\n" + head.encode() + b"\r\n\r\n" + data + b"\r\n")
    out.append(delim + b"--\r\n")
    param = '"%s"' % boundary if quoted else boundary
    return b"".join(out), {"Content-Type": "multipart/form-data; boundary=" + param}


def image_summary(data, ctype, width, height, filename=None, declared=None):
    """An extension's profileImage in GET /_emu/state."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "type": ctype, "width": width,
            "height": height, "bytes": len(data), "filename": filename,
            "declaredType": declared}


class ProfileImageTests(EmuCase):
    """GET, PUT, POST, DELETE .../extension/{id}/profile-image."""

    PATH = ACCT + "/extension/%s/profile-image"

    def upload(self, ext_id, data, method="PUT", ctype="image/png", filename="me.png"):
        body, headers = form([("image", filename, ctype, data)])
        return self.api(method, self.PATH % ext_id, body, headers=headers)

    def unassigned_id(self):
        return self.api("GET", ACCT + "/extension?status=Unassigned").json["records"][0]["id"]

    def image_of(self, ext_id):
        return {e["id"]: e for e in self.emu.state()["extensions"]}[ext_id]["profileImage"]

    def error(self, reply, status, code):
        self.assertEqual((reply.status, reply.json["errorCode"],
                          reply.json["errors"][0]["errorCode"]), (status, code, code),
                         reply.body[:300])
        return reply.json

    def test_upload_each_type_get_and_delete(self):
        uri = self.emu.base + self.PATH % 101
        self.assertEqual(self.ext(101)["profileImage"], {"uri": uri})     # none yet
        cases = [(png_image(), "image/png", "image/png", 2, 3),
                 (jpeg_image(), "image/png", "image/jpeg", 4, 5),     # declared wrong
                 (gif_image(), "image/gif", "image/gif", 6, 7),
                 (bmp_image(), "image/bmp", "image/bmp", 8, 9)]
        for data, declared, ctype, width, height in cases:
            reply = self.upload(101, data, ctype=declared, filename="ann.img")
            self.assertEqual((reply.status, reply.body), (204, b""), ctype)
            got = self.api("GET", self.PATH % 101)
            self.assertEqual((got.status, got.header("Content-Type"), got.body),
                             (200, ctype, data))
            ref = self.ext(101)["profileImage"]
            self.assertEqual((ref["uri"], ref["etag"], ref["contentType"]),
                             (uri, hashlib.sha256(data).hexdigest(), ctype))
            self.assertRegex(ref["lastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            listed = {r["id"]: r for r in self.api("GET", ACCT + "/extension").json["records"]}
            self.assertEqual(listed[101]["profileImage"], ref)
            self.assertEqual(listed[102]["profileImage"], {"uri": self.emu.base +
                                                           self.PATH % 102})
            self.assertEqual(self.image_of(101),
                             image_summary(data, ctype, width, height, "ann.img", declared))
        reply = self.api("DELETE", self.PATH % 101)
        self.assertEqual((reply.status, reply.body), (204, b""))
        missing = self.api("GET", self.PATH % 101)
        self.assertEqual(missing.json, {
            "errorCode": "CMN-102", "message": "Resource for parameter [profileImage] is "
            "not found.", "errors": [{"errorCode": "CMN-102", "message": "Resource for "
                                      "parameter [profileImage] is not found.",
                                      "parameterName": "profileImage"}]})
        self.assertEqual(missing.status, 404)
        self.assertEqual(self.ext(101)["profileImage"], {"uri": uri})
        self.assertIsNone(self.image_of(101))
        self.assertStatus(self.api("DELETE", self.PATH % 101), 204)     # none: 204 too

    def test_post_uploads_too_and_groups(self):
        self.emu.ctl("DELETE", "log")
        for method in ("PUT", "POST"):
            reply = self.upload(102, png_image(), method)
            self.assertEqual((reply.status, reply.header("X-Rate-Limit-Group")),
                             (204, "Heavy"))
        self.assertEqual(self.api("GET", self.PATH % 102).header("X-Rate-Limit-Group"),
                         "Medium")
        self.assertEqual(self.api("DELETE", self.PATH % 102).header("X-Rate-Limit-Group"),
                         "Medium")
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual([(e["method"], e["path"], e["group"], e["status"]) for e in log],
                         [("PUT", self.PATH % 102, "Heavy", 204),
                          ("POST", self.PATH % 102, "Heavy", 204),
                          ("GET", self.PATH % 102, "Medium", 200),
                          ("DELETE", self.PATH % 102, "Medium", 204)])

    def test_errors(self):
        before = self.emu.state()
        self.assertEqual(self.error(self.upload(101, b"hello, world\n", ctype="image/png"),
                                    415, "ACT-330"),
                         {"errorCode": "ACT-330", "message": "Unsupported image type",
                          "errors": [{"errorCode": "ACT-330",
                                      "message": "Unsupported image type",
                                      "parameterName": "image"}]})
        self.assertEqual(self.error(self.upload(101, png_image(truncate=20)), 400, "ACT-331")
                         ["message"], "Invalid image")
        for data in (jpeg_image()[:-8], b"GIF89a\x01", bmp_image()[:30], b""):
            self.error(self.upload(101, data), 400, "ACT-331")
        body, headers = form([("file", "me.png", "image/png", png_image())])
        reply = self.api("PUT", self.PATH % 101, body, headers=headers)
        self.assertEqual(self.error(reply, 400, "ACT-331")["message"],
                         "Invalid image: the body needs one multipart/form-data part named "
                         "image")
        self.error(self.api("PUT", self.PATH % 101, {"image": "x"}), 400, "ACT-331")
        two = form([("image", "a.png", "image/png", png_image())] * 2)
        self.error(self.api("PUT", self.PATH % 101, two[0], headers=two[1]), 400, "ACT-331")
        body, headers = form([("image", "me.png", "image/png", png_image())])
        self.error(self.api("PUT", self.PATH % 101, body.replace(b"\r\n", b"\n"),
                            headers=headers), 400, "ACT-331")       # strict: CRLF
        self.error(self.api("PUT", self.PATH % 101, body[:-20], headers=headers), 400,
                   "ACT-331")                                       # no closing delimiter
        big = self.error(self.upload(101, png_image(5000, 3000)), 400, "ACT-334")
        self.assertEqual(big["errors"][0], {
            "errorCode": "ACT-334", "message": "Image resolution exceeds 12 megapixels",
            "parameterName": "image"})
        free = self.unassigned_id()
        for reply in (self.upload(free, png_image()), self.api("DELETE", self.PATH % free)):
            self.assertEqual(self.error(reply, 403, "ACT-332")["errors"][0], {
                "errorCode": "ACT-332", "message": "Unassigned extension cannot have a "
                "profile image", "parameterName": "extensionId", "parameterValue": str(free)})
        self.error(self.api("GET", self.PATH % free), 404, "CMN-102")
        for method in ("GET", "PUT", "DELETE"):
            reply = self.api(method, self.PATH % 999)
            self.assertEqual(self.error(reply, 404, "CMN-102")["errors"][0]["parameterName"],
                             "extensionId")
        huge = png_image() + b"\0" * (11 * 1024 * 1024)
        self.assertEqual(self.error(self.upload(101, huge), 413, "CMN-101")["message"],
                         "Request entity too large")
        self.assertEqual(self.emu.state(), before)
        self.assertStatus(self.upload(101, png_image(4000, 3000)), 204)   # 12 MP exactly
        nearly = png_image() + b"\0" * (10 * 1024 * 1024 - 400)
        self.assertStatus(self.upload(101, nearly), 204)      # under 10 MiB of body

    def test_multipart_framing(self):
        data = jpeg_image(640, 480)
        body, headers = form([("note", None, None, b"hi"),
                              ("image", "face.jpg", "image/jpeg", data)],
                             boundary="----=_Part:0 (x)", quoted=True,
                             preamble=b"a preamble\r\n")
        self.assertStatus(self.api("POST", self.PATH % 103, body, headers=headers), 204)
        self.assertEqual(self.image_of(103),
                         image_summary(data, "image/jpeg", 640, 480, "face.jpg", "image/jpeg"))
        body, headers = form([("image", None, None, png_image())])   # no filename, no type
        self.assertStatus(self.api("PUT", self.PATH % 103, body, headers=headers), 204)
        self.assertEqual(self.image_of(103), image_summary(png_image(), "image/png", 2, 3))

    def test_a_change_of_the_extension(self):
        def version():
            return {e["id"]: e for e in self.emu.state()["extensions"]}[101]["version"]
        v0, modified = version(), self.api("GET", "/scim/v2/Users/101").json["meta"]
        self.upload(101, png_image())
        self.assertEqual(version(), v0 + 1)
        ref = self.ext(101)["profileImage"]
        time.sleep(0.01)
        self.upload(101, png_image(), filename="again.png")     # the same bytes: no change
        self.assertEqual((version(), self.ext(101)["profileImage"]), (v0 + 1, ref))
        self.assertNotEqual(self.api("GET", "/scim/v2/Users/101").json["meta"]["lastModified"],
                            modified["lastModified"])
        self.api("DELETE", self.PATH % 101)
        self.assertEqual(version(), v0 + 2)
        self.upload(101, gif_image())
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/101"), 204)   # user deleted
        self.assertIsNone(self.image_of(101))

    def test_seed_and_control(self):
        data = jpeg_image(96, 96)
        b64 = base64.b64encode(data).decode()
        self.emu.ctl("POST", "seed", {"extensions": [
            {"id": 301, "extensionNumber": "301", "profileImage": {"base64": b64},
             "contact": {"firstName": "Pia", "lastName": "Dahl",
                         "email": "pia@example.com"}}]})
        self.assertEqual(self.image_of(301), image_summary(data, "image/jpeg", 96, 96))
        got = self.api("GET", self.PATH % 301)
        self.assertEqual((got.header("Content-Type"), got.body), ("image/jpeg", data))
        self.assertEqual(self.ext(301)["profileImage"]["etag"],
                         hashlib.sha256(data).hexdigest())
        before = self.emu.state()
        for image, status in (({"base64": "not base64!"}, "Enabled"),
                              ({"base64": base64.b64encode(b"text").decode()}, "Enabled"),
                              ({"base64": base64.b64encode(png_image(9000, 9000)).decode()},
                               "Enabled"),
                              (b64, "Enabled"), ({"base64": b64, "x": 1}, "Enabled"),
                              ({"base64": b64}, "Unassigned")):
            self.emu.ctl("POST", "seed", {"extensions": [
                {"id": 302, "extensionNumber": "302", "status": status,
                 "profileImage": image}]}, expect=400)
        self.assertEqual(self.emu.state(), before)
        # The control call sets or removes one without the rate limiter.
        gif = gif_image(32, 32)
        view = self.emu.ctl("POST", "extension/102", {
            "profileImage": {"base64": base64.b64encode(gif).decode()}})
        self.assertEqual(view["extension"]["profileImage"]["etag"],
                         hashlib.sha256(gif).hexdigest())
        self.assertEqual(self.image_of(102), image_summary(gif, "image/gif", 32, 32))
        self.emu.ctl("POST", "extension/102", {"profileImage": {"base64": "??"}}, expect=400)
        self.emu.ctl("POST", "extension/%d" % self.unassigned_id(),
                     {"profileImage": {"base64": b64}}, expect=409)
        self.emu.ctl("POST", "extension/102", {"profileImage": None})
        self.assertIsNone(self.image_of(102))

    def test_method_switch(self):
        self.emu.ctl("POST", "behaviour", {"profile_image_method": "post-only"})
        reply = self.upload(101, png_image(), "PUT")
        self.assertEqual((reply.status, reply.header("Allow"), reply.json["errorCode"],
                          reply.header("X-Rate-Limit-Group")),
                         (405, "DELETE, GET, POST", "AGW-405", "Medium"))
        self.assertStatus(self.upload(101, png_image(), "POST"), 204)
        self.emu.ctl("POST", "behaviour", {"profile_image_method": "put"})
        self.assertStatus(self.upload(101, gif_image(), "PUT"), 204)
        self.emu.ctl("POST", "behaviour", {"profile_image_method": "put-only"}, expect=400)


class RateLimitTests(EmuCase):
    args = ["--limits", "Light=3,Heavy=2", "--window", "2", "--penalty", "1",
            "--task-delay", "0"]

    def setUp(self):
        self.emu.ctl("POST", "reset")
        self.emu.ctl("POST", "limits", {"Light": 3, "Medium": 40, "Heavy": 2, "Auth": 5,
                                        "window": 2, "penalty": 1})
        self.emu.ctl("POST", "seed", SEED)
        self.tok = self.emu.token()["access_token"]

    def test_limit_penalty_and_window(self):
        path = "/scim/v2/Users/101"
        remaining = []
        for _ in range(3):
            reply = self.api("GET", path)
            self.assertStatus(reply, 200)
            self.assertEqual((reply.header("X-Rate-Limit-Limit"),
                              reply.header("X-Rate-Limit-Window")), ("3", "2"))
            remaining.append(reply.header("X-Rate-Limit-Remaining"))
        self.assertEqual(remaining, ["2", "1", "0"])
        over = self.api("GET", path)
        self.assertStatus(over, 429)
        self.assertEqual(over.header("Retry-After"), "1")
        self.assertEqual(over.json["errorCode"], "CMN-301")
        self.assertEqual(over.json["message"], "Request rate exceeded")
        self.assertEqual(over.header("X-Rate-Limit-Remaining"), "0")
        self.assertStatus(self.api("GET", "/scim/v2/Users"), 429)          # group blocked
        medium = self.api("GET", ACCT + "/extension")
        self.assertStatus(medium, 200)                                      # others are not
        self.assertEqual(medium.header("X-Rate-Limit-Limit"), "40")         # CLI default
        time.sleep(1.1)
        again = self.api("GET", path)
        self.assertStatus(again, 200)
        self.assertEqual(again.header("X-Rate-Limit-Remaining"), "2")
        self.api("GET", path)
        time.sleep(2.1)                                                     # window slides
        self.assertEqual(self.api("GET", path).header("X-Rate-Limit-Remaining"), "2")
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual([e["status"] for e in log if e["status"] == 429], [429, 429])

    def test_heavy_group_and_control_limits(self):
        user = new_user("h@example.com")
        self.assertStatus(self.api("POST", "/scim/v2/Users", user), 201)
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/102"), 204)
        self.assertStatus(self.api("POST", "/scim/v2/Users", new_user("i@example.com")), 429)
        config = self.emu.ctl("POST", "limits", {"Heavy": 5, "window": 4, "penalty": 3})
        self.assertEqual(config, {"Light": 3, "Medium": 40, "Heavy": 5, "Auth": 5,
                                  "window": 4, "penalty": 3})
        reply = self.api("POST", "/scim/v2/Users", new_user("i@example.com"))
        self.assertStatus(reply, 201)
        self.assertEqual((reply.header("X-Rate-Limit-Limit"),
                          reply.header("X-Rate-Limit-Window")), ("5", "4"))
        self.assertEqual(self.emu.ctl("GET", "limits")["Heavy"], 5)
        for bad in ({"Heavy": 0}, {"Bogus": 3}, {"window": "x"}):
            self.emu.ctl("POST", "limits", bad, expect=400)


# ---------------------------------------------------------------------------


class FaultTests(EmuCase):

    def fault(self, **spec):
        return self.emu.ctl("POST", "fault", spec)

    def test_503_with_prefix_and_count(self):
        self.fault(kind="503", count=2, path_prefix="/scim/v2/Users")
        self.assertStatus(self.api("GET", ACCT + "/extension"), 200)       # no match
        for _ in range(2):
            reply = self.api("GET", "/scim/v2/Users")
            self.assertStatus(reply, 503)
            self.assertEqual(reply.json["errorCode"], "CMN-201")
            self.assertEqual(reply.json["message"], "Service Temporarily Unavailable")
            self.assertEqual(reply.header("X-Rate-Limit-Group"), "Light")
        self.assertStatus(self.api("GET", "/scim/v2/Users"), 200)
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual([(e["status"], e["fault"]) for e in log[-4:]],
                         [(200, None), (503, "503"), (503, "503"), (200, None)])

    def test_500_nonjson_429(self):
        self.fault(kind="500")
        reply = self.api("GET", "/scim/v2/Users")
        self.assertStatus(reply, 500)
        self.assertIn("errorCode", reply.json)
        self.fault(kind="nonjson")
        reply = self.api("GET", "/scim/v2/Users")
        self.assertStatus(reply, 200)
        self.assertTrue(reply.header("Content-Type").startswith("text/html"))
        self.assertRaises(ValueError, lambda: reply.json)
        self.fault(kind="429")
        reply = self.api("GET", "/scim/v2/Users")
        self.assertEqual((reply.status, reply.header("Retry-After")), (429, "2"))
        self.assertEqual(reply.json["errorCode"], "CMN-301")
        self.fault(kind="429", delay=7)
        self.assertEqual(self.api("GET", "/scim/v2/Users").header("Retry-After"), "7")
        self.assertStatus(self.api("GET", "/scim/v2/Users"), 200)

    def test_fault_on_token_endpoint(self):
        self.fault(kind="503", path_prefix="/restapi/oauth/token")
        form = {"grant_type": GRANT_JWT, "assertion": JWT}
        self.assertStatus(self.emu.oauth("/restapi/oauth/token", form), 503)
        self.assertStatus(self.emu.oauth("/restapi/oauth/token", form), 200)

    def test_delay(self):
        self.fault(kind="delay", delay=0.5, path_prefix=ACCT)
        started = time.monotonic()
        reply = self.api("GET", ACCT + "/extension/101")
        self.assertStatus(reply, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        self.assertEqual(self.emu.ctl("GET", "log")["requests"][-1]["fault"], "delay")

    def test_log_time_is_arrival(self):
        # arrival (and t) is when the rate limiter counted a request, seq
        # when it was answered; t has a millisecond resolution and may tie
        self.fault(kind="delay", delay=0.6, path_prefix=ACCT + "/extension/101")
        slow = threading.Thread(target=self.api, args=("GET", ACCT + "/extension/101"))
        slow.start()
        deadline = time.monotonic() + 10
        while self.emu.ctl("GET", "fault")["faults"] and time.monotonic() < deadline:
            time.sleep(0.01)        # poll: the fault is taken when it arrives
        self.assertStatus(self.api("GET", ACCT + "/extension/101"), 200)
        slow.join(10)
        fast, delayed = self.emu.ctl("GET", "log")["requests"][-2:]
        self.assertEqual((fast["fault"], delayed["fault"]), (None, "delay"))
        self.assertLess(fast["seq"], delayed["seq"])
        self.assertLess(delayed["arrival"], fast["arrival"])
        self.assertLessEqual(delayed["t"], fast["t"])

    def test_reset(self):
        before = self.emu.state()
        self.fault(kind="reset", path_prefix="/scim/v2/Users")
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.api("POST", "/scim/v2/Users", new_user("r@example.com"))
        self.assertEqual(self.emu.state(), before)          # not processed
        entry = self.emu.ctl("GET", "log")["requests"][-1]
        self.assertEqual((entry["status"], entry["fault"]), (0, "reset"))
        self.assertStatus(self.api("POST", "/scim/v2/Users", new_user("r@example.com")), 201)

    def test_truncated(self):
        self.fault(kind="truncated", path_prefix="/scim/v2/Users")
        conn = self.emu.conn()
        conn.request("POST", "/scim/v2/Users", json.dumps(new_user("t@example.com")),
                     {"Authorization": "Bearer " + self.tok})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 201)
        declared = int(resp.getheader("Content-Length"))
        with self.assertRaises(http.client.IncompleteRead) as caught:
            resp.read()
        self.assertLess(len(caught.exception.partial), declared)
        conn.close()
        # The request itself was processed: only the response was cut.
        found = self.scim_find('userName eq "t@example.com"').json
        self.assertEqual(found["totalResults"], 1)

    def test_list_and_clear(self):
        self.fault(kind="503", count=5)
        self.assertEqual(self.emu.ctl("GET", "fault")["faults"][0]["count"], 5)
        self.emu.ctl("DELETE", "fault")
        self.assertEqual(self.emu.ctl("GET", "fault")["faults"], [])
        self.assertStatus(self.api("GET", "/scim/v2/Users"), 200)
        for bad in ({"kind": "boom"}, {"kind": "503", "count": 0},
                    {"kind": "delay", "delay": -1}, {"kind": "503", "path_prefix": 5}):
            self.emu.ctl("POST", "fault", bad, expect=400)


# ---------------------------------------------------------------------------


class BehaviourTests(EmuCase):
    """POST /_emu/behaviour: the switches between behaviours the platform's
    definitions allow, and the redirect fault."""

    def test_switches_validated_and_reset(self):
        self.assertEqual(self.emu.ctl("GET", "behaviour"),
                         {"cmn101_status": 400, "empty_paging": "full", "bulk_ids": "string",
                          "bulk_result_ids": "string", "state_mandatory": False,
                          "scim_ids": "same", "directory_per_page": 1000,
                          "refresh_ttl_app": 0, "session_limit": 0,
                          "ws_permission": True, "ws_recovery": "success",
                          "directory_events": True, "ext_event_shape": "flat",
                          "duplicate_extension_code": "CMN-406",
                          "v1_create_uses_unassigned": False, "role_permission": True,
                          "role_bulk_max": 0, "cost_center_feature": True,
                          "batch_create_uses_unassigned": False,
                          "batch_result_order": "same", "profile_image_method": "put"})
        for bad in ({"cmn101_status": 401}, {"empty_paging": "x"}, {"nope": 1},
                    {"ws_recovery": "maybe"}, {"directory_events": "yes"},
                    {"state_mandatory": 1}, {"cmn101_status": "400"},
                    {"refresh_ttl_app": -1}, {"bulk_ids": "any", "cmn101_status": True},
                    {"scim_ids": "other"}, {"scim_ids": 1}):
            self.emu.ctl("POST", "behaviour", bad, expect=400)
        self.assertEqual(self.emu.ctl("GET", "behaviour")["bulk_ids"], "string")
        answer = self.emu.ctl("POST", "behaviour", {"cmn101_status": 403})
        self.assertEqual((answer["ok"], answer["behaviour"]["cmn101_status"]), (True, 403))
        self.emu.ctl("POST", "reset")
        self.assertEqual(self.emu.ctl("GET", "behaviour")["cmn101_status"], 400)

    def test_cmn101_as_403(self):
        body = {"contact": {"businessAddress": {"state": "Calif.", "country": "US"}}}
        for status in (400, 403):
            self.emu.ctl("POST", "behaviour", {"cmn101_status": status})
            reply = self.api("PUT", ACCT + "/extension/101", body)
            self.assertEqual((reply.status, reply.json), (status, STATE_ERROR_REST))
            reply = self.api("GET", ACCT + "/extension?status=Bogus")
            self.assertEqual((reply.status, reply.json["errorCode"]), (status, "CMN-101"))
        # other errors keep their status, the token endpoint its 400
        self.assertStatus(self.api("PUT", ACCT + "/extension/101", b"{"), 400)
        reply = self.emu.oauth("/restapi/oauth/token", {"grant_type": GRANT_JWT})
        self.assertEqual((reply.status, reply.json["errors"][0]["errorCode"]),
                         (400, "CMN-101"))

    def test_state_mandatory(self):
        body = {"contact": {"businessAddress": {"city": "Leeds", "country": "UK"}}}
        self.assertStatus(self.api("PUT", ACCT + "/extension/102", body), 200)
        self.emu.ctl("POST", "behaviour", {"state_mandatory": True})
        body["contact"]["businessAddress"]["city"] = "York"
        reply = self.api("PUT", ACCT + "/extension/102", body)
        self.assertEqual((reply.status, reply.json["errorCode"],
                          reply.json["errors"][0]["parameterName"]),
                         (400, "CMN-100", "contact.businessAddress.state"))
        self.assertEqual(reply.json["message"],
                         "Mandatory parameter [contact.businessAddress.state] not specified.")
        # elsewhere, or with a state, or unchanged: accepted
        for addr in ({"city": "Paris", "country": "France"},
                     {"city": "Austin", "state": "TX", "country": "US"}):
            reply = self.api("PUT", ACCT + "/extension/102", {"contact": {"businessAddress": addr}})
            self.assertStatus(reply, 200)
        self.assertStatus(self.api("PUT", ACCT + "/extension/102",
                                   {"contact": {"department": "Ops"}}), 200)

    def test_empty_paging(self):
        path = ACCT + "/extension?type=Department"            # no such extension
        full = self.api("GET", path).json
        self.assertEqual((full["records"], full["paging"]["page"],
                          full["paging"]["totalPages"]), ([], 1, 0))
        self.emu.ctl("POST", "behaviour", {"empty_paging": "no-fields"})
        bare = self.api("GET", path).json
        self.assertEqual(bare["paging"], {"perPage": 100})
        self.assertNotIn("nextPage", bare["navigation"])
        # a page with records keeps every field
        self.assertEqual(self.api("GET", ACCT + "/extension?perPage=2").json["paging"]["page"], 1)
        self.emu.ctl("POST", "behaviour", {"empty_paging": "none"})
        for p in (path, ACCT + "/phone-number?usageType=ForwardedNumber",
                  ACCT + "/extension/103/phone-number"):
            body = self.api("GET", p).json
            self.assertEqual((body["records"], "paging" in body, "navigation" in body),
                             ([], False, False))

    def test_bulk_ids(self):
        path = ACCT + "/extension-bulk-update"
        reply = self.api("POST", path, {"records": [{"id": "101", "status": "Enabled"},
                                                   {"id": 102, "status": "Enabled"}]})
        self.assertStatus(reply, 400)
        self.assertEqual(reply.json["errors"][0]["parameterName"], "records.id")
        self.assertEqual(self.emu.state()["tasks"], [])
        self.emu.ctl("POST", "behaviour", {"bulk_ids": "any", "bulk_result_ids": "number"})
        reply = self.api("POST", path, {"records": [{"id": "101", "status": "Enabled"},
                                                   {"id": 102, "status": "Enabled"}]})
        self.assertStatus(reply, 202)
        task = ACCT + "/extension-bulk-update/tasks/" + reply.json["id"]
        deadline = time.monotonic() + 10
        while self.api("GET", task).json["status"] != "Completed":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        items = self.api("GET", task).json["result"]["affectedItems"]["result"]
        self.assertEqual([i["extensionId"] for i in items], [101, 102])

    def bulk_results(self, records):
        reply = self.api("POST", ACCT + "/extension-bulk-update", {"records": records})
        self.assertStatus(reply, 202)
        task = ACCT + "/extension-bulk-update/tasks/" + reply.json["id"]
        deadline = time.monotonic() + 10
        while self.api("GET", task).json["status"] != "Completed":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        return self.api("GET", task).json["result"]["affectedItems"]["result"]

    def test_scim_ids_same(self):
        state = self.emu.state()
        self.assertEqual([x["scimId"] for x in state["extensions"]],
                         [str(x["id"]) for x in state["extensions"]])
        self.assertEqual([u["id"] for u in state["scim_users"]], ["101", "102", "103", "104"])
        ann = self.scim_find('email eq "ann.lee@example.com"').json["Resources"][0]
        self.assertEqual((ann["id"], ann["meta"]["location"]),
                         ("101", self.emu.base + "/scim/v2/Users/101"))
        created = self.api("POST", "/scim/v2/Users", new_user("same@example.com"))
        self.assertStatus(created, 201)
        self.assertEqual(created.json["id"], str(self.ext(created.json["id"])["id"]))

    def test_scim_ids_distinct(self):
        big = 10 ** 18
        sid = lambda ext_id: str(big + ext_id)
        self.emu.ctl("POST", "behaviour", {"scim_ids": "distinct"})
        state = self.emu.state()
        self.assertEqual([x["scimId"] for x in state["extensions"]],
                         [sid(x["id"]) for x in state["extensions"]])
        self.assertEqual([u["id"] for u in state["scim_users"]],
                         [sid(i) for i in (101, 102, 103, 104)])
        ann = sid(101)
        self.assertEqual(ann, "1000000000000000101")
        # search, GET and POST .search
        found = self.scim_find('email eq "ann.lee@example.com"').json["Resources"][0]
        self.assertEqual((found["id"], found["meta"]["location"]),
                         (ann, self.emu.base + "/scim/v2/Users/" + ann))
        listed = self.api("GET", "/scim/v2/Users").json["Resources"]
        self.assertEqual([u["id"] for u in listed], [sid(i) for i in (101, 102, 103, 104)])
        body = {"filter": 'userName eq "bob.ray@example.com"'}
        self.assertEqual(self.api("POST", "/scim/v2/Users/.search", body).json["Resources"][0]
                         ["id"], sid(102))
        got = self.api("GET", "/scim/v2/Users/" + ann)
        self.assertStatus(got, 200)
        self.assertEqual((got.json["id"], got.json["userName"]), (ann, "ann.lee@example.com"))
        # an extension id on a SCIM path: the SCIM 404, nothing changes
        before = self.emu.state()
        ops = {"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}
        for method, body in (("GET", None), ("PATCH", ops),
                             ("PUT", new_user("ann.lee@example.com")), ("DELETE", None)):
            reply = self.api(method, "/scim/v2/Users/101", body)
            self.assertStatus(reply, 404)
            self.assertEqual(reply.json, {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "404",
                "detail": "Resource for parameter [id] is not found."})
        self.assertEqual(self.emu.state(), before)
        # PATCH and PUT by SCIM id act on that user's extension
        patched = self.api("PATCH", "/scim/v2/Users/" + ann, ops)
        self.assertStatus(patched, 200)
        self.assertEqual((patched.json["id"], patched.json["meta"]["location"]),
                         (ann, self.emu.base + "/scim/v2/Users/" + ann))
        self.assertEqual(self.ext(101)["contact"]["jobTitle"], "Boss")
        put = self.api("PUT", "/scim/v2/Users/" + sid(102),
                       new_user("bob.ray@example.com", given="Robert", family="Ray"))
        self.assertStatus(put, 200)
        self.assertEqual(put.json["id"], sid(102))
        self.assertEqual(self.ext(102)["contact"]["firstName"], "Robert")
        # create: the id is the new extension's SCIM id, in Location too
        created = self.api("POST", "/scim/v2/Users", new_user("new@example.com"))
        self.assertStatus(created, 201)
        new_id = created.json["id"]
        self.assertEqual(created.header("Location"), self.emu.base + "/scim/v2/Users/" + new_id)
        row = [x for x in self.emu.state()["extensions"] if x["scimId"] == new_id]
        self.assertEqual(len(row), 1)
        self.assertEqual((row[0]["contact"]["email"], row[0]["extensionNumber"], new_id),
                         ("new@example.com", "1000", sid(row[0]["id"])))
        self.assertEqual(self.api("GET", "/scim/v2/Users/" + new_id).json["userName"],
                         "new@example.com")
        # a SCIM id on REST paths: the REST not-found
        for method, path, body in (("GET", "/extension/%s", None),
                                   ("GET", "/extension/%s/phone-number", None),
                                   ("PUT", "/extension/%s", {"status": "Disabled"})):
            reply = self.api(method, ACCT + path % ann, body)
            self.assertStatus(reply, 404)
            self.assertEqual((reply.json["errorCode"], reply.json["errors"][0]["parameterName"]),
                             ("CMN-102", "extensionId"))
        # ... and as a bulk-update record id: that record fails, the others apply
        results = self.bulk_results([{"id": ann, "status": "Disabled"},
                                     {"id": "102", "status": "Disabled"}])
        self.assertEqual([(r["extensionId"], r["status"]) for r in results],
                         [(ann, "Fail"), ("102", "Success")])
        self.assertEqual(results[0]["errors"][0]["errorCode"], "CMN-102")
        self.assertEqual((self.ext(101)["status"], self.ext(102)["status"]),
                         ("Enabled", "Disabled"))
        self.emu.ctl("POST", "behaviour", {"bulk_ids": "any", "bulk_result_ids": "number"})
        results = self.bulk_results([{"id": int(ann), "status": "Disabled"}])
        self.assertEqual([(r["extensionId"], r["status"], r["errors"][0]["errorCode"])
                          for r in results], [(int(ann), "Fail", "CMN-102")])
        # DELETE by SCIM id
        self.assertStatus(self.api("DELETE", "/scim/v2/Users/" + new_id), 204)
        self.assertStatus(self.api("GET", "/scim/v2/Users/" + new_id), 404)
        self.assertEqual(self.ext(row[0]["id"])["status"], "Unassigned")
        # back to "same": the same users, under their extension ids
        self.emu.ctl("POST", "behaviour", {"scim_ids": "same"})
        self.assertStatus(self.api("GET", "/scim/v2/Users/" + ann), 404)
        self.assertEqual(self.api("GET", "/scim/v2/Users/101").json["title"], "Boss")
        self.assertEqual([u["id"] for u in self.emu.state()["scim_users"]],
                         ["101", "102", "103", "104"])

    def test_scim_id_never_an_extension_id(self):
        self.emu.ctl("POST", "behaviour", {"scim_ids": "distinct"})
        self.emu.ctl("POST", "seed", {"extensions": [
            {"id": 1, "extensionNumber": "1"}, {"extensionNumber": "2"},
            {"id": 10 ** 18 - 2, "extensionNumber": "3"}]})
        self.emu.ctl("POST", "seed", {"free_extensions": {"count": 1, "start": 4}})
        for bad in (10 ** 18, str(10 ** 18 + 101), 0):
            self.emu.ctl("POST", "seed", {"extensions": [{"id": bad}]}, expect=400)
        self.emu.ctl("POST", "seed", {"free_extensions": {"count": 1, "start": 5}}, expect=400)
        exts = self.emu.state()["extensions"]
        ids = {str(x["id"]) for x in exts}
        scim = {x["scimId"] for x in exts}
        self.assertIn(str(10 ** 18 - 1), ids)           # the last id there is
        self.assertEqual((len(ids), len(scim), ids & scim), (11, 11, set()))
        for value in scim:                              # strtoll reads every one
            self.assertTrue(value.isdigit() and 10 ** 18 < int(value) < 2 ** 63, value)
            reply = self.api("GET", ACCT + "/extension/" + value)
            self.assertEqual((reply.status, reply.json["errorCode"]), (404, "CMN-102"))

    def test_refresh_ttl_app(self):
        self.assertEqual(self.emu.token(refresh_token_ttl="2592000")["refresh_token_expires_in"],
                         2592000)
        self.emu.ctl("POST", "behaviour", {"refresh_ttl_app": 604800})
        for asked, given in (("2592000", 604800), ("86400", 86400)):
            body = self.emu.token(refresh_token_ttl=asked)
            self.assertEqual(body["refresh_token_expires_in"], given)

    def test_session_limit(self):
        self.emu.ctl("POST", "reset")
        tokens = [self.emu.token() for _ in range(3)]
        self.assertEqual(len(self.emu.ctl("GET", "sessions")["sessions"]), 3)
        self.emu.ctl("POST", "behaviour", {"session_limit": 2})
        tokens.append(self.emu.token())             # the oldest two end
        sessions = self.emu.ctl("GET", "sessions")["sessions"]
        self.assertEqual(sessions, [tokens[2]["session_id"], tokens[3]["session_id"]])
        path = ACCT + "/custom-fields"
        self.assertStatus(self.api("GET", path, token=tokens[0]["access_token"]), 401)
        self.assertStatus(self.api("GET", path, token=tokens[3]["access_token"]), 200)
        # a refresh keeps its session: no other one ends
        form = {"grant_type": "refresh_token", "refresh_token": tokens[2]["refresh_token"]}
        self.assertStatus(self.emu.oauth("/restapi/oauth/token", form), 200)
        self.assertEqual(self.emu.ctl("GET", "sessions")["sessions"], sessions)
        # revoking ends one
        reply = self.emu.oauth("/restapi/oauth/revoke", {"token": tokens[3]["refresh_token"]})
        self.assertStatus(reply, 200)
        self.assertEqual(self.emu.ctl("GET", "sessions")["sessions"], sessions[:1])

    def test_redirect_fault(self):
        for bad in ({"kind": "redirect", "status": 304}, {"kind": "redirect", "location": "x"}):
            self.emu.ctl("POST", "fault", bad, expect=400)
        self.emu.ctl("POST", "fault", {"kind": "redirect", "count": 1,
                                       "path_prefix": ACCT + "/extension/"})
        path = ACCT + "/extension/101?x=1"
        moved = self.api("GET", path)
        self.assertEqual((moved.status, moved.header("Location")),
                         (307, "http://127.0.0.1:%d%s" % (self.emu.port, path)))
        self.assertStatus(self.api("GET", path), 200)
        other = "http://localhost:%d" % self.emu.port
        self.emu.ctl("POST", "fault", {"kind": "redirect", "status": 308, "location": other})
        moved = self.api("POST", ACCT + "/extension-bulk-update", {"records": [{"id": "101"}]})
        self.assertEqual((moved.status, moved.header("Location")),
                         (308, other + ACCT + "/extension-bulk-update"))
        self.assertEqual(self.emu.state()["tasks"], [])           # not processed
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual(log[-1]["fault"], "redirect")

    def test_cmn101_fault(self):
        self.emu.ctl("POST", "fault", {"kind": "cmn101", "param": ""}, expect=400)
        self.emu.ctl("POST", "fault", {"kind": "cmn101", "count": 1,
                                       "path_prefix": ACCT + "/extension-bulk-update"})
        bad = self.api("POST", ACCT + "/extension-bulk-update", {"records": [{"id": "101"}]})
        self.assertEqual((bad.status, bad.json["errorCode"],
                          bad.json["errors"][0]["parameterName"]),
                         (400, "CMN-101", "contact.department"))
        self.assertEqual(self.emu.state()["tasks"], [])           # not processed
        self.emu.ctl("POST", "behaviour", {"cmn101_status": 403})
        self.emu.ctl("POST", "fault", {"kind": "cmn101", "param": "contact.jobTitle"})
        bad = self.api("GET", ACCT + "/extension")
        self.assertEqual((bad.status, bad.json["errors"][0]["parameterName"]),
                         (403, "contact.jobTitle"))
        self.assertStatus(self.api("GET", ACCT + "/extension"), 200)


class ControlTests(EmuCase):

    def test_health(self):
        self.assertEqual(self.emu.ctl("GET", "health"), {"ok": True})
        self.assertEqual(self.emu.request("GET", "/_emu/nothing").status, 404)

    def test_state_is_deterministic(self):
        first = self.emu.request("GET", "/_emu/state").body
        self.api("GET", ACCT + "/extension")
        self.api("GET", "/scim/v2/Users")
        self.assertEqual(self.emu.request("GET", "/_emu/state").body, first)
        state = json.loads(first)
        self.assertEqual(set(state), {"extensions", "numbers", "custom_fields", "tasks",
                                      "scim_users", "sites", "cost_centers",
                                      "max_extension_length", "roles", "default_role"})
        self.assertEqual([u["id"] for u in state["scim_users"]], ["101", "102", "103", "104"])
        ext = state["extensions"][0]
        self.assertEqual((ext["id"], ext["directNumbers"], ext["customFields"]),
                         (101, ["+16505550101", "+16505550102"], [{"id": "1", "value": "CC-1"}]))
        body = {"contact": {"department": "Eng"}}
        self.api("PUT", ACCT + "/extension/101", body)
        self.api("PUT", ACCT + "/extension/101", body)          # no change, no new version
        after = self.emu.state()["extensions"][0]
        self.assertEqual((after["version"], after["contact"]["department"]),
                         (ext["version"] + 1, "Eng"))

    def test_log(self):
        self.emu.ctl("DELETE", "log")
        self.api("GET", ACCT + "/extension?perPage=5")
        self.api("GET", "/scim/v2/Users/999")
        self.emu.ctl("GET", "state")                            # control calls: not logged
        self.api("PUT", ACCT + "/extension/101", {"contact": {"department": "Secret"}})
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual(len(log), 3)
        self.assertEqual(set(log[0]), {"seq", "arrival", "t", "method", "path", "query", "host",
                                       "group", "status", "fault"})
        self.assertEqual(log[0]["host"], "127.0.0.1:%d" % self.emu.port)
        self.assertEqual([(e["method"], e["path"], e["query"], e["group"], e["status"])
                          for e in log],
                         [("GET", ACCT + "/extension", "perPage=5", "Medium", 200),
                          ("GET", "/scim/v2/Users/999", "", "Light", 404),
                          ("PUT", ACCT + "/extension/101", "", "Medium", 200)])
        since = self.emu.ctl("GET", "log?since=%d" % log[0]["seq"])["requests"]
        self.assertEqual([e["seq"] for e in since], [log[1]["seq"], log[2]["seq"]])
        text = json.dumps(log)
        self.assertNotIn(self.tok, text)
        self.assertNotIn("Secret", text)
        self.emu.ctl("GET", "log?since=x", expect=400)

    def test_extension_control(self):
        reply = self.emu.ctl("POST", "extension/101", {
            "extensionNumber": "150", "directNumbers": ["+16505559999", "+16505550102"]})
        self.assertEqual(reply["directNumbers"], ["+16505559999", "+16505550102"])
        ext = self.ext(101)
        self.assertEqual(ext["extensionNumber"], "150")
        nums = self.api("GET", ACCT + "/extension/101/phone-number").json["records"]
        self.assertEqual([(n["phoneNumber"], n["primary"]) for n in nums],
                         [("+16505559999", True), ("+16505550102", False)])
        numbers = {n["phoneNumber"]: n for n in self.emu.state()["numbers"]}
        self.assertEqual(numbers["+16505550101"]["usageType"], "Inventory")
        self.emu.ctl("POST", "extension/101", {"directNumbers": ["+16505550201"]})
        self.assertEqual(self.api("GET", ACCT + "/extension/102/phone-number").json["records"],
                         [])
        self.emu.ctl("POST", "extension/101", {"extensionNumber": "102"}, expect=409)
        self.emu.ctl("POST", "extension/999", {"extensionNumber": "5"}, expect=404)
        self.emu.ctl("POST", "extension/101", {"directNumbers": ["6505550000"]}, expect=400)
        # The same view without a rate limit or a log entry.
        self.emu.ctl("DELETE", "log")
        view = self.emu.ctl("GET", "extension/101")
        self.assertEqual(view["extension"], self.ext(101))
        self.assertEqual(view["directNumbers"], ["+16505550201"])
        self.assertEqual(len(self.emu.ctl("GET", "log")["requests"]), 1)    # self.ext's
        self.emu.ctl("GET", "extension/999", expect=404)

    def test_seed_and_reset(self):
        before = self.emu.state()
        self.emu.ctl("POST", "seed", {"extensions": [{"id": 101, "extensionNumber": "900"}]},
                     expect=400)
        self.emu.ctl("POST", "seed", {"numbers": [{"phoneNumber": "+16505550101"}]},
                     expect=400)
        self.emu.ctl("POST", "seed", {"bogus": 1}, expect=400)
        self.emu.request("POST", "/_emu/seed", b"{bad")
        self.assertEqual(self.emu.state(), before)
        added = self.emu.ctl("POST", "seed", {"extensions": [
            {"extensionNumber": "200", "contact": {"firstName": "Zed", "lastName": "Q",
                                                   "email": "zed@example.com"}}]})
        self.assertEqual(added["extensions"], 8)
        zed = self.scim_find('email eq "zed@example.com"').json["Resources"][0]
        self.assertGreater(int(zed["id"]), 2 ** 31)       # auto ids need 64 bits
        self.emu.ctl("POST", "reset")
        state = self.emu.state()
        self.assertEqual((state["extensions"], state["numbers"]), ([], []))
        self.assertEqual(self.emu.ctl("GET", "log")["requests"], [])
        self.assertStatus(self.api("GET", "/scim/v2/Users"), 401)     # tokens are gone


# ---------------------------------------------------------------------------


class RobustnessTests(EmuCase):

    def test_keep_alive(self):
        conn = self.emu.conn()
        statuses = []
        for method, path, body, token in [
                ("GET", "/scim/v2/Users", None, self.tok),
                ("GET", "/scim/v2/Users", None, None),
                ("GET", ACCT + "/nothing", None, self.tok),
                ("PUT", ACCT + "/extension/101", b"{bad", self.tok),
                ("DELETE", "/scim/v2/Users/104", None, self.tok),
                ("GET", "/restapi/oauth/authorize?response_type=code&client_id=%s"
                        "&redirect_uri=http://x/cb" % CLIENT_ID, None, None),
                ("GET", "/_emu/health", None, None),
                ("GET", ACCT + "/extension/101", None, self.tok)]:
            reply = self.emu.request(method, path, body, token=token, conn=conn)
            statuses.append(reply.status)
            if len(statuses) == 1:
                sock = conn.sock
            self.assertIs(conn.sock, sock, "connection was not kept alive")
        self.assertEqual(statuses, [200, 401, 404, 400, 204, 302, 200, 200])
        conn.close()

    def test_chunked_request_body(self):
        conn = self.emu.conn()
        body = json.dumps({"contact": {"department": "Chunked"}}).encode()
        conn.request("PUT", ACCT + "/extension/101", body=iter([body[:10], body[10:]]),
                     headers={"Authorization": "Bearer " + self.tok,
                              "Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()
        self.assertEqual(self.ext(101)["contact"]["department"], "Chunked")
        conn.close()

    def test_garbage_never_breaks_the_server(self):
        bodies = [b"", b"null", b"[]", b"5", b'"x"', b'{"a":', b"\xff\xfe\x00", b"[" * 50000,
                  b'{"Operations":[1,{"op":5},{"op":"add","path":7}]}',
                  b'{"Operations":[{"op":"add","value":{"name":5,"emails":"x"}}]}',
                  b'{"Operations":[{"op":"replace","path":"addresses","value":[1]}]}',
                  b'{"records":[null,1,"x",{"id":true},{"id":"101","contact":[]}]}',
                  b'{"contact":{"businessAddress":"x"},"customFields":{"a":1},"status":[]}',
                  b'{"userName":["a"],"name":"x","emails":[{"value":5}],"active":{}}',
                  b'{"filter":5,"startIndex":{},"count":"-3"}',
                  b'{"extensionNumber":9999999999999999999999,"statusInfo":"x"}']
        paths = ["/scim/v2/Users", "/scim/v2/Users/.search", "/scim/v2/Users/101",
                 ACCT + "/extension/101", ACCT + "/extension-bulk-update",
                 "/restapi/oauth/token", "/restapi/oauth/revoke", "/_emu/seed",
                 "/_emu/fault", "/_emu/limits", "/_emu/tokens", "/_emu/extension/101"]
        for path in paths:
            for method in ("POST", "PUT", "PATCH"):
                for body in bodies:
                    reply = self.api(method, path, body)
                    self.assertLess(reply.status, 500, (method, path, body[:40], reply.body))
        for query in ("filter=%ZZ", "page=-1&perPage=99999999999999999999", "startIndex=%00",
                      "count=1e9", "filter=" + quote('userName eq "\\"'), "usageType="):
            for path in ("/scim/v2/Users", ACCT + "/extension", ACCT + "/phone-number"):
                reply = self.api("GET", path + "?" + query)
                self.assertLess(reply.status, 500, (path, query))
        self.assertStatus(self.api("GET", "/scim/v2/Users/101"), 200)
        self.assertNotIn("internal error", self.emu.stderr_text())

    def test_bad_http_framing(self):
        def raw(data):
            with socket.create_connection(("127.0.0.1", self.emu.port), timeout=5) as s:
                s.sendall(data)
                return s.recv(4096).split(b"\r\n", 1)[0]
        head = b"PUT %s/extension/101 HTTP/1.1\r\nHost: x\r\n" % ACCT.encode()
        self.assertIn(b" 400 ", raw(head + b"Content-Length: abc\r\n\r\n"))
        self.assertIn(b" 413 ", raw(head + b"Content-Length: 99999999999\r\n\r\n"))
        self.assertIn(b" 400 ", raw(head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"))
        self.assertIn(b" 400 ", raw(b"NOT-HTTP\r\n\r\n"))
        self.assertStatus(self.api("GET", "/scim/v2/Users/101"), 200)

    def test_concurrent_requests(self):
        self.emu.ctl("DELETE", "log")
        errors = []

        def worker(n):
            try:
                conn = self.emu.conn()
                for i in range(15):
                    dept = "D%d-%d" % (n, i)
                    for reply in (self.emu.request("GET", "/scim/v2/Users", token=self.tok,
                                                   conn=conn),
                                  self.emu.request("PUT", ACCT + "/extension/101",
                                                   {"contact": {"department": dept}},
                                                   token=self.tok, conn=conn)):
                        if reply.status != 200:
                            errors.append(reply.status)
                conn.close()
            except Exception as exc:        # noqa: BLE001 - collected and asserted
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.emu.ctl("GET", "log")["requests"]), 12 * 30)

    def test_concurrent_creates_share_out_free_extensions(self):
        results = []

        def create(i):
            reply = self.api("POST", "/scim/v2/Users", new_user("c%d@example.com" % i))
            results.append((reply.status, reply.json.get("id")))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        created = [r for r in results if r[0] == 201]
        self.assertEqual(len(created), 3)
        self.assertEqual(len({r[1] for r in created}), 3)
        self.assertEqual(sorted(r[0] for r in results), [201] * 3 + [403] * 3)


# ---------------------------------------------------------------------------


class HttpsTests(EmuCase):
    """TLS with a generated CA, a seed file, short access tokens, a log file,
    and the command-line default limits (no /_emu/limits call)."""

    tls = True
    reseed = False

    @classmethod
    def class_args(cls):
        seed = os.path.join(cls.tmp, "seed.json")
        with open(seed, "w") as f:
            json.dump(SEED, f)
        cls.log_file = os.path.join(cls.tmp, "requests.jsonl")
        return ["--seed", seed, "--access-ttl", "2", "--window", "6", "--limits", "Auth=30",
                "--log-file", cls.log_file]

    def test_seed_file_and_scim_over_tls(self):
        reply = self.scim_find('userName eq "ann.lee@example.com"')
        self.assertStatus(reply, 200)
        self.assertEqual(reply.json["Resources"][0]["meta"]["location"],
                         self.emu.base + "/scim/v2/Users/101")
        self.assertEqual((reply.header("X-Rate-Limit-Limit"),
                          reply.header("X-Rate-Limit-Window")), ("50", "6"))
        with open(self.log_file) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[-1]["path"], "/scim/v2/Users")
        self.assertNotIn(self.tok, json.dumps(lines))

    def test_access_token_expires(self):
        tokens = self.emu.token()
        self.assertEqual(tokens["expires_in"], 2)
        self.assertStatus(self.api("GET", "/scim/v2/Users/101", token=tokens["access_token"]),
                          200)
        time.sleep(2.2)
        reply = self.api("GET", "/scim/v2/Users/101", token=tokens["access_token"])
        self.assertStatus(reply, 401)
        self.assertEqual(reply.json["errors"][0]["errorCode"], "OAU-210")

    def test_keep_alive_over_tls(self):
        conn = self.emu.conn()
        tok = self.emu.token()["access_token"]
        for _ in range(5):
            self.assertStatus(self.emu.request("GET", ACCT + "/extension/101", token=tok,
                                               conn=conn), 200)
        conn.close()

    def test_untrusted_client_does_not_hurt_the_server(self):
        ctx = ssl.create_default_context()      # does not trust the test CA
        conn = http.client.HTTPSConnection("127.0.0.1", self.emu.port, timeout=5, context=ctx)
        with self.assertRaises(ssl.SSLError):
            conn.request("GET", "/_emu/health")
        conn.close()
        with socket.create_connection(("127.0.0.1", self.emu.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")        # plain HTTP to a TLS port
            s.recv(100)
        self.assertEqual(self.emu.ctl("GET", "health"), {"ok": True})


class ServerNameTests(EmuCase):
    """--server-name: the client reaches https://platform.ringcentral.biz
    through a connection to 127.0.0.1:port; control calls keep any Host."""

    tls = True
    server_name = BIZ
    args = EmuCase.args + ["--server-name", BIZ]

    def test_absolute_uris_name_the_server(self):
        base = "https://" + BIZ
        body = self.api("GET", ACCT + "/extension?perPage=2").json
        self.assertEqual(body["uri"], base + ACCT + "/extension?page=1&perPage=2")
        self.assertEqual(body["records"][0]["uri"], base + ACCT + "/extension/101")
        for key in ("firstPage", "nextPage", "lastPage"):
            self.assertTrue(body["navigation"][key]["uri"].startswith(
                base + ACCT + "/extension?"), body["navigation"][key])
        nxt = urlsplit(body["navigation"]["nextPage"]["uri"])
        self.assertEqual(parse_qs(nxt.query), {"page": ["2"], "perPage": ["2"]})
        self.assertEqual(self.ext(102)["uri"], base + ACCT + "/extension/102")
        num = self.api("GET", ACCT + "/phone-number?usageType=DirectNumber").json["records"][0]
        self.assertEqual((num["uri"], num["extension"]["uri"]),
                         (base + ACCT + "/phone-number/%d" % num["id"],
                          base + ACCT + "/extension/101"))
        mine = self.api("GET", ACCT + "/extension/101/phone-number?perPage=1").json
        self.assertEqual(mine["navigation"]["nextPage"]["uri"],
                         base + ACCT + "/extension/101/phone-number?page=2&perPage=1")
        user = self.scim_find('userName eq "ann.lee@example.com"').json["Resources"][0]
        self.assertEqual(user["meta"]["location"], base + "/scim/v2/Users/101")
        created = self.api("POST", "/scim/v2/Users", new_user("biz@example.com"))
        self.assertStatus(created, 201)
        self.assertEqual(created.header("Location"),
                         base + "/scim/v2/Users/" + created.json["id"])
        spc = self.api("GET", "/scim/v2/ServiceProviderConfig").json
        self.assertEqual(spc["meta"]["location"], base + "/scim/v2/ServiceProviderConfig")
        rtype = self.api("GET", "/scim/v2/ResourceTypes/User").json
        self.assertEqual(rtype["meta"]["location"], base + "/scim/v2/ResourceTypes/User")
        task = self.api("POST", ACCT + "/extension-bulk-update", {"records": [{"id": "101"}]})
        self.assertEqual(task.json["uri"],
                         base + ACCT + "/extension-bulk-update/tasks/" + task.json["id"])
        self.emu.ctl("POST", "fault", {"kind": "redirect", "status": 307})
        moved = self.api("GET", ACCT + "/custom-fields?x=1")
        self.assertEqual((moved.status, moved.header("Location")),
                         (307, base + ACCT + "/custom-fields?x=1"))
        # the name with its default port, in any case, is this server too
        for host in (BIZ + ":443", BIZ.upper()):
            reply = self.api("GET", ACCT + "/extension/101", headers={"Host": host})
            self.assertStatus(reply, 200)
            self.assertEqual(reply.json["uri"], base + ACCT + "/extension/101")

    def test_other_host_is_421(self):
        self.emu.ctl("DELETE", "log")
        self.emu.ctl("POST", "fault", {"kind": "503"})
        sessions = self.emu.ctl("GET", "sessions")["sessions"]
        wanted = {"errorCode": "EMU-421", "message": "Host must be " + BIZ}
        hosts = ("platform.ringcentral.com", "127.0.0.1:%d" % self.emu.port,
                 BIZ + ":%d" % self.emu.port, "localhost")
        for host in hosts:
            for method, path in (("GET", ACCT + "/extension/101"), ("GET", "/scim/v2/Users"),
                                 ("POST", "/restapi/oauth/token")):
                reply = self.api(method, path, headers={"Host": host})
                self.assertEqual((reply.status, reply.json), (421, wanted), (host, path))
                self.assertTrue(reply.header("Content-Type").startswith("application/json"))
                self.assertIsNone(reply.header("X-Rate-Limit-Group"))
        conn = self.emu.conn()                      # no Host header at all
        conn.putrequest("GET", ACCT + "/extension/101", skip_host=True)
        conn.putheader("Authorization", "Bearer " + self.tok)
        conn.endheaders()
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())), (421, wanted))
        conn.close()
        self.assertEqual(self.emu.ctl("GET", "sessions")["sessions"], sessions)
        log = self.emu.ctl("GET", "log")["requests"]
        self.assertEqual(len(log), 3 * len(hosts) + 1)
        self.assertEqual({(e["status"], e["group"], e["fault"]) for e in log},
                         {(421, None, None)})
        self.assertEqual(log[0]["host"], hosts[0])
        # nothing was processed: the fault is still there for the right Host
        self.assertStatus(self.api("GET", ACCT + "/extension/101"), 503)
        # the control interface answers whatever the Host
        for host in ("127.0.0.1:%d" % self.emu.port, "elsewhere.example", BIZ):
            reply = self.emu.request("GET", "/_emu/health", headers={"Host": host})
            self.assertEqual((reply.status, reply.json), (200, {"ok": True}))


class WsClient:
    """A minimal RFC 6455 client (masked frames, text and control frames
    only) for the emulator's change feed."""

    def __init__(self, emu, uri, token, wsc=None):
        split = urlsplit(uri)
        query = "access_token=" + quote(token) + ("&wsc=" + quote(wsc) if wsc else "")
        self.sock = socket.create_connection(("127.0.0.1", emu.port), 10)
        if split.scheme == "wss":
            ctx = ssl.create_default_context(cafile=emu.tls["ca"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (split.path, query, emu.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {k.strip().lower(): v.strip() for k, _, v in
                        (x.partition(":") for x in lines[1:] if x)}
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.accepted = self.status == 101 and self.headers.get("sec-websocket-accept") == want

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, msg, opcode=1):
        data = json.dumps(msg).encode() if opcode == 1 else msg
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        else:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("connection closed")
            out += chunk
        return out

    def frame(self, timeout=10):
        """(opcode, payload) of the next frame from the server."""
        self.sock.settimeout(timeout)
        b = self._exact(2)
        self.assert_unmasked = not b[1] & 0x80
        n = b[1] & 0x7F
        if n == 126:
            n = int.from_bytes(self._exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._exact(8), "big")
        return b[0] & 0x0F, self._exact(n)

    def message(self, timeout=10):
        """The next JSON message, skipping pongs; None at a close frame."""
        while True:
            opcode, data = self.frame(timeout)
            if opcode == 1:
                return json.loads(data.decode())
            if opcode == 8:
                self.close_payload = data
                return None

    def quiet(self, timeout=0.3):
        """True when nothing arrives within `timeout` (used only to show that
        an event is not sent: the emulator sends before its control call
        answers, so a message that is due has already been written)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            return True
        return not data


class ChangeFeedTests(EmuCase):
    """The change feed: wstoken, the /ws session, subscription, heartbeats,
    notifications for control changes, close, drop and recovery."""

    FILTERS = [ACCT + "/extension", ACCT + "/directory/entries"]

    def connect(self, wsc=None, token=None):
        reply = self.api("POST", "/restapi/oauth/wstoken", token=token or self.tok)
        self.assertStatus(reply, 200)
        body = reply.json
        self.assertEqual(set(body), {"ws_access_token", "uri", "expires_in"})
        ws = WsClient(self.emu, body["uri"], body["ws_access_token"], wsc)
        self.addCleanup(ws.close)
        self.assertTrue(ws.accepted, ws.status)
        details = ws.message()
        self.assertEqual(details[0]["type"], "ConnectionDetails")
        return ws, details[0], body

    def subscribe(self, ws, filters=None):
        mid = "m-" + os.urandom(4).hex()
        ws.send([{"type": "ClientRequest", "messageId": mid, "method": "POST",
                  "path": "/restapi/v1.0/subscription/"},
                 {"eventFilters": self.FILTERS if filters is None else filters,
                  "deliveryMode": {"transportType": "WebSocket"}}])
        answer = ws.message()
        self.assertEqual(answer[0]["messageId"], mid)
        return answer

    def test_token_and_connection_details(self):
        self.assertStatus(self.emu.request("POST", "/restapi/oauth/wstoken"), 401)
        ws, meta, body = self.connect()
        self.assertEqual(body["uri"], "ws://127.0.0.1:%d/ws" % self.emu.port)
        self.assertEqual((meta["recoveryTimeout"], meta["recoveryBufferSize"],
                          meta["idleTimeout"], meta["absoluteTimeout"]), (180, 100, 1800, 86400))
        self.assertEqual(set(meta["wsc"]), {"token", "sequence"})
        self.assertNotIn("recoveryState", meta)
        # Single use: the same token again is refused before the upgrade.
        again = WsClient(self.emu, body["uri"], body["ws_access_token"])
        self.addCleanup(again.close)
        self.assertEqual((again.status, again.accepted), (401, False))
        self.assertEqual(self.emu.ctl("GET", "log")["requests"][-1]["group"], "Auth")
        self.assertNotIn(body["ws_access_token"], json.dumps(self.emu.ctl("GET", "log")))

    def test_permission_switch(self):
        self.emu.ctl("POST", "behaviour", {"ws_permission": False})
        reply = self.api("POST", "/restapi/oauth/wstoken")
        self.assertStatus(reply, 403)
        self.assertEqual(reply.json["errorCode"], "CMN-408")

    def test_subscription_answers(self):
        ws, _, _ = self.connect()
        answer = self.subscribe(ws, [ACCT + "/presence"])
        self.assertEqual((answer[0]["status"], answer[1]["errorCode"]), (400, "SUB-508"))
        answer = self.subscribe(ws, [])
        self.assertEqual(answer[1]["errorCode"], "CMN-101")
        ws.send([{"type": "ClientRequest", "messageId": "x", "method": "GET",
                  "path": "/restapi/v1.0/elsewhere"}, {}])
        self.assertEqual(ws.message()[1]["errorCode"], "CMN-102")
        answer = self.subscribe(ws)
        self.assertEqual((answer[0]["status"], answer[1]["status"], answer[1]["eventFilters"]),
                         (200, "Active", self.FILTERS))
        ws.send([{"type": "Heartbeat", "messageId": "hb-1"}])
        self.assertEqual(ws.message()[0], {"type": "Heartbeat", "messageId": "hb-1",
                                           "status": 200})
        ws.send(b"ping!", opcode=9)
        self.assertEqual(ws.frame(), (10, b"ping!"))
        view = self.emu.ctl("GET", "ws")["sessions"]
        self.assertEqual([(x["connected"], x["filters"], x["heartbeats"]) for x in view],
                         [(True, self.FILTERS, 1)])

    def test_notifications_one_per_extension_per_change(self):
        ws, _, _ = self.connect()
        self.subscribe(ws)
        # Moving a number from 101 to 102 changes both: one extension event
        # and one directory entry each, though 101 lost a number and 102
        # also lost its own.
        self.emu.ctl("POST", "extension/102", {"directNumbers": ["+16505550101"]})
        got = [ws.message() for _ in range(4)]
        self.assertTrue(ws.quiet())
        self.assertEqual({m[0]["type"] for m in got}, {"ServerNotification"})
        seqs = [m[0]["wsc"]["sequence"] for m in got]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len({m[1]["uuid"] for m in got}), 4)
        ext = [m[1]["body"] for m in got if m[1]["event"] == self.FILTERS[0]]
        self.assertEqual(sorted(b["extensionId"] for b in ext), ["101", "102"])
        self.assertEqual({b["eventType"] for b in ext}, {"Update"})
        self.assertIn("CompanyNumbers", ext[0]["hints"])
        entries = {m[1]["body"]["id"]: m[1]["body"] for m in got
                   if m[1]["event"] == self.FILTERS[1]}
        self.assertEqual([p["phoneNumber"] for p in entries["102"]["phoneNumbers"]
                          if p["usageType"] == "DirectNumber"], ["+16505550101"])
        self.assertEqual([p["phoneNumber"] for p in entries["101"]["phoneNumbers"]
                          if p["usageType"] == "DirectNumber"], ["+16505550102"])
        # An API update notifies too; a call that changes nothing does not.
        self.api("PUT", ACCT + "/extension/101", {"contact": {"department": "Ops"}})
        self.assertEqual([m[1]["body"].get("department") or m[1]["body"].get("extensionId")
                          for m in (ws.message(), ws.message())], ["101", "Ops"])
        self.api("PUT", ACCT + "/extension/101", {"contact": {"department": "Ops"}})
        self.assertTrue(ws.quiet())

    def test_creates_notify(self):
        """A v1 create notifies like a SCIM create: one extension event and
        one directory entry; a new extension is a Create, an Unassigned one
        taken an Update."""
        ws, _, _ = self.connect()
        self.subscribe(ws)
        reply = self.api("POST", ACCT + "/extension", create_body("feed@example.com"))
        self.assertStatus(reply, 200)
        got = {m[1]["event"]: m[1]["body"] for m in (ws.message(), ws.message())}
        self.assertTrue(ws.quiet())
        self.assertEqual(got[self.FILTERS[0]], {"extensionId": str(reply.json["id"]),
                                                "eventType": "Create", "hints": []})
        entry = got[self.FILTERS[1]]
        self.assertEqual((entry["id"], entry["email"], entry["eventType"]),
                         (str(reply.json["id"]), "feed@example.com", "Create"))
        self.emu.ctl("POST", "behaviour", {"v1_create_uses_unassigned": True})
        reply = self.api("POST", ACCT + "/extension", create_body("feed2@example.com"))
        got = {m[1]["event"]: m[1]["body"] for m in (ws.message(), ws.message())}
        self.assertTrue(ws.quiet())
        self.assertEqual((got[self.FILTERS[0]]["extensionId"], got[self.FILTERS[0]]["eventType"],
                          got[self.FILTERS[1]]["eventType"]),
                         (str(reply.json["id"]), "Update", "Update"))
        scim = self.api("POST", "/scim/v2/Users", new_user("feed3@example.com"))
        got = {m[1]["event"]: m[1]["body"] for m in (ws.message(), ws.message())}
        self.assertEqual(got[self.FILTERS[0]]["extensionId"], scim.json["id"])
        # A batch notifies once per created user; its failed records not at all.
        reply = self.api("POST", "/restapi/v2/accounts/~/batch-provisioning/users", {"records": [
            batch_record("feed4@example.com"), batch_record("feed@example.com"),
            batch_record("feed5@example.com")]})
        ids = [r["extension"]["id"] for r in reply.json["results"] if r["successful"]]
        got = [ws.message() for _ in range(4)]
        self.assertTrue(ws.quiet())
        self.assertEqual(sorted(m[1]["body"].get("extensionId") or m[1]["body"]["id"]
                                for m in got), sorted(ids * 2))
        self.assertEqual({m[1]["body"]["eventType"] for m in got}, {"Create"})
        # A create that fails sends nothing.
        self.assertStatus(self.api("POST", ACCT + "/extension",
                                   create_body("feed@example.com")), 409)
        self.assertTrue(ws.quiet())

    def test_event_switches_and_hidden_users(self):
        ws, _, _ = self.connect()
        self.subscribe(ws)
        self.emu.ctl("POST", "behaviour", {"ext_event_shape": "nested",
                                           "directory_events": False})
        self.emu.ctl("POST", "extension/101", {"extensionNumber": "111"})
        body = ws.message()[1]["body"]
        self.assertEqual(body["extensions"][0]["extensionId"], "101")
        self.assertTrue(ws.quiet())
        self.emu.ctl("POST", "behaviour", {"ext_event_shape": "flat", "directory_events": True})
        self.emu.ctl("POST", "extension/101", {"hidden": True, "extensionNumber": "112"})
        self.assertEqual(ws.message()[1]["body"]["extensionId"], "101")
        self.assertTrue(ws.quiet())         # hidden: no directory entry

    def test_drop_close_and_recovery(self):
        ws, meta, _ = self.connect()
        self.subscribe(ws)
        self.emu.ctl("POST", "ws/drop", {"count": 2})
        self.emu.ctl("POST", "extension/101", {"extensionNumber": "121"})
        self.assertTrue(ws.quiet())
        self.assertEqual(self.emu.ctl("GET", "ws")["dropped"], 2)
        # A close by the server: an Error message, then the close frame.
        self.emu.ctl("POST", "ws/close", {"mode": "close", "code": "WSG-903"})
        err = ws.message()
        self.assertEqual((err[0]["type"], err[1]["errorCode"]), ("Error", "WSG-903"))
        self.assertIsNone(ws.message())
        self.assertEqual(ws.close_payload[2:], b"WSG-903")
        rstest_wait(lambda: not self.emu.ctl("GET", "ws")["sessions"][0]["connected"])
        # Missed while away; replayed on recovery, the subscription kept.
        self.emu.ctl("POST", "extension/101", {"extensionNumber": "122"})
        ws2, meta2, _ = self.connect(wsc=meta["wsc"]["token"])
        self.assertEqual(meta2["recoveryState"], "Successful")
        replay = [ws2.message(), ws2.message()]
        self.assertEqual({m[1]["event"] for m in replay}, set(self.FILTERS))
        self.assertEqual(self.emu.ctl("GET", "ws")["sessions"][0]["recoveries"], 1)
        # Dropped like a network failure, and the recovery refused: a new
        # session that has no subscription and does not get the old events.
        self.emu.ctl("POST", "behaviour", {"ws_recovery": "fail"})
        self.emu.ctl("POST", "ws/close", {"mode": "drop"})
        with self.assertRaises((EOFError, OSError)):
            ws2.message()
        rstest_wait(lambda: not self.emu.ctl("GET", "ws")["sessions"][0]["connected"])
        self.emu.ctl("POST", "extension/101", {"extensionNumber": "123"})
        ws3, meta3, _ = self.connect(wsc=meta["wsc"]["token"])
        self.assertEqual(meta3["recoveryState"], "Failed")
        self.assertNotEqual(meta3["wsc"]["token"], meta["wsc"]["token"])
        self.assertTrue(ws3.quiet())
        self.assertEqual([x["filters"] for x in self.emu.ctl("GET", "ws")["sessions"]],
                         [self.FILTERS, []])


class WsIdleTests(EmuCase):
    args = EmuCase.args + ["--ws-idle", "0.5"]

    def test_idle_session_is_closed(self):
        # (That heartbeats keep a session is shown by the daemon's test,
        # which must send them in time; here only the close is checked, which
        # depends on no timing.)
        ws, meta, _ = ChangeFeedTests.connect(self)
        self.assertEqual(meta["idleTimeout"], 0.5)
        err = ws.message(timeout=30)
        self.assertEqual(err[1]["errorCode"], "WSG-902")
        self.assertIsNone(ws.message())
        self.assertEqual(ws.close_payload[2:], b"WSG-902")
        rstest_wait(lambda: self.emu.ctl("GET", "ws")["sessions"][0]["closed_reason"] ==
                    "WSG-902")


def rstest_wait(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in %d s" % timeout)
        time.sleep(0.02)


class ProcessTests(unittest.TestCase):

    def test_sigterm_exits_zero_and_bad_args_fail(self):
        tmp = tempfile.mkdtemp(prefix="ringemu-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        emu = Emu(tmp, ["--limits", "Light=1"])
        self.addCleanup(emu.stop)
        emu.start()
        self.assertEqual(emu.ctl("GET", "health"), {"ok": True})
        self.assertEqual(emu.request("GET", "/scim/v2/Users").header("X-Rate-Limit-Limit"), "1")
        self.assertEqual(emu.stop(), 0)
        self.assertIn("listening on http://127.0.0.1:", emu.stderr_text())
        self.assertNotIn(CLIENT_SECRET, emu.stderr_text())
        for bad in (["--limits", "Huge=1"], ["--seed", os.path.join(tmp, "missing.json")],
                    ["--tls-cert", "x"], ["--server-name", BIZ + ":443"],
                    ["--server-name", "https://" + BIZ], ["--server-name", ""]):
            cmd = [sys.executable, EMULATOR, "--listen", "127.0.0.1:0", "--port-file",
                   os.path.join(tmp, "p2"), "--client-id", "c", "--client-secret-file",
                   os.path.join(tmp, "secret")] + bad
            proc = subprocess.run(cmd, capture_output=True, timeout=20)
            self.assertNotEqual(proc.returncode, 0, bad)


if __name__ == "__main__":
    unittest.main(verbosity=2)

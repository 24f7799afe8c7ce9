/*
 * phone_error: typing of error responses, the administrator's messages
 * (docs/behaviour.md) and the parameter -> [push] field mapping (phone.h).
 * Pure functions only.
 */
#include "phone.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define SCIM_ERROR_URN "urn:ietf:params:scim:api:messages:2.0:Error"
#define SCIM_CORE_URN "urn:ietf:params:scim:schemas:core:2.0:User:"
#define SCIM_ENTERPRISE_URN \
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"

const char *
phone_err_kind_name(enum phone_err_kind k)
{
	static const char *const names[] = {
		"ok", "transient", "rate-limited", "auth", "data", "conflict",
		"not-found", "malformed", "duplicate-email", "no-free-extension",
		"extension-in-use",
	};

	return (unsigned int)k < sizeof(names) / sizeof(names[0]) ? names[k] :
	    "unknown";
}

const char *
phone_call_name(enum phone_call c)
{
	static const char *const names[PHONE_NCALLS] = {
		"none", "token", "scim-search", "scim-create", "scim-patch",
		"scim-delete", "scim-get",
		"scim-config", "scim-schemas", "extensions", "numbers",
		"directory", "extension-numbers",
		"custom-fields", "bulk-update", "bulk-task", "revoke",
		"ws-token", "extension", "extension-create", "sites", "roles",
		"default-role", "cost-centers", "service-info", "batch-create",
		"role-assign", "photo-put", "photo-get", "photo-delete",
	};

	return (unsigned int)c < PHONE_NCALLS ? names[c] : "unknown";
}

void
phone_error_ok(struct phone_error *out, enum phone_call call)
{
	memset(out, 0, sizeof(*out));
	out->kind = PHONE_OK;
	out->call = call;
	out->retry_after = -1;
}

/* ---------------------------------------------------------------------
 * Parameter names -> [push] fields */

/* Parameters that are no field path of the registry (phone_field.h). */
static const struct {
	const char *param;
	int field;               /* a phone_field, or -1: name is no field */
	const char *name;
} other_params[] = {
	{ "userName", PHONE_F_EMAIL, NULL },     /* SCIM userName is the email */
	{ "status", -1, "status" }, { "active", -1, "status" },
	{ "extensionNumber", -1, "extensionNumber" },
};

static const char *
strip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncasecmp(s, prefix, n) == 0 ? s + n : s;
}

/*
 * drop_filters: copy param without its [..] value filters, remembering
 * the value of the first one (`phoneNumbers[type eq "mobile"].value`).
 */
static void
drop_filters(const char *param, char *out, size_t len, char *fval,
    size_t fvlen)
{
	size_t o = 0;
	const char *q;

	fval[0] = '\0';
	for (const char *s = param; *s != '\0' && o + 1 < len; s++) {
		if (*s != '[') {
			out[o++] = *s;
			continue;
		}
		q = strchr(s, '"');
		if (fval[0] == '\0' && q != NULL && strchr(q + 1, '"') != NULL &&
		    strchr(q + 1, '"') < strchr(s, ']'))
			snprintf(fval, fvlen, "%.*s", (int)(strchr(q + 1, '"') - q - 1),
			    q + 1);
		s = strchr(s, ']');
		if (s == NULL)
			break;
	}
	out[o] = '\0';
}

/*
 * scim_bare: the SCIM path of f without its URN and filter into buf, and
 * the filter's value ("mobile" of phoneNumbers[type=mobile].value, "" when
 * none) into type.
 */
static void
scim_bare(const struct phone_field_info *f, char *buf, size_t len,
    char *type, size_t tlen)
{
	const char *p = f->scim, *open, *close;
	char parent[128];

	if (strncmp(p, "urn:", 4) == 0)
		p = phone_field_leaf(p, parent, sizeof(parent));
	open = strchr(p, '[');
	close = open ? strchr(open, ']') : NULL;
	if (close == NULL) {
		snprintf(buf, len, "%s", p);
		snprintf(type, tlen, "%s", "");
		return;
	}
	snprintf(buf, len, "%.*s%s", (int)(open - p), p, close + 1);
	open = strchr(open, '=');
	snprintf(type, tlen, "%.*s", open && open < close ?
	    (int)(close - open - 1) : 0, open ? open + 1 : "");
}

/* bare_is: s is the bare path, or the attribute whose .value it is. */
static int
bare_is(const char *s, const char *bare)
{
	size_t n = strlen(bare);

	if (strcasecmp(s, bare) == 0)
		return 1;
	return n > 6 && strcasecmp(bare + n - 6, ".value") == 0 &&
	    strlen(s) == n - 6 && strncasecmp(s, bare, n - 6) == 0;
}

/*
 * scim_names: s (filters dropped, fval the first one's value) names the
 * SCIM path of f: a filtered path needs the filter's value, unless no
 * other field shares the path without filter (emails, addresses.region).
 */
static int
scim_names(const struct phone_field_info *f, const char *s, const char *fval)
{
	char bare[128], type[32], other[128], otype[32];

	scim_bare(f, bare, sizeof(bare), type, sizeof(type));
	if (!bare_is(s, bare))
		return 0;
	if (type[0] == '\0' || strcasecmp(fval, type) == 0)
		return 1;
	for (int g = 0; g < PHONE_NFIELDS; g++) {
		scim_bare(phone_field_get(g), other, sizeof(other), otype,
		    sizeof(otype));
		if (g != (int)f->id && strcasecmp(other, bare) == 0)
			return 0;
	}
	return 1;
}

/* param_names: s names pushed field f: its name, a REST or SCIM member. */
static int
param_names(const struct phone_field_info *f, const char *s, const char *fval)
{
	char parent[128];
	const char *rest = phone_field_leaf(f->rest, parent, sizeof(parent));
	const char *scim = phone_field_leaf(f->scim, parent, sizeof(parent));

	/* "value" alone names no field: every multi-valued attribute has one */
	return strcasecmp(s, f->name) == 0 || strcasecmp(s, rest) == 0 ||
	    (strcmp(scim, "value") != 0 && strcasecmp(s, scim) == 0) ||
	    scim_names(f, s, fval);
}

const char *
phone_param_field(const char *param)
{
	char buf[256], fval[64];
	const char *s;

	if (param == NULL || *param == '\0')
		return NULL;
	s = strip_prefix(param, SCIM_ENTERPRISE_URN);
	s = strip_prefix(s, SCIM_CORE_URN);
	drop_filters(s, buf, sizeof(buf), fval, sizeof(fval));
	s = strip_prefix(buf, "extension.");
	s = strip_prefix(s, "contact.");
	s = strip_prefix(s, "businessAddress.");
	for (int f = 0; f < PHONE_NFIELDS; f++)
		if (param_names(phone_field_get(f), s, fval))
			return phone_field_name(f);
	for (size_t i = 0; i < sizeof(other_params) / sizeof(other_params[0]);
	    i++)
		if (strcasecmp(s, other_params[i].param) == 0)
			return other_params[i].name ? other_params[i].name :
			    phone_field_name(other_params[i].field);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Typing */

/* What an error body says, whatever its dialect (REST, SCIM, OAuth). */
struct err_body {
	const char *rest_code, *item_code, *scim_type, *oauth_error;
	const char *message, *param;
	char value[256];
	int scim;
};

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

/* jscalar: a string or number member as text into buf ("" if neither). */
static void
jscalar(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	buf[0] = '\0';
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
}

static int
has_scim_error_schema(const json_t *j)
{
	const json_t *schemas = json_object_get(j, "schemas");
	size_t i;
	json_t *s;

	json_array_foreach(schemas, i, s)
		if (json_is_string(s) && strcmp(json_string_value(s),
		    SCIM_ERROR_URN) == 0)
			return 1;
	return 0;
}

static void
read_body(const json_t *j, struct err_body *b)
{
	const json_t *item = json_array_get(json_object_get(j, "errors"), 0);

	memset(b, 0, sizeof(*b));
	if (!json_is_object(j))
		return;
	b->rest_code = jstr(j, "errorCode");
	b->scim_type = jstr(j, "scimType");
	b->oauth_error = jstr(j, "error");
	b->scim = has_scim_error_schema(j) || b->scim_type != NULL;
	b->message = jstr(j, "message");
	if (b->message == NULL)
		b->message = jstr(j, "detail");
	if (b->message == NULL)
		b->message = jstr(j, "error_description");
	if (json_is_object(item)) {
		b->item_code = jstr(item, "errorCode");
		b->param = jstr(item, "parameterName");
		jscalar(item, "parameterValue", b->value, sizeof(b->value));
		if (b->message == NULL)
			b->message = jstr(item, "message");
	}
}

/*
 * bracket: the text of the first [..] of a SCIM detail, which is where the
 * service names the parameter ("Parameter [X] value is invalid.") or the
 * email of a duplicate. Only used after the status and scimType have
 * decided the kind.
 */
static void
bracket(const char *msg, char *buf, size_t len)
{
	const char *a = msg ? strchr(msg, '[') : NULL;
	const char *z = a ? strchr(a, ']') : NULL;

	buf[0] = '\0';
	if (z != NULL)
		snprintf(buf, len, "%.*s", (int)(z - a - 1), a + 1);
}

static int
eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/*
 * The errorCodes whose meaning does not depend on the HTTP status. CMN-101
 * comes as 400 or 403 and is a data error either way; only the permission
 * codes (and OAuth's) make a 403 an authorization problem.
 */
static const struct {
	const char *code;
	enum phone_err_kind kind;
} codes[] = {
	{ "CMN-100", PHONE_DATA },             /* Mandatory parameter [X] not specified */
	{ "CMN-101", PHONE_DATA },             /* Parameter [X] value is invalid */
	{ "CMN-102", PHONE_NOT_FOUND },        /* Resource for parameter [X] is not found */
	{ "CMN-103", PHONE_MALFORMED },        /* JSON can't be parsed */
	{ "CMN-104", PHONE_MALFORMED },        /* Cannot parse request */
	{ "CMN-201", PHONE_TRANSIENT },        /* Service Temporarily Unavailable */
	{ "CMN-301", PHONE_RATE_LIMITED },     /* Request rate exceeded */
	{ "CMN-401", PHONE_AUTH },             /* permission / feature not available */
	{ "CMN-402", PHONE_AUTH },
	{ "CMN-408", PHONE_AUTH },
	{ "EXT-107", PHONE_EXTENSION_IN_USE }, /* see docs/phone-api.md, errors */
};

/* code_kind: what an errorCode says by itself; PHONE_OK: nothing. */
static enum phone_err_kind
code_kind(const char *code)
{
	if (code == NULL)
		return PHONE_OK;
	if (strncmp(code, "OAU-", 4) == 0)
		return PHONE_AUTH;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i].code) == 0)
			return codes[i].kind;
	return PHONE_OK;
}

/*
 * body_code_kind: the first errorCode of the body that decides a kind: the
 * top-level one, else the first errors[] entry's (the top-level one may be
 * a name such as "InvalidParameter" with CMN-101 in errors[]).
 */
static enum phone_err_kind
body_code_kind(const struct err_body *b)
{
	enum phone_err_kind k = code_kind(b->rest_code);

	return k != PHONE_OK ? k : code_kind(b->item_code);
}

/*
 * in_use: the code of "Extension already in use" is not published (EXT-107,
 * CMN-101 or CMN-406 "Duplicate value for parameter" may come, as 400 or
 * 409): a value error or conflict on extensionNumber is that, whatever
 * the code.
 */
static enum phone_err_kind
in_use(enum phone_err_kind k, const char *param)
{
	if ((k == PHONE_DATA || k == PHONE_CONFLICT) && param != NULL &&
	    strcasecmp(param, "extensionNumber") == 0)
		return PHONE_EXTENSION_IN_USE;
	return k;
}

/* status_kind: no errorCode decided: the SCIM type, then the status. */
static enum phone_err_kind
status_kind(enum phone_call call, long status, const struct err_body *b)
{
	if (call == PHONE_CALL_SCIM_SEARCH && status == 409)
		return PHONE_DUPLICATE_EMAIL;
	if (eq(b->scim_type, "invalidSyntax"))
		return PHONE_MALFORMED;
	if (eq(b->scim_type, "invalidValue"))
		return PHONE_DATA;
	if (status == 401)
		return PHONE_AUTH;
	/* a 403 with an errorCode that is no permission code is about this
	 * request's data; without any code, nothing says it is not a refusal */
	if (status == 403)
		return b->rest_code == NULL && b->item_code == NULL ? PHONE_AUTH :
		    PHONE_DATA;
	if (status == 404)
		return PHONE_NOT_FOUND;
	if (status == 409)
		return PHONE_CONFLICT;
	return PHONE_DATA;
}

/*
 * kind_of: the errorCode first, then the HTTP status. Whatever the token
 * and revoke endpoints refuse is an authentication problem, and a SCIM
 * create's 403 without errorCode is the full account.
 */
static enum phone_err_kind
kind_of(enum phone_call call, long status, const struct err_body *b,
    const char *param)
{
	enum phone_err_kind k;

	/* not an error status: whatever the body says, it was unusable */
	if (status < 400)
		return PHONE_MALFORMED;
	if (status == 429)
		return PHONE_RATE_LIMITED;
	if (status >= 500)
		return code_kind(b->rest_code) == PHONE_RATE_LIMITED ?
		    PHONE_RATE_LIMITED : PHONE_TRANSIENT;
	if (call == PHONE_CALL_TOKEN || call == PHONE_CALL_REVOKE)
		return PHONE_AUTH;
	if (call == PHONE_CALL_SCIM_CREATE && status == 403 && b->scim &&
	    b->rest_code == NULL)
		return PHONE_NO_FREE_EXTENSION;
	/* The REST create's answer on a full account is not published: the
	 * licence code EXT-402 is taken to be it (docs/phone-api.md). */
	if (call == PHONE_CALL_EXTENSION_CREATE && status == 403 &&
	    eq(b->rest_code, "EXT-402"))
		return PHONE_NO_FREE_EXTENSION;
	k = body_code_kind(b);
	return in_use(k != PHONE_OK ? k : status_kind(call, status, b), param);
}

/*
 * pick_code: the code reported: the OAuth error of the token endpoint, else
 * the errorCode that decides the kind (top level, else errors[0]), else
 * whichever is there.
 */
static const char *
pick_code(enum phone_call call, const struct err_body *b)
{
	if ((call == PHONE_CALL_TOKEN || call == PHONE_CALL_REVOKE) &&
	    b->oauth_error)
		return b->oauth_error;
	if (code_kind(b->rest_code) == PHONE_OK &&
	    code_kind(b->item_code) != PHONE_OK)
		return b->item_code;
	return b->rest_code ? b->rest_code : b->item_code ? b->item_code :
	    b->scim_type ? b->scim_type : b->oauth_error;
}

void
phone_error_parse(enum phone_call call, long status, const char *body,
    size_t len, struct phone_error *out)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	struct err_body b;
	const char *code;
	char br[128];

	phone_error_ok(out, call);
	out->http_status = status;
	read_body(j, &b);
	code = pick_code(call, &b);
	bracket(b.message, br, sizeof(br));
	/* the [X] of a message only once a code or the SCIM type said what it is */
	snprintf(out->param, sizeof(out->param), "%s", b.param ? b.param :
	    (b.scim || code_kind(code) == PHONE_DATA ||
	    code_kind(code) == PHONE_NOT_FOUND) && status != 409 ? br : "");
	snprintf(out->value, sizeof(out->value), "%s", b.param ? b.value :
	    status == 409 ? br : "");
	snprintf(out->code, sizeof(out->code), "%s", code ? code : "");
	if (b.message != NULL)
		snprintf(out->detail, sizeof(out->detail), "%s", b.message);
	else
		snprintf(out->detail, sizeof(out->detail), "HTTP %ld%s", status,
		    j == NULL && len > 0 ? " (not JSON)" : "");
	out->kind = kind_of(call, status, &b, out->param[0] ? out->param : NULL);
	if (out->kind == PHONE_MALFORMED && status < 400)
		snprintf(out->detail, sizeof(out->detail), "unexpected HTTP "
		    "status %ld", status);
	json_decref(j);
}

void
phone_error_from_item(const json_t *item, enum phone_call call,
    struct phone_error *out)
{
	const char *code = jstr(item, "errorCode");
	const char *param = jstr(item, "parameterName");
	const char *msg = jstr(item, "message");

	phone_error_ok(out, call);
	if (!json_is_object(item) || code == NULL) {
		out->kind = PHONE_MALFORMED;
		snprintf(out->detail, sizeof(out->detail), "an error without "
		    "errorCode");
		return;
	}
	snprintf(out->code, sizeof(out->code), "%s", code);
	snprintf(out->param, sizeof(out->param), "%s", param ? param : "");
	jscalar(item, "parameterValue", out->value, sizeof(out->value));
	snprintf(out->detail, sizeof(out->detail), "%s", msg ? msg : code);
	out->kind = code_kind(code);
	if (out->kind == PHONE_OK)
		out->kind = PHONE_DATA; /* an unknown code on one record */
	out->kind = in_use(out->kind, param);
}

/* ---------------------------------------------------------------------
 * Messages */

static const char *
retry_text(const struct phone_error *e, char *buf, size_t len)
{
	if (e->retry_after > 0)
		snprintf(buf, len, "retrying in %d s", e->retry_after);
	else
		snprintf(buf, len, "retrying later");
	return buf;
}

static void
transient_message(const struct phone_error *e, const char *brand, char *buf,
    size_t len)
{
	char r[32];

	if (strcmp(e->code, "redirect") == 0)
		snprintf(buf, len, "%s sent a request elsewhere (%s): not followed, "
		    "%s. Check [telephony] server.", brand, e->detail,
		    retry_text(e, r, sizeof(r)));
	else
		snprintf(buf, len, "Service temporarily unavailable: %s.",
		    retry_text(e, r, sizeof(r)));
}

/* id_param: a parameter naming the resource itself, not a user's value. */
static int
id_param(const char *param)
{
	return *param == '\0' || strcasecmp(param, "id") == 0 ||
	    strcasecmp(param, "extensionId") == 0 ||
	    strcasecmp(param, "userId") == 0;
}

/* mandatory_message: CMN-100, a value the phone system requires is empty. */
static void
mandatory_message(const struct phone_error *e, const char *field, char *buf,
    size_t len)
{
	if (field != NULL && strcmp(field, "state") == 0)
		snprintf(buf, len, "A state is required for an address in this "
		    "country (the USA, the UK and Canada need one). Please fill in "
		    "the parameter in Active Directory.");
	else if (e->param[0] != '\0')
		snprintf(buf, len, "The %s is required. Please fill in the "
		    "parameter in Active Directory.", field ? field : e->param);
	else
		snprintf(buf, len, "A required value is missing (CMN-100). Please "
		    "fill in the parameter in Active Directory.");
}

static void
data_message(const struct phone_error *e, char *buf, size_t len)
{
	const char *field = phone_param_field(e->param);

	if (strcmp(e->code, "CMN-100") == 0) {
		mandatory_message(e, field, buf, len);
		return;
	}
	if (field != NULL && strcmp(field, "state") == 0)
		snprintf(buf, len, "State must be a standard state name "
		    "(California) or code (CA).");
	else if (e->param[0] != '\0')
		snprintf(buf, len, "The %s is invalid. Please correct the "
		    "parameter in Active Directory.", field ? field : e->param);
	else
		snprintf(buf, len, "A value was rejected (%s). Please correct "
		    "the parameter in Active Directory.", e->code[0] ? e->code :
		    "no error code");
}

static void
auth_message(const struct phone_error *e, const char *brand, char *buf,
    size_t len)
{
	if (strcmp(e->code, "invalid_client") == 0)
		snprintf(buf, len, "The %s app credentials were refused: check "
		    "client_id and client_secret_file.", brand);
	else if (e->http_status == 403)
		snprintf(buf, len, "The %s app is not allowed to do this (%s): "
		    "grant the permission in the developer console.", brand,
		    e->code[0] ? e->code : "HTTP 403");
	else
		snprintf(buf, len, "The %s session expired: run `ringsyncctl "
		    "auth login` (or check the JWT credential).", brand);
}

static void
not_found_message(const struct phone_error *e, const char *brand, char *buf,
    size_t len)
{
	if (id_param(e->param))
		snprintf(buf, len, "The phone user no longer exists in %s.", brand);
	else
		snprintf(buf, len, "Resource for parameter [%s] is not found: the "
		    "value is missing in Active Directory.", e->param);
}

static void
malformed_message(const struct phone_error *e, char *buf, size_t len)
{
	if (e->http_status >= 400)
		snprintf(buf, len, "JSON can not be parsed: the data sent or "
		    "received was malformed (request %s: the server could not read "
		    "it, HTTP %ld).", phone_call_name(e->call), e->http_status);
	else
		snprintf(buf, len, "JSON can not be parsed: the data sent or "
		    "received was malformed (request %s: %s).",
		    phone_call_name(e->call), e->detail[0] ? e->detail :
		    "the response is unreadable");
}

const char *
phone_error_message(const struct phone_error *e, const char *brand,
    char *buf, size_t len)
{
	char r[32];

	if (brand == NULL || *brand == '\0')
		brand = "the phone system";
	switch (e->kind) {
	case PHONE_OK:
		snprintf(buf, len, "No error.");
		break;
	case PHONE_TRANSIENT:
		transient_message(e, brand, buf, len);
		break;
	case PHONE_RATE_LIMITED:
		snprintf(buf, len, "Request rate exceeded: %s.",
		    retry_text(e, r, sizeof(r)));
		break;
	case PHONE_AUTH:
		auth_message(e, brand, buf, len);
		break;
	case PHONE_DATA:
		data_message(e, buf, len);
		break;
	case PHONE_CONFLICT:
		snprintf(buf, len, "The change conflicts with data already in "
		    "%s (%s).", brand, e->detail[0] ? e->detail : "HTTP 409");
		break;
	case PHONE_NOT_FOUND:
		not_found_message(e, brand, buf, len);
		break;
	case PHONE_MALFORMED:
		malformed_message(e, buf, len);
		break;
	case PHONE_DUPLICATE_EMAIL:
		snprintf(buf, len, "%s has more than one user record for the given "
		    "email [%s] (More than one record found for Email): keep one "
		    "user per email in %s, or correct the mail attribute in AD.",
		    brand, e->value, brand);
		break;
	case PHONE_NO_FREE_EXTENSION:
		snprintf(buf, len, "All phone extensions are in use: the account "
		    "must have an unassigned extension before a user can be "
		    "created.");
		break;
	case PHONE_EXTENSION_IN_USE:
		snprintf(buf, len, "Extension already in use: choose a free "
		    "extension in %s's web portal, or correct the extension field "
		    "in AD.", brand);
		break;
	default:
		snprintf(buf, len, "Unknown error.");
		break;
	}
	return buf;
}

unsigned int
phone_error_batch_limit(const struct phone_error *e)
{
	const char *at = strstr(e->detail, "limited to ");
	unsigned long n;
	char *end;

	if (e->kind != PHONE_DATA || strcmp(e->code, "CMN-106") != 0 ||
	    at == NULL)
		return 0;
	n = strtoul(at + 11, &end, 10);
	return end != at + 11 && n > 0 && n < 100000 ? (unsigned int)n : 0;
}

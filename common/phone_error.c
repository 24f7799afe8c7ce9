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

static const char *const field_names[PHONE_NFIELDS] = {
	[PHONE_F_FIRST_NAME] = "firstName",
	[PHONE_F_LAST_NAME] = "lastName",
	[PHONE_F_EMAIL] = "email",
	[PHONE_F_MOBILE_PHONE] = "mobilePhone",
	[PHONE_F_BUSINESS_PHONE] = "businessPhone",
	[PHONE_F_STREET] = "street",
	[PHONE_F_CITY] = "city",
	[PHONE_F_STATE] = "state",
	[PHONE_F_ZIP] = "zip",
	[PHONE_F_COUNTRY] = "country",
	[PHONE_F_DEPARTMENT] = "department",
	[PHONE_F_JOB_TITLE] = "jobTitle",
};

const char *
phone_field_name(enum phone_field f)
{
	return (unsigned int)f < PHONE_NFIELDS ? field_names[f] : "unknown";
}

int
phone_field_from_name(const char *name)
{
	for (int f = 0; name != NULL && f < PHONE_NFIELDS; f++)
		if (strcasecmp(name, field_names[f]) == 0)
			return f;
	return -1;
}

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
		"scim-delete",
		"scim-config", "scim-schemas", "extensions", "numbers",
		"custom-fields", "bulk-update", "bulk-task",
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

static const struct {
	const char *param, *field;
} param_table[] = {
	{ "firstName", "firstName" }, { "givenName", "firstName" },
	{ "name.givenName", "firstName" },
	{ "lastName", "lastName" }, { "familyName", "lastName" },
	{ "name.familyName", "lastName" },
	{ "email", "email" }, { "emails", "email" }, { "emails.value", "email" },
	{ "userName", "email" },
	{ "mobilePhone", "mobilePhone" }, { "businessPhone", "businessPhone" },
	{ "street", "street" }, { "streetAddress", "street" },
	{ "addresses.streetAddress", "street" },
	{ "city", "city" }, { "locality", "city" },
	{ "addresses.locality", "city" },
	{ "state", "state" }, { "region", "state" },
	{ "addresses.region", "state" },
	{ "zip", "zip" }, { "postalCode", "zip" },
	{ "addresses.postalCode", "zip" },
	{ "country", "country" }, { "addresses.country", "country" },
	{ "department", "department" },
	{ "jobTitle", "jobTitle" }, { "title", "jobTitle" },
	{ "status", "status" }, { "active", "status" },
	{ "extensionNumber", "extensionNumber" },
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
	if (strcasecmp(s, "phoneNumbers") == 0 ||
	    strcasecmp(s, "phoneNumbers.value") == 0) {
		if (strcasecmp(fval, "mobile") == 0)
			return "mobilePhone";
		if (strcasecmp(fval, "work") == 0)
			return "businessPhone";
		return NULL;
	}
	for (size_t i = 0; i < sizeof(param_table) / sizeof(param_table[0]); i++)
		if (strcasecmp(s, param_table[i].param) == 0)
			return param_table[i].field;
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

static enum phone_err_kind
kind_of(enum phone_call call, long status, const struct err_body *b,
    const char *code, const char *param)
{
	/* not an error status: whatever the body says, it was unusable */
	if (status < 400)
		return PHONE_MALFORMED;
	if (status == 429 || eq(code, "CMN-301"))
		return PHONE_RATE_LIMITED;
	if (status >= 500)
		return PHONE_TRANSIENT;
	if (call == PHONE_CALL_TOKEN && status >= 400)
		return PHONE_AUTH;
	if (status == 401)
		return PHONE_AUTH;
	if (status == 403)
		return call == PHONE_CALL_SCIM_CREATE && b->scim &&
		    b->rest_code == NULL ? PHONE_NO_FREE_EXTENSION : PHONE_AUTH;
	if (eq(code, "EXT-107") || (status == 409 && param != NULL &&
	    strcasecmp(param, "extensionNumber") == 0))
		return PHONE_EXTENSION_IN_USE;
	if (call == PHONE_CALL_SCIM_SEARCH && status == 409)
		return PHONE_DUPLICATE_EMAIL;
	if (eq(code, "CMN-100") || eq(b->scim_type, "invalidSyntax"))
		return PHONE_MALFORMED;
	if (eq(code, "CMN-101") || eq(b->scim_type, "invalidValue"))
		return PHONE_DATA;
	if (eq(code, "CMN-102") || status == 404)
		return PHONE_NOT_FOUND;
	if (status == 409)
		return PHONE_CONFLICT;
	return PHONE_DATA;
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
	code = call == PHONE_CALL_TOKEN && b.oauth_error ? b.oauth_error :
	    b.rest_code ? b.rest_code : b.item_code ? b.item_code :
	    b.scim_type ? b.scim_type : b.oauth_error;
	bracket(b.message, br, sizeof(br));
	snprintf(out->param, sizeof(out->param), "%s", b.param ? b.param :
	    b.scim && status != 409 ? br : "");
	snprintf(out->value, sizeof(out->value), "%s", b.param ? b.value :
	    status == 409 ? br : "");
	snprintf(out->code, sizeof(out->code), "%s", code ? code : "");
	if (b.message != NULL)
		snprintf(out->detail, sizeof(out->detail), "%s", b.message);
	else
		snprintf(out->detail, sizeof(out->detail), "HTTP %ld%s", status,
		    j == NULL && len > 0 ? " (not JSON)" : "");
	out->kind = kind_of(call, status, &b, code, out->param[0] ? out->param :
	    NULL);
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
	if (strcmp(code, "EXT-107") == 0)
		out->kind = PHONE_EXTENSION_IN_USE;
	else if (strcmp(code, "CMN-100") == 0)
		out->kind = PHONE_MALFORMED;
	else if (strcmp(code, "CMN-102") == 0)
		out->kind = PHONE_NOT_FOUND;
	else if (strcmp(code, "CMN-201") == 0)
		out->kind = PHONE_TRANSIENT;
	else if (strcmp(code, "CMN-301") == 0)
		out->kind = PHONE_RATE_LIMITED;
	else
		out->kind = PHONE_DATA;
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

/* id_param: a parameter naming the resource itself, not a user's value. */
static int
id_param(const char *param)
{
	return *param == '\0' || strcasecmp(param, "id") == 0 ||
	    strcasecmp(param, "extensionId") == 0 ||
	    strcasecmp(param, "userId") == 0;
}

static void
data_message(const struct phone_error *e, char *buf, size_t len)
{
	const char *field = phone_param_field(e->param);

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
		snprintf(buf, len, "Service temporarily unavailable: %s.",
		    retry_text(e, r, sizeof(r)));
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
		if (id_param(e->param))
			snprintf(buf, len, "The phone user no longer exists in %s.",
			    brand);
		else
			snprintf(buf, len, "Resource for parameter [%s] is not "
			    "found: the value is missing in Active Directory.",
			    e->param);
		break;
	case PHONE_MALFORMED:
		if (e->http_status >= 400)
			snprintf(buf, len, "JSON can not be parsed: the data sent or "
			    "received was malformed (request %s: the server could not "
			    "read it, HTTP %ld).", phone_call_name(e->call),
			    e->http_status);
		else
			snprintf(buf, len, "JSON can not be parsed: the data sent or "
			    "received was malformed (request %s: %s).",
			    phone_call_name(e->call), e->detail[0] ? e->detail :
			    "the response is unreadable");
		break;
	case PHONE_DUPLICATE_EMAIL:
		snprintf(buf, len, "More than one record found for Email: [%s]: "
		    "the phone system must have one user per email.", e->value);
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

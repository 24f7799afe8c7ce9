/*
 * Unit tests for common/phone and the pure part of common/http: error
 * typing of every error body docs/phone-api.md and the emulator document, the
 * administrator's messages, parameter -> field mapping, request bodies,
 * response validation, PKCE, and the pacing arithmetic (including a
 * simulated server that counts every arrival in its sliding window).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "phone.h"
#include "util.h"

static json_t *
jparse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("test JSON: %s: %s", e.text, text);
	return j;
}

static void
parse_err(enum phone_call call, long status, const char *body,
    struct phone_error *e)
{
	phone_error_parse(call, status, body, strlen(body), e);
}

static const char *
msg(const struct phone_error *e)
{
	static char buf[512];

	return phone_error_message(e, "TELUS Business Connect", buf, sizeof(buf));
}

/* ---------------------------------------------------------------------
 * Error typing */

static void
test_error_rest_invalid_value(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-101\","
	    "\"message\":\"Parameter [contact.businessAddress.state] value is "
	    "invalid.\",\"errors\":[{\"errorCode\":\"CMN-101\",\"message\":\"x\","
	    "\"parameterName\":\"contact.businessAddress.state\","
	    "\"parameterValue\":\"Calif.\"}]}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_int_equal(e.http_status, 400);
	assert_string_equal(e.code, "CMN-101");
	assert_string_equal(e.param, "contact.businessAddress.state");
	assert_string_equal(e.value, "Calif.");
	assert_string_equal(phone_param_field(e.param), "state");
	assert_string_equal(msg(&e), "State must be a standard state name "
	    "(California) or code (CA).");
	/* another field: the generic sentence names the phone field */
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-101\","
	    "\"errors\":[{\"errorCode\":\"CMN-101\",\"parameterName\":"
	    "\"contact.email\",\"parameterValue\":\"nope\"}]}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(msg(&e), "The email is invalid. Please correct the "
	    "parameter in Active Directory.");
}

static void
test_error_not_from_message_text(void **state)
{
	struct phone_error e;

	(void)state;
	/* a localized or reworded message changes nothing */
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-101\","
	    "\"message\":\"Extension already in use\",\"errors\":[{\"errorCode\":"
	    "\"CMN-101\",\"message\":\"Le paramètre est invalide\","
	    "\"parameterName\":\"contact.firstName\"}]}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(phone_param_field(e.param), "firstName");
	/* and no message at all still types by code */
	parse_err(PHONE_CALL_BULK_UPDATE, 409, "{\"errorCode\":\"EXT-107\"}", &e);
	assert_int_equal(e.kind, PHONE_EXTENSION_IN_USE);
	assert_string_equal(e.detail, "HTTP 409");
}

static void
test_error_scim_invalid_value(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_SCIM_CREATE, 400, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"400\",\"scimType\":"
	    "\"invalidValue\",\"detail\":\"Parameter [extension.contact."
	    "businessAddress.state] value is invalid.\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(e.code, "invalidValue");
	assert_string_equal(e.param, "extension.contact.businessAddress.state");
	assert_string_equal(phone_param_field(e.param), "state");
	parse_err(PHONE_CALL_SCIM_CREATE, 400, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"400\",\"scimType\":"
	    "\"invalidValue\",\"detail\":\"Parameter [name.givenName] is "
	    "required.\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(msg(&e), "The firstName is invalid. Please correct "
	    "the parameter in Active Directory.");
	parse_err(PHONE_CALL_SCIM_SEARCH, 400, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"400\",\"scimType\":"
	    "\"invalidFilter\",\"detail\":\"Filter [x] is not supported\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
}

static void
test_error_not_found(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_BULK_UPDATE, 404, "{\"errorCode\":\"CMN-102\","
	    "\"message\":\"Resource for parameter [customFields.id] is not found.\","
	    "\"errors\":[{\"errorCode\":\"CMN-102\",\"parameterName\":"
	    "\"customFields.id\",\"parameterValue\":\"77\"}]}", &e);
	assert_int_equal(e.kind, PHONE_NOT_FOUND);
	assert_string_equal(e.param, "customFields.id");
	assert_string_equal(msg(&e), "Resource for parameter [customFields.id] "
	    "is not found: the value is missing in Active Directory.");
	parse_err(PHONE_CALL_BULK_TASK, 404, "{\"errorCode\":\"CMN-102\","
	    "\"errors\":[{\"errorCode\":\"CMN-102\",\"parameterName\":\"taskId\"}]}",
	    &e);
	assert_int_equal(e.kind, PHONE_NOT_FOUND);
	parse_err(PHONE_CALL_SCIM_PATCH, 404, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"404\",\"detail\":"
	    "\"Resource for parameter [id] is not found.\"}", &e);
	assert_int_equal(e.kind, PHONE_NOT_FOUND);
	assert_string_equal(msg(&e), "The phone user no longer exists in TELUS "
	    "Business Connect.");
}

static void
test_error_conflicts(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_BULK_UPDATE, 409, "{\"errorCode\":\"EXT-107\","
	    "\"message\":\"Extension already in use\",\"errors\":[{\"errorCode\":"
	    "\"EXT-107\",\"message\":\"Extension already in use\","
	    "\"parameterName\":\"extensionNumber\",\"parameterValue\":\"150\"}]}",
	    &e);
	assert_int_equal(e.kind, PHONE_EXTENSION_IN_USE);
	assert_string_equal(e.value, "150");
	assert_string_equal(msg(&e), "Extension already in use: choose a free "
	    "extension in TELUS Business Connect's web portal, or correct the "
	    "extension field in AD.");
	parse_err(PHONE_CALL_SCIM_SEARCH, 409, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"409\",\"scimType\":"
	    "\"uniqueness\",\"detail\":\"More than one record found for Email: "
	    "[ann@example.com]\"}", &e);
	assert_int_equal(e.kind, PHONE_DUPLICATE_EMAIL);
	assert_string_equal(e.value, "ann@example.com");
	assert_string_equal(msg(&e), "TELUS Business Connect has more than one "
	    "user record for the given email [ann@example.com] (More than one "
	    "record found for Email): keep one user per email in TELUS Business "
	    "Connect, or correct the mail attribute in AD.");
	parse_err(PHONE_CALL_SCIM_CREATE, 409, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"409\",\"scimType\":"
	    "\"uniqueness\",\"detail\":\"User with email [a@b] already exists.\"}",
	    &e);
	assert_int_equal(e.kind, PHONE_CONFLICT);
	parse_err(PHONE_CALL_SCIM_CREATE, 403, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"403\",\"detail\":"
	    "\"License limit has been reached.\"}", &e);
	assert_int_equal(e.kind, PHONE_NO_FREE_EXTENSION);
	assert_string_equal(msg(&e), "All phone extensions are in use: the "
	    "account must have an unassigned extension before a user can be "
	    "created.");
	/* a permission 403 on the same call is not a full account */
	parse_err(PHONE_CALL_SCIM_CREATE, 403, "{\"errorCode\":\"CMN-408\","
	    "\"message\":\"In order to call this API endpoint, application needs "
	    "to have [EditExtensions] permission\"}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
}

static void
test_error_malformed_and_transient(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-103\","
	    "\"message\":\"JSON can't be parsed.\",\"errors\":[{\"errorCode\":"
	    "\"CMN-103\"}]}", &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	assert_string_equal(msg(&e), "JSON can not be parsed: the data sent or "
	    "received was malformed (request bulk-update: the server could not "
	    "read it, HTTP 400).");
	parse_err(PHONE_CALL_SCIM_CREATE, 400, "{\"schemas\":[\"urn:ietf:params:"
	    "scim:api:messages:2.0:Error\"],\"status\":\"400\",\"scimType\":"
	    "\"invalidSyntax\",\"detail\":\"JSON can not be parsed\"}", &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	parse_err(PHONE_CALL_EXTENSIONS, 503, "{\"errorCode\":\"CMN-201\","
	    "\"message\":\"Service Temporarily Unavailable\"}", &e);
	assert_int_equal(e.kind, PHONE_TRANSIENT);
	e.retry_after = 13;
	assert_string_equal(msg(&e), "Service temporarily unavailable: retrying "
	    "in 13 s.");
	parse_err(PHONE_CALL_EXTENSIONS, 500, "{\"errorCode\":\"CMN-500\"}", &e);
	assert_int_equal(e.kind, PHONE_TRANSIENT);
	parse_err(PHONE_CALL_EXTENSIONS, 502, "<html>bad gateway</html>", &e);
	assert_int_equal(e.kind, PHONE_TRANSIENT);
	assert_string_equal(e.detail, "HTTP 502 (not JSON)");
	parse_err(PHONE_CALL_EXTENSIONS, 429, "{\"errorCode\":\"CMN-301\","
	    "\"message\":\"Request rate exceeded\"}", &e);
	assert_int_equal(e.kind, PHONE_RATE_LIMITED);
	/* a 2xx the caller could not use */
	parse_err(PHONE_CALL_EXTENSIONS, 200, "<html>maintenance</html>", &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	/* whatever its body says (a user is not gone); found by fuzzing */
	parse_err(PHONE_CALL_SCIM_PATCH, 302, "{\"errorCode\":\"CMN-102\"}", &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	parse_err(PHONE_CALL_BULK_TASK, 200, "{\"errorCode\":\"CMN-301\"}", &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	/* no body at all */
	phone_error_parse(PHONE_CALL_EXTENSIONS, 400, NULL, 0, &e);
	assert_int_equal(e.kind, PHONE_DATA);
}

/* CMN-100 is a missing mandatory value: a data error naming the field */
static void
test_error_mandatory(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-100\","
	    "\"message\":\"Mandatory parameter [contact.businessAddress.state] "
	    "not specified.\",\"errors\":[{\"errorCode\":\"CMN-100\","
	    "\"parameterName\":\"contact.businessAddress.state\"}]}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(phone_param_field(e.param), "state");
	assert_string_equal(msg(&e), "A state is required for an address in this "
	    "country (the USA, the UK and Canada need one). Please fill in the "
	    "parameter in Active Directory.");
	/* no parameterName: the [X] of the message, once the code decided */
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-100\","
	    "\"message\":\"Mandatory parameter [contact.lastName] not "
	    "specified.\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_string_equal(e.param, "contact.lastName");
	assert_string_equal(msg(&e), "The lastName is required. Please fill in "
	    "the parameter in Active Directory.");
	parse_err(PHONE_CALL_BULK_UPDATE, 400, "{\"errorCode\":\"CMN-100\"}",
	    &e);
	assert_string_equal(msg(&e), "A required value is missing (CMN-100). "
	    "Please fill in the parameter in Active Directory.");
}

/*
 * The errorCode decides before the status: CMN-101 as 403 is a data
 * error, only the permission codes make a 403 an authorization problem.
 */
static void
test_error_code_before_status(void **state)
{
	static const struct {
		long status;
		const char *json;
		enum phone_err_kind kind;
	} cases[] = {
		{ 403, "{\"errorCode\":\"CMN-101\",\"message\":\"Parameter "
		  "[contact.email] value is invalid.\",\"errors\":[{\"errorCode\":"
		  "\"CMN-101\",\"parameterName\":\"contact.email\"}]}", PHONE_DATA },
		{ 400, "{\"errorCode\":\"CMN-101\",\"errors\":[{\"errorCode\":"
		  "\"CMN-101\",\"parameterName\":\"contact.email\"}]}", PHONE_DATA },
		/* a name at the top, the code in errors[] */
		{ 403, "{\"errorCode\":\"InvalidParameter\",\"errors\":[{"
		  "\"errorCode\":\"CMN-101\",\"parameterName\":\"contact.email\"}]}",
		  PHONE_DATA },
		{ 404, "{\"errorCode\":\"CMN-102\"}", PHONE_NOT_FOUND },
		{ 400, "{\"errorCode\":\"CMN-102\"}", PHONE_NOT_FOUND },
		{ 400, "{\"errorCode\":\"CMN-104\"}", PHONE_MALFORMED },
		{ 403, "{\"errorCode\":\"CMN-401\"}", PHONE_AUTH },
		{ 403, "{\"errorCode\":\"CMN-402\"}", PHONE_AUTH },
		{ 403, "{\"errorCode\":\"InsufficientPermissions\",\"errors\":[{"
		  "\"errorCode\":\"CMN-408\"}]}", PHONE_AUTH },
		{ 403, "{\"errorCode\":\"OAU-112\"}", PHONE_AUTH },
		/* another code on a 403 is about this request; no code at all is not */
		{ 403, "{\"errorCode\":\"ACT-332\"}", PHONE_DATA },
		{ 403, "<html>Forbidden</html>", PHONE_AUTH },
		{ 400, "{\"errorCode\":\"CMN-301\"}", PHONE_RATE_LIMITED },
		/* "already in use" has no published code: the parameter decides */
		{ 400, "{\"errorCode\":\"CMN-101\",\"errors\":[{\"errorCode\":"
		  "\"CMN-101\",\"parameterName\":\"extensionNumber\"}]}",
		  PHONE_EXTENSION_IN_USE },
		{ 409, "{\"errorCode\":\"CMN-406\",\"errors\":[{\"errorCode\":"
		  "\"CMN-406\",\"parameterName\":\"extensionNumber\"}]}",
		  PHONE_EXTENSION_IN_USE },
		{ 400, "{\"errorCode\":\"CMN-406\",\"errors\":[{\"errorCode\":"
		  "\"CMN-406\",\"parameterName\":\"contact.email\"}]}", PHONE_DATA },
		{ 404, "{\"errorCode\":\"CMN-102\",\"errors\":[{\"errorCode\":"
		  "\"CMN-102\",\"parameterName\":\"extensionNumber\"}]}",
		  PHONE_NOT_FOUND },
		{ 503, "{\"errorCode\":\"CMN-101\"}", PHONE_TRANSIENT },
	};
	struct phone_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_err(PHONE_CALL_BULK_UPDATE, cases[i].status, cases[i].json, &e);
		if (e.kind != cases[i].kind)
			fail_msg("case %zu: %s, expected %s", i,
			    phone_err_kind_name(e.kind),
			    phone_err_kind_name(cases[i].kind));
	}
	parse_err(PHONE_CALL_BULK_UPDATE, 403, cases[2].json, &e);
	assert_string_equal(e.code, "CMN-101");
	assert_string_equal(msg(&e), "The email is invalid. Please correct the "
	    "parameter in Active Directory.");
}

static void
test_error_auth(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_EXTENSIONS, 401, "{\"errorCode\":\"TokenExpired\","
	    "\"message\":\"Token expired\",\"error\":\"invalid_grant\","
	    "\"error_description\":\"Token expired\",\"errors\":[{\"errorCode\":"
	    "\"OAU-210\",\"message\":\"Token expired\"}]}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
	assert_string_equal(e.code, "OAU-210");
	assert_string_equal(msg(&e), "The TELUS Business Connect session "
	    "expired: run `ringsyncctl auth login` (or check the JWT "
	    "credential).");
	parse_err(PHONE_CALL_TOKEN, 401, "{\"error\":\"invalid_client\","
	    "\"error_description\":\"Invalid client\",\"errors\":[{\"errorCode\":"
	    "\"OAU-153\",\"message\":\"Invalid client\"}]}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
	assert_string_equal(e.code, "invalid_client");
	assert_string_equal(msg(&e), "The TELUS Business Connect app credentials "
	    "were refused: check client_id and client_secret_file.");
	parse_err(PHONE_CALL_TOKEN, 400, "{\"error\":\"invalid_grant\","
	    "\"error_description\":\"Token is revoked\",\"errors\":[{\"errorCode\":"
	    "\"OAU-211\"}]}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
	assert_string_equal(e.code, "invalid_grant");
	parse_err(PHONE_CALL_TOKEN, 400, "{\"error\":\"invalid_request\","
	    "\"errors\":[{\"errorCode\":\"CMN-101\",\"message\":\"Parameter "
	    "[assertion] value is invalid.\"}]}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
	/* the revoke endpoint's refusals are the session's too */
	parse_err(PHONE_CALL_REVOKE, 400, "{\"error\":\"invalid_request\","
	    "\"errors\":[{\"errorCode\":\"CMN-101\",\"message\":\"Parameter "
	    "[token] value is invalid.\"}]}", &e);
	assert_int_equal(e.kind, PHONE_AUTH);
	assert_string_equal(e.code, "invalid_request");
	assert_string_equal(phone_call_name(PHONE_CALL_REVOKE), "revoke");
	/* the token endpoint's 503 is still transient */
	parse_err(PHONE_CALL_TOKEN, 503, "{\"errorCode\":\"CMN-201\"}", &e);
	assert_int_equal(e.kind, PHONE_TRANSIENT);
}

static void
test_error_from_item(void **state)
{
	static const struct {
		const char *json;
		enum phone_err_kind kind;
	} cases[] = {
		{ "{\"errorCode\":\"CMN-101\",\"parameterName\":\"status\"}",
		  PHONE_DATA },
		{ "{\"errorCode\":\"CMN-102\",\"parameterName\":\"extensionId\","
		  "\"parameterValue\":42}", PHONE_NOT_FOUND },
		{ "{\"errorCode\":\"EXT-107\",\"parameterName\":\"extensionNumber\"}",
		  PHONE_EXTENSION_IN_USE },
		{ "{\"errorCode\":\"CMN-100\",\"parameterName\":"
		  "\"contact.businessAddress.state\"}", PHONE_DATA },
		{ "{\"errorCode\":\"CMN-103\"}", PHONE_MALFORMED },
		{ "{\"errorCode\":\"CMN-104\"}", PHONE_MALFORMED },
		{ "{\"errorCode\":\"CMN-408\"}", PHONE_AUTH },
		{ "{\"errorCode\":\"CMN-101\",\"parameterName\":"
		  "\"extensionNumber\"}", PHONE_EXTENSION_IN_USE },
		{ "{\"errorCode\":\"CMN-406\",\"parameterName\":"
		  "\"extensionNumber\"}", PHONE_EXTENSION_IN_USE },
		{ "{\"errorCode\":\"CMN-201\"}", PHONE_TRANSIENT },
		{ "{\"errorCode\":\"XYZ-1\"}", PHONE_DATA },
		{ "{\"message\":\"no code\"}", PHONE_MALFORMED },
		{ "[1]", PHONE_MALFORMED },
	};
	struct phone_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = jparse(cases[i].json);

		phone_error_from_item(j, PHONE_CALL_BULK_TASK, &e);
		assert_int_equal(e.kind, cases[i].kind);
		json_decref(j);
	}
	phone_error_from_item(NULL, PHONE_CALL_BULK_TASK, &e);
	assert_int_equal(e.kind, PHONE_MALFORMED);
	json_t *j = jparse("{\"errorCode\":\"CMN-102\",\"parameterName\":"
	    "\"extensionId\",\"parameterValue\":42}");
	phone_error_from_item(j, PHONE_CALL_BULK_TASK, &e);
	assert_string_equal(e.value, "42");
	assert_string_equal(msg(&e), "The phone user no longer exists in TELUS "
	    "Business Connect.");
	json_decref(j);
}

static void
test_error_messages_every_kind(void **state)
{
	struct phone_error e;
	char buf[64], big[256];

	(void)state;
	for (int k = PHONE_OK; k <= PHONE_EXTENSION_IN_USE; k++) {
		phone_error_ok(&e, PHONE_CALL_NONE);
		e.kind = k;
		assert_true(strlen(msg(&e)) > 8);
		assert_string_not_equal(phone_err_kind_name(k), "unknown");
	}
	phone_error_ok(&e, PHONE_CALL_NONE);
	e.kind = PHONE_RATE_LIMITED;
	assert_string_equal(msg(&e), "Request rate exceeded: retrying later.");
	/* a short buffer is cut, never overrun */
	e.kind = PHONE_EXTENSION_IN_USE;
	phone_error_message(&e, "RingCentral", buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* no brand: a neutral name */
	assert_non_null(strstr(phone_error_message(&e, NULL, big, sizeof(big)),
	    "in the phone system's web portal"));
}

/* ---------------------------------------------------------------------
 * Parameter names and fields */

static void
test_param_field(void **state)
{
	static const struct {
		const char *param, *field;
	} cases[] = {
		{ "contact.businessAddress.state", "state" },
		{ "extension.contact.businessAddress.state", "state" },
		{ "addresses[type eq \"work\"].region", "state" },
		{ "addresses.region", "state" },
		{ "addresses[type eq \"work\"].streetAddress", "street" },
		{ "addresses.locality", "city" },
		{ "addresses.postalCode", "zip" },
		{ "addresses.country", "country" },
		{ "contact.businessAddress.zip", "zip" },
		{ "name.givenName", "firstName" },
		{ "name.familyName", "lastName" },
		{ "contact.firstName", "firstName" },
		{ "userName", "email" },
		{ "emails[type eq \"work\"].value", "email" },
		{ "emails.value", "email" },
		{ "contact.email", "email" },
		{ "phoneNumbers[type eq \"mobile\"].value", "mobilePhone" },
		{ "phoneNumbers[type eq \"work\"].value", "businessPhone" },
		{ "contact.mobilePhone", "mobilePhone" },
		{ "title", "jobTitle" },
		{ "contact.jobTitle", "jobTitle" },
		{ "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
		  "department", "department" },
		{ "contact.department", "department" },
		{ "status", "status" },
		{ "active", "status" },
		{ "extensionNumber", "extensionNumber" },
		{ "phoneNumbers.value", NULL },
		{ "customFields.id", NULL },
		{ "externalId", NULL },
		{ "", NULL },
		{ "addresses[type eq \"work\"", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *f = phone_param_field(cases[i].param);

		if (cases[i].field == NULL && f != NULL)
			fail_msg("%s -> %s, expected none", cases[i].param, f);
		if (cases[i].field != NULL && (f == NULL ||
		    strcmp(f, cases[i].field) != 0))
			fail_msg("%s -> %s, expected %s", cases[i].param,
			    f ? f : "none", cases[i].field);
	}
	assert_null(phone_param_field(NULL));
	assert_int_equal(phone_field_from_name("STATE"), PHONE_F_STATE);
	assert_int_equal(phone_field_from_name("nope"), -1);
	for (int f = 0; f < PHONE_NFIELDS; f++)
		assert_int_equal(phone_field_from_name(phone_field_name(f)), f);
}

/* ---------------------------------------------------------------------
 * Request bodies */

static void
assert_json_eq(json_t *got, const char *want_text)
{
	json_t *want = jparse(want_text);

	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);

		fail_msg("got %s\nwant %s", g, want_text);
	}
	json_decref(want);
	json_decref(got);
}

static void
test_bulk_record(void **state)
{
	struct phone_custom_value cv[] = { { "12", "CC-1" }, { "13", "" } };
	struct phone_profile prof = { 0 };
	struct phone_bulk_item item = { 3000000123LL, &prof, NULL, NULL, NULL };

	(void)state;
	prof.field[PHONE_F_FIRST_NAME] = "Zoë";
	prof.field[PHONE_F_MOBILE_PHONE] = "";
	prof.field[PHONE_F_STATE] = "CA";
	prof.field[PHONE_F_COUNTRY] = "US";
	prof.field[PHONE_F_JOB_TITLE] = "Chef";
	prof.custom = cv;
	prof.ncustom = 2;
	assert_json_eq(phone_bulk_record(&item), "{\"id\":\"3000000123\",\"contact\":"
	    "{\"firstName\":\"Zoë\",\"mobilePhone\":\"\",\"jobTitle\":\"Chef\","
	    "\"businessAddress\":{\"state\":\"CA\",\"country\":\"US\"}},"
	    "\"customFields\":[{\"id\":\"12\",\"value\":\"CC-1\"},{\"id\":\"13\","
	    "\"value\":\"\"}]}");
	item.profile = NULL;
	item.status = "Disabled";
	item.extension_number = "150";
	item.site_id = "main-site";
	assert_json_eq(phone_bulk_record(&item), "{\"id\":\"3000000123\","
	    "\"status\":\"Disabled\",\"extensionNumber\":\"150\",\"site\":"
	    "{\"id\":\"main-site\"}}");
	item.extension_number = NULL;
	item.site_id = NULL;
	memset(&prof, 0, sizeof(prof));
	item.profile = &prof;
	item.status = "Enabled";
	assert_json_eq(phone_bulk_record(&item), "{\"id\":\"3000000123\","
	    "\"status\":\"Enabled\"}");
}

static void
test_extension_create_body(void **state)
{
	struct phone_custom_value cv[] = { { "12", "CC-1" } };
	struct phone_profile prof = { 0 };
	struct phone_create_extra x = { "1234", "2001", "17" };
	char err[128];

	(void)state;
	prof.field[PHONE_F_FIRST_NAME] = "Ann";
	prof.field[PHONE_F_EMAIL] = "ann@example.com";
	assert_null(phone_extension_create_body(&prof, NULL, err, sizeof(err)));
	assert_string_equal(err, "a new phone user needs lastName");
	prof.field[PHONE_F_LAST_NAME] = "Lee";
	prof.field[PHONE_F_MOBILE_PHONE] = "";
	prof.field[PHONE_F_CITY] = "";
	prof.field[PHONE_F_STATE] = "CA";
	prof.field[PHONE_F_DEPARTMENT] = "Sales";
	prof.custom = cv;
	prof.ncustom = 1;
	/* Empty fields are left out: a create has nothing to clear. */
	assert_json_eq(phone_extension_create_body(&prof, &x, err,
	    sizeof(err)), "{\"extensionNumber\":\"1234\",\"site\":{\"id\":"
	    "\"2001\"},\"costCenter\":{\"id\":\"17\"},\"type\":\"User\","
	    "\"status\":\"Enabled\",\"contact\":{\"firstName\":\"Ann\","
	    "\"lastName\":\"Lee\",\"email\":\"ann@example.com\","
	    "\"department\":\"Sales\",\"businessAddress\":{\"state\":\"CA\"}},"
	    "\"customFields\":[{\"id\":\"12\",\"value\":\"CC-1\"}]}");
	prof.field[PHONE_F_STATE] = "";
	prof.ncustom = 0;
	assert_json_eq(phone_extension_create_body(&prof, NULL, err,
	    sizeof(err)), "{\"type\":\"User\",\"status\":\"Enabled\","
	    "\"contact\":{\"firstName\":\"Ann\",\"lastName\":\"Lee\","
	    "\"email\":\"ann@example.com\",\"department\":\"Sales\"}}");
}

static void
test_scim_create_body(void **state)
{
	struct phone_profile prof = { 0 };
	char err[128];

	(void)state;
	prof.field[PHONE_F_FIRST_NAME] = "Ann";
	prof.field[PHONE_F_LAST_NAME] = "Lee";
	assert_null(phone_scim_create_body(&prof, "guid", err, sizeof(err)));
	assert_string_equal(err, "a new phone user needs email");
	prof.field[PHONE_F_EMAIL] = "ann@example.com";
	assert_json_eq(phone_scim_create_body(&prof, NULL, err, sizeof(err)),
	    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
	    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
	    "\"userName\":\"ann@example.com\",\"name\":{\"givenName\":\"Ann\","
	    "\"familyName\":\"Lee\"},\"emails\":[{\"type\":\"work\",\"value\":"
	    "\"ann@example.com\",\"primary\":true}],\"active\":true}");
	prof.field[PHONE_F_MOBILE_PHONE] = "+16505550101";
	prof.field[PHONE_F_BUSINESS_PHONE] = "+16505550102";
	prof.field[PHONE_F_STREET] = "1 Main St";
	prof.field[PHONE_F_CITY] = "";
	prof.field[PHONE_F_STATE] = "CA";
	prof.field[PHONE_F_DEPARTMENT] = "Sales";
	prof.field[PHONE_F_JOB_TITLE] = "Rep";
	assert_json_eq(phone_scim_create_body(&prof,
	    "4bb5a4cb-d4ea-4c97-8904-8901509e4400", err, sizeof(err)),
	    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
	    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
	    "\"userName\":\"ann@example.com\",\"externalId\":"
	    "\"4bb5a4cb-d4ea-4c97-8904-8901509e4400\",\"name\":{\"givenName\":"
	    "\"Ann\",\"familyName\":\"Lee\"},\"emails\":[{\"type\":\"work\","
	    "\"value\":\"ann@example.com\",\"primary\":true}],\"phoneNumbers\":"
	    "[{\"type\":\"work\",\"value\":\"+16505550102\"},{\"type\":\"mobile\","
	    "\"value\":\"+16505550101\"}],\"addresses\":[{\"type\":\"work\","
	    "\"streetAddress\":\"1 Main St\",\"region\":\"CA\"}],\"title\":"
	    "\"Rep\",\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:"
	    "User\":{\"department\":\"Sales\"},\"active\":true}");
	prof.field[PHONE_F_LAST_NAME] = "";
	assert_null(phone_scim_create_body(&prof, NULL, err, sizeof(err)));
	assert_string_equal(err, "a new phone user needs lastName");
}

/* ---------------------------------------------------------------------
 * Response validation */

static void
test_parse_extension(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"status\":\"Enabled\"}",
		"{\"id\":\"101\",\"status\":\"Enabled\"}",
		"{\"id\":101}",
		"{\"id\":101,\"status\":5}",
		"{\"id\":101,\"status\":\"Enabled\",\"contact\":\"x\"}",
		"{\"id\":101,\"status\":\"Enabled\",\"contact\":{\"email\":1}}",
		"{\"id\":101,\"status\":\"Enabled\",\"contact\":{\"businessAddress\":"
		"[]}}",
		"{\"id\":101,\"status\":\"Enabled\",\"contact\":{\"businessAddress\":"
		"{\"state\":true}}}",
		"{\"id\":101,\"status\":\"Enabled\",\"customFields\":{}}",
		"{\"id\":101,\"status\":\"Enabled\",\"customFields\":[1]}",
		"{\"id\":101,\"status\":\"Enabled\",\"customFields\":[{\"value\":"
		"\"x\"}]}",
		"{\"id\":101.5,\"status\":\"Enabled\"}",
	};
	struct phone_extension x;
	char err[256];
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = jparse(bad[i]);
		if (phone_parse_extension(j, &x, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err, "extension"));
		json_decref(j);
	}
	j = jparse("{\"id\":3000000001,\"extensionNumber\":\"101\",\"type\":"
	    "\"User\",\"status\":\"Enabled\",\"name\":\"Ann Lee\",\"contact\":"
	    "{\"firstName\":\"Ann\",\"email\":\"ann@example.com\",\"company\":"
	    "\"ACME\",\"businessAddress\":{\"state\":\"CA\"}},\"customFields\":"
	    "[{\"id\":\"1\",\"value\":\"CC-1\",\"displayName\":\"Cost Center\"},"
	    "{\"id\":2}],\"extra\":[1,2]}");
	assert_int_equal(phone_parse_extension(j, &x, err, sizeof(err)), 0);
	assert_true(x.id == 3000000001LL);
	assert_string_equal(x.extension_number, "101");
	assert_string_equal(x.field[PHONE_F_FIRST_NAME], "Ann");
	assert_string_equal(x.field[PHONE_F_STATE], "CA");
	assert_null(x.field[PHONE_F_LAST_NAME]);
	assert_int_equal(x.ncustom, 2);
	assert_string_equal(x.custom[0].display_name, "Cost Center");
	assert_string_equal(x.custom[1].id, "2");
	assert_null(x.custom[1].value);
	assert_null(x.site_id);
	phone_extension_clear(&x);
	json_decref(j);
	/* The site's id; a site without one is no site, not a bad record. */
	j = jparse("{\"id\":1,\"status\":\"Enabled\",\"site\":{\"id\":"
	    "\"main-site\",\"name\":\"HQ\"}}");
	assert_int_equal(phone_parse_extension(j, &x, err, sizeof(err)), 0);
	assert_string_equal(x.site_id, "main-site");
	phone_extension_clear(&x);
	json_decref(j);
	j = jparse("{\"id\":1,\"status\":\"Enabled\",\"site\":{\"name\":"
	    "\"HQ\"}}");
	assert_int_equal(phone_parse_extension(j, &x, err, sizeof(err)), 0);
	assert_null(x.site_id);
	phone_extension_clear(&x);
	json_decref(j);
}

/* The company directory: the shown DirectNumber, primary first; paging. */
static void
test_parse_directory(void **state)
{
	struct phone_dir_entry d;
	char err[256];
	json_t *j;
	int next;

	(void)state;
	j = jparse("{\"id\":\"3000000001\",\"email\":\"a@b.c\",\"status\":"
	    "\"Enabled\",\"extensionNumber\":\"101\",\"phoneNumbers\":["
	    "{\"phoneNumber\":\"+14155550101\",\"usageType\":\"MobileNumber\","
	    "\"primary\":true},{\"phoneNumber\":\"+16505550102\",\"usageType\":"
	    "\"DirectNumber\"},{\"phoneNumber\":\"+16505550103\",\"usageType\":"
	    "\"DirectNumber\",\"hidden\":true,\"primary\":true},{\"phoneNumber\":"
	    "\"+16505550101\",\"usageType\":\"DirectNumber\",\"primary\":true}]}");
	assert_int_equal(phone_parse_dir_entry(j, &d, err, sizeof(err)), 0);
	assert_true(d.id == 3000000001LL);
	assert_string_equal(d.email, "a@b.c");
	assert_string_equal(d.extension_number, "101");
	assert_string_equal(d.direct, "+16505550101");
	phone_dir_entry_clear(&d);
	json_decref(j);
	/* an integer id; no number shown */
	j = jparse("{\"id\":101,\"phoneNumbers\":[{\"phoneNumber\":\"+1\","
	    "\"usageType\":\"ContactNumber\"}]}");
	assert_int_equal(phone_parse_dir_entry(j, &d, err, sizeof(err)), 0);
	assert_true(d.id == 101 && d.direct == NULL && d.email == NULL);
	phone_dir_entry_clear(&d);
	json_decref(j);
	j = jparse("{\"id\":\"x1\"}");
	assert_int_equal(phone_parse_dir_entry(j, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "directory entry: id is not a number: x1");
	json_decref(j);
	j = jparse("{\"id\":\"1\",\"phoneNumbers\":[{\"usageType\":\"DirectNumber\"}]}");
	assert_int_equal(phone_parse_dir_entry(j, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "directory entry: phoneNumber is missing");
	json_decref(j);

	/* paging: totalPages decides, even for a short page (a cut perPage) */
	j = jparse("{\"records\":[],\"paging\":{\"page\":1,\"perPage\":1000,"
	    "\"totalPages\":2}}");
	assert_int_equal(phone_parse_dir_page(j, 1, 1000, &next, err, sizeof(err)), 0);
	assert_int_equal(next, 1);
	assert_int_equal(phone_parse_dir_page(j, 2, 1000, &next, err, sizeof(err)), -1);
	assert_string_equal(err, "directory paging: page 1 instead of 2");
	json_decref(j);
	j = jparse("{\"records\":[],\"paging\":{\"page\":2,\"totalPages\":2}}");
	assert_int_equal(phone_parse_dir_page(j, 2, 5, &next, err, sizeof(err)), 0);
	assert_int_equal(next, 0);
	json_decref(j);
	/* no totalPages: on until an empty page */
	j = jparse("{\"records\":[]}");
	assert_int_equal(phone_parse_dir_page(j, 3, 7, &next, err, sizeof(err)), 0);
	assert_int_equal(next, 1);
	assert_int_equal(phone_parse_dir_page(j, 3, 0, &next, err, sizeof(err)), 0);
	assert_int_equal(next, 0);
	json_decref(j);
	j = jparse("{\"records\":[],\"paging\":{\"page\":\"1\"}}");
	assert_int_equal(phone_parse_dir_page(j, 1, 0, &next, err, sizeof(err)), -1);
	json_decref(j);
}

static void
test_parse_number_user_field(void **state)
{
	struct phone_number n;
	struct phone_user u;
	struct phone_custom_field f;
	char err[256];
	json_t *j;

	(void)state;
	j = jparse("{\"id\":5000000001,\"phoneNumber\":\"+16505550100\","
	    "\"usageType\":\"DirectNumber\",\"primary\":true,\"extension\":"
	    "{\"id\":3000000001,\"extensionNumber\":\"101\"}}");
	assert_int_equal(phone_parse_number(j, &n, err, sizeof(err)), 0);
	assert_true(n.extension_id == 3000000001LL);
	assert_int_equal(n.primary, 1);
	phone_number_clear(&n);
	json_decref(j);
	j = jparse("{\"id\":5,\"phoneNumber\":\"+1\",\"usageType\":\"Inventory\","
	    "\"extension\":{\"extensionNumber\":\"101\"}}");
	assert_int_equal(phone_parse_number(j, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "phone number: id is missing");
	json_decref(j);
	j = jparse("{\"id\":5,\"phoneNumber\":\"+1\",\"usageType\":\"X\","
	    "\"primary\":\"yes\"}");
	assert_int_equal(phone_parse_number(j, &n, err, sizeof(err)), -1);
	json_decref(j);

	j = jparse("{\"id\":\"3000000001\",\"userName\":\"a@b.c\",\"active\":"
	    "false,\"name\":{\"givenName\":\"A\"},\"emails\":[{\"type\":\"other\","
	    "\"value\":\"x@y\"},{\"type\":\"work\",\"value\":\"a@b.c\"}]}");
	assert_int_equal(phone_parse_user(j, &u, err, sizeof(err)), 0);
	assert_string_equal(u.id, "3000000001");
	assert_string_equal(u.email, "a@b.c");
	assert_int_equal(u.active, 0);
	phone_user_clear(&u);
	json_decref(j);
	j = jparse("{\"id\":\"1\",\"userName\":\"a@b.c\"}");
	assert_int_equal(phone_parse_user(j, &u, err, sizeof(err)), -1);
	assert_string_equal(err, "SCIM user: active is missing");
	json_decref(j);
	j = jparse("{\"id\":\"1\",\"userName\":\"a@b.c\",\"active\":true,"
	    "\"emails\":[\"a@b.c\"]}");
	assert_int_equal(phone_parse_user(j, &u, err, sizeof(err)), -1);
	json_decref(j);

	j = jparse("{\"id\":12,\"category\":\"User\",\"displayName\":\"Cost\"}");
	assert_int_equal(phone_parse_custom_field(j, &f, err, sizeof(err)), 0);
	assert_string_equal(f.id, "12");
	phone_custom_field_clear(&f);
	json_decref(j);
	j = jparse("{\"id\":12,\"category\":\"User\"}");
	assert_int_equal(phone_parse_custom_field(j, &f, err, sizeof(err)), -1);
	json_decref(j);
}

static void
test_batch(void **state)
{
	struct phone_profile a = { 0 }, b = { 0 };
	const struct phone_profile *prof[] = { &a, &b };
	struct phone_create_extra x[] = { { "1234", "2001", "17" },
		{ NULL, NULL, NULL } };
	struct phone_batch_result v[3];
	size_t n;
	char err[256];
	json_t *j;

	(void)state;
	a.field[PHONE_F_FIRST_NAME] = "Ann";
	a.field[PHONE_F_LAST_NAME] = "Lee";
	a.field[PHONE_F_EMAIL] = "ann@example.com";
	a.field[PHONE_F_MOBILE_PHONE] = "+16505550101";
	a.field[PHONE_F_DEPARTMENT] = "Sales";  /* not in a batch record */
	b.field[PHONE_F_FIRST_NAME] = "Bo";
	b.field[PHONE_F_LAST_NAME] = "Ng";
	b.field[PHONE_F_EMAIL] = "bo@example.com";
	b.field[PHONE_F_MOBILE_PHONE] = "";
	/* No site: the batch has none. */
	assert_json_eq(phone_batch_body(prof, x, 2), "{\"records\":[{\"status\":"
	    "\"Enabled\",\"contact\":{\"firstName\":\"Ann\",\"lastName\":\"Lee\","
	    "\"email\":\"ann@example.com\",\"mobileNumber\":\"+16505550101\"},"
	    "\"extensionNumber\":\"1234\",\"costCenter\":{\"id\":\"17\"}},"
	    "{\"status\":\"Enabled\",\"contact\":{\"firstName\":\"Bo\","
	    "\"lastName\":\"Ng\",\"email\":\"bo@example.com\"}}]}");
	j = jparse("{\"results\":[{\"successful\":true,\"extension\":{\"id\":"
	    "\"3000000007\",\"devices\":[]}},{\"successful\":false,\"errors\":"
	    "[{\"errorCode\":\"CMN-406\",\"message\":\"Duplicate value\","
	    "\"parameterName\":\"extensionNumber\"}]}]}");
	assert_int_equal(phone_parse_batch(j, v, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_true(v[0].ok);
	assert_int_equal(v[0].extension_id, 3000000007LL);
	assert_false(v[1].ok);
	assert_int_equal(v[1].err.kind, PHONE_EXTENSION_IN_USE);
	assert_int_equal(phone_parse_batch(j, v, 1, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "batch create: 2 results for 1 users");
	json_decref(j);
	j = jparse("{\"results\":[{\"successful\":true}]}");
	assert_int_equal(phone_parse_batch(j, v, 2, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "batch create: extension is missing");
	json_decref(j);
}

static void
test_parse_items(void **state)
{
	struct phone_item it;
	char err[256];
	json_t *j;
	int max;

	(void)state;
	j = jparse("{\"id\":\"main-site\",\"name\":\"HQ\",\"code\":\"HQ1\","
	    "\"extensionNumber\":\"100\"}");
	assert_int_equal(phone_parse_item(j, PHONE_ITEMS_SITES, &it, err,
	    sizeof(err)), 0);
	assert_string_equal(it.id, "main-site");
	assert_string_equal(it.name, "HQ");
	assert_string_equal(it.code, "HQ1");
	phone_item_clear(&it);
	json_decref(j);
	/* A cost center's id is a number; a role is named by displayName. */
	j = jparse("{\"id\":7,\"name\":\"R&D\",\"billingCode\":\"B-7\","
	    "\"parentId\":1}");
	assert_int_equal(phone_parse_item(j, PHONE_ITEMS_COST_CENTERS, &it, err,
	    sizeof(err)), 0);
	assert_string_equal(it.id, "7");
	assert_string_equal(it.code, "B-7");
	phone_item_clear(&it);
	assert_int_equal(phone_parse_item(j, PHONE_ITEMS_ROLES, &it, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "role: displayName is missing");
	json_decref(j);
	j = jparse("{\"id\":\"1\",\"displayName\":\"Standard\"}");
	assert_int_equal(phone_parse_item(j, PHONE_ITEMS_ROLES, &it, err,
	    sizeof(err)), 0);
	assert_string_equal(it.name, "Standard");
	assert_null(it.code);
	phone_item_clear(&it);
	json_decref(j);
	j = jparse("{\"name\":\"HQ\"}");
	assert_int_equal(phone_parse_item(j, PHONE_ITEMS_SITES, &it, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "site: id is missing");
	json_decref(j);
	j = jparse("{\"limits\":{\"maxExtensionNumberLength\":5}}");
	assert_int_equal(phone_parse_service_info(j, &max, err, sizeof(err)), 0);
	assert_int_equal(max, 5);
	json_decref(j);
	j = jparse("{\"limits\":{\"maxExtensionNumberLength\":9}}");
	assert_int_equal(phone_parse_service_info(j, &max, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"limits\":{}}");
	assert_int_equal(phone_parse_service_info(j, &max, err, sizeof(err)), -1);
	assert_string_equal(err, "service-info: maxExtensionNumberLength is "
	    "missing");
	json_decref(j);
}

static void
test_parse_page(void **state)
{
	struct phone_page pg;
	char err[256];
	json_t *j;

	(void)state;
	j = jparse("{\"records\":[],\"paging\":{\"page\":2,\"totalPages\":3,"
	    "\"perPage\":1000,\"totalElements\":2500},\"navigation\":{\"nextPage\":"
	    "{\"uri\":\"x\"}}}");
	assert_int_equal(phone_parse_page(j, 2, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.has_next, 1);
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), -1);
	assert_string_equal(err, "paging: page 2 instead of 1");
	json_decref(j);
	j = jparse("{\"paging\":{\"page\":3,\"totalPages\":3},\"navigation\":"
	    "{\"nextPage\":{\"uri\":\"x\"}}}");
	assert_int_equal(phone_parse_page(j, 3, &pg, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"paging\":{\"page\":\"1\"}}");
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"paging\":{\"page\":1},\"navigation\":{\"nextPage\":3}}");
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"paging\":{\"page\":1,\"totalPages\":0}}");
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.has_next, 0);
	json_decref(j);
}

/* an empty result may leave out paging, or page, pageStart and pageEnd */
static void
test_parse_page_omitted(void **state)
{
	static const char *const ok[] = {
		"{\"records\":[]}",
		"{\"records\":[],\"paging\":{}}",
		"{\"records\":[],\"paging\":{\"perPage\":1000},\"navigation\":{}}",
		"{\"records\":[],\"paging\":{\"page\":null,\"totalElements\":0}}",
		"{\"records\":[],\"paging\":{\"totalPages\":0},\"navigation\":"
		"{\"firstPage\":{\"uri\":\"x\"}}}",
	};
	struct phone_page pg;
	char err[256];
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		j = jparse(ok[i]);
		if (phone_parse_page(j, 1, &pg, err, sizeof(err)) != 0)
			fail_msg("refused %s: %s", ok[i], err);
		assert_int_equal(pg.has_next, 0);
		assert_true(pg.page == 1);
		json_decref(j);
	}
	/* present members are still checked */
	j = jparse("{\"records\":[],\"paging\":[]}");
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"records\":[],\"paging\":{\"totalPages\":\"0\"}}");
	assert_int_equal(phone_parse_page(j, 1, &pg, err, sizeof(err)), -1);
	json_decref(j);
}

static void
test_parse_task(void **state)
{
	struct phone_bulk_result res[3] = {
		{ .extension_id = 101 }, { .extension_id = 102 },
		{ .extension_id = 103 },
	};
	char err[256];
	json_t *j;

	(void)state;
	j = jparse("{\"id\":\"t1\",\"status\":\"InProgress\"}");
	assert_int_equal(phone_parse_task(j, res, 3, err, sizeof(err)), 0);
	json_decref(j);
	/* ids as strings or numbers, whichever the server sends */
	j = jparse("{\"id\":77,\"status\":\"Completed\",\"result\":"
	    "{\"affectedItems\":{\"result\":[{\"extensionId\":103,\"status\":"
	    "\"Success\"},{\"extensionId\":\"101\",\"status\":\"Success\"},"
	    "{\"extensionId\":102,\"status\":\"Success\"}]}}}");
	assert_int_equal(phone_parse_task(j, res, 3, err, sizeof(err)), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].ok, 1);
	json_decref(j);
	j = jparse("{\"id\":\"t1\",\"status\":\"Completed\",\"result\":"
	    "{\"affectedItems\":{\"result\":[{\"extensionId\":\"102\",\"status\":"
	    "\"Fail\",\"errors\":[{\"errorCode\":\"EXT-107\",\"parameterName\":"
	    "\"extensionNumber\",\"parameterValue\":\"150\"}]},{\"extensionId\":"
	    "101,\"status\":\"Success\"},{\"extensionId\":\"999\",\"status\":"
	    "\"Success\"}]}}}");
	assert_int_equal(phone_parse_task(j, res, 3, err, sizeof(err)), 1);
	assert_int_equal(res[0].ok, 1);
	assert_int_equal(res[0].err.kind, PHONE_OK);
	assert_int_equal(res[1].ok, 0);
	assert_int_equal(res[1].err.kind, PHONE_EXTENSION_IN_USE);
	assert_int_equal(res[2].ok, 0); /* no result for 103 */
	assert_int_equal(res[2].err.kind, PHONE_MALFORMED);
	json_decref(j);
	j = jparse("{\"id\":\"t1\",\"status\":\"Failed\",\"errors\":"
	    "[{\"errorCode\":\"CMN-101\",\"parameterName\":\"records\"}]}");
	assert_int_equal(phone_parse_task(j, res, 3, err, sizeof(err)), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].err.kind, PHONE_DATA);
	json_decref(j);
	static const char *const bad[] = {
		"{\"status\":\"Completed\"}",
		"{\"id\":\"t\",\"status\":\"Done\"}",
		"{\"id\":\"t\",\"status\":\"Completed\"}",
		"{\"id\":\"t\",\"status\":\"Completed\",\"result\":{\"affectedItems\":"
		"{\"result\":{}}}}",
		"{\"id\":\"t\",\"status\":\"Completed\",\"result\":{\"affectedItems\":"
		"{\"result\":[{\"extensionId\":\"x1\",\"status\":\"Success\"}]}}}",
		"{\"id\":\"t\",\"status\":\"Completed\",\"result\":{\"affectedItems\":"
		"{\"result\":[{\"extensionId\":\"101\",\"status\":\"Maybe\"}]}}}",
		"{\"id\":true,\"status\":\"Accepted\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = jparse(bad[i]);
		if (phone_parse_task(j, res, 3, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		json_decref(j);
	}
}

static void
test_parse_spc_schemas(void **state)
{
	struct phone_spc spc;
	struct phone_schema s;
	char err[256];
	json_t *j;

	(void)state;
	j = jparse("{\"patch\":{\"supported\":true},\"bulk\":{\"supported\":"
	    "false},\"filter\":{\"supported\":true,\"maxResults\":1000}}");
	assert_int_equal(phone_parse_spc(j, &spc, err, sizeof(err)), 0);
	assert_int_equal(spc.patch, 1);
	assert_int_equal(spc.filter, 1);
	assert_true(spc.max_results == 1000);
	json_decref(j);
	j = jparse("{\"patch\":{\"supported\":\"yes\"}}");
	assert_int_equal(phone_parse_spc(j, &spc, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"bulk\":{\"supported\":true}}");
	assert_int_equal(phone_parse_spc(j, &spc, err, sizeof(err)), -1);
	json_decref(j);

	j = jparse("{\"Resources\":[{\"id\":\"urn:u\",\"attributes\":[{\"name\":"
	    "\"userName\",\"type\":\"string\",\"required\":true},{\"name\":\"name\","
	    "\"type\":\"complex\",\"subAttributes\":[{\"name\":\"givenName\","
	    "\"type\":\"string\"}]}]}]}");
	assert_int_equal(phone_parse_schemas(j, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.v[2].name, "name.givenName");
	assert_string_equal(s.v[2].schema, "urn:u");
	assert_int_equal(s.v[0].required, 1);
	phone_schema_clear(&s);
	json_decref(j);
	j = jparse("{\"Resources\":[{\"id\":\"urn:u\",\"attributes\":[{\"name\":"
	    "\"userName\"}]}]}");
	assert_int_equal(phone_parse_schemas(j, &s, err, sizeof(err)), -1);
	json_decref(j);
	j = jparse("{\"Resources\":{}}");
	assert_int_equal(phone_parse_schemas(j, &s, err, sizeof(err)), -1);
	json_decref(j);
}

static void
test_parse_token_registers_secrets(void **state)
{
	struct store_tokens t;
	char err[256], out[256];
	json_t *j;

	(void)state;
	j = jparse("{\"access_token\":\"acc-XYZ-123456\",\"token_type\":\"bearer\","
	    "\"expires_in\":3600,\"refresh_token\":\"ref-ABC-654321\","
	    "\"refresh_token_expires_in\":2592000}");
	assert_int_equal(phone_parse_token(j, 1000, &t, err, sizeof(err)), 0);
	assert_true(t.access_expires == 4600);
	assert_true(t.refresh_expires == 1000 + 2592000);
	store_tokens_clear(&t);
	json_decref(j);
	log_redact(out, sizeof(out), "x acc-XYZ-123456 y ref-ABC-654321");
	assert_string_equal(out, "x [redacted] y [redacted]");
	/* registered even when the response is refused */
	j = jparse("{\"access_token\":\"acc-only-777777\",\"token_type\":\"mac\","
	    "\"expires_in\":3600}");
	assert_int_equal(phone_parse_token(j, 1000, &t, err, sizeof(err)), -1);
	json_decref(j);
	log_redact(out, sizeof(out), "acc-only-777777");
	assert_string_equal(out, "[redacted]");
	static const char *const bad[] = {
		"{\"token_type\":\"bearer\",\"expires_in\":3600}",
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\"}",
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\",\"expires_in\":"
		"\"3600\"}",
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\",\"expires_in\":"
		"0}",
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\",\"expires_in\":"
		"60,\"refresh_token\":\"r1234\"}",
		/* lifetimes that overflow an expiry time (tests/fuzz) */
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\",\"expires_in\":"
		"9223372036854775807}",
		"{\"access_token\":\"a1234\",\"token_type\":\"bearer\",\"expires_in\":"
		"60,\"refresh_token\":\"r1234\",\"refresh_token_expires_in\":"
		"9223372036854775000}",
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = jparse(bad[i]);
		if (phone_parse_token(j, 0, &t, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		json_decref(j);
	}
}

/* ---------------------------------------------------------------------
 * PKCE and the authorize URL */

static void
test_pkce(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		/* RFC 7636 appendix B */
		{ "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" },
		/* FIPS 180-4 examples, and SHA-256's padding boundaries */
		{ "", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU" },
		{ "abc", "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" },
	};
	char buf[64], tok[64], tok2[64], *big;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(phone_pkce_challenge(v[i].in, buf, sizeof(buf)),
		    0);
		assert_string_equal(buf, v[i].out);
	}
	big = xmalloc(1000001);
	memset(big, 'x', 55);
	big[55] = '\0';
	assert_int_equal(phone_pkce_challenge(big, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1eKFaDzU78AtAhpcYgFGlJWJAQBdb3HongmJ-sd-QHI");
	memset(big, 'y', 56);
	big[56] = '\0';
	assert_int_equal(phone_pkce_challenge(big, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "SHflZOXjbjZ8fI1ZZwd0vs0zUGELbfTDmcn6m2baWBM");
	memset(big, 'z', 64);
	big[64] = '\0';
	assert_int_equal(phone_pkce_challenge(big, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "cpllYwScyE2qLD8x_Vw9EHcOadbru42lttdtswPbrkM");
	memset(big, 'a', 1000000);
	big[1000000] = '\0';
	assert_int_equal(phone_pkce_challenge(big, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "zcduXJkU-5KBocfihNc-Z_GAmkiklyAOBG05zMcRLNA");
	free(big);
	/* 43 characters and the NUL do not fit in 43 bytes */
	assert_int_equal(phone_pkce_challenge("abc", buf, 43), -1);
	assert_string_equal(buf, "");
	assert_int_equal(phone_random_token(32, tok, sizeof(tok)), 0);
	assert_int_equal(strlen(tok), 43);
	assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_"), 43);
	assert_int_equal(phone_random_token(32, tok2, sizeof(tok2)), 0);
	assert_string_not_equal(tok, tok2);
	assert_int_equal(phone_random_token(32, tok, 43), -1);
	assert_int_equal(phone_random_token(0, tok, sizeof(tok)), -1);
	assert_int_equal(phone_random_token(97, tok, sizeof(tok)), -1);
	/* the OAuth state's size: 16 bytes, 22 characters */
	assert_int_equal(phone_random_token(16, tok, sizeof(tok)), 0);
	assert_int_equal(strlen(tok), 22);
}

static void
test_authorize_url(void **state)
{
	char *url;

	(void)state;
	url = phone_authorize_url("https://platform.example.com", "my id", NULL,
	    "http://127.0.0.1:4711/callback", "st&=x", "E9Mel-_");
	assert_string_equal(url, "https://platform.example.com/restapi/oauth/"
	    "authorize?response_type=code&client_id=my%20id&redirect_uri=http%3a"
	    "%2f%2f127.0.0.1%3a4711%2fcallback&state=st%26%3dx&code_challenge="
	    "E9Mel-_&code_challenge_method=S256");
	free(url);
	url = phone_authorize_url("https://platform.example.com", "id", "7310",
	    "http://127.0.0.1:4711/callback", "s", "c");
	assert_non_null(strstr(url, "&code_challenge_method=S256&brand_id=7310"));
	free(url);
	assert_null(phone_authorize_url("not a url", "id", NULL, "r", "s", "c"));
}

/* ---------------------------------------------------------------------
 * Pacing */

static void
test_rate_headers(void **state)
{
	struct http_rate r;

	(void)state;
	http_rate_parse("Heavy", "10", "7", "60", &r);
	assert_int_equal(r.valid, 1);
	assert_int_equal(r.group, HTTP_HEAVY);
	assert_int_equal(r.limit, 10);
	assert_int_equal(r.remaining, 7);
	assert_int_equal(r.window, 60);
	http_rate_parse("heavy", " 10 ", NULL, "60", &r);
	assert_int_equal(r.valid, 1);
	assert_int_equal(r.remaining, -1);
	http_rate_parse("Huge", "10", "11", "60", &r);
	assert_int_equal(r.group, -1);
	assert_int_equal(r.remaining, -1);
	http_rate_parse("Light", "ten", "1", "60", &r);
	assert_int_equal(r.valid, 0);
	http_rate_parse("Light", "0", "0", "60", &r);
	assert_int_equal(r.valid, 0);
	http_rate_parse("Light", "50", "1", "-60", &r);
	assert_int_equal(r.valid, 0);
	http_rate_parse("Light", "99999999999999999999", "1", "60", &r);
	assert_int_equal(r.valid, 0);
	assert_int_equal(http_retry_after_parse("30", 0), 30);
	assert_int_equal(http_retry_after_parse(" 7 ", 0), 7);
	assert_int_equal(http_retry_after_parse("-1", 0), -1);
	assert_int_equal(http_retry_after_parse("soon", 0), -1);
	assert_int_equal(http_retry_after_parse(NULL, 0), -1);
	assert_int_equal(http_retry_after_parse("9999999999", 0), 86400);
	/* an HTTP date, relative to now */
	assert_int_equal(http_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT",
	    1445412450LL), 30);
	assert_int_equal(http_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT",
	    1445412500LL), 0);
}

static void
test_backoff_sequence(void **state)
{
	static const int want[] = { 2, 3, 5, 8, 13, 21, 30, 30, 30 };

	(void)state;
	for (int i = 0; i < 9; i++)
		assert_true(http_backoff_delay(i + 1) == want[i]);
	assert_true(http_backoff_delay(0) == 2);
	assert_true(http_backoff_delay(1000) == 30);
}

static void
test_group_names_defaults(void **state)
{
	int l, w;

	(void)state;
	assert_string_equal(http_group_name(HTTP_MEDIUM), "Medium");
	assert_int_equal(http_group_from_name("auth"), HTTP_AUTH);
	assert_int_equal(http_group_from_name(NULL), -1);
	http_group_defaults(HTTP_LIGHT, &l, &w);
	assert_int_equal(l, 50);
	assert_int_equal(w, 60);
	http_group_defaults(HTTP_MEDIUM, &l, &w);
	assert_int_equal(l, 40);
	http_group_defaults(HTTP_HEAVY, &l, &w);
	assert_int_equal(l, 10);
	http_group_defaults(HTTP_AUTH, &l, &w);
	assert_int_equal(l, 5);
	assert_int_equal(http_url_allowed("https://platform.ringcentral.com"), 1);
	assert_int_equal(http_url_allowed("http://127.0.0.1:8080/x"), 1);
	assert_int_equal(http_url_allowed("http://localhost:1"), 1);
	assert_int_equal(http_url_allowed("http://[::1]:1"), 1);
	assert_int_equal(http_url_allowed("http://example.com"), 0);
	assert_int_equal(http_url_allowed("http://127.0.0.1.example.com"), 0);
	assert_int_equal(http_url_allowed("ftp://127.0.0.1"), 0);
	assert_int_equal(http_url_allowed("nonsense"), 0);
}

/* a redirect is followed only to the same scheme, host and port */
static void
test_same_origin(void **state)
{
	static const struct {
		const char *a, *b;
		int same;
	} cases[] = {
		{ "https://platform.ringcentral.com/restapi/oauth/token",
		  "https://platform.ringcentral.com/restapi/v1.0/x?y=1", 1 },
		{ "https://platform.ringcentral.com/a",
		  "HTTPS://Platform.RingCentral.com:443/b", 1 },
		{ "http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", 1 },
		{ "https://platform.ringcentral.com/a",
		  "https://platform.ringcentral.biz/a", 0 },
		{ "https://platform.ringcentral.com/a",
		  "http://platform.ringcentral.com/a", 0 },
		{ "https://platform.ringcentral.com/a",
		  "https://platform.ringcentral.com:8443/a", 0 },
		{ "http://127.0.0.1:8080/a", "http://localhost:8080/a", 0 },
		{ "https://platform.ringcentral.com/a",
		  "https://platform.ringcentral.com.evil.example/a", 0 },
		{ "https://platform.ringcentral.com/a",
		  "https://user@evil.example/a", 0 },
		{ "https://platform.ringcentral.com/a",
		  "https://user:pw@platform.ringcentral.com/a", 0 },
		{ "https://platform.ringcentral.com/a", "/relative", 0 },
		{ "https://platform.ringcentral.com/a", NULL, 0 },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (http_same_origin(cases[i].a, cases[i].b) != cases[i].same)
			fail_msg("case %zu: %s and %s", i, cases[i].a, cases[i].b);
	assert_string_equal(http_url_origin("https://platform.ringcentral.com/x?y",
	    buf, sizeof(buf)), "https://platform.ringcentral.com:443");
	assert_string_equal(http_url_origin("http://localhost:8080/x", buf,
	    sizeof(buf)), "http://localhost:8080");
	assert_string_equal(http_url_origin("https://u:p@evil.example/", buf,
	    sizeof(buf)), "https://evil.example:443");
	assert_string_equal(http_url_origin("nonsense", buf, sizeof(buf)),
	    "(not a URL)");
}

/* A background request takes at most read_share of the limit. */
static void
test_pace_share(void **state)
{
	struct http_pace p;

	(void)state;
	http_pace_init(&p, 40, 60);
	http_pace_start(&p, 0);
	http_pace_end(&p, 0, 0.1, NULL);
	/* 30% of 40 is 12: 11 more in the window, then only writes */
	for (int i = 0; i < 11; i++) {
		assert_true(http_pace_next_share(&p, 1, 30) == 1);
		http_pace_start(&p, 1);
		http_pace_end(&p, 1, 1.1, NULL);
	}
	assert_true(http_pace_next_share(&p, 1.2, 30) > 60);
	assert_true(http_pace_next(&p, 1.2) == 1.2);
	/* 0 and 100 mean the whole limit; a tiny share is still one */
	assert_true(http_pace_next_share(&p, 1.2, 0) == 1.2);
	assert_true(http_pace_next_share(&p, 1.2, 100) == 1.2);
	http_pace_clear(&p);
	http_pace_init(&p, 3, 60);
	assert_true(http_pace_next_share(&p, 0, 10) == 0); /* probe */
	http_pace_start(&p, 0);
	http_pace_end(&p, 0, 0.1, NULL);
	assert_true(http_pace_next_share(&p, 0.2, 10) > 60);
	assert_true(http_pace_next(&p, 0.2) == 0.2);
	http_pace_clear(&p);
	/* the cap status shows: the same rule */
	assert_int_equal(http_share_cap(40, 30), 12);
	assert_int_equal(http_share_cap(3, 10), 1);
	assert_int_equal(http_share_cap(40, 0), 40);
	assert_int_equal(http_share_cap(40, 100), 40);
	assert_int_equal(http_share_cap(0, 30), 1);
}

static void
test_pace_probe_burst_window(void **state)
{
	struct http_pace p;

	(void)state;
	http_pace_init(&p, 10, 60);
	assert_true(http_pace_next(&p, 0) == 0);
	http_pace_start(&p, 0);
	/* nothing known yet: one probe at a time */
	assert_true(isinf(http_pace_next(&p, 0.01)));
	http_pace_end(&p, 0, 0.1, NULL);
	/* then a burst up to the limit, in-flight requests counted */
	for (int i = 0; i < 9; i++) {
		assert_true(http_pace_next(&p, 0.1) == 0.1);
		http_pace_start(&p, 0.1);
	}
	/* 1 done + 9 in flight: the done one must leave the window first */
	assert_true(fabs(http_pace_next(&p, 0.2) - 60.105) < 1e-9);
	http_pace_end(&p, 0.1, 0.3, NULL);
	/* the budget frees window s after the oldest completion (0.1) */
	assert_true(fabs(http_pace_next(&p, 0.3) - 60.105) < 1e-9);
	for (int i = 0; i < 8; i++)
		http_pace_end(&p, 0.1, 0.4, NULL);
	assert_true(fabs(http_pace_next(&p, 1) - 60.105) < 1e-9);
	assert_true(http_pace_next(&p, 60.2) == 60.2);
	http_pace_start(&p, 60.2);
	/* the second oldest completion (0.3) frees the next slot */
	assert_true(fabs(http_pace_next(&p, 60.2) - 60.305) < 1e-9);
	/* Retry-After holds the whole group */
	http_pace_block(&p, 100);
	assert_true(http_pace_next(&p, 70) == 100);
	http_pace_block(&p, 90); /* never shortened */
	assert_true(http_pace_next(&p, 70) == 100);
	http_pace_clear(&p);
}

static void
test_pace_learns_from_headers(void **state)
{
	struct http_pace p;
	struct http_rate r;

	(void)state;
	http_pace_init(&p, 10, 60);
	http_pace_start(&p, 0);
	/* the server already counted 8: 7 are someone else's */
	http_rate_parse("Heavy", "10", "2", "60", &r);
	http_pace_end(&p, 0, 0.5, &r);
	assert_true(http_pace_next(&p, 0.5) == 0.5);
	http_pace_start(&p, 0.5);
	http_pace_start(&p, 0.5);
	assert_true(fabs(http_pace_next(&p, 0.6) - 60.505) < 1e-9);
	http_pace_end(&p, 0.5, 0.7, NULL);
	http_pace_end(&p, 0.5, 0.7, NULL);
	assert_true(fabs(http_pace_next(&p, 0.7) - 60.505) < 1e-9);
	/* a lower limit and shorter window from the server are adopted */
	http_rate_parse("Heavy", "3", "0", "6", &r);
	http_pace_start(&p, 61);
	http_pace_end(&p, 61, 61.1, &r);
	assert_int_equal(p.limit, 3);
	assert_int_equal(p.window, 6);
	assert_true(http_pace_next(&p, 61.1) >= 67.1);
	http_pace_clear(&p);
}

/* A simulated server with random latency: lcg for reproducible jitter. */
static double
lcg01(unsigned long long *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / (double)(1ULL << 53);
}

struct sim_req {
	double sent, arrive, done;
	int finished;
};

/* sim_count: arrivals in the server's window (a - w, a] when a arrives. */
static int
sim_count(const struct sim_req *v, size_t n, double a, int w)
{
	int c = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].arrive <= a && v[i].arrive > a - w)
			c++;
	return c;
}

static void
sim_run(int headers, int limit, int window, size_t total)
{
	struct sim_req *v = xcalloc(total, sizeof(*v));
	unsigned long long seed = 42;
	struct http_pace p;
	size_t sent = 0, finished = 0;
	double now = 0, span, util;
	struct http_rate r;

	http_pace_init(&p, limit, window);
	while (finished < total) {
		double t = sent < total ? http_pace_next(&p, now) : HUGE_VAL;
		size_t k = total;

		for (size_t i = 0; i < sent; i++)
			if (!v[i].finished && (k == total || v[i].done < v[k].done))
				k = i;
		if (k < total && v[k].done <= t) {
			now = v[k].done;
			v[k].finished = 1;
			finished++;
			http_rate_parse("Heavy", "10", NULL, "6", &r);
			r.limit = limit;
			r.window = window;
			r.remaining = limit - sim_count(v, sent, v[k].arrive, window);
			http_pace_end(&p, v[k].sent, now, headers ? &r : NULL);
			continue;
		}
		assert_false(isinf(t));
		now = t > now ? t : now;
		v[sent].sent = now;
		v[sent].arrive = now + 0.002 + 0.05 * lcg01(&seed);
		v[sent].done = v[sent].arrive + 0.001 + 0.2 * lcg01(&seed);
		http_pace_start(&p, now);
		sent++;
	}
	/* the server never saw more than limit in any window */
	for (size_t i = 0; i < total; i++)
		if (sim_count(v, total, v[i].arrive, window) > limit)
			fail_msg("request %zu arrived over the limit", i);
	/* and most of the budget was used: rate over the busy span */
	span = v[total - 1].sent - v[0].sent;
	util = (double)total / ((double)limit * span / window + limit);
	if (util < 0.95)
		fail_msg("utilization %.3f (span %.2f s)", util, span);
	http_pace_clear(&p);
	free(v);
}

static void
test_pace_simulated_server(void **state)
{
	(void)state;
	sim_run(0, 10, 6, 200);
	sim_run(1, 10, 6, 200);
	sim_run(1, 50, 6, 400);
	sim_run(1, 5, 60, 20);
}

static void
test_pace_memory_bounded(void **state)
{
	struct http_pace p;
	double t = 0;

	(void)state;
	http_pace_init(&p, 50, 1);
	for (int i = 0; i < 100000; i++) {
		t = http_pace_next(&p, t);
		http_pace_start(&p, t);
		http_pace_end(&p, t, t + 0.001, NULL);
	}
	assert_true(p.ndone <= 60);
	assert_true(p.done_cap <= 128);
	http_pace_clear(&p);
}

static void
test_batch_limit(void **state)
{
	struct phone_error e;

	(void)state;
	parse_err(PHONE_CALL_ROLE_ASSIGN, 400, "{\"errorCode\": \"CMN-106\", "
	    "\"message\": \"Batch request is limited to 250 entries\", \"errors\": "
	    "[{\"errorCode\": \"CMN-106\", \"message\": \"Batch request is limited "
	    "to 250 entries\"}]}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	assert_int_equal(phone_error_batch_limit(&e), 250);
	/* another code, or no number: not the limit */
	parse_err(PHONE_CALL_ROLE_ASSIGN, 400, "{\"errorCode\": \"CMN-101\", "
	    "\"message\": \"Parameter [addedExtensionIds] value is invalid\"}", &e);
	assert_int_equal(phone_error_batch_limit(&e), 0);
	parse_err(PHONE_CALL_ROLE_ASSIGN, 400, "{\"errorCode\": \"CMN-106\", "
	    "\"message\": \"Batch request is limited to many entries\"}", &e);
	assert_int_equal(phone_error_batch_limit(&e), 0);
	assert_string_equal(phone_call_name(PHONE_CALL_ROLE_ASSIGN), "role-assign");
	assert_string_equal(phone_call_name(PHONE_CALL_PHOTO_PUT), "photo-put");
	assert_string_equal(phone_call_name(PHONE_CALL_PHOTO_DELETE),
	    "photo-delete");
	/* a refused image is the user's data error */
	parse_err(PHONE_CALL_PHOTO_PUT, 415, "{\"errorCode\": \"ACT-330\", "
	    "\"message\": \"Unsupported image type\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	parse_err(PHONE_CALL_PHOTO_PUT, 403, "{\"errorCode\": \"ACT-332\", "
	    "\"message\": \"Unassigned extension\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	parse_err(PHONE_CALL_PHOTO_PUT, 413, "{\"errorCode\": \"CMN-101\", "
	    "\"message\": \"Request entity too large\"}", &e);
	assert_int_equal(e.kind, PHONE_DATA);
	parse_err(PHONE_CALL_PHOTO_GET, 404, "{\"errorCode\": \"CMN-102\"}", &e);
	assert_int_equal(e.kind, PHONE_NOT_FOUND);
	/* the type by the first bytes, whatever the name says */
	assert_string_equal(phone_photo_type((const unsigned char *)
	    "\xff\xd8\xff\xe0", 4), "image/jpeg");
	assert_string_equal(phone_photo_type((const unsigned char *)
	    "\x89PNG\r\n\x1a\n", 8), "image/png");
	assert_string_equal(phone_photo_type((const unsigned char *)"GIF89a", 6),
	    "image/gif");
	assert_string_equal(phone_photo_type((const unsigned char *)"BMxx", 4),
	    "image/bmp");
	assert_null(phone_photo_type((const unsigned char *)"\x89PN", 4));
	assert_null(phone_photo_type((const unsigned char *)"text", 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_rest_invalid_value),
		cmocka_unit_test(test_error_not_from_message_text),
		cmocka_unit_test(test_error_scim_invalid_value),
		cmocka_unit_test(test_error_not_found),
		cmocka_unit_test(test_error_conflicts),
		cmocka_unit_test(test_error_malformed_and_transient),
		cmocka_unit_test(test_error_mandatory),
		cmocka_unit_test(test_error_code_before_status),
		cmocka_unit_test(test_error_auth),
		cmocka_unit_test(test_error_from_item),
		cmocka_unit_test(test_error_messages_every_kind),
		cmocka_unit_test(test_param_field),
		cmocka_unit_test(test_bulk_record),
		cmocka_unit_test(test_scim_create_body),
		cmocka_unit_test(test_extension_create_body),
		cmocka_unit_test(test_parse_items),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_parse_extension),
		cmocka_unit_test(test_parse_directory),
		cmocka_unit_test(test_parse_number_user_field),
		cmocka_unit_test(test_parse_page),
		cmocka_unit_test(test_parse_page_omitted),
		cmocka_unit_test(test_parse_task),
		cmocka_unit_test(test_parse_spc_schemas),
		cmocka_unit_test(test_parse_token_registers_secrets),
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_authorize_url),
		cmocka_unit_test(test_rate_headers),
		cmocka_unit_test(test_backoff_sequence),
		cmocka_unit_test(test_group_names_defaults),
		cmocka_unit_test(test_same_origin),
		cmocka_unit_test(test_pace_probe_burst_window),
		cmocka_unit_test(test_pace_share),
		cmocka_unit_test(test_pace_learns_from_headers),
		cmocka_unit_test(test_pace_simulated_server),
		cmocka_unit_test(test_pace_memory_bounded),
		cmocka_unit_test(test_batch_limit),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

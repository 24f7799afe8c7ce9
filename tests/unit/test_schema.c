/* Unit tests for the cached user schema (common/schema.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "schema.h"
#include "util.h"

static json_t *
cache(int with_ad)
{
	struct phone_schema_attr a[] = {
		{ "urn:core", "name.givenName", "string", 0, 0 },
		{ "urn:core", "name.familyName", "string", 0, 0 },
		{ "urn:core", "emails", "complex", 1, 0 },
		{ "urn:core", "emails.value", "string", 0, 0 },
		{ "urn:core", "addresses.region", "string", 0, 0 },
	};
	struct phone_schema s = { a, sizeof(a) / sizeof(a[0]) };
	struct phone_custom_field c[] = {
		{ "11", "User", "Cost Center" },
		{ "12", "Site", "Building" },     /* not a user field */
		{ "13", NULL, "Badge" },
	};
	char *ad[] = { "givenName", "sn", "mail", "employeeID", "telephoneNumber" };

	return schema_cache_new(&s, c, 3, with_ad ? ad : NULL, 5, 1700000000);
}

static void
test_custom_id(void **state)
{
	json_t *j = cache(1);

	(void)state;
	assert_string_equal(schema_custom_id(j, "Cost Center"), "11");
	assert_string_equal(schema_custom_id(j, "cost center"), "11");
	assert_string_equal(schema_custom_id(j, "Badge"), "13");
	assert_null(schema_custom_id(j, "Building"));
	assert_null(schema_custom_id(j, "Cost"));
	assert_null(schema_custom_id(NULL, "Cost Center"));
	assert_int_equal(json_integer_value(json_object_get(j, "fetched")),
	    1700000000);
	json_decref(j);
}

static void
test_check(void **state)
{
	struct config_pair push[] = {
		{ "firstName", "givenName", 10, NULL },
		{ "email", "mail", 11, NULL },
		{ "state", "st", 12, NULL },                  /* st: not in the AD list */
		{ "jobTitle", "title", 13, NULL },            /* title: not in SCIM nor AD */
		{ "custom.cost center", "employeeID", 14, NULL },
		{ "custom.Room", "sn", 15, NULL },            /* no such custom field */
	};
	struct config_pair wb[] = {
		{ "telephoneNumber", "{directNumber}", 20, NULL },
		{ "ipPhon", "{extensionNumber}", 21, NULL },
	};
	struct config cfg = { 0 };
	struct config_problems pr = { 0 };
	json_t *j = cache(1), *noad = cache(0);

	(void)state;
	cfg.path = "r.conf";
	cfg.push.v = push;
	cfg.push.n = sizeof(push) / sizeof(push[0]);
	cfg.writeback.v = wb;
	cfg.writeback.n = 2;
	assert_int_equal(schema_check(j, &cfg, &pr), 5);
	assert_string_equal(pr.v[0], "r.conf:12: [push] state = st: Active "
	    "Directory has no attribute 'st' for class user (`ringsyncctl schema` "
	    "lists them)");
	assert_string_equal(pr.v[1], "r.conf:13: [push] jobTitle: the phone "
	    "system's user schema has no attribute title");
	assert_non_null(strstr(pr.v[2], "r.conf:13: [push] jobTitle = title"));
	assert_string_equal(pr.v[3], "r.conf:15: [push] custom.Room: the phone "
	    "system has no custom user field named 'Room' (it has: Cost Center, "
	    "Badge; `ringsyncctl schema` refreshes the list)");
	assert_string_equal(pr.v[4], "r.conf:21: [writeback] ipPhon: Active "
	    "Directory has no attribute 'ipPhon' for class user");
	config_problems_free(&pr);
	/* Without the AD list only the phone side is checked. */
	assert_int_equal(schema_check(noad, &cfg, &pr), 2);
	config_problems_free(&pr);
	/* An expression: each attribute it reads is checked. */
	{
		struct expr_error ee;
		struct config_pair one[] = {
			{ "firstName", "coalesce(givenName, nickName, \"x\")", 30, NULL },
			{ "email", "mail", 31, NULL },
		};
		struct config c2 = { 0 };

		one[0].expr = expr_parse(one[0].value, &ee);
		assert_non_null(one[0].expr);
		c2.path = "r.conf";
		c2.push.v = one;
		c2.push.n = 2;
		assert_int_equal(schema_check(j, &c2, &pr), 1);
		assert_non_null(strstr(pr.v[0], "r.conf:30: [push] firstName = "
		    "coalesce(givenName, nickName, \"x\"): Active Directory has no "
		    "attribute 'nickName'"));
		config_problems_free(&pr);
		expr_free(one[0].expr);
	}
	assert_string_equal(schema_scim_attr("zip"), "addresses.postalCode");
	assert_null(schema_scim_attr("custom.x"));
	json_decref(j);
	json_decref(noad);
}

static void
test_roles(void **state)
{
	struct config_pair rules[] = {
		{ "sales agent", "CN=Sales,DC=x", 40, NULL },
		{ "Nobody", "CN=Nobody,DC=x", 41, NULL },
	};
	struct config cfg = { 0 };
	struct config_problems pr = { 0 };
	json_t *j = cache(1);
	const char *why;
	char err[512];

	(void)state;
	cfg.path = "r.conf";
	cfg.roles.v = rules;
	cfg.roles.n = 1;
	/* not cached yet: the daemon would not start */
	assert_int_equal(schema_policy_ready(j, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[roles] needs the account's roles: run "
	    "`ringsyncctl schema`"));
	json_object_set_new(j, "account", json_pack("{s:[{s:s, s:s}, {s:s, s:s}], "
	    "s:{s:s}}", "roles", "id", "7", "name", "Sales Agent", "id", "9",
	    "name", "Manager", "default_role", "error", "the app or the account "
	    "does not allow it (CMN-408)"));
	assert_int_equal(schema_policy_ready(j, &cfg, err, sizeof(err)), 0);
	assert_string_equal(schema_role_id(j, "SALES AGENT"), "7");
	assert_null(schema_role_id(j, "Sales"));
	assert_string_equal(schema_role_name(j, "9"), "Manager");
	assert_null(schema_role_name(j, "8"));
	assert_null(schema_default_role(j, &why));
	assert_non_null(strstr(why, "CMN-408"));
	cfg.roles.n = 2;
	assert_int_equal(schema_policy_ready(j, &cfg, err, sizeof(err)), 0);
	assert_int_equal(schema_roles_ready(j, &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "r.conf:41: [roles] Nobody: the account has no "
	    "role of that name (`ringsyncctl schema` lists them; after adding one, "
	    "run it again)");
	assert_int_equal(schema_check(j, &cfg, &pr), 1);
	assert_string_equal(pr.v[0], "r.conf:41: [roles] Nobody: the account has "
	    "no role of that name (`ringsyncctl schema` lists them)");
	config_problems_free(&pr);
	json_object_set_new(json_object_get(j, "account"), "default_role",
	    json_pack("{s:s, s:s}", "id", "7", "name", "Sales Agent"));
	assert_string_equal(schema_default_role(j, &why), "7");
	assert_null(why);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_custom_id),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_roles),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

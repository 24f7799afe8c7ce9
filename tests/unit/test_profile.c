/* Unit tests for common/profile and common/iso3166. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "iso3166.h"
#include "expr.h"
#include "profile.h"
#include "util.h"

static const unsigned char guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16 };

/* entry: build an ad_entry from "attr", "value" pairs (NULL-terminated). */
static void
entry(struct ad_entry *e, ...)
{
	struct ad_raw raw[32] = { { "objectGUID", (const char *)guid, 16 } };
	size_t n = 1;
	va_list ap;
	const char *a;

	va_start(ap, e);
	while ((a = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		raw[n].attr = a;
		raw[n].val = v;
		raw[n].len = strlen(v);
		n++;
	}
	va_end(ap);
	assert_int_equal(ad_entry_build(e, "CN=Ann Lee,OU=Staff,DC=x", raw, n, "mail"), 0);
}

static struct config_map
default_push(void)
{
	static struct config_pair pairs[] = {
		{ "firstName", "givenName", 0, NULL }, { "lastName", "sn", 0, NULL },
		{ "email", "mail", 0, NULL }, { "mobilePhone", "mobile", 0, NULL },
		{ "street", "streetAddress", 0, NULL }, { "city", "l", 0, NULL },
		{ "state", "st", 0, NULL }, { "zip", "postalCode", 0, NULL },
		{ "country", "c", 0, NULL }, { "department", "department", 0, NULL },
	};
	struct config_map m = { pairs, sizeof(pairs) / sizeof(pairs[0]) };

	return m;
}

static void
test_build_normalises(void **state)
{
	struct config_map push = default_push();
	struct profile p;
	struct profile_error err;
	struct ad_entry e;

	(void)state;
	entry(&e, "givenName", "  Ann ", "sn", "Lee", "mail", "Ann.Lee@Example.test",
	    "mobile", "(650) 555-0100", "st", "california", "c", "us",
	    "streetAddress", "1 Main St", "l", "Palo Alto", "postalCode", "94301",
	    NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), 0);
	assert_int_equal(p.n, 10);
	assert_string_equal(profile_get(&p, "firstName"), "Ann");
	assert_string_equal(profile_get(&p, "email"), "Ann.Lee@Example.test");
	assert_string_equal(profile_get(&p, "mobilePhone"), "+16505550100");
	assert_string_equal(profile_get(&p, "state"), "California");
	assert_string_equal(profile_get(&p, "country"), "US");
	assert_string_equal(profile_get(&p, "department"), ""); /* cleared */
	assert_null(profile_get(&p, "jobTitle"));                /* not mapped */
	/* Sorted by field: the hash does not depend on the mapping's order. */
	for (size_t i = 1; i < p.n; i++)
		assert_true(strcmp(p.v[i - 1].field, p.v[i].field) < 0);
	profile_clear(&p);
	ad_entry_clear(&e);
}

static void
test_build_errors_name_attribute(void **state)
{
	struct config_map push = default_push();
	struct profile p;
	struct profile_error err;
	struct ad_entry e;

	(void)state;
	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "ann@example.test",
	    "st", "Calif.", "c", "US", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	assert_string_equal(err.attr, "st");
	assert_string_equal(err.field, "state");
	assert_string_equal(err.value, "Calif.");
	assert_non_null(strstr(err.msg, "standard state name (California) or code (CA)"));
	assert_int_equal(p.n, 0);
	profile_error_clear(&err);
	ad_entry_clear(&e);

	entry(&e, "givenName", "Ann", "sn", "", "mail", "ann@example.test", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	assert_string_equal(err.attr, "sn");
	assert_null(err.value);
	assert_non_null(strstr(err.msg, "is empty"));
	profile_error_clear(&err);
	ad_entry_clear(&e);

	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "ann@example.test",
	    "c", "Atlantis", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	assert_string_equal(err.attr, "c");
	assert_string_equal(err.value, "Atlantis");
	profile_error_clear(&err);
	ad_entry_clear(&e);

	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "not-an-address", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	assert_string_equal(err.attr, "mail");
	profile_error_clear(&err);
	ad_entry_clear(&e);
}

static void
test_build_entry_problem(void **state)
{
	struct config_map push = default_push();
	struct ad_raw raw[] = {
		{ "objectGUID", (const char *)guid, 16 }, { "givenName", "Ann", 3 },
		{ "sn", "L\xff" "e", 3 }, { "mail", "a@b.c", 5 },
	};
	struct profile p;
	struct profile_error err;
	struct ad_entry e;

	(void)state;
	assert_int_equal(ad_entry_build(&e, "CN=x", raw, 4, "mail"), 0);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	assert_string_equal(err.attr, "sn");
	assert_string_equal(err.msg, "value is not valid UTF-8");
	profile_error_clear(&err);
	ad_entry_clear(&e);
}

static void
test_states(void **state)
{
	char *out, err[200];

	(void)state;
	assert_int_equal(profile_norm_state("US", "CA", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "CA");
	free(out);
	assert_int_equal(profile_norm_state("US", "ny", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "NY");
	free(out);
	assert_int_equal(profile_norm_state("US", "new york", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "New York");
	free(out);
	assert_int_equal(profile_norm_state("CA", "Ontario", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "Ontario");
	free(out);
	assert_int_equal(profile_norm_state("CA", "qc", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "QC");
	free(out);
	/* No country: a US state or a province. */
	assert_int_equal(profile_norm_state(NULL, "BC", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "BC");
	free(out);
	assert_int_equal(profile_norm_state("US", "Ontario", &out, err, sizeof(err)), -1);
	assert_int_equal(profile_norm_state("US", "Calif.", &out, err, sizeof(err)), -1);
	assert_null(out);
	/* Other countries' regions pass as written. */
	assert_int_equal(profile_norm_state("DE", "Bayern", &out, err, sizeof(err)), 0);
	assert_string_equal(out, "Bayern");
	free(out);
}

static void
test_countries(void **state)
{
	char *out, err[200];
	static const char *const in[][2] = {
		{ "US", "US" }, { "us", "US" }, { "USA", "US" }, { "U.S.A.", "US" },
		{ "United States", "US" }, { "united states of america", "US" },
		{ "Canada", "CA" }, { "CAN", "CA" }, { "ca", "CA" }, { "DEU", "DE" },
		{ "Germany", "DE" }, { "UK", "GB" }, { "United Kingdom", "GB" },
		{ "South Korea", "KR" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(profile_norm_country(in[i][0], &out, err, sizeof(err)), 0);
		assert_string_equal(out, in[i][1]);
		free(out);
	}
	assert_int_equal(profile_norm_country("Narnia", &out, err, sizeof(err)), -1);
	assert_int_equal(profile_norm_country("XX", &out, err, sizeof(err)), -1);
	assert_true(iso3166_ncountries >= 249);
	assert_int_equal(iso3166_nsubdivisions, 57 + 13);
}

static void
test_phones(void **state)
{
	static const char *const ok[][3] = {
		{ "US", "(650) 555-0100", "+16505550100" },
		{ "US", "650.555.0100", "+16505550100" },
		{ "US", "1-650-555-0100", "+16505550100" },
		{ "CA", "514-555-0002", "+15145550002" },
		{ NULL, "+44 20 7946 0958", "+442079460958" },
		{ "DE", "0049 30 1234567", "+49301234567" },
		{ "US", "+1-617-555-0003", "+16175550003" },
		/* Ambiguous: kept as written. */
		{ "DE", "030 1234567", "030 1234567" },
		{ "US", "650-555-0100 x123", "650-555-0100 x123" },
		{ "US", "555-0100", "555-0100" },
	};
	char *out, err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(profile_norm_phone(ok[i][0], ok[i][1], &out, err,
		    sizeof(err)), 0);
		assert_string_equal(out, ok[i][2]);
		free(out);
	}
	assert_int_equal(profile_norm_phone("US", "call me", &out, err, sizeof(err)), -1);
	assert_int_equal(profile_norm_phone("US", "12", &out, err, sizeof(err)), -1);
}

static void
test_hash_and_json(void **state)
{
	struct config_map push = default_push();
	struct profile p, q;
	struct profile_error err;
	struct ad_entry e;
	char h1[PROFILE_HASH_LEN + 1], h2[PROFILE_HASH_LEN + 1];
	json_t *j;

	(void)state;
	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "ann@example.test",
	    "st", "CA", "c", "US", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), 0);
	ad_entry_clear(&e);
	profile_hash(&p, h1);
	assert_int_equal(strlen(h1), 16);
	/* Same profile, other white space and case where normalised: same hash. */
	entry(&e, "givenName", " Ann", "sn", "Lee ", "mail", "ann@example.test",
	    "st", "ca", "c", "us", NULL);
	assert_int_equal(profile_build(&e, &push, &q, &err), 0);
	ad_entry_clear(&e);
	profile_hash(&q, h2);
	assert_string_equal(h1, h2);
	profile_clear(&q);
	/* A JSON round trip keeps it. */
	j = profile_to_json(&p);
	assert_int_equal(profile_from_json(j, &q), 0);
	profile_hash(&q, h2);
	assert_string_equal(h1, h2);
	json_decref(j);
	profile_clear(&q);
	/* What a phone user holds, given field by field in any order: the
	 * same hash when it holds the same (an absent value is ""). */
	{
		const char *f[] = { "state", "email", "firstName", "lastName",
		    "country", "mobilePhone", "street", "city", "zip",
		    "department" };
		const char *v[] = { "CA", "ann@example.test", "Ann", "Lee", "US",
		    NULL, "", NULL, NULL, "" };

		profile_hash_values(f, v, 10, h2);
		assert_string_equal(h1, h2);
		v[3] = "Lea";
		profile_hash_values(f, v, 10, h2);
		assert_string_not_equal(h1, h2);
	}
	/* Any change moves it. */
	free(p.v[0].value);
	p.v[0].value = xstrdup("Sales");
	profile_hash(&p, h2);
	assert_string_not_equal(h1, h2);
	profile_clear(&p);
	j = json_pack("{s:i}", "x", 1);
	assert_int_equal(profile_from_json(j, &q), -1);
	json_decref(j);
}

/* A [push] value that is an expression: evaluated, then normalised. */
static void
test_build_expressions(void **state)
{
	struct expr_error ee;
	struct config_pair pairs[] = {
		{ "firstName", "coalesce(givenName, \"Unknown\")", 0, NULL },
		{ "lastName", "upper(sn)", 0, NULL },
		{ "email", "mail", 0, NULL },
		{ "state", "switch(l, \"Toronto\", \"Ontario\", st)", 0, NULL },
		{ "country", "coalesce(c, \"US\")", 0, NULL },
	};
	struct config_map push = { pairs, sizeof(pairs) / sizeof(pairs[0]) };
	struct profile p;
	struct profile_error err;
	struct ad_entry e;

	(void)state;
	for (size_t i = 0; i < push.n; i++)
		if (strcmp(pairs[i].value, "mail") != 0)
			assert_non_null(pairs[i].expr = expr_parse(pairs[i].value, &ee));
	entry(&e, "sn", " Lee ", "mail", "ann@example.test", "l", "Toronto",
	    "c", "CA", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), 0);
	ad_entry_clear(&e);
	assert_string_equal(profile_get(&p, "firstName"), "Unknown");
	assert_string_equal(profile_get(&p, "lastName"), "LEE");
	assert_string_equal(profile_get(&p, "state"), "Ontario");
	assert_string_equal(profile_get(&p, "country"), "CA");
	profile_clear(&p);
	/* A bad value from an expression names the expression (it reads two
	 * attributes), or the one attribute it reads. */
	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "ann@example.test",
	    "l", "Paris", "st", "Calif.", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	ad_entry_clear(&e);
	assert_string_equal(err.field, "state");
	assert_string_equal(err.attr, pairs[3].value);
	assert_string_equal(err.value, "Calif.");
	profile_error_clear(&err);
	entry(&e, "givenName", "Ann", "sn", "Lee", "mail", "ann@example.test",
	    "c", "Atlantis", NULL);
	assert_int_equal(profile_build(&e, &push, &p, &err), -1);
	ad_entry_clear(&e);
	assert_string_equal(err.field, "country");
	assert_string_equal(err.attr, "c");
	assert_string_equal(err.value, "Atlantis");
	profile_error_clear(&err);
	for (size_t i = 0; i < push.n; i++)
		expr_free(pairs[i].expr);
}

/* Email addresses: at most 254 characters (RFC 5321; the store's index). */
static void
test_build_create(void **state)
{
	struct expr_error ee;
	struct config_pair pairs[] = {
		{ "extensionNumber", "right(digits(ipPhone), 4)", 0, NULL },
		{ "department", "coalesce(department, \"New hires\")", 0, NULL },
		{ "state", "st", 0, NULL },
		{ "jobTitle", "title", 0, NULL },
	};
	struct config_map create = { pairs, sizeof(pairs) / sizeof(pairs[0]) };
	struct config_map none = { NULL, 0 };
	struct profile pushed = { 0 }, p, q;
	struct profile_error err;
	struct ad_entry e;
	char h1[PROFILE_HASH_LEN + 1], h2[PROFILE_HASH_LEN + 1];
	json_t *j;

	(void)state;
	assert_non_null(pairs[0].expr = expr_parse(pairs[0].value, &ee));
	assert_non_null(pairs[1].expr = expr_parse(pairs[1].value, &ee));
	/* The pushed country rules the state set at create. */
	assert_non_null(j = json_pack("{s:s}", "country", "CA"));
	assert_int_equal(profile_from_json(j, &pushed), 0);
	json_decref(j);
	entry(&e, "ipPhone", "+1 (650) 555-1234", "st", "Ontario", NULL);
	assert_int_equal(profile_build_create(&e, &create, &pushed, &p, &err), 0);
	ad_entry_clear(&e);
	assert_string_equal(profile_get(&p, "extensionNumber"), "1234");
	assert_string_equal(profile_get(&p, "department"), "New hires");
	assert_string_equal(profile_get(&p, "state"), "Ontario");
	assert_null(profile_get(&p, "jobTitle")); /* empty: sets nothing */
	/* The entry's hash moves with a create value; none: the profile's. */
	profile_hash_create(&pushed, &p, h1);
	profile_hash(&pushed, h2);
	assert_string_not_equal(h1, h2);
	assert_int_equal(profile_build_create(&e, &none, &pushed, &q, &err), 0);
	profile_hash_create(&pushed, &q, h1);
	assert_string_equal(h1, h2);
	profile_clear(&q);
	/* The account's length: known, and passed. */
	assert_int_equal(profile_check_extension(&p, &create, 0, &err), 0);
	assert_int_equal(profile_check_extension(&p, &create, 4, &err), 0);
	assert_int_equal(profile_check_extension(&p, &create, 3, &err), -1);
	assert_string_equal(err.attr, "ipPhone");
	assert_string_equal(err.value, "1234");
	assert_non_null(strstr(err.msg, "longer than the account's extension "
	    "numbers (3 digits at most)"));
	profile_error_clear(&err);
	profile_clear(&p);
	/* Not an extension number: the user's error, naming the attribute. */
	entry(&e, "ipPhone", "ext. 12a", NULL);
	pairs[0].value = "ipPhone";
	expr_free(pairs[0].expr);
	pairs[0].expr = NULL;
	assert_int_equal(profile_build_create(&e, &create, &pushed, &p, &err), -1);
	ad_entry_clear(&e);
	assert_string_equal(err.field, "extensionNumber");
	assert_string_equal(err.attr, "ipPhone");
	assert_string_equal(err.value, "ext. 12a");
	assert_non_null(strstr(err.msg, "is not an extension number"));
	profile_error_clear(&err);
	entry(&e, "ipPhone", "123456789", NULL);
	assert_int_equal(profile_build_create(&e, &create, &pushed, &p, &err), -1);
	ad_entry_clear(&e);
	assert_string_equal(err.value, "123456789");
	profile_error_clear(&err);
	expr_free(pairs[1].expr);
	profile_clear(&pushed);
}

static void
test_resolve(void **state)
{
	struct expr_error ee;
	struct config_pair site = { "site", "coalesce(l, \"\")", 0, NULL };
	struct profile_error err;
	struct ad_entry e;
	json_t *sites = json_loads("[{\"id\":\"main-site\",\"name\":\"HQ\"},"
	    "{\"id\":\"2001\",\"name\":\"Toronto\",\"code\":\"TOR\"}]", 0, NULL);
	json_t *none = json_array();
	char *id;

	(void)state;
	assert_non_null(site.expr = expr_parse(site.value, &ee));
	/* By name or code, without case; no value is the main site. */
	entry(&e, "l", "tor", NULL);
	assert_int_equal(profile_resolve(&e, &site, sites, "site", &id, &err), 0);
	ad_entry_clear(&e);
	assert_string_equal(id, "2001");
	free(id);
	entry(&e, "l", " toronto ", NULL);
	assert_int_equal(profile_resolve(&e, &site, sites, "site", &id, &err), 0);
	ad_entry_clear(&e);
	assert_string_equal(id, "2001");
	free(id);
	entry(&e, "sn", "x", NULL);
	assert_int_equal(profile_resolve(&e, &site, sites, "site", &id, &err), 0);
	assert_string_equal(id, "main-site");
	free(id);
	/* A single-site account: no value, no site. */
	assert_int_equal(profile_resolve(&e, &site, none, "site", &id, &err), 0);
	ad_entry_clear(&e);
	assert_null(id);
	/* Unknown: the user's error, naming the attribute, value and list. */
	entry(&e, "l", "Mars", NULL);
	assert_int_equal(profile_resolve(&e, &site, sites, "site", &id, &err), -1);
	ad_entry_clear(&e);
	assert_null(id);
	assert_string_equal(err.attr, "l");
	assert_string_equal(err.value, "Mars");
	assert_non_null(strstr(err.msg, "'Mars' is not a site of the account (it "
	    "has: HQ, Toronto;"));
	profile_error_clear(&err);
	expr_free(site.expr);
	json_decref(sites);
	json_decref(none);
}

static void
test_email_length(void **state)
{
	char in[300], err[128], *out;

	(void)state;
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memcpy(in + PROFILE_EMAIL_MAX - 12, "@example.com", 13); /* 254 */
	assert_int_equal(profile_norm_email(in, &out, err, sizeof(err)), 0);
	assert_string_equal(out, in);
	free(out);
	memmove(in + 1, in, strlen(in) + 1); /* 255 */
	assert_int_equal(profile_norm_email(in, &out, err, sizeof(err)), -1);
	assert_null(out);
	assert_string_equal(err, "is longer than 254 characters");
}

static void
test_render(void **state)
{
	char *s;

	(void)state;
	s = profile_render("{directNumber}#{extensionNumber}", "+16505550100", "101");
	assert_string_equal(s, "+16505550100#101");
	free(s);
	s = profile_render("{directNumber}#{extensionNumber}", NULL, "101");
	assert_string_equal(s, "#101");
	free(s);
	s = profile_render("{extensionNumber}", "+1", NULL);
	assert_string_equal(s, "");
	free(s);
	s = profile_render("x{extensionNumber}{extensionNumber}{extensionNumber}"
	    "{extensionNumber}{extensionNumber}{extensionNumber}y", NULL,
	    "1234567890123456789");
	assert_int_equal(strlen(s), 2 + 6 * 19);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_normalises),
		cmocka_unit_test(test_build_errors_name_attribute),
		cmocka_unit_test(test_build_entry_problem),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_countries),
		cmocka_unit_test(test_phones),
		cmocka_unit_test(test_hash_and_json),
		cmocka_unit_test(test_build_expressions),
		cmocka_unit_test(test_build_create),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_email_length),
		cmocka_unit_test(test_render),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the connection-free parts of common/ad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"

static const unsigned char guid_le[16] = { 0xe1, 0xb4, 0xa4, 0xcb, 0xd4, 0xea,
	0x97, 0x4c, 0x89, 0x04, 0x89, 0x01, 0x50, 0x9e, 0x44, 0x00 };
static const char guid_str[] = "cba4b4e1-ead4-4c97-8904-8901509e4400";

static struct ad_dc_info
dc(const char *host, const char *inv, unsigned long long usn)
{
	struct ad_dc_info d = { 0 };

	d.dns_host_name = (char *)host;
	d.invocation_id = (char *)inv;
	d.highest_usn = usn;
	return d;
}

static void
test_plan(void **state)
{
	struct store_watermark w = { "dc1.example.test", (char *)guid_str, 4000, 0 };
	struct ad_dc_info d = dc("dc1.example.test", guid_str, 4100);
	struct ad_scan_plan p;

	(void)state;
	ad_plan_scan(NULL, &d, 0, &p);
	assert_true(p.full);
	assert_int_equal(p.reason, AD_SCAN_FULL_NO_WATERMARK);
	assert_int_equal(p.lower, 0);
	assert_int_equal(p.upper, 4100);

	ad_plan_scan(&w, &d, 0, &p);
	assert_false(p.full);
	assert_int_equal(p.reason, AD_SCAN_INCREMENTAL);
	assert_int_equal(p.lower, 4001);
	assert_int_equal(p.upper, 4100);

	/* Idle: nothing above the watermark, an empty range. */
	d.highest_usn = 4000;
	ad_plan_scan(&w, &d, 0, &p);
	assert_false(p.full);
	assert_true(p.lower > p.upper);

	ad_plan_scan(&w, &d, 1, &p);
	assert_int_equal(p.reason, AD_SCAN_FULL_FORCED);
	assert_int_equal(p.lower, 0);

	/* Same identity, older USNs: a restore from a copy. */
	d.highest_usn = 3999;
	ad_plan_scan(&w, &d, 0, &p);
	assert_int_equal(p.reason, AD_SCAN_FULL_ROLLBACK);

	/* Another DC, or the same name with a new invocationId; case-blind. */
	d = dc("DC1.EXAMPLE.TEST", "CBA4B4E1-EAD4-4C97-8904-8901509E4400", 5000);
	ad_plan_scan(&w, &d, 0, &p);
	assert_int_equal(p.reason, AD_SCAN_INCREMENTAL);
	d = dc("dc2.example.test", guid_str, 5000);
	ad_plan_scan(&w, &d, 0, &p);
	assert_int_equal(p.reason, AD_SCAN_FULL_DC_CHANGED);
	d = dc("dc1.example.test", "00000000-0000-0000-0000-000000000000", 5000);
	ad_plan_scan(&w, &d, 0, &p);
	assert_int_equal(p.reason, AD_SCAN_FULL_DC_CHANGED);
	assert_string_equal(ad_scan_reason_name(AD_SCAN_FULL_ROLLBACK), "usn-rollback");
}

static void
test_filters(void **state)
{
	char *f;

	(void)state;
	f = ad_usn_filter("(&(objectClass=user)(mail=*))", 17, 4012);
	assert_string_equal(f, "(&(&(objectClass=user)(mail=*))(uSNChanged>=17)"
	    "(uSNChanged<=4012))");
	free(f);
	f = ad_filter_escape("a*b(c)d\\e", 9);
	assert_string_equal(f, "a\\2ab\\28c\\29d\\5ce");
	free(f);
	f = ad_filter_escape("nul\0x\n", 6);
	assert_string_equal(f, "nul\\00x\\0a");
	free(f);
	f = ad_filter_escape("Zoë@example.test", strlen("Zoë@example.test"));
	assert_string_equal(f, "Zoë@example.test");
	free(f);
}

static void
test_guid(void **state)
{
	char s[AD_GUID_LEN + 1];
	unsigned char b[16];

	(void)state;
	ad_guid_format(guid_le, s);
	assert_string_equal(s, guid_str);
	assert_int_equal(ad_guid_parse(guid_str, b), 0);
	assert_memory_equal(b, guid_le, 16);
	assert_int_equal(ad_guid_parse("CBA4B4E1-EAD4-4C97-8904-8901509E4400", b), 0);
	assert_memory_equal(b, guid_le, 16);
	assert_int_equal(ad_guid_parse("cba4b4e1ead44c9789048901509e4400", b), -1);
	assert_int_equal(ad_guid_parse("cba4b4e1-ead4-4c97-8904-8901509e440g", b), -1);
	assert_int_equal(ad_guid_parse("cba4b4e1-ead4-4c97-8904_8901509e4400", b), -1);
	assert_int_equal(ad_guid_parse("", b), -1);
}

static void
test_dn_under(void **state)
{
	(void)state;
	assert_true(ad_dn_under("CN=A,OU=Staff,DC=example,DC=test", "DC=example,DC=test"));
	assert_true(ad_dn_under("cn=a, ou=staff, dc=Example, dc=Test",
	    "OU=Staff,DC=example,DC=test"));
	assert_true(ad_dn_under("OU=Staff,DC=example,DC=test", "ou = staff,dc=example,dc=test"));
	assert_false(ad_dn_under("CN=A,OU=NotStaff,DC=example,DC=test",
	    "OU=Staff,DC=example,DC=test"));
	assert_false(ad_dn_under("DC=test", "DC=example,DC=test"));
	assert_false(ad_dn_under("CN=A,DC=other,DC=test", "DC=example,DC=test"));
}

static void
test_entry_build(void **state)
{
	struct ad_raw raw[] = {
		{ "objectGUID", (const char *)guid_le, 16 },
		{ "uSNChanged", "4012", 4 },
		{ "userAccountControl", "514", 3 },
		{ "mail", "ann@example.test", 16 },
		{ "givenName", "Zoë", strlen("Zoë") },
		{ "st", NULL, 0 },
	};
	struct ad_entry e;

	(void)state;
	assert_int_equal(ad_entry_build(&e, "CN=Ann,DC=x", raw, 6, "mail"), 0);
	assert_string_equal(e.guid, guid_str);
	assert_string_equal(e.dn, "CN=Ann,DC=x");
	assert_int_equal(e.usn, 4012);
	assert_int_equal(e.uac, 514);
	assert_true(e.disabled);
	assert_false(e.deleted);
	assert_null(e.problem);
	assert_string_equal(ad_entry_get(&e, "MAIL"), "ann@example.test");
	assert_string_equal(ad_entry_get(&e, "givenName"), "Zoë");
	assert_null(ad_entry_get(&e, "st"));
	ad_entry_clear(&e);
}

static void
test_entry_problems(void **state)
{
	char *longv = malloc(AD_VALUE_MAX + 1);
	struct ad_raw raw[] = {
		{ "objectGUID", (const char *)guid_le, 16 },
		{ "uSNChanged", "7", 1 },
		{ "userAccountControl", "-2147483136", 11 },
		{ "sn", "bad\xff", 4 },
		{ "streetAddress", longv, AD_VALUE_MAX + 1 },
		{ "isDeleted", "TRUE", 4 },
	};
	struct ad_entry e;

	(void)state;
	memset(longv, 'x', AD_VALUE_MAX + 1);
	/* Invalid UTF-8 is the first problem; the value is left out. */
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 5, "mail"), 0);
	assert_string_equal(e.problem_attr, "sn");
	assert_string_equal(e.problem, "value is not valid UTF-8");
	assert_null(ad_entry_get(&e, "sn"));
	assert_null(ad_entry_get(&e, "streetAddress"));
	assert_int_equal(e.uac, 0x80000200u);
	assert_false(e.disabled);
	ad_entry_clear(&e);
	/* Too long, and no mail. */
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw + 4, 1, "mail"), -1);
	ad_entry_clear(&e);
	raw[3] = raw[0];
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw + 3, 2, "mail"), 0);
	assert_string_equal(e.problem_attr, "streetAddress");
	assert_non_null(strstr(e.problem, "longer than 1024"));
	ad_entry_clear(&e);
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 2, "mail"), 0);
	assert_string_equal(e.problem_attr, "mail");
	assert_string_equal(e.problem, "attribute is missing");
	ad_entry_clear(&e);
	/* A tombstone has no mail and that is not a problem. */
	raw[1] = raw[5];
	assert_int_equal(ad_entry_build(&e, "CN=B\\0ADEL:x,DC=x", raw, 2, "mail"), 0);
	assert_true(e.deleted);
	assert_null(e.problem);
	ad_entry_clear(&e);
	/* No usable GUID: the entry cannot be identified. */
	raw[0].len = 15;
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 1, NULL), -1);
	ad_entry_clear(&e);
	free(longv);
}

/* Integers as AD sends them (LDAP's Integer syntax), and nothing else
 * (tests/fuzz): no leading zero, no "-0". */
static void
test_entry_integers(void **state)
{
	static const char *const uac_bad[] = { "", "-", "-9223372036854775808",
		"4294967296", "-4294967296", "+512", " 512", "--2", "512x",
		"0512", "-0", "-00", "-0000000000000000088000" };
	static const char *const usn_bad[] = { "-1", " 7", "+7",
		"18446744073709551616", "7 ", "07", "00" };
	struct ad_raw raw[] = {
		{ "objectGUID", (const char *)guid_le, 16 },
		{ "userAccountControl", NULL, 0 },
	};
	struct ad_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(uac_bad) / sizeof(uac_bad[0]); i++) {
		raw[1].val = uac_bad[i];
		raw[1].len = strlen(uac_bad[i]);
		if (ad_entry_build(&e, "CN=B,DC=x", raw, 2, NULL) != -1)
			fail_msg("userAccountControl '%s' accepted", uac_bad[i]);
		ad_entry_clear(&e);
	}
	raw[1].attr = "uSNChanged";
	for (size_t i = 0; i < sizeof(usn_bad) / sizeof(usn_bad[0]); i++) {
		raw[1].val = usn_bad[i];
		raw[1].len = strlen(usn_bad[i]);
		if (ad_entry_build(&e, "CN=B,DC=x", raw, 2, NULL) != -1)
			fail_msg("uSNChanged '%s' accepted", usn_bad[i]);
		ad_entry_clear(&e);
	}
	raw[1].val = "18446744073709551615";
	raw[1].len = 20;
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 2, NULL), 0);
	assert_true(e.usn == 18446744073709551615ULL);
	ad_entry_clear(&e);
	raw[1].attr = "userAccountControl";
	raw[1].val = "-1";
	raw[1].len = 2;
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 2, NULL), 0);
	assert_int_equal(e.uac, 0xffffffffu);
	assert_true(e.disabled);
	ad_entry_clear(&e);
	raw[1].val = "0";
	raw[1].len = 1;
	assert_int_equal(ad_entry_build(&e, "CN=B,DC=x", raw, 2, NULL), 0);
	assert_int_equal(e.uac, 0);
	ad_entry_clear(&e);
}

static void
test_diff(void **state)
{
	struct ad_value want[] = {
		{ "telephoneNumber", "+16505550100#101" },
		{ "ipPhone", "101" },
		{ "otherTelephone", "" },
		{ "pager", "" },
	};
	const char *have[] = { "+16505550100#101", "100", "+1650", NULL };
	size_t idx[4];

	(void)state;
	assert_int_equal(ad_diff(want, 4, have, idx), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 2);
	have[1] = "101";
	have[2] = NULL;
	assert_int_equal(ad_diff(want, 4, have, idx), 0);
	have[0] = NULL;
	assert_int_equal(ad_diff(want, 4, have, idx), 1);
	assert_int_equal(idx[0], 0);
}

static void
test_range_parse(void **state)
{
	unsigned long next = 7;

	(void)state;
	assert_int_equal(ad_range_parse("member", "member", &next), 0);
	assert_int_equal(next, 0);          /* every value at once */
	assert_int_equal(ad_range_parse("member;range=0-1499", "member", &next), 0);
	assert_int_equal(next, 1500);
	assert_int_equal(ad_range_parse("Member;Range=1500-2999", "member", &next), 0);
	assert_int_equal(next, 3000);
	assert_int_equal(ad_range_parse("member;range=1500-*", "member", &next), 0);
	assert_int_equal(next, 0);          /* the last part */
	assert_int_equal(ad_range_parse("member;range=0-999", "member", &next), 0);
	assert_int_equal(next, 1000);       /* a lower MaxValRange is followed */
	assert_int_equal(ad_range_parse("memberOf", "member", &next), -1);
	assert_int_equal(ad_range_parse("member;range=x-1", "member", &next), -1);
	assert_int_equal(ad_range_parse("member;range=0-", "member", &next), -1);
	assert_int_equal(ad_range_parse("member;range=0-12a", "member", &next), -1);
	assert_int_equal(ad_range_parse("member;binary", "member", &next), -1);
}

static void
test_extended_dn_guid(void **state)
{
	char out[AD_GUID_LEN + 1];
	const char *v = "<GUID=D7CF2900-78a7-4035-9dfb-879f73c67aee>;<SID=S-1-5-21-1>;"
	    "CN=gu638,OU=G,DC=example,DC=test";

	(void)state;
	assert_int_equal(ad_extended_dn_guid(v, strlen(v), out), 0);
	assert_string_equal(out, "d7cf2900-78a7-4035-9dfb-879f73c67aee");
	assert_int_equal(ad_extended_dn_guid("CN=x,DC=t", 9, out), -1);
	assert_int_equal(ad_extended_dn_guid(v, 20, out), -1); /* cut short */
	v = "<GUID=d7cf2900-78a7-4035-9dfb-879f73c67aeg>;CN=x";
	assert_int_equal(ad_extended_dn_guid(v, strlen(v), out), -1);
	v = "<SID=S-1-5-21-1>;CN=x,DC=t";
	assert_int_equal(ad_extended_dn_guid(v, strlen(v), out), -1);
}

#define GA "00000000-0000-0000-0000-00000000000a"
#define GB "00000000-0000-0000-0000-00000000000b"
#define GC "00000000-0000-0000-0000-00000000000c"
#define GD "00000000-0000-0000-0000-00000000000d"
#define GX "00000000-0000-0000-0000-0000000000ff"

static void
test_members_finish(void **state)
{
	struct ad_member m[] = { { GC, 1 }, { GA, 2 }, { GX, 0 }, { GC, 0 },
		{ GB, 1 }, { GA, 1 } };
	struct ad_member m2[] = { { GA, 1 }, { GA, 1 }, { GA, 0 } };
	const char groups[][AD_GUID_LEN + 1] = { GB, GX };
	unsigned int count[3] = { 0 };
	size_t n;

	(void)state;
	n = ad_members_finish(m, 6, groups, 2, count);
	assert_int_equal(n, 2);             /* the groups are no users */
	assert_string_equal(m[0].guid, GA);
	assert_int_equal(m[0].via, 1);      /* the lowest group of the two */
	assert_string_equal(m[1].guid, GC);
	assert_int_equal(m[1].via, 0);
	assert_int_equal(count[0], 1);      /* C */
	assert_int_equal(count[1], 2);      /* A and C */
	assert_int_equal(count[2], 1);      /* A too */
	assert_int_equal(ad_members_finish(m, 0, groups, 2, NULL), 0);
	/* Two paths to one user in one group count once. */
	memset(count, 0, sizeof(count));
	assert_int_equal(ad_members_finish(m2, 3, NULL, 0, count), 1);
	assert_int_equal(m2[0].via, 0);
	assert_int_equal(count[0], 1);
	assert_int_equal(count[1], 1);
}

struct seen {
	char log[256];
};

static void
diff_rec(void *arg, const struct ad_member *m, enum ad_member_change ch)
{
	struct seen *s = arg;
	size_t o = strlen(s->log);

	snprintf(s->log + o, sizeof(s->log) - o, "%c%c%u ", ch == AD_MEMBER_ADDED ?
	    '+' : ch == AD_MEMBER_REMOVED ? '-' : '~', m->guid[AD_GUID_LEN - 1],
	    m->via);
}

static void
test_members_diff(void **state)
{
	const struct ad_member was[] = { { GA, 0 }, { GB, 0 }, { GC, 1 } };
	const struct ad_member now[] = { { GB, 0 }, { GC, 0 }, { GD, 1 } };
	struct seen s = { "" };

	(void)state;
	assert_int_equal(ad_members_diff(was, 3, now, 3, diff_rec, &s), 3);
	assert_string_equal(s.log, "-a0 ~c0 +d1 ");
	s.log[0] = '\0';                    /* nothing before: all added */
	assert_int_equal(ad_members_diff(NULL, 0, now, 3, diff_rec, &s), 3);
	assert_string_equal(s.log, "+b0 +c0 +d1 ");
	s.log[0] = '\0';                    /* nothing now: all removed */
	assert_int_equal(ad_members_diff(was, 3, NULL, 0, diff_rec, &s), 3);
	assert_string_equal(s.log, "-a0 -b0 -c1 ");
	s.log[0] = '\0';                    /* the same: no call */
	assert_int_equal(ad_members_diff(was, 3, was, 3, diff_rec, &s), 0);
	assert_string_equal(s.log, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_guid),
		cmocka_unit_test(test_dn_under),
		cmocka_unit_test(test_entry_build),
		cmocka_unit_test(test_entry_problems),
		cmocka_unit_test(test_entry_integers),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_range_parse),
		cmocka_unit_test(test_extended_dn_guid),
		cmocka_unit_test(test_members_finish),
		cmocka_unit_test(test_members_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the engine's pure decisions (common/sync_plan.c) and its
 * record codecs (common/record.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sync_internal.h"
#include "util.h"

static struct record_user
linked(int active, const char *pushed)
{
	struct record_user u = { 0 };

	u.push.ext_id = "3000000001";
	u.push.active = active;
	snprintf(u.push.pushed, sizeof(u.push.pushed), "%s", pushed);
	return u;
}

static void
test_plan_entry(void **state)
{
	struct ad_entry e = { 0 };
	struct record_user u = linked(1, "aaaaaaaaaaaaaaaa"), unlinked = { 0 };
	struct scan_decision d;

	(void)state;
	/* Never seen, valid: link or create. */
	sync_plan_entry(NULL, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "new");
	/* Linked, same profile: nothing (loop suppression). */
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* Changed. */
	sync_plan_entry(&u, &e, "bbbbbbbbbbbbbbbb", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "changed");
	/* A data error waits until the value changes. */
	snprintf(u.push.failed, sizeof(u.push.failed), "bbbbbbbbbbbbbbbb");
	sync_plan_entry(&u, &e, "bbbbbbbbbbbbbbbb", NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	snprintf(unlinked.push.failed, sizeof(unlinked.push.failed), "cccccccccccccccc");
	sync_plan_entry(&unlinked, &e, "cccccccccccccccc", NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	sync_plan_entry(&unlinked, &e, "dddddddddddddddd", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	/* Profile error. */
	sync_plan_entry(&u, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_DATA_ERROR);
	/* Disabled and deleted. */
	e.disabled = 1;
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	assert_string_equal(d.reason, "disabled");
	sync_plan_entry(NULL, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_NONE); /* never create a disabled user */
	e.disabled = 0;
	e.deleted = 1;
	sync_plan_entry(&u, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	assert_string_equal(d.reason, "deleted");
	sync_plan_entry(&unlinked, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_FORGET);
	/* Enabled again after a deactivation. */
	e.deleted = 0;
	u = linked(0, "aaaaaaaaaaaaaaaa");
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "enabled");
}

/*
 * An entry waiting in the outbox, maybe on its way: the decision leaves
 * the outbox holding what AD wants now.
 */
static void
test_plan_entry_pending(void **state)
{
	struct ad_entry e = { 0 };
	struct record_user u = linked(1, "aaaaaaaaaaaaaaaa"), unlinked = { 0 };
	struct record_out deact = { 0 }, upd = { 0 };
	struct scan_decision d;

	(void)state;
	upd.active = 1;
	snprintf(upd.hash, sizeof(upd.hash), "bbbbbbbbbbbbbbbb");
	/* Disabled, then enabled again before the deactivation went out. */
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", &deact, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "enabled");
	/* Changed, then changed back before the update went out. */
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", &upd, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "changed");
	/* The same profile waiting: nothing more. */
	sync_plan_entry(&u, &e, "bbbbbbbbbbbbbbbb", &upd, &d);
	assert_int_equal(d.action, SCAN_PUSH); /* pushed differs: replaced */
	snprintf(u.push.pushed, sizeof(u.push.pushed), "bbbbbbbbbbbbbbbb");
	sync_plan_entry(&u, &e, "bbbbbbbbbbbbbbbb", &upd, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* A profile known to fail: the waiting entry goes. */
	snprintf(u.push.failed, sizeof(u.push.failed), "cccccccccccccccc");
	sync_plan_entry(&u, &e, "cccccccccccccccc", &upd, &d);
	assert_int_equal(d.action, SCAN_DROP);
	snprintf(unlinked.push.failed, sizeof(unlinked.push.failed), "cccccccccccccccc");
	sync_plan_entry(&unlinked, &e, "cccccccccccccccc", &upd, &d);
	assert_int_equal(d.action, SCAN_DROP);
	sync_plan_entry(&unlinked, &e, "cccccccccccccccc", NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* A new user disabled before its create went out: no create. */
	e.disabled = 1;
	sync_plan_entry(&unlinked, &e, NULL, &upd, &d);
	assert_int_equal(d.action, SCAN_DROP);
	sync_plan_entry(&unlinked, &e, NULL, &deact, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* ... or while it is on its way: a deactivation follows it. */
	unlinked.push.creating = 1;
	sync_plan_entry(&unlinked, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	assert_string_equal(d.reason, "disabled");
	/* Disabled again while it is being enabled. */
	u = linked(0, "aaaaaaaaaaaaaaaa");
	sync_plan_entry(&u, &e, NULL, &upd, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	sync_plan_entry(&u, &e, NULL, &deact, &d);
	assert_int_equal(d.action, SCAN_NONE);
	sync_plan_entry(&u, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* Deleted while created: a deactivation, not forgotten. */
	e.disabled = 0;
	e.deleted = 1;
	sync_plan_entry(&unlinked, &e, NULL, &upd, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	assert_string_equal(d.reason, "deleted");
}

/* ringsyncctl sync: pushed even when nothing changed; deactivations kept. */
static void
test_plan_requested(void **state)
{
	struct ad_entry e = { 0 };
	struct record_user u = linked(1, "aaaaaaaaaaaaaaaa"), unlinked = { 0 };
	struct record_out deact = { 0 }, upd = { 0 };
	struct scan_decision d;

	(void)state;
	upd.active = 1;
	snprintf(upd.hash, sizeof(upd.hash), "aaaaaaaaaaaaaaaa");
	/* Linked and up to date: pushed again. */
	sync_plan_entry(&u, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	sync_plan_requested(&u, &e, "aaaaaaaaaaaaaaaa", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "requested");
	/* Changed: the usual push, with its reason. */
	sync_plan_entry(&u, &e, "bbbbbbbbbbbbbbbb", NULL, &d);
	sync_plan_requested(&u, &e, "bbbbbbbbbbbbbbbb", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "changed");
	/* A profile that failed: tried again (linked, and a create). */
	snprintf(u.push.failed, sizeof(u.push.failed), "cccccccccccccccc");
	sync_plan_entry(&u, &e, "cccccccccccccccc", &upd, &d);
	assert_int_equal(d.action, SCAN_DROP);
	sync_plan_requested(&u, &e, "cccccccccccccccc", &upd, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "requested");
	snprintf(unlinked.push.failed, sizeof(unlinked.push.failed), "cccccccccccccccc");
	sync_plan_entry(&unlinked, &e, "cccccccccccccccc", NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
	sync_plan_requested(&unlinked, &e, "cccccccccccccccc", NULL, &d);
	assert_int_equal(d.action, SCAN_PUSH);
	assert_string_equal(d.reason, "new");
	sync_plan_requested(NULL, &e, "cccccccccccccccc", NULL, &d);
	assert_string_equal(d.reason, "new");
	/* A data error stays one. */
	sync_plan_entry(&u, &e, NULL, NULL, &d);
	sync_plan_requested(&u, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_DATA_ERROR);
	/* Disabled: a waiting deactivation (held or not) is left as it is. */
	e.disabled = 1;
	u = linked(1, "aaaaaaaaaaaaaaaa");
	deact.held = RECORD_HOLD_HELD;
	sync_plan_entry(&u, &e, NULL, &deact, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	sync_plan_requested(&u, &e, NULL, &deact, &d);
	assert_int_equal(d.action, SCAN_NONE);
	/* None waiting: the deactivation is queued as usual (through the hold). */
	sync_plan_entry(&u, &e, NULL, NULL, &d);
	sync_plan_requested(&u, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_DEACTIVATE);
	/* Never a create for a disabled user. */
	sync_plan_entry(NULL, &e, NULL, NULL, &d);
	sync_plan_requested(NULL, &e, NULL, NULL, &d);
	assert_int_equal(d.action, SCAN_NONE);
}

/* Long work: the estimate from a rate budget, and the line people read. */
static void
test_progress(void **state)
{
	double per_min, left;
	char buf[160];

	(void)state;
	/* 800 creates left at Heavy 10 a minute: 80 min. */
	left = sync_progress_estimate(800, 10, 60, 1., &per_min);
	assert_true(per_min > 9.99 && per_min < 10.01);
	assert_true(left > 4799.9 && left < 4800.1);
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "creating", 3200,
	    4000, per_min, left), "creating 3,200 of 4,000, 10 a minute, about 80 "
	    "min left");
	/* Bulk updates carry many a request. */
	left = sync_progress_estimate(100000, 10, 60, 1000., &per_min);
	assert_true(left > 599.9 && left < 600.1);
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "updating", 0,
	    100000, per_min, left), "updating 0 of 100,000, 10000 a minute, about "
	    "10 min left");
	/* A compressed window: 2 a 4 s; seconds and hours. */
	left = sync_progress_estimate(14, 2, 4, 1., &per_min);
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "creating", 2,
	    16, per_min, left), "creating 2 of 16, 30 a minute, about 28 s left");
	left = sync_progress_estimate(1000, 1, 20, 1., &per_min);
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "pushing", 1,
	    1001, per_min, left), "pushing 1 of 1,001, 3.0 a minute, about 5 h 33 "
	    "min left");
	left = sync_progress_estimate(7199, 60, 60, 1., &per_min); /* 119m59s */
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "creating", 0,
	    7199, per_min, left), "creating 0 of 7,199, 60 a minute, about 2 h 0 "
	    "min left");
	/* No budget known: counts only. */
	assert_true(sync_progress_estimate(5, 0, 60, 1., &per_min) < 0);
	assert_true(per_min == 0);
	assert_string_equal(sync_progress_line(buf, sizeof(buf), "pushing", 5,
	    10, per_min, -1), "pushing 5 of 10");
}

/* The import's interval from its cost and read_share. */
static void
test_import_interval(void **state)
{
	/* Light, Medium, Heavy, Auth: the platform's defaults a minute */
	const int limit[] = { 50, 40, 10, 5 }, window[] = { 60, 60, 60, 60 };
	unsigned int calls[4] = { 0, 2, 0, 0 };
	int g;

	(void)state;
	/* 10,000 users: 2 Medium a 5 min, far below 30% */
	assert_int_equal(sync_import_interval(300, calls, limit, window, 30, &g),
	    300);
	assert_int_equal(g, -1);
	/* 100,000 users: 200 Medium (extensions and directory) */
	calls[HTTP_MEDIUM] = 200;
	assert_int_equal(sync_import_interval(300, calls, limit, window, 30, &g),
	    1000);
	assert_int_equal(g, HTTP_MEDIUM);
	/* the whole budget: 200 / 40 a minute = 5 min */
	assert_int_equal(sync_import_interval(60, calls, limit, window, 100, &g),
	    300);
	/* a Heavy fallback decides when it costs more */
	calls[HTTP_HEAVY] = 100;
	assert_int_equal(sync_import_interval(300, calls, limit, window, 30, &g),
	    2000);
	assert_int_equal(g, HTTP_HEAVY);
	/* an unknown budget does not count; a compressed window */
	const int none[] = { 0, 0, 0, 0 }, w6[] = { 6, 6, 6, 6 };
	assert_int_equal(sync_import_interval(300, calls, none, window, 30, &g),
	    300);
	calls[HTTP_HEAVY] = 0;
	calls[HTTP_MEDIUM] = 2;
	assert_int_equal(sync_import_interval(1, calls, (const int[]){ 50, 4, 10,
	    5 }, (const int[]){ 60, 60, 60, 60 }, 30, &g), 100);
	assert_int_equal(sync_import_interval(1, calls, limit, w6, 30, &g), 1);
}

static void
test_plan_push(void **state)
{
	struct record_out o = { 0 };
	struct record_user u = linked(1, "aaaaaaaaaaaaaaaa");

	(void)state;
	o.active = 1;
	snprintf(o.hash, sizeof(o.hash), "bbbbbbbbbbbbbbbb");
	assert_int_equal(sync_plan_push(&o, NULL, 100), PUSH_CREATE);
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE);
	snprintf(o.hash, sizeof(o.hash), "aaaaaaaaaaaaaaaa");
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_DROP);
	o.reason = "requested"; /* ringsyncctl sync: pushed again */
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE);
	o.reason = NULL;
	u.push.active = 0;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE); /* enable again */
	o.not_before = 200;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_WAIT);
	o.not_before = 0;
	o.active = 0;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_DROP);   /* already inactive */
	u.push.active = 1;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_DEACTIVATE);
	o.held = RECORD_HOLD_REVIEW;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_WAIT);   /* under review */
	o.held = RECORD_HOLD_HELD;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_WAIT);   /* held */
	o.held = RECORD_HOLD_NONE;
	assert_int_equal(sync_plan_push(&o, NULL, 100), PUSH_DROP);
	/* Never pushed from this store (linked by the import): only when the
	 * phone user does not hold it already; once pushed, the push's hash. */
	o.active = 1;
	u.push.pushed[0] = '\0';
	snprintf(u.imp.phone_hash, sizeof(u.imp.phone_hash), "aaaaaaaaaaaaaaaa");
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_DROP);
	snprintf(o.hash, sizeof(o.hash), "cccccccccccccccc");
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE);
	snprintf(u.push.pushed, sizeof(u.push.pushed), "dddddddddddddddd");
	snprintf(o.hash, sizeof(o.hash), "aaaaaaaaaaaaaaaa");
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE);
	/* An entry with [create] values: a linked user is compared by its
	 * profile alone; one whose create still needs completing is pushed. */
	snprintf(o.hash, sizeof(o.hash), "eeeeeeeeeeeeeeee");
	snprintf(o.push_hash, sizeof(o.push_hash), "dddddddddddddddd");
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_DROP);
	u.push.completing = 1;
	assert_int_equal(sync_plan_push(&o, &u, 100), PUSH_UPDATE);
	u.push.completing = 0;
	assert_string_equal(record_out_hash(&o, 0), "eeeeeeeeeeeeeeee");
	o.push_hash[0] = '\0';
	assert_string_equal(record_out_hash(&o, 1), "eeeeeeeeeeeeeeee");
}

static void
test_plan_writeback(void **state)
{
	struct config_pair pairs[] = {
		{ "telephoneNumber", "{directNumber}#{extensionNumber}", 0, NULL },
		{ "ipPhone", "{extensionNumber}", 0, NULL },
	};
	struct config_map wb = { pairs, 2 };
	struct record_user u = { 0 };
	json_t *want;

	(void)state;
	u.wb.attrs = json_object();
	u.imp.direct_number = "+16505550100";
	u.imp.extension_number = "101";
	/* AD's values not known (an old store): against what was given. */
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 1);
	assert_string_equal(json_string_value(json_object_get(want, "telephoneNumber")),
	    "+16505550100#101");
	assert_string_equal(json_string_value(json_object_get(want, "ipPhone")), "101");
	json_object_update(u.wb.attrs, want);
	json_decref(want);
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 0);
	assert_null(want);
	/* No direct number: the template renders it empty. */
	u.imp.direct_number = NULL;
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 1);
	assert_string_equal(json_string_value(json_object_get(want, "telephoneNumber")),
	    "#101");
	json_decref(want);
	json_decref(u.wb.attrs);
}

/* seen: the scan's values of the two attributes at stamp at. */
static json_t *
seen(const char *tel, const char *ip)
{
	return json_pack("{s:s, s:s}", "telephoneNumber", tel, "ipPhone", ip);
}

static void
test_plan_wb_seen(void **state)
{
	struct record_user u = { 0 };

	(void)state;
	assert_null(sync_plan_wb_seen(&u));             /* never scanned with them */
	u.ad.wb_seen = seen("", "");
	u.ad.wb_seen_at = 10;
	assert_ptr_equal(sync_plan_wb_seen(&u), u.ad.wb_seen);
	u.wb.at = 10;                                   /* a modify since the scan */
	assert_null(sync_plan_wb_seen(&u));
	u.wb.at = 11;
	assert_null(sync_plan_wb_seen(&u));
	u.ad.wb_seen_at = 12;                           /* the next scan */
	assert_ptr_equal(sync_plan_wb_seen(&u), u.ad.wb_seen);
	u.wb.err.msg = "insufficient access";           /* the last one failed */
	assert_null(sync_plan_wb_seen(&u));
	json_decref(u.ad.wb_seen);
}

static void
test_plan_writeback_seen(void **state)
{
	struct config_pair pairs[] = {
		{ "telephoneNumber", "{directNumber}#{extensionNumber}", 0, NULL },
		{ "ipPhone", "{extensionNumber}", 0, NULL },
	};
	struct config_map wb = { pairs, 2 };
	struct record_user u = { 0 };
	json_t *want;

	(void)state;
	u.wb.attrs = json_object();
	u.imp.direct_number = "+16505550100";
	u.imp.extension_number = "101";
	u.ad.wb_seen_at = 5;
	/* Never given, and AD already holds them (an adoption): nothing. */
	u.ad.wb_seen = seen("+16505550100#101", "101");
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 0);
	assert_null(want);
	/* AD differs in one: queued with every value. */
	json_object_set_new(u.ad.wb_seen, "ipPhone", json_string("100"));
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 1);
	assert_int_equal(json_object_size(want), 2);
	json_decref(want);
	/* AD absent ("" as scanned) and nothing wanted: the same. */
	u.imp.direct_number = NULL;
	u.imp.extension_number = NULL;
	json_decref(u.ad.wb_seen);
	u.ad.wb_seen = seen("", "");
	json_object_set_new(u.ad.wb_seen, "telephoneNumber", json_string("#"));
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 0);
	/* AD holds what is wanted but the writer's record is out of date:
	 * queued, so the writer records it (with no modify). */
	json_object_set_new(u.wb.attrs, "ipPhone", json_string("100"));
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 1);
	json_decref(want);
	/* A write-back since the scan: what was given decides, as before. */
	json_object_set_new(u.wb.attrs, "ipPhone", json_string(""));
	json_object_set_new(u.wb.attrs, "telephoneNumber", json_string("#"));
	u.wb.at = 6;
	json_object_set_new(u.ad.wb_seen, "ipPhone", json_string("999"));
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 0);
	/* An attribute the scan did not read (added to [writeback] since). */
	u.wb.at = 0;
	json_object_del(u.ad.wb_seen, "ipPhone");
	json_object_set_new(u.wb.attrs, "ipPhone", json_string("7"));
	assert_int_equal(sync_plan_writeback(&wb, &u, &want), 1);
	json_decref(want);
	json_decref(u.ad.wb_seen);
	json_decref(u.wb.attrs);
}

static void
test_plan_wb_have(void **state)
{
	struct ad_value want[2] = { { "telephoneNumber", "+16505550100#101" },
		{ "ipPhone", "" } };
	const char *have[2] = { "x", "x" };
	json_t *s = seen("+16505550100#101", "101");
	size_t idx[2];

	(void)state;
	assert_int_equal(sync_plan_wb_have(NULL, want, 2, have), 0);
	assert_int_equal(sync_plan_wb_have(s, want, 2, have), 1);
	assert_string_equal(have[0], "+16505550100#101");
	assert_string_equal(have[1], "101");
	/* Only ipPhone differs: its delete is the one change. */
	assert_int_equal(ad_diff(want, 2, have, idx), 1);
	assert_int_equal(idx[0], 1);
	/* Absent in AD ("" as scanned) and to be deleted: nothing to do. */
	json_object_set_new(s, "ipPhone", json_string(""));
	assert_int_equal(sync_plan_wb_have(s, want, 2, have), 1);
	assert_null(have[1]);
	assert_int_equal(ad_diff(want, 2, have, idx), 0);
	/* An attribute the scan did not read: not known. */
	json_object_del(s, "ipPhone");
	assert_int_equal(sync_plan_wb_have(s, want, 2, have), 0);
	json_decref(s);
}

static void
test_records_round_trip(void **state)
{
	struct record_user u = { 0 }, v;
	struct record_out o = { 0 }, p;
	json_t *j;
	char err[256];

	(void)state;
	snprintf(u.guid, sizeof(u.guid), "cba4b4e1-ead4-4c97-8904-8901509e4400");
	u.ad.dn = xstrdup("CN=Ann,DC=x");
	u.ad.email = xstrdup("ann@example.test");
	u.push.scim_id = xstrdup("42");
	u.push.active = 1;
	u.push.creating = 1;
	u.push.err.failures = 3;
	snprintf(u.push.pushed, sizeof(u.push.pushed), "0123456789abcdef");
	u.wb.attrs = json_pack("{s:s}", "ipPhone", "101");
	j = record_user_to_json(&u);
	assert_int_equal(record_user_from_json(u.guid, j, &v, err, sizeof(err)), 0);
	assert_string_equal(v.ad.dn, u.ad.dn);
	assert_string_equal(record_user_phone_id(&v), "42");
	assert_string_equal(v.push.pushed, u.push.pushed);
	assert_true(record_user_active(&v) && v.push.creating);
	assert_int_equal(v.push.err.failures, 3);
	assert_true(json_equal(v.wb.attrs, u.wb.attrs));
	json_decref(j);
	record_user_clear(&v);
	record_user_clear(&u);

	snprintf(o.guid, sizeof(o.guid), "cba4b4e1-ead4-4c97-8904-8901509e4400");
	o.seq = sync_next_seq();
	o.active = 0;
	o.held = RECORD_HOLD_REVIEW;
	o.reason = xstrdup("disabled");
	j = json_pack("{s:I, s:b, s:i, s:s}", "seq", (json_int_t)o.seq, "active", 0,
	    "held", 2, "reason", "disabled");
	assert_int_equal(record_out_from_json(o.guid, j, &p, err, sizeof(err)), 0);
	assert_int_equal(p.seq, o.seq);
	assert_int_equal(p.held, RECORD_HOLD_REVIEW);
	assert_false(p.active);
	json_decref(j);
	record_out_clear(&p);
	record_out_clear(&o);
	/* An active entry without a profile is refused, not half-read. */
	j = json_pack("{s:b}", "active", 1);
	assert_int_equal(record_out_from_json("g", j, &p, err, sizeof(err)), -1);
	json_decref(j);
	{
		unsigned long long a = sync_next_seq(), b = sync_next_seq();

		assert_true(a < b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_entry),
		cmocka_unit_test(test_plan_entry_pending),
		cmocka_unit_test(test_plan_requested),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_import_interval),
		cmocka_unit_test(test_plan_push),
		cmocka_unit_test(test_plan_writeback),
		cmocka_unit_test(test_plan_wb_seen),
		cmocka_unit_test(test_plan_writeback_seen),
		cmocka_unit_test(test_plan_wb_have),
		cmocka_unit_test(test_records_round_trip),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

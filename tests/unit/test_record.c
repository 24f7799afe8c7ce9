/* Unit tests for common/record: serialisers, validators, parts, walks and
 * the migration of a version-1 store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"
#include "sync.h"
#include "testutil.h"

#define G1 "00000000-0000-4000-8000-000000000001"
#define G2 "00000000-0000-4000-8000-000000000002"
#define G3 "00000000-0000-4000-8000-000000000003"

static struct store *
open_ok(const char *dir, int flags)
{
	struct store *st;
	char err[512];

	if (store_open(dir, flags, &st, err, sizeof(err)) < 0)
		fail_msg("store_open %s: %s", dir, err);
	return st;
}

static struct store_txn *
begin(struct store *st, int rdonly)
{
	struct store_txn *txn;
	char err[256];

	if (store_begin(st, rdonly, &txn, err, sizeof(err)) < 0)
		fail_msg("store_begin: %s", err);
	return txn;
}

static void
commit(struct store_txn *txn)
{
	char err[256];

	if (store_commit(txn, err, sizeof(err)) < 0)
		fail_msg("store_commit: %s", err);
}

static void
put_raw(struct store_txn *txn, enum store_db db, const char *k, const char *v)
{
	char err[256];

	if (store_put(txn, db, k, v, strlen(v), err, sizeof(err)) < 0)
		fail_msg("store_put: %s", err);
}

/* raw: a stored value as a string (static buffer). */
static const char *
raw(struct store_txn *txn, enum store_db db, const char *k)
{
	static char buf[2048];
	const void *v;
	size_t len;

	if (store_get(txn, db, k, &v, &len) != 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)v);
	return buf;
}

static json_t *
parse(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(j);
	return j;
}

static void
test_user_round_trip(void **state)
{
	struct record_user u = { 0 }, v;
	char err[256];
	json_t *j;

	(void)state;
	snprintf(u.guid, sizeof(u.guid), G1);
	u.ad.dn = xstrdup("CN=Ann,DC=x");
	u.ad.email = xstrdup("ann@example.test");
	u.ad.disabled = 1;
	record_error_set(&u.ad.err, "bad st");
	u.push.scim_id = xstrdup("42");
	u.push.ext_id = xstrdup("44");
	u.push.active = 1;
	u.push.link = 3;
	u.push.creating = 1;
	u.push.completing = 1;
	u.push.cost_center = xstrdup("17");
	u.push.ext_alloc = xstrdup("4003");
	u.ad.cost_center_said = xstrdup("18");
	snprintf(u.push.pushed, sizeof(u.push.pushed), "0123456789abcdef");
	snprintf(u.push.failed, sizeof(u.push.failed), "fedcba9876543210");
	record_error_set(&u.push.err, "no free extension");
	u.push.err.failures = 2;
	u.imp.ext_id = xstrdup("43");
	u.imp.paired = xstrdup("41");
	u.imp.enabled = 1;
	u.imp.link = 4;
	u.imp.direct_number = xstrdup("+16505550100");
	u.imp.extension_number = xstrdup("101");
	u.ad.wb_seen = json_pack("{s:s, s:s}", "ipPhone", "100",
	    "telephoneNumber", "");
	u.ad.wb_seen_at = 6;
	u.wb.attrs = json_pack("{s:s}", "ipPhone", "101");
	u.wb.at = 5;
	record_error_set(&u.wb.err, "insufficient access");
	j = record_user_to_json(&u);
	assert_int_equal(record_user_from_json(G1, j, &v, err, sizeof(err)), 0);
	json_decref(j);
	assert_string_equal(v.ad.dn, "CN=Ann,DC=x");
	assert_string_equal(v.ad.email, "ann@example.test");
	assert_true(v.ad.disabled && !v.ad.deleted);
	assert_string_equal(v.ad.err.msg, "bad st");
	assert_string_equal(v.push.scim_id, "42");
	assert_string_equal(v.push.ext_id, "44");
	assert_true(v.push.active && v.push.creating && v.push.completing);
	assert_string_equal(v.push.cost_center, "17");
	assert_string_equal(v.push.ext_alloc, "4003");
	assert_string_equal(v.ad.cost_center_said, "18");
	assert_int_equal(v.push.link, 3);
	assert_string_equal(v.push.pushed, u.push.pushed);
	assert_string_equal(v.push.failed, u.push.failed);
	assert_int_equal(v.push.err.failures, 2);
	assert_string_equal(v.imp.ext_id, "43");
	assert_string_equal(v.imp.paired, "41");
	assert_int_equal(v.imp.link, 4);
	assert_string_equal(v.imp.direct_number, "+16505550100");
	assert_string_equal(v.imp.extension_number, "101");
	assert_true(json_equal(v.wb.attrs, u.wb.attrs));
	assert_true(json_equal(v.ad.wb_seen, u.ad.wb_seen));
	assert_int_equal(v.ad.wb_seen_at, 6);
	assert_int_equal(v.wb.at, 5);
	/* The newer link is the import's; the latest error is the writer's. */
	assert_string_equal(record_user_phone_id(&v), "43");
	assert_string_equal(record_user_error(&v)->msg, "insufficient access");
	assert_null(record_user_scim_id(&v)); /* the importer knows no SCIM id */
	record_user_adopt(&v);
	assert_string_equal(v.push.ext_id, "43");
	assert_null(v.push.scim_id);
	record_user_clear(&v);
	record_user_clear(&u);
	record_user_clear(NULL);
}

/* A record of a store older than the scan's write-back values. */
static void
test_user_without_wb_seen(void **state)
{
	json_t *j = parse("{\"ad\":{\"dn\":\"CN=Ann,DC=x\"},"
	    "\"wb\":{\"written\":{\"ipPhone\":\"101\"}}}");
	struct record_user u;
	char err[256];

	(void)state;
	assert_int_equal(record_user_from_json(G1, j, &u, err, sizeof(err)), 0);
	assert_null(u.ad.wb_seen);
	assert_int_equal(u.ad.wb_seen_at, 0);
	assert_int_equal(u.wb.at, 0);
	json_decref(j);
	/* Written again without the field: still none. */
	j = record_user_to_json(&u);
	assert_null(json_object_get(json_object_get(j, "ad"), "wb_seen"));
	json_decref(j);
	record_user_clear(&u);
}

static void
test_user_invalid(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"ad\":{\"dn\":5}}",
		"{\"ad\":[]}",
		"{\"push\":{\"active\":\"yes\"}}",
		"{\"push\":{\"pushed\":\"0123456789abcdef0\"}}",
		"{\"push\":{\"link\":-1}}",
		"{\"import\":{\"direct_number\":{}}}",
		"{\"wb\":{\"written\":{\"ipPhone\":1}}}",
		"{\"ad\":{\"wb_seen\":{\"ipPhone\":null}}}",
		"{\"ad\":{\"wb_seen\":[]}}",
		"{\"wb\":{\"at\":\"5\"}}",
		"{\"dn\":\"x\",\"phone_active\":1}",       /* version 1, bad */
		"{\"wb\":{\"ipPhone\":1},\"phone_active\":true}",
	};
	struct record_user u;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = parse(bad[i]);

		err[0] = '\0';
		if (record_user_from_json(G1, j, &u, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		assert_null(u.ad.dn);
		json_decref(j);
	}
	/* A key longer than an objectGUID. */
	{
		json_t *j = parse("{}");

		assert_int_equal(record_user_from_json(G1 "x", j, &u, err,
		    sizeof(err)), -1);
		json_decref(j);
	}
}

static void
test_out_round_trip(void **state)
{
	static const enum record_hold holds[] = { RECORD_HOLD_NONE,
		RECORD_HOLD_HELD, RECORD_HOLD_REVIEW };
	struct record_out o = { 0 }, p;
	char err[256];

	(void)state;
	snprintf(o.guid, sizeof(o.guid), G1);
	o.seq = 77;
	o.active = 1;
	o.reason = xstrdup("new");
	o.dn = xstrdup("CN=Ann,DC=x");
	o.email = xstrdup("ann@example.test");
	o.profile = json_pack("{s:s}", "email", "ann@example.test");
	o.create = json_pack("{s:s}", "extensionNumber", "1234");
	snprintf(o.hash, sizeof(o.hash), "0123456789abcdef");
	snprintf(o.push_hash, sizeof(o.push_hash), "00000000000000aa");
	o.attempts = 2;
	o.not_before = 1700000000;
	o.cycle = 9;
	for (size_t i = 0; i < 3; i++) {
		json_t *j;

		o.held = holds[i];
		j = record_out_to_json(&o);
		assert_int_equal(record_out_from_json(G1, j, &p, err, sizeof(err)), 0);
		json_decref(j);
		assert_int_equal(p.held, holds[i]);
		assert_int_equal(p.seq, 77);
		assert_true(p.active);
		assert_string_equal(p.reason, "new");
		assert_string_equal(p.email, "ann@example.test");
		assert_true(json_equal(p.profile, o.profile));
		assert_true(json_equal(p.create, o.create));
		assert_string_equal(p.hash, o.hash);
		assert_string_equal(p.push_hash, o.push_hash);
		assert_int_equal(p.attempts, 2);
		assert_int_equal(p.not_before, 1700000000);
		assert_int_equal(p.cycle, 9);
		record_out_clear(&p);
	}
	record_out_clear(&o);
}

static void
test_out_invalid(void **state)
{
	static const char *const bad[] = {
		"\"x\"",
		"{\"active\":true}",                       /* no profile */
		"{\"active\":false,\"hold\":\"maybe\"}",
		"{\"active\":false,\"held\":3}",
		"{\"active\":false,\"seq\":\"1\"}",
		"{\"active\":false,\"profile\":[]}",
		"{\"active\":false,\"create\":\"1234\"}",
		"{\"active\":false,\"not_before\":1.5}",
	};
	struct record_out o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = parse(bad[i]);

		if (record_out_from_json(G1, j, &o, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_null(o.reason);
		json_decref(j);
	}
}

static void
test_wb_codec(void **state)
{
	struct record_wb q;
	char err[256];
	json_t *j = parse("{\"ipPhone\":\"101\",\"telephoneNumber\":\"+1650\"}");

	(void)state;
	assert_int_equal(record_wb_from_json(G1, j, &q, err, sizeof(err)), 0);
	assert_true(json_equal(q.attrs, j));
	record_wb_clear(&q);
	json_decref(j);
	j = parse("{\"ipPhone\":101}");
	assert_int_equal(record_wb_from_json(G1, j, &q, err, sizeof(err)), -1);
	json_decref(j);
	j = parse("[\"ipPhone\"]");
	assert_int_equal(record_wb_from_json(G1, j, &q, err, sizeof(err)), -1);
	json_decref(j);
}

/* Cycle records: the figures back as written; a wrong type is refused. */
static void
test_cycle(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_cycle c, got;
	char err[256];

	(void)state;
	memset(&c, 0, sizeof(c)); /* padding too: compared as bytes below */
	assert_int_equal(record_cycle_get(txn, RECORD_CYCLE_SCAN, &got, err,
	    sizeof(err)), 1);
	snprintf(c.kind, sizeof(c.kind), "full");
	snprintf(c.result, sizeof(c.result), "users_failed");
	snprintf(c.dc, sizeof(c.dc), "dc1.example.test");
	snprintf(c.usn, sizeof(c.usn), "4008..4012");
	c.start = 1796297700;
	c.end = 1796297714;
	c.last_ok = 1796297714;
	c.full = 1;
	c.scanned = 6;
	c.created = 4;
	c.linked = 1;
	c.held = 2;
	c.failed = 1;
	c.written_back = 3;
	c.api_calls = 12;
	assert_int_equal(record_cycle_put(txn, RECORD_CYCLE_FULL, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(record_cycle_get(txn, RECORD_CYCLE_FULL, &got, err,
	    sizeof(err)), 0);
	assert_memory_equal(&got, &c, sizeof(c));
	/* the keys and types the release before wrote, which stores hold */
	assert_non_null(strstr(raw(txn, STORE_META, "cycle.full"),
	    "\"held\":2"));
	put_raw(txn, STORE_META, "cycle.import", "{\"kind\":\"import\","
	    "\"scanned\":\"many\"}");
	assert_int_equal(record_cycle_get(txn, RECORD_CYCLE_IMPORT, &got, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "cycle.import.scanned: wrong type");
	store_abort(txn);
	store_close(st);
}

/* [notify]'s state: kept per event; a bad one reads as none, said. */
static void
test_alerts(void **state)
{
	static const char *const names[] = { "deactivations_held", "ad_unreachable" };
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_alert a[2] = { { 1796297700, 1796297714, 1 }, { 0, 0, 0 } };
	struct record_alert got[2];
	char err[256];

	(void)state;
	memset(got, 0xff, sizeof(got));
	assert_int_equal(record_alerts_get(txn, names, 2, got, err, sizeof(err)), 0);
	assert_int_equal(got[0].since + got[0].sent + got[0].notified, 0);
	assert_int_equal(record_alerts_put(txn, names, 2, a, err, sizeof(err)), 0);
	assert_int_equal(record_alerts_get(txn, names, 2, got, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(got[i].since, a[i].since);
		assert_int_equal(got[i].sent, a[i].sent);
		assert_int_equal(got[i].notified, a[i].notified);
	}
	/* an event the store does not know yet (a newer release's): none */
	assert_int_equal(record_alerts_get(txn, names + 1, 1, got, err,
	    sizeof(err)), 0);
	assert_int_equal(got[0].notified, 0);
	put_raw(txn, STORE_META, "alerts", "{\"deactivations_held\":{\"since\":"
	    "\"soon\"}}");
	assert_int_equal(record_alerts_get(txn, names, 2, got, err, sizeof(err)), -1);
	assert_string_equal(err, "alerts.since: wrong type");
	assert_int_equal(got[0].since, 0);
	store_abort(txn);
	store_close(st);
}

/* The long work's record: round trip, an unknown estimate, removal. */
static void
test_progress_record(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_progress p = { "creating", 3200, 4000, 600, 4800,
	    1796297700, 1796297714 }, got;
	char err[256];

	(void)state;
	assert_int_equal(record_progress_get(txn, &got, err, sizeof(err)), 1);
	assert_int_equal(record_progress_put(txn, &p, err, sizeof(err)), 0);
	assert_int_equal(record_progress_get(txn, &got, err, sizeof(err)), 0);
	assert_string_equal(got.phase, "creating");
	assert_int_equal(got.done, 3200);
	assert_int_equal(got.total, 4000);
	assert_int_equal(got.per_hour, 600);
	assert_int_equal(got.left, 4800);
	assert_int_equal(got.since, 1796297700);
	assert_int_equal(got.updated, 1796297714);
	p.left = -1;
	assert_int_equal(record_progress_put(txn, &p, err, sizeof(err)), 0);
	assert_int_equal(record_progress_get(txn, &got, err, sizeof(err)), 0);
	assert_int_equal(got.left, -1);
	put_raw(txn, STORE_META, "progress", "{\"phase\":\"creating\",\"done\":\"x\"}");
	assert_int_equal(record_progress_get(txn, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "progress.done: wrong type");
	assert_int_equal(record_progress_del(txn, err, sizeof(err)), 0);
	assert_int_equal(record_progress_get(txn, &got, err, sizeof(err)), 1);
	store_abort(txn);
	store_close(st);
}

/* The rate budgets' record: every group and lane round trips. */
static void
test_budget_record(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_budget b, got;
	char err[256];

	(void)state;
	memset(&b, 0, sizeof(b)); /* padding too: compared as memory */
	assert_int_equal(record_budget_get(txn, &got, err, sizeof(err)), 1);
	for (int g = 0; g < RECORD_BUDGET_GROUPS; g++) {
		b.g[g].limit = 10 * (g + 1);
		b.g[g].window = 60;
		b.g[g].sent[0] = (unsigned int)g;
		b.g[g].sent[1] = (unsigned int)g + 100;
		b.g[g].queued[0] = (unsigned int)g + 200;
		b.g[g].queued[1] = (unsigned int)g + 300;
	}
	b.read_share = 30;
	b.updated = 1796297714;
	assert_int_equal(record_budget_put(txn, &b, err, sizeof(err)), 0);
	assert_int_equal(record_budget_get(txn, &got, err, sizeof(err)), 0);
	assert_memory_equal(&got, &b, sizeof(b));
	put_raw(txn, STORE_META, "budget",
	    "{\"groups\":{\"Heavy\":{\"read\":{\"sent\":-1}}}}");
	assert_int_equal(record_budget_get(txn, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "budget.sent: wrong type");
	store_abort(txn);
	store_close(st);
}

/* Each stage's put replaces its part alone; the link follows the newest. */
static void
test_parts(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_ad ad = { 0 };
	struct record_push push = { 0 };
	struct record_import imp = { 0 };
	struct record_written wb = { 0 };
	struct record_user u;
	char err[256];

	(void)state;
	ad.dn = "CN=Ann,DC=x";
	ad.email = "ann@example.test";
	assert_int_equal(record_ad_put(txn, G1, &ad, err, sizeof(err)), 0);
	imp.ext_id = "7";
	imp.enabled = 1;
	imp.direct_number = "+16505550100";
	assert_int_equal(record_import_link(txn, G1, &imp, err, sizeof(err)), 0);
	wb.attrs = json_pack("{s:s}", "ipPhone", "101");
	assert_int_equal(record_written_put(txn, G1, &wb, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_string_equal(u.ad.dn, "CN=Ann,DC=x");
	assert_string_equal(record_user_phone_id(&u), "7");
	assert_true(record_user_active(&u));
	assert_string_equal(u.imp.direct_number, "+16505550100");
	record_user_clear(&u);
	/* The pusher deactivates it: its part is the newer now. */
	push.ext_id = "7";
	push.active = 0;
	assert_int_equal(record_push_put(txn, G1, &push, err, sizeof(err)), 0);
	assert_true(push.link > imp.link);
	/* A scan of changed AD facts keeps the pusher's and the importer's. */
	ad.disabled = 1;
	assert_int_equal(record_ad_put(txn, G1, &ad, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_true(u.ad.disabled);
	assert_string_equal(record_user_phone_id(&u), "7");
	assert_false(record_user_active(&u));
	assert_string_equal(u.imp.direct_number, "+16505550100");
	assert_true(json_equal(u.wb.attrs, wb.attrs));
	record_user_clear(&u);
	/* The pusher unlinks (the phone user is gone), the importer links again. */
	push.ext_id = NULL;
	assert_int_equal(record_push_put(txn, G1, &push, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_null(record_user_phone_id(&u));
	record_user_clear(&u);
	assert_int_equal(record_import_link(txn, G1, &imp, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_string_equal(record_user_phone_id(&u), "7");
	record_user_clear(&u);
	/* A put of the import part without a new link keeps the stamp. */
	imp.extension_number = "101";
	assert_int_equal(record_import_put(txn, G1, &imp, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_string_equal(u.imp.extension_number, "101");
	assert_string_equal(record_user_phone_id(&u), "7");
	record_user_clear(&u);
	json_decref(wb.attrs);
	assert_int_equal(record_user_get(txn, G2, &u, err, sizeof(err)), 1);
	store_abort(txn);
	store_close(st);
}

/* in_txn: one part put in a transaction of its own, committed or not. */
static void
in_txn(struct store *st, const struct record_ad *ad,
    struct record_import *imp, int keep)
{
	struct store_txn *txn = begin(st, 0);
	char err[256];

	if (ad != NULL)
		assert_int_equal(record_ad_put(txn, G1, ad, err, sizeof(err)), 0);
	if (imp != NULL)
		assert_int_equal(record_import_put(txn, G1, imp, err, sizeof(err)),
		    0);
	if (keep)
		commit(txn);
	else
		store_abort(txn);
}

/* stored_user: G1 as the store holds it (the caller clears u). */
static void
stored_user(struct store *st, struct record_user *u)
{
	struct store_txn *txn = begin(st, 1);
	char err[256];

	assert_int_equal(record_user_get(txn, G1, u, err, sizeof(err)), 0);
	store_abort(txn);
}

/*
 * A part put starts from the record a get (or put) made only in the same
 * transaction: a transaction thrown away leaves nothing behind, and what
 * another transaction put is kept.
 */
static void
test_parts_across_transactions(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct record_ad ad = { 0 };
	struct record_import imp = { 0 };
	struct record_user u;
	struct store_txn *txn;
	char err[256];

	(void)state;
	ad.dn = "CN=Ann,DC=x";
	ad.email = "ann@example.test";
	in_txn(st, &ad, NULL, 1);
	txn = begin(st, 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	record_user_clear(&u);
	commit(txn);
	imp.extension_number = "999"; /* thrown away */
	in_txn(st, NULL, &imp, 0);
	ad.dn = "CN=Ann Lee,DC=x";
	in_txn(st, &ad, NULL, 1);
	stored_user(st, &u);
	assert_null(u.imp.extension_number);
	record_user_clear(&u);
	imp.extension_number = "101";
	in_txn(st, NULL, &imp, 1);
	stored_user(st, &u);
	assert_string_equal(u.ad.dn, "CN=Ann Lee,DC=x");
	assert_string_equal(u.imp.extension_number, "101");
	record_user_clear(&u);
	in_txn(st, NULL, &imp, 0);
	ad.dn = "CN=Ann Lee-Smith,DC=x";
	in_txn(st, &ad, NULL, 1);
	stored_user(st, &u);
	assert_string_equal(u.imp.extension_number, "101");
	record_user_clear(&u);
	store_close(st);
}

static int
collect_user(struct record_user *u, void *arg)
{
	char *seen = arg;

	strcat(seen, u->guid + strlen(u->guid) - 1);
	return strcmp(u->guid, G3) == 0;
}

static int
not_g1_g2(const char *guid, void *arg)
{
	(void)arg;
	return strcmp(guid, G1) != 0 && strcmp(guid, G2) != 0;
}

static int
count_out(struct record_out *o, void *arg)
{
	(void)o;
	(*(int *)arg)++;
	return 0;
}

static int
fail_wb(struct record_wb *q, void *arg)
{
	(void)q;
	(void)arg;
	return -1;
}

static void
test_walk_invalid(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct sync_counts n;
	char seen[16] = "", err[256];
	struct record_walk w = { NULL, seen, 0, NULL };
	int nout = 0;

	(void)state;
	put_raw(txn, STORE_USERS, G1, "{\"ad\":{\"dn\":\"CN=A\"}}");
	put_raw(txn, STORE_USERS, G2, "not json");
	put_raw(txn, STORE_USERS, G3, "{\"ad\":{\"dn\":\"CN=C\"},\"push\":"
	    "{\"phone_id\":\"9\",\"active\":true,\"link\":1}}");
	put_raw(txn, STORE_USERS, "00000000-0000-4000-8000-000000000004",
	    "{\"ad\":{\"dn\":\"CN=D\"}}");
	put_raw(txn, STORE_OUTBOX, G1, "{\"active\":false,\"hold\":\"held\"}");
	put_raw(txn, STORE_OUTBOX, G2, "{\"active\":true}");
	put_raw(txn, STORE_WRITEBACK, G1, "{\"ipPhone\":7}");
	put_raw(txn, STORE_WRITEBACK, G2, "{\"ipPhone\":\"7\"}");
	/* The walk skips and counts the invalid user; cb stops it at G3. */
	assert_int_equal(record_user_walk(txn, &w, collect_user), 1);
	assert_string_equal(seen, "13");
	assert_int_equal(w.invalid, 1);
	/* From a start key. */
	seen[0] = '\0';
	w.start = G2;
	w.invalid = 0;
	assert_int_equal(record_user_walk(txn, &w, collect_user), 1);
	assert_string_equal(seen, "3");
	/* Keys the caller does not want are not even decoded. */
	seen[0] = '\0';
	w.start = NULL;
	w.invalid = 0;
	w.want = not_g1_g2;
	assert_int_equal(record_user_walk(txn, &w, collect_user), 1);
	assert_string_equal(seen, "3");
	assert_int_equal(w.invalid, 0);
	w.want = NULL;
	{
		struct record_walk wo = { NULL, &nout, 0, NULL },
		    wq = { NULL, NULL, 0, NULL };

		assert_int_equal(record_out_walk(txn, &wo, count_out), 0);
		assert_int_equal(nout, 1);
		assert_int_equal(wo.invalid, 1);
		assert_int_equal(record_wb_walk(txn, &wq, fail_wb), -1);
		assert_int_equal(wq.invalid, 1);
	}
	{
		struct record_user u;

		assert_int_equal(record_user_get(txn, G2, &u, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "not JSON"));
	}
	commit(txn);
	/* What ringsyncctl status counts. */
	assert_int_equal(sync_count(st, &n, err, sizeof(err)), 0);
	assert_int_equal(n.users, 3);
	assert_int_equal(n.linked, 1);
	assert_int_equal(n.held, 1);
	assert_int_equal(n.invalid, 3);
	assert_int_equal(n.outbox, 2);
	store_close(st);
}

/* The records as ringsync 1 (schema version 1) wrote them. */
static const char v1_user[] = "{\"direct_number\":\"+16505550100\","
    "\"dn\":\"CN=Ann,DC=x\",\"email\":\"ann@example.test\","
    "\"extension_number\":\"101\",\"failures\":2,\"last_error\":\"boom\","
    "\"phone_active\":true,\"phone_id\":\"42\",\"pushed\":\"0123456789abcdef\","
    "\"wb\":{\"ipPhone\":\"101\"}}";
static const char v1_user2[] = "{\"ad_disabled\":true,\"creating\":true,"
    "\"dn\":\"CN=Bob,DC=x\",\"email\":\"bob@example.test\","
    "\"failed\":\"fedcba9876543210\",\"phone_active\":false}";
static const char v1_out_held[] = "{\"active\":false,\"cycle\":7,"
    "\"dn\":\"CN=Bob,DC=x\",\"email\":\"bob@example.test\",\"held\":1,"
    "\"reason\":\"disabled\",\"seq\":123}";
static const char v1_out_new[] = "{\"active\":true,\"attempts\":1,\"cycle\":7,"
    "\"dn\":\"CN=Ann,DC=x\",\"email\":\"ann@example.test\","
    "\"hash\":\"aaaaaaaaaaaaaaaa\",\"not_before\":1700000000,"
    "\"profile\":{\"email\":\"ann@example.test\"},\"reason\":\"changed\","
    "\"seq\":124}";
static const char v1_wb[] = "{\"ipPhone\":\"101\",\"telephoneNumber\":"
    "\"+16505550100\"}";

/* write_v1: a store in schema version 1, with its three record shapes. */
static const char *
write_v1(void)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn = begin(st, 0);

	put_raw(txn, STORE_META, "schema_version", "1");
	put_raw(txn, STORE_USERS, G1, v1_user);
	put_raw(txn, STORE_USERS, G2, v1_user2);
	put_raw(txn, STORE_USERS, G3, "{\"dn\":7,\"phone_active\":true}");
	put_raw(txn, STORE_OUTBOX, G1, v1_out_new);
	put_raw(txn, STORE_OUTBOX, G2, v1_out_held);
	put_raw(txn, STORE_WRITEBACK, G1, v1_wb);
	put_raw(txn, STORE_EMAILS, "ann@example.test", G1);
	commit(txn);
	store_close(st);
	return dir;
}

static void
check_v1_records(struct store_txn *txn)
{
	struct record_user u;
	struct record_out o;
	struct record_wb q;
	char err[256], *owner;

	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_string_equal(u.ad.dn, "CN=Ann,DC=x");
	assert_string_equal(u.ad.email, "ann@example.test");
	assert_string_equal(record_user_phone_id(&u), "42");
	assert_true(record_user_active(&u));
	assert_string_equal(u.push.pushed, "0123456789abcdef");
	assert_string_equal(record_user_error(&u)->msg, "boom");
	assert_int_equal(record_user_error(&u)->failures, 2);
	assert_string_equal(u.imp.direct_number, "+16505550100");
	assert_string_equal(u.imp.extension_number, "101");
	assert_string_equal(json_string_value(json_object_get(u.wb.attrs,
	    "ipPhone")), "101");
	record_user_clear(&u);
	assert_int_equal(record_user_get(txn, G2, &u, err, sizeof(err)), 0);
	assert_true(u.ad.disabled && u.push.creating);
	assert_null(record_user_phone_id(&u));
	assert_string_equal(u.push.failed, "fedcba9876543210");
	assert_null(record_user_error(&u));
	record_user_clear(&u);
	assert_int_equal(record_out_get(txn, G2, &o, err, sizeof(err)), 0);
	assert_int_equal(o.held, RECORD_HOLD_HELD);
	assert_int_equal(o.seq, 123);
	assert_string_equal(o.reason, "disabled");
	record_out_clear(&o);
	assert_int_equal(record_out_get(txn, G1, &o, err, sizeof(err)), 0);
	assert_int_equal(o.held, RECORD_HOLD_NONE);
	assert_true(o.active && o.profile != NULL);
	assert_int_equal(o.attempts, 1);
	assert_int_equal(o.not_before, 1700000000);
	record_out_clear(&o);
	assert_int_equal(record_wb_get(txn, G1, &q, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(q.attrs,
	    "telephoneNumber")), "+16505550100");
	record_wb_clear(&q);
	owner = record_email_owner(txn, "ann@example.test");
	assert_string_equal(owner, G1);
	free(owner);
}

static void
test_migrate_v1(void **state)
{
	const char *dir = write_v1();
	struct store *st;
	struct store_txn *txn;
	struct sync_counts n;
	char err[256];

	(void)state;
	/* Read-only (ringsyncctl before ringsyncd ran): read as it is. */
	st = open_ok(dir, STORE_RDONLY);
	txn = begin(st, 1);
	assert_string_equal(raw(txn, STORE_META, "schema_version"), "1");
	check_v1_records(txn);
	store_abort(txn);
	assert_int_equal(sync_count(st, &n, err, sizeof(err)), 0);
	assert_int_equal(n.users, 2);
	assert_int_equal(n.linked, 1);
	assert_int_equal(n.failed, 1);
	assert_int_equal(n.held, 1);
	assert_int_equal(n.invalid, 1);
	store_close(st);
	/* The writable open migrates, in the current shapes. */
	st = open_ok(dir, 0);
	txn = begin(st, 1);
	assert_string_equal(raw(txn, STORE_META, "schema_version"), "4");
	assert_non_null(strstr(raw(txn, STORE_USERS, G1), "\"push\":{"));
	assert_null(strstr(raw(txn, STORE_USERS, G1), "phone_active"));
	assert_non_null(strstr(raw(txn, STORE_OUTBOX, G2), "\"hold\":\"held\""));
	/* The invalid record stays as it was, for an admin to look at. */
	assert_string_equal(raw(txn, STORE_USERS, G3),
	    "{\"dn\":7,\"phone_active\":true}");
	assert_string_equal(raw(txn, STORE_WRITEBACK, G1), v1_wb);
	check_v1_records(txn);
	store_abort(txn);
	store_close(st);
	/* Opened again: nothing more to do. */
	st = open_ok(dir, 0);
	txn = begin(st, 1);
	assert_string_equal(raw(txn, STORE_META, "schema_version"), "4");
	check_v1_records(txn);
	store_abort(txn);
	store_close(st);
}

/*
 * The two ids of a link: which one each lane knows, the importer's
 * pairing with a pusher's SCIM user, and the takeover by the pusher.
 */
static void
test_ids(void **state)
{
	struct record_user u = { 0 };

	(void)state;
	/* A create: the SCIM id alone. */
	u.push.scim_id = xstrdup("S1");
	u.push.link = 2;
	assert_string_equal(record_user_phone_id(&u), "S1");
	assert_string_equal(record_user_scim_id(&u), "S1");
	assert_null(record_user_ext_id(&u));
	/* An extension paired with another SCIM user does not count. */
	u.imp.ext_id = xstrdup("E1");
	u.imp.paired = xstrdup("S0");
	u.imp.link = 1;
	assert_null(record_user_ext_id(&u));
	record_user_adopt(&u);
	assert_null(u.push.ext_id);
	/* Paired with this one: the extension is the link's. */
	util_str_set(&u.imp.paired, "S1");
	assert_string_equal(record_user_ext_id(&u), "E1");
	assert_string_equal(record_user_phone_id(&u), "E1");
	record_user_adopt(&u);
	assert_string_equal(u.push.ext_id, "E1");
	assert_string_equal(u.push.scim_id, "S1");
	/* An import link newer than the pusher's: its extension, no SCIM id. */
	u.imp.link = 3;
	util_str_set(&u.imp.ext_id, "E2");
	assert_string_equal(record_user_ext_id(&u), "E2");
	assert_null(record_user_scim_id(&u));
	record_user_adopt(&u);
	assert_string_equal(u.push.ext_id, "E2");
	assert_null(u.push.scim_id);
	record_user_clear(&u);
}

/* Schema version 3: one phone_id per link part. */
static void
test_migrate_v3(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn = begin(st, 0);
	struct record_user u;
	char err[256];

	(void)state;
	put_raw(txn, STORE_META, "schema_version", "3");
	/* The importer's link taken over by the pusher: an extension id. */
	put_raw(txn, STORE_USERS, G1, "{\"ad\":{\"dn\":\"CN=A\"},\"push\":"
	    "{\"phone_id\":\"5\",\"active\":true,\"link\":3},\"import\":"
	    "{\"phone_id\":\"5\",\"enabled\":true,\"link\":2}}");
	/* The pusher's create: a SCIM id; the importer's is an extension. */
	put_raw(txn, STORE_USERS, G2, "{\"ad\":{\"dn\":\"CN=B\"},\"push\":"
	    "{\"phone_id\":\"6\",\"active\":true,\"link\":3},\"import\":"
	    "{\"phone_id\":\"7\",\"link\":1}}");
	commit(txn);
	store_close(st);
	st = open_ok(dir, 0);
	txn = begin(st, 1);
	assert_string_equal(raw(txn, STORE_META, "schema_version"), "4");
	assert_null(strstr(raw(txn, STORE_USERS, G1), "phone_id"));
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_string_equal(record_user_ext_id(&u), "5");
	assert_null(record_user_scim_id(&u));
	assert_true(record_user_active(&u));
	record_user_clear(&u);
	assert_int_equal(record_user_get(txn, G2, &u, err, sizeof(err)), 0);
	assert_string_equal(record_user_scim_id(&u), "6");
	assert_null(record_user_ext_id(&u)); /* learned when it is needed */
	assert_string_equal(u.imp.ext_id, "7");
	assert_string_equal(record_user_phone_id(&u), "6");
	record_user_clear(&u);
	store_abort(txn);
	store_close(st);
}

static int
role_seen(struct record_goal *r, void *arg)
{
	char *order = arg;

	strcat(order, r->guid[35] == '1' ? "1" : r->guid[35] == '2' ? "2" : "3");
	return 0;
}

static void
test_roles(void **state)
{
	struct store *st = open_ok(tu_tmpdir(), 0);
	struct store_txn *txn = begin(st, 0);
	struct record_goal r = { G2, NULL, NULL, NULL, NULL, NULL }, got;
	char err[256], order[8] = "";

	(void)state;
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G1, &got, err, sizeof(err)), 1);
	r.rule = "Sales Agent";
	r.want = "2";
	assert_int_equal(record_goal_put(txn, STORE_ROLES, &r, err, sizeof(err)), 0);
	snprintf(r.guid, sizeof(r.guid), "%s", G1);
	r.rule = NULL; /* a leaver, on its way back to the default */
	r.want = "1";
	r.done = "3";
	r.failed = "1";
	r.error = "refused";
	assert_int_equal(record_goal_put(txn, STORE_ROLES, &r, err, sizeof(err)), 0);
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G1, &got, err, sizeof(err)), 0);
	assert_null(got.rule);
	assert_string_equal(got.want, "1");
	assert_string_equal(got.done, "3");
	assert_string_equal(got.failed, "1");
	assert_string_equal(got.error, "refused");
	record_goal_clear(&got);
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G2, &got, err, sizeof(err)), 0);
	assert_string_equal(got.rule, "Sales Agent");
	assert_null(got.done);
	record_goal_clear(&got);
	/* invalid records are skipped by the walk and refused by the get */
	put_raw(txn, STORE_ROLES, G3, "{\"rule\": \"x\"}");
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G3, &got, err, sizeof(err)), -1);
	assert_int_equal(record_goal_walk(txn, STORE_ROLES, NULL, role_seen, order), 0);
	assert_string_equal(order, "12");
	order[0] = '\0';
	assert_int_equal(record_goal_walk(txn, STORE_ROLES, G2, role_seen, order), 0);
	assert_string_equal(order, "2");
	assert_int_equal(store_del(txn, STORE_ROLES, G1, err, sizeof(err)), 0);
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G1, &got, err, sizeof(err)), 1);
	assert_int_equal(store_clear(txn, STORE_ROLES, err, sizeof(err)), 0);
	assert_int_equal(record_goal_get(txn, STORE_ROLES, G2, &got, err, sizeof(err)), 1);
	store_abort(txn);
	store_close(st);
}

/* record_scope_req: the stored groups' GUIDs by DN, every known one sorted. */
static void
test_scope_req(void **state)
{
	struct record_scope_group g[2] = {
		{ "cc000000-0000-0000-0000-000000000000", "CN=Phones,OU=G,DC=x",
		    NULL, 0, 3, 0 },
		{ "aa000000-0000-0000-0000-000000000000", "CN=Old,OU=G,DC=x",
		    NULL, 0, 1, 0 },
	};
	char nested[2][AD_GUID_LEN + 1] = {
		"dd000000-0000-0000-0000-000000000000",
		"bb000000-0000-0000-0000-000000000000",
	};
	struct record_scope sc = { g, 2, nested, 2, NULL, 0 };
	const char *dns[2] = { "cn=phones,ou=g,dc=x", "CN=New,OU=G,DC=x" };
	const char **guids;
	char (*known)[AD_GUID_LEN + 1];
	size_t n;

	(void)state;
	record_scope_req(&sc, dns, 2, &guids, &known, &n);
	assert_string_equal(guids[0], g[0].guid); /* DNs compare in any case */
	assert_string_equal(guids[1], "");        /* not stored yet */
	assert_int_equal(n, 4);
	assert_string_equal(known[0], g[1].guid);
	assert_string_equal(known[1], nested[1]);
	assert_string_equal(known[2], g[0].guid);
	assert_string_equal(known[3], nested[0]);
	free(guids);
	free(known);
	/* nothing stored: every GUID unknown, nothing known */
	sc.n = sc.nnested = 0;
	record_scope_req(&sc, dns, 2, &guids, &known, &n);
	assert_string_equal(guids[0], "");
	assert_int_equal(n, 0);
	free(guids);
	free(known);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_round_trip),
		cmocka_unit_test(test_user_invalid),
		cmocka_unit_test(test_user_without_wb_seen),
		cmocka_unit_test(test_out_round_trip),
		cmocka_unit_test(test_out_invalid),
		cmocka_unit_test(test_wb_codec),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_progress_record),
		cmocka_unit_test(test_budget_record),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_parts_across_transactions),
		cmocka_unit_test(test_walk_invalid),
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_migrate_v3),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_scope_req),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

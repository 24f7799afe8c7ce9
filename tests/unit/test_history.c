/* Unit tests for common/record_history: the per-user history, its order,
 * its bounds by count and by age, the prune, and the field differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "record.h"
#include "testutil.h"

#define G1 "00000000-0000-4000-8000-000000000001"
#define G2 "00000000-0000-4000-8000-000000000002"

static struct store *
open_ok(void)
{
	struct store *st;
	char err[512];

	if (store_open(tu_tmpdir(), 0, &st, err, sizeof(err)) < 0)
		fail_msg("store_open: %s", err);
	return st;
}

static struct store_txn *
begin(struct store *st)
{
	struct store_txn *txn;
	char err[256];

	if (store_begin(st, 0, &txn, err, sizeof(err)) < 0)
		fail_msg("store_begin: %s", err);
	return txn;
}

static void
add(struct store_txn *txn, const char *guid, const char *what,
    json_t *changes, unsigned int cap, long long keep_before)
{
	struct record_event ev = { .cycle = 7, .what = (char *)what,
		.changes = changes, .detail = (char *)"ext_id=101" };
	char err[256];

	snprintf(ev.guid, sizeof(ev.guid), "%s", guid);
	if (record_event_add(txn, &ev, cap, keep_before, err, sizeof(err)) < 0)
		fail_msg("record_event_add: %s", err);
	json_decref(changes);
}

/* An entry written with a stamp of the past (Unix seconds t). */
static void
add_old(struct store_txn *txn, const char *guid, long long t, const char *what)
{
	char key[80], val[80], err[256];

	snprintf(key, sizeof(key), "%s/%016llx", guid,
	    (unsigned long long)t * 1000000ULL);
	snprintf(val, sizeof(val), "{\"what\":\"%s\"}", what);
	if (store_put(txn, STORE_HISTORY, key, val, strlen(val), err,
	    sizeof(err)) < 0)
		fail_msg("store_put: %s", err);
}

struct seen {
	char what[16][32];
	unsigned long long stamp[16];
	size_t n;
	int stop_at;                 /* stop after this many; 0: never */
};

static int
collect(const struct record_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16) {
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s", ev->what);
		s->stamp[s->n] = ev->stamp;
	}
	s->n++;
	return s->stop_at > 0 && (int)s->n >= s->stop_at;
}

static struct seen
walk(struct store_txn *txn, const char *guid)
{
	struct seen s = { .n = 0 };

	assert_int_equal(record_events_walk(txn, guid, collect, &s), 0);
	return s;
}

static int
check_first(const struct record_event *ev, void *arg)
{
	const json_t *c = json_object_get(ev->changes, "name.givenName");

	assert_string_equal(ev->guid, G1);
	assert_string_equal(ev->what, "updated");
	assert_int_equal(ev->cycle, 7);
	assert_string_equal(ev->detail, "ext_id=101");
	assert_true(json_is_null(json_array_get(c, 0)));
	assert_string_equal(json_string_value(json_array_get(c, 1)), "Alice");
	(*(int *)arg)++;
	return 1;
}

/* What is written comes back, a user's entries in order, others apart. */
static void
test_round_trip(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	struct seen s;
	int called = 0;

	(void)state;
	add(txn, G1, "updated", json_pack("{s:[ns]}", "name.givenName", "Alice"),
	    100, 0);
	add(txn, G2, "created", NULL, 100, 0);
	add(txn, G1, "deactivated", NULL, 100, 0);
	assert_int_equal(record_events_walk(txn, G1, check_first, &called), 1);
	assert_int_equal(called, 1);
	s = walk(txn, G1);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.what[0], "updated");
	assert_string_equal(s.what[1], "deactivated");
	assert_true(s.stamp[0] < s.stamp[1]);
	s = walk(txn, G2);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.what[0], "created");
	s = walk(txn, "00000000-0000-4000-8000-000000000003");
	assert_int_equal(s.n, 0);
	store_abort(txn);
	store_close(st);
}

/* The count bound keeps a user's newest entries; other users keep theirs. */
static void
test_cap(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	char what[16];
	struct seen s;

	(void)state;
	add(txn, G2, "created", NULL, 3, 0);
	for (int i = 0; i < 8; i++) {
		snprintf(what, sizeof(what), "e%d", i);
		add(txn, G1, what, NULL, 3, 0);
	}
	s = walk(txn, G1);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.what[0], "e5");
	assert_string_equal(s.what[2], "e7");
	assert_int_equal(walk(txn, G2).n, 1);
	store_abort(txn);
	store_close(st);
}

/* The age bound: a new entry takes the user's entries older than it. */
static void
test_age_on_add(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	long long now = (long long)time(NULL);
	struct seen s;

	(void)state;
	add_old(txn, G1, now - 100 * 86400, "ancient");
	add_old(txn, G1, now - 10 * 86400, "recent");
	add_old(txn, G2, now - 100 * 86400, "other");
	add(txn, G1, "updated", NULL, 100, now - 90 * 86400);
	s = walk(txn, G1);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.what[0], "recent");
	assert_string_equal(s.what[1], "updated");
	assert_int_equal(walk(txn, G2).n, 1); /* the prune's, not add's */
	store_abort(txn);
	store_close(st);
}

/* The prune: every user's entries older than the bound, at most max. */
static void
test_prune(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	long long now = (long long)time(NULL);
	size_t n;
	char err[256];

	(void)state;
	for (int i = 0; i < 3; i++) {
		add_old(txn, G1, now - 200 * 86400 + i, "old");
		add_old(txn, G2, now - 200 * 86400 + i, "old");
	}
	add_old(txn, G1, now - 86400, "kept");
	add_old(txn, G2, now - 86400, "kept");
	assert_int_equal(record_events_prune(txn, now - 90 * 86400, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(record_events_prune(txn, now - 90 * 86400, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(record_events_prune(txn, now - 90 * 86400, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_string_equal(walk(txn, G1).what[0], "kept");
	assert_int_equal(walk(txn, G1).n, 1);
	assert_int_equal(walk(txn, G2).n, 1);
	/* history = 0: everything goes */
	assert_int_equal(record_events_prune(txn, now + 1, 100, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	store_abort(txn);
	store_close(st);
}

/* An entry that is not a history record is skipped; the walk goes on. */
static void
test_invalid_skipped(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	char key[80], err[256];
	struct seen s;

	(void)state;
	add(txn, G1, "created", NULL, 100, 0);
	snprintf(key, sizeof(key), "%s/%016llx", G1, 1ULL);
	assert_int_equal(store_put(txn, STORE_HISTORY, key, "[1]", 3, err,
	    sizeof(err)), 0);
	s = walk(txn, G1);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.what[0], "created");
	store_abort(txn);
	store_close(st);
}

/* The differences: changed, added and removed fields; none at all. */
static void
test_changes(void **state)
{
	json_t *was = json_pack("{s:s, s:s, s:s, s:s}", "name.givenName", "Al",
	    "title", "Clerk", "department", "Sales", "phone", "");
	json_t *now = json_pack("{s:s, s:s, s:s, s:s}", "name.givenName", "Alice",
	    "title", "Clerk", "manager", "Bob", "phone", "");
	json_t *c = record_event_changes(was, now), *v;

	(void)state;
	assert_int_equal(json_object_size(c), 3);
	v = json_object_get(c, "name.givenName");
	assert_string_equal(json_string_value(json_array_get(v, 0)), "Al");
	assert_string_equal(json_string_value(json_array_get(v, 1)), "Alice");
	v = json_object_get(c, "manager");
	assert_true(json_is_null(json_array_get(v, 0)));
	v = json_object_get(c, "department");
	assert_true(json_is_null(json_array_get(v, 1)));
	assert_null(json_object_get(c, "title"));
	json_decref(c);
	assert_null(record_event_changes(now, now));
	c = record_event_changes(NULL, now);
	assert_int_equal(json_object_size(c), 3); /* the empty phone is none */
	json_decref(c);
	/* Values whose predecessors are not known: [new], the empty left out. */
	c = record_event_values(now);
	assert_int_equal(json_object_size(c), 3);
	v = json_object_get(c, "title");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "Clerk");
	assert_null(json_object_get(c, "phone"));
	json_decref(c);
	v = json_pack("{s:s}", "phone", "");
	assert_null(record_event_values(v));
	json_decref(v);
	json_decref(was);
	json_decref(now);
}

/* The profile last pushed is kept with the pusher's part of the record. */
static void
test_pushed_profile(void **state)
{
	struct store *st = open_ok();
	struct store_txn *txn = begin(st);
	struct record_push p = { .active = 1 };
	struct record_user u;
	char err[256];

	(void)state;
	p.scim_id = (char *)"11";
	p.profile = json_pack("{s:s}", "title", "Clerk");
	assert_int_equal(record_push_put(txn, G1, &p, err, sizeof(err)), 0);
	assert_int_equal(record_user_get(txn, G1, &u, err, sizeof(err)), 0);
	assert_true(json_equal(u.push.profile, p.profile));
	record_user_clear(&u);
	json_decref(p.profile);
	store_abort(txn);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_age_on_add),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_invalid_skipped),
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_pushed_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

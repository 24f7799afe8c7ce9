/*
 * Pacing against the emulator's rate limiter, counted from the
 * emulator's request log (its arrival times), not from wall time: 200
 * updates pushed as 200 bulk-update requests while 3 pages of extensions
 * and 3 pages of numbers are read, at the default limits with a 2 s
 * window (so the run takes ~40 s, not 20 min): no 429, and at least 90%
 * of the Heavy budget used. Then a server whose limit differs from the
 * documented default: learnt from the first response, still no 429.
 */
#include "phone_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define WINDOW 2
#define UPDATES 200

static struct ctx C;

static json_t *
seed_doc(void)
{
	json_t *exts = json_array(), *nums = json_array();

	for (int i = 0; i < 2500; i++) {
		char email[64], phone[32];

		snprintf(email, sizeof(email), "u%d@example.com", i);
		snprintf(phone, sizeof(phone), "+1415200%04d", i);
		json_array_append_new(exts, json_pack("{s:I, s:{s:s, s:s, s:s}}",
		    "id", (json_int_t)(10000 + i), "contact", "firstName", "U",
		    "lastName", "Test", "email", email));
		json_array_append_new(nums, json_pack("{s:s, s:I}", "phoneNumber",
		    phone, "extensionId", (json_int_t)(10000 + i)));
	}
	return json_pack("{s:o, s:o}", "extensions", exts, "numbers", nums);
}

static int
setup(void **state)
{
	static const char *const args[] = { "--window", "2", NULL };

	(void)state;
	if (emu_start(&C.emu, 0, args) < 0 || emu_seed(&C.emu, seed_doc()) < 0)
		return -1;
	C.loop = ev_loop_new(EVFLAG_AUTO);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (C.loop != NULL)
		ev_loop_destroy(C.loop);
	emu_stop(&C.emu);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * check_group: the arrivals of group in log: never more than limit in a
 * window (the emulator's own rule), and, over the busy span, at least
 * min_util of what limit per window allows. Returns how many there were.
 */
static size_t
check_group(const json_t *log, const char *group, int limit, double min_util)
{
	double *t = xcalloc(json_array_size(log) + 1, sizeof(*t)), span, util;
	const json_t *e;
	size_t i, n = 0, lo = 0;

	json_array_foreach(log, i, e)
		if (strcmp(json_string_value(json_object_get(e, "group")), group)
		    == 0)
			t[n++] = json_number_value(json_object_get(e, "t"));
	qsort(t, n, sizeof(*t), cmp_double);
	for (i = 0; i < n; i++) {
		while (t[lo] <= t[i] - WINDOW + 0.0005)
			lo++;
		if (i - lo + 1 > (size_t)limit)
			fail_msg("%s: %zu requests within %d s at t=%.3f", group,
			    i - lo + 1, WINDOW, t[i]);
	}
	if (min_util > 0 && n > (size_t)limit) {
		span = t[n - 1] - t[0];
		util = (double)n / ((double)limit * span / WINDOW + limit);
		print_message("%s: %zu requests in %.2f s: %.1f%% of the allowed "
		    "rate\n", group, n, span, 100 * util);
		if (util < min_util)
			fail_msg("%s used %.1f%% of its budget", group, 100 * util);
	}
	free(t);
	return n;
}

struct pace_run {
	struct res upd[UPDATES];
	struct res ext, num;
	int all;
};

static int
all_done(struct pace_run *pr, int n)
{
	for (int i = 0; i < n; i++)
		if (!pr->upd[i].done)
			return 0;
	return pr->ext.done && pr->num.done;
}

static struct phone *
share_client(unsigned int read_share)
{
	struct config_telephony t;
	struct res r = { 0 };
	struct phone *p;

	emu_telephony(&C.emu, &t, 10);
	t.read_share = read_share;
	p = new_phone(&C, &t, NULL, NULL);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	return p;
}

static struct phone *
fresh_client(void)
{
	return share_client(0);
}

static void
push_updates(struct phone *p, struct pace_run *pr, int n,
    struct phone_profile *prof)
{
	for (int i = 0; i < n; i++) {
		struct phone_bulk_item item = { 10000 + i, &prof[i], NULL, NULL,
		    NULL };

		phone_bulk_update(p, &item, 1, bulk_cb, &pr->upd[i]);
	}
}

static void
wait_all(struct pace_run *pr, int n, double timeout)
{
	double waited = 0;

	/* one RUN per outcome would hide which one is missing */
	while (!all_done(pr, n) && waited < timeout) {
		int tick = 0;

		(void)loop_until(C.loop, &tick, 1);
		waited += 1;
	}
	if (!all_done(pr, n))
		fail_msg("not everything finished within %.0f s", timeout);
}

static void
test_default_limits(void **state)
{
	struct pace_run *pr = xcalloc(1, sizeof(*pr));
	struct phone_profile *prof = xcalloc(UPDATES, sizeof(*prof));
	char (*dept)[16] = xcalloc(UPDATES, sizeof(*dept));
	struct phone_ext_filter f = { "User", NULL, NULL };
	struct phone *p = fresh_client();
	long long seq = emu_last_seq(&C.emu);
	json_t *log, *st;

	(void)state;
	for (int i = 0; i < UPDATES; i++) {
		snprintf(dept[i], sizeof(dept[i]), "Dept %d", i);
		prof[i].field[PHONE_F_DEPARTMENT] = dept[i];
	}
	push_updates(p, pr, UPDATES, prof);
	phone_list_extensions(p, &f, ext_page_cb, done_cb, &pr->ext);
	phone_list_numbers(p, "DirectNumber", num_page_cb, done_cb, &pr->num);
	wait_all(pr, UPDATES, 150);
	for (int i = 0; i < UPDATES; i++) {
		ASSERT_KIND(&pr->upd[i], PHONE_OK);
		assert_int_equal(pr->upd[i].bulk[0].ok, 1);
	}
	ASSERT_KIND(&pr->ext, PHONE_OK);
	ASSERT_KIND(&pr->num, PHONE_OK);
	assert_int_equal(pr->ext.pages, 3);
	assert_int_equal(pr->num.pages, 3);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, NULL, NULL, 429, NULL), 0);
	assert_int_equal(check_group(log, "Heavy", 10, 0.90), UPDATES + 3);
	assert_int_equal(check_group(log, "Medium", 40, 0), 3);
	assert_true(check_group(log, "Light", 50, 0) >= UPDATES);
	json_decref(log);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	for (int i = 0; i < UPDATES; i++)
		assert_string_equal(contact_of(ext_in_state(st, 10000 + i),
		    "department"), dept[i]);
	json_decref(st);
	for (int i = 0; i < UPDATES; i++)
		res_clear(&pr->upd[i]);
	res_clear(&pr->ext);
	res_clear(&pr->num);
	phone_free(p);
	free(pr);
	free(prof);
	free(dept);
}

static void
dir_count_cb(const struct phone_dir_entry *v, size_t n, void *arg)
{
	struct res *r = arg;

	(void)v;
	r->pages++;
	r->n += n;
}

/*
 * The import's reads wait for the writes and stay within read_share: 40
 * lookups by email (the pusher's, Medium) queued after the directory list
 * (the import's, Medium) all go first, and each directory page goes only
 * while the window holds fewer than 30% of the Medium limit (12 of 40).
 */
static void
test_reads_wait_for_writes(void **state)
{
	const int n = 40;
	struct res *look = xcalloc((size_t)n, sizeof(*look)), dir = { 0 };
	char (*email)[32] = xcalloc((size_t)n, sizeof(*email));
	struct phone *p = share_client(30);
	long long seq = emu_last_seq(&C.emu), first_dir = -1, last_look = -1;
	/* arrival numbers (the order the server counted them), not seq */
	const json_t *e;
	json_t *log;
	size_t i;
	int done;

	(void)state;
	phone_list_directory(p, dir_count_cb, done_cb, &dir);
	for (int k = 0; k < n; k++) {
		struct phone_ext_filter f = { "User", NULL, email[k] };

		snprintf(email[k], sizeof(email[k]), "u%d@example.com", k);
		phone_list_extensions(p, &f, ext_page_cb, done_cb, &look[k]);
	}
	for (double waited = 0; waited < 60; waited += 1) {
		int tick = 0;

		done = dir.done;
		for (int k = 0; k < n; k++)
			done &= look[k].done;
		if (done)
			break;
		(void)loop_until(C.loop, &tick, 1);
	}
	ASSERT_KIND(&dir, PHONE_OK);
	assert_int_equal(dir.n, 2500);
	for (int k = 0; k < n; k++) {
		ASSERT_KIND(&look[k], PHONE_OK);
		assert_int_equal(look[k].n, 1);
	}
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, NULL, NULL, 429, NULL), 0);
	json_array_foreach(log, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		long long s = json_integer_value(json_object_get(e, "arrival"));

		if (strstr(path, "/directory/entries") != NULL) {
			double t = json_number_value(json_object_get(e, "t"));
			size_t before = 0, j;
			const json_t *o;

			if (first_dir < 0 || s < first_dir)
				first_dir = s;
			/* the Medium requests the server saw in the window before it */
			json_array_foreach(log, j, o)
				if (strcmp(json_string_value(json_object_get(o, "group")),
				    "Medium") == 0 && json_number_value(json_object_get(o,
				    "t")) > t - WINDOW && json_integer_value(json_object_get(o,
				    "arrival")) < s)
					before++;
			if (before >= 12)
				fail_msg("a directory page with %zu Medium requests in its "
				    "window", before);
		} else if (strstr(path, "/extension") != NULL && s > last_look)
			last_look = s;
	}
	assert_true(first_dir > last_look); /* the writes' lookups first */
	json_decref(log);
	for (int k = 0; k < n; k++)
		res_clear(&look[k]);
	res_clear(&dir);
	phone_free(p);
	free(look);
	free(email);
}

/* A Heavy limit of 4 where the documentation says 10: learnt, no 429. */
static void
test_learns_other_limits(void **state)
{
	const int n = 24;
	struct pace_run *pr = xcalloc(1, sizeof(*pr));
	struct phone_profile *prof = xcalloc((size_t)n, sizeof(*prof));
	struct phone *p;
	long long seq;
	json_t *log;

	(void)state;
	log = emu_call(&C.emu, "POST", "/_emu/limits", "{\"Heavy\":4}");
	assert_int_equal(json_integer_value(json_object_get(log, "Heavy")), 4);
	json_decref(log);
	p = fresh_client();
	seq = emu_last_seq(&C.emu);
	for (int i = 0; i < n; i++)
		prof[i].field[PHONE_F_JOB_TITLE] = "Paced";
	pr->ext.done = pr->num.done = 1;
	push_updates(p, pr, n, prof);
	wait_all(pr, n, 60);
	for (int i = 0; i < n; i++)
		ASSERT_KIND(&pr->upd[i], PHONE_OK);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, NULL, NULL, 429, NULL), 0);
	assert_int_equal(check_group(log, "Heavy", 4, 0.90), (size_t)n);
	json_decref(log);
	for (int i = 0; i < n; i++)
		res_clear(&pr->upd[i]);
	phone_free(p);
	free(pr);
	free(prof);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_reads_wait_for_writes),
		cmocka_unit_test(test_learns_other_limits),
	};

	return cmocka_run_group_tests_name("phone_pacing", tests, setup,
	    teardown);
}

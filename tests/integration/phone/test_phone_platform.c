/*
 * common/phone against the emulator where the platform's API definitions
 * allow two behaviours (docs/phone-api.md), each switched on in the
 * emulator (POST /_emu/behaviour) and met by the same client: CMN-101 as
 * 400 and as 403 (a data error either way, the session untouched), a
 * mandatory state missing (CMN-100, a data error naming the field), empty
 * lists with and without their paging fields, bulk-update record ids that
 * must be strings and result ids that come as numbers, a refresh token
 * whose lifetime is cut to the app's default; redirects, which the
 * client must follow, but only on the configured server; and a brand's
 * own server name (AT&T Office@Hand's platform.ringcentral.biz), reached
 * through connect_to, its name sent and verified.
 */
#include "phone_test.h"

#include "brand.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACCT "/restapi/v1.0/account/~"

static struct ctx C;
static int n_auth_failed, n_token, n_refused;

static json_t *
seed_doc(void)
{
	/* a small account: two users, no direct number at all */
	return json_pack("{s:[{s:i, s:s, s:{s:s, s:s, s:s}}, {s:i, s:s, "
	    "s:{s:s, s:s, s:s}}], s:{s:i, s:i}}", "extensions", "id", 101,
	    "extensionNumber", "101", "contact", "firstName", "Ann", "lastName",
	    "Lee", "email", "ann@example.com", "id", 102, "extensionNumber", "102",
	    "contact", "firstName", "Bob", "lastName", "Ray", "email",
	    "bob@example.com", "free_extensions", "count", 1, "start", 900);
}

static int
setup(void **state)
{
	/*
	 * Short windows, and room for a grant per test in the Auth group:
	 * every test's client is new and knows nothing of its predecessors'
	 * grants (pacing is test_phone_pacing's subject, not this file's).
	 */
	static const char *const args[] = { "--window", "3", "--penalty", "2",
	    "--limits", "Auth=100", NULL };

	(void)state;
	if (emu_start(&C.emu, 0, args) < 0)
		return -1;
	if (emu_seed(&C.emu, seed_doc()) < 0)
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
	memset(&C, 0, sizeof(C));
	return 0;
}

/* each test: the emulator's defaults, a new store, no event seen */
static int
test_setup(void **state)
{
	(void)state;
	C.st = emu_store();
	n_auth_failed = n_token = n_refused = 0;
	return emu_post(&C.emu, "/_emu/behaviour", "{\"cmn101_status\":400,"
	    "\"empty_paging\":\"full\",\"bulk_ids\":\"string\","
	    "\"bulk_result_ids\":\"string\",\"refresh_ttl_app\":0,"
	    "\"state_mandatory\":false}");
}

static int
test_teardown(void **state)
{
	(void)state;
	store_close(C.st);
	C.st = NULL;
	return 0;
}

static void
event_cb(const struct phone_event *ev, void *arg)
{
	(void)arg;
	if (ev->kind == PHONE_EV_AUTH_FAILED)
		n_auth_failed++;
	if (ev->kind == PHONE_EV_TOKEN)
		n_token++;
	if (ev->kind == PHONE_EV_REDIRECT_REFUSED) {
		n_refused++;
		if (strstr(ev->detail, "refused") == NULL &&
		    strstr(ev->detail, "redirects") == NULL)
			fail_msg("redirect refused without a reason: %s", ev->detail);
	}
}

static struct phone *
phone_here(void)
{
	struct config_telephony t;
	struct phone *p;

	emu_telephony(&C.emu, &t, 10);
	p = new_phone(&C, &t, NULL, C.st);
	phone_set_event_cb(p, event_cb, NULL);
	return p;
}

static void
set_behaviour(const char *key, const char *json_value)
{
	if (emu_post(&C.emu, "/_emu/behaviour", "{\"%s\":%s}", key,
	    json_value) < 0)
		fail_msg("behaviour %s=%s refused", key, json_value);
}

/*
 * CMN-101 as 400 or as 403: a data error naming the parameter either
 * way; no session is dropped, no grant follows, the next call works.
 */
static void
test_cmn101_either_status(void **state)
{
	static const long statuses[] = { 400, 403 };
	struct phone *p = phone_here();
	struct phone_ext_filter bogus = { "User", "Bogus", NULL };
	struct res r = { 0 };

	(void)state;
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	for (size_t i = 0; i < 2; i++) {
		char v[8];

		snprintf(v, sizeof(v), "%ld", statuses[i]);
		set_behaviour("cmn101_status", v);
		res_clear(&r);
		phone_list_extensions(p, &bogus, ext_page_cb, done_cb, &r);
		RUN(&C, &r);
		ASSERT_KIND(&r, PHONE_DATA);
		assert_int_equal(r.err.http_status, statuses[i]);
		assert_string_equal(r.err.code, "CMN-101");
		assert_string_equal(r.err.param, "status");
		assert_string_equal(r.err.value, "Bogus");
		res_clear(&r);
		phone_find_user(p, "ann@example.com", user_cb, &r);
		RUN(&C, &r);
		ASSERT_KIND(&r, PHONE_OK);
		assert_string_equal(r.user_id, "101");
	}
	assert_int_equal(n_auth_failed, 0);
	assert_int_equal(n_token, 1); /* the first grant only */
	res_clear(&r);
	phone_free(p);
}

/*
 * An account without direct numbers, and a filter that matches no
 * extension: one empty page, whichever paging fields the server leaves
 * out.
 */
static void
test_empty_lists_any_paging(void **state)
{
	static const char *const modes[] = { "\"full\"", "\"no-fields\"",
	    "\"none\"" };
	struct phone *p = phone_here();
	struct phone_ext_filter nobody = { "User", NULL, "nobody@example.com" };
	struct res r = { 0 };
	long long seq;
	json_t *log;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		set_behaviour("empty_paging", modes[i]);
		seq = emu_last_seq(&C.emu);
		res_clear(&r);
		phone_list_numbers(p, "DirectNumber", num_page_cb, done_cb, &r);
		RUN(&C, &r);
		ASSERT_KIND(&r, PHONE_OK);
		assert_int_equal(r.pages, 1);
		assert_int_equal(r.n, 0);
		res_clear(&r);
		phone_list_extensions(p, &nobody, ext_page_cb, done_cb, &r);
		RUN(&C, &r);
		ASSERT_KIND(&r, PHONE_OK);
		assert_int_equal(r.pages, 1);
		assert_int_equal(r.n, 0);
		/* one request each: the end is seen without a next page */
		log = emu_log(&C.emu, seq);
		assert_int_equal(count_log(log, "GET", ACCT "/phone-number", 200,
		    NULL), 1);
		assert_int_equal(count_log(log, "GET", ACCT "/extension", 200,
		    NULL), 1);
		json_decref(log);
	}
	/* lists with records are unchanged */
	res_clear(&r);
	phone_list_extensions(p, NULL, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 3);
	res_clear(&r);
	phone_free(p);
}

static void
bulk_two(struct phone *p, struct res *r, const char *department)
{
	struct phone_profile prof = { 0 };
	struct phone_bulk_item items[] = {
		{ 102, &prof, NULL, NULL, NULL },
		{ 101, &prof, "Enabled", NULL, NULL },
	};

	prof.field[PHONE_F_DEPARTMENT] = department;
	memset(r, 0, sizeof(*r));
	phone_bulk_update(p, items, 2, bulk_cb, r);
	RUN(&C, r);
}

/*
 * The emulator refuses a record id sent as a number (the definitions
 * have a string): the update goes through, and results whose
 * extensionId is a number are matched to their records all the same.
 */
static void
test_bulk_ids(void **state)
{
	static const char *const result_ids[] = { "\"string\"", "\"number\"" };
	static const char *const depts[] = { "Strings", "Numbers" };
	struct phone *p = phone_here();
	struct res r;
	json_t *st;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		set_behaviour("bulk_result_ids", result_ids[i]);
		bulk_two(p, &r, depts[i]);
		ASSERT_KIND(&r, PHONE_OK);
		assert_int_equal(r.n, 2);
		assert_true(r.bulk[0].extension_id == 102 && r.bulk[0].ok);
		assert_true(r.bulk[1].extension_id == 101 && r.bulk[1].ok);
		st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
		assert_string_equal(contact_of(ext_in_state(st, 101), "department"),
		    depts[i]);
		assert_string_equal(contact_of(ext_in_state(st, 102), "department"),
		    depts[i]);
		json_decref(st);
		res_clear(&r);
	}
	phone_free(p);
}

/*
 * CMN-100 on one bulk record: a data error of that user naming the state,
 * not a request the client got wrong; the other record goes through.
 */
static void
test_mandatory_state(void **state)
{
	struct phone *p = phone_here();
	struct phone_profile us = { 0 }, fr = { 0 };
	struct phone_bulk_item items[] = {
		{ 101, &us, NULL, NULL, NULL },
		{ 102, &fr, NULL, NULL, NULL },
	};
	struct res r = { 0 };
	char msg[512];

	(void)state;
	set_behaviour("state_mandatory", "true");
	us.field[PHONE_F_CITY] = "Austin";
	us.field[PHONE_F_COUNTRY] = "US";
	fr.field[PHONE_F_CITY] = "Paris";
	fr.field[PHONE_F_COUNTRY] = "FR";
	phone_bulk_update(p, items, 2, bulk_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.bulk[0].ok, 0);
	assert_int_equal(r.bulk[0].err.kind, PHONE_DATA);
	assert_string_equal(r.bulk[0].err.code, "CMN-100");
	assert_string_equal(phone_param_field(r.bulk[0].err.param), "state");
	phone_error_message(&r.bulk[0].err, "RingCentral", msg, sizeof(msg));
	assert_non_null(strstr(msg, "A state is required"));
	assert_int_equal(r.bulk[1].ok, 1);
	res_clear(&r);
	phone_free(p);
}

static void
stored_tokens(struct store_tokens *t)
{
	struct store_txn *txn;
	char err[256];

	assert_int_equal(store_begin(C.st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_tokens_get(txn, t, err, sizeof(err)), 0);
	store_abort(txn);
}

/*
 * 30 days are asked for; an app whose default is 7 days gets 7: the
 * stored expiry is the one the response gave, for the JWT grant and for
 * a refresh.
 */
static void
test_refresh_lifetime_from_response(void **state)
{
	struct phone *p;
	struct store_tokens t;
	long long now = time(NULL), a, rf;
	struct res r = { 0 };

	(void)state;
	set_behaviour("refresh_ttl_app", "604800");
	p = phone_here();
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_token_expiry(p, &a, &rf);
	assert_true(rf >= now + 604800 && rf <= time(NULL) + 604800);
	stored_tokens(&t);
	assert_true(t.refresh_expires == rf);
	store_tokens_clear(&t);
	/* an expired access token: renewed by refresh, 7 days again */
	assert_int_equal(emu_post(&C.emu, "/_emu/tokens",
	    "{\"expire_access\":true}"), 0);
	now = time(NULL);
	res_clear(&r);
	phone_find_user(p, "ann@example.com", user_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(n_token, 2);
	phone_token_expiry(p, &a, &rf);
	assert_true(rf >= now + 604800 && rf <= time(NULL) + 604800);
	stored_tokens(&t);
	assert_true(t.refresh_expires == rf);
	store_tokens_clear(&t);
	phone_free(p);
}

/* redirect: the next count requests under prefix get status to location. */
static void
redirect(int count, const char *prefix, int status, const char *location)
{
	char loc[128] = "";

	if (location != NULL)
		snprintf(loc, sizeof(loc), ",\"location\":\"%s\"", location);
	if (emu_post(&C.emu, "/_emu/fault", "{\"kind\":\"redirect\",\"count\":%d,"
	    "\"path_prefix\":\"%s\",\"status\":%d%s}", count, prefix, status,
	    loc) < 0)
		fail_msg("redirect fault refused");
}

/* statuses: the statuses of the log entries after seq under prefix. */
static void
statuses(long long seq, const char *prefix, char *buf, size_t len)
{
	json_t *log = emu_log(&C.emu, seq), *e;
	size_t i, o = 0;

	buf[0] = '\0';
	json_array_foreach(log, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));

		if (path != NULL && strncmp(path, prefix, strlen(prefix)) == 0 &&
		    o + 8 < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%lld", o ? " " : "",
			    (long long)json_integer_value(json_object_get(e, "status")));
	}
	json_decref(log);
}

/* methods_after: the methods of the log entries after seq are want. */
static int
methods_after(long long seq, const char *want)
{
	json_t *log = emu_log(&C.emu, seq), *e;
	char got[128] = "";
	size_t i, o = 0;

	json_array_foreach(log, i, e)
		if (o + 8 < sizeof(got))
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s",
			    o ? " " : "", json_string_value(json_object_get(e,
			    "method")));
	json_decref(log);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "methods: %s, expected %s\n", got, want);
	return strcmp(got, want) == 0;
}

/* hosts_seen: log entries after seq whose Host header was host. */
static int
hosts_seen(long long seq, const char *host)
{
	json_t *log = emu_log(&C.emu, seq), *e;
	size_t i;
	int n = 0;

	json_array_foreach(log, i, e)
		if (strcmp(json_string_value(json_object_get(e, "host")), host) == 0)
			n++;
	json_decref(log);
	return n;
}

/*
 * Redirects to the same server are followed: a 307 keeps a GET, a POST
 * and its body (a bulk update, the token grant), a 308 likewise; each hop
 * is one more request to the server.
 */
static void
test_redirect_same_server(void **state)
{
	struct phone *p = phone_here();
	long long seq = emu_last_seq(&C.emu);
	struct res r = { 0 };
	char got[128];
	json_t *st;

	(void)state;
	redirect(1, "/restapi/oauth/token", 308, NULL);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	statuses(seq, "/restapi/oauth/token", got, sizeof(got));
	assert_string_equal(got, "308 200");
	redirect(2, "/scim/v2/Users", 307, NULL);
	res_clear(&r);
	phone_find_user(p, "bob@example.com", user_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_string_equal(r.user_id, "102");
	statuses(seq, "/scim/v2/Users", got, sizeof(got));
	assert_string_equal(got, "307 307 200");
	assert_int_equal(n_refused, 0);
	redirect(1, ACCT "/extension-bulk-update", 307, NULL);
	bulk_two(p, &r, "Moved");
	ASSERT_KIND(&r, PHONE_OK);
	assert_true(r.bulk[0].ok && r.bulk[1].ok);
	statuses(seq, ACCT "/extension-bulk-update", got, sizeof(got));
	assert_int_equal(strncmp(got, "307 202", 7), 0);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	assert_string_equal(contact_of(ext_in_state(st, 102), "department"),
	    "Moved");
	json_decref(st);
	res_clear(&r);
	/* a 303 is a GET of the other resource: here one that takes only POST */
	seq = emu_last_seq(&C.emu);
	redirect(1, ACCT "/extension-bulk-update", 303, NULL);
	bulk_two(p, &r, "Seen other");
	assert_int_equal(r.err.http_status, 405);
	assert_int_equal(methods_after(seq, "POST GET"), 1);
	res_clear(&r);
	phone_free(p);
}

/*
 * A redirect to another host (here: the same emulator as localhost) is
 * refused naming both, and nothing reaches it: not the token, not the
 * client's credentials, not a body. So is a sixth redirect in a row.
 */
static void
test_redirect_elsewhere_refused(void **state)
{
	struct phone *p = phone_here();
	long long seq = emu_last_seq(&C.emu);
	char other[64], here[64], local[64], msg[600];
	struct res r = { 0 };

	(void)state;
	snprintf(other, sizeof(other), "http://localhost:%d", C.emu.port);
	snprintf(local, sizeof(local), "localhost:%d", C.emu.port);
	snprintf(here, sizeof(here), "http://127.0.0.1:%d", C.emu.port);
	redirect(1, "/restapi/oauth/token", 307, other);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_string_equal(r.err.code, "redirect");
	assert_non_null(strstr(r.err.detail, here));
	assert_non_null(strstr(r.err.detail, other));
	phone_error_message(&r.err, "RingCentral", msg, sizeof(msg));
	assert_non_null(strstr(msg, "not followed"));
	assert_non_null(strstr(msg, other));
	res_clear(&r);
	phone_auth_check(p, done_cb, &r); /* the grant, without the fault */
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	redirect(1, ACCT "/extension-bulk-update", 308, other);
	bulk_two(p, &r, "Elsewhere");
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_string_equal(r.err.code, "redirect");
	assert_int_equal(r.bulk[0].err.kind, PHONE_TRANSIENT);
	res_clear(&r);
	redirect(HTTP_MAX_REDIRECTS + 1, "/scim/v2/Users", 302, NULL);
	phone_find_user(p, "ann@example.com", user_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_non_null(strstr(r.err.detail, "more than 5 redirects"));
	assert_int_equal(n_refused, 3);
	assert_int_equal(hosts_seen(seq, local), 0);
	assert_true(hosts_seen(seq, here + 7) > 0);
	res_clear(&r);
	phone_free(p);
}

/*
 * The .biz platform: an HTTPS emulator that answers only to the name
 * platform.ringcentral.biz (421 to any other Host), reached on loopback
 * through connect_to with the brand's default server: the session and a
 * list work, the certificate is verified against that name. The same
 * route with the .com name is refused: the name sent is the server's.
 */
static void
test_brand_server_name(void **state)
{
	static const char *const args[] = { "--server-name",
	    "platform.ringcentral.biz", "--limits", "Auth=100", NULL };
	const struct brand *b = brand_find("AT&T Office@Hand");
	struct emu biz = { 0 };
	struct config_telephony t;
	struct store *st2 = emu_store();
	struct phone *p;
	struct res r = { 0 };
	char *to;
	json_t *log;

	(void)state;
	assert_non_null(b);
	assert_string_equal(b->server, "https://platform.ringcentral.biz");
	assert_int_equal(emu_start(&biz, 1, args), 0);
	assert_int_equal(emu_seed(&biz, seed_doc()), 0);
	to = xasprintf("127.0.0.1:%d", biz.port);
	emu_telephony(&biz, &t, 10);
	t.brand = "AT&T Office@Hand";
	t.server = (char *)b->server;
	t.connect_to = to;
	p = new_phone(&C, &t, NULL, C.st);
	phone_list_extensions(p, NULL, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 3);
	log = emu_log(&biz, 0);
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 200,
	    NULL), 1);
	assert_int_equal(count_log(log, "GET", ACCT "/extension", 200, NULL), 1);
	assert_int_equal(count_log(log, NULL, "/", 421, NULL), 0);
	json_decref(log);
	res_clear(&r);
	phone_free(p);
	/* The .com name on the same route: the emulator refuses it. */
	t.server = "https://platform.ringcentral.com";
	p = new_phone(&C, &t, NULL, st2);
	phone_list_extensions(p, NULL, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	assert_int_not_equal(r.err.kind, PHONE_OK);
	log = emu_log(&biz, 0);
	assert_true(count_log(log, NULL, "/", 421, NULL) > 0);
	json_decref(log);
	res_clear(&r);
	phone_free(p);
	store_close(st2);
	free(to);
	emu_stop(&biz);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cmn101_either_status,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_mandatory_state, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_empty_lists_any_paging,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_bulk_ids, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_refresh_lifetime_from_response,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_redirect_same_server,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_redirect_elsewhere_refused,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_brand_server_name,
		    test_setup, test_teardown),
	};

	return cmocka_run_group_tests_name("phone_platform", tests, setup,
	    teardown) != 0;
}

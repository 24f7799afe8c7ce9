/*
 * common/phone and common/http against an emulator that misbehaves:
 * recovery from every injected fault kind (503, 500, a delay past the
 * timeout, a TCP reset, a truncated response, a non-JSON body, 429), a
 * create that is never repeated once the server may have acted, access
 * tokens that expire mid-run (refresh), a revoked refresh token
 * (re-authentication with the JWT), renewal before expiry, tokens that
 * another process stored, and finally a grep of every log line of the
 * whole run for the JWT, the client secret and every token issued.
 */
#include "phone_test.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define ACCT "/restapi/v1.0/account/~"
#define FIELDS ACCT "/custom-fields"

static struct ctx C;
static FILE *capture;
static char *capture_path;
static struct phone *current;     /* the client whose events are logged */
static char **seen_tokens;        /* every token issued during the run */
static size_t nseen;
static int n_retry, n_rate_wait, n_token_refresh, n_token_jwt, n_store_error;

static void
remember_tokens(void)
{
	struct store_tokens t;

	if (current == NULL || phone_tokens_copy(current, &t) < 0)
		return;
	seen_tokens = xreallocarray(seen_tokens, nseen + 2, sizeof(char *));
	seen_tokens[nseen++] = t.access_token;
	if (t.refresh_token != NULL)
		seen_tokens[nseen++] = t.refresh_token;
	else
		free(t.refresh_token);
}

/* event_cb: log every event the way ringsyncd does, and count them. */
static void
event_cb(const struct phone_event *ev, void *arg)
{
	(void)arg;
	switch (ev->kind) {
	case PHONE_EV_RETRY:
		n_retry++;
		log_warning("phone system is not answering: retrying in %.1f s "
		    "status=%ld request=%s %s attempt=%d error=%s", ev->delay,
		    ev->status, ev->method, log_q(ev->url), ev->attempt,
		    log_q(ev->detail));
		break;
	case PHONE_EV_RATE_WAIT:
		n_rate_wait++;
		log_notice("rate limit reached: waiting group=%s seconds=%.1f",
		    ev->group, ev->delay);
		break;
	case PHONE_EV_TOKEN:
		if (strcmp(ev->detail, "refresh_token") == 0)
			n_token_refresh++;
		else if (strcmp(ev->detail, "jwt") == 0)
			n_token_jwt++;
		log_info("phone-system session renewed grant=%s access_expires=%lld "
		    "refresh_expires=%lld", ev->detail, ev->access_expires,
		    ev->refresh_expires);
		remember_tokens();
		break;
	case PHONE_EV_AUTH_FAILED:
		log_alert("phone-system authentication failed error=%s",
		    log_q(ev->detail));
		break;
	case PHONE_EV_REDIRECT_REFUSED:
		log_err("redirect refused request=%s error=%s", log_q(ev->url),
		    log_q(ev->detail));
		break;
	case PHONE_EV_STORE_ERROR:
		n_store_error++;
		log_err("cannot store the tokens error=%s", log_q(ev->detail));
		break;
	}
}

/* log_result: what the sync engine logs about a call's outcome. */
static void
log_result(const char *what, const struct phone_error *e)
{
	char msg[512];

	log_info("%s done kind=%s call=%s status=%ld code=%s param=%s value=%s "
	    "may_have_acted=%d detail=%s message=%s", what,
	    phone_err_kind_name(e->kind), phone_call_name(e->call),
	    e->http_status, log_q(e->code), log_q(e->param), log_q(e->value),
	    e->may_have_acted, log_q(e->detail), log_q(phone_error_message(e,
	    "TELUS Business Connect", msg, sizeof(msg))));
}

static json_t *
seed_doc(void)
{
	json_t *exts = json_array();

	for (int i = 0; i < 2500; i++) {
		char email[64];

		snprintf(email, sizeof(email), "u%d@example.com", i);
		json_array_append_new(exts, json_pack("{s:I, s:{s:s, s:s, s:s}}",
		    "id", (json_int_t)(10000 + i), "contact", "firstName", "U",
		    "lastName", "Test", "email", email));
	}
	return json_pack("{s:[{s:s, s:s}], s:o, s:{s:i, s:i}}", "custom_fields",
	    "id", "1", "displayName", "Cost Center", "extensions", exts,
	    "free_extensions", "count", 10, "start", 900);
}

static int
setup(void **state)
{
	static const char *const args[] = { "--window", "3", "--limits",
	    "Auth=50", NULL };

	(void)state;
	capture_path = xasprintf("%s/run.log", tu_tmpdir());
	capture = fopen(capture_path, "w+");
	if (capture == NULL)
		return -1;
	log_init("test_phone_faults", LOG_USER, LOG_DEBUG, 0);
	log_set_stream(capture);
	if (emu_start(&C.emu, 0, args) < 0 || emu_seed(&C.emu, seed_doc()) < 0)
		return -1;
	C.loop = ev_loop_new(EVFLAG_AUTO);
	C.st = emu_store();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_stream(NULL);
	if (capture != NULL)
		fclose(capture);
	store_close(C.st);
	if (C.loop != NULL)
		ev_loop_destroy(C.loop);
	emu_stop(&C.emu);
	for (size_t i = 0; i < nseen; i++)
		free(seen_tokens[i]);
	free(seen_tokens);
	free(capture_path);
	return 0;
}

static struct phone *
client(unsigned int timeout, int max_attempts, struct store *st)
{
	struct config_telephony t;
	struct phone_opts o = { 0 };

	emu_telephony(&C.emu, &t, timeout);
	o.max_attempts = max_attempts;
	current = new_phone(&C, &t, &o, st);
	phone_set_event_cb(current, event_cb, NULL);
	return current;
}

static void
fault(const char *kind, int count, const char *prefix, double delay)
{
	if (emu_post(&C.emu, "/_emu/fault", "{\"kind\":\"%s\",\"count\":%d,"
	    "\"path_prefix\":\"%s\",\"delay\":%g}", kind, count, prefix,
	    delay) < 0)
		fail_msg("cannot inject %s", kind);
}

static void
custom_fields(struct phone *p, struct res *r)
{
	memset(r, 0, sizeof(*r));
	phone_custom_fields(p, fields_cb, r);
	RUN(&C, r);
	log_result("custom fields", &r->err);
}

/* first_fault: the fault noted on the first request of path, or "". */
static const char *
first_fault(const json_t *log, const char *path)
{
	const json_t *e;
	size_t i;

	json_array_foreach(log, i, e)
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0) {
			const char *f = json_string_value(json_object_get(e, "fault"));

			return f ? f : "";
		}
	return "";
}

/*
 * recover: one fault of kind on the custom-fields call: the call still
 * succeeds, the log shows the faulty answer and then a good one, and one
 * retry (or rate-limit wait) was reported.
 */
static void
recover(const char *kind, double delay, int *counter)
{
	struct phone *p = client(2, 0, C.st);
	long long seq = emu_last_seq(&C.emu);
	int before = *counter;
	struct res r;
	json_t *log;

	fault(kind, 1, FIELDS, delay);
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(*counter, before + 1);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", FIELDS, 200, "Light"),
	    strcmp(kind, "delay") == 0 || strcmp(kind, "truncated") == 0 ? 2 : 1);
	assert_string_equal(first_fault(log, FIELDS), kind);
	json_decref(log);
	phone_free(p);
}

static void
test_recover_503(void **state)
{
	(void)state;
	recover("503", 0, &n_retry);
}

static void
test_recover_500(void **state)
{
	(void)state;
	recover("500", 0, &n_retry);
}

static void
test_recover_delay_past_timeout(void **state)
{
	(void)state;
	recover("delay", 3, &n_retry); /* timeout 2 s */
}

static void
test_recover_reset(void **state)
{
	(void)state;
	recover("reset", 0, &n_retry);
}

static void
test_recover_truncated(void **state)
{
	(void)state;
	recover("truncated", 0, &n_retry);
}

static void
test_recover_429(void **state)
{
	(void)state;
	recover("429", 1, &n_rate_wait);
}

static void
test_nonjson_is_malformed_then_recovers(void **state)
{
	struct phone *p = client(2, 0, C.st);
	struct res r;

	(void)state;
	fault("nonjson", 1, FIELDS, 0);
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_MALFORMED);
	assert_int_equal(r.err.http_status, 200);
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_free(p);
}

static void
test_gives_up_after_attempts(void **state)
{
	struct phone *p = client(2, 2, C.st);
	long long seq = emu_last_seq(&C.emu);
	struct res r;
	json_t *log;

	(void)state;
	fault("503", 5, FIELDS, 0);
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_int_equal(r.err.http_status, 503);
	assert_string_equal(r.err.code, "CMN-201");
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", FIELDS, 503, NULL), 2);
	json_decref(log);
	log = emu_call(&C.emu, "DELETE", "/_emu/fault", NULL);
	assert_non_null(log);
	json_decref(log);
	phone_free(p);
}

static void
test_token_endpoint_recovers(void **state)
{
	struct phone *p = client(2, 0, NULL); /* no stored session */
	struct res r = { 0 };

	(void)state;
	fault("503", 1, "/restapi/oauth/token", 0);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_free(p);
}

static void
create(struct phone *p, const char *email, struct res *r)
{
	struct phone_profile prof = { 0 };

	prof.field[PHONE_F_FIRST_NAME] = "New";
	prof.field[PHONE_F_LAST_NAME] = "User";
	prof.field[PHONE_F_EMAIL] = email;
	memset(r, 0, sizeof(*r));
	phone_create_user(p, &prof, "guid", user_cb, r);
	RUN(&C, r);
	log_result("create", &r->err);
}

static int
posts_since(long long seq)
{
	json_t *log = emu_log(&C.emu, seq);
	int n = count_log(log, "POST", "/scim/v2/Users", 0, "Heavy");

	json_decref(log);
	return n;
}

static void
test_create_never_repeated(void **state)
{
	struct phone *p = client(2, 0, C.st);
	long long seq;
	struct res r;

	(void)state;
	/* reset: sent, no answer; the server might have acted: not repeated */
	seq = emu_last_seq(&C.emu);
	fault("reset", 1, "/scim/v2/Users", 0);
	create(p, "reset@example.com", &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_int_equal(r.err.may_have_acted, 1);
	assert_int_equal(posts_since(seq), 1);
	memset(&r, 0, sizeof(r));
	phone_find_user(p, "reset@example.com", user_cb, &r);
	RUN(&C, &r);
	assert_int_equal(r.have_user, 0); /* the reset came before processing */
	/* truncated: the user was made, the answer lost: found by a search */
	seq = emu_last_seq(&C.emu);
	fault("truncated", 1, "/scim/v2/Users", 0);
	create(p, "trunc@example.com", &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_int_equal(r.err.may_have_acted, 1);
	assert_int_equal(posts_since(seq), 1);
	memset(&r, 0, sizeof(r));
	phone_find_user(p, "trunc@example.com", user_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.have_user, 1);
	/* 503: the server says it did nothing: safe to repeat */
	seq = emu_last_seq(&C.emu);
	fault("503", 1, "/scim/v2/Users", 0);
	create(p, "again@example.com", &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(posts_since(seq), 2);
	phone_free(p);
}

/* The listing expires every access token after its second page. */
struct expiring {
	struct res r;
	int expired;
};

static void
expiring_page_cb(const struct phone_extension *v, size_t n, void *arg)
{
	struct expiring *x = arg;

	ext_page_cb(v, n, &x->r);
	if (x->r.pages == 2 && !x->expired) {
		x->expired = emu_post(&C.emu, "/_emu/tokens",
		    "{\"expire_access\":true}") == 0;
		assert_int_equal(x->expired, 1);
	}
}

static void
test_token_expires_mid_listing(void **state)
{
	struct config_telephony t;
	struct phone_opts o = { 0 };
	struct expiring x;
	struct res ok = { 0 };
	long long seq;
	int refreshes = n_token_refresh;
	json_t *log;

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	o.per_page = 500;
	current = new_phone(&C, &t, &o, C.st);
	phone_set_event_cb(current, event_cb, NULL);
	phone_auth_check(current, done_cb, &ok);
	RUN(&C, &ok);
	seq = emu_last_seq(&C.emu);
	memset(&x, 0, sizeof(x));
	phone_list_extensions(current, NULL, expiring_page_cb, done_cb, &x.r);
	RUN(&C, &x.r);
	ASSERT_KIND(&x.r, PHONE_OK);
	log_result("list", &x.r.err);
	assert_int_equal(x.r.pages, 6); /* 2510 extensions, 500 a page */
	assert_int_equal(x.r.n, 2510);
	assert_int_equal(n_token_refresh, refreshes + 1);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", ACCT "/extension", 401, NULL), 1);
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 200, NULL),
	    1);
	assert_int_equal(count_log(log, "GET", ACCT "/extension", 200, NULL), 6);
	json_decref(log);
	res_clear(&x.r);
	phone_free(current);
	current = NULL;
}

static void
test_revoked_refresh_reauthenticates(void **state)
{
	struct phone *p = client(10, 0, C.st);
	struct res r;
	long long seq;
	int jwts;
	json_t *log;

	(void)state;
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_OK);
	jwts = n_token_jwt;
	seq = emu_last_seq(&C.emu);
	assert_int_equal(emu_post(&C.emu, "/_emu/tokens", "{\"expire_access\":"
	    "true,\"revoke_refresh\":true}"), 0);
	custom_fields(p, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(n_token_jwt, jwts + 1);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", FIELDS, 401, NULL), 1);
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 400, NULL),
	    1); /* the refresh */
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 200, NULL),
	    1); /* the JWT */
	assert_int_equal(count_log(log, "GET", FIELDS, 200, NULL), 1);
	json_decref(log);
	phone_free(p);
}

/*
 * test_adopts_stored_tokens: ringsyncctl auth login writes tokens while
 * the daemon runs; the daemon's client, whose own session is dead and
 * which has no JWT, uses them instead of failing.
 */
static void
test_adopts_stored_tokens(void **state)
{
	struct config_telephony t;
	struct phone *a, *b;
	struct store_tokens tok;
	struct store_txn *txn;
	struct res r = { 0 };
	char err[256];
	long long seq;
	json_t *log;

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	t.jwt_file = NULL;
	a = current = new_phone(&C, &t, NULL, C.st);
	phone_set_event_cb(a, event_cb, NULL);
	custom_fields(a, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(emu_post(&C.emu, "/_emu/tokens", "{\"expire_access\":"
	    "true,\"revoke_refresh\":true}"), 0);
	b = client(10, 0, NULL); /* the "other process": a JWT login */
	memset(&r, 0, sizeof(r));
	phone_auth_check(b, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(phone_tokens_copy(b, &tok), 0);
	assert_int_equal(store_begin(C.st, 0, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_tokens_put(txn, &tok, err, sizeof(err)), 0);
	assert_int_equal(store_commit(txn, err, sizeof(err)), 0);
	store_tokens_clear(&tok);
	phone_free(b);
	current = a;
	seq = emu_last_seq(&C.emu);
	custom_fields(a, &r);
	ASSERT_KIND(&r, PHONE_OK);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 0, NULL),
	    0);
	json_decref(log);
	phone_free(a);
	current = NULL;
}

/* Calls every 0.4 s for 7 s against tokens that live 3 s. */
struct ticker {
	struct phone *p;
	struct res r[32];
	int started, finished, stop;
	ev_timer tick;
};

static void
ticker_done_cb(const struct phone_error *err, const struct phone_custom_field *v,
    size_t n, void *arg)
{
	struct res *r = arg;

	fields_cb(err, v, n, r);
	log_result("custom fields", err);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ticker *t = w->data;

	(void)revents;
	if (t->started == 18) {
		ev_timer_stop(loop, w);
		t->stop = 1;
		return;
	}
	phone_custom_fields(t->p, ticker_done_cb, &t->r[t->started++]);
}

static void
test_renews_before_expiry(void **state)
{
	static const char *const args[] = { "--access-ttl", "3", "--limits",
	    "Auth=50", NULL };
	struct emu e2;
	struct config_telephony t;
	struct ticker tk;
	struct res ok = { 0 };
	int refreshes = n_token_refresh, all = 0;
	json_t *log;

	(void)state;
	assert_int_equal(emu_start(&e2, 0, args), 0);
	emu_telephony(&e2, &t, 5);
	memset(&tk, 0, sizeof(tk));
	tk.p = current = new_phone(&C, &t, NULL, NULL);
	phone_set_event_cb(tk.p, event_cb, NULL);
	phone_auth_check(tk.p, done_cb, &ok);
	RUN(&C, &ok);
	ev_timer_init(&tk.tick, tick_cb, 0.4, 0.4);
	tk.tick.data = &tk;
	ev_timer_start(C.loop, &tk.tick);
	assert_int_equal(loop_until(C.loop, &tk.stop, 30), 0);
	for (int i = 0; i < tk.started; i++) {
		assert_int_equal(loop_until(C.loop, &tk.r[i].done, 30), 0);
		ASSERT_KIND(&tk.r[i], PHONE_OK);
	}
	/* 7 s of 3 s tokens: renewed at least twice, and never refused */
	assert_true(n_token_refresh >= refreshes + 2);
	log = emu_log(&e2, 0);
	all = count_log(log, "GET", FIELDS, 0, NULL);
	assert_int_equal(count_log(log, "GET", FIELDS, 200, NULL), all);
	assert_int_equal(all, 18);
	assert_int_equal(count_log(log, NULL, NULL, 401, NULL), 0);
	json_decref(log);
	phone_free(tk.p);
	current = NULL;
	emu_stop(&e2);
}

/* A store that refuses the tokens: said once, retried, the client works. */
static void
test_store_failure_reported_once(void **state)
{
	struct config_telephony t;
	struct store *ro, *rw = emu_store();
	char *dir = xstrdup(store_path(rw)), err[256];
	struct res r = { 0 };
	int tick = 0;

	(void)state;
	store_close(rw);
	assert_int_equal(store_open(dir, STORE_RDONLY, &ro, err, sizeof(err)), 0);
	emu_telephony(&C.emu, &t, 10);
	current = new_phone(&C, &t, NULL, ro);
	phone_set_event_cb(current, event_cb, NULL);
	n_store_error = 0;
	phone_auth_check(current, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(n_store_error, 1);
	/* retried after 1 s and 2 s: still one report */
	(void)loop_until(C.loop, &tick, 3.5);
	assert_int_equal(n_store_error, 1);
	custom_fields(current, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_free(current);
	current = NULL;
	store_close(ro);
	free(dir);
}

/* The whole run's log: lines were written, and no secret is among them. */
static void
test_secrets_never_logged(void **state)
{
	struct store_tokens t;
	struct store_txn *txn;
	char err[256], *text;
	long size;

	(void)state;
	assert_int_equal(store_begin(C.st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_tokens_get(txn, &t, err, sizeof(err)), 0);
	store_abort(txn);
	fflush(capture);
	fseek(capture, 0, SEEK_END);
	size = ftell(capture);
	rewind(capture);
	text = xcalloc(1, (size_t)size + 1);
	assert_int_equal(fread(text, 1, (size_t)size, capture), (size_t)size);
	/* the capture saw the run: retries, renewals, re-authentication */
	assert_non_null(strstr(text, "retrying in"));
	assert_non_null(strstr(text, "grant=refresh_token"));
	assert_non_null(strstr(text, "grant=jwt"));
	assert_non_null(strstr(text, "kind=malformed"));
	assert_true(nseen >= 6);
	if (strstr(text, EMU_JWT) != NULL)
		fail_msg("the JWT is in the log");
	if (strstr(text, EMU_CLIENT_SECRET) != NULL)
		fail_msg("the client secret is in the log");
	for (size_t i = 0; i < nseen; i++)
		if (strstr(text, seen_tokens[i]) != NULL)
			fail_msg("token %zu of %zu is in the log", i, nseen);
	if (strstr(text, t.access_token) != NULL ||
	    strstr(text, t.refresh_token) != NULL)
		fail_msg("a stored token is in the log");
	store_tokens_clear(&t);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recover_503),
		cmocka_unit_test(test_recover_500),
		cmocka_unit_test(test_recover_delay_past_timeout),
		cmocka_unit_test(test_recover_reset),
		cmocka_unit_test(test_recover_truncated),
		cmocka_unit_test(test_recover_429),
		cmocka_unit_test(test_nonjson_is_malformed_then_recovers),
		cmocka_unit_test(test_gives_up_after_attempts),
		cmocka_unit_test(test_token_endpoint_recovers),
		cmocka_unit_test(test_create_never_repeated),
		cmocka_unit_test(test_token_expires_mid_listing),
		cmocka_unit_test(test_revoked_refresh_reauthenticates),
		cmocka_unit_test(test_adopts_stored_tokens),
		cmocka_unit_test(test_renews_before_expiry),
		cmocka_unit_test(test_store_failure_reported_once),
		cmocka_unit_test(test_secrets_never_logged),
	};

	return cmocka_run_group_tests_name("phone_faults", tests, setup,
	    teardown);
}

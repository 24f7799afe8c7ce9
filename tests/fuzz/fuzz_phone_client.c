/*
 * fuzz_phone_client: the phone client as the daemon runs it (phone.c,
 * phone_auth.c, phone_scim.c, phone_list.c, phone_bulk.c), answered by
 * the fuzzer instead of a server. http_submit is replaced at link time
 * (-Wl,--wrap=http_submit): each request the client sends is queued here
 * and answered, in order, from the input.
 * This reaches the response handling the pure parsers do not see: the
 * OAuth grants and 401 renewals, the SCIM search's ListResponse, paged
 * lists, custom fields, discovery, and bulk updates polled until their
 * task completes.
 *
 * Input: a first line of calls to start at once (find create activate
 * delete config schemas extensions numbers fields bulk code check), then
 * one section per response, sections separated by a line "--". A section
 * is a line "<status> [<retry-after>]" or "E <unsent|sent|large|tls|
 * refused>" (a transport failure), then the body. Requests left when the
 * input ends fail as unsent.
 *
 * Oracles: every call calls back exactly once and the client ends with
 * nothing pending; every request goes to the configured server; what a
 * callback gets as a success is complete (the fields phone.h promises).
 */
#include <ev.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <unistd.h>

#include "fuzz.h"
#include "http.h"
#include "log.h"
#include "phone.h"
#include "util.h"

#define SERVER "https://platform.example.test"
#define MAX_STEPS 20000
#define MAX_CALLS 16

void __wrap_http_submit(struct http *h, const struct http_request *req,
    http_done_cb *cb, void *arg);

/* A request the client submitted, waiting for its answer. */
struct pending {
	TAILQ_ENTRY(pending) link;
	http_done_cb *cb;
	void *arg;
};

static TAILQ_HEAD(, pending) queue = TAILQ_HEAD_INITIALIZER(queue);
static struct ev_loop *loop;
static char secret_path[32], jwt_path[32];
static int calls_done[MAX_CALLS];

void
__wrap_http_submit(struct http *h, const struct http_request *req,
    http_done_cb *cb, void *arg)
{
	struct pending *q = calloc(1, sizeof(*q));

	(void)h;
	if (q == NULL)
		abort();
	/* a token only ever goes to the configured server */
	fz_check(strncmp(req->url, SERVER "/", strlen(SERVER) + 1) == 0);
	fz_check(req->method != NULL && req->group < HTTP_NGROUPS);
	fz_check(req->body == NULL || strlen(req->body) == req->body_len);
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&queue, q, link);
}

/* answer: the oldest request gets the next section (or fails unsent). */
static void
answer(struct fz *f)
{
	static const char *const errs[] = { "", "unsent", "sent", "large", "tls",
		"refused", "redirect" };
	struct pending *q = TAILQ_FIRST(&queue);
	struct http_response resp;
	struct fz s;
	char *sec, *head, *body;
	size_t len = 0;

	TAILQ_REMOVE(&queue, q, link);
	memset(&resp, 0, sizeof(resp));
	resp.result = HTTP_E_UNSENT;
	resp.retry_after = -1;
	resp.attempts = 1;
	resp.error = "connection refused";
	sec = fz_section(f, &len);
	s.p = sec;
	s.n = sec ? len : 0;
	head = fz_line(&s, NULL);
	/* the http module hands over a NUL-terminated body (NULs allowed) */
	body = calloc(1, s.n + 1);
	if (s.n > 0)
		memcpy(body, s.p, s.n);
	if (head != NULL && head[0] == 'E') {
		for (size_t i = 1; i < sizeof(errs) / sizeof(errs[0]); i++)
			if (strcmp(head + (head[1] ? 2 : 1), errs[i]) == 0)
				resp.result = (enum http_result)i;
	} else if (head != NULL) {
		char *end;

		resp.result = HTTP_OK;
		resp.error = "";
		resp.status = strtol(head, &end, 10);
		if (*end == ' ') /* as http_retry_after_parse bounds it */
			resp.retry_after = (int)(strtoul(end + 1, NULL, 10) % 86401);
		if (resp.status < 100 || resp.status > 599)
			resp.status = 200;
		resp.body = body;
		resp.body_len = s.n;
		resp.content_type = "application/json";
	}
	q->cb(&resp, q->arg);
	free(body);
	free(head);
	free(sec);
	free(q);
}

/* ---------------------------------------------------------------------
 * The callbacks: each checks what it gets and counts itself. */

static void
done(void *arg)
{
	int *n = arg;

	(*n)++;
}

static void
user_cb(const struct phone_error *err, const struct phone_user *u, void *arg)
{
	fz_check(err != NULL);
	if (u != NULL) {
		fz_check(err->kind == PHONE_OK);
		fz_check(u->id != NULL && *u->id != '\0' && u->user_name != NULL);
	}
	done(arg);
}

static void
find_cb(const struct phone_error *err, const struct phone_user *u, void *arg)
{
	/* a search only ever returns the user asked for */
	if (u != NULL)
		fz_check(util_str_eq_nocase(u->email, "ann@example.com") ||
		    util_str_eq_nocase(u->user_name, "ann@example.com"));
	user_cb(err, u, arg);
}

static void
done_cb(const struct phone_error *err, void *arg)
{
	fz_check(err != NULL && err->kind >= PHONE_OK &&
	    err->kind <= PHONE_EXTENSION_IN_USE);
	done(arg);
}

static void
ext_page_cb(const struct phone_extension *v, size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		fz_check(v[i].status != NULL);
}

static void
num_page_cb(const struct phone_number *v, size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		fz_check(v[i].phone_number != NULL && v[i].usage_type != NULL);
}

static void
fields_cb(const struct phone_error *err, const struct phone_custom_field *v,
    size_t n, void *arg)
{
	fz_check(err->kind == PHONE_OK || (v == NULL && n == 0));
	for (size_t i = 0; i < n; i++)
		fz_check(v[i].id != NULL && v[i].display_name != NULL);
	done(arg);
}

static void
spc_cb(const struct phone_error *err, const struct phone_spc *spc, void *arg)
{
	fz_check((err->kind == PHONE_OK) == (spc != NULL));
	done(arg);
}

static void
schema_cb(const struct phone_error *err, const struct phone_schema *s,
    void *arg)
{
	fz_check((err->kind == PHONE_OK) == (s != NULL));
	for (size_t i = 0; s != NULL && i < s->n; i++)
		fz_check(s->v[i].name != NULL && s->v[i].type != NULL);
	done(arg);
}

static const long long bulk_ids[] = { 101, 102, 101 };

static void
bulk_cb(const struct phone_error *err, const struct phone_bulk_result *v,
    size_t n, void *arg)
{
	fz_check(err != NULL && n == 3);
	for (size_t i = 0; i < n; i++) {
		fz_check(v[i].extension_id == bulk_ids[i]);
		fz_check(v[i].ok ? v[i].err.kind == PHONE_OK :
		    v[i].err.kind != PHONE_OK);
	}
	done(arg);
}

static void
event_cb(const struct phone_event *ev, void *arg)
{
	(void)arg;
	fz_check(ev->kind >= PHONE_EV_RETRY &&
	    ev->kind <= PHONE_EV_REDIRECT_REFUSED);
}

/* ---------------------------------------------------------------------
 * The calls */

static void
start(struct phone *p, const char *name, int *count)
{
	static const struct phone_ext_filter filter = { "User", NULL, NULL };
	static const struct phone_profile prof = { .field = {
		[PHONE_F_FIRST_NAME] = "Ann", [PHONE_F_LAST_NAME] = "Lee",
		[PHONE_F_EMAIL] = "ann@example.com", [PHONE_F_STATE] = "CA",
		[PHONE_F_COUNTRY] = "US", [PHONE_F_DEPARTMENT] = "Sales",
	} };
	static const struct phone_custom_value cv = { "1", "CC-1" };
	static const struct phone_profile prof_cf = { .custom = &cv, .ncustom = 1 };
	const struct phone_bulk_item items[3] = {
		{ bulk_ids[0], &prof, NULL, NULL, NULL },
		{ bulk_ids[1], NULL, "Disabled", NULL, "main-site" },
		{ bulk_ids[2], &prof_cf, "Enabled", "150", NULL },
	};
	static const struct phone_code_grant code = { "fuzz-code",
		"http://127.0.0.1:8123/callback", "fuzz-verifier-fuzz-verifier-fuzz" };

	if (strcmp(name, "find") == 0)
		phone_find_user(p, "ann@example.com", find_cb, count);
	else if (strcmp(name, "create") == 0)
		phone_create_user(p, &prof, "cba4b4e1-ead4-4c97-8904-8901509e4400",
		    user_cb, count);
	else if (strcmp(name, "activate") == 0)
		phone_set_active(p, "101", 1, user_cb, count);
	else if (strcmp(name, "delete") == 0)
		phone_delete_user(p, "101", user_cb, count);
	else if (strcmp(name, "config") == 0)
		phone_scim_config(p, spc_cb, count);
	else if (strcmp(name, "schemas") == 0)
		phone_scim_schemas(p, schema_cb, count);
	else if (strcmp(name, "extensions") == 0)
		phone_list_extensions(p, &filter, ext_page_cb, done_cb, count);
	else if (strcmp(name, "numbers") == 0)
		phone_list_numbers(p, "DirectNumber", num_page_cb, done_cb, count);
	else if (strcmp(name, "fields") == 0)
		phone_custom_fields(p, fields_cb, count);
	else if (strcmp(name, "bulk") == 0)
		phone_bulk_update(p, items, 3, bulk_cb, count);
	else if (strcmp(name, "code") == 0)
		phone_auth_code(p, &code, done_cb, count);
	else if (strcmp(name, "check") == 0)
		phone_auth_check(p, done_cb, count);
	else
		*count = 1; /* not a call: nothing to wait for */
}

/* memfd: a file of text, by a /proc path (nothing left behind on a crash). */
static void
memfd(const char *text, char *path, size_t len)
{
	int fd = memfd_create("fuzz-secret", 0);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	snprintf(path, len, "/proc/self/fd/%d", fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	util_json_init();
	memfd("fake-client-secret\n", secret_path, sizeof(secret_path));
	memfd("fake.jwt.credential\n", jwt_path, sizeof(jwt_path));
	loop = ev_loop_new(EVFLAG_AUTO);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_telephony cfg = { .brand = "TELUS Business Connect",
		.server = SERVER, .client_id = "fuzz-client",
		.client_secret_file = secret_path, .jwt_file = jwt_path,
		.tls_verify = 1, .timeout = 30 };
	struct phone_opts opts = { .poll_first = 1e-6, .poll_max = 1e-6,
		.per_page = 2 };
	struct fz f = { (const char *)data, size };
	char err[256], *first = fz_line(&f, NULL), *save = NULL, *name;
	struct phone *p;
	int ncalls = 0, steps;

	if (first == NULL)
		return 0;
	p = phone_new(loop, &cfg, NULL, &opts, err, sizeof(err));
	fz_check(p != NULL);
	phone_set_event_cb(p, event_cb, NULL);
	memset(calls_done, 0, sizeof(calls_done));
	for (name = strtok_r(first, " ", &save); name != NULL && ncalls < MAX_CALLS;
	    name = strtok_r(NULL, " ", &save), ncalls++)
		start(p, name, &calls_done[ncalls]);
	for (steps = 0; steps < MAX_STEPS; steps++) {
		if (!TAILQ_EMPTY(&queue))
			answer(&f);
		else if (phone_pending(p) > 0)
			ev_run(loop, EVRUN_ONCE); /* deferred ends, task polls */
		else
			break;
	}
	/* every call ended, exactly once, with nothing left behind */
	fz_check(steps < MAX_STEPS);
	fz_check(TAILQ_EMPTY(&queue));
	for (int i = 0; i < ncalls; i++)
		fz_check(calls_done[i] == 1);
	phone_free(p);
	free(first);
	log_secret_clear();
	return 0;
}

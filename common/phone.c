/*
 * phone: the client's core (phone.h, phone_int.h): requests and the
 * client itself. The calls are in phone_scim.c (SCIM users, discovery),
 * phone_list.c (paged lists, custom fields) and phone_bulk.c (bulk
 * updates); OAuth is in phone_auth.c.
 *
 * A request goes out with the current access token; a 401 renews the
 * token (refresh once, then JWT re-authentication) and sends it again. A
 * 2xx body must be JSON; anything else is typed by phone_error_parse.
 * Calls are small state machines over requests: a search, a create, a
 * PATCH, discovery, paged lists (page N+1 is asked with the same query:
 * the server's nextPage URI is a hint, never followed, so a token is only
 * ever sent to the configured server) and bulk updates (chunks of 500,
 * each polled until its task completes).
 */
#include "phone_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define SCIM_JSON "application/scim+json"
#define REST_JSON "application/json"

/* ---------------------------------------------------------------------
 * Requests */

static enum http_group
call_group(enum phone_call c)
{
	switch (c) {
	case PHONE_CALL_TOKEN:
	case PHONE_CALL_REVOKE:
	case PHONE_CALL_WS_TOKEN:
		return HTTP_AUTH;
	case PHONE_CALL_SCIM_CREATE:
	case PHONE_CALL_SCIM_PATCH:
	case PHONE_CALL_SCIM_DELETE:
	case PHONE_CALL_BULK_UPDATE:
	case PHONE_CALL_NUMBERS:
	case PHONE_CALL_BATCH_CREATE:
	case PHONE_CALL_ROLE_ASSIGN:
	case PHONE_CALL_PHOTO_PUT:
		return HTTP_HEAVY;
	case PHONE_CALL_EXTENSIONS:
	case PHONE_CALL_DIRECTORY:
	case PHONE_CALL_EXTENSION_CREATE:
	case PHONE_CALL_ROLES:
	case PHONE_CALL_PHOTO_GET:
	case PHONE_CALL_PHOTO_DELETE:
		return HTTP_MEDIUM;
	default:
		return HTTP_LIGHT;
	}
}

/*
 * background: the import's reads (whole lists, one user's numbers) wait
 * for the writes and take at most read_share of a budget; a lookup of one
 * user by email is the pusher's, and goes with the writes.
 */
static int
background(const struct phone_req *r)
{
	switch (r->call) {
	case PHONE_CALL_DIRECTORY:
	case PHONE_CALL_NUMBERS:
	case PHONE_CALL_EXT_NUMBERS:
	case PHONE_CALL_SITES:
	case PHONE_CALL_ROLES:
	case PHONE_CALL_DEFAULT_ROLE:
	case PHONE_CALL_COST_CENTERS:
	case PHONE_CALL_SERVICE_INFO:
		return 1;
	case PHONE_CALL_EXTENSIONS:
		return strstr(r->url, "email=") == NULL;
	default:
		return 0;
	}
}

static int
scim_call(enum phone_call c)
{
	return c >= PHONE_CALL_SCIM_SEARCH && c <= PHONE_CALL_SCIM_SCHEMAS;
}

struct phone_req *
phone_req_new(struct phone *p, enum phone_call call, const char *method,
    const char *url)
{
	struct phone_req *r = xcalloc(1, sizeof(*r));

	r->p = p;
	r->call = call;
	r->group = call_group(call);
	r->method = xstrdup(method);
	r->url = xstrdup(url);
	r->bearer = 1;
	r->idempotent = strcmp(method, "POST") != 0;
	r->ctype = scim_call(call) ? SCIM_JSON : REST_JSON;
	LIST_INSERT_HEAD(&p->reqs, r, link);
	return r;
}

static void
req_free(struct phone_req *r)
{
	LIST_REMOVE(r, link);
	if (r->body != NULL)
		explicit_bzero(r->body, strlen(r->body));
	if (r->token_used != NULL)
		explicit_bzero(r->token_used, strlen(r->token_used));
	free(r->body);
	free(r->token_used);
	free(r->method);
	free(r->url);
	free(r);
}

static void
req_finish(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	r->done(r, err, body);
	req_free(r);
}

void
phone_req_defer(struct phone_req *r, const struct phone_error *err)
{
	struct phone *p = r->p;

	r->deferred = *err;
	r->queued = 1;
	TAILQ_INSERT_TAIL(&p->deferred, r, qlink);
	ev_timer_stop(p->loop, &p->defer_timer);
	ev_timer_set(&p->defer_timer, 0., 0.);
	ev_timer_start(p->loop, &p->defer_timer);
}

static void
defer_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct phone *p = w->data;
	struct phone_req *r;

	(void)loop;
	(void)revents;
	while ((r = TAILQ_FIRST(&p->deferred)) != NULL) {
		TAILQ_REMOVE(&p->deferred, r, qlink);
		r->queued = 0;
		req_finish(r, &r->deferred, NULL);
	}
}

/* phone_defer_error: end a call that cannot start, from the loop. */
void
phone_defer_error(struct phone *p, enum phone_call call,
    enum phone_err_kind kind, const char *detail, phone_req_done *done,
    void *ctx)
{
	struct phone_req *r = phone_req_new(p, call, "GET", "");
	struct phone_error e;

	phone_error_ok(&e, call);
	e.kind = kind;
	snprintf(e.detail, sizeof(e.detail), "%s", detail);
	r->done = done;
	r->ctx = ctx;
	phone_req_defer(r, &e);
}

static void
transport_error(const struct phone_req *r, const struct http_response *resp,
    struct phone_error *e)
{
	static const char *const codes[] = {
		[HTTP_OK] = "", [HTTP_E_UNSENT] = "connect",
		[HTTP_E_SENT] = "interrupted", [HTTP_E_TOO_LARGE] = "too-large",
		[HTTP_E_TLS] = "tls", [HTTP_E_REFUSED] = "refused",
		[HTTP_E_REDIRECT] = "redirect",
	};

	phone_error_ok(e, r->call);
	e->kind = resp->result == HTTP_E_TOO_LARGE ? PHONE_MALFORMED :
	    PHONE_TRANSIENT;
	e->may_have_acted = resp->result == HTTP_E_SENT;
	snprintf(e->code, sizeof(e->code), "%s", codes[resp->result]);
	snprintf(e->detail, sizeof(e->detail), "%s", resp->error);
}

static void
req_unauthorized(struct phone_req *r, const struct http_response *resp)
{
	struct phone *p = r->p;
	const char *cur = phone_auth_token(p);
	struct phone_error e;

	if (cur != NULL && (r->token_used == NULL ||
	    strcmp(cur, r->token_used) != 0)) {
		phone_req_send(r); /* renewed since it went out */
		return;
	}
	if (++r->auth_tries > 2) {
		phone_error_parse(r->call, resp->status, resp->body,
		    resp->body_len, &e);
		phone_auth_failed(p, e.code[0] ? e.code : "refused");
		req_finish(r, &e, NULL);
		return;
	}
	phone_auth_rejected(p, r->token_used);
	/* first 401: refresh; second: re-authenticate with the JWT */
	phone_auth_wait(p, r, r->auth_tries == 2);
}

static void
req_http_cb(const struct http_response *resp, void *arg)
{
	struct phone_req *r = arg;
	struct phone_error e;
	json_t *j;

	if (r->bearer && resp->result == HTTP_OK && resp->status == 401) {
		req_unauthorized(r, resp);
		return;
	}
	if (resp->result != HTTP_OK) {
		transport_error(r, resp, &e);
		req_finish(r, &e, NULL);
		return;
	}
	if (resp->status < 200 || resp->status > 299) {
		phone_error_parse(r->call, resp->status, resp->body,
		    resp->body_len, &e);
		e.retry_after = resp->retry_after;
		req_finish(r, &e, NULL);
		return;
	}
	phone_error_ok(&e, r->call);
	e.http_status = resp->status;
	if (r->call == PHONE_CALL_PHOTO_GET) {
		/* an image, not JSON: borrowed by the op for the callback */
		r->raw = resp->body;
		r->raw_len = resp->body_len;
		req_finish(r, &e, NULL);
		return;
	}
	if ((resp->status == 204 && (r->call == PHONE_CALL_SCIM_DELETE ||
	    r->call == PHONE_CALL_ROLE_ASSIGN || r->call == PHONE_CALL_PHOTO_PUT ||
	    r->call == PHONE_CALL_PHOTO_DELETE)) || r->call == PHONE_CALL_REVOKE) {
		/* No Content, or a revocation's empty answer: what is expected */
		req_finish(r, &e, NULL);
		return;
	}
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (j == NULL) {
		e.kind = PHONE_MALFORMED;
		snprintf(e.detail, sizeof(e.detail), "the response (HTTP %ld, "
		    "%zu bytes) is not JSON", resp->status, resp->body_len);
	}
	req_finish(r, &e, j);
	json_decref(j);
}

void
phone_req_send(struct phone_req *r)
{
	struct phone *p = r->p;
	const char *hdrs[4], *tok;
	char *authz = NULL, *ctype = NULL;
	struct http_request hr;
	struct phone_error e;
	size_t nh = 0;

	if (r->bearer || r->probe) {
		if ((tok = phone_auth_token(p)) == NULL) {
			phone_auth_wait(p, r, 0);
			return;
		}
		if (r->probe) {
			phone_error_ok(&e, r->call);
			phone_req_defer(r, &e);
			return;
		}
		if (r->token_used != NULL)
			explicit_bzero(r->token_used, strlen(r->token_used));
		util_str_set(&r->token_used, tok);
		authz = xasprintf("Authorization: Bearer %s", tok);
		hdrs[nh++] = authz;
	}
	hdrs[nh++] = scim_call(r->call) ? "Accept: application/scim+json, "
	    "application/json" : "Accept: application/json";
	if (r->body != NULL)
		hdrs[nh++] = ctype = xasprintf("Content-Type: %s", r->ctype);
	else if (r->call == PHONE_CALL_PHOTO_GET)
		hdrs[nh - 1] = "Accept: image/*, application/json";
	hdrs[nh] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = r->method;
	hr.url = r->url;
	hr.group = r->group;
	hr.headers = hdrs;
	hr.body = r->body;
	hr.body_len = r->body ? strlen(r->body) : 0;
	hr.part = r->part.data != NULL ? &r->part : NULL;
	hr.basic_user = r->basic ? p->auth.client_id : NULL;
	hr.basic_password = r->basic ? p->auth.client_secret : NULL;
	hr.idempotent = r->idempotent;
	hr.max_attempts = p->opts.max_attempts;
	hr.background = background(r);
	http_submit(p->http, &hr, req_http_cb, r);
	if (authz != NULL)
		explicit_bzero(authz, strlen(authz));
	free(authz);
	free(ctype);
}

void
phone_emit(struct phone *p, const struct phone_event *ev)
{
	if (p->event_cb != NULL)
		p->event_cb(ev, p->event_arg);
}

static void
http_event_fwd(const struct http_event *hev, void *arg)
{
	struct phone_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = hev->kind == HTTP_EV_RETRY ? PHONE_EV_RETRY :
	    hev->kind == HTTP_EV_RATE_WAIT ? PHONE_EV_RATE_WAIT :
	    PHONE_EV_REDIRECT_REFUSED;
	ev.method = hev->method;
	ev.url = hev->url;
	ev.group = http_group_name(hev->group);
	ev.status = hev->status;
	ev.delay = hev->delay;
	ev.attempt = hev->attempt;
	ev.detail = hev->error;
	phone_emit(arg, &ev);
}

void *
phone_op_new(struct phone *p, size_t size, void (*clear)(struct phone_op *))
{
	struct phone_op *op = xcalloc(1, size);

	op->clear = clear;
	LIST_INSERT_HEAD(&p->ops, op, link);
	p->nops++;
	return op;
}

void
phone_op_end(struct phone *p, struct phone_op *op)
{
	LIST_REMOVE(op, link);
	p->nops--;
	if (op->clear != NULL)
		op->clear(op);
	free(op);
}

char *
phone_url(const struct phone *p, const char *path)
{
	return xasprintf("%s%s", p->server, path);
}

/* phone_url_add: append key=value to a URL's query, value percent-encoded. */
void
phone_url_add(char **url, const char *key, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0), *next;

	if (enc == NULL)
		abort(); /* fails only when memory runs out */
	next = xasprintf("%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', key,
	    enc);
	curl_free(enc);
	free(*url);
	*url = next;
}

/* phone_url_segment: base + "/" + the percent-encoded segment. */
char *
phone_url_segment(const struct phone *p, const char *base,
    const char *segment)
{
	char *enc = curl_easy_escape(NULL, segment, 0), *url;

	if (enc == NULL)
		abort();
	url = xasprintf("%s%s/%s", p->server, base, enc);
	curl_free(enc);
	return url;
}

void
phone_send_new(struct phone *p, enum phone_call call, const char *method,
    char *url, phone_req_done *done, void *ctx)
{
	struct phone_req *r = phone_req_new(p, call, method, url);

	free(url);
	r->done = done;
	r->ctx = ctx;
	phone_req_send(r);
}

void
phone_send_json(struct phone *p, enum phone_call call, const char *method,
    char *url, json_t *body, phone_req_done *done, void *ctx)
{
	struct phone_req *r = phone_req_new(p, call, method, url);

	free(url);
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r->done = done;
	r->ctx = ctx;
	phone_req_send(r);
}

void
phone_malformed(struct phone_error *e, const char *why)
{
	e->kind = PHONE_MALFORMED;
	snprintf(e->detail, sizeof(e->detail), "%s", why);
}

struct phone_op_any *
phone_simple_get(struct phone *p, enum phone_call call, const char *path,
    phone_req_done *done, void *arg)
{
	struct phone_op_any *op = phone_op_new(p, sizeof(*op), NULL);

	op->arg = arg;
	phone_send_new(p, call, "GET", phone_url(p, path), done, op);
	return op;
}

/* ---------------------------------------------------------------------
 * Calls answered by a done callback */

struct op_done {
	struct phone_op base;
	phone_done_cb *cb;
	void *arg;
};

static void
op_done_req(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_done *op = r->ctx;

	(void)body;
	op->cb(err, op->arg);
	phone_op_end(r->p, &op->base);
}

void
phone_auth_check(struct phone *p, phone_done_cb *cb, void *arg)
{
	struct op_done *op = phone_op_new(p, sizeof(*op), NULL);
	struct phone_req *r = phone_req_new(p, PHONE_CALL_TOKEN, "GET", "");

	op->cb = cb;
	op->arg = arg;
	r->probe = 1;
	r->bearer = 0;
	r->done = op_done_req;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_auth_code(struct phone *p, const struct phone_code_grant *g,
    phone_done_cb *cb, void *arg)
{
	struct op_done *op = phone_op_new(p, sizeof(*op), NULL);

	op->cb = cb;
	op->arg = arg;
	if (g->code == NULL || g->redirect_uri == NULL ||
	    g->code_verifier == NULL) {
		phone_defer_error(p, PHONE_CALL_TOKEN, PHONE_AUTH, "an "
		    "authorization code, its redirect_uri and the PKCE "
		    "verifier are needed", op_done_req, op);
		return;
	}
	phone_auth_grant_code(p, g, op_done_req, op);
}

/* ---------------------------------------------------------------------
 * The client */

static void
opts_defaults(struct phone_opts *o, const struct phone_opts *in)
{
	memset(o, 0, sizeof(*o));
	if (in != NULL)
		*o = *in;
	if (o->per_page <= 0 || o->per_page > 1000)
		o->per_page = 1000;
	if (o->poll_first <= 0)
		o->poll_first = 1;
	if (o->poll_max <= 0)
		o->poll_max = 5;
	if (o->task_timeout == 0)
		o->task_timeout = 600;
}

struct phone *
phone_new(struct ev_loop *loop, const struct config_telephony *cfg,
    struct store *st, const struct phone_opts *opts, char *err, size_t errlen)
{
	struct phone *p = xcalloc(1, sizeof(*p));
	struct http_opts ho;
	size_t len;

	p->loop = loop;
	p->st = st;
	opts_defaults(&p->opts, opts);
	LIST_INIT(&p->reqs);
	LIST_INIT(&p->ops);
	TAILQ_INIT(&p->deferred);
	ev_timer_init(&p->defer_timer, defer_timer_cb, 0., 0.);
	p->defer_timer.data = p;
	p->server = xstrdup(cfg->server ? cfg->server : "");
	len = strlen(p->server);
	while (len > 0 && p->server[len - 1] == '/')
		p->server[--len] = '\0';
	memset(&ho, 0, sizeof(ho));
	ho.ca_file = cfg->tls_ca_cert;
	ho.connect_to = cfg->connect_to;
	ho.verify = cfg->tls_verify;
	ho.timeout = cfg->timeout;
	ho.max_body = p->opts.max_body;
	ho.read_share = cfg->read_share;
	if (!http_url_allowed(p->server)) {
		util_errbuf_set(err, errlen, "server %s: only https:// (or http:// to "
		    "a loopback address) is allowed", p->server);
	} else if ((p->http = http_new(loop, &ho, err, errlen)) != NULL &&
	    phone_auth_init(p, cfg, err, errlen) == 0) {
		http_set_event_cb(p->http, http_event_fwd, p);
		return p;
	}
	phone_free(p);
	return NULL;
}

void
phone_cancel_all(struct phone *p)
{
	struct phone_op *op;

	if (p->http != NULL)
		http_cancel_all(p->http); /* no more http callbacks */
	while (!LIST_EMPTY(&p->reqs))
		req_free(LIST_FIRST(&p->reqs));
	/* every request of the two queues was freed above */
	TAILQ_INIT(&p->deferred);
	TAILQ_INIT(&p->auth.waiting);
	p->auth.granting = 0;
	while ((op = LIST_FIRST(&p->ops)) != NULL)
		phone_op_end(p, op);
	ev_timer_stop(p->loop, &p->defer_timer);
}

void
phone_free(struct phone *p)
{
	if (p == NULL)
		return;
	phone_cancel_all(p);
	http_free(p->http);
	phone_auth_fini(p);
	free(p->server);
	free(p);
}

void
phone_set_event_cb(struct phone *p, phone_event_cb *cb, void *arg)
{
	p->event_cb = cb;
	p->event_arg = arg;
}

size_t
phone_pending(const struct phone *p)
{
	return p->nops;
}

double
phone_write_wait(struct phone *p)
{
	return http_group_wait(p->http, HTTP_HEAVY);
}

unsigned long long
phone_requests(const struct phone *p)
{
	return http_sent(p->http);
}

void
phone_group_counts(const struct phone *p, enum http_group g,
    unsigned long long *sent, unsigned long long *limited)
{
	http_group_counts(p->http, g, sent, limited);
}

void
phone_group_use(struct phone *p, enum http_group g, struct http_group_use *u)
{
	http_group_use(p->http, g, u);
}

void
phone_group_budget(const struct phone *p, enum http_group g, int *limit,
    int *window)
{
	int inflight;

	http_group_state(p->http, g, limit, window, &inflight);
}

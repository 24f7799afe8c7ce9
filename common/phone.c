/*
 * phone: the client's requests and calls (phone.h, phone_int.h).
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

#define ACCOUNT "/restapi/v1.0/account/~"
#define SCIM "/scim/v2"
#define SCIM_JSON "application/scim+json"
#define REST_JSON "application/json"
#define PATCH_URN "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#define MAX_PAGES 100000

/* ---------------------------------------------------------------------
 * Requests */

static enum http_group
call_group(enum phone_call c)
{
	switch (c) {
	case PHONE_CALL_TOKEN:
		return HTTP_AUTH;
	case PHONE_CALL_SCIM_CREATE:
	case PHONE_CALL_SCIM_PATCH:
	case PHONE_CALL_SCIM_DELETE:
	case PHONE_CALL_BULK_UPDATE:
	case PHONE_CALL_NUMBERS:
		return HTTP_HEAVY;
	case PHONE_CALL_EXTENSIONS:
		return HTTP_MEDIUM;
	default:
		return HTTP_LIGHT;
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

/* defer_error: end a call that cannot start, from the loop. */
static void
defer_error(struct phone *p, enum phone_call call, enum phone_err_kind kind,
    const char *detail, phone_req_done *done, void *ctx)
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
	if (resp->status == 204 && r->call == PHONE_CALL_SCIM_DELETE) {
		req_finish(r, &e, NULL); /* No Content: the expected answer */
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
		str_set(&r->token_used, tok);
		authz = xasprintf("Authorization: Bearer %s", tok);
		hdrs[nh++] = authz;
	}
	hdrs[nh++] = scim_call(r->call) ? "Accept: application/scim+json, "
	    "application/json" : "Accept: application/json";
	if (r->body != NULL)
		hdrs[nh++] = ctype = xasprintf("Content-Type: %s", r->ctype);
	hdrs[nh] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = r->method;
	hr.url = r->url;
	hr.group = r->group;
	hr.headers = hdrs;
	hr.body = r->body;
	hr.body_len = r->body ? strlen(r->body) : 0;
	hr.basic_user = r->basic ? p->auth.client_id : NULL;
	hr.basic_password = r->basic ? p->auth.client_secret : NULL;
	hr.idempotent = r->idempotent;
	hr.max_attempts = p->opts.max_attempts;
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
	ev.kind = hev->kind == HTTP_EV_RETRY ? PHONE_EV_RETRY : PHONE_EV_RATE_WAIT;
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

/* url_add: append key=value to a URL's query, value percent-encoded. */
static void
url_add(char **url, const char *key, const char *value)
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

/* url_segment: base + "/" + the percent-encoded segment. */
static char *
url_segment(const struct phone *p, const char *base, const char *segment)
{
	char *enc = curl_easy_escape(NULL, segment, 0), *url;

	if (enc == NULL)
		abort();
	url = xasprintf("%s%s/%s", p->server, base, enc);
	curl_free(enc);
	return url;
}

static void
send_new(struct phone *p, enum phone_call call, const char *method,
    char *url, phone_req_done *done, void *ctx)
{
	struct phone_req *r = phone_req_new(p, call, method, url);

	free(url);
	r->done = done;
	r->ctx = ctx;
	phone_req_send(r);
}

static void
malformed(struct phone_error *e, const char *why)
{
	e->kind = PHONE_MALFORMED;
	snprintf(e->detail, sizeof(e->detail), "%s", why);
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
		defer_error(p, PHONE_CALL_TOKEN, PHONE_AUTH, "an authorization "
		    "code, its redirect_uri and the PKCE verifier are needed",
		    op_done_req, op);
		return;
	}
	phone_auth_grant_code(p, g, op_done_req, op);
}

/* ---------------------------------------------------------------------
 * SCIM users */

struct op_user {
	struct phone_op base;
	phone_user_cb *cb;
	void *arg;
	char *email;      /* searches: what was asked */
};

static void
op_user_clear(struct phone_op *op)
{
	free(((struct op_user *)op)->email);
}

static void
user_reply(struct phone_req *r, struct phone_error *e, const json_t *user)
{
	struct op_user *op = r->ctx;
	struct phone_user u = { 0 };
	int have = 0;

	if (e->kind == PHONE_OK && user != NULL) {
		if (phone_parse_user(user, &u, e->detail, sizeof(e->detail)) < 0)
			e->kind = PHONE_MALFORMED;
		else
			have = 1;
	}
	op->cb(e, have ? &u : NULL, op->arg);
	phone_user_clear(&u);
	phone_op_end(r->p, &op->base);
}

static void
user_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_error e = *err;

	user_reply(r, &e, body);
}

/* search_pick: the one user of a ListResponse, NULL for none; kind set. */
static const json_t *
search_pick(const json_t *body, struct phone_error *e)
{
	const json_t *total = json_object_get(body, "totalResults");
	const json_t *res = json_object_get(body, "Resources");
	const json_t *user;
	long long n;

	if (!json_is_integer(total) || (res != NULL && !json_is_array(res))) {
		malformed(e, "SCIM search: totalResults or Resources invalid");
		return NULL;
	}
	n = json_integer_value(total);
	if (n > 1 || json_array_size(res) > 1) {
		e->kind = PHONE_DUPLICATE_EMAIL;
		return NULL;
	}
	if (n == 0 && json_array_size(res) == 0)
		return NULL;
	user = json_array_get(res, 0);
	if (n != 1 || user == NULL)
		malformed(e, "SCIM search: totalResults does not match Resources");
	return user;
}

static void
search_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_user *op = r->ctx;
	struct phone_error e = *err;
	const json_t *user = NULL;
	struct phone_user u = { 0 };
	int have = 0;

	if (e.kind == PHONE_OK)
		user = search_pick(body, &e);
	if (e.kind == PHONE_OK && user != NULL) {
		if (phone_parse_user(user, &u, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else if (!str_eq_nocase(u.email, op->email) &&
		    !str_eq_nocase(u.user_name, op->email))
			malformed(&e, "SCIM search: the user found has another "
			    "email");
		else
			have = 1;
	}
	if (e.kind == PHONE_DUPLICATE_EMAIL)
		snprintf(e.value, sizeof(e.value), "%s", op->email);
	op->cb(&e, have ? &u : NULL, op->arg);
	phone_user_clear(&u);
	phone_op_end(r->p, &op->base);
}

/* scim_quote: value as a SCIM filter string literal (RFC 7644 3.4.2.2). */
static char *
scim_quote(const char *value)
{
	char *out = xmalloc(2 * strlen(value) + 3), *o = out;

	*o++ = '"';
	for (const char *s = value; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

void
phone_find_user(struct phone *p, const char *email, phone_user_cb *cb,
    void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	char *url, *q, *filter;

	op->cb = cb;
	op->arg = arg;
	op->email = xstrdup(email ? email : "");
	if (email == NULL || *email == '\0') {
		defer_error(p, PHONE_CALL_SCIM_SEARCH, PHONE_DATA, "no email to "
		    "search for", user_done, op);
		return;
	}
	q = scim_quote(email);
	filter = xasprintf("email eq %s", q);
	url = phone_url(p, SCIM "/Users");
	url_add(&url, "filter", filter);
	url_add(&url, "startIndex", "1");
	url_add(&url, "count", "2");
	free(q);
	free(filter);
	send_new(p, PHONE_CALL_SCIM_SEARCH, "GET", url, search_done, op);
}

void
phone_create_user(struct phone *p, const struct phone_profile *prof,
    const char *external_id, phone_user_cb *cb, void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	char *url = phone_url(p, SCIM "/Users"), why[256];
	json_t *body = phone_scim_create_body(prof, external_id, why, sizeof(why));
	struct phone_req *r;

	op->cb = cb;
	op->arg = arg;
	if (body == NULL) {
		free(url);
		defer_error(p, PHONE_CALL_SCIM_CREATE, PHONE_DATA, why, user_done,
		    op);
		return;
	}
	r = phone_req_new(p, PHONE_CALL_SCIM_CREATE, "POST", url);
	free(url);
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r->idempotent = 0; /* a repeated create could make a second user */
	r->done = user_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_set_active(struct phone *p, const char *user_id, int active,
    phone_user_cb *cb, void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	struct phone_req *r;
	json_t *body;
	char *url;

	op->cb = cb;
	op->arg = arg;
	if (user_id == NULL || *user_id == '\0') {
		defer_error(p, PHONE_CALL_SCIM_PATCH, PHONE_DATA, "no user id",
		    user_done, op);
		return;
	}
	url = url_segment(p, SCIM "/Users", user_id);
	r = phone_req_new(p, PHONE_CALL_SCIM_PATCH, "PATCH", url);
	free(url);
	body = json_pack("{s:[s], s:[{s:s, s:s, s:b}]}", "schemas", PATCH_URN,
	    "Operations", "op", "replace", "path", "active", "value", active);
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r->idempotent = 1; /* replacing a value twice changes nothing */
	r->done = user_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_delete_user(struct phone *p, const char *user_id, phone_user_cb *cb,
    void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	struct phone_req *r;
	char *url;

	op->cb = cb;
	op->arg = arg;
	if (user_id == NULL || *user_id == '\0') {
		defer_error(p, PHONE_CALL_SCIM_DELETE, PHONE_DATA, "no user id",
		    user_done, op);
		return;
	}
	url = url_segment(p, SCIM "/Users", user_id);
	r = phone_req_new(p, PHONE_CALL_SCIM_DELETE, "DELETE", url);
	free(url);
	r->idempotent = 1; /* a second DELETE finds nothing: NOT_FOUND */
	r->done = user_done;
	r->ctx = op;
	phone_req_send(r);
}

/* ---------------------------------------------------------------------
 * Discovery and custom fields */

struct op_any {
	struct phone_op base;
	union {
		phone_spc_cb *spc;
		phone_schema_cb *schema;
		phone_custom_fields_cb *fields;
	} cb;
	void *arg;
};

static void
spc_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_any *op = r->ctx;
	struct phone_error e = *err;
	struct phone_spc spc;
	int ok = 0;

	if (e.kind == PHONE_OK) {
		if (phone_parse_spc(body, &spc, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			ok = 1;
	}
	op->cb.spc(&e, ok ? &spc : NULL, op->arg);
	phone_op_end(r->p, &op->base);
}

static void
schemas_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_any *op = r->ctx;
	struct phone_error e = *err;
	struct phone_schema s = { 0 };
	int ok = 0;

	if (e.kind == PHONE_OK) {
		if (phone_parse_schemas(body, &s, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			ok = 1;
	}
	op->cb.schema(&e, ok ? &s : NULL, op->arg);
	phone_schema_clear(&s);
	phone_op_end(r->p, &op->base);
}

static void
fields_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_any *op = r->ctx;
	struct phone_error e = *err;
	const json_t *recs = json_object_get(body, "records"), *rec;
	struct phone_custom_field *v = NULL;
	size_t n = 0, i;

	if (e.kind == PHONE_OK && !json_is_array(recs))
		malformed(&e, "custom fields: records is not an array");
	if (e.kind == PHONE_OK) {
		v = xcalloc(json_array_size(recs) + 1, sizeof(*v));
		json_array_foreach(recs, i, rec) {
			if (phone_parse_custom_field(rec, &v[n], e.detail,
			    sizeof(e.detail)) < 0) {
				e.kind = PHONE_MALFORMED;
				break;
			}
			n++;
		}
	}
	op->cb.fields(&e, e.kind == PHONE_OK ? v :
	    NULL, e.kind == PHONE_OK ? n : 0, op->arg);
	for (i = 0; i < n; i++)
		phone_custom_field_clear(&v[i]);
	free(v);
	phone_op_end(r->p, &op->base);
}

static struct op_any *
simple_get(struct phone *p, enum phone_call call, const char *path,
    phone_req_done *done, void *arg)
{
	struct op_any *op = phone_op_new(p, sizeof(*op), NULL);

	op->arg = arg;
	send_new(p, call, "GET", phone_url(p, path), done, op);
	return op;
}

void
phone_scim_config(struct phone *p, phone_spc_cb *cb, void *arg)
{
	simple_get(p, PHONE_CALL_SCIM_CONFIG, SCIM "/ServiceProviderConfig",
	    spc_done, arg)->cb.spc = cb;
}

void
phone_scim_schemas(struct phone *p, phone_schema_cb *cb, void *arg)
{
	simple_get(p, PHONE_CALL_SCIM_SCHEMAS, SCIM "/Schemas", schemas_done,
	    arg)->cb.schema = cb;
}

void
phone_custom_fields(struct phone *p, phone_custom_fields_cb *cb, void *arg)
{
	simple_get(p, PHONE_CALL_CUSTOM_FIELDS, ACCOUNT "/custom-fields",
	    fields_done, arg)->cb.fields = cb;
}

/* ---------------------------------------------------------------------
 * Paged lists */

struct op_list {
	struct phone_op base;
	enum phone_call call;
	char *url;                 /* without page and perPage */
	long long page;
	phone_extensions_cb *ext;
	phone_numbers_cb *num;
	phone_done_cb *done;
	void *arg;
};

static void
op_list_clear(struct phone_op *op)
{
	free(((struct op_list *)op)->url);
}

static void list_request(struct phone *p, struct op_list *op);

/* list_extensions: validate every record, then hand the page over. */
static int
list_extensions(struct op_list *op, const json_t *recs, struct phone_error *e)
{
	size_t n = 0, i;
	struct phone_extension *v = xcalloc(json_array_size(recs) + 1,
	    sizeof(*v));
	const json_t *rec;
	int rc = 0;

	json_array_foreach(recs, i, rec) {
		if (phone_parse_extension(rec, &v[n], e->detail,
		    sizeof(e->detail)) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0)
		op->ext(v, n, op->arg);
	for (i = 0; i < n; i++)
		phone_extension_clear(&v[i]);
	free(v);
	return rc;
}

static int
list_numbers(struct op_list *op, const json_t *recs, struct phone_error *e)
{
	size_t n = 0, i;
	struct phone_number *v = xcalloc(json_array_size(recs) + 1, sizeof(*v));
	const json_t *rec;
	int rc = 0;

	json_array_foreach(recs, i, rec) {
		if (phone_parse_number(rec, &v[n], e->detail,
		    sizeof(e->detail)) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0)
		op->num(v, n, op->arg);
	for (i = 0; i < n; i++)
		phone_number_clear(&v[i]);
	free(v);
	return rc;
}

static void
list_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_list *op = r->ctx;
	struct phone_error e = *err;
	const json_t *recs = json_object_get(body, "records");
	struct phone_page pg;

	if (e.kind == PHONE_OK && !json_is_array(recs))
		malformed(&e, "list: records is not an array");
	if (e.kind == PHONE_OK && phone_parse_page(body, op->page, &pg,
	    e.detail, sizeof(e.detail)) < 0)
		e.kind = PHONE_MALFORMED;
	if (e.kind == PHONE_OK && (op->call == PHONE_CALL_EXTENSIONS ?
	    list_extensions(op, recs, &e) : list_numbers(op, recs, &e)) < 0)
		e.kind = PHONE_MALFORMED;
	if (e.kind == PHONE_OK && pg.has_next) {
		if (op->page < MAX_PAGES) {
			op->page++;
			list_request(r->p, op);
			return;
		}
		malformed(&e, "list: more pages than any account has");
	}
	op->done(&e, op->arg);
	phone_op_end(r->p, &op->base);
}

static void
list_request(struct phone *p, struct op_list *op)
{
	char *url = xstrdup(op->url), num[32];

	snprintf(num, sizeof(num), "%lld", op->page);
	url_add(&url, "page", num);
	snprintf(num, sizeof(num), "%d", p->opts.per_page);
	url_add(&url, "perPage", num);
	send_new(p, op->call, "GET", url, list_done, op);
}

static struct op_list *
list_new(struct phone *p, enum phone_call call, const char *path,
    phone_done_cb *done, void *arg)
{
	struct op_list *op = phone_op_new(p, sizeof(*op), op_list_clear);

	op->call = call;
	op->url = phone_url(p, path);
	op->page = 1;
	op->done = done;
	op->arg = arg;
	return op;
}

void
phone_list_extensions(struct phone *p, const struct phone_ext_filter *f,
    phone_extensions_cb *page, phone_done_cb *done, void *arg)
{
	struct op_list *op = list_new(p, PHONE_CALL_EXTENSIONS,
	    ACCOUNT "/extension", done, arg);

	op->ext = page;
	if (f != NULL && f->type != NULL)
		url_add(&op->url, "type", f->type);
	if (f != NULL && f->status != NULL)
		url_add(&op->url, "status", f->status);
	if (f != NULL && f->email != NULL)
		url_add(&op->url, "email", f->email);
	list_request(p, op);
}

void
phone_list_numbers(struct phone *p, const char *usage_type,
    phone_numbers_cb *page, phone_done_cb *done, void *arg)
{
	struct op_list *op = list_new(p, PHONE_CALL_NUMBERS,
	    ACCOUNT "/phone-number", done, arg);

	op->num = page;
	if (usage_type != NULL)
		url_add(&op->url, "usageType", usage_type);
	list_request(p, op);
}

/* ---------------------------------------------------------------------
 * Bulk updates */

struct op_bulk;

struct bulk_chunk {
	struct op_bulk *op;        /* not owned */
	size_t off, n;             /* its records: res[off .. off + n - 1] */
	char *body;                /* owned until sent */
	char *task_id;             /* owned */
	double delay, deadline;    /* polling */
	ev_timer poll;
};

struct op_bulk {
	struct phone_op base;
	struct phone *p;           /* not owned */
	struct bulk_chunk *chunks; /* owned */
	size_t nchunks, nleft;
	struct phone_bulk_result *res; /* owned */
	size_t n;
	struct phone_error first;  /* the first request-level error */
	phone_bulk_cb *cb;
	void *arg;
};

static void
op_bulk_clear(struct phone_op *base)
{
	struct op_bulk *op = (struct op_bulk *)base;

	for (size_t i = 0; i < op->nchunks; i++) {
		ev_timer_stop(op->p->loop, &op->chunks[i].poll);
		free(op->chunks[i].body);
		free(op->chunks[i].task_id);
	}
	free(op->chunks);
	free(op->res);
}

static void
chunk_end(struct bulk_chunk *c)
{
	struct op_bulk *op = c->op;

	if (--op->nleft > 0)
		return;
	op->cb(&op->first, op->res, op->n, op->arg);
	phone_op_end(op->p, &op->base);
}

static void
chunk_fail(struct bulk_chunk *c, const struct phone_error *e)
{
	struct op_bulk *op = c->op;

	for (size_t i = c->off; i < c->off + c->n; i++) {
		op->res[i].ok = 0;
		op->res[i].err = *e;
	}
	if (op->first.kind == PHONE_OK)
		op->first = *e;
	chunk_end(c);
}

/* chunk_task: a task view arrived: done, or poll again later. */
static void
chunk_task(struct bulk_chunk *c, const struct phone_error *err,
    const json_t *body)
{
	struct op_bulk *op = c->op;
	struct phone_error e = *err;
	double now = ev_now(op->p->loop);
	int rc;

	if (e.kind != PHONE_OK) {
		chunk_fail(c, &e);
		return;
	}
	rc = phone_parse_task(body, op->res + c->off, c->n, e.detail,
	    sizeof(e.detail));
	if (rc < 0) {
		e.kind = PHONE_MALFORMED;
		chunk_fail(c, &e);
	} else if (rc == 1) {
		chunk_end(c);
	} else if (c->deadline > 0 && now > c->deadline) {
		e.kind = PHONE_TRANSIENT;
		snprintf(e.detail, sizeof(e.detail), "the bulk-update task has "
		    "not completed after %u s", op->p->opts.task_timeout);
		chunk_fail(c, &e);
	} else {
		if (c->task_id == NULL) {
			c->task_id = xstrdup(json_string_value(json_object_get(body,
			    "id")));
			c->delay = op->p->opts.poll_first;
			c->deadline = now + op->p->opts.task_timeout;
		} else if ((c->delay *= 1.5) > op->p->opts.poll_max) {
			c->delay = op->p->opts.poll_max;
		}
		ev_timer_set(&c->poll, c->delay, 0.);
		ev_timer_start(op->p->loop, &c->poll);
	}
}

static void
chunk_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	chunk_task(r->ctx, err, body);
}

static void
chunk_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bulk_chunk *c = w->data;
	struct phone *p = c->op->p;

	(void)loop;
	(void)revents;
	send_new(p, PHONE_CALL_BULK_TASK, "GET", url_segment(p, ACCOUNT
	    "/extension-bulk-update/tasks", c->task_id), chunk_done, c);
}

static void
chunk_send(struct phone *p, struct bulk_chunk *c)
{
	char *url = phone_url(p, ACCOUNT "/extension-bulk-update");
	struct phone_req *r = phone_req_new(p, PHONE_CALL_BULK_UPDATE, "POST",
	    url);

	free(url);
	r->body = c->body;
	c->body = NULL;
	/* setting the same values again is harmless: safe to repeat */
	r->idempotent = 1;
	r->done = chunk_done;
	r->ctx = c;
	phone_req_send(r);
}

static void
bulk_empty_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_bulk *op = r->ctx;

	(void)body;
	op->cb(err, op->res, 0, op->arg);
	phone_op_end(r->p, &op->base);
}

static char *
chunk_body(const struct phone_bulk_item *items, size_t n)
{
	json_t *recs = json_array(), *o;
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(recs, phone_bulk_record(&items[i]));
	o = json_pack("{s:o}", "records", recs);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void
phone_bulk_update(struct phone *p, const struct phone_bulk_item *items,
    size_t n, phone_bulk_cb *cb, void *arg)
{
	struct op_bulk *op = phone_op_new(p, sizeof(*op), op_bulk_clear);

	op->p = p;
	op->cb = cb;
	op->arg = arg;
	op->n = n;
	op->res = xcalloc(n + 1, sizeof(op->res[0]));
	phone_error_ok(&op->first, PHONE_CALL_BULK_UPDATE);
	for (size_t i = 0; i < n; i++) {
		op->res[i].extension_id = items[i].extension_id;
		phone_error_ok(&op->res[i].err, PHONE_CALL_BULK_TASK);
	}
	if (n == 0) {
		defer_error(p, PHONE_CALL_BULK_UPDATE, PHONE_OK, "",
		    bulk_empty_done, op);
		return;
	}
	op->nchunks = op->nleft = (n + PHONE_BULK_MAX - 1) / PHONE_BULK_MAX;
	op->chunks = xcalloc(op->nchunks, sizeof(op->chunks[0]));
	for (size_t k = 0; k < op->nchunks; k++) {
		struct bulk_chunk *c = &op->chunks[k];

		c->op = op;
		c->off = k * PHONE_BULK_MAX;
		c->n = n - c->off < PHONE_BULK_MAX ? n - c->off : PHONE_BULK_MAX;
		c->body = chunk_body(items + c->off, c->n);
		ev_timer_init(&c->poll, chunk_poll_cb, 0., 0.);
		c->poll.data = c;
	}
	for (size_t k = 0; k < op->nchunks; k++)
		chunk_send(p, &op->chunks[k]);
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
	ho.verify = cfg->tls_verify;
	ho.timeout = cfg->timeout;
	ho.max_body = p->opts.max_body;
	if (!http_url_allowed(p->server)) {
		errbuf_set(err, errlen, "server %s: only https:// (or http:// to "
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

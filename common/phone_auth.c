/*
 * phone_auth: OAuth for the phone client (phone.h, phone_int.h).
 *
 * Tokens come from three grants: refresh (the normal renewal), JWT bearer
 * (server-to-server, when jwt_file is set) and authorization code with
 * PKCE (ringsyncctl auth login). Every grant authenticates the client
 * with HTTP Basic and asks for a 30-day refresh token. New tokens are
 * registered as secrets, kept in the state store in their own write
 * transaction, and renewed by a timer before the access token expires.
 * Requests that need a token while none is valid wait in one queue; one
 * grant serves them all. A refused refresh falls back to the JWT. A
 * session ends with a revocation (logout, or a login replacing one).
 *
 * The PKCE helpers take SHA-256 and random bytes from OpenSSL's libcrypto
 * (EVP_Digest, RAND_bytes); only the base64url encoding is ours.
 */
#include "phone_int.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define REFRESH_TOKEN_TTL 2592000 /* s: 30 days, the platform's maximum */
#define TOKEN_SKEW 10             /* s: a token this close to expiry is spent */
#define RENEW_MARGIN_MAX 300      /* s before expiry the renewal starts, at most */
#define GRANT_JWT_TYPE "urn:ietf:params:oauth:grant-type:jwt-bearer"

enum grant { GRANT_REFRESH = 1, GRANT_JWT, GRANT_CODE };

static const char *const grant_names[] = {
	[GRANT_REFRESH] = "refresh_token", [GRANT_JWT] = "jwt",
	[GRANT_CODE] = "authorization_code",
};

/* ---------------------------------------------------------------------
 * base64url, randomness, PKCE */

/* b64url: base64url without padding (RFC 4648 section 5); 0 or -1. */
static int
b64url(const uint8_t *in, size_t n, char *out, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	size_t o = 0;

	if ((n * 4 + 2) / 3 + 1 > len)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
	return 0;
}

int
phone_random_token(size_t nbytes, char *buf, size_t len)
{
	uint8_t raw[96];
	int rc;

	if (nbytes == 0 || nbytes > sizeof(raw))
		return -1;
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return -1;
	rc = b64url(raw, nbytes, buf, len);
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

int
phone_pkce_challenge(const char *verifier, char *buf, size_t len)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int rc = -1;

	if (EVP_Digest(verifier, strlen(verifier), d, &n, EVP_sha256(),
	    NULL) == 1 && n == 32)
		rc = b64url(d, n, buf, len);
	if (rc < 0 && len > 0)
		buf[0] = '\0';
	return rc;
}

/* form_add: append key=value (value percent-encoded) to a form string. */
static void
form_add(char **form, const char *key, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0), *next;

	if (enc == NULL)
		abort(); /* fails only when memory runs out */
	next = xasprintf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key,
	    enc);
	if (*form != NULL) {
		explicit_bzero(*form, strlen(*form));
		free(*form);
	}
	explicit_bzero(enc, strlen(enc));
	curl_free(enc);
	*form = next;
}

char *
phone_authorize_url(const char *server, const char *client_id,
    const char *brand_id,
    const char *redirect_uri, const char *state, const char *challenge)
{
	CURLU *u = curl_url();
	char *q = NULL, *url = NULL, *base;

	if (u == NULL)
		abort();
	base = xasprintf("%s/restapi/oauth/authorize", server);
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
		free(base);
		curl_url_cleanup(u);
		return NULL;
	}
	free(base);
	form_add(&q, "response_type", "code");
	form_add(&q, "client_id", client_id);
	form_add(&q, "redirect_uri", redirect_uri);
	form_add(&q, "state", state);
	form_add(&q, "code_challenge", challenge);
	form_add(&q, "code_challenge_method", "S256");
	if (brand_id != NULL)
		form_add(&q, "brand_id", brand_id); /* the partner's sign-in page */
	if (curl_url_set(u, CURLUPART_QUERY, q, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &base, 0) == CURLUE_OK) {
		url = xstrdup(base);
		curl_free(base);
	}
	free(q);
	curl_url_cleanup(u);
	return url;
}

/* ---------------------------------------------------------------------
 * Token state */

static long long
now_unix(void)
{
	return (long long)time(NULL);
}

/*
 * skew: a token this close to its expiry is treated as spent, so that it
 * does not expire in flight: 10 s, or a quarter of a shorter lifetime.
 */
static double
skew(const struct phone_auth *a)
{
	double q = (double)a->lifetime / 4;

	return a->lifetime > 0 && q < TOKEN_SKEW ? q : TOKEN_SKEW;
}

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *
phone_auth_token(struct phone *p)
{
	const struct store_tokens *t = &p->auth.tok;

	if (t->access_token == NULL ||
	    now_real() + skew(&p->auth) >= p->auth.deadline)
		return NULL;
	return t->access_token;
}

static int
refresh_usable(const struct phone_auth *a)
{
	return a->tok.refresh_token != NULL && (a->tok.refresh_expires == 0 ||
	    now_unix() + TOKEN_SKEW < a->tok.refresh_expires);
}

static void
tokens_wipe(struct store_tokens *t)
{
	if (t->access_token != NULL)
		explicit_bzero(t->access_token, strlen(t->access_token));
	if (t->refresh_token != NULL)
		explicit_bzero(t->refresh_token, strlen(t->refresh_token));
	store_tokens_clear(t);
}

static void
emit_simple(struct phone *p, enum phone_event_kind kind, const char *detail)
{
	struct phone_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.detail = detail;
	ev.access_expires = p->auth.tok.access_expires;
	ev.refresh_expires = p->auth.tok.refresh_expires;
	phone_emit(p, &ev);
}

void
phone_auth_failed(struct phone *p, const char *detail)
{
	if (p->auth.failed_said)
		return;
	p->auth.failed_said = 1;
	emit_simple(p, PHONE_EV_AUTH_FAILED, detail);
}

/*
 * Timers that must not keep the loop alive on their own (the daemon's
 * watchers do): started then unref'd; ref'd again before any stop, and
 * first thing in their callback (libev stops a one-shot timer itself).
 */
static void
timer_stop_unref(struct phone *p, ev_timer *w, int *armed)
{
	if (!*armed)
		return;
	ev_ref(p->loop);
	ev_timer_stop(p->loop, w);
	*armed = 0;
}

static void
timer_start_unref(struct phone *p, ev_timer *w, double delay, int *armed)
{
	timer_stop_unref(p, w, armed);
	ev_timer_set(w, delay, 0.);
	ev_timer_start(p->loop, w);
	ev_unref(p->loop);
	*armed = 1;
}

/*
 * auth_store: the current tokens into the store, in their own transaction.
 * A failure (full disk, the store busy) keeps them in memory, says so
 * once, and tries again after 1, 2, 4 ... 60 s.
 */
static void
auth_store(struct phone *p)
{
	struct store_txn *txn;
	char err[256];

	if (p->st == NULL)
		return;
	if (store_begin(p->st, 0, &txn, err, sizeof(err)) < 0)
		goto fail;
	if (store_tokens_put(txn, &p->auth.tok, err, sizeof(err)) < 0) {
		store_abort(txn);
		goto fail;
	}
	if (store_commit(txn, err, sizeof(err)) < 0)
		goto fail;
	p->auth.store_failed = 0;
	p->auth.store_delay = 0;
	timer_stop_unref(p, &p->auth.store_timer, &p->auth.store_armed);
	return;
fail:
	if (!p->auth.store_failed)
		emit_simple(p, PHONE_EV_STORE_ERROR, err);
	p->auth.store_failed = 1;
	p->auth.store_delay = p->auth.store_delay == 0 ? 1 :
	    p->auth.store_delay * 2 > 60 ? 60 : p->auth.store_delay * 2;
	timer_start_unref(p, &p->auth.store_timer, p->auth.store_delay,
	    &p->auth.store_armed);
}

static void
store_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct phone *p = w->data;

	(void)revents;
	ev_ref(loop); /* balance timer_start_unref */
	p->auth.store_armed = 0;
	auth_store(p);
}

/*
 * auth_reload: adopt tokens another process stored (ringsyncctl auth
 * login while the daemon runs): anything in the store that differs from
 * what we hold was written by someone else, since we store every change.
 */
static void
auth_reload(struct phone *p)
{
	struct store_tokens t, *cur = &p->auth.tok;
	struct store_txn *txn;
	char err[256];

	if (p->auth.store_failed) {
		auth_store(p); /* ours are newer than what the store holds */
		return;
	}
	if (p->st == NULL || store_begin(p->st, 1, &txn, err, sizeof(err)) < 0)
		return;
	if (store_tokens_get(txn, &t, err, sizeof(err)) != 0) {
		store_abort(txn);
		return;
	}
	store_abort(txn);
	log_secret_add(t.access_token);
	log_secret_add(t.refresh_token);
	if ((t.refresh_token != NULL && (cur->refresh_token == NULL ||
	    strcmp(t.refresh_token, cur->refresh_token) != 0)) ||
	    (t.access_token != NULL && (cur->access_token == NULL ||
	    strcmp(t.access_token, cur->access_token) != 0))) {
		tokens_wipe(cur);
		*cur = t;
		p->auth.failed_said = 0; /* a new session: say it if it fails too */
		p->auth.lifetime = 0;
		p->auth.deadline = (double)t.access_expires;
		return;
	}
	tokens_wipe(&t);
}

/*
 * refresh_timer_arm: renew min(300 s, a fifth of the lifetime) before the
 * access token expires, and at least twice the skew before, so the token
 * is still good while the renewal runs. The timer does not keep the loop
 * alive on its own.
 */
static void
refresh_timer_arm(struct phone *p)
{
	double ttl = p->auth.deadline - now_real();
	double margin = ttl / 5 < RENEW_MARGIN_MAX ? ttl / 5 : RENEW_MARGIN_MAX;
	double delay;

	if (margin < 2 * skew(&p->auth))
		margin = 2 * skew(&p->auth);
	delay = ttl - margin;
	timer_stop_unref(p, &p->auth.refresh_timer, &p->auth.refresh_armed);
	if (p->auth.tok.access_token == NULL)
		return;
	timer_start_unref(p, &p->auth.refresh_timer, delay < 0.1 ? 0.1 : delay,
	    &p->auth.refresh_armed);
}

/* ---------------------------------------------------------------------
 * Grants */

static void grant_start(struct phone *p, enum grant g,
    const struct phone_code_grant *code);

static void
release_waiting(struct phone *p)
{
	struct phone_req *r;

	while ((r = TAILQ_FIRST(&p->auth.waiting)) != NULL) {
		TAILQ_REMOVE(&p->auth.waiting, r, qlink);
		r->queued = 0;
		phone_req_send(r);
	}
}

static void
fail_waiting(struct phone *p, const struct phone_error *err)
{
	struct phone_req *r;
	struct phone_error e;

	while ((r = TAILQ_FIRST(&p->auth.waiting)) != NULL) {
		TAILQ_REMOVE(&p->auth.waiting, r, qlink);
		r->queued = 0;
		e = *err;
		e.call = r->call;
		phone_req_defer(r, &e);
	}
}

/*
 * renew: get a valid access token for the waiting requests. RENEW_NEEDED
 * uses the current one while it lasts; RENEW_NOW refreshes anyway (the
 * timer before expiry); RENEW_JWT re-authenticates (a refreshed token was
 * refused too).
 */
enum renew_mode { RENEW_NEEDED, RENEW_NOW, RENEW_JWT };

static void
renew(struct phone *p, enum renew_mode mode)
{
	struct phone_error e;

	auth_reload(p);
	if (phone_auth_token(p) != NULL && mode == RENEW_NEEDED) {
		release_waiting(p);
	} else if (mode != RENEW_JWT && refresh_usable(&p->auth)) {
		grant_start(p, GRANT_REFRESH, NULL);
	} else if (p->auth.jwt != NULL) {
		grant_start(p, GRANT_JWT, NULL);
	} else {
		phone_error_ok(&e, PHONE_CALL_TOKEN);
		e.kind = PHONE_AUTH;
		snprintf(e.detail, sizeof(e.detail), "no valid session and no "
		    "JWT credential: run ringsyncctl auth login");
		phone_auth_failed(p, "no session");
		fail_waiting(p, &e);
	}
}

void
phone_auth_wait(struct phone *p, struct phone_req *r, int force_jwt)
{
	TAILQ_INSERT_TAIL(&p->auth.waiting, r, qlink);
	r->queued = 1;
	if (p->auth.granting == 0)
		renew(p, force_jwt ? RENEW_JWT : RENEW_NEEDED);
}

void
phone_auth_rejected(struct phone *p, const char *token)
{
	struct store_tokens *t = &p->auth.tok;

	if (token != NULL && t->access_token != NULL &&
	    strcmp(token, t->access_token) == 0)
		p->auth.deadline = 0; /* spent: the next request renews */
}

/* grant_ok: tokens received: keep, store, schedule renewal, release. */
static int
grant_ok(struct phone_req *r, const json_t *body, struct phone_error *e)
{
	struct phone *p = r->p;
	struct store_tokens t;

	if (phone_parse_token(body, now_unix(), &t, e->detail,
	    sizeof(e->detail)) < 0) {
		e->kind = PHONE_MALFORMED;
		return -1;
	}
	/* kept for the process's life, whatever the tokens that rotate */
	log_secret_keep(p->auth.client_secret);
	log_secret_keep(p->auth.jwt);
	tokens_wipe(&p->auth.tok);
	p->auth.tok = t;
	p->auth.failed_said = 0;
	p->auth.lifetime = t.access_expires - now_unix();
	p->auth.deadline = now_real() + (double)p->auth.lifetime;
	auth_store(p);
	emit_simple(p, PHONE_EV_TOKEN, grant_names[r->grant]);
	refresh_timer_arm(p);
	release_waiting(p);
	return 0;
}

static void
grant_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone *p = r->p;
	struct phone_error e = *err;

	p->auth.granting--;
	if (e.kind == PHONE_OK && grant_ok(r, body, &e) == 0)
		goto out;
	if (r->grant == GRANT_REFRESH && e.kind == PHONE_AUTH) {
		/* the refresh token is dead: forget it, then try the JWT */
		free(p->auth.tok.refresh_token);
		p->auth.tok.refresh_token = NULL;
		p->auth.tok.refresh_expires = 0;
		auth_store(p);
		if (p->auth.jwt != NULL && p->auth.granting == 0) {
			grant_start(p, GRANT_JWT, NULL);
			goto out;
		}
	}
	if (e.kind == PHONE_AUTH)
		phone_auth_failed(p, e.code[0] ? e.code : "refused");
	if (p->auth.granting == 0)
		fail_waiting(p, &e);
out:
	if (r->then != NULL)
		r->then(r, &e, NULL);
}

static char *
grant_form(struct phone *p, enum grant g, const struct phone_code_grant *code)
{
	char *form = NULL;

	switch (g) {
	case GRANT_REFRESH:
		form_add(&form, "grant_type", "refresh_token");
		form_add(&form, "refresh_token", p->auth.tok.refresh_token);
		break;
	case GRANT_JWT:
		form_add(&form, "grant_type", GRANT_JWT_TYPE);
		form_add(&form, "assertion", p->auth.jwt);
		break;
	case GRANT_CODE:
		form_add(&form, "grant_type", "authorization_code");
		form_add(&form, "code", code->code);
		form_add(&form, "redirect_uri", code->redirect_uri);
		form_add(&form, "code_verifier", code->code_verifier);
		break;
	}
	form_add(&form, "refresh_token_ttl", "2592000");
	return form;
}

static struct phone_req *
grant_req(struct phone *p, enum grant g, const struct phone_code_grant *code)
{
	char *url = phone_url(p, "/restapi/oauth/token");
	struct phone_req *r = phone_req_new(p, PHONE_CALL_TOKEN, "POST", url);

	free(url);
	r->group = HTTP_AUTH;
	r->basic = 1;
	r->bearer = 0;
	/* a refresh rotates the token and a code is single-use: not repeated */
	r->idempotent = g == GRANT_JWT;
	r->body = grant_form(p, g, code);
	r->ctype = "application/x-www-form-urlencoded";
	r->grant = g;
	r->done = grant_done;
	return r;
}

static void
grant_start(struct phone *p, enum grant g, const struct phone_code_grant *code)
{
	p->auth.granting++;
	phone_req_send(grant_req(p, g, code));
}

void
phone_auth_grant_code(struct phone *p, const struct phone_code_grant *g,
    phone_req_done *done, void *ctx)
{
	struct phone_req *r = grant_req(p, GRANT_CODE, g);

	r->then = done;
	r->ctx = ctx;
	p->auth.granting++;
	phone_req_send(r);
}

static void
refresh_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct phone *p = w->data;

	(void)revents;
	ev_ref(loop); /* balance the ev_unref of refresh_timer_arm */
	p->auth.refresh_armed = 0;
	if (p->auth.granting == 0)
		renew(p, RENEW_NOW); /* the JWT only if the refresh token is spent */
}

/* ---------------------------------------------------------------------
 * Revocation: the end of a session */

struct op_revoke {
	struct phone_op base;
	char *token;                      /* owned, wiped; NULL: nothing to do */
	int forget;                       /* logout: forget the tokens after */
	phone_done_cb *cb;
	void *arg;
};

static void
op_revoke_clear(struct phone_op *base)
{
	struct op_revoke *op = (struct op_revoke *)base;

	if (op->token != NULL)
		explicit_bzero(op->token, strlen(op->token));
	free(op->token);
}

/* auth_forget: the session is over: no tokens in memory, none stored. */
static void
auth_forget(struct phone *p)
{
	timer_stop_unref(p, &p->auth.refresh_timer, &p->auth.refresh_armed);
	tokens_wipe(&p->auth.tok);
	p->auth.lifetime = 0;
	p->auth.deadline = 0;
	auth_store(p);
}

/* holds: token is one of the client's current tokens. */
static int
holds(const struct phone_auth *a, const char *token)
{
	return token != NULL && ((a->tok.refresh_token != NULL &&
	    strcmp(a->tok.refresh_token, token) == 0) ||
	    (a->tok.access_token != NULL &&
	    strcmp(a->tok.access_token, token) == 0));
}

static void
revoke_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_revoke *op = r->ctx;

	(void)body;
	/* a grant may have replaced the tokens meanwhile: those stay */
	if (err->kind == PHONE_OK && op->forget && holds(&r->p->auth, op->token))
		auth_forget(r->p);
	op->cb(err, op->arg);
	phone_op_end(r->p, &op->base);
}

static void
revoke_start(struct phone *p, const char *token, int forget,
    phone_done_cb *cb, void *arg)
{
	struct op_revoke *op = phone_op_new(p, sizeof(*op), op_revoke_clear);
	struct phone_req *r;
	char *url;

	op->cb = cb;
	op->arg = arg;
	op->forget = forget;
	if (token == NULL || *token == '\0') {
		phone_defer_error(p, PHONE_CALL_REVOKE, PHONE_OK, "", revoke_done,
		    op);
		return;
	}
	op->token = xstrdup(token);
	url = phone_url(p, "/restapi/oauth/revoke");
	r = phone_req_new(p, PHONE_CALL_REVOKE, "POST", url);
	free(url);
	r->basic = 1;
	r->bearer = 0;
	r->idempotent = 1; /* a session revoked twice is ended all the same */
	form_add(&r->body, "token", token);
	r->ctype = "application/x-www-form-urlencoded";
	r->done = revoke_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_auth_revoke(struct phone *p, const char *token, phone_done_cb *cb,
    void *arg)
{
	revoke_start(p, token, 0, cb, arg);
}

void
phone_auth_logout(struct phone *p, phone_done_cb *cb, void *arg)
{
	const struct store_tokens *t = &p->auth.tok;

	auth_reload(p); /* the newest session, whoever stored it */
	revoke_start(p, t->refresh_token ? t->refresh_token : t->access_token, 1,
	    cb, arg);
}

/* ---------------------------------------------------------------------
 * Set-up */

int
phone_auth_init(struct phone *p, const struct config_telephony *cfg,
    char *err, size_t errlen)
{
	struct phone_auth *a = &p->auth;

	TAILQ_INIT(&a->waiting);
	ev_timer_init(&a->refresh_timer, refresh_timer_cb, 0., 0.);
	a->refresh_timer.data = p;
	ev_timer_init(&a->store_timer, store_timer_cb, 0., 0.);
	a->store_timer.data = p;
	if (cfg->client_id == NULL)
		return util_errbuf_set(err, errlen, "[telephony] client_id is not set");
	a->client_id = xstrdup(cfg->client_id);
	if (cfg->client_secret_file == NULL)
		return util_errbuf_set(err, errlen, "[telephony] client_secret_file "
		    "is not set");
	if (config_read_secret(cfg->client_secret_file, &a->client_secret, err,
	    errlen) < 0)
		return -1;
	if (cfg->jwt_file != NULL && config_read_secret(cfg->jwt_file, &a->jwt,
	    err, errlen) < 0)
		return -1;
	auth_reload(p);
	if (phone_auth_token(p) != NULL)
		refresh_timer_arm(p);
	return 0;
}

void
phone_auth_fini(struct phone *p)
{
	struct phone_auth *a = &p->auth;

	timer_stop_unref(p, &a->refresh_timer, &a->refresh_armed);
	timer_stop_unref(p, &a->store_timer, &a->store_armed);
	tokens_wipe(&a->tok);
	if (a->client_secret != NULL)
		explicit_bzero(a->client_secret, strlen(a->client_secret));
	if (a->jwt != NULL)
		explicit_bzero(a->jwt, strlen(a->jwt));
	free(a->client_id);
	free(a->client_secret);
	free(a->jwt);
}

void
phone_token_expiry(const struct phone *p, long long *access, long long *refresh)
{
	*access = p->auth.tok.access_token ? p->auth.tok.access_expires : 0;
	*refresh = p->auth.tok.refresh_token ? p->auth.tok.refresh_expires : 0;
}

int
phone_tokens_copy(const struct phone *p, struct store_tokens *out)
{
	const struct store_tokens *t = &p->auth.tok;

	memset(out, 0, sizeof(*out));
	if (t->access_token == NULL)
		return -1;
	out->access_token = xstrdup(t->access_token);
	out->access_expires = t->access_expires;
	out->refresh_token = t->refresh_token ? xstrdup(t->refresh_token) : NULL;
	out->refresh_expires = t->refresh_expires;
	return 0;
}

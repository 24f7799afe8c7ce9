/*
 * ringsyncctl auth: status (the stored tokens' validity and expiry),
 * login (authorization code with PKCE to the configured redirect_uri: the
 * browser redirected to a listener on it when it is a loopback address,
 * or the address the browser ended on pasted into the terminal, state and
 * PKCE checked either way; the tokens go to the state store, the one write
 * of the commands that otherwise read, see ctl_store_open_rw; the session
 * the new one replaces is revoked) and logout (the stored session revoked
 * at the phone system, its tokens removed).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "phone.h"
#include "store.h"
#include "util.h"

/*
 * Exit statuses. auth status: 0 the access token is valid; 1 it is not,
 * but ringsyncd renews it without a person (a valid refresh token, or a
 * JWT credential); 3 nothing valid is left: someone must run `auth
 * login`. auth login: 0 logged in, 3 refused or timed out. auth logout:
 * 0 the session ended (or none was stored), 1 the phone system could not
 * be reached (nothing changed), 3 it refused the revocation. 2 is a
 * configuration or state-store problem everywhere (CTL_EXIT_CONFIG,
 * ringsyncctl(8)).
 */
#define EXIT_RENEWABLE 1
#define EXIT_UNREACHABLE 1
#define EXIT_AUTH 3

#define LOGIN_TIMEOUT 300     /* s: how long auth login waits for the browser */
#define LOGIN_REQUEST_MAX 8192
#define LOGIN_CONNS_MAX 16

/* ---------------------------------------------------------------------
 * auth status */

/* stored_tokens: 0 read, 1 none stored (or no store yet), -1 error. */
static int
stored_tokens(const char *dir, struct store_tokens *t, char *err, size_t errlen)
{
	char *path = xasprintf("%s/state.mdb", dir);
	struct store_txn *txn;
	struct store *st;
	int rc, exists = access(path, F_OK) == 0;

	free(path);
	memset(t, 0, sizeof(*t));
	if (!exists)
		return 1;
	if (store_open(dir, STORE_RDONLY, &st, err, errlen) < 0)
		return -1;
	if (store_begin(st, 1, &txn, err, errlen) < 0) {
		store_close(st);
		return -1;
	}
	rc = store_tokens_get(txn, t, err, errlen);
	store_abort(txn);
	store_close(st);
	return rc;
}

static int
cmd_auth_status(const struct config *cfg)
{
	long long now = (long long)time(NULL);
	struct store_tokens t;
	char err[512];
	int access_ok, refresh_ok, rc;

	rc = stored_tokens(cfg->sync.state_dir, &t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	printf("%-16s %s\n", "server", cfg->telephony.server);
	access_ok = ctl_token_line("access token", t.access_token,
	    t.access_expires, now);
	refresh_ok = ctl_token_line("refresh token", t.refresh_token,
	    t.refresh_expires, now);
	printf("%-16s %s\n", "jwt credential", cfg->telephony.jwt_file ?
	    "configured (jwt_file)" : "not configured");
	store_tokens_clear(&t);
	if (access_ok)
		return 0;
	if (refresh_ok || cfg->telephony.jwt_file != NULL) {
		printf("ringsyncd renews the session by itself\n");
		return EXIT_RENEWABLE;
	}
	printf("no valid session: run `ringsyncctl auth login`\n");
	return EXIT_AUTH;
}

/* ---------------------------------------------------------------------
 * auth login: authorization code with PKCE and a loopback listener */

struct login;

struct login_conn {
	struct login *lg;               /* not owned */
	ev_io io;
	char buf[LOGIN_REQUEST_MAX + 1];
	size_t len;
	struct login_conn *next;
};

struct login {
	struct ev_loop *loop;           /* not owned */
	const struct config *cfg;       /* not owned */
	struct phone *phone;            /* owned */
	struct store *st;               /* owned: writable store, or NULL */
	int lfd;                        /* owned: the listener */
	ev_io accept_io;
	ev_timer deadline;
	unsigned int timeout;
	struct login_conn *conns;       /* owned */
	int nconns;
	char state[64], verifier[64];
	const char *redirect;           /* [telephony] redirect_uri */
	char *path;                     /* owned: its path, which the listener serves */
	ev_io stdin_io;                 /* the pasted address, line by line */
	int stdin_on;
	char in[LOGIN_REQUEST_MAX + 1];
	size_t inlen;
	char store_err[256];
	char *old_token;                /* owned, wiped: the session replaced */
	int rc;
};

static void
login_finish(struct login *lg, int rc)
{
	lg->rc = rc;
	ev_break(lg->loop, EVBREAK_ALL);
}

static void
login_conn_close(struct login_conn *c)
{
	struct login *lg = c->lg;
	struct login_conn **pp;

	ev_io_stop(lg->loop, &c->io);
	close(c->io.fd);
	for (pp = &lg->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	lg->nconns--;
	free(c);
}

static void
conn_respond(struct login_conn *c, int status, const char *text)
{
	char *page = xasprintf("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
	    "<title>ringsync</title></head><body><p>%s</p></body></html>\n", text);
	char *resp = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s", status, status == 200 ? "OK" :
	    status == 404 ? "Not Found" : "Bad Request", strlen(page), page);

	/* small enough for the socket buffer; a browser that left gets nothing */
	if (send(c->io.fd, resp, strlen(resp), MSG_NOSIGNAL) < 0 && errno != EPIPE)
		fprintf(stderr, "ringsyncctl: cannot answer the browser: %s\n",
		    strerror(errno));
	free(page);
	free(resp);
	login_conn_close(c);
}

/* query_get: the decoded value of key in a query string, or NULL. */
static char *
query_get(const char *query, const char *key)
{
	size_t kl = strlen(key);
	const char *s = query;
	char *raw, *out = NULL, *dec;
	int n;

	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, '&');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (len > kl && strncmp(s, key, kl) == 0 && s[kl] == '=') {
			raw = xstrndup(s + kl + 1, len - kl - 1);
			for (char *p = raw; *p; p++)
				if (*p == '+')
					*p = ' ';
			dec = curl_easy_unescape(NULL, raw, 0, &n);
			if (dec != NULL && (size_t)n == strlen(dec))
				out = xstrdup(dec);
			curl_free(dec);
			free(raw);
			return out;
		}
		s = end ? end + 1 : NULL;
	}
	return NULL;
}

static void login_code_cb(const struct phone_error *err, void *arg);

/* answer: to the browser (c), or, for a pasted address, to the terminal. */
static void
answer(struct login_conn *c, int status, const char *page, const char *said)
{
	if (c != NULL)
		conn_respond(c, status, page);
	else if (said != NULL)
		fprintf(stderr, "ringsyncctl: %s\n", said);
}

/*
 * login_answer: the redirect's query (?code&state or ?error), from the
 * browser through the listener (c) or pasted into the terminal (c NULL).
 */
static void
login_answer(struct login *lg, struct login_conn *c, const char *query)
{
	char *state = query_get(query, "state"), *code = query_get(query, "code");
	char *error = query_get(query, "error");
	struct phone_code_grant g;

	if (state == NULL || strcmp(state, lg->state) != 0) {
		fprintf(stderr, "ringsyncctl: ignored a%s redirect that does not "
		    "belong to this login (state mismatch)\n", c ? "" : " pasted");
		answer(c, 400, "This answer does not belong to the login in "
		    "progress.", NULL);
	} else if (error != NULL) {
		fprintf(stderr, "ringsyncctl: the authorization was refused: %s\n",
		    log_q(error));
		answer(c, 400, "The authorization was refused; see the terminal.",
		    NULL);
		login_finish(lg, EXIT_AUTH);
	} else if (code == NULL) {
		answer(c, 400, "The redirect carries no authorization code.",
		    "the pasted address carries no authorization code");
	} else {
		log_secret_add(code);
		answer(c, 200, "ringsync received the authorization: you can "
		    "close this window and return to the terminal.", NULL);
		if (lg->lfd >= 0)
			ev_io_stop(lg->loop, &lg->accept_io);
		if (lg->stdin_on)
			ev_io_stop(lg->loop, &lg->stdin_io);
		lg->stdin_on = 0;
		g.code = code;
		g.redirect_uri = lg->redirect;
		g.code_verifier = lg->verifier;
		phone_auth_code(lg->phone, &g, login_code_cb, lg);
	}
	free(state);
	if (code != NULL)
		explicit_bzero(code, strlen(code));
	free(code);
	free(error);
}

/* login_request: one complete request head in c->buf. */
static void
login_request(struct login_conn *c)
{
	char method[8], target[LOGIN_REQUEST_MAX], *url, *path = NULL;
	char *query = NULL;
	CURLU *u = curl_url();
	int ok;

	if (u == NULL)
		abort();
	ok = sscanf(c->buf, "%7s %8191s HTTP/1.", method, target) == 2 &&
	    strcmp(method, "GET") == 0 && target[0] == '/';
	url = xasprintf("http://127.0.0.1%s", ok ? target : "/");
	ok = ok && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
	if (!ok)
		conn_respond(c, 400, "Not a request this listener understands.");
	else if (strcmp(path, c->lg->path) != 0)
		conn_respond(c, 404, "Nothing here.");
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		conn_respond(c, 400, "The redirect carries no authorization code.");
	else
		login_answer(c->lg, c, query);
	curl_free(path);
	curl_free(query);
	free(url);
	curl_url_cleanup(u);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct login_conn *c = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(w->fd, c->buf + c->len, LOGIN_REQUEST_MAX - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		login_conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (strstr(c->buf, "\r\n\r\n") != NULL || strstr(c->buf, "\n\n") != NULL)
		login_request(c);
	else if (c->len == LOGIN_REQUEST_MAX)
		conn_respond(c, 400, "Request too large.");
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct login *lg = w->data;
	struct login_conn *c;
	int fd;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (lg->nconns >= LOGIN_CONNS_MAX) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->lg = lg;
	c->next = lg->conns;
	lg->conns = c;
	lg->nconns++;
	ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct login *lg = w->data;

	(void)loop;
	(void)revents;
	fprintf(stderr, "ringsyncctl: no answer from the browser within %u s: "
	    "nothing changed; run `ringsyncctl auth login` again\n", lg->timeout);
	login_finish(lg, EXIT_AUTH);
}

static void
login_event_cb(const struct phone_event *ev, void *arg)
{
	struct login *lg = arg;

	if (ev->kind == PHONE_EV_STORE_ERROR)
		snprintf(lg->store_err, sizeof(lg->store_err), "%s", ev->detail);
	else if (ev->kind == PHONE_EV_RETRY)
		fprintf(stderr, "ringsyncctl: %s is not answering: retrying in "
		    "%.0f s\n", lg->cfg->telephony.brand, ev->delay);
}

static void
login_revoke_cb(const struct phone_error *err, void *arg)
{
	struct login *lg = arg;
	char msg[512];

	if (err->kind == PHONE_OK)
		printf("the session it replaces was ended\n");
	else
		fprintf(stderr, "ringsyncctl: warning: the session this login "
		    "replaces could not be ended: %s (%s); it lasts until its "
		    "tokens expire\n", phone_error_message(err,
		    lg->cfg->telephony.brand, msg, sizeof(msg)), log_q(err->detail));
	login_finish(lg, 0);
}

static void
login_code_cb(const struct phone_error *err, void *arg)
{
	struct login *lg = arg;
	char msg[512], a[64], r[64];
	long long ae, re;

	if (err->kind == PHONE_AUTH) {
		fprintf(stderr, "ringsyncctl: the login was refused by %s: error=%s "
		    "detail=%s\n", lg->cfg->telephony.brand, log_q(err->code),
		    log_q(err->detail));
		login_finish(lg, EXIT_AUTH);
		return;
	}
	if (err->kind != PHONE_OK) {
		fprintf(stderr, "ringsyncctl: %s (%s)\n", phone_error_message(err,
		    lg->cfg->telephony.brand, msg, sizeof(msg)), log_q(err->detail));
		login_finish(lg, EXIT_AUTH);
		return;
	}
	if (lg->store_err[0] != '\0') {
		fprintf(stderr, "ringsyncctl: logged in, but %s\n", lg->store_err);
		login_finish(lg, CTL_EXIT_CONFIG);
		return;
	}
	phone_token_expiry(lg->phone, &ae, &re);
	printf("logged in to %s: access token valid until %s, refresh token "
	    "valid until %s\n", lg->cfg->telephony.brand, ctl_fmt_time(ae, a,
	    sizeof(a)), re ? ctl_fmt_time(re, r, sizeof(r)) : "-");
	if (lg->old_token == NULL) {
		login_finish(lg, 0);
		return;
	}
	/* an app has few parallel sessions per user: end the one replaced */
	ev_timer_stop(lg->loop, &lg->deadline);
	phone_auth_revoke(lg->phone, lg->old_token, login_revoke_cb, lg);
}

/*
 * loopback: the address to listen on for redirect_uri (an http:// URL of
 * 127.0.0.1, localhost or [::1]) into sa, with its path; 0, or -1 when
 * the browser cannot be met here (another host: the address is pasted).
 */
static int
loopback(const char *uri, struct sockaddr_storage *sa, socklen_t *salen,
    char **path)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *p = NULL;
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	int rc = -1;

	if (u == NULL)
		abort();
	memset(sa, 0, sizeof(*sa));
	if (curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK &&
	    strcmp(scheme, "http") == 0) {
		*path = xstrdup(p);
		if (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0) {
			v4->sin_family = AF_INET;
			v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			v4->sin_port = htons((uint16_t)atoi(port));
			*salen = sizeof(*v4);
			rc = 0;
		} else if (strcmp(host, "[::1]") == 0) {
			v6->sin6_family = AF_INET6;
			v6->sin6_addr = in6addr_loopback;
			v6->sin6_port = htons((uint16_t)atoi(port));
			*salen = sizeof(*v6);
			rc = 0;
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/*
 * login_listen: a listener on redirect_uri when it is a loopback address.
 * Returns 0 listening, or 1 when the address must be pasted instead
 * (another host, or the port is taken: said).
 */
static int
login_listen(struct login *lg)
{
	struct sockaddr_storage sa;
	socklen_t len = 0;

	if (loopback(lg->redirect, &sa, &len, &lg->path) < 0)
		return 1;
	lg->lfd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lg->lfd < 0 || setsockopt(lg->lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) < 0 || bind(lg->lfd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(lg->lfd, 8) < 0) {
		fprintf(stderr, "ringsyncctl: warning: cannot listen on %s (%s): paste "
		    "the address the browser ends on instead\n", lg->redirect,
		    strerror(errno));
		if (lg->lfd >= 0)
			close(lg->lfd);
		lg->lfd = -1;
		return 1;
	}
	ev_io_init(&lg->accept_io, accept_cb, lg->lfd, EV_READ);
	lg->accept_io.data = lg;
	ev_io_start(lg->loop, &lg->accept_io);
	return 0;
}

/* pasted: one line typed or pasted into the terminal. */
static void
pasted(struct login *lg, char *line)
{
	char *t = util_str_trim(line), *q = strchr(t, '?'), *hash;

	if (*t == '\0')
		return;
	q = q != NULL ? q + 1 : t; /* a whole address, or its query alone */
	if ((hash = strchr(q, '#')) != NULL)
		*hash = '\0';
	login_answer(lg, NULL, q);
}

static void
stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct login *lg = w->data;
	ssize_t n;
	char *nl;

	(void)loop;
	(void)revents;
	n = read(w->fd, lg->in + lg->inlen, LOGIN_REQUEST_MAX - lg->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ev_io_stop(lg->loop, w);
		lg->stdin_on = 0;
		if (lg->lfd < 0) {
			fprintf(stderr, "ringsyncctl: nothing was pasted and nothing "
			    "listens on %s: the login cannot finish\n", lg->redirect);
			login_finish(lg, EXIT_AUTH);
		}
		return;
	}
	lg->inlen += (size_t)n;
	lg->in[lg->inlen] = '\0';
	while (lg->stdin_on && (nl = strchr(lg->in, '\n')) != NULL) {
		*nl = '\0';
		pasted(lg, lg->in);
		lg->inlen -= (size_t)(nl + 1 - lg->in);
		memmove(lg->in, nl + 1, lg->inlen + 1);
	}
	if (lg->inlen == LOGIN_REQUEST_MAX)
		lg->inlen = 0; /* a line this long is no redirect */
	explicit_bzero(lg->in + lg->inlen, sizeof(lg->in) - lg->inlen);
}

/* login_wait: listen and read the terminal; what to tell the admin. */
static void
login_wait(struct login *lg, const char *url)
{
	int paste_only = login_listen(lg);

	if (fcntl(STDIN_FILENO, F_GETFD) >= 0) {
		ev_io_init(&lg->stdin_io, stdin_cb, STDIN_FILENO, EV_READ);
		lg->stdin_io.data = lg;
		ev_io_start(lg->loop, &lg->stdin_io);
		lg->stdin_on = 1;
	}
	printf("Open this address in a browser (on any machine) and sign in to %s "
	    "as an administrator:\n\n  %s\n\n", lg->cfg->telephony.brand, url);
	if (!paste_only)
		printf("Waiting for the browser at %s (up to %u s). If the browser "
		    "cannot reach this machine, copy the address it ends on (it "
		    "starts with %s) and paste it here, then press Enter:\n",
		    lg->redirect, lg->timeout, lg->redirect);
	else
		printf("After signing in, copy the address the browser ends on (it "
		    "starts with %s) and paste it here, then press Enter (up to "
		    "%u s):\n", lg->redirect, lg->timeout);
	fflush(stdout);
}

/* login_keep_old: the session the store holds now, to end once replaced. */
static void
login_keep_old(struct login *lg)
{
	struct store_tokens t;
	const char *tok;

	if (phone_tokens_copy(lg->phone, &t) < 0)
		return;
	tok = t.refresh_token ? t.refresh_token : t.access_token;
	lg->old_token = xstrdup(tok);
	explicit_bzero(t.access_token, strlen(t.access_token));
	if (t.refresh_token != NULL)
		explicit_bzero(t.refresh_token, strlen(t.refresh_token));
	store_tokens_clear(&t);
}

static int
login_start(struct login *lg, char *err, size_t errlen)
{
	char challenge[64], *url;

	/* Where the tokens will go, checked before the browser step. */
	if (ctl_store_open_rw(lg->cfg, &lg->st, err, errlen) < 0)
		return -1;
	lg->phone = phone_new(lg->loop, &lg->cfg->telephony, lg->st, NULL, err,
	    errlen);
	if (lg->phone == NULL)
		return -1;
	phone_set_event_cb(lg->phone, login_event_cb, lg);
	login_keep_old(lg);
	if (phone_random_token(32, lg->verifier, sizeof(lg->verifier)) < 0 ||
	    phone_random_token(16, lg->state, sizeof(lg->state)) < 0)
		return util_errbuf_set(err, errlen, "no randomness available");
	log_secret_add(lg->verifier);
	if (phone_pkce_challenge(lg->verifier, challenge, sizeof(challenge)) < 0)
		return util_errbuf_set(err, errlen, "cannot compute the PKCE challenge");
	url = phone_authorize_url(lg->cfg->telephony.server,
	    lg->cfg->telephony.client_id, lg->cfg->telephony.brand_id, lg->redirect, lg->state, challenge);
	if (url == NULL)
		return util_errbuf_set(err, errlen, "server %s is not a URL",
		    lg->cfg->telephony.server);
	login_wait(lg, url);
	free(url);
	ev_timer_init(&lg->deadline, deadline_cb, lg->timeout, 0.);
	lg->deadline.data = lg;
	ev_timer_start(lg->loop, &lg->deadline);
	return 0;
}

static void
login_end(struct login *lg)
{
	while (lg->conns != NULL)
		login_conn_close(lg->conns);
	if (lg->lfd >= 0) {
		ev_io_stop(lg->loop, &lg->accept_io);
		close(lg->lfd);
	}
	if (lg->stdin_on)
		ev_io_stop(lg->loop, &lg->stdin_io);
	explicit_bzero(lg->in, sizeof(lg->in));
	free(lg->path);
	ev_timer_stop(lg->loop, &lg->deadline);
	phone_free(lg->phone);
	store_close(lg->st);
	explicit_bzero(lg->verifier, sizeof(lg->verifier));
	if (lg->old_token != NULL)
		explicit_bzero(lg->old_token, strlen(lg->old_token));
	free(lg->old_token);
}

static int
cmd_auth_login(const struct config *cfg, unsigned int timeout)
{
	struct login lg;
	char err[512];

	memset(&lg, 0, sizeof(lg));
	lg.loop = ev_default_loop(0);
	lg.cfg = cfg;
	lg.lfd = -1;
	lg.redirect = cfg->telephony.redirect_uri;
	lg.timeout = timeout;
	lg.rc = EXIT_AUTH;
	ev_timer_init(&lg.deadline, deadline_cb, 0., 0.);
	if (login_start(&lg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		login_end(&lg);
		return CTL_EXIT_CONFIG;
	}
	ev_run(lg.loop, 0);
	login_end(&lg);
	return lg.rc;
}

/* ---------------------------------------------------------------------
 * auth logout: the stored session revoked, its tokens removed */

struct logout {
	struct ev_loop *loop;           /* not owned */
	const struct config *cfg;       /* not owned */
	char store_err[256];
	int rc;
};

static void
logout_event_cb(const struct phone_event *ev, void *arg)
{
	struct logout *lo = arg;

	if (ev->kind == PHONE_EV_STORE_ERROR)
		snprintf(lo->store_err, sizeof(lo->store_err), "%s", ev->detail);
	else if (ev->kind == PHONE_EV_RETRY)
		fprintf(stderr, "ringsyncctl: %s is not answering: retrying in "
		    "%.0f s\n", lo->cfg->telephony.brand, ev->delay);
}

static void
logout_cb(const struct phone_error *err, void *arg)
{
	struct logout *lo = arg;
	char msg[512];

	lo->rc = 0;
	if (err->kind != PHONE_OK) {
		fprintf(stderr, "ringsyncctl: the session was not ended: %s (%s); "
		    "nothing changed\n", phone_error_message(err,
		    lo->cfg->telephony.brand, msg, sizeof(msg)), log_q(err->detail));
		lo->rc = err->kind == PHONE_AUTH ? EXIT_AUTH : EXIT_UNREACHABLE;
	} else if (lo->store_err[0] != '\0') {
		fprintf(stderr, "ringsyncctl: the session was ended, but its tokens "
		    "could not be removed: %s\n", lo->store_err);
		lo->rc = CTL_EXIT_CONFIG;
	}
	ev_break(lo->loop, EVBREAK_ALL);
}

static void
logout_said(const struct config *cfg)
{
	printf("logged out of %s: the session was ended and its tokens removed\n",
	    cfg->telephony.brand);
	if (cfg->telephony.jwt_file != NULL)
		printf("ringsyncd starts a new session by itself with the JWT "
		    "credential (jwt_file)\n");
}

static int
cmd_auth_logout(const struct config *cfg)
{
	struct logout lo = { ev_default_loop(0), cfg, "", CTL_EXIT_CONFIG };
	struct store *st = NULL;
	struct phone *p;
	char err[512];
	long long a, r;

	if (ctl_store_open_rw(cfg, &st, err, sizeof(err)) < 0 ||
	    (p = phone_new(lo.loop, &cfg->telephony, st, NULL, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return CTL_EXIT_CONFIG;
	}
	phone_token_expiry(p, &a, &r);
	if (a == 0 && r == 0) {
		printf("no session stored: nothing to end\n");
		lo.rc = 0;
	} else {
		phone_set_event_cb(p, logout_event_cb, &lo);
		phone_auth_logout(p, logout_cb, &lo);
		ev_run(lo.loop, 0);
		if (lo.rc == 0)
			logout_said(cfg);
	}
	phone_free(p);
	store_close(st);
	return lo.rc;
}

/* ctl_auth: "login [--timeout DURATION]", "logout" or "status". */
int
ctl_auth(const struct config *cfg, int argc, char **argv)
{
	unsigned int timeout = LOGIN_TIMEOUT;
	const char *t = NULL;

	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return cmd_auth_status(cfg);
	if (argc == 1 && strcmp(argv[0], "logout") == 0)
		return cmd_auth_logout(cfg);
	if (argc < 1 || strcmp(argv[0], "login") != 0)
		goto bad;
	if (argc == 3 && strcmp(argv[1], "--timeout") == 0)
		t = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--timeout=", 10) == 0)
		t = argv[1] + 10;
	else if (argc != 1)
		goto bad;
	if (t != NULL && (config_parse_duration(t, 86400, &timeout) < 0 ||
	    timeout == 0)) {
		fprintf(stderr, "ringsyncctl: --timeout %s: expected a duration such "
		    "as 90s or 5m\n", t);
		return CTL_EXIT_CONFIG;
	}
	return cmd_auth_login(cfg, timeout);
bad:
	fprintf(stderr, "ringsyncctl: auth needs login, logout or status\n");
	ctl_usage(stderr);
	return CTL_EXIT_CONFIG;
}

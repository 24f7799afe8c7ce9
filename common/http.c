/*
 * http: libcurl multi-socket on libev, with the pacing scheduler (http.h).
 *
 * A request is in exactly one place: the failed list (refused before it
 * was sent), its group's queue (waiting for budget), a backoff timer, or
 * curl's multi handle. Only the pace timer adds handles to curl and only
 * completions remove them, so no user callback ever runs inside libcurl.
 */
#include "http.h"

#include <curl/curl.h>
#include <ev.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "util.h"
#include "version.h"

#define RATE_PENALTY_DEFAULT 60 /* s: a 429 without Retry-After */
#define CONNECT_TIMEOUT_MAX 30  /* s */

enum req_state { REQ_FAILED, REQ_QUEUED, REQ_WAITING, REQ_ACTIVE };

struct http_req {
	struct http *h;                  /* not owned */
	TAILQ_ENTRY(http_req) qlink;     /* failed list or group queue */
	TAILQ_ENTRY(http_req) alink;     /* h->all */
	enum req_state state;
	enum http_group group;
	CURL *easy;                      /* owned */
	struct curl_slist *headers;      /* owned; wiped */
	char *method, *url;              /* owned */
	char *body;                      /* owned; wiped */
	size_t body_len;
	struct http_part part;           /* owned copies when has_part */
	int has_part;
	curl_mime *mime;                 /* owned: the part as curl sends it */
	char *user, *password;           /* owned; wiped */
	int idempotent, max_attempts, attempts, rate_retries;
	int background;                  /* waits for the group's other requests */
	int hops;                        /* redirects followed */
	double sent;                     /* monotonic time of the last send */
	ev_timer wait;                   /* backoff */
	char *resp;                      /* owned: the response body */
	size_t resp_len, resp_cap;
	int too_large;
	const char *refused;             /* static reason, REQ_FAILED */
	char errbuf[CURL_ERROR_SIZE];
	http_done_cb *cb;
	void *arg;
};

TAILQ_HEAD(req_list, http_req);

/* One socket curl asked us to watch. */
struct http_sock {
	ev_io io;
	struct http *h;
	LIST_ENTRY(http_sock) link;
};

/*
 * sends: the monotonic times of one lane's sends in a group, oldest first,
 * kept for one window (what status shows as the budget used).
 */
struct sends {
	double *t;                       /* owned: t[head .. n - 1] are live */
	size_t head, n, cap;
};

struct http {
	struct ev_loop *loop;            /* not owned */
	CURLM *multi;                    /* owned */
	ev_timer curl_timer;             /* curl's timeout */
	ev_timer pace_timer;             /* the scheduler */
	char *ca_file;                   /* owned */
	struct curl_slist *connect_to;   /* owned; CURLOPT_CONNECT_TO, or NULL */
	int verify;
	unsigned int timeout;
	size_t max_body;
	unsigned int read_share;         /* % for background requests; 0: all */
	struct http_pace pace[HTTP_NGROUPS];
	struct req_list queue[HTTP_NGROUPS];
	struct req_list failed;
	struct req_list all;
	size_t npending;
	unsigned long long nsent;
	unsigned long long sent_by[HTTP_NGROUPS];    /* by rate group */
	unsigned long long limited_by[HTTP_NGROUPS]; /* 429s by rate group */
	struct sends lane_sends[HTTP_NGROUPS][2]; /* send times, by foreground
	                                           * (0) and background (1) */
	LIST_HEAD(, http_sock) socks;
	http_event_cb *event_cb;
	void *event_arg;
};

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
wipe(char *s, size_t len)
{
	if (s != NULL)
		explicit_bzero(s, len);
}

static void
req_free(struct http_req *r)
{
	struct http *h = r->h;

	TAILQ_REMOVE(&h->all, r, alink);
	h->npending--;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_mime_free(r->mime);
	if (r->has_part) {
		free((char *)r->part.name);
		free((char *)r->part.filename);
		free((char *)r->part.type);
		free((void *)r->part.data);
	}
	for (struct curl_slist *l = r->headers; l != NULL; l = l->next)
		wipe(l->data, strlen(l->data));
	curl_slist_free_all(r->headers);
	wipe(r->body, r->body_len);
	if (r->password != NULL)
		wipe(r->password, strlen(r->password));
	free(r->body);
	free(r->user);
	free(r->password);
	free(r->method);
	free(r->url);
	free(r->resp);
	free(r);
}

/* kick: run the scheduler at the next loop iteration. */
static void
kick(struct http *h)
{
	ev_timer_stop(h->loop, &h->pace_timer);
	ev_timer_set(&h->pace_timer, 0., 0.);
	ev_timer_start(h->loop, &h->pace_timer);
}

static void
emit(struct http_req *r, enum http_event_kind kind, long status, double delay)
{
	struct http *h = r->h;
	struct http_event ev;
	char *url;

	if (h->event_cb == NULL)
		return;
	url = xstrndup(r->url, strcspn(r->url, "?"));
	ev.kind = kind;
	ev.method = r->method;
	ev.url = url;
	ev.group = r->group;
	ev.status = status;
	ev.error = status == 0 || kind == HTTP_EV_REDIRECT_REFUSED ? r->errbuf :
	    "";
	ev.delay = delay;
	ev.attempt = r->attempts;
	h->event_cb(&ev, h->event_arg);
	free(url);
}

/* deliver: the request's end: its callback, then it is freed. */
static void
deliver(struct http_req *r, enum http_result result, long status,
    int retry_after)
{
	struct http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.result = result;
	resp.status = status;
	resp.body = r->resp != NULL ? r->resp : "";
	resp.body_len = r->resp_len;
	resp.retry_after = retry_after;
	resp.attempts = r->attempts;
	resp.error = result == HTTP_OK ? "" : r->refused != NULL ? r->refused :
	    r->errbuf;
	if (r->easy != NULL && result == HTTP_OK)
		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &resp.content_type);
	r->cb(&resp, r->arg);
	req_free(r);
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb;

	if (n > r->h->max_body - r->resp_len) {
		r->too_large = 1;
		return 0; /* curl aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		r->resp_cap = r->resp_cap ? r->resp_cap : 4096;
		while (r->resp_len + n + 1 > r->resp_cap)
			r->resp_cap *= 2;
		r->resp = xrealloc(r->resp, r->resp_cap);
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static void
setup_method(struct http_req *r)
{
	CURL *e = r->easy;

	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(r->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->has_part) {
		curl_mimepart *mp;

		r->mime = curl_mime_init(e);
		if (r->mime == NULL || (mp = curl_mime_addpart(r->mime)) == NULL ||
		    curl_mime_name(mp, r->part.name) != CURLE_OK ||
		    curl_mime_filename(mp, r->part.filename) != CURLE_OK ||
		    curl_mime_type(mp, r->part.type) != CURLE_OK ||
		    curl_mime_data(mp, r->part.data, r->part.len) != CURLE_OK)
			abort(); /* these fail only when memory runs out */
		curl_easy_setopt(e, CURLOPT_MIMEPOST, r->mime);
	} else if (r->body != NULL || strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
	}
}

/* setup_easy: the handle of a request, kept across its attempts. */
static void
setup_easy(struct http_req *r)
{
	struct http *h = r->h;
	CURL *e = curl_easy_init();

	if (e == NULL)
		abort(); /* curl_easy_init fails only when memory runs out */
	r->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* plain http only where http_url_allowed let it through (loopback) */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR,
	    strncasecmp(r->url, "http://", 7) == 0 ? "http" : "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)h->timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)(h->timeout <
	    CONNECT_TIMEOUT_MAX ? h->timeout : CONNECT_TIMEOUT_MAX));
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h->verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h->verify ? 2L : 0L);
	if (h->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->connect_to);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ringsync/" RINGSYNC_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (r->user != NULL) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, r->password ? r->password : "");
	}
	setup_method(r);
}

/* sends_prune: forget the sends before since. */
static void
sends_prune(struct sends *v, double since)
{
	while (v->head < v->n && v->t[v->head] < since)
		v->head++;
	if (v->head == v->n)
		v->head = v->n = 0;
}

/*
 * sends_note: one more send at now. A failed allocation loses the count,
 * never the request: the figure is for status only.
 */
static void
sends_note(struct sends *v, double now, int window)
{
	sends_prune(v, now - (window > 0 ? window : 60));
	if (v->n == v->cap && v->head > 0) {
		memmove(v->t, v->t + v->head, (v->n - v->head) * sizeof(*v->t));
		v->n -= v->head;
		v->head = 0;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		double *t = realloc(v->t, cap * sizeof(*t));

		if (t == NULL)
			return;
		v->t = t;
		v->cap = cap;
	}
	v->t[v->n++] = now;
}

/* start: hand a request to curl; its group's budget was checked. */
static void
start(struct http_req *r, double now)
{
	struct http *h = r->h;
	CURLMcode mc;

	if (r->easy == NULL)
		setup_easy(r);
	r->resp_len = 0;
	if (r->resp != NULL)
		r->resp[0] = '\0';
	r->too_large = 0;
	r->errbuf[0] = '\0';
	r->attempts++;
	r->sent = now;
	r->state = REQ_ACTIVE;
	h->nsent++;
	h->sent_by[r->group]++;
	sends_note(&h->lane_sends[r->group][r->background ? 1 : 0], now,
	    h->pace[r->group].window);
	http_pace_start(&h->pace[r->group], now);
	mc = curl_multi_add_handle(h->multi, r->easy);
	if (mc != CURLM_OK) {
		http_pace_end(&h->pace[r->group], now, now, NULL);
		snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_multi_strerror(mc));
		deliver(r, HTTP_E_UNSENT, 0, -1);
	}
}

/*
 * pick: the group's next request that may go now, in queue order: a
 * background one only within read_share of the budget, and nothing past a
 * foreground one that must wait (a retried background request at the head
 * does not hold up the writes behind it). NULL, with *wake the earliest
 * time one may, when none can.
 */
static struct http_req *
pick(struct http *h, int g, double now, double *wake)
{
	double fg = http_pace_next(&h->pace[g], now), bg = -1, t;
	struct http_req *q;

	*wake = HUGE_VAL;
	TAILQ_FOREACH(q, &h->queue[g], qlink) {
		if (q->background && bg < 0)
			bg = http_pace_next_share(&h->pace[g], now, h->read_share);
		t = q->background ? bg : fg;
		if (t <= now)
			return q;
		if (t < *wake)
			*wake = t;
		if (!q->background)
			break;
	}
	return NULL;
}

/* dispatch: the scheduler: refusals first, then each group's queue. */
static void
dispatch(struct http *h)
{
	double now = mono_now(), next = HUGE_VAL, t;
	struct http_req *r;

	while ((r = TAILQ_FIRST(&h->failed)) != NULL) {
		TAILQ_REMOVE(&h->failed, r, qlink);
		deliver(r, HTTP_E_REFUSED, 0, -1);
	}
	for (int g = 0; g < HTTP_NGROUPS; g++) {
		while ((r = pick(h, g, now, &t)) != NULL) {
			TAILQ_REMOVE(&h->queue[g], r, qlink);
			start(r, now);
		}
		if (t < next)
			next = t;
	}
	if (next < HUGE_VAL) {
		ev_timer_stop(h->loop, &h->pace_timer);
		ev_timer_set(&h->pace_timer, next - now, 0.);
		ev_timer_start(h->loop, &h->pace_timer);
	}
}

static void
pace_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	dispatch(w->data);
}

static void
wait_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_req *r = w->data;

	(void)loop;
	(void)revents;
	r->state = REQ_QUEUED;
	TAILQ_INSERT_HEAD(&r->h->queue[r->group], r, qlink);
	dispatch(r->h);
}

static const char *
header_value(CURL *e, const char *name)
{
	struct curl_header *hd;

	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return hd->value;
}

static enum http_result
classify(struct http_req *r, CURLcode code)
{
	long sent = 0;

	if (code == CURLE_OK)
		return HTTP_OK;
	if (r->too_large || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(r->errbuf, sizeof(r->errbuf), "the response is larger "
		    "than %zu bytes", r->h->max_body);
		return HTTP_E_TOO_LARGE;
	}
	if (r->errbuf[0] == '\0')
		snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(code));
	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return HTTP_E_TLS;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return HTTP_E_REFUSED;
	default:
		break;
	}
	curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
	return sent > 0 ? HTTP_E_SENT : HTTP_E_UNSENT;
}

/*
 * may_retry: connection failures before sending, and 503 (the server
 * says it did not act), are always safe to repeat; failures after sending
 * and other 5xx only for idempotent requests.
 */
static int
may_retry(const struct http_req *r, enum http_result res, long status)
{
	/* a redirect followed is no failed attempt */
	if (r->attempts - r->hops >= r->max_attempts)
		return 0;
	switch (res) {
	case HTTP_OK:
		return status == 503 || (status >= 500 && r->idempotent);
	case HTTP_E_UNSENT:
		return 1;
	case HTTP_E_SENT:
		return r->idempotent;
	default:
		return 0;
	}
}

/* learn: what the response headers say about the budget of the groups. */
static void
learn(struct http_req *r, CURLcode code, double now)
{
	struct http *h = r->h;
	struct http_rate rate;

	rate.valid = 0;
	if (code == CURLE_OK)
		http_rate_parse(header_value(r->easy, "X-Rate-Limit-Group"),
		    header_value(r->easy, "X-Rate-Limit-Limit"),
		    header_value(r->easy, "X-Rate-Limit-Remaining"),
		    header_value(r->easy, "X-Rate-Limit-Window"), &rate);
	if (rate.valid && rate.group >= 0 && rate.group != (int)r->group) {
		/* counted elsewhere than we thought: learn that group's budget */
		h->pace[rate.group].limit = rate.limit;
		h->pace[rate.group].window = rate.window;
		rate.valid = 0;
	}
	http_pace_end(&h->pace[r->group], r->sent, now, &rate);
}

static int
redirect_status(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

/* to_get: a 303: the same resource is read with a GET, without a body. */
static void
to_get(struct http_req *r)
{
	free(r->method);
	r->method = xstrdup("GET");
	wipe(r->body, r->body_len);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
}

/*
 * follow: a 3xx: the request goes again to its Location, only when that
 * is on the request's own scheme, host and port (it carries a token or
 * the client's credentials, and a POST its body); no Location means the
 * same URL again. 303 turns it into a GET; 301, 302, 307 and 308 keep the
 * method and the body. Queued first in its group, paced like any request.
 * Returns 0, or -1 with the reason in errbuf.
 */
static int
follow(struct http_req *r, long status)
{
	char *loc = NULL, from[300], to[300];

	if (++r->hops > HTTP_MAX_REDIRECTS) {
		snprintf(r->errbuf, sizeof(r->errbuf), "more than %d redirects",
		    HTTP_MAX_REDIRECTS);
		return -1;
	}
	curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc);
	if (loc != NULL && !http_same_origin(r->url, loc)) {
		snprintf(r->errbuf, sizeof(r->errbuf), "redirect from %s to %s "
		    "refused: requests go to the configured server only",
		    http_url_origin(r->url, from, sizeof(from)),
		    http_url_origin(loc, to, sizeof(to)));
		return -1;
	}
	if (loc != NULL) {
		loc = xstrdup(loc); /* curl's copy lives until the next transfer */
		free(r->url);
		r->url = loc;
		curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	}
	if (status == 303 && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0)
		to_get(r);
	r->state = REQ_QUEUED;
	TAILQ_INSERT_HEAD(&r->h->queue[r->group], r, qlink);
	return 0;
}

static void
finish(struct http_req *r, CURLcode code)
{
	struct http *h = r->h;
	double now = mono_now(), delay;
	enum http_result res;
	long status = 0;
	int ra = -1;

	curl_multi_remove_handle(h->multi, r->easy);
	learn(r, code, now);
	res = classify(r, code);
	if (res == HTTP_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		ra = http_retry_after_parse(header_value(r->easy, "Retry-After"),
		    (long long)time(NULL));
	}
	if (res == HTTP_OK && redirect_status(status)) {
		if (follow(r, status) == 0)
			return;
		emit(r, HTTP_EV_REDIRECT_REFUSED, status, 0);
		res = HTTP_E_REDIRECT;
	} else if (res == HTTP_OK && status == 429) {
		h->limited_by[r->group]++;
		delay = ra >= 0 ? ra : RATE_PENALTY_DEFAULT;
		http_pace_block(&h->pace[r->group], now + delay);
		if (++r->rate_retries <= HTTP_DEFAULT_RATE_RETRIES) {
			emit(r, HTTP_EV_RATE_WAIT, status, delay);
			r->state = REQ_QUEUED;
			TAILQ_INSERT_HEAD(&h->queue[r->group], r, qlink);
			return;
		}
	} else if (may_retry(r, res, status)) {
		/* the sequence from 2 s, jittered; a 503's Retry-After if longer */
		delay = util_retry_wait((unsigned int)(r->attempts - r->hops - 1),
		    status == 503 ? ra : -1, util_random32());
		emit(r, HTTP_EV_RETRY, status, delay);
		r->state = REQ_WAITING;
		ev_timer_set(&r->wait, delay, 0.);
		ev_timer_start(h->loop, &r->wait);
		return;
	}
	deliver(r, res, status, ra);
}

static void
check_done(struct http *h)
{
	struct http_req *r;
	CURLMsg *msg;
	int left, done = 0;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish(r, msg->data.result);
		done = 1;
	}
	if (done)
		kick(h); /* completions free budget */
}

static void
curl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http *h = w->data;
	int running;

	(void)loop;
	(void)revents;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

static void
sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_sock *s = w->data;
	struct http *h = s->h;
	int action = 0, running;

	(void)loop;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, w->fd, action, &running);
	check_done(h);
}

static void
sock_free(struct http_sock *s)
{
	ev_io_stop(s->h->loop, &s->io);
	LIST_REMOVE(s, link);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch what curl wants on fd. */
static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->h = h;
		s->io.data = s;
		LIST_INSERT_HEAD(&h->socks, s, link);
		curl_multi_assign(h->multi, fd, s);
	} else {
		ev_io_stop(h->loop, &s->io);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	ev_io_init(&s->io, sock_io_cb, fd, events);
	s->io.data = s;
	ev_io_start(h->loop, &s->io);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; curl is called back from the loop. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	ev_timer_stop(h->loop, &h->curl_timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&h->curl_timer, (double)timeout_ms / 1000., 0.);
		ev_timer_start(h->loop, &h->curl_timer);
	}
	return 0;
}

struct http *
http_new(struct ev_loop *loop, const struct http_opts *opts, char *err,
    size_t errlen)
{
	struct http *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		util_errbuf_set(err, errlen, "libcurl cannot be initialised");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		abort(); /* fails only when memory runs out */
	h->ca_file = opts->ca_file ? xstrdup(opts->ca_file) : NULL;
	if (opts->connect_to != NULL) {
		/* "::HOST:PORT": whatever the URL's host and port */
		char *map = xasprintf("::%s", opts->connect_to);

		h->connect_to = curl_slist_append(NULL, map);
		free(map);
		if (h->connect_to == NULL)
			abort(); /* fails only when memory runs out */
	}
	h->verify = opts->verify;
	h->timeout = opts->timeout ? opts->timeout : 30;
	h->max_body = opts->max_body ? opts->max_body : HTTP_MAX_BODY;
	h->read_share = opts->read_share;
	TAILQ_INIT(&h->failed);
	TAILQ_INIT(&h->all);
	LIST_INIT(&h->socks);
	for (int g = 0; g < HTTP_NGROUPS; g++) {
		int limit, window;

		http_group_defaults(g, &limit, &window);
		http_pace_init(&h->pace[g], limit, window);
		TAILQ_INIT(&h->queue[g]);
	}
	ev_timer_init(&h->curl_timer, curl_timer_cb, 0., 0.);
	h->curl_timer.data = h;
	ev_timer_init(&h->pace_timer, pace_timer_cb, 0., 0.);
	h->pace_timer.data = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

/*
 * req_drop: end r without its callback, wherever it is: off the wire (a
 * request sent counts as done for the pacing: the server saw it), off its
 * queue, or its backoff timer stopped.
 */
static void
req_drop(struct http_req *r)
{
	struct http *h = r->h;

	switch (r->state) {
	case REQ_ACTIVE:
		curl_multi_remove_handle(h->multi, r->easy);
		http_pace_end(&h->pace[r->group], r->sent, mono_now(), NULL);
		break;
	case REQ_WAITING:
		ev_timer_stop(h->loop, &r->wait);
		break;
	case REQ_QUEUED:
		TAILQ_REMOVE(&h->queue[r->group], r, qlink);
		break;
	case REQ_FAILED:
		TAILQ_REMOVE(&h->failed, r, qlink);
		break;
	}
	req_free(r);
}

void
http_cancel_all(struct http *h)
{
	struct http_req *r;

	while ((r = TAILQ_FIRST(&h->all)) != NULL)
		req_drop(r);
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	http_cancel_all(h);
	ev_timer_stop(h->loop, &h->curl_timer);
	ev_timer_stop(h->loop, &h->pace_timer);
	curl_multi_cleanup(h->multi);
	while (!LIST_EMPTY(&h->socks))
		sock_free(LIST_FIRST(&h->socks));
	for (int g = 0; g < HTTP_NGROUPS; g++) {
		http_pace_clear(&h->pace[g]);
		free(h->lane_sends[g][0].t);
		free(h->lane_sends[g][1].t);
	}
	free(h->ca_file);
	curl_slist_free_all(h->connect_to);
	free(h);
	curl_global_cleanup();
}

void
http_set_event_cb(struct http *h, http_event_cb *cb, void *arg)
{
	h->event_cb = cb;
	h->event_arg = arg;
}

/*
 * queue_add: a new request at the end of its group's queue, but a
 * foreground one before the first background one: writes (and the reads
 * they wait for) go first, the import's lists fill what is left.
 */
static void
queue_add(struct http *h, struct http_req *r)
{
	struct http_req *q;

	if (!r->background)
		TAILQ_FOREACH(q, &h->queue[r->group], qlink)
			if (q->background) {
				TAILQ_INSERT_BEFORE(q, r, qlink);
				return;
			}
	TAILQ_INSERT_TAIL(&h->queue[r->group], r, qlink);
}

void
http_submit(struct http *h, const struct http_request *req, http_done_cb *cb,
    void *arg)
{
	struct http_req *r = xcalloc(1, sizeof(*r));

	r->h = h;
	r->group = (unsigned int)req->group < HTTP_NGROUPS ? req->group :
	    HTTP_LIGHT;
	r->method = xstrdup(req->method);
	r->url = xstrdup(req->url);
	if (req->body != NULL) {
		r->body = xmalloc(req->body_len + 1);
		memcpy(r->body, req->body, req->body_len);
		r->body[req->body_len] = '\0';
		r->body_len = req->body_len;
	}
	if (req->part != NULL) {
		void *data = xmalloc(req->part->len ? req->part->len : 1);

		memcpy(data, req->part->data, req->part->len);
		r->part.name = xstrdup(req->part->name);
		r->part.filename = xstrdup(req->part->filename);
		r->part.type = xstrdup(req->part->type);
		r->part.data = data;
		r->part.len = req->part->len;
		r->has_part = 1;
	}
	r->user = req->basic_user ? xstrdup(req->basic_user) : NULL;
	r->password = req->basic_password ? xstrdup(req->basic_password) : NULL;
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		r->headers = curl_slist_append(r->headers, req->headers[i]);
	/* no "Expect: 100-continue" round trip for large bodies */
	r->headers = curl_slist_append(r->headers, "Expect:");
	if (r->headers == NULL)
		abort(); /* curl_slist_append fails only when memory runs out */
	r->idempotent = req->idempotent;
	r->background = req->background;
	r->max_attempts = req->max_attempts > 0 ? req->max_attempts :
	    HTTP_DEFAULT_ATTEMPTS;
	r->cb = cb;
	r->arg = arg;
	ev_timer_init(&r->wait, wait_timer_cb, 0., 0.);
	r->wait.data = r;
	TAILQ_INSERT_TAIL(&h->all, r, alink);
	h->npending++;
	if (!http_url_allowed(r->url)) {
		r->refused = "only https URLs (or http to a loopback address) "
		    "are allowed";
		r->state = REQ_FAILED;
		TAILQ_INSERT_TAIL(&h->failed, r, qlink);
	} else {
		r->state = REQ_QUEUED;
		queue_add(h, r);
	}
	kick(h);
}

size_t
http_pending(const struct http *h)
{
	return h->npending;
}

unsigned long long
http_sent(const struct http *h)
{
	return h->nsent;
}

void
http_group_counts(const struct http *h, enum http_group g,
    unsigned long long *sent, unsigned long long *limited)
{
	*sent = h->sent_by[g];
	*limited = h->limited_by[g];
}

double
http_group_wait(struct http *h, enum http_group g)
{
	double now = mono_now(), next;

	if (!TAILQ_EMPTY(&h->queue[g]))
		return -1;
	next = http_pace_next(&h->pace[g], now);
	if (next == HUGE_VAL)
		return -1;
	return next > now ? next - now : 0;
}

void
http_group_use(struct http *h, enum http_group g, struct http_group_use *u)
{
	double now = mono_now();
	int window = h->pace[g].window > 0 ? h->pace[g].window : 60;
	struct http_req *q;

	memset(u, 0, sizeof(*u));
	u->limit = h->pace[g].limit;
	u->window = h->pace[g].window;
	u->inflight = (unsigned int)h->pace[g].ninflight;
	for (int l = 0; l < 2; l++) {
		struct sends *v = &h->lane_sends[g][l];

		sends_prune(v, now - window);
		u->sent[l] = (unsigned int)(v->n - v->head);
	}
	TAILQ_FOREACH(q, &h->queue[g], qlink)
		u->queued[q->background ? 1 : 0]++;
}

void
http_group_state(const struct http *h, enum http_group g, int *limit,
    int *window, int *inflight)
{
	*limit = h->pace[g].limit;
	*window = h->pace[g].window;
	*inflight = (int)h->pace[g].ninflight;
}

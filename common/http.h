/*
 * http: HTTPS requests on the daemon's libev loop, paced per rate-limit
 * group.
 *
 * libcurl's multi-socket interface is driven by the loop (one ev_io per
 * socket curl asks about, one ev_timer for curl's timeouts); nothing here
 * blocks or polls. Requests wait in a FIFO per rate group (Light, Medium,
 * Heavy, Auth) and a pacing scheduler (one ev_timer) releases them so that
 * a group's budget, learnt from the X-Rate-Limit-* headers of the
 * responses and starting from the documented defaults, is never exceeded
 * (requests in flight count). 429 blocks the whole group for Retry-After;
 * connection failures and 5xx are retried after 2, 3, 5, 8, 13, 21, 30,
 * 30 ... s with jitter, within a per-request attempt budget, and a request
 * that is not idempotent is never repeated when the server may have acted.
 * Redirects (301, 302, 303, 307, 308) are followed by the module itself,
 * only to the request's own scheme, host and port (the request carries a
 * token or the client's credentials), at most HTTP_MAX_REDIRECTS times;
 * each hop is paced like a new request.
 *
 * The module owns the curl handles, its watchers and every request from
 * submission to completion; a completion callback borrows the response.
 * It never logs: retries and waits are reported through an optional event
 * callback, and the caller decides what to say.
 */
#ifndef RINGSYNC_HTTP_H
#define RINGSYNC_HTTP_H

#include <stddef.h>

struct ev_loop;

enum http_group {
	HTTP_LIGHT,
	HTTP_MEDIUM,
	HTTP_HEAVY,
	HTTP_AUTH,
	HTTP_NGROUPS
};

/* http_group_name: "Light", ... ; http_group_from_name: -1 if unknown. */
const char *http_group_name(enum http_group g);
int http_group_from_name(const char *name);

/* The documented default budget of a group: limit requests per window s. */
void http_group_defaults(enum http_group g, int *limit, int *window);

/* ---------------------------------------------------------------------
 * Pacing arithmetic (pure; the scheduler's memory of one group). Times
 * are seconds on any monotonic clock.
 *
 * The server counts a request when it arrives, in a sliding window. A
 * request's arrival lies between its send time and the time its response
 * came back, so the scheduler counts every request in flight, and a
 * finished one until `window` seconds after its completion: a new request
 * can never arrive while more than limit - 1 others are in the server's
 * window. Until one round trip has shown the server's view, one request
 * is in flight at a time. When the server reports fewer remaining
 * requests than our own count explains (another client of the same app,
 * or our previous run), the difference is remembered as phantom requests
 * completed at that response.
 */
struct http_pace_entry {
	double sent, done;
};

struct http_pace {
	int limit;              /* requests per window */
	int window;             /* seconds */
	int known;              /* a request has completed: no more probing */
	double blocked_until;   /* Retry-After: nothing before this time */
	double *inflight;       /* owned: send times of requests in flight */
	size_t ninflight, inflight_cap;
	struct http_pace_entry *done; /* owned: completions, oldest first */
	size_t ndone, done_cap;
};

/* What a response said about its group (valid = 0: nothing usable). */
struct http_rate {
	int valid;
	int group;              /* enum http_group, or -1 when not named */
	int limit, remaining, window;
};

void http_pace_init(struct http_pace *p, int limit, int window);
void http_pace_clear(struct http_pace *p);  /* frees the arrays */

/*
 * http_pace_next: the earliest time >= now at which one more request may
 * be sent; HUGE_VAL when only a completion can free budget.
 */
double http_pace_next(struct http_pace *p, double now);
/*
 * http_pace_next_share: the same for a background request, which may take
 * only share percent of the limit (at least one request a window; 0 or
 * 100: the whole limit).
 */
double http_pace_next_share(struct http_pace *p, double now,
    unsigned int share);
/* http_share_cap: requests a window share percent of limit allows. Pure. */
size_t http_share_cap(int limit, unsigned int share);
/* http_pace_start: a request is sent at now (the caller checked next). */
void http_pace_start(struct http_pace *p, double now);
/*
 * http_pace_end: the request sent at `sent` completed at now (response or
 * failure); rate, when valid and naming this group or none, updates the
 * limit and window and reveals foreign requests.
 */
void http_pace_end(struct http_pace *p, double sent, double now,
    const struct http_rate *rate);
/* http_pace_block: Retry-After: the group sends nothing before until. */
void http_pace_block(struct http_pace *p, double until);

/*
 * http_backoff_delay: seconds to wait before attempt n + 1 after the n-th
 * failure (n >= 1): 2, 3, 5, 8, 13, 21, 30, then 30, before jitter.
 */
double http_backoff_delay(int n);

/*
 * http_rate_parse: the X-Rate-Limit-* header values (any may be NULL)
 * into r; r->valid only when limit and window are sane numbers.
 */
void http_rate_parse(const char *group, const char *limit,
    const char *remaining, const char *window, struct http_rate *r);

/*
 * http_retry_after_parse: a Retry-After value (delta seconds, or an HTTP
 * date relative to now_unix) in seconds, at most one day; -1 if absent or
 * malformed.
 */
int http_retry_after_parse(const char *value, long long now_unix);

/* ---------------------------------------------------------------------
 * The client. */

struct http_opts {
	const char *ca_file;    /* extra CA bundle (CURLOPT_CAINFO), or NULL */
	const char *connect_to; /* HOST:PORT every connection goes to instead
	                         * of the URL's (CURLOPT_CONNECT_TO; the URL's
	                         * name is still the one verified), or NULL */
	int verify;             /* verify the server's certificate and name */
	unsigned int timeout;   /* seconds per attempt (whole transfer) */
	size_t max_body;        /* response bytes; 0: HTTP_MAX_BODY */
	unsigned int read_share; /* % of a group's limit background requests
	                          * may use; 0: all of it */
};

#define HTTP_MAX_BODY ((size_t)32 << 20)
#define HTTP_DEFAULT_ATTEMPTS 4
#define HTTP_DEFAULT_RATE_RETRIES 3
#define HTTP_MAX_REDIRECTS 5

enum http_result {
	HTTP_OK,          /* a response arrived (any status) */
	HTTP_E_UNSENT,    /* connection failure before the request went out */
	HTTP_E_SENT,      /* failure after sending: the server may have acted */
	HTTP_E_TOO_LARGE, /* the response exceeded max_body */
	HTTP_E_TLS,       /* certificate verification failed */
	HTTP_E_REFUSED,   /* URL not allowed (plain http off loopback, ...) */
	HTTP_E_REDIRECT,  /* a redirect not followed: another host, or too many */
};

struct http_response {
	enum http_result result;
	long status;              /* HTTP status; 0 without a response */
	const char *body;         /* NUL-terminated (may hold NULs) */
	size_t body_len;
	const char *content_type; /* or NULL */
	int retry_after;          /* seconds, -1 if absent */
	int attempts;             /* how many times it was sent */
	const char *error;        /* a reason when result != HTTP_OK, else "" */
};

/*
 * Completion: called exactly once per submitted request, from the loop
 * (never from inside http_submit). The response and everything it points
 * to are valid until the callback returns. The callback may submit new
 * requests; it must not call http_free.
 */
typedef void http_done_cb(const struct http_response *resp, void *arg);

/* One file part of a multipart/form-data body (curl's MIME API). */
struct http_part {
	const char *name;         /* the form field, e.g. "image" */
	const char *filename;     /* the part's file name */
	const char *type;         /* the part's Content-Type */
	const void *data;         /* its bytes */
	size_t len;
};

struct http_request {
	const char *method;       /* "GET", "POST", "PATCH", ... */
	const char *url;          /* absolute; https, or http to loopback */
	enum http_group group;
	const char *const *headers; /* "Name: value" strings, NULL-terminated */
	const char *body;         /* sent as is, or NULL */
	size_t body_len;
	const struct http_part *part; /* instead of body: a multipart/form-data
	                           * body of this one part, or NULL */
	const char *basic_user;   /* HTTP Basic credentials, or NULL */
	const char *basic_password;
	int idempotent;           /* may be repeated after a failure */
	int max_attempts;         /* 0: HTTP_DEFAULT_ATTEMPTS */
	int background;           /* a read that can wait: sent after every
	                           * other request its group has queued, and
	                           * only while the group's window holds less
	                           * than read_share of its limit */
};

/* Events for the caller's log (all borrowed for the callback's duration). */
enum http_event_kind {
	HTTP_EV_RETRY,     /* a failure; the request is sent again after delay */
	HTTP_EV_RATE_WAIT, /* 429: the group waits delay seconds */
	HTTP_EV_REDIRECT_REFUSED, /* a 3xx not followed: error says why */
};

struct http_event {
	enum http_event_kind kind;
	const char *method;
	const char *url;      /* without the query */
	enum http_group group;
	long status;          /* 0 for a connection failure */
	const char *error;    /* curl's reason, why a redirect was refused, or "" */
	double delay;         /* seconds */
	int attempt;          /* the attempt that failed */
};

typedef void http_event_cb(const struct http_event *ev, void *arg);

struct http;

/*
 * http_new: a client on loop with copies of opts. Returns NULL with a
 * message in err when libcurl cannot be set up.
 */
struct http *http_new(struct ev_loop *loop, const struct http_opts *opts,
    char *err, size_t errlen);
/*
 * http_free: stop every watcher, drop every request (queued, waiting or in
 * flight) without calling its callback, close the connections. NULL: no-op.
 */
void http_free(struct http *h);
/*
 * http_cancel_all: drop every request (queued, waiting or in flight)
 * without calling its callback; the client, its connections and what it
 * learnt of the rate limits stay. After it returns no callback of a
 * request submitted before runs. Not from inside one of the client's
 * callbacks.
 */
void http_cancel_all(struct http *h);

void http_set_event_cb(struct http *h, http_event_cb *cb, void *arg);

/*
 * http_submit: queue a request (everything in req is copied; secrets in
 * headers, body and credentials are wiped when the request ends). The
 * callback runs when it is done, whatever happened.
 */
void http_submit(struct http *h, const struct http_request *req,
    http_done_cb *cb, void *arg);

/* http_pending: requests not yet completed (queued, waiting, in flight). */
size_t http_pending(const struct http *h);
/* http_sent: how many times requests went out (every attempt counts). */
unsigned long long http_sent(const struct http *h);
/* http_group_counts: requests sent and 429s received in group g, ever. */
void http_group_counts(const struct http *h, enum http_group g,
    unsigned long long *sent, unsigned long long *limited);

/*
 * http_group_state: the scheduler's current view of a group (for status
 * output and tests): limit, window, requests in flight.
 */
void http_group_state(const struct http *h, enum http_group g, int *limit,
    int *window, int *inflight);

/*
 * http_group_use: what group g's budget is spent on now, by lane: [0] the
 * foreground (writes, and the pusher's lookups), [1] the background reads
 * (read_share): requests sent within the last window, and queued.
 */
struct http_group_use {
	int limit, window;
	unsigned int inflight;
	unsigned int sent[2], queued[2];
};
void http_group_use(struct http *h, enum http_group g,
    struct http_group_use *u);

/*
 * http_group_wait: seconds until one more request of group g could be sent
 * at once (0: now), or -1 when requests of the group are already waiting
 * or only a completion can free budget. Lets a caller build a request only
 * when it can go out, so it carries the newest data.
 */
double http_group_wait(struct http *h, enum http_group g);

/* http_url_allowed: 1 for https URLs and http URLs whose host is loopback. */
int http_url_allowed(const char *url);

/*
 * http_same_origin: 1 when absolute URLs a and b have the same scheme, host
 * and port (case-insensitive; a missing port is the scheme's default), 0
 * otherwise, or when either is not a URL or names a user. Pure.
 */
int http_same_origin(const char *a, const char *b);
/*
 * http_url_origin: "scheme://host:port" of url into buf (the port always
 * shown), or "(not a URL)". Returns buf. Pure.
 */
const char *http_url_origin(const char *url, char *buf, size_t len);

#endif

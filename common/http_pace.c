/*
 * http_pace: the pure part of the http module: rate groups, the pacing
 * arithmetic, the backoff sequence and the header parsers (http.h).
 */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/*
 * A completion is counted until window + PACE_MARGIN seconds after it:
 * the margin absorbs rounding between our clock and the server's.
 */
#define PACE_MARGIN 0.005
#define RATE_LIMIT_MAX 1000000
#define RATE_WINDOW_MAX 86400
#define RETRY_AFTER_MAX 86400

static const struct {
	const char *name;
	int limit, window;
} groups[HTTP_NGROUPS] = {
	[HTTP_LIGHT] = { "Light", 50, 60 },
	[HTTP_MEDIUM] = { "Medium", 40, 60 },
	[HTTP_HEAVY] = { "Heavy", 10, 60 },
	[HTTP_AUTH] = { "Auth", 5, 60 },
};

const char *
http_group_name(enum http_group g)
{
	return (unsigned int)g < HTTP_NGROUPS ? groups[g].name : "unknown";
}

int
http_group_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int g = 0; g < HTTP_NGROUPS; g++)
		if (strcasecmp(name, groups[g].name) == 0)
			return g;
	return -1;
}

void
http_group_defaults(enum http_group g, int *limit, int *window)
{
	*limit = groups[g].limit;
	*window = groups[g].window;
}

void
http_pace_init(struct http_pace *p, int limit, int window)
{
	memset(p, 0, sizeof(*p));
	p->limit = limit > 0 ? limit : 1;
	p->window = window > 0 ? window : 1;
}

void
http_pace_clear(struct http_pace *p)
{
	free(p->inflight);
	free(p->done);
	memset(p, 0, sizeof(*p));
}

/*
 * pace_prune: forget completions that can matter neither for pacing nor
 * for reading a future response's Remaining header: a response to a
 * request still in flight (sent at s) or sent later is compared with the
 * completions after s - window.
 */
static void
pace_prune(struct http_pace *p, double now)
{
	double horizon = now;
	size_t k = 0;

	for (size_t i = 0; i < p->ninflight; i++)
		if (p->inflight[i] < horizon)
			horizon = p->inflight[i];
	horizon -= p->window + PACE_MARGIN;
	while (k < p->ndone && p->done[k].done <= horizon)
		k++;
	if (k > 0) {
		memmove(p->done, p->done + k, (p->ndone - k) * sizeof(p->done[0]));
		p->ndone -= k;
	}
}

/* next_at: http_pace_next with limit requests a window. */
static double
next_at(struct http_pace *p, double now, size_t limit)
{
	size_t first = 0, n, k;

	pace_prune(p, now);
	if (now < p->blocked_until)
		return p->blocked_until;
	if (!p->known && p->ninflight > 0)
		return HUGE_VAL;
	while (first < p->ndone &&
	    p->done[first].done + p->window + PACE_MARGIN <= now)
		first++;
	n = p->ninflight + (p->ndone - first);
	if (n < limit)
		return now;
	/* the oldest n - limit + 1 counted completions must expire first */
	k = first + (n - limit);
	if (k >= p->ndone)
		return HUGE_VAL;
	return p->done[k].done + p->window + PACE_MARGIN;
}

double
http_pace_next(struct http_pace *p, double now)
{
	return next_at(p, now, (size_t)p->limit);
}

double
http_pace_next_share(struct http_pace *p, double now, unsigned int share)
{
	return next_at(p, now, http_share_cap(p->limit, share));
}

size_t
http_share_cap(int limit, unsigned int share)
{
	size_t cap = limit > 0 ? (size_t)limit : 0;

	if (share > 0 && share < 100) {
		cap = cap * share / 100;
		if (cap < 1)
			cap = 1;
	}
	return cap;
}

void
http_pace_start(struct http_pace *p, double now)
{
	if (p->ninflight == p->inflight_cap) {
		p->inflight_cap = p->inflight_cap ? 2 * p->inflight_cap : 16;
		p->inflight = xreallocarray(p->inflight, p->inflight_cap,
		    sizeof(p->inflight[0]));
	}
	p->inflight[p->ninflight++] = now;
}

/* pace_add_done: insert a completion, keeping the array in time order. */
static void
pace_add_done(struct http_pace *p, double sent, double done)
{
	size_t i;

	if (p->ndone == p->done_cap) {
		p->done_cap = p->done_cap ? 2 * p->done_cap : 32;
		p->done = xreallocarray(p->done, p->done_cap, sizeof(p->done[0]));
	}
	i = p->ndone;
	while (i > 0 && p->done[i - 1].done > done) {
		p->done[i] = p->done[i - 1];
		i--;
	}
	p->done[i].sent = sent;
	p->done[i].done = done;
	p->ndone++;
}

/*
 * pace_foreign: the server counted used requests in its window when the
 * request sent at `sent` arrived (at or before now). Ours that can be
 * among them: every request in flight, and every completion after
 * sent - window. More than that were someone else's; they leave the
 * server's window by now + window at the latest.
 */
static void
pace_foreign(struct http_pace *p, double sent, double now, int used)
{
	size_t ours = p->ninflight;

	for (size_t i = 0; i < p->ndone; i++)
		if (p->done[i].done > sent - p->window)
			ours++;
	while ((size_t)used > ours) {
		pace_add_done(p, now, now);
		ours++;
	}
}

void
http_pace_end(struct http_pace *p, double sent, double now,
    const struct http_rate *rate)
{
	size_t best = p->ninflight;

	for (size_t i = 0; i < p->ninflight; i++)
		if (best == p->ninflight ||
		    fabs(p->inflight[i] - sent) < fabs(p->inflight[best] - sent))
			best = i;
	if (best < p->ninflight)
		p->inflight[best] = p->inflight[--p->ninflight];
	pace_add_done(p, sent, now);
	p->known = 1;
	if (rate == NULL || !rate->valid)
		return;
	p->limit = rate->limit;
	p->window = rate->window;
	if (rate->remaining >= 0 && rate->remaining <= rate->limit)
		pace_foreign(p, sent, now, rate->limit - rate->remaining);
}

void
http_pace_block(struct http_pace *p, double until)
{
	if (until > p->blocked_until)
		p->blocked_until = until;
}

double
http_backoff_delay(int n)
{
	/* The platform's sequence, shared with AD reconnects (util.h). */
	return (double)util_retry_delay(n < 1 ? 0 : (unsigned int)(n - 1));
}

/* parse_count: a header value made of digits (white space around), else -1. */
static long
parse_count(const char *s, long max)
{
	char *end;
	long v;

	if (s == NULL)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	return v;
}

void
http_rate_parse(const char *group, const char *limit, const char *remaining,
    const char *window, struct http_rate *r)
{
	long l = parse_count(limit, RATE_LIMIT_MAX);
	long w = parse_count(window, RATE_WINDOW_MAX);
	long rem = parse_count(remaining, RATE_LIMIT_MAX);

	memset(r, 0, sizeof(*r));
	r->group = http_group_from_name(group);
	r->valid = l >= 1 && w >= 1;
	r->limit = (int)l;
	r->window = (int)w;
	r->remaining = rem >= 0 && rem <= l ? (int)rem : -1;
}

int
http_retry_after_parse(const char *value, long long now_unix)
{
	long secs = parse_count(value, LONG_MAX);
	time_t when;

	if (secs < 0 && value != NULL && strlen(value) > 10) {
		when = curl_getdate(value, NULL);
		if (when == -1)
			return -1;
		secs = when > now_unix ? (long)(when - now_unix) : 0;
	}
	if (secs < 0)
		return -1;
	return secs > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (int)secs;
}

/* loopback_host: 127.0.0.0/8 in dotted form, ::1, or localhost. */
static int
loopback_host(const char *host)
{
	int dots = 0;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	if (strncmp(host, "127.", 4) != 0)
		return 0;
	for (const char *s = host; *s; s++) {
		if (*s == '.')
			dots++;
		else if (!isdigit((unsigned char)*s))
			return 0;
	}
	return dots == 3;
}

int
http_url_allowed(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (u == NULL)
		abort(); /* out of memory */
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		ok = strcasecmp(scheme, "https") == 0 ||
		    (strcasecmp(scheme, "http") == 0 && loopback_host(host));
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static void
origin_free(char *scheme, char *host, char *port)
{
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
}

/*
 * url_origin: the scheme, host and port of url (the scheme's default port
 * when none is given), each newly allocated by curl; -1 if not a URL, or
 * when it carries a user name (credentials a server slipped in) and
 * any_user is 0.
 */
static int
url_origin(const char *url, int any_user, char **scheme, char **host,
    char **port)
{
	CURLU *u = curl_url();
	char *user = NULL;
	int rc = -1;

	if (u == NULL)
		abort(); /* out of memory */
	*scheme = *host = *port = NULL;
	if (url != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    (any_user || curl_url_get(u, CURLUPART_USER, &user, 0) ==
	    CURLUE_NO_USER))
		rc = 0;
	curl_free(user);
	curl_url_cleanup(u);
	if (rc < 0) {
		origin_free(*scheme, *host, *port);
		*scheme = *host = *port = NULL;
	}
	return rc;
}

int
http_same_origin(const char *a, const char *b)
{
	char *sa, *ha, *pa, *sb, *hb, *pb;
	int same = 0;
	int ok_a = url_origin(a, 0, &sa, &ha, &pa) == 0;
	int ok_b = url_origin(b, 0, &sb, &hb, &pb) == 0;

	if (ok_a && ok_b)
		same = strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 &&
		    strcmp(pa, pb) == 0;
	origin_free(sa, ha, pa);
	origin_free(sb, hb, pb);
	return same;
}

const char *
http_url_origin(const char *url, char *buf, size_t len)
{
	char *scheme, *host, *port;

	if (url_origin(url, 1, &scheme, &host, &port) == 0)
		snprintf(buf, len, "%s://%s:%s", scheme, host, port);
	else
		snprintf(buf, len, "(not a URL)");
	origin_free(scheme, host, port);
	return buf;
}

/*
 * fuzz_http_headers: the response headers the client acts on
 * (http_pace.c): X-Rate-Limit-Group, -Limit, -Remaining, -Window and
 * Retry-After (delta seconds or an HTTP date), and what the pacing
 * scheduler makes of them.
 *
 * Input: five lines, the values of those headers in that order; a missing
 * line is an absent header. Oracles: usable numbers stay in their bounds,
 * Retry-After is -1 or 0 .. one day, and the scheduler never schedules a
 * request in the past.
 */
#include <math.h>

#include "fuzz.h"
#include "http.h"

#define NOW_UNIX 1700000000LL

static void
pace(const struct http_rate *rate, int retry_after)
{
	struct http_pace p;
	int limit, window;
	double next;

	http_group_defaults(rate->group >= 0 ? rate->group : HTTP_LIGHT, &limit,
	    &window);
	http_pace_init(&p, limit, window);
	for (int i = 0; i < 3; i++) {
		double now = 10.0 * i;

		http_pace_start(&p, now);
		http_pace_end(&p, now, now + 0.25, rate);
		if (retry_after > 0)
			http_pace_block(&p, now + 0.25 + retry_after);
		next = http_pace_next(&p, now + 0.5);
		fz_check(next >= now + 0.5 && !isnan(next));
	}
	http_pace_clear(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	char *v[5] = { NULL };
	struct http_rate rate;
	int ra;

	for (size_t i = 0; i < 5; i++)
		v[i] = fz_line(&f, NULL);
	http_rate_parse(v[0], v[1], v[2], v[3], &rate);
	fz_check(rate.group >= -1 && rate.group < HTTP_NGROUPS);
	if (rate.valid) {
		fz_check(rate.limit >= 1 && rate.window >= 1);
		fz_check(rate.remaining >= -1 && rate.remaining <= rate.limit);
	}
	ra = http_retry_after_parse(v[4], NOW_UNIX);
	fz_check(ra >= -1 && ra <= 86400);
	pace(&rate, ra);
	for (size_t i = 0; i < 5; i++)
		free(v[i]);
	return 0;
}

/*
 * brand: the brands of the RingCentral platform, by the name
 * [telephony] brand gives: each with its brand id (sent on the
 * authorization URL, so the sign-in page shows the partner's branding)
 * and the API server of its environment. A name not in the table is
 * only the name people see in messages.
 */
#ifndef RINGSYNC_BRAND_H
#define RINGSYNC_BRAND_H

#include <stddef.h>

struct brand {
	const char *name;    /* as people write it */
	const char *id;      /* the platform's brand id */
	const char *server;  /* its API server */
};

/* brand_find: by name, case-insensitively; NULL when not a known brand. */
const struct brand *brand_find(const char *name);
/* brand_at: the i-th of the table (for the documentation), or NULL. */
const struct brand *brand_at(size_t i);

#endif

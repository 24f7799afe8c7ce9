#include "sync.h"

#include <stdlib.h>

#include "util.h"

struct sync {
	const struct config *cfg; /* borrowed from the daemon */
	struct store *store;      /* borrowed from the daemon */
	int dry_run;
};

struct sync *
sync_new(const struct config *cfg, struct store *st, int dry_run)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->store = st;
	s->dry_run = dry_run;
	return s;
}

void
sync_free(struct sync *s)
{
	free(s);
}

void
sync_set_config(struct sync *s, const struct config *cfg)
{
	s->cfg = cfg;
}

enum sync_status
sync_cycle(struct sync *s, enum sync_kind kind)
{
	/* The stages arrive with issues #3 (AD), #4 (phone) and #5 (engine). */
	(void)s;
	(void)kind;
	return SYNC_OK;
}

const char *
sync_kind_name(enum sync_kind kind)
{
	switch (kind) {
	case SYNC_INCREMENTAL: return "incremental";
	case SYNC_IMPORT: return "import";
	case SYNC_FULL: return "full";
	}
	return "unknown";
}

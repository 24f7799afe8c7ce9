/*
 * sync: the cycle the daemon's timers drive (ARCHITECTURE.md: scanner ->
 * outbox -> pusher; importer -> write-back queue -> writer).
 *
 * This module is the single entry point ringsyncd calls; the stages land
 * in it with the AD, phone-system and sync-engine issues (#3, #4, #5).
 * Until then a cycle does nothing and reports success. The struct sync
 * borrows the configuration and the store: the daemon owns both.
 */
#ifndef RINGSYNC_SYNC_H
#define RINGSYNC_SYNC_H

#include "config.h"
#include "store.h"

enum sync_kind {
	SYNC_INCREMENTAL, /* the poll timer: usnChanged scan, then push */
	SYNC_IMPORT,      /* the import timer: numbers, then write-back */
	SYNC_FULL,        /* the full-sync timer and --full-resync */
};

/* Exit statuses of --once (SPEC section 6, contract). */
enum sync_status {
	SYNC_OK = 0,
	SYNC_USERS_FAILED = 1,
	SYNC_UNREACHABLE = 3,
};

struct sync;

struct sync *sync_new(const struct config *cfg, struct store *st, int dry_run);
void sync_free(struct sync *s);
/* sync_set_config: use cfg from now on (after a SIGHUP reload). */
void sync_set_config(struct sync *s, const struct config *cfg);
/* sync_cycle: run one cycle of the given kind to its end. */
enum sync_status sync_cycle(struct sync *s, enum sync_kind kind);
const char *sync_kind_name(enum sync_kind kind);

#endif

/*
 * sync_internal: what the engine's files share. Not an interface.
 */
#ifndef RINGSYNC_SYNC_INTERNAL_H
#define RINGSYNC_SYNC_INTERNAL_H

#include <jansson.h>

#include "ad.h"
#include "phone.h"
#include "profile.h"
#include "record.h"
#include "sync.h"

/*
 * The stages' records are record.h's typed structs: struct record_user
 * (one part per stage) and struct record_out.
 */

/* sync_count_linked: users linked to a phone user (a percentage's base). */
unsigned int sync_count_linked(struct store_txn *txn);
/*
 * sync_held_each: count the held deactivations in *n and, with release,
 * let them through in txn. 0, or -1 with err.
 */
int sync_held_each(struct store_txn *txn, int release, unsigned int *n,
    char *err, size_t errlen);
unsigned long long sync_next_seq(void);

/* sync_plan.c: pure decisions. */
enum scan_action {
	SCAN_NONE,        /* nothing to do */
	SCAN_PUSH,        /* desired: an active phone user with this profile */
	SCAN_DEACTIVATE,  /* desired: no active phone user */
	SCAN_FORGET,      /* an unlinked user left: drop the record */
	SCAN_DATA_ERROR,  /* the AD data cannot be pushed */
	SCAN_DROP,        /* the pending outbox entry is no longer wanted */
};

struct scan_decision {
	enum scan_action action;
	const char *reason;
};

/*
 * sync_plan_entry: what a scanned entry means, given the user record (NULL:
 * never seen), the hash of its profile (NULL: the profile has an error)
 * and the entry waiting in the outbox (NULL: none), which may be on its
 * way to the phone system: the decision makes the outbox hold what AD
 * wants now, whatever that entry does.
 */
void sync_plan_entry(const struct record_user *u, const struct ad_entry *e,
    const char *hash, const struct record_out *pending,
    struct scan_decision *out);

/*
 * sync_plan_requested: d (sync_plan_entry's decision, same arguments) for
 * a user an operator asked to have processed now (ringsyncctl sync): an
 * enabled user with a good profile is pushed even when nothing changed
 * (reason "requested" for a linked one, "new" for another: a failed
 * create is tried again); a waiting deactivation is kept as it is.
 */
void sync_plan_requested(const struct record_user *u, const struct ad_entry *e,
    const char *hash, const struct record_out *pending,
    struct scan_decision *d);

/*
 * sync_progress_estimate: seconds to settle `left` outbox entries at a rate
 * group's budget (limit requests a window of seconds), items_per_call
 * entries a request (1 for creates; a bulk update carries many); *per_min
 * the pace in entries a minute. -1 (and 0) when the budget is unknown.
 */
double sync_progress_estimate(unsigned long long left, int limit, int window,
    double items_per_call, double *per_min);

/*
 * sync_import_interval: the seconds between imports so that one import's
 * requests (calls, by rate group) stay within share percent of each
 * group's budget (limit requests a window of seconds; 0: unknown, not
 * counted), and never less than configured. *group: the group that
 * decides, or -1 when the configured interval does.
 */
unsigned int sync_import_interval(unsigned int configured,
    const unsigned int *calls, const int *limit, const int *window,
    unsigned int share, int *group);

/* A user asked for by ringsyncctl sync, as a scan reads it. */
#define SYNC_ASKED_MAX 100          /* users per scan; more wait for the next */
struct sync_asked {
	char guid[AD_GUID_LEN + 1];
	int found;                      /* the scan met it in AD, in scope */
};

enum push_action {
	PUSH_DROP,        /* nothing to do any more: forget the entry */
	PUSH_CREATE,      /* link by email, else create */
	PUSH_UPDATE,      /* bulk update of a linked user (maybe re-enable) */
	PUSH_DEACTIVATE,  /* bulk update to Disabled (or the configured way) */
	PUSH_WAIT,        /* not yet: a retry time or a hold */
};

/* sync_plan_push: the pusher's choice for an outbox entry at time now. */
enum push_action sync_plan_push(const struct record_out *o, const struct record_user *u,
    long long now);

/*
 * sync_plan_wb_seen: what AD holds of the [writeback] attributes as far
 * as the store knows (borrowed): the last scan's values of the user, when
 * that scan started after the writer last sent it a modify; NULL when not
 * known (never scanned with them, an entry with a problem, a write-back
 * since, or one that failed): the writer then reads the user first.
 */
const json_t *sync_plan_wb_seen(const struct record_user *u);

/*
 * sync_plan_writeback: the [writeback] values of u's imported numbers;
 * 1 with *want a new object (every attribute) when the write-back is to
 * be queued, else 0 (*want NULL). Each attribute is compared with what AD
 * holds (sync_plan_wb_seen) and with what the writer last gave AD
 * (u->wb.attrs): queued when AD differs, or when AD is not known and the
 * value differs from what was given, or when what was given is out of
 * date (the writer then records the values without a modify, so the
 * scan's self-healing does not write the old ones back).
 */
int sync_plan_writeback(const struct config_map *writeback,
    const struct record_user *u, json_t **want);

/*
 * sync_plan_wb_have: have[i] is what seen says AD holds of want[i]
 * (borrowed; NULL absent). 1 when seen knows every attribute, else 0
 * (seen NULL, or an attribute it does not know: the caller reads first).
 */
int sync_plan_wb_have(const json_t *seen, const struct ad_value *want,
    size_t n, const char **have);

#endif

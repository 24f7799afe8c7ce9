/*
 * sync: the engine (docs/architecture.md): scanner -> outbox -> pusher, and
 * importer -> write-back queue -> writer, over the LMDB store, on the
 * daemon's libev loop.
 *
 * - scanner (sync_scan.c): AD entries of a usnChanged range to desired
 *   states in the outbox (one per user: the latest wins), page by page,
 *   then the new watermark; all in store transactions.
 * - pusher (sync_push.c): outbox to the phone system: link by email or
 *   create (recorded as in flight first), bulk updates, deactivations.
 * - importer (sync_import.c): extensions and direct numbers to the
 *   write-back queue, linking phone users to AD users by email.
 * - writer (sync_write.c): write-back queue to AD, only what differs.
 *
 * Decisions are pure functions (sync_plan.c). The struct sync owns the AD
 * and phone clients and its timers; it borrows the configuration, the
 * store and the loop from the daemon. It logs per-user actions and errors
 * (docs/behaviour.md): it is the daemon's voice for the sync.
 */
#ifndef RINGSYNC_SYNC_H
#define RINGSYNC_SYNC_H

#include <ev.h>

#include "config.h"
#include "store.h"

enum sync_kind {
	SYNC_INCREMENTAL, /* the poll timer: usnChanged scan, then push */
	SYNC_IMPORT,      /* the import timer: numbers, then write-back */
	SYNC_FULL,        /* the full-sync timer and --full-resync */
	SYNC_CHANGES,     /* the change feed: its users' numbers, then write-back */
	SYNC_NKINDS
};

/* Exit statuses of --once (docs/behaviour.md, exit statuses). */
enum sync_status {
	SYNC_OK = 0,
	SYNC_USERS_FAILED = 1,
	SYNC_CONFIG = 2,          /* a scope group cannot scope anybody */
	SYNC_UNREACHABLE = 3,
};

struct sync;

typedef void sync_done_cb(enum sync_status st, void *arg);

/*
 * sync_new: an engine for cfg on loop over st. dry_run: plan and log,
 * write nothing anywhere. Returns NULL with err (the phone client could
 * not be set up: unreadable secret files).
 */
struct sync *sync_new(struct ev_loop *loop, const struct config *cfg,
    struct store *st, int dry_run, char *err, size_t errlen);
void sync_free(struct sync *s);
/*
 * sync_set_config: use cfg from now on (SIGHUP); reconnects to AD. Only
 * between cycles: -1 while one runs (see sync_busy and sync_set_idle_cb).
 */
int sync_set_config(struct sync *s, const struct config *cfg, char *err,
    size_t errlen);
/* sync_busy: a cycle is running. */
int sync_busy(const struct sync *s);
/*
 * sync_set_idle_cb: cb after every cycle, from the loop (never inside a
 * client callback): a deferred reload applies then.
 */
void sync_set_idle_cb(struct sync *s, void (*cb)(void *arg), void *arg);

/*
 * sync_request: a cycle of kind should run (a timer, SIGUSR1, a change
 * notification). Starts at once when the engine is idle, otherwise runs
 * when the current work is done (requests of one kind coalesce).
 */
void sync_request(struct sync *s, enum sync_kind kind);
/*
 * sync_import_every: seconds between imports: [sync] import_interval, or
 * longer when one import's requests would take more than [telephony]
 * read_share of a rate group's budget at that interval.
 */
unsigned int sync_import_every(const struct sync *s);

/*
 * sync_user_request: process the user with objectGUID guid now
 * (ringsyncctl sync): at the next scan (the caller then asks for one with
 * sync_request, which may answer at once, AD being unreachable, so the
 * request must be recorded first) read it from AD whatever the watermark
 * says, decide as if AD had
 * changed it, and push: a profile already pushed is pushed again (what
 * the phone side changed is set back), a retry waiting for its time goes
 * now, a failed push is tried again; a waiting deactivation (held or not)
 * is left as it is. cb(ok, text, arg) once that scan has ended and the
 * pusher is idle; text: "processed", "not found ...", or why not (AD
 * unreachable, stopping). Returns the request (its owner is the engine
 * until cb or sync_user_cancel), or NULL when the engine takes none
 * (stopping, --once).
 */
struct sync_req;
typedef void sync_user_cb(int ok, const char *text, void *arg);
struct sync_req *sync_user_request(struct sync *s, const char *guid,
    sync_user_cb *cb, void *arg);
/* sync_user_cancel: forget the request; its cb never runs. */
void sync_user_cancel(struct sync *s, struct sync_req *r);

/*
 * sync_once: scan (full or incremental), push everything that can be
 * pushed now, import, write back, then cb with the --once status.
 */
void sync_once(struct sync *s, int full, sync_done_cb *cb, void *arg);

/*
 * sync_stop: stop starting work; cb once what is in flight has finished
 * and been committed (or after 8 s, whichever comes first).
 */
void sync_stop(struct sync *s, void (*cb)(void *arg), void *arg);

/* sync_notify_start: start AD change notification (change_notify = yes). */
void sync_notify_start(struct sync *s);
/*
 * sync_feed_start: open the phone system's change feed ([telephony]
 * change_feed = yes; not in a dry run): its events schedule their users'
 * numbers and write-back at once (SYNC_CHANGES), and a gap in them a full
 * import.
 */
void sync_feed_start(struct sync *s);
/*
 * sync_link_first_start: the daemon, before its first cycle: when the
 * store has no successful import yet, the users to link or create wait
 * for the first import, which follows the first scan (sync_link.c).
 */
void sync_link_first_start(struct sync *s);
/*
 * sync_budget_start: every 5 s, the rate budgets used by lane into the
 * store when they changed (meta budget, ringsyncctl status); the daemon.
 */
void sync_budget_start(struct sync *s);
/* sync_feed_state: the change feed's state name ("off" when none). */
const char *sync_feed_state(const struct sync *s);

const char *sync_kind_name(enum sync_kind kind);

/* One user as ringsyncctl users shows it (borrowed strings, NULL: none). */
struct sync_user_view {
	const char *guid, *dn, *email, *phone_id, *state, *last_error;
	const char *ext_id, *scim_id; /* the link's ids as far as known;
	                               * phone_id is ext_id, else scim_id */
	const char *direct_number, *extension_number;
	const char *scope_group;  /* with [ldap] groups: the DN of the scope
	                           * group that brings the user in, or NULL */
};

/*
 * sync_users_list: cb for every user of the store (only those whose last
 * attempt failed with failed_only), in objectGUID order, in one read
 * transaction. 0, or -1 with err.
 */
int sync_users_list(struct store *st, int failed_only,
    void (*cb)(const struct sync_user_view *u, void *arg), void *arg,
    char *err, size_t errlen);

struct record_user;
/*
 * sync_user_state: linked, deactivated, not-linked, inactive, creating or
 * failed, as ringsyncctl users says.
 */
const char *sync_user_state(const struct record_user *u);

/* sync_lower_dup: an email as the store keys it (lower case), owned. */
char *sync_lower_dup(const char *s);

/*
 * sync_progress_line: long work for people, "creating 3,200 of 4,000, 10 a
 * minute, about 80 min left" into buf (left_s < 0: no estimate); buf.
 */
const char *sync_progress_line(char *buf, size_t len, const char *phase,
    unsigned long long done, unsigned long long total, double per_min,
    double left_s);

/* The store's figures for ringsyncctl status. */
struct sync_counts {
	unsigned int users, linked, failed, held;
	unsigned int invalid;   /* records that did not validate (skipped, logged) */
	size_t outbox, writeback;
	unsigned long long oldest_seq; /* the oldest outbox entry's stamp (Unix
	                                * microseconds when it was queued), or 0 */
};

/* sync_count: in one read transaction. 0, or -1 with err. */
int sync_count(struct store *st, struct sync_counts *out, char *err,
    size_t errlen);

/*
 * sync_release_held: let the held deactivations through (ringsyncctl
 * release-deactivations): the pusher sends them at its next round. Sets
 * *n to how many; 0, or -1 with err.
 */
int sync_release_held(struct store *st, unsigned int *n, char *err,
    size_t errlen);

#endif

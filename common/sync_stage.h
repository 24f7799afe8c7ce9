/*
 * sync_stage: the engine object and the stage entry points, shared by
 * sync.c (orchestration) and the stage files. Not an interface.
 */
#ifndef RINGSYNC_SYNC_STAGE_H
#define RINGSYNC_SYNC_STAGE_H

#include "feed.h"
#include "sync_internal.h"

/*
 * What a cycle did: the summary line (docs/behaviour.md). The scanner's
 * cycle and the importer's each have one; the pusher and the writer add
 * to the cycle that set them going.
 */
struct cycle {
	enum sync_kind kind;
	unsigned long long id;        /* outbox entries record it */
	double t0;                    /* ev_now at the start */
	char dc[256];                 /* the DC's dnsHostName (a copy: a reconnect
	                               * frees the AD module's), or "-" */
	unsigned long long lower, upper;
	int full, scanned_range;
	const char *reason;
	unsigned int scanned, created, linked, updated, deactivated, held;
	unsigned int written_back, failed, unmatched, duplicates;
	unsigned int deactivations;   /* queued by this scan */
	unsigned long long api0;      /* phone requests before the cycle */
	unsigned long long store0;    /* failed store commits before the cycle */
	int ad_down, phone_down;      /* unreachable or authentication failed */
	int auth_failed;              /* the phone system refused the session */
	int scope_failed;             /* the scope groups could not be read */
};

/* What [log] metrics_file reports beyond the store (sync_metrics.c). */
#define SYNC_METRIC_RESULTS 5
struct sync_metrics {
	unsigned long long cycles[SYNC_NKINDS][SYNC_METRIC_RESULTS]; /* kind, result */
	double duration[SYNC_NKINDS]; /* the last cycle's, by kind (s) */
	long long last_ok[2];        /* scan lane, import lane (Unix) */
	struct sync_counts n;        /* the store's counts, as last read */
	int counted, failing;
};

/* The push lane's long work, as sync_progress.c reports it. */
struct sync_progress {
	ev_timer tick;
	int active;                   /* the push lane is busy */
	int long_work;                /* reported (it lasts or will) */
	int tty;                      /* --once on a terminal: a status line */
	double t0, wall0, noted;      /* loop times: start, last notice */
	unsigned long long done, total;
	unsigned long long calls, items; /* the pusher's write requests, entries */
	unsigned long long created, updated; /* of the phase */
	unsigned long long cycle, c_created, c_updated; /* the cycle counted */
	unsigned int decile;          /* the last tenth noted */
};

struct push;
struct import;
struct writer;
struct scan_ctx;

/*
 * The lanes' states (sync.c moves them, each through one function that
 * refuses a transition the design does not have). The scan lane is the
 * scanner and the pusher, which may still push while the next scan runs;
 * the import lane is the importer, then the writer.
 */
enum sync_scan_state {
	SYNC_SCAN_IDLE,
	SYNC_SCAN_RUNNING,
};

enum sync_push_state {
	SYNC_PUSH_IDLE,
	SYNC_PUSH_RUNNING,
	SYNC_PUSH_AGAIN,      /* running, and the outbox changed meanwhile */
};

enum sync_import_state {
	SYNC_IMPORT_IDLE,
	SYNC_IMPORT_READING,  /* the importer lists the phone side */
	SYNC_IMPORT_WRITING,  /* the writer drains the write-back queue */
};

/*
 * --once: the scan lane to its end, then the import lane to its end; or,
 * linking first (sync_link.c), the scan, the import (LINK), the pusher's
 * creates (PUSH), and the import again for their numbers.
 */
enum sync_once_state {
	SYNC_ONCE_OFF,
	SYNC_ONCE_SCAN,
	SYNC_ONCE_IMPORT,
	SYNC_ONCE_LINK,
	SYNC_ONCE_PUSH,
};

struct sync {
	struct ev_loop *loop;         /* borrowed */
	const struct config *cfg;     /* borrowed */
	struct store *store;          /* borrowed */
	struct ad *ad;                /* owned */
	struct phone *phone;          /* owned */
	int dry_run;
	unsigned int pending;         /* bit per enum sync_kind requested */
	struct cycle c;               /* the scan cycle (AD -> phone) */
	struct cycle ic;              /* the import cycle (phone -> AD) */
	enum sync_scan_state scan_state;
	enum sync_push_state push_state;
	enum sync_import_state import_state;
	enum sync_once_state once;
	unsigned long long store_errors; /* failed store commits, ever */
	int summary_due;              /* a scan cycle waits for the pusher */
	ev_timer retry;               /* the earliest outbox retry */
	sync_done_cb *once_cb;
	void *once_arg;
	int stopping;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	ev_timer stop_timer;
	ev_timer idle_timer;          /* idle_cb runs from the loop, see check_idle */
	struct scan_ctx *scan;        /* owned while scanning */
	struct push *push;            /* owned while pushing */
	struct import *imp;           /* owned while importing */
	struct writer *wr;            /* owned while writing back */
	json_t *schema;               /* owned: the cached user schema, or NULL */
	int notify_on;
	int scope_read;               /* the scope groups were read since start */
	/* [roles] (sync_roles.c) */
	struct roles_read *roles_rd;  /* owned: the scan's read of the rules'
	                               * groups, until the scan ends */
	struct roles_push *roles_push; /* owned: the push lane's assignments */
	int roles_read;               /* the rules' groups were read since start */
	int roles_dirty;              /* roles may wait for an assignment */
	int roles_denied;             /* RoleManagement is missing (until reload) */
	unsigned int role_chunk;      /* users a bulk-assign carries */
	int once_roles;               /* --once: the pusher ran for them last */
	char roles_err[1024];         /* why the groups could not be read */
	/* [push] photo (sync_photos.c) */
	struct photos_push *photos_push; /* owned: the push lane's uploads */
	int photos_dirty;             /* photos may wait for an upload */
	int photos_denied;            /* EditExtensions is missing (until reload) */
	struct sync_metrics metrics;
	void (*idle_cb)(void *arg);
	void *idle_arg;
	struct sync_req *reqs;        /* owned: ringsyncctl sync's, in order */
	struct notify *notify;        /* owned: [notify]'s channels */
	enum sync_status once_status; /* --once: waits for the notifications */
	int stop_flushing;            /* a stop waits for the notifications */
	struct sync_progress prog;
	struct feed *feed;            /* owned: the change feed, or NULL */
	int feed_wanted;              /* the daemon started it (kept at reloads) */
	struct sync_pending *changes; /* owned: the feed's changes not yet read */
	ev_timer changes_timer;       /* the earliest held change is due */
	int link_wait;                /* the pusher leaves links and creates
	                               * to the coming import (sync_link.c) */
	unsigned int scans_ended;     /* scan cycles ended since the start */
	ev_timer budget_timer;        /* the rate budgets into the store */
	int budget_on;
	struct record_budget budget;  /* the one last written */
	unsigned int import_every;    /* s between imports its cost allows */
	unsigned int import_noted;    /* the one last logged; 0: none */
	char err[1024];
};

/*
 * A change of one extension for the import lane (sync_changes.c takes
 * them from the feed): its directory entry when the event carried it,
 * else entry.id is 0 and the importer reads the extension (Light).
 */
struct sync_change {
	long long ext_id;
	unsigned int again;             /* tries put off so far */
	struct phone_dir_entry entry;   /* owned strings */
};

/*
 * sync_changes_take: the feed's changes that are due (an entry, or held
 * long enough for the directory's event to come), at most a batch, in *v
 * (owned by the caller, with their strings; sync_changes_free); the others
 * stay. 0 when none is due.
 */
size_t sync_changes_take(struct sync *s, struct sync_change **v);
void sync_changes_free(struct sync_change *v, size_t n);
/*
 * sync_changes_again: the change of ext_id could not be used yet (its
 * user's create is still unanswered): pending again, due after a moment,
 * with what was known (listed: the directory entry's direct number, which
 * may be NULL; else the extension is read anew). tries: the times it was
 * put off before; given up after a few: the import has it.
 */
void sync_changes_again(struct sync *s, long long ext_id, unsigned int tries,
    const char *email, const char *number, int enabled, const char *direct,
    int listed);
/* sync_feed_free: the feed (after phone_free: no token calls back). */
void sync_feed_free(struct sync *s);
/* sync_changes_clear: forget the changes not read yet. */
void sync_changes_clear(struct sync *s);
/*
 * sync_import_changes: the import lane's cycle for changes v (taken over):
 * the extensions without an entry are read (Light), then joined as the
 * import joins them; a user the directory does not show with its numbers
 * has them read (Light, never the Heavy list); a phone user whose AD user
 * is not linked yet makes a full import follow (the import links, with its
 * duplicate rule). Ends like an import: sync_import_finished.
 */
void sync_import_changes(struct sync *s, struct sync_change *v, size_t n);

/* sync.c: each stage says when it has finished. */
void sync_scan_finished(struct sync *s);
void sync_push_finished(struct sync *s);
void sync_import_finished(struct sync *s);
void sync_writer_finished(struct sync *s);
/* sync.c: the outbox has work: push it (now, or after the running round). */
void sync_push_kick(struct sync *s);
/* sync.c: a write transaction, or NULL after logging why. */
struct store_txn *sync_txn_begin(struct sync *s);
/* sync.c: commit, logging a failure; returns 0 or -1. */
int sync_txn_commit(struct sync *s, struct store_txn *txn);
/* sync.c: log a per-user error (docs/behaviour.md) and count it in c. */
void sync_user_failed(struct sync *s, struct cycle *c, const char *dn,
    const char *email, const char *attr, const char *value, const char *msg);
/*
 * sync.c: a change made for the user into its history ([sync] history;
 * nothing in a dry run): the cycle that made it, what, the changes
 * (stolen; NULL: none) and a detail (or NULL). A failure is logged; the
 * change itself stands.
 */
void sync_history(struct sync *s, struct store_txn *txn, const char *guid,
    unsigned long long cycle, const char *what, json_t *changes,
    const char *detail);
/* sync.c: the AD attribute mapped to a phone field, or NULL. */
const char *sync_field_attr(const struct sync *s, const char *field);

/*
 * sync_link.c: sync_link_first_pays: --once after its scan: 1 when more
 * users wait to be linked or created than two imports cost calls (said at
 * info). sync_link_done: the import for them has ended.
 */
int sync_link_first_pays(struct sync *s);
/*
 * sync_phone_hash: the profile hash of what phone user x holds in the
 * mapped fields (as profile_hash of the push would be, the values as the
 * platform gives them); 0, or -1 when a mapped field cannot be read from
 * the extension (a custom field the schema cache does not know).
 */
int sync_phone_hash(struct sync *s, const struct phone_extension *x,
    char out[PROFILE_HASH_LEN + 1]);
void sync_link_done(struct sync *s);
/* sync_metrics.c: the budget ticker's end (sync_stop, sync_free). */
void sync_budget_stop(struct sync *s);
/* sync_metrics.c: a cycle ended with result: count it, write the file. */
void sync_metrics_cycle(struct sync *s, const struct cycle *c,
    const char *result, int ok);
/*
 * sync_metrics_counts: the store's counts after cycle c (read again only
 * when c changed something, or never read yet), or NULL (logged).
 */
const struct sync_counts *sync_metrics_counts(struct sync *s,
    const struct cycle *c);

/*
 * sync_alert.c: [notify]. setup: the channels of cfg (at start and at a
 * reload, before cfg is the engine's); 0, or -1 with err. cycle: after
 * each cycle's summary, what its end says of each event, with the store's
 * counts n (NULL: unknown).
 */
int sync_alert_setup(struct sync *s, const struct config *cfg, char *err,
    size_t errlen);
void sync_alert_cycle(struct sync *s, const struct cycle *c,
    const struct sync_counts *n);

/*
 * sync_req.c: the scanner takes the waiting requests (their users, sorted,
 * each once; at most SYNC_ASKED_MAX) in *v (owned by the caller), says
 * what it found (failed: why the scan did not read them, or NULL), and
 * check answers those read whose user has nothing due in the outbox any
 * more, or all of them once the scan lane is idle (sync.c and the pusher
 * call it when they finish or wait).
 */
size_t sync_reqs_take(struct sync *s, struct sync_asked **v);
void sync_reqs_scanned(struct sync *s, const struct sync_asked *v, size_t n,
    const char *failed);
void sync_reqs_check(struct sync *s);
void sync_reqs_free(struct sync *s);

/*
 * sync_import_costed: the requests a complete import made, by rate group:
 * import_every follows (sync_import_interval), noticed when it changes.
 */
void sync_import_costed(struct sync *s, const unsigned int *calls);

/* sync_progress.c: the push lane left idle; it is idle again. */
void sync_progress_start(struct sync *s);
void sync_progress_stop(struct sync *s);
/* sync_progress_sent: the pusher sends a write request carrying n entries. */
void sync_progress_sent(struct sync *s, size_t n);

/*
 * sync_roles.c, [roles]. sync_roles_stale: the rules' groups must be read
 * this cycle whatever AD says (first cycle, rules changed or dropped).
 * sync_roles_read_start: from the scan, before its range: the membership
 * when it may have changed since the watermark (plan); 0 started (cb when
 * read, read or not), 1 nothing to read (no cb), -1 not started (logged).
 * sync_roles_of: the rule of a user as just read, or NULL. sync_roles_commit:
 * into txn, with the scan's consequences, the roles that follow from the
 * read; 0 or -1. sync_roles_drop: forget the read (the scan's end).
 * sync_roles_push: the push lane's assignments when some wait; 1 started
 * (done(arg) at the end), 0 nothing to do. sync_roles_abort: the push
 * lane's part stops (the phone client's calls were cancelled).
 */
int sync_roles_stale(struct sync *s);
int sync_roles_read_start(struct sync *s, const struct ad_scan_plan *plan,
    void (*cb)(void *arg), void *arg);
const char *sync_roles_of(struct sync *s, const char *guid);
int sync_roles_commit(struct sync *s, struct store_txn *txn);
void sync_roles_drop(struct sync *s);
int sync_roles_push(struct sync *s, void (*done)(void *arg), void *arg);
void sync_roles_abort(struct sync *s);

/*
 * sync_photos.c, [push] photo. sync_photos_note: from the scan, into txn,
 * the digest of the photo AD holds for entry e. sync_photos_push: the push
 * lane's uploads and removals when some wait; 1 started (done(arg) at the
 * end), 0 nothing to do. sync_photos_abort: the push lane's part stops
 * (the phone client's calls were cancelled).
 */
void sync_photos_note(struct sync *s, struct store_txn *txn,
    const struct ad_entry *e);
int sync_photos_push(struct sync *s, void (*done)(void *arg), void *arg);
void sync_photos_abort(struct sync *s);

/*
 * sync_numbers.c, [policy] extension_range. sync_number_alloc: into out
 * the lowest free number of the range of a user on site site_id (NULL:
 * none), reserved for guid in txn (had: the one it was given before, kept
 * when still free); 0, 1 no range applies, -1 the store failed (err), -2
 * the range is full (err says so). sync_number_taken: num is in use (the
 * platform said so): never given until a listing shows it free.
 * sync_numbers_note: num, listed, into v when it is in a range.
 * sync_numbers_listed: a complete listing that started at started found
 * the numbers of list (sorted here).
 */
struct sync_numbers {
	char (*v)[9];                 /* owned */
	size_t n, cap;
};
int sync_number_alloc(struct sync *s, struct store_txn *txn, const char *guid,
    const char *site_id, const char *had, char out[9], char *err,
    size_t errlen);
int sync_number_taken(struct sync *s, struct store_txn *txn, const char *num,
    char *err, size_t errlen);
void sync_numbers_note(const struct sync *s, struct sync_numbers *v,
    const char *num);
void sync_numbers_listed(struct sync *s, struct sync_numbers *list,
    long long started);
/* sync_number_range: the range of a user on site site_id (NULL: none). */
const struct config_range *sync_number_range(struct sync *s,
    const char *site_id);
/* sync_numbers_known: has a complete listing been recorded yet? */
int sync_numbers_known(struct sync *s);

void sync_scan_start(struct sync *s);
void sync_scan_abort(struct sync *s);
void sync_push_start(struct sync *s);
void sync_push_abort(struct sync *s);
void sync_import_start(struct sync *s);
void sync_import_abort(struct sync *s);
void sync_writer_start(struct sync *s);
void sync_writer_abort(struct sync *s);

#endif

/*
 * record: the typed records of the store (users, outbox, writeback and
 * emails databases). One struct per record type, one serialiser and one
 * validator each, typed get, put, del and walk: the stages never parse
 * or search stored bytes. A record that does not validate is skipped by a
 * walk, counted in its struct record_walk and logged once per walk with
 * its database and key; a get reports it as an error.
 *
 * A user record (users, by objectGUID) has one part per owner, and each
 * part is written by its owner alone: a put of a part replaces that part
 * and keeps the others as the store has them.
 *
 *   ad      the scanner: dn, email, disabled, deleted, its data errors,
 *           what AD held of the [writeback] attributes when scanned
 *   push    the pusher: the phone user it acted on and whether it is
 *           active there, a create in flight, the profile hash pushed and
 *           the one that failed, its errors
 *   import  the importer: the phone user it found by email, its numbers,
 *           its errors
 *   wb      the writer: the values AD was last given, its errors
 *
 * The link to the phone user is a fact of two stages (a create or a link
 * by email is the pusher's, a link by import the importer's): each part
 * keeps its own with a stamp, and the newer one is the link
 * (record_user_phone_id, record_user_active).
 *
 * A phone user has two ids: its SCIM user id (SCIM calls: search, create,
 * delete) and its extension id (REST calls: bulk update, numbers). The
 * platform does not promise they are equal, so each is kept apart and
 * used only where it belongs. A SCIM search or create gives the SCIM id
 * alone, the extension list the extension id alone; the other is learned
 * when a call needs it: the pusher looks the extension up by email, and
 * the importer, finding the extension of a pusher's link that has no
 * extension id, pairs the two (record_import.paired).
 *
 * Schema version 1 kept a user as one flat object written by all four
 * stages; the decoder reads that shape too (a read-only open of a store
 * that ringsyncd has not opened since the upgrade), and record_migrate
 * rewrites a version-1 store in the current shapes.
 */
#ifndef RINGSYNC_RECORD_H
#define RINGSYNC_RECORD_H

#include <jansson.h>

#include "ad.h"
#include "profile.h"
#include "store.h"

/* A lane's last per-user error. */
struct record_error {
	char *msg;                    /* owned; NULL: the last attempt worked */
	unsigned long long at;        /* when (record_stamp), to order lanes */
	unsigned int failures;        /* failed attempts in a row */
};

/* The scanner's part: what AD says. */
struct record_ad {
	char *dn;                     /* owned */
	char *email;                  /* owned; lower-cased: the join key */
	int disabled, deleted;
	struct record_error err;      /* the AD data cannot be pushed */
	char *cost_center_said;       /* owned: the [policy] cost center last
	                               * reported as not the one set at create */
	json_t *wb_seen;              /* owned: the [writeback] attributes as the
	                               * last scan of the user read them
	                               * (attribute -> value, "" absent), or
	                               * NULL: not read (a store older than
	                               * the field, an entry with a problem) */
	unsigned long long wb_seen_at; /* that scan's start (record_stamp) */
};

/* The pusher's part: the phone side as it was last sent. */
struct record_push {
	char *scim_id;                /* owned; the SCIM user acted on, or NULL */
	char *ext_id;                 /* owned; its extension id, or NULL: not
	                               * known yet (record_user_ext_id) */
	int active;                   /* 0 once deactivated */
	unsigned long long link;      /* stamp of the ids/active (record_push_put) */
	int creating;                 /* a create was sent and not yet answered */
	int completing;               /* created: the [create] values the create
	                               * could not carry go in the next update */
	char pushed[PROFILE_HASH_LEN + 1]; /* hash of the profile last pushed */
	char failed[PROFILE_HASH_LEN + 1]; /* hash that got a data error */
	json_t *profile;              /* owned: the profile last pushed (field ->
	                               * value), or NULL: not known */
	char *cost_center;            /* owned: the cost center id it was
	                               * created with ([policy]), or NULL */
	char *ext_alloc;              /* owned: the extension number
	                               * extension_range gave its create, or NULL */
	struct record_error err;
};

/* The importer's part: what the phone system lists for the user. */
struct record_import {
	char *ext_id;                 /* owned; the extension found by email */
	char *paired;                 /* owned; the pusher's SCIM id that ext_id
	                               * was found for (its link had no
	                               * extension id), or NULL */
	int enabled;                  /* its status when it was linked */
	unsigned long long link;      /* stamp of ext_id (record_import_link) */
	char *direct_number;          /* owned; as last imported, or NULL */
	char *extension_number;       /* owned */
	char phone_hash[PROFILE_HASH_LEN + 1]; /* the profile hash of what the
	                               * phone user held at the last import
	                               * ("": unknown): a user this store
	                               * never pushed is pushed only when AD
	                               * wants something else (reconcile) */
	struct record_error err;
};

/* The writer's part: what AD was last given. */
struct record_written {
	json_t *attrs;                /* owned: attribute -> value; never NULL
	                               * after a get */
	unsigned long long at;        /* when the writer last sent a modify (or
	                               * tried: record_stamp); 0: never */
	struct record_error err;
};

/* One AD user (users). record_user_clear frees what the parts own. */
struct record_user {
	char guid[AD_GUID_LEN + 1];
	struct record_ad ad;
	struct record_push push;
	struct record_import imp;
	struct record_written wb;
};

/* A deactivation's hold (max_deactivations). */
enum record_hold {
	RECORD_HOLD_NONE,             /* free to go */
	RECORD_HOLD_HELD,             /* held until released */
	RECORD_HOLD_REVIEW,           /* queued by a running scan: decided at its end */
};

/* A desired state waiting in the outbox (outbox, by objectGUID). */
struct record_out {
	char guid[AD_GUID_LEN + 1];
	unsigned long long seq;       /* changes when the entry is replaced */
	int active;                   /* desired: an active phone user, or not */
	char *reason;                 /* owned: new, changed, enabled, disabled, ... */
	char *dn, *email;             /* owned */
	json_t *profile;              /* owned; NULL for deactivations */
	json_t *create;               /* owned: the [create] values, for a user
	                               * not linked yet; NULL: none */
	char hash[PROFILE_HASH_LEN + 1]; /* of profile, and create if any */
	char push_hash[PROFILE_HASH_LEN + 1]; /* of profile alone, when create
	                               * is set; "" otherwise */
	unsigned int attempts;
	long long not_before;         /* Unix time; 0: now */
	enum record_hold held;
	unsigned long long cycle;     /* the scan that wrote it */
};

/*
 * record_out_hash: what entry o is compared by: for a linked user the
 * profile alone (the [create] values no longer apply), else with them.
 */
static inline const char *
record_out_hash(const struct record_out *o, int linked)
{
	return linked && o->push_hash[0] != '\0' ? o->push_hash : o->hash;
}

/* A write-back waiting for the writer (writeback, by objectGUID). */
struct record_wb {
	char guid[AD_GUID_LEN + 1];
	json_t *attrs;                /* owned: attribute -> string value */
};

/*
 * A walk over one database in key order. The caller sets start and arg;
 * the walk counts what it skipped in invalid.
 */
struct record_walk {
	const char *start;            /* the first key >= start; NULL: the first */
	void *arg;                    /* given to the callback */
	unsigned int invalid;         /* out: records that did not validate */
	/*
	 * want: when set, called with each key (and arg) first; a record it
	 * returns 0 for is neither decoded nor given to the callback.
	 */
	int (*want)(const char *key, void *arg);
};

/*
 * Walk callbacks: the record is the walk's, valid during the call and
 * cleared after it. The callback may change it and put it, or take what
 * it owns (leaving the struct zeroed). Return 0 to go on, 1 to stop, -1
 * to fail the walk.
 */
typedef int record_user_cb(struct record_user *u, void *arg);
typedef int record_out_cb(struct record_out *o, void *arg);
typedef int record_wb_cb(struct record_wb *q, void *arg);

/* record_stamp: a number larger than every earlier one of this process. */
unsigned long long record_stamp(void);

/* record_error_set: msg (copied) is the lane's error now; failures stay. */
void record_error_set(struct record_error *e, const char *msg);
/* record_error_clear: the lane's last attempt worked. */
void record_error_clear(struct record_error *e);

/*
 * Users. record_user_get: 0 found, 1 absent, -1 unreadable or invalid
 * (with err). The user is the caller's: record_user_clear.
 */
int record_user_get(struct store_txn *txn, const char *guid,
    struct record_user *u, char *err, size_t errlen);
/* record_user_del: the whole record (the user left). 0 or -1. */
int record_user_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen);
void record_user_clear(struct record_user *u);
/* record_user_walk: cb per valid user. 0 at the end, 1 stopped, -1 error. */
int record_user_walk(struct store_txn *txn, struct record_walk *w,
    record_user_cb *cb);

/*
 * The parts' puts: each replaces its part of guid's record (creating the
 * record when absent) and nothing else. 0 or -1 with err.
 * record_push_put gives p->link a new stamp when an id or active differ
 * from what the stored push part says. record_import_put keeps the
 * stored link stamp; record_import_link gives i->link a new stamp: the
 * importer has linked i->ext_id.
 */
int record_ad_put(struct store_txn *txn, const char *guid,
    const struct record_ad *a, char *err, size_t errlen);
int record_push_put(struct store_txn *txn, const char *guid,
    struct record_push *p, char *err, size_t errlen);
int record_import_put(struct store_txn *txn, const char *guid,
    struct record_import *i, char *err, size_t errlen);
int record_import_link(struct store_txn *txn, const char *guid,
    struct record_import *i, char *err, size_t errlen);
int record_written_put(struct store_txn *txn, const char *guid,
    const struct record_written *w, char *err, size_t errlen);

/*
 * The link (borrowed ids, or NULL). record_user_ext_id: its extension id
 * as far as known; record_user_scim_id: its SCIM user id as far as known;
 * record_user_phone_id: the extension id, else the SCIM id: NULL when not
 * linked.
 */
const char *record_user_phone_id(const struct record_user *u);
const char *record_user_ext_id(const struct record_user *u);
const char *record_user_scim_id(const struct record_user *u);
/* record_user_active: the linked phone user is active (as last known). */
int record_user_active(const struct record_user *u);
/*
 * record_user_adopt: the pusher takes the link as its own (it is about
 * to act on it): push's ids and active become the link's.
 */
void record_user_adopt(struct record_user *u);
/* record_user_error: the most recent lane error (borrowed), or NULL. */
const struct record_error *record_user_error(const struct record_user *u);

/*
 * The user serialiser and validator. record_user_from_json: 0, or -1
 * with err (u is then cleared); reads the version-1 shape too.
 * record_user_to_json: a new reference, in the current shape.
 */
json_t *record_user_to_json(const struct record_user *u);
int record_user_from_json(const char *guid, const json_t *j,
    struct record_user *u, char *err, size_t errlen);

/* Outbox entries; the same conventions as the users'. */
int record_out_get(struct store_txn *txn, const char *guid,
    struct record_out *o, char *err, size_t errlen);
int record_out_put(struct store_txn *txn, const struct record_out *o,
    char *err, size_t errlen);
int record_out_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen);
void record_out_clear(struct record_out *o);
int record_out_walk(struct store_txn *txn, struct record_walk *w,
    record_out_cb *cb);
json_t *record_out_to_json(const struct record_out *o);
int record_out_from_json(const char *guid, const json_t *j,
    struct record_out *o, char *err, size_t errlen);

/* Write-back queue entries; the same conventions. */
int record_wb_get(struct store_txn *txn, const char *guid,
    struct record_wb *q, char *err, size_t errlen);
int record_wb_put(struct store_txn *txn, const struct record_wb *q,
    char *err, size_t errlen);
int record_wb_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen);
void record_wb_clear(struct record_wb *q);
int record_wb_walk(struct store_txn *txn, struct record_walk *w,
    record_wb_cb *cb);
int record_wb_from_json(const char *guid, const json_t *j,
    struct record_wb *q, char *err, size_t errlen);

/*
 * The email index (emails: lower-cased email -> objectGUID).
 * record_email_owner: the objectGUID (owned), or NULL.
 */
char *record_email_owner(struct store_txn *txn, const char *email);
int record_email_put(struct store_txn *txn, const char *email,
    const char *guid, char *err, size_t errlen);
int record_email_del(struct store_txn *txn, const char *email, char *err,
    size_t errlen);

/*
 * A cycle's figures (meta: cycle.scan, cycle.import, cycle.full), written
 * by the engine after each summary line (sync.c), read by ringsyncctl
 * status. Strings are cut to their buffers.
 */
enum record_cycle_key {
	RECORD_CYCLE_SCAN,            /* the last cycle of the scan lane */
	RECORD_CYCLE_IMPORT,          /* the last cycle of the import lane */
	RECORD_CYCLE_FULL,            /* the last full sync */
};

struct record_cycle {
	char kind[16];                /* incremental, full, import */
	long long start, end;         /* Unix times */
	long long last_ok;            /* the lane's last cycle that reached both sides */
	char result[32];              /* ok, users_failed, unreachable, auth_failed */
	char dc[256];
	char usn[64];                 /* "lower..upper" or "-" */
	int full;
	unsigned int scanned, created, linked, updated, deactivated, held;
	unsigned int written_back, failed;
	unsigned long long api_calls;
};

/* record_cycle_get: 0 found, 1 none yet, -1 unreadable or invalid (err). */
int record_cycle_get(struct store_txn *txn, enum record_cycle_key k,
    struct record_cycle *c, char *err, size_t errlen);
int record_cycle_put(struct store_txn *txn, enum record_cycle_key k,
    const struct record_cycle *c, char *err, size_t errlen);

/*
 * The long work running now (meta: progress), for ringsyncctl status:
 * written by the engine while the pusher works through a large outbox,
 * removed when it is done.
 */
struct record_progress {
	char phase[16];               /* creating, updating, pushing */
	unsigned long long done, total;
	unsigned int per_hour;        /* the pace the estimate uses; 0: unknown */
	long long left;               /* seconds left; -1: unknown */
	long long since, updated;     /* Unix times */
};

/*
 * The rate budgets as the running daemon's phone client sees them (meta:
 * budget), rewritten when they change: for each group its limit a window,
 * and by lane (push: writes and the pusher's lookups; read: the import's
 * background reads) the requests sent within the last window and queued.
 */
#define RECORD_BUDGET_GROUPS 4        /* enum http_group */
struct record_budget {
	struct record_budget_group {
		int limit, window;
		unsigned int sent[2], queued[2]; /* [0] push, [1] read */
	} g[RECORD_BUDGET_GROUPS];
	unsigned int read_share;      /* % */
	long long updated;            /* Unix time */
};

/* record_budget_get: 0 found, 1 none, -1 unreadable or invalid (err). */
int record_budget_get(struct store_txn *txn, struct record_budget *b,
    char *err, size_t errlen);
int record_budget_put(struct store_txn *txn, const struct record_budget *b,
    char *err, size_t errlen);

/* record_progress_get: 0 found, 1 none, -1 unreadable or invalid (err). */
int record_progress_get(struct store_txn *txn, struct record_progress *p,
    char *err, size_t errlen);
int record_progress_put(struct store_txn *txn, const struct record_progress *p,
    char *err, size_t errlen);
int record_progress_del(struct store_txn *txn, char *err, size_t errlen);

/*
 * What [notify] last said of each event (meta: alerts, one object keyed by
 * the event's name), so a restart neither repeats nor forgets an event.
 */
struct record_alert {
	long long since;              /* failing since (Unix time); 0: not failing */
	long long sent;               /* the last raise went out then; 0: never */
	int notified;                 /* raised and not resolved since */
};

/*
 * record_alerts_get: the n events named in names into v (zeroed when
 * absent); 0, or -1 with err (v zeroed). record_alerts_put: all n.
 */
int record_alerts_get(struct store_txn *txn, const char *const *names,
    size_t n, struct record_alert *v, char *err, size_t errlen);
int record_alerts_put(struct store_txn *txn, const char *const *names,
    size_t n, const struct record_alert *v, char *err, size_t errlen);

/*
 * The group scope ([ldap] groups): the scope groups as last resolved and
 * every group nested in them (meta: scope), and the users they bring in
 * (members: objectGUID -> the objectGUID of the scope group). Written
 * together, after the consequences of a membership change are queued.
 */
struct record_scope_group {
	char guid[AD_GUID_LEN + 1];
	char *dn;                     /* owned: as configured */
	char *now_dn;                 /* owned: where AD has it now */
	int deleted;                  /* deleted in AD */
	unsigned int members;         /* users it brings in */
	long long changed;            /* when its members last changed (Unix) */
};

struct record_scope {
	struct record_scope_group *g; /* owned */
	size_t n;
	char (*nested)[AD_GUID_LEN + 1]; /* owned: every group reached, sorted */
	size_t nnested;
	char *error;                  /* owned: why the last cycle could not
	                               * decide the scope, or NULL */
	long long checked;            /* when the membership was last read */
};

/* record_scope_get: 0 found, 1 none, -1 unreadable or invalid (err). */
int record_scope_get(struct store_txn *txn, struct record_scope *sc, char *err,
    size_t errlen);
int record_scope_put(struct store_txn *txn, const struct record_scope *sc,
    char *err, size_t errlen);
int record_scope_del(struct store_txn *txn, char *err, size_t errlen);
void record_scope_clear(struct record_scope *sc);

/*
 * record_scope_req: what a read of the n groups dns needs of their stored
 * state sc (ad_scope_req): each one's objectGUID as stored ("": not known
 * yet; *guids, its strings sc's) and every group sc knows, nested ones
 * too, sorted (*known, *nknown of them). The arrays are the caller's.
 */
void record_scope_req(const struct record_scope *sc, const char *const *dns,
    size_t n, const char ***guids, char (**known)[AD_GUID_LEN + 1],
    size_t *nknown);

/* The same state under another meta key: the [roles] groups ("roles"). */
int record_groups_get(struct store_txn *txn, const char *key,
    struct record_scope *sc, char *err, size_t errlen);
int record_groups_put(struct store_txn *txn, const char *key,
    const struct record_scope *sc, char *err, size_t errlen);

/*
 * A user a [roles] rule gives a role (roles, by objectGUID): the role it
 * should have, and what ringsync last assigned. A user who left every
 * rule's group is kept, without rule, only while manage_roles returns it
 * to the default role.
 */
struct record_goal {
	char guid[AD_GUID_LEN + 1];
	char *rule;                   /* owned: the [roles] name giving it, or
	                               * NULL: it left (back to the default) */
	char *want;                   /* owned: the role id it should have */
	char *done;                   /* owned: the role id last assigned, or
	                               * NULL: none yet */
	char *failed;                 /* owned: the role id the platform refused
	                               * for this user, or NULL */
	char *error;                  /* owned: that refusal, or NULL */
};

/*
 * The same record serves the photos (STORE_PHOTOS): want, done and failed
 * are the photo's SHA-256 as AD holds it, as last uploaded, as refused
 * (RECORD_PHOTO_NONE: no photo); rule is NULL.
 */
#define RECORD_PHOTO_NONE "none"

/* record_goal_get: 0 found, 1 none, -1 unreadable or invalid (err). */
int record_goal_get(struct store_txn *txn, enum store_db db, const char *guid,
    struct record_goal *r, char *err, size_t errlen);
int record_goal_put(struct store_txn *txn, enum store_db db,
    const struct record_goal *r, char *err, size_t errlen);
void record_goal_clear(struct record_goal *r);
/* record_goal_from_json: 0, or -1 when j is not such a record. */
int record_goal_from_json(const char *guid, const json_t *j,
    struct record_goal *r);
/*
 * record_goal_walk: each valid record of db from start (NULL: the first)
 * in objectGUID order, until cb returns non-zero (then that value), or 0
 * at the end; -1 when the database cannot be read. r is cleared after cb.
 */
int record_goal_walk(struct store_txn *txn, enum store_db db,
    const char *start, int (*cb)(struct record_goal *r, void *arg),
    void *arg);

/* record_member_get: the bringing group into via; 0 member, 1 not, -1. */
int record_member_get(struct store_txn *txn, const char *guid,
    char via[AD_GUID_LEN + 1]);
/*
 * record_members_load: every member, sorted by objectGUID, with via the
 * index in groups[] (n of them, by objectGUID) of its group, or n when it
 * is none of them. *out is the caller's (free). 0, or -1 with err.
 */
int record_members_load(struct store_txn *txn,
    const struct record_scope_group *groups, size_t n, struct ad_member **out,
    size_t *nout, char *err, size_t errlen);
int record_member_put(struct store_txn *txn, const char *guid,
    const char *via, char *err, size_t errlen);
int record_member_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen);
/* record_members_clear: the scope is gone: every member with it. */
int record_members_clear(struct store_txn *txn, char *err, size_t errlen);

/*
 * The history (history: "objectGUID/stamp" -> a change made for the
 * user): what the pusher, the importer and the writer did, kept for
 * [sync] history and at most RECORD_HISTORY_CAP entries a user.
 */
#define RECORD_HISTORY_CAP 100

struct record_event {
	char guid[AD_GUID_LEN + 1];
	unsigned long long stamp;     /* when (record_stamp: microseconds) */
	unsigned long long cycle;     /* the cycle that made it; 0: none */
	char *what;                   /* owned: created, linked, updated, ... */
	json_t *changes;              /* owned: name -> [old, new] (JSON null:
	                               * none), or NULL */
	char *detail;                 /* owned: ids, reason; or NULL */
};

typedef int record_event_cb(const struct record_event *ev, void *arg);

/*
 * record_event_add: ev (its guid, what, changes, detail; stamped now)
 * into the history, then guid's entries beyond cap and older than
 * keep_before (Unix seconds; 0: any age) deleted. 0, or -1 with err.
 */
int record_event_add(struct store_txn *txn, struct record_event *ev,
    unsigned int cap, long long keep_before, char *err, size_t errlen);
/* record_events_walk: guid's entries, oldest first; 0, 1 stopped, -1. */
int record_events_walk(struct store_txn *txn, const char *guid,
    record_event_cb *cb, void *arg);
/*
 * record_events_prune: delete up to max entries (of any user) older than
 * before (Unix seconds); *deleted says how many. 0, or -1 with err.
 */
int record_events_prune(struct store_txn *txn, long long before, size_t max,
    size_t *deleted, char *err, size_t errlen);
void record_event_clear(struct record_event *ev);
/* record_event_changes: name -> [old, new] for every name whose value
 * differs between was and now (objects of strings, NULL: empty); NULL
 * when none differs. A new reference. */
json_t *record_event_changes(const json_t *was, const json_t *now);
/* record_event_values: name -> [new] (the value before not known) for
 * every non-empty value of now; NULL when there is none. */
json_t *record_event_values(const json_t *now);

/*
 * record_migrate: rewrite the records of a store of schema version from
 * in the current shapes, in txn (the caller's write transaction, which
 * also stamps the new version). Records that do not validate are left as
 * they are, logged and counted in *invalid. 0, or -1 with err.
 */
int record_migrate(struct store_txn *txn, int from, unsigned int *invalid,
    char *err, size_t errlen);

#endif

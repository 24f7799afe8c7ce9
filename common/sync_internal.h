/*
 * sync_internal: what the engine's files share. Not an interface.
 */
#ifndef RINGSYNC_SYNC_INTERNAL_H
#define RINGSYNC_SYNC_INTERNAL_H

#include <jansson.h>

#include "ad.h"
#include "phone.h"
#include "profile.h"
#include "sync.h"

/* One AD user as the store remembers it (STORE_USERS, by objectGUID). */
struct sync_user {
	char guid[AD_GUID_LEN + 1];
	char *dn, *email;          /* email lower-cased: the join key */
	char *phone_id;            /* linked extension id; NULL: not linked */
	char pushed[PROFILE_HASH_LEN + 1]; /* hash of the profile last pushed */
	char failed[PROFILE_HASH_LEN + 1]; /* hash that got a data error */
	int phone_active;          /* 0 once we deactivated it */
	int creating;              /* a create was sent and not yet answered */
	int ad_disabled, ad_deleted;
	unsigned int failures;
	char *last_error;          /* the last per-user error, or NULL */
	char *direct_number, *extension_number; /* as last imported */
	json_t *wb;                /* owned: attribute -> value last written */
};

/* A desired state waiting in the outbox (STORE_OUTBOX, by objectGUID). */
struct sync_out {
	char guid[AD_GUID_LEN + 1];
	unsigned long long seq;    /* changes when the entry is replaced */
	int active;                /* desired: an active phone user, or not */
	char *reason;              /* new, changed, enabled, disabled, deleted, out-of-scope */
	char *dn, *email;
	json_t *profile;           /* owned; NULL for deactivations */
	char hash[PROFILE_HASH_LEN + 1];
	unsigned int attempts;
	long long not_before;      /* Unix time; 0: now */
	int held;                  /* deactivation: 2 under review until the scan
	                            * ends, 1 held by max_deactivations, 0 free */
	unsigned long long cycle;  /* the scan that wrote it */
};

/* sync_user.c: records in the store. 0 found, 1 absent, -1 error. */
int user_get(struct store_txn *txn, const char *guid, struct sync_user *u);
int user_put(struct store_txn *txn, const struct sync_user *u, char *err,
    size_t errlen);
void user_clear(struct sync_user *u);
int user_from_json(const char *guid, const json_t *o, struct sync_user *u);
json_t *user_to_json(const struct sync_user *u);
int out_get(struct store_txn *txn, const char *guid, struct sync_out *o);
int out_put(struct store_txn *txn, const struct sync_out *o, char *err,
    size_t errlen);
void out_clear(struct sync_out *o);
int out_from_json(const char *guid, const json_t *j, struct sync_out *o);
/* email_owner: the objectGUID indexed for email (owned), or NULL. */
char *email_owner(struct store_txn *txn, const char *email);
int email_set(struct store_txn *txn, const char *email, const char *guid,
    char *err, size_t errlen);
int email_del(struct store_txn *txn, const char *email, char *err,
    size_t errlen);
/* count_linked: users linked to a phone user (a percentage's base). */
unsigned int count_linked(struct store_txn *txn);
/*
 * held_each: count the held deactivations in *n and, with release, let
 * them through in txn. 0, or -1 with err.
 */
int held_each(struct store_txn *txn, int release, unsigned int *n, char *err,
    size_t errlen);
unsigned long long next_seq(void);
char *lower_dup(const char *s);

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
 * plan_entry: what a scanned entry means, given the user record (NULL:
 * never seen), the hash of its profile (NULL: the profile has an error)
 * and the entry waiting in the outbox (NULL: none), which may be on its
 * way to the phone system: the decision makes the outbox hold what AD
 * wants now, whatever that entry does.
 */
void plan_entry(const struct sync_user *u, const struct ad_entry *e,
    const char *hash, const struct sync_out *pending,
    struct scan_decision *out);

enum push_action {
	PUSH_DROP,        /* nothing to do any more: forget the entry */
	PUSH_CREATE,      /* link by email, else create */
	PUSH_UPDATE,      /* bulk update of a linked user (maybe re-enable) */
	PUSH_DEACTIVATE,  /* bulk update to Disabled (or the configured way) */
	PUSH_WAIT,        /* not yet: a retry time or a hold */
};

/* plan_push: the pusher's choice for an outbox entry at time now. */
enum push_action plan_push(const struct sync_out *o, const struct sync_user *u,
    long long now);

/*
 * plan_writeback: the [writeback] values for numbers; 1 when they differ
 * from what was last written (u->wb), with *want a new object, else 0.
 */
int plan_writeback(const struct config_map *writeback, const char *direct,
    const char *ext, const json_t *written, json_t **want);

#endif

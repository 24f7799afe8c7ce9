/*
 * store: the daemon's durable state, one LMDB environment under state_dir.
 *
 * Named databases: meta (schema version), watermark (the last usnChanged
 * high-water mark with the DC it belongs to), users (one record per AD
 * user, keyed by objectGUID), outbox (pending pushes, keyed by objectGUID:
 * the latest desired state wins), writeback (pending AD modifications,
 * keyed by objectGUID), tokens (OAuth tokens), emails (the email index
 * the importer joins phone users with) and seen (the users a running full
 * scan has met, to find those that left the scope).
 *
 * Every access happens in an explicit transaction, so a caller writes the
 * outbox and the watermark atomically or not at all. A writer holds
 * state_dir/ringsyncd.lock (flock): a second ringsyncd on the same state
 * directory is refused. Read-only opens (ringsyncctl) take no lock and never
 * block the daemon (LMDB readers). The struct store owns the environment,
 * the lock descriptor and its transactions' handles.
 */
#ifndef RINGSYNC_STORE_H
#define RINGSYNC_STORE_H

#include <jansson.h>
#include <stddef.h>

/*
 * The records' shapes (record.h). A store of an older version is migrated
 * by a writable store_open, in one transaction; a read-only open reads it
 * as it is.
 */
#define STORE_SCHEMA_VERSION 4

enum store_db {
	STORE_META,
	STORE_WATERMARK,
	STORE_USERS,
	STORE_OUTBOX,
	STORE_WRITEBACK,
	STORE_TOKENS,
	STORE_EMAILS,   /* lower-cased email -> objectGUID (the join key) */
	STORE_SEEN,     /* objectGUIDs seen by the running full scan */
	STORE_MEMBERS,  /* objectGUID -> the scope group bringing it in (v3) */
	STORE_HISTORY,  /* objectGUID/stamp -> a change made for the user */
	STORE_ROLES,    /* objectGUID -> the role [roles] gives it, as assigned */
	STORE_PHOTOS,   /* objectGUID -> its [push] photo's digest, as uploaded */
	STORE_STAGE,    /* the running import's listing (scratch, sync_import.c) */
	STORE_NDB
};

/* store_open flags */
#define STORE_RDONLY 0x1
/*
 * STORE_SHARED: writable without the writer lock, next to a running
 * ringsyncd (ringsyncctl's short writes: LMDB itself serialises writers
 * across processes). The store must exist.
 */
#define STORE_SHARED 0x2

struct store;
struct store_txn;
struct store_iter;

/*
 * store_open: open (creating dir with mode 0700 and the environment if
 * needed, unless STORE_RDONLY) and check the schema version: an older
 * store is migrated (record_migrate) unless STORE_RDONLY. Fails with a
 * message in err when another ringsyncd holds the directory, when the
 * store was written by a newer ringsync, or when LMDB refuses.
 */
int store_open(const char *dir, int flags, struct store **out, char *err,
    size_t errlen);
void store_close(struct store *st);
const char *store_path(const struct store *st);

/*
 * store_begin: start a transaction (read-only with rdonly = 1). The txn
 * must end with store_commit or store_abort, which free it.
 *
 * A failed write (store_put, store_del, store_clear and the typed puts)
 * poisons its transaction: the first failure is kept, later writes still
 * report theirs, and store_commit then writes nothing and returns -1 with
 * that first failure. A caller may go on after a failed write; it cannot
 * lose one by not looking at a result.
 */
int store_begin(struct store *st, int rdonly, struct store_txn **out,
    char *err, size_t errlen);
int store_commit(struct store_txn *txn, char *err, size_t errlen);
/*
 * store_txn_serial: a number no other transaction of this process had or
 * will have (a cache keyed by it never outlives its transaction).
 */
unsigned long long store_txn_serial(const struct store_txn *txn);
void store_abort(struct store_txn *txn); /* NULL: no-op */

/*
 * Raw values. store_get returns 0 and points *val at LMDB's memory (valid
 * until the transaction ends), 1 when the key is absent, -1 on error.
 */
int store_put(struct store_txn *txn, enum store_db db, const char *key,
    const void *val, size_t len, char *err, size_t errlen);
int store_get(struct store_txn *txn, enum store_db db, const char *key,
    const void **val, size_t *len);
/* store_del: 0 when deleted or absent, -1 on error. */
int store_del(struct store_txn *txn, enum store_db db, const char *key,
    char *err, size_t errlen);
int store_count(struct store_txn *txn, enum store_db db, size_t *n);
/*
 * store_clear: delete every record of db. 0 or -1. LMDB reads every leaf
 * page of db for it, so until the commit the whole database is mapped.
 */
int store_clear(struct store_txn *txn, enum store_db db, char *err,
    size_t errlen);
/*
 * store_drain: delete every record of db in key order, per records a
 * transaction of its own, committed: the pages it empties, a few at a
 * time, are all it touches (for a large database that store_clear would
 * map whole). 0, or -1 with err (what was committed stays deleted).
 */
int store_drain(struct store *st, enum store_db db, size_t per, char *err,
    size_t errlen);

/*
 * JSON values (jansson): the record format of every database but meta.
 * store_get_json: 0 with a new reference in *out, 1 absent, -1 error
 * (including a record that is not JSON).
 */
int store_put_json(struct store_txn *txn, enum store_db db, const char *key,
    const json_t *v, char *err, size_t errlen);
int store_get_json(struct store_txn *txn, enum store_db db, const char *key,
    json_t **out, char *err, size_t errlen);

/*
 * Iteration in key order, from the first key >= start (NULL: the first).
 * store_iter_next: 1 with key/value pointing into LMDB (valid until the
 * next call or the end of the transaction), 0 at the end, -1 on error.
 */
int store_iter_open(struct store_txn *txn, enum store_db db, const char *start,
    struct store_iter **out);
int store_iter_next(struct store_iter *it, const char **key, size_t *klen,
    const void **val, size_t *vlen);
void store_iter_close(struct store_iter *it);

/* The usnChanged watermark and the DC it is valid against. */
struct store_watermark {
	char *dns_host_name;       /* owned */
	char *invocation_id;       /* owned: GUID string */
	unsigned long long usn;    /* highest USN fully recorded */
	long long time;            /* when it was stored (Unix time) */
};

/* store_watermark_get: 0 found, 1 none yet, -1 error. */
int store_watermark_get(struct store_txn *txn, struct store_watermark *out,
    char *err, size_t errlen);
int store_watermark_put(struct store_txn *txn, const struct store_watermark *w,
    char *err, size_t errlen);
void store_watermark_clear(struct store_watermark *w);

/* OAuth tokens; expiry times are Unix times (0: unknown). */
struct store_tokens {
	char *access_token;   /* owned */
	long long access_expires;
	char *refresh_token;  /* owned */
	long long refresh_expires;
};

int store_tokens_get(struct store_txn *txn, struct store_tokens *out,
    char *err, size_t errlen);
int store_tokens_put(struct store_txn *txn, const struct store_tokens *t,
    char *err, size_t errlen);
void store_tokens_clear(struct store_tokens *t);

#endif

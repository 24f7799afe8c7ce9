#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "record.h"
#include "util.h"

#define STORE_FILE "state.mdb"
#define LOCK_FILE "ringsyncd.lock"
#define MAP_SIZE ((size_t)4 << 30) /* address space only: the file grows as used */
#define FULL_MARGIN ((unsigned long long)1 << 20) /* bytes: "full" after EIO */
/*
 * The map is trimmed after this many reads and writes, also inside a
 * transaction: each fault at a random key maps up to 64 KB around it (the
 * kernel's fault-around; more where the page cache holds the file in large
 * folios, as after a copy), so a scanned page's 500 users would otherwise
 * map most of a large store before its commit. A trim costs little next
 * to the faults it undoes (measured: 100,000 random reads of a 200 MB file
 * take 0.46 s trimmed every 128, 0.52 s every 16).
 */
#define TRIM_EVERY 16

static const char *const db_names[STORE_NDB] = {
	"meta", "watermark", "users", "outbox", "writeback", "tokens", "emails",
	"seen", "members", "history", "roles", "photos", "stage",
};

struct store {
	MDB_env *env;          /* owned */
	MDB_dbi dbi[STORE_NDB];
	unsigned int absent;   /* read-only open of an older store: the
	                        * databases (1 << db) not there yet (empty) */
	int lock_fd;           /* owned; -1 for read-only opens */
	int rdonly;
	int writing;           /* a write transaction of ours is open */
	size_t psize;          /* the database's page size */
	void *map;             /* LMDB's mapping of the file, or NULL: not found */
	size_t maplen;
	unsigned int touched;  /* reads and writes since the last trim */
	char *dir;             /* owned */
};

struct store_txn {
	struct store *st;      /* not owned */
	MDB_txn *txn;          /* owned: committed or aborted by its end */
	int write;
	int failed;            /* a write failed: the commit writes nothing */
	char err[256];         /* the first failure */
	unsigned long long serial; /* store_txn_serial */
};

struct store_iter {
	struct store *st;      /* not owned */
	MDB_cursor *cur;       /* owned */
	int started;
	const char *start;     /* not owned; used once */
};

static int
mdb_fail(char *err, size_t errlen, const char *what, int rc)
{
	if (rc == MDB_MAP_FULL)
		return util_errbuf_set(err, errlen, "%s: the state store is full "
		    "(map size %zu bytes)", what, MAP_SIZE);
	return util_errbuf_set(err, errlen, "%s: %s", what, mdb_strerror(rc));
}

/*
 * poison: a write of txn failed with msg: the first failure is kept, the
 * commit will write nothing and report it; msg goes to err too. -1.
 */
static int
poison(struct store_txn *txn, const char *msg, char *err, size_t errlen)
{
	if (!txn->failed) {
		txn->failed = 1;
		snprintf(txn->err, sizeof(txn->err), "%s", msg);
	}
	return util_errbuf_set(err, errlen, "%s", msg);
}

/*
 * commit_fail: a full file system is the likely cause of a failed commit,
 * and LMDB reports it as ENOSPC or, when a write came back short, as EIO:
 * say so plainly, with the directory and what is free there.
 */
static int
commit_fail(const struct store *st, char *err, size_t errlen, int rc)
{
	unsigned long long avail = 0;
	struct statvfs sv;
	int full = rc == ENOSPC || rc == EDQUOT;

	if ((full || rc == EIO) && statvfs(st->dir, &sv) == 0) {
		avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
		full = full || avail < FULL_MARGIN;
	}
	if (full)
		return util_errbuf_set(err, errlen, "cannot write the state store in %s: "
		    "its file system is full (%llu bytes free; LMDB: %s): nothing "
		    "was written; free space there", st->dir, avail,
		    mdb_strerror(rc));
	return util_errbuf_set(err, errlen, "cannot commit to the state store in %s: "
	    "%s", st->dir, mdb_strerror(rc));
}

/*
 * take_lock: hold state_dir/ringsyncd.lock for the process's lifetime. The
 * kernel drops an flock when its holder dies, so a killed daemon leaves no
 * stale lock behind.
 */
static int
take_lock(struct store *st, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", st->dir, LOCK_FILE);
	char pid[32] = "unknown";
	ssize_t n;

	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		util_errbuf_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(st->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		util_errbuf_set(err, errlen, "state directory %s is in use by another "
		    "ringsyncd (pid %s)", st->dir, pid[0] ? pid : "unknown");
		free(path);
		return -1;
	}
	free(path);
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) < 0 ||
	    pwrite(st->lock_fd, pid, strlen(pid), 0) < 0)
		return util_errbuf_set(err, errlen, "cannot write %s/%s: %s", st->dir,
		    LOCK_FILE, strerror(errno));
	return 0;
}

static int
make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat sb;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return util_errbuf_set(err, errlen, "cannot create state_dir %s: %s",
		    dir, strerror(errno));
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return util_errbuf_set(err, errlen, "state_dir %s is not a directory",
		    dir);
	return 0;
}

/*
 * migrate: rewrite the records of an older schema version in the current
 * shapes and stamp the version, in one write transaction: a crash leaves
 * the old store as it was.
 */
static int
migrate(struct store *st, int from, char *err, size_t errlen)
{
	struct store_txn *txn;
	unsigned int invalid;
	char buf[16];

	if (store_begin(st, 0, &txn, err, errlen) < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%d", STORE_SCHEMA_VERSION);
	if (record_migrate(txn, from, &invalid, err, errlen) < 0 ||
	    store_put(txn, STORE_META, "schema_version", buf, strlen(buf), err,
	    errlen) < 0) {
		store_abort(txn);
		return -1;
	}
	return store_commit(txn, err, errlen);
}

/*
 * check_schema: refuse a newer store, migrate an older one (not when
 * read-only); stamp a new one with our version.
 */
static int
check_schema(struct store *st, char *err, size_t errlen)
{
	struct store_txn *txn;
	const void *val;
	size_t len;
	char buf[16];
	int rc, version;

	if (store_begin(st, st->rdonly, &txn, err, errlen) < 0)
		return -1;
	rc = store_get(txn, STORE_META, "schema_version", &val, &len);
	if (rc == 1) {
		store_abort(txn);
		if (st->rdonly)
			return 0; /* the daemon has not stamped it yet */
		if (store_begin(st, 0, &txn, err, errlen) < 0)
			return -1;
		snprintf(buf, sizeof(buf), "%d", STORE_SCHEMA_VERSION);
		if (store_put(txn, STORE_META, "schema_version", buf, strlen(buf),
		    err, errlen) < 0) {
			store_abort(txn);
			return -1;
		}
		return store_commit(txn, err, errlen);
	}
	if (rc < 0 || len >= sizeof(buf)) {
		store_abort(txn);
		return util_errbuf_set(err, errlen, "state store %s: unreadable schema "
		    "version", st->dir);
	}
	memcpy(buf, val, len);
	buf[len] = '\0';
	store_abort(txn);
	version = atoi(buf);
	if (version > STORE_SCHEMA_VERSION)
		return util_errbuf_set(err, errlen, "state store %s has schema version "
		    "%d, newer than this ringsyncd understands (%d): run the newer "
		    "ringsyncd, or move the state directory away to start afresh",
		    st->dir, version, STORE_SCHEMA_VERSION);
	/* A read-only open reads the older records as they are (record.h). */
	if (version < STORE_SCHEMA_VERSION && !st->rdonly)
		return migrate(st, version, err, errlen);
	return 0;
}

static int
open_dbs(struct store *st, char *err, size_t errlen)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, st->rdonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0)
		return mdb_fail(err, errlen, "cannot open the state store", rc);
	for (int i = 0; i < STORE_NDB; i++) {
		rc = mdb_dbi_open(txn, db_names[i], st->rdonly ? 0 : MDB_CREATE,
		    &st->dbi[i]);
		if (rc == MDB_NOTFOUND && st->rdonly && (i == STORE_MEMBERS ||
		    i == STORE_HISTORY || i == STORE_ROLES ||
		    i == STORE_PHOTOS || i == STORE_STAGE)) {
			st->absent |= 1u << i; /* an older store: read as empty */
			continue;
		}
		if (rc == MDB_NOTFOUND && st->rdonly) {
			mdb_txn_abort(txn);
			return util_errbuf_set(err, errlen, "state store in %s is not "
			    "initialised yet (ringsyncd has not run)", st->dir);
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			return mdb_fail(err, errlen, db_names[i], rc);
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return mdb_fail(err, errlen, "cannot open the state store", rc);
	return 0;
}

/*
 * find_map: LMDB's mapping of the data file (LMDB tells its address only
 * for a fixed map): the line of /proc/self/maps with the file's device
 * and inode. Linux only; without it nothing is trimmed.
 */
static void
find_map(struct store *st)
{
	unsigned long lo, hi, ino, maj, min;
	struct stat sb;
	char line[4096];
	FILE *f;
	int fd;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) < 0 ||
	    (f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &maj, &min,
		    &ino) == 5 && ino == (unsigned long)sb.st_ino &&
		    maj == (unsigned long)major(sb.st_dev) &&
		    min == (unsigned long)minor(sb.st_dev) && hi - lo >= MAP_SIZE) {
			st->map = (void *)lo;
			st->maplen = hi - lo;
			break;
		}
	}
	fclose(f);
}

/*
 * trim: give the map's pages back (after a write transaction, and every
 * TRIM_EVERY reads and writes: touch). LMDB reads
 * through a shared read-only mapping of the file, so every record a
 * transaction looked at stays in the process's resident set until the
 * kernel reclaims it: with random lookups by objectGUID the daemon's RSS
 * would grow to the size of the store. The pages stay in the page cache
 * and fault back in on the next access; nothing is written or lost.
 */
static void
trim(struct store *st)
{
	MDB_envinfo ei;
	size_t used;

	st->touched = 0;
	if (st->map == NULL || st->psize == 0 || mdb_env_info(st->env, &ei) != 0)
		return;
	used = (ei.me_last_pgno + 1) * st->psize;
	(void)madvise(st->map, used < st->maplen ? used : st->maplen,
	    MADV_DONTNEED);
}

/*
 * touch: a read or write went through the map. Trimming inside a
 * transaction is safe: what it returned stays at its address and faults
 * back in from the page cache when read.
 */
static void
touch(struct store *st)
{
	if (++st->touched >= TRIM_EVERY)
		trim(st);
}

int
store_open(const char *dir, int flags, struct store **out, char *err,
    size_t errlen)
{
	struct store *st = xcalloc(1, sizeof(*st));
	MDB_stat ms;
	char *path;
	int rc, dead;

	*out = NULL;
	st->lock_fd = -1;
	st->rdonly = (flags & STORE_RDONLY) != 0;
	st->dir = xstrdup(dir);
	if (!st->rdonly && !(flags & STORE_SHARED) && (make_dir(dir, err,
	    errlen) < 0 || take_lock(st, err, errlen) < 0))
		goto fail;
	path = xasprintf("%s/%s", dir, STORE_FILE);
	if ((st->rdonly || (flags & STORE_SHARED)) && access(path, F_OK) < 0) {
		util_errbuf_set(err, errlen, "no state store in %s (ringsyncd has not "
		    "run yet)", dir);
		free(path);
		goto fail;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, STORE_NDB)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, MAP_SIZE)) != 0 ||
	    /* reads are at random keys: no readahead (MADV_RANDOM) */
	    (rc = mdb_env_open(st->env, path, MDB_NOSUBDIR | MDB_NOTLS |
	    MDB_NORDAHEAD | (st->rdonly ? MDB_RDONLY : 0), 0600)) != 0) {
		mdb_fail(err, errlen, path, rc);
		free(path);
		goto fail;
	}
	free(path);
	mdb_reader_check(st->env, &dead); /* readers left by killed processes */
	if (mdb_env_stat(st->env, &ms) == 0)
		st->psize = ms.ms_psize;
	find_map(st);
	if (open_dbs(st, err, errlen) < 0 || check_schema(st, err, errlen) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->dir);
	free(st);
}

const char *
store_path(const struct store *st)
{
	return st->dir;
}

int
store_begin(struct store *st, int rdonly, struct store_txn **out, char *err,
    size_t errlen)
{
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (!rdonly && st->rdonly)
		return util_errbuf_set(err, errlen, "state store opened read-only");
	/* LMDB would block forever on a second writer in the same thread. */
	if (!rdonly && st->writing)
		return util_errbuf_set(err, errlen, "a write transaction is already open "
		    "in this process");
	rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0)
		return mdb_fail(err, errlen, "cannot begin a transaction", rc);
	static unsigned long long serial;

	*out = xcalloc(1, sizeof(**out));
	(*out)->serial = ++serial;
	(*out)->st = st;
	(*out)->txn = txn;
	(*out)->write = !rdonly;
	st->writing |= !rdonly;
	return 0;
}

int
store_commit(struct store_txn *txn, char *err, size_t errlen)
{
	struct store *st = txn->st;
	int write = txn->write, rc;

	if (txn->failed) {
		util_errbuf_set(err, errlen, "nothing was written to the state store: "
		    "%s", txn->err);
		store_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn->txn);
	if (write)
		st->writing = 0;
	free(txn);
	if (rc != 0)
		return commit_fail(st, err, errlen, rc);
	if (write)
		trim(st);
	return 0;
}

unsigned long long
store_txn_serial(const struct store_txn *txn)
{
	return txn->serial;
}

void
store_abort(struct store_txn *txn)
{
	struct store *st;
	int write;

	if (txn == NULL)
		return;
	st = txn->st;
	write = txn->write;
	if (write)
		st->writing = 0;
	mdb_txn_abort(txn->txn);
	free(txn);
	if (write)
		trim(st);
}

static MDB_val
key_val(const char *key)
{
	MDB_val k = { strlen(key), (void *)key };

	return k;
}

int
store_put(struct store_txn *txn, enum store_db db, const char *key,
    const void *val, size_t len, char *err, size_t errlen)
{
	MDB_val k = key_val(key), v = { len, (void *)val }, old;
	char msg[256];
	int rc;

	if (k.mv_size == 0 || k.mv_size > 511) {
		snprintf(msg, sizeof(msg), "%s: key of %zu bytes", db_names[db],
		    k.mv_size);
		return poison(txn, msg, err, errlen);
	}
	touch(txn->st);
	/* The same bytes again: a put would still copy the page and write it. */
	if (mdb_get(txn->txn, txn->st->dbi[db], &k, &old) == 0 &&
	    old.mv_size == len && (len == 0 || memcmp(old.mv_data, val, len) == 0))
		return 0;
	rc = mdb_put(txn->txn, txn->st->dbi[db], &k, &v, 0);
	if (rc != 0) {
		mdb_fail(msg, sizeof(msg), db_names[db], rc);
		return poison(txn, msg, err, errlen);
	}
	return 0;
}

int
store_get(struct store_txn *txn, enum store_db db, const char *key,
    const void **val, size_t *len)
{
	MDB_val k = key_val(key), v;
	int rc;

	if (k.mv_size == 0 || k.mv_size > 511)
		return -1;
	if (txn->st->absent & (1u << db))
		return 1;
	touch(txn->st);
	rc = mdb_get(txn->txn, txn->st->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return -1;
	*val = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
store_del(struct store_txn *txn, enum store_db db, const char *key, char *err,
    size_t errlen)
{
	MDB_val k = key_val(key);
	char msg[256];
	int rc;

	touch(txn->st);
	rc = mdb_del(txn->txn, txn->st->dbi[db], &k, NULL);

	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_fail(msg, sizeof(msg), db_names[db], rc);
		return poison(txn, msg, err, errlen);
	}
	return 0;
}

int
store_count(struct store_txn *txn, enum store_db db, size_t *n)
{
	MDB_stat ms;

	if (txn->st->absent & (1u << db)) {
		*n = 0;
		return 0;
	}
	if (mdb_stat(txn->txn, txn->st->dbi[db], &ms) != 0)
		return -1;
	*n = ms.ms_entries;
	return 0;
}

int
store_drain(struct store *st, enum store_db db, size_t per, char *err,
    size_t errlen)
{
	int more = !(st->absent & (1u << db));

	while (more) {
		struct store_txn *txn;
		MDB_cursor *cur;
		MDB_val k, v;
		int rc = 0;

		if (store_begin(st, 0, &txn, err, errlen) < 0)
			return -1;
		if ((rc = mdb_cursor_open(txn->txn, st->dbi[db], &cur)) != 0) {
			store_abort(txn);
			return mdb_fail(err, errlen, db_names[db], rc);
		}
		for (size_t i = 0; i < per; i++) {
			touch(st);
			if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0 ||
			    (rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			more = 0;
			rc = 0;
		}
		if (rc != 0) {
			store_abort(txn);
			return mdb_fail(err, errlen, db_names[db], rc);
		}
		if (store_commit(txn, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int
store_clear(struct store_txn *txn, enum store_db db, char *err, size_t errlen)
{
	int rc = mdb_drop(txn->txn, txn->st->dbi[db], 0);
	char msg[256];

	if (rc != 0) {
		mdb_fail(msg, sizeof(msg), db_names[db], rc);
		return poison(txn, msg, err, errlen);
	}
	return 0;
}

int
store_put_json(struct store_txn *txn, enum store_db db, const char *key,
    const json_t *v, char *err, size_t errlen)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	char msg[256];
	int rc;

	if (text == NULL) {
		snprintf(msg, sizeof(msg), "%s %.64s: cannot encode the record",
		    db_names[db], key);
		return poison(txn, msg, err, errlen);
	}
	rc = store_put(txn, db, key, text, strlen(text), err, errlen);
	free(text);
	return rc;
}

int
store_get_json(struct store_txn *txn, enum store_db db, const char *key,
    json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	const void *val;
	size_t len;
	int rc = store_get(txn, db, key, &val, &len);

	*out = NULL;
	if (rc != 0) {
		if (rc < 0)
			util_errbuf_set(err, errlen, "%s %s: cannot read", db_names[db], key);
		return rc;
	}
	*out = json_loadb(val, len, 0, &jerr);
	if (*out == NULL)
		return util_errbuf_set(err, errlen, "%s %s: corrupt record: %s",
		    db_names[db], key, jerr.text);
	return 0;
}

int
store_iter_open(struct store_txn *txn, enum store_db db, const char *start,
    struct store_iter **out)
{
	MDB_cursor *cur;

	*out = NULL;
	if (txn->st->absent & (1u << db)) {
		*out = xcalloc(1, sizeof(**out)); /* an empty walk */
		return 0;
	}
	if (mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur) != 0)
		return -1;
	*out = xcalloc(1, sizeof(**out));
	(*out)->st = txn->st;
	(*out)->cur = cur;
	(*out)->start = start;
	return 0;
}

int
store_iter_next(struct store_iter *it, const char **key, size_t *klen,
    const void **val, size_t *vlen)
{
	MDB_val k = { 0, NULL }, v;
	MDB_cursor_op op = MDB_NEXT;
	int rc;

	if (it->cur == NULL)
		return 0;
	if (!it->started) {
		it->started = 1;
		op = MDB_FIRST;
		if (it->start != NULL && *it->start != '\0') {
			k = key_val(it->start);
			op = MDB_SET_RANGE;
		}
	}
	touch(it->st);
	rc = mdb_cursor_get(it->cur, &k, &v, op);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -1;
	*key = k.mv_data;
	*klen = k.mv_size;
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 1;
}

void
store_iter_close(struct store_iter *it)
{
	if (it == NULL)
		return;
	if (it->cur != NULL)
		mdb_cursor_close(it->cur);
	free(it);
}

static char *
json_strdup(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s ? xstrdup(s) : NULL;
}

int
store_watermark_get(struct store_txn *txn, struct store_watermark *out,
    char *err, size_t errlen)
{
	json_t *o;
	int rc = store_get_json(txn, STORE_WATERMARK, "current", &o, err, errlen);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return rc;
	out->dns_host_name = json_strdup(o, "dnsHostName");
	out->invocation_id = json_strdup(o, "invocationId");
	out->usn = (unsigned long long)json_integer_value(json_object_get(o, "usn"));
	out->time = json_integer_value(json_object_get(o, "time"));
	json_decref(o);
	if (out->dns_host_name == NULL || out->invocation_id == NULL) {
		store_watermark_clear(out);
		return util_errbuf_set(err, errlen, "watermark: corrupt record");
	}
	return 0;
}

int
store_watermark_put(struct store_txn *txn, const struct store_watermark *w,
    char *err, size_t errlen)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "dnsHostName",
	    w->dns_host_name, "invocationId", w->invocation_id, "usn",
	    (json_int_t)w->usn, "time", (json_int_t)(w->time ? w->time : time(NULL)));
	int rc;

	if (o == NULL)
		return poison(txn, "watermark: incomplete", err, errlen);
	rc = store_put_json(txn, STORE_WATERMARK, "current", o, err, errlen);
	json_decref(o);
	return rc;
}

void
store_watermark_clear(struct store_watermark *w)
{
	free(w->dns_host_name);
	free(w->invocation_id);
	memset(w, 0, sizeof(*w));
}

int
store_tokens_get(struct store_txn *txn, struct store_tokens *out, char *err,
    size_t errlen)
{
	json_t *o;
	int rc = store_get_json(txn, STORE_TOKENS, "oauth", &o, err, errlen);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return rc;
	out->access_token = json_strdup(o, "access_token");
	out->refresh_token = json_strdup(o, "refresh_token");
	out->access_expires = json_integer_value(json_object_get(o, "access_expires"));
	out->refresh_expires = json_integer_value(json_object_get(o,
	    "refresh_expires"));
	json_decref(o);
	return 0;
}

int
store_tokens_put(struct store_txn *txn, const struct store_tokens *t,
    char *err, size_t errlen)
{
	json_t *o = json_object();
	int rc;

	if (t->access_token)
		json_object_set_new(o, "access_token", json_string(t->access_token));
	if (t->refresh_token)
		json_object_set_new(o, "refresh_token", json_string(t->refresh_token));
	json_object_set_new(o, "access_expires", json_integer(t->access_expires));
	json_object_set_new(o, "refresh_expires", json_integer(t->refresh_expires));
	rc = store_put_json(txn, STORE_TOKENS, "oauth", o, err, errlen);
	json_decref(o);
	return rc;
}

void
store_tokens_clear(struct store_tokens *t)
{
	free(t->access_token);
	free(t->refresh_token);
	memset(t, 0, sizeof(*t));
}

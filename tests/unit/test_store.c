/* Unit tests for common/store: round trips, atomicity, locking, crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "store.h"
#include "testutil.h"

static struct store *
open_ok(const char *dir, int flags)
{
	struct store *st;
	char err[512];

	if (store_open(dir, flags, &st, err, sizeof(err)) < 0)
		fail_msg("store_open %s: %s", dir, err);
	return st;
}

static void
put_str(struct store_txn *txn, enum store_db db, const char *k, const char *v)
{
	char err[256];

	if (store_put(txn, db, k, v, strlen(v), err, sizeof(err)) < 0)
		fail_msg("store_put: %s", err);
}

static int
get_str(struct store_txn *txn, enum store_db db, const char *k, char *buf,
    size_t len)
{
	const void *v;
	size_t n;
	int rc = store_get(txn, db, k, &v, &n);

	if (rc == 0)
		snprintf(buf, len, "%.*s", (int)n, (const char *)v);
	return rc;
}

static void
commit_ok(struct store_txn *txn)
{
	char err[256];

	if (store_commit(txn, err, sizeof(err)) < 0)
		fail_msg("commit: %s", err);
}

/* map_rss: kB of the store file's mapping resident in this process. */
static long
map_rss(const char *path)
{
	unsigned long ino, maj, min;
	struct stat sb;
	char line[4096];
	long kb = -1, v;
	int ours = 0;
	FILE *f;

	if (stat(path, &sb) < 0 || (f = fopen("/proc/self/smaps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*x-%*x %*s %*s %lx:%lx %lu", &maj, &min, &ino) == 3)
			ours = ino == (unsigned long)sb.st_ino &&
			    maj == (unsigned long)major(sb.st_dev) &&
			    min == (unsigned long)minor(sb.st_dev);
		else if (ours && sscanf(line, "Rss: %ld kB", &v) == 1)
			kb = v;
	}
	fclose(f);
	return kb;
}

/*
 * Records looked at stay resident through LMDB's mapping: the store hands
 * the pages back every so many reads and when a write transaction ends
 * (the daemon's memory must not grow with the directory).
 */
static void
test_map_trimmed(void **state)
{
	const char *dir = tu_tmpdir();
	char *sdir = xasprintf("%s/state", dir), *path, err[256], val[600];
	struct store *st = open_ok(sdir, 0);
	struct store_txn *txn;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl, n = 0;
	long most = 0, now;
	struct stat sb;

	(void)state;
	path = xasprintf("%s/state.mdb", sdir);
	memset(val, 'x', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (int t = 0; t < 8; t++) {
		assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
		for (int i = 0; i < 5000; i++) {
			char key[32];

			snprintf(key, sizeof(key), "%08x", (unsigned)(i * 2654435761u + t));
			put_str(txn, STORE_USERS, key, val);
		}
		commit_ok(txn);
		assert_true(map_rss(path) >= 0);
		assert_true(map_rss(path) < 256);
	}
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 24 << 20);
	/* Every record read in one transaction: never more than a little of
	 * the file resident at a time. */
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_iter_open(txn, STORE_USERS, NULL, &it), 0);
	while (store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		assert_int_equal(((const char *)v)[vl - 1], 'x');
		if (++n % 100 == 0 && (now = map_rss(path)) > most)
			most = now;
	}
	store_iter_close(it);
	store_abort(txn);
	assert_int_equal(n, 40000);
	/* at most TRIM_EVERY (16) faults of 64 KB (fault-around) between
	 * trims, and the page being read */
	assert_true(most <= 17 * 64);
	assert_true(most > 0);
	/* A write transaction that writes nothing (the same bytes) ends with
	 * nothing resident. */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_USERS, "00000000", val);
	commit_ok(txn);
	assert_true(map_rss(path) < 256);
	print_message("file %lld kB; map resident at most %ld kB while reading "
	    "it all, %ld kB after a write\n", (long long)sb.st_size / 1024, most,
	    map_rss(path));
	store_close(st);
	free(path);
	free(sdir);
}

/*
 * store_drain empties a database in slices, other databases untouched.
 * store_clear (mdb_drop) maps much of the database until its commit
 * (measured with LMDB 0.9.24: 100,000 records of 250 bytes, 18 MB; here
 * it is only printed, as LMDB's own business), which is why a large one
 * is drained.
 */
static void
test_drain(void **state)
{
	const char *dir = tu_tmpdir();
	char *sdir = xasprintf("%s/state", dir), *path, err[256], key[64];
	char val[200];
	struct store *st = open_ok(sdir, 0);
	struct store_txn *txn;
	size_t n = 1;
	long mapped;

	(void)state;
	path = xasprintf("%s/state.mdb", sdir);
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (int i = 0; i < 20000; i += 500) {
		assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
		for (int k = i; k < i + 500; k++) {
			snprintf(key, sizeof(key), "x%08x%d", (unsigned)(k * 2654435761u), k);
			put_str(txn, STORE_STAGE, key, val);
		}
		commit_ok(txn);
	}
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_USERS, "kept", "1");
	commit_ok(txn);
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_clear(txn, STORE_STAGE, err, sizeof(err)), 0);
	mapped = map_rss(path);
	store_abort(txn);
	assert_int_equal(store_drain(st, STORE_STAGE, 1000, err, sizeof(err)), 0);
	assert_true(map_rss(path) < 256);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_count(txn, STORE_STAGE, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_count(txn, STORE_USERS, &n), 0);
	assert_int_equal(n, 1);
	store_abort(txn);
	/* an empty database drains at once */
	assert_int_equal(store_drain(st, STORE_STAGE, 7, err, sizeof(err)), 0);
	print_message("store_clear mapped %ld kB of the store before its commit\n",
	    mapped);
	store_close(st);
	free(path);
	free(sdir);
}

static void
test_round_trip(void **state)
{
	const char *dir = tu_tmpdir();
	char *sdir = xasprintf("%s/state", dir), buf[64], err[256];
	struct store *st = open_ok(sdir, 0);
	struct store_txn *txn;
	struct store_watermark w = { "dc1.example.test",
	    "4bb5a4cb-d4ea-4c97-8904-8901509e4400", 4012, 1700000000 }, w2;
	struct store_tokens t = { "acc-token", 111, "ref-token", 222 }, t2;
	json_t *j, *j2;
	struct stat sb;

	(void)state;
	assert_int_equal(stat(sdir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	for (int db = STORE_WATERMARK; db < STORE_NDB; db++)
		put_str(txn, db, "k1", "v1");
	assert_int_equal(store_watermark_put(txn, &w, err, sizeof(err)), 0);
	assert_int_equal(store_tokens_put(txn, &t, err, sizeof(err)), 0);
	j = json_pack("{s:s, s:i, s:[s,s]}", "dn", "CN=Zoë,DC=x", "n", 5, "a",
	    "x", "y");
	assert_int_equal(store_put_json(txn, STORE_USERS, "guid-1", j, err,
	    sizeof(err)), 0);
	commit_ok(txn);
	store_close(st);

	st = open_ok(sdir, 0);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	for (int db = STORE_WATERMARK; db < STORE_NDB; db++) {
		assert_int_equal(get_str(txn, db, "k1", buf, sizeof(buf)), 0);
		assert_string_equal(buf, "v1");
	}
	assert_int_equal(get_str(txn, STORE_USERS, "nope", buf, sizeof(buf)), 1);
	assert_int_equal(store_watermark_get(txn, &w2, err, sizeof(err)), 0);
	assert_string_equal(w2.dns_host_name, w.dns_host_name);
	assert_string_equal(w2.invocation_id, w.invocation_id);
	assert_int_equal(w2.usn, 4012);
	assert_int_equal(w2.time, 1700000000);
	store_watermark_clear(&w2);
	assert_int_equal(store_tokens_get(txn, &t2, err, sizeof(err)), 0);
	assert_string_equal(t2.access_token, "acc-token");
	assert_string_equal(t2.refresh_token, "ref-token");
	assert_int_equal(t2.access_expires, 111);
	assert_int_equal(t2.refresh_expires, 222);
	store_tokens_clear(&t2);
	assert_int_equal(store_get_json(txn, STORE_USERS, "guid-1", &j2, err,
	    sizeof(err)), 0);
	assert_true(json_equal(j, j2));
	json_decref(j);
	json_decref(j2);
	store_abort(txn);
	store_close(st);
	free(sdir);
}

static void
test_iterate_count_delete(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl, n;
	char err[256], key[16];
	int i = 0;

	(void)state;
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	for (int j = 9; j >= 0; j--) {
		snprintf(key, sizeof(key), "key%02d", j);
		put_str(txn, STORE_OUTBOX, key, "x");
	}
	assert_int_equal(store_del(txn, STORE_OUTBOX, "key03", err, sizeof(err)), 0);
	assert_int_equal(store_del(txn, STORE_OUTBOX, "absent", err, sizeof(err)), 0);
	assert_int_equal(store_count(txn, STORE_OUTBOX, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(store_iter_open(txn, STORE_OUTBOX, "key05", &it), 0);
	while (store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		snprintf(key, sizeof(key), "key%02d", 5 + i++);
		assert_int_equal(kl, 5);
		assert_memory_equal(k, key, 5);
	}
	assert_int_equal(i, 5);
	store_iter_close(it);
	assert_int_equal(store_iter_open(txn, STORE_OUTBOX, NULL, &it), 0);
	for (i = 0; store_iter_next(it, &k, &kl, &v, &vl) == 1; i++)
		;
	assert_int_equal(i, 9);
	store_iter_close(it);
	commit_ok(txn);
	/* Keys LMDB cannot hold are refused with a message, not a crash (and
	 * the transaction writes nothing: test_failed_write_poisons_commit). */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_put(txn, STORE_OUTBOX, "", "x", 1, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "outbox: key of 0 bytes");
	store_abort(txn);
	store_close(st);
}

static void
test_atomic_multi_db(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn;
	struct store_watermark w = { "dc1", "guid", 100, 0 }, got;
	char err[256], buf[16];

	(void)state;
	/* Aborted: neither the outbox entry nor the watermark is there. */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_OUTBOX, "user-a", "push");
	assert_int_equal(store_watermark_put(txn, &w, err, sizeof(err)), 0);
	store_abort(txn);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(get_str(txn, STORE_OUTBOX, "user-a", buf, sizeof(buf)), 1);
	assert_int_equal(store_watermark_get(txn, &got, err, sizeof(err)), 1);
	store_abort(txn);
	/* Committed: both are. */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_OUTBOX, "user-a", "push");
	assert_int_equal(store_watermark_put(txn, &w, err, sizeof(err)), 0);
	commit_ok(txn);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(get_str(txn, STORE_OUTBOX, "user-a", buf, sizeof(buf)), 0);
	assert_int_equal(store_watermark_get(txn, &got, err, sizeof(err)), 0);
	assert_int_equal(got.usn, 100);
	store_watermark_clear(&got);
	store_abort(txn);
	store_close(st);
}

/*
 * A failed write poisons its transaction: the commit writes nothing (not
 * the writes before it either) and names the first failure.
 */
static void
test_failed_write_poisons_commit(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn;
	char err[256], key[600], buf[16];

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_OUTBOX, "user-a", "push");
	/* the caller may not look at the result: the commit does */
	(void)store_put(txn, STORE_EMAILS, key, "x", 1, NULL, 0);
	put_str(txn, STORE_OUTBOX, "user-b", "push");
	assert_int_equal(store_del(txn, STORE_EMAILS, "absent", err,
	    sizeof(err)), 0); /* deleting nothing is no failure */
	assert_int_equal(store_commit(txn, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nothing was written"));
	assert_non_null(strstr(err, "emails: key of 599 bytes"));
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(get_str(txn, STORE_OUTBOX, "user-a", buf, sizeof(buf)), 1);
	assert_int_equal(get_str(txn, STORE_OUTBOX, "user-b", buf, sizeof(buf)), 1);
	store_abort(txn);
	/* the next transaction starts clean */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_OUTBOX, "user-a", "push");
	commit_ok(txn);
	store_close(st);
}

static void
test_second_writer_refused_reader_allowed(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0), *st2, *ro;
	struct store_txn *txn, *rtxn;
	char err[512], buf[16], *want;

	(void)state;
	assert_int_equal(store_open(dir, 0, &st2, err, sizeof(err)), -1);
	assert_null(st2);
	want = xasprintf("state directory %s is in use by another ringsyncd "
	    "(pid %ld)", dir, (long)getpid());
	assert_string_equal(err, want);
	free(want);
	/* A reader sees committed data while the writer holds a transaction. */
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_USERS, "u", "1");
	commit_ok(txn);
	ro = open_ok(dir, STORE_RDONLY);
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_USERS, "u", "2");
	assert_int_equal(store_begin(ro, 1, &rtxn, err, sizeof(err)), 0);
	assert_int_equal(get_str(rtxn, STORE_USERS, "u", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	store_abort(rtxn);
	assert_int_equal(store_begin(ro, 0, &rtxn, err, sizeof(err)), -1);
	commit_ok(txn);
	store_close(ro);
	store_close(st);
	/* Once the writer has gone the directory can be opened again. */
	st = open_ok(dir, 0);
	store_close(st);
}

static void
test_one_writer_per_process(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *a, *b, *r;
	char err[256];

	(void)state;
	assert_int_equal(store_begin(st, 0, &a, err, sizeof(err)), 0);
	/* A second writer would block forever: refused instead. */
	assert_int_equal(store_begin(st, 0, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already open"));
	assert_int_equal(store_begin(st, 1, &r, err, sizeof(err)), 0);
	store_abort(r);
	store_abort(a);
	assert_int_equal(store_begin(st, 0, &b, err, sizeof(err)), 0);
	commit_ok(b);
	assert_int_equal(store_begin(st, 0, &b, err, sizeof(err)), 0);
	store_abort(b);
	store_close(st);
}

static void
test_readonly_missing(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st;
	char err[512];

	(void)state;
	assert_int_equal(store_open(dir, STORE_RDONLY, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ringsyncd has not run yet"));
}

/*
 * A version-2 store (no members database): read-only, the members read as
 * empty; the writable open creates the database and stamps version 3.
 */
static void
test_version2_without_members(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl, n = 7;
	char path[512], err[512];
	MDB_env *env;
	MDB_txn *mt;
	MDB_dbi dbi;

	(void)state;
	store_close(st);
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &mt), 0);
	assert_int_equal(mdb_dbi_open(mt, "members", 0, &dbi), 0);
	assert_int_equal(mdb_drop(mt, dbi, 1), 0);  /* the database is gone */
	assert_int_equal(mdb_dbi_open(mt, "meta", 0, &dbi), 0);
	{
		MDB_val key = { 14, "schema_version" }, val = { 1, "2" };

		assert_int_equal(mdb_put(mt, dbi, &key, &val, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(mt), 0);
	mdb_env_close(env);

	st = open_ok(dir, STORE_RDONLY);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_get(txn, STORE_MEMBERS,
	    "00000000-0000-0000-0000-00000000000a", &v, &vl), 1);
	assert_int_equal(store_count(txn, STORE_MEMBERS, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_iter_open(txn, STORE_MEMBERS, NULL, &it), 0);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 0);
	store_iter_close(it);
	store_abort(txn);
	store_close(st);

	st = open_ok(dir, 0);
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_MEMBERS, "00000000-0000-0000-0000-00000000000a", "g");
	assert_int_equal(store_get(txn, STORE_META, "schema_version", &v, &vl), 0);
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "4", 1);
	commit_ok(txn);
	store_close(st);
}

static void
test_newer_schema_refused(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st = open_ok(dir, 0);
	struct store_txn *txn;
	char err[512];

	(void)state;
	assert_int_equal(store_begin(st, 0, &txn, err, sizeof(err)), 0);
	put_str(txn, STORE_META, "schema_version", "99");
	commit_ok(txn);
	store_close(st);
	assert_int_equal(store_open(dir, 0, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has schema version 99, newer than this "
	    "ringsyncd understands (4)"));
	assert_int_equal(store_open(dir, STORE_RDONLY, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 99"));
}

/*
 * A child opens the store, commits a base record, then writes 2000 outbox
 * entries and a watermark in one transaction and tells the parent, which
 * kills it with SIGKILL before the commit. Nothing of the open
 * transaction may be visible after reopening; the base record must be.
 */
static void
test_crash_mid_transaction(void **state)
{
	const char *dir = tu_tmpdir();
	struct store *st;
	struct store_txn *txn;
	struct store_watermark w;
	int fds[2], status;
	char c, err[512], buf[16];
	size_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_watermark cw = { "dc1", "guid", 777, 0 };

		close(fds[0]);
		st = open_ok(dir, 0);
		store_begin(st, 0, &txn, err, sizeof(err));
		put_str(txn, STORE_USERS, "base", "committed");
		store_commit(txn, err, sizeof(err));
		store_begin(st, 0, &txn, err, sizeof(err));
		for (int i = 0; i < 2000; i++) {
			char key[16];

			snprintf(key, sizeof(key), "g%05d", i);
			put_str(txn, STORE_OUTBOX, key, "pending push");
		}
		store_watermark_put(txn, &cw, err, sizeof(err));
		if (write(fds[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	st = open_ok(dir, 0);
	assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(get_str(txn, STORE_USERS, "base", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "committed");
	assert_int_equal(store_count(txn, STORE_OUTBOX, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_watermark_get(txn, &w, err, sizeof(err)), 1);
	store_abort(txn);
	store_close(st);
}

/*
 * A child commits (outbox entry i, watermark i) pairs in a loop; the
 * parent kills it at a moment of its choosing. After reopening, the
 * watermark must name exactly the last outbox entry: never one without
 * the other.
 */
static void
test_crash_between_commits(void **state)
{
	for (int round = 0; round < 3; round++) {
		const char *dir = tu_tmpdir();
		struct store *st;
		struct store_txn *txn;
		struct store_watermark w;
		char err[512];
		size_t n;
		int fds[2], status;
		char c;
		pid_t pid;

		(void)state;
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			st = open_ok(dir, 0);
			for (unsigned long long i = 1;; i++) {
				struct store_watermark cw = { "dc1", "guid", i, 0 };
				char key[32];

				store_begin(st, 0, &txn, err, sizeof(err));
				snprintf(key, sizeof(key), "g%010llu", i);
				put_str(txn, STORE_OUTBOX, key, "pending push");
				store_watermark_put(txn, &cw, err, sizeof(err));
				store_commit(txn, err, sizeof(err));
				if (i == 20 && write(fds[1], "x", 1) != 1)
					_exit(3);
			}
		}
		close(fds[1]);
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		usleep(1000 * (unsigned int)(round * 20));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);

		st = open_ok(dir, 0);
		assert_int_equal(store_begin(st, 1, &txn, err, sizeof(err)), 0);
		assert_int_equal(store_count(txn, STORE_OUTBOX, &n), 0);
		assert_int_equal(store_watermark_get(txn, &w, err, sizeof(err)), 0);
		assert_true(n >= 20);
		assert_int_equal(w.usn, n);
		store_watermark_clear(&w);
		store_abort(txn);
		store_close(st);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_map_trimmed),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_iterate_count_delete),
		cmocka_unit_test(test_atomic_multi_db),
		cmocka_unit_test(test_failed_write_poisons_commit),
		cmocka_unit_test(test_second_writer_refused_reader_allowed),
		cmocka_unit_test(test_one_writer_per_process),
		cmocka_unit_test(test_readonly_missing),
		cmocka_unit_test(test_version2_without_members),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_crash_mid_transaction),
		cmocka_unit_test(test_crash_between_commits),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

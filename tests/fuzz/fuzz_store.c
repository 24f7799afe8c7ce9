/*
 * fuzz_store: the records the daemon reads back from its state store
 * (record.c: users and outbox entries; record_scope.c: the group scope's
 * state and members; sync_user.c: as ringsyncctl lists and counts them;
 * store.c: the watermark and the OAuth tokens). A store is
 * written by ringsyncd itself, but it outlives versions, disks fill up and
 * people edit it with mdb_load: a record must never crash a reader.
 *
 * Input: one record. It is stored, through a real LMDB store in a
 * temporary directory, as a user, an outbox entry, the watermark, the
 * tokens, the scope state and a member's group, then read back through the functions the daemon and
 * ringsyncctl use.
 *
 * Oracles: a record that decodes re-encodes to one that decodes the same
 * (users through their parts' puts, outbox entries through
 * record_out_put); an outbox entry that wants an active phone user has a
 * profile; the list and the counts see the one user, or count it invalid;
 * a scope state that decodes re-encodes to one that decodes the same.
 */
#include <jansson.h>
#include <unistd.h>

#include "fuzz.h"
#include "record.h"
#include "store.h"
#include "sync_internal.h"
#include "util.h"

#define GUID "cba4b4e1-ead4-4c97-8904-8901509e4400"
#define GUID2 "00000000-0000-4000-8000-000000000002"

static struct store *st;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* commits are cheap on tmpfs */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[64], err[256], *cmd;

	(void)argc;
	(void)argv;
	util_json_init();
	snprintf(dir, sizeof(dir), "%.40s/rsfuzz.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		abort();
	if (store_open(dir, 0, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	/* LMDB keeps its files open: nothing is left behind, even on a crash */
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		abort();
	free(cmd);
	return 0;
}

static int
same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int
same_err(const struct record_error *a, const struct record_error *b)
{
	return same(a->msg, b->msg) && a->failures == b->failures;
}

static void
check_user(struct store_txn *txn, struct record_user *u)
{
	struct record_user v;
	char err[256];

	fz_check(record_ad_put(txn, GUID2, &u->ad, err, sizeof(err)) == 0);
	fz_check(record_push_put(txn, GUID2, &u->push, err, sizeof(err)) == 0);
	fz_check(record_import_put(txn, GUID2, &u->imp, err, sizeof(err)) == 0);
	fz_check(record_written_put(txn, GUID2, &u->wb, err, sizeof(err)) == 0);
	fz_check(record_user_get(txn, GUID2, &v, err, sizeof(err)) == 0);
	fz_check(same(u->ad.dn, v.ad.dn) && same(u->ad.email, v.ad.email));
	fz_check(u->ad.disabled == v.ad.disabled && u->ad.deleted == v.ad.deleted);
	fz_check(same(u->push.scim_id, v.push.scim_id) &&
	    same(u->push.ext_id, v.push.ext_id));
	fz_check(same(u->imp.ext_id, v.imp.ext_id) &&
	    same(u->imp.paired, v.imp.paired));
	fz_check(same(u->push.pushed, v.push.pushed));
	fz_check(same(u->push.failed, v.push.failed));
	fz_check(u->push.active == v.push.active &&
	    u->push.creating == v.push.creating);
	fz_check(same_err(&u->ad.err, &v.ad.err) &&
	    same_err(&u->push.err, &v.push.err) &&
	    same_err(&u->imp.err, &v.imp.err) && same_err(&u->wb.err, &v.wb.err));
	fz_check(same(u->imp.direct_number, v.imp.direct_number));
	fz_check(same(u->imp.extension_number, v.imp.extension_number));
	fz_check(json_equal(u->wb.attrs, v.wb.attrs));
	record_user_clear(&v);
}

static void
check_out(struct store_txn *txn, const struct record_out *o)
{
	struct record_out v, w = *o;
	char err[256];

	fz_check(!o->active || o->profile != NULL);
	memcpy(w.guid, GUID2, sizeof(GUID2));
	fz_check(record_out_put(txn, &w, err, sizeof(err)) == 0);
	fz_check(record_out_get(txn, GUID2, &v, err, sizeof(err)) == 0);
	fz_check(v.seq == o->seq && v.active == o->active);
	fz_check(same(v.reason, o->reason) && same(v.dn, o->dn));
	fz_check(same(v.email, o->email) && same(v.hash, o->hash));
	fz_check(v.attempts == o->attempts && v.not_before == o->not_before);
	fz_check(v.held == o->held && v.cycle == o->cycle);
	fz_check(o->profile == NULL ? v.profile == NULL :
	    json_equal(o->profile, v.profile));
	record_out_clear(&v);
}

static void
check_scope(struct store_txn *txn)
{
	struct record_scope a, b;
	struct ad_member *m = NULL;
	size_t n = 0;
	char err[256];

	if (record_scope_get(txn, &a, err, sizeof(err)) != 0)
		return;
	fz_check(record_members_load(txn, a.g, a.n, &m, &n, err, sizeof(err)) == 0);
	fz_check(n <= 1 && (n == 0 || m[0].via <= a.n));
	free(m);
	fz_check(record_scope_put(txn, &a, err, sizeof(err)) == 0);
	fz_check(record_scope_get(txn, &b, err, sizeof(err)) == 0);
	fz_check(a.n == b.n && a.nnested == b.nnested && same(a.error, b.error));
	for (size_t i = 0; i < a.n; i++)
		fz_check(strcmp(a.g[i].guid, b.g[i].guid) == 0 &&
		    same(a.g[i].dn, b.g[i].dn) && same(a.g[i].now_dn, b.g[i].now_dn) &&
		    a.g[i].members == b.g[i].members && a.g[i].deleted == b.g[i].deleted);
	record_scope_clear(&a);
	record_scope_clear(&b);
}

static void
view_cb(const struct sync_user_view *u, void *arg)
{
	fz_check(strcmp(u->guid, GUID) == 0 && u->state != NULL);
	(*(int *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_watermark wm;
	struct store_tokens tok;
	struct sync_counts counts;
	struct store_txn *txn;
	struct record_user u;
	struct record_out o;
	char err[256];
	int listed = 0;

	fz_check(store_begin(st, 0, &txn, err, sizeof(err)) == 0);
	for (int db = STORE_WATERMARK; db < STORE_NDB; db++)
		fz_check(store_clear(txn, db, err, sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_USERS, GUID, data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_OUTBOX, GUID, data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_WATERMARK, "current", data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_TOKENS, "oauth", data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_META, "scope", data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_put(txn, STORE_MEMBERS, GUID, data, size, err,
	    sizeof(err)) == 0);
	fz_check(store_commit(txn, err, sizeof(err)) == 0);

	/* what ringsyncctl users and status read */
	fz_check(sync_users_list(st, 0, view_cb, &listed, err, sizeof(err)) == 0);
	fz_check(listed <= 1);
	fz_check(sync_count(st, &counts, err, sizeof(err)) == 0);
	fz_check(counts.users + counts.invalid >= 1 && counts.users <= 1);
	fz_check(counts.outbox == 1 && counts.held <= 1);

	/* what the daemon reads, and writes back */
	fz_check(store_begin(st, 0, &txn, err, sizeof(err)) == 0);
	if (record_user_get(txn, GUID, &u, err, sizeof(err)) == 0)
		check_user(txn, &u);
	record_user_clear(&u);
	if (record_out_get(txn, GUID, &o, err, sizeof(err)) == 0)
		check_out(txn, &o);
	record_out_clear(&o);
	if (store_watermark_get(txn, &wm, err, sizeof(err)) == 0)
		fz_check(wm.dns_host_name != NULL && wm.invocation_id != NULL);
	store_watermark_clear(&wm);
	if (store_tokens_get(txn, &tok, err, sizeof(err)) == 0)
		store_tokens_clear(&tok);
	check_scope(txn);
	store_abort(txn);
	return 0;
}

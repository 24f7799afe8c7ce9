/*
 * sync_import: the importer. Lists the account's user extensions and the
 * company directory (both Medium: the account's number list is Heavy, and
 * the writes need that budget), joins them by extension id and to AD users
 * by email, links phone users to AD users, and queues write-back of the
 * numbers that differ from what was last written. A pusher's link that
 * knows the SCIM user alone gets its extension id here: the extension with
 * its email is that user's (record_import.paired).
 *
 * The directory leaves out hidden users, hidden numbers and some statuses,
 * so what it does not show is unknown, not removed: a linked user missing
 * from it, or shown without the direct number last imported, has its
 * numbers read on its own (Light), or, when more than ASK_MAX users need
 * that, from the account's number list (Heavy) once.
 *
 * The change feed's cycles (sync_import_changes) go through the same
 * join with the few extensions whose events came: the entries the events
 * carried stand in for the lists, an extension without one is read on its
 * own, and the asked numbers are always read one by one. Such a cycle
 * links nobody (a full import does, seeing every duplicate); it waits
 * for a create the pusher has not heard back from yet.
 *
 * The lists are staged in the store (STORE_STAGE), not in memory, so an
 * import holds one page and one chunk of the join whatever the account's
 * size: a listed user is keyed by a digest of its email and its extension
 * id, so that the users of one email are next to each other (the
 * duplicates), and a directory entry by its extension id. The staging is
 * scratch: committed page by page (in a dry run too), emptied at the
 * start of an import and after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"

/*
 * Records a write transaction of the import: each write at a random key
 * dirties a page of its own in a large store, which LMDB holds in memory
 * until the commit (and keeps for reuse after it), so a transaction's
 * size is the import's memory. A commit costs two fsyncs.
 */
#define IMPORT_TXN_BATCH 250
#define STAGE_BATCH 250
#define STAGE_DRAIN 1000  /* staged records deleted a transaction */
#define ASK_MAX 100       /* users read one by one; more: the Heavy list */
#define STAGE_HASH 32     /* hex digits of the email's digest in a key */
#define STAGE_KEY (1 + STAGE_HASH + 20)

struct ext_rec {          /* one of the join's chunk */
	char key[1 + STAGE_HASH]; /* its staging key's email part */
	long long id;
	char *email;          /* lower-cased */
	char *number;         /* extension number */
	int enabled, dup;
	unsigned int again;   /* a change put off this often (sync_changes.c) */
	char hash[PROFILE_HASH_LEN + 1]; /* what it holds (sync_phone_hash),
	                       * "": unknown */
};

struct num_rec {
	long long ext_id;
	size_t order;         /* position in the list: the first one counts */
	char *number;
};

/* A staged user extension: the key, then this, the email and the number. */
struct stage_ext {
	long long id;
	unsigned int again;
	int enabled, has_number;
	char hash[PROFILE_HASH_LEN + 1];
};

struct dir_rec {
	int found;            /* listed in the directory */
	const char *number;   /* the direct number shown (LMDB's), or NULL */
};

struct ask_rec {          /* a user the directory could not answer for */
	char guid[64];
	long long ext_id;
};

struct import {
	struct sync *s;       /* not owned */
	struct store_txn *stage; /* owned: the staging's open transaction */
	size_t staged;        /* its records */
	int stage_failed;     /* a staging write or commit failed */
	size_t next, ndir;    /* user extensions and directory entries staged */
	struct ext_rec *ext;  /* owned: the join's chunk */
	size_t nchunk, chunkcap;
	struct num_rec *num;  /* owned: the asked users' numbers */
	size_t nnum, numcap;
	struct ask_rec *ask;  /* owned */
	size_t nask, askcap, asked;
	long long *askids;    /* owned: with heavy, the asked extension ids */
	int heavy;            /* the asked numbers come from the Heavy list */
	unsigned int calls[HTTP_NGROUPS]; /* requests by rate group */
	/* A cycle of the change feed's changes (sync_import_changes): */
	int changes;
	int need_import;      /* a phone user of an unlinked AD user changed */
	struct sync_change *chg; /* owned: the changes without an entry */
	size_t nchg, fetched;
	/* [policy] extension_range: the numbers in a range, any extension */
	struct sync_numbers taken;
	long long started;    /* when the listing started */
};

static void
chunk_clear(struct import *im)
{
	for (size_t i = 0; i < im->nchunk; i++) {
		free(im->ext[i].email);
		free(im->ext[i].number);
	}
	im->nchunk = 0;
}

static void
import_free(struct import *im)
{
	chunk_clear(im);
	store_abort(im->stage);
	free(im->taken.v);
	for (size_t i = 0; i < im->nnum; i++)
		free(im->num[i].number);
	free(im->ext);
	free(im->num);
	free(im->ask);
	free(im->askids);
	sync_changes_free(im->chg, im->nchg);
	free(im);
}

/*
 * stage_flush: the staged records committed (a dry run's too: they are
 * the import's scratch, not the state of the sync). -1 once anything
 * staged was lost.
 */
static int
stage_flush(struct import *im)
{
	char err[512];

	if (im->stage != NULL) {
		im->staged = 0;
		if (store_commit(im->stage, err, sizeof(err)) < 0) {
			log_err("cannot stage the import's listing in the state store "
			    "error=%s", log_q(err));
			im->s->store_errors++;
			im->stage_failed = 1;
		}
		im->stage = NULL;
	}
	return im->stage_failed ? -1 : 0;
}

/*
 * stage_empty: the staging emptied (what an earlier import left), in key
 * order and slices (store_drain): a store_clear would map all of it.
 */
static int
stage_empty(struct import *im)
{
	char err[512];

	if (stage_flush(im) < 0)
		return -1;
	if (store_drain(im->s->store, STORE_STAGE, STAGE_DRAIN, err,
	    sizeof(err)) < 0) {
		log_err("cannot empty the import's staging in the state store "
		    "error=%s", log_q(err));
		im->s->store_errors++;
		im->stage_failed = 1;
		return -1;
	}
	return 0;
}

/* stage_put: one record into the staging, committed every STAGE_BATCH. */
static void
stage_put(struct import *im, const char *key, const void *val, size_t len)
{
	char err[512];

	if (im->stage_failed)
		return;
	if (im->stage == NULL &&
	    store_begin(im->s->store, 0, &im->stage, err, sizeof(err)) < 0) {
		log_err("cannot use the state store error=%s", log_q(err));
		im->s->store_errors++;
		im->stage_failed = 1;
		return;
	}
	/* a failure poisons the transaction: its commit reports it */
	store_put(im->stage, STORE_STAGE, key, val, len, err, sizeof(err));
	if (++im->staged >= STAGE_BATCH)
		stage_flush(im);
}

static void
import_end(struct import *im)
{
	struct sync *s = im->s;
	int again = im->changes && im->need_import && !s->ic.phone_down;

	s->imp = NULL;
	store_abort(im->stage);
	im->stage = NULL;
	if (!im->stage_failed)
		stage_empty(im); /* its pages are free for the rest of the store */
	import_free(im);
	if (again) {
		log_debug("change feed: a phone user of an AD user not linked yet "
		    "changed: a full import follows");
		sync_request(s, SYNC_IMPORT);
	}
	sync_import_finished(s);
}

static void
list_failed(struct import *im, const struct phone_error *e, const char *what)
{
	char msg[600];

	phone_error_message(e, im->s->cfg->telephony.brand, msg, sizeof(msg));
	log_warning("import of %s failed: %s error=%s", what, msg,
	    phone_err_kind_name(e->kind));
	im->s->ic.phone_down = 1;
	if (e->kind == PHONE_AUTH)
		im->s->ic.auth_failed = 1;
	import_end(im);
}

static int
num_cmp(const void *a, const void *b)
{
	const struct num_rec *x = a, *y = b;

	if (x->ext_id != y->ext_id)
		return x->ext_id < y->ext_id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
dir_key(char key[STAGE_KEY + 1], long long ext_id)
{
	snprintf(key, STAGE_KEY + 1, "d%020lld", ext_id);
}

/*
 * dir_find: the extension's directory entry (found 0: not listed); its
 * number points into the store, valid while txn is.
 */
static struct dir_rec
dir_find(struct store_txn *txn, long long ext_id)
{
	struct dir_rec d = { 0, NULL };
	char key[STAGE_KEY + 1];
	const void *v;
	size_t len;

	dir_key(key, ext_id);
	if (store_get(txn, STORE_STAGE, key, &v, &len) == 0 && len >= 1) {
		d.found = 1;
		/* "1" and the number with its NUL, or "0": shown without one */
		if (((const char *)v)[0] == '1' && len >= 2 &&
		    ((const char *)v)[len - 1] == '\0')
			d.number = (const char *)v + 1;
	}
	return d;
}

static int
id_cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* ask: the user's numbers are to be read on their own. */
static void
ask(struct import *im, const char *guid, long long ext_id)
{
	struct ask_rec *a;

	if (im->nask == im->askcap)
		im->ask = xreallocarray(im->ask, im->askcap = im->askcap ?
		    im->askcap * 2 : 64, sizeof(*im->ask));
	a = &im->ask[im->nask++];
	snprintf(a->guid, sizeof(a->guid), "%s", guid);
	a->ext_id = ext_id;
}

/* first_number: the extension's first direct number, or NULL. */
static const char *
first_number(const struct import *im, long long ext_id)
{
	size_t lo = 0, hi = im->nnum;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (im->num[mid].ext_id < ext_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < im->nnum && im->num[lo].ext_id == ext_id ?
	    im->num[lo].number : NULL;
}

/* duplicate: report the AD user of email, and record it as its error. */
static void
duplicate(struct import *im, struct store_txn *txn, const char *email,
    const char *ids)
{
	char *owner = record_email_owner(txn, email), msg[512], err[256];
	struct record_user u = { 0 };
	int known = owner != NULL && record_user_get(txn, owner, &u, NULL, 0) == 0;

	snprintf(msg, sizeof(msg), "%s has more than one user record for the "
	    "given email [%s] (phone users %s): keep one user per email in %s, or "
	    "correct the mail attribute in AD", im->s->cfg->telephony.brand, email,
	    ids, im->s->cfg->telephony.brand);
	sync_user_failed(im->s, &im->s->ic, u.ad.dn, email,
	    sync_field_attr(im->s, "email"), email, msg);
	im->s->ic.duplicates++;
	if (known) {
		record_error_set(&u.imp.err, msg);
		u.imp.err.failures++;
		record_import_put(txn, u.guid, &u.imp, err, sizeof(err));
	}
	record_user_clear(&u);
	free(owner);
}

/*
 * mark_duplicates: several phone users with one email in the chunk (the
 * staging keeps them together): touch none.
 */
static void
mark_duplicates(struct import *im, struct store_txn *txn)
{
	for (size_t i = 0; i + 1 < im->nchunk; i++) {
		size_t j = i;
		char ids[256] = "";
		size_t o = 0;

		if (strcmp(im->ext[i].email, im->ext[i + 1].email) != 0)
			continue;
		for (; j < im->nchunk &&
		    strcmp(im->ext[j].email, im->ext[i].email) == 0; j++) {
			im->ext[j].dup = 1;
			if (o < sizeof(ids))
				o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%lld",
				    o ? "," : "", im->ext[j].id);
		}
		duplicate(im, txn, im->ext[i].email, ids);
		i = j - 1;
	}
}

/*
 * queue_writeback: the numbers into the write-back queue when AD (as the
 * scan saw it) or the writer's record differs (sync_plan_writeback).
 */
static void
queue_writeback(struct import *im, struct store_txn *txn,
    const struct record_user *u)
{
	struct record_wb q;
	char err[256];

	if (!sync_plan_writeback(&im->s->cfg->writeback, u, &q.attrs))
		return;
	if (im->s->dry_run)
		log_info("dry run: would write back dn=%s direct_number=%s "
		    "extension_number=%s", log_q(u->ad.dn),
		    log_q(u->imp.direct_number), log_q(u->imp.extension_number));
	snprintf(q.guid, sizeof(q.guid), "%s", u->guid);
	record_wb_put(txn, &q, err, sizeof(err));
	json_decref(q.attrs);
}

/*
 * join_one: one phone user with the AD user of its email. The importer
 * writes the import part of the user record alone.
 */
static void
join_one(struct import *im, struct store_txn *txn, const struct ext_rec *x)
{
	struct sync *s = im->s;
	char *owner = record_email_owner(txn, x->email), err[256];
	const char *link;
	struct dir_rec d;
	char id[32], detail[96];
	struct record_user u;
	int linked = 0, fresh = 0;

	if (owner == NULL || record_user_get(txn, owner, &u, NULL, 0) != 0) {
		if (!im->changes)
			s->ic.unmatched++;
		log_debug("phone user without an AD user email=%s ext_id=%lld",
		    log_q(x->email), x->id);
		free(owner);
		return;
	}
	free(owner);
	snprintf(id, sizeof(id), "%lld", x->id);
	if (im->changes && u.push.creating) {
		/* The pusher's create of this very user: wait for its link. */
		d = dir_find(txn, x->id);
		sync_changes_again(s, x->id, x->again, x->email, x->number,
		    x->enabled, d.number, d.found);
		record_user_clear(&u);
		return;
	}
	if (im->changes && record_user_phone_id(&u) == NULL) {
		/* Linking is the import's: it sees every duplicate. */
		im->need_import = 1;
		record_user_clear(&u);
		return;
	}
	if (record_user_phone_id(&u) == NULL) {
		util_str_set(&u.imp.ext_id, id);
		util_str_set(&u.imp.paired, NULL);
		u.imp.enabled = x->enabled;
		link = id;
		linked = 1;
		s->ic.linked++;
		s->roles_dirty = s->roles_dirty || s->cfg->roles.n > 0;
		s->photos_dirty = s->photos_dirty || s->cfg->photo_attr != NULL;
		log_info("phone user linked by import dn=%s email=%s ext_id=%s",
		    log_q(u.ad.dn), log_q(x->email), id);
		snprintf(detail, sizeof(detail), "by import (the extension list), "
		    "ext_id=%s%s", id, x->enabled ? "" : " (not enabled)");
		sync_history(s, txn, u.guid, s->ic.id, "linked", NULL, detail);
	} else if ((link = record_user_ext_id(&u)) == NULL) {
		/* The pusher's SCIM user, with this email: its extension. */
		util_str_set(&u.imp.ext_id, id);
		util_str_set(&u.imp.paired, u.push.scim_id);
		link = id;
		fresh = 1;
		/* a role or a photo may wait for the extension id */
		s->roles_dirty = s->roles_dirty || s->cfg->roles.n > 0;
		s->photos_dirty = s->photos_dirty || s->cfg->photo_attr != NULL;
		log_debug("extension of the phone user found by import dn=%s "
		    "email=%s scim_id=%s ext_id=%s", log_q(u.ad.dn), log_q(x->email),
		    log_q(u.push.scim_id), id);
	}
	if (strcmp(link, id) == 0 && !u.ad.deleted) {
		util_str_set(&u.imp.extension_number, x->number);
		if (x->hash[0] != '\0')
			memcpy(u.imp.phone_hash, x->hash, sizeof(u.imp.phone_hash));
		record_error_clear(&u.imp.err);
		/*
		 * Not in the directory, or shown there without the number it had
		 * (or, new here, without any): hidden or gone, the directory cannot
		 * say. Its numbers are read on their own after this pass.
		 */
		d = dir_find(txn, x->id);
		if (!d.found || (d.number == NULL && (linked || fresh ||
		    u.imp.direct_number != NULL)))
			ask(im, u.guid, x->id);
		else {
			util_str_set(&u.imp.direct_number, d.number);
			queue_writeback(im, txn, &u);
		}
	}
	if (linked)
		record_import_link(txn, u.guid, &u.imp, err, sizeof(err));
	else
		record_import_put(txn, u.guid, &u.imp, err, sizeof(err));
	record_user_clear(&u);
}

static void ask_start(struct import *im);

/*
 * batch_step: one more user in *txn; every IMPORT_TXN_BATCH users it is
 * committed and a new one begun (-1, *txn NULL: it could not be).
 */
static int
batch_step(struct import *im, struct store_txn **txn, size_t *since)
{
	if (++*since < IMPORT_TXN_BATCH || im->s->dry_run)
		return 0;
	sync_txn_commit(im->s, *txn);
	*since = 0;
	return (*txn = sync_txn_begin(im->s)) == NULL ? -1 : 0;
}

/* report: what the import read, where it was not the directory. */
static void
report(struct import *im)
{
	sync_import_costed(im->s, im->calls);
	if (im->changes) {
		log_debug("change feed: changes read extensions=%zu asked=%zu "
		    "light_calls=%u", im->next, im->nask, im->calls[HTTP_LIGHT]);
		return;
	}
	log_debug("import read the company directory entries=%zu extensions=%zu",
	    im->ndir, im->next);
	if (im->nask > 0)
		log_info("import: users the company directory does not show with "
		    "their numbers (hidden there, or a status it does not list) read "
		    "%s count=%zu", im->heavy ? "from the account's number list "
		    "(one Heavy list)" : "one by one (Light)", im->nask);
}

/*
 * load_chunk: the staged users from the key from on into the chunk, at
 * least IMPORT_TXN_BATCH of them unless the staging ends, and never part
 * of one email's users; from becomes the next chunk's first key ("": the
 * end). -1 on a store error.
 */
static int
load_chunk(struct import *im, struct store_txn *txn, char from[STAGE_KEY + 1])
{
	char start[STAGE_KEY + 1];
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t klen, vlen;
	int rc;

	chunk_clear(im);
	memcpy(start, from, sizeof(start)); /* the iterator reads it */
	if (store_iter_open(txn, STORE_STAGE, start, &it) < 0)
		return -1;
	from[0] = '\0';
	while ((rc = store_iter_next(it, &k, &klen, &v, &vlen)) == 1) {
		struct stage_ext h;
		struct ext_rec *x;
		const char *email = (const char *)v + sizeof(h), *end;

		if (klen != STAGE_KEY || k[0] != 'x')
			break; /* the users end where the directory starts */
		if (im->nchunk >= IMPORT_TXN_BATCH &&
		    memcmp(k, im->ext[im->nchunk - 1].key, 1 + STAGE_HASH) != 0) {
			memcpy(from, k, klen);
			from[klen] = '\0';
			break;
		}
		if (vlen <= sizeof(h) || (end = memchr(email, '\0',
		    vlen - sizeof(h))) == NULL)
			continue; /* not written by stage_ext: cannot be */
		memcpy(&h, v, sizeof(h));
		if (im->nchunk == im->chunkcap)
			im->ext = xreallocarray(im->ext, im->chunkcap = im->chunkcap ?
			    im->chunkcap * 2 : IMPORT_TXN_BATCH + 16, sizeof(*im->ext));
		x = &im->ext[im->nchunk++];
		memset(x, 0, sizeof(*x));
		memcpy(x->key, k, 1 + STAGE_HASH);
		x->id = h.id;
		x->again = h.again;
		x->enabled = h.enabled;
		memcpy(x->hash, h.hash, sizeof(x->hash));
		x->hash[PROFILE_HASH_LEN] = '\0';
		x->email = xstrdup(email);
		if (h.has_number)
			x->number = xstrndup(end + 1, (size_t)((const char *)v + vlen -
			    (end + 1)));
	}
	store_iter_close(it);
	return rc < 0 ? -1 : 0;
}

static void
process(struct import *im)
{
	char from[STAGE_KEY + 1] = "x";

	if (stage_flush(im) < 0) {
		import_end(im);
		return;
	}
	if (!im->changes && im->s->cfg->nranges > 0 && !im->s->dry_run)
		sync_numbers_listed(im->s, &im->taken, im->started);
	/* A chunk a transaction: a dry run's are thrown away one by one. */
	while (from[0] != '\0') {
		struct store_txn *txn = sync_txn_begin(im->s);
		int rc;

		if (txn == NULL) {
			import_end(im);
			return;
		}
		if (load_chunk(im, txn, from) < 0) {
			log_err("cannot read the import's listing from the state store");
			im->s->store_errors++;
			store_abort(txn);
			import_end(im);
			return;
		}
		if (!im->changes)
			mark_duplicates(im, txn);
		for (size_t i = 0; i < im->nchunk; i++)
			if (!im->ext[i].dup)
				join_one(im, txn, &im->ext[i]);
		chunk_clear(im);
		rc = sync_txn_commit(im->s, txn);
		if (rc < 0) {
			import_end(im);
			return;
		}
	}
	if (im->s->ic.unmatched > 0)
		log_notice("phone users without an AD user (never created in AD) "
		    "count=%u", im->s->ic.unmatched);
	if (im->nask == 0) {
		report(im);
		import_end(im);
		return;
	}
	ask_start(im);
}

/* add_number: one direct number of ext_id; the primary one sorts first. */
static void
add_number(struct import *im, long long ext_id, const struct phone_number *v)
{
	struct num_rec *r;

	if (im->nnum == im->numcap)
		im->num = xreallocarray(im->num, im->numcap = im->numcap ?
		    im->numcap * 2 : 1024, sizeof(*im->num));
	r = &im->num[im->nnum];
	r->ext_id = ext_id;
	r->order = (v->primary ? 0 : (size_t)1 << 40) + im->nnum;
	im->nnum++;
	r->number = xstrdup(v->phone_number);
}

/* ask_finish: the asked users' numbers into their records. */
static void
ask_finish(struct import *im)
{
	struct store_txn *txn;
	struct record_user u;
	char id[32], err[256];
	const char *link;
	size_t since = 0;

	if (im->nnum > 0)
		qsort(im->num, im->nnum, sizeof(*im->num), num_cmp);
	if ((txn = sync_txn_begin(im->s)) == NULL) {
		import_end(im);
		return;
	}
	for (size_t i = 0; i < im->nask; i++) {
		if (record_user_get(txn, im->ask[i].guid, &u, NULL, 0) != 0)
			continue;
		snprintf(id, sizeof(id), "%lld", im->ask[i].ext_id);
		link = record_user_ext_id(&u);
		if (link != NULL && strcmp(link, id) == 0 && !u.ad.deleted) {
			util_str_set(&u.imp.direct_number,
			    first_number(im, im->ask[i].ext_id));
			queue_writeback(im, txn, &u);
			record_import_put(txn, u.guid, &u.imp, err, sizeof(err));
		}
		record_user_clear(&u);
		if (batch_step(im, &txn, &since) < 0)
			break;
	}
	if (txn != NULL)
		sync_txn_commit(im->s, txn);
	report(im);
	import_end(im);
}

/* The Heavy list: every assigned direct number of the account. */
static void
heavy_page(const struct phone_number *v, size_t n, void *arg)
{
	struct import *im = arg;

	im->calls[HTTP_HEAVY]++;
	for (size_t i = 0; i < n; i++)
		if (v[i].extension_id != 0 && v[i].phone_number != NULL &&
		    bsearch(&v[i].extension_id, im->askids, im->nask,
		    sizeof(*im->askids), id_cmp) != NULL)
			add_number(im, v[i].extension_id, &v[i]); /* asked: kept */
}

static void
heavy_done(const struct phone_error *e, void *arg)
{
	struct import *im = arg;

	if (e->kind != PHONE_OK) {
		list_failed(im, e, "direct numbers");
		return;
	}
	ask_finish(im);
}

/* One extension's numbers (Light), one user after the other. */
static void ask_next(struct import *im);

static void
one_page(const struct phone_number *v, size_t n, void *arg)
{
	struct import *im = arg;

	im->calls[HTTP_LIGHT]++;
	for (size_t i = 0; i < n; i++)
		if (v[i].phone_number != NULL && (v[i].usage_type == NULL ||
		    strcmp(v[i].usage_type, "DirectNumber") == 0))
			add_number(im, im->ask[im->asked].ext_id, &v[i]);
}

static void
one_done(const struct phone_error *e, void *arg)
{
	struct import *im = arg;

	if (e->kind == PHONE_NOT_FOUND) {
		/* gone since the list: the next import will not list it either */
		log_debug("extension gone before its numbers were read ext_id=%lld",
		    im->ask[im->asked].ext_id);
		im->ask[im->asked].guid[0] = '\0';
	} else if (e->kind != PHONE_OK) {
		list_failed(im, e, "one user's direct numbers");
		return;
	}
	im->asked++;
	ask_next(im);
}

static void
ask_next(struct import *im)
{
	if (im->asked == im->nask) {
		ask_finish(im);
		return;
	}
	phone_extension_numbers(im->s->phone, im->ask[im->asked].ext_id,
	    "DirectNumber", one_page, one_done, im);
}

static void
ask_start(struct import *im)
{
	if (im->nask > ASK_MAX && !im->changes) {
		im->heavy = 1;
		im->askids = xreallocarray(NULL, im->nask, sizeof(*im->askids));
		for (size_t i = 0; i < im->nask; i++)
			im->askids[i] = im->ask[i].ext_id;
		qsort(im->askids, im->nask, sizeof(*im->askids), id_cmp);
		phone_list_numbers(im->s->phone, "DirectNumber", heavy_page,
		    heavy_done, im);
		return;
	}
	ask_next(im);
}

/*
 * add_ext: one phone user for the join (email lower-cased here); full, the
 * whole extension when known, gives the hash of what it holds.
 */
static void
add_ext(struct import *im, long long id, const char *email, const char *number,
    const char *status, const struct phone_extension *full, unsigned int again)
{
	struct stage_ext h;
	char key[STAGE_KEY + 1], digest[UTIL_SHA256_HEX + 1], *lower, *val;
	size_t el, nl, len;

	im->next++;
	if (email == NULL || *email == '\0')
		return; /* no AD user to join */
	memset(&h, 0, sizeof(h));
	h.id = id;
	h.again = again;
	h.enabled = status && strcmp(status, "Enabled") == 0;
	h.has_number = number != NULL;
	if (full == NULL || sync_phone_hash(im->s, full, h.hash) < 0)
		h.hash[0] = '\0';
	lower = sync_lower_dup(email);
	el = strlen(lower);
	nl = number ? strlen(number) : 0;
	util_sha256_hex(lower, el, digest);
	snprintf(key, sizeof(key), "x%.*s%020lld", STAGE_HASH, digest, id);
	len = sizeof(h) + el + 1 + (number ? nl + 1 : 0);
	val = xmalloc(len);
	memcpy(val, &h, sizeof(h));
	memcpy(val + sizeof(h), lower, el + 1);
	if (number != NULL)
		memcpy(val + sizeof(h) + el + 1, number, nl + 1);
	stage_put(im, key, val, len);
	free(val);
	free(lower);
}

/* add_dir: one directory entry's direct number (NULL: none shown). */
static void
add_dir(struct import *im, long long ext_id, const char *direct)
{
	char key[STAGE_KEY + 1], *val;
	size_t len = direct ? strlen(direct) + 2 : 1;

	dir_key(key, ext_id);
	val = xmalloc(len);
	val[0] = direct ? '1' : '0';
	if (direct != NULL)
		memcpy(val + 1, direct, len - 1);
	stage_put(im, key, val, len);
	im->ndir++;
	free(val);
}

static void
ext_page(const struct phone_extension *v, size_t n, void *arg)
{
	struct import *im = arg;

	im->calls[HTTP_MEDIUM]++;
	for (size_t i = 0; i < n; i++) {
		if (im->s->cfg->nranges > 0)
			sync_numbers_note(im->s, &im->taken, v[i].extension_number);
		/* with extension_range every type is listed: users join */
		if (v[i].type != NULL && strcmp(v[i].type, "User") != 0)
			continue;
		add_ext(im, v[i].id, v[i].field[PHONE_F_EMAIL],
		    v[i].extension_number, v[i].status, &v[i], 0);
	}
	stage_flush(im); /* nothing staged stays open across the loop */
}

static void dir_page(const struct phone_dir_entry *v, size_t n, void *arg);
static void dir_done(const struct phone_error *e, void *arg);

/*
 * ext_done: the directory is listed after the extensions, so that a user
 * created between the two lists is missing from this import (the next one
 * has it) rather than present without its direct number, which would be
 * written back incomplete and then corrected.
 */
static void
ext_done(const struct phone_error *e, void *arg)
{
	struct import *im = arg;

	if (e->kind != PHONE_OK)
		list_failed(im, e, "extensions");
	else if (im->stage_failed)
		import_end(im);
	else
		phone_list_directory(im->s->phone, dir_page, dir_done, im);
}

static void
dir_page(const struct phone_dir_entry *v, size_t n, void *arg)
{
	struct import *im = arg;

	im->calls[HTTP_MEDIUM]++;
	for (size_t i = 0; i < n; i++)
		add_dir(im, v[i].id, v[i].direct);
	stage_flush(im);
}

static void
dir_done(const struct phone_error *e, void *arg)
{
	struct import *im = arg;

	if (e->kind != PHONE_OK) {
		list_failed(im, e, "the company directory");
		return;
	}
	process(im);
}

void
sync_import_start(struct sync *s)
{
	struct import *im = xcalloc(1, sizeof(*im));
	/* extension_range needs every extension's number, not only users' */
	struct phone_ext_filter f = { s->cfg->nranges > 0 ? NULL : "User", NULL,
		NULL };

	im->s = s;
	im->started = (long long)ev_now(s->loop);
	s->imp = im;
	stage_empty(im); /* a failure ends the import when the list is read */
	phone_list_extensions(s->phone, &f, ext_page, ext_done, im);
}

static void fetch_next(struct import *im);

static void
fetch_done(const struct phone_error *e, const struct phone_extension *x,
    void *arg)
{
	struct import *im = arg;
	long long id = im->chg[im->fetched].ext_id;

	im->calls[HTTP_LIGHT]++;
	if (e->kind == PHONE_NOT_FOUND)
		log_debug("change feed: extension gone before it was read "
		    "ext_id=%lld", id);
	else if (e->kind != PHONE_OK) {
		list_failed(im, e, "a changed extension");
		return;
	} else if (x->type == NULL || strcmp(x->type, "User") == 0)
		/* Not in the directory's view: its numbers are asked. */
		add_ext(im, x->id, x->field[PHONE_F_EMAIL], x->extension_number,
		    x->status, x, im->chg[im->fetched].again);
	stage_flush(im);
	im->fetched++;
	fetch_next(im);
}

static void
fetch_next(struct import *im)
{
	if (im->fetched == im->nchg) {
		process(im);
		return;
	}
	phone_get_extension(im->s->phone, im->chg[im->fetched].ext_id,
	    fetch_done, im);
}

void
sync_import_changes(struct sync *s, struct sync_change *v, size_t n)
{
	struct import *im = xcalloc(1, sizeof(*im));
	size_t k = 0;

	im->s = s;
	im->changes = 1;
	s->imp = im;
	stage_empty(im); /* a failure ends the cycle at process() */
	for (size_t i = 0; i < n; i++) {
		const struct phone_dir_entry *d = &v[i].entry;

		if (d->id == 0 || d->email == NULL || *d->email == '\0') {
			v[k].ext_id = v[i].ext_id;     /* read it: kept in v */
			v[k].again = v[i].again;
			if (k != i) {
				v[k].entry = v[i].entry;
				memset(&v[i].entry, 0, sizeof(v[i].entry));
			}
			k++;
			continue;
		}
		add_ext(im, d->id, d->email, d->extension_number,
		    d->status, NULL, v[i].again);
		add_dir(im, d->id, d->direct);
		phone_dir_entry_clear(&v[i].entry);
	}
	stage_flush(im);
	im->chg = v;
	im->nchg = k;
	fetch_next(im);
}

void
sync_import_abort(struct sync *s)
{
	if (s->imp == NULL)
		return;
	import_free(s->imp);
	s->imp = NULL;
}

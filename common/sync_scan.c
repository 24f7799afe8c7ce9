/*
 * sync_scan: the scanner. AD entries of the usnChanged range become
 * desired states in the outbox, one transaction per page, and the new
 * watermark is stored only once every page is. It writes the AD part of
 * the user records (record.h) and nothing else of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "schema.h"
#include "sync_stage.h"
#include "util.h"

#define MAX_SCAN_ATTRS 64
#define FETCH_BATCH 100     /* objectGUIDs per search for new members */
#define FETCH_ALL_OVER 2000 /* more new members: one paged scan of all users */
#define SCAN_TXN_ENTRIES 125 /* entries a write transaction (page_cb) */

struct scan_ctx {
	struct sync *s;                   /* not owned */
	struct ad_scan *scan;             /* owned by the AD module */
	struct store_txn *txn;            /* the page's transaction, or NULL */
	const char *attrs[MAX_SCAN_ATTRS]; /* borrowed from the configuration */
	size_t nattrs;
	struct ad_scan_plan plan;
	int failed;                       /* the store refused a write */
	struct ad_entry *page;            /* owned: the page's entries */
	size_t npage, pagecap;
	int pushable;                     /* the page queued a linked user's push */
	/* The group scope ([ldap] groups), when configured. */
	struct ad_scope *scope;           /* the read in flight, or NULL */
	struct ad_scope_result *res;      /* owned: the membership read now, or
	                                   * NULL: the stored one holds */
	struct record_scope stored;       /* owned: as the store had it */
	int have_stored;
	int group_deleted;                /* a scope group was deleted in AD */
	int hold_now;                     /* what leaves the scope now is held */
	int fetching;                     /* the scan fetches new members */
	struct ad_member *added;          /* owned: new members to fetch */
	size_t nadded, capadded, fetched;
	int fetch_all;                    /* many new members: one scan of all */
	/* The users ringsyncctl sync asked for (sync_req.c). */
	struct sync_asked *asked;         /* owned, sorted */
	size_t nasked;
	int asking;                       /* the search for them runs */
	int asked_sent, asked_done;
	int only_asked;                   /* nothing else to scan: no watermark */
	int wb_asked;                     /* every [writeback] attribute is read */
	unsigned long long stamp;         /* record_stamp before the first search */
};

static struct store_txn *
page_txn(struct scan_ctx *x)
{
	if (x->txn == NULL && !x->failed)
		x->txn = sync_txn_begin(x->s);
	if (x->txn == NULL)
		x->failed = 1;
	return x->txn;
}

static void
put_out(struct scan_ctx *x, const struct ad_entry *e, const char *email,
    int active, const char *reason, const struct profile *p,
    const struct profile *create, const char *hash)
{
	struct record_out o = { 0 };
	char err[256];

	snprintf(o.guid, sizeof(o.guid), "%s", e->guid);
	o.seq = sync_next_seq();
	o.active = active;
	o.reason = (char *)reason;
	o.dn = e->dn;
	o.email = (char *)email;
	o.profile = p ? profile_to_json(p) : NULL;
	o.create = create && create->n > 0 ? profile_to_json(create) : NULL;
	if (hash != NULL)
		snprintf(o.hash, sizeof(o.hash), "%s", hash);
	if (o.create != NULL)
		profile_hash(p, o.push_hash);
	o.cycle = x->s->c.id;
	/* Deactivations wait for the end of the scan: max_deactivations. */
	o.held = active ? RECORD_HOLD_NONE : x->hold_now ? RECORD_HOLD_HELD :
	    RECORD_HOLD_REVIEW;
	if (!active && x->hold_now)
		x->s->c.held++;
	if (record_out_put(x->txn, &o, err, sizeof(err)) < 0) {
		log_err("cannot queue a push dn=%s error=%s", log_q(e->dn), log_q(err));
		x->failed = 1;
	}
	json_decref(o.profile);
	json_decref(o.create);
	if (x->s->dry_run)
		log_info("dry run: would %s the phone user reason=%s dn=%s email=%s",
		    !active ? "deactivate" : strcmp(reason, "new") == 0 ?
		    "link or create" : "update", reason, log_q(e->dn), log_q(email));
	for (size_t i = 0; x->s->dry_run && create != NULL && i < create->n; i++)
		log_info("dry run: a create sets %s=%s dn=%s", create->v[i].field,
		    log_q(create->v[i].value), log_q(e->dn));
	if (x->s->dry_run && p != NULL && profile_get(p, "site") != NULL)
		log_info("dry run: the site is site=%s dn=%s", log_q(profile_get(p,
		    "site")), log_q(e->dn));
	if (x->s->dry_run && active && strcmp(reason, "new") == 0 &&
	    x->s->cfg->nranges > 0 && (create == NULL ||
	    profile_get(create, "extensionNumber") == NULL)) {
		const struct config_range *r = sync_number_range(x->s, p != NULL ?
		    profile_get(p, "site") : NULL);

		if (r != NULL)
			log_info("dry run: a create takes the lowest free extension "
			    "number of %s-%s dn=%s", r->lo, r->hi, log_q(e->dn));
	}
}

/* The email index follows the user's mail; a clash is the user's error. */
static int
index_email(struct scan_ctx *x, struct record_user *u, const char *email)
{
	char *owner = email ? record_email_owner(x->txn, email) : NULL;
	char err[256];
	int rc = 0;

	if (owner != NULL && strcmp(owner, u->guid) != 0) {
		struct record_user other;

		if (record_user_get(x->txn, owner, &other, NULL, 0) == 0 &&
		    other.ad.email != NULL && strcmp(other.ad.email, email) == 0 &&
		    !other.ad.deleted) {
			char msg[512];

			snprintf(msg, sizeof(msg), "mail is also the mail of %s: every "
			    "user needs an email of its own", other.ad.dn);
			sync_user_failed(x->s, &x->s->c, u->ad.dn, email,
			    sync_field_attr(x->s, "email"), email, msg);
			record_error_set(&u->ad.err, msg);
			rc = -1;
		}
		record_user_clear(&other);
	}
	if (rc == 0 && (u->ad.email == NULL || email == NULL ||
	    strcmp(u->ad.email, email) != 0)) {
		if (u->ad.email != NULL)
			record_email_del(x->txn, u->ad.email, err, sizeof(err));
		if (email != NULL)
			record_email_put(x->txn, email, u->guid, err, sizeof(err));
		util_str_set(&u->ad.email, email);
	}
	free(owner);
	return rc;
}

/*
 * note_wb_seen: what AD holds of the [writeback] attributes, for the
 * writer to modify without reading first. Not known when the scan did not
 * ask for them all, or when the entry has a problem (a value it left out
 * is not an absent one).
 */
static void
note_wb_seen(struct scan_ctx *x, struct record_user *u,
    const struct ad_entry *e)
{
	const struct config_map *wb = &x->s->cfg->writeback;

	json_decref(u->ad.wb_seen);
	u->ad.wb_seen = NULL;
	u->ad.wb_seen_at = 0;
	if (!x->wb_asked || e->problem != NULL || wb->n == 0)
		return;
	u->ad.wb_seen = json_object();
	for (size_t i = 0; i < wb->n; i++) {
		const char *v = ad_entry_get(e, wb->v[i].key);

		json_object_set_new(u->ad.wb_seen, wb->v[i].key, json_string(v ? v :
		    ""));
	}
	u->ad.wb_seen_at = x->stamp;
}

/* Self-healing: AD no longer holds what was written back: queue it again. */
static void
check_written(struct scan_ctx *x, const struct record_user *u,
    const struct ad_entry *e)
{
	const char *k;
	json_t *v;
	char err[256];

	json_object_foreach(u->wb.attrs, k, v) {
		const char *have = ad_entry_get(e, k), *want = json_string_value(v);
		struct record_wb q;

		if (want == NULL || strcmp(have ? have : "", want) == 0)
			continue;
		snprintf(q.guid, sizeof(q.guid), "%s", u->guid);
		q.attrs = u->wb.attrs;
		if (record_wb_put(x->txn, &q, err, sizeof(err)) < 0)
			x->failed = 1;
		return;
	}
}

static void
forget(struct scan_ctx *x, struct record_user *u)
{
	char err[256];

	if (u->ad.email != NULL)
		record_email_del(x->txn, u->ad.email, err, sizeof(err));
	record_user_del(x->txn, u->guid, err, sizeof(err));
	record_out_del(x->txn, u->guid, err, sizeof(err));
	record_wb_del(x->txn, u->guid, err, sizeof(err));
	store_del(x->txn, STORE_PHOTOS, u->guid, err, sizeof(err));
}

static void
data_error(struct scan_ctx *x, struct record_user *u, const char *email,
    const struct profile_error *pe)
{
	char msg[512], err[256];

	if (pe->value == NULL)
		snprintf(msg, sizeof(msg), "The %s is missing in Active Directory: %s",
		    pe->attr, strcmp(pe->msg, "attribute is missing") == 0 ?
		    "every user in scope needs one" : pe->msg);
	else
		snprintf(msg, sizeof(msg), "The %s is invalid: %s. Please correct "
		    "the parameter in Active Directory", pe->attr, pe->msg);
	sync_user_failed(x->s, &x->s->c, u->ad.dn, email, pe->attr, pe->value, msg);
	record_error_set(&u->ad.err, msg);
	u->ad.err.failures++;
	record_out_del(x->txn, u->guid, err, sizeof(err));
}

/*
 * cost_center_moved: a linked user whose [policy] cost center is no longer
 * the one it was created with: said once (per value), since the platform
 * cannot change a cost center by API.
 */
static void
cost_center_moved(struct sync *s, struct record_user *u,
    const struct ad_entry *e, const struct config_pair *pv)
{
	struct profile_error pe;
	char *id = NULL;

	if (u == NULL || u->push.cost_center == NULL)
		return; /* not created with one by this store */
	if (profile_resolve(e, pv, schema_account_list(s->schema, "cost_centers"),
	    "cost center", &id, &pe) < 0) {
		profile_error_clear(&pe);
		return; /* reported at create; nothing to change now */
	}
	if (id == NULL || strcmp(id, u->push.cost_center) == 0) {
		util_str_set(&u->ad.cost_center_said, NULL);
	} else if (u->ad.cost_center_said == NULL ||
	    strcmp(u->ad.cost_center_said, id) != 0) {
		log_notice("the cost center AD now gives is not the one the user was "
		    "created with, and the phone system cannot change it by API: "
		    "change it in %s's web portal if it should move dn=%s email=%s "
		    "cost_center=%s created_with=%s attribute=%s",
		    s->cfg->telephony.brand, log_q(e->dn), log_q(u->ad.email), id,
		    u->push.cost_center, log_q(config_pair_attr(pv)));
		util_str_set(&u->ad.cost_center_said, id);
	}
	free(id);
}

/*
 * apply_policy: a [create] extension number within the account's length
 * (when ringsyncctl schema cached it), and the [policy] values into the
 * profiles: the site (pushed: a change moves the user) into p, the cost
 * center (at create only) into c for a user not linked yet, each by its id
 * in the cached lists; for a linked user, a cost center that moved is said.
 */
static int
apply_policy(struct sync *s, struct record_user *u, const struct ad_entry *e,
    int unlinked, struct profile *p, struct profile *c,
    struct profile_error *pe)
{
	const struct config_pair *pv;
	const json_t *max = json_object_get(json_object_get(s->schema, "account"),
	    "max_extension_length");
	char *id;

	if (unlinked && profile_check_extension(c, &s->cfg->create,
	    json_is_integer(max) ? (int)json_integer_value(max) : 0, pe) < 0)
		return -1;
	if ((pv = config_map_pair(&s->cfg->policy, "site")) != NULL) {
		if (profile_resolve(e, pv, schema_account_list(s->schema, "sites"),
		    "site", &id, pe) < 0)
			return -1;
		if (id != NULL)
			profile_set(p, "site", id);
		free(id);
	}
	if (!unlinked && (pv = config_map_pair(&s->cfg->policy,
	    "cost_center")) != NULL)
		cost_center_moved(s, u, e, pv);
	if (unlinked && (pv = config_map_pair(&s->cfg->policy,
	    "cost_center")) != NULL) {
		if (profile_resolve(e, pv, schema_account_list(s->schema,
		    "cost_centers"), "cost center", &id, pe) < 0)
			return -1;
		if (id != NULL)
			profile_set(c, "costCenter", id);
		free(id);
	}
	return 0;
}

/* decide: the user record updated and the entry's consequence queued. */
static void
decide(struct scan_ctx *x, struct record_user *u, int known,
    const struct ad_entry *e, char *email, int requested)
{
	struct sync *s = x->s;
	struct profile p = { 0 }, c = { 0 };
	struct profile_error pe = { 0 };
	struct scan_decision d;
	struct record_out pending;
	char hash[PROFILE_HASH_LEN + 1], err[256];
	int ok = 0, has_pending;

	if (!e->deleted && !e->disabled &&
	    (ok = profile_build(e, &s->cfg->push, &p, &pe) == 0)) {
		int unlinked = !(known && record_user_phone_id(u) != NULL);

		/* A user not linked yet is compared with its [create] values
		 * too: one that failed tries again when they change. */
		if (s->cfg->create.n > 0 && unlinked)
			ok = profile_build_create(e, &s->cfg->create, &p, &c, &pe) == 0;
		if (ok)
			ok = apply_policy(s, known ? u : NULL, e, unlinked, &p, &c,
			    &pe) == 0;
		if (ok)
			profile_hash_create(&p, &c, hash);
		else
			profile_clear(&p);
	}
	has_pending = known && record_out_get(x->txn, e->guid, &pending, NULL,
	    0) == 0;
	sync_plan_entry(known ? u : NULL, e, ok ? hash : NULL,
	    has_pending ? &pending : NULL, &d);
	if (requested)
		sync_plan_requested(known ? u : NULL, e, ok ? hash : NULL,
		    has_pending ? &pending : NULL, &d);
	if (has_pending)
		record_out_clear(&pending);
	if (d.action == SCAN_NONE && !known && (e->deleted || e->disabled))
		goto out; /* not ours, and nothing to remember */
	if (d.action == SCAN_FORGET) {
		forget(x, u);
		goto out;
	}
	util_str_set(&u->ad.dn, e->dn);
	u->ad.disabled = e->disabled;
	u->ad.deleted = e->deleted;
	if (!e->deleted) {
		note_wb_seen(x, u, e);
		sync_photos_note(s, x->txn, e);
	}
	if (!e->deleted && index_email(x, u, email) < 0)
		d.action = SCAN_NONE;
	else if (ok)
		record_error_clear(&u->ad.err); /* the AD data is good again */
	switch (d.action) {
	case SCAN_PUSH:
		put_out(x, e, email, 1, d.reason, &p, &c, hash);
		x->pushable = x->pushable || record_user_phone_id(u) != NULL;
		break;
	case SCAN_DEACTIVATE:
		put_out(x, e, u->ad.email, 0, d.reason, NULL, NULL, NULL);
		s->c.deactivations++;
		break;
	case SCAN_DATA_ERROR:
		data_error(x, u, email, &pe);
		break;
	case SCAN_DROP:
		log_info("%squeued change dropped: Active Directory no longer wants "
		    "it dn=%s email=%s", s->dry_run ? "dry run: " : "", log_q(e->dn),
		    log_q(u->ad.email));
		record_out_del(x->txn, u->guid, err, sizeof(err));
		break;
	default:
		break;
	}
	if (known && u->wb.attrs != NULL && !e->deleted)
		check_written(x, u, e);
	if (record_ad_put(x->txn, u->guid, &u->ad, err, sizeof(err)) < 0)
		x->failed = 1;
out:
	profile_clear(&p);
	profile_clear(&c);
	profile_error_clear(&pe);
}

static int
member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ad_member *)a)->guid,
	    ((const struct ad_member *)b)->guid);
}

/*
 * in_scope_groups: without groups everybody is; with them, a member of
 * the membership read this cycle, or else of the stored one.
 */
static int
in_scope_groups(struct scan_ctx *x, const char *guid)
{
	struct ad_member key;
	char via[AD_GUID_LEN + 1];

	if (x->s->cfg->ldap.groups.n == 0)
		return 1;
	if (x->res != NULL) {
		snprintf(key.guid, sizeof(key.guid), "%s", guid);
		return x->res->nmembers > 0 && bsearch(&key, x->res->members,
		    x->res->nmembers, sizeof(key), member_cmp) != NULL;
	}
	return record_member_get(x->txn, guid, via) == 0;
}

/*
 * asked_met: a user ringsyncctl sync asked for, now met in scope (by the
 * range scan too: then it is decided once, and not searched for again)?
 */
static int
asked_met(struct scan_ctx *x, const char *guid)
{
	struct sync_asked key, *a;

	if (x->nasked == 0)
		return 0;
	snprintf(key.guid, sizeof(key.guid), "%s", guid);
	a = bsearch(&key, x->asked, x->nasked, sizeof(*x->asked),
	    (int (*)(const void *, const void *))strcmp);
	if (a != NULL)
		a->found = 1;
	return a != NULL;
}

/* is_added: a new member of this cycle? (added is sorted: a diff's order) */
static int
is_added(const struct scan_ctx *x, const char *guid)
{
	struct ad_member key;

	snprintf(key.guid, sizeof(key.guid), "%s", guid);
	return x->nadded > 0 && bsearch(&key, x->added, x->nadded,
	    sizeof(*x->added), member_cmp) != NULL;
}

/*
 * leave_scope: a user the scope groups no longer bring in: a linked one
 * is deactivated (through the hold), an unlinked one forgotten. Again for
 * the same user in the same cycle, nothing more is queued.
 */
static void
leave_scope(struct scan_ctx *x, const char *guid)
{
	struct record_user u;
	struct record_out pending;

	if (record_user_get(x->txn, guid, &u, NULL, 0) != 0)
		return;
	if (record_user_phone_id(&u) != NULL && record_user_active(&u)) {
		struct ad_entry e = { .dn = u.ad.dn };
		int queued = record_out_get(x->txn, guid, &pending, NULL, 0) == 0;

		if (!queued || pending.active) {
			snprintf(e.guid, sizeof(e.guid), "%s", guid);
			put_out(x, &e, u.ad.email, 0, "left-scope-groups", NULL, NULL, NULL);
			x->s->c.deactivations++;
		}
		if (queued)
			record_out_clear(&pending);
	} else if (record_user_phone_id(&u) == NULL) {
		forget(x, &u);
	}
	record_user_clear(&u);
}

static void
handle_entry(struct scan_ctx *x, const struct ad_entry *e)
{
	const char *mail = ad_entry_get(e, config_map_get(&x->s->cfg->push, "email"));
	struct store_txn *txn = page_txn(x);
	struct record_user u;
	char *email = mail ? sync_lower_dup(mail) : NULL, err[128];
	int known;

	if (x->fetch_all && !is_added(x, e->guid)) {
		free(email); /* not a new member */
		return;
	}
	x->s->c.scanned++;
	if (txn == NULL) {
		free(email);
		return;
	}
	if (!e->deleted && !in_scope_groups(x, e->guid)) {
		x->hold_now = x->group_deleted;
		if (!x->plan.full) /* a full scan's sweep sees to it */
			leave_scope(x, e->guid);
		x->hold_now = 0;
		free(email);
		return;
	}
	if (x->plan.full)
		store_put(txn, STORE_SEEN, e->guid, "", 0, err, sizeof(err));
	known = record_user_get(txn, e->guid, &u, NULL, 0) == 0;
	if (!known) {
		memset(&u, 0, sizeof(u));
		snprintf(u.guid, sizeof(u.guid), "%s", e->guid);
	}
	decide(x, &u, known, e, email, asked_met(x, e->guid));
	record_user_clear(&u);
	free(email);
}

static void
entry_copy(struct ad_entry *d, const struct ad_entry *e)
{
	*d = *e;
	d->dn = xstrdup(e->dn);
	d->problem_attr = e->problem_attr ? xstrdup(e->problem_attr) : NULL;
	d->problem = e->problem ? xstrdup(e->problem) : NULL;
	d->attrs = xcalloc(e->nattrs ? e->nattrs : 1, sizeof(*d->attrs));
	for (size_t i = 0; i < e->nattrs; i++) {
		d->attrs[i].attr = xstrdup(e->attrs[i].attr);
		d->attrs[i].value = xstrdup(e->attrs[i].value);
	}
}

/*
 * entry_cb: entries wait for the end of their page (at most page_size of
 * them), which is handled at once (page_cb): no transaction stays open
 * while the loop serves the other stages.
 */
static void
entry_cb(void *arg, const struct ad_entry *e)
{
	struct scan_ctx *x = arg;

	if (x->npage == x->pagecap)
		x->page = xreallocarray(x->page, x->pagecap = x->pagecap ?
		    x->pagecap * 2 : 64, sizeof(*x->page));
	entry_copy(&x->page[x->npage++], e);
}

static void
page_clear(struct scan_ctx *x)
{
	for (size_t i = 0; i < x->npage; i++)
		ad_entry_clear(&x->page[i]);
	x->npage = 0;
}

static void
skipped_cb(void *arg, const char *dn, const char *why)
{
	(void)arg;
	log_warning("AD entry skipped dn=%s reason=%s", log_q(dn), log_q(why));
}

/* page_commit: what the page's entries wrote so far (not in a dry run). */
static void
page_commit(struct scan_ctx *x)
{
	if (x->s->dry_run)
		return;
	if (x->txn != NULL && sync_txn_commit(x->s, x->txn) < 0)
		x->failed = 1;
	x->txn = NULL;
}

/*
 * page_cb: a page is durable before the next is asked for. Its entries
 * are committed SCAN_TXN_ENTRIES at a time (each entry's records are its
 * own: a commit between two entries loses nothing, and a page cut short
 * is scanned again), since every entry writes at a random key, and LMDB
 * holds a transaction's written pages in memory until its commit. A dry
 * run keeps one transaction for the whole scan (later decisions see
 * earlier ones) and throws it away at the end.
 */
static int
page_cb(void *arg)
{
	struct scan_ctx *x = arg;

	for (size_t i = 0; i < x->npage; i++) {
		handle_entry(x, &x->page[i]);
		if ((i + 1) % SCAN_TXN_ENTRIES == 0)
			page_commit(x);
	}
	page_clear(x);
	if (x->s->dry_run)
		return 0;
	page_commit(x);
	/*
	 * The pusher starts on what is there. While the users to link or
	 * create wait for the import (link_wait), a page that queued only
	 * theirs gives it nothing to do, and each kick would read the whole
	 * outbox again: a new node's scan of 100,000 users took 190 s so.
	 * The scan's end kicks it anyway.
	 */
	if (!x->s->link_wait || x->pushable)
		sync_push_kick(x->s);
	x->pushable = 0;
	return 0;
}

/* unseen: a user the full scan did not meet (the others are not decoded). */
static int
unseen(const char *guid, void *arg)
{
	struct scan_ctx *x = arg;
	const void *seen;
	size_t sl;

	return store_get(x->txn, STORE_SEEN, guid, &seen, &sl) != 0;
}

static int
sweep_cb(struct record_user *u, void *arg)
{
	struct scan_ctx *x = arg;

	if (record_user_phone_id(u) != NULL && record_user_active(u)) {
		struct ad_entry e = { .dn = u->ad.dn };

		snprintf(e.guid, sizeof(e.guid), "%s", u->guid);
		put_out(x, &e, u->ad.email, 0, "out-of-scope", NULL, NULL, NULL);
		x->s->c.deactivations++;
	} else if (record_user_phone_id(u) == NULL) {
		forget(x, u);
	}
	return 0;
}

/* sweep: after a full scan, linked users it did not meet left the scope. */
static void
sweep(struct scan_ctx *x)
{
	struct store_txn *txn = page_txn(x);
	struct record_walk w = { NULL, x, 0, unseen };

	if (txn == NULL || record_user_walk(txn, &w, sweep_cb) < 0) {
		x->failed = 1;
		return;
	}
	page_cb(x);
}

/* A pass of hold over the deactivations under review. */
struct hold_pass {
	struct scan_ctx *x;
	int pass;                  /* 0: count them, 1: decide */
	unsigned int pending, limit;
	char first[512];           /* the first few held, for the log */
	size_t o;
};

static int
hold_cb(struct record_out *out, void *arg)
{
	struct hold_pass *h = arg;
	struct sync *s = h->x->s;
	char err[128];

	if (out->held != RECORD_HOLD_REVIEW)
		return 0;
	if (h->pass == 0) {
		h->pending++;
		return 0;
	}
	out->held = h->pending > h->limit ? RECORD_HOLD_HELD : RECORD_HOLD_NONE;
	record_out_put(h->x->txn, out, err, sizeof(err));
	if (out->held == RECORD_HOLD_HELD && ++s->c.held <= 5 &&
	    h->o < sizeof(h->first))
		h->o += (size_t)snprintf(h->first + h->o, sizeof(h->first) - h->o,
		    "%s%s", h->o ? "; " : "", out->dn ? out->dn : out->guid);
	return 0;
}

/*
 * hold: the deactivations queued by the scan (under review) are released
 * when they are within max_deactivations, else all of them are held and
 * reported at LOG_CRIT.
 */
static void
hold(struct scan_ctx *x)
{
	struct sync *s = x->s;
	struct store_txn *txn = page_txn(x);
	struct hold_pass h = { .x = x };

	if (txn == NULL)
		return;
	for (h.pass = 0; h.pass < 2; h.pass++) {
		struct record_walk w = { NULL, &h, 0, NULL };

		if (record_out_walk(txn, &w, hold_cb) < 0 || h.pending == 0)
			break;
		/* the limit's base (linked users: a walk over them all) only
		 * when there is something to decide */
		if (h.pass == 0)
			h.limit = config_threshold_limit(
			    &s->cfg->sync.max_deactivations, sync_count_linked(txn));
	}
	page_cb(x);
	if (h.pending > h.limit)
		log_crit("deactivations held: this cycle would deactivate %u phone "
		    "users, more than max_deactivations allows (%u); review, then run "
		    "`ringsyncctl release-deactivations` (or raise max_deactivations "
		    "and reload) count=%u limit=%u first=%s", h.pending, h.limit,
		    h.pending, h.limit, log_q(h.first));
}

static void
store_watermark(struct scan_ctx *x)
{
	const struct ad_dc_info *dc = ad_dc(x->s->ad);
	struct store_watermark w = { dc->dns_host_name, dc->invocation_id,
		x->plan.upper, 0 };
	struct store_txn *txn = sync_txn_begin(x->s);
	char err[256];

	if (txn == NULL)
		return;
	if (store_watermark_put(txn, &w, err, sizeof(err)) < 0) {
		log_err("cannot store the watermark error=%s", log_q(err));
		store_abort(txn);
		return;
	}
	sync_txn_commit(x->s, txn);
}

static void
scan_free(struct scan_ctx *x)
{
	store_abort(x->txn);
	page_clear(x);
	free(x->page);
	ad_scope_cancel(x->scope);
	ad_scope_result_free(x->res);
	sync_roles_drop(x->s);
	record_scope_clear(&x->stored);
	free(x->added);
	free(x->asked);
	free(x);
}

/* ------------------------------------------------------------ scope */

/* A diff of the stored membership with the one read now. */
struct scope_diff {
	struct scan_ctx *x;
	struct record_scope *now;     /* commit: the state being written */
	char err[256];
};

static void
added_push(struct scan_ctx *x, const struct ad_member *m)
{
	if (x->nadded == x->capadded)
		x->added = xreallocarray(x->added, x->capadded = x->capadded ?
		    x->capadded * 2 : 64, sizeof(*x->added));
	x->added[x->nadded++] = *m;
}

/* diff_cb: the consequences of a membership change (incremental). */
static void
diff_cb(void *arg, const struct ad_member *m, enum ad_member_change ch)
{
	struct scope_diff *d = arg;
	struct scan_ctx *x = d->x;

	if (ch == AD_MEMBER_REMOVED) {
		x->hold_now = x->group_deleted;
		leave_scope(x, m->guid);
		x->hold_now = 0;
	} else if (ch == AD_MEMBER_ADDED) {
		added_push(x, m);
	}
}

/*
 * scope_diff: after the range scan of a cycle that read the membership:
 * former members leave the scope; new ones are fetched (fetch_next).
 */
static void
scope_diff(struct scan_ctx *x)
{
	struct store_txn *txn = page_txn(x);
	struct scope_diff d = { x, NULL, "" };
	struct ad_member *was = NULL;
	size_t nwas = 0;

	if (txn == NULL || record_members_load(txn, x->stored.g, x->stored.n,
	    &was, &nwas, d.err, sizeof(d.err)) < 0) {
		x->failed = 1;
		return;
	}
	ad_members_diff(was, nwas, x->res->members, x->res->nmembers, diff_cb, &d);
	free(was);
	page_cb(x);
	if (x->nadded > 0)
		log_info("%sscope groups bring in %zu users: reading them from AD "
		    "(%s)", x->s->dry_run ? "dry run: " : "", x->nadded,
		    x->nadded > FETCH_ALL_OVER ? "one scan of all users" :
		    "by objectGUID");
}

static void
commit_cb(void *arg, const struct ad_member *m, enum ad_member_change ch)
{
	struct scope_diff *d = arg;
	struct record_scope *now = d->now;
	long long t = (long long)ev_now(d->x->s->loop);

	if (m->via < now->n)
		now->g[m->via].changed = t;
	if (ch == AD_MEMBER_REMOVED)
		record_member_del(d->x->txn, m->guid, d->err, sizeof(d->err));
	else if (m->via < now->n)
		record_member_put(d->x->txn, m->guid, now->g[m->via].guid, d->err,
		    sizeof(d->err));
}

/* stored_group: the stored scope group with objectGUID guid, or NULL. */
static const struct record_scope_group *
stored_group(const struct scan_ctx *x, const char *guid)
{
	for (size_t k = 0; k < x->stored.n; k++)
		if (strcmp(x->stored.g[k].guid, guid) == 0)
			return &x->stored.g[k];
	return NULL;
}

/* scope_state: the scope record for what was read now. */
static void
scope_state(struct scan_ctx *x, struct record_scope *now)
{
	const struct ad_scope_result *r = x->res;
	long long t = (long long)ev_now(x->s->loop);

	memset(now, 0, sizeof(*now));
	now->n = r->ngroups;
	now->g = xcalloc(r->ngroups + 1, sizeof(*now->g));
	for (size_t i = 0; i < r->ngroups; i++) {
		struct record_scope_group *g = &now->g[i];
		const struct record_scope_group *was = stored_group(x,
		    r->groups[i].guid);

		snprintf(g->guid, sizeof(g->guid), "%s", r->groups[i].guid);
		g->dn = xstrdup(x->s->cfg->ldap.groups.v[i]);
		g->now_dn = xstrdup(!r->groups[i].deleted ? r->groups[i].dn :
		    was != NULL ? was->now_dn : g->dn);
		g->deleted = r->groups[i].deleted;
		g->members = r->groups[i].members;
		g->changed = was != NULL ? was->changed : t;
	}
	now->nnested = r->nnested;
	now->nested = xcalloc(r->nnested + 1, sizeof(*now->nested));
	if (r->nnested > 0)
		memcpy(now->nested, r->nested, r->nnested * sizeof(*now->nested));
	now->checked = t;
}

/*
 * scope_commit: the membership read now, and the scope state, once every
 * consequence is queued; or, when groups are no longer configured, the
 * stored scope goes.
 */
static void
scope_commit(struct scan_ctx *x)
{
	struct scope_diff d = { x, NULL, "" };
	struct record_scope now;
	struct ad_member *was = NULL;
	size_t nwas = 0;

	if (x->failed || (x->res == NULL && (x->s->cfg->ldap.groups.n > 0 ||
	    !x->have_stored)) || page_txn(x) == NULL)
		return;
	if (x->res == NULL) {
		if (record_members_clear(x->txn, d.err, sizeof(d.err)) < 0 ||
		    record_scope_del(x->txn, d.err, sizeof(d.err)) < 0)
			x->failed = 1;
		page_cb(x);
		return;
	}
	scope_state(x, &now);
	d.now = &now;
	if (record_members_load(x->txn, now.g, now.n, &was, &nwas, d.err,
	    sizeof(d.err)) < 0)
		x->failed = 1;
	else
		ad_members_diff(was, nwas, x->res->members, x->res->nmembers,
		    commit_cb, &d);
	free(was);
	if (!x->failed && record_scope_put(x->txn, &now, d.err, sizeof(d.err)) < 0)
		x->failed = 1;
	record_scope_clear(&now);
	page_cb(x);
}

/* scope_note_error: the reason the scope could not be decided, for status. */
static void
scope_note_error(struct scan_ctx *x, const char *why)
{
	struct record_scope sc = { 0 };
	struct store_txn *txn;
	char err[256];

	if (x->s->dry_run || (txn = sync_txn_begin(x->s)) == NULL)
		return;
	if (record_scope_get(txn, &sc, NULL, 0) != 0) {
		const struct config_strv *g = &x->s->cfg->ldap.groups;

		sc.g = xcalloc(g->n + 1, sizeof(*sc.g));
		for (sc.n = 0; sc.n < g->n; sc.n++) {
			sc.g[sc.n].dn = xstrdup(g->v[sc.n]);
			sc.g[sc.n].now_dn = xstrdup(g->v[sc.n]);
		}
	}
	util_str_set(&sc.error, why);
	if (record_scope_put(txn, &sc, err, sizeof(err)) < 0)
		store_abort(txn);
	else
		sync_txn_commit(x->s, txn);
	record_scope_clear(&sc);
}

/* scope_report: what the read says of the groups themselves. */
static void
scope_report(struct scan_ctx *x)
{
	for (size_t i = 0; i < x->res->ngroups; i++) {
		const struct ad_scope_group *g = &x->res->groups[i];
		const struct record_scope_group *was = stored_group(x, g->guid);
		if (g->deleted) {
			x->group_deleted = 1;
			if (was == NULL || !was->deleted)
				log_crit("scope group deleted in AD: the deactivations of the "
				    "users it brought in are held; review, then run "
				    "`ringsyncctl release-deactivations` group=%s guid=%s",
				    log_q(x->s->cfg->ldap.groups.v[i]), g->guid);
		} else if (was != NULL && strcasecmp(was->now_dn, g->dn) != 0) {
			log_notice("scope group renamed or moved: it is followed by its "
			    "objectGUID (update [ldap] groups) group=%s now=%s guid=%s",
			    log_q(was->now_dn), log_q(g->dn), g->guid);
		}
	}
}

static int start_ad_scan(struct scan_ctx *x, const char *filter);

/* guid_term: the filter term (objectGUID=\\xx...) of guid at filter + o;
 * returns the new end. */
static size_t
guid_term(char *filter, size_t o, const char *guid)
{
	unsigned char b[16];

	if (ad_guid_parse(guid, b) < 0)
		return o;
	o += (size_t)sprintf(filter + o, "(objectGUID=");
	for (int k = 0; k < 16; k++)
		o += (size_t)sprintf(filter + o, "\\%02x", b[k]);
	return o + (size_t)sprintf(filter + o, ")");
}


/* fetch_next: the next batch of new members, by objectGUID; 1 when sent. */
static int
fetch_next(struct scan_ctx *x)
{
	size_t n = x->nadded - x->fetched, o = 0;
	char *filter;
	int rc;

	if (n == 0)
		return 0;
	if (x->fetched == 0 && n > FETCH_ALL_OVER) {
		/* cheaper than n / FETCH_BATCH searches: the others are skipped */
		x->fetch_all = 1;
		x->fetched = x->nadded;
		x->fetching = 1;
		return start_ad_scan(x, "(objectClass=*)") == 0 ? 1 : -1;
	}
	if (n > FETCH_BATCH)
		n = FETCH_BATCH;
	filter = xmalloc(n * 64 + 4);
	o += (size_t)sprintf(filter, "(|");
	for (size_t i = 0; i < n; i++)
		o = guid_term(filter, o, x->added[x->fetched + i].guid);
	sprintf(filter + o, ")");
	x->fetched += n;
	x->fetching = 1;
	rc = start_ad_scan(x, filter);
	free(filter);
	return rc == 0 ? 1 : -1;
}

/*
 * fetch_asked: after the cycle's other searches, the users ringsyncctl
 * sync asked for, by objectGUID (user_filter and base_dn apply); 1 when
 * sent, 0 when there are none, -1 when the search could not start.
 */
static int
fetch_asked(struct scan_ctx *x)
{
	char *filter;
	size_t o, n = 0;
	int rc;

	if (x->nasked == 0 || x->asked_sent)
		return 0;
	x->asked_sent = 1;
	filter = xmalloc(x->nasked * 64 + 4);
	o = (size_t)sprintf(filter, "(|");
	for (size_t i = 0; i < x->nasked; i++)
		if (!x->asked[i].found && ++n)
			o = guid_term(filter, o, x->asked[i].guid);
	sprintf(filter + o, ")");
	if (n == 0) { /* the range scan met them all */
		free(filter);
		x->asked_done = 1;
		return 0;
	}
	log_info("%sreading %zu users asked for by ringsyncctl sync",
	    x->s->dry_run ? "dry run: " : "", n);
	x->asking = 1;
	x->fetching = 1;
	x->fetch_all = 0; /* the new members' scan of all users is over */
	rc = start_ad_scan(x, filter);
	free(filter);
	return rc == 0 ? 1 : -1;
}

/* conclude: after every search of the cycle, its end, in order. */
static void
conclude(struct scan_ctx *x)
{
	struct sync *s = x->s;

	if (x->plan.full && !x->failed) {
		x->hold_now = x->group_deleted;
		sweep(x);
		x->hold_now = 0;
	}
	scope_commit(x);
	if (!x->failed && !x->only_asked && s->roles_rd != NULL &&
	    page_txn(x) != NULL) {
		if (sync_roles_commit(s, x->txn) < 0)
			x->failed = 1;
		page_cb(x);
	}
	hold(x);
	if (!x->failed && !s->dry_run && !x->only_asked)
		store_watermark(x);
}

/* asked_failure: why the asked-for users were not processed, or NULL. */
static const char *
asked_failure(const struct scan_ctx *x)
{
	const struct cycle *c = &x->s->c;

	if (c->ad_down)
		return "Active Directory could not be reached (see ringsyncd's log): "
		    "nothing was done";
	if (c->scope_failed)
		return "the scope groups cannot be read (see ringsyncctl status): "
		    "nothing was decided";
	if (x->failed)
		return "the state store refused a write (see ringsyncd's log)";
	if (!x->asked_done)
		return "the scan ended before it read the user (see ringsyncd's log)";
	return NULL;
}

static void
scan_end(struct scan_ctx *x)
{
	struct sync *s = x->s;

	if (x->nasked > 0)
		sync_reqs_scanned(s, x->asked, x->nasked, asked_failure(x));
	s->scan = NULL;
	scan_free(x);
	sync_scan_finished(s);
}

static void
done_cb(void *arg, int ok, const char *err)
{
	struct scan_ctx *x = arg;
	struct sync *s = x->s;
	int rc;

	x->scan = NULL;
	if (!ok) {
		log_warning("AD scan failed: the watermark stays, the next cycle "
		    "retries error=%s", log_q(err));
		s->c.ad_down = 1;
		ad_disconnect(s->ad);
		scan_end(x);
		return;
	}
	page_cb(x);
	if (x->asking)
		x->asked_done = 1;
	if (!x->fetching && x->res != NULL && !x->plan.full && !x->failed)
		scope_diff(x);
	if (!x->failed && ((rc = fetch_next(x)) != 0 ||
	    (rc = fetch_asked(x)) != 0)) {
		if (rc > 0)
			return; /* done_cb again at its end */
		s->c.ad_down = 1;
		x->failed = 1;
	}
	conclude(x);
	scan_end(x);
}

static const struct ad_scan_ops scan_ops = { entry_cb, skipped_cb, page_cb,
	done_cb };

/* connect: to AD, with the DC's current state; 0 or -1 (logged). */
static int
connect_ad(struct sync *s)
{
	static int deleted_said;
	char err[2048];

	if (ad_connect(s->ad, err, sizeof(err)) < 0 ||
	    ad_refresh_dc(s->ad, err, sizeof(err)) < 0) {
		log_warning("cannot reach Active Directory: retrying at the next cycle "
		    "error=%s", log_q(err));
		ad_disconnect(s->ad);
		s->c.ad_down = 1;
		return -1;
	}
	if (ad_deleted_visible(s->ad) == 0 && !deleted_said) {
		deleted_said = 1;
		log_warning("the service account cannot see CN=Deleted Objects: "
		    "deleted users are found only by the full sync (grant List Contents "
		    "and Read Property on it) dc=%s", log_q(ad_dc(s->ad)->dns_host_name));
	}
	return 0;
}

static void
plan_scan(struct sync *s, struct scan_ctx *x)
{
	struct store_watermark w;
	struct store_txn *txn;
	int have = 0;
	char err[256];

	if (store_begin(s->store, 1, &txn, err, sizeof(err)) == 0) {
		have = store_watermark_get(txn, &w, err, sizeof(err)) == 0;
		store_abort(txn);
	}
	ad_plan_scan(have ? &w : NULL, ad_dc(s->ad), s->c.kind == SYNC_FULL, &x->plan);
	if (x->plan.reason == AD_SCAN_FULL_ROLLBACK)
		log_warning("the DC's highestCommittedUSN is below the watermark: it "
		    "was restored from a copy; scanning everything dc=%s usn=%llu "
		    "watermark=%llu", log_q(ad_dc(s->ad)->dns_host_name),
		    x->plan.upper, w.usn);
	else if (x->plan.reason == AD_SCAN_FULL_DC_CHANGED)
		log_notice("another DC, or a DC with a new identity: scanning "
		    "everything dc=%s was=%s", log_q(ad_dc(s->ad)->dns_host_name),
		    log_q(w.dns_host_name));
	if (have)
		store_watermark_clear(&w);
	snprintf(s->c.dc, sizeof(s->c.dc), "%s", ad_dc(s->ad)->dns_host_name);
	s->c.lower = x->plan.lower;
	s->c.upper = x->plan.upper;
	s->c.full = x->plan.full;
	s->c.reason = ad_scan_reason_name(x->plan.reason);
	s->c.scanned_range = 1;
}

static int
clear_seen(struct scan_ctx *x)
{
	struct store_txn *txn = page_txn(x);
	char err[256];

	if (txn == NULL || store_clear(txn, STORE_SEEN, err, sizeof(err)) < 0)
		return -1;
	page_cb(x);
	return x->failed ? -1 : 0;
}

/* start_ad_scan: the range (filter NULL) or the users filter selects; 0 or -1. */
static int
start_ad_scan(struct scan_ctx *x, const char *filter)
{
	struct sync *s = x->s;
	struct ad_scan_req req;
	char err[1024];

	req.plan = x->plan;
	req.attrs = x->attrs;
	req.nattrs = x->nattrs;
	req.digest_attr = s->cfg->photo_attr;
	req.required_attr = config_map_get(&s->cfg->push, "email");
	req.filter = filter;
	x->scan = ad_scan_start(s->ad, &req, &scan_ops, x, err, sizeof(err));
	if (x->scan == NULL) {
		log_warning("AD scan failed error=%s", log_q(err));
		s->c.ad_down = 1;
		return -1;
	}
	return 0;
}

/* scan_begin: the range scan, once the scope is known. */
static void
scan_begin(struct scan_ctx *x)
{
	if ((x->plan.full && clear_seen(x) < 0) || start_ad_scan(x, NULL) < 0)
		scan_end(x);
}

static void
roles_read_cb(void *arg)
{
	scan_begin(arg);
}

/* roles_then_scan: the [roles] groups first (sync_roles.c), then the range. */
static void
roles_then_scan(struct scan_ctx *x)
{
	if (sync_roles_read_start(x->s, &x->plan, roles_read_cb, x) != 0)
		scan_begin(x); /* nothing to read, or it could not start */
}

static void
scope_cb(void *arg, struct ad_scope_result *r)
{
	struct scan_ctx *x = arg;
	struct sync *s = x->s;

	x->scope = NULL;
	if (!r->ok) {
		log_crit("the scope groups cannot be read: nothing is decided until "
		    "they can (the watermark stays; nobody is deactivated because of "
		    "it) error=%s", log_q(r->err));
		s->c.scope_failed = r->bad_group ? 2 : 1;
		s->scope_read = 0;
		scope_note_error(x, r->err);
		ad_scope_result_free(r);
		scan_end(x);
		return;
	}
	s->scope_read = 1;
	if (r->reread) {
		x->res = r;
		scope_report(x);
		log_debug("scope groups read groups=%zu nested=%zu members=%zu "
		    "searches=%lu", r->ngroups, r->nnested, r->nmembers, r->reads);
	} else {
		ad_scope_result_free(r);
	}
	roles_then_scan(x);
}

/* same_groups: does the stored scope hold the configured groups? */
static int
same_groups(const struct config_strv *g, const struct record_scope *sc)
{
	if (g->n != sc->n)
		return 0;
	for (size_t i = 0; i < g->n; i++)
		if (strcasecmp(g->v[i], sc->g[i].dn) != 0 ||
		    sc->g[i].guid[0] == '\0')
			return 0;
	return 1;
}

/*
 * scope_plan: the stored scope, and whether the membership is read again
 * this cycle (1) or only checked for changes (0): the check covers every
 * change since the watermark, also those made while ringsyncd was not
 * running. A scope that is new, or was dropped from the configuration,
 * needs a full scan.
 */
static int
scope_plan(struct scan_ctx *x)
{
	struct sync *s = x->s;
	const struct config_strv *g = &s->cfg->ldap.groups;
	struct store_txn *txn;
	char err[256];

	if (store_begin(s->store, 1, &txn, err, sizeof(err)) == 0) {
		x->have_stored = record_scope_get(txn, &x->stored, NULL, 0) == 0 &&
		    x->stored.n > 0 && x->stored.g[0].guid[0] != '\0';
		store_abort(txn);
	}
	if (!x->plan.full && ((g->n > 0 && !x->have_stored) ||
	    (g->n == 0 && x->have_stored))) {
		x->plan.full = 1;
		x->plan.lower = 0;
		x->plan.reason = AD_SCAN_FULL_SCOPE;
		s->c.full = 1;
		s->c.lower = 0;
		s->c.reason = ad_scan_reason_name(x->plan.reason);
		log_notice("the group scope changed: scanning everything "
		    "groups=%zu", g->n);
	}
	if (g->n == 0)
		return 0;
	return x->plan.full || !same_groups(g, &x->stored);
}

/* scope_start: read the scope groups, then scan_begin; 0, or -1 (ended). */
static int
scope_start(struct scan_ctx *x, int reread)
{
	const struct config_strv *g = &x->s->cfg->ldap.groups;
	struct ad_scope_req req = { 0 };
	const char **guids;
	char (*known)[AD_GUID_LEN + 1];
	char err[1024];

	record_scope_req(&x->stored, (const char *const *)g->v, g->n, &guids,
	    &known, &req.nknown);
	req.dns = (const char *const *)g->v;
	req.guids = guids;
	req.n = g->n;
	req.known = (const char (*)[AD_GUID_LEN + 1])known;
	req.lower = x->plan.lower;
	req.upper = x->plan.upper;
	req.reread = reread;
	req.verify = !x->s->scope_read; /* at start: is every group there? */
	x->scope = ad_scope_start(x->s->ad, &req, scope_cb, x, err, sizeof(err));
	free(guids);
	free(known);
	if (x->scope == NULL) {
		log_warning("AD scan failed error=%s", log_q(err));
		x->s->c.ad_down = 1;
		return -1;
	}
	return 0;
}

void
sync_scan_start(struct sync *s)
{
	struct scan_ctx *x = xcalloc(1, sizeof(*x));
	int reread;

	x->s = s;
	x->nasked = sync_reqs_take(s, &x->asked);
	if (connect_ad(s) < 0) {
		scan_end(x);
		return;
	}
	plan_scan(s, x);
	reread = scope_plan(x);
	if (!x->plan.full && x->plan.lower > x->plan.upper && !reread &&
	    !sync_roles_stale(s)) {
		if (x->nasked == 0) {
			scan_free(x); /* idle: nothing changed since the watermark */
			sync_scan_finished(s);
			return;
		}
		x->only_asked = 1; /* the stored scope holds: no group read */
	}
	for (size_t i = 0; i < s->cfg->push.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->nattrs += config_pair_attrs(&s->cfg->push.v[i],
		    x->attrs + x->nattrs, MAX_SCAN_ATTRS - x->nattrs);
	for (size_t i = 0; i < s->cfg->create.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->nattrs += config_pair_attrs(&s->cfg->create.v[i],
		    x->attrs + x->nattrs, MAX_SCAN_ATTRS - x->nattrs);
	for (size_t i = 0; i < s->cfg->policy.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->nattrs += config_pair_attrs(&s->cfg->policy.v[i],
		    x->attrs + x->nattrs, MAX_SCAN_ATTRS - x->nattrs);
	x->wb_asked = s->cfg->writeback.n <= MAX_SCAN_ATTRS - x->nattrs;
	for (size_t i = 0; i < s->cfg->writeback.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->attrs[x->nattrs++] = s->cfg->writeback.v[i].key;
	/* Before any search: a write-back recorded later than this may not be
	 * in what the scan reads (sync_plan_wb_seen). */
	x->stamp = record_stamp();
	s->scan = x;
	if (x->only_asked) {
		int rc = fetch_asked(x);

		if (rc == 0)
			conclude(x);
		if (rc <= 0)
			scan_end(x);
		return;
	}
	if (s->cfg->ldap.groups.n > 0) {
		if (scope_start(x, reread) < 0)
			scan_end(x);
		return;
	}
	roles_then_scan(x);
}

void
sync_scan_abort(struct sync *s)
{
	struct scan_ctx *x = s->scan;

	if (x == NULL)
		return;
	ad_scan_cancel(x->scan);
	s->scan = NULL;
	scan_free(x); /* cancels the scope read too */
}

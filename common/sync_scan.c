/*
 * sync_scan: the scanner. AD entries of the usnChanged range become
 * desired states in the outbox, one transaction per page, and the new
 * watermark is stored only once every page is. It writes the AD part of
 * the user records (record.h) and nothing else of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"

#define MAX_SCAN_ATTRS 64

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
    int active, const char *reason, const struct profile *p, const char *hash)
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
	if (hash != NULL)
		snprintf(o.hash, sizeof(o.hash), "%s", hash);
	o.cycle = x->s->c.id;
	/* Deactivations wait for the end of the scan: max_deactivations. */
	o.held = active ? RECORD_HOLD_NONE : RECORD_HOLD_REVIEW;
	if (record_out_put(x->txn, &o, err, sizeof(err)) < 0) {
		log_err("cannot queue a push dn=%s error=%s", log_q(e->dn), log_q(err));
		x->failed = 1;
	}
	json_decref(o.profile);
	if (x->s->dry_run)
		log_info("dry run: would %s the phone user reason=%s dn=%s email=%s",
		    !active ? "deactivate" : strcmp(reason, "new") == 0 ?
		    "link or create" : "update", reason, log_q(e->dn), log_q(email));
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

/* decide: the user record updated and the entry's consequence queued. */
static void
decide(struct scan_ctx *x, struct record_user *u, int known,
    const struct ad_entry *e, char *email)
{
	struct sync *s = x->s;
	struct profile p = { 0 };
	struct profile_error pe = { 0 };
	struct scan_decision d;
	struct record_out pending;
	char hash[PROFILE_HASH_LEN + 1], err[256];
	int ok = 0, has_pending;

	if (!e->deleted && !e->disabled &&
	    (ok = profile_build(e, &s->cfg->push, &p, &pe) == 0))
		profile_hash(&p, hash);
	has_pending = known && record_out_get(x->txn, e->guid, &pending, NULL,
	    0) == 0;
	sync_plan_entry(known ? u : NULL, e, ok ? hash : NULL,
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
	if (!e->deleted && index_email(x, u, email) < 0)
		d.action = SCAN_NONE;
	else if (ok)
		record_error_clear(&u->ad.err); /* the AD data is good again */
	switch (d.action) {
	case SCAN_PUSH:
		put_out(x, e, email, 1, d.reason, &p, hash);
		break;
	case SCAN_DEACTIVATE:
		put_out(x, e, u->ad.email, 0, d.reason, NULL, NULL);
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
	profile_error_clear(&pe);
}

static void
handle_entry(struct scan_ctx *x, const struct ad_entry *e)
{
	const char *mail = ad_entry_get(e, config_map_get(&x->s->cfg->push, "email"));
	struct store_txn *txn = page_txn(x);
	struct record_user u;
	char *email = mail ? sync_lower_dup(mail) : NULL, err[128];
	int known;

	x->s->c.scanned++;
	if (txn == NULL) {
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
	decide(x, &u, known, e, email);
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
 * them), which is handled in one transaction: no transaction stays open
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

/*
 * page_cb: a page is durable before the next is asked for. A dry run
 * keeps one transaction for the whole scan (later decisions see earlier
 * ones) and throws it away at the end.
 */
static int
page_cb(void *arg)
{
	struct scan_ctx *x = arg;

	for (size_t i = 0; i < x->npage; i++)
		handle_entry(x, &x->page[i]);
	page_clear(x);
	if (x->s->dry_run)
		return 0;
	if (x->txn != NULL && sync_txn_commit(x->s, x->txn) < 0)
		x->failed = 1;
	x->txn = NULL;
	sync_push_kick(x->s); /* the pusher starts on what is there */
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
		put_out(x, &e, u->ad.email, 0, "out-of-scope", NULL, NULL);
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
	free(x);
}

static void
done_cb(void *arg, int ok, const char *err)
{
	struct scan_ctx *x = arg;
	struct sync *s = x->s;

	x->scan = NULL;
	if (!ok) {
		log_warning("AD scan failed: the watermark stays, the next cycle "
		    "retries error=%s", log_q(err));
		s->c.ad_down = 1;
		ad_disconnect(s->ad);
	} else {
		page_cb(x);
		if (x->plan.full && !x->failed)
			sweep(x);
		hold(x);
		if (!x->failed && !s->dry_run)
			store_watermark(x);
	}
	s->scan = NULL;
	scan_free(x);
	sync_scan_finished(s);
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

void
sync_scan_start(struct sync *s)
{
	struct scan_ctx *x;
	struct ad_scan_req req;
	char err[1024];

	if (connect_ad(s) < 0) {
		sync_scan_finished(s);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->s = s;
	plan_scan(s, x);
	if (!x->plan.full && x->plan.lower > x->plan.upper) {
		free(x); /* idle: nothing changed since the watermark */
		sync_scan_finished(s);
		return;
	}
	for (size_t i = 0; i < s->cfg->push.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->attrs[x->nattrs++] = s->cfg->push.v[i].value;
	for (size_t i = 0; i < s->cfg->writeback.n && x->nattrs < MAX_SCAN_ATTRS; i++)
		x->attrs[x->nattrs++] = s->cfg->writeback.v[i].key;
	if (x->plan.full && clear_seen(x) < 0) {
		scan_free(x);
		sync_scan_finished(s);
		return;
	}
	req.plan = x->plan;
	req.attrs = x->attrs;
	req.nattrs = x->nattrs;
	req.required_attr = config_map_get(&s->cfg->push, "email");
	s->scan = x;
	x->scan = ad_scan_start(s->ad, &req, &scan_ops, x, err, sizeof(err));
	if (x->scan == NULL) {
		log_warning("AD scan failed error=%s", log_q(err));
		s->c.ad_down = 1;
		s->scan = NULL;
		free(x);
		sync_scan_finished(s);
	}
}

void
sync_scan_abort(struct sync *s)
{
	struct scan_ctx *x = s->scan;

	if (x == NULL)
		return;
	ad_scan_cancel(x->scan);
	s->scan = NULL;
	scan_free(x);
}

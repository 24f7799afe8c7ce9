/*
 * sync_write: the writer. Drains the write-back queue into AD through
 * common/ad, a few users at a time, each entry once per phase. Only the
 * attributes whose value differs from what the scan saw are modified, by
 * the DN the scan saw, with no search; a user the scan did not see with
 * its [writeback] values (sync_plan_wb_seen) is read by objectGUID first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"

#define WRITE_PARALLEL 8
/*
 * Results are recorded WRITE_BATCH at a time: one commit (one fdatasync)
 * per user cost more than the LDAP modify itself. A crash loses at most
 * the record of a batch: those entries are still queued, and writing them
 * again (read first: the writer's stamp is not recorded) finds nothing to
 * change.
 */
#define WRITE_BATCH 64

struct wjob {
	struct writer *w;                 /* not owned */
	char guid[AD_GUID_LEN + 1];
	json_t *attrs;                    /* owned: attribute -> value */
	struct ad_wb *wb;                 /* the AD module's, while in flight */
	LIST_ENTRY(wjob) link;            /* w->inflight, while in flight */
	int ok;                           /* the result, once done */
	int sent;                         /* a modify may have reached AD */
	size_t changed;
	char *attr, *err;                 /* owned: on failure */
};

struct writer {
	struct sync *s;                   /* not owned */
	char last[AD_GUID_LEN + 1];       /* the queue is read in key order */
	struct store_txn *txn;            /* fill's read transaction, during it */
	LIST_HEAD(, wjob) inflight;       /* owned: jobs AD has not answered */
	size_t ninflight;
	int exhausted;
	struct wjob *done[WRITE_BATCH];   /* owned: results not yet recorded */
	size_t ndone;
};

static void fill(struct writer *w);

static void
job_free(struct wjob *j)
{
	json_decref(j->attrs);
	free(j->attr);
	free(j->err);
	free(j);
}

/*
 * written_changes: attribute -> [as last given, now] of a write-back, or
 * [now] for an attribute ringsync never gave AD (its value before is not
 * known: the writer compares but does not keep it).
 */
static json_t *
written_changes(const json_t *given, const json_t *now)
{
	json_t *was = json_object(), *same = json_object(), *fresh = json_object();
	json_t *v, *changes, *set;
	const char *k;

	json_object_foreach((json_t *)now, k, v) {
		json_t *o = json_object_get(given, k);

		if (o != NULL) {
			json_object_set(was, k, o);
			json_object_set(same, k, v);
		} else
			json_object_set(fresh, k, v);
	}
	changes = record_event_changes(was, same);
	set = record_event_values(fresh);
	if (changes == NULL)
		changes = json_incref(set);
	else if (set != NULL)
		json_object_update(changes, set);
	json_decref(set);
	json_decref(was);
	json_decref(same);
	json_decref(fresh);
	return changes;
}

/*
 * record: one result, in txn: the writer's part of the user record (what
 * AD was last given, the write-back lane's error), and the queue entry
 * done.
 */
static void
record(struct writer *w, struct store_txn *txn, const struct wjob *j)
{
	struct record_user u;
	struct record_wb cur;
	char err[256];

	if (record_user_get(txn, j->guid, &u, NULL, 0) != 0)
		return; /* the user is gone: the entry goes with it */
	if (j->sent)
		u.wb.at = record_stamp(); /* what a scan saw before is out of date */
	if (j->ok) {
		if (j->changed > 0)
			sync_history(w->s, txn, u.guid, w->s->ic.id, "written back",
			    written_changes(u.wb.attrs, j->attrs), NULL);
		json_object_update(u.wb.attrs, j->attrs);
		record_error_clear(&u.wb.err);
		if (j->changed > 0) {
			w->s->ic.written_back++;
			log_info("numbers written back to AD dn=%s email=%s "
			    "direct_number=%s extension_number=%s attributes=%zu",
			    log_q(u.ad.dn), log_q(u.ad.email),
			    log_q(u.imp.direct_number), log_q(u.imp.extension_number),
			    j->changed);
		}
		/* Done, unless the importer queued something newer meanwhile. */
		if (record_wb_get(txn, j->guid, &cur, NULL, 0) == 0 &&
		    json_equal(cur.attrs, j->attrs))
			record_wb_del(txn, j->guid, err, sizeof(err));
		record_wb_clear(&cur);
	} else {
		sync_user_failed(w->s, &w->s->ic, u.ad.dn, u.ad.email, j->attr,
		    j->attr ? json_string_value(json_object_get(j->attrs, j->attr)) :
		    NULL, j->err);
		record_error_set(&u.wb.err, j->err);
		u.wb.err.failures++;
	}
	if (record_written_put(txn, u.guid, &u.wb, err, sizeof(err)) < 0)
		log_err("cannot record a user dn=%s error=%s", log_q(u.ad.dn),
		    log_q(err));
	record_user_clear(&u);
}

/* flush: record the finished jobs in one transaction. */
static void
flush(struct writer *w)
{
	struct store_txn *txn;

	if (w->ndone == 0)
		return;
	if ((txn = sync_txn_begin(w->s)) != NULL) {
		for (size_t i = 0; i < w->ndone; i++)
			record(w, txn, w->done[i]);
		sync_txn_commit(w->s, txn);
	}
	for (size_t i = 0; i < w->ndone; i++)
		job_free(w->done[i]);
	w->ndone = 0;
}

static void
writer_end(struct writer *w)
{
	struct sync *s = w->s;

	flush(w);
	s->wr = NULL;
	free(w);
	sync_writer_finished(s);
}

static void
wb_done(void *arg, const struct ad_wb_result *r)
{
	struct wjob *j = arg;
	struct writer *w = j->w;

	j->wb = NULL; /* freed by the AD module after this callback */
	LIST_REMOVE(j, link);
	w->ninflight--;
	j->ok = r->ok;
	j->sent = !r->ok || r->changed > 0;
	j->changed = r->changed;
	if (r->read != AD_WB_READ_NONE)
		log_debug("write-back read guid=%s reason=%s", log_q(j->guid),
		    r->read == AD_WB_READ_MOVED ? "dn_moved" : "not_scanned");
	if (!r->ok) {
		j->attr = r->attr ? xstrdup(r->attr) : NULL;
		j->err = xstrdup(r->err ? r->err : "unknown error");
	}
	w->done[w->ndone++] = j;
	if (w->ndone == WRITE_BATCH)
		flush(w);
	fill(w);
}

/* done_now: a job that needs no LDAP operation, recorded with the rest. */
static void
done_now(struct writer *w, const char *guid, json_t *attrs)
{
	struct wjob *j = xcalloc(1, sizeof(*j));

	j->w = w;
	snprintf(j->guid, sizeof(j->guid), "%s", guid);
	j->attrs = json_incref(attrs);
	j->ok = 1;
	w->done[w->ndone++] = j;
}

/*
 * scanned: the request for AD: with the DN and the values the scan saw
 * when it saw them all (have and dn of the caller's u), else none (read
 * first). 1: nothing differs from what the scan saw.
 */
static int
scanned(const struct record_user *u, struct ad_wb_req *req, const char **have)
{
	size_t idx[32];

	if (u->ad.dn == NULL ||
	    !sync_plan_wb_have(sync_plan_wb_seen(u), req->want, req->n, have))
		return 0;
	req->dn = u->ad.dn;
	req->have = have;
	return ad_diff(req->want, req->n, have, idx) == 0;
}

static int
start_job(struct writer *w, const char *guid, json_t *attrs)
{
	struct ad_value want[32];
	const char *have[32];
	struct ad_wb_req req = { guid, want, 0, NULL, NULL };
	struct record_user u;
	struct wjob *j;
	const char *k;
	json_t *v;
	char err[512];
	int same = 0, known;

	json_object_foreach(attrs, k, v) {
		if (req.n < 32 && json_is_string(v)) {
			want[req.n].attr = (char *)k;
			want[req.n++].value = (char *)json_string_value(v);
		}
	}
	if (req.n == 0)
		return 0;
	known = record_user_get(w->txn, guid, &u, NULL, 0) == 0;
	if (known)
		same = scanned(&u, &req, have);
	if (same || w->s->dry_run) {
		if (!same)
			log_info("dry run: would write back guid=%s attributes=%zu",
			    log_q(guid), req.n);
		else if (!w->s->dry_run)
			done_now(w, guid, attrs); /* AD holds them: no modify */
		if (known)
			record_user_clear(&u);
		return 0;
	}
	j = xcalloc(1, sizeof(*j));
	j->w = w;
	snprintf(j->guid, sizeof(j->guid), "%s", guid);
	j->attrs = json_incref(attrs);
	j->wb = ad_writeback_start(w->s->ad, &req, wb_done, j, err, sizeof(err));
	if (known)
		record_user_clear(&u); /* the request is copied */
	if (j->wb == NULL) {
		log_warning("cannot write back to AD guid=%s error=%s", log_q(guid),
		    log_q(err));
		job_free(j);
		w->s->ic.ad_down = 1;
		w->exhausted = 1;
		return -1;
	}
	LIST_INSERT_HEAD(&w->inflight, j, link);
	w->ninflight++;
	return 0;
}

/* fill_one: a queue entry after the last one started; 1: enough for now. */
static int
fill_one(struct record_wb *q, void *arg)
{
	struct writer *w = arg;

	if (w->last[0] && strcmp(q->guid, w->last) <= 0)
		return 0; /* the range starts at the last one done */
	snprintf(w->last, sizeof(w->last), "%s", q->guid);
	start_job(w, q->guid, q->attrs);
	return w->ninflight >= WRITE_PARALLEL || w->exhausted ||
	    w->ndone == WRITE_BATCH;
}

/*
 * fill: start jobs up to WRITE_PARALLEL from the queue, in key order;
 * those that need no modify are recorded a batch at a time meanwhile.
 */
static void
fill(struct writer *w)
{
	char err[256];

	while (!w->exhausted && w->ninflight < WRITE_PARALLEL) {
		struct record_walk walk = { w->last[0] ? w->last : NULL, w, 0,
		    NULL };
		struct store_txn *txn = NULL;

		if (store_begin(w->s->store, 1, &txn, err, sizeof(err)) < 0)
			w->exhausted = 1;
		else {
			w->txn = txn;
			if (record_wb_walk(txn, &walk, fill_one) != 1)
				w->exhausted = 1; /* read to the end (or unreadable) */
			w->txn = NULL;
			store_abort(txn);
		}
		if (w->ndone < WRITE_BATCH)
			break;
		flush(w);
	}
	if (w->exhausted && w->ninflight == 0)
		writer_end(w);
}

void
sync_writer_start(struct sync *s)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	char err[2048];

	w->s = s;
	LIST_INIT(&w->inflight);
	s->wr = w;
	if (!s->dry_run && (ad_connect(s->ad, err, sizeof(err)) < 0)) {
		log_warning("cannot reach Active Directory for the write-back: "
		    "retrying at the next import error=%s", log_q(err));
		s->ic.ad_down = 1;
		writer_end(w);
		return;
	}
	fill(w);
}

void
sync_writer_abort(struct sync *s)
{
	struct writer *w = s->wr;
	struct wjob *j;

	if (w == NULL)
		return;
	/* Nothing of the AD module points at a job once it is cancelled; the
	 * queue keeps every entry not yet confirmed. */
	while ((j = LIST_FIRST(&w->inflight)) != NULL) {
		LIST_REMOVE(j, link);
		ad_writeback_cancel(j->wb);
		job_free(j);
	}
	flush(w);
	free(w);
	s->wr = NULL;
}

/*
 * sync_write: the writer. Drains the write-back queue into AD through
 * common/ad (which reads by objectGUID and modifies only what differs),
 * a few users at a time, each entry once per phase.
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
 * again reads the values first and finds nothing to change.
 */
#define WRITE_BATCH 64

struct wjob {
	struct writer *w;                 /* not owned */
	char guid[AD_GUID_LEN + 1];
	json_t *attrs;                    /* owned: attribute -> value */
	struct ad_wb *wb;                 /* the AD module's, while in flight */
	LIST_ENTRY(wjob) link;            /* w->inflight, while in flight */
	int ok;                           /* the result, once done */
	size_t changed;
	char *attr, *err;                 /* owned: on failure */
};

struct writer {
	struct sync *s;                   /* not owned */
	char last[AD_GUID_LEN + 1];       /* the queue is read in key order */
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

/* record: one result, in txn. */
static void
record(struct writer *w, struct store_txn *txn, const struct wjob *j)
{
	struct sync_user u;
	json_t *cur = NULL;
	char err[256];

	if (user_get(txn, j->guid, &u) != 0)
		return; /* the user is gone: the entry goes with it */
	if (j->ok) {
		json_object_update(u.wb, j->attrs);
		u.failures = 0;
		if (j->changed > 0) {
			w->s->ic.written_back++;
			log_info("numbers written back to AD dn=%s email=%s "
			    "direct_number=%s extension_number=%s attributes=%zu",
			    log_q(u.dn), log_q(u.email), log_q(u.direct_number),
			    log_q(u.extension_number), j->changed);
		}
		/* Done, unless the importer queued something newer meanwhile. */
		if (store_get_json(txn, STORE_WRITEBACK, j->guid, &cur, err,
		    sizeof(err)) == 0 && json_equal(cur, j->attrs))
			store_del(txn, STORE_WRITEBACK, j->guid, err, sizeof(err));
		json_decref(cur);
	} else {
		user_failed(w->s, &w->s->ic, u.dn, u.email, j->attr, NULL, j->err);
		str_set(&u.last_error, j->err);
		u.failures++;
	}
	if (user_put(txn, &u, err, sizeof(err)) < 0)
		log_err("cannot record a user dn=%s error=%s", log_q(u.dn),
		    log_q(err));
	user_clear(&u);
}

/* flush: record the finished jobs in one transaction. */
static void
flush(struct writer *w)
{
	struct store_txn *txn;

	if (w->ndone == 0)
		return;
	if ((txn = txn_begin(w->s)) != NULL) {
		for (size_t i = 0; i < w->ndone; i++)
			record(w, txn, w->done[i]);
		txn_commit(w->s, txn);
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
	writer_finished(s);
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
	j->changed = r->changed;
	if (!r->ok) {
		j->attr = r->attr ? xstrdup(r->attr) : NULL;
		j->err = xstrdup(r->err ? r->err : "unknown error");
	}
	w->done[w->ndone++] = j;
	if (w->ndone == WRITE_BATCH)
		flush(w);
	fill(w);
}

static int
start_job(struct writer *w, const char *guid, json_t *attrs)
{
	struct ad_value want[32];
	struct wjob *j;
	const char *k;
	json_t *v;
	size_t n = 0;
	char err[512];

	json_object_foreach(attrs, k, v) {
		if (n < 32 && json_is_string(v)) {
			want[n].attr = (char *)k;
			want[n++].value = (char *)json_string_value(v);
		}
	}
	if (n == 0)
		return 0;
	if (w->s->dry_run) {
		log_info("dry run: would write back guid=%s attributes=%zu",
		    log_q(guid), n);
		return 0;
	}
	j = xcalloc(1, sizeof(*j));
	j->w = w;
	snprintf(j->guid, sizeof(j->guid), "%s", guid);
	j->attrs = json_incref(attrs);
	if ((j->wb = ad_writeback_start(w->s->ad, guid, want, n, wb_done, j, err,
	    sizeof(err))) == NULL) {
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

/* fill: start jobs up to WRITE_PARALLEL from the queue, in key order. */
static void
fill(struct writer *w)
{
	struct store_txn *txn = NULL;
	struct store_iter *it = NULL;
	char err[256];

	if (!w->exhausted && store_begin(w->s->store, 1, &txn, err,
	    sizeof(err)) == 0 && store_iter_open(txn, STORE_WRITEBACK,
	    w->last[0] ? w->last : NULL, &it) == 0) {
		const char *k;
		const void *v;
		size_t kl, vl;

		while (w->ninflight < WRITE_PARALLEL && !w->exhausted) {
			char guid[AD_GUID_LEN + 1];
			json_t *attrs;

			if (store_iter_next(it, &k, &kl, &v, &vl) != 1) {
				w->exhausted = 1;
				break;
			}
			snprintf(guid, sizeof(guid), "%.*s", (int)kl, k);
			if (strcmp(guid, w->last) <= 0 && w->last[0])
				continue; /* the range starts at the last one done */
			snprintf(w->last, sizeof(w->last), "%s", guid);
			attrs = json_loadb(v, vl, 0, NULL);
			if (json_is_object(attrs))
				start_job(w, guid, attrs);
			json_decref(attrs);
		}
	} else {
		w->exhausted = 1;
	}
	store_iter_close(it);
	store_abort(txn);
	if (w->exhausted && w->ninflight == 0)
		writer_end(w);
}

void
writer_start(struct sync *s)
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
writer_abort(struct sync *s)
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

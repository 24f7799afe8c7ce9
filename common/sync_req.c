/*
 * sync_req: users an operator asked to have processed now (ringsyncctl
 * sync). A request waits for the next scan of the scan lane, which reads
 * the user from AD by objectGUID whatever the watermark says and decides
 * with the request in mind (sync_plan_requested); it is answered once
 * that scan has ended and nothing due waits in the outbox for the user
 * (the push is done, or it waits for a reason: held, backing off), or the
 * lane is idle: what the push did is in the store when the answer arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"

enum req_state {
	REQ_WAITING,      /* for the next scan */
	REQ_TAKEN,        /* the running scan reads the user */
	REQ_SCANNED,      /* read and decided: the pusher's work is due */
};

struct sync_req {
	struct sync_req *next;
	char guid[AD_GUID_LEN + 1];
	enum req_state state;
	int ok;
	char msg[256];
	sync_user_cb *cb;
	void *arg;
};

struct sync_req *
sync_user_request(struct sync *s, const char *guid, sync_user_cb *cb, void *arg)
{
	struct sync_req *r, **p;

	if (s->stopping || s->once != SYNC_ONCE_OFF)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->guid, sizeof(r->guid), "%s", guid);
	r->cb = cb;
	r->arg = arg;
	for (p = &s->reqs; *p != NULL; p = &(*p)->next)
		;
	*p = r; /* in order of arrival */
	log_info("user sync requested (ringsyncctl sync) guid=%s", guid);
	return r;
}

void
sync_user_cancel(struct sync *s, struct sync_req *r)
{
	for (struct sync_req **p = &s->reqs; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			free(r);
			return;
		}
}

static int
asked_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sync_asked *)a)->guid,
	    ((const struct sync_asked *)b)->guid);
}

size_t
sync_reqs_take(struct sync *s, struct sync_asked **out)
{
	struct sync_asked *v = NULL;
	size_t n = 0, k = 0, j = 0;

	for (struct sync_req *r = s->reqs; r != NULL; r = r->next)
		if (r->state == REQ_WAITING && n < SYNC_ASKED_MAX)
			n++;
	*out = NULL;
	if (n == 0)
		return 0;
	v = xcalloc(n, sizeof(*v));
	for (struct sync_req *r = s->reqs; r != NULL && k < n; r = r->next)
		if (r->state == REQ_WAITING) {
			r->state = REQ_TAKEN;
			snprintf(v[k++].guid, sizeof(v->guid), "%s", r->guid);
		}
	qsort(v, n, sizeof(*v), asked_cmp);
	for (size_t i = 1; i < n; i++) /* the same user asked twice: once */
		if (strcmp(v[i].guid, v[j].guid) != 0)
			v[++j] = v[i];
	*out = v;
	return j + 1;
}

void
sync_reqs_scanned(struct sync *s, const struct sync_asked *v, size_t n,
    const char *failed)
{
	for (struct sync_req *r = s->reqs; r != NULL; r = r->next) {
		const struct sync_asked *a;
		struct sync_asked key;

		if (r->state != REQ_TAKEN)
			continue;
		r->state = REQ_SCANNED;
		snprintf(key.guid, sizeof(key.guid), "%s", r->guid);
		a = n > 0 ? bsearch(&key, v, n, sizeof(*v), asked_cmp) : NULL;
		r->ok = failed == NULL;
		if (failed != NULL)
			snprintf(r->msg, sizeof(r->msg), "%s", failed);
		else if (a == NULL || !a->found)
			snprintf(r->msg, sizeof(r->msg), "not in scope (not under base_dn, "
			    "not matching user_filter, or outside the scope groups): "
			    "nothing was pushed");
		else
			snprintf(r->msg, sizeof(r->msg), "processed");
	}
	for (struct sync_req *r = s->reqs; r != NULL; r = r->next)
		if (r->state == REQ_WAITING) {
			sync_request(s, SYNC_INCREMENTAL); /* more than one scan takes */
			break;
		}
}

/*
 * settled: nothing due waits in the outbox for the user: pushed (or not
 * needed), or waiting for a reason explain gives (held, backing off).
 */
static int
settled(struct sync *s, struct store_txn **txn, const char *guid)
{
	struct record_out o;
	char err[256];
	int rc;

	if (*txn == NULL && store_begin(s->store, 1, txn, err, sizeof(err)) < 0) {
		*txn = NULL;
		return 1; /* explain will say what the store says */
	}
	if (record_out_get(*txn, guid, &o, NULL, 0) != 0)
		return 1;
	rc = o.held != RECORD_HOLD_NONE || o.not_before > (long long)time(NULL);
	record_out_clear(&o);
	return rc;
}

void
sync_reqs_check(struct sync *s)
{
	int idle = s->scan_state == SYNC_SCAN_IDLE &&
	    s->push_state == SYNC_PUSH_IDLE;
	struct store_txn *txn = NULL;

	for (struct sync_req **p = &s->reqs; *p != NULL;) {
		struct sync_req *r = *p;

		if (r->state != REQ_SCANNED || (!idle && r->ok &&
		    !settled(s, &txn, r->guid))) {
			p = &r->next;
			continue;
		}
		*p = r->next;
		r->cb(r->ok, r->msg, r->arg);
		free(r);
	}
	if (txn != NULL)
		store_abort(txn);
}

void
sync_reqs_free(struct sync *s)
{
	while (s->reqs != NULL) {
		struct sync_req *r = s->reqs;

		s->reqs = r->next;
		free(r);
	}
}

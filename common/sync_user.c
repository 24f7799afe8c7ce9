/*
 * sync_user: the engine's views of the store's records (ringsyncctl's
 * users, status and release-deactivations), over record.h's walks.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sync_internal.h"
#include "util.h"

char *
sync_lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

unsigned long long
sync_next_seq(void)
{
	static unsigned long long last;
	struct timeval tv;
	unsigned long long now;

	gettimeofday(&tv, NULL);
	now = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
	last = now > last ? now : last + 1;
	return last;
}

static int
linked_cb(struct record_user *u, void *arg)
{
	if (record_user_phone_id(u) != NULL)
		(*(unsigned int *)arg)++;
	return 0;
}

unsigned int
sync_count_linked(struct store_txn *txn)
{
	unsigned int n = 0;
	struct record_walk w = { NULL, &n, 0, NULL };

	record_user_walk(txn, &w, linked_cb);
	return n;
}

struct held {
	struct store_txn *txn;
	int release;
	unsigned int n;
	char *err;
	size_t errlen;
};

static int
held_cb(struct record_out *o, void *arg)
{
	struct held *h = arg;

	if (o->held != RECORD_HOLD_HELD)
		return 0;
	h->n++;
	o->held = RECORD_HOLD_NONE;
	if (h->release && record_out_put(h->txn, o, h->err, h->errlen) < 0)
		return -1;
	return 0;
}

int
sync_held_each(struct store_txn *txn, int release, unsigned int *n, char *err,
    size_t errlen)
{
	struct held h = { txn, release, 0, err, errlen };
	struct record_walk w = { NULL, &h, 0, NULL };
	int rc = record_out_walk(txn, &w, held_cb);

	*n = h.n;
	if (rc < 0)
		return util_errbuf_set(err, errlen, "cannot read the outbox");
	return 0;
}

int
sync_release_held(struct store *st, unsigned int *n, char *err, size_t errlen)
{
	struct store_txn *txn;

	if (store_begin(st, 0, &txn, err, errlen) < 0)
		return -1;
	if (sync_held_each(txn, 1, n, err, errlen) < 0) {
		store_abort(txn);
		return -1;
	}
	return store_commit(txn, err, errlen);
}

static int
count_user_cb(struct record_user *u, void *arg)
{
	struct sync_counts *c = arg;

	c->users++;
	if (record_user_phone_id(u) != NULL)
		c->linked++;
	if (record_user_error(u) != NULL)
		c->failed++;
	return 0;
}

static int
count_out_cb(struct record_out *o, void *arg)
{
	struct sync_counts *c = arg;

	if (o->held == RECORD_HOLD_HELD)
		c->held++;
	if (c->oldest_seq == 0 || o->seq < c->oldest_seq)
		c->oldest_seq = o->seq;
	return 0;
}

static int
count_wb_cb(struct record_wb *q, void *arg)
{
	(void)q;
	(void)arg;
	return 0;
}

int
sync_count(struct store *st, struct sync_counts *out, char *err,
    size_t errlen)
{
	struct store_txn *txn;
	struct record_walk wu = { NULL, out, 0, NULL },
	    wo = { NULL, out, 0, NULL }, wq = { NULL, out, 0, NULL };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (store_begin(st, 1, &txn, err, errlen) < 0)
		return -1;
	if (record_user_walk(txn, &wu, count_user_cb) < 0 ||
	    record_out_walk(txn, &wo, count_out_cb) < 0 ||
	    record_wb_walk(txn, &wq, count_wb_cb) < 0 ||
	    store_count(txn, STORE_OUTBOX, &out->outbox) < 0 ||
	    store_count(txn, STORE_WRITEBACK, &out->writeback) < 0)
		rc = util_errbuf_set(err, errlen, "cannot count the queues");
	out->invalid = wu.invalid + wo.invalid + wq.invalid;
	store_abort(txn);
	return rc;
}

const char *
sync_user_state(const struct record_user *u)
{
	if (u->push.creating)
		return "creating";
	if (record_user_error(u) != NULL)
		return "failed";
	if (record_user_phone_id(u) == NULL)
		return u->ad.disabled || u->ad.deleted ? "inactive" : "not-linked";
	return record_user_active(u) ? "linked" : "deactivated";
}

struct list {
	int failed_only;
	void (*cb)(const struct sync_user_view *u, void *arg);
	void *arg;
	struct store_txn *txn;
	struct record_scope scope;    /* owned when have_scope */
	int have_scope;
};

/* bringing_group: the scope group that brings the user in, or NULL. */
static const char *
bringing_group(const struct list *l, const char *guid)
{
	char via[AD_GUID_LEN + 1];

	if (!l->have_scope || record_member_get(l->txn, guid, via) != 0)
		return NULL;
	for (size_t i = 0; i < l->scope.n; i++)
		if (strcmp(l->scope.g[i].guid, via) == 0)
			return l->scope.g[i].now_dn;
	return NULL;
}

static int
list_cb(struct record_user *u, void *arg)
{
	struct list *l = arg;
	const struct record_error *e = record_user_error(u);
	struct sync_user_view view = { u->guid, u->ad.dn, u->ad.email,
		record_user_phone_id(u), sync_user_state(u), e ? e->msg : NULL,
		record_user_ext_id(u), record_user_scim_id(u),
		u->imp.direct_number, u->imp.extension_number, NULL };

	view.scope_group = bringing_group(l, u->guid);

	if (!l->failed_only || e != NULL)
		l->cb(&view, l->arg);
	return 0;
}

int
sync_users_list(struct store *st, int failed_only,
    void (*cb)(const struct sync_user_view *u, void *arg), void *arg,
    char *err, size_t errlen)
{
	struct list l = { failed_only, cb, arg, NULL, { 0 }, 0 };
	struct record_walk w = { NULL, &l, 0, NULL };
	struct store_txn *txn;
	int rc;

	if (store_begin(st, 1, &txn, err, errlen) < 0)
		return -1;
	l.txn = txn;
	l.have_scope = record_scope_get(txn, &l.scope, NULL, 0) == 0;
	rc = record_user_walk(txn, &w, list_cb);
	if (l.have_scope)
		record_scope_clear(&l.scope);
	store_abort(txn);
	if (rc < 0)
		return util_errbuf_set(err, errlen, "cannot read the users");
	return 0;
}

/*
 * sync_photos: [push] photo (docs/behaviour.md, photos). The scan records
 * in the photos database the SHA-256 of each user's AD photo (the scan
 * reads the attribute, hashes it and keeps nothing else). When its outbox
 * is drained, the push lane brings the phone side to it, one user at a
 * time: the photo is read from AD by objectGUID right before its upload
 * (one Heavy call), so one photo at most is in memory; a photo emptied in
 * AD deletes the profile image ringsync uploaded. A user whose last
 * upload the store does not know (a new or lost store) has the image the
 * phone side holds read first (Medium) and compared: equal, nothing is
 * uploaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "log.h"
#include "record.h"
#include "sync_stage.h"
#include "util.h"

#define PHOTO_ROUND 100          /* users read from the database a round */
#define PHOTO_MAX ((size_t)10 << 20) /* bytes an upload may carry (the
                                  * platform's body limit, less the form) */

struct pending {
	char guid[AD_GUID_LEN + 1];
	char *ext_id;                 /* owned */
	char *want;                   /* owned: the digest, or "none" */
	char *done;                   /* owned, or NULL: not known */
	char *dn;                     /* owned */
	char *email;                  /* owned, or NULL */
};

struct photos_push {
	struct sync *s;
	struct pending v[PHOTO_ROUND];
	size_t n, at;
	char last[AD_GUID_LEN + 1];   /* the round read up to here */
	int more;                     /* the database holds more after last */
	struct ad_photo *rd;          /* the AD read in flight, or NULL */
	char uploaded[UTIL_SHA256_HEX + 1]; /* the digest of the upload */
	size_t len;                   /* its bytes */
	void (*done)(void *arg);
	void *arg;
};

static void photos_send(struct photos_push *pp);

/* Whether the record asks for a change ringsync has not made or tried. */
static int
due(const struct record_goal *g)
{
	if (g->done != NULL && strcmp(g->done, g->want) == 0)
		return 0;
	if (g->failed != NULL && strcmp(g->failed, g->want) == 0)
		return 0;
	/* no photo in AD and none uploaded by this store: nothing to remove */
	return !(g->done == NULL && strcmp(g->want, RECORD_PHOTO_NONE) == 0);
}

struct collect {
	struct photos_push *pp;
	struct store_txn *txn;
};

static int
collect_cb(struct record_goal *g, void *arg)
{
	struct collect *c = arg;
	struct photos_push *pp = c->pp;
	struct record_user u;
	const char *ext;

	if (pp->n == PHOTO_ROUND) {
		pp->more = 1;
		return 1;
	}
	snprintf(pp->last, sizeof(pp->last), "%s", g->guid);
	if (!due(g) || record_user_get(c->txn, g->guid, &u, NULL, 0) != 0)
		return 0;
	if ((ext = record_user_ext_id(&u)) != NULL && record_user_active(&u)) {
		struct pending *p = &pp->v[pp->n++];

		snprintf(p->guid, sizeof(p->guid), "%s", g->guid);
		p->ext_id = xstrdup(ext);
		p->want = xstrdup(g->want);
		p->done = g->done ? xstrdup(g->done) : NULL;
		p->dn = xstrdup(u.ad.dn ? u.ad.dn : g->guid);
		p->email = u.ad.email ? xstrdup(u.ad.email) : NULL;
	}
	record_user_clear(&u);
	return 0;
}

static void
pending_free(struct photos_push *pp)
{
	for (size_t i = 0; i < pp->n; i++) {
		free(pp->v[i].ext_id);
		free(pp->v[i].want);
		free(pp->v[i].done);
		free(pp->v[i].dn);
		free(pp->v[i].email);
	}
	pp->n = pp->at = 0;
}

/* collect: the next round's users; 0 when there are none. */
static size_t
collect(struct photos_push *pp)
{
	struct collect c = { pp, NULL };
	char err[256], start[AD_GUID_LEN + 2];

	pending_free(pp);
	pp->more = 0;
	if (store_begin(pp->s->store, 1, &c.txn, err, sizeof(err)) < 0)
		return 0;
	/* after last: the walk starts at the key, so one past it */
	snprintf(start, sizeof(start), "%s%s", pp->last, pp->last[0] ? " " : "");
	if (record_goal_walk(c.txn, STORE_PHOTOS, pp->last[0] ? start : NULL,
	    collect_cb, &c) < 0)
		log_err("cannot read the photos");
	store_abort(c.txn);
	return pp->n;
}

static void
push_end(struct photos_push *pp)
{
	struct sync *s = pp->s;
	void (*done)(void *) = pp->done;
	void *arg = pp->arg;

	ad_photo_cancel(pp->rd);
	pending_free(pp);
	free(pp);
	s->photos_push = NULL;
	done(arg);
}

/*
 * settle: the outcome for v[at]: done now (a digest or "none"), or the
 * platform's refusal (error) of the wanted photo; what history says.
 */
static void
settle(struct photos_push *pp, const char *now, const char *error,
    const char *what)
{
	struct sync *s = pp->s;
	struct pending *p = &pp->v[pp->at];
	struct store_txn *txn = sync_txn_begin(s);
	struct record_goal g;
	char err[256];
	int rc;

	if (txn == NULL)
		return;
	if (record_goal_get(txn, STORE_PHOTOS, p->guid, &g, NULL, 0) != 0) {
		store_abort(txn);
		return;
	}
	if (error != NULL) {
		util_str_set(&g.failed, g.want);
		util_str_set(&g.error, error);
	} else {
		util_str_set(&g.done, now);
		free(g.failed);
		free(g.error);
		g.failed = g.error = NULL;
	}
	if (what != NULL)
		sync_history(s, txn, p->guid, s->c.id, what, NULL, error);
	if (error == NULL && strcmp(g.want, RECORD_PHOTO_NONE) == 0)
		rc = store_del(txn, STORE_PHOTOS, p->guid, err, sizeof(err));
	else
		rc = record_goal_put(txn, STORE_PHOTOS, &g, err, sizeof(err));
	record_goal_clear(&g);
	if (rc < 0) {
		log_err("cannot record a photo error=%s", log_q(err));
		store_abort(txn);
		return;
	}
	sync_txn_commit(s, txn);
}

static void
next(struct photos_push *pp)
{
	pp->at++;
	photos_send(pp);
}

/*
 * failed: a call that did not work. Returns 1 when the step goes on with
 * the next user (the error was this user's), 0 when it ended.
 */
static int
failed(struct photos_push *pp, const struct phone_error *e, const char *doing)
{
	struct sync *s = pp->s;
	struct pending *p = &pp->v[pp->at];
	char msg[512], why[700];

	phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
	if (e->kind == PHONE_AUTH) {
		log_crit("photos cannot be %s: the app needs the EditExtensions "
		    "permission (add it to the app in the developer console, then "
		    "reload ringsyncd); everything else syncs error=%s", doing,
		    log_q(msg));
		s->photos_denied = 1;
		push_end(pp);
		return 0;
	}
	if (e->kind == PHONE_DATA) {
		snprintf(why, sizeof(why), "The phone system refused the photo in "
		    "%s (%zu bytes): %s", s->cfg->photo_attr, pp->len, msg);
		sync_user_failed(s, &s->c, p->dn, p->email, s->cfg->photo_attr,
		    NULL, why);
		settle(pp, NULL, why, "photo refused");
		next(pp);
		return 1;
	}
	if (e->kind == PHONE_NOT_FOUND) {
		/* the extension is gone: the import finds out */
		log_info("photo not %s: the phone user is gone dn=%s", doing,
		    log_q(p->dn));
		next(pp);
		return 1;
	}
	log_warning("photo %s failed: tried again after the next scan dn=%s "
	    "error=%s", doing, log_q(p->dn), log_q(msg));
	s->photos_dirty = 1;
	push_end(pp);
	return 0;
}

static void
uploaded_cb(const struct phone_error *e, void *arg)
{
	struct photos_push *pp = arg;
	struct pending *p = &pp->v[pp->at];

	if (e->kind != PHONE_OK) {
		failed(pp, e, "uploaded");
		return;
	}
	log_info("photo uploaded dn=%s attribute=%s", log_q(p->dn),
	    pp->s->cfg->photo_attr);
	settle(pp, pp->uploaded, NULL, "photo uploaded");
	next(pp);
}

static void
read_cb(void *arg, const struct ad_photo_result *r)
{
	struct photos_push *pp = arg;
	struct sync *s = pp->s;
	struct pending *p = &pp->v[pp->at];
	const char *type;
	char why[512];

	pp->rd = NULL;
	if (!r->ok) {
		log_warning("photo not uploaded: AD could not be read, tried again "
		    "after the next scan dn=%s error=%s", log_q(p->dn), log_q(r->err));
		s->photos_dirty = 1;
		push_end(pp);
		return;
	}
	if (!r->found || (r->data == NULL && !r->too_large)) {
		/* gone or emptied since the scan: the next scan says what to do */
		next(pp);
		return;
	}
	if (r->too_large) {
		snprintf(why, sizeof(why), "The photo in %s is %zu bytes: more than "
		    "the %zu the phone system takes. Please replace the photo in "
		    "Active Directory", s->cfg->photo_attr, r->len, PHOTO_MAX);
		sync_user_failed(s, &s->c, p->dn, p->email, s->cfg->photo_attr,
		    NULL, why);
		settle(pp, NULL, why, "photo refused");
		next(pp);
		return;
	}
	util_sha256_hex(r->data, r->len, pp->uploaded);
	pp->len = r->len;
	type = phone_photo_type(r->data, r->len);
	phone_photo_put(s->phone, p->ext_id, r->data, r->len, type, uploaded_cb,
	    pp);
}

static void
upload(struct photos_push *pp)
{
	struct sync *s = pp->s;
	char err[256];

	pp->rd = ad_photo_read(s->ad, pp->v[pp->at].guid, s->cfg->photo_attr,
	    PHOTO_MAX, read_cb, pp, err, sizeof(err));
	if (pp->rd == NULL) {
		log_warning("photo not uploaded: AD could not be read, tried again "
		    "after the next scan dn=%s error=%s", log_q(pp->v[pp->at].dn),
		    log_q(err));
		s->photos_dirty = 1;
		push_end(pp);
	}
}

/* compared_cb: the image the phone side holds, for a user of no record. */
static void
compared_cb(const struct phone_error *e, const unsigned char *data,
    size_t len, void *arg)
{
	struct photos_push *pp = arg;
	struct pending *p = &pp->v[pp->at];
	char have[UTIL_SHA256_HEX + 1];

	if (e->kind != PHONE_OK && e->kind != PHONE_NOT_FOUND) {
		failed(pp, e, "compared");
		return;
	}
	if (e->kind == PHONE_OK && data != NULL && len > 0) {
		util_sha256_hex(data, len, have);
		if (strcmp(have, p->want) == 0) {
			log_debug("photo already on the phone side dn=%s", log_q(p->dn));
			settle(pp, have, NULL, NULL);
			next(pp);
			return;
		}
	}
	if (e->kind == PHONE_NOT_FOUND)
		settle(pp, RECORD_PHOTO_NONE, NULL, NULL); /* known now: none */
	upload(pp);
}

static void
deleted_cb(const struct phone_error *e, void *arg)
{
	struct photos_push *pp = arg;
	struct pending *p = &pp->v[pp->at];

	if (e->kind != PHONE_OK && e->kind != PHONE_NOT_FOUND) {
		failed(pp, e, "removed");
		return;
	}
	log_info("photo removed: the AD user has none dn=%s attribute=%s",
	    log_q(p->dn), pp->s->cfg->photo_attr);
	settle(pp, RECORD_PHOTO_NONE, NULL, "photo removed");
	next(pp);
}

static void
photos_send(struct photos_push *pp)
{
	struct sync *s = pp->s;
	struct pending *p;

	/* the outbox first: a scan queued pushes meanwhile */
	if (s->stopping || s->push_state == SYNC_PUSH_AGAIN) {
		s->photos_dirty = 1;
		push_end(pp);
		return;
	}
	if (pp->at == pp->n && (!pp->more || collect(pp) == 0)) {
		push_end(pp);
		return;
	}
	p = &pp->v[pp->at];
	if (strcmp(p->want, RECORD_PHOTO_NONE) == 0)
		phone_photo_delete(s->phone, p->ext_id, deleted_cb, pp);
	else if (p->done == NULL)
		phone_photo_get(s->phone, p->ext_id, compared_cb, pp);
	else
		upload(pp);
}

/* dry_run: what the uploads would be; nothing is sent. */
static void
dry_run(struct photos_push *pp)
{
	do {
		collect(pp);
		for (size_t i = 0; i < pp->n; i++)
			log_info("dry run: would %s the profile image dn=%s "
			    "attribute=%s", strcmp(pp->v[i].want, RECORD_PHOTO_NONE) ==
			    0 ? "remove" : pp->v[i].done == NULL ? "compare or upload" :
			    "upload", log_q(pp->v[i].dn), pp->s->cfg->photo_attr);
	} while (pp->more);
	pending_free(pp);
}

int
sync_photos_push(struct sync *s, void (*done)(void *arg), void *arg)
{
	struct photos_push *pp;

	if (s->cfg->photo_attr == NULL || !s->photos_dirty || s->photos_denied)
		return 0;
	s->photos_dirty = 0;
	pp = xcalloc(1, sizeof(*pp));
	pp->s = s;
	pp->done = done;
	pp->arg = arg;
	if (s->dry_run) {
		dry_run(pp);
		free(pp);
		return 0;
	}
	if (collect(pp) == 0 && !pp->more) {
		free(pp);
		return 0;
	}
	s->photos_push = pp;
	photos_send(pp);
	return 1;
}

void
sync_photos_abort(struct sync *s)
{
	struct photos_push *pp = s->photos_push;

	if (pp == NULL)
		return;
	ad_photo_cancel(pp->rd);
	pending_free(pp);
	free(pp);
	s->photos_push = NULL;
	s->photos_dirty = 1;
}

void
sync_photos_note(struct sync *s, struct store_txn *txn,
    const struct ad_entry *e)
{
	const char *want = e->digest[0] ? e->digest : RECORD_PHOTO_NONE;
	struct record_goal g;
	char err[256];
	int have;

	if (s->cfg->photo_attr == NULL || !e->digest_asked || e->deleted)
		return;
	have = record_goal_get(txn, STORE_PHOTOS, e->guid, &g, NULL, 0) == 0;
	if (!have && e->digest[0] == '\0')
		return; /* no photo, and none uploaded by this store */
	if (have && strcmp(g.want, want) == 0) {
		record_goal_clear(&g);
		return;
	}
	if (!have) {
		memset(&g, 0, sizeof(g));
		snprintf(g.guid, sizeof(g.guid), "%s", e->guid);
	}
	util_str_set(&g.want, want);
	if (record_goal_put(txn, STORE_PHOTOS, &g, err, sizeof(err)) < 0)
		log_err("cannot record a photo dn=%s error=%s", log_q(e->dn),
		    log_q(err));
	else if (due(&g))
		s->photos_dirty = 1;
	record_goal_clear(&g);
}

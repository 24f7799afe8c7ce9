/*
 * sync_push: the pusher, the only stage that writes to the phone system.
 * Rounds: read a batch of due outbox entries (on from where the last
 * round stopped), then link-or-create new users one by one (search by
 * email first, the create recorded as in flight before it is sent) and
 * update or deactivate linked users in bulk (<= 500 per request, several
 * requests a round), record each user's result (the phone side only: the
 * scan may have moved on meanwhile), and go again until nothing is due.
 *
 * Each id goes where it belongs (record.h): SCIM calls take the SCIM user
 * id, bulk updates the extension id. A user whose link lacks the id its
 * action needs has it looked up first, one call per user like a create:
 * the extension by the phone user's email (the extension list), the SCIM
 * user by the email (a SCIM search); the action follows in a later round
 * (bulk) or at once (a delete).
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

#define ROUND_CREATES 50
/*
 * Updates and deactivations a round sends: two bulk requests (<= 500
 * each) that the phone client paces within the Heavy budget, so the next
 * task's request is not held back by the last one's polls. A round's
 * users are in memory with their profiles (about 3 KB each): four
 * requests a round cost 6 MB more at the peak (the benchmark, 10,000
 * users), for a first push 7% faster only where the rate window is
 * compressed to 6 s; at the platform's 60 s one the Heavy budget (10 a
 * window) is the bound either way.
 */
#define ROUND_BULK (2 * PHONE_BULK_MAX)
/*
 * Users a write transaction of the results: each one's records sit at
 * random keys, and LMDB holds a transaction's written pages in memory
 * until its commit.
 */
#define PUSH_TXN_USERS 125

enum need {
	NEED_NONE,
	NEED_EXT,                    /* a bulk update without an extension id */
	NEED_SCIM,                   /* a SCIM delete without a SCIM id */
};

struct item {
	struct push *p;              /* not owned */
	struct record_out o;           /* owned */
	struct record_user u;          /* owned */
	int known;                   /* u came from the store */
	int was_creating;            /* a create of an earlier round may have acted */
	enum push_action act;
	enum need need;              /* an id to learn before acting */
	char *lookup_email;          /* owned: the extension list's filter */
	size_t nfound;               /* extensions of lookup_email */
	long long found;             /* the one found */
	struct phone_profile prof;   /* strings borrowed from o.profile (and
	                              * o.create for a create or completing) */
	struct phone_custom_value *cv; /* owned array; strings borrowed */
	const char *ext_number;      /* [create] extensionNumber, borrowed */
	const char *site_id;         /* [policy] site, borrowed */
	const char *cost_center_id;  /* [policy] cost_center, borrowed */
	struct batch *batch;         /* the batch create it went in, or NULL */
	int alone;                   /* a batch failed unattributably: alone */
};

/* One batch create in flight: its items, and what the answer said. */
struct batch {
	struct push *p;              /* not owned */
	struct item **items;         /* owned array; the items are the round's */
	size_t n, left;              /* items; confirmations outstanding */
	size_t nfail;                /* results that were not successful */
	struct phone_error fail;     /* the first of them */
};

struct push {
	struct sync *s;              /* not owned */
	struct item *items;          /* owned */
	size_t n;
	size_t outstanding;          /* phone calls awaited */
	struct phone_bulk_item *bulk;
	size_t *bulk_idx, nbulk;
	long long earliest;          /* the first retry time among waiting entries */
	char next[AD_GUID_LEN + 1];  /* the outbox is read on from here ("": start) */
	int stop;                    /* auth failed: end the phase */
	int custom_fetched;          /* the custom fields were read this phase */
	int numbers_checked;         /* extension_range's numbers are known */
	struct sync_numbers taken;   /* a first listing's numbers */
	long long list_started;
	struct item **batch;         /* owned array: creates for the batch */
	size_t nbatch;
	ev_timer wait;               /* until the Heavy budget allows a write */
};

static void round_start(struct push *p);

static void
fill_from(struct item *it, const json_t *values)
{
	const char *xn = phone_field_name(PHONE_F_EXTENSION_NUMBER);
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)values, k, v) {
		int f = phone_field_from_name(k);
		const char *id;

		if (f >= 0) {
			it->prof.field[f] = json_string_value(v);
		} else if (strcmp(k, xn) == 0) {
			it->ext_number = json_string_value(v);
		} else if (strcmp(k, "site") == 0) {
			it->site_id = json_string_value(v);
		} else if (strcmp(k, "costCenter") == 0) {
			it->cost_center_id = json_string_value(v);
		} else if (strncasecmp(k, "custom.", 7) == 0 &&
		    (id = schema_custom_id(it->p->s->schema, k + 7)) != NULL) {
			it->cv[it->prof.ncustom].id = id;
			it->cv[it->prof.ncustom++].value = json_string_value(v);
		}
	}
}

/*
 * fill_profile: the phone profile of the outbox entry; custom.<name>
 * values go by the field id the schema cache knows (missing ones are
 * reported once per phase by custom_missing). A create, and the update
 * that completes one, carry the [create] values too.
 */
static void
fill_profile(struct item *it)
{
	int with_create = it->o.create != NULL && (it->act == PUSH_CREATE ||
	    it->u.push.completing);

	memset(&it->prof, 0, sizeof(it->prof));
	it->ext_number = it->site_id = it->cost_center_id = NULL;
	free(it->cv);
	it->cv = xcalloc(json_object_size(it->o.profile) + (with_create ?
	    json_object_size(it->o.create) : 0) + 1, sizeof(*it->cv));
	fill_from(it, it->o.profile);
	if (with_create)
		fill_from(it, it->o.create);
	if (it->ext_number == NULL && (it->act == PUSH_CREATE ||
	    it->u.push.completing))
		it->ext_number = it->u.push.ext_alloc; /* extension_range's */
	it->prof.custom = it->cv;
}

static const char *entry_hash(const struct item *it);

/*
 * give_number: a create without a [create] number takes the lowest free
 * one of its extension_range (sync_numbers.c), reserved in txn; 0, -2
 * when the range is full (the user's error, recorded), -1 when the store
 * failed.
 */
static int
give_number(struct push *p, struct store_txn *txn, struct item *it)
{
	char num[9], err[512];
	int rc;

	if (p->s->cfg->nranges == 0 || (it->ext_number != NULL &&
	    it->ext_number != it->u.push.ext_alloc))
		return 0;
	rc = sync_number_alloc(p->s, txn, it->o.guid, it->site_id,
	    it->u.push.ext_alloc, num, err, sizeof(err));
	if (rc == 1) {
		util_str_set(&it->u.push.ext_alloc, NULL);
		it->ext_number = NULL;
		return 0;
	}
	if (rc == 0) {
		util_str_set(&it->u.push.ext_alloc, num);
		it->ext_number = it->u.push.ext_alloc;
		return 0;
	}
	if (rc == -2) {
		sync_user_failed(p->s, &p->s->c, it->o.dn, it->o.email,
		    "extensionNumber", NULL, err);
		record_error_set(&it->u.push.err, err);
		it->u.push.err.failures++;
		snprintf(it->u.push.failed, sizeof(it->u.push.failed), "%s",
		    entry_hash(it));
		util_str_set(&it->u.push.ext_alloc, NULL);
		it->ext_number = NULL;
		return -2;
	}
	log_err("cannot reserve an extension number dn=%s error=%s",
	    log_q(it->o.dn), log_q(err));
	return -1;
}

/* entry_hash: what the entry is compared by now (record_out_hash). */
static const char *
entry_hash(const struct item *it)
{
	return record_out_hash(&it->o, record_user_phone_id(&it->u) != NULL);
}

/* custom_unknown: the first mapped custom field the cache lacks, or NULL. */
static const char *
custom_unknown(const struct sync *s)
{
	for (size_t i = 0; i < s->cfg->push.n; i++) {
		const char *k = s->cfg->push.v[i].key;

		if (strncasecmp(k, "custom.", 7) == 0 &&
		    schema_custom_id(s->schema, k + 7) == NULL)
			return k;
	}
	return NULL;
}

/* custom_cb: the account's custom fields, into the cached schema. */
static void
custom_cb(const struct phone_error *e, const struct phone_custom_field *v,
    size_t n, void *arg)
{
	struct push *p = arg;
	struct sync *s = p->s;
	const char *missing;

	if (e->kind == PHONE_OK) {
		json_t *fresh = schema_cache_new(NULL, v, n, NULL, 0,
		    (long long)ev_now(s->loop)), *cache = s->schema ?
		    json_deep_copy(s->schema) : json_object();
		struct store_txn *txn;
		char err[256];

		json_object_set(cache, "custom", json_object_get(fresh, "custom"));
		json_decref(fresh);
		json_decref(s->schema);
		s->schema = cache;
		if ((txn = sync_txn_begin(s)) != NULL) {
			if (store_put_json(txn, STORE_META, SCHEMA_KEY, cache, err,
			    sizeof(err)) < 0)
				store_abort(txn);
			else
				sync_txn_commit(s, txn);
		}
	} else {
		char msg[600];

		phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
		log_warning("cannot read the custom fields: %s", msg);
	}
	if ((missing = custom_unknown(s)) != NULL)
		log_err("the phone system has no custom user field named '%s': it is "
		    "not pushed (check [push] with ringsyncctl schema and ringsyncd -t) "
		    "key=%s", missing + 7, log_q(missing));
	round_start(p);
}

/* out_done: the entry is dealt with, unless a newer one replaced it. */
static void
out_done(struct store_txn *txn, const struct record_out *o)
{
	struct record_out cur;
	char err[128];

	if (record_out_get(txn, o->guid, &cur, NULL, 0) == 0 && cur.seq == o->seq)
		record_out_del(txn, o->guid, err, sizeof(err));
	record_out_clear(&cur);
}

/*
 * retry_later: a transient failure: the entry stays queued and waits with
 * backoff (jittered, so entries that failed together are not all due
 * together), or for the server's Retry-After when that is longer.
 */
static void
retry_later(struct store_txn *txn, struct item *it, int retry_after)
{
	struct record_out cur;
	char err[128];

	if (record_out_get(txn, it->o.guid, &cur, NULL, 0) == 0 &&
	    cur.seq == it->o.seq) {
		cur.attempts++;
		cur.not_before = (long long)time(NULL) + (long long)(0.5 +
		    util_retry_wait(cur.attempts - 1, retry_after,
		    util_random32()));
		record_out_put(txn, &cur, err, sizeof(err));
	}
	record_out_clear(&cur);
}

/*
 * retry_soon: due again at once for the first tries (the next free number
 * is tried in the same pass), then like retry_later.
 */
static void
retry_soon(struct store_txn *txn, struct item *it)
{
	struct record_out cur;
	char err[128];

	if (record_out_get(txn, it->o.guid, &cur, NULL, 0) == 0 &&
	    cur.seq == it->o.seq && cur.attempts < 3) {
		cur.attempts++;
		cur.not_before = 0;
		record_out_put(txn, &cur, err, sizeof(err));
		record_out_clear(&cur);
		return;
	}
	record_out_clear(&cur);
	retry_later(txn, it, -1);
}

/*
 * save_user: the item's push part into the store. The pusher owns that
 * part alone: the scan's AD facts and the import's link and numbers stay
 * as the store has them.
 */
static void
save_user(struct push *p, struct store_txn *txn, struct item *it)
{
	char err[256];

	if (record_push_put(txn, it->u.guid, &it->u.push, err, sizeof(err)) < 0)
		log_err("cannot record a user dn=%s error=%s", log_q(it->u.ad.dn),
		    log_q(err));
	(void)p;
}

/*
 * pushed_profile: the profile the item pushed is the one last pushed now;
 * the history says what changed from the one before (what, its detail).
 */
static void
pushed_profile(struct push *p, struct store_txn *txn, struct item *it,
    const char *what, const char *detail)
{
	json_t *was = it->u.push.profile;
	int created = strcmp(what, "created") == 0;
	json_t *changes;
	char more[256];

	if (was == NULL && !created) {
		changes = record_event_values(it->o.profile);
		snprintf(more, sizeof(more), "%s (the values pushed before are not "
		    "known)", detail);
		detail = more;
	} else
		changes = record_event_changes(was, it->o.profile);
	if (changes != NULL || was == NULL || strcmp(what, "updated") != 0)
		sync_history(p->s, txn, it->o.guid, it->o.cycle, what, changes,
		    detail);
	/* shared, not copied: neither is changed after the scan built it */
	it->u.push.profile = it->o.profile ? json_incref(it->o.profile) : NULL;
	json_decref(was);
}

/*
 * phone_failure: log a phone-side failure of a user, naming the AD
 * attribute and value when the API named a field.
 */
static void
phone_failure(struct push *p, struct item *it, const struct phone_error *e)
{
	struct sync *s = p->s;
	const char *field = e->kind == PHONE_DUPLICATE_EMAIL ? "email" :
	    e->param[0] ? phone_param_field(e->param) : NULL;
	const char *attr = sync_field_attr(s, field);
	const char *value = field && it->o.profile ?
	    json_string_value(json_object_get(it->o.profile, field)) : NULL;
	char msg[600];

	phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
	if (value == NULL && field != NULL && it->o.create != NULL)
		value = json_string_value(json_object_get(it->o.create, field));
	if (value == NULL && e->value[0])
		value = e->value;
	sync_user_failed(s, &s->c, it->o.dn, it->o.email, attr, value, msg);
	record_error_set(&it->u.push.err, msg);
	it->u.push.err.failures++;
}

/* settle: what a failed call means for the entry: wait, or give up. */
static void
settle(struct push *p, struct store_txn *txn, struct item *it,
    const struct phone_error *e)
{
	char err[256];

	if (e->kind == PHONE_EXTENSION_IN_USE && it->u.push.ext_alloc != NULL &&
	    it->ext_number == it->u.push.ext_alloc) {
		/* extension_range's number was taken meanwhile (the listing was
		 * older): the next one, at once (retry_soon) */
		log_info("extension number in use: giving the next free one "
		    "dn=%s email=%s number=%s", log_q(it->o.dn), log_q(it->o.email),
		    it->u.push.ext_alloc);
		if (sync_number_taken(p->s, txn, it->u.push.ext_alloc, err,
		    sizeof(err)) < 0)
			log_err("cannot record a number in use error=%s", log_q(err));
		util_str_set(&it->u.push.ext_alloc, NULL);
		it->ext_number = NULL;
		if (it->u.push.completing) {
			char num[9];
			int rc = sync_number_alloc(p->s, txn, it->o.guid, it->site_id,
			    NULL, num, err, sizeof(err));

			if (rc == 0)
				util_str_set(&it->u.push.ext_alloc, num);
			else if (rc == -2) {
				/* Created with the number the platform gave. */
				sync_user_failed(p->s, &p->s->c, it->o.dn, it->o.email,
				    "extensionNumber", NULL, err);
				record_error_set(&it->u.push.err, err);
				it->u.push.completing = 0;
			}
		}
		retry_soon(txn, it);
		return;
	}
	if (e->kind == PHONE_EXTENSION_IN_USE && it->u.push.completing) {
		/* Created with the number the platform gave: the rest of the
		 * profile goes on without the [create] one. */
		phone_failure(p, it, e);
		it->u.push.completing = 0;
		retry_later(txn, it, -1);
		return;
	}
	switch (e->kind) {
	case PHONE_AUTH:
		p->s->c.phone_down = 1;
		p->s->c.auth_failed = 1;
		p->stop = 1;
		return; /* the entry stays for when the session is back */
	case PHONE_TRANSIENT:
	case PHONE_RATE_LIMITED:
	case PHONE_MALFORMED:
	case PHONE_CONFLICT:
	case PHONE_NO_FREE_EXTENSION:
		if (e->kind != PHONE_TRANSIENT && e->kind != PHONE_RATE_LIMITED)
			phone_failure(p, it, e);
		else
			p->s->c.failed++;
		retry_later(txn, it, e->retry_after);
		return;
	case PHONE_NOT_FOUND:
		if (it->act != PUSH_CREATE) {
			/* The phone user is gone: link or create afresh. */
			util_str_set(&it->u.push.scim_id, NULL);
			util_str_set(&it->u.push.ext_id, NULL);
			log_notice("linked phone user no longer exists: linking again "
			    "dn=%s email=%s", log_q(it->o.dn), log_q(it->o.email));
			return;
		}
		/* FALLTHROUGH */
	default:
		/* Data errors wait until the AD value changes. */
		phone_failure(p, it, e);
		snprintf(it->u.push.failed, sizeof(it->u.push.failed), "%s",
		    entry_hash(it));
		out_done(txn, &it->o);
	}
}

static void batch_send(struct push *p);

/* item_finished: one call less; the last sends the batch, or ends the round. */
static void
item_finished(struct push *p)
{
	if (--p->outstanding > 0)
		return;
	if (p->nbatch > 0)
		batch_send(p);
	else
		round_start(p);
}

/* lookup_page: the extensions listed for the email (the filter may match
 * more loosely than the email itself: only an equal email counts). */
static void
lookup_page(const struct phone_extension *v, size_t n, void *arg)
{
	struct item *it = arg;

	for (size_t i = 0; i < n; i++)
		if (util_str_eq_nocase(v[i].field[PHONE_F_EMAIL], it->lookup_email)) {
			it->nfound++;
			it->found = v[i].id;
		}
}

/*
 * not_listed: the extension list has no extension with the phone user's
 * email: right after a create the list may lag behind, so the entry waits
 * and tries again, with the reason recorded.
 */
static void
not_listed(struct push *p, struct store_txn *txn, struct item *it)
{
	char msg[600];
	const char *brand = p->s->cfg->telephony.brand;

	snprintf(msg, sizeof(msg), "%s lists no extension with the email [%s] of "
	    "the linked phone user (SCIM id %s): it cannot be updated until it "
	    "is listed; retrying (if its email was changed in %s, correct it "
	    "there or in AD)", brand, it->lookup_email ? it->lookup_email : "",
	    it->u.push.scim_id ? it->u.push.scim_id : "-", brand);
	sync_user_failed(p->s, &p->s->c, it->o.dn, it->o.email, NULL, NULL, msg);
	record_error_set(&it->u.push.err, msg);
	it->u.push.err.failures++;
	retry_later(txn, it, -1);
}

/* lookup_done: the phone user's extension id, for the bulk of a later round. */
static void
lookup_done(const struct phone_error *e, void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn = sync_txn_begin(p->s);

	if (txn != NULL) {
		if (e->kind == PHONE_OK && it->nfound == 1) {
			char id[32];

			snprintf(id, sizeof(id), "%lld", it->found);
			util_str_set(&it->u.push.ext_id, id);
			log_info("extension of the phone user found dn=%s email=%s "
			    "scim_id=%s ext_id=%s", log_q(it->o.dn), log_q(it->o.email),
			    log_q(it->u.push.scim_id), id);
		} else if (e->kind == PHONE_OK && it->nfound > 1) {
			struct phone_error d = *e;

			d.kind = PHONE_DUPLICATE_EMAIL;
			snprintf(d.value, sizeof(d.value), "%s", it->lookup_email);
			settle(p, txn, it, &d);
		} else if (e->kind == PHONE_OK || e->kind == PHONE_NOT_FOUND) {
			not_listed(p, txn, it);
		} else {
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

/* ext_lookup: list the extensions of email (the item's call goes on). */
static void
ext_lookup(struct item *it, const char *email)
{
	struct phone_ext_filter f = { "User", NULL, email };

	util_str_set(&it->lookup_email, email);
	it->nfound = 0;
	if (email == NULL || *email == '\0') {
		struct phone_error e;

		phone_error_ok(&e, PHONE_CALL_EXTENSIONS);
		lookup_done(&e, it); /* nothing listed for no email */
		return;
	}
	phone_list_extensions(it->p->s->phone, &f, lookup_page, lookup_done, it);
}

/* get_cb: the linked SCIM user, whose email finds its extension. */
static void
get_cb(const struct phone_error *e, const struct phone_user *user, void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn;

	if (e->kind == PHONE_OK && user != NULL) {
		ext_lookup(it, user->email ? user->email : user->user_name);
		return;
	}
	if ((txn = sync_txn_begin(p->s)) != NULL) {
		if (e->kind == PHONE_OK) {
			struct phone_error m = *e;

			m.kind = PHONE_NOT_FOUND;
			settle(p, txn, it, &m);
		} else {
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

static void
create_cb(const struct phone_error *e, const struct phone_user *user, void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn = sync_txn_begin(p->s);
	int more = it->prof.ncustom > 0 || it->ext_number != NULL ||
	    it->site_id != NULL;
	char detail[160];

	if (txn != NULL) {
		if (e->kind == PHONE_OK && user != NULL) {
			util_str_set(&it->u.push.scim_id, user->id);
			util_str_set(&it->u.push.ext_id, NULL);
			it->u.push.active = 1;
			it->u.push.creating = 0;
			record_error_clear(&it->u.push.err);
			/* SCIM cannot set custom fields, the extension number or the
			 * site: a bulk update follows, with the [create] ones too. */
			it->u.push.completing = more && (it->o.create != NULL ||
			    it->u.push.ext_alloc != NULL);
			if (!more) {
				snprintf(it->u.push.pushed, sizeof(it->u.push.pushed), "%s",
				    entry_hash(it));
				out_done(txn, &it->o);
			}
			p->s->c.created++;
			log_info("phone user created dn=%s email=%s scim_id=%s",
			    log_q(it->o.dn), log_q(it->o.email), log_q(user->id));
			json_decref(it->u.push.profile);
			it->u.push.profile = NULL;
			snprintf(detail, sizeof(detail), "scim_id=%s", user->id);
			pushed_profile(p, txn, it, "created", detail);
		} else {
			/* The server may have created it: the next try searches. */
			it->u.push.creating = e->may_have_acted;
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		if (sync_txn_commit(p->s, txn) == 0 && e->kind == PHONE_OK &&
		    user != NULL && more) {
			/* The bulk update that follows needs the extension. */
			ext_lookup(it, it->o.email);
			return;
		}
	}
	item_finished(p);
}

/* extension_created: the answer of a REST create (create_method). */
static void
extension_created(const struct phone_error *e, const struct phone_extension *x,
    void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn = sync_txn_begin(p->s);
	char detail[160], id[32];

	if (txn != NULL) {
		if (e->kind == PHONE_OK && x != NULL) {
			snprintf(id, sizeof(id), "%lld", x->id);
			util_str_set(&it->u.push.scim_id, NULL);
			util_str_set(&it->u.push.ext_id, id);
			it->u.push.active = 1;
			it->u.push.creating = 0;
			it->u.push.completing = 0; /* it carried everything */
			util_str_set(&it->u.push.cost_center, it->cost_center_id);
			record_error_clear(&it->u.push.err);
			snprintf(it->u.push.pushed, sizeof(it->u.push.pushed), "%s",
			    entry_hash(it));
			out_done(txn, &it->o);
			p->s->c.created++;
			log_info("phone user created dn=%s email=%s ext_id=%s "
			    "extension_number=%s", log_q(it->o.dn), log_q(it->o.email),
			    id, log_q(x->extension_number));
			json_decref(it->u.push.profile);
			it->u.push.profile = NULL;
			snprintf(detail, sizeof(detail), "ext_id=%s extension_number=%s",
			    id, x->extension_number ? x->extension_number : "-");
			pushed_profile(p, txn, it, "created", detail);
		} else {
			/* The server may have created it: the next try searches. */
			it->u.push.creating = e->may_have_acted;
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

/* batch_item_done: one confirmation less; the batch ends with the last. */
static void
batch_item_done(struct batch *b)
{
	struct push *p = b->p;

	if (--b->left == 0) {
		free(b->items);
		free(b);
	}
	item_finished(p);
}

/*
 * confirm_done: the extension list by the user's email, after a batch
 * create: the answer's results carry no email, so the list says whether
 * this user was created, whatever the order of the results.
 */
static void
confirm_done(const struct phone_error *e, void *arg)
{
	struct item *it = arg;
	struct batch *b = it->batch;
	struct push *p = it->p;
	struct store_txn *txn = sync_txn_begin(p->s);
	char id[32], detail[160];

	if (txn == NULL) {
		batch_item_done(b);
		return;
	}
	if (e->kind == PHONE_OK && it->nfound == 1) {
		snprintf(id, sizeof(id), "%lld", it->found);
		util_str_set(&it->u.push.scim_id, NULL);
		util_str_set(&it->u.push.ext_id, id);
		it->u.push.active = 1;
		it->u.push.creating = 0;
		/* The batch carries names, email and mobile only: the profile
		 * (with the [create] values) follows by bulk update. */
		it->u.push.completing = it->o.create != NULL;
		it->u.push.pushed[0] = '\0';
		util_str_set(&it->u.push.cost_center, it->cost_center_id);
		record_error_clear(&it->u.push.err);
		p->s->c.created++;
		log_info("phone user created by batch dn=%s email=%s ext_id=%s",
		    log_q(it->o.dn), log_q(it->o.email), id);
		json_decref(it->u.push.profile);
		it->u.push.profile = NULL;
		snprintf(detail, sizeof(detail), "ext_id=%s (batch create)", id);
		pushed_profile(p, txn, it, "created", detail);
	} else if (e->kind == PHONE_OK && it->nfound > 1) {
		struct phone_error d = *e;

		d.kind = PHONE_DUPLICATE_EMAIL;
		snprintf(d.value, sizeof(d.value), "%s", it->lookup_email);
		it->u.push.creating = 0;
		settle(p, txn, it, &d);
	} else if (e->kind == PHONE_OK && b->nfail > 0 && b->n == 1) {
		it->u.push.creating = 0; /* its own refusal */
		settle(p, txn, it, &b->fail);
	} else if (e->kind == PHONE_OK && b->nfail > 0) {
		/* Refused, but which result is whose is not known: alone. */
		log_info("batch create: a result was not successful and the answer "
		    "does not say whose; trying alone dn=%s email=%s",
		    log_q(it->o.dn), log_q(it->o.email));
		it->alone = 1;
		p->batch = xreallocarray(p->batch, p->nbatch + 1, sizeof(*p->batch));
		p->batch[p->nbatch++] = it;
	} else if (e->kind == PHONE_OK) {
		not_listed(p, txn, it);  /* the list lags: the next try searches */
	} else {
		settle(p, txn, it, e);   /* creating stays: the next try searches */
	}
	save_user(p, txn, it);
	sync_txn_commit(p->s, txn);
	batch_item_done(b);
}

static void
batch_cb(const struct phone_error *e, const struct phone_batch_result *v,
    size_t n, void *arg)
{
	struct batch *b = arg;
	struct push *p = b->p;

	for (size_t i = 0; e->kind == PHONE_OK && i < n; i++)
		if (!v[i].ok && b->nfail++ == 0)
			b->fail = v[i].err;
	if (e->kind == PHONE_OK && n != b->n && b->nfail == 0) {
		b->nfail = 1; /* fewer results than users: some were not made */
		phone_error_ok(&b->fail, PHONE_CALL_BATCH_CREATE);
		b->fail.kind = PHONE_MALFORMED;
		snprintf(b->fail.detail, sizeof(b->fail.detail), "fewer results "
		    "than users in the batch create");
	}
	b->left = b->n + 1;
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = b->items[i];
		struct phone_ext_filter f = { "User", NULL, it->o.email };
		struct store_txn *txn;

		p->outstanding++;
		if (e->kind == PHONE_OK) {
			util_str_set(&it->lookup_email, it->o.email);
			it->nfound = 0;
			phone_list_extensions(p->s->phone, &f, lookup_page, confirm_done,
			    it);
			continue;
		}
		if ((txn = sync_txn_begin(p->s)) != NULL) {
			it->u.push.creating = e->may_have_acted;
			settle(p, txn, it, e);
			save_user(p, txn, it);
			sync_txn_commit(p->s, txn);
		}
		batch_item_done(b);
	}
	batch_item_done(b); /* the batch call itself */
}

/*
 * batch_send: the round's creates, PHONE_BATCH_MAX a call (one whose
 * batch failed unattributably alone, so that its answer is its own).
 */
static void
batch_send(struct push *p)
{
	struct item **v = p->batch;
	size_t n = p->nbatch, i = 0;

	p->batch = NULL;
	p->nbatch = 0;
	p->outstanding = 1; /* held until every batch is sent */
	while (i < n) {
		struct batch *b = xcalloc(1, sizeof(*b));
		const struct phone_profile *prof[PHONE_BATCH_MAX];
		struct phone_create_extra x[PHONE_BATCH_MAX];

		b->p = p;
		b->items = xcalloc(PHONE_BATCH_MAX, sizeof(*b->items));
		do {
			struct item *it = v[i++];

			it->batch = b;
			prof[b->n] = &it->prof;
			x[b->n].extension_number = it->ext_number;
			x[b->n].site_id = NULL;
			x[b->n].cost_center_id = it->cost_center_id;
			b->items[b->n++] = it;
		} while (i < n && b->n < PHONE_BATCH_MAX && !b->items[0]->alone &&
		    !v[i]->alone);
		p->outstanding++;
		phone_batch_create(p->s->phone, prof, x, b->n, batch_cb, b);
	}
	free(v);
	item_finished(p);
}

static void
create(struct item *it)
{
	struct push *p = it->p;
	struct store_txn *txn;
	int rc;

	if (!p->s->cfg->sync.create_users) {
		log_notice("no phone user has this email and create_users = no dn=%s "
		    "email=%s", log_q(it->o.dn), log_q(it->o.email));
		if ((txn = sync_txn_begin(p->s)) != NULL) {
			it->u.push.creating = it->was_creating;
			snprintf(it->u.push.failed, sizeof(it->u.push.failed), "%s",
			    entry_hash(it));
			save_user(p, txn, it);
			out_done(txn, &it->o);
			sync_txn_commit(p->s, txn);
		}
		item_finished(p);
		return;
	}
	/* In flight first: after a crash the next try searches by email. */
	if ((txn = sync_txn_begin(p->s)) == NULL) {
		item_finished(p);
		return;
	}
	if ((rc = give_number(p, txn, it)) < 0) {
		if (rc == -2) { /* the range is full */
			it->u.push.creating = it->was_creating;
			save_user(p, txn, it);
			out_done(txn, &it->o);
			sync_txn_commit(p->s, txn);
		} else {
			store_abort(txn);
		}
		item_finished(p);
		return;
	}
	it->u.push.creating = 1;
	save_user(p, txn, it);
	if (sync_txn_commit(p->s, txn) < 0) {
		item_finished(p);
		return;
	}
	sync_progress_sent(p->s, 1);
	if (p->s->cfg->telephony.create_method == CONFIG_CREATE_BATCH) {
		/* Sent with the others once the round's searches are done. */
		p->batch = xreallocarray(p->batch, p->nbatch + 1, sizeof(*p->batch));
		p->batch[p->nbatch++] = it;
		item_finished(p);
	} else if (p->s->cfg->telephony.create_method == CONFIG_CREATE_EXTENSION) {
		struct phone_create_extra x = { it->ext_number, it->site_id,
			it->cost_center_id };

		phone_create_extension(p->s->phone, &it->prof, &x, extension_created,
		    it);
	} else {
		phone_create_user(p->s->phone, &it->prof, it->o.guid, create_cb, it);
	}
}

static void
find_cb(const struct phone_error *e, const struct phone_user *user, void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn;
	char detail[160];

	if (e->kind == PHONE_OK && user == NULL) {
		create(it);
		return;
	}
	if ((txn = sync_txn_begin(p->s)) != NULL) {
		if (e->kind == PHONE_OK) {
			/* Link, and let the next round push the profile. */
			util_str_set(&it->u.push.scim_id, user->id);
			util_str_set(&it->u.push.ext_id, NULL);
			it->u.push.active = user->active;
			it->u.push.creating = 0;
			it->u.push.pushed[0] = '\0';
			p->s->c.linked++;
			log_info("phone user linked by email dn=%s email=%s scim_id=%s",
			    log_q(it->o.dn), log_q(it->o.email), log_q(user->id));
			snprintf(detail, sizeof(detail), "by email, scim_id=%s%s",
			    user->id, user->active ? "" : " (inactive)");
			sync_history(p->s, txn, it->o.guid, it->o.cycle, "linked", NULL,
			    detail);
		} else {
			it->u.push.creating = it->was_creating; /* a search creates nothing */
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		if (sync_txn_commit(p->s, txn) == 0 && e->kind == PHONE_OK) {
			/* The profile's bulk update needs the extension. */
			ext_lookup(it, user->email ? user->email : it->o.email);
			return;
		}
	}
	item_finished(p);
}

static void
bulk_result(struct push *p, struct store_txn *txn, struct item *it,
    const struct phone_bulk_result *r)
{
	char detail[160];

	if (!r->ok) {
		settle(p, txn, it, &r->err);
		return;
	}
	record_error_clear(&it->u.push.err);
	if (it->act == PUSH_DEACTIVATE) {
		it->u.push.active = 0;
		p->s->c.deactivated++;
		log_info("phone user deactivated reason=%s dn=%s email=%s ext_id=%s",
		    log_q(it->o.reason), log_q(it->o.dn), log_q(it->o.email),
		    log_q(it->u.push.ext_id));
		snprintf(detail, sizeof(detail), "reason=%s ext_id=%s",
		    it->o.reason ? it->o.reason : "-",
		    it->u.push.ext_id ? it->u.push.ext_id : "-");
		sync_history(p->s, txn, it->o.guid, it->o.cycle, "deactivated", NULL,
		    detail);
	} else {
		snprintf(detail, sizeof(detail), "ext_id=%s",
		    it->u.push.ext_id ? it->u.push.ext_id : "-");
		if (!it->u.push.active)
			log_info("phone user enabled again dn=%s email=%s ext_id=%s",
			    log_q(it->o.dn), log_q(it->o.email), log_q(it->u.push.ext_id));
		pushed_profile(p, txn, it, it->u.push.active ? "updated" : "enabled",
		    detail);
		it->u.push.active = 1;
		it->u.push.completing = 0;
		snprintf(it->u.push.pushed, sizeof(it->u.push.pushed), "%s",
		    entry_hash(it));
		p->s->c.updated++;
		log_info("phone user updated dn=%s email=%s ext_id=%s",
		    log_q(it->o.dn), log_q(it->o.email), log_q(it->u.push.ext_id));
	}
	out_done(txn, &it->o);
}

static void
bulk_cb(const struct phone_error *e, const struct phone_bulk_result *v,
    size_t n, void *arg)
{
	struct push *p = arg;
	struct store_txn *txn = sync_txn_begin(p->s);

	if (txn != NULL) {
		for (size_t i = 0; i < p->nbulk; i++) {
			struct item *it = &p->items[p->bulk_idx[i]];

			/* a user's records are its own: committed in slices */
			if (i > 0 && i % PUSH_TXN_USERS == 0) {
				sync_txn_commit(p->s, txn);
				if ((txn = sync_txn_begin(p->s)) == NULL)
					break; /* the rest stay queued: sent again */
			}

			if (e->kind != PHONE_OK) {
				settle(p, txn, it, e);
			} else if (i >= n) {
				struct phone_error m;

				phone_error_ok(&m, PHONE_CALL_BULK_TASK);
				m.kind = PHONE_MALFORMED;
				snprintf(m.detail, sizeof(m.detail), "no result for the "
				    "extension in the bulk-update task");
				settle(p, txn, it, &m);
			} else {
				bulk_result(p, txn, it, &v[i]);
			}
			save_user(p, txn, it);
		}
		if (txn != NULL)
			sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

static void
round_free(struct push *p)
{
	for (size_t i = 0; i < p->n; i++) {
		record_out_clear(&p->items[i].o);
		record_user_clear(&p->items[i].u);
		free(p->items[i].cv);
		free(p->items[i].lookup_email);
	}
	free(p->items);
	free(p->bulk);
	free(p->bulk_idx);
	free(p->batch);
	p->batch = NULL;
	p->nbatch = 0;
	p->items = NULL;
	p->bulk = NULL;
	p->bulk_idx = NULL;
	p->n = p->nbulk = 0;
}

static int
deleting(const struct push *p)
{
	return p->s->cfg->sync.deactivate == CONFIG_DEACTIVATE_DELETE;
}

static void
delete_cb(const struct phone_error *e, const struct phone_user *user, void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn = sync_txn_begin(p->s);
	char detail[160];

	(void)user;
	if (txn != NULL) {
		if (e->kind == PHONE_OK || e->kind == PHONE_NOT_FOUND) {
			log_info("phone user deleted (deactivate = delete) reason=%s dn=%s "
			    "email=%s scim_id=%s", log_q(it->o.reason), log_q(it->o.dn),
			    log_q(it->o.email), log_q(it->u.push.scim_id));
			snprintf(detail, sizeof(detail), "reason=%s scim_id=%s%s",
			    it->o.reason ? it->o.reason : "-",
			    it->u.push.scim_id ? it->u.push.scim_id : "-",
			    e->kind == PHONE_NOT_FOUND ? " (already gone)" : "");
			sync_history(p->s, txn, it->o.guid, it->o.cycle, "deleted", NULL,
			    detail);
			json_decref(it->u.push.profile);
			it->u.push.profile = NULL;
			util_str_set(&it->u.push.scim_id, NULL);
			util_str_set(&it->u.push.ext_id, NULL);
			it->u.push.active = 0;
			it->u.push.pushed[0] = '\0';
			it->u.push.err.failures = 0;
			p->s->c.deactivated++;
			out_done(txn, &it->o);
		} else {
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

/*
 * scim_find_cb: the SCIM user of a deletion whose link has the extension
 * only (an importer's link): found by the email, then deleted at once.
 */
static void
scim_find_cb(const struct phone_error *e, const struct phone_user *user,
    void *arg)
{
	struct item *it = arg;
	struct push *p = it->p;
	struct store_txn *txn;

	if (e->kind == PHONE_OK && user != NULL) {
		util_str_set(&it->u.push.scim_id, user->id);
		sync_progress_sent(p->s, 1);
		phone_delete_user(p->s->phone, user->id, delete_cb, it);
		return;
	}
	if ((txn = sync_txn_begin(p->s)) != NULL) {
		if (e->kind == PHONE_OK) {
			char msg[600];
			const char *brand = p->s->cfg->telephony.brand;

			snprintf(msg, sizeof(msg), "%s has no SCIM user with the email "
			    "[%s] of extension %s: it cannot be deleted (deactivate = "
			    "delete); delete it in %s's web portal", brand,
			    it->o.email ? it->o.email : "", log_q(it->u.push.ext_id),
			    brand);
			sync_user_failed(p->s, &p->s->c, it->o.dn, it->o.email, NULL,
			    NULL, msg);
			record_error_set(&it->u.push.err, msg);
			it->u.push.err.failures++;
			snprintf(it->u.push.failed, sizeof(it->u.push.failed), "%s",
			    entry_hash(it));
			out_done(txn, &it->o);
		} else {
			settle(p, txn, it, e);
		}
		save_user(p, txn, it);
		sync_txn_commit(p->s, txn);
	}
	item_finished(p);
}

/* needs: the id the action lacks (the link's ids are the pusher's now). */
static enum need
needs(const struct push *p, const struct item *it)
{
	if (it->act == PUSH_DEACTIVATE && deleting(p))
		return it->u.push.scim_id == NULL ? NEED_SCIM : NEED_NONE;
	if (it->act == PUSH_UPDATE || it->act == PUSH_DEACTIVATE)
		return it->u.push.ext_id == NULL ? NEED_EXT : NEED_NONE;
	return NEED_NONE;
}

/* consider: one outbox entry; 1 when it joins the round. */
static int
consider(struct push *p, struct store_txn *txn, struct item *it, long long now,
    size_t *ncreates)
{
	char err[128];

	it->known = record_user_get(txn, it->o.guid, &it->u, NULL, 0) == 0;
	record_user_adopt(&it->u); /* the link it acts on is its own now */
	it->was_creating = it->u.push.creating;
	if (!it->known) {
		memset(&it->u, 0, sizeof(it->u));
		snprintf(it->u.guid, sizeof(it->u.guid), "%s", it->o.guid);
		it->u.ad.dn = it->o.dn ? xstrdup(it->o.dn) : NULL;
		it->u.ad.email = it->o.email ? xstrdup(it->o.email) : NULL;
	}
	it->act = sync_plan_push(&it->o, it->known ? &it->u : NULL, now);
	if (it->act == PUSH_DEACTIVATE &&
	    p->s->cfg->sync.deactivate == CONFIG_DEACTIVATE_NONE) {
		log_info("phone user left as it is (deactivate = none) reason=%s dn=%s "
		    "email=%s", log_q(it->o.reason), log_q(it->o.dn), log_q(it->o.email));
		it->act = PUSH_DROP;
	}
	it->need = needs(p, it);
	if (p->s->link_wait && (it->act == PUSH_CREATE ||
	    (it->need == NEED_EXT && it->act == PUSH_UPDATE)))
		return 0; /* the coming import links it from the list */
	if (it->need != NEED_NONE && it->act != PUSH_WAIT) {
		/* One call per user, like a create. */
		if (*ncreates >= ROUND_CREATES)
			return 0;
		(*ncreates)++;
		return 1;
	}
	switch (it->act) {
	case PUSH_DROP:
		if (it->known && it->o.active &&
		    strcmp(it->u.push.pushed, entry_hash(it)) != 0) {
			/* The phone user holds it already (reconcile): in step. */
			snprintf(it->u.push.pushed, sizeof(it->u.push.pushed), "%s",
			    entry_hash(it));
			record_error_clear(&it->u.push.err);
			save_user(p, txn, it);
			log_debug("phone user holds the profile already dn=%s "
			    "email=%s", log_q(it->o.dn), log_q(it->o.email));
		}
		out_done(txn, &it->o);
		return 0;
	case PUSH_WAIT:
		if (!it->o.held && it->o.not_before > 0 &&
		    (p->earliest == 0 || it->o.not_before < p->earliest))
			p->earliest = it->o.not_before;
		return 0;
	case PUSH_CREATE:
		if (*ncreates >= ROUND_CREATES)
			return 0;
		(*ncreates)++;
		break;
	case PUSH_DEACTIVATE:
		if (deleting(p)) { /* one call per user, like a create */
			if (*ncreates >= ROUND_CREATES)
				return 0;
			(*ncreates)++;
			break;
		}
		if (p->nbulk >= ROUND_BULK)
			return 0;
		p->nbulk++;
		break;
	default:
		if (p->nbulk >= ROUND_BULK)
			return 0;
		p->nbulk++;
		break;
	}
	(void)err;
	return 1;
}

/* A collect's walk over the outbox. */
struct collect {
	struct push *p;
	struct store_txn *txn;
	const char *from;           /* the last round's cursor ("": none) */
	int pass;                   /* 0: from the cursor on, 1: up to it */
	long long now;
	size_t ncreates, cap;
	int full;                   /* the round is full */
	size_t left;                /* entries passed over since the commit */
	char resume[AD_GUID_LEN + 1]; /* the walk stopped for a commit after
	                             * this entry ("": it did not) */
	const char *skip;           /* the entry it stopped after, or NULL */
};

/*
 * take: one outbox entry into the round, if it belongs there (the item
 * takes what o owns). 1 when the round is full, or the walk went around.
 */
static int
take(struct record_out *o, void *arg)
{
	struct collect *c = arg;
	struct push *p = c->p;
	struct item cur = { .p = p };
	int cmp = strcmp(o->guid, c->from);

	if (c->pass == 0 && cmp == 0)
		return 0; /* the last round's last: on the way around */
	if (c->pass == 1 && cmp > 0)
		return 1; /* around, back past the cursor */
	if (c->skip != NULL && strcmp(o->guid, c->skip) == 0)
		return 0; /* done before the commit */
	cur.o = *o;
	memset(o, 0, sizeof(*o));
	if (!consider(p, c->txn, &cur, c->now, &c->ncreates)) {
		/*
		 * Passed over, often with a write (in step already, done): a
		 * long run of them, as after a lost store, is committed in
		 * slices, since LMDB holds the pages they dirty until then.
		 */
		if (++c->left >= PUSH_TXN_USERS && !p->s->dry_run) {
			snprintf(c->resume, sizeof(c->resume), "%s", cur.o.guid);
			record_out_clear(&cur.o);
			record_user_clear(&cur.u);
			return 1;
		}
		record_out_clear(&cur.o);
		record_user_clear(&cur.u);
		return 0;
	}
	if (p->n == c->cap)
		p->items = xreallocarray(p->items, c->cap = c->cap ? c->cap * 2 : 64,
		    sizeof(*p->items));
	p->items[p->n++] = cur;
	if (c->ncreates >= ROUND_CREATES || p->nbulk >= ROUND_BULK) {
		c->full = 1;
		snprintf(p->next, sizeof(p->next), "%s", cur.o.guid);
		return 1;
	}
	return 0;
}

/*
 * collect: the round's items from the outbox (dropping what is done). The
 * outbox is read on from where the last round stopped and around, so a
 * phase reads each entry about once however many rounds it takes; a
 * round that finds nothing has read it all (and p->earliest is the first
 * retry time of all).
 */
static void
collect(struct push *p)
{
	char from[AD_GUID_LEN + 1], resume[AD_GUID_LEN + 1];
	struct collect c = { p, sync_txn_begin(p->s), from, 0, (long long)time(NULL),
		0, 0, 0, 0, "", NULL };

	p->earliest = 0;
	if (c.txn == NULL)
		return;
	snprintf(from, sizeof(from), "%s", p->next);
	/* From the cursor to the end, then from the start up to the cursor. */
	while (c.pass < 2 && !c.full) {
		struct record_walk w = { c.pass == 0 && from[0] ? from : NULL, &c,
		    0, NULL };

		if (c.pass == 1 && (from[0] == '\0' || p->s->dry_run))
			break; /* a dry run starts at the start and ends at the end */
		if (c.resume[0] != '\0')
			w.start = c.skip = strcpy(resume, c.resume);
		c.resume[0] = '\0'; /* take sets it when it stops for a commit */
		if (record_out_walk(c.txn, &w, take) < 0)
			break;
		if (c.resume[0] == '\0') {
			c.pass++;
			c.skip = NULL;
			continue;
		}
		/* stopped for a commit: on from the entry after c.resume */
		c.left = 0;
		if (sync_txn_commit(p->s, c.txn) < 0 ||
		    (c.txn = sync_txn_begin(p->s)) == NULL)
			return; /* p->next stays: the next round reads on from it */
	}
	if (!c.full)
		p->next[0] = '\0';
	sync_txn_commit(p->s, c.txn);
}

static void
push_finish(struct push *p)
{
	struct sync *s = p->s;

	if (p->earliest > 0 && !s->dry_run) {
		double delay = (double)(p->earliest - (long long)time(NULL));

		ev_timer_stop(s->loop, &s->retry);
		ev_timer_set(&s->retry, delay > 0 ? delay : 0.1, 0.);
		ev_timer_start(s->loop, &s->retry);
	}
	ev_timer_stop(s->loop, &p->wait);
	round_free(p);
	free(p->taken.v);
	free(p);
	s->push = NULL;
	sync_push_finished(s);
}

/* dry_run_report: what the round would do. */
static void
dry_run_report(struct push *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->items[i];

		log_info("dry run: would %s the phone user reason=%s dn=%s email=%s",
		    it->act == PUSH_CREATE ? "link or create" :
		    it->act == PUSH_DEACTIVATE ? "deactivate" : "update",
		    log_q(it->o.reason), log_q(it->o.dn), log_q(it->o.email));
	}
}

static void
wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	round_start(w->data);
}

/*
 * budget_wait: entries are read only when a write can go out at once, so
 * while the rate limit holds the pusher, newer scans keep replacing them
 * and several edits of a user become one push. 1 when waiting.
 */
static int
budget_wait(struct push *p)
{
	double w = p->s->dry_run ? 0 : phone_write_wait(p->s->phone);

	if (w == 0)
		return 0;
	ev_timer_set(&p->wait, w < 0 ? 0.5 : w, 0.);
	ev_timer_start(p->s->loop, &p->wait);
	sync_reqs_check(p->s); /* a request whose user is done needs no wait */
	return 1;
}

/*
 * mark_creating: the round's links-or-creates are in flight from their
 * search on: a scan that sees the user disabled meanwhile queues the
 * deactivation that follows whatever the search or create brings.
 */
static void
mark_creating(struct push *p)
{
	struct store_txn *txn = NULL;

	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->items[i];

		if (it->act != PUSH_CREATE || it->u.push.creating)
			continue;
		if (txn == NULL && (txn = sync_txn_begin(p->s)) == NULL)
			return;
		it->u.push.creating = 1;
		save_user(p, txn, it);
	}
	if (txn != NULL)
		sync_txn_commit(p->s, txn);
}

/* round_dry_run: nothing changes: every round reads on, until the end. */
static void
round_dry_run(struct push *p)
{
	dry_run_report(p);
	while (p->next[0] != '\0') {
		round_free(p);
		collect(p);
		dry_run_report(p);
	}
	sync_photos_push(p->s, NULL, NULL); /* reports, sends nothing */
	push_finish(p);
}

/*
 * round_send: the round's phone calls: a search (then a link or create)
 * per new user, a DELETE per deactivation when deleting, the rest in bulk.
 */
static void
round_send(struct push *p)
{
	size_t b = 0;

	mark_creating(p);
	p->bulk = xcalloc(p->nbulk ? p->nbulk : 1, sizeof(*p->bulk));
	p->bulk_idx = xcalloc(p->nbulk ? p->nbulk : 1, sizeof(*p->bulk_idx));
	p->outstanding = 1; /* held until every call is started */
	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->items[i];

		if (it->o.profile != NULL)
			fill_profile(it);
		if (it->act == PUSH_CREATE) {
			p->outstanding++;
			phone_find_user(p->s->phone, it->o.email, find_cb, it);
			continue;
		}
		if (it->need == NEED_SCIM) {
			p->outstanding++;
			phone_find_user(p->s->phone, it->o.email, scim_find_cb, it);
			continue;
		}
		if (it->need == NEED_EXT) {
			p->outstanding++;
			if (it->u.push.scim_id != NULL) /* its email on the phone side */
				phone_get_user(p->s->phone, it->u.push.scim_id, get_cb, it);
			else
				ext_lookup(it, it->o.email);
			continue;
		}
		if (it->act == PUSH_DEACTIVATE && deleting(p)) {
			p->outstanding++;
			sync_progress_sent(p->s, 1);
			phone_delete_user(p->s->phone, it->u.push.scim_id, delete_cb, it);
			continue;
		}
		p->bulk[b].extension_id = strtoll(it->u.push.ext_id, NULL, 10);
		p->bulk[b].profile = it->act == PUSH_UPDATE ? &it->prof : NULL;
		/* the batch create set the number already */
		p->bulk[b].extension_number = it->act == PUSH_UPDATE &&
		    it->u.push.completing && p->s->cfg->telephony.create_method !=
		    CONFIG_CREATE_BATCH ? it->ext_number : NULL;
		p->bulk[b].site_id = it->act == PUSH_UPDATE ? it->site_id : NULL;
		p->bulk[b].status = it->act == PUSH_DEACTIVATE ? "Disabled" :
		    it->u.push.active ? NULL : "Enabled";
		p->bulk_idx[b++] = i;
	}
	if (b > 0) {
		p->outstanding++;
		sync_progress_sent(p->s, b);
		phone_bulk_update(p->s->phone, p->bulk, b, bulk_cb, p);
	}
	item_finished(p);
}

/* photos_done: the uploads are done: the pass ends (sync_photos.c). */
static void
photos_done(void *arg)
{
	push_finish(arg);
}

/* roles_done: the assignments are done (sync_roles.c): the photos next. */
static void
roles_done(void *arg)
{
	struct push *p = arg;

	if (sync_photos_push(p->s, photos_done, p) == 0)
		push_finish(p);
}

static void
numbers_page(const struct phone_extension *v, size_t n, void *arg)
{
	struct push *p = arg;

	for (size_t i = 0; i < n; i++)
		sync_numbers_note(p->s, &p->taken, v[i].extension_number);
}

static void
numbers_done(const struct phone_error *e, void *arg)
{
	struct push *p = arg;

	if (e->kind == PHONE_OK)
		sync_numbers_listed(p->s, &p->taken, p->list_started);
	else
		log_warning("cannot list the extension numbers before giving one: "
		    "a number in use is found at the create error=%s",
		    log_q(e->detail));
	free(p->taken.v);
	memset(&p->taken, 0, sizeof(p->taken));
	round_send(p);
}

/*
 * numbers_first: extension_range gives numbers from the account's list:
 * before the first create, when no import has listed them yet, one
 * listing of every extension (Medium pages). 1 when it was started.
 */
static int
numbers_first(struct push *p)
{
	if (p->numbers_checked || p->s->cfg->nranges == 0)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].act == PUSH_CREATE) {
			p->numbers_checked = 1;
			if (sync_numbers_known(p->s))
				return 0;
			p->list_started = (long long)ev_now(p->s->loop);
			phone_list_extensions(p->s->phone, NULL, numbers_page,
			    numbers_done, p);
			return 1;
		}
	return 0;
}

static void
round_start(struct push *p)
{
	round_free(p);
	if (p->stop || p->s->stopping) {
		push_finish(p);
		return;
	}
	if (budget_wait(p))
		return;
	collect(p);
	if (p->n > 0 && !p->custom_fetched && !p->s->dry_run &&
	    custom_unknown(p->s) != NULL) {
		p->custom_fetched = 1; /* once a phase: ids of custom.<name> */
		phone_custom_fields(p->s->phone, custom_cb, p);
		return; /* custom_cb starts the round again */
	}
	if (p->s->dry_run)
		round_dry_run(p);
	else if (p->n == 0 && sync_roles_push(p->s, roles_done, p) == 0)
		roles_done(p);
	else if (p->n > 0) {
		/* a user linked now may be one a [roles] rule names, or one
		 * whose photo waited for the link */
		p->s->roles_dirty = p->s->roles_dirty || p->s->cfg->roles.n > 0;
		p->s->photos_dirty = p->s->photos_dirty ||
		    p->s->cfg->photo_attr != NULL;
		if (!numbers_first(p))
			round_send(p);
	}
}

void
sync_push_start(struct sync *s)
{
	struct push *p = xcalloc(1, sizeof(*p));

	p->s = s;
	ev_timer_init(&p->wait, wait_cb, 0., 0.);
	p->wait.data = p;
	s->push = p;
	round_start(p);
}

void
sync_push_abort(struct sync *s)
{
	struct push *p = s->push;

	if (p == NULL)
		return;
	/* The caller cancelled the phone client's calls first (lanes_abort
	 * in sync.c); the outbox keeps every entry not yet settled. */
	ev_timer_stop(s->loop, &p->wait);
	round_free(p);
	free(p->taken.v);
	free(p);
	s->push = NULL;
	sync_roles_abort(s);
	sync_photos_abort(s);
}

/*
 * record: the store's typed records (record.h). JSON is this file's
 * business alone: each record type has one encoder and one decoder, and
 * the decoder is the validator (a field of the wrong type, an unknown
 * hold, an active outbox entry without a profile: the record is invalid).
 */
#include "record.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "util.h"

static const char *const part_names[] = { "ad", "push", "import", "wb" };

/* ------------------------------------------------------------ reading */

/* A decoder's cursor over one JSON object: the first bad field is kept. */
struct rdr {
	const json_t *o;
	const char *bad;
};

static const json_t *
r_get(struct rdr *r, const char *k)
{
	const json_t *v = json_object_get(r->o, k);

	return v == NULL || json_is_null(v) ? NULL : v;
}

static void
r_fail(struct rdr *r, const char *k)
{
	if (r->bad == NULL)
		r->bad = k;
}

static char *
r_str(struct rdr *r, const char *k)
{
	const json_t *v = r_get(r, k);

	if (v != NULL && !json_is_string(v))
		r_fail(r, k);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int
r_bool(struct rdr *r, const char *k)
{
	const json_t *v = r_get(r, k);

	if (v != NULL && !json_is_boolean(v))
		r_fail(r, k);
	return json_is_true(v);
}

static unsigned long long
r_uint(struct rdr *r, const char *k)
{
	const json_t *v = r_get(r, k);

	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0))
		r_fail(r, k);
	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (unsigned long long)json_integer_value(v) : 0;
}

static void
r_hash(struct rdr *r, const char *k, char out[PROFILE_HASH_LEN + 1])
{
	const json_t *v = r_get(r, k);

	out[0] = '\0';
	if (v == NULL)
		return;
	if (!json_is_string(v) || json_string_length(v) > PROFILE_HASH_LEN)
		r_fail(r, k);
	else
		snprintf(out, PROFILE_HASH_LEN + 1, "%s", json_string_value(v));
}

/* r_part: a sub-object (borrowed), or an empty reader when absent. */
static struct rdr
r_part(struct rdr *r, const char *k)
{
	struct rdr p = { json_object_get(r->o, k), NULL };

	if (p.o != NULL && !json_is_object(p.o))
		r_fail(r, k);
	if (!json_is_object(p.o))
		p.o = NULL;
	return p;
}

/* r_strings: an object whose values are all strings (a new reference). */
static json_t *
r_strings(struct rdr *r, const json_t *v, const char *k)
{
	const char *name;
	json_t *x;

	if (v == NULL)
		return json_object();
	if (!json_is_object(v)) {
		r_fail(r, k);
		return json_object();
	}
	json_object_foreach((json_t *)v, name, x)
		if (!json_is_string(x)) {
			r_fail(r, k);
			return json_object();
		}
	return json_deep_copy(v);
}

static void
r_error(struct rdr *r, struct record_error *e)
{
	e->msg = r_str(r, "error");
	e->at = r_uint(r, "error_at");
	e->failures = (unsigned int)r_uint(r, "failures");
}

/* r_done: 0, or -1 with err naming the first bad field. */
static int
r_done(const struct rdr *r, const char *part, char *err, size_t errlen)
{
	if (r->bad == NULL)
		return 0;
	return util_errbuf_set(err, errlen, "%s%s%s: wrong type", part ? part : "",
	    part ? "." : "", r->bad);
}

/* ------------------------------------------------------------ writing */

static void
w_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, k, json_string(v));
}

static void
w_flag(json_t *o, const char *k, int v)
{
	if (v)
		json_object_set_new(o, k, json_true());
}

static void
w_uint(json_t *o, const char *k, unsigned long long v)
{
	if (v)
		json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void
w_error(json_t *o, const struct record_error *e)
{
	w_str(o, "error", e->msg);
	if (e->msg != NULL)
		w_uint(o, "error_at", e->at);
	w_uint(o, "failures", e->failures);
}

/* ------------------------------------------------------------ errors */

unsigned long long
record_stamp(void)
{
	static unsigned long long last;
	struct timeval tv;
	unsigned long long now;

	gettimeofday(&tv, NULL);
	now = (unsigned long long)tv.tv_sec * 1000000ULL +
	    (unsigned long long)tv.tv_usec;
	last = now > last ? now : last + 1;
	return last;
}

void
record_error_set(struct record_error *e, const char *msg)
{
	util_str_set(&e->msg, msg);
	e->at = record_stamp();
}

void
record_error_clear(struct record_error *e)
{
	free(e->msg);
	e->msg = NULL;
	e->at = 0;
	e->failures = 0;
}

/* ------------------------------------------------------------ users */

static json_t *
ad_to_json(const struct record_ad *a)
{
	json_t *o = json_object();

	w_str(o, "dn", a->dn);
	w_str(o, "email", a->email);
	w_flag(o, "disabled", a->disabled);
	w_flag(o, "deleted", a->deleted);
	w_error(o, &a->err);
	w_str(o, "cost_center_said", a->cost_center_said);
	if (a->wb_seen != NULL) {
		json_object_set(o, "wb_seen", a->wb_seen);
		w_uint(o, "wb_seen_at", a->wb_seen_at);
	}
	return o;
}

static json_t *
push_to_json(const struct record_push *p)
{
	json_t *o = json_object();

	w_str(o, "scim_id", p->scim_id);
	w_str(o, "ext_id", p->ext_id);
	json_object_set_new(o, "active", json_boolean(p->active));
	w_uint(o, "link", p->link);
	w_flag(o, "creating", p->creating);
	w_flag(o, "completing", p->completing);
	if (p->pushed[0])
		w_str(o, "pushed", p->pushed);
	if (p->failed[0])
		w_str(o, "failed", p->failed);
	if (p->profile != NULL)
		json_object_set(o, "profile", p->profile);
	w_str(o, "cost_center", p->cost_center);
	w_str(o, "ext_alloc", p->ext_alloc);
	w_error(o, &p->err);
	return o;
}

static json_t *
import_to_json(const struct record_import *i)
{
	json_t *o = json_object();

	w_str(o, "ext_id", i->ext_id);
	w_str(o, "paired", i->paired);
	w_flag(o, "enabled", i->enabled);
	w_uint(o, "link", i->link);
	w_str(o, "direct_number", i->direct_number);
	w_str(o, "extension_number", i->extension_number);
	if (i->phone_hash[0] != '\0')
		w_str(o, "phone_hash", i->phone_hash);
	w_error(o, &i->err);
	return o;
}

static json_t *
written_to_json(const struct record_written *w)
{
	json_t *o = json_object();

	if (w->attrs != NULL && json_object_size(w->attrs) > 0)
		json_object_set(o, "written", w->attrs);
	w_uint(o, "at", w->at);
	w_error(o, &w->err);
	return o;
}

json_t *
record_user_to_json(const struct record_user *u)
{
	json_t *o = json_object();

	json_object_set_new(o, "ad", ad_to_json(&u->ad));
	json_object_set_new(o, "push", push_to_json(&u->push));
	json_object_set_new(o, "import", import_to_json(&u->imp));
	json_object_set_new(o, "wb", written_to_json(&u->wb));
	return o;
}

/* user_v1: the flat shape of schema version 1, into the parts. */
static void
user_v1(struct rdr *r, struct record_user *u)
{
	u->ad.dn = r_str(r, "dn");
	u->ad.email = r_str(r, "email");
	u->ad.disabled = r_bool(r, "ad_disabled");
	u->ad.deleted = r_bool(r, "ad_deleted");
	/* Version 1 knew one id, the pusher's: a SCIM user's. */
	u->push.scim_id = r_str(r, "phone_id");
	u->push.active = r_bool(r, "phone_active");
	u->push.link = 1; /* the only link there was */
	u->push.creating = r_bool(r, "creating");
	r_hash(r, "pushed", u->push.pushed);
	r_hash(r, "failed", u->push.failed);
	/* The one shared error: the pusher's lane is where most came from. */
	u->push.err.msg = r_str(r, "last_error");
	u->push.err.at = u->push.err.msg != NULL;
	u->push.err.failures = (unsigned int)r_uint(r, "failures");
	u->imp.direct_number = r_str(r, "direct_number");
	u->imp.extension_number = r_str(r, "extension_number");
	u->wb.attrs = r_strings(r, r_get(r, "wb"), "wb");
}

/*
 * ids_v3: schema versions 2 and 3 kept one phone_id per link part,
 * taking the SCIM user id for the extension id. The importer's came from
 * the extension list: an extension id. The pusher's was a SCIM id from a
 * search or a create, or the importer's taken over: an extension id only
 * where it is the importer's too.
 */
static void
ids_v3(struct rdr *p, struct rdr *i, struct record_user *u)
{
	char *push_id = r_str(p, "phone_id");

	u->imp.ext_id = r_str(i, "phone_id");
	if (push_id != NULL && u->imp.ext_id != NULL &&
	    strcmp(push_id, u->imp.ext_id) == 0)
		u->push.ext_id = push_id;
	else
		u->push.scim_id = push_id;
}

static int
user_v2(struct rdr *r, struct record_user *u, char *err, size_t errlen)
{
	struct rdr a = r_part(r, "ad"), p = r_part(r, "push"),
	    i = r_part(r, "import"), w = r_part(r, "wb");

	u->ad.dn = r_str(&a, "dn");
	u->ad.email = r_str(&a, "email");
	u->ad.disabled = r_bool(&a, "disabled");
	u->ad.deleted = r_bool(&a, "deleted");
	r_error(&a, &u->ad.err);
	u->ad.cost_center_said = r_str(&a, "cost_center_said");
	/* Absent in stores older than the field: not known, read first. */
	if (r_get(&a, "wb_seen") != NULL)
		u->ad.wb_seen = r_strings(&a, r_get(&a, "wb_seen"), "wb_seen");
	u->ad.wb_seen_at = r_uint(&a, "wb_seen_at");
	if (r_get(&p, "phone_id") != NULL || r_get(&i, "phone_id") != NULL) {
		ids_v3(&p, &i, u);
	} else {
		u->push.scim_id = r_str(&p, "scim_id");
		u->push.ext_id = r_str(&p, "ext_id");
		u->imp.ext_id = r_str(&i, "ext_id");
		u->imp.paired = r_str(&i, "paired");
	}
	u->push.active = r_bool(&p, "active");
	u->push.link = r_uint(&p, "link");
	u->push.creating = r_bool(&p, "creating");
	u->push.completing = r_bool(&p, "completing");
	r_hash(&p, "pushed", u->push.pushed);
	r_hash(&p, "failed", u->push.failed);
	if (r_get(&p, "profile") != NULL)
		u->push.profile = r_strings(&p, r_get(&p, "profile"), "profile");
	u->push.cost_center = r_str(&p, "cost_center");
	u->push.ext_alloc = r_str(&p, "ext_alloc");
	r_error(&p, &u->push.err);
	u->imp.enabled = r_bool(&i, "enabled");
	u->imp.link = r_uint(&i, "link");
	u->imp.direct_number = r_str(&i, "direct_number");
	u->imp.extension_number = r_str(&i, "extension_number");
	r_hash(&i, "phone_hash", u->imp.phone_hash);
	r_error(&i, &u->imp.err);
	u->wb.attrs = r_strings(&w, r_get(&w, "written"), "written");
	u->wb.at = r_uint(&w, "at");
	r_error(&w, &u->wb.err);
	if (r_done(&a, "ad", err, errlen) < 0 || r_done(&p, "push", err,
	    errlen) < 0 || r_done(&i, "import", err, errlen) < 0 ||
	    r_done(&w, "wb", err, errlen) < 0)
		return -1;
	return 0;
}

/*
 * is_v1: the flat shape of version 1, which always had phone_active at
 * the top (the current shape never has it), or a record with no part.
 */
static int
is_v1(const json_t *j)
{
	if (json_object_get(j, "phone_active") != NULL)
		return 1;
	for (size_t i = 0; i < sizeof(part_names) / sizeof(part_names[0]); i++)
		if (json_object_get(j, part_names[i]) != NULL)
			return 0;
	return 1;
}

int
record_user_from_json(const char *guid, const json_t *j,
    struct record_user *u, char *err, size_t errlen)
{
	struct rdr r = { j, NULL };
	int rc;

	memset(u, 0, sizeof(*u));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "not an object");
	if (strlen(guid) > AD_GUID_LEN)
		return util_errbuf_set(err, errlen, "key too long for an objectGUID");
	snprintf(u->guid, sizeof(u->guid), "%s", guid);
	if (is_v1(j)) {
		user_v1(&r, u);
		rc = 0;
	} else {
		rc = user_v2(&r, u, err, errlen);
	}
	if (rc == 0)
		rc = r_done(&r, NULL, err, errlen);
	if (rc < 0)
		record_user_clear(u);
	return rc;
}

void
record_user_clear(struct record_user *u)
{
	if (u == NULL)
		return;
	free(u->ad.dn);
	free(u->ad.email);
	free(u->ad.err.msg);
	free(u->ad.cost_center_said);
	json_decref(u->ad.wb_seen);
	free(u->push.scim_id);
	free(u->push.ext_id);
	free(u->push.err.msg);
	json_decref(u->push.profile);
	free(u->push.cost_center);
	free(u->push.ext_alloc);
	free(u->imp.ext_id);
	free(u->imp.paired);
	free(u->imp.direct_number);
	free(u->imp.extension_number);
	free(u->imp.err.msg);
	json_decref(u->wb.attrs);
	free(u->wb.err.msg);
	memset(u, 0, sizeof(*u));
}

/* load: a record's JSON (new reference): 0, 1 absent, -1 with err. */
static int
load(struct store_txn *txn, enum store_db db, const char *key, json_t **out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	const void *v;
	size_t len;
	int rc = store_get(txn, db, key, &v, &len);

	*out = NULL;
	if (rc != 0)
		return rc < 0 ? util_errbuf_set(err, errlen, "cannot read") : 1;
	if ((*out = json_loadb(v, len, 0, &jerr)) == NULL)
		return util_errbuf_set(err, errlen, "not JSON: %s", jerr.text);
	return 0;
}

/*
 * The user record the last get read, as stored (current shape), with its
 * transaction: a part put of the same user in the same transaction starts
 * from it instead of reading and decoding the record again (the scan gets
 * and puts a part of every user it meets). A put keeps it up to date; a
 * failed put or a delete drops it.
 */
static struct {
	unsigned long long txn;
	char guid[AD_GUID_LEN + 1];
	json_t *j;                    /* owned, or NULL */
} last;

static void
last_set(struct store_txn *txn, const char *guid, json_t *j)
{
	json_decref(last.j);
	last.j = j != NULL ? json_incref(j) : NULL;
	last.txn = store_txn_serial(txn);
	snprintf(last.guid, sizeof(last.guid), "%s", guid);
}

/* last_get: the cached record of guid in txn (a new reference), or NULL. */
static json_t *
last_get(struct store_txn *txn, const char *guid)
{
	if (last.j == NULL || last.txn != store_txn_serial(txn) ||
	    strcmp(last.guid, guid) != 0)
		return NULL;
	return json_incref(last.j);
}

int
record_user_get(struct store_txn *txn, const char *guid,
    struct record_user *u, char *err, size_t errlen)
{
	json_t *j;
	int rc = load(txn, STORE_USERS, guid, &j, err, errlen);

	memset(u, 0, sizeof(*u));
	if (rc == 0)
		rc = record_user_from_json(guid, j, u, err, errlen);
	last_set(txn, guid, rc == 0 && !is_v1(j) ? j : NULL);
	json_decref(j);
	return rc;
}

int
record_user_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen)
{
	last_set(txn, guid, NULL);
	return store_del(txn, STORE_USERS, guid, err, errlen);
}

/*
 * stored: guid's record in the current shape (new reference; an empty
 * object when absent or unreadable: the put then starts it afresh). A
 * record of the current shape is taken as it is: a put replaces its own
 * part and keeps the others byte for byte, without decoding them (the
 * scan puts a part of every user it meets). A version-1 record goes
 * through the decoder.
 */
static json_t *
stored(struct store_txn *txn, const char *guid)
{
	struct record_user u;
	json_t *j = last_get(txn, guid);

	if (j != NULL)
		return j;
	if (store_get_json(txn, STORE_USERS, guid, &j, NULL, 0) != 0)
		return json_object();
	if (json_is_object(j) && !is_v1(j))
		return j;
	if (record_user_from_json(guid, j, &u, NULL, 0) != 0) {
		json_decref(j);
		return json_object();
	}
	json_decref(j);
	j = record_user_to_json(&u);
	record_user_clear(&u);
	return j;
}

static unsigned long long
stored_link(const json_t *rec, const char *part)
{
	json_int_t v = json_integer_value(json_object_get(json_object_get(rec,
	    part), "link"));

	return v > 0 ? (unsigned long long)v : 0;
}

/* part_put: part (stolen) replaces its namesake in rec (stolen). */
static int
part_put(struct store_txn *txn, const char *guid, json_t *rec,
    const char *name, json_t *part, char *err, size_t errlen)
{
	int rc = 0;

	/* The same part again (an import that found nothing new): no write. */
	if (json_equal(json_object_get(rec, name), part))
		json_decref(part);
	else {
		/* rec may be the cached record: it is what the store holds now */
		json_object_set_new(rec, name, part);
		rc = store_put_json(txn, STORE_USERS, guid, rec, err, errlen);
		last_set(txn, guid, rc == 0 ? rec : NULL);
	}
	json_decref(rec);
	return rc;
}

int
record_ad_put(struct store_txn *txn, const char *guid,
    const struct record_ad *a, char *err, size_t errlen)
{
	return part_put(txn, guid, stored(txn, guid), "ad", ad_to_json(a), err,
	    errlen);
}

/* same_id: the stored id v (or its absence) is id. */
static int
same_id(const json_t *v, const char *id)
{
	const char *was = json_string_value(v);

	return was == NULL ? id == NULL : id != NULL && strcmp(was, id) == 0;
}

int
record_push_put(struct store_txn *txn, const char *guid,
    struct record_push *p, char *err, size_t errlen)
{
	json_t *rec = stored(txn, guid), *was = json_object_get(rec, "push");
	unsigned long long a = stored_link(rec, "push"),
	    b = stored_link(rec, "import");

	p->link = a;
	if (!same_id(json_object_get(was, "scim_id"), p->scim_id) ||
	    !same_id(json_object_get(was, "ext_id"), p->ext_id) ||
	    json_is_true(json_object_get(was, "active")) != (p->active != 0))
		p->link = (a > b ? a : b) + 1;
	return part_put(txn, guid, rec, "push", push_to_json(p), err, errlen);
}

int
record_import_put(struct store_txn *txn, const char *guid,
    struct record_import *i, char *err, size_t errlen)
{
	json_t *rec = stored(txn, guid);

	i->link = stored_link(rec, "import");
	return part_put(txn, guid, rec, "import", import_to_json(i), err, errlen);
}

int
record_import_link(struct store_txn *txn, const char *guid,
    struct record_import *i, char *err, size_t errlen)
{
	json_t *rec = stored(txn, guid);
	unsigned long long a = stored_link(rec, "push"),
	    b = stored_link(rec, "import");

	i->link = (a > b ? a : b) + 1;
	return part_put(txn, guid, rec, "import", import_to_json(i), err, errlen);
}

int
record_written_put(struct store_txn *txn, const char *guid,
    const struct record_written *w, char *err, size_t errlen)
{
	return part_put(txn, guid, stored(txn, guid), "wb", written_to_json(w),
	    err, errlen);
}

static int
import_linked(const struct record_user *u)
{
	return u->imp.link > u->push.link;
}

/*
 * paired: the importer found the extension of the pusher's SCIM user (by
 * its email): the extension id it found belongs to the pusher's link.
 */
static int
paired(const struct record_user *u)
{
	return u->push.scim_id != NULL && u->imp.paired != NULL &&
	    u->imp.ext_id != NULL && strcmp(u->push.scim_id, u->imp.paired) == 0;
}

const char *
record_user_ext_id(const struct record_user *u)
{
	if (import_linked(u))
		return u->imp.ext_id;
	if (u->push.ext_id != NULL)
		return u->push.ext_id;
	return paired(u) ? u->imp.ext_id : NULL;
}

const char *
record_user_scim_id(const struct record_user *u)
{
	return import_linked(u) ? NULL : u->push.scim_id;
}

const char *
record_user_phone_id(const struct record_user *u)
{
	const char *ext = record_user_ext_id(u);

	return ext != NULL ? ext : record_user_scim_id(u);
}

int
record_user_active(const struct record_user *u)
{
	return import_linked(u) ? u->imp.enabled : u->push.active;
}

void
record_user_adopt(struct record_user *u)
{
	if (!import_linked(u)) {
		if (u->push.ext_id == NULL && paired(u))
			util_str_set(&u->push.ext_id, u->imp.ext_id);
		return;
	}
	/* The importer knows the extension only: the SCIM id is learned
	 * when a SCIM call needs it. */
	util_str_set(&u->push.ext_id, u->imp.ext_id);
	util_str_set(&u->push.scim_id, NULL);
	u->push.active = u->imp.enabled;
}

const struct record_error *
record_user_error(const struct record_user *u)
{
	const struct record_error *e[] = { &u->ad.err, &u->push.err,
		&u->imp.err, &u->wb.err }, *best = NULL;

	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		if (e[i]->msg != NULL && (best == NULL || e[i]->at > best->at))
			best = e[i];
	return best;
}

/* ------------------------------------------------------------ outbox */

static const char *const hold_names[] = { NULL, "held", "review" };

json_t *
record_out_to_json(const struct record_out *o)
{
	json_t *j = json_object();

	json_object_set_new(j, "seq", json_integer((json_int_t)o->seq));
	json_object_set_new(j, "active", json_boolean(o->active));
	w_str(j, "reason", o->reason);
	w_str(j, "dn", o->dn);
	w_str(j, "email", o->email);
	if (o->profile != NULL)
		json_object_set(j, "profile", o->profile);
	if (o->create != NULL)
		json_object_set(j, "create", o->create);
	if (o->hash[0])
		w_str(j, "hash", o->hash);
	if (o->push_hash[0])
		w_str(j, "push_hash", o->push_hash);
	w_uint(j, "attempts", o->attempts);
	if (o->not_before)
		json_object_set_new(j, "not_before", json_integer(o->not_before));
	if (o->held > RECORD_HOLD_NONE && o->held <= RECORD_HOLD_REVIEW)
		w_str(j, "hold", hold_names[o->held]);
	json_object_set_new(j, "cycle", json_integer((json_int_t)o->cycle));
	return j;
}

/* out_hold: "hold" by name, or version 1's "held" number. */
static void
out_hold(struct rdr *r, struct record_out *o)
{
	const json_t *v = r_get(r, "hold");
	unsigned long long n;

	if (v != NULL) {
		const char *s = json_string_value(v);

		if (s != NULL && strcmp(s, "held") == 0)
			o->held = RECORD_HOLD_HELD;
		else if (s != NULL && strcmp(s, "review") == 0)
			o->held = RECORD_HOLD_REVIEW;
		else
			r_fail(r, "hold");
		return;
	}
	if ((n = r_uint(r, "held")) > RECORD_HOLD_REVIEW)
		r_fail(r, "held");
	else
		o->held = (enum record_hold)n;
}

int
record_out_from_json(const char *guid, const json_t *j,
    struct record_out *o, char *err, size_t errlen)
{
	struct rdr r = { j, NULL };
	const json_t *p;

	memset(o, 0, sizeof(*o));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "not an object");
	if (strlen(guid) > AD_GUID_LEN)
		return util_errbuf_set(err, errlen, "key too long for an objectGUID");
	snprintf(o->guid, sizeof(o->guid), "%s", guid);
	o->seq = r_uint(&r, "seq");
	o->active = r_bool(&r, "active");
	o->reason = r_str(&r, "reason");
	o->dn = r_str(&r, "dn");
	o->email = r_str(&r, "email");
	if ((p = r_get(&r, "profile")) != NULL && !json_is_object(p))
		r_fail(&r, "profile");
	o->profile = json_is_object(p) ? json_deep_copy(p) : NULL;
	if ((p = r_get(&r, "create")) != NULL && !json_is_object(p))
		r_fail(&r, "create");
	o->create = json_is_object(p) ? json_deep_copy(p) : NULL;
	r_hash(&r, "hash", o->hash);
	r_hash(&r, "push_hash", o->push_hash);
	o->attempts = (unsigned int)r_uint(&r, "attempts");
	if ((p = r_get(&r, "not_before")) != NULL && !json_is_integer(p))
		r_fail(&r, "not_before");
	o->not_before = json_integer_value(p);
	out_hold(&r, o);
	o->cycle = r_uint(&r, "cycle");
	if (r_done(&r, NULL, err, errlen) < 0 || (o->active &&
	    o->profile == NULL && util_errbuf_set(err, errlen, "an active entry "
	    "without a profile") < 0)) {
		record_out_clear(o);
		return -1;
	}
	return 0;
}

int
record_out_get(struct store_txn *txn, const char *guid,
    struct record_out *o, char *err, size_t errlen)
{
	json_t *j;
	int rc = load(txn, STORE_OUTBOX, guid, &j, err, errlen);

	memset(o, 0, sizeof(*o));
	if (rc == 0)
		rc = record_out_from_json(guid, j, o, err, errlen);
	json_decref(j);
	return rc;
}

int
record_out_put(struct store_txn *txn, const struct record_out *o, char *err,
    size_t errlen)
{
	json_t *j = record_out_to_json(o);
	int rc = store_put_json(txn, STORE_OUTBOX, o->guid, j, err, errlen);

	json_decref(j);
	return rc;
}

int
record_out_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen)
{
	return store_del(txn, STORE_OUTBOX, guid, err, errlen);
}

void
record_out_clear(struct record_out *o)
{
	if (o == NULL)
		return;
	free(o->reason);
	free(o->dn);
	free(o->email);
	json_decref(o->profile);
	json_decref(o->create);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------ write-back */

int
record_wb_from_json(const char *guid, const json_t *j, struct record_wb *q,
    char *err, size_t errlen)
{
	struct rdr r = { j, NULL };

	memset(q, 0, sizeof(*q));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "not an object");
	if (strlen(guid) > AD_GUID_LEN)
		return util_errbuf_set(err, errlen, "key too long for an objectGUID");
	snprintf(q->guid, sizeof(q->guid), "%s", guid);
	q->attrs = r_strings(&r, j, "attributes");
	if (r_done(&r, NULL, err, errlen) < 0) {
		record_wb_clear(q);
		return -1;
	}
	return 0;
}

int
record_wb_get(struct store_txn *txn, const char *guid, struct record_wb *q,
    char *err, size_t errlen)
{
	json_t *j;
	int rc = load(txn, STORE_WRITEBACK, guid, &j, err, errlen);

	memset(q, 0, sizeof(*q));
	if (rc == 0)
		rc = record_wb_from_json(guid, j, q, err, errlen);
	json_decref(j);
	return rc;
}

int
record_wb_put(struct store_txn *txn, const struct record_wb *q, char *err,
    size_t errlen)
{
	return store_put_json(txn, STORE_WRITEBACK, q->guid, q->attrs, err,
	    errlen);
}

int
record_wb_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen)
{
	return store_del(txn, STORE_WRITEBACK, guid, err, errlen);
}

void
record_wb_clear(struct record_wb *q)
{
	if (q == NULL)
		return;
	json_decref(q->attrs);
	memset(q, 0, sizeof(*q));
}

/* ------------------------------------------------------------ walks */

/* The callback of a walk, by record type. */
struct walk_cb {
	record_user_cb *user;
	record_out_cb *out;
	record_wb_cb *wb;
};

/* One record type as a walk sees it. */
struct walk_type {
	enum store_db db;
	const char *name;
};

static const struct walk_type walk_user = { STORE_USERS, "users" };
static const struct walk_type walk_out = { STORE_OUTBOX, "outbox" };
static const struct walk_type walk_wb = { STORE_WRITEBACK, "writeback" };

/* The records a walk decodes into, one type at a time. */
union walk_rec {
	struct record_user u;
	struct record_out o;
	struct record_wb q;
};

static int
decode(const struct walk_type *t, const char *key, const json_t *j,
    union walk_rec *rec, char *err, size_t errlen)
{
	if (t->db == STORE_USERS)
		return record_user_from_json(key, j, &rec->u, err, errlen);
	if (t->db == STORE_OUTBOX)
		return record_out_from_json(key, j, &rec->o, err, errlen);
	return record_wb_from_json(key, j, &rec->q, err, errlen);
}

/* call: the callback on rec, which is then cleared. */
static int
call(const struct walk_type *t, const struct walk_cb *cb, union walk_rec *rec,
    void *arg)
{
	int rc;

	if (t->db == STORE_USERS) {
		rc = cb->user(&rec->u, arg);
		record_user_clear(&rec->u);
	} else if (t->db == STORE_OUTBOX) {
		rc = cb->out(&rec->o, arg);
		record_out_clear(&rec->o);
	} else {
		rc = cb->wb(&rec->q, arg);
		record_wb_clear(&rec->q);
	}
	return rc;
}

/* decode_raw: one stored value; 0, or -1 after logging it as invalid. */
static int
decode_raw(const struct walk_type *t, const char *key, const void *v,
    size_t vl, union walk_rec *rec)
{
	json_error_t jerr;
	char err[256];
	json_t *j = json_loadb(v, vl, 0, &jerr);
	int rc;

	if (j == NULL)
		rc = util_errbuf_set(err, sizeof(err), "not JSON: %s", jerr.text);
	else
		rc = decode(t, key, j, rec, err, sizeof(err));
	json_decref(j);
	if (rc < 0)
		log_warning("invalid record skipped db=%s key=%s error=%s", t->name,
		    log_q(key), log_q(err));
	return rc;
}

static int
walk(struct store_txn *txn, struct record_walk *w, const struct walk_type *t,
    const struct walk_cb *cb)
{
	union walk_rec rec;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;
	int rc = 0, n;

	if (store_iter_open(txn, t->db, w->start, &it) < 0)
		return -1;
	while (rc == 0 && (n = store_iter_next(it, &k, &kl, &v, &vl)) != 0) {
		char key[512];

		if (n < 0) {
			rc = -1;
			break;
		}
		snprintf(key, sizeof(key), "%.*s", (int)kl, k);
		if (w->want != NULL && !w->want(key, w->arg))
			continue;
		if (decode_raw(t, key, v, vl, &rec) < 0) {
			w->invalid++;
			continue;
		}
		rc = call(t, cb, &rec, w->arg);
	}
	store_iter_close(it);
	return rc < 0 ? -1 : rc > 0;
}

int
record_user_walk(struct store_txn *txn, struct record_walk *w,
    record_user_cb *cb)
{
	struct walk_cb c = { .user = cb };

	return walk(txn, w, &walk_user, &c);
}

int
record_out_walk(struct store_txn *txn, struct record_walk *w,
    record_out_cb *cb)
{
	struct walk_cb c = { .out = cb };

	return walk(txn, w, &walk_out, &c);
}

int
record_wb_walk(struct store_txn *txn, struct record_walk *w, record_wb_cb *cb)
{
	struct walk_cb c = { .wb = cb };

	return walk(txn, w, &walk_wb, &c);
}

/* ------------------------------------------------------------ emails */

char *
record_email_owner(struct store_txn *txn, const char *email)
{
	const void *v;
	size_t len;

	if (email == NULL || *email == '\0' ||
	    store_get(txn, STORE_EMAILS, email, &v, &len) != 0)
		return NULL;
	return xstrndup(v, len);
}

int
record_email_put(struct store_txn *txn, const char *email, const char *guid,
    char *err, size_t errlen)
{
	return store_put(txn, STORE_EMAILS, email, guid, strlen(guid), err,
	    errlen);
}

int
record_email_del(struct store_txn *txn, const char *email, char *err,
    size_t errlen)
{
	return store_del(txn, STORE_EMAILS, email, err, errlen);
}

/* ------------------------------------------------------------ migration */

struct migrate {
	struct store_txn *txn;
	char err[256];                /* why a put failed */
};

static int
migrate_user(struct record_user *u, void *arg)
{
	struct migrate *m = arg;
	json_t *j = record_user_to_json(u);
	int rc = store_put_json(m->txn, STORE_USERS, u->guid, j, m->err,
	    sizeof(m->err));

	json_decref(j);
	return rc;
}

static int
migrate_out(struct record_out *o, void *arg)
{
	struct migrate *m = arg;

	return record_out_put(m->txn, o, m->err, sizeof(m->err));
}

int
record_migrate(struct store_txn *txn, int from, unsigned int *invalid,
    char *err, size_t errlen)
{
	struct migrate m = { txn, "" };
	struct record_walk wu = { NULL, &m, 0, NULL },
	    wo = { NULL, &m, 0, NULL };

	*invalid = 0;
	/*
	 * Version 1 -> 2: users split by owner, holds by name. 2 -> 3 adds
	 * the members database (created at the writable open). 3 -> 4: the
	 * SCIM id and the extension id apart (ids_v3). The write-back queue
	 * and the email index keep their shapes.
	 */
	if (from >= STORE_SCHEMA_VERSION)
		return 0;
	if (record_user_walk(txn, &wu, migrate_user) < 0 ||
	    (from < 2 && record_out_walk(txn, &wo, migrate_out) < 0)) {
		*invalid = wu.invalid + wo.invalid;
		return util_errbuf_set(err, errlen, "cannot migrate the records of "
		    "schema version %d: %s", from, m.err[0] ? m.err :
		    "cannot read them");
	}
	*invalid = wu.invalid + wo.invalid;
	log_notice("state store records migrated from=%d to=%d invalid=%u", from,
	    STORE_SCHEMA_VERSION, *invalid);
	return 0;
}

/* ------------------------------------------------------------ cycles */

static const char *const cycle_keys[] = {
	[RECORD_CYCLE_SCAN] = "cycle.scan",
	[RECORD_CYCLE_IMPORT] = "cycle.import",
	[RECORD_CYCLE_FULL] = "cycle.full",
};

/* The counters, in the record's order: name and offset in the struct. */
static const struct {
	const char *name;
	size_t off;
} cycle_counts[] = {
	{ "scanned", offsetof(struct record_cycle, scanned) },
	{ "created", offsetof(struct record_cycle, created) },
	{ "linked", offsetof(struct record_cycle, linked) },
	{ "updated", offsetof(struct record_cycle, updated) },
	{ "deactivated", offsetof(struct record_cycle, deactivated) },
	{ "held", offsetof(struct record_cycle, held) },
	{ "written_back", offsetof(struct record_cycle, written_back) },
	{ "failed", offsetof(struct record_cycle, failed) },
};

#define CYCLE_COUNT(c, i) \
	((unsigned int *)(void *)((char *)(c) + cycle_counts[i].off))
#define CYCLE_COUNT_OF(c, i) \
	(*(const unsigned int *)(const void *)((const char *)(c) + \
	cycle_counts[i].off))

/* r_buf: a string into a buffer (cut to it); "" when absent. */
static void
r_buf(struct rdr *r, const char *k, char *buf, size_t len)
{
	char *v = r_str(r, k);

	snprintf(buf, len, "%s", v ? v : "");
	free(v);
}

int
record_cycle_get(struct store_txn *txn, enum record_cycle_key k,
    struct record_cycle *c, char *err, size_t errlen)
{
	json_t *j;
	struct rdr r;
	int rc = load(txn, STORE_META, cycle_keys[k], &j, err, errlen);

	memset(c, 0, sizeof(*c));
	if (rc != 0)
		return rc;
	r.o = j;
	r.bad = json_is_object(j) ? NULL : "record";
	r_buf(&r, "kind", c->kind, sizeof(c->kind));
	r_buf(&r, "result", c->result, sizeof(c->result));
	r_buf(&r, "dc", c->dc, sizeof(c->dc));
	r_buf(&r, "usn", c->usn, sizeof(c->usn));
	c->start = (long long)r_uint(&r, "start");
	c->end = (long long)r_uint(&r, "end");
	c->last_ok = (long long)r_uint(&r, "last_ok");
	c->full = r_bool(&r, "full");
	for (size_t i = 0; i < sizeof(cycle_counts) / sizeof(cycle_counts[0]); i++)
		*CYCLE_COUNT(c, i) = (unsigned int)r_uint(&r, cycle_counts[i].name);
	c->api_calls = r_uint(&r, "api_calls");
	json_decref(j);
	rc = r_done(&r, cycle_keys[k], err, errlen);
	if (rc < 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

int
record_progress_get(struct store_txn *txn, struct record_progress *p,
    char *err, size_t errlen)
{
	json_t *j;
	struct rdr r;
	int rc = load(txn, STORE_META, "progress", &j, err, errlen);

	memset(p, 0, sizeof(*p));
	p->left = -1;
	if (rc != 0)
		return rc;
	r.o = j;
	r.bad = json_is_object(j) ? NULL : "record";
	r_buf(&r, "phase", p->phase, sizeof(p->phase));
	p->done = r_uint(&r, "done");
	p->total = r_uint(&r, "total");
	p->per_hour = (unsigned int)r_uint(&r, "per_hour");
	p->left = json_object_get(j, "left") ? (long long)r_uint(&r, "left") : -1;
	p->since = (long long)r_uint(&r, "since");
	p->updated = (long long)r_uint(&r, "updated");
	json_decref(j);
	return r_done(&r, "progress", err, errlen);
}

int
record_progress_put(struct store_txn *txn, const struct record_progress *p,
    char *err, size_t errlen)
{
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "phase", p->phase,
	    "done", (json_int_t)p->done, "total", (json_int_t)p->total, "per_hour",
	    (json_int_t)p->per_hour, "since", (json_int_t)p->since, "updated",
	    (json_int_t)p->updated);
	int rc;

	if (p->left >= 0)
		json_object_set_new(j, "left", json_integer(p->left));
	rc = store_put_json(txn, STORE_META, "progress", j, err, errlen);
	json_decref(j);
	return rc;
}

int
record_progress_del(struct store_txn *txn, char *err, size_t errlen)
{
	return store_del(txn, STORE_META, "progress", err, errlen);
}

/* By enum http_group; the lanes by their index in the record. */
static const char *const budget_groups[RECORD_BUDGET_GROUPS] = {
	"Light", "Medium", "Heavy", "Auth",
};
static const char *const budget_lanes[2] = { "push", "read" };

int
record_budget_get(struct store_txn *txn, struct record_budget *b, char *err,
    size_t errlen)
{
	json_t *j;
	struct rdr r, gs;
	int rc = load(txn, STORE_META, "budget", &j, err, errlen);

	memset(b, 0, sizeof(*b));
	if (rc != 0)
		return rc;
	r.o = j;
	r.bad = json_is_object(j) ? NULL : "record";
	b->read_share = (unsigned int)r_uint(&r, "read_share");
	b->updated = (long long)r_uint(&r, "updated");
	gs = r_part(&r, "groups");
	for (int g = 0; g < RECORD_BUDGET_GROUPS; g++) {
		struct rdr x = r_part(&gs, budget_groups[g]);

		b->g[g].limit = (int)r_uint(&x, "limit");
		b->g[g].window = (int)r_uint(&x, "window");
		for (int l = 0; l < 2; l++) {
			struct rdr y = r_part(&x, budget_lanes[l]);

			b->g[g].sent[l] = (unsigned int)r_uint(&y, "sent");
			b->g[g].queued[l] = (unsigned int)r_uint(&y, "queued");
			if (y.bad != NULL)
				r_fail(&x, y.bad);
		}
		if (x.bad != NULL)
			r_fail(&gs, x.bad);
	}
	if (gs.bad != NULL)
		r_fail(&r, gs.bad);
	json_decref(j);
	return r_done(&r, "budget", err, errlen);
}

int
record_budget_put(struct store_txn *txn, const struct record_budget *b,
    char *err, size_t errlen)
{
	json_t *gs = json_object(), *j;
	int rc;

	for (int g = 0; g < RECORD_BUDGET_GROUPS; g++) {
		const struct record_budget_group *x = &b->g[g];

		json_object_set_new(gs, budget_groups[g], json_pack(
		    "{s:i, s:i, s:{s:I, s:I}, s:{s:I, s:I}}", "limit", x->limit,
		    "window", x->window, "push", "sent", (json_int_t)x->sent[0],
		    "queued", (json_int_t)x->queued[0], "read", "sent",
		    (json_int_t)x->sent[1], "queued", (json_int_t)x->queued[1]));
	}
	j = json_pack("{s:I, s:I, s:o}", "read_share", (json_int_t)b->read_share,
	    "updated", (json_int_t)b->updated, "groups", gs);
	rc = store_put_json(txn, STORE_META, "budget", j, err, errlen);
	json_decref(j);
	return rc;
}

int
record_alerts_get(struct store_txn *txn, const char *const *names, size_t n,
    struct record_alert *v, char *err, size_t errlen)
{
	json_t *j;
	int rc = load(txn, STORE_META, "alerts", &j, err, errlen);

	memset(v, 0, n * sizeof(*v));
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct rdr r = { json_object_get(j, names[i]), NULL };

		if (r.o == NULL)
			continue;
		if (!json_is_object(r.o))
			r.bad = "record";
		v[i].since = (long long)r_uint(&r, "since");
		v[i].sent = (long long)r_uint(&r, "sent");
		v[i].notified = r_bool(&r, "notified");
		rc = r_done(&r, "alerts", err, errlen);
	}
	json_decref(j);
	if (rc < 0)
		memset(v, 0, n * sizeof(*v));
	return rc < 0 ? -1 : 0;
}

int
record_alerts_put(struct store_txn *txn, const char *const *names, size_t n,
    const struct record_alert *v, char *err, size_t errlen)
{
	json_t *j = json_object();
	int rc;

	for (size_t i = 0; i < n; i++)
		json_object_set_new(j, names[i], json_pack("{s:I, s:I, s:b}", "since",
		    (json_int_t)v[i].since, "sent", (json_int_t)v[i].sent, "notified",
		    v[i].notified));
	rc = store_put_json(txn, STORE_META, "alerts", j, err, errlen);
	json_decref(j);
	return rc;
}

int
record_cycle_put(struct store_txn *txn, enum record_cycle_key k,
    const struct record_cycle *c, char *err, size_t errlen)
{
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:b, s:I}",
	    "kind", c->kind, "start", (json_int_t)c->start, "end",
	    (json_int_t)c->end, "last_ok", (json_int_t)c->last_ok, "result",
	    c->result, "dc", c->dc, "usn", c->usn, "full", c->full, "api_calls",
	    (json_int_t)c->api_calls);
	int rc;

	for (size_t i = 0; i < sizeof(cycle_counts) / sizeof(cycle_counts[0]); i++)
		json_object_set_new(j, cycle_counts[i].name,
		    json_integer(CYCLE_COUNT_OF(c, i)));
	rc = store_put_json(txn, STORE_META, cycle_keys[k], j, err, errlen);
	json_decref(j);
	return rc;
}

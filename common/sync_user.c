/*
 * sync_user: the engine's records in the store (JSON): users, outbox
 * entries and the email index.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sync_internal.h"
#include "util.h"

static char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? xstrdup(s) : NULL;
}

static void
jhash(const json_t *o, const char *k, char out[PROFILE_HASH_LEN + 1])
{
	const char *s = json_string_value(json_object_get(o, k));

	snprintf(out, PROFILE_HASH_LEN + 1, "%s", s ? s : "");
}

static void
set_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, k, json_string(v));
}

char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

unsigned long long
next_seq(void)
{
	static unsigned long long last;
	struct timeval tv;
	unsigned long long now;

	gettimeofday(&tv, NULL);
	now = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
	last = now > last ? now : last + 1;
	return last;
}

int
user_from_json(const char *guid, const json_t *o, struct sync_user *u)
{
	json_t *wb;

	memset(u, 0, sizeof(*u));
	if (!json_is_object(o))
		return -1;
	snprintf(u->guid, sizeof(u->guid), "%s", guid);
	u->dn = jstr(o, "dn");
	u->email = jstr(o, "email");
	u->phone_id = jstr(o, "phone_id");
	jhash(o, "pushed", u->pushed);
	jhash(o, "failed", u->failed);
	u->phone_active = json_is_true(json_object_get(o, "phone_active"));
	u->creating = json_is_true(json_object_get(o, "creating"));
	u->ad_disabled = json_is_true(json_object_get(o, "ad_disabled"));
	u->ad_deleted = json_is_true(json_object_get(o, "ad_deleted"));
	u->failures = (unsigned int)json_integer_value(json_object_get(o, "failures"));
	u->last_error = jstr(o, "last_error");
	u->direct_number = jstr(o, "direct_number");
	u->extension_number = jstr(o, "extension_number");
	wb = json_object_get(o, "wb");
	u->wb = json_is_object(wb) ? json_incref(wb) : json_object();
	return 0;
}

json_t *
user_to_json(const struct sync_user *u)
{
	json_t *o = json_object();

	set_str(o, "dn", u->dn);
	set_str(o, "email", u->email);
	set_str(o, "phone_id", u->phone_id);
	if (u->pushed[0])
		set_str(o, "pushed", u->pushed);
	if (u->failed[0])
		set_str(o, "failed", u->failed);
	json_object_set_new(o, "phone_active", json_boolean(u->phone_active));
	if (u->creating)
		json_object_set_new(o, "creating", json_true());
	if (u->ad_disabled)
		json_object_set_new(o, "ad_disabled", json_true());
	if (u->ad_deleted)
		json_object_set_new(o, "ad_deleted", json_true());
	if (u->failures)
		json_object_set_new(o, "failures", json_integer(u->failures));
	set_str(o, "last_error", u->last_error);
	set_str(o, "direct_number", u->direct_number);
	set_str(o, "extension_number", u->extension_number);
	if (u->wb != NULL && json_object_size(u->wb) > 0)
		json_object_set(o, "wb", u->wb);
	return o;
}

int
user_get(struct store_txn *txn, const char *guid, struct sync_user *u)
{
	json_t *o;
	int rc = store_get_json(txn, STORE_USERS, guid, &o, NULL, 0);

	memset(u, 0, sizeof(*u));
	if (rc != 0)
		return rc;
	rc = user_from_json(guid, o, u);
	json_decref(o);
	return rc;
}

int
user_put(struct store_txn *txn, const struct sync_user *u, char *err,
    size_t errlen)
{
	json_t *o = user_to_json(u);
	int rc = store_put_json(txn, STORE_USERS, u->guid, o, err, errlen);

	json_decref(o);
	return rc;
}

void
user_clear(struct sync_user *u)
{
	if (u == NULL)
		return;
	free(u->dn);
	free(u->email);
	free(u->phone_id);
	free(u->last_error);
	free(u->direct_number);
	free(u->extension_number);
	json_decref(u->wb);
	memset(u, 0, sizeof(*u));
}

int
out_from_json(const char *guid, const json_t *j, struct sync_out *o)
{
	json_t *p;

	memset(o, 0, sizeof(*o));
	if (!json_is_object(j))
		return -1;
	snprintf(o->guid, sizeof(o->guid), "%s", guid);
	o->seq = (unsigned long long)json_integer_value(json_object_get(j, "seq"));
	o->active = json_is_true(json_object_get(j, "active"));
	o->reason = jstr(j, "reason");
	o->dn = jstr(j, "dn");
	o->email = jstr(j, "email");
	p = json_object_get(j, "profile");
	o->profile = json_is_object(p) ? json_incref(p) : NULL;
	jhash(j, "hash", o->hash);
	o->attempts = (unsigned int)json_integer_value(json_object_get(j, "attempts"));
	o->not_before = json_integer_value(json_object_get(j, "not_before"));
	o->held = (int)json_integer_value(json_object_get(j, "held"));
	o->cycle = (unsigned long long)json_integer_value(json_object_get(j, "cycle"));
	if (o->active && o->profile == NULL) {
		out_clear(o);
		return -1;
	}
	return 0;
}

int
out_get(struct store_txn *txn, const char *guid, struct sync_out *o)
{
	json_t *j;
	int rc = store_get_json(txn, STORE_OUTBOX, guid, &j, NULL, 0);

	memset(o, 0, sizeof(*o));
	if (rc != 0)
		return rc;
	rc = out_from_json(guid, j, o);
	json_decref(j);
	return rc;
}

int
out_put(struct store_txn *txn, const struct sync_out *o, char *err,
    size_t errlen)
{
	json_t *j = json_object();
	int rc;

	json_object_set_new(j, "seq", json_integer((json_int_t)o->seq));
	json_object_set_new(j, "active", json_boolean(o->active));
	set_str(j, "reason", o->reason);
	set_str(j, "dn", o->dn);
	set_str(j, "email", o->email);
	if (o->profile != NULL)
		json_object_set(j, "profile", o->profile);
	if (o->hash[0])
		set_str(j, "hash", o->hash);
	if (o->attempts)
		json_object_set_new(j, "attempts", json_integer(o->attempts));
	if (o->not_before)
		json_object_set_new(j, "not_before", json_integer(o->not_before));
	if (o->held)
		json_object_set_new(j, "held", json_integer(o->held));
	json_object_set_new(j, "cycle", json_integer((json_int_t)o->cycle));
	rc = store_put_json(txn, STORE_OUTBOX, o->guid, j, err, errlen);
	json_decref(j);
	return rc;
}

void
out_clear(struct sync_out *o)
{
	if (o == NULL)
		return;
	free(o->reason);
	free(o->dn);
	free(o->email);
	json_decref(o->profile);
	memset(o, 0, sizeof(*o));
}

char *
email_owner(struct store_txn *txn, const char *email)
{
	const void *v;
	size_t len;

	if (email == NULL || *email == '\0' ||
	    store_get(txn, STORE_EMAILS, email, &v, &len) != 0)
		return NULL;
	return xstrndup(v, len);
}

int
email_set(struct store_txn *txn, const char *email, const char *guid,
    char *err, size_t errlen)
{
	return store_put(txn, STORE_EMAILS, email, guid, strlen(guid), err, errlen);
}

int
email_del(struct store_txn *txn, const char *email, char *err, size_t errlen)
{
	return store_del(txn, STORE_EMAILS, email, err, errlen);
}

unsigned int
count_linked(struct store_txn *txn)
{
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;
	unsigned int n = 0;

	if (store_iter_open(txn, STORE_USERS, NULL, &it) == 0) {
		while (store_iter_next(it, &k, &kl, &v, &vl) == 1)
			if (memmem(v, vl, "\"phone_id\"", 10) != NULL)
				n++;
		store_iter_close(it);
	}
	return n;
}

int
held_each(struct store_txn *txn, int release, unsigned int *n, char *err,
    size_t errlen)
{
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;
	int rc = 0;

	*n = 0;
	if (store_iter_open(txn, STORE_OUTBOX, NULL, &it) < 0)
		return errbuf_set(err, errlen, "cannot read the outbox");
	while (rc == 0 && store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		char guid[AD_GUID_LEN + 1];
		struct sync_out o;
		json_t *j;

		if (memmem(v, vl, "\"held\":1", 8) == NULL)
			continue;
		snprintf(guid, sizeof(guid), "%.*s", (int)kl, k);
		j = json_loadb(v, vl, 0, NULL);
		if (j != NULL && out_from_json(guid, j, &o) == 0) {
			if (o.held == 1) {
				(*n)++;
				o.held = 0;
				if (release && out_put(txn, &o, err, errlen) < 0)
					rc = -1;
			}
			out_clear(&o);
		}
		json_decref(j);
	}
	store_iter_close(it);
	return rc;
}

int
sync_release_held(struct store *st, unsigned int *n, char *err, size_t errlen)
{
	struct store_txn *txn;

	if (store_begin(st, 0, &txn, err, errlen) < 0)
		return -1;
	if (held_each(txn, 1, n, err, errlen) < 0) {
		store_abort(txn);
		return -1;
	}
	return store_commit(txn, err, errlen);
}

/* users_open: a read transaction iterating the users, or -1 with err. */
static int
users_open(struct store *st, struct store_txn **txn, struct store_iter **it,
    char *err, size_t errlen)
{
	if (store_begin(st, 1, txn, err, errlen) < 0)
		return -1;
	if (store_iter_open(*txn, STORE_USERS, NULL, it) < 0) {
		store_abort(*txn);
		return errbuf_set(err, errlen, "cannot read the users");
	}
	return 0;
}

int
sync_count(struct store *st, struct sync_counts *out, char *err,
    size_t errlen)
{
	struct store_txn *txn;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (users_open(st, &txn, &it, err, errlen) < 0)
		return -1;
	while (store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		out->users++;
		if (memmem(v, vl, "\"phone_id\"", 10) != NULL)
			out->linked++;
		if (memmem(v, vl, "\"last_error\"", 12) != NULL)
			out->failed++;
	}
	store_iter_close(it);
	if (held_each(txn, 0, &out->held, err, errlen) < 0 ||
	    store_count(txn, STORE_OUTBOX, &out->outbox) < 0 ||
	    store_count(txn, STORE_WRITEBACK, &out->writeback) < 0)
		rc = errbuf_set(err, errlen, "cannot count the queues");
	store_abort(txn);
	return rc;
}

static const char *
user_state(const struct sync_user *u)
{
	if (u->creating)
		return "creating";
	if (u->last_error != NULL)
		return "failed";
	if (u->phone_id == NULL)
		return u->ad_disabled || u->ad_deleted ? "inactive" : "not-linked";
	return u->phone_active ? "linked" : "deactivated";
}

int
sync_users_list(struct store *st, int failed_only,
    void (*cb)(const struct sync_user_view *u, void *arg), void *arg,
    char *err, size_t errlen)
{
	struct store_txn *txn;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;

	if (users_open(st, &txn, &it, err, errlen) < 0)
		return -1;
	while (store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		char guid[AD_GUID_LEN + 1];
		struct sync_user u;
		json_t *j = json_loadb(v, vl, 0, NULL);

		snprintf(guid, sizeof(guid), "%.*s", (int)kl, k);
		if (j != NULL && user_from_json(guid, j, &u) == 0) {
			struct sync_user_view view = { guid, u.dn, u.email, u.phone_id,
				user_state(&u), u.last_error, u.direct_number,
				u.extension_number };

			if (!failed_only || u.last_error != NULL)
				cb(&view, arg);
			user_clear(&u);
		}
		json_decref(j);
	}
	store_iter_close(it);
	store_abort(txn);
	return 0;
}

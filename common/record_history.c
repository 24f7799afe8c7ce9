/*
 * record_history: the changes made for each user (record.h), one entry
 * per change under "objectGUID/stamp" (the stamp in 16 hex digits, so a
 * user's entries are adjacent and in time order), bounded by count per
 * user and by age.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "record.h"
#include "util.h"

#define KEY_LEN (AD_GUID_LEN + 1 + 16)

static void
event_key(char out[KEY_LEN + 1], const char *guid, unsigned long long stamp)
{
	snprintf(out, KEY_LEN + 1, "%s/%016llx", guid, stamp);
}

/* key_parse: guid and stamp of a history key; 0, or -1 when it is none. */
static int
key_parse(const char *key, size_t klen, char guid[AD_GUID_LEN + 1],
    unsigned long long *stamp)
{
	char buf[KEY_LEN + 1], *end;

	if (klen != KEY_LEN || key[AD_GUID_LEN] != '/')
		return -1;
	memcpy(buf, key, klen);
	buf[klen] = '\0';
	*stamp = strtoull(buf + AD_GUID_LEN + 1, &end, 16);
	if (*end != '\0')
		return -1;
	memcpy(guid, buf, AD_GUID_LEN);
	guid[AD_GUID_LEN] = '\0';
	return 0;
}

static int
event_from_json(const json_t *j, struct record_event *ev)
{
	const json_t *c = json_object_get(j, "changes");
	const char *what = json_string_value(json_object_get(j, "what"));
	const char *detail = json_string_value(json_object_get(j, "detail"));

	if (!json_is_object(j) || what == NULL || (c != NULL && !json_is_object(c)))
		return -1;
	ev->cycle = (unsigned long long)json_integer_value(json_object_get(j,
	    "cycle"));
	ev->what = xstrdup(what);
	ev->detail = detail ? xstrdup(detail) : NULL;
	ev->changes = c ? json_incref((json_t *)c) : NULL;
	return 0;
}

void
record_event_clear(struct record_event *ev)
{
	free(ev->what);
	free(ev->detail);
	json_decref(ev->changes);
	ev->what = ev->detail = NULL;
	ev->changes = NULL;
}

/* A user's entries: their stamps, oldest first (*out the caller's). */
static int
user_stamps(struct store_txn *txn, const char *guid, unsigned long long **out,
    size_t *n)
{
	char start[KEY_LEN + 1], g[AD_GUID_LEN + 1];
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t klen, vlen, cap = 0;
	unsigned long long stamp;
	int rc;

	*out = NULL;
	*n = 0;
	event_key(start, guid, 0);
	if (store_iter_open(txn, STORE_HISTORY, start, &it) < 0)
		return -1;
	while ((rc = store_iter_next(it, &k, &klen, &v, &vlen)) == 1) {
		if (key_parse(k, klen, g, &stamp) < 0 || strcmp(g, guid) != 0)
			break;
		if (*n == cap)
			*out = xreallocarray(*out, cap = cap ? cap * 2 : 16,
			    sizeof(**out));
		(*out)[(*n)++] = stamp;
	}
	store_iter_close(it);
	return rc < 0 ? -1 : 0;
}

int
record_event_add(struct store_txn *txn, struct record_event *ev,
    unsigned int cap, long long keep_before, char *err, size_t errlen)
{
	char key[KEY_LEN + 1];
	unsigned long long *stamps;
	size_t n, drop = 0;
	json_t *j = json_object();
	int rc;

	ev->stamp = record_stamp();
	json_object_set_new(j, "what", json_string(ev->what));
	if (ev->cycle > 0)
		json_object_set_new(j, "cycle", json_integer((json_int_t)ev->cycle));
	if (ev->changes != NULL && json_object_size(ev->changes) > 0)
		json_object_set(j, "changes", ev->changes);
	if (ev->detail != NULL)
		json_object_set_new(j, "detail", json_string(ev->detail));
	event_key(key, ev->guid, ev->stamp);
	rc = store_put_json(txn, STORE_HISTORY, key, j, err, errlen);
	json_decref(j);
	if (rc < 0 || user_stamps(txn, ev->guid, &stamps, &n) < 0)
		return -1;
	/* The oldest go: beyond the cap, and older than the bound. */
	while (n - drop > cap || (drop < n && keep_before > 0 &&
	    (long long)(stamps[drop] / 1000000ULL) < keep_before))
		drop++;
	for (size_t i = 0; i < drop && rc == 0; i++) {
		event_key(key, ev->guid, stamps[i]);
		rc = store_del(txn, STORE_HISTORY, key, err, errlen);
	}
	free(stamps);
	return rc;
}

int
record_events_walk(struct store_txn *txn, const char *guid,
    record_event_cb *cb, void *arg)
{
	char start[KEY_LEN + 1];
	struct record_event ev;
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t klen, vlen;
	int rc, stop = 0;

	event_key(start, guid, 0);
	if (store_iter_open(txn, STORE_HISTORY, start, &it) < 0)
		return -1;
	while (!stop && (rc = store_iter_next(it, &k, &klen, &v, &vlen)) == 1) {
		json_t *j;

		memset(&ev, 0, sizeof(ev));
		if (key_parse(k, klen, ev.guid, &ev.stamp) < 0 ||
		    strcmp(ev.guid, guid) != 0)
			break;
		j = json_loadb(v, vlen, 0, NULL);
		if (event_from_json(j, &ev) < 0) {
			log_warning("state store record skipped: invalid database=history "
			    "key=%.*s", (int)klen, k);
		} else {
			stop = cb(&ev, arg);
			if (stop < 0)
				rc = -1;
		}
		json_decref(j);
		record_event_clear(&ev);
	}
	store_iter_close(it);
	if (stop > 0)
		return 1;
	return rc < 0 || stop < 0 ? -1 : 0;
}

int
record_events_prune(struct store_txn *txn, long long before, size_t max,
    size_t *deleted, char *err, size_t errlen)
{
	char (*keys)[KEY_LEN + 1] = NULL, g[AD_GUID_LEN + 1];
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t klen, vlen, n = 0, cap = 0;
	unsigned long long stamp;
	int rc;

	*deleted = 0;
	if (store_iter_open(txn, STORE_HISTORY, NULL, &it) < 0)
		return util_errbuf_set(err, errlen, "history: cannot read");
	/* Collect first: no deletion under the open cursor. */
	while (n < max && (rc = store_iter_next(it, &k, &klen, &v, &vlen)) == 1) {
		if (key_parse(k, klen, g, &stamp) == 0 &&
		    (long long)(stamp / 1000000ULL) >= before)
			continue;
		if (n == cap)
			keys = xreallocarray(keys, cap = cap ? cap * 2 : 64,
			    sizeof(*keys));
		snprintf(keys[n++], KEY_LEN + 1, "%.*s", (int)(klen < KEY_LEN ?
		    klen : KEY_LEN), k);
	}
	store_iter_close(it);
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = store_del(txn, STORE_HISTORY, keys[i], err, errlen)) == 0)
			(*deleted)++;
	free(keys);
	return rc;
}

json_t *
record_event_changes(const json_t *was, const json_t *now)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)now, k, v) {
		const char *a = json_string_value(json_object_get(was, k));
		const char *b = json_string_value(v);

		if (strcmp(a ? a : "", b ? b : "") != 0)
			json_object_set_new(out, k, json_pack("[s?s?]", a && *a ? a :
			    NULL, b && *b ? b : NULL));
	}
	json_object_foreach((json_t *)was, k, v) {
		const char *a = json_string_value(v);

		if (json_object_get(now, k) == NULL && a != NULL && *a)
			json_object_set_new(out, k, json_pack("[sn]", a));
	}
	if (json_object_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *
record_event_values(const json_t *now)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)now, k, v) {
		const char *b = json_string_value(v);

		if (b != NULL && *b)
			json_object_set_new(out, k, json_pack("[s]", b));
	}
	if (json_object_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

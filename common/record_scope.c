/*
 * record_scope: the group records (record.h): the scope state in meta
 * (JSON), the members database (objectGUID -> the scope group's); the
 * [roles] groups' state in meta the same way, and the roles database
 * (objectGUID -> the role a rule gives the user, as assigned).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "record.h"
#include "util.h"

#define SCOPE_KEY "scope"

void
record_scope_clear(struct record_scope *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->g[i].dn);
		free(sc->g[i].now_dn);
	}
	free(sc->g);
	free(sc->nested);
	free(sc->error);
	memset(sc, 0, sizeof(*sc));
}

void
record_scope_req(const struct record_scope *sc, const char *const *dns,
    size_t n, const char ***guids, char (**known)[AD_GUID_LEN + 1],
    size_t *nknown)
{
	const char **g = xcalloc(n ? n : 1, sizeof(*g));
	char (*k)[AD_GUID_LEN + 1] = xcalloc(sc->nnested + sc->n + 1, sizeof(*k));
	size_t m = sc->nnested;

	for (size_t i = 0; i < n; i++) {
		g[i] = "";
		for (size_t j = 0; j < sc->n; j++)
			if (strcasecmp(dns[i], sc->g[j].dn) == 0)
				g[i] = sc->g[j].guid;
	}
	if (sc->nnested > 0)
		memcpy(k, sc->nested, sc->nnested * sizeof(*k));
	for (size_t j = 0; j < sc->n; j++)
		memcpy(k[m++], sc->g[j].guid, sizeof(*k));
	qsort(k, m, sizeof(*k), (int (*)(const void *, const void *))strcmp);
	*guids = g;
	*known = k;
	*nknown = m;
}

static int
guid_ok(const char *s)
{
	unsigned char b[16];

	return s != NULL && ad_guid_parse(s, b) == 0;
}

static const char *
str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* group_from: one group of the record; 0, or -1 when it is malformed. */
static int
group_from(const json_t *o, struct record_scope_group *g)
{
	const char *guid = str_of(o, "guid"), *dn = str_of(o, "dn");
	const char *now = str_of(o, "now_dn");
	json_t *m = json_object_get(o, "members"), *c = json_object_get(o, "changed");

	if (!json_is_object(o) || dn == NULL || (guid != NULL && *guid != '\0' &&
	    !guid_ok(guid)) || !json_is_integer(m) || !json_is_integer(c) ||
	    json_integer_value(m) < 0)
		return -1;
	snprintf(g->guid, sizeof(g->guid), "%s", guid ? guid : "");
	g->dn = xstrdup(dn);
	g->now_dn = xstrdup(now ? now : dn);
	g->deleted = json_is_true(json_object_get(o, "deleted"));
	g->members = (unsigned int)json_integer_value(m);
	g->changed = (long long)json_integer_value(c);
	return 0;
}

static int
scope_from(const json_t *j, struct record_scope *sc)
{
	const json_t *gs = json_object_get(j, "groups");
	const json_t *ns = json_object_get(j, "nested");
	const char *e = str_of(j, "error");

	if (!json_is_array(gs) || !json_is_array(ns))
		return -1;
	sc->g = xcalloc(json_array_size(gs) + 1, sizeof(*sc->g));
	for (size_t i = 0; i < json_array_size(gs); i++, sc->n++)
		if (group_from(json_array_get(gs, i), &sc->g[i]) < 0)
			return -1;
	sc->nested = xcalloc(json_array_size(ns) + 1, sizeof(*sc->nested));
	for (size_t i = 0; i < json_array_size(ns); i++, sc->nnested++) {
		const char *g = json_string_value(json_array_get(ns, i));

		if (!guid_ok(g) || (i > 0 && strcmp(sc->nested[i - 1], g) >= 0))
			return -1; /* sorted, each once */
		snprintf(sc->nested[i], sizeof(sc->nested[i]), "%s", g);
	}
	sc->error = e ? xstrdup(e) : NULL;
	sc->checked = json_integer_value(json_object_get(j, "checked"));
	return 0;
}

int
record_scope_get(struct store_txn *txn, struct record_scope *sc, char *err,
    size_t errlen)
{
	return record_groups_get(txn, SCOPE_KEY, sc, err, errlen);
}

int
record_groups_get(struct store_txn *txn, const char *key,
    struct record_scope *sc, char *err, size_t errlen)
{
	json_t *j = NULL;
	int rc;

	memset(sc, 0, sizeof(*sc));
	rc = store_get_json(txn, STORE_META, key, &j, err, errlen);
	if (rc != 0)
		return rc;
	if (!json_is_object(j) || scope_from(j, sc) < 0) {
		json_decref(j);
		record_scope_clear(sc);
		return util_errbuf_set(err, errlen, "meta %s: invalid record",
		    key);
	}
	json_decref(j);
	return 0;
}

int
record_scope_put(struct store_txn *txn, const struct record_scope *sc,
    char *err, size_t errlen)
{
	return record_groups_put(txn, SCOPE_KEY, sc, err, errlen);
}

int
record_groups_put(struct store_txn *txn, const char *key,
    const struct record_scope *sc, char *err, size_t errlen)
{
	json_t *gs = json_array(), *ns = json_array(), *j;
	int rc;

	for (size_t i = 0; i < sc->n; i++) {
		const struct record_scope_group *g = &sc->g[i];

		json_array_append_new(gs, json_pack("{s:s, s:s, s:s, s:b, s:I, s:I}",
		    "guid", g->guid, "dn", g->dn, "now_dn", g->now_dn ? g->now_dn :
		    g->dn, "deleted", g->deleted, "members", (json_int_t)g->members,
		    "changed", (json_int_t)g->changed));
	}
	for (size_t i = 0; i < sc->nnested; i++)
		json_array_append_new(ns, json_string(sc->nested[i]));
	j = json_pack("{s:o, s:o, s:I}", "groups", gs, "nested", ns, "checked",
	    (json_int_t)sc->checked);
	if (sc->error != NULL)
		json_object_set_new(j, "error", json_string(sc->error));
	rc = store_put_json(txn, STORE_META, key, j, err, errlen);
	json_decref(j);
	return rc;
}

int
record_scope_del(struct store_txn *txn, char *err, size_t errlen)
{
	return store_del(txn, STORE_META, SCOPE_KEY, err, errlen);
}

int
record_member_get(struct store_txn *txn, const char *guid,
    char via[AD_GUID_LEN + 1])
{
	const void *v;
	size_t len;
	int rc = store_get(txn, STORE_MEMBERS, guid, &v, &len);

	if (rc != 0)
		return rc;
	if (len != AD_GUID_LEN)
		return -1;
	memcpy(via, v, AD_GUID_LEN);
	via[AD_GUID_LEN] = '\0';
	return 0;
}

static unsigned int
via_index(const struct record_scope_group *groups, size_t n, const void *v,
    size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (len == AD_GUID_LEN && memcmp(groups[i].guid, v, len) == 0)
			return (unsigned int)i;
	return (unsigned int)n;
}

int
record_members_load(struct store_txn *txn,
    const struct record_scope_group *groups, size_t n, struct ad_member **out,
    size_t *nout, char *err, size_t errlen)
{
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl, cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if (store_iter_open(txn, STORE_MEMBERS, NULL, &it) < 0)
		return util_errbuf_set(err, errlen, "cannot read the members");
	while ((rc = store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		if (kl != AD_GUID_LEN)
			continue; /* not a member record: ignored */
		if (*nout == cap)
			*out = xreallocarray(*out, cap = cap ? cap * 2 : 256,
			    sizeof(**out));
		memcpy((*out)[*nout].guid, k, AD_GUID_LEN);
		(*out)[*nout].guid[AD_GUID_LEN] = '\0';
		(*out)[(*nout)++].via = via_index(groups, n, v, vl);
	}
	store_iter_close(it);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*nout = 0;
		return util_errbuf_set(err, errlen, "cannot read the members");
	}
	return 0;
}

int
record_member_put(struct store_txn *txn, const char *guid, const char *via,
    char *err, size_t errlen)
{
	return store_put(txn, STORE_MEMBERS, guid, via, strlen(via), err, errlen);
}

int
record_member_del(struct store_txn *txn, const char *guid, char *err,
    size_t errlen)
{
	return store_del(txn, STORE_MEMBERS, guid, err, errlen);
}

int
record_members_clear(struct store_txn *txn, char *err, size_t errlen)
{
	return store_clear(txn, STORE_MEMBERS, err, errlen);
}

/* ------------------------------------------- roles and photos (goals) */

void
record_goal_clear(struct record_goal *r)
{
	free(r->rule);
	free(r->want);
	free(r->done);
	free(r->failed);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

static char *
dup_of(const json_t *o, const char *k)
{
	const char *v = str_of(o, k);

	return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

int
record_goal_from_json(const char *guid, const json_t *j, struct record_goal *r)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(j) || !guid_ok(guid) || str_of(j, "want") == NULL ||
	    *str_of(j, "want") == '\0')
		return -1;
	snprintf(r->guid, sizeof(r->guid), "%s", guid);
	r->rule = dup_of(j, "rule");
	r->want = dup_of(j, "want");
	r->done = dup_of(j, "done");
	r->failed = dup_of(j, "failed");
	r->error = dup_of(j, "error");
	return 0;
}

int
record_goal_get(struct store_txn *txn, enum store_db db, const char *guid,
    struct record_goal *r, char *err, size_t errlen)
{
	json_t *j = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = store_get_json(txn, db, guid, &j, err, errlen);
	if (rc != 0)
		return rc;
	rc = record_goal_from_json(guid, j, r);
	json_decref(j);
	if (rc < 0)
		return util_errbuf_set(err, errlen, "%s %s: invalid record",
		    db == STORE_ROLES ? "roles" : "photos", guid);
	return 0;
}

int
record_goal_put(struct store_txn *txn, enum store_db db,
    const struct record_goal *r, char *err, size_t errlen)
{
	json_t *j = json_pack("{s:s}", "want", r->want);
	int rc;

	if (r->rule != NULL)
		json_object_set_new(j, "rule", json_string(r->rule));
	if (r->done != NULL)
		json_object_set_new(j, "done", json_string(r->done));
	if (r->failed != NULL)
		json_object_set_new(j, "failed", json_string(r->failed));
	if (r->error != NULL)
		json_object_set_new(j, "error", json_string(r->error));
	rc = store_put_json(txn, db, r->guid, j, err, errlen);
	json_decref(j);
	return rc;
}

int
record_goal_walk(struct store_txn *txn, enum store_db db, const char *start,
    int (*cb)(struct record_goal *r, void *arg), void *arg)
{
	struct store_iter *it;
	const char *k;
	const void *v;
	size_t kl, vl;
	int rc, stop = 0;

	if (store_iter_open(txn, db, start, &it) < 0)
		return -1;
	while (!stop && (rc = store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		char guid[AD_GUID_LEN + 1];
		struct record_goal r;
		json_t *j;

		if (kl != AD_GUID_LEN)
			continue;
		memcpy(guid, k, AD_GUID_LEN);
		guid[AD_GUID_LEN] = '\0';
		j = json_loadb(v, vl, 0, NULL);
		if (record_goal_from_json(guid, j, &r) == 0) {
			stop = cb(&r, arg);
			record_goal_clear(&r);
		}
		json_decref(j);
	}
	store_iter_close(it);
	return rc < 0 ? -1 : stop;
}

/*
 * record_scope: the group scope's records (record.h): the scope state in
 * meta (JSON), the members database (objectGUID -> the scope group's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	json_t *j = NULL;
	int rc;

	memset(sc, 0, sizeof(*sc));
	rc = store_get_json(txn, STORE_META, SCOPE_KEY, &j, err, errlen);
	if (rc != 0)
		return rc;
	if (!json_is_object(j) || scope_from(j, sc) < 0) {
		json_decref(j);
		record_scope_clear(sc);
		return util_errbuf_set(err, errlen, "meta %s: invalid record",
		    SCOPE_KEY);
	}
	json_decref(j);
	return 0;
}

int
record_scope_put(struct store_txn *txn, const struct record_scope *sc,
    char *err, size_t errlen)
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
	rc = store_put_json(txn, STORE_META, SCOPE_KEY, j, err, errlen);
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

/*
 * sync_numbers: [policy] extension_range. The import records the account's
 * extension numbers that fall in a range, of every extension type (a
 * number a department or an IVR menu has is taken too); the pusher gives
 * a new user the lowest number of its site's range that is neither listed
 * nor reserved for another user's create, and reserves it in the
 * transaction that records the create as in flight.
 *
 * meta ext_numbers: {"taken": ["2000", ...] (sorted, as last listed),
 * "listed": when that listing started, "reserved": {"2001": {"guid": G,
 * "at": T}}}. A reservation goes when a listing that started after it is
 * complete: the listing shows the number if the create used it. A number
 * the platform says is in use is reserved with an empty guid until then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "schema.h"
#include "sync_stage.h"
#include "util.h"

#define NUMBERS_KEY "ext_numbers"

static json_t *
load(struct store_txn *txn)
{
	json_t *j = NULL;
	char err[256];

	if (store_get_json(txn, STORE_META, NUMBERS_KEY, &j, err,
	    sizeof(err)) != 0 || !json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	{
		const json_t *t = json_object_get(j, "taken"), *v;
		size_t i;
		int ok = json_is_array(t);

		json_array_foreach(t, i, v) {
			if (!ok)
				break;
			/* sorted strings, each once, or nothing known */
			ok = json_is_string(v) && (i == 0 || strcmp(json_string_value(v),
			    json_string_value(json_array_get(t, i - 1))) > 0);
		}
		if (!ok) {
			json_object_del(j, "listed");
			json_object_set_new(j, "taken", json_array());
		}
	}
	if (!json_is_object(json_object_get(j, "reserved")))
		json_object_set_new(j, "reserved", json_object());
	return j;
}

/* range_of: the range of the user whose site id is site_id (NULL: none). */
const struct config_range *
sync_number_range(struct sync *s, const char *site_id)
{
	const json_t *site = site_id != NULL ? schema_site(s->schema, site_id) :
	    NULL;

	if (site_id != NULL && site == NULL && strcmp(site_id, "main-site") != 0)
		return config_range_for(s->cfg, site_id, NULL);
	return config_range_for(s->cfg,
	    json_string_value(json_object_get(site, "name")),
	    json_string_value(json_object_get(site, "code")));
}

static int
in(const struct config_range *r, const char *num)
{
	return num != NULL && strlen(num) == strlen(r->lo) &&
	    strcmp(num, r->lo) >= 0 && strcmp(num, r->hi) <= 0;
}

void
sync_numbers_note(const struct sync *s, struct sync_numbers *v,
    const char *num)
{
	size_t i;

	for (i = 0; i < s->cfg->nranges && !in(&s->cfg->ranges[i], num); i++)
		continue;
	if (i == s->cfg->nranges)
		return; /* in no range: never given, not worth keeping */
	if (v->n == v->cap)
		v->v = xreallocarray(v->v, v->cap = v->cap ? v->cap * 2 : 256,
		    sizeof(*v->v));
	snprintf(v->v[v->n++], sizeof(*v->v), "%s", num);
}

static int
listed(const json_t *taken, const char *num)
{
	size_t lo = 0, hi = json_array_size(taken);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(json_string_value(json_array_get(taken, mid)), num);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* free_for: may guid have num? */
static int
free_for(const json_t *j, const char *num, const char *guid)
{
	const json_t *r = json_object_get(json_object_get(j, "reserved"), num);
	const char *by = json_string_value(json_object_get(r, "guid"));

	return !listed(json_object_get(j, "taken"), num) &&
	    (r == NULL || (by != NULL && *by != '\0' && strcmp(by, guid) == 0));
}

static int
reserve(struct sync *s, struct store_txn *txn, json_t *j, const char *num,
    const char *guid, char *err, size_t errlen)
{
	json_object_set_new(json_object_get(j, "reserved"), num, json_pack(
	    "{s:s, s:I}", "guid", guid, "at", (json_int_t)ev_now(s->loop)));
	return store_put_json(txn, STORE_META, NUMBERS_KEY, j, err, errlen);
}

int
sync_number_alloc(struct sync *s, struct store_txn *txn, const char *guid,
    const char *site_id, const char *had, char out[9], char *err,
    size_t errlen)
{
	const struct config_range *r = sync_number_range(s, site_id);
	unsigned long lo, hi;
	int width, rc = -1;
	json_t *j;

	if (r == NULL)
		return 1;
	j = load(txn);
	if (had != NULL && in(r, had) && free_for(j, had, guid)) {
		snprintf(out, 9, "%s", had);
		rc = reserve(s, txn, j, out, guid, err, errlen);
		json_decref(j);
		return rc;
	}
	lo = strtoul(r->lo, NULL, 10);
	hi = strtoul(r->hi, NULL, 10);
	width = (int)strlen(r->lo);
	for (unsigned long n = lo; n <= hi; n++) {
		snprintf(out, 9, "%0*lu", width, n);
		if (free_for(j, out, guid)) {
			rc = reserve(s, txn, j, out, guid, err, errlen);
			json_decref(j);
			return rc;
		}
	}
	json_decref(j);
	out[0] = '\0';
	if (r->site != NULL)
		util_errbuf_set(err, errlen, "no free extension number in %s-%s, "
		    "the range of site %s: every one is taken (widen [policy] "
		    "extension_range.%s, or free numbers in the phone system)", r->lo,
		    r->hi, r->site, r->site);
	else
		util_errbuf_set(err, errlen, "no free extension number in %s-%s: "
		    "every one is taken (widen [policy] extension_range, or free "
		    "numbers in the phone system)", r->lo, r->hi);
	return -2;
}

int
sync_number_taken(struct sync *s, struct store_txn *txn, const char *num,
    char *err, size_t errlen)
{
	json_t *j = load(txn);
	int rc = reserve(s, txn, j, num, "", err, errlen);

	json_decref(j);
	return rc;
}

static int
num_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
sync_numbers_listed(struct sync *s, struct sync_numbers *list,
    long long started)
{
	char (*nums)[9] = list->v;
	size_t n = list->n;
	struct store_txn *txn;
	json_t *j, *taken = json_array(), *res, *v;
	const char *k;
	void *tmp;
	char err[256];

	if ((txn = sync_txn_begin(s)) == NULL) {
		json_decref(taken);
		return;
	}
	j = load(txn);
	qsort(nums, n, sizeof(*nums), num_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(nums[i], nums[i - 1]) != 0)
			json_array_append_new(taken, json_string(nums[i]));
	json_object_set_new(j, "taken", taken);
	json_object_set_new(j, "listed", json_integer(started));
	res = json_object_get(j, "reserved");
	json_object_foreach_safe(res, tmp, k, v) {
		if (listed(taken, k) || json_integer_value(json_object_get(v,
		    "at")) < started)
			json_object_del(res, k);
	}
	if (store_put_json(txn, STORE_META, NUMBERS_KEY, j, err,
	    sizeof(err)) < 0) {
		log_err("cannot record the extension numbers error=%s", log_q(err));
		store_abort(txn);
	} else {
		sync_txn_commit(s, txn);
	}
	json_decref(j);
}

int
sync_numbers_known(struct sync *s)
{
	struct store_txn *txn;
	json_t *j;
	char err[256];
	int known;

	if (store_begin(s->store, 1, &txn, err, sizeof(err)) < 0)
		return 0;
	j = load(txn);
	known = json_object_get(j, "listed") != NULL;
	json_decref(j);
	store_abort(txn);
	return known;
}

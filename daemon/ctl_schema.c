/*
 * ringsyncctl schema: Import User Schema (docs/behaviour.md). Fetches the
 * phone system's SCIM user schema and the account's custom fields, and the
 * AD attributes of class user, caches them in the store (meta "schema")
 * for ringsyncd -t and the pusher, and prints what is mappable.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ad.h"
#include "ctl.h"
#include "log.h"
#include "phone.h"
#include "schema.h"
#include "store.h"
#include "util.h"

struct fetch {
	struct ev_loop *loop;
	struct phone *phone;
	struct phone_schema scim;
	struct phone_custom_field *custom;
	size_t ncustom;
	int failed;
	const char *brand;
	json_t *account;   /* owned: sites, roles, default_role, cost_centers,
	                    * max_extension_length; a read that failed: its
	                    * key holds {"error": message} */
	int step;          /* the next account read (account_next) */
};

static void account_next(struct fetch *f);

static void
phone_failed(struct fetch *f, const struct phone_error *e, const char *what)
{
	char msg[600];

	phone_error_message(e, f->brand, msg, sizeof(msg));
	fprintf(stderr, "ringsyncctl: reading %s failed: %s\n", what, msg);
	f->failed = 1;
}

static void
custom_cb(const struct phone_error *e, const struct phone_custom_field *v,
    size_t n, void *arg)
{
	struct fetch *f = arg;

	if (e->kind != PHONE_OK) {
		phone_failed(f, e, "the custom fields");
	} else {
		f->custom = xcalloc(n ? n : 1, sizeof(*f->custom));
		for (size_t i = 0; i < n; i++) {
			f->custom[i].id = v[i].id ? xstrdup(v[i].id) : NULL;
			f->custom[i].category = v[i].category ? xstrdup(v[i].category) :
			    NULL;
			f->custom[i].display_name = v[i].display_name ?
			    xstrdup(v[i].display_name) : NULL;
		}
		f->ncustom = n;
	}
	if (f->failed)
		ev_break(f->loop, EVBREAK_ONE);
	else
		account_next(f);
}

/* The account's offer (sites, roles, cost centers): a read the account or
 * the app does not allow is said, and the others go on. */
static const char *const account_keys[] = {
	"sites", "roles", "default_role", "cost_centers", "max_extension_length",
};

static void
account_failed(struct fetch *f, const struct phone_error *e)
{
	char msg[600];

	/* A 403 here is the app's permission or the account's feature. */
	if (e->http_status == 403)
		snprintf(msg, sizeof(msg), "the app or the account does not allow "
		    "it (%s%s%s)", e->code[0] ? e->code : "HTTP 403",
		    e->detail[0] ? ": " : "", e->detail);
	else
		phone_error_message(e, f->brand, msg, sizeof(msg));
	json_object_set_new(f->account, account_keys[f->step - 1],
	    json_pack("{s:s}", "error", msg));
}

static void
items_cb(const struct phone_error *e, const struct phone_item *v, size_t n,
    void *arg)
{
	struct fetch *f = arg;
	json_t *a = json_array();

	if (e->kind != PHONE_OK) {
		json_decref(a);
		account_failed(f, e);
		account_next(f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s}", "id", v[i].id, "name", v[i].name);

		if (v[i].code != NULL)
			json_object_set_new(o, "code", json_string(v[i].code));
		json_array_append_new(a, o);
	}
	if (strcmp(account_keys[f->step - 1], "default_role") == 0) {
		json_object_set(f->account, "default_role", json_array_get(a, 0));
		json_decref(a);
	} else {
		json_object_set_new(f->account, account_keys[f->step - 1], a);
	}
	account_next(f);
}

static void
service_cb(const struct phone_error *e, int max_ext_len, void *arg)
{
	struct fetch *f = arg;

	if (e->kind != PHONE_OK)
		account_failed(f, e);
	else
		json_object_set_new(f->account, "max_extension_length",
		    json_integer(max_ext_len));
	account_next(f);
}

static void
account_next(struct fetch *f)
{
	if (f->account == NULL)
		f->account = json_object();
	switch (f->step++) {
	case 0:
		phone_list_items(f->phone, PHONE_ITEMS_SITES, items_cb, f);
		break;
	case 1:
		phone_list_items(f->phone, PHONE_ITEMS_ROLES, items_cb, f);
		break;
	case 2:
		phone_default_role(f->phone, items_cb, f);
		break;
	case 3:
		phone_list_items(f->phone, PHONE_ITEMS_COST_CENTERS, items_cb, f);
		break;
	case 4:
		phone_service_info(f->phone, service_cb, f);
		break;
	default:
		ev_break(f->loop, EVBREAK_ONE);
	}
}

/* print_items: "sites:" and one line each, or why they are not known. */
static void
print_items(const json_t *account, const char *key, const char *title)
{
	const json_t *v = json_object_get(account, key), *it;
	size_t i;

	printf("%s:\n", title);
	if (json_is_object(v)) {
		printf("  (not available: %s)\n",
		    json_string_value(json_object_get(v, "error")));
		return;
	}
	if (json_array_size(v) == 0)
		printf("  (none)\n");
	json_array_foreach(v, i, it) {
		const char *code = json_string_value(json_object_get(it, "code"));

		printf("  %-30s id=%s%s%s\n",
		    json_string_value(json_object_get(it, "name")),
		    json_string_value(json_object_get(it, "id")), code ? " code=" : "",
		    code ? code : "");
	}
}

static void
schema_cb(const struct phone_error *e, const struct phone_schema *s, void *arg)
{
	struct fetch *f = arg;

	if (e->kind != PHONE_OK) {
		phone_failed(f, e, "the SCIM user schema");
		ev_break(f->loop, EVBREAK_ONE);
		return;
	}
	f->scim.v = xcalloc(s->n ? s->n : 1, sizeof(*f->scim.v));
	for (size_t i = 0; i < s->n; i++) {
		struct phone_schema_attr *a = &f->scim.v[i];

		a->schema = s->v[i].schema ? xstrdup(s->v[i].schema) : NULL;
		a->name = s->v[i].name ? xstrdup(s->v[i].name) : NULL;
		a->type = s->v[i].type ? xstrdup(s->v[i].type) : NULL;
		a->multi = s->v[i].multi;
		a->required = s->v[i].required;
	}
	f->scim.n = s->n;
	phone_custom_fields(f->phone, custom_cb, f);
}

static void
print_cache(const struct config *cfg, const json_t *cache)
{
	const json_t *ad = json_object_get(cache, "ad"), *account;
	size_t i;
	json_t *v;

	printf("phone system user fields ([push] key, SCIM attribute, AD attribute "
	    "mapped):\n");
	/* the pushed fields of the registry (phone_field.h) */
	for (i = 0; i < PHONE_NFIELDS; i++) {
		const char *name = phone_field_name((enum phone_field)i);
		const char *scim = schema_scim_attr(name);
		const char *attr = config_map_get(&cfg->push, name);
		int found = 0;
		size_t j;
		json_t *a;

		json_array_foreach(json_object_get(cache, "scim"), j, a) {
			const char *n = json_string_value(json_object_get(a, "name"));

			if (n != NULL && strncasecmp(n, scim, strlen(scim)) == 0)
				found = 1;
		}
		printf("  %-22s %-26s %s\n", name, found ? scim :
		    "(not in the schema)", attr ? attr : "-");
	}
	printf("custom user fields:\n");
	if (json_array_size(json_object_get(cache, "custom")) == 0)
		printf("  (none)\n");
	json_array_foreach(json_object_get(cache, "custom"), i, v) {
		char *key = xasprintf("custom.%s",
		    json_string_value(json_object_get(v, "name")));
		const char *attr = config_map_get(&cfg->push, key);

		printf("  %-22s id=%-22s %s\n", key,
		    json_string_value(json_object_get(v, "id")), attr ? attr : "-");
		free(key);
	}
	printf("SCIM user attributes (%zu):",
	    json_array_size(json_object_get(cache, "scim")));
	json_array_foreach(json_object_get(cache, "scim"), i, v)
		printf(" %s", json_string_value(json_object_get(v, "name")));
	printf("\n");
	if ((account = json_object_get(cache, "account")) != NULL) {
		const json_t *dr = json_object_get(account, "default_role");
		const json_t *mx = json_object_get(account, "max_extension_length");

		print_items(account, "sites", "sites ([policy] site: a name or code)");
		print_items(account, "roles", "user roles ([roles])");
		if (json_object_get(dr, "name") != NULL)
			printf("default role: %s\n",
			    json_string_value(json_object_get(dr, "name")));
		else
			printf("default role: (not available: %s)\n",
			    json_string_value(json_object_get(dr, "error")));
		print_items(account, "cost_centers",
		    "cost centers ([policy] cost_center: a name)");
		if (json_is_integer(mx))
			printf("longest extension number: %lld digits\n",
			    (long long)json_integer_value(mx));
		else
			printf("longest extension number: not known: %s\n",
			    json_string_value(json_object_get(mx, "error")));
	}
	if (json_is_array(ad)) {
		printf("AD attributes of class user (%zu):", json_array_size(ad));
		json_array_foreach(ad, i, v)
			printf(" %s", json_string_value(v));
		printf("\n");
	}
}

int
ctl_schema(const struct config *cfg)
{
	struct fetch f = { 0 };
	struct store *st = NULL;
	struct store_txn *txn;
	struct ad *ad;
	char err[1024], **attrs = NULL;
	size_t nattrs = 0;
	json_t *cache;
	int rc = 0, ad_ok;

	f.loop = ev_default_loop(0);
	f.brand = cfg->telephony.brand;
	if (ctl_store_open_rw(cfg, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	f.phone = phone_new(f.loop, &cfg->telephony, st, NULL, err, sizeof(err));
	if (f.phone == NULL) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return CTL_EXIT_CONFIG;
	}
	phone_scim_schemas(f.phone, schema_cb, &f);
	ev_run(f.loop, 0);
	phone_free(f.phone);

	ad = ad_new(f.loop, cfg);
	ad_ok = ad_user_attributes(ad, &attrs, &nattrs, err, sizeof(err)) == 0;
	if (!ad_ok)
		fprintf(stderr, "ringsyncctl: the AD attributes of class user were not "
		    "read (the [push] attributes stay unchecked): %s\n", err);
	ad_free(ad);

	if (!f.failed) {
		cache = schema_cache_new(&f.scim, f.custom, f.ncustom,
		    ad_ok ? attrs : NULL, nattrs, (long long)time(NULL));
		if (f.account != NULL)
			json_object_set(cache, "account", f.account);
		if (store_begin(st, 0, &txn, err, sizeof(err)) < 0 ||
		    store_put_json(txn, STORE_META, SCHEMA_KEY, cache, err,
		    sizeof(err)) < 0 || store_commit(txn, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringsyncctl: cannot cache the schema: %s\n", err);
			rc = CTL_EXIT_CONFIG;
		} else {
			print_cache(cfg, cache);
			printf("cached in %s: ringsyncd -t checks [push] against it\n",
			    cfg->sync.state_dir);
		}
		json_decref(cache);
	}
	if (rc == 0 && (f.failed || !ad_ok))
		rc = CTL_EXIT_UNREACHABLE;
	for (size_t i = 0; i < nattrs; i++)
		free(attrs[i]);
	free(attrs);
	for (size_t i = 0; i < f.ncustom; i++)
		phone_custom_field_clear(&f.custom[i]);
	free(f.custom);
	phone_schema_clear(&f.scim);
	json_decref(f.account);
	store_close(st);
	return rc;
}

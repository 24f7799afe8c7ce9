/*
 * schema: the cached phone-system user schema and the checks against it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema.h"
#include "util.h"

/* The schema attribute of a pushed field: the registry's (phone_field.h). */
const char *
schema_scim_attr(const char *field)
{
	const struct phone_field_info *f =
	    phone_field_get(phone_field_from_name(field));

	return f != NULL ? f->scim_attr : NULL;
}

json_t *
schema_cache_new(const struct phone_schema *scim,
    const struct phone_custom_field *custom, size_t ncustom, char *const *ad,
    size_t nad, long long now)
{
	json_t *o = json_object(), *a = json_array(), *c = json_array();

	for (size_t i = 0; scim != NULL && i < scim->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name",
		    scim->v[i].name ? scim->v[i].name : "", "type",
		    scim->v[i].type ? scim->v[i].type : ""));
	for (size_t i = 0; i < ncustom; i++)
		if (custom[i].id != NULL && custom[i].display_name != NULL &&
		    (custom[i].category == NULL ||
		    strcasecmp(custom[i].category, "User") == 0))
			json_array_append_new(c, json_pack("{s:s, s:s}", "id",
			    custom[i].id, "name", custom[i].display_name));
	json_object_set_new(o, "fetched", json_integer(now));
	json_object_set_new(o, "scim", a);
	json_object_set_new(o, "custom", c);
	if (ad != NULL) {
		json_t *d = json_array();

		for (size_t i = 0; i < nad; i++)
			json_array_append_new(d, json_string(ad[i]));
		json_object_set_new(o, "ad", d);
	}
	return o;
}

const char *
schema_custom_id(const json_t *cache, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(cache, "custom"), i, f) {
		const char *n = json_string_value(json_object_get(f, "name"));

		if (n != NULL && strcasecmp(n, name) == 0)
			return json_string_value(json_object_get(f, "id"));
	}
	return NULL;
}

/* has_scim: the cached SCIM schema has attr, or a sub-attribute of it. */
static int
has_scim(const json_t *cache, const char *attr)
{
	size_t i, len = strlen(attr);
	json_t *a;

	json_array_foreach(json_object_get(cache, "scim"), i, a) {
		const char *n = json_string_value(json_object_get(a, "name"));

		if (n != NULL && strncasecmp(n, attr, len) == 0 &&
		    (n[len] == '\0' || n[len] == '.'))
			return 1;
	}
	return 0;
}

static int
has_ad(const json_t *ad, const char *attr)
{
	size_t i;
	json_t *a;

	json_array_foreach(ad, i, a)
		if (json_is_string(a) && strcasecmp(json_string_value(a), attr) == 0)
			return 1;
	return 0;
}

static void
add_problem(struct config_problems *pr, char *msg)
{
	pr->v = xrealloc(pr->v, (pr->n + 1) * sizeof(pr->v[0]));
	pr->v[pr->n++] = msg;
}

/* custom_names: the cached custom field names, for a message. */
static char *
custom_names(const json_t *cache)
{
	size_t i, o = 0, cap = 1;
	json_t *f;
	char *s;

	json_array_foreach(json_object_get(cache, "custom"), i, f)
		if (json_is_string(json_object_get(f, "name")))
			cap += strlen(json_string_value(json_object_get(f, "name"))) + 2;
	s = xcalloc(1, cap);
	json_array_foreach(json_object_get(cache, "custom"), i, f)
		if (json_is_string(json_object_get(f, "name")))
			o += (size_t)snprintf(s + o, cap - o, "%s%s", o ? ", " : "",
			    json_string_value(json_object_get(f, "name")));
	return s;
}

/* check_map: the [push] or [create] pairs of m against the cache. */
static void
check_map(const json_t *cache, const struct config *cfg, const char *section,
    const struct config_map *m, struct config_problems *pr)
{
	const json_t *ad = json_object_get(cache, "ad");

	for (size_t i = 0; i < m->n; i++) {
		const struct config_pair *p = &m->v[i];

		if (strncasecmp(p->key, "custom.", 7) == 0) {
			if (schema_custom_id(cache, p->key + 7) == NULL) {
				char *names = custom_names(cache);

				add_problem(pr, xasprintf("%s:%d: [%s] %s: the phone system "
				    "has no custom user field named '%s' (it has: %s; "
				    "`ringsyncctl schema` refreshes the list)", cfg->path,
				    p->line, section, p->key, p->key + 7,
				    *names ? names : "none"));
				free(names);
			}
		} else if (schema_scim_attr(p->key) != NULL &&
		    !has_scim(cache, schema_scim_attr(p->key))) {
			add_problem(pr, xasprintf("%s:%d: [%s] %s: the phone system's "
			    "user schema has no attribute %s", cfg->path, p->line,
			    section, p->key, schema_scim_attr(p->key)));
		}
		if (json_is_array(ad)) {
			const char *attrs[16];
			size_t n = config_pair_attrs(p, attrs, 16);

			/* an expression's attributes, each (the issue says: the
			 * schema cache must know every one) */
			for (size_t k = 0; k < n; k++)
				if (!has_ad(ad, attrs[k]))
					add_problem(pr, xasprintf("%s:%d: [%s] %s = %s: Active "
					    "Directory has no attribute '%s' for class user "
					    "(`ringsyncctl schema` lists them)", cfg->path,
					    p->line, section, p->key, p->value, attrs[k]));
		}
	}
}

size_t
schema_check(const json_t *cache, const struct config *cfg,
    struct config_problems *pr)
{
	const json_t *ad = json_object_get(cache, "ad");
	size_t n0 = pr->n;

	check_map(cache, cfg, "push", &cfg->push, pr);
	check_map(cache, cfg, "create", &cfg->create, pr);
	check_map(cache, cfg, "policy", &cfg->policy, pr);
	for (size_t i = 0; schema_account_list(cache, "sites") != NULL &&
	    i < cfg->nranges; i++)
		if (cfg->ranges[i].site != NULL &&
		    schema_site(cache, cfg->ranges[i].site) == NULL)
			add_problem(pr, xasprintf("%s:%d: [policy] extension_range.%s: the "
			    "account has no site of that name or code (`ringsyncctl "
			    "schema` lists them)", cfg->path, cfg->ranges[i].line,
			    cfg->ranges[i].site));
	for (size_t i = 0; schema_account_list(cache, "roles") != NULL &&
	    i < cfg->roles.n; i++)
		if (schema_role_id(cache, cfg->roles.v[i].key) == NULL)
			add_problem(pr, xasprintf("%s:%d: [roles] %s: the account has no "
			    "role of that name (`ringsyncctl schema` lists them)",
			    cfg->path, cfg->roles.v[i].line, cfg->roles.v[i].key));
	if (json_is_array(ad) && cfg->photo_attr != NULL &&
	    !has_ad(ad, cfg->photo_attr))
		add_problem(pr, xasprintf("%s: [push] photo = %s: Active Directory "
		    "has no attribute '%s' for class user (`ringsyncctl schema` lists "
		    "them)", cfg->path, cfg->photo_attr, cfg->photo_attr));
	for (size_t i = 0; json_is_array(ad) && i < cfg->writeback.n; i++) {
		const struct config_pair *p = &cfg->writeback.v[i];

		if (!has_ad(ad, p->key))
			add_problem(pr, xasprintf("%s:%d: [writeback] %s: Active Directory "
			    "has no attribute '%s' for class user", cfg->path, p->line,
			    p->key, p->key));
	}
	return pr->n - n0;
}

const json_t *
schema_account_list(const json_t *cache, const char *key)
{
	const json_t *v = json_object_get(json_object_get(cache, "account"), key);

	return json_is_array(v) ? v : NULL;
}

int
schema_policy_ready(const json_t *cache, const struct config *cfg, char *err,
    size_t errlen)
{
	static const struct {
		const char *key, *list, *what;
	} need[] = {
		{ "site", "sites", "sites" },
		{ "cost_center", "cost_centers", "cost centers" },
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (config_map_pair(&cfg->policy, need[i].key) != NULL &&
		    schema_account_list(cache, need[i].list) == NULL)
			return util_errbuf_set(err, errlen, "[policy] %s needs the "
			    "account's %s: run `ringsyncctl schema` (it reads and caches "
			    "them) and start again", need[i].key, need[i].what);
	for (size_t i = 0; i < cfg->nranges; i++)
		if (cfg->ranges[i].site != NULL &&
		    schema_account_list(cache, "sites") == NULL)
			return util_errbuf_set(err, errlen, "[policy] extension_range.%s "
			    "needs the account's sites: run `ringsyncctl schema` (it reads "
			    "and caches them) and start again", cfg->ranges[i].site);
	if (cfg->roles.n > 0 && schema_account_list(cache, "roles") == NULL)
		return util_errbuf_set(err, errlen, "[roles] needs the account's "
		    "roles: run `ringsyncctl schema` (it reads and caches them) and "
		    "start again");
	return 0;
}

int
schema_roles_ready(const json_t *cache, const struct config *cfg, char *err,
    size_t errlen)
{
	if (schema_policy_ready(cache, cfg, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nranges; i++)
		if (cfg->ranges[i].site != NULL &&
		    schema_site(cache, cfg->ranges[i].site) == NULL)
			return util_errbuf_set(err, errlen, "%s:%d: [policy] "
			    "extension_range.%s: the account has no site of that name or "
			    "code (`ringsyncctl schema` lists them)", cfg->path,
			    cfg->ranges[i].line, cfg->ranges[i].site);
	for (size_t i = 0; i < cfg->roles.n; i++)
		if (schema_role_id(cache, cfg->roles.v[i].key) == NULL)
			return util_errbuf_set(err, errlen, "%s:%d: [roles] %s: the "
			    "account has no role of that name (`ringsyncctl schema` "
			    "lists them; after adding one, run it again)", cfg->path,
			    cfg->roles.v[i].line, cfg->roles.v[i].key);
	return 0;
}

/* item_named: the item of list named key (without case), or with that
 * code (without case) or id when also_code; NULL. */
static const json_t *
item_named(const json_t *list, const char *key, int also_code)
{
	const json_t *v;
	size_t i;

	json_array_foreach(list, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		const char *c = json_string_value(json_object_get(v, "code"));
		const char *id = json_string_value(json_object_get(v, "id"));

		if ((n != NULL && strcasecmp(n, key) == 0) || (also_code &&
		    ((c != NULL && strcasecmp(c, key) == 0) ||
		    (id != NULL && strcmp(id, key) == 0))))
			return v;
	}
	return NULL;
}

const json_t *
schema_site(const json_t *cache, const char *key)
{
	return item_named(schema_account_list(cache, "sites"), key, 1);
}

const char *
schema_role_id(const json_t *cache, const char *name)
{
	return json_string_value(json_object_get(item_named(
	    schema_account_list(cache, "roles"), name, 0), "id"));
}

const char *
schema_role_name(const json_t *cache, const char *id)
{
	const json_t *roles = schema_account_list(cache, "roles"), *r;
	const json_t *d = json_object_get(json_object_get(cache, "account"),
	    "default_role");
	size_t i;

	json_array_foreach(roles, i, r) {
		const char *v = json_string_value(json_object_get(r, "id"));

		if (v != NULL && strcmp(v, id) == 0)
			return json_string_value(json_object_get(r, "name"));
	}
	if (json_is_string(json_object_get(d, "id")) &&
	    strcmp(json_string_value(json_object_get(d, "id")), id) == 0)
		return json_string_value(json_object_get(d, "name"));
	return NULL;
}

const char *
schema_default_role(const json_t *cache, const char **why)
{
	const json_t *d = json_object_get(json_object_get(cache, "account"),
	    "default_role");
	const char *id = json_string_value(json_object_get(d, "id"));

	if (why != NULL)
		*why = json_string_value(json_object_get(d, "error"));
	return id != NULL && *id != '\0' ? id : NULL;
}

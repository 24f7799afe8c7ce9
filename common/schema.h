/*
 * schema: the phone system's user schema as ringsync caches it (Import
 * User Schema, docs/behaviour.md): the SCIM User attributes, the account's
 * custom fields and the AD attributes of class user, fetched by
 * `ringsyncctl schema` into the store's meta database (key "schema").
 * ringsyncd -t checks the [push] mapping against the cache, and the pusher
 * finds the ids of custom.<displayName> fields in it. Pure functions.
 *
 * Cache format (JSON): {"fetched": epoch seconds,
 *   "scim": [{"name": "name.givenName", "type": "string"}, ...],
 *   "custom": [{"id": "123", "name": "Cost Center"}, ...],
 *   "ad": ["accountExpires", ...]}   ("ad" absent when AD was not read)
 */
#ifndef RINGSYNC_SCHEMA_H
#define RINGSYNC_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "phone.h"

#define SCHEMA_KEY "schema"

/*
 * schema_cache_new: the cache record of what was fetched. ad may be NULL
 * (not read). New reference.
 */
json_t *schema_cache_new(const struct phone_schema *scim,
    const struct phone_custom_field *custom, size_t ncustom,
    char *const *ad, size_t nad, long long now);

/* schema_scim_attr: the SCIM attribute a standard [push] field sets. */
const char *schema_scim_attr(const char *field);

/*
 * schema_custom_id: the id of the custom field named name (compared
 * without case), or NULL. cache may be NULL.
 */
const char *schema_custom_id(const json_t *cache, const char *name);
/*
 * schema_account_list: the cached list of the account's "sites", "roles"
 * or "cost_centers" ([{id, name, code}]), or NULL when it was not read.
 */
const json_t *schema_account_list(const json_t *cache, const char *key);
/*
 * schema_policy_ready: 0 when the cache holds every list [policy] resolves
 * its values in; -1 with what to do.
 */
int schema_policy_ready(const json_t *cache, const struct config *cfg,
    char *err, size_t errlen);
/*
 * schema_roles_ready: schema_policy_ready, and every [roles] rule names a
 * cached role (the daemon's start and reload); -1 with the first problem.
 */
int schema_roles_ready(const json_t *cache, const struct config *cfg,
    char *err, size_t errlen);

/*
 * The cached roles: schema_role_id, the id of the role named name
 * (without case), or NULL; schema_role_name, the name of role id, or
 * NULL; schema_default_role, the account's default role id, or NULL with
 * *why (why may be NULL) the reason it could not be read, or NULL.
 */
const char *schema_role_id(const json_t *cache, const char *name);
/* schema_site: the cached site whose name or code (without case) or id is
 * key ({id, name, code}), or NULL. */
const json_t *schema_site(const json_t *cache, const char *key);
const char *schema_role_name(const json_t *cache, const char *id);
const char *schema_default_role(const json_t *cache, const char **why);

/*
 * schema_check: every [push] key and AD attribute of cfg that the cache
 * says does not exist, as "file:line: message" added to pr. Returns the
 * number of problems added.
 */
size_t schema_check(const json_t *cache, const struct config *cfg,
    struct config_problems *pr);

#endif

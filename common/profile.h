/*
 * profile: what ringsync pushes for one AD user, derived from the [push]
 * mapping (phone field = AD attribute), normalised (docs/behaviour.md) and
 * hashed, plus the write-back templates.
 *
 * A profile holds every mapped field, "" when AD has no value (the field is
 * cleared on the phone side: AD masters the person). A value that cannot be
 * normalised is an error for that user naming the AD attribute and value.
 * Pure functions: no I/O, no logging.
 */
#ifndef RINGSYNC_PROFILE_H
#define RINGSYNC_PROFILE_H

#include <jansson.h>
#include <stddef.h>

#include "ad.h"
#include "config.h"

#define PROFILE_HASH_LEN 16
#define PROFILE_EMAIL_MAX 254  /* RFC 5321: longer is not an address */
#define PROFILE_EXTENSION_MAX 8 /* digits: the platform's longest */

struct profile_field {
	char *field; /* owned: phone field, e.g. "state", "custom.Cost Center" */
	char *value; /* owned: normalised; "" when AD has none */
};

struct profile {
	struct profile_field *v; /* owned, sorted by field */
	size_t n;
};

struct profile_error {
	char *field; /* owned: the phone field */
	char *attr;  /* owned: the AD attribute */
	char *value; /* owned: the AD value, or NULL when missing */
	char *msg;   /* owned: what is wrong and what to do */
};

/*
 * profile_build: map and normalise entry e through push. Returns 0 with
 * *out filled, or -1 with the first problem in *err (out left empty).
 */
int profile_build(const struct ad_entry *e, const struct config_map *push,
    struct profile *out, struct profile_error *err);
/*
 * profile_build_create: the [create] values of e, normalised like the
 * pushed ones (the country of pushed, unless [create] sets one); an empty
 * result sets nothing (the field is left out); extensionNumber must be
 * digits. Returns 0, or -1 with the problem in *err.
 */
int profile_build_create(const struct ad_entry *e,
    const struct config_map *create, const struct profile *pushed,
    struct profile *out, struct profile_error *err);
/*
 * profile_check_extension: 0 unless the extensionNumber of create values c
 * is longer than max digits (the account's; 0: not known); -1 with the
 * problem in *err naming the [create] attribute.
 */
int profile_check_extension(const struct profile *c,
    const struct config_map *create, int max, struct profile_error *err);
/* profile_set: field = value in p (replaced, or added in order). */
void profile_set(struct profile *p, const char *field, const char *value);
/*
 * profile_resolve: the id, in list (the schema cache's [{id, name, code}]),
 * of the item whose name or code is what pv gives for e (without case);
 * an empty result is the main site's id ("main-site") when list has it,
 * else no id (*id NULL, 0). Returns 0, or -1 with the problem in *err
 * naming what ("site") and the names list has.
 */
int profile_resolve(const struct ad_entry *e, const struct config_pair *pv,
    const json_t *list, const char *what, char **id,
    struct profile_error *err);
void profile_clear(struct profile *p);
void profile_error_clear(struct profile_error *e);
/* profile_get: the value of field, or NULL when it is not mapped. */
const char *profile_get(const struct profile *p, const char *field);

/*
 * profile_hash: a stable hash of the normalised profile (FNV-1a 64 over
 * "field=value\n" in field order), as 16 hex digits.
 */
void profile_hash(const struct profile *p, char out[PROFILE_HASH_LEN + 1]);

/*
 * profile_hash_create: the hash of p and of the values create sets at
 * create ("create.field=value\n" after p's lines): what an unlinked user's
 * entry is compared by, so that a changed create value tries again.
 * profile_hash(p) when create is empty.
 */
void profile_hash_create(const struct profile *p, const struct profile *create,
    char out[PROFILE_HASH_LEN + 1]);

/*
 * profile_hash_values: profile_hash of the n fields with these values (in
 * any order; NULL is ""), as a profile holding them would hash: what a
 * phone user already holds, compared with what AD wants.
 */
void profile_hash_values(const char *const *fields, const char *const *values,
    size_t n, char out[PROFILE_HASH_LEN + 1]);

/* JSON form for the outbox: {"field": "value", ...}. */
json_t *profile_to_json(const struct profile *p);
/* profile_from_json: 0, or -1 when o is not an object of strings. */
int profile_from_json(const json_t *o, struct profile *out);

/*
 * Normalisers, each returning 0 with a new string in *out, or -1 with the
 * admin's message in err. country is an alpha-2 code or NULL.
 */
int profile_norm_country(const char *in, char **out, char *err, size_t errlen);
int profile_norm_state(const char *country, const char *in, char **out,
    char *err, size_t errlen);
int profile_norm_phone(const char *country, const char *in, char **out,
    char *err, size_t errlen);
int profile_norm_email(const char *in, char **out, char *err, size_t errlen);

/*
 * profile_render: a write-back template with {directNumber} and
 * {extensionNumber} replaced (NULL renders empty). Newly allocated.
 */
char *profile_render(const char *tpl, const char *direct_number,
    const char *extension_number);

#endif

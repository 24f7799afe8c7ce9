#include "profile.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr.h"
#include "iso3166.h"
#include "phone_field.h"
#include "util.h"

#define STATE_MSG "state must be a standard state name (California) or code " \
	"(CA), or a province name (Ontario) or code (ON)"

int
profile_norm_country(const char *in, char **out, char *err, size_t errlen)
{
	const struct iso_country *c = iso3166_country_find(in);

	*out = NULL;
	if (c == NULL)
		return util_errbuf_set(err, errlen, "country must be an ISO 3166 country "
		    "code (US) or name (United States)");
	*out = xstrdup(c->alpha2);
	return 0;
}

int
profile_norm_state(const char *country, const char *in, char **out, char *err,
    size_t errlen)
{
	const struct iso_subdivision *d = NULL;

	*out = NULL;
	/* The phone system checks states of the US and Canada only; without a
	 * country, a US or Canadian state is what it expects. */
	if (country != NULL && !iso3166_has_subdivisions(country)) {
		*out = xstrdup(in);
		return 0;
	}
	if (country != NULL)
		d = iso3166_subdivision_find(country, in);
	else if ((d = iso3166_subdivision_find("US", in)) == NULL)
		d = iso3166_subdivision_find("CA", in);
	if (d == NULL)
		return util_errbuf_set(err, errlen, STATE_MSG);
	/* Keep the form the admin chose: a code stays a code, a name a name. */
	*out = xstrdup(strcasecmp(in, d->code) == 0 ? d->code : d->name);
	return 0;
}

/* digits_of: the digits of a phone number without formatting, or -1. */
static int
digits_of(const char *in, char *digits, size_t len, int *plus)
{
	size_t n = 0;

	*plus = 0;
	for (const char *p = in; *p; p++) {
		if (isdigit((unsigned char)*p)) {
			if (n + 1 >= len)
				return -1;
			digits[n++] = *p;
		} else if (*p == '+' && n == 0 && !*plus) {
			*plus = 1;
		} else if (!strchr(" -.()/\t", *p)) {
			return -1;
		}
	}
	digits[n] = '\0';
	return (int)n;
}

int
profile_norm_phone(const char *country, const char *in, char **out, char *err,
    size_t errlen)
{
	int nanp = country == NULL || strcmp(country, "US") == 0 ||
	    strcmp(country, "CA") == 0, plus, n;
	char d[32];

	*out = NULL;
	n = digits_of(in, d, sizeof(d), &plus);
	if (n < 0) {
		/* An extension or words: not unambiguous, pushed as written. */
		if (strpbrk(in, "0123456789") != NULL) {
			*out = xstrdup(in);
			return 0;
		}
		return util_errbuf_set(err, errlen, "is not a phone number");
	}
	if (!plus && d[0] == '0' && d[1] == '0' && n > 4)
		*out = xasprintf("+%s", d + 2);
	else if (plus && n >= 8 && n <= 15)
		*out = xasprintf("+%s", d);
	else if (!plus && nanp && n == 10 && d[0] >= '2')
		*out = xasprintf("+1%s", d);
	else if (!plus && nanp && n == 11 && d[0] == '1' && d[1] >= '2')
		*out = xasprintf("+%s", d);
	else if (n < 3)
		return util_errbuf_set(err, errlen, "is not a phone number");
	else
		*out = xstrdup(in); /* ambiguous without a country code */
	return 0;
}

int
profile_norm_email(const char *in, char **out, char *err, size_t errlen)
{
	const char *at = strchr(in, '@');

	*out = NULL;
	if (at == NULL || at == in || at[1] == '\0' || strchr(at + 1, '@') ||
	    strpbrk(in, " \t,;<>") != NULL || strchr(at + 1, '.') == NULL)
		return util_errbuf_set(err, errlen, "is not an email address");
	/* RFC 5321's limit; the store indexes users by email */
	if (strlen(in) > PROFILE_EMAIL_MAX)
		return util_errbuf_set(err, errlen, "is longer than %d characters",
		    PROFILE_EMAIL_MAX);
	*out = xstrdup(in);
	return 0;
}

static void
set_error(struct profile_error *err, const char *field, const char *attr,
    const char *value, const char *msg)
{
	err->field = xstrdup(field);
	err->attr = xstrdup(attr);
	err->value = value ? xstrdup(value) : NULL;
	err->msg = xstrdup(msg);
}

void
profile_error_clear(struct profile_error *e)
{
	if (e == NULL)
		return;
	free(e->field);
	free(e->attr);
	free(e->value);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

void
profile_clear(struct profile *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].field);
		free(p->v[i].value);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static int
field_cmp(const void *a, const void *b)
{
	return strcmp(((const struct profile_field *)a)->field,
	    ((const struct profile_field *)b)->field);
}

static void
add_field(struct profile *p, const char *field, char *value)
{
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n].field = xstrdup(field);
	p->v[p->n].value = value;
	p->n++;
}

const char *
profile_get(const struct profile *p, const char *field)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].field, field) == 0)
			return p->v[i].value;
	return NULL;
}

/* normalise: one field's trimmed value by its kind; 0, or -1 with msg. */
static int
normalise(const char *field, const char *country, const char *v, char **out,
    char *msg, size_t len)
{
	/* custom.<name> fields are text that may be empty */
	const struct phone_field_info *f =
	    phone_field_get(phone_field_from_name(field));

	if (*v == '\0') {
		if (f != NULL && f->required)
			return util_errbuf_set(msg, len, "is empty: the phone system needs "
			    "the %s of every user", field);
		*out = xstrdup("");
		return 0;
	}
	switch (f != NULL ? f->kind : PHONE_FIELD_TEXT) {
	case PHONE_FIELD_COUNTRY:
		return profile_norm_country(v, out, msg, len);
	case PHONE_FIELD_STATE:
		return profile_norm_state(country, v, out, msg, len);
	case PHONE_FIELD_PHONE:
		return profile_norm_phone(country, v, out, msg, len);
	case PHONE_FIELD_EMAIL:
		return profile_norm_email(v, out, msg, len);
	case PHONE_FIELD_TEXT:
		break;
	}
	*out = xstrdup(v);
	return 0;
}

/* trimmed: the entry's value of attr without surrounding white space. */
static char *
trimmed(const struct ad_entry *e, const char *attr)
{
	const char *v = ad_entry_get(e, attr);
	char *copy = xstrdup(v ? v : ""), *t = util_str_trim(copy), *r = xstrdup(t);

	free(copy);
	return r;
}

static const char *
entry_lookup(const char *attr, void *arg)
{
	return ad_entry_get(arg, attr);
}

/* value_of: what [push] pair pv gives for e, trimmed (newly allocated). */
static char *
value_of(const struct ad_entry *e, const struct config_pair *pv)
{
	char *v, *t, *r;

	if (pv->expr == NULL)
		return trimmed(e, pv->value);
	v = expr_eval(pv->expr, entry_lookup, (void *)(uintptr_t)e);
	t = util_str_trim(v);
	r = xstrdup(t);
	free(v);
	return r;
}

/* problem_read: the entry's problem attribute is one pv reads. */
static int
problem_read(const struct ad_entry *e, const struct config_pair *pv)
{
	const char *a[EXPR_MAX_ARGS];
	size_t n;

	if (e->problem_attr == NULL)
		return 0;
	if (pv->expr == NULL)
		return strcasecmp(e->problem_attr, pv->value) == 0;
	n = expr_attrs(pv->expr, a, EXPR_MAX_ARGS);
	for (size_t i = 0; i < n && i < EXPR_MAX_ARGS; i++)
		if (strcasecmp(e->problem_attr, a[i]) == 0)
			return 1;
	return 0;
}

/* build_end: out in field order (rc 0), or emptied (rc -1); rc. */
static int
build_end(struct profile *out, char *country, int rc)
{
	free(country);
	if (rc < 0)
		profile_clear(out);
	else if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), field_cmp);
	return rc;
}

int
profile_build(const struct ad_entry *e, const struct config_map *push,
    struct profile *out, struct profile_error *err)
{
	const char *cfield = phone_field_of_kind(PHONE_FIELD_COUNTRY)->name;
	const struct config_pair *cpair = NULL;
	char *country = NULL, msg[200];

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	for (size_t i = 0; i < push->n; i++)
		if (strcasecmp(push->v[i].key, cfield) == 0)
			cpair = &push->v[i];
	/* The country first: state and phone numbers depend on it. */
	if (cpair != NULL) {
		char *v = value_of(e, cpair);

		if (*v != '\0' && profile_norm_country(v, &country, msg,
		    sizeof(msg)) < 0) {
			set_error(err, cfield, config_pair_attr(cpair), v, msg);
			free(v);
			return -1;
		}
		free(v);
	}
	for (size_t i = 0; i < push->n; i++) {
		const struct config_pair *pv = &push->v[i];
		const char *field = pv->key;
		char *v, *norm = NULL;

		if (problem_read(e, pv)) {
			set_error(err, field, e->problem_attr, NULL, e->problem);
			goto fail;
		}
		v = value_of(e, pv);
		if (normalise(field, country, v, &norm, msg, sizeof(msg)) < 0) {
			set_error(err, field, config_pair_attr(pv), *v ? v : NULL, msg);
			free(v);
			goto fail;
		}
		free(v);
		add_field(out, field, norm);
	}
	return build_end(out, country, 0);
fail:
	return build_end(out, country, -1);
}

/* hash_more: FNV-1a 64 of p's "<prefix>field=value\n" lines, after h. */
static uint64_t
hash_more(uint64_t h, const char *prefix, const struct profile *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *parts[] = { prefix, p->v[i].field, "=", p->v[i].value,
		    "\n" };

		for (size_t k = 0; k < 5; k++)
			for (const unsigned char *s = (const unsigned char *)parts[k]; *s; s++) {
				h ^= *s;
				h *= 0x100000001b3ULL;
			}
	}
	return h;
}

void
profile_hash(const struct profile *p, char out[PROFILE_HASH_LEN + 1])
{
	uint64_t h = hash_more(0xcbf29ce484222325ULL, "", p);

	snprintf(out, PROFILE_HASH_LEN + 1, "%016llx", (unsigned long long)h);
}

void
profile_hash_create(const struct profile *p, const struct profile *create,
    char out[PROFILE_HASH_LEN + 1])
{
	uint64_t h = hash_more(hash_more(0xcbf29ce484222325ULL, "", p), "create.",
	    create);

	snprintf(out, PROFILE_HASH_LEN + 1, "%016llx", (unsigned long long)h);
}

void
profile_set(struct profile *p, const char *field, const char *value)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].field, field) == 0) {
			free(p->v[i].value);
			p->v[i].value = xstrdup(value);
			return;
		}
	add_field(p, field, xstrdup(value));
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), field_cmp);
}

int
profile_resolve(const struct ad_entry *e, const struct config_pair *pv,
    const json_t *list, const char *what, char **id, struct profile_error *err)
{
	const json_t *it;
	char *v, names[200] = "", msg[400];
	size_t i, o = 0;

	*id = NULL;
	memset(err, 0, sizeof(*err));
	if (problem_read(e, pv)) {
		set_error(err, pv->key, e->problem_attr, NULL, e->problem);
		return -1;
	}
	v = value_of(e, pv);
	json_array_foreach(list, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		const char *c = json_string_value(json_object_get(it, "code"));
		const char *d = json_string_value(json_object_get(it, "id"));

		if (d == NULL)
			continue;
		if (*v == '\0' ? strcmp(d, "main-site") == 0 :
		    (n != NULL && strcasecmp(n, v) == 0) ||
		    (c != NULL && strcasecmp(c, v) == 0)) {
			*id = xstrdup(d);
			free(v);
			return 0;
		}
		if (n != NULL && o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
			    o ? ", " : "", n);
	}
	if (*v == '\0') { /* no value, and no main site to go to */
		free(v);
		return 0;
	}
	snprintf(msg, sizeof(msg), "'%s' is not a %s of the account (it has: "
	    "%s; `ringsyncctl schema` refreshes the list)", v, what,
	    *names ? names : "none");
	set_error(err, pv->key, config_pair_attr(pv), v, msg);
	free(v);
	return -1;
}

/*
 * norm_extension: an extension number is digits only, at most
 * PROFILE_EXTENSION_MAX of them (the account may allow fewer: the pusher
 * checks its limit).
 */
static int
norm_extension(const char *v, char **out, char *msg, size_t len)
{
	size_t n = strlen(v);

	if (n > PROFILE_EXTENSION_MAX || strspn(v, "0123456789") != n)
		return util_errbuf_set(msg, len, "'%s' is not an extension number (%d "
		    "digits at most, digits only)", v, PROFILE_EXTENSION_MAX);
	*out = xstrdup(v);
	return 0;
}

int
profile_check_extension(const struct profile *c, const struct config_map *create,
    int max, struct profile_error *err)
{
	const char *xn = phone_field_name(PHONE_F_EXTENSION_NUMBER);
	const char *v = profile_get(c, xn);
	const struct config_pair *pv = config_map_pair(create, xn);
	char msg[200];

	memset(err, 0, sizeof(*err));
	if (v == NULL || pv == NULL || max <= 0 || strlen(v) <= (size_t)max)
		return 0;
	snprintf(msg, sizeof(msg), "'%s' is longer than the account's extension "
	    "numbers (%d digits at most)", v, max);
	set_error(err, xn, config_pair_attr(pv), v, msg);
	return -1;
}

int
profile_build_create(const struct ad_entry *e, const struct config_map *create,
    const struct profile *pushed, struct profile *out,
    struct profile_error *err)
{
	const char *cfield = phone_field_of_kind(PHONE_FIELD_COUNTRY)->name;
	const char *xn = phone_field_name(PHONE_F_EXTENSION_NUMBER);
	const char *pc = pushed ? profile_get(pushed, cfield) : NULL;
	char *country = pc && *pc ? xstrdup(pc) : NULL, msg[200];

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	/* A country set at create rules the state and numbers set with it. */
	for (size_t i = 0; i < create->n; i++) {
		char *v;

		if (strcasecmp(create->v[i].key, cfield) != 0)
			continue;
		v = value_of(e, &create->v[i]);
		if (*v != '\0') {
			free(country);
			country = NULL;
			if (profile_norm_country(v, &country, msg, sizeof(msg)) < 0) {
				set_error(err, cfield, config_pair_attr(&create->v[i]), v, msg);
				free(v);
				return -1;
			}
		}
		free(v);
	}
	for (size_t i = 0; i < create->n; i++) {
		const struct config_pair *pv = &create->v[i];
		char *v, *norm = NULL;
		int rc;

		if (problem_read(e, pv)) {
			set_error(err, pv->key, e->problem_attr, NULL, e->problem);
			goto fail;
		}
		v = value_of(e, pv);
		if (*v == '\0') { /* an empty result sets nothing */
			free(v);
			continue;
		}
		rc = strcmp(pv->key, xn) == 0 ?
		    norm_extension(v, &norm, msg, sizeof(msg)) :
		    normalise(pv->key, country, v, &norm, msg, sizeof(msg));
		if (rc < 0) {
			set_error(err, pv->key, config_pair_attr(pv), v, msg);
			free(v);
			goto fail;
		}
		free(v);
		add_field(out, pv->key, norm);
	}
	return build_end(out, country, 0);
fail:
	return build_end(out, country, -1);
}

void
profile_hash_values(const char *const *fields, const char *const *values,
    size_t n, char out[PROFILE_HASH_LEN + 1])
{
	struct profile p = { 0 };

	for (size_t i = 0; i < n; i++)
		add_field(&p, fields[i], xstrdup(values[i] ? values[i] : ""));
	if (p.n > 1)
		qsort(p.v, p.n, sizeof(*p.v), field_cmp);
	profile_hash(&p, out);
	profile_clear(&p);
}

json_t *
profile_to_json(const struct profile *p)
{
	json_t *o = json_object();

	for (size_t i = 0; i < p->n; i++)
		json_object_set_new(o, p->v[i].field, json_string(p->v[i].value));
	return o;
}

int
profile_from_json(const json_t *o, struct profile *out)
{
	const char *k;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o))
		return -1;
	json_object_foreach((json_t *)o, k, v) {
		if (!json_is_string(v)) {
			profile_clear(out);
			return -1;
		}
		add_field(out, k, xstrdup(json_string_value(v)));
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), field_cmp);
	return 0;
}

/* template_field: the length of "{name}" of f at s, or 0. */
static size_t
template_field(const char *s, enum phone_field f)
{
	size_t n = strlen(phone_field_name(f));

	return s[0] == '{' && strncmp(s + 1, phone_field_name(f), n) == 0 &&
	    s[n + 1] == '}' ? n + 2 : 0;
}

char *
profile_render(const char *tpl, const char *direct_number,
    const char *extension_number)
{
	const char *dn = direct_number ? direct_number : "";
	const char *en = extension_number ? extension_number : "";
	size_t cap = strlen(tpl) + 1, o = 0;
	char *out;

	/* Each {field} becomes at most its value: this sizes the buffer. */
	for (const char *s = tpl; (s = strchr(s, '{')) != NULL; s++)
		cap += strlen(dn) + strlen(en);
	out = xmalloc(cap);
	for (const char *s = tpl; *s; ) {
		size_t n = template_field(s, PHONE_F_DIRECT_NUMBER);
		const char *v = dn;

		if (n == 0 && (n = template_field(s, PHONE_F_EXTENSION_NUMBER)) > 0)
			v = en;
		if (n == 0) {
			out[o++] = *s++;
			continue;
		}
		memcpy(out + o, v, strlen(v));
		o += strlen(v);
		s += n;
	}
	out[o] = '\0';
	return out;
}

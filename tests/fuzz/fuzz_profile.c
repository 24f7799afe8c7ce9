/*
 * fuzz_profile: normalisation of AD values into what is pushed to the
 * phone system (profile.c, iso3166.c): countries by code, name or alias,
 * US and Canadian states, phone numbers, emails, the profile's hash and
 * its JSON form in the outbox.
 *
 * Input: one "attribute: value" line per AD attribute (raw bytes, as in
 * fuzz_ad_entry), mapped through the default [push] table plus
 * businessPhone, jobTitle and a custom field. The entry goes through
 * ad_entry_build first, as in a scan.
 *
 * Oracles: a profile that builds has one value per mapped field, in field
 * order; it survives the outbox (to JSON and back, same hash); a country
 * is an alpha-2 code, an email has one '@'. A profile that does not build
 * names the field, the attribute and what is wrong.
 */
#include <ctype.h>
#include <jansson.h>

#include "ad.h"
#include "fuzz.h"
#include "profile.h"
#include "util.h"

#define MAX_RAW 64

static struct config_pair pairs[] = {
	{ "firstName", "givenName", 0, NULL }, { "lastName", "sn", 0, NULL },
	{ "email", "mail", 0, NULL }, { "mobilePhone", "mobile", 0, NULL },
	{ "businessPhone", "telephoneNumber", 0, NULL },
	{ "street", "streetAddress", 0, NULL }, { "city", "l", 0, NULL },
	{ "state", "st", 0, NULL }, { "zip", "postalCode", 0, NULL },
	{ "country", "c", 0, NULL },
	{ "department", "department", 0, NULL }, { "jobTitle", "title", 0, NULL },
	{ "custom.Cost Center", "extensionAttribute1", 0, NULL },
};

static void
check_profile(const struct profile *p, const struct config_map *push)
{
	char h1[PROFILE_HASH_LEN + 1], h2[PROFILE_HASH_LEN + 1];
	const char *email = profile_get(p, "email");
	const char *country = profile_get(p, "country");
	struct profile back;
	json_t *j;

	fz_check(p->n == push->n);
	for (size_t i = 1; i < p->n; i++)
		fz_check(strcmp(p->v[i - 1].field, p->v[i].field) < 0);
	fz_check(email != NULL && strchr(email, '@') != NULL &&
	    strchr(email, '@') == strrchr(email, '@'));
	fz_check(country != NULL && (*country == '\0' || (strlen(country) == 2 &&
	    isupper((unsigned char)country[0]) &&
	    isupper((unsigned char)country[1]))));
	/* the outbox keeps the profile as JSON: nothing may be lost */
	j = profile_to_json(p);
	fz_check(json_object_size(j) == p->n);
	fz_check(profile_from_json(j, &back) == 0 && back.n == p->n);
	for (size_t i = 0; i < p->n; i++)
		fz_check(strcmp(back.v[i].field, p->v[i].field) == 0 &&
		    strcmp(back.v[i].value, p->v[i].value) == 0);
	profile_hash(p, h1);
	profile_hash(&back, h2);
	fz_check(strcmp(h1, h2) == 0);
	profile_clear(&back);
	json_decref(j);
}

/* check_norm: each normaliser on its own, under each kind of country. */
static void
check_norm(const char *v)
{
	static const char *const countries[] = { NULL, "US", "CA", "DE" };
	char err[200], *out;

	for (size_t i = 0; i < sizeof(countries) / sizeof(countries[0]); i++) {
		if (profile_norm_state(countries[i], v, &out, err, sizeof(err)) == 0)
			fz_check(out != NULL);
		free(out);
		if (profile_norm_phone(countries[i], v, &out, err, sizeof(err)) == 0)
			fz_check(out != NULL && strpbrk(out, "0123456789") != NULL);
		free(out);
	}
	if (profile_norm_country(v, &out, err, sizeof(err)) == 0)
		fz_check(strlen(out) == 2);
	free(out);
	if (profile_norm_email(v, &out, err, sizeof(err)) == 0)
		fz_check(strcmp(out, v) == 0);
	free(out);
}

FZ_JSON_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
		14, 15, 16 };
	struct config_map push = { pairs, sizeof(pairs) / sizeof(pairs[0]) };
	struct fz f = { (const char *)data, size };
	struct ad_raw raw[MAX_RAW + 1] = { { "objectGUID", guid, 16 } };
	char *line, *names[MAX_RAW];
	size_t n = 0, len;
	struct profile_error err;
	struct profile p;
	struct ad_entry e;

	while (n < MAX_RAW && (line = fz_line(&f, &len)) != NULL) {
		char *colon = memchr(line, ':', len);
		struct ad_raw *r = &raw[n + 1];
		size_t off = colon ? (size_t)(colon + 1 - line) : len;

		names[n++] = line;
		if (colon != NULL)
			*colon = '\0';
		if (off < len && line[off] == ' ')
			off++;
		r->attr = line;
		r->len = len - off;
		r->val = colon ? fz_dup(line + off, r->len) : NULL;
	}
	if (ad_entry_build(&e, "CN=Fuzz,DC=example,DC=test", raw, n + 1,
	    "mail") == 0) {
		if (profile_build(&e, &push, &p, &err) == 0) {
			check_profile(&p, &push);
		} else {
			fz_check(err.field != NULL && err.attr != NULL &&
			    err.msg != NULL && p.n == 0);
		}
		for (size_t i = 0; i < e.nattrs; i++)
			check_norm(e.attrs[i].value);
		profile_clear(&p);
		profile_error_clear(&err);
	}
	ad_entry_clear(&e);
	for (size_t i = 0; i < n; i++) {
		fz_free(raw[i + 1].val);
		free(names[i]);
	}
	return 0;
}

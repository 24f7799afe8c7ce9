/*
 * iso3166: country and US/Canadian subdivision tables (data, generated into
 * iso3166_data.c from Debian's iso-codes by common/data/gen_iso3166.py) and
 * the look-ups the profile normalisation needs.
 */
#ifndef RINGSYNC_ISO3166_H
#define RINGSYNC_ISO3166_H

#include <stddef.h>

struct iso_country {
	const char *alpha2, *alpha3, *name, *official; /* official may be NULL */
};

struct iso_alias {
	const char *name, *alpha2;
};

struct iso_subdivision {
	const char *country; /* alpha-2 */
	const char *code;    /* without the country prefix: "CA", "ON" */
	const char *name;
};

extern const struct iso_country iso3166_countries[];
extern const size_t iso3166_ncountries;
extern const struct iso_alias iso3166_aliases[];
extern const size_t iso3166_naliases;
extern const struct iso_subdivision iso3166_subdivisions[];
extern const size_t iso3166_nsubdivisions;

/*
 * iso3166_country_find: a country by alpha-2, alpha-3, name, official name or a
 * common alias, ignoring case. NULL when unknown.
 */
const struct iso_country *iso3166_country_find(const char *s);
/* iso3166_subdivision_find: a subdivision of country (alpha-2) by code or name. */
const struct iso_subdivision *iso3166_subdivision_find(const char *country,
    const char *s);
/* iso3166_has_subdivisions: do we validate subdivisions of this country? */
int iso3166_has_subdivisions(const char *country);

#endif

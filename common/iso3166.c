#include "iso3166.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Compare ignoring case, dots and runs of spaces ("U.S.A." = "usa"). */
static int
loose_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '.' || *a == ' ')
			a++;
		while (*b == '.' || *b == ' ')
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
		a++;
		b++;
	}
}

const struct iso_country *
iso3166_country_find(const char *s)
{
	const struct iso_country *c;
	size_t len = strlen(s);

	for (size_t i = 0; i < iso3166_ncountries; i++) {
		c = &iso3166_countries[i];
		if ((len == 2 && strcasecmp(s, c->alpha2) == 0) ||
		    (len == 3 && strcasecmp(s, c->alpha3) == 0) ||
		    loose_eq(s, c->name) ||
		    (c->official != NULL && loose_eq(s, c->official)))
			return c;
	}
	for (size_t i = 0; i < iso3166_naliases; i++)
		if (loose_eq(s, iso3166_aliases[i].name))
			return iso3166_country_find(iso3166_aliases[i].alpha2);
	return NULL;
}

const struct iso_subdivision *
iso3166_subdivision_find(const char *country, const char *s)
{
	for (size_t i = 0; i < iso3166_nsubdivisions; i++) {
		const struct iso_subdivision *d = &iso3166_subdivisions[i];

		if (strcasecmp(d->country, country) != 0)
			continue;
		if (strcasecmp(s, d->code) == 0 || strcasecmp(s, d->name) == 0)
			return d;
	}
	return NULL;
}

int
iso3166_has_subdivisions(const char *country)
{
	for (size_t i = 0; i < iso3166_nsubdivisions; i++)
		if (strcasecmp(iso3166_subdivisions[i].country, country) == 0)
			return 1;
	return 0;
}

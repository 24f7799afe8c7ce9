/*
 * brand: the table of brand.h (ringsyncd.conf(5) lists it too; a unit
 * test keeps the two in step).
 */
#include <strings.h>

#include "brand.h"

#define RC_COM "https://platform.ringcentral.com"
#define RC_BIZ "https://platform.ringcentral.biz"   /* a segregated environment */

static const struct brand brands[] = {
	{ "RingCentral", "1210", RC_COM },
	{ "TELUS Business Connect", "7310", RC_COM },
	{ "Avaya Cloud Office", "6010", RC_COM },
	{ "BT Cloud Work", "7710", RC_COM },
	{ "Unify Office", "2020", RC_COM },
	{ "Rainbow Office", "2110", RC_COM },
	{ "Vodafone Business", "7010", RC_COM },
	{ "AT&T Office@Hand", "3420", RC_BIZ },
	{ "Verizon", "2210", RC_BIZ },
};

const struct brand *
brand_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(brands) / sizeof(brands[0]);
	    i++)
		if (strcasecmp(brands[i].name, name) == 0)
			return &brands[i];
	return NULL;
}

const struct brand *
brand_at(size_t i)
{
	return i < sizeof(brands) / sizeof(brands[0]) ? &brands[i] : NULL;
}

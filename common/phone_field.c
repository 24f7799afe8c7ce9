/*
 * phone_field: the registry of phone profile fields (phone_field.h).
 */
#include "phone_field.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define ADDR "addresses[type=work]."
#define BUSINESS "contact.businessAddress."

/*
 * The one list of fields. The SCIM paths are those phone_scim_create_body
 * sends, the REST paths those of phone_bulk_record (docs/phone-api.md);
 * the order is the order of messages, bulk records and `ringsyncctl
 * schema`.
 */
static const struct phone_field_info fields[PHONE_F_END] = {
	{ PHONE_F_FIRST_NAME, "firstName", "name.givenName", "name.givenName",
	  "contact.firstName", "givenName", PHONE_FIELD_TEXT, 1,
	  PHONE_FIELD_PUSH },
	{ PHONE_F_LAST_NAME, "lastName", "name.familyName", "name.familyName",
	  "contact.lastName", "sn", PHONE_FIELD_TEXT, 1, PHONE_FIELD_PUSH },
	{ PHONE_F_EMAIL, "email", "emails[type=work].value", "emails",
	  "contact.email", "mail", PHONE_FIELD_EMAIL, 1, PHONE_FIELD_PUSH },
	{ PHONE_F_MOBILE_PHONE, "mobilePhone", "phoneNumbers[type=mobile].value",
	  "phoneNumbers", "contact.mobilePhone", "mobile", PHONE_FIELD_PHONE, 0,
	  PHONE_FIELD_PUSH },
	{ PHONE_F_BUSINESS_PHONE, "businessPhone", "phoneNumbers[type=work].value",
	  "phoneNumbers", "contact.businessPhone", NULL, PHONE_FIELD_PHONE, 0,
	  PHONE_FIELD_PUSH },
	{ PHONE_F_STREET, "street", ADDR "streetAddress",
	  "addresses.streetAddress", BUSINESS "street", "streetAddress",
	  PHONE_FIELD_TEXT, 0, PHONE_FIELD_PUSH },
	{ PHONE_F_CITY, "city", ADDR "locality", "addresses.locality",
	  BUSINESS "city", "l", PHONE_FIELD_TEXT, 0, PHONE_FIELD_PUSH },
	{ PHONE_F_STATE, "state", ADDR "region", "addresses.region",
	  BUSINESS "state", "st", PHONE_FIELD_STATE, 0, PHONE_FIELD_PUSH },
	{ PHONE_F_ZIP, "zip", ADDR "postalCode", "addresses.postalCode",
	  BUSINESS "zip", "postalCode", PHONE_FIELD_TEXT, 0, PHONE_FIELD_PUSH },
	{ PHONE_F_COUNTRY, "country", ADDR "country", "addresses.country",
	  BUSINESS "country", "c", PHONE_FIELD_COUNTRY, 0, PHONE_FIELD_PUSH },
	{ PHONE_F_DEPARTMENT, "department", ENTERPRISE ":department",
	  "department", "contact.department", "department", PHONE_FIELD_TEXT, 0,
	  PHONE_FIELD_PUSH },
	{ PHONE_F_JOB_TITLE, "jobTitle", "title", "title", "contact.jobTitle",
	  NULL, PHONE_FIELD_TEXT, 0, PHONE_FIELD_PUSH },
	/* read by the importer (the user's first direct number, the
	 * extension's number), rendered into [writeback] templates */
	{ PHONE_F_DIRECT_NUMBER, "directNumber", NULL, NULL, NULL, NULL,
	  PHONE_FIELD_TEXT, 0, PHONE_FIELD_WRITEBACK },
	{ PHONE_F_EXTENSION_NUMBER, "extensionNumber", NULL, NULL, NULL, NULL,
	  PHONE_FIELD_TEXT, 0, PHONE_FIELD_WRITEBACK },
};

const struct phone_field_info *
phone_field_get(enum phone_field f)
{
	return (unsigned int)f < PHONE_F_END ? &fields[f] : NULL;
}

const char *
phone_field_name(enum phone_field f)
{
	return (unsigned int)f < PHONE_F_END ? fields[f].name : "unknown";
}

int
phone_field_from_name(const char *name)
{
	for (int f = 0; name != NULL && f < PHONE_NFIELDS; f++)
		if (strcasecmp(name, fields[f].name) == 0)
			return f;
	return -1;
}

const struct phone_field_info *
phone_field_of_kind(enum phone_field_kind k)
{
	for (int f = 0; f < PHONE_NFIELDS; f++)
		if (fields[f].kind == k)
			return &fields[f];
	return NULL;
}

const char *
phone_field_leaf(const char *path, char *parent, size_t len)
{
	/* an extension's URN has dots of its own ("2.0"): it ends at a ':' */
	const char *sep = strrchr(path, strncmp(path, "urn:", 4) == 0 ? ':' :
	    '.');

	if (sep == NULL) {
		snprintf(parent, len, "%s", "");
		return path;
	}
	snprintf(parent, len, "%.*s", (int)(sep - path), path);
	return sep + 1;
}

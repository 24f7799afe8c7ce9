/*
 * phone_field: the registry of phone profile fields, the one list of them
 * (docs/architecture.md, the phone client). Per field: its name as
 * configured, where it goes in a SCIM User and in an extension-bulk-update
 * record, how its value is normalised, whether it may be empty, and its
 * direction (pushed from AD, or written back to AD through [writeback]
 * templates). Configuration, profiles, request bodies, the schema checks
 * and error messages all read this table; custom.<name> fields are not in
 * it (their names come from the account). Static data, no state.
 */
#ifndef RINGSYNC_PHONE_FIELD_H
#define RINGSYNC_PHONE_FIELD_H

#include <stddef.h>

/*
 * The fields, in table order. The pushed fields come first:
 * PHONE_NFIELDS of them index struct phone_profile and struct
 * phone_extension. The written-back fields follow, up to PHONE_F_END.
 */
enum phone_field {
	PHONE_F_FIRST_NAME,
	PHONE_F_LAST_NAME,
	PHONE_F_EMAIL,
	PHONE_F_MOBILE_PHONE,
	PHONE_F_BUSINESS_PHONE,
	PHONE_F_STREET,
	PHONE_F_CITY,
	PHONE_F_STATE,
	PHONE_F_ZIP,
	PHONE_F_COUNTRY,
	PHONE_F_DEPARTMENT,
	PHONE_F_JOB_TITLE,
	PHONE_NFIELDS,
	PHONE_F_DIRECT_NUMBER = PHONE_NFIELDS,
	PHONE_F_EXTENSION_NUMBER,
	PHONE_F_END
};

/* How a pushed value is normalised (profile.h, docs/behaviour.md). */
enum phone_field_kind {
	PHONE_FIELD_TEXT,      /* trimmed only */
	PHONE_FIELD_EMAIL,     /* must look like an address */
	PHONE_FIELD_PHONE,     /* E.164 where unambiguous */
	PHONE_FIELD_STATE,     /* a US or Canadian state or province */
	PHONE_FIELD_COUNTRY,   /* ISO 3166-1 alpha-2 */
};

enum phone_field_dir {
	PHONE_FIELD_PUSH,      /* AD masters it: a [push] key */
	PHONE_FIELD_WRITEBACK, /* the phone system masters it: {name} in [writeback] */
};

/* One row of the registry. Every string is static. */
struct phone_field_info {
	enum phone_field id;
	const char *name;        /* "firstName": [push] key or {template} name */
	const char *scim;        /* SCIM User path: "name.givenName",
	                          * "phoneNumbers[type=mobile].value", an
	                          * extension's "urn:...:User:department";
	                          * NULL: not sent through SCIM */
	const char *scim_attr;   /* the schema attribute ringsyncd -t looks
	                          * for: the path without filters, an
	                          * attribute's .value and the URN */
	const char *rest;        /* ExtensionBulkUpdateInfo path:
	                          * "contact.businessAddress.street";
	                          * NULL: not pushed */
	const char *ad_default;  /* the AD attribute pushed by default, or NULL */
	enum phone_field_kind kind;
	int required;            /* may not be empty: a new phone user needs it */
	enum phone_field_dir dir;
};

/* phone_field_get: the row of f, or NULL when f is not a field. */
const struct phone_field_info *phone_field_get(enum phone_field f);

/*
 * phone_field_name: "firstName", ... for any field of the table;
 * "unknown" when f is not one.
 */
const char *phone_field_name(enum phone_field f);

/*
 * phone_field_from_name: the pushed field named name (compared without
 * case), or -1 (also for written-back fields and custom.<name>).
 */
int phone_field_from_name(const char *name);

/*
 * phone_field_of_kind: the first pushed field of kind k, or NULL (the
 * country: state and phone numbers depend on it).
 */
const struct phone_field_info *phone_field_of_kind(enum phone_field_kind k);

/*
 * phone_field_leaf: the last member of path ("givenName" of
 * "name.givenName", "department" of an extension URN path); the parent
 * path, without that member, into parent (cut to len). Pure.
 */
const char *phone_field_leaf(const char *path, char *parent, size_t len);

#endif

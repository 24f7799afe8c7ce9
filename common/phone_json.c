/*
 * phone_json: request bodies and the validating response parsers
 * (phone.h). Pure functions over jansson values: a missing or mistyped
 * field is an error naming it, never a crash or a silent default.
 */
#include "phone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

#define SCIM_USER_URN "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_ENTERPRISE_URN \
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
/* s: a longer token lifetime is not an answer (and would overflow a time) */
#define TOKEN_TTL_MAX (10LL * 366 * 86400)

/* ---------------------------------------------------------------------
 * Request bodies: each field goes where its path in the registry
 * (phone_field.h) says; the order of the members is the one sent since
 * the first release. */

enum { REST, SCIM };

/*
 * fields_object: {leaf: value} of the fields whose REST or SCIM path is
 * parent.leaf, in table order; SCIM leaves out empty values. New reference.
 */
static json_t *
fields_object(const struct phone_profile *p, int scim, const char *parent)
{
	json_t *o = json_object();
	char at[128];

	for (int f = 0; f < PHONE_NFIELDS; f++) {
		const struct phone_field_info *fi = phone_field_get(f);
		const char *path = scim ? fi->scim : fi->rest, *v = p->field[f];
		const char *leaf;

		if (path == NULL || v == NULL || (scim && *v == '\0'))
			continue;
		leaf = phone_field_leaf(path, at, sizeof(at));
		if (strcmp(at, parent) == 0)
			json_object_set_new(o, leaf, json_string(v));
	}
	return o;
}

json_t *
phone_bulk_record(const struct phone_bulk_item *item)
{
	json_t *rec = json_object(), *contact, *addr, *custom;
	const struct phone_profile *p = item->profile;
	char id[24];

	/* ExtensionBulkUpdateInfo.id is a string in the API's definitions */
	snprintf(id, sizeof(id), "%lld", item->extension_id);
	json_object_set_new(rec, "id", json_string(id));
	if (item->status != NULL)
		json_object_set_new(rec, "status", json_string(item->status));
	if (item->extension_number != NULL)
		json_object_set_new(rec, "extensionNumber",
		    json_string(item->extension_number));
	if (item->site_id != NULL)
		json_object_set_new(rec, "site", json_pack("{s:s}", "id",
		    item->site_id));
	if (p == NULL)
		return rec;
	contact = fields_object(p, REST, "contact");
	addr = fields_object(p, REST, "contact.businessAddress");
	if (json_object_size(addr) > 0)
		json_object_set(contact, "businessAddress", addr);
	if (json_object_size(contact) > 0)
		json_object_set(rec, "contact", contact);
	json_decref(addr);
	json_decref(contact);
	if (p->ncustom > 0) {
		custom = json_array();
		for (size_t i = 0; i < p->ncustom; i++)
			json_array_append_new(custom, json_pack("{s:s, s:s}", "id",
			    p->custom[i].id, "value", p->custom[i].value ?
			    p->custom[i].value : ""));
		json_object_set_new(rec, "customFields", custom);
	}
	return rec;
}

/* drop_empty: o without its "" members, and its objects' (in place). */
static void
drop_empty(json_t *o)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(o, tmp, k, v) {
		if (json_is_object(v))
			drop_empty(v);
		if ((json_is_string(v) && json_string_length(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0))
			json_object_del(o, k);
	}
}

json_t *
phone_extension_create_body(const struct phone_profile *prof,
    const struct phone_create_extra *x, char *err, size_t errlen)
{
	static const enum phone_field needed[] = {
		PHONE_F_EMAIL, PHONE_F_FIRST_NAME, PHONE_F_LAST_NAME,
	};
	struct phone_bulk_item item = { 0, prof, NULL, x ? x->extension_number :
	    NULL, x ? x->site_id : NULL };
	json_t *rec, *contact;

	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (prof->field[needed[i]] == NULL || *prof->field[needed[i]] == '\0') {
			snprintf(err, errlen, "a new phone user needs %s",
			    phone_field_name(needed[i]));
			return NULL;
		}
	rec = phone_bulk_record(&item);
	json_object_del(rec, "id");
	if ((contact = json_object_get(rec, "contact")) != NULL)
		drop_empty(contact);
	if (x != NULL && x->cost_center_id != NULL)
		json_object_set_new(rec, "costCenter", json_pack("{s:s}", "id",
		    x->cost_center_id));
	json_object_set_new(rec, "type", json_string("User"));
	json_object_set_new(rec, "status", json_string("Enabled"));
	return rec;
}

static const char *
nonempty(const struct phone_profile *p, enum phone_field f)
{
	const char *v = p->field[f];

	return v != NULL && *v != '\0' ? v : NULL;
}

static void
set_opt(json_t *o, const char *key, const char *value)
{
	if (value != NULL && *value != '\0')
		json_object_set_new(o, key, json_string(value));
}

/*
 * scim_element: the member of a multi-valued attribute that container
 * names ("addresses[type=work]"): its type, before or after the non-empty
 * fields under it. NULL when there are none.
 */
static json_t *
scim_element(const struct phone_profile *p, const char *container,
    int type_last)
{
	const char *eq = strchr(container, '=');
	json_t *o = json_object(), *v = fields_object(p, SCIM, container);
	json_t *type = json_stringn(eq ? eq + 1 : "", eq ? strlen(eq + 1) - 1 :
	    0);

	if (json_object_size(v) == 0) {
		json_decref(o);
		json_decref(v);
		json_decref(type);
		return NULL;
	}
	if (!type_last)
		json_object_set(o, "type", type);
	json_object_update(o, v);
	if (type_last)
		json_object_set(o, "type", type);
	json_decref(v);
	json_decref(type);
	return o;
}

static json_t *
scim_phones(const struct phone_profile *p)
{
	static const char *const order[] = {
		"phoneNumbers[type=work]", "phoneNumbers[type=mobile]",
	};
	json_t *a = json_array(), *e;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((e = scim_element(p, order[i], 0)) != NULL)
			json_array_append_new(a, e);
	return a;
}

json_t *
phone_scim_create_body(const struct phone_profile *prof,
    const char *external_id, char *err, size_t errlen)
{
	const char *email = nonempty(prof, PHONE_F_EMAIL);
	json_t *u, *mail, *phones, *addr, *top, *ext;
	char at[128];

	for (int f = 0; f < PHONE_NFIELDS; f++)
		if (phone_field_get(f)->required && nonempty(prof, f) == NULL) {
			util_errbuf_set(err, errlen, "a new phone user needs %s",
			    phone_field_name(f));
			return NULL;
		}
	/* the email is also the userName, and the primary email */
	phone_field_leaf(phone_field_get(PHONE_F_EMAIL)->scim, at, sizeof(at));
	mail = scim_element(prof, at, 0);
	json_object_set_new(mail, "primary", json_true());
	u = json_pack("{s:[s,s], s:s, s:o, s:[o], s:b}", "schemas",
	    SCIM_USER_URN, SCIM_ENTERPRISE_URN, "userName", email, "name",
	    fields_object(prof, SCIM, "name"), "emails", mail, "active", 1);
	set_opt(u, "externalId", external_id);
	phones = scim_phones(prof);
	if (json_array_size(phones) > 0)
		json_object_set(u, "phoneNumbers", phones);
	json_decref(phones);
	if ((addr = scim_element(prof, "addresses[type=work]", 1)) != NULL)
		json_object_set_new(u, "addresses", json_pack("[o]", addr));
	top = fields_object(prof, SCIM, "");
	json_object_update(u, top);
	json_decref(top);
	ext = fields_object(prof, SCIM, SCIM_ENTERPRISE_URN);
	if (json_object_size(ext) > 0)
		json_object_set(u, SCIM_ENTERPRISE_URN, ext);
	json_decref(ext);
	return u;
}

/* ---------------------------------------------------------------------
 * Validation helpers: each returns 0, or -1 with "what: why" in err. */

enum { OPTIONAL, REQUIRED };

static int
want_str(const json_t *o, const char *key, int req, char **out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return req ? util_errbuf_set(err, errlen, "%s is missing", key) : 0;
	if (!json_is_string(v))
		return util_errbuf_set(err, errlen, "%s is not a string", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
want_int(const json_t *o, const char *key, int req, long long *out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return req ? util_errbuf_set(err, errlen, "%s is missing", key) : 0;
	if (!json_is_integer(v))
		return util_errbuf_set(err, errlen, "%s is not an integer", key);
	*out = json_integer_value(v);
	return 0;
}

static int
want_bool(const json_t *o, const char *key, int req, int *out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return req ? util_errbuf_set(err, errlen, "%s is missing", key) : 0;
	if (!json_is_boolean(v))
		return util_errbuf_set(err, errlen, "%s is not a boolean", key);
	*out = json_is_true(v);
	return 0;
}

/* want_obj: an optional member that must be an object when present. */
static int
want_obj(const json_t *o, const char *key, int req, const json_t **out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return req ? util_errbuf_set(err, errlen, "%s is missing", key) : 0;
	if (!json_is_object(v))
		return util_errbuf_set(err, errlen, "%s is not an object", key);
	*out = v;
	return 0;
}

static int
want_arr(const json_t *o, const char *key, int req, const json_t **out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return req ? util_errbuf_set(err, errlen, "%s is missing", key) : 0;
	if (!json_is_array(v))
		return util_errbuf_set(err, errlen, "%s is not an array", key);
	*out = v;
	return 0;
}

/* want_id: an id given as a string or an integer, as text. */
static int
want_id(const json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (json_is_integer(v))
		*out = xasprintf("%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && *json_string_value(v) != '\0')
		*out = xstrdup(json_string_value(v));
	else
		return util_errbuf_set(err, errlen, "%s is %s", key, v == NULL ?
		    "missing" : "neither a string nor an integer");
	return 0;
}

/* parse_ll: a decimal integer string (an id sent as text). */
static int
parse_ll(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	*out = strtoll(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* prefix_err: "ctx: reason" in place, after a helper filled err. */
static int
prefix_err(char *err, size_t errlen, const char *ctx)
{
	char tmp[256];

	if (err == NULL || errlen == 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s", err);
	return util_errbuf_set(err, errlen, "%s: %s", ctx, tmp);
}

/* ---------------------------------------------------------------------
 * Response parsers */

void
phone_user_clear(struct phone_user *u)
{
	free(u->id);
	free(u->user_name);
	free(u->external_id);
	free(u->given_name);
	free(u->family_name);
	free(u->email);
	memset(u, 0, sizeof(*u));
}

/* scim_work_email: the work (else first) email's value; NULL if none. */
static int
scim_work_email(const json_t *j, char **out, char *err, size_t errlen)
{
	const json_t *emails, *e, *pick = NULL;
	size_t i;
	char *type;

	*out = NULL;
	if (want_arr(j, "emails", OPTIONAL, &emails, err, errlen) < 0)
		return -1;
	json_array_foreach(emails, i, e) {
		if (!json_is_object(e))
			return util_errbuf_set(err, errlen, "emails[%zu] is not an "
			    "object", i);
		if (want_str(e, "type", OPTIONAL, &type, err, errlen) < 0)
			return -1;
		if (pick == NULL || (type && strcasecmp(type, "work") == 0))
			pick = e;
		free(type);
	}
	return pick ? want_str(pick, "value", REQUIRED, out, err, errlen) : 0;
}

int
phone_parse_user(const json_t *j, struct phone_user *out, char *err,
    size_t errlen)
{
	const json_t *name;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "SCIM user: not an object");
	if (want_id(j, "id", &out->id, err, errlen) < 0 ||
	    want_str(j, "userName", REQUIRED, &out->user_name, err, errlen) < 0 ||
	    want_str(j, "externalId", OPTIONAL, &out->external_id, err,
	    errlen) < 0 ||
	    want_bool(j, "active", REQUIRED, &out->active, err, errlen) < 0 ||
	    want_obj(j, "name", OPTIONAL, &name, err, errlen) < 0 ||
	    want_str(name, "givenName", OPTIONAL, &out->given_name, err,
	    errlen) < 0 ||
	    want_str(name, "familyName", OPTIONAL, &out->family_name, err,
	    errlen) < 0 ||
	    scim_work_email(j, &out->email, err, errlen) < 0) {
		phone_user_clear(out);
		return prefix_err(err, errlen, "SCIM user");
	}
	return 0;
}

void
phone_extension_clear(struct phone_extension *x)
{
	free(x->extension_number);
	free(x->type);
	free(x->status);
	free(x->name);
	free(x->site_id);
	for (int f = 0; f < PHONE_NFIELDS; f++)
		free(x->field[f]);
	for (size_t i = 0; i < x->ncustom; i++) {
		free(x->custom[i].id);
		free(x->custom[i].value);
		free(x->custom[i].display_name);
	}
	free(x->custom);
	memset(x, 0, sizeof(*x));
}

/* parse_contact: the contact values at the fields' REST paths. */
static int
parse_contact(const json_t *contact, struct phone_extension *x, char *err,
    size_t errlen)
{
	const json_t *addr;
	char at[128];

	if (want_obj(contact, "businessAddress", OPTIONAL, &addr, err,
	    errlen) < 0)
		return -1;
	for (int f = 0; f < PHONE_NFIELDS; f++) {
		const char *leaf = phone_field_leaf(phone_field_get(f)->rest, at,
		    sizeof(at));

		if (want_str(strcmp(at, "contact") == 0 ? contact : addr, leaf,
		    OPTIONAL, &x->field[f], err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int
parse_custom_values(const json_t *arr, struct phone_extension *x, char *err,
    size_t errlen)
{
	const json_t *c;
	size_t i;

	x->custom = xcalloc(json_array_size(arr), sizeof(x->custom[0]));
	json_array_foreach(arr, i, c) {
		struct phone_custom *pc = &x->custom[x->ncustom++];

		if (!json_is_object(c))
			return util_errbuf_set(err, errlen, "customFields[%zu] is not "
			    "an object", i);
		if (want_id(c, "id", &pc->id, err, errlen) < 0 ||
		    want_str(c, "value", OPTIONAL, &pc->value, err, errlen) < 0 ||
		    want_str(c, "displayName", OPTIONAL, &pc->display_name, err,
		    errlen) < 0)
			return -1;
	}
	return 0;
}

int
phone_parse_extension(const json_t *j, struct phone_extension *out,
    char *err, size_t errlen)
{
	const json_t *contact, *custom, *site;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "extension: not an object");
	if (want_int(j, "id", REQUIRED, &out->id, err, errlen) < 0 ||
	    want_str(j, "extensionNumber", OPTIONAL, &out->extension_number,
	    err, errlen) < 0 ||
	    want_str(j, "type", OPTIONAL, &out->type, err, errlen) < 0 ||
	    want_str(j, "status", REQUIRED, &out->status, err, errlen) < 0 ||
	    want_str(j, "name", OPTIONAL, &out->name, err, errlen) < 0 ||
	    want_obj(j, "contact", OPTIONAL, &contact, err, errlen) < 0 ||
	    parse_contact(contact, out, err, errlen) < 0 ||
	    want_arr(j, "customFields", OPTIONAL, &custom, err, errlen) < 0 ||
	    parse_custom_values(custom, out, err, errlen) < 0 ||
	    want_obj(j, "site", OPTIONAL, &site, err, errlen) < 0) {
		phone_extension_clear(out);
		return prefix_err(err, errlen, "extension");
	}
	/* The site is only compared: one without a usable id is no site. */
	if (site != NULL && want_id(site, "id", &out->site_id, err, errlen) < 0)
		out->site_id = NULL;
	return 0;
}

void
phone_number_clear(struct phone_number *n)
{
	free(n->phone_number);
	free(n->usage_type);
	free(n->type);
	free(n->status);
	free(n->extension_number);
	memset(n, 0, sizeof(*n));
}

int
phone_parse_number(const json_t *j, struct phone_number *out, char *err,
    size_t errlen)
{
	const json_t *ext;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "phone number: not an object");
	if (want_int(j, "id", REQUIRED, &out->id, err, errlen) < 0 ||
	    want_str(j, "phoneNumber", REQUIRED, &out->phone_number, err,
	    errlen) < 0 ||
	    want_str(j, "usageType", REQUIRED, &out->usage_type, err,
	    errlen) < 0 ||
	    want_str(j, "type", OPTIONAL, &out->type, err, errlen) < 0 ||
	    want_str(j, "status", OPTIONAL, &out->status, err, errlen) < 0 ||
	    want_bool(j, "primary", OPTIONAL, &out->primary, err, errlen) < 0 ||
	    want_obj(j, "extension", OPTIONAL, &ext, err, errlen) < 0 ||
	    (ext != NULL && (want_int(ext, "id", REQUIRED, &out->extension_id,
	    err, errlen) < 0 || want_str(ext, "extensionNumber", OPTIONAL,
	    &out->extension_number, err, errlen) < 0))) {
		phone_number_clear(out);
		return prefix_err(err, errlen, "phone number");
	}
	return 0;
}

void
phone_dir_entry_clear(struct phone_dir_entry *d)
{
	free(d->email);
	free(d->status);
	free(d->extension_number);
	free(d->direct);
	memset(d, 0, sizeof(*d));
}

/* dir_direct: the first DirectNumber shown, the primary one first. */
static int
dir_direct(const json_t *phones, struct phone_dir_entry *out, char *err,
    size_t errlen)
{
	const json_t *ph;
	size_t i;
	int primary, hidden, best = 0;
	char *num, *usage;

	json_array_foreach(phones, i, ph) {
		if (!json_is_object(ph))
			return util_errbuf_set(err, errlen, "phoneNumbers: not an object");
		if (want_str(ph, "phoneNumber", REQUIRED, &num, err, errlen) < 0)
			return -1;
		if (want_str(ph, "usageType", OPTIONAL, &usage, err, errlen) < 0 ||
		    want_bool(ph, "primary", OPTIONAL, &primary, err, errlen) < 0 ||
		    want_bool(ph, "hidden", OPTIONAL, &hidden, err, errlen) < 0) {
			free(num);
			return -1;
		}
		if (!hidden && usage != NULL && strcmp(usage, "DirectNumber") == 0 &&
		    (out->direct == NULL || (primary && !best))) {
			free(out->direct);
			out->direct = num;
			best = primary;
			num = NULL;
		}
		free(num);
		free(usage);
	}
	return 0;
}

int
phone_parse_dir_entry(const json_t *j, struct phone_dir_entry *out,
    char *err, size_t errlen)
{
	const json_t *phones;
	char *id = NULL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "directory entry: not an object");
	if (want_id(j, "id", &id, err, errlen) < 0 ||
	    (parse_ll(id, &out->id) < 0 && util_errbuf_set(err, errlen,
	    "id is not a number: %s", id) < 0) ||
	    want_str(j, "email", OPTIONAL, &out->email, err, errlen) < 0 ||
	    want_str(j, "status", OPTIONAL, &out->status, err, errlen) < 0 ||
	    want_str(j, "extensionNumber", OPTIONAL, &out->extension_number, err,
	    errlen) < 0 ||
	    want_arr(j, "phoneNumbers", OPTIONAL, &phones, err, errlen) < 0 ||
	    dir_direct(phones, out, err, errlen) < 0) {
		free(id);
		phone_dir_entry_clear(out);
		return prefix_err(err, errlen, "directory entry");
	}
	free(id);
	return 0;
}

int
phone_parse_dir_page(const json_t *j, long long asked, size_t n,
    int *has_next, char *err, size_t errlen)
{
	const json_t *paging;
	long long page = asked, pages = -1;

	*has_next = 0;
	if (!json_is_object(j) ||
	    want_obj(j, "paging", OPTIONAL, &paging, err, errlen) < 0)
		return prefix_err(err, errlen, "directory paging");
	if (paging != NULL && json_object_get(paging, "page") != NULL &&
	    want_int(paging, "page", REQUIRED, &page, err, errlen) < 0)
		return prefix_err(err, errlen, "directory paging");
	if (paging != NULL && json_object_get(paging, "totalPages") != NULL &&
	    want_int(paging, "totalPages", REQUIRED, &pages, err, errlen) < 0)
		return prefix_err(err, errlen, "directory paging");
	if (page != asked)
		return util_errbuf_set(err, errlen, "directory paging: page %lld "
		    "instead of %lld", page, asked);
	/*
	 * A server that cuts perPage counts its pages by its own size, so a
	 * short page is not the end; without totalPages, the end is an empty
	 * page (one request more).
	 */
	*has_next = pages >= 0 ? page < pages : n > 0;
	return 0;
}

void
phone_custom_field_clear(struct phone_custom_field *f)
{
	free(f->id);
	free(f->category);
	free(f->display_name);
	memset(f, 0, sizeof(*f));
}

int
phone_parse_custom_field(const json_t *j, struct phone_custom_field *out,
    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "custom field: not an object");
	if (want_id(j, "id", &out->id, err, errlen) < 0 ||
	    want_str(j, "category", OPTIONAL, &out->category, err, errlen) < 0 ||
	    want_str(j, "displayName", REQUIRED, &out->display_name, err,
	    errlen) < 0) {
		phone_custom_field_clear(out);
		return prefix_err(err, errlen, "custom field");
	}
	return 0;
}

int
phone_parse_item(const json_t *j, enum phone_items what, struct phone_item *out,
    char *err, size_t errlen)
{
	static const char *const names[] = { "site", "role", "cost center" };
	const char *name = what == PHONE_ITEMS_ROLES ? "displayName" : "name";
	const char *code = what == PHONE_ITEMS_SITES ? "code" :
	    what == PHONE_ITEMS_COST_CENTERS ? "billingCode" : NULL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "%s: not an object", names[what]);
	if (want_id(j, "id", &out->id, err, errlen) < 0 ||
	    want_str(j, name, REQUIRED, &out->name, err, errlen) < 0 ||
	    (code != NULL && want_str(j, code, OPTIONAL, &out->code, err,
	    errlen) < 0)) {
		phone_item_clear(out);
		return prefix_err(err, errlen, names[what]);
	}
	return 0;
}

void
phone_item_clear(struct phone_item *it)
{
	free(it->id);
	free(it->name);
	free(it->code);
	memset(it, 0, sizeof(*it));
}

int
phone_parse_service_info(const json_t *j, int *max_ext_len, char *err,
    size_t errlen)
{
	const json_t *limits;
	long long n;

	*max_ext_len = 0;
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "service-info: not an object");
	if (want_obj(j, "limits", REQUIRED, &limits, err, errlen) < 0 ||
	    want_int(limits, "maxExtensionNumberLength", REQUIRED, &n, err,
	    errlen) < 0)
		return prefix_err(err, errlen, "service-info");
	if (n < 1 || n > 8)
		return util_errbuf_set(err, errlen, "service-info: "
		    "maxExtensionNumberLength %lld is not from 1 to 8", n);
	*max_ext_len = (int)n;
	return 0;
}

/* spc_feature: {"supported": bool} of a ServiceProviderConfig member. */
static int
spc_feature(const json_t *j, const char *key, int req, int *out, char *err,
    size_t errlen)
{
	const json_t *o;

	*out = 0;
	if (want_obj(j, key, req, &o, err, errlen) < 0)
		return -1;
	if (o != NULL && want_bool(o, "supported", REQUIRED, out, err,
	    errlen) < 0)
		return prefix_err(err, errlen, key);
	return 0;
}

int
phone_parse_spc(const json_t *j, struct phone_spc *out, char *err,
    size_t errlen)
{
	const json_t *filter;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "ServiceProviderConfig: not an "
		    "object");
	if (spc_feature(j, "patch", REQUIRED, &out->patch, err, errlen) < 0 ||
	    spc_feature(j, "bulk", OPTIONAL, &out->bulk, err, errlen) < 0 ||
	    spc_feature(j, "filter", OPTIONAL, &out->filter, err, errlen) < 0 ||
	    spc_feature(j, "sort", OPTIONAL, &out->sort, err, errlen) < 0 ||
	    spc_feature(j, "etag", OPTIONAL, &out->etag, err, errlen) < 0 ||
	    spc_feature(j, "changePassword", OPTIONAL, &out->change_password,
	    err, errlen) < 0 ||
	    want_obj(j, "filter", OPTIONAL, &filter, err, errlen) < 0 ||
	    want_int(filter, "maxResults", OPTIONAL, &out->max_results, err,
	    errlen) < 0)
		return prefix_err(err, errlen, "ServiceProviderConfig");
	return 0;
}

void
phone_schema_clear(struct phone_schema *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].schema);
		free(s->v[i].name);
		free(s->v[i].type);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* schema_attrs: append the attributes (and sub-attributes) of one level. */
static int
schema_attrs(const json_t *attrs, const char *schema, const char *parent,
    struct phone_schema *out, char *err, size_t errlen)
{
	const json_t *a, *sub;
	size_t i;

	json_array_foreach(attrs, i, a) {
		struct phone_schema_attr at = { 0 };
		char *name;

		if (!json_is_object(a))
			return util_errbuf_set(err, errlen, "attributes[%zu] is not an "
			    "object", i);
		if (want_str(a, "name", REQUIRED, &name, err, errlen) < 0 ||
		    want_str(a, "type", REQUIRED, &at.type, err, errlen) < 0 ||
		    want_bool(a, "multiValued", OPTIONAL, &at.multi, err,
		    errlen) < 0 ||
		    want_bool(a, "required", OPTIONAL, &at.required, err,
		    errlen) < 0 ||
		    want_arr(a, "subAttributes", OPTIONAL, &sub, err, errlen) < 0) {
			free(name);
			free(at.type);
			return -1;
		}
		at.name = parent ? xasprintf("%s.%s", parent, name) : xstrdup(name);
		at.schema = xstrdup(schema);
		free(name);
		out->v = xreallocarray(out->v, out->n + 1, sizeof(out->v[0]));
		out->v[out->n++] = at;
		if (sub != NULL && parent == NULL &&
		    schema_attrs(sub, schema, at.name, out, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int
phone_parse_schemas(const json_t *j, struct phone_schema *out, char *err,
    size_t errlen)
{
	const json_t *res, *r, *attrs;
	size_t i;
	char *id;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j) || want_arr(j, "Resources", REQUIRED, &res, err,
	    errlen) < 0)
		return util_errbuf_set(err, errlen, "Schemas: not a ListResponse");
	json_array_foreach(res, i, r) {
		if (!json_is_object(r) ||
		    want_str(r, "id", REQUIRED, &id, err, errlen) < 0) {
			phone_schema_clear(out);
			return util_errbuf_set(err, errlen, "Schemas: Resources[%zu] has "
			    "no id", i);
		}
		if (want_arr(r, "attributes", REQUIRED, &attrs, err, errlen) < 0 ||
		    schema_attrs(attrs, id, NULL, out, err, errlen) < 0) {
			free(id);
			phone_schema_clear(out);
			return prefix_err(err, errlen, "Schemas");
		}
		free(id);
	}
	return 0;
}

/*
 * page_fields: the optional paging members. The definitions let an empty
 * result leave out paging (or page, pageStart, pageEnd): a missing page is
 * the one asked for.
 */
static int
page_fields(const json_t *paging, long long asked, struct phone_page *out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(paging, "page");

	out->page = asked;
	if (v != NULL && !json_is_null(v) &&
	    want_int(paging, "page", REQUIRED, &out->page, err,
	    errlen) < 0)
		return -1;
	if (want_int(paging, "totalElements", OPTIONAL, &out->total_elements,
	    err, errlen) < 0)
		return -1;
	if (json_object_get(paging, "totalPages") != NULL &&
	    want_int(paging, "totalPages", REQUIRED, &out->total_pages, err,
	    errlen) < 0)
		return -1;
	return 0;
}

int
phone_parse_page(const json_t *j, long long asked, struct phone_page *out,
    char *err, size_t errlen)
{
	const json_t *paging, *nav, *next;

	memset(out, 0, sizeof(*out));
	out->total_pages = -1;
	if (!json_is_object(j) ||
	    want_obj(j, "paging", OPTIONAL, &paging, err, errlen) < 0 ||
	    page_fields(paging, asked, out, err, errlen) < 0 ||
	    want_obj(j, "navigation", OPTIONAL, &nav, err, errlen) < 0 ||
	    want_obj(nav, "nextPage", OPTIONAL, &next, err, errlen) < 0)
		return prefix_err(err, errlen, "paging");
	if (out->page != asked)
		return util_errbuf_set(err, errlen, "paging: page %lld instead of %lld",
		    out->page, asked);
	out->has_next = next != NULL;
	if (out->has_next && out->total_pages >= 0 &&
	    out->page >= out->total_pages)
		return util_errbuf_set(err, errlen, "paging: a next page after page "
		    "%lld of %lld", out->page, out->total_pages);
	return 0;
}

/* task_errors: the error for every record of a task that failed as a whole. */
static void
task_failed(const json_t *task, struct phone_bulk_result *res, size_t n)
{
	const json_t *errs = json_object_get(task, "errors");
	struct phone_error e;

	if (json_array_size(errs) == 0)
		errs = json_object_get(json_object_get(task, "result"), "errors");
	if (json_array_size(errs) > 0) {
		phone_error_from_item(json_array_get(errs, 0),
		    PHONE_CALL_BULK_TASK, &e);
	} else {
		phone_error_ok(&e, PHONE_CALL_BULK_TASK);
		e.kind = PHONE_DATA;
		snprintf(e.detail, sizeof(e.detail), "the bulk-update task failed");
	}
	for (size_t i = 0; i < n; i++) {
		res[i].ok = 0;
		res[i].err = e;
	}
}

/* task_item: one affectedItems result into the first matching record. */
static int
task_item(const json_t *item, struct phone_bulk_result *res, size_t n,
    char *filled, char *err, size_t errlen)
{
	char *id = NULL, *status = NULL;
	const json_t *errs;
	long long ext;
	size_t i;
	int rc = -1;

	if (!json_is_object(item) ||
	    want_id(item, "extensionId", &id, err, errlen) < 0 ||
	    parse_ll(id, &ext) < 0 ||
	    want_str(item, "status", REQUIRED, &status, err, errlen) < 0 ||
	    want_arr(item, "errors", OPTIONAL, &errs, err, errlen) < 0 ||
	    (strcmp(status, "Success") != 0 && strcmp(status, "Fail") != 0)) {
		util_errbuf_set(err, errlen, "a result item without a valid "
		    "extensionId and status");
		goto out;
	}
	for (i = 0; i < n && (filled[i] || res[i].extension_id != ext); i++)
		;
	rc = 0;
	if (i == n)
		goto out; /* not ours: ignored */
	filled[i] = 1;
	res[i].ok = strcmp(status, "Success") == 0;
	if (res[i].ok)
		phone_error_ok(&res[i].err, PHONE_CALL_BULK_TASK);
	else
		phone_error_from_item(json_array_get(errs, 0),
		    PHONE_CALL_BULK_TASK, &res[i].err);
out:
	free(id);
	free(status);
	return rc;
}

static int
task_results(const json_t *task, struct phone_bulk_result *res, size_t n,
    char *err, size_t errlen)
{
	const json_t *result, *items, *item;
	char *filled = xcalloc(n ? n : 1, 1);
	size_t i;

	if (want_obj(task, "result", REQUIRED, &result, err, errlen) < 0 ||
	    want_obj(result, "affectedItems", REQUIRED, &items, err, errlen) < 0 ||
	    want_arr(items, "result", REQUIRED, &items, err, errlen) < 0) {
		free(filled);
		return prefix_err(err, errlen, "bulk-update task");
	}
	json_array_foreach(items, i, item)
		if (task_item(item, res, n, filled, err, errlen) < 0) {
			free(filled);
			return prefix_err(err, errlen, "bulk-update task");
		}
	for (i = 0; i < n; i++)
		if (!filled[i]) {
			res[i].ok = 0;
			phone_error_ok(&res[i].err, PHONE_CALL_BULK_TASK);
			res[i].err.kind = PHONE_MALFORMED;
			snprintf(res[i].err.detail, sizeof(res[i].err.detail),
			    "the task reported no result for extension %lld",
			    res[i].extension_id);
		}
	free(filled);
	return 0;
}

int
phone_parse_task(const json_t *task, struct phone_bulk_result *res, size_t n,
    char *err, size_t errlen)
{
	char *id = NULL, *status = NULL;
	int rc;

	if (!json_is_object(task) ||
	    want_id(task, "id", &id, err, errlen) < 0 ||
	    want_str(task, "status", REQUIRED, &status, err, errlen) < 0) {
		rc = prefix_err(err, errlen, "bulk-update task");
	} else if (strcmp(status, "Accepted") == 0 ||
	    strcmp(status, "InProgress") == 0) {
		rc = 0;
	} else if (strcmp(status, "Failed") == 0) {
		task_failed(task, res, n);
		rc = 1;
	} else if (strcmp(status, "Completed") == 0) {
		rc = task_results(task, res, n, err, errlen) < 0 ? -1 : 1;
	} else {
		rc = util_errbuf_set(err, errlen, "bulk-update task: unknown status %s",
		    status);
	}
	free(id);
	free(status);
	return rc;
}

int
phone_parse_token(const json_t *j, long long now, struct store_tokens *out,
    char *err, size_t errlen)
{
	char *type = NULL;
	long long ttl = 0, rttl = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return util_errbuf_set(err, errlen, "token response: not an object");
	/* register first: whatever happens next, they never reach a log */
	log_secret_add(json_string_value(json_object_get(j, "access_token")));
	log_secret_add(json_string_value(json_object_get(j, "refresh_token")));
	if (want_str(j, "access_token", REQUIRED, &out->access_token, err,
	    errlen) < 0 ||
	    want_str(j, "token_type", REQUIRED, &type, err, errlen) < 0 ||
	    want_int(j, "expires_in", REQUIRED, &ttl, err, errlen) < 0 ||
	    want_str(j, "refresh_token", OPTIONAL, &out->refresh_token, err,
	    errlen) < 0 ||
	    want_int(j, "refresh_token_expires_in", out->refresh_token != NULL,
	    &rttl, err, errlen) < 0)
		prefix_err(err, errlen, "token response");
	else if (strcasecmp(type, "bearer") != 0 || *out->access_token == '\0')
		util_errbuf_set(err, errlen, "token response: not a bearer token");
	else if (ttl <= 0 || rttl < 0 || ttl > TOKEN_TTL_MAX ||
	    rttl > TOKEN_TTL_MAX)
		util_errbuf_set(err, errlen, "token response: bad lifetime");
	else
		rc = 0;
	free(type);
	if (rc < 0) {
		store_tokens_clear(out);
		return -1;
	}
	out->access_expires = now + ttl;
	out->refresh_expires = out->refresh_token ? now + rttl : 0;
	return 0;
}

/* ---------------------------------------------------------------------
 * The batch create */

json_t *
phone_batch_body(const struct phone_profile *const *prof,
    const struct phone_create_extra *x, size_t n)
{
	json_t *recs = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *r = json_object(), *c = json_object();
		const char *m = prof[i]->field[PHONE_F_MOBILE_PHONE];

		json_object_set_new(r, "status", json_string("Enabled"));
		set_opt(c, "firstName", prof[i]->field[PHONE_F_FIRST_NAME]);
		set_opt(c, "lastName", prof[i]->field[PHONE_F_LAST_NAME]);
		set_opt(c, "email", prof[i]->field[PHONE_F_EMAIL]);
		set_opt(c, "mobileNumber", m);
		json_object_set_new(r, "contact", c);
		if (x[i].extension_number != NULL)
			json_object_set_new(r, "extensionNumber",
			    json_string(x[i].extension_number));
		if (x[i].cost_center_id != NULL)
			json_object_set_new(r, "costCenter", json_pack("{s:s}", "id",
			    x[i].cost_center_id));
		json_array_append_new(recs, r);
	}
	return json_pack("{s:o}", "records", recs);
}

int
phone_parse_batch(const json_t *j, struct phone_batch_result *v, size_t max,
    size_t *n, char *err, size_t errlen)
{
	const json_t *res = json_object_get(j, "results"), *r;
	size_t i;

	*n = 0;
	if (!json_is_array(res))
		return util_errbuf_set(err, errlen, "batch create: results is not an "
		    "array");
	if (json_array_size(res) > max)
		return util_errbuf_set(err, errlen, "batch create: %zu results for %zu "
		    "users", json_array_size(res), max);
	json_array_foreach(res, i, r) {
		const json_t *ext, *errs;
		char *id = NULL;
		int ok;

		memset(&v[i], 0, sizeof(v[i]));
		if (!json_is_object(r) || want_bool(r, "successful", REQUIRED, &ok, err,
		    errlen) < 0)
			return prefix_err(err, errlen, "batch create");
		v[i].ok = ok;
		if (ok) {
			if (want_obj(r, "extension", REQUIRED, &ext, err, errlen) < 0 ||
			    want_id(ext, "id", &id, err, errlen) < 0 ||
			    parse_ll(id, &v[i].extension_id) < 0) {
				free(id);
				return prefix_err(err, errlen, "batch create");
			}
			free(id);
		} else {
			errs = json_object_get(r, "errors");
			phone_error_from_item(json_array_get(errs, 0),
			    PHONE_CALL_BATCH_CREATE, &v[i].err);
		}
		(*n)++;
	}
	return 0;
}

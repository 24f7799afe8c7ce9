/*
 * phone_scim: the client's SCIM calls (phone.h, phone_int.h): users
 * (search by email, create, PATCH active, DELETE) and discovery
 * (ServiceProviderConfig, Schemas).
 */
#include "phone_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PATCH_URN "urn:ietf:params:scim:api:messages:2.0:PatchOp"

/* ---------------------------------------------------------------------
 * SCIM users */

struct op_user {
	struct phone_op base;
	phone_user_cb *cb;
	void *arg;
	char *email;      /* searches: what was asked */
};

static void
op_user_clear(struct phone_op *op)
{
	free(((struct op_user *)op)->email);
}

static void
user_reply(struct phone_req *r, struct phone_error *e, const json_t *user)
{
	struct op_user *op = r->ctx;
	struct phone_user u = { 0 };
	int have = 0;

	if (e->kind == PHONE_OK && user != NULL) {
		if (phone_parse_user(user, &u, e->detail, sizeof(e->detail)) < 0)
			e->kind = PHONE_MALFORMED;
		else
			have = 1;
	}
	op->cb(e, have ? &u : NULL, op->arg);
	phone_user_clear(&u);
	phone_op_end(r->p, &op->base);
}

static void
user_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_error e = *err;

	user_reply(r, &e, body);
}

/* search_pick: the one user of a ListResponse, NULL for none; kind set. */
static const json_t *
search_pick(const json_t *body, struct phone_error *e)
{
	const json_t *total = json_object_get(body, "totalResults");
	const json_t *res = json_object_get(body, "Resources");
	const json_t *user;
	long long n;

	if (!json_is_integer(total) || (res != NULL && !json_is_array(res))) {
		phone_malformed(e, "SCIM search: totalResults or Resources "
		    "invalid");
		return NULL;
	}
	n = json_integer_value(total);
	if (n > 1 || json_array_size(res) > 1) {
		e->kind = PHONE_DUPLICATE_EMAIL;
		return NULL;
	}
	if (n == 0 && json_array_size(res) == 0)
		return NULL;
	user = json_array_get(res, 0);
	if (n != 1 || user == NULL)
		phone_malformed(e, "SCIM search: totalResults does not match "
		    "Resources");
	return user;
}

static void
search_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_user *op = r->ctx;
	struct phone_error e = *err;
	const json_t *user = NULL;
	struct phone_user u = { 0 };
	int have = 0;

	if (e.kind == PHONE_OK)
		user = search_pick(body, &e);
	if (e.kind == PHONE_OK && user != NULL) {
		if (phone_parse_user(user, &u, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else if (!util_str_eq_nocase(u.email, op->email) &&
		    !util_str_eq_nocase(u.user_name, op->email))
			phone_malformed(&e, "SCIM search: the user found has "
			    "another email");
		else
			have = 1;
	}
	if (e.kind == PHONE_DUPLICATE_EMAIL)
		snprintf(e.value, sizeof(e.value), "%s", op->email);
	op->cb(&e, have ? &u : NULL, op->arg);
	phone_user_clear(&u);
	phone_op_end(r->p, &op->base);
}

/* scim_quote: value as a SCIM filter string literal (RFC 7644 3.4.2.2). */
static char *
scim_quote(const char *value)
{
	char *out = xmalloc(2 * strlen(value) + 3), *o = out;

	*o++ = '"';
	for (const char *s = value; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

void
phone_find_user(struct phone *p, const char *email, phone_user_cb *cb,
    void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	char *url, *q, *filter;

	op->cb = cb;
	op->arg = arg;
	op->email = xstrdup(email ? email : "");
	if (email == NULL || *email == '\0') {
		phone_defer_error(p, PHONE_CALL_SCIM_SEARCH, PHONE_DATA,
		    "no email to search for", user_done, op);
		return;
	}
	q = scim_quote(email);
	filter = xasprintf("email eq %s", q);
	url = phone_url(p, PHONE_SCIM "/Users");
	phone_url_add(&url, "filter", filter);
	phone_url_add(&url, "startIndex", "1");
	phone_url_add(&url, "count", "2");
	free(q);
	free(filter);
	phone_send_new(p, PHONE_CALL_SCIM_SEARCH, "GET", url, search_done, op);
}

void
phone_create_user(struct phone *p, const struct phone_profile *prof,
    const char *external_id, phone_user_cb *cb, void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	char *url = phone_url(p, PHONE_SCIM "/Users"), why[256];
	json_t *body = phone_scim_create_body(prof, external_id, why, sizeof(why));

	op->cb = cb;
	op->arg = arg;
	if (body == NULL) {
		free(url);
		phone_defer_error(p, PHONE_CALL_SCIM_CREATE, PHONE_DATA, why,
		    user_done, op);
		return;
	}
	phone_send_json(p, PHONE_CALL_SCIM_CREATE, "POST", url, body, user_done,
	    op);
}

void
phone_set_active(struct phone *p, const char *user_id, int active,
    phone_user_cb *cb, void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	struct phone_req *r;
	json_t *body;
	char *url;

	op->cb = cb;
	op->arg = arg;
	if (user_id == NULL || *user_id == '\0') {
		phone_defer_error(p, PHONE_CALL_SCIM_PATCH, PHONE_DATA,
		    "no user id", user_done, op);
		return;
	}
	url = phone_url_segment(p, PHONE_SCIM "/Users", user_id);
	r = phone_req_new(p, PHONE_CALL_SCIM_PATCH, "PATCH", url);
	free(url);
	body = json_pack("{s:[s], s:[{s:s, s:s, s:b}]}", "schemas", PATCH_URN,
	    "Operations", "op", "replace", "path", "active", "value", active);
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r->idempotent = 1; /* replacing a value twice changes nothing */
	r->done = user_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_delete_user(struct phone *p, const char *user_id, phone_user_cb *cb,
    void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	struct phone_req *r;
	char *url;

	op->cb = cb;
	op->arg = arg;
	if (user_id == NULL || *user_id == '\0') {
		phone_defer_error(p, PHONE_CALL_SCIM_DELETE, PHONE_DATA,
		    "no user id", user_done, op);
		return;
	}
	url = phone_url_segment(p, PHONE_SCIM "/Users", user_id);
	r = phone_req_new(p, PHONE_CALL_SCIM_DELETE, "DELETE", url);
	free(url);
	r->idempotent = 1; /* a second DELETE finds nothing: NOT_FOUND */
	r->done = user_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_get_user(struct phone *p, const char *user_id, phone_user_cb *cb,
    void *arg)
{
	struct op_user *op = phone_op_new(p, sizeof(*op), op_user_clear);
	char *url;

	op->cb = cb;
	op->arg = arg;
	if (user_id == NULL || *user_id == '\0') {
		phone_defer_error(p, PHONE_CALL_SCIM_GET, PHONE_DATA, "no user id",
		    user_done, op);
		return;
	}
	url = phone_url_segment(p, PHONE_SCIM "/Users", user_id);
	phone_send_new(p, PHONE_CALL_SCIM_GET, "GET", url, user_done, op);
}

/* ---------------------------------------------------------------------
 * Discovery */

static void
spc_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_op_any *op = r->ctx;
	struct phone_error e = *err;
	struct phone_spc spc;
	int ok = 0;

	if (e.kind == PHONE_OK) {
		if (phone_parse_spc(body, &spc, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			ok = 1;
	}
	op->cb.spc(&e, ok ? &spc : NULL, op->arg);
	phone_op_end(r->p, &op->base);
}

static void
schemas_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_op_any *op = r->ctx;
	struct phone_error e = *err;
	struct phone_schema s = { 0 };
	int ok = 0;

	if (e.kind == PHONE_OK) {
		if (phone_parse_schemas(body, &s, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			ok = 1;
	}
	op->cb.schema(&e, ok ? &s : NULL, op->arg);
	phone_schema_clear(&s);
	phone_op_end(r->p, &op->base);
}

void
phone_scim_config(struct phone *p, phone_spc_cb *cb, void *arg)
{
	phone_simple_get(p, PHONE_CALL_SCIM_CONFIG,
	    PHONE_SCIM "/ServiceProviderConfig", spc_done, arg)->cb.spc = cb;
}

void
phone_scim_schemas(struct phone *p, phone_schema_cb *cb, void *arg)
{
	phone_simple_get(p, PHONE_CALL_SCIM_SCHEMAS, PHONE_SCIM "/Schemas",
	    schemas_done, arg)->cb.schema = cb;
}

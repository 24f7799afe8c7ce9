/*
 * phone_account: what the account offers a new user (phone.h): its sites,
 * roles and cost centers, its default role and its longest extension
 * number. Reads of the import's kind: they wait for the writes and take at
 * most read_share of a group's budget (phone.c).
 */
#include "phone_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ROLES_PER_PAGE "100"
#define MAX_ROLE_PAGES 100       /* 10,000 roles: far beyond any account */
#define PHONE_ACCOUNT_V2 "/restapi/v2/accounts/~"

struct op_items {
	struct phone_op base;
	enum phone_items what;
	enum phone_call call;
	long long page;            /* roles: the page asked */
	struct phone_item *v;      /* owned, each owned */
	size_t n;
	phone_items_cb *cb;
	phone_service_cb *service;
	void *arg;
};

static void
op_items_clear(struct phone_op *base)
{
	struct op_items *op = (struct op_items *)base;

	for (size_t i = 0; i < op->n; i++)
		phone_item_clear(&op->v[i]);
	free(op->v);
}

static void items_request(struct phone *p, struct op_items *op);

/* items_end: the callback once, with what was read or the error. */
static void
items_end(struct phone *p, struct op_items *op, const struct phone_error *e)
{
	op->cb(e, e->kind == PHONE_OK ? op->v : NULL, e->kind == PHONE_OK ?
	    op->n : 0, op->arg);
	phone_op_end(p, &op->base);
}

/* items_add: the records of one page; -1 with the reason in e. */
static int
items_add(struct op_items *op, const json_t *recs, struct phone_error *e)
{
	const json_t *rec;
	size_t i;

	if (!json_is_array(recs)) {
		phone_malformed(e, "records is not an array");
		return -1;
	}
	op->v = xreallocarray(op->v, op->n + json_array_size(recs) + 1,
	    sizeof(*op->v));
	json_array_foreach(recs, i, rec) {
		if (phone_parse_item(rec, op->what, &op->v[op->n], e->detail,
		    sizeof(e->detail)) < 0) {
			e->kind = PHONE_MALFORMED;
			return -1;
		}
		op->n++;
	}
	return 0;
}

static void
items_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_items *op = r->ctx;
	struct phone_error e = *err;
	struct phone_page pg;

	if (e.kind != PHONE_OK || items_add(op, json_object_get(body, "records"),
	    &e) < 0) {
		items_end(r->p, op, &e);
		return;
	}
	if (op->what == PHONE_ITEMS_ROLES) {
		if (phone_parse_page(body, op->page, &pg, e.detail,
		    sizeof(e.detail)) < 0) {
			e.kind = PHONE_MALFORMED;
			items_end(r->p, op, &e);
			return;
		}
		if (pg.has_next && op->page < MAX_ROLE_PAGES) {
			op->page++;
			items_request(r->p, op);
			return;
		}
	}
	items_end(r->p, op, &e);
}

static void
items_request(struct phone *p, struct op_items *op)
{
	char *url, page[24];

	switch (op->what) {
	case PHONE_ITEMS_SITES:
		url = phone_url(p, PHONE_ACCOUNT "/sites");
		break;
	case PHONE_ITEMS_ROLES:
		url = phone_url(p, PHONE_ACCOUNT "/user-role");
		snprintf(page, sizeof(page), "%lld", op->page);
		phone_url_add(&url, "page", page);
		phone_url_add(&url, "perPage", ROLES_PER_PAGE);
		break;
	default:
		url = phone_url(p, PHONE_ACCOUNT_V2 "/cost-centers");
		break;
	}
	phone_send_new(p, op->call, "GET", url, items_done, op);
}

static struct op_items *
items_new(struct phone *p, enum phone_items what, enum phone_call call,
    phone_items_cb *cb, void *arg)
{
	struct op_items *op = phone_op_new(p, sizeof(*op), op_items_clear);

	op->what = what;
	op->call = call;
	op->page = 1;
	op->cb = cb;
	op->arg = arg;
	return op;
}

void
phone_list_items(struct phone *p, enum phone_items what, phone_items_cb *cb,
    void *arg)
{
	static const enum phone_call calls[] = {
		PHONE_CALL_SITES, PHONE_CALL_ROLES, PHONE_CALL_COST_CENTERS,
	};

	items_request(p, items_new(p, what, calls[what], cb, arg));
}

static void
default_role_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_items *op = r->ctx;
	struct phone_error e = *err;

	if (e.kind == PHONE_OK) {
		op->v = xcalloc(1, sizeof(*op->v));
		if (phone_parse_item(body, PHONE_ITEMS_ROLES, &op->v[0], e.detail,
		    sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			op->n = 1;
	}
	items_end(r->p, op, &e);
}

void
phone_default_role(struct phone *p, phone_items_cb *cb, void *arg)
{
	struct op_items *op = items_new(p, PHONE_ITEMS_ROLES,
	    PHONE_CALL_DEFAULT_ROLE, cb, arg);

	phone_send_new(p, op->call, "GET", phone_url(p, PHONE_ACCOUNT
	    "/user-role/default"), default_role_done, op);
}

static void
service_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_items *op = r->ctx;
	struct phone_error e = *err;
	int max = 0;

	if (e.kind == PHONE_OK && phone_parse_service_info(body, &max, e.detail,
	    sizeof(e.detail)) < 0)
		e.kind = PHONE_MALFORMED;
	op->service(&e, max, op->arg);
	phone_op_end(r->p, &op->base);
}

void
phone_service_info(struct phone *p, phone_service_cb *cb, void *arg)
{
	struct op_items *op = items_new(p, PHONE_ITEMS_SITES,
	    PHONE_CALL_SERVICE_INFO, NULL, arg);

	op->service = cb;
	phone_send_new(p, op->call, "GET", phone_url(p, PHONE_ACCOUNT
	    "/service-info"), service_done, op);
}

struct op_assign {
	struct phone_op base;
	phone_done_cb *cb;
	void *arg;
};

static void
assign_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_assign *op = r->ctx;

	(void)body;
	op->cb(err, op->arg);
	phone_op_end(r->p, &op->base);
}

void
phone_role_assign(struct phone *p, const char *role_id,
    const char *const *ext_ids, size_t n, phone_done_cb *cb, void *arg)
{
	struct op_assign *op = phone_op_new(p, sizeof(*op), NULL);
	json_t *ids = json_array();
	char *path, *url;

	op->cb = cb;
	op->arg = arg;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_string(ext_ids[i]));
	path = xasprintf(PHONE_ACCOUNT "/user-role/%s/bulk-assign", role_id);
	url = phone_url(p, path);
	free(path);
	phone_send_json(p, PHONE_CALL_ROLE_ASSIGN, "POST", url,
	    json_pack("{s:o, s:[]}", "addedExtensionIds", ids,
	    "removedExtensionIds"), assign_done, op);
}

/*
 * phone_list: the client's paged lists (phone.h, phone_int.h): extensions,
 * phone numbers (the account's, one extension's) and the company
 * directory (page N+1 is asked with the same query: the server's
 * nextPage URI is a hint, never followed, so a token is only ever sent to
 * the configured server), the account's custom fields, one extension, and
 * the change feed's WebSocket token.
 */
#include "phone_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define MAX_PAGES 100000

/* ---------------------------------------------------------------------
 * Paged lists */

struct op_list {
	struct phone_op base;
	enum phone_call call;
	char *url;                 /* without page and perPage */
	long long page;
	phone_extensions_cb *ext;
	phone_numbers_cb *num;
	phone_directory_cb *dir;
	phone_done_cb *done;
	void *arg;
};

static void
op_list_clear(struct phone_op *op)
{
	free(((struct op_list *)op)->url);
}

static void list_request(struct phone *p, struct op_list *op);

/* list_extensions: validate every record, then hand the page over. */
static int
list_extensions(struct op_list *op, const json_t *recs, struct phone_error *e)
{
	size_t n = 0, i;
	struct phone_extension *v = xcalloc(json_array_size(recs) + 1,
	    sizeof(*v));
	const json_t *rec;
	int rc = 0;

	json_array_foreach(recs, i, rec) {
		if (phone_parse_extension(rec, &v[n], e->detail,
		    sizeof(e->detail)) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0)
		op->ext(v, n, op->arg);
	for (i = 0; i < n; i++)
		phone_extension_clear(&v[i]);
	free(v);
	return rc;
}

static int
list_numbers(struct op_list *op, const json_t *recs, struct phone_error *e)
{
	size_t n = 0, i;
	struct phone_number *v = xcalloc(json_array_size(recs) + 1, sizeof(*v));
	const json_t *rec;
	int rc = 0;

	json_array_foreach(recs, i, rec) {
		if (phone_parse_number(rec, &v[n], e->detail,
		    sizeof(e->detail)) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0)
		op->num(v, n, op->arg);
	for (i = 0; i < n; i++)
		phone_number_clear(&v[i]);
	free(v);
	return rc;
}

static int
list_directory(struct op_list *op, const json_t *recs, struct phone_error *e)
{
	size_t n = 0, i;
	struct phone_dir_entry *v = xcalloc(json_array_size(recs) + 1,
	    sizeof(*v));
	const json_t *rec;
	int rc = 0;

	json_array_foreach(recs, i, rec) {
		if (phone_parse_dir_entry(rec, &v[n], e->detail,
		    sizeof(e->detail)) < 0) {
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0)
		op->dir(v, n, op->arg);
	for (i = 0; i < n; i++)
		phone_dir_entry_clear(&v[i]);
	free(v);
	return rc;
}

/* list_page: the records of one page to the caller; -1 malformed. */
static int
list_page(struct op_list *op, const json_t *body, const json_t *recs,
    struct phone_error *e, int *has_next)
{
	struct phone_page pg;

	if (op->call == PHONE_CALL_DIRECTORY) {
		if (phone_parse_dir_page(body, op->page, json_array_size(recs),
		    has_next, e->detail, sizeof(e->detail)) < 0)
			return -1;
		return list_directory(op, recs, e);
	}
	if (phone_parse_page(body, op->page, &pg, e->detail,
	    sizeof(e->detail)) < 0)
		return -1;
	*has_next = pg.has_next;
	return op->call == PHONE_CALL_EXTENSIONS ? list_extensions(op, recs, e) :
	    list_numbers(op, recs, e);
}

static void
list_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_list *op = r->ctx;
	struct phone_error e = *err;
	const json_t *recs = json_object_get(body, "records");
	int has_next = 0;

	if (e.kind == PHONE_OK && !json_is_array(recs))
		phone_malformed(&e, "list: records is not an array");
	if (e.kind == PHONE_OK && list_page(op, body, recs, &e, &has_next) < 0)
		e.kind = PHONE_MALFORMED;
	if (e.kind == PHONE_OK && has_next) {
		if (op->page < MAX_PAGES) {
			op->page++;
			list_request(r->p, op);
			return;
		}
		phone_malformed(&e, "list: more pages than any account has");
	}
	op->done(&e, op->arg);
	phone_op_end(r->p, &op->base);
}

static void
list_request(struct phone *p, struct op_list *op)
{
	char *url = xstrdup(op->url), num[32];

	snprintf(num, sizeof(num), "%lld", op->page);
	phone_url_add(&url, "page", num);
	snprintf(num, sizeof(num), "%d", op->call == PHONE_CALL_DIRECTORY ?
	    PHONE_DIRECTORY_PER_PAGE : p->opts.per_page);
	phone_url_add(&url, "perPage", num);
	phone_send_new(p, op->call, "GET", url, list_done, op);
}

static struct op_list *
list_new(struct phone *p, enum phone_call call, const char *path,
    phone_done_cb *done, void *arg)
{
	struct op_list *op = phone_op_new(p, sizeof(*op), op_list_clear);

	op->call = call;
	op->url = phone_url(p, path);
	op->page = 1;
	op->done = done;
	op->arg = arg;
	return op;
}

void
phone_list_extensions(struct phone *p, const struct phone_ext_filter *f,
    phone_extensions_cb *page, phone_done_cb *done, void *arg)
{
	struct op_list *op = list_new(p, PHONE_CALL_EXTENSIONS,
	    PHONE_ACCOUNT "/extension", done, arg);

	op->ext = page;
	if (f != NULL && f->type != NULL)
		phone_url_add(&op->url, "type", f->type);
	if (f != NULL && f->status != NULL)
		phone_url_add(&op->url, "status", f->status);
	if (f != NULL && f->email != NULL)
		phone_url_add(&op->url, "email", f->email);
	list_request(p, op);
}

void
phone_list_numbers(struct phone *p, const char *usage_type,
    phone_numbers_cb *page, phone_done_cb *done, void *arg)
{
	struct op_list *op = list_new(p, PHONE_CALL_NUMBERS,
	    PHONE_ACCOUNT "/phone-number", done, arg);

	op->num = page;
	if (usage_type != NULL)
		phone_url_add(&op->url, "usageType", usage_type);
	list_request(p, op);
}

void
phone_list_directory(struct phone *p, phone_directory_cb *page,
    phone_done_cb *done, void *arg)
{
	struct op_list *op = list_new(p, PHONE_CALL_DIRECTORY,
	    PHONE_ACCOUNT "/directory/entries", done, arg);

	op->dir = page;
	phone_url_add(&op->url, "type", "User");
	list_request(p, op);
}

void
phone_extension_numbers(struct phone *p, long long ext_id,
    const char *usage_type, phone_numbers_cb *page, phone_done_cb *done,
    void *arg)
{
	char path[96];
	struct op_list *op;

	snprintf(path, sizeof(path), PHONE_ACCOUNT "/extension/%lld/phone-number",
	    ext_id);
	op = list_new(p, PHONE_CALL_EXT_NUMBERS, path, done, arg);
	op->num = page;
	if (usage_type != NULL)
		phone_url_add(&op->url, "usageType", usage_type);
	list_request(p, op);
}

/* ---------------------------------------------------------------------
 * Custom fields */

static void
fields_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_op_any *op = r->ctx;
	struct phone_error e = *err;
	const json_t *recs = json_object_get(body, "records"), *rec;
	struct phone_custom_field *v = NULL;
	size_t n = 0, i;

	if (e.kind == PHONE_OK && !json_is_array(recs))
		phone_malformed(&e, "custom fields: records is not an array");
	if (e.kind == PHONE_OK) {
		v = xcalloc(json_array_size(recs) + 1, sizeof(*v));
		json_array_foreach(recs, i, rec) {
			if (phone_parse_custom_field(rec, &v[n], e.detail,
			    sizeof(e.detail)) < 0) {
				e.kind = PHONE_MALFORMED;
				break;
			}
			n++;
		}
	}
	op->cb.fields(&e, e.kind == PHONE_OK ? v :
	    NULL, e.kind == PHONE_OK ? n : 0, op->arg);
	for (i = 0; i < n; i++)
		phone_custom_field_clear(&v[i]);
	free(v);
	phone_op_end(r->p, &op->base);
}

void
phone_custom_fields(struct phone *p, phone_custom_fields_cb *cb, void *arg)
{
	phone_simple_get(p, PHONE_CALL_CUSTOM_FIELDS,
	    PHONE_ACCOUNT "/custom-fields", fields_done, arg)->cb.fields = cb;
}

/* ---------------------------------------------------------------------
 * One extension */

static void
extension_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_op_any *op = r->ctx;
	struct phone_error e = *err;
	struct phone_extension x;
	int ok = 0;

	memset(&x, 0, sizeof(x));
	if (e.kind == PHONE_OK) {
		if (phone_parse_extension(body, &x, e.detail, sizeof(e.detail)) < 0)
			e.kind = PHONE_MALFORMED;
		else
			ok = 1;
	}
	op->cb.ext(&e, ok ? &x : NULL, op->arg);
	if (ok)
		phone_extension_clear(&x);
	phone_op_end(r->p, &op->base);
}

void
phone_get_extension(struct phone *p, long long ext_id, phone_extension_cb *cb,
    void *arg)
{
	char path[80];

	snprintf(path, sizeof(path), PHONE_ACCOUNT "/extension/%lld", ext_id);
	phone_simple_get(p, PHONE_CALL_EXTENSION, path, extension_done,
	    arg)->cb.ext = cb;
}

void
phone_create_extension(struct phone *p, const struct phone_profile *prof,
    const struct phone_create_extra *x, phone_extension_cb *cb, void *arg)
{
	struct phone_op_any *op = phone_op_new(p, sizeof(*op), NULL);
	char why[256];
	json_t *body = phone_extension_create_body(prof, x, why, sizeof(why));

	op->arg = arg;
	op->cb.ext = cb;
	if (body == NULL) {
		phone_defer_error(p, PHONE_CALL_EXTENSION_CREATE, PHONE_DATA, why,
		    extension_done, op);
		return;
	}
	phone_send_json(p, PHONE_CALL_EXTENSION_CREATE, "POST", phone_url(p,
	    PHONE_ACCOUNT "/extension"), body, extension_done, op);
}

/* ---------------------------------------------------------------------
 * The batch create */

struct op_batch {
	struct phone_op base;
	size_t n;
	phone_batch_cb *cb;
	void *arg;
};

static void
batch_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_batch *op = r->ctx;
	struct phone_error e = *err;
	struct phone_batch_result *v = xcalloc(op->n + 1, sizeof(*v));
	size_t n = 0;

	if (e.kind == PHONE_OK && phone_parse_batch(body, v, op->n, &n, e.detail,
	    sizeof(e.detail)) < 0)
		e.kind = PHONE_MALFORMED;
	op->cb(&e, e.kind == PHONE_OK ? v : NULL, e.kind == PHONE_OK ? n : 0,
	    op->arg);
	free(v);
	phone_op_end(r->p, &op->base);
}

void
phone_batch_create(struct phone *p, const struct phone_profile *const *prof,
    const struct phone_create_extra *x, size_t n, phone_batch_cb *cb,
    void *arg)
{
	struct op_batch *op = phone_op_new(p, sizeof(*op), NULL);

	op->n = n;
	op->cb = cb;
	op->arg = arg;
	phone_send_json(p, PHONE_CALL_BATCH_CREATE, "POST", phone_url(p,
	    "/restapi/v2/accounts/~/batch-provisioning/users"),
	    phone_batch_body(prof, x, n), batch_done, op);
}

/* ---------------------------------------------------------------------
 * The change feed's token */

static void
ws_token_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct phone_op_any *op = r->ctx;
	struct phone_error e = *err;
	const json_t *tok = json_object_get(body, "ws_access_token");
	const json_t *uri = json_object_get(body, "uri");
	const json_t *ttl = json_object_get(body, "expires_in");
	char *token = NULL;

	if (e.kind == PHONE_OK && (!json_is_string(tok) ||
	    *json_string_value(tok) == '\0' || !json_is_string(uri)))
		phone_malformed(&e, "wstoken: ws_access_token or uri is missing");
	if (e.kind == PHONE_OK) {
		token = xstrdup(json_string_value(tok));
		log_secret_add(token);
	}
	op->cb.ws(&e, token, e.kind == PHONE_OK ? json_string_value(uri) : NULL,
	    json_is_integer(ttl) ? (long long)json_integer_value(ttl) : -1,
	    op->arg);
	if (token != NULL)
		explicit_bzero(token, strlen(token));
	free(token);
	phone_op_end(r->p, &op->base);
}

void
phone_ws_token(struct phone *p, phone_ws_token_cb *cb, void *arg)
{
	struct phone_op_any *op = phone_op_new(p, sizeof(*op), NULL);

	op->arg = arg;
	op->cb.ws = cb;
	phone_send_new(p, PHONE_CALL_WS_TOKEN, "POST",
	    phone_url(p, "/restapi/oauth/wstoken"), ws_token_done, op);
}

/*
 * fuzz_phone_json: the validating parsers of the phone API's success
 * responses (phone_json.c): SCIM users, ServiceProviderConfig, Schemas,
 * extensions, phone numbers, custom fields, list paging, bulk-update
 * tasks, OAuth token responses, and REST errors[] items.
 *
 * Input: a first line naming the parser (user, extension, number,
 * custom-field, spc, schemas, page, task, token, error-item), then the
 * response body. Oracles: a parser that succeeds fills every field it
 * calls required; one that fails leaves nothing allocated (LeakSanitizer)
 * and says why.
 */
#include <jansson.h>

#include "fuzz.h"
#include "log.h"
#include "phone.h"
#include "store.h"
#include "util.h"

static void
one_user(const json_t *j)
{
	struct phone_user u;
	char err[256] = "";

	if (phone_parse_user(j, &u, err, sizeof(err)) == 0) {
		fz_check(u.id != NULL && *u.id != '\0' && u.user_name != NULL);
		fz_check(u.active == 0 || u.active == 1);
	} else {
		fz_check(err[0] != '\0' && u.id == NULL && u.email == NULL);
	}
	phone_user_clear(&u);
}

static void
one_extension(const json_t *j)
{
	struct phone_extension x;
	char err[256] = "";

	if (phone_parse_extension(j, &x, err, sizeof(err)) == 0) {
		fz_check(x.status != NULL);
		for (size_t i = 0; i < x.ncustom; i++)
			fz_check(x.custom[i].id != NULL);
	} else {
		fz_check(err[0] != '\0' && x.custom == NULL && x.ncustom == 0);
	}
	phone_extension_clear(&x);
}

static void
one_number(const json_t *j)
{
	struct phone_number n;
	char err[256] = "";

	if (phone_parse_number(j, &n, err, sizeof(err)) == 0)
		fz_check(n.phone_number != NULL && n.usage_type != NULL);
	else
		fz_check(err[0] != '\0' && n.phone_number == NULL);
	phone_number_clear(&n);
}

static void
one_custom_field(const json_t *j)
{
	struct phone_custom_field f;
	char err[256] = "";

	if (phone_parse_custom_field(j, &f, err, sizeof(err)) == 0)
		fz_check(f.id != NULL && f.display_name != NULL);
	else
		fz_check(err[0] != '\0' && f.id == NULL);
	phone_custom_field_clear(&f);
}

static void
one_schemas(const json_t *j)
{
	struct phone_schema s;
	char err[256] = "";

	if (phone_parse_schemas(j, &s, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < s.n; i++)
			fz_check(s.v[i].schema != NULL && s.v[i].name != NULL &&
			    s.v[i].type != NULL);
	} else {
		fz_check(err[0] != '\0' && s.v == NULL && s.n == 0);
	}
	phone_schema_clear(&s);
}

static void
one_page(const json_t *j)
{
	struct phone_page pg;
	char err[256] = "";

	for (long long asked = 1; asked <= 3; asked += 2)
		if (phone_parse_page(j, asked, &pg, err, sizeof(err)) == 0)
			fz_check(pg.page == asked && (!pg.has_next ||
			    pg.total_pages < 0 || pg.page < pg.total_pages));
}

static void
one_directory(const json_t *j)
{
	const json_t *recs = json_object_get(j, "records"), *rec;
	struct phone_dir_entry d;
	char err[256] = "";
	size_t i;
	int next;

	if (phone_parse_dir_page(j, 1, json_array_size(recs), &next, err,
	    sizeof(err)) < 0)
		fz_check(err[0] != '\0');
	json_array_foreach(recs, i, rec) {
		if (phone_parse_dir_entry(rec, &d, err, sizeof(err)) == 0)
			fz_check(d.id != 0 || d.direct == NULL || d.direct != NULL);
		else
			fz_check(err[0] != '\0' && d.direct == NULL && d.email == NULL);
		phone_dir_entry_clear(&d);
	}
}

/* The records of a bulk update: one extension twice, as the API allows. */
static void
one_task(const json_t *j)
{
	static const long long ids[] = { 101, 102, 101, 3000000001LL };
	struct phone_bulk_result res[4];
	char err[256] = "";
	int rc;

	for (size_t n = 0; n <= 4; n += 4) {
		memset(res, 0, sizeof(res));
		for (size_t i = 0; i < n; i++)
			res[i].extension_id = ids[i];
		rc = phone_parse_task(j, res, n, err, sizeof(err));
		fz_check(rc >= -1 && rc <= 1);
		for (size_t i = 0; rc == 1 && i < n; i++) {
			fz_check(res[i].extension_id == ids[i]);
			fz_check(res[i].ok ? res[i].err.kind == PHONE_OK :
			    res[i].err.kind != PHONE_OK);
		}
	}
}

static void
one_token(const json_t *j)
{
	static const long long now = 1700000000LL;
	struct store_tokens t;
	char err[256] = "";

	if (phone_parse_token(j, now, &t, err, sizeof(err)) == 0) {
		fz_check(t.access_token != NULL && *t.access_token != '\0');
		fz_check(t.access_expires > now);
		fz_check(t.refresh_token != NULL ? t.refresh_expires >= now :
		    t.refresh_expires == 0);
	} else {
		fz_check(err[0] != '\0' && t.access_token == NULL &&
		    t.refresh_token == NULL);
	}
	store_tokens_clear(&t);
}

static void
one_error_item(const json_t *j)
{
	struct phone_error e;
	char msg[512];

	phone_error_from_item(j, PHONE_CALL_BULK_TASK, &e);
	fz_check(e.kind != PHONE_OK);
	phone_error_message(&e, "TELUS Business Connect", msg, sizeof(msg));
	fz_check(msg[0] != '\0');
}

static void
one_spc(const json_t *j)
{
	struct phone_spc spc;
	char err[256] = "";

	if (phone_parse_spc(j, &spc, err, sizeof(err)) < 0)
		fz_check(err[0] != '\0');
}

static void
one_item(const json_t *j)
{
	static const enum phone_items kinds[] = { PHONE_ITEMS_SITES,
		PHONE_ITEMS_ROLES, PHONE_ITEMS_COST_CENTERS };
	struct phone_item it;
	char err[256] = "";

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (phone_parse_item(j, kinds[k], &it, err, sizeof(err)) == 0)
			fz_check(it.id != NULL && it.name != NULL);
		else
			fz_check(err[0] != '\0' && it.id == NULL);
		phone_item_clear(&it);
	}
}

static void
one_batch(const json_t *j)
{
	struct phone_batch_result v[PHONE_BATCH_MAX + 1];
	char err[256] = "";
	size_t n;
	int max;

	if (phone_parse_batch(j, v, PHONE_BATCH_MAX, &n, err, sizeof(err)) == 0)
		fz_check(n <= PHONE_BATCH_MAX);
	else
		fz_check(err[0] != '\0');
	if (phone_parse_service_info(j, &max, err, sizeof(err)) == 0)
		fz_check(max >= 1 && max <= 8);
}

static const struct {
	const char *tag;
	void (*fn)(const json_t *);
} parsers[] = {
	{ "item", one_item }, { "batch", one_batch },
	{ "user", one_user }, { "extension", one_extension },
	{ "number", one_number }, { "custom-field", one_custom_field },
	{ "spc", one_spc }, { "schemas", one_schemas }, { "page", one_page },
	{ "task", one_task }, { "token", one_token },
	{ "error-item", one_error_item }, { "directory", one_directory },
};

FZ_JSON_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	char *tag = fz_line(&f, NULL), *body;
	json_t *j;

	if (tag == NULL)
		return 0;
	body = fz_dup(f.p, f.n);
	/* the client parses 2xx bodies with json_loadb(body, len, 0) */
	j = json_loadb(body, f.n, 0, NULL);
	for (size_t i = 0; j != NULL && i < sizeof(parsers) / sizeof(parsers[0]);
	    i++)
		if (strcmp(tag, parsers[i].tag) == 0)
			parsers[i].fn(j);
	json_decref(j);
	fz_free(body);
	free(tag);
	/* tokens are registered as secrets: keep the registry from growing */
	log_secret_clear();
	return 0;
}

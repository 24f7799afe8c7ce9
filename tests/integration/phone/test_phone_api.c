/*
 * common/phone against the emulator, over HTTP and over HTTPS with a test
 * CA: every call (OAuth JWT grant, SCIM search / create / PATCH /
 * discovery, extension and number lists paged to the end, custom fields,
 * bulk updates with task polling and chunks of 500), and the typing of
 * every error the emulator answers with.
 */
#include "phone_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SEED_USERS 2500
#define ACCT "/restapi/v1.0/account/~"

static struct ctx C;

static json_t *
seed_doc(void)
{
	json_t *exts = json_array(), *nums = json_array();

	json_array_append_new(exts, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, "
	    "s:{s:s, s:s}}, s:[{s:s, s:s}]}", "id", 101, "extensionNumber", "101",
	    "contact", "firstName", "Ann", "lastName", "Lee", "email",
	    "ann@example.com", "businessAddress", "state", "CA", "country", "US",
	    "customFields", "id", "1", "value", "CC-1"));
	json_array_append_new(exts, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, "
	    "s:s}}", "id", 102, "extensionNumber", "102", "contact", "firstName",
	    "Bob", "lastName", "Ray", "email", "bob@example.com", "mobilePhone",
	    "+16505550102"));
	json_array_append_new(exts, json_pack("{s:i, s:s, s:{s:s, s:s, s:s}}",
	    "id", 103, "extensionNumber", "103", "contact", "firstName", "Dup",
	    "lastName", "One", "email", "dup@example.com"));
	json_array_append_new(exts, json_pack("{s:i, s:s, s:{s:s, s:s, s:s}}",
	    "id", 104, "extensionNumber", "104", "contact", "firstName", "Dup",
	    "lastName", "Two", "email", "DUP@example.com"));
	for (int i = 0; i < SEED_USERS; i++) {
		char num[16], email[64], phone[32];

		snprintf(num, sizeof(num), "%d", 20000 + i);
		snprintf(email, sizeof(email), "u%d@example.com", i);
		snprintf(phone, sizeof(phone), "+1415200%04d", i);
		json_array_append_new(exts, json_pack("{s:I, s:s, s:{s:s, s:s, "
		    "s:s}}", "id", (json_int_t)(10000 + i), "extensionNumber", num,
		    "contact", "firstName", "U", "lastName", "Test", "email", email));
		json_array_append_new(nums, json_pack("{s:s, s:I}", "phoneNumber",
		    phone, "extensionId", (json_int_t)(10000 + i)));
	}
	return json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:o, "
	    "s:{s:i, s:i}, s:o, s:{s:i, s:s}, s:s}", "custom_fields", "id", "1",
	    "category", "User", "displayName", "Cost Center", "id", "2",
	    "category", "User", "displayName", "Badge", "extensions", exts,
	    "free_extensions", "count", 2, "start", 900, "numbers", nums,
	    "inventory_numbers", "count", 2, "start", "+16509990000",
	    "main_number", "+16505550000");
}

static int
setup(int https)
{
	/* the default limits, in a short window, so pacing waits are short */
	static const char *const args[] = { "--window", "3", NULL };

	if (emu_start(&C.emu, https, args) < 0)
		return -1;
	if (emu_seed(&C.emu, seed_doc()) < 0)
		return -1;
	C.loop = ev_loop_new(EVFLAG_AUTO);
	C.st = emu_store();
	return 0;
}

static int
setup_http(void **state)
{
	(void)state;
	return setup(0);
}

static int
setup_https(void **state)
{
	(void)state;
	return setup(1);
}

static int
teardown(void **state)
{
	(void)state;
	store_close(C.st);
	if (C.loop != NULL)
		ev_loop_destroy(C.loop);
	emu_stop(&C.emu);
	memset(&C, 0, sizeof(C));
	return 0;
}

static struct phone *
phone_default(void)
{
	struct config_telephony t;

	emu_telephony(&C.emu, &t, 10);
	return new_phone(&C, &t, NULL, C.st);
}

static void
test_auth_jwt(void **state)
{
	struct phone *p = phone_default();
	long long seq = emu_last_seq(&C.emu), now = time(NULL), a, rf;
	struct store_tokens t;
	struct store_txn *txn;
	struct res r = { 0 };
	char err[256];
	json_t *log;

	(void)state;
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_token_expiry(p, &a, &rf);
	assert_true(a > now + 3000 && a <= now + 3700);
	/* a 30-day refresh token was asked for */
	assert_true(rf > now + 29 * 86400 && rf <= now + 30 * 86400 + 100);
	assert_int_equal(store_begin(C.st, 1, &txn, err, sizeof(err)), 0);
	assert_int_equal(store_tokens_get(txn, &t, err, sizeof(err)), 0);
	assert_true(t.access_expires == a && t.refresh_expires == rf);
	assert_non_null(t.access_token);
	store_tokens_clear(&t);
	store_abort(txn);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "POST", "/restapi/oauth/token", 200,
	    "Auth"), 1);
	json_decref(log);
	/* a second client finds the stored session: no new grant */
	phone_free(p);
	p = phone_default();
	seq = emu_last_seq(&C.emu);
	res_clear(&r);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(emu_last_seq(&C.emu), seq);
	phone_free(p);
}

static void
find(struct phone *p, const char *email, struct res *r)
{
	memset(r, 0, sizeof(*r));
	phone_find_user(p, email, user_cb, r);
	RUN(&C, r);
}

static void
test_find_user(void **state)
{
	struct phone *p = phone_default();
	struct res r;
	char buf[256];

	(void)state;
	find(p, "ann@example.com", &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.have_user, 1);
	assert_string_equal(r.user_id, "101");
	assert_string_equal(r.given, "Ann");
	assert_int_equal(r.active, 1);
	find(p, "ANN@Example.com", &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_string_equal(r.user_id, "101");
	find(p, "nobody@example.com", &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.have_user, 0);
	find(p, "dup@example.com", &r);
	ASSERT_KIND(&r, PHONE_DUPLICATE_EMAIL);
	assert_string_equal(r.err.value, "dup@example.com");
	assert_string_equal(phone_error_message(&r.err, "RingCentral", buf,
	    sizeof(buf)), "RingCentral has more than one user record for the given "
	    "email [dup@example.com] (More than one record found for Email): keep "
	    "one user per email in RingCentral, or correct the mail attribute in "
	    "AD.");
	find(p, "a\"b@example.com", &r); /* quoted in the filter */
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.have_user, 0);
	find(p, "", &r);
	ASSERT_KIND(&r, PHONE_DATA);
	phone_free(p);
}

static void
create(struct phone *p, const struct phone_profile *prof, const char *guid,
    struct res *r)
{
	memset(r, 0, sizeof(*r));
	phone_create_user(p, prof, guid, user_cb, r);
	RUN(&C, r);
}

static void
set_active(struct phone *p, const char *id, int active, struct res *r)
{
	memset(r, 0, sizeof(*r));
	phone_set_active(p, id, active, user_cb, r);
	RUN(&C, r);
}

static void
test_create_and_patch(void **state)
{
	struct phone *p = phone_default();
	struct phone_profile prof = { 0 };
	char id[64];
	struct res r;
	json_t *st;
	long long seq;

	(void)state;
	prof.field[PHONE_F_FIRST_NAME] = "Cat";
	prof.field[PHONE_F_LAST_NAME] = "Kim";
	prof.field[PHONE_F_EMAIL] = "cat@example.com";
	prof.field[PHONE_F_MOBILE_PHONE] = "+16505550199";
	prof.field[PHONE_F_STATE] = "CA";
	prof.field[PHONE_F_DEPARTMENT] = "Ops";
	prof.field[PHONE_F_JOB_TITLE] = "Lead";
	create(p, &prof, "0f8fad5b-d9cb-469f-a165-70867728950e", &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.have_user, 1);
	assert_string_equal(r.user_email, "cat@example.com");
	snprintf(id, sizeof(id), "%s", r.user_id);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	const json_t *x = ext_in_state(st, strtoll(id, NULL, 10));
	assert_non_null(x);
	assert_string_equal(json_string_value(json_object_get(x, "status")),
	    "Enabled");
	assert_string_equal(contact_of(x, "department"), "Ops");
	assert_string_equal(contact_of(x, "jobTitle"), "Lead");
	assert_string_equal(json_string_value(json_object_get(x, "externalId")),
	    "0f8fad5b-d9cb-469f-a165-70867728950e");
	json_decref(st);
	/* the same email again: a conflict, not a second user */
	create(p, &prof, NULL, &r);
	ASSERT_KIND(&r, PHONE_CONFLICT);
	set_active(p, id, 0, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.active, 0);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	assert_string_equal(json_string_value(json_object_get(ext_in_state(st,
	    strtoll(id, NULL, 10)), "status")), "Disabled");
	json_decref(st);
	set_active(p, id, 1, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.active, 1);
	set_active(p, "999999", 0, &r);
	ASSERT_KIND(&r, PHONE_NOT_FOUND);
	/* a value the platform rejects names the field */
	prof.field[PHONE_F_EMAIL] = "dan@example.com";
	prof.field[PHONE_F_STATE] = "Calif.";
	create(p, &prof, NULL, &r);
	ASSERT_KIND(&r, PHONE_DATA);
	assert_string_equal(phone_param_field(r.err.param), "state");
	/* the second free extension, then none is left */
	prof.field[PHONE_F_STATE] = "Ontario";
	prof.field[PHONE_F_EMAIL] = "eve@example.com";
	create(p, &prof, NULL, &r);
	ASSERT_KIND(&r, PHONE_OK);
	prof.field[PHONE_F_EMAIL] = "fay@example.com";
	create(p, &prof, NULL, &r);
	ASSERT_KIND(&r, PHONE_NO_FREE_EXTENSION);
	/* refused before any request when the profile cannot make a user */
	seq = emu_last_seq(&C.emu);
	prof.field[PHONE_F_EMAIL] = NULL;
	create(p, &prof, NULL, &r);
	ASSERT_KIND(&r, PHONE_DATA);
	assert_int_equal(emu_last_seq(&C.emu), seq);
	phone_free(p);
}

static void
spc_cb(const struct phone_error *err, const struct phone_spc *spc, void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->active = spc ? spc->patch && spc->filter && spc->max_results > 0 : -1;
	r->done = 1;
}

static void
schema_cb(const struct phone_error *err, const struct phone_schema *s,
    void *arg)
{
	struct res *r = arg;
	int want = 0;

	r->err = *err;
	r->n = s ? s->n : 0;
	for (size_t i = 0; s != NULL && i < s->n; i++)
		if (strcmp(s->v[i].name, "name.givenName") == 0 ||
		    strcmp(s->v[i].name, "addresses.region") == 0 ||
		    (strcmp(s->v[i].name, "department") == 0 && strstr(
		    s->v[i].schema, "enterprise") != NULL))
			want++;
	r->active = want;
	r->done = 1;
}

static void
test_discovery_and_custom_fields(void **state)
{
	struct phone *p = phone_default();
	struct res r = { 0 };

	(void)state;
	phone_scim_config(p, spc_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.active, 1);
	memset(&r, 0, sizeof(r));
	phone_scim_schemas(p, schema_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.active, 3);
	assert_true(r.n > 10);
	memset(&r, 0, sizeof(r));
	phone_custom_fields(p, fields_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.given, "Cost Center");
	phone_free(p);
}

static void
items_cb(const struct phone_error *err, const struct phone_item *v, size_t n,
    void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->n = n;
	if (n > 0)
		snprintf(r->given, sizeof(r->given), "%s", v[n - 1].name);
	r->done = 1;
}

/* The account's offer: roles over two pages, the default role, sites, and
 * a role read refused without RoleManagement. */
static void
test_account_items(void **state)
{
	struct phone *p = phone_default();
	json_t *roles = json_array(), *log;
	struct res r = { 0 };
	long long seq;

	(void)state;
	for (int i = 1; i <= 150; i++) {
		char id[16], name[32];

		snprintf(id, sizeof(id), "%d", i);
		snprintf(name, sizeof(name), "Role %03d", i);
		json_array_append_new(roles, json_pack("{s:s, s:s}", "id", id,
		    "displayName", name));
	}
	assert_int_equal(emu_seed(&C.emu, json_pack("{s:o, s:[{s:s, s:s, s:s}]}",
	    "roles", roles, "sites", "id", "2001", "name", "Toronto", "code",
	    "TOR")), 0);
	seq = emu_last_seq(&C.emu);
	phone_list_items(p, PHONE_ITEMS_ROLES, items_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 150);
	assert_string_equal(r.given, "Role 150");
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", "/restapi/v1.0/account/~/user-role",
	    200, "Medium"), 2);
	json_decref(log);
	memset(&r, 0, sizeof(r));
	phone_default_role(p, items_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_string_equal(r.given, "Role 001");
	memset(&r, 0, sizeof(r));
	phone_list_items(p, PHONE_ITEMS_SITES, items_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 2); /* the main site and Toronto */
	assert_string_equal(r.given, "Toronto");
	assert_int_equal(emu_post(&C.emu, "/_emu/behaviour",
	    "{\"role_permission\":false}"), 0);
	memset(&r, 0, sizeof(r));
	phone_default_role(p, items_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_AUTH);
	assert_string_equal(r.err.code, "CMN-408");
	assert_int_equal(emu_post(&C.emu, "/_emu/behaviour",
	    "{\"role_permission\":true}"), 0);
	phone_free(p);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void
assert_unique(struct res *r)
{
	qsort(r->ids, r->nids, sizeof(r->ids[0]), cmp_ll);
	for (size_t i = 1; i < r->nids; i++)
		if (r->ids[i] == r->ids[i - 1])
			fail_msg("id %lld listed twice", r->ids[i]);
}

/* count_state: extensions (or numbers) in the emulator's state. */
static size_t
count_state(const char *list, const char *key, const char *value)
{
	json_t *st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	const json_t *x;
	size_t i, n = 0;

	json_array_foreach(json_object_get(st, list), i, x)
		if (strcmp(json_string_value(json_object_get(x, key)), value) == 0)
			n++;
	json_decref(st);
	return n;
}

static void
test_list_extensions_paged(void **state)
{
	struct phone *p = phone_default();
	struct phone_ext_filter f = { "User", NULL, NULL };
	long long seq = emu_last_seq(&C.emu);
	struct res r = { 0 };
	json_t *log;

	(void)state;
	phone_list_extensions(p, &f, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.pages, 3);
	assert_int_equal(r.n, count_state("extensions", "type", "User"));
	assert_true(r.n > 2500);
	assert_unique(&r);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", ACCT "/extension", 200, "Medium"),
	    3);
	for (int page = 1; page <= 3; page++) {
		char want[64];
		const json_t *e = json_array_get(log, (size_t)page - 1);

		snprintf(want, sizeof(want), "type=User&page=%d&perPage=1000", page);
		assert_string_equal(json_string_value(json_object_get(e, "query")),
		    want);
	}
	json_decref(log);
	res_clear(&r);
	/* a filter that matches nothing: one empty page */
	f.email = "nobody@example.com";
	phone_list_extensions(p, &f, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.pages, 1);
	assert_int_equal(r.n, 0);
	res_clear(&r);
	phone_free(p);
}

/* fault_taken: the emulator has no fault left to inject. */
static int
fault_taken(void)
{
	json_t *j = emu_call(&C.emu, "GET", "/_emu/fault", NULL);
	int taken = j != NULL && json_array_size(json_object_get(j, "faults")) == 0;

	json_decref(j);
	return taken;
}

/* answered: the emulator logged a request after seq with this fault. */
static int
answered(long long seq, const char *fault)
{
	json_t *log = emu_log(&C.emu, seq), *e;
	size_t i;
	int found = 0;

	json_array_foreach(log, i, e)
		if (strcmp(json_string_value(json_object_get(e, "fault")) ?
		    json_string_value(json_object_get(e, "fault")) : "", fault) == 0)
			found = 1;
	json_decref(log);
	return found;
}

/*
 * phone_cancel_all: a call on the wire, a queued one and one that ended
 * without I/O are dropped without a callback, even once the server has
 * answered; the client stays usable.
 */
static void
test_cancel_all(void **state)
{
	struct phone *p = phone_default();
	struct phone_ext_filter f = { "User", NULL, NULL };
	struct res wire = { 0 }, listed = { 0 }, bad = { 0 }, again = { 0 };
	long long seq;
	double deadline;

	(void)state;
	find(p, "ann@example.com", &again); /* the session first */
	ASSERT_KIND(&again, PHONE_OK);
	assert_int_equal(emu_post(&C.emu, "/_emu/fault", "{\"kind\":\"delay\","
	    "\"count\":1,\"delay\":0.5,\"path_prefix\":\"/scim/v2/Users\"}"), 0);
	seq = emu_last_seq(&C.emu);
	phone_find_user(p, "ann@example.com", user_cb, &wire);
	deadline = ev_time() + 60;
	while (!fault_taken() && ev_time() < deadline)
		ev_run(C.loop, EVRUN_NOWAIT);
	assert_true(fault_taken()); /* the search is at the server */
	phone_list_extensions(p, &f, ext_page_cb, done_cb, &listed);
	phone_find_user(p, "", user_cb, &bad); /* would end from the loop */
	phone_cancel_all(p);
	assert_int_equal(phone_pending(p), 0);
	while (!answered(seq, "delay") && ev_time() < deadline)
		ev_run(C.loop, EVRUN_NOWAIT);
	assert_true(answered(seq, "delay"));
	for (int i = 0; i < 100; i++)
		ev_run(C.loop, EVRUN_NOWAIT);
	assert_int_equal(wire.done, 0);
	assert_int_equal(listed.done, 0);
	assert_int_equal(bad.done, 0);
	res_clear(&listed);
	find(p, "ann@example.com", &again);
	ASSERT_KIND(&again, PHONE_OK);
	assert_string_equal(again.user_id, "101");
	phone_free(p);
}

static void
test_list_numbers_paged(void **state)
{
	struct phone *p = phone_default();
	long long seq = emu_last_seq(&C.emu);
	struct res r = { 0 };
	json_t *log;

	(void)state;
	phone_list_numbers(p, "DirectNumber", num_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.pages, 3);
	assert_int_equal(r.n, count_state("numbers", "usageType", "DirectNumber"));
	assert_unique(&r);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", ACCT "/phone-number", 200,
	    "Heavy"), 3);
	json_decref(log);
	res_clear(&r);
	phone_free(p);
}

/* first_query: the query of the first logged request to path. */
static const char *
first_query(const json_t *log, const char *path)
{
	const json_t *e;
	size_t i;

	json_array_foreach(log, i, e)
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
			return json_string_value(json_object_get(e, "query"));
	return "";
}

/* The directory's entries with a direct number: u17's is checked. */
struct dir_res {
	struct res r;
	size_t with_number;
	int u17_ok;
};

static void
dir_page_cb(const struct phone_dir_entry *v, size_t n, void *arg)
{
	struct dir_res *d = arg;

	d->r.pages++;
	d->r.n += n;
	for (size_t i = 0; i < n; i++) {
		res_add_id(&d->r, v[i].id);
		d->with_number += v[i].direct != NULL;
		if (v[i].id == 10017)
			d->u17_ok = v[i].direct != NULL &&
			    strcmp(v[i].direct, "+14152000017") == 0 &&
			    strcmp(v[i].email, "u17@example.com") == 0 &&
			    strcmp(v[i].extension_number, "20017") == 0;
	}
}

/*
 * The company directory, whichever page size the server allows (its
 * definitions say 2,000 and 1,000): every listed user once; a hidden user
 * left out; one user's numbers on their own (Light).
 */
static void
test_list_directory(void **state)
{
	struct phone *p = phone_default();
	size_t users = count_state("extensions", "status", "Enabled");
	const int per_page[] = { 1000, 2000 };
	struct res one = { 0 };
	long long seq;
	json_t *log;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct dir_res d = { 0 };

		assert_int_equal(emu_post(&C.emu, "/_emu/behaviour",
		    "{\"directory_per_page\": %d}", per_page[k]), 0);
		seq = emu_last_seq(&C.emu);
		phone_list_directory(p, dir_page_cb, done_cb, &d);
		RUN(&C, &d.r);
		ASSERT_KIND(&d.r, PHONE_OK);
		assert_int_equal(d.r.n, users);
		assert_int_equal(d.r.pages, (int)((users + per_page[k] - 1) /
		    per_page[k]));
		assert_true(d.with_number >= SEED_USERS); /* and those given numbers */
		assert_true(d.u17_ok);
		assert_unique(&d.r);
		log = emu_log(&C.emu, seq);
		assert_int_equal(count_log(log, "GET", ACCT "/directory/entries",
		    200, "Medium"), d.r.pages);
		assert_string_equal(first_query(log, ACCT "/directory/entries"),
		    "type=User&page=1&perPage=2000");
		json_decref(log);
		res_clear(&d.r);
	}
	assert_int_equal(emu_post(&C.emu, "/_emu/extension/10017",
	    "{\"hidden\": true}"), 0);
	{
		struct dir_res d = { 0 };

		phone_list_directory(p, dir_page_cb, done_cb, &d);
		RUN(&C, &d.r);
		ASSERT_KIND(&d.r, PHONE_OK);
		assert_int_equal(d.r.n, users - 1);
		assert_false(d.u17_ok);
		res_clear(&d.r);
	}
	seq = emu_last_seq(&C.emu);
	phone_extension_numbers(p, 10017, "DirectNumber", num_page_cb, done_cb,
	    &one);
	RUN(&C, &one);
	ASSERT_KIND(&one, PHONE_OK);
	assert_int_equal(one.n, 1);
	log = emu_log(&C.emu, seq);
	assert_int_equal(count_log(log, "GET", ACCT "/extension/10017/phone-number",
	    200, "Light"), 1);
	json_decref(log);
	res_clear(&one);
	phone_extension_numbers(p, 424242, "DirectNumber", num_page_cb, done_cb,
	    &one);
	RUN(&C, &one);
	ASSERT_KIND(&one, PHONE_NOT_FOUND);
	res_clear(&one);
	assert_int_equal(emu_post(&C.emu, "/_emu/extension/10017",
	    "{\"hidden\": false}"), 0);
	assert_int_equal(emu_post(&C.emu, "/_emu/behaviour",
	    "{\"directory_per_page\": 1000}"), 0);
	phone_free(p);
}

static void
test_bulk_update_results(void **state)
{
	struct phone *p = phone_default();
	struct phone_custom_value cv[] = { { "1", "CC-9" } }, bad[] = { { "77",
	    "x" } };
	struct phone_profile ann = { 0 }, bob = { 0 }, u2 = { 0 };
	struct phone_bulk_item items[] = {
		{ 101, &ann, NULL, NULL, NULL },
		{ 102, &bob, NULL, NULL, NULL },
		{ 999999, &ann, NULL, NULL, NULL },
		{ 10000, NULL, NULL, "101", NULL },
		{ 10001, NULL, "Disabled", NULL, NULL },
		{ 10002, &u2, NULL, NULL, NULL },
	};
	struct res r = { 0 };
	json_t *st;

	(void)state;
	ann.field[PHONE_F_DEPARTMENT] = "R&D";
	ann.field[PHONE_F_MOBILE_PHONE] = "";
	ann.custom = cv;
	ann.ncustom = 1;
	bob.field[PHONE_F_STATE] = "Calif.";
	bob.field[PHONE_F_COUNTRY] = "US";
	u2.custom = bad;
	u2.ncustom = 1;
	phone_bulk_update(p, items, 6, bulk_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.bulk[0].ok, 1);
	assert_int_equal(r.bulk[1].err.kind, PHONE_DATA);
	assert_string_equal(phone_param_field(r.bulk[1].err.param), "state");
	assert_string_equal(r.bulk[1].err.value, "Calif.");
	assert_int_equal(r.bulk[2].err.kind, PHONE_NOT_FOUND);
	assert_int_equal(r.bulk[3].err.kind, PHONE_EXTENSION_IN_USE);
	assert_string_equal(r.bulk[3].err.value, "101");
	assert_int_equal(r.bulk[4].ok, 1);
	assert_int_equal(r.bulk[5].err.kind, PHONE_NOT_FOUND);
	assert_string_equal(r.bulk[5].err.param, "customFields.id");
	for (int i = 0; i < 6; i++)
		assert_true(r.bulk[i].extension_id == items[i].extension_id);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	assert_string_equal(contact_of(ext_in_state(st, 101), "department"),
	    "R&D");
	assert_null(contact_of(ext_in_state(st, 101), "mobilePhone"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(ext_in_state(st, 101), "customFields"), 0), "value")),
	    "CC-9");
	assert_string_equal(json_string_value(json_object_get(ext_in_state(st,
	    10001), "status")), "Disabled");
	json_decref(st);
	res_clear(&r);
	/* nothing to do: called back with no request */
	phone_bulk_update(p, items, 0, bulk_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, 0);
	res_clear(&r);
	phone_free(p);
}

static void
test_bulk_update_chunks(void **state)
{
	struct phone *p = phone_default();
	const size_t n = 1001;
	struct phone_bulk_item *items = xcalloc(n, sizeof(*items));
	struct phone_profile prof = { 0 };
	long long seq = emu_last_seq(&C.emu);
	struct res r = { 0 };
	json_t *log, *st;

	(void)state;
	prof.field[PHONE_F_DEPARTMENT] = "Bulk";
	for (size_t i = 0; i < n; i++) {
		items[i].extension_id = 10100 + (long long)i;
		items[i].profile = &prof;
	}
	phone_bulk_update(p, items, n, bulk_cb, &r);
	free(items); /* copied by the call */
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	assert_int_equal(r.n, n);
	for (size_t i = 0; i < n; i++)
		if (!r.bulk[i].ok || r.bulk[i].extension_id != 10100 + (long long)i)
			fail_msg("record %zu: %s", i, r.bulk[i].err.detail);
	log = emu_log(&C.emu, seq);
	/* 500 + 500 + 1 */
	assert_int_equal(count_log(log, "POST", ACCT "/extension-bulk-update",
	    202, "Heavy"), 3);
	assert_true(count_log(log, "GET", ACCT "/extension-bulk-update/tasks/",
	    200, "Light") >= 3);
	json_decref(log);
	st = emu_call(&C.emu, "GET", "/_emu/state", NULL);
	assert_string_equal(contact_of(ext_in_state(st, 10100 + 1000),
	    "department"), "Bulk");
	json_decref(st);
	res_clear(&r);
	phone_free(p);
}

static void
test_response_size_bounded(void **state)
{
	struct config_telephony t;
	struct phone_opts o = { 0 };
	struct phone *p;
	struct res r = { 0 };

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	o.max_body = 4096; /* a page of 1000 extensions is far larger */
	p = new_phone(&C, &t, &o, C.st);
	phone_list_extensions(p, NULL, ext_page_cb, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_MALFORMED);
	assert_int_equal(r.pages, 0);
	assert_non_null(strstr(r.err.detail, "larger than 4096 bytes"));
	res_clear(&r);
	phone_free(p);
}

static void
test_bad_client_secret(void **state)
{
	struct config_telephony t;
	struct phone *p;
	struct res r = { 0 };
	char buf[256];

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	t.client_secret_file = tu_write(C.emu.dir, "wrong.secret",
	    "fake-wrong-secret-1234", 0600);
	p = new_phone(&C, &t, NULL, NULL);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_AUTH);
	assert_string_equal(r.err.code, "invalid_client");
	assert_non_null(strstr(phone_error_message(&r.err, t.brand, buf,
	    sizeof(buf)), "credentials were refused"));
	phone_free(p);
	free((char *)t.client_secret_file);
}

static void
test_no_session_without_jwt(void **state)
{
	struct config_telephony t;
	long long seq = emu_last_seq(&C.emu);
	struct phone *p;
	struct res r = { 0 };

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	t.jwt_file = NULL;
	p = new_phone(&C, &t, NULL, NULL);
	phone_find_user(p, "ann@example.com", user_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_AUTH);
	assert_int_equal(emu_last_seq(&C.emu), seq); /* nothing was sent */
	phone_free(p);
}

static void
test_refuses_plain_http_off_loopback(void **state)
{
	struct config_telephony t;
	char err[256];

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	t.server = "http://platform.example.com";
	assert_null(phone_new(C.loop, &t, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "only https://"));
}

static void
test_tls_verification(void **state)
{
	struct config_telephony t;
	struct phone *p;
	struct res r = { 0 };

	(void)state;
	emu_telephony(&C.emu, &t, 10);
	t.tls_ca_cert = NULL; /* the system store does not know the test CA */
	p = new_phone(&C, &t, NULL, NULL);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_TRANSIENT);
	assert_string_equal(r.err.code, "tls");
	phone_free(p);
	memset(&r, 0, sizeof(r));
	t.tls_verify = 0;
	p = new_phone(&C, &t, NULL, NULL);
	phone_auth_check(p, done_cb, &r);
	RUN(&C, &r);
	ASSERT_KIND(&r, PHONE_OK);
	phone_free(p);
}

int
main(void)
{
	const struct CMUnitTest common[] = {
		cmocka_unit_test(test_auth_jwt),
		cmocka_unit_test(test_find_user),
		cmocka_unit_test(test_create_and_patch),
		cmocka_unit_test(test_discovery_and_custom_fields),
		cmocka_unit_test(test_list_extensions_paged),
		cmocka_unit_test(test_list_numbers_paged),
		cmocka_unit_test(test_list_directory),
		cmocka_unit_test(test_bulk_update_results),
		cmocka_unit_test(test_bulk_update_chunks),
		cmocka_unit_test(test_response_size_bounded),
		cmocka_unit_test(test_bad_client_secret),
		cmocka_unit_test(test_no_session_without_jwt),
		cmocka_unit_test(test_refuses_plain_http_off_loopback),
		cmocka_unit_test(test_cancel_all),
		cmocka_unit_test(test_account_items), /* last: it seeds sites */
	};
	const struct CMUnitTest tls[] = {
		cmocka_unit_test(test_auth_jwt),
		cmocka_unit_test(test_find_user),
		cmocka_unit_test(test_create_and_patch),
		cmocka_unit_test(test_list_extensions_paged),
		cmocka_unit_test(test_bulk_update_results),
		cmocka_unit_test(test_tls_verification),
	};
	int failed;

	failed = cmocka_run_group_tests_name("phone_api_http", common, setup_http,
	    teardown);
	failed += cmocka_run_group_tests_name("phone_api_https", tls, setup_https,
	    teardown);
	return failed != 0;
}

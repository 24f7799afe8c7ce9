/*
 * What the phone integration tests share: one emulator, one loop, one
 * store per test program, and callbacks that record a call's outcome.
 */
#ifndef RINGSYNC_PHONE_TEST_H
#define RINGSYNC_PHONE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <string.h>

#include "emu.h"
#include "phone.h"
#include "testutil.h"
#include "util.h"

struct ctx {
	struct emu emu;
	struct ev_loop *loop;
	struct store *st;
};

/* One call's outcome, filled by the callbacks below. */
struct res {
	int done;
	struct phone_error err;
	int have_user;
	char user_id[64], user_email[128], given[64];
	int active;
	size_t n;                       /* records, fields, results */
	int pages;
	struct phone_bulk_result *bulk; /* owned: copy of the results */
	long long *ids;                 /* owned: extension/number ids seen */
	size_t nids;
};

static inline void
res_clear(struct res *r)
{
	free(r->bulk);
	free(r->ids);
	memset(r, 0, sizeof(*r));
}

static inline void
done_cb(const struct phone_error *err, void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->done = 1;
}

static inline void
user_cb(const struct phone_error *err, const struct phone_user *u, void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->have_user = u != NULL;
	if (u != NULL) {
		snprintf(r->user_id, sizeof(r->user_id), "%s", u->id);
		snprintf(r->user_email, sizeof(r->user_email), "%s",
		    u->email ? u->email : "");
		snprintf(r->given, sizeof(r->given), "%s",
		    u->given_name ? u->given_name : "");
		r->active = u->active;
	}
	r->done = 1;
}

static inline void
bulk_cb(const struct phone_error *err, const struct phone_bulk_result *v,
    size_t n, void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->n = n;
	r->bulk = xcalloc(n + 1, sizeof(*v));
	memcpy(r->bulk, v, n * sizeof(*v));
	r->done = 1;
}

static inline void
fields_cb(const struct phone_error *err, const struct phone_custom_field *v,
    size_t n, void *arg)
{
	struct res *r = arg;

	r->err = *err;
	r->n = n;
	if (n > 0)
		snprintf(r->given, sizeof(r->given), "%s", v[0].display_name);
	r->done = 1;
}

static inline void
res_add_id(struct res *r, long long id)
{
	r->ids = xreallocarray(r->ids, r->nids + 1, sizeof(r->ids[0]));
	r->ids[r->nids++] = id;
}

static inline void
ext_page_cb(const struct phone_extension *v, size_t n, void *arg)
{
	struct res *r = arg;

	r->pages++;
	r->n += n;
	for (size_t i = 0; i < n; i++)
		res_add_id(r, v[i].id);
}

static inline void
num_page_cb(const struct phone_number *v, size_t n, void *arg)
{
	struct res *r = arg;

	r->pages++;
	r->n += n;
	for (size_t i = 0; i < n; i++)
		res_add_id(r, v[i].id);
}

/* RUN: drive the loop until the call called back (60 s at most). */
#define RUN(c, r) do { \
	if (loop_until((c)->loop, &(r)->done, 60) < 0) \
		fail_msg("no callback within 60 s"); \
} while (0)

#define ASSERT_KIND(r, k) do { \
	if ((r)->err.kind != (k)) \
		fail_msg("kind %s, expected %s (code=%s param=%s detail=%s)", \
		    phone_err_kind_name((r)->err.kind), phone_err_kind_name(k), \
		    (r)->err.code, (r)->err.param, (r)->err.detail); \
} while (0)

static inline struct phone *
new_phone(struct ctx *c, const struct config_telephony *t,
    const struct phone_opts *o, struct store *st)
{
	char err[256];
	struct phone *p = phone_new(c->loop, t, st, o, err, sizeof(err));

	if (p == NULL)
		fail_msg("phone_new: %s", err);
	return p;
}

/* ext_in_state: the extension with id from an /_emu/state dump. */
static inline const json_t *
ext_in_state(const json_t *state, long long id)
{
	const json_t *x;
	size_t i;

	json_array_foreach(json_object_get(state, "extensions"), i, x)
		if (json_integer_value(json_object_get(x, "id")) == id)
			return x;
	return NULL;
}

static inline const char *
contact_of(const json_t *x, const char *key)
{
	return json_string_value(json_object_get(json_object_get(x, "contact"),
	    key));
}

#endif

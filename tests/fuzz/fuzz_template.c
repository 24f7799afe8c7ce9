/*
 * fuzz_template: the write-back templates of [writeback] (config.c checks
 * them when the configuration loads, profile.c renders them, sync_plan.c
 * turns them into the values written to AD).
 *
 * Input: three lines: the template, the direct number and the extension
 * number (the last two as the phone API would send them: replaced by ""
 * when not UTF-8, which jansson never hands over).
 *
 * Oracles: any template renders without a memory error; a template the
 * configuration accepts renders without braces of its own, and every
 * rendered value reaches the set of values to write (a value AD cannot
 * store, one that is not UTF-8, must be refused when the configuration
 * loads, not dropped later).
 */
#include <jansson.h>

#include "fuzz.h"
#include "profile.h"
#include "sync_internal.h"
#include "util.h"

/* from_api: v as jansson would have handed it over, or "". */
static char *
from_api(char *v)
{
	json_t *j = v ? json_string(v) : NULL;

	if (j == NULL) {
		free(v);
		return calloc(1, 1);
	}
	json_decref(j);
	return v;
}

static void
check_writeback(const char *tpl, const char *dn, const char *en)
{
	struct config_pair pair = { "telephoneNumber", (char *)tpl, 1, NULL };
	struct config_map wb = { &pair, 1 };
	char *r = profile_render(tpl, dn, en);
	struct record_user u;
	json_t *want;

	/* a user imported with these numbers, nothing written, AD unknown */
	memset(&u, 0, sizeof(u));
	u.imp.direct_number = (char *)dn;
	u.imp.extension_number = (char *)en;
	u.wb.attrs = json_object();
	/* from nothing written: a difference exactly when r is not empty */
	fz_check(sync_plan_writeback(&wb, &u, &want) == (*r != '\0'));
	if (want != NULL) {
		const char *v = json_string_value(json_object_get(want,
		    "telephoneNumber"));

		fz_check(v != NULL && strcmp(v, r) == 0);
		/* and nothing to do once it is written */
		json_decref(u.wb.attrs);
		u.wb.attrs = json_deep_copy(want);
		json_decref(want);
		fz_check(sync_plan_writeback(&wb, &u, &want) == 0);
		fz_check(want == NULL);
	}
	json_decref(u.wb.attrs);
	free(r);
}

FZ_JSON_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	char *tpl = fz_line(&f, NULL), *dn, *en, *r, err[160];

	if (tpl == NULL)
		return 0;
	dn = from_api(fz_line(&f, NULL));
	en = from_api(fz_line(&f, NULL));
	r = profile_render(tpl, dn, en);
	free(r);
	if (config_template_check(tpl, err, sizeof(err)) == 0) {
		r = profile_render(tpl, "", "");
		fz_check(strpbrk(r, "{}") == NULL);
		free(r);
		check_writeback(tpl, dn, en);
	} else {
		fz_check(err[0] != '\0');
	}
	free(en);
	free(dn);
	free(tpl);
	return 0;
}

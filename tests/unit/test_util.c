/* Unit tests for util (common/util.c): jansson's allocators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>

#include "util.h"

static void
test_json_init(void **state)
{
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	json_t *j;

	(void)state;
	util_json_init();
	json_get_alloc_funcs(&m, &f);
	assert_ptr_equal(m, xmalloc);
	assert_ptr_equal(f, free);
	/* values made and freed through them */
	j = json_pack("{s:[i,s]}", "k", 1, "v");
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j,
	    "k"), 0)), 1);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

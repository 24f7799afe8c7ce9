/*
 * Unit tests for util (common/util.c): jansson's allocators; the retry
 * sequence, its jitter and the Retry-After that outlasts it.
 */
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

/* the guide's sequence from 2 s, capped at 30 s */
static void
test_retry_delay(void **state)
{
	static const unsigned int want[] = { 2, 3, 5, 8, 13, 21, 30, 30, 30 };

	(void)state;
	for (unsigned int i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(util_retry_delay(i), want[i]);
	assert_int_equal(util_retry_delay(1000000), 30);
}

/* the jitter lengthens by 0 to 10 %, whatever the random value */
static void
test_jitter(void **state)
{
	static const uint32_t r[] = { 0, 1, 500, 1000, 1001, 123456789,
	    UINT32_MAX };

	(void)state;
	assert_true(util_jitter(30, 0) == 30);
	assert_true(util_jitter(30, 1000) == 33);
	assert_true(util_jitter(2, 500) == 2.1);
	assert_true(util_jitter(30, 1001) == 30);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		double d = util_jitter(13, r[i]);

		assert_true(d >= 13 && d <= 13 * 1.1);
	}
}

/* a Retry-After longer than the backoff wins; a shorter one does not */
static void
test_retry_wait(void **state)
{
	(void)state;
	assert_true(util_retry_wait(0, -1, 0) == 2);
	assert_true(util_retry_wait(0, -1, 1000) == 2.2);
	assert_true(util_retry_wait(6, -1, 0) == 30);
	assert_true(util_retry_wait(0, 60, 1000) == 60);
	assert_true(util_retry_wait(6, 1, 1000) == 33);
	assert_true(util_retry_wait(3, 0, 0) == 8);
}

/* RAND_bytes: not a constant (16 equal draws: about 2^-480) */
static void
test_random32(void **state)
{
	uint32_t first = util_random32();
	int differ = 0;

	(void)state;
	for (int i = 0; i < 16; i++)
		differ |= util_random32() != first;
	assert_true(differ);
}

static void
test_host_port(void **state)
{
	static const char *const good[] = { "127.0.0.1:8443", "api.example.com:443",
		"[::1]:1", "[2001:db8::7]:65535", "h:80" };
	static const char *const bad[] = { "", ":443", "host", "host:", "host:0",
		"host:65536", "host:44x", "[::1]", "[zz]:443", "::1:443", "a b:1",
		"[]:1", "host:-1" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(util_host_port_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(util_host_port_valid(bad[i]));
	assert_false(util_host_port_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_init),
		cmocka_unit_test(test_retry_delay),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_retry_wait),
		cmocka_unit_test(test_random32),
		cmocka_unit_test(test_host_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the control socket's lines and path (common/ctlsock.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ctlsock.h"

static void
test_request(void **state)
{
	char guid[37], err[128];

	(void)state;
	assert_int_equal(ctlsock_parse_request("sync 0B8F3C1A-2D4E-4F60-8A9B-C0D1E2F30415",
	    guid, err, sizeof(err)), 0);
	assert_string_equal(guid, "0b8f3c1a-2d4e-4f60-8a9b-c0d1e2f30415");
	assert_int_equal(ctlsock_parse_request("sync alice", guid, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not an objectGUID: alice"));
	assert_int_equal(ctlsock_parse_request("sync 0b8f3c1a-2d4e-4f60-8a9b-"
	    "c0d1e2f30415x", guid, err, sizeof(err)), -1);
	assert_int_equal(ctlsock_parse_request("sync ", guid, err, sizeof(err)), -1);
	assert_int_equal(ctlsock_parse_request("push 0b8f3c1a-2d4e-4f60-8a9b-"
	    "c0d1e2f30415", guid, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown request"));
	assert_int_equal(ctlsock_parse_request("", guid, err, sizeof(err)), -1);
}

static void
test_reply(void **state)
{
	const char *text;

	(void)state;
	assert_int_equal(ctlsock_parse_reply("ok processed", &text), 1);
	assert_string_equal(text, "processed");
	assert_int_equal(ctlsock_parse_reply("ok", &text), 1);
	assert_string_equal(text, "");
	assert_int_equal(ctlsock_parse_reply("error ringsyncd is stopping", &text), 0);
	assert_string_equal(text, "ringsyncd is stopping");
	assert_int_equal(ctlsock_parse_reply("okay", &text), -1);
	assert_int_equal(ctlsock_parse_reply("errors x", &text), -1);
	assert_int_equal(ctlsock_parse_reply("", &text), -1);
}

static void
test_path(void **state)
{
	char buf[256], dir[200];

	(void)state;
	assert_int_equal(ctlsock_path("/var/lib/ringsync", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/ringsync/ringsyncd.sock");
	/* 107 bytes fit a sun_path with its NUL; 108 do not */
	memset(dir, 'd', sizeof(dir));
	dir[0] = '/';
	dir[107 - strlen("/ringsyncd.sock")] = '\0';
	assert_int_equal(ctlsock_path(dir, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 107);
	dir[107 - strlen("/ringsyncd.sock")] = 'd';
	dir[108 - strlen("/ringsyncd.sock")] = '\0';
	assert_int_equal(ctlsock_path(dir, buf, sizeof(buf)), -1);
	assert_int_equal(ctlsock_path("/var/lib/ringsync", buf, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

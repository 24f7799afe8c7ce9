/* Unit tests for common/log: quoting, redaction, levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static void
test_quote_plain_and_special(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(log_q("dc1.example.com"), "dc1.example.com");
	assert_string_equal(log_q("CN=Ann,OU=Staff,DC=x"), "CN=Ann,OU=Staff,DC=x");
	assert_string_equal(log_q("Ann Lee"), "\"Ann Lee\"");
	assert_string_equal(log_q(""), "\"\"");
	assert_string_equal(log_q(NULL), "-");
	assert_string_equal(log_q("a\"b\\c"), "\"a\\\"b\\\\c\"");
	assert_string_equal(log_q("line\nbreak\t"), "\"line\\nbreak\\t\"");
	assert_string_equal(log_q("bell\x07"), "\"bell\\x07\"");
	/* Valid UTF-8 is kept, invalid bytes are escaped. */
	assert_string_equal(log_q("Zoë"), "\"Zoë\"");
	assert_string_equal(log_q("bad\xff\xfe"), "\"bad\\xff\\xfe\"");
	assert_string_equal(log_q("\xc0\xaf"), "\"\\xc0\\xaf\""); /* overlong */
	assert_string_equal(log_quote(buf, sizeof(buf), "x y"), "\"x y\"");
}

static void
test_quote_truncates(void **state)
{
	char big[2000];
	const char *q;

	(void)state;
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	big[10] = ' ';
	q = log_q(big);
	assert_true(strlen(q) <= 270);
	assert_non_null(strstr(q, "...\""));
	/* No cut in the middle of a UTF-8 sequence. */
	for (size_t i = 0; i < 600; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[600] = '\0';
	q = log_q(big);
	assert_non_null(strstr(q, "\xc3\xa9...\""));
}

/* A buffer too short for "..." gets what fits; found by fuzzing. */
static void
test_quote_small_buffer(void **state)
{
	char buf[8];

	(void)state;
	for (size_t len = 1; len < 8; len++) {
		memset(buf, 'X', sizeof(buf));
		log_quote(buf, len, "a value to quote");
		assert_true(strlen(buf) < len);
		assert_int_equal(buf[len], 'X');
	}
	assert_string_equal(log_quote(buf, 6, ""), "\"\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "a b c"), "\"a ...\"");
}

static void
redact_eq(const char *in, const char *want)
{
	char out[512];

	log_redact(out, sizeof(out), in);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "redact(%s)\n  got  %s\n  want %s\n", in, out, want);
	assert_string_equal(out, want);
}

static void
test_redact_patterns(void **state)
{
	(void)state;
	redact_eq("Authorization: Bearer abc.def-123",
	    "Authorization: Bearer [redacted]");
	redact_eq("authorization=Basic dXNlcjpwYXNz",
	    "authorization=Basic [redacted]");
	redact_eq("{\"access_token\":\"U0pDMTFQMD\",\"expires_in\":3600}",
	    "{\"access_token\":\"[redacted]\",\"expires_in\":3600}");
	redact_eq("grant_type=refresh_token&refresh_token=xyz123&x=1",
	    "grant_type=refresh_token&refresh_token=[redacted]&x=1");
	redact_eq("assertion=eyJhbGciOi.eyJzdWIi.sig",
	    "assertion=[redacted]");
	redact_eq("password: hunter22 next", "password: [redacted] next");
	redact_eq("client_secret=\"s3cr3t\"", "client_secret=\"[redacted]\"");
	redact_eq("curl said Bearer tok123", "curl said Bearer [redacted]");
	/* Ordinary text that mentions secrets is left alone. */
	redact_eq("cannot read bind_password_file=/etc/ringsync/ldap.secret",
	    "cannot read bind_password_file=/etc/ringsync/ldap.secret");
	redact_eq("the password file is missing", "the password file is missing");
	redact_eq("jwt_file /etc/ringsync/jwt.secret: mode 0644",
	    "jwt_file /etc/ringsync/jwt.secret: mode 0644");
}

static void
test_redact_registered(void **state)
{
	(void)state;
	log_secret_add("Sup3rS3cretValue");
	log_secret_add("abc"); /* too short to be redacted safely */
	redact_eq("value=Sup3rS3cretValue end", "value=[redacted] end");
	redact_eq("xSup3rS3cretValuex", "x[redacted]x");
	redact_eq("abc", "abc");
	log_secret_clear();
	redact_eq("Sup3rS3cretValue", "Sup3rS3cretValue");
	/* The registry keeps the newest secrets, and the kept ones always. */
	log_secret_keep("bind-password-of-the-config");
	for (int i = 0; i < 100; i++) {
		char s[32];

		snprintf(s, sizeof(s), "secret-number-%03d", i);
		log_secret_add(s);
	}
	redact_eq("secret-number-099", "[redacted]");
	redact_eq("secret-number-000", "secret-number-000");
	redact_eq("pw=bind-password-of-the-config", "pw=[redacted]");
	log_secret_clear();
	redact_eq("bind-password-of-the-config", "bind-password-of-the-config");
}

static void
test_redact_small_buffer(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(log_redact(out, sizeof(out), "password=abcdefgh"), 7);
	assert_string_equal(out, "passwor");
}

static char *
capture(int level, void (*emit)(void))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	log_init("ringsync-test", LOG_USER, level, 0);
	log_set_stream(f);
	emit();
	log_set_stream(NULL);
	fclose(f);
	return buf;
}

static void
emit_some(void)
{
	log_secret_add("tok-ABCDEFGH");
	log_debug("debug line n=%d", 1);
	log_info("cycle done dc=%s scanned=%d token=%s", log_q("dc 1"), 12,
	    "tok-ABCDEFGH");
	log_err("user failed dn=%s", log_q("CN=A \"B\",DC=x"));
	log_secret_clear();
}

static void
test_emit_levels_and_shape(void **state)
{
	char *out;

	(void)state;
	out = capture(LOG_INFO, emit_some);
	assert_null(strstr(out, "debug line"));
	assert_non_null(strstr(out, "info: cycle done dc=\"dc 1\" scanned=12 "
	    "token=[redacted]\n"));
	assert_non_null(strstr(out, "err: user failed dn=\"CN=A \\\"B\\\",DC=x\"\n"));
	assert_null(strstr(out, "tok-ABCDEFGH"));
	free(out);
	out = capture(LOG_DEBUG, emit_some);
	assert_non_null(strstr(out, "debug: debug line n=1\n"));
	free(out);
	out = capture(LOG_ERR, emit_some);
	assert_null(strstr(out, "cycle done"));
	assert_non_null(strstr(out, "user failed"));
	free(out);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_name("warning"), LOG_WARNING);
	assert_int_equal(log_level_from_name("ERR"), LOG_ERR);
	assert_int_equal(log_level_from_name("chatty"), -1);
	assert_int_equal(log_facility_from_name("local7"), LOG_LOCAL7);
	assert_int_equal(log_facility_from_name("daemon"), LOG_DAEMON);
	assert_int_equal(log_facility_from_name("kern"), -1);
	assert_string_equal(log_level_name(LOG_NOTICE), "notice");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_plain_and_special),
		cmocka_unit_test(test_quote_truncates),
		cmocka_unit_test(test_redact_patterns),
		cmocka_unit_test(test_redact_registered),
		cmocka_unit_test(test_redact_small_buffer),
		cmocka_unit_test(test_quote_small_buffer),
		cmocka_unit_test(test_emit_levels_and_shape),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

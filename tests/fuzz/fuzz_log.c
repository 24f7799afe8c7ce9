/*
 * fuzz_log: how values from outside reach the log (log.c): log_quote
 * escapes a value for a key=value pair, log_redact removes secrets from a
 * line before it leaves the process.
 *
 * Input: a first line of secrets to register (separated by spaces), then
 * the text (a value to quote, and a log line to redact).
 *
 * Oracles: a quoted value fits its buffer, has no control byte and is
 * valid UTF-8, and is either the value itself or a quoted string; a
 * redacted line holds no registered secret (checked for secrets shaped
 * like tokens: 8 or more letters and digits with a digit, which no key
 * name and no "[redacted]" can contain).
 */
#include <ctype.h>

#include "fuzz.h"
#include "log.h"

static int
utf8_clean(const unsigned char *s)
{
	while (*s) {
		unsigned int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 :
		    (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : 4;

		if (n == 4 || (n == 0 && (*s < 0x20 || *s == 0x7f)))
			return 0;
		for (unsigned int k = 1; k <= n; k++)
			if ((s[k] & 0xc0) != 0x80)
				return 0;
		s += n + 1;
	}
	return 1;
}

static void
check_quote(const char *value)
{
	static const size_t lens[] = { 300, 64, 16, 9, 8, 5, 3, 2, 1 };
	char buf[301];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];

		memset(buf, 'X', sizeof(buf));
		log_quote(buf, len, value);
		fz_check(memchr(buf, '\0', len) != NULL);
		fz_check(buf[len] == 'X'); /* nothing written past len */
		if (len < 300)
			continue;
		fz_check(utf8_clean((const unsigned char *)buf));
		fz_check(strcmp(buf, value) == 0 || (buf[0] == '"' &&
		    buf[strlen(buf) - 1] == '"' && strlen(buf) >= 2));
	}
}

static int
token_shaped(const char *s)
{
	int digit = 0;
	size_t n = 0;

	for (; s[n]; n++) {
		if (!isalnum((unsigned char)s[n]))
			return 0;
		digit |= isdigit((unsigned char)s[n]) != 0;
	}
	return n >= 8 && digit;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	char *secrets = fz_line(&f, NULL), *text, *save = NULL, *s, *list[64];
	char out[4096];
	size_t ns = 0;

	if (secrets == NULL)
		return 0;
	text = calloc(1, f.n + 1);
	memcpy(text, f.p, f.n);
	log_secret_clear();
	/* at most the 64 the registry keeps */
	for (s = strtok_r(secrets, " ", &save); s != NULL && ns < 64;
	    s = strtok_r(NULL, " ", &save)) {
		log_secret_add(s);
		list[ns++] = s;
	}
	check_quote(text);
	log_redact(out, 7, text);
	fz_check(strlen(out) < 7);
	log_redact(out, sizeof(out), text);
	for (size_t i = 0; i < ns; i++)
		if (token_shaped(list[i]))
			fz_check(strstr(out, list[i]) == NULL);
	log_secret_clear();
	free(text);
	free(secrets);
	return 0;
}

/*
 * fuzz_expr: the value expressions of [push] and [create] (expr.c), as an
 * administrator writes them, evaluated for a user whose AD values come
 * from the input too.
 *
 * Input: the first line the expression, then `attribute: value` lines.
 * Oracles: an expression either parses or is refused at a place inside
 * it with a reason; the caret line is terminated; a parsed one names each
 * attribute it reads once, and its value is a terminated string that is
 * the same when evaluated twice.
 */
#include "expr.h"
#include "fuzz.h"

#define ATTRS 16

static char *names[ATTRS], *values[ATTRS];
static size_t nattr;

static const char *
lookup(const char *attr, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < nattr; i++)
		if (strcasecmp(names[i], attr) == 0)
			return values[i];
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	struct expr_error err;
	struct expr *e;
	size_t len;
	char *text = fz_line(&f, &len), *line, buf[256];

	if (text == NULL)
		return 0;
	nattr = 0;
	while (nattr < ATTRS && (line = fz_line(&f, NULL)) != NULL) {
		char *colon = strchr(line, ':');

		if (colon == NULL) {
			free(line);
			continue;
		}
		*colon = '\0';
		names[nattr] = line;
		values[nattr++] = colon + 1 + (colon[1] == ' ');
	}
	e = expr_parse(text, &err);
	if (e == NULL) {
		fz_check(err.msg[0] != '\0');
		fz_check(err.pos <= strlen(text) || err.pos == EXPR_MAX_LEN);
		expr_caret(text, err.pos, buf, sizeof(buf));
		fz_check(memchr(buf, '\0', sizeof(buf)) != NULL);
	} else {
		const char *attrs[8];
		size_t n = expr_attrs(e, attrs, 8);
		char *a = expr_eval(e, lookup, NULL), *b = expr_eval(e, lookup, NULL);

		for (size_t i = 0; i < n && i < 8; i++)
			for (size_t j = i + 1; j < n && j < 8; j++)
				fz_check(strcasecmp(attrs[i], attrs[j]) != 0);
		fz_check(strcmp(a, b) == 0);
		free(a);
		free(b);
		expr_free(e);
	}
	for (size_t i = 0; i < nattr; i++)
		free(names[i]);
	free(text);
	return 0;
}

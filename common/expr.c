/*
 * expr: parser and evaluator of the value expressions (expr.h). A
 * recursive descent over one string; each node is a constant, an AD
 * attribute or a call with its arguments. The checks that need no user
 * (the names, the counts of arguments, a count that must be a number, a
 * regex that must compile) are the parser's, so that ringsyncd -t finds
 * every mistake with its place.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr.h"
#include "util.h"

enum node_kind { N_ATTR, N_STR, N_NUM, N_CALL };

enum fn {
	F_COALESCE, F_JOIN, F_LOWER, F_UPPER, F_TRIM, F_LEFT, F_RIGHT,
	F_REPLACE, F_REGEX, F_SWITCH, F_DIGITS,
};

/* Per function: its name and how many arguments it takes. */
static const struct fn_info {
	const char *name;
	int min, max;                  /* max -1: any number */
	const char *usage;
} fns[] = {
	[F_COALESCE] = { "coalesce", 1, -1, "coalesce(a, b, ...)" },
	[F_JOIN] = { "join", 2, -1, "join(sep, a, b, ...)" },
	[F_LOWER] = { "lower", 1, 1, "lower(x)" },
	[F_UPPER] = { "upper", 1, 1, "upper(x)" },
	[F_TRIM] = { "trim", 1, 1, "trim(x)" },
	[F_LEFT] = { "left", 2, 2, "left(x, n)" },
	[F_RIGHT] = { "right", 2, 2, "right(x, n)" },
	[F_REPLACE] = { "replace", 3, 3, "replace(x, \"from\", \"to\")" },
	[F_REGEX] = { "regex", 3, 3, "regex(x, \"ERE\", n)" },
	[F_SWITCH] = { "switch", 2, -1, "switch(x, \"k1\", \"v1\", ..., default)" },
	[F_DIGITS] = { "digits", 1, 1, "digits(x)" },
};
#define NFNS (sizeof(fns) / sizeof(fns[0]))

struct expr {
	enum node_kind kind;
	enum fn fn;
	char *s;                       /* owned: the attribute or constant */
	long n;                        /* N_NUM */
	struct expr **arg;             /* owned */
	size_t narg;
	regex_t re;                    /* F_REGEX, compiled at parse time */
	int has_re;
};

struct parser {
	const char *text;
	size_t p;
	struct expr_error *err;
	int failed;
};

static void fail(struct parser *ps, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct parser *ps, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = 1;
	ps->err->pos = pos;
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
}

static void
skip_space(struct parser *ps)
{
	while (ps->text[ps->p] == ' ' || ps->text[ps->p] == '\t')
		ps->p++;
}

static int
ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

void
expr_free(struct expr *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->narg; i++)
		expr_free(e->arg[i]);
	free(e->arg);
	free(e->s);
	if (e->has_re)
		regfree(&e->re);
	free(e);
}

static struct expr *
node(enum node_kind kind)
{
	struct expr *e = xcalloc(1, sizeof(*e));

	e->kind = kind;
	return e;
}

static struct expr *parse_expr(struct parser *ps, int depth);

static struct expr *
parse_string(struct parser *ps)
{
	size_t start = ps->p, cap = 16, n = 0;
	char *buf = xmalloc(cap);
	struct expr *e;

	ps->p++; /* the opening quote */
	for (;;) {
		char c = ps->text[ps->p];

		if (c == '\0') {
			free(buf);
			fail(ps, start, "unterminated string: a \" is missing");
			return NULL;
		}
		ps->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			c = ps->text[ps->p];
			if (c != '"' && c != '\\') {
				free(buf);
				fail(ps, ps->p - 1, "unknown escape: only \\\" and \\\\ "
				    "are allowed in a string");
				return NULL;
			}
			ps->p++;
		}
		if (n + 2 > cap)
			buf = xrealloc(buf, cap *= 2);
		buf[n++] = c;
	}
	buf[n] = '\0';
	e = node(N_STR);
	e->s = buf;
	return e;
}

static struct expr *
parse_number(struct parser *ps)
{
	size_t start = ps->p;
	long v = 0;
	struct expr *e;

	while (ps->text[ps->p] >= '0' && ps->text[ps->p] <= '9') {
		if (v > 100000) {
			fail(ps, start, "number too large");
			return NULL;
		}
		v = v * 10 + (ps->text[ps->p++] - '0');
	}
	if (ident_char(ps->text[ps->p])) {
		fail(ps, start, "not a number: an AD attribute name starts with a "
		    "letter");
		return NULL;
	}
	e = node(N_NUM);
	e->n = v;
	return e;
}

static int
find_fn(const char *name, size_t len)
{
	for (size_t i = 0; i < NFNS; i++)
		if (strlen(fns[i].name) == len &&
		    strncasecmp(fns[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* check_call: what can be checked of a call without a user. */
static void
check_call(struct parser *ps, struct expr *e, size_t at,
    const size_t *argpos)
{
	const struct fn_info *f = &fns[e->fn];
	size_t nums[2] = { 0, 0 }, nn = 0;

	if ((int)e->narg < f->min || (f->max >= 0 && (int)e->narg > f->max)) {
		fail(ps, at, "%s takes %s%d argument%s, not %zu: %s", f->name,
		    f->max < 0 ? "at least " : "", f->min,
		    f->min == 1 && f->max == 1 ? "" : "s", e->narg, f->usage);
		return;
	}
	/* Where a count goes; nowhere else. */
	if (e->fn == F_LEFT || e->fn == F_RIGHT)
		nums[nn++] = 1;
	if (e->fn == F_REGEX)
		nums[nn++] = 2;
	for (size_t i = 0; i < e->narg; i++) {
		int count = (nn > 0 && nums[0] == i) || (nn > 1 && nums[1] == i);

		if (count && e->arg[i]->kind != N_NUM) {
			fail(ps, argpos[i], "%s: argument %zu is a count, a number "
			    "such as 4: %s", f->name, i + 1, f->usage);
			return;
		}
		if (!count && e->arg[i]->kind == N_NUM) {
			fail(ps, argpos[i], "a number is only a count (of left, right "
			    "or regex): a constant value is written in quotes, "
			    "\"%ld\"", e->arg[i]->n);
			return;
		}
	}
	if (e->fn == F_REGEX) {
		char msg[128];
		int rc;

		if (e->arg[1]->kind != N_STR) {
			fail(ps, argpos[1], "regex: the pattern must be a \"string\"");
			return;
		}
		for (const char *q = e->arg[1]->s; *q; q++) {
			if (q[0] == '\\' && q[1] >= '1' && q[1] <= '9') {
				fail(ps, argpos[1], "regex: back-references (\\%c) are not "
				    "part of POSIX extended regular expressions", q[1]);
				return;
			}
			if (q[0] == '\\' && q[1] != '\0')
				q++;
		}
		rc = regcomp(&e->re, e->arg[1]->s, REG_EXTENDED);
		if (rc != 0) {
			regerror(rc, &e->re, msg, sizeof(msg));
			fail(ps, argpos[1], "regex: not a POSIX extended regular "
			    "expression: %s", msg);
			return;
		}
		e->has_re = 1;
		if ((size_t)e->arg[2]->n > e->re.re_nsub)
			fail(ps, argpos[2], "regex: the pattern has %zu group%s, so "
			    "group %ld does not exist", e->re.re_nsub,
			    e->re.re_nsub == 1 ? "" : "s", e->arg[2]->n);
	}
}

static struct expr *
parse_call(struct parser *ps, struct expr *e, size_t at, int depth)
{
	size_t argpos[EXPR_MAX_ARGS];

	ps->p++; /* ( */
	skip_space(ps);
	if (ps->text[ps->p] == ')') {
		ps->p++;
	} else {
		for (;;) {
			struct expr *a;

			skip_space(ps);
			if (e->narg == EXPR_MAX_ARGS) {
				fail(ps, ps->p, "more than %d arguments", EXPR_MAX_ARGS);
				return e;
			}
			argpos[e->narg] = ps->p;
			if ((a = parse_expr(ps, depth + 1)) == NULL)
				return e;
			e->arg = xreallocarray(e->arg, e->narg + 1, sizeof(*e->arg));
			e->arg[e->narg++] = a;
			skip_space(ps);
			if (ps->text[ps->p] == ',') {
				ps->p++;
				continue;
			}
			if (ps->text[ps->p] == ')') {
				ps->p++;
				break;
			}
			fail(ps, ps->p, ps->text[ps->p] == '\0' ? "a ) is missing" :
			    "a , or ) was expected here");
			return e;
		}
	}
	check_call(ps, e, at, argpos);
	return e;
}

static struct expr *
parse_expr(struct parser *ps, int depth)
{
	size_t start;
	struct expr *e;
	char c;

	skip_space(ps);
	start = ps->p;
	c = ps->text[start];
	if (depth > EXPR_MAX_DEPTH) {
		fail(ps, start, "nested more than %d deep", EXPR_MAX_DEPTH);
		return NULL;
	}
	if (c == '"')
		return parse_string(ps);
	if (c >= '0' && c <= '9')
		return parse_number(ps);
	if (!ident_start(c)) {
		fail(ps, start, c == '\0' ? "a value is missing" : "an AD attribute, "
		    "a \"string\" or a function was expected here");
		return NULL;
	}
	while (ident_char(ps->text[ps->p]))
		ps->p++;
	skip_space(ps);
	if (ps->text[ps->p] == '(') {
		int f = find_fn(ps->text + start, ps->p - start);

		if (f < 0) {
			size_t len = 0;

			while (ident_char(ps->text[start + len]))
				len++;
			fail(ps, start, "unknown function %.*s: the functions are "
			    "coalesce, join, lower, upper, trim, left, right, "
			    "replace, regex, switch and digits", (int)len,
			    ps->text + start);
			return NULL;
		}
		e = node(N_CALL);
		e->fn = (enum fn)f;
		parse_call(ps, e, start, depth);
		if (ps->failed) {
			expr_free(e);
			return NULL;
		}
		return e;
	}
	e = node(N_ATTR);
	{
		size_t len = 0;

		while (ident_char(ps->text[start + len]))
			len++;
		e->s = xmalloc(len + 1);
		memcpy(e->s, ps->text + start, len);
		e->s[len] = '\0';
	}
	return e;
}

struct expr *
expr_parse(const char *text, struct expr_error *err)
{
	struct parser ps = { text, 0, err, 0 };
	struct expr *e;

	memset(err, 0, sizeof(*err));
	if (strlen(text) > EXPR_MAX_LEN) {
		fail(&ps, EXPR_MAX_LEN, "longer than %d characters", EXPR_MAX_LEN);
		return NULL;
	}
	e = parse_expr(&ps, 0);
	if (e != NULL && !ps.failed) {
		skip_space(&ps);
		if (text[ps.p] != '\0')
			fail(&ps, ps.p, "unexpected text after the value (a , "
			    "outside a function?)");
	}
	if (ps.failed) {
		expr_free(e);
		return NULL;
	}
	if (e->kind == N_NUM) {
		expr_free(e);
		ps.failed = 0;
		fail(&ps, 0, "a number is only a count (of left, right or regex): "
		    "a constant value is written in quotes");
		return NULL;
	}
	return e;
}

static void
attrs_walk(const struct expr *e, const char **out, size_t max, size_t *n)
{
	if (e->kind == N_ATTR) {
		for (size_t i = 0; i < *n && i < max; i++)
			if (strcasecmp(out[i], e->s) == 0)
				return;
		if (*n < max)
			out[*n] = e->s;
		(*n)++; /* past max, repeats count again: the caller retries */
		return;
	}
	for (size_t i = 0; i < e->narg; i++)
		attrs_walk(e->arg[i], out, max, n);
}

size_t
expr_attrs(const struct expr *e, const char **out, size_t max)
{
	size_t n = 0;

	attrs_walk(e, out, max, &n);
	return n;
}

/* ------------------------------------------------------------ evaluation */

/* utf8_len: bytes of the character at s (1 for a stray byte). */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n = *s < 0x80 ? 1 : *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 :
	    *s >= 0xC0 ? 2 : 1;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 1;
	return n;
}

static size_t
utf8_count(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p;
	    p += utf8_len(p))
		n++;
	return n;
}

/* utf8_skip: the byte offset of character k of s (or its end). */
static size_t
utf8_skip(const char *s, size_t k)
{
	const unsigned char *p = (const unsigned char *)s;

	while (k-- > 0 && *p)
		p += utf8_len(p);
	return (size_t)((const char *)p - s);
}

static char *
dup_range(const char *s, size_t from, size_t to)
{
	char *out = xmalloc(to - from + 1);

	memcpy(out, s + from, to - from);
	out[to - from] = '\0';
	return out;
}

/* set_case: ASCII, and Latin-1's letters (U+00C0-U+00DE, U+00E0-U+00FE). */
static void
set_case(char *s, int upper)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p; p++) {
		if (upper && *p >= 'a' && *p <= 'z')
			*p -= 32;
		else if (!upper && *p >= 'A' && *p <= 'Z')
			*p += 32;
		else if (p[0] == 0xC3 && p[1] != '\0') {
			unsigned char c = p[1];

			if (upper && c >= 0xA0 && c <= 0xBE && c != 0xB7)
				p[1] = (unsigned char)(c - 0x20);
			else if (!upper && c >= 0x80 && c <= 0x9E && c != 0x97)
				p[1] = (unsigned char)(c + 0x20);
			p++;
		}
	}
}

static char *eval(const struct expr *e, expr_lookup *get, void *arg);

static char *
eval_call(const struct expr *e, expr_lookup *get, void *arg)
{
	char *x, *out;
	size_t n, o;

	switch (e->fn) {
	case F_COALESCE:
		for (size_t i = 0; i < e->narg; i++) {
			if (*(x = eval(e->arg[i], get, arg)) != '\0')
				return x;
			free(x);
		}
		return xstrdup("");
	case F_JOIN: {
		char *sep = eval(e->arg[0], get, arg);

		out = xstrdup("");
		for (size_t i = 1; i < e->narg; i++) {
			x = eval(e->arg[i], get, arg);
			if (*x != '\0') {
				char *both = xmalloc(strlen(out) + strlen(sep) +
				    strlen(x) + 1);

				sprintf(both, "%s%s%s", out, *out ? sep : "", x);
				free(out);
				out = both;
			}
			free(x);
		}
		free(sep);
		return out;
	}
	case F_LOWER:
	case F_UPPER:
		x = eval(e->arg[0], get, arg);
		set_case(x, e->fn == F_UPPER);
		return x;
	case F_TRIM: {
		size_t a = 0, b;

		x = eval(e->arg[0], get, arg);
		b = strlen(x);
		while (a < b && strchr(" \t\r\n\v\f", x[a]) != NULL)
			a++;
		while (b > a && strchr(" \t\r\n\v\f", x[b - 1]) != NULL)
			b--;
		out = dup_range(x, a, b);
		free(x);
		return out;
	}
	case F_LEFT:
	case F_RIGHT:
		x = eval(e->arg[0], get, arg);
		n = (size_t)e->arg[1]->n;
		o = utf8_count(x);
		out = e->fn == F_LEFT ? dup_range(x, 0, utf8_skip(x, n)) :
		    dup_range(x, utf8_skip(x, o > n ? o - n : 0), strlen(x));
		free(x);
		return out;
	case F_REPLACE: {
		char *from = eval(e->arg[1], get, arg), *to, *p;
		size_t fl = strlen(from), tl, cap;

		x = eval(e->arg[0], get, arg);
		if (fl == 0) {
			free(from);
			return x;
		}
		to = eval(e->arg[2], get, arg);
		tl = strlen(to);
		cap = strlen(x) + 1;
		for (p = x; (p = strstr(p, from)) != NULL; p += fl)
			if (tl > fl)
				cap += tl - fl;
		out = xmalloc(cap);
		o = 0;
		for (p = x;;) {
			char *hit = strstr(p, from);

			if (hit == NULL) {
				strcpy(out + o, p);
				break;
			}
			memcpy(out + o, p, (size_t)(hit - p));
			o += (size_t)(hit - p);
			memcpy(out + o, to, tl);
			o += tl;
			p = hit + fl;
		}
		free(x);
		free(from);
		free(to);
		return out;
	}
	case F_REGEX: {
		regmatch_t m[10];
		size_t g = (size_t)e->arg[2]->n;
		regmatch_t *mv = g < 10 ? m : xcalloc(g + 1, sizeof(*mv));

		x = eval(e->arg[0], get, arg);
		if (regexec(&e->re, x, g + 1, mv, 0) != 0 || mv[g].rm_so < 0)
			out = xstrdup("");
		else
			out = dup_range(x, (size_t)mv[g].rm_so, (size_t)mv[g].rm_eo);
		if (mv != m)
			free(mv);
		free(x);
		return out;
	}
	case F_SWITCH: {
		size_t i;

		x = eval(e->arg[0], get, arg);
		for (i = 1; i + 1 < e->narg; i += 2) {
			char *k = eval(e->arg[i], get, arg);
			int eq = strcmp(k, x) == 0;

			free(k);
			if (eq) {
				free(x);
				return eval(e->arg[i + 1], get, arg);
			}
		}
		free(x);
		return i < e->narg ? eval(e->arg[i], get, arg) : xstrdup("");
	}
	case F_DIGITS:
		x = eval(e->arg[0], get, arg);
		o = 0;
		for (size_t i = 0; x[i]; i++)
			if (x[i] >= '0' && x[i] <= '9')
				x[o++] = x[i];
		x[o] = '\0';
		return x;
	}
	return xstrdup("");
}

static char *
eval(const struct expr *e, expr_lookup *get, void *arg)
{
	const char *v;

	switch (e->kind) {
	case N_ATTR:
		v = get(e->s, arg);
		return xstrdup(v != NULL ? v : "");
	case N_STR:
		return xstrdup(e->s);
	case N_NUM: {
		char buf[24];

		snprintf(buf, sizeof(buf), "%ld", e->n);
		return xstrdup(buf);
	}
	case N_CALL:
		return eval_call(e, get, arg);
	}
	return xstrdup("");
}

char *
expr_eval(const struct expr *e, expr_lookup *get, void *arg)
{
	return eval(e, get, arg);
}

const char *
expr_caret(const char *text, size_t pos, char *buf, size_t len)
{
	size_t n = strlen(text), from = 0, width = 60;

	if (pos > n)
		pos = n;
	if (pos > width - 10)
		from = pos - (width - 10);
	snprintf(buf, len, "  %s%.*s\n  %*s^", from ? "..." : "", (int)width,
	    text + from, (int)(pos - from + (from ? 3 : 0)), "");
	return buf;
}

/*
 * expr: the value expressions of [push] and [create] (the provisioning
 * policy): an AD attribute name, a "string constant" (\" and \\ escape),
 * a whole number (a function's count), or a function of expressions:
 *
 *   coalesce(a, b, ...)   the first that is not empty
 *   join(sep, a, b, ...)  the values that are not empty, sep between
 *   lower(x) upper(x)     letters of ASCII and Latin-1 in one case
 *   trim(x)               without leading and trailing white space
 *   left(x, n) right(x, n) the first or last n characters (UTF-8)
 *   replace(x, "from", "to")  every "from" by "to"
 *   regex(x, "ERE", n)    group n of the first match (0: the match), or
 *                         empty when it does not match (POSIX ERE)
 *   switch(x, "k1", "v1", ..., default)  the value of the first key equal
 *                         to x, else default (a last argument without
 *                         its pair; none: empty)
 *   digits(x)             only the digits
 *
 * An empty result is an absent value. Parsed once (the regexes compiled
 * then) into a small tree; evaluated per user with a lookup for the AD
 * attributes. Pure: no I/O, no logging.
 */
#ifndef RINGSYNC_EXPR_H
#define RINGSYNC_EXPR_H

#include <stddef.h>

#define EXPR_MAX_LEN 4096     /* characters of one expression */
#define EXPR_MAX_DEPTH 32     /* nested calls */
#define EXPR_MAX_ARGS 64      /* arguments of one call */

struct expr;

/* A parse error: the byte offset of the bad token and what is wrong. */
struct expr_error {
	size_t pos;
	char msg[200];
};

/*
 * expr_parse: text into a tree; NULL with err (pos and msg) when it is
 * not an expression: an unknown function, the wrong number of arguments,
 * an unterminated string, a bad regex, ...
 */
struct expr *expr_parse(const char *text, struct expr_error *err);
void expr_free(struct expr *e);

/*
 * expr_attrs: the AD attributes e reads, each once, in the order they
 * first appear: up to max into out (borrowed from e); returns how many
 * there are, or more than max when out was too short (call again with a
 * longer one).
 */
size_t expr_attrs(const struct expr *e, const char **out, size_t max);

/* The AD value of attr for the user at hand, or NULL when it has none. */
typedef const char *expr_lookup(const char *attr, void *arg);

/* expr_eval: the value for one user, newly allocated ("" when empty). */
char *expr_eval(const struct expr *e, expr_lookup *get, void *arg);

/*
 * expr_caret: the text's line with a caret under pos, for a message:
 * "  join(x\n       ^" into buf (a long line is cut around pos).
 */
const char *expr_caret(const char *text, size_t pos, char *buf, size_t len);

#endif

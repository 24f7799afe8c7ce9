/*
 * test_expr: the value expressions (common/expr.c): each function, the
 * attributes an expression reads, and the parse errors with their place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "expr.h"

/* The AD user at hand: attribute, value pairs (NULL-terminated). */
static const char *const user[] = {
	"givenName", "Ann",
	"sn", "  Lee  ",
	"mail", "Ann.Lee@Example.test",
	"ipPhone", "+1 (650) 555-2041",
	"department", "Sales",
	"c", "CA",
	"displayName", "Zoë Ærø",
	"empty", "",
	NULL,
};

static const char *
lookup(const char *attr, void *arg)
{
	(void)arg;
	for (size_t i = 0; user[i] != NULL; i += 2)
		if (strcasecmp(user[i], attr) == 0)
			return user[i + 1];
	return NULL;
}

static void
eval_eq(const char *text, const char *want)
{
	struct expr_error err;
	struct expr *e = expr_parse(text, &err);
	char *got;

	if (e == NULL)
		fail_msg("%s: %s at %zu", text, err.msg, err.pos);
	got = expr_eval(e, lookup, NULL);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s', want '%s'", text, got, want);
	free(got);
	expr_free(e);
}

/* parse_fails: text is refused at pos with a message holding what. */
static void
parse_fails(const char *text, size_t pos, const char *what)
{
	struct expr_error err;
	struct expr *e = expr_parse(text, &err);

	if (e != NULL)
		fail_msg("%s: parsed", text);
	if (err.pos != pos || strstr(err.msg, what) == NULL)
		fail_msg("%s: error at %zu '%s', want at %zu with '%s'", text,
		    err.pos, err.msg, pos, what);
}

static void
test_terms(void **state)
{
	(void)state;
	eval_eq("givenName", "Ann");
	eval_eq("GIVENNAME", "Ann");            /* AD names: any case */
	eval_eq("title", "");                   /* absent: empty */
	eval_eq("\"Main office\"", "Main office");
	eval_eq("\"say \\\"hi\\\" \\\\o/\"", "say \"hi\" \\o/");
	eval_eq("  \"\"  ", "");
	eval_eq("msDS-cloudExtensionAttribute1", "");
}

static void
test_functions(void **state)
{
	(void)state;
	eval_eq("coalesce(title, empty, department, \"x\")", "Sales");
	eval_eq("coalesce(title)", "");
	eval_eq("join(\" \", givenName, title, trim(sn))", "Ann Lee");
	eval_eq("join(\"-\", title, empty)", "");
	eval_eq("lower(mail)", "ann.lee@example.test");
	eval_eq("upper(mail)", "ANN.LEE@EXAMPLE.TEST");
	eval_eq("lower(displayName)", "zoë ærø");
	eval_eq("upper(displayName)", "ZOË ÆRØ");
	eval_eq("trim(sn)", "Lee");
	eval_eq("left(givenName, 2)", "An");
	eval_eq("left(givenName, 0)", "");
	eval_eq("left(givenName, 10)", "Ann");
	eval_eq("right(digits(ipPhone), 4)", "2041");
	eval_eq("right(displayName, 3)", "Ærø");      /* characters, not bytes */
	eval_eq("left(displayName, 2)", "Zo");
	eval_eq("right(title, 3)", "");
	eval_eq("replace(department, \"a\", \"4\")", "S4les");
	eval_eq("replace(mail, \"@Example.test\", \"@corp.example\")",
	    "Ann.Lee@corp.example");
	eval_eq("replace(department, \"\", \"x\")", "Sales");
	eval_eq("replace(department, \"les\", \"\")", "Sa");
	eval_eq("regex(mail, \"^([^.]+)\\\\.([^@]+)@\", 2)", "Lee");
	eval_eq("regex(mail, \"^([^.]+)\", 0)", "Ann");
	eval_eq("regex(mail, \"^(x)?Ann\", 1)", "");   /* group did not take part */
	eval_eq("regex(department, \"^[0-9]+$\", 0)", "");
	eval_eq("switch(c, \"US\", \"Main\", \"CA\", \"Toronto\", \"Other\")",
	    "Toronto");
	eval_eq("switch(department, \"Eng\", \"R&D\", \"Default\")", "Default");
	eval_eq("switch(department, \"Eng\", \"R&D\")", "");
	eval_eq("switch(department, \"sales\", \"lower case differs\")", "");
	eval_eq("digits(ipPhone)", "16505552041");
	eval_eq("digits(givenName)", "");
	eval_eq("Coalesce( title ,department )", "Sales");
	eval_eq("join(\", \", upper(left(givenName, 1)), lower(trim(sn)))",
	    "A, lee");
}

static void
test_attrs(void **state)
{
	struct expr_error err;
	struct expr *e = expr_parse("join(\" \", givenName, coalesce(sn, "
	    "GIVENNAME, \"x\"), regex(mail, \"(.)\", 1))", &err);
	const char *v[4];

	(void)state;
	assert_non_null(e);
	assert_int_equal(expr_attrs(e, v, 4), 3);
	assert_string_equal(v[0], "givenName");
	assert_string_equal(v[1], "sn");
	assert_string_equal(v[2], "mail");
	assert_true(expr_attrs(e, v, 1) > 1);        /* out too short */
	expr_free(e);
	e = expr_parse("\"constant\"", &err);
	assert_int_equal(expr_attrs(e, v, 4), 0);
	expr_free(e);
}

static void
test_errors(void **state)
{
	char buf[256];

	(void)state;
	parse_fails("", 0, "a value is missing");
	parse_fails("lowr(sn)", 0, "unknown function lowr");
	parse_fails("join(\" \", sn", 12, "a ) is missing");
	parse_fails("join(\" \" sn)", 9, "a , or ) was expected");
	parse_fails("lower(sn, mail)", 0, "lower takes 1 argument, not 2");
	parse_fails("join(sn)", 0, "join takes at least 2 arguments, not 1");
	parse_fails("replace(sn, \"a\")", 0, "replace takes 3 arguments");
	parse_fails("left(sn, \"2\")", 9, "argument 2 is a count");
	parse_fails("left(sn, mail)", 9, "argument 2 is a count");
	parse_fails("join(\" \", 42)", 10, "a number is only a count");
	parse_fails("42", 0, "a number is only a count");
	parse_fails("\"open", 0, "unterminated string");
	parse_fails("lower(\"a\\nb\")", 8, "unknown escape");
	parse_fails("regex(mail, \"(\", 1)", 12, "not a POSIX extended");
	parse_fails("regex(mail, \"(a)\", 2)", 19, "group 2 does not exist");
	parse_fails("regex(mail, sn, 0)", 12, "the pattern must be a \"string\"");
	parse_fails("regex(mail, \"(a)\\\\1\", 1)", 12, "back-references");
	parse_fails("sn, mail", 2, "unexpected text after the value");
	parse_fails("sn)", 2, "unexpected text");
	parse_fails("lower(,)", 6, "an AD attribute, a \"string\" or a function");
	parse_fails("4sn", 0, "not a number");
	parse_fails("left(sn, 999999999)", 9, "number too large");
	{
		char deep[400] = "";

		for (int i = 0; i < 40; i++)
			strcat(deep, "trim(");
		strcat(deep, "sn");
		for (int i = 0; i < 40; i++)
			strcat(deep, ")");
		parse_fails(deep, 33 * 5, "nested more than 32 deep");
	}
	/* The caret points at the place. */
	assert_string_equal(expr_caret("lowr(sn)", 0, buf, sizeof(buf)),
	    "  lowr(sn)\n  ^");
	assert_string_equal(expr_caret("join(\" \" sn)", 9, buf, sizeof(buf)),
	    "  join(\" \" sn)\n           ^");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

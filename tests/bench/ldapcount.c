/*
 * ldapcount: an LD_PRELOAD library for the benchmark that counts the LDAP
 * operations a client sends. Each call of libldap's operation functions
 * (search, modify, add, delete, rename, bind, extended, abandon) writes one
 * line to stderr:
 *
 *   ldapop t=<CLOCK_MONOTONIC s> op=search scope=sub page=500
 *       base="..." filter="..." attrs=a,b,c
 *
 * Every operation function of libldap sends exactly one request PDU, so
 * the lines are the operations the DC receives from this process. The
 * synchronous variants call the asynchronous ones inside libldap: a depth
 * guard counts such a call once. Lines go to the process's own stderr so
 * that they interleave, in order, with ringsyncd's log lines.
 *
 * Build: cc -shared -fPIC -O2 -o ldapcount.so ldapcount.c -ldl -llber
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>

#define PAGED_OID "1.2.840.113556.1.4.319"

static int depth; /* > 0 inside a counted call: nested calls are its own */

static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL) {
		fprintf(stderr, "ldapcount: %s not found\n", name);
		abort();
	}
	return f;
}

/* put: append s to buf (quoted when q), escaping quotes and newlines. */
static size_t
put(char *buf, size_t o, size_t len, const char *s, int q)
{
	if (q && o + 1 < len)
		buf[o++] = '"';
	for (; s != NULL && *s && o + 2 < len; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n') {
			buf[o++] = '\\';
			buf[o++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[o++] = *s;
		}
	}
	if (q && o + 1 < len)
		buf[o++] = '"';
	buf[o] = '\0';
	return o;
}

static size_t
putf(char *buf, size_t o, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= len)
		return o;
	va_start(ap, fmt);
	n = vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
	if (n < 0)
		return o;
	return o + (size_t)n < len ? o + (size_t)n : len - 1;
}

/* page_size: the size of a paged-results control among ctrls, or -1. */
static int
page_size(LDAPControl **ctrls)
{
	for (size_t i = 0; ctrls != NULL && ctrls[i] != NULL; i++) {
		BerElement *ber;
		ber_int_t size = -1;

		if (strcmp(ctrls[i]->ldctl_oid, PAGED_OID) != 0)
			continue;
		ber = ber_init(&ctrls[i]->ldctl_value);
		if (ber != NULL && ber_scanf(ber, "{i", &size) == LBER_ERROR)
			size = -1;
		ber_free(ber, 1);
		return (int)size;
	}
	return -1;
}

static void
emit(const char *op, const char *base, int scope, const char *filter,
    char **attrs, LDAPControl **ctrls)
{
	static const char *scopes[] = { "base", "one", "sub", "children" };
	char line[8192];
	struct timespec ts;
	size_t o;
	int page = page_size(ctrls);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	o = putf(line, 0, sizeof(line), "ldapop t=%lld.%06ld op=%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, op);
	if (scope >= 0 && scope <= 3)
		o = putf(line, o, sizeof(line), " scope=%s", scopes[scope]);
	if (page >= 0)
		o = putf(line, o, sizeof(line), " page=%d", page);
	for (size_t i = 0; ctrls != NULL && ctrls[i] != NULL; i++)
		if (strcmp(ctrls[i]->ldctl_oid, PAGED_OID) != 0)
			o = putf(line, o, sizeof(line), " control=%s",
			    ctrls[i]->ldctl_oid);
	if (base != NULL) {
		o = putf(line, o, sizeof(line), " base=");
		o = put(line, o, sizeof(line), base, 1);
	}
	if (filter != NULL) {
		o = putf(line, o, sizeof(line), " filter=");
		o = put(line, o, sizeof(line), filter, 1);
	}
	if (attrs != NULL) {
		o = putf(line, o, sizeof(line), " attrs=");
		for (size_t i = 0; attrs[i] != NULL; i++) {
			if (i > 0)
				o = putf(line, o, sizeof(line), ",");
			o = put(line, o, sizeof(line), attrs[i], 0);
		}
	}
	o = putf(line, o, sizeof(line), "\n");
	if (write(2, line, o) < 0)
		return;
}

#define ENTER() int counted = depth++ == 0
#define LEAVE() depth--

int
ldap_search_ext(LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int attrsonly, LDAPControl **sctrls, LDAPControl **cctrls,
    struct timeval *timeout, int sizelimit, int *msgidp)
{
	static int (*f)(LDAP *, const char *, int, const char *, char **, int,
	    LDAPControl **, LDAPControl **, struct timeval *, int, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_search_ext");
	if (counted)
		emit("search", base, scope, filter, attrs, sctrls);
	rc = f(ld, base, scope, filter, attrs, attrsonly, sctrls, cctrls, timeout,
	    sizelimit, msgidp);
	LEAVE();
	return rc;
}

int
ldap_search_ext_s(LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int attrsonly, LDAPControl **sctrls, LDAPControl **cctrls,
    struct timeval *timeout, int sizelimit, LDAPMessage **res)
{
	static int (*f)(LDAP *, const char *, int, const char *, char **, int,
	    LDAPControl **, LDAPControl **, struct timeval *, int, LDAPMessage **);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_search_ext_s");
	if (counted)
		emit("search", base, scope, filter, attrs, sctrls);
	rc = f(ld, base, scope, filter, attrs, attrsonly, sctrls, cctrls, timeout,
	    sizelimit, res);
	LEAVE();
	return rc;
}

int
ldap_modify_ext(LDAP *ld, const char *dn, LDAPMod **mods, LDAPControl **sctrls,
    LDAPControl **cctrls, int *msgidp)
{
	static int (*f)(LDAP *, const char *, LDAPMod **, LDAPControl **,
	    LDAPControl **, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_modify_ext");
	if (counted) {
		char *attrs[64];
		size_t n = 0;

		for (; mods != NULL && mods[n] != NULL && n < 63; n++)
			attrs[n] = mods[n]->mod_type;
		attrs[n] = NULL;
		emit("modify", dn, -1, NULL, attrs, sctrls);
	}
	rc = f(ld, dn, mods, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_modify_ext_s(LDAP *ld, const char *dn, LDAPMod **mods,
    LDAPControl **sctrls, LDAPControl **cctrls)
{
	static int (*f)(LDAP *, const char *, LDAPMod **, LDAPControl **,
	    LDAPControl **);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_modify_ext_s");
	if (counted)
		emit("modify", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, mods, sctrls, cctrls);
	LEAVE();
	return rc;
}

int
ldap_add_ext(LDAP *ld, const char *dn, LDAPMod **attrs, LDAPControl **sctrls,
    LDAPControl **cctrls, int *msgidp)
{
	static int (*f)(LDAP *, const char *, LDAPMod **, LDAPControl **,
	    LDAPControl **, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_add_ext");
	if (counted)
		emit("add", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, attrs, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_delete_ext(LDAP *ld, const char *dn, LDAPControl **sctrls,
    LDAPControl **cctrls, int *msgidp)
{
	static int (*f)(LDAP *, const char *, LDAPControl **, LDAPControl **,
	    int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_delete_ext");
	if (counted)
		emit("delete", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_rename(LDAP *ld, const char *dn, const char *newrdn,
    const char *newsuperior, int deleteoldrdn, LDAPControl **sctrls,
    LDAPControl **cctrls, int *msgidp)
{
	static int (*f)(LDAP *, const char *, const char *, const char *, int,
	    LDAPControl **, LDAPControl **, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_rename");
	if (counted)
		emit("rename", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, newrdn, newsuperior, deleteoldrdn, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_sasl_bind(LDAP *ld, const char *dn, const char *mech,
    struct berval *cred, LDAPControl **sctrls, LDAPControl **cctrls,
    int *msgidp)
{
	static int (*f)(LDAP *, const char *, const char *, struct berval *,
	    LDAPControl **, LDAPControl **, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_sasl_bind");
	if (counted)
		emit("bind", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, mech, cred, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_sasl_bind_s(LDAP *ld, const char *dn, const char *mech,
    struct berval *cred, LDAPControl **sctrls, LDAPControl **cctrls,
    struct berval **servercredp)
{
	static int (*f)(LDAP *, const char *, const char *, struct berval *,
	    LDAPControl **, LDAPControl **, struct berval **);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_sasl_bind_s");
	if (counted)
		emit("bind", dn, -1, NULL, NULL, sctrls);
	rc = f(ld, dn, mech, cred, sctrls, cctrls, servercredp);
	LEAVE();
	return rc;
}

int
ldap_extended_operation(LDAP *ld, const char *oid, struct berval *data,
    LDAPControl **sctrls, LDAPControl **cctrls, int *msgidp)
{
	static int (*f)(LDAP *, const char *, struct berval *, LDAPControl **,
	    LDAPControl **, int *);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_extended_operation");
	if (counted)
		emit("extended", oid, -1, NULL, NULL, sctrls);
	rc = f(ld, oid, data, sctrls, cctrls, msgidp);
	LEAVE();
	return rc;
}

int
ldap_extended_operation_s(LDAP *ld, const char *oid, struct berval *data,
    LDAPControl **sctrls, LDAPControl **cctrls, char **retoid,
    struct berval **retdata)
{
	static int (*f)(LDAP *, const char *, struct berval *, LDAPControl **,
	    LDAPControl **, char **, struct berval **);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_extended_operation_s");
	if (counted)
		emit("extended", oid, -1, NULL, NULL, sctrls);
	rc = f(ld, oid, data, sctrls, cctrls, retoid, retdata);
	LEAVE();
	return rc;
}

int
ldap_abandon_ext(LDAP *ld, int msgid, LDAPControl **sctrls,
    LDAPControl **cctrls)
{
	static int (*f)(LDAP *, int, LDAPControl **, LDAPControl **);
	int rc;
	ENTER();

	if (f == NULL)
		f = real("ldap_abandon_ext");
	if (counted)
		emit("abandon", NULL, -1, NULL, NULL, sctrls);
	rc = f(ld, msgid, sctrls, cctrls);
	LEAVE();
	return rc;
}

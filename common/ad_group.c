/*
 * ad_group: the group scope of ad.h, one request as a small state
 * machine: the change check, then per scope group its resolution (and the
 * primary-group check for one found by DN), then per group reached (a
 * breadth-first walk) its member values in ranged reads and the groups
 * nested in it. One LDAP search is in flight at a time; each step's
 * result decides the next in step_next.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad_internal.h"
#include "util.h"

#define OID_EXTENDED_DN "1.2.840.113556.1.4.529"

enum step {
	STEP_CHANGED,    /* groups changed in the USN range (paged) */
	STEP_RESOLVE,    /* scope group i, by objectGUID or DN */
	STEP_PRIMARY,    /* is scope group i somebody's primary group? */
	STEP_MEMBERS,    /* member of group q, from value `from` on */
	STEP_NESTED,     /* the groups that are members of group q (paged) */
};

struct reached {         /* a group of the walk */
	char guid[AD_GUID_LEN + 1];
	char *dn;            /* owned */
	unsigned int via;    /* the scope group it was reached from */
};

struct ad_scope {
	struct ad *ad;                /* not owned */
	ad_scope_cb cb;
	void *arg;
	char **dns, **guids;          /* owned copies of the request's */
	const char *what;             /* "scope group", or the request's */
	char (*known)[AD_GUID_LEN + 1]; /* owned copy */
	size_t n, nknown;
	unsigned long long lower, upper;
	enum step step;
	size_t i;                     /* STEP_RESOLVE, STEP_PRIMARY: the group */
	size_t q;                     /* STEP_MEMBERS, STEP_NESTED: reached[q] */
	unsigned long from;           /* STEP_MEMBERS: the next value */
	unsigned long primary;        /* STEP_PRIMARY: primaryGroupToken */
	int by_dn, found;             /* the step's findings */
	int hit;                      /* STEP_CHANGED: a known group changed */
	int is_group;                 /* STEP_RESOLVE: objectClass group */
	unsigned long plain;          /* STEP_MEMBERS: values without a GUID */
	struct reached *reached;      /* owned: the walk's queue */
	size_t nreached, capreached;
	struct berval cookie;         /* owned: paged steps */
	struct op *op;                /* the search in flight, or NULL */
	struct ad_scope_result *r;    /* owned until cb */
	size_t capmembers;
	int walk;                     /* read the membership after resolving */
	int verify;                   /* resolve even when nothing changed */
	int starting;                 /* in ad_scope_start: no cb yet */
	int start_failed;
};

static void scope_msg(struct op *op, LDAPMessage *msg);
static void scope_fail(struct op *op, const char *why);
static void scope_cancel(void *ctx);

static const struct op_type scope_op = { scope_msg, scope_fail, scope_cancel };

void
ad_scope_result_free(struct ad_scope_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i].dn);
	free(r->groups);
	free(r->nested);
	free(r->members);
	free(r);
}

static void
scope_free(struct ad_scope *sc)
{
	if (sc->op != NULL)
		ad_op_abandon(sc->op);
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->dns[i]);
		free(sc->guids[i]);
	}
	free(sc->dns);
	free(sc->guids);
	free(sc->known);
	for (size_t i = 0; i < sc->nreached; i++)
		free(sc->reached[i].dn);
	free(sc->reached);
	ldap_memfree(sc->cookie.bv_val);
	ad_scope_result_free(sc->r);
	free(sc);
}

/* finish: hand the result over (ok or not) and end the request. */
static void
finish(struct ad_scope *sc)
{
	struct ad_scope_result *r = sc->r;
	ad_scope_cb cb = sc->cb;
	void *arg = sc->arg;

	if (sc->starting) {
		sc->start_failed = 1; /* ad_scope_start returns NULL with r->err */
		return;
	}
	sc->r = NULL;
	scope_free(sc);
	cb(arg, r);
}

static void __attribute__((format(printf, 2, 3)))
fail(struct ad_scope *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sc->r->err, sizeof(sc->r->err), fmt, ap);
	va_end(ap);
	sc->r->ok = 0;
	finish(sc);
}

static int
guid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
is_known(const struct ad_scope *sc, const char *guid)
{
	return sc->nknown > 0 && bsearch(guid, sc->known, sc->nknown,
	    sizeof(*sc->known), guid_cmp) != NULL;
}

static struct reached *
reach(struct ad_scope *sc, const char *guid, const char *dn, unsigned int via)
{
	for (size_t k = 0; k < sc->nreached; k++)
		if (strcmp(sc->reached[k].guid, guid) == 0)
			return NULL; /* met before: a cycle, or a second path */
	if (sc->nreached == sc->capreached)
		sc->reached = xreallocarray(sc->reached, sc->capreached =
		    sc->capreached ? sc->capreached * 2 : 16, sizeof(*sc->reached));
	snprintf(sc->reached[sc->nreached].guid, AD_GUID_LEN + 1, "%s", guid);
	sc->reached[sc->nreached].dn = xstrdup(dn);
	sc->reached[sc->nreached].via = via;
	return &sc->reached[sc->nreached++];
}

static void
add_member(struct ad_scope *sc, const char *guid, unsigned int via)
{
	struct ad_scope_result *r = sc->r;

	if (r->nmembers == sc->capmembers)
		r->members = xreallocarray(r->members, sc->capmembers =
		    sc->capmembers ? sc->capmembers * 2 : 256, sizeof(*r->members));
	memcpy(r->members[r->nmembers].guid, guid, AD_GUID_LEN + 1);
	r->members[r->nmembers++].via = via;
}

/* send_search: the step's search; 0, or -1 with the request finished. */
static int
send_search(struct ad_scope *sc, const char *base, int scope, const char *filter,
    char **attrs, int paged)
{
	static const char flag1[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct berval v = { sizeof(flag1), (char *)flag1 };
	struct conn *c = &sc->ad->main;
	LDAPControl *ctl[3] = { NULL }, *extra = NULL, *page = NULL;
	int rc = c->ld == NULL ? LDAP_SERVER_DOWN : LDAP_SUCCESS, msgid, k = 0;
	char what[300];

	if (rc == LDAP_SUCCESS && paged)
		rc = ldap_create_page_control(c->ld,
		    (ber_int_t)sc->ad->cfg->ldap.page_size,
		    sc->cookie.bv_len ? &sc->cookie : NULL, 1, &page);
	if (rc == LDAP_SUCCESS && sc->step == STEP_MEMBERS)
		rc = ldap_control_create(OID_EXTENDED_DN, 1, &v, 1, &extra);
	else if (rc == LDAP_SUCCESS && (sc->step == STEP_CHANGED ||
	    (sc->step == STEP_RESOLVE && !sc->by_dn)))
		rc = ldap_control_create(OID_SHOW_DELETED, 1, NULL, 0, &extra);
	if (page != NULL)
		ctl[k++] = page;
	if (extra != NULL)
		ctl[k++] = extra;
	if (rc == LDAP_SUCCESS) {
		sc->ad->nsearch++;
		rc = ldap_search_ext(c->ld, base, scope, filter, attrs, 0, ctl, NULL,
		    NULL, sc->step == STEP_PRIMARY ? 1 : LDAP_NO_LIMIT, &msgid);
	}
	ldap_control_free(page);
	ldap_control_free(extra);
	sc->r->reads++;
	if (rc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "search of %s", base);
		sc->r->ok = 0;
		ad_ld_error(c->ld, rc, what, sc->r->err, sizeof(sc->r->err));
		finish(sc);
		return -1;
	}
	sc->op = ad_op_new(c, msgid, ad_timeout(sc->ad), &scope_op, sc);
	return 0;
}

static void
send_changed(struct ad_scope *sc)
{
	char *attrs[] = { "objectGUID", NULL };
	char *filter = ad_usn_filter("(objectClass=group)", sc->lower, sc->upper);

	sc->step = STEP_CHANGED;
	send_search(sc, sc->ad->dc.default_nc, LDAP_SCOPE_SUBTREE, filter, attrs, 1);
	free(filter);
}

static void
send_resolve(struct ad_scope *sc)
{
	char *attrs[] = { "objectGUID", "objectClass", "isDeleted",
		"primaryGroupToken", NULL };
	char *base;

	sc->step = STEP_RESOLVE;
	sc->by_dn = sc->guids[sc->i][0] == '\0';
	sc->found = 0;
	base = sc->by_dn ? xstrdup(sc->dns[sc->i]) :
	    xasprintf("<GUID=%s>", sc->guids[sc->i]);
	send_search(sc, base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0);
	free(base);
}

static void
send_primary(struct ad_scope *sc)
{
	char *attrs[] = { "1.1", NULL };
	char filter[64];

	sc->step = STEP_PRIMARY;
	sc->found = 0;
	snprintf(filter, sizeof(filter), "(primaryGroupID=%lu)", sc->primary);
	send_search(sc, sc->ad->dc.default_nc, LDAP_SCOPE_SUBTREE, filter, attrs, 0);
}

static void
send_members(struct ad_scope *sc)
{
	char range[64], *attrs[] = { range, NULL };
	char *base = xasprintf("<GUID=%s>", sc->reached[sc->q].guid);

	sc->step = STEP_MEMBERS;
	snprintf(range, sizeof(range), "member;range=%lu-%lu", sc->from,
	    sc->from + AD_RANGE_STEP - 1);
	sc->found = 0;
	send_search(sc, base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0);
	free(base);
}

static void
send_nested(struct ad_scope *sc)
{
	char *attrs[] = { "objectGUID", NULL };
	const char *dn = sc->reached[sc->q].dn;
	char *esc = ad_filter_escape(dn, strlen(dn));
	char *filter = xasprintf("(&(objectClass=group)(memberOf=%s))", esc);

	sc->step = STEP_NESTED;
	send_search(sc, sc->ad->dc.default_nc, LDAP_SCOPE_SUBTREE, filter, attrs, 1);
	free(filter);
	free(esc);
}

/* entry_guid: the objectGUID of a result entry; 0 or -1. */
static int
entry_guid(LDAP *ld, LDAPMessage *msg, char out[AD_GUID_LEN + 1])
{
	struct berval **v = ldap_get_values_len(ld, msg, "objectGUID");
	int rc = -1;

	if (v != NULL && v[0] != NULL && v[0]->bv_len == 16) {
		ad_guid_format((const unsigned char *)v[0]->bv_val, out);
		rc = 0;
	}
	ldap_value_free_len(v);
	return rc;
}

static int
has_value(LDAP *ld, LDAPMessage *msg, const char *attr, const char *want)
{
	struct berval **v = ldap_get_values_len(ld, msg, attr);
	int has = 0;

	for (size_t k = 0; v != NULL && v[k] != NULL && !has; k++)
		has = v[k]->bv_len == strlen(want) &&
		    strncasecmp(v[k]->bv_val, want, v[k]->bv_len) == 0;
	ldap_value_free_len(v);
	return has;
}

/* primary_token: the group's primaryGroupToken (its RID), or 0. */
static unsigned long
primary_token(LDAP *ld, LDAPMessage *msg)
{
	struct berval **tok = ldap_get_values_len(ld, msg, "primaryGroupToken");
	unsigned long t = 0;
	char buf[16];

	if (tok != NULL && tok[0] != NULL && tok[0]->bv_len < sizeof(buf)) {
		memcpy(buf, tok[0]->bv_val, tok[0]->bv_len);
		buf[tok[0]->bv_len] = '\0';
		t = strtoul(buf, NULL, 10);
	}
	ldap_value_free_len(tok);
	return t;
}

static void
resolve_entry(struct ad_scope *sc, LDAP *ld, LDAPMessage *msg)
{
	struct ad_scope_group *g = &sc->r->groups[sc->i];
	char *dn = ldap_get_dn(ld, msg);

	sc->found = 1;
	util_str_set(&g->dn, dn);
	ldap_memfree(dn);
	if (entry_guid(ld, msg, g->guid) < 0)
		g->guid[0] = '\0';
	g->deleted = has_value(ld, msg, "isDeleted", "TRUE");
	sc->is_group = has_value(ld, msg, "objectClass", "group");
	sc->primary = primary_token(ld, msg);
}

/* members_entry: the member values of a ranged read. */
static void
members_entry(struct ad_scope *sc, LDAP *ld, LDAPMessage *msg)
{
	BerElement *ber = NULL;
	char *a;

	for (a = ldap_first_attribute(ld, msg, &ber); a != NULL;
	    a = ldap_next_attribute(ld, msg, ber)) {
		struct berval **v;
		unsigned long next;

		if (ad_range_parse(a, "member", &next) == 0) {
			sc->found = 1;
			sc->from = next;
			v = ldap_get_values_len(ld, msg, a);
			for (size_t k = 0; v != NULL && v[k] != NULL; k++) {
				char guid[AD_GUID_LEN + 1];

				if (ad_extended_dn_guid(v[k]->bv_val, v[k]->bv_len, guid) == 0)
					add_member(sc, guid, sc->reached[sc->q].via);
				else
					sc->plain++; /* a value without its objectGUID */
			}
			ldap_value_free_len(v);
		}
		ldap_memfree(a);
	}
	ber_free(ber, 0);
}

static void
entry(struct ad_scope *sc, LDAP *ld, LDAPMessage *msg)
{
	char guid[AD_GUID_LEN + 1], *dn;

	switch (sc->step) {
	case STEP_CHANGED:
		if (entry_guid(ld, msg, guid) == 0 && is_known(sc, guid))
			sc->hit = 1;
		break;
	case STEP_RESOLVE:
		resolve_entry(sc, ld, msg);
		break;
	case STEP_PRIMARY:
		sc->found = 1;
		break;
	case STEP_MEMBERS:
		members_entry(sc, ld, msg);
		break;
	case STEP_NESTED:
		dn = ldap_get_dn(ld, msg);
		if (dn != NULL && entry_guid(ld, msg, guid) == 0)
			reach(sc, guid, dn, sc->reached[sc->q].via);
		ldap_memfree(dn);
		break;
	}
}

/* walk_next: the next group of the walk, or the end of the request. */
static void
walk_next(struct ad_scope *sc)
{
	struct ad_scope_result *r = sc->r;
	unsigned int *count;

	if (++sc->q < sc->nreached) {
		sc->from = 0;
		send_members(sc);
		return;
	}
	r->nested = xcalloc(sc->nreached ? sc->nreached : 1, sizeof(*r->nested));
	for (size_t k = 0; k < sc->nreached; k++)
		memcpy(r->nested[k], sc->reached[k].guid, AD_GUID_LEN + 1);
	r->nnested = sc->nreached;
	qsort(r->nested, r->nnested, sizeof(*r->nested), guid_cmp);
	count = xcalloc(r->ngroups, sizeof(*count));
	r->nmembers = ad_members_finish(r->members, r->nmembers,
	    (const char (*)[AD_GUID_LEN + 1])r->nested, r->nnested, count);
	for (size_t k = 0; k < r->ngroups; k++)
		r->groups[k].members = count[k];
	free(count);
	r->ok = 1;
	finish(sc);
}

/* start_walk: every live scope group starts the walk. */
static void
start_walk(struct ad_scope *sc)
{
	sc->r->reread = 1;
	for (size_t k = 0; k < sc->n; k++)
		if (!sc->r->groups[k].deleted)
			reach(sc, sc->r->groups[k].guid, sc->r->groups[k].dn,
			    (unsigned int)k);
	sc->q = (size_t)-1;
	walk_next(sc);
}

static void
next_group(struct ad_scope *sc)
{
	if (++sc->i < sc->n) {
		send_resolve(sc);
	} else if (sc->walk) {
		start_walk(sc);
	} else {
		sc->r->ok = 1; /* verified: every scope group is there */
		finish(sc);
	}
}

static void
after_resolve(struct ad_scope *sc)
{
	const struct ad_scope_group *g = &sc->r->groups[sc->i];
	const char *dn = sc->dns[sc->i];

	sc->r->bad_group = 1; /* what fails here is the group's */
	if (!sc->found && sc->by_dn)
		fail(sc, "%s %s not found in AD", sc->what, dn);
	else if (!sc->found)
		fail(sc, "%s %s (objectGUID %s) is gone from AD: not found "
		    "by its objectGUID, not even as a deleted object", sc->what, dn,
		    sc->guids[sc->i]);
	else if (g->guid[0] == '\0')
		fail(sc, "%s %s has no usable objectGUID", sc->what, dn);
	else if (!sc->is_group && !g->deleted)
		fail(sc, "%s %s is not a group (objectClass)", sc->what, dn);
	else if (sc->by_dn && sc->primary > 0) {
		sc->r->bad_group = 0;
		send_primary(sc);
	} else {
		sc->r->bad_group = 0;
		next_group(sc);
	}
}

static void
after_members(struct ad_scope *sc)
{
	if (sc->plain > 0) /* never decide on members we cannot identify */
		fail(sc, "group %s: %lu member values came without their objectGUID "
		    "(the DC ignored the extended DN control)",
		    sc->reached[sc->q].dn, sc->plain);
	else if (sc->found && sc->from > 0)
		send_members(sc);     /* the next range */
	else
		send_nested(sc);
}

/* step_next: a step's search ended (code: its result); what comes next. */
static void
step_next(struct ad_scope *sc, int code, int more)
{
	if (code == LDAP_NO_SUCH_OBJECT && sc->step == STEP_RESOLVE)
		code = LDAP_SUCCESS; /* found stays 0 */
	if (code == LDAP_SIZELIMIT_EXCEEDED && sc->step == STEP_PRIMARY)
		code = LDAP_SUCCESS;
	if (code != LDAP_SUCCESS) {
		fail(sc, "reading the scope groups failed: %s", ldap_err2string(code));
		return;
	}
	if (more && sc->step == STEP_CHANGED) {
		send_changed(sc);     /* the next page */
		return;
	}
	if (more && sc->step == STEP_NESTED) {
		send_nested(sc);
		return;
	}
	switch (sc->step) {
	case STEP_CHANGED:
		sc->walk = sc->hit;
		if (!sc->hit && !sc->verify) {
			sc->r->ok = 1;
			finish(sc);
		} else {
			sc->i = 0;
			send_resolve(sc);
		}
		break;
	case STEP_RESOLVE:
		after_resolve(sc);
		break;
	case STEP_PRIMARY:
		sc->r->bad_group = sc->found;
		if (sc->found)
			fail(sc, "%s %s is the primary group (primaryGroupID) of "
			    "users, and AD does not list those in member: for \"all "
			    "users\" use base_dn and user_filter instead of groups",
			    sc->what, sc->dns[sc->i]);
		else
			next_group(sc);
		break;
	case STEP_MEMBERS:
		after_members(sc);
		break;
	case STEP_NESTED:
		walk_next(sc);
		break;
	}
}

/* result: the end of a step's search; its code, and the paging cookie. */
static void
result(struct ad_scope *sc, LDAP *ld, LDAPMessage *msg)
{
	LDAPControl **ctrls = NULL;
	int code = LDAP_OTHER, rc;

	rc = ldap_parse_result(ld, msg, &code, NULL, NULL, NULL, &ctrls, 1);
	if (rc != LDAP_SUCCESS)
		code = rc;
	ad_page_cookie(ld, ctrls, &sc->cookie);
	step_next(sc, code, sc->cookie.bv_len > 0);
}

static void
scope_msg(struct op *op, LDAPMessage *msg)
{
	struct ad_scope *sc = op->ctx;
	LDAP *ld = op->c->ld;

	switch (ldap_msgtype(msg)) {
	case LDAP_RES_SEARCH_ENTRY:
		entry(sc, ld, msg);
		ldap_msgfree(msg);
		return;
	case LDAP_RES_SEARCH_RESULT:
		ad_op_free(op);
		sc->op = NULL;
		result(sc, ld, msg); /* frees msg */
		return;
	default: /* references */
		ldap_msgfree(msg);
		return;
	}
}

static void
scope_fail(struct op *op, const char *why)
{
	struct ad_scope *sc = op->ctx;

	sc->op = NULL; /* the caller frees op */
	fail(sc, "reading the scope groups failed: %s", why);
}

void
ad_scope_cancel(struct ad_scope *sc)
{
	if (sc != NULL)
		scope_free(sc);
}

static void
scope_cancel(void *ctx)
{
	ad_scope_cancel(ctx);
}

static struct ad_scope *
scope_new(struct ad *ad, const struct ad_scope_req *req, ad_scope_cb cb,
    void *arg)
{
	struct ad_scope *sc = xcalloc(1, sizeof(*sc));

	sc->ad = ad;
	sc->cb = cb;
	sc->arg = arg;
	sc->n = req->n;
	sc->what = req->what != NULL ? req->what : "scope group";
	sc->dns = xcalloc(req->n ? req->n : 1, sizeof(*sc->dns));
	sc->guids = xcalloc(req->n ? req->n : 1, sizeof(*sc->guids));
	for (size_t k = 0; k < req->n; k++) {
		sc->dns[k] = xstrdup(req->dns[k]);
		sc->guids[k] = xstrdup(req->guids[k] ? req->guids[k] : "");
	}
	sc->nknown = req->nknown;
	sc->known = xcalloc(req->nknown ? req->nknown : 1, sizeof(*sc->known));
	if (req->nknown > 0)
		memcpy(sc->known, req->known, req->nknown * sizeof(*sc->known));
	sc->lower = req->lower;
	sc->upper = req->upper;
	sc->r = xcalloc(1, sizeof(*sc->r));
	sc->r->ngroups = req->n;
	sc->r->groups = xcalloc(req->n ? req->n : 1, sizeof(*sc->r->groups));
	return sc;
}

struct ad_scope *
ad_scope_start(struct ad *ad, const struct ad_scope_req *req, ad_scope_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct ad_scope *sc;

	if (ad->main.ld == NULL) {
		util_errbuf_set(err, errlen, "not connected to a DC");
		return NULL;
	}
	if (req->n == 0) {
		util_errbuf_set(err, errlen, "no scope group");
		return NULL;
	}
	sc = scope_new(ad, req, cb, arg);
	sc->walk = req->reread;
	sc->verify = req->verify;
	sc->starting = 1;
	if (req->reread)
		send_resolve(sc);
	else
		send_changed(sc);
	sc->starting = 0;
	if (sc->start_failed) {
		util_errbuf_set(err, errlen, "%s", sc->r->err);
		scope_free(sc);
		return NULL;
	}
	return sc;
}

/* check_search: a synchronous search for ad_scope_check; the LDAP code. */
static int
check_search(struct ad *ad, const char *base, int scope, const char *filter,
    char **attrs, LDAPMessage **res)
{
	struct timeval tv = { (time_t)ad_timeout(ad), 0 }; /* [ldap] timeout */

	*res = NULL;
	ad->nsearch++;
	return ldap_search_ext_s(ad->main.ld, base, scope, filter, attrs, 0, NULL,
	    NULL, &tv, 1, res);
}

int
ad_scope_check(struct ad *ad, const char *dn, char *err, size_t errlen)
{
	return ad_group_check(ad, dn, "scope group", err, errlen);
}

int
ad_group_check(struct ad *ad, const char *dn, const char *what, char *err,
    size_t errlen)
{
	char *attrs[] = { "objectClass", "primaryGroupToken", NULL };
	char *none[] = { "1.1", NULL }, filter[64];
	LDAP *ld = ad->main.ld;
	LDAPMessage *res = NULL, *e;
	unsigned long primary = 0;
	int rc, group = 0;

	if (ld == NULL)
		return util_errbuf_set(err, errlen, "not connected to a DC");
	rc = check_search(ad, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &res);
	e = rc == LDAP_SUCCESS ? ldap_first_entry(ld, res) : NULL;
	if (e != NULL) {
		group = has_value(ld, e, "objectClass", "group");
		primary = primary_token(ld, e);
	}
	ldap_msgfree(res);
	if (rc == LDAP_NO_SUCH_OBJECT || (rc == LDAP_SUCCESS && e == NULL))
		return util_errbuf_set(err, errlen, "%s %s not found in AD", what, dn);
	if (rc != LDAP_SUCCESS)
		return util_errbuf_set(err, errlen, "%s %s: %s", what, dn,
		    ldap_err2string(rc));
	if (!group)
		return util_errbuf_set(err, errlen, "%s %s is not a group "
		    "(objectClass)", what, dn);
	if (primary == 0)
		return 0;
	snprintf(filter, sizeof(filter), "(primaryGroupID=%lu)", primary);
	rc = check_search(ad, ad->dc.default_nc, LDAP_SCOPE_SUBTREE, filter, none,
	    &res);
	e = rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED ?
	    ldap_first_entry(ld, res) : NULL;
	ldap_msgfree(res);
	if (e != NULL)
		return util_errbuf_set(err, errlen, "%s %s is the primary "
		    "group (primaryGroupID) of users, and AD does not list those in "
		    "member: for \"all users\" use base_dn and user_filter instead of "
		    "groups", what, dn);
	return 0;
}

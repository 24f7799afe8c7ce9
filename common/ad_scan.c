/*
 * ad_scan: the paged usnChanged search of docs/behaviour.md (users of the
 * base DN, then tombstones of the same range), streamed page by page.
 *
 * The request for the next page (or the next phase) goes out before the
 * caller handles the page that just ended, so the DC prepares it while the
 * caller stores this one: a scan takes about as long as the DC needs to
 * serve it, not that plus the caller's time. Entries still reach the caller
 * strictly in order, a page's end before the next page's entries. When the
 * caller pauses, what arrives meanwhile (at most one page) is held and
 * handed on at ad_scan_resume.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad_internal.h"
#include "util.h"

#define MAX_ATTRS 64

enum phase { PHASE_USERS, PHASE_DELETED, PHASE_END };

struct ad_scan {
	struct ad *ad;                /* not owned */
	const struct ad_scan_ops *ops;
	void *arg;
	struct ad_scan_plan plan;
	char *required_attr;          /* owned */
	char *digest_attr;            /* owned, or NULL */
	char *only;                   /* owned: ad_scan_req.filter, or NULL */
	char *attrs[MAX_ATTRS + 1];   /* owned, NULL-terminated */
	size_t nattrs;
	char *filter;                 /* owned: the phase's filter */
	char *base;                   /* owned: the phase's base */
	enum phase phase;
	struct berval cookie;         /* owned (ldap_memfree) */
	struct op *op;                /* the page in flight, or NULL */
	int paused;                   /* the caller asked to wait */
	struct ad_entry *held;        /* owned: entries that came while paused */
	size_t nheld, heldcap;
	int held_end;                 /* 0; or the held page ended: 1 + more */
	char *held_err;               /* owned: the page in flight failed */
};

static void scan_fail(struct op *op, const char *why);
static void scan_msg(struct op *op, LDAPMessage *msg);
static void scan_cancel(void *ctx);

static const struct op_type scan_op = { scan_msg, scan_fail, scan_cancel };

static void
scan_free(struct ad_scan *s)
{
	if (s->op != NULL)
		ad_op_abandon(s->op);
	for (size_t i = 0; i < s->nheld; i++)
		ad_entry_clear(&s->held[i]);
	free(s->held);
	free(s->held_err);
	for (size_t i = 0; i < s->nattrs; i++)
		free(s->attrs[i]);
	free(s->required_attr);
	free(s->digest_attr);
	free(s->only);
	free(s->filter);
	free(s->base);
	ldap_memfree(s->cookie.bv_val);
	free(s);
}

static void
scan_done(struct ad_scan *s, int ok, const char *err)
{
	const struct ad_scan_ops *ops = s->ops;
	void *arg = s->arg;

	scan_free(s);
	ops->done(arg, ok, err);
}

static void
add_attr(struct ad_scan *s, const char *a)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (strcasecmp(s->attrs[i], a) == 0)
			return;
	if (s->nattrs < MAX_ATTRS)
		s->attrs[s->nattrs++] = xstrdup(a);
}

static void
phase_setup(struct ad_scan *s)
{
	const struct ad *ad = s->ad;

	free(s->filter);
	free(s->base);
	ldap_memfree(s->cookie.bv_val);
	s->cookie.bv_val = NULL;
	s->cookie.bv_len = 0;
	if (s->phase == PHASE_USERS) {
		s->base = xstrdup(ad->cfg->ldap.base_dn);
		/*
		 * A full scan must meet every user in scope: the DC checks the
		 * filter again page by page, so with an upper bound a user changed
		 * while the scan runs (a write-back, an edit) would drop out and
		 * look out of scope to the sweep. The next incremental scan sees
		 * such users again, harmlessly.
		 */
		if (s->only != NULL)
			s->filter = xasprintf("(&%s%s)", ad->cfg->ldap.user_filter,
			    s->only);
		else
			s->filter = s->plan.full ? xstrdup(ad->cfg->ldap.user_filter) :
		    ad_usn_filter(ad->cfg->ldap.user_filter, s->plan.lower,
		    s->plan.upper);
	} else {
		s->base = ad_deleted_objects_dn(ad);
		s->filter = ad_usn_filter("(objectClass=user)", s->plan.lower,
		    s->plan.upper);
	}
}

/* request_page: send the next page of the current phase. */
static int
request_page(struct ad_scan *s, char *err, size_t errlen)
{
	struct conn *c = &s->ad->main;
	LDAPControl *page = NULL, *deleted = NULL, *ctrls[3] = { NULL };
	int rc, msgid, n = 0;

	if (c->ld == NULL)
		return util_errbuf_set(err, errlen, "scan of %s failed: the connection to "
		    "the DC was lost", s->base);
	rc = ldap_create_page_control(c->ld, (ber_int_t)s->ad->cfg->ldap.page_size,
	    s->cookie.bv_len ? &s->cookie : NULL, 1, &page);
	if (rc != LDAP_SUCCESS)
		return util_errbuf_set(err, errlen, "paged results control: %s",
		    ldap_err2string(rc));
	ctrls[n++] = page;
	if (s->phase == PHASE_DELETED) {
		rc = ldap_control_create(OID_SHOW_DELETED, 1, NULL, 0, &deleted);
		if (rc == LDAP_SUCCESS)
			ctrls[n++] = deleted;
	}
	s->ad->nsearch++;
	rc = ldap_search_ext(c->ld, s->base, s->phase == PHASE_USERS ?
	    LDAP_SCOPE_SUBTREE : LDAP_SCOPE_ONELEVEL, s->filter, s->attrs, 0,
	    ctrls, NULL, NULL, LDAP_NO_LIMIT, &msgid);
	ldap_control_free(page);
	ldap_control_free(deleted);
	if (rc != LDAP_SUCCESS) {
		char what[300];

		snprintf(what, sizeof(what), "scan of %s failed", s->base);
		ad_ld_error(c->ld, rc, what, err, errlen);
		return -1;
	}
	s->op = ad_op_new(c, msgid, ad_timeout(s->ad), &scan_op, s);
	return 0;
}

/*
 * request_next: after a page, ask for the next one, or start the next
 * phase: after the users, the tombstones (when the account sees them).
 * Nothing is asked for at the end. 0, or -1 with err.
 */
static int
request_next(struct ad_scan *s, int more, char *err, size_t errlen)
{
	if (more)
		return request_page(s, err, errlen);
	s->phase++;
	if (s->phase == PHASE_DELETED && (s->ad->deleted_visible != 1 ||
	    s->only != NULL))
		s->phase++;
	if (s->phase == PHASE_END)
		return 0;
	phase_setup(s);
	return request_page(s, err, errlen);
}

/* finish_if_done: the end, once the caller is not paused. */
static void
finish_if_done(struct ad_scan *s)
{
	if (!s->paused && s->phase == PHASE_END && s->op == NULL)
		scan_done(s, 1, NULL);
}

/*
 * page_end: a page ended (more: the phase has another). The next request
 * goes out first, then the caller handles the page.
 */
static void
page_end(struct ad_scan *s, int more)
{
	char err[512];

	if (request_next(s, more, err, sizeof(err)) < 0) {
		scan_done(s, 0, err);
		return;
	}
	if (s->ops->page(s->arg) != 0) {
		s->paused = 1; /* ad_scan_resume goes on */
		return;
	}
	finish_if_done(s);
}

static void
scan_fail(struct op *op, const char *why)
{
	struct ad_scan *s = op->ctx;
	char err[512];

	s->op = NULL; /* the caller frees op */
	snprintf(err, sizeof(err), "scan of %s failed: %s", s->base, why);
	if (s->paused) {
		free(s->held_err); /* said at ad_scan_resume */
		s->held_err = xstrdup(err);
		return;
	}
	scan_done(s, 0, err);
}

/* hold: keep an entry that came while the caller is paused (owned). */
static void
hold(struct ad_scan *s, struct ad_entry *e)
{
	if (s->nheld == s->heldcap)
		s->held = xreallocarray(s->held, s->heldcap = s->heldcap ?
		    s->heldcap * 2 : 64, sizeof(*s->held));
	s->held[s->nheld++] = *e;
	memset(e, 0, sizeof(*e));
}

/*
 * in_scope: a tombstone counts when it was deleted inside the base DN
 * (lastKnownParent); the Deleted Objects container serves the whole domain.
 */
static int
in_scope(const struct ad_scan *s, const struct ad_entry *e)
{
	const char *parent = ad_entry_get(e, "lastKnownParent");

	if (s->phase != PHASE_DELETED || parent == NULL)
		return 1;
	return ad_dn_under(parent, s->ad->cfg->ldap.base_dn);
}

/* convert: one SearchResultEntry to an ad_entry for the caller. */
static void
convert(struct ad_scan *s, LDAP *ld, LDAPMessage *msg)
{
	struct ad_entry e;
	char *dn = NULL;
	int rc = ad_msg_entry(ld, msg, s->required_attr, s->digest_attr, &e,
	    &dn);

	if (rc == 0) {
		e.deleted = e.deleted || s->phase == PHASE_DELETED;
		if (in_scope(s, &e)) {
			if (s->paused)
				hold(s, &e);
			else
				s->ops->entry(s->arg, &e);
		}
		ad_entry_clear(&e);
	} else if (dn == NULL) {
		s->ops->skipped(s->arg, "-", "entry without a DN");
	} else {
		s->ops->skipped(s->arg, dn, "no usable objectGUID, uSNChanged or "
		    "userAccountControl");
	}
	free(dn);
}

/* page_result: the end of a page; returns 1 when there is another. */
static int
page_result(struct ad_scan *s, LDAP *ld, LDAPMessage *msg, char *err,
    size_t errlen)
{
	LDAPControl **ctrls = NULL;
	char *text = NULL, what[300];
	int code = 0, rc;

	rc = ldap_parse_result(ld, msg, &code, NULL, &text, NULL, &ctrls, 1);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "search of %s", s->base);
		util_errbuf_set(err, errlen, "%s: %s%s%s%s", what,
		    ldap_err2string(rc != LDAP_SUCCESS ? rc : code),
		    text && *text ? " (" : "", text && *text ? text : "",
		    text && *text ? ")" : "");
		ldap_memfree(text);
		ldap_controls_free(ctrls);
		return -1;
	}
	ldap_memfree(text);
	ad_page_cookie(ld, ctrls, &s->cookie);
	return s->cookie.bv_len > 0;
}

static void
scan_msg(struct op *op, LDAPMessage *msg)
{
	struct ad_scan *s = op->ctx;
	LDAP *ld = op->c->ld;
	char err[512];
	int more;

	switch (ldap_msgtype(msg)) {
	case LDAP_RES_SEARCH_ENTRY:
		convert(s, ld, msg);
		ldap_msgfree(msg);
		return;
	case LDAP_RES_SEARCH_RESULT:
		break;
	default: /* references (CN=Configuration from the domain root) */
		ldap_msgfree(msg);
		return;
	}
	ad_op_free(op);
	s->op = NULL;
	more = page_result(s, ld, msg, err, sizeof(err)); /* frees msg */
	if (more < 0) {
		if (s->paused) {
			free(s->held_err);
			s->held_err = xstrdup(err);
		} else {
			scan_done(s, 0, err);
		}
		return;
	}
	if (s->paused)
		s->held_end = 1 + more; /* ad_scan_resume goes on from here */
	else
		page_end(s, more);
}

void
ad_scan_resume(struct ad_scan *s)
{
	int end;

	if (!s->paused)
		return;
	s->paused = 0;
	/* What came meanwhile, in order (only the end of a page pauses). */
	for (size_t i = 0; i < s->nheld; i++) {
		s->ops->entry(s->arg, &s->held[i]);
		ad_entry_clear(&s->held[i]);
	}
	s->nheld = 0;
	if (s->held_end) {
		end = s->held_end;
		s->held_end = 0;
		page_end(s, end - 1);
	} else if (s->held_err != NULL) {
		char *err = s->held_err;

		s->held_err = NULL;
		scan_done(s, 0, err);
		free(err);
	} else {
		finish_if_done(s);
	}
}

void
ad_scan_cancel(struct ad_scan *s)
{
	if (s != NULL)
		scan_free(s);
}

static void
scan_cancel(void *ctx)
{
	ad_scan_cancel(ctx);
}

struct ad_scan *
ad_scan_start(struct ad *ad, const struct ad_scan_req *req,
    const struct ad_scan_ops *ops, void *arg, char *err, size_t errlen)
{
	static const char *const always[] = { "objectGUID", "uSNChanged",
		"userAccountControl", "isDeleted", "lastKnownParent" };
	struct ad_scan *s;

	if (ad->main.ld == NULL) {
		util_errbuf_set(err, errlen, "not connected to a DC");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->ad = ad;
	s->ops = ops;
	s->arg = arg;
	s->plan = req->plan;
	s->required_attr = req->required_attr ? xstrdup(req->required_attr) : NULL;
	s->only = req->filter ? xstrdup(req->filter) : NULL;
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		add_attr(s, always[i]);
	for (size_t i = 0; i < req->nattrs; i++)
		add_attr(s, req->attrs[i]);
	if (req->digest_attr != NULL) {
		s->digest_attr = xstrdup(req->digest_attr);
		add_attr(s, req->digest_attr);
	}
	s->phase = PHASE_USERS;
	phase_setup(s);
	if (request_page(s, err, errlen) < 0) {
		scan_free(s);
		return NULL;
	}
	return s;
}

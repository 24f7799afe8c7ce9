/*
 * ad_write: write-back of phone numbers into AD attributes: modify only
 * what differs from what AD holds (as the scan saw it, by the DN the scan
 * saw; else, or when that DN is gone, as read by objectGUID), and on
 * insufficient access find the attribute the service account may not
 * write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"
#include "util.h"

struct ad_wb {
	struct ad *ad;            /* not owned */
	char guid[AD_GUID_LEN + 1];
	struct ad_value *want;    /* owned copy */
	size_t n;
	char **have;              /* owned: current values (NULL: absent) */
	char *dn;                 /* owned: the user's DN as scanned or read */
	int direct;               /* the modify in flight went by the scan's DN */
	enum ad_wb_read read;
	size_t *idx, nidx;        /* attributes to change */
	size_t next;              /* one-by-one mode: the next of idx */
	int one_by_one;
	size_t changed;
	char *failed_attr;        /* owned: first attribute refused */
	char err[512];
	int insufficient;
	ad_wb_cb cb;
	void *arg;
	struct op *op;            /* the read or modify in flight, or NULL */
};

static void wb_read_msg(struct op *op, LDAPMessage *msg);
static void wb_modify_msg(struct op *op, LDAPMessage *msg);
static void wb_fail(struct op *op, const char *why);
static void wb_cancel(void *ctx);
static int send_read(struct ad_wb *w, char *err, size_t errlen);

static const struct op_type wb_read_op = { wb_read_msg, wb_fail, wb_cancel };
static const struct op_type wb_modify_op = { wb_modify_msg, wb_fail,
	wb_cancel };

static void
wb_free(struct ad_wb *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->want[i].attr);
		free(w->want[i].value);
		free(w->have[i]);
	}
	free(w->want);
	free(w->have);
	free(w->idx);
	free(w->dn);
	free(w->failed_attr);
	free(w);
}

static void
wb_finish(struct ad_wb *w, int ok)
{
	struct ad_wb_result r = { ok, w->changed, w->failed_attr,
		ok ? NULL : w->err, w->insufficient, w->read };

	w->cb(w->arg, &r);
	wb_free(w);
}

static void
wb_fail(struct op *op, const char *why)
{
	struct ad_wb *w = op->ctx;

	w->op = NULL; /* the caller frees op */
	snprintf(w->err, sizeof(w->err), "write-back to objectGUID %s failed: %s",
	    w->guid, why);
	wb_finish(w, 0);
}

/* send_modify: the attributes idx[from .. from+count) in one request. */
static int
send_modify(struct ad_wb *w, size_t from, size_t count)
{
	struct conn *c = &w->ad->main;
	LDAPMod *mods = xcalloc(count, sizeof(*mods));
	LDAPMod **modv = xcalloc(count + 1, sizeof(*modv));
	char *(*vals)[2] = xcalloc(count, sizeof(*vals));
	int rc, msgid;

	for (size_t k = 0; k < count; k++) {
		const struct ad_value *v = &w->want[w->idx[from + k]];
		int del = v->value == NULL || *v->value == '\0';

		mods[k].mod_op = del ? LDAP_MOD_DELETE : LDAP_MOD_REPLACE;
		mods[k].mod_type = v->attr;
		vals[k][0] = del ? NULL : v->value;
		mods[k].mod_values = del ? NULL : vals[k];
		modv[k] = &mods[k];
	}
	w->ad->nmodify += c->ld != NULL;
	rc = c->ld ? ldap_modify_ext(c->ld, w->dn, modv, NULL, NULL, &msgid) :
	    LDAP_SERVER_DOWN;
	free(vals);
	free(modv);
	free(mods);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "modify", w->err, sizeof(w->err));
		return -1;
	}
	w->op = ad_op_new(c, msgid, ad_timeout(w->ad), &wb_modify_op, w);
	return 0;
}

/* The message an administrator needs when the account lacks the right. */
static void
insufficient(struct ad_wb *w, const char *attr)
{
	w->insufficient = 1;
	util_str_set(&w->failed_attr, attr);
	snprintf(w->err, sizeof(w->err), "insufficient access to write %s on %s: "
	    "grant the service account Write Property on %s for user objects "
	    "(an inherited ACE on the base DN)", attr, w->dn, attr);
}

/* next_one: one-by-one mode after insufficient access; 1 when all tried. */
static int
next_one(struct ad_wb *w)
{
	while (w->next < w->nidx) {
		if (send_modify(w, w->next++, 1) == 0)
			return 0;
		util_str_set(&w->failed_attr, w->want[w->idx[w->next - 1]].attr);
	}
	return 1;
}

static void
wb_modify_msg(struct op *op, LDAPMessage *msg)
{
	struct ad_wb *w = op->ctx;
	LDAP *ld = op->c->ld;
	char *text = NULL;
	int code = 0, rc;

	ad_op_free(op);
	w->op = NULL;
	rc = ldap_parse_result(ld, msg, &code, NULL, &text, NULL, NULL, 1);
	if (w->direct && rc == LDAP_SUCCESS && code == LDAP_NO_SUCH_OBJECT) {
		/* Moved or renamed since the scan: find it by objectGUID. */
		ldap_memfree(text);
		free(w->dn);
		w->dn = NULL;
		w->direct = 0;
		w->read = AD_WB_READ_MOVED;
		if (send_read(w, w->err, sizeof(w->err)) < 0)
			wb_finish(w, 0);
		return;
	}
	w->direct = 0;
	if (rc == LDAP_SUCCESS && code == LDAP_SUCCESS) {
		w->changed += w->one_by_one ? 1 : w->nidx;
	} else if (code == LDAP_INSUFFICIENT_ACCESS && !w->one_by_one &&
	    w->nidx > 1) {
		w->one_by_one = 1; /* which of them is refused? */
	} else if (code == LDAP_INSUFFICIENT_ACCESS) {
		if (w->failed_attr == NULL)
			insufficient(w, w->want[w->idx[w->one_by_one ? w->next - 1 :
			    0]].attr);
	} else if (w->failed_attr == NULL) {
		util_str_set(&w->failed_attr, w->want[w->idx[w->one_by_one ? w->next - 1 :
		    0]].attr);
		snprintf(w->err, sizeof(w->err), "modify of %s on %s: %s%s%s%s",
		    w->failed_attr, w->dn, ldap_err2string(rc ? rc : code),
		    text && *text ? " (" : "", text && *text ? text : "",
		    text && *text ? ")" : "");
	}
	ldap_memfree(text);
	if (w->one_by_one && next_one(w) == 0)
		return;
	wb_finish(w, w->failed_attr == NULL);
}

static void
wb_read_entry(struct ad_wb *w, LDAP *ld, LDAPMessage *msg)
{
	char *dn = ldap_get_dn(ld, msg);

	util_str_set(&w->dn, dn);
	ldap_memfree(dn);
	for (size_t i = 0; i < w->n; i++) {
		struct berval **v = ldap_get_values_len(ld, msg, w->want[i].attr);

		free(w->have[i]);
		w->have[i] = v && v[0] ? xstrndup(v[0]->bv_val, v[0]->bv_len) : NULL;
		ldap_value_free_len(v);
	}
}

static void
wb_read_msg(struct op *op, LDAPMessage *msg)
{
	struct ad_wb *w = op->ctx;
	LDAP *ld = op->c->ld;
	char *text = NULL;
	int code = 0;

	if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY) {
		wb_read_entry(w, ld, msg);
		ldap_msgfree(msg);
		return;
	}
	if (ldap_msgtype(msg) != LDAP_RES_SEARCH_RESULT) {
		ldap_msgfree(msg);
		return;
	}
	ad_op_free(op);
	w->op = NULL;
	ldap_parse_result(ld, msg, &code, NULL, &text, NULL, NULL, 1);
	ldap_memfree(text);
	if (code != LDAP_SUCCESS || w->dn == NULL) {
		snprintf(w->err, sizeof(w->err), "no user with objectGUID %s: %s",
		    w->guid, ldap_err2string(code ? code : LDAP_NO_SUCH_OBJECT));
		wb_finish(w, 0);
		return;
	}
	w->nidx = ad_diff(w->want, w->n, (const char *const *)w->have, w->idx);
	if (w->nidx == 0 || send_modify(w, 0, w->nidx) < 0)
		wb_finish(w, w->nidx == 0);
}

/* send_read: the user's DN and current values, by objectGUID. */
static int
send_read(struct ad_wb *w, char *err, size_t errlen)
{
	struct conn *c = &w->ad->main;
	char **attrs, *base;
	int rc, msgid;

	if (c->ld == NULL)
		return util_errbuf_set(err, errlen, "write-back read of objectGUID %s: "
		    "not connected to a DC", w->guid);
	attrs = xcalloc(w->n + 1, sizeof(*attrs));
	for (size_t i = 0; i < w->n; i++)
		attrs[i] = w->want[i].attr;
	base = xasprintf("<GUID=%s>", w->guid);
	w->ad->nsearch++;
	rc = ldap_search_ext(c->ld, base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
	    0, NULL, NULL, NULL, 1, &msgid);
	free(base);
	free(attrs);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "write-back read", err, errlen);
		return -1;
	}
	w->op = ad_op_new(c, msgid, ad_timeout(w->ad), &wb_read_op, w);
	return 0;
}

static struct ad_wb *
wb_new(struct ad *ad, const struct ad_wb_req *req, ad_wb_cb cb, void *arg)
{
	struct ad_wb *w = xcalloc(1, sizeof(*w));
	size_t n = req->n;

	w->ad = ad;
	memcpy(w->guid, req->guid, AD_GUID_LEN + 1);
	w->n = n;
	w->want = xcalloc(n, sizeof(*w->want));
	w->have = xcalloc(n, sizeof(*w->have));
	w->idx = xcalloc(n, sizeof(*w->idx));
	for (size_t i = 0; i < n; i++) {
		w->want[i].attr = xstrdup(req->want[i].attr);
		w->want[i].value = xstrdup(req->want[i].value ? req->want[i].value :
		    "");
		if (req->have != NULL && req->have[i] != NULL)
			w->have[i] = xstrdup(req->have[i]);
	}
	w->cb = cb;
	w->arg = arg;
	return w;
}

struct ad_wb *
ad_writeback_start(struct ad *ad, const struct ad_wb_req *req, ad_wb_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct ad_wb *w;
	int rc;

	if (ad->main.ld == NULL) {
		util_errbuf_set(err, errlen, "not connected to a DC");
		return NULL;
	}
	if (strlen(req->guid) != AD_GUID_LEN || req->n == 0) {
		util_errbuf_set(err, errlen, "bad write-back request");
		return NULL;
	}
	w = wb_new(ad, req, cb, arg);
	if (req->dn != NULL && req->have != NULL) {
		/* What the scan saw: no read, the modify alone. */
		w->dn = xstrdup(req->dn);
		w->nidx = ad_diff(w->want, w->n, (const char *const *)w->have, w->idx);
		if (w->nidx == 0) {
			util_errbuf_set(err, errlen, "nothing to change");
			wb_free(w);
			return NULL;
		}
		w->direct = 1;
		rc = send_modify(w, 0, w->nidx);
		if (rc < 0)
			util_errbuf_set(err, errlen, "%s", w->err);
	} else {
		w->read = AD_WB_READ_UNKNOWN;
		rc = send_read(w, err, errlen);
	}
	if (rc < 0) {
		wb_free(w);
		return NULL;
	}
	return w;
}

void
ad_writeback_cancel(struct ad_wb *w)
{
	if (w == NULL)
		return;
	if (w->op != NULL)
		ad_op_abandon(w->op);
	wb_free(w);
}

static void
wb_cancel(void *ctx)
{
	ad_writeback_cancel(ctx);
}

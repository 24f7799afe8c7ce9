/*
 * ad_photo: one user's photo read from AD by objectGUID, right before its
 * upload: the scan carries only the photo's digest, so at most one photo
 * is in memory at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"
#include "util.h"

struct ad_photo {
	struct ad *ad;            /* not owned */
	char guid[AD_GUID_LEN + 1];
	char *attr;               /* owned */
	size_t max;
	struct berval *value;     /* owned: the first value, or NULL */
	int found;                /* the entry came */
	int too_large;
	size_t len;               /* the value's size, also when too large */
	ad_photo_cb cb;
	void *arg;
	struct op *op;
};

static void photo_msg(struct op *op, LDAPMessage *msg);
static void photo_fail(struct op *op, const char *why);
static void photo_cancel(void *ctx);

static const struct op_type photo_op = { photo_msg, photo_fail, photo_cancel };

static void
photo_free(struct ad_photo *p)
{
	ber_bvfree(p->value);
	free(p->attr);
	free(p);
}

static void
photo_finish(struct ad_photo *p, const char *err)
{
	struct ad_photo_result r;

	memset(&r, 0, sizeof(r));
	r.ok = err == NULL;
	r.found = p->found;
	r.too_large = p->too_large;
	r.len = p->len;
	if (p->value != NULL && !p->too_large) {
		r.data = (const unsigned char *)p->value->bv_val;
		r.len = p->value->bv_len;
	}
	r.err = err;
	p->cb(p->arg, &r);
	photo_free(p);
}

static void
photo_fail(struct op *op, const char *why)
{
	struct ad_photo *p = op->ctx;
	char err[512];

	p->op = NULL; /* the caller frees op */
	snprintf(err, sizeof(err), "read of %s of objectGUID %s failed: %s",
	    p->attr, p->guid, why);
	photo_finish(p, err);
}

static void
photo_entry(struct ad_photo *p, LDAP *ld, LDAPMessage *msg)
{
	struct berval **v = ldap_get_values_len(ld, msg, p->attr);

	p->found = 1;
	if (v != NULL && v[0] != NULL && v[0]->bv_len > 0) {
		p->len = v[0]->bv_len;
		if (p->len > p->max)
			p->too_large = 1;
		else if (p->value == NULL)
			p->value = ber_bvdup(v[0]);
	}
	ldap_value_free_len(v);
}

static void
photo_msg(struct op *op, LDAPMessage *msg)
{
	struct ad_photo *p = op->ctx;
	LDAP *ld = op->c->ld;
	char *text = NULL, err[512];
	int code = 0;

	if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY) {
		photo_entry(p, ld, msg);
		ldap_msgfree(msg);
		return;
	}
	if (ldap_msgtype(msg) != LDAP_RES_SEARCH_RESULT) {
		ldap_msgfree(msg);
		return;
	}
	ad_op_free(op);
	p->op = NULL;
	ldap_parse_result(ld, msg, &code, NULL, &text, NULL, NULL, 1);
	ldap_memfree(text);
	if (code != LDAP_SUCCESS && code != LDAP_NO_SUCH_OBJECT) {
		snprintf(err, sizeof(err), "read of %s of objectGUID %s: %s", p->attr,
		    p->guid, ldap_err2string(code));
		photo_finish(p, err);
		return;
	}
	photo_finish(p, NULL);
}

struct ad_photo *
ad_photo_read(struct ad *ad, const char *guid, const char *attr, size_t max,
    ad_photo_cb cb, void *arg, char *err, size_t errlen)
{
	struct conn *c = &ad->main;
	struct ad_photo *p;
	char *attrs[2], *base;
	int rc, msgid;

	if (c->ld == NULL) {
		util_errbuf_set(err, errlen, "not connected to a DC");
		return NULL;
	}
	if (strlen(guid) != AD_GUID_LEN) {
		util_errbuf_set(err, errlen, "bad objectGUID");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->ad = ad;
	memcpy(p->guid, guid, AD_GUID_LEN + 1);
	p->attr = xstrdup(attr);
	p->max = max;
	p->cb = cb;
	p->arg = arg;
	attrs[0] = p->attr;
	attrs[1] = NULL;
	base = xasprintf("<GUID=%s>", guid);
	ad->nsearch++;
	rc = ldap_search_ext(c->ld, base, LDAP_SCOPE_BASE, "(objectClass=*)",
	    attrs, 0, NULL, NULL, NULL, 1, &msgid);
	free(base);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "photo read", err, errlen);
		photo_free(p);
		return NULL;
	}
	p->op = ad_op_new(c, msgid, ad_timeout(ad), &photo_op, p);
	return p;
}

void
ad_photo_cancel(struct ad_photo *p)
{
	if (p == NULL)
		return;
	if (p->op != NULL)
		ad_op_abandon(p->op);
	photo_free(p);
}

static void
photo_cancel(void *ctx)
{
	ad_photo_cancel(ctx);
}

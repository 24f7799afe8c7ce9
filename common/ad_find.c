/*
 * ad_find: one user looked up by what an administrator calls it (an
 * sAMAccountName, a mail address, a DN or an objectGUID), anywhere in the
 * domain, and whether an entry matches a filter: synchronous searches
 * for ringsyncctl, bounded by [ldap] timeout. Also the conversion of a
 * SearchResultEntry that the scanner shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad_internal.h"
#include "util.h"

int
ad_msg_entry(LDAP *ld, LDAPMessage *msg, const char *required_attr,
    const char *digest_attr, struct ad_entry *e, char **dn)
{
	char digest[UTIL_SHA256_HEX + 1] = "";
	size_t digest_len = 0;
	struct ad_raw raw[AD_MSG_ATTRS_MAX];
	BerVarray vals[AD_MSG_ATTRS_MAX];
	char names[AD_MSG_ATTRS_MAX][128];
	struct berval dnbv, name;
	BerElement *ber = NULL;
	size_t n = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	*dn = NULL;
	if (ldap_get_dn_ber(ld, msg, &ber, &dnbv) != LDAP_SUCCESS) {
		ber_free(ber, 0);
		return -1;
	}
	*dn = xstrndup(dnbv.bv_val, dnbv.bv_len);
	while (n < AD_MSG_ATTRS_MAX) {
		vals[n] = NULL;
		rc = ldap_get_attribute_ber(ld, msg, ber, &name, &vals[n]);
		if (rc != LDAP_SUCCESS || name.bv_val == NULL)
			break;
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)name.bv_len,
		    name.bv_val);
		if (digest_attr != NULL && strcasecmp(names[n], digest_attr) == 0) {
			/* a photo: its digest only, never a copy */
			if (vals[n] != NULL && vals[n][0].bv_val != NULL &&
			    vals[n][0].bv_len > 0) {
				digest_len = vals[n][0].bv_len;
				util_sha256_hex(vals[n][0].bv_val, digest_len, digest);
			}
			ber_memfree(vals[n]);
			continue;
		}
		raw[n].attr = names[n];
		raw[n].val = vals[n] ? vals[n][0].bv_val : NULL;
		raw[n].len = vals[n] && vals[n][0].bv_val ? vals[n][0].bv_len : 0;
		n++;
	}
	ber_free(ber, 0);
	rc = ad_entry_build(e, *dn, raw, n, required_attr);
	if (rc < 0) {
		ad_entry_clear(e);
	} else if (digest_attr != NULL) {
		e->digest_asked = 1;
		memcpy(e->digest, digest, sizeof(e->digest));
		e->digest_len = digest_len;
	}
	for (size_t i = 0; i < n; i++)
		ber_memfree(vals[i]);
	return rc;
}

enum ad_find_by
ad_find_kind(const char *name)
{
	unsigned char b[16];

	if (ad_guid_parse(name, b) == 0)
		return AD_FIND_GUID;
	if (strchr(name, '=') != NULL)
		return AD_FIND_DN;
	if (strchr(name, '@') != NULL)
		return AD_FIND_MAIL;
	return AD_FIND_SAM;
}

/* find_filter: the filter that names the user (NULL for a DN: a base search). */
static char *
find_filter(const char *name, enum ad_find_by by)
{
	char *v, *f, hex[16 * 3 + 1];
	unsigned char b[16];

	switch (by) {
	case AD_FIND_GUID:
		ad_guid_parse(name, b);
		for (int i = 0; i < 16; i++)
			snprintf(hex + 3 * i, 4, "\\%02x", b[i]);
		return xasprintf("(objectGUID=%s)", hex);
	case AD_FIND_DN:
		return NULL;
	case AD_FIND_MAIL:
		v = ad_filter_escape(name, strlen(name));
		f = xasprintf("(&(objectCategory=person)(objectClass=user)"
		    "(|(mail=%s)(userPrincipalName=%s)))", v, v);
		break;
	default:
		v = ad_filter_escape(name, strlen(name));
		f = xasprintf("(&(objectCategory=person)(objectClass=user)"
		    "(sAMAccountName=%s))", v);
	}
	free(v);
	return f;
}

/* search_s: a synchronous search; the result, or NULL with err. */
static LDAPMessage *
search_s(struct ad *ad, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, int *rcp, char *err, size_t errlen)
{
	struct timeval tv = { (time_t)ad->cfg->ldap.timeout, 0 };
	LDAPMessage *res = NULL;
	int rc;

	if (ad->main.ld == NULL) {
		util_errbuf_set(err, errlen, "not connected to a DC");
		return NULL;
	}
	ad->nsearch++;
	rc = ldap_search_ext_s(ad->main.ld, base, scope, filter, attrs, 0, NULL,
	    NULL, &tv, sizelimit, &res);
	*rcp = rc;
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED ||
	    (rc == LDAP_NO_SUCH_OBJECT && scope == LDAP_SCOPE_BASE))
		return res ? res : NULL;
	ldap_msgfree(res);
	ad_ld_error(ad->main.ld, rc, "searching for the user", err, errlen);
	return NULL;
}

int
ad_find_user(struct ad *ad, const char *name, const char *const *attrs,
    size_t nattrs, struct ad_entry *e, char *err, size_t errlen)
{
	static const char *const always[] = { "objectGUID", "uSNChanged",
		"userAccountControl", "isDeleted" };
	enum ad_find_by by = ad_find_kind(name);
	char *filter = find_filter(name, by), *list[AD_MSG_ATTRS_MAX + 1], *dn;
	size_t n = 0;
	LDAPMessage *res, *m;
	int rc, count;

	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < 4; i++)
		list[n++] = (char *)always[i];
	for (size_t i = 0; i < nattrs && n < AD_MSG_ATTRS_MAX; i++)
		list[n++] = (char *)attrs[i];
	list[n] = NULL;
	res = search_s(ad, by == AD_FIND_DN ? name : ad->dc.default_nc,
	    by == AD_FIND_DN ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE, filter ?
	    filter : "(&(objectCategory=person)(objectClass=user))", list, 2, &rc,
	    err, errlen);
	free(filter);
	if (res == NULL)
		return rc == LDAP_NO_SUCH_OBJECT ? 0 : -1;
	count = ldap_count_entries(ad->main.ld, res);
	if (count == 1 && rc == LDAP_SUCCESS) {
		m = ldap_first_entry(ad->main.ld, res);
		if (ad_msg_entry(ad->main.ld, m, NULL, NULL, e, &dn) < 0) {
			util_errbuf_set(err, errlen, "%s: no usable objectGUID, "
			    "uSNChanged or userAccountControl", dn ? dn : "-");
			count = -1;
		}
		free(dn);
	}
	ldap_msgfree(res);
	return count > 1 || rc == LDAP_SIZELIMIT_EXCEEDED ? 2 : count;
}

int
ad_filter_matches(struct ad *ad, const char *dn, const char *filter,
    char *err, size_t errlen)
{
	char *attrs[] = { "1.1", NULL };
	LDAPMessage *res;
	int rc, n;

	res = search_s(ad, dn, LDAP_SCOPE_BASE, filter, attrs, 1, &rc, err,
	    errlen);
	if (res == NULL)
		return rc == LDAP_NO_SUCH_OBJECT ? 0 : -1;
	n = ldap_count_entries(ad->main.ld, res);
	ldap_msgfree(res);
	return n > 0;
}

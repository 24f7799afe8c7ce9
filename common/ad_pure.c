/*
 * ad_pure: the parts of the AD module that need no connection: the
 * full-sync decision, filters, GUIDs, entry conversion, the write-back
 * diff. Declared in ad.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad.h"
#include "util.h"

void
ad_plan_scan(const struct store_watermark *w, const struct ad_dc_info *dc,
    int force_full, struct ad_scan_plan *out)
{
	out->upper = dc->highest_usn;
	out->lower = 0;
	out->full = 1;
	if (w == NULL || w->dns_host_name == NULL || w->invocation_id == NULL)
		out->reason = AD_SCAN_FULL_NO_WATERMARK;
	else if (strcasecmp(w->dns_host_name, dc->dns_host_name) != 0 ||
	    strcasecmp(w->invocation_id, dc->invocation_id) != 0)
		out->reason = AD_SCAN_FULL_DC_CHANGED;
	else if (dc->highest_usn < w->usn)
		out->reason = AD_SCAN_FULL_ROLLBACK;
	else if (force_full)
		out->reason = AD_SCAN_FULL_FORCED;
	else {
		out->full = 0;
		out->reason = AD_SCAN_INCREMENTAL;
		out->lower = w->usn + 1;
	}
}

const char *
ad_scan_reason_name(enum ad_scan_reason r)
{
	switch (r) {
	case AD_SCAN_INCREMENTAL: return "incremental";
	case AD_SCAN_FULL_NO_WATERMARK: return "no-watermark";
	case AD_SCAN_FULL_DC_CHANGED: return "dc-changed";
	case AD_SCAN_FULL_ROLLBACK: return "usn-rollback";
	case AD_SCAN_FULL_FORCED: return "forced";
	case AD_SCAN_FULL_SCOPE: return "scope-changed";
	}
	return "unknown";
}

char *
ad_usn_filter(const char *user_filter, unsigned long long lower,
    unsigned long long upper)
{
	return xasprintf("(&%s(uSNChanged>=%llu)(uSNChanged<=%llu))",
	    user_filter, lower, upper);
}

char *
ad_filter_escape(const char *value, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = xmalloc(len * 3 + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		/* RFC 4515: *, (, ), \ and NUL must be escaped; escape all
		 * control bytes too so a filter never carries raw ones. */
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 ||
		    c == 0x7f) {
			*o++ = '\\';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	*o = '\0';
	return out;
}

/* dn_norm: lower case without spaces around ',' and '=' (owned). */
static char *
dn_norm(const char *dn)
{
	char *out = xmalloc(strlen(dn) + 1), *o = out;

	for (const char *p = dn; *p; p++) {
		if (*p == ' ' && (o == out || o[-1] == ',' || o[-1] == '=' ||
		    p[strspn(p, " ")] == ',' || p[strspn(p, " ")] == '=' ||
		    p[strspn(p, " ")] == '\0'))
			continue;
		*o++ = (char)tolower((unsigned char)*p);
	}
	*o = '\0';
	return out;
}

int
ad_dn_under(const char *dn, const char *base)
{
	char *d = dn_norm(dn), *b = dn_norm(base);
	size_t dl = strlen(d), bl = strlen(b);
	int under = dl >= bl && strcmp(d + dl - bl, b) == 0 &&
	    (dl == bl || d[dl - bl - 1] == ',');

	free(d);
	free(b);
	return under;
}

/* AD stores a GUID as Data1-3 little-endian, Data4 as bytes. */
static const int guid_order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12,
	13, 14, 15 };

void
ad_guid_format(const unsigned char b[16], char out[AD_GUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[guid_order[i]] >> 4];
		out[o++] = hex[b[guid_order[i]] & 15];
	}
	out[o] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
ad_guid_parse(const char *s, unsigned char out[16])
{
	int i = 0;

	if (strlen(s) != AD_GUID_LEN)
		return -1;
	for (const char *p = s; *p; ) {
		int hi, lo;

		if (p - s == 8 || p - s == 13 || p - s == 18 || p - s == 23) {
			if (*p++ != '-')
				return -1;
			continue;
		}
		if ((hi = hexval((unsigned char)p[0])) < 0 ||
		    (lo = hexval((unsigned char)p[1])) < 0)
			return -1;
		out[guid_order[i++]] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	return i == 16 ? 0 : -1;
}

/* utf8_valid: well-formed UTF-8 without NUL (RFC 3629). */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned int c = s[i], cp, n;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			n = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (unsigned int k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static void
set_problem(struct ad_entry *e, const char *attr, char *msg)
{
	if (e->problem != NULL) {
		free(msg);
		return; /* the first problem is the one reported */
	}
	e->problem_attr = xstrdup(attr);
	e->problem = msg;
}

/*
 * parse_ull: a decimal value of len bytes in LDAP's Integer syntax
 * (RFC 4517 3.3.16): digits only, no leading zero but in "0" itself, in
 * range. AD never sends another form; a value that is not canonical did
 * not come from a DC and is refused, not guessed at.
 */
static int
parse_ull(const char *v, size_t len, unsigned long long *out)
{
	char buf[32], *end;

	if (len == 0 || len >= sizeof(buf) || !isdigit((unsigned char)v[0]) ||
	    (v[0] == '0' && len > 1))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return end == buf + len && errno == 0 ? 0 : -1;
}

/* One requested attribute: kept when usable, else a problem. */
static void
build_value(struct ad_entry *e, const struct ad_raw *r)
{
	struct ad_value *v;

	if (r->len > AD_VALUE_MAX) {
		set_problem(e, r->attr, xasprintf("value of %zu bytes is longer than "
		    "%d", r->len, AD_VALUE_MAX));
		return;
	}
	if (!utf8_valid((const unsigned char *)r->val, r->len)) {
		set_problem(e, r->attr, xstrdup("value is not valid UTF-8"));
		return;
	}
	e->attrs = xreallocarray(e->attrs, e->nattrs + 1, sizeof(*e->attrs));
	v = &e->attrs[e->nattrs++];
	v->attr = xstrdup(r->attr);
	v->value = xstrndup(r->val, r->len);
}

int
ad_entry_build(struct ad_entry *e, const char *dn, const struct ad_raw *raw,
    size_t n, const char *required_attr)
{
	int have_guid = 0;

	memset(e, 0, sizeof(*e));
	e->dn = xstrdup(dn);
	for (size_t i = 0; i < n; i++) {
		const struct ad_raw *r = &raw[i];
		unsigned long long u;

		if (r->val == NULL)
			continue;
		if (strcasecmp(r->attr, "objectGUID") == 0) {
			if (r->len != 16)
				return -1;
			ad_guid_format((const unsigned char *)r->val, e->guid);
			have_guid = 1;
		} else if (strcasecmp(r->attr, "uSNChanged") == 0) {
			if (parse_ull(r->val, r->len, &e->usn) < 0)
				return -1;
		} else if (strcasecmp(r->attr, "userAccountControl") == 0) {
			/* AD sends the 32-bit value as a signed decimal ("-0"
			 * is not an Integer). */
			int neg = r->len > 0 && r->val[0] == '-';
			long long s;

			if (parse_ull(r->val + neg, r->len - (size_t)neg, &u) < 0 ||
			    u > 0xffffffffULL || (neg && u == 0))
				return -1;
			s = neg ? -(long long)u : (long long)u;
			e->uac = (unsigned int)s;
			e->disabled = (e->uac & 0x2) != 0;
		} else if (strcasecmp(r->attr, "isDeleted") == 0) {
			e->deleted = r->len == 4 && strncasecmp(r->val, "TRUE", 4) == 0;
		} else {
			build_value(e, r);
		}
	}
	if (!have_guid)
		return -1;
	if (required_attr != NULL && ad_entry_get(e, required_attr) == NULL &&
	    !e->deleted) {
		int present = 0;

		for (size_t i = 0; i < n; i++)
			if (strcasecmp(raw[i].attr, required_attr) == 0 && raw[i].val)
				present = 1;
		if (!present)
			set_problem(e, required_attr, xstrdup("attribute is missing"));
	}
	return 0;
}

const char *
ad_entry_get(const struct ad_entry *e, const char *attr)
{
	for (size_t i = 0; i < e->nattrs; i++)
		if (strcasecmp(e->attrs[i].attr, attr) == 0)
			return e->attrs[i].value;
	return NULL;
}

void
ad_entry_clear(struct ad_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nattrs; i++) {
		free(e->attrs[i].attr);
		free(e->attrs[i].value);
	}
	free(e->attrs);
	free(e->dn);
	free(e->problem_attr);
	free(e->problem);
	memset(e, 0, sizeof(*e));
}

size_t
ad_diff(const struct ad_value *want, size_t n, const char *const *have,
    size_t *idx)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *w = want[i].value ? want[i].value : "";
		const char *h = have[i];

		if (*w == '\0' ? h != NULL : h == NULL || strcmp(w, h) != 0)
			idx[k++] = i;
	}
	return k;
}

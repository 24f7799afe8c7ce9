/*
 * fuzz_ad_entry: the conversion of an LDAP entry into the internal user
 * record (ad_pure.c: ad_entry_build with objectGUID bytes, uSNChanged,
 * userAccountControl as AD's signed decimal, isDeleted, UTF-8 checks),
 * and the helpers that handle AD's strings: GUID formatting and parsing,
 * DN comparison, RFC 4515 filter escaping and the write-back diff.
 *
 * Input: an LDIF-like entry: the first line is the DN, then one line per
 * attribute, "name: value" with the value's raw bytes (objectGUID as its
 * 16 bytes), or a bare "name" for an attribute without values. Each
 * value is handed over exactly as long as it is, not NUL-terminated, as
 * the scan hands over a BER value's first value.
 *
 * Oracles: an entry is either refused or has a GUID that parses back to
 * its bytes; kept values are UTF-8 without NUL and within AD_VALUE_MAX;
 * disabled follows bit 0x2; a DN is under itself; an escaped value has no
 * filter metacharacter left; the diff of an entry with itself is empty.
 */
#include <ctype.h>
#include <strings.h>

#include "ad.h"
#include "fuzz.h"

#define MAX_RAW 64

/* utf8_ok: RFC 3629 without NUL, the promise ad.h makes for values. */
static int
utf8_ok(const unsigned char *s)
{
	while (*s) {
		unsigned int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 :
		    (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : 4;

		if (n == 4)
			return 0;
		for (unsigned int k = 1; k <= n; k++)
			if ((s[k] & 0xc0) != 0x80)
				return 0;
		s += n + 1;
	}
	return 1;
}

/*
 * decimal: LDAP's Integer syntax, [-]digits without a leading zero ("0"
 * alone, never "-0"), at most 20 digits
 */
static int
decimal(const char *v, size_t len, int sign)
{
	size_t i = sign && len > 0 && v[0] == '-';

	if (i == len || len - i > 20 || (v[i] == '0' && (len - i > 1 || i)))
		return 0;
	for (; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

static void
check_entry(const struct ad_entry *e, const struct ad_raw *raw, size_t n)
{
	unsigned char bytes[16];
	const char **have;
	size_t *idx;

	fz_check(strlen(e->guid) == AD_GUID_LEN);
	fz_check(ad_guid_parse(e->guid, bytes) == 0);
	/* the GUID is the (last) objectGUID's bytes, in AD's layout */
	for (size_t i = n; i-- > 0; )
		if (raw[i].val != NULL &&
		    strcasecmp(raw[i].attr, "objectGUID") == 0) {
			fz_check(raw[i].len == 16 &&
			    memcmp(bytes, raw[i].val, 16) == 0);
			break;
		}
	/* integers as AD sends them: decimal digits (a sign for the flags) */
	for (size_t i = 0; i < n; i++)
		if (raw[i].val != NULL &&
		    (strcasecmp(raw[i].attr, "uSNChanged") == 0 ||
		    strcasecmp(raw[i].attr, "userAccountControl") == 0))
			fz_check(decimal(raw[i].val, raw[i].len,
			    strcasecmp(raw[i].attr, "uSNChanged") != 0));
	fz_check(e->disabled == ((e->uac & 0x2) != 0));
	fz_check((e->problem == NULL) == (e->problem_attr == NULL));
	have = calloc(e->nattrs + 1, sizeof(*have));
	idx = calloc(e->nattrs + 1, sizeof(*idx));
	for (size_t i = 0; i < e->nattrs; i++) {
		fz_check(strlen(e->attrs[i].value) <= AD_VALUE_MAX);
		fz_check(utf8_ok((const unsigned char *)e->attrs[i].value));
		fz_check(ad_entry_get(e, e->attrs[i].attr) != NULL);
		/* AD holds no empty value: "" is an absent attribute */
		have[i] = *e->attrs[i].value ? e->attrs[i].value : NULL;
	}
	fz_check(ad_diff(e->attrs, e->nattrs, have, idx) == 0);
	free((void *)have);
	free(idx);
}

/* check_strings: the helpers over the DN and every value. */
static void
check_strings(const char *dn, const struct ad_raw *raw, size_t n)
{
	unsigned char bytes[16];
	char guid[AD_GUID_LEN + 1];

	fz_check(ad_dn_under(dn, dn) == 1);
	(void)ad_dn_under(dn, "DC=example,DC=test");
	for (size_t i = 0; i < n; i++) {
		char *esc;

		if (raw[i].val == NULL)
			continue;
		esc = ad_filter_escape(raw[i].val, raw[i].len);
		fz_check(strpbrk(esc, "*()") == NULL);
		for (const char *s = esc; *s; s++) {
			fz_check((unsigned char)*s >= 0x20 && *s != 0x7f);
			/* a backslash only ever starts a \hh escape */
			if (*s == '\\')
				fz_check(isxdigit((unsigned char)s[1]) &&
				    isxdigit((unsigned char)s[2]));
		}
		free(esc);
		if (raw[i].len == 16) {
			ad_guid_format((const unsigned char *)raw[i].val, guid);
			fz_check(ad_guid_parse(guid, bytes) == 0);
			fz_check(memcmp(bytes, raw[i].val, 16) == 0);
		}
	}
	/* a GUID string from outside (the store, a command line) */
	if (ad_guid_parse(dn, bytes) == 0) {
		ad_guid_format(bytes, guid);
		fz_check(strcasecmp(guid, dn) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	struct ad_raw raw[MAX_RAW];
	char *dn = fz_line(&f, NULL), *line, *names[MAX_RAW];
	size_t n = 0, len;
	struct ad_entry e;

	if (dn == NULL)
		return 0;
	while (n < MAX_RAW && (line = fz_line(&f, &len)) != NULL) {
		char *colon = memchr(line, ':', len);
		size_t off;

		names[n] = line;
		raw[n].attr = line;
		raw[n].val = NULL;
		raw[n].len = 0;
		if (colon != NULL) {
			*colon = '\0';
			off = (size_t)(colon + 1 - line);
			if (off < len && line[off] == ' ')
				off++;
			raw[n].len = len - off;
			raw[n].val = fz_dup(line + off, raw[n].len);
		}
		n++;
	}
	if (ad_entry_build(&e, dn, raw, n, "mail") == 0)
		check_entry(&e, raw, n);
	ad_entry_clear(&e);
	check_strings(dn, raw, n);
	for (size_t i = 0; i < n; i++) {
		fz_free(raw[i].val);
		free(names[i]);
	}
	free(dn);
	return 0;
}

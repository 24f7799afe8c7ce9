/*
 * ad_member: the pure parts of the group scope (ad.h): ranged-read
 * attribute names, objectGUIDs out of extended DNs, and the member lists
 * (sorted by objectGUID, so two of them diff in one walk).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad.h"

int
ad_range_parse(const char *name, const char *base, unsigned long *next)
{
	size_t bl = strlen(base);
	const char *p, *dash;
	char *end;
	unsigned long hi;

	*next = 0;
	if (strncasecmp(name, base, bl) != 0)
		return -1;
	if (name[bl] == '\0')
		return 0; /* every value at once */
	if (strncasecmp(name + bl, ";range=", 7) != 0)
		return -1;
	p = name + bl + 7;
	if (!isdigit((unsigned char)*p) || (dash = strchr(p, '-')) == NULL)
		return -1;
	if (strcmp(dash + 1, "*") == 0)
		return 0; /* the last part */
	if (!isdigit((unsigned char)dash[1]))
		return -1;
	errno = 0;
	hi = strtoul(dash + 1, &end, 10);
	if (errno != 0 || *end != '\0' || hi == (unsigned long)-1)
		return -1;
	*next = hi + 1;
	return 0;
}

int
ad_extended_dn_guid(const char *v, size_t len, char out[AD_GUID_LEN + 1])
{
	static const char tag[] = "<GUID=";
	unsigned char bytes[16];
	size_t tl = sizeof(tag) - 1;

	if (len < tl + AD_GUID_LEN + 1 || strncasecmp(v, tag, tl) != 0 ||
	    v[tl + AD_GUID_LEN] != '>')
		return -1;
	memcpy(out, v + tl, AD_GUID_LEN);
	out[AD_GUID_LEN] = '\0';
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return ad_guid_parse(out, bytes);
}

static int
member_cmp(const void *a, const void *b)
{
	const struct ad_member *x = a, *y = b;
	int c = strcmp(x->guid, y->guid);

	if (c != 0)
		return c;
	return x->via < y->via ? -1 : x->via > y->via;
}

static int
guid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

size_t
ad_members_finish(struct ad_member *m, size_t n,
    const char (*groups)[AD_GUID_LEN + 1], size_t ngroups, unsigned int *count)
{
	size_t o = 0;
	struct ad_member prev = { "", 0 };

	if (n > 0)
		qsort(m, n, sizeof(*m), member_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ad_member cur = m[i];
		int same = strcmp(prev.guid, cur.guid) == 0;

		if (same && prev.via == cur.via)
			continue; /* one user through two paths of one scope group */
		prev = cur;
		if (ngroups > 0 && bsearch(cur.guid, groups, ngroups,
		    sizeof(*groups), guid_cmp) != NULL)
			continue; /* a group is no user */
		if (count != NULL)
			count[cur.via]++;
		if (!same)
			m[o++] = cur; /* the lowest group first */
	}
	return o;
}

size_t
ad_members_diff(const struct ad_member *was, size_t nwas,
    const struct ad_member *now, size_t nnow,
    void (*fn)(void *arg, const struct ad_member *m, enum ad_member_change ch),
    void *arg)
{
	size_t i = 0, j = 0, calls = 0;

	while (i < nwas || j < nnow) {
		int c = i == nwas ? 1 : j == nnow ? -1 :
		    strcmp(was[i].guid, now[j].guid);

		if (c < 0) {
			fn(arg, &was[i++], AD_MEMBER_REMOVED);
		} else if (c > 0) {
			fn(arg, &now[j++], AD_MEMBER_ADDED);
		} else {
			if (was[i].via != now[j].via)
				fn(arg, &now[j], AD_MEMBER_MOVED);
			else
				calls--; /* the same: not a call */
			i++;
			j++;
		}
		calls++;
	}
	return calls;
}

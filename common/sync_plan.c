/*
 * sync_plan: the engine's decisions as pure functions of plain records;
 * the stages only carry them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync_internal.h"
#include "util.h"

static int
linked_active(const struct record_user *u)
{
	return u != NULL && record_user_phone_id(u) != NULL &&
	    record_user_active(u);
}

void
sync_plan_entry(const struct record_user *u, const struct ad_entry *e,
    const char *hash, const struct record_out *pending,
    struct scan_decision *out)
{
	out->action = SCAN_NONE;
	out->reason = NULL;
	if (e->deleted || e->disabled) {
		/*
		 * Never create or re-enable for a gone or disabled account. A
		 * create (or an enable, pending with a linked user) may be on its
		 * way: a deactivation follows it, dropped if it came to nothing.
		 */
		if (linked_active(u) || (u != NULL && u->push.creating) ||
		    (u != NULL && record_user_phone_id(u) != NULL && pending != NULL &&
		    pending->active)) {
			out->action = SCAN_DEACTIVATE;
			out->reason = e->deleted ? "deleted" : "disabled";
		} else if (e->deleted && u != NULL) {
			out->action = SCAN_FORGET;
		} else if (pending != NULL && pending->active) {
			out->action = SCAN_DROP; /* a create no longer wanted */
		}
		return;
	}
	if (hash == NULL) {
		out->action = SCAN_DATA_ERROR;
		return;
	}
	if (u == NULL || record_user_phone_id(u) == NULL) {
		/* A data error waits until the AD value changes. */
		if (u == NULL || strcmp(u->push.failed, hash) != 0) {
			out->action = SCAN_PUSH;
			out->reason = "new";
		} else if (pending != NULL) {
			out->action = SCAN_DROP;
		}
		return;
	}
	if (!record_user_active(u)) {
		out->action = SCAN_PUSH;
		out->reason = "enabled";
	} else if (strcmp(u->push.failed, hash) == 0) {
		if (pending != NULL)
			out->action = SCAN_DROP; /* it would fail again */
	} else if (strcmp(u->push.pushed, hash) != 0) {
		out->action = SCAN_PUSH;
		out->reason = "changed";
	} else if (pending != NULL && !pending->active) {
		/* Enabled again before the deactivation went out (or while it
		 * is on its way: the pusher enables it again after). */
		out->action = SCAN_PUSH;
		out->reason = "enabled";
	} else if (pending != NULL && strcmp(record_out_hash(pending, 1), hash) != 0) {
		/* Changed back before an older profile went out. */
		out->action = SCAN_PUSH;
		out->reason = "changed";
	}
}

void
sync_plan_requested(const struct record_user *u, const struct ad_entry *e,
    const char *hash, const struct record_out *pending,
    struct scan_decision *d)
{
	if (e->deleted || e->disabled) {
		/* A deactivation under way or held stays as it is: a request
		 * never lets one past max_deactivations. */
		if (d->action == SCAN_DEACTIVATE && pending != NULL && !pending->active)
			d->action = SCAN_NONE;
		return;
	}
	if (hash == NULL || d->action == SCAN_PUSH)
		return; /* a data error, or pushed anyway */
	d->action = SCAN_PUSH;
	d->reason = u != NULL && record_user_phone_id(u) != NULL ? "requested" :
	    "new";
}

enum push_action
sync_plan_push(const struct record_out *o, const struct record_user *u, long long now)
{
	int linked = u != NULL && record_user_phone_id(u) != NULL;
	const char *hash = record_out_hash(o, linked);

	if (o->not_before > now || o->held)
		return PUSH_WAIT; /* held, or under review */
	if (!o->active)
		return linked && record_user_active(u) ? PUSH_DEACTIVATE : PUSH_DROP;
	if (!linked)
		return PUSH_CREATE;
	/*
	 * Pushed already (an older entry), or, never pushed from this store
	 * (linked by the import: an adoption, a new node), held by the phone
	 * user as the last import read it: only when something differs, or
	 * the phone user is to be enabled again.
	 */
	if (record_user_active(u) && !u->push.completing &&
	    (strcmp(u->push.pushed, hash) == 0 ||
	    (u->push.pushed[0] == '\0' && strcmp(u->imp.phone_hash, hash) == 0)) &&
	    (o->reason == NULL || strcmp(o->reason, "requested") != 0))
		return PUSH_DROP;
	return PUSH_UPDATE;
}

const json_t *
sync_plan_wb_seen(const struct record_user *u)
{
	if (u->ad.wb_seen == NULL || u->ad.wb_seen_at <= u->wb.at ||
	    u->wb.err.msg != NULL)
		return NULL;
	return u->ad.wb_seen;
}

/* attr_differs: v (rendered) against the stored value of k in o. */
static int
attr_differs(const json_t *o, const char *k, const char *v)
{
	const char *old = json_string_value(json_object_get(o, k));

	return old == NULL ? *v != '\0' : strcmp(old, v) != 0;
}

int
sync_plan_writeback(const struct config_map *writeback,
    const struct record_user *u, json_t **want)
{
	const json_t *seen = sync_plan_wb_seen(u), *given = u->wb.attrs;
	int differs = 0;

	*want = json_object();
	for (size_t i = 0; i < writeback->n; i++) {
		const char *k = writeback->v[i].key;
		char *v = profile_render(writeback->v[i].value, u->imp.direct_number,
		    u->imp.extension_number);

		if (seen != NULL && json_object_get(seen, k) != NULL)
			differs |= attr_differs(seen, k, v) ||
			    (json_object_get(given, k) != NULL &&
			    attr_differs(given, k, v));
		else
			differs |= attr_differs(given, k, v);
		json_object_set_new(*want, k, json_string(v));
		free(v);
	}
	if (!differs) {
		json_decref(*want);
		*want = NULL;
	}
	return differs;
}

int
sync_plan_wb_have(const json_t *seen, const struct ad_value *want, size_t n,
    const char **have)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_object_get(seen, want[i].attr));

		if (v == NULL)
			return 0;
		have[i] = *v != '\0' ? v : NULL;
	}
	return seen != NULL;
}

unsigned int
sync_import_interval(unsigned int configured, const unsigned int *calls,
    const int *limit, const int *window, unsigned int share, int *group)
{
	double need, best = configured;

	*group = -1;
	for (int g = 0; g < HTTP_NGROUPS; g++) {
		if (calls[g] == 0 || limit[g] <= 0 || window[g] <= 0 || share == 0)
			continue;
		/* calls at share% of limit per window */
		need = (double)calls[g] * (double)window[g] * 100. /
		    ((double)limit[g] * (double)share);
		if (need > best) {
			best = need;
			*group = g;
		}
	}
	return best >= 4e9 ? 4000000000u : (unsigned int)(best + 0.999);
}

double
sync_progress_estimate(unsigned long long left, int limit, int window,
    double items_per_call, double *per_min)
{
	*per_min = 0;
	if (limit <= 0 || window <= 0 || items_per_call <= 0)
		return -1;
	*per_min = (double)limit * 60. / (double)window * items_per_call;
	return (double)left / *per_min * 60.;
}

/* count: n with thousands separated by commas, into buf. */
static const char *
count(char *buf, size_t len, unsigned long long n)
{
	char digits[32];
	size_t nd, o = 0;

	nd = (size_t)snprintf(digits, sizeof(digits), "%llu", n);
	for (size_t i = 0; i < nd && o + 2 < len; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* span: seconds for people: "45 s", "80 min", "3 h 20 min". */
static const char *
span(char *buf, size_t len, double secs)
{
	long long s = (long long)(secs + 0.5), m = (s + 30) / 60;

	if (s < 90)
		snprintf(buf, len, "%lld s", s);
	else if (m < 90)
		snprintf(buf, len, "%lld min", m);
	else
		snprintf(buf, len, "%lld h %lld min", m / 60, m % 60);
	return buf;
}

const char *
sync_progress_line(char *buf, size_t len, const char *phase,
    unsigned long long done, unsigned long long total, double per_min,
    double left_s)
{
	char d[32], t[32], r[32], l[32];

	if (left_s < 0 || per_min <= 0) {
		snprintf(buf, len, "%s %s of %s", phase, count(d, sizeof(d), done),
		    count(t, sizeof(t), total));
		return buf;
	}
	if (per_min >= 10)
		snprintf(r, sizeof(r), "%.0f", per_min);
	else
		snprintf(r, sizeof(r), "%.1f", per_min);
	snprintf(buf, len, "%s %s of %s, %s a minute, about %s left", phase,
	    count(d, sizeof(d), done), count(t, sizeof(t), total), r,
	    span(l, sizeof(l), left_s));
	return buf;
}

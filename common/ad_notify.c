/*
 * ad_notify: AD change notification (LDAP_SERVER_NOTIFICATION_OID,
 * 1.2.840.113556.1.4.528) on a connection of its own. A notification only
 * says "something changed": the usnChanged cycle stays the source of truth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"
#include "util.h"

struct notify {
	struct ad *ad;          /* not owned */
	struct conn c;
	ad_notify_cb cb;
	void *arg;
	double debounce;
	ev_timer debounce_timer;
	ev_timer retry_timer;
	unsigned int attempt;   /* reconnections since the last success */
	int refused;            /* the server does not do notifications */
	int stopping;
};

static void notify_msg(struct op *op, LDAPMessage *msg);
static void notify_fail(struct op *op, const char *why);

/* ad_notify_stop ends the searches itself: no cancel of the owner */
static const struct op_type notify_op = { notify_msg, notify_fail, NULL };

static void
schedule_retry(struct notify *n, const char *why)
{
	unsigned int delay = util_retry_delay(n->attempt++);
	char detail[600];

	snprintf(detail, sizeof(detail), "%s; retrying in %u s", why, delay);
	n->cb(n->arg, AD_NOTIFY_LOST, detail);
	ev_timer_set(&n->retry_timer, (double)delay, 0.);
	ev_timer_start(n->ad->loop, &n->retry_timer);
}

/* start_search: one persistent search with the notification control. */
static int
start_search(struct notify *n, const char *base, int scope, int deleted,
    char *err, size_t errlen)
{
	LDAPControl *notify = NULL, *show = NULL, *ctrls[3] = { NULL };
	char *attrs[] = { "uSNChanged", NULL };
	int rc, msgid, k = 0;

	if (ldap_control_create(OID_NOTIFY, 1, NULL, 0, &notify) != LDAP_SUCCESS)
		return util_errbuf_set(err, errlen, "cannot build the notification control");
	ctrls[k++] = notify;
	if (deleted && ldap_control_create(OID_SHOW_DELETED, 1, NULL, 0, &show) ==
	    LDAP_SUCCESS)
		ctrls[k++] = show;
	n->ad->nsearch++;
	rc = ldap_search_ext(n->c.ld, base, scope, "(objectClass=*)", attrs, 0,
	    ctrls, NULL, NULL, LDAP_NO_LIMIT, &msgid);
	ldap_control_free(notify);
	ldap_control_free(show);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(n->c.ld, rc, "notification search", err, errlen);
		return -1;
	}
	ad_op_new(&n->c, msgid, 0., &notify_op, n);
	return 0;
}

/*
 * watched_base: base_dn; with scope groups the whole naming context (read
 * from this connection's rootDSE: the main connection may not be up), as
 * scope groups and the groups nested in them may live anywhere. Owned.
 */
static char *
watched_base(struct notify *n)
{
	char *attrs[] = { "defaultNamingContext", NULL }, *nc = NULL;
	struct timeval tv = { (time_t)ad_timeout(n->ad), 0 };
	LDAPMessage *res = NULL, *e;
	struct berval **v;

	if (n->ad->cfg->ldap.groups.n == 0)
		return xstrdup(n->ad->cfg->ldap.base_dn);
	n->ad->nsearch++;
	if (ldap_search_ext_s(n->c.ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
	    0, NULL, NULL, &tv, 1, &res) == LDAP_SUCCESS &&
	    (e = ldap_first_entry(n->c.ld, res)) != NULL &&
	    (v = ldap_get_values_len(n->c.ld, e, "defaultNamingContext")) != NULL) {
		if (v[0] != NULL)
			nc = xstrndup(v[0]->bv_val, v[0]->bv_len);
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	return nc != NULL ? nc : xstrdup(n->ad->cfg->ldap.base_dn);
}

static void
establish(struct notify *n)
{
	const struct ad *ad = n->ad;
	char err[1024], *deleted_dn, *base;
	int rc;

	if (ad_conn_open_any(&n->c, err, sizeof(err)) < 0) {
		schedule_retry(n, err);
		return;
	}
	base = watched_base(n);
	rc = start_search(n, base, LDAP_SCOPE_SUBTREE, 0, err, sizeof(err));
	free(base);
	if (rc < 0) {
		ad_conn_close(&n->c, err);
		return;
	}
	/* Deletions notify only under Deleted Objects, with Show Deleted. */
	if (ad->deleted_visible == 1 && ad->dc.default_nc != NULL) {
		deleted_dn = ad_deleted_objects_dn(ad);
		if (start_search(n, deleted_dn, LDAP_SCOPE_ONELEVEL, 1, err,
		    sizeof(err)) < 0) {
			free(deleted_dn);
			ad_conn_close(&n->c, err);
			return;
		}
		free(deleted_dn);
	}
	n->cb(n->arg, AD_NOTIFY_ACTIVE, n->c.uri);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	establish(w->data);
}

static void
debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct notify *n = w->data;

	(void)loop;
	(void)revents;
	n->cb(n->arg, AD_NOTIFY_CHANGE, NULL);
}

static void
notify_fail(struct op *op, const char *why)
{
	struct notify *n = op->ctx;

	/* ad_conn_close fails each search: retry once, after the last one. */
	if (n->stopping || n->refused || n->c.ops->next != NULL ||
	    ev_is_active(&n->retry_timer))
		return;
	schedule_retry(n, why);
}

/* A search that ends was refused or cut: both are final for this connection. */
static void
notify_result(struct notify *n, struct op *op, LDAPMessage *msg)
{
	char *text = NULL, detail[600];
	int code = 0;

	ldap_parse_result(op->c->ld, msg, &code, NULL, &text, NULL, NULL, 1);
	snprintf(detail, sizeof(detail), "%s: %s%s%s%s", n->c.uri,
	    ldap_err2string(code), text && *text ? " (" : "",
	    text && *text ? text : "", text && *text ? ")" : "");
	ldap_memfree(text);
	if (code == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ||
	    code == LDAP_UNWILLING_TO_PERFORM || code == LDAP_ADMINLIMIT_EXCEEDED ||
	    code == LDAP_INAPPROPRIATE_MATCHING || code == LDAP_PROTOCOL_ERROR ||
	    code == LDAP_OTHER) {
		n->refused = 1;
		n->cb(n->arg, AD_NOTIFY_REFUSED, detail);
	}
	ad_conn_close(&n->c, detail); /* not refused: notify_fail retries */
}

static void
notify_msg(struct op *op, LDAPMessage *msg)
{
	struct notify *n = op->ctx;

	if (ldap_msgtype(msg) == LDAP_RES_SEARCH_RESULT) {
		notify_result(n, op, msg);
		return;
	}
	ldap_msgfree(msg);
	n->attempt = 0; /* the searches work */
	if (!ev_is_active(&n->debounce_timer)) {
		ev_timer_set(&n->debounce_timer, n->debounce, 0.);
		ev_timer_start(n->ad->loop, &n->debounce_timer);
	}
}

int
ad_notify_start(struct ad *ad, double debounce, ad_notify_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct notify *n;

	if (ad->notify != NULL)
		return util_errbuf_set(err, errlen, "change notification already started");
	n = xcalloc(1, sizeof(*n));
	n->ad = ad;
	n->c.ad = ad;
	n->cb = cb;
	n->arg = arg;
	n->debounce = debounce;
	ev_timer_init(&n->debounce_timer, debounce_cb, debounce, 0.);
	n->debounce_timer.data = n;
	ev_timer_init(&n->retry_timer, retry_cb, 1., 0.);
	n->retry_timer.data = n;
	ad->notify = n;
	establish(n);
	return 0;
}

void
ad_notify_stop(struct ad *ad)
{
	struct notify *n = ad->notify;

	if (n == NULL)
		return;
	n->stopping = 1;
	ad_conn_close(&n->c, "stopped");
	ev_timer_stop(ad->loop, &n->debounce_timer);
	ev_timer_stop(ad->loop, &n->retry_timer);
	free(n);
	ad->notify = NULL;
}

/*
 * ad: connections, the asynchronous operation table, and the scan,
 * write-back and change-notification operations on top of it.
 */
#include "ad.h"

#include <errno.h>
#include <lber.h>
#include <ldap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "ad_internal.h"
#include "util.h"

/* -------- connections -------- */

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);

void
ad_op_free(struct op *op)
{
	struct conn *c = op->c;

	for (struct op **p = &c->ops; *p; p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			break;
		}
	ev_timer_stop(c->ad->loop, &op->timer);
	free(op);
}

/* ad_conn_close: fail every operation (their on_fail runs) and unbind. */
void
ad_conn_close(struct conn *c, const char *why)
{
	LDAP *ld = c->ld;

	if (ld == NULL)
		return;
	c->ld = NULL; /* handlers below see a closed connection */
	ev_io_stop(c->ad->loop, &c->io);
	while (c->ops != NULL) {
		struct op *op = c->ops;

		op->type->on_fail(op, why);
		ad_op_free(op);
	}
	ldap_unbind_ext(ld, NULL, NULL);
	free(c->uri);
	c->uri = NULL;
}

void
ad_conn_drop(struct conn *c)
{
	while (c->ops != NULL) {
		struct op *op = c->ops;

		if (op->type->cancel != NULL)
			op->type->cancel(op->ctx); /* abandons its ops */
		else
			ad_op_abandon(op);
	}
	ad_conn_close(c, "cancelled");
}

static void
op_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct op *op = w->data;
	char why[128];

	(void)loop;
	(void)revents;
	snprintf(why, sizeof(why), "no answer from %s within %.0f s", op->c->uri,
	    w->repeat);
	/* A DC that stops answering one operation is not trusted with more. */
	ad_conn_close(op->c, why);
}

struct op *
ad_op_new(struct conn *c, int msgid, double timeout, const struct op_type *type,
    void *ctx)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->msgid = msgid;
	op->type = type;
	op->ctx = ctx;
	ev_timer_init(&op->timer, op_timeout_cb, 0., timeout);
	op->timer.data = op;
	if (timeout > 0)
		ev_timer_again(c->ad->loop, &op->timer);
	op->next = c->ops;
	c->ops = op;
	return op;
}

struct op *
ad_op_find(struct conn *c, int msgid)
{
	for (struct op *op = c->ops; op; op = op->next)
		if (op->msgid == msgid)
			return op;
	return NULL;
}

/* ad_ld_error: "what: LDAP error (diagnostic)". */
void
ad_ld_error(LDAP *ld, int rc, const char *what, char *err, size_t errlen)
{
	char *diag = NULL;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	util_errbuf_set(err, errlen, "%s: %s%s%s%s", what, ldap_err2string(rc),
	    diag && *diag ? " (" : "", diag && *diag ? diag : "",
	    diag && *diag ? ")" : "");
	ldap_memfree(diag);
}

/*
 * conn_io_cb: drain every complete message (libldap may hold several,
 * and TLS may have buffered them) and hand each to its operation.
 */
static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	while (c->ld != NULL) {
		struct timeval zero = { 0, 0 };
		LDAPMessage *msg = NULL;
		struct op *op;
		int rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);

		if (rc == 0)
			return;
		if (rc < 0) {
			char why[256];

			ad_ld_error(c->ld, rc, c->uri, why, sizeof(why));
			ad_conn_close(c, why);
			return;
		}
		op = ad_op_find(c, ldap_msgid(msg));
		if (op == NULL) {
			ldap_msgfree(msg); /* answer to an abandoned operation */
			continue;
		}
		if (op->timer.repeat > 0)
			ev_timer_again(c->ad->loop, &op->timer);
		op->type->on_msg(op, msg);
	}
}

static int
sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	/* GSSAPI asks nothing: the keytab or credential cache answers. */
	(void)ld;
	(void)flags;
	(void)defaults;
	(void)in;
	return LDAP_SUCCESS;
}

static int
bind_simple(struct conn *c, const struct config_ldap *l, char *err,
    size_t errlen)
{
	struct berval cred;
	char *pw, why[256];
	int rc;

	if (config_read_secret(l->bind_password_file, &pw, why, sizeof(why)) < 0)
		return util_errbuf_set(err, errlen, "%s", why);
	cred.bv_val = pw;
	cred.bv_len = strlen(pw);
	c->ad->nbind++;
	rc = ldap_sasl_bind_s(c->ld, l->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, NULL);
	explicit_bzero(pw, cred.bv_len);
	free(pw);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "simple bind", why, sizeof(why));
		return util_errbuf_set(err, errlen, "%s as %s", why, l->bind_dn);
	}
	return 0;
}

static int
bind_gssapi(struct conn *c, const struct config_ldap *l, char *err,
    size_t errlen)
{
	int rc;

	/* MIT Kerberos initiates from this keytab without kinit. */
	if (l->keytab != NULL)
		setenv("KRB5_CLIENT_KTNAME", l->keytab, 1);
	setenv("KRB5CCNAME", "MEMORY:ringsyncd", 0);
	ldap_set_option(c->ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON);
	/* AD refuses SASL sign/seal inside TLS: let TLS protect it. */
	if (c->tls)
		ldap_set_option(c->ld, LDAP_OPT_X_SASL_SECPROPS, "maxssf=0");
	c->ad->nbind++;
	rc = ldap_sasl_interactive_bind_s(c->ld, NULL, "GSSAPI", NULL, NULL,
	    LDAP_SASL_QUIET, sasl_interact, NULL);
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "GSSAPI bind", err, errlen);
		return -1;
	}
	return 0;
}

/*
 * The handshake watchdog. libldap bounds the TCP connect (NETWORK_TIMEOUT)
 * and each operation (TIMEOUT), but not the TLS handshake of ldaps:// or
 * StartTLS: a DC (or a middlebox) that accepts the connection and then
 * says nothing would block the loop for ever, SIGTERM included. While a
 * handshake runs, an ITIMER_REAL of [ldap] timeout is armed; when it
 * expires, the handler shuts the socket down (shutdown(2) is
 * async-signal-safe), the blocked read ends and the connect fails like
 * any unreachable DC. The socket is learnt from libldap's connect callback.
 */
static volatile sig_atomic_t watch_fd = -1;
static struct sigaction watch_old;

static void
watch_alarm(int sig)
{
	int fd = watch_fd;

	(void)sig;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static int
watch_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
    struct ldap_conncb *ctx)
{
	ber_socket_t fd;

	(void)ld;
	(void)srv;
	(void)addr;
	(void)ctx;
	if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) == 1)
		watch_fd = fd;
	return 0;
}

static void
watch_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
	watch_fd = -1;
}

static struct ldap_conncb watch_cb = { watch_add, watch_del, NULL };

static void
watch_start(unsigned int secs, int fd)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 0 }, { (time_t)secs, 0 } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watch_alarm; /* no SA_RESTART: the read is interrupted */
	sigemptyset(&sa.sa_mask);
	watch_fd = fd;
	sigaction(SIGALRM, &sa, &watch_old);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void
watch_stop(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	watch_fd = -1;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &watch_old, NULL);
}

static int
conn_set_options(struct conn *c, const struct config_ldap *l)
{
	struct timeval tv = { (time_t)l->timeout, 0 };
	int v3 = LDAP_VERSION3, req = l->tls_verify ? LDAP_OPT_X_TLS_DEMAND :
	    LDAP_OPT_X_TLS_NEVER, zero = 0;

	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
	    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv) ||
	    ldap_set_option(c->ld, LDAP_OPT_CONNECT_CB, &watch_cb) ||
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req))
		return -1;
	if (l->tls_ca_cert != NULL &&
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, l->tls_ca_cert))
		return -1;
	/* Per-connection TLS settings take effect in a new context. */
	return ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) ? -1 : 0;
}

/* conn_open: connect and bind one URI; the connection is up on return 0. */
static int
conn_open(struct conn *c, const char *uri, char *err, size_t errlen)
{
	const struct config_ldap *l = &c->ad->cfg->ldap;
	char why[384];
	int rc, fd = -1;

	rc = ldap_initialize(&c->ld, uri);
	if (rc != LDAP_SUCCESS)
		return util_errbuf_set(err, errlen, "%s: %s", uri, ldap_err2string(rc));
	c->tls = strncasecmp(uri, "ldaps://", 8) == 0 || l->starttls;
	if (conn_set_options(c, l) < 0) {
		util_errbuf_set(err, errlen, "%s: cannot set LDAP options", uri);
		goto fail;
	}
	watch_start(l->timeout, -1); /* the socket comes from watch_add */
	rc = ldap_connect(c->ld);
	watch_stop();
	if (rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "cannot connect", why, sizeof(why));
		util_errbuf_set(err, errlen, "%s: %s%s", uri, why, c->tls &&
		    !l->starttls ? ": check that the DC listens there and that its "
		    "certificate names this host and is signed by tls_ca_cert (or "
		    "a system CA)" : "");
		goto fail;
	}
	if (strncasecmp(uri, "ldap://", 7) == 0 && l->starttls) {
		if (ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS)
			fd = -1;
		watch_start(l->timeout, fd);
		rc = ldap_start_tls_s(c->ld, NULL, NULL);
		watch_stop();
	}
	if (strncasecmp(uri, "ldap://", 7) == 0 && l->starttls &&
	    rc != LDAP_SUCCESS) {
		ad_ld_error(c->ld, rc, "StartTLS", why, sizeof(why));
		util_errbuf_set(err, errlen, "%s: %s", uri, why);
		goto fail;
	}
	if ((l->sasl_mech ? bind_gssapi(c, l, why, sizeof(why)) :
	    bind_simple(c, l, why, sizeof(why))) < 0) {
		util_errbuf_set(err, errlen, "%s: %s", uri, why);
		goto fail;
	}
	if (ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS ||
	    fd < 0) {
		util_errbuf_set(err, errlen, "%s: no socket after bind", uri);
		goto fail;
	}
	c->uri = xstrdup(uri);
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(c->ad->loop, &c->io);
	return 0;
fail:
	ldap_unbind_ext(c->ld, NULL, NULL);
	c->ld = NULL;
	return -1;
}

/* ad_conn_open_any: the configured URIs in order; all failures into err. */
int
ad_conn_open_any(struct conn *c, char *err, size_t errlen)
{
	const struct config_strv *uris = &c->ad->cfg->ldap.uri;
	size_t o = 0;

	if (errlen > 0)
		err[0] = '\0';
	for (size_t i = 0; i < uris->n; i++) {
		char one[512];

		if (conn_open(c, uris->v[i], one, sizeof(one)) == 0)
			return 0;
		if (o < errlen)
			o += (size_t)snprintf(err + o, errlen - o, "%s%s", o ? "; " : "",
			    one);
	}
	return -1;
}

/* -------- DC information -------- */

static char *
first_value(LDAP *ld, LDAPMessage *e, const char *attr, size_t *len)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char *s = NULL;

	if (v != NULL && v[0] != NULL) {
		s = xstrndup(v[0]->bv_val, v[0]->bv_len);
		if (len != NULL)
			*len = v[0]->bv_len;
	}
	ldap_value_free_len(v);
	return s;
}

/* search_base_s: a synchronous base search (bounded by LDAP_OPT_TIMEOUT). */
static int
search_base_s(struct conn *c, const char *base, char **attrs,
    LDAPControl **ctrls, LDAPMessage **res, char *err, size_t errlen)
{
	struct timeval tv = { (time_t)c->ad->cfg->ldap.timeout, 0 };
	int rc;

	c->ad->nsearch++;
	rc = ldap_search_ext_s(c->ld, base, LDAP_SCOPE_BASE, "(objectClass=*)",
	    attrs, 0, ctrls, NULL, &tv, 1, res);

	if (rc != LDAP_SUCCESS) {
		char what[320];

		snprintf(what, sizeof(what), "%s: reading %s", c->uri,
		    *base ? base : "the rootDSE");
		ad_ld_error(c->ld, rc, what, err, errlen);
		if (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT)
			ad_conn_close(c, err);
		return -1;
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

int
ad_user_attributes(struct ad *ad, char ***out, size_t *n, char *err,
    size_t errlen)
{
	struct conn *c = &ad->main;
	struct timeval tv = { (time_t)ad->cfg->ldap.timeout, 0 };
	char *attrs[] = { "allowedAttributes", NULL };
	struct berval **v;
	LDAPMessage *res = NULL, *e;
	int rc;

	*out = NULL;
	*n = 0;
	if (c->ld == NULL && ad_connect(ad, err, errlen) < 0)
		return -1;
	ad->nsearch++;
	rc = ldap_search_ext_s(c->ld, ad->cfg->ldap.base_dn, LDAP_SCOPE_SUBTREE,
	    ad->cfg->ldap.user_filter, attrs, 0, NULL, NULL, &tv, 1, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ad_ld_error(c->ld, rc, "reading allowedAttributes", err, errlen);
		ldap_msgfree(res);
		return -1;
	}
	e = ldap_first_entry(c->ld, res);
	v = e != NULL ? ldap_get_values_len(c->ld, e, "allowedAttributes") : NULL;
	if (v == NULL) {
		ldap_msgfree(res);
		return util_errbuf_set(err, errlen, "no user under %s matches user_filter, "
		    "or the service account may not read its allowedAttributes",
		    ad->cfg->ldap.base_dn);
	}
	*n = (size_t)ldap_count_values_len(v);
	*out = xcalloc(*n + 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++)
		(*out)[i] = xstrndup(v[i]->bv_val, v[i]->bv_len);
	qsort(*out, *n, sizeof(**out), cmp_str);
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return 0;
}

static void
dc_clear(struct ad_dc_info *dc)
{
	free(dc->uri);
	free(dc->dns_host_name);
	free(dc->ds_service_name);
	free(dc->default_nc);
	free(dc->invocation_id);
	memset(dc, 0, sizeof(*dc));
}

static int
read_root_dse(struct ad *ad, char *err, size_t errlen)
{
	char *attrs[] = { "dnsHostName", "dsServiceName", "highestCommittedUSN",
		"defaultNamingContext", NULL };
	LDAPMessage *res, *e;
	char *usn;

	if (search_base_s(&ad->main, "", attrs, NULL, &res, err, errlen) < 0)
		return -1;
	e = ldap_first_entry(ad->main.ld, res);
	free(ad->dc.dns_host_name);
	free(ad->dc.ds_service_name);
	free(ad->dc.default_nc);
	ad->dc.dns_host_name = e ? first_value(ad->main.ld, e, "dnsHostName", NULL) : NULL;
	ad->dc.ds_service_name = e ? first_value(ad->main.ld, e, "dsServiceName", NULL) : NULL;
	ad->dc.default_nc = e ? first_value(ad->main.ld, e, "defaultNamingContext", NULL) : NULL;
	usn = e ? first_value(ad->main.ld, e, "highestCommittedUSN", NULL) : NULL;
	ldap_msgfree(res);
	if (ad->dc.dns_host_name == NULL || ad->dc.ds_service_name == NULL ||
	    ad->dc.default_nc == NULL || usn == NULL) {
		free(usn);
		return util_errbuf_set(err, errlen, "%s: the rootDSE lacks dnsHostName, "
		    "dsServiceName, defaultNamingContext or highestCommittedUSN: "
		    "is this an Active Directory DC?", ad->main.uri);
	}
	ad->dc.highest_usn = strtoull(usn, NULL, 10);
	free(usn);
	return 0;
}

static int
read_invocation_id(struct ad *ad, char *err, size_t errlen)
{
	char *attrs[] = { "invocationId", NULL };
	LDAPMessage *res, *e;
	struct berval **v;
	char guid[AD_GUID_LEN + 1];
	int ok = 0;

	if (search_base_s(&ad->main, ad->dc.ds_service_name, attrs, NULL, &res,
	    err, errlen) < 0)
		return -1;
	e = ldap_first_entry(ad->main.ld, res);
	v = e ? ldap_get_values_len(ad->main.ld, e, "invocationId") : NULL;
	if (v != NULL && v[0] != NULL && v[0]->bv_len == 16) {
		ad_guid_format((const unsigned char *)v[0]->bv_val, guid);
		util_str_set(&ad->dc.invocation_id, guid);
		ok = 1;
	}
	ldap_value_free_len(v);
	ldap_msgfree(res);
	if (!ok)
		return util_errbuf_set(err, errlen, "%s: cannot read invocationId of %s",
		    ad->main.uri, ad->dc.ds_service_name);
	return 0;
}

char *
ad_deleted_objects_dn(const struct ad *ad)
{
	return xasprintf("CN=Deleted Objects,%s", ad->dc.default_nc);
}

/* check_deleted_visible: may we see tombstones? (docs/behaviour.md) */
static void
check_deleted_visible(struct ad *ad)
{
	char *attrs[] = { "1.1", NULL }, *dn = ad_deleted_objects_dn(ad), err[256];
	LDAPControl *ctrl = NULL, *ctrls[2] = { NULL, NULL };
	LDAPMessage *res;

	ad->deleted_visible = 0;
	if (ldap_control_create(OID_SHOW_DELETED, 1, NULL, 0, &ctrl) != LDAP_SUCCESS) {
		free(dn);
		return;
	}
	ctrls[0] = ctrl;
	if (search_base_s(&ad->main, dn, attrs, ctrls, &res, err, sizeof(err)) == 0) {
		ad->deleted_visible = ldap_count_entries(ad->main.ld, res) > 0;
		ldap_msgfree(res);
	}
	ldap_control_free(ctrl);
	free(dn);
}

int
ad_refresh_dc(struct ad *ad, char *err, size_t errlen)
{
	if (ad->main.ld == NULL)
		return util_errbuf_set(err, errlen, "not connected");
	return read_root_dse(ad, err, errlen);
}

int
ad_connect(struct ad *ad, char *err, size_t errlen)
{
	if (ad->main.ld != NULL)
		return 0;
	dc_clear(&ad->dc);
	if (ad_conn_open_any(&ad->main, err, errlen) < 0)
		return -1;
	if (read_root_dse(ad, err, errlen) < 0 ||
	    read_invocation_id(ad, err, errlen) < 0) {
		ad_conn_close(&ad->main, err);
		return -1;
	}
	ad->dc.uri = xstrdup(ad->main.uri);
	check_deleted_visible(ad);
	return 0;
}

int
ad_connected(const struct ad *ad)
{
	return ad->main.ld != NULL;
}

void
ad_disconnect(struct ad *ad)
{
	ad_conn_close(&ad->main, "disconnected");
}

const struct ad_dc_info *
ad_dc(const struct ad *ad)
{
	return &ad->dc;
}

int
ad_deleted_visible(const struct ad *ad)
{
	return ad->deleted_visible;
}

struct ad *
ad_new(struct ev_loop *loop, const struct config *cfg)
{
	struct ad *ad = xcalloc(1, sizeof(*ad));

	ad->loop = loop;
	ad->cfg = cfg;
	ad->main.ad = ad;
	ad->deleted_visible = -1;
	return ad;
}

void
ad_set_config(struct ad *ad, const struct config *cfg)
{
	ad_notify_stop(ad);
	ad_conn_close(&ad->main, "configuration reloaded");
	ad->cfg = cfg;
}

void
ad_free(struct ad *ad)
{
	if (ad == NULL)
		return;
	ad_notify_stop(ad);
	ad_conn_drop(&ad->main); /* freeing cancels: nobody is called back */
	dc_clear(&ad->dc);
	free(ad);
}

void
ad_op_abandon(struct op *op)
{
	if (op->c->ld != NULL)
		ldap_abandon_ext(op->c->ld, op->msgid, NULL, NULL);
	ad_op_free(op);
}

void
ad_page_cookie(LDAP *ld, LDAPControl **ctrls, struct berval *cookie)
{
	LDAPControl *pc;
	ber_int_t count;

	ldap_memfree(cookie->bv_val);
	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
	if (pc != NULL)
		ldap_parse_pageresponse_control(ld, pc, &count, cookie);
	ldap_controls_free(ctrls);
}

void
ad_op_counts(const struct ad *ad, unsigned long long *search,
    unsigned long long *modify, unsigned long long *bind)
{
	*search = ad->nsearch;
	*modify = ad->nmodify;
	*bind = ad->nbind;
}

double
ad_timeout(const struct ad *ad)
{
	return (double)ad->cfg->ldap.timeout;
}

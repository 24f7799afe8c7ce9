/*
 * ad_internal: what the AD module's files share (ad.c: connections and
 * the operation table; ad_scan.c, ad_write.c, ad_notify.c: operations).
 * Not part of the module's interface.
 */
#ifndef RINGSYNC_AD_INTERNAL_H
#define RINGSYNC_AD_INTERNAL_H

#include <ldap.h>

#include "ad.h"

#define OID_SHOW_DELETED "1.2.840.113556.1.4.417"
#define OID_NOTIFY "1.2.840.113556.1.4.528"

struct conn;
struct op;

/* An outstanding LDAP operation: its message id, timeout and handlers. */
typedef void (*op_msg_fn)(struct op *op, LDAPMessage *msg);
typedef void (*op_fail_fn)(struct op *op, const char *why);

/* What the owner of a kind of operation does with it (a static table). */
struct op_type {
	op_msg_fn on_msg;       /* owns msg; may end the op */
	op_fail_fn on_fail;     /* the op is freed right after */
	/*
	 * cancel: ad_conn_drop ends the owner (ctx) without calling anybody
	 * back; it must ad_op_abandon every op of its own. NULL: the op is
	 * freed and its owner lives on (it is told otherwise).
	 */
	void (*cancel)(void *ctx);
};

struct op {
	struct conn *c;         /* not owned */
	int msgid;
	ev_timer timer;         /* per-operation timeout; unused when 0 */
	const struct op_type *type; /* static */
	void *ctx;              /* the scan, write-back or notify owning the op */
	struct op *next;
};

/* One LDAP connection watched by the loop. */
struct conn {
	struct ad *ad;          /* not owned */
	LDAP *ld;               /* owned; NULL when down */
	ev_io io;
	struct op *ops;         /* owned list */
	char *uri;              /* owned: the URI connected to */
	int tls;                /* ldaps:// or StartTLS in use */
};

struct notify;

#define AD_MSG_ATTRS_MAX 64     /* attributes of an entry converted */

/*
 * ad_msg_entry: one SearchResultEntry as an ad_entry (ad_entry_build with
 * required_attr; digest_attr, when not NULL, only as its SHA-256 in
 * e->digest); *dn the entry's DN (owned by the caller; NULL when the
 * entry has none). 0, or -1: e is not filled.
 */
int ad_msg_entry(LDAP *ld, LDAPMessage *msg, const char *required_attr,
    const char *digest_attr, struct ad_entry *e, char **dn);

struct ad {
	struct ev_loop *loop;   /* not owned */
	const struct config *cfg; /* borrowed from the daemon */
	struct conn main;
	struct ad_dc_info dc;
	int deleted_visible;    /* -1 unknown */
	struct notify *notify;  /* owned; NULL when off */
	unsigned long long nsearch, nmodify, nbind; /* requests sent, ever */
};


/* ad_op_new: register msgid on c; timeout 0: none (persistent searches). */
struct op *ad_op_new(struct conn *c, int msgid, double timeout,
    const struct op_type *type, void *ctx);
/* ad_op_free: unregister (does not abandon; see ad_op_abandon). */
void ad_op_free(struct op *op);
struct op *ad_op_find(struct conn *c, int msgid);
/* ad_op_abandon: tell the server to stop, then ad_op_free. */
void ad_op_abandon(struct op *op);
/* ad_conn_close: fail every operation (on_fail(why)), then unbind. */
void ad_conn_close(struct conn *c, const char *why);
/*
 * ad_conn_drop: cancel every operation (type->cancel: no callback runs and
 * no owner is left pointing at the caller's memory), then unbind.
 */
void ad_conn_drop(struct conn *c);
/* ad_conn_open_any: connect and bind the [ldap] URIs in order. */
int ad_conn_open_any(struct conn *c, char *err, size_t errlen);
void ad_ld_error(LDAP *ld, int rc, const char *what, char *err, size_t errlen);
/*
 * ad_page_cookie: the paged-results cookie of a result's controls into
 * *cookie (the old one freed; empty: the last page). Frees ctrls.
 */
void ad_page_cookie(LDAP *ld, LDAPControl **ctrls, struct berval *cookie);
/* ad_deleted_objects_dn: "CN=Deleted Objects,<defaultNamingContext>", owned. */
char *ad_deleted_objects_dn(const struct ad *ad);
double ad_timeout(const struct ad *ad);

#endif

/*
 * ad: Active Directory through libldap on the daemon's libev loop.
 *
 * Owns two LDAP connections: the main one (rootDSE, the usnChanged scan,
 * tombstones, write-back) and, with change_notify, one for the persistent
 * change-notification searches. Connecting and binding are synchronous
 * and bounded by [ldap] timeout; every search and modify afterwards is
 * asynchronous: the connection's descriptor is watched by the loop and
 * drained with ldap_result(..., zero timeout), each operation with its own
 * timeout timer.
 *
 * The pure parts (the full-sync decision of docs/behaviour.md, filter
 * building and RFC 4515 escaping, GUID formatting, entry conversion and
 * the write-back diff) need no connection and are what the unit tests
 * exercise. Nothing here logs: errors go to the caller's buffer or
 * callback, and the caller decides what to say.
 */
#ifndef RINGSYNC_AD_H
#define RINGSYNC_AD_H

#include <ev.h>
#include <stddef.h>

#include "config.h"
#include "store.h"
#include "util.h"

#define AD_GUID_LEN 36       /* 8-4-4-4-12 hex, lower case */
#define AD_VALUE_MAX 1024    /* longer attribute values are a per-user problem */

/* The DC a connection reached, from its rootDSE and NTDS Settings. */
struct ad_dc_info {
	char *uri;              /* the URI that answered */
	char *dns_host_name;
	char *ds_service_name;
	char *default_nc;       /* defaultNamingContext */
	char *invocation_id;    /* GUID string */
	unsigned long long highest_usn;
};

enum ad_scan_reason {
	AD_SCAN_INCREMENTAL,
	AD_SCAN_FULL_NO_WATERMARK,
	AD_SCAN_FULL_DC_CHANGED,  /* another DC, or one restored with a new identity */
	AD_SCAN_FULL_ROLLBACK,    /* same identity, highestCommittedUSN went back */
	AD_SCAN_FULL_FORCED,      /* --full-resync, the full-sync timer */
	AD_SCAN_FULL_SCOPE,       /* the group scope is new, or was dropped */
};

struct ad_scan_plan {
	int full;
	enum ad_scan_reason reason;
	unsigned long long lower, upper; /* uSNChanged range, inclusive */
};

/*
 * ad_plan_scan: steps 2 and 3 of docs/behaviour.md. w is the stored watermark
 * (NULL: none), dc what the DC says now.
 */
void ad_plan_scan(const struct store_watermark *w, const struct ad_dc_info *dc,
    int force_full, struct ad_scan_plan *out);
const char *ad_scan_reason_name(enum ad_scan_reason r);

/* ad_usn_filter: "(&<user_filter>(uSNChanged>=L)(uSNChanged<=H))", owned. */
char *ad_usn_filter(const char *user_filter, unsigned long long lower,
    unsigned long long upper);
/* ad_filter_escape: a value escaped for a filter (RFC 4515), owned. */
char *ad_filter_escape(const char *value, size_t len);
/*
 * ad_dn_under: is dn base itself or inside it? Compares case-insensitively
 * and ignores spaces around ',' and '='.
 */
int ad_dn_under(const char *dn, const char *base);
/* ad_guid_format: 16 bytes in AD's little-endian layout -> GUID string. */
void ad_guid_format(const unsigned char bytes[16], char out[AD_GUID_LEN + 1]);
/* ad_guid_parse: GUID string -> 16 bytes; 0, or -1 if malformed. */
int ad_guid_parse(const char *s, unsigned char out[16]);

struct ad_value {
	char *attr;  /* owned; as requested */
	char *value; /* owned; the first value, NUL-terminated UTF-8 */
};

/* One user (or tombstone) from a scan. */
struct ad_entry {
	char *dn;                   /* owned */
	char guid[AD_GUID_LEN + 1];
	unsigned long long usn;     /* uSNChanged */
	unsigned int uac;           /* userAccountControl */
	int disabled;               /* uac bit 0x2 */
	int deleted;                /* a tombstone under Deleted Objects */
	struct ad_value *attrs;     /* owned: requested attributes present */
	size_t nattrs;
	char *problem_attr;         /* owned: attribute of the first problem */
	char *problem;              /* owned: what is wrong with it, or NULL */
	/* The scan's digest attribute (a photo), hashed and not kept: */
	int digest_asked;           /* the scan asked for it */
	char digest[UTIL_SHA256_HEX + 1]; /* SHA-256 of its value; "" absent */
	size_t digest_len;          /* the value's bytes */
};

/* A raw attribute as the server sent it (test and adapter input). */
struct ad_raw {
	const char *attr;
	const char *val;  /* first value, not NUL-terminated; NULL: absent */
	size_t len;
};

/*
 * ad_entry_build: fill e from raw attributes. objectGUID must be 16 bytes
 * (else -1: the entry cannot be identified). Other values that are not
 * UTF-8, are longer than AD_VALUE_MAX, or a missing required attribute
 * (e.g. mail) become e->problem naming the attribute; such a value is
 * left out of e->attrs. Returns 0 or -1.
 */
int ad_entry_build(struct ad_entry *e, const char *dn, const struct ad_raw *raw,
    size_t n, const char *required_attr);
const char *ad_entry_get(const struct ad_entry *e, const char *attr);
void ad_entry_clear(struct ad_entry *e);

/*
 * ad_diff: the write-back attributes whose wanted value differs from what
 * AD holds (have[i] NULL: absent). An empty wanted value means delete.
 * Fills idx with the indexes of want[] to change; returns their number.
 */
size_t ad_diff(const struct ad_value *want, size_t n, const char *const *have,
    size_t *idx);

struct ad;

/*
 * ad_new: an unconnected AD client on loop, borrowing cfg (the caller
 * keeps it alive, and calls ad_set_config after a reload).
 */
struct ad *ad_new(struct ev_loop *loop, const struct config *cfg);
/*
 * ad_free: cancel every operation in flight (as ad_scan_cancel and
 * ad_writeback_cancel do: no callback runs; their handles are gone with
 * them), stop notification, unbind. NULL: no-op.
 */
void ad_free(struct ad *ad);
/* ad_set_config: use cfg from the next connection on; drops connections. */
void ad_set_config(struct ad *ad, const struct config *cfg);

/*
 * ad_connect: when not connected, try the [ldap] URIs in order (TLS as
 * configured, simple or GSSAPI bind), then read the rootDSE and the
 * invocationId, and check once whether tombstones are visible. Blocks at
 * most about [ldap] timeout per URI. Returns 0, or -1 with every URI's
 * failure in err.
 */
int ad_connect(struct ad *ad, char *err, size_t errlen);
/* ad_refresh_dc: re-read the rootDSE (highestCommittedUSN moves). */
int ad_refresh_dc(struct ad *ad, char *err, size_t errlen);
int ad_connected(const struct ad *ad);
/*
 * ad_user_attributes: the attributes an entry of the scope may have
 * (allowedAttributes of the first user the filter finds under base_dn:
 * class user with its superclasses and auxiliary classes), sorted, in a
 * new array of new strings; synchronous, for ringsyncctl schema. 0, or -1
 * with err (also when the scope holds no user).
 */
int ad_user_attributes(struct ad *ad, char ***out, size_t *n, char *err,
    size_t errlen);
void ad_disconnect(struct ad *ad);
const struct ad_dc_info *ad_dc(const struct ad *ad);
/* ad_deleted_visible: can the account see CN=Deleted Objects? (-1 unknown) */
int ad_deleted_visible(const struct ad *ad);

/* What an administrator names a user by (ad_find_kind). */
enum ad_find_by {
	AD_FIND_GUID,   /* an objectGUID in its string form */
	AD_FIND_DN,     /* has an '=' */
	AD_FIND_MAIL,   /* has an '@': mail or userPrincipalName */
	AD_FIND_SAM,    /* anything else: sAMAccountName */
};
enum ad_find_by ad_find_kind(const char *name);

/*
 * ad_find_user: the user name names (ad_find_kind), anywhere in the
 * domain, with attrs besides those ad_entry needs; a synchronous search
 * for ringsyncctl, bounded by [ldap] timeout. 1 found (e filled: clear
 * it), 0 none, 2 more than one, -1 with err.
 */
int ad_find_user(struct ad *ad, const char *name, const char *const *attrs,
    size_t nattrs, struct ad_entry *e, char *err, size_t errlen);
/* ad_filter_matches: does the entry at dn match filter? 1, 0, or -1. */
int ad_filter_matches(struct ad *ad, const char *dn, const char *filter,
    char *err, size_t errlen);
/* ad_op_counts: LDAP requests sent since ad_new (a paged search: one a page). */
void ad_op_counts(const struct ad *ad, unsigned long long *search,
    unsigned long long *modify, unsigned long long *bind);

struct ad_scan_ops {
	/* every in-scope user in the range, then every tombstone */
	void (*entry)(void *arg, const struct ad_entry *e);
	/* an entry without objectGUID or otherwise unusable: dn and reason */
	void (*skipped)(void *arg, const char *dn, const char *why);
	/* end of a page: return 0 to go on, 1 to pause until ad_scan_resume */
	int (*page)(void *arg);
	/* the end: ok 1, or 0 with a reason; the scan is freed after it */
	void (*done)(void *arg, int ok, const char *err);
};

struct ad_scan_req {
	struct ad_scan_plan plan;
	const char *const *attrs; /* mapped attributes to read */
	size_t nattrs;
	const char *required_attr; /* missing: a per-user problem (mail) */
	/* digest_attr: a binary attribute (a photo) the entries carry as
	 * the SHA-256 of its value only (ad_entry.digest); NULL: none */
	const char *digest_attr;
	/* filter: instead of the usnChanged range, these users of the base DN
	 * (user_filter applies too), and no tombstones; NULL: the range */
	const char *filter;
};

struct ad_scan;

/*
 * ad_scan_start: the paged usnChanged search of the base DN, then the
 * tombstones of the same range (when visible). Entries reach ops->entry
 * page by page; nothing is kept. Needs ad_connect first. Returns the scan
 * (owned by the module: freed after done, or by ad_scan_cancel), or NULL
 * with err.
 */
struct ad_scan *ad_scan_start(struct ad *ad, const struct ad_scan_req *req,
    const struct ad_scan_ops *ops, void *arg, char *err, size_t errlen);
void ad_scan_resume(struct ad_scan *s);
/* ad_scan_cancel: abandon the scan; done is not called. */
void ad_scan_cancel(struct ad_scan *s);

/* Why a write-back read the user by objectGUID before its modify. */
enum ad_wb_read {
	AD_WB_READ_NONE,         /* modified by the DN the scan saw, no read */
	AD_WB_READ_UNKNOWN,      /* the caller did not know AD's values */
	AD_WB_READ_MOVED,        /* the DN the scan saw is gone (noSuchObject) */
};

struct ad_wb_result {
	int ok;
	size_t changed;          /* attributes modified (0: all were equal) */
	const char *attr;        /* on failure: the attribute concerned, or NULL */
	const char *err;         /* on failure: what happened and what to do */
	int insufficient_access; /* the service account lacks the right */
	enum ad_wb_read read;    /* whether (and why) the user was read first */
};

typedef void (*ad_wb_cb)(void *arg, const struct ad_wb_result *r);

/*
 * A write-back request. With dn and have (what the scan saw of each
 * want[i]: NULL absent), the modify goes straight to dn; without them the
 * user is read by objectGUID first. Everything is copied.
 */
struct ad_wb_req {
	const char *guid;
	const struct ad_value *want;
	size_t n;
	const char *dn;                /* the user's DN as scanned, or NULL */
	const char *const *have;       /* n values as scanned, or NULL */
};

struct ad_wb;

/*
 * ad_writeback_start: modify only the want[] attributes whose value
 * differs from what AD holds (replace; delete when the wanted value is
 * empty). What AD holds is req->have when given, and the modify is sent
 * by req->dn without any search; if that DN is gone (the user moved or
 * was renamed since the scan), or when have or dn is NULL, the user's
 * current values and DN are read by objectGUID first (r->read says so).
 * On insufficient access each attribute is tried alone, so the result
 * names the one the account may not write. cb is called once with arg,
 * unless the write-back is cancelled. Returns the write-back (owned by
 * the module: freed after cb, or by ad_writeback_cancel), or NULL with
 * err (cb not called).
 */
struct ad_wb *ad_writeback_start(struct ad *ad, const struct ad_wb_req *req,
    ad_wb_cb cb, void *arg, char *err, size_t errlen);
/*
 * ad_writeback_cancel: abandon the write-back: cb is not called, and the
 * module keeps no pointer to arg. A modify already sent may still take
 * effect in AD (the next scan sees it). NULL: no-op.
 */
void ad_writeback_cancel(struct ad_wb *w);

/* The photo ad_photo_read found (borrowed for the callback's duration). */
struct ad_photo_result {
	int ok;                    /* the read worked (found or not) */
	int found;                 /* the user exists */
	const unsigned char *data; /* the value, or NULL: none, or too large */
	size_t len;                /* its bytes (also when too large) */
	int too_large;             /* longer than the read's max */
	const char *err;           /* when !ok: what happened */
};

typedef void (*ad_photo_cb)(void *arg, const struct ad_photo_result *r);

struct ad_photo;

/*
 * ad_photo_read: the first value of attr (a photo) of the user with
 * objectGUID guid, read right before its upload; a value longer than max
 * is not kept (r->too_large). cb is called once, unless cancelled.
 * Returns the read (owned by the module), or NULL with err (cb not
 * called).
 */
struct ad_photo *ad_photo_read(struct ad *ad, const char *guid,
    const char *attr, size_t max, ad_photo_cb cb, void *arg, char *err,
    size_t errlen);
/* ad_photo_cancel: abandon the read; cb is not called. NULL: no-op. */
void ad_photo_cancel(struct ad_photo *p);

/*
 * Group scope ([ldap] groups, docs/behaviour.md): the scope groups, every
 * group nested in them, and the users they bring in, all known by
 * objectGUID.
 */
#define AD_RANGE_STEP 1500   /* values asked for per ranged read (AD's cap) */

/* A member of the scope: a user's objectGUID and the scope group bringing it in. */
struct ad_member {
	char guid[AD_GUID_LEN + 1];
	unsigned int via;            /* index of the scope group */
};

/* A scope group as found in AD. */
struct ad_scope_group {
	char guid[AD_GUID_LEN + 1];  /* "" until resolved */
	char *dn;                    /* owned: the DN it has now */
	int deleted;                 /* a tombstone: it brings nobody in */
	unsigned int members;        /* users it brings in */
};

/*
 * ad_range_parse: an attribute name as a ranged read returns it:
 * "member;range=L-H" (more follow at H+1) or "member;range=L-*" (the
 * last), or the plain name (every value). Returns 0 with *next the first
 * value of the next read, or 0 when there is none; -1 when name is not
 * base's.
 */
int ad_range_parse(const char *name, const char *base, unsigned long *next);
/*
 * ad_extended_dn_guid: the objectGUID of an extended DN
 * ("<GUID=...>;<SID=...>;CN=..." as the extended DN control with flag 1
 * returns it) into out; 0, or -1 when it carries none.
 */
int ad_extended_dn_guid(const char *v, size_t len, char out[AD_GUID_LEN + 1]);
/*
 * ad_members_finish: sort m by objectGUID, keep one entry per user (the
 * lowest via), and drop the groups[] (sorted GUID strings of the nested
 * groups: members that are groups are not users). count (NULL: not
 * wanted) gets, per via, the users it brings in, also those another
 * group brings in too. Returns the new count.
 */
size_t ad_members_finish(struct ad_member *m, size_t n,
    const char (*groups)[AD_GUID_LEN + 1], size_t ngroups, unsigned int *count);
/*
 * ad_members_diff: walk two sorted member lists in step and call fn for
 * each user only one of them has (added: in now, not in was) and for each
 * whose bringing group changed (moved: both, with now's entry). Returns
 * the number of calls.
 */
enum ad_member_change { AD_MEMBER_ADDED, AD_MEMBER_REMOVED, AD_MEMBER_MOVED };
size_t ad_members_diff(const struct ad_member *was, size_t nwas,
    const struct ad_member *now, size_t nnow,
    void (*fn)(void *arg, const struct ad_member *m, enum ad_member_change ch),
    void *arg);

struct ad_scope_req {
	const char *const *dns;      /* the configured scope groups */
	const char *const *guids;    /* their known objectGUIDs, "" when none */
	size_t n;
	/* the known groups (scope and nested), sorted: a change to one of them
	 * in [lower, upper] means the membership must be read again */
	const char (*known)[AD_GUID_LEN + 1];
	size_t nknown;
	unsigned long long lower, upper;
	int reread;                  /* read the membership whatever changed */
	const char *what;            /* the groups in messages; NULL: "scope
	                              * group" (borrowed: must outlive the read) */
	int verify;                  /* without reread, and nothing changed:
	                              * resolve the scope groups all the same
	                              * (a group gone without a trace fails) */
};

struct ad_scope_result {
	int ok;
	char err[1024];              /* !ok: what is wrong, naming the group */
	int bad_group;               /* !ok: a group is missing or unfit (not
	                              * the connection) */
	int reread;                  /* the membership was read */
	struct ad_scope_group *groups; /* owned: req->n of them, in order */
	size_t ngroups;
	char (*nested)[AD_GUID_LEN + 1]; /* owned: every group reached, sorted */
	size_t nnested;
	struct ad_member *members;   /* owned: sorted by objectGUID */
	size_t nmembers;
	unsigned long reads;         /* LDAP searches it took */
};

/* the result is the callee's: ad_scope_result_free it */
typedef void (*ad_scope_cb)(void *arg, struct ad_scope_result *r);
void ad_scope_result_free(struct ad_scope_result *r);

struct ad_scope;

/*
 * ad_scope_start: without reread, one search for the groups changed in
 * [lower, upper] (tombstones too); when none is a known group, cb gets
 * reread 0 and nothing more is read (with verify, the scope groups are
 * resolved first). Otherwise each scope group is
 * resolved (by objectGUID when known, so a rename or move is followed,
 * else by DN), then the membership is read: member of each group with
 * ranged reads and the extended DN control (objectGUIDs, whatever the
 * DNs), and the groups nested in it, at any depth, cycles tolerated. A
 * group that cannot be found, is not a group, or is a primary group
 * (primaryGroupID: AD does not list those members in member) fails the
 * whole request. cb is called once unless cancelled. Returns the request
 * (owned by the module until cb, or ad_scope_cancel), or NULL with err.
 */
struct ad_scope *ad_scope_start(struct ad *ad, const struct ad_scope_req *req,
    ad_scope_cb cb, void *arg, char *err, size_t errlen);
/* ad_scope_cancel: abandon the request; cb is not called. NULL: no-op. */
void ad_scope_cancel(struct ad_scope *sc);
/*
 * ad_scope_check: synchronous, for ringsyncd -t: is dn a group that can
 * scope users (exists, is a group, is nobody's primary group)? 0, or -1
 * with err. Needs ad_connect.
 */
int ad_scope_check(struct ad *ad, const char *dn, char *err, size_t errlen);
/* ad_group_check: ad_scope_check with what naming the group in err. */
int ad_group_check(struct ad *ad, const char *dn, const char *what, char *err,
    size_t errlen);

enum ad_notify_event {
	AD_NOTIFY_CHANGE,   /* something changed (debounced) */
	AD_NOTIFY_ACTIVE,   /* the persistent searches are in place */
	AD_NOTIFY_REFUSED,  /* the server refused the control: poll only */
	AD_NOTIFY_LOST,     /* connection lost: reconnecting with backoff */
};

typedef void (*ad_notify_cb)(void *arg, enum ad_notify_event ev,
    const char *detail);

/*
 * ad_notify_start: change notification (control 1.2.840.113556.1.4.528)
 * on its own connection: a subtree search of the base DN, and a one-level
 * search of Deleted Objects when tombstones are visible. Changes arrive
 * as AD_NOTIFY_CHANGE after a debounce of debounce seconds. A lost
 * connection is retried with backoff; a refused control is reported once
 * and not retried. Returns 0 or -1 with err.
 */
int ad_notify_start(struct ad *ad, double debounce, ad_notify_cb cb, void *arg,
    char *err, size_t errlen);
void ad_notify_stop(struct ad *ad);

#endif

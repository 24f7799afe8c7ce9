/*
 * phone_int: what the files of the phone client share: phone.c (requests
 * and the client), phone_auth.c (OAuth), phone_scim.c (SCIM users and
 * discovery), phone_list.c (paged lists, custom fields) and phone_bulk.c
 * (bulk updates). Not part of the public API.
 *
 * A phone_req is one API request as the client sees it: it may wait for a
 * token, go out through the http module, come back 401 and go out again,
 * and ends with its done function, called exactly once (then it is
 * freed). A phone_op is one public call (a search, a paged list, a bulk
 * update): it starts requests and calls the caller back. The struct phone
 * owns both lists, so phone_free can drop everything in flight.
 */
#ifndef RINGSYNC_PHONE_INT_H
#define RINGSYNC_PHONE_INT_H

#include <ev.h>
#include <sys/queue.h>

#include "http.h"
#include "phone.h"

#define PHONE_ACCOUNT "/restapi/v1.0/account/~"   /* REST paths start here */
#define PHONE_SCIM "/scim/v2"                     /* SCIM paths start here */

struct phone_req;

/* Called once with the outcome; body is the parsed JSON of a 2xx or NULL. */
typedef void phone_req_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body);

struct phone_req {
	struct phone *p;                  /* not owned */
	LIST_ENTRY(phone_req) link;       /* p->reqs */
	TAILQ_ENTRY(phone_req) qlink;     /* p->auth.waiting or p->deferred */
	int queued;                       /* in one of those two queues */
	enum phone_call call;
	enum http_group group;
	char *method;                     /* owned */
	char *url;                        /* owned: absolute */
	char *body;                       /* owned, or NULL; wiped */
	struct http_part part;            /* borrowed from the op (the rest
	                                   * static): a one-part form instead of
	                                   * body; data NULL: none */
	const char *raw;                  /* a photo read's body, borrowed */
	size_t raw_len;
	const char *ctype;                /* static */
	int idempotent;
	int bearer;                       /* sends the access token */
	int basic;                        /* client authentication (token) */
	int probe;                        /* needs a token, sends nothing */
	int auth_tries;                   /* 401s answered so far */
	char *token_used;                 /* owned: the token it went with; wiped */
	struct phone_error deferred;      /* the outcome when in p->deferred */
	int grant;                        /* token requests: enum grant in phone_auth.c */
	phone_req_done *done;
	phone_req_done *then;             /* token requests: the op's continuation */
	void *ctx;                        /* the op's, not owned */
};

TAILQ_HEAD(phone_req_queue, phone_req);

struct phone_op {
	LIST_ENTRY(phone_op) link;        /* p->ops */
	void (*clear)(struct phone_op *); /* frees what the op owns */
};

/* phone_op_any: a call answered by one callback (discovery, custom fields). */
struct phone_op_any {
	struct phone_op base;
	union {
		phone_spc_cb *spc;
		phone_schema_cb *schema;
		phone_custom_fields_cb *fields;
		phone_extension_cb *ext;
		phone_ws_token_cb *ws;
	} cb;
	void *arg;
};

struct phone_auth {
	char *client_id;                  /* owned */
	char *client_secret;              /* owned; wiped */
	char *jwt;                        /* owned or NULL; wiped */
	struct store_tokens tok;          /* owned: the current tokens */
	long long lifetime;               /* s the access token was issued for; 0 unknown */
	double deadline;                  /* its expiry (Unix time, sub-second) */
	int granting;                     /* token requests in flight */
	struct phone_req_queue waiting;   /* requests waiting for a token */
	ev_timer refresh_timer;           /* renew before expiry (unref'd) */
	int refresh_armed;
	int store_failed;                 /* the store holds older tokens */
	ev_timer store_timer;             /* write them again (unref'd) */
	int store_armed;
	double store_delay;               /* s before the next attempt */
	int failed_said;                  /* AUTH_FAILED reported: quiet until a
	                                   * session works again */
};

struct phone {
	struct ev_loop *loop;             /* not owned */
	struct http *http;                /* owned */
	struct store *st;                 /* not owned; may be NULL */
	char *server;                     /* owned: no trailing slash */
	struct phone_opts opts;
	struct phone_auth auth;
	LIST_HEAD(, phone_req) reqs;      /* every live request */
	LIST_HEAD(, phone_op) ops;        /* every call not called back */
	size_t nops;
	struct phone_req_queue deferred;  /* outcomes known without I/O */
	ev_timer defer_timer;
	phone_event_cb *event_cb;
	void *event_arg;
	int photo_post;                   /* profile images go by POST (a PUT
	                                   * was answered 405) */
};

/* phone.c */
struct phone_req *phone_req_new(struct phone *p, enum phone_call call,
    const char *method, const char *url);
/* phone_req_send: with a token (waiting for one if needed), through http. */
void phone_req_send(struct phone_req *r);
/* phone_req_defer: end r with err from the loop, not from this call. */
void phone_req_defer(struct phone_req *r, const struct phone_error *err);
void phone_emit(struct phone *p, const struct phone_event *ev);
void *phone_op_new(struct phone *p, size_t size, void (*clear)(struct phone_op *));
/* phone_op_end: the op has called back: free it. */
void phone_op_end(struct phone *p, struct phone_op *op);
/* phone_url: server + path, newly allocated. */
char *phone_url(const struct phone *p, const char *path);
/*
 * phone_url_add: append key=value to *url's query, value percent-encoded;
 * *url is freed and replaced.
 */
void phone_url_add(char **url, const char *key, const char *value);
/* phone_url_segment: server + base + "/" + the percent-encoded segment. */
char *phone_url_segment(const struct phone *p, const char *base,
    const char *segment);
/*
 * phone_send_new: a request of call to url (taken over and freed), ending
 * with done(ctx), sent at once.
 */
void phone_send_new(struct phone *p, enum phone_call call, const char *method,
    char *url, phone_req_done *done, void *ctx);
/*
 * phone_send_json: phone_send_new with body (JSON, taken over). A POST is
 * never repeated by the client (phone_req_new): a create sent twice could
 * make a second user.
 */
void phone_send_json(struct phone *p, enum phone_call call, const char *method,
    char *url, json_t *body, phone_req_done *done, void *ctx);
/*
 * phone_defer_error: end a call that cannot start with kind and detail,
 * from the loop (done(ctx) runs later, never from this call).
 */
void phone_defer_error(struct phone *p, enum phone_call call,
    enum phone_err_kind kind, const char *detail, phone_req_done *done,
    void *ctx);
/* phone_malformed: set e to PHONE_MALFORMED with why as its detail. */
void phone_malformed(struct phone_error *e, const char *why);
/*
 * phone_simple_get: a phone_op_any and a GET of path answered by done;
 * the caller sets the op's callback in the union.
 */
struct phone_op_any *phone_simple_get(struct phone *p, enum phone_call call,
    const char *path, phone_req_done *done, void *arg);

/* phone_auth.c */
int phone_auth_init(struct phone *p, const struct config_telephony *cfg,
    char *err, size_t errlen);
void phone_auth_fini(struct phone *p);
/* phone_auth_token: the current access token when still valid, else NULL. */
const char *phone_auth_token(struct phone *p);
/* phone_auth_wait: queue r until a token is at hand (starting a grant). */
void phone_auth_wait(struct phone *p, struct phone_req *r, int force_jwt);
/*
 * phone_auth_failed: report PHONE_EV_AUTH_FAILED, once until tokens work
 * again (every request of a cycle would report it otherwise).
 */
void phone_auth_failed(struct phone *p, const char *detail);
/* phone_auth_rejected: the server refused token: forget it if current. */
void phone_auth_rejected(struct phone *p, const char *token);
/* phone_auth_grant_code: the authorization-code grant; op gets the end. */
void phone_auth_grant_code(struct phone *p, const struct phone_code_grant *g,
    phone_req_done *done, void *ctx);

#endif

/*
 * phone: the RingCentral-platform API as ringsync speaks it
 * (docs/phone-api.md): OAuth, SCIM users, extensions, phone numbers, custom
 * fields and extension-bulk-update tasks, asynchronously on the daemon's
 * libev loop over the http module.
 *
 * Every call returns at once and ends with exactly one callback (plus page
 * callbacks for lists), always from the loop, never from inside the call.
 * Results handed to a callback are borrowed: valid until it returns. A
 * callback may start new calls; it must not call phone_free.
 *
 * Errors are typed (enum phone_err_kind) from the HTTP status, the REST
 * errorCode and errors[].parameterName, the SCIM status/scimType/detail
 * and the OAuth error, never from message text alone; every response is
 * validated, and a missing or mistyped field is PHONE_MALFORMED for that
 * call. phone_error_message() turns an error into the administrator's
 * sentence (docs/behaviour.md, per-user errors).
 *
 * The client owns its http client, the client secret and JWT read from
 * their files, and the OAuth tokens, which it keeps in the state store
 * (each write in its own short transaction: callers must not hold a write
 * transaction across loop iterations). Every secret and token is
 * registered with log_secret_add the moment it is read or received. The
 * module never logs: retries, token renewals and failures are reported
 * through an optional event callback.
 */
#ifndef RINGSYNC_PHONE_H
#define RINGSYNC_PHONE_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "http.h"
#include "phone_field.h"
#include "store.h"

struct ev_loop;

/* ---------------------------------------------------------------------
 * Profile fields: enum phone_field and the registry are in phone_field.h. */

/*
 * phone_param_field: the [push] field name ("state", "firstName", ...)
 * for a parameter name the API reports, in REST form
 * (contact.businessAddress.state, extension.contact.businessAddress.state)
 * or SCIM form (addresses[type eq "work"].region, name.givenName, the
 * enterprise department, ...); also "status" and "extensionNumber". NULL
 * when the parameter names no mapped field. Pure; static strings.
 */
const char *phone_param_field(const char *param);

/* ---------------------------------------------------------------------
 * Errors. */

enum phone_err_kind {
	PHONE_OK,
	PHONE_TRANSIENT,         /* unreachable, timeout, 5xx: retry later */
	PHONE_RATE_LIMITED,      /* 429 after the scheduler's own retries */
	PHONE_AUTH,              /* credentials or session refused: a person acts */
	PHONE_DATA,              /* a value was rejected (param, value) */
	PHONE_CONFLICT,          /* 409: the change clashes with existing data */
	PHONE_NOT_FOUND,         /* the resource, or a parameter's resource */
	PHONE_MALFORMED,         /* JSON not parsable or not of the documented shape */
	PHONE_DUPLICATE_EMAIL,   /* several phone users share the email (value) */
	PHONE_NO_FREE_EXTENSION, /* create: no unassigned extension left */
	PHONE_EXTENSION_IN_USE,  /* the extension number belongs to another user */
};

/* Which call an error belongs to: typing depends on it. */
enum phone_call {
	PHONE_CALL_NONE,
	PHONE_CALL_TOKEN,
	PHONE_CALL_SCIM_SEARCH,
	PHONE_CALL_SCIM_CREATE,
	PHONE_CALL_SCIM_PATCH,
	PHONE_CALL_SCIM_DELETE,
	PHONE_CALL_SCIM_GET,
	PHONE_CALL_SCIM_CONFIG,
	PHONE_CALL_SCIM_SCHEMAS,
	PHONE_CALL_EXTENSIONS,
	PHONE_CALL_NUMBERS,
	PHONE_CALL_DIRECTORY,
	PHONE_CALL_EXT_NUMBERS,
	PHONE_CALL_CUSTOM_FIELDS,
	PHONE_CALL_BULK_UPDATE,
	PHONE_CALL_BULK_TASK,
	PHONE_CALL_REVOKE,
	PHONE_CALL_WS_TOKEN,
	PHONE_CALL_EXTENSION,
	PHONE_CALL_EXTENSION_CREATE,
	PHONE_CALL_SITES,
	PHONE_CALL_ROLES,
	PHONE_CALL_DEFAULT_ROLE,
	PHONE_CALL_COST_CENTERS,
	PHONE_CALL_SERVICE_INFO,
	PHONE_CALL_BATCH_CREATE,
	PHONE_CALL_ROLE_ASSIGN,
	PHONE_CALL_PHOTO_PUT,
	PHONE_CALL_PHOTO_GET,
	PHONE_CALL_PHOTO_DELETE,
	PHONE_NCALLS
};

/* A plain value: copy it freely, nothing to free. Strings are "" if unknown. */
struct phone_error {
	enum phone_err_kind kind;
	enum phone_call call;
	long http_status;      /* 0: no response */
	int retry_after;       /* seconds; -1 unknown (the caller may set it) */
	int may_have_acted;    /* TRANSIENT after the request went out */
	char code[48];         /* errorCode, scimType or OAuth error */
	char param[128];       /* parameter name the server gave */
	char value[256];       /* its value, or the email of a duplicate */
	char detail[256];      /* the server's message or a local reason */
};

const char *phone_err_kind_name(enum phone_err_kind k); /* "transient", ... */
const char *phone_call_name(enum phone_call c);         /* "scim-create", ... */

/* phone_error_ok: out = success of call. */
void phone_error_ok(struct phone_error *out, enum phone_call call);

/*
 * phone_error_parse: type the error response (status, body of len bytes,
 * any content) of call into out. Pure. A 2xx status here means the caller
 * could not use the body: PHONE_MALFORMED.
 */
void phone_error_parse(enum phone_call call, long status, const char *body,
    size_t len, struct phone_error *out);

/*
 * phone_error_from_item: type one REST errors[] entry ({errorCode,
 * message, parameterName, parameterValue}), as found in bulk-update task
 * results, for call. A non-object item gives PHONE_MALFORMED.
 */
void phone_error_from_item(const json_t *item, enum phone_call call,
    struct phone_error *out);

/*
 * phone_error_message: the administrator's sentence (docs/behaviour.md) for
 * e, naming brand ("TELUS Business Connect") where the text refers to the
 * phone system's portal or session. Returns buf.
 */
const char *phone_error_message(const struct phone_error *e, const char *brand,
    char *buf, size_t len);

/* ---------------------------------------------------------------------
 * Request bodies. */

struct phone_custom_value {
	const char *id;        /* custom field id (borrowed) */
	const char *value;     /* borrowed; "" clears */
};

/*
 * What to push for one user. Every string is borrowed: NULL means the
 * field is not mapped (left untouched), "" clears it.
 */
struct phone_profile {
	const char *field[PHONE_NFIELDS];
	const struct phone_custom_value *custom;
	size_t ncustom;
};

/* One record of an extension-bulk-update. */
struct phone_bulk_item {
	long long extension_id;
	const struct phone_profile *profile; /* NULL: no contact change */
	const char *status;                  /* "Enabled", "Disabled" or NULL */
	const char *extension_number;        /* a new extension number, or NULL */
	const char *site_id;                 /* move to this site, or NULL */
};

/* What a REST create sets besides the profile (NULL: not set). */
struct phone_create_extra {
	const char *extension_number;  /* NULL: the next free one */
	const char *site_id;
	const char *cost_center_id;
};

/*
 * phone_bulk_record: the ExtensionBulkUpdateInfo JSON of item (id,
 * status, extensionNumber, contact with businessAddress, customFields).
 * New reference.
 */
json_t *phone_bulk_record(const struct phone_bulk_item *item);

/*
 * phone_scim_create_body: the SCIM User to create for prof: userName =
 * email, externalId (objectGUID), name, emails[work], phoneNumbers
 * (work, mobile), addresses[work], title, enterprise department, active.
 * Empty and unmapped fields are left out (custom fields cannot be set
 * through SCIM: push them with a bulk update afterwards). NULL with a
 * reason when email, firstName or lastName is missing.
 */
json_t *phone_scim_create_body(const struct phone_profile *prof,
    const char *external_id, char *err, size_t errlen);

/*
 * phone_extension_create_body: the ExtensionCreationRequest for prof: type
 * User, status Enabled, contact with businessAddress (empty fields left
 * out), customFields, and x's extensionNumber, site {id} and costCenter
 * {id} when set.
 * NULL with a reason when email, firstName or lastName is missing.
 */
json_t *phone_extension_create_body(const struct phone_profile *prof,
    const struct phone_create_extra *x, char *err, size_t errlen);

/* ---------------------------------------------------------------------
 * Results, and their parsers (pure; 0, or -1 with a reason: malformed).
 * A parsed struct owns its strings: clear it with its _clear function.
 */

struct phone_user {            /* a SCIM User */
	char *id;                  /* the SCIM user id (not the extension id:
	                            * the platform does not say they match) */
	char *user_name, *external_id, *given_name, *family_name, *email;
	int active;
};

struct phone_custom {          /* a custom field value of an extension */
	char *id, *value, *display_name;
};

struct phone_extension {
	long long id;
	char *extension_number, *type, *status, *name;
	char *site_id;              /* site.id on a multi-site account, or NULL */
	char *field[PHONE_NFIELDS]; /* contact values, NULL when absent */
	struct phone_custom *custom;
	size_t ncustom;
};

struct phone_number {
	long long id;
	char *phone_number;        /* E.164 */
	char *usage_type, *type, *status;
	int primary;
	long long extension_id;    /* 0: not assigned to an extension */
	char *extension_number;    /* or NULL */
};

/*
 * A company directory entry (GET .../directory/entries): only what the
 * import needs. The directory lists Enabled, Disabled and NotActivated
 * extensions that are not hidden, and only the numbers not hidden.
 */
struct phone_dir_entry {
	long long id;              /* the extension id (sent as a string) */
	char *email, *status, *extension_number; /* or NULL */
	char *direct;              /* the first DirectNumber shown, the primary
	                              one first; NULL: none shown */
};

struct phone_custom_field {    /* an account custom field */
	char *id, *category, *display_name;
};

/* What the account offers a new user: sites, roles and cost centers. */
enum phone_items {
	PHONE_ITEMS_SITES,        /* GET .../sites (Light) */
	PHONE_ITEMS_ROLES,        /* GET .../user-role (Medium, paged) */
	PHONE_ITEMS_COST_CENTERS, /* v2 GET .../cost-centers (Light) */
};

struct phone_item {            /* one site, role or cost center */
	char *id;                  /* a cost center's number as text */
	char *name;                /* a role's displayName */
	char *code;                /* a site's code, a cost center's
	                            * billingCode; NULL: none */
};

struct phone_spc {             /* SCIM ServiceProviderConfig */
	int patch, bulk, filter, sort, etag, change_password;
	long long max_results;
};

struct phone_schema_attr {
	char *schema;              /* the schema URI */
	char *name;                /* dotted: "name.givenName", "addresses.region" */
	char *type;                /* "string", "complex", "boolean", ... */
	int multi, required;
};

struct phone_schema {
	struct phone_schema_attr *v;
	size_t n;
};

/* Paging of a REST list response. */
struct phone_page {
	long long page, total_pages, total_elements;
	int has_next;
};

struct phone_bulk_result {
	long long extension_id;
	int ok;
	struct phone_error err;    /* kind PHONE_OK when ok */
};

int phone_parse_user(const json_t *j, struct phone_user *out, char *err,
    size_t errlen);
void phone_user_clear(struct phone_user *u);
int phone_parse_extension(const json_t *j, struct phone_extension *out,
    char *err, size_t errlen);
void phone_extension_clear(struct phone_extension *x);
int phone_parse_number(const json_t *j, struct phone_number *out, char *err,
    size_t errlen);
void phone_number_clear(struct phone_number *n);
int phone_parse_dir_entry(const json_t *j, struct phone_dir_entry *out,
    char *err, size_t errlen);
void phone_dir_entry_clear(struct phone_dir_entry *d);
/*
 * phone_parse_dir_page: the directory's paging (page, totalPages; no
 * navigation): *has_next when a page follows. Without totalPages, a page
 * of n > 0 entries may have a next one.
 */
int phone_parse_dir_page(const json_t *j, long long asked, size_t n,
    int *has_next, char *err, size_t errlen);
int phone_parse_custom_field(const json_t *j, struct phone_custom_field *out,
    char *err, size_t errlen);
void phone_custom_field_clear(struct phone_custom_field *f);
int phone_parse_item(const json_t *j, enum phone_items what,
    struct phone_item *out, char *err, size_t errlen);
void phone_item_clear(struct phone_item *it);
/* phone_parse_service_info: limits.maxExtensionNumberLength (1..8). */
int phone_parse_service_info(const json_t *j, int *max_ext_len, char *err,
    size_t errlen);
int phone_parse_spc(const json_t *j, struct phone_spc *out, char *err,
    size_t errlen);
/* phone_parse_schemas: a ListResponse of Schema resources, flattened. */
int phone_parse_schemas(const json_t *j, struct phone_schema *out, char *err,
    size_t errlen);
void phone_schema_clear(struct phone_schema *s);
/* phone_parse_page: paging/navigation of a list response for page asked. */
int phone_parse_page(const json_t *j, long long asked, struct phone_page *out,
    char *err, size_t errlen);
/*
 * phone_parse_task: a bulk-update task. Returns 1 when it has completed
 * (or failed) and res[0..n-1] (extension_id set by the caller) are
 * filled, 0 while it is still running, -1 when malformed.
 */
int phone_parse_task(const json_t *task, struct phone_bulk_result *res,
    size_t n, char *err, size_t errlen);
/*
 * phone_parse_token: an OAuth token response received at now (Unix time)
 * into out (owned strings). The tokens are registered with
 * log_secret_add before anything else happens to them.
 */
int phone_parse_token(const json_t *j, long long now, struct store_tokens *out,
    char *err, size_t errlen);

/* ---------------------------------------------------------------------
 * OAuth helpers for the authorization-code login (ringsyncctl). */

/*
 * phone_random_token: nbytes (1 to 96) from libcrypto's RAND_bytes,
 * base64url without padding, into buf. Returns 0, or -1 when nbytes is out
 * of range, buf is too small or no randomness is available.
 */
int phone_random_token(size_t nbytes, char *buf, size_t len);
/*
 * phone_pkce_challenge: the RFC 7636 S256 challenge of verifier (43
 * characters and the NUL: 44 bytes) into buf, SHA-256 from libcrypto.
 * Returns 0, or -1 (buf empty) when buf is too small or the digest fails.
 */
int phone_pkce_challenge(const char *verifier, char *buf, size_t len);
/*
 * phone_authorize_url: the authorization page URL on server for client_id
 * (and brand_id, the partner's sign-in page; NULL: none) with
 * redirect_uri, state and an S256 challenge, every value encoded. Newly
 * allocated, or NULL when server is not a URL.
 */
char *phone_authorize_url(const char *server, const char *client_id,
    const char *brand_id, const char *redirect_uri, const char *state,
    const char *challenge);

/* ---------------------------------------------------------------------
 * The client. */

struct phone_opts {
	int max_attempts;          /* per request; 0: HTTP_DEFAULT_ATTEMPTS */
	int per_page;              /* list page size; 0: 1000 */
	double poll_first;         /* s before the first task poll; 0: 1 */
	double poll_max;           /* s between task polls at most; 0: 5 */
	unsigned int task_timeout; /* s a bulk task may take; 0: 600 */
	size_t max_body;           /* response bytes; 0: HTTP_MAX_BODY */
};

enum phone_event_kind {
	PHONE_EV_RETRY,       /* a request failed and is repeated after delay */
	PHONE_EV_RATE_WAIT,   /* 429: its rate group waits delay seconds */
	PHONE_EV_TOKEN,       /* new tokens (detail: the grant) */
	PHONE_EV_AUTH_FAILED, /* a grant was refused (detail: the error code);
	                       * once, until a session works again */
	PHONE_EV_STORE_ERROR, /* the tokens could not be stored (detail) */
	PHONE_EV_REDIRECT_REFUSED, /* a redirect not followed (detail names
	                            * both servers); the call fails transient */
};

struct phone_event {
	enum phone_event_kind kind;
	const char *method, *url;  /* RETRY, RATE_WAIT, REDIRECT_REFUSED: the
	                            * request, no query */
	const char *group;         /* its rate group */
	long status;               /* 0: connection failure */
	double delay;              /* s */
	int attempt;
	const char *detail;        /* never a secret */
	long long access_expires, refresh_expires; /* TOKEN: Unix times */
};

typedef void phone_event_cb(const struct phone_event *ev, void *arg);

typedef void phone_done_cb(const struct phone_error *err, void *arg);
typedef void phone_user_cb(const struct phone_error *err,
    const struct phone_user *user, void *arg);
typedef void phone_extensions_cb(const struct phone_extension *v, size_t n,
    void *arg);
typedef void phone_numbers_cb(const struct phone_number *v, size_t n,
    void *arg);
typedef void phone_directory_cb(const struct phone_dir_entry *v, size_t n,
    void *arg);
typedef void phone_custom_fields_cb(const struct phone_error *err,
    const struct phone_custom_field *v, size_t n, void *arg);
typedef void phone_spc_cb(const struct phone_error *err,
    const struct phone_spc *spc, void *arg);
typedef void phone_schema_cb(const struct phone_error *err,
    const struct phone_schema *schema, void *arg);
typedef void phone_bulk_cb(const struct phone_error *err,
    const struct phone_bulk_result *v, size_t n, void *arg);

struct phone;

/*
 * phone_new: a client for cfg on loop. Reads client_secret_file and, when
 * set, jwt_file (both registered as secrets), and the stored tokens when
 * st is not NULL (st is borrowed; NULL keeps tokens in memory only).
 * opts may be NULL. Returns NULL with a message in err.
 */
struct phone *phone_new(struct ev_loop *loop, const struct config_telephony *cfg,
    struct store *st, const struct phone_opts *opts, char *err, size_t errlen);
/* phone_free: drop every call in flight without calling back. NULL: no-op. */
void phone_free(struct phone *p);
/*
 * phone_cancel_all: drop every call in flight (and its requests, queued,
 * waiting for a token or on the wire) without calling back; the session
 * and the pacing stay. After it returns no callback of a call made before
 * runs and the client keeps no pointer to a caller's memory. Not from
 * inside one of the client's callbacks.
 */
void phone_cancel_all(struct phone *p);
void phone_set_event_cb(struct phone *p, phone_event_cb *cb, void *arg);
/* phone_pending: calls started and not yet called back. */
size_t phone_pending(const struct phone *p);
/*
 * phone_write_wait: seconds until a write (Heavy) request could be sent
 * at once, 0 now, -1 when writes are queued already (see http_group_wait).
 */
double phone_write_wait(struct phone *p);
/* phone_requests: API requests sent so far (every attempt counts). */
unsigned long long phone_requests(const struct phone *p);
/* phone_group_counts: requests sent and 429s received in a rate group. */
void phone_group_counts(const struct phone *p, enum http_group g,
    unsigned long long *sent, unsigned long long *limited);
/* phone_group_use: a rate group's budget used now, by lane (http.h). */
void phone_group_use(struct phone *p, enum http_group g,
    struct http_group_use *u);
/* phone_group_budget: a rate group's budget as the client knows it now. */
void phone_group_budget(const struct phone *p, enum http_group g, int *limit,
    int *window);
/* phone_token_expiry: the current tokens' expiry (Unix times, 0: none). */
void phone_token_expiry(const struct phone *p, long long *access,
    long long *refresh);
/*
 * phone_tokens_copy: copies of the current tokens into out, for a caller
 * that must store them itself (ringsyncctl while ringsyncd holds the
 * store). The caller owns the copies (store_tokens_clear) and must never
 * print them. Returns 0, or -1 when there is no access token.
 */
int phone_tokens_copy(const struct phone *p, struct store_tokens *out);

/*
 * Authentication. Access tokens come from the refresh token, else the JWT
 * credential; they are renewed before they expire. A call answered 401
 * renews the token once by refresh, then by re-authentication with the
 * JWT; after that it fails with PHONE_AUTH.
 */
/* phone_auth_check: make sure a valid access token is at hand. */
void phone_auth_check(struct phone *p, phone_done_cb *cb, void *arg);

struct phone_code_grant {
	const char *code, *redirect_uri, *code_verifier;
};
/* phone_auth_code: exchange an authorization code (PKCE) for tokens. */
void phone_auth_code(struct phone *p, const struct phone_code_grant *g,
    phone_done_cb *cb, void *arg);
/*
 * phone_auth_revoke: end the session token belongs to (POST
 * /restapi/oauth/revoke with client authentication: the platform ends the
 * whole session, access and refresh token alike). token is copied; the
 * client's own tokens are left as they are (a login revokes the session
 * it replaced this way).
 */
void phone_auth_revoke(struct phone *p, const char *token, phone_done_cb *cb,
    void *arg);
/*
 * phone_auth_logout: revoke the current session (by its refresh token,
 * else its access token), then forget the tokens in memory and in the
 * store. PHONE_OK at once when there is no session; on a failure the
 * tokens stay, so that the logout can be repeated.
 */
void phone_auth_logout(struct phone *p, phone_done_cb *cb, void *arg);

/* SCIM. The user callback gets NULL when no user matched. */
void phone_find_user(struct phone *p, const char *email, phone_user_cb *cb,
    void *arg);
/* phone_create_user: POST /Users; never repeated once it may have acted. */
void phone_create_user(struct phone *p, const struct phone_profile *prof,
    const char *external_id, phone_user_cb *cb, void *arg);
/* phone_set_active: PATCH replace active of SCIM user id. */
void phone_set_active(struct phone *p, const char *user_id, int active,
    phone_user_cb *cb, void *arg);
/*
 * phone_delete_user: DELETE of SCIM user id (deactivate = delete): the
 * extension becomes unassigned and its numbers go back to the inventory.
 * The callback gets no user.
 */
void phone_delete_user(struct phone *p, const char *user_id, phone_user_cb *cb,
    void *arg);
/* phone_get_user: GET of SCIM user id (NOT_FOUND when there is none). */
void phone_get_user(struct phone *p, const char *user_id, phone_user_cb *cb,
    void *arg);
void phone_scim_config(struct phone *p, phone_spc_cb *cb, void *arg);
void phone_scim_schemas(struct phone *p, phone_schema_cb *cb, void *arg);

/* REST lists, paged to the end: page callbacks, then done. */
struct phone_ext_filter {
	const char *type;          /* "User", or NULL: any */
	const char *status;        /* "Enabled", "Enabled,Disabled" or NULL */
	const char *email;         /* or NULL */
};
void phone_list_extensions(struct phone *p, const struct phone_ext_filter *f,
    phone_extensions_cb *page, phone_done_cb *done, void *arg);
/* phone_list_numbers: account numbers of usage_type (NULL: all). */
void phone_list_numbers(struct phone *p, const char *usage_type,
    phone_numbers_cb *page, phone_done_cb *done, void *arg);
void phone_custom_fields(struct phone *p, phone_custom_fields_cb *cb,
    void *arg);
/*
 * phone_list_directory: the company directory's User entries (Medium,
 * PHONE_DIRECTORY_PER_PAGE asked a page; a server that gives fewer pages
 * on as well).
 */
#define PHONE_DIRECTORY_PER_PAGE 2000
void phone_list_directory(struct phone *p, phone_directory_cb *page,
    phone_done_cb *done, void *arg);
/* phone_extension_numbers: one extension's numbers of usage_type (Light). */
void phone_extension_numbers(struct phone *p, long long ext_id,
    const char *usage_type, phone_numbers_cb *page, phone_done_cb *done,
    void *arg);

/* phone_get_extension: one extension (Light); x is borrowed for the call. */
typedef void phone_extension_cb(const struct phone_error *err,
    const struct phone_extension *x, void *arg);
void phone_get_extension(struct phone *p, long long ext_id,
    phone_extension_cb *cb, void *arg);
/*
 * phone_list_items: every site, role or cost center of the account (all
 * pages); v is borrowed for the call. A role read and the default role
 * need the app permission RoleManagement, cost centers the account's
 * cost-center feature: without, an error of kind PHONE_AUTH.
 */
typedef void phone_items_cb(const struct phone_error *err,
    const struct phone_item *v, size_t n, void *arg);
void phone_list_items(struct phone *p, enum phone_items what,
    phone_items_cb *cb, void *arg);
/* phone_default_role: the account's default user role (n 1; Light). */
void phone_default_role(struct phone *p, phone_items_cb *cb, void *arg);
/*
 * phone_role_assign: give the n extensions (ids, borrowed for the call)
 * the role role_id in place of theirs: one Heavy bulk-assign. Needs the
 * app permission RoleManagement (without: PHONE_AUTH, code CMN-408). How
 * many ids a call may carry is not documented: more than the platform
 * takes is a PHONE_DATA error (phone_error_batch_limit).
 */
typedef void phone_done_cb(const struct phone_error *err, void *arg);
void phone_role_assign(struct phone *p, const char *role_id,
    const char *const *ext_ids, size_t n, phone_done_cb *cb, void *arg);

/*
 * Profile images (docs/phone-api.md). phone_photo_put: data (len bytes of
 * an image of MIME type type, borrowed for the call) becomes extension
 * ext_id's profile image: one Heavy multipart/form-data PUT of one part
 * "image", answered 204; a server that answers a PUT 405 gets a POST, then
 * and from then on. Refused images (type, size, megapixels: ACT-330,
 * ACT-331, ACT-334, HTTP 413) are PHONE_DATA. phone_photo_get: the image
 * set now (Medium); none: PHONE_NOT_FOUND; data borrowed for the callback.
 * phone_photo_delete: remove it (Medium).
 */
void phone_photo_put(struct phone *p, const char *ext_id, const void *data,
    size_t len, const char *type, phone_done_cb *cb, void *arg);
typedef void phone_photo_cb(const struct phone_error *err,
    const unsigned char *data, size_t len, void *arg);
void phone_photo_get(struct phone *p, const char *ext_id, phone_photo_cb *cb,
    void *arg);
void phone_photo_delete(struct phone *p, const char *ext_id,
    phone_done_cb *cb, void *arg);
/*
 * phone_photo_type: the MIME type of an image by its first bytes (JPEG,
 * PNG, GIF, BMP), or NULL for anything else. Pure.
 */
const char *phone_photo_type(const unsigned char *data, size_t len);
/*
 * phone_error_batch_limit: the most entries a batch may carry as e says it
 * ("Batch request is limited to N entries", CMN-106), or 0 when e is not
 * that error.
 */
unsigned int phone_error_batch_limit(const struct phone_error *e);
/* phone_service_info: the account's longest extension number (Light). */
typedef void phone_service_cb(const struct phone_error *err, int max_ext_len,
    void *arg);
void phone_service_info(struct phone *p, phone_service_cb *cb, void *arg);

/*
 * phone_batch_create: create up to PHONE_BATCH_MAX users in one call (v2
 * batch provisioning, Heavy): per user the names, email, mobile number and
 * x's extension number and cost center (no site: the batch has none).
 * cb gets the call's error, or one result per answer item; whether
 * results[i] belongs to profiles[i] is not known: confirm by email.
 */
#define PHONE_BATCH_MAX 10
struct phone_batch_result {
	int ok;
	long long extension_id;     /* when ok */
	struct phone_error err;     /* when not ok */
};
typedef void phone_batch_cb(const struct phone_error *err,
    const struct phone_batch_result *v, size_t n, void *arg);
void phone_batch_create(struct phone *p, const struct phone_profile *const *prof,
    const struct phone_create_extra *x, size_t n, phone_batch_cb *cb,
    void *arg);
/* phone_batch_body: the BatchProvisionUsersRequest of phone_batch_create. */
json_t *phone_batch_body(const struct phone_profile *const *prof,
    const struct phone_create_extra *x, size_t n);
/* phone_parse_batch: the results of a batch create (v has n + 1 room). */
int phone_parse_batch(const json_t *j, struct phone_batch_result *v,
    size_t max, size_t *n, char *err, size_t errlen);

/*
 * phone_create_extension: create a user extension with the REST create
 * (POST .../extension, Medium): contact, custom fields and the extension
 * number (NULL: the next free one) in one call; cb gets the new extension.
 * Never repeated by the client: a repeat could make a second user.
 */
void phone_create_extension(struct phone *p, const struct phone_profile *prof,
    const struct phone_create_extra *x, phone_extension_cb *cb, void *arg);

/*
 * phone_ws_token: a WebSocket token for the change feed (POST
 * /restapi/oauth/wstoken, Auth group, with the session's access token):
 * cb(err, token, uri, expires_in) with borrowed strings, the token
 * registered with log_secret_add and wiped after the call.
 */
typedef void phone_ws_token_cb(const struct phone_error *err,
    const char *token, const char *uri, long long expires_in, void *arg);
void phone_ws_token(struct phone *p, phone_ws_token_cb *cb, void *arg);

/*
 * phone_bulk_update: update n extensions, at most 500 per request (the
 * requests are paced like any other), poll each task until it completes,
 * and call back once with one result per item, in the items' order. err
 * is PHONE_OK when every request went through (each result still has its
 * own outcome), else the first request-level error. The items are copied
 * before the call returns.
 */
void phone_bulk_update(struct phone *p, const struct phone_bulk_item *items,
    size_t n, phone_bulk_cb *cb, void *arg);

#define PHONE_BULK_MAX 500

#endif

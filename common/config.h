/*
 * config: the INI configuration of ringsyncd.conf(5), parsed with inih into
 * one struct config.
 *
 * One table (config.c) drives parsing, defaults, bounds, required keys,
 * secret files and reloadability. Every problem is collected, not only the
 * first, each as "file:line: message", in three passes: the lines
 * themselves, cross-field checks, then secret files and the state
 * directory. The caller owns the struct config and the problem list.
 */
#ifndef RINGSYNC_CONFIG_H
#define RINGSYNC_CONFIG_H

#include <stddef.h>

enum config_deactivate {
	CONFIG_DEACTIVATE_DISABLE,
	CONFIG_DEACTIVATE_DELETE,
	CONFIG_DEACTIVATE_NONE,
};

/* [telephony] create_method: the call that creates a phone user. */
enum config_create_method {
	CONFIG_CREATE_SCIM,      /* SCIM POST /Users (Heavy) */
	CONFIG_CREATE_EXTENSION, /* REST POST .../extension (Medium) */
	CONFIG_CREATE_BATCH,     /* v2 batch provisioning, 10 a call (Heavy) */
};

/* max_deactivations: an absolute count, or a percentage of linked users. */
struct config_threshold {
	unsigned int value;
	int percent; /* 1: value is a percentage (0..100) */
};

struct config_strv {
	char **v; /* owned, each owned */
	size_t n;
};

/* One "key = value" of [push] or [writeback], with its line (0: default). */
struct expr;

struct config_pair {
	char *key;   /* owned */
	char *value; /* owned */
	int line;
	struct expr *expr; /* owned: [push], a value that is more than an AD
	                    * attribute name (expr.h); NULL: the attribute */
};

struct config_map {
	struct config_pair *v; /* owned */
	size_t n;
};

struct config {
	char *path; /* owned: the file it came from */
	struct config_ldap {
		struct config_strv uri;
		struct config_strv groups; /* scope groups; n 0: none */
		char *base_dn, *user_filter, *bind_dn, *bind_password_file;
		char *sasl_mech, *keytab, *tls_ca_cert;
		int starttls, tls_verify, change_notify;
		unsigned int page_size;
		unsigned int timeout; /* seconds */
	} ldap;
	struct config_telephony {
		char *brand, *server, *client_id, *client_secret_file;
		char *jwt_file, *tls_ca_cert;
		char *redirect_uri; /* auth login: registered with the app, exactly */
		char *connect_to;   /* HOST:PORT instead of the server's, or NULL */
		const char *brand_id; /* of a known brand (brand.h), or NULL */
		int tls_verify;
		unsigned int timeout; /* seconds */
		unsigned int read_share; /* % of a group's budget the import uses */
		int change_feed;         /* subscribe to the change events */
		enum config_create_method create_method;
	} telephony;
	struct config_sync {
		unsigned int interval, import_interval, full_sync_interval; /* s */
		unsigned int history; /* s: ringsyncctl history; 0: none kept */
		int create_users, dry_run;
		enum config_deactivate deactivate;
		struct config_threshold max_deactivations;
		char *state_dir;
	} sync;
	struct config_map push;      /* phone field -> AD attribute */
	struct config_map writeback; /* AD attribute -> template */
	struct config_map create;    /* phone field -> expression, at create
	                              * only: never in push (config_load) */
	struct config_map policy;    /* [policy] site, cost_center ->
	                              * expression (a name or code) */
	struct config_map roles;     /* [roles] role name -> group DN, in the
	                              * file's order (the first rule wins) */
	int manage_roles;            /* [policy]: leavers get the default role */
	char *photo_attr;            /* [push] photo: the AD attribute, or NULL */
	struct config_range {        /* [policy] extension_range[.<site>] */
		char *site;              /* owned: a site name or code; NULL: any */
		char lo[9], hi[9];       /* the range's ends, the same length */
		int line;
	} *ranges;                   /* owned */
	size_t nranges;
	struct config_log {
		int facility; /* LOG_DAEMON, ... */
		int level;    /* LOG_ERR .. LOG_DEBUG */
		char *metrics_file; /* Prometheus text, after every cycle; or NULL */
	} log;
	struct config_notify {
		char *command, *webhook, *tls_ca_cert, *mail_to, *mail_from;
		char *sendmail;
		unsigned int min_interval, alert_after; /* seconds */
		struct config_threshold failure_alert;
	} notify;
};

struct config_problems {
	char **v; /* owned: "file:line: message" */
	size_t n;
};

/* config_load flags */
#define CONFIG_NO_FILE_CHECKS 0x1 /* skip secret-file and state_dir checks */

/*
 * config_load: parse path, apply defaults, check everything. Returns 0 and
 * sets *out when there is no problem; otherwise returns -1, *out is NULL
 * and pr holds every problem found (pr may be reused: problems append).
 */
int config_load(const char *path, int flags, struct config **out,
    struct config_problems *pr);
void config_free(struct config *cfg);
void config_problems_free(struct config_problems *pr);

/*
 * config_pair_attrs: the AD attributes a [push] pair reads (its value, or
 * those its expression reads) into out, at most max; returns how many it
 * put there. Borrowed from the pair.
 */
size_t config_pair_attrs(const struct config_pair *pv, const char **out,
    size_t max);
/*
 * config_pair_attr: what a message names as the AD attribute of pv: the
 * attribute, the one attribute its expression reads, or else the
 * expression. Borrowed from the pair.
 */
const char *config_pair_attr(const struct config_pair *pv);
/*
 * config_range_for: the extension_range of the site named site_name or
 * coded site_code (NULLs: the main site, or no site), else the one
 * without a site, else NULL.
 */
const struct config_range *config_range_for(const struct config *cfg,
    const char *site_name, const char *site_code);
/* config_map_pair: the pair of key (case-insensitive), or NULL. */
const struct config_pair *config_map_pair(const struct config_map *m,
    const char *key);
/* config_map_get: the value for key (case-insensitive), or NULL. */
const char *config_map_get(const struct config_map *m, const char *key);

/*
 * config_parse_duration: "90", "30s", "5m", "2h", "1d" into seconds.
 * Returns 0, or -1 when malformed or above max (seconds).
 */
int config_parse_duration(const char *s, unsigned long max, unsigned int *out);
/* config_parse_threshold: "50" or "10%". Returns 0 or -1. */
int config_parse_threshold(const char *s, struct config_threshold *out);
/* config_parse_bool: yes/no, true/false, on/off, 1/0. Returns 0/1 or -1. */
int config_parse_bool(const char *s);

/*
 * config_template_check: a write-back template is UTF-8 and uses only
 * {directNumber} and {extensionNumber}, with balanced braces. Returns 0,
 * or -1 with a reason.
 */
int config_template_check(const char *tpl, char *err, size_t errlen);

/*
 * config_threshold_limit: the number of deactivations allowed for linked
 * users under threshold t (a percentage rounds down, at least 1 when the
 * percentage is non-zero).
 */
unsigned int config_threshold_limit(const struct config_threshold *t,
    unsigned int linked);

/*
 * config_read_secret: the content of a secret file, trailing new lines
 * removed, newly allocated into *out and registered with log_secret_add.
 * Returns 0, or -1 with a message naming the file.
 */
int config_read_secret(const char *path, char **out, char *err, size_t errlen);

/*
 * config_keep_restart_keys: keys that differ between old and new and need a
 * restart (state_dir): names them into err and copies the old value into
 * new so the running daemon keeps it. Returns the number of such keys.
 */
int config_keep_restart_keys(const struct config *old, struct config *new,
    char *err, size_t errlen);

/* Table access for the sample-configuration test and documentation. */
struct config_key_info {
	const char *section, *name, *def, *doc;
	int required, secret;
};
size_t config_key_count(void);
const struct config_key_info *config_key_at(size_t i, struct config_key_info *buf);

#endif

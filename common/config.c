#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brand.h"
#include "expr.h"
#include "log.h"
#include "phone_field.h"
#include "util.h"

#define MAX_DURATION (366UL * 86400UL)
#define MAX_SCOPE_GROUPS 64
#define MAX_ROLE_RULES 64
#define PACKAGE_GROUP "ringsync"

enum ktype {
	T_STR, T_DN, T_FILTER, T_PATH, T_BOOL, T_UINT, T_DURATION, T_URIS, T_DNS,
	T_URL, T_DEACTIVATE, T_THRESHOLD, T_FACILITY, T_LEVEL, T_SASL, T_PERCENT,
	T_CREATE_METHOD,
};

/* key flags */
#define K_REQUIRED 0x1 /* must be set (no default) */
#define K_SECRET   0x2 /* a file that must be private to the daemon */
#define K_RESTART  0x4 /* a change needs a restart, not a SIGHUP */
#define K_FILE     0x8 /* a file that must exist and be readable */

struct key {
	const char *section, *name;
	enum ktype type;
	size_t off;
	const char *def; /* default, parsed like a file value; NULL: unset */
	unsigned int flags;
	unsigned long min, max;
	const char *doc;
};

#define F(m) offsetof(struct config, m)

/*
 * The configuration table (ringsyncd.conf(5)). Every key, its type,
 * bounds and default. etc/ringsyncd.conf documents the same keys; a unit
 * test checks that the two agree.
 */
static const struct key keys[] = {
	{ "ldap", "uri", T_URIS, F(ldap.uri), NULL, K_REQUIRED, 0, 0,
	  "LDAP URIs of the domain controllers, tried in order" },
	{ "ldap", "base_dn", T_DN, F(ldap.base_dn), NULL, K_REQUIRED, 0, 0,
	  "subtree searched for users" },
	{ "ldap", "user_filter", T_FILTER, F(ldap.user_filter),
	  "(&(objectCategory=person)(objectClass=user)(mail=*))", 0, 0, 0,
	  "LDAP filter selecting the users in scope" },
	{ "ldap", "groups", T_DNS, F(ldap.groups), NULL, 0, 0, 0,
	  "scope groups (DNs separated by ;): only their members, nested too" },
	{ "ldap", "bind_dn", T_DN, F(ldap.bind_dn), NULL, 0, 0, 0,
	  "service account for simple binds" },
	{ "ldap", "bind_password_file", T_PATH, F(ldap.bind_password_file),
	  NULL, K_SECRET, 0, 0, "file holding the service account's password" },
	{ "ldap", "sasl_mech", T_SASL, F(ldap.sasl_mech), NULL, 0, 0, 0,
	  "GSSAPI for a Kerberos bind instead of a simple bind" },
	{ "ldap", "keytab", T_PATH, F(ldap.keytab), NULL, K_SECRET, 0, 0,
	  "file holding the service account's keytab (sasl_mech = GSSAPI)" },
	{ "ldap", "starttls", T_BOOL, F(ldap.starttls), "no", 0, 0, 0,
	  "StartTLS on ldap:// URIs" },
	{ "ldap", "tls_ca_cert", T_PATH, F(ldap.tls_ca_cert), NULL, K_FILE, 0, 0,
	  "CA certificate(s) that signed the DCs' certificates" },
	{ "ldap", "tls_verify", T_BOOL, F(ldap.tls_verify), "yes", 0, 0, 0,
	  "verify the DCs' certificates" },
	{ "ldap", "page_size", T_UINT, F(ldap.page_size), "500", 0, 1, 100000,
	  "entries per page of the paged search" },
	{ "ldap", "timeout", T_DURATION, F(ldap.timeout), "30s", 0, 1, 3600,
	  "network and operation timeout" },
	{ "ldap", "change_notify", T_BOOL, F(ldap.change_notify), "no", 0, 0, 0,
	  "start a cycle early on AD change notifications" },

	{ "telephony", "brand", T_STR, F(telephony.brand), "RingCentral", 0, 0, 0,
	  "the brand: its name in messages, its id and server when known" },
	{ "telephony", "server", T_URL, F(telephony.server),
	  "https://platform.ringcentral.com", 0, 0, 0,
	  "API server URL (default: the brand's)" },
	{ "telephony", "client_id", T_STR, F(telephony.client_id), NULL,
	  K_REQUIRED, 0, 0, "OAuth client id of the app" },
	{ "telephony", "client_secret_file", T_PATH,
	  F(telephony.client_secret_file), NULL, K_REQUIRED | K_SECRET, 0, 0,
	  "file holding the OAuth client secret" },
	{ "telephony", "jwt_file", T_PATH, F(telephony.jwt_file), NULL, K_SECRET,
	  0, 0, "file holding the JWT credential (absent: ringsyncctl auth login)" },
	{ "telephony", "redirect_uri", T_URL, F(telephony.redirect_uri),
	  "http://127.0.0.1:8765/callback", 0, 0, 0,
	  "the app's registered redirect URI (ringsyncctl auth login)" },
	{ "telephony", "connect_to", T_STR, F(telephony.connect_to), NULL, 0, 0,
	  0, "HOST:PORT to connect to instead of the server's address" },
	{ "telephony", "tls_ca_cert", T_PATH, F(telephony.tls_ca_cert), NULL,
	  K_FILE, 0, 0, "extra CA bundle for the API server" },
	{ "telephony", "tls_verify", T_BOOL, F(telephony.tls_verify), "yes", 0,
	  0, 0, "verify the API server's certificate" },
	{ "telephony", "timeout", T_DURATION, F(telephony.timeout), "30s", 0, 1,
	  3600, "HTTP request timeout" },
	{ "telephony", "read_share", T_PERCENT, F(telephony.read_share), "30%",
	  0, 1, 100, "share of each rate group's budget the import uses, on "
	  "average" },
	{ "telephony", "change_feed", T_BOOL, F(telephony.change_feed), "yes", 0,
	  0, 0, "subscribe to the phone system's change events (WebSocket)" },
	{ "telephony", "create_method", T_CREATE_METHOD,
	  F(telephony.create_method), "scim", 0, 0, 0,
	  "how users are created: scim (SCIM create), extension (REST create) or "
	  "batch (10 a call)" },
	{ "policy", "manage_roles", T_BOOL, F(manage_roles), "no", 0, 0, 0,
	  "a user who leaves every [roles] group goes back to the default role" },
	{ "push", "photo", T_STR, F(photo_attr), NULL, 0, 0, 0,
	  "AD attribute uploaded as the profile image (thumbnailPhoto)" },

	{ "sync", "interval", T_DURATION, F(sync.interval), "60s", 0, 1,
	  MAX_DURATION, "time between incremental AD scans" },
	{ "sync", "import_interval", T_DURATION, F(sync.import_interval), "5m",
	  0, 1, MAX_DURATION, "time between imports of numbers" },
	{ "sync", "full_sync_interval", T_DURATION, F(sync.full_sync_interval),
	  "1d", 0, 60, MAX_DURATION, "time between full scans" },
	{ "sync", "history", T_DURATION, F(sync.history), "90d", 0, 0,
	  MAX_DURATION, "how long the changes made for each user are kept" },
	{ "sync", "create_users", T_BOOL, F(sync.create_users), "yes", 0, 0, 0,
	  "create phone users for new AD users" },
	{ "sync", "deactivate", T_DEACTIVATE, F(sync.deactivate), "disable", 0,
	  0, 0, "disable | delete | none" },
	{ "sync", "max_deactivations", T_THRESHOLD, F(sync.max_deactivations),
	  "50", 0, 0, 0, "most deactivations per cycle, a number or a percentage" },
	{ "sync", "dry_run", T_BOOL, F(sync.dry_run), "no", 0, 0, 0,
	  "log what would change, change nothing" },
	{ "sync", "state_dir", T_PATH, F(sync.state_dir), "/var/lib/ringsync",
	  K_RESTART, 0, 0, "directory of the state store" },

	{ "log", "facility", T_FACILITY, F(log.facility), "daemon", 0, 0, 0,
	  "syslog facility" },
	{ "log", "level", T_LEVEL, F(log.level), "info", 0, 0, 0,
	  "err | warning | notice | info | debug" },
	{ "log", "metrics_file", T_PATH, F(log.metrics_file), NULL, 0, 0, 0,
	  "Prometheus text-format metrics, rewritten after every cycle" },

	{ "notify", "command", T_PATH, F(notify.command), NULL, K_FILE, 0, 0,
	  "program run with each event as JSON on its standard input" },
	{ "notify", "webhook", T_URL, F(notify.webhook), NULL, 0, 0, 0,
	  "https:// URL each event is POSTed to as JSON" },
	{ "notify", "tls_ca_cert", T_PATH, F(notify.tls_ca_cert), NULL,
	  K_FILE | K_RESTART, 0, 0, "extra CA bundle for the webhook's server" },
	{ "notify", "mail_to", T_STR, F(notify.mail_to), NULL, 0, 0, 0,
	  "address(es) each event is mailed to, through sendmail" },
	{ "notify", "mail_from", T_STR, F(notify.mail_from), NULL, 0, 0, 0,
	  "the mail's From: (default: sendmail's, the daemon's user)" },
	{ "notify", "sendmail", T_PATH, F(notify.sendmail), "/usr/sbin/sendmail",
	  0, 0, 0, "the sendmail program (run as sendmail -t -i)" },
	{ "notify", "min_interval", T_DURATION, F(notify.min_interval), "1h", 0, 0,
	  MAX_DURATION, "the same event is raised at most once per interval" },
	{ "notify", "alert_after", T_DURATION, F(notify.alert_after), "15m", 0, 0,
	  MAX_DURATION, "AD or the phone system unreachable this long: an event" },
	{ "notify", "failure_alert", T_THRESHOLD, F(notify.failure_alert), "20%",
	  0, 0, 0, "more failing users than this (a number or a percentage): an "
	  "event" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {
	"ldap", "telephony", "sync", "push", "writeback", "log", "notify",
	"create", "policy", "roles",
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
enum { SEC_PUSH = 3, SEC_WRITEBACK = 4, SEC_CREATE = 7, SEC_POLICY = 8,
	SEC_ROLES = 9 };

struct kv_default {
	const char *key, *value;
};

/*
 * The [push] keys and their defaults are the pushed fields of the registry
 * (phone_field.h), plus custom.<name>; templates use its written-back ones.
 */
static const struct kv_default writeback_defaults[] = {
	{ "telephoneNumber", "{directNumber}#{extensionNumber}" },
	{ "ipPhone", "{extensionNumber}" },
};

/* AD attributes ringsync reads for itself or that identify an account. */
static const char *const reserved_attrs[] = {
	"objectGUID", "objectSid", "objectClass", "objectCategory",
	"userAccountControl", "uSNChanged", "uSNCreated", "distinguishedName",
	"cn", "name", "sAMAccountName", "userPrincipalName", "isDeleted",
	"whenChanged", "whenCreated", "memberOf",
};

/* Parser state: one per config_load. */
struct parse {
	const char *path;
	FILE *f;
	int lineno;       /* physical lines read so far */
	int section;      /* index in sections[], -1 none, -2 unknown */
	int in_key;       /* the last meaningful line was a key */
	int continuation; /* the line just read continues the previous key */
	int dns_key;      /* the key being read is a list of DNs (T_DNS) */
	int section_line[NSECTIONS];
	char *raw[NKEYS]; /* owned: value text as written */
	int key_line[NKEYS];
	struct config_map push, writeback; /* as written, before defaults */
	struct config_map create;          /* [create]: no defaults */
	struct config_map policy;          /* [policy] site, cost_center */
	struct config_map roles;           /* [roles] role name -> group DN */
	struct config_range *ranges;       /* [policy] extension_range */
	size_t nranges;
	struct config_problems *pr;
	size_t nproblems_at_start;
};

static void
problem(struct parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem_add(struct config_problems *pr, const char *path, int line,
    const char *msg)
{
	pr->v = xreallocarray(pr->v, pr->n + 1, sizeof(*pr->v));
	pr->v[pr->n++] = xasprintf("%s:%d: %s", path, line, msg);
}

static void
problem(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	problem_add(p->pr, p->path, line, msg);
	free(msg);
}

void
config_problems_free(struct config_problems *pr)
{
	if (pr == NULL)
		return;
	for (size_t i = 0; i < pr->n; i++)
		free(pr->v[i]);
	free(pr->v);
	pr->v = NULL;
	pr->n = 0;
}

static int
find_section(const char *name)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcasecmp(name, sections[i]) == 0)
			return (int)i;
	return -1;
}

static int
find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcasecmp(keys[i].section, section) == 0 &&
		    strcasecmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Edit distance, for "did you mean" on misspelt keys. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (lb >= sizeof(row) / sizeof(row[0]))
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]);
			size_t best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* suggest: the closest known name within distance 2, or NULL. */
static const char *
suggest(const char *name, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(name, names[i]);

		if (d < bestd)
			bestd = d, best = names[i];
	}
	return best;
}

static void
unknown_key(struct parse *p, const char *section, const char *name)
{
	const char *names[NKEYS], *s;
	size_t n = 0;

	for (size_t i = 0; i < NKEYS; i++)
		if (strcasecmp(keys[i].section, section) == 0)
			names[n++] = keys[i].name;
	s = suggest(name, names, n);
	if (s != NULL)
		problem(p, p->lineno, "unknown key '%s' in [%s] (did you mean '%s'?)",
		    name, section, s);
	else
		problem(p, p->lineno, "unknown key '%s' in [%s]", name, section);
}

/* An indented line that starts with a known key of the section is a key. */
static int
indented_key(const struct parse *p, const char *s)
{
	size_t n = 0;
	char name[64];

	if (p->section == SEC_PUSH || p->section == SEC_WRITEBACK ||
	    p->section == SEC_CREATE || p->section == SEC_POLICY ||
	    p->section == SEC_ROLES)
		return 1;
	if (p->section < 0)
		return strchr(s, '=') != NULL;
	while (n < sizeof(name) - 1 && (isalnum((unsigned char)s[n]) || s[n] == '_'))
		name[n] = s[n], n++;
	name[n] = '\0';
	while (s[n] == ' ' || s[n] == '\t')
		n++;
	return (s[n] == '=' || s[n] == ':') &&
	    find_key(sections[p->section], name) >= 0;
}

static void
reader_section(struct parse *p, const char *s)
{
	const char *end = strchr(s, ']');
	char name[64];
	size_t len;

	p->in_key = 0;
	if (end == NULL) {
		problem(p, p->lineno, "malformed section header (missing ']')");
		p->section = -2;
		return;
	}
	len = (size_t)(end - s - 1);
	snprintf(name, sizeof(name), "%.*s", (int)len, s + 1);
	p->section = find_section(util_str_trim(name));
	if (p->section >= 0) {
		if (p->section_line[p->section] != 0)
			problem(p, p->lineno, "section [%s] appears twice (first on "
			    "line %d)", sections[p->section],
			    p->section_line[p->section]);
		else
			p->section_line[p->section] = p->lineno;
		return;
	}
	const char *s2 = suggest(name, sections, NSECTIONS);
	if (s2 != NULL)
		problem(p, p->lineno, "unknown section [%s] (did you mean [%s]?)",
		    name, s2);
	else
		problem(p, p->lineno, "unknown section [%s]", name);
	p->section = -2;
}

/*
 * A list of DNs separates them with ';', which inih would take for the
 * start of an inline comment (" ;"): on such a key's lines the reader
 * hands the separators over as DN_SEP instead.
 */
#define DN_SEP '\x1f'

static void
dns_protect(struct parse *p, char *line, int key_line)
{
	char *v = line, name[64];
	size_t n = 0;
	int k;

	if (key_line) {
		while (n < sizeof(name) - 1 && (isalnum((unsigned char)line[n]) ||
		    line[n] == '_'))
			name[n] = line[n], n++;
		name[n] = '\0';
		k = p->section >= 0 ? find_key(sections[p->section], name) : -1;
		p->dns_key = k >= 0 && keys[k].type == T_DNS;
		v = strpbrk(line, "=:");
	}
	for (; p->dns_key && v != NULL && *v != '\0'; v++) {
		if (*v == '\\' && v[1] != '\0')
			v++; /* an escaped character stays as it is */
		else if (*v == ';')
			*v = DN_SEP;
	}
}

/*
 * reader: inih's line source. Counts lines (inih's plain ini_parse gives
 * the handler no line number), reports over-long lines and lines that are
 * not "key = value", and decides whether an indented line continues the
 * previous value (inih's multi-line rule) or is a key of its own.
 */
static char *
reader(char *buf, int num, void *stream)
{
	struct parse *p = stream;
	long at = ftell(p->f), end;
	size_t len;
	char *s;

	p->continuation = 0;
	if (fgets(buf, num, p->f) == NULL)
		return NULL;
	p->lineno++;
	/* what fgets read, NULs included: strlen would stop at the first */
	end = ftell(p->f);
	len = at >= 0 && end >= at ? (size_t)(end - at) : strlen(buf);
	if (len == (size_t)num - 1 && buf[len - 1] != '\n' && !feof(p->f)) {
		int c;

		while ((c = fgetc(p->f)) != EOF && c != '\n')
			;
		problem(p, p->lineno, "line is longer than %d characters: continue "
		    "a long value on indented lines", num - 2);
		p->in_key = 0;
		buf[0] = '\0';
		return buf;
	}
	if (memchr(buf, '\0', len) != NULL) {
		problem(p, p->lineno, "line holds a NUL byte (a UTF-16 file?): "
		    "save the file as UTF-8 text");
		p->in_key = 0;
		buf[0] = '\0';
		return buf;
	}
	s = buf + strspn(buf, " \t");
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return buf;
	if (*s == '[') {
		reader_section(p, s);
		memmove(buf, s, strlen(s) + 1);
		return buf;
	}
	if (s > buf && p->in_key && !indented_key(p, s)) {
		p->continuation = 1;
		dns_protect(p, buf, 0);
		return buf;
	}
	memmove(buf, s, strlen(s) + 1);
	if (strpbrk(buf, "=:") == NULL) {
		problem(p, p->lineno, "expected 'key = value', found '%.40s'",
		    util_str_trim(buf));
		p->in_key = 0;
		buf[0] = '\0';
		return buf;
	}
	p->in_key = 1;
	dns_protect(p, buf, 1);
	return buf;
}

static int
pair_find(const struct config_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->v[i].key, key) == 0)
			return (int)i;
	return -1;
}

static void
pair_set(struct config_map *m, const char *key, const char *value, int line)
{
	int i = pair_find(m, key);

	if (i < 0) {
		m->v = xreallocarray(m->v, m->n + 1, sizeof(*m->v));
		i = (int)m->n++;
		m->v[i].key = xstrdup(key);
		m->v[i].value = NULL;
		m->v[i].expr = NULL;
	}
	util_str_set(&m->v[i].value, value);
	m->v[i].line = line;
}

static void
map_free(struct config_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
		expr_free(m->v[i].expr);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

size_t
config_pair_attrs(const struct config_pair *pv, const char **out, size_t max)
{
	size_t n;

	if (max == 0 || *pv->value == '\0')
		return 0;
	if (pv->expr == NULL) {
		out[0] = pv->value;
		return 1;
	}
	n = expr_attrs(pv->expr, out, max);
	return n < max ? n : max;
}

const char *
config_pair_attr(const struct config_pair *pv)
{
	const char *a[2];

	if (pv->expr == NULL || expr_attrs(pv->expr, a, 2) != 1)
		return pv->value;
	return a[0];
}

const struct config_pair *
config_map_pair(const struct config_map *m, const char *key)
{
	int i = key ? pair_find(m, key) : -1;

	return i < 0 ? NULL : &m->v[i];
}

const char *
config_map_get(const struct config_map *m, const char *key)
{
	int i = pair_find(m, key);

	return i < 0 ? NULL : m->v[i].value;
}

/* An LDAP attribute description: a letter, then letters, digits, '-'. */
static int
valid_attr(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return 0;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return 0;
	return 1;
}

/* The canonical spelling of a [push] key, or NULL when it names no field. */
static const char *
push_field(const char *key)
{
	int f = phone_field_from_name(key);

	if (f >= 0)
		return phone_field_name(f);
	if (strncasecmp(key, "custom.", 7) == 0 && key[7] != '\0')
		return key;
	return NULL;
}

/* unknown_push: the problem of a [push] key that names no field. */
static void
unknown_push(struct parse *p, const char *name)
{
	const char *names[PHONE_NFIELDS], *s;
	char list[256];
	size_t o = 0;

	for (int f = 0; f < PHONE_NFIELDS; f++) {
		names[f] = phone_field_name(f);
		o += (size_t)snprintf(list + o, o < sizeof(list) ?
		    sizeof(list) - o : 0, "%s ", names[f]);
	}
	s = suggest(name, names, PHONE_NFIELDS);
	problem(p, p->lineno, "unknown phone field '%s' in [push]%s%s%s "
	    "(fields: %scustom.<name>)", name, s ? " (did you mean '" : "",
	    s ? s : "", s ? "'?)" : "", list);
}

/* duplicate: 1, reported, when m has key already (written as name). */
static int
duplicate(struct parse *p, const struct config_map *m, const char *section,
    const char *name, const char *key)
{
	int at = pair_find(m, key);

	if (at < 0)
		return 0;
	problem(p, p->lineno, "duplicate key '%s' in [%s] (first on line %d)",
	    name, section, m->v[at].line);
	return 1;
}

/*
 * check_expr: 0 when value is an AD attribute name or an expression that
 * parses; else -1, the problem reported with its place.
 */
static int
check_expr(struct parse *p, const char *section, const char *field,
    const char *value)
{
	struct expr_error ee;
	struct expr *e;
	char caret[256];

	if (*value == '\0' || valid_attr(value))
		return 0;
	if ((e = expr_parse(value, &ee)) == NULL) {
		problem(p, p->lineno, "[%s] %s: %s (at character %zu)\n%s", section,
		    field, ee.msg, ee.pos + 1, expr_caret(value, ee.pos, caret,
		    sizeof(caret)));
		return -1;
	}
	expr_free(e);
	return 0;
}

static void handle_key(struct parse *p, const char *name, const char *value);

static void
handle_push(struct parse *p, const char *name, const char *value)
{
	const char *field = push_field(name);

	if (strcasecmp(name, "photo") == 0) {
		handle_key(p, name, value);
		return;
	}
	if (field == NULL) {
		if (strcasecmp(name, phone_field_name(PHONE_F_EXTENSION_NUMBER)) == 0)
			problem(p, p->lineno, "[push] %s: the phone system masters the "
			    "extension number (written back by [writeback]); set it at "
			    "create with [create] %s", name, name);
		else
			unknown_push(p, name);
		return;
	}
	if (duplicate(p, &p->push, "push", name, field))
		return;
	if (check_expr(p, "push", field, value) == 0)
		pair_set(&p->push, field, value, p->lineno);
}

/* [create]: a pushed field, custom.<name>, or the extension number. */
static void
handle_create(struct parse *p, const char *name, const char *value)
{
	const char *xn = phone_field_name(PHONE_F_EXTENSION_NUMBER);
	const char *field = strcasecmp(name, xn) == 0 ? xn : push_field(name);

	if (field == NULL) {
		problem(p, p->lineno, "unknown phone field '%s' in [create] (a "
		    "[push] field, custom.<name> or %s)", name, xn);
		return;
	}
	if (duplicate(p, &p->create, "create", name, field))
		return;
	if (*value == '\0') {
		problem(p, p->lineno, "[create] %s: no value (remove the line to set "
		    "nothing at create)", field);
		return;
	}
	if (check_expr(p, "create", field, value) == 0)
		pair_set(&p->create, field, value, p->lineno);
}

/*
 * [policy]: site and cost_center, expressions resolved against the
 * account's lists (the schema cache). The keys of later versions are
 * named as such rather than taken for typos.
 */

#define MAX_RANGE_SIZE 1000000UL

/* range_end: one end of a range, digits only, 1 to 8 of them; 0 or -1. */
static int
range_end(const char *s, size_t len, char out[9])
{
	if (len == 0 || len > 8)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/*
 * [policy] extension_range = 2000-2999 and extension_range.<site> = ...:
 * a new user's extension number, the lowest free one of its site's range
 * (or of the one without a site), when [create] gives it none.
 */
static void
handle_range(struct parse *p, const char *name, const char *value)
{
	const char *site = name[15] == '.' ? name + 16 : NULL;
	const char *dash = strchr(value, '-');
	struct config_range r = { 0 };

	if (site != NULL && *site == '\0') {
		problem(p, p->lineno, "[policy] %s: no site after the dot "
		    "(extension_range.<site name or code>)", name);
		return;
	}
	for (size_t i = 0; i < p->nranges; i++)
		if ((site == NULL) == (p->ranges[i].site == NULL) && (site == NULL ||
		    strcasecmp(site, p->ranges[i].site) == 0)) {
			problem(p, p->lineno, "duplicate key '%s' in [policy] (first on "
			    "line %d)", name, p->ranges[i].line);
			return;
		}
	if (dash == NULL || range_end(value, (size_t)(dash - value), r.lo) < 0 ||
	    range_end(dash + 1, strlen(dash + 1), r.hi) < 0) {
		problem(p, p->lineno, "[policy] %s: '%s' is not a range of "
		    "extension numbers (e.g. 2000-2999: digits, at most 8)", name,
		    value);
		return;
	}
	if (strlen(r.lo) != strlen(r.hi) || strcmp(r.lo, r.hi) > 0) {
		problem(p, p->lineno, "[policy] %s: '%s': the ends must have as "
		    "many digits, the first the lower", name, value);
		return;
	}
	if (strtoul(r.hi, NULL, 10) - strtoul(r.lo, NULL, 10) >= MAX_RANGE_SIZE) {
		problem(p, p->lineno, "[policy] %s: '%s' holds more than %lu "
		    "numbers", name, value, MAX_RANGE_SIZE);
		return;
	}
	r.site = site != NULL ? xstrdup(site) : NULL;
	r.line = p->lineno;
	p->ranges = xreallocarray(p->ranges, p->nranges + 1, sizeof(*p->ranges));
	p->ranges[p->nranges++] = r;
}

static void
handle_policy(struct parse *p, const char *name, const char *value)
{
	static const char *const keys_now[] = { "site", "cost_center" };
	const char *key = NULL;

	for (size_t i = 0; i < sizeof(keys_now) / sizeof(keys_now[0]); i++)
		if (strcasecmp(name, keys_now[i]) == 0)
			key = keys_now[i];
	if (key == NULL) {
		if (strcasecmp(name, "extension_range") == 0 ||
		    strncasecmp(name, "extension_range.", 16) == 0)
			handle_range(p, name, value);
		else if (strcasecmp(name, "manage_roles") == 0)
			handle_key(p, name, value);
		else
			problem(p, p->lineno, "unknown key '%s' in [policy] (keys: site, "
			    "cost_center, extension_range, manage_roles)", name);
		return;
	}
	if (duplicate(p, &p->policy, "policy", name, key))
		return;
	if (*value == '\0') {
		problem(p, p->lineno, "[policy] %s: no value (remove the line to "
		    "leave it to the phone system)", key);
		return;
	}
	if (check_expr(p, "policy", key, value) == 0)
		pair_set(&p->policy, key, value, p->lineno);
}

/*
 * [roles]: <role name> = <group DN>, in the order of the file (a user in
 * several rules' groups gets the first rule's role). The names are checked
 * against the account's roles (the schema cache) by -t and at start.
 */
static void
handle_roles(struct parse *p, const char *name, const char *value)
{
	if (duplicate(p, &p->roles, "roles", name, name))
		return;
	if (*value == '\0' || strchr(value, '=') == NULL) {
		problem(p, p->lineno, "[roles] %s: '%s' is not a group DN", name,
		    value);
		return;
	}
	for (size_t i = 0; i < p->roles.n; i++)
		if (strcasecmp(p->roles.v[i].value, value) == 0) {
			problem(p, p->lineno, "[roles] %s: the group '%s' already gives "
			    "the role '%s' (line %d): one role per group", name, value,
			    p->roles.v[i].key, p->roles.v[i].line);
			return;
		}
	if (p->roles.n == MAX_ROLE_RULES) {
		problem(p, p->lineno, "[roles]: more than %d rules", MAX_ROLE_RULES);
		return;
	}
	pair_set(&p->roles, name, value, p->lineno);
}

static void
handle_writeback(struct parse *p, const char *name, const char *value)
{
	char err[160];

	if (!valid_attr(name)) {
		problem(p, p->lineno, "[writeback] '%s' is not an AD attribute name",
		    name);
		return;
	}
	if (duplicate(p, &p->writeback, "writeback", name, name))
		return;
	if (config_template_check(value, err, sizeof(err)) < 0) {
		problem(p, p->lineno, "[writeback] %s: template '%s': %s", name,
		    value, err);
		return;
	}
	pair_set(&p->writeback, name, value, p->lineno);
}

static void
handle_key(struct parse *p, const char *name, const char *value)
{
	const char *sec = sections[p->section];
	int k = find_key(sec, name);

	if (k < 0) {
		unknown_key(p, sec, name);
		return;
	}
	if (p->key_line[k] != 0) {
		problem(p, p->lineno, "duplicate key '%s' in [%s] (first on line %d)",
		    name, sec, p->key_line[k]);
		return;
	}
	p->raw[k] = xstrdup(value);
	p->key_line[k] = p->lineno;
}

/* Join a continuation line to the value it continues. */
static void
handle_continuation(struct parse *p, const char *section, const char *name,
    const char *value)
{
	int k = find_key(section, name);
	char *joined;

	if (k < 0 || p->raw[k] == NULL)
		return; /* the key itself was already reported */
	joined = xasprintf("%s%s%s", p->raw[k], keys[k].type == T_URIS ? " " :
	    keys[k].type == T_DNS ? ";" : "", value);
	free(p->raw[k]);
	p->raw[k] = joined;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	if (p->continuation) {
		if (p->section >= 0)
			handle_continuation(p, section, name, value);
		return 1;
	}
	if (p->section == -2)
		return 1; /* inside an unknown section: reported once */
	if (p->section == -1) {
		problem(p, p->lineno, "key '%s' outside of any section", name);
		return 1;
	}
	if (p->section == SEC_PUSH)
		handle_push(p, name, value);
	else if (p->section == SEC_CREATE)
		handle_create(p, name, value);
	else if (p->section == SEC_POLICY)
		handle_policy(p, name, value);
	else if (p->section == SEC_ROLES)
		handle_roles(p, name, value);
	else if (p->section == SEC_WRITEBACK)
		handle_writeback(p, name, value);
	else
		handle_key(p, name, value);
	return 1;
}

int
config_parse_duration(const char *s, unsigned long max, unsigned int *out)
{
	unsigned long v, mult = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > max / mult)
		return -1;
	*out = (unsigned int)(v * mult);
	return 0;
}

int
config_parse_threshold(const char *s, struct config_threshold *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || v > 1000000)
		return -1;
	if (*end == '%' && end[1] == '\0') {
		if (v > 100)
			return -1;
		out->percent = 1;
	} else if (*end == '\0') {
		out->percent = 0;
	} else {
		return -1;
	}
	out->value = (unsigned int)v;
	return 0;
}

int
config_parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

unsigned int
config_threshold_limit(const struct config_threshold *t, unsigned int linked)
{
	unsigned long long v;

	if (!t->percent)
		return t->value;
	v = (unsigned long long)linked * t->value / 100;
	if (v == 0 && t->value > 0)
		v = 1;
	return (unsigned int)v;
}

/* template_field: open..close is "{name}" of a written-back field. */
static int
template_field(const char *open, const char *close)
{
	size_t len = (size_t)(close - open) - 1;

	for (int f = 0; f < PHONE_F_END; f++) {
		const struct phone_field_info *fi = phone_field_get(f);

		if (fi->dir == PHONE_FIELD_WRITEBACK && len == strlen(fi->name) &&
		    strncmp(open + 1, fi->name, len) == 0)
			return 1;
	}
	return 0;
}

/* template_fields: "{a}, {b} or {c}", the written-back fields, into buf. */
static const char *
template_fields(char *buf, size_t len)
{
	size_t o = 0, n = 0, i = 0;

	for (int f = 0; f < PHONE_F_END; f++)
		n += phone_field_get(f)->dir == PHONE_FIELD_WRITEBACK;
	buf[0] = '\0';
	for (int f = 0; f < PHONE_F_END; f++) {
		if (phone_field_get(f)->dir != PHONE_FIELD_WRITEBACK)
			continue;
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s{%s}",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", phone_field_name(f));
		i++;
	}
	return buf;
}

int
config_template_check(const char *tpl, char *err, size_t errlen)
{
	/* the rendered value goes through the store as a JSON string to AD */
	json_t *utf8 = json_string(tpl);
	char names[128];

	if (utf8 == NULL)
		return util_errbuf_set(err, errlen, "not valid UTF-8");
	json_decref(utf8);
	for (const char *s = tpl; *s; s++) {
		const char *end;

		if (*s == '}')
			return util_errbuf_set(err, errlen, "unbalanced '}'");
		if (*s != '{')
			continue;
		end = strchr(s, '}');
		if (end == NULL)
			return util_errbuf_set(err, errlen, "unbalanced '{'");
		if (!template_field(s, end))
			return util_errbuf_set(err, errlen, "unknown field %.*s (use %s)",
			    (int)(end - s + 1), s, template_fields(names,
			    sizeof(names)));
		s = end;
	}
	return 0;
}

static int
balanced_filter(const char *s)
{
	int depth = 0;
	size_t len = strlen(s);

	if (len < 2 || s[0] != '(' || s[len - 1] != ')')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && s[i + 1] != '\0') {
			i++;
			continue;
		}
		if (depth == 0 && i > 0)
			return 0; /* anything after the outer parentheses */
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')')
			depth--;
	}
	return depth == 0;
}

static void
strv_free(struct config_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static int
parse_uris(const char *s, struct config_strv *out, char *err, size_t errlen)
{
	char *copy = xstrdup(s), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (strncasecmp(tok, "ldap://", 7) != 0 &&
		    strncasecmp(tok, "ldaps://", 8) != 0) {
			rc = util_errbuf_set(err, errlen, "'%s' is not an ldap:// or "
			    "ldaps:// URI", tok);
			break;
		}
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = xstrdup(tok);
	}
	if (rc == 0 && out->n == 0)
		rc = util_errbuf_set(err, errlen, "needs at least one URI");
	free(copy);
	return rc;
}

/* dns_next: the next DN of a ';' list (a "\;" is part of a value). */
static char *
dns_next(const char **s)
{
	const char *p = *s, *e;
	char *dn, *t;

	for (e = p; *e != '\0' && *e != ';' && *e != DN_SEP; e++)
		if (*e == '\\' && e[1] != '\0')
			e++;
	dn = xstrndup(p, (size_t)(e - p));
	*s = *e ? e + 1 : e;
	t = util_str_trim(dn);
	memmove(dn, t, strlen(t) + 1);
	return dn;
}


static int
parse_dns(const char *s, struct config_strv *out, char *err, size_t errlen)
{
	int rc = 0;

	while (*s != '\0' && rc == 0) {
		char *dn = dns_next(&s);

		if (*dn == '\0') {
			free(dn);
			continue;
		}
		if (strchr(dn, '=') == NULL)
			rc = util_errbuf_set(err, errlen, "'%s' is not a DN", dn);
		for (size_t i = 0; rc == 0 && i < out->n; i++)
			if (strcasecmp(out->v[i], dn) == 0)
				rc = util_errbuf_set(err, errlen, "'%s' is listed twice", dn);
		if (rc == 0 && out->n == MAX_SCOPE_GROUPS)
			rc = util_errbuf_set(err, errlen, "more than %d groups",
			    MAX_SCOPE_GROUPS);
		if (rc == 0) {
			out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
			out->v[out->n++] = dn;
		} else {
			free(dn);
		}
	}
	return rc;
}

/* check_string: the checks of the string-valued types. -1 with a reason. */
static int
check_string(const struct key *k, const char *v, char *err, size_t errlen)
{
	switch (k->type) {
	case T_DN:
		if (strchr(v, '=') == NULL)
			return util_errbuf_set(err, errlen, "'%s' is not a DN", v);
		break;
	case T_FILTER:
		if (!balanced_filter(v))
			return util_errbuf_set(err, errlen, "'%s' is not an LDAP filter "
			    "(one parenthesised expression)", v);
		break;
	case T_PATH:
		if (v[0] != '/')
			return util_errbuf_set(err, errlen, "'%s' is not an absolute path", v);
		break;
	case T_SASL:
		if (strcasecmp(v, "GSSAPI") != 0)
			return util_errbuf_set(err, errlen, "'%s' is not supported (only "
			    "GSSAPI)", v);
		break;
	default:
		break;
	}
	return 0;
}

static int
parse_uint(const struct key *k, const char *v, unsigned int *field, char *err,
    size_t errlen)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
	    n < k->min || n > k->max)
		return util_errbuf_set(err, errlen, "'%s' is not a number from %lu "
		    "to %lu", v, k->min, k->max);
	*field = (unsigned int)n;
	return 0;
}

static int
parse_create_method(const char *v, enum config_create_method *field,
    char *err, size_t errlen)
{
	if (strcasecmp(v, "scim") == 0)
		*field = CONFIG_CREATE_SCIM;
	else if (strcasecmp(v, "extension") == 0)
		*field = CONFIG_CREATE_EXTENSION;
	else if (strcasecmp(v, "batch") == 0)
		*field = CONFIG_CREATE_BATCH;
	else
		return util_errbuf_set(err, errlen, "'%s' is not scim, extension or "
		    "batch", v);
	return 0;
}

static int
parse_deactivate(const char *v, enum config_deactivate *field, char *err,
    size_t errlen)
{
	if (strcasecmp(v, "disable") == 0)
		*field = CONFIG_DEACTIVATE_DISABLE;
	else if (strcasecmp(v, "delete") == 0)
		*field = CONFIG_DEACTIVATE_DELETE;
	else if (strcasecmp(v, "none") == 0)
		*field = CONFIG_DEACTIVATE_NONE;
	else
		return util_errbuf_set(err, errlen, "'%s' is not disable, delete or "
		    "none", v);
	return 0;
}

/* parse_typed: convert one value to its field. -1 with a reason. */
static int
parse_typed(const struct key *k, const char *v, void *field, char *err,
    size_t errlen)
{
	unsigned int u;
	int i;

	switch (k->type) {
	case T_BOOL:
		if ((i = config_parse_bool(v)) < 0)
			return util_errbuf_set(err, errlen, "'%s' is not yes or no", v);
		*(int *)field = i;
		return 0;
	case T_UINT:
		return parse_uint(k, v, field, err, errlen);
	case T_DURATION:
		if (config_parse_duration(v, k->max, &u) < 0 || u < k->min)
			return util_errbuf_set(err, errlen, "'%s' is not a duration from "
			    "%lus to %lus (a number with s, m, h or d)", v, k->min,
			    k->max);
		*(unsigned int *)field = u;
		return 0;
	case T_URIS:
		return parse_uris(v, field, err, errlen);
	case T_DNS:
		return parse_dns(v, field, err, errlen);
	case T_DEACTIVATE:
		return parse_deactivate(v, field, err, errlen);
	case T_CREATE_METHOD:
		return parse_create_method(v, field, err, errlen);
	case T_PERCENT: {
		struct config_threshold t;

		if (config_parse_threshold(v, &t) < 0 || !t.percent ||
		    t.value < k->min || t.value > k->max)
			return util_errbuf_set(err, errlen, "'%s' is not a percentage "
			    "from %lu%% to %lu%%", v, k->min, k->max);
		*(unsigned int *)field = t.value;
		return 0;
	}
	case T_THRESHOLD:
		if (config_parse_threshold(v, field) < 0)
			return util_errbuf_set(err, errlen, "'%s' is not a number or a "
			    "percentage such as 10%%", v);
		return 0;
	case T_FACILITY:
		if ((i = log_facility_from_name(v)) < 0)
			return util_errbuf_set(err, errlen, "'%s' is not a syslog facility "
			    "(daemon, user, local0 .. local7)", v);
		*(int *)field = i;
		return 0;
	case T_LEVEL:
		if ((i = log_level_from_name(v)) < LOG_ERR)
			return util_errbuf_set(err, errlen, "'%s' is not a level (err, "
			    "warning, notice, info, debug)", v);
		*(int *)field = i;
		return 0;
	default: /* the string-valued types */
		break;
	}
	if (check_string(k, v, err, errlen) < 0)
		return -1;
	*(char **)field = xstrdup(v);
	return 0;
}

/* Line to blame for something missing from a section: its header or EOF. */
static int
section_or_eof(const struct parse *p, const char *section)
{
	int s = find_section(section);

	return s >= 0 && p->section_line[s] ? p->section_line[s] : p->lineno;
}

static int unset(const struct parse *p, const char *section, const char *name);

/*
 * apply_brand: a known brand gives its id and, unless server is set, its
 * environment's server (AT&T Office@Hand and Verizon: ringcentral.biz).
 */
static void
apply_brand(struct parse *p, struct config *cfg)
{
	const struct brand *b = brand_find(cfg->telephony.brand);

	cfg->telephony.brand_id = b != NULL ? b->id : NULL;
	if (b != NULL && unset(p, "telephony", "server"))
		util_str_set(&cfg->telephony.server, b->server);
}

static void
apply_keys(struct parse *p, struct config *cfg)
{
	char err[256];

	for (size_t k = 0; k < NKEYS; k++) {
		void *field = (char *)cfg + keys[k].off;
		const char *v = p->raw[k] ? p->raw[k] : keys[k].def;

		/* "key =" unsets a key: its default again, if it has one (an
		 * unset tls_verify, timeout or state_dir must not become 0) */
		if (p->raw[k] != NULL && *p->raw[k] == '\0')
			v = keys[k].def;
		if (v == NULL) {
			if (keys[k].flags & K_REQUIRED)
				problem(p, p->key_line[k] ? p->key_line[k] :
				    section_or_eof(p, keys[k].section),
				    "[%s] %s is required", keys[k].section,
				    keys[k].name);
			continue;
		}
		if (parse_typed(&keys[k], v, field, err, sizeof(err)) < 0)
			problem(p, p->key_line[k], "%s: %s", keys[k].name, err);
	}
}

/* push_defaults_get: the registry's default [push] mapping into d. */
static size_t
push_defaults_get(struct kv_default d[PHONE_NFIELDS])
{
	size_t n = 0;

	for (int f = 0; f < PHONE_NFIELDS; f++)
		if (phone_field_get(f)->ad_default != NULL) {
			d[n].key = phone_field_name(f);
			d[n++].value = phone_field_get(f)->ad_default;
		}
	return n;
}

/* Defaults first, then what the file says (an empty value removes one). */
static void
apply_map(struct config_map *out, const struct config_map *written,
    const struct kv_default *d, size_t ndefaults)
{
	for (size_t i = 0; i < ndefaults; i++)
		pair_set(out, d[i].key, d[i].value, 0);
	for (size_t i = 0; i < written->n; i++) {
		int at = pair_find(out, written->v[i].key);

		if (*written->v[i].value != '\0') {
			pair_set(out, written->v[i].key, written->v[i].value,
			    written->v[i].line);
			continue;
		}
		if (at < 0)
			continue;
		free(out->v[at].key);
		free(out->v[at].value);
		expr_free(out->v[at].expr);
		memmove(&out->v[at], &out->v[at + 1],
		    (out->n - (size_t)at - 1) * sizeof(*out->v));
		out->n--;
	}
}

static int
key_line(const struct parse *p, const char *section, const char *name)
{
	int k = find_key(section, name);

	return p->key_line[k] ? p->key_line[k] : section_or_eof(p, section);
}

/* Is the URL's host a loopback address (plain http is allowed only there)? */
static int
loopback_url(const char *url)
{
	static const char *const hosts[] = {
		"http://127.", "http://localhost:", "http://localhost/",
		"http://[::1]",
	};

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (strncasecmp(url, hosts[i], strlen(hosts[i])) == 0)
			return 1;
	return strcasecmp(url, "http://localhost") == 0;
}

/*
 * unset: the key is absent or empty ("key ="). A value given and refused
 * has been reported already.
 */
static int
unset(const struct parse *p, const char *section, const char *name)
{
	int k = find_key(section, name);

	return p->raw[k] == NULL || *p->raw[k] == '\0';
}

static void
check_ldap_bind(struct parse *p, const struct config *cfg)
{
	const struct config_ldap *l = &cfg->ldap;

	if (l->sasl_mech != NULL) {
		if (l->bind_password_file != NULL)
			problem(p, key_line(p, "ldap", "bind_password_file"),
			    "bind_password_file is not used with sasl_mech = %s: "
			    "remove one of them", l->sasl_mech);
		return;
	}
	if (l->keytab != NULL)
		problem(p, key_line(p, "ldap", "keytab"), "keytab needs "
		    "sasl_mech = GSSAPI");
	if (l->bind_dn == NULL && unset(p, "ldap", "bind_dn"))
		problem(p, key_line(p, "ldap", "bind_dn"), "[ldap] bind_dn is "
		    "required for a simple bind (or set sasl_mech = GSSAPI)");
	if (l->bind_password_file == NULL &&
	    unset(p, "ldap", "bind_password_file"))
		problem(p, key_line(p, "ldap", "bind_password_file"), "[ldap] "
		    "bind_password_file is required for a simple bind (or set "
		    "sasl_mech = GSSAPI)");
	for (size_t i = 0; i < l->uri.n && !l->starttls; i++)
		if (strncasecmp(l->uri.v[i], "ldap://", 7) == 0)
			problem(p, key_line(p, "ldap", "uri"), "simple bind over %s "
			    "without starttls would send the password in clear: use "
			    "ldaps:// or set starttls = yes", l->uri.v[i]);
}

/*
 * compile_map: each [push] or [create] value that is more than an AD
 * attribute name into its tree (parsed once already, for the message).
 */
static void
compile_map(struct config_map *push)
{
	for (size_t i = 0; i < push->n; i++) {
		struct expr_error ee;

		if (*push->v[i].value != '\0' && !valid_attr(push->v[i].value))
			push->v[i].expr = expr_parse(push->v[i].value, &ee);
	}
}

/* push_reads: 1 when [push] value pv reads AD attribute attr. */
static int
push_reads(const struct config_pair *pv, const char *attr)
{
	const char *v[EXPR_MAX_ARGS];
	size_t n;

	if (pv->expr == NULL)
		return strcasecmp(pv->value, attr) == 0;
	n = expr_attrs(pv->expr, v, EXPR_MAX_ARGS);
	for (size_t i = 0; i < n && i < EXPR_MAX_ARGS; i++)
		if (strcasecmp(v[i], attr) == 0)
			return 1;
	return 0;
}

static int
reserved_attr(const char *attr)
{
	for (size_t i = 0; i < sizeof(reserved_attrs) / sizeof(reserved_attrs[0]); i++)
		if (strcasecmp(attr, reserved_attrs[i]) == 0)
			return 1;
	return 0;
}

static void
check_mapping(struct parse *p, const struct config *cfg)
{
	const struct config_pair *pv;

	for (size_t i = 0; i < cfg->writeback.n; i++) {
		const struct config_pair *w = &cfg->writeback.v[i];
		int line = w->line ? w->line : section_or_eof(p, "writeback");

		if (reserved_attr(w->key))
			problem(p, line, "[writeback] %s: ringsync never writes this "
			    "attribute", w->key);
		for (size_t j = 0; j < cfg->push.n; j++)
			if (push_reads(&cfg->push.v[j], w->key))
				problem(p, line, "attribute %s is mastered in both "
				    "directions: pushed as [push] %s and written back by "
				    "[writeback] %s; remove one of them", w->key,
				    cfg->push.v[j].key, w->key);
	}
	for (size_t i = 0; i < cfg->create.n; i++) {
		const struct config_pair *c = &cfg->create.v[i];
		int at = pair_find(&cfg->push, c->key);

		if (at < 0)
			continue;
		if (cfg->push.v[at].line != 0)
			problem(p, c->line, "[create] %s: also pushed by [push] %s (line "
			    "%d); a value set at create only is never pushed: remove one "
			    "of them", c->key, c->key, cfg->push.v[at].line);
		else
			problem(p, c->line, "[create] %s: also pushed by default (from "
			    "%s); to set it at create only, add '%s =' to [push]",
			    c->key, cfg->push.v[at].value, c->key);
	}
	if ((pv = config_map_pair(&cfg->policy, "cost_center")) != NULL &&
	    cfg->telephony.create_method == CONFIG_CREATE_SCIM)
		problem(p, pv->line, "[policy] cost_center needs [telephony] "
		    "create_method = extension or batch: the SCIM create cannot set a "
		    "cost center and no later call can");
	for (size_t i = 0; i < cfg->nranges; i++)
		if (cfg->ranges[i].site != NULL &&
		    config_map_pair(&cfg->policy, "site") == NULL) {
			problem(p, cfg->ranges[i].line, "[policy] extension_range.%s "
			    "needs [policy] site: without it every user is on the main "
			    "site", cfg->ranges[i].site);
			break;
		}
	if (cfg->manage_roles && cfg->roles.n == 0)
		problem(p, p->key_line[find_key("policy", "manage_roles")],
		    "[policy] manage_roles = yes needs [roles] rules: it returns the "
		    "users who leave every rule's group to the default role");
	if (cfg->photo_attr != NULL && !valid_attr(cfg->photo_attr))
		problem(p, p->key_line[find_key("push", "photo")], "[push] photo: "
		    "'%s' is not an AD attribute name (thumbnailPhoto, jpegPhoto)",
		    cfg->photo_attr);
	else if (cfg->photo_attr != NULL &&
	    (config_map_get(&cfg->writeback, cfg->photo_attr) != NULL))
		problem(p, p->key_line[find_key("push", "photo")], "[push] photo: "
		    "%s is also written back by [writeback]", cfg->photo_attr);
	if (config_map_get(&cfg->push, phone_field_name(PHONE_F_EMAIL)) == NULL)
		problem(p, section_or_eof(p, "push"), "[push] %s must be mapped: "
		    "it is the key that joins AD users to phone users",
		    phone_field_name(PHONE_F_EMAIL));
}

static void
check_cross(struct parse *p, const struct config *cfg)
{
	const char *server = cfg->telephony.server;

	check_ldap_bind(p, cfg);
	check_mapping(p, cfg);
	if (server != NULL && strncasecmp(server, "https://", 8) != 0 &&
	    !loopback_url(server))
		problem(p, key_line(p, "telephony", "server"), "server: '%s' must "
		    "be an https:// URL (plain http:// only on loopback)", server);
	if (cfg->telephony.redirect_uri != NULL &&
	    strncasecmp(cfg->telephony.redirect_uri, "https://", 8) != 0 &&
	    strncasecmp(cfg->telephony.redirect_uri, "http://", 7) != 0)
		problem(p, key_line(p, "telephony", "redirect_uri"), "redirect_uri: "
		    "'%s' is not an http:// or https:// URL",
		    cfg->telephony.redirect_uri);
	if (cfg->notify.webhook != NULL &&
	    strncasecmp(cfg->notify.webhook, "https://", 8) != 0)
		problem(p, key_line(p, "notify", "webhook"), "webhook: '%s' must be an "
		    "https:// URL (the events go over verified TLS)",
		    cfg->notify.webhook);
	if (cfg->notify.command != NULL && access(cfg->notify.command, X_OK) < 0)
		problem(p, key_line(p, "notify", "command"), "command: %s cannot be "
		    "run: %s", cfg->notify.command, strerror(errno));
	if (cfg->notify.mail_to != NULL && access(cfg->notify.sendmail, X_OK) < 0)
		problem(p, key_line(p, "notify", "sendmail"), "sendmail: %s cannot be "
		    "run (mail_to needs it: install a mail transfer agent such as "
		    "exim4 or postfix, or the sendmail of msmtp-mta): %s",
		    cfg->notify.sendmail, strerror(errno));
	if (cfg->telephony.connect_to != NULL &&
	    !util_host_port_valid(cfg->telephony.connect_to))
		problem(p, key_line(p, "telephony", "connect_to"), "connect_to: "
		    "'%s' is not HOST:PORT (a name, an IPv4 address or an IPv6 "
		    "address in brackets, and a port from 1 to 65535)",
		    cfg->telephony.connect_to);
}

/* The name of group gid, or its number. */
static const char *
group_name(gid_t gid, char *buf, size_t len)
{
	struct group *g = getgrgid(gid);

	if (g != NULL)
		snprintf(buf, len, "%s", g->gr_name);
	else
		snprintf(buf, len, "%u", (unsigned int)gid);
	return buf;
}

/*
 * check_secret: as sshd does for private keys, refuse a secret file that
 * others may read or anyone else may change. Group read is allowed only
 * for the daemon's own group (packaged: root:ringsync 0640).
 */
static void
check_secret(struct parse *p, int line, const struct key *k, const char *path)
{
	const char *name = k->name;
	struct stat st;
	char gbuf[64];
	const char *g;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			problem(p, line, "%s %s: No such file or directory (create it, "
			    "mode 0600, holding the %s)", name, path, k->doc +
			    strlen("file holding the "));
		else
			problem(p, line, "%s %s: %s", name, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(p, line, "%s %s: not a regular file", name, path);
		return;
	}
	g = group_name(st.st_gid, gbuf, sizeof(gbuf));
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IXOTH))
		problem(p, line, "%s %s: mode %04o is accessible by others: it must "
		    "be private to ringsyncd (chmod 600 %s)", name, path,
		    (unsigned int)(st.st_mode & 07777), path);
	else if (st.st_mode & (S_IWGRP | S_IXGRP))
		problem(p, line, "%s %s: mode %04o lets group %s change it (chmod "
		    "600 %s)", name, path, (unsigned int)(st.st_mode & 07777), g, path);
	else if ((st.st_mode & S_IRGRP) && st.st_gid != getegid() &&
	    strcmp(g, PACKAGE_GROUP) != 0)
		problem(p, line, "%s %s: mode %04o lets group %s read it: it must "
		    "be private to ringsyncd (chmod 600 %s, or group %s)", name,
		    path, (unsigned int)(st.st_mode & 07777), g, path, PACKAGE_GROUP);
	else if (access(path, R_OK) < 0)
		problem(p, line, "%s %s: %s", name, path, strerror(errno));
}

/* check_metrics_dir: the metrics file is replaced by a rename in its directory. */
static void
check_metrics_dir(struct parse *p, const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	struct stat st;

	if (slash != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		problem(p, key_line(p, "log", "metrics_file"), "metrics_file %s: the "
		    "directory %s does not exist", path, dir);
	free(dir);
}

static void
check_state_dir(struct parse *p, const char *dir)
{
	int line = key_line(p, "sync", "state_dir");
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			problem(p, line, "state_dir %s: %s", dir, strerror(errno));
		return; /* created with mode 0700 at start */
	}
	if (!S_ISDIR(st.st_mode))
		problem(p, line, "state_dir %s: not a directory", dir);
	else if (st.st_mode & 077)
		problem(p, line, "state_dir %s: mode %04o is accessible by group or "
		    "others: it must be private to ringsyncd (chmod 700 %s)", dir,
		    (unsigned int)(st.st_mode & 07777), dir);
}

static void
check_files(struct parse *p, const struct config *cfg)
{
	for (size_t k = 0; k < NKEYS; k++) {
		const char *path;

		if (!(keys[k].flags & (K_SECRET | K_FILE)))
			continue;
		path = *(char *const *)((const char *)cfg + keys[k].off);
		if (path == NULL)
			continue;
		if (keys[k].flags & K_SECRET)
			check_secret(p, key_line(p, keys[k].section, keys[k].name),
			    &keys[k], path);
		else if (access(path, R_OK) < 0)
			problem(p, key_line(p, keys[k].section, keys[k].name), "%s %s: "
			    "%s", keys[k].name, path, strerror(errno));
	}
	if (cfg->sync.state_dir != NULL)
		check_state_dir(p, cfg->sync.state_dir);
	if (cfg->log.metrics_file != NULL)
		check_metrics_dir(p, cfg->log.metrics_file);
}

static void
ranges_free(struct config_range *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].site);
	free(v);
}

const struct config_range *
config_range_for(const struct config *cfg, const char *site_name,
    const char *site_code)
{
	const struct config_range *any = NULL;

	for (size_t i = 0; i < cfg->nranges; i++) {
		const char *s = cfg->ranges[i].site;

		if (s == NULL)
			any = &cfg->ranges[i];
		else if ((site_name != NULL && strcasecmp(s, site_name) == 0) ||
		    (site_code != NULL && strcasecmp(s, site_code) == 0))
			return &cfg->ranges[i];
	}
	return any;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t k = 0; k < NKEYS; k++) {
		void *field = (char *)cfg + keys[k].off;

		if (keys[k].type == T_URIS || keys[k].type == T_DNS)
			strv_free(field);
		else if (keys[k].type <= T_PATH || keys[k].type == T_URL ||
		    keys[k].type == T_SASL)
			free(*(char **)field);
	}
	map_free(&cfg->push);
	map_free(&cfg->create);
	map_free(&cfg->policy);
	map_free(&cfg->roles);
	ranges_free(cfg->ranges, cfg->nranges);
	map_free(&cfg->writeback);
	free(cfg->path);
	free(cfg);
}

static void
parse_free(struct parse *p)
{
	for (size_t k = 0; k < NKEYS; k++)
		free(p->raw[k]);
	map_free(&p->push);
	map_free(&p->create);
	map_free(&p->policy);
	map_free(&p->roles);
	ranges_free(p->ranges, p->nranges);
	map_free(&p->writeback);
}

int
config_load(const char *path, int flags, struct config **out,
    struct config_problems *pr)
{
	struct parse p = { .path = path, .section = -1, .pr = pr };
	struct kv_default push_defaults[PHONE_NFIELDS];
	struct config *cfg;
	size_t before = pr->n;

	*out = NULL;
	if ((p.f = fopen(path, "r")) == NULL) {
		problem_add(pr, path, 0, strerror(errno));
		return -1;
	}
	if (ini_parse_stream(reader, &p, handler, &p) < 0)
		problem(&p, p.lineno, "cannot read the file");
	fclose(p.f);
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	apply_keys(&p, cfg);
	apply_brand(&p, cfg);
	apply_map(&cfg->push, &p.push, push_defaults,
	    push_defaults_get(push_defaults));
	compile_map(&cfg->push);
	apply_map(&cfg->create, &p.create, NULL, 0);
	compile_map(&cfg->create);
	apply_map(&cfg->policy, &p.policy, NULL, 0);
	compile_map(&cfg->policy);
	apply_map(&cfg->roles, &p.roles, NULL, 0);
	cfg->ranges = p.ranges; /* taken over */
	cfg->nranges = p.nranges;
	p.ranges = NULL;
	p.nranges = 0;
	apply_map(&cfg->writeback, &p.writeback, writeback_defaults,
	    sizeof(writeback_defaults) / sizeof(writeback_defaults[0]));
	check_cross(&p, cfg);
	if (!(flags & CONFIG_NO_FILE_CHECKS))
		check_files(&p, cfg);
	parse_free(&p);
	if (pr->n != before) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

int
config_read_secret(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	*out = NULL;
	if (f == NULL)
		return util_errbuf_set(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
	do {
		if (cap - len < 1024) {
			cap = cap ? cap * 2 : 4096;
			if (cap > 1024 * 1024) {
				fclose(f);
				free(buf);
				return util_errbuf_set(err, errlen, "%s is larger than 1 MB",
				    path);
			}
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return util_errbuf_set(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
	}
	fclose(f);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return util_errbuf_set(err, errlen, "%s is empty", path);
	}
	log_secret_keep(buf);
	*out = buf;
	return 0;
}

int
config_keep_restart_keys(const struct config *old, struct config *new,
    char *err, size_t errlen)
{
	int n = 0;
	size_t o = 0;

	if (errlen > 0)
		err[0] = '\0';
	for (size_t k = 0; k < NKEYS; k++) {
		char **a, **b;

		if (!(keys[k].flags & K_RESTART))
			continue;
		/* Only string keys need a restart (state_dir, tls_ca_cert). */
		a = (char **)((char *)old + keys[k].off);
		b = (char **)((char *)new + keys[k].off);
		if ((*a == NULL) == (*b == NULL) && (*a == NULL || strcmp(*a, *b) == 0))
			continue;
		util_str_set(b, *a);
		if (o < errlen)
			o += (size_t)snprintf(err + o, errlen - o, "%s%s", n ? " " : "",
			    keys[k].name);
		n++;
	}
	return n;
}

size_t
config_key_count(void)
{
	return NKEYS;
}

const struct config_key_info *
config_key_at(size_t i, struct config_key_info *buf)
{
	if (i >= NKEYS)
		return NULL;
	buf->section = keys[i].section;
	buf->name = keys[i].name;
	buf->def = keys[i].def;
	buf->doc = keys[i].doc;
	buf->required = (keys[i].flags & K_REQUIRED) != 0;
	buf->secret = (keys[i].flags & K_SECRET) != 0;
	return buf;
}

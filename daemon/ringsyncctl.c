/*
 * ringsyncctl: the administrator's view of a running (or stopped)
 * ringsyncd. It opens the state store read-only, so it never blocks the
 * daemon (LMDB readers take no lock the writer waits for); `auth login` is
 * the one command that writes (the tokens), see ctl_store_open_rw.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "phone.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "version.h"

/*
 * Exit statuses. auth status: 0 the access token is valid; 1 it is not,
 * but ringsyncd renews it without a person (a valid refresh token, or a
 * JWT credential); 3 nothing valid is left: someone must run `auth
 * login`. auth login: 0 logged in, 3 refused or timed out. 2 is a
 * configuration or state-store problem everywhere (ringsyncctl(8)).
 */
#define EXIT_RENEWABLE 1
#define EXIT_CONFIG 2
#define EXIT_AUTH 3

#define LOGIN_TIMEOUT 300     /* s: how long auth login waits for the browser */
#define LOGIN_REQUEST_MAX 8192
#define LOGIN_CONNS_MAX 16
/* the map size store.c opens the environment with (address space only) */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ringsyncctl [-c FILE] command\n"
	    "  status [--warn-age DURATION] [--crit-age DURATION]\n"
	    "         [--warn-failed N] [--crit-failed N]\n"
	    "                      last cycles, watermark, counts, token expiry; a\n"
	    "                      monitoring check: exit 0 OK, 1 WARNING, 2 CRITICAL\n"
	    "  users [--failed]    one line per user: email, DN, phone id, state, "
	    "last error\n"
	    "  schema              fetch the phone system's user schema, custom "
	    "fields and\n"
	    "                      the AD attributes of class user; cache them for "
	    "ringsyncd -t\n"
	    "  release-deactivations\n"
	    "                      let held deactivations through (after review)\n"
	    "  auth login [--timeout DURATION]\n"
	    "                      sign in as an administrator in a browser "
	    "(authorization\n"
	    "                      code with PKCE, redirected to a listener on "
	    "127.0.0.1);\n"
	    "                      the tokens go to the state store (default "
	    "timeout 5m)\n"
	    "  auth status         validity and expiry of the stored tokens; exit "
	    "0 valid,\n"
	    "                      1 renewable by ringsyncd, 3 run auth login\n"
	    "  -c FILE             configuration (default %s)\n",
	    RINGSYNC_DEFAULT_CONFIG);
}

static const char *
fmt_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static const char *
fmt_left(long long secs, char *buf, size_t len)
{
	if (secs >= 2 * 86400)
		snprintf(buf, len, "%lld d %lld h", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 2 * 3600)
		snprintf(buf, len, "%lld h %lld min", secs / 3600, secs % 3600 / 60);
	else if (secs >= 120)
		snprintf(buf, len, "%lld min", secs / 60);
	else
		snprintf(buf, len, "%lld s", secs);
	return buf;
}

static void
print_time(const char *label, long long t)
{
	char buf[64];

	if (t <= 0) {
		printf("%-16s -\n", label);
		return;
	}
	printf("%-16s %s\n", label, fmt_time(t, buf, sizeof(buf)));
}

/* ---------------------------------------------------------------------
 * status: a report and a monitoring check (Nagios plugin conventions) */

#define STATUS_OK 0
#define STATUS_WARNING 1
#define STATUS_CRITICAL 2
#define TOKEN_WARN_DAYS 7

struct status_opts {
	unsigned int warn_age, crit_age;      /* s */
	unsigned int warn_failed, crit_failed;
};

struct status {
	int level;
	char why[1024];
	size_t o;
};

static void
status_raise(struct status *st, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* status_raise: note a finding; the summary lists the worst ones first. */
static void
status_raise(struct status *st, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level > st->level) {
		st->level = level;
		st->o = 0;
		st->why[0] = '\0';
	}
	if (level == st->level && st->o < sizeof(st->why))
		st->o += (size_t)snprintf(st->why + st->o, sizeof(st->why) - st->o,
		    "%s%s", st->o ? "; " : "", msg);
}

static int token_line(const char *label, const char *token,
    long long expires, long long now);

static const char *const status_names[] = { "OK", "WARNING", "CRITICAL" };

/* lane: one lane's last cycle; returns the age of its last success. */
static long long
status_lane(struct status *st, const struct status_opts *so, const char *lane,
    json_t *rec, long long now)
{
	long long last_ok, age;
	const char *result;
	char left[64];

	if (rec == NULL) {
		status_raise(st, STATUS_CRITICAL, "no %s cycle recorded yet", lane);
		return -1;
	}
	last_ok = json_integer_value(json_object_get(rec, "last_ok"));
	result = json_string_value(json_object_get(rec, "result"));
	if (result != NULL && strcmp(result, "auth_failed") == 0)
		status_raise(st, STATUS_CRITICAL, "the phone system refused the "
		    "session in the last %s cycle (run ringsyncctl auth login or check "
		    "the JWT credential)", lane);
	else if (result != NULL && strcmp(result, "unreachable") == 0)
		status_raise(st, STATUS_WARNING, "the last %s cycle could not reach "
		    "AD or the phone system", lane);
	if (last_ok <= 0) {
		status_raise(st, STATUS_CRITICAL, "no successful %s cycle yet", lane);
		return -1;
	}
	age = now > last_ok ? now - last_ok : 0;
	if (age > so->crit_age)
		status_raise(st, STATUS_CRITICAL, "last successful %s cycle %s ago",
		    lane, fmt_left(age, left, sizeof(left)));
	else if (age > so->warn_age)
		status_raise(st, STATUS_WARNING, "last successful %s cycle %s ago",
		    lane, fmt_left(age, left, sizeof(left)));
	return age;
}

static void
print_cycle(const char *label, json_t *rec)
{
	char t[64];

	if (rec == NULL) {
		printf("%-16s none recorded\n", label);
		return;
	}
	printf("%-16s %s %s full=%s result=%s dc=%s usn=%s scanned=%lld created=%lld "
	    "linked=%lld updated=%lld deactivated=%lld held=%lld written_back=%lld "
	    "failed=%lld api_calls=%lld seconds=%lld\n", label,
	    fmt_time(json_integer_value(json_object_get(rec, "end")), t, sizeof(t)),
	    json_string_value(json_object_get(rec, "kind")),
	    json_is_true(json_object_get(rec, "full")) ? "yes" : "no",
	    json_string_value(json_object_get(rec, "result")),
	    log_q(json_string_value(json_object_get(rec, "dc"))),
	    json_string_value(json_object_get(rec, "usn")),
	    json_integer_value(json_object_get(rec, "scanned")),
	    json_integer_value(json_object_get(rec, "created")),
	    json_integer_value(json_object_get(rec, "linked")),
	    json_integer_value(json_object_get(rec, "updated")),
	    json_integer_value(json_object_get(rec, "deactivated")),
	    json_integer_value(json_object_get(rec, "held")),
	    json_integer_value(json_object_get(rec, "written_back")),
	    json_integer_value(json_object_get(rec, "failed")),
	    json_integer_value(json_object_get(rec, "api_calls")),
	    json_integer_value(json_object_get(rec, "end")) -
	    json_integer_value(json_object_get(rec, "start")));
}

/* status_token: a refresh token that runs out soon needs a person. */
static void
status_token(struct status *st, const struct config *cfg,
    const struct store_tokens *tok, long long now)
{
	char t[64];

	if (cfg->telephony.jwt_file != NULL)
		return; /* ringsyncd signs in again with the JWT by itself */
	if (tok->refresh_token == NULL) {
		if (tok->access_token == NULL || tok->access_expires <= now)
			status_raise(st, STATUS_CRITICAL, "no valid phone-system session "
			    "(run ringsyncctl auth login)");
		return;
	}
	if (tok->refresh_expires <= 0)
		return;
	if (tok->refresh_expires <= now)
		status_raise(st, STATUS_CRITICAL, "the refresh token expired at %s "
		    "(run ringsyncctl auth login)", fmt_time(tok->refresh_expires, t,
		    sizeof(t)));
	else if (tok->refresh_expires - now < TOKEN_WARN_DAYS * 86400LL)
		status_raise(st, STATUS_WARNING, "the refresh token expires at %s "
		    "(run ringsyncctl auth login before)", fmt_time(
		    tok->refresh_expires, t, sizeof(t)));
}

/*
 * daemon_pid: the pid ringsyncd wrote into state_dir/ringsyncd.lock when
 * that process still runs as ringsyncd, else 0. No lock is taken: a
 * starting daemon must never find the lock busy because of a check.
 */
static long
daemon_pid(const char *dir)
{
	char *path = xasprintf("%s/ringsyncd.lock", dir), buf[64] = "";
	FILE *f = fopen(path, "r");
	long pid = 0;

	free(path);
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		pid = strtol(buf, NULL, 10);
	fclose(f);
	if (pid <= 0)
		return 0;
	path = xasprintf("/proc/%ld/comm", pid);
	f = fopen(path, "r");
	free(path);
	buf[0] = '\0';
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	return strncmp(buf, "ringsyncd", 9) == 0 ? pid : 0;
}

/* status_fail: the check cannot read what it needs: CRITICAL. */
static int
status_fail(const char *what, const char *err)
{
	printf("RINGSYNC CRITICAL: %s: %s\n", what, err);
	return STATUS_CRITICAL;
}

static int
cmd_status(const struct config *cfg, const struct status_opts *so)
{
	struct status st = { 0 };
	struct store *store;
	struct store_txn *txn;
	struct store_watermark w;
	struct store_tokens tok = { 0 };
	struct sync_counts n;
	json_t *scan = NULL, *import = NULL, *full = NULL;
	char err[512], *path;
	long long now = (long long)time(NULL), scan_age, import_age;
	long pid;
	int wrc;

	path = xasprintf("%s/state.mdb", cfg->sync.state_dir);
	wrc = access(path, F_OK);
	free(path);
	if (wrc < 0)
		return status_fail("no state yet (has ringsyncd run?)",
		    cfg->sync.state_dir);
	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &store, err,
	    sizeof(err)) < 0)
		return status_fail("cannot read the state", err);
	if (sync_count(store, &n, err, sizeof(err)) < 0 ||
	    store_begin(store, 1, &txn, err, sizeof(err)) < 0) {
		store_close(store);
		return status_fail("cannot read the state", err);
	}
	store_get_json(txn, STORE_META, "cycle.scan", &scan, err, sizeof(err));
	store_get_json(txn, STORE_META, "cycle.import", &import, err, sizeof(err));
	store_get_json(txn, STORE_META, "cycle.full", &full, err, sizeof(err));
	wrc = store_watermark_get(txn, &w, err, sizeof(err));
	if (store_tokens_get(txn, &tok, err, sizeof(err)) < 0)
		memset(&tok, 0, sizeof(tok));
	store_abort(txn);
	store_close(store);

	scan_age = status_lane(&st, so, "scan", scan, now);
	import_age = status_lane(&st, so, "import", import, now);
	if (n.held > 0)
		status_raise(&st, STATUS_CRITICAL, "%u deactivation%s held (review, "
		    "then ringsyncctl release-deactivations)", n.held,
		    n.held == 1 ? "" : "s");
	if (so->crit_failed > 0 && n.failed >= so->crit_failed)
		status_raise(&st, STATUS_CRITICAL, "%u failing users", n.failed);
	else if (so->warn_failed > 0 && n.failed >= so->warn_failed)
		status_raise(&st, STATUS_WARNING, "%u failing user%s", n.failed,
		    n.failed == 1 ? "" : "s");
	if (n.invalid > 0)
		status_raise(&st, STATUS_WARNING, "%u invalid record%s in the state "
		    "store (skipped; the log names them)", n.invalid,
		    n.invalid == 1 ? "" : "s");
	status_token(&st, cfg, &tok, now);
	if (st.level == STATUS_OK)
		status_raise(&st, STATUS_OK, "%u users linked, last cycles %llds "
		    "(scan) and %llds (import) ago", n.linked, scan_age, import_age);

	printf("RINGSYNC %s: %s | scan_age=%llds;%u;%u import_age=%llds;%u;%u "
	    "failed=%u;%u;%u linked=%u held=%u outbox=%zu writeback=%zu",
	    status_names[st.level], st.why, scan_age < 0 ? 0 : scan_age,
	    so->warn_age, so->crit_age, import_age < 0 ? 0 : import_age,
	    so->warn_age, so->crit_age, n.failed, so->warn_failed, so->crit_failed,
	    n.linked, n.held, n.outbox, n.writeback);
	if (n.invalid > 0)
		printf(" invalid=%u", n.invalid);
	printf("\n");
	printf("%-16s %s\n", "state_dir", cfg->sync.state_dir);
	if ((pid = daemon_pid(cfg->sync.state_dir)) > 0)
		printf("%-16s running (pid %ld)\n", "ringsyncd", pid);
	else
		printf("%-16s not running\n", "ringsyncd");
	if (wrc == 0) {
		printf("%-16s %s\n%-16s %s\n%-16s %llu\n", "dc", w.dns_host_name,
		    "invocation_id", w.invocation_id, "watermark", w.usn);
		print_time("watermark_time", w.time);
		store_watermark_clear(&w);
	} else {
		printf("%-16s %s\n", "watermark", wrc < 0 ? err : "none (no scan yet)");
	}
	print_cycle("scan cycle", scan);
	print_cycle("full sync", full);
	print_cycle("import cycle", import);
	printf("%-16s %u\n%-16s %u\n%-16s %u\n%-16s %u\n%-16s %zu\n%-16s %zu\n",
	    "users", n.users, "linked", n.linked, "failing", n.failed,
	    "held", n.held, "outbox", n.outbox, "writeback queue", n.writeback);
	if (n.invalid > 0)
		printf("%-16s %u (skipped; each is logged with its database and key)\n",
		    "invalid records", n.invalid);
	if (cfg->telephony.jwt_file != NULL) {
		printf("%-16s JWT credential (renewed by ringsyncd)\n", "session");
	} else {
		token_line("access token", tok.access_token, tok.access_expires, now);
		token_line("refresh token", tok.refresh_token, tok.refresh_expires, now);
	}
	store_tokens_clear(&tok);
	json_decref(scan);
	json_decref(import);
	json_decref(full);
	return st.level;
}

/* status_args: the check's thresholds; 0, or -1 after a message. */
static int
status_args(const struct config *cfg, int argc, char **argv,
    struct status_opts *so)
{
	unsigned int iv = cfg->sync.interval;

	so->warn_age = 3 * iv > 900 ? 3 * iv : 900;
	so->crit_age = 10 * iv > 3600 ? 10 * iv : 3600;
	so->warn_failed = 1;
	so->crit_failed = 10;
	for (int i = 0; i < argc; i++) {
		const char *name = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned int *dur = NULL, *num = NULL;
		char *end;
		unsigned long x;

		if (strcmp(name, "--warn-age") == 0)
			dur = &so->warn_age;
		else if (strcmp(name, "--crit-age") == 0)
			dur = &so->crit_age;
		else if (strcmp(name, "--warn-failed") == 0)
			num = &so->warn_failed;
		else if (strcmp(name, "--crit-failed") == 0)
			num = &so->crit_failed;
		else {
			fprintf(stderr, "ringsyncctl: status: unknown option '%s'\n", name);
			return -1;
		}
		if (v == NULL) {
			fprintf(stderr, "ringsyncctl: status: %s needs a value\n", name);
			return -1;
		}
		i++;
		if (dur != NULL && config_parse_duration(v, 365UL * 86400, dur) < 0) {
			fprintf(stderr, "ringsyncctl: status: %s %s: expected a duration "
			    "such as 15m or 2h\n", name, v);
			return -1;
		}
		if (num != NULL) {
			errno = 0;
			x = strtoul(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || *v == '-' ||
			    x > 1000000) {
				fprintf(stderr, "ringsyncctl: status: %s %s: expected a "
				    "number of users (0 turns the threshold off)\n", name, v);
				return -1;
			}
			*num = (unsigned int)x;
		}
	}
	if (so->warn_age > so->crit_age)
		so->warn_age = so->crit_age;
	return 0;
}

/* ---------------------------------------------------------------------
 * auth status */

/* token_line: one token's state; returns 1 when it is valid now. */
static int
token_line(const char *label, const char *token, long long expires,
    long long now)
{
	char t[64], left[64];

	if (token == NULL) {
		printf("%-16s absent\n", label);
		return 0;
	}
	if (expires == 0) {
		printf("%-16s present, expiry unknown\n", label);
		return 1;
	}
	if (expires > now) {
		printf("%-16s valid until %s (%s left)\n", label,
		    fmt_time(expires, t, sizeof(t)), fmt_left(expires - now, left,
		    sizeof(left)));
		return 1;
	}
	printf("%-16s expired at %s\n", label, fmt_time(expires, t, sizeof(t)));
	return 0;
}

/* stored_tokens: 0 read, 1 none stored (or no store yet), -1 error. */
static int
stored_tokens(const char *dir, struct store_tokens *t, char *err, size_t errlen)
{
	char *path = xasprintf("%s/state.mdb", dir);
	struct store_txn *txn;
	struct store *st;
	int rc, exists = access(path, F_OK) == 0;

	free(path);
	memset(t, 0, sizeof(*t));
	if (!exists)
		return 1;
	if (store_open(dir, STORE_RDONLY, &st, err, errlen) < 0)
		return -1;
	if (store_begin(st, 1, &txn, err, errlen) < 0) {
		store_close(st);
		return -1;
	}
	rc = store_tokens_get(txn, t, err, errlen);
	store_abort(txn);
	store_close(st);
	return rc;
}

static int
cmd_auth_status(const struct config *cfg)
{
	long long now = (long long)time(NULL);
	struct store_tokens t;
	char err[512];
	int access_ok, refresh_ok, rc;

	rc = stored_tokens(cfg->sync.state_dir, &t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return EXIT_CONFIG;
	}
	printf("%-16s %s\n", "server", cfg->telephony.server);
	access_ok = token_line("access token", t.access_token, t.access_expires,
	    now);
	refresh_ok = token_line("refresh token", t.refresh_token,
	    t.refresh_expires, now);
	printf("%-16s %s\n", "jwt credential", cfg->telephony.jwt_file ?
	    "configured (jwt_file)" : "not configured");
	store_tokens_clear(&t);
	if (access_ok)
		return 0;
	if (refresh_ok || cfg->telephony.jwt_file != NULL) {
		printf("ringsyncd renews the session by itself\n");
		return EXIT_RENEWABLE;
	}
	printf("no valid session: run `ringsyncctl auth login`\n");
	return EXIT_AUTH;
}

/* ---------------------------------------------------------------------
 * auth login: authorization code with PKCE and a loopback listener */

struct login;

struct login_conn {
	struct login *lg;               /* not owned */
	ev_io io;
	char buf[LOGIN_REQUEST_MAX + 1];
	size_t len;
	struct login_conn *next;
};

struct login {
	struct ev_loop *loop;           /* not owned */
	const struct config *cfg;       /* not owned */
	struct phone *phone;            /* owned */
	struct store *st;               /* owned: writable store, or NULL */
	int lfd;                        /* owned: the listener */
	ev_io accept_io;
	ev_timer deadline;
	unsigned int timeout;
	struct login_conn *conns;       /* owned */
	int nconns;
	char state[64], verifier[64], redirect[64];
	char store_err[256];
	int rc;
};

int
ctl_store_open_rw(const struct config *cfg, struct store **st, char *err,
    size_t errlen)
{
	char first[256];

	if (store_open(cfg->sync.state_dir, 0, st, first, sizeof(first)) == 0)
		return 0;
	if (store_open(cfg->sync.state_dir, STORE_SHARED, st, err, errlen) == 0)
		return 0;
	return errbuf_set(err, errlen, "%s", first);
}

static void
login_finish(struct login *lg, int rc)
{
	lg->rc = rc;
	ev_break(lg->loop, EVBREAK_ALL);
}

static void
conn_close(struct login_conn *c)
{
	struct login *lg = c->lg;
	struct login_conn **pp;

	ev_io_stop(lg->loop, &c->io);
	close(c->io.fd);
	for (pp = &lg->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	lg->nconns--;
	free(c);
}

static void
conn_respond(struct login_conn *c, int status, const char *text)
{
	char *page = xasprintf("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
	    "<title>ringsync</title></head><body><p>%s</p></body></html>\n", text);
	char *resp = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s", status, status == 200 ? "OK" :
	    status == 404 ? "Not Found" : "Bad Request", strlen(page), page);

	/* small enough for the socket buffer; a browser that left gets nothing */
	if (send(c->io.fd, resp, strlen(resp), MSG_NOSIGNAL) < 0 && errno != EPIPE)
		fprintf(stderr, "ringsyncctl: cannot answer the browser: %s\n",
		    strerror(errno));
	free(page);
	free(resp);
	conn_close(c);
}

/* query_get: the decoded value of key in a query string, or NULL. */
static char *
query_get(const char *query, const char *key)
{
	size_t kl = strlen(key);
	const char *s = query;
	char *raw, *out = NULL, *dec;
	int n;

	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, '&');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (len > kl && strncmp(s, key, kl) == 0 && s[kl] == '=') {
			raw = xstrndup(s + kl + 1, len - kl - 1);
			for (char *p = raw; *p; p++)
				if (*p == '+')
					*p = ' ';
			dec = curl_easy_unescape(NULL, raw, 0, &n);
			if (dec != NULL && (size_t)n == strlen(dec))
				out = xstrdup(dec);
			curl_free(dec);
			free(raw);
			return out;
		}
		s = end ? end + 1 : NULL;
	}
	return NULL;
}

static void login_code_cb(const struct phone_error *err, void *arg);

/* login_callback: the browser came back with ?code&state or ?error. */
static void
login_callback(struct login_conn *c, const char *query)
{
	struct login *lg = c->lg;
	char *state = query_get(query, "state"), *code = query_get(query, "code");
	char *error = query_get(query, "error");
	struct phone_code_grant g;

	if (state == NULL || strcmp(state, lg->state) != 0) {
		fprintf(stderr, "ringsyncctl: ignored a redirect that does not "
		    "belong to this login (state mismatch)\n");
		conn_respond(c, 400, "This answer does not belong to the login in "
		    "progress.");
	} else if (error != NULL) {
		fprintf(stderr, "ringsyncctl: the authorization was refused: %s\n",
		    log_q(error));
		conn_respond(c, 400, "The authorization was refused; see the "
		    "terminal.");
		login_finish(lg, EXIT_AUTH);
	} else if (code == NULL) {
		conn_respond(c, 400, "The redirect carries no authorization code.");
	} else {
		log_secret_add(code);
		conn_respond(c, 200, "ringsync received the authorization: you can "
		    "close this window and return to the terminal.");
		ev_io_stop(lg->loop, &lg->accept_io);
		g.code = code;
		g.redirect_uri = lg->redirect;
		g.code_verifier = lg->verifier;
		phone_auth_code(lg->phone, &g, login_code_cb, lg);
	}
	free(state);
	if (code != NULL)
		explicit_bzero(code, strlen(code));
	free(code);
	free(error);
}

/* login_request: one complete request head in c->buf. */
static void
login_request(struct login_conn *c)
{
	char method[8], target[LOGIN_REQUEST_MAX], *url, *path = NULL;
	char *query = NULL;
	CURLU *u = curl_url();
	int ok;

	if (u == NULL)
		abort();
	ok = sscanf(c->buf, "%7s %8191s HTTP/1.", method, target) == 2 &&
	    strcmp(method, "GET") == 0 && target[0] == '/';
	url = xasprintf("http://127.0.0.1%s", ok ? target : "/");
	ok = ok && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
	if (!ok)
		conn_respond(c, 400, "Not a request this listener understands.");
	else if (strcmp(path, "/callback") != 0)
		conn_respond(c, 404, "Nothing here.");
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		conn_respond(c, 400, "The redirect carries no authorization code.");
	else
		login_callback(c, query);
	curl_free(path);
	curl_free(query);
	free(url);
	curl_url_cleanup(u);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct login_conn *c = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(w->fd, c->buf + c->len, LOGIN_REQUEST_MAX - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (strstr(c->buf, "\r\n\r\n") != NULL || strstr(c->buf, "\n\n") != NULL)
		login_request(c);
	else if (c->len == LOGIN_REQUEST_MAX)
		conn_respond(c, 400, "Request too large.");
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct login *lg = w->data;
	struct login_conn *c;
	int fd;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (lg->nconns >= LOGIN_CONNS_MAX) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->lg = lg;
	c->next = lg->conns;
	lg->conns = c;
	lg->nconns++;
	ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct login *lg = w->data;

	(void)loop;
	(void)revents;
	fprintf(stderr, "ringsyncctl: no answer from the browser within %u s: "
	    "nothing changed; run `ringsyncctl auth login` again\n", lg->timeout);
	login_finish(lg, EXIT_AUTH);
}

static void
login_event_cb(const struct phone_event *ev, void *arg)
{
	struct login *lg = arg;

	if (ev->kind == PHONE_EV_STORE_ERROR)
		snprintf(lg->store_err, sizeof(lg->store_err), "%s", ev->detail);
	else if (ev->kind == PHONE_EV_RETRY)
		fprintf(stderr, "ringsyncctl: %s is not answering: retrying in "
		    "%.0f s\n", lg->cfg->telephony.brand, ev->delay);
}

static void
login_code_cb(const struct phone_error *err, void *arg)
{
	struct login *lg = arg;
	char msg[512], a[64], r[64];
	long long ae, re;

	if (err->kind == PHONE_AUTH) {
		fprintf(stderr, "ringsyncctl: the login was refused by %s: error=%s "
		    "detail=%s\n", lg->cfg->telephony.brand, log_q(err->code),
		    log_q(err->detail));
		login_finish(lg, EXIT_AUTH);
		return;
	}
	if (err->kind != PHONE_OK) {
		fprintf(stderr, "ringsyncctl: %s (%s)\n", phone_error_message(err,
		    lg->cfg->telephony.brand, msg, sizeof(msg)), log_q(err->detail));
		login_finish(lg, EXIT_AUTH);
		return;
	}
	if (lg->store_err[0] != '\0') {
		fprintf(stderr, "ringsyncctl: logged in, but %s\n", lg->store_err);
		login_finish(lg, EXIT_CONFIG);
		return;
	}
	phone_token_expiry(lg->phone, &ae, &re);
	printf("logged in to %s: access token valid until %s, refresh token "
	    "valid until %s\n", lg->cfg->telephony.brand, fmt_time(ae, a,
	    sizeof(a)), re ? fmt_time(re, r, sizeof(r)) : "-");
	login_finish(lg, 0);
}

/* login_listen: 127.0.0.1 on an ephemeral port: the redirect_uri. */
static int
login_listen(struct login *lg, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	lg->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lg->lfd < 0)
		return errbuf_set(err, errlen, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lg->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lg->lfd, 8) < 0 ||
	    getsockname(lg->lfd, (struct sockaddr *)&sa, &len) < 0)
		return errbuf_set(err, errlen, "cannot listen on 127.0.0.1: %s",
		    strerror(errno));
	snprintf(lg->redirect, sizeof(lg->redirect), "http://127.0.0.1:%u/callback",
	    (unsigned int)ntohs(sa.sin_port));
	ev_io_init(&lg->accept_io, accept_cb, lg->lfd, EV_READ);
	lg->accept_io.data = lg;
	ev_io_start(lg->loop, &lg->accept_io);
	return 0;
}

static int
login_start(struct login *lg, char *err, size_t errlen)
{
	char challenge[64], *url;

	/* Where the tokens will go, checked before the browser step. */
	if (ctl_store_open_rw(lg->cfg, &lg->st, err, errlen) < 0)
		return -1;
	lg->phone = phone_new(lg->loop, &lg->cfg->telephony, lg->st, NULL, err,
	    errlen);
	if (lg->phone == NULL)
		return -1;
	phone_set_event_cb(lg->phone, login_event_cb, lg);
	if (phone_random_token(32, lg->verifier, sizeof(lg->verifier)) < 0 ||
	    phone_random_token(16, lg->state, sizeof(lg->state)) < 0)
		return errbuf_set(err, errlen, "no randomness available");
	log_secret_add(lg->verifier);
	if (phone_pkce_challenge(lg->verifier, challenge, sizeof(challenge)) < 0)
		return errbuf_set(err, errlen, "cannot compute the PKCE challenge");
	if (login_listen(lg, err, errlen) < 0)
		return -1;
	url = phone_authorize_url(lg->cfg->telephony.server,
	    lg->cfg->telephony.client_id, lg->redirect, lg->state, challenge);
	if (url == NULL)
		return errbuf_set(err, errlen, "server %s is not a URL",
		    lg->cfg->telephony.server);
	printf("Open this address in a browser and sign in to %s as an "
	    "administrator:\n\n  %s\n\nWaiting for the browser at %s (up to %u s) "
	    "...\n", lg->cfg->telephony.brand, url, lg->redirect, lg->timeout);
	fflush(stdout);
	free(url);
	ev_timer_init(&lg->deadline, deadline_cb, lg->timeout, 0.);
	lg->deadline.data = lg;
	ev_timer_start(lg->loop, &lg->deadline);
	return 0;
}

static void
login_end(struct login *lg)
{
	while (lg->conns != NULL)
		conn_close(lg->conns);
	if (lg->lfd >= 0) {
		ev_io_stop(lg->loop, &lg->accept_io);
		close(lg->lfd);
	}
	ev_timer_stop(lg->loop, &lg->deadline);
	phone_free(lg->phone);
	store_close(lg->st);
	explicit_bzero(lg->verifier, sizeof(lg->verifier));
}

static int
cmd_auth_login(const struct config *cfg, unsigned int timeout)
{
	struct login lg;
	char err[512];

	memset(&lg, 0, sizeof(lg));
	lg.loop = ev_default_loop(0);
	lg.cfg = cfg;
	lg.lfd = -1;
	lg.timeout = timeout;
	lg.rc = EXIT_AUTH;
	ev_timer_init(&lg.deadline, deadline_cb, 0., 0.);
	if (login_start(&lg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		login_end(&lg);
		return EXIT_CONFIG;
	}
	ev_run(lg.loop, 0);
	login_end(&lg);
	return lg.rc;
}

/* auth_args: "login [--timeout DURATION]" or "status". */
static int
cmd_auth(const struct config *cfg, int argc, char **argv)
{
	unsigned int timeout = LOGIN_TIMEOUT;
	const char *t = NULL;

	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return cmd_auth_status(cfg);
	if (argc < 1 || strcmp(argv[0], "login") != 0)
		goto bad;
	if (argc == 3 && strcmp(argv[1], "--timeout") == 0)
		t = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--timeout=", 10) == 0)
		t = argv[1] + 10;
	else if (argc != 1)
		goto bad;
	if (t != NULL && (config_parse_duration(t, 86400, &timeout) < 0 ||
	    timeout == 0)) {
		fprintf(stderr, "ringsyncctl: --timeout %s: expected a duration such "
		    "as 90s or 5m\n", t);
		return EXIT_CONFIG;
	}
	return cmd_auth_login(cfg, timeout);
bad:
	fprintf(stderr, "ringsyncctl: auth needs login or status\n");
	usage(stderr);
	return EXIT_CONFIG;
}

static void
print_user(const struct sync_user_view *u, void *arg)
{
	(void)arg;
	printf("email=%s dn=%s phone_id=%s state=%s extension=%s direct_number=%s",
	    log_q(u->email), log_q(u->dn), log_q(u->phone_id), u->state,
	    log_q(u->extension_number), log_q(u->direct_number));
	if (u->last_error != NULL)
		printf(" error=%s", log_q(u->last_error));
	printf("\n");
}

/* users [--failed]: the store's view of every user, read-only. */
static int
cmd_users(const struct config *cfg, int failed_only)
{
	struct store *st;
	char err[512];
	int rc;

	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return EXIT_CONFIG;
	}
	rc = sync_users_list(st, failed_only, print_user, NULL, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ringsyncctl: %s\n", err);
	store_close(st);
	return rc < 0 ? EXIT_CONFIG : 0;
}

/*
 * release-deactivations: the held batch goes to the pusher. Works with
 * ringsyncd running (a short shared write) or stopped.
 */
static int
cmd_release(const struct config *cfg)
{
	struct store *st;
	unsigned int n;
	char err[512];

	if (store_open(cfg->sync.state_dir, STORE_SHARED, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return EXIT_CONFIG;
	}
	if (sync_release_held(st, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return EXIT_CONFIG;
	}
	store_close(st);
	printf("released %u held deactivation%s: ringsyncd sends them at its next "
	    "cycle\n", n, n == 1 ? "" : "s");
	return 0;
}

/*
 * as_state_owner: run as root, act as the owner of state_dir (the
 * ringsync user of the package) so that the files a write creates stay
 * the daemon's. 0, or -1 after a message.
 */
static int
as_state_owner(const char *dir)
{
	struct passwd *pw;
	struct stat sb;

	if (geteuid() != 0 || stat(dir, &sb) < 0 || sb.st_uid == 0)
		return 0;
	if ((pw = getpwuid(sb.st_uid)) == NULL) {
		fprintf(stderr, "ringsyncctl: %s belongs to uid %lu, which has no "
		    "user name: run ringsyncctl as that user\n", dir,
		    (unsigned long)sb.st_uid);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "ringsyncctl: cannot become %s, the owner of %s: %s\n",
		    pw->pw_name, dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct config_problems pr = { 0 };
	const char *path = RINGSYNC_DEFAULT_CONFIG;
	struct config *cfg;
	int c, rc;

	util_json_init();
	/* "+": options end at the command (auth login has its own) */
	while ((c = getopt(argc, argv, "+c:hV")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ringsyncctl %s\n", RINGSYNC_VERSION); return 0;
		default: usage(stderr); return EXIT_CONFIG;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	log_init("ringsyncctl", LOG_USER, LOG_WARNING, LOG_F_STDERR);
	if (config_load(path, 0, &cfg, &pr) < 0) {
		if (strcmp(argv[optind], "status") == 0)
			printf("RINGSYNC CRITICAL: the configuration %s has errors\n", path);
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		config_problems_free(&pr);
		return EXIT_CONFIG;
	}
	/*
	 * schema and auth talk to the DC and the phone system: a peer that
	 * closes a TLS connection must be an EPIPE error, not SIGPIPE's
	 * death. The other commands only print, and end quietly like any
	 * filter when their reader goes away.
	 */
	if (strcmp(argv[optind], "schema") == 0 || strcmp(argv[optind], "auth") == 0)
		signal(SIGPIPE, SIG_IGN);
	if (as_state_owner(cfg->sync.state_dir) < 0) {
		rc = EXIT_CONFIG;
	} else if (strcmp(argv[optind], "status") == 0) {
		struct status_opts so;

		rc = status_args(cfg, argc - optind - 1, argv + optind + 1, &so) < 0 ?
		    EXIT_CONFIG : cmd_status(cfg, &so);
	} else if (strcmp(argv[optind], "users") == 0 && (optind + 1 == argc ||
	    (optind + 2 == argc && strcmp(argv[optind + 1], "--failed") == 0))) {
		rc = cmd_users(cfg, optind + 2 == argc);
	} else if (strcmp(argv[optind], "release-deactivations") == 0 &&
	    optind + 1 == argc) {
		rc = cmd_release(cfg);
	} else if (strcmp(argv[optind], "schema") == 0 && optind + 1 == argc) {
		rc = ctl_schema(cfg);
	} else if (strcmp(argv[optind], "auth") == 0) {
		rc = cmd_auth(cfg, argc - optind - 1, argv + optind + 1);
	} else {
		fprintf(stderr, "ringsyncctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		rc = EXIT_CONFIG;
	}
	config_free(cfg);
	return rc;
}

/*
 * ringsyncctl status: the state store's report (read-only) and a
 * monitoring check with Nagios plugin conventions: exit 0 OK, 1 WARNING,
 * 2 CRITICAL, and a summary line with performance data first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "ctl_status.h"
#include "http.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "sync.h"
#include "util.h"

#define PROGRESS_FRESH 30 /* s: ringsyncd rewrites it every 2 s while working */

static void
print_time(const char *label, long long t)
{
	char buf[64];

	if (t <= 0) {
		printf("%-16s -\n", label);
		return;
	}
	printf("%-16s %s\n", label, ctl_fmt_time(t, buf, sizeof(buf)));
}

/* ---------------------------------------------------------------------
 * status: a report and a monitoring check (Nagios plugin conventions) */

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
	if (st->findings != NULL)
		json_array_append_new(st->findings, json_pack("{s:s, s:s}", "level",
		    ctl_status_names[level], "message", msg));
	if (level > st->level) {
		st->level = level;
		st->o = 0;
		st->why[0] = '\0';
	}
	if (level == st->level && st->o < sizeof(st->why))
		st->o += (size_t)snprintf(st->why + st->o, sizeof(st->why) - st->o,
		    "%s%s", st->o ? "; " : "", msg);
}

const char *const ctl_status_names[] = { "OK", "WARNING", "CRITICAL" };

/* lane: one lane's last cycle; returns the age of its last success. */
static long long
status_lane(struct status *st, const struct status_opts *so, const char *lane,
    const struct record_cycle *rec, long long now)
{
	long long last_ok, age;
	const char *result;
	char left[64];

	if (rec == NULL) {
		status_raise(st, STATUS_CRITICAL, "no %s cycle recorded yet", lane);
		return -1;
	}
	last_ok = rec->last_ok;
	result = rec->result;
	if (strcmp(result, "auth_failed") == 0)
		status_raise(st, STATUS_CRITICAL, "the phone system refused the "
		    "session in the last %s cycle (run ringsyncctl auth login or check "
		    "the JWT credential)", lane);
	else if (strcmp(result, "unreachable") == 0)
		status_raise(st, STATUS_WARNING, "the last %s cycle could not reach "
		    "AD or the phone system", lane);
	if (last_ok <= 0) {
		status_raise(st, STATUS_CRITICAL, "no successful %s cycle yet", lane);
		return -1;
	}
	age = now > last_ok ? now - last_ok : 0;
	if (age > so->crit_age)
		status_raise(st, STATUS_CRITICAL, "last successful %s cycle %s ago",
		    lane, ctl_fmt_left(age, left, sizeof(left)));
	else if (age > so->warn_age)
		status_raise(st, STATUS_WARNING, "last successful %s cycle %s ago",
		    lane, ctl_fmt_left(age, left, sizeof(left)));
	return age;
}

static void
print_cycle(const char *label, const struct record_cycle *rec)
{
	char t[64];

	if (rec == NULL) {
		printf("%-16s none recorded\n", label);
		return;
	}
	printf("%-16s %s %s full=%s result=%s dc=%s usn=%s scanned=%u created=%u "
	    "linked=%u updated=%u deactivated=%u held=%u written_back=%u "
	    "failed=%u api_calls=%llu seconds=%lld\n", label,
	    ctl_fmt_time(rec->end, t, sizeof(t)), rec->kind,
	    rec->full ? "yes" : "no", rec->result, log_q(rec->dc), rec->usn,
	    rec->scanned, rec->created, rec->linked, rec->updated,
	    rec->deactivated, rec->held, rec->written_back, rec->failed,
	    rec->api_calls, rec->end - rec->start);
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
		    "(run ringsyncctl auth login)", ctl_fmt_time(tok->refresh_expires,
		    t, sizeof(t)));
	else if (tok->refresh_expires - now < TOKEN_WARN_DAYS * 86400LL)
		status_raise(st, STATUS_WARNING, "the refresh token expires at %s "
		    "(run ringsyncctl auth login before)", ctl_fmt_time(
		    tok->refresh_expires, t, sizeof(t)));
}

/*
 * daemon_pid: the pid ringsyncd wrote into state_dir/ringsyncd.lock when
 * that process still runs as ringsyncd, else 0. No lock is taken: a
 * starting daemon must never find the lock busy because of a check.
 */
long
ctl_daemon_pid(const char *dir)
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
status_fail(const struct status_opts *so, const char *what, const char *err)
{
	if (so->json)
		ctl_status_json_fail(what, err);
	else
		printf("RINGSYNC CRITICAL: %s: %s\n", what, err);
	return STATUS_CRITICAL;
}

/*
 * status_read: the counts, the last cycles, the watermark and the tokens
 * in one read transaction. 0, or CRITICAL after the check's line.
 */
static int
status_read(const struct config *cfg, const struct status_opts *so,
    struct status_state *ss)
{
	struct store *store;
	struct store_txn *txn;
	char *path;
	int rc;

	path = xasprintf("%s/state.mdb", cfg->sync.state_dir);
	rc = access(path, F_OK);
	free(path);
	if (rc < 0)
		return status_fail(so, "no state yet (has ringsyncd run?)",
		    cfg->sync.state_dir);
	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &store, ss->err,
	    sizeof(ss->err)) < 0)
		return status_fail(so, "cannot read the state", ss->err);
	if (sync_count(store, &ss->n, ss->err, sizeof(ss->err)) < 0 ||
	    store_begin(store, 1, &txn, ss->err, sizeof(ss->err)) < 0) {
		store_close(store);
		return status_fail(so, "cannot read the state", ss->err);
	}
	ss->scan = record_cycle_get(txn, RECORD_CYCLE_SCAN,
	    &ss->cycle[RECORD_CYCLE_SCAN], NULL, 0) == 0 ?
	    &ss->cycle[RECORD_CYCLE_SCAN] : NULL;
	ss->import = record_cycle_get(txn, RECORD_CYCLE_IMPORT,
	    &ss->cycle[RECORD_CYCLE_IMPORT], NULL, 0) == 0 ?
	    &ss->cycle[RECORD_CYCLE_IMPORT] : NULL;
	ss->full = record_cycle_get(txn, RECORD_CYCLE_FULL,
	    &ss->cycle[RECORD_CYCLE_FULL], NULL, 0) == 0 ?
	    &ss->cycle[RECORD_CYCLE_FULL] : NULL;
	ss->wrc = store_watermark_get(txn, &ss->w, ss->err, sizeof(ss->err));
	ss->have_scope = record_scope_get(txn, &ss->scope, NULL, 0) == 0;
	/* a record a stopped or killed daemon left is not news */
	ss->have_prog = record_progress_get(txn, &ss->prog, NULL, 0) == 0 &&
	    ss->prog.updated + PROGRESS_FRESH >= (long long)time(NULL) &&
	    ctl_daemon_pid(cfg->sync.state_dir) > 0;
	/* written by the running daemon at its start and at every change */
	ss->have_budget = record_budget_get(txn, &ss->budget, NULL, 0) == 0 &&
	    ctl_daemon_pid(cfg->sync.state_dir) > 0;
	if (store_tokens_get(txn, &ss->tok, ss->err, sizeof(ss->err)) < 0)
		memset(&ss->tok, 0, sizeof(ss->tok));
	store_abort(txn);
	store_close(store);
	return 0;
}

static void
status_state_clear(struct status_state *ss)
{
	if (ss->wrc == 0)
		store_watermark_clear(&ss->w);
	store_tokens_clear(&ss->tok);
	record_scope_clear(&ss->scope);
}

/* status_judge: the findings into st (the lanes' ages into ss). */
static void
status_judge(struct status *st, const struct config *cfg,
    const struct status_opts *so, struct status_state *ss, long long now)
{
	const struct sync_counts *n = &ss->n;

	ss->scan_age = status_lane(st, so, "scan", ss->scan, now);
	ss->import_age = status_lane(st, so, "import", ss->import, now);
	if (n->held > 0)
		status_raise(st, STATUS_CRITICAL, "%u deactivation%s held (review, "
		    "then ringsyncctl release-deactivations)", n->held,
		    n->held == 1 ? "" : "s");
	if (so->crit_failed > 0 && n->failed >= so->crit_failed)
		status_raise(st, STATUS_CRITICAL, "%u failing users", n->failed);
	else if (so->warn_failed > 0 && n->failed >= so->warn_failed)
		status_raise(st, STATUS_WARNING, "%u failing user%s", n->failed,
		    n->failed == 1 ? "" : "s");
	if (ss->have_scope && ss->scope.error != NULL)
		status_raise(st, STATUS_CRITICAL, "the scope groups cannot be read, "
		    "nothing is decided: %s", ss->scope.error);
	for (size_t i = 0; ss->have_scope && i < ss->scope.n; i++)
		if (ss->scope.g[i].deleted)
			status_raise(st, STATUS_CRITICAL, "scope group %s was deleted in "
			    "AD", ss->scope.g[i].dn);
	if (n->invalid > 0)
		status_raise(st, STATUS_WARNING, "%u invalid record%s in the state "
		    "store (skipped; the log names them)", n->invalid,
		    n->invalid == 1 ? "" : "s");
	status_token(st, cfg, &ss->tok, now);
	if (st->level == STATUS_OK)
		status_raise(st, STATUS_OK, "%u users linked, last cycles %llds "
		    "(scan) and %llds (import) ago", n->linked, ss->scan_age,
		    ss->import_age);
}

/* status_summary: the check's line: level, findings, performance data. */
static void
status_summary(const struct status *st, const struct status_opts *so,
    const struct status_state *ss)
{
	const struct sync_counts *n = &ss->n;

	printf("RINGSYNC %s: %s | scan_age=%llds;%u;%u import_age=%llds;%u;%u "
	    "failed=%u;%u;%u linked=%u held=%u outbox=%zu writeback=%zu",
	    ctl_status_names[st->level], st->why,
	    ss->scan_age < 0 ? 0 : ss->scan_age, so->warn_age, so->crit_age,
	    ss->import_age < 0 ? 0 : ss->import_age, so->warn_age, so->crit_age,
	    n->failed, so->warn_failed, so->crit_failed, n->linked, n->held,
	    n->outbox, n->writeback);
	if (n->invalid > 0)
		printf(" invalid=%u", n->invalid);
	printf("\n");
}

static void
print_watermark(const struct status_state *ss)
{
	if (ss->wrc == 0) {
		printf("%-16s %s\n%-16s %s\n%-16s %llu\n", "dc", ss->w.dns_host_name,
		    "invocation_id", ss->w.invocation_id, "watermark", ss->w.usn);
		print_time("watermark_time", ss->w.time);
	} else {
		printf("%-16s %s\n", "watermark", ss->wrc < 0 ? ss->err :
		    "none (no scan yet)");
	}
}

static void
print_counts(const struct sync_counts *n)
{
	printf("%-16s %u\n%-16s %u\n%-16s %u\n%-16s %u\n%-16s %zu\n%-16s %zu\n",
	    "users", n->users, "linked", n->linked, "failing", n->failed,
	    "held", n->held, "outbox", n->outbox, "writeback queue", n->writeback);
	if (n->invalid > 0)
		printf("%-16s %u (skipped; each is logged with its database and key)\n",
		    "invalid records", n->invalid);
}

/* print_scope: each scope group, its members and when they last changed. */
static void
print_scope(const struct config *cfg, const struct status_state *ss)
{
	char t[64];
	size_t live = 0;

	if (cfg->ldap.groups.n == 0 && !ss->have_scope)
		return;
	if (!ss->have_scope || ss->scope.n == 0) {
		printf("%-16s %zu configured, not read yet\n", "scope groups",
		    cfg->ldap.groups.n);
		return;
	}
	for (size_t i = 0; i < ss->scope.n; i++) {
		const struct record_scope_group *g = &ss->scope.g[i];

		printf("%-16s %s members=%u changed=%s%s%s%s\n", "scope group", g->dn,
		    g->members, g->changed > 0 ? ctl_fmt_time(g->changed, t,
		    sizeof(t)) : "-", g->deleted ? " deleted in AD" : "",
		    strcasecmp(g->now_dn, g->dn) != 0 && !g->deleted ? " now " : "",
		    strcasecmp(g->now_dn, g->dn) != 0 && !g->deleted ? g->now_dn : "");
	}
	for (size_t i = 0; i < ss->scope.n; i++)
		live += !ss->scope.g[i].deleted;
	printf("%-16s %zu\n", "nested groups", ss->scope.nnested > live ?
	    ss->scope.nnested - live : 0);
	if (ss->scope.error != NULL)
		printf("%-16s %s\n", "scope error", ss->scope.error);
}

/*
 * print_budget: each rate group's budget and what the daemon's two lanes
 * sent of it within the last window: push (writes and the pusher's
 * lookups) and read (the import's reads, at most read_share of it).
 */
static void
print_budget(const struct status_state *ss)
{
	const struct record_budget *b = &ss->budget;

	if (!ss->have_budget)
		return;
	for (int g = 0; g < RECORD_BUDGET_GROUPS; g++) {
		const struct record_budget_group *x = &b->g[g];
		char label[32];

		snprintf(label, sizeof(label), "budget %s",
		    http_group_name((enum http_group)g));
		printf("%-16s %d a %d s: push %u (queued %u), read %u of %u "
		    "(queued %u)\n", label, x->limit, x->window, x->sent[0],
		    x->queued[0], x->sent[1],
		    (unsigned int)http_share_cap(x->limit, b->read_share),
		    x->queued[1]);
	}
}

/* status_report: the state for a person, after the check's line. */
static void
status_report(const struct config *cfg, const struct status_state *ss,
    long long now)
{
	long pid;

	printf("%-16s %s\n", "state_dir", cfg->sync.state_dir);
	if ((pid = ctl_daemon_pid(cfg->sync.state_dir)) > 0)
		printf("%-16s running (pid %ld)\n", "ringsyncd", pid);
	else
		printf("%-16s not running\n", "ringsyncd");
	if (ss->have_prog) {
		char line[160], since[32];

		printf("%-16s %s (since %s)\n", "working", sync_progress_line(line,
		    sizeof(line), ss->prog.phase, ss->prog.done, ss->prog.total,
		    ss->prog.per_hour / 60., (double)ss->prog.left),
		    ctl_fmt_time(ss->prog.since, since, sizeof(since)));
	}
	print_budget(ss);
	print_watermark(ss);
	print_cycle("scan cycle", ss->scan);
	print_cycle("full sync", ss->full);
	print_cycle("import cycle", ss->import);
	print_counts(&ss->n);
	print_scope(cfg, ss);
	if (cfg->telephony.jwt_file != NULL) {
		printf("%-16s JWT credential (renewed by ringsyncd)\n", "session");
	} else {
		ctl_token_line("access token", ss->tok.access_token,
		    ss->tok.access_expires, now);
		ctl_token_line("refresh token", ss->tok.refresh_token,
		    ss->tok.refresh_expires, now);
	}
}

static int
cmd_status(const struct config *cfg, const struct status_opts *so)
{
	struct status_state ss = { 0 };
	struct status st = { 0 };
	long long now = (long long)time(NULL);
	int rc;

	if ((rc = status_read(cfg, so, &ss)) != 0)
		return rc;
	if (so->json)
		st.findings = json_array();
	status_judge(&st, cfg, so, &ss, now);
	if (so->json) {
		ctl_status_json(cfg, so, &st, &ss, now);
	} else {
		status_summary(&st, so, &ss);
		status_report(cfg, &ss, now);
	}
	json_decref(st.findings);
	status_state_clear(&ss);
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

		if (strcmp(name, "--json") == 0) {
			so->json = 1;
			continue;
		}
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

int
ctl_status(const struct config *cfg, int argc, char **argv)
{
	struct status_opts so = { 0 };

	return status_args(cfg, argc, argv, &so) < 0 ? CTL_EXIT_CONFIG :
	    cmd_status(cfg, &so);
}

/*
 * sync_metrics: [log] metrics_file, the Prometheus text format (for
 * node_exporter's textfile collector), rewritten after every cycle: a new
 * file in the same directory, then a rename, so a reader never sees half
 * of one. Counters count since ringsyncd started; gauges are read from
 * the store (its counts only after a cycle that changed something).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"
#include "version.h"

static const char *const results[SYNC_METRIC_RESULTS] = {
	"ok", "users_failed", "unreachable", "auth_failed", "scope_failed",
};

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label_value: a value for a label, escaped as the text format wants. */
static void
label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
cycles(FILE *f, const struct sync_metrics *m)
{
	static const enum sync_kind kinds[] = { SYNC_INCREMENTAL, SYNC_FULL,
		SYNC_IMPORT, SYNC_CHANGES };
	const size_t nk = sizeof(kinds) / sizeof(kinds[0]);

	head(f, "ringsync_cycles_total", "counter", "Cycles ended since ringsyncd "
	    "started, by kind and result.");
	for (size_t k = 0; k < nk; k++)
		for (size_t r = 0; r < SYNC_METRIC_RESULTS; r++)
			fprintf(f, "ringsync_cycles_total{kind=\"%s\",result=\"%s\"} %llu\n",
			    sync_kind_name(kinds[k]), results[r], m->cycles[kinds[k]][r]);
	head(f, "ringsync_cycle_duration_seconds", "gauge", "The length of the "
	    "last cycle of each kind.");
	for (size_t k = 0; k < nk; k++)
		fprintf(f, "ringsync_cycle_duration_seconds{kind=\"%s\"} %.3f\n",
		    sync_kind_name(kinds[k]), m->duration[kinds[k]]);
	head(f, "ringsync_last_success_timestamp_seconds", "gauge", "The end of "
	    "each lane's last cycle that reached both sides (0: none yet).");
	fprintf(f, "ringsync_last_success_timestamp_seconds{lane=\"scan\"} %lld\n"
	    "ringsync_last_success_timestamp_seconds{lane=\"import\"} %lld\n",
	    m->last_ok[0], m->last_ok[1]);
}

static void
store_gauges(FILE *f, const struct sync_counts *n, double now)
{
	double oldest = n->oldest_seq ? now - (double)n->oldest_seq / 1e6 : 0;

	head(f, "ringsync_users", "gauge", "Users in the state store, by state "
	    "(all, linked to a phone user, failing).");
	fprintf(f, "ringsync_users{state=\"all\"} %u\nringsync_users{state=\"linked\"} "
	    "%u\nringsync_users{state=\"failing\"} %u\n", n->users, n->linked,
	    n->failed);
	head(f, "ringsync_deactivations_held", "gauge", "Deactivations held "
	    "(max_deactivations, a deleted scope group) until released.");
	fprintf(f, "ringsync_deactivations_held %u\n", n->held);
	head(f, "ringsync_outbox_entries", "gauge", "Desired states waiting to be "
	    "pushed.");
	fprintf(f, "ringsync_outbox_entries %zu\n", n->outbox);
	head(f, "ringsync_outbox_oldest_age_seconds", "gauge", "Since the oldest "
	    "waiting desired state was queued (0: none waits).");
	fprintf(f, "ringsync_outbox_oldest_age_seconds %.0f\n", oldest > 0 ? oldest : 0);
	head(f, "ringsync_writeback_entries", "gauge", "Write-backs waiting for AD.");
	fprintf(f, "ringsync_writeback_entries %zu\n", n->writeback);
	head(f, "ringsync_store_invalid_records", "gauge", "Records of the state "
	    "store that did not validate (skipped).");
	fprintf(f, "ringsync_store_invalid_records %u\n", n->invalid);
}

static void
requests(FILE *f, const struct sync *s)
{
	unsigned long long sent[HTTP_NGROUPS], limited[HTTP_NGROUPS], ops[3];

	for (int g = 0; g < HTTP_NGROUPS; g++)
		phone_group_counts(s->phone, (enum http_group)g, &sent[g], &limited[g]);
	head(f, "ringsync_api_requests_total", "counter", "Phone-system API "
	    "requests sent, by rate group (every attempt counts).");
	for (int g = 0; g < HTTP_NGROUPS; g++)
		fprintf(f, "ringsync_api_requests_total{group=\"%s\"} %llu\n",
		    http_group_name((enum http_group)g), sent[g]);
	head(f, "ringsync_api_rate_limited_total", "counter", "429 answers of the "
	    "phone system, by rate group.");
	for (int g = 0; g < HTTP_NGROUPS; g++)
		fprintf(f, "ringsync_api_rate_limited_total{group=\"%s\"} %llu\n",
		    http_group_name((enum http_group)g), limited[g]);
	ad_op_counts(s->ad, &ops[0], &ops[1], &ops[2]);
	head(f, "ringsync_ldap_operations_total", "counter", "LDAP requests sent "
	    "to AD, by operation (a paged search counts each page).");
	fprintf(f, "ringsync_ldap_operations_total{op=\"search\"} %llu\n"
	    "ringsync_ldap_operations_total{op=\"modify\"} %llu\n"
	    "ringsync_ldap_operations_total{op=\"bind\"} %llu\n", ops[0], ops[1],
	    ops[2]);
	head(f, "ringsync_change_feed_active", "gauge", "1 while the phone "
	    "system's change feed is subscribed, else 0.");
	fprintf(f, "ringsync_change_feed_active %d\n",
	    feed_state(s->feed) == FEED_ACTIVE);
	head(f, "ringsync_change_feed_events_total", "counter", "Change-feed "
	    "notifications received (replays left out).");
	fprintf(f, "ringsync_change_feed_events_total %llu\n",
	    feed_events(s->feed));
}

/* state_gauges: the session's expiry and the scope groups, from the store. */
static void
state_gauges(FILE *f, struct sync *s)
{
	struct store_tokens tok = { 0 };
	struct record_scope sc = { 0 };
	struct store_txn *txn;
	int have_scope = 0;
	char err[256];

	if (store_begin(s->store, 1, &txn, err, sizeof(err)) == 0) {
		if (store_tokens_get(txn, &tok, err, sizeof(err)) < 0)
			memset(&tok, 0, sizeof(tok));
		have_scope = record_scope_get(txn, &sc, NULL, 0) == 0;
		store_abort(txn);
	}
	head(f, "ringsync_session_expiry_timestamp_seconds", "gauge", "When the "
	    "phone-system session ends unless renewed: the refresh token's expiry, "
	    "else the access token's (0: unknown).");
	fprintf(f, "ringsync_session_expiry_timestamp_seconds %lld\n",
	    tok.refresh_expires > 0 ? tok.refresh_expires : tok.access_expires);
	store_tokens_clear(&tok);
	if (!have_scope)
		return;
	head(f, "ringsync_scope_group_members", "gauge", "Users each scope group "
	    "brings in ([ldap] groups).");
	for (size_t i = 0; i < sc.n; i++) {
		fputs("ringsync_scope_group_members{group=\"", f);
		label_value(f, sc.g[i].dn);
		fprintf(f, "\"} %u\n", sc.g[i].members);
	}
	record_scope_clear(&sc);
}

/* write_all: every metric into path's temporary sibling, then the rename. */
static int
write_all(struct sync *s, const char *path, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL) {
		rc = util_errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(tmp);
		return rc;
	}
	head(f, "ringsync_info", "gauge", "The running ringsyncd.");
	fprintf(f, "ringsync_info{version=\"%s\"} 1\n", RINGSYNC_VERSION);
	cycles(f, &s->metrics);
	store_gauges(f, &s->metrics.n, ev_now(s->loop));
	requests(f, s);
	state_gauges(f, s);
	if (ferror(f) | (fclose(f) != 0))
		rc = util_errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
	else if (rename(tmp, path) < 0)
		rc = util_errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* changed: did the cycle change what the store counts? */
static int
changed(const struct cycle *c)
{
	return c->scanned || c->created || c->linked || c->updated ||
	    c->deactivated || c->held || c->written_back || c->failed ||
	    c->unmatched || c->duplicates;
}

const struct sync_counts *
sync_metrics_counts(struct sync *s, const struct cycle *c)
{
	struct sync_metrics *m = &s->metrics;
	char err[512];

	if (m->counted && !changed(c))
		return &m->n;
	if (sync_count(s->store, &m->n, err, sizeof(err)) < 0) {
		log_warning("cannot count the store's users error=%s", log_q(err));
		m->counted = 0;
		return NULL;
	}
	m->counted = 1;
	return &m->n;
}

void
sync_metrics_cycle(struct sync *s, const struct cycle *c, const char *result,
    int ok)
{
	struct sync_metrics *m = &s->metrics;
	char err[512];
	size_t r;

	for (r = 0; r < SYNC_METRIC_RESULTS - 1 && strcmp(results[r], result); r++)
		;
	m->cycles[c->kind][r]++;
	m->duration[c->kind] = ev_now(s->loop) - c->t0;
	if (ok)
		m->last_ok[c->kind == SYNC_IMPORT || c->kind == SYNC_CHANGES] = (long long)ev_now(s->loop);
	if (s->cfg->log.metrics_file == NULL || s->dry_run)
		return;
	sync_metrics_counts(s, c);
	if (write_all(s, s->cfg->log.metrics_file, err, sizeof(err)) < 0) {
		if (!m->failing)
			log_warning("cannot write the metrics file error=%s", log_q(err));
		m->failing = 1;
	} else {
		if (m->failing)
			log_notice("the metrics file is written again file=%s",
			    log_q(s->cfg->log.metrics_file));
		m->failing = 0;
	}
}

/* ------------------------------------------------------------ budgets */

#define BUDGET_TICK 5.0 /* s */

static void
budget_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sync *s = w->data;
	struct record_budget b;
	struct store_txn *txn;
	char err[256];

	(void)loop;
	(void)revents;
	memset(&b, 0, sizeof(b)); /* padding too: compared with memcmp */
	for (int g = 0; g < HTTP_NGROUPS && g < RECORD_BUDGET_GROUPS; g++) {
		struct http_group_use u;

		phone_group_use(s->phone, (enum http_group)g, &u);
		b.g[g].limit = u.limit > 0 ? u.limit : 0;
		b.g[g].window = u.window > 0 ? u.window : 0;
		for (int l = 0; l < 2; l++) {
			b.g[g].sent[l] = u.sent[l];
			b.g[g].queued[l] = u.queued[l];
		}
	}
	b.read_share = s->cfg->telephony.read_share;
	b.updated = s->budget.updated;
	if (s->budget.updated != 0 && memcmp(&b, &s->budget, sizeof(b)) == 0)
		return;
	b.updated = (long long)ev_now(s->loop);
	if ((txn = sync_txn_begin(s)) == NULL)
		return;
	if (record_budget_put(txn, &b, err, sizeof(err)) < 0) {
		store_abort(txn);
		return;
	}
	sync_txn_commit(s, txn);
	s->budget = b;
}

void
sync_budget_start(struct sync *s)
{
	if (s->budget_on || s->dry_run)
		return;
	ev_timer_init(&s->budget_timer, budget_tick, 0., BUDGET_TICK);
	s->budget_timer.data = s;
	ev_timer_start(s->loop, &s->budget_timer);
	s->budget_on = 1;
}

void
sync_budget_stop(struct sync *s)
{
	if (!s->budget_on)
		return;
	ev_timer_stop(s->loop, &s->budget_timer);
	s->budget_on = 0;
}

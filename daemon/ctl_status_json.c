/*
 * ringsyncctl status --json: the facts of the report and the check's
 * verdict as one JSON object (ringsyncctl(8) lists its members). Times
 * are Unix seconds; absent facts are null.
 */
#include <stdio.h>
#include <string.h>

#include "ctl_status.h"
#include "http.h"
#include "util.h"

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
time_or_null(long long t)
{
	return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static json_t *
cycle_json(const struct record_cycle *c)
{
	if (c == NULL)
		return json_null();
	return json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:b, s:{s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I}, s:I}", "kind", c->kind,
	    "start", time_or_null(c->start), "end", time_or_null(c->end),
	    "last_ok", time_or_null(c->last_ok), "result", c->result, "dc", c->dc,
	    "usn", c->usn, "full", c->full, "counts",
	    "scanned", (json_int_t)c->scanned, "created", (json_int_t)c->created,
	    "linked", (json_int_t)c->linked, "updated", (json_int_t)c->updated,
	    "deactivated", (json_int_t)c->deactivated, "held", (json_int_t)c->held,
	    "written_back", (json_int_t)c->written_back,
	    "failed", (json_int_t)c->failed, "api_calls", (json_int_t)c->api_calls);
}

static json_t *
watermark_json(const struct status_state *ss)
{
	if (ss->wrc != 0)
		return json_null();
	return json_pack("{s:o, s:o, s:I, s:o}", "dc", str_or_null(ss->w.dns_host_name),
	    "invocation_id", str_or_null(ss->w.invocation_id), "usn",
	    (json_int_t)ss->w.usn, "time", time_or_null(ss->w.time));
}

static json_t *
scope_json(const struct config *cfg, const struct status_state *ss)
{
	json_t *groups;
	size_t live = 0;

	if (cfg->ldap.groups.n == 0 && !ss->have_scope)
		return json_null();
	groups = json_array();
	for (size_t i = 0; ss->have_scope && i < ss->scope.n; i++) {
		const struct record_scope_group *g = &ss->scope.g[i];

		live += !g->deleted;
		json_array_append_new(groups, json_pack("{s:s, s:o, s:o, s:I, s:o, s:b}",
		    "dn", g->dn, "now_dn", str_or_null(g->now_dn), "guid",
		    g->guid[0] ? json_string(g->guid) : json_null(), "members",
		    (json_int_t)g->members, "changed", time_or_null(g->changed),
		    "deleted", g->deleted));
	}
	return json_pack("{s:I, s:o, s:I, s:o, s:o}", "configured",
	    (json_int_t)cfg->ldap.groups.n, "groups", groups, "nested",
	    (json_int_t)(ss->have_scope && ss->scope.nnested > live ?
	    ss->scope.nnested - live : 0), "checked", time_or_null(ss->have_scope ?
	    ss->scope.checked : 0), "error", str_or_null(ss->have_scope ?
	    ss->scope.error : NULL));
}

/* session_json: expiry times only: a token never leaves the store. */
/* budget_json: the rate budgets by group and lane, or null (no daemon). */
static json_t *
budget_json(const struct status_state *ss)
{
	const struct record_budget *b = &ss->budget;
	json_t *gs;

	if (!ss->have_budget)
		return json_null();
	gs = json_object();
	for (int g = 0; g < RECORD_BUDGET_GROUPS; g++) {
		const struct record_budget_group *x = &b->g[g];

		json_object_set_new(gs, http_group_name((enum http_group)g),
		    json_pack("{s:i, s:i, s:{s:I, s:I}, s:{s:I, s:I, s:I}}",
		    "limit", x->limit, "window", x->window, "push", "sent",
		    (json_int_t)x->sent[0], "queued", (json_int_t)x->queued[0],
		    "read", "sent", (json_int_t)x->sent[1], "queued",
		    (json_int_t)x->queued[1], "cap",
		    (json_int_t)http_share_cap(x->limit, b->read_share)));
	}
	return json_pack("{s:I, s:I, s:o}", "read_share",
	    (json_int_t)b->read_share, "updated", (json_int_t)b->updated,
	    "groups", gs);
}

static json_t *
session_json(const struct config *cfg, const struct status_state *ss)
{
	if (cfg->telephony.jwt_file != NULL)
		return json_pack("{s:s}", "kind", "jwt");
	return json_pack("{s:s, s:b, s:o, s:b, s:o}", "kind", "login",
	    "access_token", ss->tok.access_token != NULL, "access_expires",
	    time_or_null(ss->tok.access_expires), "refresh_token",
	    ss->tok.refresh_token != NULL, "refresh_expires",
	    time_or_null(ss->tok.refresh_expires));
}

static json_t *
counts_json(const struct sync_counts *n)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "users",
	    (json_int_t)n->users, "linked", (json_int_t)n->linked, "failing",
	    (json_int_t)n->failed, "held", (json_int_t)n->held, "outbox",
	    (json_int_t)n->outbox, "writeback", (json_int_t)n->writeback,
	    "invalid", (json_int_t)n->invalid);
}

static void
print_json(json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	printf("%s\n", text);
	free(text);
	json_decref(o);
}

void
ctl_status_json(const struct config *cfg, const struct status_opts *so,
    const struct status *st, const struct status_state *ss, long long now)
{
	long pid = ctl_daemon_pid(cfg->sync.state_dir);
	json_t *o = json_pack("{s:s, s:i, s:s, s:O, s:I, s:s}", "status",
	    ctl_status_names[st->level], "exit", st->level, "summary", st->why,
	    "findings", st->findings, "time", (json_int_t)now, "state_dir",
	    cfg->sync.state_dir);

	json_object_set_new(o, "thresholds", json_pack("{s:I, s:I, s:I, s:I}",
	    "warn_age", (json_int_t)so->warn_age, "crit_age", (json_int_t)so->crit_age,
	    "warn_failed", (json_int_t)so->warn_failed, "crit_failed",
	    (json_int_t)so->crit_failed));
	json_object_set_new(o, "ages", json_pack("{s:o, s:o}", "scan", ss->scan_age >=
	    0 ? json_integer(ss->scan_age) : json_null(), "import", ss->import_age >= 0 ?
	    json_integer(ss->import_age) : json_null()));
	json_object_set_new(o, "daemon", json_pack("{s:b, s:o}", "running", pid > 0,
	    "pid", pid > 0 ? json_integer(pid) : json_null()));
	json_object_set_new(o, "watermark", watermark_json(ss));
	json_object_set_new(o, "cycles", json_pack("{s:o, s:o, s:o}", "scan",
	    cycle_json(ss->scan), "full", cycle_json(ss->full), "import",
	    cycle_json(ss->import)));
	json_object_set_new(o, "counts", counts_json(&ss->n));
	json_object_set_new(o, "scope", scope_json(cfg, ss));
	json_object_set_new(o, "session", session_json(cfg, ss));
	json_object_set_new(o, "budget", budget_json(ss));
	json_object_set_new(o, "progress", !ss->have_prog ? json_null() :
	    json_pack("{s:s, s:I, s:I, s:f, s:o, s:I, s:I}", "phase", ss->prog.phase,
	    "done", (json_int_t)ss->prog.done, "total", (json_int_t)ss->prog.total,
	    "per_minute", ss->prog.per_hour / 60., "left", ss->prog.left >= 0 ?
	    json_integer(ss->prog.left) : json_null(), "since",
	    (json_int_t)ss->prog.since, "updated", (json_int_t)ss->prog.updated));
	print_json(o);
}

void
ctl_status_json_fail(const char *what, const char *err)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	print_json(json_pack("{s:s, s:i, s:s, s:[{s:s, s:s}]}", "status", "CRITICAL",
	    "exit", STATUS_CRITICAL, "summary", msg, "findings", "level", "CRITICAL",
	    "message", msg));
}

/*
 * sync: orchestration of the engine's stages in two lanes that run
 * independently on the loop: AD -> phone (the scanner fills the outbox and
 * kicks the pusher, which keeps draining it at the pace the rate limits
 * allow while later scans go on) and phone -> AD (the importer fills the
 * write-back queue, then the writer drains it). Requests for a busy lane
 * coalesce and run when it is free. --once runs the four stages in turn.
 */
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "schema.h"
#include "sync_stage.h"
#include "util.h"

#define STOP_GRACE 8.0 /* s: SIGTERM must end within 10 s (ringsyncd(8)) */
#define ONCE_NOTIFY_WAIT 35.0 /* s: --once waits for its notifications */
#define STOP_NOTIFY_WAIT 1.5  /* s: a stop waits as long, within the 10 s */

const char *
sync_kind_name(enum sync_kind kind)
{
	switch (kind) {
	case SYNC_INCREMENTAL: return "incremental";
	case SYNC_IMPORT: return "import";
	case SYNC_FULL: return "full";
	case SYNC_CHANGES: return "changes";
	case SYNC_NKINDS: break;
	}
	return "unknown";
}

struct store_txn *
sync_txn_begin(struct sync *s)
{
	struct store_txn *txn;
	char err[512];

	if (store_begin(s->store, 0, &txn, err, sizeof(err)) < 0) {
		log_err("cannot use the state store error=%s", log_q(err));
		return NULL;
	}
	return txn;
}

int
sync_txn_commit(struct sync *s, struct store_txn *txn)
{
	char err[512];

	if (s->dry_run) {
		store_abort(txn); /* a dry run writes nothing */
		return 0;
	}
	if (store_commit(txn, err, sizeof(err)) < 0) {
		log_err("cannot commit to the state store error=%s", log_q(err));
		s->store_errors++;
		return -1;
	}
	return 0;
}

const char *
sync_field_attr(const struct sync *s, const char *field)
{
	const struct config_pair *pv = config_map_pair(&s->cfg->push, field);

	if (pv == NULL)
		pv = config_map_pair(&s->cfg->create, field);
	return pv ? config_pair_attr(pv) : NULL;
}

void
sync_user_failed(struct sync *s, struct cycle *c, const char *dn, const char *email,
    const char *attr, const char *value, const char *msg)
{
	(void)s;
	c->failed++;
	log_err("user failed: %s dn=%s email=%s attribute=%s value=%s", msg,
	    log_q(dn), log_q(email), log_q(attr), log_q(value));
}

void
sync_history(struct sync *s, struct store_txn *txn, const char *guid,
    unsigned long long cycle, const char *what, json_t *changes,
    const char *detail)
{
	struct record_event ev = { .cycle = cycle, .what = (char *)what,
		.changes = changes, .detail = (char *)detail };
	unsigned int keep = s->cfg->sync.history;
	char err[256];

	if (keep > 0 && !s->dry_run && guid != NULL) {
		snprintf(ev.guid, sizeof(ev.guid), "%s", guid);
		if (record_event_add(txn, &ev, RECORD_HISTORY_CAP,
		    (long long)time(NULL) - (long long)keep, err, sizeof(err)) < 0)
			log_err("cannot record the history of a user guid=%s error=%s",
			    log_q(guid), log_q(err));
	}
	json_decref(changes);
}

/*
 * history_prune: a full cycle drops the history older than [sync] history
 * (all of it when none is kept), at most HISTORY_PRUNE_MAX entries a
 * cycle, so that a first prune of a large store does not hold the
 * transaction long; the next full cycle goes on.
 */
#define HISTORY_PRUNE_MAX 50000

static void
history_prune(struct sync *s, struct store_txn *txn, long long now)
{
	unsigned int keep = s->cfg->sync.history;
	size_t n;
	char err[256];

	if (record_events_prune(txn, keep > 0 ? now - (long long)keep : now + 1,
	    HISTORY_PRUNE_MAX, &n, err, sizeof(err)) < 0)
		log_err("cannot prune the history error=%s", log_q(err));
	else if (n > 0)
		log_info("history pruned entries=%zu older_than=%us", n, keep);
}

static const char *
result_name(const struct cycle *c)
{
	if (c->auth_failed)
		return "auth_failed";
	if (c->scope_failed)
		return "scope_failed";
	if (c->ad_down || c->phone_down)
		return "unreachable";
	return c->failed ? "users_failed" : "ok";
}

/*
 * record: the cycle's summary in meta as cycle.scan (full or incremental)
 * or cycle.import, and a full scan also as cycle.full, for ringsyncctl
 * status. last_ok carries the end of the lane's last cycle that reached
 * both sides. A dry run records nothing.
 */
static void
record(struct sync *s, const struct cycle *c, const char *usn)
{
	enum record_cycle_key key = c->kind == SYNC_IMPORT ?
	    RECORD_CYCLE_IMPORT : RECORD_CYCLE_SCAN;
	long long now = (long long)ev_now(s->loop);
	struct record_cycle r, prev;
	struct store_txn *txn;
	char err[256];
	int ok = !c->ad_down && !c->phone_down && !c->scope_failed;

	/* The change feed's short cycles leave the import's summary alone. */
	if (s->dry_run || c->kind == SYNC_CHANGES ||
	    (txn = sync_txn_begin(s)) == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.last_ok = now;
	if (!ok)
		r.last_ok = record_cycle_get(txn, key, &prev, NULL, 0) == 0 ?
		    prev.last_ok : 0;
	snprintf(r.kind, sizeof(r.kind), "%s", sync_kind_name(c->kind));
	snprintf(r.result, sizeof(r.result), "%s", result_name(c));
	snprintf(r.dc, sizeof(r.dc), "%s", c->dc);
	snprintf(r.usn, sizeof(r.usn), "%s", usn);
	r.start = (long long)c->t0;
	r.end = now;
	r.full = c->full;
	r.scanned = c->scanned;
	r.created = c->created;
	r.linked = c->linked;
	r.updated = c->updated;
	r.deactivated = c->deactivated;
	r.held = c->held;
	r.written_back = c->written_back;
	r.failed = c->failed;
	r.api_calls = phone_requests(s->phone) - c->api0;
	if (record_cycle_put(txn, key, &r, err, sizeof(err)) < 0 || (c->full &&
	    record_cycle_put(txn, RECORD_CYCLE_FULL, &r, err, sizeof(err)) < 0)) {
		log_err("cannot record the cycle error=%s", log_q(err));
		store_abort(txn);
	} else {
		if (c->full)
			history_prune(s, txn, now);
		sync_txn_commit(s, txn);
	}
}

static void
summary(struct sync *s, struct cycle *c)
{
	char usn[64] = "-", store[64] = "";
	unsigned long long nstore = s->store_errors - c->store0;

	if (nstore > 0) /* what was done is not all recorded: it is done again */
		snprintf(store, sizeof(store), " store_errors=%llu", nstore);
	if (c->scanned_range)
		snprintf(usn, sizeof(usn), "%llu..%llu", c->lower, c->upper);
	log_info("cycle done kind=%s dc=%s usn=%s full=%s scanned=%u created=%u "
	    "linked=%u updated=%u deactivated=%u held=%u written_back=%u "
	    "failed=%u api_calls=%llu ms=%.0f%s%s", sync_kind_name(c->kind),
	    log_q(c->dc), usn, c->full ? "yes" : "no", c->scanned, c->created,
	    c->linked, c->updated, c->deactivated, c->held, c->written_back,
	    c->failed, phone_requests(s->phone) - c->api0,
	    (ev_now(s->loop) - c->t0) * 1000., store, s->dry_run ?
	    " dry_run=yes" : "");
	record(s, c, usn);
	sync_metrics_cycle(s, c, result_name(c), !c->ad_down && !c->phone_down &&
	    !c->scope_failed);
	if (notify_enabled(s->notify) && !s->dry_run)
		sync_alert_cycle(s, c, sync_metrics_counts(s, c));
}

static enum sync_status
status_of(const struct sync *s, const struct cycle *c)
{
	if (c->ad_down || c->phone_down || c->scope_failed == 1)
		return SYNC_UNREACHABLE;
	if (c->scope_failed)
		return SYNC_CONFIG;
	return c->failed || s->store_errors > c->store0 ? SYNC_USERS_FAILED :
	    SYNC_OK;
}

static void
cycle_init(struct sync *s, struct cycle *c, enum sync_kind kind)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->id = sync_next_seq();
	c->t0 = ev_now(s->loop);
	c->api0 = phone_requests(s->phone);
	c->store0 = s->store_errors;
	snprintf(c->dc, sizeof(c->dc), "-");
	log_debug("cycle start kind=%s", sync_kind_name(kind));
}

/*
 * The lanes' transitions. Each lane moves through one function, which
 * refuses a step the design does not have: a broken invariant, so the
 * process aborts (systemd restarts it; the store has what was committed).
 */
static void __attribute__((noreturn))
lane_broken(const char *lane, int from, int to)
{
	log_crit("internal error: the %s lane cannot go from state %d to %d",
	    lane, from, to);
	abort();
}

static void
scan_state_set(struct sync *s, enum sync_scan_state to)
{
	if (s->scan_state == to)
		lane_broken("scan", s->scan_state, to);
	s->scan_state = to;
}

static void
push_state_set(struct sync *s, enum sync_push_state to)
{
	/* AGAIN only from RUNNING; RUNNING from IDLE or, a new round, AGAIN */
	if ((to == SYNC_PUSH_AGAIN && s->push_state != SYNC_PUSH_RUNNING) ||
	    (to == SYNC_PUSH_RUNNING && s->push_state == SYNC_PUSH_RUNNING) ||
	    (to == SYNC_PUSH_IDLE && s->push_state == SYNC_PUSH_IDLE))
		lane_broken("push", s->push_state, to);
	if (s->push_state == SYNC_PUSH_IDLE)
		sync_progress_start(s);
	else if (to == SYNC_PUSH_IDLE)
		sync_progress_stop(s);
	s->push_state = to;
}

static void
import_state_set(struct sync *s, enum sync_import_state to)
{
	static const enum sync_import_state from[] = {
		[SYNC_IMPORT_READING] = SYNC_IMPORT_IDLE,
		[SYNC_IMPORT_WRITING] = SYNC_IMPORT_READING,
	};

	if (to != SYNC_IMPORT_IDLE ? s->import_state != from[to] :
	    s->import_state == SYNC_IMPORT_IDLE)
		lane_broken("import", s->import_state, to);
	s->import_state = to;
}

int
sync_busy(const struct sync *s)
{
	return s->scan_state != SYNC_SCAN_IDLE ||
	    s->push_state != SYNC_PUSH_IDLE ||
	    s->import_state != SYNC_IMPORT_IDLE;
}

void
sync_set_idle_cb(struct sync *s, void (*cb)(void *arg), void *arg)
{
	s->idle_cb = cb;
	s->idle_arg = arg;
}

/* stopped: the lanes and the notifications are done: the stop goes on. */
static void
stopped(void *arg)
{
	struct sync *s = arg;

	ev_timer_stop(s->loop, &s->stop_timer);
	if (s->stop_cb != NULL) {
		void (*cb)(void *) = s->stop_cb;

		s->stop_cb = NULL;
		cb(s->stop_arg);
	}
}

/* check_idle: everything has stopped: a stop or a deferred reload goes on. */
static void
check_idle(struct sync *s)
{
	if (sync_busy(s))
		return;
	if (s->stopping) {
		/* the last notifications go out first (a moment at most) */
		if (s->stop_cb != NULL && !s->stop_flushing) {
			s->stop_flushing = 1;
			notify_flush(s->notify, STOP_NOTIFY_WAIT, stopped, s);
		}
		return;
	}
	/* Not from here: check_idle runs at the end of a stage, inside the
	 * phone or AD client's callback, and the idle callback may replace
	 * those clients (a deferred reload). */
	if (s->idle_cb != NULL && !ev_is_active(&s->idle_timer))
		ev_timer_start(s->loop, &s->idle_timer);
}

static void
idle_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sync *s = w->data;

	(void)loop;
	(void)revents;
	if (!sync_busy(s) && !s->stopping && s->idle_cb != NULL)
		s->idle_cb(s->idle_arg);
}

static void start_pending(struct sync *s);

static void
once_done(void *arg)
{
	struct sync *s = arg;

	s->once_cb(s->once_status, s->once_arg);
}

/*
 * once_step: --once runs the scan (and the pusher's updates of linked
 * users), then either the import first (its list links the users it has),
 * the pusher's links and creates, and the import again for their numbers;
 * or, when that costs more than searching them, the pusher, then the
 * import (sync_link.c). Both end with the write-back, then, when [roles]
 * has assignments waiting (users the import linked), the pusher once more.
 */
static void
once_step(struct sync *s)
{
	if (s->scan_state != SYNC_SCAN_IDLE || s->push_state != SYNC_PUSH_IDLE)
		return;
	if (s->once == SYNC_ONCE_SCAN && s->link_wait) {
		if (sync_link_first_pays(s)) {
			s->once = SYNC_ONCE_LINK;
			cycle_init(s, &s->ic, SYNC_IMPORT);
			import_state_set(s, SYNC_IMPORT_READING);
			sync_import_start(s);
			return;
		}
		s->link_wait = 0;
		sync_push_kick(s); /* what it left: back here when it is done */
		if (s->push_state != SYNC_PUSH_IDLE)
			return;
	}
	if (s->once == SYNC_ONCE_SCAN) {
		s->once = SYNC_ONCE_IMPORT;
		summary(s, &s->c);
		cycle_init(s, &s->ic, SYNC_IMPORT);
		import_state_set(s, SYNC_IMPORT_READING);
		sync_import_start(s);
		return;
	}
	if (s->once == SYNC_ONCE_LINK && s->import_state == SYNC_IMPORT_IDLE) {
		s->once = SYNC_ONCE_PUSH;
		sync_link_done(s);
		sync_push_kick(s);
		if (s->push_state != SYNC_PUSH_IDLE)
			return;
	}
	if (s->once == SYNC_ONCE_PUSH) {
		summary(s, &s->c);
		s->once = SYNC_ONCE_IMPORT;
		if (s->c.created + s->c.linked > 0 && !s->stopping) {
			/* their numbers: the same import cycle reads again */
			import_state_set(s, SYNC_IMPORT_READING);
			sync_import_start(s);
			return;
		}
	}
	if (s->once == SYNC_ONCE_IMPORT && s->import_state == SYNC_IMPORT_IDLE &&
	    !s->once_roles && ((s->roles_dirty && s->cfg->roles.n > 0 &&
	    !s->roles_denied) || (s->photos_dirty && s->cfg->photo_attr != NULL &&
	    !s->photos_denied)) && !s->dry_run && !s->stopping) {
		/* the roles and photos of the users the import linked or
		 * numbered */
		s->once_roles = 1;
		sync_push_kick(s);
		if (s->push_state != SYNC_PUSH_IDLE)
			return;
	}
	if (s->once == SYNC_ONCE_IMPORT && s->import_state == SYNC_IMPORT_IDLE) {
		enum sync_status a = status_of(s, &s->c),
		    b = status_of(s, &s->ic);

		summary(s, &s->ic);
		s->once = SYNC_ONCE_OFF;
		s->once_status = a > b ? a : b;
		/* the notifications of the run go out before it ends */
		notify_flush(s->notify, ONCE_NOTIFY_WAIT, once_done, s);
	}
}

void
sync_scan_finished(struct sync *s)
{
	scan_state_set(s, SYNC_SCAN_IDLE);
	s->scans_ended++;
	if (!s->stopping)
		sync_push_kick(s);
	if (s->once != SYNC_ONCE_OFF) {
		once_step(s);
		return;
	}
	if (s->push_state != SYNC_PUSH_IDLE)
		s->summary_due = 1; /* the summary waits for the pusher */
	else
		summary(s, &s->c);
	start_pending(s);
	sync_reqs_check(s);
	check_idle(s);
}

void
sync_import_costed(struct sync *s, const unsigned int *calls)
{
	int limit[HTTP_NGROUPS], window[HTTP_NGROUPS], g;
	unsigned int every, conf = s->cfg->sync.import_interval;

	for (int i = 0; i < HTTP_NGROUPS; i++)
		phone_group_budget(s->phone, (enum http_group)i, &limit[i],
		    &window[i]);
	every = sync_import_interval(conf, calls, limit, window,
	    s->cfg->telephony.read_share, &g);
	/* said when it starts, ends, or moves by more than a quarter */
	if (g >= 0 && (s->import_noted == 0 || every > s->import_noted +
	    s->import_noted / 4 || every < s->import_noted - s->import_noted / 4)) {
		s->import_noted = every;
		log_notice("import every %u s instead of import_interval: one import "
		    "makes %u %s requests, and read_share=%u%% of that group's budget "
		    "(%d a %d s) allows no more often group=%s calls=%u interval_s=%u",
		    every, calls[g], http_group_name((enum http_group)g),
		    s->cfg->telephony.read_share, limit[g], window[g],
		    http_group_name((enum http_group)g), calls[g], every);
	} else if (g < 0 && s->import_noted != 0) {
		s->import_noted = 0;
		log_notice("import every import_interval again: one import fits "
		    "read_share=%u%% of the budget interval_s=%u",
		    s->cfg->telephony.read_share, every);
	}
	s->import_every = every;
}

unsigned int
sync_import_every(const struct sync *s)
{
	unsigned int conf = s->cfg->sync.import_interval;

	return s->import_every > conf ? s->import_every : conf;
}

void
sync_push_kick(struct sync *s)
{
	if (s->push_state == SYNC_PUSH_RUNNING) {
		push_state_set(s, SYNC_PUSH_AGAIN);
		return;
	}
	if (s->push_state == SYNC_PUSH_AGAIN || s->stopping)
		return;
	push_state_set(s, SYNC_PUSH_RUNNING);
	sync_push_start(s);
}

void
sync_push_finished(struct sync *s)
{
	if (s->push_state == SYNC_PUSH_AGAIN && !s->stopping) {
		push_state_set(s, SYNC_PUSH_RUNNING); /* another round */
		sync_push_start(s);
		return;
	}
	push_state_set(s, SYNC_PUSH_IDLE);
	if (s->once != SYNC_ONCE_OFF) {
		once_step(s);
		return;
	}
	if (s->summary_due && s->scan_state == SYNC_SCAN_IDLE) {
		s->summary_due = 0;
		summary(s, &s->c);
	}
	sync_reqs_check(s);
	check_idle(s);
}

void
sync_import_finished(struct sync *s)
{
	if (s->stopping) {
		import_state_set(s, SYNC_IMPORT_IDLE);
		check_idle(s);
		return;
	}
	import_state_set(s, SYNC_IMPORT_WRITING);
	sync_writer_start(s);
}

void
sync_writer_finished(struct sync *s)
{
	import_state_set(s, SYNC_IMPORT_IDLE);
	if (s->once != SYNC_ONCE_OFF) {
		once_step(s);
		return;
	}
	summary(s, &s->ic);
	if (s->link_wait && s->ic.kind == SYNC_IMPORT) {
		sync_link_done(s);
		sync_push_kick(s);
	}
	start_pending(s);
	check_idle(s);
}

/*
 * start_pending: the scan lane (full before incremental) and the import
 * lane run independently; requests of a busy lane wait and coalesce.
 */
static void
start_pending(struct sync *s)
{
	if (s->stopping || s->once != SYNC_ONCE_OFF)
		return;
	/* A dry run keeps one transaction through its scan: no overlap. */
	int lanes_apart = s->dry_run;

	if (s->scan_state == SYNC_SCAN_IDLE && !(lanes_apart &&
	    s->import_state != SYNC_IMPORT_IDLE) &&
	    (s->pending & ((1u << SYNC_FULL) | (1u << SYNC_INCREMENTAL)))) {
		enum sync_kind k = s->pending & (1u << SYNC_FULL) ? SYNC_FULL :
		    SYNC_INCREMENTAL;

		/* Scans go on while the pusher waits: the cycle it worked for is
		 * summed up now, and its later work counts in the next one. */
		if (s->summary_due) {
			s->summary_due = 0;
			summary(s, &s->c);
		}

		s->pending &= ~((1u << SYNC_FULL) | (1u << SYNC_INCREMENTAL));
		cycle_init(s, &s->c, k);
		scan_state_set(s, SYNC_SCAN_RUNNING);
		sync_scan_start(s);
	}
	if (s->import_state == SYNC_IMPORT_IDLE && !(lanes_apart &&
	    s->scan_state != SYNC_SCAN_IDLE) &&
	    !(s->link_wait && s->scans_ended == 0) &&
	    (s->pending & (1u << SYNC_IMPORT))) {
		s->pending &= ~(1u << SYNC_IMPORT);
		cycle_init(s, &s->ic, SYNC_IMPORT);
		import_state_set(s, SYNC_IMPORT_READING);
		sync_import_start(s);
	}
	if (s->import_state == SYNC_IMPORT_IDLE && !(lanes_apart &&
	    s->scan_state != SYNC_SCAN_IDLE) &&
	    (s->pending & (1u << SYNC_CHANGES))) {
		struct sync_change *v;
		size_t n = sync_changes_take(s, &v);

		s->pending &= ~(1u << SYNC_CHANGES);
		if (n > 0) {
			cycle_init(s, &s->ic, SYNC_CHANGES);
			import_state_set(s, SYNC_IMPORT_READING);
			sync_import_changes(s, v, n);
		}
	}
}

void
sync_request(struct sync *s, enum sync_kind kind)
{
	if (s->stopping)
		return;
	s->pending |= 1u << kind;
	start_pending(s);
}

void
sync_once(struct sync *s, int full, sync_done_cb *cb, void *arg)
{
	s->once = SYNC_ONCE_SCAN;
	s->link_wait = !s->dry_run;
	s->once_cb = cb;
	s->once_arg = arg;
	cycle_init(s, &s->c, full ? SYNC_FULL : SYNC_INCREMENTAL);
	scan_state_set(s, SYNC_SCAN_RUNNING);
	sync_scan_start(s);
}

/*
 * lanes_abort: end every stage at once. The clients' calls go first (no
 * callback of theirs runs after this), then the stages' own state; what
 * was not committed stays queued in the store and resumes at the next
 * start. The push and import stages share the phone client, so they are
 * only ever aborted together, here.
 */
static void
lanes_abort(struct sync *s)
{
	if (s->phone != NULL)
		phone_cancel_all(s->phone);
	sync_scan_abort(s);
	sync_push_abort(s);
	sync_import_abort(s);
	sync_writer_abort(s);
}

static void
stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sync *s = w->data;

	(void)loop;
	(void)revents;
	log_warning("stopping with work in flight: it resumes at the next start");
	lanes_abort(s);
	/* aborted, not finished: the lanes stop where they are */
	s->scan_state = SYNC_SCAN_IDLE;
	s->push_state = SYNC_PUSH_IDLE;
	s->import_state = SYNC_IMPORT_IDLE;
	sync_progress_stop(s);
	check_idle(s);
}

void
sync_stop(struct sync *s, void (*cb)(void *arg), void *arg)
{
	s->stopping = 1;
	s->stop_cb = cb;
	s->stop_arg = arg;
	s->pending = 0;
	ev_timer_stop(s->loop, &s->retry);
	ad_notify_stop(s->ad);
	s->notify_on = 0;
	feed_stop(s->feed);
	ev_timer_stop(s->loop, &s->changes_timer);
	sync_budget_stop(s);
	ev_timer_set(&s->stop_timer, STOP_GRACE, 0.);
	ev_timer_start(s->loop, &s->stop_timer);
	check_idle(s);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sync *s = w->data;

	(void)loop;
	(void)revents;
	/* Entries waiting for their retry time are due: a cycle of their own
	 * when no scan cycle is open to count them. */
	if (s->scan_state == SYNC_SCAN_IDLE && !s->summary_due &&
	    s->push_state == SYNC_PUSH_IDLE && s->once == SYNC_ONCE_OFF) {
		cycle_init(s, &s->c, SYNC_INCREMENTAL);
		s->summary_due = 1;
	}
	sync_push_kick(s);
}

static void
phone_event(const struct phone_event *ev, void *arg)
{
	struct sync *s = arg;

	switch (ev->kind) {
	case PHONE_EV_RETRY:
		log_warning("%s is not answering: retrying in %.0f s status=%ld "
		    "request=%s attempt=%d", log_q(s->cfg->telephony.brand),
		    ev->delay, ev->status, log_q(ev->url), ev->attempt);
		break;
	case PHONE_EV_RATE_WAIT:
		log_notice("rate limit reached: waiting group=%s seconds=%.0f",
		    log_q(ev->group), ev->delay);
		break;
	case PHONE_EV_TOKEN:
		log_info("phone-system session renewed grant=%s", log_q(ev->detail));
		break;
	case PHONE_EV_AUTH_FAILED:
		log_alert("The phone-system session expired: run `ringsyncctl auth "
		    "login` (or check the JWT credential) brand=%s error=%s",
		    log_q(s->cfg->telephony.brand), log_q(ev->detail));
		break;
	case PHONE_EV_STORE_ERROR:
		log_err("cannot store the phone-system tokens error=%s",
		    log_q(ev->detail));
		break;
	case PHONE_EV_REDIRECT_REFUSED:
		log_err("%s redirected a request to another server: not followed, "
		    "the work stays queued (check [telephony] server) status=%ld "
		    "request=%s error=%s", log_q(s->cfg->telephony.brand),
		    ev->status, log_q(ev->url), log_q(ev->detail));
		break;
	}
}

static void
notify_cb(void *arg, enum ad_notify_event ev, const char *detail)
{
	struct sync *s = arg;

	switch (ev) {
	case AD_NOTIFY_CHANGE:
		log_debug("AD change notified: starting a cycle");
		sync_request(s, SYNC_INCREMENTAL);
		break;
	case AD_NOTIFY_ACTIVE:
		log_info("AD change notification active uri=%s", log_q(detail));
		break;
	case AD_NOTIFY_REFUSED:
		log_warning("the DC refused change notification: polling only "
		    "detail=%s", log_q(detail));
		break;
	case AD_NOTIFY_LOST:
		log_warning("AD change notification lost detail=%s", log_q(detail));
		break;
	}
}

void
sync_notify_start(struct sync *s)
{
	char err[512];

	if (!s->cfg->ldap.change_notify || s->notify_on)
		return;
	if (ad_notify_start(s->ad, 0.2, notify_cb, s, err, sizeof(err)) < 0)
		log_warning("cannot start AD change notification error=%s", log_q(err));
	else
		s->notify_on = 1;
}

/* schema_load: the schema `ringsyncctl schema` cached, if any. */
static void
schema_load(struct sync *s)
{
	struct store_txn *txn;
	char err[256];

	json_decref(s->schema);
	s->schema = NULL;
	if (store_begin(s->store, 1, &txn, err, sizeof(err)) < 0)
		return;
	if (store_get_json(txn, STORE_META, SCHEMA_KEY, &s->schema, err,
	    sizeof(err)) != 0)
		s->schema = NULL;
	store_abort(txn);
}

struct sync *
sync_new(struct ev_loop *loop, const struct config *cfg, struct store *st,
    int dry_run, char *err, size_t errlen)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->cfg = cfg;
	s->store = st;
	s->dry_run = dry_run;
	schema_load(s);
	if (schema_roles_ready(s->schema, cfg, err, errlen) < 0) {
		json_decref(s->schema);
		free(s);
		return NULL;
	}
	s->phone = phone_new(loop, &cfg->telephony, dry_run ? NULL : st, NULL, err,
	    errlen);
	if (s->phone == NULL) {
		json_decref(s->schema);
		free(s);
		return NULL;
	}
	phone_set_event_cb(s->phone, phone_event, s);
	if (sync_alert_setup(s, cfg, err, errlen) < 0) {
		phone_free(s->phone);
		json_decref(s->schema);
		free(s);
		return NULL;
	}
	s->ad = ad_new(loop, cfg);
	s->roles_dirty = cfg->roles.n > 0; /* assignments a stop left */
	s->photos_dirty = cfg->photo_attr != NULL; /* and uploads */
	ev_timer_init(&s->retry, retry_cb, 1., 0.);
	s->retry.data = s;
	ev_timer_init(&s->stop_timer, stop_timeout_cb, STOP_GRACE, 0.);
	s->stop_timer.data = s;
	ev_timer_init(&s->idle_timer, idle_timer_cb, 0., 0.);
	s->idle_timer.data = s;
	return s;
}

/*
 * release_within: after a reload, a held batch that the (raised)
 * max_deactivations now allows goes through, as release-deactivations
 * would let it.
 */
static void
release_within(struct sync *s)
{
	struct store_txn *txn;
	unsigned int n, limit;
	char err[256];

	if (s->dry_run || (txn = sync_txn_begin(s)) == NULL)
		return;
	limit = config_threshold_limit(&s->cfg->sync.max_deactivations,
	    sync_count_linked(txn));
	if (sync_held_each(txn, 0, &n, err, sizeof(err)) < 0 || n == 0) {
		store_abort(txn);
		return;
	}
	if (n > limit) {
		store_abort(txn);
		log_warning("deactivations still held: max_deactivations allows %u, "
		    "the held batch has %u count=%u limit=%u", limit, n, n, limit);
		return;
	}
	if (sync_held_each(txn, 1, &n, err, sizeof(err)) < 0) {
		log_err("cannot release the held deactivations error=%s", log_q(err));
		store_abort(txn);
		return;
	}
	if (sync_txn_commit(s, txn) == 0) {
		log_notice("held deactivations released: max_deactivations now "
		    "allows them count=%u limit=%u", n, limit);
		sync_push_kick(s);
	}
}

int
sync_set_config(struct sync *s, const struct config *cfg, char *err,
    size_t errlen)
{
	struct phone *p;

	if (sync_busy(s))
		return util_errbuf_set(err, errlen, "a cycle is running");
	schema_load(s); /* `ringsyncctl schema` may have run meanwhile */
	if (schema_roles_ready(s->schema, cfg, err, errlen) < 0)
		return -1;
	if (sync_alert_setup(s, cfg, err, errlen) < 0)
		return -1;
	p = phone_new(s->loop, &cfg->telephony, s->dry_run ? NULL : s->store,
	    NULL, err, errlen);
	if (p == NULL)
		return -1;
	phone_free(s->phone);
	s->phone = p;
	phone_set_event_cb(p, phone_event, s);
	/* The feed used the old client and configuration: a new session. */
	if (s->feed_wanted) {
		sync_feed_free(s);
		s->cfg = cfg;
		sync_feed_start(s);
	}
	s->notify_on = 0;
	ad_set_config(s->ad, cfg); /* drops connections and notification */
	s->cfg = cfg;
	schema_load(s);
	/* the rules or the cached roles may have changed; a permission added */
	s->roles_read = 0;
	s->roles_denied = 0;
	s->roles_dirty = cfg->roles.n > 0;
	s->photos_denied = 0;
	s->photos_dirty = cfg->photo_attr != NULL;
	sync_notify_start(s);
	release_within(s);
	return 0;
}

void
sync_free(struct sync *s)
{
	if (s == NULL)
		return;
	lanes_abort(s);
	ev_timer_stop(s->loop, &s->retry);
	ev_timer_stop(s->loop, &s->stop_timer);
	ev_timer_stop(s->loop, &s->idle_timer);
	sync_budget_stop(s);
	sync_reqs_free(s);
	if (s->prog.active)
		ev_timer_stop(s->loop, &s->prog.tick);
	notify_free(s->notify);
	ad_free(s->ad);
	phone_free(s->phone);
	sync_feed_free(s); /* after the phone client: no token call back */
	sync_changes_clear(s);
	json_decref(s->schema);
	free(s);
}

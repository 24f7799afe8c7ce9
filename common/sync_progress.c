/*
 * sync_progress: the pusher's long work reported while it runs (a first
 * sync, an adoption, thousands of creates at the platform's pace). While
 * the push lane is busy a tick every 2 s counts what waits in the outbox
 * (store_count: no walk), so done = the phase's total - what is left, the
 * total growing as the scanner queues more; the pace is the Heavy rate
 * group's budget as the phone client knows it, times the entries the
 * pusher's write requests carried so far (one a create; many in a bulk
 * update; the import's reads in the same group do not count). Work
 * that ends within 10 s (and promises to) says nothing. Longer work gets
 * a notice line at every tenth of it and every 5 minutes, the record
 * ringsyncctl status shows (meta progress), and with --once on a terminal
 * one updating line on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sync_stage.h"

#define TICK 2.0           /* s between counts */
#define QUIET 10.0         /* s: shorter work is not reported */
#define NOTE_EVERY 300.0   /* s: a notice at least this often */

/* phase_name: what the phase has mostly done so far. */
static const char *
phase_name(const struct sync_progress *g)
{
	if (g->created == 0 && g->updated == 0)
		return "pushing";
	return g->created >= g->updated ? "creating" : "updating";
}

/* count_cycle: the creates and updates the cycle's counters add. */
static void
count_cycle(struct sync *s, struct sync_progress *g)
{
	unsigned long long cr = s->c.created + s->c.linked,
	    up = s->c.updated + s->c.deactivated;

	if (s->c.id != g->cycle) {
		g->cycle = s->c.id;
		g->c_created = g->c_updated = 0;
	}
	g->created += cr - g->c_created;
	g->updated += up - g->c_updated;
	g->c_created = cr;
	g->c_updated = up;
}

static void
record(struct sync *s, const struct sync_progress *g, double per_min,
    double left_s)
{
	struct record_progress r = { 0 };
	struct store_txn *txn;
	char err[256];

	if (s->dry_run || (txn = sync_txn_begin(s)) == NULL)
		return;
	snprintf(r.phase, sizeof(r.phase), "%s", phase_name(g));
	r.done = g->done;
	r.total = g->total;
	r.per_hour = (unsigned int)(per_min * 60. + 0.5);
	r.left = left_s < 0 ? -1 : (long long)(left_s + 0.5);
	r.since = (long long)g->wall0;
	r.updated = (long long)ev_now(s->loop);
	if (record_progress_put(txn, &r, err, sizeof(err)) < 0)
		store_abort(txn);
	else
		sync_txn_commit(s, txn);
}

/*
 * count: what is left in the outbox (held deactivations, which do not
 * move, left out) into done and total; -1 when the store cannot say.
 */
static int
count(struct sync *s, struct sync_progress *g, size_t *left)
{
	struct store_txn *txn;
	size_t n = 0, held = s->metrics.counted ? s->metrics.n.held : 0;
	char err[256];

	if (store_begin(s->store, 1, &txn, err, sizeof(err)) < 0)
		return -1;
	store_count(txn, STORE_OUTBOX, &n);
	store_abort(txn);
	*left = n > held ? n - held : 0;
	if (g->done + *left > g->total)
		g->total = g->done + *left;
	g->done = g->total - *left;
	return 0;
}

/* update: count, estimate, and say so where it is due. */
static void
update(struct sync *s, struct sync_progress *g)
{
	size_t left;
	double now = ev_now(s->loop), per_min, left_s, ipc;
	int limit, window;
	unsigned int decile;
	char line[160];

	if (count(s, g, &left) < 0)
		return;
	count_cycle(s, g);
	phone_group_budget(s->phone, HTTP_HEAVY, &limit, &window);
	ipc = g->calls > 0 ? (double)g->items / (double)g->calls : 1.;
	left_s = sync_progress_estimate(left, limit, window, ipc, &per_min);
	if (!g->long_work && (now - g->t0 < QUIET && left_s < QUIET))
		return;
	sync_progress_line(line, sizeof(line), phase_name(g), g->done, g->total,
	    per_min, left_s);
	decile = g->total > 0 ? (unsigned int)(g->done * 10 / g->total) : 0;
	if (!g->long_work || decile > g->decile || now - g->noted >= NOTE_EVERY) {
		log_notice("progress: %s phase=push done=%llu total=%llu "
		    "per_minute=%.1f left_s=%.0f", line, g->done, g->total, per_min,
		    left_s);
		g->noted = now;
		g->decile = decile;
	}
	g->long_work = 1;
	if (g->tty)
		log_status(line);
	record(s, g, per_min, left_s);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sync *s = w->data;

	(void)loop;
	(void)revents;
	update(s, &s->prog);
}

void
sync_progress_start(struct sync *s)
{
	struct sync_progress *g = &s->prog;
	size_t left;

	memset(g, 0, sizeof(*g));
	g->t0 = ev_now(s->loop);
	g->wall0 = ev_now(s->loop);
	g->cycle = s->c.id;
	g->c_created = s->c.created + s->c.linked;
	g->c_updated = s->c.updated + s->c.deactivated;
	g->tty = s->once != SYNC_ONCE_OFF && isatty(STDERR_FILENO);
	count(s, g, &left); /* the total before the pusher takes the first */
	ev_timer_init(&g->tick, tick_cb, TICK, TICK);
	g->tick.data = s;
	ev_timer_start(s->loop, &g->tick);
	g->active = 1;
}

void
sync_progress_sent(struct sync *s, size_t n)
{
	if (!s->prog.active)
		return;
	s->prog.calls++;
	s->prog.items += n;
}

void
sync_progress_stop(struct sync *s)
{
	struct sync_progress *g = &s->prog;
	struct store_txn *txn;
	size_t left;
	char err[256];

	if (!g->active)
		return;
	ev_timer_stop(s->loop, &g->tick);
	g->active = 0;
	if (!g->long_work)
		return;
	count_cycle(s, g);
	if (count(s, g, &left) == 0 && left > 0) /* a stop, or all backing off */
		log_notice("progress: %s paused phase=push done=%llu total=%llu "
		    "seconds=%.0f", phase_name(g), g->done, g->total,
		    ev_now(s->loop) - g->t0);
	else
		log_notice("progress: %s done phase=push done=%llu seconds=%.0f",
		    phase_name(g), g->total, ev_now(s->loop) - g->t0);
	if (g->tty)
		log_status(NULL);
	if (!s->dry_run && (txn = sync_txn_begin(s)) != NULL) {
		if (record_progress_del(txn, err, sizeof(err)) < 0)
			store_abort(txn);
		else
			sync_txn_commit(s, txn);
	}
}

/*
 * sync_changes: the engine's side of the change feed (feed.h). The feed's
 * notifications become pending changes, one per extension (the newest
 * wins), which the import lane reads in short cycles (SYNC_CHANGES,
 * sync_import_changes). A directory event carries the entry itself and is
 * due at once; an extension event alone is held for a moment, because the
 * directory's event for the same change usually follows and saves the
 * calls; when none comes (a user hidden from the directory, or a server
 * that sends none) the importer reads the extension itself (Light).
 *
 * A gap in the events (a session that could not be recovered) makes a
 * full import, which the periodic one also is: the feed is a fast path,
 * never the only one.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sync_stage.h"
#include "util.h"

#define CHANGES_HOLD 1.0      /* s an extension event waits for its entry */
#define CHANGES_BATCH 500     /* changes a cycle */
#define CHANGES_MAX 20000     /* pending; more: a full import instead */
#define CHANGES_AGAIN 10      /* tries put off, at most */

struct pending_rec {
	long long ext_id;
	struct phone_dir_entry entry; /* entry.id 0: none carried */
	double since;                 /* loop time of the first event */
	unsigned int again;           /* tries put off (sync_changes_again) */
};

struct sync_pending {
	struct pending_rec *v;
	size_t n, cap;
};

static struct pending_rec *
find(struct sync_pending *p, long long id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].ext_id == id)
			return &p->v[i];
	return NULL;
}

static void
remove_at(struct sync_pending *p, size_t i)
{
	phone_dir_entry_clear(&p->v[i].entry);
	p->v[i] = p->v[--p->n];
}

void
sync_changes_clear(struct sync *s)
{
	struct sync_pending *p = s->changes;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		phone_dir_entry_clear(&p->v[i].entry);
	free(p->v);
	free(p);
	s->changes = NULL;
}

void
sync_changes_free(struct sync_change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		phone_dir_entry_clear(&v[i].entry);
	free(v);
}

/* due: the change can be read now (its entry, or held long enough). */
static int
due(const struct pending_rec *r, double now)
{
	if (r->entry.id != 0 && r->again == 0)
		return 1;
	return now - r->since >= CHANGES_HOLD - 0.01;
}

/* arm: the timer at the earliest held change, or off. */
static void
arm(struct sync *s)
{
	struct sync_pending *p = s->changes;
	double first = -1, now = ev_now(s->loop);

	ev_timer_stop(s->loop, &s->changes_timer);
	for (size_t i = 0; p != NULL && i < p->n; i++)
		if ((p->v[i].entry.id == 0 || p->v[i].again > 0) &&
		    (first < 0 || p->v[i].since < first))
			first = p->v[i].since;
	if (first < 0 || s->stopping)
		return;
	first = first + CHANGES_HOLD - now;
	ev_timer_set(&s->changes_timer, first > 0.05 ? first : 0.05, 0.);
	ev_timer_start(s->loop, &s->changes_timer);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sync_request(w->data, SYNC_CHANGES);
}

size_t
sync_changes_take(struct sync *s, struct sync_change **out)
{
	struct sync_pending *p = s->changes;
	double now = ev_now(s->loop);
	struct sync_change *v;
	size_t n = 0;

	*out = NULL;
	if (p == NULL || p->n == 0)
		return 0;
	v = xcalloc(p->n < CHANGES_BATCH ? p->n : CHANGES_BATCH, sizeof(*v));
	for (size_t i = 0; i < p->n && n < CHANGES_BATCH;) {
		if (!due(&p->v[i], now)) {
			i++;
			continue;
		}
		v[n].ext_id = p->v[i].ext_id;
		v[n].again = p->v[i].again;
		v[n].entry = p->v[i].entry;       /* moved */
		memset(&p->v[i].entry, 0, sizeof(p->v[i].entry));
		n++;
		remove_at(p, i);
	}
	if (p->n > 0)
		/* Left for later: due ones (a full batch) start the next cycle. */
		for (size_t i = 0; i < p->n; i++)
			if (due(&p->v[i], now)) {
				s->pending |= 1u << SYNC_CHANGES;
				break;
			}
	arm(s);
	if (n == 0) {
		free(v);
		return 0;
	}
	*out = v;
	return n;
}

/* pending_add: the record of id, new (NULL when the table is full). */
static struct pending_rec *
pending_add(struct sync *s, long long id)
{
	struct sync_pending *p;
	struct pending_rec *r;

	if (s->changes == NULL)
		s->changes = xcalloc(1, sizeof(*s->changes));
	p = s->changes;
	if ((r = find(p, id)) != NULL)
		return r;
	if (p->n >= CHANGES_MAX)
		return NULL;
	if (p->n == p->cap)
		p->v = xreallocarray(p->v, p->cap = p->cap ? p->cap * 2 : 64,
		    sizeof(*p->v));
	r = &p->v[p->n++];
	memset(r, 0, sizeof(*r));
	r->ext_id = id;
	r->since = ev_now(s->loop);
	return r;
}

void
sync_changes_again(struct sync *s, long long ext_id, unsigned int tries,
    const char *email, const char *number, int enabled, const char *direct,
    int listed)
{
	struct pending_rec *r;

	if (s->stopping || tries >= CHANGES_AGAIN)
		return;
	if (s->changes != NULL && find(s->changes, ext_id) != NULL)
		return;                   /* a newer event came meanwhile */
	if ((r = pending_add(s, ext_id)) == NULL)
		return;
	r->again = tries + 1;
	r->since = ev_now(s->loop);
	phone_dir_entry_clear(&r->entry);
	if (listed && email != NULL) {
		r->entry.id = ext_id;
		r->entry.email = xstrdup(email);
		r->entry.extension_number = number != NULL ? xstrdup(number) : NULL;
		r->entry.status = xstrdup(enabled ? "Enabled" : "Disabled");
		r->entry.direct = direct != NULL ? xstrdup(direct) : NULL;
	}
	log_debug("change feed: the user's create is unanswered yet: its change "
	    "waits ext_id=%lld", ext_id);
	arm(s);
}

static void
changes_cb(const struct feed_change *v, size_t n, void *arg)
{
	struct sync *s = arg;
	struct sync_pending *p;
	int due = 0;

	if (s->stopping)
		return;
	for (size_t i = 0; i < n; i++) {
		struct pending_rec *r;

		p = s->changes;
		if (v[i].ev == FEED_EV_DELETE) {
			/* As the import: a link stays until AD's user leaves. */
			log_debug("change feed: extension deleted ext_id=%lld",
			    v[i].ext_id);
			if (p != NULL && (r = find(p, v[i].ext_id)) != NULL)
				remove_at(p, (size_t)(r - p->v));
			continue;
		}
		if ((r = pending_add(s, v[i].ext_id)) == NULL) {
			log_notice("change feed: more than %u changes wait: reading "
			    "the phone side in full instead", CHANGES_MAX);
			sync_changes_clear(s);
			sync_request(s, SYNC_IMPORT);
			return;
		}
		if (r->again > 0) {       /* a new event: no longer put off */
			r->again = 0;
			r->since = ev_now(s->loop);
		}
		if (v[i].has_entry) {
			phone_dir_entry_clear(&r->entry);
			r->entry = v[i].entry;
			r->entry.email = v[i].entry.email ?
			    xstrdup(v[i].entry.email) : NULL;
			r->entry.status = v[i].entry.status ?
			    xstrdup(v[i].entry.status) : NULL;
			r->entry.extension_number = v[i].entry.extension_number ?
			    xstrdup(v[i].entry.extension_number) : NULL;
			r->entry.direct = v[i].entry.direct ?
			    xstrdup(v[i].entry.direct) : NULL;
			due = 1;
		} else if (r->entry.id != 0 && v[i].source == FEED_SRC_EXTENSION &&
		    (v[i].hints & FEED_HINT_NUMBERS)) {
			/* Numbers changed after the entry came: read them anew. */
			phone_dir_entry_clear(&r->entry);
			r->since = ev_now(s->loop);
		}
	}
	if (due)
		sync_request(s, SYNC_CHANGES);
	else
		arm(s);
}

static void
gap_cb(const char *why, void *arg)
{
	struct sync *s = arg;

	if (why == NULL)
		log_info("change feed: subscribed: the next full read covers "
		    "what changed before");
	else
		log_notice("change feed: events may have been missed (%s): "
		    "reading the phone side in full", why);
	sync_request(s, SYNC_IMPORT);
}

void
sync_feed_start(struct sync *s)
{
	static const struct feed_ops ops = { changes_cb, gap_cb };
	char err[256];

	s->feed_wanted = 1;
	if (!s->cfg->telephony.change_feed || s->dry_run || s->feed != NULL)
		return;
	ev_timer_init(&s->changes_timer, timer_cb, CHANGES_HOLD, 0.);
	s->changes_timer.data = s;
	s->feed = feed_new(s->loop, s->phone, &s->cfg->telephony, &ops, s, err,
	    sizeof(err));
	if (s->feed == NULL) {
		log_warning("change feed off: %s; phone-side changes reach AD at "
		    "each import", err);
		return;
	}
	feed_start(s->feed);
}

void
sync_feed_free(struct sync *s)
{
	if (s->feed != NULL)
		ev_timer_stop(s->loop, &s->changes_timer);
	feed_free(s->feed);
	s->feed = NULL;
}

const char *
sync_feed_state(const struct sync *s)
{
	return feed_state_name(feed_state(s->feed));
}

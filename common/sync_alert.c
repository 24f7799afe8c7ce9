/*
 * sync_alert: the engine's side of [notify] (notify.h). After every cycle
 * it tells, for each event, whether it is failing, from the cycle and the
 * store; notify_plan decides what to send, and the state is stored (meta
 * alerts) before anything goes out, so a restart repeats nothing. What a
 * cycle cannot tell (a scan that did not call the phone system says
 * nothing of it) leaves the event as it was.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "sync_stage.h"
#include "util.h"

#define EXPIRY_WARN (7 * 86400LL) /* as ringsyncctl status warns */

/* What a cycle says of one event. */
struct alert_view {
	int known;                    /* the cycle tells */
	int failing;
	char summary[320];
};

static void
say(struct alert_view *v, int failing, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(struct alert_view *v, int failing, const char *fmt, ...)
{
	va_list ap;

	v->known = 1;
	v->failing = failing;
	va_start(ap, fmt);
	vsnprintf(v->summary, sizeof(v->summary), fmt, ap);
	va_end(ap);
}

static void
view_counts(struct sync *s, const struct sync_counts *n,
    struct alert_view *v)
{
	unsigned int limit = config_threshold_limit(&s->cfg->notify.failure_alert,
	    n->users);

	if (n->held > 0)
		say(&v[NOTIFY_HELD], 1, "%u deactivations are held (more than "
		    "max_deactivations): review them, then run ringsyncctl "
		    "release-deactivations", n->held);
	else
		say(&v[NOTIFY_HELD], 0, "no deactivation is held any more");
	if (n->users > 0 && n->failed > limit)
		say(&v[NOTIFY_FAILING], 1, "%u of %u users fail (more than "
		    "failure_alert allows, %u): ringsyncctl users --failed lists them",
		    n->failed, n->users, limit);
	else
		say(&v[NOTIFY_FAILING], 0, "%u of %u users fail: within "
		    "failure_alert again", n->failed, n->users);
}

/* view_lanes: what the cycle says of AD, the phone system, the session. */
static void
view_lanes(struct sync *s, const struct cycle *c, struct alert_view *v)
{
	const char *brand = s->cfg->telephony.brand;
	int called = phone_requests(s->phone) > c->api0;

	if (c->ad_down)
		say(&v[NOTIFY_AD_DOWN], 1, "Active Directory cannot be reached "
		    "(see ringsyncd's log and ringsyncctl status)");
	else if (c->scanned_range)
		say(&v[NOTIFY_AD_DOWN], 0, "Active Directory is reachable again");
	if (c->auth_failed)
		say(&v[NOTIFY_SESSION_EXPIRED], 1, "%s refused the session: run "
		    "ringsyncctl auth login (or check the JWT credential)", brand);
	else if (c->phone_down)
		say(&v[NOTIFY_PHONE_DOWN], 1, "%s cannot be reached (see ringsyncd's "
		    "log and ringsyncctl status)", brand);
	if (called && !c->phone_down) {
		say(&v[NOTIFY_SESSION_EXPIRED], 0, "the %s session works again",
		    brand);
		say(&v[NOTIFY_PHONE_DOWN], 0, "%s is reachable again", brand);
	}
}

static void
view_expiry(struct sync *s, struct store_txn *txn, long long now,
    struct alert_view *v)
{
	struct store_tokens tok = { 0 };
	char err[256], t[32];
	time_t tt;
	struct tm tm;

	if (s->cfg->telephony.jwt_file != NULL) {
		say(&v[NOTIFY_SESSION_EXPIRING], 0, "the session is renewed with the "
		    "JWT credential");
		return;
	}
	if (store_tokens_get(txn, &tok, err, sizeof(err)) < 0)
		return;
	tt = (time_t)tok.refresh_expires;
	if (tok.refresh_expires > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (tok.refresh_token != NULL && tok.refresh_expires > 0 &&
	    tok.refresh_expires - now < EXPIRY_WARN)
		say(&v[NOTIFY_SESSION_EXPIRING], 1, "the refresh token %s at %s: run "
		    "ringsyncctl auth login before", tok.refresh_expires > now ?
		    "expires" : "expired", t);
	else if (tok.refresh_token != NULL)
		say(&v[NOTIFY_SESSION_EXPIRING], 0, "the session was renewed (auth "
		    "login)");
	store_tokens_clear(&tok);
}

static void
problem_cb(const char *channel, const char *event, const char *error, void *arg)
{
	(void)arg;
	log_warning("notification failed channel=%s event=%s error=%s", channel,
	    event, log_q(error));
}

int
sync_alert_setup(struct sync *s, const struct config *cfg, char *err,
    size_t errlen)
{
	if (s->notify != NULL)
		return notify_configure(s->notify, &cfg->notify, err, errlen);
	s->notify = notify_new(s->loop, &cfg->notify, problem_cb, s, err, errlen);
	return s->notify != NULL ? 0 : -1;
}

/* send: the events planned, after their state is stored. */
static void
send(struct sync *s, const struct alert_view *v, const enum notify_send *what,
    const struct record_alert *a, long long now)
{
	char host[256] = "-";

	gethostname(host, sizeof(host) - 1);
	for (int i = 0; i < NOTIFY_NEVENTS; i++) {
		json_t *p;

		if (what[i] == NOTIFY_NONE)
			continue;
		log_notice("notification %s event=%s summary=%s", what[i] ==
		    NOTIFY_RAISE ? "raised" : "resolved", notify_event_name(i),
		    log_q(v[i].summary));
		p = notify_payload(i, what[i], now, what[i] == NOTIFY_RAISE ?
		    a[i].since : 0, host, s->cfg->telephony.brand, v[i].summary);
		notify_send(s->notify, p);
		json_decref(p);
	}
}

void
sync_alert_cycle(struct sync *s, const struct cycle *c,
    const struct sync_counts *n)
{
	const struct config_notify *cfg = &s->cfg->notify;
	struct alert_view v[NOTIFY_NEVENTS];
	struct record_alert a[NOTIFY_NEVENTS];
	enum notify_send what[NOTIFY_NEVENTS];
	long long now = (long long)ev_now(s->loop), since[NOTIFY_NEVENTS];
	struct store_txn *txn;
	char err[256];
	int any = 0;

	if (s->dry_run || !notify_enabled(s->notify) ||
	    (txn = sync_txn_begin(s)) == NULL)
		return;
	memset(v, 0, sizeof(v));
	if (n != NULL)
		view_counts(s, n, v);
	view_lanes(s, c, v);
	view_expiry(s, txn, now, v);
	if (record_alerts_get(txn, notify_event_names(), NOTIFY_NEVENTS, a, err,
	    sizeof(err)) < 0)
		log_warning("the notification state is unreadable: starting afresh "
		    "error=%s", log_q(err));
	for (int i = 0; i < NOTIFY_NEVENTS; i++) {
		long long after = i == NOTIFY_AD_DOWN || i == NOTIFY_PHONE_DOWN ?
		    cfg->alert_after : 0;

		since[i] = a[i].since;
		what[i] = v[i].known ? notify_plan(&a[i], v[i].failing, now, after,
		    cfg->min_interval) : NOTIFY_NONE;
		any |= what[i] != NOTIFY_NONE || a[i].since != since[i];
	}
	if (!any) {
		store_abort(txn);
		return;
	}
	if (record_alerts_put(txn, notify_event_names(), NOTIFY_NEVENTS, a, err,
	    sizeof(err)) < 0) {
		log_err("cannot store the notification state error=%s", log_q(err));
		store_abort(txn);
		return;
	}
	if (sync_txn_commit(s, txn) == 0) /* else logged: nothing sent */
		send(s, v, what, a, now);
}

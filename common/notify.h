/*
 * notify: the operator's notifications ([notify], ringsyncd.conf(5)). An
 * event raised or resolved goes, as one JSON object, to each configured
 * channel: a command (the JSON on its standard input), a webhook (POSTed
 * over HTTPS with the certificate verified, through the http module) and
 * mail (sendmail -t). Every channel runs on the loop; none is retried or
 * waited for (notify_flush excepted), and a failure is reported to the
 * caller's callback: the module never logs. The payload holds names,
 * counts and times, never a secret.
 *
 * The decisions (notify_plan, notify_payload) are pure; the engine
 * (sync_notify.c) says when an event is failing and keeps the state.
 */
#ifndef RINGSYNC_NOTIFY_H
#define RINGSYNC_NOTIFY_H

#include <ev.h>
#include <jansson.h>

#include "config.h"
#include "record.h"

enum notify_event {
	NOTIFY_HELD,              /* deactivations held (max_deactivations) */
	NOTIFY_SESSION_EXPIRED,   /* the phone system refused the session */
	NOTIFY_SESSION_EXPIRING,  /* the refresh token ends within 7 days */
	NOTIFY_AD_DOWN,           /* AD unreachable longer than alert_after */
	NOTIFY_PHONE_DOWN,        /* the phone system unreachable as long */
	NOTIFY_FAILING,           /* more users failing than failure_alert */
	NOTIFY_NEVENTS
};

/* notify_event_name: "deactivations_held", ...; notify_event_names: all. */
const char *notify_event_name(enum notify_event ev);
const char *const *notify_event_names(void);

enum notify_send {
	NOTIFY_NONE,
	NOTIFY_RAISE,
	NOTIFY_RESOLVE,
};

/*
 * notify_plan: the event is failing (or not) at now: what to send, with
 * a's state updated. A failing event is raised once it has failed for
 * `after` seconds, and at most once per min_interval (a flapping event
 * waits); an event that was raised is resolved when it stops failing,
 * one that was not is forgotten quietly.
 */
enum notify_send notify_plan(struct record_alert *a, int failing, long long now,
    long long after, long long min_interval);

/*
 * notify_payload: the JSON of an event (a new reference): source, event,
 * state (raised or resolved), time and since (UTC), host, brand, summary.
 */
json_t *notify_payload(enum notify_event ev, enum notify_send what,
    long long now, long long since, const char *host, const char *brand,
    const char *summary);

/*
 * notify_mail: the message sendmail -t is given for payload (owned):
 * headers (To, From when set, Subject), a text part and the JSON.
 */
char *notify_mail(const json_t *payload, const char *to, const char *from);

struct notify;

/* What went wrong with a channel, for the caller's log. */
typedef void notify_problem_cb(const char *channel, const char *event,
    const char *error, void *arg);

/*
 * notify_new: the channels of cfg (copied) on loop (the default loop:
 * children are reaped with ev_child); NULL with err when the webhook's
 * client cannot be set up.
 */
struct notify *notify_new(struct ev_loop *loop, const struct config_notify *cfg,
    notify_problem_cb *cb, void *arg, char *err, size_t errlen);
/*
 * notify_configure: the channels of cfg from now on (a reload); what runs
 * goes on. The webhook's CA bundle is the first one's (a restart key).
 * 0, or -1 with err (the old channels stay).
 */
int notify_configure(struct notify *n, const struct config_notify *cfg,
    char *err, size_t errlen);
/* notify_enabled: at least one channel is configured. */
int notify_enabled(const struct notify *n);
/*
 * notify_free: drop what is in flight: the webhook's request, and the
 * children, which are killed and reaped. NULL: nothing.
 */
void notify_free(struct notify *n);

/* notify_send: payload to every channel (borrowed: copied as needed). */
void notify_send(struct notify *n, const json_t *payload);

/* notify_busy: channels still running. */
int notify_busy(const struct notify *n);

/*
 * notify_flush: cb once nothing is running any more, or after max_wait
 * seconds (what is left is then dropped as notify_free drops it). cb may
 * run at once.
 */
void notify_flush(struct notify *n, double max_wait, void (*cb)(void *arg),
    void *arg);

#endif

/*
 * feed: the phone system's change feed (docs/architecture.md, "The change
 * feed"): one WebSocket session, opened by the daemon (an outbound
 * connection only), with one subscription to the extension and directory
 * event filters. The session is libwebsockets' on the daemon's libev
 * loop; this module owns it, recovers it after a close (within the
 * server's recovery timeout, so that missed events are replayed) and says
 * when events may have been lost (a gap: the caller reads everything).
 *
 * The messages are parsed by pure functions (feed_msg_*), which the unit
 * tests and the fuzzer call.
 *
 * Secrets: the WebSocket token (single use) and the session token (wsc)
 * are registered with log_secret_add and never logged; the connect URL,
 * which carries them, is never logged either.
 */
#ifndef RINGSYNC_FEED_H
#define RINGSYNC_FEED_H

#include <stddef.h>

#include <ev.h>

#include "config.h"
#include "phone.h"

/* The message types of the platform's WebSocket protocol. */
enum feed_msg_type {
	FEED_MSG_OTHER,
	FEED_MSG_DETAILS,       /* ConnectionDetails */
	FEED_MSG_REQUEST,       /* ClientRequest: the answer to one of ours */
	FEED_MSG_NOTIFICATION,  /* ServerNotification */
	FEED_MSG_HEARTBEAT,
	FEED_MSG_ERROR,
};

enum feed_source {
	FEED_SRC_EXTENSION,     /* the extension filter: id, type, hints */
	FEED_SRC_DIRECTORY,     /* the directory filter: the entry itself */
};

enum feed_event {
	FEED_EV_UPDATE,
	FEED_EV_CREATE,
	FEED_EV_DELETE,
};

/* hints of an extension event */
#define FEED_HINT_NUMBERS 0x1u  /* CompanyNumbers: numbers (un)assigned */
#define FEED_HINT_INFO    0x2u  /* ExtensionInfo: number, name, email */
#define FEED_HINT_STATUS  0x4u  /* AccountStatus */
#define FEED_HINT_OTHER   0x8u  /* anything else (answering rules, ...) */

/* One extension's change, as a notification says it. */
struct feed_change {
	long long ext_id;
	enum feed_source source;
	enum feed_event ev;
	unsigned int hints;
	int has_entry;                  /* entry holds the directory's record */
	struct phone_dir_entry entry;   /* owned strings */
};

struct feed_msg {
	enum feed_msg_type type;
	char message_id[80];
	int status;                     /* meta.status, 0 when absent */
	int has_wsc;
	char *wsc_token;                /* owned, or NULL; a secret */
	long long wsc_sequence;
	char recovery[16];              /* "Successful", "Failed", or "" */
	long long recovery_timeout, idle_timeout, absolute_timeout; /* -1: absent */
	char error_code[48];            /* an Error's or a failed request's */
	char error_message[256];
	char uuid[80];                  /* a notification's */
	char event[256];                /* its event filter */
	char subscription_id[80];       /* a subscribe answer's or a notification's */
	struct feed_change *ch;         /* owned: a notification's changes */
	size_t nch;
};

/*
 * feed_msg_parse: one message (a JSON array [meta, body]) into out. -1 with
 * err when it is not one; an unknown type is FEED_MSG_OTHER. A
 * notification's body may nest its records (a list under "extensions")
 * or be one record: both are read; a directory record without a usable
 * id is left out.
 */
int feed_msg_parse(const char *buf, size_t len, struct feed_msg *out,
    char *err, size_t errlen);
void feed_msg_clear(struct feed_msg *m);

/* The event filters ringsync subscribes to. */
#define FEED_FILTER_EXT "/restapi/v1.0/account/~/extension"
#define FEED_FILTER_DIR "/restapi/v1.0/account/~/directory/entries"

/* feed_subscribe_text: the subscribe request with message_id (owned). */
char *feed_subscribe_text(const char *message_id);
/* feed_heartbeat_text: a heartbeat with message_id (owned). */
char *feed_heartbeat_text(const char *message_id);
/*
 * feed_source_of: the filter an event came from (its "event" path, which
 * may name the account by id instead of ~), or -1 when neither.
 */
int feed_source_of(const char *event);

/* ------------------------------------------------------------------ */

struct feed;

struct feed_ops {
	/* changes: a notification's changes (borrowed for the call). */
	void (*changes)(const struct feed_change *v, size_t n, void *arg);
	/*
	 * gap: events may have been missed (a session that could not be
	 * recovered, a subscription lost): the caller reads everything. why
	 * is NULL for the first subscription, which no events preceded.
	 */
	void (*gap)(const char *why, void *arg);
};

/*
 * feed_new: the feed for cfg over ph (its session's access token asks for
 * the WebSocket token), on loop; NULL with err when libwebsockets cannot
 * be set up. Nothing is connected before feed_start.
 */
struct feed *feed_new(struct ev_loop *loop, struct phone *ph,
    const struct config_telephony *cfg, const struct feed_ops *ops, void *arg,
    char *err, size_t errlen);
void feed_start(struct feed *f);
/* feed_stop: close the session and stop reconnecting. */
void feed_stop(struct feed *f);
void feed_free(struct feed *f);

/* What the feed does, for people (ringsyncctl status, the metrics). */
enum feed_state {
	FEED_OFF,               /* not started, or stopped */
	FEED_CONNECTING,        /* asking for a token, connecting, subscribing */
	FEED_ACTIVE,            /* subscribed: events arrive */
	FEED_WAITING,           /* closed: reconnecting after a delay */
	FEED_REFUSED,           /* the app lacks the permission: off */
};
enum feed_state feed_state(const struct feed *f);
const char *feed_state_name(enum feed_state st);
/* feed_events: notifications received (duplicates left out) since start. */
unsigned long long feed_events(const struct feed *f);

#endif

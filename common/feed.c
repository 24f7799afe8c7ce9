/*
 * feed: the change feed's WebSocket session (feed.h).
 *
 * One session at a time, driven by libwebsockets on the daemon's libev
 * loop (a foreign loop: lws adds its watchers to it). The life of a
 * session: a WebSocket token (phone_ws_token), the connection, the
 * server's ConnectionDetails, one subscription, then notifications, with a
 * heartbeat when nothing was sent for a while (the server closes idle
 * sessions). When it closes, the next connection asks to recover it (the
 * session token, wsc) within the server's recovery timeout: the server
 * then replays what it sent meanwhile. A session that is new where one
 * existed before (recovery failed, came too late, or was not offered) is a
 * gap: events may have been missed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libwebsockets.h>
#include <openssl/rand.h>

#include "feed.h"
#include "log.h"
#include "util.h"

#define FEED_PROTOCOL "ringsync-feed"
#define FEED_MSG_MAX (1u << 20)    /* a message longer than this is refused */
#define FEED_SEEN 128              /* notification uuids remembered */
#define FEED_OUT 4                 /* messages waiting to be sent */
#define FEED_HEARTBEAT 30.         /* s without sending: a heartbeat */
#define FEED_BACKOFF_MAX 300.      /* s between failed attempts, at most */
#define FEED_CA_DEFAULT "/etc/ssl/certs/ca-certificates.crt"

struct feed {
	struct ev_loop *loop;          /* borrowed */
	struct phone *ph;              /* borrowed */
	const struct config_telephony *cfg; /* borrowed */
	struct feed_ops ops;
	void *arg;
	struct lws_context *ctx;       /* owned */
	struct lws *wsi;               /* the connection, or NULL */
	enum feed_state state;
	int started, token_asked;
	ev_timer retry;                /* the next attempt */
	ev_timer beat;                 /* heartbeats and the silence check */
	double backoff;                /* s before the next attempt after a failure */
	double last_sent, last_recv, closed_at;
	char *wsc;                     /* owned: the session token; a secret */
	double recovery_timeout, idle_timeout;
	int had_session;               /* a session was subscribed before */
	int recovering;                /* this connection asked to recover */
	int gap_due;                   /* say gap once subscribed */
	char gap_why[128];
	char sub_id[80];               /* the subscribe request's messageId */
	char *out[FEED_OUT];           /* owned: waiting to be sent */
	size_t nout;
	char *rx;                      /* owned: the message being received */
	size_t rxlen, rxcap;
	char seen[FEED_SEEN][80];      /* the newest notification uuids */
	size_t seen_next;
	unsigned long long events;
	char close_reason[128];
	int refused_said;
};

static void connect_next(struct feed *f, double delay);

/* backoff_more: the wait after one more failure (2 s, doubling, 5 min). */
static void
backoff_more(struct feed *f)
{
	f->backoff = f->backoff <= 0 ? 2. : f->backoff * 2;
	if (f->backoff > FEED_BACKOFF_MAX)
		f->backoff = FEED_BACKOFF_MAX;
}

enum feed_state
feed_state(const struct feed *f)
{
	return f == NULL ? FEED_OFF : f->state;
}

const char *
feed_state_name(enum feed_state st)
{
	static const char *const names[] = { "off", "connecting", "active",
		"waiting", "refused" };

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ?
	    names[st] : "unknown";
}

unsigned long long
feed_events(const struct feed *f)
{
	return f == NULL ? 0 : f->events;
}

static void
new_id(char *buf, size_t len)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
	    r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static void
wipe_free(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void
out_clear(struct feed *f)
{
	for (size_t i = 0; i < f->nout; i++)
		free(f->out[i]);
	f->nout = 0;
}

/* send_text: queue a message; the connection writes it when writable. */
static void
send_text(struct feed *f, char *text)
{
	if (f->wsi == NULL || f->nout == FEED_OUT) {
		free(text);
		return;
	}
	f->out[f->nout++] = text;
	lws_callback_on_writable(f->wsi);
}

/* drop: close the connection from outside a callback. */
static void
drop(struct feed *f, const char *why)
{
	if (f->wsi == NULL)
		return;
	snprintf(f->close_reason, sizeof(f->close_reason), "%s", why);
	lws_set_timeout(f->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static void
beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct feed *f = w->data;
	double now = ev_now(loop), every = w->repeat;
	char id[40];

	(void)revents;
	if (f->wsi == NULL)
		return;
	if (now - f->last_recv > 3 * every + 10.) {
		/* A heartbeat is answered: this much silence is a dead peer. */
		log_notice("change feed: the server has not answered for %.0f s: "
		    "reconnecting", now - f->last_recv);
		drop(f, "no answer");
		return;
	}
	if (f->state == FEED_ACTIVE && now - f->last_sent >= every - 0.5) {
		new_id(id, sizeof(id));
		send_text(f, feed_heartbeat_text(id));
	}
}

/* beat_every: often enough that the server's idle timeout never fires. */
static double
beat_every(const struct feed *f)
{
	double every = FEED_HEARTBEAT;

	if (f->idle_timeout > 0 && f->idle_timeout / 3. < every)
		every = f->idle_timeout / 3.;
	return every < 0.5 ? 0.5 : every;
}

static void
gap(struct feed *f, const char *why)
{
	snprintf(f->gap_why, sizeof(f->gap_why), "%s", why != NULL ? why : "");
	f->gap_due = 1;
}

static void
subscribe(struct feed *f)
{
	new_id(f->sub_id, sizeof(f->sub_id));
	send_text(f, feed_subscribe_text(f->sub_id));
}

static void
on_details(struct feed *f, const struct feed_msg *m)
{
	if (m->has_wsc) {
		wipe_free(f->wsc);
		f->wsc = xstrdup(m->wsc_token);
		log_secret_add(f->wsc);
	}
	if (m->recovery_timeout >= 0)
		f->recovery_timeout = (double)m->recovery_timeout;
	if (m->idle_timeout > 0)
		f->idle_timeout = (double)m->idle_timeout;
	ev_timer_stop(f->loop, &f->beat);
	ev_timer_set(&f->beat, beat_every(f), beat_every(f));
	ev_timer_start(f->loop, &f->beat);
	if (f->recovering && strcmp(m->recovery, "Successful") == 0) {
		f->state = FEED_ACTIVE;
		f->backoff = 0;
		log_info("change feed: session recovered (missed events are "
		    "replayed)");
		return;
	}
	if (f->recovering)
		gap(f, strcmp(m->recovery, "Failed") == 0 ? "the session could not "
		    "be recovered" : "the server did not recover the session");
	else if (f->had_session)
		gap(f, "the session ended longer ago than the server keeps it");
	else
		/* What changed before the first subscription came by no event. */
		gap(f, NULL);
	subscribe(f);
}

static void
on_answer(struct feed *f, const struct feed_msg *m)
{
	if (strcmp(m->message_id, f->sub_id) != 0)
		return;
	if (m->status == 200) {
		f->state = FEED_ACTIVE;
		f->had_session = 1;
		f->backoff = 0;
		log_info("change feed active subscription=%s",
		    log_q(m->subscription_id));
		if (f->gap_due) {
			f->gap_due = 0;
			f->ops.gap(f->gap_why[0] != '\0' ? f->gap_why : NULL,
			    f->arg);
		}
		return;
	}
	if (m->status == 403 || strcmp(m->error_code, "CMN-408") == 0) {
		f->state = FEED_REFUSED;
		log_notice("change feed off: the phone system refused the "
		    "subscription (the app needs the WebSocket Subscriptions "
		    "permission); phone-side changes reach AD at each import "
		    "status=%d error=%s", m->status, log_q(m->error_code));
		f->refused_said = 1;
		drop(f, "refused");
		return;
	}
	log_warning("change feed: the subscription failed: retrying status=%d "
	    "error=%s message=%s", m->status, log_q(m->error_code),
	    log_q(m->error_message));
	drop(f, "subscription failed");
}

/* seen: the notification was delivered already (a replay); else remember. */
static int
seen(struct feed *f, const char *uuid)
{
	if (*uuid == '\0')
		return 0;
	for (size_t i = 0; i < FEED_SEEN; i++)
		if (strcmp(f->seen[i], uuid) == 0)
			return 1;
	snprintf(f->seen[f->seen_next], sizeof(f->seen[0]), "%s", uuid);
	f->seen_next = (f->seen_next + 1) % FEED_SEEN;
	return 0;
}

static void
on_message(struct feed *f, const char *buf, size_t len)
{
	struct feed_msg m;
	char err[256];

	if (feed_msg_parse(buf, len, &m, err, sizeof(err)) < 0) {
		log_warning("change feed: a message was not understood (%zu bytes) "
		    "error=%s", len, log_q(err));
		return;
	}
	switch (m.type) {
	case FEED_MSG_DETAILS:
		on_details(f, &m);
		break;
	case FEED_MSG_REQUEST:
		on_answer(f, &m);
		break;
	case FEED_MSG_NOTIFICATION:
		if (m.has_wsc) {
			wipe_free(f->wsc);
			f->wsc = xstrdup(m.wsc_token);
			log_secret_add(f->wsc);
		}
		if (seen(f, m.uuid)) {
			log_debug("change feed: notification delivered before uuid=%s",
			    log_q(m.uuid));
			break;
		}
		f->events++;
		log_debug("change feed: notification uuid=%s event=%s changes=%zu",
		    log_q(m.uuid), log_q(m.event), m.nch);
		if (m.nch > 0)
			f->ops.changes(m.ch, m.nch, f->arg);
		break;
	case FEED_MSG_ERROR:
		log_notice("change feed: the server reports an error code=%s "
		    "message=%s", log_q(m.error_code), log_q(m.error_message));
		break;
	default:
		break;
	}
	feed_msg_clear(&m);
}

static void
rx_add(struct feed *f, const void *in, size_t len)
{
	if (f->rxlen + len + 1 > f->rxcap) {
		f->rxcap = (f->rxlen + len + 1) * 2;
		f->rx = xrealloc(f->rx, f->rxcap);
	}
	memcpy(f->rx + f->rxlen, in, len);
	f->rxlen += len;
	f->rx[f->rxlen] = '\0';
}

/* closed: the connection is gone (an error, or a close either way). */
static void
closed(struct feed *f, struct lws *wsi, const char *why)
{
	int was_active = f->state == FEED_ACTIVE;

	if (f->wsi != wsi)
		return;
	f->wsi = NULL;
	f->rxlen = 0;
	out_clear(f);
	ev_timer_stop(f->loop, &f->beat);
	f->closed_at = ev_now(f->loop);
	if (f->close_reason[0] != '\0')
		why = f->close_reason;
	if (f->state == FEED_REFUSED || !f->started) {
		f->close_reason[0] = '\0';
		return;
	}
	f->state = FEED_WAITING;
	if (was_active) {
		log_info("change feed: the session closed: reconnecting reason=%s",
		    log_q(why));
		f->backoff = 0;
		connect_next(f, 0.2);
	} else {
		backoff_more(f);
		log_warning("change feed: cannot connect: retrying in %.0f s "
		    "reason=%s", f->backoff, log_q(why));
		connect_next(f, f->backoff);
	}
	f->close_reason[0] = '\0';
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct feed *f = ctx != NULL ? lws_context_user(ctx) : NULL;
	unsigned char *buf;
	char why[160];
	size_t n;
	int rc;

	(void)user;
	if (f == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (f->wsi != wsi)
			return -1;
		f->last_recv = f->last_sent = ev_now(f->loop);
		log_debug("change feed: connected, waiting for the session");
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (f->wsi != wsi)
			return -1;
		f->last_recv = ev_now(f->loop);
		if (f->rxlen + len > FEED_MSG_MAX) {
			snprintf(f->close_reason, sizeof(f->close_reason),
			    "a message longer than %u bytes", FEED_MSG_MAX);
			return -1;
		}
		rx_add(f, in, len);
		if (!lws_is_final_fragment(wsi) ||
		    lws_remaining_packet_payload(wsi) > 0)
			break;
		on_message(f, f->rx, f->rxlen);
		f->rxlen = 0;
		if (f->close_reason[0] != '\0' && f->state == FEED_REFUSED)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		f->last_recv = ev_now(f->loop);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (f->wsi != wsi || f->nout == 0)
			break;
		n = strlen(f->out[0]);
		buf = xmalloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, f->out[0], n);
		rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		free(f->out[0]);
		memmove(f->out, f->out + 1, (f->nout - 1) * sizeof(f->out[0]));
		f->nout--;
		if (rc < (int)n)
			return -1;
		f->last_sent = ev_now(f->loop);
		if (f->nout > 0)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* The close frame: a two-byte status, then the reason. */
		if (len > 2 && f->close_reason[0] == '\0')
			snprintf(f->close_reason, sizeof(f->close_reason),
			    "closed by the server: %d %.*s",
			    ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1],
			    (int)(len - 2 > 100 ? 100 : len - 2), (char *)in + 2);
		else if (f->close_reason[0] == '\0')
			snprintf(f->close_reason, sizeof(f->close_reason),
			    "closed by the server");
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof(why), "%.*s", in != NULL ? 140 : 0,
		    in != NULL ? (const char *)in : "");
		closed(f, wsi, why[0] != '\0' ? why : "connection error");
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		closed(f, wsi, "closed");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ FEED_PROTOCOL, callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/*
 * url_parts: the WebSocket URI the token came with, cut up (in the caller's
 * copy buf). wss only, or ws when the configured server is http (a test
 * bed); -1 with why.
 */
static int
url_parts(const struct feed *f, char *buf, int *tls, const char **host,
    int *port, const char **path, char *why, size_t whylen)
{
	const char *prot;

	if (lws_parse_uri(buf, &prot, host, port, path) != 0 || **host == '\0')
		return util_errbuf_set(why, whylen, "the WebSocket URI is not a URI");
	if (strcmp(prot, "wss") == 0)
		*tls = 1;
	else if (strcmp(prot, "ws") == 0 &&
	    strncmp(f->cfg->server, "http://", 7) == 0)
		*tls = 0;
	else
		return util_errbuf_set(why, whylen, "the WebSocket URI is not wss: "
		    "%s", prot);
	return 0;
}

static void
token_cb(const struct phone_error *e, const char *token, const char *uri,
    long long expires_in, void *arg)
{
	struct feed *f = arg;
	struct lws_client_connect_info ci;
	char *copy, *escaped, *escaped_wsc = NULL, *path, why[256];
	char addr[256];
	const char *host, *upath;
	int tls = 1, port = 443;

	(void)expires_in;
	f->token_asked = 0;
	if (!f->started)
		return;
	if (e->kind != PHONE_OK) {
		if (e->http_status == 403 || strcmp(e->code, "CMN-408") == 0) {
			f->state = FEED_REFUSED;
			if (!f->refused_said)
				log_notice("change feed off: the app lacks the WebSocket "
				    "Subscriptions permission; phone-side changes reach AD "
				    "at each import status=%ld error=%s", e->http_status,
				    log_q(e->code));
			f->refused_said = 1;
			return;
		}
		backoff_more(f);
		log_warning("change feed: no WebSocket token: retrying in %.0f s "
		    "status=%ld error=%s", f->backoff, e->http_status,
		    log_q(e->code[0] ? e->code : e->detail));
		f->state = FEED_WAITING;
		connect_next(f, f->backoff);
		return;
	}
	copy = xstrdup(uri);
	if (url_parts(f, copy, &tls, &host, &port, &upath, why,
	    sizeof(why)) < 0) {
		free(copy);
		f->backoff = FEED_BACKOFF_MAX;
		log_err("change feed: cannot connect: retrying in %.0f s error=%s",
		    f->backoff, log_q(why));
		f->state = FEED_WAITING;
		connect_next(f, f->backoff);
		return;
	}
	escaped = curl_easy_escape(NULL, token, 0);
	/* Recover the session if the server still keeps it. */
	f->recovering = f->wsc != NULL && f->closed_at > 0 &&
	    ev_now(f->loop) - f->closed_at < f->recovery_timeout - 5.;
	if (f->recovering)
		escaped_wsc = curl_easy_escape(NULL, f->wsc, 0);
	path = xasprintf("/%s%saccess_token=%s%s%s", upath,
	    strchr(upath, '?') != NULL ? "&" : "?", escaped != NULL ? escaped : "",
	    escaped_wsc != NULL ? "&wsc=" : "", escaped_wsc != NULL ?
	    escaped_wsc : "");
	if (escaped != NULL)
		explicit_bzero(escaped, strlen(escaped));
	curl_free(escaped);
	if (escaped_wsc != NULL)
		explicit_bzero(escaped_wsc, strlen(escaped_wsc));
	curl_free(escaped_wsc);

	memset(&ci, 0, sizeof(ci));
	ci.context = f->ctx;
	ci.address = host;
	ci.port = port;
	if (f->cfg->connect_to != NULL) {
		/* HOST:PORT, as for every request of the client (http.h). */
		const char *colon = strrchr(f->cfg->connect_to, ':');
		size_t hl = colon != NULL ? (size_t)(colon - f->cfg->connect_to) : 0;

		if (colon != NULL && hl < sizeof(addr)) {
			memcpy(addr, f->cfg->connect_to, hl);
			addr[hl] = '\0';
			if (addr[0] == '[' && hl > 2 && addr[hl - 1] == ']') {
				memmove(addr, addr + 1, hl - 2);
				addr[hl - 2] = '\0';
			}
			ci.address = addr;
			ci.port = atoi(colon + 1);
		}
	}
	ci.path = path;
	ci.host = host;
	ci.origin = host;
	ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	if (tls && !f->cfg->tls_verify)
		ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
		    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
		    LCCSCF_ALLOW_INSECURE;
	ci.ietf_version_or_minus_one = -1;
	ci.local_protocol_name = FEED_PROTOCOL;
	ci.pwsi = &f->wsi;
	f->state = FEED_CONNECTING;
	log_debug("change feed: connecting host=%s port=%d%s", log_q(host), port,
	    f->recovering ? " (recovering the session)" : "");
	f->wsi = NULL;
	if (lws_client_connect_via_info(&ci) == NULL && f->wsi == NULL) {
		backoff_more(f);
		log_warning("change feed: cannot connect: retrying in %.0f s host=%s",
		    f->backoff, log_q(host));
		f->state = FEED_WAITING;
		connect_next(f, f->backoff);
	}
	explicit_bzero(path, strlen(path));
	free(path);
	free(copy);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct feed *f = w->data;

	(void)loop;
	(void)revents;
	if (!f->started || f->wsi != NULL || f->token_asked)
		return;
	f->state = FEED_CONNECTING;
	f->token_asked = 1;
	phone_ws_token(f->ph, token_cb, f);
}

static void
connect_next(struct feed *f, double delay)
{
	ev_timer_stop(f->loop, &f->retry);
	ev_timer_set(&f->retry, delay, 0.);
	ev_timer_start(f->loop, &f->retry);
}

/* lws's own log lines, at debug: the connect URL is never among them. */
static void
lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_debug("libwebsockets: %.*s", (int)(n > 300 ? 300 : n), line);
}

struct feed *
feed_new(struct ev_loop *loop, struct phone *ph,
    const struct config_telephony *cfg, const struct feed_ops *ops, void *arg,
    char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct feed *f = xcalloc(1, sizeof(*f));
	void *loops[1] = { loop };

	f->loop = loop;
	f->ph = ph;
	f->cfg = cfg;
	f->ops = *ops;
	f->arg = arg;
	f->recovery_timeout = 180.;
	f->idle_timeout = 1800.;
	ev_timer_init(&f->retry, retry_cb, 0., 0.);
	f->retry.data = f;
	ev_timer_init(&f->beat, beat_cb, FEED_HEARTBEAT, FEED_HEARTBEAT);
	f->beat.data = f;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_LIBEV |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = loops;
	info.client_ssl_ca_filepath = cfg->tls_ca_cert != NULL ?
	    cfg->tls_ca_cert : FEED_CA_DEFAULT;
	info.user = f;
	if ((f->ctx = lws_create_context(&info)) == NULL) {
		free(f);
		util_errbuf_set(err, errlen, "libwebsockets cannot start on the "
		    "libev loop (is libwebsockets-evlib-ev installed?)");
		return NULL;
	}
	return f;
}

void
feed_start(struct feed *f)
{
	if (f->started)
		return;
	f->started = 1;
	f->state = FEED_CONNECTING;
	connect_next(f, 0.);
}

void
feed_stop(struct feed *f)
{
	if (f == NULL)
		return;
	f->started = 0;
	ev_timer_stop(f->loop, &f->retry);
	ev_timer_stop(f->loop, &f->beat);
	if (f->wsi != NULL)
		drop(f, "stopping");
	if (f->state != FEED_REFUSED)
		f->state = FEED_OFF;
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	feed_stop(f);
	f->wsi = NULL;
	lws_context_destroy(f->ctx);
	out_clear(f);
	free(f->rx);
	wipe_free(f->wsc);
	free(f);
}

/*
 * ctlsock: the running daemon's control socket, state_dir/ringsyncd.sock
 * (a Unix stream socket, mode 0600, owned by the daemon's user), and the
 * client ringsyncctl uses on it. One request line per connection, one
 * reply line, then the daemon closes it:
 *
 *   sync <objectGUID>\n      process this user now (ringsyncctl sync)
 *   ok <text>\n | error <text>\n
 *
 * The server lives on the daemon's libev loop and owns its connections;
 * it never logs (its problems go to ops->problem).
 */
#ifndef RINGSYNC_CTLSOCK_H
#define RINGSYNC_CTLSOCK_H

#include <ev.h>
#include <stddef.h>

#define CTLSOCK_NAME "ringsyncd.sock"
#define CTLSOCK_LINE_MAX 512      /* a request or a reply, newline included */

/*
 * ctlsock_path: state_dir/ringsyncd.sock in buf; 0, or -1 when it does not
 * fit a Unix socket address (107 bytes).
 */
int ctlsock_path(const char *state_dir, char *buf, size_t len);

/*
 * ctlsock_parse_request: a request line (its newline removed) into the
 * objectGUID it names (lower case, canonical); 0, or -1 with err.
 */
int ctlsock_parse_request(const char *line, char guid[37], char *err,
    size_t errlen);

/*
 * ctlsock_parse_reply: a reply line (its newline removed): 1 ok, 0 error,
 * -1 not a reply; *text points into line (after "ok " or "error ").
 */
int ctlsock_parse_reply(const char *line, const char **text);

struct ctlsock;
struct ctlsock_conn;

struct ctlsock_ops {
	/* a valid request: answer with ctlsock_reply, now or later */
	void (*request)(struct ctlsock_conn *c, const char *guid, void *arg);
	/* the client left before the answer: cookie is what request set */
	void (*gone)(void *cookie, void *arg);
	/* something the daemon should log (a refused request, accept failed) */
	void (*problem)(const char *what, void *arg);
};

/*
 * ctlsock_listen: bind and listen at state_dir's socket (a stale socket
 * file is replaced: the caller holds the state directory's lock). Returns
 * the server, or NULL with err.
 */
struct ctlsock *ctlsock_listen(struct ev_loop *loop, const char *state_dir,
    const struct ctlsock_ops *ops, void *arg, char *err, size_t errlen);
/*
 * ctlsock_close: stop listening, unlink the socket, answer every open
 * request with "error <why>" (gone is called for each, so its work is
 * cancelled) and free. NULL: nothing.
 */
void ctlsock_close(struct ctlsock *s, const char *why);

/* ctlsock_conn_set: the cookie gone gets if the client leaves first. */
void ctlsock_conn_set(struct ctlsock_conn *c, void *cookie);
/* ctlsock_reply: the answer (one line); the connection ends and is freed. */
void ctlsock_reply(struct ctlsock_conn *c, int ok, const char *text);

enum ctlsock_result {
	CTLSOCK_ERROR = -2,       /* the exchange failed: err says why */
	CTLSOCK_NO_DAEMON = -1,   /* nobody listens at the socket */
	CTLSOCK_TIMEOUT = 0,      /* no answer within the timeout */
	CTLSOCK_REPLY = 1,        /* reply holds the answer line */
};

/*
 * ctlsock_probe: is a daemon listening at state_dir's socket? CTLSOCK_REPLY
 * yes (the connection is closed at once), CTLSOCK_NO_DAEMON, or
 * CTLSOCK_ERROR with err.
 */
enum ctlsock_result ctlsock_probe(const char *state_dir, char *err,
    size_t errlen);

/*
 * ctlsock_request: send request (one line, no newline) to the daemon of
 * state_dir and wait up to timeout seconds for its answer (in reply,
 * without the newline).
 */
enum ctlsock_result ctlsock_request(const char *state_dir, const char *request,
    double timeout, char *reply, size_t replylen, char *err, size_t errlen);

#endif

/*
 * ctlsock: the daemon's control socket and its client (ctlsock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ad.h"
#include "ctlsock.h"
#include "util.h"

#define MAX_CONNS 16          /* open connections at once; more are refused */
#define REQUEST_TIMEOUT 10.   /* seconds for a client to send its line */

struct ctlsock_conn {
	struct ctlsock_conn *next;
	struct ctlsock *srv;          /* not owned */
	ev_io io;
	ev_timer timer;               /* the request line's deadline */
	char buf[CTLSOCK_LINE_MAX];
	size_t len;
	int answering;                /* request passed on: the reply is due */
	void *cookie;                 /* what ops->request set */
};

struct ctlsock {
	struct ev_loop *loop;         /* borrowed */
	const struct ctlsock_ops *ops;
	void *arg;
	ev_io io;                     /* the listening socket */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctlsock_conn *conns;   /* owned */
	size_t nconns;
};

int
ctlsock_path(const char *state_dir, char *buf, size_t len)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n = snprintf(buf, len, "%s/%s", state_dir, CTLSOCK_NAME);

	return n < 0 || (size_t)n >= len || (size_t)n >= max ? -1 : 0;
}

int
ctlsock_parse_request(const char *line, char guid[37], char *err, size_t errlen)
{
	unsigned char b[16];

	if (strncmp(line, "sync ", 5) != 0) {
		snprintf(err, errlen, "unknown request (ringsyncd knows: sync GUID)");
		return -1;
	}
	if (strlen(line + 5) != AD_GUID_LEN || ad_guid_parse(line + 5, b) < 0) {
		snprintf(err, errlen, "not an objectGUID: %.40s", line + 5);
		return -1;
	}
	ad_guid_format(b, guid);
	return 0;
}

int
ctlsock_parse_reply(const char *line, const char **text)
{
	if (strncmp(line, "ok", 2) == 0 && (line[2] == ' ' || line[2] == '\0')) {
		*text = line[2] ? line + 3 : line + 2;
		return 1;
	}
	if (strncmp(line, "error", 5) == 0 && (line[5] == ' ' || line[5] == '\0')) {
		*text = line[5] ? line + 6 : line + 5;
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------ server */

static void
conn_free(struct ctlsock_conn *c)
{
	struct ctlsock *s = c->srv;

	for (struct ctlsock_conn **p = &s->conns; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	s->nconns--;
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	close(c->io.fd);
	free(c);
}

/* conn_end: the client is gone or misbehaved; cancel what it started. */
static void
conn_end(struct ctlsock_conn *c)
{
	struct ctlsock *s = c->srv;

	if (c->answering && s->ops->gone != NULL)
		s->ops->gone(c->cookie, s->arg);
	conn_free(c);
}

void
ctlsock_conn_set(struct ctlsock_conn *c, void *cookie)
{
	c->cookie = cookie;
}

void
ctlsock_reply(struct ctlsock_conn *c, int ok, const char *text)
{
	char line[CTLSOCK_LINE_MAX];
	int n = snprintf(line, sizeof(line), "%s %s", ok ? "ok" : "error", text);

	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One short line into a fresh socket's buffer: it does not block,
	 * and a client that left gets nothing (MSG_NOSIGNAL: no SIGPIPE). */
	(void)send(c->io.fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_free(c);
}

static void
conn_line(struct ctlsock_conn *c)
{
	struct ctlsock *s = c->srv;
	char guid[AD_GUID_LEN + 1], err[128], what[256];

	if (ctlsock_parse_request(c->buf, guid, err, sizeof(err)) < 0) {
		snprintf(what, sizeof(what), "control socket: request refused: %s", err);
		if (s->ops->problem != NULL)
			s->ops->problem(what, s->arg);
		ctlsock_reply(c, 0, err);
		return;
	}
	ev_timer_stop(s->loop, &c->timer);
	c->answering = 1;
	s->ops->request(c, guid, s->arg);
}

/*
 * conn_read_cb: the request line, then only the end of the connection
 * (a client that leaves before its answer cancels its request).
 */
static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctlsock_conn *c = w->data;
	char *nl;
	ssize_t n;

	(void)loop;
	(void)revents;
	if (c->answering) {
		char drop[64];

		n = recv(w->fd, drop, sizeof(drop), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_end(c);
		return;
	}
	n = recv(w->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_end(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if ((nl = strchr(c->buf, '\n')) != NULL) {
		*nl = '\0';
		conn_line(c);
	} else if (c->len == sizeof(c->buf) - 1) {
		ctlsock_reply(c, 0, "request line too long");
	}
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctlsock_conn *c = w->data;

	(void)loop;
	(void)revents;
	ctlsock_reply(c, 0, "no request line within 10 s");
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctlsock *s = w->data;
	struct ctlsock_conn *c;
	char what[256];
	int fd;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
		    s->ops->problem != NULL) {
			snprintf(what, sizeof(what), "control socket: accept failed: %s",
			    strerror(errno));
			s->ops->problem(what, s->arg);
		}
		return;
	}
	if (s->nconns >= MAX_CONNS) {
		static const char busy[] = "error too many requests at once: try "
		    "again\n";

		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->timer, conn_timer_cb, REQUEST_TIMEOUT, 0.);
	c->timer.data = c;
	ev_timer_start(loop, &c->timer);
}

/* bind_at: a socket bound at path with mode 0600; the fd, or -1 with err. */
static int
bind_at(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the old %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	old = umask(0177); /* born 0600: no moment where others may connect */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, MAX_CONNS) < 0) {
		snprintf(err, errlen, "cannot listen at %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct ctlsock *
ctlsock_listen(struct ev_loop *loop, const char *state_dir,
    const struct ctlsock_ops *ops, void *arg, char *err, size_t errlen)
{
	struct ctlsock *s = xcalloc(1, sizeof(*s));
	int fd;

	if (ctlsock_path(state_dir, s->path, sizeof(s->path)) < 0) {
		snprintf(err, errlen, "the path %s/%s is longer than a Unix socket "
		    "address allows (107 bytes): choose a shorter state_dir",
		    state_dir, CTLSOCK_NAME);
		free(s);
		return NULL;
	}
	if ((fd = bind_at(s->path, err, errlen)) < 0) {
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->ops = ops;
	s->arg = arg;
	ev_io_init(&s->io, accept_cb, fd, EV_READ);
	s->io.data = s;
	ev_io_start(loop, &s->io);
	return s;
}

void
ctlsock_close(struct ctlsock *s, const char *why)
{
	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->io);
	close(s->io.fd);
	unlink(s->path);
	while (s->conns != NULL) {
		struct ctlsock_conn *c = s->conns;

		if (c->answering && s->ops->gone != NULL)
			s->ops->gone(c->cookie, s->arg);
		ctlsock_reply(c, 0, why);
	}
	free(s);
}

/* ------------------------------------------------------------ client */

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* read_line: up to the newline, within deadline; 1, 0 timeout, -1 err. */
static int
read_line(int fd, double deadline, char *buf, size_t len, char *err,
    size_t errlen)
{
	size_t have = 0;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		double left = deadline - now_mono();
		char *nl;
		ssize_t n;
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, left > 3600 ? 3600000 : (int)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue;
		n = read(fd, buf + have, len - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "ringsyncd closed the connection without "
			    "an answer%s%s", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return -1;
		}
		have += (size_t)n;
		buf[have] = '\0';
		if ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			return 1;
		}
		if (have == len - 1) {
			snprintf(err, errlen, "ringsyncd's answer is too long");
			return -1;
		}
	}
}

/* dial: a connected socket, or -1 with *res and err. */
static int
dial(const char *state_dir, enum ctlsock_result *res, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	*res = CTLSOCK_ERROR;
	if (ctlsock_path(state_dir, sa.sun_path, sizeof(sa.sun_path)) < 0) {
		snprintf(err, errlen, "the path %s/%s is too long for a Unix socket",
		    state_dir, CTLSOCK_NAME);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", sa.sun_path, strerror(e));
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			*res = CTLSOCK_NO_DAEMON;
		return -1;
	}
	return fd;
}

enum ctlsock_result
ctlsock_probe(const char *state_dir, char *err, size_t errlen)
{
	enum ctlsock_result res;
	int fd = dial(state_dir, &res, err, errlen);

	if (fd < 0)
		return res;
	close(fd); /* the daemon sees a client that left without a word */
	return CTLSOCK_REPLY;
}

enum ctlsock_result
ctlsock_request(const char *state_dir, const char *request, double timeout,
    char *reply, size_t replylen, char *err, size_t errlen)
{
	enum ctlsock_result res;
	char line[CTLSOCK_LINE_MAX];
	int fd = dial(state_dir, &res, err, errlen), rc, n;

	if (fd < 0)
		return res;
	n = snprintf(line, sizeof(line), "%s\n", request);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
		close(fd);
		return CTLSOCK_ERROR;
	}
	rc = read_line(fd, now_mono() + timeout, reply, replylen, err, errlen);
	close(fd);
	return rc > 0 ? CTLSOCK_REPLY : rc == 0 ? CTLSOCK_TIMEOUT : CTLSOCK_ERROR;
}

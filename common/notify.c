/*
 * notify: the operator's notifications (notify.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "notify.h"
#include "util.h"

#define CHILD_TIMEOUT 30.     /* seconds a command or sendmail may take */
#define WEBHOOK_TIMEOUT 15    /* seconds per webhook attempt */

extern char **environ;

static const char *const names[NOTIFY_NEVENTS] = {
	"deactivations_held", "session_expired", "session_expiring",
	"ad_unreachable", "phone_unreachable", "users_failing",
};

const char *
notify_event_name(enum notify_event ev)
{
	return ev < NOTIFY_NEVENTS ? names[ev] : "unknown";
}

const char *const *
notify_event_names(void)
{
	return names;
}

enum notify_send
notify_plan(struct record_alert *a, int failing, long long now, long long after,
    long long min_interval)
{
	if (!failing) {
		a->since = 0;
		if (!a->notified)
			return NOTIFY_NONE;
		a->notified = 0;
		return NOTIFY_RESOLVE;
	}
	if (a->since == 0 || a->since > now)
		a->since = now;
	if (a->notified || now - a->since < after)
		return NOTIFY_NONE;
	if (a->sent > 0 && a->sent <= now && now - a->sent < min_interval)
		return NOTIFY_NONE; /* raised a moment ago: it waits */
	a->notified = 1;
	a->sent = now;
	return NOTIFY_RAISE;
}

static const char *
utc(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ",
	    &tm) == 0)
		snprintf(buf, len, "%lld", t);
	return buf;
}

json_t *
notify_payload(enum notify_event ev, enum notify_send what, long long now,
    long long since, const char *host, const char *brand, const char *summary)
{
	char t[32], s[32];

	return json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:s}",
	    "source", "ringsync", "event", notify_event_name(ev),
	    "state", what == NOTIFY_RESOLVE ? "resolved" : "raised",
	    "time", utc(now, t, sizeof(t)),
	    "since", since > 0 ? utc(since, s, sizeof(s)) : NULL,
	    "host", host, "brand", brand, "summary", summary);
}

char *
notify_mail(const json_t *payload, const char *to, const char *from)
{
	const char *summary = json_string_value(json_object_get(payload, "summary"));
	const char *state = json_string_value(json_object_get(payload, "state"));
	const char *host = json_string_value(json_object_get(payload, "host"));
	char *json = json_dumps(payload, JSON_INDENT(2) | JSON_SORT_KEYS);
	int resolved = state != NULL && strcmp(state, "resolved") == 0;
	char fromline[320] = "";
	char *m;

	if (from != NULL)
		snprintf(fromline, sizeof(fromline), "From: %s\n", from);
	m = xasprintf("To: %s\n%sSubject: [ringsync %s] %s%s\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Auto-Submitted: auto-generated\n\n"
	    "%s%s\n\nringsyncd on %s. The event as JSON:\n\n%s\n", to, fromline,
	    host ? host : "-", resolved ? "resolved: " : "", summary ? summary : "",
	    resolved ? "Resolved: " : "", summary ? summary : "", host ? host : "-",
	    json ? json : "{}");
	free(json);
	return m;
}

/* ------------------------------------------------------------ channels */

static void flush_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct child {
	struct child *next;
	struct notify *n;             /* not owned */
	const char *channel;          /* "command" or "mail" */
	char event[32];
	ev_child cw;
	ev_timer timer;
	int killed;
};

struct notify {
	struct ev_loop *loop;         /* borrowed */
	struct config_notify cfg;     /* owned copies of the strings */
	struct http *http;            /* owned, with a webhook */
	struct post *posts;           /* owned: webhook requests in flight */
	struct child *children;       /* owned */
	notify_problem_cb *cb;
	void *arg;
	void (*flush_cb)(void *arg);
	void *flush_arg;
	ev_timer flush_timer;
};

struct post {
	struct post *next;
	struct notify *n;             /* not owned */
	char event[32];
};

static void
problem(struct notify *n, const char *channel, const char *event,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
problem(struct notify *n, const char *channel, const char *event,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n->cb != NULL)
		n->cb(channel, event, msg, n->arg);
}

static void
flush_check(struct notify *n)
{
	if (n->flush_cb != NULL && !notify_busy(n)) {
		void (*cb)(void *) = n->flush_cb;

		n->flush_cb = NULL;
		ev_timer_stop(n->loop, &n->flush_timer);
		cb(n->flush_arg);
	}
}

static void
child_free(struct child *c)
{
	struct notify *n = c->n;

	for (struct child **p = &n->children; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	ev_child_stop(n->loop, &c->cw);
	ev_timer_stop(n->loop, &c->timer);
	free(c);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child *c = w->data;
	struct notify *n = c->n;
	int st = w->rstatus;

	(void)loop;
	(void)revents;
	if (c->killed)
		problem(n, c->channel, c->event, "killed after %.0f s", CHILD_TIMEOUT);
	else if (WIFSIGNALED(st))
		problem(n, c->channel, c->event, "ended by signal %d", WTERMSIG(st));
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		problem(n, c->channel, c->event, "exit status %d", WEXITSTATUS(st));
	child_free(c);
	flush_check(n);
}

static void
child_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct child *c = w->data;

	(void)loop;
	(void)revents;
	c->killed = 1;
	kill(c->cw.pid, SIGKILL); /* child_cb reaps it */
}

/*
 * spawn: argv with input on its standard input (the rest of its streams
 * are the daemon's: its complaints reach the journal); reaped on the loop.
 */
static void
spawn(struct notify *n, const char *channel, const char *event,
    char *const argv[], const char *input)
{
	posix_spawn_file_actions_t fa;
	struct child *c;
	size_t len = strlen(input);
	int fds[2], rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		problem(n, channel, event, "pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	/* nothing else of the daemon's: its sockets, the store's files */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		problem(n, channel, event, "cannot run %s: %s", argv[0], strerror(rc));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->n = n;
	c->channel = channel;
	snprintf(c->event, sizeof(c->event), "%s", event);
	ev_child_init(&c->cw, child_cb, pid, 0);
	c->cw.data = c;
	ev_child_start(n->loop, &c->cw);
	ev_timer_init(&c->timer, child_timer_cb, CHILD_TIMEOUT, 0.);
	c->timer.data = c;
	ev_timer_start(n->loop, &c->timer);
	c->next = n->children;
	n->children = c;
	/* A few kilobytes into an empty pipe: no wait. A program that does
	 * not read them gets them all the same, or EPIPE here. */
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	if (write(fds[1], input, len) != (ssize_t)len)
		problem(n, channel, event, "cannot write the event to %s: %s", argv[0],
		    strerror(errno));
	close(fds[1]);
}

static void
post_done(const struct http_response *r, void *arg)
{
	struct post *p = arg;
	struct notify *n = p->n;

	for (struct post **q = &n->posts; *q != NULL; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	if (r->result != HTTP_OK)
		problem(n, "webhook", p->event, "%s", r->error);
	else if (r->status < 200 || r->status > 299)
		problem(n, "webhook", p->event, "the server answered HTTP %ld",
		    r->status);
	free(p);
	flush_check(n);
}

static void
post(struct notify *n, const char *event, const char *json)
{
	static const char *const headers[] = { "Content-Type: application/json",
		"User-Agent: ringsyncd", NULL };
	struct http_request req = { 0 };
	struct post *p = xcalloc(1, sizeof(*p));

	p->n = n;
	snprintf(p->event, sizeof(p->event), "%s", event);
	req.method = "POST";
	req.url = n->cfg.webhook;
	req.group = HTTP_LIGHT;
	req.headers = headers;
	req.body = json;
	req.body_len = strlen(json);
	req.idempotent = 0; /* never twice once it may have arrived */
	req.max_attempts = 3;
	p->next = n->posts;
	n->posts = p;
	http_submit(n->http, &req, post_done, p);
}

void
notify_send(struct notify *n, const json_t *payload)
{
	const char *event = json_string_value(json_object_get(payload, "event"));
	char *json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);

	if (n == NULL || json == NULL) {
		free(json);
		return;
	}
	if (n->cfg.command != NULL) {
		char *const argv[] = { n->cfg.command, NULL };
		char *line = xasprintf("%s\n", json);

		spawn(n, "command", event, argv, line);
		free(line);
	}
	if (n->cfg.webhook != NULL)
		post(n, event, json);
	if (n->cfg.mail_to != NULL) {
		char *const argv[] = { n->cfg.sendmail, "-t", "-i", NULL };
		char *m = notify_mail(payload, n->cfg.mail_to, n->cfg.mail_from);

		spawn(n, "mail", event, argv, m);
		free(m);
	}
	free(json);
}

static void
cfg_clear(struct config_notify *c)
{
	free(c->command);
	free(c->webhook);
	free(c->tls_ca_cert);
	free(c->mail_to);
	free(c->mail_from);
	free(c->sendmail);
	memset(c, 0, sizeof(*c));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

int
notify_configure(struct notify *n, const struct config_notify *cfg, char *err,
    size_t errlen)
{
	struct config_notify c = *cfg;

	*err = '\0';
	if (cfg->webhook != NULL && n->http == NULL) {
		struct http_opts o = { 0 };

		o.ca_file = cfg->tls_ca_cert;
		o.verify = 1;
		o.timeout = WEBHOOK_TIMEOUT;
		o.max_body = 64 << 10;
		if ((n->http = http_new(n->loop, &o, err, errlen)) == NULL)
			return -1;
	}
	c.command = dup_or_null(cfg->command);
	c.webhook = dup_or_null(cfg->webhook);
	c.tls_ca_cert = dup_or_null(cfg->tls_ca_cert);
	c.mail_to = dup_or_null(cfg->mail_to);
	c.mail_from = dup_or_null(cfg->mail_from);
	c.sendmail = dup_or_null(cfg->sendmail);
	cfg_clear(&n->cfg);
	n->cfg = c;
	return 0;
}

struct notify *
notify_new(struct ev_loop *loop, const struct config_notify *cfg,
    notify_problem_cb *cb, void *arg, char *err, size_t errlen)
{
	struct notify *n = xcalloc(1, sizeof(*n));

	n->loop = loop;
	n->cb = cb;
	n->arg = arg;
	ev_timer_init(&n->flush_timer, flush_timer_cb, 0., 0.);
	n->flush_timer.data = n;
	if (notify_configure(n, cfg, err, errlen) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

int
notify_enabled(const struct notify *n)
{
	return n != NULL && (n->cfg.command != NULL || n->cfg.webhook != NULL ||
	    n->cfg.mail_to != NULL);
}

void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	http_free(n->http); /* no callback runs */
	while (n->posts != NULL) {
		struct post *p = n->posts;

		n->posts = p->next;
		free(p);
	}
	while (n->children != NULL) {
		struct child *c = n->children;
		int st;

		kill(c->cw.pid, SIGKILL);
		waitpid(c->cw.pid, &st, 0);
		child_free(c);
	}
	ev_timer_stop(n->loop, &n->flush_timer);
	cfg_clear(&n->cfg);
	free(n);
}

int
notify_busy(const struct notify *n)
{
	return n != NULL && (n->posts != NULL || n->children != NULL);
}

static void
flush_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct notify *n = w->data;
	void (*cb)(void *) = n->flush_cb;

	(void)loop;
	(void)revents;
	n->flush_cb = NULL;
	if (cb != NULL)
		cb(n->flush_arg);
}

void
notify_flush(struct notify *n, double max_wait, void (*cb)(void *arg), void *arg)
{
	if (!notify_busy(n)) {
		cb(arg);
		return;
	}
	n->flush_cb = cb;
	n->flush_arg = arg;
	ev_timer_set(&n->flush_timer, max_wait, 0.);
	ev_timer_start(n->loop, &n->flush_timer);
}

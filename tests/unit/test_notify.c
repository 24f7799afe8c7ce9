/*
 * Unit tests for the notifications (common/notify.c): when an event is
 * raised and resolved, the payload and the mail; and the command and mail
 * channels with real children on the default loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notify.h"
#include "util.h"

static void
test_plan(void **state)
{
	struct record_alert a = { 0 };

	(void)state;
	/* Not failing: nothing, and nothing to resolve. */
	assert_int_equal(notify_plan(&a, 0, 1000, 0, 3600), NOTIFY_NONE);
	/* Failing, with after = 900: raised once it has failed that long. */
	assert_int_equal(notify_plan(&a, 1, 1000, 900, 3600), NOTIFY_NONE);
	assert_int_equal(a.since, 1000);
	assert_int_equal(notify_plan(&a, 1, 1899, 900, 3600), NOTIFY_NONE);
	assert_int_equal(notify_plan(&a, 1, 1900, 900, 3600), NOTIFY_RAISE);
	assert_int_equal(a.sent, 1900);
	assert_true(a.notified);
	/* Still failing: not again. */
	assert_int_equal(notify_plan(&a, 1, 9000, 900, 3600), NOTIFY_NONE);
	assert_int_equal(a.since, 1000);
	/* Cleared: resolved once. */
	assert_int_equal(notify_plan(&a, 0, 9100, 900, 3600), NOTIFY_RESOLVE);
	assert_int_equal(notify_plan(&a, 0, 9200, 900, 3600), NOTIFY_NONE);
	assert_int_equal(a.since, 0);
	/* A failure that clears before `after`: nothing at all. */
	assert_int_equal(notify_plan(&a, 1, 9300, 900, 3600), NOTIFY_NONE);
	assert_int_equal(notify_plan(&a, 0, 9400, 900, 3600), NOTIFY_NONE);
}

static void
test_plan_flapping(void **state)
{
	struct record_alert a = { 0 };

	(void)state;
	assert_int_equal(notify_plan(&a, 1, 100, 0, 3600), NOTIFY_RAISE);
	assert_int_equal(notify_plan(&a, 0, 200, 0, 3600), NOTIFY_RESOLVE);
	/* Raised again within min_interval of the last raise: it waits ... */
	assert_int_equal(notify_plan(&a, 1, 300, 0, 3600), NOTIFY_NONE);
	assert_false(a.notified);
	assert_int_equal(notify_plan(&a, 1, 3699, 0, 3600), NOTIFY_NONE);
	/* ... and goes out once the interval has passed, still failing. */
	assert_int_equal(notify_plan(&a, 1, 3700, 0, 3600), NOTIFY_RAISE);
	assert_int_equal(a.since, 300);
	/* A waiting raise that clears first is forgotten quietly. */
	assert_int_equal(notify_plan(&a, 0, 3800, 0, 3600), NOTIFY_RESOLVE);
	assert_int_equal(notify_plan(&a, 1, 3900, 0, 3600), NOTIFY_NONE);
	assert_int_equal(notify_plan(&a, 0, 4000, 0, 3600), NOTIFY_NONE);
	/* min_interval 0: every raise goes out. */
	assert_int_equal(notify_plan(&a, 1, 4100, 0, 0), NOTIFY_RAISE);
	/* A clock that went back does not silence an event for ever. */
	a = (struct record_alert){ 0, 99999, 0 };
	assert_int_equal(notify_plan(&a, 1, 5000, 0, 3600), NOTIFY_RAISE);
}

static void
test_payload_and_mail(void **state)
{
	json_t *p;
	char *m;

	(void)state;
	assert_string_equal(notify_event_name(NOTIFY_HELD), "deactivations_held");
	assert_string_equal(notify_event_names()[NOTIFY_FAILING], "users_failing");
	p = notify_payload(NOTIFY_AD_DOWN, NOTIFY_RAISE, 1796635800, 1796634900,
	    "sync1", "TELUS Business Connect", "Active Directory cannot be reached");
	assert_string_equal(json_string_value(json_object_get(p, "source")),
	    "ringsync");
	assert_string_equal(json_string_value(json_object_get(p, "event")),
	    "ad_unreachable");
	assert_string_equal(json_string_value(json_object_get(p, "state")), "raised");
	assert_string_equal(json_string_value(json_object_get(p, "time")),
	    "2026-12-07T09:30:00Z");
	assert_string_equal(json_string_value(json_object_get(p, "since")),
	    "2026-12-07T09:15:00Z");
	assert_string_equal(json_string_value(json_object_get(p, "host")), "sync1");
	assert_int_equal(json_object_size(p), 8);
	m = notify_mail(p, "a@example.test, b@example.test", NULL);
	assert_non_null(strstr(m, "To: a@example.test, b@example.test\nSubject: "
	    "[ringsync sync1] Active Directory cannot be reached\n"));
	assert_null(strstr(m, "From:"));
	assert_non_null(strstr(m, "\n\nActive Directory cannot be reached\n"));
	assert_non_null(strstr(m, "\"event\": \"ad_unreachable\""));
	free(m);
	json_decref(p);
	/* Resolved: no since; the subject says so. */
	p = notify_payload(NOTIFY_HELD, NOTIFY_RESOLVE, 1796635800, 0, "sync1",
	    "RingCentral", "no deactivation is held any more");
	assert_string_equal(json_string_value(json_object_get(p, "state")),
	    "resolved");
	assert_null(json_object_get(p, "since"));
	m = notify_mail(p, "ops@example.test", "ringsync@example.test");
	assert_non_null(strstr(m, "To: ops@example.test\nFrom: ringsync@example."
	    "test\nSubject: [ringsync sync1] resolved: no deactivation is held"));
	free(m);
	json_decref(p);
}

/* ------------------------------------------------------------ channels */

struct seen {
	char channel[16], event[40], error[256];
	int n;
	int flushed;
};

static void
problem(const char *channel, const char *event, const char *error, void *arg)
{
	struct seen *s = arg;

	snprintf(s->channel, sizeof(s->channel), "%s", channel);
	snprintf(s->event, sizeof(s->event), "%s", event);
	snprintf(s->error, sizeof(s->error), "%s", error);
	s->n++;
}

static void
flushed(void *arg)
{
	struct seen *s = arg;

	s->flushed = 1;
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static char dir[64];

static char *
script(const char *name, const char *body)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0700);
	return path;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, 65536);

	if (f != NULL) {
		size_t n = fread(buf, 1, 65535, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* run: send payload through cfg's channels and wait for them to end. */
static void
run(const struct config_notify *cfg, json_t *payload, struct seen *s)
{
	struct ev_loop *loop = EV_DEFAULT;
	char err[256];
	struct notify *n = notify_new(loop, cfg, problem, s, err, sizeof(err));

	assert_non_null(n);
	assert_true(notify_enabled(n));
	s->flushed = 0;
	notify_send(n, payload);
	if (!notify_busy(n))
		fail_msg("nothing runs: %s %s", s->channel, s->error);
	notify_flush(n, 30, flushed, s);
	if (!s->flushed)
		ev_run(loop, 0);
	assert_true(s->flushed);
	if (notify_busy(n))
		fail_msg("still busy after the flush: %d %s %s", s->n, s->channel,
		    s->error);
	notify_free(n);
}

static void
test_channels(void **state)
{
	struct config_notify cfg = { 0 };
	struct seen s = { 0 };
	json_t *p = notify_payload(NOTIFY_HELD, NOTIFY_RAISE, 1796631000,
	    1796631000, "sync1", "RingCentral", "2 deactivations are held");
	char *cmd, *mail, *out, *got;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ringsync-notify.XXXXXX");
	assert_non_null(mkdtemp(dir));
	out = xasprintf("%s/out", dir);
	cmd = script("cmd", "cat > \"$(dirname \"$0\")/out\"");
	mail = script("sendmail", "echo \"$@\" > \"$(dirname \"$0\")/out\"; cat >> "
	    "\"$(dirname \"$0\")/out\"");
	/* The command: the JSON on one line of its standard input. */
	cfg.command = cmd;
	run(&cfg, p, &s);
	assert_int_equal(s.n, 0);
	got = slurp(out);
	assert_non_null(strstr(got, "\"event\":\"deactivations_held\""));
	assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1); /* one line */
	free(got);
	/* Mail: sendmail -t -i and the message. */
	cfg.command = NULL;
	cfg.mail_to = "ops@example.test";
	cfg.sendmail = mail;
	run(&cfg, p, &s);
	assert_int_equal(s.n, 0);
	got = slurp(out);
	assert_non_null(strstr(got, "-t -i\nTo: ops@example.test\nSubject: "
	    "[ringsync sync1] 2 deactivations are held\n"));
	free(got);
	/* A command that fails is reported, named. */
	free(cmd);
	cmd = script("fails", "cat > /dev/null; exit 3");
	cfg.mail_to = NULL;
	cfg.command = cmd;
	run(&cfg, p, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.channel, "command");
	assert_string_equal(s.event, "deactivations_held");
	assert_string_equal(s.error, "exit status 3");
	/* One that cannot be run at all, too. */
	cfg.command = "/nonexistent/ringsync-event";
	{
		char err[256];
		struct notify *n = notify_new(EV_DEFAULT, &cfg, problem, &s, err,
		    sizeof(err));

		notify_send(n, p);
		assert_int_equal(s.n, 2);
		assert_non_null(strstr(s.error, "cannot run /nonexistent/ringsync-event"));
		assert_false(notify_busy(n));
		notify_free(n);
	}
	json_decref(p);
	unlink(out);
	unlink(cmd);
	unlink(mail);
	rmdir(dir);
	free(out);
	free(cmd);
	free(mail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_flapping),
		cmocka_unit_test(test_payload_and_mail),
		cmocka_unit_test(test_channels),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * ctl_sync: ringsyncctl sync [--timeout DURATION] USER. The user is found
 * the way explain finds it; the running daemon is asked, through its
 * control socket (ctlsock.h), to process it now; its answer comes once the
 * user's scan and push are done, and explain shows the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad.h"
#include "config.h"
#include "ctl.h"
#include "ctlsock.h"
#include "store.h"

#define SYNC_TIMEOUT 300 /* seconds: a push may wait for the rate limit */

/* parse: [--timeout DURATION] USER; 0, or -1 after a message. */
static int
parse(int argc, char **argv, unsigned int *timeout, const char **user)
{
	const char *t = NULL;

	*timeout = SYNC_TIMEOUT;
	if (argc == 3 && strcmp(argv[0], "--timeout") == 0) {
		t = argv[1];
		*user = argv[2];
	} else if (argc == 2 && strncmp(argv[0], "--timeout=", 10) == 0) {
		t = argv[0] + 10;
		*user = argv[1];
	} else if (argc == 1 && argv[0][0] != '-') {
		*user = argv[0];
	} else {
		fprintf(stderr, "usage: ringsyncctl sync [--timeout DURATION] USER\n");
		return -1;
	}
	if (t != NULL && (config_parse_duration(t, 86400, timeout) < 0 ||
	    *timeout == 0)) {
		fprintf(stderr, "ringsyncctl: --timeout %s: expected a duration such "
		    "as 90s, 5m or 1h (at most 1d)\n", t);
		return -1;
	}
	return 0;
}

/* resolve: USER's objectGUID; 0, or the exit status after a message. */
static int
resolve(const struct config *cfg, const char *user, char guid[AD_GUID_LEN + 1])
{
	struct store *st;
	char err[512];
	int rc;

	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	rc = ctl_user_guid(cfg, st, user, guid, err, sizeof(err));
	store_close(st);
	if (rc == 1)
		return 0;
	fprintf(stderr, "ringsyncctl: %s\n", err);
	return rc == -1 ? CTL_EXIT_UNREACHABLE : 1;
}

int
ctl_sync(const struct config *cfg, int argc, char **argv)
{
	char guid[AD_GUID_LEN + 1], request[64], reply[CTLSOCK_LINE_MAX], err[512];
	const char *user, *text;
	unsigned int timeout;
	enum ctlsock_result r;
	int rc, ok;

	if (parse(argc, argv, &timeout, &user) < 0)
		return CTL_EXIT_CONFIG;
	/* No daemon: said before the user is looked for (maybe in AD). */
	r = ctlsock_probe(cfg->sync.state_dir, err, sizeof(err));
	if (r == CTLSOCK_REPLY) {
		if ((rc = resolve(cfg, user, guid)) != 0)
			return rc;
		snprintf(request, sizeof(request), "sync %s", guid);
		r = ctlsock_request(cfg->sync.state_dir, request, timeout, reply,
		    sizeof(reply), err, sizeof(err));
	}
	if (r == CTLSOCK_NO_DAEMON) {
		fprintf(stderr, "ringsyncctl: ringsyncd is not running for state_dir "
		    "%s (nothing listens at its control socket: %s): sync needs the "
		    "running daemon (systemctl start ringsyncd); explain shows where "
		    "%s stands\n", cfg->sync.state_dir, err, user);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r == CTLSOCK_ERROR) {
		fprintf(stderr, "ringsyncctl: cannot ask ringsyncd: %s\n", err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r == CTLSOCK_TIMEOUT) {
		printf("ringsyncd has not answered within %u s: it goes on with %s "
		    "(a push may wait for the rate limit); where it stands now:\n",
		    timeout, user);
		fflush(stdout);
		ctl_explain(cfg, 1, (char **)&user);
		return 1;
	}
	ok = ctlsock_parse_reply(reply, &text);
	if (ok < 0) {
		fprintf(stderr, "ringsyncctl: ringsyncd gave an answer it should "
		    "not: %.200s\n", reply);
		return CTL_EXIT_UNREACHABLE;
	}
	if (ok)
		printf("ringsyncd: %s\n", text);
	else
		fprintf(stderr, "ringsyncctl: ringsyncd could not process %s: %s\n",
		    user, text);
	fflush(stdout);
	rc = ctl_explain(cfg, 1, (char **)&user);
	return ok ? rc : CTL_EXIT_UNREACHABLE;
}

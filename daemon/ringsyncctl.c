/*
 * ringsyncctl: the administrator's view of a running (or stopped)
 * ringsyncd. It opens the state store read-only, so it never blocks the
 * daemon (LMDB readers take no lock the writer waits for); `auth login` is
 * the one command that writes (the tokens), see ctl_store_open_rw.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "version.h"

void
ctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: ringsyncctl [-c FILE] command\n"
	    "  status [--warn-age DURATION] [--crit-age DURATION]\n"
	    "         [--warn-failed N] [--crit-failed N]\n"
	    "                      last cycles, watermark, counts, token expiry; a\n"
	    "                      monitoring check: exit 0 OK, 1 WARNING, 2 CRITICAL\n"
	    "  users [--failed]    one line per user: email, DN, phone id, state, "
	    "last error\n"
	    "  schema              fetch the phone system's user schema, custom "
	    "fields and\n"
	    "                      the AD attributes of class user; cache them for "
	    "ringsyncd -t\n"
	    "  release-deactivations\n"
	    "                      let held deactivations through (after review)\n"
	    "  auth login [--timeout DURATION]\n"
	    "                      sign in as an administrator in a browser "
	    "(authorization\n"
	    "                      code with PKCE, redirected to a listener on "
	    "127.0.0.1);\n"
	    "                      the tokens go to the state store (default "
	    "timeout 5m)\n"
	    "  auth status         validity and expiry of the stored tokens; exit "
	    "0 valid,\n"
	    "                      1 renewable by ringsyncd, 3 run auth login\n"
	    "  -c FILE             configuration (default %s)\n",
	    RINGSYNC_DEFAULT_CONFIG);
}

const char *
ctl_fmt_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

const char *
ctl_fmt_left(long long secs, char *buf, size_t len)
{
	if (secs >= 2 * 86400)
		snprintf(buf, len, "%lld d %lld h", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 2 * 3600)
		snprintf(buf, len, "%lld h %lld min", secs / 3600, secs % 3600 / 60);
	else if (secs >= 120)
		snprintf(buf, len, "%lld min", secs / 60);
	else
		snprintf(buf, len, "%lld s", secs);
	return buf;
}

/* ctl_token_line: one token's state; returns 1 when it is valid now. */
int
ctl_token_line(const char *label, const char *token, long long expires,
    long long now)
{
	char t[64], left[64];

	if (token == NULL) {
		printf("%-16s absent\n", label);
		return 0;
	}
	if (expires == 0) {
		printf("%-16s present, expiry unknown\n", label);
		return 1;
	}
	if (expires > now) {
		printf("%-16s valid until %s (%s left)\n", label,
		    ctl_fmt_time(expires, t, sizeof(t)), ctl_fmt_left(expires - now,
		    left, sizeof(left)));
		return 1;
	}
	printf("%-16s expired at %s\n", label, ctl_fmt_time(expires, t,
	    sizeof(t)));
	return 0;
}

int
ctl_store_open_rw(const struct config *cfg, struct store **st, char *err,
    size_t errlen)
{
	char first[256];

	if (store_open(cfg->sync.state_dir, 0, st, first, sizeof(first)) == 0)
		return 0;
	if (store_open(cfg->sync.state_dir, STORE_SHARED, st, err, errlen) == 0)
		return 0;
	return errbuf_set(err, errlen, "%s", first);
}

/*
 * as_state_owner: run as root, act as the owner of state_dir (the
 * ringsync user of the package) so that the files a write creates stay
 * the daemon's. 0, or -1 after a message.
 */
static int
as_state_owner(const char *dir)
{
	struct passwd *pw;
	struct stat sb;

	if (geteuid() != 0 || stat(dir, &sb) < 0 || sb.st_uid == 0)
		return 0;
	if ((pw = getpwuid(sb.st_uid)) == NULL) {
		fprintf(stderr, "ringsyncctl: %s belongs to uid %lu, which has no "
		    "user name: run ringsyncctl as that user\n", dir,
		    (unsigned long)sb.st_uid);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "ringsyncctl: cannot become %s, the owner of %s: %s\n",
		    pw->pw_name, dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct config_problems pr = { 0 };
	const char *path = RINGSYNC_DEFAULT_CONFIG;
	struct config *cfg;
	int c, rc;

	util_json_init();
	/* "+": options end at the command (auth login has its own) */
	while ((c = getopt(argc, argv, "+c:hV")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': ctl_usage(stdout); return 0;
		case 'V': printf("ringsyncctl %s\n", RINGSYNC_VERSION); return 0;
		default: ctl_usage(stderr); return CTL_EXIT_CONFIG;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return CTL_EXIT_CONFIG;
	}
	log_init("ringsyncctl", LOG_USER, LOG_WARNING, LOG_F_STDERR);
	if (config_load(path, 0, &cfg, &pr) < 0) {
		if (strcmp(argv[optind], "status") == 0)
			printf("RINGSYNC CRITICAL: the configuration %s has errors\n", path);
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		config_problems_free(&pr);
		return CTL_EXIT_CONFIG;
	}
	/*
	 * schema and auth talk to the DC and the phone system: a peer that
	 * closes a TLS connection must be an EPIPE error, not SIGPIPE's
	 * death. The other commands only print, and end quietly like any
	 * filter when their reader goes away.
	 */
	if (strcmp(argv[optind], "schema") == 0 || strcmp(argv[optind], "auth") == 0)
		signal(SIGPIPE, SIG_IGN);
	if (as_state_owner(cfg->sync.state_dir) < 0) {
		rc = CTL_EXIT_CONFIG;
	} else if (strcmp(argv[optind], "status") == 0) {
		rc = ctl_status(cfg, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(argv[optind], "users") == 0 && (optind + 1 == argc ||
	    (optind + 2 == argc && strcmp(argv[optind + 1], "--failed") == 0))) {
		rc = ctl_users(cfg, optind + 2 == argc);
	} else if (strcmp(argv[optind], "release-deactivations") == 0 &&
	    optind + 1 == argc) {
		rc = ctl_release(cfg);
	} else if (strcmp(argv[optind], "schema") == 0 && optind + 1 == argc) {
		rc = ctl_schema(cfg);
	} else if (strcmp(argv[optind], "auth") == 0) {
		rc = ctl_auth(cfg, argc - optind - 1, argv + optind + 1);
	} else {
		fprintf(stderr, "ringsyncctl: unknown command '%s'\n", argv[optind]);
		ctl_usage(stderr);
		rc = CTL_EXIT_CONFIG;
	}
	config_free(cfg);
	return rc;
}

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
	    "  status [--json] [--warn-age DURATION] [--crit-age DURATION]\n"
	    "         [--warn-failed N] [--crit-failed N]\n"
	    "                      last cycles, watermark, counts, token expiry; a\n"
	    "                      monitoring check: exit 0 OK, 1 WARNING, 2 CRITICAL\n"
	    "  users [--failed]    one line per user: email, DN, phone id, state, "
	    "last error\n"
	    "  explain USER        why USER is or is not in scope, linked, pushed: "
	    "AD against\n"
	    "                      the store, field by field; the outbox, errors, "
	    "write-back\n"
	    "  sync [--timeout DURATION] USER\n"
	    "                      the running ringsyncd processes USER now "
	    "(pushes it even\n"
	    "                      when nothing changed), then explain "
	    "(default timeout 5m)\n"
	    "  history USER        the changes made for USER (sAMAccountName, mail, "
	    "DN or\n"
	    "                      objectGUID), oldest first, with times and cycles\n"
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
	    "  auth logout         end the stored session at the phone system and "
	    "remove\n"
	    "                      its tokens; exit 0 done, 1 unreachable, 3 "
	    "refused\n"
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
		    ctl_fmt_time(expires, t, sizeof(t)),
		    ctl_fmt_left(expires - now, left, sizeof(left)));
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
	return util_errbuf_set(err, errlen, "%s", first);
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

/*
 * A command: its name and what runs it with the arguments after it; run
 * returns the exit status, or -1 for arguments the command does not take
 * (then it is an unknown command).
 */
struct command {
	const char *name;
	int remote;             /* talks to the DC or the phone system */
	int (*run)(const struct config *cfg, int argc, char **argv);
};

static int
run_users(const struct config *cfg, int argc, char **argv)
{
	if (argc == 0 || (argc == 1 && strcmp(argv[0], "--failed") == 0))
		return ctl_users(cfg, argc == 1);
	return -1;
}

static int
run_release(const struct config *cfg, int argc, char **argv)
{
	(void)argv;
	return argc == 0 ? ctl_release(cfg) : -1;
}

static int
run_schema(const struct config *cfg, int argc, char **argv)
{
	(void)argv;
	return argc == 0 ? ctl_schema(cfg) : -1;
}

static const struct command commands[] = {
	{ "status", 0, ctl_status },
	{ "users", 0, run_users },
	{ "release-deactivations", 0, run_release },
	{ "schema", 1, run_schema },
	{ "history", 1, ctl_history },
	{ "explain", 1, ctl_explain },
	{ "sync", 1, ctl_sync },
	{ "auth", 1, ctl_auth },
};

static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/*
 * parse_options: -c FILE, -h, -V; -1 to go on (argv[optind] is the
 * command), else the exit status.
 */
static int
parse_options(int argc, char **argv, const char **path)
{
	int c;

	/* "+": options end at the command (auth login has its own) */
	while ((c = getopt(argc, argv, "+c:hV")) != -1) {
		switch (c) {
		case 'c': *path = optarg; break;
		case 'h': ctl_usage(stdout); return 0;
		case 'V': printf("ringsyncctl %s\n", RINGSYNC_VERSION); return 0;
		default: ctl_usage(stderr); return CTL_EXIT_CONFIG;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return CTL_EXIT_CONFIG;
	}
	return -1;
}

/*
 * load_config: the configuration at path, or NULL after its problems (and,
 * for status, the check's CRITICAL line).
 */
static struct config *
load_config(const char *path, const char *command)
{
	struct config_problems pr = { 0 };
	struct config *cfg;

	if (config_load(path, 0, &cfg, &pr) == 0)
		return cfg;
	if (strcmp(command, "status") == 0)
		printf("RINGSYNC CRITICAL: the configuration %s has errors\n", path);
	for (size_t i = 0; i < pr.n; i++)
		fprintf(stderr, "%s\n", pr.v[i]);
	config_problems_free(&pr);
	return NULL;
}

/* dispatch: run the command argv[0] with the rest; the exit status. */
static int
dispatch(const struct config *cfg, int argc, char **argv)
{
	const struct command *cmd = command_find(argv[0]);
	int rc = -1;

	/*
	 * schema and auth talk to the DC and the phone system: a peer that
	 * closes a TLS connection must be an EPIPE error, not SIGPIPE's
	 * death. The other commands only print, and end quietly like any
	 * filter when their reader goes away.
	 */
	if (cmd != NULL && cmd->remote)
		signal(SIGPIPE, SIG_IGN);
	if (as_state_owner(cfg->sync.state_dir) < 0)
		return CTL_EXIT_CONFIG;
	if (cmd != NULL)
		rc = cmd->run(cfg, argc - 1, argv + 1);
	if (rc < 0) {
		fprintf(stderr, "ringsyncctl: unknown command '%s'\n", argv[0]);
		ctl_usage(stderr);
		rc = CTL_EXIT_CONFIG;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = RINGSYNC_DEFAULT_CONFIG;
	struct config *cfg;
	int rc;

	util_json_init();
	if ((rc = parse_options(argc, argv, &path)) >= 0)
		return rc;
	log_init("ringsyncctl", LOG_USER, LOG_WARNING, LOG_F_STDERR);
	if ((cfg = load_config(path, argv[optind])) == NULL)
		return CTL_EXIT_CONFIG;
	rc = dispatch(cfg, argc - optind, argv + optind);
	config_free(cfg);
	return rc;
}

/*
 * ringsyncd: keeps RingCentral-platform phone accounts in step with Active
 * Directory. Arguments, configuration, the libev loop, signals and timers;
 * the work of a cycle lives in common/sync.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "ad.h"
#include "config.h"
#include "ctlsock.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "version.h"

/* Exit statuses (ringsyncd(8), docs/behaviour.md). */
#define EXIT_CONFIG 2

struct options {
	const char *config_path;
	int foreground, test, once, dry_run, full_resync, debug;
};

/* The running daemon: owns the configuration, the store and the sync. */
struct daemon {
	struct ev_loop *loop;
	struct options opt;
	struct config *cfg;
	struct store *store;
	struct sync *sync;
	struct ctlsock *ctl;    /* owned: the control socket, or NULL */
	ev_timer poll, import, full;
	double import_last;        /* loop time of the last import asked */
	ev_signal sighup, sigterm, sigint, sigusr1;
	int full_pending; /* the next poll cycle is a full sync (--full-resync) */
	struct config *pending_cfg; /* a reload waiting for the cycle to end */
	int status;       /* --once */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ringsyncd [-c FILE] [-f] [-t] [--once] [-n|--dry-run] "
	    "[--full-resync] [-d] [-V] [-h]\n"
	    "  -c FILE        configuration (default %s)\n"
	    "  -f             stay in the foreground, log to stderr as well as syslog\n"
	    "  -t             check the configuration and secret-file permissions, "
	    "print every problem, exit\n"
	    "  --once         run one complete cycle and exit\n"
	    "  -n, --dry-run  log what would change, change nothing\n"
	    "  --full-resync  ignore the watermark for this run\n"
	    "  -d             debug logging\n"
	    "  -V             print the version and exit\n"
	    "  -h             this help\n", RINGSYNC_DEFAULT_CONFIG);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_ONCE = 256, OPT_FULL_RESYNC };
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "full-resync", no_argument, NULL, OPT_FULL_RESYNC },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config_path = RINGSYNC_DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:ftndVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 'f': o->foreground = 1; break;
		case 't': o->test = 1; break;
		case 'n': o->dry_run = 1; break;
		case 'd': o->debug = 1; break;
		case OPT_ONCE: o->once = 1; break;
		case OPT_FULL_RESYNC: o->full_resync = 1; break;
		case 'V': printf("ringsyncd %s\n", RINGSYNC_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(EXIT_CONFIG);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringsyncd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(EXIT_CONFIG);
	}
}

/* Warnings a valid configuration still deserves at every start. */
static void
warn_config(const struct config *cfg)
{
	if (!cfg->ldap.tls_verify)
		log_warning("ldap certificate verification is off: the DC's identity "
		    "is not checked key=tls_verify file=%s", log_q(cfg->path));
	if (!cfg->telephony.tls_verify)
		log_warning("telephony certificate verification is off: the API "
		    "server's identity is not checked key=tls_verify file=%s",
		    log_q(cfg->path));
	if (cfg->telephony.brand_id == NULL)
		log_notice("brand is not one this ringsync knows: it is the name in "
		    "messages only, the server is [telephony] server brand=%s "
		    "server=%s", log_q(cfg->telephony.brand),
		    log_q(cfg->telephony.server));
	if (strncmp(cfg->telephony.server, "http://", 7) == 0)
		log_warning("telephony server uses plain http (loopback only) "
		    "server=%s", log_q(cfg->telephony.server));
}

/*
 * check_schema: the [push] mapping against the schema `ringsyncctl
 * schema` cached in the store, when there is one; the number of problems
 * added to pr.
 */
static size_t
check_schema(const struct config *cfg, struct config_problems *pr)
{
	char err[512], *path = xasprintf("%s/state.mdb", cfg->sync.state_dir);
	struct store *st = NULL;
	struct store_txn *txn;
	json_t *cache = NULL;
	size_t n = 0;
	int have = access(path, F_OK) == 0;

	free(path);
	if (have && store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err,
	    sizeof(err)) == 0 && store_begin(st, 1, &txn, err, sizeof(err)) == 0) {
		if (store_get_json(txn, STORE_META, SCHEMA_KEY, &cache, err,
		    sizeof(err)) != 0)
			cache = NULL;
		store_abort(txn);
	}
	store_close(st);
	/* [policy] resolves in cached lists: the daemon would not start. */
	if (schema_policy_ready(cache, cfg, err, sizeof(err)) < 0) {
		pr->v = xreallocarray(pr->v, pr->n + 1, sizeof(*pr->v));
		pr->v[pr->n++] = xasprintf("%s: %s", cfg->path, err);
		n++;
	}
	if (cache != NULL) {
		n += schema_check(cache, cfg, pr);
		json_decref(cache);
	} else {
		for (size_t i = 0; i < cfg->push.n; i++)
			if (strncasecmp(cfg->push.v[i].key, "custom.", 7) == 0) {
				printf("ringsyncd: no cached schema: the custom fields of [push] "
				    "are checked once `ringsyncctl schema` has run\n");
				break;
			}
	}
	return n;
}

/*
 * check_groups: -t asks AD whether each scope group can scope users; the
 * number of problems. AD out of reach is said, not counted: -t is also
 * run where the DCs are not reachable yet.
 */
static size_t
check_groups(const struct config *cfg)
{
	struct ev_loop *loop;
	struct ad *ad;
	char err[2048];
	size_t bad = 0;

	if (strcasestr(cfg->ldap.user_filter, "memberOf") != NULL)
		printf("ringsyncd: warning: user_filter tests memberOf: AD does not "
		    "change a user when its groups change, so such changes are seen "
		    "only by the full sync; use [ldap] groups\n");
	if (cfg->ldap.groups.n == 0 && cfg->roles.n == 0)
		return 0;
	loop = ev_loop_new(EVFLAG_AUTO);
	ad = ad_new(loop, cfg);
	if (ad_connect(ad, err, sizeof(err)) < 0) {
		printf("ringsyncd: the scope and [roles] groups are not checked: "
		    "cannot reach Active Directory: %s\n", err);
	} else {
		for (size_t i = 0; i < cfg->ldap.groups.n; i++)
			if (ad_scope_check(ad, cfg->ldap.groups.v[i], err,
			    sizeof(err)) < 0) {
				fprintf(stderr, "%s: [ldap] groups: %s\n", cfg->path, err);
				bad++;
			}
		for (size_t i = 0; i < cfg->roles.n; i++)
			if (ad_group_check(ad, cfg->roles.v[i].value, "group", err,
			    sizeof(err)) < 0) {
				fprintf(stderr, "%s:%d: [roles] %s: %s\n", cfg->path,
				    cfg->roles.v[i].line, cfg->roles.v[i].key, err);
				bad++;
			}
	}
	ad_free(ad);
	ev_loop_destroy(loop);
	return bad;
}

/* -t: print every problem; 0 or 2. */
static int
test_config(const struct options *o)
{
	struct config_problems pr = { 0 };
	struct config *cfg;

	if (config_load(o->config_path, 0, &cfg, &pr) < 0) {
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		fprintf(stderr, "ringsyncd: %zu problem%s in %s\n", pr.n,
		    pr.n == 1 ? "" : "s", o->config_path);
		config_problems_free(&pr);
		return EXIT_CONFIG;
	}
	log_init("ringsyncd", cfg->log.facility, LOG_WARNING, LOG_F_STDERR);
	warn_config(cfg);
	if (check_groups(cfg) > 0) {
		fprintf(stderr, "ringsyncd: the groups of %s (scope or [roles]) "
		    "cannot be used\n", o->config_path);
		check_schema(cfg, &pr); /* its problems too, at once */
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		config_problems_free(&pr);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	if (check_schema(cfg, &pr) > 0) {
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		fprintf(stderr, "ringsyncd: %zu problem%s in %s (against the schema "
		    "`ringsyncctl schema` cached)\n", pr.n, pr.n == 1 ? "" : "s",
		    o->config_path);
		config_problems_free(&pr);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	printf("ringsyncd: configuration %s OK\n", o->config_path);
	config_free(cfg);
	return 0;
}

static struct config *
load_or_exit(const char *path)
{
	struct config_problems pr = { 0 };
	struct config *cfg;

	if (config_load(path, 0, &cfg, &pr) == 0)
		return cfg;
	for (size_t i = 0; i < pr.n; i++) {
		fprintf(stderr, "%s\n", pr.v[i]);
		log_err("configuration problem detail=%s", log_q(pr.v[i]));
	}
	fprintf(stderr, "ringsyncd: %zu problem%s in %s (check with ringsyncd -t)\n",
	    pr.n, pr.n == 1 ? "" : "s", path);
	config_problems_free(&pr);
	exit(EXIT_CONFIG);
}

/*
 * Under systemd, stderr is the journal, which gets the syslog lines too:
 * write each line once. systemd names the stream in JOURNAL_STREAM
 * ("device:inode").
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static int
log_flags(const struct options *o)
{
	if (stderr_is_journal())
		return 0;
	return o->foreground || o->once ? LOG_F_STDERR : 0;
}

static int
log_level(const struct daemon *d)
{
	return d->opt.debug ? LOG_DEBUG : d->cfg->log.level;
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	sync_request(d->sync, d->full_pending ? SYNC_FULL : SYNC_INCREMENTAL);
	d->full_pending = 0;
}

static void
import_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	double now = ev_now(loop);

	(void)revents;
	/*
	 * The timer keeps import_interval; an import that costs more than
	 * read_share of a budget at that pace waits for its own interval.
	 */
	if (d->import_last > 0 &&
	    now - d->import_last + 0.5 < (double)sync_import_every(d->sync)) {
		log_debug("import not due yet (read_share): next in %.0f s",
		    d->import_last + sync_import_every(d->sync) - now);
		return;
	}
	d->import_last = now;
	sync_request(d->sync, SYNC_IMPORT);
}

static void
full_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	sync_request(d->sync, SYNC_FULL);
}

/* Timer repeats follow the configuration; a reload restarts them. */
static void
timers_set(struct daemon *d)
{
	d->poll.repeat = d->cfg->sync.interval;
	d->import.repeat = d->cfg->sync.import_interval;
	d->full.repeat = d->cfg->sync.full_sync_interval;
	ev_timer_again(d->loop, &d->poll);
	ev_timer_again(d->loop, &d->import);
	ev_timer_again(d->loop, &d->full);
}

/* apply_reload: swap in the pending configuration between cycles. */
static void
apply_reload(struct daemon *d)
{
	struct config *cfg = d->pending_cfg;
	char err[512];

	if (cfg == NULL)
		return;
	d->pending_cfg = NULL;
	if (sync_set_config(d->sync, cfg, err, sizeof(err)) < 0) {
		log_err("configuration reload failed: keeping the running "
		    "configuration file=%s error=%s", log_q(d->opt.config_path),
		    log_q(err));
		config_free(cfg);
		sd_notify(0, "READY=1");
		return;
	}
	config_free(d->cfg);
	d->cfg = cfg;
	log_init("ringsyncd", cfg->log.facility, log_level(d), log_flags(&d->opt));
	timers_set(d);
	warn_config(cfg);
	log_notice("configuration reloaded file=%s", log_q(d->opt.config_path));
	sd_notify(0, "READY=1");
}

static void
idle_cb(void *arg)
{
	apply_reload(arg);
}

/*
 * reload: parse the file into a new configuration and swap it in only if
 * it is valid; otherwise the old one stays and the reasons are logged.
 */
static void
reload(struct daemon *d)
{
	struct config_problems pr = { 0 };
	struct config *cfg;
	char keep[256];

	/* systemd shows "reloading" until apply_reload says READY=1. */
	sd_notify(0, "RELOADING=1");
	if (config_load(d->opt.config_path, 0, &cfg, &pr) < 0) {
		for (size_t i = 0; i < pr.n; i++)
			log_err("configuration problem detail=%s", log_q(pr.v[i]));
		log_err("configuration reload failed: keeping the running "
		    "configuration file=%s problems=%zu", log_q(d->opt.config_path),
		    pr.n);
		config_problems_free(&pr);
		sd_notify(0, "READY=1");
		return;
	}
	if (config_keep_restart_keys(d->cfg, cfg, keep, sizeof(keep)) > 0)
		log_warning("configuration change needs a restart: keeping the "
		    "running value keys=%s", log_q(keep));
	config_free(d->pending_cfg);
	d->pending_cfg = cfg;
	if (sync_busy(d->sync))
		log_notice("configuration reload waits for the running cycle file=%s",
		    log_q(d->opt.config_path));
	else
		apply_reload(d);
}

/* The control socket: ringsyncctl sync asks for a user (ctlsock.h). */
static void
sock_reply_cb(int ok, const char *text, void *arg)
{
	ctlsock_reply(arg, ok, text);
}

static void
sock_request(struct ctlsock_conn *c, const char *guid, void *arg)
{
	struct daemon *d = arg;
	struct sync_req *r = sync_user_request(d->sync, guid, sock_reply_cb, c);

	if (r == NULL) {
		ctlsock_reply(c, 0, "ringsyncd is stopping");
		return;
	}
	ctlsock_conn_set(c, r);
	sync_request(d->sync, SYNC_INCREMENTAL); /* may answer c at once */
	ev_timer_again(d->loop, &d->poll);
}

static void
sock_gone(void *cookie, void *arg)
{
	struct daemon *d = arg;

	sync_user_cancel(d->sync, cookie);
}

static void
sock_problem(const char *what, void *arg)
{
	(void)arg;
	log_warning("%s", what);
}

static const struct ctlsock_ops sock_ops = { sock_request, sock_gone,
	sock_problem };

/*
 * sock_listen: the control socket for ringsyncctl sync. Without it the
 * daemon still syncs: the command then says it cannot reach ringsyncd.
 */
static void
sock_listen(struct daemon *d)
{
	char err[512];

	d->ctl = ctlsock_listen(d->loop, d->cfg->sync.state_dir, &sock_ops, d, err,
	    sizeof(err));
	if (d->ctl == NULL)
		log_warning("no control socket: ringsyncctl sync cannot reach this "
		    "daemon error=%s", log_q(err));
}

static void
stopped_cb(void *arg)
{
	struct daemon *d = arg;

	ev_break(d->loop, EVBREAK_ALL);
}

/* stop: no new work; leave the loop once what is in flight is committed. */
static void
stop(struct daemon *d)
{
	sd_notify(0, "STOPPING=1");
	ev_timer_stop(d->loop, &d->poll);
	ev_timer_stop(d->loop, &d->import);
	ev_timer_stop(d->loop, &d->full);
	ev_signal_stop(d->loop, &d->sighup);
	ev_signal_stop(d->loop, &d->sigusr1);
	ctlsock_close(d->ctl, "ringsyncd is stopping");
	d->ctl = NULL;
	sync_stop(d->sync, stopped_cb, d);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	switch (w->signum) {
	case SIGHUP:
		reload(d);
		break;
	case SIGUSR1:
		log_info("cycle requested signal=USR1");
		sync_request(d->sync, SYNC_INCREMENTAL);
		ev_timer_again(loop, &d->poll);
		break;
	default:
		log_notice("stopping signal=%s", strsignal(w->signum));
		stop(d);
		break;
	}
}

static void
loop_setup(struct daemon *d)
{
	ev_timer *timers[] = { &d->poll, &d->import, &d->full };
	ev_signal *sigs[] = { &d->sighup, &d->sigterm, &d->sigint, &d->sigusr1 };
	int signums[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

	/* The first incremental cycle runs at once, then on its interval. */
	ev_timer_init(&d->poll, poll_cb, 0., d->cfg->sync.interval);
	/* The first import follows the first scan (requests run in order). */
	ev_timer_init(&d->import, import_cb, 0., d->cfg->sync.import_interval);
	ev_timer_init(&d->full, full_cb, d->cfg->sync.full_sync_interval,
	    d->cfg->sync.full_sync_interval);
	for (size_t i = 0; i < 3; i++) {
		timers[i]->data = d;
		ev_timer_start(d->loop, timers[i]);
	}
	for (size_t i = 0; i < 4; i++) {
		ev_signal_init(sigs[i], signal_cb, signums[i]);
		sigs[i]->data = d;
		ev_signal_start(d->loop, sigs[i]);
	}
}

static void
open_store(struct daemon *d)
{
	char err[512];

	if (store_open(d->cfg->sync.state_dir, 0, &d->store, err, sizeof(err)) < 0)
		fatal(EXIT_CONFIG, "cannot open the state store state_dir=%s "
		    "error=%s", log_q(d->cfg->sync.state_dir), log_q(err));
}

static void
once_cb(enum sync_status st, void *arg)
{
	struct daemon *d = arg;

	d->status = (int)st;
	ev_break(d->loop, EVBREAK_ALL);
}

static void
new_sync(struct daemon *d)
{
	char err[512];

	d->sync = sync_new(d->loop, d->cfg, d->store, d->opt.dry_run ||
	    d->cfg->sync.dry_run, err, sizeof(err));
	if (d->sync == NULL)
		fatal(EXIT_CONFIG, "cannot set up the sync error=%s", log_q(err));
	sync_set_idle_cb(d->sync, idle_cb, d);
}

int
main(int argc, char **argv)
{
	struct daemon d = { 0 };
	int rc = 0;

	util_json_init();
	parse_args(argc, argv, &d.opt);
	/* A peer gone mid-write (a DC stopped during a scan: libldap writes to
	 * the dead TLS socket) must be an EPIPE error, not SIGPIPE's death. */
	signal(SIGPIPE, SIG_IGN);
	/* The name ringsyncctl status looks for in /proc/PID/comm, also when
	 * started under another name or through a wrapper (valgrind). */
	prctl(PR_SET_NAME, "ringsyncd");
	log_init("ringsyncd", LOG_DAEMON, LOG_INFO, LOG_F_STDERR);
	if (d.opt.test)
		return test_config(&d.opt);
	d.cfg = load_or_exit(d.opt.config_path);
	log_init("ringsyncd", d.cfg->log.facility, log_level(&d), log_flags(&d.opt));
	if (!d.opt.foreground && !d.opt.once && daemon(0, 0) < 0)
		fatal(1, "cannot become a daemon error=%s", log_q(strerror(errno)));
	open_store(&d);
	warn_config(d.cfg);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (d.loop == NULL)
		fatal(1, "cannot initialise the event loop");
	new_sync(&d);
	log_notice("starting version=%s config=%s state_dir=%s dry_run=%s",
	    RINGSYNC_VERSION, log_q(d.opt.config_path),
	    log_q(d.cfg->sync.state_dir),
	    d.opt.dry_run || d.cfg->sync.dry_run ? "yes" : "no");
	if (d.opt.once) {
		sync_once(d.sync, d.opt.full_resync, once_cb, &d);
		ev_run(d.loop, 0);
		rc = d.status;
	} else {
		d.full_pending = d.opt.full_resync;
		loop_setup(&d);
		sock_listen(&d);
		sync_notify_start(d.sync);
		sync_feed_start(d.sync);
		sync_budget_start(d.sync);
		sync_link_first_start(d.sync);
		/* Type=notify: configuration loaded, store open, loop next. */
		sd_notify(0, "READY=1");
		ev_run(d.loop, 0);
	}
	ctlsock_close(d.ctl, "ringsyncd is stopping");
	sync_free(d.sync);
	ev_loop_destroy(d.loop);
	config_free(d.pending_cfg);
	store_close(d.store);
	log_notice("stopped status=%d", rc);
	config_free(d.cfg);
	log_secret_clear();
	return rc;
}

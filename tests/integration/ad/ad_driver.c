/*
 * ad_driver: common/ad on a real libev loop against a real DC, for the
 * integration tests (tests/integration/test_ad.py). Prints one JSON object
 * per line; stores the watermark in the configured state directory the way
 * the daemon's scanner does (only after a complete scan).
 *
 *   ad_driver -c CONF scan [--full] [--pause-after N --pause-file F]
 *   ad_driver -c CONF writeback GUID attr=value ...
 *   ad_driver -c CONF notify --changes N --timeout S
 *   ad_driver -c CONF watermark
 *
 * Exit: 0 success, 3 AD unreachable or the operation failed, 2 usage.
 */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ad.h"
#include "config.h"
#include "store.h"
#include "util.h"

struct drv {
	struct ev_loop *loop;
	struct config *cfg;
	struct ad *ad;
	struct store *store;
	struct ad_scan *scan;
	int pause_after, pages, entries, ok, changes_wanted, changes;
	const char *pause_file;
	ev_timer poll;
	int rc;
};

static void
emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void
entry_cb(void *arg, const struct ad_entry *e)
{
	struct drv *d = arg;
	json_t *attrs = json_object();

	for (size_t i = 0; i < e->nattrs; i++)
		json_object_set_new(attrs, e->attrs[i].attr,
		    json_string(e->attrs[i].value));
	emit(json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:o, s:s?, s:s?}",
	    "event", "entry", "guid", e->guid, "dn", e->dn, "usn",
	    (json_int_t)e->usn, "disabled", e->disabled, "deleted", e->deleted,
	    "attrs", attrs, "problem_attr", e->problem_attr, "problem", e->problem));
	d->entries++;
}

static void
skipped_cb(void *arg, const char *dn, const char *why)
{
	(void)arg;
	emit(json_pack("{s:s, s:s, s:s}", "event", "skipped", "dn", dn, "why", why));
}

static void
poll_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct drv *d = w->data;
	char *go = xasprintf("%s.go", d->pause_file);

	(void)revents;
	if (access(go, F_OK) == 0) {
		ev_timer_stop(loop, w);
		ad_scan_resume(d->scan);
	}
	free(go);
}

static int
page_cb(void *arg)
{
	struct drv *d = arg;
	FILE *f;

	d->pages++;
	if (d->pause_file == NULL || d->pages != d->pause_after)
		return 0;
	f = fopen(d->pause_file, "w");
	if (f != NULL)
		fclose(f);
	emit(json_pack("{s:s, s:i, s:i}", "event", "paused", "pages", d->pages,
	    "entries", d->entries));
	ev_timer_init(&d->poll, poll_resume_cb, 0.05, 0.05);
	d->poll.data = d;
	ev_timer_start(d->loop, &d->poll);
	return 1;
}

static void
store_watermark(struct drv *d)
{
	const struct ad_dc_info *dc = ad_dc(d->ad);
	struct store_watermark w = { dc->dns_host_name, dc->invocation_id,
		dc->highest_usn, 0 };
	struct store_txn *txn;
	char err[512];

	if (store_begin(d->store, 0, &txn, err, sizeof(err)) < 0 ||
	    store_watermark_put(txn, &w, err, sizeof(err)) < 0 ||
	    store_commit(txn, err, sizeof(err)) < 0) {
		fprintf(stderr, "ad_driver: %s\n", err);
		d->rc = 3;
	}
}

static void
done_cb(void *arg, int ok, const char *err)
{
	struct drv *d = arg;
	struct rusage ru;

	d->scan = NULL;
	getrusage(RUSAGE_SELF, &ru);
	if (ok)
		store_watermark(d);
	else
		d->rc = 3;
	emit(json_pack("{s:s, s:b, s:s?, s:i, s:i, s:I}", "event", "done", "ok", ok,
	    "error", err, "entries", d->entries, "pages", d->pages, "maxrss_kb",
	    (json_int_t)ru.ru_maxrss));
	ev_break(d->loop, EVBREAK_ALL);
}

static const struct ad_scan_ops scan_ops = { entry_cb, skipped_cb, page_cb,
	done_cb };

static int
get_watermark(struct drv *d, struct store_watermark *w)
{
	struct store_txn *txn;
	char err[512];
	int rc;

	if (store_begin(d->store, 1, &txn, err, sizeof(err)) < 0)
		return -1;
	rc = store_watermark_get(txn, w, err, sizeof(err));
	store_abort(txn);
	return rc;
}

static int
cmd_scan(struct drv *d, int full)
{
	const char *attrs[64];
	struct ad_scan_req req = { .attrs = attrs };
	struct store_watermark w;
	const struct ad_dc_info *dc = ad_dc(d->ad);
	char err[1024];
	int have;

	for (size_t i = 0; i < d->cfg->push.n && req.nattrs < 32; i++)
		attrs[req.nattrs++] = d->cfg->push.v[i].value;
	for (size_t i = 0; i < d->cfg->writeback.n && req.nattrs < 64; i++)
		attrs[req.nattrs++] = d->cfg->writeback.v[i].key;
	req.required_attr = config_map_get(&d->cfg->push, "email");
	have = get_watermark(d, &w) == 0;
	ad_plan_scan(have ? &w : NULL, dc, full, &req.plan);
	emit(json_pack("{s:s, s:b, s:s, s:I, s:I, s:s, s:s, s:s, s:i}", "event",
	    "plan", "full", req.plan.full, "reason",
	    ad_scan_reason_name(req.plan.reason), "lower", (json_int_t)req.plan.lower,
	    "upper", (json_int_t)req.plan.upper, "dc", dc->dns_host_name, "uri",
	    dc->uri, "invocation_id", dc->invocation_id, "deleted_visible",
	    ad_deleted_visible(d->ad)));
	if (have)
		store_watermark_clear(&w);
	d->scan = ad_scan_start(d->ad, &req, &scan_ops, d, err, sizeof(err));
	if (d->scan == NULL) {
		emit(json_pack("{s:s, s:b, s:s}", "event", "done", "ok", 0, "error", err));
		return 3;
	}
	ev_run(d->loop, 0);
	return d->rc;
}

static void
wb_cb(void *arg, const struct ad_wb_result *r)
{
	struct drv *d = arg;

	emit(json_pack("{s:s, s:b, s:I, s:s?, s:s?, s:b, s:i}", "event",
	    "writeback", "ok", r->ok, "changed", (json_int_t)r->changed, "attr",
	    r->attr, "error", r->err, "insufficient", r->insufficient_access,
	    "read", (int)r->read));
	d->rc = r->ok ? 0 : 3;
	ev_break(d->loop, EVBREAK_ALL);
}

static int
cmd_writeback(struct drv *d, int argc, char **argv)
{
	struct ad_value want[32];
	struct ad_wb_req req = { argv[0], want, 0, NULL, NULL };
	char err[512];
	int n = 0;

	for (int i = 1; i < argc && n < 32; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			return 2;
		*eq = '\0';
		want[n].attr = argv[i];
		want[n++].value = eq + 1;
	}
	req.n = (size_t)n;
	if (ad_writeback_start(d->ad, &req, wb_cb, d, err, sizeof(err)) == NULL) {
		fprintf(stderr, "ad_driver: %s\n", err);
		return 3;
	}
	ev_run(d->loop, 0);
	return d->rc;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
notify_cb(void *arg, enum ad_notify_event ev, const char *detail)
{
	static const char *const names[] = { "change", "active", "refused", "lost" };
	struct drv *d = arg;

	emit(json_pack("{s:s, s:s, s:f, s:s?}", "event", "notify", "kind",
	    names[ev], "t", now(), "detail", detail));
	if (ev == AD_NOTIFY_CHANGE && ++d->changes >= d->changes_wanted)
		ev_break(d->loop, EVBREAK_ALL);
	if (ev == AD_NOTIFY_REFUSED) {
		d->rc = 3;
		ev_break(d->loop, EVBREAK_ALL);
	}
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static int
cmd_notify(struct drv *d, int changes, double timeout)
{
	ev_timer t;
	char err[512];

	d->changes_wanted = changes;
	if (ad_notify_start(d->ad, 0.2, notify_cb, d, err, sizeof(err)) < 0) {
		fprintf(stderr, "ad_driver: %s\n", err);
		return 3;
	}
	ev_timer_init(&t, timeout_cb, timeout, 0.);
	ev_timer_start(d->loop, &t);
	ev_run(d->loop, 0);
	ev_timer_stop(d->loop, &t);
	return d->changes >= changes ? d->rc : 3;
}

static int
cmd_watermark(struct drv *d)
{
	struct store_watermark w;

	if (get_watermark(d, &w) != 0) {
		emit(json_pack("{s:s, s:n}", "event", "watermark", "usn"));
		return 0;
	}
	emit(json_pack("{s:s, s:I, s:s, s:s}", "event", "watermark", "usn",
	    (json_int_t)w.usn, "dc", w.dns_host_name, "invocation_id",
	    w.invocation_id));
	store_watermark_clear(&w);
	return 0;
}

static int
run(struct drv *d, int argc, char **argv)
{
	const char *cmd = argv[0];
	char err[2048];

	if (strcmp(cmd, "watermark") == 0)
		return cmd_watermark(d);
	if (ad_connect(d->ad, err, sizeof(err)) < 0) {
		emit(json_pack("{s:s, s:s}", "event", "connect_failed", "error", err));
		return 3;
	}
	if (strcmp(cmd, "scan") == 0) {
		int full = 0;

		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--full") == 0)
				full = 1;
			else if (strcmp(argv[i], "--pause-after") == 0 && i + 1 < argc)
				d->pause_after = atoi(argv[++i]);
			else if (strcmp(argv[i], "--pause-file") == 0 && i + 1 < argc)
				d->pause_file = argv[++i];
			else
				return 2;
		}
		return cmd_scan(d, full);
	}
	if (strcmp(cmd, "writeback") == 0 && argc >= 3)
		return cmd_writeback(d, argc - 1, argv + 1);
	if (strcmp(cmd, "notify") == 0 && argc == 5)
		return cmd_notify(d, atoi(argv[2]), atof(argv[4]));
	return 2;
}

int
main(int argc, char **argv)
{
	struct config_problems pr = { 0 };
	struct drv d = { 0 };
	char err[512];
	int rc;

	if (argc < 4 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: ad_driver -c CONF scan|writeback|notify|watermark ...\n");
		return 2;
	}
	if (config_load(argv[2], 0, &d.cfg, &pr) < 0) {
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		config_problems_free(&pr);
		return 2;
	}
	if (store_open(d.cfg->sync.state_dir, 0, &d.store, err, sizeof(err)) < 0) {
		fprintf(stderr, "ad_driver: %s\n", err);
		config_free(d.cfg);
		return 2;
	}
	d.loop = ev_default_loop(0);
	d.ad = ad_new(d.loop, d.cfg);
	rc = run(&d, argc - 3, argv + 3);
	if (d.scan != NULL)
		ad_scan_cancel(d.scan);
	ad_free(d.ad);
	store_close(d.store);
	config_free(d.cfg);
	ev_loop_destroy(d.loop);
	return rc;
}

/*
 * ringsyncctl: the administrator's view of a running (or stopped)
 * ringsyncd. It opens the state store read-only, so it never blocks the
 * daemon (LMDB readers take no lock the writer waits for).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "version.h"

#define EXIT_CONFIG 2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ringsyncctl [-c FILE] command\n"
	    "  status    watermark, DC and the counts of the state store\n"
	    "  -c FILE   configuration (default %s)\n", RINGSYNC_DEFAULT_CONFIG);
}

static void
print_time(const char *label, long long t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		printf("%-16s -\n", label);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-16s %s\n", label, buf);
}

static int
cmd_status(const struct config *cfg)
{
	static const struct { enum store_db db; const char *label; } counts[] = {
		{ STORE_USERS, "users" }, { STORE_OUTBOX, "outbox" },
		{ STORE_WRITEBACK, "writeback queue" },
	};
	struct store *st;
	struct store_txn *txn;
	struct store_watermark w;
	char err[512];
	size_t n;
	int rc;

	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return EXIT_CONFIG;
	}
	if (store_begin(st, 1, &txn, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return EXIT_CONFIG;
	}
	printf("%-16s %s\n", "state_dir", cfg->sync.state_dir);
	rc = store_watermark_get(txn, &w, err, sizeof(err));
	if (rc == 0) {
		printf("%-16s %s\n%-16s %s\n%-16s %llu\n", "dc", w.dns_host_name,
		    "invocation_id", w.invocation_id, "watermark", w.usn);
		print_time("watermark_time", w.time);
		store_watermark_clear(&w);
	} else {
		printf("%-16s %s\n", "watermark", rc < 0 ? err : "none (no scan yet)");
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (store_count(txn, counts[i].db, &n) == 0)
			printf("%-16s %zu\n", counts[i].label, n);
	store_abort(txn);
	store_close(st);
	return 0;
}

int
main(int argc, char **argv)
{
	struct config_problems pr = { 0 };
	const char *path = RINGSYNC_DEFAULT_CONFIG;
	struct config *cfg;
	int c, rc;

	while ((c = getopt(argc, argv, "c:hV")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ringsyncctl %s\n", RINGSYNC_VERSION); return 0;
		default: usage(stderr); return EXIT_CONFIG;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	log_init("ringsyncctl", LOG_USER, LOG_WARNING, LOG_F_STDERR);
	if (config_load(path, 0, &cfg, &pr) < 0) {
		for (size_t i = 0; i < pr.n; i++)
			fprintf(stderr, "%s\n", pr.v[i]);
		config_problems_free(&pr);
		return EXIT_CONFIG;
	}
	if (strcmp(argv[optind], "status") == 0 && optind + 1 == argc) {
		rc = cmd_status(cfg);
	} else {
		fprintf(stderr, "ringsyncctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		rc = EXIT_CONFIG;
	}
	config_free(cfg);
	return rc;
}

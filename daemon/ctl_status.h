/*
 * ctl_status: what ringsyncctl status's two files share: ctl_status.c
 * reads the store and judges it (the check's findings), ctl_status_json.c
 * prints the same facts as JSON (status --json). Not an interface.
 */
#ifndef RINGSYNC_CTL_STATUS_H
#define RINGSYNC_CTL_STATUS_H

#include <jansson.h>

#include "config.h"
#include "record.h"
#include "store.h"
#include "sync.h"

#define STATUS_OK 0
#define STATUS_WARNING 1
#define STATUS_CRITICAL 2
#define TOKEN_WARN_DAYS 7

extern const char *const ctl_status_names[]; /* by level */

struct status_opts {
	unsigned int warn_age, crit_age;      /* s */
	unsigned int warn_failed, crit_failed;
	int json;                             /* --json */
};

/* The check's verdict: the worst level and its findings. */
struct status {
	int level;
	char why[1024];                       /* the worst level's findings */
	size_t o;
	json_t *findings;                     /* owned, with --json: every
	                                       * finding, {level, message} */
};

/* status_state: what the check reads from the store; the caller owns it. */
struct status_state {
	struct sync_counts n;
	int wrc;                          /* store_watermark_get's result */
	struct store_watermark w;         /* owned when wrc is 0 */
	struct store_tokens tok;          /* owned; zero when unreadable */
	struct record_cycle cycle[3];     /* by enum record_cycle_key */
	const struct record_cycle *scan, *import, *full; /* into cycle, or NULL:
	                                   * none recorded (or unreadable) */
	char err[512];                    /* the watermark's error (wrc < 0) */
	long long scan_age, import_age;   /* s since a success; -1 none */
	struct record_scope scope;        /* owned when have_scope */
	int have_scope;
	struct record_progress prog;      /* long work running now, when */
	int have_prog;                    /* updated recently (ringsyncd runs) */
	struct record_budget budget;      /* the rate budgets used, when */
	int have_budget;                  /* ringsyncd runs */
};

/*
 * ctl_daemon_pid: the pid ringsyncd wrote into state_dir/ringsyncd.lock
 * when that process still runs as ringsyncd, else 0.
 */
long ctl_daemon_pid(const char *dir);

/* ctl_status_json: the verdict and the state as one JSON object, to stdout. */
void ctl_status_json(const struct config *cfg, const struct status_opts *so,
    const struct status *st, const struct status_state *ss, long long now);
/* ctl_status_json_fail: the check could not read the state: CRITICAL. */
void ctl_status_json_fail(const char *what, const char *err);

#endif

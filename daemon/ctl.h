/*
 * ctl: what ringsyncctl's files share. ringsyncctl.c holds main, the
 * argument parsing, the dispatch and the helpers below; each command
 * group has its file: ctl_status.c (status), ctl_auth.c (auth login and
 * auth status), ctl_users.c (users, release-deactivations), ctl_user.c
 * (finding one user, history), ctl_explain.c (explain), ctl_sync.c
 * (sync), ctl_schema.c (schema). A command returns the program's exit status.
 */
#ifndef RINGSYNC_CTL_H
#define RINGSYNC_CTL_H

#include <stdio.h>

#include "config.h"

#define CTL_EXIT_CONFIG 2       /* configuration or state store problem */
#define CTL_EXIT_UNREACHABLE 3  /* AD or the phone system unreachable */

struct store;

/* ctl_usage: the command summary, to f. */
void ctl_usage(FILE *f);

/* ctl_fmt_time: Unix time t as UTC (2024-01-31T12:00:00Z) in buf; buf. */
const char *ctl_fmt_time(long long t, char *buf, size_t len);

/* ctl_fmt_left: a duration of secs for people ("3 d 4 h", "90 s"); buf. */
const char *ctl_fmt_left(long long secs, char *buf, size_t len);

/*
 * ctl_token_line: print one token's state (absent, expiry unknown, valid
 * until, expired) after label; 1 when it is valid at now, else 0.
 */
int ctl_token_line(const char *label, const char *token, long long expires,
    long long now);

/*
 * ctl_store_open_rw: the daemon's store for a short write: taken over when
 * ringsyncd is not running, else shared with it (LMDB serialises the
 * writers; the daemon reads what changed at its next use). 0, or -1 with
 * err.
 */
int ctl_store_open_rw(const struct config *cfg, struct store **st, char *err,
    size_t errlen);

/*
 * ctl_status: ringsyncctl status [--warn-age D] [--crit-age D]
 * [--warn-failed N] [--crit-failed N] (argv: the arguments after the
 * command): the report and the monitoring check; 0 OK, 1 WARNING,
 * 2 CRITICAL (also for arguments it does not take, after a message).
 */
int ctl_status(const struct config *cfg, int argc, char **argv);

/*
 * ctl_auth: ringsyncctl auth login [--timeout D] | status (argv: the
 * arguments after "auth"). status: 0 valid, 1 renewable by ringsyncd,
 * 3 run auth login; login: 0 logged in, 3 refused or timed out; 2 for a
 * configuration or store problem or arguments it does not take.
 */
int ctl_auth(const struct config *cfg, int argc, char **argv);

/* ctl_users: ringsyncctl users [--failed], read-only; 0 or 2. */
int ctl_users(const struct config *cfg, int failed_only);

/*
 * ctl_release: ringsyncctl release-deactivations: the held batch goes to
 * the pusher (a short shared write); 0 or 2.
 */
int ctl_release(const struct config *cfg);

/*
 * ctl_user_guid: the objectGUID of the user name names (an sAMAccountName,
 * a mail address, a DN or an objectGUID): from the store when it knows the
 * name, else through one AD search. 1 found, 0 no such user, -2 the name
 * fits several AD users, -1 AD cannot be asked; err says which.
 */
int ctl_user_guid(const struct config *cfg, struct store *st, const char *name,
    char guid[37], char *err, size_t errlen);

/*
 * ctl_store_guid: the objectGUID (owned) the store knows name by (an
 * objectGUID of a user or of a history, a mail address, a DN), or NULL.
 */
char *ctl_store_guid(struct store *st, const char *name);

/*
 * ctl_explain: ringsyncctl explain USER, read-only: the store and one AD
 * search; 0, 1 no such user, 2, 3 AD unreachable (what the store knows is
 * printed).
 */
int ctl_explain(const struct config *cfg, int argc, char **argv);

/*
 * ctl_sync: ringsyncctl sync [--timeout DURATION] USER: the running daemon
 * processes USER now (its control socket), then explain; explain's status,
 * 1 when the daemon did not answer in time, 2, 3 no daemon running or it
 * could not process the user.
 */
int ctl_sync(const struct config *cfg, int argc, char **argv);

/* ctl_history: ringsyncctl history USER, read-only; 0, 1 no such user, 2, 3. */
int ctl_history(const struct config *cfg, int argc, char **argv);

/* ctl_schema: ringsyncctl schema; 0, 2 or 3. */
int ctl_schema(const struct config *cfg);

#endif

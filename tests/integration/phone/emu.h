/*
 * emu: the phone-API emulator (tests/emulator/ringemu.py) for the C
 * integration tests of common/phone: start it on 127.0.0.1 (HTTP, or
 * HTTPS with a CA and server certificate made by the openssl CLI in a
 * temporary directory), talk to its control interface, and stop it by
 * PID. The child gets SIGTERM if the test process dies first
 * (PR_SET_PDEATHSIG), so a crashed test leaves nothing running.
 *
 * Every wait polls a condition with a deadline; nothing sleeps for a
 * fixed time. The secrets are fake, and never printed.
 */
#ifndef RINGSYNC_TEST_EMU_H
#define RINGSYNC_TEST_EMU_H

#include <ev.h>
#include <jansson.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"

#define EMU_CLIENT_ID "ringsync-test"
#define EMU_CLIENT_SECRET "fake-client-secret-8c1f2e90"
#define EMU_JWT "fake.jwt-credential.5d2a9b77c3"

struct emu {
	pid_t pid;
	int port;
	int https;
	char *dir;            /* private temporary directory (removed at exit) */
	char *url;            /* owned: scheme://127.0.0.1:port */
	char *secret_file;    /* owned */
	char *jwt_file;       /* owned */
	char *ca_file;        /* owned, or NULL for HTTP */
	char *stderr_file;    /* owned */
};

/*
 * emu_start: start the emulator with extra command-line args
 * (NULL-terminated, may be NULL) and wait for its port. Returns 0, or -1
 * with a message on stderr.
 */
int emu_start(struct emu *e, int https, const char *const *args);
/* emu_stop: SIGTERM by PID, then SIGKILL after 10 s; frees e's strings. */
void emu_stop(struct emu *e);

/* emu_call: a control call (body may be NULL); the JSON answer or NULL. */
json_t *emu_call(struct emu *e, const char *method, const char *path,
    const char *body);
/* emu_callf: emu_call with a printf-formatted body; 0 when it answered ok. */
int emu_post(struct emu *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* emu_log: the request log entries with seq > since (new reference). */
json_t *emu_log(struct emu *e, long long since);
long long emu_last_seq(struct emu *e);
/* emu_seed: add a seed document (stolen reference); 0 on success. */
int emu_seed(struct emu *e, json_t *seed);

/*
 * emu_telephony: a [telephony] section for this emulator (strings
 * borrowed from e), certificate verification on, the given timeout.
 */
void emu_telephony(const struct emu *e, struct config_telephony *t,
    unsigned int timeout);

/* emu_store: a new state store in a private temporary directory. */
struct store *emu_store(void);

/*
 * loop_until: run the loop until *flag is non-zero; 0, or -1 after
 * timeout seconds.
 */
int loop_until(struct ev_loop *loop, const int *flag, double timeout);

/* count_log: entries of log (an array) matching method, path prefix, status
 * (0: any) and group (NULL: any). */
int count_log(const json_t *log, const char *method, const char *prefix,
    int status, const char *group);

#endif

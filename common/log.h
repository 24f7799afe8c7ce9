/*
 * log: the daemon's one way to say something.
 *
 * Lines go to syslog (ident "ringsyncd" by default, the configured facility)
 * and, with -f, to stderr as well. A line is a lower-case sentence followed by
 * key=value pairs (docs/behaviour.md). Values that come from outside (AD, the
 * phone API, files) go through log_q(), which quotes and escapes them.
 *
 * Every line passes through log_redact() before it leaves the process:
 * registered secrets (log_secret_add) and values of secret-bearing fields
 * (passwords, tokens, Authorization headers, JWT assertions) become
 * "[redacted]". The module owns its secret registry and its quoting buffers.
 */
#ifndef RINGSYNC_LOG_H
#define RINGSYNC_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <syslog.h>

#define LOG_LINE_MAX 4096

/* log_init flags */
#define LOG_F_STDERR 0x1 /* also write every line to stderr (-f) */

/*
 * log_init: open syslog with ident, facility (LOG_DAEMON, ...) and level
 * (LOG_ERR .. LOG_DEBUG: lines above it are dropped before formatting).
 * May be called again (SIGHUP) to change facility, level or flags.
 */
void log_init(const char *ident, int facility, int level, int flags);
void log_set_level(int level);
int log_get_level(void);
/*
 * log_set_stream: also copy every emitted line to f (NULL: stop). Used by
 * the tests to capture a run's output; not owned by the module.
 */
void log_set_stream(FILE *f);

/*
 * log_status: one line kept at the bottom of a terminal's stderr (the
 * caller checks that stderr is one), redrawn under every line logged
 * there; NULL or "": cleared.
 */
void log_status(const char *line);

void log_emit(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vemit(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_alert(...)   log_emit(LOG_ALERT, __VA_ARGS__)
#define log_crit(...)    log_emit(LOG_CRIT, __VA_ARGS__)
#define log_err(...)     log_emit(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_emit(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_DEBUG, __VA_ARGS__)

/* fatal: log at LOG_CRIT and exit with status code. Start-up only. */
void fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/*
 * log_q: value made safe for a key=value pair. Returned unchanged when it
 * is non-empty and made only of characters that cannot confuse a parser;
 * otherwise in double quotes with \" \\ \n \t \r and \xNN escapes (invalid
 * UTF-8 and control bytes), cut at 256 bytes with "...". NULL gives "-".
 * The result lives in one of 16 rotating static buffers: valid until 16
 * more calls, enough for one log line.
 */
const char *log_q(const char *value);
/* log_quote: as log_q into a caller's buffer; returns buf. */
const char *log_quote(char *buf, size_t len, const char *value);

/*
 * log_secret_add: remember a secret (copied) so that it is redacted from
 * every later line. Strings shorter than 4 bytes are ignored. The registry
 * keeps the 64 newest secrets (tokens rotate), and those of
 * log_secret_keep for good.
 */
void log_secret_add(const char *secret);
/*
 * log_secret_keep: the same for a secret that lives as long as the process
 * (the configuration's files: the bind password, the client secret, the
 * JWT): never pushed out by rotating tokens.
 */
void log_secret_keep(const char *secret);
void log_secret_clear(void);

/*
 * log_redact: copy in to out (size outlen, always NUL-terminated) with
 * registered secrets and secret-bearing values replaced by "[redacted]".
 * Returns the length written.
 */
size_t log_redact(char *out, size_t outlen, const char *in);

/* Names used by the configuration: -1 when unknown. */
int log_level_from_name(const char *name);
const char *log_level_name(int level);
int log_facility_from_name(const char *name);

#endif

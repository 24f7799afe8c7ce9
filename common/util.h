/*
 * util: allocation that cannot fail, and small string helpers.
 *
 * The x* allocators abort the process when memory runs out (house style:
 * call sites carry no NULL checks); util_json_init makes jansson use them
 * too. Nothing here logs.
 */
#ifndef RINGSYNC_UTIL_H
#define RINGSYNC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray: as xrealloc for nmemb * size, aborting on overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf: a newly allocated formatted string, owned by the caller. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * util_json_init: make jansson allocate with xmalloc (and release with
 * free), so running out of memory inside jansson aborts like everywhere
 * else. Call once at the start of a program, before any jansson value
 * exists: a value allocated before the switch must not be freed after it.
 */
void util_json_init(void);

/* util_str_trim: strip leading and trailing white space in place; returns s + k. */
char *util_str_trim(char *s);
/* util_str_eq_nocase: ASCII case-insensitive equality; NULLs compare unequal. */
int util_str_eq_nocase(const char *a, const char *b);
/*
 * util_host_port_valid: s is HOST:PORT, HOST a DNS name or an IPv4
 * address, or an IPv6 address in brackets, PORT 1 to 65535. Pure.
 */
int util_host_port_valid(const char *s);
/* util_str_set: free *dst, then *dst = xstrdup(src) (NULL stays NULL). */
void util_str_set(char **dst, const char *src);

/*
 * util_retry_delay: seconds before retry number attempt (0-based) after a
 * connection failure or a 5xx: 2, 3, 5, 8, 13, 21, 30, then 30 (the
 * platform's requested sequence; docs/behaviour.md, delivery).
 */
unsigned int util_retry_delay(unsigned int attempt);

/*
 * util_jitter: delay lengthened by 0 to 10 %, as the random value r says
 * (any 32 bits), so that clients that failed together do not all retry at
 * the same moment. Pure.
 */
double util_jitter(double delay, uint32_t r);
/*
 * util_retry_wait: seconds before retry number attempt (0-based):
 * util_retry_delay lengthened by util_jitter(r), or the server's
 * Retry-After when that is longer (retry_after < 0: none given). Pure.
 */
double util_retry_wait(unsigned int attempt, int retry_after, uint32_t r);
/*
 * util_random32: 32 random bits from libcrypto's RAND_bytes; 0 when no
 * randomness is available (the jitter is then none).
 */
uint32_t util_random32(void);

#define UTIL_SHA256_HEX 64
/* util_sha256_hex: the SHA-256 of data as lower-case hex (libcrypto). */
void util_sha256_hex(const void *data, size_t len,
    char out[UTIL_SHA256_HEX + 1]);

/*
 * util_errbuf_set: format a message into a caller's error buffer (Redis style);
 * a NULL buf or zero len is allowed and ignored. Always returns -1 so a
 * caller can write `return util_errbuf_set(err, len, "...")`.
 */
int util_errbuf_set(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

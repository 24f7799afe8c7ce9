#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void
oom(void)
{
	static const char msg[] = "ringsync: out of memory\n";

	/* write(2), not stdio: stdio may itself need memory. */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		abort();
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > (size_t)-1 / size)
		oom();
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
util_json_init(void)
{
	json_set_alloc_funcs(xmalloc, free);
}

char *
util_str_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int
util_str_eq_nocase(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

int
util_host_port_valid(const char *s)
{
	const char *colon = s ? strrchr(s, ':') : NULL, *p;
	unsigned long port = 0;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return 0;
	for (p = colon + 1; *p; p++) {
		if (!isdigit((unsigned char)*p) || (port = port * 10 +
		    (unsigned long)(*p - '0')) > 65535)
			return 0;
	}
	if (port == 0)
		return 0;
	if (*s == '[') {
		char a[INET6_ADDRSTRLEN + 1];
		struct in6_addr in6;
		size_t n = (size_t)(colon - s);

		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(a))
			return 0;
		memcpy(a, s + 1, n - 2);
		a[n - 2] = '\0';
		return inet_pton(AF_INET6, a, &in6) == 1;
	}
	if (colon - s > 253)
		return 0;
	for (p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return 0;
	return 1;
}

void
util_str_set(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

int
util_errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

double
util_jitter(double delay, uint32_t r)
{
	return delay + delay * (double)(r % 1001) / 10000.;
}

double
util_retry_wait(unsigned int attempt, int retry_after, uint32_t r)
{
	double wait = util_jitter((double)util_retry_delay(attempt), r);

	return retry_after > wait ? (double)retry_after : wait;
}

uint32_t
util_random32(void)
{
	unsigned char b[4];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

void
util_sha256_hex(const void *data, size_t len, char out[UTIL_SHA256_HEX + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
		abort(); /* SHA-256 fails only when memory runs out */
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[UTIL_SHA256_HEX] = '\0';
}

unsigned int
util_retry_delay(unsigned int attempt)
{
	static const unsigned int seq[] = { 2, 3, 5, 8, 13, 21, 30 };

	return attempt < sizeof(seq) / sizeof(seq[0]) ? seq[attempt] : 30;
}

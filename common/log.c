#include "log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define SECRET_MAX 64
#define SECRET_KEEP 16  /* the configuration's secrets */
#define QBUF_N 16
#define QBUF_LEN 300
#define QVALUE_MAX 256

static const char redacted[] = "[redacted]";

static struct {
	int level;
	int flags;
	FILE *stream;
	char *secrets[SECRET_MAX]; /* owned; ring, next slot in secret_next */
	char *kept[SECRET_KEEP];   /* owned: never pushed out (log_secret_keep) */
	size_t secret_next;
	char status[160];          /* the terminal's status line, or "" */
} lg = { LOG_INFO, LOG_F_STDERR, NULL, { NULL }, { NULL }, 0, "" };

static const struct {
	const char *name;
	int value;
} levels[] = {
	{ "emerg", LOG_EMERG }, { "alert", LOG_ALERT }, { "crit", LOG_CRIT },
	{ "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
}, facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "auth", LOG_AUTH },
	{ "authpriv", LOG_AUTHPRIV }, { "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
	{ "local7", LOG_LOCAL7 },
};

void
log_init(const char *ident, int facility, int level, int flags)
{
	closelog();
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
	lg.level = level;
	lg.flags = flags;
}

void
log_set_level(int level)
{
	lg.level = level;
}

int
log_get_level(void)
{
	return lg.level;
}

void
log_set_stream(FILE *f)
{
	lg.stream = f;
}

int
log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(name, levels[i].name) == 0)
			return levels[i].value;
	return -1;
}

const char *
log_level_name(int level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].value == level)
			return levels[i].name;
	return "unknown";
}

int
log_facility_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	return -1;
}

void
log_vemit(int prio, const char *fmt, va_list ap)
{
	char raw[LOG_LINE_MAX], line[LOG_LINE_MAX];

	if (prio > lg.level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_redact(line, sizeof(line), raw);
	syslog(prio, "%s", line);
	if (lg.flags & LOG_F_STDERR)
		fprintf(stderr, "%s%s: %s\n%s", lg.status[0] ? "\r\033[K" : "",
		    log_level_name(prio), line, lg.status);
	if (lg.stream != NULL) {
		fprintf(lg.stream, "%s: %s\n", log_level_name(prio), line);
		fflush(lg.stream);
	}
}

void
log_status(const char *line)
{
	if (line == NULL || *line == '\0') {
		if (lg.status[0])
			fputs("\r\033[K", stderr);
		lg.status[0] = '\0';
		return;
	}
	snprintf(lg.status, sizeof(lg.status), "%s", line);
	fprintf(stderr, "\r\033[K%s", lg.status);
	fflush(stderr);
}

void
log_emit(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(prio, fmt, ap);
	va_end(ap);
}

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(code);
}

/* Characters that never need quoting in a key=value value. */
static int
plain_char(unsigned char c)
{
	return isalnum(c) || strchr("._-@/:+,=%()[]{}*#~^!?&;<>|'$", c) != NULL;
}

/* utf8_len: length of a valid UTF-8 sequence at s, or 0 if invalid. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int
needs_quoting(const char *v)
{
	if (*v == '\0')
		return 1;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (!plain_char(*p))
			return 1;
	return 0;
}

/* Append one escaped unit of s to buf; returns bytes of s consumed. */
static size_t
quote_unit(char *buf, size_t *o, size_t len, const unsigned char *s)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[8];
	size_t n = 0, u = 1;

	switch (*s) {
	case '"': memcpy(tmp, "\\\"", 2); n = 2; break;
	case '\\': memcpy(tmp, "\\\\", 2); n = 2; break;
	case '\n': memcpy(tmp, "\\n", 2); n = 2; break;
	case '\t': memcpy(tmp, "\\t", 2); n = 2; break;
	case '\r': memcpy(tmp, "\\r", 2); n = 2; break;
	default:
		u = *s >= 0x80 ? utf8_len(s) : 1;
		if (u > 1) {
			memcpy(tmp, s, u);
			n = u;
		} else if (*s < 0x20 || *s == 0x7f || u == 0) {
			tmp[0] = '\\', tmp[1] = 'x';
			tmp[2] = hex[*s >> 4], tmp[3] = hex[*s & 15];
			n = 4, u = 1;
		} else {
			tmp[0] = (char)*s;
			n = 1;
		}
	}
	if (*o + n + 5 > len) /* room for ...", NUL */
		return 0;
	memcpy(buf + *o, tmp, n);
	*o += n;
	return u;
}

const char *
log_quote(char *buf, size_t len, const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t o = 0, used = 0, cap;

	if (value == NULL) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (!needs_quoting(value) && strlen(value) <= QVALUE_MAX) {
		snprintf(buf, len, "%s", value);
		return buf;
	}
	cap = len < QVALUE_MAX + 8 ? len : QVALUE_MAX + 8;
	if (cap < 6) { /* no room for "..." and the NUL: what fits of it */
		if (len > 0) {
			memcpy(buf, "\"...\"", len - 1);
			buf[len - 1] = '\0';
		}
		return buf;
	}
	buf[o++] = '"';
	while (s[used] != '\0') {
		size_t u = quote_unit(buf, &o, cap, s + used);

		if (u == 0) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		used += u;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *
log_q(const char *value)
{
	static char bufs[QBUF_N][QBUF_LEN];
	static unsigned int next;
	char *b = bufs[next++ % QBUF_N];

	return log_quote(b, QBUF_LEN, value);
}

void
log_secret_add(const char *secret)
{
	size_t slot;

	if (secret == NULL || strlen(secret) < 4)
		return;
	for (size_t i = 0; i < SECRET_MAX; i++)
		if (lg.secrets[i] && strcmp(lg.secrets[i], secret) == 0)
			return;
	slot = lg.secret_next++ % SECRET_MAX;
	free(lg.secrets[slot]);
	lg.secrets[slot] = xstrdup(secret);
}

void
log_secret_keep(const char *secret)
{
	if (secret == NULL || strlen(secret) < 4)
		return;
	for (size_t i = 0; i < SECRET_KEEP; i++) {
		if (lg.kept[i] != NULL && strcmp(lg.kept[i], secret) == 0)
			return;
		if (lg.kept[i] == NULL) {
			lg.kept[i] = xstrdup(secret);
			return;
		}
	}
	log_secret_add(secret); /* more than the configuration has: the ring */
}

void
log_secret_clear(void)
{
	for (size_t i = 0; i < SECRET_MAX; i++) {
		free(lg.secrets[i]);
		lg.secrets[i] = NULL;
	}
	for (size_t i = 0; i < SECRET_KEEP; i++) {
		free(lg.kept[i]);
		lg.kept[i] = NULL;
	}
	lg.secret_next = 0;
}

/*
 * Field names whose value is secret, in JSON, form, header or k=v shape.
 * HTTP authentication schemes are followed by their credential with only a
 * space between ("Bearer abc"): scheme = 1.
 */
static const struct {
	const char *name;
	int scheme;
} secret_keys[] = {
	{ "access_token", 0 }, { "refresh_token", 0 }, { "id_token", 0 },
	{ "assertion", 0 }, { "client_secret", 0 }, { "code_verifier", 0 },
	{ "password", 0 }, { "passwd", 0 }, { "authorization", 0 },
	{ "secret", 0 }, { "jwt", 0 }, { "bearer", 1 }, { "basic", 1 },
};

/* Length of a token value at p: up to a quote, space, &, comma or brace. */
static size_t
value_len(const char *p)
{
	size_t n = 0;

	while (p[n] && !strchr("\"' \t&,;}]\r\n", p[n]))
		n++;
	return n;
}

/*
 * match_secret_key: if a secret-bearing key starts at in[i], return the
 * offset of its value (after separators and a Bearer/Basic scheme word),
 * else 0.
 */
static size_t
match_secret_key(const char *in, size_t i)
{
	/* A key starts a word: not inside a path, file or longer name. */
	if (i > 0 && strchr(" \t\"'{,&?;([", in[i - 1]) == NULL)
		return 0;
	for (size_t k = 0; k < sizeof(secret_keys) / sizeof(secret_keys[0]); k++) {
		size_t kl = strlen(secret_keys[k].name), j = i + kl;

		if (strncasecmp(in + i, secret_keys[k].name, kl) != 0)
			continue;
		if (isalnum((unsigned char)in[j]) || in[j] == '_')
			continue;
		while (in[j] == '"' || in[j] == '\'' || in[j] == ' ')
			j++;
		if (in[j] == '=' || in[j] == ':')
			j++;
		else if (!secret_keys[k].scheme || j == i + kl)
			continue;
		while (in[j] == ' ' || in[j] == '"' || in[j] == '\'')
			j++;
		if (strncasecmp(in + j, "bearer ", 7) == 0)
			j += 7;
		else if (strncasecmp(in + j, "basic ", 6) == 0)
			j += 6;
		if (value_len(in + j) > 0)
			return j;
	}
	return 0;
}

/* registered_secret_len: length of a registered secret at in, or 0. */
static size_t
registered_secret_len(const char *in)
{
	for (size_t s = 0; s < SECRET_MAX + SECRET_KEEP; s++) {
		const char *sec = s < SECRET_MAX ? lg.secrets[s] :
		    lg.kept[s - SECRET_MAX];

		if (sec && sec[0] == in[0] && strncmp(in, sec, strlen(sec)) == 0)
			return strlen(sec);
	}
	return 0;
}

static void
out_append(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	if (*o + 1 >= outlen)
		return;
	if (n > outlen - 1 - *o)
		n = outlen - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
}

size_t
log_redact(char *out, size_t outlen, const char *in)
{
	size_t o = 0, i = 0;

	if (outlen == 0)
		return 0;
	while (in[i] != '\0') {
		size_t v = match_secret_key(in, i), n;

		if (v != 0) {
			out_append(out, outlen, &o, in + i, v - i);
			out_append(out, outlen, &o, redacted, sizeof(redacted) - 1);
			i = v + value_len(in + v);
		} else if ((n = registered_secret_len(in + i)) != 0) {
			out_append(out, outlen, &o, redacted, sizeof(redacted) - 1);
			i += n;
		} else {
			out_append(out, outlen, &o, in + i, 1);
			i++;
		}
	}
	out[o] = '\0';
	return o;
}

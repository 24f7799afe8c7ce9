/*
 * fuzz: what the libFuzzer targets share. Inputs are split into lines and
 * sections of a copy of the fuzzer's buffer, so a target never reads the
 * fuzzer's memory past its end and every piece it hands on is exactly as
 * long as the input says (ASan sees any over-read).
 */
#ifndef RINGSYNC_FUZZ_H
#define RINGSYNC_FUZZ_H

#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A cursor over the input. */
struct fz {
	const char *p;
	size_t n;
};

/*
 * fz_line: the next line (without its '\n') as a new NUL-terminated
 * string, or NULL at the end of the input. The line may hold NULs: *len
 * (when not NULL) is its real length.
 */
static inline char *
fz_line(struct fz *f, size_t *len)
{
	const char *nl;
	size_t l;
	char *s;

	if (f->n == 0)
		return NULL;
	nl = memchr(f->p, '\n', f->n);
	l = nl != NULL ? (size_t)(nl - f->p) : f->n;
	s = malloc(l + 1);
	if (s == NULL)
		abort();
	memcpy(s, f->p, l);
	s[l] = '\0';
	f->p += l + (nl != NULL);
	f->n -= l + (nl != NULL);
	if (len != NULL)
		*len = l;
	return s;
}

/*
 * fz_section: the input up to the next line that is exactly "--" (or to
 * the end), in a buffer of exactly *len bytes (not NUL-terminated, so an
 * over-read is caught), or NULL at the end. The separator is consumed.
 */
static inline char *
fz_section(struct fz *f, size_t *len)
{
	size_t pos = 0, end = f->n, next = f->n;
	const char *nl;
	char *s;

	if (f->n == 0)
		return NULL;
	while (pos < f->n) {
		if (f->n - pos >= 2 && memcmp(f->p + pos, "--", 2) == 0 &&
		    (pos + 2 == f->n || f->p[pos + 2] == '\n')) {
			end = pos > 0 ? pos - 1 : 0; /* without the '\n' before */
			next = pos + 2 + (pos + 2 < f->n);
			break;
		}
		if ((nl = memchr(f->p + pos, '\n', f->n - pos)) == NULL)
			break;
		pos = (size_t)(nl - f->p) + 1;
	}
	s = malloc(end ? end : 1);
	if (s == NULL)
		abort();
	memcpy(s, f->p, end);
	*len = end;
	f->p += next;
	f->n -= next;
	return s;
}

/*
 * fz_dup: n bytes in a buffer of exactly n bytes, free it with fz_free.
 * An empty value points at a poisoned byte: ASan gives malloc(0) one
 * usable byte, and reading the first byte of "" must be caught too.
 */
static char fz_empty[8] __attribute__((aligned(8)));

static inline char *
fz_dup(const char *p, size_t n)
{
	char *s;

	if (n == 0) {
		__asan_poison_memory_region(fz_empty, sizeof(fz_empty));
		return fz_empty;
	}
	if ((s = malloc(n)) == NULL)
		abort();
	memcpy(s, p, n);
	return s;
}

static inline void
fz_free(const char *s)
{
	if (s != fz_empty)
		free((char *)s);
}

/* fz_check: an oracle. A broken invariant is a crash libFuzzer saves. */
#define fz_check(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * FZ_JSON_INIT: a target's LLVMFuzzerInitialize that does what the
 * programs do first: jansson allocates with xmalloc (util_json_init).
 */
#define FZ_JSON_INIT \
	int LLVMFuzzerInitialize(int *argc, char ***argv); \
	int \
	LLVMFuzzerInitialize(int *argc, char ***argv) \
	{ \
		(void)argc; \
		(void)argv; \
		util_json_init(); \
		return 0; \
	}

#endif

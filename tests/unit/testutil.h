/*
 * Helpers shared by the unit tests: temporary directories and files that
 * are removed when the test process ends, even after a failed assertion.
 */
#ifndef RINGSYNC_TESTUTIL_H
#define RINGSYNC_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char *tu_dirs[64];
static int tu_ndirs;

static inline void
tu_cleanup(void)
{
	for (int i = 0; i < tu_ndirs; i++) {
		char *cmd = xasprintf("rm -rf '%s'", tu_dirs[i]);

		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tu_dirs[i]);
		free(cmd);
		free(tu_dirs[i]);
	}
	tu_ndirs = 0;
}

/* tu_tmpdir: a new private directory under $TMPDIR, removed at exit. */
static inline const char *
tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *tmpl = xasprintf("%s/ringsync-test.XXXXXX", base);

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		abort();
	}
	if (tu_ndirs == 0)
		atexit(tu_cleanup);
	tu_dirs[tu_ndirs++] = tmpl;
	return tmpl;
}

/* tu_write: write text to dir/name with mode; returns the path (owned). */
static inline char *
tu_write(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		abort();
	}
	if (chmod(path, mode) < 0) {
		perror(path);
		abort();
	}
	return path;
}

#endif

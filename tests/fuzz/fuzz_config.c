/*
 * fuzz_config: the INI configuration (config.c through Debian's libinih),
 * from the file as config_load reads it. The input is written to a memfd
 * that config_load opens by its /proc path, so the real entry point runs
 * unchanged. File checks (secret-file modes, state_dir) are off: they
 * look at the file system, not at the input.
 *
 * Oracles: a configuration that loads is complete (URIs, base DN, the
 * [push] email mapping, valid write-back templates, every bounded key
 * within its bounds) and loads the same way twice; one that fails says
 * why, each problem as "file:line: ..." with a line inside the file.
 */
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

static int fd = -1;
static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	util_json_init();
	if ((fd = memfd_create("ringsyncd.conf", 0)) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void
check_loaded(const struct config *cfg)
{
	char err[160];

	fz_check(cfg->ldap.uri.n >= 1 && cfg->ldap.base_dn != NULL);
	fz_check(cfg->ldap.user_filter != NULL && cfg->telephony.server != NULL);
	fz_check(cfg->telephony.client_id != NULL);
	/* a simple bind needs its DN and password (the daemon opens the file) */
	fz_check(cfg->ldap.sasl_mech != NULL || (cfg->ldap.bind_dn != NULL &&
	    cfg->ldap.bind_password_file != NULL));
	fz_check(config_map_get(&cfg->push, "email") != NULL);
	/* the table's bounds hold for whatever the file said */
	fz_check(cfg->ldap.page_size >= 1 && cfg->ldap.timeout >= 1);
	fz_check(cfg->telephony.timeout >= 1 && cfg->sync.interval >= 1);
	fz_check(cfg->sync.import_interval >= 1);
	fz_check(cfg->sync.full_sync_interval >= 60);
	fz_check(cfg->sync.state_dir != NULL && cfg->log.level >= LOG_ERR);
	for (size_t i = 0; i < cfg->writeback.n; i++)
		fz_check(config_template_check(cfg->writeback.v[i].value, err,
		    sizeof(err)) == 0);
}

/* check_problems: every problem is "path:line: message", line in range. */
static void
check_problems(const struct config_problems *pr, long lines)
{
	size_t plen = strlen(path);

	fz_check(pr->n > 0);
	for (size_t i = 0; i < pr->n; i++) {
		const char *s = pr->v[i];
		char *end;
		long line;

		fz_check(strncmp(s, path, plen) == 0 && s[plen] == ':');
		line = strtol(s + plen + 1, &end, 10);
		fz_check(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
		fz_check(line >= 0 && line <= lines);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_problems pr = { NULL, 0 };
	struct config *cfg = NULL, *again = NULL;
	long lines = 1;
	char err[512];

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (config_load(path, CONFIG_NO_FILE_CHECKS, &cfg, &pr) == 0) {
		fz_check(cfg != NULL && pr.n == 0);
		check_loaded(cfg);
		fz_check(config_load(path, CONFIG_NO_FILE_CHECKS, &again, &pr) == 0);
		fz_check(config_keep_restart_keys(cfg, again, err,
		    sizeof(err)) == 0);
	} else {
		fz_check(cfg == NULL);
		check_problems(&pr, lines);
	}
	config_free(again);
	config_free(cfg);
	config_problems_free(&pr);
	return 0;
}

/*
 * ringsyncctl users (the store's view of every user, read-only) and
 * release-deactivations (the held batch let through: a short write).
 */
#include <stdio.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "store.h"
#include "sync.h"

static void
print_user(const struct sync_user_view *u, void *arg)
{
	(void)arg;
	printf("email=%s dn=%s phone_id=%s state=%s extension=%s direct_number=%s",
	    log_q(u->email), log_q(u->dn), log_q(u->phone_id), u->state,
	    log_q(u->extension_number), log_q(u->direct_number));
	if (u->ext_id != NULL)
		printf(" ext_id=%s", log_q(u->ext_id));
	if (u->scim_id != NULL)
		printf(" scim_id=%s", log_q(u->scim_id));
	if (u->scope_group != NULL)
		printf(" scope_group=%s", log_q(u->scope_group));
	if (u->last_error != NULL)
		printf(" error=%s", log_q(u->last_error));
	printf("\n");
}

/* users [--failed]: the store's view of every user, read-only. */
int
ctl_users(const struct config *cfg, int failed_only)
{
	struct store *st;
	char err[512];
	int rc;

	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	rc = sync_users_list(st, failed_only, print_user, NULL, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ringsyncctl: %s\n", err);
	store_close(st);
	return rc < 0 ? CTL_EXIT_CONFIG : 0;
}

/*
 * release-deactivations: the held batch goes to the pusher. Works with
 * ringsyncd running (a short shared write) or stopped.
 */
int
ctl_release(const struct config *cfg)
{
	struct store *st;
	unsigned int n;
	char err[512];

	if (store_open(cfg->sync.state_dir, STORE_SHARED, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	if (sync_release_held(st, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return CTL_EXIT_CONFIG;
	}
	store_close(st);
	printf("released %u held deactivation%s: ringsyncd sends them at its next "
	    "cycle\n", n, n == 1 ? "" : "s");
	return 0;
}

/*
 * One user, as an administrator names it (an sAMAccountName, a mail
 * address, a DN or an objectGUID): found in the store, or through one AD
 * search; and ringsyncctl history USER, the changes made for it.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ad.h"
#include "ctl.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "sync.h"
#include "util.h"

static int
any_cb(const struct record_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	return 1;
}

struct dn_find {
	const char *dn;
	char *guid;                  /* owned: the first user with dn */
};

static void
dn_cb(const struct sync_user_view *u, void *arg)
{
	struct dn_find *f = arg;

	if (f->guid == NULL && u->dn != NULL && strcasecmp(u->dn, f->dn) == 0)
		f->guid = xstrdup(u->guid);
}

char *
ctl_store_guid(struct store *st, const char *name)
{
	struct store_txn *txn;
	struct record_user u;
	struct dn_find f = { name, NULL };
	unsigned char b[16];
	char *email, *guid = NULL, err[256];

	switch (ad_find_kind(name)) {
	case AD_FIND_GUID:
		if (store_begin(st, 1, &txn, err, sizeof(err)) < 0)
			return NULL;
		ad_guid_parse(name, b);
		guid = xcalloc(1, AD_GUID_LEN + 1);
		ad_guid_format(b, guid);
		if (record_user_get(txn, guid, &u, NULL, 0) == 0)
			record_user_clear(&u);
		else if (record_events_walk(txn, guid, any_cb, NULL) != 1) {
			free(guid); /* neither a user nor a history */
			guid = NULL;
		}
		store_abort(txn);
		return guid;
	case AD_FIND_MAIL:
		if (store_begin(st, 1, &txn, err, sizeof(err)) < 0)
			return NULL;
		email = sync_lower_dup(name);
		guid = record_email_owner(txn, email);
		free(email);
		store_abort(txn);
		return guid;
	case AD_FIND_DN:
		sync_users_list(st, 0, dn_cb, &f, err, sizeof(err));
		return f.guid;
	default:
		return NULL;
	}
}

int
ctl_user_guid(const struct config *cfg, struct store *st, const char *name,
    char guid[AD_GUID_LEN + 1], char *err, size_t errlen)
{
	struct ev_loop *loop;
	struct ad *ad;
	struct ad_entry e;
	char *g = ctl_store_guid(st, name);
	int rc;

	if (g != NULL) {
		snprintf(guid, AD_GUID_LEN + 1, "%s", g);
		free(g);
		return 1;
	}
	loop = ev_loop_new(EVFLAG_AUTO);
	ad = ad_new(loop, cfg);
	rc = ad_connect(ad, err, errlen);
	if (rc == 0)
		rc = ad_find_user(ad, name, NULL, 0, &e, err, errlen);
	if (rc == 1)
		snprintf(guid, AD_GUID_LEN + 1, "%s", e.guid);
	if (rc == 1)
		ad_entry_clear(&e);
	else if (rc == 2)
		util_errbuf_set(err, errlen, "%s names more than one AD user: give "
		    "the DN or the objectGUID", name);
	else if (rc == 0)
		util_errbuf_set(err, errlen, "no user %s: neither the state store nor "
		    "AD knows it", name);
	ad_free(ad);
	ev_loop_destroy(loop);
	return rc == 2 ? -2 : rc;
}

/* ------------------------------------------------------------ history */

static void
print_value(const json_t *v)
{
	if (json_is_string(v))
		printf("\"%s\"", json_string_value(v));
	else
		printf("(none)");
}

static int
print_event(const struct record_event *ev, void *arg)
{
	char when[32];
	const char *k;
	json_t *v;

	(*(unsigned int *)arg)++;
	printf("%s", ctl_fmt_time((long long)(ev->stamp / 1000000ULL), when,
	    sizeof(when)));
	printf(" %s", ev->what);
	if (ev->detail != NULL)
		printf(" %s", ev->detail);
	printf("\n");
	json_object_foreach(ev->changes, k, v) {
		size_t n = json_array_size(v);

		printf("    %s: ", k);
		if (n < 2)
			printf("?"); /* the value before is not known */
		else
			print_value(json_array_get(v, 0));
		printf(" -> ");
		print_value(json_array_get(v, n - 1));
		printf("\n");
	}
	return 0;
}

/* history USER: the changes made for USER, oldest first; read-only. */
int
ctl_history(const struct config *cfg, int argc, char **argv)
{
	struct store *st;
	struct store_txn *txn = NULL;
	char guid[AD_GUID_LEN + 1], err[512];
	unsigned int n = 0;
	int rc;

	if (argc != 1)
		return -1;
	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	rc = ctl_user_guid(cfg, st, argv[0], guid, err, sizeof(err));
	if (rc <= 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		store_close(st);
		return rc == -1 ? CTL_EXIT_UNREACHABLE : 1;
	}
	if (store_begin(st, 1, &txn, err, sizeof(err)) < 0 ||
	    record_events_walk(txn, guid, print_event, &n) < 0) {
		fprintf(stderr, "ringsyncctl: cannot read the history: %s\n", err);
		store_abort(txn);
		store_close(st);
		return CTL_EXIT_CONFIG;
	}
	store_abort(txn);
	store_close(st);
	if (n == 0)
		printf("no change recorded for %s (objectGUID %s)%s\n", argv[0], guid,
		    cfg->sync.history == 0 ? ": [sync] history = 0 keeps none" : "");
	return 0;
}

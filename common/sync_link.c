/*
 * sync_link: link first from the extension list. On an account that
 * already has most of the users (a first day, a new node, a lost store),
 * one import links them by email from the extension list, 1,000 a Medium
 * call, where the pusher would search each by email (a Light call each)
 * before creating it. While s->link_wait is set the pusher leaves the
 * users it would link or create in the outbox (its updates and
 * deactivations of linked users go on), and the import that clears it
 * starts once a scan has ended, so that it sees every AD user the scan
 * recorded. The pusher then searches by email only the users the list
 * did not have, right before creating each (a guard against a stale
 * list).
 *
 * The daemon waits so when the store has no successful import yet (its
 * imports run anyway: the wait costs no call). --once decides after its
 * scan: linking first costs an import before the push and one after it
 * (for the numbers of the users it created) and a search for each user
 * the list did not have; the old order, a search for every user and one
 * import. So when more users wait to be linked or created than two
 * imports cost calls, it links first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "phone_field.h"
#include "schema.h"
#include "sync_stage.h"
#include "util.h"

struct tally {
	struct store_txn *txn;
	long long now;
	unsigned long users;      /* would be linked or created by the pusher */
};

static int
tally_one(struct record_out *o, void *arg)
{
	struct tally *t = arg;
	struct record_user u;
	int known = record_user_get(t->txn, o->guid, &u, NULL, 0) == 0;
	enum push_action act;

	if (known)
		record_user_adopt(&u);
	act = sync_plan_push(o, known ? &u : NULL, t->now);
	if (act == PUSH_CREATE || (known && act == PUSH_UPDATE &&
	    record_user_ext_id(&u) == NULL))
		t->users++;
	if (known)
		record_user_clear(&u);
	record_out_clear(o);
	return 0;
}

/* import_cost: the calls one import takes: the last one's, or a guess. */
static unsigned long long
import_cost(struct store_txn *txn)
{
	struct record_cycle c;
	size_t users = 0;

	if (record_cycle_get(txn, RECORD_CYCLE_IMPORT, &c, NULL, 0) == 0 &&
	    c.api_calls > 0 && (strcmp(c.result, "ok") == 0 ||
	    strcmp(c.result, "users_failed") == 0))
		return c.api_calls;
	/* the extension list and the directory, 1,000 a page; a token */
	(void)store_count(txn, STORE_USERS, &users);
	return 2 * ((users + 999) / 1000) + 1;
}

int
sync_link_first_pays(struct sync *s)
{
	struct store_txn *txn = sync_txn_begin(s);
	struct tally t = { txn, (long long)time(NULL), 0 };
	struct record_walk w = { NULL, &t, 0, NULL };
	unsigned long long cost;
	int pays;

	if (txn == NULL)
		return 0;
	if (record_out_walk(txn, &w, tally_one) < 0) {
		store_abort(txn);
		return 0;
	}
	cost = import_cost(txn);
	store_abort(txn);
	pays = t.users > 2 * cost;
	if (t.users > 0)
		log_info("%s users=%lu import_calls=%llu", pays ?
		    "linking first from the extension list: more users to link "
		    "or create than two imports cost calls" :
		    "linking or creating by email search: fewer users to link or "
		    "create than two imports cost calls", t.users, cost);
	return pays;
}

void
sync_link_first_start(struct sync *s)
{
	struct store_txn *txn;
	struct record_cycle c;
	int imported;

	if (s->dry_run || (txn = sync_txn_begin(s)) == NULL)
		return;
	imported = record_cycle_get(txn, RECORD_CYCLE_IMPORT, &c, NULL, 0) == 0 &&
	    c.last_ok > 0;
	store_abort(txn);
	if (imported)
		return;
	s->link_wait = 1;
	log_info("linking first from the extension list: no import has "
	    "succeeded yet, so the users to link or create wait for the first "
	    "one, which follows the first scan");
}

void
sync_link_done(struct sync *s)
{
	if (!s->link_wait)
		return;
	s->link_wait = 0;
	log_debug("linked from the extension list: the pusher links or creates "
	    "the rest");
}

int
sync_phone_hash(struct sync *s, const struct phone_extension *x,
    char out[PROFILE_HASH_LEN + 1])
{
	const struct config_map *push = &s->cfg->push;
	const char **fields, **values;
	size_t n = push->n;
	int rc = 0;

	if (push->n == 0)
		return -1;
	fields = xcalloc(push->n + 1, sizeof(*fields));
	values = xcalloc(push->n + 1, sizeof(*values));
	for (size_t i = 0; i < push->n && rc == 0; i++) {
		const char *key = push->v[i].key, *id;
		int f = phone_field_from_name(key);

		fields[i] = key;
		if (f >= 0 && f < PHONE_NFIELDS) {
			values[i] = x->field[f];
		} else if (strncasecmp(key, "custom.", 7) == 0 &&
		    (id = schema_custom_id(s->schema, key + 7)) != NULL) {
			for (size_t k = 0; k < x->ncustom; k++)
				if (x->custom[k].id != NULL &&
				    strcmp(x->custom[k].id, id) == 0)
					values[i] = x->custom[k].value;
		} else {
			rc = -1;
		}
	}
	/* The site the scan resolved ([policy] site), where the account has
	 * sites: its id, as the profile holds it. */
	if (config_map_pair(&s->cfg->policy, "site") != NULL && x->site_id) {
		fields[n] = "site";
		values[n++] = x->site_id;
	}
	if (rc == 0)
		profile_hash_values(fields, values, n, out);
	free(fields);
	free(values);
	return rc;
}

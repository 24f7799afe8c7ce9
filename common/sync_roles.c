/*
 * sync_roles: [roles] (docs/behaviour.md, roles). The scan lane reads the
 * rules' groups with the group machinery of the scope (nested groups at
 * any depth, groups followed by objectGUID, one change check a cycle) and
 * records in the roles database the role each member should have: the
 * first rule, in the file's order, whose group holds the user. The push
 * lane then assigns what differs from what it last assigned, to linked
 * users: one bulk-assign per role and up to ROLE_CHUNK users a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "record.h"
#include "schema.h"
#include "sync_stage.h"
#include "util.h"

#define ROLES_KEY "roles"    /* meta: the rules' groups as last read */
#define ROLE_CHUNK 500       /* users a bulk-assign carries at first */
#define ROLE_ROUND 1000      /* users read from the database a round */

/* --------------------------------------------------------- the read */

struct roles_read {
	struct sync *s;
	struct ad_scope *sc;          /* the read in flight, or NULL */
	struct ad_scope_result *res;  /* owned: what was read now, or NULL */
	struct record_scope stored;   /* owned: as the store has it */
	int have_stored;
	int clear;                    /* no rules now: forget the stored ones */
	void (*cb)(void *arg);
	void *arg;
};

/* same_rules: does the stored state hold the configured rules' groups? */
static int
same_rules(const struct config_map *m, const struct record_scope *sc)
{
	if (m->n != sc->n)
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->v[i].value, sc->g[i].dn) != 0 ||
		    sc->g[i].guid[0] == '\0')
			return 0;
	return 1;
}

static int
load_stored(struct sync *s, struct record_scope *sc)
{
	struct store_txn *txn;
	char err[256];
	int have = 0;

	memset(sc, 0, sizeof(*sc));
	if (store_begin(s->store, 1, &txn, err, sizeof(err)) == 0) {
		have = record_groups_get(txn, ROLES_KEY, sc, NULL, 0) == 0;
		store_abort(txn);
	}
	return have;
}

int
sync_roles_stale(struct sync *s)
{
	struct record_scope sc;
	int have = load_stored(s, &sc), stale;

	if (s->cfg->roles.n == 0)
		stale = have;
	else
		stale = !s->roles_read || !have || !same_rules(&s->cfg->roles, &sc);
	record_scope_clear(&sc);
	return stale;
}

static void
read_free(struct roles_read *r)
{
	if (r == NULL)
		return;
	ad_scope_cancel(r->sc);
	ad_scope_result_free(r->res);
	record_scope_clear(&r->stored);
	free(r);
}

void
sync_roles_drop(struct sync *s)
{
	read_free(s->roles_rd);
	s->roles_rd = NULL;
}

static void
read_cb(void *arg, struct ad_scope_result *res)
{
	struct roles_read *r = arg;
	struct sync *s = r->s;

	r->sc = NULL;
	if (!res->ok) {
		/* said once per reason: a cycle keeps failing the same way */
		if (strcmp(s->roles_err, res->err) != 0)
			log_crit("the [roles] groups cannot be read: no role changes "
			    "until they can (roles stay as they are) error=%s",
			    log_q(res->err));
		snprintf(s->roles_err, sizeof(s->roles_err), "%s", res->err);
		s->roles_read = 0;
		ad_scope_result_free(res);
	} else {
		if (s->roles_err[0] != '\0')
			log_notice("the [roles] groups can be read again");
		s->roles_err[0] = '\0';
		s->roles_read = 1;
		if (res->reread) {
			r->res = res;
			log_debug("roles groups read groups=%zu nested=%zu members=%zu "
			    "searches=%lu", res->ngroups, res->nnested, res->nmembers,
			    res->reads);
		} else {
			ad_scope_result_free(res);
		}
	}
	r->cb(r->arg);
}

int
sync_roles_read_start(struct sync *s, const struct ad_scan_plan *plan,
    void (*cb)(void *arg), void *arg)
{
	const struct config_map *m = &s->cfg->roles;
	struct roles_read *r;
	struct ad_scope_req req = { 0 };
	const char **dns, **guids;
	char (*known)[AD_GUID_LEN + 1];
	char err[1024];
	int reread;

	sync_roles_drop(s);
	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->cb = cb;
	r->arg = arg;
	r->have_stored = load_stored(s, &r->stored);
	if (m->n == 0 && !r->have_stored) {
		read_free(r); /* no rules, and none before */
		return 1;
	}
	s->roles_rd = r;
	if (m->n == 0) {
		r->clear = 1;
		return 1;
	}
	reread = plan->full || !s->roles_read || !r->have_stored ||
	    !same_rules(m, &r->stored);
	if (!reread && plan->lower > plan->upper)
		return 1; /* nothing changed in AD since the last cycle */
	dns = xcalloc(m->n, sizeof(*dns));
	for (size_t i = 0; i < m->n; i++)
		dns[i] = m->v[i].value;
	record_scope_req(&r->stored, dns, m->n, &guids, &known, &req.nknown);
	req.dns = dns;
	req.guids = guids;
	req.n = m->n;
	req.known = (const char (*)[AD_GUID_LEN + 1])known;
	req.lower = plan->lower;
	req.upper = plan->upper;
	req.reread = reread;
	req.what = "[roles] group";
	r->sc = ad_scope_start(s->ad, &req, read_cb, r, err, sizeof(err));
	free(dns);
	free(guids);
	free(known);
	if (r->sc == NULL) {
		log_warning("cannot read the [roles] groups: roles stay as they are "
		    "error=%s", log_q(err));
		return -1;
	}
	return 0;
}

static const char *
member_rule(const struct ad_scope_result *res, const struct config_map *m,
    const char *guid)
{
	size_t lo = 0, hi = res->nmembers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(res->members[mid].guid, guid);

		if (c == 0)
			return res->members[mid].via < m->n ?
			    m->v[res->members[mid].via].key : NULL;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
sync_roles_of(struct sync *s, const char *guid)
{
	struct roles_read *r = s->roles_rd;

	return r != NULL && r->res != NULL ? member_rule(r->res, &s->cfg->roles,
	    guid) : NULL;
}

/* -------------------------------------------------------- the commit */

enum role_op { OP_NEW, OP_CHANGE, OP_LEAVE, OP_FORGET };

struct op {
	char guid[AD_GUID_LEN + 1];
	enum role_op kind;
	unsigned int via;             /* OP_NEW, OP_CHANGE: the rule */
};

struct diff {
	struct sync *s;
	const struct ad_scope_result *res;
	const char **ids;             /* per rule: its role id, or NULL */
	const char *def;              /* the default role, or NULL */
	size_t j;                     /* the next member not yet met */
	struct op *ops;
	size_t nops, cap;
	unsigned int no_default;      /* leavers whose default is not known */
};

static void
op_add(struct diff *d, const char *guid, enum role_op kind, unsigned int via)
{
	if (d->nops == d->cap)
		d->ops = xreallocarray(d->ops, d->cap = d->cap ? d->cap * 2 : 256,
		    sizeof(*d->ops));
	snprintf(d->ops[d->nops].guid, sizeof(d->ops[d->nops].guid), "%s", guid);
	d->ops[d->nops].kind = kind;
	d->ops[d->nops++].via = via;
}

static int
diff_cb(struct record_goal *r, void *arg)
{
	struct diff *d = arg;
	const struct ad_member *m = d->res->members;
	int c = 1;

	for (; d->j < d->res->nmembers && (c = strcmp(m[d->j].guid,
	    r->guid)) < 0; d->j++)
		op_add(d, m[d->j].guid, OP_NEW, m[d->j].via);
	if (d->j < d->res->nmembers && c == 0) {
		const char *want = m[d->j].via < d->s->cfg->roles.n ?
		    d->ids[m[d->j].via] : NULL;

		if (want != NULL && (r->rule == NULL || strcmp(r->want, want) != 0 ||
		    strcasecmp(r->rule, d->s->cfg->roles.v[m[d->j].via].key) != 0))
			op_add(d, r->guid, OP_CHANGE, m[d->j].via);
		d->j++;
		return 0;
	}
	if (r->rule == NULL)
		return 0; /* left before: on its way back to the default */
	if (!d->s->cfg->manage_roles || r->done == NULL)
		op_add(d, r->guid, OP_FORGET, 0); /* keeps the role it has */
	else if (d->def == NULL) {
		d->no_default++;
		op_add(d, r->guid, OP_FORGET, 0);
	} else
		op_add(d, r->guid, OP_LEAVE, 0);
	return 0;
}

/* who: the user's DN for a message, from its record, else its objectGUID. */
static char *
who(struct store_txn *txn, const char *guid)
{
	struct record_user u;
	char *v;

	if (record_user_get(txn, guid, &u, NULL, 0) != 0)
		return xstrdup(guid);
	v = xstrdup(u.ad.dn != NULL ? u.ad.dn : guid);
	record_user_clear(&u);
	return v;
}

static int
apply_op(struct diff *d, struct store_txn *txn, const struct op *o,
    char *err, size_t errlen)
{
	const struct config_map *m = &d->s->cfg->roles;
	struct record_goal r;
	int rc = 0, have = record_goal_get(txn, STORE_ROLES, o->guid, &r, NULL, 0) == 0;

	if (!have) {
		memset(&r, 0, sizeof(r));
		snprintf(r.guid, sizeof(r.guid), "%s", o->guid);
	}
	switch (o->kind) {
	case OP_NEW:
	case OP_CHANGE:
		if (d->ids[o->via] == NULL)
			break;
		util_str_set(&r.rule, m->v[o->via].key);
		util_str_set(&r.want, d->ids[o->via]);
		rc = record_goal_put(txn, STORE_ROLES, &r, err, errlen);
		break;
	case OP_LEAVE:
		free(r.rule);
		r.rule = NULL;
		util_str_set(&r.want, d->def);
		rc = record_goal_put(txn, STORE_ROLES, &r, err, errlen);
		break;
	case OP_FORGET:
		rc = store_del(txn, STORE_ROLES, o->guid, err, errlen);
		break;
	}
	if (d->s->dry_run && o->kind != OP_FORGET && (o->kind == OP_LEAVE ||
	    d->ids[o->via] != NULL)) {
		char *dn = who(txn, o->guid);

		log_info("dry run: the role is role=%s rule=%s dn=%s",
		    log_q(o->kind == OP_LEAVE ? schema_role_name(d->s->schema,
		    d->def) : m->v[o->via].key), o->kind == OP_LEAVE ? "-" :
		    log_q(m->v[o->via].value), log_q(dn));
		free(dn);
	}
	record_goal_clear(&r);
	return rc;
}

/* state_of: the rules' groups as read now, for the meta record. */
static void
state_of(struct sync *s, const struct ad_scope_result *res,
    struct record_scope *now)
{
	memset(now, 0, sizeof(*now));
	now->n = res->ngroups;
	now->g = xcalloc(res->ngroups + 1, sizeof(*now->g));
	for (size_t i = 0; i < res->ngroups; i++) {
		snprintf(now->g[i].guid, sizeof(now->g[i].guid), "%s",
		    res->groups[i].guid);
		now->g[i].dn = xstrdup(s->cfg->roles.v[i].value);
		now->g[i].now_dn = xstrdup(res->groups[i].dn ? res->groups[i].dn :
		    s->cfg->roles.v[i].value);
		now->g[i].deleted = res->groups[i].deleted;
		now->g[i].members = res->groups[i].members;
	}
	now->nnested = res->nnested;
	now->nested = xcalloc(res->nnested + 1, sizeof(*now->nested));
	if (res->nnested > 0)
		memcpy(now->nested, res->nested, res->nnested * sizeof(*now->nested));
	now->checked = (long long)ev_now(s->loop);
}

int
sync_roles_commit(struct sync *s, struct store_txn *txn)
{
	struct roles_read *r = s->roles_rd;
	const struct config_map *m = &s->cfg->roles;
	struct diff d = { 0 };
	struct record_scope now;
	unsigned int counts[4] = { 0 };
	char err[256] = "";
	int rc = 0;

	if (r == NULL)
		return 0;
	if (r->clear) {
		log_notice("[roles] has no rules any more: ringsync assigns no "
		    "roles (users keep theirs)");
		if (store_clear(txn, STORE_ROLES, err, sizeof(err)) < 0 ||
		    store_del(txn, STORE_META, ROLES_KEY, err, sizeof(err)) < 0)
			goto fail;
		return 0;
	}
	if (r->res == NULL)
		return 0;
	d.s = s;
	d.res = r->res;
	d.ids = xcalloc(m->n + 1, sizeof(*d.ids));
	for (size_t i = 0; i < m->n; i++)
		if ((d.ids[i] = schema_role_id(s->schema, m->v[i].key)) == NULL)
			log_err("[roles] %s: the account has no role of that name "
			    "(`ringsyncctl schema` lists them): its group's members are "
			    "left as they are rule=%s", m->v[i].key, log_q(m->v[i].key));
	d.def = schema_default_role(s->schema, NULL);
	if (record_goal_walk(txn, STORE_ROLES, NULL, diff_cb, &d) < 0) {
		snprintf(err, sizeof(err), "cannot read the roles");
		rc = -1;
	}
	for (; rc == 0 && d.j < r->res->nmembers; d.j++)
		op_add(&d, r->res->members[d.j].guid, OP_NEW,
		    r->res->members[d.j].via);
	for (size_t i = 0; rc == 0 && i < d.nops; i++) {
		rc = apply_op(&d, txn, &d.ops[i], err, sizeof(err));
		counts[d.ops[i].kind]++;
	}
	if (rc == 0) {
		state_of(s, r->res, &now);
		rc = record_groups_put(txn, ROLES_KEY, &now, err, sizeof(err));
		record_scope_clear(&now);
	}
	if (d.no_default > 0) {
		const char *why = NULL;

		schema_default_role(s->schema, &why);
		log_warning("%u users left every [roles] group, but the account's "
		    "default role is not known (`ringsyncctl schema` could not read "
		    "it%s%s): they keep their role count=%u", d.no_default,
		    why ? ": " : "", why ? why : "", d.no_default);
	}
	if (rc == 0 && counts[OP_NEW] + counts[OP_CHANGE] + counts[OP_LEAVE] > 0) {
		s->roles_dirty = 1;
		log_info("%sroles: %u users get a role, %u another one, %u go back "
		    "to the default role new=%u changed=%u left=%u",
		    s->dry_run ? "dry run: " : "", counts[OP_NEW], counts[OP_CHANGE],
		    counts[OP_LEAVE], counts[OP_NEW], counts[OP_CHANGE],
		    counts[OP_LEAVE]);
	}
	free(d.ids);
	free(d.ops);
	if (rc == 0)
		return 0;
fail:
	log_err("cannot record the roles error=%s", log_q(err));
	return -1;
}

/* ------------------------------------------------------- the assign */

struct pending {
	char guid[AD_GUID_LEN + 1];
	char *ext_id;                 /* owned */
	char *want;                   /* owned */
};

struct roles_push {
	struct sync *s;
	struct pending *v;            /* owned: this round's, sorted by want */
	size_t n;
	size_t at, len;               /* the call in flight: v[at .. at+len) */
	int one;                      /* the group at v[at] goes one by one */
	char last[AD_GUID_LEN + 1];   /* the round read up to here */
	int more;                     /* the database holds more after last */
	void (*done)(void *arg);
	void *arg;
};

static void roles_send(struct roles_push *rp);

static int
pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c = strcmp(x->want, y->want);

	return c != 0 ? c : strcmp(x->guid, y->guid);
}

struct collect {
	struct roles_push *rp;
	struct store_txn *txn;
};

static int
collect_cb(struct record_goal *r, void *arg)
{
	struct collect *c = arg;
	struct roles_push *rp = c->rp;
	struct record_user u;
	const char *ext;

	if (strcmp(r->guid, rp->last) <= 0 && rp->last[0] != '\0')
		return 0;
	if (rp->n == ROLE_ROUND) {
		rp->more = 1;
		return 1;
	}
	snprintf(rp->last, sizeof(rp->last), "%s", r->guid);
	if ((r->done != NULL && strcmp(r->done, r->want) == 0) ||
	    (r->failed != NULL && strcmp(r->failed, r->want) == 0))
		return 0;
	if (record_user_get(c->txn, r->guid, &u, NULL, 0) != 0)
		return 0;
	if ((ext = record_user_ext_id(&u)) != NULL && record_user_active(&u)) {
		struct pending *p = &rp->v[rp->n++];

		snprintf(p->guid, sizeof(p->guid), "%s", r->guid);
		p->ext_id = xstrdup(ext);
		p->want = xstrdup(r->want);
	}
	record_user_clear(&u);
	return 0;
}

static void
push_free(struct roles_push *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		free(rp->v[i].ext_id);
		free(rp->v[i].want);
	}
	free(rp->v);
	free(rp);
}

static void
push_end(struct roles_push *rp)
{
	struct sync *s = rp->s;
	void (*done)(void *) = rp->done;
	void *arg = rp->arg;

	s->roles_push = NULL;
	push_free(rp);
	done(arg);
}

/* collect: the next round's pending users; 0 when there are none. */
static size_t
collect(struct roles_push *rp)
{
	struct collect c = { rp, NULL };
	char err[256];

	for (size_t i = 0; i < rp->n; i++) {
		free(rp->v[i].ext_id);
		free(rp->v[i].want);
	}
	rp->n = 0;
	rp->at = 0;
	rp->one = 0;
	rp->more = 0;
	if (store_begin(rp->s->store, 1, &c.txn, err, sizeof(err)) < 0)
		return 0;
	if (record_goal_walk(c.txn, STORE_ROLES, rp->last[0] ? rp->last : NULL, collect_cb,
	    &c) < 0)
		log_err("cannot read the roles");
	store_abort(c.txn);
	qsort(rp->v, rp->n, sizeof(*rp->v), pending_cmp);
	return rp->n;
}

/* settle: the results of v[at .. at+len) as one outcome: ok, or err. */
static void
settle(struct roles_push *rp, size_t at, size_t len, const char *error)
{
	struct sync *s = rp->s;
	struct store_txn *txn = sync_txn_begin(s);
	char err[256];

	if (txn == NULL)
		return;
	for (size_t i = at; i < at + len; i++) {
		struct record_goal r;
		const char *was, *now;
		int rc;

		if (record_goal_get(txn, STORE_ROLES, rp->v[i].guid, &r, NULL, 0) != 0)
			continue;
		if (strcmp(r.want, rp->v[i].want) != 0) {
			record_goal_clear(&r); /* a newer rule came meanwhile */
			continue;
		}
		was = r.done ? schema_role_name(s->schema, r.done) : NULL;
		now = schema_role_name(s->schema, r.want);
		if (r.done != NULL && was == NULL)
			was = r.done;
		sync_history(s, txn, r.guid, s->c.id, error ? "role refused" :
		    "role assigned", json_pack("{s:[s?,s]}", "role", was,
		    now ? now : r.want), error);
		if (error != NULL) {
			util_str_set(&r.failed, r.want);
			util_str_set(&r.error, error);
			rc = record_goal_put(txn, STORE_ROLES, &r, err, sizeof(err));
		} else if (r.rule == NULL) {
			rc = store_del(txn, STORE_ROLES, r.guid, err, sizeof(err));
		} else {
			util_str_set(&r.done, r.want);
			free(r.failed);
			free(r.error);
			r.failed = r.error = NULL;
			rc = record_goal_put(txn, STORE_ROLES, &r, err, sizeof(err));
		}
		record_goal_clear(&r);
		if (rc < 0) {
			log_err("cannot record a role error=%s", log_q(err));
			store_abort(txn);
			return;
		}
	}
	sync_txn_commit(s, txn);
}

/* group_len: how many of v[at ..] want the same role as v[at]. */
static size_t
group_len(const struct roles_push *rp, size_t at)
{
	size_t k = at;

	while (k < rp->n && strcmp(rp->v[k].want, rp->v[at].want) == 0)
		k++;
	return k - at;
}

static void
assign_cb(const struct phone_error *e, void *arg)
{
	struct roles_push *rp = arg;
	struct sync *s = rp->s;
	const char *name = schema_role_name(s->schema, rp->v[rp->at].want);
	unsigned int limit;
	char msg[512];

	if (e->kind == PHONE_OK) {
		settle(rp, rp->at, rp->len, NULL);
		log_info("role assigned role=%s users=%zu", log_q(name ? name :
		    rp->v[rp->at].want), rp->len);
		rp->at += rp->len;
		roles_send(rp);
		return;
	}
	if (e->kind == PHONE_AUTH) {
		phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
		log_crit("roles cannot be assigned: the app needs the RoleManagement "
		    "permission (add it to the app in the developer console, then "
		    "reload ringsyncd); everything else syncs error=%s", log_q(msg));
		s->roles_denied = 1;
		push_end(rp);
		return;
	}
	if ((limit = phone_error_batch_limit(e)) > 0 && limit < rp->len) {
		log_notice("a role bulk-assign takes at most %u users: sending that "
		    "many a call limit=%u", limit, limit);
		s->role_chunk = limit;
		roles_send(rp);
		return;
	}
	if (e->kind == PHONE_DATA) {
		phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
		if (rp->len == 1) {
			struct store_txn *txn = sync_txn_begin(s);
			char *dn = txn ? who(txn, rp->v[rp->at].guid) :
			    xstrdup(rp->v[rp->at].guid);

			store_abort(txn);
			log_err("the phone system refused the user's role (tried again "
			    "when the rule's role changes) dn=%s role=%s error=%s",
			    log_q(dn), log_q(name ? name : rp->v[rp->at].want),
			    log_q(msg));
			free(dn);
			settle(rp, rp->at, 1, msg);
			rp->at++;
			roles_send(rp);
			return;
		}
		/* not one user's: each on its own, so the error is its own */
		rp->one = 1;
		roles_send(rp);
		return;
	}
	phone_error_message(e, s->cfg->telephony.brand, msg, sizeof(msg));
	log_warning("role assignment failed: tried again after the next scan "
	    "role=%s error=%s", log_q(name ? name : rp->v[rp->at].want),
	    log_q(msg));
	s->roles_dirty = 1;
	push_end(rp);
}

static void
roles_send(struct roles_push *rp)
{
	struct sync *s = rp->s;
	const char **ids;
	size_t len;

	if (s->stopping) {
		s->roles_dirty = 1;
		push_end(rp);
		return;
	}
	if (rp->at == rp->n && (!rp->more || collect(rp) == 0)) {
		push_end(rp);
		return;
	}
	/* one by one only within the role whose call failed */
	if (rp->one && (rp->at == 0 || strcmp(rp->v[rp->at].want,
	    rp->v[rp->at - 1].want) != 0))
		rp->one = 0;
	len = group_len(rp, rp->at);
	if (rp->one)
		len = 1;
	else if (len > s->role_chunk)
		len = s->role_chunk;
	rp->len = len;
	ids = xcalloc(len, sizeof(*ids));
	for (size_t i = 0; i < len; i++)
		ids[i] = rp->v[rp->at + i].ext_id;
	phone_role_assign(s->phone, rp->v[rp->at].want, ids, len, assign_cb, rp);
	free(ids);
}

int
sync_roles_push(struct sync *s, void (*done)(void *arg), void *arg)
{
	struct roles_push *rp;

	if (s->cfg->roles.n == 0 || !s->roles_dirty || s->roles_denied ||
	    s->dry_run)
		return 0;
	s->roles_dirty = 0;
	if (s->role_chunk == 0)
		s->role_chunk = ROLE_CHUNK;
	rp = xcalloc(1, sizeof(*rp));
	rp->s = s;
	rp->v = xcalloc(ROLE_ROUND, sizeof(*rp->v));
	rp->done = done;
	rp->arg = arg;
	if (collect(rp) == 0 && !rp->more) {
		push_free(rp);
		return 0;
	}
	s->roles_push = rp;
	roles_send(rp);
	return 1;
}

void
sync_roles_abort(struct sync *s)
{
	if (s->roles_push != NULL) {
		push_free(s->roles_push);
		s->roles_push = NULL;
		s->roles_dirty = 1;
	}
}

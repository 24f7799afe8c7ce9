/*
 * ringsyncctl explain USER: one user traced through what the sync decides
 * (found in AD, in scope and why, linked, the profile AD wants against the
 * one last pushed, what waits in the outbox, the last errors, the
 * write-back), from the store and one AD search. Never writes.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ad.h"
#include "ctl.h"
#include "profile.h"
#include "record.h"
#include "schema.h"
#include "store.h"
#include "sync.h"
#include "util.h"

#define MAX_FIND_ATTRS 60

struct explain {
	const struct config *cfg;
	const char *name;
	struct store_txn *txn;        /* a read transaction */
	int known;                    /* the store has a user record */
	struct record_user u;         /* when known */
	int ad_state;                 /* 1 found, 0 not in AD, -1 not asked */
	char ad_err[512];
	struct ad_entry e;            /* when ad_state == 1 */
	struct ad *ad;                /* connected, or NULL */
	struct profile p;             /* what AD wants, when built */
	int have_profile;
	struct profile_error pe;
	const char *why_out;          /* why not in scope (or NULL) */
	int blocked;                  /* in scope, but why_out keeps it back */
	char why_buf[768];
};

static void
quoted(const char *v)
{
	if (v != NULL && *v)
		printf("\"%s\"", v);
	else
		printf("(none)");
}

static void
line(const char *label, const char *v)
{
	printf("    %-16s ", label);
	quoted(v);
	printf("\n");
}

/* ------------------------------------------------------------ scope */

/* duplicate_owner: another user in the store who has the email, or NULL. */
static char *
duplicate_owner(struct explain *x, const char *email)
{
	struct record_user other;
	char *owner, *low, *dn = NULL;

	if (email == NULL || *email == '\0')
		return NULL;
	low = sync_lower_dup(email);
	owner = record_email_owner(x->txn, low);
	if (owner != NULL && strcmp(owner, x->e.guid) != 0 &&
	    record_user_get(x->txn, owner, &other, NULL, 0) == 0) {
		if (other.ad.email != NULL && strcmp(other.ad.email, low) == 0 &&
		    !other.ad.deleted && other.ad.dn != NULL)
			dn = xstrdup(other.ad.dn);
		record_user_clear(&other);
	}
	free(owner);
	free(low);
	return dn;
}

/* group_dn: the DN of the scope group with that objectGUID, as AD has it. */
static const char *
group_dn(const struct record_scope *sc, const char *via)
{
	for (size_t i = 0; i < sc->n; i++)
		if (strcmp(sc->g[i].guid, via) == 0)
			return sc->g[i].now_dn ? sc->g[i].now_dn : sc->g[i].dn;
	return NULL;
}

/*
 * scope: each condition in the order the scanner applies it; the first
 * that fails decides (x->why_out).
 */
static void
scope(struct explain *x)
{
	const struct config *cfg = x->cfg;
	const char *email_attr = config_map_get(&cfg->push, "email");
	const char *mail = email_attr ? ad_entry_get(&x->e, email_attr) : NULL;
	struct record_scope sc;
	char via[AD_GUID_LEN + 1], err[256], *dup;
	int m;

	printf("Scope\n");
	if (!ad_dn_under(x->e.dn, cfg->ldap.base_dn)) {
		printf("    base_dn          no: not under %s\n", cfg->ldap.base_dn);
		x->why_out = "not under base_dn";
		return;
	}
	printf("    base_dn          yes: under %s\n", cfg->ldap.base_dn);
	m = ad_filter_matches(x->ad, x->e.dn, cfg->ldap.user_filter, err,
	    sizeof(err));
	if (m < 0)
		printf("    user_filter      not known: %s\n", err);
	else
		printf("    user_filter      %s: %s\n", m ? "matches" : "does not match",
		    cfg->ldap.user_filter);
	if (m == 0) {
		x->why_out = "user_filter does not match";
		return;
	}
	if (cfg->ldap.groups.n > 0) {
		if (record_member_get(x->txn, x->e.guid, via) == 0 &&
		    record_scope_get(x->txn, &sc, NULL, 0) == 0) {
			printf("    groups           member of %s\n",
			    group_dn(&sc, via) ? group_dn(&sc, via) : via);
			record_scope_clear(&sc);
		} else {
			printf("    groups           no: a member of none of the scope "
			    "groups (as of the last scan)\n");
			x->why_out = "in no scope group";
			return;
		}
	}
	if (x->e.disabled) {
		printf("    account          disabled (userAccountControl %u): "
		    "deactivate = %s\n", x->e.uac,
		    cfg->sync.deactivate == CONFIG_DEACTIVATE_DELETE ? "delete" :
		    cfg->sync.deactivate == CONFIG_DEACTIVATE_NONE ? "none" :
		    "disable");
		x->why_out = "disabled in AD";
		return;
	}
	printf("    account          enabled\n");
	if (email_attr != NULL && (mail == NULL || *mail == '\0')) {
		printf("    %-16s none: every user in scope needs one\n", email_attr);
		x->why_out = "no email";
		return;
	}
	if ((dup = duplicate_owner(x, mail)) != NULL) {
		printf("    %-16s \"%s\" is also the mail of %s\n", email_attr, mail,
		    dup);
		snprintf(x->why_buf, sizeof(x->why_buf), "its %s is also %s's",
		    email_attr, dup);
		x->why_out = x->why_buf;
		x->blocked = 1;
		free(dup);
		return;
	}
	if (email_attr != NULL)
		printf("    %-16s \"%s\", no other user has it\n", email_attr, mail);
	if (!x->have_profile) {
		printf("    data             %s %s: %s\n", x->pe.attr ? x->pe.attr : "-",
		    x->pe.value ? x->pe.value : "(missing)",
		    x->pe.msg ? x->pe.msg : "cannot be pushed");
		snprintf(x->why_buf, sizeof(x->why_buf), "its %s cannot be pushed",
		    x->pe.attr ? x->pe.attr : "data");
		x->why_out = x->why_buf;
		x->blocked = 1;
	}
}

/* ------------------------------------------------------------ profile */

/* profile: what AD wants against what was last pushed, field by field. */
static void
profile(struct explain *x)
{
	const json_t *pushed = x->known ? x->u.push.profile : NULL;
	const char *k;
	json_t *v;

	printf("Profile (AD wants / last pushed)\n");
	for (size_t i = 0; i < x->p.n; i++) {
		const char *f = x->p.v[i].field, *want = x->p.v[i].value;
		const char *was = json_string_value(json_object_get(pushed, f));
		int same = pushed != NULL && strcmp(want ? want : "",
		    was ? was : "") == 0;

		printf("    %-16s ", f);
		quoted(want);
		if (pushed == NULL)
			printf("   last pushed: not known\n");
		else if (same)
			printf("   same\n");
		else {
			printf("   last pushed ");
			quoted(was);
			printf("\n");
		}
	}
	json_object_foreach((json_t *)pushed, k, v) {
		if (profile_get(&x->p, k) == NULL && json_string_value(v) != NULL &&
		    *json_string_value(v))
			printf("    %-16s (none)   last pushed \"%s\"\n", k,
			    json_string_value(v));
	}
}

/* at_create: what a create of a user not linked yet would set ([create]). */
static void
at_create(struct explain *x)
{
	struct profile c;
	struct profile_error pe;

	if (x->cfg->create.n == 0 || (x->known &&
	    record_user_phone_id(&x->u) != NULL))
		return;
	printf("Set at create ([create])\n");
	if (profile_build_create(&x->e, &x->cfg->create, &x->p, &c, &pe) < 0) {
		printf("    cannot: %s (%s ", pe.msg, pe.attr);
		quoted(pe.value);
		printf(")\n");
		profile_error_clear(&pe);
		return;
	}
	for (size_t i = 0; i < c.n; i++) {
		printf("    %-16s ", c.v[i].field);
		quoted(c.v[i].value);
		printf("\n");
	}
	if (c.n == 0)
		printf("    (nothing: every value is empty)\n");
	profile_clear(&c);
}

/* role: what [roles] gives the user, as the last scan recorded it. */
static void
role(struct explain *x, const char *guid)
{
	struct record_goal r;
	json_t *cache = NULL;
	const char *want, *done;
	char err[256];

	if (x->cfg->roles.n == 0)
		return;
	printf("Role ([roles])\n");
	if (record_goal_get(x->txn, STORE_ROLES, guid, &r, NULL, 0) != 0) {
		printf("    none: in no rule's group as the last scan read them "
		    "(the phone system's role stays)\n");
		return;
	}
	if (store_get_json(x->txn, STORE_META, SCHEMA_KEY, &cache, err,
	    sizeof(err)) != 0)
		cache = NULL;
	want = schema_role_name(cache, r.want);
	done = r.done != NULL ? schema_role_name(cache, r.done) : NULL;
	if (r.rule != NULL)
		printf("    %s, by the rule \"%s\"\n", want ? want : r.want,
		    r.rule);
	else
		printf("    %s: left every rule's group (manage_roles)\n",
		    want ? want : r.want);
	if (r.failed != NULL && strcmp(r.failed, r.want) == 0)
		printf("    refused by the phone system: %s\n", r.error ? r.error :
		    "(no reason given)");
	else if (r.done != NULL && strcmp(r.done, r.want) == 0)
		printf("    assigned\n");
	else if (record_user_ext_id(&x->u) == NULL)
		printf("    waiting for the link to the phone user\n");
	else
		printf("    waiting: assigned at the pusher's next round%s%s\n",
		    done || r.done ? "; assigned before: " : "", done ? done :
		    r.done ? r.done : "");
	record_goal_clear(&r);
	json_decref(cache);
}

/* photo: the [push] photo as the last scan saw it, and its upload. */
static void
photo(struct explain *x, const char *guid)
{
	struct record_goal r;
	int none;

	if (x->cfg->photo_attr == NULL)
		return;
	printf("Photo ([push] photo = %s)\n", x->cfg->photo_attr);
	if (record_goal_get(x->txn, STORE_PHOTOS, guid, &r, NULL, 0) != 0) {
		printf("    none in AD (a profile image set on the phone side "
		    "stays)\n");
		return;
	}
	none = strcmp(r.want, RECORD_PHOTO_NONE) == 0;
	if (none)
		printf("    none in AD any more\n");
	else
		printf("    in AD: SHA-256 %.16s...\n", r.want);
	if (r.failed != NULL && strcmp(r.failed, r.want) == 0)
		printf("    refused: %s (tried again when the photo changes)\n",
		    r.error ? r.error : "(no reason given)");
	else if (r.done != NULL && strcmp(r.done, r.want) == 0)
		printf("    the phone system's profile image is this photo\n");
	else if (record_user_ext_id(&x->u) == NULL)
		printf("    waiting for the link to the phone user\n");
	else
		printf("    waiting: %s when the pusher's outbox is empty\n", none ?
		    "the profile image ringsync uploaded is removed" : r.done ==
		    NULL ? "compared with the profile image, uploaded if it differs" :
		    "uploaded");
	record_goal_clear(&r);
}

/* ------------------------------------------------------------ queues */

static void
outbox(struct explain *x, const char *guid)
{
	struct record_out o;
	char when[32], left[32];
	long long now = (long long)time(NULL);

	if (record_out_get(x->txn, guid, &o, NULL, 0) != 0) {
		printf("Outbox: nothing waits\n");
		return;
	}
	printf("Outbox: %s waits (reason=%s), queued %s",
	    o.active ? "a push" : "a deactivation", o.reason ? o.reason : "-",
	    ctl_fmt_time((long long)(o.seq / 1000000ULL), when, sizeof(when)));
	if (o.attempts > 0)
		printf(", %u attempt%s so far", o.attempts, o.attempts == 1 ? "" : "s");
	printf("\n");
	if (o.held == RECORD_HOLD_HELD)
		printf("    held: more deactivations than max_deactivations in one "
		    "cycle; review, then ringsyncctl release-deactivations\n");
	else if (o.held == RECORD_HOLD_REVIEW)
		printf("    held until the running scan ends (max_deactivations)\n");
	else if (o.not_before > now)
		printf("    backing off after a failure: not before %s (in %s)\n",
		    ctl_fmt_time(o.not_before, when, sizeof(when)),
		    ctl_fmt_left(o.not_before - now, left, sizeof(left)));
	else
		printf("    due: the pusher sends it at its next round, as the "
		    "phone system's rate limits allow\n");
	record_out_clear(&o);
}

static void
lane_error(const char *lane, const struct record_error *e, int *n)
{
	if (e->msg == NULL)
		return;
	if ((*n)++ == 0)
		printf("Errors\n");
	printf("    %-16s %s (%u failed attempt%s in a row)\n", lane, e->msg,
	    e->failures, e->failures == 1 ? "" : "s");
}

static void
errors(struct explain *x)
{
	int n = 0;

	if (x->known) {
		lane_error("AD data", &x->u.ad.err, &n);
		lane_error("push", &x->u.push.err, &n);
		lane_error("import", &x->u.imp.err, &n);
		lane_error("write-back", &x->u.wb.err, &n);
	}
	if (n == 0)
		printf("Errors: none\n");
}

static void
writeback(struct explain *x, const char *guid)
{
	const struct config *cfg = x->cfg;
	struct record_wb q;
	int queued;

	if (cfg->writeback.n == 0) {
		printf("Write-back: none configured\n");
		return;
	}
	printf("Write-back (AD has / ringsync gave / the numbers give)\n");
	if (x->known && (x->u.imp.direct_number || x->u.imp.extension_number)) {
		line("directNumber", x->u.imp.direct_number);
		line("extensionNumber", x->u.imp.extension_number);
	} else
		printf("    numbers          not imported yet\n");
	for (size_t i = 0; i < cfg->writeback.n; i++) {
		const char *attr = cfg->writeback.v[i].key;
		const char *gave = x->known ? json_string_value(json_object_get(
		    x->u.wb.attrs, attr)) : NULL;
		char *want = x->known && (x->u.imp.direct_number ||
		    x->u.imp.extension_number) ? profile_render(cfg->writeback.v[i].value,
		    x->u.imp.direct_number, x->u.imp.extension_number) : NULL;

		printf("    %-16s ", attr);
		if (x->ad_state == 1)
			quoted(ad_entry_get(&x->e, attr));
		else
			printf("?");
		printf(" / ");
		quoted(gave);
		printf(" / ");
		if (want != NULL)
			quoted(want);
		else
			printf("-");
		printf("\n");
		free(want);
	}
	queued = record_wb_get(x->txn, guid, &q, NULL, 0) == 0;
	if (queued) {
		const char *k;
		json_t *v;

		printf("    queued for AD:");
		json_object_foreach(q.attrs, k, v)
			printf(" %s=\"%s\"", k, json_string_value(v) ?
			    json_string_value(v) : "");
		printf("\n");
		record_wb_clear(&q);
	}
}

/* ------------------------------------------------------------ the user */

static void
ad_section(struct explain *x)
{
	if (x->ad_state < 0) {
		printf("AD: cannot be asked: %s\n", x->ad_err);
		return;
	}
	if (x->ad_state == 0) {
		printf("AD: no such user in the domain");
		if (x->known && x->u.ad.dn != NULL)
			printf(" (the store last saw it at %s%s)", x->u.ad.dn,
			    x->u.ad.deleted ? ", deleted" : "");
		printf("\n");
		return;
	}
	printf("AD\n");
	line("dn", x->e.dn);
	line("objectGUID", x->e.guid);
	line("sAMAccountName", ad_entry_get(&x->e, "sAMAccountName"));
	line("mail", ad_entry_get(&x->e, "mail"));
	if (x->e.problem != NULL)
		printf("    problem          %s: %s\n", x->e.problem_attr ?
		    x->e.problem_attr : "-", x->e.problem);
}

static void
link_section(struct explain *x, char *state, size_t len)
{
	const char *id;

	if (!x->known) {
		printf("Phone user: the store does not know this user yet (the next "
		    "scan that meets it decides)\n");
		snprintf(state, len, "not seen by ringsyncd yet");
		return;
	}
	id = record_user_phone_id(&x->u);
	snprintf(state, len, "%s", sync_user_state(&x->u));
	printf("Phone user: %s\n", state);
	line("scim_id", record_user_scim_id(&x->u));
	line("ext_id", record_user_ext_id(&x->u));
	if (id != NULL)
		printf("    %-16s %s\n", "status", record_user_active(&x->u) ?
		    "active" : "deactivated");
	if (x->u.push.creating)
		printf("    a create was sent and not answered: the next try "
		    "searches by email before creating\n");
}

/* find: the AD entry, by objectGUID when the store knows the user. */
static void
find(struct explain *x, struct ev_loop *loop, const char *guid)
{
	const char *attrs[MAX_FIND_ATTRS];
	size_t n = 0;
	int rc;

	attrs[n++] = "sAMAccountName";
	attrs[n++] = "mail";
	attrs[n++] = "userPrincipalName";
	for (size_t i = 0; i < x->cfg->push.n && n < MAX_FIND_ATTRS; i++)
		n += config_pair_attrs(&x->cfg->push.v[i], attrs + n,
		    MAX_FIND_ATTRS - n);
	for (size_t i = 0; i < x->cfg->create.n && n < MAX_FIND_ATTRS; i++)
		n += config_pair_attrs(&x->cfg->create.v[i], attrs + n,
		    MAX_FIND_ATTRS - n);
	for (size_t i = 0; i < x->cfg->policy.n && n < MAX_FIND_ATTRS; i++)
		n += config_pair_attrs(&x->cfg->policy.v[i], attrs + n,
		    MAX_FIND_ATTRS - n);
	for (size_t i = 0; i < x->cfg->writeback.n && n < MAX_FIND_ATTRS; i++)
		attrs[n++] = x->cfg->writeback.v[i].key;
	x->ad = ad_new(loop, x->cfg);
	rc = ad_connect(x->ad, x->ad_err, sizeof(x->ad_err));
	if (rc == 0)
		rc = ad_find_user(x->ad, guid ? guid : x->name, attrs, n, &x->e,
		    x->ad_err, sizeof(x->ad_err));
	x->ad_state = rc == 2 ? 2 : rc;
}

int
ctl_explain(const struct config *cfg, int argc, char **argv)
{
	struct explain x;
	struct store *st;
	struct ev_loop *loop;
	char guid[AD_GUID_LEN + 1] = "", *g, err[512], state[64];
	int rc = 0;

	if (argc != 1)
		return -1;
	memset(&x, 0, sizeof(x));
	x.cfg = cfg;
	x.name = argv[0];
	if (store_open(cfg->sync.state_dir, STORE_RDONLY, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	g = ctl_store_guid(st, x.name);
	loop = ev_loop_new(EVFLAG_AUTO);
	find(&x, loop, g);
	if (x.ad_state == 2) {
		fprintf(stderr, "ringsyncctl: %s names more than one AD user: give the "
		    "DN or the objectGUID\n", x.name);
		rc = 1;
		goto out;
	}
	if (x.ad_state == 1)
		snprintf(guid, sizeof(guid), "%s", x.e.guid);
	else if (g != NULL)
		snprintf(guid, sizeof(guid), "%s", g);
	if (store_begin(st, 1, &x.txn, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringsyncctl: %s\n", err);
		rc = CTL_EXIT_CONFIG;
		goto out;
	}
	x.known = *guid && record_user_get(x.txn, guid, &x.u, NULL, 0) == 0;
	if (x.ad_state != 1 && !x.known) {
		fprintf(stderr, "ringsyncctl: no user %s: %s\n", x.name,
		    x.ad_state < 0 ? x.ad_err : "neither the state store nor AD "
		    "knows it");
		rc = x.ad_state < 0 ? CTL_EXIT_UNREACHABLE : 1;
		goto out;
	}
	if (x.ad_state == 1)
		x.have_profile = profile_build(&x.e, &cfg->push, &x.p, &x.pe) == 0;
	if (x.have_profile && config_map_pair(&cfg->policy, "site") != NULL) {
		/* The site the scan would resolve is part of the profile. */
		json_t *cache = NULL;
		char *id = NULL;

		if (store_get_json(x.txn, STORE_META, SCHEMA_KEY, &cache, err,
		    sizeof(err)) != 0)
			cache = NULL;
		if (profile_resolve(&x.e, config_map_pair(&cfg->policy, "site"),
		    schema_account_list(cache, "sites"), "site", &id, &x.pe) < 0) {
			profile_clear(&x.p);
			x.have_profile = 0;
		} else if (id != NULL) {
			profile_set(&x.p, "site", id);
		}
		free(id);
		json_decref(cache);
	}

	printf("User %s (objectGUID %s)\n", x.name, guid);
	ad_section(&x);
	if (x.ad_state == 1)
		scope(&x);
	link_section(&x, state, sizeof(state));
	if (x.have_profile) {
		profile(&x);
		at_create(&x);
	}
	role(&x, guid);
	photo(&x, guid);
	outbox(&x, guid);
	errors(&x);
	writeback(&x, guid);

	printf("In short: ");
	if (x.ad_state < 0)
		printf("AD could not be asked; ");
	else if (x.ad_state == 0)
		printf("gone from AD; ");
	else if (x.why_out != NULL)
		printf("%s (%s); ", x.blocked ? "in scope, but held back" :
		    "out of scope", x.why_out);
	else
		printf("in scope; ");
	printf("%s", state);
	if (x.have_profile && x.why_out == NULL && x.known &&
	    record_user_phone_id(&x.u) != NULL) {
		char hash[PROFILE_HASH_LEN + 1];

		profile_hash(&x.p, hash);
		printf("; %s", strcmp(hash, x.u.push.pushed) == 0 ?
		    "the profile last pushed is the one AD wants" :
		    "AD wants a profile not pushed yet");
	}
	printf("\n");
	if (x.ad_state < 0)
		rc = CTL_EXIT_UNREACHABLE;
out:
	if (x.txn != NULL)
		store_abort(x.txn);
	if (x.known)
		record_user_clear(&x.u);
	if (x.ad_state == 1)
		ad_entry_clear(&x.e);
	profile_clear(&x.p);
	profile_error_clear(&x.pe);
	if (x.ad != NULL)
		ad_free(x.ad);
	ev_loop_destroy(loop);
	free(g);
	store_close(st);
	return rc;
}

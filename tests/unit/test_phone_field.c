/*
 * Unit tests for common/phone_field: the registry walked row by row against
 * what the configuration accepts, what profile_build makes of a value, where
 * phone_json puts it, what the schema check and the error messages call it,
 * and what ringsyncd.conf and ringsyncd.conf(5) document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <strings.h>

#include "config.h"
#include "phone.h"
#include "profile.h"
#include "schema.h"
#include "testutil.h"

static const unsigned char guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16 };

/* ---------------------------------------------------------------------
 * The table itself */

/* derived_attr: the schema attribute a SCIM path names (phone_field.h). */
static void
derived_attr(const char *path, char *buf, size_t len)
{
	char parent[128];
	const char *p = path, *open, *close;
	size_t n;

	if (strncmp(p, "urn:", 4) == 0)
		p = phone_field_leaf(p, parent, sizeof(parent));
	open = strchr(p, '[');
	close = open ? strchr(open, ']') : NULL;
	if (close == NULL) {
		snprintf(buf, len, "%s", p);
		return;
	}
	snprintf(buf, len, "%.*s%s", (int)(open - p), p, close + 1);
	n = strlen(buf);
	if (n > 6 && strcmp(buf + n - 6, ".value") == 0)
		buf[n - 6] = '\0';
}

static void
test_table(void **state)
{
	char attr[128];
	int countries = 0;

	(void)state;
	for (int f = 0; f < PHONE_F_END; f++) {
		const struct phone_field_info *fi = phone_field_get(f);

		assert_non_null(fi);
		assert_int_equal(fi->id, f);
		assert_true(*fi->name != '\0');
		assert_string_equal(phone_field_name(f), fi->name);
		for (int g = 0; g < f; g++)
			assert_true(strcasecmp(fi->name, phone_field_name(g)) != 0);
		if (f >= PHONE_NFIELDS) {
			/* written back: no path to push it to, nothing to default */
			assert_int_equal(fi->dir, PHONE_FIELD_WRITEBACK);
			assert_null(fi->scim);
			assert_null(fi->rest);
			assert_null(fi->ad_default);
			assert_false(fi->required);
			assert_int_equal(phone_field_from_name(fi->name), -1);
			continue;
		}
		assert_int_equal(fi->dir, PHONE_FIELD_PUSH);
		assert_non_null(fi->scim);
		assert_non_null(fi->rest);
		assert_int_equal(strncmp(fi->rest, "contact.", 8), 0);
		derived_attr(fi->scim, attr, sizeof(attr));
		assert_string_equal(fi->scim_attr, attr);
		assert_int_equal(phone_field_from_name(fi->name), f);
		countries += fi->kind == PHONE_FIELD_COUNTRY;
	}
	assert_int_equal(countries, 1);
	assert_ptr_equal(phone_field_of_kind(PHONE_FIELD_COUNTRY),
	    phone_field_get(PHONE_F_COUNTRY));
	/* the email joins AD users to phone users: it must be there */
	assert_true(phone_field_get(PHONE_F_EMAIL)->required);
	assert_int_equal(phone_field_get(PHONE_F_EMAIL)->kind, PHONE_FIELD_EMAIL);
	assert_null(phone_field_get(PHONE_F_END));
	assert_null(phone_field_get((enum phone_field)-1));
	assert_string_equal(phone_field_name(PHONE_F_END), "unknown");
	assert_int_equal(phone_field_from_name("custom.Cost Center"), -1);
	assert_int_equal(phone_field_from_name(NULL), -1);
}

static void
test_leaf(void **state)
{
	char parent[128];

	(void)state;
	assert_string_equal(phone_field_leaf("name.givenName", parent,
	    sizeof(parent)), "givenName");
	assert_string_equal(parent, "name");
	assert_string_equal(phone_field_leaf("phoneNumbers[type=mobile].value",
	    parent, sizeof(parent)), "value");
	assert_string_equal(parent, "phoneNumbers[type=mobile]");
	assert_string_equal(phone_field_leaf("title", parent, sizeof(parent)),
	    "title");
	assert_string_equal(parent, "");
	assert_string_equal(phone_field_leaf("urn:ietf:params:scim:schemas:"
	    "extension:enterprise:2.0:User:department", parent, sizeof(parent)),
	    "department");
	assert_string_equal(parent, "urn:ietf:params:scim:schemas:extension:"
	    "enterprise:2.0:User");
}

/* ---------------------------------------------------------------------
 * Configuration */

/* load_push: a configuration with push_text in [push]; rc of config_load. */
static int
load_push(const char *push_text, const char *writeback_text,
    struct config **cfg, struct config_problems *pr)
{
	static const char *dir;
	char *text, *path;
	int rc;

	if (dir == NULL)
		dir = tu_tmpdir();
	text = xasprintf("[ldap]\nuri = ldaps://dc1.example.test\n"
	    "base_dn = DC=example,DC=test\nbind_dn = CN=svc,DC=example,DC=test\n"
	    "bind_password_file = %s/none\n[telephony]\nclient_id = abc\n"
	    "client_secret_file = %s/none\n[push]\n%s[writeback]\n%s", dir, dir,
	    push_text, writeback_text);
	path = tu_write(dir, "ringsyncd.conf", text, 0600);

	memset(pr, 0, sizeof(*pr));
	rc = config_load(path, CONFIG_NO_FILE_CHECKS, cfg, pr);
	free(text);
	free(path);
	return rc;
}

static void
test_config_accepts_every_field(void **state)
{
	struct config_problems pr;
	struct config *cfg;

	(void)state;
	/* the defaults are the table's */
	assert_int_equal(load_push("", "", &cfg, &pr), 0);
	for (int f = 0; f < PHONE_NFIELDS; f++) {
		const char *def = phone_field_get(f)->ad_default;
		const char *got = config_map_get(&cfg->push, phone_field_name(f));

		if (def == NULL)
			assert_null(got);
		else
			assert_string_equal(got, def);
	}
	config_free(cfg);
	for (int f = 0; f < PHONE_F_END; f++) {
		char *line, upper[64], *tpl, err[128];
		size_t i;

		if (f >= PHONE_NFIELDS) {
			/* a written-back field is a template's {name} ... */
			tpl = xasprintf("{%s}", phone_field_name(f));
			assert_int_equal(config_template_check(tpl, err, sizeof(err)), 0);
			line = xasprintf("pager = %s\n", tpl);
			assert_int_equal(load_push("", line, &cfg, &pr), 0);
			config_free(cfg);
			free(line);
			/* ... and no [push] key */
			line = xasprintf("%s = pager\n", phone_field_name(f));
			assert_int_equal(load_push(line, "", &cfg, &pr), -1);
			assert_non_null(strstr(pr.v[0], f == PHONE_F_EXTENSION_NUMBER ?
			    "the phone system masters the extension number" :
			    "unknown phone field"));
			config_problems_free(&pr);
			free(line);
			free(tpl);
			continue;
		}
		/* a pushed field is a [push] key in any case, kept as spelled here */
		for (i = 0; phone_field_name(f)[i] && i + 1 < sizeof(upper); i++)
			upper[i] = (char)toupper((unsigned char)phone_field_name(f)[i]);
		upper[i] = '\0';
		line = xasprintf("%s = extensionAttribute1\n", upper);
		assert_int_equal(load_push(line, "", &cfg, &pr), 0);
		assert_string_equal(config_map_get(&cfg->push, phone_field_name(f)),
		    "extensionAttribute1");
		for (i = 0; i < cfg->push.n; i++)
			if (strcasecmp(cfg->push.v[i].key, upper) == 0)
				assert_string_equal(cfg->push.v[i].key, phone_field_name(f));
		config_free(cfg);
		free(line);
	}
}

/* The message for an unknown [push] key lists every pushed field. */
static void
test_config_lists_fields(void **state)
{
	struct config_problems pr;
	struct config *cfg;
	char want[512];
	size_t o = 0;

	(void)state;
	for (int f = 0; f < PHONE_NFIELDS; f++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%s ",
		    phone_field_name(f));
	snprintf(want + o, sizeof(want) - o, "custom.<name>)");
	assert_int_equal(load_push("nickname = displayName\n", "", &cfg, &pr), -1);
	assert_int_equal(pr.n, 1);
	assert_non_null(strstr(pr.v[0], want));
	config_problems_free(&pr);
	assert_int_equal(load_push("jobTitel = title\n", "", &cfg, &pr), -1);
	assert_non_null(strstr(pr.v[0], "(did you mean 'jobTitle'?)"));
	config_problems_free(&pr);
}

/* ---------------------------------------------------------------------
 * Profiles */

/* A value of each kind, what profile_build makes of it, and a bad one. */
static const struct {
	enum phone_field_kind kind;
	const char *in, *out, *bad;
} samples[] = {
	{ PHONE_FIELD_TEXT, "  Field Ops  ", "Field Ops", NULL },
	{ PHONE_FIELD_EMAIL, "kim@example.com", "kim@example.com", "kim at example" },
	{ PHONE_FIELD_PHONE, "(650) 555-0101", "+16505550101", "ask Kim" },
	{ PHONE_FIELD_STATE, "ca", "CA", "Calif." },
	{ PHONE_FIELD_COUNTRY, "united states", "US", "Narnia" },
};

/*
 * build_one: profile_build of an entry with the required fields, and
 * field f (attribute "f<index>") = value ("": absent). Returns its rc.
 */
static int
build_one(int f, const char *value, struct profile *p,
    struct profile_error *err)
{
	struct ad_raw raw[PHONE_NFIELDS + 1] = {
		{ "objectGUID", (const char *)guid, 16 },
	};
	struct config_pair pairs[PHONE_NFIELDS];
	struct config_map push = { pairs, 0 };
	char attrs[PHONE_NFIELDS][8];
	struct ad_entry e;
	size_t n = 1;
	int rc;

	for (int g = 0; g < PHONE_NFIELDS; g++) {
		const char *v = g == f ? value : g == PHONE_F_EMAIL ?
		    "kim@example.com" : "Kim";

		if (g != f && !phone_field_get(g)->required)
			continue;
		snprintf(attrs[g], sizeof(attrs[g]), "f%d", g);
		pairs[push.n].key = (char *)phone_field_name(g);
		pairs[push.n].value = attrs[g];
		pairs[push.n].line = 0;
		pairs[push.n++].expr = NULL;
		if (*v != '\0') {
			raw[n].attr = attrs[g];
			raw[n].val = v;
			raw[n++].len = strlen(v);
		}
	}
	assert_int_equal(ad_entry_build(&e, "CN=Kim,DC=x", raw, n, "mail"), 0);
	rc = profile_build(&e, &push, p, err);
	ad_entry_clear(&e);
	return rc;
}

static void
test_profile_normalises_by_kind(void **state)
{
	struct profile p;
	struct profile_error err;

	(void)state;
	for (int f = 0; f < PHONE_NFIELDS; f++) {
		const struct phone_field_info *fi = phone_field_get(f);
		size_t k = 0;

		while (samples[k].kind != fi->kind)
			k++;
		assert_int_equal(build_one(f, samples[k].in, &p, &err), 0);
		assert_string_equal(profile_get(&p, fi->name), samples[k].out);
		profile_clear(&p);
		if (samples[k].bad != NULL) {
			assert_int_equal(build_one(f, samples[k].bad, &p, &err), -1);
			assert_string_equal(err.field, fi->name);
			profile_error_clear(&err);
		}
		/* empty: an error for a required field, cleared otherwise */
		if (fi->required) {
			assert_int_equal(build_one(f, "", &p, &err), -1);
			assert_string_equal(err.field, fi->name);
			assert_non_null(strstr(err.msg, "is empty"));
			profile_error_clear(&err);
		} else {
			assert_int_equal(build_one(f, "", &p, &err), 0);
			assert_string_equal(profile_get(&p, fi->name), "");
			profile_clear(&p);
		}
	}
}

/* ---------------------------------------------------------------------
 * Request bodies, schema, error messages */

/*
 * at_path: the string at a registry path in j: dotted members, an
 * extension URN as one member, attr[type=X] the element of array attr
 * whose type is X. NULL when absent.
 */
static const char *
at_path(const json_t *j, const char *path)
{
	char buf[256], *seg, *save = NULL, *open;

	snprintf(buf, sizeof(buf), "%s", path);
	if (strncmp(buf, "urn:", 4) == 0) {
		char *colon = strrchr(buf, ':');

		*colon = '\0';
		j = json_object_get(j, buf);
		return json_string_value(json_object_get(j, colon + 1));
	}
	for (seg = strtok_r(buf, ".", &save); seg != NULL && j != NULL;
	    seg = strtok_r(NULL, ".", &save)) {
		const json_t *e, *pick = NULL;
		size_t i;

		if ((open = strchr(seg, '[')) == NULL) {
			j = json_object_get(j, seg);
			continue;
		}
		*open = '\0';
		open[strlen(open + 1)] = '\0'; /* the ']' */
		json_array_foreach(json_object_get(j, seg), i, e)
			if (strcmp(json_string_value(json_object_get(e, "type")),
			    strchr(open + 1, '=') + 1) == 0)
				pick = e;
		j = pick;
	}
	return json_string_value(j);
}

/* api_form: a registry SCIM path as the API names it in errors. */
static void
api_form(const char *path, char *buf, size_t len)
{
	const char *open = strchr(path, '['), *close;

	if (open == NULL || (close = strchr(open, ']')) == NULL) {
		snprintf(buf, len, "%s", path);
		return;
	}
	snprintf(buf, len, "%.*s[type eq \"%.*s\"]%s", (int)(open - path), path,
	    (int)(close - strchr(open, '=') - 1), strchr(open, '=') + 1,
	    close + 1);
}

static void
test_bodies_put_every_field_at_its_path(void **state)
{
	char err[128], param[256];

	(void)state;
	for (int f = 0; f < PHONE_NFIELDS; f++) {
		const struct phone_field_info *fi = phone_field_get(f);
		struct phone_profile prof = { 0 };
		struct phone_bulk_item item = { 101, &prof, "Enabled", NULL, NULL };
		struct phone_extension x;
		json_t *rec, *body;
		char *value = xasprintf("v-%s", fi->name);

		for (int g = 0; g < PHONE_NFIELDS; g++)
			if (phone_field_get(g)->required)
				prof.field[g] = "r";
		prof.field[f] = value;
		rec = phone_bulk_record(&item);
		assert_string_equal(at_path(rec, fi->rest), value);
		/* what is sent is read back into the same field (the bulk record's
		 * id is a string, an extension record's an integer) */
		assert_string_equal(json_string_value(json_object_get(rec, "id")),
		    "101");
		json_object_set_new(rec, "id", json_integer(101));
		assert_int_equal(phone_parse_extension(rec, &x, err, sizeof(err)), 0);
		assert_string_equal(x.field[f], value);
		phone_extension_clear(&x);
		body = phone_scim_create_body(&prof, "guid", err, sizeof(err));
		assert_non_null(body);
		assert_string_equal(at_path(body, fi->scim), value);
		json_decref(rec);
		json_decref(body);
		/* the schema check and the error messages name it */
		assert_string_equal(schema_scim_attr(fi->name), fi->scim_attr);
		assert_string_equal(phone_param_field(fi->rest), fi->name);
		snprintf(param, sizeof(param), "extension.%s", fi->rest);
		assert_string_equal(phone_param_field(param), fi->name);
		api_form(fi->scim, param, sizeof(param));
		assert_string_equal(phone_param_field(param), fi->name);
		free(value);
	}
	assert_null(schema_scim_attr("custom.Cost Center"));
}

/* The bytes sent for a full profile, member order included. */
static void
test_body_bytes(void **state)
{
	static const char *const v[PHONE_NFIELDS] = {
		"Ann", "Lee", "ann@example.com", "+16505550101", "+16505550102",
		"1 Main St", "Springfield", "CA", "94000", "US", "Sales", "Rep",
	};
	struct phone_profile prof = { 0 };
	struct phone_bulk_item item = { 42, &prof, NULL, NULL, NULL };
	char err[64], *s;
	json_t *j;

	(void)state;
	for (int f = 0; f < PHONE_NFIELDS; f++)
		prof.field[f] = v[f];
	j = phone_bulk_record(&item);
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"id\":\"42\",\"contact\":{\"firstName\":\"Ann\","
	    "\"lastName\":\"Lee\",\"email\":\"ann@example.com\",\"mobilePhone\":"
	    "\"+16505550101\",\"businessPhone\":\"+16505550102\",\"department\":"
	    "\"Sales\",\"jobTitle\":\"Rep\",\"businessAddress\":{\"street\":"
	    "\"1 Main St\",\"city\":\"Springfield\",\"state\":\"CA\",\"zip\":"
	    "\"94000\",\"country\":\"US\"}}}");
	free(s);
	json_decref(j);
	j = phone_scim_create_body(&prof, "guid", err, sizeof(err));
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"schemas\":[\"urn:ietf:params:scim:schemas:"
	    "core:2.0:User\",\"urn:ietf:params:scim:schemas:extension:enterprise:"
	    "2.0:User\"],\"userName\":\"ann@example.com\",\"name\":{\"givenName\":"
	    "\"Ann\",\"familyName\":\"Lee\"},\"emails\":[{\"type\":\"work\","
	    "\"value\":\"ann@example.com\",\"primary\":true}],\"active\":true,"
	    "\"externalId\":\"guid\",\"phoneNumbers\":[{\"type\":\"work\","
	    "\"value\":\"+16505550102\"},{\"type\":\"mobile\",\"value\":"
	    "\"+16505550101\"}],\"addresses\":[{\"streetAddress\":\"1 Main St\","
	    "\"locality\":\"Springfield\",\"region\":\"CA\",\"postalCode\":"
	    "\"94000\",\"country\":\"US\",\"type\":\"work\"}],\"title\":\"Rep\","
	    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
	    "{\"department\":\"Sales\"}}");
	free(s);
	json_decref(j);
}

static void
test_render_every_writeback_field(void **state)
{
	(void)state;
	for (int f = PHONE_NFIELDS; f < PHONE_F_END; f++) {
		char *tpl = xasprintf("<{%s}>", phone_field_name(f));
		char *out = profile_render(tpl, "+16505550100", "101");

		assert_string_equal(out, f == PHONE_F_DIRECT_NUMBER ?
		    "<+16505550100>" : "<101>");
		free(out);
		free(tpl);
	}
}

/* ---------------------------------------------------------------------
 * Documentation */

/* section_text: the lines of [name] in the sample configuration. */
static char *
sample_section(const char *name)
{
	const char *src = getenv("RINGSYNC_SOURCE_DIR");
	char *path, line[512], section[64] = "", *out = xstrdup("");
	FILE *f;

	assert_non_null(src);
	path = xasprintf("%s/etc/ringsyncd.conf", src);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *t;

		if (sscanf(line, "[%63[^]]]", section) == 1 ||
		    strcmp(section, name) != 0)
			continue;
		t = xasprintf("%s%s", out, line);
		free(out);
		out = t;
	}
	fclose(f);
	free(path);
	return out;
}

/* has_word: text names word, not as part of a longer name. */
static int
has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = text; (s = strstr(s, word)) != NULL; s++)
		if ((s == text || !isalnum((unsigned char)s[-1])) &&
		    !isalnum((unsigned char)s[n]))
			return 1;
	return 0;
}

/*
 * etc/ringsyncd.conf: a pushed field with a default as "; name = default"
 * in [push], one without named there, a written-back one as {name} in
 * [writeback].
 */
static void
test_sample_documents_every_field(void **state)
{
	char *push = sample_section("push"), *wb = sample_section("writeback");
	int bad = 0;

	(void)state;
	for (int f = 0; f < PHONE_F_END; f++) {
		const struct phone_field_info *fi = phone_field_get(f);
		char *want = fi->dir == PHONE_FIELD_WRITEBACK ?
		    xasprintf("{%s}", fi->name) : fi->ad_default != NULL ?
		    xasprintf("; %s = %s\n", fi->name, fi->ad_default) :
		    xstrdup(fi->name);
		int found = fi->dir == PHONE_FIELD_WRITEBACK ?
		    strstr(wb, want) != NULL : fi->ad_default != NULL ?
		    strstr(push, want) != NULL : has_word(push, want);

		if (!found) {
			fprintf(stderr, "etc/ringsyncd.conf lacks %.*s in [%s]\n",
			    (int)strcspn(want, "\n"), want,
			    fi->dir == PHONE_FIELD_WRITEBACK ? "writeback" : "push");
			bad = 1;
		}
		free(want);
	}
	free(push);
	free(wb);
	assert_false(bad);
}

/* man_read: the page, newly allocated. */
static char *
man_read(void)
{
	const char *src = getenv("RINGSYNC_SOURCE_DIR");
	char *path, *text;
	FILE *f;
	long n;

	assert_non_null(src);
	path = xasprintf("%s/packaging/man/ringsyncd.conf.5", src);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = xcalloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	free(path);
	return text;
}

/* man_section: the body of ".Ss [name] section", newly allocated. */
static char *
man_section(const char *page, const char *name)
{
	char *head = xasprintf(".Ss [%s] section\n", name), *out;
	const char *s = strstr(page, head), *end;

	assert_non_null(s);
	s += strlen(head);
	end = strstr(s, "\n.Ss ");
	if (end == NULL)
		end = strstr(s, "\n.Sh ");
	if (end == NULL)
		end = s + strlen(s);
	out = xasprintf("%.*s", (int)(end - s), s);
	free(head);
	return out;
}

/* man_item: the entry ".It Cm name ..." of section up to the next .It/.El. */
static char *
man_item(const char *section, const char *name)
{
	char *head = xasprintf("\n.It Cm %s No = Ar attribute\n", name);
	const char *s = strstr(section, head), *end, *el;

	free(head);
	if (s == NULL)
		return NULL;
	s += 1;
	end = strstr(s + 1, "\n.It ");
	el = strstr(s + 1, "\n.El");
	if (end == NULL || (el != NULL && el < end))
		end = el;
	return xasprintf("%.*s", (int)(end ? end - s : (long)strlen(s)), s);
}

/* What the page must say of a field of each kind. */
static const char *
kind_words(enum phone_field_kind k)
{
	switch (k) {
	case PHONE_FIELD_EMAIL:
		return "email address";
	case PHONE_FIELD_PHONE:
		return "E.164";
	case PHONE_FIELD_STATE:
		return "state name";
	case PHONE_FIELD_COUNTRY:
		return "ISO 3166";
	case PHONE_FIELD_TEXT:
		break;
	}
	return NULL;
}

/* man_check_push: one pushed field's entry; 0, or 1 after a message. */
static int
man_check_push(const char *push, const struct phone_field_info *fi)
{
	char *item = man_item(push, fi->name), *def;
	int bad = 0;

	if (item == NULL) {
		fprintf(stderr, "ringsyncd.conf.5 lacks [push] %s\n", fi->name);
		return 1;
	}
	def = fi->ad_default ? xasprintf("Default:\n.Ql %s .", fi->ad_default) :
	    xstrdup("Default: not pushed.");
	if (strstr(item, def) == NULL) {
		fprintf(stderr, "ringsyncd.conf.5: [push] %s lacks '%s'\n",
		    fi->name, def);
		bad = 1;
	}
	if (kind_words(fi->kind) && !strstr(item, kind_words(fi->kind))) {
		fprintf(stderr, "ringsyncd.conf.5: [push] %s does not say '%s'\n",
		    fi->name, kind_words(fi->kind));
		bad = 1;
	}
	if (fi->required && !strstr(item, "May not be empty")) {
		fprintf(stderr, "ringsyncd.conf.5: [push] %s does not say it may "
		    "not be empty\n", fi->name);
		bad = 1;
	}
	free(def);
	free(item);
	return bad;
}

/*
 * ringsyncd.conf(5): every pushed field as ".It Cm name No = Ar attribute"
 * in [push] with its default, what its kind means and whether it may be
 * empty; every written-back field as {name} in [writeback]; and no [push]
 * entry that is not a field (or custom.).
 */
static void
test_manpage_documents_every_field(void **state)
{
	char *page = man_read(), *push = man_section(page, "push");
	char *wb = man_section(page, "writeback"), name[64];
	int bad = 0;

	(void)state;
	for (int f = 0; f < PHONE_F_END; f++) {
		const struct phone_field_info *fi = phone_field_get(f);
		char *want;

		if (fi->dir == PHONE_FIELD_PUSH) {
			bad |= man_check_push(push, fi);
			continue;
		}
		want = xasprintf(".Li {%s}", fi->name);
		if (strstr(wb, want) == NULL) {
			fprintf(stderr, "ringsyncd.conf.5: [writeback] lacks %s\n", want);
			bad = 1;
		}
		free(want);
	}
	for (const char *s = push; (s = strstr(s, "\n.It Cm ")) != NULL; s++)
		if (sscanf(s, "\n.It Cm %63[A-Za-z0-9_.]", name) == 1 &&
		    strcmp(name, "custom.") != 0 && strcmp(name, "photo") != 0 &&
		    phone_field_from_name(name) < 0) { /* photo: a key, no field */
			fprintf(stderr, "ringsyncd.conf.5 documents [push] %s, which is "
			    "no field\n", name);
			bad = 1;
		}
	free(push);
	free(wb);
	free(page);
	assert_false(bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_leaf),
		cmocka_unit_test(test_config_accepts_every_field),
		cmocka_unit_test(test_config_lists_fields),
		cmocka_unit_test(test_profile_normalises_by_kind),
		cmocka_unit_test(test_bodies_put_every_field_at_its_path),
		cmocka_unit_test(test_body_bytes),
		cmocka_unit_test(test_render_every_writeback_field),
		cmocka_unit_test(test_sample_documents_every_field),
		cmocka_unit_test(test_manpage_documents_every_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

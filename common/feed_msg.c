/*
 * feed_msg: the change feed's messages, pure (feed.h). Every message is a
 * JSON array [meta, body]; what ringsync needs of each is copied into a
 * struct feed_msg, and anything it does not know is left alone, so that a
 * server that adds fields (or sends a type this code has never seen) is
 * no error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feed.h"
#include "util.h"

static const char *
str_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
copy_str(char *dst, size_t len, const json_t *o, const char *key)
{
	const char *v = str_of(o, key);

	if (v != NULL && dst[0] == '\0')
		snprintf(dst, len, "%s", v);
}

static long long
int_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	/* A count of seconds: a server that sends 1.5 means at least 1. */
	return json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 1e15 ? (long long)json_number_value(v) : -1;
}

/* id_of: an id sent as a string of digits or an integer; -1 when neither. */
static long long
id_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (long long)json_integer_value(v) :
		    -1;
	if (!json_is_string(v) || *(s = json_string_value(v)) == '\0')
		return -1;
	n = strtoll(s, &end, 10);
	return *end == '\0' && n > 0 ? n : -1;
}

int
feed_source_of(const char *event)
{
	static const char prefix[] = "/restapi/v1.0/account/";
	const char *p, *end;
	size_t n;

	if (event == NULL || strncmp(event, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	p = event + sizeof(prefix) - 1;
	if ((p = strchr(p, '/')) == NULL || p == event + sizeof(prefix) - 1)
		return -1;
	end = strchr(p, '?');
	n = end != NULL ? (size_t)(end - p) : strlen(p);
	if (n == strlen("/extension") && strncmp(p, "/extension", n) == 0)
		return FEED_SRC_EXTENSION;
	if (n == strlen("/directory/entries") &&
	    strncmp(p, "/directory/entries", n) == 0)
		return FEED_SRC_DIRECTORY;
	return -1;
}

static enum feed_event
event_of(const json_t *o)
{
	const char *t = str_of(o, "eventType");

	if (t == NULL)
		return FEED_EV_UPDATE;
	if (strcmp(t, "Create") == 0)
		return FEED_EV_CREATE;
	if (strcmp(t, "Delete") == 0)
		return FEED_EV_DELETE;
	return FEED_EV_UPDATE;
}

static unsigned int
hints_of(const json_t *o)
{
	const json_t *a = json_object_get(o, "hints"), *h;
	unsigned int out = 0;
	size_t i;

	json_array_foreach(a, i, h) {
		const char *s = json_is_string(h) ? json_string_value(h) : "";

		if (strcmp(s, "CompanyNumbers") == 0)
			out |= FEED_HINT_NUMBERS;
		else if (strcmp(s, "ExtensionInfo") == 0)
			out |= FEED_HINT_INFO;
		else if (strcmp(s, "AccountStatus") == 0)
			out |= FEED_HINT_STATUS;
		else
			out |= FEED_HINT_OTHER;
	}
	return out;
}

static struct feed_change *
change_add(struct feed_msg *m, size_t cap)
{
	struct feed_change *c;

	if (m->ch == NULL)
		m->ch = xcalloc(cap, sizeof(*m->ch));
	c = &m->ch[m->nch++];
	memset(c, 0, sizeof(*c));
	return c;
}

/* The extension filter: one record, or a list of them under extensions. */
static void
parse_ext(struct feed_msg *m, const json_t *body)
{
	const json_t *list = json_object_get(body, "extensions"), *one;
	size_t i, n = json_is_array(list) ? json_array_size(list) : 1;

	if (!json_is_array(list)) {
		list = NULL;
		one = body;
	}
	for (i = 0; i < n; i++) {
		struct feed_change *c;
		long long id;

		if (list != NULL)
			one = json_array_get(list, i);
		if (!json_is_object(one) || (id = id_of(one, "extensionId")) < 0)
			continue;
		c = change_add(m, n);
		c->ext_id = id;
		c->source = FEED_SRC_EXTENSION;
		c->ev = event_of(one);
		c->hints = hints_of(one);
	}
}

/*
 * The directory filter: the entry itself (its "id", or an "extensionId"
 * beside it); an entry that does not read as the list's records do is
 * still a change of that extension, without its data.
 */
static void
parse_dir(struct feed_msg *m, const json_t *body)
{
	struct feed_change *c;
	char err[256];
	long long id = id_of(body, "id");

	if (id < 0)
		id = id_of(body, "extensionId");
	if (id < 0)
		return;
	c = change_add(m, 1);
	c->ext_id = id;
	c->source = FEED_SRC_DIRECTORY;
	c->ev = event_of(body);
	if (c->ev != FEED_EV_DELETE && json_object_get(body, "id") != NULL &&
	    phone_parse_dir_entry(body, &c->entry, err, sizeof(err)) == 0 &&
	    c->entry.id == id)
		c->has_entry = 1;
	else
		phone_dir_entry_clear(&c->entry);
}

static enum feed_msg_type
type_of(const char *t)
{
	static const struct {
		const char *name;
		enum feed_msg_type type;
	} types[] = {
		{ "ConnectionDetails", FEED_MSG_DETAILS },
		{ "ClientRequest", FEED_MSG_REQUEST },
		{ "ServerNotification", FEED_MSG_NOTIFICATION },
		{ "Heartbeat", FEED_MSG_HEARTBEAT },
		{ "Error", FEED_MSG_ERROR },
	};

	for (size_t i = 0; t != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].name) == 0)
			return types[i].type;
	return FEED_MSG_OTHER;
}

/* errors_of: errorCode and message of o, or of its errors[0]. */
static void
errors_of(struct feed_msg *m, const json_t *o)
{
	const json_t *errs = json_object_get(o, "errors");

	copy_str(m->error_code, sizeof(m->error_code), o, "errorCode");
	copy_str(m->error_message, sizeof(m->error_message), o, "message");
	if (json_is_array(errs) && json_is_object(json_array_get(errs, 0))) {
		copy_str(m->error_code, sizeof(m->error_code),
		    json_array_get(errs, 0), "errorCode");
		copy_str(m->error_message, sizeof(m->error_message),
		    json_array_get(errs, 0), "message");
	}
}

int
feed_msg_parse(const char *buf, size_t len, struct feed_msg *out, char *err,
    size_t errlen)
{
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *meta, *body, *wsc;
	const char *tok;

	memset(out, 0, sizeof(*out));
	out->recovery_timeout = out->idle_timeout = out->absolute_timeout = -1;
	if (root == NULL || !json_is_array(root) ||
	    !json_is_object(meta = json_array_get(root, 0))) {
		json_decref(root);
		return util_errbuf_set(err, errlen, "not a [meta, body] message");
	}
	body = json_array_get(root, 1);
	if (!json_is_object(body))
		body = NULL;
	out->type = type_of(str_of(meta, "type"));
	copy_str(out->message_id, sizeof(out->message_id), meta, "messageId");
	if (int_of(meta, "status") >= 0 && int_of(meta, "status") < 1000)
		out->status = (int)int_of(meta, "status");
	if (json_is_object(wsc = json_object_get(meta, "wsc")) &&
	    (tok = str_of(wsc, "token")) != NULL && *tok != '\0') {
		out->has_wsc = 1;
		out->wsc_token = xstrdup(tok);
		out->wsc_sequence = int_of(wsc, "sequence");
	}
	copy_str(out->recovery, sizeof(out->recovery), meta, "recoveryState");
	out->recovery_timeout = int_of(meta, "recoveryTimeout");
	out->idle_timeout = int_of(meta, "idleTimeout");
	out->absolute_timeout = int_of(meta, "absoluteTimeout");
	errors_of(out, meta);
	if (body == NULL)
		goto done;
	switch (out->type) {
	case FEED_MSG_REQUEST:
		copy_str(out->subscription_id, sizeof(out->subscription_id), body,
		    "id");
		/* FALLTHROUGH */
	case FEED_MSG_ERROR:
		errors_of(out, body);
		break;
	case FEED_MSG_NOTIFICATION:
		copy_str(out->uuid, sizeof(out->uuid), body, "uuid");
		copy_str(out->event, sizeof(out->event), body, "event");
		copy_str(out->subscription_id, sizeof(out->subscription_id), body,
		    "subscriptionId");
		if (!json_is_object(json_object_get(body, "body")))
			break;
		if (feed_source_of(out->event) == FEED_SRC_EXTENSION)
			parse_ext(out, json_object_get(body, "body"));
		else if (feed_source_of(out->event) == FEED_SRC_DIRECTORY)
			parse_dir(out, json_object_get(body, "body"));
		break;
	default:
		break;
	}
done:
	json_decref(root);
	return 0;
}

void
feed_msg_clear(struct feed_msg *m)
{
	for (size_t i = 0; i < m->nch; i++)
		phone_dir_entry_clear(&m->ch[i].entry);
	free(m->ch);
	if (m->wsc_token != NULL)
		explicit_bzero(m->wsc_token, strlen(m->wsc_token));
	free(m->wsc_token);
	memset(m, 0, sizeof(*m));
}

static char *
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s != NULL ? s : xstrdup("[]");
}

char *
feed_subscribe_text(const char *message_id)
{
	return dump(json_pack("[{s:s, s:s, s:s, s:s}, {s:[s, s], s:{s:s}}]",
	    "type", "ClientRequest", "messageId", message_id, "method", "POST",
	    "path", "/restapi/v1.0/subscription/",
	    "eventFilters", FEED_FILTER_EXT, FEED_FILTER_DIR,
	    "deliveryMode", "transportType", "WebSocket"));
}

char *
feed_heartbeat_text(const char *message_id)
{
	return dump(json_pack("[{s:s, s:s}]", "type", "Heartbeat", "messageId",
	    message_id));
}

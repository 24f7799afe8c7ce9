/*
 * Unit tests for common/feed_msg.c: the change feed's messages as the
 * platform sends them (ConnectionDetails with and without recovery, the
 * subscription's answer and its errors, notifications of both filters in
 * both record shapes, heartbeats, errors), what is not a message, and the
 * requests ringsync sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feed.h"
#include "util.h"

static void
parse_ok(const char *text, struct feed_msg *m)
{
	char err[256];

	if (feed_msg_parse(text, strlen(text), m, err, sizeof(err)) != 0)
		fail_msg("not parsed: %s: %s", err, text);
}

static void
test_details(void **state)
{
	struct feed_msg m;

	(void)state;
	parse_ok("[{\"type\":\"ConnectionDetails\",\"messageId\":\"m1\","
	    "\"status\":200,\"wsc\":{\"token\":\"WSC-1\",\"sequence\":7},"
	    "\"recoveryTimeout\":180,\"recoveryBufferSize\":100,"
	    "\"idleTimeout\":1800,\"absoluteTimeout\":86400},{}]", &m);
	assert_int_equal(m.type, FEED_MSG_DETAILS);
	assert_string_equal(m.message_id, "m1");
	assert_int_equal(m.status, 200);
	assert_true(m.has_wsc);
	assert_string_equal(m.wsc_token, "WSC-1");
	assert_int_equal(m.wsc_sequence, 7);
	assert_int_equal(m.recovery_timeout, 180);
	assert_int_equal(m.idle_timeout, 1800);
	assert_int_equal(m.absolute_timeout, 86400);
	assert_string_equal(m.recovery, "");
	feed_msg_clear(&m);

	parse_ok("[{\"type\":\"ConnectionDetails\",\"wsc\":{\"token\":\"W2\","
	    "\"sequence\":9},\"recoveryState\":\"Failed\"}]", &m);
	assert_int_equal(m.type, FEED_MSG_DETAILS);
	assert_string_equal(m.recovery, "Failed");
	assert_int_equal(m.idle_timeout, -1);
	feed_msg_clear(&m);
}

static void
test_subscribe_answer(void **state)
{
	struct feed_msg m;

	(void)state;
	parse_ok("[{\"type\":\"ClientRequest\",\"messageId\":\"s1\",\"status\":200},"
	    "{\"id\":\"sub-42\",\"status\":\"Active\",\"eventFilters\":[]}]", &m);
	assert_int_equal(m.type, FEED_MSG_REQUEST);
	assert_string_equal(m.message_id, "s1");
	assert_int_equal(m.status, 200);
	assert_string_equal(m.subscription_id, "sub-42");
	feed_msg_clear(&m);

	parse_ok("[{\"type\":\"ClientRequest\",\"messageId\":\"s2\",\"status\":400},"
	    "{\"errorCode\":\"SUB-508\",\"message\":\"Event filter is not "
	    "supported\"}]", &m);
	assert_int_equal(m.status, 400);
	assert_string_equal(m.error_code, "SUB-508");
	assert_string_equal(m.error_message, "Event filter is not supported");
	feed_msg_clear(&m);

	/* the code in errors[] only */
	parse_ok("[{\"type\":\"ClientRequest\",\"messageId\":\"s3\",\"status\":403},"
	    "{\"errors\":[{\"errorCode\":\"CMN-408\",\"message\":\"no\"}]}]", &m);
	assert_string_equal(m.error_code, "CMN-408");
	feed_msg_clear(&m);
}

static void
test_extension_event_flat_and_nested(void **state)
{
	struct feed_msg m;

	(void)state;
	/* the SDK's type: one record */
	parse_ok("[{\"type\":\"ServerNotification\",\"messageId\":\"n1\","
	    "\"wsc\":{\"token\":\"W\",\"sequence\":3}},{\"uuid\":\"u-1\","
	    "\"event\":\"/restapi/v1.0/account/~/extension\",\"subscriptionId\":"
	    "\"sub\",\"body\":{\"extensionId\":\"101\",\"eventType\":\"Update\","
	    "\"hints\":[\"CompanyNumbers\",\"AnsweringRules\"]}}]", &m);
	assert_int_equal(m.type, FEED_MSG_NOTIFICATION);
	assert_string_equal(m.uuid, "u-1");
	assert_int_equal(m.wsc_sequence, 3);
	assert_int_equal(m.nch, 1);
	assert_int_equal(m.ch[0].ext_id, 101);
	assert_int_equal(m.ch[0].source, FEED_SRC_EXTENSION);
	assert_int_equal(m.ch[0].ev, FEED_EV_UPDATE);
	assert_int_equal(m.ch[0].hints, FEED_HINT_NUMBERS | FEED_HINT_OTHER);
	assert_false(m.ch[0].has_entry);
	feed_msg_clear(&m);

	/* the published sample: a list, the account by id, ids as numbers */
	parse_ok("[{\"type\":\"ServerNotification\"},{\"uuid\":\"u-2\","
	    "\"event\":\"/restapi/v1.0/account/37439510/extension\",\"body\":"
	    "{\"extensions\":[{\"extensionId\":102,\"eventType\":\"Create\"},"
	    "{\"extensionId\":\"x\"},{\"extensionId\":\"103\",\"eventType\":"
	    "\"Delete\"},{\"extensionId\":104,\"hints\":[\"ExtensionInfo\","
	    "\"AccountStatus\"]}]}}]", &m);
	assert_int_equal(m.nch, 3); /* the record without a usable id is left out */
	assert_int_equal(m.ch[0].ext_id, 102);
	assert_int_equal(m.ch[0].ev, FEED_EV_CREATE);
	assert_int_equal(m.ch[1].ext_id, 103);
	assert_int_equal(m.ch[1].ev, FEED_EV_DELETE);
	assert_int_equal(m.ch[2].ext_id, 104);
	assert_int_equal(m.ch[2].hints, FEED_HINT_INFO | FEED_HINT_STATUS);
	feed_msg_clear(&m);
}

static void
test_directory_event(void **state)
{
	struct feed_msg m;

	(void)state;
	parse_ok("[{\"type\":\"ServerNotification\"},{\"uuid\":\"u-3\","
	    "\"event\":\"/restapi/v1.0/account/~/directory/entries\",\"body\":"
	    "{\"id\":\"201\",\"eventType\":\"Update\",\"email\":\"A@Example.com\","
	    "\"extensionNumber\":\"201\",\"status\":\"Enabled\",\"phoneNumbers\":"
	    "[{\"phoneNumber\":\"+16505550100\",\"usageType\":\"MobileNumber\"},"
	    "{\"phoneNumber\":\"+16505550111\",\"usageType\":\"DirectNumber\"},"
	    "{\"phoneNumber\":\"+16505550122\",\"usageType\":\"DirectNumber\","
	    "\"primary\":true}]}}]", &m);
	assert_int_equal(m.nch, 1);
	assert_int_equal(m.ch[0].source, FEED_SRC_DIRECTORY);
	assert_true(m.ch[0].has_entry);
	assert_int_equal(m.ch[0].entry.id, 201);
	assert_string_equal(m.ch[0].entry.email, "A@Example.com");
	assert_string_equal(m.ch[0].entry.extension_number, "201");
	assert_string_equal(m.ch[0].entry.direct, "+16505550122"); /* primary */
	feed_msg_clear(&m);

	/* an entry that does not read like the list's: the change, no data */
	parse_ok("[{\"type\":\"ServerNotification\"},{\"event\":"
	    "\"/restapi/v1.0/account/~/directory/entries\",\"body\":"
	    "{\"extensionId\":\"202\",\"phoneNumbers\":\"no\"}}]", &m);
	assert_int_equal(m.nch, 1);
	assert_int_equal(m.ch[0].ext_id, 202);
	assert_false(m.ch[0].has_entry);
	feed_msg_clear(&m);

	/* a deletion carries no data to use */
	parse_ok("[{\"type\":\"ServerNotification\"},{\"event\":"
	    "\"/restapi/v1.0/account/~/directory/entries\",\"body\":"
	    "{\"id\":\"203\",\"eventType\":\"Delete\"}}]", &m);
	assert_int_equal(m.ch[0].ev, FEED_EV_DELETE);
	assert_false(m.ch[0].has_entry);
	feed_msg_clear(&m);

	/* another filter: no changes */
	parse_ok("[{\"type\":\"ServerNotification\"},{\"event\":"
	    "\"/restapi/v1.0/account/~/extension/1/presence\",\"body\":"
	    "{\"extensionId\":\"1\"}}]", &m);
	assert_int_equal(m.nch, 0);
	feed_msg_clear(&m);
}

static void
test_other_messages(void **state)
{
	static const char *const bad[] = {
		"", "{}", "[]", "[1]", "[\"x\"]", "not json", "[{} ",
		"[{\"type\":\"Heartbeat\",\"type\":\"Error\"}]", /* duplicate key */
	};
	struct feed_msg m;
	char err[128];

	(void)state;
	parse_ok("[{\"type\":\"Heartbeat\",\"messageId\":\"h\",\"status\":200}]",
	    &m);
	assert_int_equal(m.type, FEED_MSG_HEARTBEAT);
	feed_msg_clear(&m);
	parse_ok("[{\"type\":\"Error\",\"messageId\":\"e\"},{\"errorCode\":"
	    "\"WSG-902\",\"message\":\"Idle timeout\"}]", &m);
	assert_int_equal(m.type, FEED_MSG_ERROR);
	assert_string_equal(m.error_code, "WSG-902");
	feed_msg_clear(&m);
	parse_ok("[{\"type\":\"SomethingNew\",\"status\":99999}, 5]", &m);
	assert_int_equal(m.type, FEED_MSG_OTHER);
	assert_int_equal(m.status, 0);
	feed_msg_clear(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(feed_msg_parse(bad[i], strlen(bad[i]), &m, err,
		    sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
}

static void
test_source_of(void **state)
{
	(void)state;
	assert_int_equal(feed_source_of(FEED_FILTER_EXT), FEED_SRC_EXTENSION);
	assert_int_equal(feed_source_of(FEED_FILTER_DIR), FEED_SRC_DIRECTORY);
	assert_int_equal(feed_source_of("/restapi/v1.0/account/123/extension?"
	    "x=1"), FEED_SRC_EXTENSION);
	assert_int_equal(feed_source_of("/restapi/v1.0/account//extension"), -1);
	assert_int_equal(feed_source_of("/restapi/v1.0/account/~/extensions"), -1);
	assert_int_equal(feed_source_of("/restapi/v1.0/account/~"), -1);
	assert_int_equal(feed_source_of(NULL), -1);
}

static void
test_requests(void **state)
{
	char *s = feed_subscribe_text("id-1"), *h;
	json_t *j = json_loads(s, 0, NULL), *f;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j,
	    0), "type")), "ClientRequest");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j,
	    0), "messageId")), "id-1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j,
	    0), "path")), "/restapi/v1.0/subscription/");
	f = json_object_get(json_array_get(j, 1), "eventFilters");
	assert_int_equal(json_array_size(f), 2);
	assert_string_equal(json_string_value(json_array_get(f, 0)),
	    FEED_FILTER_EXT);
	assert_string_equal(json_string_value(json_array_get(f, 1)),
	    FEED_FILTER_DIR);
	json_decref(j);
	free(s);
	h = feed_heartbeat_text("hb");
	assert_string_equal(h, "[{\"type\":\"Heartbeat\",\"messageId\":\"hb\"}]");
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_subscribe_answer),
		cmocka_unit_test(test_extension_event_flat_and_nested),
		cmocka_unit_test(test_directory_event),
		cmocka_unit_test(test_other_messages),
		cmocka_unit_test(test_source_of),
		cmocka_unit_test(test_requests),
	};

	util_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_feed_msg: the change feed's messages (feed_msg.c), as the server
 * sends them over the WebSocket: anything at all.
 *
 * Input: one message, as received.
 * Oracles: a message either parses or is refused with a reason; every
 * string stays terminated; each change names an extension (id > 0) of
 * one of the two filters; a change with an entry is that extension's.
 */
#include "feed.h"
#include "fuzz.h"
#include "util.h"

FZ_JSON_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = fz_dup((const char *)data, size);
	struct feed_msg m;
	char err[256];

	err[0] = '\0';
	if (feed_msg_parse(buf, size, &m, err, sizeof(err)) < 0) {
		fz_check(err[0] != '\0');
		fz_free(buf);
		return 0;
	}
	fz_check(m.type >= FEED_MSG_OTHER && m.type <= FEED_MSG_ERROR);
	fz_check(memchr(m.message_id, '\0', sizeof(m.message_id)) != NULL);
	fz_check(memchr(m.recovery, '\0', sizeof(m.recovery)) != NULL);
	fz_check(memchr(m.error_code, '\0', sizeof(m.error_code)) != NULL);
	fz_check(memchr(m.uuid, '\0', sizeof(m.uuid)) != NULL);
	fz_check(memchr(m.event, '\0', sizeof(m.event)) != NULL);
	fz_check(m.status >= 0 && m.status < 1000);
	fz_check(!m.has_wsc || (m.wsc_token != NULL && *m.wsc_token != '\0'));
	fz_check(m.nch == 0 || m.type == FEED_MSG_NOTIFICATION);
	for (size_t i = 0; i < m.nch; i++) {
		fz_check(m.ch[i].ext_id > 0);
		fz_check(m.ch[i].source == FEED_SRC_EXTENSION ||
		    m.ch[i].source == FEED_SRC_DIRECTORY);
		fz_check(!m.ch[i].has_entry || m.ch[i].entry.id == m.ch[i].ext_id);
		fz_check(!m.ch[i].has_entry || m.ch[i].ev != FEED_EV_DELETE);
	}
	feed_msg_clear(&m);
	fz_free(buf);
	return 0;
}

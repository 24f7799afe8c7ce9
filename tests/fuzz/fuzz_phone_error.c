/*
 * fuzz_phone_error: typing of the phone API's error responses
 * (phone_error.c: REST, SCIM and OAuth bodies, or anything else), the
 * administrator's message for the result, and the parameter-name -> field
 * mapping it uses.
 *
 * Input: a first line "<call> <status>" (call as phone_call_name spells
 * it: scim-create, bulk-task, token, ...), then the body as received.
 * Oracles: every status gets a kind (429 is always rate-limited, 5xx
 * always transient, below 400 malformed as phone.h says), every string
 * stays terminated, and every error has a message.
 */
#include "fuzz.h"
#include "phone.h"
#include "util.h"

static enum phone_call
call_named(const char *name)
{
	for (int c = 0; c < PHONE_NCALLS; c++)
		if (strcmp(name, phone_call_name(c)) == 0)
			return c;
	return PHONE_CALL_NONE;
}

static void
check_error(const struct phone_error *e, long status)
{
	char msg[512];

	fz_check(e->kind >= PHONE_OK && e->kind <= PHONE_EXTENSION_IN_USE);
	fz_check(e->http_status == status);
	fz_check(memchr(e->code, '\0', sizeof(e->code)) != NULL);
	fz_check(memchr(e->param, '\0', sizeof(e->param)) != NULL);
	fz_check(memchr(e->value, '\0', sizeof(e->value)) != NULL);
	fz_check(memchr(e->detail, '\0', sizeof(e->detail)) != NULL);
	if (status == 429)
		fz_check(e->kind == PHONE_RATE_LIMITED);
	else if (status >= 500)
		fz_check(e->kind == PHONE_TRANSIENT ||
		    e->kind == PHONE_RATE_LIMITED);
	else if (status < 400) /* phone.h: the caller could not use it */
		fz_check(e->kind == PHONE_MALFORMED);
	phone_error_message(e, "TELUS Business Connect", msg, sizeof(msg));
	fz_check(msg[0] != '\0');
	phone_error_message(e, NULL, msg, 16); /* cut short: still terminated */
	fz_check(strlen(msg) < 16);
	(void)phone_param_field(e->param);
}

FZ_JSON_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { (const char *)data, size };
	char *head = fz_line(&f, NULL), *sp, *body;
	struct phone_error e;
	long status;

	if (head == NULL)
		return 0;
	sp = strchr(head, ' ');
	status = sp != NULL ? strtol(sp + 1, NULL, 10) : 400;
	if (sp != NULL)
		*sp = '\0';
	if (status < 0 || status > 999)
		status = 400;
	/* exactly as long as the response: an over-read is caught */
	body = fz_dup(f.p, f.n);
	phone_error_parse(call_named(head), status, f.n ? body : NULL, f.n, &e);
	check_error(&e, status);
	fz_free(body);
	free(head);
	return 0;
}

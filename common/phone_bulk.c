/*
 * phone_bulk: the client's bulk updates (phone.h, phone_int.h): chunks of
 * PHONE_BULK_MAX records, each an extension-bulk-update task polled until
 * it completes.
 */
#include "phone_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* ---------------------------------------------------------------------
 * Bulk updates */

struct op_bulk;

struct bulk_chunk {
	struct op_bulk *op;        /* not owned */
	size_t off, n;             /* its records: res[off .. off + n - 1] */
	char *body;                /* owned until sent */
	char *task_id;             /* owned */
	double delay, deadline;    /* polling */
	ev_timer poll;
};

struct op_bulk {
	struct phone_op base;
	struct phone *p;           /* not owned */
	struct bulk_chunk *chunks; /* owned */
	size_t nchunks, nleft;
	struct phone_bulk_result *res; /* owned */
	size_t n;
	struct phone_error first;  /* the first request-level error */
	phone_bulk_cb *cb;
	void *arg;
};

static void
op_bulk_clear(struct phone_op *base)
{
	struct op_bulk *op = (struct op_bulk *)base;

	for (size_t i = 0; i < op->nchunks; i++) {
		ev_timer_stop(op->p->loop, &op->chunks[i].poll);
		free(op->chunks[i].body);
		free(op->chunks[i].task_id);
	}
	free(op->chunks);
	free(op->res);
}

static void
chunk_end(struct bulk_chunk *c)
{
	struct op_bulk *op = c->op;

	if (--op->nleft > 0)
		return;
	op->cb(&op->first, op->res, op->n, op->arg);
	phone_op_end(op->p, &op->base);
}

static void
chunk_fail(struct bulk_chunk *c, const struct phone_error *e)
{
	struct op_bulk *op = c->op;

	for (size_t i = c->off; i < c->off + c->n; i++) {
		op->res[i].ok = 0;
		op->res[i].err = *e;
	}
	if (op->first.kind == PHONE_OK)
		op->first = *e;
	chunk_end(c);
}

/* task_id_text: the task id, a string or a number (phone_parse_task checked). */
static char *
task_id_text(const json_t *id)
{
	if (json_is_integer(id))
		return xasprintf("%lld", (long long)json_integer_value(id));
	return xstrdup(json_string_value(id));
}

/* chunk_task: a task view arrived: done, or poll again later. */
static void
chunk_task(struct bulk_chunk *c, const struct phone_error *err,
    const json_t *body)
{
	struct op_bulk *op = c->op;
	struct phone_error e = *err;
	double now = ev_now(op->p->loop);
	int rc;

	if (e.kind != PHONE_OK) {
		chunk_fail(c, &e);
		return;
	}
	rc = phone_parse_task(body, op->res + c->off, c->n, e.detail,
	    sizeof(e.detail));
	if (rc < 0) {
		e.kind = PHONE_MALFORMED;
		chunk_fail(c, &e);
	} else if (rc == 1) {
		chunk_end(c);
	} else if (c->deadline > 0 && now > c->deadline) {
		e.kind = PHONE_TRANSIENT;
		snprintf(e.detail, sizeof(e.detail), "the bulk-update task has "
		    "not completed after %u s", op->p->opts.task_timeout);
		chunk_fail(c, &e);
	} else {
		if (c->task_id == NULL) {
			c->task_id = task_id_text(json_object_get(body, "id"));
			c->delay = op->p->opts.poll_first;
			c->deadline = now + op->p->opts.task_timeout;
		} else if ((c->delay *= 1.5) > op->p->opts.poll_max) {
			c->delay = op->p->opts.poll_max;
		}
		ev_timer_set(&c->poll, c->delay, 0.);
		ev_timer_start(op->p->loop, &c->poll);
	}
}

static void
chunk_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	chunk_task(r->ctx, err, body);
}

static void
chunk_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bulk_chunk *c = w->data;
	struct phone *p = c->op->p;

	(void)loop;
	(void)revents;
	phone_send_new(p, PHONE_CALL_BULK_TASK, "GET", phone_url_segment(p,
	    PHONE_ACCOUNT "/extension-bulk-update/tasks", c->task_id),
	    chunk_done, c);
}

static void
chunk_send(struct phone *p, struct bulk_chunk *c)
{
	char *url = phone_url(p, PHONE_ACCOUNT "/extension-bulk-update");
	struct phone_req *r = phone_req_new(p, PHONE_CALL_BULK_UPDATE, "POST",
	    url);

	free(url);
	r->body = c->body;
	c->body = NULL;
	/* setting the same values again is harmless: safe to repeat */
	r->idempotent = 1;
	r->done = chunk_done;
	r->ctx = c;
	phone_req_send(r);
}

static void
bulk_empty_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_bulk *op = r->ctx;

	(void)body;
	op->cb(err, op->res, 0, op->arg);
	phone_op_end(r->p, &op->base);
}

static char *
chunk_body(const struct phone_bulk_item *items, size_t n)
{
	json_t *recs = json_array(), *o;
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(recs, phone_bulk_record(&items[i]));
	o = json_pack("{s:o}", "records", recs);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void
phone_bulk_update(struct phone *p, const struct phone_bulk_item *items,
    size_t n, phone_bulk_cb *cb, void *arg)
{
	struct op_bulk *op = phone_op_new(p, sizeof(*op), op_bulk_clear);

	op->p = p;
	op->cb = cb;
	op->arg = arg;
	op->n = n;
	op->res = xcalloc(n + 1, sizeof(op->res[0]));
	phone_error_ok(&op->first, PHONE_CALL_BULK_UPDATE);
	for (size_t i = 0; i < n; i++) {
		op->res[i].extension_id = items[i].extension_id;
		phone_error_ok(&op->res[i].err, PHONE_CALL_BULK_TASK);
	}
	if (n == 0) {
		phone_defer_error(p, PHONE_CALL_BULK_UPDATE, PHONE_OK, "",
		    bulk_empty_done, op);
		return;
	}
	op->nchunks = op->nleft = (n + PHONE_BULK_MAX - 1) / PHONE_BULK_MAX;
	op->chunks = xcalloc(op->nchunks, sizeof(op->chunks[0]));
	for (size_t k = 0; k < op->nchunks; k++) {
		struct bulk_chunk *c = &op->chunks[k];

		c->op = op;
		c->off = k * PHONE_BULK_MAX;
		c->n = n - c->off < PHONE_BULK_MAX ? n - c->off : PHONE_BULK_MAX;
		c->body = chunk_body(items + c->off, c->n);
		ev_timer_init(&c->poll, chunk_poll_cb, 0., 0.);
		c->poll.data = c;
	}
	for (size_t k = 0; k < op->nchunks; k++)
		chunk_send(p, &op->chunks[k]);
}

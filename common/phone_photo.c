/*
 * phone_photo: an extension's profile image (phone.h): upload, read,
 * delete. The upload is the one request whose body is not JSON: a
 * multipart/form-data form of one part, built by curl (http.c).
 */
#include "phone_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct op_photo {
	struct phone_op base;
	char *ext_id;                 /* owned */
	void *data;                   /* owned: a copy, for a POST after 405 */
	size_t len;
	const char *type;             /* static */
	phone_done_cb *done;
	phone_photo_cb *got;
	void *arg;
};

static void
photo_clear(struct phone_op *base)
{
	struct op_photo *op = (struct op_photo *)base;

	free(op->ext_id);
	free(op->data);
}

static char *
photo_url(struct phone *p, const char *ext_id)
{
	char *base = xasprintf(PHONE_ACCOUNT "/extension/%s", ext_id);
	char *url = phone_url(p, base);
	char *full = xasprintf("%s/profile-image", url);

	free(base);
	free(url);
	return full;
}

const char *
phone_photo_type(const unsigned char *d, size_t len)
{
	if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return "image/jpeg";
	if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 ||
	    memcmp(d, "GIF89a", 6) == 0))
		return "image/gif";
	if (len >= 2 && d[0] == 'B' && d[1] == 'M')
		return "image/bmp";
	return NULL;
}

static void put_send(struct op_photo *op, struct phone *p);

static void
put_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_photo *op = r->ctx;
	struct phone *p = r->p;

	(void)body;
	if (err->kind != PHONE_OK && err->http_status == 405 && !p->photo_post) {
		p->photo_post = 1; /* this server takes the upload by POST */
		put_send(op, p);
		return;
	}
	op->done(err, op->arg);
	phone_op_end(p, &op->base);
}

static void
put_send(struct op_photo *op, struct phone *p)
{
	struct phone_req *r;
	const char *ext;
	char *url = photo_url(p, op->ext_id);

	r = phone_req_new(p, PHONE_CALL_PHOTO_PUT, p->photo_post ? "POST" :
	    "PUT", url);
	free(url);
	ext = strchr(op->type, '/') + 1;
	r->part.name = "image";
	r->part.filename = strcmp(ext, "jpeg") == 0 ? "photo.jpg" :
	    strcmp(ext, "png") == 0 ? "photo.png" : strcmp(ext, "gif") == 0 ?
	    "photo.gif" : strcmp(ext, "bmp") == 0 ? "photo.bmp" : "photo";
	r->part.type = op->type;
	r->part.len = op->len;
	r->part.data = op->data; /* borrowed: the op outlives the request */
	/* the same image again is the same end state: a PUT may be repeated;
	 * a POST is not, by the client's rule for POSTs */
	r->done = put_done;
	r->ctx = op;
	phone_req_send(r);
}

void
phone_photo_put(struct phone *p, const char *ext_id, const void *data,
    size_t len, const char *type, phone_done_cb *cb, void *arg)
{
	struct op_photo *op = phone_op_new(p, sizeof(*op), photo_clear);

	op->ext_id = xstrdup(ext_id);
	op->data = xmalloc(len ? len : 1);
	memcpy(op->data, data, len);
	op->len = len;
	op->type = type != NULL && strchr(type, '/') != NULL ? type :
	    "application/octet-stream";
	op->done = cb;
	op->arg = arg;
	put_send(op, p);
}

static void
get_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_photo *op = r->ctx;

	(void)body;
	op->got(err, err->kind == PHONE_OK ? (const unsigned char *)r->raw :
	    NULL, err->kind == PHONE_OK ? r->raw_len : 0, op->arg);
	phone_op_end(r->p, &op->base);
}

void
phone_photo_get(struct phone *p, const char *ext_id, phone_photo_cb *cb,
    void *arg)
{
	struct op_photo *op = phone_op_new(p, sizeof(*op), photo_clear);

	op->ext_id = xstrdup(ext_id);
	op->got = cb;
	op->arg = arg;
	phone_send_new(p, PHONE_CALL_PHOTO_GET, "GET", photo_url(p, ext_id),
	    get_done, op);
}

static void
delete_done(struct phone_req *r, const struct phone_error *err,
    const json_t *body)
{
	struct op_photo *op = r->ctx;

	(void)body;
	op->done(err, op->arg);
	phone_op_end(r->p, &op->base);
}

void
phone_photo_delete(struct phone *p, const char *ext_id, phone_done_cb *cb,
    void *arg)
{
	struct op_photo *op = phone_op_new(p, sizeof(*op), photo_clear);

	op->ext_id = xstrdup(ext_id);
	op->done = cb;
	op->arg = arg;
	phone_send_new(p, PHONE_CALL_PHOTO_DELETE, "DELETE", photo_url(p,
	    ext_id), delete_done, op);
}

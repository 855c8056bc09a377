/* request.c: see request.h. */
#include "ferryd/request.h"
#include "proto/proto.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct request *request_new(struct agent *ag, long client_id, long id, request_send_fn send)
{
	struct request *r = xcalloc(1, sizeof(*r));

	r->ag = ag;
	r->client_id = client_id;
	r->id = id;
	r->send = send;
	return r;
}

void request_ok(struct request *r, json_t *result)
{
	r->send(r->ag, r->client_id, proto_reply_ok(r->id, result));
	free(r);
}

void request_err(struct request *r, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->send(r->ag, r->client_id, proto_reply_err(r->id, "%s", msg));
	free(r);
}

void request_progress(struct request *r, json_t *p)
{
	r->send(r->ag, r->client_id, json_pack("{s:I, s:o}", "id", (json_int_t)r->id, "progress", p));
}

void request_drop(struct request *r)
{
	free(r);
}

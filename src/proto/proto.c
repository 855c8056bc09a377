/* proto.c: encode and check the control protocol's messages. */
#include "proto/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

json_t *proto_greeting_new(const char *host)
{
	return json_pack("{s:i, s:s, s:s, s:s}", "ferry", PROTO_VERSION, "agent", "ferryd",
			 "version", FERRY_VERSION, "host", host);
}

int proto_greeting_check(json_t *msg, const char **host, struct ferr *err)
{
	json_t *v = json_object_get(msg, "ferry");
	const char *h = json_string_value(json_object_get(msg, "host"));

	if (!json_is_integer(v) || !h) {
		ferr_set(err, "the peer is not a ferry agent (no greeting)");
		return -EPROTO;
	}
	if (json_integer_value(v) != PROTO_VERSION) {
		ferr_set(err, "the agent speaks protocol version %lld, this ferry speaks %d",
			 (long long)json_integer_value(v), PROTO_VERSION);
		return -EPROTO;
	}
	*host = h;
	return 0;
}

json_t *proto_request_new(long id, const char *op, json_t *args)
{
	return json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "op", op, "args", args ? args : json_object());
}

int proto_request_parse(json_t *msg, long *id, const char **op, json_t **args, struct ferr *err)
{
	json_t *i = json_object_get(msg, "id");
	json_t *o = json_object_get(msg, "op");
	json_t *a = json_object_get(msg, "args");

	if (!json_is_integer(i) || json_integer_value(i) < 0) {
		ferr_set(err, "request without a valid id");
		return -EPROTO;
	}
	if (!json_is_string(o) || !json_string_length(o)) {
		ferr_set(err, "request without an op");
		return -EPROTO;
	}
	if (a && !json_is_object(a)) {
		ferr_set(err, "request args must be an object");
		return -EPROTO;
	}
	*id = (long)json_integer_value(i);
	*op = json_string_value(o);
	*args = a;
	return 0;
}

json_t *proto_reply_ok(long id, json_t *result)
{
	return json_pack("{s:I, s:b, s:o}", "id", (json_int_t)id, "ok", 1, "result", result ? result : json_object());
}

json_t *proto_reply_err(long id, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	return json_pack("{s:I, s:b, s:s}", "id", (json_int_t)id, "ok", 0, "error", msg);
}

int proto_reply_parse(json_t *msg, long id, json_t **result, struct ferr *err)
{
	json_t *i = json_object_get(msg, "id");
	json_t *ok = json_object_get(msg, "ok");

	if (!json_is_integer(i) || json_integer_value(i) != id || !json_is_boolean(ok)) {
		ferr_set(err, "malformed reply from the agent");
		return -EPROTO;
	}
	if (!json_is_true(ok)) {
		const char *e = json_string_value(json_object_get(msg, "error"));
		ferr_set(err, "%s", e ? e : "the agent refused without a reason");
		return -EREMOTEIO;
	}
	*result = json_object_get(msg, "result");
	if (!json_is_object(*result)) {
		ferr_set(err, "malformed reply from the agent (no result)");
		return -EPROTO;
	}
	return 0;
}

int proto_encode(json_t *msg, struct buf *b)
{
	char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	if (!s)
		return -EINVAL;
	buf_append(b, s, strlen(s));
	buf_append(b, "\n", 1);
	free(s);
	return 0;
}

/* fuzz_proto.c: what arrives from the network on the control protocol: a
 * request (framed, parsed, its op's arguments checked), a peer's reply to
 * each op (checked as the source agent does), and migration URIs. */
#include "proto/args.h"
#include "proto/proto.h"
#include "util/jsonframe.h"

#include <stdlib.h>
#include <string.h>

static const char *ops[] = { "mig-prepare", "mig-finish", "mig-resumed", "mig-recover", "mig-abort", "copy-in", "copy-in-wait",
			      "ping", "create", "mig-observed" };

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct jsonframe f = {0};
	struct ferr err;
	json_t *m;
	int r;

	jsonframe_feed(&f, data, size);
	while ((r = jsonframe_next(&f, &m, &err)) != 0 && !f.broken) {
		if (r != 1)
			continue;
		long id;
		const char *op;
		json_t *args;
		if (proto_request_parse(m, &id, &op, &args, &err) == 0) {
			const struct proto_op *o = proto_op_find(op);
			if (o && proto_args_check(o, args, &err) < 0) {
				json_t *reply = proto_reply_err(id, "%s", err.msg);
				struct buf b = {0};
				if (proto_encode(reply, &b) < 0)
					abort();   /* every refusal must be sendable */
				buf_free(&b);
				json_decref(reply);
			}
		}
		json_t *res = json_object_get(m, "result");
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			proto_result_check(ops[i], res, &err);
		const char *uri = json_string_value(json_object_get(res, "uri"));
		char addr[64];
		int port;
		if (uri && proto_tcp_uri_check(uri, "10.78.0.2", addr, sizeof(addr), &port, &err) == 0 &&
		    (strcmp(addr, "10.78.0.2") || port < 1 || port > 65535))
			abort();
		json_decref(m);
	}
	jsonframe_free(&f);
	/* The raw bytes as a URI and as an error text. */
	char *s = strndup((const char *)data, size);
	char addr[64];
	int port;
	if (proto_tcp_uri_check(s, "fd00::2", addr, sizeof(addr), &port, &err) == 0 && strcmp(addr, "fd00::2") &&
	    strcmp(addr, "fd00:0::2"))
		; /* same address, other spelling: allowed */
	utf8_sanitize(s);
	json_t *j = json_string(s);
	if (!j)
		abort();   /* sanitized text is always valid UTF-8 */
	json_decref(j);
	free(s);
	return 0;
}

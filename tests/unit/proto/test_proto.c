/* test_proto.c: control-protocol encode/decode and the JSON stream framer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "util/jsonframe.h"

static json_t *decode_one(const char *s)
{
	struct jsonframe f = {0};
	struct ferr err = {0};
	json_t *m = NULL;

	jsonframe_feed(&f, s, strlen(s));
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	jsonframe_free(&f);
	return m;
}

static void test_request_roundtrip(void **state)
{
	(void)state;
	struct buf b = {0};
	json_t *req = proto_request_new(42, "create", json_pack("{s:s}", "config", "name = \"x\"\n"));
	long id;
	const char *op;
	json_t *args;
	struct ferr err = {0};

	proto_encode(req, &b);
	json_decref(req);
	assert_int_equal(b.data[b.len - 1], '\n');
	assert_null(memchr(b.data, '\n', b.len - 1));   /* one line per message */
	json_t *m = decode_one(b.data);
	assert_int_equal(proto_request_parse(m, &id, &op, &args, &err), 0);
	assert_int_equal(id, 42);
	assert_string_equal(op, "create");
	assert_string_equal(json_string_value(json_object_get(args, "config")), "name = \"x\"\n");
	json_decref(m);
	buf_free(&b);
}

static void test_reply_roundtrip(void **state)
{
	(void)state;
	struct ferr err = {0};
	json_t *res = NULL;
	json_t *ok = proto_reply_ok(7, json_pack("{s:i}", "n", 3));
	json_t *bad = proto_reply_err(8, "no VM named %s on host %s", "web9", "a");

	assert_int_equal(proto_reply_parse(ok, 7, &res, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "n")), 3);
	/* A reply to another request is a protocol error. */
	assert_int_equal(proto_reply_parse(ok, 8, &res, &err), -EPROTO);
	assert_int_equal(proto_reply_parse(bad, 8, &res, &err), -EREMOTEIO);
	assert_string_equal(err.msg, "no VM named web9 on host a");
	json_decref(ok);
	json_decref(bad);
}

static void test_greeting(void **state)
{
	(void)state;
	struct ferr err = {0};
	const char *host;
	json_t *g = proto_greeting_new("a");

	assert_int_equal(proto_greeting_check(g, &host, &err), 0);
	assert_string_equal(host, "a");
	json_object_set_new(g, "ferry", json_integer(PROTO_VERSION + 1));
	assert_int_equal(proto_greeting_check(g, &host, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "protocol version"));
	json_decref(g);
	json_t *qmp = decode_one("{\"QMP\": {}}");
	assert_int_equal(proto_greeting_check(qmp, &host, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not a ferry agent"));
	json_decref(qmp);
}

static void test_bad_requests(void **state)
{
	(void)state;
	static const char *bad[] = {
		"{\"op\": \"list\"}",                         /* no id */
		"{\"id\": -1, \"op\": \"list\"}",             /* negative id */
		"{\"id\": 1}",                                /* no op */
		"{\"id\": 1, \"op\": \"\"}",                  /* empty op */
		"{\"id\": 1, \"op\": 5}",                     /* op not a string */
		"{\"id\": 1, \"op\": \"list\", \"args\": []}",/* args not an object */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = decode_one(bad[i]);
		long id;
		const char *op;
		json_t *args;
		struct ferr err = {0};
		assert_int_equal(proto_request_parse(m, &id, &op, &args, &err), -EPROTO);
		assert_true(err.msg[0] != 0);
		json_decref(m);
	}
}

static void test_framer(void **state)
{
	(void)state;
	struct jsonframe f = {0};
	struct ferr err = {0};
	json_t *m;
	const char *s = "  {\"a\": \"}{\\\"\"}\n{\"b\": [1, {\"c\": 2}]}{\"d\":";

	/* Two messages and a half, fed in pieces. */
	jsonframe_feed(&f, s, 10);
	assert_int_equal(jsonframe_next(&f, &m, &err), 0);
	jsonframe_feed(&f, s + 10, strlen(s) - 10);
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	assert_string_equal(json_string_value(json_object_get(m, "a")), "}{\"");
	json_decref(m);
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	assert_int_equal(json_array_size(json_object_get(m, "b")), 2);
	json_decref(m);
	assert_int_equal(jsonframe_next(&f, &m, &err), 0);
	jsonframe_feed(&f, "3}", 2);
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	json_decref(m);
	/* Duplicate keys are refused (no ambiguity in what was meant). */
	jsonframe_feed(&f, "{\"x\":1,\"x\":2}", 13);
	assert_int_equal(jsonframe_next(&f, &m, &err), -EBADMSG);
	/* The stream survives one bad but balanced message. */
	jsonframe_feed(&f, "{\"ok\":1}", 8);
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	json_decref(m);
	/* Not an object: framing lost for good. */
	jsonframe_feed(&f, "[1]", 3);
	assert_int_equal(jsonframe_next(&f, &m, &err), -EBADMSG);
	assert_int_equal(jsonframe_next(&f, &m, &err), -EBADMSG);
	jsonframe_free(&f);
}

static void test_framer_limits(void **state)
{
	(void)state;
	struct jsonframe f = {0};
	struct ferr err = {0};
	json_t *m;
	char deep[200];

	/* Nesting bomb. */
	memset(deep, '[', sizeof(deep));
	deep[0] = '{';
	jsonframe_feed(&f, deep, sizeof(deep));
	assert_int_equal(jsonframe_next(&f, &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "deeper"));
	jsonframe_free(&f);
	/* An endless message. */
	char *big = malloc(JSONFRAME_MAX + 100);
	memset(big, 'a', JSONFRAME_MAX + 100);
	memcpy(big, "{\"x\":\"", 6);
	jsonframe_feed(&f, big, JSONFRAME_MAX + 100);
	assert_int_equal(jsonframe_next(&f, &m, &err), -EMSGSIZE);
	jsonframe_free(&f);
	free(big);
	/* Unbalanced close. */
	jsonframe_feed(&f, "{}}", 3);
	assert_int_equal(jsonframe_next(&f, &m, &err), 1);
	json_decref(m);
	assert_int_equal(jsonframe_next(&f, &m, &err), -EBADMSG);
	jsonframe_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_framer),
		cmocka_unit_test(test_framer_limits),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}

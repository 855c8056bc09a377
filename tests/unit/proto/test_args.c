/* test_args.c: the one check of every op's arguments and of peer replies
 * (proto/args.c), the migration-URI check, and replies built from bad text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/args.h"
#include "proto/proto.h"

static int check(const char *op, const char *args_json, struct ferr *err)
{
	const struct proto_op *o = proto_op_find(op);
	json_error_t je;
	json_t *a = args_json ? json_loads(args_json, JSON_ALLOW_NUL, &je) : NULL;

	assert_non_null(o);
	int r = proto_args_check(o, a, err);
	json_decref(a);
	return r;
}

static void refused(const char *op, const char *args_json, const char *why)
{
	struct ferr err = {0};

	assert_int_equal(check(op, args_json, &err), -EINVAL);
	if (!strstr(err.msg, why))
		fail_msg("%s %s: '%s' does not say '%s'", op, args_json, err.msg, why);
}

static void test_ops_args(void **state)
{
	struct ferr err = {0};

	(void)state;
	assert_null(proto_op_find("exec"));
	assert_null(proto_op_find(NULL));
	assert_int_equal(check("list", NULL, &err), 0);
	assert_int_equal(check("list", "{}", &err), 0);
	refused("list", "{\"x\":1}", "unknown argument 'x'");
	/* The 30-byte request that killed ferryd 0.1: now a clear refusal. */
	refused("history-add", NULL, "argument 'record' is missing");
	refused("history-add", "{\"record\":{}}", "migration record");
	assert_int_equal(check("history-add", "{\"record\":{\"name\":\"web1\",\"total_ms\":3}}", &err), 0);
	refused("status", "{}", "'name' is missing");
	refused("status", "{\"name\":5}", "must be a name");
	refused("status", "{\"name\":\"../etc\"}", "must be a name");
	refused("status", "{\"name\":\"a23456789012345678901234567890123\"}", "must be a name");
	assert_int_equal(check("status", "{\"name\":\"a2345678901234567890123456789012\"}", &err), 0);
	refused("shutdown", "{\"name\":\"w\",\"timeout_s\":0}", "from 1 to 3600");
	refused("shutdown", "{\"name\":\"w\",\"timeout_s\":\"5\"}", "integer");
	refused("migrate", "{\"name\":\"w\"}", "'dest' is missing");
	refused("migrate", "{\"name\":\"w\",\"dest\":{\"host\":\"b\",\"addr\":\"b.example\",\"port\":1}}", "dest.addr");
	refused("migrate", "{\"name\":\"w\",\"dest\":{\"host\":\"b\",\"addr\":\"10.0.0.1\",\"port\":70000}}", "dest.port");
	refused("migrate", "{\"name\":\"w\",\"dest\":{\"host\":\"b\",\"addr\":\"::1\",\"port\":1},\"opts\":{\"insecure\":1}}",
		"opts.insecure must be true or false");
	refused("migrate", "{\"name\":\"w\",\"dest\":{\"host\":\"b\",\"addr\":\"::1\",\"port\":1},\"opts\":{\"evil\":true}}",
		"unknown argument 'opts.evil'");
	assert_int_equal(check("migrate", "{\"name\":\"w\",\"dest\":{\"host\":\"b\",\"addr\":\"::1\",\"port\":1},"
				   "\"opts\":{\"insecure\":true,\"parallel\":4}}", &err), 0);
	refused("mig-prepare", "{\"config\":\"x\",\"src_host\":\"a\",\"ram_bytes\":-1}", "ram_bytes");
	refused("mig-prepare", "{\"config\":\"x\",\"src_host\":\"a\",\"disk_sizes\":{\"vda\":\"big\"}}", "disk_sizes.vda");
	refused("mig-prepare", "{\"config\":\"x\",\"src_host\":\"a\",\"disk_sizes\":{\"v\\u0001\":1}}", "disk_sizes.v?");
	refused("mig-prepare", "{\"config\":\"x\",\"src_host\":\"a b\"}", "src_host");
	/* A config with a NUL inside is not a C string: refused, not cut. */
	refused("create", "{\"config\":\"name = \\\"x\\\"\\u0000kernel\"}", "string of at most");
	/* Error texts are bounded, whatever the key's size. */
	char big[5000];
	memset(big, 'k', sizeof(big));
	memcpy(big, "{\"", 2);
	memcpy(big + sizeof(big) - 7, "\":1}\0", 5);
	assert_int_equal(check("list", big, &err), -EINVAL);
	assert_true(strlen(err.msg) < 200);
}

static void test_results(void **state)
{
	struct ferr err = {0};
	json_t *r;

	(void)state;
	r = json_pack("{s:s, s:s}", "uri", "tcp:10.0.0.2:4444", "host", "b");
	assert_int_equal(proto_result_check("mig-prepare", r, &err), 0);
	json_object_set_new(r, "nbd", json_pack("{s:s, s:i}", "host", "10.0.0.2", "port", 0));
	assert_int_equal(proto_result_check("mig-prepare", r, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "nbd.port"));
	json_object_set_new(r, "nbd", json_pack("{s:s, s:i}", "host", "evil.example", "port", 10809));
	assert_int_equal(proto_result_check("mig-prepare", r, &err), -EPROTO);
	json_object_del(r, "nbd");
	json_object_set_new(r, "uri", json_integer(5));
	assert_int_equal(proto_result_check("mig-prepare", r, &err), -EPROTO);
	json_decref(r);
	r = json_pack("{s:s}", "resume_us", "soon");
	assert_int_equal(proto_result_check("mig-resumed", r, &err), -EPROTO);
	json_decref(r);
	assert_int_equal(proto_result_check("mig-finish", NULL, &err), -EPROTO);
	r = json_pack("{s:s, s:I, s:s}", "host", "b", "resume_us", (json_int_t)5, "future_field", "ignored");
	assert_int_equal(proto_result_check("mig-finish", r, &err), 0);
	json_decref(r);
}

static void uri_refused(const char *uri, const char *want, const char *why)
{
	struct ferr err = {0};
	char addr[64] = "untouched";
	int port = -1;

	assert_int_equal(proto_tcp_uri_check(uri, want, addr, sizeof(addr), &port, &err), -EPERM);
	assert_string_equal(addr, "untouched");
	assert_int_equal(port, -1);
	if (!strstr(err.msg, why))
		fail_msg("%s: '%s' does not say '%s'", uri, err.msg, why);
}

static void test_uri(void **state)
{
	struct ferr err = {0};
	char addr[64];
	int port;

	(void)state;
	assert_int_equal(proto_tcp_uri_check("tcp:10.78.0.2:49152", "10.78.0.2", addr, sizeof(addr), &port, &err), 0);
	assert_string_equal(addr, "10.78.0.2");
	assert_int_equal(port, 49152);
	assert_int_equal(proto_tcp_uri_check("tcp:[fd00::2]:7", "fd00:0::2", addr, sizeof(addr), &port, &err), 0);
	assert_string_equal(addr, "fd00::2");
	/* What the destination must never make the source do. */
	uri_refused("exec:touch /tmp/marker", "10.78.0.2", "not tcp:");
	uri_refused("unix:/etc/shadow", "10.78.0.2", "not tcp:");
	uri_refused("fd:3", "10.78.0.2", "not tcp:");
	uri_refused("file:/tmp/x", "10.78.0.2", "not tcp:");
	uri_refused("tcp:evil.example:4444", "10.78.0.2", "not an IP address");
	uri_refused("tcp:10.78.0.9:4444", "10.78.0.2", "not its own");
	uri_refused("tcp:10.78.0.2:0", "10.78.0.2", "valid port");
	uri_refused("tcp:10.78.0.2:65536", "10.78.0.2", "valid port");
	uri_refused("tcp:10.78.0.2:44x", "10.78.0.2", "valid port");
	uri_refused("tcp:10.78.0.2:-5", "10.78.0.2", "valid port");
	uri_refused("tcp::4444", "10.78.0.2", "valid host");
	uri_refused("tcp:10.78.0.2", "10.78.0.2", "");
	uri_refused("tcp:[::1]:5", "127.0.0.1", "not its own");
	uri_refused(NULL, "10.78.0.2", "not tcp:");
}

static void test_utf8(void **state)
{
	char s[16];
	struct ferr err;

	(void)state;
	strcpy(s, "caf\xc3\xa9");
	utf8_sanitize(s);
	assert_string_equal(s, "caf\xc3\xa9");
	strcpy(s, "caf\xc3");          /* cut in the middle of a character */
	utf8_sanitize(s);
	assert_string_equal(s, "caf");
	strcpy(s, "a\xe2\x82");          /* 2 of 3 bytes */
	utf8_sanitize(s);
	assert_string_equal(s, "a");
	strcpy(s, "a\xff" "b\xc0\xaf");   /* never valid; an overlong '/' */
	utf8_sanitize(s);
	assert_string_equal(s, "a?b??");
	strcpy(s, "\xed\xa0\x80z");      /* a UTF-16 surrogate */
	utf8_sanitize(s);
	assert_string_equal(s, "???z");
	/* ferr_set cuts at 1023 bytes: never inside a character. */
	char big[1100];
	memset(big, 'a', sizeof(big));
	for (int i = 1020; i < 1026; i += 2)
		big[i] = '\xc3', big[i + 1] = '\xa9';
	big[sizeof(big) - 1] = 0;
	ferr_set(&err, "%s", big);
	json_t *j = json_string(err.msg);
	assert_non_null(j);
	json_decref(j);
	/* And a reply made from it can be encoded. */
	json_t *reply = proto_reply_err(1, "%s and more: %s", big, big);
	assert_non_null(reply);
	struct buf b = {0};
	assert_int_equal(proto_encode(reply, &b), 0);
	json_decref(reply);
	buf_free(&b);
}

static void test_encode_null(void **state)
{
	struct buf b = {0};

	(void)state;
	assert_int_equal(proto_encode(NULL, &b), -EINVAL);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_args),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_encode_null),
	};
	return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}

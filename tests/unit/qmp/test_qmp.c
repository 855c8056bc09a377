/* test_qmp.c: the QMP client against a fake QMP server: greeting and
 * negotiation, framing, command/reply matching, events, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp/qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": [\"oob\"]}}\r\n"

struct fake {
	int srv;          /* the fake server's end */
	struct qmp *q;
	char events[8][64];
	int64_t event_us[8];
	int n_events;
	json_t *replies[8];
	int n_replies;
	int order[8];
};

static void on_event(struct qmp *q, const char *ev, json_t *data, int64_t qemu_us, int64_t recv_us, void *opaque)
{
	struct fake *f = opaque;
	(void)q;
	(void)data;
	assert_true(recv_us > 0);
	snprintf(f->events[f->n_events], 64, "%s", ev);
	f->event_us[f->n_events++] = qemu_us;
}

static void on_reply(struct qmp *q, json_t *reply, void *opaque)
{
	struct fake *f = (struct fake *)((void **)opaque)[0];
	(void)q;
	f->order[f->n_replies] = (int)(intptr_t)((void **)opaque)[1];
	f->replies[f->n_replies++] = json_incref(reply);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->srv = sv[1];
	f->q = qmp_new(sv[0], on_event, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	qmp_free(f->q);
	close(f->srv);
	for (int i = 0; i < f->n_replies; i++)
		json_decref(f->replies[i]);
	free(f);
	return 0;
}

static void srv_send(struct fake *f, const char *s)
{
	assert_int_equal(write(f->srv, s, strlen(s)), (ssize_t)strlen(s));
}

/* Flushes the client and returns what the fake server received. */
static char *srv_recv(struct fake *f)
{
	static char buf[8192];
	ssize_t n;

	assert_int_equal(qmp_on_writable(f->q), 0);
	n = recv(f->srv, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static void pump(struct fake *f)
{
	struct ferr err = {0};
	int r = qmp_on_readable(f->q, &err);
	if (r != 0)
		fail_msg("qmp_on_readable: %d %s", r, err.msg);
}

static void handshake(struct fake *f)
{
	srv_send(f, GREETING);
	pump(f);
	char *out = srv_recv(f);
	assert_non_null(strstr(out, "\"qmp_capabilities\""));
	assert_non_null(strstr(out, "\"id\":0"));
	/* The greeting offers oob: we take it. */
	assert_non_null(strstr(out, "\"enable\":[\"oob\"]"));
	assert_false(qmp_ready(f->q));
	srv_send(f, "{\"return\": {}, \"id\": 0}\r\n");
	pump(f);
	assert_true(qmp_ready(f->q));
}

static void test_greeting_holds_commands(void **state)
{
	struct fake *f = *state;
	void *ctx[2] = { f, (void *)1 };

	/* Sent before the handshake: held until capabilities are accepted. */
	long id = qmp_send(f->q, "query-status", NULL, on_reply, ctx);
	assert_true(id > 0);
	srv_send(f, GREETING);
	pump(f);
	char *out = srv_recv(f);
	assert_non_null(strstr(out, "qmp_capabilities"));
	assert_null(strstr(out, "query-status"));
	srv_send(f, "{\"return\": {}, \"id\": 0}\r\n");
	pump(f);
	out = srv_recv(f);
	assert_non_null(strstr(out, "\"execute\":\"query-status\""));
	char reply[128];
	snprintf(reply, sizeof(reply), "{\"return\": {\"status\": \"running\"}, \"id\": %ld}\r\n", id);
	srv_send(f, reply);
	pump(f);
	assert_int_equal(f->n_replies, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(f->replies[0], "return"), "status")), "running");
}

static void test_out_of_order_replies_and_events(void **state)
{
	struct fake *f = *state;
	void *c1[2] = { f, (void *)1 }, *c2[2] = { f, (void *)2 };
	char msg[512];

	handshake(f);
	long a = qmp_send(f->q, "stop", NULL, on_reply, c1);
	long b = qmp_send(f->q, "query-migrate", json_pack("{s:b}", "x", 1), on_reply, c2);
	char *out = srv_recv(f);
	assert_non_null(strstr(out, "\"arguments\":{\"x\":true}"));
	/* An event, then b's reply, then a's, all in one write. */
	snprintf(msg, sizeof(msg),
		 "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 123456}, \"event\": \"STOP\"}\r\n"
		 "{\"return\": {\"status\": \"active\"}, \"id\": %ld}\r\n"
		 "{\"return\": {}, \"id\": %ld}\r\n", b, a);
	srv_send(f, msg);
	pump(f);
	assert_int_equal(f->n_events, 1);
	assert_string_equal(f->events[0], "STOP");
	assert_true(f->event_us[0] == 1700000000123456LL);
	assert_int_equal(f->n_replies, 2);
	assert_int_equal(f->order[0], 2);
	assert_int_equal(f->order[1], 1);
}

static void test_byte_by_byte_framing(void **state)
{
	struct fake *f = *state;
	void *c1[2] = { f, (void *)1 };
	char msg[256];

	handshake(f);
	long a = qmp_send(f->q, "query-status", NULL, on_reply, c1);
	srv_recv(f);
	/* Braces and quotes inside strings must not confuse the framer. */
	snprintf(msg, sizeof(msg), "{\"event\": \"X\", \"data\": {\"s\": \"a } \\\" {\"}}\r\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"no } way\"}, \"id\": %ld}\r\n", a);
	for (size_t i = 0; i < strlen(msg); i++) {
		assert_int_equal(write(f->srv, msg + i, 1), 1);
		pump(f);
		if (i < strlen(msg) / 2)
			assert_int_equal(f->n_replies, 0);
	}
	assert_int_equal(f->n_events, 1);
	assert_int_equal(f->n_replies, 1);
	assert_string_equal(qmp_reply_error(f->replies[0]), "no } way");
}

static void test_oob(void **state)
{
	struct fake *f = *state;
	/* Unanswered: teardown's qmp_free calls back with it, so not on our stack. */
	static void *c1[2];
	c1[0] = f;
	c1[1] = (void *)1;

	handshake(f);
	assert_true(qmp_has_oob(f->q));
	qmp_send_oob(f->q, "migrate-pause", NULL, on_reply, c1);
	qmp_send(f->q, "query-status", NULL, on_reply, c1);
	char *out = srv_recv(f);
	assert_non_null(strstr(out, "\"exec-oob\":\"migrate-pause\""));
	assert_non_null(strstr(out, "\"execute\":\"query-status\""));
}

static void test_eof_and_pending(void **state)
{
	struct fake *f = *state;
	void *c1[2] = { f, (void *)7 };
	struct ferr err = {0};

	handshake(f);
	qmp_send(f->q, "quit", NULL, on_reply, c1);
	srv_recv(f);
	close(f->srv);
	f->srv = -1;
	assert_int_equal(qmp_on_readable(f->q, &err), -EPIPE);
	assert_int_equal(f->n_replies, 0);
	qmp_free(f->q);   /* pending callbacks see NULL */
	f->q = NULL;
	assert_int_equal(f->n_replies, 1);
	assert_null(f->replies[0]);
	assert_int_equal(f->order[0], 7);
}

static void test_protocol_errors(void **state)
{
	struct fake *f = *state;
	struct ferr err = {0};

	/* No greeting first. */
	srv_send(f, "{\"return\": {}}\r\n");
	assert_int_equal(qmp_on_readable(f->q, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "greeting"));
}

static void test_unknown_id_and_garbage(void **state)
{
	struct fake *f = *state;
	struct ferr err = {0};

	handshake(f);
	srv_send(f, "{\"return\": {}, \"id\": 999}\r\n");
	assert_int_equal(qmp_on_readable(f->q, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "999"));
	srv_send(f, "not json\r\n");
	assert_int_equal(qmp_on_readable(f->q, &err), -EPROTO);
}

/* A fake QMP server on a real Unix socket, for the blocking helpers. */
static void *server_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd = accept(lfd, NULL, NULL);
	char buf[4096];
	ssize_t n;

	(void)!write(fd, GREETING, strlen(GREETING));
	while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		json_error_t je;
		json_t *m = json_loadb(buf, n, JSON_DISABLE_EOF_CHECK, &je);
		json_t *id = json_object_get(m, "id");
		const char *cmd = json_string_value(json_object_get(m, "execute"));
		char out[512];
		if (!strcmp(cmd, "qmp_capabilities"))
			snprintf(out, sizeof(out), "{\"return\": {}, \"id\": %lld}\r\n", json_integer_value(id));
		else if (!strcmp(cmd, "query-status"))
			snprintf(out, sizeof(out), "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n"
				 "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": %lld}\r\n", json_integer_value(id));
		else if (!strcmp(cmd, "slow"))
			out[0] = 0;  /* never answered */
		else
			snprintf(out, sizeof(out), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %s has not been found\"}, \"id\": %lld}\r\n",
				 cmd, json_integer_value(id));
		json_decref(m);
		if (out[0])
			(void)!write(fd, out, strlen(out));
	}
	close(fd);
	return NULL;
}

static void test_blocking_call(void **state)
{
	(void)state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ferr err = {0};
	struct fake f = {0};
	pthread_t th;
	json_t *ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ferry-qmp-test-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pthread_create(&th, NULL, server_thread, (void *)(intptr_t)lfd);
	int fd = qmp_connect_unix(sa.sun_path, &err);
	assert_true(fd >= 0);
	struct qmp *q = qmp_new(fd, on_event, &f);
	assert_int_equal(qmp_call(q, "query-status", NULL, 2000, &ret, &err), 0);
	assert_true(json_is_true(json_object_get(ret, "running")));
	assert_int_equal(f.n_events, 1);
	assert_true(f.event_us[0] == 1000002);
	json_decref(ret);
	assert_int_equal(qmp_call(q, "nonsense", NULL, 2000, &ret, &err), -EIO);
	assert_non_null(strstr(err.msg, "has not been found"));
	assert_int_equal(qmp_call(q, "slow", NULL, 200, &ret, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no answer"));
	qmp_free(q);
	pthread_join(th, NULL);
	close(lfd);
	unlink(sa.sun_path);
	/* No socket: a clear error. */
	assert_true(qmp_connect_unix("/nonexistent/qmp.sock", &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/qmp.sock"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_holds_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_replies_and_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_and_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_id_and_garbage, setup, teardown),
		cmocka_unit_test(test_blocking_call),
	};
	return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}

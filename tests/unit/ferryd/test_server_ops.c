/* test_server_ops.c: server.c's op table: it names the same ops as
 * proto/args.c's schemas, and a request that is unknown, lacks an
 * argument, has one of the wrong type or too long, or names no VM gets a
 * clear error and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferryd/agent.h"
#include "ferryd/loop.h"

static struct agent *ag;
static json_t *last;
static char dir[] = "/tmp/ferry-ops.XXXXXX";

static void record(struct agent *a, long client_id, json_t *msg)
{
	(void)a;
	assert_int_equal(client_id, 5);
	json_decref(last);
	last = msg;
}

/* Dispatches text; the error sentence, or NULL if it succeeded. */
static const char *ask(const char *text)
{
	json_t *m = json_loads(text, 0, NULL);

	assert_non_null(m);
	json_decref(last);
	last = NULL;
	server_dispatch(ag, 5, m, record);
	json_decref(m);
	assert_non_null(last);   /* answered at once */
	return json_string_value(json_object_get(last, "error"));
}

static void expect_err(const char *text, const char *want)
{
	const char *e = ask(text);
	if (!e || !strstr(e, want))
		fail_msg("%s: got %s, want an error saying '%s'", text, e ? e : "success", want);
}

static void test_tables_agree(void **state)
{
	struct ferr err = {0};

	(void)state;
	if (server_ops_check(&err) < 0)
		fail_msg("%s", err.msg);
}

static void test_refusals(void **state)
{
	char big[8192], hist[300];

	(void)state;
	expect_err("{\"id\": 1, \"op\": \"format-disk\"}", "unknown op 'format-disk'");
	expect_err("{\"id\": 2, \"op\": \"status\"}", "name");
	expect_err("{\"id\": 3, \"op\": \"status\", \"args\": {\"name\": 7}}", "name");
	expect_err("{\"id\": 4, \"op\": \"status\", \"args\": {\"name\": \"web1\", \"extra\": 1}}", "extra");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	char *req = malloc(sizeof(big) + 100);
	snprintf(req, sizeof(big) + 100, "{\"id\": 5, \"op\": \"status\", \"args\": {\"name\": \"%s\"}}", big);
	expect_err(req, "name");
	free(req);
	expect_err("{\"id\": 6, \"op\": \"status\", \"args\": {\"name\": \"web1\"}}", "no VM named web1 on host a");
	expect_err("{\"id\": 7, \"op\": \"migrate\", \"args\": {\"name\": \"web1\", \"dest\": {\"host\": \"b\", "
		   "\"addr\": \"10.9.0.2\", \"port\": 7480}}}", "no VM named web1");
	expect_err("{\"id\": 8, \"op\": \"history-add\"}", "record");
	expect_err("{\"id\": 9, \"op\": \"history-add\", \"args\": {\"record\": {\"name\": \"../x\"}}}", "record");
	expect_err("{\"id\": 10, \"op\": \"mig-prepare\", \"args\": {\"config\": 3, \"src_host\": \"b\"}}", "config");
	expect_err("{\"op\": \"ping\"}", "bad request");
	/* Nothing was done: no VM, no history. */
	assert_null(ag->vms);
	snprintf(hist, sizeof(hist), "%s/state/history.jsonl", dir);
	assert_int_not_equal(access(hist, F_OK), 0);
	/* And a good request still works. */
	assert_null(ask("{\"id\": 11, \"op\": \"ping\"}"));
	assert_int_equal(json_integer_value(json_object_get(last, "id")), 11);
}

int main(void)
{
	char text[512];
	struct ferr err = {0};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_agree),
		cmocka_unit_test(test_refusals),
	};

	if (!mkdtemp(dir))
		return 1;
	snprintf(text, sizeof(text), "host = \"a\"\nlisten = [ \"unix:%s/a.sock\" ]\nstate_dir = \"%s/state\"\n", dir, dir);
	ag = calloc(1, sizeof(*ag));
	if (agentcfg_parse(text, strlen(text), "a.conf", &ag->cfg, &err) < 0)
		return 1;
	ag->loop = loop_new();
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(last);
	loop_free(ag->loop);
	agentcfg_free(ag->cfg);
	free(ag);
	rm_rf(dir);
	return r;
}

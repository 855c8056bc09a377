/* harness.c: see harness.h. Not a test itself (no main): linked into
 * test_migsm by the Makefile's rule for tests/unit/ferryd/test_migsm. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "ferryd/loop.h"
#include "ferryd/mig.h"
#include "ferryd/peer.h"
#include "ferryd/request.h"

struct agent *ag;
char tmp[256];
int64_t clock_offset_us;
static json_t *answers;          /* every message sent to the test's client */
static long waiting_for;
static long reaper;

/* ---- the clock ---------------------------------------------------------- */

int64_t __real_time_mono_us(void);
int64_t __wrap_time_mono_us(void);
int64_t __wrap_time_mono_us(void)
{
	return __real_time_mono_us() + clock_offset_us;
}

static int pending_jump_ms;
static void do_jump(struct loop *l, void *opaque)
{
	(void)l;
	(void)opaque;
	clock_offset_us += pending_jump_ms * 1000LL;
}

void clock_jump_after(int delay_ms, int jump_ms)
{
	pending_jump_ms = jump_ms;
	loop_add_timer(ag->loop, delay_ms, do_jump, NULL);
}

/* ---- the fake peer ------------------------------------------------------ */

struct peer {
	bool dead;
	int n;
	peer_ready_cb ready;
	void *opaque;
	struct peer *next;
};
struct pcall {
	long id;
	struct pcall *next;       /* pending calls */
	struct peer *p;
	json_t *result;
	char err[200];
	peer_reply_cb cb;
	void *opaque;
};
static struct { char op[32]; int from; char *result; char err[200]; bool hang; } prules[32];
static int n_prules, connect_fail_from, n_connects;
static char connect_err[200];
static struct peer *peers;
static struct pcall *pending;
static long next_call_id = 1;
static char ops_seen[4096];
static json_t *op_counts;

struct peer *__wrap_peer_connect(struct agent *a, const char *host, const char *addr, int port, peer_ready_cb ready,
				 void *opaque);
long __wrap_peer_call(struct peer *p, const char *op, json_t *args, peer_reply_cb cb, void *opaque);
long __wrap_peer_call_timeout(struct peer *p, const char *op, json_t *args, int timeout_ms, peer_reply_cb cb,
			      void *opaque);
void __wrap_peer_free(struct peer *p);

void peer_rule(const char *op, int from, const char *result, const char *err, bool hang)
{
	assert_true(n_prules < 32);
	snprintf(prules[n_prules].op, sizeof(prules[0].op), "%s", op);
	prules[n_prules].from = from ? from : 1;
	prules[n_prules].result = result ? strdup(result) : NULL;
	snprintf(prules[n_prules].err, sizeof(prules[0].err), "%s", err ?: "");
	prules[n_prules++].hang = hang;
}

void peer_connect_fails(int from, const char *err)
{
	connect_fail_from = from;
	snprintf(connect_err, sizeof(connect_err), "%s", err);
}

const char *peer_ops(void)
{
	return ops_seen;
}

static void connected(struct loop *l, void *opaque)
{
	struct peer *p = opaque;

	(void)l;
	if (p->dead)
		return;
	bool fail = connect_fail_from && p->n >= connect_fail_from;
	p->ready(p, fail ? connect_err : NULL, p->opaque);
}

struct peer *__wrap_peer_connect(struct agent *a, const char *host, const char *addr, int port, peer_ready_cb ready,
				 void *opaque)
{
	struct peer *p = calloc(1, sizeof(*p));

	(void)host;
	(void)addr;
	(void)port;
	p->n = ++n_connects;
	p->ready = ready;
	p->opaque = opaque;
	p->next = peers;
	peers = p;
	loop_add_timer(a->loop, 0, connected, p);
	return p;
}

static void answered(struct loop *l, void *opaque)
{
	struct pcall *c = opaque;

	(void)l;
	for (struct pcall **pc = &pending; *pc; pc = &(*pc)->next)
		if (*pc == c) {
			*pc = c->next;
			break;
		}
	if (!c->p->dead && c->cb)
		c->cb(c->p, c->result, c->err[0] ? c->err : NULL, c->opaque);
	json_decref(c->result);
	free(c);
}

long __wrap_peer_call_timeout(struct peer *p, const char *op, json_t *args, int timeout_ms, peer_reply_cb cb,
			      void *opaque)
{
	(void)timeout_ms;
	json_decref(args);
	if (strlen(ops_seen) + strlen(op) + 2 < sizeof(ops_seen))
		strcat(strcat(ops_seen, ops_seen[0] ? "," : ""), op);
	json_int_t n = json_integer_value(json_object_get(op_counts, op)) + 1;
	json_object_set_new(op_counts, op, json_integer(n));
	int rule = -1;
	for (int i = 0; i < n_prules; i++)
		if (!strcmp(prules[i].op, op) && n >= prules[i].from)
			rule = i;
	if (rule >= 0 && prules[rule].hang)
		return 1;
	struct pcall *c = calloc(1, sizeof(*c));
	c->p = p;
	c->cb = cb;
	c->opaque = opaque;
	c->id = next_call_id++;
	c->next = pending;
	pending = c;
	if (rule >= 0 && prules[rule].err[0])
		snprintf(c->err, sizeof(c->err), "%s", prules[rule].err);
	else
		c->result = rule >= 0 && prules[rule].result ? json_loads(prules[rule].result, 0, NULL) : json_object();
	loop_add_timer(ag->loop, 1, answered, c);
	return c->id;
}

void __wrap_peer_forget(struct peer *p, long id);
void __wrap_peer_forget(struct peer *p, long id)
{
	for (struct pcall *c = pending; c; c = c->next)
		if (c->p == p && c->id == id)
			c->cb = NULL;
}

long __wrap_peer_call(struct peer *p, const char *op, json_t *args, peer_reply_cb cb, void *opaque)
{
	return __wrap_peer_call_timeout(p, op, args, 60000, cb, opaque);
}

void __wrap_peer_free(struct peer *p)
{
	if (p)
		p->dead = true;   /* its calls in flight are dropped; freed at teardown */
}

/* ---- the source agent's connection, as the server would see it ---------- */

long long source_idle_us;   /* -1: its connection is gone */
long long __wrap_server_client_idle_us(struct agent *a, long client_id);
long long __wrap_server_client_idle_us(struct agent *a, long client_id)
{
	(void)a;
	(void)client_id;
	return source_idle_us;
}

/* No socket: the destination falls back to its configured TCP address. */
int __wrap_server_client_local_addr(struct agent *a, long client_id, char *out, size_t n);
int __wrap_server_client_local_addr(struct agent *a, long client_id, char *out, size_t n)
{
	(void)a; (void)client_id; (void)out; (void)n;
	return -ENOENT;
}

void source_connection_closes(long client_id)
{
	source_idle_us = -1;
	for (int i = 0; i < ag->n_gone_hooks; i++)
		ag->gone_hooks[i].fn(ag, client_id, ag->gone_hooks[i].opaque);
}

/* ---- the fake QEMU ------------------------------------------------------ */

void qemu_script(const char *transcript, const char *rules_json)
{
	char path[512], src[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/script.json", tmp);
	assert_non_null(f = fopen(path, "w"));
	if (transcript) {
		assert_non_null(realpath("tests/unit/ferryd/qmp", src));
		fprintf(f, "{\"transcript\": \"%s/%s\", \"rules\": %s}\n", src, transcript, rules_json ?: "[]");
	} else {
		fprintf(f, "{\"rules\": %s}\n", rules_json ?: "[]");
	}
	fclose(f);
	setenv("FAKE_QEMU_SCRIPT", path, 1);
}

static json_t *qmp_log(void)
{
	char path[512], line[65536];
	json_t *all = json_array();
	FILE *f;

	snprintf(path, sizeof(path), "%s/qmp.log", tmp);
	if (!(f = fopen(path, "r")))
		return all;
	while (fgets(line, sizeof(line), f)) {
		json_t *m = json_loads(line, 0, NULL);
		if (m)
			json_array_append_new(all, m);
	}
	fclose(f);
	return all;
}

const char *qmp_sent(void)
{
	static char out[8192];
	json_t *all = qmp_log(), *m;
	size_t i;

	out[0] = 0;
	json_array_foreach(all, i, m) {
		const char *n = json_string_value(json_object_get(m, "execute")) ?: json_string_value(json_object_get(m, "exec-oob"));
		if (n && strlen(out) + strlen(n) + 2 < sizeof(out))
			strcat(strcat(out, out[0] ? "," : ""), n);
	}
	json_decref(all);
	return out;
}

json_t *qmp_args(const char *cmd, int n)
{
	static json_t *keep;
	json_t *all = qmp_log(), *m, *found = NULL;
	size_t i;

	json_array_foreach(all, i, m) {
		const char *name = json_string_value(json_object_get(m, "execute")) ?: json_string_value(json_object_get(m, "exec-oob"));
		if (name && !strcmp(name, cmd) && n-- == 0) {
			found = json_incref(json_object_get(m, "arguments"));
			break;
		}
	}
	json_decref(all);
	json_decref(keep);
	keep = found;
	return found;
}

/* ---- the agent ---------------------------------------------------------- */

static void send_to_test(struct agent *a, long client_id, json_t *msg)
{
	(void)client_id;
	json_array_append_new(answers, msg);
	if (json_object_get(msg, "id") && !json_object_get(msg, "progress") &&
	    json_integer_value(json_object_get(msg, "id")) == waiting_for)
		loop_stop(a->loop);
}

struct request *client_request(long id)
{
	return request_new(ag, 1, id, send_to_test);
}

static json_t *find_answer(long id)
{
	json_t *m;
	size_t i;

	json_array_foreach(answers, i, m)
		if (!json_object_get(m, "progress") && json_integer_value(json_object_get(m, "id")) == id)
			return m;
	return NULL;
}

/* The agent's SIGCHLD work (main.c), polled; and the real-time deadline. */
static int64_t deadline_us;
static void reap(struct loop *l, void *opaque)
{
	int st;
	pid_t pid;

	(void)opaque;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (!child_on_exit(ag, pid, st))
			vm_on_child_exit(ag, pid, st);
	if (deadline_us && __real_time_mono_us() > deadline_us)
		loop_stop(l);
	reaper = loop_add_timer(l, 10, reap, NULL);
}

json_t *wait_reply(long id, int max_ms)
{
	json_t *m = find_answer(id);

	if (m)
		return m;
	waiting_for = id;
	deadline_us = __real_time_mono_us() + max_ms * 1000LL;
	loop_run(ag->loop);
	deadline_us = 0;
	waiting_for = 0;
	return find_answer(id);
}

void run_for(int ms)
{
	waiting_for = -1;
	deadline_us = __real_time_mono_us() + ms * 1000LL;
	loop_run(ag->loop);
	deadline_us = 0;
	waiting_for = 0;
}

static char exe_tools[PATH_MAX + 32];

void harness_setup(void)
{
	char text[PATH_MAX * 3], path[600], exe[PATH_MAX];
	struct ferr err = {0};
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = 0;
	/* BUILD/tests/ferryd/test_migsm -> BUILD/tools/fake_qemu */
	for (int k = 0; k < 3; k++)
		*strrchr(exe, '/') = 0;
	snprintf(exe_tools, sizeof(exe_tools), "%s/tools/fake_qemu", exe);
	assert_int_equal(access(exe_tools, X_OK), 0);
	snprintf(tmp, sizeof(tmp), "%s/ferry-migsm.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(text, sizeof(text),
		 "host = \"a\"\nlisten = [ \"unix:%s/a.sock\", \"tcp:127.0.0.1:7480\" ]\nkey_file = \"%s/key\"\n"
		 "state_dir = \"%s/state\"\nqemu = \"%s\"\naccel = \"tcg\"\nallow_insecure = 1\nvm_dirs = [ \"%s\" ]\n",
		 tmp, tmp, tmp, exe_tools, tmp);
	ag = calloc(1, sizeof(*ag));
	assert_int_equal(agentcfg_parse(text, strlen(text), "a.conf", &ag->cfg, &err), 0);
	ag->loop = loop_new();
	ag->have_key = true;
	ag->qemu_version = 702;
	for (int i = 0; i < TLS_KEY_BYTES; i++)
		ag->key.bytes[i] = (unsigned char)(i * 7 + 1);
	snprintf(path, sizeof(path), "%s/vmlinuz", tmp);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a kernel: fake_qemu never reads it\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/qmp.log", tmp);
	setenv("FAKE_QEMU_LOG", path, 1);
	qemu_script(NULL, NULL);
	answers = json_array();
	op_counts = json_object();
	ops_seen[0] = 0;
	n_prules = n_connects = connect_fail_from = 0;
	/* The destination's facts for the preflight: host b's real answer to
	 * host-facts in the lab (a test may answer otherwise). */
	char *facts = NULL;
	assert_int_equal(file_read_all("tests/unit/ferryd/migsm/b-host-facts.json", 1 << 20, &facts, NULL), 0);
	peer_rule("host-facts", 1, facts, NULL, false);
	free(facts);
	clock_offset_us = 0;
	source_idle_us = 0;
	reaper = loop_add_timer(ag->loop, 10, reap, NULL);
}

void harness_teardown(void)
{
	/* Every VM goes (by its QEMU's pid, through ferryd's own path). */
	for (struct vm *vm = ag->vms; vm; vm = vm->next)
		vm_kill(vm);
	for (int i = 0; i < 300 && ag->vms; i++)
		run_for(10);
	/* Whatever did not go (a failed test): its fake QEMU ends by pid. */
	bool left = ag->vms != NULL;
	for (struct vm *vm = ag->vms; vm; vm = vm->next)
		if (vm->pid > 0)
			kill(vm->pid, SIGKILL);
	for (int i = 0; i < 300 && ag->vms; i++)
		run_for(10);
	assert_false(left);
	run_for(20);
	loop_cancel_timer(ag->loop, reaper);
	while (peers) {
		struct peer *p = peers;
		peers = p->next;
		free(p);
	}
	for (int i = 0; i < n_prules; i++)
		free(prules[i].result);
	json_decref(answers);
	json_decref(op_counts);
	loop_free(ag->loop);
	agentcfg_free(ag->cfg);
	free(ag);
	rm_rf(tmp);
}

static struct vm *boot_text(const char *text)
{
	struct vm_config *cfg;
	struct ferr err = {0};

	assert_int_equal(vmcfg_parse(text, strlen(text), "web1.cfg", NULL, &cfg, &err), 0);
	vm_create(client_request(1), cfg);
	json_t *r = wait_reply(1, 10000);
	if (!r || !json_object_get(r, "result"))
		fail_msg("web1 did not start: %s", r ? json_dumps(r, 0) : "no answer");
	struct vm *vm = vm_find(ag, "web1");
	assert_non_null(vm);
	assert_int_equal(vm->state, VM_RUNNING);
	return vm;
}

struct vm *boot_web1(void)
{
	char text[512];

	snprintf(text, sizeof(text), "name = \"web1\"\nmemory = 64\nkernel = \"%s/vmlinuz\"\naccel = \"tcg\"\n", tmp);
	return boot_text(text);
}

struct vm *boot_web1_disk(const char *path)
{
	char text[1024];
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("some data on the disk", f);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	snprintf(text, sizeof(text), "name = \"web1\"\nmemory = 64\nkernel = \"%s/vmlinuz\"\naccel = \"tcg\"\n"
		 "disk = [ \"target=%s,format=raw,vdev=vda,access=w\" ]\n", tmp, path);
	return boot_text(text);
}

json_t *last_record(void)
{
	json_t *recs = mig_any_history_read(ag, "web1", 1, 0);
	json_t *r = json_incref(json_array_get(recs, json_array_size(recs) - 1));

	json_decref(recs);
	return r;
}

const char *phases_of(json_t *rec)
{
	static char out[512];
	json_t *p;
	size_t i;

	out[0] = 0;
	json_array_foreach(json_object_get(rec, "phases"), i, p) {
		const char *n = json_string_value(json_object_get(p, "phase"));
		if (n && strlen(out) + strlen(n) + 2 < sizeof(out))
			strcat(strcat(out, out[0] ? ">" : ""), n);
	}
	return out;
}

json_t *migrate_args(const char *opts_json)
{
	json_t *opts = json_loads(opts_json ?: "{}", 0, NULL);

	assert_non_null(opts);
	return json_pack("{s:s, s:{s:s, s:s, s:i}, s:o}", "name", "web1", "dest", "host", "b", "addr", "10.9.0.2",
			 "port", 7480, "opts", opts);
}

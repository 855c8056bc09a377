/* fake_qemu: stands in for qemu-system-x86_64 in ferryd's unit tests. It is
 * started by ferryd the way QEMU is (the agent config's `qemu`), serves QMP
 * on the -qmp socket and answers from a transcript of a real QEMU 7.2 move
 * (recorded with FERRYD_QMP_TRACE, kept under tests/unit/ferryd/qmp/),
 * overridden by a scenario's rules:
 *   FAKE_QEMU_SCRIPT=FILE  {"transcript": "PATH.jsonl",
 *                           "rules": [{"cmd": NAME, "from": N, "reply": {...},
 *                                      "events": [{"event": ..., "data": ...}],
 *                                      "exit": true, "hang": true}, ...]}
 *     A rule applies to the N-th (default 1st) and later commands NAME, and
 *     with "after": OTHER only once OTHER was received ("after_count"
 *     times, default 1), at most "times" times if given; the last matching
 *     rule wins. reply: the whole answer ({"return": ...} or
 *     {"error": ...}); without one, the transcript's next recorded answer to
 *     NAME (its last one repeats), else {"return": {}}. events: sent after
 *     the answer (the transcript's events recorded after it otherwise).
 *     exit: the process ends after answering (QEMU died); hang: no answer.
 *   FAKE_QEMU_LOG=FILE  every command received, one JSON line each.
 * It keeps a run state for query-status (stop/cont/quit, -S, -incoming). */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_NAMES 64

/* The transcript, grouped per command name: the answers in order, each with
 * the events recorded after it (before the next command). */
struct recorded {
	char name[64];
	json_t *answers;   /* [[reply, [events...]], ...] */
	size_t next;
};
static struct recorded rec[MAX_NAMES];
static int n_rec;
static json_t *rules;
static int seen[MAX_NAMES];
static char seen_name[MAX_NAMES][64];
static int n_seen;
static FILE *cmdlog;
static const char *run_state = "running";

static struct recorded *rec_of(const char *name, bool add)
{
	for (int i = 0; i < n_rec; i++)
		if (!strcmp(rec[i].name, name))
			return &rec[i];
	if (!add || n_rec == MAX_NAMES)
		return NULL;
	snprintf(rec[n_rec].name, sizeof(rec[0].name), "%s", name);
	rec[n_rec].answers = json_array();
	return &rec[n_rec++];
}

static int seen_count(const char *name)
{
	for (int i = 0; i < n_seen; i++)
		if (!strcmp(seen_name[i], name))
			return seen[i];
	return 0;
}

static int count(const char *name)
{
	for (int i = 0; i < n_seen; i++)
		if (!strcmp(seen_name[i], name))
			return ++seen[i];
	if (n_seen == MAX_NAMES)
		return 1;
	snprintf(seen_name[n_seen], sizeof(seen_name[0]), "%s", name);
	seen[n_seen++] = 1;
	return 1;
}

static void load_transcript(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[65536];
	json_t *last = NULL;   /* [reply, events] of the last command answered */
	json_t *pending = NULL; /* ids of commands sent, waiting for answers: name by id */

	if (!f) {
		fprintf(stderr, "fake_qemu: cannot open %s\n", path);
		exit(1);
	}
	pending = json_object();
	while (fgets(line, sizeof(line), f)) {
		json_t *m = json_loads(line, 0, NULL), *o, *i;
		if (!m)
			continue;
		if ((o = json_object_get(m, "out"))) {
			const char *name = json_string_value(json_object_get(o, "execute")) ?:
					   json_string_value(json_object_get(o, "exec-oob"));
			char id[32];
			snprintf(id, sizeof(id), "%lld", json_integer_value(json_object_get(o, "id")));
			if (name)
				json_object_set_new(pending, id, json_string(name));
		} else if ((i = json_object_get(m, "in"))) {
			if (json_object_get(i, "event")) {
				if (last)
					json_array_append(json_array_get(last, 1), i);
			} else if (json_object_get(i, "id")) {
				char id[32];
				snprintf(id, sizeof(id), "%lld", json_integer_value(json_object_get(i, "id")));
				const char *name = json_string_value(json_object_get(pending, id));
				struct recorded *r = name ? rec_of(name, true) : NULL;
				if (r) {
					last = json_pack("[O, []]", i);
					json_array_append_new(r->answers, last);
				}
			}
		}
		json_decref(m);
	}
	json_decref(pending);
	fclose(f);
}

static json_t *now_ts(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return json_pack("{s:I, s:I}", "seconds", (json_int_t)tv.tv_sec, "microseconds", (json_int_t)tv.tv_usec);
}

/* A peer that hung up (ferryd's launcher only reads the greeting) ends the
 * connection, not this process. */
static void send_msg(int fd, json_t *m)
{
	char *s = json_dumps(m, JSON_COMPACT);
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);
		if (w <= 0)
			break;
		off += w;
	}
	if (off == n)
		(void)!write(fd, "\r\n", 2);
	free(s);
}

static void send_event(int fd, json_t *ev)
{
	json_t *e = json_deep_copy(ev);
	json_object_set_new(e, "timestamp", now_ts());
	send_msg(fd, e);
	const char *name = json_string_value(json_object_get(e, "event"));
	if (name && !strcmp(name, "STOP"))
		run_state = "paused";
	else if (name && !strcmp(name, "RESUME"))
		run_state = "running";
	json_decref(e);
}

/* The answer and events to a command: rules first, then the transcript. */
static void answer(int fd, const char *name, json_t *id)
{
	int nth = count(name);
	json_t *rule = NULL, *r;
	size_t i;

	json_array_foreach(rules, i, r) {
		json_int_t from = json_integer_value(json_object_get(r, "from"));
		const char *after = json_string_value(json_object_get(r, "after"));
		json_int_t after_n = json_integer_value(json_object_get(r, "after_count"));
		if (strcmp(json_string_value(json_object_get(r, "cmd")) ?: "", name) || nth < (from ? from : 1))
			continue;
		if (after && seen_count(after) < (after_n ? after_n : 1))
			continue;
		json_int_t times = json_integer_value(json_object_get(r, "times"));
		if (times && json_integer_value(json_object_get(r, "used")) >= times)
			continue;
		rule = r;
	}
	if (rule)
		json_object_set_new(rule, "used", json_integer(json_integer_value(json_object_get(rule, "used")) + 1));
	if (rule && json_is_true(json_object_get(rule, "hang")))
		return;
	json_t *reply = NULL, *events = NULL;
	struct recorded *rc = rec_of(name, false);
	json_t *recd = rc && json_array_size(rc->answers) ?
		json_array_get(rc->answers, rc->next < json_array_size(rc->answers) ? rc->next++ : json_array_size(rc->answers) - 1) : NULL;
	if (rule && json_object_get(rule, "reply"))
		reply = json_deep_copy(json_object_get(rule, "reply"));
	else if (recd)
		reply = json_deep_copy(json_array_get(recd, 0));
	else if (!strcmp(name, "query-status"))
		reply = json_pack("{s:{s:s, s:b}}", "return", "status", run_state, "running", !strcmp(run_state, "running"));
	else if (!strcmp(name, "qom-get"))   /* QEMU 7.2's answer for /machine's type, -machine pc */
		reply = json_pack("{s:s}", "return", "pc-i440fx-7.2-machine");
	else
		reply = json_pack("{s:{}}", "return");
	if (rule && json_object_get(rule, "events"))
		events = json_object_get(rule, "events");
	else if (recd && !(rule && json_object_get(rule, "reply")))
		events = json_array_get(recd, 1);
	/* query-status answers from the state, whatever was recorded. */
	if (!strcmp(name, "query-status") && !(rule && json_object_get(rule, "reply"))) {
		json_decref(reply);
		reply = json_pack("{s:{s:s, s:b}}", "return", "status", run_state, "running", !strcmp(run_state, "running"));
	}
	json_object_set(reply, "id", id);
	send_msg(fd, reply);
	json_decref(reply);
	/* The run state follows what a real QEMU would do. */
	if (!strcmp(name, "stop") && !events) {
		json_t *e = json_pack("{s:s}", "event", "STOP");
		send_event(fd, e);
		json_decref(e);
	} else if (!strcmp(name, "cont") && !events && strcmp(run_state, "running")) {
		json_t *e = json_pack("{s:s}", "event", "RESUME");
		send_event(fd, e);
		json_decref(e);
	}
	json_array_foreach(events, i, r)
		send_event(fd, r);
	if (!strcmp(name, "quit") || (rule && json_is_true(json_object_get(rule, "exit")))) {
		if (!strcmp(name, "quit")) {
			json_t *e = json_pack("{s:s, s:{s:b, s:s}}", "event", "SHUTDOWN", "data", "guest", 0, "reason", "host-qmp-quit");
			send_event(fd, e);
			json_decref(e);
		}
		exit(0);
	}
}

static void serve(int fd)
{
	char buf[65536];
	size_t len = 0;
	json_t *greet = json_loads("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 19, \"minor\": 2, \"major\": 7}, "
				   "\"package\": \"Debian 1:7.2+dfsg-7+deb12u7\"}, \"capabilities\": [\"oob\"]}}", 0, NULL);
	send_msg(fd, greet);
	json_decref(greet);
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return;
		len += n;
		buf[len] = 0;
		char *nl;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			json_t *m = json_loads(buf, 0, NULL);
			memmove(buf, nl + 1, len - (nl + 1 - buf) + 1);
			len -= nl + 1 - buf;
			if (!m)
				continue;
			const char *name = json_string_value(json_object_get(m, "execute")) ?:
					   json_string_value(json_object_get(m, "exec-oob"));
			if (cmdlog) {
				char *s = json_dumps(m, JSON_COMPACT);
				fprintf(cmdlog, "%s\n", s);
				fflush(cmdlog);
				free(s);
			}
			if (name)
				answer(fd, name, json_object_get(m, "id"));
			json_decref(m);
		}
	}
}

int main(int argc, char **argv)
{
	const char *qmp = NULL, *pidfile = NULL, *script = getenv("FAKE_QEMU_SCRIPT"), *logp = getenv("FAKE_QEMU_LOG");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "-qmp"))
			qmp = argv[i + 1];
		else if (!strcmp(argv[i], "-pidfile"))
			pidfile = argv[i + 1];
		else if (!strcmp(argv[i], "-incoming"))
			run_state = "inmigrate";
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-S"))
			run_state = "prelaunch";
	signal(SIGPIPE, SIG_IGN);
	if (!qmp || strncmp(qmp, "unix:", 5)) {
		fprintf(stderr, "fake_qemu: no -qmp unix:PATH\n");
		return 1;
	}
	rules = json_array();
	if (script) {
		json_t *s = json_load_file(script, 0, NULL);
		if (!s) {
			fprintf(stderr, "fake_qemu: cannot read %s\n", script);
			return 1;
		}
		const char *t = json_string_value(json_object_get(s, "transcript"));
		if (t)
			load_transcript(t);
		if (json_is_array(json_object_get(s, "rules")))
			json_array_extend(rules, json_object_get(s, "rules"));
		json_decref(s);
	}
	if (logp)
		cmdlog = fopen(logp, "a");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)(strcspn(qmp + 5, ",")), qmp + 5);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	unlink(sa.sun_path);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0) {
		fprintf(stderr, "fake_qemu: cannot listen on %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	/* ferryd's launcher connects once to see the greeting, then the agent. */
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
}

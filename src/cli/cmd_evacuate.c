/* cmd_evacuate.c: ferry evacuate HOST: every guest off a host, as for its
 * maintenance (docs/evacuate.md). Gathers the guests and the destinations'
 * loads, checks each guest against each destination (the preflight of
 * ferry check: blocking checks, dirty rate, estimate), plans (evac/plan.c),
 * then runs the moves, each in a child process making one ferry migrate,
 * several at once where the plan allows. A move that fails leaves its guest
 * where it was; the others go on; the summary names every guest's outcome. */
#include "cli/cli.h"
#include "config/hosts.h"
#include "evac/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define LINE_MAX_BYTES (1 << 20)   /* a child's record with a probe timeline fits */
#define MAX_PASS 24                 /* migrate options passed through */

/* One guest's move, in flight or ended. */
struct move {
	pid_t pid;
	int fd;                   /* the child's lines; -1 once read to the end */
	struct buf in;
	int64_t start_us, end_us;
	char phase[24];
	double percent;
	json_t *rec;              /* the result record: completed */
	char error[700];          /* or why not */
	bool started, ended;
};

struct evac {
	struct cli *cli;
	const char *host;
	json_t *opts;             /* the agent's migrate opts */
	bool check, dry_run, tty;
	int max_parallel;
	struct evac_guest guests[EVAC_MAX_GUESTS];
	struct move moves[EVAC_MAX_GUESTS];
	const char *probe[EVAC_MAX_GUESTS];   /* --probe NAME=ADDR: per guest */
	char skipped[EVAC_MAX_GUESTS][EVAC_NAME_MAX + 24];
	size_t n_guests, n_skipped;
	struct evac_dest dests[EVAC_MAX_DESTS];
	size_t n_dests;
	double link_mb_s;
};

/* ---- gathering ----------------------------------------------------------- */

/* The guests on the host to empty: running or paused ones move; others
 * (starting, incoming, shutting down) are named and left. */
static int gather_guests(struct evac *e)
{
	json_t *res, *v;
	size_t i;

	if (cli_call(e->cli, "list", json_object(), &res))
		return -1;
	json_array_foreach(json_object_get(res, "vms"), i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *state = json_string_value(json_object_get(v, "state"));
		if (!name || !state || strlen(name) > EVAC_NAME_MAX)
			continue;
		if (strcmp(state, "running") && strcmp(state, "paused")) {
			if (e->n_skipped < EVAC_MAX_GUESTS)
				snprintf(e->skipped[e->n_skipped++], sizeof(e->skipped[0]), "%s (%s)", name, state);
			continue;
		}
		if (e->n_guests == EVAC_MAX_GUESTS)
			break;
		struct evac_guest *g = &e->guests[e->n_guests++];
		memset(g, 0, sizeof(*g));
		snprintf(g->name, sizeof(g->name), "%s", name);
		g->memory_mb = json_integer_value(json_object_get(v, "memory_mb"));
		g->dirty_mb_s = -1;
		g->estimate_s = -1;
	}
	json_decref(res);
	return 0;
}

/* The destinations: --to's, or every other host of the hosts file; each
 * asked for its guests (their memory is its load). One that does not answer
 * is left out, said. */
static int gather_dests(struct evac *e, const char *to)
{
	const char *hosts = e->cli->hosts ? e->cli->hosts : hosts_default_path();
	char names[EVAC_MAX_DESTS][33];
	struct ferr err = {0};
	int n = 0;

	if (to) {
		char copy[1024];
		snprintf(copy, sizeof(copy), "%s", to);
		for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			struct host_entry h;
			if (n == EVAC_MAX_DESTS) {
				fprintf(stderr, "ferry: --to names at most %d hosts\n", EVAC_MAX_DESTS);
				return -1;
			}
			if (!strcmp(t, e->host)) {
				fprintf(stderr, "ferry: --to names %s, the host being emptied\n", t);
				return -1;
			}
			if (hosts_lookup(hosts, t, &h, &err) < 0) {
				fprintf(stderr, "ferry: %s\n", err.msg);
				return -1;
			}
			snprintf(names[n++], sizeof(names[0]), "%s", t);
		}
	} else {
		char all[EVAC_MAX_DESTS + 1][33];
		int k = hosts_names(hosts, all, EVAC_MAX_DESTS + 1, &err);
		if (k < 0) {
			fprintf(stderr, "ferry: %s\n", err.msg);
			return -1;
		}
		for (int i = 0; i < k && n < EVAC_MAX_DESTS; i++)
			if (strcmp(all[i], e->host))
				memcpy(names[n++], all[i], sizeof(all[i]));
	}
	for (int i = 0; i < n; i++) {
		struct agent_conn *c;
		json_t *res, *v;
		size_t k;
		if (agent_connect(e->cli, names[i], &c, &err) < 0 ||
		    agent_call(c, "list", json_object(), e->cli->timeout_ms, &res, &err) < 0) {
			if (err.msg[0])
				fprintf(stderr, "ferry: leaving out destination %s: %s\n", names[i], err.msg);
			continue;
		}
		agent_close(c);
		struct evac_dest *d = &e->dests[e->n_dests++];
		snprintf(d->name, sizeof(d->name), "%.32s", names[i]);
		d->load_mb = 0;
		json_array_foreach(json_object_get(res, "vms"), k, v)
			d->load_mb += json_integer_value(json_object_get(v, "memory_mb"));
		json_decref(res);
	}
	if (!e->n_dests) {
		fprintf(stderr, "ferry: no destination to move the guests of %s to\n", e->host);
		return -1;
	}
	return 0;
}

/* One guest against one destination: ferry check's preflight (with the
 * dirty rate and the link's rate). */
static void check_pair(struct evac *e, struct evac_guest *g, size_t d)
{
	const char *hosts = e->cli->hosts ? e->cli->hosts : hosts_default_path();
	struct host_entry h;
	struct ferr err = {0};
	struct agent_conn *c;
	json_t *res, *ck;
	size_t i;

	g->can_go[d] = false;
	if (hosts_lookup(hosts, e->dests[d].name, &h, &err) < 0 || agent_connect(e->cli, e->host, &c, &err) < 0) {
		snprintf(g->why_not, sizeof(g->why_not), "%.64s: %.130s", e->dests[d].name, err.msg);
		return;
	}
	int r = agent_call(c, "vm-check", migrate_request(g->name, &h, e->opts), e->cli->timeout_ms, &res, &err);
	agent_close(c);
	if (r < 0) {
		snprintf(g->why_not, sizeof(g->why_not), "%.64s: %.130s", e->dests[d].name, err.msg);
		return;
	}
	g->can_go[d] = json_integer_value(json_object_get(res, "blocking")) == 0;
	json_array_foreach(json_object_get(res, "checks"), i, ck) {
		const char *id = json_string_value(json_object_get(ck, "id"));
		const char *verdict = json_string_value(json_object_get(ck, "verdict"));
		json_t *f = json_object_get(ck, "facts");
		if (id && !strcmp(id, "network")) {
			if (json_is_number(json_object_get(f, "dirty_mb_s")))
				g->dirty_mb_s = json_number_value(json_object_get(f, "dirty_mb_s"));
			if (json_is_number(json_object_get(f, "estimate_s")))
				g->estimate_s = json_number_value(json_object_get(f, "estimate_s"));
			double bw = json_number_value(json_object_get(f, "bandwidth_mb_s"));
			if (bw > e->link_mb_s)
				e->link_mb_s = bw;
		}
		if (verdict && !strcmp(verdict, "blocking") && !g->can_go[d])
			snprintf(g->why_not, sizeof(g->why_not), "%s: %s: %s", e->dests[d].name,
				 json_string_value(json_object_get(ck, "title")) ?: "?",
				 json_string_value(json_object_get(ck, "destination")) ?: "?");
	}
	json_decref(res);
}

static void check_all(struct evac *e)
{
	size_t k = 0, total = e->n_guests * e->n_dests;

	for (size_t i = 0; i < e->n_guests; i++)
		for (size_t d = 0; d < e->n_dests; d++) {
			if (!e->check) {
				e->guests[i].can_go[d] = true;
				continue;
			}
			if (e->tty)
				fprintf(stderr, "\r\033[Kchecking %s -> %s (%zu of %zu, about 2 s each) ...", e->guests[i].name,
					e->dests[d].name, ++k, total);
			check_pair(e, &e->guests[i], d);
		}
	if (e->tty && e->check)
		fprintf(stderr, "\r\033[K");
}

/* ---- the plan ------------------------------------------------------------ */

static void print_plan(const struct evac *e, size_t moving)
{
	printf("evacuating %s: %zu guest(s), %zu to move, at most %d at once%s\n", e->host, e->n_guests, moving,
	       e->max_parallel, e->link_mb_s > 0 ? "" : " (link rate not measured)");
	if (e->link_mb_s > 0)
		printf("link rate %.0f MB/s (measured by the checks)\n", e->link_mb_s);
	printf("%-5s %-16s %8s %10s %10s %-12s %s\n", "ORDER", "NAME", "MEM_MB", "DIRTY_MB/S", "ESTIMATE_S", "TO", "HOW");
	for (int o = 0; o < (int)moving; o++)
		for (size_t i = 0; i < e->n_guests; i++) {
			const struct evac_guest *g = &e->guests[i];
			char dirty[16] = "-", est[16] = "-";
			if (g->order != o)
				continue;
			if (g->dirty_mb_s >= 0)
				snprintf(dirty, sizeof(dirty), "%.1f", g->dirty_mb_s);
			if (g->estimate_s >= 0)
				snprintf(est, sizeof(est), "%.2f", g->estimate_s);
			printf("%-5d %-16s %8lld %10s %10s %-12s %s\n", o + 1, g->name, g->memory_mb, dirty, est,
			       e->dests[g->dest].name, g->alone ? "alone (dirties over half its share of the link)" : "shared");
		}
	for (size_t i = 0; i < e->n_guests; i++)
		if (e->guests[i].order < 0)
			printf("stays %-16s %8lld  %s\n", e->guests[i].name, e->guests[i].memory_mb, e->guests[i].why_not);
	for (size_t i = 0; i < e->n_skipped; i++)
		printf("left  %s: not running or paused\n", e->skipped[i]);
}

/* ---- the moves ----------------------------------------------------------- */

static void child_line(int fd, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (s) {
		write_all(fd, s, strlen(s));
		write_all(fd, "\n", 1);
		free(s);
	}
	json_decref(o);
}

static void child_progress(json_t *p, void *opaque)
{
	child_line(*(int *)opaque, json_pack("{s:O}", "progress", p));
}

/* Starts guest g's move in a child: one ferry migrate, its progress and its
 * record (or error) as JSON lines on a pipe. */
static int move_start(struct evac *e, size_t i)
{
	struct evac_guest *g = &e->guests[i];
	struct move *m = &e->moves[i];
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	m->start_us = time_mono_us();
	m->pid = fork();
	if (m->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (m->pid == 0) {
		struct ferr err = {0};
		json_t *rec;
		int fd = fds[1];
		close(fds[0]);
		if (migrate_one(e->cli, e->host, g->name, e->dests[g->dest].name, e->opts, e->probe[i], false,
				child_progress, &fd, &rec, &err) < 0)
			child_line(fd, json_pack("{s:s}", "error", err.msg));
		else
			child_line(fd, json_pack("{s:o}", "record", rec));
		_exit(0);
	}
	close(fds[1]);
	m->fd = fds[0];
	m->started = true;
	snprintf(m->phase, sizeof(m->phase), "starting");
	return 0;
}

static void move_line(struct move *m, const char *line)
{
	json_error_t je;
	json_t *o = json_loads(line, 0, &je), *p;

	if (!o)
		return;
	if ((p = json_object_get(o, "progress"))) {
		snprintf(m->phase, sizeof(m->phase), "%s", json_string_value(json_object_get(p, "phase")) ?: "");
		m->percent = json_number_value(json_object_get(p, "percent"));
	} else if ((p = json_object_get(o, "record"))) {
		m->rec = json_incref(p);
	} else if (json_is_string(json_object_get(o, "error"))) {
		snprintf(m->error, sizeof(m->error), "%s", json_string_value(json_object_get(o, "error")));
	}
	json_decref(o);
}

/* Reads what a child wrote; at its end, reaps it. */
static void move_read(struct move *m)
{
	char chunk[65536];
	ssize_t n = read(m->fd, chunk, sizeof(chunk));

	if (n > 0) {
		buf_append(&m->in, chunk, (size_t)n);
		char *nl;
		while (m->in.len && (nl = memchr(m->in.data, '\n', m->in.len))) {
			*nl = 0;
			move_line(m, m->in.data);
			size_t used = (size_t)(nl - m->in.data) + 1;
			memmove(m->in.data, nl + 1, m->in.len - used);
			m->in.len -= used;
		}
		if (m->in.len <= LINE_MAX_BYTES)
			return;
		snprintf(m->error, sizeof(m->error), "the move's child wrote a line over %d bytes", LINE_MAX_BYTES);
		kill(m->pid, SIGKILL);
	} else if (n < 0 && errno == EINTR) {
		return;
	}
	close(m->fd);
	m->fd = -1;
	waitpid(m->pid, NULL, 0);
	m->ended = true;
	m->end_us = time_mono_us();
	buf_free(&m->in);
	if (!m->rec && !m->error[0])
		snprintf(m->error, sizeof(m->error), "the move's child ended without a result");
}

static const char *move_status(const struct move *m, const struct evac_guest *g, bool dry_run)
{
	if (dry_run)
		return g->order >= 0 ? "planned" : "stays";
	if (!m->started)
		return "stayed";
	if (!m->ended)
		return "moving";
	return m->rec ? "completed" : "failed";
}

/* On a terminal: one line per guest, redrawn; elsewhere: a line per start
 * and per end. */
static void show(struct evac *e, size_t moving, bool redraw)
{
	if (!e->tty)
		return;
	if (redraw)
		fprintf(stderr, "\033[%zuA", moving);
	for (int o = 0; o < (int)moving; o++)
		for (size_t i = 0; i < e->n_guests; i++) {
			const struct move *m = &e->moves[i];
			if (e->guests[i].order != o)
				continue;
			fprintf(stderr, "\r\033[K%-16s -> %-10s ", e->guests[i].name, e->dests[e->guests[i].dest].name);
			if (!m->started)
				fprintf(stderr, "waiting\n");
			else if (!m->ended)
				fprintf(stderr, "%-12s %5.1f%%  %5.1f s\n", m->phase, m->percent,
					(time_mono_us() - m->start_us) / 1e6);
			else
				fprintf(stderr, "%-12s in %.1f s\n", move_status(m, &e->guests[i], e->dry_run), (m->end_us - m->start_us) / 1e6);
		}
}

static void say_event(const struct evac *e, size_t i, bool start)
{
	const struct move *m = &e->moves[i];

	if (e->tty)
		return;
	if (start)
		fprintf(stderr, "%s -> %s: moving\n", e->guests[i].name, e->dests[e->guests[i].dest].name);
	else if (m->rec)
		fprintf(stderr, "%s -> %s: completed in %.1f s\n", e->guests[i].name, e->dests[e->guests[i].dest].name,
			(m->end_us - m->start_us) / 1e6);
	else
		fprintf(stderr, "%s -> %s: failed: %s\n", e->guests[i].name, e->dests[e->guests[i].dest].name, m->error);
}

/* Runs the plan: in order, as many at once as evac_may_start allows. */
static void run_moves(struct evac *e, size_t moving)
{
	size_t next = 0, ended = 0;
	int running = 0;
	bool running_alone = false;

	show(e, moving, false);
	while (ended < moving) {
		/* start what may start */
		while (next < moving) {
			size_t i = 0;
			while (e->guests[i].order != (int)next)
				i++;
			if (!evac_may_start(&e->guests[i], running, running_alone, e->max_parallel))
				break;
			next++;
			if (move_start(e, i) < 0) {
				snprintf(e->moves[i].error, sizeof(e->moves[i].error), "cannot start its move: %s",
					 strerror(errno));
				e->moves[i].started = e->moves[i].ended = true;
				ended++;
				continue;
			}
			running++;
			running_alone |= e->guests[i].alone;
			say_event(e, i, true);
		}
		struct pollfd p[EVAC_MAX_GUESTS];
		size_t who[EVAC_MAX_GUESTS], n = 0;
		for (size_t i = 0; i < e->n_guests; i++)
			if (e->moves[i].started && e->moves[i].fd >= 0) {
				p[n] = (struct pollfd){ e->moves[i].fd, POLLIN, 0 };
				who[n++] = i;
			}
		if (!n)
			continue;
		if (poll(p, n, 250) < 0 && errno != EINTR)
			break;
		for (size_t k = 0; k < n; k++) {
			struct move *m = &e->moves[who[k]];
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			move_read(m);
			if (!m->ended)
				continue;
			ended++;
			running--;
			if (e->guests[who[k]].alone)
				running_alone = false;
			say_event(e, who[k], false);
		}
		show(e, moving, true);
	}
}

/* ---- the summary --------------------------------------------------------- */

static json_t *num_or_null(json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	return json_is_number(v) ? json_incref(v) : json_null();
}

static json_t *summary(const struct evac *e, int64_t t0_us, int64_t started_real_us)
{
	json_t *guests = json_array();

	for (size_t i = 0; i < e->n_guests; i++) {
		const struct evac_guest *g = &e->guests[i];
		const struct move *m = &e->moves[i];
		json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:b}", "name", g->name, "status", move_status(m, g, e->dry_run), "memory_mb",
				      (json_int_t)g->memory_mb, "order", g->order >= 0 ? g->order + 1 : 0, "alone", g->alone);
		json_object_set_new(o, "to", g->dest >= 0 ? json_string(e->dests[g->dest].name) : json_null());
		json_object_set_new(o, "dirty_mb_s", g->dirty_mb_s >= 0 ? json_real(g->dirty_mb_s) : json_null());
		json_object_set_new(o, "estimate_s", g->estimate_s >= 0 ? json_real(g->estimate_s) : json_null());
		if (m->rec) {
			json_object_set_new(o, "mode", json_incref(json_object_get(m->rec, "mode")));
			json_object_set_new(o, "pause_ms", num_or_null(m->rec, "pause_ms"));
			json_object_set_new(o, "total_ms", num_or_null(m->rec, "total_ms"));
			json_object_set_new(o, "bytes", num_or_null(m->rec, "bytes"));
			json_object_set_new(o, "net_gap_ms", num_or_null(m->rec, "net_gap_ms"));
			json_object_set_new(o, "service_gap_ms", num_or_null(m->rec, "service_gap_ms"));
			json_object_set_new(o, "record", json_incref(m->rec));
		}
		if (m->error[0])
			json_object_set_new(o, "error", json_string(m->error));
		else if (g->order < 0)
			json_object_set_new(o, "error", json_string(g->why_not[0] ? g->why_not : "no destination"));
		json_array_append_new(guests, o);
	}
	json_t *left = json_array();
	for (size_t i = 0; i < e->n_skipped; i++)
		json_array_append_new(left, json_string(e->skipped[i]));
	return json_pack("{s:s, s:I, s:I, s:i, s:o, s:o, s:o}", "host", e->host, "started_us",
			 (json_int_t)started_real_us, "total_ms", (json_int_t)((time_mono_us() - t0_us) / 1000),
			 "max_parallel", e->max_parallel, "link_mb_s", e->link_mb_s > 0 ? json_real(e->link_mb_s) : json_null(),
			 "guests", guests, "left", left);
}

static void print_summary(json_t *s)
{
	json_t *g;
	size_t i;

	printf("%-16s %-10s %-10s %-9s %9s %9s %10s  %s\n", "NAME", "TO", "STATUS", "MODE", "PAUSE_MS", "TOTAL_S",
	       "ICMP_GAP", "ERROR");
	json_array_foreach(json_object_get(s, "guests"), i, g) {
		char pause[16] = "-", total[16] = "-", gap[16] = "-";
		if (json_is_number(json_object_get(g, "pause_ms")))
			snprintf(pause, sizeof(pause), "%.1f", json_number_value(json_object_get(g, "pause_ms")));
		if (json_is_number(json_object_get(g, "total_ms")))
			snprintf(total, sizeof(total), "%.2f", json_number_value(json_object_get(g, "total_ms")) / 1000);
		if (json_is_number(json_object_get(g, "net_gap_ms")))
			snprintf(gap, sizeof(gap), "%.1f", json_number_value(json_object_get(g, "net_gap_ms")));
		printf("%-16s %-10s %-10s %-9s %9s %9s %10s  %s\n", json_string_value(json_object_get(g, "name")),
		       json_string_value(json_object_get(g, "to")) ?: "-", json_string_value(json_object_get(g, "status")),
		       json_string_value(json_object_get(g, "mode")) ?: "-", pause, total, gap,
		       json_string_value(json_object_get(g, "error")) ?: "");
	}
	printf("evacuation of %s took %.2f s\n", json_string_value(json_object_get(s, "host")),
	       json_integer_value(json_object_get(s, "total_ms")) / 1000.0);
}

/* ---- the verb ------------------------------------------------------------ */

/* --probe NAME=ADDR[:methods]: that guest's move is probed. */
static int add_probe(struct evac *e, const char *spec)
{
	const char *eq = strchr(spec, '=');

	for (size_t i = 0; eq && i < e->n_guests; i++)
		if (strlen(e->guests[i].name) == (size_t)(eq - spec) && !strncmp(spec, e->guests[i].name, eq - spec)) {
			e->probe[i] = eq + 1;
			return 0;
		}
	fprintf(stderr, "ferry: --probe is NAME=ADDR[:methods] with NAME a guest of %s, not '%s'\n", e->host, spec);
	return -1;
}

int cmd_evacuate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "max-parallel", required_argument, NULL, 'M' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-check", no_argument, NULL, 'N' },
		{ "probe", required_argument, NULL, 'X' },
		/* passed to each move, as ferry migrate takes them */
		{ "insecure", no_argument, NULL, 'i' },
		{ "qemu-tls", no_argument, NULL, 'Q' },
		{ "auto-converge", no_argument, NULL, 'a' },
		{ "copy-storage", no_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'F' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "postcopy", required_argument, NULL, 'P' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 }
	};
	static struct evac e;
	const char *to = NULL, *probes[EVAC_MAX_GUESTS];
	char *pass[MAX_PASS + 2];
	int n_pass = 0, n_probes = 0, c;
	long long v;

	memset(&e, 0, sizeof(e));
	e.cli = cli;
	e.check = true;
	e.max_parallel = 2;
	pass[n_pass++] = "evacuate";
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'T': to = optarg; break;
		case 'n': e.dry_run = true; break;
		case 'N': e.check = false; break;
		case 'M':
			if (cli_parse_num("--max-parallel", optarg, 1, 16, &v) < 0)
				return 2;
			e.max_parallel = (int)v;
			break;
		case 'X':
			if (n_probes == EVAC_MAX_GUESTS)
				return 2;
			probes[n_probes++] = optarg;
			break;
		case '?':
			return 2;
		default: {
			/* a migrate option: its own parser checks it below */
			const struct option *o = opts;
			while (o->name && o->val != c)
				o++;
			if (!o->name || n_pass + 2 > MAX_PASS)
				return 2;
			static char names[MAX_PASS][32];
			snprintf(names[n_pass], sizeof(names[0]), "--%s", o->name);
			pass[n_pass] = names[n_pass];
			n_pass++;
			if (o->has_arg)
				pass[n_pass++] = optarg;
		}
		}
	}
	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
	e.host = argv[optind];
	pass[n_pass] = NULL;
	struct migrate_args ma = { .opts = json_object() };
	if (migrate_parse_opts(cli, n_pass, pass, &ma) < 0 || ma.special || ma.probe) {
		json_decref(ma.opts);
		return 2;
	}
	e.opts = ma.opts;
	if (json_object_get(e.opts, "cold")) {
		fprintf(stderr, "ferry: evacuate moves guests live\n");
		json_decref(e.opts);
		return 2;
	}
	e.tty = isatty(2) && !cli->json;
	cli->host = e.host;
	int rc = 1;
	if (gather_guests(&e) < 0 || gather_dests(&e, to) < 0)
		goto out;
	for (int i = 0; i < n_probes; i++)
		if (add_probe(&e, probes[i]) < 0) {
			rc = 2;
			goto out;
		}
	if (!e.n_guests) {
		printf("%s has no running guest to move\n", e.host);
		rc = 0;
		goto out;
	}
	check_all(&e);
	struct evac_plan_in in = { e.guests, e.n_guests, e.dests, e.n_dests, e.max_parallel, e.link_mb_s };
	size_t moving = evac_plan(&in);
	int64_t t0 = time_mono_us(), t0_real = time_real_us();
	if (!cli->json)
		print_plan(&e, moving);
	if (e.dry_run) {
		if (cli->json) {
			json_t *s = summary(&e, t0, t0_real);
			cli_print_json(s);
			json_decref(s);
		}
		rc = moving == e.n_guests ? 0 : 1;
		goto out;
	}
	run_moves(&e, moving);
	json_t *s = summary(&e, t0, t0_real);
	if (cli->json)
		cli_print_json(s);
	else
		print_summary(s);
	size_t stayed = 0;
	struct buf names = {0};
	json_t *g;
	size_t i;
	json_array_foreach(json_object_get(s, "guests"), i, g)
		if (strcmp(json_string_value(json_object_get(g, "status")), "completed")) {
			stayed++;
			buf_printf(&names, "%s%s", names.len ? ", " : "", json_string_value(json_object_get(g, "name")));
		}
	if (stayed)
		fprintf(stderr, "ferry: %zu guest(s) still on %s: %s\n", stayed, e.host, names.data);
	rc = stayed ? 1 : 0;
	buf_free(&names);
	json_decref(s);
	for (i = 0; i < e.n_guests; i++)
		json_decref(e.moves[i].rec);
out:
	json_decref(e.opts);
	return rc;
}

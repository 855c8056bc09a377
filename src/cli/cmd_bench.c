/* cmd_bench.c: ferry bench — repeated migrations of one guest between two
 * hosts, each measured from outside (ferry migrate --probe), alternating
 * direction, a warm-up first; statistics per mode and downtime definition.
 * Each run is a `ferry --json migrate` (or the user's --command) child, so
 * a bench measures exactly what a user's migration does. */
#include "cli/cli.h"
#include "report/report.h"
#include "stats/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define MAX_MODES 4
#define MAX_ARGS 48

/* The downtime definitions of docs/downtime.md, as result record keys. */
/* The downtime definitions: report.c's one list. */
#define N_DEFS report_n_defs

struct mode {
	const char *name;
	const char *args[4];    /* extra ferry migrate options */
};

static const struct mode known_modes[] = {
	{ "live", { NULL } },
	{ "live-postcopy", { "--postcopy", "on", NULL } },
	{ "cold-suspend", { "--cold", "suspend", NULL } },
	{ "cold-reboot", { "--cold", "reboot", NULL } },
	{ "command", { NULL } },   /* --command: any other tool */
};

struct bench {
	struct cli *cli;
	const char *vm, *hosts[2], *probe, *command;
	const char *extra[16];
	int n_extra;
	bool timeline;          /* --report: every reply time into the records */
	json_t *runs;
};

static void push_globals(struct bench *b, char **a, int *n)
{
	a[(*n)++] = "ferry";
	if (b->cli->hosts) {
		a[(*n)++] = "--hosts";
		a[(*n)++] = (char *)b->cli->hosts;
	}
	if (b->cli->key) {
		a[(*n)++] = "--key";
		a[(*n)++] = (char *)b->cli->key;
	}
}

/* One migration src -> dst in mode m: its record (status ok or failed). */
static json_t *one_run(struct bench *b, const struct mode *m, const char *src, const char *dst)
{
	char *a[MAX_ARGS];
	int n = 0, st = 0;
	json_t *rec;

	if (!strcmp(m->name, "command")) {
		/* The user's tool moves the guest; ferry only probes around it. */
		setenv("FERRY_SRC", src, 1);
		setenv("FERRY_DST", dst, 1);
		setenv("FERRY_VM", b->vm, 1);
		push_globals(b, a, &n);
		a[n++] = "--json";
		a[n++] = "bench-command";
		a[n++] = (char *)b->command;
		a[n++] = (char *)(b->probe ? b->probe : "");
		a[n] = NULL;
	} else {
		push_globals(b, a, &n);
		a[n++] = "-H";
		a[n++] = (char *)src;
		a[n++] = "--json";
		a[n++] = "migrate";
		a[n++] = (char *)b->vm;
		a[n++] = (char *)dst;
		for (int i = 0; m->args[i]; i++)
			a[n++] = (char *)m->args[i];
		for (int i = 0; i < b->n_extra; i++)
			a[n++] = (char *)b->extra[i];
		if (b->probe) {
			a[n++] = "--probe";
			a[n++] = (char *)b->probe;
			if (b->timeline)
				a[n++] = "--probe-timeline";
		}
		a[n] = NULL;
	}
	struct buf out = {0};
	st = run_capture("/proc/self/exe", a, &out);
	rec = out.data ? json_loads(out.data, 0, NULL) : NULL;
	buf_free(&out);
	if (!json_is_object(rec)) {
		json_decref(rec);
		rec = json_object();
	}
	bool ok = st == 0;
	json_object_set_new(rec, "status", json_string(ok ? "completed" : "failed"));
	json_object_set_new(rec, "src", json_string(src));
	json_object_set_new(rec, "dst", json_string(dst));
	return rec;
}

static int write_csv(const char *path, json_t *runs)
{
	FILE *f = fopen(path, "w");
	size_t i;
	json_t *r;

	if (!f) {
		fprintf(stderr, "ferry: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "mode,run,src,dst,status");
	for (size_t d = 0; d < N_DEFS; d++)
		fprintf(f, ",%s", report_defs[d].key);
	fprintf(f, ",guest_clock_jump_ms,bytes\n");
	json_array_foreach(runs, i, r) {
		fprintf(f, "%s,%lld,%s,%s,%s", json_string_value(json_object_get(r, "bench_mode")),
			(long long)json_integer_value(json_object_get(r, "bench_run")),
			json_string_value(json_object_get(r, "src")), json_string_value(json_object_get(r, "dst")),
			json_string_value(json_object_get(r, "status")));
		for (size_t d = 0; d < N_DEFS; d++) {
			json_t *v = json_object_get(r, report_defs[d].key);
			if (json_is_number(v))
				fprintf(f, ",%.3f", json_number_value(v));
			else
				fprintf(f, ",");
		}
		json_t *j = json_object_get(r, "guest_clock_jump_ms"), *by = json_object_get(r, "bytes");
		if (json_is_number(j))
			fprintf(f, ",%.3f", json_number_value(j));
		else
			fprintf(f, ",");
		if (json_is_integer(by))
			fprintf(f, ",%lld\n", (long long)json_integer_value(by));
		else
			fprintf(f, ",\n");
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Statistics of one definition over a mode's completed runs. */
static json_t *stats_of(json_t *runs, const char *mode, const char *def)
{
	size_t n;
	double *v = report_run_values(runs, mode, def, &n);
	struct stats s;
	json_t *o = NULL;
	if (n && stats_compute(v, n, 2000, 42, &s) == 0)
		o = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:[f,f]}", "n", (json_int_t)s.n, "mean", s.mean,
			      "median", s.median, "sd", s.stddev, "min", s.min, "max", s.max, "p95", s.p95,
			      "median_ci95", s.median_ci_lo, s.median_ci_hi);
	free(v);
	return o;
}

static void print_table(json_t *stats)
{
	const char *mode;
	json_t *per;

	printf("%-14s %-21s %3s %9s %9s %8s %9s %9s %9s  %s\n", "MODE", "DEFINITION", "N", "MEAN", "MEDIAN", "SD", "MIN",
	       "MAX", "P95", "95% CI OF MEDIAN");
	json_object_foreach(stats, mode, per) {
		for (size_t d = 0; d < N_DEFS; d++) {
			json_t *s = json_object_get(per, report_defs[d].key);
			if (!s)
				continue;
			json_t *ci = json_object_get(s, "median_ci95");
			printf("%-14s %-21s %3lld %9.1f %9.1f %8.1f %9.1f %9.1f %9.1f  [%.1f, %.1f]\n", mode, report_defs[d].key,
			       (long long)json_integer_value(json_object_get(s, "n")),
			       json_number_value(json_object_get(s, "mean")), json_number_value(json_object_get(s, "median")),
			       json_number_value(json_object_get(s, "sd")), json_number_value(json_object_get(s, "min")),
			       json_number_value(json_object_get(s, "max")), json_number_value(json_object_get(s, "p95")),
			       json_number_value(json_array_get(ci, 0)), json_number_value(json_array_get(ci, 1)));
		}
	}
}

/* --load: http:RATE from here for the whole bench; mem:MBPS inside the guest. */
static pid_t start_load(struct bench *b, const char *spec, const char *host, struct ferr *err)
{
	const char *colon = strchr(spec, ':');
	char *end;
	long rate = colon ? strtol(colon + 1, &end, 10) : 0;

	if (!colon || *end || rate <= 0 || rate > 100000) {
		ferr_set(err, "--load is http:RATE (requests/s) or mem:MBPS (MB/s dirtied in the guest)");
		return -EINVAL;
	}
	if (!strncmp(spec, "http:", 5)) {
		if (!b->probe) {
			ferr_set(err, "--load http needs --probe ADDR (the guest's address)");
			return -EINVAL;
		}
		char addr[64], interval[32];
		snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(b->probe, ":"), b->probe);
		snprintf(interval, sizeof(interval), "%.3f", 1000.0 / (double)rate);
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			dup2(null, 2);
			char *a[] = { "ferry", "probe", addr, "--method", "http", "--interval-ms", interval, NULL };
			execv("/proc/self/exe", a);
			_exit(127);
		}
		return pid;
	}
	if (!strncmp(spec, "mem:", 4)) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "setsid ferry-guest --dirty %ld --size 64 </dev/null >/dev/null 2>&1 &\n", rate);
		int fds[2];
		if (pipe(fds) < 0)
			return -errno;
		pid_t pid = fork();
		if (pid == 0) {
			dup2(fds[0], 0);
			close(fds[1]);
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			char *a[MAX_ARGS];
			int n = 0;
			push_globals(b, a, &n);
			a[n++] = "-H";
			a[n++] = (char *)host;
			a[n++] = "console";
			a[n++] = (char *)b->vm;
			a[n] = NULL;
			execv("/proc/self/exe", a);
			_exit(127);
		}
		close(fds[0]);
		write_all(fds[1], cmd, strlen(cmd));   /* the console reports its own errors */
		close(fds[1]);
		waitpid(pid, NULL, 0);
		return 0;   /* runs in the guest until it reboots */
	}
	ferr_set(err, "--load is http:RATE or mem:MBPS, not '%s'", spec);
	return -EINVAL;
}

/* Re-renders an earlier bench (its --json file): table and report. */
static int rerender(const char *from_json, const char *report)
{
	struct ferr err = {0};
	json_error_t je;
	json_t *old = json_load_file(from_json, 0, &je);
	int rc = 0;

	if (!json_is_object(old) || !json_is_object(json_object_get(old, "stats"))) {
		fprintf(stderr, "ferry: %s is not a ferry bench --json file: %s\n", from_json, old ? "no stats" : je.text);
		json_decref(old);
		return 2;
	}
	print_table(json_object_get(old, "stats"));
	if (report && report_write(report, old, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		rc = 1;
	} else if (report) {
		printf("report: %s\n", report);
	}
	json_decref(old);
	return rc;
}

/* --modes: known ones only; "command" comes with --command. Their count, or
 * -1 with a message. */
static int parse_modes(const struct bench *b, const char *modes_arg, const struct mode **modes)
{
	char mbuf[128], *tok, *save = NULL;
	int n = 0;

	snprintf(mbuf, sizeof(mbuf), "%s", b->command && !strcmp(modes_arg, "live") ? "command" : modes_arg);
	for (tok = strtok_r(mbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(known_modes) && strcmp(known_modes[k].name, tok); k++)
			;
		if (k == ARRAY_SIZE(known_modes)) {
			fprintf(stderr, "ferry: unknown mode '%s' (live, live-postcopy, cold-suspend, cold-reboot, command)\n", tok);
			return -1;
		}
		if (!strcmp(tok, "command") && !b->command) {
			fprintf(stderr, "ferry: mode command needs --command 'CMD'\n");
			return -1;
		}
		if (n == MAX_MODES) {
			fprintf(stderr, "ferry: at most %d modes\n", MAX_MODES);
			return -1;
		}
		modes[n++] = &known_modes[k];
	}
	return n;
}

/* The end of a run's line on stderr (its start was printed before it ran):
 * the outcome, the pause, the ICMP gap. */
static void say_run(json_t *rec, bool ok)
{
	fprintf(stderr, "%s", ok ? "done" : "FAILED");
	if (json_is_number(json_object_get(rec, "pause_ms")))
		fprintf(stderr, ", pause %.1f ms", json_number_value(json_object_get(rec, "pause_ms")));
	if (json_is_number(json_object_get(rec, "net_gap_ms")))
		fprintf(stderr, ", ICMP gap %.1f ms", json_number_value(json_object_get(rec, "net_gap_ms")));
	fprintf(stderr, "\n");
}

/* runs moves per mode (after a warm-up), back and forth, into b->runs;
 * stops after three failures in a row. */
static void run_modes(struct bench *b, const struct mode **modes, int n_modes, long runs)
{
	int src = 0, failures = 0;

	for (int mi = 0; mi < n_modes; mi++) {
		for (long r = 0; r <= runs; r++) {
			const char *s = b->hosts[src], *d = b->hosts[1 - src];
			fprintf(stderr, "%s run %ld/%ld%s: %s -> %s ... ", modes[mi]->name, r, runs, r ? "" : " (warm-up)", s, d);
			json_t *rec = one_run(b, modes[mi], s, d);
			bool ok = !strcmp(json_string_value(json_object_get(rec, "status")), "completed");
			say_run(rec, ok);
			if (ok) {
				src = 1 - src;
				failures = 0;
			} else if (++failures == 3) {
				fprintf(stderr, "ferry: three runs in a row failed; stopping\n");
				json_decref(rec);
				return;
			}
			if (r > 0) {
				json_object_set_new(rec, "bench_mode", json_string(modes[mi]->name));
				json_object_set_new(rec, "bench_run", json_integer(r));
				json_array_append(b->runs, rec);
			}
			json_decref(rec);
		}
	}
}

/* Per mode, per downtime definition: the statistics of the runs. */
static json_t *bench_stats(struct bench *b, const struct mode **modes, int n_modes)
{
	json_t *stats = json_object();

	for (int mi = 0; mi < n_modes; mi++) {
		json_t *per = json_object();
		for (size_t d = 0; d < N_DEFS; d++) {
			json_t *s = stats_of(b->runs, modes[mi]->name, report_defs[d].key);
			if (s)
				json_object_set_new(per, report_defs[d].key, s);
		}
		json_object_set_new(stats, modes[mi]->name, per);
	}
	return stats;
}

struct outputs {
	const char *csv, *json_path, *report;
};

/* The results where asked: CSV, JSON file, HTML report, stdout. The exit
 * status: 1 if anything could not be written or any run failed. */
static int bench_output(struct bench *b, const struct outputs *out, long runs, json_t *stats)
{
	struct ferr err = {0};
	int rc = 0;

	if (out->csv && write_csv(out->csv, b->runs) < 0)
		rc = 1;
	json_t *all = json_pack("{s:s, s:[s,s], s:I, s:O, s:O}", "vm", b->vm, "hosts", b->hosts[0], b->hosts[1],
				"runs_per_mode", (json_int_t)runs, "runs", b->runs, "stats", stats);
	if (out->json_path && json_dump_file(all, out->json_path, JSON_INDENT(1) | JSON_REAL_PRECISION(15)) < 0) {
		fprintf(stderr, "ferry: cannot write %s\n", out->json_path);
		rc = 1;
	}
	if (out->report && report_write(out->report, all, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		rc = 1;
	}
	if (b->cli->json)
		cli_print_json(all);
	else
		print_table(stats);
	if (out->report && rc == 0 && !b->cli->json)
		printf("report: %s\n", out->report);
	size_t i;
	json_t *r;
	long failed = 0;
	json_array_foreach(b->runs, i, r)
		failed += !strcmp(json_string_value(json_object_get(r, "status")), "completed") ? 0 : 1;
	if (failed) {
		fprintf(stderr, "ferry: %ld of %zu runs failed (in --csv/--json with their errors)\n", failed,
			json_array_size(b->runs));
		rc = 1;
	}
	json_decref(all);
	return rc;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "runs", required_argument, NULL, 'n' },
		{ "modes", required_argument, NULL, 'm' },
		{ "probe", required_argument, NULL, 'p' },
		{ "load", required_argument, NULL, 'l' },
		{ "command", required_argument, NULL, 'c' },
		{ "csv", required_argument, NULL, 'C' },
		{ "json", required_argument, NULL, 'J' },
		{ "migrate-opt", required_argument, NULL, 'o' },
		{ "report", required_argument, NULL, 'R' },
		{ "from-json", required_argument, NULL, 'F' },
		{ 0 }
	};
	struct bench b = { .cli = cli };
	struct outputs out = {0};
	const char *modes_arg = "live", *load = NULL, *from_json = NULL;
	char hosts_buf[128] = "";
	long runs = 10;
	int c;
	struct ferr err = {0};

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		long long v;
		switch (c) {
		case 'v': b.vm = optarg; break;
		case 'H': snprintf(hosts_buf, sizeof(hosts_buf), "%s", optarg); break;
		case 'n':
			if (cli_parse_num("--runs", optarg, 1, 1000, &v) < 0)
				return 2;
			runs = (int)v;
			break;
		case 'm': modes_arg = optarg; break;
		case 'p': b.probe = optarg; break;
		case 'l': load = optarg; break;
		case 'c': b.command = optarg; break;
		case 'C': out.csv = optarg; break;
		case 'J': out.json_path = optarg; break;
		case 'R': out.report = optarg; b.timeline = true; break;
		case 'F': from_json = optarg; break;
		case 'o':
			if (b.n_extra == 16) {
				fprintf(stderr, "ferry: too many --migrate-opt\n");
				return 2;
			}
			b.extra[b.n_extra++] = optarg;
			break;
		default: return 2;   /* cli_getopt said why */
		}
	}
	if (from_json)
		return rerender(from_json, out.report);
	char *comma = strchr(hosts_buf, ',');
	if (optind != argc || !b.vm || !comma) {
		fprintf(stderr, "ferry: bench needs --vm NAME and --hosts SRC,DST\n");
		return cli_usage(argv[0], true);
	}
	*comma = 0;
	b.hosts[0] = hosts_buf;
	b.hosts[1] = comma + 1;
	if (!*b.hosts[0] || !*b.hosts[1] || !strcmp(b.hosts[0], b.hosts[1])) {
		fprintf(stderr, "ferry: --hosts wants two different hosts, SRC,DST\n");
		return 2;
	}
	const struct mode *modes[MAX_MODES];
	int n_modes = parse_modes(&b, modes_arg, modes);
	if (n_modes < 0)
		return 2;
	pid_t load_pid = 0;
	if (load && (load_pid = start_load(&b, load, b.hosts[0], &err)) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 2;
	}
	b.runs = json_array();
	run_modes(&b, modes, n_modes, runs);
	if (load_pid > 0) {
		kill(load_pid, SIGTERM);
		waitpid(load_pid, NULL, 0);
	}
	json_t *stats = bench_stats(&b, modes, n_modes);
	int rc = bench_output(&b, &out, runs, stats);
	json_decref(stats);
	json_decref(b.runs);
	return rc;
}

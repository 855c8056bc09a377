/* cmd_migrate.c: ferry migrate NAME DEST — live migration, with a progress
 * line on a terminal and a result record at the end. */
#include "cli/cli.h"
#include "config/hosts.h"
#include "probe/probe.h"
#include "report/report.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

static bool tty_progress;

static volatile bool probe_stop;
static void on_probe_term(int sig) { (void)sig; probe_stop = true; }

int cli_prober_start(struct prober *p, const char *spec, struct ferr *err)
{
	char addr[64];
	const char *colon = strchr(spec, ':');

	probe_cfg_default(&p->cfg);
	p->cfg.frames = p->timeline;   /* the guest's announcements, for the timeline */
	/* In the lab, the switch's forwarding changes too (docs/lab.md). */
	if (p->timeline && access(LAB_SWITCH_NETNS, F_OK) == 0)
		snprintf(p->cfg.fdb_netns, sizeof(p->cfg.fdb_netns), "%s", LAB_SWITCH_NETNS);
	snprintf(addr, sizeof(addr), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	snprintf(p->cfg.target, sizeof(p->cfg.target), "%s", addr);
	if (probe_parse_methods(colon ? colon + 1 : "icmp,http,guest", p->cfg.use, err) < 0)
		return -EINVAL;
	struct in_addr ia;
	if (inet_pton(AF_INET, addr, &ia) != 1) {
		ferr_set(err, "--probe wants ADDR[:methods], and '%s' is not an IPv4 address", addr);
		return -EINVAL;
	}
	snprintf(p->path, sizeof(p->path), "/tmp/ferry-probe-%d", (int)getpid());
	p->pid = fork();
	if (p->pid < 0) {
		ferr_set(err, "cannot fork the prober: %s", strerror(errno));
		return -errno;
	}
	if (p->pid == 0) {
		struct probe_sample *s;
		size_t n;
		struct ferr e = {0};
		signal(SIGTERM, on_probe_term);
		p->cfg.stop = &probe_stop;
		if (probe_run(&p->cfg, &s, &n, &e) < 0) {
			fprintf(stderr, "ferry: probe: %s\n", e.msg);
			_exit(1);
		}
		file_write_atomic(p->path, s, n * sizeof(*s), 0600);
		_exit(0);
	}
	usleep(300000);   /* a baseline before the move starts */
	return 0;
}

/* A guest that reboots (a cold reboot move) answers again only after its
 * boot: short probe rounds with the same methods until one answers (at most
 * REBOOT_WAIT_S), so the measured gap is the whole outage. */
#define REBOOT_WAIT_S 180
static void wait_answering(const struct probe_cfg *cfg)
{
	struct probe_cfg c = *cfg;
	int64_t end = time_mono_us() + REBOOT_WAIT_S * 1000000LL;

	c.use[PROBE_GUEST] = false;
	c.duration_ms = 500;
	c.stop = NULL;
	while (time_mono_us() < end) {
		struct probe_sample *s = NULL;
		size_t n = 0;
		struct ferr e = {0};
		bool answered = false;
		if (probe_run(&c, &s, &n, &e) < 0)
			return;
		for (size_t i = 0; i < n && !answered; i++)
			answered = s[i].reply_us != 0;
		free(s);
		if (answered)
			return;
	}
}

/* Stops the prober a moment after the move and adds its gaps to rec. */
void cli_prober_finish(struct prober *p, json_t *rec)
{
	char *data;
	size_t len;
	int st;
	/* A rebooting guest answers only after its boot; and it answers on for
	 * a moment after the power-off request, so no gap "around" the
	 * switchover: its outage is the longest gap itself. */
	bool reboot = !strcmp(json_string_value(json_object_get(rec, "mode")) ?: "", "reboot");

	if (reboot)
		wait_answering(&p->cfg);
	usleep(1000000);   /* the service comes back after the record: watch it */
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &st, 0);
	if (file_read_all(p->path, 1u << 30, &data, &len) < 0)
		return;
	unlink(p->path);
	struct probe_sample *s = (struct probe_sample *)data;
	size_t n = len / sizeof(*s);
	json_t *o = json_pack("{s:s}", "target", p->cfg.target);
	/* Realtime, to line up with QEMU's event timestamps in the record. */
	int64_t off = time_real_us() - time_mono_us();
	for (int m = 0; m < PROBE_N; m++) {
		if (!p->cfg.use[m])
			continue;
		if (m == PROBE_GUEST) {
			struct probe_guest pg;
			probe_guest_analyze(s, n, &pg);
			json_object_set_new(o, "guest", cli_guest_json(&pg, off));
			if (pg.received) {
				json_object_set_new(rec, "guest_gap_ms", json_real(pg.gap_us / 1000.0));
				json_object_set_new(rec, "guest_clock_jump_ms", json_real(pg.clock_jump_us / 1000.0));
			}
			continue;
		}
		struct probe_gaps g;
		probe_analyze(s, n, m, 10000, &g);
		json_object_set_new(o, probe_method_name(m), cli_gaps_json(&g, p->cfg.interval_us[m], off));
		/* The gap around the pause window: the switchover's share, when the
		 * longest gap happened elsewhere (e.g. at the migration's start). */
		int64_t stop = json_integer_value(json_object_get(rec, "stop_us"));
		int64_t resume = json_integer_value(json_object_get(rec, "resume_us"));
		int64_t around = stop && resume && !reboot ? probe_gap_around(s, n, m, stop - off, resume - off) : -1;
		if (around >= 0)
			json_object_set_new(json_object_get(o, probe_method_name(m)), "switchover_gap_ms", json_real(around / 1000.0));
		if (m == PROBE_ICMP) {
			json_object_set_new(rec, "net_gap_ms", json_real(g.longest_us / 1000.0));
			if (around >= 0)
				json_object_set_new(rec, "net_gap_switchover_ms", json_real(around / 1000.0));
			if (g.open)
				json_object_set_new(rec, "net_gap_open", json_true());
		}
		if (m == PROBE_HTTP || (m == PROBE_TCP && !p->cfg.use[PROBE_HTTP]))
			json_object_set_new(rec, "service_gap_ms", json_real(g.longest_us / 1000.0));
	}
	if (p->timeline && n) {
		/* Reply times in 0.1 ms after t0 (realtime), per method. */
		int64_t t0 = s[0].send_us;
		for (size_t i = 0; i < n; i++)
			if (s[i].method != PROBE_GUEST && s[i].send_us < t0)
				t0 = s[i].send_us;
		json_t *tl = json_pack("{s:I}", "t0_us", (json_int_t)(t0 + off));
		for (int m = 0; m < PROBE_N; m++) {
			if (!p->cfg.use[m])
				continue;
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				if (s[i].method == m && s[i].reply_us)
					json_array_append_new(a, json_integer((s[i].reply_us - t0) / 100));
			json_object_set_new(tl, probe_method_name(m), a);
		}
		json_t *fr = json_array();
		for (size_t i = 0; i < n; i++)
			if (s[i].method == PROBE_FRAME)
				json_array_append_new(fr, json_pack("[I, i]", (json_int_t)((s[i].reply_us - t0) / 100),
								    (int)s[i].seq));
		json_object_set_new(tl, "frames", fr);
		json_object_set_new(o, "timeline", tl);
	}
	json_object_set_new(rec, "probe", o);
	free(data);
}

static void on_progress(json_t *p, void *opaque)
{
	(void)opaque;
	if (!tty_progress)
		return;
	if (json_is_string(json_object_get(p, "disk"))) {   /* a cold move's disk pass */
		fprintf(stderr, "\r\033[K%-19s disk %-5s %5.1f%%  %8.1f MB/s  left %8.1f MB  eta %5.1f s",
			json_string_value(json_object_get(p, "phase")), json_string_value(json_object_get(p, "disk")),
			json_number_value(json_object_get(p, "percent")), json_number_value(json_object_get(p, "mbps")) / 8,
			json_integer_value(json_object_get(p, "remaining_bytes")) / 1e6,
			json_number_value(json_object_get(p, "eta_s")));
		fflush(stderr);
		return;
	}
	fprintf(stderr, "\r\033[K%-10s %5.1f%%  %8.1f MB/s  dirty %7.1f MB/s  round %lld  left %6.1f MB  eta %4.1f s",
		json_string_value(json_object_get(p, "phase")),
		json_number_value(json_object_get(p, "percent")),
		json_number_value(json_object_get(p, "mbps")) / 8,
		json_integer_value(json_object_get(p, "dirty_bytes_per_s")) / 1e6,
		(long long)json_integer_value(json_object_get(p, "round")),
		json_integer_value(json_object_get(p, "remaining_bytes")) / 1e6,
		json_number_value(json_object_get(p, "eta_s")));
	fflush(stderr);
}

/* Milliseconds the move spent in the phases named (from the record's
 * "phases": each lasts until the next begins). */
static long long phase_ms(json_t *r, const char *const names[])
{
	json_t *ph = json_object_get(r, "phases");
	long long sum = 0;

	for (size_t i = 0; i + 1 < json_array_size(ph); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(ph, i), "phase"));
		for (int k = 0; n && names[k]; k++)
			if (!strcmp(n, names[k]))
				sum += json_integer_value(json_object_get(json_array_get(ph, i + 1), "ms")) -
				       json_integer_value(json_object_get(json_array_get(ph, i), "ms"));
	}
	return sum;
}

/* A cold move's summary says what it measured: the guest's stop, its disks,
 * its state, its start, each timed; for a reboot, what the guest's own boot
 * adds is not in there (only a --probe sees it: then it leads). */
static void print_cold(json_t *r, bool reboot)
{
	static const char *const stop[] = { "suspending", "powering-off", NULL }, *const disks[] = { "copying-disks-final", NULL },
			  *const live[] = { "copying-disks", NULL }, *const state[] = { "migrating", NULL },
			  *const start[] = { "finishing", "booting-there", NULL };
	json_t *pause = json_object_get(r, "pause_ms");

	if (reboot && json_is_number(json_object_get(r, "net_gap_ms")))
		printf("client-seen outage %.0f ms (ICMP%s); ", json_number_value(json_object_get(r, "net_gap_ms")),
		       json_is_number(json_object_get(r, "service_gap_ms")) ? "" : ", boot included");
	if (reboot)
		printf("power-off to QEMU running there %lld ms (the guest's boot is not included)",
		       phase_ms(r, stop) + phase_ms(r, disks) + phase_ms(r, start));
	else if (json_is_number(pause))
		printf("paused %.1f ms", json_number_value(pause));
	json_t *d = json_object_get(r, "disks");
	printf(": stop %lld ms", phase_ms(r, stop));
	if (json_array_size(d))
		printf(", disks %lld ms", phase_ms(r, disks));
	printf(", %s %lld ms", reboot ? "boot there" : "state", reboot ? phase_ms(r, start) : phase_ms(r, state));
	if (!reboot)
		printf(", resume %lld ms", phase_ms(r, start));
	printf("; total %lld ms", (long long)json_integer_value(json_object_get(r, "total_ms")));
	if (json_array_size(d)) {
		printf("; %zu disk%s moved (%.2f MB of data, %.2f MB on the wire", json_array_size(d),
		       json_array_size(d) > 1 ? "s" : "", json_integer_value(json_object_get(r, "disk_data_bytes")) / 1e6,
		       json_integer_value(json_object_get(r, "disk_wire_bytes")) / 1e6);
		if (json_integer_value(json_object_get(r, "disk_passes")) == 2) {
			long long fin = 0;
			size_t i;
			json_t *x;
			json_array_foreach(d, i, x)
				fin += json_integer_value(json_object_get(x, "final_wire_bytes"));
			printf("; first pass %lld ms while it ran, final pass %.2f MB", phase_ms(r, live), fin / 1e6);
		}
		printf(")");
	}
	if (!reboot) {
		if (json_is_number(json_object_get(r, "net_gap_ms")))
			printf(", ICMP gap %.1f ms", json_number_value(json_object_get(r, "net_gap_ms")));
		if (json_is_number(json_object_get(r, "service_gap_ms")))
			printf(", service gap %.1f ms", json_number_value(json_object_get(r, "service_gap_ms")));
	} else if (json_is_number(json_object_get(r, "service_gap_ms"))) {
		printf(", service gap %.1f ms", json_number_value(json_object_get(r, "service_gap_ms")));
	}
	printf("\n");
}

static void print_record(json_t *r)
{
	json_t *pause = json_object_get(r, "pause_ms");
	const char *mode = json_string_value(json_object_get(r, "mode")) ?: "";
	const char *forced = json_string_value(json_object_get(json_object_get(r, "preflight"), "forced"));

	if (forced && forced[0])
		printf("--force: moved although the preflight's check(s) %s blocked (ferry check says why)\n", forced);

	printf("%s moved %s -> %s (%s%s): ", json_string_value(json_object_get(r, "name")),
	       json_string_value(json_object_get(r, "src")), json_string_value(json_object_get(r, "dst")), mode,
	       json_is_true(json_object_get(r, "tls")) ? ", TLS" : ", no TLS");
	if (!strcmp(mode, "suspend") || !strcmp(mode, "reboot")) {
		print_cold(r, !strcmp(mode, "reboot"));
		return;
	}
	printf("total %lld ms, pause ", (long long)json_integer_value(json_object_get(r, "total_ms")));
	if (json_is_number(pause))
		printf("%.1f ms", json_number_value(pause));
	else
		printf("n/a");
	printf(", QEMU downtime %lld ms, %.1f MB in %lld rounds",
	       (long long)json_integer_value(json_object_get(r, "qemu_downtime_ms")),
	       json_integer_value(json_object_get(r, "bytes")) / 1e6,
	       (long long)json_integer_value(json_object_get(r, "rounds")));
	if (!strcmp(mode, "postcopy"))
		printf(", %lld post-copy page requests", (long long)json_integer_value(json_object_get(r, "postcopy_requests")));
	if (json_is_number(json_object_get(r, "net_gap_ms")))
		printf(", ICMP gap %.1f ms%s", json_number_value(json_object_get(r, "net_gap_ms")),
		       json_is_true(json_object_get(r, "net_gap_open")) ? " (no answer when probing stopped)" : "");
	if (json_is_number(json_object_get(r, "net_gap_switchover_ms")))
		printf(" (%.1f ms around the switchover)", json_number_value(json_object_get(r, "net_gap_switchover_ms")));
	if (json_is_number(json_object_get(r, "service_gap_ms")))
		printf(", service gap %.1f ms", json_number_value(json_object_get(r, "service_gap_ms")));
	if (json_is_number(json_object_get(r, "guest_gap_ms")))
		printf(", guest gap %.1f ms (clock jump %+.1f ms)", json_number_value(json_object_get(r, "guest_gap_ms")),
		       json_number_value(json_object_get(r, "guest_clock_jump_ms")));
	printf("\n");
}

int migrate_parse_opts(struct cli *cli, int argc, char **argv, struct migrate_args *m)
{
	static const struct option opts[] = {
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "auto-converge", no_argument, NULL, 'a' },
		{ "postcopy", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "copy-storage", no_argument, NULL, 's' },
		{ "insecure", no_argument, NULL, 'i' },
		{ "qemu-tls", no_argument, NULL, 'Q' },
		{ "cancel", no_argument, NULL, 'c' },
		{ "recover", no_argument, NULL, 'r' },
		{ "probe", required_argument, NULL, 'X' },
		{ "probe-timeline", no_argument, NULL, 'L' },
		{ "timeline", required_argument, NULL, 'G' },
		{ "cold", required_argument, NULL, 'C' },
		{ "disk-passes", required_argument, NULL, 'D' },
		{ "keep-source", no_argument, NULL, 'K' },
		{ "force", no_argument, NULL, 'F' },
		{ "live", no_argument, NULL, 'l' },
		{ 0 }
	};
	/* The numeric options: name, key, bounds. */
	static const struct { int c; const char *opt, *key; long long min, max; } nums[] = {
		{ 'd', "--downtime-ms", "downtime_ms", 1, 60000 },
		{ 'b', "--bandwidth", "bandwidth_mbps", 1, 1000000 },
		{ 'p', "--parallel", "parallel", 1, 64 },
		{ 't', "--timeout", "timeout_s", 1, 86400 },
		{ 'D', "--disk-passes", "disk_passes", 1, 2 },
	};
	json_t *o = m->opts;
	long long v;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(nums) && nums[k].c != c; k++)
			;
		if (k < ARRAY_SIZE(nums)) {
			if (cli_parse_num(nums[k].opt, optarg, nums[k].min, nums[k].max, &v) < 0)
				return 2;
			json_object_set_new(o, nums[k].key, json_integer(v));
			continue;
		}
		switch (c) {
		case 'a': json_object_set_new(o, "auto_converge", json_true()); break;
		case 's': json_object_set_new(o, "copy_storage", json_true()); break;
		case 'i': json_object_set_new(o, "insecure", json_true()); break;
		case 'Q': json_object_set_new(o, "qemu_tls", json_true()); break;
		case 'K': json_object_set_new(o, "keep_source", json_true()); break;
		case 'F': json_object_set_new(o, "force", json_true()); break;
		case 'l': json_object_del(o, "cold"); break;   /* the default, said */
		case 'c': m->special = "migrate-cancel"; break;
		case 'r': m->special = "migrate-recover"; break;
		case 'X': m->probe = optarg; break;
		case 'L': m->timeline = true; break;
		case 'G': m->timeline_svg = optarg; m->timeline = true; break;
		case 'C':
			if (strcmp(optarg, "suspend") && strcmp(optarg, "reboot")) {
				fprintf(stderr, "ferry: --cold is suspend (pause, move the state, resume there) or reboot (power off, boot there)\n");
				return 2;
			}
			json_object_set_new(o, "cold", json_string(optarg));
			break;
		case 'P':
			if (strcmp(optarg, "off") && strcmp(optarg, "on") && strcmp(optarg, "auto")) {
				fprintf(stderr, "ferry: --postcopy is off, on or auto\n");
				return 2;
			}
			json_object_set_new(o, "postcopy", json_string(optarg));
			break;
		default:
			return 2;   /* cli_getopt said why */
		}
	}
	return 0;
}

/* migrate --cancel NAME, migrate --recover NAME. */
static int special_op(struct cli *cli, int argc, char **argv, const char *op)
{
	json_t *res;

	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
	if (cli_call(cli, op, json_pack("{s:s}", "name", argv[optind]), &res))
		return 1;
	if (cli->json)
		cli_print_json(res);
	else
		printf("%s: %s\n", argv[optind], json_string_value(json_object_get(res, "status")) ?: "ok");
	json_decref(res);
	return 0;
}

static void prober_abort(struct prober *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	unlink(p->path);
}

/* The probe's gaps to the source agent, for its metrics (mig-observed);
 * an agent that cannot take them does not make the move fail. */
static void report_gaps(struct cli *cli, struct agent_conn *conn, json_t *rec)
{
	static const char *const from[] = { "net_gap_ms", "service_gap_ms", "guest_gap_ms" };
	static const char *const to[] = { "icmp_gap_us", "service_gap_us", "guest_gap_us" };
	json_t *args = json_pack("{s:O, s:O}", "name", json_object_get(rec, "name"), "started_us",
				 json_object_get(rec, "started_us")), *res;
	struct ferr err = {0};

	if (!args)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
		json_t *v = json_object_get(rec, from[i]);
		if (json_is_number(v) && json_number_value(v) >= 0)
			json_object_set_new(args, to[i], json_integer((json_int_t)(json_number_value(v) * 1000)));
	}
	if (agent_call(conn, "mig-observed", args, cli->timeout_ms, &res, &err) == 0)
		json_decref(res);
}

json_t *migrate_request(const char *name, const struct host_entry *dest, json_t *opts)
{
	return json_pack("{s:s, s:{s:s, s:s, s:i}, s:O}", "name", name, "dest", "host", dest->name, "addr", dest->addr,
			 "port", dest->port, "opts", opts);
}

int migrate_one(struct cli *cli, const char *src, const char *name, const char *dest, json_t *opts,
		const char *probe, bool timeline, agent_progress_fn on_prog, void *opaque, json_t **rec, struct ferr *err)
{
	const char *hosts = cli->hosts ? cli->hosts : hosts_default_path();
	struct prober pr = { .pid = 0, .timeline = timeline };
	struct agent_conn *conn;
	struct host_entry h;

	/* Refuse before anything starts: unknown or same host. */
	if (src && !strcmp(src, dest)) {
		ferr_set(err, "%s is on host %s already (source and destination are the same)", name, dest);
		return -EEXIST;
	}
	if (hosts_lookup(hosts, dest, &h, err) < 0)
		return -ENOENT;
	if (probe && cli_prober_start(&pr, probe, err) < 0)
		return -EINVAL;
	if (agent_connect(cli, src, &conn, err) < 0) {
		prober_abort(&pr);
		return -EIO;
	}
	int r = agent_call_progress(conn, "migrate", migrate_request(name, &h, opts), cli->timeout_ms, rec, err, on_prog, opaque);
	if (r < 0)
		prober_abort(&pr);
	else if (pr.pid > 0) {
		cli_prober_finish(&pr, *rec);
		report_gaps(cli, conn, *rec);
	}
	agent_close(conn);
	return r < 0 ? -EIO : 0;
}

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
	struct migrate_args m = { .opts = json_object() };
	struct ferr err = {0};
	int rc = migrate_parse_opts(cli, argc, argv, &m);

	if (rc || m.special) {
		json_decref(m.opts);
		return rc ? rc : special_op(cli, argc, argv, m.special);
	}
	if (cli_args_done(argc, argv, 2) < 0) {
		json_decref(m.opts);
		return 2;
	}
	const char *name = argv[optind], *dest = argv[optind + 1];
	if (m.timeline_svg && !m.probe) {
		fprintf(stderr, "ferry: --timeline needs --probe (the timeline is what the probe saw)\n");
		json_decref(m.opts);
		return 2;
	}
	tty_progress = !cli->json && isatty(2);
	json_t *res;
	rc = migrate_one(cli, cli->host, name, dest, m.opts, m.probe, m.timeline, on_progress, NULL, &res, &err);
	json_decref(m.opts);
	if (tty_progress)
		fprintf(stderr, "\r\033[K");
	if (rc < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return rc == -EINVAL ? 2 : 1;   /* a bad --probe is a usage error */
	}
	if (cli->json)
		cli_print_json(res);
	else
		print_record(res);
	rc = 0;
	if (m.timeline_svg && report_timeline_write(m.timeline_svg, res, &err) < 0) {
		fprintf(stderr, "ferry: the move completed; its timeline: %s\n", err.msg);
		rc = 1;
	} else if (m.timeline_svg && !cli->json) {
		printf("timeline: %s\n", m.timeline_svg);
	}
	json_decref(res);
	return rc;
}

/* ferry bench-command CMD PROBE: runs CMD (sh -c) between a probe's start and
 * end, and prints a record like migrate's (for ferry bench --command). */
int cmd_bench_command(struct cli *cli, int argc, char **argv)
{
	struct prober pr = { .pid = 0, .timeline = true };
	struct ferr err = {0};
	int st;

	(void)cli;
	if (argc != 3)
		return 2;
	if (argv[2][0] && cli_prober_start(&pr, argv[2], &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 2;
	}
	int64_t t0 = time_mono_us();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(2, 1);   /* stdout carries the record */
		execl("/bin/sh", "sh", "-c", argv[1], (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	json_t *rec = json_pack("{s:s, s:s, s:I, s:i}", "mode", "command", "command", argv[1], "total_ms",
				(json_int_t)((time_mono_us() - t0) / 1000), "exit_status",
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	if (pr.pid > 0)
		cli_prober_finish(&pr, rec);
	cli_print_json(rec);
	json_decref(rec);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* cmd_probe.c: ferry probe TARGET — availability from outside, with the gap
 * analysis (docs/downtime.md). */
#include "cli/cli.h"
#include "probe/probe.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static volatile bool stop_flag;

static void on_sigint(int sig)
{
	(void)sig;
	stop_flag = true;
}

static int write_csv(const char *path, const struct probe_sample *s, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "ferry: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "method,seq,send_us,reply_us,rtt_us\n");
	for (size_t i = 0; i < n; i++) {
		if (s[i].reply_us)
			fprintf(f, "%s,%u,%lld,%lld,%lld\n", probe_method_name(s[i].method), s[i].seq, (long long)s[i].send_us,
				(long long)s[i].reply_us, (long long)(s[i].reply_us - s[i].send_us));
		else
			fprintf(f, "%s,%u,%lld,,\n", probe_method_name(s[i].method), s[i].seq, (long long)s[i].send_us);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Per method: sent, replied, loss and gaps; the guest's heartbeats. */
static json_t *results(const struct probe_cfg *cfg, const struct probe_sample *s, size_t n, int64_t wall,
		       long long cpu_us, double threshold_ms, bool *any_reply)
{
	json_t *res = json_pack("{s:s, s:I, s:I, s:f, s:o}", "target", cfg->target, "duration_us", (json_int_t)wall,
				"cpu_us", (json_int_t)cpu_us, "threshold_ms", threshold_ms, "methods", json_object());
	*any_reply = false;
	for (int m = 0; m < PROBE_N; m++) {
		if (!cfg->use[m])
			continue;
		if (m == PROBE_GUEST) {
			struct probe_guest pg;
			probe_guest_analyze(s, n, &pg);
			*any_reply |= pg.received > 0;
			json_object_set_new(res, "guest", cli_guest_json(&pg, 0));
			continue;
		}
		struct probe_gaps g;
		probe_analyze(s, n, m, (int64_t)(threshold_ms * 1000), &g);
		*any_reply |= g.replied > 0;
		json_object_set_new(json_object_get(res, "methods"), probe_method_name(m),
				    cli_gaps_json(&g, cfg->interval_us[m], 0));
	}
	return res;
}

static void print_results(json_t *res, int64_t wall, long long cpu_us)
{
	const char *k;
	json_t *v;
	printf("%-5s %8s %8s %7s %14s %10s\n", "PROBE", "SENT", "REPLIED", "LOSS%", "LONGEST_GAP_MS", "GAPS>THR");
	json_object_foreach(json_object_get(res, "methods"), k, v)
		printf("%-5s %8lld %8lld %7.2f %14.1f %10lld\n", k, (long long)json_integer_value(json_object_get(v, "sent")),
		       (long long)json_integer_value(json_object_get(v, "replied")),
		       json_number_value(json_object_get(v, "loss_pct")),
		       json_number_value(json_object_get(v, "longest_gap_ms")),
		       (long long)json_integer_value(json_object_get(v, "gaps_over_threshold")));
	json_t *gj = json_object_get(res, "guest");
	if (gj)
		printf("guest heartbeats: %lld received, %lld lost; guest gap %.1f ms (%lld lost inside it), "
		       "guest clock moved %.1f ms across it: jump %+.1f ms\n",
		       (long long)json_integer_value(json_object_get(gj, "received")),
		       (long long)json_integer_value(json_object_get(gj, "lost")),
		       json_number_value(json_object_get(gj, "guest_gap_ms")),
		       (long long)json_integer_value(json_object_get(gj, "lost_in_gap")),
		       json_number_value(json_object_get(gj, "guest_clock_advance_ms")),
		       json_number_value(json_object_get(gj, "clock_jump_ms")));
	printf("cpu %.1f ms in %.1f s (%.2f%% of a core)\n", cpu_us / 1000.0, wall / 1e6, 100.0 * (double)cpu_us / (double)wall);
}

int cmd_probe(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "threshold-ms", required_argument, NULL, 't' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "csv", required_argument, NULL, 'c' },
		{ 0 }
	};
	struct probe_cfg cfg;
	struct ferr err = {0};
	const char *csv = NULL;
	double interval_ms = -1, threshold_ms = 10;
	int c;

	probe_cfg_default(&cfg);
	probe_parse_methods("icmp", cfg.use, &err);
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		double v;
		switch (c) {
		case 'm':
			if (probe_parse_methods(optarg, cfg.use, &err) < 0) {
				fprintf(stderr, "ferry: %s\n", err.msg);
				return 2;
			}
			break;
		case 'i':
			if (cli_parse_real("--interval-ms", optarg, 0.001, 60000, &interval_ms) < 0)
				return 2;
			break;
		case 'd':
			if (cli_parse_real("--duration (seconds)", optarg, 0.001, 864000, &v) < 0)
				return 2;
			cfg.duration_ms = (int)(v * 1000);
			break;
		case 't':
			if (cli_parse_real("--threshold-ms", optarg, 0.001, 3600000, &threshold_ms) < 0)
				return 2;
			break;
		case 'T':
			if (cli_parse_real("--timeout-ms", optarg, 1, 3600000, &v) < 0)
				return 2;
			cfg.timeout_ms = (int)v;
			break;
		case 'c': csv = optarg; break;
		default: return 2;   /* cli_getopt said why */
		}
	}
	if (cli_args_done(argc, argv, 1) < 0)
		return 2;
	snprintf(cfg.target, sizeof(cfg.target), "%s", argv[optind]);
	if (interval_ms > 0)
		for (int m = 0; m < PROBE_N; m++)
			cfg.interval_us[m] = (int)(interval_ms * 1000);
	cfg.stop = &stop_flag;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);

	struct probe_sample *s;
	size_t n;
	/* The probe loop's own CPU time (the scheduler's exact figure, not
	 * getrusage's tick-sampled split), start-up excluded. */
	int64_t t0 = time_mono_us(), cpu0 = time_cpu_us();
	if (probe_run(&cfg, &s, &n, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	int64_t wall = time_mono_us() - t0;
	long long cpu_us = time_cpu_us() - cpu0;
	if (csv && write_csv(csv, s, n) < 0) {
		free(s);
		return 1;
	}
	bool any_reply;
	json_t *res = results(&cfg, s, n, wall, cpu_us, threshold_ms, &any_reply);
	free(s);
	if (cli->json)
		cli_print_json(res);
	else
		print_results(res, wall, cpu_us);
	json_decref(res);
	if (!any_reply) {
		fprintf(stderr, "ferry: no reply from %s\n", cfg.target);
		return 1;
	}
	return 0;
}

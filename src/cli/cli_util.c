/* cli_util.c: small helpers shared by the CLI verbs. */
#include "cli/cli.h"
#include "probe/probe.h"

#include <getopt.h>
#include <stdio.h>

/* Parses "VERB NAME" (and global options anywhere); says what is wrong. */
const char *cli_one_name(struct cli *cli, int argc, char **argv)
{
	if (cli_getopt(cli, argc, argv, NULL, NULL) != -1 || cli_args_done(argc, argv, 1) < 0)
		return NULL;
	return argv[optind];
}

void cli_format_uptime(long long started_us, char *out, size_t n)
{
	long long s = started_us ? (time_real_us() - started_us) / 1000000 : 0;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
}

json_t *cli_gaps_json(const struct probe_gaps *g, int interval_us, int64_t offset_us)
{
	return json_pack("{s:I, s:I, s:f, s:f, s:b, s:I, s:I, s:I, s:f}", "sent", (json_int_t)g->sent,
			 "replied", (json_int_t)g->replied,
			 "loss_pct", g->sent ? 100.0 * (double)(g->sent - g->replied) / (double)g->sent : 0.0,
			 "longest_gap_ms", g->longest_us / 1000.0, "gap_open", g->open,
			 "longest_gap_from_us", (json_int_t)(g->longest_from_us ? g->longest_from_us + offset_us : 0),
			 "longest_gap_to_us", (json_int_t)(g->longest_to_us ? g->longest_to_us + offset_us : 0),
			 "gaps_over_threshold", (json_int_t)g->over_threshold, "interval_ms", interval_us / 1000.0);
}

json_t *cli_guest_json(const struct probe_guest *g, int64_t offset_us)
{
	return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:f}", "received", (json_int_t)g->received,
			 "lost", (json_int_t)g->lost, "guest_gap_ms", g->gap_us / 1000.0,
			 "gap_from_us", (json_int_t)(g->gap_from_us ? g->gap_from_us + offset_us : 0),
			 "gap_to_us", (json_int_t)(g->gap_to_us ? g->gap_to_us + offset_us : 0),
			 "lost_in_gap", (json_int_t)g->lost_in_gap, "guest_clock_advance_ms", g->guest_advance_us / 1000.0,
			 "clock_jump_ms", g->clock_jump_us / 1000.0);
}

/* sbench_out.c: the storage bench's findings summarized (medians over the
 * runs, with the 95% CI of the median from src/stats) and printed as a
 * table or CSV. */
#include "cli/sbench.h"
#include "stats/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys that name a group in each list, and the figures summarized. */
static const char *raw_keys[] = { "pool", "side", "job", "qd", "jobs", NULL };
static const char *raw_figs[] = { "mbps", "iops", "p50_ms", "p99_ms", "client_cpu_ms_per_mb", "server_cpu_ms_per_mb", NULL };
static const char *web_keys[] = { "pool", "cache", NULL };
static const char *web_figs[] = { "rps", "p50_ms", "p99_ms", "max_ms", "errors", "mb_per_s", NULL };
static const char *move_keys[] = { "pool", "kind", NULL };
static const char *move_figs[] = { "total_ms", "pause_ms", "net_gap_ms", "service_gap_ms", "disk_bytes", "wrk_errors", NULL };

static bool same_group(json_t *a, json_t *b, const char **keys)
{
	for (const char **k = keys; *k; k++)
		if (!json_equal(json_object_get(a, *k), json_object_get(b, *k)))
			return false;
	return true;
}

/* {median, ci95: [lo, hi], min, max, n} of field over the items of arr in
 * the group of like; NULL when none has it. */
static json_t *figure(json_t *arr, json_t *like, const char **keys, const char *field)
{
	size_t i, n = 0;
	json_t *x;
	double *v = xmalloc((json_array_size(arr) + 1) * sizeof(double));
	struct stats s;

	json_array_foreach(arr, i, x) {
		json_t *f = json_object_get(x, field);
		if (same_group(x, like, keys) && json_is_number(f))
			v[n++] = json_number_value(f);
	}
	json_t *o = NULL;
	if (n && stats_compute(v, n, 2000, 1, &s) == 0)
		o = json_pack("{s:f, s:[f, f], s:f, s:f, s:i}", "median", s.median, "ci95", s.median_ci_lo, s.median_ci_hi,
			      "min", s.min, "max", s.max, "n", (int)n);
	free(v);
	return o;
}

static json_t *summarize(json_t *arr, const char **keys, const char **figs)
{
	json_t *out = json_array(), *x, *y;
	size_t i, k;

	json_array_foreach(arr, i, x) {
		bool seen = false;
		json_array_foreach(out, k, y)
			seen = seen || same_group(x, y, keys);
		if (seen)
			continue;
		json_t *g = json_object();
		for (const char **key = keys; *key; key++)
			json_object_set(g, *key, json_object_get(x, *key));
		for (const char **f = figs; *f; f++) {
			json_t *s = figure(arr, x, keys, *f);
			if (s)
				json_object_set_new(g, *f, s);
		}
		json_array_append_new(out, g);
	}
	return out;
}

void sb_summarize(json_t *rec)
{
	json_object_set_new(rec, "summary",
			    json_pack("{s:o, s:o, s:o}", "raw", summarize(json_object_get(rec, "raw"), raw_keys, raw_figs), "web",
				      summarize(json_object_get(rec, "web"), web_keys, web_figs), "moves",
				      summarize(json_object_get(rec, "moves"), move_keys, move_figs)));
}

static double med(json_t *g, const char *f)
{
	json_t *m = json_object_get(json_object_get(g, f), "median");
	return json_is_number(m) ? json_number_value(m) : NAN;
}

/* "123.4" or "-" when not measured. */
static const char *num(char *buf, size_t n, double v, int prec)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", prec, v);
	return buf;
}

static const char *ci(char *buf, size_t n, json_t *g, const char *f, int prec)
{
	json_t *c = json_object_get(json_object_get(g, f), "ci95");
	if (!c)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f-%.*f", prec, json_number_value(json_array_get(c, 0)), prec,
			 json_number_value(json_array_get(c, 1)));
	return buf;
}

static void fault_table(json_t *fault);

void sb_print_table(json_t *rec)
{
	json_t *s = json_object_get(rec, "summary"), *g;
	size_t i;
	char a[32], b[32], c[32], d[32], e[32], f[32], h[40];

	if (json_object_get(rec, "fault")) {
		fault_table(json_object_get(rec, "fault"));
		return;
	}
	printf("Raw I/O (fio, O_DIRECT; host side: qemu-nbd on the pool; guest: virtio-blk under TCG), medians of %lld run(s)\n",
	       (long long)json_integer_value(json_object_get(rec, "runs")));
	printf("%-10s %-6s %-11s %3s %4s %9s %15s %9s %8s %8s %9s %9s\n", "pool", "side", "job", "qd", "jobs", "MB/s",
	       "95% CI", "IOPS", "p50 ms", "p99 ms", "cli ms/MB", "srv ms/MB");
	json_array_foreach(json_object_get(s, "raw"), i, g)
		printf("%-10s %-6s %-11s %3lld %4lld %9s %15s %9s %8s %8s %9s %9s\n", json_string_value(json_object_get(g, "pool")),
		       json_string_value(json_object_get(g, "side")), json_string_value(json_object_get(g, "job")),
		       (long long)json_integer_value(json_object_get(g, "qd")),
		       (long long)json_integer_value(json_object_get(g, "jobs")), num(a, sizeof(a), med(g, "mbps"), 1),
		       ci(h, sizeof(h), g, "mbps", 1), num(b, sizeof(b), med(g, "iops"), 0), num(c, sizeof(c), med(g, "p50_ms"), 2),
		       num(d, sizeof(d), med(g, "p99_ms"), 2), num(e, sizeof(e), med(g, "client_cpu_ms_per_mb"), 1),
		       num(f, sizeof(f), med(g, "server_cpu_ms_per_mb"), 1));
	printf("\nApache in the guest (wrk, %lld connections, %lld s; cold: caches dropped first)\n",
	       (long long)json_integer_value(json_object_get(rec, "connections")),
	       (long long)json_integer_value(json_object_get(rec, "wrk_seconds")));
	printf("%-10s %-5s %9s %17s %8s %8s %8s %7s %7s\n", "pool", "cache", "req/s", "95% CI", "p50 ms", "p99 ms", "max ms",
	       "MB/s", "errors");
	json_array_foreach(json_object_get(s, "web"), i, g)
		printf("%-10s %-5s %9s %17s %8s %8s %8s %7s %7s\n", json_string_value(json_object_get(g, "pool")),
		       json_string_value(json_object_get(g, "cache")), num(a, sizeof(a), med(g, "rps"), 1),
		       ci(h, sizeof(h), g, "rps", 1), num(b, sizeof(b), med(g, "p50_ms"), 2), num(c, sizeof(c), med(g, "p99_ms"), 2),
		       num(d, sizeof(d), med(g, "max_ms"), 1), num(e, sizeof(e), med(g, "mb_per_s"), 1),
		       num(f, sizeof(f), med(g, "errors"), 0));
	if (!json_array_size(json_object_get(s, "moves")))
		return;
	printf("\nMoves of the loaded guest (probed from the client)\n");
	printf("%-10s %-5s %9s %9s %10s %11s %11s %10s\n", "pool", "kind", "total ms", "pause ms", "ICMP gap", "HTTP gap",
	       "disk bytes", "wrk errors");
	json_array_foreach(json_object_get(s, "moves"), i, g)
		printf("%-10s %-5s %9s %9s %10s %11s %11s %10s\n", json_string_value(json_object_get(g, "pool")),
		       json_string_value(json_object_get(g, "kind")), num(a, sizeof(a), med(g, "total_ms"), 0),
		       num(b, sizeof(b), med(g, "pause_ms"), 1), num(c, sizeof(c), med(g, "net_gap_ms"), 1),
		       num(d, sizeof(d), med(g, "service_gap_ms"), 1), num(e, sizeof(e), med(g, "disk_bytes"), 0),
		       num(f, sizeof(f), med(g, "wrk_errors"), 0));
}

/* Every measurement, one line each: what a spreadsheet wants. */
void sb_print_csv(json_t *rec)
{
	json_t *x, *p;
	size_t i, k;

	if (json_object_get(rec, "fault")) {   /* a line per window of the client and per second of the writer */
		printf("series,pool,t_s,rps,p99_ms,errors,wrk_s,requests,run_from_s,writes,max_write_ms\n");
		json_array_foreach(json_object_get(json_object_get(rec, "fault"), "pools"), i, p) {
			const char *pool = json_string_value(json_object_get(p, "pool"));
			json_array_foreach(json_object_get(p, "series"), k, x)
				printf("web,%s,%.3f,%.1f,%.2f,%.0f,%.2f,%.0f,%.3f,,\n", pool, json_number_value(json_array_get(x, 0)),
				       json_number_value(json_array_get(x, 1)), json_number_value(json_array_get(x, 2)),
				       json_number_value(json_array_get(x, 3)), json_number_value(json_array_get(x, 4)),
				       json_number_value(json_array_get(x, 5)), json_number_value(json_array_get(x, 6)));
			json_array_foreach(json_object_get(p, "io"), k, x)
				printf("io,%s,%lld,,,,,,,%lld,%.1f\n", pool, (long long)json_integer_value(json_array_get(x, 0)),
				       (long long)json_integer_value(json_array_get(x, 1)), json_number_value(json_array_get(x, 2)));
		}
		return;
	}
	printf("section,pool,side_or_case,job,qd,jobs,run,mbps,iops,p50_ms,p99_ms,client_cpu_ms_per_mb,server_cpu_ms_per_mb,"
	       "rps,max_ms,errors,total_ms,pause_ms,net_gap_ms,service_gap_ms,disk_bytes\n");
#define F(o, k) (json_is_number(json_object_get(o, k)) ? json_number_value(json_object_get(o, k)) : NAN)
	json_array_foreach(json_object_get(rec, "raw"), i, x)
		printf("raw,%s,%s,%s,%lld,%lld,%lld,%.3f,%.1f,%.4f,%.4f,%.3f,%.3f,,,,,,,,\n",
		       json_string_value(json_object_get(x, "pool")), json_string_value(json_object_get(x, "side")),
		       json_string_value(json_object_get(x, "job")), (long long)json_integer_value(json_object_get(x, "qd")),
		       (long long)json_integer_value(json_object_get(x, "jobs")),
		       (long long)json_integer_value(json_object_get(x, "run")), F(x, "mbps"), F(x, "iops"), F(x, "p50_ms"),
		       F(x, "p99_ms"), F(x, "client_cpu_ms_per_mb"), F(x, "server_cpu_ms_per_mb"));
	json_array_foreach(json_object_get(rec, "web"), i, x)
		printf("web,%s,%s,,,,%lld,%.3f,,%.4f,%.4f,,,%.2f,%.3f,%.0f,,,,,\n", json_string_value(json_object_get(x, "pool")),
		       json_string_value(json_object_get(x, "cache")), (long long)json_integer_value(json_object_get(x, "run")),
		       F(x, "mb_per_s"), F(x, "p50_ms"), F(x, "p99_ms"), F(x, "rps"), F(x, "max_ms"), F(x, "errors"));
	json_array_foreach(json_object_get(rec, "moves"), i, x)
		printf("move,%s,%s,,,,%lld,,,,,,,,,%.0f,%.1f,%.2f,%.2f,%.2f,%.0f\n", json_string_value(json_object_get(x, "pool")),
		       json_string_value(json_object_get(x, "kind")), (long long)json_integer_value(json_object_get(x, "run")),
		       F(x, "wrk_errors"), F(x, "total_ms"), F(x, "pause_ms"), F(x, "net_gap_ms"), F(x, "service_gap_ms"),
		       F(x, "disk_bytes"));
#undef F
}

static double fval(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "1.5s", or "-" when not measured. */
static const char *secs(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.1fs", v);
	else
		snprintf(buf, n, "-");
	return buf;
}

/* --fault: a line per pool. */
static void fault_table(json_t *fault)
{
	json_t *p;
	size_t i;
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], m[160];

	printf("When a storage server stops (%lld s in, for %lld s, %lld s more after it returns%s)\n",
	       (long long)json_integer_value(json_object_get(fault, "at_s")),
	       (long long)json_integer_value(json_object_get(fault, "for_s")),
	       (long long)json_integer_value(json_object_get(fault, "after_s")),
	       json_is_true(json_object_get(fault, "move")) ? "; a live move a -> b 5 s into the outage" : "");
	printf("%-10s %-7s %8s %9s %9s %8s %7s %9s %8s %8s %-10s %s\n", "pool", "stops", "base r/s", "fault r/s", "0-answer",
	       "longest", "errors", "I/O stall", "I/O back", "web back", "survived", "live move during the outage");
	json_array_foreach(json_object_get(fault, "pools"), i, p) {
		json_t *mv = json_object_get(p, "migration");
		const char *out = json_string_value(json_object_get(mv, "outcome"));
		const char *type = json_string_value(json_object_get(p, "type"));
		if (!mv)
			snprintf(m, sizeof(m), "-");
		else if (out && !strcmp(out, "completed"))
			snprintf(m, sizeof(m), "completed in %.1f s (pause %.0f ms)",
				 json_number_value(json_object_get(mv, "total_ms")) / 1000,
				 json_number_value(json_object_get(mv, "pause_ms")));
		else
			snprintf(m, sizeof(m), "%s: %.100s", out ? out : "?",
				 json_string_value(json_object_get(mv, "error")) ?: "");
		m[strcspn(m, "\n")] = 0;
		char surv[24];
		snprintf(surv, sizeof(surv), "%s%s%s%s", json_is_true(json_object_get(p, "survived")) ? "yes" : "NO",
			 json_string_value(json_object_get(p, "host")) ? " (on " : "",
			 json_string_value(json_object_get(p, "host")) ?: "",
			 json_string_value(json_object_get(p, "host")) ? ")" : "");
		printf("%-10s %-7s %8s %9s %9s %8s %7s %9s %8s %8s %-10s %s\n", json_string_value(json_object_get(p, "pool")),
		       !strcmp(type, "rbd") ? "ceph3" : !strcmp(type, "nfs") ? "ganesha" : "smbd",
		       num(a, sizeof(a), fval(p, "baseline_rps"), 0), num(b, sizeof(b), fval(p, "fault_rps"), 0),
		       secs(c, sizeof(c), fval(p, "zero_rps_s")), secs(h, sizeof(h), fval(p, "web_gap_s")),
		       num(d, sizeof(d), fval(p, "errors"), 0),
		       secs(e, sizeof(e), fval(p, "io_stall_ms") / 1000),
		       fval(p, "writes") > 0 && !isfinite(fval(p, "io_recovery_s")) ? "never" :
										secs(f, sizeof(f), fval(p, "io_recovery_s")),
		       secs(g, sizeof(g), fval(p, "web_recovery_s")), surv, m);
		if (json_string_value(json_object_get(p, "writer_error")))
			printf("  (%s: the guest's writer: %.200s)\n", json_string_value(json_object_get(p, "pool")),
			       json_string_value(json_object_get(p, "writer_error")));
	}
	printf("r/s: answers a second (base: median of 1 s wrk runs; fault: all the outage's answers over its length);\n"
	       "0-answer: time without an answer after the stop (stretches over 0.5 s), longest: the longest stretch;\n"
	       "I/O stall: longest time the guest's writer (4 KiB O_DIRECT, 20/s) went without a completion;\n"
	       "I/O back, web back: from the server's return to the first write after the stall, to half the base rate.\n");
}

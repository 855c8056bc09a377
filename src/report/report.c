/* report.c: ferry bench's HTML report: one self-contained page (inline CSS
 * and SVG, no script, nothing fetched) with the statistics table, a box plot
 * per downtime definition across modes, and per mode the timeline of one
 * migration: the probe replies, the pause window and the longest gaps. */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

/* The downtime definitions, in the order every table and plot shows them
 * (docs/downtime.md): the record key, then what it measures. */
const struct report_def report_defs[] = {
	{ "pause_ms", "pause window (source STOP to destination RESUME)" },
	{ "qemu_downtime_ms", "QEMU's downtime figure" },
	{ "net_gap_ms", "net gap (longest time between ICMP replies)" },
	{ "net_gap_switchover_ms", "net gap around the switchover (ICMP)" },
	{ "service_gap_ms", "service gap (longest time between HTTP answers)" },
	{ "guest_gap_ms", "guest gap (longest time between heartbeats from inside)" },
	{ "total_ms", "total time of the move" },
};
const size_t report_n_defs = sizeof(report_defs) / sizeof(report_defs[0]);
#define N_DEFS report_n_defs

static const char *colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd" };

void report_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<') fputs("&lt;", f);
		else if (*s == '>') fputs("&gt;", f);
		else if (*s == '&') fputs("&amp;", f);
		else if (*s == '"') fputs("&quot;", f);
		else fputc(*s, f);
	}
}

static bool completed(json_t *r)
{
	const char *s = json_string_value(json_object_get(r, "status"));
	return s && !strcmp(s, "completed");
}

double *report_run_values(json_t *runs, const char *mode, const char *def, size_t *n)
{
	double *v = xmalloc((json_array_size(runs) + 1) * sizeof(double));
	size_t i;
	json_t *r;

	*n = 0;
	json_array_foreach(runs, i, r) {
		json_t *x = json_object_get(r, def);
		const char *m = json_string_value(json_object_get(r, "bench_mode"));
		if (m && !strcmp(m, mode) && completed(r) && json_is_number(x))
			v[(*n)++] = json_number_value(x);
	}
	return v;
}

/* The same, sorted. */
static double *values(json_t *runs, const char *mode, const char *def, size_t *n)
{
	double *v = report_run_values(runs, mode, def, n);

	for (size_t a = 1; a < *n; a++)   /* insertion sort: a few dozen runs */
		for (size_t b = a; b > 0 && v[b - 1] > v[b]; b--) {
			double t = v[b];
			v[b] = v[b - 1];
			v[b - 1] = t;
		}
	return v;
}

double report_nice_step(double span, int n)
{
	double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
	return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

static void boxplot(FILE *f, json_t *runs, const char **modes, int n_modes, const char *def, const char *title)
{
	const double W = 520, H = 280, L = 60, R = 20, T = 30, B = 40;
	double lo = INFINITY, hi = -INFINITY;
	size_t n[8];
	double *v[8];
	bool any = false;

	for (int m = 0; m < n_modes; m++) {
		v[m] = values(runs, modes[m], def, &n[m]);
		if (n[m]) {
			any = true;
			lo = fmin(lo, v[m][0]);
			hi = fmax(hi, v[m][n[m] - 1]);
		}
	}
	if (!any) {
		for (int m = 0; m < n_modes; m++)
			free(v[m]);
		return;
	}
	double step = report_nice_step(hi - lo > 0 ? hi - lo : fmax(hi, 1), 5);
	lo = floor(fmax(0, lo - step / 2) / step) * step;
	hi = ceil((hi + step / 2) / step) * step;
	#define Y(x) (T + (H - T - B) * (1 - ((x) - lo) / (hi - lo)))
	fprintf(f, "<figure><svg class=\"boxplot\" data-def=\"%s\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		   "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n", def, W, H, W, H);
	fprintf(f, "<text x=\"%.0f\" y=\"18\" class=\"title\">", L);
	report_esc(f, title);
	fprintf(f, " (ms)</text>\n");
	for (double t = lo; t <= hi + step / 1000; t += step)
		fprintf(f, "<line class=\"grid\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text class=\"tick\" x=\"%.0f\" y=\"%.1f\">%g</text>\n",
			L, W - R, Y(t), Y(t), L - 6, Y(t) + 4, t);
	double slot = (W - L - R) / n_modes;
	for (int m = 0; m < n_modes; m++) {
		double cx = L + slot * (m + 0.5), bw = fmin(60, slot * 0.5);
		fprintf(f, "<text class=\"mode\" x=\"%.1f\" y=\"%.0f\">", cx, H - B + 18);
		report_esc(f, modes[m]);
		fprintf(f, " (n=%zu)</text>\n", n[m]);
		if (!n[m])
			continue;
		double q1 = stats_percentile_sorted(v[m], n[m], 25), med = stats_percentile_sorted(v[m], n[m], 50);
		double q3 = stats_percentile_sorted(v[m], n[m], 75);
		const char *c = colors[m % 4];
		fprintf(f, "<g class=\"box\" data-mode=\"");
		report_esc(f, modes[m]);
		fprintf(f, "\" data-median=\"%.3f\">", med);
		fprintf(f, "<line class=\"whisker\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", cx, cx,
			Y(v[m][0]), Y(v[m][n[m] - 1]), c);
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.25\" stroke=\"%s\"/>",
			cx - bw / 2, Y(q3), bw, fmax(Y(q1) - Y(q3), 1), c, c);
		fprintf(f, "<line class=\"median\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", cx - bw / 2,
			cx + bw / 2, Y(med), Y(med), c);
		for (size_t i = 0; i < n[m]; i++)   /* every run, jittered */
			fprintf(f, "<circle class=\"run\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%.2f ms</title></circle>",
				cx + bw * 0.8 + (double)(i % 5) * 3, Y(v[m][i]), c, v[m][i]);
		fprintf(f, "</g>\n");
		free(v[m]);
	}
	#undef Y
	fprintf(f, "</svg><figcaption>");
	report_esc(f, title);
	fprintf(f, ": box from the 25th to the 75th percentile, line at the median, whiskers to min and max, dots: every run.</figcaption></figure>\n");
}

/* The run of mode whose pause is the median one (else the first completed). */
static json_t *typical_run(json_t *runs, const char *mode)
{
	size_t n, i;
	double *v = values(runs, mode, "pause_ms", &n);
	double med = n ? stats_percentile_sorted(v, n, 50) : 0;
	json_t *r, *best = NULL;
	double bd = INFINITY;

	free(v);
	json_array_foreach(runs, i, r) {
		const char *m = json_string_value(json_object_get(r, "bench_mode"));
		if (!m || strcmp(m, mode) || !completed(r) || !json_object_get(json_object_get(r, "probe"), "timeline"))
			continue;
		json_t *p = json_object_get(r, "pause_ms");
		double d = json_is_number(p) ? fabs(json_number_value(p) - med) : 1e9;
		if (!best || d < bd) {
			best = r;
			bd = d;
		}
	}
	return best;
}

static void timeline(FILE *f, json_t *r, const char *mode, const char *color)
{
	fprintf(f, "<figure>");
	report_timeline_svg(f, r, mode, color, 300, 700, 0);
	fprintf(f, "<figcaption>One migration in mode ");
	report_esc(f, mode);
	fprintf(f, " (the run with the median pause): a tick per reply or heartbeat received, QEMU's marks (phases, "
		   "passes over RAM, STOP, RESUME), the frames that announced the guest, the pause window shaded, each "
		   "method's longest gap outlined.</figcaption></figure>\n");
}

int report_write(const char *path, json_t *bench, struct ferr *err)
{
	json_t *runs = json_object_get(bench, "runs"), *stats = json_object_get(bench, "stats"), *per;
	const char *modes[8], *mode;
	int n_modes = 0;
	FILE *f = fopen(path, "w");

	if (!f) {
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	json_object_foreach(stats, mode, per)
		if (n_modes < 8)
			modes[n_modes++] = mode;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>ferry bench: ");
	report_esc(f, json_string_value(json_object_get(bench, "vm")));
	fprintf(f, "</title>\n<style>\nbody{font:14px/1.4 sans-serif;margin:2em;color:#222}\n"
		   "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}\n"
		   "th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}\n"
		   "figure{margin:1em 0}svg{background:#fff;border:1px solid #ccc}\n"
		   ".grid{stroke:#e5e5e5}.tick{font-size:11px;fill:#555;text-anchor:end}.title{font-weight:bold;font-size:13px}\n"
		   ".mode{font-size:12px;text-anchor:middle}.row{font-size:12px;text-anchor:end}.axis{font-size:11px;fill:#555}\n"
		   "%s</style></head><body>\n<h1>ferry bench: ", report_timeline_css);
	report_esc(f, json_string_value(json_object_get(bench, "vm")));
	fprintf(f, " between %s and %s</h1>\n", json_string_value(json_array_get(json_object_get(bench, "hosts"), 0)) ?: "?",
		json_string_value(json_array_get(json_object_get(bench, "hosts"), 1)) ?: "?");
	fprintf(f, "<p>%lld counted runs per mode after one warm-up, alternating direction. Definitions: docs/downtime.md.</p>\n",
		(long long)json_integer_value(json_object_get(bench, "runs_per_mode")));
	fprintf(f, "<h2>Statistics</h2>\n<table class=\"stats\"><tr><th>mode</th><th>definition</th><th>n</th><th>mean</th><th>median</th>"
		   "<th>sd</th><th>min</th><th>max</th><th>p95</th><th>95%% CI of median</th></tr>\n");
	for (int m = 0; m < n_modes; m++) {
		per = json_object_get(stats, modes[m]);
		for (size_t d = 0; d < N_DEFS; d++) {
			json_t *s = json_object_get(per, report_defs[d].key), *ci = json_object_get(s, "median_ci95");
			if (!s)
				continue;
			fprintf(f, "<tr><td>");
			report_esc(f, modes[m]);
			fprintf(f, "</td><td>%s</td><td>%lld</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f&ndash;%.1f</td></tr>\n",
				report_defs[d].key, (long long)json_integer_value(json_object_get(s, "n")),
				json_number_value(json_object_get(s, "mean")), json_number_value(json_object_get(s, "median")),
				json_number_value(json_object_get(s, "sd")), json_number_value(json_object_get(s, "min")),
				json_number_value(json_object_get(s, "max")), json_number_value(json_object_get(s, "p95")),
				json_number_value(json_array_get(ci, 0)), json_number_value(json_array_get(ci, 1)));
		}
	}
	fprintf(f, "</table>\n<h2>Each definition across modes</h2>\n");
	for (size_t d = 0; d < N_DEFS; d++)
		boxplot(f, runs, modes, n_modes, report_defs[d].key, report_defs[d].what);
	fprintf(f, "<h2>One migration per mode</h2>\n");
	for (int m = 0; m < n_modes; m++) {
		json_t *r = typical_run(runs, modes[m]);
		if (r)
			timeline(f, r, modes[m], colors[m % 4]);
		else
			fprintf(f, "<p>No completed run with a probe timeline in mode %s.</p>\n", modes[m]);
	}
	fprintf(f, "</body></html>\n");
	if (fclose(f) != 0) {
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* report_storage.c: the storage bench's HTML report (ferry storage bench
 * --report): the pools side by side, as bars at the median with a whisker
 * from the fastest to the slowest run and the 95% CI of the median in the
 * tooltip; one chart per job for raw I/O (host side and guest), one for
 * Apache's requests/s and p99 latency, one for the moves' client-seen gaps.
 * Self-contained: inline CSS and SVG, no script, nothing fetched. */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 16
#define MAX_SERIES 6

static const char *colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };

struct chart {
	const char *kind;                   /* data-chart */
	char title[160];
	const char *unit;
	int n_groups, n_series;
	char groups[MAX_GROUPS][32];
	const char *series[MAX_SERIES];     /* the pools */
	json_t *cell[MAX_GROUPS][MAX_SERIES];   /* summary figures {median, ci95, min, max, n} */
};

static double fig(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Grouped bars: a group per x label, a bar per pool. */
static void bars(FILE *f, const struct chart *c)
{
	const double L = 64, R = 16, T = 30, B = 46, H = 260;
	double slot = fmax(70, 26.0 * c->n_series + 20), hi = 0;
	/* Wide enough for the title and a legend entry per pool. */
	double W = fmax(L + R + slot * c->n_groups, fmax(300, L + 110.0 * c->n_series));
	slot = (W - L - R) / c->n_groups;

	for (int g = 0; g < c->n_groups; g++)
		for (int s = 0; s < c->n_series; s++)
			if (c->cell[g][s])
				hi = fmax(hi, fmax(fig(c->cell[g][s], "max"), fig(c->cell[g][s], "median")));
	if (!(hi > 0))
		hi = 1;
	double step = report_nice_step(hi, 5);
	hi = ceil(hi / step) * step;
#define Y(v) (T + (H - T - B) * (1 - (v) / hi))
	fprintf(f, "<figure><svg class=\"bars\" data-chart=\"%s\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		   "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n<text x=\"%.0f\" y=\"18\" class=\"title\">",
		c->kind, W, H, W, H, L);
	report_esc(f, c->title);
	fprintf(f, " (%s)</text>\n", c->unit);
	for (double t = 0; t <= hi + step / 1000; t += step)
		fprintf(f, "<line class=\"grid\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text class=\"tick\" x=\"%.0f\" y=\"%.1f\">%g</text>\n",
			L, W - R, Y(t), Y(t), L - 6, Y(t) + 4, t);
	for (int g = 0; g < c->n_groups; g++) {
		double x0 = L + slot * g + (slot - 26.0 * c->n_series) / 2;
		fprintf(f, "<text class=\"mode\" x=\"%.1f\" y=\"%.0f\">", L + slot * (g + 0.5), H - B + 16);
		report_esc(f, c->groups[g]);
		fprintf(f, "</text>\n");
		for (int s = 0; s < c->n_series; s++) {
			json_t *x = c->cell[g][s];
			double med = fig(x, "median");
			if (!x || isnan(med))
				continue;
			double bx = x0 + 26.0 * s + 2, lo = fig(x, "min"), up = fig(x, "max");
			json_t *ci = json_object_get(x, "ci95");
			fprintf(f, "<g class=\"bar\" data-pool=\"");
			report_esc(f, c->series[s]);
			fprintf(f, "\" data-median=\"%.4g\"><rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"%.1f\" fill=\"%s\">"
				   "<title>", med, bx, Y(med), fmax(Y(0) - Y(med), 0.5), colors[s % MAX_SERIES]);
			report_esc(f, c->series[s]);
			fprintf(f, ": median %.4g %s, 95%% CI of the median %.4g-%.4g, runs %.4g-%.4g (n=%lld)</title></rect>",
				med, c->unit, json_number_value(json_array_get(ci, 0)), json_number_value(json_array_get(ci, 1)),
				lo, up, (long long)json_integer_value(json_object_get(x, "n")));
			if (!isnan(lo) && !isnan(up) && up > lo)
				fprintf(f, "<line class=\"spread\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>",
					bx + 11, bx + 11, Y(lo), Y(up));
			fprintf(f, "</g>\n");
		}
	}
	for (int s = 0; s < c->n_series; s++) {
		fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/><text class=\"legend\" x=\"%.0f\" y=\"%.0f\">",
			L + 110.0 * s, H - 16, colors[s % MAX_SERIES], L + 110.0 * s + 14, H - 7);
		report_esc(f, c->series[s]);
		fprintf(f, "</text>\n");
	}
#undef Y
	fprintf(f, "</svg></figure>\n");
}

static int series_of(struct chart *c, const char *pool)
{
	for (int s = 0; s < c->n_series; s++)
		if (!strcmp(c->series[s], pool))
			return s;
	if (c->n_series == MAX_SERIES)
		return -1;
	c->series[c->n_series] = pool;
	return c->n_series++;
}

static int group_of(struct chart *c, const char *label)
{
	for (int g = 0; g < c->n_groups; g++)
		if (!strcmp(c->groups[g], label))
			return g;
	if (c->n_groups == MAX_GROUPS)
		return -1;
	snprintf(c->groups[c->n_groups], sizeof(c->groups[0]), "%s", label);
	return c->n_groups++;
}

/* A chart of figure fig over the summary items that match (key = val),
 * grouped by label(), a bar per pool. */
typedef void (*label_fn)(json_t *item, char *out, size_t n);

static void chart_of(FILE *f, json_t *items, const char *kind, const char *title, const char *unit, const char *key,
		     const char *val, const char *key2, const char *val2, label_fn label, const char *figname)
{
	struct chart c = { .kind = kind, .unit = unit };
	json_t *x;
	size_t i;

	snprintf(c.title, sizeof(c.title), "%s", title);
	json_array_foreach(items, i, x) {
		char l[32];
		if ((key && strcmp(json_string_value(json_object_get(x, key)) ?: "", val)) ||
		    (key2 && strcmp(json_string_value(json_object_get(x, key2)) ?: "", val2)))
			continue;
		label(x, l, sizeof(l));
		int g = group_of(&c, l), s = series_of(&c, json_string_value(json_object_get(x, "pool")) ?: "?");
		if (g >= 0 && s >= 0)
			c.cell[g][s] = json_object_get(x, figname);
	}
	if (c.n_groups)
		bars(f, &c);
}

static void raw_label(json_t *x, char *out, size_t n)
{
	snprintf(out, n, "QD%lld x%lld", (long long)json_integer_value(json_object_get(x, "qd")),
		 (long long)json_integer_value(json_object_get(x, "jobs")));
}

static void key_label(json_t *x, char *out, size_t n)
{
	snprintf(out, n, "%s", json_string_value(json_object_get(x, "cache")) ?: json_string_value(json_object_get(x, "kind")) ?: "?");
}

int report_storage_write(const char *path, json_t *rec, struct ferr *err)
{
	json_t *s = json_object_get(rec, "summary"), *p;
	FILE *f = fopen(path, "w");
	size_t i;
	static const char *jobs[][2] = { { "seq-read", "MB/s" }, { "seq-write", "MB/s" }, { "rand-read", "IOPS" },
					 { "rand-write", "IOPS" } };

	if (!f) {
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>ferry storage bench</title>\n"
		   "<style>\nbody{font:14px/1.4 sans-serif;margin:2em;color:#222}\nfigure{margin:1em 0;display:inline-block}"
		   "svg{background:#fff;border:1px solid #ccc}\n.grid{stroke:#e5e5e5}.tick{font-size:11px;fill:#555;text-anchor:end}"
		   ".title{font-weight:bold;font-size:13px}\n.mode{font-size:12px;text-anchor:middle}.legend{font-size:12px}\n"
		   "</style></head><body>\n<section id=\"storage\">\n<h1>ferry storage bench: ");
	json_array_foreach(json_object_get(rec, "pools"), i, p) {
		fprintf(f, "%s", i ? " vs " : "");
		report_esc(f, json_string_value(json_object_get(p, "name")));
		fprintf(f, " (");
		report_esc(f, json_string_value(json_object_get(p, "type")));
		fprintf(f, ")");
	}
	if (json_object_get(rec, "fault")) {
		fprintf(f, "</h1>\n");
		report_fault_section(f, json_object_get(rec, "fault"));
		goto end;
	}
	fprintf(f, "</h1>\n<p>Medians of %lld run(s); bars at the median, whiskers from the slowest to the fastest run, the 95%% "
		   "confidence interval of the median in each bar's tooltip. Lab caveats: client and server share one machine "
		   "(loopback between namespaces, one page cache), the guest CPU is emulated (TCG), 2 cores. docs/storage.md "
		   "explains the figures.</p>\n",
		(long long)json_integer_value(json_object_get(rec, "runs")));
	const char *sides[][2] = { { "host", "Raw I/O from the host side (fio through qemu-nbd on the pool, O_DIRECT)" },
				   { "guest", "Raw I/O in the guest (fio on its virtio disk, O_DIRECT)" } };
	for (size_t sd = 0; sd < 2; sd++) {
		fprintf(f, "<h2>%s</h2>\n", sides[sd][1]);
		for (size_t k = 0; k < 4; k++) {
			char title[96], kind[64];
			snprintf(title, sizeof(title), "%s, %s", sides[sd][0], jobs[k][0]);
			snprintf(kind, sizeof(kind), "raw-%s-%s", sides[sd][0], jobs[k][0]);
			chart_of(f, json_object_get(s, "raw"), kind, title, jobs[k][1], "side", sides[sd][0], "job", jobs[k][0],
				 raw_label, !strcmp(jobs[k][1], "MB/s") ? "mbps" : "iops");
		}
		char kind[64];
		snprintf(kind, sizeof(kind), "raw-%s-p99", sides[sd][0]);
		chart_of(f, json_object_get(s, "raw"), kind, "rand-read p99 latency", "ms", "side", sides[sd][0], "job",
			 "rand-read", raw_label, "p99_ms");
		snprintf(kind, sizeof(kind), "raw-%s-cpu", sides[sd][0]);
		chart_of(f, json_object_get(s, "raw"), kind, "rand-read: server CPU per MB", "ms/MB", "side", sides[sd][0],
			 "job", "rand-read", raw_label, "server_cpu_ms_per_mb");
	}
	fprintf(f, "<h2>Apache in the guest (wrk from the lab's client)</h2>\n");
	chart_of(f, json_object_get(s, "web"), "web-rps", "requests per second", "req/s", NULL, NULL, NULL, NULL, key_label, "rps");
	chart_of(f, json_object_get(s, "web"), "web-p99", "p99 latency", "ms", NULL, NULL, NULL, NULL, key_label, "p99_ms");
	if (json_array_size(json_object_get(s, "moves"))) {
		fprintf(f, "<h2>Moves of the loaded guest</h2>\n");
		chart_of(f, json_object_get(s, "moves"), "move-icmp", "longest ICMP gap", "ms", NULL, NULL, NULL, NULL,
			 key_label, "net_gap_ms");
		chart_of(f, json_object_get(s, "moves"), "move-http", "longest HTTP gap", "ms", NULL, NULL, NULL, NULL,
			 key_label, "service_gap_ms");
		chart_of(f, json_object_get(s, "moves"), "move-total", "total time", "ms", NULL, NULL, NULL, NULL, key_label,
			 "total_ms");
	}
end:
	fprintf(f, "</section>\n</body></html>\n");
	if (fclose(f) != 0) {
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

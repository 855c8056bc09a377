/* report_fault.c: the storage fault bench's part of the storage report
 * (ferry storage bench --fault --report): on a shared time axis, a line per
 * pool of what the client got (answers per second, their p99) and of what
 * the guest's writer got (writes completed per second, the longest), the
 * outage shaded, the live move's start marked; then the figures as a table. */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };
#define N_COLORS (sizeof(colors) / sizeof(colors[0]))

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* One chart: for each pool, column col of its series (web: the client's
 * runs, a step each; else the writer's seconds, a point each). */
static void chart(FILE *f, json_t *fault, const char *kind, bool web, int col, const char *title, const char *unit)
{
	const double W = 900, H = 280, L = 60, R = 16, T = 30, B = 40;
	double xmax = 1, ymax = 0;
	json_t *p, *x;
	size_t i, k;

	json_array_foreach(json_object_get(fault, "pools"), i, p) {
		xmax = fmax(xmax, num(p, "end_s"));
		json_array_foreach(json_object_get(p, web ? "series" : "io"), k, x) {
			ymax = fmax(ymax, json_number_value(json_array_get(x, col)));
		}
	}
	if (!(ymax > 0))
		ymax = 1;
	double step = report_nice_step(ymax, 5);
	ymax = ceil(ymax / step) * step;
	double xstep = report_nice_step(xmax, 10);
#define X(v) (L + (W - L - R) * (v) / xmax)
#define Y(v) (T + (H - T - B) * (1 - (v) / ymax))
	fprintf(f, "<figure><svg class=\"lines\" data-chart=\"%s\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		   "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n<text x=\"%.0f\" y=\"18\" class=\"title\">%s (%s)</text>\n",
		kind, W, H, W, H, L, title, unit);
	/* The outage (first pool's times; every pool's run has the same plan). */
	p = json_array_get(json_object_get(fault, "pools"), 0);
	if (p && isfinite(num(p, "down_s")) && isfinite(num(p, "up_s")))
		fprintf(f, "<rect class=\"outage\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f3d9d9\"/>"
			   "<text class=\"mode\" x=\"%.1f\" y=\"%.0f\">server stopped</text>\n",
			X(num(p, "down_s")), T, X(num(p, "up_s")) - X(num(p, "down_s")), H - T - B,
			(X(num(p, "down_s")) + X(num(p, "up_s"))) / 2, T + 12);
	json_t *mv = p ? json_object_get(p, "migration") : NULL;
	if (mv && isfinite(num(mv, "started_s")))
		fprintf(f, "<line class=\"move\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#555\" "
			   "stroke-dasharray=\"4 3\"/><text class=\"mode\" x=\"%.1f\" y=\"%.0f\">live move</text>\n",
			X(num(mv, "started_s")), X(num(mv, "started_s")), T, H - B, X(num(mv, "started_s")), T + 26);
	for (double t = 0; t <= ymax + step / 1000; t += step)
		fprintf(f, "<line class=\"grid\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text class=\"tick\" x=\"%.0f\" "
			   "y=\"%.1f\">%g</text>\n", L, W - R, Y(t), Y(t), L - 4, Y(t) + 4, t);
	for (double t = 0; t <= xmax + xstep / 1000; t += xstep)
		fprintf(f, "<text class=\"mode\" x=\"%.1f\" y=\"%.0f\">%g</text>\n", X(t), H - B + 14, t);
	fprintf(f, "<text class=\"mode\" x=\"%.0f\" y=\"%.0f\">seconds from the start</text>\n", (L + W - R) / 2, H - 8);
	json_array_foreach(json_object_get(fault, "pools"), i, p) {
		json_t *s = json_object_get(p, web ? "series" : "io");
		size_t n = json_array_size(s);
		fprintf(f, "<path class=\"series\" data-pool=\"");
		report_esc(f, json_string_value(json_object_get(p, "pool")));
		fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", colors[i % N_COLORS]);
		json_array_foreach(s, k, x) {
			double t0 = json_number_value(json_array_get(x, 0)), y = json_number_value(json_array_get(x, col));
			if (web) {   /* nothing while wrk waited to connect, then its rate while it ran */
				double t1 = k + 1 < n ? json_number_value(json_array_get(json_array_get(s, k + 1), 0)) :
						       t0 + fmax(1, json_number_value(json_array_get(x, 4)));
				double run = json_number_value(json_array_get(x, 6));
				if (run - t0 > 0.5)
					fprintf(f, "%s%.1f %.1f L%.1f %.1f ", k ? "L" : "M", X(t0), Y(0), X(run), Y(0));
				else
					run = t0;
				fprintf(f, "%s%.1f %.1f L%.1f %.1f ", k || run > t0 ? "L" : "M", X(run), Y(y), X(t1), Y(y));
			} else {
				fprintf(f, "%s%.1f %.1f ", k ? "L" : "M", X(t0 + 0.5), Y(y));
			}
		}
		fprintf(f, "\"/>\n<text class=\"legend\" x=\"%.0f\" y=\"18\" fill=\"%s\">", W - R - 110.0 * (double)(i + 1) + 10,
			colors[i % N_COLORS]);
		report_esc(f, json_string_value(json_object_get(p, "pool")));
		fprintf(f, "</text>\n");
	}
#undef X
#undef Y
	fprintf(f, "</svg></figure>\n");
}

static void cell(FILE *f, double v, int prec, const char *suffix)
{
	if (isfinite(v))
		fprintf(f, "<td>%.*f%s</td>", prec, v, suffix);
	else
		fprintf(f, "<td>-</td>");
}

void report_fault_section(FILE *f, json_t *fault)
{
	json_t *p;
	size_t i;

	fprintf(f, "<h2>When a storage server stops</h2>\n<p>Apache in the guest under wrk from the lab's client (a run of "
		   "one second after another), and a writer in the guest (4 KiB, O_DIRECT, 20 a second, one at a time); "
		   "%lld s in, the pool's server is stopped for %lld s%s. docs/storage.md explains the figures.</p>\n",
		(long long)json_integer_value(json_object_get(fault, "at_s")),
		(long long)json_integer_value(json_object_get(fault, "for_s")),
		json_is_true(json_object_get(fault, "move")) ? "; a live move a &rarr; b starts 5 s into the outage" : "");
	chart(f, fault, "fault-web", true, 1, "what the client got", "answers/s");
	chart(f, fault, "fault-p99", true, 2, "the client's p99 latency in each run", "ms");
	chart(f, fault, "fault-io", false, 1, "what the guest's writer got", "writes/s");
	chart(f, fault, "fault-lat", false, 2, "the writer's longest write in each second", "ms");
	fprintf(f, "<table class=\"fault\"><tr><th>pool</th><th>stopped</th><th>base r/s</th><th>outage r/s</th>"
		   "<th>s without an answer</th><th>longest</th><th>errors</th><th>longest I/O stall</th><th>I/O back after</th>"
		   "<th>web back after</th><th>survived</th><th>live move during the outage</th></tr>\n");
	json_array_foreach(json_object_get(fault, "pools"), i, p) {
		json_t *mv = json_object_get(p, "migration");
		fprintf(f, "<tr data-pool=\"");
		report_esc(f, json_string_value(json_object_get(p, "pool")));
		fprintf(f, "\"><td>");
		report_esc(f, json_string_value(json_object_get(p, "pool")));
		fprintf(f, "</td><td>");
		report_esc(f, json_string_value(json_object_get(p, "stopped")));
		fprintf(f, "</td>");
		cell(f, num(p, "baseline_rps"), 0, "");
		cell(f, num(p, "fault_rps"), 0, "");
		cell(f, num(p, "zero_rps_s"), 1, " s");
		cell(f, num(p, "web_gap_s"), 1, " s");
		cell(f, num(p, "errors"), 0, "");
		cell(f, num(p, "io_stall_ms") / 1000, 2, " s");
		if (num(p, "writes") > 0 && !isfinite(num(p, "io_recovery_s")))
			fprintf(f, "<td><b>never</b></td>");
		else
			cell(f, num(p, "io_recovery_s"), 1, " s");
		cell(f, num(p, "web_recovery_s"), 1, " s");
		fprintf(f, "<td>%s</td><td>", json_is_true(json_object_get(p, "survived")) ? "yes" : "<b>no</b>");
		if (!mv)
			fprintf(f, "-");
		else if (isfinite(num(mv, "total_ms")))
			fprintf(f, "completed in %.1f s", num(mv, "total_ms") / 1000);
		else
			report_esc(f, json_string_value(json_object_get(mv, "error")) ?: json_string_value(json_object_get(mv, "outcome")));
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n");
}

/* timeline.c: one move on a millisecond axis (report.h): a row per probe
 * method with a tick per reply, a row of QEMU's marks (the move's phases,
 * each pass over RAM, STOP and RESUME), a row of the frames the client saw
 * announce the guest (QEMU's RARPs, the guest's gratuitous ARP, its ARP
 * replies), the pause shaded and each method's longest gap outlined. From
 * a result record made with --probe and its timeline (migrate --timeline,
 * bench --report). Every time is put on the probe's axis: the record's
 * realtime stamps (QEMU's and the agents') minus the probe's t0. */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char report_timeline_css[] =
	".mark{stroke-width:1.5}.phase{stroke:#7f7f7f}.status{stroke:#1f77b4}.pass{stroke:#9467bd}.stop{stroke:#d62728}.resume{stroke:#2ca02c}"
	".marklabel{font-size:10px;fill:#444}.rarp{fill:#ff7f0e}.garp{fill:#17becf}.arp{fill:#8c564b}.fdb{fill:#e377c2}\n";

static const char *const rows[] = { "icmp", "udp", "tcp", "http", "guest" };
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* A panel's geometry (px): width, left and right margins, top, row height. */
static const double W = 900, L = 70, R = 20, T = 34, ROW = 34;

/* The rows of a record's timeline: qemu, frames when noted, a probe
 * method each; and the height of a panel of them. */
static int row_count(json_t *tl)
{
	int n = 1 + json_is_array(json_object_get(tl, "frames"));

	for (size_t k = 0; k < N_ROWS; k++)
		n += json_is_array(json_object_get(tl, rows[k]));
	return n;
}

static double panel_height(json_t *tl)
{
	return T + ROW * row_count(tl) + 40;
}

/* A realtime stamp (us) on the axis (ms after t0); -1 when absent. */
static double at_ms(json_t *v, double t0)
{
	return json_integer_value(v) > 0 ? ((double)json_integer_value(v) - t0) / 1000 : -1;
}

/* The end of the probe's axis: its last reply or frame. */
static double axis_end(json_t *tl)
{
	double b = 0;

	for (size_t k = 0; k < N_ROWS; k++) {
		json_t *arr = json_object_get(tl, rows[k]);
		size_t n = json_array_size(arr);
		if (n)
			b = fmax(b, json_integer_value(json_array_get(arr, n - 1)) / 10.0);
	}
	json_t *fr = json_object_get(tl, "frames");
	size_t n = json_array_size(fr);
	if (n)
		b = fmax(b, json_integer_value(json_array_get(json_array_get(fr, n - 1), 0)) / 10.0);
	return b;
}

/* A vertical mark from y0 to y1 with a tooltip; with text, its label at
 * height ty, right of the line (left of it for the source's STOP, so that
 * STOP and RESUME, a few ms apart, do not write over each other). */
static void mark(FILE *f, const char *cls, double x, double y0, double y1, const char *label, double ms, bool text,
		 double ty)
{
	bool left = !strcmp(cls, "stop");

	fprintf(f, "<line class=\"mark %s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\"><title>", cls, x, x, y0, y1);
	report_esc(f, label);
	fprintf(f, " at %.1f ms</title></line>\n", ms);
	if (text) {
		fprintf(f, "<text class=\"marklabel\" x=\"%.1f\" y=\"%.0f\"%s>", left ? x - 2 : x + 2, ty,
			left ? " text-anchor=\"end\"" : "");
		report_esc(f, label);
		fprintf(f, "</text>\n");
	}
}

void report_timeline_svg(FILE *f, json_t *r, const char *label, const char *color, double before_ms,
			 double after_ms, double y_off)
{
	json_t *probe = json_object_get(r, "probe"), *tl = json_object_get(probe, "timeline");
	bool has_frames = json_is_array(json_object_get(tl, "frames"));
	int n_rows = row_count(tl);
	double H = panel_height(tl);
	double t0 = (double)json_integer_value(json_object_get(tl, "t0_us"));
	double stop = at_ms(json_object_get(r, "stop_us"), t0), resume = at_ms(json_object_get(r, "resume_us"), t0);
	/* The window: before_ms before the source's STOP to after_ms after it
	 * (negative: the whole probe; so too without a pause, as for --command). */
	double a = 0, b = axis_end(tl);
	if (stop >= 0 && before_ms >= 0) {
		a = fmax(0, stop - before_ms);
		b = fmin(b, stop + after_ms);
	}
	if (b <= a)
		b = a + 1;
	#define X(ms) (L + (W - L - R) * (((ms) - a) / (b - a)))
	#define IN(ms) ((ms) >= a && (ms) <= b)
	fprintf(f, "<svg class=\"timeline\" data-mode=\"");
	report_esc(f, label);
	fprintf(f, "\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
		y_off, W, H, W, H);
	fprintf(f, "<text x=\"%.0f\" y=\"18\" class=\"title\">", L);
	report_esc(f, label);
	fprintf(f, ": %s -> %s", json_string_value(json_object_get(r, "src")) ?: "?", json_string_value(json_object_get(r, "dst")) ?: "?");
	if (json_is_number(json_object_get(r, "pause_ms")))
		fprintf(f, ", pause %.1f ms", json_number_value(json_object_get(r, "pause_ms")));
	if (json_is_number(json_object_get(r, "net_gap_ms")))
		fprintf(f, ", ICMP gap %.1f ms", json_number_value(json_object_get(r, "net_gap_ms")));
	if (json_is_number(json_object_get(r, "net_gap_switchover_ms")))
		fprintf(f, " (%.1f ms around the switchover)", json_number_value(json_object_get(r, "net_gap_switchover_ms")));
	fprintf(f, "</text>\n");
	double bottom = T + ROW * n_rows;
	if (stop >= 0 && resume >= stop)
		fprintf(f, "<rect class=\"pause\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f2b134\" fill-opacity=\"0.45\"><title>pause window %.1f ms</title></rect>\n",
			X(fmax(stop, a)), T - 6, fmax(X(fmin(resume, b)) - X(fmax(stop, a)), 1), bottom - T + 6, resume - stop);
	int row = 0;
	/* QEMU's marks: the move's phases (the source agent's clock), each
	 * pass over RAM and STOP/RESUME (QEMU's event times). */
	double y = T + 4;
	fprintf(f, "<text class=\"row\" x=\"%.0f\" y=\"%.0f\">qemu</text>\n", L - 8, y + 16);
	double started = at_ms(json_object_get(r, "started_us"), t0);
	json_t *ph, *pass;
	size_t i;
	double last_label_x = -1e9;
	json_array_foreach(json_object_get(r, "phases"), i, ph) {
		const char *name = json_string_value(json_object_get(ph, "phase"));
		double ms = started + (double)json_integer_value(json_object_get(ph, "ms"));
		if (started < 0 || !name || !IN(ms))
			continue;
		bool text = X(ms) - last_label_x > 60;
		if (text)
			last_label_x = X(ms);
		mark(f, "phase", X(ms), y, y + ROW - 12, name, ms, text, y + 8);
	}
	/* QEMU's own MIGRATION statuses (setup, active, device, completed):
	 * labelled on the lower line, the agent's phases on the upper. */
	json_t *ev;
	double last_ev_x = -1e9;
	json_array_foreach(json_object_get(r, "qemu_events"), i, ev) {
		const char *st = json_string_value(json_object_get(ev, "status"));
		double ms = at_ms(json_object_get(ev, "us"), t0);
		if (!st || ms < 0 || !IN(ms))
			continue;
		bool text = X(ms) - last_ev_x > 50;
		if (text)
			last_ev_x = X(ms);
		mark(f, "status", X(ms), y + 10, y + ROW - 12, st, ms, text, y + ROW - 8);
	}
	json_array_foreach(json_object_get(r, "passes_us"), i, pass) {
		double ms = at_ms(pass, t0);
		char what[32];
		if (ms < 0 || !IN(ms))
			continue;
		snprintf(what, sizeof(what), "pass %zu", i + 1);
		mark(f, "pass", X(ms), y + 12, y + ROW - 12, what, ms, false, 0);
	}
	if (stop >= 0 && IN(stop))
		mark(f, "stop", X(stop), T - 6, bottom, "STOP (source)", stop, true, y + ROW - 14);
	if (resume >= 0 && IN(resume))
		mark(f, "resume", X(resume), T - 6, bottom, "RESUME (destination)", resume, true, y + ROW - 2);
	row++;
	if (has_frames) {
		static const char *const kinds[] = { "", "rarp", "garp", "arp", "fdb" };
		static const char *const titles[] = { "", "RARP (QEMU's announcement)", "gratuitous ARP (the guest's)",
						      "ARP reply (the guest's)", "the switch learnt the guest's port" };
		json_t *fr;
		y = T + ROW * row + 4;
		fprintf(f, "<text class=\"row\" x=\"%.0f\" y=\"%.0f\">frames</text>\n", L - 8, y + 16);
		json_array_foreach(json_object_get(tl, "frames"), i, fr) {
			double ms = json_integer_value(json_array_get(fr, 0)) / 10.0;
			json_int_t k = json_integer_value(json_array_get(fr, 1));
			if (k < 1 || k > 4 || !IN(ms))
				continue;
			if (k == 4)   /* a diamond below the triangles */
				fprintf(f, "<path class=\"frame %s\" d=\"M%.1f %.0fl5 5l-5 5l-5 -5z\"><title>%s at %.1f ms</title></path>\n",
					kinds[k], X(ms), y + 12, titles[k], ms);
			else
				fprintf(f, "<path class=\"frame %s\" d=\"M%.1f %.0fl-4 10h8z\"><title>%s at %.1f ms</title></path>\n",
					kinds[k], X(ms), y + 4, titles[k], ms);
		}
		row++;
	}
	for (size_t k = 0; k < N_ROWS; k++) {
		json_t *arr = json_object_get(tl, rows[k]), *x;
		if (!json_is_array(arr))
			continue;
		y = T + ROW * row + 4;
		fprintf(f, "<text class=\"row\" x=\"%.0f\" y=\"%.0f\">%s</text>\n", L - 8, y + 16, rows[k]);
		/* The longest gap of this method, from the record. */
		json_t *g = json_object_get(probe, rows[k]);
		bool guest = !strcmp(rows[k], "guest");
		double gf = at_ms(json_object_get(g, guest ? "gap_from_us" : "longest_gap_from_us"), t0);
		double gt = at_ms(json_object_get(g, guest ? "gap_to_us" : "longest_gap_to_us"), t0);
		if (gf >= 0 && gt > gf && gt >= a && gf <= b)
			fprintf(f, "<rect class=\"gap\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"none\" stroke=\"#d62728\" stroke-dasharray=\"3 2\"><title>longest %s gap %.1f ms</title></rect>\n",
				X(fmax(gf, a)), y, fmax(X(fmin(gt, b)) - X(fmax(gf, a)), 1), ROW - 10, rows[k], gt - gf);
		fprintf(f, "<path class=\"replies\" data-method=\"%s\" stroke=\"%s\" stroke-width=\"1\" d=\"", rows[k], color);
		json_array_foreach(arr, i, x) {
			double ms = json_integer_value(x) / 10.0;
			if (IN(ms))
				fprintf(f, "M%.1f %.0fv%.0f", X(ms), y + 3, ROW - 16);
		}
		fprintf(f, "\"/>\n");
		row++;
	}
	double step = report_nice_step(b - a, 8), base = stop >= 0 ? stop : a;
	double first = base - floor((base - a) / step) * step;
	for (double t = first; t <= b; t += step)
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%+.0f</text>\n",
			X(t), X(t), T - 6, bottom, X(t), bottom + 16, t - base);
	fprintf(f, "<text class=\"axis\" x=\"%.0f\" y=\"%.0f\">ms %s</text>\n", W - R - 200, H - 6,
		stop >= 0 ? "from the source's STOP" : "from the first probe");
	#undef X
	#undef IN
	fprintf(f, "</svg>\n");
}

int report_timeline_write(const char *path, json_t *rec, struct ferr *err)
{
	json_t *tl = json_object_get(json_object_get(rec, "probe"), "timeline");
	FILE *f;

	if (!json_is_object(tl)) {
		ferr_set(err, "the record has no probe timeline");
		return -EINVAL;
	}
	if (!(f = fopen(path, "w"))) {
		ferr_set(err, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	/* Two panels, one above the other, of the same height. */
	double h = panel_height(tl);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%.0f\" viewBox=\"0 0 900 %.0f\">\n"
		   "<style>text{font:12px sans-serif;fill:#333}.title{font-weight:bold}.row{text-anchor:end}"
		   ".grid{stroke:#ddd}.tick{font-size:11px;fill:#555}.axis{font-size:11px;fill:#555}\n%s</style>\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", 2 * h, 2 * h, report_timeline_css);
	report_timeline_svg(f, rec, "the whole move", "#1f77b4", -1, -1, 0);
	report_timeline_svg(f, rec, "the switchover", "#1f77b4", 50, 250, h);
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0) {
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* fault.c: the storage fault bench's series and figures (fault.h). */
#include "bench/fault.h"
#include "bench/benchout.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Unix ms between 2001 and 2286: a clock that says otherwise is not one. */
#define T_MIN 1e12
#define T_MAX 1e13

/* A whole decimal number of at most 15 digits at s, ending at a space, a
 * newline or the end; *end after it. */
static bool whole(const char *s, const char *lim, double *v, const char **end)
{
	double x = 0;
	int d = 0;

	while (s < lim && *s >= '0' && *s <= '9' && d < 16) {
		x = x * 10 + (*s++ - '0');
		d++;
	}
	if (d == 0 || d > 15 || (s < lim && *s != ' ' && *s != '\n' && *s != '\r'))
		return false;
	*v = x;
	*end = s;
	return true;
}

static const char *line_end(const char *s, const char *lim)
{
	const char *nl = memchr(s, '\n', (size_t)(lim - s));
	return nl ? nl : lim;
}

static int add_window(struct fault_window *w, size_t *n, double t, const char *body, size_t blen)
{
	struct wrk_result r;

	if (*n >= FAULT_MAX_WINDOWS || (*n && t < w[*n - 1].t_ms))
		return -1;
	memset(&w[*n], 0, sizeof(w[*n]));
	w[*n].t_ms = t;
	if (blen <= BENCHOUT_MAX && wrk_parse(body, blen, &r) == 0) {
		w[*n].parsed = true;
		w[*n].requests = r.requests;
		w[*n].rps = r.rps;
		w[*n].p99_ms = r.lat_p99_ms;
		w[*n].errors = r.errors;
		w[*n].dur_s = r.duration_s;
	}
	(*n)++;
	return 0;
}

int fault_windows_parse(const char *text, size_t len, struct fault_window **out, size_t *nout)
{
	const char *s = text, *lim = text + len, *body = NULL;
	struct fault_window *w;
	size_t n = 0;
	double t = 0;

	*out = NULL;
	*nout = 0;
	if (len > FAULT_TEXT_MAX || !(w = calloc(FAULT_MAX_WINDOWS, sizeof(*w))))
		return -1;
	while (s < lim) {
		const char *e = line_end(s, lim), *after;
		double v;
		if (e - s >= 2 && s[0] == '@' && s[1] == ' ') {
			if (!whole(s + 2, e, &v, &after) || v < T_MIN || v > T_MAX)
				goto bad;
			if (body && add_window(w, &n, t, body, (size_t)(s - body)) < 0)
				goto bad;
			t = v;
			body = e < lim ? e + 1 : lim;
		} else if (!body && e > s) {
			goto bad;   /* text before the first window */
		}
		s = e < lim ? e + 1 : lim;
	}
	if (body && add_window(w, &n, t, body, (size_t)(lim - body)) < 0)
		goto bad;
	*out = w;
	*nout = n;
	return 0;
bad:
	free(w);
	return -1;
}

int fault_ios_parse(const char *text, size_t len, double offset_ms, struct fault_io **out, size_t *nout)
{
	const char *s = text, *lim = text + len;
	struct fault_io *io;
	size_t n = 0, cap = 1024;

	*out = NULL;
	*nout = 0;
	if (len > FAULT_TEXT_MAX || fabs(offset_ms) > 1e11 || !(io = malloc(cap * sizeof(*io))))
		return -1;
	while (s < lim) {
		const char *e = line_end(s, lim), *p;
		double t, lat;
		if (e == s || (e - s == 1 && *s == '\r')) {
			s = e < lim ? e + 1 : lim;
			continue;
		}
		if (!whole(s, e, &t, &p) || p >= e || *p != ' ' || !whole(p + 1, e, &lat, &p) ||
		    (p < e && !(p + 1 == e && *p == '\r')) || t < T_MIN || t > T_MAX || lat > 1e10)
			goto bad;
		if (n == FAULT_MAX_IOS)
			goto bad;
		if (n == cap) {
			struct fault_io *m = realloc(io, 2 * cap * sizeof(*io));
			if (!m)
				goto bad;
			io = m;
			cap *= 2;
		}
		io[n].t_ms = t + offset_ms;
		io[n].lat_ms = lat / 1000;
		n++;
		s = e < lim ? e + 1 : lim;
	}
	*out = io;
	*nout = n;
	return 0;
bad:
	free(io);
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* How long window k covers: to the next one's start, the last one a second. */
static double span_ms(const struct fault_window *w, size_t nw, size_t k)
{
	double s = k + 1 < nw ? w[k + 1].t_ms - w[k].t_ms : fmax(1000, w[k].dur_s * 1000);
	return fmax(s, 1);
}

/* When window k's wrk ran: the last of its span, as long as wrk says it
 * ran (before that, its start: a blocking connect, long while the guest's
 * accept queue is full); a second when it printed nothing. */
static void run_of(const struct fault_window *w, size_t nw, size_t k, double *from, double *to)
{
	double d = w[k].dur_s > 0 ? w[k].dur_s * 1000 : 1000;

	*to = w[k].t_ms + span_ms(w, nw, k);
	*from = fmax(w[k].t_ms, *to - d);
	if (*to - *from < 1)
		*from = *to - 1;
}

double fault_window_rate(const struct fault_window *w, size_t nw, size_t k)
{
	double from, to;

	run_of(w, nw, k, &from, &to);
	return w[k].requests * 1000 / (to - from);
}

double fault_window_run_from(const struct fault_window *w, size_t nw, size_t k)
{
	double from, to;

	run_of(w, nw, k, &from, &to);
	return from;
}

#define SILENCE_MS 500   /* shorter gaps between answers are the loop's own */

static void web_figures(const struct fault_window *w, size_t nw, const struct fault_times *t, struct fault_result *r)
{
	double *v = malloc((nw ? nw : 1) * sizeof(*v)), answered = 0, last = t->start, from, to;
	size_t nb = 0;

	if (!v)
		return;
	r->zero_rps_s = r->errors = r->web_gap_s = 0;
	for (size_t k = 0; k < nw; k++) {
		run_of(w, nw, k, &from, &to);
		double mid = (from + to) / 2;
		if (from >= t->start && to <= t->down)
			v[nb++] = fault_window_rate(w, nw, k);
		if (mid >= t->down && mid < t->up)
			answered += w[k].requests;
		if (mid >= t->down && mid <= t->end)
			r->errors += w[k].errors;
		if (w[k].requests > 0 && from >= t->start) {   /* a stretch without an answer ends */
			double gap = fmin(from, t->end) - last;
			if (gap > SILENCE_MS) {
				r->web_gap_s = fmax(r->web_gap_s, gap / 1000);
				r->zero_rps_s += fmax(0, fmin(from, t->end) - fmax(last, t->down)) / 1000;
			}
			last = fmax(last, to);
		}
	}
	/* Silence at the end counts while the client still tried. */
	double web_end = t->end;
	if (nw) {
		run_of(w, nw, nw - 1, &from, &to);
		web_end = fmin(web_end, to);
	}
	if (web_end - last > SILENCE_MS) {
		r->web_gap_s = fmax(r->web_gap_s, (web_end - last) / 1000);
		r->zero_rps_s += fmax(0, web_end - fmax(last, t->down)) / 1000;
	}
	r->baseline_rps = median(v, nb);
	free(v);
	r->fault_rps = t->up > t->down ? answered * 1000 / (t->up - t->down) : NAN;
	/* Recovered: the first run mostly after the return answering at half
	 * the baseline or better; from the return to its start. */
	r->web_recovery_s = NAN;
	if (!(r->baseline_rps > 0))
		return;
	for (size_t k = 0; k < nw; k++) {
		run_of(w, nw, k, &from, &to);
		if ((from + to) / 2 < t->up || (from + to) / 2 > t->end)
			continue;
		if (fault_window_rate(w, nw, k) >= r->baseline_rps / 2) {
			r->web_recovery_s = fmax(0, from - t->up) / 1000;
			break;
		}
	}
}

#define STALL_MS 500   /* a shorter wait for a write is no stall (the writer's pace: 50 ms) */

static void io_figures(const struct fault_io *io, size_t nio, const struct fault_times *t, struct fault_result *r)
{
	double prev = t->start, stall = 0, stall_from = NAN, after_up = NAN;
	bool spans_up = false;

	r->writes = 0;
	r->io_first_s = NAN;
	for (size_t k = 0; k < nio; k++) {
		double done = io[k].t_ms;
		if (done < t->start || done > t->end)
			continue;
		r->writes++;
		if (isnan(r->io_first_s))
			r->io_first_s = (done - t->start) / 1000;
		/* The longer of the gap since the last completion and this
		 * write's own latency (the writer issues one at a time). */
		double gap = done - prev, lat = io[k].lat_ms, len = fmax(gap, lat), from = done - len;
		if (len > stall) {
			stall = len;
			stall_from = from;
		}
		if (isnan(after_up) && done >= t->up) {
			after_up = done;
			spans_up = from <= t->up && len > STALL_MS;
		}
		prev = done;
	}
	if (t->end - prev > stall) {   /* no completion since prev: a stall to the end */
		stall = t->end - prev;
		stall_from = prev;
	}
	r->io_stall_ms = r->writes ? stall : NAN;
	r->io_stall_at_s = r->writes ? (stall_from - t->down) / 1000 : NAN;
	r->io_recovery_s = isnan(after_up) ? NAN : spans_up ? (after_up - t->up) / 1000 : 0;
}

void fault_analyze(const struct fault_window *w, size_t nw, const struct fault_io *io, size_t nio,
		   const struct fault_times *t, struct fault_result *r)
{
	memset(r, 0, sizeof(*r));
	web_figures(w, nw, t, r);
	io_figures(io, nio, t, r);
}

void fault_io_bins(const struct fault_io *io, size_t nio, double start_ms, size_t nbins, int *counts, double *maxlat_ms)
{
	memset(counts, 0, nbins * sizeof(*counts));
	for (size_t k = 0; k < nbins; k++)
		maxlat_ms[k] = 0;
	for (size_t k = 0; k < nio; k++) {
		double d = (io[k].t_ms - start_ms) / 1000;
		if (!(d >= 0) || d >= (double)nbins)
			continue;
		counts[(size_t)d]++;
		maxlat_ms[(size_t)d] = fmax(maxlat_ms[(size_t)d], io[k].lat_ms);
	}
}

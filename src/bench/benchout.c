/* benchout.c: fio terse v3 and wrk reports, read into numbers (benchout.h). */
#include "bench/benchout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fio terse v3: 5 header fields, then a read group and a write group of 41
 * fields each (io KiB, bw KiB/s, IOPS, runtime ms, slat x4, clat x4, 20 clat
 * percentiles "P%=usec", lat x4, bw x5), then usr%, sys%, ... */
#define FIO_HEAD 5
#define FIO_GROUP 41
#define FIO_FIELDS_MIN (FIO_HEAD + 2 * FIO_GROUP + 2)
#define FIO_FIELDS_MAX 256

/* A non-negative finite number that is the whole of s (an optional trailing
 * '%' allowed when pct). */
static bool number(const char *s, bool pct, double *out)
{
	char *end;
	double v;

	if (!*s || strlen(s) > 40)
		return false;
	v = strtod(s, &end);
	if (pct && *end == '%')
		end++;
	if (end == s || *end || !isfinite(v) || v < 0 || v > 1e18)
		return false;
	*out = v;
	return true;
}

/* "50.000000%=84" with the wanted percentile: its value. */
static bool percentile(char *const *f, int first, double want, double *out)
{
	for (int i = first; i < first + 20; i++) {
		const char *eq = strchr(f[i], '=');
		char p[48];
		double at;
		if (!eq || eq - f[i] >= (long)sizeof(p))
			continue;
		snprintf(p, sizeof(p), "%.*s", (int)(eq - f[i]), f[i]);
		if (number(p, true, &at) && fabs(at - want) < 1e-6)
			return number(eq + 1, false, out);
	}
	return false;
}

static int group(char *const *f, int g, struct fio_result *r)
{
	int b = FIO_HEAD + g * FIO_GROUP;

	r->write = g == 1;
	if (!number(f[b], false, &r->kib) || !number(f[b + 1], false, &r->bw_kibs) || !number(f[b + 2], false, &r->iops) ||
	    !number(f[b + 3], false, &r->runtime_ms))
		return -1;
	if (!percentile(f, b + 12, 50, &r->clat_p50_us) || !percentile(f, b + 12, 99, &r->clat_p99_us))
		return -1;
	return 0;
}

int fio_terse_parse(const char *line, struct fio_result *r)
{
	char *copy, *f[FIO_FIELDS_MAX];
	size_t len = strnlen(line, BENCHOUT_MAX + 1);
	int n = 0, rc = -1;

	if (len > BENCHOUT_MAX)
		return -1;
	copy = strndup(line, len);
	if (!copy)
		return -1;
	copy[strcspn(copy, "\r\n")] = 0;
	/* strsep, not strtok: empty fields count. */
	for (char *p = copy; p && n < FIO_FIELDS_MAX;)
		f[n++] = strsep(&p, ";");
	memset(r, 0, sizeof(*r));
	if (n < FIO_FIELDS_MIN || strcmp(f[0], "3") || strncmp(f[1], "fio-", 4))
		goto out;
	struct fio_result rd, wr;
	if (group(f, 0, &rd) < 0 || group(f, 1, &wr) < 0)
		goto out;
	*r = wr.kib > rd.kib ? wr : rd;
	int c = FIO_HEAD + 2 * FIO_GROUP;
	if (!number(f[c], true, &r->usr_pct) || !number(f[c + 1], true, &r->sys_pct))
		goto out;
	rc = 0;
out:
	free(copy);
	return rc;
}

/* "5.29ms", "812.00us", "1.02s", "2.00m": milliseconds. */
static bool duration_ms(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || !isfinite(v) || v < 0 || v > 1e9)
		return false;
	if (!strncmp(end, "us", 2))
		v /= 1000;
	else if (!strncmp(end, "ms", 2))
		;
	else if (*end == 's')
		v *= 1000;
	else if (*end == 'm')
		v *= 60000;
	else if (*end == 'h')
		v *= 3600000;
	else
		return false;
	*out = v;
	return true;
}

/* "209.83KB": bytes. */
static bool size_bytes(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || !isfinite(v) || v < 0 || v > 1e18)
		return false;
	switch (*end) {
	case 'K': v *= 1024; break;
	case 'M': v *= 1048576; break;
	case 'G': v *= 1073741824.0; break;
	case 'T': v *= 1099511627776.0; break;
	case 'B': break;
	default: return false;
	}
	*out = v;
	return true;
}

/* The words of line (at most n), in out; their number. */
static int words(char *line, char **out, int n)
{
	int k = 0;
	char *save = NULL;

	for (char *w = strtok_r(line, " \t", &save); w && k < n; w = strtok_r(NULL, " \t", &save))
		out[k++] = w;
	return k;
}

int wrk_parse(const char *text, size_t len, struct wrk_result *r)
{
	char *copy, *line, *save = NULL;
	bool have_rps = false, have_p50 = false, have_p99 = false;

	memset(r, 0, sizeof(*r));
	if (len > BENCHOUT_MAX)
		return -1;
	copy = strndup(text, len);
	if (!copy)
		return -1;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *w[12];
		int n = words(line, w, 12);
		double v;
		if (n >= 4 && !strcmp(w[0], "Latency") && strcmp(w[1], "Distribution")) {
			if (!duration_ms(w[1], &r->lat_avg_ms) || !duration_ms(w[3], &r->lat_max_ms))
				goto bad;
		} else if (n == 2 && !strcmp(w[0], "50%")) {
			have_p50 = duration_ms(w[1], &r->lat_p50_ms);
		} else if (n == 2 && !strcmp(w[0], "99%")) {
			have_p99 = duration_ms(w[1], &r->lat_p99_ms);
		} else if (n >= 6 && !strcmp(w[1], "requests") && !strcmp(w[2], "in")) {
			char d[32];
			snprintf(d, sizeof(d), "%s", w[3]);
			d[strcspn(d, ",")] = 0;
			if (!number(w[0], false, &r->requests) || !duration_ms(d, &v) || !size_bytes(w[4], &r->bytes))
				goto bad;
			r->duration_s = v / 1000;
		} else if (n == 2 && !strcmp(w[0], "Requests/sec:")) {
			have_rps = number(w[1], false, &r->rps);
		} else if (n >= 10 && !strcmp(w[0], "Socket") && !strcmp(w[1], "errors:")) {
			for (int k = 3; k < 10; k += 2) {   /* connect N, read N, write N, timeout N */
				char x[24];
				snprintf(x, sizeof(x), "%s", w[k]);
				x[strcspn(x, ",")] = 0;
				if (!number(x, false, &v))
					goto bad;
				r->errors += v;
			}
		} else if (n == 5 && !strcmp(w[0], "Non-2xx")) {
			if (!number(w[4], false, &v))
				goto bad;
			r->errors += v;
		}
	}
	free(copy);
	return have_rps && have_p50 && have_p99 ? 0 : -1;
bad:
	free(copy);
	memset(r, 0, sizeof(*r));
	return -1;
}

/* fault.h: ferry storage bench --fault, the pure part (docs/storage.md):
 * what the load tools printed during a storage host's outage, read into
 * time series, and the figures drawn from them. The text comes from wrk in
 * the lab's client namespace and from fio inside the guest (its serial
 * console): hostile input, bounded in size and count, every number checked. */
#ifndef FERRY_FAULT_H
#define FERRY_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#define FAULT_TEXT_MAX (4 << 20)   /* longest text either parser looks at */
#define FAULT_MAX_WINDOWS 4096     /* wrk runs of a second: over an hour */
#define FAULT_MAX_IOS 200000       /* guest writes (20/s: ~2.7 hours) */

/* One run of wrk (-d1s) of the client's loop. Times are the host's Unix
 * time in ms. */
struct fault_window {
	double t_ms;          /* when it started */
	double requests, rps, p99_ms, errors;
	double dur_s;         /* how long wrk says it ran */
	bool parsed;          /* false: wrk printed no report (counted as 0 requests) */
};

/* One write the guest's writer completed: when (host clock), how long it took. */
struct fault_io {
	double t_ms, lat_ms;
};

/* Parses the client's loop: blocks, each "@ UNIX_MS" on a line of its own
 * then what one wrk --latency printed. 0 with a malloc'd array (caller
 * frees), or -1 (too long, too many, a time that is not one, out of order). */
int fault_windows_parse(const char *text, size_t len, struct fault_window **w, size_t *n);

/* Parses the guest writer's log as the guest's awk prints it: lines
 * "UNIX_MS LATENCY_US" in the guest's clock, moved onto the host's by adding
 * offset_ms. Same contract as above. */
int fault_ios_parse(const char *text, size_t len, double offset_ms, struct fault_io **io, size_t *n);

/* Window k of nw: its rate (answers per second while its wrk ran) and when
 * that run began. A window spans from its start to the next one's; wrk ran
 * the last dur_s of it (before that: its start, a blocking connect, long
 * while the guest's accept queue is full). */
double fault_window_rate(const struct fault_window *w, size_t nw, size_t k);
double fault_window_run_from(const struct fault_window *w, size_t nw, size_t k);

/* When each part of the run happened (host Unix ms). */
struct fault_times {
	double start, down, up, end;
};

/* The figures of one pool's run. NAN where there is nothing to say. */
struct fault_result {
	double baseline_rps;     /* median rate of the runs before the fault */
	double fault_rps;        /* answers during the outage per second of it */
	double zero_rps_s;       /* seconds without an answer (stretches over 0.5 s), from the fault to the end */
	double web_gap_s;        /* the longest such stretch in the whole run */
	double errors;           /* wrk's errors and timeouts from the fault to the end */
	double io_stall_ms;      /* longest time the guest's writer went without a completion (from the start) */
	double io_stall_at_s;    /* when that stall began, from the fault */
	double io_recovery_s;    /* from the server's return to the first write after a stall spanning it (0: none spanned it) */
	double web_recovery_s;   /* from the server's return to the first window at half the baseline rate or better */
	size_t writes;           /* the writer's completions in [start, end] */
	double io_first_s;       /* the first of them, from the start */
};

void fault_analyze(const struct fault_window *w, size_t nw, const struct fault_io *io, size_t nio,
		   const struct fault_times *t, struct fault_result *r);

/* The writer's completions per second from start (bins of 1 s), with the
 * longest latency in each: counts[k], maxlat_ms[k] for k < nbins. */
void fault_io_bins(const struct fault_io *io, size_t nio, double start_ms, size_t nbins, int *counts, double *maxlat_ms);

#endif

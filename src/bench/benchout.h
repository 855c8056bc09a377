/* benchout.h: what the storage bench's load tools print, read into numbers:
 * fio's terse lines (version 3) and wrk's report. Both come from processes
 * the bench runs, fio even inside the guest (its serial console): they are
 * parsed as hostile input, bounded in size, every number checked. */
#ifndef FERRY_BENCHOUT_H
#define FERRY_BENCHOUT_H

#include <stdbool.h>
#include <stddef.h>

#define BENCHOUT_MAX 65536   /* longest text either parser looks at */

/* One fio job (group_reporting: all its threads), the direction that moved
 * data (a job here either reads or writes). */
struct fio_result {
	bool write;
	double kib;          /* KiB moved */
	double bw_kibs;      /* KiB/s */
	double iops;
	double runtime_ms;
	double clat_p50_us, clat_p99_us;   /* completion latency percentiles */
	double usr_pct, sys_pct;           /* fio's own CPU */
};

/* Parses one terse v3 line ("3;fio-3.33;name;..."). 0, or -1 when the line is
 * not one (too short, another version, a number that is not one). */
int fio_terse_parse(const char *line, struct fio_result *r);

struct wrk_result {
	double requests;
	double duration_s;
	double rps;
	double lat_avg_ms, lat_max_ms;
	double lat_p50_ms, lat_p99_ms;
	double errors;       /* socket errors of every kind + non-2xx/3xx answers */
	double bytes;
};

/* Parses wrk's report (wrk --latency). 0, or -1 when it has no
 * "Requests/sec:" or no latency distribution. */
int wrk_parse(const char *text, size_t len, struct wrk_result *r);

#endif

/* report.h: ferry bench's self-contained HTML report with SVG plots. */
#ifndef FERRY_REPORT_H
#define FERRY_REPORT_H

#include <jansson.h>
#include "util/util.h"

/* The downtime definitions: record key and what it measures, in order. */
struct report_def {
	const char *key, *what;
};
extern const struct report_def report_defs[];
extern const size_t report_n_defs;

/* Writes the report of a bench (the object ferry bench --json writes:
 * runs with their records, stats per mode and definition) to path. */
int report_write(const char *path, json_t *bench, struct ferr *err);
/* ferry storage bench --report: the pools side by side (report_storage.c),
 * from the bench's record with its "summary". */
int report_storage_write(const char *path, json_t *rec, struct ferr *err);
/* ferry storage bench --fault: its section of that report (report_fault.c),
 * from the record's "fault". */
#include <stdio.h>
void report_fault_section(FILE *f, json_t *fault);
/* One move's timeline (timeline.c) as an <svg> element at y_off: from
 * before_ms before the source's STOP to after_ms after it (before_ms < 0:
 * the whole probe). The record needs its probe timeline (--probe-timeline). */
void report_timeline_svg(FILE *f, json_t *rec, const char *label, const char *color, double before_ms,
			 double after_ms, double y_off);
/* ferry migrate --timeline FILE.svg: a standalone SVG, the whole move and
 * its switchover one above the other. */
int report_timeline_write(const char *path, json_t *rec, struct ferr *err);
extern const char report_timeline_css[];   /* the marks' styles, for a page that holds timelines */
/* The values of definition def (a record key) over mode's completed runs,
 * in run order; caller frees. */
double *report_run_values(json_t *runs, const char *mode, const char *def, size_t *n);
/* Shared by both reports: s HTML-escaped into f; a "nice" axis step (1, 2,
 * 5 times a power of ten) for about n ticks over span. */
#include <stdio.h>
void report_esc(FILE *f, const char *s);
double report_nice_step(double span, int n);

#endif

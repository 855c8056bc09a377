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
/* The values of definition def (a record key) over mode's completed runs,
 * in run order; caller frees. */
double *report_run_values(json_t *runs, const char *mode, const char *def, size_t *n);
/* Shared by both reports: s HTML-escaped into f; a "nice" axis step (1, 2,
 * 5 times a power of ten) for about n ticks over span. */
#include <stdio.h>
void report_esc(FILE *f, const char *s);
double report_nice_step(double span, int n);

#endif

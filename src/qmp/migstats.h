/* migstats.h: QEMU's query-migrate reply, parsed once into a typed struct
 * (units in the field names), for the progress line, the convergence
 * policy and the result record. QEMU's own names are in the comments. */
#ifndef FERRY_MIGSTATS_H
#define FERRY_MIGSTATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct mig_stats {
	char status[32];               /* "status"; "setup" when absent */
	char error_desc[256];          /* "error-desc" */
	int64_t total_ms;              /* "total-time" */
	int64_t downtime_ms;           /* "downtime" (QEMU's own figure) */
	int64_t setup_ms;              /* "setup-time" */
	int64_t ram_transferred_bytes; /* ram."transferred" */
	int64_t ram_remaining_bytes;   /* ram."remaining" */
	int64_t ram_total_bytes;       /* ram."total" */
	double ram_mbps;               /* ram."mbps": megabits per second */
	int64_t dirty_rate_pps;        /* ram."dirty-pages-rate": pages per second */
	int64_t page_size_bytes;       /* ram."page-size"; 4096 when absent */
	int64_t dirty_sync_count;      /* ram."dirty-sync-count": rounds begun */
	int64_t postcopy_requests;     /* ram."postcopy-requests" */
	int64_t disk_transferred_bytes;/* disk."transferred" (block migration) */
};

/* Fills s from a query-migrate "return" object (NULL or malformed fields
 * read as 0 / ""; values out of range are clamped at 0). */
void mig_stats_parse(json_t *ret, struct mig_stats *s);
/* Bytes per second the guest dirties. */
int64_t mig_stats_dirty_bytes_per_s(const struct mig_stats *s);
/* Percent of RAM sent (0 when the total is not known). */
double mig_stats_percent(const struct mig_stats *s);
/* Seconds left at the current rate (0 when no rate is known). */
double mig_stats_eta_s(const struct mig_stats *s);
bool mig_stats_is(const struct mig_stats *s, const char *status);

#endif

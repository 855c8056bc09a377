/* metrics.h: an agent's migration counts and downtime histograms, written
 * in the Prometheus text exposition format (version 0.0.4) for a node
 * exporter's textfile collector (docs/downtime.md). Pure: the agent feeds
 * it the records of the moves it ran as the source, and the client-seen
 * gaps its clients measured, and writes what metrics_render gives. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

enum metrics_mode { MM_PRECOPY, MM_POSTCOPY, MM_SUSPEND, MM_REBOOT, MM_N };
enum metrics_outcome { MO_COMPLETED, MO_FAILED, MO_COMPLETED_UNCONFIRMED, MO_UNCONFIRMED, MO_N };
enum metrics_gap { MG_ICMP, MG_SERVICE, MG_GUEST, MG_N };

#define METRICS_PAUSE_BUCKETS 15
#define METRICS_TOTAL_BUCKETS 12
#define METRICS_RECENT 32   /* moves a client may still report gaps of */

struct metrics_hist {
	uint64_t count[METRICS_PAUSE_BUCKETS > METRICS_TOTAL_BUCKETS ? METRICS_PAUSE_BUCKETS : METRICS_TOTAL_BUCKETS];
	uint64_t n;            /* every observation (the +Inf bucket) */
	double sum;            /* seconds */
};

struct metrics {
	uint64_t moves[MM_N][MO_N];
	struct metrics_hist pause[MM_N];       /* STOP to RESUME of completed moves */
	struct metrics_hist total[MM_N];       /* the whole move, completed ones */
	struct metrics_hist gap[MM_N][MG_N];   /* client-seen, when probed */
	int64_t start_s;                       /* when counting began (Unix s) */
	/* the newest completed moves, for metrics_observe_gaps */
	struct { char name[65]; int64_t started_us; int mode; bool observed; } recent[METRICS_RECENT];
	unsigned next_recent;
};

void metrics_init(struct metrics *m, int64_t now_s);
/* A source's result record (src_record: name, mode, status, started_us,
 * pause_ms, total_ms): counted; a completed one's times into the
 * histograms. A record it cannot read is not counted: -EINVAL. */
int metrics_observe_move(struct metrics *m, const json_t *record);
/* The gaps a client measured during the move of name that began at
 * started_us (< 0: not measured), once per move, for one of the last
 * METRICS_RECENT completed ones: 0, or -ENOENT (no such move) or -EALREADY. */
int metrics_observe_gaps(struct metrics *m, const char *name, int64_t started_us, const double gap_ms[MG_N]);
/* The whole exposition, appended to out. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif

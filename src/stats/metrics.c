/* metrics.c: migration counts and downtime histograms in Prometheus text
 * (metrics.h). Bucket bounds suit what a move costs: a pause of a
 * millisecond to seconds (a cold suspend pauses for the whole copy), a move
 * of a quarter second to ten minutes. */
#include "stats/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const double pause_le[METRICS_PAUSE_BUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60,
};
static const double total_le[METRICS_TOTAL_BUCKETS] = {
	0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800,
};
static const char *const mode_names[MM_N] = { "precopy", "postcopy", "suspend", "reboot" };
/* src_record's statuses: completed-unconfirmed, the guest runs on the
 * destination but the source's cleanup failed; unconfirmed, the destination
 * did not confirm and the source's copy stays paused. */
static const char *const outcome_names[MO_N] = { "completed", "failed", "completed-unconfirmed", "unconfirmed" };
static const char *const gap_names[MG_N] = { "icmp", "service", "guest" };

void metrics_init(struct metrics *m, int64_t now_s)
{
	memset(m, 0, sizeof(*m));
	m->start_s = now_s;
}

static int index_of(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static void observe(struct metrics_hist *h, const double *le, int n_le, double seconds)
{
	for (int i = 0; i < n_le; i++)
		if (seconds <= le[i])
			h->count[i]++;
	h->n++;
	h->sum += seconds;
}

/* A time in ms from the record: finite, from 0 to a day. */
static bool ms_of(const json_t *rec, const char *key, double *ms)
{
	json_t *v = json_object_get(rec, key);
	double x = json_number_value(v);

	if (!json_is_number(v) || !isfinite(x) || x < 0 || x > 86400000.0)
		return false;
	*ms = x;
	return true;
}

int metrics_observe_move(struct metrics *m, const json_t *rec)
{
	int mode = index_of(json_string_value(json_object_get(rec, "mode")), mode_names, MM_N);
	int outcome = index_of(json_string_value(json_object_get(rec, "status")), outcome_names, MO_N);
	const char *name = json_string_value(json_object_get(rec, "name"));
	double ms;

	if (mode < 0 || outcome < 0 || !name)
		return -EINVAL;
	m->moves[mode][outcome]++;
	if (outcome != MO_COMPLETED)
		return 0;
	if (ms_of(rec, "pause_ms", &ms))
		observe(&m->pause[mode], pause_le, METRICS_PAUSE_BUCKETS, ms / 1000);
	if (ms_of(rec, "total_ms", &ms))
		observe(&m->total[mode], total_le, METRICS_TOTAL_BUCKETS, ms / 1000);
	unsigned k = m->next_recent;
	snprintf(m->recent[k].name, sizeof(m->recent[k].name), "%s", name);
	m->recent[k].started_us = (int64_t)json_integer_value(json_object_get(rec, "started_us"));
	m->recent[k].mode = mode;
	m->recent[k].observed = false;
	m->next_recent = (k + 1) % METRICS_RECENT;
	return 0;
}

int metrics_observe_gaps(struct metrics *m, const char *name, int64_t started_us, const double gap_ms[MG_N])
{
	for (int i = 0; i < METRICS_RECENT; i++) {
		if (!m->recent[i].name[0] || strcmp(m->recent[i].name, name) || m->recent[i].started_us != started_us)
			continue;
		if (m->recent[i].observed)
			return -EALREADY;
		m->recent[i].observed = true;
		for (int g = 0; g < MG_N; g++)
			if (gap_ms[g] >= 0 && isfinite(gap_ms[g]) && gap_ms[g] <= 86400000.0)
				observe(&m->gap[m->recent[i].mode][g], pause_le, METRICS_PAUSE_BUCKETS, gap_ms[g] / 1000);
		return 0;
	}
	return -ENOENT;
}

static void render_hist(struct buf *out, const char *metric, const char *labels, const struct metrics_hist *h,
			const double *le, int n_le)
{
	for (int i = 0; i < n_le; i++)
		buf_printf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", metric, labels, le[i], (unsigned long long)h->count[i]);
	buf_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", metric, labels, (unsigned long long)h->n);
	buf_printf(out, "%s_sum{%s} %.6f\n", metric, labels, h->sum);
	buf_printf(out, "%s_count{%s} %llu\n", metric, labels, (unsigned long long)h->n);
}

void metrics_render(const struct metrics *m, struct buf *out)
{
	char labels[96];

	buf_printf(out, "# HELP ferry_migrations_total Migrations this agent ran as the source, by mode and outcome.\n"
			"# TYPE ferry_migrations_total counter\n");
	for (int mo = 0; mo < MM_N; mo++)
		for (int o = 0; o < MO_N; o++)
			buf_printf(out, "ferry_migrations_total{mode=\"%s\",outcome=\"%s\"} %llu\n", mode_names[mo],
				   outcome_names[o], (unsigned long long)m->moves[mo][o]);
	buf_printf(out, "# HELP ferry_migration_pause_seconds Guest paused, QEMU's STOP on the source to its RESUME "
			"on the destination, of completed migrations.\n"
			"# TYPE ferry_migration_pause_seconds histogram\n");
	for (int mo = 0; mo < MM_N; mo++) {
		snprintf(labels, sizeof(labels), "mode=\"%s\"", mode_names[mo]);
		render_hist(out, "ferry_migration_pause_seconds", labels, &m->pause[mo], pause_le, METRICS_PAUSE_BUCKETS);
	}
	buf_printf(out, "# HELP ferry_migration_duration_seconds Whole completed migrations, request to result.\n"
			"# TYPE ferry_migration_duration_seconds histogram\n");
	for (int mo = 0; mo < MM_N; mo++) {
		snprintf(labels, sizeof(labels), "mode=\"%s\"", mode_names[mo]);
		render_hist(out, "ferry_migration_duration_seconds", labels, &m->total[mo], total_le,
			    METRICS_TOTAL_BUCKETS);
	}
	buf_printf(out, "# HELP ferry_migration_client_gap_seconds Longest time without an answer seen by a client "
			"probing the guest during a completed migration (ferry migrate --probe), by probe.\n"
			"# TYPE ferry_migration_client_gap_seconds histogram\n");
	for (int mo = 0; mo < MM_N; mo++)
		for (int g = 0; g < MG_N; g++) {
			snprintf(labels, sizeof(labels), "mode=\"%s\",probe=\"%s\"", mode_names[mo], gap_names[g]);
			render_hist(out, "ferry_migration_client_gap_seconds", labels, &m->gap[mo][g], pause_le,
				    METRICS_PAUSE_BUCKETS);
		}
	buf_printf(out, "# HELP ferry_metrics_start_time_seconds When this agent began counting (its start).\n"
			"# TYPE ferry_metrics_start_time_seconds gauge\n"
			"ferry_metrics_start_time_seconds %lld\n", (long long)m->start_s);
}

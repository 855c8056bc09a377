/* migstats.c: query-migrate's reply into struct mig_stats. */
#include "qmp/migstats.h"

#include <stdio.h>
#include <string.h>

static int64_t get_i64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;

	return x > 0 ? (int64_t)x : 0;
}

void mig_stats_parse(json_t *ret, struct mig_stats *s)
{
	json_t *ram = json_object_get(ret, "ram"), *disk = json_object_get(ret, "disk");
	const char *st = json_string_value(json_object_get(ret, "status"));
	const char *why = json_string_value(json_object_get(ret, "error-desc"));
	json_t *mbps = json_object_get(ram, "mbps");

	memset(s, 0, sizeof(*s));
	snprintf(s->status, sizeof(s->status), "%s", st ? st : "setup");
	snprintf(s->error_desc, sizeof(s->error_desc), "%s", why ? why : "");
	s->total_ms = get_i64(ret, "total-time");
	s->downtime_ms = get_i64(ret, "downtime");
	s->setup_ms = get_i64(ret, "setup-time");
	s->ram_transferred_bytes = get_i64(ram, "transferred");
	s->ram_remaining_bytes = get_i64(ram, "remaining");
	s->ram_total_bytes = get_i64(ram, "total");
	s->ram_mbps = json_is_number(mbps) && json_number_value(mbps) > 0 ? json_number_value(mbps) : 0;
	s->dirty_rate_pps = get_i64(ram, "dirty-pages-rate");
	s->page_size_bytes = get_i64(ram, "page-size") ?: 4096;
	s->dirty_sync_count = get_i64(ram, "dirty-sync-count");
	s->postcopy_requests = get_i64(ram, "postcopy-requests");
	s->disk_transferred_bytes = get_i64(disk, "transferred");
}

int64_t mig_stats_dirty_bytes_per_s(const struct mig_stats *s)
{
	return s->dirty_rate_pps * s->page_size_bytes;
}

double mig_stats_percent(const struct mig_stats *s)
{
	if (!s->ram_total_bytes)
		return 0;
	int64_t left = s->ram_remaining_bytes < s->ram_total_bytes ? s->ram_remaining_bytes : s->ram_total_bytes;
	return 100.0 * (double)(s->ram_total_bytes - left) / (double)s->ram_total_bytes;
}

double mig_stats_eta_s(const struct mig_stats *s)
{
	return s->ram_mbps > 0 ? (double)s->ram_remaining_bytes * 8.0 / (s->ram_mbps * 1e6) : 0.0;
}

bool mig_stats_is(const struct mig_stats *s, const char *status)
{
	return !strcmp(s->status, status);
}

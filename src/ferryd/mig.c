/* mig.c: what both sides of a migration share: options, the capabilities and
 * parameters set every time, and the history file. */
#include "ferryd/mig.h"
#include "ferryd/agent.h"
#include "proto/proto.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* ferry's defaults, chosen to shorten the pause (see docs/migration.md and
 * bench/live-vs-plain): no bandwidth cap (QEMU's default caps at 128 MiB/s),
 * and a small downtime target (QEMU's is 300 ms), so QEMU stops the guest
 * only when little is left to send. Unless the user gave one, the target
 * is relaxed whenever pre-copy stops converging (mig_relaxed_downtime), so
 * a busy guest still moves. */
int mig_relaxed_downtime(int ms)
{
	int next = ms * 2 < MIG_DOWNTIME_RELAXED_MS ? MIG_DOWNTIME_RELAXED_MS : ms * 2;

	return next > MIG_DOWNTIME_MAX_MS ? MIG_DOWNTIME_MAX_MS : next;
}

/* Has a target had its chance? MIG_ROUNDS_PER_TARGET rounds without the
 * migration completing, and, for a target ferry raised, MIG_TARGET_MIN_MS
 * since (ms_since_raise < 0: the first target, never raised). */
bool mig_target_spent(int rounds_at_target, long long ms_since_raise)
{
	if (rounds_at_target < MIG_ROUNDS_PER_TARGET)
		return false;
	return ms_since_raise < 0 || ms_since_raise >= MIG_TARGET_MIN_MS;
}

void mig_opts_default(struct mig_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->downtime_ms = MIG_DOWNTIME_DEFAULT_MS;
	o->bandwidth_mbps = 0;
	o->parallel = 1;
	o->postcopy = POSTCOPY_OFF;
	o->disk_passes = 2;
}

json_t *mig_opts_to_json(const struct mig_opts *o)
{
	static const char *pc[] = { "off", "on", "auto" };

	json_t *j = json_pack("{s:i, s:b, s:I, s:i, s:b, s:s, s:i, s:b, s:b, s:b}", "downtime_ms", o->downtime_ms,
			      "downtime_default", !o->downtime_given,
			      "bandwidth_mbps", (json_int_t)o->bandwidth_mbps, "parallel", o->parallel,
			      "auto_converge", o->auto_converge, "postcopy", pc[o->postcopy],
			      "timeout_s", o->timeout_s, "copy_storage", o->copy_storage, "insecure", o->insecure,
			      "qemu_tls", o->qemu_tls);
	if (o->cold != COLD_NONE) {
		json_object_set_new(j, "cold", json_string(o->cold == COLD_SUSPEND ? "suspend" : "reboot"));
		json_object_set_new(j, "disk_passes", json_integer(o->disk_passes));
		json_object_set_new(j, "keep_source", json_boolean(o->keep_source));
		json_object_set_new(j, "move_disks", json_boolean(o->move_disks));
	}
	if (o->force)
		json_object_set_new(j, "force", json_true());
	return j;
}

static int get_int(json_t *j, const char *k, long long lo, long long hi, long long *out, char *err, size_t n)
{
	json_t *v = json_object_get(j, k);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(err, n, "%s must be a number from %lld to %lld", k, lo, hi);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

int mig_opts_from_json(json_t *j, struct mig_opts *o, char *err, size_t n)
{
	long long v;
	const char *pc;

	mig_opts_default(o);
	if (!j)
		return 0;
	v = o->downtime_ms;
	if (get_int(j, "downtime_ms", 1, 60000, &v, err, n) < 0) return -EINVAL;
	o->downtime_ms = (int)v;
	o->downtime_given = json_object_get(j, "downtime_ms") != NULL && !json_is_true(json_object_get(j, "downtime_default"));
	v = o->bandwidth_mbps;
	if (get_int(j, "bandwidth_mbps", 0, 1000000, &v, err, n) < 0) return -EINVAL;
	o->bandwidth_mbps = v;
	v = o->parallel;
	if (get_int(j, "parallel", 1, 64, &v, err, n) < 0) return -EINVAL;
	o->parallel = (int)v;
	v = o->timeout_s;
	if (get_int(j, "timeout_s", 0, 86400, &v, err, n) < 0) return -EINVAL;
	o->timeout_s = (int)v;
	o->auto_converge = json_is_true(json_object_get(j, "auto_converge"));
	o->copy_storage = json_is_true(json_object_get(j, "copy_storage"));
	o->insecure = json_is_true(json_object_get(j, "insecure"));
	o->qemu_tls = json_is_true(json_object_get(j, "qemu_tls"));
	o->keep_source = json_is_true(json_object_get(j, "keep_source"));
	o->force = json_is_true(json_object_get(j, "force"));
	o->move_disks = json_is_true(json_object_get(j, "move_disks"));
	v = o->disk_passes;
	if (get_int(j, "disk_passes", 1, 2, &v, err, n) < 0) return -EINVAL;
	o->disk_passes = (int)v;
	if ((pc = json_string_value(json_object_get(j, "postcopy")))) {
		if (!strcmp(pc, "off")) o->postcopy = POSTCOPY_OFF;
		else if (!strcmp(pc, "on")) o->postcopy = POSTCOPY_ON;
		else if (!strcmp(pc, "auto")) o->postcopy = POSTCOPY_AUTO;
		else {
			snprintf(err, n, "postcopy must be off, on or auto");
			return -EINVAL;
		}
	}
	json_t *cold = json_object_get(j, "cold");
	if (cold) {
		const char *c = json_string_value(cold);
		if (!c || (strcmp(c, "suspend") && strcmp(c, "reboot"))) {
			snprintf(err, n, "cold must be suspend or reboot");
			return -EINVAL;
		}
		o->cold = !strcmp(c, "suspend") ? COLD_SUSPEND : COLD_REBOOT;
		/* The guest is paused for the whole copy: nothing for these to do. */
		const char *clash = o->postcopy != POSTCOPY_OFF ? "--postcopy" : o->auto_converge ? "--auto-converge" :
				    o->downtime_given ? "--downtime-ms" : o->copy_storage ? "--copy-storage" : NULL;
		/* A reboot sends no stream: nothing to cap, split or encrypt. */
		if (!clash && o->cold == COLD_REBOOT)
			clash = o->bandwidth_mbps ? "--bandwidth" : o->parallel > 1 ? "--parallel" :
				o->insecure ? "--insecure" : o->qemu_tls ? "--qemu-tls" : NULL;
		if (clash) {
			snprintf(err, n, "a cold migration takes no %s%s", clash,
				 o->copy_storage ? " (its disks not on shared storage travel with the disk mover)" : "");
			return -EINVAL;
		}
	} else if (json_object_get(j, "disk_passes") || o->keep_source || o->move_disks) {
		snprintf(err, n, "--disk-passes and --keep-source are for cold moves (a live move copies disks with "
			 "--copy-storage)");
		return -EINVAL;
	}
	return 0;
}

json_t *mig_any_caps(const struct mig_opts *o, bool source)
{
	bool pc = o->postcopy != POSTCOPY_OFF;
	static const char *const names[] = {
		"events", "return-path", "postcopy-ram", "postcopy-blocktime", "multifd", "auto-converge",
		"pause-before-switchover", "xbzrle", "compress", "release-ram", "block", "zero-blocks",
		"late-block-activate", "x-ignore-shared", "validate-uuid", "zero-copy-send", "postcopy-preempt",
		"dirty-bitmaps",
	};
	/* events; return-path: the source learns if the destination fails;
	 * everything ferry does not use is off, whatever was set before. */
	const bool on[] = {
		true, true, pc, pc, o->parallel > 1, o->auto_converge,
		source && o->copy_storage, false, false, false, false, false,
		false, false, false, false, false,
		false,
	};
	_Static_assert(ARRAY_SIZE(names) == ARRAY_SIZE(on), "one state per capability");
	return qmp_cmd_migrate_caps(names, on, (int)ARRAY_SIZE(names));
}

json_t *mig_any_params(const struct mig_opts *o, bool qemu_tls)
{
	/* No cap: 100 GB/s is far above any link. --bandwidth caps post-copy's
	 * background transfer too. */
	long long bw = o->bandwidth_mbps ? o->bandwidth_mbps * 1000000LL : 100000000000LL;

	return qmp_cmd_migrate_params(o->downtime_ms, bw, o->parallel > 1 ? o->parallel : 2,
				      qemu_tls ? QMP_TLS_CREDS_ID : NULL, o->bandwidth_mbps ? bw : 0);
}

/* The history is kept in two files, history.jsonl (appended to) and
 * history.jsonl.1 (the previous one): when the first reaches half the cap
 * it replaces the second, so both together stay under history_max_bytes
 * (agent config) and the newest records are always kept. */
static void history_path(struct agent *ag, char *out, size_t n, bool old)
{
	snprintf(out, n, "%s/history.jsonl%s", ag->cfg->state_dir, old ? ".1" : "");
}

void mig_any_history_append(struct agent *ag, json_t *record)
{
	char path[600], old[600];
	struct buf b = {0};
	struct stat st;

	if (proto_encode(record, &b) < 0)
		return;
	history_path(ag, path, sizeof(path), false);
	history_path(ag, old, sizeof(old), true);
	if (stat(path, &st) == 0 && (long long)(st.st_size + b.len) > ag->cfg->history_max_bytes / 2)
		rename(path, old);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		write_all(fd, b.data, b.len);
		close(fd);
	}
	buf_free(&b);
}

void mig_any_source_record(struct agent *ag, json_t *record)
{
	mig_any_history_append(ag, record);
	if (metrics_observe_move(&ag->metrics, record) == 0)
		mig_any_metrics_write(ag);
}

void mig_any_metrics_write(struct agent *ag)
{
	const char *path = ag->cfg->metrics_file;
	struct buf b = {0};

	if (!path)
		return;
	metrics_render(&ag->metrics, &b);
	int r = file_write_atomic(path, b.data, b.len, 0644);   /* readable by the node exporter */
	if (r < 0)
		log_warn("cannot write the metrics file", "path=%s error=\"%s\"", path, strerror(-r));
	buf_free(&b);
}

/* Appends the records of one history file that match to out. */
static void history_scan(const char *path, const char *name, int64_t since_us, json_t *out)
{
	char *text, *line, *save = NULL;

	if (file_read_all(path, 64 << 20, &text, NULL) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *r = json_loads(line, 0, &je);
		const char *n = json_string_value(json_object_get(r, "name"));
		if (r && (!name || (n && !strcmp(n, name))) &&
		    json_integer_value(json_object_get(r, "started_us")) >= since_us)
			json_array_append(out, r);
		json_decref(r);
	}
	free(text);
}

json_t *mig_any_history_read(struct agent *ag, const char *name, long last, int64_t since_us)
{
	char path[600];
	json_t *all = json_array(), *out = json_array();
	size_t n, first, bytes = 0;

	history_path(ag, path, sizeof(path), true);
	history_scan(path, name, since_us, all);
	history_path(ag, path, sizeof(path), false);
	history_scan(path, name, since_us, all);
	/* The newest `last`, oldest first, within the reply budget: a reply
	 * must fit the protocol's frame with room to spare. */
	n = json_array_size(all);
	first = n > (size_t)last ? n - (size_t)last : 0;
	for (size_t i = n; i > first; i--) {
		json_t *r = json_array_get(all, i - 1);
		bytes += json_dumpb(r, NULL, 0, JSON_COMPACT) + 1;
		if (bytes > MIG_HISTORY_REPLY_MAX)
			break;
		json_array_insert(out, 0, r);
	}
	json_decref(all);
	return out;
}

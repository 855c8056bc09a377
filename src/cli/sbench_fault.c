/* sbench_fault.c: ferry storage bench --fault (docs/storage.md, "When a
 * storage host fails"). With the bench guest up on host a, its disks on the
 * pool under test:
 *   - the client's load: wrk runs of one second back to back (a window
 *     each: requests/s, p99, errors) against Apache in the guest;
 *   - the guest's writer: fio in the guest writing 4 KiB with O_DIRECT 20
 *     times a second to its scratch disk, one at a time, each completion
 *     logged with its latency in the guest's RAM (/dev/shm);
 *   - at --fault-at s the pool's storage server is stopped (the NFS server,
 *     the SMB server, or storage host ceph3 of three), 5 s later a live
 *     move a -> b is started, and --fault-for s after the stop the server
 *     starts again; the run goes on --fault-after s more;
 *   - then: did the guest survive (running somewhere, serving its page),
 *     where is it, how did the move end, and the writer's log.
 * The lab's own verbs do the stopping (ferry lab stop|start nfs|smb|ceph3),
 * so an operator can replay any step by hand. */
#include "cli/sbench.h"
#include "bench/fault.h"

#include <math.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* In the guest's RAM (its /dev/shm, made if the guest has none): not on
 * the disk whose storage goes away. */
#define WRITER_DIR "/dev/shm"
#define WRITER_LOG WRITER_DIR "/ferry-fw"   /* fio's log prefix */
/* The writer's fio job: 4 KiB random writes, O_DIRECT, 20 a second, one at
 * a time, over the first 64 MiB of the scratch disk. */
#define WRITER_JOB "--name=w --filename=/dev/vdb --rw=randwrite --bs=4k --size=64M --direct=1 --ioengine=psync " \
		   "--rate_iops=20 --time_based"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleeps until the Unix time t (ms); false if the bench was interrupted. */
static bool sleep_until(double t)
{
	for (double d; (d = t - now_ms()) > 0;) {
		if (sb_stop_asked())
			return false;
		usleep((useconds_t)fmin(d, 200) * 1000);
	}
	return !sb_stop_asked();
}

const char *sb_fault_unfit(const char *type)
{
	if (!strcmp(type, "nfs") || !strcmp(type, "smb") || !strcmp(type, "rbd"))
		return NULL;
	return "it has no storage server to stop (a folder of the host)";
}

/* The lab's name of what the fault stops, and what that is. */
static const char *victim(const char *type)
{
	return !strcmp(type, "nfs") ? "nfs" : !strcmp(type, "smb") ? "smb" : "ceph3";
}

const char *sb_fault_victim(const char *type)
{
	return !strcmp(type, "nfs") ? "the NFS server (nfs-ganesha) on the storage host" :
	       !strcmp(type, "smb") ? "the SMB server (smbd) on the storage host" :
				      "storage host ceph3 of three (its OSD and monitor)";
}

static int lab_verb(struct sb *b, const char *verb, const char *type, struct ferr *err)
{
	char *out = NULL;
	int st = sb_ferry(b, &out, 120, "lab", verb, victim(type), NULL);

	if (st != 0)
		ferr_set(err, "ferry lab %s %s failed: %.300s", verb, victim(type), out ? out : "");
	free(out);
	return st == 0 ? 0 : -1;
}

/* Runs cmd in the guest's shell (on a) to its end: 0, or -1 with err
 * ("WHAT: its output") when it could not run or failed. */
static int guest_step(struct sb *b, const char *cmd, int timeout_s, const char *what, struct ferr *err)
{
	char *out = NULL;
	int st = -1;

	if (sb_guest_run(b->cli, "a", VM_NAME, cmd, timeout_s, &out, &st, err) < 0 || st != 0) {
		if (!err->msg[0])
			ferr_set(err, "%s: %.200s", what, out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	return 0;
}

/* The guest's clock minus the host's (ms), read over the console; the
 * uncertainty is half the round trip. */
static int guest_clock(struct sb *b, const char *host, double *offset, double *uncertainty, struct ferr *err)
{
	char *out = NULL, *end;
	int st;
	double h0 = now_ms();

	if (sb_guest_run(b->cli, host, VM_NAME, "date +%s%3N", 30, &out, &st, err) < 0)
		return -1;
	double h1 = now_ms(), g = out ? strtod(out, &end) : 0;
	bool ok = st == 0 && out && end != out && g > 1e12 && g < 1e13;
	if (!ok)
		ferr_set(err, "the guest's clock: no time in '%.60s'", out ? out : "");
	free(out);
	if (!ok)
		return -1;
	*offset = g - (h0 + h1) / 2;
	*uncertainty = (h1 - h0) / 2;
	return 0;
}

/* Where the bench guest runs ("a", "b") and whether it runs; NULL if on
 * neither. */
static const char *guest_host(struct sb *b)
{
	static const char *hosts[] = { "a", "b" };

	for (size_t i = 0; i < 2; i++) {
		char *out = NULL;
		int st = sb_ferry(b, &out, 30, "--json", "-H", hosts[i], "status", VM_NAME, NULL);
		json_t *j = st == 0 ? json_loads(out, 0, NULL) : NULL;
		const char *state = json_string_value(json_object_get(j, "state"));
		bool here = state && !strcmp(state, "running");
		json_decref(j);
		free(out);
		if (here)
			return hosts[i];
	}
	return NULL;
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* The move started during the fault: how it ended. */
static json_t *move_outcome(pid_t mig, const char *path, double started_s)
{
	char *text = NULL;
	size_t len = 0;
	json_t *o = json_pack("{s:f}", "started_s", started_s), *r = NULL;
	int st = -1, status;

	/* ferry migrate bounds itself (--timeout); this bounds the wait. */
	for (int i = 0; i < 1200 && st < 0; i++) {
		if (waitpid(mig, &status, WNOHANG) == mig)
			st = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		else
			usleep(100000);
	}
	if (st < 0) {
		sb_end(mig, SIGINT, 10000);
		json_object_set_new(o, "outcome", json_string("still running after 120 s more: interrupted"));
		return o;
	}
	if (file_read_all(path, SB_OUT_MAX, &text, &len) == 0)   /* the record, then any message */
		r = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, NULL);
	if (st == 0 && json_is_object(r)) {
		json_object_set_new(o, "outcome", json_string("completed"));
		json_object_set(o, "total_ms", json_object_get(r, "total_ms"));
		json_object_set(o, "pause_ms", json_object_get(r, "pause_ms"));
	} else {
		const char *why = json_string_value(json_object_get(r, "error"));
		json_object_set_new(o, "outcome", json_string("failed"));
		json_object_set_new(o, "error", why ? json_string(why) : json_stringn(text ? text : "", text ? strnlen(text, 300) : 0));
	}
	json_decref(r);
	free(text);
	return o;
}

/* The writer's log, read from the guest (on host) after fio ended. */
static int writer_log(struct sb *b, const char *host, double offset, struct fault_io **io, size_t *n, struct ferr *err)
{
	char *out = NULL;
	int st;
	const char *cmd = "p=$(cat " WRITER_LOG ".pid) || exit 1; i=0; while [ -d /proc/$p ] && [ $i -lt 60 ]; do sleep 1; "
			  "i=$((i+1)); done; awk -F, '{printf \"%s %d\\n\", $1, $2/1000}' " WRITER_LOG "_lat.1.log";

	if (sb_guest_run(b->cli, host, VM_NAME, cmd, 150, &out, &st, err) < 0)
		return -1;
	int rc = st == 0 && out ? fault_ios_parse(out, strlen(out), -offset, io, n) : -1;
	if (rc < 0)
		ferr_set(err, "the guest writer's log is unreadable: %.200s", out ? out : "");
	free(out);
	return rc;
}

static json_t *series_json(const struct fault_window *w, size_t nw, double start)
{
	json_t *a = json_array();

	for (size_t k = 0; k < nw; k++)
		json_array_append_new(a, json_pack("[f, f, f, f, f, f, f]", (w[k].t_ms - start) / 1000,
						   fault_window_rate(w, nw, k), w[k].p99_ms, w[k].errors, w[k].dur_s,
						   w[k].requests, (fault_window_run_from(w, nw, k) - start) / 1000));
	return a;
}

static json_t *io_json(const struct fault_io *io, size_t nio, double start, double end)
{
	size_t nb = (size_t)fmax(1, ceil((end - start) / 1000));
	int *counts = calloc(nb, sizeof(*counts));
	double *lat = calloc(nb, sizeof(*lat));
	json_t *a = json_array();

	if (counts && lat) {
		fault_io_bins(io, nio, start, nb, counts, lat);
		for (size_t k = 0; k < nb; k++)
			json_array_append_new(a, json_pack("[i, i, f]", (int)k, counts[k], lat[k]));
	}
	free(counts);
	free(lat);
	return a;
}

int sb_fault_pool(struct sb *b, struct ferr *err)
{
	char lua[600], loop[1200], wrk_out[200], mig_out[200], to_s[16], writer[600];
	double offset = 0, unc = 0, offset2 = NAN, unc2 = 0;
	int total = b->fault_at + b->fault_for + b->fault_after;
	pid_t load = -1, mig = -1;
	bool stopped = false;
	int rc = -1;
	json_t *p = json_pack("{s:s, s:s, s:s}", "pool", b->pname, "type", b->ptype, "stopped", sb_fault_victim(b->ptype));
	struct fault_times t = {0};

	/* The writer first, warmed up: its region written once (the first
	 * writes to a fresh image are slow: allocation; on RBD the image's
	 * lock, its object map) and fio run once for 2 s (its binary and
	 * libraries read from the guest's disk, under TCG: seconds), so that
	 * nothing of it needs the disk's reads when the server goes. */
	if (guest_step(b, "dd if=/dev/zero of=/dev/vdb bs=1M count=64 oflag=direct conv=fsync 2>&1 | tail -1 && "
		       "fio " WRITER_JOB " --runtime=2 --output=/dev/null", 240, "the writer's warm-up failed", err) < 0 ||
	    guest_clock(b, "a", &offset, &unc, err) < 0)
		goto out;
	snprintf(writer, sizeof(writer),
		 "[ -d " WRITER_DIR " ] || { mkdir -p " WRITER_DIR " && mount -t tmpfs -o size=16m ferry-fw " WRITER_DIR "; }; "
		 "rm -f " WRITER_LOG "*; setsid -w fio " WRITER_JOB " --runtime=%d --write_lat_log=" WRITER_LOG
		 " --log_avg_msec=0 --log_unix_epoch=1 --output=/dev/null </dev/null >" WRITER_LOG ".err 2>&1 & "
		 "echo $! > " WRITER_LOG ".pid; sleep 1; p=$(cat " WRITER_LOG ".pid); [ -n \"$p\" ] && [ -d /proc/$p ] || "
		 "{ cat " WRITER_LOG ".err; exit 1; }",
		 total + 3);
	if (guest_step(b, writer, 60, "the writer did not start in the guest", err) < 0)
		goto out;
	/* The client's loop: a wrk run a second, each after its start time,
	 * each on other files of the set (the bench's script seeds its
	 * random choices the same way every run: the files would all be in
	 * the guest's cache after the first seconds). */
	char cwd[400];
	if (strpbrk(b->image_dir, "\"\\\n")) {
		ferr_set(err, "the image folder's name has a quote, a backslash or a newline");
		goto out;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	snprintf(lua, sizeof(lua), "%s/fault.lua", b->tmp);
	FILE *lf = fopen(lua, "w");
	if (!lf) {
		ferr_set(err, "cannot write %s", lua);
		goto out;
	}
	fprintf(lf, "dofile(\"%s%s%s/wrk.lua\")\nlocal first_init = init\n"
		    "function init(args)\n   first_init(args)\n   math.randomseed(seed * 7919 + tonumber(args[1]))\nend\n",
		b->image_dir[0] == '/' ? "" : cwd, b->image_dir[0] == '/' ? "" : "/", b->image_dir);
	fclose(lf);
	snprintf(loop, sizeof(loop),
		 "end=$(( $(date +%%s) + %d )); n=0; while [ $(date +%%s) -lt $end ]; do n=$((n+1)); "
		 "echo \"@ $(date +%%s%%3N)\"; wrk -t1 -c%d -d1s --timeout 1s --latency -s '%s' http://" VM_IP "/ -- $n 2>&1 "
		 "|| sleep 1; done",
		 total + 1, b->conns, lua);
	snprintf(wrk_out, sizeof(wrk_out), "%s/fault-wrk.txt", b->tmp);
	char *lp[] = { b->self, "lab", "exec", "client", "sh", "-c", loop, NULL };
	t.start = now_ms();
	load = sb_spawn(lp, wrk_out);
	if (load < 0) {
		ferr_set(err, "cannot start the client's load");
		goto out;
	}
	if (!sleep_until(t.start + b->fault_at * 1000.0))
		goto out;
	t.down = now_ms();
	stopped = true;   /* (a failed stop may have stopped part of it) */
	if (lab_verb(b, "stop", b->ptype, err) < 0)
		goto out;
	json_object_set_new(p, "stop_ms", json_real(now_ms() - t.down));
	if (b->migrate) {
		if (!sleep_until(t.down + MOVE_AFTER_S * 1000.0))
			goto out;
		/* Bounded: it gives up (the guest stays on a) by the run's end. */
		snprintf(to_s, sizeof(to_s), "%d", b->fault_for + b->fault_after - MOVE_AFTER_S);
		snprintf(mig_out, sizeof(mig_out), "%s/fault-move.json", b->tmp);
		char *mv[] = { b->self, "--json", "-H", "a", "migrate", VM_NAME, "b", "--timeout", to_s, NULL };
		mig = sb_spawn(mv, mig_out);
	}
	if (!sleep_until(t.down + b->fault_for * 1000.0))
		goto out;
	if (lab_verb(b, "start", b->ptype, err) < 0)
		goto out;
	stopped = false;
	t.up = now_ms();
	if (!sleep_until(t.up + b->fault_after * 1000.0))
		goto out;
	t.end = now_ms();
	rc = 0;
out:
	if (stopped) {   /* whatever went wrong, the server comes back */
		struct ferr e2 = {0};
		lab_verb(b, "start", b->ptype, &e2);
	}
	if (load > 0) {
		kill(-load, SIGTERM);
		sb_end(load, SIGTERM, 5000);
	}
	if (mig > 0) {
		json_t *m = move_outcome(mig, mig_out, (t.down - t.start) / 1000 + MOVE_AFTER_S);
		json_object_set_new(p, "migration", m);
	}
	if (rc < 0) {
		if (!err->msg[0])
			ferr_set(err, "interrupted");
		json_decref(p);
		return -1;
	}
	/* What the client saw. */
	struct fault_window *w = NULL;
	struct fault_io *io = NULL;
	size_t nw = 0, nio = 0, len = 0;
	char *text = NULL;
	if (file_read_all(wrk_out, FAULT_TEXT_MAX, &text, &len) < 0 || fault_windows_parse(text, len, &w, &nw) < 0) {
		ferr_set(err, "the client's load printed something unreadable: %.200s", text ? text : "nothing");
		free(text);
		json_decref(p);
		return -1;
	}
	free(text);
	if (nw && !w[nw - 1].parsed)   /* the run cut short at the end */
		nw--;
	/* Did the guest survive, where, and what its writer saw. */
	const char *host = guest_host(b);
	bool serves = host && sb_wait_http(b, 60) == 0;
	json_object_set_new(p, "survived", json_boolean(serves));
	json_object_set_new(p, "host", host ? json_string(host) : json_null());
	if (host && guest_clock(b, host, &offset2, &unc2, err) == 0 && writer_log(b, host, offset, &io, &nio, err) == 0) {
		json_object_set_new(p, "clock_drift_ms", json_real(offset2 - offset));
	} else if (host) {
		json_object_set_new(p, "writer_error", json_string(err->msg));
		err->msg[0] = 0;
	}
	struct fault_result r;
	fault_analyze(w, nw, io, nio, &t, &r);
	json_object_set_new(p, "down_s", json_real((t.down - t.start) / 1000));
	json_object_set_new(p, "up_s", json_real((t.up - t.start) / 1000));
	json_object_set_new(p, "end_s", json_real((t.end - t.start) / 1000));
	json_object_set_new(p, "clock_uncertainty_ms", json_real(unc));
	json_object_set_new(p, "baseline_rps", num_or_null(r.baseline_rps));
	json_object_set_new(p, "fault_rps", num_or_null(r.fault_rps));
	json_object_set_new(p, "zero_rps_s", json_real(r.zero_rps_s));
	json_object_set_new(p, "web_gap_s", json_real(r.web_gap_s));
	json_object_set_new(p, "errors", json_real(r.errors));
	json_object_set_new(p, "writes", json_integer((json_int_t)r.writes));
	json_object_set_new(p, "io_first_s", num_or_null(r.io_first_s));
	json_object_set_new(p, "io_stall_ms", num_or_null(r.io_stall_ms));
	json_object_set_new(p, "io_stall_at_s", num_or_null(r.io_stall_at_s));
	json_object_set_new(p, "io_recovery_s", num_or_null(r.io_recovery_s));
	json_object_set_new(p, "web_recovery_s", num_or_null(r.web_recovery_s));
	json_object_set_new(p, "series", series_json(w, nw, t.start));
	json_object_set_new(p, "io", io_json(io, nio, t.start, t.end));
	json_array_append_new(json_object_get(b->fault, "pools"), p);
	free(w);
	free(io);
	return 0;
}

/* cmd_storage.c: ferry storage bench POOL... — the lab's shared-storage
 * comparison (docs/storage.md). For each pool in turn, with the same Debian
 * Apache guest (make apache-guest) copied onto it:
 *   - raw I/O from the host side: fio through QEMU's block layer (qemu-nbd
 *     on the pool's volume, in agent a's namespaces, fio's NBD engine), so a
 *     reader sees what the storage path gives before the guest's overhead;
 *   - raw I/O in the guest: fio on its virtio disk, O_DIRECT;
 *     both sequential 1 MiB and random 4 KiB, read and write, at each queue
 *     depth and number of jobs, with the CPU the client (QEMU or qemu-nbd,
 *     smbnetfs) and the server (ganesha, smbd) spent per MB;
 *   - the realistic workload: wrk against Apache, cold (the guest's cache
 *     dropped, the server's copy of the image too) and warm;
 *   - moves of the loaded guest, live a -> b and cold b -> a, with the
 *     client-seen gaps; a shared pool must move no disk byte.
 * Output: a table (medians over --runs, CI of the median), --json, --csv,
 * --report FILE.html. */
#include "cli/sbench.h"
#include "cli/lab_ceph.h"
#include "cli/lab_storage.h"
#include "bench/benchout.h"
#include "report/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_BUFFERS_MB 64   /* most fio may hold in the guest (jobs x depth x block) */


struct pattern {
	const char *name, *rw, *bs;
};
static const struct pattern patterns[] = {
	{ "seq-write", "write", "1M" },
	{ "seq-read", "read", "1M" },
	{ "rand-write", "randwrite", "4k" },
	{ "rand-read", "randread", "4k" },
};

/* Ctrl-C (or SIGTERM): the step in progress fails (its children got the
 * signal too), the pool is cleaned up, then the bench stops. */
static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	interrupted = sig;
}

bool sb_stop_asked(void)
{
	return interrupted != 0;
}

static void say(const struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct sb *b, const char *fmt, ...)
{
	va_list ap;

	if (b->cli->json || b->csv)
		return;
	va_start(ap, fmt);
	fputs("storage bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int sb_ferry(struct sb *b, char **out, int timeout_s, const char *a0, ...)
{
	char *argv[24];
	int n = 0;
	va_list ap;

	argv[n++] = b->self;
	va_start(ap, a0);
	for (const char *a = a0; a && n < 23; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	return sb_run(argv, timeout_s, out);
}

/* Where a volume of the pool under test is, as host a's agent opens it
 * (pool info: type, location, uid/gid, mount) and on the storage host's
 * disk (for the cold cache); qemu-nbd's --image-opts for it. */
static void vol_paths(const struct sb *b, const char *vol, char *opts, size_t on, char *disk, size_t dn)
{
	const char *loc = json_string_value(json_object_get(b->pool, "location"));

	disk[0] = 0;
	if (!strcmp(b->ptype, "nfs")) {
		const char *h = loc + 6, *path = strchr(h, '/');
		snprintf(opts, on, "driver=raw,file.driver=nfs,file.server.type=inet,file.server.host=%.*s,file.path=%s/%s,"
			 "file.user=%lld,file.group=%lld", path ? (int)(path - h) : 0, h, path ? path : "", vol,
			 (long long)json_integer_value(json_object_get(b->pool, "uid")),
			 (long long)json_integer_value(json_object_get(b->pool, "gid")));
		snprintf(disk, dn, "%s/%s", LAB_NFS_DATA, vol);
	} else if (!strcmp(b->ptype, "smb")) {
		snprintf(opts, on, "driver=raw,file.driver=file,file.filename=%s/%s,file.cache.direct=on",
			 json_string_value(json_object_get(b->pool, "mount")), vol);
		snprintf(disk, dn, "%s/%s", LAB_SMB_DATA, vol);
	} else if (!strcmp(b->ptype, "rbd")) {
		/* librbd in qemu-nbd, as in QEMU; no server file to drop from a
		 * cache (bluestore does direct I/O on its block file). */
		const char *slash = strrchr(loc, '/');
		snprintf(opts, on, "driver=raw,file.driver=rbd,file.pool=%s,file.image=%s,file.user=%s,file.conf=%s",
			 slash ? slash + 1 : "", vol, json_string_value(json_object_get(b->pool, "ceph_user")),
			 json_string_value(json_object_get(b->pool, "ceph_conf")));
	} else {
		snprintf(opts, on, "driver=raw,file.driver=file,file.filename=%s/%s,file.cache.direct=on", loc, vol);
		snprintf(disk, dn, "%s/%s", loc, vol);
	}
}

/* CPU seconds so far of the client side (clients: pids) and the server. */
struct cpu {
	double client, server;
};
static struct cpu cpu_now(const struct sb *b, pid_t client)
{
	struct cpu c = { sb_cpu_pid(client), sb_cpu_group(b->server) };

	for (int i = 0; i < LAB_CEPH_HOSTS; i++)   /* rbd: the three OSDs */
		c.server += b->osds[i] ? sb_cpu_pid(b->osds[i]) : 0;
	if (!strcmp(b->ptype, "smb"))   /* the agent's smbnetfs (FUSE) */
		c.client += sb_cpu_children(b->agent, "smbnetfs");
	return c;
}

static void add_raw(struct sb *b, const char *side, const struct pattern *p, int qd, int jobs, int run,
		    const struct fio_result *r, struct cpu c0, struct cpu c1)
{
	double mb = r->kib / 1024;
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "pool", b->pname, "side", side,
			      "job", p->name, "qd", qd, "jobs", jobs, "run", run, "mbps", r->bw_kibs / 1024, "iops",
			      r->iops, "p50_ms", r->clat_p50_us / 1000, "p99_ms", r->clat_p99_us / 1000);
	if (mb > 0) {
		json_object_set_new(o, "client_cpu_ms_per_mb", json_real((c1.client - c0.client) * 1000 / mb));
		if (b->server || b->osds[0])
			json_object_set_new(o, "server_cpu_ms_per_mb", json_real((c1.server - c0.server) * 1000 / mb));
	}
	json_array_append_new(json_object_get(b->rec, "raw"), o);
}

/* The fio options of one job (numjobs threads share the region, each its
 * own slice for sequential jobs). */
static void fio_args(char *out, size_t n, const struct pattern *p, int qd, int jobs, int seconds)
{
	snprintf(out, n, "--name=sb --rw=%s --bs=%s --iodepth=%d --numjobs=%d --size=%dM --offset_increment=%dM "
		 "--group_reporting --time_based --runtime=%d --output-format=terse --terse-version=3 --eta=never",
		 p->rw, p->bs, qd, jobs, SCRATCH_MB / jobs, SCRATCH_MB / jobs, seconds);
}

/* Host side: qemu-nbd serves the scratch volume in agent a's namespaces,
 * fio's NBD engine runs the jobs against it. */
static int host_side(struct sb *b, int run, struct ferr *err)
{
	char opts[1200], disk[600], pid_s[16], args[400];

	vol_paths(b, SCRATCH_VOL, opts, sizeof(opts), disk, sizeof(disk));
	snprintf(pid_s, sizeof(pid_s), "%d", (int)b->agent);
	unlink(NBD_SOCK);
	char *nbd[] = { "nsenter", "-t", pid_s, "-m", "-n", "--", "qemu-nbd", "--persistent", "--shared=32",
			"--socket=" NBD_SOCK, "--aio=threads", "--image-opts", opts, NULL };
	char log[200], *text = NULL;
	snprintf(log, sizeof(log), "%s/qemu-nbd.log", b->tmp);
	pid_t srv = sb_spawn(nbd, log);
	for (int i = 0; i < 100 && access(NBD_SOCK, F_OK) < 0; i++)
		usleep(50000);
	if (access(NBD_SOCK, F_OK) < 0) {
		sb_end(srv, SIGTERM, 2000);
		file_read_all(log, 4096, &text, NULL);
		ferr_set(err, "qemu-nbd did not serve %s on pool %s: %.300s", SCRATCH_VOL, b->pname, text ? text : "");
		free(text);
		return -1;
	}
	pid_t nbd_pid = sb_child_named(srv, "qemu-nbd") ?: srv;
	int rc = 0;
	for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]) && rc == 0; k++)
		for (int d = 0; d < b->n_depths && rc == 0; d++)
			for (int j = 0; j < b->n_jobs && rc == 0; j++) {
				char *out = NULL, *argv[64];
				int n = 0;
				fio_args(args, sizeof(args), &patterns[k], b->depths[d], b->jobs[j], b->seconds);
				argv[n++] = "nsenter"; argv[n++] = "-t"; argv[n++] = pid_s; argv[n++] = "-m"; argv[n++] = "-n";
				argv[n++] = "--"; argv[n++] = "fio"; argv[n++] = "--ioengine=nbd";
				argv[n++] = "--uri=nbd+unix:///?socket=" NBD_SOCK;
				char *copy = xstrdup(args), *save = NULL;
				for (char *w = strtok_r(copy, " ", &save); w && n < 62; w = strtok_r(NULL, " ", &save))
					argv[n++] = w;
				argv[n] = NULL;
				struct cpu c0 = cpu_now(b, nbd_pid);
				int st = sb_run(argv, b->seconds + 60, &out);
				struct cpu c1 = cpu_now(b, nbd_pid);
				struct fio_result r;
				char *line = out ? strstr(out, "3;fio-") : NULL;
				if (st != 0 || !line || fio_terse_parse(line, &r) < 0) {
					ferr_set(err, "fio (host side, %s on %s) failed: %.300s", patterns[k].name, b->pname,
						 out ? out : "no output");
					rc = -1;
				} else {
					add_raw(b, "host", &patterns[k], b->depths[d], b->jobs[j], run, &r, c0, c1);
				}
				free(copy);
				free(out);
			}
	sb_end(srv, SIGTERM, 3000);
	unlink(NBD_SOCK);
	return rc;
}

static pid_t vm_pid(struct sb *b, const char *host)
{
	char *out = NULL;
	pid_t pid = 0;

	if (sb_ferry(b, &out, 30, "--json", "-H", host, "status", VM_NAME, NULL) == 0) {
		json_t *j = json_loads(out, 0, NULL);
		pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
		json_decref(j);
	}
	free(out);
	return pid;
}

static int guest_side(struct sb *b, int run, struct ferr *err)
{
	char args[400], cmd[600];
	pid_t qemu = vm_pid(b, "a");

	for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++)
		for (int d = 0; d < b->n_depths; d++)
			for (int j = 0; j < b->n_jobs; j++) {
				char *out = NULL;
				int st = -1;
				/* fio holds depth x block size of buffers per job: past
				 * GUEST_BUFFERS_MB the guest (192 MiB) would kill it. */
				int need = b->jobs[j] * b->depths[d] * (patterns[k].bs[1] == 'M' ? 1024 : 4) / 1024;
				if (need > GUEST_BUFFERS_MB) {
					json_array_append_new(json_object_get(b->rec, "raw"),
							      json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "pool", b->pname, "side",
									"guest", "job", patterns[k].name, "qd", b->depths[d], "jobs",
									b->jobs[j], "run", run, "skipped", "more buffers than the guest's RAM allows"));
					continue;
				}
				fio_args(args, sizeof(args), &patterns[k], b->depths[d], b->jobs[j], b->seconds);
				snprintf(cmd, sizeof(cmd), "fio --filename=/dev/vdb --direct=1 --ioengine=libaio %s", args);
				struct cpu c0 = cpu_now(b, qemu);
				int r0 = sb_guest_run(b->cli, "a", VM_NAME, cmd, b->seconds * 3 + 60, &out, &st, err);
				struct cpu c1 = cpu_now(b, qemu);
				struct fio_result r;
				char *line = out ? strstr(out, "3;fio-") : NULL;
				if (r0 < 0 || st != 0 || !line || fio_terse_parse(line, &r) < 0) {
					if (r0 == 0)
						ferr_set(err, "fio in the guest (%s on %s) failed: %.300s", patterns[k].name,
							 b->pname, out);
					free(out);
					return -1;
				}
				add_raw(b, "guest", &patterns[k], b->depths[d], b->jobs[j], run, &r, c0, c1);
				free(out);
			}
	return 0;
}

/* wrk from the lab's client against Apache in the guest. */
static int web(struct sb *b, const char *cache, int run, struct ferr *err)
{
	char t[16], c[16], lua[600], *out = NULL;
	struct wrk_result w;

	snprintf(t, sizeof(t), "%ds", b->wrk_seconds);
	snprintf(c, sizeof(c), "%d", b->conns);
	snprintf(lua, sizeof(lua), "%s/wrk.lua", b->image_dir);
	int st = sb_ferry(b, &out, b->wrk_seconds + 60, "lab", "exec", "client", "wrk", "-t2", "-c", c, "-d", t, "--latency",
		       "-s", lua, "http://" VM_IP "/", NULL);
	if (st != 0 || wrk_parse(out, strlen(out), &w) < 0) {
		ferr_set(err, "wrk against %s on %s failed: %.300s", VM_NAME, b->pname, out ? out : "no output");
		free(out);
		return -1;
	}
	free(out);
	json_array_append_new(json_object_get(b->rec, "web"),
			      json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "pool", b->pname, "cache", cache,
					"run", run, "rps", w.rps, "p50_ms", w.lat_p50_ms, "p99_ms", w.lat_p99_ms, "max_ms",
					w.lat_max_ms, "errors", w.errors, "mb_per_s", w.bytes / 1048576 / w.duration_s));
	return 0;
}

static int web_runs(struct sb *b, int run, struct ferr *err)
{
	char opts[1200], disk[600], *out = NULL;
	int st;

	/* Cold: the guest's page cache, and the storage host's of the image. */
	if (sb_guest_run(b->cli, "a", VM_NAME, "sync; echo 3 > /proc/sys/vm/drop_caches", 60, &out, &st, err) < 0)
		return -1;
	free(out);
	vol_paths(b, b->root_vol, opts, sizeof(opts), disk, sizeof(disk));
	if (disk[0])
		sb_drop_file_cache(disk);
	if (web(b, "cold", run, err) < 0)
		return -1;
	return web(b, "warm", run, err);
}

/* One move under load (wrk from the client during it), probed. */
static int move(struct sb *b, const char *kind, const char *from, const char *to, int run, struct ferr *err)
{
	char lua[600], *out = NULL, wrk_out[160];
	json_t *r;

	snprintf(lua, sizeof(lua), "%s/wrk.lua", b->image_dir);
	snprintf(wrk_out, sizeof(wrk_out), "%s/wrk-move.txt", b->tmp);
	char *wrk[] = { b->self, "lab", "exec", "client", "wrk", "-t1", "-c4", "-d300s", "--latency", "-s", lua,
			"http://" VM_IP "/", NULL };
	pid_t load = sb_spawn(wrk, wrk_out);
	sleep(1);
	int st = !strcmp(kind, "live") ?
			 sb_ferry(b, &out, 600, "lab", "exec", "client", b->self, "--json", "-H", from, "migrate", VM_NAME, to,
			       "--probe", VM_IP ":icmp,http", NULL) :
			 sb_ferry(b, &out, 600, "lab", "exec", "client", b->self, "--json", "-H", from, "migrate", VM_NAME, to,
			       "--cold", "suspend", "--probe", VM_IP ":icmp,http", NULL);
	sleep(1);
	/* wrk runs in its own group (sb_spawn): lab exec, then wrk. SIGINT makes
	 * wrk print its report. */
	kill(-load, SIGINT);
	sb_end(load, SIGINT, 5000);
	r = st == 0 ? json_loads(out, 0, NULL) : NULL;
	if (!r) {
		ferr_set(err, "the %s move %s -> %s on %s failed: %.300s", kind, from, to, b->pname, out ? out : "no output");
		free(out);
		return -1;
	}
	free(out);
	char *wtext;
	size_t wl;
	struct wrk_result w = {0};
	if (file_read_all(wrk_out, BENCHOUT_MAX, &wtext, &wl) == 0) {
		wrk_parse(wtext, wl, &w);
		free(wtext);
	}
	double bytes = json_number_value(json_object_get(r, "bytes")), ram = json_number_value(json_object_get(r, "ram_bytes"));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:f}", "pool", b->pname, "kind", kind, "from", from, "to", to,
			      "run", run, "disk_bytes", bytes - ram, "wrk_errors", w.errors);
	const char *keys[] = { "total_ms", "pause_ms", "net_gap_ms", "service_gap_ms" };
	for (size_t k = 0; k < 4; k++)
		if (json_is_number(json_object_get(r, keys[k])))
			json_object_set(o, keys[k], json_object_get(r, keys[k]));
	json_array_append_new(json_object_get(b->rec, "moves"), o);
	json_decref(r);
	return 0;
}

static void cleanup_pool(struct sb *b)
{
	char *out = NULL;

	for (const char *const *h = (const char *const[]){ "a", "b", NULL }; *h; h++) {
		sb_ferry(b, &out, 30, "-H", *h, "destroy", VM_NAME, NULL);
		free(out);
	}
	sb_ferry(b, &out, 60, "-H", "a", "vol", "delete", b->pname, b->root_vol, NULL);
	free(out);
	sb_ferry(b, &out, 60, "-H", "a", "vol", "delete", b->pname, SCRATCH_VOL, NULL);
	free(out);
}

int sb_wait_http(struct sb *b, int limit_s)
{
	for (int i = 0; i < limit_s * 4; i++) {
		char *out = NULL;
		int st = sb_ferry(b, &out, 10, "lab", "exec", "client", "curl", "-s", "-m", "1", "-o", "/dev/null", "-w",
			       "%{http_code}", "http://" VM_IP "/", NULL);
		bool ok = st == 0 && out && !strcmp(out, "200");
		free(out);
		if (ok)
			return 0;
		usleep(250000);
	}
	return -1;
}

static int bench_pool(struct sb *b, const char *name, struct ferr *err)
{
	char *out = NULL, img[600], cfg[200], sz[16];
	int rc = -1;

	b->pname = name;
	b->agent = lab_agent_pid("a");
	if (sb_ferry(b, &out, 60, "--json", "-H", "a", "pool", "info", name, NULL) != 0 ||
	    !(b->pool = json_loads(out, 0, NULL))) {
		ferr_set(err, "no pool %s on host a: %.300s", name, out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	b->ptype = json_string_value(json_object_get(b->pool, "type"));
	bool shared = json_is_true(json_object_get(b->pool, "shareable"));
	json_t *st = lab_storage_status();
	b->server = !strcmp(b->ptype, "nfs") ? (pid_t)json_integer_value(json_object_get(json_object_get(st, "nfs"), "pid")) :
		    !strcmp(b->ptype, "smb") ? (pid_t)json_integer_value(json_object_get(json_object_get(st, "smb"), "pid")) : 0;
	json_decref(st);
	bool rbd = !strcmp(b->ptype, "rbd");
	b->root_vol = rbd ? ROOT_VOL_RBD : ROOT_VOL;
	b->root_fmt = rbd ? "raw" : "qcow2";
	memset(b->osds, 0, sizeof(b->osds));
	json_t *ceph = rbd ? lab_ceph_status() : NULL;
	for (int i = 0; i < LAB_CEPH_HOSTS && ceph; i++) {
		char n[16];
		snprintf(n, sizeof(n), "osd.%d", i);
		b->osds[i] = (pid_t)json_integer_value(json_object_get(json_object_get(json_object_get(ceph, "daemons"), n),
									"pid"));
	}
	json_decref(ceph);
	json_array_append_new(json_object_get(b->rec, "pools"),
			      json_pack("{s:s, s:s, s:s, s:b}", "name", name, "type", b->ptype, "location",
					json_string_value(json_object_get(b->pool, "location")), "shared", shared));
	cleanup_pool(b);
	say(b, "%s (%s): copying the guest's disk in", name, b->ptype);
	snprintf(img, sizeof(img), "%s/rootfs.img", b->image_dir);
	snprintf(sz, sizeof(sz), "%dM", SCRATCH_MB);
	if (sb_ferry(b, &out, 900, "-H", "a", "vol", "import", name, b->root_vol, img, NULL) != 0 ||
	    (free(out), sb_ferry(b, &out, 120, "-H", "a", "vol", "create", name, SCRATCH_VOL, sz, "--format", "raw", NULL)) != 0) {
		ferr_set(err, "cannot put the guest on pool %s: %.300s", name, out ? out : "");
		goto out;
	}
	free(out);
	out = NULL;
	for (int run = 1; run <= b->runs && !b->fault_for; run++) {
		say(b, "%s: run %d/%d: fio from the host side", name, run, b->runs);
		if (host_side(b, run, err) < 0 || interrupted)
			goto out;
	}
	snprintf(cfg, sizeof(cfg), "%s/sbench.cfg", b->tmp);
	FILE *f = fopen(cfg, "w");
	if (!f) {
		ferr_set(err, "cannot write %s", cfg);
		goto out;
	}
	char cwd[400];
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	fprintf(f, "name = \"" VM_NAME "\"\nmemory = 192\nvcpus = 1\nkernel = \"%s/build/guest/vmlinuz\"\n"
		   "ramdisk = \"%s/build/guest/initrd.img\"\n"
		   "extra = \"console=ttyS0 quiet ferry.root=/dev/vda ferry.name=" VM_NAME " ferry.ip=" VM_IP "/24\"\n"
		   "disk = [ \"pool=%s,vol=%s,format=%s,vdev=vda,cache=none\", "
		   "\"pool=%s,vol=" SCRATCH_VOL ",format=raw,vdev=vdb,cache=none\" ]\n"
		   "vif = [ \"mac=" VM_MAC ",bridge=br-vm\" ]\n", cwd, cwd, name, b->root_vol, b->root_fmt, name);
	fclose(f);
	if (sb_ferry(b, &out, 120, "-H", "a", "create", cfg, NULL) != 0 || sb_wait_http(b, 120) < 0) {
		ferr_set(err, "the guest on pool %s did not come up: %.300s", name, out ? out : "no HTTP answer in 120 s");
		goto out;
	}
	free(out);
	out = NULL;
	if (b->fault_for) {
		say(b, "%s: %s stops %d s in for %d s, a live move %d s into it, then %d s more", name,
		    sb_fault_victim(b->ptype), b->fault_at, b->fault_for, MOVE_AFTER_S, b->fault_after);
		if (sb_fault_pool(b, err) < 0)
			goto out;
	}
	for (int run = 1; run <= b->runs && !interrupted && !b->fault_for; run++) {
		say(b, "%s: run %d/%d: fio in the guest", name, run, b->runs);
		if (guest_side(b, run, err) < 0)
			goto out;
		say(b, "%s: run %d/%d: wrk against Apache, cold then warm", name, run, b->runs);
		if (web_runs(b, run, err) < 0)
			goto out;
		if (!b->migrate)
			continue;
		if (!shared) {
			if (run == 1)
				say(b, "%s: not shared between a and b: no move without copying its disks", name);
			continue;
		}
		say(b, "%s: run %d/%d: live a -> b and cold b -> a under load", name, run, b->runs);
		if (move(b, "live", "a", "b", run, err) < 0 || move(b, "cold", "b", "a", run, err) < 0)
			goto out;
	}
	rc = interrupted ? -1 : 0;
	if (interrupted)
		ferr_set(err, "interrupted");
out:
	free(out);
	if (interrupted && !err->msg[0])
		ferr_set(err, "interrupted");
	cleanup_pool(b);
	json_decref(b->pool);
	b->pool = NULL;
	return rc;
}

/* The record summarized, printed as asked, the report written; frees it. */
static int output(struct sb *b, const char *report)
{
	struct ferr err = {0};
	int rc = 0;

	sb_summarize(b->rec);
	if (b->cli->json)
		cli_print_json(b->rec);
	else if (b->csv)
		sb_print_csv(b->rec);
	else
		sb_print_table(b->rec);
	if (report && report_storage_write(report, b->rec, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		rc = 1;
	} else if (report && !b->cli->json && !b->csv) {
		printf("report: %s\n", report);
	}
	json_decref(b->rec);
	return rc;
}

/* "1,4,16" into v (at most MAX_LIST numbers from 1 to 256). */
static int parse_list(const char *what, const char *s, int *v, int *n)
{
	char *copy = xstrdup(s), *save = NULL;
	long long x;

	*n = 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST || cli_parse_num(what, w, 1, 256, &x) < 0) {
			if (*n == MAX_LIST)
				fprintf(stderr, "ferry: %s takes at most %d numbers\n", what, MAX_LIST);
			free(copy);
			return -1;
		}
		v[(*n)++] = (int)x;
	}
	free(copy);
	return *n ? 0 : -1;
}

int cmd_storage(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'n' },   { "seconds", required_argument, NULL, 's' },
		{ "wrk-seconds", required_argument, NULL, 'w' }, { "connections", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },   { "depths", required_argument, NULL, 'q' },
		{ "image", required_argument, NULL, 'i' },  { "report", required_argument, NULL, 'R' },
		{ "csv", no_argument, NULL, 'C' },          { "no-migrate", no_argument, NULL, 'M' },
		{ "from-json", required_argument, NULL, 'F' },
		{ "fault", no_argument, NULL, 'f' },        { "fault-at", required_argument, NULL, 'a' },
		{ "fault-for", required_argument, NULL, 'o' }, { "fault-after", required_argument, NULL, 'e' },
		{ 0 }
	};
	struct sb b = { .cli = cli, .image_dir = "build/apache-guest", .runs = 3, .seconds = 5, .wrk_seconds = 10,
			.conns = 16, .jobs = { 1, 4, 16 }, .n_jobs = 3, .depths = { 1, 32 }, .n_depths = 2, .migrate = true,
			.fault_at = 15, .fault_for = 30, .fault_after = 30 };
	bool fault = false;
	const char *report = NULL, *from_json = NULL;
	struct ferr err = {0};
	long long v;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'n': if (cli_parse_num("--runs", optarg, 1, 100, &v) < 0) return 2; b.runs = (int)v; break;
		case 's': if (cli_parse_num("--seconds", optarg, 1, 600, &v) < 0) return 2; b.seconds = (int)v; break;
		case 'w': if (cli_parse_num("--wrk-seconds", optarg, 1, 600, &v) < 0) return 2; b.wrk_seconds = (int)v; break;
		case 'c': if (cli_parse_num("--connections", optarg, 1, 1000, &v) < 0) return 2; b.conns = (int)v; break;
		case 'j': if (parse_list("--jobs", optarg, b.jobs, &b.n_jobs) < 0) return 2; break;
		case 'q': if (parse_list("--depths", optarg, b.depths, &b.n_depths) < 0) return 2; break;
		case 'i': b.image_dir = optarg; break;
		case 'R': report = optarg; break;
		case 'C': b.csv = true; break;
		case 'M': b.migrate = false; break;
		case 'F': from_json = optarg; break;
		case 'f': fault = true; break;
		case 'a': if (cli_parse_num("--fault-at", optarg, 5, 600, &v) < 0) return 2; b.fault_at = (int)v; fault = true; break;
		case 'o': if (cli_parse_num("--fault-for", optarg, 6, 3600, &v) < 0) return 2; b.fault_for = (int)v; fault = true; break;
		case 'e': if (cli_parse_num("--fault-after", optarg, 5, 600, &v) < 0) return 2; b.fault_after = (int)v; fault = true; break;
		default: return 2;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "bench") && from_json) {
		/* The table, CSV or report again, from a saved --json record. */
		json_error_t je;
		if (optind + 1 != argc) {
			fprintf(stderr, "ferry: storage bench --from-json FILE takes no pools\n");
			return 2;
		}
		if (!(b.rec = json_load_file(from_json, 0, &je)) || !json_is_array(json_object_get(b.rec, "raw"))) {
			fprintf(stderr, "ferry: %s is not a storage bench record: %s\n", from_json, b.rec ? "no \"raw\"" : je.text);
			json_decref(b.rec);
			return 1;
		}
		return output(&b, report);
	}
	if (optind >= argc || strcmp(argv[optind], "bench") || optind + 1 >= argc) {
		fprintf(stderr, "ferry: storage bench needs one or more pools (ferry storage bench lab-dir lab-nfs lab-smb)\n");
		return 2;
	}
	char img[600];
	snprintf(img, sizeof(img), "%s/rootfs.img", b.image_dir);
	if (access(img, R_OK) < 0) {
		fprintf(stderr, "ferry: no bench guest at %s (make apache-guest builds it)\n", img);
		return 1;
	}
	if (!lab_agent_pid("a") || !lab_agent_pid("b")) {
		fprintf(stderr, "ferry: storage bench runs on the lab, and it is not up (ferry lab up)\n");
		return 1;
	}
	ssize_t n = readlink("/proc/self/exe", b.self, sizeof(b.self) - 1);
	if (n <= 0) {
		fprintf(stderr, "ferry: cannot find my own program\n");
		return 1;
	}
	b.self[n] = 0;
	snprintf(b.tmp, sizeof(b.tmp), "/run/ferry-lab/sbench.XXXXXX");
	if (!mkdtemp(b.tmp)) {
		fprintf(stderr, "ferry: cannot make a folder in /run/ferry-lab: %s\n", strerror(errno));
		return 1;
	}
	if (!fault)
		b.fault_for = 0;
	b.rec = json_pack("{s:i, s:i, s:i, s:i, s:[], s:[], s:[], s:[]}", "runs", b.runs, "seconds", b.seconds, "wrk_seconds",
			  b.wrk_seconds, "connections", b.conns, "pools", "raw", "web", "moves");
	if (fault) {
		b.fault = json_pack("{s:i, s:i, s:i, s:i, s:b, s:[]}", "at_s", b.fault_at, "for_s", b.fault_for, "after_s",
				    b.fault_after, "move_after_s", MOVE_AFTER_S, "move", b.migrate, "pools");
		json_object_set_new(b.rec, "fault", b.fault);
	}
	json_t *jl = json_array(), *dl = json_array();
	for (int i = 0; i < b.n_jobs; i++)
		json_array_append_new(jl, json_integer(b.jobs[i]));
	for (int i = 0; i < b.n_depths; i++)
		json_array_append_new(dl, json_integer(b.depths[i]));
	json_object_set_new(b.rec, "jobs", jl);
	json_object_set_new(b.rec, "depths", dl);
	int rc = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Every pool on both hosts before anything starts. */
	for (int i = optind + 1; i < argc && rc == 0; i++)
		for (const char *const *h = (const char *const[]){ "a", "b", NULL }; *h && rc == 0; h++) {
			char *out = NULL;
			if (sb_ferry(&b, &out, 60, "--json", "-H", *h, "pool", "info", argv[i], NULL) != 0) {
				const char *why = out && *out ? out : "no answer from the lab's agents\n";
				if (!strncmp(why, "ferry: ", 7))
					why += 7;
				fprintf(stderr, "ferry: storage bench: %s", why);
				rc = 1;
			} else if (fault) {
				json_t *info = json_loads(out, 0, NULL);
				const char *why = sb_fault_unfit(json_string_value(json_object_get(info, "type")) ?: "?");
				if (why) {
					fprintf(stderr, "ferry: storage bench --fault: pool %s: %s\n", argv[i], why);
					rc = 1;
				}
				json_decref(info);
			}
			free(out);
		}
	for (int i = optind + 1; i < argc && rc == 0 && !interrupted; i++)
		if (bench_pool(&b, argv[i], &err) < 0) {
			fprintf(stderr, "ferry: storage bench: %s\n", err.msg);
			rc = 1;
		}
	char *out = NULL;
	char *rm[] = { "rm", "-rf", b.tmp, NULL };
	sb_run(rm, 30, &out);
	free(out);
	if (rc == 0)
		return output(&b, report);
	json_decref(b.rec);
	return rc;
}

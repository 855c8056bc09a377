/* lab_ceph.c: the lab's Ceph cluster (lab_ceph.h). Debian 12's Ceph 16.2 by
 * hand, no systemd, no cephadm: keys with ceph-authtool, the monitor map
 * with monmaptool, each monitor made (--mkfs) and run inside its storage
 * host's namespace, the OSDs registered with "ceph osd new" and made on a
 * sparse file each (bluestore). Every path a daemon or a client would use
 * by default (/var/log/ceph, /var/run/ceph, /var/lib/ceph, the cluster log)
 * is set under the lab's folders, so lab down leaves nothing behind. */
#include "cli/lab_ceph.h"
#include "cli/lab_storage.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#define DATA LAB_STORE_DIR "/ceph"   /* monitors' and OSDs' data, logs: on disk */
#define ADMIN_KEYRING LAB_CEPH_RUN "/client.admin.keyring"
#define UP_TIMEOUT_S 120
#define CLI_TIMEOUT "10"

static const char *const ceph_ip[LAB_CEPH_HOSTS] = { "10.78.0.11", "10.78.0.12", "10.78.0.13" };

bool lab_ceph_present(void)
{
	return access("/run/netns/ferry-ceph1", F_OK) == 0;
}

static int write_text(const char *path, int mode, const char *text)
{
	return file_write_atomic(path, text, strlen(text), mode);
}

/* Runs argv inside ferry-cephN (0: here), capturing stdout and stderr. */
static int run_in(int host, char *const argv[], struct buf *out)
{
	char *a[48], ns[32];
	int n = 0;

	if (host) {
		snprintf(ns, sizeof(ns), "ferry-ceph%d", host);
		a[n++] = "ip";
		a[n++] = "netns";
		a[n++] = "exec";
		a[n++] = ns;
	}
	for (int i = 0; argv[i] && n < 47; i++)
		a[n++] = argv[i];
	a[n] = NULL;
	return run_capture_all(a[0], a, out);
}

/* The ceph CLI as client.admin, from ceph1's namespace, bounded in time:
 * ceph(out, ARG..., NULL). */
static int ceph(struct buf *out, ...) __attribute__((sentinel));
static int ceph(struct buf *out, ...)
{
	char *argv[24] = { "timeout", "30", "ceph", "-c", LAB_CEPH_CONF, "-n", "client.admin", "-k", ADMIN_KEYRING,
			   "--connect-timeout", CLI_TIMEOUT };
	int n = 11;
	struct buf tmp = {0};
	va_list ap;
	char *a;

	va_start(ap, out);
	while ((a = va_arg(ap, char *)) && n < 23)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int r = run_in(1, argv, out ? out : &tmp);
	buf_free(&tmp);
	return r;
}

/* The last line of a tool's output, for an error message. */
static const char *last_line(struct buf *b)
{
	if (!b->data)
		return "no output";
	while (b->len && (b->data[b->len - 1] == '\n'))
		b->data[--b->len] = 0;
	char *nl = strrchr(b->data, '\n');
	return nl ? nl + 1 : b->data;
}

static int tool(const char *what, int host, char *const argv[])
{
	struct buf out = {0};
	int r = run_in(host, argv, &out);

	if (r != 0)
		fprintf(stderr, "ferry: ceph: %s failed (exit %d): %s\n", what, r, last_line(&out));
	buf_free(&out);
	return r == 0 ? 0 : -1;
}

/* ---- daemons -------------------------------------------------------------- */

static void pidfile(char *p, size_t n, const char *name)
{
	snprintf(p, n, LAB_CEPH_RUN "/%s.pid", name);
}

static pid_t pid_of(const char *name)
{
	char p[256];
	pidfile(p, sizeof(p), name);
	pid_t pid = pid_read_file(p);
	return pid > 0 && pid_alive(pid) && pid_cmdline_has(pid, LAB_CEPH_CONF) ? pid : 0;
}

/* Starts a daemon in the foreground (-f) in ferry-cephN, in a session of
 * its own; its pid in LAB_CEPH_RUN/NAME.pid, its output in DATA/log. */
static int spawn(int host, const char *name, char *const argv[])
{
	char ns[64], log[256], pf[256], text[32];
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		snprintf(ns, sizeof(ns), "/run/netns/ferry-ceph%d", host);
		int nfd = open(ns, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
			_exit(127);
		snprintf(log, sizeof(log), DATA "/log/%s.out", name);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	pidfile(pf, sizeof(pf), name);
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	return file_write_atomic(pf, text, strlen(text), 0600);
}

static void stop_daemon(const char *name, int wait_ms)
{
	pid_t pid = pid_of(name);

	if (!pid)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < wait_ms / 20 && pid_alive(pid); i++)
		usleep(20000);
	if (pid_alive(pid))
		kill(pid, SIGKILL);
	for (int i = 0; i < 250 && pid_alive(pid); i++)
		usleep(20000);
	waitpid(pid, NULL, WNOHANG);
}

static int start_mon(int h)
{
	char id[16], name[32];
	snprintf(id, sizeof(id), "ceph%d", h);
	snprintf(name, sizeof(name), "mon.ceph%d", h);
	if (pid_of(name))
		return 0;
	char *argv[] = { "ceph-mon", "-f", "-c", LAB_CEPH_CONF, "-i", id, NULL };
	return spawn(h, name, argv);
}

static int start_osd(int h)
{
	char id[16], name[32];
	snprintf(id, sizeof(id), "%d", h - 1);
	snprintf(name, sizeof(name), "osd.%d", h - 1);
	if (pid_of(name))
		return 0;
	char *argv[] = { "ceph-osd", "-f", "-c", LAB_CEPH_CONF, "-i", id, NULL };
	return spawn(h, name, argv);
}

static int start_mgr(void)
{
	if (pid_of("mgr.ceph1"))
		return 0;
	char *argv[] = { "ceph-mgr", "-f", "-c", LAB_CEPH_CONF, "-i", "ceph1", NULL };
	return spawn(1, "mgr.ceph1", argv);
}

/* ---- bring-up ------------------------------------------------------------- */

static int topology(void)
{
	int bad = 0;

	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		bad |= lab_ip("netns add ferry-ceph%d", h);
		bad |= lab_ip("-n ferry-ceph%d link set lo up", h);
		bad |= lab_ip("-n ferry-net link add mg-ceph%d type veth peer name mig0 netns ferry-ceph%d", h, h);
		bad |= lab_ip("-n ferry-net link set mg-ceph%d master br-mgmt up", h);
		bad |= lab_ip("-n ferry-ceph%d addr add %s/24 dev mig0", h, ceph_ip[h - 1]);
		bad |= lab_ip("-n ferry-ceph%d link set mig0 up", h);
	}
	return bad ? -1 : 0;
}

/* Each OSD's file: sparse, sized so that three replicas of everything fit
 * in 80% of the disk's free space (bluestore sees that as its capacity). */
static unsigned long long osd_size(void)
{
	struct statvfs s;
	unsigned long long free = statvfs(LAB_STORE_DIR, &s) == 0 ? (unsigned long long)s.f_bavail * s.f_frsize : 0;
	unsigned long long sz = free / 10 * 8 / LAB_CEPH_HOSTS;
	const unsigned long long max = 256ULL << 30;
	return sz > max ? max : sz;
}

static int conf(const char *fsid)
{
	struct buf b = {0};

	buf_printf(&b,
		   "# Ceph of the ferry lab (written by ferry lab up --ceph); every path under\n"
		   "# " LAB_CEPH_RUN " and " DATA ".\n"
		   "[global]\n"
		   "fsid = %s\n"
		   "mon initial members = ceph1, ceph2, ceph3\n"
		   "mon host = [v2:%s:3300,v1:%s:6789],[v2:%s:3300,v1:%s:6789],[v2:%s:3300,v1:%s:6789]\n"
		   "public network = 10.78.0.0/24\n"
		   "ms bind ipv6 = false\n"
		   "auth cluster required = cephx\nauth service required = cephx\nauth client required = cephx\n"
		   "auth allow insecure global id reclaim = false\n"
		   "run dir = " LAB_CEPH_RUN "/run\n"
		   "admin socket = " LAB_CEPH_RUN "/run/$name.asok\n"
		   "log file = " DATA "/log/$name.log\n"
		   "mon cluster log file = " DATA "/log/cluster.log\n"
		   "crash dir = " DATA "/crash\n"
		   "mon data = " DATA "/$name\nosd data = " DATA "/$name\nmgr data = " DATA "/$name\n"
		   "osd objectstore = bluestore\n"
		   "osd pool default size = 3\nosd pool default min size = 2\n"
		   "osd pool default pg autoscale mode = off\n"
		   "osd crush chooseleaf type = 1\n"
		   "mon allow pool delete = true\n"
		   /* A shared test disk: warn only when it is nearly full. */
		   "mon data avail warn = 3\nmon data avail crit = 1\n"
		   /* The smallest memory target Ceph takes; small caches. */
		   "osd memory target = 939524096\n"
		   "mgr initial modules = \n"
		   /* Daemons keep their key in their data folder (ceph-mon --mkfs
		    * writes it there); clients find theirs by name. */
		   "[mon]\nkeyring = " DATA "/$name/keyring\n"
		   "[mgr]\nkeyring = " DATA "/$name/keyring\n"
		   "[osd]\nkeyring = " DATA "/$name/keyring\n"
		   /* bluestore makes its block file in the OSD's folder, sparse */
		   "bluestore block size = %llu\n"
		   "[client]\n"
		   "keyring = " LAB_CEPH_RUN "/$cluster.$name.keyring\n"
		   "admin socket = \n"
		   "log file = " DATA "/log/client.log\n",
		   fsid, ceph_ip[0], ceph_ip[0], ceph_ip[1], ceph_ip[1], ceph_ip[2], ceph_ip[2], osd_size());
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++)
		buf_printf(&b, "[mon.ceph%d]\npublic addr = %s\n[osd.%d]\ncrush location = root=default host=ceph%d\n"
			   "public addr = %s\ncluster addr = %s\n",
			   h, ceph_ip[h - 1], h - 1, h, ceph_ip[h - 1], ceph_ip[h - 1]);
	int r = write_text(LAB_CEPH_CONF, 0644, b.data);
	buf_free(&b);
	return r;
}

/* The agents' client configuration: the monitors, and client.ferry's
 * keyring by its path (so no other user's key can be named through it). */
static int client_conf(const char *fsid)
{
	char text[1024], *key = NULL;

	mkdir_p(LAB_CEPH_CLIENT_DIR, 0755);
	snprintf(text, sizeof(text),
		 "# Ceph client configuration of the ferry lab's agents (written by ferry lab up --ceph)\n"
		 "[global]\nfsid = %s\n"
		 "mon host = [v2:%s:3300,v1:%s:6789],[v2:%s:3300,v1:%s:6789],[v2:%s:3300,v1:%s:6789]\n"
		 "auth cluster required = cephx\nauth service required = cephx\nauth client required = cephx\n"
		 "ms bind ipv6 = false\n"
		 "keyring = " LAB_CEPH_CLIENT_DIR "/ceph.client." LAB_CEPH_USER ".keyring\n"
		 "admin socket = \n"
		 "log file = " DATA "/log/client." LAB_CEPH_USER ".log\n",
		 fsid, ceph_ip[0], ceph_ip[0], ceph_ip[1], ceph_ip[1], ceph_ip[2], ceph_ip[2]);
	size_t kl = 0;
	int r = write_text(LAB_CEPH_CLIENT_CONF, 0644, text);
	if (r == 0 && (r = file_read_all(LAB_CEPH_RUN "/ceph.client." LAB_CEPH_USER ".keyring", 4096, &key, &kl)) == 0)
		r = file_write_atomic(LAB_CEPH_CLIENT_DIR "/ceph.client." LAB_CEPH_USER ".keyring", key, kl, 0600);
	free(key);
	return r;
}

static int keyring(const char *file, const char *name, const char *const caps[])
{
	char *argv[20] = { "ceph-authtool", "--create-keyring", (char *)file, "--gen-key", "-n", (char *)name };
	int n = 6;

	for (int i = 0; caps[i]; i += 2) {
		argv[n++] = "--cap";
		argv[n++] = (char *)caps[i];
		argv[n++] = (char *)caps[i + 1];
	}
	argv[n] = NULL;
	if (tool("making a key", 0, argv) < 0)
		return -1;
	return chmod(file, 0600);
}

static int import_key(const char *into, const char *from)
{
	char *argv[] = { "ceph-authtool", (char *)into, "--import-keyring", (char *)from, NULL };
	return tool("importing a key", 0, argv);
}

static int keys(void)
{
	static const char *const mon_caps[] = { "mon", "allow *", NULL };
	static const char *const admin_caps[] = { "mon", "allow *", "osd", "allow *", "mgr", "allow *", "mds", "allow *", NULL };
	static const char *const mgr_caps[] = { "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *", NULL };
	static const char *const ferry_caps[] = { "mon", "profile rbd", "osd", "profile rbd pool=" LAB_CEPH_POOL, "mgr",
						  "profile rbd pool=" LAB_CEPH_POOL, NULL };
	const char *mon = LAB_CEPH_RUN "/ceph.mon..keyring";
	const char *mgr = LAB_CEPH_RUN "/ceph.mgr.ceph1.keyring";
	const char *fer = LAB_CEPH_RUN "/ceph.client." LAB_CEPH_USER ".keyring";

	if (keyring(mon, "mon.", mon_caps) < 0 || keyring(ADMIN_KEYRING, "client.admin", admin_caps) < 0 ||
	    keyring(mgr, "mgr.ceph1", mgr_caps) < 0 || keyring(fer, "client." LAB_CEPH_USER, ferry_caps) < 0 ||
	    import_key(mon, ADMIN_KEYRING) < 0 || import_key(mon, mgr) < 0 || import_key(mon, fer) < 0)
		return -1;
	/* The admin keyring where "$cluster.$name" finds it too. */
	return link(ADMIN_KEYRING, LAB_CEPH_RUN "/ceph.client.admin.keyring") == 0 || errno == EEXIST ? 0 : -1;
}

static int mons(const char *fsid)
{
	char *mm[20] = { "monmaptool", "--create", "--clobber", "--fsid", (char *)fsid };
	char addrs[LAB_CEPH_HOSTS][80], ids[LAB_CEPH_HOSTS][16];
	int n = 5;

	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		snprintf(ids[h - 1], sizeof(ids[0]), "ceph%d", h);
		snprintf(addrs[h - 1], sizeof(addrs[0]), "[v2:%s:3300,v1:%s:6789]", ceph_ip[h - 1], ceph_ip[h - 1]);
		mm[n++] = "--addv";
		mm[n++] = ids[h - 1];
		mm[n++] = addrs[h - 1];
	}
	mm[n++] = LAB_CEPH_RUN "/monmap";
	mm[n] = NULL;
	if (tool("making the monitor map", 0, mm) < 0)
		return -1;
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		char d[256];
		snprintf(d, sizeof(d), DATA "/mon.ceph%d", h);
		mkdir_p(d, 0700);
		/* Inside the host's namespace: with "public network" set, the
		 * monitor looks for its address among the interfaces. */
		char *mk[] = { "ceph-mon", "-c", LAB_CEPH_CONF, "--mkfs", "-i", ids[h - 1], "--monmap", LAB_CEPH_RUN "/monmap",
			       "--keyring", LAB_CEPH_RUN "/ceph.mon..keyring", NULL };
		if (tool("making a monitor", h, mk) < 0 || start_mon(h) < 0)
			return -1;
	}
	return 0;
}

/* The monitors elect a leader a few seconds after they start. */
static int wait_quorum(int timeout_s)
{
	int64_t t0 = time_mono_us();
	struct buf out = {0};

	while (time_mono_us() - t0 < (int64_t)timeout_s * 1000000) {
		buf_free(&out);
		if (ceph(&out, "quorum_status", NULL) == 0) {
			buf_free(&out);
			return 0;
		}
		usleep(300000);
	}
	fprintf(stderr, "ferry: ceph: the monitors formed no quorum in %d s: %s (logs in " DATA "/log)\n", timeout_s,
		last_line(&out));
	buf_free(&out);
	return -1;
}

static int osds(void)
{
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		int id = h - 1;
		char uuid[40] = "", d[256], p[300], key[64], json[160], idtxt[8];
		char *u = NULL;
		size_t ul = 0;
		struct buf out = {0};

		if (file_read_all("/proc/sys/kernel/random/uuid", 64, &u, &ul) < 0 || ul < 36)
			return -1;
		snprintf(uuid, sizeof(uuid), "%.36s", u);
		free(u);
		char *gk[] = { "ceph-authtool", "--gen-print-key", NULL };
		if (run_in(0, gk, &out) != 0 || out.len < 20) {
			buf_free(&out);
			return -1;
		}
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(out.data, "\n"), out.data);
		buf_free(&out);
		snprintf(json, sizeof(json), "{\"cephx_secret\": \"%s\"}", key);
		snprintf(p, sizeof(p), LAB_CEPH_RUN "/osd.%d.json", id);
		snprintf(idtxt, sizeof(idtxt), "%d", id);
		if (write_text(p, 0600, json) < 0 || ceph(&out, "osd", "new", uuid, idtxt, "-i", p, NULL) != 0) {
			fprintf(stderr, "ferry: ceph: registering osd.%d failed: %s\n", id, last_line(&out));
			buf_free(&out);
			return -1;
		}
		buf_free(&out);
		unlink(p);
		snprintf(d, sizeof(d), DATA "/osd.%d", id);
		mkdir_p(d, 0700);
		snprintf(p, sizeof(p), "%s/keyring", d);
		char kr[160];
		snprintf(kr, sizeof(kr), "[osd.%d]\n\tkey = %s\n", id, key);
		if (write_text(p, 0600, kr) < 0)
			return -1;
		char *mk[] = { "ceph-osd", "-c", LAB_CEPH_CONF, "-i", idtxt, "--mkfs", "--osd-uuid", uuid, NULL };
		if (tool("making an OSD", h, mk) < 0 || start_osd(h) < 0)
			return -1;
	}
	return 0;
}

/* HEALTH_OK with every placement group active+clean (ceph health alone says
 * OK while PGs are still unknown). */
static int healthy(char *why, size_t n)
{
	struct buf out = {0};
	int r = ceph(&out, "status", "--format", "json", NULL);
	json_t *s = r == 0 && out.data ? json_loads(out.data, 0, NULL) : NULL;
	buf_free(&out);
	if (!s) {
		snprintf(why, n, "the monitors do not answer");
		return 0;
	}
	const char *h = json_string_value(json_object_get(json_object_get(s, "health"), "status"));
	json_t *pg = json_object_get(s, "pgmap");
	json_int_t total = json_integer_value(json_object_get(pg, "num_pgs")), clean = 0;
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(pg, "pgs_by_state"), i, st)
		if (!strcmp(json_string_value(json_object_get(st, "state_name")) ?: "", "active+clean"))
			clean += json_integer_value(json_object_get(st, "count"));
	int ok = h && !strcmp(h, "HEALTH_OK") && total > 0 && clean == total;
	snprintf(why, n, "%s, %lld of %lld placement groups active+clean", h ? h : "no health", (long long)clean,
		 (long long)total);
	json_decref(s);
	return ok;
}

static int wait_healthy(int timeout_s)
{
	char why[200] = "";
	int64_t t0 = time_mono_us();

	while (time_mono_us() - t0 < (int64_t)timeout_s * 1000000) {
		if (healthy(why, sizeof(why)))
			return 0;
		usleep(500000);
	}
	fprintf(stderr, "ferry: ceph: not healthy after %d s: %s (logs in " DATA "/log)\n", timeout_s, why);
	return -1;
}

static int pool(void)
{
	struct buf out = {0};

	if (ceph(&out, "osd", "pool", "create", LAB_CEPH_POOL, "32", "32", NULL) != 0 ||
	    ceph(&out, "osd", "pool", "application", "enable", LAB_CEPH_POOL, "rbd", NULL) != 0) {
		fprintf(stderr, "ferry: ceph: making the pool failed: %s\n", last_line(&out));
		buf_free(&out);
		return -1;
	}
	buf_free(&out);
	return 0;
}

int lab_ceph_up(void)
{
	int64_t t0 = time_mono_us();
	char why[200];

	if (lab_ceph_present() && access(LAB_CEPH_RUN "/up", F_OK) == 0) {
		/* Built before: start what stopped, then wait for health. */
		for (int h = 1; h <= LAB_CEPH_HOSTS; h++)
			if (start_mon(h) < 0 || start_osd(h) < 0)
				return -1;
		if (start_mgr() < 0 || wait_healthy(UP_TIMEOUT_S) < 0)
			return -1;
		healthy(why, sizeof(why));
		printf("lab: ceph already up: %s\n", why);
		return 0;
	}
	if (lab_ceph_present())
		lab_ceph_down(true);   /* half-built by a crash */
	printf("lab: ceph: three storage hosts (10.78.0.11-13), a monitor and an OSD on each, a manager on ceph1\n");
	char *fsid = NULL;
	size_t fl = 0;
	mkdir_p(LAB_CEPH_RUN "/run", 0700);
	mkdir_p(DATA "/log", 0700);
	mkdir_p(DATA "/crash", 0700);
	chmod(LAB_CEPH_RUN, 0700);
	chmod(DATA, 0700);
	if (topology() < 0 || file_read_all("/proc/sys/kernel/random/uuid", 64, &fsid, &fl) < 0) {
		fprintf(stderr, "ferry: ceph: cannot build its namespaces\n");
		free(fsid);
		return -1;
	}
	fsid[strcspn(fsid, "\n")] = 0;
	if (osd_size() < (4ULL << 30)) {
		fprintf(stderr, "ferry: ceph: too little free disk under " LAB_STORE_DIR " for three OSDs\n");
		free(fsid);
		return -1;
	}
	int r = conf(fsid) < 0 || keys() < 0 || client_conf(fsid) < 0 || mons(fsid) < 0 ? -1 : 0;
	free(fsid);
	if (r < 0)
		return -1;
	char mgrd[256];
	snprintf(mgrd, sizeof(mgrd), DATA "/mgr.ceph1");
	mkdir_p(mgrd, 0700);
	char *cp[] = { "cp", LAB_CEPH_RUN "/ceph.mgr.ceph1.keyring", DATA "/mgr.ceph1/keyring", NULL };
	if (run_cmd(cp, true) != 0 || wait_quorum(60) < 0 || start_mgr() < 0 || osds() < 0 || pool() < 0 || wait_healthy(UP_TIMEOUT_S) < 0)
		return -1;
	double secs = (double)(time_mono_us() - t0) / 1e6;
	char up[64];
	snprintf(up, sizeof(up), "%.1f\n", secs);
	write_text(LAB_CEPH_RUN "/up", 0600, up);
	healthy(why, sizeof(why));
	printf("lab: ceph healthy after %.1f s (%s); pool " LAB_CEPH_POOL " (size 3, min_size 2, a copy per host), "
	       "user client." LAB_CEPH_USER ", " LAB_CEPH_CONF "\n", secs, why);
	return 0;
}

static long rss_kb(pid_t pid)
{
	char p[64], *s = NULL;
	long kb = 0;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	if (file_read_all(p, 1 << 16, &s, NULL) == 0) {
		char *v = strstr(s, "VmRSS:");
		if (v)
			kb = strtol(v + 6, NULL, 10);
	}
	free(s);
	return kb;
}

json_t *lab_ceph_status(void)
{
	if (!lab_ceph_present())
		return NULL;
	json_t *d = json_object();
	long total = 0;
	char why[200] = "", *up = NULL;
	const char *names[] = { "mon.ceph1", "mon.ceph2", "mon.ceph3", "mgr.ceph1", "osd.0", "osd.1", "osd.2" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		pid_t pid = pid_of(names[i]);
		long kb = pid ? rss_kb(pid) : 0;
		total += kb;
		json_object_set_new(d, names[i], json_pack("{s:I, s:f}", "pid", (json_int_t)pid, "rss_mb", kb / 1024.0));
	}
	int ok = healthy(why, sizeof(why));
	json_t *o = json_pack("{s:b, s:s, s:o, s:f, s:s, s:s, s:s}", "healthy", ok, "health", why, "daemons", d, "rss_mb",
			      total / 1024.0, "conf", LAB_CEPH_CONF, "pool", LAB_CEPH_POOL, "user", "client." LAB_CEPH_USER);
	if (file_read_all(LAB_CEPH_RUN "/up", 64, &up, NULL) == 0)
		json_object_set_new(o, "bringup_s", json_real(strtod(up, NULL)));
	free(up);
	return o;
}

int lab_ceph_host_stop(int host)
{
	char n[32];

	if (host < 1 || host > LAB_CEPH_HOSTS)
		return -1;
	snprintf(n, sizeof(n), "osd.%d", host - 1);
	stop_daemon(n, 10000);
	snprintf(n, sizeof(n), "mon.ceph%d", host);
	stop_daemon(n, 5000);
	if (host == 1)
		stop_daemon("mgr.ceph1", 5000);
	return 0;
}

int lab_ceph_host_start(int host)
{
	if (host < 1 || host > LAB_CEPH_HOSTS || start_mon(host) < 0 || start_osd(host) < 0)
		return -1;
	return host == 1 ? start_mgr() : 0;
}

void lab_ceph_down(bool quiet)
{
	if (!lab_ceph_present() && access(LAB_CEPH_RUN, F_OK) != 0)
		return;
	if (!quiet)
		printf("lab: stopping ceph (OSDs, manager, monitors)\n");
	/* OSDs first (they take seconds on SIGTERM), all at once. */
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		char n[32];
		snprintf(n, sizeof(n), "osd.%d", h - 1);
		pid_t pid = pid_of(n);
		if (pid)
			kill(pid, SIGTERM);
	}
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		char n[32];
		snprintf(n, sizeof(n), "osd.%d", h - 1);
		stop_daemon(n, 8000);
	}
	stop_daemon("mgr.ceph1", 5000);
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		char n[32];
		snprintf(n, sizeof(n), "mon.ceph%d", h);
		stop_daemon(n, 5000);
	}
	for (int h = 1; h <= LAB_CEPH_HOSTS; h++) {
		char ns[48];
		snprintf(ns, sizeof(ns), "/run/netns/ferry-ceph%d", h);
		if (access(ns, F_OK) == 0 && lab_ip("netns del ferry-ceph%d", h) == 0 && !quiet)
			printf("lab: removed namespace ferry-ceph%d\n", h);
	}
	rm_rf(LAB_CEPH_RUN);
	rm_rf(DATA);
}

/* cmd_lab.c: ferry lab — the two-host lab in network namespaces (docs/lab.md).
 *
 *   ferry-net:     br-switch (VM network switch), br-mgmt (management network)
 *   ferry-a, -b:   br-vm (guests' TAPs) + uplink to br-switch; mig0 on br-mgmt
 *   ferry-client:  eth0 10.77.0.100 on br-switch; mig0 10.78.0.100 on br-mgmt
 *   ferry-storage: mig0 10.78.0.3 on br-mgmt
 * The switches live in a namespace of their own, so any host's link can be
 * cut without touching another host. */
#include "cli/cli.h"
#include "cli/lab_ceph.h"
#include "cli/lab_storage.h"
#include "config/cfgfile.h"
#include "net/stream.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#define LAB_DIR "/run/ferry-lab"
#define LAB_LOCK "/run/ferry-lab.lock"   /* outside LAB_DIR: lab down removes that */
#define AGENT_PORT 7077

struct lab_host {
	const char *name;
	const char *mgmt_ip;   /* on 10.78.0.0/24 */
	const char *vm_ip;     /* on 10.77.0.0/24, NULL: none */
	bool hypervisor;
};

static const struct lab_host lab_hosts[] = {
	{ "a", "10.78.0.1", NULL, true },
	{ "b", "10.78.0.2", NULL, true },
	{ "client", "10.78.0.100", "10.77.0.100", false },
	{ "storage", "10.78.0.3", NULL, false },
};
static const char *lab_netns[] = { "ferry-net", "ferry-a", "ferry-b", "ferry-client", "ferry-storage" };

/* Runs "ip ARGS" (ARGS split on spaces). Returns its exit status. */
int lab_ip(const char *fmt, ...)
{
	char line[512], *argv[64], *save = NULL;
	int n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	argv[n++] = "ip";
	for (char *t = strtok_r(line, " ", &save); t && n < 63; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
	int r = run_cmd(argv, true);
	if (r < 0) {
		fprintf(stderr, "ferry: cannot run ip (install iproute2)\n");
		return 1;
	}
	return r;
}

static bool netns_exists(const char *ns)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return access(path, F_OK) == 0;
}

/* The pid of the agent of host, or 0: an agent runs while it holds the lock
 * on its ferryd.lock (until its very end, sanitizer reports included). */
pid_t lab_agent_pid(const char *host)
{
	char path[256];
	pid_t pid = 0;
	int fd;

	snprintf(path, sizeof(path), LAB_DIR "/%s/ferryd.lock", host);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		pid = pid_read_file(path);
	close(fd);
	return pid;
}

/* Signals pid and waits up to wait_ms for it to end. */
static void end_process(pid_t pid, int sig, int wait_ms)
{
	kill(pid, sig);
	for (int i = 0; i < wait_ms / 20 && pid_alive(pid); i++)
		usleep(20000);
	if (pid_alive(pid)) {
		kill(pid, SIGKILL);
		for (int i = 0; i < 100 && pid_alive(pid); i++)
			usleep(20000);
	}
	/* A moment for its parent to reap it, so no zombie outlives the lab. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	for (int i = 0; i < 25 && access(path, F_OK) == 0; i++)
		usleep(20000);
}

static int build_topology(void)
{
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(lab_netns); i++) {
		bad |= lab_ip("netns add %s", lab_netns[i]);
		bad |= lab_ip("-n %s link set lo up", lab_netns[i]);
	}
	/* STP off, or a new port waits 30 s before it forwards. */
	bad |= lab_ip("-n ferry-net link add br-switch type bridge stp_state 0");
	bad |= lab_ip("-n ferry-net link add br-mgmt type bridge stp_state 0");
	bad |= lab_ip("-n ferry-net link set br-switch type bridge forward_delay 0");
	bad |= lab_ip("-n ferry-net link set br-mgmt type bridge forward_delay 0");
	bad |= lab_ip("-n ferry-net link set br-switch up");
	bad |= lab_ip("-n ferry-net link set br-mgmt up");
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++) {
		const struct lab_host *h = &lab_hosts[i];
		const char *n = h->name;
		/* Management network. */
		bad |= lab_ip("-n ferry-net link add mg-%s type veth peer name mig0 netns ferry-%s", n, n);
		bad |= lab_ip("-n ferry-net link set mg-%s master br-mgmt up", n);
		bad |= lab_ip("-n ferry-%s addr add %s/24 dev mig0", n, h->mgmt_ip);
		bad |= lab_ip("-n ferry-%s link set mig0 up", n);
		if (h->hypervisor) {
			/* The host's VM bridge, uplinked to the switch. */
			bad |= lab_ip("-n ferry-%s link add br-vm type bridge stp_state 0", n);
			bad |= lab_ip("-n ferry-%s link set br-vm type bridge forward_delay 0", n);
			bad |= lab_ip("-n ferry-%s link set br-vm up", n);
			bad |= lab_ip("-n ferry-net link add vm-%s type veth peer name uplink netns ferry-%s", n, n);
			bad |= lab_ip("-n ferry-net link set vm-%s master br-switch up", n);
			bad |= lab_ip("-n ferry-%s link set uplink master br-vm up", n);
		} else if (h->vm_ip) {
			bad |= lab_ip("-n ferry-net link add vm-%s type veth peer name eth0 netns ferry-%s", n, n);
			bad |= lab_ip("-n ferry-net link set vm-%s master br-switch up", n);
			bad |= lab_ip("-n ferry-%s addr add %s/24 dev eth0", n, h->vm_ip);
			bad |= lab_ip("-n ferry-%s link set eth0 up", n);
		}
	}
	/* A switch does not run the firewall: where br_netfilter is loaded (its
	 * settings are per namespace), bridged frames would cross iptables,
	 * ip6tables and arptables, which cost the prober ~3% of a core at
	 * 1 kHz. Nothing to do (and an error to ignore) where it is not. */
	static const char *bridged[] = { "ferry-net", "ferry-a", "ferry-b" };
	for (size_t i = 0; i < ARRAY_SIZE(bridged); i++)
		lab_ip("netns exec %s sysctl -q -w net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 "
		   "net.bridge.bridge-nf-call-arptables=0", bridged[i]);
	return bad ? -1 : 0;
}

static int write_text(const char *path, int mode, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int write_text(const char *path, int mode, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = file_write_atomic(path, s, n, mode);
	free(s);
	return r;
}

static void ferryd_path(char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (len > 0) {
		self[len] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			snprintf(out, n, "%.*s/ferryd", (int)(slash - self), self);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, n, "ferryd");
}

static int start_agent(const char *host)
{
	char conf[256], log[256], sock[256], ferryd[PATH_MAX], ns[64];
	struct ferr err = {0};

	snprintf(conf, sizeof(conf), LAB_DIR "/%s.conf", host);
	snprintf(log, sizeof(log), LAB_DIR "/%s/ferryd.log", host);
	snprintf(sock, sizeof(sock), LAB_DIR "/%s/ferryd.sock", host);
	snprintf(ns, sizeof(ns), "ferry-%s", host);
	ferryd_path(ferryd, sizeof(ferryd));
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setsid();
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("ip", "ip", "netns", "exec", ns, ferryd, "-c", conf, (char *)NULL);
		_exit(127);
	}
	/* Ready when its socket answers. */
	for (int i = 0; i < 250; i++) {
		int fd = sock_connect_unix(sock, &err);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (!pid_alive(pid))
			break;
		usleep(20000);
	}
	fprintf(stderr, "ferry: ferryd on host %s did not start; see %s\n", host, log);
	return -EIO;
}

static int lab_down(bool quiet);

/* The agent config of lab host h; the caller frees. VM files may come from
 * the lab's own image folder and from the folder lab up ran in (the
 * project's checkout: build/guest), unless that is "/". */
static char *agent_conf(const struct lab_host *h, bool allow_insecure)
{
	char cwd[PATH_MAX];
	struct buf dirs = {0}, b = {0};

	mkdir_p(LAB_DIR "/images", 0700);
	cfg_quote(&dirs, LAB_DIR "/images");
	buf_append(&dirs, ", ", 2);
	cfg_quote(&dirs, LAB_STORE_DIR);   /* the lab-dir pools */
	if (getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/")) {
		buf_append(&dirs, ", ", 2);
		cfg_quote(&dirs, cwd);
	}
	buf_printf(&b,
		   "# ferryd on lab host %s (written by ferry lab up)\n"
		   "host = \"%s\"\n"
		   "listen = [ \"unix:" LAB_DIR "/%s/ferryd.sock\", \"tcp:%s:%d\" ]\n"
		   "state_dir = \"" LAB_DIR "/%s\"\n"
		   "key_file = \"" LAB_DIR "/key\"\n"
		   "vm_dirs = [ %s ]\n"
		   "allow_insecure = %d\n",
		   h->name, h->name, h->name, h->mgmt_ip, AGENT_PORT, h->name, dirs.data, allow_insecure ? 1 : 0);
	if (lab_ceph_present())
		buf_printf(&b, "ceph_dirs = [ \"" LAB_CEPH_CLIENT_DIR "\" ]\n");
	buf_free(&dirs);
	return b.data;
}

static int lab_pools(struct cli *cli, const struct lab_host *h);

static int lab_up(struct cli *cli, int argc, char **argv)
{
	bool agents = true, allow_insecure = false, with_ceph = false;
	bool ready = access(LAB_DIR "/topology", F_OK) == 0;
	char path[256];
	struct ferr err = {0};

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--no-agents"))
			agents = false;
		else if (!strcmp(argv[i], "--allow-insecure"))
			allow_insecure = true;
		else if (!strcmp(argv[i], "--ceph"))
			with_ceph = true;
		else {
			fprintf(stderr, "ferry lab up: unknown option %s ('ferry lab --help')\n", argv[i]);
			return 2;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(lab_netns); i++)
		ready = ready && netns_exists(lab_netns[i]);
	if (!ready) {
		lab_down(true);   /* a half-built lab from a crash */
		printf("lab: building namespaces, bridges and links\n");
		mkdir_p(LAB_DIR, 0700);
		if (build_topology() < 0) {
			fprintf(stderr, "ferry: building the lab failed (see 'ip' above); removing what was made\n");
			lab_down(true);
			return 1;
		}
		write_text(LAB_DIR "/topology", 0600, "built\n");
	} else {
		printf("lab: namespaces already up\n");
	}
	if (access(LAB_DIR "/key", F_OK) != 0 && tls_key_generate(LAB_DIR "/key", &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	if (lab_storage_up() < 0)
		return 1;
	if ((with_ceph || lab_ceph_present()) && lab_ceph_up() < 0)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++) {
		const struct lab_host *h = &lab_hosts[i];
		if (!h->hypervisor)
			continue;
		snprintf(path, sizeof(path), LAB_DIR "/%s", h->name);
		mkdir_p(path, 0700);
		snprintf(path, sizeof(path), LAB_DIR "/%s.conf", h->name);
		char *conf = agent_conf(h, allow_insecure), *was = NULL;
		/* A running agent with another config (say, --allow-insecure
		 * now or no more) is restarted with the new one. */
		if (file_read_all(path, 65536, &was, NULL) == 0 && strcmp(was, conf) && lab_agent_pid(h->name)) {
			printf("lab: ferryd on %s restarts with its new config\n", h->name);
			end_process(lab_agent_pid(h->name), SIGTERM, 3000);
		}
		free(was);
		write_text(path, 0600, "%s", conf);
		free(conf);
	}
	write_text(LAB_DIR "/hosts", 0644,
		   "# ferry lab hosts (written by ferry lab up): NAME ADDRESS:PORT [options]\n"
		   "a 10.78.0.1:%d netns=ferry-client key=" LAB_DIR "/key socket=" LAB_DIR "/a/ferryd.sock\n"
		   "b 10.78.0.2:%d netns=ferry-client key=" LAB_DIR "/key socket=" LAB_DIR "/b/ferryd.sock\n",
		   AGENT_PORT, AGENT_PORT);
	if (agents) {
		for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++) {
			const char *n = lab_hosts[i].name;
			if (!lab_hosts[i].hypervisor)
				continue;
			if (lab_agent_pid(n)) {
				printf("lab: ferryd on %s already runs (pid %d)\n", n, (int)lab_agent_pid(n));
				continue;
			}
			if (start_agent(n) < 0)
				return 1;
			printf("lab: ferryd on %s runs (pid %d, %s:%d, log " LAB_DIR "/%s/ferryd.log)\n", n,
			       (int)lab_agent_pid(n), lab_hosts[i].mgmt_ip, AGENT_PORT, n);
		}
		for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++)
			if (lab_hosts[i].hypervisor && lab_pools(cli, &lab_hosts[i]) < 0)
				return 1;
		printf("lab: pools lab-nfs%s and lab-smb (shared) and lab-dir (each host's own) on a and b\n",
		       lab_ceph_present() ? ", lab-rbd" : "");
	}
	printf("lab: up; hosts file " LAB_DIR "/hosts (ferry -H a ..., ferry -H b ...)\n");
	return 0;
}

/* The lab's pools on host h, defined through its agent unless they are:
 * lab-nfs and lab-smb (the storage host's NFS export and SMB share, shared
 * by a and b) and lab-dir (a folder of h's own, not shared). */
static int lab_pools(struct cli *cli, const struct lab_host *h)
{
	struct cli c = *cli;
	char dir[256];
	json_t *res, *have = json_object(), *p;
	size_t i;
	int r = 0;

	c.host = h->name;
	c.hosts = LAB_DIR "/hosts";
	c.json = false;
	if (cli_call(&c, "pool-list", json_object(), &res)) {
		json_decref(have);
		return -1;
	}
	json_array_foreach(json_object_get(res, "pools"), i, p)
		json_object_set(have, json_string_value(json_object_get(p, "name")), json_true());
	json_decref(res);
	snprintf(dir, sizeof(dir), LAB_STORE_DIR "/%s/pool", h->name);
	mkdir_p(dir, 0700);
	json_t *defs[] = {
		json_pack("{s:s, s:s, s:s, s:i, s:i}", "name", "lab-nfs", "type", "nfs", "location",
			  "nfs://" LAB_STORAGE_IP LAB_NFS_EXPORT, "uid", LAB_NFS_UID, "gid", LAB_NFS_UID),
		json_pack("{s:s, s:s, s:s}", "name", "lab-dir", "type", "dir", "location", dir),
		json_pack("{s:s, s:s, s:s, s:s}", "name", "lab-smb", "type", "smb", "location",
			  "smb://" LAB_STORAGE_IP "/" LAB_SMB_SHARE, "credentials", LAB_SMB_CREDENTIALS),
	};
	json_t *rbd = lab_ceph_present() ?
		json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "lab-rbd", "type", "rbd", "location", "rbd://" LAB_CEPH_POOL,
			  "ceph_conf", LAB_CEPH_CLIENT_CONF, "ceph_user", LAB_CEPH_USER) : NULL;
	if (rbd && !json_object_get(have, "lab-rbd")) {
		if (cli_call(&c, "pool-define", rbd, &res) == 0)
			json_decref(res);
		else
			r = -1;
	} else {
		json_decref(rbd);
	}
	for (i = 0; i < ARRAY_SIZE(defs); i++) {
		const char *name = json_string_value(json_object_get(defs[i], "name"));
		if (r < 0 || json_object_get(have, name)) {
			json_decref(defs[i]);
		} else if (cli_call(&c, "pool-define", defs[i], &res) == 0) {
			json_decref(res);
		} else {
			r = -1;
		}
	}
	json_decref(have);
	return r;
}

/* Ends the QEMUs that lab agents started, found by their pidfiles. */
static void kill_lab_qemus(const char *host)
{
	char dir[256];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), LAB_DIR "/%s/vms", host);
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char pidfile[600], sock[600];
		if (de->d_name[0] == '.')
			continue;
		snprintf(pidfile, sizeof(pidfile), "%s/%s/qemu.pid", dir, de->d_name);
		snprintf(sock, sizeof(sock), "%s/%s/qmp.sock", dir, de->d_name);
		pid_t pid = pid_read_file(pidfile);
		if (pid_cmdline_has(pid, sock)) {
			printf("lab: ending QEMU of %s on %s (pid %d)\n", de->d_name, host, (int)pid);
			end_process(pid, SIGKILL, 2000);
		}
	}
	closedir(d);
}

/* Ends what still runs inside a lab namespace (all started by the lab). */
static void kill_netns_pids(const char *ns)
{
	char cmd[128];
	FILE *f;
	int pid;

	snprintf(cmd, sizeof(cmd), "ip netns pids %s 2>/dev/null", ns);
	if (!(f = popen(cmd, "r")))
		return;
	while (fscanf(f, "%d", &pid) == 1) {
		if (pid > 1 && pid != getpid()) {
			printf("lab: ending pid %d left in %s\n", pid, ns);
			end_process(pid, SIGTERM, 1000);
		}
	}
	pclose(f);
}

static int lab_down(bool quiet)
{
	int left = 0;

	/* QEMUs first, while their agents still run to reap them. */
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++)
		kill_lab_qemus(lab_hosts[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++) {
		const char *n = lab_hosts[i].name;
		pid_t pid = lab_agent_pid(n);
		if (pid) {
			if (!quiet)
				printf("lab: stopping ferryd on %s (pid %d)\n", n, (int)pid);
			end_process(pid, SIGTERM, 3000);
		}
	}
	if (!quiet && netns_exists("ferry-storage"))
		printf("lab: stopping the storage servers\n");
	lab_storage_stop();
	lab_ceph_down(quiet);   /* its namespaces hang on ferry-net's switch */
	for (size_t i = 0; i < ARRAY_SIZE(lab_netns); i++) {
		if (!netns_exists(lab_netns[i]))
			continue;
		kill_netns_pids(lab_netns[i]);
		if (lab_ip("netns del %s", lab_netns[i]) != 0) {
			fprintf(stderr, "ferry: cannot delete namespace %s\n", lab_netns[i]);
			left++;
		} else if (!quiet) {
			printf("lab: removed namespace %s\n", lab_netns[i]);
		}
	}
	rm_rf(LAB_DIR);
	lab_storage_remove();   /* its servers ended with their namespace */
	if (!quiet)
		printf("lab: down\n");
	return left ? 1 : 0;
}

static int lab_status(const struct cli *cli)
{
	json_t *o = json_object(), *ns = json_object(), *ag = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(lab_netns); i++)
		json_object_set_new(ns, lab_netns[i], json_boolean(netns_exists(lab_netns[i])));
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++)
		if (lab_hosts[i].hypervisor)
			json_object_set_new(ag, lab_hosts[i].name, json_integer(lab_agent_pid(lab_hosts[i].name)));
	json_object_set_new(o, "namespaces", ns);
	json_object_set_new(o, "agents", ag);
	json_object_set_new(o, "hosts_file", access(LAB_DIR "/hosts", F_OK) == 0 ? json_string(LAB_DIR "/hosts") : json_null());
	json_t *st = lab_storage_status(), *ceph = lab_ceph_status();
	json_object_set_new(o, "storage", st);
	if (ceph)
		json_object_set_new(o, "ceph", ceph);
	if (cli->json) {
		cli_print_json(o);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(ns, k, v)
			printf("namespace %-14s %s\n", k, json_is_true(v) ? "up" : "absent");
		json_object_foreach(ag, k, v)
			if (json_integer_value(v))
				printf("ferryd on %-14s pid %lld\n", k, (long long)json_integer_value(v));
			else
				printf("ferryd on %-14s not running\n", k);
		json_object_foreach(st, k, v)
			printf("%-3s server %-13s %s (%s)\n", k, json_string_value(json_object_get(v, "url")),
			       json_integer_value(json_object_get(v, "pid")) ? "running" : "not running",
			       !strcmp(k, "nfs") ? "root squash on" : LAB_SMB_CREDENTIALS);
		if (ceph) {
			printf("ceph: %s (%s); 7 daemons, %.0f MB resident; brought up in %.1f s; %s\n",
			       json_is_true(json_object_get(ceph, "healthy")) ? "healthy" : "NOT healthy",
			       json_string_value(json_object_get(ceph, "health")),
			       json_real_value(json_object_get(ceph, "rss_mb")),
			       json_real_value(json_object_get(ceph, "bringup_s")), LAB_CEPH_CONF);
			json_object_foreach(json_object_get(ceph, "daemons"), k, v)
				printf("  %-10s pid %-7lld %.0f MB\n", k,
				       (long long)json_integer_value(json_object_get(v, "pid")),
				       json_real_value(json_object_get(v, "rss_mb")));
		}
	}
	json_decref(o);
	return 0;
}

static int lab_exec(int argc, char **argv)
{
	char ns[64];
	bool known = false;

	if (argc < 4) {
		cli_usage("lab", true);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lab_hosts); i++)
		known |= !strcmp(lab_hosts[i].name, argv[2]);
	/* the Ceph storage hosts of lab up --ceph */
	known |= !strncmp(argv[2], "ceph", 4) && argv[2][4] >= '1' && argv[2][4] < '1' + LAB_CEPH_HOSTS && !argv[2][5];
	if (!known) {
		fprintf(stderr, "ferry: unknown lab host '%s' (a, b, client, storage, ceph1-3)\n", argv[2]);
		return 2;
	}
	snprintf(ns, sizeof(ns), "ferry-%s", argv[2]);
	if (!netns_exists(ns)) {
		fprintf(stderr, "ferry: the lab is not up (no namespace %s); run 'ferry lab up%s'\n", ns,
			strncmp(argv[2], "ceph", 4) ? "" : " --ceph");
		return 1;
	}
	char **args = xcalloc(argc + 2, sizeof(char *));
	args[0] = "ip";
	args[1] = "netns";
	args[2] = "exec";
	args[3] = ns;
	for (int j = 3; j < argc; j++)
		args[j + 1] = argv[j];
	execvp("ip", args);
	fprintf(stderr, "ferry: cannot run ip: %s\n", strerror(errno));
	return 1;
}

/* lab stop|start storage|nfs|smb|ceph1..3: a storage host's servers (or
 * one of the storage host's two) end, or run again (the failures
 * docs/storage.md compares). */
static int lab_storage_host(int argc, char **argv)
{
	bool stop = !strcmp(argv[1], "stop");
	const char *h = argc == 3 ? argv[2] : "";
	int n = !strncmp(h, "ceph", 4) && h[4] >= '1' && h[4] < '1' + LAB_CEPH_HOSTS && !h[5] ? h[4] - '0' : 0;

	bool one = !strcmp(h, "nfs") || !strcmp(h, "smb");
	if (strcmp(h, "storage") && !one && !n) {
		fprintf(stderr, "ferry lab %s: which storage host: storage (NFS and SMB), nfs or smb (one of its servers) "
			"or ceph1-3\n", argv[1]);
		return 2;
	}
	if (n && !lab_ceph_present()) {
		fprintf(stderr, "ferry: the lab's ceph is not up ('ferry lab up --ceph')\n");
		return 1;
	}
	if (!n && !netns_exists("ferry-storage")) {
		fprintf(stderr, "ferry: the lab is not up\n");
		return 1;
	}
	int r = n      ? (stop ? lab_ceph_host_stop(n) : lab_ceph_host_start(n)) :
		one    ? lab_storage_server(h, !stop) :
		stop   ? (lab_storage_stop(), 0) :
			 lab_storage_up();
	if (r == 0 && one)
		printf("lab: the %s server %s\n", h, stop ? "stopped" : "running");
	else if (r == 0)
		printf("lab: %s's servers %s\n", h, stop ? "stopped" : "running");
	return r == 0 ? 0 : 1;
}

int cmd_lab(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || (argc == 2 && want_help(argc, argv)))
		return cli_usage("lab", argc < 2);
	const char *sub = argv[1];
	if (strcmp(sub, "exec") && want_help(argc, argv))
		return cli_usage("lab", false);
	if (!strcmp(sub, "status")) {
		/* lab status [--json] */
		if (cli_getopt(cli, argc - 1, argv + 1, NULL, NULL) != -1 || cli_args_done(argc - 1, argv + 1, 0) < 0)
			return 2;
		return lab_status(cli);
	}
	if (geteuid() != 0) {
		fprintf(stderr, "ferry: the lab needs root (it creates network namespaces)\n");
		return 1;
	}
	if (!strcmp(sub, "up") || !strcmp(sub, "down")) {
		/* Two runs at once would tear down each other's lab. */
		int lk = open(LAB_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lk < 0 || flock(lk, LOCK_EX | LOCK_NB) < 0) {
			if (lk >= 0 && errno == EWOULDBLOCK)
				printf("lab: waiting for another 'ferry lab' run to finish\n");
			if (lk < 0 || flock(lk, LOCK_EX) < 0) {
				fprintf(stderr, "ferry: cannot lock %s: %s\n", LAB_LOCK, strerror(errno));
				return 1;
			}
		}
		if (!strcmp(sub, "down") && argc > 2) {
			fprintf(stderr, "ferry lab: unexpected argument '%s' ('ferry lab --help')\n", argv[2]);
			close(lk);
			return 2;
		}
		int r = !strcmp(sub, "up") ? lab_up(cli, argc, argv) : lab_down(false);
		close(lk);
		return r;
	}
	if (!strcmp(sub, "exec"))
		return lab_exec(argc, argv);
	if (!strcmp(sub, "stop") || !strcmp(sub, "start"))
		return lab_storage_host(argc, argv);
	fprintf(stderr, "ferry: unknown lab command '%s' (up, down, status, exec, stop, start)\n", sub);
	return 2;
}

/* qemu.c: how a VM config becomes a QEMU command line; accelerator choice;
 * host checks done before anything starts; TAP-to-bridge attachment. */
#include "ferryd/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

int qemu_choose_accel(enum vm_accel want, enum vm_accel *out, struct ferr *err)
{
	char why[256];

	if (want == ACCEL_TCG) {
		*out = ACCEL_TCG;
		return 0;
	}
	if (kvm_usable(why, sizeof(why))) {
		*out = ACCEL_KVM;
		return 0;
	}
	if (want == ACCEL_KVM) {
		ferr_set(err, "accel \"kvm\" was asked for, but KVM cannot run a guest on this host: %s", why);
		return -ENODEV;
	}
	*out = ACCEL_TCG;
	return 0;
}

static bool in_path(const char *bin)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(bin, '/'))
		return access(bin, X_OK) == 0;
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - path), path, bin);
		if (access(buf, X_OK) == 0)
			return true;
		path = *end ? end + 1 : end;
	}
	return false;
}

bool qemu_cache_direct(const struct vm_disk *d)
{
	if (!d->cache[0])
		return d->shared;
	return !strcmp(d->cache, "none") || !strcmp(d->cache, "directsync");
}

/* A disk on storage another host opens too must not be cached by this host
 * beyond what a flush pushes to the server: after a move the other host would
 * read what this one never wrote back (writeback, writethrough: the host page
 * cache, not coherent between hosts) or lose what the guest flushed (unsafe).
 * libvirt refuses such moves too; ferry refuses such disks when they start. */
int qemu_check_cache(const struct vm_config *c, struct ferr *err)
{
	for (int i = 0; i < c->n_disks; i++) {
		const struct vm_disk *d = &c->disks[i];
		if (!d->shared || qemu_cache_direct(d) || !d->cache[0])
			continue;
		char where[48] = "";
		if (d->pool[0])
			snprintf(where, sizeof(where), " (pool %s)", d->pool);
		ferr_set(err, "%s:%d: disk %s: cache=%s is refused on shared storage%s: %s; use cache=none (the default "
			 "there) or directsync", c->source ?: "<config>", d->line, d->vdev, d->cache, where,
			 !strcmp(d->cache, "unsafe") ? "it drops the guest's flushes, so a move or a crash can lose what the guest "
							"made durable" :
						       "this host's page cache would hold data the other host cannot see, so "
						       "after a move the guest could read stale blocks");
		return -EINVAL;
	}
	return 0;
}

int qemu_check_host(const struct agent *ag, const struct vm_config *c, struct ferr *err)
{
	if (qemu_check_cache(c, err) < 0)
		return -EINVAL;
	if (c->cpu[0] && !qemu_cpu_offered(ag, c->cpu)) {
		ferr_set(err, "%s: CPU model %s is not offered on host %s (%s)", c->source ?: c->name, c->cpu, ag->cfg->host,
			 ag->cfg->n_cpu_models ? "not in cpu_models of its agent config" : "its QEMU does not know it");
		return -EINVAL;
	}
	if (!in_path(ag->cfg->qemu)) {
		ferr_set(err, "QEMU (%s) is not installed on host %s; install the qemu-system-x86 package",
			 ag->cfg->qemu, ag->cfg->host);
		return -ENOENT;
	}
	if (c->kernel && access(c->kernel, R_OK) < 0) {
		ferr_set(err, "the kernel of %s, %s, cannot be read on host %s: %s", c->name, c->kernel,
			 ag->cfg->host, strerror(errno));
		return -ENOENT;
	}
	if (c->ramdisk && access(c->ramdisk, R_OK) < 0) {
		ferr_set(err, "the ramdisk of %s, %s, cannot be read on host %s: %s", c->name, c->ramdisk,
			 ag->cfg->host, strerror(errno));
		return -ENOENT;
	}
	for (int i = 0; i < c->n_disks; i++) {
		const struct vm_disk *d = &c->disks[i];
		if (strstr(d->target, "://"))
			continue;
		if (access(d->target, d->readonly ? R_OK : R_OK | W_OK) < 0) {
			ferr_set(err, "disk %s of %s, %s, cannot be opened on host %s: %s", d->vdev, c->name,
				 d->target, ag->cfg->host, strerror(errno));
			return -ENOENT;
		}
	}
	for (int i = 0; i < c->n_vifs; i++) {
		if (!if_nametoindex(c->vifs[i].bridge)) {
			ferr_set(err, "bridge %s (vif %d of %s) does not exist on host %s", c->vifs[i].bridge, i,
				 c->name, ag->cfg->host);
			return -ENODEV;
		}
	}
	return 0;
}

void qemu_tap_name(const struct vm_config *c, int idx, char out[16])
{
	if (strlen(c->name) <= 10) {
		snprintf(out, 16, "fy-%.10s.%u", c->name, (unsigned)idx % 10u);
	} else {
		snprintf(out, 16, "fy-%08x.%u", hash_fnv1a(c->name), (unsigned)idx % 10u);
	}
}

static void push(char ***argv, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void push(char ***argv, int *n, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	*argv = xrealloc(*argv, (*n + 2) * sizeof(char *));
	(*argv)[(*n)++] = s;
	(*argv)[*n] = NULL;
}

int qemu_parse_version(const char *text)
{
	const char *p = strstr(text, "version ");
	int major, minor;

	if (!p || sscanf(p + 8, "%d.%d", &major, &minor) != 2 || major < 0 || minor < 0 || minor > 99)
		return 0;
	return major * 100 + minor;
}

int qemu_probe_version(const char *qemu)
{
	struct buf out = {0};
	char *argv[] = { (char *)qemu, "--version", NULL };
	int v = run_capture(qemu, argv, &out) == 0 ? qemu_parse_version(out.data) : 0;

	buf_free(&out);
	return v;
}

/* "NAME  description..." lines after the heading: the names, one per line
 * between newlines ("\nA\nB\n"), for qemu_list_has. prefix: what each line
 * starts with ("x86 " for -cpu help, "" for -machine help). */
static void parse_names(const char *text, const char *prefix, struct buf *out)
{
	size_t np = strlen(prefix);

	buf_printf(out, "\n");
	for (const char *l = strchr(text, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
		const char *p = l + 1;
		if (strncmp(p, prefix, np) || p[np] == ' ' || p[np] == '\n')
			continue;
		p += np;
		size_t n = strcspn(p, " \n");
		if (n > 0 && n < 64)
			buf_printf(out, "%.*s\n", (int)n, p);
	}
}

void qemu_parse_machines(const char *text, struct buf *names, char *pc, size_t n)
{
	const char *a = strstr(text, "\npc ");

	parse_names(text, "", names);
	pc[0] = 0;
	/* "pc    Standard PC (...) (alias of pc-i440fx-7.2)" */
	if (a && (a = strstr(a, "(alias of ")) && (size_t)(strchrnul(a, '\n') - a) > 11) {
		a += 10;
		size_t k = strcspn(a, ")\n");
		snprintf(pc, n, "%.*s", (int)k, a);
	}
}

void qemu_parse_cpus(const char *text, struct buf *names)
{
	parse_names(text, "x86 ", names);
}

bool qemu_list_has(const char *list, const char *name)
{
	char k[80];

	if (!list || !name[0] || strlen(name) > 64)
		return false;
	snprintf(k, sizeof(k), "\n%s\n", name);
	return strstr(list, k) != NULL;
}

void qemu_probe_lists(struct agent *ag)
{
	struct buf out = {0}, names = {0};
	char *m[] = { ag->cfg->qemu, "-machine", "help", NULL }, *c[] = { ag->cfg->qemu, "-cpu", "help", NULL };

	if (run_capture(ag->cfg->qemu, m, &out) == 0 && out.data) {
		qemu_parse_machines(out.data, &names, ag->qemu_pc, sizeof(ag->qemu_pc));
		ag->qemu_machines = names.data;
		names = (struct buf){0};
	}
	buf_free(&out);
	if (run_capture(ag->cfg->qemu, c, &out) == 0 && out.data) {
		qemu_parse_cpus(out.data, &names);
		ag->qemu_cpus = names.data;
	}
	buf_free(&out);
}

bool qemu_cpu_offered(const struct agent *ag, const char *model)
{
	/* An unknown list (the probe failed) refuses nothing: QEMU will. */
	if (ag->qemu_cpus && !qemu_list_has(ag->qemu_cpus, model))
		return false;
	if (ag->cfg->n_cpu_models == 0)
		return true;
	for (int i = 0; i < ag->cfg->n_cpu_models; i++)
		if (!strcmp(ag->cfg->cpu_models[i], model))
			return true;
	return false;
}

/* QEMU before 9.0 loses guest writes during a TCG migration: its fast path
 * for syncing the dirty bitmap (taken for RAM blocks whose size is a multiple
 * of 64 pages) clears dirty bits without resetting the TCG TLB, so later
 * stores through a cached TLB entry are never marked dirty and never resent
 * (fixed upstream by commit 03bfc2188f, "physmem: Fix migration dirty bitmap
 * coherency with TCG memory access"). Seen here: lost writes on every move,
 * then a dead virtio ring and a hung guest. A RAM size 8 KiB off that
 * multiple sends QEMU down its per-page path, which resets the TLB. */
long qemu_ram_kb(const struct vm_config *c, enum vm_accel accel, int qemu_version)
{
	long kb = (long)c->memory_mb * 1024;

	if (accel == ACCEL_TCG && qemu_version < 900)
		kb += 8;
	return kb;
}

/* A volume of an NFS pool (pool.c made the URL: nfs://IP/PATH?uid=U&gid=G):
 * QEMU's own NFS client opens it, as that uid and gid. libnfs keeps no page
 * cache by default: nothing to flush in a migration's pause. */
static void push_nfs(char ***a, int *n, const struct vm_disk *d, const char *ro)
{
	const char *h = d->target + 6, *path = strchr(h, '/');
	const char *q = path ? strchr(path, '?') : NULL;
	const char *uid = q ? strstr(q, "uid=") : NULL, *gid = q ? strstr(q, "gid=") : NULL;
	char ids[64] = "";

	if (uid)
		snprintf(ids, sizeof(ids), ",user=%ld", strtol(uid + 4, NULL, 10));
	if (gid)
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), ",group=%ld", strtol(gid + 4, NULL, 10));
	push(a, n, "driver=nfs,server.type=inet,server.host=%.*s,path=%.*s%s,node-name=%s-file%s", path ? (int)(path - h) : 0,
	     h, path ? (q ? (int)(q - path) : (int)strlen(path)) : 0, path ? path : "", ids, d->vdev, ro);
}

/* A volume of an RBD pool (pool.c made the target:
 * rbd://FSID/POOL/VOL?user=USER&conf=PATH, every part checked when the pool
 * was defined): QEMU's rbd driver opens it through librbd. cache.direct=on
 * (cache=none, the default on shared pools) turns librbd's own client
 * cache off, as O_DIRECT does the page cache for files. */
static void push_rbd(char ***a, int *n, const struct vm_disk *d, const char *ro)
{
	const char *p = d->target + 6, *slash = strchr(p, '/');
	const char *pool = slash ? slash + 1 : p, *vol = strchr(pool, '/');
	const char *q = vol ? strchr(vol, '?') : NULL;
	const char *user = q ? strstr(q, "user=") : NULL, *conf = q ? strstr(q, "&conf=") : NULL;

	push(a, n, "driver=rbd,pool=%.*s,image=%.*s,user=%.*s,conf=%s,node-name=%s-file%s%s", vol ? (int)(vol - pool) : 0,
	     pool, vol && q ? (int)(q - vol - 1) : 0, vol ? vol + 1 : "", user && conf ? (int)(conf - user - 5) : 0,
	     user ? user + 5 : "", conf ? conf + 6 : "", d->vdev, ro, qemu_cache_direct(d) ? ",cache.direct=on" : "");
}

char **qemu_build_argv(const char *qemu, const struct vm_config *c, enum vm_accel accel, long ram_kb,
		       const char *dir, bool incoming)
{
	char **a = NULL;
	int n = 0, ide = 0;
	char mac[18], tap[16];

	push(&a, &n, "%s", qemu);
	push(&a, &n, "-name");
	push(&a, &n, "%s,debug-threads=on", c->name);
	push(&a, &n, "-machine");
	push(&a, &n, "pc");
	push(&a, &n, "-accel");
	push(&a, &n, "%s", accel == ACCEL_KVM ? "kvm" : "tcg");
	if (c->cpu[0]) {
		push(&a, &n, "-cpu");
		push(&a, &n, "%s", c->cpu);
	}
	push(&a, &n, "-m");
	push(&a, &n, "%ldk", ram_kb);
	push(&a, &n, "-smp");
	push(&a, &n, "%d", c->vcpus);
	push(&a, &n, "-nodefaults");
	push(&a, &n, "-no-user-config");
	push(&a, &n, "-display");
	push(&a, &n, "none");
	push(&a, &n, "-msg");
	push(&a, &n, "timestamp=on");
	/* Paused until ferryd has wired the network. A migration destination
	 * waits for its stream instead, and runs as soon as it is complete.
	 * Not -daemonize: that forks after the sandbox is on, and spawn=deny
	 * kills it ("Bad system call"); ferryd's launcher (vm.c) waits for QMP
	 * instead, so startup errors still come back as an exit status. */
	if (incoming) {
		push(&a, &n, "-incoming");
		push(&a, &n, "defer");
	} else {
		push(&a, &n, "-S");
	}
	/* No URI, device or monitor command can make this QEMU run a program,
	 * gain privileges or change its limits (a migration URI of the form
	 * exec:..., say). */
	push(&a, &n, "-sandbox");
	push(&a, &n, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	push(&a, &n, "-pidfile");
	push(&a, &n, "%s/qemu.pid", dir);
	push(&a, &n, "-qmp");
	push(&a, &n, "unix:%s/qmp.sock,server=on,wait=off", dir);
	push(&a, &n, "-chardev");
	push(&a, &n, "socket,id=serial0,path=%s/serial.sock,server=on,wait=off,logfile=%s/serial.log,logappend=on", dir, dir);
	push(&a, &n, "-serial");
	push(&a, &n, "chardev:serial0");
	if (c->kernel) {
		push(&a, &n, "-kernel");
		push(&a, &n, "%s", c->kernel);
		if (c->ramdisk) {
			push(&a, &n, "-initrd");
			push(&a, &n, "%s", c->ramdisk);
		}
		if (c->extra) {
			push(&a, &n, "-append");
			push(&a, &n, "%s", c->extra);
		}
	}
	for (int i = 0; i < c->n_disks; i++) {
		const struct vm_disk *d = &c->disks[i];
		const char *ro = d->readonly ? ",read-only=on" : "";
		push(&a, &n, "-blockdev");
		/* Shared storage: O_DIRECT, as libvirt insists for live migration:
		 * no host page cache that the other host cannot see, nothing to
		 * flush or drop (QEMU drops the image's cache on activation) in
		 * the pause. */
		if (!strncmp(d->target, "nfs://", 6))
			push_nfs(&a, &n, d, ro);
		else if (!strncmp(d->target, "rbd://", 6))
			push_rbd(&a, &n, d, ro);
		else
			push(&a, &n, "driver=file,filename=%s,node-name=%s-file%s%s%s", d->target, d->vdev, ro,
			     qemu_cache_direct(d) ? ",cache.direct=on" : "",
			     !strcmp(d->cache, "unsafe") ? ",cache.no-flush=on" : "");
		push(&a, &n, "-blockdev");
		/* A qcow2 image never opens a backing file: its header would
		 * choose a host file for QEMU (ferryd refuses such images too). */
		/* JSON for qcow2: in QEMU's key=value syntax "backing=null" names
		 * a node called "null" (seen with 7.2), JSON's null is none. */
		if (strcmp(d->format, "qcow2"))
			push(&a, &n, "driver=%s,file=%s-file,node-name=%s%s", d->format, d->vdev, d->vdev, ro);
		else
			push(&a, &n, "{\"driver\":\"qcow2\",\"file\":\"%s-file\",\"node-name\":\"%s\",\"read-only\":%s,"
			     "\"backing\":null}", d->vdev, d->vdev, d->readonly ? "true" : "false");
		/* writethrough and directsync: the guest sees no write cache, so
		 * every write is stable when it completes. */
		const char *wc = !strcmp(d->cache, "writethrough") || !strcmp(d->cache, "directsync") ? ",write-cache=off" : "";
		push(&a, &n, "-device");
		if (d->vdev[0] == 'h' || d->vdev[0] == 's') {
			push(&a, &n, "ide-hd,drive=%s,bus=ide.%d,unit=%d,id=%s-dev%s", d->vdev, ide / 2, ide % 2, d->vdev, wc);
			ide++;
		} else {
			push(&a, &n, "virtio-blk-pci,drive=%s,id=%s-dev%s%s", d->vdev, d->vdev,
			     i == 0 && !c->kernel ? ",bootindex=0" : "", wc);
		}
	}
	for (int i = 0; i < c->n_vifs; i++) {
		qemu_tap_name(c, i, tap);
		vm_mac_format(c->vifs[i].mac, mac);
		push(&a, &n, "-netdev");
		push(&a, &n, "tap,id=net%d,ifname=%s,script=no,downscript=no", i, tap);
		push(&a, &n, "-device");
		push(&a, &n, "%s,netdev=net%d,mac=%s,id=net%d-dev", c->vifs[i].model, i, mac, i);
	}
	return a;
}

void qemu_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int qemu_tap_attach(const char *tap, const char *bridge, struct ferr *err)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int idx = if_nametoindex(tap), r = 0;

	if (!idx) {
		ferr_set(err, "QEMU did not create TAP %s", tap);
		close(fd);
		return -ENODEV;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	ifr.ifr_ifindex = idx;
	if (ioctl(fd, SIOCBRADDIF, &ifr) < 0 && errno != EBUSY) {
		r = -errno;
		ferr_set(err, "cannot add %s to bridge %s: %s", tap, bridge, strerror(errno));
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		r = -errno;
		ferr_set(err, "cannot bring %s up: %s", tap, strerror(errno));
	}
out:
	close(fd);
	return r;
}

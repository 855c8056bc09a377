/* verify.c: a converted disk booted as an HVM guest to its web page
 * (verify.h). QEMU runs with the disk behind a snapshot overlay
 * (snapshot=on, in a private temporary folder), its serial console into a
 * file, and a user-mode network whose only way in is a port forwarded from
 * 127.0.0.1 of a network namespace nobody else is in. */
#include "convert/verify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FWD_PORT 8080
#define PAGE_MAX (256 << 10)
#define TAIL_MAX 2048

static void step(const struct verify_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(const struct verify_opts *o, const char *fmt, ...)
{
	char s[256];
	va_list ap;

	if (!o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	o->progress(s, o->opaque);
}

/* A network namespace of our own, its loopback up. */
static int private_net(struct ferr *err)
{
	if (unshare(CLONE_NEWNET) < 0) {
		ferr_set(err, "--verify runs the guest in a network namespace of its own, and cannot make one: %s (run "
			 "as root)", strerror(errno));
		return -errno;
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
		ferr_set(err, "cannot bring up the loopback of the verification's namespace: %s", strerror(errno));
		if (s >= 0)
			close(s);
		return -EIO;
	}
	close(s);
	return 0;
}

/* QEMU's user network around the guest's own address: its net, a host
 * address and a DNS address in it that are not the guest's. */
static int slirp_spec(const struct guestnet *g, char *spec, size_t n, char *guest, size_t gn, struct ferr *err)
{
	if (g->method != GUESTNET_STATIC) {   /* DHCP (or unknown): slirp's own lease */
		snprintf(guest, gn, "10.0.2.15");
		snprintf(spec, n, "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-10.0.2.15:80", FWD_PORT);
		return 0;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, g->addr, &a) != 1 || g->prefix < 8 || g->prefix > 29) {
		ferr_set(err, "the guest's address %s/%d leaves no room for QEMU's user network (a prefix of 8 to 29 "
			 "bits)", g->addr, g->prefix);
		return -EINVAL;
	}
	uint32_t ip = ntohl(a.s_addr), mask = ~0u << (32 - g->prefix), net = ip & mask, pick[2];
	int k = 0;
	for (uint32_t c = net + 1; k < 2; c++)
		if (c != ip)
			pick[k++] = c;
	char ns[16], hs[16], ds[16];
	struct in_addr t;
	t.s_addr = htonl(net);
	inet_ntop(AF_INET, &t, ns, sizeof(ns));
	t.s_addr = htonl(pick[0]);
	inet_ntop(AF_INET, &t, hs, sizeof(hs));
	t.s_addr = htonl(pick[1]);
	inet_ntop(AF_INET, &t, ds, sizeof(ds));
	snprintf(guest, gn, "%s", g->addr);
	snprintf(spec, n, "user,id=n0,restrict=on,net=%s/%d,host=%s,dns=%s,dhcpstart=%s,hostfwd=tcp:127.0.0.1:%d-%s:80", ns,
		 g->prefix, hs, ds, g->addr, FWD_PORT, g->addr);
	return 0;
}

/* GET / on the forwarded port: the status (200...), or -1; *bytes the
 * body's length. Bounded in time (2 s a step) and size. */
static int http_get(const char *host, long *bytes)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(FWD_PORT) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), status = -1;
	char req[128], *buf = NULL;
	size_t got = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		goto out;
	struct pollfd p = { .fd = s, .events = POLLOUT };
	if (poll(&p, 1, 2000) != 1)
		goto out;
	int len = snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	if (send(s, req, (size_t)len, MSG_NOSIGNAL) != len)
		goto out;
	buf = malloc(PAGE_MAX + 1);
	int64_t deadline = time_mono_us() + 3000000;
	while (buf && got < PAGE_MAX) {
		int left = (int)((deadline - time_mono_us()) / 1000);
		p.events = POLLIN;
		if (left <= 0 || poll(&p, 1, left) != 1)
			goto out;
		ssize_t r = recv(s, buf + got, PAGE_MAX - got, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (!buf || got < 12)
		goto out;
	buf[got] = 0;
	int code;
	if (sscanf(buf, "HTTP/1.%*1[01] %3d", &code) != 1)
		goto out;
	char *body = strstr(buf, "\r\n\r\n");
	*bytes = body ? (long)(got - (size_t)(body + 4 - buf)) : 0;
	status = code;
out:
	free(buf);
	close(s);
	return status;
}

static void tail_of(const char *path, json_t *rep)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[TAIL_MAX + 1];
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		off_t from = st.st_size > TAIL_MAX ? st.st_size - TAIL_MAX : 0;
		ssize_t r = pread(fd, buf, TAIL_MAX, from);
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)   /* text to show: no control bytes */
				if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
					buf[i] = ' ';
				else if ((unsigned char)buf[i] >= 0x80)
					buf[i] = '?';
			buf[r] = 0;
			json_object_set_new(rep, "console_tail", json_string(buf));
		}
	}
	close(fd);
}

static void stop_qemu(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static void remove_dir(const char *dir)
{
	char *argv[] = { "rm", "-rf", "--", (char *)dir, NULL };
	run_cmd(argv, true);
}

int convert_verify(const struct verify_opts *o, json_t **report, struct ferr *err)
{
	const char *bus = o->bus ? o->bus : "virtio";
	const char *fmt = !strcmp(o->format, "vhd") ? "vpc" : o->format;
	int timeout = o->timeout_s > 0 ? o->timeout_s : 300, r;
	char why[256], netspec[400], guest[16], dir[] = "/tmp/ferry-verify-XXXXXX", console[PATH_MAX], qlog[PATH_MAX],
		drive[PATH_MAX + 200], mem[16];
	pid_t pid = -1;
	json_t *rep;

	*report = NULL;
	if (strcmp(bus, "virtio") && strcmp(bus, "ahci")) {
		ferr_set(err, "the verification's disk bus is virtio or ahci");
		return -EINVAL;
	}
	if (strchr(o->disk, ',')) {   /* QEMU's option syntax: a comma would start another option */
		ferr_set(err, "%s: --verify cannot open a file whose name holds a comma", o->disk);
		return -EINVAL;
	}
	if ((r = slirp_spec(&o->net, netspec, sizeof(netspec), guest, sizeof(guest), err)) < 0)
		return r;
	bool kvm = kvm_usable(why, sizeof(why));
	if ((r = private_net(err)) < 0)
		return r;
	if (!mkdtemp(dir)) {
		ferr_set(err, "cannot make a folder for the verification: %s", strerror(errno));
		return -errno;
	}
	snprintf(console, sizeof(console), "%s/console.log", dir);
	snprintf(qlog, sizeof(qlog), "%s/qemu.log", dir);
	snprintf(drive, sizeof(drive), "file=%s,format=%s,if=none,id=d0,snapshot=on", o->disk, fmt);
	snprintf(mem, sizeof(mem), "%d", o->mem_mb > 0 ? o->mem_mb : 512);
	char chardev[PATH_MAX + 32];
	snprintf(chardev, sizeof(chardev), "file,id=s0,path=%s", console);
	char *argv[40];
	int n = 0;
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-machine";
	argv[n++] = "pc";
	argv[n++] = "-accel";
	argv[n++] = kvm ? "kvm" : "tcg";
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-smp";
	argv[n++] = "1";
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-sandbox";
	argv[n++] = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
	argv[n++] = "-chardev";
	argv[n++] = chardev;
	argv[n++] = "-serial";
	argv[n++] = "chardev:s0";
	argv[n++] = "-drive";
	argv[n++] = drive;
	if (!strcmp(bus, "ahci")) {
		argv[n++] = "-device";
		argv[n++] = "ahci,id=ahci0";
		argv[n++] = "-device";
		argv[n++] = "ide-hd,drive=d0,bus=ahci0.0";
	} else {
		argv[n++] = "-device";
		argv[n++] = "virtio-blk-pci,drive=d0";
	}
	argv[n++] = "-netdev";
	argv[n++] = netspec;
	argv[n++] = "-device";
	argv[n++] = "virtio-net-pci,netdev=n0";
	argv[n] = NULL;

	step(o, "booting %s from the disk alone (SeaBIOS, its boot loader, its kernel) on %s under %s", o->disk, bus,
	     kvm ? "KVM" : "TCG");
	int64_t t0 = time_mono_us();
	pid = fork();
	if (pid == 0) {
		int fd = open(qlog, O_WRONLY | O_CREAT | O_TRUNC, 0600), nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("TMPDIR", dir, 1);   /* the snapshot overlay */
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0) {
		ferr_set(err, "cannot start QEMU: %s", strerror(errno));
		remove_dir(dir);
		return -errno;
	}
	rep = json_pack("{s:s, s:s, s:s}", "accel", kvm ? "kvm" : "tcg", "bus", bus, "address", guest);
	double console_s = -1;
	long bytes = 0;
	int status = -1;
	r = -ETIMEDOUT;
	while (time_mono_us() - t0 < (int64_t)timeout * 1000000) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = -1;
			struct buf b = {0};
			char *l = NULL;
			size_t ll = 0;
			if (file_read_all(qlog, 4096, &l, &ll) == 0 && ll) {
				while (ll && l[ll - 1] == '\n')
					l[--ll] = 0;
				buf_printf(&b, ": %s", strrchr(l, '\n') ? strrchr(l, '\n') + 1 : l);
			}
			ferr_set(err, "QEMU stopped before the guest served its page (exit %d)%s",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), b.data ? b.data : "");
			free(l);
			buf_free(&b);
			r = -EIO;
			break;
		}
		struct stat cs;
		if (console_s < 0 && stat(console, &cs) == 0 && cs.st_size > 0) {
			console_s = (double)(time_mono_us() - t0) / 1e6;
			step(o, "the kernel writes on the serial console after %.1f s", console_s);
		}
		if ((status = http_get(guest, &bytes)) == 200 && bytes > 0) {
			r = 0;
			break;
		}
		usleep(250000);
	}
	double page_s = (double)(time_mono_us() - t0) / 1e6;
	if (r == -ETIMEDOUT)
		ferr_set(err, "no page from %s:80 within %d s (last answer: %s)", guest, timeout,
			 status > 0 ? "an HTTP status other than 200" : "none");
	if (console_s >= 0)
		json_object_set_new(rep, "console_s", json_real(console_s));
	if (r == 0) {
		step(o, "its page after %.1f s", page_s);
		json_object_set_new(rep, "page_s", json_real(page_s));
		json_object_set_new(rep, "http_status", json_integer(status));
		json_object_set_new(rep, "page_bytes", json_integer(bytes));
	} else {
		tail_of(console, rep);
	}
	stop_qemu(pid);
	remove_dir(dir);
	*report = rep;
	return r;
}

/* vm_launch.c: how a VM's QEMU starts (a launcher process that waits for
 * QMP, as -daemonize's parent would), how ferryd learns it runs or failed,
 * and how a restarted ferryd adopts the QEMUs it left running (pidfds, and
 * the start time recorded at launch against reused pids). */
#include "ferryd/agent.h"
#include "ferryd/request.h"
#include "ferryd/vm_int.h"
#include "ferryd/pool.h"
#include "ferryd/pool_io.h"
#include "proto/proto.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

static bool lock_conflict(struct vm *vm, char *out, size_t n);
static void qemu_last_error(const char *dir, char *out, size_t n);

void vm_exited(struct vm *vm)
{
	char last[600], msg[700];

	/* QEMU serves QMP before it opens its disks: a start can still fail
	 * here, and the log says why. */
	if (vm->state == VM_STARTING) {
		if (!lock_conflict(vm, last, sizeof(last)))
			qemu_last_error(vm->dir, last, sizeof(last));
		snprintf(msg, sizeof(msg), "QEMU exited: %s", last);
		vm_gone(vm, msg);
		return;
	}
	vm_gone(vm, "QEMU exited");
}

static void on_pid_exit(struct loop *l, int fd, uint32_t events, void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	vm_exited(opaque);
}

/* Watches vm->pid for its exit: a pidfd works for processes that are not
 * our children (QEMU daemonizes; a restarted ferryd re-attaches). Without
 * pidfds (old kernels) the cron notices instead. */
static void watch_pid(struct vm *vm)
{
	if (vm->pidfd < 0)
		vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	if (vm->pidfd >= 0)
		loop_add_fd(vm->ag->loop, vm->pidfd, false, on_pid_exit, vm);
}

/* A process's start time (clock ticks after boot, /proc/PID/stat field 22):
 * with the pid, it names one process for the machine's uptime. 0: gone. */
static unsigned long long pid_start_time(pid_t pid)
{
	char path[64], *text, *p;
	unsigned long long t = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (file_read_all(path, 4096, &text, NULL) < 0)
		return 0;
	/* Fields after the command name, which may hold spaces and ')'. */
	if ((p = strrchr(text, ')'))) {
		int field = 2;
		for (p++; *p && field < 22; p++)
			if (*p == ' ')
				field++;
		t = strtoull(p, NULL, 10);
	}
	free(text);
	return t;
}

/* Is pid the process whose start time was recorded in DIR/qemu.start when
 * the VM's QEMU was launched (and not a later one that got its pid)? */
bool vm_pid_recorded(pid_t pid, const char *dir)
{
	char path[900], *text;
	unsigned long long now = pid_start_time(pid);
	bool same = false;

	snprintf(path, sizeof(path), "%s/qemu.start", dir);
	if (now && file_read_all(path, 64, &text, NULL) == 0) {
		same = strtoull(text, NULL, 10) == now;
		free(text);
	}
	return same;
}

static pid_t read_pidfile(const char *dir)
{
	char path[900];

	snprintf(path, sizeof(path), "%s/qemu.pid", dir);
	return pid_read_file(path);
}

/* The last line QEMU wrote to stderr: why it failed to start. */
static void qemu_last_error(const char *dir, char *out, size_t n)
{
	char path[600], *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/qemu.log", dir);
	snprintf(out, n, "no message");
	if (file_read_all(path, 1 << 20, &text, &len) < 0)
		return;
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = 0;
	char *line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	/* Drop QEMU's "<timestamp> qemu-system-x86_64: " prefix. */
	char *colon = strstr(line, ": ");
	if (colon && strstr(line, "qemu-system") && strstr(line, "qemu-system") < colon)
		line = colon + 2;
	if (*line)
		snprintf(out, n, "%s", line);
	free(text);
}

/* Who holds the file at path open: a VM of this agent, or another process
 * of this host (QEMU's image locks are OFD locks, which /proc/locks shows
 * without a pid: so the open files of every process are looked at). */
static void file_holder(struct agent *ag, const char *path, char *out, size_t n)
{
	struct stat want, st;
	struct dirent *p, *f;
	char fdp[64], link[400];
	DIR *proc, *fds;

	snprintf(out, n, "another process (one on another host, or one this agent cannot see)");
	if (stat(path, &want) < 0 || !(proc = opendir("/proc")))
		return;
	while ((p = readdir(proc))) {
		pid_t pid = (pid_t)strtol(p->d_name, NULL, 10);
		if (pid <= 0)
			continue;
		snprintf(fdp, sizeof(fdp), "/proc/%d/fd", (int)pid);
		if (!(fds = opendir(fdp)))
			continue;
		bool holds = false;
		while (!holds && (f = readdir(fds))) {
			snprintf(link, sizeof(link), "%s/%s", fdp, f->d_name);
			holds = f->d_name[0] != '.' && stat(link, &st) == 0 && st.st_dev == want.st_dev &&
				st.st_ino == want.st_ino;
		}
		closedir(fds);
		if (!holds)
			continue;
		for (struct vm *vm = ag->vms; vm; vm = vm->next)
			if (vm->pid == pid) {
				snprintf(out, n, "VM %s on host %s (QEMU pid %d)", vm->cfg->name, ag->cfg->host, (int)pid);
				closedir(proc);
				return;
			}
		char comm[64] = "?", *text;
		size_t len;
		snprintf(link, sizeof(link), "/proc/%d/comm", (int)pid);
		if (file_read_all(link, 256, &text, &len) == 0) {
			snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(text, "\n"), text);
			free(text);
		}
		snprintf(out, n, "process %d (%s) on host %s", (int)pid, comm, ag->cfg->host);
		break;
	}
	closedir(proc);
}

/* QEMU refused an image another process holds ("Failed to get "write"
 * lock"): one sentence naming the disk and, if it can be known, the holder.
 * The disk is found among the VM's own (never a path from the message). */
static bool lock_conflict(struct vm *vm, char *out, size_t n)
{
	char path[600], *text, holder[160];
	size_t len;

	snprintf(path, sizeof(path), "%s/qemu.log", vm->dir);
	if (file_read_all(path, 1 << 20, &text, &len) < 0)
		return false;
	bool locked = strstr(text, "Failed to get \"write\" lock") || strstr(text, "Failed to get shared \"write\" lock");
	for (int i = 0; locked && i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		if (!d->target || !strstr(text, d->target))
			continue;
		file_holder(vm->ag, d->target, holder, sizeof(holder));
		snprintf(out, n, "disk %s (%s) is in use by %s: QEMU's image lock lets one VM write an image at a time",
			 d->vdev, d->target, holder);
		free(text);
		return true;
	}
	free(text);
	return false;
}

static void on_cont(struct qmp *q, json_t *reply, void *opaque)
{
	struct vm *vm = opaque;

	(void)q;
	if (!reply)
		return;
	if (qmp_reply_error(reply)) {
		vm_notify(vm, WAIT_RUNNING, qmp_reply_error(reply));
		return;
	}
	vm->state = VM_RUNNING;
	vm_notify(vm, WAIT_RUNNING, NULL);
}

/* QEMU is up and paused (-S): wire its TAPs to the bridges, then run it. */
static void start_guest(struct vm *vm)
{
	struct ferr err = {0};

	for (int i = 0; i < vm->cfg->n_vifs; i++) {
		char tap[16];
		qemu_tap_name(vm->cfg, i, tap);
		if (qemu_tap_attach(tap, vm->cfg->vifs[i].bridge, &err) < 0) {
			log_error("network setup failed", "vm=%s error=\"%s\"", vm->cfg->name, err.msg);
			vm_notify(vm, WAIT_RUNNING, err.msg);
			qmp_send(vm->qmp, "quit", NULL, NULL, NULL);
			vm_qmp_kick(vm);
			return;
		}
	}
	if (vm->incoming) {
		/* Waits for the migration stream; QEMU resumes it when it completes. */
		vm->state = VM_INCOMING;
		vm_notify(vm, WAIT_RUNNING, NULL);
		return;
	}
	qmp_send(vm->qmp, "cont", NULL, on_cont, vm);
	vm_qmp_kick(vm);
}

void vm_on_child_exit(struct agent *ag, pid_t pid, int status)
{
	struct vm *vm;
	struct ferr err = {0};

	for (vm = ag->vms; vm && vm->launcher != pid; vm = vm->next)
		;
	if (!vm) {
		log_info("child reaped", "pid=%d status=%d", (int)pid, status);
		return;
	}
	vm->launcher = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char last[600], msg[800];
		if (!lock_conflict(vm, last, sizeof(last)))
			qemu_last_error(vm->dir, last, sizeof(last));
		snprintf(msg, sizeof(msg), "QEMU failed to start %s: %s", vm->cfg->name, last);
		log_error("qemu failed", "vm=%s error=\"%s\"", vm->cfg->name, last);
		vm_notify(vm, -1, msg);
		vm_gone(vm, "QEMU failed to start");
		return;
	}
	vm->pid = read_pidfile(vm->dir);
	watch_pid(vm);
	/* Recorded so that a restarted ferryd adopts this QEMU, not a later
	 * process that got its pid (pid_adopt). */
	char start[32], spath[600];
	snprintf(spath, sizeof(spath), "%s/qemu.start", vm->dir);
	snprintf(start, sizeof(start), "%llu\n", pid_start_time(vm->pid));
	file_write_atomic(spath, start, strlen(start), 0600);
	if (vm_attach_qmp(vm, &err) < 0) {
		vm_notify(vm, -1, err.msg);
		if (vm->pid > 0)
			vm_signal(vm, SIGKILL);
		vm_gone(vm, err.msg);
		return;
	}
	log_info("qemu started", "vm=%s pid=%d accel=%s", vm->cfg->name, (int)vm->pid, vm_accel_name(vm->accel));
	start_guest(vm);
}

/* The launcher: waits until the QEMU it started serves QMP (its main loop
 * runs: every device is set up), then exits 0, as -daemonize's parent
 * would; exits 1 if QEMU ended first or took over LAUNCH_TIMEOUT_S. */
#define LAUNCH_TIMEOUT_S 120
static void launcher_wait(pid_t qemu, const char *dir)
{
	char path[600];
	struct ferr err = {0};
	int64_t deadline = time_mono_us() + LAUNCH_TIMEOUT_S * 1000000LL;

	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	while (time_mono_us() < deadline) {
		int status;
		if (waitpid(qemu, &status, WNOHANG) == qemu)
			_exit(WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
		int fd = sock_connect_unix(path, &err);
		if (fd >= 0) {
			struct pollfd p = { fd, POLLIN, 0 };
			char c;
			bool greeted = poll(&p, 1, 1000) == 1 && read(fd, &c, 1) == 1 && c == '{';
			close(fd);
			if (greeted)
				_exit(0);
		}
		usleep(10000);
	}
	dprintf(2, "ferryd: QEMU did not serve QMP within %d s\n", LAUNCH_TIMEOUT_S);
	kill(qemu, SIGKILL);
	_exit(1);
}

static pid_t spawn(char **argv, const char *dir)
{
	char log[600];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Child: its own session, so signals to ferryd's group spare QEMU. */
	setsid();
	snprintf(log, sizeof(log), "%s/qemu.log", dir);
	int null = open("/dev/null", O_RDWR);
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
	dup2(null, 0);
	dup2(lfd >= 0 ? lfd : null, 1);
	dup2(lfd >= 0 ? lfd : null, 2);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	close_range(3, ~0U, 0);
	pid_t qemu = fork();
	if (qemu < 0)
		_exit(127);
	if (qemu > 0)
		launcher_wait(qemu, dir);
	execvp(argv[0], argv);
	dprintf(2, "ferryd: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static struct vm *vm_new(struct agent *ag, struct vm_config *cfg)
{
	struct vm *vm = xcalloc(1, sizeof(*vm));

	vm->ag = ag;
	vm->cfg = cfg;
	vm->pidfd = -1;
	snprintf(vm->dir, sizeof(vm->dir), "%s/vms/%s", ag->cfg->state_dir, cfg->name);
	vm->next = ag->vms;
	ag->vms = vm;
	return vm;
}

int vm_can_start(struct agent *ag, struct vm_config *cfg, struct ferr *err)
{
	int r = pool_resolve_disks(ag, cfg, NULL, err);

	if (r < 0)
		return r;
	if (vm_find(ag, cfg->name)) {
		ferr_set(err, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host);
		return -EEXIST;
	}
	/* One writer per image on this host, whatever the storage locks: QEMU's
	 * NFS client (libnfs) takes none. */
	for (int i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const struct vm *o = vm_image_user(ag, d->target, d->readonly);   /* two readers may share */
		if (o) {
			ferr_set(err, "%s:%d: disk %s (%s) is in use by VM %s on host %s: one VM writes an image at a time",
				 cfg->source ?: "<config>", d->line, d->vdev, d->pool[0] ? d->vol : d->target, o->cfg->name,
				 ag->cfg->host);
			return -EBUSY;
		}
	}
	r = vm_confine_paths(ag, cfg, err);
	if (r < 0)
		return r;
	return qemu_check_host(ag, cfg, err);
}

/* Starts QEMU for cfg (taken). Returns the VM (its waiters learn how the
 * start ends) or NULL with err when nothing could start. */
static struct vm *vm_start(struct agent *ag, struct vm_config *cfg, bool incoming, long ram_kb, struct ferr *err)
{
	enum vm_accel accel;
	char path[600];
	char *text;
	int r;

	if (vm_can_start(ag, cfg, err) < 0 ||
	    qemu_choose_accel(cfg->accel != ACCEL_AUTO ? cfg->accel : ag->cfg->accel, &accel, err) < 0) {
		vmcfg_free(cfg);
		return NULL;
	}
	struct vm *vm = vm_new(ag, cfg);
	vm->accel = accel;
	vm->ram_kb = ram_kb > 0 ? ram_kb : qemu_ram_kb(cfg, accel, ag->qemu_version);
	vm->state = VM_STARTING;
	vm->incoming = incoming;
	vm->started_us = time_real_us();
	rm_rf(vm->dir);
	if ((r = mkdir_p(vm->dir, 0700)) < 0) {
		ferr_set(err, "cannot create %s: %s", vm->dir, strerror(-r));
		vm_free(vm);
		return NULL;
	}
	text = vmcfg_format(cfg);
	snprintf(path, sizeof(path), "%s/config", vm->dir);
	file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	snprintf(path, sizeof(path), "%s/accel", vm->dir);
	file_write_atomic(path, vm_accel_name(accel), 3, 0600);

	char **argv = qemu_build_argv(ag->cfg->qemu, cfg, accel, vm->ram_kb, vm->dir, incoming);
	struct buf cmd = {0};
	for (char **p = argv; *p; p++)
		buf_printf(&cmd, "%s%s", p == argv ? "" : " ", *p);
	log_info("starting qemu", "vm=%s cmd=\"%s\"", cfg->name, cmd.data);
	buf_free(&cmd);
	vm->launcher = spawn(argv, vm->dir);
	qemu_argv_free(argv);
	return vm;
}

/* The launcher could not even fork: end the VM from the loop, not from here. */
static void on_fork_failed(struct loop *l, void *opaque)
{
	(void)l;
	vm_gone(opaque, "cannot fork");
}

static void create_now(struct request *req, struct vm_config *cfg)
{
	struct agent *ag = req->ag;
	struct ferr err = {0};
	struct vm *vm = vm_start(ag, cfg, false, 0, &err);

	if (!vm) {
		request_err(req, "%s", err.msg);
		return;
	}
	vm_add_waiter(vm, WAIT_RUNNING, req);
	if (vm->launcher < 0) {
		vm->launcher = 0;
		loop_add_timer(ag->loop, 0, on_fork_failed, vm);
	}
}

_Static_assert(VM_MAX_DISKS <= 8, "struct rbd_unused_job holds 8 disks");

struct rbd_check {
	struct request *req;
	struct vm_config *cfg;
	struct rbd_unused_job job;
};

static void on_rbd_checked(struct agent *ag, json_t *res, const char *err, void *opaque)
{
	struct rbd_check *c = opaque;
	const char *e = err ?: json_string_value(json_object_get(res, "error"));

	(void)ag;
	if (e) {
		request_err(c->req, "%s: %s", c->cfg->name, e);
		vmcfg_free(c->cfg);
	} else {
		create_now(c->req, c->cfg);
	}
	free(c);
}

void vm_create(struct request *req, struct vm_config *cfg)
{
	struct agent *ag = req->ag;
	struct rbd_check *c = NULL;

	/* RBD disks: open by no client of the cluster, on any host, first
	 * (in a child: the cluster may be slow to answer). */
	for (int i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const struct pool *p = d->pool[0] ? pool_find(ag, d->pool) : NULL;
		if (!p || p->type != POOL_RBD || d->readonly)
			continue;
		if (!c)
			c = xcalloc(1, sizeof(*c));
		int k = c->job.n++;
		c->job.pool[k] = *p;
		c->job.pool[k].next = NULL;
		snprintf(c->job.vol[k], sizeof(c->job.vol[k]), "%s", d->vol);
		snprintf(c->job.vdev[k], sizeof(c->job.vdev[k]), "%s", d->vdev);
	}
	if (!c) {
		create_now(req, cfg);
		return;
	}
	c->req = req;
	c->cfg = cfg;
	if (child_call(ag, pool_rbd_check_unused, &c->job, 30000, on_rbd_checked, c) < 0) {
		request_err(req, "cannot check the RBD disks of %s: out of processes", cfg->name);
		vmcfg_free(cfg);
		free(c);
	}
}

static struct vm *start_and_wait(struct agent *ag, struct vm_config *cfg, bool incoming, long ram_kb, vm_wait_fn fn,
				 void *opaque, struct ferr *err)
{
	struct vm *vm = vm_start(ag, cfg, incoming, ram_kb, err);

	if (!vm)
		return NULL;
	struct waiter *w = vm_add_waiter(vm, WAIT_RUNNING, NULL);
	w->fn = fn;
	w->opaque = opaque;
	if (vm->launcher < 0) {
		vm->launcher = 0;
		loop_add_timer(ag->loop, 0, on_fork_failed, vm);
	}
	return vm;
}

struct vm *vm_create_incoming(struct agent *ag, struct vm_config *cfg, long ram_kb, vm_wait_fn fn, void *opaque,
			      struct ferr *err)
{
	return start_and_wait(ag, cfg, true, ram_kb, fn, opaque, err);
}

struct vm *vm_boot(struct agent *ag, struct vm_config *cfg, vm_wait_fn fn, void *opaque, struct ferr *err)
{
	return start_and_wait(ag, cfg, false, 0, fn, opaque, err);
}

/* Is pid the QEMU started for this VM folder? Pids get reused: the pidfd
 * is opened first, then the process's start time compared with the one
 * recorded at launch (qemu.start): if they match, the pidfd holds that very
 * QEMU and nothing else can take its place. Returns the pidfd, or -1. */
static int pid_adopt(pid_t pid, const char *dir)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0 && !vm_pid_recorded(pid, dir)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void on_status(struct qmp *q, json_t *reply, void *opaque)
{
	struct vm *vm = opaque;
	json_t *ret = json_object_get(reply, "return");

	(void)q;
	if (!ret)
		return;
	const char *st = json_string_value(json_object_get(ret, "status"));
	if (json_is_true(json_object_get(ret, "running")))
		vm->state = VM_RUNNING;
	else if (st && !strcmp(st, "prelaunch"))
		start_guest(vm);   /* the earlier ferryd died before it ran the guest */
	else
		vm->state = VM_PAUSED;
	log_info("re-attached", "vm=%s pid=%d status=%s", vm->cfg->name, (int)vm->pid, st ? st : "?");
}

void vm_reattach_all(struct agent *ag)
{
	char vmsdir[512];
	DIR *d;
	struct dirent *de;

	snprintf(vmsdir, sizeof(vmsdir), "%s/vms", ag->cfg->state_dir);
	mkdir_p(vmsdir, 0700);
	if (!(d = opendir(vmsdir)))
		return;
	while ((de = readdir(d))) {
		char dir[800], path[900];
		struct vm_config *cfg = NULL;
		struct ferr err = {0};
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", vmsdir, de->d_name);
		snprintf(path, sizeof(path), "%s/config", dir);
		pid_t pid = read_pidfile(dir);
		int pidfd = pid > 0 ? pid_adopt(pid, dir) : -1;
		if (vmcfg_load(path, &cfg, &err) < 0 || pidfd < 0) {
			log_warn("removing stale VM state", "dir=%s", dir);
			if (pidfd >= 0) {
				syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
				close(pidfd);
			}
			vmcfg_free(cfg);
			rm_rf(dir);
			continue;
		}
		struct vm *vm = vm_new(ag, cfg);
		vm->pidfd = pidfd;
		char *accel;
		snprintf(path, sizeof(path), "%s/accel", dir);
		if (file_read_all(path, 16, &accel, NULL) == 0) {
			vm->accel = !strcmp(accel, "kvm") ? ACCEL_KVM : ACCEL_TCG;
			free(accel);
		}
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%d", (int)pid);
		vm->started_us = stat(path, &st) == 0 ? (int64_t)st.st_mtime * 1000000 : 0;
		snprintf(path, sizeof(path), "%s/config", dir);
		if (stat(path, &st) == 0)
			vm->started_us = (int64_t)st.st_mtime * 1000000;
		vm->pid = pid;
		vm->state = VM_PAUSED;
		watch_pid(vm);
		if (vm_attach_qmp(vm, &err) < 0) {
			log_error("cannot re-attach", "vm=%s error=\"%s\"", cfg->name, err.msg);
			vm_free(vm);
			continue;
		}
		qmp_send(vm->qmp, "query-status", NULL, on_status, vm);
		vm_qmp_kick(vm);
	}
	closedir(d);
}
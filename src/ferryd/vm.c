/* vm.c: the VMs ferryd owns: starting QEMU, its QMP connection and events,
 * shutdown and destroy, re-attaching after a restart, cleaning up after exit. */
#include "ferryd/agent.h"
#include "ferryd/request.h"
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

static void vm_gone(struct vm *vm, const char *why);

const char *vm_state_name(enum vm_state s)
{
	static const char *names[] = { "starting", "incoming", "running", "paused", "shutting-down", "gone" };
	return names[s];
}

struct vm *vm_find(struct agent *ag, const char *name)
{
	for (struct vm *v = ag->vms; v; v = v->next)
		if (!strcmp(v->cfg->name, name))
			return v;
	return NULL;
}

json_t *vm_describe(const struct vm *vm, bool full)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I}",
			      "name", vm->cfg->name, "host", vm->ag->cfg->host,
			      "state", vm_state_name(vm->state), "memory_mb", vm->cfg->memory_mb,
			      "vcpus", vm->cfg->vcpus, "accel", vm_accel_name(vm->accel),
			      "pid", (json_int_t)vm->pid, "started_us", (json_int_t)vm->started_us);
	if (full) {
		char *text = vmcfg_format(vm->cfg);
		json_object_set_new(o, "config", json_string(text));
		free(text);
		json_object_set_new(o, "state_dir", json_string(vm->dir));
		json_t *taps = json_array();
		for (int i = 0; i < vm->cfg->n_vifs; i++) {
			char tap[16], mac[18];
			qemu_tap_name(vm->cfg, i, tap);
			vm_mac_format(vm->cfg->vifs[i].mac, mac);
			json_array_append_new(taps, json_pack("{s:s, s:s, s:s}", "tap", tap, "mac", mac,
							      "bridge", vm->cfg->vifs[i].bridge));
		}
		json_object_set_new(o, "vifs", taps);
	}
	for (struct vm_listener *l = vm->listeners; l; l = l->next)
		if (l->ops->describe)
			json_object_set_new(o, l->ops->name, l->ops->describe(l->opaque));
	return o;
}

/* Answers every waiter of the given kind (or all, kind < 0) with ok or err. */
static void notify(struct vm *vm, int kind, const char *err)
{
	struct waiter **wp = &vm->waiters, *w;

	while ((w = *wp)) {
		if (kind >= 0 && (int)w->kind != kind) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		if (w->timer_id)
			loop_cancel_timer(vm->ag->loop, w->timer_id);
		if (w->fn)
			w->fn(vm, err, w->opaque);
		else if (err)
			request_err(w->req, "%s", err);
		else
			request_ok(w->req, vm_describe(vm, false));
		free(w);
	}
}

static struct waiter *add_waiter(struct vm *vm, enum wait_kind kind, struct request *req)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->kind = kind;
	w->req = req;
	w->vm = vm;
	w->next = vm->waiters;
	vm->waiters = w;
	return w;
}

static void log_event(struct vm *vm, const char *event, json_t *data, int64_t qemu_us, int64_t recv_us)
{
	char path[600];
	json_t *rec = json_pack("{s:s, s:I, s:I}", "event", event, "qemu_us", (json_int_t)qemu_us,
				"recv_us", (json_int_t)recv_us);
	struct buf b = {0};

	if (data)
		json_object_set(rec, "data", data);
	proto_encode(rec, &b);
	snprintf(path, sizeof(path), "%s/events.jsonl", vm->dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		write_all(fd, b.data, b.len);
		close(fd);
	}
	buf_free(&b);
	json_decref(rec);
}

static void on_event(struct qmp *q, const char *event, json_t *data, int64_t qemu_us, int64_t recv_us, void *opaque)
{
	struct vm *vm = opaque;

	(void)q;
	log_event(vm, event, data, qemu_us, recv_us);
	log_info("qmp event", "vm=%s event=%s qemu_us=%lld recv_us=%lld", vm->cfg->name, event,
		 (long long)qemu_us, (long long)recv_us);
	if (!strcmp(event, "MIGRATION") && !vm_outgoing(vm)) {
		/* Not our outgoing one: the incoming stream's state. A post-copy
		 * destination runs the guest long before it reaches "completed";
		 * an outgoing migration started before that found QEMU 7.2 still
		 * tearing the incoming one down. */
		const char *st = json_string_value(json_object_get(data, "status"));
		vm->incoming_active = st && strcmp(st, "completed") && strcmp(st, "failed") && strcmp(st, "cancelled") &&
				      strcmp(st, "none");
	}
	for (struct vm_listener *l = vm->listeners, *next; l; l = next) {
		next = l->next;   /* a listener may leave from its callback */
		if (l->ops->on_event)
			l->ops->on_event(l->opaque, vm, event, data, qemu_us);
	}
	if (!strcmp(event, "STOP") && vm->state == VM_RUNNING)
		vm->state = VM_PAUSED;
	else if (!strcmp(event, "RESUME") && vm->state != VM_SHUTTING_DOWN) {
		vm->state = VM_RUNNING;
		notify(vm, WAIT_RUNNING, NULL);
	} else if (!strcmp(event, "SHUTDOWN"))
		vm->state = VM_SHUTTING_DOWN;
}

static void on_kill_timer(struct loop *l, void *opaque);

static void on_pid_exit(struct loop *l, int fd, uint32_t events, void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	vm_gone(opaque, "QEMU exited");
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
static bool pid_started_as_recorded(pid_t pid, const char *dir)
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

/* Signals the VM's QEMU through its pidfd (never a reused pid). */
static void vm_signal(struct vm *vm, int sig)
{
	if (vm->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, vm->pidfd, sig, NULL, 0);
	else if (pid_started_as_recorded(vm->pid, vm->dir))   /* no pidfd: an old kernel */
		kill(vm->pid, sig);
}

static void qmp_io(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct vm *vm = opaque;
	struct ferr err = {0};
	int r = 0;

	(void)fd;
	if (events & EPOLLOUT)
		r = qmp_on_writable(vm->qmp);
	if (r == 0 && events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		r = qmp_on_readable(vm->qmp, &err);
	if (r < 0) {
		/* QEMU closes QMP as it exits. The VM is gone once the process is:
		 * until then its disks may still be open. */
		log_info("qmp closed", "vm=%s reason=\"%s\"", vm->cfg->name, r == -EPIPE ? "eof" : err.msg);
		loop_del_fd(l, qmp_fd(vm->qmp));
		qmp_free(vm->qmp);
		vm->qmp = NULL;
		if (!pid_alive(vm->pid))
			vm_gone(vm, "QEMU exited");
		else if (!vm->kill_timer)
			vm->kill_timer = loop_add_timer(l, 5000, on_kill_timer, vm);
		return;
	}
	loop_set_write(l, qmp_fd(vm->qmp), qmp_want_write(vm->qmp));
}

static void qmp_kick(struct vm *vm)
{
	if (vm->qmp)
		loop_set_write(vm->ag->loop, qmp_fd(vm->qmp), qmp_want_write(vm->qmp));
}

static int attach_qmp(struct vm *vm, struct ferr *err)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/qmp.sock", vm->dir);
	if ((fd = qmp_connect_unix(path, err)) < 0)
		return fd;
	vm->qmp = qmp_new(fd, on_event, vm);
	loop_add_fd(vm->ag->loop, fd, false, qmp_io, vm);
	/* FERRYD_QMP_TRACE=DIR: each QMP conversation into DIR (a developer's
	 * switch, for recording the transcripts tests/unit replays). */
	const char *tdir = getenv("FERRYD_QMP_TRACE");
	if (tdir && *tdir) {
		snprintf(path, sizeof(path), "%s/%s-%s-%lld.jsonl", tdir, vm->ag->cfg->host, vm->cfg->name,
			 (long long)time_real_us());
		int tfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (tfd >= 0)
			qmp_set_trace(vm->qmp, tfd);
	}
	return 0;
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

static void archive_logs(struct vm *vm)
{
	static const char *files[] = { "serial.log", "events.jsonl", "qemu.log" };
	char logdir[512], from[700], to[700];

	snprintf(logdir, sizeof(logdir), "%s/log", vm->ag->cfg->state_dir);
	mkdir_p(logdir, 0700);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(from, sizeof(from), "%s/%s", vm->dir, files[i]);
		snprintf(to, sizeof(to), "%s/%s.%s", logdir, vm->cfg->name, files[i]);
		rename(from, to);
	}
}

static void vm_free(struct vm *vm)
{
	struct agent *ag = vm->ag;

	for (struct vm **vp = &ag->vms; *vp; vp = &(*vp)->next) {
		if (*vp == vm) {
			*vp = vm->next;
			break;
		}
	}
	if (vm->qmp) {
		loop_del_fd(ag->loop, qmp_fd(vm->qmp));
		qmp_free(vm->qmp);
	}
	if (vm->kill_timer)
		loop_cancel_timer(ag->loop, vm->kill_timer);
	if (vm->button_timer)
		loop_cancel_timer(ag->loop, vm->button_timer);
	if (vm->pidfd >= 0) {
		loop_del_fd(ag->loop, vm->pidfd);
		close(vm->pidfd);
	}
	vmcfg_free(vm->cfg);
	free(vm);
}

/* The VM's QEMU is gone (or never came up): answer waiters, clean up. */
static void vm_gone(struct vm *vm, const char *why)
{
	log_info("vm gone", "vm=%s reason=\"%s\"", vm->cfg->name, why);
	if (pid_alive(vm->pid)) {
		/* QMP closed but the process lingers: make sure it ends. */
		vm_signal(vm, SIGKILL);
	}
	enum vm_state was = vm->state;
	vm->state = VM_GONE;
	while (vm->listeners) {
		struct vm_listener *l = vm->listeners;
		vm->listeners = l->next;
		if (l->ops->on_gone)
			l->ops->on_gone(l->opaque, vm);
		free(l);
	}
	notify(vm, WAIT_GONE, NULL);
	char msg[1200];
	snprintf(msg, sizeof(msg), "%s stopped before it ran: %s", vm->cfg->name, why);
	notify(vm, -1, was == VM_STARTING ? msg : why);
	archive_logs(vm);
	rm_rf(vm->dir);
	vm_free(vm);
}

static void on_cont(struct qmp *q, json_t *reply, void *opaque)
{
	struct vm *vm = opaque;

	(void)q;
	if (!reply)
		return;
	if (qmp_reply_error(reply)) {
		notify(vm, WAIT_RUNNING, qmp_reply_error(reply));
		return;
	}
	vm->state = VM_RUNNING;
	notify(vm, WAIT_RUNNING, NULL);
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
			notify(vm, WAIT_RUNNING, err.msg);
			qmp_send(vm->qmp, "quit", NULL, NULL, NULL);
			qmp_kick(vm);
			return;
		}
	}
	if (vm->incoming) {
		/* Waits for the migration stream; QEMU resumes it when it completes. */
		vm->state = VM_INCOMING;
		notify(vm, WAIT_RUNNING, NULL);
		return;
	}
	qmp_send(vm->qmp, "cont", NULL, on_cont, vm);
	qmp_kick(vm);
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
		qemu_last_error(vm->dir, last, sizeof(last));
		snprintf(msg, sizeof(msg), "QEMU failed to start %s: %s", vm->cfg->name, last);
		log_error("qemu failed", "vm=%s error=\"%s\"", vm->cfg->name, last);
		notify(vm, -1, msg);
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
	if (attach_qmp(vm, &err) < 0) {
		notify(vm, -1, err.msg);
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
	if (vm_find(ag, cfg->name)) {
		ferr_set(err, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host);
		return -EEXIST;
	}
	int r = vm_confine_paths(ag, cfg, err);
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

void vm_create(struct request *req, struct vm_config *cfg)
{
	struct agent *ag = req->ag;
	struct ferr err = {0};
	struct vm *vm = vm_start(ag, cfg, false, 0, &err);

	if (!vm) {
		request_err(req, "%s", err.msg);
		return;
	}
	add_waiter(vm, WAIT_RUNNING, req);
	if (vm->launcher < 0) {
		vm->launcher = 0;
		loop_add_timer(ag->loop, 0, on_fork_failed, vm);
	}
}

static struct vm *start_and_wait(struct agent *ag, struct vm_config *cfg, bool incoming, long ram_kb, vm_wait_fn fn,
				 void *opaque, struct ferr *err)
{
	struct vm *vm = vm_start(ag, cfg, incoming, ram_kb, err);

	if (!vm)
		return NULL;
	struct waiter *w = add_waiter(vm, WAIT_RUNNING, NULL);
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

/* ---- listeners ---------------------------------------------------------- */

void vm_listen(struct vm *vm, const struct vm_listener_ops *ops, void *opaque)
{
	struct vm_listener *l = xcalloc(1, sizeof(*l)), **lp = &vm->listeners;

	l->ops = ops;
	l->opaque = opaque;
	while (*lp)
		lp = &(*lp)->next;
	*lp = l;
}

void vm_unlisten(struct vm *vm, const struct vm_listener_ops *ops, void *opaque)
{
	for (struct vm_listener **lp = &vm->listeners; *lp; lp = &(*lp)->next) {
		if ((*lp)->ops == ops && (*lp)->opaque == opaque) {
			struct vm_listener *l = *lp;
			*lp = l->next;
			free(l);
			return;
		}
	}
}

void *vm_listener(const struct vm *vm, const struct vm_listener_ops *ops)
{
	for (struct vm_listener *l = vm->listeners; l; l = l->next)
		if (l->ops == ops)
			return l->opaque;
	return NULL;
}

bool vm_busy(const struct vm *vm)
{
	for (struct vm_listener *l = vm->listeners; l; l = l->next)
		if (l->ops->busy)
			return true;
	return false;
}

bool vm_outgoing(const struct vm *vm)
{
	for (struct vm_listener *l = vm->listeners; l; l = l->next)
		if (l->ops->outgoing)
			return true;
	return false;
}

void vm_wait_gone(struct vm *vm, vm_wait_fn fn, void *opaque)
{
	struct waiter *w = add_waiter(vm, WAIT_GONE, NULL);

	w->fn = fn;
	w->opaque = opaque;
}

void vm_unwait(struct vm *vm, void *opaque)
{
	struct waiter **wp = &vm->waiters, *w;

	while ((w = *wp)) {
		if (w->fn && w->opaque == opaque) {
			*wp = w->next;
			if (w->timer_id)
				loop_cancel_timer(vm->ag->loop, w->timer_id);
			free(w);
		} else {
			wp = &w->next;
		}
	}
}

struct qmp_call_ctx {
	struct vm *vm;
	vm_qmp_fn fn;
	void *opaque;
	char cmd[64];
};

static void on_qmp_reply(struct qmp *q, json_t *reply, void *opaque)
{
	struct qmp_call_ctx *c = opaque;
	char msg[700];

	(void)q;
	if (!c->fn) {
		/* Nobody waits for this one (fn NULL): only a failure is worth a line. */
		if (reply && qmp_reply_error(reply))
			log_debug("QMP command failed", "cmd=%s error=\"%s\"", c->cmd, qmp_reply_error(reply));
	} else if (!reply) {
		snprintf(msg, sizeof(msg), "QMP %s: QEMU closed the connection", c->cmd);
		c->fn(c->vm, NULL, msg, c->opaque);
	} else if (qmp_reply_error(reply)) {
		snprintf(msg, sizeof(msg), "QMP %s: %s", c->cmd, qmp_reply_error(reply));
		c->fn(c->vm, NULL, msg, c->opaque);
	} else {
		c->fn(c->vm, json_object_get(reply, "return"), NULL, c->opaque);
	}
	free(c);
}

static void qmp_call_any(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque, bool oob);

void vm_qmp(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque)
{
	qmp_call_any(vm, cmd, args, fn, opaque, false);
}

void vm_qmp_cmd(struct vm *vm, json_t *cmd, vm_qmp_fn fn, void *opaque)
{
	json_t *args = json_object_get(cmd, "arguments");

	qmp_call_any(vm, json_string_value(json_object_get(cmd, "execute")), args ? json_incref(args) : NULL, fn, opaque,
		     false);
	json_decref(cmd);
}

void vm_qmp_oob(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque)
{
	qmp_call_any(vm, cmd, args, fn, opaque, true);
}

static void qmp_call_any(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque, bool oob)
{
	if (!vm->qmp) {
		char msg[200];
		json_decref(args);
		snprintf(msg, sizeof(msg), "QMP %s: no QMP connection to %s", cmd, vm->cfg->name);
		if (fn)
			fn(vm, NULL, msg, opaque);
		return;
	}
	struct qmp_call_ctx *c = xcalloc(1, sizeof(*c));
	c->vm = vm;
	c->fn = fn;
	c->opaque = opaque;
	snprintf(c->cmd, sizeof(c->cmd), "%s", cmd);
	if (oob)
		qmp_send_oob(vm->qmp, cmd, args, on_qmp_reply, c);
	else
		qmp_send(vm->qmp, cmd, args, on_qmp_reply, c);
	qmp_kick(vm);
}

struct batch {
	int left;
	char err[700];
	vm_wait_fn fn;
	void *opaque;
};

static void on_batch_reply(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct batch *b = opaque;

	(void)ret;
	if (err && !b->err[0])
		snprintf(b->err, sizeof(b->err), "%s", err);
	if (--b->left == 0) {
		b->fn(vm, b->err[0] ? b->err : NULL, b->opaque);
		free(b);
	}
}

void vm_qmp_batch(struct vm *vm, json_t *cmds, vm_wait_fn fn, void *opaque)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	size_t i;
	json_t *c;

	b->fn = fn;
	b->opaque = opaque;
	b->left = (int)json_array_size(cmds) + 1;   /* +1: held until all are sent */
	json_array_foreach(cmds, i, c) {
		json_t *args = json_object_get(c, "arguments");
		vm_qmp(vm, json_string_value(json_object_get(c, "execute")), args ? json_incref(args) : NULL,
		       on_batch_reply, b);
	}
	json_decref(cmds);
	on_batch_reply(vm, NULL, NULL, b);
}

void vm_kill(struct vm *vm)
{
	if (vm->qmp) {
		qmp_send(vm->qmp, "quit", NULL, NULL, NULL);
		qmp_kick(vm);
	} else if (vm->pid > 0) {
		vm_signal(vm, SIGTERM);
	}
	if (!vm->kill_timer)
		vm->kill_timer = loop_add_timer(vm->ag->loop, 3000, on_kill_timer, vm);
}

static void on_timeout(struct loop *l, void *opaque)
{
	struct waiter *w = opaque;
	struct vm *vm = w->vm;

	(void)l;
	w->timer_id = 0;
	for (struct waiter **wp = &vm->waiters; *wp; wp = &(*wp)->next) {
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	}
	request_err(w->req, "%s did not shut down in time; it is still running on host %s (ferry destroy %s ends it)",
		    vm->cfg->name, vm->ag->cfg->host, vm->cfg->name);
	free(w);
}

#define BUTTON_REPEAT_MS 5000

/* A guest may miss a power-button press (busy, or not listening yet, as
 * real machines do): press again every 5 s until it is gone or the
 * shutdown's deadline passes. */
static void on_button_timer(struct loop *l, void *opaque)
{
	struct vm *vm = opaque;

	(void)l;
	vm->button_timer = 0;
	if (vm->button_presses <= 0 || !vm->qmp || vm->state == VM_GONE)
		return;
	vm->button_presses--;
	log_warn("guest still running, pressing the power button again", "vm=%s", vm->cfg->name);
	qmp_send(vm->qmp, "system_powerdown", NULL, NULL, NULL);
	qmp_kick(vm);
	vm->button_timer = loop_add_timer(vm->ag->loop, BUTTON_REPEAT_MS, on_button_timer, vm);
}

void vm_shutdown(struct vm *vm, int timeout_s, struct request *req)
{
	struct waiter *w = add_waiter(vm, WAIT_GONE, req);

	w->timer_id = loop_add_timer(vm->ag->loop, timeout_s * 1000, on_timeout, w);
	if (vm->qmp) {
		qmp_send(vm->qmp, "system_powerdown", NULL, NULL, NULL);
		qmp_kick(vm);
	}
	vm->button_presses = timeout_s * 1000 / BUTTON_REPEAT_MS - 1;
	if (!vm->button_timer && vm->button_presses > 0)
		vm->button_timer = loop_add_timer(vm->ag->loop, BUTTON_REPEAT_MS, on_button_timer, vm);
}

static void on_kill_timer(struct loop *l, void *opaque)
{
	struct vm *vm = opaque;

	(void)l;
	vm->kill_timer = 0;
	if (vm->pid > 0) {
		log_warn("qemu did not quit, killing it", "vm=%s pid=%d", vm->cfg->name, (int)vm->pid);
		vm_signal(vm, SIGKILL);
	}
}

static void on_paused_reply(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)ret;
	if (err)
		request_err(opaque, "%s", err);
	else
		request_ok(opaque, vm_describe(vm, false));
}

void vm_pause(struct vm *vm, bool pause, struct request *req)
{
	if (vm_busy(vm) || (vm->state != VM_RUNNING && vm->state != VM_PAUSED)) {
		request_err(req, "%s is %s%s: it cannot be %s now", vm->cfg->name, vm_state_name(vm->state),
			    vm_busy(vm) ? " and migrating" : "", pause ? "paused" : "resumed");
		return;
	}
	vm_qmp(vm, pause ? "stop" : "cont", NULL, on_paused_reply, req);
}

void vm_destroy(struct vm *vm, struct request *req)
{
	add_waiter(vm, WAIT_GONE, req);
	vm_kill(vm);
}

/* Is pid the QEMU started for this VM folder? Pids get reused: the pidfd
 * is opened first, then the process's start time compared with the one
 * recorded at launch (qemu.start): if they match, the pidfd holds that very
 * QEMU and nothing else can take its place. Returns the pidfd, or -1. */
static int pid_adopt(pid_t pid, const char *dir)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0 && !pid_started_as_recorded(pid, dir)) {
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
		if (attach_qmp(vm, &err) < 0) {
			log_error("cannot re-attach", "vm=%s error=\"%s\"", cfg->name, err.msg);
			vm_free(vm);
			continue;
		}
		qmp_send(vm->qmp, "query-status", NULL, on_status, vm);
		qmp_kick(vm);
	}
	closedir(d);
}

/* Keeps a log under max bytes with its predecessor PATH.1: once PATH holds
 * half of max, it is copied to PATH.1 and emptied in place. In place, not
 * renamed: QEMU keeps serial.log open (O_APPEND), and its next write lands
 * at the start of the emptied file. A guest printing flat out can add what
 * it prints in one cron second on top. */
static void log_cap(const char *path, long long max)
{
	char old[700];
	struct stat st;

	if (stat(path, &st) < 0 || st.st_size <= max / 2)
		return;
	snprintf(old, sizeof(old), "%s.1", path);
	int in = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	int out = open(old, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (in >= 0 && out >= 0) {
		off_t start = st.st_size > max / 2 ? st.st_size - max / 2 : 0;
		char chunk[65536];
		ssize_t n;
		while ((n = pread(in, chunk, sizeof(chunk), start)) > 0 && start < st.st_size) {
			if (write_all(out, chunk, n) < 0)
				break;
			start += n;
		}
		if (ftruncate(in, 0) < 0)
			log_warn("cannot empty a log", "path=%s error=\"%s\"", path, strerror(errno));
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

void vm_cron(struct agent *ag)
{
	struct vm *vm, *next;
	char path[700];

	for (vm = ag->vms; vm; vm = next) {
		next = vm->next;
		if (vm->pid > 0 && !pid_alive(vm->pid)) {
			vm_gone(vm, "QEMU process ended");
			continue;
		}
		snprintf(path, sizeof(path), "%s/serial.log", vm->dir);
		log_cap(path, ag->cfg->log_max_bytes);
		snprintf(path, sizeof(path), "%s/events.jsonl", vm->dir);
		log_cap(path, ag->cfg->log_max_bytes);
	}
}

/* ferryd is exiting: leave the QEMUs running for the next ferryd. */
void vm_detach_all(struct agent *ag)
{
	while (ag->vms) {
		struct vm *vm = ag->vms;
		notify(vm, -1, "ferryd is shutting down");
		vm_free(vm);
	}
}

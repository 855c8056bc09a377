/* vm.c: the VMs ferryd owns: their state and events, who waits on them and
 * who listens to them, shutdown, destroy and pause, the end of a VM and its
 * cleanup. Starting QEMU and re-attaching: vm_launch.c; QMP: vm_qmp.c. */
#include "ferryd/agent.h"
#include "ferryd/mover_ops.h"
#include "ferryd/request.h"
#include "ferryd/vm_int.h"
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

struct vm *vm_image_user(struct agent *ag, const char *target, bool writers_only)
{
	for (struct vm *vm = ag->vms; vm; vm = vm->next)
		for (int i = 0; i < vm->cfg->n_disks; i++) {
			const struct vm_disk *d = &vm->cfg->disks[i];
			if (d->target && !strcmp(d->target, target) && !(writers_only && d->readonly))
				return vm;
		}
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
void vm_notify(struct vm *vm, int kind, const char *err)
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

struct waiter *vm_add_waiter(struct vm *vm, enum wait_kind kind, struct request *req)
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

void vm_on_qmp_event(struct qmp *q, const char *event, json_t *data, int64_t qemu_us, int64_t recv_us, void *opaque)
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
		mover_forget_vm(vm->ag, vm);
		vm_notify(vm, WAIT_RUNNING, NULL);
	} else if (!strcmp(event, "SHUTDOWN"))
		vm->state = VM_SHUTTING_DOWN;
}

/* Signals the VM's QEMU through its pidfd (never a reused pid). */
void vm_signal(struct vm *vm, int sig)
{
	if (vm->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, vm->pidfd, sig, NULL, 0);
	else if (vm_pid_recorded(vm->pid, vm->dir))   /* no pidfd: an old kernel */
		kill(vm->pid, sig);
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

void vm_free(struct vm *vm)
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
void vm_gone(struct vm *vm, const char *why)
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
	vm_notify(vm, WAIT_GONE, NULL);
	char msg[1200];
	snprintf(msg, sizeof(msg), "%s stopped before it ran: %s", vm->cfg->name, why);
	vm_notify(vm, -1, was == VM_STARTING ? msg : why);
	archive_logs(vm);
	rm_rf(vm->dir);
	vm_free(vm);
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
	struct waiter *w = vm_add_waiter(vm, WAIT_GONE, NULL);

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

void vm_kill(struct vm *vm)
{
	if (vm->qmp) {
		qmp_send(vm->qmp, "quit", NULL, NULL, NULL);
		vm_qmp_kick(vm);
	} else if (vm->pid > 0) {
		vm_signal(vm, SIGTERM);
	}
	if (!vm->kill_timer)
		vm->kill_timer = loop_add_timer(vm->ag->loop, 3000, vm_on_kill_timer, vm);
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
	vm_qmp_kick(vm);
	vm->button_timer = loop_add_timer(vm->ag->loop, BUTTON_REPEAT_MS, on_button_timer, vm);
}

void vm_power_button(struct vm *vm, int for_s)
{
	if (vm->qmp) {
		qmp_send(vm->qmp, "system_powerdown", NULL, NULL, NULL);
		vm_qmp_kick(vm);
	}
	vm->button_presses = for_s * 1000 / BUTTON_REPEAT_MS - 1;
	if (!vm->button_timer && vm->button_presses > 0)
		vm->button_timer = loop_add_timer(vm->ag->loop, BUTTON_REPEAT_MS, on_button_timer, vm);
}

void vm_shutdown(struct vm *vm, int timeout_s, struct request *req)
{
	struct waiter *w = vm_add_waiter(vm, WAIT_GONE, req);

	w->timer_id = loop_add_timer(vm->ag->loop, timeout_s * 1000, on_timeout, w);
	vm_power_button(vm, timeout_s);
}

void vm_on_kill_timer(struct loop *l, void *opaque)
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
	vm_add_waiter(vm, WAIT_GONE, req);
	vm_kill(vm);
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
		vm_notify(vm, -1, "ferryd is shutting down");
		vm_free(vm);
	}
}
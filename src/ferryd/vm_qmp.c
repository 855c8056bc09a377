/* vm_qmp.c: a VM's QMP connection on the event loop, and the calls the rest
 * of ferryd makes through it (one command, a batch in order, out-of-band). */
#include "ferryd/agent.h"
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
			vm_exited(vm);
		else if (!vm->kill_timer)
			vm->kill_timer = loop_add_timer(l, 5000, vm_on_kill_timer, vm);
		return;
	}
	loop_set_write(l, qmp_fd(vm->qmp), qmp_want_write(vm->qmp));
}

void vm_qmp_kick(struct vm *vm)
{
	if (vm->qmp)
		loop_set_write(vm->ag->loop, qmp_fd(vm->qmp), qmp_want_write(vm->qmp));
}

int vm_attach_qmp(struct vm *vm, struct ferr *err)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/qmp.sock", vm->dir);
	if ((fd = qmp_connect_unix(path, err)) < 0)
		return fd;
	vm->qmp = qmp_new(fd, vm_on_qmp_event, vm);
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
	vm_qmp_kick(vm);
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
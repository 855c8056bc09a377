/* saverestore.c: "save" and "restore" (xl save / xl restore; docs/save.md).
 * save: the guest stops, QEMU migrates its state to a Unix socket in the
 * VM's folder, and a child of ours streams it into FILE.part behind a header
 * (who wrote it: QEMU version, machine type; the guest's config) and ahead of
 * a trailer (length, xxh3); FILE.part becomes FILE once QEMU says the
 * migration completed. Then the VM ends (or, --keep-running, runs on). A
 * failure removes the part file and resumes the guest.
 * restore: the header is read and checked, the stream checked against the
 * trailer (a child reads it all) before anything starts; an incoming QEMU of
 * the saved config starts, must have the writer's machine type and a QEMU
 * at least as new, and a child feeds it the stream. A failure ends that
 * QEMU: nothing is left. */
#include "ferryd/agent.h"
#include "ferryd/mig_dst.h"
#include "ferryd/mig.h"
#include "ferryd/request.h"
#include "mover/pack.h"
#include "qmp/cmds.h"
#include "save/statefile.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define SAVE_TIMEOUT_MS (3600 * 1000)
#define QEMU_CONNECT_MS 30000
#define IO_BUF (1 << 20)

static void ignore_reply(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)ret;
	(void)opaque;
	if (err)
		log_warn("QMP command failed", "vm=%s error=\"%s\"", vm->cfg->name, err);
}

/* "pc-i440fx-7.2-machine" (qom-get /machine type) -> "pc-i440fx-7.2". */
static void machine_name(const char *type, char *out, size_t n)
{
	size_t len = type ? strlen(type) : 0;

	if (len > 8 && !strcmp(type + len - 8, "-machine"))
		len -= 8;
	snprintf(out, n, "%.*s", (int)len, type ? type : "");
}

static void version_of(json_t *ret, char *out, size_t n)
{
	json_t *q = json_object_get(ret, "qemu");
	snprintf(out, n, "%lld.%lld.%lld", (long long)json_integer_value(json_object_get(q, "major")),
		 (long long)json_integer_value(json_object_get(q, "minor")),
		 (long long)json_integer_value(json_object_get(q, "micro")));
}

/* The capabilities of a migration into or out of a file: as every move's,
 * but no return path (nobody at the other end would answer it: QEMU 7.2's
 * source then waits for it forever at the end). */
static json_t *file_caps(bool source)
{
	struct mig_opts o;
	size_t i;
	json_t *c;

	mig_opts_default(&o);
	json_t *cmd = mig_any_caps(&o, source);
	json_array_foreach(json_object_get(json_object_get(cmd, "arguments"), "capabilities"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "capability")) ?: "", "return-path"))
			json_object_set_new(c, "state", json_false());
	return cmd;
}

/* ---- save ----------------------------------------------------------------- */

struct save_job {
	struct agent *ag;
	struct vm *vm;               /* NULL once its QEMU is gone */
	struct request *r;
	char name[VM_NAME_MAX + 1];
	char path[PATH_MAX], part[PATH_MAX + 8], sock[600];
	int lfd;
	uint8_t *hdr;
	size_t hdr_len;
	struct statefile_header h;
	bool keep_running, was_running, stopped;
	bool migrating, qemu_done, child_done, ended;
	pid_t child;
	json_t *result;              /* the child's */
	int64_t start_us;
	/* --with-disks: the disks that are not shared, packed beside FILE
	 * (FILE.disk-VDEV) while the guest is still paused. */
	bool with_disks, packing, packed;
	int n_pack;
	char pack_src[STATEFILE_MAX_DISKS][600], pack_dst[STATEFILE_MAX_DISKS][PATH_MAX + 16];
	json_t *pack_result;
	json_t *reply;               /* saved, waiting for the VM to be gone to answer */
};

/* In a child: each disk packed into its FILE.disk-VDEV (.part meanwhile). */
static json_t *pack_main(void *arg)
{
	struct save_job *s = arg;
	json_t *out = json_array();

	for (int i = 0; i < s->n_pack; i++) {
		char part[PATH_MAX + 32];
		struct mover_stats st;
		struct ferr err = {0};
		struct stat sb;
		int in = open(s->pack_src[i], O_RDONLY | O_CLOEXEC), o = -1, r = -errno;
		snprintf(part, sizeof(part), "%s.part", s->pack_dst[i]);
		if (in >= 0 && fstat(in, &sb) == 0 &&
		    (o = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0) {
			r = mover_pack(in, (uint64_t)sb.st_size, o, &st, &err);
			if (r == 0 && renameat2(AT_FDCWD, part, AT_FDCWD, s->pack_dst[i], RENAME_NOREPLACE) < 0) {
				r = -errno;
				ferr_set(&err, "cannot put %s in place: %s", s->pack_dst[i], strerror(errno));
			}
		} else {
			r = -errno;
			ferr_set(&err, "%s: %s", in < 0 ? s->pack_src[i] : part, strerror(errno));
		}
		if (in >= 0)
			close(in);
		if (o >= 0)
			close(o);
		if (r < 0) {
			unlink(part);
			for (int k = 0; k < i; k++)
				unlink(s->pack_dst[k]);
			json_decref(out);
			return child_error("packing %s: %s", s->pack_src[i], err.msg);
		}
		json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "file", s->pack_dst[i], "bytes",
						     (json_int_t)st.wire_bytes, "data_bytes", (json_int_t)st.data_bytes));
	}
	return json_pack("{s:o}", "disks", out);
}

/* In the child: QEMU's one connection, streamed into the part file. */
static json_t *save_main(void *arg)
{
	struct save_job *s = arg;
	struct pollfd p = { CHILD_KEEP_FD, POLLIN, 0 };
	uint8_t *buf = malloc(IO_BUF), tr[STATEFILE_TRAILER];
	XXH3_state_t *xh = XXH3_createState();
	uint64_t total = 0;

	signal(SIGPIPE, SIG_IGN);
	if (!buf || !xh)
		return child_error("out of memory");
	if (poll(&p, 1, QEMU_CONNECT_MS) <= 0)
		return child_error("QEMU did not connect to the save socket");
	int in = accept4(CHILD_KEEP_FD, NULL, NULL, SOCK_CLOEXEC);
	int out = open(s->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (in < 0 || out < 0)
		return child_error("cannot write %s: %s", s->part, strerror(errno));
	if (write_all(out, s->hdr, s->hdr_len) < 0)
		return child_error("cannot write %s: %s", s->part, strerror(errno));
	XXH3_64bits_reset(xh);
	for (;;) {
		ssize_t n = read(in, buf, IO_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return child_error("reading QEMU's stream: %s", strerror(errno));
		if (n == 0)
			break;
		XXH3_64bits_update(xh, buf, (size_t)n);
		if (write_all(out, buf, (size_t)n) < 0)
			return child_error("cannot write %s: %s", s->part, strerror(errno));
		total += (uint64_t)n;
	}
	uint64_t hash = XXH3_64bits_digest(xh);
	statefile_trailer_encode(total, hash, tr);
	if (write_all(out, tr, sizeof(tr)) < 0 || fsync(out) < 0)
		return child_error("cannot write %s: %s", s->part, strerror(errno));
	char hex[20];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)hash);
	return json_pack("{s:I, s:s}", "stream_bytes", (json_int_t)total, "hash", hex);
}

static void save_end(struct save_job *s);
static const struct vm_listener_ops save_listener;

static void save_free(struct loop *l, void *opaque)
{
	struct save_job *s = opaque;

	(void)l;
	statefile_header_free(&s->h);
	free(s->hdr);
	json_decref(s->result);
	json_decref(s->pack_result);
	json_decref(s->reply);
	free(s);
}

static void save_fail(struct save_job *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void save_fail(struct save_job *s, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	if (s->ended)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("save failed", "vm=%s error=\"%s\"", s->name, msg);
	if (s->child > 0 && !s->child_done)
		kill(s->child, SIGKILL);
	unlink(s->part);
	for (int i = 0; s->packed && i < s->n_pack; i++)
		unlink(s->pack_dst[i]);
	if (s->vm && s->migrating && !s->qemu_done)
		vm_qmp(s->vm, "migrate_cancel", NULL, ignore_reply, NULL);
	if (s->vm && s->stopped && s->was_running) {
		vm_qmp(s->vm, "cont", NULL, ignore_reply, NULL);
		request_err(s->r, "%s; %s keeps running on host %s", msg, s->name, s->ag->cfg->host);
	} else {
		request_err(s->r, "%s%s", msg, s->vm ? "" : " (its QEMU ended)");
	}
	s->r = NULL;
	save_end(s);
}

static void save_end(struct save_job *s)
{
	s->ended = true;
	if (s->vm)
		vm_unlisten(s->vm, &save_listener, s);
	unlink(s->sock);
	if ((s->child_done || s->child <= 0) && !s->packing)
		loop_add_timer(s->ag->loop, 0, save_free, s);
	/* else: save_done or on_packed frees it when its child is reaped */
}

/* Both QEMU and the writer are done: FILE is put in place. */
static void on_packed(struct agent *ag, json_t *result, const char *err, void *opaque);

static void save_maybe_done(struct save_job *s)
{
	if (s->ended || !s->qemu_done || !s->child_done || s->packing)
		return;
	if (s->with_disks && !s->packed) {
		s->packing = true;
		if (child_call(s->ag, pack_main, s, SAVE_TIMEOUT_MS, on_packed, s) < 0) {
			s->packing = false;
			save_fail(s, "cannot pack the disks: out of processes");
		}
		return;
	}
	if (renameat2(AT_FDCWD, s->part, AT_FDCWD, s->path, RENAME_NOREPLACE) < 0) {
		save_fail(s, "cannot put %s in place: %s", s->path, strerror(errno));
		return;
	}
	struct stat st;
	stat(s->path, &st);
	json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:f, s:b}", "name", s->name, "host",
				s->ag->cfg->host, "file", s->path, "qemu", s->h.qemu, "machine", s->h.machine, "bytes",
				(json_int_t)st.st_size, "stream_bytes",
				json_integer_value(json_object_get(s->result, "stream_bytes")), "hash",
				json_string_value(json_object_get(s->result, "hash")) ?: "", "seconds",
				(time_mono_us() - s->start_us) / 1e6, "kept_running", s->keep_running);
	if (s->pack_result)
		json_object_set(res, "disks", json_object_get(s->pack_result, "disks"));
	log_info("saved", "vm=%s file=%s bytes=%lld", s->name, s->path, (long long)st.st_size);
	if (s->keep_running) {
		if (s->was_running)
			vm_qmp(s->vm, "cont", NULL, ignore_reply, NULL);
	} else {
		/* Like xl save: the guest lives on in the file. The answer waits
		 * until the VM is gone here (a restore right after finds its name
		 * free). */
		s->reply = res;
		vm_kill(s->vm);
		return;
	}
	request_ok(s->r, res);
	s->r = NULL;
	save_end(s);
}

static void on_packed(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct save_job *s = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	(void)ag;
	s->packing = false;
	if (s->ended) {
		/* The save failed meanwhile: what the packer made goes too. */
		for (int i = 0; i < s->n_pack; i++)
			unlink(s->pack_dst[i]);
		loop_add_timer(s->ag->loop, 0, save_free, s);
		return;
	}
	if (e) {
		save_fail(s, "saving %s failed: %s", s->name, e);
		return;
	}
	s->packed = true;
	s->pack_result = json_incref(result);
	save_maybe_done(s);
}

static void save_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct save_job *s = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	(void)ag;
	s->child_done = true;
	if (s->ended) {
		loop_add_timer(s->ag->loop, 0, save_free, s);
		return;
	}
	if (e) {
		save_fail(s, "saving %s failed: %s", s->name, e);
		return;
	}
	s->result = json_incref(result);
	save_maybe_done(s);
}

static void save_on_event(void *opaque, struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct save_job *s = opaque;
	const char *st = json_string_value(json_object_get(data, "status"));

	(void)vm;
	(void)qemu_us;
	if (s->ended || strcmp(event, "MIGRATION") || !st || !s->migrating)
		return;
	if (!strcmp(st, "completed")) {
		s->qemu_done = true;
		save_maybe_done(s);
	} else if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
		save_fail(s, "QEMU could not write the state of %s (migration %s)", s->name, st);
	}
}

static void save_on_gone(void *opaque, struct vm *vm)
{
	struct save_job *s = opaque;

	(void)vm;
	s->vm = NULL;
	if (s->reply && !s->ended) {
		request_ok(s->r, s->reply);
		s->reply = NULL;
		s->r = NULL;
		save_end(s);
		return;
	}
	if (!s->ended)
		save_fail(s, "the QEMU of %s ended during the save", s->name);
}

static json_t *save_describe(void *opaque)
{
	struct save_job *s = opaque;
	return json_pack("{s:s, s:s}", "phase", "saving", "file", s->path);
}

static const struct vm_listener_ops save_listener = {
	.name = "save", .busy = true, .outgoing = true,
	.on_event = save_on_event, .on_gone = save_on_gone, .describe = save_describe,
};

static void on_migrate_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct save_job *s = opaque;

	(void)vm;
	(void)ret;
	if (s->ended)
		return;
	if (err)
		save_fail(s, "QEMU would not save %s: %s", s->name, err);
}

static void on_caps(struct vm *vm, const char *err, void *opaque)
{
	struct save_job *s = opaque;
	char uri[640];

	if (s->ended)
		return;
	if (err) {
		save_fail(s, "cannot set up the save: %s", err);
		return;
	}
	snprintf(uri, sizeof(uri), "unix:%s", s->sock);
	s->migrating = true;
	vm_qmp_cmd(vm, qmp_cmd_migrate(uri, false), on_migrate_sent, s);
}

static void on_stopped(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct save_job *s = opaque;
	struct mig_opts o;

	(void)ret;
	if (s->ended)
		return;
	if (err) {
		save_fail(s, "cannot pause %s: %s", s->name, err);
		return;
	}
	s->stopped = true;
	mig_opts_default(&o);
	json_t *cmds = json_array();
	json_array_append_new(cmds, file_caps(true));
	json_array_append_new(cmds, mig_any_params(&o, false));
	vm_qmp_batch(vm, cmds, on_caps, s);
}

static void on_machine(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct save_job *s = opaque;

	if (s->ended)
		return;
	if (err) {
		save_fail(s, "cannot ask QEMU its machine type: %s", err);
		return;
	}
	machine_name(json_string_value(ret), s->h.machine, sizeof(s->h.machine));
	s->hdr = statefile_header_encode(&s->h, &s->hdr_len);
	if (!s->hdr) {
		save_fail(s, "the config of %s is too large for a state file", s->name);
		return;
	}
	s->child = child_call_keep(s->ag, save_main, s, s->lfd, SAVE_TIMEOUT_MS, save_done, s);
	close(s->lfd);
	s->lfd = -1;
	if (s->child < 0) {
		s->child = 0;
		save_fail(s, "cannot start the save: out of processes");
		return;
	}
	s->was_running = s->h.running;
	vm_qmp(vm, "stop", NULL, on_stopped, s);
}

static void on_version(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct save_job *s = opaque;

	if (s->ended)
		return;
	if (err) {
		save_fail(s, "cannot ask QEMU its version: %s", err);
		return;
	}
	version_of(ret, s->h.qemu, sizeof(s->h.qemu));
	vm_qmp(vm, "qom-get", json_pack("{s:s, s:s}", "path", "/machine", "property", "type"), on_machine, s);
}

void save_op_save(struct request *r, json_t *args, struct vm *vm)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	const char *file = json_string_value(json_object_get(args, "file"));

	if (vm_busy(vm) || (vm->state != VM_RUNNING && vm->state != VM_PAUSED)) {
		request_err(r, "%s is %s: only a running or paused VM that is not migrating can be saved", vm->cfg->name,
			    vm_busy(vm) ? "busy" : vm_state_name(vm->state));
		return;
	}
	struct save_job *s = xcalloc(1, sizeof(*s));
	s->ag = ag;
	s->vm = vm;
	s->r = r;
	s->lfd = -1;
	s->start_us = time_mono_us();
	s->keep_running = json_is_true(json_object_get(args, "keep_running"));
	s->with_disks = json_is_true(json_object_get(args, "with_disks"));
	snprintf(s->name, sizeof(s->name), "%s", vm->cfg->name);
	if (vm_confine_new_file(ag, file, s->path, sizeof(s->path), &err) < 0) {
		request_err(r, "%s", err.msg);
		free(s);
		return;
	}
	snprintf(s->part, sizeof(s->part), "%s.part", s->path);
	if (access(s->path, F_OK) == 0 || access(s->part, F_OK) == 0) {
		request_err(r, "%s exists already on host %s", s->path, ag->cfg->host);
		free(s);
		return;
	}
	/* --with-disks: every disk that is not on shared storage goes beside it. */
	for (int i = 0; s->with_disks && i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		char part[PATH_MAX + 32];
		if (d->shared)
			continue;
		snprintf(s->pack_src[s->n_pack], sizeof(s->pack_src[0]), "%s", d->target);
		snprintf(s->pack_dst[s->n_pack], sizeof(s->pack_dst[0]), "%s.disk-%s", s->path, d->vdev);
		snprintf(part, sizeof(part), "%s.part", s->pack_dst[s->n_pack]);
		if (access(s->pack_dst[s->n_pack], F_OK) == 0 || access(part, F_OK) == 0) {
			request_err(r, "%s exists already on host %s", s->pack_dst[s->n_pack], ag->cfg->host);
			free(s);
			return;
		}
		snprintf(s->h.disks[s->h.n_disks++], sizeof(s->h.disks[0]), "%s", d->vdev);
		s->n_pack++;
	}
	char spec[620];
	snprintf(s->sock, sizeof(s->sock), "%s/save.sock", vm->dir);
	unlink(s->sock);
	snprintf(spec, sizeof(spec), "unix:%s", s->sock);
	if ((s->lfd = sock_listen(spec, &err)) < 0) {
		request_err(r, "cannot listen for QEMU's stream: %s", err.msg);
		free(s);
		return;
	}
	/* What the header says of the guest (its version and machine come
	 * from QEMU itself). */
	snprintf(s->h.host, sizeof(s->h.host), "%s", ag->cfg->host);
	snprintf(s->h.accel, sizeof(s->h.accel), "%s", vm->accel == ACCEL_KVM ? "kvm" : "tcg");
	snprintf(s->h.name, sizeof(s->h.name), "%s", vm->cfg->name);
	s->h.config = vmcfg_format(vm->cfg);
	s->h.ram_bytes = vm->ram_kb * 1024LL;
	s->h.saved_us = time_real_us();
	s->h.running = vm->state == VM_RUNNING;
	vm_listen(vm, &save_listener, s);
	log_info("save", "vm=%s file=%s", s->name, s->path);
	vm_qmp(vm, "query-version", NULL, on_version, s);
}

/* ---- restore -------------------------------------------------------------- */

struct restore_job {
	struct agent *ag;
	struct vm *vm;
	struct request *r;
	char path[PATH_MAX], sock[600];
	struct statefile_header h;
	uint64_t offset, length;     /* of the stream in the file */
	bool paused;
	bool started, fed, loaded, ended;
	pid_t feeder;
	int64_t start_us;
	/* Disks saved beside it (--with-disks): unpacked into this host's
	 * STATE/disks before QEMU starts, removed if the restore fails. */
	int n_unpack;
	bool unpacked;
	char unpack_src[STATEFILE_MAX_DISKS][PATH_MAX + 16], unpack_dst[STATEFILE_MAX_DISKS][600];
};

static void drop_unpacked(struct restore_job *j)
{
	for (int i = 0; j->unpacked && i < j->n_unpack; i++)
		unlink(j->unpack_dst[i]);
	j->unpacked = false;
}

/* In a child: the stream checked against the trailer. */
static json_t *verify_main(void *arg)
{
	struct restore_job *j = arg;
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = malloc(IO_BUF), tr[STATEFILE_TRAILER];
	XXH3_state_t *xh = XXH3_createState();
	uint64_t len, hash, left = j->length;
	off_t at = (off_t)j->offset;

	if (fd < 0 || !buf || !xh)
		return child_error("cannot read %s: %s", j->path, strerror(errno));
	if (pread(fd, tr, sizeof(tr), (off_t)(j->offset + j->length)) != (ssize_t)sizeof(tr) ||
	    statefile_trailer_parse(tr, &len, &hash) < 0 || len != j->length)
		return child_error("%s is cut short or damaged (no valid trailer)", j->path);
	XXH3_64bits_reset(xh);
	while (left) {
		ssize_t n = pread(fd, buf, left < IO_BUF ? left : IO_BUF, at);
		if (n <= 0)
			return child_error("cannot read %s: %s", j->path, n < 0 ? strerror(errno) : "cut short");
		XXH3_64bits_update(xh, buf, (size_t)n);
		at += n;
		left -= (uint64_t)n;
	}
	if (XXH3_64bits_digest(xh) != hash)
		return child_error("%s is damaged: its checksum does not match the saved state", j->path);
	for (int i = 0; i < j->n_unpack; i++) {
		struct mover_stats st;
		struct ferr err = {0};
		int in = open(j->unpack_src[i], O_RDONLY | O_CLOEXEC);
		int r = in < 0 ? -errno : mover_unpack(in, j->unpack_dst[i], &st, &err);
		if (in >= 0)
			close(in);
		if (r < 0) {
			for (int k = 0; k < i; k++)
				unlink(j->unpack_dst[k]);
			return child_error("%s: %s", j->unpack_src[i], in < 0 ? strerror(-r) : err.msg);
		}
	}
	return json_pack("{s:b}", "ok", 1);
}

/* In a child: the stream into QEMU's incoming socket. */
static json_t *feed_main(void *arg)
{
	struct restore_job *j = arg;
	struct ferr err = {0};
	int fd = open(j->path, O_RDONLY | O_CLOEXEC), s = -1;
	off_t at = (off_t)j->offset;
	uint64_t left = j->length;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 100 && (s = sock_connect_unix(j->sock, &err)) < 0; i++)
		usleep(20000);
	if (fd < 0 || s < 0)
		return child_error("cannot feed QEMU: %s", fd < 0 ? strerror(errno) : err.msg);
	while (left) {
		ssize_t n = sendfile(s, fd, &at, left < (1u << 30) ? left : (1u << 30));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return child_error("QEMU stopped reading the state: %s", n < 0 ? strerror(errno) : "closed");
		left -= (uint64_t)n;
	}
	close(s);
	return json_pack("{s:b}", "ok", 1);
}

static void restore_free(struct loop *l, void *opaque)
{
	struct restore_job *j = opaque;

	(void)l;
	statefile_header_free(&j->h);
	free(j);
}

static const struct vm_listener_ops restore_listener;

static void restore_end(struct restore_job *j)
{
	j->ended = true;
	if (j->vm)
		vm_unlisten(j->vm, &restore_listener, j);
	if (!j->feeder || j->fed)
		loop_add_timer(j->ag->loop, 0, restore_free, j);
}

static void restore_fail(struct restore_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void restore_fail(struct restore_job *j, const char *fmt, ...)
{
	char msg[800];
	va_list ap;

	if (j->ended)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("restore failed", "file=%s error=\"%s\"", j->path, msg);
	if (j->feeder > 0 && !j->fed)
		kill(j->feeder, SIGKILL);
	if (j->vm)
		vm_kill(j->vm);   /* nothing of it stays */
	drop_unpacked(j);
	request_err(j->r, "%s", msg);
	j->r = NULL;
	restore_end(j);
}

static void restore_done(struct restore_job *j)
{
	json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:f}", "name", j->h.name, "host", j->ag->cfg->host, "file", j->path,
				"state", j->paused ? "paused" : "running", "seconds", (time_mono_us() - j->start_us) / 1e6);
	log_info("restored", "vm=%s file=%s paused=%d", j->h.name, j->path, j->paused);
	request_ok(j->r, res);
	j->r = NULL;
	restore_end(j);
}

static void on_restore_cont(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct restore_job *j = opaque;

	(void)vm;
	(void)ret;
	if (j->ended)
		return;
	if (err)
		restore_fail(j, "the state of %s loaded, but QEMU would not run it: %s", j->h.name, err);
	else
		restore_done(j);
}

static void restore_maybe_done(struct restore_job *j)
{
	if (j->ended || !j->loaded || !j->fed)
		return;
	if (j->paused) {
		j->vm->state = VM_PAUSED;
		restore_done(j);
	} else {
		vm_qmp(j->vm, "cont", NULL, on_restore_cont, j);
	}
}

static void on_fed(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct restore_job *j = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	(void)ag;
	j->fed = true;
	if (j->ended) {
		loop_add_timer(j->ag->loop, 0, restore_free, j);
		return;
	}
	if (e) {
		restore_fail(j, "restoring %s failed: %s", j->h.name, e);
		return;
	}
	restore_maybe_done(j);
}

static void on_failed_query(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct restore_job *j = opaque;
	const char *why = json_string_value(json_object_get(ret, "error-desc"));

	(void)vm;
	(void)err;
	restore_fail(j, "QEMU could not load the state of %s: %s", j->h.name, why ?: "it gave no reason");
}

static void restore_on_event(void *opaque, struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct restore_job *j = opaque;
	const char *st = json_string_value(json_object_get(data, "status"));

	(void)qemu_us;
	if (j->ended || strcmp(event, "MIGRATION") || !st)
		return;
	if (!strcmp(st, "completed")) {
		j->loaded = true;
		restore_maybe_done(j);
	} else if (!strcmp(st, "failed")) {
		vm_qmp(vm, "query-migrate", NULL, on_failed_query, j);
	}
}

static void restore_on_gone(void *opaque, struct vm *vm)
{
	struct restore_job *j = opaque;

	(void)vm;
	j->vm = NULL;
	if (!j->ended)
		restore_fail(j, "the QEMU restoring %s ended (see its log)", j->h.name);
}

static json_t *restore_describe(void *opaque)
{
	struct restore_job *j = opaque;
	return json_pack("{s:s, s:s}", "phase", "restoring", "file", j->path);
}

static const struct vm_listener_ops restore_listener = {
	.name = "restore", .busy = true, .outgoing = false,
	.on_event = restore_on_event, .on_gone = restore_on_gone, .describe = restore_describe,
};

static void on_incoming_set(struct vm *vm, const char *err, void *opaque)
{
	struct restore_job *j = opaque;

	(void)vm;
	if (j->ended)
		return;
	if (err) {
		restore_fail(j, "cannot set up the restore: %s", err);
		return;
	}
	j->feeder = child_call(j->ag, feed_main, j, SAVE_TIMEOUT_MS, on_fed, j);
	if (j->feeder < 0) {
		j->feeder = 0;
		restore_fail(j, "cannot start the restore: out of processes");
	}
}

/* The host's QEMU against the writer's: the same machine type (the stream
 * describes that machine's devices), a QEMU at least as new. */
static void on_host_machine(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct restore_job *j = opaque;
	char machine[64];

	if (j->ended)
		return;
	if (err) {
		restore_fail(j, "cannot ask QEMU its machine type: %s", err);
		return;
	}
	machine_name(json_string_value(ret), machine, sizeof(machine));
	if (strcmp(machine, j->h.machine)) {
		restore_fail(j, "%s was saved by QEMU %s with machine type %s; QEMU here (host %s) runs %s: restoring it "
			     "here is refused (the saved devices would not match)", j->path, j->h.qemu, j->h.machine,
			     j->ag->cfg->host, machine);
		return;
	}
	struct mig_opts o;
	char uri[640];
	mig_opts_default(&o);
	snprintf(uri, sizeof(uri), "unix:%s", j->sock);
	json_t *cmds = json_array();
	json_array_append_new(cmds, file_caps(false));
	json_array_append_new(cmds, mig_any_params(&o, false));
	json_array_append_new(cmds, qmp_cmd_migrate_incoming(uri));
	vm_qmp_batch(vm, cmds, on_incoming_set, j);
}

static void on_host_version(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct restore_job *j = opaque;
	char qemu[32];

	if (j->ended)
		return;
	if (err) {
		restore_fail(j, "cannot ask QEMU its version: %s", err);
		return;
	}
	version_of(ret, qemu, sizeof(qemu));
	if (statefile_version_cmp(qemu, j->h.qemu) < 0) {
		restore_fail(j, "%s was saved by QEMU %s; QEMU here (host %s) is %s, older: restoring it here is refused "
			     "(an older QEMU cannot read a newer one's state)", j->path, j->h.qemu, j->ag->cfg->host, qemu);
		return;
	}
	vm_qmp(vm, "qom-get", json_pack("{s:s, s:s}", "path", "/machine", "property", "type"), on_host_machine, j);
}

static void on_incoming_started(struct vm *vm, const char *err, void *opaque)
{
	struct restore_job *j = opaque;

	if (j->ended)
		return;
	if (err) {
		restore_fail(j, "cannot start %s on host %s: %s", j->h.name, j->ag->cfg->host, err);
		return;
	}
	snprintf(j->sock, sizeof(j->sock), "%s/restore.sock", vm->dir);
	vm_qmp(vm, "query-version", NULL, on_host_version, j);
}

static void on_verified(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct restore_job *j = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));
	struct vm_config *cfg;
	struct ferr ferr = {0};

	if (e) {
		request_err(j->r, "%s", e);
		restore_free(NULL, j);
		return;
	}
	j->unpacked = j->n_unpack > 0;
	if (vmcfg_parse(j->h.config, strlen(j->h.config), "<saved config>", NULL, &cfg, &ferr) < 0) {
		request_err(j->r, "%s", ferr.msg);
		drop_unpacked(j);
		restore_free(NULL, j);
		return;
	}
	if (vm_find(ag, cfg->name)) {
		request_err(j->r, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host);
		vmcfg_free(cfg);
		drop_unpacked(j);
		restore_free(NULL, j);
		return;
	}
	/* The disks saved beside it are the ones it runs on here. */
	for (int k = 0; k < j->n_unpack; k++) {
		for (int i = 0; i < cfg->n_disks; i++) {
			if (strcmp(cfg->disks[i].vdev, j->h.disks[k]))
				continue;
			free(cfg->disks[i].target);
			cfg->disks[i].target = xstrdup(j->unpack_dst[k]);
			cfg->disks[i].pool[0] = 0;
		}
	}
	j->vm = vm_create_incoming(ag, cfg, (long)(j->h.ram_bytes / 1024), on_incoming_started, j, &ferr);
	if (!j->vm) {
		request_err(j->r, "%s", ferr.msg);
		drop_unpacked(j);
		restore_free(NULL, j);
		return;
	}
	vm_listen(j->vm, &restore_listener, j);
	log_info("restore", "vm=%s file=%s", j->h.name, j->path);
}

void save_op_restore(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	struct restore_job *j = xcalloc(1, sizeof(*j));
	uint8_t *head = malloc(STATEFILE_MAGIC_LEN + 4 + STATEFILE_HEADER_MAX);
	size_t used = 0;
	struct stat st;

	(void)unused;
	j->ag = ag;
	j->r = r;
	j->start_us = time_mono_us();
	j->paused = json_is_true(json_object_get(args, "paused"));
	if (!head || vm_confine_file(ag, "state file", json_string_value(json_object_get(args, "file")) ?: "", j->path,
				     sizeof(j->path), &err) < 0) {
		request_err(r, "%s", err.msg[0] ? err.msg : "out of memory");
		goto fail;
	}
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, head, STATEFILE_MAGIC_LEN + 4 + STATEFILE_HEADER_MAX, 0) : -1;
	if (fd < 0 || n < 0 || fstat(fd, &st) < 0) {
		request_err(r, "cannot read %s: %s", j->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	int pr = statefile_header_parse(head, (size_t)n, &j->h, &used, &err);
	if (pr == -EAGAIN)
		ferr_set(&err, "%s is cut short (no whole header)", j->path);
	if (pr < 0) {
		request_err(r, "%s: %s", j->path, err.msg);
		goto fail;
	}
	if ((uint64_t)st.st_size < used + STATEFILE_TRAILER) {
		request_err(r, "%s is cut short (no trailer)", j->path);
		goto fail;
	}
	j->offset = used;
	j->length = (uint64_t)st.st_size - used - STATEFILE_TRAILER;
	free(head);
	head = NULL;
	/* Disks saved beside it: each FILE.disk-VDEV goes to its place here. */
	if (j->h.n_disks > 0) {
		struct vm_config *cfg;
		if (vmcfg_parse(j->h.config, strlen(j->h.config), "<saved config>", NULL, &cfg, &err) < 0) {
			request_err(r, "%s", err.msg);
			goto fail;
		}
		for (int k = 0; k < j->h.n_disks; k++) {
			int i;
			for (i = 0; i < cfg->n_disks && strcmp(cfg->disks[i].vdev, j->h.disks[k]); i++)
				;
			if (i == cfg->n_disks) {
				request_err(r, "%s names a disk %s its config does not have", j->path, j->h.disks[k]);
				vmcfg_free(cfg);
				goto fail;
			}
			char src[sizeof(j->unpack_src[0])];
			snprintf(src, sizeof(src), "%s.disk-%s", j->path, j->h.disks[k]);
			memcpy(j->unpack_src[k], src, sizeof(src));
			dst_disk_path(ag, cfg, &cfg->disks[i], j->unpack_dst[k], sizeof(j->unpack_dst[0]));
			const char *why = access(j->unpack_src[k], R_OK) < 0 ? "is missing (it was saved with --with-disks)"
					  : access(j->unpack_dst[k], F_OK) == 0 ? "would go where a file exists already" : NULL;
			if (why) {
				request_err(r, "disk %s of %s %s (%s, on host %s)", j->h.disks[k], j->path, why,
					    access(j->unpack_src[k], R_OK) < 0 ? j->unpack_src[k] : j->unpack_dst[k],
					    ag->cfg->host);
				vmcfg_free(cfg);
				goto fail;
			}
			j->n_unpack++;
		}
		vmcfg_free(cfg);
	}
	if (child_call(ag, verify_main, j, SAVE_TIMEOUT_MS, on_verified, j) < 0) {
		request_err(r, "cannot start the restore: out of processes");
		restore_free(NULL, j);
	}
	return;
fail:
	free(head);
	restore_free(NULL, j);
}

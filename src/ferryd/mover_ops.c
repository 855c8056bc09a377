/* mover_ops.c: ferryd's side of the disk mover (src/mover, docs/mover.md).
 * copy (on the source agent): sends a file of its vm_dirs, or a volume of a
 * file-backed pool, to another agent (a push); copy-in (on the destination,
 * asked by the source agent): listens on the address the source reached it
 * on, for one TLS-PSK connection from that source's address, and receives
 * into a new file of its vm_dirs or a new volume (TARGET.part, renamed when
 * whole) or, for a cold move, into the disk's place in its state folder
 * (named by this agent from the guest's config and the disk's name; kept
 * with a clean journal after a first pass so that the final one sends only
 * what changed). Each end runs in a child process (child_call): the
 * transfer blocks, the agent does not. */
#include "ferryd/agent.h"
#include "ferryd/mig_dst.h"
#include "ferryd/mover_ops.h"
#include "ferryd/peer.h"
#include "ferryd/pool.h"
#include "ferryd/request.h"
#include "mover/mover.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define COPY_TIMEOUT_MS (6 * 3600 * 1000)   /* a transfer's whole life */
#define ACCEPT_MS 30000                     /* the source connects within */
#define HANDSHAKE_MS 5000
/* Socket buffers of several frames each way: the sender reads and packs
 * the next blocks while the receiver checks and writes the last ones. */
#define MOVER_SOCKBUF (8 << 20)

/* A target or source: "/abs/path" inside vm_dirs, or "POOL/VOL" of a pool
 * whose volumes are files here (not nfs: QEMU's client reaches those). For
 * a new file (want_new) the folder must resolve inside vm_dirs. */
static int resolve(struct agent *ag, const char *spec, bool want_new, char *out, size_t n, struct ferr *err)
{
	if (spec[0] != '/') {
		const char *slash = strchr(spec, '/');
		char pool[64];
		if (!slash || (size_t)(slash - spec) >= sizeof(pool)) {
			ferr_set(err, "'%s' is neither an absolute path nor POOL/VOLUME", spec);
			return -EINVAL;
		}
		snprintf(pool, sizeof(pool), "%.*s", (int)(slash - spec), spec);
		const struct pool *p = pool_find(ag, pool);
		if (!p) {
			ferr_set(err, "no pool named %s on host %s", pool, ag->cfg->host);
			return -ENOENT;
		}
		if (!pool_vol_name_ok(slash + 1)) {
			ferr_set(err, "'%s' is not a volume name", slash + 1);
			return -EINVAL;
		}
		if (p->type == POOL_NFS) {
			ferr_set(err, "pool %s is NFS, opened by QEMU's own client: copy into it with vol import", pool);
			return -EOPNOTSUPP;
		}
		pool_vol_target(p, slash + 1, out, n);
		if (!want_new && access(out, R_OK) < 0) {
			ferr_set(err, "pool %s has no volume %s", pool, slash + 1);
			return -ENOENT;
		}
		return 0;
	}
	if (!want_new)
		return vm_confine_file(ag, "file", spec, out, n, err);
	return vm_confine_new_file(ag, spec, out, n, err);
}

static json_t *stats_json(const struct mover_stats *st)
{
	char hash[20];

	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)st->image_hash);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s}", "size", (json_int_t)st->size, "data_bytes",
			 (json_int_t)st->data_bytes, "sent_bytes", (json_int_t)st->sent_bytes, "wire_bytes",
			 (json_int_t)st->wire_bytes, "frames", (json_int_t)st->frames, "resent", (json_int_t)st->resent,
			 "skipped_blocks", (json_int_t)st->skipped, "passes", st->passes, "image_hash", hash);
}

/* ---- copy-in: the receiving end ------------------------------------------ */

/* One copy-in: its streams' receivers, each in a child. */
struct recv_job {
	struct agent *ag;
	int lfd;
	char from[64];
	struct tls_key key;
	uint32_t streams;
	int pending;             /* children still running */
	bool failed;
	char error[600];
	json_t *sum;             /* the streams' stats, added up */
	char path[PATH_MAX];     /* the file written */
	char jpath[PATH_MAX + 16];
	char final[PATH_MAX];    /* renamed to this when whole ("": stays) */
	bool keep_journal;       /* a cold move's first pass */
	bool move_disk;          /* a cold move's disk: removed if it fails */
	struct request *waiter;  /* copy-in-wait, answered when it ends */
	struct recv_job *next;   /* the copy-ins under way */
};

/* The copy-ins under way, and how the last ones ended: the source asks
 * (copy-in-wait) once its streams are done, and ferry copy answers only
 * when the file is in place here. One agent per process. */
#define RECV_ENDED_MAX 16
static struct recv_job *recv_jobs;
static struct {
	char path[PATH_MAX], from[64], error[600];
	bool used, failed;
} recv_ended[RECV_ENDED_MAX];
static unsigned recv_ended_next;

/* Where a copy-in's file ends up (the name copy-in answered). */
static const char *recv_name(const struct recv_job *j)
{
	return j->final[0] ? j->final : j->path;
}

/* In a child: one connection from the source's address, then receive one
 * stream (the offer says which). */
static json_t *recv_main(void *arg)
{
	struct recv_job *j = arg;
	struct ferr err = {0};
	struct mover_stats st;

	signal(SIGPIPE, SIG_IGN);   /* a cut stream is an error, not a death */
	int fd = sock_accept_from(CHILD_KEEP_FD, j->from, ACCEPT_MS);   /* the listener, kept by child_call_keep */
	if (fd < 0)
		return child_error("the source did not connect in time");
	close(CHILD_KEEP_FD);
	struct stream *s = stream_new_server(fd, &j->key);
	if (stream_handshake_wait(s, HANDSHAKE_MS, &err) < 0) {
		stream_free(s);
		return child_error("%s", err.msg);
	}
	int r = mover_receive(s, j->path, j->jpath, j->keep_journal, j->streams, &st, &err);
	stream_bye(s);
	stream_free(s);
	return r < 0 ? child_error("%s", err.msg) : stats_json(&st);
}

/* The stats of several streams as one. */
static void add_stats(json_t **sum, json_t *one)
{
	static const char *keys[] = { "data_bytes", "sent_bytes", "wire_bytes", "frames", "resent", "skipped_blocks" };

	if (!*sum) {
		*sum = json_deep_copy(one);
		json_object_set_new(*sum, "streams", json_integer(1));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		json_object_set_new(*sum, keys[i], json_integer(json_integer_value(json_object_get(*sum, keys[i])) +
							       json_integer_value(json_object_get(one, keys[i]))));
	if (json_integer_value(json_object_get(one, "passes")) > json_integer_value(json_object_get(*sum, "passes")))
		json_object_set(*sum, "passes", json_object_get(one, "passes"));
	json_object_set_new(*sum, "streams", json_integer(json_integer_value(json_object_get(*sum, "streams")) + 1));
	json_object_set_new(*sum, "image_hash", json_string(""));   /* one per stream: no single one */
}

/* Does a transfer (of any number of streams) have a journal for path? */
static bool has_journal(const char *path)
{
	char jpath[PATH_MAX + 32];

	snprintf(jpath, sizeof(jpath), "%s.journal", path);
	if (access(jpath, F_OK) == 0)
		return true;
	for (uint32_t n = 2; n <= MOVER_STREAMS_MAX; n++)
		for (uint32_t k = 0; k < n; k++) {
			snprintf(jpath, sizeof(jpath), "%s.journal.%u-%u", path, k, n);
			if (access(jpath, F_OK) == 0)
				return true;
		}
	return false;
}

static int moved_in_slot(struct agent *ag, const char *path)
{
	for (int i = 0; i < AGENT_MAX_MOVED_IN; i++)
		if (!strcmp(ag->moved_in[i], path))
			return i;
	return -1;
}

static void note_moved_in(struct agent *ag, const char *path)
{
	if (moved_in_slot(ag, path) >= 0 || strlen(path) >= sizeof(ag->moved_in[0]))
		return;   /* (a path that long: never dropped by request) */
	memcpy(ag->moved_in[ag->next_moved_in], path, strlen(path) + 1);
	ag->next_moved_in = (ag->next_moved_in + 1) % AGENT_MAX_MOVED_IN;
}

void mover_forget_vm(struct agent *ag, const struct vm *vm)
{
	for (int i = 0; i < vm->cfg->n_disks; i++) {
		int k = vm->cfg->disks[i].target ? moved_in_slot(ag, vm->cfg->disks[i].target) : -1;
		if (k >= 0)
			ag->moved_in[k][0] = 0;
	}
}

/* A cold move's disk that did not arrive whole goes (unless a VM of ours
 * opened it: its own end removes it). */
static void drop_move_disk(struct agent *ag, const char *path)
{
	char jpath[PATH_MAX + 16];

	if (vm_image_user(ag, path, false))
		return;
	if (unlink(path) == 0)
		log_info("removed a disk a cold move did not finish", "path=%s", path);
	snprintf(jpath, sizeof(jpath), "%s.journal", path);
	unlink(jpath);
	for (uint32_t n = 2; n <= MOVER_STREAMS_MAX; n++)
		for (uint32_t k = 0; k < n; k++) {
			snprintf(jpath, sizeof(jpath), "%s.journal.%u-%u", path, k, n);
			unlink(jpath);
		}
}

static void recv_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct recv_job *j = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	if (e) {
		if (!j->failed)
			snprintf(j->error, sizeof(j->error), "%s", e);
		j->failed = true;
	} else {
		add_stats(&j->sum, result);
	}
	if (--j->pending > 0)
		return;
	/* Every stream has ended: the file is whole only if each did. */
	if (!j->failed && j->final[0] && renameat2(AT_FDCWD, j->path, AT_FDCWD, j->final, RENAME_NOREPLACE) < 0) {
		snprintf(j->error, sizeof(j->error), "cannot put %.400s in place: %s", j->final, strerror(errno));
		j->failed = true;
	}
	if (j->failed) {
		log_warn("copy in failed", "path=%s error=\"%s\"", j->path, j->error);
		if (j->move_disk)
			drop_move_disk(ag, j->path);
	} else {
		log_info("copy in done", "path=%s bytes=%lld streams=%u", recv_name(j),
			 (long long)json_integer_value(json_object_get(j->sum, "sent_bytes")), j->streams);
	}
	/* Remembered for a copy-in-wait still to come; the one waiting told. */
	unsigned k = recv_ended_next++ % RECV_ENDED_MAX;
	recv_ended[k].used = true;
	recv_ended[k].failed = j->failed;
	snprintf(recv_ended[k].path, sizeof(recv_ended[k].path), "%s", recv_name(j));
	snprintf(recv_ended[k].from, sizeof(recv_ended[k].from), "%s", j->from);
	snprintf(recv_ended[k].error, sizeof(recv_ended[k].error), "%s", j->error);
	if (j->waiter) {
		if (j->failed)
			request_err(j->waiter, "host %s did not receive %s whole: %s", ag->cfg->host, recv_name(j), j->error);
		else
			request_ok(j->waiter, json_pack("{s:s}", "path", recv_name(j)));
	}
	for (struct recv_job **pp = &recv_jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	json_decref(j->sum);
	free(j);
}

/* copy-in-wait {path}: answered once the copy-in that answered that path,
 * asked from this source address, has ended here: {path} when the file is
 * whole and in place, an error otherwise. */
void mover_op_copy_in_wait(struct request *r, json_t *args, struct vm *unused)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	char from[64];

	(void)unused;
	if (server_client_peer_addr(r->ag, r->client_id, from, sizeof(from)) < 0) {
		request_err(r, "copy-in-wait comes from another agent over TCP");
		return;
	}
	for (struct recv_job *j = recv_jobs; j; j = j->next)
		if (!strcmp(recv_name(j), path) && !strcmp(j->from, from)) {
			if (j->waiter) {
				request_err(r, "the copy to %s is already awaited", path);
				return;
			}
			j->waiter = r;
			return;
		}
	for (unsigned n = 0; n < RECV_ENDED_MAX; n++) {   /* the newest first */
		unsigned k = (recv_ended_next + RECV_ENDED_MAX - 1 - n) % RECV_ENDED_MAX;
		if (!recv_ended[k].used || strcmp(recv_ended[k].path, path) || strcmp(recv_ended[k].from, from))
			continue;
		if (recv_ended[k].failed)
			request_err(r, "host %s did not receive %s whole: %s", r->ag->cfg->host, path, recv_ended[k].error);
		else
			request_ok(r, json_pack("{s:s}", "path", path));
		return;
	}
	request_err(r, "host %s has no copy to %s from %s", r->ag->cfg->host, path, from);
}

/* copy-in for `ferry copy`: a new file or volume (TARGET.part meanwhile). */
static int target_in(struct request *r, json_t *args, struct recv_job *j)
{
	struct ferr err = {0};
	const char *target = json_string_value(json_object_get(args, "target"));

	if (!target) {
		request_err(r, "copy-in needs a target, or a config and a disk");
		return -EINVAL;
	}
	if (resolve(r->ag, target, true, j->final, sizeof(j->final), &err) < 0) {
		request_err(r, "%s", err.msg);
		return -EINVAL;
	}
	if (access(j->final, F_OK) == 0) {
		request_err(r, "%s exists already on host %s", target, r->ag->cfg->host);
		return -EEXIST;
	}
	snprintf(j->path, sizeof(j->path), "%.*s.part", PATH_MAX - 6, j->final);
	snprintf(j->jpath, sizeof(j->jpath), "%s.journal", j->final);
	return 0;
}

/* copy-in for a cold move: the disk `vdev` of the guest in `config` goes to
 * its place in this host's state folder (this agent names it). A first pass
 * keeps its journal; the final one ("final") removes it. Refused when the
 * file belongs to anything but this move: another VM, or a whole file (no
 * journal) nobody is moving. */
static int move_disk_in(struct request *r, json_t *args, struct recv_job *j)
{
	struct agent *ag = r->ag;
	const char *text = json_string_value(json_object_get(args, "config"));
	const char *vdev = json_string_value(json_object_get(args, "vdev"));
	struct vm_config *cfg;
	struct ferr err = {0};
	int i;

	if (vmcfg_parse(text, strlen(text), "<moving config>", NULL, &cfg, &err) < 0) {
		request_err(r, "%s", err.msg);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_disks && strcmp(cfg->disks[i].vdev, vdev ?: ""); i++)
		;
	if (i == cfg->n_disks) {
		request_err(r, "%s has no disk %s", cfg->name, vdev ?: "(none given)");
		vmcfg_free(cfg);
		return -EINVAL;
	}
	dst_disk_path(ag, cfg, &cfg->disks[i], j->path, sizeof(j->path));
	snprintf(j->jpath, sizeof(j->jpath), "%s.journal", j->path);
	j->keep_journal = !json_is_true(json_object_get(args, "final"));
	j->move_disk = true;
	note_moved_in(ag, j->path);
	/* Only the incoming QEMU of this very move may have it open. */
	const struct vm *vm = vm_find(ag, cfg->name), *user = vm_image_user(ag, j->path, false);
	int rc = 0;
	if (vm && (vm->state != VM_INCOMING || vm != user))
		request_err(r, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host), rc = -EEXIST;
	else if (user && user != vm)
		request_err(r, "%s is in use by VM %s on host %s", j->path, user->cfg->name, ag->cfg->host), rc = -EBUSY;
	else if (access(j->path, F_OK) == 0 && !has_journal(j->path))
		request_err(r, "%s exists already on host %s and no move is filling it", j->path, ag->cfg->host), rc = -EEXIST;
	vmcfg_free(cfg);
	if (rc < 0)
		return rc;
	/* Room for its data (what is not there yet). */
	long long need = json_integer_value(json_object_get(args, "data_bytes")) - mover_file_data_bytes(j->path);
	struct statvfs fs;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/disks", ag->cfg->state_dir);
	if (need > 0 && statvfs(dir, &fs) == 0 && need > (long long)fs.f_bavail * (long long)fs.f_frsize) {
		request_err(r, "host %s has %lld MB free in %s: disk %s needs %lld MB", ag->cfg->host,
			    (long long)fs.f_bavail * (long long)fs.f_frsize / 1000000, dir, vdev, need / 1000000);
		return -ENOSPC;
	}
	return 0;
}

void mover_op_copy_in(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	struct recv_job *j = xcalloc(1, sizeof(*j));
	char addr[64];

	(void)unused;
	json_int_t n = json_integer_value(json_object_get(args, "streams"));
	j->streams = n > 0 ? (uint32_t)n : 1;
	if ((json_object_get(args, "config") ? move_disk_in(r, args, j) : target_in(r, args, j)) < 0) {
		free(j);
		return;
	}
	if (dst_listen_addr(ag, r->client_id, addr, sizeof(addr)) < 0 ||
	    server_client_peer_addr(ag, r->client_id, j->from, sizeof(j->from)) < 0) {
		request_err(r, "copy-in comes from another agent over TCP");
		free(j);
		return;
	}
	int port = 0;
	j->lfd = sock_listen_free_port(addr, MOVER_SOCKBUF, &port, &err);
	if (j->lfd < 0) {
		request_err(r, "cannot listen for the copy: %s", err.msg);
		free(j);
		return;
	}
	j->key = ag->key;
	j->ag = ag;
	fd_set_nonblock(j->lfd);
	/* One child per stream, each taking one connection. */
	for (uint32_t k = 0; k < j->streams; k++) {
		if (child_call_keep(ag, recv_main, j, j->lfd, COPY_TIMEOUT_MS, recv_done, j) < 0) {
			if (k == 0) {
				request_err(r, "cannot start the copy: out of processes");
				close(j->lfd);
				free(j);
				return;
			}
			break;   /* the sender's extra streams find nobody: the copy fails, cleanly */
		}
		j->pending++;
	}
	close(j->lfd);   /* the children have it */
	j->next = recv_jobs;
	recv_jobs = j;
	log_info("copy in", "path=%s from=%s port=%d streams=%u", j->path, j->from, port, j->streams);
	request_ok(r, json_pack("{s:i, s:s}", "port", port, "path", recv_name(j)));
}

void mover_op_disks_drop(struct request *r, json_t *args, struct vm *unused)
{
	const char *text = json_string_value(json_object_get(args, "config"));
	struct vm_config *cfg;
	struct ferr err = {0};
	char path[PATH_MAX];

	(void)unused;
	if (vmcfg_parse(text, strlen(text), "<moving config>", NULL, &cfg, &err) < 0) {
		request_err(r, "%s", err.msg);
		return;
	}
	/* Only what a cold move sent and no guest has run on yet: a key holder
	 * cannot remove a stopped guest's disk this way. */
	for (int i = 0; i < cfg->n_disks; i++) {
		dst_disk_path(r->ag, cfg, &cfg->disks[i], path, sizeof(path));
		int k = moved_in_slot(r->ag, path);
		if (k >= 0 && !vm_image_user(r->ag, path, false)) {
			drop_move_disk(r->ag, path);
			r->ag->moved_in[k][0] = 0;
		}
	}
	vmcfg_free(cfg);
	request_ok(r, NULL);
}

long long mover_file_data_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_blocks * 512 : 0;
}

void mover_drop_partial(struct agent *ag)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/disks", ag->cfg->state_dir);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		/* NAME.journal, or a stream's NAME.journal.K-N */
		const char *j = strstr(e->d_name, ".journal");
		unsigned k, n;
		char tail[8];
		if (!j || j == e->d_name || (j[8] && sscanf(j + 8, ".%u-%u%7s", &k, &n, tail) != 2))
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(j - e->d_name), e->d_name);
		drop_move_disk(ag, path);
	}
	closedir(d);
}

/* ---- push: the sending end ------------------------------------------------ */

struct push {
	struct agent *ag;
	struct peer *peer;
	long call;                /* the copy-in request; 0 once answered */
	uint32_t streams;
	pid_t pid[MOVER_STREAMS_MAX];   /* the sending children; 0: not (any more) */
	int pending;              /* children still running */
	bool cancelled, failed;
	char error[600];
	json_t *sum;
	int progress_fd;          /* parent: the read end of the children's progress lines */
	char line[256];
	size_t line_len;
	uint64_t sent[MOVER_STREAMS_MAX], wire[MOVER_STREAMS_MAX], pos[MOVER_STREAMS_MAX];
	char path[PATH_MAX], addr[64], rpath[PATH_MAX];
	int port;
	uint64_t size, source_id;
	struct tls_key key;
	push_progress_fn progress;
	push_done_fn done;
	void *opaque;
};

/* One sending child: which stream it sends. */
struct push_one {
	struct push *x;
	uint32_t index;
};

/* In the child: a progress line to the agent now and then (dropped when
 * the pipe is full: the transfer never waits for it). */
static void send_progress(const struct mover_stats *st, void *opaque)
{
	char line[200];
	int n = snprintf(line, sizeof(line),
			 "{\"i\":%u,\"sent_bytes\":%llu,\"wire_bytes\":%llu,\"pos\":%llu,\"size\":%llu}\n",
			 *(uint32_t *)opaque, (unsigned long long)st->sent_bytes, (unsigned long long)st->wire_bytes,
			 (unsigned long long)st->pos, (unsigned long long)st->size);
	if (write(CHILD_KEEP_FD, line, (size_t)n) < 0) {
		/* full or gone: fine */
	}
}

static json_t *send_main(void *arg)
{
	struct push_one *one = arg;
	struct push *x = one->x;
	struct ferr err = {0};
	struct mover_stats st;
	int fd = open(x->path, O_RDONLY | O_CLOEXEC);

	signal(SIGPIPE, SIG_IGN);

	if (fd < 0)
		return child_error("%s", strerror(errno));
	int sfd = sock_connect_tcp(x->addr, x->port, 5000, &err);
	if (sfd < 0) {
		close(fd);
		return child_error("%s", err.msg);
	}
	int yes = 1, sz = MOVER_SOCKBUF;
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	struct stream *s = stream_new_client(sfd, &x->key);
	int r = stream_handshake_wait(s, HANDSHAKE_MS, &err);
	if (r == 0)
		r = mover_send(s, fd, x->size, x->source_id, one->index, x->streams, send_progress, &one->index, &st, &err);
	stream_bye(s);
	stream_free(s);
	close(fd);
	return r < 0 ? child_error("%s", err.msg) : stats_json(&st);
}

/* The children's progress lines, summed over the streams and passed on. */
static void on_progress_fd(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct push *x = opaque;
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)events;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		loop_del_fd(l, fd);
		close(fd);
		x->progress_fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (x->line_len < sizeof(x->line) - 1)
				x->line[x->line_len++] = buf[i];
			continue;
		}
		x->line[x->line_len] = 0;
		x->line_len = 0;
		json_t *p = json_loads(x->line, 0, NULL);
		json_int_t k = json_integer_value(json_object_get(p, "i"));
		if (x->progress && k >= 0 && k < (json_int_t)x->streams && json_is_integer(json_object_get(p, "size"))) {
			x->sent[k] = (uint64_t)json_integer_value(json_object_get(p, "sent_bytes"));
			x->wire[k] = (uint64_t)json_integer_value(json_object_get(p, "wire_bytes"));
			x->pos[k] = (uint64_t)json_integer_value(json_object_get(p, "pos"));
			uint64_t sent = 0, wire = 0, pos = UINT64_MAX;
			for (uint32_t m = 0; m < x->streams; m++) {
				sent += x->sent[m];
				wire += x->wire[m];
				pos = x->pos[m] < pos ? x->pos[m] : pos;   /* the slowest stream's walk */
			}
			json_t *sum = json_pack("{s:I, s:I, s:I, s:I}", "sent_bytes", (json_int_t)sent, "wire_bytes",
						(json_int_t)wire, "pos", (json_int_t)pos, "size", (json_int_t)x->size);
			x->progress(sum, x->opaque);
			json_decref(sum);
		}
		json_decref(p);
	}
}

static void push_free(struct push *x)
{
	if (x->progress_fd >= 0) {
		loop_del_fd(x->ag->loop, x->progress_fd);
		close(x->progress_fd);
	}
	json_decref(x->sum);
	free(x);
}

static void on_copy_in_ended(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct push *x = opaque;
	char msg[700];

	(void)p;
	(void)result;
	x->call = 0;
	if (!x->cancelled) {
		if (err) {
			snprintf(msg, sizeof(msg), "the destination did not confirm the copy: %s", err);
			x->done(x->ag, NULL, msg, x->opaque);
		} else {
			json_object_set_new(x->sum, "path", json_string(x->rpath));
			x->done(x->ag, x->sum, NULL, x->opaque);
		}
	}
	push_free(x);
}

static void send_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct push_one *one = opaque;
	struct push *x = one->x;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	x->pid[one->index] = 0;
	free(one);
	if (e && !x->failed) {
		snprintf(x->error, sizeof(x->error), "%s", e);
		x->failed = true;
		/* One stream failed: the others stop too (the copy cannot be
		 * whole); what they sent stays in the journals. */
		for (uint32_t k = 0; k < x->streams; k++)
			if (x->pid[k] > 0)
				kill(x->pid[k], SIGKILL);
	} else if (!e) {
		add_stats(&x->sum, result);
	}
	if (--x->pending > 0)
		return;
	if (!x->cancelled && !x->failed) {
		/* Our streams are done; the copy is done when the destination
		 * says the file is whole and in place. */
		long id = peer_call(x->peer, "copy-in-wait", json_pack("{s:s}", "path", x->rpath), on_copy_in_ended, x);
		if (id >= 0)
			x->call = id;
		return;   /* on_copy_in_ended answers (it ran already if the call failed) */
	}
	if (!x->cancelled)
		x->done(ag, NULL, x->error, x->opaque);
	push_free(x);
}

static void on_copy_in(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct push *x = opaque;
	struct agent *ag = x->ag;
	char msg[600];

	(void)p;
	x->call = 0;
	if (x->cancelled) {
		push_free(x);
		return;
	}
	if (!err)
		x->port = (int)json_integer_value(json_object_get(result, "port"));
	snprintf(x->rpath, sizeof(x->rpath), "%s", json_string_value(json_object_get(result, "path")) ?: "");
	if (err || x->port <= 0 || x->port > 65535) {
		snprintf(msg, sizeof(msg), "%s", err ? err : "no port in its answer");
		x->done(ag, NULL, msg, x->opaque);
		push_free(x);
		return;
	}
	int pp[2];
	if (pipe2(pp, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(msg, sizeof(msg), "cannot start the copy: %s", strerror(errno));
		x->done(ag, NULL, msg, x->opaque);
		push_free(x);
		return;
	}
	for (uint32_t k = 0; k < x->streams; k++) {
		struct push_one *one = xcalloc(1, sizeof(*one));
		one->x = x;
		one->index = k;
		pid_t pid = child_call_keep(ag, send_main, one, pp[1], COPY_TIMEOUT_MS, send_done, one);
		if (pid < 0) {
			free(one);
			snprintf(x->error, sizeof(x->error), "cannot start the copy: out of processes");
			x->failed = true;
			for (uint32_t m = 0; m < k; m++)
				kill(x->pid[m], SIGKILL);
			break;
		}
		x->pid[k] = pid;
		x->pending++;
	}
	close(pp[1]);
	x->progress_fd = pp[0];
	loop_add_fd(ag->loop, pp[0], false, on_progress_fd, x);
	if (x->pending == 0) {
		x->done(ag, NULL, x->error, x->opaque);
		push_free(x);
	}
}

struct push *mover_push(struct agent *ag, struct peer *p, const char *addr, const char *path, json_t *copy_in_args,
			push_progress_fn progress, push_done_fn done, void *opaque)
{
	struct push *x = xcalloc(1, sizeof(*x));
	struct stat st;

	x->ag = ag;
	x->progress_fd = -1;
	x->progress = progress;
	x->done = done;
	x->opaque = opaque;
	json_int_t n = json_integer_value(json_object_get(copy_in_args, "streams"));
	x->streams = n >= 1 && n <= MOVER_STREAMS_MAX ? (uint32_t)n : 1;
	json_object_set_new(copy_in_args, "streams", json_integer(x->streams));
	snprintf(x->path, sizeof(x->path), "%s", path);
	snprintf(x->addr, sizeof(x->addr), "%s", addr);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		char msg[PATH_MAX + 100];
		json_decref(copy_in_args);
		snprintf(msg, sizeof(msg), "%s is not a non-empty regular file on host %s", path, ag->cfg->host);
		done(ag, NULL, msg, opaque);
		free(x);
		return NULL;
	}
	x->size = (uint64_t)st.st_size;
	/* This version of the file (for the logs: the journal's hashes decide
	 * what is sent). */
	x->source_id = (uint64_t)st.st_ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)st.st_size ^
		       ((uint64_t)st.st_mtim.tv_sec << 20) ^ (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_dev << 40;
	x->key = ag->key;
	json_object_set_new(copy_in_args, "size", json_integer((json_int_t)x->size));
	json_object_set_new(copy_in_args, "data_bytes", json_integer(mover_file_data_bytes(path)));
	x->peer = p;
	long id = peer_call(p, "copy-in", copy_in_args, on_copy_in, x);
	if (id < 0)
		return NULL;   /* on_copy_in ran: done was called */
	x->call = id;
	return x;
}

void mover_push_cancel(struct push *x)
{
	if (!x)
		return;
	x->cancelled = true;
	if (x->pending > 0) {
		for (uint32_t k = 0; k < x->streams; k++)
			if (x->pid[k] > 0)
				kill(x->pid[k], SIGKILL);   /* send_done frees it after the last */
	} else if (x->call) {
		peer_forget(x->peer, x->call);   /* the answer would find x gone */
		push_free(x);
	}
}

/* ---- copy: ferry copy's sending end -------------------------------------- */

struct copy_job {
	struct request *r;
	struct peer *peer;
	int streams;
	char path[PATH_MAX], target[4200], host[64], addr[64];
	int port;
	int64_t start_us;
};

/* A peer is dropped from the loop, never from inside its own callback. */
static void free_peer_later(struct loop *l, void *opaque)
{
	(void)l;
	peer_free(opaque);
}

static void copy_progress(json_t *p, void *opaque)
{
	struct copy_job *c = opaque;
	request_progress(c->r, json_incref(p));
}

static void copy_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct copy_job *c = opaque;

	if (err) {
		request_err(c->r, "copying %s to host %s failed: %s", c->path, c->host, err);
	} else {
		json_t *o = json_deep_copy(result);
		double s = (double)(time_mono_us() - c->start_us) / 1e6;
		json_object_del(o, "path");
		json_object_set_new(o, "seconds", json_real(s));
		json_object_set_new(o, "source", json_string(c->path));
		json_object_set_new(o, "target", json_string(c->target));
		json_object_set_new(o, "host", json_string(c->host));
		request_ok(c->r, o);
	}
	loop_add_timer(ag->loop, 0, free_peer_later, c->peer);
	free(c);
}

static void on_peer(struct peer *p, const char *err, void *opaque)
{
	struct copy_job *c = opaque;

	if (err) {
		copy_done(c->r->ag, NULL, err, c);
		return;
	}
	mover_push(c->r->ag, p, c->addr, c->path, json_pack("{s:s, s:i}", "target", c->target, "streams", c->streams),
		   copy_progress, copy_done, c);
}

void mover_op_copy(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	json_t *dest = json_object_get(args, "dest");
	struct copy_job *c = xcalloc(1, sizeof(*c));

	(void)unused;
	c->r = r;
	snprintf(c->host, sizeof(c->host), "%s", json_string_value(json_object_get(dest, "host")));
	snprintf(c->addr, sizeof(c->addr), "%s", json_string_value(json_object_get(dest, "addr")));
	snprintf(c->target, sizeof(c->target), "%s", json_string_value(json_object_get(args, "target")));
	c->streams = json_object_get(args, "streams") ? (int)json_integer_value(json_object_get(args, "streams"))
						       : MOVER_STREAMS_DEFAULT;
	if (!ag->have_key) {
		request_err(r, "host %s has no key_file: it cannot talk to %s", ag->cfg->host, c->host);
		free(c);
		return;
	}
	if (resolve(ag, json_string_value(json_object_get(args, "source")), false, c->path, sizeof(c->path), &err) < 0) {
		request_err(r, "%s", err.msg);
		free(c);
		return;
	}
	/* A VM writing the image would make the copy torn. */
	const struct vm *user = vm_image_user(ag, c->path, true);
	if (user) {
		request_err(r, "%s is in use by VM %s on host %s: copy it while the VM is off", c->path, user->cfg->name,
			    ag->cfg->host);
		free(c);
		return;
	}
	c->start_us = time_mono_us();
	c->peer = peer_connect(ag, c->host, c->addr, (int)json_integer_value(json_object_get(dest, "port")), on_peer, c);
	if (!c->peer) {
		request_err(r, "cannot reach host %s", c->host);
		free(c);
	}
}

/* mover_ops.c: ferryd's side of the disk mover (src/mover, docs/mover.md).
 * copy (on the source agent): sends a file of its vm_dirs, or a volume of a
 * file-backed pool, to another agent; copy-in (on the destination, asked by
 * the source agent): listens on the address the source reached it on, for
 * one TLS-PSK connection from that source's address, and receives into a new
 * file of its vm_dirs or a new volume. Each end runs in a child process
 * (child_call): the transfer blocks, the agent does not. */
#include "ferryd/agent.h"
#include "ferryd/mig_dst.h"
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
#include <sys/stat.h>

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
	const char *slash = strrchr(spec, '/');
	char dir[PATH_MAX], real[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - spec), spec);
	if (!pool_vol_name_ok(slash + 1) || !realpath(dir[0] ? dir : "/", real) ||
	    !agentcfg_path_allowed(ag->cfg, real) || strlen(real) + strlen(slash) >= n) {
		ferr_set(err, "the copy must be a new file with a plain name, by absolute path, in a folder VM files may "
			 "come from on host %s (vm_dirs)", ag->cfg->host);
		return -EPERM;
	}
	memcpy(out, real, strlen(real));
	memcpy(out + strlen(real), slash, strlen(slash) + 1);
	return 0;
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

/* A stream's TLS handshake within HANDSHAKE_MS (the fd is blocking). */
static int handshake(struct stream *s, struct ferr *err)
{
	int64_t deadline = time_mono_us() + HANDSHAKE_MS * 1000LL;
	int r;

	while ((r = stream_handshake(s, err)) == -EAGAIN) {
		int left = (int)((deadline - time_mono_us()) / 1000);
		if (left <= 0) {
			ferr_set(err, "TLS handshake timed out");
			return -ETIMEDOUT;
		}
		struct pollfd p = { stream_fd(s), stream_handshake_wants_write(s) ? POLLOUT : POLLIN, 0 };
		poll(&p, 1, left);
	}
	return r;
}

/* ---- copy-in: the receiving end ------------------------------------------ */

struct recv_job {
	int lfd;
	char from[64];
	struct tls_key key;
	char path[PATH_MAX];
};

static json_t *error_json(const char *msg)
{
	return json_pack("{s:s}", "error", msg);
}

/* In the child: one connection from the source's address, then receive. */
static json_t *recv_main(void *arg)
{
	struct recv_job *j = arg;
	struct ferr err = {0};
	struct mover_stats st;
	int64_t deadline = time_mono_us() + ACCEPT_MS * 1000LL;

	signal(SIGPIPE, SIG_IGN);   /* a cut stream is an error, not a death */
	j->lfd = CHILD_KEEP_FD;      /* the listener, kept by child_call_keep */
	for (;;) {
		int left = (int)((deadline - time_mono_us()) / 1000);
		struct pollfd p = { j->lfd, POLLIN, 0 };
		if (left <= 0)
			return error_json("the source did not connect in time");
		if (poll(&p, 1, left) <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(j->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		char host[64] = "";
		if (fd < 0)
			continue;
		sock_addr_ntop(&ss, host, sizeof(host));
		if (strcmp(host, j->from)) {   /* only the source agent's address */
			close(fd);
			continue;
		}
		close(j->lfd);
		struct stream *s = stream_new_server(fd, &j->key);
		if (handshake(s, &err) < 0) {
			stream_free(s);
			return error_json(err.msg);
		}
		int r = mover_receive(s, j->path, &st, &err);
		stream_bye(s);
		stream_free(s);
		return r < 0 ? error_json(err.msg) : stats_json(&st);
	}
}

static void recv_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct recv_job *j = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	(void)ag;
	if (e)
		log_warn("copy in failed", "path=%s error=\"%s\"", j->path, e);
	else
		log_info("copy in done", "path=%s bytes=%lld", j->path,
			 (long long)json_integer_value(json_object_get(result, "sent_bytes")));
	free(j);
}

void mover_op_copy_in(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	struct recv_job *j = xcalloc(1, sizeof(*j));
	char addr[64];

	(void)unused;
	if (resolve(ag, json_string_value(json_object_get(args, "target")), true, j->path, sizeof(j->path), &err) < 0) {
		request_err(r, "%s", err.msg);
		free(j);
		return;
	}
	if (access(j->path, F_OK) == 0) {
		request_err(r, "%s exists already on host %s", json_string_value(json_object_get(args, "target")),
			    ag->cfg->host);
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
	if (child_call_keep(ag, recv_main, j, j->lfd, COPY_TIMEOUT_MS, recv_done, j) < 0) {
		request_err(r, "cannot start the copy: out of processes");
		close(j->lfd);
		free(j);
		return;
	}
	close(j->lfd);   /* the child has it */
	log_info("copy in", "path=%s from=%s port=%d", j->path, j->from, port);
	request_ok(r, json_pack("{s:i}", "port", port));
}

/* ---- copy: the sending end ------------------------------------------------ */

struct send_job {
	struct request *r;
	struct peer *peer;
	int progress_fd;          /* parent: the read end of the child's progress lines */
	char line[256];
	size_t line_len;
	char path[PATH_MAX], target[4200], host[64], addr[64];
	int port;
	uint64_t size, source_id;
	struct tls_key key;
	int64_t start_us;
};

/* In the child: a progress line to the agent now and then (dropped when
 * the pipe is full: the transfer never waits for it). */
static void send_progress(const struct mover_stats *st, void *opaque)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"sent_bytes\":%llu,\"wire_bytes\":%llu,\"pos\":%llu,\"size\":%llu}\n",
			 (unsigned long long)st->sent_bytes, (unsigned long long)st->wire_bytes,
			 (unsigned long long)st->pos, (unsigned long long)st->size);
	(void)opaque;
	if (write(CHILD_KEEP_FD, line, (size_t)n) < 0) {
		/* full or gone: fine */
	}
}

static json_t *send_main(void *arg)
{
	struct send_job *j = arg;
	struct ferr err = {0};
	struct mover_stats st;
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);

	signal(SIGPIPE, SIG_IGN);

	if (fd < 0)
		return error_json(strerror(errno));
	int sfd = sock_connect_tcp(j->addr, j->port, 5000, &err);
	if (sfd < 0) {
		close(fd);
		return error_json(err.msg);
	}
	int one = 1, sz = MOVER_SOCKBUF;
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	struct stream *s = stream_new_client(sfd, &j->key);
	int r = handshake(s, &err);
	if (r == 0)
		r = mover_send(s, fd, j->size, j->source_id, send_progress, NULL, &st, &err);
	stream_bye(s);
	stream_free(s);
	close(fd);
	return r < 0 ? error_json(err.msg) : stats_json(&st);
}

/* The child's progress lines, passed on to the client (the last whole one). */
static void on_progress_fd(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct send_job *j = opaque;
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)events;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		loop_del_fd(l, fd);
		close(fd);
		j->progress_fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (j->line_len < sizeof(j->line) - 1)
				j->line[j->line_len++] = buf[i];
			continue;
		}
		j->line[j->line_len] = 0;
		j->line_len = 0;
		json_t *p = json_loads(j->line, 0, NULL);
		if (json_is_integer(json_object_get(p, "sent_bytes")) && json_is_integer(json_object_get(p, "size")))
			request_progress(j->r, json_incref(p));
		json_decref(p);
	}
}

static void send_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct send_job *j = opaque;
	const char *e = err ?: json_string_value(json_object_get(result, "error"));

	if (j->progress_fd >= 0) {
		loop_del_fd(ag->loop, j->progress_fd);
		close(j->progress_fd);
	}
	if (e) {
		request_err(j->r, "copying %s to host %s failed: %s", j->path, j->host, e);
	} else {
		json_t *o = json_deep_copy(result);
		double s = (double)(time_mono_us() - j->start_us) / 1e6;
		json_object_set_new(o, "seconds", json_real(s));
		json_object_set_new(o, "source", json_string(j->path));
		json_object_set_new(o, "target", json_string(j->target));
		json_object_set_new(o, "host", json_string(j->host));
		request_ok(j->r, o);
	}
	free(j);
}

/* A peer is dropped from the loop, never from inside its own callback. */
static void free_peer_later(struct loop *l, void *opaque)
{
	(void)l;
	peer_free(opaque);
}

static void drop_peer(struct agent *ag, struct peer *p)
{
	loop_add_timer(ag->loop, 0, free_peer_later, p);
}

static void on_copy_in(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct send_job *j = opaque;
	struct agent *ag = j->r->ag;

	if (!err)
		j->port = (int)json_integer_value(json_object_get(result, "port"));
	if (err || j->port <= 0 || j->port > 65535) {
		request_err(j->r, "host %s cannot take the copy: %s", j->host, err ? err : "no port in its answer");
		drop_peer(ag, p);
		free(j);
		return;
	}
	drop_peer(ag, p);
	j->peer = NULL;
	int pp[2];
	if (pipe2(pp, O_CLOEXEC | O_NONBLOCK) < 0) {
		request_err(j->r, "cannot start the copy: %s", strerror(errno));
		free(j);
		return;
	}
	if (child_call_keep(ag, send_main, j, pp[1], COPY_TIMEOUT_MS, send_done, j) < 0) {
		request_err(j->r, "cannot start the copy: out of processes");
		close(pp[0]);
		close(pp[1]);
		free(j);
		return;
	}
	close(pp[1]);
	j->progress_fd = pp[0];
	loop_add_fd(ag->loop, pp[0], false, on_progress_fd, j);
}

static void on_peer(struct peer *p, const char *err, void *opaque)
{
	struct send_job *j = opaque;

	if (err) {
		struct agent *ag = j->r->ag;
		request_err(j->r, "%s", err);
		drop_peer(ag, p);
		free(j);
		return;
	}
	peer_call(p, "copy-in", json_pack("{s:s, s:I}", "target", j->target, "size", (json_int_t)j->size), on_copy_in, j);
}

void mover_op_copy(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct ferr err = {0};
	json_t *dest = json_object_get(args, "dest");
	struct send_job *j = xcalloc(1, sizeof(*j));
	struct stat st;

	(void)unused;
	j->r = r;
	j->progress_fd = -1;
	snprintf(j->host, sizeof(j->host), "%s", json_string_value(json_object_get(dest, "host")));
	snprintf(j->addr, sizeof(j->addr), "%s", json_string_value(json_object_get(dest, "addr")));
	snprintf(j->target, sizeof(j->target), "%s", json_string_value(json_object_get(args, "target")));
	if (!ag->have_key) {
		request_err(r, "host %s has no key_file: it cannot talk to %s", ag->cfg->host, j->host);
		free(j);
		return;
	}
	if (resolve(ag, json_string_value(json_object_get(args, "source")), false, j->path, sizeof(j->path), &err) < 0) {
		request_err(r, "%s", err.msg);
		free(j);
		return;
	}
	if (stat(j->path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		request_err(r, "%s is not a non-empty regular file on host %s", j->path, ag->cfg->host);
		free(j);
		return;
	}
	/* A VM writing the image would make the copy torn. */
	const struct vm *user = vm_image_user(ag, j->path, true);
	if (user) {
		request_err(r, "%s is in use by VM %s on host %s: copy it while the VM is off", j->path, user->cfg->name,
			    ag->cfg->host);
		free(j);
		return;
	}
	j->size = (uint64_t)st.st_size;
	/* This version of the file: a changed file is a new transfer. */
	j->source_id = (uint64_t)st.st_ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)st.st_size ^
		       ((uint64_t)st.st_mtim.tv_sec << 20) ^ (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_dev << 40;
	j->key = ag->key;
	j->start_us = time_mono_us();
	j->peer = peer_connect(ag, j->host, j->addr, (int)json_integer_value(json_object_get(dest, "port")), on_peer, j);
	if (!j->peer) {
		request_err(r, "cannot reach host %s", j->host);
		free(j);
	}
}

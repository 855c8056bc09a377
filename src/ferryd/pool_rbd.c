/* pool_rbd.c: an RBD pool's work on its cluster, through librados and
 * librbd (pool_io.h's jobs, run in a child: a cluster that does not answer
 * must not stall the agent, and every call is bounded by the timeouts set
 * below). Volumes are raw RBD images: created with the cluster's default
 * features (exclusive-lock among them), imported and exported sparse (only
 * the extents that hold data are read and written). */
#include "ferryd/pool_io.h"
#include "ferryd/agent.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define TIMEOUT_S "10"          /* monitors, OSDs: a cluster that does not answer */
#define CHUNK (4 << 20)
#define PROBE_NAME ".ferry-write-probe"
#define MAX_IMAGES 4096

struct conn {
	rados_t cluster;
	rados_ioctx_t io;
	char fsid[40], pool[64];
};

static void disconnect(struct conn *c)
{
	if (c->io)
		rados_ioctx_destroy(c->io);
	if (c->cluster)
		rados_shutdown(c->cluster);
}

/* Connected to the pool's cluster as its user, the pool open; NULL, or the
 * error said as an operator would want it. */
static json_t *connect_pool(const struct pool *p, struct conn *c)
{
	char want[40];
	struct ferr e = {0};
	int r;

	memset(c, 0, sizeof(*c));
	if (pool_rbd_split(p->location, want, sizeof(want), c->pool, sizeof(c->pool), &e) < 0)
		return child_error("%s", e.msg);
	if ((r = rados_create(&c->cluster, p->ceph_user)) < 0)
		return child_error("cannot start a Ceph client: %s", strerror(-r));
	if ((r = rados_conf_read_file(c->cluster, p->ceph_conf)) < 0) {
		disconnect(c);
		return child_error("cannot read the Ceph configuration %s: %s", p->ceph_conf, strerror(-r));
	}
	rados_conf_set(c->cluster, "client_mount_timeout", TIMEOUT_S);
	rados_conf_set(c->cluster, "rados_mon_op_timeout", TIMEOUT_S);
	rados_conf_set(c->cluster, "rados_osd_op_timeout", TIMEOUT_S);
	rados_conf_set(c->cluster, "log_to_stderr", "false");
	rados_conf_set(c->cluster, "err_to_stderr", "false");
	if ((r = rados_connect(c->cluster)) < 0) {
		json_t *err = child_error("cannot reach the Ceph cluster of %s as client.%s: %s%s", p->ceph_conf, p->ceph_user,
				    strerror(-r),
				    r == -ETIMEDOUT ? " (no monitor answered within " TIMEOUT_S " s)" :
				    r == -EACCES || r == -EPERM ? " (the key in the keyring the configuration names is not "
								   "this user's)" : "");
		rados_shutdown(c->cluster);
		c->cluster = NULL;
		return err;
	}
	if (rados_cluster_fsid(c->cluster, c->fsid, sizeof(c->fsid)) < 0)
		c->fsid[0] = 0;
	if (want[0] && strcmp(want, c->fsid)) {
		disconnect(c);
		return child_error("the cluster of %s is %s, not %s", p->ceph_conf, c->fsid, want);
	}
	if ((r = rados_ioctx_create(c->cluster, c->pool, &c->io)) < 0) {
		c->io = NULL;
		disconnect(c);
		return child_error(r == -ENOENT ? "the Ceph cluster of %s has no pool named %s" :
			     "cannot open pool %2$s of the Ceph cluster of %1$s", p->ceph_conf, c->pool);
	}
	return NULL;
}

static int sum_extent(uint64_t off, size_t len, int exists, void *arg)
{
	(void)off;
	if (exists)
		*(uint64_t *)arg += len;
	return 0;
}

/* The pool's replica count (osd pool get POOL size), or 1. */
static int pool_size(struct conn *c)
{
	char cmd[200];
	const char *cmds[1] = { cmd };
	char *out = NULL, *st = NULL;
	size_t ol = 0, sl = 0;
	int size = 1;

	snprintf(cmd, sizeof(cmd), "{\"prefix\": \"osd pool get\", \"pool\": \"%s\", \"var\": \"size\", \"format\": \"json\"}",
		 c->pool);
	if (rados_mon_command(c->cluster, cmds, 1, "", 0, &out, &ol, &st, &sl) == 0 && out) {
		json_t *j = json_loadb(out, ol, 0, NULL);
		json_int_t v = json_integer_value(json_object_get(j, "size"));
		if (v > 0 && v < 100)
			size = (int)v;
		json_decref(j);
	}
	rados_buffer_free(out);
	rados_buffer_free(st);
	return size;
}

static json_t *info(struct conn *c)
{
	rbd_image_spec_t *specs = calloc(MAX_IMAGES, sizeof(*specs));
	size_t n = MAX_IMAGES;
	struct rados_cluster_stat_t cs;
	json_t *vols = json_array();
	int r = -ENOMEM;

	if (!specs || (r = rbd_list2(c->io, specs, &n)) < 0) {
		free(specs);
		json_decref(vols);
		return child_error("cannot list the images of pool %s: %s", c->pool, specs ? strerror(-r) : "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		rbd_image_t img;
		uint64_t size = 0, used = 0;
		if (!pool_vol_name_ok(specs[i].name) || rbd_open_read_only(c->io, specs[i].name, &img, NULL) < 0)
			continue;
		rbd_get_size(img, &size);
		rbd_diff_iterate2(img, NULL, 0, size, 0, 1, sum_extent, &used);
		rbd_close(img);
		json_array_append_new(vols, json_pack("{s:s, s:I, s:I}", "name", specs[i].name, "size_bytes",
						      (json_int_t)size, "allocated_bytes", (json_int_t)used));
	}
	rbd_image_spec_list_cleanup(specs, n);
	free(specs);
	int copies = pool_size(c);
	if (rados_cluster_stat(c->cluster, &cs) < 0)
		memset(&cs, 0, sizeof(cs));
	/* What the pool can hold: the cluster's raw space over its copies. */
	return json_pack("{s:I, s:I, s:o, s:s, s:i}", "capacity_bytes", (json_int_t)(cs.kb * 1024 / copies),
			 "free_bytes", (json_int_t)(cs.kb_avail * 1024 / copies), "volumes", vols, "fsid", c->fsid,
			 "copies", copies);
}

json_t *pool_rbd_do(const struct pool_job *j)
{
	struct conn c;
	json_t *out = connect_pool(&j->pool, &c);
	char probe[64];
	rbd_image_t img;
	int order = 0, r;

	if (out)
		return out;
	switch (j->what) {
	case PJ_PROBE:
		/* Reachable, and this user may make and remove images. */
		snprintf(probe, sizeof(probe), PROBE_NAME "-%d", (int)getpid());
		if ((r = rbd_create(c.io, probe, 1 << 22, &order)) < 0) {
			out = child_error("client.%s cannot make images in pool %s: %s", j->pool.ceph_user, c.pool, strerror(-r));
			break;
		}
		rbd_remove(c.io, probe);
		out = json_pack("{s:s}", "fsid", c.fsid);
		break;
	case PJ_INFO:
		out = info(&c);
		break;
	case PJ_EXISTS:
		r = rbd_open_read_only(c.io, j->vol, &img, NULL);
		if (r == 0)
			rbd_close(img);
		out = r == 0 || r == -ENOENT ? json_pack("{s:b}", "exists", r == 0) :
			child_error("cannot open %s in pool %s: %s", j->vol, c.pool, strerror(-r));
		break;
	case PJ_DELETE:
		r = rbd_remove(c.io, j->vol);
		out = r == 0 ? json_object() :
		      r == -EBUSY ? child_error("volume %s of pool %s is open by a client (a QEMU on some host): not deleted",
					  j->vol, j->pool.name) :
		      child_error("cannot delete %s from pool %s: %s", j->vol, j->pool.name, strerror(-r));
		break;
	}
	disconnect(&c);
	return out;
}

json_t *pool_rbd_create(const struct pool_job *j)
{
	struct conn c;
	json_t *out = connect_pool(&j->pool, &c);
	int order = 0, r;

	if (out)
		return out;
	r = rbd_create(c.io, j->vol, (uint64_t)j->size, &order);
	out = r == 0 ? json_object() :
	      r == -EEXIST ? child_error("pool %s already has a volume %s", j->pool.name, j->vol) :
	      child_error("cannot create %s in pool %s: %s", j->vol, j->pool.name, strerror(-r));
	disconnect(&c);
	return out;
}

static bool all_zero(const char *b, size_t n)
{
	static const char z[4096];
	for (size_t i = 0; i < n; i += sizeof(z)) {
		size_t k = n - i < sizeof(z) ? n - i : sizeof(z);
		if (memcmp(b + i, z, k))
			return false;
	}
	return true;
}

/* A raw file into a new image of its size: the file's data extents only,
 * zero blocks inside them skipped too. */
json_t *pool_rbd_import(const struct pool_job *j)
{
	struct conn c;
	struct stat st;
	json_t *out;
	int fd = open(j->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), order = 0, r;
	char *buf = NULL;
	rbd_image_t img = NULL;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return child_error("cannot read %s: %s", j->file, strerror(errno));
	}
	if ((out = connect_pool(&j->pool, &c))) {
		close(fd);
		return out;
	}
	r = rbd_create(c.io, j->vol, (uint64_t)st.st_size, &order);
	if (r < 0) {
		out = r == -EEXIST ? child_error("pool %s already has a volume %s", j->pool.name, j->vol) :
		      child_error("cannot create %s in pool %s: %s", j->vol, j->pool.name, strerror(-r));
		goto done;
	}
	if ((r = rbd_open(c.io, j->vol, &img, NULL)) < 0 || !(buf = malloc(CHUNK))) {
		out = child_error("cannot open the new volume %s: %s", j->vol, strerror(r < 0 ? -r : ENOMEM));
		goto undo;
	}
	for (off_t pos = 0; pos < st.st_size;) {
		off_t d = lseek(fd, pos, SEEK_DATA), h;
		if (d < 0)
			break;   /* ENXIO: only a hole is left */
		h = lseek(fd, d, SEEK_HOLE);
		for (off_t at = d; at < h;) {
			size_t n = (size_t)(h - at) < CHUNK ? (size_t)(h - at) : CHUNK;
			ssize_t got = pread(fd, buf, n, at);
			if (got <= 0) {
				out = child_error("cannot read %s: %s", j->file, got < 0 ? strerror(errno) : "it shrank");
				goto undo;
			}
			if (!all_zero(buf, (size_t)got) && (r = (int)rbd_write(img, (uint64_t)at, (size_t)got, buf)) != got) {
				out = child_error("cannot write volume %s: %s", j->vol, strerror(r < 0 ? -r : EIO));
				goto undo;
			}
			at += got;
		}
		pos = h;
	}
	if ((r = rbd_flush(img)) < 0) {
		out = child_error("cannot write volume %s: %s", j->vol, strerror(-r));
		goto undo;
	}
	out = json_object();
	goto done;
undo:   /* nothing half-imported is left */
	if (img) {
		rbd_close(img);
		img = NULL;
	}
	rbd_remove(c.io, j->vol);
done:
	if (img)
		rbd_close(img);
	free(buf);
	close(fd);
	disconnect(&c);
	return out;
}

struct export_ctx {
	rbd_image_t img;
	int fd;
	char *buf;
	int err;
};

static int export_extent(uint64_t off, size_t len, int exists, void *arg)
{
	struct export_ctx *x = arg;

	if (!exists)
		return 0;
	for (uint64_t at = off; at < off + len;) {
		size_t n = off + len - at < CHUNK ? (size_t)(off + len - at) : CHUNK;
		ssize_t got = rbd_read(x->img, at, n, x->buf);
		if (got <= 0) {
			x->err = got < 0 ? (int)-got : EIO;
			return -1;
		}
		if (!all_zero(x->buf, (size_t)got) && pwrite(x->fd, x->buf, (size_t)got, (off_t)at) != got) {
			x->err = errno ? errno : ENOSPC;
			return -1;
		}
		at += (uint64_t)got;
	}
	return 0;
}

/* An image into a new raw file, sparse: only the extents the image holds. */
json_t *pool_rbd_export(const struct pool_job *j)
{
	struct conn c;
	struct export_ctx x = { .fd = -1 };
	uint64_t size = 0;
	json_t *out = connect_pool(&j->pool, &c);
	int r;

	if (out)
		return out;
	if ((r = rbd_open_read_only(c.io, j->vol, &x.img, NULL)) < 0) {
		out = r == -ENOENT ? child_error("pool %s has no volume %s", j->pool.name, j->vol) :
		      child_error("cannot open %s in pool %s: %s", j->vol, j->pool.name, strerror(-r));
		disconnect(&c);
		return out;
	}
	rbd_get_size(x.img, &size);
	x.fd = open(j->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	x.buf = malloc(CHUNK);
	if (x.fd < 0 || !x.buf || ftruncate(x.fd, (off_t)size) < 0) {
		out = child_error("cannot create %s: %s", j->file, strerror(errno));
	} else if (rbd_diff_iterate2(x.img, NULL, 0, size, 0, 0, export_extent, &x) < 0 || x.err || fsync(x.fd) < 0) {
		out = child_error("cannot export %s of pool %s: %s", j->vol, j->pool.name, strerror(x.err ? x.err : errno));
	} else {
		out = json_pack("{s:s}", "format", "raw");
	}
	if (x.fd >= 0) {
		close(x.fd);
		if (json_object_get(out, "error"))
			unlink(j->file);
	}
	free(x.buf);
	rbd_close(x.img);
	disconnect(&c);
	return out;
}

json_t *pool_rbd_check_unused(void *arg)
{
	const struct rbd_unused_job *j = arg;

	for (int i = 0; i < j->n; i++) {
		struct conn c;
		rbd_image_t img;
		rbd_image_watcher_t w[8];
		size_t n = 8;
		json_t *out = connect_pool(&j->pool[i], &c);
		int r;

		if (out)
			return out;
		if ((r = rbd_open_read_only(c.io, j->vol[i], &img, NULL)) < 0) {
			out = r == -ENOENT ? child_error("pool %s has no volume %s", j->pool[i].name, j->vol[i]) :
			      child_error("cannot open %s in pool %s: %s", j->vol[i], j->pool[i].name, strerror(-r));
			disconnect(&c);
			return out;
		}
		r = rbd_watchers_list(img, w, &n);
		if (r == 0 && n > 0)
			out = child_error("disk %s (%s of pool %s) is open by another client of the cluster (%s): a second "
					  "writer would take the image over; stop the guest that has it first", j->vdev[i],
					  j->vol[i], j->pool[i].name, w[0].addr ? w[0].addr : "?");
		else if (r < 0 && r != -ERANGE)
			out = child_error("cannot list the clients of %s in pool %s: %s", j->vol[i], j->pool[i].name,
					  strerror(-r));
		else if (r == -ERANGE)
			out = child_error("disk %s (%s of pool %s) is open by more than 8 clients of the cluster", j->vdev[i],
					  j->vol[i], j->pool[i].name);
		if (r == 0)
			rbd_watchers_list_cleanup(w, n);
		rbd_close(img);
		disconnect(&c);
		if (out)
			return out;
	}
	return json_object();
}

/* pool_io.c: what a pool operation does to its storage. It runs in a child
 * (child_call): an NFS server that does not answer, or a slow mount behind a
 * path pool, must not stall the agent's loop. A local folder is used through
 * the file system, an NFS export through libnfs as the pool's uid/gid (the
 * same client QEMU uses: nothing is mounted). */
#include "ferryd/pool_io.h"
#include "util/util.h"
#include "ferryd/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <nfsc/libnfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFS_TIMEOUT_MS 5000
#define PROBE_NAME ".ferry-write-probe"

/* ---- NFS ---------------------------------------------------------------- */

static struct nfs_context *export_open(const struct pool *p, json_t **err)
{
	char host[64], export[POOL_LOCATION_MAX];
	struct ferr e = {0};
	struct nfs_context *nfs;

	if (pool_nfs_split(p->location, host, sizeof(host), export, sizeof(export), &e) < 0) {
		*err = child_error("%s", e.msg);
		return NULL;
	}
	if (!(nfs = nfs_init_context())) {
		*err = child_error("cannot start an NFS client");
		return NULL;
	}
	nfs_set_timeout(nfs, NFS_TIMEOUT_MS);
	if (p->uid >= 0)
		nfs_set_uid(nfs, p->uid);
	if (p->gid >= 0)
		nfs_set_gid(nfs, p->gid);
	if (nfs_mount(nfs, host, export) != 0) {
		*err = child_error("cannot reach the NFS export %s: %s", p->location, nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return NULL;
	}
	return nfs;
}

static json_t *nfs_do(const struct pool_job *j)
{
	json_t *err = NULL, *out = NULL;
	struct nfs_context *nfs = export_open(&j->pool, &err);
	char path[POOL_VOL_MAX + 48];
	struct nfs_stat_64 st;

	if (!nfs)
		return err;
	if (j->what == PJ_PROBE)
		snprintf(path, sizeof(path), "/" PROBE_NAME "-%d", (int)getpid());
	else
		snprintf(path, sizeof(path), "/%s", j->vol);
	switch (j->what) {
	case PJ_PROBE: {
		struct nfsfh *fh;
		if (nfs_creat(nfs, path, 0600, &fh) != 0) {
			out = child_error("the NFS export %s is not writable as uid %d: %s", j->pool.location, j->pool.uid,
				    nfs_get_error(nfs));
			break;
		}
		nfs_close(nfs, fh);
		nfs_unlink(nfs, path);
		out = json_object();
		break;
	}
	case PJ_INFO: {
		struct nfs_statvfs_64 sv;
		struct nfsdir *dir;
		struct nfsdirent *de;
		json_t *vols = json_array();
		if (nfs_statvfs64(nfs, "/", &sv) != 0 || nfs_opendir(nfs, "/", &dir) != 0) {
			json_decref(vols);
			out = child_error("cannot read the NFS export %s: %s", j->pool.location, nfs_get_error(nfs));
			break;
		}
		while ((de = nfs_readdir(nfs, dir)))
			if (S_ISREG(de->mode) && pool_vol_name_ok(de->name))
				json_array_append_new(vols, json_pack("{s:s, s:I, s:I}", "name", de->name, "size_bytes",
								      (json_int_t)de->size, "allocated_bytes", (json_int_t)de->used));
		nfs_closedir(nfs, dir);
		out = json_pack("{s:I, s:I, s:o}", "capacity_bytes", (json_int_t)(sv.f_blocks * sv.f_frsize),
				"free_bytes", (json_int_t)(sv.f_bavail * sv.f_frsize), "volumes", vols);
		break;
	}
	case PJ_EXISTS:
		out = json_pack("{s:b}", "exists", nfs_stat64(nfs, path, &st) == 0);
		break;
	case PJ_DELETE:
		out = nfs_unlink(nfs, path) == 0 ? json_object() :
			child_error("cannot delete %s from %s: %s", j->vol, j->pool.location, nfs_get_error(nfs));
		break;
	}
	nfs_destroy_context(nfs);
	return out;
}

/* ---- a local folder (an SMB share through its FUSE mount too) ------------ */

#define MOUNT_WAIT_MS 10000

/* SMB: the share appears in the mount once smbnetfs has logged in. */
static json_t *wait_share(const struct pool *p)
{
	struct stat st;

	for (int i = 0; i < MOUNT_WAIT_MS / 50; i++) {
		if (stat(p->folder, &st) == 0 && S_ISDIR(st.st_mode))
			return NULL;
		usleep(50000);
	}
	return child_error("cannot reach the SMB share %s (is the server up, are the credentials in %s right?)",
		     p->location, p->credentials);
}

static json_t *local_do(const struct pool_job *j)
{
	char path[POOL_LOCATION_MAX + POOL_VOL_MAX + 128];
	const char *folder = j->pool.folder;
	struct stat st;
	json_t *e;

	if (j->pool.type == POOL_SMB && (e = wait_share(&j->pool)))
		return e;
	/* The probe's name is this process's: hosts sharing the pool may probe
	 * it at the same time, and a network file system may still show a
	 * probe file that was just removed. */
	if (j->what == PJ_PROBE)
		snprintf(path, sizeof(path), "%s/" PROBE_NAME "-%d", folder, (int)getpid());
	else
		snprintf(path, sizeof(path), "%s/%s", folder, j->vol);
	switch (j->what) {
	case PJ_PROBE: {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && j->pool.type == POOL_SMB)
			return child_error("cannot write to the SMB share %s: %s (are the credentials in %s right?)", j->pool.location,
				     strerror(errno), j->pool.credentials);
		if (fd < 0)
			return child_error("%s is not writable: %s", j->pool.location, strerror(errno));
		/* O_DIRECT, as QEMU opens shared images: a mount that refuses it
		 * cannot hold them. */
		if (j->pool.type != POOL_DIR) {
			close(fd);
			fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
			if (fd < 0) {
				unlink(path);
				return child_error("%s does not take O_DIRECT writes (%s): QEMU could not open shared images there",
					     j->pool.location, strerror(errno));
			}
		}
		close(fd);
		unlink(path);
		return json_object();
	}
	case PJ_INFO: {
		struct statvfs sv;
		DIR *d;
		struct dirent *de;
		if (statvfs(folder, &sv) < 0 || !(d = opendir(folder)))
			return child_error("cannot read %s: %s", j->pool.location, strerror(errno));
		json_t *vols = json_array();
		while ((de = readdir(d))) {
			if (!pool_vol_name_ok(de->d_name))
				continue;
			char f[sizeof(path)];
			snprintf(f, sizeof(f), "%s/%.*s", folder, POOL_VOL_MAX, de->d_name);
			if (lstat(f, &st) == 0 && S_ISREG(st.st_mode))
				json_array_append_new(vols, json_pack("{s:s, s:I, s:I}", "name", de->d_name, "size_bytes",
								      (json_int_t)st.st_size, "allocated_bytes",
								      (json_int_t)st.st_blocks * 512));
		}
		closedir(d);
		return json_pack("{s:I, s:I, s:o}", "capacity_bytes", (json_int_t)(sv.f_blocks * sv.f_frsize),
				 "free_bytes", (json_int_t)(sv.f_bavail * sv.f_frsize), "volumes", vols);
	}
	case PJ_EXISTS:
		return json_pack("{s:b}", "exists", lstat(path, &st) == 0);
	case PJ_DELETE:
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			return child_error("%s has no volume %s", j->pool.name, j->vol);
		return unlink(path) == 0 ? json_object() : child_error("cannot delete %s: %s", path, strerror(errno));
	}
	return child_error("unknown pool operation");
}

json_t *pool_io(void *arg)
{
	const struct pool_job *j = arg;

	return j->pool.type == POOL_RBD ? pool_rbd_do(j) : j->pool.type == POOL_NFS ? nfs_do(j) : local_do(j);
}

/* Runs qemu-img with argv (NULL-ended, argv[0] "qemu-img"); NULL, or the
 * error with the last line qemu-img wrote to stderr. */
static json_t *qemu_img(char *const argv[], const char *what)
{
	char msg[512] = "";
	int pipefd[2], st;

	if (pipe(pipefd) < 0)
		return child_error("cannot run qemu-img: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(pipefd[1], 2);
		close_range(3, ~0U, 0);
		execvp("qemu-img", argv);
		_exit(127);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		msg[strcspn(msg, "\n")] = 0;
		return child_error("%s: %s", what, msg[0] ? msg : "qemu-img failed");
	}
	return NULL;
}

/* {"error"} if the volume's existence is not `want`, else NULL. */
static json_t *need_exists(const struct pool_job *j, bool want)
{
	struct pool_job probe = *j;

	probe.what = PJ_EXISTS;
	json_t *e = pool_io(&probe);
	if (json_object_get(e, "error"))
		return e;
	bool exists = json_is_true(json_object_get(e, "exists"));
	json_decref(e);
	if (exists && !want)
		return child_error("pool %s already has a volume %s", j->pool.name, j->vol);
	if (!exists && want)
		return child_error("pool %s has no volume %s", j->pool.name, j->vol);
	return NULL;
}

json_t *pool_io_create(void *arg)
{
	const struct pool_job *j = arg;
	char target[POOL_LOCATION_MAX + POOL_VOL_MAX + 64], size[32], what[200];
	json_t *e;

	if (j->pool.type == POOL_RBD)
		return pool_rbd_create(j);
	if ((e = need_exists(j, false)))
		return e;
	pool_vol_target(&j->pool, j->vol, target, sizeof(target));
	snprintf(size, sizeof(size), "%lld", j->size);
	snprintf(what, sizeof(what), "cannot create %s in pool %s", j->vol, j->pool.name);
	char *argv[] = { "qemu-img", "create", "-q", "-f", (char *)j->format, target, size, NULL };
	return qemu_img(argv, what) ?: json_object();
}

json_t *pool_io_import(void *arg)
{
	const struct pool_job *j = arg;
	char target[POOL_LOCATION_MAX + POOL_VOL_MAX + 64], what[200];
	json_t *e;

	if (j->pool.type == POOL_RBD)
		return pool_rbd_import(j);
	if ((e = need_exists(j, false)))
		return e;
	pool_vol_target(&j->pool, j->vol, target, sizeof(target));
	snprintf(what, sizeof(what), "cannot import into %s of pool %s", j->vol, j->pool.name);
	char *argv[] = { "qemu-img", "convert", "-f", (char *)j->file_format, "-O", (char *)j->format, (char *)j->file,
			 target, NULL };
	return qemu_img(argv, what) ?: json_object();
}

/* The first bytes of a volume (through libnfs for NFS). */
static ssize_t vol_header(const struct pool_job *j, unsigned char *h, size_t n)
{
	ssize_t got = -1;

	if (j->pool.type == POOL_NFS) {
		json_t *err = NULL;
		struct nfs_context *nfs = export_open(&j->pool, &err);
		struct nfsfh *fh;
		char path[POOL_VOL_MAX + 2];
		json_decref(err);
		snprintf(path, sizeof(path), "/%s", j->vol);
		if (nfs && nfs_open(nfs, path, O_RDONLY, &fh) == 0) {
			got = nfs_pread(nfs, fh, 0, n, h);
			nfs_close(nfs, fh);
		}
		if (nfs)
			nfs_destroy_context(nfs);
		return got;
	}
	char path[POOL_LOCATION_MAX + POOL_VOL_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", j->pool.folder, j->vol);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		got = pread(fd, h, n, 0);
		close(fd);
	}
	return got;
}

json_t *pool_io_export(void *arg)
{
	const struct pool_job *j = arg;
	char target[POOL_LOCATION_MAX + POOL_VOL_MAX + 64], what[200];
	unsigned char h[80];
	json_t *e;

	if (j->pool.type == POOL_RBD)
		return pool_rbd_export(j);
	if ((e = need_exists(j, true)))
		return e;
	ssize_t n = vol_header(j, h, sizeof(h));
	if (n < 0)
		return child_error("cannot read volume %s of pool %s", j->vol, j->pool.name);
	/* The volume's own format, by its content, never guessed by qemu-img;
	 * a qcow2 header that names another file is not followed. */
	if (qcow2_header_names_file(h, (size_t)n))
		return child_error("volume %s is a qcow2 image that names another file (backing or external data): not exported",
			     j->vol);
	const char *from = n >= 4 && !memcmp(h, "QFI\xfb", 4) ? "qcow2" : "raw";
	int fd = open(j->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return child_error("cannot create %s: %s", j->file, strerror(errno));
	close(fd);
	pool_vol_target(&j->pool, j->vol, target, sizeof(target));
	snprintf(what, sizeof(what), "cannot export %s of pool %s", j->vol, j->pool.name);
	char *argv[] = { "qemu-img", "convert", "-f", (char *)from, "-O", (char *)j->format, target, (char *)j->file, NULL };
	if ((e = qemu_img(argv, what)))
		unlink(j->file);
	return e ?: json_pack("{s:s}", "format", from);
}

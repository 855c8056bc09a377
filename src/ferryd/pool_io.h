/* pool_io.h: a pool operation's work on its storage, run by child_call. */
#ifndef FERRYD_POOL_IO_H
#define FERRYD_POOL_IO_H

#include "ferryd/pool.h"

enum pool_job_what { PJ_PROBE, PJ_INFO, PJ_EXISTS, PJ_DELETE };

struct pool_job {
	struct pool pool;          /* a copy: the definition may change meanwhile */
	enum pool_job_what what;
	char vol[POOL_VOL_MAX + 1];
	long long size;            /* create */
	char format[8];            /* create, import, export: raw or qcow2 (what is written) */
	char file[4096];           /* import, export: a resolved path inside vm_dirs */
	char file_format[8];       /* import: the file's (checked by the agent) */
};

/* PJ_PROBE: {} if the pool is reachable and writable; PJ_INFO: capacity,
 * free and volumes; PJ_EXISTS: {"exists": bool}; PJ_DELETE: {}. Errors as
 * {"error": "..."}. */
json_t *pool_io(void *job);
/* A new volume (refused if it exists), by qemu-img. */
json_t *pool_io_create(void *job);
/* job->file into a new volume (sparse; refused if the volume exists). */
json_t *pool_io_import(void *job);
/* A volume into the new file job->file (sparse; refused if it exists, or if
 * the volume is a qcow2 image that names another file). */
json_t *pool_io_export(void *job);

/* The same for an RBD pool (pool_rbd.c, through librados and librbd); its
 * PJ_PROBE answers {"fsid"}; import and export take raw files only. */
json_t *pool_rbd_do(const struct pool_job *j);
json_t *pool_rbd_create(const struct pool_job *j);
json_t *pool_rbd_import(const struct pool_job *j);
json_t *pool_rbd_export(const struct pool_job *j);

/* Before a VM starts (ferry create): its RBD disks must not be open by any
 * client of their cluster, on any host (librbd's exclusive lock would hand
 * the image over to a second QEMU, not refuse it). */
struct rbd_unused_job {
	int n;
	struct pool pool[8];
	char vol[8][POOL_VOL_MAX + 1], vdev[8][16];
};
/* {} if no image has a watcher; else {"error": "disk vda (VOL) is open by
 * another client of the cluster (ADDR): ..."}. */
json_t *pool_rbd_check_unused(void *job);

#endif

/* pool_ops.c: the pool and volume ops (pool-define, pool-list, pool-info,
 * pool-undefine, vol-create, vol-list, vol-delete). What touches the
 * storage runs in a child (pool_io.c); the definitions change only here. */
#include "ferryd/agent.h"
#include "ferryd/pool.h"
#include "ferryd/pool_io.h"
#include "ferryd/request.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_TIMEOUT_MS 20000
#define CREATE_TIMEOUT_MS 120000

/* Does disk d use volume vol of p (vol NULL: any of its volumes)? A disk
 * named by pool and volume, or by a path into the pool's folder. */
static bool disk_uses(const struct vm_disk *d, const struct pool *p, const char *vol)
{
	char target[POOL_LOCATION_MAX + POOL_VOL_MAX + 64];

	if (d->pool[0])
		return !strcmp(d->pool, p->name) && (!vol || !strcmp(d->vol, vol));
	if (!vol)
		return !strncmp(d->target, p->location, strlen(p->location));
	pool_vol_target(p, vol, target, sizeof(target));
	return !strcmp(d->target, target);
}

/* A VM of this agent using a volume of p (vol NULL: any); its name, or NULL. */
static const char *user_of(struct agent *ag, const struct pool *p, const char *vol)
{
	for (struct vm *vm = ag->vms; vm; vm = vm->next)
		for (int i = 0; i < vm->cfg->n_disks; i++)
			if (disk_uses(&vm->cfg->disks[i], p, vol))
				return vm->cfg->name;
	return NULL;
}

static struct pool *need_pool(struct request *r, const char *name)
{
	struct pool *p = pool_find(r->ag, name);

	if (!p)
		request_err(r, "no pool named %s on host %s", name, r->ag->cfg->host);
	return p;
}

/* ---- pool-define ------------------------------------------------------ */

struct define_ctx {
	struct request *r;
	struct pool_job job;
};

static void on_probed(struct agent *ag, json_t *res, const char *err, void *opaque)
{
	struct define_ctx *c = opaque;
	struct ferr ferr = {0};
	const char *e = err ?: json_string_value(json_object_get(res, "error"));

	if (!e && pool_find(ag, c->job.pool.name))
		e = "a pool of that name was defined meanwhile";
	/* RBD: kept with the cluster's fsid, so that the same location on two
	 * hosts is the same cluster. */
	const char *fsid = json_string_value(json_object_get(res, "fsid"));
	if (!e && c->job.pool.type == POOL_RBD) {
		char want[40], name[64];
		struct ferr e2 = {0};
		if (!fsid || strlen(fsid) != 36 || pool_rbd_split(c->job.pool.location, want, sizeof(want), name,
								  sizeof(name), &e2) < 0)
			e = "the cluster did not say its fsid";
		else
			snprintf(c->job.pool.location, sizeof(c->job.pool.location), "rbd://%s/%s", fsid, name);
	}
	if (e)
		pool_smb_unmount(ag, &c->job.pool);
	if (!e && pool_save(ag, &c->job.pool, &ferr) < 0)
		e = ferr.msg;
	if (e) {
		request_err(c->r, "pool %s not defined on host %s: %s", c->job.pool.name, ag->cfg->host, e);
	} else {
		struct pool *p = xcalloc(1, sizeof(*p));
		*p = c->job.pool;
		p->next = ag->pools;
		ag->pools = p;
		log_info("pool defined", "pool=%s type=%s location=%s", p->name, pool_type_name(p->type), p->location);
		request_ok(c->r, pool_json(p));
	}
	free(c);
}

void pool_op_define(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct define_ctx *c = xcalloc(1, sizeof(*c));
	struct pool *p = &c->job.pool;
	struct ferr err = {0};
	json_t *uid = json_object_get(args, "uid"), *gid = json_object_get(args, "gid");
	int n = 0;

	(void)unused;
	c->r = r;
	snprintf(p->name, sizeof(p->name), "%s", json_string_value(json_object_get(args, "name")));
	snprintf(p->location, sizeof(p->location), "%s", json_string_value(json_object_get(args, "location")));
	p->uid = uid ? (int)json_integer_value(uid) : -1;
	p->gid = gid ? (int)json_integer_value(gid) : -1;
	snprintf(p->credentials, sizeof(p->credentials), "%s", json_string_value(json_object_get(args, "credentials")) ?: "");
	snprintf(p->ceph_conf, sizeof(p->ceph_conf), "%s", json_string_value(json_object_get(args, "ceph_conf")) ?: "");
	snprintf(p->ceph_user, sizeof(p->ceph_user), "%s", json_string_value(json_object_get(args, "ceph_user")) ?: "");
	for (struct pool *q = ag->pools; q; q = q->next)
		n++;
	if (pool_type_parse(json_string_value(json_object_get(args, "type")), &p->type) < 0)
		ferr_set(&err, "unknown pool type '%s' (dir, path, nfs, smb, rbd)", json_string_value(json_object_get(args, "type")));
	else if (pool_find(ag, p->name))
		ferr_set(&err, "a pool named %s already exists on host %s", p->name, ag->cfg->host);
	else if (n >= POOL_MAX)
		ferr_set(&err, "host %s has %d pools already (at most %d)", ag->cfg->host, n, POOL_MAX);
	else if (pool_check(ag, p, &err) == 0)
		pool_smb_mount(ag, p, &err);
	if (err.msg[0]) {
		request_err(r, "%s", err.msg);
		free(c);
		return;
	}
	/* Reachable and writable before it is defined. */
	c->job.what = PJ_PROBE;
	if (child_call(ag, pool_io, &c->job, IO_TIMEOUT_MS, on_probed, c) < 0) {
		request_err(r, "cannot check pool %s: out of processes", p->name);
		free(c);
	}
}

/* ---- pool-list, pool-undefine -------------------------------------------- */

void pool_op_list(struct request *r, json_t *args, struct vm *unused)
{
	json_t *a = json_array();

	(void)args;
	(void)unused;
	for (struct pool *p = r->ag->pools; p; p = p->next)
		json_array_append_new(a, pool_json(p));
	request_ok(r, json_pack("{s:s, s:o}", "host", r->ag->cfg->host, "pools", a));
}

void pool_op_undefine(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct pool *p = need_pool(r, json_string_value(json_object_get(args, "name")));
	const char *vm;

	(void)unused;
	if (!p)
		return;
	if ((vm = user_of(ag, p, NULL))) {
		request_err(r, "pool %s is in use by %s on host %s", p->name, vm, ag->cfg->host);
		return;
	}
	pool_remove(ag, p->name);
	pool_smb_unmount(ag, p);
	for (struct pool **pp = &ag->pools; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	log_info("pool undefined", "pool=%s", p->name);
	request_ok(r, json_pack("{s:s}", "undefined", p->name));
	free(p);
}

/* ---- what needs the storage: info, volumes ------------------------------ */

struct io_ctx {
	struct request *r;
	struct pool_job job;
};

static void on_io(struct agent *ag, json_t *res, const char *err, void *opaque)
{
	struct io_ctx *c = opaque;
	const char *e = err ?: json_string_value(json_object_get(res, "error"));

	if (e) {
		request_err(c->r, "%s", e);
	} else if (c->job.what == PJ_INFO) {
		json_t *o = pool_json(&c->job.pool);
		json_object_update(o, res);
		request_ok(c->r, o);
	} else {
		log_info(c->job.what == PJ_DELETE ? "volume deleted" : "volume created", "pool=%s vol=%s host=%s",
			 c->job.pool.name, c->job.vol, ag->cfg->host);
		request_ok(c->r, json_pack("{s:s, s:s}", "pool", c->job.pool.name, "name", c->job.vol));
	}
	free(c);
}

/* Runs the job for r in a child; the answer comes from on_io. */
static void run_io(struct request *r, struct io_ctx *c, json_t *(*fn)(void *), int timeout_ms)
{
	c->r = r;
	if (child_call(r->ag, fn, &c->job, timeout_ms, on_io, c) < 0) {
		request_err(r, "cannot reach pool %s: out of processes", c->job.pool.name);
		free(c);
	}
}

/* A new job on pool (named in args key) and volume (args "name", if vol). */
static struct io_ctx *job_for(struct request *r, json_t *args, const char *key, bool vol)
{
	struct pool *p = need_pool(r, json_string_value(json_object_get(args, key)));
	const char *name = json_string_value(json_object_get(args, "name"));

	if (!p)
		return NULL;
	if (vol && !pool_vol_name_ok(name)) {
		request_err(r, "'%s' is not a volume name (letters, digits, '.', '_', '-'; at most %d)", name,
			    POOL_VOL_MAX);
		return NULL;
	}
	struct io_ctx *c = xcalloc(1, sizeof(*c));
	c->job.pool = *p;
	c->job.pool.next = NULL;
	if (vol)
		snprintf(c->job.vol, sizeof(c->job.vol), "%s", name);
	return c;
}

/* pool-info {"name"} and vol-list {"pool"}: the same answer. */
static void info_of(struct request *r, json_t *args, const char *key)
{
	struct io_ctx *c = job_for(r, args, key, false);

	if (!c)
		return;
	c->job.what = PJ_INFO;
	run_io(r, c, pool_io, IO_TIMEOUT_MS);
}

void pool_op_info(struct request *r, json_t *args, struct vm *unused)
{
	(void)unused;
	info_of(r, args, "name");
}

void pool_op_vol_list(struct request *r, json_t *args, struct vm *unused)
{
	(void)unused;
	info_of(r, args, "pool");
}

/* The volume's format: raw or qcow2 (default qcow2); an RBD volume is the
 * disk itself, raw (the default there). NULL after answering r. */
static const char *format_for(struct request *r, json_t *args, const struct pool *p)
{
	const char *fmt = json_string_value(json_object_get(args, "format")) ?: p->type == POOL_RBD ? "raw" : "qcow2";

	if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
		request_err(r, "volume format '%s' is not raw or qcow2", fmt);
		return NULL;
	}
	if (p->type == POOL_RBD && strcmp(fmt, "raw")) {
		request_err(r, "the volumes of RBD pool %s are raw images (an RBD image is the disk itself): --format raw",
			    p->name);
		return NULL;
	}
	return fmt;
}

void pool_op_vol_create(struct request *r, json_t *args, struct vm *unused)
{
	const char *fmt;
	struct io_ctx *c;

	(void)unused;
	if (!(c = job_for(r, args, "pool", true)))
		return;
	if (!(fmt = format_for(r, args, &c->job.pool))) {
		free(c);
		return;
	}
	c->job.size = json_integer_value(json_object_get(args, "size"));
	snprintf(c->job.format, sizeof(c->job.format), "%s", fmt);
	run_io(r, c, pool_io_create, CREATE_TIMEOUT_MS);
}

void pool_op_vol_delete(struct request *r, json_t *args, struct vm *unused)
{
	struct io_ctx *c = job_for(r, args, "pool", true);
	const char *vm;

	(void)unused;
	if (!c)
		return;
	if ((vm = user_of(r->ag, &c->job.pool, c->job.vol))) {
		request_err(r, "volume %s of pool %s is in use by %s on host %s", c->job.vol, c->job.pool.name, vm,
			    r->ag->cfg->host);
		free(c);
		return;
	}
	c->job.what = PJ_DELETE;
	run_io(r, c, pool_io, IO_TIMEOUT_MS);
}

/* ---- vol-import, vol-export: files inside vm_dirs only ------------------ */

void pool_op_vol_import(struct request *r, json_t *args, struct vm *unused)
{
	const char *fmt;
	struct ferr err = {0};
	struct io_ctx *c;

	(void)unused;
	if (!(c = job_for(r, args, "pool", true)))
		return;
	if (!(fmt = format_for(r, args, &c->job.pool))) {
		free(c);
		return;
	}
	if (vm_confine_file(r->ag, "file", json_string_value(json_object_get(args, "file")), c->job.file,
			    sizeof(c->job.file), &err) < 0) {
		request_err(r, "%s", err.msg);
		free(c);
		return;
	}
	int named = qcow2_names_file(c->job.file);
	if (named != 0) {
		request_err(r, "%s is a qcow2 image that names another file (backing or external data): refused "
			    "(flatten it with qemu-img convert)", c->job.file);
		free(c);
		return;
	}
	/* The file's format from its content (never guessed by qemu-img). */
	unsigned char h[4] = { 0 };
	FILE *f = fopen(c->job.file, "rb");
	size_t got = f ? fread(h, 1, sizeof(h), f) : 0;
	if (f)
		fclose(f);
	snprintf(c->job.file_format, sizeof(c->job.file_format), "%s",
		 got == 4 && !memcmp(h, "QFI\xfb", 4) ? "qcow2" : "raw");
	if (c->job.pool.type == POOL_RBD && strcmp(c->job.file_format, "raw")) {
		request_err(r, "%s is a qcow2 image; RBD pool %s imports raw images (qemu-img convert -O raw first)",
			    c->job.file, c->job.pool.name);
		free(c);
		return;
	}
	snprintf(c->job.format, sizeof(c->job.format), "%s", fmt);
	run_io(r, c, pool_io_import, CREATE_TIMEOUT_MS * 10);
}

void pool_op_vol_export(struct request *r, json_t *args, struct vm *unused)
{
	const char *fmt, *file = json_string_value(json_object_get(args, "file"));
	char dir[PATH_MAX], real[PATH_MAX];
	struct io_ctx *c;

	(void)unused;
	if (!(c = job_for(r, args, "pool", true)))
		return;
	if (!(fmt = format_for(r, args, &c->job.pool))) {
		free(c);
		return;
	}
	const char *slash = strrchr(file, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) : 0, file);
	/* A new file whose folder resolves inside vm_dirs; plain name. */
	if (file[0] != '/' || !slash || !pool_vol_name_ok(slash + 1) || !realpath(dir[0] ? dir : "/", real) ||
	    (!agentcfg_path_allowed(r->ag->cfg, real) && strcmp(real, r->ag->cfg->state_dir)) ||
	    strlen(real) + strlen(slash) >= sizeof(c->job.file)) {
		request_err(r, "the export must be a new file with a plain name, by absolute path, in a folder VM files "
			    "may come from on host %s (vm_dirs)", r->ag->cfg->host);
		free(c);
		return;
	}
	memcpy(c->job.file, real, strlen(real));
	memcpy(c->job.file + strlen(real), slash, strlen(slash) + 1);
	snprintf(c->job.format, sizeof(c->job.format), "%s", fmt);
	run_io(r, c, pool_io_export, CREATE_TIMEOUT_MS * 10);
}

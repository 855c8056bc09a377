/* pool.c: see pool.h. */
#include "ferryd/pool.h"
#include "ferryd/agent.h"
#include "config/cfgfile.h"
#include "net/stream.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *type_names[POOL_N_TYPES] = { "dir", "path", "nfs" };

const char *pool_type_name(enum pool_type t)
{
	return t < POOL_N_TYPES ? type_names[t] : "?";
}

int pool_type_parse(const char *s, enum pool_type *t)
{
	for (int i = 0; s && i < POOL_N_TYPES; i++) {
		if (!strcmp(s, type_names[i])) {
			*t = (enum pool_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool pool_type_shareable(enum pool_type t)
{
	return t != POOL_DIR;
}

bool pool_vol_name_ok(const char *vol)
{
	size_t n = vol ? strlen(vol) : 0;

	if (n == 0 || n > POOL_VOL_MAX || !((vol[0] >= 'a' && vol[0] <= 'z') || (vol[0] >= 'A' && vol[0] <= 'Z') ||
					      (vol[0] >= '0' && vol[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = vol[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return !strstr(vol, "..");
}

int pool_nfs_split(const char *url, char *host, size_t hn, char *export, size_t en, struct ferr *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (!url || strncmp(url, "nfs://", 6)) {
		ferr_set(err, "an NFS pool's location is nfs://SERVER/EXPORT (SERVER an IP address)");
		return -EINVAL;
	}
	const char *h = url + 6, *slash = strchr(h, '/');
	if (!slash || (size_t)(slash - h) >= hn || slash == h) {
		ferr_set(err, "'%s' has no server and export (nfs://SERVER/EXPORT)", url);
		return -EINVAL;
	}
	snprintf(host, hn, "%.*s", (int)(slash - h), h);
	if (sock_addr_parse(host, 0, &ss, &sl) < 0) {
		ferr_set(err, "the NFS server in '%s' must be an IP address (ferry resolves no names)", url);
		return -EINVAL;
	}
	if (strlen(slash) >= en || strstr(slash, "..") || strspn(slash, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != strlen(slash)) {
		ferr_set(err, "the NFS export in '%s' must be a plain absolute path", url);
		return -EINVAL;
	}
	snprintf(export, en, "%s", slash);
	while (strlen(export) > 1 && export[strlen(export) - 1] == '/')
		export[strlen(export) - 1] = 0;
	return 0;
}

/* A local folder: resolved, inside vm_dirs, a directory (dir: created). */
static int check_local(const struct agent *ag, struct pool *p, struct ferr *err)
{
	char real[PATH_MAX];

	if (p->location[0] != '/') {
		ferr_set(err, "a %s pool's location is an absolute path", pool_type_name(p->type));
		return -EINVAL;
	}
	if (p->type == POOL_DIR && mkdir_p(p->location, 0700) < 0) {
		ferr_set(err, "cannot create %s: %s", p->location, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (!realpath(p->location, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ferr_set(err, "%s is not a folder on host %s", p->location, ag->cfg->host);
		return -ENOENT;
	}
	if (!agentcfg_path_allowed(ag->cfg, real) && strcmp(real, ag->cfg->state_dir)) {
		ferr_set(err, "%s is outside the folders VM files may come from on host %s (vm_dirs in its agent config)",
			 real, ag->cfg->host);
		return -EPERM;
	}
	if (strlen(real) >= sizeof(p->location)) {
		ferr_set(err, "%s is too long a path for a pool", real);
		return -ENAMETOOLONG;
	}
	memcpy(p->location, real, strlen(real) + 1);
	return 0;
}

int pool_check(const struct agent *ag, struct pool *p, struct ferr *err)
{
	char host[64], export[POOL_LOCATION_MAX];

	if (!ident_valid(p->name, sizeof(p->name) - 1)) {
		ferr_set(err, "pool name '%s' is not a plain identifier", p->name);
		return -EINVAL;
	}
	if (p->type == POOL_NFS) {
		if (pool_nfs_split(p->location, host, sizeof(host), export, sizeof(export), err) < 0)
			return -EINVAL;
		if (p->uid < -1 || p->gid < -1) {
			ferr_set(err, "uid and gid are numbers (or -1: root, which the server may squash)");
			return -EINVAL;
		}
		char url[sizeof(host) + sizeof(export) + 8];
		snprintf(url, sizeof(url), "nfs://%s%s", host, export);
		if (strlen(url) >= sizeof(p->location)) {
			ferr_set(err, "'%s' is too long", url);
			return -ENAMETOOLONG;
		}
		memcpy(p->location, url, strlen(url) + 1);
		return 0;
	}
	if (p->uid != -1 || p->gid != -1) {
		ferr_set(err, "uid and gid are for NFS pools");
		return -EINVAL;
	}
	return check_local(ag, p, err);
}

static void pool_file(const struct agent *ag, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/pools/%s.pool", ag->cfg->state_dir, name);
}

int pool_save(const struct agent *ag, const struct pool *p, struct ferr *err)
{
	char path[600];
	struct buf b = {0};

	buf_printf(&b, "# pool %s (written by ferryd)\ntype = \"%s\"\nlocation = ", p->name, pool_type_name(p->type));
	cfg_quote(&b, p->location);
	buf_printf(&b, "\nuid = %d\ngid = %d\n", p->uid, p->gid);
	snprintf(path, sizeof(path), "%s/pools", ag->cfg->state_dir);
	mkdir_p(path, 0700);
	pool_file(ag, p->name, path, sizeof(path));
	int r = file_write_atomic(path, b.data, b.len, 0600);
	buf_free(&b);
	if (r < 0)
		ferr_set(err, "cannot write %s: %s", path, strerror(-r));
	return r;
}

int pool_remove(const struct agent *ag, const char *name)
{
	char path[600];

	pool_file(ag, name, path, sizeof(path));
	return unlink(path) < 0 ? -errno : 0;
}

static int load_one(struct agent *ag, const char *name, struct ferr *err)
{
	char path[600];
	struct cfg_doc *d;
	const struct cfg_entry *t, *l, *u, *g;
	struct pool p = { .uid = -1, .gid = -1 };

	pool_file(ag, name, path, sizeof(path));
	if (cfg_parse_file(path, &d, err) < 0)
		return -EINVAL;
	t = cfg_get(d, "type");
	l = cfg_get(d, "location");
	u = cfg_get(d, "uid");
	g = cfg_get(d, "gid");
	if (strlen(name) >= sizeof(p.name)) {
		cfg_doc_free(d);
		ferr_set(err, "%s: the pool name is too long", path);
		return -EINVAL;
	}
	memcpy(p.name, name, strlen(name) + 1);
	int r = -EINVAL;
	if (!t || t->val.type != CFG_STR || pool_type_parse(t->val.str, &p.type) < 0 || !l || l->val.type != CFG_STR)
		ferr_set(err, "%s: needs a type and a location", path);
	else {
		snprintf(p.location, sizeof(p.location), "%s", l->val.str);
		p.uid = u && u->val.type == CFG_INT ? (int)u->val.num : -1;
		p.gid = g && g->val.type == CFG_INT ? (int)g->val.num : -1;
		r = pool_check(ag, &p, err);
	}
	cfg_doc_free(d);
	if (r < 0)
		return r;
	struct pool *np = xcalloc(1, sizeof(*np));
	*np = p;
	np->next = ag->pools;
	ag->pools = np;
	return 0;
}

void pool_load_all(struct agent *ag)
{
	char dir[600];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/pools", ag->cfg->state_dir);
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d)) && n < POOL_MAX) {
		char name[64];
		size_t len = strlen(de->d_name);
		struct ferr err = {0};
		if (len < 6 || len - 5 >= sizeof(name) || strcmp(de->d_name + len - 5, ".pool"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
		if (load_one(ag, name, &err) < 0)
			log_warn("pool not loaded", "pool=%s error=\"%s\"", name, err.msg);
		else
			n++;
	}
	closedir(d);
}

void pool_free_all(struct agent *ag)
{
	while (ag->pools) {
		struct pool *p = ag->pools;
		ag->pools = p->next;
		free(p);
	}
}

struct pool *pool_find(const struct agent *ag, const char *name)
{
	for (struct pool *p = ag->pools; name && p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

void pool_vol_target(const struct pool *p, const char *vol, char *out, size_t n)
{
	if (p->type != POOL_NFS) {
		snprintf(out, n, "%s/%s", p->location, vol);
		return;
	}
	int k = snprintf(out, n, "%s/%s", p->location, vol);
	if (p->uid >= 0 && k > 0 && (size_t)k < n)
		k += snprintf(out + k, n - k, "?uid=%d", p->uid);
	if (p->gid >= 0 && k > 0 && (size_t)k < n)
		snprintf(out + k, n - k, "%sgid=%d", p->uid >= 0 ? "&" : "?", p->gid);
}

json_t *pool_json(const struct pool *p)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "name", p->name, "type", pool_type_name(p->type), "location",
			      p->location, "shareable", pool_type_shareable(p->type));
	if (p->type == POOL_NFS) {
		json_object_set_new(j, "uid", json_integer(p->uid));
		json_object_set_new(j, "gid", json_integer(p->gid));
	}
	return j;
}

int pool_resolve_disks(const struct agent *ag, struct vm_config *c, json_t *src_pools, struct ferr *err)
{
	char target[POOL_LOCATION_MAX + POOL_VOL_MAX + 64];

	for (int i = 0; i < c->n_disks; i++) {
		struct vm_disk *d = &c->disks[i];
		if (!d->pool[0] || d->target)
			continue;
		const struct pool *p = pool_find(ag, d->pool);
		if (!p) {
			ferr_set(err, "%s:%d: no pool named %s on host %s (ferry pool list)", c->source ?: "<config>", d->line,
				 d->pool, ag->cfg->host);
			return -ENOENT;
		}
		if (!pool_vol_name_ok(d->vol)) {
			ferr_set(err, "%s:%d: '%s' is not a volume name", c->source ?: "<config>", d->line, d->vol);
			return -EINVAL;
		}
		pool_vol_target(p, d->vol, target, sizeof(target));
		d->target = xstrdup(target);
		const char *there = json_string_value(json_object_get(src_pools, d->pool));
		d->shared = pool_type_shareable(p->type) && (!src_pools || (there && !strcmp(there, p->location)));
	}
	return 0;
}

json_t *pool_locations(const struct agent *ag, const struct vm_config *c)
{
	json_t *o = json_object();

	for (int i = 0; i < c->n_disks; i++) {
		const struct pool *p = c->disks[i].pool[0] ? pool_find(ag, c->disks[i].pool) : NULL;
		if (p)
			json_object_set_new(o, p->name, json_string(p->location));
	}
	if (json_object_size(o) == 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

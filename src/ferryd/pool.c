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
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/mount.h>

/* The credentials file of an SMB pool: absolute, a regular file of root's
 * that nobody else may read (it holds a password). */
static int check_credentials(const char *path, struct ferr *err)
{
	struct stat st;

	if (path[0] != '/' || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		ferr_set(err, "the credentials file '%s' is not a file (an absolute path: username= and password= lines)",
			 path);
		return -ENOENT;
	}
	if (st.st_uid != 0 || (st.st_mode & 077)) {
		ferr_set(err, "the credentials file %s must belong to root with mode 0600 (it holds a password)", path);
		return -EPERM;
	}
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
	memcpy(p->folder, real, strlen(real) + 1);
	return 0;
}

/* An RBD pool: rbd://POOL (or, once defined, rbd://FSID/POOL); its
 * ceph.conf root's own, not writable by others, in the agent's ceph_dirs
 * (the conf names the keyring QEMU and librbd read); a plain user name. */
static int check_rbd(const struct agent *ag, struct pool *p, struct ferr *err)
{
	char fsid[40], name[64], real[PATH_MAX];
	struct stat st;

	if (pool_rbd_split(p->location, fsid, sizeof(fsid), name, sizeof(name), err) < 0)
		return -EINVAL;
	if (!p->ceph_conf[0] || !p->ceph_user[0]) {
		ferr_set(err, "an RBD pool needs --ceph-conf FILE and --ceph-user NAME");
		return -EINVAL;
	}
	if (!ident_valid(p->ceph_user, sizeof(p->ceph_user) - 1)) {
		ferr_set(err, "the Ceph user '%s' is not a plain name (without \"client.\")", p->ceph_user);
		return -EINVAL;
	}
	if (p->ceph_conf[0] != '/' || !realpath(p->ceph_conf, real) || stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		ferr_set(err, "the Ceph configuration '%s' is not a file on host %s (an absolute path)", p->ceph_conf,
			 ag->cfg->host);
		return -ENOENT;
	}
	if (!agentcfg_ceph_conf_allowed(ag->cfg, real)) {
		ferr_set(err, "%s is outside the folders a Ceph configuration may come from on host %s (ceph_dirs in its "
			 "agent config; default /etc/ceph)", real, ag->cfg->host);
		return -EPERM;
	}
	if (st.st_uid != 0 || (st.st_mode & 022)) {
		ferr_set(err, "the Ceph configuration %s must belong to root and be writable by root only", real);
		return -EPERM;
	}
	if (strlen(real) >= sizeof(p->ceph_conf) || strpbrk(real, ",:?&=@ \t\n")) {
		ferr_set(err, "the Ceph configuration's path %s is too long or holds , : ? & = @ or blanks", real);
		return -EINVAL;
	}
	memcpy(p->ceph_conf, real, strlen(real) + 1);
	return 0;
}

int pool_check(const struct agent *ag, struct pool *p, struct ferr *err)
{
	char host[64], export[POOL_LOCATION_MAX];

	if (!ident_valid(p->name, sizeof(p->name) - 1)) {
		ferr_set(err, "pool name '%s' is not a plain identifier", p->name);
		return -EINVAL;
	}
	if (p->type != POOL_RBD && (p->ceph_conf[0] || p->ceph_user[0])) {
		ferr_set(err, "--ceph-conf and --ceph-user are for RBD pools");
		return -EINVAL;
	}
	if (p->type == POOL_RBD) {
		if (p->uid != -1 || p->gid != -1 || p->credentials[0]) {
			ferr_set(err, "uid, gid and credentials are not for RBD pools");
			return -EINVAL;
		}
		return check_rbd(ag, p, err);
	}
	if (p->type == POOL_SMB) {
		char url[sizeof(host) + sizeof(export) + 8];
		if (p->uid != -1 || p->gid != -1) {
			ferr_set(err, "uid and gid are for NFS pools");
			return -EINVAL;
		}
		if (pool_smb_split(p->location, host, sizeof(host), export, sizeof(export), err) < 0 ||
		    check_credentials(p->credentials, err) < 0)
			return -EINVAL;
		snprintf(url, sizeof(url), "smb://%s/%s", host, export);
		if (strlen(url) >= sizeof(p->location)) {
			ferr_set(err, "'%s' is too long", url);
			return -ENAMETOOLONG;
		}
		memcpy(p->location, url, strlen(url) + 1);
		char folder[PATH_MAX];
		snprintf(folder, sizeof(folder), "%s/mnt/%s/%s/%s", ag->cfg->state_dir, p->name, host, export);
		if (strlen(folder) >= sizeof(p->folder)) {
			ferr_set(err, "the mount of pool %s would be too long a path", p->name);
			return -ENAMETOOLONG;
		}
		memcpy(p->folder, folder, strlen(folder) + 1);
		return 0;
	}
	if (p->credentials[0]) {
		ferr_set(err, "a credentials file is for SMB pools");
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
	if (p->credentials[0]) {
		buf_printf(&b, "credentials = ");
		cfg_quote(&b, p->credentials);
		buf_printf(&b, "\n");
	}
	if (p->ceph_conf[0]) {
		buf_printf(&b, "ceph_conf = ");
		cfg_quote(&b, p->ceph_conf);
		buf_printf(&b, "\nceph_user = ");
		cfg_quote(&b, p->ceph_user);
		buf_printf(&b, "\n");
	}
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
	const struct cfg_entry *t, *l, *u, *g, *cr, *cc, *cu;
	struct pool p = { .uid = -1, .gid = -1 };

	pool_file(ag, name, path, sizeof(path));
	if (cfg_parse_file(path, &d, err) < 0)
		return -EINVAL;
	t = cfg_get(d, "type");
	l = cfg_get(d, "location");
	u = cfg_get(d, "uid");
	g = cfg_get(d, "gid");
	cr = cfg_get(d, "credentials");
	cc = cfg_get(d, "ceph_conf");
	cu = cfg_get(d, "ceph_user");
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
		if (cr && cr->val.type == CFG_STR)
			snprintf(p.credentials, sizeof(p.credentials), "%s", cr->val.str);
		if (cc && cc->val.type == CFG_STR)
			snprintf(p.ceph_conf, sizeof(p.ceph_conf), "%s", cc->val.str);
		if (cu && cu->val.type == CFG_STR)
			snprintf(p.ceph_user, sizeof(p.ceph_user), "%s", cu->val.str);
		r = pool_check(ag, &p, err);
	}
	cfg_doc_free(d);
	if (r < 0)
		return r;
	struct pool *np = xcalloc(1, sizeof(*np));
	*np = p;
	np->next = ag->pools;
	ag->pools = np;
	if (np->type == POOL_SMB && pool_smb_mount(ag, np, err) < 0)
		log_warn("SMB pool not mounted", "pool=%s error=\"%s\"", np->name, err->msg);
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
		pool_smb_unmount(ag, p);
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
	if (p->type == POOL_RBD) {
		snprintf(out, n, "%s/%s?user=%s&conf=%s", p->location, vol, p->ceph_user, p->ceph_conf);
		return;
	}
	if (p->type != POOL_NFS) {
		snprintf(out, n, "%s/%s", p->folder[0] ? p->folder : p->location, vol);
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
	if (p->type == POOL_RBD) {
		json_object_set_new(j, "ceph_conf", json_string(p->ceph_conf));
		json_object_set_new(j, "ceph_user", json_string(p->ceph_user));
	}
	if (p->type == POOL_SMB) {
		json_object_set_new(j, "credentials", json_string(p->credentials));
		json_object_set_new(j, "mount", json_string(p->folder));
		json_object_set_new(j, "mounted", json_boolean(p->mounter > 0));
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

/* ---- SMB: the FUSE mount ------------------------------------------------ */

/* A mounter ended (already reaped): the pool whose process is gone. */
static void on_mounter_exit(struct agent *ag, int status, void *opaque)
{
	(void)opaque;
	for (struct pool *p = ag->pools; p; p = p->next) {
		if (p->type == POOL_SMB && p->mounter > 0 && kill(p->mounter, 0) < 0) {
			log_warn("SMB pool mount ended", "pool=%s status=%d", p->name, status);
			p->mounter = 0;
		}
	}
}

/* username= and password= of a credentials file; 0 or -1. */
static int read_credentials(const char *path, char *user, size_t un, char *pass, size_t pn)
{
	char *text, *line, *save = NULL;

	user[0] = pass[0] = 0;
	if (file_read_all(path, 4096, &text, NULL) < 0)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "username=", 9))
			snprintf(user, un, "%s", line + 9);
		else if (!strncmp(line, "password=", 9))
			snprintf(pass, pn, "%s", line + 9);
	}
	free(text);
	return user[0] && !strpbrk(user, "\"\\") && !strpbrk(pass, "\"\\") ? 0 : -1;
}

/* ferryd runs as root: the FUSE mount is undone with umount2, no fusermount
 * needed (Debian's fuse package is only recommended by smbnetfs). Detached:
 * a QEMU that still has an image open keeps it until it closes. */
static void unmount_path(const char *path)
{
	umount2(path, MNT_DETACH);
}

int pool_smb_mount(struct agent *ag, struct pool *p, struct ferr *err)
{
	char home[600], conf[700], mnt[600], host[64], share[128], user[128], pass[256], text[1024];
	struct ferr e2 = {0};

	if (p->type != POOL_SMB || p->mounter > 0)
		return 0;
	if (pool_smb_split(p->location, host, sizeof(host), share, sizeof(share), &e2) < 0 ||
	    read_credentials(p->credentials, user, sizeof(user), pass, sizeof(pass)) < 0) {
		ferr_set(err, "cannot read username= and password= from %s", p->credentials);
		return -EINVAL;
	}
	snprintf(home, sizeof(home), "%s/smbnetfs/%s/.smb", ag->cfg->state_dir, p->name);
	mkdir_p(home, 0700);
	snprintf(conf, sizeof(conf), "%s/smb.conf", home);
	snprintf(text, sizeof(text), "[global]\n\tclient min protocol = SMB2_10\n");
	file_write_atomic(conf, text, strlen(text), 0600);
	snprintf(conf, sizeof(conf), "%s/smbnetfs.conf", home);
	/* Only this share, no browsing of the network. */
	snprintf(text, sizeof(text), "smb_query_browsers \"false\"\nshow_hidden_hosts \"true\"\n"
		 "auth \"%s/%s\" \"%s\" \"%s\"\n", host, share, user, pass);
	if (file_write_atomic(conf, text, strlen(text), 0600) < 0) {
		ferr_set(err, "cannot write %s", conf);
		return -EIO;
	}
	snprintf(mnt, sizeof(mnt), "%s/mnt/%s", ag->cfg->state_dir, p->name);
	unmount_path(mnt);   /* a stale mount from an earlier agent */
	mkdir_p(mnt, 0700);
	char opt[800], envhome[700];
	snprintf(opt, sizeof(opt), "config=%s", conf);
	snprintf(envhome, sizeof(envhome), "HOME=%s/smbnetfs/%s", ag->cfg->state_dir, p->name);
	char *argv[] = { "smbnetfs", mnt, "-f", "-o", opt, NULL };
	char *envp[] = { envhome, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	pid_t pid = child_spawn_env(ag, argv, envp, on_mounter_exit, NULL);
	if (pid < 0) {
		ferr_set(err, "cannot run smbnetfs: %s", strerror(-pid));
		return (int)pid;
	}
	p->mounter = pid;
	log_info("SMB pool mount started", "pool=%s mount=%s pid=%d", p->name, mnt, (int)pid);
	return 0;
}

void pool_smb_unmount(struct agent *ag, struct pool *p)
{
	char mnt[600];

	if (p->type != POOL_SMB)
		return;
	if (p->mounter > 0) {
		pid_t pid = p->mounter;
		p->mounter = 0;
		kill(pid, SIGTERM);
	}
	snprintf(mnt, sizeof(mnt), "%s/mnt/%s", ag->cfg->state_dir, p->name);
	unmount_path(mnt);
}

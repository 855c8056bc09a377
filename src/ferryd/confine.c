/* confine.c: the files a VM config may make QEMU open. A key holder may
 * operate VMs, not read the host's files: kernel, initrd and disk images
 * must be regular files inside the agent's vm_dirs (after every symlink is
 * resolved), and a qcow2 image may not name a backing file (its header
 * would choose a host file for QEMU). */
#include "ferryd/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Reads a qcow2 header: 1 if it names a backing file, 0 if not, -errno. */
/* Does a qcow2 header (the first n bytes of an image) name another file: a
 * backing file (backing_file_offset != 0), or an external data file
 * (version 3, incompatible feature bit 2)? QEMU would open that file,
 * wherever it is. Not qcow2, or too short to tell: 0. */
int qcow2_header_names_file(const unsigned char *h, size_t n)
{
	if (n < 16 || memcmp(h, "QFI\xfb", 4))
		return 0;
	for (int i = 8; i < 16; i++)
		if (h[i])
			return 1;
	unsigned version = (unsigned)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
	return version >= 3 && (n < 80 || (h[79] & 0x04));
}

int qcow2_names_file(const char *path)
{
	unsigned char h[80];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	close(fd);
	return qcow2_header_names_file(h, n > 0 ? (size_t)n : 0);
}

/* vm_dirs, and the folder where this agent keeps the disks it received for
 * its guests (STATE/disks: --copy-storage, cold moves). */
static bool path_allowed(const struct agent *ag, const char *path)
{
	size_t n = strlen(ag->cfg->state_dir);

	return agentcfg_path_allowed(ag->cfg, path) ||
	       (!strncmp(path, ag->cfg->state_dir, n) && !strncmp(path + n, "/disks/", 7) && !strchr(path + n + 7, '/'));
}

/* Resolves *path in place (every symlink, every ".."), then checks it. */
static int confine_one(const struct agent *ag, const struct vm_config *c, const char *what, int line, char **path,
		       const char *format, struct ferr *err)
{
	char real[PATH_MAX], where[160];
	struct stat st;

	if (line)
		snprintf(where, sizeof(where), "%s:%d: ", c->source ? c->source : "<config>", line);
	else
		snprintf(where, sizeof(where), "%s: ", c->source ? c->source : "<config>");
	/* Outside first, then missing: a key holder learns nothing about the
	 * files outside vm_dirs, not even whether they exist. */
	bool lexical_ok = (*path)[0] == '/' && !strstr(*path, "/../") && !strstr(*path, "/./") &&
			  path_allowed(ag, *path);
	if (!realpath(*path, real)) {
		if (lexical_ok) {
			ferr_set(err, "%s%s %s cannot be used on host %s: %s", where, what, *path, ag->cfg->host,
				 strerror(errno));
			return -ENOENT;
		}
		snprintf(real, sizeof(real), "%s", *path);
	}
	if (!path_allowed(ag, real) || !lexical_ok) {
		struct buf dirs = {0};
		for (int i = 0; i < ag->cfg->n_vm_dirs; i++)
			buf_printf(&dirs, "%s%s", i ? ", " : "", ag->cfg->vm_dirs[i]);
		ferr_set(err, "%s%s %s%s%s is outside the folders VM files may come from on host %s (vm_dirs: %s)", where,
			 what, *path, strcmp(real, *path) ? " -> " : "", strcmp(real, *path) ? real : "", ag->cfg->host,
			 dirs.data ? dirs.data : "");
		buf_free(&dirs);
		return -EPERM;
	}
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		ferr_set(err, "%s%s %s is not a regular file (block devices and other special files are refused)", where,
			 what, *path);
		return -EPERM;
	}
	if (format && !strcmp(format, "qcow2") && qcow2_names_file(real) == 1) {
		ferr_set(err, "%s%s %s is a qcow2 image that names another file (a backing or external data file): "
			 "refused (flatten it with qemu-img convert)", where, what, *path);
		return -EPERM;
	}
	if (strcmp(real, *path)) {
		free(*path);
		*path = xstrdup(real);
	}
	return 0;
}

int vm_confine_paths(const struct agent *ag, struct vm_config *c, struct ferr *err)
{
	int r;

	if (c->kernel && (r = confine_one(ag, c, "kernel", c->kernel_line, &c->kernel, NULL, err)) < 0)
		return r;
	if (c->ramdisk && (r = confine_one(ag, c, "ramdisk", c->ramdisk_line, &c->ramdisk, NULL, err)) < 0)
		return r;
	for (int i = 0; i < c->n_disks; i++) {
		struct vm_disk *d = &c->disks[i];
		if (d->pool[0])
			continue;   /* its place comes from the pool's definition (pool.c checked it) */
		char what[32];
		snprintf(what, sizeof(what), "disk %s", d->vdev);
		if ((r = confine_one(ag, c, what, d->line, &d->target, d->format, err)) < 0)
			return r;
	}
	return 0;
}

int vm_confine_file(const struct agent *ag, const char *what, const char *path, char *out, size_t n, struct ferr *err)
{
	struct vm_config c;
	char *p = xstrdup(path);

	memset(&c, 0, sizeof(c));
	c.source = "request";
	int r = confine_one(ag, &c, what, 0, &p, NULL, err);
	if (r == 0 && strlen(p) >= n) {
		ferr_set(err, "%s %s: path too long", what, path);
		r = -ENAMETOOLONG;
	}
	if (r == 0)
		memcpy(out, p, strlen(p) + 1);
	free(p);
	return r;
}

int vm_confine_new_file(const struct agent *ag, const char *spec, char *out, size_t n, struct ferr *err)
{
	const char *slash = spec ? strrchr(spec, '/') : NULL;
	char dir[PATH_MAX], real[PATH_MAX];
	const char *base = slash ? slash + 1 : "";
	bool name_ok = base[0] && base[0] != '.' && strlen(base) <= 200;

	for (const char *c = base; name_ok && *c; c++)
		name_ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			  *c == '.' || *c == '_' || *c == '-' || *c == '+';
	char full[PATH_MAX + 256];
	dir[0] = 0;
	if (spec && spec[0] == '/' && name_ok)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - spec), spec);
	/* The new file's own path must be inside vm_dirs (its folder may be
	 * one of them). */
	bool ok = spec && spec[0] == '/' && name_ok && realpath(dir[0] ? dir : "/", real);
	if (ok)
		snprintf(full, sizeof(full), "%s%s", strcmp(real, "/") ? real : "", slash);
	if (!ok || !path_allowed(ag, full) || strlen(real) + strlen(slash) >= n) {
		ferr_set(err, "the file must be a new one with a plain name, by absolute path, in a folder VM files may "
			 "come from on host %s (vm_dirs)", ag->cfg->host);
		return -EPERM;
	}
	memcpy(out, real, strlen(real));
	memcpy(out + strlen(real), slash, strlen(slash) + 1);
	return 0;
}

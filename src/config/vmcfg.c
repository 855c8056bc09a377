/* vmcfg.c: VM config semantics on top of the xl-style syntax of cfgfile.c. */
#include "config/vmcfg.h"
#include "config/cfgfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libgen.h>

struct ctx {
	const char *path;
	const char *base_dir;
	struct ferr *err;
};

static int bad(struct ctx *x, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct ctx *x, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ferr_set(x->err, "%s:%d: %s", x->path, line, msg);
	return -EINVAL;
}

bool vm_cpu_model_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 30 || !isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

const char *vm_cpu_model(const struct vm_config *c)
{
	return c->cpu[0] ? c->cpu : "qemu64";
}

const char *vm_accel_name(enum vm_accel a)
{
	return a == ACCEL_KVM ? "kvm" : a == ACCEL_TCG ? "tcg" : "auto";
}

void vm_mac_format(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 17; i++)
		if ((i % 3 == 2) != (s[i] == ':'))
			return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = v[i];
	return 0;
}

static char *resolve_path(struct ctx *x, const char *p)
{
	char buf[4096];

	if (p[0] == '/' || strstr(p, "://") || !x->base_dir)
		return xstrdup(p);
	snprintf(buf, sizeof(buf), "%s/%s", x->base_dir, p);
	return xstrdup(buf);
}

static bool vdev_valid(const char *v)
{
	static const char *prefixes[] = { "xvd", "vd", "sd", "hd" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		if (!strncmp(v, prefixes[i], n) && v[n] >= 'a' && v[n] <= 'z' && !v[n + 1])
			return true;
	}
	return false;
}

static bool str_safe(const char *s)
{
	/* Paths end up in QEMU's comma-separated option syntax. */
	return !strchr(s, ',') && !strchr(s, '\n');
}

/* disk: "target[,format[,vdev[,access]]]" (xl positional) or
 * "target=...,format=...,vdev=...,access=...,shared=yes". */
static int parse_disk(struct ctx *x, const struct cfg_value *v, struct vm_disk *d)
{
	char *spec, *tok, *save = NULL;
	int pos = 0, r = 0;
	char *target = NULL, *format = NULL, *vdev = NULL, *access = NULL, *shared = NULL, *pool = NULL, *vol = NULL;
	char *cache = NULL;

	if (v->type != CFG_STR)
		return bad(x, v->line, "a disk is a quoted string such as \"disk.img,raw,vda,w\"");
	spec = xstrdup(v->str);
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save), pos++) {
		while (*tok == ' ')
			tok++;
		char *eq = strchr(tok, '=');
		char **slot = NULL;
		if (eq) {
			*eq = 0;
			const char *k = tok;
			if (!strcmp(k, "target")) slot = &target;
			else if (!strcmp(k, "format")) slot = &format;
			else if (!strcmp(k, "vdev")) slot = &vdev;
			else if (!strcmp(k, "access")) slot = &access;
			else if (!strcmp(k, "shared")) slot = &shared;
			else if (!strcmp(k, "pool")) slot = &pool;
			else if (!strcmp(k, "vol")) slot = &vol;
			else if (!strcmp(k, "cache")) slot = &cache;
			else {
				r = bad(x, v->line, "unknown disk option '%s' (target, format, vdev, access, shared, pool, vol, cache)", k);
				goto out;
			}
			tok = eq + 1;
		} else {
			char **posv[] = { &target, &format, &vdev, &access };
			if (pos >= 4) {
				r = bad(x, v->line, "too many fields in disk \"%s\" (target,format,vdev,access)", v->str);
				goto out;
			}
			slot = posv[pos];
		}
		if (*slot) {
			r = bad(x, v->line, "disk field given twice in \"%s\"", v->str);
			goto out;
		}
		*slot = tok;
	}
	if (pool || vol) {
		/* A pool's volume: the agent finds where it is (its pools). */
		if (target || shared || !pool || !vol || !ident_valid(pool, sizeof(d->pool) - 1) || !*vol ||
		    strlen(vol) >= sizeof(d->vol)) {
			r = bad(x, v->line, "a pool disk is \"pool=NAME,vol=VOLUME[,format=...,vdev=...,access=...]\" "
				"(no target, no shared: the pool says)");
			goto out;
		}
		snprintf(d->pool, sizeof(d->pool), "%s", pool);
		snprintf(d->vol, sizeof(d->vol), "%s", vol);
	} else if (!target || !*target) {
		r = bad(x, v->line, "disk \"%s\" has no target (the image path) or pool and vol", v->str);
		goto out;
	}
	if (!format || !*format)
		format = "raw";
	if (strcmp(format, "raw") && strcmp(format, "qcow2")) {
		r = bad(x, v->line, "disk format '%s' is not supported (raw or qcow2)", format);
		goto out;
	}
	if (vdev && *vdev && !vdev_valid(vdev)) {
		r = bad(x, v->line, "disk vdev '%s' is not a device name such as vda, xvda or sda", vdev);
		goto out;
	}
	if (access && *access && strcmp(access, "w") && strcmp(access, "rw") &&
	    strcmp(access, "r") && strcmp(access, "ro")) {
		r = bad(x, v->line, "disk access '%s' must be r, ro, w or rw", access);
		goto out;
	}
	if (shared && strcmp(shared, "yes") && strcmp(shared, "no")) {
		r = bad(x, v->line, "disk shared='%s' must be yes or no", shared);
		goto out;
	}
	if (cache && strcmp(cache, "none") && strcmp(cache, "directsync") && strcmp(cache, "writethrough") &&
	    strcmp(cache, "writeback") && strcmp(cache, "unsafe")) {
		r = bad(x, v->line, "disk cache='%s' must be none, directsync, writethrough, writeback or unsafe", cache);
		goto out;
	}
	snprintf(d->cache, sizeof(d->cache), "%s", cache ? cache : "");
	d->target = target ? resolve_path(x, target) : NULL;
	d->format = xstrdup(format);
	snprintf(d->vdev, sizeof(d->vdev), "%s", vdev && *vdev ? vdev : "");
	d->readonly = access && (!strcmp(access, "r") || !strcmp(access, "ro"));
	d->shared = shared && !strcmp(shared, "yes");
out:
	free(spec);
	return r;
}

static bool ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == ' ' || *s == ',' || (unsigned char)*s < 0x21)
			return false;
	return true;
}

static int parse_vif(struct ctx *x, const struct cfg_value *v, struct vm_vif *f, const char *vmname, int idx)
{
	char *spec, *tok, *save = NULL;
	bool have_mac = false;
	int r = 0;

	if (v->type != CFG_STR)
		return bad(x, v->line, "a vif is a quoted string such as \"mac=52:54:00:12:34:56,bridge=br-vm\"");
	snprintf(f->bridge, sizeof(f->bridge), "br-vm");
	snprintf(f->model, sizeof(f->model), "virtio-net-pci");
	spec = xstrdup(v->str);
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *eq = strchr(tok, '=');
		if (!eq) {
			r = bad(x, v->line, "vif option '%s' is not key=value", tok);
			goto out;
		}
		*eq = 0;
		const char *val = eq + 1;
		if (!strcmp(tok, "mac")) {
			if (parse_mac(val, f->mac) < 0) {
				r = bad(x, v->line, "'%s' is not a MAC address (six hex pairs joined by ':')", val);
				goto out;
			}
			if (f->mac[0] & 1) {
				r = bad(x, v->line, "MAC %s is a multicast address; the first byte must be even", val);
				goto out;
			}
			have_mac = true;
		} else if (!strcmp(tok, "bridge")) {
			if (!ifname_valid(val)) {
				r = bad(x, v->line, "bridge '%s' is not an interface name (1-15 characters)", val);
				goto out;
			}
			snprintf(f->bridge, sizeof(f->bridge), "%s", val);
		} else if (!strcmp(tok, "model")) {
			if (!strcmp(val, "virtio") || !strcmp(val, "virtio-net-pci"))
				snprintf(f->model, sizeof(f->model), "virtio-net-pci");
			else if (!strcmp(val, "e1000") || !strcmp(val, "rtl8139"))
				snprintf(f->model, sizeof(f->model), "%s", val);
			else {
				r = bad(x, v->line, "vif model '%s' is not supported (virtio, e1000, rtl8139)", val);
				goto out;
			}
		} else {
			r = bad(x, v->line, "unknown vif option '%s' (mac, bridge, model)", tok);
			goto out;
		}
	}
	if (!have_mac) {
		/* A stable locally administered MAC derived from the VM's name. */
		uint32_t h = hash_fnv1a(vmname);
		uint8_t m[6] = { 0x52, 0x54, 0x00, h >> 16, h >> 8, (uint8_t)(h + idx) };
		memcpy(f->mac, m, 6);
	}
out:
	free(spec);
	return r;
}

static int want_str(struct ctx *x, const struct cfg_entry *e, char **out)
{
	if (e->val.type != CFG_STR)
		return bad(x, e->line, "'%s' must be a quoted string", e->key);
	if (!str_safe(e->val.str) && strcmp(e->key, "extra"))
		return bad(x, e->line, "'%s' must not contain ',' or a newline", e->key);
	*out = strcmp(e->key, "extra") ? resolve_path(x, e->val.str) : xstrdup(e->val.str);
	return 0;
}

static int want_int(struct ctx *x, const struct cfg_entry *e, long long lo, long long hi, int *out)
{
	if (e->val.type != CFG_INT)
		return bad(x, e->line, "'%s' must be a number", e->key);
	if (e->val.num < lo || e->val.num > hi)
		return bad(x, e->line, "'%s' = %lld is out of range (%lld to %lld)", e->key, e->val.num, lo, hi);
	*out = (int)e->val.num;
	return 0;
}

static int build(struct ctx *x, const struct cfg_doc *doc, struct vm_config *c)
{
	const struct cfg_entry *name = cfg_get(doc, "name");
	int r;

	if (!name)
		return bad(x, 1, "'name' is required");
	if (name->val.type != CFG_STR)
		return bad(x, name->line, "'name' must be a quoted string");
	if (!ident_valid(name->val.str, VM_NAME_MAX))
		return bad(x, name->line, "name '%s' is not a plain identifier (a letter, then up to 31 letters, digits, '_' or '-')",
			   name->val.str);
	snprintf(c->name, sizeof(c->name), "%s", name->val.str);
	c->memory_mb = 256;
	c->vcpus = 1;

	for (size_t i = 0; i < doc->n; i++) {
		const struct cfg_entry *e = &doc->entries[i];
		const char *k = e->key;
		r = 0;
		if (!strcmp(k, "name")) {
			continue;
		} else if (!strcmp(k, "memory")) {
			r = want_int(x, e, 16, 1 << 20, &c->memory_mb);
		} else if (!strcmp(k, "vcpus")) {
			r = want_int(x, e, 1, 64, &c->vcpus);
		} else if (!strcmp(k, "kernel")) {
			r = want_str(x, e, &c->kernel);
			c->kernel_line = e->line;
		} else if (!strcmp(k, "ramdisk")) {
			r = want_str(x, e, &c->ramdisk);
			c->ramdisk_line = e->line;
		} else if (!strcmp(k, "extra")) {
			r = want_str(x, e, &c->extra);
		} else if (!strcmp(k, "cpu")) {
			if (e->val.type != CFG_STR || !vm_cpu_model_valid(e->val.str))
				return bad(x, e->line, "'cpu' must be a CPU model's name, e.g. \"qemu64\" or \"host\" (qemu-system-x86_64 -cpu help)");
			snprintf(c->cpu, sizeof(c->cpu), "%s", e->val.str);
		} else if (!strcmp(k, "accel")) {
			if (e->val.type != CFG_STR)
				return bad(x, e->line, "'accel' must be \"auto\", \"kvm\" or \"tcg\"");
			if (!strcmp(e->val.str, "auto")) c->accel = ACCEL_AUTO;
			else if (!strcmp(e->val.str, "kvm")) c->accel = ACCEL_KVM;
			else if (!strcmp(e->val.str, "tcg")) c->accel = ACCEL_TCG;
			else return bad(x, e->line, "accel '%s' is not one of auto, kvm, tcg", e->val.str);
		} else if (!strcmp(k, "disk")) {
			if (e->val.type != CFG_LIST)
				return bad(x, e->line, "'disk' must be a list: disk = [ \"...\" ]");
			if (e->val.n_items > VM_MAX_DISKS)
				return bad(x, e->line, "at most %d disks", VM_MAX_DISKS);
			for (size_t j = 0; j < e->val.n_items; j++) {
				if ((r = parse_disk(x, &e->val.items[j], &c->disks[c->n_disks])) < 0)
					return r;
				c->disks[c->n_disks].line = e->val.items[j].line;
				c->n_disks++;
			}
		} else if (!strcmp(k, "vif")) {
			if (e->val.type != CFG_LIST)
				return bad(x, e->line, "'vif' must be a list: vif = [ \"...\" ]");
			if (e->val.n_items > VM_MAX_VIFS)
				return bad(x, e->line, "at most %d vifs", VM_MAX_VIFS);
			for (size_t j = 0; j < e->val.n_items; j++) {
				if ((r = parse_vif(x, &e->val.items[j], &c->vifs[c->n_vifs], c->name, c->n_vifs)) < 0)
					return r;
				c->n_vifs++;
			}
		} else {
			return bad(x, e->line, "unknown key '%s' (see docs/config.md)", k);
		}
		if (r < 0)
			return r;
	}
	if (!c->kernel && (c->ramdisk || c->extra))
		return bad(x, 1, "'ramdisk' and 'extra' need a 'kernel'");
	if (!c->kernel && c->n_disks == 0)
		return bad(x, 1, "nothing to boot: give a 'kernel' or a disk");
	/* Default vdevs: vda, vdb, ... in order; no two disks on one vdev. */
	for (int i = 0; i < c->n_disks; i++) {
		if (!c->disks[i].vdev[0])
			snprintf(c->disks[i].vdev, sizeof(c->disks[i].vdev), "vd%c", 'a' + i);
		for (int j = 0; j < i; j++)
			if (!strcmp(c->disks[i].vdev, c->disks[j].vdev))
				return bad(x, cfg_get(doc, "disk")->line, "two disks use vdev %s", c->disks[i].vdev);
	}
	for (int i = 0; i < c->n_vifs; i++)
		for (int j = 0; j < i; j++)
			if (!memcmp(c->vifs[i].mac, c->vifs[j].mac, 6))
				return bad(x, cfg_get(doc, "vif")->line, "two vifs share one MAC address");
	return 0;
}

void vmcfg_free(struct vm_config *c)
{
	if (!c)
		return;
	free(c->kernel);
	free(c->ramdisk);
	free(c->extra);
	free(c->source);
	for (int i = 0; i < c->n_disks; i++) {
		free(c->disks[i].target);
		free(c->disks[i].format);
	}
	free(c);
}

int vmcfg_parse(const char *text, size_t len, const char *path, const char *base_dir,
		struct vm_config **out, struct ferr *err)
{
	struct ctx x = { path ? path : "<config>", base_dir, err };
	struct cfg_doc *doc;
	struct vm_config *c;
	int r = cfg_parse(text, len, x.path, &doc, err);

	if (r < 0)
		return r;
	c = xcalloc(1, sizeof(*c));
	r = build(&x, doc, c);
	c->source = xstrdup(x.path);
	cfg_doc_free(doc);
	if (r < 0) {
		vmcfg_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int vmcfg_load(const char *path, struct vm_config **out, struct ferr *err)
{
	char *text, *dir, *copy, abs[4096];
	size_t len;
	int r = cfg_read_file(path, &text, &len, err);

	if (r < 0)
		return r;
	copy = xstrdup(path);
	dir = dirname(copy);
	if (dir[0] != '/' && getcwd(abs, sizeof(abs))) {
		size_t n = strlen(abs);
		snprintf(abs + n, sizeof(abs) - n, "/%s", dir);
		dir = abs;
	}
	r = vmcfg_parse(text, len, path, dir, out, err);
	free(copy);
	free(text);
	return r;
}

char *vmcfg_format(const struct vm_config *c)
{
	struct buf b = {0};
	char mac[18];

	buf_printf(&b, "name = ");
	cfg_quote(&b, c->name);
	buf_printf(&b, "\nmemory = %d\nvcpus = %d\naccel = \"%s\"\n", c->memory_mb, c->vcpus, vm_accel_name(c->accel));
	if (c->cpu[0])
		buf_printf(&b, "cpu = \"%s\"\n", c->cpu);
	if (c->kernel) {
		buf_printf(&b, "kernel = ");
		cfg_quote(&b, c->kernel);
		buf_printf(&b, "\n");
	}
	if (c->ramdisk) {
		buf_printf(&b, "ramdisk = ");
		cfg_quote(&b, c->ramdisk);
		buf_printf(&b, "\n");
	}
	if (c->extra) {
		buf_printf(&b, "extra = ");
		cfg_quote(&b, c->extra);
		buf_printf(&b, "\n");
	}
	buf_printf(&b, "disk = [");
	for (int i = 0; i < c->n_disks; i++) {
		const struct vm_disk *d = &c->disks[i];
		struct buf s = {0};
		if (d->pool[0])
			buf_printf(&s, "pool=%s,vol=%s,format=%s,vdev=%s,access=%s", d->pool, d->vol, d->format, d->vdev,
				   d->readonly ? "r" : "w");
		else
			buf_printf(&s, "target=%s,format=%s,vdev=%s,access=%s%s", d->target, d->format, d->vdev,
				   d->readonly ? "r" : "w", d->shared ? ",shared=yes" : "");
		if (d->cache[0])
			buf_printf(&s, ",cache=%s", d->cache);
		buf_printf(&b, "%s ", i ? "," : "");
		cfg_quote(&b, s.data);
		buf_free(&s);
	}
	buf_printf(&b, " ]\nvif = [");
	for (int i = 0; i < c->n_vifs; i++) {
		vm_mac_format(c->vifs[i].mac, mac);
		buf_printf(&b, "%s \"mac=%s,bridge=%s,model=%s\"", i ? "," : "", mac, c->vifs[i].bridge, c->vifs[i].model);
	}
	buf_printf(&b, " ]\n");
	return b.data;
}

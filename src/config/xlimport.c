/* xlimport.c: a Xen xl guest config as a ferry VM config (xlimport.h). The
 * syntax is the same family (cfgfile.c reads both); the meaning differs:
 * xl's disk strings (positional, legacy and key=value, with target
 * prefixes), its PV keys (root, bootloader), its builder/type, and the many
 * keys ferry has no counterpart for, each noted with the reason. */
#include "config/xlimport.h"
#include "config/cfgfile.h"
#include "config/vmcfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct imp {
	const struct cfg_doc *doc;
	json_t *notes;
	struct buf out;
	char extra[2048];
	char vdevs[200];   /* " xvda  xvdb ": the disks kept */
	bool hvm, pygrub;
};

static void note(struct imp *x, const char *key, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void note(struct imp *x, const char *key, int line, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	json_array_append_new(x->notes, json_pack("{s:s, s:i, s:s}", "key", key, "line", line, "why", why));
}

static const char *str_of(const struct cfg_entry *e)
{
	return e && e->val.type == CFG_STR ? e->val.str : NULL;
}

/* An integer given as a number or as a quoted number ("512"). */
static bool int_of(const struct cfg_entry *e, long long *out)
{
	char *end;

	if (!e)
		return false;
	if (e->val.type == CFG_INT) {
		*out = e->val.num;
		return true;
	}
	if (e->val.type != CFG_STR || !e->val.str[0])
		return false;
	*out = strtoll(e->val.str, &end, 10);
	return *end == 0;
}

/* Keys ferry has no counterpart for, and why (anything else unknown is
 * noted as unknown). */
static const struct { const char *key, *why; } unsupported[] = {
	{ "maxmem", "no memory ballooning: the guest gets 'memory'" },
	{ "maxvcpus", "no vCPU hotplug: the guest gets 'vcpus'" },
	{ "cpus", "no vCPU pinning" },
	{ "cpu_weight", "no scheduler weights" },
	{ "cap", "no CPU caps" },
	{ "uuid", "ferry knows guests by name" },
	{ "on_poweroff", "a guest that powers off ends (ferry's only behaviour)" },
	{ "on_reboot", "a guest that reboots stays up (QEMU's default)" },
	{ "on_crash", "no crash action" },
	{ "on_watchdog", "no watchdog" },
	{ "vnc", "no display: ferry guests have a serial console (ferry console)" },
	{ "vncdisplay", "no display" },
	{ "vnclisten", "no display" },
	{ "vncpasswd", "no display" },
	{ "vncunused", "no display" },
	{ "sdl", "no display" },
	{ "vfb", "no display" },
	{ "vga", "no display" },
	{ "stdvga", "no display" },
	{ "videoram", "no display" },
	{ "keymap", "no display" },
	{ "serial", "the first serial port is always the console (ferry console)" },
	{ "usb", "no USB" },
	{ "usbdevice", "no USB" },
	{ "usbctrl", "no USB" },
	{ "boot", "ferry boots the first disk (or the kernel given)" },
	{ "acpi", "ACPI is always on (the power button is how ferry shuts a guest down)" },
	{ "apic", "always on" },
	{ "pae", "always on" },
	{ "hap", "the accelerator decides" },
	{ "viridian", "no Hyper-V enlightenments" },
	{ "localtime", "the guest's clock is UTC" },
	{ "rtc_timeoffset", "the guest's clock is UTC" },
	{ "device_model_version", "QEMU is the device model" },
	{ "device_model_override", "QEMU is the device model" },
	{ "pci", "no PCI passthrough (a passed-through device cannot migrate)" },
	{ "vtpm", "no TPM" },
	{ "channel", "no channels" },
	{ "soundhw", "no sound" },
	{ "xen_platform_pci", "no Xen platform device (not a Xen host)" },
	{ "shadow_memory", "not a Xen host" },
	{ "seclabel", "not a Xen host" },
	{ "pool", "Xen CPU pools: not here" },
	{ "nestedhvm", "the accelerator decides" },
	{ "bootloader_args", "see bootloader" },
	{ "vif2", "not supported" },
	{ "vkb", "no input devices" },
	{ "p9", "no 9p shares" },
	{ "dtdev", "no device tree passthrough" },
	{ "irqs", "no IRQ passthrough" },
	{ "iomem", "no I/O memory passthrough" },
};

/* "file:", "phy:", "tap:aio:", "tap:qcow2:", "tap2:tapdisk:aio:", ...: the
 * path, with the format the prefix implies ("" if none) and whether it is
 * a block device. */
static const char *strip_prefix(const char *t, const char **fmt, bool *phy)
{
	static const struct { const char *p, *fmt; bool phy; } pre[] = {
		{ "tap2:tapdisk:aio:", "raw", false }, { "tap2:tapdisk:qcow2:", "qcow2", false },
		{ "tap:tapdisk:aio:", "raw", false }, { "tap:aio:", "raw", false }, { "tap:qcow2:", "qcow2", false },
		{ "tap:qcow:", "qcow", false }, { "tap:vhd:", "vhd", false }, { "aio:", "raw", false },
		{ "qcow2:", "qcow2", false }, { "raw:", "raw", false }, { "file:", "", false }, { "phy:", "raw", true },
	};
	*fmt = "";
	*phy = false;
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (!strncmp(t, pre[i].p, strlen(pre[i].p))) {
			*fmt = pre[i].fmt;
			*phy = pre[i].phy;
			return t + strlen(pre[i].p);
		}
	return t;
}

/* Is disk device v kept already? */
static bool taken(const struct imp *x, const char *v)
{
	char k[24];

	snprintf(k, sizeof(k), " %s ", v);
	return strstr(x->vdevs, k) != NULL;
}

static bool vdev_ok(const char *v)
{
	size_t n = strlen(v);
	const char *l = !strncmp(v, "xvd", 3) ? v + 3 : (!strncmp(v, "vd", 2) || !strncmp(v, "hd", 2) || !strncmp(v, "sd", 2)) ? v + 2 : NULL;

	return l && n < 8 && l[0] >= 'a' && l[0] <= 'z' && !l[1];
}

/* One xl disk: appended to the output list, or noted and left out. */
static void disk(struct imp *x, const struct cfg_value *v, bool *first)
{
	char *spec, *rest, *tok, *pos[4] = { 0 };
	const char *target = NULL, *format = NULL, *vdev = NULL, *access = NULL, *devtype = NULL;
	int n = 0;

	if (v->type != CFG_STR) {
		note(x, "disk", v->line, "a disk that is not a string: left out");
		return;
	}
	spec = rest = xstrdup(v->str);
	/* Empty fields count (",hdc:cdrom,r": no target). */
	while ((tok = strsep(&rest, ","))) {
		while (*tok == ' ')
			tok++;
		char *eq = strchr(tok, '=');
		if (eq && strncmp(tok, "target", 6) && strchr(tok, ':') && strchr(tok, ':') < eq)
			eq = NULL;   /* "phy:/dev/x=y": a target, not a key */
		if (!eq) {
			if (n < 4)
				pos[n] = tok;
			n++;
			continue;
		}
		*eq = 0;
		if (!strcmp(tok, "target")) target = eq + 1;
		else if (!strcmp(tok, "format")) format = eq + 1;
		else if (!strcmp(tok, "vdev")) vdev = eq + 1;
		else if (!strcmp(tok, "access")) access = eq + 1;
		else if (!strcmp(tok, "devtype")) devtype = eq + 1;
		else
			note(x, "disk", v->line, "disk option %s=%s: not translated (ferry's disks take target, format, vdev, "
			     "access, cache)", tok, eq + 1);
	}
	/* Positional: target,format,vdev,access; xl's legacy three fields
	 * are target,vdev,access ("phy:/dev/vg/lv,xvda,w"). */
	if (n == 3 && !target) {
		target = pos[0];
		vdev = pos[1];
		access = pos[2];
	} else if (n >= 1 && n <= 4) {
		const char **slots[] = { &target, &format, &vdev, &access };
		for (int i = 0; i < n; i++)
			if (!*slots[i])
				*slots[i] = pos[i];
	} else if (n > 4) {
		note(x, "disk", v->line, "disk \"%s\": more than four positional fields: left out", v->str);
		free(spec);
		return;
	}
	char vd[16] = "";
	if (vdev) {
		snprintf(vd, sizeof(vd), "%s", vdev);
		char *colon = strchr(vd, ':');   /* "hdc:cdrom" */
		if (colon) {
			if (!strcmp(colon + 1, "cdrom"))
				devtype = "cdrom";
			*colon = 0;
		}
	}
	if (devtype && !strcmp(devtype, "cdrom")) {
		note(x, "disk", v->line, "disk \"%s\": a CD-ROM: ferry has none (left out)", v->str);
		free(spec);
		return;
	}
	if (!target || !*target) {
		note(x, "disk", v->line, "disk \"%s\": no target (an empty drive): left out", v->str);
		free(spec);
		return;
	}
	const char *pfmt;
	bool phy;
	const char *path = strip_prefix(target, &pfmt, &phy);
	if (!format || !*format)
		format = pfmt[0] ? pfmt : "raw";
	if (strcmp(format, "raw") && strcmp(format, "qcow2")) {
		note(x, "disk", v->line, "disk \"%s\": format %s: ferry opens raw and qcow2 (qemu-img convert it first); "
		     "left out", v->str, format);
		free(spec);
		return;
	}
	/* "xvda1": a PV guest's file system handed over as a partition; here
	 * the image is the whole disk. */
	size_t vl = strlen(vd);
	if (vl > 1 && vd[vl - 1] >= '0' && vd[vl - 1] <= '9') {
		char whole[16];
		snprintf(whole, sizeof(whole), "%s", vd);
		while (vl && whole[vl - 1] >= '0' && whole[vl - 1] <= '9')
			whole[--vl] = 0;
		/* The next free letter when that disk is taken already. */
		while (vl && taken(x, whole) && whole[vl - 1] < 'z')
			whole[vl - 1]++;
		note(x, "disk", v->line, "disk %s: a partition device (PV style); the image becomes the whole disk %s (the "
		     "guest sees it as %s%s; ferry convert pv2hvm makes such a file system a bootable disk)", vd, whole,
		     !strncmp(whole, "xvd", 3) ? "vd" : "", !strncmp(whole, "xvd", 3) ? whole + 3 : whole);
		snprintf(vd, sizeof(vd), "%s", whole);
	}
	if (!vd[0] || !vdev_ok(vd) || taken(x, vd)) {
		note(x, "disk", v->line, "disk \"%s\": device %s is %s: left out", v->str, vd[0] ? vd : "(none)",
		     vd[0] && taken(x, vd) ? "taken by another disk" : "not one ferry has (xvdX, vdX, hdX, sdX)");
		free(spec);
		return;
	}
	if (strchr(path, ',') || strchr(path, '"') || !*path) {
		note(x, "disk", v->line, "disk \"%s\": a path ferry cannot name: left out", v->str);
		free(spec);
		return;
	}
	if (phy)
		note(x, "disk", v->line, "disk %s: %s is a block device (phy:); ferry opens regular files only: copy it "
		     "into an image file and point target there", vd, path);
	const char *acc = access && (!strcmp(access, "r") || !strcmp(access, "ro")) ? "r" : "w";
	if (access && strcmp(access, "r") && strcmp(access, "ro") && strcmp(access, "w") && strcmp(access, "rw"))
		note(x, "disk", v->line, "disk %s: access %s read as w", vd, access);
	snprintf(x->vdevs + strlen(x->vdevs), sizeof(x->vdevs) - strlen(x->vdevs), " %s ", vd);
	buf_printf(&x->out, "%s\"target=", *first ? "" : ",\n        ");
	/* (no quote or comma in path: checked above) */
	buf_printf(&x->out, "%s,format=%s,vdev=%s,access=%s\"", path, format, vd, acc);
	*first = false;
	free(spec);
}

/* One xl vif: mac, bridge, model kept; the rest noted. */
static void vif(struct imp *x, const struct cfg_value *v, bool *first)
{
	char *spec, *tok, *save = NULL, out[200] = "";

	if (v->type != CFG_STR) {
		note(x, "vif", v->line, "a vif that is not a string: left out");
		return;
	}
	spec = xstrdup(v->str);
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *eq = strchr(tok, '=');
		if (!eq) {
			if (*tok)
				note(x, "vif", v->line, "vif option \"%s\": not translated", tok);
			continue;
		}
		*eq = 0;
		const char *val = eq + 1;
		if (!strcmp(tok, "mac") || !strcmp(tok, "bridge")) {
			if (strchr(val, '"') || strlen(val) > 40)
				continue;
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s=%s", out[0] ? "," : "", tok, val);
		} else if (!strcmp(tok, "model")) {
			/* xl's models are QEMU's (e1000, rtl8139, virtio-net). */
			const char *m = !strcmp(val, "e1000") ? "e1000" : !strcmp(val, "rtl8139") ? "rtl8139" : "virtio";
			if (strcmp(val, m) && strcmp(val, "virtio-net") && strcmp(val, "virtio-net-pci"))
				note(x, "vif", v->line, "vif model %s: virtio instead", val);
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%smodel=%s", out[0] ? "," : "", m);
		} else if (!strcmp(tok, "type")) {
			/* ioemu / vif: which Xen backend; ferry has one kind. */
		} else {
			note(x, "vif", v->line, "vif option %s=%s: not translated (ferry's vifs take mac, bridge, model)", tok,
			     val);
		}
	}
	buf_printf(&x->out, "%s\"%s\"", *first ? "" : ",\n       ", out);
	*first = false;
	free(spec);
}

static void list(struct imp *x, const struct cfg_entry *e, const char *key, void (*one)(struct imp *, const struct cfg_value *, bool *))
{
	bool first = true;
	size_t before;

	if (!e)
		return;
	if (e->val.type != CFG_LIST) {
		note(x, key, e->line, "'%s' is not a list: left out", key);
		return;
	}
	buf_printf(&x->out, "%s = [ ", key);
	before = x->out.len;
	for (size_t i = 0; i < e->val.n_items; i++)
		one(x, &e->val.items[i], &first);
	if (x->out.len == before) {
		/* Nothing kept: no key at all. */
		x->out.len -= strlen(key) + 5;
		x->out.data[x->out.len] = 0;
		return;
	}
	buf_printf(&x->out, " ]\n");
}

static bool known(const char *k)
{
	static const char *handled[] = { "name", "memory", "vcpus", "kernel", "ramdisk", "extra", "cmdline", "root",
					 "disk", "vif", "builder", "type", "bootloader" };
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		if (!strcmp(k, handled[i]))
			return true;
	return false;
}

int xl_import(const char *text, size_t len, const char *path, char **config, json_t **notes, struct ferr *err)
{
	struct cfg_doc *d = NULL;
	struct imp x = { 0 };
	long long mem = 0, vcpus = 1;
	int r = -EINVAL;

	if (cfg_parse(text, len, path, &d, err) < 0)
		return -EINVAL;
	x.doc = d;
	x.notes = json_array();
	const struct cfg_entry *e;
	const char *name = str_of(cfg_get(d, "name"));
	if (!name || !*name) {
		ferr_set(err, "%s: no name: an xl config names its guest (name = \"...\")", path);
		goto out;
	}
	char fname[VM_NAME_MAX + 1];
	snprintf(fname, sizeof(fname), "%s", name);
	for (char *c = fname; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			*c = '-';
	if (!((fname[0] >= 'a' && fname[0] <= 'z') || (fname[0] >= 'A' && fname[0] <= 'Z')))
		fname[0] = 'g';
	if (strcmp(fname, name) || !ident_valid(fname, VM_NAME_MAX))
		note(&x, "name", cfg_get(d, "name")->line, "name \"%s\" is %s in ferry (a letter, then up to 31 letters, "
		     "digits, - and _)", name, fname);
	if ((e = cfg_get(d, "memory")) && !int_of(e, &mem)) {
		ferr_set(err, "%s:%d: memory must be a number of MiB", path, e->line);
		goto out;
	}
	if (!e)
		mem = 128;   /* xl's default */
	if (mem < 16 || mem > (1 << 20)) {
		ferr_set(err, "%s:%d: memory %lld MiB: ferry takes 16 to 1048576", path, e ? e->line : 0, mem);
		goto out;
	}
	if ((e = cfg_get(d, "vcpus")) && (!int_of(e, &vcpus) || vcpus < 1 || vcpus > 64)) {
		note(&x, "vcpus", e->line, "vcpus must be 1 to 64: 1 instead");
		vcpus = 1;
	}
	const char *builder = str_of(cfg_get(d, "type")) ?: str_of(cfg_get(d, "builder"));
	x.hvm = builder && !strcmp(builder, "hvm");
	if (builder && strcmp(builder, "hvm") && strcmp(builder, "pv") && strcmp(builder, "generic"))
		note(&x, cfg_get(d, "type") ? "type" : "builder", (cfg_get(d, "type") ?: cfg_get(d, "builder"))->line,
		     "%s: booted as an HVM guest from its disk, or PV-style with its kernel", builder);
	const char *kernel = str_of(cfg_get(d, "kernel")), *ramdisk = str_of(cfg_get(d, "ramdisk"));
	const char *bl = str_of(cfg_get(d, "bootloader"));
	if (bl && !kernel) {
		x.pygrub = true;
		note(&x, "bootloader", cfg_get(d, "bootloader")->line, "%s: the kernel is inside the disk image; ferry "
		     "boots the disk with SeaBIOS, which needs a boot loader on it: run `ferry convert pv2hvm` on a PV "
		     "disk first", bl);
	}
	if (x.hvm && kernel) {
		note(&x, "kernel", cfg_get(d, "kernel")->line, "an HVM guest boots its disk: kernel left out");
		kernel = ramdisk = NULL;
	}
	buf_printf(&x.out, "# ferry import-xl of %s\nname = ", path);
	cfg_quote(&x.out, fname);
	buf_printf(&x.out, "\nmemory = %lld\nvcpus = %lld\n", mem, vcpus);
	if (kernel) {
		buf_printf(&x.out, "kernel = ");
		cfg_quote(&x.out, kernel);
		buf_printf(&x.out, "\n");
		if (ramdisk) {
			buf_printf(&x.out, "ramdisk = ");
			cfg_quote(&x.out, ramdisk);
			buf_printf(&x.out, "\n");
		}
		/* xl's root and extra (or cmdline) make one command line. */
		const char *root = str_of(cfg_get(d, "root")), *extra = str_of(cfg_get(d, "cmdline")) ?: str_of(cfg_get(d, "extra"));
		snprintf(x.extra, sizeof(x.extra), "%s%s%s%s", root ? "root=" : "", root ? root : "",
			 root && extra ? " " : "", extra ? extra : "");
		if (x.extra[0]) {
			buf_printf(&x.out, "extra = ");
			cfg_quote(&x.out, x.extra);
			buf_printf(&x.out, "\n");
		}
		const struct cfg_entry *cl = cfg_get(d, "cmdline") ?: cfg_get(d, "extra") ?: cfg_get(d, "root") ?: cfg_get(d, "kernel");
		if (strstr(x.extra, "hvc0") || strstr(x.extra, "xvd"))
			note(&x, cl->key, cl->line,
			     "a PV guest's Xen devices (hvc0, xvd*) do not exist under QEMU: its disk is vda, its console "
			     "ttyS0 (`ferry convert pv2hvm` rewrites both inside the image)");
	} else if (ramdisk) {
		note(&x, "ramdisk", cfg_get(d, "ramdisk")->line, "a ramdisk without a kernel: left out");
	}
	list(&x, cfg_get(d, "disk"), "disk", disk);
	list(&x, cfg_get(d, "vif"), "vif", vif);
	for (size_t i = 0; i < d->n; i++) {
		const char *k = d->entries[i].key;
		if (known(k) || !strcmp(k, "memory"))
			continue;
		size_t u;
		for (u = 0; u < sizeof(unsupported) / sizeof(unsupported[0]) && strcmp(unsupported[u].key, k); u++)
			;
		note(&x, k, d->entries[i].line, "%s", u < sizeof(unsupported) / sizeof(unsupported[0]) ?
						       unsupported[u].why : "not an xl key ferry knows: left out");
	}
	if (!kernel && !strstr(x.out.data, "disk = [")) {
		ferr_set(err, "%s: nothing to boot: no kernel and no disk ferry can open", path);
		goto out;
	}
	/* What was written must be a config ferry takes. */
	struct vm_config *check = NULL;
	if (vmcfg_parse(x.out.data, x.out.len, "<imported config>", "/", &check, err) < 0)
		goto out;
	vmcfg_free(check);
	*config = x.out.data;
	x.out = (struct buf){ 0 };
	*notes = x.notes;
	x.notes = NULL;
	r = 0;
out:
	buf_free(&x.out);
	json_decref(x.notes);
	cfg_doc_free(d);
	return r;
}

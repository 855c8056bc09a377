/* pv2hvm.c: a PV guest's bare file system into a BIOS-bootable disk
 * (pv2hvm.h). The steps, each without mounting anything: the file system
 * copied (sparse) into a work file and grown or shrunk there (resize2fs
 * truncates a file it works on through an offset, so never in place); its
 * fstab and a grub.cfg written with libext2fs; an MBR with one partition
 * written with libfdisk on the output; the file system copied in at 1 MiB;
 * GRUB's boot sector and core image (grub-mkimage) written by ferry
 * (grub-bios-setup refuses plain files); the kernel and the initramfs's
 * drivers checked; qemu-img for the other formats. The output is a new
 * file that appears only when whole. */
#include "convert/pv2hvm.h"
#include "convert/guestnet.h"
#include "convert/initrd.h"

#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <libfdisk/libfdisk.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define PART_START (1ULL << 20)        /* the partition: at 1 MiB, as fdisk does */
#define GRUB_DIR "/usr/lib/grub/i386-pc"
#define INITRD_MAX (512LL << 20)

struct work {
	const struct pv2hvm_opts *o;
	char out_tmp[PATH_MAX], fs_tmp[PATH_MAX], core_tmp[PATH_MAX], conv_tmp[PATH_MAX];
	char kernel[256], initrd[256], kver[200], uuid[40];
	json_t *warnings, *drivers, *guest;   /* guest: what the image says of itself */
	struct ferr *err;
	time_t now;   /* every time written inside: the input's mtime */
};

static void step(const struct work *w, const char *s)
{
	if (w->o->progress)
		w->o->progress(s, w->o->opaque);
}

/* Copies the data extents of src[0..len) to dst at dst_off (holes stay). */
static int sparse_copy(int src, uint64_t len, int dst, uint64_t dst_off)
{
	static char buf[4 << 20];
	off_t pos = 0;

	while ((uint64_t)pos < len) {
		off_t d = lseek(src, pos, SEEK_DATA);
		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t h = lseek(src, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		for (off_t at = d; at < h;) {
			size_t n = (size_t)(h - at) < sizeof(buf) ? (size_t)(h - at) : sizeof(buf);
			ssize_t r = pread(src, buf, n, at);
			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			if (pwrite(dst, buf, (size_t)r, (off_t)(dst_off + (uint64_t)at)) != r)
				return errno ? -errno : -ENOSPC;
			at += r;
		}
		pos = h;
	}
	return 0;
}

static int tool(struct work *w, const char *what, char *const argv[])
{
	struct buf out = {0};
	int r = run_capture_all(argv[0], argv, &out);

	if (r != 0) {
		char *nl = out.data ? strrchr(out.data, '\n') : NULL;
		while (nl && nl > out.data && !nl[1]) {   /* the last line that says something */
			*nl = 0;
			nl = strrchr(out.data, '\n');
		}
		ferr_set(w->err, "%s failed (%s): %s", what, argv[0],
			 out.data && out.data[0] ? (nl ? nl + 1 : out.data) : "no message");
		buf_free(&out);
		return -EIO;
	}
	buf_free(&out);
	return 0;
}

/* ---- inside the file system (libext2fs) -------------------------------- */

struct boot_scan {
	char kver[180];
};

static int boot_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset, int blocksize, char *buf,
		      void *priv)
{
	struct boot_scan *b = priv;
	char name[256];
	int len = ext2fs_dirent_name_len(de);

	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	snprintf(name, sizeof(name), "%.*s", len, de->name);
	/* A kernel's release names itself in a file name and goes into grub.cfg:
	 * only the characters kernel releases use. */
	if (!strncmp(name, "vmlinuz-", 8) && name[8] && strlen(name + 8) < sizeof(b->kver) &&
	    strspn(name + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_+~") == strlen(name + 8) &&
	    (!b->kver[0] || strverscmp(name + 8, b->kver) > 0))
		memcpy(b->kver, name + 8, strlen(name + 8) + 1);
	return 0;
}

static errcode_t read_file(ext2_filsys fs, const char *path, long long max, char **out, unsigned *len)
{
	ext2_ino_t ino;
	ext2_file_t f;
	errcode_t e;

	if ((e = ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino)))
		return e;
	if ((e = ext2fs_file_open(fs, ino, 0, &f)))
		return e;
	__u64 size = 0;
	if ((e = ext2fs_file_get_lsize(f, &size)) || (long long)size > max) {
		ext2fs_file_close(f);
		return e ? e : EFBIG;
	}
	*out = malloc(size + 1);
	e = *out ? ext2fs_file_read(f, *out, (unsigned)size, len) : ENOMEM;
	if (!e)
		(*out)[*len] = 0;
	ext2fs_file_close(f);
	return e;
}

/* Writes path (a new file, or one replaced) with text. */
static errcode_t write_file(ext2_filsys fs, ext2_ino_t dir, const char *name, const char *text, time_t now)
{
	ext2_ino_t ino;
	ext2_file_t f;
	errcode_t e;
	unsigned written;

	if (ext2fs_lookup(fs, dir, name, strlen(name), NULL, &ino)) {
		struct ext2_inode inode;
		if ((e = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | 0644, 0, &ino)))
			return e;
		e = ext2fs_link(fs, dir, name, ino, EXT2_FT_REG_FILE);
		if (e == EXT2_ET_DIR_NO_SPACE && !(e = ext2fs_expand_dir(fs, dir)))
			e = ext2fs_link(fs, dir, name, ino, EXT2_FT_REG_FILE);
		if (e)
			return e;
		ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
		memset(&inode, 0, sizeof(inode));
		inode.i_mode = LINUX_S_IFREG | 0644;
		inode.i_atime = inode.i_ctime = inode.i_mtime = (__u32)now;
		inode.i_links_count = 1;
		if (ext2fs_has_feature_extents(fs->super)) {
			ext2_extent_handle_t h;
			inode.i_flags |= EXT4_EXTENTS_FL;
			if ((e = ext2fs_extent_open2(fs, ino, &inode, &h)))
				return e;
			ext2fs_extent_free(h);
		}
		if ((e = ext2fs_write_new_inode(fs, ino, &inode)))
			return e;
	}
	if ((e = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &f)))
		return e;
	e = ext2fs_file_write(f, text, (unsigned)strlen(text), &written);
	if (!e)
		e = ext2fs_file_set_size2(f, strlen(text));
	errcode_t c = ext2fs_file_close(f);
	return e ? e : c;
}

/* fstab: the root line on UUID=; other lines naming Xen disks noted. */
static char *new_fstab(struct work *w, const char *old)
{
	struct buf b = {0};
	char *copy = xstrdup(old ? old : ""), *save = NULL, *line;
	bool root = false;
	int n = 0;

	buf_printf(&b, "%s", "");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dev[256], mp[256];
		n++;
		if (line[0] != '#' && sscanf(line, "%255s %255s", dev, mp) == 2) {
			if (!strcmp(mp, "/")) {
				buf_printf(&b, "UUID=%s%s\n", w->uuid, line + strcspn(line, " \t"));
				root = true;
				continue;
			}
			if (!strncmp(dev, "/dev/xvd", 8) || !strncmp(dev, "/dev/hd", 7)) {
				json_array_append_new(json_object_get(w->guest, "other_disks"), json_string(dev));
				char msg[400];
				snprintf(msg, sizeof(msg), "fstab line %d names %s, which the HVM guest does not have: left as "
					 "it is", n, dev);
				json_array_append_new(w->warnings, json_string(msg));
			}
		}
		buf_printf(&b, "%s\n", line);
	}
	if (!root)
		buf_printf(&b, "UUID=%s / ext4 errors=remount-ro 0 1\n", w->uuid);
	free(copy);
	return b.data;
}

struct drivers {
	bool found[5];
};
static const char *const driver_names[5] = { "virtio_blk", "ahci", "nvme", "xen-blkfront", "ena" };

static void match_driver(const char *name, size_t len, void *opaque)
{
	struct drivers *d = opaque;

	for (int i = 0; i < 5; i++) {
		char k[40];
		int kl = snprintf(k, sizeof(k), "/%s.ko", driver_names[i]);
		const char *hit = memmem(name, len, k, (size_t)kl);
		if (hit && (size_t)(hit - name) + (size_t)kl <= len)
			d->found[i] = true;
	}
}

/* os-release's KEY="value" (quotes off), or "". */
static void os_value(const char *text, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);

	out[0] = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) || l[kl] != '=')
			continue;
		const char *v = l + kl + 1, *e = strchr(v, '\n');
		size_t vl = e ? (size_t)(e - v) : strlen(v);
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
			v++;
			vl -= 2;
		}
		snprintf(out, n, "%.*s", (int)(vl < n ? vl : n - 1), v);
		for (char *c = out; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
		return;
	}
}

struct names {
	char name[64][64];
	int n;
};

static int network_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset, int blocksize, char *buf,
			 void *priv)
{
	struct names *nm = priv;
	int len = ext2fs_dirent_name_len(de);

	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (len > 8 && len < 64 && !memcmp(de->name + len - 8, ".network", 8) && nm->n < 64)
		snprintf(nm->name[nm->n++], 64, "%.*s", len, de->name);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool fs_has(ext2_filsys fs, const char *path)
{
	ext2_ino_t ino;

	return ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) == 0;
}

/* What the image says of itself that matters once it runs elsewhere: its
 * OS, how it gets its address, whether one can log in over SSH, the ENA
 * network driver among its modules. */
static void guest_facts(struct work *w, ext2_filsys fs, bool ena_builtin)
{
	char *text = NULL, v[128], path[400];
	unsigned len = 0;
	json_t *os = json_object();

	if (!read_file(fs, "/etc/os-release", 64 << 10, &text, &len)) {
		static const char *const keys[] = { "ID", "VERSION_ID", "PRETTY_NAME" };
		for (int i = 0; i < 3; i++) {
			os_value(text, keys[i], v, sizeof(v));
			if (v[0])
				json_object_set_new(os, keys[i], json_string(v));
		}
	}
	free(text);
	json_object_set_new(w->guest, "os", os);

	struct guestnet g = {0};
	const char *from = NULL;
	text = NULL;
	if (!read_file(fs, "/etc/network/interfaces", 1 << 20, &text, &len) && guestnet_interfaces(text, len, &g))
		from = "/etc/network/interfaces";
	free(text);
	ext2_ino_t nd;
	char found_in[400];
	if (!from && !ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/etc/systemd/network", &nd)) {
		struct names *nm = calloc(1, sizeof(*nm));
		if (nm && !ext2fs_dir_iterate2(fs, nd, 0, NULL, network_entry, nm)) {
			qsort(nm->name, (size_t)nm->n, sizeof(nm->name[0]), name_cmp);
			for (int i = 0; i < nm->n && !from; i++) {
				text = NULL;
				snprintf(path, sizeof(path), "/etc/systemd/network/%s", nm->name[i]);
				if (!read_file(fs, path, 1 << 20, &text, &len) && guestnet_networkd(text, len, &g)) {
					snprintf(found_in, sizeof(found_in), "%s", path);
					from = found_in;
				}
				free(text);
			}
		}
		free(nm);
	}
	json_t *net = json_pack("{s:s}", "method", guestnet_method_name(g.method));
	if (g.method == GUESTNET_STATIC) {
		json_object_set_new(net, "address", json_string(g.addr));
		json_object_set_new(net, "prefix", json_integer(g.prefix));
	}
	if (from)
		json_object_set_new(net, "file", json_string(from));
	json_object_set_new(w->guest, "network", net);

	json_object_set_new(w->guest, "ssh_server", json_boolean(fs_has(fs, "/usr/sbin/sshd")));
	bool ena = ena_builtin;
	static const char *const ext[] = { "", ".xz", ".zst", ".gz" };
	for (int i = 0; i < 4 && !ena; i++) {
		snprintf(path, sizeof(path), "/lib/modules/%s/kernel/drivers/net/ethernet/amazon/ena/ena.ko%s", w->kver, ext[i]);
		ena = fs_has(fs, path);
	}
	json_object_set_new(w->guest, "ena_module", json_boolean(ena));
	json_object_set_new(w->guest, "kernel_version", json_string(w->kver));
	json_object_set_new(w->guest, "file_system", json_string(ext2fs_has_feature_extents(fs->super) ? "ext4" :
								    ext2fs_has_feature_journal(fs->super) ? "ext3" : "ext2"));
}

/* The kernel and initramfs in /boot, its drivers; fstab and grub.cfg. */
static int edit_fs(struct work *w, const char *fs_path)
{
	ext2_filsys fs;
	errcode_t e;
	struct boot_scan bs = {{0}};
	ext2_ino_t boot, grub;

	if ((e = ext2fs_open(fs_path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs))) {
		ferr_set(w->err, "%s: not an ext2/3/4 file system (%s)", w->o->in, error_message(e));
		return -EINVAL;
	}
	int r = -EINVAL;
	if (ext2fs_has_feature_inline_data(fs->super)) {
		ferr_set(w->err, "%s: the file system uses ext4 inline_data, which GRUB 2.06 cannot read", w->o->in);
		goto out;
	}
	if ((e = ext2fs_read_bitmaps(fs))) {
		ferr_set(w->err, "%s: %s", w->o->in, error_message(e));
		goto out;
	}
	uint8_t *u = fs->super->s_uuid;
	snprintf(w->uuid, sizeof(w->uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/boot", &boot) ||
	    ext2fs_dir_iterate2(fs, boot, 0, NULL, boot_entry, &bs) || !bs.kver[0]) {
		ferr_set(w->err, "%s holds no kernel (/boot/vmlinuz-*): there is nothing to boot; install one in the guest "
			 "(linux-image-amd64) first", w->o->in);
		goto out;
	}
	snprintf(w->kver, sizeof(w->kver), "%s", bs.kver);
	snprintf(w->kernel, sizeof(w->kernel), "/boot/vmlinuz-%s", bs.kver);
	snprintf(w->initrd, sizeof(w->initrd), "/boot/initrd.img-%s", bs.kver);
	/* The drivers: in the initramfs, or built into the kernel. */
	char *data = NULL, *builtin = NULL, path[300];
	unsigned len = 0, blen = 0;
	struct drivers d = {{0}};
	bool unread = false;
	if (read_file(fs, w->initrd, INITRD_MAX, &data, &len)) {
		json_array_append_new(w->warnings, json_sprintf("no initramfs %s: the kernel must find its disk by itself",
								 w->initrd));
		snprintf(w->initrd, sizeof(w->initrd), "%s", "");
	} else if (initrd_names((const uint8_t *)data, len, match_driver, &d, &unread) < 0 || unread) {
		json_array_append_new(w->warnings, json_sprintf("the initramfs %s could not be read through (a part that "
								 "is not cpio or zstd): its drivers are not checked",
								 w->initrd));
	}
	free(data);
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", bs.kver);
	bool ena_in_initrd = d.found[4];
	struct drivers bi = {{0}};
	if (!read_file(fs, path, 1 << 20, &builtin, &blen))
		match_driver(builtin, blen, &bi);
	free(builtin);
	for (int i = 0; i < 5; i++)
		d.found[i] |= bi.found[i];
	guest_facts(w, fs, ena_in_initrd || bi.found[4]);
	for (int i = 0; i < 5; i++)
		json_object_set_new(w->drivers, driver_names[i], json_boolean(d.found[i]));
	if (!d.found[0] && !d.found[1])
		json_array_append_new(w->warnings, json_string("neither virtio_blk nor ahci in the initramfs: the guest may "
							       "not find its disk under QEMU"));
	/* fstab and grub.cfg. */
	char *fstab = NULL;
	unsigned flen = 0;
	read_file(fs, "/etc/fstab", 1 << 20, &fstab, &flen);
	char *nf = new_fstab(w, fstab);
	free(fstab);
	ext2_ino_t etc;
	if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "/etc", &etc) || (e = write_file(fs, etc, "fstab", nf, w->now))) {
		ferr_set(w->err, "cannot write /etc/fstab in the image: %s", error_message(e));
		free(nf);
		goto out;
	}
	free(nf);
	if (ext2fs_lookup(fs, boot, "grub", 4, NULL, &grub)) {
		e = ext2fs_mkdir(fs, boot, 0, "grub");
		if (e == EXT2_ET_DIR_NO_SPACE && !(e = ext2fs_expand_dir(fs, boot)))
			e = ext2fs_mkdir(fs, boot, 0, "grub");
		if (e || (e = ext2fs_lookup(fs, boot, "grub", 4, NULL, &grub))) {
			ferr_set(w->err, "cannot make /boot/grub in the image: %s", error_message(e));
			goto out;
		}
	}
	char cfg[2048];
	snprintf(cfg, sizeof(cfg),
		 "# written by ferry convert pv2hvm: boots the PV guest's own kernel as an HVM guest\n"
		 "set timeout=1\nset default=0\n"
		 "menuentry \"Debian GNU/Linux %s (converted from PV)\" {\n"
		 "\tsearch --no-floppy --fs-uuid --set=root %s\n"
		 "\tlinux %s root=UUID=%s ro console=tty0 console=ttyS0,115200\n"
		 "%s%s%s"
		 "}\n",
		 w->kver, w->uuid, w->kernel, w->uuid, w->initrd[0] ? "\tinitrd " : "", w->initrd,
		 w->initrd[0] ? "\n" : "");
	if ((e = write_file(fs, grub, "grub.cfg", cfg, w->now))) {
		ferr_set(w->err, "cannot write /boot/grub/grub.cfg in the image: %s", error_message(e));
		goto out;
	}
	r = 0;
out:
	if ((e = ext2fs_close_free(&fs)) && r == 0) {
		ferr_set(w->err, "cannot write the image's file system: %s", error_message(e));
		r = -EIO;
	}
	return r;
}

/* ---- the disk ------------------------------------------------------------ */

static int partition(struct work *w, uint64_t size)
{
	struct fdisk_context *cxt = fdisk_new_context();
	struct fdisk_partition *pa = fdisk_new_partition();
	int r = -EIO;

	if (!cxt || !pa || fdisk_assign_device(cxt, w->out_tmp, 0) || fdisk_create_disklabel(cxt, "dos"))
		goto out;
	struct fdisk_label *lb = fdisk_get_label(cxt, "dos");
	struct fdisk_parttype *t = fdisk_label_get_parttype_from_code(lb, 0x83);
	uint64_t ss = fdisk_get_sector_size(cxt);
	fdisk_partition_set_start(pa, PART_START / ss);
	fdisk_partition_set_size(pa, (size - PART_START) / ss);
	fdisk_partition_set_partno(pa, 0);
	fdisk_partition_set_type(pa, t);
	/* The disk identifier from the file system's UUID (libfdisk would pick
	 * a random one): the same input, the same disk. */
	char id[16];
	snprintf(id, sizeof(id), "0x%.8s", w->uuid);
	if (fdisk_set_disklabel_id_from_string(cxt, id) || fdisk_add_partition(cxt, pa, NULL) ||
	    fdisk_toggle_partition_flag(cxt, 0, DOS_FLAG_ACTIVE) || fdisk_write_disklabel(cxt))
		goto out;
	r = 0;
out:
	if (r)
		ferr_set(w->err, "cannot write the partition table (libfdisk) on %s", w->out_tmp);
	fdisk_unref_partition(pa);
	if (cxt) {
		fdisk_deassign_device(cxt, 0);
		fdisk_unref_context(cxt);
	}
	return r;
}

/* GRUB for BIOS boot, as grub-install would put it on a disk: boot.img's
 * code in the MBR (the partition table kept), the core image right after
 * it, in the gap before the partition. */
static int grub(struct work *w)
{
	char *mk[] = { "grub-mkimage", "-O", "i386-pc", "-o", w->core_tmp, "-p", "(hd0,msdos1)/boot/grub", "biosdisk",
		       "part_msdos", "ext2", "search_fs_uuid", "normal", "linux", "configfile", NULL };
	char *boot = NULL;
	size_t blen = 0;
	char *core = NULL;
	size_t clen = 0;
	int fd = -1, r;

	if ((r = tool(w, "making GRUB's core image", mk)) < 0)
		return r;
	r = -EIO;
	if (file_read_all(GRUB_DIR "/boot.img", 512, &boot, &blen) < 0 || blen != 512 ||
	    file_read_all(w->core_tmp, PART_START, &core, &clen) < 0 || clen + 512 > PART_START) {
		ferr_set(w->err, "GRUB's boot.img or core image is missing or too large (grub-pc-bin)");
		goto out;
	}
	fd = open(w->out_tmp, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, boot, 440, 0) != 440 || pwrite(fd, core, clen, 512) != (ssize_t)clen) {
		ferr_set(w->err, "cannot write GRUB to %s: %s", w->out_tmp, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(boot);
	free(core);
	return r;
}

static void cleanup(struct work *w)
{
	unlink(w->fs_tmp);
	unlink(w->core_tmp);
	unlink(w->conv_tmp);
	unlink(w->out_tmp);
}

int pv2hvm_convert(const struct pv2hvm_opts *o, json_t **report, struct ferr *err)
{
	struct work w = { .o = o, .err = err, .warnings = json_array(), .drivers = json_object(),
			  .guest = json_pack("{s:[]}", "other_disks") };
	const char *format = o->format ? o->format : "raw";
	struct stat in_st, st;
	char rin[PATH_MAX], dir[PATH_MAX], *dcopy;
	int64_t t0 = time_mono_us();
	int r = -EINVAL, in = -1, fd = -1;

	if (strcmp(format, "raw") && strcmp(format, "qcow2") && strcmp(format, "vmdk") && strcmp(format, "vhd")) {
		ferr_set(err, "--format is raw, qcow2, vmdk or vhd");
		goto fail;
	}
	if (stat(o->in, &in_st) < 0 || !S_ISREG(in_st.st_mode) || !realpath(o->in, rin)) {
		ferr_set(err, "%s: %s", o->in, errno ? strerror(errno) : "not a regular file");
		goto fail;
	}
	if (stat(o->out, &st) == 0) {
		ferr_set(err, "%s exists%s: the output must be a new file", o->out,
			 st.st_ino == in_st.st_ino && st.st_dev == in_st.st_dev ? " (it is the input)" : "");
		goto fail;
	}
	dcopy = xstrdup(o->out);
	snprintf(dir, sizeof(dir), "%s", dirname(dcopy));
	free(dcopy);
	if (access(dir, W_OK) < 0) {
		ferr_set(err, "cannot write in %s: %s", dir, strerror(errno));
		goto fail;
	}
	snprintf(w.out_tmp, sizeof(w.out_tmp), "%s.part", o->out);
	snprintf(w.fs_tmp, sizeof(w.fs_tmp), "%s.fs.part", o->out);
	snprintf(w.core_tmp, sizeof(w.core_tmp), "%s.core.part", o->out);
	snprintf(w.conv_tmp, sizeof(w.conv_tmp), "%s.%s.part", o->out, format);
	uint64_t size = o->size ? o->size : ((uint64_t)in_st.st_size + PART_START + 511) / 512 * 512;
	if (size < PART_START + (8ULL << 20)) {
		ferr_set(err, "a disk of %llu bytes is too small", (unsigned long long)size);
		goto fail;
	}
	uint64_t fs_size = (size - PART_START) / 4096 * 4096;
	/* Reproducible: the same input gives the same bytes. Every time that
	 * e2fsck, resize2fs, libext2fs and ferry write inside is the input's
	 * mtime (the variables e2fsprogs reads for that). */
	char tbuf[32];
	w.now = in_st.st_mtime;
	snprintf(tbuf, sizeof(tbuf), "%lld", (long long)in_st.st_mtime);
	setenv("E2FSCK_TIME", tbuf, 1);
	setenv("E2FSPROGS_FAKE_TIME", tbuf, 1);

	/* 1. The file system, copied and sized to fill the partition. */
	step(&w, "copying the file system");
	in = open(o->in, O_RDONLY | O_CLOEXEC);
	fd = open(w.fs_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (in < 0 || fd < 0 || ftruncate(fd, in_st.st_size) < 0 || (r = sparse_copy(in, (uint64_t)in_st.st_size, fd, 0)) < 0) {
		ferr_set(err, "cannot copy %s: %s", o->in, strerror(r < 0 ? -r : errno));
		r = -EIO;
		goto fail;
	}
	close(fd);
	fd = -1;
	/* A guest that was not shut down cleanly left its journal to replay:
	 * that (and any repair) on the copy, before anything is written into it
	 * (the kernel would otherwise replay the old blocks over the edits). */
	step(&w, "checking the file system (e2fsck, on the copy)");
	char *fsck[] = { "e2fsck", "-fy", w.fs_tmp, NULL };
	struct buf fo = {0};
	int fr = run_capture_all(fsck[0], fsck, &fo);
	buf_free(&fo);
	if (fr < 0 || fr >= 8) {   /* 8: e2fsck found no file system to check */
		ferr_set(err, "%s: not an ext2/3/4 file system (e2fsck cannot open it)", o->in);
		r = -EINVAL;
		goto fail;
	}
	if (fr >= 4) {
		ferr_set(err, "%s: e2fsck could not repair the file system (exit %d); run e2fsck on it first", o->in, fr);
		r = -EINVAL;
		goto fail;
	}
	if (fr & 1)
		json_array_append_new(w.warnings, json_string("the file system was not clean (a guest not shut down, or "
							       "damage): e2fsck replayed its journal and repaired the copy"));
	/* Is it a file system with a kernel? */
	step(&w, "reading the file system: kernel, initramfs, drivers; writing fstab and grub.cfg");
	if ((r = edit_fs(&w, w.fs_tmp)) < 0)
		goto fail;
	if (fs_size != (uint64_t)in_st.st_size) {
		char sz[32];
		snprintf(sz, sizeof(sz), "%lluK", (unsigned long long)(fs_size / 1024));
		step(&w, "resizing the file system to fill the partition");
		if (fs_size > (uint64_t)in_st.st_size && truncate(w.fs_tmp, (off_t)fs_size) < 0) {
			ferr_set(err, "cannot grow %s: %s", w.fs_tmp, strerror(errno));
			r = -EIO;
			goto fail;
		}
		char *rs[] = { "resize2fs", "-f", w.fs_tmp, sz, NULL };
		if ((r = tool(&w, "resizing the file system (is the size smaller than the data?)", rs)) < 0)
			goto fail;
	}
	/* 2. The disk: partition table, the file system in it, GRUB. */
	step(&w, "writing the disk: partition table, file system, GRUB");
	fd = open(w.out_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		ferr_set(err, "cannot create %s: %s", w.out_tmp, strerror(errno));
		r = -EIO;
		goto fail;
	}
	close(fd);
	fd = -1;
	if ((r = partition(&w, size)) < 0)
		goto fail;
	int fsfd = open(w.fs_tmp, O_RDONLY | O_CLOEXEC);
	fd = open(w.out_tmp, O_RDWR | O_CLOEXEC);
	if (fsfd < 0 || fd < 0 || (r = sparse_copy(fsfd, fs_size, fd, PART_START)) < 0 || fsync(fd) < 0) {
		ferr_set(err, "cannot write the file system into %s: %s", w.out_tmp, strerror(r < 0 ? -r : errno));
		if (fsfd >= 0)
			close(fsfd);
		r = -EIO;
		goto fail;
	}
	close(fsfd);
	close(fd);
	fd = -1;
	unlink(w.fs_tmp);
	if ((r = grub(&w)) < 0)
		goto fail;
	unlink(w.core_tmp);
	/* 3. The format asked for. */
	const char *final = w.out_tmp;
	if (strcmp(format, "raw")) {
		step(&w, "converting to the format asked for (qemu-img)");
		char *q[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O",
			      !strcmp(format, "vhd") ? "vpc" : (char *)format, "-o",
			      !strcmp(format, "vmdk") ? "subformat=streamOptimized" :
			      !strcmp(format, "vhd") ? "subformat=fixed,force_size=on" : "preallocation=off",
			      w.out_tmp, w.conv_tmp, NULL };
		if ((r = tool(&w, "converting the disk", q)) < 0)
			goto fail;
		unlink(w.out_tmp);
		final = w.conv_tmp;
	}
	if (rename(final, o->out) < 0) {
		ferr_set(err, "cannot put %s in place: %s", o->out, strerror(errno));
		r = -EIO;
		goto fail;
	}
	close(in);
	*report = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:f}", "input", rin, "output", o->out, "kernel",
			    w.kernel, "initrd", w.initrd, "size", (json_int_t)size, "format", format, "drivers", w.drivers,
			    "warnings", w.warnings, "seconds", (double)(time_mono_us() - t0) / 1e6);
	json_object_set_new(*report, "uuid", json_string(w.uuid));
	json_object_set_new(*report, "guest", w.guest);
	unsetenv("E2FSCK_TIME");
	unsetenv("E2FSPROGS_FAKE_TIME");
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (w.out_tmp[0])
		cleanup(&w);
	json_decref(w.warnings);
	json_decref(w.drivers);
	json_decref(w.guest);
	unsetenv("E2FSCK_TIME");
	unsetenv("E2FSPROGS_FAKE_TIME");
	return r < 0 ? r : -EINVAL;
}

/* aws.c: VM Import's requirements judged offline, and the import's files
 * (aws.h). The requirements are those of Amazon's VM Import/Export user
 * guide as read in 2026-11 (docs/cloud.md names them). */
#include "convert/aws.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define TIB (1ULL << 40)

bool aws_format_ok(const char *format)
{
	return !strcmp(format, "raw") || !strcmp(format, "vmdk") || !strcmp(format, "vhd");
}

int aws_parse_s3(const char *url, char bucket[64], char prefix[256], struct ferr *err)
{
	const char *b, *slash;
	size_t bl;

	if (strncmp(url, "s3://", 5)) {
		ferr_set(err, "--s3 takes s3://BUCKET/PREFIX/");
		return -EINVAL;
	}
	b = url + 5;
	slash = strchr(b, '/');
	bl = slash ? (size_t)(slash - b) : strlen(b);
	if (bl < 3 || bl > 63 || b[0] == '.' || b[0] == '-' || b[bl - 1] == '.' || b[bl - 1] == '-' ||
	    strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < bl) {
		ferr_set(err, "--s3: \"%.*s\" is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')", (int)(bl < 80 ? bl : 80), b);
		return -EINVAL;
	}
	memcpy(bucket, b, bl);
	bucket[bl] = 0;
	const char *p = slash ? slash + 1 : "";
	size_t pl = strlen(p);
	if (pl > 200 || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-") < pl ||
	    strstr(p, "//") || p[0] == '/') {
		ferr_set(err, "--s3: the key prefix may hold letters, digits and / . _ - (up to 200)");
		return -EINVAL;
	}
	snprintf(prefix, 256, "%s%s", p, pl && p[pl - 1] != '/' ? "/" : "");
	return 0;
}

static void add(json_t *a, const char *req, const char *status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(json_t *a, const char *req, const char *status, const char *fmt, ...)
{
	char d[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d, sizeof(d), fmt, ap);
	va_end(ap);
	json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "requirement", req, "status", status, "detail", d));
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Debian releases in Amazon's list, with their kernels. */
static const struct {
	const char *version, *kernel;
} debian_listed[] = { { "6", "2.6.32" }, { "7", "3.2" }, { "10", "4.19" }, { "11", "5.10" } };

static void kernel_check(json_t *a, const json_t *guest)
{
	const json_t *os = json_object_get(guest, "os");
	const char *kver = str(guest, "kernel_version"), *id = str(os, "ID"), *ver = str(os, "VERSION_ID");
	char major[16];

	snprintf(major, sizeof(major), "%.*s", (int)strcspn(ver, "."), ver);
	if (strcmp(id, "debian")) {
		add(a, "kernel", "cloud", "kernel %s on %s: Amazon's list of kernels per distribution is checked by the "
		    "import itself", kver, str(os, "PRETTY_NAME")[0] ? str(os, "PRETTY_NAME") : "an unnamed OS");
		return;
	}
	for (size_t i = 0; i < sizeof(debian_listed) / sizeof(debian_listed[0]); i++) {
		size_t kl = strlen(debian_listed[i].kernel);
		if (strcmp(major, debian_listed[i].version))
			continue;
		if (!strncmp(kver, debian_listed[i].kernel, kl) && (kver[kl] == '.' || kver[kl] == '-' || !kver[kl])) {
			add(a, "kernel", "ok", "kernel %s on Debian %s: in Amazon's list (Debian %s, %s)", kver, ver,
			    debian_listed[i].version, debian_listed[i].kernel);
			return;
		}
		add(a, "kernel", "warning", "kernel %s on Debian %s: Amazon's list names Debian %s with %s only; "
		    "import-image may refuse it", kver, ver, debian_listed[i].version, debian_listed[i].kernel);
		return;
	}
	add(a, "kernel", "warning", "kernel %s on Debian %s: Amazon's list (VM Import user guide, read 2026-11) "
	    "names Debian 6, 7, 10 and 11 only; import-image may stop with \"Unable to determine kernel version\": "
	    "import.sh then shows the other way (import-snapshot, then register-image), which does not check the "
	    "kernel", kver, ver[0] ? ver : "(unknown version)");
}

json_t *aws_checks(const json_t *rep)
{
	json_t *a = json_array(), *guest = json_object_get(rep, "guest"), *drv = json_object_get(rep, "drivers");
	const char *format = str(rep, "format");
	json_int_t size = json_integer_value(json_object_get(rep, "size"));
	const json_t *net = json_object_get(guest, "network"), *other = json_object_get(guest, "other_disks");

	if (!strcmp(format, "vmdk"))
		add(a, "image format", "ok", "VMDK, stream-optimized");
	else if (!strcmp(format, "vhd"))
		add(a, "image format", "ok", "VHD, fixed");
	else if (!strcmp(format, "raw"))
		add(a, "image format", "ok", "raw (the upload is the disk's whole size; VMDK is the smallest upload)");
	else
		add(a, "image format", "blocking", "%s: VM Import takes OVA, VMDK, VHD/VHDX or raw", format);
	add(a, "boot", "ok", "an MBR with one active partition, GRUB for legacy BIOS (import with --boot-mode "
	    "legacy-bios)");
	if ((unsigned long long)size > 2 * TIB)
		add(a, "size", "blocking", "%lld bytes: an MBR volume is at most 2 TiB", (long long)size);
	else
		add(a, "size", "ok", "%.1f GiB (an MBR volume may be up to 2 TiB)", (double)size / (1 << 30));
	if (json_array_size(other)) {
		struct buf b = {0};
		size_t i;
		json_t *v;
		json_array_foreach(other, i, v)
			buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v));
		add(a, "root on the boot disk, one disk", "warning", "the root file system is on this disk, but fstab also "
		    "names %s, which this image does not hold: import them as more disk containers, or remove the "
		    "lines (the import comments out what it cannot match)", b.data);
		buf_free(&b);
	} else {
		add(a, "root on the boot disk, one disk", "ok", "the root file system on partition 1 of this disk; fstab "
		    "names no other disk");
	}
	const char *fs = str(guest, "file_system");
	add(a, "file system", "ok", "%s (ext2/3/4, Btrfs, JFS and XFS are taken); fstab and the kernel line name it "
	    "by UUID=%s", fs, str(rep, "uuid"));
	const char *kver = str(guest, "kernel_version");
	if (strstr(kver, "amd64") || strstr(kver, "x86_64"))
		add(a, "architecture", "ok", "x86_64 (kernel %s; imports are 64-bit only)", kver);
	else
		add(a, "architecture", "warning", "cannot tell from the kernel's name (%s) that it is 64-bit; imports "
		    "are 64-bit only", kver);
	kernel_check(a, guest);
	if (json_is_true(json_object_get(drv, "nvme")))
		add(a, "NVMe driver", "ok", "nvme in the initramfs (Nitro instances show EBS volumes as NVMe)");
	else
		add(a, "NVMe driver", "warning", "no nvme in the initramfs: on Nitro instances (EBS volumes are NVMe) the "
		    "kernel would not find its root; rebuild the initramfs with it");
	if (json_is_true(json_object_get(guest, "ena_module")))
		add(a, "ENA network driver", "ok", "ena among the kernel's modules (the network of Nitro instances)");
	else
		add(a, "ENA network driver", "warning", "no ena module for kernel %s: Nitro instances would have no network",
		    kver);
	if (json_is_true(json_object_get(drv, "xen-blkfront")))
		add(a, "Xen disk driver", "ok", "xen-blkfront in the initramfs (older Xen instance types)");
	else
		add(a, "Xen disk driver", "warning", "no xen-blkfront in the initramfs: older Xen instance types would not "
		    "find the root");
	const char *method = str(net, "method");
	if (!strcmp(method, "dhcp"))
		add(a, "network", "ok", "DHCP (%s), as a VPC gives addresses", str(net, "file"));
	else if (!strcmp(method, "static"))
		add(a, "network", "warning", "a static address %s/%lld (%s): a VPC gives addresses by DHCP and the "
		    "import rewrites static addresses only in the network scripts it knows; switch to DHCP first, or "
		    "the instance may be unreachable", str(net, "address"),
		    (long long)json_integer_value(json_object_get(net, "prefix")), str(net, "file"));
	else
		add(a, "network", "warning", "no network configuration found (/etc/network/interfaces, "
		    "/etc/systemd/network): the instance may come up without an address");
	if (json_is_true(json_object_get(guest, "ssh_server")))
		add(a, "a way in", "ok", "an SSH server (/usr/sbin/sshd)");
	else
		add(a, "a way in", "warning", "no SSH server (/usr/sbin/sshd): the instance's serial console is "
		    "read-only unless the account enables EC2 Serial Console, so there may be no way to log in");
	add(a, "service role and bucket", "cloud", "the vmimport role, trusted by vmie.amazonaws.com, with read access "
	    "to the bucket (docs/cloud.md)");
	add(a, "kernel and OS detection", "cloud", "whether the import recognises the OS and kernel, and which drivers "
	    "it adds");
	add(a, "licence, quotas, Region, instance types", "cloud", "Linux imports are BYOL; the account's limits on "
	    "import tasks; the Region; the instance types the image boots on");
	return a;
}

/* s as one shell word: '...' with each ' as '\''. */
static void sq(struct buf *b, const char *s)
{
	buf_printf(b, "'");
	for (; *s; s++)
		if (*s == '\'')
			buf_printf(b, "'\\''");
		else
			buf_append(b, s, 1);
	buf_printf(b, "'");
}

static int write_text(const char *dir, const char *name, const char *text, mode_t mode, struct ferr *err)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0) {
		ferr_set(err, "cannot write %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

int aws_write(const char *dir, const char *out, const json_t *rep, const json_t *checks, const char *bucket,
	      const char *prefix, struct ferr *err)
{
	char tmp[PATH_MAX], key[512], desc[200], *oc = xstrdup(out);
	const char *base = basename(oc), *format = str(rep, "format");
	const char *b = bucket ? bucket : "BUCKET";
	struct buf sh = {0}, uri = {0};
	int r = -EIO;

	snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "", base);
	snprintf(desc, sizeof(desc), "%.120s converted by ferry convert pv2hvm", base);
	struct stat st;
	if (lstat(dir, &st) == 0) {
		ferr_set(err, "%s exists: the import's files go to a new folder", dir);
		free(oc);
		return -EEXIST;
	}
	snprintf(tmp, sizeof(tmp), "%s.part", dir);
	if (mkdir(tmp, 0755) < 0) {
		ferr_set(err, "cannot make %s: %s", tmp, strerror(errno));
		free(oc);
		return -errno;
	}
	json_t *bucket_obj = json_pack("{s:s, s:s}", "S3Bucket", b, "S3Key", key);
	json_t *one = json_pack("{s:s, s:s, s:O}", "Description", desc, "Format", format, "UserBucket", bucket_obj);
	json_t *containers = json_pack("[O]", one);
	char *cj = json_dumps(containers, JSON_INDENT(2)), *snj = json_dumps(one, JSON_INDENT(2));
	buf_printf(&uri, "s3://%s/%s", b, key);

	buf_printf(&sh, "#!/bin/sh\n# Amazon VM Import of %s, written by ferry convert pv2hvm --cloud aws\n"
		   "# (docs/cloud.md). Needs the AWS CLI, configured for the account and the Region,\n"
		   "# and the vmimport service role with read access to the bucket.\n#\n"
		   "# What ferry checked offline:\n", base);
	size_t i;
	json_t *c;
	json_array_foreach(checks, i, c) {
		/* Details quote the image (file names, os-release): on a comment
		 * line, nothing may end the line. */
		size_t from = sh.len;
		buf_printf(&sh, "#   %-8s %s: %s", str(c, "status"), str(c, "requirement"), str(c, "detail"));
		for (size_t j = from; j < sh.len; j++)
			if ((unsigned char)sh.data[j] < 0x20)
				sh.data[j] = '?';
		buf_printf(&sh, "\n");
	}
	buf_printf(&sh, "set -eu\ncd \"$(dirname \"$0\")\"\n");
	if (!bucket)
		buf_printf(&sh, "echo 'import.sh: the bucket is a placeholder: convert again with --s3 s3://BUCKET/PREFIX/' >&2\n"
			   "exit 1\n");
	buf_printf(&sh, "aws s3 cp ");
	sq(&sh, out);
	buf_printf(&sh, " ");
	sq(&sh, uri.data);
	buf_printf(&sh, "\ntask=$(aws ec2 import-image --description ");
	sq(&sh, desc);
	buf_printf(&sh, " --architecture x86_64 --platform Linux --boot-mode legacy-bios --license-type BYOL \\\n"
		   "\t--disk-containers file://containers.json --query ImportTaskId --output text)\n"
		   "echo \"import task: $task\"\n"
		   "while :; do\n"
		   "\tstate=$(aws ec2 describe-import-image-tasks --import-task-ids \"$task\" \\\n"
		   "\t\t--query 'ImportImageTasks[0].[Status,Progress,StatusMessage,ImageId]' --output text)\n"
		   "\techo \"$state\"\n"
		   "\tcase \"$state\" in completed*|deleted*) break ;; esac\n"
		   "\tsleep 30\n"
		   "done\n"
		   "# If import-image stops on the kernel (\"Unable to determine kernel version\"), the\n"
		   "# snapshot way does not look at it:\n"
		   "#   aws ec2 import-snapshot --description ");
	sq(&sh, desc);
	buf_printf(&sh, " --disk-container file://snapshot.json\n"
		   "#   aws ec2 describe-import-snapshot-tasks --import-task-ids TASK   (until completed: SnapshotId)\n"
		   "#   aws ec2 register-image --name ");
	sq(&sh, base);
	buf_printf(&sh, " --architecture x86_64 --virtualization-type hvm \\\n"
		   "#       --boot-mode legacy-bios --ena-support --root-device-name /dev/xvda \\\n"
		   "#       --block-device-mappings 'DeviceName=/dev/xvda,Ebs={SnapshotId=SNAPSHOT}'\n");
	char *cjn = NULL, *snjn = NULL;
	if (cj && snj && asprintf(&cjn, "%s\n", cj) > 0 && asprintf(&snjn, "%s\n", snj) > 0 &&
	    !write_text(tmp, "containers.json", cjn, 0644, err) && !write_text(tmp, "snapshot.json", snjn, 0644, err) &&
	    !write_text(tmp, "import.sh", sh.data, 0755, err)) {
		if (rename(tmp, dir) < 0)
			ferr_set(err, "cannot put %s in place: %s", dir, strerror(errno));
		else
			r = 0;
	}
	if (r < 0) {
		char *rm[] = { "rm", "-rf", "--", tmp, NULL };
		run_cmd(rm, true);
	}
	free(cjn);
	free(snjn);
	free(cj);
	free(snj);
	json_decref(containers);
	json_decref(one);
	json_decref(bucket_obj);
	buf_free(&sh);
	buf_free(&uri);
	free(oc);
	return r;
}

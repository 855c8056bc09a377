/* test_qemu.c: the QEMU command line ferryd builds, and accelerator choice. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferryd/agent.h"

static struct vm_config *cfg(const char *text)
{
	struct vm_config *c;
	struct ferr err = {0};

	if (vmcfg_parse(text, strlen(text), "t.cfg", "/g", &c, &err) < 0)
		fail_msg("%s", err.msg);
	return c;
}

/* The argument after opt whose text contains want (or the nth occurrence). */
static const char *arg_after(char **argv, const char *opt, const char *want)
{
	for (char **p = argv; *p && p[1]; p++)
		if (!strcmp(*p, opt) && (!want || strstr(p[1], want)))
			return p[1];
	return NULL;
}

static void test_argv(void **state)
{
	(void)state;
	struct vm_config *c = cfg("name = \"web1\"\nmemory = 300\nvcpus = 2\nkernel = \"vmlinuz\"\n"
				  "ramdisk = \"initrd\"\nextra = \"console=ttyS0 a=b\"\n"
				  "disk = [ \"d.img,raw,vda,w\", \"/iso,raw,hdc,r\" ]\n"
				  "vif = [ \"mac=52:54:00:77:00:02,bridge=br-vm\" ]\n");
	char **a = qemu_build_argv("qemu-system-x86_64", c, ACCEL_TCG, 307208, "/st/vms/web1", false);

	assert_string_equal(a[0], "qemu-system-x86_64");
	assert_string_equal(arg_after(a, "-accel", NULL), "tcg");
	assert_string_equal(arg_after(a, "-m", NULL), "307208k");
	assert_string_equal(arg_after(a, "-smp", NULL), "2");
	assert_string_equal(arg_after(a, "-kernel", NULL), "/g/vmlinuz");
	assert_string_equal(arg_after(a, "-initrd", NULL), "/g/initrd");
	assert_string_equal(arg_after(a, "-append", NULL), "console=ttyS0 a=b");
	assert_string_equal(arg_after(a, "-pidfile", NULL), "/st/vms/web1/qemu.pid");
	assert_non_null(arg_after(a, "-qmp", "unix:/st/vms/web1/qmp.sock,server=on,wait=off"));
	assert_non_null(arg_after(a, "-blockdev", "filename=/g/d.img"));
	assert_null(arg_after(a, "-blockdev", "cache.direct=on"));   /* not shared: host cache */
	assert_non_null(arg_after(a, "-blockdev", "read-only=on"));     /* the r disk */
	assert_non_null(arg_after(a, "-device", "virtio-blk-pci,drive=vda"));
	assert_non_null(arg_after(a, "-device", "ide-hd,drive=hdc"));
	assert_non_null(arg_after(a, "-netdev", "tap,id=net0,ifname=fy-web1.0,script=no"));
	assert_non_null(arg_after(a, "-device", "mac=52:54:00:77:00:02"));
	/* Paused at start (network wired first); sandboxed so that nothing can
	 * make it spawn a program, hence not -daemonize (a fork the sandbox
	 * forbids: vm.c's launcher waits for QMP instead). */
	bool S = false, daemonize = false;
	for (char **p = a; *p; p++) {
		S |= !strcmp(*p, "-S");
		daemonize |= !strcmp(*p, "-daemonize");
	}
	assert_true(S && !daemonize);
	assert_string_equal(arg_after(a, "-sandbox", NULL), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	qemu_argv_free(a);
	a = qemu_build_argv("/usr/bin/qemu", c, ACCEL_KVM, 307200, "/x", true);
	assert_string_equal(arg_after(a, "-accel", NULL), "kvm");
	qemu_argv_free(a);
	vmcfg_free(c);
}

/* QEMU < 9.0 under TCG gets RAM 8 KiB off a multiple of 64 pages (its
 * dirty-bitmap fast path loses writes); KVM and fixed QEMUs get the config's. */
static void test_ram_size(void **state)
{
	(void)state;
	struct vm_config *c = cfg("name = \"web1\"\nmemory = 256\nkernel = \"/k\"\n");

	assert_int_equal(qemu_parse_version("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\n"), 702);
	assert_int_equal(qemu_parse_version("QEMU emulator version 10.1.0\nCopyright"), 1001);
	assert_int_equal(qemu_parse_version("no version here"), 0);
	assert_int_equal(qemu_parse_version("version x.y"), 0);
	long tcg_old = qemu_ram_kb(c, ACCEL_TCG, 702);
	assert_int_equal(tcg_old, 256 * 1024 + 8);
	assert_true((tcg_old / 4) % 64 != 0);                    /* off the fast path */
	assert_int_equal(qemu_ram_kb(c, ACCEL_TCG, 0), 256 * 1024 + 8);   /* unknown: assume the bug */
	assert_int_equal(qemu_ram_kb(c, ACCEL_TCG, 900), 256 * 1024);
	assert_int_equal(qemu_ram_kb(c, ACCEL_KVM, 702), 256 * 1024);
	vmcfg_free(c);
}

/* Shared disks are opened with O_DIRECT: no host page cache that the other
 * host cannot see (libvirt's rule for live migration). */
static void test_shared_disk_direct(void **state)
{
	(void)state;
	struct vm_config *c = cfg("name = \"w\"\nkernel = \"/k\"\n"
				  "disk = [ \"target=/s.img,format=raw,vdev=vda,access=w,shared=yes\" ]\n");
	char **a = qemu_build_argv("q", c, ACCEL_TCG, 262152, "/x", false);
	assert_non_null(arg_after(a, "-blockdev", "filename=/s.img,node-name=vda-file,cache.direct=on"));
	qemu_argv_free(a);
	vmcfg_free(c);
}

/* An RBD volume: QEMU's rbd driver, with the pool's user and ceph.conf. */
static void test_rbd_disk(void **state)
{
	(void)state;
	struct vm_config *c = cfg("name = \"w\"\nkernel = \"/k\"\n"
				  "disk = [ \"target=/s.img,format=raw,vdev=vda,access=w,shared=yes\" ]\n");
	free(c->disks[0].target);
	c->disks[0].target = strdup("rbd://ff2ab311-08e5-4aa8-b4c4-944c134ece37/ferry/web1-data?user=ferry&conf=/etc/ceph/ceph.conf");
	char **a = qemu_build_argv("q", c, ACCEL_TCG, 262152, "/x", false);
	assert_non_null(arg_after(a, "-blockdev", "driver=rbd,pool=ferry,image=web1-data,user=ferry,conf=/etc/ceph/ceph.conf,"
					       "node-name=vda-file,cache.direct=on"));   /* shared: librbd's cache off */
	assert_non_null(arg_after(a, "-blockdev", "driver=raw,file=vda-file,node-name=vda"));
	qemu_argv_free(a);
	vmcfg_free(c);
}

/* Cache modes: what QEMU is told, and which ones shared storage refuses. */
static void test_cache_modes(void **state)
{
	static const struct {
		const char *mode, *shared, *file, *device; bool refused;
	} t[] = {
		{ "", "yes", "cache.direct=on", NULL, false },
		{ "", "no", NULL, NULL, false },
		{ ",cache=none", "no", "cache.direct=on", NULL, false },
		{ ",cache=directsync", "yes", "cache.direct=on", "write-cache=off", false },
		{ ",cache=writethrough", "no", NULL, "write-cache=off", false },
		{ ",cache=writeback", "no", NULL, NULL, false },
		{ ",cache=unsafe", "no", "cache.no-flush=on", NULL, false },
		{ ",cache=writeback", "yes", NULL, NULL, true },
		{ ",cache=writethrough", "yes", NULL, "write-cache=off", true },
		{ ",cache=unsafe", "yes", "cache.no-flush=on", NULL, true },
	};
	char text[300];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "name = \"w\"\nkernel = \"/k\"\n"
			 "disk = [ \"target=/s.img,format=raw,vdev=vda,shared=%s%s\" ]\n", t[i].shared, t[i].mode);
		struct vm_config *c = cfg(text);
		struct ferr err = {0};
		assert_int_equal(qemu_check_cache(c, &err) < 0, t[i].refused);
		if (t[i].refused) {
			assert_non_null(strstr(err.msg, "t.cfg:3: disk vda: cache="));
			assert_non_null(strstr(err.msg, "refused on shared storage"));
		}
		char **a = qemu_build_argv("q", c, ACCEL_TCG, 262152, "/x", false);
		const char *file = arg_after(a, "-blockdev", "driver=file"), *dev = arg_after(a, "-device", "virtio-blk");
		assert_non_null(file);
		assert_non_null(dev);
		if (t[i].file)
			assert_non_null(strstr(file, t[i].file));
		else
			assert_null(strstr(file, "cache."));
		if (t[i].device)
			assert_non_null(strstr(dev, t[i].device));
		else
			assert_null(strstr(dev, "write-cache"));
		qemu_argv_free(a);
		vmcfg_free(c);
	}
}

static void test_tap_names(void **state)
{
	(void)state;
	struct vm_config *a = cfg("name = \"a-very-long-vm-name\"\nkernel = \"/k\"\n");
	struct vm_config *b = cfg("name = \"a-very-long-vm-namf\"\nkernel = \"/k\"\n");
	char ta[16], tb[16];

	qemu_tap_name(a, 0, ta);
	qemu_tap_name(b, 0, tb);
	assert_true(strlen(ta) <= 15);
	assert_string_not_equal(ta, tb);
	qemu_tap_name(a, 1, tb);
	assert_string_not_equal(ta, tb);
	vmcfg_free(a);
	vmcfg_free(b);
}

static void test_accel(void **state)
{
	(void)state;
	enum vm_accel got = ACCEL_AUTO;
	struct ferr err = {0};

	assert_int_equal(qemu_choose_accel(ACCEL_TCG, &got, &err), 0);
	assert_int_equal(got, ACCEL_TCG);
	assert_int_equal(qemu_choose_accel(ACCEL_AUTO, &got, &err), 0);
	assert_true(got == ACCEL_KVM || got == ACCEL_TCG);
	enum vm_accel auto_pick = got;
	int r = qemu_choose_accel(ACCEL_KVM, &got, &err);
	/* Forcing KVM works exactly where auto picks it; else a clear sentence. */
	if (auto_pick == ACCEL_KVM) {
		assert_int_equal(r, 0);
	} else {
		assert_int_not_equal(r, 0);
		assert_non_null(strstr(err.msg, "KVM cannot run a guest on this host"));
	}
}

/* `-machine help` and `-cpu help` as QEMU 7.2 prints them (excerpts). */
static void test_lists(void **state)
{
	(void)state;
	struct buf m = {0}, c = {0};
	char pc[64];
	const char *mh = "Supported machines are:\nmicrovm              microvm (i386)\n"
			 "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
			 "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
			 "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n";
	const char *ch = "Available CPUs:\nx86 486                   (alias configured by machine type)\n"
			 "x86 Nehalem-v1            Intel Core i7 9xx (Nehalem Class Core i7)\n"
			 "x86 qemu64                QEMU Virtual CPU version 2.5+\n\nRecognized CPUID flags:\n"
			 "  3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes\n";
	qemu_parse_machines(mh, &m, pc, sizeof(pc));
	assert_string_equal(pc, "pc-i440fx-7.2");
	assert_true(qemu_list_has(m.data, "pc-i440fx-7.2"));
	assert_true(qemu_list_has(m.data, "q35"));
	assert_false(qemu_list_has(m.data, "pc-i440fx"));
	assert_false(qemu_list_has(m.data, "Supported"));
	qemu_parse_cpus(ch, &c);
	assert_true(qemu_list_has(c.data, "Nehalem-v1"));
	assert_true(qemu_list_has(c.data, "486"));
	assert_true(qemu_list_has(c.data, "qemu64"));
	assert_false(qemu_list_has(c.data, "3dnow"));
	assert_false(qemu_list_has(c.data, "Nehalem"));
	buf_free(&m);
	buf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_ram_size),
		cmocka_unit_test(test_shared_disk_direct),
		cmocka_unit_test(test_rbd_disk),
		cmocka_unit_test(test_cache_modes),
		cmocka_unit_test(test_tap_names),
		cmocka_unit_test(test_accel),
	};
	return cmocka_run_group_tests_name("ferryd-qemu", tests, NULL, NULL);
}

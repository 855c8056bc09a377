/* test_confine.c: which files a VM config may make QEMU open (confine.c):
 * inside vm_dirs after symlinks, regular files only, no qcow2 backing file;
 * errors say file:line, and say "outside" before "missing". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ferryd/agent.h"

static char dir[256];

static struct agent *agent_in(const char *d)
{
	char text[512];
	struct agent *ag = calloc(1, sizeof(*ag));
	struct ferr err = {0};

	snprintf(text, sizeof(text), "host = \"a\"\nlisten = [ \"unix:/s\" ]\nstate_dir = \"%s\"\n", d);
	assert_int_equal(agentcfg_parse(text, strlen(text), "a.conf", &ag->cfg, &err), 0);
	return ag;
}

static int confine(struct agent *ag, const char *cfgtext, struct ferr *err)
{
	struct vm_config *c;
	struct ferr perr = {0};

	assert_int_equal(vmcfg_parse(cfgtext, strlen(cfgtext), "t.cfg", dir, &c, &perr), 0);
	int r = vm_confine_paths(ag, c, err);
	vmcfg_free(c);
	return r;
}

static void expect(struct agent *ag, const char *cfgtext, int want_r, const char *want)
{
	struct ferr err = {0};
	int r = confine(ag, cfgtext, &err);

	if (r != want_r)
		fail_msg("got %d (%s), want %d", r, err.msg, want_r);
	if (want && !strstr(err.msg, want))
		fail_msg("'%s' does not say '%s'", err.msg, want);
}

static void touch(const char *name, const void *data, size_t n)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void test_confine(void **state)
{
	char p[600], q[600], text[1200];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-confine-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct agent *ag = agent_in(dir);
	touch("k", "kernel", 6);
	touch("d.img", "data", 4);
	unsigned char qcow[104] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };   /* a version 3 header */
	touch("plain.qcow2", qcow, sizeof(qcow));
	qcow[79] = 0x04;   /* incompatible_features: external data file */
	touch("datafile.qcow2", qcow, sizeof(qcow));
	qcow[79] = 0;
	qcow[15] = 0x48;   /* backing_file_offset = 0x48 */
	touch("backed.qcow2", qcow, sizeof(qcow));
	snprintf(p, sizeof(p), "%s/link-out", dir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	snprintf(p, sizeof(p), "%s/link-in", dir);
	snprintf(q, sizeof(q), "%s/d.img", dir);
	assert_int_equal(symlink(q, p), 0);

	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"d.img,raw,vda,w\" ]\n", 0, NULL);
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"plain.qcow2,qcow2,vda,w\" ]\n", 0, NULL);
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"link-in,raw,vda,w\" ]\n", 0, NULL);
	expect(ag, "name = \"x\"\nkernel = \"/etc/passwd\"\n", -EPERM, "t.cfg:2: kernel /etc/passwd is outside");
	expect(ag, "name = \"x\"\nkernel = \"k\"\n\nramdisk = \"/etc/shadow\"\n", -EPERM, "t.cfg:4: ramdisk /etc/shadow is outside");
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"/dev/sda,raw,vda,w\" ]\n", -EPERM, "t.cfg:3: disk vda /dev/sda is outside");
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"link-out,raw,vda,w\" ]\n", -EPERM, "-> /etc/passwd is outside");
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"backed.qcow2,qcow2,vda,w\" ]\n", -EPERM, "backing or external data file");
	expect(ag, "name = \"x\"\nkernel = \"k\"\ndisk = [ \"datafile.qcow2,qcow2,vda,w\" ]\n", -EPERM, "names another file");
	/* Outside and missing: "outside", never "no such file" (no probing). */
	expect(ag, "name = \"x\"\nkernel = \"/etc/no-such-file-here\"\n", -EPERM, "is outside");
	snprintf(text, sizeof(text), "name = \"x\"\nkernel = \"%s/../../etc/no-such\"\n", dir);
	expect(ag, text, -EPERM, "is outside");
	expect(ag, "name = \"x\"\nkernel = \"missing\"\n", -ENOENT, "t.cfg:2: kernel");
	/* A folder is not a file. */
	snprintf(text, sizeof(text), "name = \"x\"\nkernel = \"%s\"\n", dir);
	expect(ag, text, -EPERM, "");
	/* The paths are rewritten to the resolved ones (no symlink left to swap). */
	struct vm_config *c;
	struct ferr err = {0};
	const char *t = "name = \"x\"\nkernel = \"k\"\ndisk = [ \"link-in,raw,vda,w\" ]\n";
	assert_int_equal(vmcfg_parse(t, strlen(t), "t.cfg", dir, &c, &err), 0);
	assert_int_equal(vm_confine_paths(ag, c, &err), 0);
	assert_string_equal(c->disks[0].target, q);
	vmcfg_free(c);

	agentcfg_free(ag->cfg);
	free(ag);
	snprintf(text, sizeof(text), "rm -rf %s", dir);
	assert_int_equal(system(text), 0);
}

/* A new file (save's FILE, copy's target): its own path inside vm_dirs,
 * also directly in one of them; a plain name; never outside or relative. */
static void test_new_file(void **state)
{
	char text[800], out[600], want[600], sub[400];
	struct agent *ag = calloc(1, sizeof(*ag));
	struct ferr err = {0};

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-confine-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(text, sizeof(text), "host = \"a\"\nlisten = [ \"unix:/s\" ]\nstate_dir = \"%s/state\"\nvm_dirs = [ \"%s\" ]\n",
		 dir, dir);
	assert_int_equal(agentcfg_parse(text, strlen(text), "a.conf", &ag->cfg, &err), 0);
	snprintf(text, sizeof(text), "%s/web1.state", dir);   /* directly in a vm_dirs folder */
	assert_int_equal(vm_confine_new_file(ag, text, out, sizeof(out), &err), 0);
	assert_string_equal(out, text);
	snprintf(text, sizeof(text), "%s/sub/../sub/x.img", dir);
	snprintf(want, sizeof(want), "%s/sub/x.img", dir);
	assert_int_equal(vm_confine_new_file(ag, text, out, sizeof(out), &err), 0);
	assert_string_equal(out, want);
	assert_int_equal(vm_confine_new_file(ag, "/etc/x.state", out, sizeof(out), &err), -EPERM);
	assert_non_null(strstr(err.msg, "vm_dirs"));
	assert_int_equal(vm_confine_new_file(ag, "x.state", out, sizeof(out), &err), -EPERM);
	snprintf(text, sizeof(text), "%s/sub/..", dir);
	assert_int_equal(vm_confine_new_file(ag, text, out, sizeof(out), &err), -EPERM);
	snprintf(text, sizeof(text), "%s/a b", dir);
	assert_int_equal(vm_confine_new_file(ag, text, out, sizeof(out), &err), -EPERM);
	snprintf(text, sizeof(text), "%s", dir);   /* the folder itself is not a new file in it */
	assert_int_equal(vm_confine_new_file(ag, text, out, sizeof(out), &err), -EPERM);
	agentcfg_free(ag->cfg);
	free(ag);
	snprintf(text, sizeof(text), "rm -rf %s", dir);
	assert_int_equal(system(text), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confine),
		cmocka_unit_test(test_new_file),
	};
	return cmocka_run_group_tests_name("confine", tests, NULL, NULL);
}

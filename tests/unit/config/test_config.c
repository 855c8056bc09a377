/* test_config.c: the xl-style parser, VM config validation, agent config and
 * hosts file, including malformed and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "config/agentcfg.h"
#include "config/cfgfile.h"
#include "config/hosts.h"
#include "config/vmcfg.h"

static const char good[] =
	"# a comment\n"
	"name = \"web1\"\n"
	"memory = 512   # trailing comment\n"
	"vcpus = 2;\n"
	"kernel = 'k/vmlinuz'\n"
	"ramdisk = \"/boot/initrd\"\n"
	"extra = \"console=ttyS0 ferry.ip=10.77.0.2/24\"\n"
	"disk = [ \"data.img,raw,vda,w\",\n"
	"         'target=/srv/b.qcow2,format=qcow2,vdev=vdb,access=r,shared=yes', ]\n"
	"vif = [ \"mac=52:54:00:77:00:02,bridge=br-vm\" ]\n";

static struct vm_config *parse_ok(const char *text)
{
	struct vm_config *c = NULL;
	struct ferr err = {0};
	int r = vmcfg_parse(text, strlen(text), "t.cfg", "/base", &c, &err);

	if (r != 0)
		fail_msg("unexpected error: %s", err.msg);
	return c;
}

/* Expects a parse error whose message contains want (and "t.cfg:LINE:"). */
static void parse_bad(const char *text, int line, const char *want)
{
	struct vm_config *c = (struct vm_config *)0x1;
	struct ferr err = {0};
	char prefix[32];

	assert_int_not_equal(vmcfg_parse(text, strlen(text), "t.cfg", "/base", &c, &err), 0);
	assert_ptr_equal(c, (struct vm_config *)0x1);   /* out untouched on error */
	snprintf(prefix, sizeof(prefix), "t.cfg:%d:", line);
	if (!strstr(err.msg, prefix) || !strstr(err.msg, want))
		fail_msg("error '%s' lacks '%s' or '%s'", err.msg, prefix, want);
}

static void test_good_config(void **state)
{
	(void)state;
	struct vm_config *c = parse_ok(good);

	assert_string_equal(c->name, "web1");
	assert_int_equal(c->memory_mb, 512);
	assert_int_equal(c->vcpus, 2);
	assert_string_equal(c->kernel, "/base/k/vmlinuz");
	assert_string_equal(c->ramdisk, "/boot/initrd");
	assert_string_equal(c->extra, "console=ttyS0 ferry.ip=10.77.0.2/24");
	assert_int_equal(c->n_disks, 2);
	assert_string_equal(c->disks[0].target, "/base/data.img");
	assert_string_equal(c->disks[0].format, "raw");
	assert_string_equal(c->disks[0].vdev, "vda");
	assert_false(c->disks[0].readonly);
	assert_false(c->disks[0].shared);
	assert_string_equal(c->disks[1].target, "/srv/b.qcow2");
	assert_string_equal(c->disks[1].format, "qcow2");
	assert_true(c->disks[1].readonly);
	assert_true(c->disks[1].shared);
	assert_int_equal(c->n_vifs, 1);
	assert_memory_equal(c->vifs[0].mac, ((uint8_t[]){ 0x52, 0x54, 0, 0x77, 0, 2 }), 6);
	assert_string_equal(c->vifs[0].bridge, "br-vm");
	assert_string_equal(c->vifs[0].model, "virtio-net-pci");
	vmcfg_free(c);
}

static void test_format_roundtrip(void **state)
{
	(void)state;
	struct vm_config *a = parse_ok(good), *b;
	char *t1 = vmcfg_format(a), *t2;

	b = parse_ok(t1);
	t2 = vmcfg_format(b);
	assert_string_equal(t1, t2);
	assert_string_equal(b->disks[1].target, "/srv/b.qcow2");
	assert_true(b->disks[1].shared);
	free(t1);
	free(t2);
	vmcfg_free(a);
	vmcfg_free(b);
	/* A cache mode survives the round trip; none given stays none given. */
	a = parse_ok("name = \"x\"\nkernel = \"/k\"\ndisk = [ \"target=/d.img,cache=writeback\", \"/e.img,raw,vdb\" ]\n");
	t1 = vmcfg_format(a);
	b = parse_ok(t1);
	assert_string_equal(b->disks[0].cache, "writeback");
	assert_string_equal(b->disks[1].cache, "");
	t2 = vmcfg_format(b);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	vmcfg_free(a);
	vmcfg_free(b);
}

static void test_defaults(void **state)
{
	(void)state;
	struct vm_config *c = parse_ok("name = \"x\"\nkernel = \"/k\"\nvif = [ \"bridge=br0\" ]\ndisk = [ \"/d.img\" ]\n");

	assert_int_equal(c->memory_mb, 256);
	assert_int_equal(c->vcpus, 1);
	assert_int_equal(c->accel, ACCEL_AUTO);
	assert_string_equal(c->disks[0].vdev, "vda");
	/* A generated MAC: locally administered prefix, unicast, stable. */
	assert_int_equal(c->vifs[0].mac[0], 0x52);
	struct vm_config *d = parse_ok("name = \"x\"\nkernel = \"/k\"\nvif = [ \"bridge=br0\" ]\n");
	assert_memory_equal(c->vifs[0].mac, d->vifs[0].mac, 6);
	vmcfg_free(c);
	vmcfg_free(d);
}

static void test_bad_configs(void **state)
{
	(void)state;
	parse_bad("name = \"a\"\nkernel = \"/k\"\nmemroy = 5\n", 3, "unknown key 'memroy'");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nmemory = \"lots\"\n", 3, "must be a number");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nmemory = 8\n", 3, "out of range");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nmemory = 256M\n", 3, "plain integer");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvcpus = 0\n", 3, "out of range");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvif = [ \"mac=52:54:00:zz:00:01\" ]\n", 3, "not a MAC");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvif = [ \"mac=52:54:00:00:00\" ]\n", 3, "not a MAC");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvif = [ \"mac=01:54:00:00:00:01\" ]\n", 3, "multicast");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvif = [ \"bridge=a-very-long-bridge-name\" ]\n", 3, "bridge");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nvif = [ \"colour=red\" ]\n", 3, "unknown vif option");
	parse_bad("name = \"a\"\nkernel = \"/k\"\nname = \"b\"\n", 3, "set twice");
	parse_bad("name = \"1abc\"\nkernel = \"/k\"\n", 1, "plain identifier");
	parse_bad("name = \"web 1\"\nkernel = \"/k\"\n", 1, "plain identifier");
	parse_bad("name = \"../../etc\"\nkernel = \"/k\"\n", 1, "plain identifier");
	parse_bad("name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nkernel = \"/k\"\n", 1, "plain identifier");
	parse_bad("kernel = \"/k\"\n", 1, "'name' is required");
	parse_bad("name = \"a\"\n", 1, "nothing to boot");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = [ \"x.img,vmdk\" ]\n", 3, "format 'vmdk'");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = [ \"x.img,raw,floppy\" ]\n", 3, "vdev");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = [ \"x.img,raw,vda,rwx\" ]\n", 3, "access");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = [ \"a.img\", \"b.img,raw,vda\" ]\n", 3, "two disks");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = \"a.img\"\n", 3, "must be a list");
	parse_bad("name = \"a\"\nkernel = \"/k\"\naccel = \"xen\"\n", 3, "accel");
	parse_bad("name = \"a\"\nkernel = \"/k,x\"\n", 2, "','");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ndisk = [ \"target=x.img,cache=fast\" ]\n", 3, "disk cache='fast' must be");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ncpu = \"host,+vmx\"\n", 3, "'cpu' must be a CPU model");
	parse_bad("name = \"a\"\nkernel = \"/k\"\ncpu = \"-cpu\"\n", 3, "'cpu' must be a CPU model");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	parse_bad("name = \"a\n", 1, "unterminated string");
	parse_bad("name \"a\"\n", 1, "expected '='");
	parse_bad("name = a\n", 1, "expected a quoted string");
	parse_bad("name = \"a\" \"b\"\n", 1, "unexpected text");
	parse_bad("name = \"a\"\ndisk = [ \"x\"\n", 3, "unterminated list");
	parse_bad("name = \"a\"\ndisk = [ [ \"x\" ] ]\n", 2, "nested");
	parse_bad("name = \"a\"\ndisk = [ \"x\" \"y\" ]\n", 2, "expected ','");
	parse_bad("= 3\n", 1, "expected a key");
	parse_bad("name = \"a\\q\"\n", 1, "unknown escape");
	parse_bad("\n\nname = \"a\x01\"\n", 3, "control character");
	parse_bad("memory = 99999999999999999999999\n", 1, "too large");
}

static void test_hostile(void **state)
{
	(void)state;
	struct cfg_doc *d = (struct cfg_doc *)0x1;
	struct ferr err = {0};
	/* NUL byte inside the text */
	const char nul[] = "name = \"a\"\nx = \"b\0c\"\n";
	assert_int_not_equal(cfg_parse(nul, sizeof(nul) - 1, "t.cfg", &d, &err), 0);
	assert_non_null(strstr(err.msg, "NUL"));
	assert_non_null(strstr(err.msg, "t.cfg:2:"));
	/* Oversized file */
	size_t big = CFG_MAX_BYTES + 10;
	char *huge = malloc(big);
	memset(huge, '#', big);
	assert_int_not_equal(cfg_parse(huge, big, "t.cfg", &d, &err), 0);
	assert_non_null(strstr(err.msg, "larger"));
	/* A string longer than the limit */
	size_t n = CFG_MAX_STRING + 100;
	static char longs[CFG_MAX_STRING + 200];
	strcpy(longs, "x = \"");
	memset(longs + 5, 'a', n);
	strcpy(longs + 5 + n, "\"\n");
	assert_int_not_equal(cfg_parse(longs, strlen(longs), "t.cfg", &d, &err), 0);
	assert_non_null(strstr(err.msg, "longer"));
	/* A list with too many items */
	char list[4096] = "x = [";
	for (int i = 0; i < 70; i++)
		strcat(list, "1,");
	strcat(list, "]\n");
	assert_int_not_equal(cfg_parse(list, strlen(list), "t.cfg", &d, &err), 0);
	assert_non_null(strstr(err.msg, "64 items"));
	assert_ptr_equal(d, (struct cfg_doc *)0x1);
	/* Every prefix of a valid file either parses or fails cleanly. */
	for (size_t i = 0; i < sizeof(good) - 1; i++) {
		struct vm_config *c = NULL;
		if (vmcfg_parse(good, i, "t.cfg", "/b", &c, &err) == 0)
			vmcfg_free(c);
	}
	free(huge);
}

static void test_agentcfg(void **state)
{
	(void)state;
	struct agent_config *c = NULL;
	struct ferr err = {0};
	const char ok[] = "host = \"a\"\nlisten = [ \"unix:/run/f.sock\", \"tcp:10.78.0.1:7077\" ]\n"
			  "state_dir = \"/run/f\"\nkey_file = \"/etc/ferry/key\"\naccel = \"tcg\"\n";
	assert_int_equal(agentcfg_parse(ok, strlen(ok), "a.conf", &c, &err), 0);
	assert_string_equal(c->host, "a");
	assert_int_equal(c->n_listen, 2);
	assert_string_equal(c->listen[1], "tcp:10.78.0.1:7077");
	assert_int_equal(c->accel, ACCEL_TCG);
	assert_string_equal(c->qemu, "qemu-system-x86_64");
	agentcfg_free(c);
	/* A TCP listener without a key is refused: TCP is always TLS. */
	const char nokey[] = "host = \"a\"\nlisten = [ \"tcp:10.78.0.1:7077\" ]\nstate_dir = \"/run/f\"\n";
	assert_int_not_equal(agentcfg_parse(nokey, strlen(nokey), "a.conf", &c, &err), 0);
	assert_non_null(strstr(err.msg, "key_file"));
	const char badl[] = "host = \"a\"\nlisten = [ \"http://x\" ]\nstate_dir = \"/run/f\"\n";
	assert_int_not_equal(agentcfg_parse(badl, strlen(badl), "a.conf", &c, &err), 0);
	assert_non_null(strstr(err.msg, "a.conf:2:"));
	/* What the host lets its guests have: CPU models, RAM in all. */
	const char lim[] = "host = \"a\"\nlisten = [ \"unix:/run/f.sock\" ]\nstate_dir = \"/run/f\"\n"
			   "cpu_models = [ \"qemu64\", \"Nehalem-v1\" ]\nguest_memory_mb = 2048\n";
	assert_int_equal(agentcfg_parse(lim, strlen(lim), "a.conf", &c, &err), 0);
	assert_int_equal(c->n_cpu_models, 2);
	assert_string_equal(c->cpu_models[1], "Nehalem-v1");
	assert_int_equal(c->guest_memory_mb, 2048);
	agentcfg_free(c);
	assert_int_equal(agentcfg_parse(ok, strlen(ok), "a.conf", &c, &err), 0);
	assert_int_equal(c->guest_memory_mb, -1);   /* no limit but the host's */
	agentcfg_free(c);
	const char badm[] = "host = \"a\"\ncpu_models = [ \"qemu64,+vmx\" ]\n";
	assert_int_not_equal(agentcfg_parse(badm, strlen(badm), "a.conf", &c, &err), 0);
	assert_non_null(strstr(err.msg, "cpu_models"));
	const char unk[] = "host = \"a\"\nport = 5\n";
	assert_int_not_equal(agentcfg_parse(unk, strlen(unk), "a.conf", &c, &err), 0);
	assert_non_null(strstr(err.msg, "unknown key 'port'"));
}

static void test_hosts(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-hosts-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "# lab\n\na 10.78.0.1:7077 netns=ferry-client key=/k\n  b [fd00::2]:7078\n";
	struct host_entry h;
	struct ferr err = {0};

	assert_true(write(fd, text, strlen(text)) > 0);
	close(fd);
	assert_int_equal(hosts_lookup(path, "a", &h, &err), 0);
	assert_string_equal(h.addr, "10.78.0.1");
	assert_int_equal(h.port, 7077);
	assert_string_equal(h.netns, "ferry-client");
	assert_string_equal(h.key, "/k");
	assert_int_equal(hosts_lookup(path, "b", &h, &err), 0);
	assert_string_equal(h.addr, "fd00::2");
	assert_int_equal(h.port, 7078);
	assert_int_not_equal(hosts_lookup(path, "c", &h, &err), 0);
	assert_non_null(strstr(err.msg, "unknown host 'c'"));
	assert_non_null(strstr(err.msg, "a, b"));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(write(fd, "c nonsense\n", 11) > 0);
	close(fd);
	assert_int_not_equal(hosts_lookup(path, "c", &h, &err), 0);
	assert_non_null(strstr(err.msg, ":5:"));
	unlink(path);
	/* Never a host name, never a cut path: refused with the line. */
	static const char *bad[] = {
		"d evil.example:7077\n",
		"d 10.0.0.1:7077 key=/%0600d\n",
		"d 10.0.0.1:7077 netns=../x\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[1200];
		snprintf(line, sizeof(line), bad[i], 0);
		assert_int_equal(hosts_lookup_text(line, "h", "d", &h, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "h:1:"));
	}
}

/* The agent config's limits and the folders VM files may come from. */
static void test_agentcfg_hardening(void **state)
{
	struct agent_config *c;
	struct ferr err = {0};
	const char *base = "host = \"a\"\nlisten = [ \"unix:/s\" ]\nstate_dir = \"/var/lib/ferry/\"\n";
	char text[1024];

	(void)state;
	assert_int_equal(agentcfg_parse(base, strlen(base), "a.conf", &c, &err), 0);
	assert_false(c->allow_insecure);           /* secure by default */
	assert_int_equal(c->n_vm_dirs, 1);         /* state_dir, slashes trimmed */
	assert_string_equal(c->vm_dirs[0], "/var/lib/ferry");
	assert_true(agentcfg_path_allowed(c, "/var/lib/ferry/vms/x.img"));
	assert_false(agentcfg_path_allowed(c, "/var/lib/ferry"));
	assert_false(agentcfg_path_allowed(c, "/var/lib/ferryX/a.img"));
	assert_false(agentcfg_path_allowed(c, "/etc/shadow"));
	assert_int_equal(c->history_max_bytes, 8 << 20);
	assert_int_equal(c->unix_gid, -1);
	agentcfg_free(c);

	snprintf(text, sizeof(text), "%svm_dirs = [ \"/tmp\", \"/\" ]\nallow_insecure = 1\nlog_max_bytes = 65536\n", base);
	assert_int_equal(agentcfg_parse(text, strlen(text), "a.conf", &c, &err), 0);
	assert_true(c->allow_insecure);
	assert_int_equal(c->n_vm_dirs, 3);
	assert_true(agentcfg_path_allowed(c, "/etc/anything"));   /* "/" allows all: the admin's choice */
	assert_int_equal(c->log_max_bytes, 65536);
	/* ceph_dirs: default /etc/ceph only */
	assert_true(agentcfg_ceph_conf_allowed(c, "/etc/ceph/ceph.conf"));
	assert_false(agentcfg_ceph_conf_allowed(c, "/tmp/ceph.conf"));
	agentcfg_free(c);
	snprintf(text, sizeof(text), "%sceph_dirs = [ \"/tmp/\" ]\n", base);
	assert_int_equal(agentcfg_parse(text, strlen(text), "a.conf", &c, &err), 0);
	assert_true(agentcfg_ceph_conf_allowed(c, "/tmp/ceph.conf"));
	assert_false(agentcfg_ceph_conf_allowed(c, "/etc/ceph/ceph.conf"));   /* the list replaces the default */
	assert_false(agentcfg_path_allowed(c, "/tmp/x.img"));                 /* not a VM folder */
	agentcfg_free(c);

	static const struct { const char *line, *want; } bad[] = {
		{ "vm_dirs = [ \"relative\" ]\n", "a.conf:4: each of 'vm_dirs' must be an absolute path" },
		{ "vm_dirs = [ \"/no/such/dir\" ]\n", "a.conf:4: vm_dirs: /no/such/dir" },
		{ "allow_insecure = 2\n", "a.conf:4: 'allow_insecure' must be 0 or 1" },
		{ "ceph_dirs = [ \"etc\" ]\n", "a.conf:4: each of 'ceph_dirs' must be an absolute path" },
		{ "ceph_dirs = \"/etc/ceph\"\n", "'ceph_dirs' must be a list" },
		{ "allow_insecure = \"yes\"\n", "must be 0 or 1" },
		{ "history_max_bytes = 10\n", "'history_max_bytes' must be a number of bytes" },
		{ "unix_group = \"no-such-group-here\"\n", "no group named" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, bad[i].line);
		c = (struct agent_config *)0x1;
		assert_int_not_equal(agentcfg_parse(text, strlen(text), "a.conf", &c, &err), 0);
		assert_ptr_equal(c, (struct agent_config *)0x1);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].line, err.msg, bad[i].want);
	}
	/* A relative state_dir would make the allowed folder depend on the cwd. */
	const char *rel = "host = \"a\"\nlisten = [ \"unix:/s\" ]\nstate_dir = \"st\"\n";
	assert_int_not_equal(agentcfg_parse(rel, strlen(rel), "a.conf", &c, &err), 0);

	/* The duplicate-key check is bounded: 100,000 keys are refused at once. */
	struct buf b = {0};
	for (int i = 0; i < 100000; i++)
		buf_printf(&b, "k%d = 1\n", i);
	struct cfg_doc *d;
	int64_t t0 = time_mono_us();
	assert_int_not_equal(cfg_parse(b.data, b.len < CFG_MAX_BYTES ? b.len : CFG_MAX_BYTES, "big.cfg", &d, &err), 0);
	assert_non_null(strstr(err.msg, "more than 256 settings"));
	assert_true(time_mono_us() - t0 < 1000000);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_agentcfg),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_agentcfg_hardening),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

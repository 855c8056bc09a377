/* test_pool.c: pool definitions (pool.c): names, NFS locations, where a
 * volume is, local folders confined to vm_dirs, saved and loaded back, and
 * VM disks resolved (shared only where the source's pool is the same). */
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
#include <sys/stat.h>

#include "ferryd/agent.h"
#include "ferryd/pool.h"

static char dir[] = "/tmp/ferry-pool.XXXXXX";
static struct agent *ag;

static void test_names(void **state)
{
	(void)state;
	assert_true(pool_vol_name_ok("web1-data.qcow2"));
	assert_true(pool_vol_name_ok("a"));
	assert_false(pool_vol_name_ok(""));
	assert_false(pool_vol_name_ok("../x"));
	assert_false(pool_vol_name_ok("a/b"));
	assert_false(pool_vol_name_ok(".hidden"));
	assert_false(pool_vol_name_ok("a..b"));
	assert_false(pool_vol_name_ok("a b"));
	char big[80];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_false(pool_vol_name_ok(big));
}

static void test_nfs_location(void **state)
{
	char host[64], exp[256];
	struct ferr err = {0};

	(void)state;
	assert_int_equal(pool_nfs_split("nfs://10.78.0.3/export/", host, sizeof(host), exp, sizeof(exp), &err), 0);
	assert_string_equal(host, "10.78.0.3");
	assert_string_equal(exp, "/export");
	assert_int_equal(pool_nfs_split("nfs://[fd00::3]/x", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
	assert_int_equal(pool_nfs_split("nfs://fd00::3/x", host, sizeof(host), exp, sizeof(exp), &err), 0);
	assert_int_equal(pool_nfs_split("nfs://storage.example/x", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "IP address"));
	assert_int_equal(pool_nfs_split("nfs://10.0.0.1/a/../b", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
	assert_int_equal(pool_nfs_split("nfs://10.0.0.1/a?uid=0", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
	assert_int_equal(pool_nfs_split("smb://10.0.0.1/a", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
	assert_int_equal(pool_nfs_split("nfs://10.0.0.1", host, sizeof(host), exp, sizeof(exp), &err), -EINVAL);
}

static void test_targets(void **state)
{
	struct pool p = { .type = POOL_NFS, .uid = 7077, .gid = 7078 };
	char t[512];

	(void)state;
	snprintf(p.location, sizeof(p.location), "nfs://10.78.0.3/export");
	pool_vol_target(&p, "v.qcow2", t, sizeof(t));
	assert_string_equal(t, "nfs://10.78.0.3/export/v.qcow2?uid=7077&gid=7078");
	p.uid = p.gid = -1;
	pool_vol_target(&p, "v.qcow2", t, sizeof(t));
	assert_string_equal(t, "nfs://10.78.0.3/export/v.qcow2");
	p.type = POOL_DIR;
	snprintf(p.location, sizeof(p.location), "/srv/pool");
	pool_vol_target(&p, "v.raw", t, sizeof(t));
	assert_string_equal(t, "/srv/pool/v.raw");
}

static void test_define_save_load(void **state)
{
	struct pool p = { .type = POOL_DIR, .uid = -1, .gid = -1 };
	struct ferr err = {0};

	(void)state;
	snprintf(p.name, sizeof(p.name), "local");
	snprintf(p.location, sizeof(p.location), "%s/state/vols", dir);
	assert_int_equal(pool_check(ag, &p, &err), 0);
	assert_int_equal(access(p.location, F_OK), 0);   /* created */
	assert_int_equal(pool_save(ag, &p, &err), 0);
	struct pool n = { .type = POOL_NFS, .uid = 7077, .gid = 7077 };
	snprintf(n.name, sizeof(n.name), "net");
	snprintf(n.location, sizeof(n.location), "nfs://10.78.0.3/export//");
	assert_int_equal(pool_check(ag, &n, &err), 0);
	assert_string_equal(n.location, "nfs://10.78.0.3/export");
	assert_int_equal(pool_save(ag, &n, &err), 0);
	/* Outside vm_dirs, uid on a folder, a bad name: refused. */
	struct pool bad = { .type = POOL_PATH, .uid = -1, .gid = -1 };
	snprintf(bad.name, sizeof(bad.name), "etc");
	snprintf(bad.location, sizeof(bad.location), "/etc");
	assert_int_equal(pool_check(ag, &bad, &err), -EPERM);
	bad.uid = 5;
	snprintf(bad.location, sizeof(bad.location), "%s/state", dir);
	assert_int_equal(pool_check(ag, &bad, &err), -EINVAL);
	snprintf(bad.name, sizeof(bad.name), "a b");
	assert_int_equal(pool_check(ag, &bad, &err), -EINVAL);

	pool_load_all(ag);
	struct pool *l = pool_find(ag, "local"), *m = pool_find(ag, "net");
	assert_non_null(l);
	assert_non_null(m);
	assert_int_equal(l->type, POOL_DIR);
	assert_string_equal(m->location, "nfs://10.78.0.3/export");
	assert_int_equal(m->uid, 7077);
	assert_null(pool_find(ag, "etc"));
}

static void test_resolve(void **state)
{
	const char *text = "name = \"v\"\nmemory = 64\nkernel = \"/k\"\n"
			   "disk = [ \"pool=net,vol=a.qcow2,format=qcow2,vdev=vda\", \"pool=local,vol=b.raw,vdev=vdb\" ]\n";
	struct vm_config *c;
	struct ferr err = {0};

	(void)state;
	assert_int_equal(vmcfg_parse(text, strlen(text), "v.cfg", NULL, &c, &err), 0);
	assert_null(c->disks[0].target);
	assert_int_equal(pool_resolve_disks(ag, c, NULL, &err), 0);
	assert_string_equal(c->disks[0].target, "nfs://10.78.0.3/export/a.qcow2?uid=7077&gid=7077");
	assert_true(c->disks[0].shared);
	assert_false(c->disks[1].shared);   /* a dir pool is this host's own */
	/* The format keeps the pool, not the place: the destination resolves. */
	char *fmt = vmcfg_format(c);
	assert_non_null(strstr(fmt, "pool=net,vol=a.qcow2"));
	assert_null(strstr(fmt, "nfs://"));
	vmcfg_free(c);
	/* With the source's pools: shared only at the same place. */
	json_t *same = json_pack("{s:s}", "net", "nfs://10.78.0.3/export");
	json_t *other = json_pack("{s:s}", "net", "nfs://10.78.0.9/export");
	struct vm_config *c1, *c2;
	vmcfg_parse(fmt, strlen(fmt), "x", NULL, &c1, &err);
	vmcfg_parse(fmt, strlen(fmt), "x", NULL, &c2, &err);
	assert_int_equal(pool_resolve_disks(ag, c1, same, &err), 0);
	assert_int_equal(pool_resolve_disks(ag, c2, other, &err), 0);
	assert_true(c1->disks[0].shared);
	assert_false(c2->disks[0].shared);
	free(fmt);
	vmcfg_free(c1);
	vmcfg_free(c2);
	json_decref(same);
	json_decref(other);
	/* An unknown pool: file:line. */
	const char *bad = "name = \"v\"\nmemory = 64\nkernel = \"/k\"\n\ndisk = [ \"pool=nope,vol=a\" ]\n";
	assert_int_equal(vmcfg_parse(bad, strlen(bad), "v.cfg", NULL, &c, &err), 0);
	assert_int_equal(pool_resolve_disks(ag, c, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "v.cfg:5: no pool named nope on host a"));
	vmcfg_free(c);
	/* A disk is a pool volume or a path, not both. */
	const char *both = "name = \"v\"\nmemory = 64\ndisk = [ \"target=/x,pool=net,vol=a\" ]\n";
	assert_int_equal(vmcfg_parse(both, strlen(both), "v.cfg", NULL, &c, &err), -EINVAL);
}

/* RBD: locations, the volume's target, the ceph.conf's checks (in
 * ceph_dirs, root's, not writable by others), saved and loaded back. */
static void test_rbd(void **state)
{
	char fsid[40], name[64], t[600], conf[240], cdir[200];
	struct ferr err = {0};
	const char *id = "ff2ab311-08e5-4aa8-b4c4-944c134ece37";

	(void)state;
	assert_int_equal(pool_rbd_split("rbd://ferry", fsid, sizeof(fsid), name, sizeof(name), &err), 0);
	assert_string_equal(fsid, "");
	assert_string_equal(name, "ferry");
	snprintf(t, sizeof(t), "rbd://%s/vms", id);
	assert_int_equal(pool_rbd_split(t, fsid, sizeof(fsid), name, sizeof(name), &err), 0);
	assert_string_equal(fsid, id);
	assert_string_equal(name, "vms");
	const char *bad[] = { "rbd://", "rbd://a/b/c", "rbd://x y", "rbd://.hidden", "rbd://p?conf=/etc/shadow",
			      "rbd://p,conf=/x", "nfs://10.0.0.1/x", "rbd://not-a-uuid/p", "rbd://p:id=admin", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(pool_rbd_split(bad[i], fsid, sizeof(fsid), name, sizeof(name), &err), -EINVAL);

	snprintf(cdir, sizeof(cdir), "%s/ceph", dir);
	assert_int_equal(mkdir(cdir, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/ceph.conf", cdir);
	FILE *f = fopen(conf, "w");
	fputs("[global]\nmon host = 10.78.0.11\n", f);
	fclose(f);
	chmod(conf, 0644);
	struct pool p = { .type = POOL_RBD, .uid = -1, .gid = -1 };
	snprintf(p.name, sizeof(p.name), "ceph");
	snprintf(p.location, sizeof(p.location), "rbd://ferry");
	snprintf(p.ceph_conf, sizeof(p.ceph_conf), "%s", conf);
	snprintf(p.ceph_user, sizeof(p.ceph_user), "ferry");
	/* Not in ceph_dirs (default /etc/ceph): refused. */
	assert_int_equal(pool_check(ag, &p, &err), -EPERM);
	assert_non_null(strstr(err.msg, "ceph_dirs"));
	ag->cfg->ceph_dirs[ag->cfg->n_ceph_dirs++] = strdup(cdir);
	assert_int_equal(pool_check(ag, &p, &err), 0);
	chmod(conf, 0664);
	assert_int_equal(pool_check(ag, &p, &err), -EPERM);   /* others could rewrite it */
	chmod(conf, 0644);
	snprintf(p.ceph_user, sizeof(p.ceph_user), "admin,x");
	assert_int_equal(pool_check(ag, &p, &err), -EINVAL);
	snprintf(p.ceph_user, sizeof(p.ceph_user), "ferry");
	struct pool q = p;
	q.ceph_conf[0] = 0;
	assert_int_equal(pool_check(ag, &q, &err), -EINVAL);   /* no conf */
	q = p;
	q.type = POOL_NFS;
	snprintf(q.location, sizeof(q.location), "nfs://10.78.0.3/export");
	assert_int_equal(pool_check(ag, &q, &err), -EINVAL);   /* ceph options on another type */
	/* The target QEMU gets, and the definition saved and loaded back. */
	snprintf(p.location, sizeof(p.location), "rbd://%s/ferry", id);
	pool_vol_target(&p, "web1-data", t, sizeof(t));
	char want[600];
	snprintf(want, sizeof(want), "rbd://%s/ferry/web1-data?user=ferry&conf=%s", id, conf);
	assert_string_equal(t, want);
	assert_int_equal(pool_save(ag, &p, &err), 0);
	pool_free_all(ag);
	pool_load_all(ag);
	struct pool *l = pool_find(ag, "ceph");
	assert_non_null(l);
	assert_int_equal(l->type, POOL_RBD);
	assert_string_equal(l->ceph_conf, conf);
	assert_string_equal(l->ceph_user, "ferry");
	assert_true(pool_type_shareable(POOL_RBD));
}

int main(void)
{
	char text[512];
	struct ferr err = {0};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_nfs_location),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_define_save_load),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_rbd),
	};

	if (!mkdtemp(dir))
		return 1;
	snprintf(text, sizeof(text), "host = \"a\"\nlisten = [ \"unix:%s/a.sock\" ]\nstate_dir = \"%s/state\"\n", dir, dir);
	ag = calloc(1, sizeof(*ag));
	if (agentcfg_parse(text, strlen(text), "a.conf", &ag->cfg, &err) < 0)
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	pool_free_all(ag);
	agentcfg_free(ag->cfg);
	free(ag);
	rm_rf(dir);
	return r;
}

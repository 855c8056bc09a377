/* test_aws.c: VM Import's requirements judged from a conversion's report
 * (each turns to a warning or a block when its fact does), S3 addresses
 * checked, and the import's files: containers.json as the CLI reads it,
 * import.sh a valid shell script whose words stay words whatever the file
 * names hold, nothing written when the folder exists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "convert/aws.h"

static json_t *report(void)
{
	return json_pack("{s:s, s:I, s:s, s:{s:b, s:b, s:b, s:b, s:b},"
			 " s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:I, s:s}, s:b, s:b, s:s, s:s, s:[]}}",
			 "format", "vmdk", "size", (json_int_t)7000 << 20, "uuid", "e5156d79-fdab-4b90-8717-965502cc9763",
			 "drivers", "virtio_blk", 1, "ahci", 1, "nvme", 1, "xen-blkfront", 1, "ena", 1,
			 "guest", "os", "ID", "debian", "VERSION_ID", "11", "PRETTY_NAME", "Debian GNU/Linux 11",
			 "network", "method", "static", "address", "10.77.0.5", "prefix", (json_int_t)24, "file",
			 "/etc/systemd/network/10-lab.network", "ssh_server", 1, "ena_module", 1, "kernel_version",
			 "5.10.0-30-amd64", "file_system", "ext4", "other_disks");
}

/* The status of one requirement. */
static const char *status(json_t *checks, const char *req)
{
	size_t i;
	json_t *c;
	json_array_foreach(checks, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "requirement")), req))
			return json_string_value(json_object_get(c, "status"));
	return "absent";
}

static void test_checks_follow_the_facts(void **state)
{
	json_t *r = report(), *g = json_object_get(r, "guest"), *c;
	(void)state;

	c = aws_checks(r);
	assert_string_equal(status(c, "image format"), "ok");
	assert_string_equal(status(c, "kernel"), "ok");   /* Debian 11, 5.10: on Amazon's list */
	assert_string_equal(status(c, "network"), "warning");   /* static */
	assert_string_equal(status(c, "a way in"), "ok");
	assert_string_equal(status(c, "root on the boot disk, one disk"), "ok");
	assert_string_equal(status(c, "service role and bucket"), "cloud");
	json_decref(c);

	json_object_set_new(json_object_get(g, "network"), "method", json_string("dhcp"));
	json_object_set_new(json_object_get(g, "os"), "VERSION_ID", json_string("12"));
	json_object_set_new(g, "kernel_version", json_string("6.1.0-50-amd64"));
	json_object_set_new(g, "ssh_server", json_false());
	json_object_set_new(g, "ena_module", json_false());
	json_object_set_new(json_object_get(r, "drivers"), "nvme", json_false());
	json_array_append_new(json_object_get(g, "other_disks"), json_string("/dev/xvdb"));
	json_object_set_new(r, "format", json_string("qcow2"));
	json_object_set_new(r, "size", json_integer((json_int_t)3 << 40));
	c = aws_checks(r);
	assert_string_equal(status(c, "network"), "ok");
	assert_string_equal(status(c, "kernel"), "warning");   /* Debian 12 is not on the list */
	assert_string_equal(status(c, "a way in"), "warning");
	assert_string_equal(status(c, "ENA network driver"), "warning");
	assert_string_equal(status(c, "NVMe driver"), "warning");
	assert_string_equal(status(c, "root on the boot disk, one disk"), "warning");
	assert_string_equal(status(c, "image format"), "blocking");
	assert_string_equal(status(c, "size"), "blocking");
	json_decref(c);

	/* Debian 11 with another kernel than the listed one */
	json_object_set_new(json_object_get(g, "os"), "VERSION_ID", json_string("11"));
	json_object_set_new(g, "kernel_version", json_string("5.100.1-amd64"));
	c = aws_checks(r);
	assert_string_equal(status(c, "kernel"), "warning");
	json_decref(c);
	/* not Debian: the import judges */
	json_object_set_new(json_object_get(g, "os"), "ID", json_string("ubuntu"));
	c = aws_checks(r);
	assert_string_equal(status(c, "kernel"), "cloud");
	json_decref(c);
	json_decref(r);
}

static void test_s3(void **state)
{
	char b[64], p[256];
	struct ferr err = {0};
	(void)state;

	assert_int_equal(aws_parse_s3("s3://my-bucket.x/imports/2026", b, p, &err), 0);
	assert_string_equal(b, "my-bucket.x");
	assert_string_equal(p, "imports/2026/");
	assert_int_equal(aws_parse_s3("s3://abc", b, p, &err), 0);
	assert_string_equal(p, "");
	assert_int_equal(aws_parse_s3("s3://abc/", b, p, &err), 0);
	assert_string_equal(p, "");
	const char *bad[] = { "http://abc/", "s3://ab/", "s3://Upper/", "s3://-abc/", "s3://abc./", "s3://a_b/",
			      "s3://abc/x'y", "s3://abc/$(id)", "s3://abc//x", "s3://abc/x y", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(aws_parse_s3(bad[i], b, p, &err), -EINVAL);
}

static void test_write(void **state)
{
	char dir[] = "/tmp/ferry-test-aws-XXXXXX", out[300], adir[320], path[400], cmd[600];
	struct ferr err = {0};
	json_t *r = report(), *c;
	(void)state;

	assert_non_null(mkdtemp(dir));
	/* a file name with a quote, a space and a $: one word in the script */
	snprintf(out, sizeof(out), "%s/it's a $(disk).vmdk", dir);
	snprintf(adir, sizeof(adir), "%s/q.aws", dir);   /* the script finds its files by its own path */
	json_object_set_new(json_object_get(json_object_get(r, "guest"), "network"), "file",
			    json_string("/etc/systemd/network/x\nrm -rf /tmp/nothing"));
	c = aws_checks(r);
	assert_int_equal(aws_write(adir, out, r, c, "bkt-1", "in/", &err), 0);
	snprintf(path, sizeof(path), "%s/containers.json", adir);
	json_t *cj = json_load_file(path, 0, NULL);
	assert_true(json_is_array(cj) && json_array_size(cj) == 1);
	json_t *u = json_object_get(json_array_get(cj, 0), "UserBucket");
	assert_string_equal(json_string_value(json_object_get(u, "S3Bucket")), "bkt-1");
	assert_string_equal(json_string_value(json_object_get(u, "S3Key")), "in/it's a $(disk).vmdk");
	assert_string_equal(json_string_value(json_object_get(json_array_get(cj, 0), "Format")), "vmdk");
	json_decref(cj);
	/* the script parses, and the aws s3 cp line gets the path as one word:
	 * run it with a fake aws that prints its arguments, one a line */
	snprintf(cmd, sizeof(cmd), "sh -n '%s/import.sh'", adir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/aws", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done >> '%s/args'\n[ \"$2\" = import-image ] && echo "
		   "import-ami-1\n[ \"$2\" = describe-import-image-tasks ] && echo completed\nexit 0\n", dir);
	fclose(f);
	chmod(path, 0755);
	snprintf(cmd, sizeof(cmd), "PATH='%s':/usr/bin:/bin sh '%s/import.sh' >/dev/null", dir, adir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/args", dir);
	char *args = NULL;
	assert_int_equal(file_read_all(path, 1 << 16, &args, NULL), 0);
	char want[400];
	snprintf(want, sizeof(want), "[s3]\n[cp]\n[%s]\n[s3://bkt-1/in/it's a $(disk).vmdk]\n", out);
	assert_non_null(strstr(args, want));
	assert_non_null(strstr(args, "[--import-task-ids]\n[import-ami-1]\n"));
	free(args);
	/* no line of the comment header was broken by the image's text */
	snprintf(path, sizeof(path), "%s/import.sh", adir);
	char *sh = NULL;
	assert_int_equal(file_read_all(path, 1 << 20, &sh, NULL), 0);
	assert_null(strstr(sh, "\nrm -rf"));
	free(sh);
	/* an existing folder: refused, nothing changed */
	assert_int_equal(aws_write(adir, out, r, c, "bkt-1", "in/", &err), -EEXIST);
	json_decref(c);
	/* no bucket: a script that refuses to run */
	snprintf(adir, sizeof(adir), "%s/p.aws", dir);
	c = aws_checks(r);
	assert_int_equal(aws_write(adir, out, r, c, NULL, NULL, &err), 0);
	snprintf(cmd, sizeof(cmd), "sh '%s/import.sh' 2>/dev/null", adir);
	assert_int_not_equal(system(cmd), 0);
	json_decref(c);
	json_decref(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks_follow_the_facts),
		cmocka_unit_test(test_s3),
		cmocka_unit_test(test_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

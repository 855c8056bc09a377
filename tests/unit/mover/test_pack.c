/* test_pack.c: a disk image packed in the mover's format (ferry save
 * --with-disks) unpacks identical and sparse; a byte flipped in the pack, or
 * a pack cut short, is refused and leaves nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "mover/frame.h"
#include "mover/pack.h"

#define SIZE (16ULL << 20)

static char dir[64], img[128], pack[128], out[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-pack-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(pack, sizeof(pack), "%s/disk.pack", dir);
	snprintf(out, sizeof(out), "%s/out.img", dir);
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *b = malloc(MOVER_BLOCK);
	uint32_t x = 5;
	assert_int_equal(ftruncate(fd, SIZE + 1234), 0);
	for (int k = 0; k < 4; k++) {
		for (size_t i = 0; i < MOVER_BLOCK; i++) {
			x = x * 1103515245 + 12345;
			b[i] = k % 2 ? (uint8_t)(x >> 16) : (uint8_t)"packed "[i % 7];
		}
		assert_int_equal(pwrite(fd, b, MOVER_BLOCK, (off_t)(k * 3) * MOVER_BLOCK), MOVER_BLOCK);
	}
	assert_int_equal(pwrite(fd, "tail", 4, SIZE + 1000), 4);   /* the short last block */
	free(b);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[100];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static int do_pack(void)
{
	struct mover_stats st;
	struct ferr err = {0};
	int in = open(img, O_RDONLY), o = open(pack, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int r = mover_pack(in, SIZE + 1234, o, &st, &err);
	close(in);
	close(o);
	assert_int_equal(st.frames, 5);
	return r;
}

static int do_unpack(struct ferr *err)
{
	struct mover_stats st;
	int in = open(pack, O_RDONLY);
	unlink(out);
	int r = mover_unpack(in, out, &st, err);
	close(in);
	return r;
}

static void round_trip(void **state)
{
	struct ferr err = {0};
	struct stat a, b;

	(void)state;
	assert_int_equal(do_pack(), 0);
	assert_int_equal(do_unpack(&err), 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", img, out);
	assert_int_equal(system(cmd), 0);
	stat(pack, &a);
	stat(out, &b);
	assert_true(a.st_size < 4 * MOVER_BLOCK);            /* the text compressed */
	assert_true((uint64_t)b.st_blocks * 512 <= 6 * MOVER_BLOCK);   /* sparse */
}

static void damage_refused(void **state)
{
	struct ferr err = {0};
	struct stat st;
	char part[140];

	(void)state;
	assert_int_equal(do_pack(), 0);
	stat(pack, &st);
	int fd = open(pack, O_RDWR);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	close(fd);
	assert_int_not_equal(do_unpack(&err), 0);
	assert_non_null(strstr(err.msg, "damaged"));
	snprintf(part, sizeof(part), "%s.part", out);
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_not_equal(access(part, F_OK), 0);
	/* Cut short. */
	assert_int_equal(do_pack(), 0);
	assert_int_equal(truncate(pack, st.st_size - 30), 0);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(do_unpack(&err), 0);
	assert_non_null(strstr(err.msg, "cut short"));
	assert_int_not_equal(access(out, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(damage_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

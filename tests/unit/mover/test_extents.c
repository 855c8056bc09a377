/* test_extents.c: the sender's map of a sparse file: the data blocks are
 * found and the holes skipped; reading ahead brings the data into the page
 * cache and never the holes (asking the kernel to read a hole ahead fills
 * the cache with zeroed pages: it cost the mover a third of its CPU). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "mover/extents.h"
#include "mover/frame.h"

#define SIZE (16ULL << 20)

static char dir[64], path[128];

/* Data at MiB 1 and MiB 9..10, the rest holes; nothing of it cached. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/var/tmp/ferry-extents-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/img", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *b = malloc(MOVER_BLOCK);
	if (fd < 0 || !b || ftruncate(fd, SIZE) < 0)
		return -1;
	memset(b, 'x', MOVER_BLOCK);
	if (pwrite(fd, b, MOVER_BLOCK, 1 << 20) != MOVER_BLOCK || pwrite(fd, b, MOVER_BLOCK, 9 << 20) != MOVER_BLOCK ||
	    pwrite(fd, b, MOVER_BLOCK, 10 << 20) != MOVER_BLOCK || fsync(fd) < 0)
		return -1;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	free(b);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void finds_data_blocks(void **state)
{
	(void)state;
	int fd = open(path, O_RDONLY);
	uint64_t next = 0, block, got[8];
	int n = 0;

	assert_true(fd >= 0);
	while (n < 8 && extents_next_block(fd, SIZE, &next, &block) == 0)
		got[n++] = block;
	assert_int_equal(n, 3);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 9);
	assert_int_equal(got[2], 10);
	close(fd);
}

/* Pages of [from, from + len) in the page cache. */
static size_t cached_pages(int fd, uint64_t from, uint64_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *v = malloc(len / (uint64_t)pg + 1);
	size_t n = 0;

	assert_true(m != MAP_FAILED && v);
	assert_int_equal(mincore((char *)m + from, len, v), 0);
	for (uint64_t i = 0; i < len / (uint64_t)pg; i++)
		n += v[i] & 1;
	munmap(m, SIZE);
	free(v);
	return n;
}

static void readahead_skips_holes(void **state)
{
	(void)state;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	extents_readahead(fd, 0, SIZE, SIZE);
	/* The holes: MiB 0, 2..8, 11..15; none of their pages cached. */
	assert_int_equal(cached_pages(fd, 0, 1 << 20), 0);
	assert_int_equal(cached_pages(fd, 2 << 20, 7 << 20), 0);
	assert_int_equal(cached_pages(fd, 11 << 20, 5 << 20), 0);
	/* The data comes (asynchronously: give it a moment). */
	size_t data = 0;
	for (int i = 0; i < 200 && data < 3 * (MOVER_BLOCK / 4096); i++) {
		data = cached_pages(fd, 1 << 20, 1 << 20) + cached_pages(fd, 9 << 20, 2 << 20);
		usleep(10000);
	}
	assert_true(data > 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_data_blocks),
		cmocka_unit_test(readahead_skips_holes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

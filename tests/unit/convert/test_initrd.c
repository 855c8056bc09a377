/* test_initrd.c: the file names in an initramfs as Debian makes them: an
 * uncompressed early cpio then the main one, plain, gzip or zstd; a damaged
 * archive is refused, an xz one is said unread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "convert/initrd.h"
#include "util/util.h"

/* A newc member: header, name (NUL, padded to 4), data (padded). */
static void member(struct buf *b, const char *name, const char *data)
{
	size_t nl = strlen(name) + 1, dl = strlen(data);

	buf_printf(b, "070701%08x%08x%08x%08x%08x%08x%08zx%08x%08x%08x%08x%08zx%08x", 1, 0100644, 0, 0, 1, 0, dl, 0, 0,
		   0, 0, nl, 0);
	buf_append(b, name, nl);
	while (b->len % 4)
		buf_append(b, "", 1);
	buf_append(b, data, dl);
	while (b->len % 4)
		buf_append(b, "", 1);
}

static void archive(struct buf *b, const char *const *names)
{
	for (; *names; names++)
		member(b, *names, "x");
	member(b, "TRAILER!!!", "");
	while (b->len % 512)
		buf_append(b, "", 1);
}

static char seen[2048];
static void collect(const char *name, size_t len, void *opaque)
{
	(void)opaque;
	snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%.*s;", (int)len, name);
}

static const char *const early[] = { "kernel/x86/microcode/GenuineIntel.bin", NULL };
static const char *const main_names[] = { "usr/lib/modules/6.1.0-50-amd64/kernel/drivers/block/virtio_blk.ko",
					  "usr/lib/modules/6.1.0-50-amd64/kernel/drivers/ata/ahci.ko", "init", NULL };

static void check_names(const uint8_t *p, size_t n)
{
	bool unread = true;

	seen[0] = 0;
	assert_int_equal(initrd_names(p, n, collect, NULL, &unread), 0);
	assert_false(unread);
	assert_non_null(strstr(seen, "GenuineIntel.bin;"));
	assert_non_null(strstr(seen, "/virtio_blk.ko;"));
	assert_non_null(strstr(seen, "/ahci.ko;"));
	assert_non_null(strstr(seen, "init;"));
}

static void plain_and_compressed(void **state)
{
	(void)state;
	struct buf e = {0}, m = {0}, all = {0};
	archive(&e, early);
	archive(&m, main_names);
	/* plain */
	buf_append(&all, e.data, e.len);
	buf_append(&all, m.data, m.len);
	check_names((uint8_t *)all.data, all.len);
	/* zstd */
	size_t cap = ZSTD_compressBound(m.len);
	uint8_t *z = malloc(e.len + cap);
	memcpy(z, e.data, e.len);
	size_t zn = ZSTD_compress(z + e.len, cap, m.data, m.len, 3);
	assert_false(ZSTD_isError(zn));
	check_names(z, e.len + zn);
	/* gzip */
	uLongf gcap = compressBound(m.len) + 64;
	uint8_t *g = malloc(e.len + gcap);
	memcpy(g, e.data, e.len);
	z_stream s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	s.next_in = (Bytef *)m.data;
	s.avail_in = (uInt)m.len;
	s.next_out = g + e.len;
	s.avail_out = (uInt)gcap;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	check_names(g, e.len + s.total_out);
	deflateEnd(&s);
	/* damaged: a header cut short */
	bool unread;
	assert_int_equal(initrd_names((uint8_t *)all.data, e.len + 60, collect, NULL, &unread), -1);
	/* xz: not read, said so */
	uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0, 0, 0 };
	assert_int_equal(initrd_names(xz, sizeof(xz), collect, NULL, &unread), 0);
	assert_true(unread);
	free(z);
	free(g);
	buf_free(&e);
	buf_free(&m);
	buf_free(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(plain_and_compressed) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}

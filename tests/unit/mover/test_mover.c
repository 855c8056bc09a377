/* test_mover.c: the disk mover's frames (every kind round-trips, a flipped
 * bit or a lying header is refused), its journal (survives a reopen, starts
 * afresh for another source or when damaged) and its extent walk (a sparse
 * file's data blocks only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "mover/extents.h"
#include "mover/frame.h"
#include "mover/journal.h"

static uint8_t *block_of(int kind)   /* 0 zeros, 1 random, 2 text */
{
	uint8_t *b = malloc(MOVER_BLOCK);
	uint32_t x = 12345;

	for (size_t i = 0; i < MOVER_BLOCK; i++) {
		x = x * 1103515245 + 12345;
		b[i] = kind == 0 ? 0 : kind == 1 ? (uint8_t)(x >> 16) : (uint8_t)("ferry moves disks "[i % 18]);
	}
	return b;
}

static size_t roundtrip(int kind, enum frame_kind want)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_DCtx *d = ZSTD_createDCtx();
	uint8_t *in = block_of(kind), *wire = malloc(FRAME_HEADER + frame_payload_max()), *out = malloc(MOVER_BLOCK);
	struct frame f, g;

	size_t n = frame_encode(c, 1, 3 * (uint64_t)MOVER_BLOCK, in, MOVER_BLOCK, frame_hash(in, MOVER_BLOCK), wire, &f);
	assert_int_equal(f.kind, want);
	assert_int_equal(n, FRAME_HEADER + f.payload);
	assert_int_equal(frame_parse_header(wire, 8 * (uint64_t)MOVER_BLOCK, &g), 0);
	assert_int_equal(g.offset, 3 * (uint64_t)MOVER_BLOCK);
	assert_int_equal(g.payload, f.payload);
	assert_int_equal(frame_decode(d, &g, wire + FRAME_HEADER, out), 0);
	assert_memory_equal(in, out, MOVER_BLOCK);
	if (g.payload) {   /* a bit flipped in transit is caught */
		wire[FRAME_HEADER + g.payload / 2] ^= 0x10;
		assert_int_equal(frame_decode(d, &g, wire + FRAME_HEADER, out), -1);
	}
	free(in);
	free(wire);
	free(out);
	ZSTD_freeCCtx(c);
	ZSTD_freeDCtx(d);
	return n;
}

static void frames_round_trip(void **state)
{
	(void)state;
	assert_int_equal(roundtrip(0, FRAME_HOLE), FRAME_HEADER);         /* zeros: no payload */
	assert_int_equal(roundtrip(1, FRAME_RAW), FRAME_HEADER + MOVER_BLOCK);   /* incompressible */
	assert_true(roundtrip(2, FRAME_ZSTD) < MOVER_BLOCK / 50);          /* text: compressed */
}

static void frames_refused(void **state)
{
	uint8_t *in = block_of(1), *wire = malloc(FRAME_HEADER + frame_payload_max());
	struct frame f, g;
	uint64_t size = 8 * (uint64_t)MOVER_BLOCK;

	(void)state;
	frame_encode(NULL, 0, 0, in, MOVER_BLOCK, frame_hash(in, MOVER_BLOCK), wire, &f);
	uint8_t h[FRAME_HEADER];
	memcpy(h, wire, FRAME_HEADER);
	assert_int_equal(frame_parse_header(h, size, &g), 0);
	h[0] ^= 1;   /* magic */
	assert_int_equal(frame_parse_header(h, size, &g), -1);
	memcpy(h, wire, FRAME_HEADER);
	h[4] = 7;    /* kind */
	assert_int_equal(frame_parse_header(h, size, &g), -1);
	memcpy(h, wire, FRAME_HEADER);
	h[8] = 1;    /* offset off the grid */
	assert_int_equal(frame_parse_header(h, size, &g), -1);
	memcpy(h, wire, FRAME_HEADER);
	assert_int_equal(frame_parse_header(h, MOVER_BLOCK / 2, &g), -1);   /* past the end */
	h[20] = 0; h[21] = 0; h[22] = 0x20; h[23] = 0;   /* raw payload != len */
	assert_int_equal(frame_parse_header(h, size, &g), -1);
	/* A short last block is fine, a short block elsewhere is not. */
	struct frame s;
	frame_encode(NULL, 0, 2 * (uint64_t)MOVER_BLOCK, in, 4096, frame_hash(in, 4096), wire, &s);
	assert_int_equal(frame_parse_header(wire, 2 * (uint64_t)MOVER_BLOCK + 4096, &g), 0);
	assert_int_equal(frame_parse_header(wire, size, &g), -1);
	free(in);
	free(wire);
}

static void journal_resumes(void **state)
{
	char path[] = "/tmp/ferry-journal-XXXXXX";
	int fd = mkstemp(path);
	enum journal_state js;
	uint64_t size = 10 * (uint64_t)MOVER_BLOCK + 5;

	(void)state;
	close(fd);
	unlink(path);
	struct journal *j = journal_open(path, size, &js);
	assert_non_null(j);
	assert_int_equal(js, JOURNAL_NEW);
	assert_int_equal(journal_blocks(j), 11);
	journal_set(j, 0, 0x1111);
	journal_set(j, 10, 0xaaaa);
	journal_set(j, 10, 0xaaab);
	journal_set(j, 99, 5);   /* out of range: ignored */
	assert_int_equal(journal_count(j), 2);
	assert_int_equal(journal_sync(j, -1), 0);
	journal_close(j);
	/* Not closed clean: dirty (its blocks get checked). */
	j = journal_open(path, size, &js);
	assert_int_equal(js, JOURNAL_DIRTY);
	assert_true(journal_hash(j, 0) == 0x1111 && journal_hash(j, 10) == 0xaaab && journal_hash(j, 5) == 0);
	journal_set(j, 0, 0);    /* a hole now */
	assert_int_equal(journal_count(j), 1);
	assert_int_equal(journal_close_clean(j, -1), 0);
	j = journal_open(path, size, &js);
	assert_int_equal(js, JOURNAL_CLEAN);
	assert_int_equal(journal_hash(j, 0), 0);
	uint8_t t[11 * 8];
	journal_table(j, t);
	assert_int_equal(t[10 * 8], 0xab);
	assert_int_equal(t[10 * 8 + 1], 0xaa);
	journal_close(j);
	/* Opened once: dirty again until closed clean. */
	j = journal_open(path, size, &js);
	assert_int_equal(js, JOURNAL_DIRTY);
	journal_close(j);
	/* Another size: afresh. */
	j = journal_open(path, size + MOVER_BLOCK, &js);
	assert_int_equal(js, JOURNAL_NEW);
	assert_int_equal(journal_count(j), 0);
	journal_set(j, 3, 7);
	journal_sync(j, -1);
	journal_close(j);
	/* Damaged header (a clean flag that is neither): afresh too. */
	fd = open(path, O_RDWR);
	uint8_t b = 7;
	assert_int_equal(pwrite(fd, &b, 1, 5), 1);
	close(fd);
	j = journal_open(path, size + MOVER_BLOCK, &js);
	assert_int_equal(js, JOURNAL_NEW);
	journal_close(j);
	unlink(path);
}

static void extents_of_sparse_file(void **state)
{
	char path[] = "/tmp/ferry-extents-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *data = block_of(1);
	uint64_t size = 64 * (uint64_t)MOVER_BLOCK, next = 0, block, seen[64];
	int n = 0, r;

	(void)state;
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(pwrite(fd, data, 4096, 5 * (off_t)MOVER_BLOCK + 100), 4096);
	assert_int_equal(pwrite(fd, data, MOVER_BLOCK, 40 * (off_t)MOVER_BLOCK), MOVER_BLOCK);
	fsync(fd);
	while ((r = extents_next_block(fd, size, &next, &block)) == 0 && n < 64)
		seen[n++] = block;
	assert_int_equal(r, 1);
	/* tmpfs and ext4 report data exactly; each data block is seen once, in
	 * order, and a walk never skips one. */
	assert_true(n >= 2 && n < 64);
	bool has5 = false, has40 = false;
	for (int i = 0; i < n; i++) {
		has5 |= seen[i] == 5;
		has40 |= seen[i] == 40;
		if (i)
			assert_true(seen[i] > seen[i - 1]);
	}
	assert_true(has5 && has40);
	close(fd);
	unlink(path);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_round_trip),
		cmocka_unit_test(frames_refused),
		cmocka_unit_test(journal_resumes),
		cmocka_unit_test(extents_of_sparse_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

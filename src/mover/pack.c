/* pack.c: a disk image packed into one file in the mover's format (pack.h). */
#include "mover/pack.h"
#include "mover/extents.h"
#include "mover/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define END_MAGIC 0x45564d46u   /* "FMVE", as the mover's stream ends a pass */

static int read_exact(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int mover_pack(int in, uint64_t size, int out, struct mover_stats *st, struct ferr *err)
{
	uint8_t hdr[PACK_MAGIC_LEN + 8], end[24];
	uint8_t *buf = malloc(MOVER_BLOCK), *wire = malloc(FRAME_HEADER + frame_payload_max());
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	XXH3_state_t *ih = XXH3_createState();
	uint64_t next = 0, block;
	int e, r = -ENOMEM;

	memset(st, 0, sizeof(*st));
	st->size = size;
	if (!buf || !wire || !cctx || !ih)
		goto out;
	if (size == 0 || size > MOVER_SIZE_MAX) {
		ferr_set(err, "an image of %llu bytes cannot be packed", (unsigned long long)size);
		r = -EFBIG;
		goto out;
	}
	memcpy(hdr, PACK_MAGIC, PACK_MAGIC_LEN);
	le_put(hdr + PACK_MAGIC_LEN, size, 8);
	if (write_all(out, hdr, sizeof(hdr)) < 0)
		goto wfail;
	XXH3_64bits_reset(ih);
	while ((e = extents_next_block(in, size, &next, &block)) == 0) {
		uint32_t len = frame_block_len(size, block);
		if (pread(in, buf, len, (off_t)(block * MOVER_BLOCK)) != (ssize_t)len) {
			ferr_set(err, "cannot read the image at %llu: %s", (unsigned long long)(block * MOVER_BLOCK),
				 strerror(errno));
			r = -EIO;
			goto out;
		}
		if (frame_all_zero(buf, len))
			continue;
		uint64_t bh = frame_hash(buf, len);
		mover_image_hash_add(ih, block, bh);
		struct frame f;
		size_t n = frame_encode(cctx, 1, block * MOVER_BLOCK, buf, len, bh, wire, &f);
		if (write_all(out, wire, n) < 0)
			goto wfail;
		st->frames++;
		st->data_bytes += len;
		st->wire_bytes += n;
	}
	if (e < 0) {
		ferr_set(err, "cannot map the image's data: %s", strerror(-e));
		r = e;
		goto out;
	}
	st->image_hash = XXH3_64bits_digest(ih);
	le_put(end, END_MAGIC, 4);
	le_put(end + 4, 0, 4);
	le_put(end + 8, st->image_hash, 8);
	le_put(end + 16, st->data_bytes, 8);
	if (write_all(out, end, sizeof(end)) < 0 || fsync(out) < 0)
		goto wfail;
	r = 0;
	goto out;
wfail:
	r = -errno;
	ferr_set(err, "cannot write the packed image: %s", strerror(errno));
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	free(buf);
	free(wire);
	ZSTD_freeCCtx(cctx);
	XXH3_freeState(ih);
	return r;
}

int mover_unpack(int in, const char *path, struct mover_stats *st, struct ferr *err)
{
	char part[4200];
	uint8_t hdr[PACK_MAGIC_LEN + 8], h[FRAME_HEADER];
	uint8_t *payload = malloc(frame_payload_max()), *out = malloc(MOVER_BLOCK);
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	XXH3_state_t *ih = XXH3_createState();
	int fd = -1, r = -ENOMEM;
	int64_t last = -1;

	memset(st, 0, sizeof(*st));
	snprintf(part, sizeof(part), "%s.part", path);
	if (!payload || !out || !dctx || !ih)
		goto out;
	if (read_exact(in, hdr, sizeof(hdr)) < 0 || memcmp(hdr, PACK_MAGIC, PACK_MAGIC_LEN)) {
		ferr_set(err, "not a packed disk image");
		r = -EINVAL;
		goto out;
	}
	uint64_t size = le_get(hdr + PACK_MAGIC_LEN, 8);
	if (size == 0 || size > MOVER_SIZE_MAX) {
		ferr_set(err, "a packed disk image of %llu bytes is not valid", (unsigned long long)size);
		r = -EINVAL;
		goto out;
	}
	st->size = size;
	fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		ferr_set(err, "cannot write %s: %s", part, strerror(errno));
		goto out;
	}
	XXH3_64bits_reset(ih);
	for (;;) {
		if (read_exact(in, h, 24) < 0)
			goto cut;
		if (le_get(h, 4) == END_MAGIC)
			break;
		if (read_exact(in, h + 24, FRAME_HEADER - 24) < 0)
			goto cut;
		struct frame f;
		/* Blocks in order, each once: a damaged or shuffled pack fails. */
		if (frame_parse_header(h, size, &f) < 0 || f.kind == FRAME_HOLE || (int64_t)(f.offset / MOVER_BLOCK) <= last) {
			ferr_set(err, "the packed disk image is damaged (a bad frame header)");
			r = -EINVAL;
			goto out;
		}
		if (read_exact(in, payload, f.payload) < 0)
			goto cut;
		if (frame_decode(dctx, &f, payload, out) < 0) {
			ferr_set(err, "the packed disk image is damaged (block at %llu does not match its hash)",
				 (unsigned long long)f.offset);
			r = -EINVAL;
			goto out;
		}
		if (pwrite(fd, out, f.len, (off_t)f.offset) != (ssize_t)f.len) {
			r = errno ? -errno : -ENOSPC;
			ferr_set(err, "cannot write %s: %s", part, strerror(-r));
			goto out;
		}
		last = (int64_t)(f.offset / MOVER_BLOCK);
		mover_image_hash_add(ih, (uint64_t)last, f.hash);
		st->frames++;
		st->data_bytes += f.len;
	}
	if (le_get(h + 8, 8) != XXH3_64bits_digest(ih) ||
	    le_get(h + 16, 8) != st->data_bytes) {
		ferr_set(err, "the packed disk image is damaged (the whole image does not match its hash)");
		r = -EINVAL;
		goto out;
	}
	st->image_hash = le_get(h + 8, 8);
	if (fsync(fd) < 0 || renameat2(AT_FDCWD, part, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		ferr_set(err, "cannot put %s in place: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
	goto out;
cut:
	ferr_set(err, "the packed disk image is cut short");
	r = -EINVAL;
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	if (fd >= 0) {
		close(fd);
		if (r < 0)
			unlink(part);
	}
	free(payload);
	free(out);
	ZSTD_freeDCtx(dctx);
	XXH3_freeState(ih);
	return r;
}

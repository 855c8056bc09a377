/* mover.c: the disk mover's sender and receiver (mover.h). */
#include "mover/mover.h"
#include "mover/extents.h"
#include "mover/frame.h"
#include "mover/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t mover_fault_flip_frame;
uint64_t mover_fault_stop_after;

#define OFFER_MAGIC 0x4f564d46u   /* "FMVO" */
#define WANT_MAGIC 0x57564d46u    /* "FMVW" */
#define END_MAGIC 0x45564d46u     /* "FMVE" */
#define RESULT_MAGIC 0x52564d46u  /* "FMVR" */
#define VERSION 1
#define ZSTD_LEVEL 1

enum { RESULT_DONE = 0, RESULT_AGAIN = 1, RESULT_FAILED = 2 };

static int read_full(struct stream *s, void *p, size_t n, struct ferr *err)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = stream_read(s, b, n, err);
		if (r == -EAGAIN) {
			if (stream_pending(s))
				continue;
			struct pollfd pf = { stream_fd(s), POLLIN, 0 };
			poll(&pf, 1, 1000);
			continue;
		}
		if (r <= 0) {
			if (!err->msg[0])
				ferr_set(err, "the other end closed the stream");
			return r < 0 ? (int)r : -EPIPE;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The image hash: over (index, block hash) of every non-zero block, in
 * order. */
static void image_hash_add(XXH3_state_t *h, uint64_t block, uint64_t hash)
{
	uint8_t e[16];

	le_put(e, block, 8);
	le_put(e + 8, hash, 8);
	XXH3_64bits_update(h, e, sizeof(e));
}

static uint32_t block_len(uint64_t size, uint64_t block)
{
	uint64_t left = size - block * MOVER_BLOCK;
	return left < MOVER_BLOCK ? (uint32_t)left : MOVER_BLOCK;
}

/* ---- sender --------------------------------------------------------------- */

int mover_send(struct stream *s, int fd, uint64_t size, uint64_t source_id, mover_progress_fn progress, void *opaque,
	       struct mover_stats *st, struct ferr *err)
{
	int64_t next_progress = 0;
	uint8_t hdr[24], *buf = NULL, *wire = NULL, *want = NULL;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	XXH3_state_t *ih = XXH3_createState();
	int r = -ENOMEM;

	memset(st, 0, sizeof(*st));
	st->size = size;
	if (size == 0 || size > MOVER_SIZE_MAX) {
		ferr_set(err, "an image of %llu bytes cannot be moved (1 byte to 16 TiB)", (unsigned long long)size);
		r = -EFBIG;
		goto out;
	}
	uint64_t blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK;
	size_t nbytes = (size_t)((blocks + 7) / 8);
	buf = malloc(MOVER_BLOCK);
	wire = malloc(FRAME_HEADER + frame_payload_max());
	want = malloc(nbytes);
	if (!cctx || !ih || !buf || !wire || !want)
		goto out;
	le_put(hdr, OFFER_MAGIC, 4);
	le_put(hdr + 4, VERSION, 4);
	le_put(hdr + 8, size, 8);
	le_put(hdr + 16, source_id, 8);
	if ((r = stream_write_all(s, hdr, 24, err)) < 0)
		goto out;
	for (st->passes = 1; st->passes <= MOVER_PASSES; st->passes++) {
		uint8_t w[16];
		if ((r = read_full(s, w, 16, err)) < 0)
			goto out;
		if (le_get(w, 4) != WANT_MAGIC || le_get(w + 8, 8) != blocks) {
			ferr_set(err, "the receiver's answer is not the mover's");
			r = -EPROTO;
			goto out;
		}
		if ((r = read_full(s, want, nbytes, err)) < 0)   /* its done-bitmap */
			goto out;
		XXH3_64bits_reset(ih);
		st->data_bytes = 0;
		uint64_t next = 0, block;
		int e;
		while ((e = extents_next_block(fd, size, &next, &block)) == 0) {
			uint32_t len = block_len(size, block);
			st->pos = block * MOVER_BLOCK + len;
			if (pread(fd, buf, len, (off_t)(block * MOVER_BLOCK)) != (ssize_t)len) {
				ferr_set(err, "cannot read the image at %llu: %s", (unsigned long long)(block * MOVER_BLOCK),
					 strerror(errno));
				r = -EIO;
				goto out;
			}
			if (frame_all_zero(buf, len))
				continue;
			uint64_t bh = frame_hash(buf, len);
			image_hash_add(ih, block, bh);
			st->data_bytes += len;
			if (want[block / 8] & (1u << (block % 8))) {
				st->skipped += st->passes == 1;
				continue;
			}
			struct frame f;
			size_t n = frame_encode(cctx, ZSTD_LEVEL, block * MOVER_BLOCK, buf, len, bh, wire, &f);
			st->frames++;
			st->resent += st->passes > 1;
			if (mover_fault_stop_after && st->frames > mover_fault_stop_after) {
				ferr_set(err, "stopped after %llu frames (test fault)", (unsigned long long)mover_fault_stop_after);
				r = -ECONNABORTED;
				goto out;
			}
			if (mover_fault_flip_frame == st->frames && f.payload)
				wire[FRAME_HEADER + f.payload / 2] ^= 0x01;
			if ((r = stream_write_all(s, wire, n, err)) < 0)
				goto out;
			st->sent_bytes += len;
			st->wire_bytes += n;
			if (progress && time_mono_us() >= next_progress) {
				progress(st, opaque);
				next_progress = time_mono_us() + 250000;
			}
		}
		if (e < 0) {
			ferr_set(err, "cannot map the image's data: %s", strerror(-e));
			r = e;
			goto out;
		}
		st->image_hash = XXH3_64bits_digest(ih);
		le_put(hdr, END_MAGIC, 4);
		le_put(hdr + 4, 0, 4);
		le_put(hdr + 8, st->image_hash, 8);
		le_put(hdr + 16, st->data_bytes, 8);
		if ((r = stream_write_all(s, hdr, 24, err)) < 0)
			goto out;
		uint8_t res[8];
		if ((r = read_full(s, res, 8, err)) < 0)
			goto out;
		if (le_get(res, 4) != RESULT_MAGIC) {
			ferr_set(err, "the receiver's answer is not the mover's");
			r = -EPROTO;
			goto out;
		}
		uint32_t status = (uint32_t)le_get(res + 4, 4);
		if (status == RESULT_DONE) {
			r = 0;
			goto out;
		}
		if (status != RESULT_AGAIN) {
			ferr_set(err, "the receiver could not store the image (see its log)");
			r = -EIO;
			goto out;
		}
	}
	ferr_set(err, "blocks still arrived damaged after %d passes", MOVER_PASSES);
	r = -EIO;
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	ZSTD_freeCCtx(cctx);
	XXH3_freeState(ih);
	free(buf);
	free(wire);
	free(want);
	return r;
}

/* ---- receiver ------------------------------------------------------------- */

/* The image hash of what the receiver holds, read back from its file. */
static int hash_file(int fd, uint64_t size, uint8_t *buf, uint64_t *out)
{
	XXH3_state_t *ih = XXH3_createState();
	uint64_t next = 0, block;
	int e;

	if (!ih)
		return -ENOMEM;
	XXH3_64bits_reset(ih);
	while ((e = extents_next_block(fd, size, &next, &block)) == 0) {
		uint32_t len = block_len(size, block);
		if (pread(fd, buf, len, (off_t)(block * MOVER_BLOCK)) != (ssize_t)len) {
			XXH3_freeState(ih);
			return -EIO;
		}
		if (!frame_all_zero(buf, len))
			image_hash_add(ih, block, frame_hash(buf, len));
	}
	*out = XXH3_64bits_digest(ih);
	XXH3_freeState(ih);
	return e < 0 ? e : 0;
}

int mover_receive(struct stream *s, const char *path, struct mover_stats *st, struct ferr *err)
{
	char part[4200], jpath[4200];
	uint8_t hdr[24], *payload = NULL, *out = NULL;
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	struct journal *j = NULL;
	int fd = -1, r = -ENOMEM;
	bool resumed;

	memset(st, 0, sizeof(*st));
	snprintf(part, sizeof(part), "%s.part", path);
	snprintf(jpath, sizeof(jpath), "%s.journal", path);
	payload = malloc(frame_payload_max());
	out = malloc(MOVER_BLOCK);
	if (!dctx || !payload || !out)
		goto out;
	if ((r = read_full(s, hdr, 24, err)) < 0)
		goto out;
	uint64_t size = le_get(hdr + 8, 8), source_id = le_get(hdr + 16, 8);
	if (le_get(hdr, 4) != OFFER_MAGIC || le_get(hdr + 4, 4) != VERSION || size == 0 || size > MOVER_SIZE_MAX) {
		ferr_set(err, "not a mover offer (or an image over 16 TiB)");
		r = -EPROTO;
		goto out;
	}
	st->size = size;
	if (access(path, F_OK) == 0) {
		ferr_set(err, "%s exists already", path);
		r = -EEXIST;
		goto out;
	}
	if (!(j = journal_open(jpath, size, source_id, &resumed))) {
		r = -errno;
		ferr_set(err, "cannot keep a journal at %s: %s", jpath, strerror(errno));
		goto out;
	}
	/* Resuming: the part file of the same source. Else a fresh sparse one. */
	fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (resumed ? 0 : O_TRUNC), 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		ferr_set(err, "cannot write %s: %s", part, strerror(errno));
		goto out;
	}
	uint64_t blocks = journal_blocks(j);
	size_t nbytes = (size_t)((blocks + 7) / 8);
	for (st->passes = 1; st->passes <= MOVER_PASSES; st->passes++) {
		uint8_t w[16];
		le_put(w, WANT_MAGIC, 4);
		le_put(w + 4, 0, 4);
		le_put(w + 8, blocks, 8);
		if ((r = stream_write_all(s, w, 16, err)) < 0 || (r = stream_write_all(s, journal_bitmap(j), nbytes, err)) < 0)
			goto out;
		uint64_t bad = 0, since_sync = 0;
		for (;;) {
			uint8_t h[FRAME_HEADER];
			if ((r = read_full(s, h, 24, err)) < 0)
				goto out;
			if (le_get(h, 4) == END_MAGIC) {
				memcpy(hdr, h, 24);
				break;
			}
			if ((r = read_full(s, h + 24, FRAME_HEADER - 24, err)) < 0)
				goto out;
			struct frame f;
			if (frame_parse_header(h, size, &f) < 0) {
				ferr_set(err, "a damaged frame header: the stream cannot be trusted");
				r = -EPROTO;
				goto out;
			}
			if ((r = read_full(s, payload, f.payload, err)) < 0)
				goto out;
			st->frames++;
			st->wire_bytes += FRAME_HEADER + f.payload;
			if (frame_decode(dctx, &f, payload, out) < 0) {
				bad++;   /* not written, not marked: asked for again */
				continue;
			}
			if (f.kind != FRAME_HOLE && pwrite(fd, out, f.len, (off_t)f.offset) != (ssize_t)f.len) {
				r = -errno;
				ferr_set(err, "cannot write %s: %s", part, strerror(errno));
				goto out;
			}
			st->sent_bytes += f.len;
			journal_mark(j, f.offset / MOVER_BLOCK);
			/* Every 64 MiB: writeback starts, without waiting for it (the
			 * disk works while the stream does), and the journal is saved
			 * (a killed receiver resumes from it). Every 512 MiB data then
			 * journal reach the disk. After a crash the journal may claim
			 * a block whose data was lost: the image check at the end of
			 * the pass finds it and the next pass starts afresh. */
			if (++since_sync % 64 == 0) {
				sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
				journal_save(j);
			}
			if (since_sync == 512) {
				if ((r = journal_sync(j, fd)) < 0) {
					ferr_set(err, "cannot write %s: %s", part, strerror(-r));
					goto out;
				}
				since_sync = 0;
			}
		}
		if ((r = journal_sync(j, fd)) < 0) {
			ferr_set(err, "cannot write %s: %s", part, strerror(-r));
			goto out;
		}
		st->resent += bad;
		uint64_t mine = 0, theirs = le_get(hdr + 8, 8);
		if (bad == 0 && (r = hash_file(fd, size, out, &mine)) < 0) {
			ferr_set(err, "cannot read back %s: %s", part, strerror(-r));
			goto out;
		}
		uint8_t res[8];
		le_put(res, RESULT_MAGIC, 4);
		bool done = bad == 0 && mine == theirs;
		le_put(res + 4, done ? RESULT_DONE : RESULT_AGAIN, 4);
		if (!done && bad == 0) {
			/* Every frame checked, yet the image differs: what the journal
			 * says is done cannot be trusted; start afresh next pass. */
			journal_close(j);
			unlink(jpath);
			if (!(j = journal_open(jpath, size, source_id, &resumed))) {
				r = -errno;
				goto out;
			}
		}
		if ((r = stream_write_all(s, res, 8, err)) < 0)
			goto out;
		if (done) {
			st->image_hash = mine;
			st->data_bytes = le_get(hdr + 16, 8);
			if (fsync(fd) < 0 || rename(part, path) < 0) {
				r = -errno;
				ferr_set(err, "cannot put %s in place: %s", path, strerror(errno));
				goto out;
			}
			unlink(jpath);
			r = 0;
			goto out;
		}
	}
	ferr_set(err, "blocks still arrived damaged after %d passes", MOVER_PASSES);
	r = -EIO;
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	/* Cut short: what was written and checked stays done for the next run. */
	if (r < 0 && j && fd >= 0)
		journal_sync(j, fd);
	if (fd >= 0)
		close(fd);
	journal_close(j);
	ZSTD_freeDCtx(dctx);
	free(payload);
	free(out);
	return r;
}

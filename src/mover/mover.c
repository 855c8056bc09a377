/* mover.c: the disk mover's sender and receiver (mover.h). */
#include "mover/mover.h"
#include "mover/extents.h"
#include "mover/frame.h"
#include "mover/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
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
#define VERSION 2
#define ZSTD_LEVEL 1
#define READ_AHEAD (32ULL << 20)

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

#define block_len(size, block) frame_block_len((size), (block))

void mover_image_hash_add(void *state, uint64_t block, uint64_t hash)
{
	XXH3_state_t *h = state;
	uint8_t e[16];

	le_put(e, block, 8);
	le_put(e + 8, hash, 8);
	XXH3_64bits_update(h, e, sizeof(e));
}
#define image_hash_add(h, block, hash) mover_image_hash_add((h), (block), (hash))

/* ---- sender --------------------------------------------------------------- */

struct sender {
	struct stream *s;
	ZSTD_CCtx *cctx;
	uint8_t *wire, *zero;
	struct mover_stats *st;
	struct ferr *err;
	mover_progress_fn progress;
	void *opaque;
	int64_t next_progress;
	uint32_t index, count;       /* this stream's share */
};

#define FAIL_MSG_MAX 300

/* The receiver's RESULT_FAILED: its reason into err. */
static int read_failure(struct stream *s, struct ferr *err)
{
	uint8_t n[4];
	char msg[FAIL_MSG_MAX + 1];
	struct ferr e = {0};

	if (read_full(s, n, 4, &e) < 0 || le_get(n, 4) > FAIL_MSG_MAX || read_full(s, msg, le_get(n, 4), &e) < 0) {
		ferr_set(err, "the receiver could not store the image (see its log)");
		return -EIO;
	}
	msg[le_get(n, 4)] = 0;
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 32 || *c == 127)
			*c = '?';
	ferr_set(err, "the receiver stopped: %s", msg);
	return -EIO;
}

/* Has the receiver said something mid-pass? Only a failure may come then. */
static int check_receiver(struct stream *s, struct ferr *err)
{
	struct pollfd pf = { stream_fd(s), POLLIN, 0 };
	uint8_t res[8];

	if (!stream_pending(s) && poll(&pf, 1, 0) <= 0)
		return 0;
	if (read_full(s, res, 8, err) < 0)
		return -EPIPE;
	if (le_get(res, 4) == RESULT_MAGIC && le_get(res + 4, 4) == RESULT_FAILED)
		return read_failure(s, err);
	ferr_set(err, "the receiver's answer is not the mover's");
	return -EPROTO;
}

/* One frame of block `block`: its data read in place at raw + FRAME_HEADER,
 * or raw NULL: a hole. */
static int send_frame(struct sender *x, uint64_t size, uint64_t block, uint8_t *raw, uint64_t hash)
{
	uint32_t len = block_len(size, block);
	struct frame f;
	uint8_t *out;
	size_t n;
	int r;

	if (!raw) {
		n = frame_encode(NULL, 0, block * MOVER_BLOCK, x->zero, len, frame_hash(x->zero, len), x->wire, &f);
		out = x->wire;
	} else {
		out = (uint8_t *)frame_encode_inplace(x->cctx, ZSTD_LEVEL, block * MOVER_BLOCK, raw, len, hash, x->wire,
						      &f, &n);
	}
	x->st->frames++;
	x->st->resent += x->st->passes > 1;
	if (mover_fault_stop_after && x->st->frames > mover_fault_stop_after) {
		ferr_set(x->err, "stopped after %llu frames (test fault)", (unsigned long long)mover_fault_stop_after);
		return -ECONNABORTED;
	}
	if (mover_fault_flip_frame == x->st->frames && f.payload)
		out[FRAME_HEADER + f.payload / 2] ^= 0x01;
	if (x->st->frames % 8 == 0 && (r = check_receiver(x->s, x->err)) < 0)
		return r;
	if ((r = stream_write_all(x->s, out, n, x->err)) < 0) {
		/* Cut: perhaps it said why first. */
		struct ferr why = {0};
		struct pollfd pf = { stream_fd(x->s), POLLIN, 0 };
		if (poll(&pf, 1, 500) > 0 && check_receiver(x->s, &why) == -EIO)
			*x->err = why;
		return r;
	}
	x->st->sent_bytes += f.kind == FRAME_HOLE ? 0 : len;
	x->st->wire_bytes += n;
	if (x->progress && time_mono_us() >= x->next_progress) {
		x->progress(x->st, x->opaque);
		x->next_progress = time_mono_us() + 250000;
	}
	return 0;
}

/* Reads the receiver's table (blocks little-endian u64) into theirs. */
static int read_want(struct stream *s, uint64_t blocks, uint64_t *theirs, struct ferr *err)
{
	uint8_t w[16];
	int r;

	if ((r = read_full(s, w, 8, err)) < 0)
		return r;
	if (le_get(w, 4) == RESULT_MAGIC && le_get(w + 4, 4) == RESULT_FAILED)
		return read_failure(s, err);
	if ((r = read_full(s, w + 8, 8, err)) < 0)
		return r;
	if (le_get(w, 4) != WANT_MAGIC || le_get(w + 8, 8) != blocks) {
		ferr_set(err, "the receiver's answer is not the mover's");
		return -EPROTO;
	}
	if ((r = read_full(s, theirs, blocks * 8, err)) < 0)
		return r;
	for (uint64_t b = 0; b < blocks; b++)   /* in place: same offsets */
		theirs[b] = le_get((uint8_t *)&theirs[b], 8);
	return 0;
}

/* One pass: every block whose content differs from what the receiver holds
 * (theirs): data as frames, blocks now zero or unallocated that it holds as
 * holes. */
static int send_pass(struct sender *x, int fd, uint64_t size, const uint64_t *theirs, uint8_t *raw, XXH3_state_t *ih)
{
	uint8_t *buf = raw + FRAME_HEADER;   /* read in place: a raw frame goes without a copy */
	struct mover_stats *st = x->st;
	uint64_t blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK, next = 0, gap = 0, block, ra_next = 0;
	int e, r;

	XXH3_64bits_reset(ih);
	st->data_bytes = 0;
	while ((e = extents_next_block(fd, size, &next, &block)) == 0) {
		if (!mover_block_mine(block, x->index, x->count)) {
			/* On to this stream's next stripe. */
			uint64_t stripe = block / MOVER_STRIPE + 1;
			while (!mover_block_mine(stripe * MOVER_STRIPE, x->index, x->count))
				stripe++;
			next = stripe * MOVER_STRIPE;
			continue;
		}
		for (; gap < block; gap++)
			if (theirs[gap] && mover_block_mine(gap, x->index, x->count) &&
			    (r = send_frame(x, size, gap, NULL, 0)) < 0)
				return r;
		gap = block + 1;
		uint32_t len = block_len(size, block);
		st->pos = block * MOVER_BLOCK + len;
		/* Reads ahead of the walk, so that the disk works while the
		 * blocks before are hashed, compressed and sent (holes cost no
		 * I/O). */
		if (ra_next < st->pos + READ_AHEAD) {
			if (ra_next < st->pos)
				ra_next = st->pos;
			extents_readahead(fd, ra_next, READ_AHEAD / 2, size);
			ra_next += READ_AHEAD / 2;
		}
		if (pread(fd, buf, len, (off_t)(block * MOVER_BLOCK)) != (ssize_t)len) {
			ferr_set(x->err, "cannot read the image at %llu: %s", (unsigned long long)(block * MOVER_BLOCK),
				 strerror(errno));
			return -EIO;
		}
		if (frame_all_zero(buf, len)) {
			if (theirs[block] && (r = send_frame(x, size, block, NULL, 0)) < 0)
				return r;
			continue;
		}
		uint64_t bh = frame_hash(buf, len);
		image_hash_add(ih, block, bh);
		st->data_bytes += len;
		if (theirs[block] == bh) {
			st->skipped += st->passes == 1;
			continue;
		}
		if ((r = send_frame(x, size, block, raw, bh)) < 0)
			return r;
	}
	if (e < 0) {
		ferr_set(x->err, "cannot map the image's data: %s", strerror(-e));
		return e;
	}
	for (; gap < blocks; gap++)
		if (theirs[gap] && mover_block_mine(gap, x->index, x->count) && (r = send_frame(x, size, gap, NULL, 0)) < 0)
			return r;
	st->pos = size;
	return 0;
}

int mover_send(struct stream *s, int fd, uint64_t size, uint64_t source_id, uint32_t index, uint32_t count,
	       mover_progress_fn progress, void *opaque, struct mover_stats *st, struct ferr *err)
{
	uint8_t hdr[32], *buf = NULL;
	uint64_t *theirs = NULL;
	struct sender x = { .s = s, .st = st, .err = err, .progress = progress, .opaque = opaque, .index = index,
			    .count = count ? count : 1 };
	XXH3_state_t *ih = XXH3_createState();
	int r = -ENOMEM;

	memset(st, 0, sizeof(*st));
	st->size = size;
	x.cctx = ZSTD_createCCtx();
	if (size == 0 || size > MOVER_SIZE_MAX) {
		ferr_set(err, "an image of %llu bytes cannot be moved (1 byte to 4 TiB)", (unsigned long long)size);
		r = -EFBIG;
		goto out;
	}
	uint64_t blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK;
	buf = malloc(FRAME_HEADER + MOVER_BLOCK);
	x.zero = calloc(1, MOVER_BLOCK);
	x.wire = malloc(FRAME_HEADER + frame_payload_max());
	theirs = malloc(blocks * 8);
	if (!x.cctx || !ih || !buf || !x.zero || !x.wire || !theirs)
		goto out;
	if (x.count > MOVER_STREAMS_MAX || index >= x.count) {
		ferr_set(err, "stream %u of %u: not a valid share", index, x.count);
		r = -EINVAL;
		goto out;
	}
	le_put(hdr, OFFER_MAGIC, 4);
	le_put(hdr + 4, VERSION, 4);
	le_put(hdr + 8, size, 8);
	le_put(hdr + 16, source_id, 8);
	le_put(hdr + 24, index, 4);
	le_put(hdr + 28, x.count, 4);
	if ((r = stream_write_all(s, hdr, 32, err)) < 0)
		goto out;
	for (st->passes = 1; st->passes <= MOVER_PASSES; st->passes++) {
		if ((r = read_want(s, blocks, theirs, err)) < 0 || (r = send_pass(&x, fd, size, theirs, buf, ih)) < 0)
			goto out;
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
		if (status == RESULT_FAILED) {
			r = read_failure(s, err);
			goto out;
		}
		if (status != RESULT_AGAIN) {
			ferr_set(err, "the receiver's answer is not the mover's");
			r = -EPROTO;
			goto out;
		}
	}
	ferr_set(err, "blocks still arrived damaged after %d passes", MOVER_PASSES);
	r = -EIO;
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	ZSTD_freeCCtx(x.cctx);
	XXH3_freeState(ih);
	free(buf);
	free(x.zero);
	free(x.wire);
	free(theirs);
	return r;
}

/* ---- receiver ------------------------------------------------------------- */

/* A journal left by a run that did not finish may name blocks whose data
 * never reached the disk: each is read back and kept only if it matches. */
static int check_held(struct journal *j, int fd, uint64_t size, uint8_t *buf)
{
	for (uint64_t b = 0; b < journal_blocks(j); b++) {
		uint64_t h = journal_hash(j, b);
		uint32_t len = block_len(size, b);
		if (!h)
			continue;
		if (pread(fd, buf, len, (off_t)(b * MOVER_BLOCK)) != (ssize_t)len)
			return -EIO;
		if (frame_hash(buf, len) != h)
			journal_set(j, b, 0);
	}
	return 0;
}

/* The image hash of what the journal says the receiver holds. */
static uint64_t held_hash(const struct journal *j)
{
	XXH3_state_t *ih = XXH3_createState();
	uint64_t h = 0;

	if (!ih)
		return 0;
	XXH3_64bits_reset(ih);
	for (uint64_t b = 0; b < journal_blocks(j); b++)
		if (journal_hash(j, b))
			image_hash_add(ih, b, journal_hash(j, b));
	h = XXH3_64bits_digest(ih);
	XXH3_freeState(ih);
	return h;
}

/* All of p at off: 0, or -errno (a file system that takes no more is
 * ENOSPC, even when it says so by writing less). */
static int write_all_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -ENOSPC;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Block b becomes a hole (it was zeroed at the source). */
static int punch(int fd, uint64_t size, uint64_t b, const uint8_t *zero)
{
	uint32_t len = block_len(size, b);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(b * MOVER_BLOCK), len) == 0)
		return 0;
	return write_all_at(fd, zero, len, b * MOVER_BLOCK);
}

/* A failure of the receiver's own (its disk, its journal) is told to the
 * sender, which stops; what it still sends meanwhile is drained (bounded)
 * so that the report is read before the connection closes. */
static void tell_failure(struct stream *s, const char *msg)
{
	uint8_t h[12], buf[65536];
	struct ferr e = {0};
	size_t n = strlen(msg) > FAIL_MSG_MAX ? FAIL_MSG_MAX : strlen(msg);
	int64_t end = time_mono_us() + 10000000;

	le_put(h, RESULT_MAGIC, 4);
	le_put(h + 4, RESULT_FAILED, 4);
	le_put(h + 8, n, 4);
	if (stream_write_all(s, h, 12, &e) < 0 || stream_write_all(s, msg, n, &e) < 0)
		return;
	while (time_mono_us() < end) {
		ssize_t r = stream_read(s, buf, sizeof(buf), &e);
		if (r == -EAGAIN) {
			struct pollfd pf = { stream_fd(s), POLLIN, 0 };
			if (!stream_pending(s))
				poll(&pf, 1, 100);
			continue;
		}
		if (r <= 0)
			return;
	}
}

/* Stream index of count starts afresh: its blocks of an old file go. */
static int clear_share(int fd, uint64_t size, uint32_t index, uint32_t count)
{
	uint64_t blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK;

	for (uint64_t b = (uint64_t)index * MOVER_STRIPE; b < blocks; b += (uint64_t)count * MOVER_STRIPE) {
		uint64_t n = blocks - b < MOVER_STRIPE ? blocks - b : MOVER_STRIPE;
		uint64_t off = b * MOVER_BLOCK, len = n * MOVER_BLOCK;
		if (off + len > size)
			len = size - off;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
			return -errno;
	}
	return 0;
}

int mover_receive(struct stream *s, const char *path, const char *jbase, bool keep_journal, uint32_t count,
		  struct mover_stats *st, struct ferr *err)
{
	bool told = false;   /* the offer was read: the sender can be told */
	bool local = false;  /* the failure is ours (disk, journal), not the stream's */
	uint8_t hdr[32], *payload = NULL, *out = NULL, *table = NULL;
	char jpath[4200];
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	struct journal *j = NULL;
	int fd = -1, r = -ENOMEM;
	enum journal_state js;

	memset(st, 0, sizeof(*st));
	payload = malloc(frame_payload_max());
	out = malloc(MOVER_BLOCK);
	if (!dctx || !payload || !out)
		goto out;
	if ((r = read_full(s, hdr, 32, err)) < 0)
		goto out;
	uint64_t size = le_get(hdr + 8, 8);
	uint32_t index = (uint32_t)le_get(hdr + 24, 4), n = (uint32_t)le_get(hdr + 28, 4);
	if (le_get(hdr, 4) != OFFER_MAGIC || le_get(hdr + 4, 4) != VERSION || size == 0 || size > MOVER_SIZE_MAX ||
	    n != (count ? count : 1) || index >= n) {
		ferr_set(err, "not a mover offer of this transfer (an image over 4 TiB, or another number of streams)");
		r = -EPROTO;
		goto out;
	}
	if (n > 1)
		snprintf(jpath, sizeof(jpath), "%s.%u-%u", jbase, index, n);
	else
		snprintf(jpath, sizeof(jpath), "%s", jbase);
	st->size = size;
	told = true;
	if (!(j = journal_open(jpath, size, &js))) {
		r = -errno;
		local = true;
		ferr_set(err, "cannot keep a journal at %s: %s", jpath, strerror(errno));
		goto out;
	}
	/* What the journal holds is in the file; a new journal, a new file (or,
	 * one stream of several, its share of the file cleared). */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (js == JOURNAL_NEW && n == 1 ? O_TRUNC : 0), 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || (js == JOURNAL_NEW && n > 1 && clear_share(fd, size, index, n) < 0)) {
		r = -errno;
		local = true;
		ferr_set(err, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (js == JOURNAL_DIRTY && (r = check_held(j, fd, size, out)) < 0) {
		local = true;
		ferr_set(err, "cannot read back %s: %s", path, strerror(-r));
		goto out;
	}
	uint64_t blocks = journal_blocks(j);
	r = -ENOMEM;
	if (!(table = malloc(blocks * 8))) {
		local = true;
		goto out;
	}
	for (st->passes = 1; st->passes <= MOVER_PASSES; st->passes++) {
		uint8_t w[16];
		le_put(w, WANT_MAGIC, 4);
		le_put(w + 4, 0, 4);
		le_put(w + 8, blocks, 8);
		journal_table(j, table);
		if ((r = stream_write_all(s, w, 16, err)) < 0 || (r = stream_write_all(s, table, blocks * 8, err)) < 0)
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
			/* A raw block is read where it is written from. */
			uint8_t *in = f.kind == FRAME_RAW ? out : payload;
			if ((r = read_full(s, in, f.payload, err)) < 0)
				goto out;
			st->frames++;
			st->wire_bytes += FRAME_HEADER + f.payload;
			if (frame_decode(dctx, &f, in, out) < 0) {
				bad++;   /* not written, not recorded: asked for again */
				continue;
			}
			uint64_t b = f.offset / MOVER_BLOCK;
			if (!mover_block_mine(b, index, n)) {
				ferr_set(err, "a frame of another stream's share: the stream cannot be trusted");
				r = -EPROTO;
				goto out;
			}
			if ((r = f.kind == FRAME_HOLE ? punch(fd, size, b, out) : write_all_at(fd, out, f.len, f.offset)) < 0) {
				local = true;
				ferr_set(err, "cannot write %s: %s", path, strerror(-r));
				goto out;
			}
			st->sent_bytes += f.kind == FRAME_HOLE ? 0 : f.len;
			journal_set(j, b, f.kind == FRAME_HOLE ? 0 : f.hash);
			/* Every 64 MiB: writeback starts, without waiting for it (the
			 * disk works while the stream does), and the journal is saved
			 * (a killed receiver resumes from it). Nothing waits for the
			 * disk before the end of the pass: after a crash the journal
			 * may name a block whose data was lost, and a journal not
			 * closed clean has its blocks read back when it is opened
			 * again (check_held). */
			if (++since_sync % 64 == 0) {
				sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
				journal_save(j);
			}
		}
		st->resent += bad;
		uint64_t mine = held_hash(j), theirs = le_get(hdr + 8, 8);
		bool done = bad == 0 && mine == theirs;
		if (!done && bad == 0) {
			/* Every frame checked, yet the image differs: what the journal
			 * holds cannot be trusted; start afresh next pass. */
			journal_reset(j);
			if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
				r = -errno;
				local = true;
				ferr_set(err, "cannot write %s: %s", path, strerror(errno));
				goto out;
			}
		}
		/* Done: the data and the journal on disk before the answer. */
		if (done && (r = journal_sync(j, fd)) < 0) {
			local = true;
			ferr_set(err, "cannot write %s: %s", path, strerror(-r));
			goto out;
		}
		uint8_t res[8];
		le_put(res, RESULT_MAGIC, 4);
		le_put(res + 4, done ? RESULT_DONE : RESULT_AGAIN, 4);
		if ((r = stream_write_all(s, res, 8, err)) < 0)
			goto out;
		if (done) {
			st->image_hash = mine;
			st->data_bytes = le_get(hdr + 16, 8);
			if (keep_journal) {
				r = journal_close_clean(j, fd);
				j = NULL;
			} else {
				journal_close(j);
				j = NULL;
				r = unlink(jpath) < 0 ? -errno : 0;
			}
			if (r < 0)
				ferr_set(err, "cannot finish the journal %s: %s", jpath, strerror(-r));
			goto out;
		}
	}
	ferr_set(err, "blocks still arrived damaged after %d passes", MOVER_PASSES);
	r = -EIO;
out:
	if (r == -ENOMEM && !err->msg[0])
		ferr_set(err, "out of memory");
	/* Our own failure (not the stream's): the sender hears why. */
	if (r < 0 && told && local)
		tell_failure(s, err->msg);
	/* Cut short: what was written and checked stays for the next run. */
	if (r < 0 && j && fd >= 0)
		journal_sync(j, fd);
	if (fd >= 0)
		close(fd);
	journal_close(j);
	ZSTD_freeDCtx(dctx);
	free(payload);
	free(out);
	free(table);
	return r;
}

/* mover.h: the disk mover's two ends over a stream (TLS-PSK between agents,
 * docs/mover.md). The sender offers an image (size, identity); the receiver
 * answers with the hash of every block its journal says it holds; the sender
 * sends every block whose content differs (frames: holes, raw, zstd), the
 * receiver checks each before it writes it and records it, and after each
 * pass both compare the image hash (over every non-zero block: its index and
 * xxh3). Blocks that did not arrive intact are asked for again, up to
 * MOVER_PASSES passes. The same exchange finishes an interrupted transfer or
 * brings a finished copy up to date with a source that changed since (the
 * final pass of a cold move). Both ends block; run them in a child. */
#ifndef FERRY_MOVER_H
#define FERRY_MOVER_H

#include <stdbool.h>
#include <stdint.h>
#include "net/stream.h"
#include "util/util.h"

#define MOVER_PASSES 3
/* Parallel streams: an image is cut into stripes of MOVER_STRIPE blocks
 * (64 MiB), dealt round-robin to the streams; each stream is a transfer of
 * its own (its own connection, journal, passes and hash). */
#define MOVER_STREAMS_MAX 8
#define MOVER_STREAMS_DEFAULT 2   /* bench/mover-vs-tools: 2 at once took 0.76 of 1's time here */
#define MOVER_STRIPE 64
#define MOVER_SIZE_MAX (4ULL << 40)   /* 4 TiB: a 32 MiB journal (8 bytes a MiB) */

struct mover_stats {
	uint64_t size;            /* of the image */
	uint64_t data_bytes;      /* in non-zero blocks */
	uint64_t sent_bytes;      /* of block content sent (holes count 0) */
	uint64_t wire_bytes;      /* frames on the stream */
	uint64_t frames, resent, skipped;   /* skipped: done in an earlier run */
	int passes;
	uint64_t image_hash;
	uint64_t pos;             /* how far the sender's walk got (bytes) */
};

/* Test only: flip one payload byte of the Nth frame sent (1-based), after
 * its hash was taken: the receiver must catch it. 0: never. */
extern uint64_t mover_fault_flip_frame;
/* Test only: stop (as if cut) after sending N frames. 0: never. */
extern uint64_t mover_fault_stop_after;

/* The image hash (the whole-image check): xxh3 over (index, block hash) of
 * every non-zero block, in order; state an XXH3_state_t. */
void mover_image_hash_add(void *state, uint64_t block, uint64_t hash);

/* Sends the open file fd (size bytes; source_id names this version of it,
 * e.g. from its inode, size and mtime). 0, or -errno with err. */
typedef void (*mover_progress_fn)(const struct mover_stats *st, void *opaque);
/* progress (may be NULL) is called about every 250 ms with the counts so far. */
/* index/count: this stream's share (0/1: the whole image). */
int mover_send(struct stream *s, int fd, uint64_t size, uint64_t source_id, uint32_t index, uint32_t count,
	       mover_progress_fn progress, void *opaque, struct mover_stats *st, struct ferr *err);
/* Receives into the file path, keeping its journal at jpath: what the journal
 * holds is not asked for again. On success the data is on disk, and the
 * journal is removed, or (keep_journal) closed clean for a later update of
 * the same copy. 0, or -errno with err; after a failure both stay for a later
 * run to resume. The caller decides the names (and renames when done). */
/* count: the streams the caller expects (the offer must say the same); with
 * more than one, the journal of stream K is jpath.K-COUNT. */
int mover_receive(struct stream *s, const char *path, const char *jpath, bool keep_journal, uint32_t count,
		  struct mover_stats *st, struct ferr *err);
/* Is block b stream index's of count? */
static inline bool mover_block_mine(uint64_t b, uint32_t index, uint32_t count)
{
	return count <= 1 || (b / MOVER_STRIPE) % count == index;
}

#endif

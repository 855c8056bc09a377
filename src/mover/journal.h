/* journal.h: what a receiving mover holds of the image it receives, kept
 * beside it: the xxh3-64 of every block it has written and checked (0: none,
 * the block is a hole). A later run sends its table to the sender, which
 * sends only the blocks whose hash differs: what an interrupted run did not
 * finish, or what changed at the source since (the final pass of a cold
 * move). A journal of another size, or a damaged one, starts afresh. */
#ifndef FERRY_MOVER_JOURNAL_H
#define FERRY_MOVER_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

struct journal;

enum journal_state {
	JOURNAL_NEW,     /* nothing held: the data file starts empty */
	JOURNAL_CLEAN,   /* closed by journal_close_clean: data and table on disk */
	JOURNAL_DIRTY,   /* left by a run that did not finish: check its blocks */
};

/* Opens (or creates) the journal at path for an image of size bytes, and
 * marks it dirty on disk until journal_close_clean. NULL with errno. */
struct journal *journal_open(const char *path, uint64_t size, enum journal_state *state);
uint64_t journal_blocks(const struct journal *j);
uint64_t journal_hash(const struct journal *j, uint64_t block);
/* Records a block's hash (0: it is a hole): call after its data is
 * written (the next journal_sync makes both durable, data first). */
void journal_set(struct journal *j, uint64_t block, uint64_t hash);
/* Blocks held (non-zero hash). */
uint64_t journal_count(const struct journal *j);
/* Forgets every block. */
void journal_reset(struct journal *j);
/* The changed part of the table to the file, without waiting for the disk:
 * survives the process (a kill), not always a crash (a dirty journal is
 * checked against the data when it is opened again). */
int journal_save(struct journal *j);
/* fdatasync(data_fd), then the table to disk: 0 or -errno. */
int journal_sync(struct journal *j, int data_fd);
/* The table as the wire carries it: journal_blocks() little-endian u64. */
void journal_table(const struct journal *j, uint8_t *out);
/* journal_sync, then marks it clean (its hashes can be trusted by the next
 * run without reading the data back). Closes it. */
int journal_close_clean(struct journal *j, int data_fd);
void journal_close(struct journal *j);

#endif

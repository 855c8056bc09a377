/* journal.h: what a receiving mover has verified and written, kept beside the
 * image being received so that a run after an interruption asks only for the
 * rest. A bitmap of blocks (MOVER_BLOCK), valid for one source image (its
 * size and identity); anything else, or a damaged journal, starts afresh. */
#ifndef FERRY_MOVER_JOURNAL_H
#define FERRY_MOVER_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

struct journal;

/* Opens (or creates) the journal at path for an image of size bytes from
 * the source identified by source_id. *resumed: blocks were already done.
 * NULL with errno on failure. */
struct journal *journal_open(const char *path, uint64_t size, uint64_t source_id, bool *resumed);
uint64_t journal_blocks(const struct journal *j);
bool journal_done(const struct journal *j, uint64_t block);
/* Marks a block done: call only after its data is written (the next
 * journal_sync makes both durable, data first). */
void journal_mark(struct journal *j, uint64_t block);
uint64_t journal_count(const struct journal *j);
/* The bitmap to the journal file, without waiting for the disk: survives
 * the process (a kill), not always a crash (the image check catches that). */
int journal_save(struct journal *j);
/* fdatasync(data_fd), then the bitmap to disk: 0 or -errno. */
int journal_sync(struct journal *j, int data_fd);
/* The bitmap, for the sender to skip what is done (journal_blocks bits). */
const uint8_t *journal_bitmap(const struct journal *j);
void journal_close(struct journal *j);

#endif

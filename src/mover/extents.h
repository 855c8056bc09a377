/* extents.h: the blocks of a file that hold data (SEEK_DATA/SEEK_HOLE), on
 * the mover's block grid: the sender reads only these. */
#ifndef FERRY_MOVER_EXTENTS_H
#define FERRY_MOVER_EXTENTS_H

#include <stdint.h>

/* From block *next on, the next block that may hold data: 0 with *block set
 * (and *next moved past it), 1 when there is none, -errno on error. A file
 * system without SEEK_DATA reports every block. */
int extents_next_block(int fd, uint64_t size, uint64_t *next, uint64_t *block);

/* Asks the kernel to read the data of [from, from + len) ahead, extent by
 * extent: never the holes (read ahead, a hole costs zeroed page cache). */
void extents_readahead(int fd, uint64_t from, uint64_t len, uint64_t size);

#endif

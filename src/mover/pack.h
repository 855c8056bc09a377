/* pack.h: a disk image as one file in the disk mover's format, kept beside a
 * saved guest (ferry save --with-disks, docs/save.md):
 *   "FERRY-DISK 1\n", u64 LE image size,
 *   a frame (frame.h) for every block that holds data, in order,
 *   "FMVE", u32 0, u64 LE image hash, u64 LE bytes of data.
 * Unpacking checks every frame and the whole image before it is in place. */
#ifndef FERRY_MOVER_PACK_H
#define FERRY_MOVER_PACK_H

#include "mover/mover.h"

#define PACK_MAGIC "FERRY-DISK 1\n"
#define PACK_MAGIC_LEN 13

/* Packs the image in (size bytes) into out: 0, or -errno with err. */
int mover_pack(int in, uint64_t size, int out, struct mover_stats *st, struct ferr *err);
/* Unpacks the packed image in into the new file path (sparse, written as
 * path.part and renamed when whole): 0, or -errno with err (nothing left). */
int mover_unpack(int in, const char *path, struct mover_stats *st, struct ferr *err);

#endif

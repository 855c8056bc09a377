/* initrd.h: the file names inside an initramfs as Debian builds them: one
 * or more newc cpio archives one after the other (an uncompressed early
 * one with CPU microcode, then the main one, zstd- or gzip-compressed or
 * not). The
 * image is input from anyone who made the disk: bounded, checked. */
#ifndef FERRY_INITRD_H
#define FERRY_INITRD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INITRD_MAX_OUT (1ULL << 30)   /* what a compressed part may unpack to */

/* Calls fn for each file name in p[0..n); 0, or -1 when a part is damaged
 * (xz, lz4 and lzma parts are not read: *unread set). */
typedef void (*initrd_name_fn)(const char *name, size_t len, void *opaque);
int initrd_names(const uint8_t *p, size_t n, initrd_name_fn fn, void *opaque, bool *unread);

#endif

/* statefile.h: ferry's saved-guest file (ferry save / restore, docs/save.md).
 *   "FERRY-STATE 1\n"  magic and version (14 bytes)
 *   u32 LE N, then N bytes of JSON (at most STATEFILE_HEADER_MAX): who wrote
 *     it (host, QEMU version, machine type, accelerator), the guest (name,
 *     config, RAM), when, and whether it was running
 *   QEMU's migration stream, as QEMU wrote it
 *   "FERRYEND", u64 LE length of the stream, u64 LE xxh3-64 of the stream.
 * The header is parsed and checked here, in one place (fuzzed); the stream
 * is checked against the trailer before QEMU sees a byte of it. */
#ifndef FERRY_SAVE_STATEFILE_H
#define FERRY_SAVE_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

#define STATEFILE_MAGIC "FERRY-STATE 1\n"
#define STATEFILE_MAGIC_LEN 14
#define STATEFILE_HEADER_MAX 65536
#define STATEFILE_TRAILER 24
#define STATEFILE_MAX_DISKS 8

struct statefile_header {
	char host[64];
	char qemu[32];       /* "7.2.11": the writer's QEMU (query-version) */
	char machine[64];    /* "pc-i440fx-7.2": its machine type */
	char accel[8];       /* "tcg" | "kvm" */
	char name[33];       /* the guest */
	char *config;        /* its config (canonical text) */
	long long ram_bytes;
	long long saved_us;  /* realtime */
	bool running;        /* was it running when saved (restored running unless --paused) */
	/* --with-disks: the disks packed beside it (FILE.disk-VDEV, pack.h). */
	char disks[STATEFILE_MAX_DISKS][8];
	int n_disks;
};

/* magic + length + JSON into a new buffer (*len bytes); NULL if the JSON
 * would exceed STATEFILE_HEADER_MAX. */
uint8_t *statefile_header_encode(const struct statefile_header *h, size_t *len);
/* Parses the header from the first n bytes of a file: 0 with *used (bytes
 * of magic, length and JSON), -EAGAIN when n is too short to tell, -EINVAL
 * with err when it is not a sound header. h->config is malloc'd. */
int statefile_header_parse(const uint8_t *p, size_t n, struct statefile_header *h, size_t *used, struct ferr *err);
void statefile_header_free(struct statefile_header *h);
void statefile_trailer_encode(uint64_t stream_len, uint64_t hash, uint8_t out[STATEFILE_TRAILER]);
int statefile_trailer_parse(const uint8_t in[STATEFILE_TRAILER], uint64_t *stream_len, uint64_t *hash);
/* Orders QEMU versions "MAJOR.MINOR[.MICRO]" (<0, 0, >0); -2 if either is
 * not a version. */
int statefile_version_cmp(const char *a, const char *b);

#endif

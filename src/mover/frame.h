/* frame.h: the disk mover's unit of transfer (docs/mover.md): one block of an
 * image, at most MOVER_BLOCK bytes, sent as a hole (all zeros: no payload),
 * raw, or zstd-compressed when that saves at least an eighth, with the
 * xxh3-64 hash of its content. The receiver checks a frame completely
 * (sizes, offset, decompression, hash) before any byte of it counts. */
#ifndef FERRY_MOVER_FRAME_H
#define FERRY_MOVER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOVER_BLOCK (1u << 20)
#define FRAME_HEADER 32
#define FRAME_MAGIC 0x4b4c4246u   /* "FBLK" */

enum frame_kind { FRAME_HOLE = 0, FRAME_RAW = 1, FRAME_ZSTD = 2 };

struct frame {
	enum frame_kind kind;
	uint64_t offset;      /* in the image; a multiple of MOVER_BLOCK */
	uint32_t len;         /* bytes of image the block covers */
	uint32_t payload;     /* bytes that follow the header */
	uint64_t hash;        /* xxh3-64 of the block's content */
};

/* The largest payload a frame may carry (a zstd frame's bound). */
size_t frame_payload_max(void);

/* Encodes data[0..len) at offset into out (FRAME_HEADER + frame_payload_max()
 * bytes): a hole when all zero, zstd when it pays (cctx may be NULL: then
 * never), else raw; hash is frame_hash(data, len), which the caller has
 * already. Returns the frame's total size; f describes it. */
struct ZSTD_CCtx_s;
size_t frame_encode(struct ZSTD_CCtx_s *cctx, int level, uint64_t offset, const void *data, uint32_t len, uint64_t hash,
		    uint8_t *out, struct frame *f);
/* The same for a block read in place at raw + FRAME_HEADER (raw has the
 * header's room before it): a raw frame is sent from raw without a copy, a
 * compressed one is built in zout (as out above). Returns the frame to send,
 * raw or zout; *n is its size. */
const uint8_t *frame_encode_inplace(struct ZSTD_CCtx_s *cctx, int level, uint64_t offset, uint8_t *raw, uint32_t len,
				    uint64_t hash, uint8_t *zout, struct frame *f, size_t *n);

/* Little-endian n-byte integers (n <= 8), the one encoding of every
 * header of the mover's (frames, offers, journal). */
void le_put(uint8_t *p, uint64_t v, int n);
uint64_t le_get(const uint8_t *p, int n);

/* Reads a header: 0, or -1 when it is not a valid one for an image of
 * image_size bytes (bad magic or kind, an offset off the block grid or past
 * the end, a length over MOVER_BLOCK or past the end, a payload that does not
 * fit its kind). */
int frame_parse_header(const uint8_t h[FRAME_HEADER], uint64_t image_size, struct frame *f);

/* Decodes f's payload into out (f->len bytes) and checks the hash: 0, or -1
 * (corrupt: it must not be written). A raw payload may already be in out
 * (payload == out). */
struct ZSTD_DCtx_s;
int frame_decode(struct ZSTD_DCtx_s *dctx, const struct frame *f, const uint8_t *payload, uint8_t *out);

/* True when p[0..n) is all zero (fast). */
bool frame_all_zero(const void *p, size_t n);
/* xxh3-64 of p[0..n). */
uint64_t frame_hash(const void *p, size_t n);
/* Bytes of block `block` of an image of size bytes (the last may be short). */
uint32_t frame_block_len(uint64_t size, uint64_t block);

#endif

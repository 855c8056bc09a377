/* frame.c: the disk mover's block frames (frame.h). */
#include "mover/frame.h"

#include <string.h>
#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define FRAME_SAMPLE 16384

size_t frame_payload_max(void)
{
	return ZSTD_COMPRESSBOUND(MOVER_BLOCK);
}

bool frame_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	/* The first 16 bytes, then the whole compared with itself shifted by
	 * 16: equal and starting with zeros means zeros throughout. */
	for (size_t i = 0; i < n && i < 16; i++)
		if (b[i])
			return false;
	return n <= 16 || !memcmp(b, b + 16, n - 16);
}

uint64_t frame_hash(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Header: magic u32, kind u16, 0 u16, offset u64, len u32, payload u32,
 * hash u64; little endian. */
static void put_header(uint8_t *h, const struct frame *f)
{
	le_put(h, FRAME_MAGIC, 4);
	h[4] = (uint8_t)f->kind;
	h[5] = h[6] = h[7] = 0;
	le_put(h + 8, f->offset, 8);
	le_put(h + 16, f->len, 4);
	le_put(h + 20, f->payload, 4);
	le_put(h + 24, f->hash, 8);
}

/* How data[0..len) travels: a hole, raw, or zstd into zout's payload (the
 * frame's header room before it); f filled but for the header bytes. */
static void choose(struct ZSTD_CCtx_s *cctx, int level, uint64_t offset, const uint8_t *data, uint32_t len,
		   uint64_t hash, uint8_t *zout, struct frame *f)
{
	f->offset = offset;
	f->len = len;
	f->hash = hash;
	f->payload = 0;
	f->kind = FRAME_HOLE;
	if (frame_all_zero(data, len))
		return;
	/* A sample first: a block whose middle 16 KiB zstd cannot shrink by a
	 * sixteenth (random, already compressed, encrypted) goes raw without
	 * compressing the whole of it in vain. */
	if (cctx && len >= 4 * FRAME_SAMPLE) {
		size_t zs = ZSTD_compressCCtx(cctx, zout + FRAME_HEADER, frame_payload_max(), data + len / 2,
					      FRAME_SAMPLE, level);
		if (!ZSTD_isError(zs) && zs > FRAME_SAMPLE - FRAME_SAMPLE / 16)
			cctx = NULL;
	}
	size_t z = cctx ? ZSTD_compressCCtx(cctx, zout + FRAME_HEADER, frame_payload_max(), data, len, level) : 0;
	if (cctx && !ZSTD_isError(z) && z <= len - len / 8) {
		f->kind = FRAME_ZSTD;
		f->payload = (uint32_t)z;
	} else {
		f->kind = FRAME_RAW;
		f->payload = len;
	}
}

size_t frame_encode(struct ZSTD_CCtx_s *cctx, int level, uint64_t offset, const void *data, uint32_t len, uint64_t hash,
		    uint8_t *out, struct frame *f)
{
	choose(cctx, level, offset, data, len, hash, out, f);
	if (f->kind == FRAME_RAW)
		memcpy(out + FRAME_HEADER, data, len);
	put_header(out, f);
	return FRAME_HEADER + f->payload;
}

const uint8_t *frame_encode_inplace(struct ZSTD_CCtx_s *cctx, int level, uint64_t offset, uint8_t *raw, uint32_t len,
				    uint64_t hash, uint8_t *zout, struct frame *f, size_t *n)
{
	choose(cctx, level, offset, raw + FRAME_HEADER, len, hash, zout, f);
	uint8_t *out = f->kind == FRAME_RAW ? raw : zout;
	put_header(out, f);
	*n = FRAME_HEADER + f->payload;
	return out;
}

int frame_parse_header(const uint8_t h[FRAME_HEADER], uint64_t image_size, struct frame *f)
{
	if (le_get(h, 4) != FRAME_MAGIC || h[4] > FRAME_ZSTD || h[5] || h[6] || h[7])
		return -1;
	f->kind = (enum frame_kind)h[4];
	f->offset = le_get(h + 8, 8);
	f->len = (uint32_t)le_get(h + 16, 4);
	f->payload = (uint32_t)le_get(h + 20, 4);
	f->hash = le_get(h + 24, 8);
	if (f->offset % MOVER_BLOCK || f->offset >= image_size || f->len == 0 || f->len > MOVER_BLOCK ||
	    f->len > image_size - f->offset)
		return -1;
	/* Every block but the last is whole. */
	if (f->len != MOVER_BLOCK && f->offset + f->len != image_size)
		return -1;
	switch (f->kind) {
	case FRAME_HOLE: return f->payload == 0 ? 0 : -1;
	case FRAME_RAW: return f->payload == f->len ? 0 : -1;
	case FRAME_ZSTD: return f->payload > 0 && f->payload < f->len && f->payload <= frame_payload_max() ? 0 : -1;
	}
	return -1;
}

int frame_decode(struct ZSTD_DCtx_s *dctx, const struct frame *f, const uint8_t *payload, uint8_t *out)
{
	switch (f->kind) {
	case FRAME_HOLE:
		memset(out, 0, f->len);
		break;
	case FRAME_RAW:
		if (out != payload)
			memcpy(out, payload, f->len);
		break;
	case FRAME_ZSTD: {
		/* The frame must say its size, and it must be the block's. */
		unsigned long long n = ZSTD_getFrameContentSize(payload, f->payload);
		if (n != f->len)
			return -1;
		size_t got = ZSTD_decompressDCtx(dctx, out, f->len, payload, f->payload);
		if (ZSTD_isError(got) || got != f->len)
			return -1;
		break;
	}
	default:
		return -1;
	}
	return frame_hash(out, f->len) == f->hash ? 0 : -1;
}

uint32_t frame_block_len(uint64_t size, uint64_t block)
{
	uint64_t left = size - block * MOVER_BLOCK;
	return left < MOVER_BLOCK ? (uint32_t)left : MOVER_BLOCK;
}

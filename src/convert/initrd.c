/* initrd.c: file names in a Debian initramfs (initrd.h). */
#include "convert/initrd.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static unsigned long hex8(const uint8_t *p, bool *ok)
{
	unsigned long v = 0;

	for (int i = 0; i < 8; i++) {
		int c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
		else *ok = false;
	}
	return v;
}

/* One newc archive from p: its names to fn; the bytes it took, or 0. */
static size_t cpio(const uint8_t *p, size_t n, initrd_name_fn fn, void *opaque)
{
	size_t off = 0;

	while (off + 110 <= n && !memcmp(p + off, "070701", 6)) {
		bool ok = true;
		unsigned long fsize = hex8(p + off + 54, &ok), nsize = hex8(p + off + 94, &ok);
		if (!ok || nsize == 0 || nsize > 4096 || off + 110 + nsize > n)
			return 0;
		const char *name = (const char *)p + off + 110;
		size_t len = strnlen(name, nsize);
		size_t data = (off + 110 + nsize + 3) & ~(size_t)3;
		if (data > n || fsize > n - data)
			return 0;
		if (len == 10 && !memcmp(name, "TRAILER!!!", 10))
			return (data + fsize + 3) & ~(size_t)3;
		fn(name, len, opaque);
		off = (data + fsize + 3) & ~(size_t)3;
	}
	return 0;
}

/* The cpio archives in out[0..len) (a decompressed part): 0 or -1. */
static int walk(const uint8_t *out, size_t len, initrd_name_fn fn, void *opaque)
{
	size_t o = 0;

	while (o < len) {
		while (o < len && out[o] == 0)
			o++;
		if (o >= len)
			break;
		size_t used = cpio(out + o, len - o, fn, opaque);
		if (!used)
			return -1;
		o += used;
	}
	return 0;
}

/* A gzip part (the rest of the image): inflated, then walked. */
static int gunzip(const uint8_t *p, size_t n, initrd_name_fn fn, void *opaque)
{
	z_stream z;
	size_t cap = 64 << 20;
	uint8_t *out = malloc(cap);
	int r = -1;

	memset(&z, 0, sizeof(z));
	if (!out || inflateInit2(&z, 15 + 16) != Z_OK) {
		free(out);
		return -1;
	}
	z.next_in = (Bytef *)p;
	z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
	for (;;) {
		if (z.total_out == cap) {
			uint8_t *bigger = cap * 2 <= INITRD_MAX_OUT ? realloc(out, cap * 2) : NULL;
			if (!bigger)
				break;
			out = bigger;
			cap *= 2;
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		int ret = inflate(&z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END) {
			r = walk(out, z.total_out, fn, opaque);
			break;
		}
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			break;
		if (ret == Z_BUF_ERROR && z.avail_in == 0)
			break;   /* truncated */
	}
	inflateEnd(&z);
	free(out);
	return r;
}

int initrd_names(const uint8_t *p, size_t n, initrd_name_fn fn, void *opaque, bool *unread)
{
	size_t off = 0;

	*unread = false;
	while (off < n) {
		/* Padding between the parts. */
		while (off < n && p[off] == 0)
			off++;
		if (off >= n)
			break;
		if (n - off >= 6 && !memcmp(p + off, "070701", 6)) {
			size_t used = cpio(p + off, n - off, fn, opaque);
			if (!used)
				return -1;
			off += used;
			continue;
		}
		if (n - off >= 4 && p[off] == 0x28 && p[off + 1] == 0xb5 && p[off + 2] == 0x2f && p[off + 3] == 0xfd) {
			/* The rest is one zstd stream (frames one after another). */
			ZSTD_DStream *z = ZSTD_createDStream();
			size_t cap = 64 << 20, len = 0;
			uint8_t *out = malloc(cap);
			ZSTD_inBuffer in = { p + off, n - off, 0 };
			int r = 0;
			if (!z || !out || ZSTD_isError(ZSTD_initDStream(z)))
				r = -1;
			while (!r && in.pos < in.size) {
				if (len == cap) {
					uint8_t *bigger = cap * 2 <= INITRD_MAX_OUT ? realloc(out, cap * 2) : NULL;
					if (!bigger) {
						r = -1;
						break;
					}
					out = bigger;
					cap *= 2;
				}
				ZSTD_outBuffer ob = { out, cap, len };
				size_t ret = ZSTD_decompressStream(z, &ob, &in);
				len = ob.pos;
				if (ZSTD_isError(ret))
					r = -1;
				else if (ret == 0 && in.pos < in.size && p[off + in.pos] == 0)
					break;   /* padding after the last frame */
			}
			ZSTD_freeDStream(z);
			if (!r)
				r = walk(out, len, fn, opaque);
			free(out);
			return r;
		}
		if (n - off >= 2 && p[off] == 0x1f && p[off + 1] == 0x8b)
			return gunzip(p + off, n - off, fn, opaque);
		*unread = true;   /* xz, lz4, lzma...: not read here */
		return 0;
	}
	return 0;
}

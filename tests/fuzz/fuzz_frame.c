/* fuzz_frame: the disk mover's frames as a peer could send them: a header,
 * then its payload; whatever is accepted decodes to exactly the block's
 * length and matches its hash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "mover/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ZSTD_DCtx *d;
	static uint8_t *out;
	struct frame f;

	if (!d) {
		d = ZSTD_createDCtx();
		out = malloc(MOVER_BLOCK);
	}
	if (size < FRAME_HEADER)
		return 0;
	/* An image of 16 blocks and a bit. */
	if (frame_parse_header(data, 16 * (uint64_t)MOVER_BLOCK + 777, &f) < 0)
		return 0;
	if (f.len > MOVER_BLOCK || f.payload > frame_payload_max())
		abort();
	if (size - FRAME_HEADER < f.payload)
		return 0;
	if (frame_decode(d, &f, data + FRAME_HEADER, out) == 0 && frame_hash(out, f.len) != f.hash)
		abort();
	return 0;
}

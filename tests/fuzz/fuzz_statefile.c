/* fuzz_statefile: a saved-guest file's header and trailer as they could
 * come from a damaged or hostile file: whatever parses is bounded (its
 * length inside what was given, its strings within their fields, printable)
 * and encodes back to a header that parses the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "save/statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct statefile_header h, h2;
	struct ferr err = {0};
	size_t used = 0, len = 0, used2 = 0;
	uint64_t n, x;

	if (size >= STATEFILE_TRAILER)
		statefile_trailer_parse(data + size - STATEFILE_TRAILER, &n, &x);
	if (statefile_header_parse(data, size, &h, &used, &err) != 0)
		return 0;
	if (used > size || !h.config || strlen(h.name) >= sizeof(h.name) || h.ram_bytes <= 0)
		abort();
	for (const char *c = h.machine; *c; c++)
		if ((unsigned char)*c < 32)
			abort();
	uint8_t *enc = statefile_header_encode(&h, &len);
	if (enc) {
		if (statefile_header_parse(enc, len, &h2, &used2, &err) != 0 || used2 != len || strcmp(h2.name, h.name) ||
		    strcmp(h2.config, h.config) || h2.ram_bytes != h.ram_bytes || h2.running != h.running)
			abort();
		statefile_header_free(&h2);
		free(enc);
	}
	statefile_header_free(&h);
	return 0;
}

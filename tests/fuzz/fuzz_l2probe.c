/* fuzz_l2probe: any frame on the VM network may reach the source's probe
 * socket (a guest's too): matching reads nothing past the frame, only a
 * frame carrying the nonce matches, and a nonce read is 32 hex digits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/l2probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char nonce[] = "0123456789abcdef0123456789abcdef";
	/* A copy of exactly size bytes: ASan sees any read past it. */
	uint8_t *f = malloc(size ? size : 1);

	memcpy(f, data, size);
	char got[L2PROBE_NONCE_LEN + 1];
	if (l2probe_match(f, size, nonce) && (size < 54 || memcmp(f + 22, nonce, 32)))
		abort();
	if (l2probe_nonce_of(f, size, got) && (strlen(got) != 32 || strspn(got, "0123456789abcdef") != 32))
		abort();
	free(f);
	return 0;
}

/* fuzz_initrd: an initramfs out of a disk image anyone made: its cpio and
 * compressed parts read without a crash and within bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert/initrd.h"

static void name(const char *n, size_t len, void *opaque)
{
	size_t *total = opaque;
	/* touch every byte of the name: ASan sees a read past it */
	for (size_t i = 0; i < len; i++)
		*total += (unsigned char)n[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	size_t total = 0;
	bool unread;

	memcpy(copy, data, size);
	initrd_names(copy, size, name, &total, &unread);
	free(copy);
	return 0;
}

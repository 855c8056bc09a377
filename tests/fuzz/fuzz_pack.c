/* fuzz_pack: a packed disk image (ferry save --with-disks) as a damaged or
 * hostile file could hold it: unpacking either refuses it, leaving nothing,
 * or puts in place an image whose every block matched its hash. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "mover/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], part[80];
	struct mover_stats st;
	struct ferr err = {0};
	int fd = memfd_create("pack", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	snprintf(path, sizeof(path), "/tmp/fuzz-unpack-%d.img", (int)getpid());
	snprintf(part, sizeof(part), "%s.part", path);
	unlink(path);
	int r = mover_unpack(fd, path, &st, &err);
	close(fd);
	if (r < 0 && (access(path, F_OK) == 0 || access(part, F_OK) == 0))
		abort();   /* a refused pack leaves nothing */
	if (r == 0 && (!err.msg[0]) && st.size == 0)
		abort();
	unlink(path);
	return 0;
}

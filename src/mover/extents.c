/* extents.c: data blocks of a sparse file (extents.h). */
#include "mover/extents.h"
#include "mover/frame.h"

#include <errno.h>
#include <unistd.h>

int extents_next_block(int fd, uint64_t size, uint64_t *next, uint64_t *block)
{
	uint64_t from = *next * MOVER_BLOCK;

	if (from >= size)
		return 1;
	off_t d = lseek(fd, (off_t)from, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)   /* only a hole from here on */
			return 1;
		if (errno != EINVAL && errno != EOPNOTSUPP)
			return -errno;
		d = (off_t)from;      /* no SEEK_DATA here: every block */
	}
	if ((uint64_t)d >= size)
		return 1;
	*block = (uint64_t)d / MOVER_BLOCK;
	*next = *block + 1;
	return 0;
}

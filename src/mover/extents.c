/* extents.c: data blocks of a sparse file (extents.h). */
#include "mover/extents.h"
#include "mover/frame.h"

#include <errno.h>
#include <fcntl.h>
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

void extents_readahead(int fd, uint64_t from, uint64_t len, uint64_t size)
{
	uint64_t end = from + len > size ? size : from + len;

	while (from < end) {
		off_t d = lseek(fd, (off_t)from, SEEK_DATA);
		if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
			d = (off_t)from;   /* no SEEK_DATA: all of it */
		else if (d < 0 || (uint64_t)d >= end)
			return;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		if (h <= d)
			return;
		posix_fadvise(fd, d, h - d, POSIX_FADV_WILLNEED);
		from = (uint64_t)h;
	}
}

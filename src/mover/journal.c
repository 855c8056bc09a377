/* journal.c: the receiving mover's journal (journal.h). On disk: a 32-byte
 * header (magic "FJNL", version 1, the image's size, the source's identity,
 * the block size) and the bitmap. */
#include "mover/journal.h"
#include "mover/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define JHEAD 32

struct journal {
	int fd;
	uint64_t size, source_id, blocks, count;
	uint8_t *bits;
	size_t nbytes;
};

static void header(const struct journal *j, uint8_t h[JHEAD])
{
	memset(h, 0, JHEAD);
	memcpy(h, "FJNL", 4);
	h[4] = 1;
	le_put(h + 8, j->size, 8);
	le_put(h + 16, j->source_id, 8);
	le_put(h + 24, MOVER_BLOCK, 4);
}

struct journal *journal_open(const char *path, uint64_t size, uint64_t source_id, bool *resumed)
{
	struct journal *j = calloc(1, sizeof(*j));
	uint8_t want[JHEAD], got[JHEAD];

	*resumed = false;
	if (!j)
		return NULL;
	j->size = size;
	j->source_id = source_id;
	j->blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK;
	j->nbytes = (size_t)((j->blocks + 7) / 8);
	j->bits = calloc(1, j->nbytes + 1);
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (!j->bits || j->fd < 0) {
		int e = errno;
		journal_close(j);
		errno = e;
		return NULL;
	}
	header(j, want);
	struct stat st;
	if (fstat(j->fd, &st) == 0 && (uint64_t)st.st_size == JHEAD + j->nbytes &&
	    pread(j->fd, got, JHEAD, 0) == JHEAD && !memcmp(got, want, JHEAD) &&
	    pread(j->fd, j->bits, j->nbytes, JHEAD) == (ssize_t)j->nbytes) {
		/* Bits past the last block must be clear in a sound journal. */
		for (uint64_t b = j->blocks; b < j->nbytes * 8; b++)
			if (j->bits[b / 8] & (1u << (b % 8)))
				goto fresh;
		for (uint64_t b = 0; b < j->blocks; b++)
			j->count += journal_done(j, b);
		*resumed = j->count > 0;
		return j;
	}
fresh:
	memset(j->bits, 0, j->nbytes);
	j->count = 0;
	if (ftruncate(j->fd, 0) < 0 || pwrite(j->fd, want, JHEAD, 0) != JHEAD ||
	    pwrite(j->fd, j->bits, j->nbytes, JHEAD) != (ssize_t)j->nbytes || fdatasync(j->fd) < 0) {
		int e = errno;
		journal_close(j);
		errno = e;
		return NULL;
	}
	return j;
}

uint64_t journal_blocks(const struct journal *j)
{
	return j->blocks;
}

bool journal_done(const struct journal *j, uint64_t block)
{
	return block < j->blocks && (j->bits[block / 8] & (1u << (block % 8)));
}

void journal_mark(struct journal *j, uint64_t block)
{
	if (block >= j->blocks || journal_done(j, block))
		return;
	j->bits[block / 8] |= (uint8_t)(1u << (block % 8));
	j->count++;
}

uint64_t journal_count(const struct journal *j)
{
	return j->count;
}

int journal_save(struct journal *j)
{
	return pwrite(j->fd, j->bits, j->nbytes, JHEAD) == (ssize_t)j->nbytes ? 0 : -EIO;
}

int journal_sync(struct journal *j, int data_fd)
{
	if (data_fd >= 0 && fdatasync(data_fd) < 0)
		return -errno;
	if (pwrite(j->fd, j->bits, j->nbytes, JHEAD) != (ssize_t)j->nbytes)
		return -EIO;
	return fdatasync(j->fd) < 0 ? -errno : 0;
}

const uint8_t *journal_bitmap(const struct journal *j)
{
	return j->bits;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->bits);
	free(j);
}

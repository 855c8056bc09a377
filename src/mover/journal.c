/* journal.c: the receiving mover's journal (journal.h). On disk: a 32-byte
 * header (magic "FJNL", version 2, a clean flag, the image's size, the block
 * size) and a little-endian u64 per block. */
#include "mover/journal.h"
#include "mover/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define JHEAD 32
#define SAVE_CHUNK 4096   /* entries converted per write */

struct journal {
	int fd;
	uint64_t size, blocks, count;
	uint64_t *hash;
	uint64_t lo, hi;      /* entries changed since the last save: [lo, hi) */
};

static void header(const struct journal *j, uint8_t h[JHEAD], bool clean)
{
	memset(h, 0, JHEAD);
	memcpy(h, "FJNL", 4);
	h[4] = 2;
	h[5] = clean;
	le_put(h + 8, j->size, 8);
	le_put(h + 16, MOVER_BLOCK, 4);
}

static int write_range(struct journal *j, uint64_t lo, uint64_t hi)
{
	uint8_t buf[SAVE_CHUNK * 8];

	while (lo < hi) {
		uint64_t n = hi - lo < SAVE_CHUNK ? hi - lo : SAVE_CHUNK;
		for (uint64_t i = 0; i < n; i++)
			le_put(buf + i * 8, j->hash[lo + i], 8);
		if (pwrite(j->fd, buf, n * 8, (off_t)(JHEAD + lo * 8)) != (ssize_t)(n * 8))
			return -EIO;
		lo += n;
	}
	return 0;
}

static int write_flag(struct journal *j, bool clean)
{
	uint8_t h[JHEAD];
	header(j, h, clean);
	return pwrite(j->fd, h, JHEAD, 0) == JHEAD ? 0 : -EIO;
}

/* Reads a sound journal of this size into j->hash: its clean flag, or -1. */
static int load(struct journal *j)
{
	uint8_t want[JHEAD], got[JHEAD], buf[SAVE_CHUNK * 8];
	struct stat st;

	header(j, want, false);
	if (fstat(j->fd, &st) < 0 || (uint64_t)st.st_size != JHEAD + j->blocks * 8 ||
	    pread(j->fd, got, JHEAD, 0) != JHEAD || got[5] > 1)
		return -1;
	int clean = got[5];
	got[5] = 0;
	if (memcmp(got, want, JHEAD))
		return -1;
	for (uint64_t b = 0; b < j->blocks; b += SAVE_CHUNK) {
		uint64_t n = j->blocks - b < SAVE_CHUNK ? j->blocks - b : SAVE_CHUNK;
		if (pread(j->fd, buf, n * 8, (off_t)(JHEAD + b * 8)) != (ssize_t)(n * 8))
			return -1;
		for (uint64_t i = 0; i < n; i++)
			j->hash[b + i] = le_get(buf + i * 8, 8);
	}
	return clean;
}

struct journal *journal_open(const char *path, uint64_t size, enum journal_state *state)
{
	struct journal *j = calloc(1, sizeof(*j));

	*state = JOURNAL_NEW;
	if (!j)
		return NULL;
	j->size = size;
	j->blocks = (size + MOVER_BLOCK - 1) / MOVER_BLOCK;
	j->hash = calloc(j->blocks + 1, sizeof(uint64_t));
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (!j->hash || j->fd < 0)
		goto fail;
	int clean = load(j);
	if (clean >= 0) {
		for (uint64_t b = 0; b < j->blocks; b++)
			j->count += j->hash[b] != 0;
		if (j->count) {
			*state = clean ? JOURNAL_CLEAN : JOURNAL_DIRTY;
			if (clean && (write_flag(j, false) < 0 || fdatasync(j->fd) < 0))
				goto fail;
			return j;
		}
	}
	memset(j->hash, 0, j->blocks * sizeof(uint64_t));
	j->count = 0;
	uint8_t h[JHEAD];
	header(j, h, false);
	if (ftruncate(j->fd, 0) < 0 || pwrite(j->fd, h, JHEAD, 0) != JHEAD ||
	    ftruncate(j->fd, (off_t)(JHEAD + j->blocks * 8)) < 0 || fdatasync(j->fd) < 0)
		goto fail;
	return j;
fail:;
	int e = errno ? errno : EIO;
	journal_close(j);
	errno = e;
	return NULL;
}

uint64_t journal_blocks(const struct journal *j)
{
	return j->blocks;
}

uint64_t journal_hash(const struct journal *j, uint64_t block)
{
	return block < j->blocks ? j->hash[block] : 0;
}

void journal_set(struct journal *j, uint64_t block, uint64_t hash)
{
	if (block >= j->blocks || j->hash[block] == hash)
		return;
	j->count += (hash != 0) - (j->hash[block] != 0);
	j->hash[block] = hash;
	if (j->lo >= j->hi) {
		j->lo = block;
		j->hi = block + 1;
	} else {
		j->lo = block < j->lo ? block : j->lo;
		j->hi = block + 1 > j->hi ? block + 1 : j->hi;
	}
}

uint64_t journal_count(const struct journal *j)
{
	return j->count;
}

void journal_reset(struct journal *j)
{
	memset(j->hash, 0, j->blocks * sizeof(uint64_t));
	j->count = 0;
	j->lo = 0;
	j->hi = j->blocks;
}

int journal_save(struct journal *j)
{
	if (j->lo >= j->hi)
		return 0;
	int r = write_range(j, j->lo, j->hi);
	if (r == 0)
		j->lo = j->hi = 0;
	return r;
}

int journal_sync(struct journal *j, int data_fd)
{
	if (data_fd >= 0 && fdatasync(data_fd) < 0)
		return -errno;
	if (journal_save(j) < 0)
		return -EIO;
	return fdatasync(j->fd) < 0 ? -errno : 0;
}

void journal_table(const struct journal *j, uint8_t *out)
{
	for (uint64_t b = 0; b < j->blocks; b++)
		le_put(out + b * 8, j->hash[b], 8);
}

int journal_close_clean(struct journal *j, int data_fd)
{
	int r = journal_sync(j, data_fd);
	if (r == 0)
		r = write_flag(j, true);
	if (r == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	journal_close(j);
	return r;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->hash);
	free(j);
}

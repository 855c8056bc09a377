/* test_transfer.c: the mover's two ends over a socket pair: a sparse image
 * with scattered data and zeros arrives identical and sparse; a byte flipped
 * in transit is caught, asked for again and never written as good; a
 * transfer cut halfway and run again sends less than half the second time;
 * a finished copy kept with its journal is brought up to date with a source
 * that changed since by sending only what changed (the final pass of a cold
 * move). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/falloc.h>

#include "mover/frame.h"
#include "mover/mover.h"

#define SIZE (128ULL << 20)

static char dir[64], src[128], dst[128], jrn[140];
static bool keep_journal;

struct recv_arg {
	uint32_t count;
	struct stream *s;
	struct mover_stats st;
	struct ferr err;
	int r;
};

static void *receiver(void *opaque)
{
	struct recv_arg *a = opaque;
	a->r = mover_receive(a->s, dst, jrn, keep_journal, a->count ? a->count : 1, &a->st, &a->err);
	stream_free(a->s);
	return NULL;
}

/* Runs one transfer of src to dst: the sender's result. */
static int transfer(struct mover_stats *sst, struct recv_arg *ra)
{
	int sv[2];
	pthread_t t;
	struct ferr err = {0};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(ra, 0, sizeof(*ra));
	ra->s = stream_new_server(sv[1], NULL);
	pthread_create(&t, NULL, receiver, ra);
	struct stream *s = stream_new_client(sv[0], NULL);
	int fd = open(src, O_RDONLY);
	int r = mover_send(s, fd, SIZE, 7, 0, 1, NULL, NULL, sst, &err);
	close(fd);
	stream_free(s);   /* a cut stream ends the receiver too */
	pthread_join(t, NULL);
	return r;
}

static uint64_t allocated(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static bool same_files(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", src, dst);
	return system(cmd) == 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-mover-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src.img", dir);
	snprintf(dst, sizeof(dst), "%s/dst.img", dir);
	snprintf(jrn, sizeof(jrn), "%s/dst.img.journal", dir);
	/* 128 MiB sparse: random data in 24 scattered blocks, text in 8, a
	 * written block of zeros (all in the first 64 MiB), and holes. */
	int fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *b = malloc(MOVER_BLOCK);
	uint32_t x = 99;
	assert_int_equal(ftruncate(fd, SIZE), 0);
	for (int k = 0; k < 32; k++) {
		for (size_t i = 0; i < MOVER_BLOCK; i++) {
			x = x * 1103515245 + 12345;
			b[i] = k < 24 ? (uint8_t)(x >> 16) : (uint8_t)"scattered data "[i % 15];
		}
		assert_int_equal(pwrite(fd, b, MOVER_BLOCK, (off_t)(k * 2 + 1) * MOVER_BLOCK), MOVER_BLOCK);
	}
	memset(b, 0, MOVER_BLOCK);
	assert_int_equal(pwrite(fd, b, MOVER_BLOCK, (off_t)62 * MOVER_BLOCK), MOVER_BLOCK);
	free(b);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[100];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void clean_dst(void)
{
	unlink(dst);
	unlink(jrn);
}

static void arrives_identical_and_sparse(void **state)
{
	struct mover_stats st;
	struct recv_arg ra;

	(void)state;
	clean_dst();
	assert_int_equal(transfer(&st, &ra), 0);
	assert_int_equal(ra.r, 0);
	assert_true(same_files());
	assert_int_equal(st.frames, 32);                   /* the zero block went as nothing */
	assert_int_equal(st.data_bytes, 32ULL * MOVER_BLOCK);
	assert_true(st.wire_bytes < 26ULL * MOVER_BLOCK);  /* text compressed */
	assert_true(allocated(dst) <= 33ULL * MOVER_BLOCK); /* sparse */
	assert_int_equal(st.image_hash, ra.st.image_hash);
	assert_int_not_equal(access(jrn, F_OK), 0);        /* journal gone */
}

static void flipped_byte_is_caught(void **state)
{
	struct mover_stats st;
	struct recv_arg ra;

	(void)state;
	clean_dst();
	mover_fault_flip_frame = 5;
	int r = transfer(&st, &ra);
	mover_fault_flip_frame = 0;
	assert_int_equal(r, 0);
	assert_int_equal(ra.st.resent, 1);    /* caught, not written */
	assert_int_equal(st.passes, 2);       /* asked for again */
	assert_int_equal(st.resent, 1);
	assert_true(same_files());
}

static void cut_transfer_resumes(void **state)
{
	struct mover_stats st;
	struct recv_arg ra;

	(void)state;
	clean_dst();
	mover_fault_stop_after = 20;   /* of 32 data blocks */
	assert_int_not_equal(transfer(&st, &ra), 0);
	mover_fault_stop_after = 0;
	assert_int_not_equal(ra.r, 0);
	assert_int_equal(access(jrn, F_OK), 0);       /* what arrived is noted */
	assert_int_equal(st.sent_bytes, 20ULL * MOVER_BLOCK);
	assert_int_equal(transfer(&st, &ra), 0);
	assert_int_equal(ra.r, 0);
	assert_true(same_files());
	assert_int_equal(st.skipped, 20);                  /* the journal kept them */
	assert_true(st.sent_bytes < st.data_bytes / 2);    /* only the rest */
}

static void changed_source_updates(void **state)
{
	struct mover_stats st;
	struct recv_arg ra;
	uint8_t *b = malloc(MOVER_BLOCK);

	(void)state;
	clean_dst();
	keep_journal = true;
	assert_int_equal(transfer(&st, &ra), 0);
	assert_int_equal(access(jrn, F_OK), 0);            /* kept, clean */
	/* The source changes: two blocks rewritten, one punched out, one
	 * written where there was a hole. */
	int fd = open(src, O_RDWR);
	memset(b, 0x5a, MOVER_BLOCK);
	assert_int_equal(pwrite(fd, b, MOVER_BLOCK, 3LL * MOVER_BLOCK), MOVER_BLOCK);
	assert_int_equal(pwrite(fd, b, 100, 41LL * MOVER_BLOCK + 7), 100);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5LL * MOVER_BLOCK, MOVER_BLOCK), 0);
	assert_int_equal(pwrite(fd, b, MOVER_BLOCK, 20LL * MOVER_BLOCK), MOVER_BLOCK);
	close(fd);
	free(b);
	uint64_t before = allocated(dst);
	keep_journal = false;
	assert_int_equal(transfer(&st, &ra), 0);
	assert_int_equal(ra.r, 0);
	assert_true(same_files());
	assert_int_equal(st.frames, 4);                    /* 3 blocks and a hole */
	assert_int_equal(st.sent_bytes, 3ULL * MOVER_BLOCK);
	assert_int_equal(st.image_hash, ra.st.image_hash);
	assert_true(allocated(dst) <= before);             /* the hole punched */
	assert_int_not_equal(access(jrn, F_OK), 0);
}

/* A failure of the receiver's own reaches the sender with its reason. */
static void receiver_failure_is_told(void **state)
{
	struct mover_stats st;
	struct recv_arg ra;
	struct ferr err = {0};
	char saved[sizeof(jrn)];
	int sv[2];
	pthread_t t;

	(void)state;
	clean_dst();
	memcpy(saved, jrn, sizeof(jrn));
	snprintf(jrn, sizeof(jrn), "%s/no/such/folder.journal", dir);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&ra, 0, sizeof(ra));
	ra.s = stream_new_server(sv[1], NULL);
	pthread_create(&t, NULL, receiver, &ra);
	struct stream *s = stream_new_client(sv[0], NULL);
	int fd = open(src, O_RDONLY);
	int r = mover_send(s, fd, SIZE, 7, 0, 1, NULL, NULL, &st, &err);
	close(fd);
	stream_free(s);
	pthread_join(t, NULL);
	memcpy(jrn, saved, sizeof(jrn));
	assert_int_not_equal(r, 0);
	assert_non_null(strstr(err.msg, "the receiver stopped: cannot keep a journal"));
}

/* Two streams, each its share of 64 MiB stripes (a block in the second
 * stripe for stream 1), then three (the third has nothing, and still ends
 * in order): identical, each stream's journal gone. */
static void streams_split_the_image(void **state)
{
	(void)state;
	int wfd = open(src, O_RDWR);
	assert_int_equal(pwrite(wfd, "second stripe", 13, 100LL << 20), 13);
	close(wfd);
	for (uint32_t n = 2; n <= 3; n++) {
		struct recv_arg ra[3];
		struct mover_stats st[3];
		pthread_t t[3];
		int sv[3][2];
		uint64_t sent = 0;

		clean_dst();
		for (uint32_t k = 0; k < n; k++) {
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[k]), 0);
			memset(&ra[k], 0, sizeof(ra[k]));
			ra[k].count = n;
			ra[k].s = stream_new_server(sv[k][1], NULL);
			pthread_create(&t[k], NULL, receiver, &ra[k]);
		}
		for (uint32_t k = 0; k < n; k++) {
			struct ferr err = {0};
			struct stream *s = stream_new_client(sv[k][0], NULL);
			int fd = open(src, O_RDONLY);
			assert_int_equal(mover_send(s, fd, SIZE, 7, k, n, NULL, NULL, &st[k], &err), 0);
			close(fd);
			stream_free(s);
			sent += st[k].sent_bytes;
		}
		for (uint32_t k = 0; k < n; k++) {
			pthread_join(t[k], NULL);
			assert_int_equal(ra[k].r, 0);
			char j[200];
			snprintf(j, sizeof(j), "%s.%u-%u", jrn, k, n);
			assert_int_not_equal(access(j, F_OK), 0);
		}
		assert_true(same_files());
		assert_int_equal(sent, 33ULL * MOVER_BLOCK);
		assert_int_equal(st[1].sent_bytes, MOVER_BLOCK);   /* stream 1: its stripe */
	}
	wfd = open(src, O_RDWR);
	assert_int_equal(fallocate(wfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100LL << 20, MOVER_BLOCK), 0);
	close(wfd);
	/* A stream the receiver does not expect is refused. */
	struct mover_stats st;
	struct recv_arg ra;
	clean_dst();
	int sv[2];
	pthread_t t;
	struct ferr err = {0};
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&ra, 0, sizeof(ra));
	ra.count = 2;
	ra.s = stream_new_server(sv[1], NULL);
	pthread_create(&t, NULL, receiver, &ra);
	struct stream *s = stream_new_client(sv[0], NULL);
	int fd = open(src, O_RDONLY);
	assert_int_not_equal(mover_send(s, fd, SIZE, 7, 0, 1, NULL, NULL, &st, &err), 0);
	close(fd);
	stream_free(s);
	pthread_join(t, NULL);
	assert_int_equal(ra.r, -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arrives_identical_and_sparse),
		cmocka_unit_test(flipped_byte_is_caught),
		cmocka_unit_test(cut_transfer_resumes),
		cmocka_unit_test(changed_source_updates),
		cmocka_unit_test(receiver_failure_is_told),
		cmocka_unit_test(streams_split_the_image),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

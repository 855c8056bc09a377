/* test_l2probe.c: the L2 probe's frames read off one shared socket by
 * several probes at once: each finds its own nonce, whoever drained it;
 * other frames and damaged probes are not taken for one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "net/l2probe.h"

/* A probe frame as the destination sends it (l2probe.h): broadcast, the
 * ethertype, "FERRY-L2", the nonce; padded to Ethernet's 60 bytes. */
static void send_frame(int fd, const char *nonce, uint16_t ethertype)
{
	uint8_t f[60] = {0};

	memset(f, 0xff, 6);
	f[6] = 0x52;
	f[12] = ethertype >> 8;
	f[13] = ethertype & 0xff;
	memcpy(f + 14, "FERRY-L2", 8);
	memcpy(f + 22, nonce, strlen(nonce));
	assert_int_equal(send(fd, f, sizeof(f), 0), (ssize_t)sizeof(f));
}

static void nonce_n(char out[L2PROBE_NONCE_LEN + 1], int n)
{
	snprintf(out, L2PROBE_NONCE_LEN + 1, "%032x", n);
}

static void concurrent_probes_each_find_theirs(void **state)
{
	int sv[2];
	char a[33], b[33], c[33];
	struct l2probe_seen seen;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	nonce_n(a, 0xa);
	nonce_n(b, 0xb);
	nonce_n(c, 0xc);
	send_frame(sv[1], b, L2PROBE_ETHERTYPE);   /* the other move's frames came first */
	send_frame(sv[1], b, L2PROBE_ETHERTYPE);
	send_frame(sv[1], a, L2PROBE_ETHERTYPE);
	send_frame(sv[1], c, 0x0800);              /* not a probe: another ethertype */
	/* probe a drains the socket: it sees its nonce, and keeps b's */
	l2probe_drain(sv[0], &seen);
	assert_true(l2probe_was_seen(&seen, sv[0], a));
	/* probe b looks later: the socket is empty, its nonce was kept */
	l2probe_drain(sv[0], &seen);
	assert_true(l2probe_was_seen(&seen, sv[0], b));
	assert_false(l2probe_was_seen(&seen, sv[0], c));
	/* the same nonce through another socket (another bridge) is not this one */
	assert_false(l2probe_was_seen(&seen, sv[1], a));
	close(sv[0]);
	close(sv[1]);
}

static void damaged_and_many(void **state)
{
	int sv[2];
	char n[33];
	struct l2probe_seen seen;
	uint8_t f[60] = {0};

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	/* a nonce that is not hex, and a frame too short to hold one */
	send_frame(sv[1], "0123456789abcdef0123456789abcdeZ", L2PROBE_ETHERTYPE);
	f[12] = L2PROBE_ETHERTYPE >> 8;
	f[13] = L2PROBE_ETHERTYPE & 0xff;
	memcpy(f + 14, "FERRY-L2", 8);
	assert_int_equal(send(sv[1], f, 30, 0), 30);
	l2probe_drain(sv[0], &seen);
	for (int i = 0; i < L2PROBE_SEEN_MAX; i++)
		assert_int_equal(seen.e[i].nonce[0], 0);
	/* the set keeps the newest L2PROBE_SEEN_MAX nonces */
	for (int i = 0; i < L2PROBE_SEEN_MAX + 4; i++) {
		nonce_n(n, i);
		send_frame(sv[1], n, L2PROBE_ETHERTYPE);
	}
	l2probe_drain(sv[0], &seen);
	nonce_n(n, 3);
	assert_false(l2probe_was_seen(&seen, sv[0], n));
	nonce_n(n, 4);
	assert_true(l2probe_was_seen(&seen, sv[0], n));
	nonce_n(n, L2PROBE_SEEN_MAX + 3);
	assert_true(l2probe_was_seen(&seen, sv[0], n));
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_probes_each_find_theirs),
		cmocka_unit_test(damaged_and_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

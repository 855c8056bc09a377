/* ferry-guest: runs inside the test guest. Answers UDP echo (port 7777) and
 * sends UDP heartbeats carrying a sequence number and the guest's monotonic
 * clock, so downtime can be seen from inside too: to a fixed collector
 * (--heartbeat), and to whoever asked on the echo port within the last
 * LEASE_S seconds of guest time (ferry probe --method guest asks every
 * second). No one asking, nothing is sent: 1 kHz of heartbeats costs a TCG
 * guest a fifth of a host core. Asking takes a round trip, so that a forged
 * source address cannot aim the heartbeats at a third party: "FERRYHB?" is
 * answered with "FERRYHB!" and a random cookie, and only "FERRYHB+" with
 * that cookie, from the same address and port, starts (or renews) them.
 * Static, no libraries: it is copied into the guest's initramfs. */
#define _GNU_SOURCE
#include "packet.h"
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>

#define ECHO_PORT FG_ECHO_PORT
#define LEASE_S 5            /* a subscription lasts this long unless renewed */
#define PENDING 4            /* cookies handed out and not yet returned */

struct heartbeat {
	char magic[8];          /* "FERRYHB1" */
	uint64_t seq;
	uint64_t guest_mono_ns;
} __attribute__((packed));

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "Usage: ferry-guest [--daemon] [--heartbeat ADDR:PORT] [--hz N]\n"
			"       ferry-guest --dirty MBPS --size MB    (dirty memory; MBPS 0: flat out)\n"
			"       ferry-guest --plant TEXT --size MB    (fill memory with TEXT, then sleep)\n"
			"       ferry-guest --memcheck FILE --size KB (rewrite pages, check none lost a write)\n"
			"Answers UDP echo on port %d; sends heartbeats at N Hz (default 1000) to ADDR:PORT\n"
			"and, for %d s, to a collector that asked on the echo port (ferry probe --method guest).\n",
		ECHO_PORT, LEASE_S);
}

static int same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Writes one byte in each 4 KiB page of a size_mb buffer, round after round,
 * at about mbps MB/s of dirtied pages (0: as fast as it can). */
static int dirty_memory(long mbps, long size_mb)
{
	size_t size = (size_t)size_mb << 20, pages = size / 4096, i = 0;
	unsigned char *m = malloc(size);
	uint64_t t0 = mono_ns(), done = 0;

	if (!m)
		return 1;
	memset(m, 1, size);
	for (unsigned char v = 0;; v++) {
		for (size_t k = 0; k < 256; k++, i = (i + 1) % pages)
			m[i * 4096] = v;
		done += 256;
		if (mbps > 0) {
			uint64_t due = t0 + done * 4096 * 1000ull / (uint64_t)mbps;
			uint64_t now = mono_ns();
			if (due > now) {
				struct timespec ts = { (time_t)((due - now) / 1000000000u), (long)((due - now) % 1000000000u) };
				nanosleep(&ts, NULL);
			}
		}
	}
}

/* Rewrites a small buffer (size_kb) over and over, one generation number per
 * page per pass, and checks before each write that the page still holds the
 * previous generation. A page that "forgets" a write (as a migration that
 * missed a dirty page would make it) is caught on the next pass. Every second
 * it writes "pid=P gen=N errors=E" (and the first error) to status_file. */
static int memcheck(const char *status_file, long size_kb)
{
	size_t pages = (size_t)size_kb / 4;
	uint64_t *m = aligned_alloc(4096, pages * 4096), gen = 1, errors = 0, last = 0;
	char first[160] = "";

	if (!m || !pages)
		return 1;
	for (size_t p = 0; p < pages; p++)
		m[p * 512] = 0;
	for (;; gen++) {
		for (size_t p = 0; p < pages; p++) {
			uint64_t *w = &m[p * 512];
			if (*w != gen - 1) {
				if (!errors++)
					snprintf(first, sizeof(first), " first: page %zu held generation %llu, expected %llu",
						 p, (unsigned long long)*w, (unsigned long long)(gen - 1));
			}
			*w = gen;
		}
		uint64_t now = mono_ns();
		if (now - last >= 1000000000u) {
			FILE *f = fopen(status_file, "w");
			if (f) {
				fprintf(f, "pid=%d gen=%llu errors=%llu%s\n", (int)getpid(), (unsigned long long)gen,
					(unsigned long long)errors, first);
				fclose(f);
			}
			last = now;
		}
	}
}

static int plant(const char *text, long size_mb)
{
	size_t size = (size_t)size_mb << 20, n = strlen(text);
	char *m = malloc(size);

	if (!m || !n)
		return 1;
	for (size_t i = 0; i + n <= size; i += n)
		memcpy(m + i, text, n);
	printf("planted\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct sockaddr_in hb = { .sin_family = AF_INET }, me = { .sin_family = AF_INET };
	int hz = 1000, have_hb = 0, daemon_mode = 0;
	long dirty = -1, size_mb = 64;   /* --size: MB, or KB for --memcheck */
	const char *plant_text = NULL, *memcheck_file = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--daemon")) {
			daemon_mode = 1;
		} else if (!strcmp(argv[i], "--heartbeat") && i + 1 < argc) {
			char *colon = strrchr(argv[++i], ':');
			if (!colon)
				return usage(), 2;
			*colon = 0;
			if (inet_pton(AF_INET, argv[i], &hb.sin_addr) != 1)
				return usage(), 2;
			hb.sin_port = htons(atoi(colon + 1));
			have_hb = 1;
		} else if (!strcmp(argv[i], "--dirty") && i + 1 < argc) {
			dirty = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			size_mb = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--plant") && i + 1 < argc) {
			plant_text = argv[++i];
		} else if (!strcmp(argv[i], "--memcheck") && i + 1 < argc) {
			memcheck_file = argv[++i];
		} else if (!strcmp(argv[i], "--hz") && i + 1 < argc) {
			hz = atoi(argv[++i]);
			if (hz < 1 || hz > 10000)
				return usage(), 2;
		} else {
			return usage(), strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (size_mb < 1 || size_mb > 4096)
		return usage(), 2;
	if (memcheck_file)
		return memcheck(memcheck_file, size_mb);
	if (plant_text)
		return plant(plant_text, size_mb);
	if (dirty >= 0)
		return dirty_memory(dirty, size_mb);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	me.sin_port = htons(ECHO_PORT);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		perror("ferry-guest: bind");
		return 1;
	}
	if (daemon_mode && daemon(0, 0) < 0)
		return 1;
	struct heartbeat h = { .magic = "FERRYHB1" };
	struct sockaddr_in sub = { 0 };          /* the leased collector */
	struct { struct sockaddr_in to; uint64_t cookie; } pend[PENDING] = { 0 };
	unsigned npend = 0;
	uint64_t period = 1000000000u / hz, next = mono_ns(), lease_end = 0, last_sent = 0;
	for (;;) {
		struct timespec ts, *tsp = NULL;
		int sending = have_hb || mono_ns() < lease_end;
		if (sending) {
			uint64_t now = mono_ns(), wait = next > now ? next - now : 0;
			ts = (struct timespec){ (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
			tsp = &ts;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		if (ppoll(&p, 1, tsp, NULL) > 0) {
			char buf[2048];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			uint64_t c;
			enum fg_packet kind = n > 0 ? fg_classify(buf, (size_t)n, ntohs(from.sin_port), &c) : FG_DROP;
			if (kind == FG_ASK) {
				/* Step 1: a cookie, sent only to the asking address (no
				 * bigger than the ask: nothing to amplify). */
				char ans[16] = "FERRYHB!";
				unsigned k = npend++ % PENDING;
				pend[k].to = from;
				/* Never wait for the kernel's random pool (not ready
				 * early in a fresh guest's life): the clock then. */
				if (getrandom(&pend[k].cookie, sizeof(pend[k].cookie), GRND_NONBLOCK) != sizeof(pend[k].cookie))
					pend[k].cookie = mono_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32;
				memcpy(ans + 8, &pend[k].cookie, 8);
				sendto(fd, ans, sizeof(ans), 0, (struct sockaddr *)&from, fl);
			} else if (kind == FG_CONFIRM) {
				/* Step 2: the cookie came back from where it went. */
				unsigned k;
				for (k = 0; k < PENDING; k++)
					if (pend[k].cookie && pend[k].cookie == c && same_peer(&pend[k].to, &from))
						break;
				if (k == PENDING)
					continue;
				pend[k].cookie = 0;
				sub = from;
				lease_end = mono_ns() + LEASE_S * 1000000000ull;
				if (!sending) {
					/* Slots that passed while no one asked count as lost. */
					next = mono_ns();
					if (last_sent && next - last_sent > period)
						h.seq += (next - last_sent) / period - 1;
				}
			} else if (kind == FG_ECHO) {
				sendto(fd, buf, n, 0, (struct sockaddr *)&from, fl);
			}
		}
		uint64_t now = mono_ns();
		if (!(have_hb || now < lease_end) || now < next)
			continue;
		h.seq++;
		h.guest_mono_ns = last_sent = now;
		if (have_hb)
			sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&hb, sizeof(hb));
		if (now < lease_end && (!have_hb || !same_peer(&sub, &hb)))
			sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&sub, sizeof(sub));
		next += period;
		if (next < now)
			next = now + period;   /* after a pause: no burst */
	}
}

/* l2probe.c: the L2 segment probe (l2probe.h). */
#include "net/l2probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>

#define MAGIC "FERRY-L2"
#define FRAME_LEN (ETH_HLEN + 8 + L2PROBE_NONCE_LEN)

int l2probe_nonce(char out[L2PROBE_NONCE_LEN + 1])
{
	uint8_t r[L2PROBE_NONCE_LEN / 2];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

static int open_on(const char *ifname, struct sockaddr_ll *sa)
{
	unsigned idx = if_nametoindex(ifname);
	int fd;

	if (!idx)
		return -ENODEV;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(L2PROBE_ETHERTYPE));
	if (fd < 0)
		return -errno;
	memset(sa, 0, sizeof(*sa));
	sa->sll_family = AF_PACKET;
	sa->sll_protocol = htons(L2PROBE_ETHERTYPE);
	sa->sll_ifindex = (int)idx;
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int l2probe_send(int fd, const char *ifname, const char *nonce, int count)
{
	struct sockaddr_ll sa;
	struct ifreq ifr;
	uint8_t f[FRAME_LEN < 60 ? 60 : FRAME_LEN] = {0};
	unsigned idx = if_nametoindex(ifname);
	int r = 0;

	if (!idx)
		return -ENODEV;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	memset(f, 0xff, 6);
	memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
	f[12] = L2PROBE_ETHERTYPE >> 8;
	f[13] = L2PROBE_ETHERTYPE & 0xff;
	memcpy(f + ETH_HLEN, MAGIC, 8);
	memcpy(f + ETH_HLEN + 8, nonce, L2PROBE_NONCE_LEN);
	memset(&sa, 0, sizeof(sa));
	sa.sll_family = AF_PACKET;
	sa.sll_protocol = htons(L2PROBE_ETHERTYPE);
	sa.sll_ifindex = (int)idx;
	sa.sll_halen = 6;
	memset(sa.sll_addr, 0xff, 6);
	for (int i = 0; i < count; i++)
		if (sendto(fd, f, sizeof(f), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			r = -errno;
	return r;
}

int l2probe_open(const char *ifname)
{
	struct sockaddr_ll sa;

	return open_on(ifname, &sa);
}

bool l2probe_match(const uint8_t *frame, size_t n, const char *nonce)
{
	char got[L2PROBE_NONCE_LEN + 1];

	return strlen(nonce) == L2PROBE_NONCE_LEN && l2probe_nonce_of(frame, n, got) && !strcmp(got, nonce);
}

bool l2probe_nonce_of(const uint8_t *frame, size_t n, char out[L2PROBE_NONCE_LEN + 1])
{
	if (n < FRAME_LEN || frame[12] != (L2PROBE_ETHERTYPE >> 8) || frame[13] != (L2PROBE_ETHERTYPE & 0xff) ||
	    memcmp(frame + ETH_HLEN, MAGIC, 8))
		return false;
	for (size_t i = 0; i < L2PROBE_NONCE_LEN; i++) {
		uint8_t c = frame[ETH_HLEN + 8 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = (char)c;
	}
	out[L2PROBE_NONCE_LEN] = 0;
	return true;
}

void l2probe_drain(int fd, struct l2probe_seen *s)
{
	uint8_t f[1600];
	char nonce[L2PROBE_NONCE_LEN + 1];

	/* Bounded: at most 256 frames drained per look. */
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(fd, f, sizeof(f), MSG_DONTWAIT);
		if (n < 0)
			break;
		if (!l2probe_nonce_of(f, (size_t)n, nonce) || l2probe_was_seen(s, fd, nonce))
			continue;
		s->e[s->next].fd = fd;
		memcpy(s->e[s->next].nonce, nonce, sizeof(nonce));
		s->next = (s->next + 1) % L2PROBE_SEEN_MAX;
	}
}

bool l2probe_was_seen(const struct l2probe_seen *s, int fd, const char *nonce)
{
	for (int i = 0; i < L2PROBE_SEEN_MAX; i++)
		if (s->e[i].fd == fd && s->e[i].nonce[0] && !strcmp(s->e[i].nonce, nonce))
			return true;
	return false;
}

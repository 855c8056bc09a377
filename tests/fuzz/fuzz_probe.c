/* fuzz_probe.c: what a probed target (a guest: hostile) sends back: ICMP
 * echo replies with any IP header, UDP echoes, heartbeats and cookies; and
 * the ARP and RARP frames on the VM network. */
#include "probe/probe.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct probe_reply r;

	for (int s = PROBE_SOCK_UDP; s <= PROBE_SOCK_HB; s++) {
		if (probe_parse_datagram((const char *)data, size, s, 0x1234, 100, &r) == PROBE_REPLY_ECHO && r.index >= 100)
			abort();
	}
	/* The ARP and RARP frames a timeline notes (any host on the VM network
	 * sends them): a copy of exactly size bytes, so ASan sees a read past it. */
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x77, 0, 2 };
	uint8_t *f = malloc(size ? size : 1), sender[6];
	memcpy(f, data, size);
	for (int e = 0; e < 2; e++) {
		enum probe_frame_kind k = probe_parse_frame(f, size, e ? 0x8035 : 0x0806, 0x02004d0a, e ? mac : NULL, sender);
		if (k != PROBE_FRAME_NONE && size < 28)
			abort();
	}
	/* A bridge's netlink events (from the kernel, read with the same care). */
	int port;
	if (probe_parse_fdb(f, size, mac, &port) > 0 && size < 16 + 12 + 10)   /* nlmsghdr, ndmsg, NDA_LLADDR */
		abort();
	free(f);
	return 0;
}

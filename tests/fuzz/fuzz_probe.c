/* fuzz_probe.c: what a probed target (a guest: hostile) sends back: ICMP
 * echo replies with any IP header, UDP echoes, heartbeats and cookies. */
#include "probe/probe.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct probe_reply r;

	for (int s = PROBE_SOCK_UDP; s <= PROBE_SOCK_HB; s++) {
		if (probe_parse_datagram((const char *)data, size, s, 0x1234, 100, &r) == PROBE_REPLY_ECHO && r.index >= 100)
			abort();
	}
	return 0;
}

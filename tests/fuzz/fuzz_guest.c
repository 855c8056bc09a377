/* fuzz_guest.c: ferry-guest's classification of datagrams on its port. */
#include "../../guest/packet.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint64_t cookie = 0;

	if (size < 2)
		return 0;
	uint16_t port = (uint16_t)(data[0] << 8 | data[1]);
	enum fg_packet k = fg_classify((const char *)data + 2, size - 2, port, &cookie);
	if (k == FG_ECHO && (port == FG_ECHO_PORT || port == 0))
		abort();   /* never echo to a service port */
	return 0;
}

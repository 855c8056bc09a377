/* fuzz_guestnet: a guest image's network files (interfaces, .network) read
 * without a crash, and any address they yield is a real dotted IPv4 with a
 * prefix of 1 to 32. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert/guestnet.h"

static void check(const struct guestnet *g)
{
	struct in_addr a;
	if (g->method == GUESTNET_STATIC &&
	    (inet_pton(AF_INET, g->addr, &a) != 1 || g->prefix < 1 || g->prefix > 32))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);   /* exactly size bytes: no terminating NUL */
	struct guestnet g;

	memcpy(copy, data, size);
	guestnet_interfaces(copy, size, &g);
	check(&g);
	guestnet_networkd(copy, size, &g);
	check(&g);
	free(copy);
	return 0;
}

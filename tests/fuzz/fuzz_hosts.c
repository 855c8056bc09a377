/* fuzz_hosts.c: the hosts file parser. */
#include "config/hosts.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct host_entry h;
	struct ferr err;
	char *text = strndup((const char *)data, size);

	hosts_lookup_text(text, "fuzz-hosts", "b", &h, &err);
	free(text);
	return 0;
}

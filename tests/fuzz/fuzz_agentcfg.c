/* fuzz_agentcfg.c: ferryd's config parser. */
#include "config/agentcfg.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct agent_config *c;
	struct ferr err;

	if (agentcfg_parse((const char *)data, size, "fuzz.conf", &c, &err) == 0) {
		agentcfg_path_allowed(c, "/var/lib/ferry/x.img");
		agentcfg_free(c);
	}
	return 0;
}

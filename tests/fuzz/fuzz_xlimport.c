/* fuzz_xlimport: any text as an xl config (ferry import-xl reads what
 * anyone wrote): no crash, and whatever it accepts becomes a config ferry
 * parses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/vmcfg.h"
#include "config/xlimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferr err = {0};
	char *config = NULL;
	json_t *notes = NULL;

	if (xl_import((const char *)data, size, "fuzz.cfg", &config, &notes, &err) == 0) {
		struct vm_config *c = NULL;
		if (vmcfg_parse(config, strlen(config), "out", "/", &c, &err) < 0)
			abort();
		vmcfg_free(c);
		free(config);
		json_decref(notes);
	}
	return 0;
}

/* fuzz_vmcfg.c: the VM config parser (xl syntax), and its canonical form
 * parsing back to the same text. */
#include "config/vmcfg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct vm_config *c, *c2;
	struct ferr err;

	if (vmcfg_parse((const char *)data, size, "fuzz.cfg", "/base", &c, &err) < 0)
		return 0;
	char *text = vmcfg_format(c);
	if (vmcfg_parse(text, strlen(text), "canonical", NULL, &c2, &err) < 0)
		abort();   /* the canonical form must parse back */
	char *again = vmcfg_format(c2);
	if (strcmp(text, again))
		abort();
	free(again);
	free(text);
	vmcfg_free(c2);
	vmcfg_free(c);
	return 0;
}

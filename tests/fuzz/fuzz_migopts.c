/* fuzz_migopts.c: migrate options as a peer or client sends them: the schema
 * check, then their meaning (mig_opts_from_json), and back. */
#include "ferryd/mig.h"
#include "proto/args.h"
#include "util/util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	struct mig_opts o, o2;
	struct ferr err;
	char msg[256];

	if (!j)
		return 0;
	json_t *args = json_pack("{s:s, s:{s:s, s:s, s:i}, s:O}", "name", "w", "dest", "host", "b", "addr", "10.0.0.2",
				 "port", 7077, "opts", j);
	if (args && proto_args_check(proto_op_find("migrate"), args, &err) == 0 &&
	    mig_opts_from_json(json_object_get(args, "opts"), &o, msg, sizeof(msg)) == 0) {
		json_t *back = mig_opts_to_json(&o);
		if (mig_opts_from_json(back, &o2, msg, sizeof(msg)) < 0)
			abort();   /* what we send must be what we accept */
		json_decref(back);
	}
	json_decref(args);
	json_decref(j);
	return 0;
}

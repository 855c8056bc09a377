/* fuzz_jsonframe.c: the JSON stream framer (control protocol and QMP), fed
 * in pieces whose sizes the input chooses. */
#include "util/jsonframe.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct jsonframe f = {0};
	struct ferr err;
	size_t step = size ? data[0] % 64 + 1 : 1;

	for (size_t off = 1; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		jsonframe_feed(&f, data + off, n);
		json_t *m;
		int r;
		while ((r = jsonframe_next(&f, &m, &err)) != 0) {
			if (r == 1)
				json_decref(m);
			else if (f.broken)
				break;
		}
		if (f.broken)
			break;
	}
	jsonframe_free(&f);
	return 0;
}

/* fuzz_benchout: fio terse lines (from inside the guest) and wrk reports. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/benchout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct fio_result f;
	struct wrk_result w;

	memcpy(s, data, size);
	s[size] = 0;
	if (fio_terse_parse(s, &f) == 0 && (f.kib < 0 || f.iops < 0 || f.clat_p50_us < 0))
		abort();
	if (wrk_parse(s, strlen(s), &w) == 0 && (w.rps < 0 || w.lat_p99_ms < 0 || w.errors < 0))
		abort();
	free(s);
	return 0;
}

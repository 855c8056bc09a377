/* fuzz_fault: the fault bench's series — the client's wrk loop and the
 * guest writer's log (from inside the guest) — and the figures drawn from
 * whatever they parse to. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fault_window *w = NULL;
	struct fault_io *io = NULL;
	size_t nw = 0, nio = 0;
	struct fault_result r;
	const struct fault_times t = { 1796000000000.0, 1796000010000.0, 1796000025000.0, 1796000040000.0 };
	int counts[40];
	double lat[40];

	if (fault_windows_parse((const char *)data, size, &w, &nw) == 0)
		for (size_t k = 1; k < nw; k++)
			if (w[k].t_ms < w[k - 1].t_ms || w[k].rps < 0 || w[k].requests < 0)
				abort();
	if (fault_ios_parse((const char *)data, size, -3.5, &io, &nio) == 0)
		for (size_t k = 0; k < nio; k++)
			if (!(io[k].lat_ms >= 0) || !isfinite(io[k].t_ms))
				abort();
	fault_analyze(w, nw, io, nio, &t, &r);
	if (r.zero_rps_s < 0 || r.errors < 0 || (r.writes && !(r.io_stall_ms >= 0)) || r.writes > nio)
		abort();
	fault_io_bins(io, nio, t.start, 40, counts, lat);
	free(w);
	free(io);
	return 0;
}

/* plan.c: ferry evacuate's plan: order, destination, sharing (plan.h). */
#include "evac/plan.h"

#include <stdlib.h>

/* The sort key: how long the move would take alone. Without a check's
 * estimate, the memory over the link's rate; without that, the memory. */
static double cost(const struct evac_guest *g, double link_mb_s)
{
	if (g->estimate_s >= 0)
		return g->estimate_s;
	return link_mb_s > 0 ? (double)g->memory_mb * 1.048576 / link_mb_s : (double)g->memory_mb;
}

static bool can_go_anywhere(const struct evac_guest *g, size_t n_dests)
{
	for (size_t d = 0; d < n_dests; d++)
		if (g->can_go[d])
			return true;
	return false;
}

size_t evac_plan(struct evac_plan_in *in)
{
	size_t idx[EVAC_MAX_GUESTS], n = 0, moving = 0;

	for (size_t i = 0; i < in->n_guests && i < EVAC_MAX_GUESTS; i++) {
		struct evac_guest *g = &in->guests[i];
		g->dest = -1;
		g->order = -1;
		g->alone = false;
		if (can_go_anywhere(g, in->n_dests))
			idx[n++] = i;
	}
	/* Longest first; equal costs keep the order given (insertion sort:
	 * stable, and n is small). */
	for (size_t i = 1; i < n; i++) {
		size_t k = idx[i], j = i;
		double c = cost(&in->guests[k], in->link_mb_s);
		for (; j > 0 && cost(&in->guests[idx[j - 1]], in->link_mb_s) < c; j--)
			idx[j] = idx[j - 1];
		idx[j] = k;
	}
	double share = in->link_mb_s > 0 && in->max_parallel > 1 ? in->link_mb_s / in->max_parallel : -1;
	for (size_t i = 0; i < n; i++) {
		struct evac_guest *g = &in->guests[idx[i]];
		int best = -1;
		for (size_t d = 0; d < in->n_dests && d < EVAC_MAX_DESTS; d++)
			if (g->can_go[d] && (best < 0 || in->dests[d].load_mb < in->dests[best].load_mb))
				best = (int)d;
		g->dest = best;
		g->order = (int)moving++;
		in->dests[best].load_mb += g->memory_mb;
		g->alone = share > 0 && g->dirty_mb_s > share / 2;
	}
	return moving;
}

bool evac_may_start(const struct evac_guest *next, int running, bool running_alone, int max_parallel)
{
	if (running == 0)
		return true;
	return !next->alone && !running_alone && running < max_parallel;
}

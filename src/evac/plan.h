/* plan.h: ferry evacuate's plan (docs/evacuate.md), the pure part: which
 * guest goes where, in what order, and which may share the link. The CLI
 * gathers the facts (each guest's size, dirty rate and estimate from a
 * preflight check, each destination's load) and runs the moves. */
#ifndef FERRY_EVAC_PLAN_H
#define FERRY_EVAC_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#define EVAC_MAX_GUESTS 256
#define EVAC_MAX_DESTS 16
#define EVAC_NAME_MAX 64

struct evac_guest {
	char name[EVAC_NAME_MAX + 1];
	long long memory_mb;
	double dirty_mb_s;             /* < 0: not measured */
	double estimate_s;             /* the check's estimate alone on the link; < 0: none */
	bool can_go[EVAC_MAX_DESTS];   /* no blocking check towards that destination */
	char why_not[200];             /* when it can go nowhere: the check's sentence */
	/* the plan */
	int dest;                      /* index into the destinations; -1: stays */
	int order;                     /* 0, 1, ...: start order; -1: stays */
	bool alone;                    /* moves with no other move in flight */
};

struct evac_dest {
	char name[EVAC_NAME_MAX + 1];
	long long load_mb;             /* guests' memory there now (plan adds to it) */
};

struct evac_plan_in {
	struct evac_guest *guests;
	size_t n_guests;
	struct evac_dest *dests;
	size_t n_dests;
	int max_parallel;              /* >= 1 */
	double link_mb_s;              /* the link's measured rate; <= 0: unknown */
};

/* Plans in place: the longest estimated move first (so that the short ones
 * fill the end, as in longest-processing-time scheduling); each to the
 * destination it can go to that holds the least guest memory so far (ties:
 * the order given); alone when its dirty rate, with the link shared
 * max_parallel ways, would use over half of its share (its pre-copy would
 * converge slowly or not at all beside others). Returns how many will move. */
size_t evac_plan(struct evac_plan_in *in);

/* The scheduler: may the guest next in order start now, with running moves
 * in flight of which running_alone move alone? A guest moving alone starts
 * only when nothing runs; others start while fewer than max_parallel run
 * and none runs alone. Nothing running: always. */
bool evac_may_start(const struct evac_guest *next, int running, bool running_alone, int max_parallel);

#endif

/* test_plan.c: ferry evacuate's plan: longest move first, each to the
 * least loaded destination it may go to, busy guests alone, a guest no
 * destination takes left out; and the scheduler's rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "evac/plan.h"

static void guest(struct evac_guest *g, const char *name, long long mb, double dirty, double est, int n_dests)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->memory_mb = mb;
	g->dirty_mb_s = dirty;
	g->estimate_s = est;
	for (int d = 0; d < n_dests; d++)
		g->can_go[d] = true;
}

static void order_destinations_and_sharing(void **state)
{
	struct evac_guest g[5];
	struct evac_dest d[2] = { { "b", 1024 }, { "c", 0 } };

	(void)state;
	guest(&g[0], "small", 256, 0, 0.3, 2);
	guest(&g[1], "big", 4096, 1, 3.5, 2);
	/* the link's 1000 MB/s shared 2 ways: 500 each; alone over 250 */
	guest(&g[2], "busy", 1024, 200, 2.0, 2);
	guest(&g[3], "busier", 1024, 300, 2.5, 2);
	guest(&g[4], "pinned", 512, 0, 0.6, 2);
	g[4].can_go[1] = false;                      /* c refuses it */
	struct evac_plan_in in = { g, 5, d, 2, 2, 1000 };
	assert_int_equal(evac_plan(&in), 5);
	/* longest estimate first */
	assert_int_equal(g[1].order, 0);
	assert_int_equal(g[3].order, 1);
	assert_int_equal(g[2].order, 2);
	assert_int_equal(g[4].order, 3);
	assert_int_equal(g[0].order, 4);
	/* big to c (0 MB there, 1024 on b); busier to b (1024 < 4096); busy
	 * to b (2048 < 4096); pinned can only go to b; small to b (3584 < 4096) */
	assert_int_equal(g[1].dest, 1);
	assert_int_equal(g[3].dest, 0);
	assert_int_equal(g[2].dest, 0);
	assert_int_equal(g[4].dest, 0);
	assert_int_equal(g[0].dest, 0);
	assert_false(g[2].alone);
	assert_true(g[3].alone);
	assert_false(g[1].alone);
	assert_int_equal(d[0].load_mb, 1024 + 1024 + 1024 + 512 + 256);
	assert_int_equal(d[1].load_mb, 4096);
}

static void nowhere_to_go_and_no_estimates(void **state)
{
	struct evac_guest g[3];
	struct evac_dest d[1] = { { "b", 0 } };

	(void)state;
	guest(&g[0], "a128", 128, -1, -1, 1);
	guest(&g[1], "refused", 8192, -1, -1, 0);   /* no destination takes it */
	guest(&g[2], "a512", 512, -1, -1, 1);
	struct evac_plan_in in = { g, 3, d, 1, 2, 0 };   /* link not measured */
	assert_int_equal(evac_plan(&in), 2);
	assert_int_equal(g[1].order, -1);
	assert_int_equal(g[1].dest, -1);
	/* without estimates, the larger memory first; nobody alone without a link rate */
	assert_int_equal(g[2].order, 0);
	assert_int_equal(g[0].order, 1);
	assert_false(g[0].alone || g[2].alone);
}

static void equal_costs_keep_their_order(void **state)
{
	struct evac_guest g[3];
	struct evac_dest d[1] = { { "b", 0 } };

	(void)state;
	guest(&g[0], "x", 128, 0, 0.5, 1);
	guest(&g[1], "y", 128, 0, 0.5, 1);
	guest(&g[2], "z", 128, 0, 0.5, 1);
	struct evac_plan_in in = { g, 3, d, 1, 1, 1000 };
	assert_int_equal(evac_plan(&in), 3);
	assert_int_equal(g[0].order, 0);
	assert_int_equal(g[1].order, 1);
	assert_int_equal(g[2].order, 2);
	/* max_parallel 1: every move is alone anyway; none marked */
	assert_false(g[0].alone);
}

static void scheduler(void **state)
{
	struct evac_guest shared = { .alone = false }, alone = { .alone = true };

	(void)state;
	assert_true(evac_may_start(&alone, 0, false, 2));     /* nothing runs */
	assert_false(evac_may_start(&alone, 1, false, 2));    /* alone waits for the link */
	assert_true(evac_may_start(&shared, 1, false, 2));
	assert_false(evac_may_start(&shared, 2, false, 2));   /* at most max_parallel */
	assert_false(evac_may_start(&shared, 1, true, 2));    /* one alone runs */
	assert_true(evac_may_start(&shared, 0, false, 1));
	assert_false(evac_may_start(&shared, 1, false, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(order_destinations_and_sharing),
		cmocka_unit_test(nowhere_to_go_and_no_estimates),
		cmocka_unit_test(equal_costs_keep_their_order),
		cmocka_unit_test(scheduler),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

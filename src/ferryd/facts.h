/* facts.h: this host's facts for a guest (facts.c; schema: preflight.h). */
#ifndef FERRYD_FACTS_H
#define FERRYD_FACTS_H

#include "ferryd/agent.h"

/* This host's facts for a guest of cfg (its disks resolved here). machine:
 * the exact machine type asked about (NULL: none); self: the guest itself
 * when it runs here (the source), left out of every clash. */
json_t *facts_host(struct agent *ag, const struct vm_config *cfg, const char *machine, const struct vm *self);
/* The agent's L2 probe socket on bridge (opened once, kept: opening and
 * closing one costs the loop ~8 ms each); -errno. Closed at the end. */
int facts_l2_socket(struct agent *ag, const char *bridge);
void facts_l2_close_all(struct agent *ag);
/* The op host-facts (from a source agent's preflight). */
void facts_op_host(struct request *r, json_t *args, struct vm *unused);
/* The op vm-check (from a client): preflight_job.c. */
void preflight_op_check(struct request *r, json_t *args, struct vm *vm);

#endif

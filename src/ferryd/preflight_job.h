/* preflight_job.h: the source's preflight (preflight_job.c). */
#ifndef FERRYD_PREFLIGHT_JOB_H
#define FERRYD_PREFLIGHT_JOB_H

#include "ferryd/agent.h"
#include "ferryd/mig.h"
#include "preflight/preflight.h"

struct peer;
struct pf_job;
/* The report ({"checks", "facts": {"source", "destination"}, "net",
 * "took_ms", "measured"}; borrowed) when the preflight ends. */
typedef void (*pf_done_fn)(struct agent *ag, json_t *report, void *opaque);

/* Checks whether vm can move to dest as mode says. peer: a connection to
 * dest to use (borrowed), or NULL: the job connects to daddr:dport itself.
 * measure: also the guest's dirty rate (1 s) and the link's rate. */
struct pf_job *preflight_start(struct agent *ag, struct vm *vm, const char *dest, const char *daddr, int dport,
			       struct peer *peer, const struct pf_mode *mode, bool measure, pf_done_fn done, void *opaque);
/* Stops it: done is not called (NULL is fine). Before its borrowed peer is
 * freed. */
void preflight_cancel(struct pf_job *j);
/* The kind of move mig_opts describe. */
struct pf_mode preflight_mode(const struct mig_opts *o);

#endif

/* netprobe.h: the link's rate between two agents (netprobe.c). */
#ifndef FERRYD_NETPROBE_H
#define FERRYD_NETPROBE_H

#include "ferryd/agent.h"

/* The op net-sink (destination): a one-shot listener that counts what the
 * source sends; answers {"port"}. */
void netprobe_op_sink(struct request *r, json_t *args, struct vm *unused);
/* mb_s the measured rate in MB/s, or -1 with why. */
typedef void (*netprobe_done_fn)(struct agent *ag, double mb_s, const char *why, void *opaque);
/* Sends to the sink at addr:port (from a helper process); done follows.
 * 0, or -EAGAIN (no process). */
int netprobe_send(struct agent *ag, const char *addr, int port, netprobe_done_fn done, void *opaque);

#endif

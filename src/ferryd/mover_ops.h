/* mover_ops.h: the disk mover inside ferryd (mover_ops.c). A push sends one
 * file of this host to another agent with the mover: that agent is asked to
 * receive it ("copy-in"), then a child process of ours sends it. Used by the
 * "copy" op and by cold moves of guests whose disks are not shared. */
#ifndef FERRYD_MOVER_OPS_H
#define FERRYD_MOVER_OPS_H

#include "ferryd/agent.h"

struct peer;
struct push;

/* The sender's counts now and then (sent_bytes, wire_bytes, pos, size). */
typedef void (*push_progress_fn)(json_t *progress, void *opaque);
/* The end: result (the mover's stats, with "path" as the receiver named it)
 * or err. */
typedef void (*push_done_fn)(struct agent *ag, json_t *result, const char *err, void *opaque);

/* Sends path (size bytes) through the connected peer p, whose agent listens
 * at addr, asking it to receive with copy_in_args (taken). done is called
 * once, unless mover_push_cancel comes first. NULL: done was called. */
struct push *mover_push(struct agent *ag, struct peer *p, const char *addr, const char *path, json_t *copy_in_args,
			push_progress_fn progress, push_done_fn done, void *opaque);
/* Stops a push (its child killed): done is not called. */
void mover_push_cancel(struct push *x);

/* The allocated bytes of a file (what the receiver must have room for). */
long long mover_file_data_bytes(const char *path);

/* A guest runs on its disks now (RESUME): those a cold move sent are its
 * own, no longer a move's to drop. */
void mover_forget_vm(struct agent *ag, const struct vm *vm);

/* At the agent's start: disks a cold move was receiving when this agent
 * stopped (a journal beside them) are removed: nothing half-made stays. */
void mover_drop_partial(struct agent *ag);

#endif

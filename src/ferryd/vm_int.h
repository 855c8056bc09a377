/* vm_int.h: what vm.c, vm_launch.c and vm_qmp.c share (not for the rest of
 * ferryd: agent.h is the VM layer's interface). */
#ifndef FERRYD_VM_INT_H
#define FERRYD_VM_INT_H

#include "ferryd/agent.h"

/* vm.c */
/* The VM's QEMU is gone (or never came up): answer waiters, clean up. */
void vm_gone(struct vm *vm, const char *why);
/* QEMU ended (its pid or its QMP): gone, with the reason from its log when
 * it ended while starting (a disk it could not open, say). */
void vm_exited(struct vm *vm);
void vm_free(struct vm *vm);
/* Answers every waiter of the given kind (or all, kind < 0) with ok or err. */
void vm_notify(struct vm *vm, int kind, const char *err);
struct waiter *vm_add_waiter(struct vm *vm, enum wait_kind kind, struct request *req);
void vm_on_qmp_event(struct qmp *q, const char *event, json_t *data, int64_t qemu_us, int64_t recv_us, void *opaque);
void vm_on_kill_timer(struct loop *l, void *opaque);
/* Signals the VM's QEMU through its pidfd (never a reused pid). */
void vm_signal(struct vm *vm, int sig);

/* vm_launch.c */
/* Is pid the process whose start time was recorded in DIR/qemu.start? */
bool vm_pid_recorded(pid_t pid, const char *dir);

/* vm_qmp.c */
int vm_attach_qmp(struct vm *vm, struct ferr *err);
/* Lets the loop write what QMP has queued. */
void vm_qmp_kick(struct vm *vm);

#endif

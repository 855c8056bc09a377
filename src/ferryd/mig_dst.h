/* mig_dst.h: inside the destination side of a migration: mig_dst_job.c (the
 * job, its state machine, the VM listener, the source's liveness),
 * mig_dst_prepare.c (mig-prepare and mig-check: the incoming QEMU, its disks
 * and listeners) and mig_dst_ops.c (the source's later requests). */
#ifndef FERRYD_MIG_DST_H
#define FERRYD_MIG_DST_H

#include "ferryd/agent.h"
#include "ferryd/mig.h"

struct mig_dst {
	struct vm *vm;              /* NULL once its QEMU is gone */
	struct agent *ag;
	enum mig_dst_state state;
	long src_client;            /* the source agent's connection; -1: let go */
	struct request *prep_req;   /* mig-prepare, until answered */
	struct request *fin_req;    /* mig-finish waiting for RESUME */
	struct request *res_req;    /* mig-resumed waiting for RESUME */
	int callbacks;              /* QMP/start callbacks still to come that hold d */
	struct mig_opts o;
	char addr[64];              /* where QEMU (or the relay) listens */
	int64_t resume_us;
	int64_t listening_us;       /* when mig-prepare was answered (time_mono_us) */
	char created[VM_MAX_DISKS][600];   /* disks we created for --copy-storage */
	int n_created;
	bool nbd_running;           /* --copy-storage: our NBD server is up */
	pid_t tunnel;               /* ferry's TLS relay (tunnel.c); 0: none */
	char tunnel_uri[96];        /* where the source's relay connects */
	char qemu_uri[640];         /* where QEMU listens behind the relay */
};

/* mig_dst_job.c */
/* Moves d to `to` if the table allows it; else logs and returns false (the
 * caller ends the incoming VM: nothing of the guest is only here before
 * DST_POSTCOPY, and the table never refuses a move out of it). */
bool dst_enter(struct mig_dst *d, enum mig_dst_state to);
/* Attaches d to vm (listener, client-gone hook). */
void dst_attach(struct mig_dst *d, struct vm *vm);
/* The guest is ours now: d goes, vm stays an ordinary VM. */
void dst_hand_over(struct mig_dst *d);
void dst_free(struct mig_dst *d);
/* One of d's callbacks came: true if d has ended (and is freed when it was
 * the last one): the callback stops there. */
bool dst_release(struct mig_dst *d);
struct mig_dst *dst_of(struct vm *vm);
void dst_remove_created(struct mig_dst *d);
void dst_nbd_stop(struct mig_dst *d);
void dst_forget_unresumed(struct agent *ag, const char *name);
bool dst_ended_unresumed(struct agent *ag, const char *name);
/* Answers mig-prepare once (reply stolen). */
void dst_answer_prepare_ok(struct mig_dst *d, json_t *result);
void dst_answer_prepare_err(struct mig_dst *d, const char *msg);
void dst_answer_resumed(struct mig_dst *d);
void dst_on_paused(struct vm *vm, json_t *ret, const char *err, void *opaque);

/* mig_dst_prepare.c */
int dst_listen_addr(struct agent *ag, long client_id, char *out, size_t n);
int dst_free_port(const char *addr);
/* Where a disk that is not shared lands here (--copy-storage, or the mover
 * of a cold move): STATE/disks/NAME-VDEV.FORMAT (the folder is made). */
void dst_disk_path(struct agent *ag, const struct vm_config *cfg, const struct vm_disk *dk, char *out, size_t n);
void dst_tcp_uri(char *out, size_t n, const char *addr, int port);

#endif

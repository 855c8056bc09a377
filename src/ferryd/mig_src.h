/* mig_src.h: inside the source side of a migration, shared by its phase
 * files: mig_src_job.c (the job, its state machine, the record, failure and
 * success), mig_src_prepare.c (the destination agent prepares; the stream's
 * route), mig_src_precopy.c (polling and the convergence policy),
 * mig_src_postcopy.c (the switch and recovery), mig_src_storage.c
 * (--copy-storage mirrors) and mig_src_cold.c (--cold suspend and reboot). */
#ifndef FERRYD_MIG_SRC_H
#define FERRYD_MIG_SRC_H

#include "ferryd/agent.h"
#include "ferryd/mig.h"
#include "qmp/migstats.h"

#define SRC_POLL_MS 100
#define SRC_MAX_PASSES 64          /* passes kept for the record (the first ones) */
#define SRC_MAX_QEMU_EVENTS 16     /* MIGRATION status changes kept likewise */

/* The convergence policy's memory (mig_src_precopy.c). */
struct mig_policy {
	long long last_round, min_remaining; /* remaining bytes at each new round, the best seen */
	int rounds_without_progress, rounds_at_target;
	int64_t target_mono_us;    /* when ferry last raised the downtime target */
};

/* What the policy says pre-copy should do after a query-migrate. */
enum policy_action {
	POLICY_NONE,
	POLICY_POSTCOPY,           /* switch (reason in *why) */
	POLICY_RELAX,              /* raise the downtime target to o->downtime_ms (updated) */
	POLICY_TIMEOUT,            /* --timeout spent, no post-copy: give up */
};
enum policy_action mig_policy_step(struct mig_policy *p, struct mig_opts *o, const struct mig_stats *m,
				   int64_t now_us, int64_t migrate_start_us, const char **why);

struct mig_job {
	struct agent *ag;
	struct vm *vm;             /* NULL once the source QEMU is gone */
	char name[VM_NAME_MAX + 1];
	enum mig_state state;
	struct mig_opts o;
	char dest[64], dest_addr[64];
	int dest_port;
	struct peer *peer;
	struct pf_job *pf;         /* the preflight running (MIG_PREFLIGHT) */
	json_t *preflight;         /* its summary, for the record */
	struct request *req;       /* the client's "migrate", answered at the end */
	struct request *recover_req; /* a "migrate-recover" waiting for QEMU */
	int64_t start_mono_us, start_real_us, migrate_mono_us;
	char uri[128];             /* the destination's stream address */
	char nbd_host[64];
	int nbd_port;
	json_int_t ram_bytes;      /* guest RAM of the source QEMU */
	pid_t tunnel;              /* ferry's TLS relay (tunnel.c); 0: none */
	char qemu_uri[640];        /* what QEMU migrates to: uri, or the relay */
	long timer;                /* query-migrate polling; a cold reboot's power-off bound, then its next step */
	bool polling;              /* a query-migrate is in flight */
	bool poll_soon;            /* QEMU announced a new status: poll at once */
	struct mig_policy pol;
	/* Facts learned on the way (not states: they hold across several). */
	bool cancel_requested;     /* by the user */
	bool went_postcopy;        /* QEMU said postcopy-*: the record's mode */
	bool dst_resumed;          /* the destination said the guest runs there */
	bool asked_resumed;        /* a "mig-resumed" request is out */
	bool told_waiting;         /* logged that a stall before that is waited out */
	bool left_paused;          /* after a failure, QEMU would not resume the guest here */
	long long last_transferred;
	int64_t last_progress_us, last_recovery_us;
	int polls;
	int mirrors, mirrors_ready, mirrors_done;
	int64_t stop_us, resume_us;
	/* QEMU's MIGRATION_PASS events: when each pass over RAM began (QEMU's
	 * realtime; the record's "passes_us", the timeline's round marks). */
	int64_t pass_us[SRC_MAX_PASSES];
	int n_passes;
	/* QEMU's MIGRATION events (setup, active, device, completed, ...) with
	 * its timestamps: the record's "qemu_events". */
	struct { char status[24]; int64_t us; } qemu_ev[SRC_MAX_QEMU_EVENTS];
	int n_qemu_ev;
	struct mig_stats last;     /* last query-migrate result */
	/* The states the job went through, with when (the record's "phases"). */
	struct { enum mig_state state; int64_t mono_us; } trail[MIG_N_STATES * 2];
	int n_trail;
	char error[700];
	char *cfg_text;            /* cold: the config, to boot it there (or here again), or to name disks */
	/* Cold moves of disks not on shared storage (mig_src_disks.c). */
	struct push *push;         /* the disk being sent */
	int n_moved, moving;       /* disks to move; the one being sent (-1: none) */
	bool moving_final;         /* the pass under way is the final one */
	bool disks_sent;           /* a pass began: the destination may hold files */
	bool stopped_early;        /* one pass: the guest stopped before the prepare */
	void (*after_disks)(struct mig_job *j);
	int64_t push_start_us;
	long hb_timer;             /* pings the destination while disks travel */
	struct moved_disk {
		int disk;              /* its index in the config */
		char vdev[8];
		char src[600], dst[600];
		long long size, data_bytes;
		long long sent[2], wire[2], ms[2];   /* per pass: 0 live, 1 final */
		long long pos;         /* progress of the pass under way */
	} moved[VM_MAX_DISKS];
};

/* mig_src_job.c */
/* Moves j to state `to` if the table allows it. Else the job fails (safely:
 * src_fail) and false comes back: the caller stops there. */
bool src_enter(struct mig_job *j, enum mig_state to);
/* Has QEMU's outgoing migration begun (a failure must cancel it)? */
bool src_qemu_migrating(enum mig_state s);
/* Still running: neither failing nor ended. */
bool src_live(const struct mig_job *j);
void src_fail(struct mig_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void src_finish_failure(struct mig_job *j, bool guest_moved);
void src_report_completed(struct mig_job *j);
json_t *src_record(struct mig_job *j, const char *status);
void src_end(struct mig_job *j);
void src_on_ignore(struct vm *vm, json_t *ret, const char *err, void *opaque);
/* The job moving vm out, or NULL. */
struct mig_job *src_job_of(struct vm *vm);

/* mig_src_prepare.c */
void src_connect(struct mig_job *j);
/* Points QEMU at the destination's uri (checked: the destination agent's own
 * address), directly or through ferry's relay. */
int src_route_stream(struct mig_job *j, const char *uri, struct ferr *err);

/* mig_src_precopy.c */
void src_start_migrate(struct mig_job *j);
void src_send_migrate(struct mig_job *j);
void src_poll_now(struct mig_job *j);
void src_send_progress(struct mig_job *j, const char *status);

/* mig_src_postcopy.c */
void src_postcopy_start(struct mig_job *j, const char *why);
/* A query-migrate status postcopy-*: follow it (stall rule, recovery). */
void src_postcopy_status(struct mig_job *j, const char *st, int64_t now);
void src_recovery_start(struct mig_job *j);
/* QEMU said failed once its post-copy had begun, before a poll saw it:
 * the destination is asked whether the guest ran there, then the job fails. */
void src_postcopy_failed(struct mig_job *j);

/* mig_src_storage.c */
void src_mirrors_start(struct mig_job *j);
void src_mirrors_switchover(struct mig_job *j);
void src_mirrors_on_event(struct mig_job *j, const char *event, json_t *data);
void src_mirrors_drop(struct mig_job *j);

/* mig_src_prepare.c (continued) */
void src_send_prepare(struct mig_job *j, json_t *sizes);

/* mig_src_disks.c */
/* Which disks must move (not on shared storage); their config (cfg_text,
 * those disks named by path). */
void src_disks_plan(struct mig_job *j);
/* Sends every disk to move, one after another, then calls next (or fails
 * the job: the guest stays here). final: the pass after the guest stopped. */
void src_disks_copy(struct mig_job *j, bool final, void (*next)(struct mig_job *j));
/* A failure: the transfer stopped, the destination told to drop the files. */
void src_disks_drop(struct mig_job *j);
/* Success: the source's files go (unless --keep-source). */
void src_disks_remove_source(struct mig_job *j);
/* The record's "disks" and its byte counts. */
void src_disks_record(struct mig_job *j, json_t *rec);
/* The config the destination boots (--cold reboot): moved disks at the
 * paths the destination named. NULL after failing the job. */
char *src_disks_dest_config(struct mig_job *j);

/* mig_src_cold.c */
/* The cold move of a guest with disks to move begins (after CONNECTING). */
void src_cold_disks_start(struct mig_job *j);
/* --cold reboot: the guest is powered off and cannot go there: boot it here
 * again (j->error says why). */
void src_reboot_here(struct mig_job *j);
void src_suspend_start(struct mig_job *j);
void src_reboot_start(struct mig_job *j);
/* The guest powered off as asked: boot it there (from the loop). */
void src_reboot_powered_off(struct mig_job *j);

#endif

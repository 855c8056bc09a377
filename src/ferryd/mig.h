/* mig.h: live migration between agents. mig_src_* runs on the source agent,
 * mig_dst_* on the destination, mig_any_* on both (libvirt's naming). */
#ifndef FERRYD_MIG_H
#define FERRYD_MIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct agent;
struct vm;
struct peer;

enum mig_postcopy { POSTCOPY_OFF, POSTCOPY_ON, POSTCOPY_AUTO };
/* Live (the default), or cold: suspend (the guest is paused for the whole
 * copy of its state, then resumed on the destination: same running
 * instance), or reboot (clean ACPI shutdown, then a fresh boot there). */
enum mig_cold { COLD_NONE, COLD_SUSPEND, COLD_REBOOT };

/* The default target is 1 ms: QEMU sizes its last round by what it could
 * send in that time, not counting what is still in flight to the
 * destination, so a 10 ms target stopped the guest with the stream still
 * behind (median pause 13-14 ms here against 9-10 ms at 1 ms, idle and
 * under load: docs/migration.md). If pre-copy stops converging, or has not
 * completed after MIG_ROUNDS_PER_TARGET rounds at a target, the target is
 * relaxed: to MIG_DOWNTIME_RELAXED_MS first, then doubled each time, each
 * raised target given at least MIG_TARGET_MIN_MS to work. (An idle guest
 * completes in 4 rounds; without the round limit, a guest rewriting 1 MiB
 * took 6-164 rounds of ever smaller "progress" at 1 ms.) */
#define MIG_DOWNTIME_DEFAULT_MS 1
#define MIG_DOWNTIME_RELAXED_MS 10
#define MIG_DOWNTIME_MAX_MS 1000
#define MIG_ROUNDS_PER_TARGET 6
#define MIG_TARGET_MIN_MS 300

struct mig_opts {
	int downtime_ms;          /* QEMU downtime-limit */
	bool downtime_given;      /* the user's hard target: never raised */
	long long bandwidth_mbps; /* max-bandwidth, MB/s (1e6 bytes) */
	int parallel;             /* multifd channels; 1: off */
	bool auto_converge;
	enum mig_postcopy postcopy;
	int timeout_s;            /* 0: none */
	bool copy_storage;
	bool insecure;            /* no TLS on the migration stream */
	bool qemu_tls;            /* QEMU's own TLS channel instead of ferry's tunnel */
	enum mig_cold cold;
	/* Cold moves whose disks are not all on shared storage: those disks
	 * travel with the disk mover (move_disks, set by the source), in two
	 * passes (the first while the guest still runs, the final one of what
	 * changed after it stopped) or one (after it stopped); the source's
	 * files are removed once the guest runs there, unless keep_source. */
	bool move_disks;
	int disk_passes;
	bool keep_source;
	bool force;               /* move although overridable preflight checks block */
};

/* The states of a source-side job. Every change goes through the transition
 * table in mig_src_job.c (printed in docs/migration.md); a change the table
 * does not allow fails the job safely instead. */
enum mig_state {
	MIG_CONNECTING,   /* to the destination agent */
	MIG_PREFLIGHT,    /* the move's requirements checked on both hosts (preflight_job.c) */
	MIG_CHECKING,     /* cold, disks to move: could the destination take the guest? */
	MIG_COPYING,      /* cold: disks not shared sent by the mover while the guest runs */
	MIG_PREPARING,    /* destination QEMU starting, waiting for us */
	MIG_MIRRORING,    /* --copy-storage: disks copied to the destination */
	MIG_SUSPENDING,   /* --cold suspend: the guest is being paused */
	MIG_COPYING_FINAL,/* cold: the disks' final pass (or only one), the guest stopped */
	MIG_MIGRATING,    /* pre-copy */
	MIG_POSTCOPY_ASKED, /* pre-copy still, the switch to post-copy asked for */
	MIG_MIRRORS_COMPLETING, /* pre-switchover: guest paused, mirrors finishing */
	MIG_SWITCHOVER,   /* mirrors done, QEMU told to complete */
	MIG_POSTCOPY,     /* post-copy: the guest runs on the destination */
	MIG_RECOVERING,   /* post-copy link broken: reconnecting to resume */
	MIG_POWERING_OFF, /* --cold reboot: ACPI power-off here */
	MIG_BOOTING_THERE,/* --cold reboot: powered off, the destination boots it */
	MIG_BOOTING_HERE, /* --cold reboot: the destination failed, booting it here again */
	MIG_FINISHING,    /* completed: the destination confirms it runs */
	MIG_FAILING,      /* cleaning up after a failure (abort there, resume here) */
	MIG_DONE,
	MIG_FAILED,
	MIG_N_STATES
};
/* The states of a destination-side job (mig_dst_job.c has its table). */
enum mig_dst_state {
	DST_STARTING,     /* incoming QEMU starting, prepare not answered */
	DST_LISTENING,    /* prepare answered: QEMU waits for the stream */
	DST_POSTCOPY,     /* post-copy began: the guest is split, never dropped */
	DST_RESUMED,      /* the guest runs here; the source has not finished */
	DST_ENDED,        /* handed over (an ordinary VM now) or its QEMU ended */
	DST_N_STATES
};

const char *mig_state_name(enum mig_state s);
const char *mig_dst_state_name(enum mig_dst_state s);
/* May a job go from a to b (the transition tables)? */
bool mig_src_transition_ok(enum mig_state a, enum mig_state b);
bool mig_dst_transition_ok(enum mig_dst_state a, enum mig_dst_state b);
void mig_opts_default(struct mig_opts *o);
/* The next target when pre-copy stops converging: at least
 * MIG_DOWNTIME_RELAXED_MS, else double, at most MIG_DOWNTIME_MAX_MS. */
int mig_relaxed_downtime(int ms);
bool mig_target_spent(int rounds_at_target, long long ms_since_raise);
json_t *mig_opts_to_json(const struct mig_opts *o);
/* Fills o from JSON (missing keys keep their defaults). -EINVAL with err. */
int mig_opts_from_json(json_t *j, struct mig_opts *o, char *err, size_t errlen);

/* The capabilities and parameters every migration sets on both sides,
 * explicitly, whatever an earlier migration left set. */
json_t *mig_any_caps(const struct mig_opts *o, bool source);
/* qemu_tls: QEMU encrypts (tls-creds); else the stream is plain to QEMU. */
json_t *mig_any_params(const struct mig_opts *o, bool qemu_tls);
/* How the stream is encrypted: QEMU's TLS, ferry's tunnel (the default) or not. */
static inline bool mig_uses_tunnel(const struct mig_opts *o) { return !o->insecure && !o->qemu_tls; }
static inline bool mig_uses_qemu_tls(const struct mig_opts *o) { return !o->insecure && o->qemu_tls; }
/* QEMU needs its TLS credentials object for --qemu-tls, or for the NBD export
 * of --copy-storage (which ferry's relay does not carry). */
static inline bool mig_needs_qemu_tls_object(const struct mig_opts *o)
{
	return !o->insecure && (o->qemu_tls || o->copy_storage);
}

/* The ops, as server.c's op table calls them: each answers r (now or when
 * the move ends). Ops on a VM get it; the others get vm NULL. */
struct request;
/* Source: "migrate", "migrate-cancel", "migrate-recover". */
void mig_src_start(struct request *r, json_t *args, struct vm *vm);
void mig_src_cancel(struct request *r, json_t *args, struct vm *vm);
void mig_src_recover(struct request *r, json_t *args, struct vm *vm);
/* Destination: ops from the source agent. mig-check (--cold reboot): could
 * this host boot the guest? Nothing is started. */
void mig_dst_prepare(struct request *r, json_t *args, struct vm *vm);
void mig_dst_check(struct request *r, json_t *args, struct vm *vm);
void mig_dst_finish(struct request *r, json_t *args, struct vm *vm);
void mig_dst_postcopy(struct request *r, json_t *args, struct vm *vm);
void mig_dst_resumed(struct request *r, json_t *args, struct vm *vm);
void mig_dst_abort(struct request *r, json_t *args, struct vm *vm);
void mig_dst_recover(struct request *r, json_t *args, struct vm *vm);
void mig_dst_pause(struct request *r, json_t *args, struct vm *vm);
void mig_dst_cron(struct agent *ag);
/* The TLS credentials object (PSK files written into dir). */
json_t *mig_any_tls_object(struct agent *ag, const char *dir, bool server);

/* History: one JSON line per migration in STATE/history.jsonl (capped by
 * the agent config's history_max_bytes, oldest records dropped first). */
#define MIG_HISTORY_PAGE 100              /* records a "history" request gets by default */
#define MIG_HISTORY_REPLY_MAX (512 * 1024) /* bytes of records in one reply, at most */
void mig_any_history_append(struct agent *ag, json_t *record);
/* The end of a move this agent ran as the source: its record into the
 * history and the metrics, and the metrics file rewritten. */
void mig_any_source_record(struct agent *ag, json_t *record);
/* Writes the metrics file (agent config metrics_file) whole: a temporary
 * file renamed over it, so a reader never sees half of one. */
void mig_any_metrics_write(struct agent *ag);
/* The newest `last` records (of VM name, if not NULL) started at or after
 * since_us (realtime), oldest first, at most MIG_HISTORY_REPLY_MAX bytes. */
json_t *mig_any_history_read(struct agent *ag, const char *name, long last, int64_t since_us);

#endif

/* mig_src_job.c: the source side's job: its state machine, the ops that
 * start and cancel it, the result record, and how it ends (success, or a
 * failure that leaves the guest running here whenever it still can).
 *
 * A live move: CONNECTING -> PREPARING -> (MIRRORING) -> MIGRATING
 * (-> POSTCOPY_ASKED -> POSTCOPY <-> RECOVERING) (-> MIRRORS_COMPLETING ->
 * SWITCHOVER) -> FINISHING -> DONE; any running state -> FAILING -> FAILED.
 * Before the switchover any failure leaves the guest running here. Cold
 * moves: mig_src_cold.c, and with disks to move, mig_src_disks.c. */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/preflight_job.h"
#include "ferryd/request.h"
#include "ferryd/tunnel.h"
#include "proto/proto.h"
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B(s) (1u << (s))
#define ANY_RUNNING_TO_FAIL B(MIG_FAILING)

/* The transition table and what each state means for a failure. */
static const struct {
	const char *name;
	unsigned next;
	bool qemu_migrating;   /* QEMU's outgoing migration was started: cancel it */
	bool before_switch;    /* the guest has not stopped for good here yet */
} states[MIG_N_STATES] = {
	[MIG_CONNECTING] = { "connecting", B(MIG_PREFLIGHT) | ANY_RUNNING_TO_FAIL, false, true },
	/* Nothing asked of the destination yet but its facts. */
	[MIG_PREFLIGHT] = { "preflight", B(MIG_PREPARING) | B(MIG_CHECKING) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_CHECKING] = { "checking", B(MIG_COPYING) | B(MIG_SUSPENDING) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_COPYING] = { "copying-disks", B(MIG_PREPARING) | B(MIG_POWERING_OFF) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_PREPARING] = { "preparing", B(MIG_MIRRORING) | B(MIG_SUSPENDING) | B(MIG_MIGRATING) | B(MIG_POWERING_OFF) |
		B(MIG_COPYING) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_MIRRORING] = { "mirroring", B(MIG_MIGRATING) | B(MIG_SUSPENDING) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_SUSPENDING] = { "suspending", B(MIG_MIGRATING) | B(MIG_COPYING_FINAL) | ANY_RUNNING_TO_FAIL, true, true },
	/* The guest stopped here (suspend: paused; reboot: powered off). */
	[MIG_COPYING_FINAL] = { "copying-disks-final", B(MIG_MIGRATING) | B(MIG_PREPARING) | B(MIG_BOOTING_THERE) |
		B(MIG_BOOTING_HERE) | ANY_RUNNING_TO_FAIL, false, true },
	[MIG_MIGRATING] = { "migrating", B(MIG_POSTCOPY_ASKED) | B(MIG_POSTCOPY) | B(MIG_MIRRORS_COMPLETING) |
		B(MIG_FINISHING) | ANY_RUNNING_TO_FAIL, true, true },
	/* Back to MIGRATING when the destination could not be told. */
	[MIG_POSTCOPY_ASKED] = { "postcopy-asked", B(MIG_MIGRATING) | B(MIG_POSTCOPY) | B(MIG_FINISHING) |
		ANY_RUNNING_TO_FAIL, true, true },
	[MIG_MIRRORS_COMPLETING] = { "mirrors-completing", B(MIG_SWITCHOVER) | ANY_RUNNING_TO_FAIL, true, true },
	[MIG_SWITCHOVER] = { "switchover", B(MIG_FINISHING) | ANY_RUNNING_TO_FAIL, true, true },
	[MIG_POSTCOPY] = { "postcopy", B(MIG_RECOVERING) | B(MIG_FINISHING) | ANY_RUNNING_TO_FAIL, true, true },
	[MIG_RECOVERING] = { "recovering", B(MIG_POSTCOPY) | B(MIG_FINISHING) | ANY_RUNNING_TO_FAIL, true, true },
	[MIG_POWERING_OFF] = { "powering-off", B(MIG_BOOTING_THERE) | B(MIG_COPYING_FINAL) | ANY_RUNNING_TO_FAIL, false,
		true },
	[MIG_BOOTING_THERE] = { "booting-there", B(MIG_DONE) | B(MIG_BOOTING_HERE) | ANY_RUNNING_TO_FAIL, false, false },
	[MIG_BOOTING_HERE] = { "booting-here", B(MIG_FAILED) | ANY_RUNNING_TO_FAIL, false, false },
	/* FAILED directly: completed here, unconfirmed there (nothing to undo). */
	[MIG_FINISHING] = { "finishing", B(MIG_DONE) | B(MIG_FAILED) | ANY_RUNNING_TO_FAIL, true, false },
	[MIG_FAILING] = { "failing", B(MIG_FAILED), false, false },
	[MIG_DONE] = { "done", 0, false, false },
	[MIG_FAILED] = { "failed", 0, false, false },
};

const char *mig_state_name(enum mig_state s)
{
	return s < MIG_N_STATES ? states[s].name : "?";
}

bool mig_src_transition_ok(enum mig_state a, enum mig_state b)
{
	return a < MIG_N_STATES && b < MIG_N_STATES && (states[a].next & B(b));
}

bool src_qemu_migrating(enum mig_state s)
{
	return states[s].qemu_migrating;
}

bool src_live(const struct mig_job *j)
{
	return j->state != MIG_FAILING && j->state != MIG_FAILED && j->state != MIG_DONE;
}

static void trail_add(struct mig_job *j)
{
	if (j->n_trail < (int)ARRAY_SIZE(j->trail)) {
		j->trail[j->n_trail].state = j->state;
		j->trail[j->n_trail++].mono_us = time_mono_us();
	}
}

/* The one place the state changes. */
static bool set_state(struct mig_job *j, enum mig_state to)
{
	if (!mig_src_transition_ok(j->state, to)) {
		log_error("migration state change refused", "vm=%s from=%s to=%s", j->name, mig_state_name(j->state),
			  mig_state_name(to));
		return false;
	}
	log_info("migration phase", "vm=%s phase=%s", j->name, mig_state_name(to));
	j->state = to;
	trail_add(j);
	return true;
}

bool src_enter(struct mig_job *j, enum mig_state to)
{
	if (!set_state(j, to)) {
		src_fail(j, "internal error: the migration of %s cannot go from %s to %s", j->name,
			 mig_state_name(j->state), mig_state_name(to));
		return false;
	}
	return true;
}

/* ---- the VM's listener ------------------------------------------------- */

static json_t *describe(void *opaque)
{
	struct mig_job *j = opaque;

	return json_pack("{s:s, s:s, s:I}", "phase", mig_state_name(j->state), "dest", j->dest,
			 "elapsed_ms", (json_int_t)((time_mono_us() - j->start_mono_us) / 1000));
}

static void on_event(void *opaque, struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!strcmp(event, "STOP") && !j->stop_us)
		j->stop_us = qemu_us;
	if (!strcmp(event, "MIGRATION_PASS") && j->n_passes < SRC_MAX_PASSES)
		j->pass_us[j->n_passes++] = qemu_us;
	if (!strcmp(event, "MIGRATION")) {
		const char *st = json_string_value(json_object_get(data, "status"));
		if (st && j->n_qemu_ev < SRC_MAX_QEMU_EVENTS) {
			snprintf(j->qemu_ev[j->n_qemu_ev].status, sizeof(j->qemu_ev[0].status), "%s", st);
			j->qemu_ev[j->n_qemu_ev++].us = qemu_us;
		}
		if (st && !strncmp(st, "postcopy", 8))
			j->went_postcopy = true;
		/* The end (or the pre-switchover stop) is known now, not at the next
		 * poll: up to 100 ms of the total time. */
		if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled") ||
			   !strcmp(st, "pre-switchover")))
			src_poll_now(j);
	}
	if (!strcmp(event, "RESUME") && states[j->state].before_switch)
		j->stop_us = 0;   /* resumed here (failure): the pause did not happen */
	if (!strncmp(event, "BLOCK_JOB_", 10))
		src_mirrors_on_event(j, event, data);
}

static void on_gone(void *opaque, struct vm *vm)
{
	struct mig_job *j = opaque;

	j->vm = NULL;   /* vm.c drops this listener once we return */
	if (j->state == MIG_DONE) {
		src_report_completed(j);   /* our paused copy went, as it should */
		return;
	}
	if (j->state == MIG_FAILED)
		return;
	if (j->state == MIG_POWERING_OFF) {
		src_reboot_powered_off(j);
		return;
	}
	if (j->peer && j->state != MIG_CONNECTING && j->state != MIG_PREFLIGHT)
		peer_call(j->peer, "mig-abort", json_pack("{s:s}", "name", vm->cfg->name), NULL, NULL);
	snprintf(j->error, sizeof(j->error), "the source QEMU of %s ended during the migration", vm->cfg->name);
	/* No guest is left here to keep: straight to the end. */
	if (j->state == MIG_FAILING || set_state(j, MIG_FAILING))
		src_finish_failure(j, false);
}

static const struct vm_listener_ops listener = {
	.name = "migration", .busy = true, .outgoing = true,
	.on_event = on_event, .on_gone = on_gone, .describe = describe,
};

/* ---- ending ------------------------------------------------------------ */

static void job_free(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	if (j->timer)
		loop_cancel_timer(j->ag->loop, j->timer);
	if (j->push || j->hb_timer)
		src_disks_drop(j);
	preflight_cancel(j->pf);
	json_decref(j->preflight);
	peer_free(j->peer);
	tunnel_stop(j->tunnel);
	request_drop(j->req);
	if (j->recover_req)
		request_err(j->recover_req, "the migration of %s ended", j->name);
	free(j->cfg_text);
	free(j);
}

/* Detaches the job from the VM and frees it from the loop (callbacks of the
 * peer or QMP may still be on the stack). */
void src_end(struct mig_job *j)
{
	if (j->vm)
		vm_unlisten(j->vm, &listener, j);
	if (j->timer) {
		loop_cancel_timer(j->ag->loop, j->timer);
		j->timer = 0;
	}
	loop_add_timer(j->ag->loop, 0, job_free, j);
}

json_t *src_record(struct mig_job *j, const char *status)
{
	const struct mig_stats *m = &j->last;
	json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
			      "name", j->name, "src", j->ag->cfg->host, "dst", j->dest,
			      "status", status,
			      "mode", j->o.cold == COLD_SUSPEND ? "suspend" : j->o.cold == COLD_REBOOT ? "reboot" :
				      j->went_postcopy ? "postcopy" : "precopy",
			      "started_us", (json_int_t)j->start_real_us,
			      "total_ms", (json_int_t)((time_mono_us() - j->start_mono_us) / 1000));
	json_object_set_new(r, "migrate_ms", json_integer(j->migrate_mono_us ? (time_mono_us() - j->migrate_mono_us) / 1000 : 0));
	json_object_set_new(r, "qemu_total_ms", json_integer(m->total_ms));
	json_object_set_new(r, "qemu_downtime_ms", json_integer(m->downtime_ms));
	json_object_set_new(r, "setup_ms", json_integer(m->setup_ms));
	json_object_set_new(r, "stop_us", json_integer(j->stop_us));
	json_object_set_new(r, "resume_us", json_integer(j->resume_us));
	json_object_set_new(r, "pause_ms", j->stop_us && j->resume_us ? json_real((j->resume_us - j->stop_us) / 1000.0) : json_null());
	json_object_set_new(r, "bytes", json_integer(m->ram_transferred_bytes + m->disk_transferred_bytes));
	json_object_set_new(r, "ram_bytes", json_integer(m->ram_transferred_bytes));
	json_object_set_new(r, "rounds", json_integer(m->dirty_sync_count));
	json_object_set_new(r, "postcopy_requests", json_integer(m->postcopy_requests));
	json_object_set_new(r, "tls", json_boolean(!j->o.insecure));
	json_object_set_new(r, "tls_by", json_string(j->o.insecure ? "none" : j->o.qemu_tls ? "qemu" : "ferry"));
	json_object_set_new(r, "options", mig_opts_to_json(&j->o));
	json_t *passes = json_array();
	for (int i = 0; i < j->n_passes; i++)
		json_array_append_new(passes, json_integer(j->pass_us[i]));
	json_object_set_new(r, "passes_us", passes);
	json_t *qev = json_array();
	for (int i = 0; i < j->n_qemu_ev; i++)
		json_array_append_new(qev, json_pack("{s:s, s:I}", "status", j->qemu_ev[i].status, "us",
						     (json_int_t)j->qemu_ev[i].us));
	json_object_set_new(r, "qemu_events", qev);
	json_t *phases = json_array();
	for (int i = 0; i < j->n_trail; i++)
		json_array_append_new(phases, json_pack("{s:s, s:I}", "phase", mig_state_name(j->trail[i].state),
							 "ms", (json_int_t)((j->trail[i].mono_us - j->start_mono_us) / 1000)));
	json_object_set_new(r, "phases", phases);
	if (j->o.move_disks)
		src_disks_record(j, r);
	if (j->preflight)
		json_object_set(r, "preflight", j->preflight);
	if (j->error[0])
		json_object_set_new(r, "error", json_string(j->error));
	return r;
}

void src_on_ignore(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm; (void)ret; (void)opaque;
	if (err)
		log_debug("ignored QMP error during cleanup", "error=\"%s\"", err);
}

/* The end of a failed job: its record, and the client's answer. */
void src_finish_failure(struct mig_job *j, bool guest_moved)
{
	if (j->state == MIG_FAILED)
		return;   /* ended already (the QEMU went while the cleanup ran) */
	set_state(j, MIG_FAILED);
	json_t *rec = src_record(j, guest_moved ? "completed-unconfirmed" : "failed");

	mig_any_source_record(j->ag, rec);
	json_decref(rec);
	if (guest_moved)
		request_err(j->req, "%s; the guest runs on host %s now", j->error, j->dest);
	else if (j->left_paused)
		request_err(j->req, "%s; %s stays paused on host %s", j->error, j->name, j->ag->cfg->host);
	else
		request_err(j->req, "%s; %s keeps running on host %s", j->error, j->vm ? j->vm->cfg->name : "the guest",
			    j->ag->cfg->host);
	j->req = NULL;
	src_end(j);
}

static void on_cont_after_fail(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (err) {
		/* Seen with QEMU 7.2 when its post-copy had already paused:
		 * migrate_cancel does not wake the paused migration thread, so
		 * the run state stays finish-migrate and cont is refused. */
		log_error("cannot resume the guest after the failed migration", "vm=%s error=\"%s\"", j->name, err);
		size_t n = strlen(j->error);
		snprintf(j->error + n, sizeof(j->error) - n,
			 "; QEMU would not resume the guest here (%s): restart it (ferry destroy, then create)", err);
		j->left_paused = true;
	}
	src_finish_failure(j, false);
}

static void on_src_status_after_fail(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	const char *st = json_string_value(json_object_get(ret, "status"));

	/* QEMU resumes the source itself when a pre-copy fails; make sure. */
	if (!err && st && strcmp(st, "running")) {
		log_info("resuming the guest here", "vm=%s status=%s", j->name, st);
		vm_qmp(vm, "cont", NULL, on_cont_after_fail, j);
		return;
	}
	src_finish_failure(j, false);
}

static void on_abort_reply(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (j->vm && !err && json_is_true(json_object_get(result, "running"))) {
		/* The destination already runs the guest: never resume ours. */
		log_warn("destination already runs the guest; ending the source copy", "vm=%s", j->name);
		vm_kill(j->vm);
		src_finish_failure(j, true);
		return;
	}
	if (j->vm)
		vm_qmp(j->vm, "query-status", NULL, on_src_status_after_fail, j);
	else
		src_finish_failure(j, false);
}

/* Fails the job: QEMU's migration cancelled, the mirrors dropped, the
 * destination told to abort (unless it already runs the guest), the guest
 * resumed here. Once only: a failing or ended job ignores it. */
void src_fail(struct mig_job *j, const char *fmt, ...)
{
	va_list ap;

	if (!src_live(j))
		return;
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	log_error("migration failed", "vm=%s phase=%s error=\"%s\"", j->name, mig_state_name(j->state), j->error);
	enum mig_state was = j->state;
	if (!set_state(j, MIG_FAILING))
		return;
	if (j->timer) {
		loop_cancel_timer(j->ag->loop, j->timer);
		j->timer = 0;
	}
	src_disks_drop(j);   /* a transfer under way stops; the destination drops its files */
	if (!j->vm) {
		src_finish_failure(j, false);
		return;
	}
	if (src_qemu_migrating(was))
		vm_qmp(j->vm, "migrate_cancel", NULL, src_on_ignore, NULL);
	src_mirrors_drop(j);
	if (j->peer && was != MIG_CONNECTING && was != MIG_PREFLIGHT)
		peer_call_timeout(j->peer, "mig-abort", json_pack("{s:s}", "name", j->name), 5000, on_abort_reply, j);
	else
		vm_qmp(j->vm, "query-status", NULL, on_src_status_after_fail, j);
}

/* The move is done: its record goes to both histories and to the client. */
void src_report_completed(struct mig_job *j)
{
	j->disks_sent = false;   /* they are the guest's disks there now */
	if (j->o.move_disks)
		src_disks_remove_source(j);
	json_t *rec = src_record(j, "completed");

	mig_any_source_record(j->ag, rec);
	if (j->peer)
		peer_call(j->peer, "history-add", json_pack("{s:O}", "record", rec), NULL, NULL);
	request_ok(j->req, rec);
	j->req = NULL;
	src_end(j);
}

/* ---- the ops ----------------------------------------------------------- */

/* A move asked for while the guest is still being received here (the tail
 * of a post-copy) waits for that to end, at most INCOMING_WAIT_MS. */
#define INCOMING_WAIT_MS 30000
struct deferred_start {
	struct request *r;
	char name[VM_NAME_MAX + 1];
	json_t *args;
	int64_t deadline_us;
};

static void start_now(struct request *r, json_t *args, struct vm *vm);

static void retry_start(struct loop *l, void *opaque)
{
	struct deferred_start *ds = opaque;
	struct agent *ag = ds->r->ag;
	struct vm *vm = vm_find(ag, ds->name);

	if (!vm) {
		request_err(ds->r, "%s is gone from host %s", ds->name, ag->cfg->host);
	} else if (vm->incoming_active && time_mono_us() < ds->deadline_us) {
		loop_add_timer(l, 100, retry_start, ds);
		return;
	} else if (vm->incoming_active) {
		request_err(ds->r, "%s is still being received on host %s (its incoming migration did not end within %d s)",
			    ds->name, ag->cfg->host, INCOMING_WAIT_MS / 1000);
	} else {
		log_info("incoming migration ended, starting the move", "vm=%s", ds->name);
		start_now(ds->r, ds->args, vm);
	}
	json_decref(ds->args);
	free(ds);
}

void mig_src_start(struct request *r, json_t *args, struct vm *vm)
{
	if (vm->incoming_active && !vm_busy(vm)) {
		struct deferred_start *ds = xcalloc(1, sizeof(*ds));
		ds->r = r;
		snprintf(ds->name, sizeof(ds->name), "%s", vm->cfg->name);
		ds->args = json_incref(args);
		ds->deadline_us = time_mono_us() + INCOMING_WAIT_MS * 1000LL;
		log_info("move waits for the incoming migration to end", "vm=%s", vm->cfg->name);
		loop_add_timer(r->ag->loop, 100, retry_start, ds);
		return;
	}
	start_now(r, args, vm);
}

/* Why vm cannot move now to dname; NULL: it can. */
static const char *refusal(struct agent *ag, struct vm *vm, const char *dname,
			   char *msg, size_t n)
{
	if (!strcmp(dname, ag->cfg->host))
		snprintf(msg, n, "%s already runs on host %s", vm->cfg->name, dname);
	else if (vm_busy(vm))
		snprintf(msg, n, "%s is already migrating", vm->cfg->name);
	else if (vm->state != VM_RUNNING)
		snprintf(msg, n, "%s is %s, not running: only a running VM migrates live", vm->cfg->name,
			 vm_state_name(vm->state));
	/* Even an --insecure move talks to the other agent in TLS: without a
	 * key there is nothing to authenticate with (never an all-zero key). */
	else if (!ag->have_key)
		snprintf(msg, n, "host %s has no key_file: it cannot talk to %s", ag->cfg->host, dname);
	else
		msg[0] = 0;
	/* Whether its disks can go (shared, --copy-storage, the mover): the
	 * preflight judges, with the destination's facts. */
	return msg[0] ? msg : NULL;
}

static void start_now(struct request *r, json_t *args, struct vm *vm)
{
	struct agent *ag = r->ag;
	json_t *dest = json_object_get(args, "dest");
	const char *dname = json_string_value(json_object_get(dest, "host"));
	const char *daddr = json_string_value(json_object_get(dest, "addr"));
	int dport = (int)json_integer_value(json_object_get(dest, "port"));
	struct mig_opts o;
	char msg[512];

	if (!dname || !daddr || dport <= 0) {
		request_err(r, "migrate needs a destination (host, addr, port)");
		return;
	}
	if (mig_opts_from_json(json_object_get(args, "opts"), &o, msg, sizeof(msg)) < 0 ||
	    refusal(ag, vm, dname, msg, sizeof(msg))) {
		request_err(r, "%s", msg);
		return;
	}
	struct mig_job *j = xcalloc(1, sizeof(*j));
	j->ag = ag;
	j->vm = vm;
	snprintf(j->name, sizeof(j->name), "%s", vm->cfg->name);
	j->o = o;
	j->req = r;
	j->start_mono_us = time_mono_us();
	j->start_real_us = time_real_us();
	snprintf(j->dest, sizeof(j->dest), "%s", dname);
	snprintf(j->dest_addr, sizeof(j->dest_addr), "%s", daddr);
	j->dest_port = dport;
	j->state = MIG_CONNECTING;
	j->moving = -1;
	if (o.cold != COLD_NONE)
		src_disks_plan(j);   /* cfg_text, and the disks that must travel */
	trail_add(j);
	vm_listen(vm, &listener, j);
	log_info("migration start", "vm=%s dest=%s addr=%s:%d", vm->cfg->name, dname, daddr, dport);
	src_connect(j);
}

static void on_cancel_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm;
	(void)ret;
	if (err)
		request_err(opaque, "%s", err);
	else
		request_ok(opaque, json_pack("{s:s}", "status", "cancelling"));
}

void mig_src_cancel(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_job *j = vm_listener(vm, &listener);

	(void)args;
	if (!j || !src_live(j)) {
		request_err(r, "%s is not migrating from host %s", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	if (!states[j->state].before_switch || j->state == MIG_POSTCOPY || j->state == MIG_RECOVERING) {
		request_err(r, "too late to cancel: %s already runs on host %s", vm->cfg->name, j->dest);
		return;
	}
	if (j->state == MIG_POWERING_OFF) {
		request_err(r, "too late to cancel: %s is powering off to boot on host %s", vm->cfg->name, j->dest);
		return;
	}
	j->cancel_requested = true;
	if (!src_qemu_migrating(j->state)) {
		src_fail(j, "migration cancelled by the user");
		request_ok(r, json_pack("{s:s}", "status", "cancelled"));
		return;
	}
	vm_qmp(vm, "migrate_cancel", NULL, on_cancel_sent, r);
}

struct mig_job *src_job_of(struct vm *vm)
{
	return vm_listener(vm, &listener);
}

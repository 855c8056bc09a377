/* mig_dst_job.c: the destination side's job: STARTING (incoming QEMU
 * starting) -> LISTENING (prepare answered) -> (POSTCOPY: the guest is split
 * between the hosts) -> RESUMED (it runs here) -> ENDED (handed over, or
 * its QEMU ended). The source's liveness decides what happens to an incoming
 * VM whose source goes silent or away. */
#include "ferryd/mig_dst.h"
#include "ferryd/request.h"
#include "ferryd/tunnel.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define B(s) (1u << (s))
/* The source pings each second: silent this long, it is gone. */
#define SOURCE_SILENT_US (10 * 1000000)
#define POSTCOPY_SILENT_US (3 * 1000000)

static const struct {
	const char *name;
	unsigned next;
} states[DST_N_STATES] = {
	[DST_STARTING] = { "starting", B(DST_LISTENING) | B(DST_ENDED) },
	[DST_LISTENING] = { "listening", B(DST_POSTCOPY) | B(DST_RESUMED) | B(DST_ENDED) },
	[DST_POSTCOPY] = { "postcopy", B(DST_RESUMED) | B(DST_ENDED) },
	[DST_RESUMED] = { "resumed", B(DST_ENDED) },
	[DST_ENDED] = { "ended", 0 },
};

const char *mig_dst_state_name(enum mig_dst_state s)
{
	return s < DST_N_STATES ? states[s].name : "?";
}

bool mig_dst_transition_ok(enum mig_dst_state a, enum mig_dst_state b)
{
	return a < DST_N_STATES && b < DST_N_STATES && (states[a].next & B(b));
}

bool dst_enter(struct mig_dst *d, enum mig_dst_state to)
{
	const char *name = d->vm ? d->vm->cfg->name : "?";

	if (!mig_dst_transition_ok(d->state, to)) {
		log_error("incoming migration state change refused", "vm=%s from=%s to=%s", name,
			  mig_dst_state_name(d->state), mig_dst_state_name(to));
		return false;
	}
	log_info("incoming migration phase", "vm=%s phase=%s", name, mig_dst_state_name(to));
	d->state = to;
	if (to == DST_LISTENING)
		d->listening_us = time_mono_us();
	return true;
}

/* ---- the incoming migrations that ended before the guest ran here ------
 * Remembered (the last AGENT_MAX_UNRESUMED) so that a post-copy source learns
 * it even when it asks later; forgotten when a new one of that name begins. */
void dst_forget_unresumed(struct agent *ag, const char *name)
{
	for (int i = 0; i < AGENT_MAX_UNRESUMED; i++)
		if (!strcmp(ag->ended_unresumed[i], name))
			ag->ended_unresumed[i][0] = 0;
}

static void remember_unresumed(struct agent *ag, const char *name)
{
	dst_forget_unresumed(ag, name);
	snprintf(ag->ended_unresumed[ag->next_ended], sizeof(ag->ended_unresumed[0]), "%s", name);
	ag->next_ended = (ag->next_ended + 1) % AGENT_MAX_UNRESUMED;
}

bool dst_ended_unresumed(struct agent *ag, const char *name)
{
	for (int i = 0; name && i < AGENT_MAX_UNRESUMED; i++)
		if (!strcmp(ag->ended_unresumed[i], name))
			return true;
	return false;
}

/* ---- answers ----------------------------------------------------------- */

void dst_answer_prepare_ok(struct mig_dst *d, json_t *result)
{
	if (!d->prep_req) {
		json_decref(result);
		return;
	}
	request_ok(d->prep_req, result);
	d->prep_req = NULL;
}

void dst_answer_prepare_err(struct mig_dst *d, const char *msg)
{
	if (!d->prep_req)
		return;
	request_err(d->prep_req, "%s", msg);
	d->prep_req = NULL;
}

void dst_answer_resumed(struct mig_dst *d)
{
	if (!d->res_req)
		return;
	request_ok(d->res_req, json_pack("{s:I}", "resume_us", (json_int_t)d->resume_us));
	d->res_req = NULL;
}

void dst_on_paused(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm;
	(void)ret;
	if (!opaque)
		return;
	if (err)
		request_err(opaque, "%s", err);
	else
		request_ok(opaque, NULL);
}

/* ---- lifecycle --------------------------------------------------------- */

void dst_remove_created(struct mig_dst *d)
{
	for (int i = 0; i < d->n_created; i++)
		unlink(d->created[i]);
	d->n_created = 0;
}

static void on_nbd_stopped(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)ret;
	(void)opaque;
	if (err)
		log_warn("cannot stop the nbd export", "vm=%s error=\"%s\"", vm->cfg->name, err);
}

/* --copy-storage: the NBD export lives only as long as it is needed. Once
 * the guest runs here the source has let go of it (it completes its mirror
 * before the switchover); on a failure the whole QEMU goes. */
void dst_nbd_stop(struct mig_dst *d)
{
	if (!d->nbd_running || !d->vm)
		return;
	d->nbd_running = false;
	log_info("nbd export stopped", "vm=%s", d->vm->cfg->name);
	vm_qmp(d->vm, "nbd-server-stop", NULL, on_nbd_stopped, NULL);
}

static const struct vm_listener_ops listener;

void dst_free(struct mig_dst *d)
{
	dst_nbd_stop(d);
	tunnel_stop(d->tunnel);
	if (d->vm)
		vm_unlisten(d->vm, &listener, d);
	request_drop(d->prep_req);
	request_drop(d->fin_req);
	request_drop(d->res_req);
	free(d);
}

void dst_hand_over(struct mig_dst *d)
{
	dst_answer_resumed(d);
	if (d->fin_req) {
		request_ok(d->fin_req, json_pack("{s:s, s:I, s:I}", "host", d->ag->cfg->host,
						 "resume_us", (json_int_t)d->resume_us, "pid", (json_int_t)d->vm->pid));
		d->fin_req = NULL;
	}
	log_info("migration finished", "vm=%s resume_us=%lld", d->vm->cfg->name, (long long)d->resume_us);
	dst_enter(d, DST_ENDED);
	dst_free(d);
}

static void on_event(void *opaque, struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct mig_dst *d = opaque;

	(void)vm;
	if (!strcmp(event, "MIGRATION") && d->state == DST_LISTENING) {
		const char *st = json_string_value(json_object_get(data, "status"));
		if (st && !strncmp(st, "postcopy", 8))
			dst_enter(d, DST_POSTCOPY);
	}
	if (!strcmp(event, "RESUME") && (d->state == DST_LISTENING || d->state == DST_POSTCOPY)) {
		dst_enter(d, DST_RESUMED);
		dst_nbd_stop(d);
		d->resume_us = qemu_us;
		dst_answer_resumed(d);
		if (d->fin_req)
			dst_hand_over(d);
	}
}

/* Its QEMU ended while still a destination. */
static void on_gone(void *opaque, struct vm *vm)
{
	struct mig_dst *d = opaque;
	char msg[300];
	bool resumed = d->state == DST_RESUMED;

	d->vm = NULL;   /* vm.c drops the listener once we return */
	if (!resumed) {
		log_warn("incoming QEMU ended before the guest resumed here", "vm=%s", vm->cfg->name);
		remember_unresumed(d->ag, vm->cfg->name);
		dst_remove_created(d);
	}
	snprintf(msg, sizeof(msg), "the destination QEMU on %s ended", d->ag->cfg->host);
	dst_answer_prepare_err(d, msg);
	if (d->fin_req) {
		request_err(d->fin_req, "%s", msg);
		d->fin_req = NULL;
	}
	if (d->res_req) {
		/* It never ran here and never will: its source still holds
		 * every page and may resume it. */
		request_ok(d->res_req, json_pack("{s:b}", "ended", 1));
		d->res_req = NULL;
	}
	dst_enter(d, DST_ENDED);
	if (!d->callbacks)
		dst_free(d);   /* else the last callback frees it (dst_release) */
}

bool dst_release(struct mig_dst *d)
{
	d->callbacks--;
	if (d->state != DST_ENDED)
		return false;
	if (!d->callbacks)
		dst_free(d);
	return true;
}

static const struct vm_listener_ops listener = {
	.name = "incoming", .busy = true, .outgoing = false, .on_event = on_event, .on_gone = on_gone,
};

struct mig_dst *dst_of(struct vm *vm)
{
	return vm_listener(vm, &listener);
}

/* A client connection closed: incoming VMs it was preparing may go. */
static void on_client_gone(struct agent *ag, long client_id, void *opaque)
{
	(void)opaque;
	for (struct vm *vm = ag->vms; vm; vm = vm->next) {
		struct mig_dst *d = dst_of(vm);
		if (!d || d->src_client != client_id)
			continue;
		if (d->state == DST_POSTCOPY) {
			/* The source has stopped for good and part of the guest may
			 * be only here. Never drop it: keep it for recovery (the
			 * source retries), or for a human. */
			log_warn("source agent gone during post-copy, keeping the incoming VM for recovery", "vm=%s",
				 vm->cfg->name);
		} else if (d->state != DST_RESUMED && vm->state == VM_INCOMING) {
			/* Before the guest ran here it is still the source's: drop
			 * this half-made copy. */
			log_warn("source agent gone, dropping incoming VM", "vm=%s", vm->cfg->name);
			vm_kill(vm);
		}
	}
}

void dst_attach(struct mig_dst *d, struct vm *vm)
{
	d->vm = vm;
	vm_listen(vm, &listener, d);
	server_on_client_gone(d->ag, on_client_gone, NULL);
}

/* Each second: a silent source. Before post-copy (it still holds all of the
 * guest), the incoming VM goes; once the guest runs here with post-copy on,
 * our side pauses so that a broken link becomes a recoverable
 * postcopy-paused state. Once post-copy began and before the guest runs
 * here, TCP carries the rest of the stream when the link returns. */
void mig_dst_cron(struct agent *ag)
{
	for (struct vm *vm = ag->vms; vm; vm = vm->next) {
		struct mig_dst *d = dst_of(vm);
		if (!d)
			continue;
		long long idle = server_client_idle_us(ag, d->src_client);
		/* The source waits, silent, for our answer to mig-prepare (a
		 * QEMU slow to open its disks: an RBD cluster electing a
		 * monitor, an NFS server away): its silence counts from the
		 * answer. */
		if (d->state == DST_LISTENING && idle > time_mono_us() - d->listening_us)
			idle = time_mono_us() - d->listening_us;
		if (d->state == DST_LISTENING && vm->state == VM_INCOMING && idle > SOURCE_SILENT_US) {
			log_warn("source agent silent, dropping incoming VM", "vm=%s", vm->cfg->name);
			d->src_client = -1;
			vm_kill(vm);
			continue;
		}
		if (d->state != DST_RESUMED || d->o.postcopy == POSTCOPY_OFF || d->src_client < 0)
			continue;
		if (idle > POSTCOPY_SILENT_US || idle < 0) {
			log_warn("source agent silent during post-copy, pausing", "vm=%s idle_ms=%lld", vm->cfg->name,
				 idle / 1000);
			vm_qmp_oob(vm, "migrate-pause", NULL, dst_on_paused, NULL);
			d->src_client = -1;   /* once; a recover request re-links it */
		}
	}
}

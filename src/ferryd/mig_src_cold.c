/* mig_src_cold.c: cold moves.
 * --cold suspend: the guest stops (SUSPENDING) before its state is sent (QEMU
 * then sends it in one pass); the destination holds it paused until
 * mig-finish runs it: the same running instance, moved.
 * --cold reboot: the destination checks it could boot the guest (PREPARING);
 * the guest powers off here (POWERING_OFF, ACPI, bounded by --timeout or
 * REBOOT_SHUTDOWN_S); the destination boots it from the same config, shared
 * disks (BOOTING_THERE). If that boot fails, it boots here again
 * (BOOTING_HERE): its disks are still here, so nothing is lost.
 * Disks that are not shared travel with the mover (mig_src_disks.c):
 *   suspend, two passes: CONNECTING -> CHECKING -> COPYING -> PREPARING ->
 *     SUSPENDING -> COPYING_FINAL -> MIGRATING -> FINISHING -> DONE
 *   suspend, one pass: CONNECTING -> CHECKING -> SUSPENDING ->
 *     COPYING_FINAL -> PREPARING -> MIGRATING -> FINISHING -> DONE
 *   reboot: CONNECTING -> PREPARING -> (COPYING) -> POWERING_OFF ->
 *     COPYING_FINAL -> BOOTING_THERE -> DONE */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/pool.h"
#include "ferryd/request.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REBOOT_SHUTDOWN_S 60

/* Suspend: the disks are whole there. Two passes: the destination's QEMU
 * waits already, send the state; one: it can start now. */
static void after_final_pass(struct mig_job *j)
{
	if (j->stopped_early)
		src_send_prepare(j, NULL);
	else if (src_enter(j, MIG_MIGRATING))
		src_send_migrate(j);
}

static void on_suspended(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (j->state != MIG_SUSPENDING)
		return;
	if (err) {
		src_fail(j, "cannot pause %s: %s", j->name, err);
		return;
	}
	if (j->o.move_disks) {
		src_disks_copy(j, true, after_final_pass);
		return;
	}
	if (src_enter(j, MIG_MIGRATING))
		src_send_migrate(j);
}

/* From PREPARING: pause the guest; or, when it was paused before the
 * destination prepared (one disk pass), send its state now. */
void src_suspend_start(struct mig_job *j)
{
	if (j->stopped_early) {
		if (src_enter(j, MIG_MIGRATING))
			src_send_migrate(j);
		return;
	}
	if (src_enter(j, MIG_SUSPENDING))
		vm_qmp(j->vm, "stop", NULL, on_suspended, j);
}

static void after_live_pass(struct mig_job *j)
{
	src_send_prepare(j, NULL);
}

static void on_suspend_checked(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "host %s cannot take %s: %s", j->dest, j->name, err);
		return;
	}
	if (j->o.disk_passes == 2) {
		src_disks_copy(j, false, after_live_pass);
		return;
	}
	/* One pass: the disks travel while the guest is paused; the
	 * destination's QEMU can open them only after that. */
	j->stopped_early = true;
	if (src_enter(j, MIG_SUSPENDING))
		vm_qmp(j->vm, "stop", NULL, on_suspended, j);
}

/* What a cold move with disks to move asks the destination first. */
static json_t *check_args(struct mig_job *j)
{
	json_t *args = json_pack("{s:s, s:o}", "config", j->cfg_text, "opts", mig_opts_to_json(&j->o));
	json_t *pools = pool_locations(j->ag, j->vm->cfg), *data = json_object();
	if (pools)
		json_object_set_new(args, "pools", pools);
	for (int k = 0; k < j->n_moved; k++)
		json_object_set_new(data, j->moved[k].vdev, json_integer(j->moved[k].data_bytes));
	json_object_set_new(args, "disk_data", data);
	return args;
}

void src_cold_disks_start(struct mig_job *j)
{
	json_t *args = check_args(j);
	if (src_enter(j, MIG_CHECKING))
		peer_call(j->peer, "mig-check", args, on_suspend_checked, j);
	else
		json_decref(args);
}

static void on_rebooted_here(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!src_enter(j, MIG_FAILED))
		return;
	json_t *rec = src_record(j, "failed");
	mig_any_source_record(j->ag, rec);
	json_decref(rec);
	if (err)
		request_err(j->req, "%s; booting it again on host %s failed too: %s (its disks are untouched)", j->error,
			    j->ag->cfg->host, err);
	else
		request_err(j->req, "%s; %s was booted again on host %s", j->error, j->name, j->ag->cfg->host);
	j->req = NULL;
	src_end(j);
}

void src_reboot_here(struct mig_job *j)
{
	struct vm_config *cfg;
	struct ferr ferr = {0};

	log_error("cold move failed after the shutdown; booting the guest here again", "vm=%s error=\"%s\"", j->name,
		  j->error);
	src_disks_drop(j);
	if (!src_enter(j, MIG_BOOTING_HERE))
		return;
	if (vmcfg_parse(j->cfg_text, strlen(j->cfg_text), "<config>", NULL, &cfg, &ferr) < 0 ||
	    !vm_boot(j->ag, cfg, on_rebooted_here, j, &ferr))
		on_rebooted_here(NULL, ferr.msg, j);
}

static void on_booted_there(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (!err) {
		j->resume_us = time_real_us();
		if (!src_enter(j, MIG_DONE))
			return;
		log_info("cold move done", "vm=%s dest=%s", j->name, j->dest);
		src_report_completed(j);
		return;
	}
	snprintf(j->error, sizeof(j->error), "host %s could not boot %s: %s", j->dest, j->name, err);
	src_reboot_here(j);
}

static void boot_there_now(struct mig_job *j)
{
	char *text = j->o.move_disks ? src_disks_dest_config(j) : xstrdup(j->cfg_text);

	if (!text)
		return;
	if (!src_enter(j, MIG_BOOTING_THERE)) {
		free(text);
		return;
	}
	log_info("cold move: powered off, booting on the destination", "vm=%s dest=%s", j->name, j->dest);
	peer_call(j->peer, "create", json_pack("{s:s, s:s}", "config", text, "source", "<cold move>"), on_booted_there, j);
	free(text);
}

static void boot_there(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->timer = 0;
	if (j->o.move_disks)
		src_disks_copy(j, true, boot_there_now);
	else
		boot_there_now(j);
}

/* From the loop: the VM is still listed until vm.c is done with it, and
 * booting it here again (if the destination fails) needs the name. */
void src_reboot_powered_off(struct mig_job *j)
{
	if (j->timer)
		loop_cancel_timer(j->ag->loop, j->timer);
	j->timer = loop_add_timer(j->ag->loop, 0, boot_there, j);
}

static void on_shutdown_timeout(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->timer = 0;
	if (j->vm)
		j->vm->button_presses = 0;   /* it keeps running: no more presses */
	src_fail(j, "%s did not power off within %d s (ACPI power button; it may still be shutting down)", j->name,
		 j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S);
}

static void power_off(struct mig_job *j)
{
	if (!src_enter(j, MIG_POWERING_OFF))
		return;
	j->stop_us = time_real_us();
	log_info("cold move: powering off", "vm=%s dest=%s", j->name, j->dest);
	/* Pressed again every 5 s: a guest may miss one (seen once in a
	 * demo run right after a cold suspend move). */
	vm_power_button(j->vm, j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S);
	j->timer = loop_add_timer(j->ag->loop, (j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S) * 1000,
				  on_shutdown_timeout, j);
}

static void on_reboot_checked(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "host %s cannot take %s: %s", j->dest, j->name, err);
		return;
	}
	if (j->o.move_disks && j->o.disk_passes == 2)
		src_disks_copy(j, false, power_off);
	else
		power_off(j);
}

void src_reboot_start(struct mig_job *j)
{
	json_t *args = check_args(j);
	if (src_enter(j, MIG_PREPARING))
		peer_call(j->peer, "mig-check", args, on_reboot_checked, j);
	else
		json_decref(args);
}

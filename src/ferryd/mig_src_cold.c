/* mig_src_cold.c: cold moves.
 * --cold suspend: the guest stops (SUSPENDING) before its state is sent (QEMU
 * then sends it in one pass); the destination holds it paused until
 * mig-finish runs it: the same running instance, moved.
 * --cold reboot: the destination checks it could boot the guest (PREPARING);
 * the guest powers off here (POWERING_OFF, ACPI, bounded by --timeout or
 * REBOOT_SHUTDOWN_S); the destination boots it from the same config, shared
 * disks (BOOTING_THERE). If that boot fails, it boots here again
 * (BOOTING_HERE): its disks never moved, so nothing is lost. */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/pool.h"
#include "ferryd/request.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REBOOT_SHUTDOWN_S 60

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
	if (src_enter(j, MIG_MIGRATING))
		src_send_migrate(j);
}

void src_suspend_start(struct mig_job *j)
{
	if (src_enter(j, MIG_SUSPENDING))
		vm_qmp(j->vm, "stop", NULL, on_suspended, j);
}

static void on_rebooted_here(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!src_enter(j, MIG_FAILED))
		return;
	json_t *rec = src_record(j, "failed");
	mig_any_history_append(j->ag, rec);
	json_decref(rec);
	if (err)
		request_err(j->req, "%s; booting it again on host %s failed too: %s (its disks are untouched)", j->error,
			    j->ag->cfg->host, err);
	else
		request_err(j->req, "%s; %s was booted again on host %s", j->error, j->name, j->ag->cfg->host);
	j->req = NULL;
	src_end(j);
}

static void on_booted_there(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	struct vm_config *cfg;
	struct ferr ferr = {0};

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
	log_error("cold move failed after the shutdown; booting the guest here again", "vm=%s error=\"%s\"", j->name, err);
	if (!src_enter(j, MIG_BOOTING_HERE))
		return;
	if (vmcfg_parse(j->cfg_text, strlen(j->cfg_text), "<config>", NULL, &cfg, &ferr) < 0 ||
	    !vm_boot(j->ag, cfg, on_rebooted_here, j, &ferr))
		on_rebooted_here(NULL, ferr.msg, j);
}

static void boot_there(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->timer = 0;
	if (!src_enter(j, MIG_BOOTING_THERE))
		return;
	log_info("cold move: powered off, booting on the destination", "vm=%s dest=%s", j->name, j->dest);
	peer_call(j->peer, "create", json_pack("{s:s, s:s}", "config", j->cfg_text, "source", "<cold move>"),
		  on_booted_there, j);
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
	src_fail(j, "%s did not power off within %d s (ACPI power button; it may still be shutting down)", j->name,
		 j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S);
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
	if (!src_enter(j, MIG_POWERING_OFF))
		return;
	j->stop_us = time_real_us();
	log_info("cold move: powering off", "vm=%s dest=%s", j->name, j->dest);
	vm_qmp(j->vm, "system_powerdown", NULL, src_on_ignore, NULL);
	j->timer = loop_add_timer(j->ag->loop, (j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S) * 1000,
				  on_shutdown_timeout, j);
}

void src_reboot_start(struct mig_job *j)
{
	j->cfg_text = vmcfg_format(j->vm->cfg);
	json_t *args = json_pack("{s:s}", "config", j->cfg_text), *pools = pool_locations(j->ag, j->vm->cfg);
	if (pools)
		json_object_set_new(args, "pools", pools);
	if (src_enter(j, MIG_PREPARING))
		peer_call(j->peer, "mig-check", args, on_reboot_checked, j);
	else
		json_decref(args);
}

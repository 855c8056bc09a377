/* mig_src_storage.c: --copy-storage. Each disk not on shared storage is
 * mirrored to the destination's NBD export (MIRRORING) until every mirror is
 * ready; then the migration runs, and at its pre-switchover stop (guest
 * paused) the mirrors complete (MIRRORS_COMPLETING) before QEMU is told to
 * finish (SWITCHOVER). */
#include "ferryd/mig_src.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

static void job_name(const struct vm_disk *d, char *out, size_t n)
{
	snprintf(out, n, "mig-%s", d->vdev);
}

static void node_name(const struct vm_disk *d, char *out, size_t n)
{
	snprintf(out, n, "mig-nbd-%s", d->vdev);
}

static void on_mirrors_started(struct vm *vm, const char *err, void *opaque)
{
	(void)vm;
	if (err)
		src_fail(opaque, "cannot start the storage copy: %s", err);
}

void src_mirrors_start(struct mig_job *j)
{
	json_t *cmds = json_array();

	if (!src_enter(j, MIG_MIRRORING)) {
		json_decref(cmds);
		return;
	}
	for (int i = 0; i < j->vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &j->vm->cfg->disks[i];
		char node[32], job[32];
		if (d->shared)
			continue;
		node_name(d, node, sizeof(node));
		job_name(d, job, sizeof(job));
		json_array_append_new(cmds, qmp_cmd_blockdev_add_nbd(node, j->nbd_host, j->nbd_port, d->vdev,
								      j->o.insecure ? NULL : QMP_TLS_CREDS_ID));
		json_array_append_new(cmds, qmp_cmd_blockdev_mirror(job, d->vdev, node));
		j->mirrors++;
	}
	vm_qmp_batch(j->vm, cmds, on_mirrors_started, j);
}

static void on_continue(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm;
	(void)ret;
	if (err)
		src_fail(opaque, "%s", err);
}

/* pre-switchover: the mirrors are in sync and the guest is paused: complete
 * them (cancel completes a ready mirror), then let the migration switch. */
void src_mirrors_switchover(struct mig_job *j)
{
	if (j->state == MIG_MIGRATING) {
		if (!src_enter(j, MIG_MIRRORS_COMPLETING))
			return;
		for (int i = 0; i < j->vm->cfg->n_disks; i++) {
			char job[32];
			if (j->vm->cfg->disks[i].shared)
				continue;
			job_name(&j->vm->cfg->disks[i], job, sizeof(job));
			vm_qmp(j->vm, "block-job-cancel", json_pack("{s:s}", "device", job), src_on_ignore, NULL);
		}
	}
	if (j->state != MIG_MIRRORS_COMPLETING || j->mirrors_done < j->mirrors)
		return;   /* BLOCK_JOB_COMPLETED brings us back */
	if (!src_enter(j, MIG_SWITCHOVER))
		return;
	for (int i = 0; i < j->vm->cfg->n_disks; i++) {
		char node[32];
		if (j->vm->cfg->disks[i].shared)
			continue;
		node_name(&j->vm->cfg->disks[i], node, sizeof(node));
		vm_qmp(j->vm, "blockdev-del", json_pack("{s:s}", "node-name", node), src_on_ignore, NULL);
	}
	vm_qmp(j->vm, "migrate-continue", json_pack("{s:s}", "state", "pre-switchover"), on_continue, j);
}

void src_mirrors_on_event(struct mig_job *j, const char *event, json_t *data)
{
	const char *dev = json_string_value(json_object_get(data, "device"));

	if (!dev || strncmp(dev, "mig-", 4) || !src_live(j))
		return;
	if (!strcmp(event, "BLOCK_JOB_READY") && j->state == MIG_MIRRORING) {
		if (++j->mirrors_ready == j->mirrors)
			src_start_migrate(j);
	} else if (!strcmp(event, "BLOCK_JOB_COMPLETED")) {
		const char *e = json_string_value(json_object_get(data, "error"));
		if (e) {
			src_fail(j, "storage copy of %s failed: %s", dev + 4, e);
			return;
		}
		if (++j->mirrors_done >= j->mirrors && j->state == MIG_MIRRORS_COMPLETING)
			src_mirrors_switchover(j);
	}
}

/* After a failure: the mirrors and their NBD nodes go. */
void src_mirrors_drop(struct mig_job *j)
{
	for (int i = 0; j->mirrors && i < j->vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &j->vm->cfg->disks[i];
		char job[32], node[32];
		if (d->shared)
			continue;
		job_name(d, job, sizeof(job));
		node_name(d, node, sizeof(node));
		vm_qmp(j->vm, "block-job-cancel", json_pack("{s:s, s:b}", "device", job, "force", 1), src_on_ignore, NULL);
		vm_qmp(j->vm, "blockdev-del", json_pack("{s:s}", "node-name", node), src_on_ignore, NULL);
	}
}

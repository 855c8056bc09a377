/* mig_src_disks.c: cold moves of guests whose disks are not on storage both
 * hosts share. Each such disk goes with the disk mover (mover_ops.h) to the
 * destination's state folder (the destination names the file), one after
 * another. Two passes (the default): a first while the guest still runs
 * (COPYING), then, once it stopped, a final pass of only the blocks whose
 * content changed (COPYING_FINAL: the mover's journal of block hashes makes
 * that pass cheap). One pass: everything after it stopped. The source keeps
 * its files until the guest runs there, then removes them (unless
 * --keep-source); any failure leaves the guest here and has the destination
 * drop what it received (mig-disks-drop). */
#include "ferryd/mig_src.h"
#include "ferryd/mover_ops.h"
#include "mover/mover.h"
#include "ferryd/peer.h"
#include "ferryd/request.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void src_disks_plan(struct mig_job *j)
{
	struct vm_config *c = j->vm->cfg;

	j->n_moved = 0;
	j->moving = -1;
	for (int i = 0; i < c->n_disks; i++) {
		if (c->disks[i].shared)
			continue;
		struct moved_disk *m = &j->moved[j->n_moved++];
		memset(m, 0, sizeof(*m));
		m->disk = i;
		snprintf(m->vdev, sizeof(m->vdev), "%s", c->disks[i].vdev);
		snprintf(m->src, sizeof(m->src), "%s", c->disks[i].target);
		m->data_bytes = mover_file_data_bytes(m->src);
	}
	j->o.move_disks = j->n_moved > 0;
	/* The disks that move are named by path (a volume of a pool the other
	 * host does not share means nothing there). */
	free(j->cfg_text);
	struct vm_disk saved[VM_MAX_DISKS];
	memcpy(saved, c->disks, sizeof(saved));
	for (int k = 0; k < j->n_moved; k++)
		c->disks[j->moved[k].disk].pool[0] = 0;
	j->cfg_text = vmcfg_format(c);
	memcpy(c->disks, saved, sizeof(saved));
}

/* The progress line of a pass: the disk's share, as a migration's. */
static void on_push_progress(json_t *p, void *opaque)
{
	struct mig_job *j = opaque;
	struct moved_disk *m = j->moving >= 0 ? &j->moved[j->moving] : NULL;

	if (!m || !j->req)
		return;
	long long pos = json_integer_value(json_object_get(p, "pos"));
	long long size = json_integer_value(json_object_get(p, "size"));
	long long sent = json_integer_value(json_object_get(p, "sent_bytes"));
	double s = (time_mono_us() - j->push_start_us) / 1e6;
	double mbps = s > 0 ? sent * 8 / 1e6 / s : 0;
	double rate = s > 0 ? pos / s : 0;
	m->pos = pos;
	request_progress(j->req, json_pack("{s:s, s:s, s:f, s:f, s:I, s:i, s:I, s:f}", "phase", mig_state_name(j->state),
					   "disk", m->vdev, "percent", size ? 100.0 * pos / size : 0.0, "mbps", mbps,
					   "dirty_bytes_per_s", (json_int_t)0, "round", j->moving_final ? 2 : 1,
					   "remaining_bytes", (json_int_t)(size - pos),
					   "eta_s", rate > 0 ? (size - pos) / rate : 0.0));
}

static void push_next(struct mig_job *j);

/* While disks travel on their own connections, the agents' connection is
 * quiet: a ping each second, so that a destination holding a prepared QEMU
 * (the final pass of two) does not take the source for gone (10 s). */
static void heartbeat(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	j->hb_timer = 0;
	if (!src_live(j) || j->moving < 0 || !j->peer)
		return;
	peer_call_timeout(j->peer, "ping", NULL, 5000, NULL, NULL);
	j->hb_timer = loop_add_timer(l, 1000, heartbeat, j);
}

static void heartbeat_stop(struct mig_job *j)
{
	if (j->hb_timer)
		loop_cancel_timer(j->ag->loop, j->hb_timer);
	j->hb_timer = 0;
}

static void on_pushed(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	struct moved_disk *m = &j->moved[j->moving];
	int pass = j->moving_final;

	(void)ag;
	j->push = NULL;
	if (!src_live(j))
		return;
	if (err) {
		char msg[sizeof(j->error)];
		snprintf(msg, sizeof(msg), "copying disk %s (%s) to host %s failed: %s", m->vdev, m->src, j->dest, err);
		j->moving = -1;
		heartbeat_stop(j);
		if (j->o.cold == COLD_REBOOT && j->state == MIG_COPYING_FINAL) {
			snprintf(j->error, sizeof(j->error), "%s", msg);
			src_reboot_here(j);   /* powered off: it boots here again */
		} else {
			src_fail(j, "%s", msg);
		}
		return;
	}
	m->size = json_integer_value(json_object_get(result, "size"));
	m->sent[pass] = json_integer_value(json_object_get(result, "sent_bytes"));
	m->wire[pass] = json_integer_value(json_object_get(result, "wire_bytes"));
	m->ms[pass] = (time_mono_us() - j->push_start_us) / 1000;
	snprintf(m->dst, sizeof(m->dst), "%s", json_string_value(json_object_get(result, "path")) ?: "");
	log_info("disk sent", "vm=%s disk=%s pass=%s sent=%lld wire=%lld ms=%lld", j->name, m->vdev,
		 pass ? "final" : "live", m->sent[pass], m->wire[pass], m->ms[pass]);
	push_next(j);
}

static void push_next(struct mig_job *j)
{
	if (++j->moving >= j->n_moved) {
		j->moving = -1;
		heartbeat_stop(j);
		j->after_disks(j);
		return;
	}
	struct moved_disk *m = &j->moved[j->moving];
	json_t *args = json_pack("{s:s, s:s, s:b, s:i}", "config", j->cfg_text, "vdev", m->vdev, "final", j->moving_final,
				 "streams", MOVER_STREAMS_DEFAULT);
	j->push_start_us = time_mono_us();
	j->disks_sent = true;
	j->push = mover_push(j->ag, j->peer, j->dest_addr, m->src, args, on_push_progress, on_pushed, j);
}

void src_disks_copy(struct mig_job *j, bool final, void (*next)(struct mig_job *j))
{
	if (!src_enter(j, final ? MIG_COPYING_FINAL : MIG_COPYING))
		return;
	j->moving_final = final;
	j->after_disks = next;
	j->moving = -1;
	if (!j->hb_timer)
		j->hb_timer = loop_add_timer(j->ag->loop, 1000, heartbeat, j);
	push_next(j);
}

void src_disks_drop(struct mig_job *j)
{
	heartbeat_stop(j);
	if (j->push) {
		mover_push_cancel(j->push);
		j->push = NULL;
	}
	j->moving = -1;
	if (j->disks_sent && j->peer && j->cfg_text) {
		peer_call_timeout(j->peer, "mig-disks-drop", json_pack("{s:s}", "config", j->cfg_text), 5000, NULL, NULL);
		j->disks_sent = false;
	}
}

void src_disks_remove_source(struct mig_job *j)
{
	if (j->o.keep_source || !j->cfg_text)
		return;
	struct vm_config *c;
	struct ferr err = {0};
	if (vmcfg_parse(j->cfg_text, strlen(j->cfg_text), "<config>", NULL, &c, &err) < 0)
		return;
	for (int k = 0; k < j->n_moved; k++) {
		struct moved_disk *m = &j->moved[k];
		/* A read-only disk may be another guest's too (an installer
		 * image): it stays. So does a file another VM here opens (our
		 * own QEMU is on its way out: it stopped for good). */
		const struct vm *user = vm_image_user(j->ag, m->src, false);
		if (c->disks[m->disk].readonly || (user && strcmp(user->cfg->name, j->name)))
			continue;
		if (unlink(m->src) == 0)
			log_info("source disk removed after the move", "vm=%s path=%s", j->name, m->src);
	}
	vmcfg_free(c);
}

void src_disks_record(struct mig_job *j, json_t *rec)
{
	json_t *a = json_array();
	long long wire = 0, sent = 0, data = 0;

	for (int k = 0; k < j->n_moved; k++) {
		struct moved_disk *m = &j->moved[k];
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "vdev", m->vdev,
						   "source", m->src, "path", m->dst, "size", (json_int_t)m->size,
						   "data_bytes", (json_int_t)m->data_bytes,
						   "live_sent_bytes", (json_int_t)m->sent[0],
						   "live_wire_bytes", (json_int_t)m->wire[0], "live_ms", (json_int_t)m->ms[0],
						   "final_sent_bytes", (json_int_t)m->sent[1],
						   "final_wire_bytes", (json_int_t)m->wire[1], "final_ms", (json_int_t)m->ms[1]));
		wire += m->wire[0] + m->wire[1];
		sent += m->sent[0] + m->sent[1];
		data += m->data_bytes;
	}
	json_object_set_new(rec, "disks", a);
	json_object_set_new(rec, "disk_passes", json_integer(j->o.disk_passes));
	json_object_set_new(rec, "disk_data_bytes", json_integer(data));
	json_object_set_new(rec, "disk_sent_bytes", json_integer(sent));
	json_object_set_new(rec, "disk_wire_bytes", json_integer(wire));
}

char *src_disks_dest_config(struct mig_job *j)
{
	struct vm_config *c;
	struct ferr err = {0};

	if (vmcfg_parse(j->cfg_text, strlen(j->cfg_text), "<config>", NULL, &c, &err) < 0) {
		src_fail(j, "%s", err.msg);
		return NULL;
	}
	for (int k = 0; k < j->n_moved; k++) {
		struct vm_disk *d = &c->disks[j->moved[k].disk];
		free(d->target);
		d->target = xstrdup(j->moved[k].dst);
		d->pool[0] = 0;
	}
	char *text = vmcfg_format(c);
	vmcfg_free(c);
	return text;
}

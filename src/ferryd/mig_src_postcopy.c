/* mig_src_postcopy.c: the switch to post-copy (MIGRATING -> POSTCOPY_ASKED
 * -> POSTCOPY), the stall rule once the guest runs there, and recovery of a
 * broken link (POSTCOPY <-> RECOVERING). Once the guest runs on the
 * destination, nothing here may resume it on the source. */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/request.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

/* Nothing sent for this long in post-copy: the guest waits on pages, so
 * pause and recover soon. */
#define POSTCOPY_STALL_US (3 * 1000000)
#define RECOVERY_RETRY_US (2 * 1000000)

static void on_postcopy_started(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	/* Only while pre-copy runs: if it completed meanwhile, the refusal
	 * means nothing, and failing now would resume a guest that moved. */
	if (err && j->state == MIG_POSTCOPY_ASKED)
		src_fail(j, "cannot switch to post-copy: %s", err);
}

static void on_dst_knows_postcopy(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (j->state != MIG_POSTCOPY_ASKED)
		return;   /* pre-copy completed (or failed) meanwhile */
	if (err) {
		/* Still pre-copy: the guest is whole here; try again later. */
		log_warn("destination not told of post-copy, staying in pre-copy", "vm=%s error=\"%s\"", j->name, err);
		src_enter(j, MIG_MIGRATING);
		return;
	}
	vm_qmp(j->vm, "migrate-start-postcopy", NULL, on_postcopy_started, j);
}

/* The destination agent learns first that post-copy begins: from then on it
 * never drops the incoming VM for a silent source (the guest will be split
 * between the hosts), however long the link stays down. */
void src_postcopy_start(struct mig_job *j, const char *why)
{
	if (j->state != MIG_MIGRATING || !j->peer)
		return;
	log_info("switching to post-copy", "vm=%s reason=\"%s\"", j->name, why);
	if (src_enter(j, MIG_POSTCOPY_ASKED))
		peer_call(j->peer, "mig-postcopy", json_pack("{s:s}", "name", j->name), on_dst_knows_postcopy, j);
}

/* peer_free drops the calls in flight without answering them. */
static void drop_peer(struct mig_job *j)
{
	peer_free(j->peer);
	j->peer = NULL;
	j->asked_resumed = false;
}

/* A recovery attempt did not work out: back to POSTCOPY, retried later. */
static void recovery_failed(struct mig_job *j)
{
	drop_peer(j);
	if (j->state == MIG_RECOVERING)
		src_enter(j, MIG_POSTCOPY);
}

static void on_dst_resumed(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	j->asked_resumed = false;
	if (!err && json_is_true(json_object_get(result, "ended"))) {
		/* Its QEMU ended before the guest ran there: nothing there is
		 * newer than here, so the guest resumes here (src_fail: QEMU's
		 * migration cancelled, mig-abort there, cont here). */
		src_fail(j, "the destination QEMU on %s ended before the guest resumed there", j->dest);
		return;
	}
	if (j->state == MIG_RECOVERING)
		recovery_failed(j);   /* asked on a recovery connection (on_dst_recovering): retry */
	if (err)
		return;   /* asked again at the next poll, on a live connection */
	j->dst_resumed = true;
	log_info("post-copy: the guest runs on the destination", "vm=%s resume_us=%lld", j->name,
		 (long long)json_integer_value(json_object_get(result, "resume_us")));
}

/* QEMU's post-copy ended in failure before a poll saw it running (the
 * destination QEMU died right as post-copy began): the destination says
 * whether the guest ever ran there, and so which failure this is. */
static void on_failed_resumed(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (!src_live(j))
		return;
	if (!err && json_is_true(json_object_get(result, "ended")))
		src_fail(j, "the destination QEMU on %s ended before the guest resumed there", j->dest);
	else
		src_fail(j, "post-copy migration failed: %s", j->last.error_desc[0] ? j->last.error_desc : "QEMU gave no reason");
}

void src_postcopy_failed(struct mig_job *j)
{
	if (!j->peer) {
		src_fail(j, "post-copy migration failed: %s", j->last.error_desc[0] ? j->last.error_desc : "QEMU gave no reason");
		return;
	}
	peer_call_timeout(j->peer, "mig-resumed", json_pack("{s:s}", "name", j->name), 5000, on_failed_resumed, j);
}

/* Post-copy: learn when the destination resumes the guest. Until then a
 * stalled stream is waited out, never paused (see the stall rule). */
static void ask_resumed(struct mig_job *j)
{
	if (j->dst_resumed || j->asked_resumed || !j->peer || j->state == MIG_RECOVERING)
		return;
	j->asked_resumed = true;
	peer_call(j->peer, "mig-resumed", json_pack("{s:s}", "name", j->name), on_dst_resumed, j);
}

void src_postcopy_status(struct mig_job *j, const char *st, int64_t now)
{
	bool paused = !strcmp(st, "postcopy-paused");

	j->went_postcopy = true;
	if ((j->state == MIG_MIGRATING || j->state == MIG_POSTCOPY_ASKED) && !src_enter(j, MIG_POSTCOPY))
		return;
	if (paused) {
		src_recovery_start(j);
		return;
	}
	if (j->state == MIG_RECOVERING && !src_enter(j, MIG_POSTCOPY))   /* the stream flows again */
		return;
	ask_resumed(j);
	long long sent = j->last.ram_transferred_bytes;
	if (sent != j->last_transferred) {
		j->last_transferred = sent;
		j->last_progress_us = now;
		j->told_waiting = false;
	} else if (!strcmp(st, "postcopy-active") && now - j->last_progress_us > POSTCOPY_STALL_US && !j->dst_resumed) {
		/* Stalled before the guest resumed there: the destination QEMU is
		 * still loading the device state and cannot pause (QEMU 7.2 ends
		 * instead). Breaking the stream would lose the guest; TCP carries
		 * it on when the link returns. */
		if (!j->told_waiting)
			log_warn("post-copy stalled before the destination resumed the guest; waiting for the link",
				 "vm=%s", j->name);
		j->told_waiting = true;
	} else if (!strcmp(st, "postcopy-active") && now - j->last_progress_us > POSTCOPY_STALL_US) {
		log_warn("post-copy stalled, pausing to recover", "vm=%s", j->name);
		vm_qmp_oob(j->vm, "migrate-pause", NULL, src_on_ignore, NULL);
		j->last_progress_us = now;
	}
}

static void on_resume_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (err)
		log_warn("post-copy resume failed, will retry", "error=\"%s\"", err);
	if (j->recover_req) {
		if (err)
			request_err(j->recover_req, "%s", err);
		else
			request_ok(j->recover_req, json_pack("{s:s}", "status", "resumed"));
		j->recover_req = NULL;
	}
}

static void on_dst_recovering(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	struct ferr rerr = {0};

	if (j->state != MIG_RECOVERING)
		return;
	if (err) {
		log_warn("post-copy recovery: destination not ready, will retry", "error=\"%s\"", err);
		if (!j->dst_resumed && !j->asked_resumed) {
			/* Did the guest ever run there? If its QEMU ended first,
			 * the guest is whole here (on_dst_resumed). */
			j->asked_resumed = true;
			peer_call(p, "mig-resumed", json_pack("{s:s}", "name", j->name), on_dst_resumed, j);
			return;
		}
		recovery_failed(j);
		return;
	}
	const char *uri = json_string_value(json_object_get(result, "uri")) ?: "";
	/* Same relay on the destination: ours still points at it. */
	if ((j->tunnel <= 0 || strcmp(uri, j->uri)) && src_route_stream(j, uri, &rerr) < 0) {
		log_warn("post-copy recovery: cannot route the stream, will retry", "error=\"%s\"", rerr.msg);
		recovery_failed(j);
		return;
	}
	log_info("post-copy recovery: resuming", "vm=%s uri=%s via=%s", j->name, j->uri, j->qemu_uri);
	vm_qmp_cmd(j->vm, qmp_cmd_migrate(j->qemu_uri, true), on_resume_sent, j);
}

static void on_recover_peer(struct peer *p, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	if (j->state != MIG_RECOVERING)
		return;
	if (err) {
		log_warn("post-copy recovery: destination unreachable, will retry", "error=\"%s\"", err);
		src_enter(j, MIG_POSTCOPY);
		return;
	}
	peer_call(p, "mig-recover", json_pack("{s:s}", "name", j->name), on_dst_recovering, j);
}

/* Both sides are in postcopy-paused: reconnect to the destination agent and
 * resume (it listens again first, then we reconnect). Retried each poll, at
 * most every RECOVERY_RETRY_US. */
void src_recovery_start(struct mig_job *j)
{
	int64_t now = time_mono_us();

	if (j->state != MIG_POSTCOPY || now - j->last_recovery_us < RECOVERY_RETRY_US)
		return;
	j->last_recovery_us = now;
	if (!src_enter(j, MIG_RECOVERING))
		return;
	log_info("post-copy recovery: trying", "vm=%s dest=%s", j->name, j->dest);
	drop_peer(j);
	j->peer = peer_connect(j->ag, j->dest, j->dest_addr, j->dest_port, on_recover_peer, j);
}

void mig_src_recover(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_job *j = src_job_of(vm);

	(void)args;
	if (!j || (j->state != MIG_POSTCOPY && j->state != MIG_RECOVERING)) {
		request_err(r, "%s has no post-copy migration to recover on host %s", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	if (j->recover_req)
		request_err(j->recover_req, "superseded by a newer recovery request");
	j->recover_req = r;
	if (j->state == MIG_RECOVERING)
		src_enter(j, MIG_POSTCOPY);   /* start over now */
	j->last_recovery_us = 0;
	src_recovery_start(j);
}

/* mig_src.c: the source side of a live migration. One job per VM, moving
 * through the phases of enum mig_state (never backwards):
 *   connect to the destination agent -> it prepares a QEMU waiting for us
 *   -> (--copy-storage: mirror disks over NBD) -> migrate, watching progress
 *   (post-copy on demand or when pre-copy stops converging) -> the
 *   destination confirms the guest runs there -> our QEMU quits.
 * Before switchover any failure leaves the guest running here, untouched. */
#include "ferryd/agent.h"
#include "ferryd/mig.h"
#include "ferryd/peer.h"
#include "ferryd/tunnel.h"
#include "proto/args.h"
#include "proto/proto.h"
#include "qmp/cmds.h"
#include "qmp/migstats.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 100
#define POSTCOPY_AUTO_BUDGET_S 30
/* Nothing sent for this long: in post-copy the guest waits on pages, so
 * pause and recover soon; in pre-copy the guest still runs here, and a link
 * that loses a few packets in a row can leave TCP backing off for 1 + 2 + 4 s
 * (seen with a 1 s queue on a 4 Mbit/s lab link: 3 s was not enough), so
 * wait longer before giving up, as long as the destination does for us. */
#define STALL_US (3 * 1000000)
#define PRECOPY_STALL_US (10 * 1000000)

struct mig_job {
	struct agent *ag;
	struct vm *vm;             /* NULL once the source QEMU is gone */
	char name[VM_NAME_MAX + 1];
	enum mig_state state;
	struct mig_opts o;
	char dest[64], dest_addr[64];
	int dest_port;
	struct peer *peer;
	long client_id, req_id;
	int64_t start_mono_us, start_real_us, migrate_mono_us;
	int64_t target_mono_us;    /* when ferry last raised the downtime target */
	char uri[128];
	char nbd_host[64];
	int nbd_port;
	json_int_t ram_bytes;   /* guest RAM of the source QEMU */
	pid_t tunnel;              /* ferry's TLS relay (tunnel.c); 0: none */
	char qemu_uri[640];        /* what QEMU migrates to: j->uri, or the relay */
	long poll_timer;           /* query-migrate polling; a cold reboot's power-off bound, then its next step */
	bool polling;              /* a query-migrate is in flight */
	bool poll_soon;            /* QEMU announced a new status: poll at once */
	bool cancel_requested;
	bool postcopy_started;     /* we asked for it */
	bool in_postcopy;          /* QEMU went there */
	bool dst_resumed;          /* the destination said the guest runs there */
	bool asked_resumed;        /* a "mig-resumed" request is out */
	bool told_waiting;         /* logged that a stall before that is waited out */
	/* post-copy auto and the downtime relaxation: remaining bytes at each
	 * new round; rounds since the target was last set */
	long long last_round, min_remaining;
	int rounds_without_progress, rounds_at_target;
	/* post-copy recovery */
	long long last_transferred;
	int64_t last_progress_us;
	bool recovering;
	bool left_paused;          /* after a failure, QEMU would not resume the guest here */
	int64_t last_recovery_us;
	long recover_client, recover_req;
	int polls;
	int mirrors, mirrors_ready, mirrors_done;
	bool mirrors_cancel_sent, switchover_sent;
	int64_t stop_us, resume_us;
	struct mig_stats last;     /* last query-migrate result */
	char error[700];
	bool finished;
	char *cfg_text;            /* --cold reboot: the config, to boot it there (or here again) */
};

static void job_fail(struct mig_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void poll_migration(struct loop *l, void *opaque);
static void ask_resumed(struct mig_job *j);
static void reboot_there(struct loop *l, void *opaque);
static void start_reboot(struct mig_job *j);

/* The one place the phase changes: forward only. */
static void mig_set_state(struct mig_job *j, enum mig_state from, enum mig_state to)
{
	if (j->state != from || to <= from) {
		log_error("migration phase refused", "vm=%s from=%s to=%s now=%s", j->name,
			  mig_state_name(from), mig_state_name(to), mig_state_name(j->state));
		return;
	}
	log_info("migration phase", "vm=%s phase=%s", j->name, mig_state_name(to));
	j->state = to;
}

json_t *mig_src_describe(struct vm *vm)
{
	struct mig_job *j = vm->mig;
	json_t *o = json_pack("{s:s, s:s, s:I}", "phase", mig_state_name(j->state), "dest", j->dest,
			      "elapsed_ms", (json_int_t)((time_mono_us() - j->start_mono_us) / 1000));
	return o;
}

static int route_stream(struct mig_job *j, const char *uri, struct ferr *err);

static void job_free(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	if (j->poll_timer)
		loop_cancel_timer(j->ag->loop, j->poll_timer);
	peer_free(j->peer);
	tunnel_stop(j->tunnel);
	free(j->cfg_text);
	free(j);
}

/* Ends the job: detaches it from the VM, frees it from the loop (callbacks
 * of the peer or QMP may still be on the stack). */
static void job_end(struct mig_job *j)
{
	if (j->finished)
		return;
	j->finished = true;
	if (j->vm && j->vm->mig == j)
		j->vm->mig = NULL;
	if (j->poll_timer) {
		loop_cancel_timer(j->ag->loop, j->poll_timer);
		j->poll_timer = 0;
	}
	loop_add_timer(j->ag->loop, 0, job_free, j);
}

static json_t *record(struct mig_job *j, const char *status)
{
	const struct mig_stats *m = &j->last;
	json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
			      "name", j->name, "src", j->ag->cfg->host, "dst", j->dest,
			      "status", status,
			      "mode", j->o.cold == COLD_SUSPEND ? "suspend" : j->o.cold == COLD_REBOOT ? "reboot" :
				      j->in_postcopy ? "postcopy" : "precopy",
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
	if (j->error[0])
		json_object_set_new(r, "error", json_string(j->error));
	return r;
}

/* ---- failure ---------------------------------------------------------- */

static void on_ignore(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm; (void)ret; (void)opaque;
	if (err)
		log_debug("ignored QMP error during cleanup", "error=\"%s\"", err);
}

static void finish_failure(struct mig_job *j, bool guest_moved)
{
	json_t *rec = record(j, guest_moved ? "completed-unconfirmed" : "failed");

	mig_any_history_append(j->ag, rec);
	if (guest_moved)
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; the guest runs on host %s now", j->error, j->dest));
	else if (j->left_paused)
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; %s stays paused on host %s",
								  j->error, j->name, j->ag->cfg->host));
	else
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; %s keeps running on host %s",
								  j->error, j->vm ? j->vm->cfg->name : "the guest", j->ag->cfg->host));
	json_decref(rec);
	job_end(j);
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
	finish_failure(j, false);
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
	finish_failure(j, false);
}

static void on_abort_reply(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (!err && json_is_true(json_object_get(result, "running"))) {
		/* The destination already runs the guest: never resume ours. */
		log_warn("destination already runs the guest; ending the source copy", "vm=%s", j->vm->cfg->name);
		vm_kill(j->vm);
		finish_failure(j, true);
		return;
	}
	if (j->vm)
		vm_qmp(j->vm, "query-status", NULL, on_src_status_after_fail, j);
	else
		finish_failure(j, false);
}

static void job_fail(struct mig_job *j, const char *fmt, ...)
{
	va_list ap;

	if (j->state == MIG_FAILED || j->finished)
		return;
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	log_error("migration failed", "vm=%s phase=%s error=\"%s\"", j->vm ? j->vm->cfg->name : "?",
		  mig_state_name(j->state), j->error);
	enum mig_state was = j->state;
	j->state = MIG_FAILED;
	if (j->poll_timer) {
		loop_cancel_timer(j->ag->loop, j->poll_timer);
		j->poll_timer = 0;
	}
	if (!j->vm) {
		finish_failure(j, false);
		return;
	}
	if (was >= MIG_MIGRATING)
		vm_qmp(j->vm, "migrate_cancel", NULL, on_ignore, NULL);
	for (int i = 0; j->mirrors && i < j->vm->cfg->n_disks; i++) {
		char job[32], node[32];
		if (j->vm->cfg->disks[i].shared)
			continue;
		snprintf(job, sizeof(job), "mig-%s", j->vm->cfg->disks[i].vdev);
		snprintf(node, sizeof(node), "mig-nbd-%s", j->vm->cfg->disks[i].vdev);
		vm_qmp(j->vm, "block-job-cancel", json_pack("{s:s, s:b}", "device", job, "force", 1), on_ignore, NULL);
		vm_qmp(j->vm, "blockdev-del", json_pack("{s:s}", "node-name", node), on_ignore, NULL);
	}
	if (j->peer && was >= MIG_PREPARING)
		peer_call_timeout(j->peer, "mig-abort", json_pack("{s:s}", "name", j->vm->cfg->name), 5000, on_abort_reply, j);
	else
		vm_qmp(j->vm, "query-status", NULL, on_src_status_after_fail, j);
}

/* ---- success ---------------------------------------------------------- */

/* The move is done: its record goes to both histories and to the client. */
static void report_completed(struct mig_job *j)
{
	json_t *rec = record(j, "completed");

	mig_any_history_append(j->ag, rec);
	if (j->peer)
		peer_call(j->peer, "history-add", json_pack("{s:O}", "record", rec), NULL, NULL);
	server_reply(j->ag, j->client_id, proto_reply_ok(j->req_id, rec));
	job_end(j);
}

static void on_source_gone(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)err;
	j->vm = NULL;
	report_completed(j);
}

static void on_finished(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (err) {
		/* Completed on our side, but the destination does not confirm. Our
		 * copy stays paused: resuming it could make two. */
		snprintf(j->error, sizeof(j->error), "the destination did not confirm the guest runs: %s", err);
		log_error("migration unconfirmed", "vm=%s error=\"%s\"", j->vm->cfg->name, err);
		json_t *rec = record(j, "unconfirmed");
		mig_any_history_append(j->ag, rec);
		json_decref(rec);
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; %s stays paused on host %s (check host %s)",
								  j->error, j->vm->cfg->name, j->ag->cfg->host, j->dest));
		job_end(j);
		return;
	}
	j->resume_us = json_integer_value(json_object_get(result, "resume_us"));
	mig_set_state(j, MIG_FINISHING, MIG_DONE);
	log_info("migration done", "vm=%s dest=%s pause_us=%lld", j->vm->cfg->name, j->dest,
		 (long long)(j->resume_us - j->stop_us));
	/* The guest runs there: our paused copy goes. */
	vm_wait_gone(j->vm, on_source_gone, j);
	vm_kill(j->vm);
}

static void on_final_query(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	if (!err && ret)
		mig_stats_parse(ret, &j->last);
	peer_call(j->peer, "mig-finish", json_pack("{s:s}", "name", vm->cfg->name), on_finished, j);
}

/* ---- progress ----------------------------------------------------------- */

static void send_progress(struct mig_job *j, const char *status)
{
	const struct mig_stats *m = &j->last;

	server_progress(j->ag, j->client_id, j->req_id,
			json_pack("{s:s, s:s, s:f, s:I, s:I, s:f, s:I, s:I, s:f}",
				  "phase", mig_state_name(j->state), "status", status ?: "",
				  "percent", mig_stats_percent(m), "sent_bytes", (json_int_t)m->ram_transferred_bytes,
				  "remaining_bytes", (json_int_t)m->ram_remaining_bytes,
				  "mbps", m->ram_mbps, "dirty_bytes_per_s", (json_int_t)mig_stats_dirty_bytes_per_s(m),
				  "round", (json_int_t)m->dirty_sync_count, "eta_s", mig_stats_eta_s(m)));
}

static void on_postcopy_started(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	/* Only while pre-copy runs: if it completed meanwhile, the refusal
	 * means nothing, and failing now would resume a guest that moved. */
	if (err && j->state == MIG_MIGRATING)
		job_fail(j, "cannot switch to post-copy: %s", err);
}

static void on_dst_knows_postcopy(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (err) {
		/* Still pre-copy: the guest is whole here; try again later. */
		log_warn("destination not told of post-copy, staying in pre-copy", "vm=%s error=\"%s\"", j->vm->cfg->name, err);
		j->postcopy_started = false;
		return;
	}
	if (j->state == MIG_MIGRATING)   /* pre-copy may have completed meanwhile */
		vm_qmp(j->vm, "migrate-start-postcopy", NULL, on_postcopy_started, j);
}

/* The destination agent learns first that post-copy begins: from then on it
 * never drops the incoming VM for a silent source (the guest will be split
 * between the hosts), however long the link stays down. */
static void start_postcopy(struct mig_job *j, const char *why)
{
	if (j->postcopy_started || !j->peer)
		return;
	log_info("switching to post-copy", "vm=%s reason=\"%s\"", j->vm->cfg->name, why);
	j->postcopy_started = true;
	peer_call(j->peer, "mig-postcopy", json_pack("{s:s}", "name", j->vm->cfg->name), on_dst_knows_postcopy, j);
}

/* Has pre-copy stopped converging? True once the bytes left at the start of
 * a round fail to drop below 90% of the best seen, three rounds in a row. */
static bool precopy_stuck(struct mig_job *j, const struct mig_stats *m)
{
	long long round = m->dirty_sync_count, left = m->ram_remaining_bytes;

	if (round <= j->last_round || round < 2)
		return false;
	/* Small rounds can end several times between two polls. */
	j->rounds_at_target += j->last_round ? round - j->last_round : 1;
	j->last_round = round;
	if (!j->min_remaining || left < j->min_remaining * 9 / 10) {
		j->min_remaining = left;
		j->rounds_without_progress = 0;
		return false;
	}
	return ++j->rounds_without_progress >= 3;
}

static void continue_after_mirrors(struct mig_job *j);
static void start_recovery(struct mig_job *j);

static void on_query(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	const char *st;
	int64_t now = time_mono_us();

	(void)vm;
	j->polling = false;
	if (j->state == MIG_FAILED || j->finished)
		return;
	if (err) {
		job_fail(j, "%s", err);
		return;
	}
	mig_stats_parse(ret, &j->last);
	st = j->last.status;
	double elapsed_s = (now - j->migrate_mono_us) / 1e6;

	if (!strcmp(st, "completed")) {
		mig_set_state(j, j->state, MIG_FINISHING);
		send_progress(j, st);
		vm_qmp(j->vm, "query-migrate", NULL, on_final_query, j);
		return;
	}
	if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
		const char *why = j->last.error_desc[0] ? j->last.error_desc : NULL;
		if (j->state == MIG_POSTCOPY) {
			/* The destination has the newest memory: nothing to resume here. */
			job_fail(j, "post-copy migration %s: %s", st, why ?: "no reason given");
			return;
		}
		if (j->cancel_requested)
			job_fail(j, "migration cancelled by the user");
		else
			job_fail(j, "migration %s: %s", st, why ?: "QEMU gave no reason");
		return;
	}
	if (!strcmp(st, "pre-switchover")) {
		continue_after_mirrors(j);
	} else if (!strcmp(st, "postcopy-active") || !strcmp(st, "postcopy-recover")) {
		j->in_postcopy = true;
		if (j->state == MIG_MIGRATING)
			mig_set_state(j, MIG_MIGRATING, MIG_POSTCOPY);
		j->recovering = false;
		ask_resumed(j);
		long long sent = j->last.ram_transferred_bytes;
		if (sent != j->last_transferred) {
			j->last_transferred = sent;
			j->last_progress_us = now;
			j->told_waiting = false;
		} else if (!strcmp(st, "postcopy-active") && now - j->last_progress_us > STALL_US && !j->dst_resumed) {
			/* Stalled before the guest resumed there: the destination
			 * QEMU is still loading the device state and cannot pause
			 * (QEMU 7.2 ends instead). Breaking the stream would lose
			 * the guest; TCP carries it on when the link returns. */
			if (!j->told_waiting)
				log_warn("post-copy stalled before the destination resumed the guest; waiting for the link",
					 "vm=%s", j->vm->cfg->name);
			j->told_waiting = true;
		} else if (!strcmp(st, "postcopy-active") && now - j->last_progress_us > STALL_US) {
			/* No byte moved for 3 s: treat the link as broken. */
			log_warn("post-copy stalled, pausing to recover", "vm=%s", j->vm->cfg->name);
			vm_qmp_oob(j->vm, "migrate-pause", NULL, on_ignore, NULL);
			j->last_progress_us = now;
		}
	} else if (!strcmp(st, "postcopy-paused")) {
		j->in_postcopy = true;
		if (j->state == MIG_MIGRATING)
			mig_set_state(j, MIG_MIGRATING, MIG_POSTCOPY);
		start_recovery(j);
	} else if (j->state == MIG_MIGRATING) {
		long long sent = j->last.ram_transferred_bytes;
		if (sent != j->last_transferred || strcmp(st, "active")) {
			j->last_transferred = sent;
			j->last_progress_us = now;
		} else if (now - j->last_progress_us > PRECOPY_STALL_US) {
			/* Pre-copy: nothing moved for 10 s. TCP would retry for
			 * minutes; the guest is still ours, so give up now. */
			job_fail(j, "the migration link to host %s stalled (nothing sent for %d s)", j->dest, PRECOPY_STALL_US / 1000000);
			return;
		}
		if (j->o.postcopy == POSTCOPY_ON && !strcmp(st, "active"))
			start_postcopy(j, "post-copy on");
		else if (j->o.postcopy == POSTCOPY_AUTO && precopy_stuck(j, &j->last))
			start_postcopy(j, "pre-copy stopped converging");
		else if (j->o.postcopy == POSTCOPY_OFF && !j->o.downtime_given &&
			 j->o.downtime_ms < MIG_DOWNTIME_MAX_MS &&
			 (precopy_stuck(j, &j->last) ||
			  mig_target_spent(j->rounds_at_target, j->target_mono_us ? (now - j->target_mono_us) / 1000 : -1))) {
			/* ferry's own target was too ambitious for this guest: relax it. */
			j->o.downtime_ms = mig_relaxed_downtime(j->o.downtime_ms);
			j->rounds_without_progress = 0;
			j->rounds_at_target = 0;
			j->target_mono_us = now;
			log_info("raising the downtime target", "vm=%s downtime_ms=%d", j->vm->cfg->name, j->o.downtime_ms);
			vm_qmp(j->vm, "migrate-set-parameters", json_pack("{s:i}", "downtime-limit", j->o.downtime_ms), on_ignore, NULL);
		}
		else if (j->o.postcopy == POSTCOPY_AUTO &&
			 elapsed_s > (j->o.timeout_s ? j->o.timeout_s : POSTCOPY_AUTO_BUDGET_S))
			start_postcopy(j, "time budget spent");
		else if (j->o.timeout_s && elapsed_s > j->o.timeout_s && j->o.postcopy == POSTCOPY_OFF) {
			j->cancel_requested = false;
			job_fail(j, "migration did not complete within %d s (pre-copy not converging?)", j->o.timeout_s);
			return;
		}
	}
	send_progress(j, st);
	/* A heartbeat each second, so the destination knows we are alive. */
	if (++j->polls % (1000 / POLL_MS) == 0 && j->peer && !j->recovering)
		peer_call_timeout(j->peer, "ping", NULL, 5000, NULL, NULL);
	j->poll_timer = loop_add_timer(j->ag->loop, j->poll_soon ? 0 : POLL_MS, poll_migration, j);
	j->poll_soon = false;
}

static void poll_migration(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->poll_timer = 0;
	if (j->polling || !j->vm)
		return;
	j->polling = true;
	vm_qmp(j->vm, "query-migrate", NULL, on_query, j);
}

/* ---- post-copy recovery ------------------------------------------------- */

/* peer_free drops the calls in flight without answering them. */
static void drop_peer(struct mig_job *j)
{
	peer_free(j->peer);
	j->peer = NULL;
	j->asked_resumed = false;
}

static void on_dst_resumed(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	j->asked_resumed = false;
	if (!err && json_is_true(json_object_get(result, "ended"))) {
		/* Its QEMU ended before the guest ran there: nothing there is
		 * newer than here, so the guest resumes here (job_fail: QEMU's
		 * migration cancelled, mig-abort there, cont here). */
		job_fail(j, "the destination QEMU on %s ended before the guest resumed there", j->dest);
		return;
	}
	if (j->recovering) {
		/* Asked on a recovery connection (on_dst_recovering): retry. */
		drop_peer(j);
		j->recovering = false;
	}
	if (err)
		return;   /* asked again at the next poll, on a live connection */
	j->dst_resumed = true;
	log_info("post-copy: the guest runs on the destination", "vm=%s resume_us=%lld", j->vm->cfg->name,
		 (long long)json_integer_value(json_object_get(result, "resume_us")));
}

/* Post-copy: learn when the destination resumes the guest. Until then a
 * stalled stream is waited out, never paused (see the stall check). */
static void ask_resumed(struct mig_job *j)
{
	if (j->dst_resumed || j->asked_resumed || !j->peer || j->recovering)
		return;
	j->asked_resumed = true;
	peer_call(j->peer, "mig-resumed", json_pack("{s:s}", "name", j->vm->cfg->name), on_dst_resumed, j);
}

static void on_resume_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (err)
		log_warn("post-copy resume failed, will retry", "error=\"%s\"", err);
	if (j->recover_client) {
		if (err)
			server_reply(j->ag, j->recover_client, proto_reply_err(j->recover_req, "%s", err));
		else
			server_reply(j->ag, j->recover_client, proto_reply_ok(j->recover_req, json_pack("{s:s}", "status", "resumed")));
		j->recover_client = 0;
	}
}

static void on_dst_recovering(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (err) {
		log_warn("post-copy recovery: destination not ready, will retry", "error=\"%s\"", err);
		if (!j->dst_resumed && !j->asked_resumed) {
			/* Did the guest ever run there? If its QEMU ended first,
			 * the guest is whole here (on_dst_resumed). */
			j->asked_resumed = true;
			peer_call(p, "mig-resumed", json_pack("{s:s}", "name", j->vm->cfg->name), on_dst_resumed, j);
			return;
		}
		drop_peer(j);
		j->recovering = false;
		return;
	}
	const char *uri = json_string_value(json_object_get(result, "uri")) ?: "";
	struct ferr rerr = {0};
	/* Same relay on the destination: ours still points at it. */
	if ((j->tunnel <= 0 || strcmp(uri, j->uri)) && route_stream(j, uri, &rerr) < 0) {
		log_warn("post-copy recovery: cannot route the stream, will retry", "error=\"%s\"", rerr.msg);
		drop_peer(j);
		j->recovering = false;
		return;
	}
	log_info("post-copy recovery: resuming", "vm=%s uri=%s via=%s", j->vm->cfg->name, j->uri, j->qemu_uri);
	vm_qmp_cmd(j->vm, qmp_cmd_migrate(j->qemu_uri, true), on_resume_sent, j);
}

static void on_recover_peer(struct peer *p, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	if (err) {
		log_warn("post-copy recovery: destination unreachable, will retry", "error=\"%s\"", err);
		j->recovering = false;
		return;
	}
	peer_call(p, "mig-recover", json_pack("{s:s}", "name", j->vm->cfg->name), on_dst_recovering, j);
}

/* Both sides are in postcopy-paused: reconnect to the destination agent and
 * resume (it listens again first, then we reconnect). Retried each poll. */
static void start_recovery(struct mig_job *j)
{
	int64_t now = time_mono_us();

	if (j->recovering || now - j->last_recovery_us < 2000000)
		return;
	j->last_recovery_us = now;
	j->recovering = true;
	log_info("post-copy recovery: trying", "vm=%s dest=%s", j->vm->cfg->name, j->dest);
	drop_peer(j);
	j->peer = peer_connect(j->ag, j->dest, j->dest_addr, j->dest_port, on_recover_peer, j);
}

void mig_src_recover(struct vm *vm, long client_id, long req_id)
{
	struct mig_job *j = vm->mig;

	if (!j || j->state != MIG_POSTCOPY) {
		server_reply(vm->ag, client_id, proto_reply_err(req_id, "%s has no post-copy migration to recover on host %s",
								 vm->cfg->name, vm->ag->cfg->host));
		return;
	}
	j->recover_client = client_id;
	j->recover_req = req_id;
	j->recovering = false;
	start_recovery(j);
}

/* ---- migrate ------------------------------------------------------------ */

static void on_migrate_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (err) {
		job_fail(j, "%s", err);
		return;
	}
	j->last_progress_us = time_mono_us();
	j->poll_timer = loop_add_timer(j->ag->loop, POLL_MS, poll_migration, j);
}

/* Points QEMU at the destination's uri: directly, or through a relay of
 * ours that carries the stream in TLS (started once, kept for recovery). */
static int route_stream(struct mig_job *j, const char *uri, struct ferr *err)
{
	char addr[64];
	int port;

	/* Whatever the mode, the stream goes only to the destination agent's
	 * own address: a hostile or broken peer must not make our QEMU run a
	 * command (exec:), open a file or socket here, or send the guest's
	 * memory to a third host. */
	if (proto_tcp_uri_check(uri, j->dest_addr, addr, sizeof(addr), &port, err) < 0)
		return -EPERM;
	snprintf(j->uri, sizeof(j->uri), "%s", uri);
	if (!mig_uses_tunnel(&j->o)) {
		snprintf(j->qemu_uri, sizeof(j->qemu_uri), "%s", uri);
		return 0;
	}
	tunnel_stop(j->tunnel);
	snprintf(j->qemu_uri, sizeof(j->qemu_uri), "unix:%s/mig-out.sock", j->vm->dir);
	j->tunnel = tunnel_out_start(j->qemu_uri + 5, addr, port, &j->ag->key, err);
	if (j->tunnel < 0) {
		j->tunnel = 0;
		return -EIO;
	}
	return 0;
}

static void send_migrate(struct mig_job *j)
{
	j->migrate_mono_us = time_mono_us();
	vm_qmp_cmd(j->vm, qmp_cmd_migrate(j->qemu_uri, false), on_migrate_sent, j);
}

/* --cold suspend: the guest stops before its state is sent (QEMU then sends
 * it in one pass); the destination holds it paused until mig-finish runs it. */
static void on_suspended(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (j->state != MIG_MIGRATING)
		return;
	if (err) {
		job_fail(j, "cannot pause %s: %s", j->name, err);
		return;
	}
	send_migrate(j);
}

static void start_migrate(struct mig_job *j)
{
	enum mig_state from = j->state;

	mig_set_state(j, from, MIG_MIGRATING);
	if (j->o.cold == COLD_SUSPEND)
		vm_qmp(j->vm, "stop", NULL, on_suspended, j);
	else
		send_migrate(j);
}

/* pre-switchover: the mirrors are in sync and the guest is paused: finish
 * them (cancel completes a ready mirror), then let the migration switch. */
static void on_continue(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm; (void)ret;
	if (err)
		job_fail(opaque, "%s", err);
}

static void continue_after_mirrors(struct mig_job *j)
{
	if (j->switchover_sent)
		return;
	if (!j->mirrors_cancel_sent) {
		j->mirrors_cancel_sent = true;
		for (int i = 0; i < j->vm->cfg->n_disks; i++) {
			char job[32];
			if (j->vm->cfg->disks[i].shared)
				continue;
			snprintf(job, sizeof(job), "mig-%s", j->vm->cfg->disks[i].vdev);
			vm_qmp(j->vm, "block-job-cancel", json_pack("{s:s}", "device", job), on_ignore, NULL);
		}
	}
	if (j->mirrors_done < j->mirrors)
		return;   /* BLOCK_JOB_COMPLETED brings us back */
	j->switchover_sent = true;
	for (int i = 0; i < j->vm->cfg->n_disks; i++) {
		char node[32];
		if (j->vm->cfg->disks[i].shared)
			continue;
		snprintf(node, sizeof(node), "mig-nbd-%s", j->vm->cfg->disks[i].vdev);
		vm_qmp(j->vm, "blockdev-del", json_pack("{s:s}", "node-name", node), on_ignore, NULL);
	}
	vm_qmp(j->vm, "migrate-continue", json_pack("{s:s}", "state", "pre-switchover"), on_continue, j);
}

void mig_src_on_event(struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct mig_job *j = vm->mig;

	if (!strcmp(event, "STOP") && !j->stop_us)
		j->stop_us = qemu_us;
	if (!strcmp(event, "MIGRATION")) {
		const char *st = json_string_value(json_object_get(data, "status"));
		if (st && !strncmp(st, "postcopy", 8))
			j->in_postcopy = true;
		/* The end (or the pre-switchover stop) is known now, not at the next
		 * poll: up to 100 ms of the total time. */
		if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled") ||
			   !strcmp(st, "pre-switchover"))) {
			if (j->polling) {
				j->poll_soon = true;
			} else if (j->poll_timer) {
				loop_cancel_timer(j->ag->loop, j->poll_timer);
				j->poll_timer = loop_add_timer(j->ag->loop, 0, poll_migration, j);
			}
		}
	}
	if (!strcmp(event, "RESUME") && j->state < MIG_FINISHING)
		j->stop_us = 0;   /* resumed here (failure): the pause did not happen */
	if (!strncmp(event, "BLOCK_JOB_", 10)) {
		const char *dev = json_string_value(json_object_get(data, "device"));
		if (!dev || strncmp(dev, "mig-", 4))
			return;
		if (!strcmp(event, "BLOCK_JOB_READY") && j->state == MIG_MIRRORING) {
			if (++j->mirrors_ready == j->mirrors)
				start_migrate(j);
		} else if (!strcmp(event, "BLOCK_JOB_COMPLETED")) {
			const char *e = json_string_value(json_object_get(data, "error"));
			if (e) {
				job_fail(j, "storage copy of %s failed: %s", dev + 4, e);
				return;
			}
			if (++j->mirrors_done >= j->mirrors && j->mirrors_cancel_sent)
				continue_after_mirrors(j);
		}
	}
}

void mig_src_on_vm_gone(struct vm *vm)
{
	struct mig_job *j = vm->mig;

	if (j->state == MIG_DONE)
		return;   /* on_source_gone handles it */
	if (j->o.cold == COLD_REBOOT && j->state == MIG_MIGRATING) {
		j->vm = NULL;   /* powered off, as asked */
		vm->mig = NULL;
		/* From the loop: this VM is still listed until we return, and
		 * booting it here again (if the destination fails) needs the name. */
		if (j->poll_timer)
			loop_cancel_timer(j->ag->loop, j->poll_timer);
		j->poll_timer = loop_add_timer(j->ag->loop, 0, reboot_there, j);
		return;
	}
	j->vm = NULL;
	vm->mig = NULL;
	if (j->peer && j->state >= MIG_PREPARING)
		peer_call(j->peer, "mig-abort", json_pack("{s:s}", "name", vm->cfg->name), NULL, NULL);
	snprintf(j->error, sizeof(j->error), "the source QEMU of %s ended during the migration", vm->cfg->name);
	j->state = MIG_FAILED;
	finish_failure(j, false);
}

/* ---- mirrors (--copy-storage) ------------------------------------------- */

static void on_mirrors_started(struct vm *vm, const char *err, void *opaque)
{
	(void)vm;
	if (err)
		job_fail(opaque, "cannot start the storage copy: %s", err);
}

static void start_mirrors(struct mig_job *j)
{
	json_t *cmds = json_array();

	mig_set_state(j, j->state, MIG_MIRRORING);
	for (int i = 0; i < j->vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &j->vm->cfg->disks[i];
		char node[32], job[32];
		if (d->shared)
			continue;
		snprintf(node, sizeof(node), "mig-nbd-%s", d->vdev);
		snprintf(job, sizeof(job), "mig-%s", d->vdev);
		json_array_append_new(cmds, qmp_cmd_blockdev_add_nbd(node, j->nbd_host, j->nbd_port, d->vdev,
								      j->o.insecure ? NULL : QMP_TLS_CREDS_ID));
		json_array_append_new(cmds, qmp_cmd_blockdev_mirror(job, d->vdev, node));
		j->mirrors++;
	}
	vm_qmp_batch(j->vm, cmds, on_mirrors_started, j);
}

/* ---- prepare ------------------------------------------------------------ */

static void on_source_ready(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (j->state == MIG_FAILED)
		return;
	if (err) {
		job_fail(j, "cannot set up the source: %s", err);
		return;
	}
	if (j->o.copy_storage && j->nbd_port > 0)
		start_mirrors(j);
	else
		start_migrate(j);
}

json_t *mig_any_tls_object(struct agent *ag, const char *dir, bool server);

static void on_old_tls_gone(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	json_t *cmds = json_array();
	char dir[700];

	(void)ret;
	(void)err;   /* there was no earlier object: fine */
	if (mig_needs_qemu_tls_object(&j->o)) {
		snprintf(dir, sizeof(dir), "%s/tls", vm->dir);
		json_array_append_new(cmds, mig_any_tls_object(j->ag, dir, false));
	}
	json_array_append_new(cmds, mig_any_caps(&j->o, true));
	json_array_append_new(cmds, mig_any_params(&j->o, mig_uses_qemu_tls(&j->o)));
	vm_qmp_batch(vm, cmds, on_source_ready, j);
}

static void on_prepared(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (j->state == MIG_FAILED)
		return;
	if (err) {
		job_fail(j, "host %s refused: %s", j->dest, err);
		return;
	}
	struct ferr rerr = {0};
	if (route_stream(j, json_string_value(json_object_get(result, "uri")) ?: "", &rerr) < 0) {
		job_fail(j, "%s", rerr.msg);
		return;
	}
	json_t *nbd = json_object_get(result, "nbd");
	if (nbd) {
		/* The storage copy, too, goes to the destination agent only (the
		 * reply's schema checked the host is an IP literal, the port a port). */
		const char *nh = json_string_value(json_object_get(nbd, "host"));
		if (!proto_same_addr(nh, j->dest_addr)) {
			job_fail(j, "storage copy: the destination named an NBD server (%s) that is not its own (%s): refused",
				 nh, j->dest_addr);
			return;
		}
		snprintf(j->nbd_host, sizeof(j->nbd_host), "%s", nh);
		j->nbd_port = (int)json_integer_value(json_object_get(nbd, "port"));
	}
	if (j->o.copy_storage && !nbd) {
		job_fail(j, "host %s did not export the disks to copy", j->dest);
		return;
	}
	/* An object from an earlier migration may hold other credentials. */
	vm_qmp(j->vm, "object-del", json_pack("{s:s}", "id", QMP_TLS_CREDS_ID), on_old_tls_gone, j);
}

static void send_prepare(struct mig_job *j, json_t *sizes)
{
	char *text = vmcfg_format(j->vm->cfg);
	json_t *args = json_pack("{s:s, s:s, s:o, s:I}", "config", text, "src_host", j->ag->cfg->host,
				 "opts", mig_opts_to_json(&j->o), "ram_bytes", (json_int_t)j->ram_bytes);
	free(text);
	if (sizes)
		json_object_set(args, "disk_sizes", sizes);
	mig_set_state(j, MIG_CONNECTING, MIG_PREPARING);
	peer_call(j->peer, "mig-prepare", args, on_prepared, j);
}

static void on_block_info(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	json_t *sizes = json_object(), *b;
	size_t i;

	(void)vm;
	if (err) {
		json_decref(sizes);
		job_fail(j, "%s", err);
		return;
	}
	json_array_foreach(ret, i, b) {
		const char *node = json_string_value(json_object_get(json_object_get(b, "inserted"), "node-name"));
		json_int_t size = json_integer_value(json_object_get(json_object_get(json_object_get(b, "inserted"), "image"), "virtual-size"));
		if (node)
			json_object_set_new(sizes, node, json_integer(size));
	}
	send_prepare(j, sizes);
	json_decref(sizes);
}

/* The destination must get exactly the RAM this QEMU has (see qemu_ram_kb). */
static void on_mem_size(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (j->state == MIG_FAILED)
		return;
	if (err) {
		job_fail(j, "%s", err);
		return;
	}
	j->ram_bytes = json_integer_value(json_object_get(ret, "base-memory"));
	if (j->o.copy_storage)
		vm_qmp(j->vm, "query-block", NULL, on_block_info, j);
	else
		send_prepare(j, NULL);
}

static void on_peer_ready(struct peer *p, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (j->state == MIG_FAILED)
		return;
	if (err) {
		job_fail(j, "%s", err);
		return;
	}
	if (j->o.cold == COLD_REBOOT)
		start_reboot(j);
	else
		vm_qmp(j->vm, "query-memory-size-summary", NULL, on_mem_size, j);
}

/* ---- cold, reboot -------------------------------------------------------
 * The destination checks it could boot the guest; the guest powers off here
 * (ACPI, bounded by --timeout or REBOOT_SHUTDOWN_S); the destination boots
 * it from the same config (shared disks). If that boot fails, it boots here
 * again: its disks never moved, so nothing is lost. */
#define REBOOT_SHUTDOWN_S 60

static void on_rebooted_here(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	json_t *rec = record(j, "failed");
	mig_any_history_append(j->ag, rec);
	json_decref(rec);
	if (err)
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; booting it again on host %s failed too: %s (its disks are untouched)",
								  j->error, j->ag->cfg->host, err));
	else
		server_reply(j->ag, j->client_id, proto_reply_err(j->req_id, "%s; %s was booted again on host %s",
								  j->error, j->name, j->ag->cfg->host));
	job_end(j);
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
		mig_set_state(j, MIG_FINISHING, MIG_DONE);
		log_info("cold move done", "vm=%s dest=%s", j->name, j->dest);
		report_completed(j);
		return;
	}
	snprintf(j->error, sizeof(j->error), "host %s could not boot %s: %s", j->dest, j->name, err);
	log_error("cold move failed after the shutdown; booting the guest here again", "vm=%s error=\"%s\"", j->name, err);
	j->state = MIG_FAILED;
	if (vmcfg_parse(j->cfg_text, strlen(j->cfg_text), "<config>", NULL, &cfg, &ferr) < 0 ||
	    !vm_boot(j->ag, cfg, on_rebooted_here, j, &ferr))
		on_rebooted_here(NULL, ferr.msg, j);
}

static void reboot_there(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->poll_timer = 0;
	mig_set_state(j, MIG_MIGRATING, MIG_FINISHING);
	log_info("cold move: powered off, booting on the destination", "vm=%s dest=%s", j->name, j->dest);
	peer_call(j->peer, "create", json_pack("{s:s, s:s}", "config", j->cfg_text, "source", "<cold move>"), on_booted_there, j);
}

static void on_shutdown_timeout(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->poll_timer = 0;
	job_fail(j, "%s did not power off within %d s (ACPI power button; it may still be shutting down)", j->name,
		 j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S);
}

static void on_reboot_checked(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	(void)result;
	if (j->state == MIG_FAILED)
		return;
	if (err) {
		job_fail(j, "host %s cannot take %s: %s", j->dest, j->name, err);
		return;
	}
	mig_set_state(j, MIG_PREPARING, MIG_MIGRATING);
	j->stop_us = time_real_us();
	log_info("cold move: powering off", "vm=%s dest=%s", j->name, j->dest);
	vm_qmp(j->vm, "system_powerdown", NULL, on_ignore, NULL);
	j->poll_timer = loop_add_timer(j->ag->loop, (j->o.timeout_s ? j->o.timeout_s : REBOOT_SHUTDOWN_S) * 1000,
				       on_shutdown_timeout, j);
}

static void start_reboot(struct mig_job *j)
{
	j->cfg_text = vmcfg_format(j->vm->cfg);
	mig_set_state(j, MIG_CONNECTING, MIG_PREPARING);
	peer_call(j->peer, "mig-check", json_pack("{s:s}", "config", j->cfg_text), on_reboot_checked, j);
}

/* A move asked for while the guest is still being received here (the tail
 * of a post-copy) waits for that to end, at most INCOMING_WAIT_MS. */
#define INCOMING_WAIT_MS 30000
struct deferred_start {
	struct agent *ag;
	char name[VM_NAME_MAX + 1];
	json_t *args;
	long client_id, req_id;
	int64_t deadline_us;
};

static void mig_src_start_now(struct agent *ag, struct vm *vm, json_t *args, long client_id, long req_id);

static void retry_start(struct loop *l, void *opaque)
{
	struct deferred_start *ds = opaque;
	struct vm *vm = vm_find(ds->ag, ds->name);

	if (!vm) {
		server_reply(ds->ag, ds->client_id, proto_reply_err(ds->req_id, "%s is gone from host %s", ds->name,
								    ds->ag->cfg->host));
	} else if (vm->incoming_active && time_mono_us() < ds->deadline_us) {
		loop_add_timer(l, 100, retry_start, ds);
		return;
	} else if (vm->incoming_active) {
		server_reply(ds->ag, ds->client_id, proto_reply_err(ds->req_id,
			"%s is still being received on host %s (its incoming migration did not end within %d s)",
			ds->name, ds->ag->cfg->host, INCOMING_WAIT_MS / 1000));
	} else {
		log_info("incoming migration ended, starting the move", "vm=%s", ds->name);
		mig_src_start_now(ds->ag, vm, ds->args, ds->client_id, ds->req_id);
	}
	json_decref(ds->args);
	free(ds);
}

void mig_src_start(struct agent *ag, struct vm *vm, json_t *args, long client_id, long req_id)
{
	if (vm->incoming_active && !vm->mig && !vm->dst) {
		struct deferred_start *ds = xcalloc(1, sizeof(*ds));
		ds->ag = ag;
		snprintf(ds->name, sizeof(ds->name), "%s", vm->cfg->name);
		ds->args = json_incref(args);
		ds->client_id = client_id;
		ds->req_id = req_id;
		ds->deadline_us = time_mono_us() + INCOMING_WAIT_MS * 1000LL;
		log_info("move waits for the incoming migration to end", "vm=%s", vm->cfg->name);
		loop_add_timer(ag->loop, 100, retry_start, ds);
		return;
	}
	mig_src_start_now(ag, vm, args, client_id, req_id);
}

static void mig_src_start_now(struct agent *ag, struct vm *vm, json_t *args, long client_id, long req_id)
{
	json_t *dest = json_object_get(args, "dest");
	const char *dname = json_string_value(json_object_get(dest, "host"));
	const char *daddr = json_string_value(json_object_get(dest, "addr"));
	int dport = (int)json_integer_value(json_object_get(dest, "port"));
	struct mig_opts o;
	char msg[256];

	if (!dname || !daddr || dport <= 0) {
		server_reply(ag, client_id, proto_reply_err(req_id, "migrate needs a destination (host, addr, port)"));
		return;
	}
	if (mig_opts_from_json(json_object_get(args, "opts"), &o, msg, sizeof(msg)) < 0) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s", msg));
		return;
	}
	if (!strcmp(dname, ag->cfg->host)) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s already runs on host %s", vm->cfg->name, dname));
		return;
	}
	if (vm->mig || vm->dst) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is already migrating", vm->cfg->name));
		return;
	}
	if (vm->state != VM_RUNNING) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is %s, not running: only a running VM migrates live",
							    vm->cfg->name, vm_state_name(vm->state)));
		return;
	}
	/* Even an --insecure move talks to the other agent in TLS: without a
	 * key there is nothing to authenticate with (never an all-zero key). */
	if (!ag->have_key) {
		server_reply(ag, client_id, proto_reply_err(req_id, "host %s has no key_file: it cannot talk to %s", ag->cfg->host, dname));
		return;
	}
	if (!o.copy_storage) {
		for (int i = 0; i < vm->cfg->n_disks; i++) {
			if (!vm->cfg->disks[i].shared) {
				server_reply(ag, client_id, proto_reply_err(req_id,
					"disk %s of %s (%s) is not on shared storage; use --copy-storage, or mark it shared=yes if both hosts see it",
					vm->cfg->disks[i].vdev, vm->cfg->name, vm->cfg->disks[i].target));
				return;
			}
		}
	}
	struct mig_job *j = xcalloc(1, sizeof(*j));
	j->ag = ag;
	j->vm = vm;
	snprintf(j->name, sizeof(j->name), "%s", vm->cfg->name);
	j->o = o;
	j->client_id = client_id;
	j->req_id = req_id;
	j->start_mono_us = time_mono_us();
	j->start_real_us = time_real_us();
	snprintf(j->dest, sizeof(j->dest), "%s", dname);
	snprintf(j->dest_addr, sizeof(j->dest_addr), "%s", daddr);
	j->dest_port = dport;
	j->state = MIG_CONNECTING;
	vm->mig = j;
	log_info("migration start", "vm=%s dest=%s addr=%s:%d", vm->cfg->name, dname, daddr, dport);
	j->peer = peer_connect(ag, dname, daddr, dport, on_peer_ready, j);
}

static void on_cancel_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct req_ref *r = opaque;

	(void)vm;
	(void)ret;
	if (err)
		server_reply(r->ag, r->client_id, proto_reply_err(r->req_id, "%s", err));
	else
		server_reply(r->ag, r->client_id, proto_reply_ok(r->req_id, json_pack("{s:s}", "status", "cancelling")));
	free(r);
}

void mig_src_cancel(struct vm *vm, long client_id, long req_id)
{
	struct mig_job *j = vm->mig;

	if (!j) {
		server_reply(vm->ag, client_id, proto_reply_err(req_id, "%s is not migrating from host %s", vm->cfg->name, vm->ag->cfg->host));
		return;
	}
	if (j->state >= MIG_POSTCOPY) {
		server_reply(vm->ag, client_id, proto_reply_err(req_id, "too late to cancel: %s already runs on host %s", vm->cfg->name, j->dest));
		return;
	}
	if (j->o.cold == COLD_REBOOT && j->state >= MIG_MIGRATING) {
		server_reply(vm->ag, client_id, proto_reply_err(req_id, "too late to cancel: %s is powering off to boot on host %s",
								vm->cfg->name, j->dest));
		return;
	}
	j->cancel_requested = true;
	if (j->state < MIG_MIGRATING) {
		job_fail(j, "migration cancelled by the user");
		server_reply(vm->ag, client_id, proto_reply_ok(req_id, json_pack("{s:s}", "status", "cancelled")));
		return;
	}
	vm_qmp(vm, "migrate_cancel", NULL, on_cancel_sent, req_ref_new(vm->ag, client_id, req_id));
}

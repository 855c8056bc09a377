/* mig_src_precopy.c: the migration runs (MIGRATING): QEMU polled every
 * SRC_POLL_MS, its answer parsed once (struct mig_stats) for the progress
 * line, the convergence policy and the record; the stall rule; the
 * heartbeat to the destination. */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/request.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

#define POSTCOPY_AUTO_BUDGET_S 30
/* Pre-copy: nothing sent for this long and the link counts as broken. The
 * guest still runs here; a link that loses a few packets in a row can leave
 * TCP backing off for 1 + 2 + 4 s (seen with a 1 s queue on a 4 Mbit/s lab
 * link: 3 s was not enough), so wait as long as the destination does. */
#define PRECOPY_STALL_US (10 * 1000000)

/* Has pre-copy stopped converging? True once the bytes left at the start of
 * a round fail to drop below 90% of the best seen, three rounds in a row. */
static bool precopy_stuck(struct mig_policy *p, const struct mig_stats *m)
{
	long long round = m->dirty_sync_count, left = m->ram_remaining_bytes;

	if (round <= p->last_round || round < 2)
		return false;
	/* Small rounds can end several times between two polls. */
	p->rounds_at_target += p->last_round ? round - p->last_round : 1;
	p->last_round = round;
	if (!p->min_remaining || left < p->min_remaining * 9 / 10) {
		p->min_remaining = left;
		p->rounds_without_progress = 0;
		return false;
	}
	return ++p->rounds_without_progress >= 3;
}

/* The convergence policy, one step per query-migrate while pre-copy runs:
 * post-copy when asked or (auto) when pre-copy stops converging or its
 * budget is spent; else ferry's own downtime target relaxed when it proves
 * too ambitious (never the user's); else the --timeout. */
enum policy_action mig_policy_step(struct mig_policy *p, struct mig_opts *o, const struct mig_stats *m,
				   int64_t now_us, int64_t migrate_start_us, const char **why)
{
	double elapsed_s = (now_us - migrate_start_us) / 1e6;
	bool active = !strcmp(m->status, "active");

	if (o->postcopy == POSTCOPY_ON && active) {
		*why = "post-copy on";
		return POLICY_POSTCOPY;
	}
	if (o->postcopy == POSTCOPY_AUTO && precopy_stuck(p, m)) {
		*why = "pre-copy stopped converging";
		return POLICY_POSTCOPY;
	}
	if (o->postcopy == POSTCOPY_OFF && !o->downtime_given && o->downtime_ms < MIG_DOWNTIME_MAX_MS &&
	    (precopy_stuck(p, m) ||
	     mig_target_spent(p->rounds_at_target, p->target_mono_us ? (now_us - p->target_mono_us) / 1000 : -1))) {
		o->downtime_ms = mig_relaxed_downtime(o->downtime_ms);
		p->rounds_without_progress = 0;
		p->rounds_at_target = 0;
		p->target_mono_us = now_us;
		return POLICY_RELAX;
	}
	if (o->postcopy == POSTCOPY_AUTO && elapsed_s > (o->timeout_s ? o->timeout_s : POSTCOPY_AUTO_BUDGET_S)) {
		*why = "time budget spent";
		return POLICY_POSTCOPY;
	}
	if (o->timeout_s && elapsed_s > o->timeout_s && o->postcopy == POSTCOPY_OFF)
		return POLICY_TIMEOUT;
	return POLICY_NONE;
}

void src_send_progress(struct mig_job *j, const char *status)
{
	const struct mig_stats *m = &j->last;

	if (!j->req)
		return;
	request_progress(j->req, json_pack("{s:s, s:s, s:f, s:I, s:I, s:f, s:I, s:I, s:f}",
					   "phase", mig_state_name(j->state), "status", status ?: "",
					   "percent", mig_stats_percent(m), "sent_bytes", (json_int_t)m->ram_transferred_bytes,
					   "remaining_bytes", (json_int_t)m->ram_remaining_bytes,
					   "mbps", m->ram_mbps, "dirty_bytes_per_s", (json_int_t)mig_stats_dirty_bytes_per_s(m),
					   "round", (json_int_t)m->dirty_sync_count, "eta_s", mig_stats_eta_s(m)));
}

/* Pre-copy (also while post-copy is being asked for): the stall rule, then
 * the policy. False when the job failed. */
static bool precopy_status(struct mig_job *j, const char *st, int64_t now)
{
	const char *why = NULL;
	long long sent = j->last.ram_transferred_bytes;

	if (sent != j->last_transferred || strcmp(st, "active")) {
		j->last_transferred = sent;
		j->last_progress_us = now;
	} else if (now - j->last_progress_us > PRECOPY_STALL_US) {
		/* TCP would retry for minutes; the guest is still ours: give up. */
		src_fail(j, "the migration link to host %s stalled (nothing sent for %d s)", j->dest,
			 PRECOPY_STALL_US / 1000000);
		return false;
	}
	if (j->state != MIG_MIGRATING)
		return true;   /* post-copy asked for: only the stall rule holds */
	switch (mig_policy_step(&j->pol, &j->o, &j->last, now, j->migrate_mono_us, &why)) {
	case POLICY_POSTCOPY:
		src_postcopy_start(j, why);
		break;
	case POLICY_RELAX:
		/* ferry's own target was too ambitious for this guest. */
		log_info("raising the downtime target", "vm=%s downtime_ms=%d", j->name, j->o.downtime_ms);
		vm_qmp(j->vm, "migrate-set-parameters", json_pack("{s:i}", "downtime-limit", j->o.downtime_ms),
		       src_on_ignore, NULL);
		break;
	case POLICY_TIMEOUT:
		j->cancel_requested = false;
		src_fail(j, "migration did not complete within %d s (pre-copy not converging?)", j->o.timeout_s);
		return false;
	case POLICY_NONE:
		break;
	}
	return true;
}

static void on_finished(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (err) {
		/* Completed on our side, but the destination does not confirm. Our
		 * copy stays paused: resuming it could make two. */
		snprintf(j->error, sizeof(j->error), "the destination did not confirm the guest runs: %s", err);
		log_error("migration unconfirmed", "vm=%s error=\"%s\"", j->name, err);
		if (!src_enter(j, MIG_FAILED))
			return;
		json_t *rec = src_record(j, "unconfirmed");
		mig_any_source_record(j->ag, rec);
		json_decref(rec);
		request_err(j->req, "%s; %s stays paused on host %s (check host %s)", j->error, j->name,
			    j->ag->cfg->host, j->dest);
		j->req = NULL;
		src_end(j);
		return;
	}
	j->resume_us = json_integer_value(json_object_get(result, "resume_us"));
	if (!src_enter(j, MIG_DONE))
		return;
	log_info("migration done", "vm=%s dest=%s pause_us=%lld", j->name, j->dest, (long long)(j->resume_us - j->stop_us));
	/* The guest runs there: our paused copy goes (the VM listener reports
	 * the move once it is gone). */
	vm_kill(j->vm);
}

static void on_final_query(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!err && ret)
		mig_stats_parse(ret, &j->last);
	if (j->state == MIG_FINISHING)
		peer_call(j->peer, "mig-finish", json_pack("{s:s}", "name", j->name), on_finished, j);
}

static void poll_migration(struct loop *l, void *opaque);

static void on_query(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	int64_t now = time_mono_us();
	const char *st;

	(void)vm;
	j->polling = false;
	if (!src_live(j) || j->state == MIG_FINISHING)
		return;
	if (err) {
		src_fail(j, "%s", err);
		return;
	}
	mig_stats_parse(ret, &j->last);
	st = j->last.status;
	if (!strcmp(st, "completed")) {
		if (!src_enter(j, MIG_FINISHING))
			return;
		src_send_progress(j, st);
		vm_qmp(j->vm, "query-migrate", NULL, on_final_query, j);
		return;
	}
	if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
		const char *why = j->last.error_desc[0] ? j->last.error_desc : NULL;
		if (j->state == MIG_POSTCOPY || j->state == MIG_RECOVERING)
			/* The destination has the newest memory: nothing to resume here. */
			src_fail(j, "post-copy migration %s: %s", st, why ?: "no reason given");
		else if (j->went_postcopy && !strcmp(st, "failed") && !j->cancel_requested)
			src_postcopy_failed(j);   /* it began between two polls */
		else if (j->cancel_requested)
			src_fail(j, "migration cancelled by the user");
		else
			src_fail(j, "migration %s: %s", st, why ?: "QEMU gave no reason");
		return;
	}
	if (!strcmp(st, "pre-switchover"))
		src_mirrors_switchover(j);
	else if (!strncmp(st, "postcopy-", 9))
		src_postcopy_status(j, st, now);
	else if ((j->state == MIG_MIGRATING || j->state == MIG_POSTCOPY_ASKED) && !precopy_status(j, st, now))
		return;
	if (!src_live(j))
		return;
	src_send_progress(j, st);
	/* A heartbeat each second, so the destination knows we are alive. */
	if (++j->polls % (1000 / SRC_POLL_MS) == 0 && j->peer && j->state != MIG_RECOVERING)
		peer_call_timeout(j->peer, "ping", NULL, 5000, NULL, NULL);
	j->timer = loop_add_timer(j->ag->loop, j->poll_soon ? 0 : SRC_POLL_MS, poll_migration, j);
	j->poll_soon = false;
}

static void poll_migration(struct loop *l, void *opaque)
{
	struct mig_job *j = opaque;

	(void)l;
	j->timer = 0;
	if (j->polling || !j->vm)
		return;
	j->polling = true;
	vm_qmp(j->vm, "query-migrate", NULL, on_query, j);
}

/* QEMU announced news (completed, failed, pre-switchover): poll now. */
void src_poll_now(struct mig_job *j)
{
	if (j->polling) {
		j->poll_soon = true;
	} else if (j->timer && src_qemu_migrating(j->state)) {
		loop_cancel_timer(j->ag->loop, j->timer);
		j->timer = loop_add_timer(j->ag->loop, 0, poll_migration, j);
	}
}

static void on_migrate_sent(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	(void)ret;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "%s", err);
		return;
	}
	j->last_progress_us = time_mono_us();
	j->timer = loop_add_timer(j->ag->loop, SRC_POLL_MS, poll_migration, j);
}

void src_send_migrate(struct mig_job *j)
{
	j->migrate_mono_us = time_mono_us();
	vm_qmp_cmd(j->vm, qmp_cmd_migrate(j->qemu_uri, false), on_migrate_sent, j);
}

void src_start_migrate(struct mig_job *j)
{
	if (j->o.cold == COLD_SUSPEND) {
		src_suspend_start(j);
		return;
	}
	if (src_enter(j, MIG_MIGRATING))
		src_send_migrate(j);
}

/* preflight_job.c: the source's preflight (docs/requirements.md): gathers
 * the guest's facts from its QEMU and this host's, the destination's from
 * its agent (host-facts), measures the link between them (round trip,
 * clock offset, L2 segment of the VM bridges; with measure, also the
 * guest's dirty rate and the link's rate), and has preflight.c judge them.
 * Runs for `ferry check` (op vm-check) and at the start of every move
 * (mig_src_prepare.c). One step at a time (enum step); a job whose owner
 * went away finishes its outstanding callbacks silently. */
#include "ferryd/facts.h"
#include "ferryd/mig_src.h"
#include "ferryd/netprobe.h"
#include "ferryd/peer.h"
#include "ferryd/pool.h"
#include "ferryd/preflight_job.h"
#include "net/l2probe.h"
#include "preflight/preflight.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define PINGS 5
#define DIRTY_CALC_S 1

enum step {
	S_RAM, S_MACHINE, S_BLOCKS, S_DIRTY, S_CONNECT, S_FACTS, S_L2, S_PINGS, S_BANDWIDTH, S_JUDGE, S_DONE
};

struct pf_job {
	struct agent *ag;
	struct vm *vm;
	char name[VM_NAME_MAX + 1], dest[VM_NAME_MAX + 1], daddr[64];
	int dport;
	struct pf_mode mode;
	bool measure, own_peer, cancelled, connecting;
	struct peer *peer;
	enum step step;
	int pending;               /* callbacks still to come */
	long call_id;              /* the peer call in flight (0: none) */
	struct timed *call;
	long timer;
	int64_t t0_us;
	/* what was gathered */
	long long ram_bytes;
	char machine[PF_MAX_STR];
	json_t *blocks;            /* vdev -> {size, data} */
	double dirty_mb_s;         /* -1: not measured */
	json_t *dst;               /* the destination's facts (checked) */
	double rtt_ms[PINGS], offset_ms[PINGS];
	int n_pings, n_ping_calls;
	int l2fd[VM_MAX_VIFS];
	bool l2seen[VM_MAX_VIFS];
	int l2looks;
	char nonce[L2PROBE_NONCE_LEN + 1];
	json_t *l2;
	double bandwidth_mb_s;     /* -1: not measured */
	char error[600];
	pf_done_fn done;
	void *opaque;
};

static void next(struct pf_job *j);

struct timed {
	struct pf_job *j;
	int64_t real_us, mono_us;
};

static void job_free(struct pf_job *j)
{
	if (j->own_peer)
		peer_free(j->peer);
	json_decref(j->blocks);
	json_decref(j->dst);
	json_decref(j->l2);
	free(j);
}

/* A callback came back: false when the job is cancelled (and freed once
 * nothing more is to come). */
static bool back(struct pf_job *j)
{
	j->pending--;
	if (!j->cancelled)
		return true;
	if (j->pending == 0)
		job_free(j);
	return false;
}

/* The end: the report to the owner, then the job goes. */
static void finish(struct pf_job *j, json_t *report)
{
	j->step = S_DONE;
	if (j->done)
		j->done(j->ag, report, j->opaque);
	json_decref(report);
	j->cancelled = true;
	if (j->pending == 0)
		job_free(j);
}

static void fail_unreachable(struct pf_job *j, const char *why)
{
	json_t *checks = pf_unreachable(j->ag->cfg->host, j->dest, why);
	finish(j, json_pack("{s:o, s:I}", "checks", checks, "took_ms", (json_int_t)((time_mono_us() - j->t0_us) / 1000)));
}

static void on_ram(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct pf_job *j = opaque;

	(void)vm;
	if (!back(j))
		return;
	j->ram_bytes = err ? 0 : json_integer_value(json_object_get(ret, "base-memory"));
	next(j);
}

static void on_machine(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct pf_job *j = opaque;
	const char *t = json_string_value(ret);

	(void)vm;
	if (!back(j))
		return;
	/* "pc-i440fx-7.2-machine": the QOM type of machine pc-i440fx-7.2. */
	if (!err && t) {
		size_t n = strlen(t);
		if (n > 8 && !strcmp(t + n - 8, "-machine"))
			n -= 8;
		snprintf(j->machine, sizeof(j->machine), "%.*s", (int)n, t);
	}
	next(j);
}

static void on_blocks(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct pf_job *j = opaque;
	size_t i;
	json_t *b;

	(void)vm;
	if (!back(j))
		return;
	if (!err)
		json_array_foreach(ret, i, b) {
			json_t *img = json_object_get(json_object_get(b, "inserted"), "image");
			const char *node = json_string_value(json_object_get(json_object_get(b, "inserted"), "node-name"));
			if (node && img)
				json_object_set_new(j->blocks, node,
						    json_pack("{s:I, s:I}", "size",
							      json_integer_value(json_object_get(img, "virtual-size")),
							      "data", json_integer_value(json_object_get(img, "actual-size"))));
		}
	next(j);
}

static void on_dirty_rate(struct vm *vm, json_t *ret, const char *err, void *opaque);

static void ask_dirty_rate(struct loop *l, void *opaque)
{
	struct pf_job *j = opaque;

	(void)l;
	j->timer = 0;
	if (!back(j))
		return;
	j->pending++;
	vm_qmp(j->vm, "query-dirty-rate", NULL, on_dirty_rate, j);
}

static void on_dirty_rate(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct pf_job *j = opaque;

	(void)vm;
	if (!back(j))
		return;
	const char *status = json_string_value(json_object_get(ret, "status"));
	if (!err && status && !strcmp(status, "measuring") && time_mono_us() - j->t0_us < 10000000) {
		j->pending++;
		j->timer = loop_add_timer(j->ag->loop, 100, ask_dirty_rate, j);
		return;
	}
	if (!err && status && !strcmp(status, "measured"))
		j->dirty_mb_s = (double)json_integer_value(json_object_get(ret, "dirty-rate"));
	next(j);
}

static void on_dirty_started(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct pf_job *j = opaque;

	(void)vm;
	(void)ret;
	if (!back(j))
		return;
	if (err) {
		log_info("preflight: no dirty rate", "vm=%s error=\"%s\"", j->name, err);
		next(j);
		return;
	}
	j->pending++;
	j->timer = loop_add_timer(j->ag->loop, DIRTY_CALC_S * 1000 + 50, ask_dirty_rate, j);
}

static void on_peer(struct peer *p, const char *err, void *opaque)
{
	struct pf_job *j = opaque;

	(void)p;
	j->connecting = false;
	if (!back(j))
		return;
	if (err) {
		fail_unreachable(j, err);
		return;
	}
	next(j);
}

/* A round trip's sample: the destination's clock against the middle of
 * the round trip (NTP's way; the error is half the round trip). */
static void sample(struct pf_job *j, int64_t sent_real_us, int64_t sent_mono_us, json_int_t their_us)
{
	int64_t now = time_mono_us();
	double rtt = (double)(now - sent_mono_us) / 1000.0;

	if (j->n_pings >= PINGS || their_us <= 0)
		return;
	j->rtt_ms[j->n_pings] = rtt;
	j->offset_ms[j->n_pings++] = ((double)their_us - ((double)sent_real_us + rtt * 500.0)) / 1000.0;
}


/* A peer call came back: the job (NULL when cancelled); the call's times
 * in *t. */
static struct pf_job *call_back(void *opaque, struct timed *t)
{
	struct timed *c = opaque;
	struct pf_job *j = c->j;

	*t = *c;
	free(c);
	j->call_id = 0;
	j->call = NULL;
	return back(j) ? j : NULL;
}

static void on_facts(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct timed t;
	struct pf_job *j = call_back(opaque, &t);
	struct ferr ferr = {0};

	(void)p;
	if (!j)
		return;
	if (err || pf_facts_check(result, false, &ferr) < 0) {
		fail_unreachable(j, err ? err : ferr.msg);
		return;
	}
	j->dst = json_incref(result);
	sample(j, t.real_us, t.mono_us, json_integer_value(json_object_get(result, "time_us")));
	next(j);
}

static void on_rate(struct agent *ag, double mb_s, const char *why, void *opaque)
{
	struct pf_job *j = opaque;

	(void)ag;
	if (!back(j))
		return;
	if (mb_s > 0)
		j->bandwidth_mb_s = mb_s;
	else
		log_info("preflight: no link rate", "vm=%s why=\"%s\"", j->name, why ? why : "");
	next(j);
}

static void on_sink(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct timed t;
	struct pf_job *j = call_back(opaque, &t);
	json_int_t port = json_integer_value(json_object_get(result, "port"));

	(void)p;
	if (!j)
		return;
	if (err || port <= 0 || port > 65535) {
		log_info("preflight: no link rate", "vm=%s why=\"%s\"", j->name, err ? err : "no port");
		next(j);
		return;
	}
	j->pending++;
	if (netprobe_send(j->ag, j->daddr, (int)port, on_rate, j) < 0) {
		j->pending--;
		next(j);
	}
}

/* The destination sent its frames before it answered; they crossed two
 * bridges while the answer crossed TCP. Looked for at once, then every 5 ms
 * for 40 ms while one is missing. */
static void look_l2(struct loop *l, void *opaque)
{
	struct pf_job *j = opaque;
	bool all = true;

	(void)l;
	j->timer = 0;
	if (!back(j))
		return;
	for (int i = 0; i < j->vm->cfg->n_vifs; i++)
		if (j->l2fd[i] >= 0 && !j->l2seen[i]) {
			l2probe_drain(j->l2fd[i], &j->ag->l2seen);
			all &= (j->l2seen[i] = l2probe_was_seen(&j->ag->l2seen, j->l2fd[i], j->nonce));
		}
	if (!all && ++j->l2looks < 9) {
		j->pending++;
		j->timer = loop_add_timer(j->ag->loop, 5, look_l2, j);
		return;
	}
	/* A bridge this host cannot listen on is not probed. */
	for (int i = 0; i < j->vm->cfg->n_vifs; i++)
		if (j->l2fd[i] >= 0)
			json_array_append_new(j->l2, json_pack("{s:s, s:b}", "bridge", j->vm->cfg->vifs[i].bridge, "seen",
							       j->l2seen[i]));
	next(j);
}

static void on_ping(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct timed t;
	struct pf_job *j = call_back(opaque, &t);

	(void)p;
	if (!j)
		return;
	if (!err)
		sample(j, t.real_us, t.mono_us, json_integer_value(json_object_get(result, "time_us")));
	/* More round trips (the first sample came with the facts): PINGS for
	 * ferry check, 3 in all before a move. */
	if (err || ++j->n_ping_calls >= (j->measure ? PINGS - 1 : 2))
		next(j);
	else {
		j->step = S_PINGS;
		next(j);
	}
}

static void call_timed(struct pf_job *j, const char *op, json_t *args, peer_reply_cb cb)
{
	struct timed *t = xcalloc(1, sizeof(*t));

	t->j = j;
	t->real_us = time_real_us();
	t->mono_us = time_mono_us();
	j->pending++;
	j->call = t;
	j->call_id = peer_call_timeout(j->peer, op, args, 10000, cb, t);
}

/* The guest's own facts: this host's, and what its QEMU said. */
static json_t *source_facts(struct pf_job *j)
{
	struct vm_config *cfg = j->vm->cfg;
	json_t *f = facts_host(j->ag, cfg, NULL, j->vm), *disks = json_array(), *vifs = json_array();

	for (int i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		json_t *b = json_object_get(j->blocks, d->vdev);
		struct stat st;
		long long size = json_integer_value(json_object_get(b, "size")),
			  data = json_integer_value(json_object_get(b, "data"));
		/* A local file's allocated bytes, when QEMU did not say. */
		if (data <= 0 && d->target && stat(d->target, &st) == 0)
			data = (long long)st.st_blocks * 512;
		json_array_append_new(disks, json_pack("{s:s, s:b, s:I, s:I}", "vdev", d->vdev, "shared", d->shared,
						       "data_bytes", (json_int_t)(data > 0 ? data : 0), "size_bytes",
						       (json_int_t)(size > 0 ? size : 0)));
	}
	for (int i = 0; i < cfg->n_vifs; i++) {
		char mac[18];
		vm_mac_format(cfg->vifs[i].mac, mac);
		json_array_append_new(vifs, json_pack("{s:s, s:s}", "mac", mac, "bridge", cfg->vifs[i].bridge));
	}
	json_object_set_new(f, "guest",
			    json_pack("{s:s, s:i, s:I, s:s, s:f, s:o, s:o}", "name", cfg->name, "memory_mb", cfg->memory_mb,
				      "ram_bytes", (json_int_t)j->ram_bytes, "machine", j->machine, "dirty_mb_s",
				      j->dirty_mb_s, "disks", disks, "vifs", vifs));
	return f;
}

static double median(const double *v, int n)
{
	double s[32];

	if (n > 32)
		n = 32;
	memcpy(s, v, (size_t)n * sizeof(double));
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && s[k] < s[k - 1]; k--) {
			double t = s[k];
			s[k] = s[k - 1];
			s[k - 1] = t;
		}
	return n ? s[n / 2] : 0;
}

/* Earlier moves of this guest between the two hosts, of the same kind, in
 * either direction (the history both agents keep): the time before the
 * stream (prep_ms) and the rate at which the stream covered the guest's
 * RAM, zero pages and all (rate_mb_s), their medians. QEMU's own rate
 * (under TCG, far below the link's) is what the estimate needs; NULL when
 * there is none to learn from. */
static json_t *calibration(struct pf_job *j)
{
	json_t *hist = mig_any_history_read(j->ag, j->name, 20, 0), *r;
	const char *want = j->mode.kind == PF_LIVE ? "precopy" : j->mode.kind == PF_COLD_SUSPEND ? "suspend" : NULL;
	double prep[20], rate[20];
	int n = 0;
	size_t i;

	json_array_foreach(hist, i, r) {
		const char *src = json_string_value(json_object_get(r, "src")), *dst = json_string_value(json_object_get(r, "dst"));
		json_int_t total = json_integer_value(json_object_get(r, "total_ms")),
			   mig = json_integer_value(json_object_get(r, "migrate_ms"));
		if (!want || n >= 20 || !src || !dst || mig <= 0 || total < mig ||
		    strcmp(json_string_value(json_object_get(r, "status")) ?: "", "completed") ||
		    strcmp(json_string_value(json_object_get(r, "mode")) ?: "", want) ||
		    !((!strcmp(src, j->ag->cfg->host) && !strcmp(dst, j->dest)) ||
		      (!strcmp(src, j->dest) && !strcmp(dst, j->ag->cfg->host))))
			continue;
		prep[n] = (double)(total - mig);
		rate[n++] = (double)j->vm->cfg->memory_mb * 1048576.0 / ((double)mig * 1000.0);
	}
	json_decref(hist);
	if (!n)
		return NULL;
	return json_pack("{s:i, s:f, s:f}", "moves", n, "prep_ms", median(prep, n), "rate_mb_s", median(rate, n));
}

static void judge(struct pf_job *j)
{
	json_t *src = source_facts(j), *net = json_object();
	struct ferr err = {0};

	if (pf_facts_check(src, true, &err) < 0) {
		/* Our own facts: a bug, said as such. */
		log_error("preflight: own facts malformed", "vm=%s error=\"%s\"", j->name, err.msg);
	}
	if (j->n_pings) {
		/* The clock offset of the sample with the shortest round trip. */
		int best = 0;
		for (int i = 1; i < j->n_pings; i++)
			if (j->rtt_ms[i] < j->rtt_ms[best])
				best = i;
		json_object_set_new(net, "rtt_ms", json_real(median(j->rtt_ms, j->n_pings)));
		json_object_set_new(net, "clock_offset_ms", json_real(j->offset_ms[best]));
		json_object_set_new(net, "clock_error_ms", json_real(j->rtt_ms[best] / 2));
	}
	json_object_set_new(net, "bandwidth_mb_s", json_real(j->bandwidth_mb_s));
	json_t *cal = calibration(j);
	if (cal)
		json_object_set_new(net, "calibration", cal);
	json_object_set(net, "l2", j->l2);
	json_t *checks = pf_evaluate(src, j->dst, net, &j->mode);
	json_t *report = json_pack("{s:o, s:{s:o, s:O}, s:o, s:I, s:b}", "checks", checks, "facts", "source", src,
				   "destination", j->dst, "net", net, "took_ms",
				   (json_int_t)((time_mono_us() - j->t0_us) / 1000), "measured", j->measure);
	finish(j, report);
}

static void next(struct pf_job *j)
{
	switch (j->step++) {
	case S_RAM:
		j->pending++;
		vm_qmp(j->vm, "query-memory-size-summary", NULL, on_ram, j);
		return;
	case S_MACHINE:
		j->pending++;
		vm_qmp(j->vm, "qom-get", json_pack("{s:s, s:s}", "path", "/machine", "property", "type"), on_machine, j);
		return;
	case S_BLOCKS:
		j->pending++;
		vm_qmp(j->vm, "query-block", NULL, on_blocks, j);
		return;
	case S_DIRTY:
		if (!j->measure) {
			next(j);
			return;
		}
		j->pending++;
		vm_qmp(j->vm, "calc-dirty-rate", json_pack("{s:i}", "calc-time", DIRTY_CALC_S), on_dirty_started, j);
		return;
	case S_CONNECT:
		if (j->peer) {
			next(j);
			return;
		}
		j->own_peer = true;
		j->connecting = true;
		j->pending++;
		j->peer = peer_connect(j->ag, j->dest, j->daddr, j->dport, on_peer, j);
		return;
	case S_FACTS: {
		/* Listen on the guest's bridges first: the destination sends
		 * its probe frames before it answers. */
		struct vm_config *cfg = j->vm->cfg;
		l2probe_nonce(j->nonce);
		for (int i = 0; i < cfg->n_vifs; i++) {
			j->l2fd[i] = facts_l2_socket(j->ag, cfg->vifs[i].bridge);
			if (j->l2fd[i] >= 0)
				l2probe_drain(j->l2fd[i], &j->ag->l2seen);   /* others' probes keep theirs */
		}
		char *text = vmcfg_format(cfg);
		json_t *args = json_pack("{s:s, s:s, s:{s:s}}", "config", text, "machine", j->machine, "l2", "nonce",
					 j->nonce);
		free(text);
		json_t *pools = pool_locations(j->ag, cfg);
		if (pools)
			json_object_set_new(args, "pools", pools);
		call_timed(j, "host-facts", args, on_facts);
		return;
	}
	case S_L2:
		/* The frames crossed two bridges before the answer came over
		 * TCP; a moment more for any still in a queue. */
		j->pending++;
		j->timer = loop_add_timer(j->ag->loop, 0, look_l2, j);
		return;
	case S_PINGS:
		call_timed(j, "ping", NULL, on_ping);
		return;
	case S_BANDWIDTH:
		/* Only for ferry check: a move does not spend the time. */
		if (!j->measure) {
			next(j);
			return;
		}
		call_timed(j, "net-sink", NULL, on_sink);
		return;
	case S_JUDGE:
		judge(j);
		return;
	case S_DONE:
		return;
	}
}

struct pf_job *preflight_start(struct agent *ag, struct vm *vm, const char *dest, const char *daddr, int dport,
			       struct peer *peer, const struct pf_mode *mode, bool measure, pf_done_fn done, void *opaque)
{
	struct pf_job *j = xcalloc(1, sizeof(*j));

	j->ag = ag;
	j->vm = vm;
	snprintf(j->name, sizeof(j->name), "%s", vm->cfg->name);
	snprintf(j->dest, sizeof(j->dest), "%s", dest);
	snprintf(j->daddr, sizeof(j->daddr), "%s", daddr ? daddr : "");
	j->dport = dport;
	j->peer = peer;
	j->mode = *mode;
	j->measure = measure;
	j->done = done;
	j->opaque = opaque;
	j->t0_us = time_mono_us();
	j->blocks = json_object();
	j->l2 = json_array();
	j->dirty_mb_s = -1;
	j->bandwidth_mb_s = -1;
	for (int i = 0; i < VM_MAX_VIFS; i++)
		j->l2fd[i] = -1;
	next(j);
	return j;
}

void preflight_cancel(struct pf_job *j)
{
	if (!j || j->cancelled)
		return;
	j->cancelled = true;
	j->done = NULL;
	if (j->timer) {
		loop_cancel_timer(j->ag->loop, j->timer);
		j->timer = 0;
		j->pending--;
	}
	/* A call in flight will not come back. */
	if (j->call_id && j->peer) {
		peer_forget(j->peer, j->call_id);
		free(j->call);
		j->call_id = 0;
		j->pending--;
	}
	if (j->own_peer) {
		/* A connection being made: dropped with the peer. */
		if (j->connecting)
			j->pending--;
		peer_free(j->peer);
		j->peer = NULL;
		j->own_peer = false;
	}
	if (j->pending == 0)
		job_free(j);
}

struct pf_mode preflight_mode(const struct mig_opts *o)
{
	struct pf_mode m = {
		.kind = o->cold == COLD_SUSPEND ? PF_COLD_SUSPEND : o->cold == COLD_REBOOT ? PF_COLD_REBOOT : PF_LIVE,
		.copy_storage = o->copy_storage,
		.insecure = o->insecure,
		.postcopy = o->postcopy != POSTCOPY_OFF,
		.auto_converge = o->auto_converge,
		.downtime_ms = o->downtime_ms,
	};
	return m;
}

/* ---- the op vm-check ------------------------------------------------------ */

struct check_op {
	struct request *r;
	struct vm *vm;
	struct pf_job *job;
};

static void check_gone(void *opaque, struct vm *vm)
{
	struct check_op *c = opaque;

	preflight_cancel(c->job);
	request_err(c->r, "%s ended during the check", vm->cfg->name);
	free(c);
}

static const struct vm_listener_ops check_listener = { .name = "preflight", .on_gone = check_gone };

static void check_done(struct agent *ag, json_t *report, void *opaque)
{
	struct check_op *c = opaque;
	json_t *checks = json_object_get(report, "checks");

	(void)ag;
	vm_unlisten(c->vm, &check_listener, c);
	json_t *res = json_deep_copy(report);
	json_object_set_new(res, "blocking", json_integer(pf_blocking(checks, false, NULL, 0)));
	request_ok(c->r, res);
	free(c);
}

/* vm-check {name, dest, opts}: the preflight of a move, with measurements. */
void preflight_op_check(struct request *r, json_t *args, struct vm *vm)
{
	json_t *dest = json_object_get(args, "dest");
	struct mig_opts o;
	char msg[400];

	if (mig_opts_from_json(json_object_get(args, "opts"), &o, msg, sizeof(msg)) < 0) {
		request_err(r, "%s", msg);
		return;
	}
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
		request_err(r, "%s is %s: only a running guest can be checked for a move", vm->cfg->name,
			    vm_state_name(vm->state));
		return;
	}
	if (!r->ag->have_key) {
		request_err(r, "host %s has no key_file: it cannot talk to another host", r->ag->cfg->host);
		return;
	}
	struct check_op *c = xcalloc(1, sizeof(*c));
	struct pf_mode m = preflight_mode(&o);
	c->r = r;
	c->vm = vm;
	vm_listen(vm, &check_listener, c);
	c->job = preflight_start(r->ag, vm, json_string_value(json_object_get(dest, "host")),
				 json_string_value(json_object_get(dest, "addr")),
				 (int)json_integer_value(json_object_get(dest, "port")), NULL, &m, true, check_done, c);
}

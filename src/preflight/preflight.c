/* preflight.c: each requirement of a move judged on the facts of both hosts
 * (preflight.h). The "why" of each, per kind of move, is the answer to the
 * lab's questions on what cold and live migration need: docs/requirements.md
 * says the same at length. */
#include "preflight/preflight.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct ctx {
	json_t *src, *dst, *g, *net, *out;
	const struct pf_mode *m;
	const char *sh, *dh;   /* host names */
};

/* A member by dotted path ("memory.available_mb"); NULL if absent. */
static json_t *at(json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}
static const char *str(json_t *o, const char *path)
{
	const char *s = json_string_value(at(o, path));
	return s ? s : "";
}
static long long num(json_t *o, const char *path)
{
	return json_integer_value(at(o, path));
}
static bool yes(json_t *o, const char *path)
{
	return json_is_true(at(o, path));
}

/* Appends one verdict: facts (stolen; NULL: none), why it matters, and what
 * was seen on the source (src) and on the destination (the printf format
 * dst_fmt). */
static void add(struct ctx *c, const char *id, const char *title, const char *verdict, bool overridable,
		json_t *facts, const char *why, const char *src, const char *dst_fmt, ...)
	__attribute__((format(printf, 9, 10)));
static void add(struct ctx *c, const char *id, const char *title, const char *verdict, bool overridable,
		json_t *facts, const char *why, const char *src, const char *dst_fmt, ...)
{
	char d[700];
	va_list ap;

	va_start(ap, dst_fmt);
	vsnprintf(d, sizeof(d), dst_fmt, ap);
	va_end(ap);
	json_array_append_new(c->out, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:o}", "id", id, "title", title,
						"verdict", verdict, "overridable", overridable, "source", src,
						"destination", d, "why", why, "facts", facts ? facts : json_object()));
}

static bool live_state(const struct ctx *c)
{
	return c->m->kind != PF_COLD_REBOOT;   /* the running state travels */
}

static void c_agent(struct ctx *c)
{
	long long sp = num(c->src, "protocol"), dp = num(c->dst, "protocol");
	char s[120];

	snprintf(s, sizeof(s), "%s: ferry %s, protocol %lld", c->sh, str(c->src, "version"), sp);
	add(c, "agent", "destination agent", sp == dp ? "ok" : "blocking", false, NULL,
	    "Every step of a move, cold or live, is a request from one agent to the other over an authenticated, "
	    "encrypted channel: both must speak the same protocol.",
	    s, "%s answered and authenticated with the key: ferry %s, protocol %lld", c->dh, str(c->dst, "version"), dp);
}

static void c_qemu(struct ctx *c)
{
	long long sv = num(c->src, "qemu.version"), dv = num(c->dst, "qemu.version");
	char s[120];

	snprintf(s, sizeof(s), "%s: QEMU %lld.%lld", c->sh, sv / 100, sv % 100);
	if (!live_state(c)) {
		add(c, "qemu", "QEMU versions", dv > 0 ? "not-needed" : "blocking", false, NULL,
		    "A reboot move starts the guest afresh there: any QEMU that boots it will do; only a move of the "
		    "running state needs a QEMU that reads the source's stream.",
		    s, dv > 0 ? "%s: QEMU %lld.%lld" : "%s: no QEMU found", c->dh, dv / 100, dv % 100);
		return;
	}
	add(c, "qemu", "QEMU versions", dv >= sv ? "ok" : "blocking", false, NULL,
	    "The destination's QEMU loads the guest's device and CPU state as the source's QEMU wrote it: QEMU reads "
	    "streams of its own version and older ones, not newer ones.",
	    s, "%s: QEMU %lld.%lld%s", c->dh, dv / 100, dv % 100, dv >= sv ? "" : " (older than the source's)");
}

static void c_machine(struct ctx *c)
{
	const char *sm = str(c->g, "machine"), *dpc = str(c->dst, "qemu.pc");
	char s[200];

	snprintf(s, sizeof(s), "%s runs machine %s", str(c->g, "name"), sm[0] ? sm : "(not known)");
	if (!live_state(c)) {
		add(c, "machine", "machine type", dpc[0] ? "not-needed" : "blocking", false, NULL,
		    "A fresh boot needs only a machine type the destination has; the same exact type matters when the "
		    "device state moves.",
		    s, "%s starts guests as %s", c->dh, dpc[0] ? dpc : "(none)");
		return;
	}
	bool same = sm[0] && !strcmp(sm, dpc);
	add(c, "machine", "machine type", same ? "ok" : "blocking", false, NULL,
	    "The device state only loads into the same machine type (same chipset, same device layout and "
	    "versions).",
	    s, "%s would start it as %s%s", c->dh, dpc[0] ? dpc : "(nothing)", same ? "" : ": not the same type");
}

static void c_accel(struct ctx *c)
{
	const char *sa = str(c->src, "accel"), *da = str(c->dst, "accel");
	char s[120], kvm[360] = "";

	snprintf(s, sizeof(s), "%s runs the guest under %s", c->sh, sa);
	if (!yes(c->dst, "kvm.usable"))
		snprintf(kvm, sizeof(kvm), " (no KVM: %s)", str(c->dst, "kvm.why"));
	if (!live_state(c)) {
		add(c, "accel", "accelerator", "not-needed", false, NULL,
		    "A fresh boot runs under whatever the destination has (KVM, else TCG).", s,
		    "%s would run it under %s%s", c->dh, da, kvm);
		return;
	}
	bool same = !strcmp(sa, da);
	add(c, "accel", "accelerator", same ? "ok" : "blocking", true, NULL,
	    "The vCPU state is saved as the source's accelerator holds it; moving it between KVM and TCG works only "
	    "for the simplest guests (--force tries anyway).",
	    s, "%s would run it under %s%s", c->dh, da, kvm);
}

static bool has_flag(json_t *flags, const char *f)
{
	size_t i;
	json_t *v;

	json_array_foreach(flags, i, v)
		if (!strcmp(json_string_value(v), f))
			return true;
	return false;
}

static void c_cpu(struct ctx *c)
{
	const char *model = str(c->src, "cpu.model");
	char s[200], missing[400] = "";
	int n_missing = 0;

	snprintf(s, sizeof(s), "the guest's CPU model is %s", model);
	if (!yes(c->dst, "cpu.offered")) {
		const char *lim = str(c->dst, "cpu.limit");
		add(c, "cpu", "CPU model", "blocking", false, NULL,
		    "The guest sees the CPU model's features: the destination must offer the same model for the guest "
		    "to run there at all, booted afresh or moved running.",
		    s, "%s does not offer %s%s%s%s", c->dh, model, lim[0] ? " (cpu_models in its agent config: " : "", lim,
		    lim[0] ? ")" : " (its QEMU does not know it)");
		return;
	}
	/* host/max under KVM: the guest sees this host's own features; the
	 * destination must have every one of them. */
	bool passthrough = (!strcmp(model, "host") || !strcmp(model, "max")) && !strcmp(str(c->src, "accel"), "kvm");
	if (passthrough) {
		size_t i;
		json_t *f, *dflags = at(c->dst, "cpu.flags");
		json_array_foreach(at(c->src, "cpu.flags"), i, f) {
			if (has_flag(dflags, json_string_value(f)))
				continue;
			if (n_missing++ < 12)
				snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
					 n_missing > 1 ? " " : "", json_string_value(f));
		}
	}
	bool blocks = n_missing && live_state(c);
	add(c, "cpu", "CPU model", blocks ? "blocking" : "ok", false,
	    json_pack("{s:i}", "flags_missing", n_missing),
	    live_state(c) ? "A running guest has already seen its CPU's features and uses them: each must exist on the "
			    "destination, or the guest faults when it uses one there." :
			    "A guest booted afresh discovers its CPU's features at boot: the destination must offer the "
			    "model, not the source's exact features.",
	    s, "%s offers it%s%s", c->dh,
	    !passthrough ? " (the model's features are the same on every host that offers it)" :
	    n_missing ? ", but lacks some of the source's features: " : ", with every feature of the source's CPU",
	    missing);
}

static void c_memory(struct ctx *c)
{
	long long need = (num(c->g, "ram_bytes") > 0 ? num(c->g, "ram_bytes") >> 20 : num(c->g, "memory_mb"));
	long long avail = num(c->dst, "memory.available_mb"), lim = num(c->dst, "memory.limit_mb");
	long long used = num(c->dst, "memory.guests_mb"), room = avail;
	char s[120], lims[160] = "";

	if (lim >= 0) {
		if (lim - used < room)
			room = lim - used > 0 ? lim - used : 0;
		snprintf(lims, sizeof(lims), "; guests may use %lld MiB here (guest_memory_mb), %lld MiB taken", lim, used);
	}
	snprintf(s, sizeof(s), "the guest has %lld MiB of RAM", need);
	const char *v = need > room ? "blocking" : need * 10 > room * 8 ? "warning" : "ok";
	add(c, "memory", "memory on the destination", v, false,
	    json_pack("{s:I, s:I, s:I, s:I}", "need_mb", (json_int_t)need, "room_mb", (json_int_t)room,
		      "available_mb", (json_int_t)avail, "hugepages_free", (json_int_t)num(c->dst, "memory.hugepages_free")),
	    "The destination must hold all of the guest's RAM (a live move fills it while the source still holds its "
	    "own copy): without the room the destination's QEMU is killed or the host swaps.",
	    s, "%s has %lld MiB available of %lld%s; hugepages: %lld free (not used by ferry's guests)", c->dh, avail,
	    num(c->dst, "memory.total_mb"), lims, num(c->dst, "memory.hugepages_free"));
}

static void c_names(struct ctx *c)
{
	char s[120], taken[300] = "";
	size_t i;
	json_t *t;

	snprintf(s, sizeof(s), "guest %s", str(c->g, "name"));
	add(c, "name", "guest name free", yes(c->dst, "name_taken") ? "blocking" : "ok", false, NULL,
	    "Each host knows its guests by name: a second guest of the same name there cannot be started or addressed.",
	    s, yes(c->dst, "name_taken") ? "%s already has a guest named %s" : "%s has no guest named %s", c->dh,
	    str(c->g, "name"));
	json_array_foreach(at(c->dst, "macs_taken"), i, t)
		snprintf(taken + strlen(taken), sizeof(taken) - strlen(taken), "%s%s (guest %s)", i ? ", " : "",
			 str(t, "mac"), str(t, "vm"));
	snprintf(s, sizeof(s), "the guest has %zu NIC(s)", json_array_size(at(c->g, "vifs")));
	add(c, "mac", "MAC addresses free", taken[0] ? "blocking" : "ok", false, NULL,
	    "Two NICs with one MAC on one L2 segment steal each other's frames: the guest keeps its MAC when it moves, "
	    "so no guest there may use it.",
	    s, taken[0] ? "%s uses %s" : "%s uses none of them%s", c->dh, taken);
}

static bool l2_seen(json_t *net, const char *bridge, bool *probed)
{
	size_t i;
	json_t *e;

	*probed = false;
	json_array_foreach(at(net, "l2"), i, e)
		if (!strcmp(str(e, "bridge"), bridge)) {
			*probed = true;
			return yes(e, "seen");
		}
	return false;
}

static void c_bridges(struct ctx *c)
{
	size_t i, k;
	json_t *vif, *b;

	json_array_foreach(at(c->g, "vifs"), i, vif) {
		const char *name = str(vif, "bridge");
		bool exists = false, probed;
		json_array_foreach(at(c->dst, "bridges"), k, b)
			if (!strcmp(str(b, "name"), name))
				exists = yes(b, "exists");
		bool seen = l2_seen(c->net, name, &probed);
		char s[120];
		snprintf(s, sizeof(s), "NIC %s is on bridge %s", str(vif, "mac"), name);
		const char *why = "The guest keeps its MAC and IP address when it moves: the destination's bridge must "
				  "exist and reach the same L2 segment, or the guest's address means nothing there.";
		if (!exists)
			add(c, "bridge", "VM network", "blocking", false, NULL, why, s, "%s has no bridge %s", c->dh, name);
		else if (probed && !seen)
			add(c, "bridge", "VM network", "blocking", true, NULL, why, s,
			    "%s has bridge %s, but frames sent from it did not reach the source's %s: not the same L2 segment",
			    c->dh, name, name);
		else
			add(c, "bridge", "VM network", "ok", false, NULL, why, s,
			    probed ? "%s has bridge %s, and a frame sent from it reached the source's: same L2 segment" :
				     "%s has bridge %s (its L2 segment not probed)",
			    c->dh, name);
	}
}

static json_t *dst_disk(struct ctx *c, const char *vdev)
{
	size_t i;
	json_t *d;

	json_array_foreach(at(c->dst, "disks"), i, d)
		if (!strcmp(str(d, "vdev"), vdev))
			return d;
	return NULL;
}

static double bandwidth_bps(const struct ctx *c)
{
	json_t *b = at(c->net, "bandwidth_mb_s");
	return b && json_number_value(b) > 0 ? json_number_value(b) * 1e6 : -1;
}

static void c_storage(struct ctx *c)
{
	size_t i;
	json_t *gd;
	long long copy = 0, room = num(c->dst, "disk_room_bytes");
	double bw = bandwidth_bps(c);
	char unshared[200] = "";

	json_array_foreach(at(c->g, "disks"), i, gd) {
		const char *vdev = str(gd, "vdev");
		json_t *dd = dst_disk(c, vdev);
		char s[200];
		snprintf(s, sizeof(s), "disk %s: %s", vdev, yes(gd, "shared") ? "on shared storage" : "on this host only");
		if (dd && str(dd, "used_by")[0]) {
			add(c, "storage", "disks", "blocking", false, NULL,
			    "An image open by two guests at once is corrupted by both.", s,
			    "guest %s on %s already uses that image", str(dd, "used_by"), c->dh);
			continue;
		}
		if (yes(gd, "shared")) {
			bool ok = dd && yes(dd, "shared") && yes(dd, "visible");
			char pool[48] = "";
			if (dd && str(dd, "pool")[0])
				snprintf(pool, sizeof(pool), " (pool %s)", str(dd, "pool"));
			add(c, "storage", "disks", ok ? "ok" : "blocking", false, NULL,
			    "A disk both hosts see at the same place moves with no copy: the destination opens the same "
			    "image once the source has closed it.",
			    s, ok ? "%s sees the same image%s" : "%s does not see it%s: it is not shared with the source",
			    c->dh, pool);
			continue;
		}
		long long bytes = c->m->kind == PF_LIVE ? num(gd, "size_bytes") : num(gd, "data_bytes");
		snprintf(unshared + strlen(unshared), sizeof(unshared) - strlen(unshared), "%s%s", unshared[0] ? " " : "", vdev);
		copy += bytes;
		if (c->m->kind == PF_LIVE && !c->m->copy_storage) {
			add(c, "storage", "disks", "blocking", false, NULL,
			    "A live move without shared storage must copy the disk while the guest writes to it "
			    "(--copy-storage mirrors it over NBD); a cold move copies it with the disk mover.",
			    s, "disk %s is not on shared storage, so %s cannot open it: use --copy-storage, or a cold "
			    "move (or shared=yes if both hosts see it at the same place)", vdev, c->dh);
			copy = -1;
			return;
		}
	}
	if (!unshared[0])
		return;
	double est = bw > 0 ? (double)copy / bw : -1;
	bool fits = room < 0 || copy <= room;
	char s[300], est_s[80] = "";
	if (est > 0)
		snprintf(est_s, sizeof(est_s), "; about %.1f s at the measured rate", est);
	snprintf(s, sizeof(s), "disk(s) %s: %.1f MB to copy (%s)", unshared, copy / 1e6,
		 c->m->kind == PF_LIVE ? "the whole virtual size: QEMU mirrors it over NBD while the guest runs" :
					 "their data: the disk mover, before and while the guest is stopped");
	add(c, "storage", "disks", fits ? "ok" : "blocking", false,
	    json_pack("{s:I, s:I, s:f}", "copy_bytes", (json_int_t)copy, "room_bytes", (json_int_t)room, "estimate_s", est),
	    "A disk only the source sees must travel with the guest: the destination needs the room for it, and the "
	    "copy takes time on the migration network.",
	    s, "%s has %.1f MB free for it%s", c->dh, room / 1e6, est_s);
}

static void c_cache(struct ctx *c)
{
	size_t i;
	json_t *gd;
	char bad[200] = "", s[300] = "";

	json_array_foreach(at(c->g, "disks"), i, gd) {
		json_t *dd = dst_disk(c, str(gd, "vdev"));
		if (!dd)
			continue;
		snprintf(s + strlen(s), sizeof(s) - strlen(s), "%s%s cache=%s", i ? ", " : "", str(dd, "vdev"),
			 str(dd, "cache"));
		if (yes(gd, "shared") && !yes(dd, "direct"))
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "%s%s", bad[0] ? " " : "", str(dd, "vdev"));
	}
	if (!s[0])
		snprintf(s, sizeof(s), "no disks");
	add(c, "cache", "disk cache modes", bad[0] ? "blocking" : "ok", false, NULL,
	    "On storage both hosts open, a host's page cache is not coherent with the other's: only cache=none or "
	    "directsync make the destination read what the source wrote.",
	    s, bad[0] ? "disk(s) %s on shared storage are cached by the host: unsafe to move" :
			"every shared disk bypasses the host's cache%s", bad[0] ? bad : "");
}

static void c_stream(struct ctx *c)
{
	char s[120];

	if (!live_state(c)) {
		snprintf(s, sizeof(s), "no QEMU stream (disks: the mover, TLS-PSK)");
		add(c, "stream", "encrypted stream", "not-needed", false, NULL,
		    "A reboot move sends no running state, only disks, and the disk mover always encrypts.", s,
		    "%s receives only disks", c->dh);
		return;
	}
	snprintf(s, sizeof(s), c->m->insecure ? "--insecure: a plaintext stream" : "the stream goes through TLS-PSK");
	bool refused = c->m->insecure && !yes(c->dst, "allow_insecure");
	add(c, "stream", "encrypted stream", refused ? "blocking" : "ok", false, NULL,
	    "The stream holds all of the guest's memory (keys, passwords): in plaintext anyone on the network reads "
	    "it, or injects a state of their own first.",
	    s, "%s %s", c->dh,
	    refused ? "refuses plaintext moves (allow_insecure = 0 in its agent config)" :
	    yes(c->dst, "allow_insecure") ? "allows plaintext moves" : "accepts only encrypted moves");
}

double pf_precopy_seconds(double ram_bytes, double bandwidth_bps, double dirty_bps, double downtime_s, int *rounds)
{
	double rest = ram_bytes, t = 0;

	*rounds = 0;
	if (bandwidth_bps <= 0)
		return -1;
	while (*rounds < 50) {
		double dt = rest / bandwidth_bps, dirtied = dirty_bps * dt;
		if (dirtied > ram_bytes)
			dirtied = ram_bytes;
		t += dt;
		++*rounds;
		if (dirtied / bandwidth_bps <= downtime_s)
			return t + dirtied / bandwidth_bps;
		if (dirtied >= rest)
			return -1;   /* each round leaves as much as it sent: no end */
		rest = dirtied;
	}
	return -1;
}

static void c_network(struct ctx *c)
{
	double bw = bandwidth_bps(c), rtt = json_number_value(at(c->net, "rtt_ms"));
	double ram = (double)num(c->g, "ram_bytes"), dirty = json_number_value(at(c->g, "dirty_mb_s")) * 1e6;
	json_t *cal = at(c->net, "calibration");
	const char *why = c->m->kind == PF_LIVE ?
		"Pre-copy sends the RAM, then again what the guest dirtied meanwhile, until the rest fits the pause "
		"target: it ends only if the link outruns the guest's writes." :
		"A cold move sends the state (or only disks) once while the guest is stopped: the link's rate is the "
		"outage; there is nothing to converge.";
	char s[200], d[500];

	if (!c->net || !at(c->net, "rtt_ms")) {
		add(c, "network", "migration network", "ok", false, NULL, why, "not measured", "%s answered on its agent address",
		    c->dh);
		return;
	}
	if (bw > 0)
		snprintf(s, sizeof(s), "%s -> %s: round trip %.2f ms, %.0f MB/s measured over TLS", c->sh, c->dh, rtt, bw / 1e6);
	else
		snprintf(s, sizeof(s), "%s -> %s: round trip %.2f ms (rate not measured)", c->sh, c->dh, rtt);
	/* The stream's rate: QEMU's own as earlier moves between these hosts
	 * showed it (RAM covered per second, zero pages and all), else the
	 * link's. */
	double rate = cal ? json_number_value(at(cal, "rate_mb_s")) * 1e6 : bw;
	double prep = cal ? json_number_value(at(cal, "prep_ms")) / 1000.0 : 0;
	if (rate <= 0 || c->m->kind == PF_COLD_REBOOT) {
		add(c, "network", "migration network", "ok", false, json_pack("{s:f}", "rtt_ms", rtt), why, s,
		    "%s reachable%s", c->dh, c->m->kind == PF_COLD_REBOOT ? " (a reboot move sends no RAM)" : "");
		return;
	}
	int rounds = 1;
	double stream = -1;
	const char *v = "ok", *note = "";
	if (c->m->kind == PF_LIVE) {
		stream = pf_precopy_seconds(ram, rate, dirty > 0 ? dirty : 0, c->m->downtime_ms / 1000.0, &rounds);
		if (stream < 0) {
			v = c->m->postcopy || c->m->auto_converge ? "ok" : "warning";
			note = c->m->postcopy ? "pre-copy cannot converge at this dirty rate; post-copy will take over" :
			       c->m->auto_converge ? "pre-copy cannot converge at this dirty rate; auto-converge will slow "
						     "the guest until it does" :
						     "pre-copy cannot converge at this dirty rate: use --postcopy or --auto-converge";
		}
	} else {
		stream = ram / rate;   /* the guest is stopped: one pass */
	}
	double est = stream >= 0 ? prep + stream : -1;
	char basis[200];
	if (cal)
		snprintf(basis, sizeof(basis), "QEMU's rate in the last %lld move(s) between these hosts, %.0f MB/s of RAM, "
			 "%.2f s before the stream", num(cal, "moves"), rate / 1e6, prep);
	else
		snprintf(basis, sizeof(basis), "the link's rate, the stream only (no earlier move between these hosts to "
			 "learn QEMU's own rate from)");
	if (est >= 0)
		snprintf(d, sizeof(d), "%.0f MiB of RAM, the guest dirtying %.1f MB/s: about %.2f s in %d round(s)%s%s "
			 "(from %s)", ram / 1048576, dirty > 0 ? dirty / 1e6 : 0.0, est, rounds,
			 c->m->kind == PF_LIVE ? ", pause under " : "", "", basis);
	else
		snprintf(d, sizeof(d), "%.0f MiB of RAM, the guest dirtying %.1f MB/s: %s (from %s)", ram / 1048576,
			 dirty / 1e6, note, basis);
	if (est >= 0 && c->m->kind == PF_LIVE) {
		char *paren = strstr(d, " (from ");
		char tail[300];
		snprintf(tail, sizeof(tail), "%s", paren);
		snprintf(paren, sizeof(d) - (size_t)(paren - d), "%d ms%s", c->m->downtime_ms, tail);
	}
	json_t *facts = json_pack("{s:f, s:f, s:f, s:f, s:i, s:b, s:i}", "rtt_ms", rtt, "bandwidth_mb_s", bw / 1e6,
				  "dirty_mb_s", dirty > 0 ? dirty / 1e6 : 0.0, "estimate_s", est, "rounds", rounds,
				  "converges", est >= 0, "calibrated_moves", cal ? (int)num(cal, "moves") : 0);
	add(c, "network", "migration network", v, true, facts, why, s, "%s", d);
}

static void c_clock(struct ctx *c)
{
	double off = json_number_value(at(c->net, "clock_offset_ms")), e = json_number_value(at(c->net, "clock_error_ms"));
	char s[120];

	if (!at(c->net, "clock_offset_ms"))
		return;
	snprintf(s, sizeof(s), "%s's clock", c->sh);
	bool ok = fabs(off) <= 1.0 + e;
	add(c, "clock", "clocks in step", ok ? "ok" : "warning", true,
	    json_pack("{s:f, s:f}", "offset_ms", off, "error_ms", e),
	    "The outage figures (the pause, stop to resume) take the stop from the source's clock and the resume from "
	    "the destination's: an offset between them is an error in the figure.",
	    s, "%s's clock is %+.2f ms off (+- %.2f ms)%s", c->dh, off, e,
	    ok ? "" : ": the pause figures will be off by as much (run NTP/PTP on both)");
}

json_t *pf_evaluate(json_t *src, json_t *dst, json_t *net, const struct pf_mode *m)
{
	struct ctx c = { .src = src, .dst = dst, .g = json_object_get(src, "guest"), .net = net, .m = m,
			 .out = json_array(), .sh = json_string_value(json_object_get(src, "host")),
			 .dh = json_string_value(json_object_get(dst, "host")) };

	c_agent(&c);
	c_qemu(&c);
	c_machine(&c);
	c_accel(&c);
	c_cpu(&c);
	c_memory(&c);
	c_names(&c);
	c_bridges(&c);
	c_storage(&c);
	c_cache(&c);
	c_stream(&c);
	c_network(&c);
	c_clock(&c);
	return c.out;
}

json_t *pf_unreachable(const char *src_host, const char *dst_host, const char *why)
{
	json_t *out = json_array();
	char s[100], d[700];

	snprintf(s, sizeof(s), "%s", src_host);
	snprintf(d, sizeof(d), "%s: %s", dst_host, why);
	json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:{}}", "id", "agent", "title",
					     "destination agent", "verdict", "blocking", "overridable", 0, "source", s,
					     "destination", d, "why",
					     "Every step of a move, cold or live, is a request from one agent to the other over "
					     "an authenticated, encrypted channel: both must speak the same protocol.",
					     "facts"));
	return out;
}

int pf_blocking(json_t *checks, bool force, char *forced_out, size_t n)
{
	size_t i;
	json_t *c;
	int blocking = 0;

	if (forced_out && n)
		forced_out[0] = 0;
	json_array_foreach(checks, i, c) {
		if (strcmp(str(c, "verdict"), "blocking"))
			continue;
		if (force && yes(c, "overridable")) {
			if (forced_out && !strstr(forced_out, str(c, "id")))
				snprintf(forced_out + strlen(forced_out), n - strlen(forced_out), "%s%s",
					 forced_out[0] ? "," : "", str(c, "id"));
			continue;
		}
		blocking++;
	}
	return blocking;
}

void pf_refusal(json_t *checks, bool force, char *out, size_t n)
{
	size_t i;
	json_t *c;

	out[0] = 0;
	json_array_foreach(checks, i, c) {
		if (strcmp(str(c, "verdict"), "blocking") || (force && yes(c, "overridable")))
			continue;
		snprintf(out, n, "%s: %s", str(c, "title"), str(c, "destination"));
		return;
	}
}

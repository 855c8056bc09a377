/* facts.c: what this host offers a guest and what would clash with it, in
 * preflight.h's schema (docs/requirements.md): QEMU, machine type, CPU,
 * memory, bridges, storage, a guest of the same name or MAC. The
 * destination answers host-facts with them; the source's preflight job
 * (preflight_job.c) gathers its own with the same function. */
#include "ferryd/facts.h"
#include "ferryd/pool.h"
#include "net/l2probe.h"
#include "preflight/preflight.h"
#include "proto/proto.h"

#include <errno.h>
#include <net/if.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* "Key:   123 kB" of /proc/meminfo, in kB; -1 if absent. */
static long long meminfo(const char *text, const char *key)
{
	char k[48];
	const char *p;

	snprintf(k, sizeof(k), "\n%s:", key);
	if (!(p = strstr(text, k)) && strncmp(text, k + 1, strlen(k + 1)))
		return -1;
	p = p ? p + strlen(k) : text + strlen(k + 1);
	return strtoll(p, NULL, 10);
}

static json_t *memory_facts(struct agent *ag, const struct vm *self)
{
	char *text = NULL;
	long long guests = 0;

	if (file_read_all("/proc/meminfo", 1 << 16, &text, NULL) < 0)
		text = xstrdup("");
	for (struct vm *vm = ag->vms; vm; vm = vm->next)
		if (vm != self && vm->state != VM_GONE)
			guests += vm->cfg->memory_mb;
	long long avail = meminfo(text, "MemAvailable"), total = meminfo(text, "MemTotal");
	long long hfree = meminfo(text, "HugePages_Free"), hsize = meminfo(text, "Hugepagesize");
	free(text);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "available_mb", (json_int_t)(avail > 0 ? avail / 1024 : 0),
			 "total_mb", (json_int_t)(total > 0 ? total / 1024 : 0), "limit_mb",
			 (json_int_t)ag->cfg->guest_memory_mb, "guests_mb", (json_int_t)guests, "hugepages_free",
			 (json_int_t)(hfree > 0 ? hfree : 0), "hugepage_kb", (json_int_t)(hsize > 0 ? hsize : 0));
}

/* The host CPU's flags (the first "flags" line of /proc/cpuinfo). */
static json_t *cpu_flags(void)
{
	json_t *a = json_array();
	char *text = NULL;

	if (file_read_all("/proc/cpuinfo", 16 << 20, &text, NULL) < 0)
		return a;
	char *p = strstr(text, "\nflags");
	if (p && (p = strchr(p, ':'))) {
		char *end = strchrnul(p, '\n');
		*end = 0;
		for (char *t = strtok(p + 1, " \t"); t && json_array_size(a) < PF_MAX_FLAGS; t = strtok(NULL, " \t"))
			if (strlen(t) <= 64)
				json_array_append_new(a, json_string(t));
	}
	free(text);
	return a;
}

static json_t *cpu_facts(struct agent *ag, const struct vm_config *cfg, enum vm_accel accel)
{
	const char *model = vm_cpu_model(cfg);
	char limit[1024] = "";
	/* "host" passes this host's CPU through: only KVM can. */
	bool offered = qemu_cpu_offered(ag, model) && !(!strcmp(model, "host") && accel != ACCEL_KVM);

	for (int i = 0; i < ag->cfg->n_cpu_models; i++)
		snprintf(limit + strlen(limit), sizeof(limit) - strlen(limit), "%s%s", i ? " " : "", ag->cfg->cpu_models[i]);
	return json_pack("{s:s, s:b, s:s, s:o}", "model", model, "offered", offered, "limit", limit, "flags",
			 cpu_flags());
}

/* The guest's MACs that another guest here uses. */
static json_t *macs_taken(struct agent *ag, const struct vm_config *cfg, const struct vm *self)
{
	json_t *a = json_array();

	for (struct vm *vm = ag->vms; vm; vm = vm->next) {
		if (vm == self || vm->state == VM_GONE)
			continue;
		for (int i = 0; i < cfg->n_vifs; i++)
			for (int k = 0; k < vm->cfg->n_vifs; k++) {
				char mac[18];
				if (memcmp(cfg->vifs[i].mac, vm->cfg->vifs[k].mac, 6) || json_array_size(a) >= PF_MAX_LIST)
					continue;
				vm_mac_format(cfg->vifs[i].mac, mac);
				json_array_append_new(a, json_pack("{s:s, s:s}", "mac", mac, "vm", vm->cfg->name));
			}
	}
	return a;
}

static json_t *bridge_facts(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (int i = 0; i < cfg->n_vifs; i++) {
		char path[80];
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", cfg->vifs[i].bridge);
		json_array_append_new(a, json_pack("{s:s, s:b}", "name", cfg->vifs[i].bridge, "exists", access(path, F_OK) == 0));
	}
	return a;
}

static json_t *disk_facts(struct agent *ag, const struct vm_config *cfg, const struct vm *self)
{
	json_t *a = json_array();

	for (int i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		struct vm *user = d->target ? vm_image_user(ag, d->target, false) : NULL;
		/* A URL (a libnfs pool) cannot be looked at from here: its pool
		 * resolved, which is what sharing it means. */
		char real[PATH_MAX];
		bool visible = d->shared && d->target &&
			       (strstr(d->target, "://") ||
				(realpath(d->target, real) && agentcfg_path_allowed(ag->cfg, real)));
		const char *cache = d->cache[0] ? d->cache : d->shared ? "none" : "writeback";
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:b}", "vdev", d->vdev, "pool", d->pool,
						   "shared", d->shared, "visible", visible, "used_by",
						   user && user != self ? user->cfg->name : "", "cache", cache, "direct",
						   qemu_cache_direct(d)));
	}
	return a;
}

static long long disk_room(struct agent *ag)
{
	char dir[600];
	struct statvfs fs;

	snprintf(dir, sizeof(dir), "%s/disks", ag->cfg->state_dir);
	if (statvfs(dir, &fs) < 0 && statvfs(ag->cfg->state_dir, &fs) < 0)
		return -1;
	return (long long)fs.f_bavail * (long long)fs.f_frsize;
}

json_t *facts_host(struct agent *ag, const struct vm_config *cfg, const char *machine, const struct vm *self)
{
	enum vm_accel accel = ACCEL_TCG;
	struct ferr kerr = {0};
	enum vm_accel k;
	bool kvm = qemu_choose_accel(ACCEL_KVM, &k, &kerr) == 0;

	/* What QEMU would get here, from the one look at KVM above (it reads
	 * /proc/cpuinfo): "tcg" is TCG, "kvm" and "auto" are KVM where usable. */
	if (self)
		accel = self->accel;
	else if ((cfg->accel != ACCEL_AUTO ? cfg->accel : ag->cfg->accel) != ACCEL_TCG && kvm)
		accel = ACCEL_KVM;
	json_t *qemu = json_pack("{s:i, s:s}", "version", ag->qemu_version, "pc", ag->qemu_pc);
	if (machine && machine[0]) {
		json_object_set_new(qemu, "machine", json_string(machine));
		json_object_set_new(qemu, "machine_ok", json_boolean(qemu_list_has(ag->qemu_machines, machine)));
	}
	struct vm *same = vm_find(ag, cfg->name);
	return json_pack("{s:s, s:i, s:s, s:I, s:o, s:{s:b, s:s}, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:I, s:b}",
			 "host", ag->cfg->host, "protocol", PROTO_VERSION, "version", FERRY_VERSION, "time_us",
			 (json_int_t)time_real_us(), "qemu", qemu, "kvm", "usable", kvm, "why", kvm ? "" : kerr.msg,
			 "accel", vm_accel_name(accel), "cpu", cpu_facts(ag, cfg, accel), "memory", memory_facts(ag, self),
			 "name_taken", same && same != self, "macs_taken", macs_taken(ag, cfg, self), "bridges",
			 bridge_facts(cfg), "disks", disk_facts(ag, cfg, self), "disk_room_bytes", (json_int_t)disk_room(ag),
			 "allow_insecure", ag->cfg->allow_insecure);
}

int facts_l2_socket(struct agent *ag, const char *bridge)
{
	unsigned idx = if_nametoindex(bridge);
	int free_slot = -1;

	for (int i = 0; i < AGENT_MAX_L2SOCKS; i++) {
		if (ag->l2socks[i].fd <= 0) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(ag->l2socks[i].name, bridge))
			continue;
		if (ag->l2socks[i].ifindex == idx && idx)
			return ag->l2socks[i].fd;
		/* The bridge went (or came back as another interface). */
		close(ag->l2socks[i].fd);
		ag->l2socks[i].fd = 0;
		if (free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0 || !idx)
		return -ENOSPC;
	int fd = l2probe_open(bridge);
	if (fd < 0)
		return fd;
	snprintf(ag->l2socks[free_slot].name, sizeof(ag->l2socks[0].name), "%s", bridge);
	ag->l2socks[free_slot].ifindex = idx;
	ag->l2socks[free_slot].fd = fd;
	return fd;
}

void facts_l2_close_all(struct agent *ag)
{
	for (int i = 0; i < AGENT_MAX_L2SOCKS; i++)
		if (ag->l2socks[i].fd > 0) {
			close(ag->l2socks[i].fd);
			ag->l2socks[i].fd = 0;
		}
}

/* host-facts {config, pools, machine, l2: {nonce, bridges}}: this host's
 * facts for the guest, after sending the L2 probe frames the source waits
 * for on its bridges. */
void facts_op_host(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	const char *text = json_string_value(json_object_get(args, "config"));
	struct vm_config *cfg = NULL;
	struct ferr err = {0};

	(void)unused;
	if (vmcfg_parse(text, strlen(text), "<config of the guest to check>", NULL, &cfg, &err) < 0) {
		request_err(r, "%s", err.msg);
		return;
	}
	/* Pool disks: where this host has them, and whether at the source's
	 * place; a disk this host cannot place stays unshared. */
	struct ferr perr = {0};
	pool_resolve_disks(ag, cfg, json_object_get(args, "pools"), &perr);
	json_t *l2 = json_object_get(args, "l2");
	const char *nonce = json_string_value(json_object_get(l2, "nonce"));
	bool hex = nonce && strlen(nonce) == L2PROBE_NONCE_LEN && strspn(nonce, "0123456789abcdef") == L2PROBE_NONCE_LEN;
	/* Frames only out of bridges (a guest's NIC can only be on one),
	 * never out of any interface a request names. */
	for (int i = 0; hex && i < cfg->n_vifs; i++) {
		char path[80];
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", cfg->vifs[i].bridge);
		int fd = access(path, F_OK) == 0 ? facts_l2_socket(ag, cfg->vifs[i].bridge) : -1;
		if (fd >= 0) {
			l2probe_drain(fd, &ag->l2seen);   /* what it queued since, for this host's own probes */
			l2probe_send(fd, cfg->vifs[i].bridge, nonce, 3);
		}
	}
	request_ok(r, facts_host(ag, cfg, json_string_value(json_object_get(args, "machine")), NULL));
	vmcfg_free(cfg);
}

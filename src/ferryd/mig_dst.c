/* mig_dst.c: the destination side of a live migration: a QEMU waiting for
 * the stream (TLS-PSK), optional NBD export for --copy-storage, and the
 * ownership hand-over once the guest runs here. */
#include "ferryd/agent.h"
#include "ferryd/mig.h"
#include "ferryd/tunnel.h"
#include "proto/proto.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct mig_dst {
	struct vm *vm;
	struct agent *ag;
	long client_id, req_id;     /* the source agent's prepare request */
	long fin_client, fin_req;   /* a finish request waiting for RESUME */
	long res_client, res_req;   /* a "mig-resumed" request waiting for RESUME */
	struct mig_opts o;
	char addr[64];
	int64_t resume_us;
	bool resumed, answered;
	bool postcopy;              /* QEMU said postcopy-*: the guest is split between the hosts */
	char created[VM_MAX_DISKS][600];   /* disks we created for --copy-storage */
	int n_created;
	bool nbd_running;           /* --copy-storage: our NBD server is up */
	pid_t tunnel;               /* ferry's TLS relay (tunnel.c); 0: none */
	char tunnel_uri[96];        /* where the source's relay connects */
	char qemu_uri[640];         /* where QEMU listens behind the relay */
};

/* The address QEMU listens on for the stream: this agent's TCP address. */
static int mig_address(struct agent *ag, char *out, size_t n)
{
	for (int i = 0; i < ag->cfg->n_listen; i++) {
		const char *l = ag->cfg->listen[i];
		if (strncmp(l, "tcp:", 4))
			continue;
		const char *colon = strrchr(l, ':');
		snprintf(out, n, "%.*s", (int)(colon - l - 4), l + 4);
		return 0;
	}
	return -ENOENT;
}

/* Where to listen for client_id's stream: the address it reached us on
 * (never every address), else this agent's configured TCP address. */
static int listen_addr(struct agent *ag, long client_id, char *out, size_t n)
{
	if (server_client_local_addr(ag, client_id, out, n) == 0)
		return 0;
	return mig_address(ag, out, n);
}

/* A free TCP port on addr (the kernel picks it; QEMU binds it right after). */
static int free_port(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, port = -1;

	if (sock_addr_parse(addr, 0, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		port = sock_addr_port(&ss);
	if (fd >= 0)
		close(fd);
	return port;
}

/* "tcp:ADDR:PORT", an IPv6 address in brackets. */
static void tcp_uri(char *out, size_t n, const char *addr, int port)
{
	snprintf(out, n, strchr(addr, ':') ? "tcp:[%s]:%d" : "tcp:%s:%d", addr, port);
}

/* --copy-storage: the NBD export lives only as long as it is needed. Once
 * the guest runs here the source has let go of it (it completes its mirror
 * before the switchover); on a failure the whole QEMU goes. */
static void on_nbd_stopped(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)ret;
	(void)opaque;
	if (err)
		log_warn("cannot stop the nbd export", "vm=%s error=\"%s\"", vm->cfg->name, err);
}

static void nbd_stop(struct mig_dst *d)
{
	if (!d->nbd_running || !d->vm)
		return;
	d->nbd_running = false;
	log_info("nbd export stopped", "vm=%s", d->vm->cfg->name);
	vm_qmp(d->vm, "nbd-server-stop", NULL, on_nbd_stopped, NULL);
}

static void dst_free(struct mig_dst *d)
{
	nbd_stop(d);
	tunnel_stop(d->tunnel);
	if (d->vm)
		d->vm->dst = NULL;
	free(d);
}

static void answer_prepare(struct mig_dst *d, json_t *reply)
{
	if (d->answered) {
		json_decref(reply);
		return;
	}
	d->answered = true;
	server_reply(d->ag, d->client_id, reply);
}

static void remove_created(struct mig_dst *d)
{
	for (int i = 0; i < d->n_created; i++)
		unlink(d->created[i]);
	d->n_created = 0;
}

/* The incoming migrations whose QEMU ended before the guest ever ran here:
 * remembered (the last AGENT_MAX_UNRESUMED) so that a post-copy source learns
 * it even when it asks later; forgotten when a new one of that name begins. */
static void forget_unresumed(struct agent *ag, const char *name)
{
	for (int i = 0; i < AGENT_MAX_UNRESUMED; i++)
		if (!strcmp(ag->ended_unresumed[i], name))
			ag->ended_unresumed[i][0] = 0;
}

static void remember_unresumed(struct agent *ag, const char *name)
{
	forget_unresumed(ag, name);
	snprintf(ag->ended_unresumed[ag->next_ended], sizeof(ag->ended_unresumed[0]), "%s", name);
	ag->next_ended = (ag->next_ended + 1) % AGENT_MAX_UNRESUMED;
}

static bool ended_unresumed(struct agent *ag, const char *name)
{
	for (int i = 0; name && i < AGENT_MAX_UNRESUMED; i++)
		if (!strcmp(ag->ended_unresumed[i], name))
			return true;
	return false;
}

/* The answer to "mig-resumed" when the guest never ran here and never will:
 * its source still holds every page and may resume it. */
static json_t *never_resumed(long req_id)
{
	return proto_reply_ok(req_id, json_pack("{s:b}", "ended", 1));
}

/* Called when the VM is gone while still a destination. */
static void on_dst_vm_gone(struct vm *vm, const char *err, void *opaque)
{
	struct mig_dst *d = opaque;

	(void)err;
	if (d->vm != vm)
		return;
	d->vm = NULL;
	if (!d->resumed) {
		log_warn("incoming QEMU ended before the guest resumed here", "vm=%s", vm->cfg->name);
		remember_unresumed(d->ag, vm->cfg->name);
	}
	answer_prepare(d, proto_reply_err(d->req_id, "the destination QEMU on %s ended", d->ag->cfg->host));
	if (d->fin_client)
		server_reply(d->ag, d->fin_client, proto_reply_err(d->fin_req, "the destination QEMU on %s ended", d->ag->cfg->host));
	if (d->res_client)
		server_reply(d->ag, d->res_client, never_resumed(d->res_req));
	if (!d->resumed)
		remove_created(d);
	tunnel_stop(d->tunnel);
	free(d);
}

struct prep_ctx {
	struct mig_dst *d;
	char uri[128];
	int nbd_port;
};

static void on_listening(struct vm *vm, const char *err, void *opaque)
{
	struct prep_ctx *c = opaque;
	struct mig_dst *d = c->d;

	if (err || !vm->dst) {
		log_error("migration prepare failed", "vm=%s error=\"%s\"", vm->cfg->name, err ? err : "cancelled");
		answer_prepare(d, proto_reply_err(d->req_id, "host %s cannot receive %s: %s", d->ag->cfg->host,
						  vm->cfg->name, err ? err : "cancelled"));
		free(c);
		vm_kill(vm);
		return;
	}
	json_t *res = json_pack("{s:s, s:s}", "uri", c->uri, "host", d->ag->cfg->host);
	if (c->nbd_port > 0)
		json_object_set_new(res, "nbd", json_pack("{s:s, s:i}", "host", d->addr, "port", c->nbd_port));
	log_info("migration destination ready", "vm=%s uri=%s", vm->cfg->name, c->uri);
	answer_prepare(d, proto_reply_ok(d->req_id, res));
	free(c);
}

static int write_psk_dir(struct agent *ag, const char *dir)
{
	char path[700], line[128];
	int n = snprintf(line, sizeof(line), "%s:", TLS_PSK_IDENTITY);

	for (int i = 0; i < TLS_KEY_BYTES; i++)
		n += snprintf(line + n, sizeof(line) - n, "%02x", ag->key.bytes[i]);
	line[n++] = '\n';
	mkdir_p(dir, 0700);
	snprintf(path, sizeof(path), "%s/keys.psk", dir);
	int r = file_write_atomic(path, line, n, 0600);
	/* Without dh-params.pem a QEMU TLS server generates DH parameters
	 * itself: ~0.5 s of every prepare here. The RFC 7919 group instead. */
	gnutls_dh_params_t dh;
	gnutls_datum_t pem = { NULL, 0 };
	if (r == 0 && gnutls_dh_params_init(&dh) == 0) {
		if (gnutls_dh_params_import_raw2(dh, &gnutls_ffdhe_2048_group_prime, &gnutls_ffdhe_2048_group_generator,
						 gnutls_ffdhe_2048_key_bits) == 0 &&
		    gnutls_dh_params_export2_pkcs3(dh, GNUTLS_X509_FMT_PEM, &pem) == 0) {
			snprintf(path, sizeof(path), "%s/dh-params.pem", dir);
			r = file_write_atomic(path, pem.data, pem.size, 0600);
			gnutls_free(pem.data);
		}
		gnutls_dh_params_deinit(dh);
	}
	return r;
}

json_t *mig_any_tls_object(struct agent *ag, const char *dir, bool server);
json_t *mig_any_tls_object(struct agent *ag, const char *dir, bool server)
{
	write_psk_dir(ag, dir);
	return qmp_cmd_tls_creds_psk(dir, server, TLS_PSK_IDENTITY);
}

static void on_started(struct vm *vm, const char *err, void *opaque)
{
	struct mig_dst *d = opaque;
	char dir[700];

	if (err) {
		answer_prepare(d, proto_reply_err(d->req_id, "%s", err));
		return;   /* the VM is on its way out; on_dst_vm_gone frees d */
	}
	struct prep_ctx *c = xcalloc(1, sizeof(*c));
	c->d = d;
	bool tls = !d->o.insecure;
	if (mig_uses_tunnel(&d->o)) {
		/* QEMU listens on a Unix socket; the relay takes the TLS side. */
		struct ferr terr = {0};
		int port = 0;
		snprintf(d->qemu_uri, sizeof(d->qemu_uri), "unix:%s/mig-in.sock", vm->dir);
		char from[64] = "";
		server_client_peer_addr(d->ag, d->client_id, from, sizeof(from));
		d->tunnel = tunnel_in_start(d->addr, from, &port, d->qemu_uri + 5, &d->ag->key, &terr);
		if (d->tunnel < 0) {
			d->tunnel = 0;
			answer_prepare(d, proto_reply_err(d->req_id, "host %s cannot receive: %s", d->ag->cfg->host, terr.msg));
			free(c);
			vm_kill(vm);
			return;
		}
		tcp_uri(d->tunnel_uri, sizeof(d->tunnel_uri), d->addr, port);
		snprintf(c->uri, sizeof(c->uri), "%s", d->tunnel_uri);
	} else {
		tcp_uri(c->uri, sizeof(c->uri), d->addr, free_port(d->addr));
		snprintf(d->qemu_uri, sizeof(d->qemu_uri), "%s", c->uri);
	}
	json_t *cmds = json_array();
	if (mig_needs_qemu_tls_object(&d->o)) {
		snprintf(dir, sizeof(dir), "%s/tls", vm->dir);
		json_array_append_new(cmds, mig_any_tls_object(d->ag, dir, true));
	}
	json_array_append_new(cmds, mig_any_caps(&d->o, false));
	json_array_append_new(cmds, mig_any_params(&d->o, mig_uses_qemu_tls(&d->o)));
	if (d->o.copy_storage) {
		c->nbd_port = free_port(d->addr);
		json_array_append_new(cmds, qmp_cmd_nbd_server_start(d->addr, c->nbd_port, tls ? QMP_TLS_CREDS_ID : NULL));
		d->nbd_running = true;
		for (int i = 0; i < vm->cfg->n_disks; i++)
			if (!vm->cfg->disks[i].shared)
				json_array_append_new(cmds, qmp_cmd_nbd_server_add(vm->cfg->disks[i].vdev, true));
	}
	json_array_append_new(cmds, qmp_cmd_migrate_incoming(d->qemu_uri));
	vm_qmp_batch(vm, cmds, on_listening, c);
}

/* The guest's config sent by the source (args "config"); NULL once the
 * request has been answered with why it is unusable. */
static struct vm_config *config_arg(struct agent *ag, json_t *args, const char *op, long client_id, long req_id)
{
	const char *text = json_string_value(json_object_get(args, "config"));
	struct vm_config *cfg;
	struct ferr err = {0};

	if (!text) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s needs a config", op));
		return NULL;
	}
	if (vmcfg_parse(text, strlen(text), "<migrating config>", NULL, &cfg, &err) < 0) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s", err.msg));
		return NULL;
	}
	return cfg;
}

/* The source's RAM and disk sizes against what this config and host allow:
 * QEMU gets exactly the source's RAM (qemu_ram_kb may add a few KiB to the
 * config's), and blank disks must fit the state folder's free space. */
static int check_sizes(struct agent *ag, const struct vm_config *cfg, json_t *args, char *msg, size_t n)
{
	long long ram = json_integer_value(json_object_get(args, "ram_bytes"));
	long long want = (long long)cfg->memory_mb << 20, total = 0;
	json_t *sizes = json_object_get(args, "disk_sizes"), *v;
	const char *k;
	struct statvfs fs;

	if (ram && (ram < want || ram > want + (1 << 20))) {
		snprintf(msg, n, "the source's RAM size (%lld bytes) does not match the config's %d MiB", ram, cfg->memory_mb);
		return -EINVAL;
	}
	json_object_foreach(sizes, k, v)
		total += json_integer_value(v);
	if (total && statvfs(ag->cfg->state_dir, &fs) == 0 && total > (long long)fs.f_bavail * (long long)fs.f_frsize) {
		snprintf(msg, n, "the disks to copy (%lld bytes) do not fit the free space of %s (%lld bytes)", total,
			 ag->cfg->state_dir, (long long)fs.f_bavail * (long long)fs.f_frsize);
		return -ENOSPC;
	}
	return 0;
}

/* A prepare creating its blank disks (qemu-img, out of the event loop),
 * one after another, before its QEMU starts. */
struct mig_prep {
	struct mig_dst *d;
	struct vm_config *cfg;
	json_t *sizes;
	long ram_kb;
	char src_host[VM_NAME_MAX + 1];
	int disk;                   /* the one being created; -1: none yet */
	char path[600];
	struct mig_prep *next;
};

static struct mig_prep *prep_find(struct agent *ag, const char *name)
{
	for (struct mig_prep *p = ag->preps; p; p = p->next)
		if (!strcmp(p->cfg->name, name))
			return p;
	return NULL;
}

static void prep_end(struct agent *ag, struct mig_prep *p)
{
	for (struct mig_prep **pp = &ag->preps; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	json_decref(p->sizes);
	vmcfg_free(p->cfg);
	free(p);
}

static void prep_fail(struct agent *ag, struct mig_prep *p, const char *msg)
{
	server_reply(ag, p->d->client_id, proto_reply_err(p->d->req_id, "%s", msg));
	remove_created(p->d);
	free(p->d);
	prep_end(ag, p);
}

/* Called with the exit status of the last qemu-img (0 for the first call). */
static void prep_next_disk(struct agent *ag, int status, void *opaque)
{
	struct mig_prep *p = opaque;
	struct mig_dst *d = p->d;
	struct vm_config *cfg = p->cfg;
	struct ferr err = {0};
	char msg[900];

	if (p->disk >= 0) {
		struct vm_disk *dk = &cfg->disks[p->disk];
		if (status != 0) {
			snprintf(msg, sizeof(msg), "cannot create %s on host %s for disk %s (qemu-img exit %d)", p->path,
				 ag->cfg->host, dk->vdev, status);
			prep_fail(ag, p, msg);
			return;
		}
		snprintf(d->created[d->n_created++], sizeof(d->created[0]), "%s", p->path);
		free(dk->target);
		dk->target = xstrdup(p->path);
	}
	if (server_client_idle_us(ag, d->client_id) < 0) {
		prep_fail(ag, p, "the source went away");
		return;
	}
	while (++p->disk < cfg->n_disks && cfg->disks[p->disk].shared)
		;
	if (p->disk < cfg->n_disks) {
		struct vm_disk *dk = &cfg->disks[p->disk];
		json_int_t size = json_integer_value(json_object_get(p->sizes, dk->vdev));
		char sz[32];
		if (size <= 0) {
			snprintf(msg, sizeof(msg), "the source gave no size for disk %s", dk->vdev);
			prep_fail(ag, p, msg);
			return;
		}
		snprintf(p->path, sizeof(p->path), "%s/disks", ag->cfg->state_dir);
		mkdir_p(p->path, 0700);
		snprintf(p->path, sizeof(p->path), "%s/disks/%s-%s.%s", ag->cfg->state_dir, cfg->name, dk->vdev, dk->format);
		snprintf(sz, sizeof(sz), "%lld", (long long)size);
		char *argv[] = { "qemu-img", "create", "-q", "-f", dk->format, p->path, sz, NULL };
		if (child_spawn(ag, argv, prep_next_disk, p) < 0) {
			snprintf(msg, sizeof(msg), "cannot run qemu-img on host %s", ag->cfg->host);
			prep_fail(ag, p, msg);
		}
		return;
	}
	/* Every disk is there: the incoming QEMU. */
	struct vm_config *c = p->cfg;
	p->cfg = NULL;
	struct vm *vm = vm_create_incoming(ag, c, p->ram_kb, on_started, d, &err);
	if (!vm) {
		server_reply(ag, d->client_id, proto_reply_err(d->req_id, "%s", err.msg));
		remove_created(d);
		free(d);
		prep_end(ag, p);
		return;
	}
	d->vm = vm;
	vm->dst = d;
	vm_wait_gone(vm, on_dst_vm_gone, d);
	log_info("migration incoming", "vm=%s from=%s", vm->cfg->name, p->src_host);
	prep_end(ag, p);
}

void mig_dst_prepare(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm_config *cfg = config_arg(ag, args, "mig-prepare", client_id, req_id);
	char msg[256];
	struct mig_dst *d;

	if (!cfg)
		return;
	d = xcalloc(1, sizeof(*d));
	d->ag = ag;
	d->client_id = client_id;
	d->req_id = req_id;
	const char *why = NULL;
	if (mig_opts_from_json(json_object_get(args, "opts"), &d->o, msg, sizeof(msg)) < 0)
		why = msg;
	else if (d->o.insecure && !ag->cfg->allow_insecure)
		why = "this host does not accept --insecure moves (allow_insecure = 0 in its agent config): anyone on the "
		      "network could read or inject a plaintext stream";
	else if (check_sizes(ag, cfg, args, msg, sizeof(msg)) < 0)
		why = msg;
	else if (listen_addr(ag, client_id, d->addr, sizeof(d->addr)) < 0)
		why = "this agent has no TCP address to receive on";
	if (why) {
		server_reply(ag, client_id, proto_reply_err(req_id, "host %s refused %s: %s", ag->cfg->host, cfg->name, why));
		vmcfg_free(cfg);
		free(d);
		return;
	}
	if (vm_find(ag, cfg->name)) {
		server_reply(ag, client_id, proto_reply_err(req_id, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host));
		vmcfg_free(cfg);
		free(d);
		return;
	}
	forget_unresumed(ag, cfg->name);
	/* Disks not on shared storage get a blank twin here, filled over NBD. */
	for (int i = 0; i < cfg->n_disks; i++) {
		if (!cfg->disks[i].shared && !d->o.copy_storage) {
			server_reply(ag, client_id, proto_reply_err(req_id, "disk %s of %s is not on shared storage and no storage copy was asked for",
								    cfg->disks[i].vdev, cfg->name));
			vmcfg_free(cfg);
			free(d);
			return;
		}
	}
	if (prep_find(ag, cfg->name)) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is already being prepared on host %s", cfg->name, ag->cfg->host));
		vmcfg_free(cfg);
		free(d);
		return;
	}
	struct mig_prep *p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->cfg = cfg;
	p->sizes = json_incref(json_object_get(args, "disk_sizes"));
	p->ram_kb = json_integer_value(json_object_get(args, "ram_bytes")) / 1024;
	snprintf(p->src_host, sizeof(p->src_host), "%s", json_string_value(json_object_get(args, "src_host")));
	p->next = ag->preps;
	ag->preps = p;
	p->disk = -1;
	prep_next_disk(ag, 0, p);
}

void mig_dst_check(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm_config *cfg = config_arg(ag, args, "mig-check", client_id, req_id);
	struct ferr err = {0};

	if (!cfg)
		return;
	vm_can_start(ag, cfg, &err);
	for (int i = 0; !err.msg[0] && i < cfg->n_disks; i++)
		if (!cfg->disks[i].shared)
			ferr_set(&err, "disk %s of %s is not on shared storage", cfg->disks[i].vdev, cfg->name);
	server_reply(ag, client_id, err.msg[0] ? proto_reply_err(req_id, "%s", err.msg) : proto_reply_ok(req_id, NULL));
	vmcfg_free(cfg);
}

static struct vm *dst_vm(struct agent *ag, json_t *args, long client_id, long req_id)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct vm *vm = name ? vm_find(ag, name) : NULL;

	if (!vm) {
		server_reply(ag, client_id, proto_reply_err(req_id, "no VM named %s on host %s", name ?: "?", ag->cfg->host));
		return NULL;
	}
	return vm;
}

/* The incoming migration of the VM named in args; else answers why not. */
static struct mig_dst *dst_of(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm *vm = dst_vm(ag, args, client_id, req_id);

	if (vm && !vm->dst)
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is not migrating to host %s", vm->cfg->name, ag->cfg->host));
	return vm ? vm->dst : NULL;
}

static void answer_resumed(struct mig_dst *d)
{
	if (!d->res_client)
		return;
	server_reply(d->ag, d->res_client, proto_reply_ok(d->res_req, json_pack("{s:I}", "resume_us", (json_int_t)d->resume_us)));
	d->res_client = 0;
}

static void answer_finish(struct mig_dst *d)
{
	answer_resumed(d);
	struct vm *vm = d->vm;

	server_reply(d->ag, d->fin_client, proto_reply_ok(d->fin_req, json_pack("{s:s, s:I, s:I}", "host", d->ag->cfg->host,
						"resume_us", (json_int_t)d->resume_us, "pid", (json_int_t)vm->pid)));
	d->fin_client = 0;
	/* The guest is ours now: an ordinary VM of this agent. */
	log_info("migration finished", "vm=%s resume_us=%lld", vm->cfg->name, (long long)d->resume_us);
	vm_unwait(vm, d);
	dst_free(d);
}

static void on_cont_done(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)vm;
	(void)ret;
	(void)opaque;
	if (err)
		log_warn("cont after migration failed", "error=\"%s\"", err);
}

static void on_dst_status(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	(void)opaque;
	if (err || !vm->dst)
		return;
	const char *st = json_string_value(json_object_get(ret, "status"));
	/* Completed but held paused (e.g. after a storage copy): run it. */
	if (st && (!strcmp(st, "paused") || !strcmp(st, "postmigrate")))
		vm_qmp(vm, "cont", NULL, on_cont_done, NULL);
}

void mig_dst_finish(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct mig_dst *d = dst_of(ag, args, client_id, req_id);

	if (!d)
		return;
	d->fin_client = client_id;
	d->fin_req = req_id;
	if (d->resumed)
		answer_finish(d);
	else
		vm_qmp(d->vm, "query-status", NULL, on_dst_status, NULL);
}

/* The source is about to switch to post-copy: the incoming VM must be kept
 * from now on, whatever the link does. */
void mig_dst_postcopy(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct mig_dst *d = dst_of(ag, args, client_id, req_id);

	if (!d)
		return;
	if (d->vm->state != VM_INCOMING) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s already runs on host %s", d->vm->cfg->name, ag->cfg->host));
		return;
	}
	d->postcopy = true;
	server_reply(ag, client_id, proto_reply_ok(req_id, NULL));
}

/* Post-copy: answered once the guest has resumed here. Until then QEMU (7.2)
 * cannot pause the incoming side: the source must not break the stream. */
void mig_dst_resumed(struct agent *ag, json_t *args, long client_id, long req_id)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct mig_dst *d;

	if (!vm_find(ag, name ?: "") && ended_unresumed(ag, name)) {
		server_reply(ag, client_id, never_resumed(req_id));
		return;
	}
	d = dst_of(ag, args, client_id, req_id);
	if (!d)
		return;
	if (d->res_client)
		server_reply(ag, d->res_client, proto_reply_err(d->res_req, "superseded by a newer request"));
	d->res_client = client_id;
	d->res_req = req_id;
	if (d->resumed)
		answer_resumed(d);
}

void mig_dst_on_event(struct vm *vm, const char *event, json_t *data, int64_t qemu_us)
{
	struct mig_dst *d = vm->dst;

	if (!strcmp(event, "MIGRATION")) {
		const char *st = json_string_value(json_object_get(data, "status"));
		if (st && !strncmp(st, "postcopy", 8))
			d->postcopy = true;
	}
	if (!strcmp(event, "RESUME") && !d->resumed) {
		d->resumed = true;
		nbd_stop(d);
		d->resume_us = qemu_us;
		answer_resumed(d);
		if (d->fin_client)
			answer_finish(d);
	}
}

static void on_abort_gone(struct vm *vm, const char *err, void *opaque)
{
	struct req_ref *r = opaque;

	(void)vm;
	(void)err;
	server_reply(r->ag, r->client_id, proto_reply_ok(r->req_id, json_pack("{s:b}", "running", 0)));
	free(r);
}

void mig_dst_abort(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm *vm = dst_vm(ag, args, client_id, req_id);

	if (!vm)
		return;
	if (!vm->dst) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is not migrating to host %s", vm->cfg->name, ag->cfg->host));
		return;
	}
	if (vm->dst->resumed) {
		/* Too late: the guest runs here; the source must not resume its copy. */
		log_warn("abort refused: the guest already runs here", "vm=%s", vm->cfg->name);
		server_reply(ag, client_id, proto_reply_ok(req_id, json_pack("{s:b}", "running", 1)));
		return;
	}
	log_info("migration aborted", "vm=%s", vm->cfg->name);
	vm_wait_gone(vm, on_abort_gone, req_ref_new(ag, client_id, req_id));
	vm_kill(vm);
}

static void on_paused(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct req_ref *r = opaque;

	(void)vm;
	(void)ret;
	if (r) {
		if (err)
			server_reply(r->ag, r->client_id, proto_reply_err(r->req_id, "%s", err));
		else
			server_reply(r->ag, r->client_id, proto_reply_ok(r->req_id, NULL));
		free(r);
	}
}

struct recover_ctx {
	struct agent *ag;
	long client_id, req_id;
	char uri[128];
};

static void on_recover(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct recover_ctx *c = opaque;

	(void)vm;
	(void)ret;
	if (err)
		server_reply(c->ag, c->client_id, proto_reply_err(c->req_id, "%s", err));
	else
		server_reply(c->ag, c->client_id, proto_reply_ok(c->req_id, json_pack("{s:s}", "uri", c->uri)));
	free(c);
}

void mig_dst_recover(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm *vm = dst_vm(ag, args, client_id, req_id);
	struct recover_ctx *c;
	char addr[64];

	if (!vm)
		return;
	if (!vm->dst || listen_addr(ag, client_id, addr, sizeof(addr)) < 0) {
		server_reply(ag, client_id, proto_reply_err(req_id, "%s is not migrating to host %s", vm->cfg->name, ag->cfg->host));
		return;
	}
	if (!vm->dst->resumed) {
		/* QEMU 7.2 cannot pause an incoming post-copy before the guest
		 * runs here (it is still loading the device state): pausing
		 * would end it. The stream must go on when the link returns. */
		server_reply(ag, client_id, proto_reply_err(req_id, "%s has not resumed on host %s yet: nothing to recover",
							    vm->cfg->name, ag->cfg->host));
		return;
	}
	vm->dst->client_id = client_id;   /* the source's new connection */
	c = xcalloc(1, sizeof(*c));
	c->ag = ag;
	c->client_id = client_id;
	c->req_id = req_id;
	/* QEMU listens again (behind the same relay when there is one). */
	if (vm->dst->tunnel > 0) {
		snprintf(c->uri, sizeof(c->uri), "%s", vm->dst->tunnel_uri);
	} else {
		tcp_uri(c->uri, sizeof(c->uri), addr, free_port(addr));
		snprintf(vm->dst->qemu_uri, sizeof(vm->dst->qemu_uri), "%s", c->uri);
	}
	/* If our side has not noticed the broken link yet, make it: recovery
	 * starts from postcopy-paused on both sides (the source retries). */
	vm_qmp_oob(vm, "migrate-pause", NULL, on_paused, NULL);
	vm_qmp_oob(vm, "migrate-recover", json_pack("{s:s}", "uri", vm->dst->qemu_uri), on_recover, c);
}

void mig_dst_pause(struct agent *ag, json_t *args, long client_id, long req_id)
{
	struct vm *vm = dst_vm(ag, args, client_id, req_id);

	if (!vm)
		return;
	vm_qmp_oob(vm, "migrate-pause", NULL, on_paused, req_ref_new(ag, client_id, req_id));
}

void mig_dst_on_client_gone(struct agent *ag, long client_id)
{
	for (struct vm *vm = ag->vms; vm; vm = vm->next) {
		struct mig_dst *d = vm->dst;
		if (!d || d->client_id != client_id)
			continue;
		if (d->postcopy && !d->resumed) {
			/* Post-copy started: the source has stopped for good and part
			 * of the guest may be only here. Never drop it: keep it for
			 * recovery (the source retries), or for a human. */
			log_warn("source agent gone during post-copy, keeping the incoming VM for recovery", "vm=%s",
				 vm->cfg->name);
		} else if (!d->resumed && vm->state == VM_INCOMING) {
			/* The source went away before the guest ran here: it is still
			 * the source's; drop this half-made copy. */
			log_warn("source agent gone, dropping incoming VM", "vm=%s", vm->cfg->name);
			vm_kill(vm);
		}
	}
}

/* Post-copy: if the source agent stays silent, pause our side so that a
 * broken link becomes a recoverable postcopy-paused state. */
void mig_dst_cron(struct agent *ag)
{
	for (struct vm *vm = ag->vms; vm; vm = vm->next) {
		struct mig_dst *d = vm->dst;
		if (!d)
			continue;
		long long idle = server_client_idle_us(ag, d->client_id);
		if (!d->resumed && !d->postcopy && vm->state == VM_INCOMING && d->answered && idle > 10000000) {
			/* The source has been silent for 10 s (it pings every second),
			 * the guest never ran here and post-copy never began (the
			 * source still holds all of it): drop this copy. Once post-copy
			 * began, a silent source is a broken link, and TCP carries the
			 * rest of the stream when it returns. */
			log_warn("source agent silent, dropping incoming VM", "vm=%s", vm->cfg->name);
			d->client_id = -1;
			vm_kill(vm);
			continue;
		}
		if (!d->resumed || d->o.postcopy == POSTCOPY_OFF || d->client_id < 0)
			continue;
		if (idle > 3000000 || idle < 0) {
			log_warn("source agent silent during post-copy, pausing", "vm=%s idle_ms=%lld", vm->cfg->name, idle / 1000);
			vm_qmp_oob(vm, "migrate-pause", NULL, on_paused, NULL);
			d->client_id = -1;   /* once; a recover request re-links it */
		}
	}
}

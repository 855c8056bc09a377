/* mig_dst_prepare.c: mig-prepare (a QEMU waiting for the stream: blank disks
 * for --copy-storage first, then the incoming QEMU, its TLS credentials, its
 * NBD export and listener, or ferry's relay in front of it) and mig-check
 * (--cold reboot: could this host boot the guest?). */
#include "ferryd/mig_dst.h"
#include "ferryd/pool.h"
#include "ferryd/request.h"
#include "ferryd/tunnel.h"
#include "proto/proto.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

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
int dst_listen_addr(struct agent *ag, long client_id, char *out, size_t n)
{
	if (server_client_local_addr(ag, client_id, out, n) == 0)
		return 0;
	return mig_address(ag, out, n);
}

void dst_disk_path(struct agent *ag, const struct vm_config *cfg, const struct vm_disk *dk, char *out, size_t n)
{
	snprintf(out, n, "%s/disks", ag->cfg->state_dir);
	mkdir_p(out, 0700);
	snprintf(out, n, "%s/disks/%s-%s.%s", ag->cfg->state_dir, cfg->name, dk->vdev, dk->format);
}

/* A free TCP port on addr (the kernel picks it; QEMU binds it right after). */
int dst_free_port(const char *addr)
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
void dst_tcp_uri(char *out, size_t n, const char *addr, int port)
{
	snprintf(out, n, strchr(addr, ':') ? "tcp:[%s]:%d" : "tcp:%s:%d", addr, port);
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

json_t *mig_any_tls_object(struct agent *ag, const char *dir, bool server)
{
	write_psk_dir(ag, dir);
	return qmp_cmd_tls_creds_psk(dir, server, TLS_PSK_IDENTITY);
}

struct listening {
	struct mig_dst *d;
	char uri[128];
	int nbd_port;
};

static void on_listening(struct vm *vm, const char *err, void *opaque)
{
	struct listening *c = opaque;
	struct mig_dst *d = c->d;
	char msg[900];

	if (dst_release(d)) {
		free(c);
		return;
	}
	if (err) {
		log_error("migration prepare failed", "vm=%s error=\"%s\"", vm->cfg->name, err ? err : "cancelled");
		snprintf(msg, sizeof(msg), "host %s cannot receive %s: %s", d->ag->cfg->host, vm->cfg->name,
			 err ? err : "cancelled");
		dst_answer_prepare_err(d, msg);
		free(c);
		vm_kill(vm);
		return;
	}
	json_t *res = json_pack("{s:s, s:s}", "uri", c->uri, "host", d->ag->cfg->host);
	if (c->nbd_port > 0)
		json_object_set_new(res, "nbd", json_pack("{s:s, s:i}", "host", d->addr, "port", c->nbd_port));
	log_info("migration destination ready", "vm=%s uri=%s", vm->cfg->name, c->uri);
	if (dst_enter(d, DST_LISTENING))
		dst_answer_prepare_ok(d, res);
	else
		json_decref(res);
	free(c);
}

/* Where the stream comes in: a Unix socket behind ferry's relay (which takes
 * the TLS side, and only from the source agent's address), or a TCP port. */
static int stream_entry(struct mig_dst *d, struct vm *vm, struct listening *c, struct ferr *err)
{
	if (!mig_uses_tunnel(&d->o)) {
		dst_tcp_uri(c->uri, sizeof(c->uri), d->addr, dst_free_port(d->addr));
		snprintf(d->qemu_uri, sizeof(d->qemu_uri), "%s", c->uri);
		return 0;
	}
	int port = 0;
	char from[64] = "";
	snprintf(d->qemu_uri, sizeof(d->qemu_uri), "unix:%s/mig-in.sock", vm->dir);
	server_client_peer_addr(d->ag, d->src_client, from, sizeof(from));
	d->tunnel = tunnel_in_start(d->addr, from, &port, d->qemu_uri + 5, &d->ag->key, err);
	if (d->tunnel < 0) {
		d->tunnel = 0;
		return -EIO;
	}
	dst_tcp_uri(d->tunnel_uri, sizeof(d->tunnel_uri), d->addr, port);
	snprintf(c->uri, sizeof(c->uri), "%s", d->tunnel_uri);
	return 0;
}

static void on_started(struct vm *vm, const char *err, void *opaque)
{
	struct mig_dst *d = opaque;
	struct ferr terr = {0};
	char dir[700], msg[1200];

	if (dst_release(d))
		return;   /* its QEMU is gone already (on_gone answered) */
	if (err) {
		dst_answer_prepare_err(d, err);
		return;   /* the VM is on its way out; on_gone frees d */
	}
	struct listening *c = xcalloc(1, sizeof(*c));
	c->d = d;
	if (stream_entry(d, vm, c, &terr) < 0) {
		snprintf(msg, sizeof(msg), "host %s cannot receive: %s", d->ag->cfg->host, terr.msg);
		dst_answer_prepare_err(d, msg);
		free(c);
		vm_kill(vm);
		return;
	}
	json_t *cmds = json_array();
	if (mig_needs_qemu_tls_object(&d->o)) {
		snprintf(dir, sizeof(dir), "%s/tls", vm->dir);
		json_array_append_new(cmds, mig_any_tls_object(d->ag, dir, true));
	}
	json_array_append_new(cmds, mig_any_caps(&d->o, false));
	json_array_append_new(cmds, mig_any_params(&d->o, mig_uses_qemu_tls(&d->o)));
	if (d->o.copy_storage) {
		c->nbd_port = dst_free_port(d->addr);
		json_array_append_new(cmds, qmp_cmd_nbd_server_start(d->addr, c->nbd_port,
								      d->o.insecure ? NULL : QMP_TLS_CREDS_ID));
		d->nbd_running = true;
		for (int i = 0; i < vm->cfg->n_disks; i++)
			if (!vm->cfg->disks[i].shared)
				json_array_append_new(cmds, qmp_cmd_nbd_server_add(vm->cfg->disks[i].vdev, true));
	}
	json_array_append_new(cmds, qmp_cmd_migrate_incoming(d->qemu_uri));
	d->callbacks++;
	vm_qmp_batch(vm, cmds, on_listening, c);
}

/* The guest's config sent by the source (args "config"); NULL once r has
 * been answered with why it is unusable. */
static struct vm_config *config_arg(struct request *r, json_t *args)
{
	const char *text = json_string_value(json_object_get(args, "config"));
	struct vm_config *cfg;
	struct ferr err = {0};

	if (!text) {
		request_err(r, "the request needs a config");
		return NULL;
	}
	if (vmcfg_parse(text, strlen(text), "<migrating config>", NULL, &cfg, &err) < 0) {
		request_err(r, "%s", err.msg);
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
	dst_answer_prepare_err(p->d, msg);
	dst_remove_created(p->d);
	dst_free(p->d);
	prep_end(ag, p);
}

/* Every disk is there: the incoming QEMU. */
static void start_incoming(struct agent *ag, struct mig_prep *p)
{
	struct mig_dst *d = p->d;
	struct vm_config *c = p->cfg;
	struct ferr err = {0};

	p->cfg = NULL;
	d->callbacks++;
	struct vm *vm = vm_create_incoming(ag, c, p->ram_kb, on_started, d, &err);
	if (!vm) {
		d->callbacks--;
		prep_fail(ag, p, err.msg);
		return;
	}
	dst_attach(d, vm);
	log_info("migration incoming", "vm=%s from=%s", vm->cfg->name, p->src_host);
	prep_end(ag, p);
}

/* Called with the exit status of the last qemu-img (0 for the first call). */
static void prep_next_disk(struct agent *ag, int status, void *opaque)
{
	struct mig_prep *p = opaque;
	struct mig_dst *d = p->d;
	struct vm_config *cfg = p->cfg;
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
	if (server_client_idle_us(ag, d->src_client) < 0) {
		prep_fail(ag, p, "the source went away");
		return;
	}
	while (++p->disk < cfg->n_disks) {
		struct vm_disk *dk = &cfg->disks[p->disk];
		if (dk->shared)
			continue;
		if (!d->o.move_disks)
			break;   /* --copy-storage: a blank one, below */
		/* A cold move: the disk mover put it here already. */
		dst_disk_path(ag, cfg, dk, p->path, sizeof(p->path));
		if (access(p->path, F_OK) < 0) {
			snprintf(msg, sizeof(msg), "disk %s of %s did not arrive on host %s (is it on a pool the source "
				 "shares with this host, but not at the same place?)", dk->vdev, cfg->name, ag->cfg->host);
			prep_fail(ag, p, msg);
			return;
		}
		snprintf(d->created[d->n_created++], sizeof(d->created[0]), "%s", p->path);
		free(dk->target);
		dk->target = xstrdup(p->path);
		dk->pool[0] = 0;
	}
	if (p->disk >= cfg->n_disks) {
		start_incoming(ag, p);
		return;
	}
	struct vm_disk *dk = &cfg->disks[p->disk];
	json_int_t size = json_integer_value(json_object_get(p->sizes, dk->vdev));
	char sz[32];
	if (size <= 0) {
		snprintf(msg, sizeof(msg), "the source gave no size for disk %s", dk->vdev);
		prep_fail(ag, p, msg);
		return;
	}
	dst_disk_path(ag, cfg, dk, p->path, sizeof(p->path));
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	char *argv[] = { "qemu-img", "create", "-q", "-f", dk->format, p->path, sz, NULL };
	if (child_spawn(ag, argv, prep_next_disk, p) < 0) {
		snprintf(msg, sizeof(msg), "cannot run qemu-img on host %s", ag->cfg->host);
		prep_fail(ag, p, msg);
	}
}

/* Why this host refuses to receive cfg with options o; NULL: it accepts. */
static const char *refusal(struct request *r, struct mig_dst *d, struct vm_config *cfg, json_t *args,
			   char *msg, size_t n)
{
	struct agent *ag = r->ag;
	char why[400];

	struct ferr perr = {0};
	if (mig_opts_from_json(json_object_get(args, "opts"), &d->o, why, sizeof(why)) < 0)
		;
	else if (pool_resolve_disks(ag, cfg, json_object_get(args, "pools"), &perr) < 0)
		snprintf(why, sizeof(why), "%.399s", perr.msg);
	else if (d->o.insecure && !ag->cfg->allow_insecure)
		snprintf(why, sizeof(why), "this host does not accept --insecure moves (allow_insecure = 0 in its agent "
			 "config): anyone on the network could read or inject a plaintext stream");
	else if (check_sizes(ag, cfg, args, why, sizeof(why)) < 0)
		;
	else if (dst_listen_addr(ag, r->client_id, d->addr, sizeof(d->addr)) < 0)
		snprintf(why, sizeof(why), "this agent has no TCP address to receive on");
	else
		why[0] = 0;
	if (why[0]) {
		snprintf(msg, n, "host %s refused %s: %s", ag->cfg->host, cfg->name, why);
		return msg;
	}
	if (vm_find(ag, cfg->name)) {
		snprintf(msg, n, "a VM named %s already exists on host %s", cfg->name, ag->cfg->host);
		return msg;
	}
	/* Disks not on shared storage get a blank twin here, filled over NBD. */
	for (int i = 0; i < cfg->n_disks; i++) {
		if (!cfg->disks[i].shared && !d->o.copy_storage && !d->o.move_disks) {
			if (cfg->disks[i].pool[0])
				snprintf(msg, n, "disk %s of %s is on pool %s, which host %s does not share with the source "
					 "(no such pool here, or at another place): use --copy-storage", cfg->disks[i].vdev,
					 cfg->name, cfg->disks[i].pool, ag->cfg->host);
			else
				snprintf(msg, n, "disk %s of %s is not on shared storage and no storage copy was asked for",
					 cfg->disks[i].vdev, cfg->name);
			return msg;
		}
	}
	if (prep_find(ag, cfg->name)) {
		snprintf(msg, n, "%s is already being prepared on host %s", cfg->name, ag->cfg->host);
		return msg;
	}
	return NULL;
}

void mig_dst_prepare(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct vm_config *cfg = config_arg(r, args);
	struct mig_dst *d;
	char msg[700];

	(void)unused;
	if (!cfg)
		return;
	d = xcalloc(1, sizeof(*d));
	d->ag = ag;
	d->state = DST_STARTING;
	d->src_client = r->client_id;
	if (refusal(r, d, cfg, args, msg, sizeof(msg))) {
		request_err(r, "%s", msg);
		vmcfg_free(cfg);
		free(d);
		return;
	}
	d->prep_req = r;
	dst_forget_unresumed(ag, cfg->name);
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

void mig_dst_check(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct vm_config *cfg = config_arg(r, args);
	struct ferr err = {0};
	struct mig_opts o;
	char why[400], path[600];
	long long need = 0;

	(void)unused;
	if (!cfg)
		return;
	if (mig_opts_from_json(json_object_get(args, "opts"), &o, why, sizeof(why)) < 0)
		ferr_set(&err, "%s", why);
	else
		pool_resolve_disks(ag, cfg, json_object_get(args, "pools"), &err);
	/* Disks that are not shared come with the disk mover (move_disks):
	 * their place here must be free, and the folder must have room. The
	 * rest must be here already. */
	for (int i = 0; !err.msg[0] && i < cfg->n_disks; i++) {
		struct vm_disk *dk = &cfg->disks[i];
		if (dk->shared)
			continue;
		if (!o.move_disks) {
			ferr_set(&err, "disk %s of %s is not on shared storage", dk->vdev, cfg->name);
			break;
		}
		dst_disk_path(ag, cfg, dk, path, sizeof(path));
		if (access(path, F_OK) == 0)
			ferr_set(&err, "%s exists already on host %s", path, ag->cfg->host);
		need += json_integer_value(json_object_get(json_object_get(args, "disk_data"), dk->vdev));
		free(dk->target);
		free(dk->format);
		memmove(dk, dk + 1, (size_t)(cfg->n_disks - i - 1) * sizeof(*dk));
		cfg->n_disks--;
		i--;
	}
	struct statvfs fs;
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/disks", ag->cfg->state_dir);
	if (!err.msg[0] && need > 0 && statvfs(dir, &fs) == 0 && need > (long long)fs.f_bavail * (long long)fs.f_frsize)
		ferr_set(&err, "the disks to move hold %lld MB of data; %s on host %s has %lld MB free", need / 1000000,
			 dir, ag->cfg->host, (long long)fs.f_bavail * (long long)fs.f_frsize / 1000000);
	if (!err.msg[0])
		vm_can_start(ag, cfg, &err);
	if (err.msg[0])
		request_err(r, "%s", err.msg);
	else
		request_ok(r, NULL);
	vmcfg_free(cfg);
}

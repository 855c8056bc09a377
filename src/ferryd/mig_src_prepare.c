/* mig_src_prepare.c: the source asks the destination agent to prepare a
 * QEMU waiting for the stream (CONNECTING -> PREPARING), checks where that
 * agent says to send it, and sets up its own QEMU for the move. */
#include "ferryd/mig_src.h"
#include "ferryd/peer.h"
#include "ferryd/preflight_job.h"
#include "ferryd/pool.h"
#include "ferryd/tunnel.h"
#include "proto/args.h"
#include "qmp/cmds.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whatever the mode, the stream goes only to the destination agent's own
 * address: a hostile or broken peer must not make our QEMU run a command
 * (exec:), open a file or socket here, or send the guest's memory to a
 * third host. The relay, once started, is kept for recovery. */
int src_route_stream(struct mig_job *j, const char *uri, struct ferr *err)
{
	char addr[64];
	int port;

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

static void on_source_ready(struct vm *vm, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "cannot set up the source: %s", err);
		return;
	}
	if (j->o.copy_storage && j->nbd_port > 0)
		src_mirrors_start(j);
	else
		src_start_migrate(j);
}

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

/* The storage copy, too, goes to the destination agent only (the reply's
 * schema checked the host is an IP literal, the port a port). */
static int take_nbd(struct mig_job *j, json_t *nbd)
{
	const char *nh = json_string_value(json_object_get(nbd, "host"));

	if (!nbd) {
		if (j->o.copy_storage) {
			src_fail(j, "host %s did not export the disks to copy", j->dest);
			return -1;
		}
		return 0;
	}
	if (!proto_same_addr(nh, j->dest_addr)) {
		src_fail(j, "storage copy: the destination named an NBD server (%s) that is not its own (%s): refused",
			 nh, j->dest_addr);
		return -1;
	}
	snprintf(j->nbd_host, sizeof(j->nbd_host), "%s", nh);
	j->nbd_port = (int)json_integer_value(json_object_get(nbd, "port"));
	return 0;
}

static void on_prepared(struct peer *p, json_t *result, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	struct ferr rerr = {0};

	(void)p;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "host %s refused: %s", j->dest, err);
		return;
	}
	if (src_route_stream(j, json_string_value(json_object_get(result, "uri")) ?: "", &rerr) < 0) {
		src_fail(j, "%s", rerr.msg);
		return;
	}
	if (take_nbd(j, json_object_get(result, "nbd")) < 0)
		return;
	/* An object from an earlier migration may hold other credentials. */
	vm_qmp(j->vm, "object-del", json_pack("{s:s}", "id", QMP_TLS_CREDS_ID), on_old_tls_gone, j);
}

void src_send_prepare(struct mig_job *j, json_t *sizes)
{
	char *text = j->o.move_disks ? xstrdup(j->cfg_text) : vmcfg_format(j->vm->cfg);
	json_t *args = json_pack("{s:s, s:s, s:o, s:I}", "config", text, "src_host", j->ag->cfg->host,
				 "opts", mig_opts_to_json(&j->o), "ram_bytes", (json_int_t)j->ram_bytes);
	free(text);
	if (sizes)
		json_object_set(args, "disk_sizes", sizes);
	/* Where this host's pools of the guest's disks are: the destination
	 * counts a pool disk as shared only if its pool is at the same place. */
	json_t *pools = pool_locations(j->ag, j->vm->cfg);
	if (pools)
		json_object_set_new(args, "pools", pools);
	if (!src_enter(j, MIG_PREPARING)) {
		json_decref(args);
		return;
	}
	peer_call(j->peer, "mig-prepare", args, on_prepared, j);
}

static void on_block_info(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;
	json_t *sizes = json_object(), *b;
	size_t i;

	(void)vm;
	if (!src_live(j) || err) {
		json_decref(sizes);
		if (err)
			src_fail(j, "%s", err);
		return;
	}
	json_array_foreach(ret, i, b) {
		json_t *ins = json_object_get(b, "inserted");
		const char *node = json_string_value(json_object_get(ins, "node-name"));
		json_int_t size = json_integer_value(json_object_get(json_object_get(ins, "image"), "virtual-size"));
		if (node)
			json_object_set_new(sizes, node, json_integer(size));
	}
	src_send_prepare(j, sizes);
	json_decref(sizes);
}

/* The destination must get exactly the RAM this QEMU has (see qemu_ram_kb). */
static void on_mem_size(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)vm;
	if (!src_live(j))
		return;
	if (err) {
		src_fail(j, "%s", err);
		return;
	}
	j->ram_bytes = json_integer_value(json_object_get(ret, "base-memory"));
	if (j->o.copy_storage)
		vm_qmp(j->vm, "query-block", NULL, on_block_info, j);
	else if (j->o.cold == COLD_SUSPEND && j->o.move_disks)
		src_cold_disks_start(j);
	else
		src_send_prepare(j, NULL);
}

/* The preflight's verdict: a move that a check blocks ends here, before
 * anything changed on either host. */
static void on_preflight(struct agent *ag, json_t *report, void *opaque)
{
	struct mig_job *j = opaque;
	json_t *checks = json_object_get(report, "checks"), *c;
	char forced[200], why[800];
	int warnings = 0;
	size_t i;

	(void)ag;
	j->pf = NULL;
	if (!src_live(j))
		return;
	json_array_foreach(checks, i, c)
		warnings += !strcmp(json_string_value(json_object_get(c, "verdict")), "warning");
	int blocking = pf_blocking(checks, j->o.force, forced, sizeof(forced));
	json_t *net = json_object_get(report, "net");
	j->preflight = json_pack("{s:I, s:i, s:i, s:s, s:O}", "took_ms", json_integer_value(json_object_get(report, "took_ms")),
				 "blocking", blocking, "warnings", warnings, "forced", forced, "clock_offset_ms",
				 json_object_get(net, "clock_offset_ms") ?: json_null());
	if (blocking) {
		pf_refusal(checks, j->o.force, why, sizeof(why));
		src_fail(j, "%s cannot move to host %s: %s (ferry check %s %s says more)", j->name, j->dest, why, j->name,
			 j->dest);
		return;
	}
	if (forced[0])
		log_warn("preflight overridden", "vm=%s checks=%s", j->name, forced);
	if (j->o.cold == COLD_REBOOT)
		src_reboot_start(j);
	else
		vm_qmp(j->vm, "query-memory-size-summary", NULL, on_mem_size, j);
}

static void on_peer_ready(struct peer *p, const char *err, void *opaque)
{
	struct mig_job *j = opaque;

	(void)p;
	if (!src_live(j))
		return;
	if (err) {
		/* Said as ferry check says it: the first requirement unmet. */
		json_t *checks = pf_unreachable(j->ag->cfg->host, j->dest, err);
		char why[800];
		pf_refusal(checks, false, why, sizeof(why));
		json_decref(checks);
		src_fail(j, "%s cannot move to host %s: %s", j->name, j->dest, why);
		return;
	}
	if (!src_enter(j, MIG_PREFLIGHT))
		return;
	struct pf_mode m = preflight_mode(&j->o);
	j->pf = preflight_start(j->ag, j->vm, j->dest, j->dest_addr, j->dest_port, j->peer, &m, false, on_preflight, j);
}

void src_connect(struct mig_job *j)
{
	j->peer = peer_connect(j->ag, j->dest, j->dest_addr, j->dest_port, on_peer_ready, j);
}

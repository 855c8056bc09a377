/* mig_dst_ops.c: the source agent's requests about an incoming migration
 * after mig-prepare: finish (hand-over once the guest runs here), postcopy
 * (the guest will be split: keep it whatever the link does), resumed (has
 * it run here yet?), abort, and post-copy recovery (recover, pause). */
#include "ferryd/mig_dst.h"
#include "ferryd/request.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The incoming migration of vm; else answers why not. */
static struct mig_dst *need_dst(struct request *r, struct vm *vm)
{
	struct mig_dst *d = dst_of(vm);

	if (!d)
		request_err(r, "%s is not migrating to host %s", vm->cfg->name, r->ag->cfg->host);
	return d;
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
	if (err || !dst_of(vm))
		return;
	const char *st = json_string_value(json_object_get(ret, "status"));
	/* Completed but held paused (e.g. after a storage copy): run it. */
	if (st && (!strcmp(st, "paused") || !strcmp(st, "postmigrate")))
		vm_qmp(vm, "cont", NULL, on_cont_done, NULL);
}

void mig_dst_finish(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_dst *d = need_dst(r, vm);

	(void)args;
	if (!d)
		return;
	request_drop(d->fin_req);
	d->fin_req = r;
	if (d->state == DST_RESUMED)
		dst_hand_over(d);
	else
		vm_qmp(d->vm, "query-status", NULL, on_dst_status, NULL);
}

void mig_dst_postcopy(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_dst *d = need_dst(r, vm);

	(void)args;
	if (!d)
		return;
	if (vm->state != VM_INCOMING || d->state == DST_RESUMED) {
		request_err(r, "%s already runs on host %s", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	if (d->state == DST_LISTENING && !dst_enter(d, DST_POSTCOPY)) {
		request_err(r, "%s is not ready for post-copy on host %s", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	request_ok(r, NULL);
}

/* Post-copy: answered once the guest has resumed here. Until then QEMU (7.2)
 * cannot pause the incoming side: the source must not break the stream. */
void mig_dst_resumed(struct request *r, json_t *args, struct vm *unused)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct vm *vm = vm_find(r->ag, name);
	struct mig_dst *d;

	(void)unused;
	if (!vm && dst_ended_unresumed(r->ag, name)) {
		/* It never ran here and never will: its source still holds every
		 * page and may resume it. */
		request_ok(r, json_pack("{s:b}", "ended", 1));
		return;
	}
	if (!vm) {
		request_err(r, "no VM named %s on host %s", name, r->ag->cfg->host);
		return;
	}
	if (!(d = need_dst(r, vm)))
		return;
	if (d->res_req)
		request_err(d->res_req, "superseded by a newer request");
	d->res_req = r;
	if (d->state == DST_RESUMED)
		dst_answer_resumed(d);
}

static void on_abort_gone(struct vm *vm, const char *err, void *opaque)
{
	(void)vm;
	(void)err;
	request_ok(opaque, json_pack("{s:b}", "running", 0));
}

void mig_dst_abort(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_dst *d = need_dst(r, vm);

	(void)args;
	if (!d)
		return;
	if (d->state == DST_RESUMED) {
		/* Too late: the guest runs here; the source must not resume its copy. */
		log_warn("abort refused: the guest already runs here", "vm=%s", vm->cfg->name);
		request_ok(r, json_pack("{s:b}", "running", 1));
		return;
	}
	log_info("migration aborted", "vm=%s", vm->cfg->name);
	vm_wait_gone(vm, on_abort_gone, r);
	vm_kill(vm);
}

struct recover_ctx {
	struct request *r;
	char uri[128];
};

static void on_recover(struct vm *vm, json_t *ret, const char *err, void *opaque)
{
	struct recover_ctx *c = opaque;

	(void)vm;
	(void)ret;
	if (err)
		request_err(c->r, "%s", err);
	else
		request_ok(c->r, json_pack("{s:s}", "uri", c->uri));
	free(c);
}

void mig_dst_recover(struct request *r, json_t *args, struct vm *vm)
{
	struct mig_dst *d = dst_of(vm);
	struct recover_ctx *c;
	char addr[64];

	(void)args;
	if (!d || dst_listen_addr(r->ag, r->client_id, addr, sizeof(addr)) < 0) {
		request_err(r, "%s is not migrating to host %s", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	if (d->state != DST_RESUMED) {
		/* QEMU 7.2 cannot pause an incoming post-copy before the guest
		 * runs here (it is still loading the device state): pausing
		 * would end it. The stream must go on when the link returns. */
		request_err(r, "%s has not resumed on host %s yet: nothing to recover", vm->cfg->name, r->ag->cfg->host);
		return;
	}
	d->src_client = r->client_id;   /* the source's new connection */
	c = xcalloc(1, sizeof(*c));
	c->r = r;
	/* QEMU listens again (behind the same relay when there is one). */
	if (d->tunnel > 0) {
		snprintf(c->uri, sizeof(c->uri), "%s", d->tunnel_uri);
	} else {
		dst_tcp_uri(c->uri, sizeof(c->uri), addr, dst_free_port(addr));
		snprintf(d->qemu_uri, sizeof(d->qemu_uri), "%s", c->uri);
	}
	/* If our side has not noticed the broken link yet, make it: recovery
	 * starts from postcopy-paused on both sides (the source retries). */
	vm_qmp_oob(vm, "migrate-pause", NULL, dst_on_paused, NULL);
	vm_qmp_oob(vm, "migrate-recover", json_pack("{s:s}", "uri", d->qemu_uri), on_recover, c);
}

void mig_dst_pause(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	vm_qmp_oob(vm, "migrate-pause", NULL, dst_on_paused, r);
}

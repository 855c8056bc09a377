/* server_ops.c: the op table and the handlers of the ops that are not a
 * migration's (those are in mig_*.c): each request is parsed, its op found,
 * its arguments checked against the op's schema (proto/args.c), its VM
 * found when the op acts on one, and its handler answers the request. */
#include "ferryd/agent.h"
#include "ferryd/facts.h"
#include "ferryd/netprobe.h"
#include "ferryd/mig.h"
#include "ferryd/pool.h"
#include "ferryd/request.h"
#include "proto/args.h"
#include "proto/proto.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- op handlers: args are checked already; ops on one VM get it ------- */

static void op_ping(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	(void)vm;
	/* time_us: a preflight's clock-offset sample. */
	request_ok(r, json_pack("{s:s, s:s, s:I}", "host", r->ag->cfg->host, "version", FERRY_VERSION, "time_us",
				(json_int_t)time_real_us()));
}

static void op_list(struct request *r, json_t *args, struct vm *vm)
{
	json_t *vms = json_array();

	(void)args;
	(void)vm;
	for (struct vm *v = r->ag->vms; v; v = v->next)
		json_array_append_new(vms, vm_describe(v, false));
	request_ok(r, json_pack("{s:s, s:o}", "host", r->ag->cfg->host, "vms", vms));
}

static void op_create(struct request *r, json_t *args, struct vm *vm)
{
	const char *text = json_string_value(json_object_get(args, "config"));
	const char *src = json_string_value(json_object_get(args, "source"));
	struct vm_config *cfg;
	struct ferr err = {0};

	(void)vm;
	if (vmcfg_parse(text, strlen(text), src ? src : "<config>", NULL, &cfg, &err) < 0) {
		request_err(r, "%s", err.msg);
		return;
	}
	vm_create(r, cfg);
}

static void op_status(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	request_ok(r, vm_describe(vm, true));
}

static void op_shutdown(struct request *r, json_t *args, struct vm *vm)
{
	json_t *t = json_object_get(args, "timeout_s");

	vm_shutdown(vm, t ? (int)json_integer_value(t) : 60, r);
}

static void op_destroy(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	vm_destroy(vm, r);
}

static void op_pause(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	vm_pause(vm, true, r);
}

static void op_unpause(struct request *r, json_t *args, struct vm *vm)
{
	(void)args;
	vm_pause(vm, false, r);
}

static void op_history(struct request *r, json_t *args, struct vm *vm)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *last = json_object_get(args, "last"), *since = json_object_get(args, "since_us");
	json_t *recs = mig_any_history_read(r->ag, name, last ? (long)json_integer_value(last) : MIG_HISTORY_PAGE,
					    since ? (int64_t)json_integer_value(since) : 0);

	(void)vm;
	request_ok(r, json_pack("{s:s, s:o}", "host", r->ag->cfg->host, "migrations", recs));
}

static void op_history_add(struct request *r, json_t *args, struct vm *vm)
{
	(void)vm;
	mig_any_history_append(r->ag, json_object_get(args, "record"));
	request_ok(r, NULL);
}

/* mig-observed: a client's probe of a move this agent ran as the source
 * (ferry migrate --probe) adds its gaps to the metrics, once per move. */
static void op_mig_observed(struct request *r, json_t *args, struct vm *vm)
{
	static const char *const keys[MG_N] = { "icmp_gap_us", "service_gap_us", "guest_gap_us" };
	const char *name = json_string_value(json_object_get(args, "name"));
	int64_t started = (int64_t)json_integer_value(json_object_get(args, "started_us"));
	double gap_ms[MG_N];

	(void)vm;
	for (int g = 0; g < MG_N; g++) {
		json_t *v = json_object_get(args, keys[g]);
		gap_ms[g] = v ? (double)json_integer_value(v) / 1000.0 : -1;
	}
	int e = metrics_observe_gaps(&r->ag->metrics, name, started, gap_ms);
	if (e == -EALREADY) {
		request_err(r, "the gaps of %s's move at %lld were reported already", name, (long long)started);
		return;
	}
	if (e < 0) {
		request_err(r, "no recent completed move of %s from this host began at %lld", name, (long long)started);
		return;
	}
	mig_any_metrics_write(r->ag);
	request_ok(r, NULL);
}

typedef void (*op_fn)(struct request *r, json_t *args, struct vm *vm);

/* The op table: each op's handler, whether it acts on the VM named in its
 * args (found here first, so the handler gets it), and its argument schema
 * (proto/args.c's, found by name once: server_ops_check proves the two
 * lists name the same ops). */
static struct server_op {
	const char *name;
	bool needs_vm;
	op_fn fn;
	const struct proto_op *schema;
} ops[] = {
	{ "ping", false, op_ping, NULL },
	{ "list", false, op_list, NULL },
	{ "create", false, op_create, NULL },
	{ "status", true, op_status, NULL },
	{ "shutdown", true, op_shutdown, NULL },
	{ "destroy", true, op_destroy, NULL },
	{ "console", true, server_op_console, NULL },
	{ "pause", true, op_pause, NULL },
	{ "unpause", true, op_unpause, NULL },
	{ "migrate", true, mig_src_start, NULL },
	{ "migrate-cancel", true, mig_src_cancel, NULL },
	{ "migrate-recover", true, mig_src_recover, NULL },
	{ "history", false, op_history, NULL },
	{ "history-add", false, op_history_add, NULL },
	{ "mig-observed", false, op_mig_observed, NULL },
	{ "mig-prepare", false, mig_dst_prepare, NULL },
	{ "mig-finish", true, mig_dst_finish, NULL },
	{ "mig-check", false, mig_dst_check, NULL },
	{ "host-facts", false, facts_op_host, NULL },
	{ "net-sink", false, netprobe_op_sink, NULL },
	{ "vm-check", true, preflight_op_check, NULL },
	{ "mig-postcopy", true, mig_dst_postcopy, NULL },
	{ "mig-resumed", false, mig_dst_resumed, NULL },
	{ "mig-abort", true, mig_dst_abort, NULL },
	{ "mig-recover", true, mig_dst_recover, NULL },
	{ "mig-pause", true, mig_dst_pause, NULL },
	{ "copy", false, mover_op_copy, NULL },
	{ "copy-in", false, mover_op_copy_in, NULL },
	{ "copy-in-wait", false, mover_op_copy_in_wait, NULL },
	{ "mig-disks-drop", false, mover_op_disks_drop, NULL },
	{ "save", true, save_op_save, NULL },
	{ "restore", false, save_op_restore, NULL },
	{ "pool-define", false, pool_op_define, NULL },
	{ "pool-list", false, pool_op_list, NULL },
	{ "pool-info", false, pool_op_info, NULL },
	{ "pool-undefine", false, pool_op_undefine, NULL },
	{ "vol-create", false, pool_op_vol_create, NULL },
	{ "vol-list", false, pool_op_vol_list, NULL },
	{ "vol-delete", false, pool_op_vol_delete, NULL },
	{ "vol-import", false, pool_op_vol_import, NULL },
	{ "vol-export", false, pool_op_vol_export, NULL },
};

int server_ops_check(struct ferr *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (!(ops[i].schema = proto_op_find(ops[i].name))) {
			ferr_set(err, "op %s has a handler but no argument schema", ops[i].name);
			return -EINVAL;
		}
	}
	for (size_t n = 0;; n++) {
		const struct proto_op *p = proto_op_at(n);
		size_t i;
		if (!p)
			return 0;
		for (i = 0; i < ARRAY_SIZE(ops) && strcmp(ops[i].name, p->name); i++)
			;
		if (i == ARRAY_SIZE(ops)) {
			ferr_set(err, "op %s has an argument schema but no handler", p->name);
			return -EINVAL;
		}
	}
}


void server_dispatch(struct agent *ag, long client_id, json_t *msg, request_send_fn send)
{
	struct ferr err = {0};
	const struct server_op *op = NULL;
	const char *name;
	json_t *args, *empty = NULL;
	struct vm *vm = NULL;
	long id;

	if (proto_request_parse(msg, &id, &name, &args, &err) < 0) {
		send(ag, client_id, proto_reply_err(0, "bad request: %s", err.msg));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ops) && !op; i++)
		if (!strcmp(ops[i].name, name))
			op = &ops[i];
	if (!op || !op->schema) {
		char shown[40];
		snprintf(shown, sizeof(shown), "%s", name);
		utf8_sanitize(shown);
		send(ag, client_id, proto_reply_err(id, "unknown op '%s' (this agent speaks protocol %d)", shown,
						    PROTO_VERSION));
		return;
	}
	if (proto_args_check(op->schema, args, &err) < 0) {
		log_warn("request refused", "client=%ld op=%s reason=\"%s\"", client_id, name, err.msg);
		send(ag, client_id, proto_reply_err(id, "%s", err.msg));
		return;
	}
	log_debug("request", "client=%ld op=%s", client_id, name);
	if (op->needs_vm) {
		const char *vname = json_string_value(json_object_get(args, "name"));
		if (!(vm = vm_find(ag, vname))) {
			send(ag, client_id, proto_reply_err(id, "no VM named %s on host %s", vname, ag->cfg->host));
			return;
		}
	}
	if (!args)
		args = empty = json_object();
	op->fn(request_new(ag, client_id, id, send), args, vm);
	json_decref(empty);
}

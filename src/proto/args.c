/* args.c: the schemas of the control protocol's ops and their checker. */
#include "proto/args.h"
#include "net/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 32            /* VM_NAME_MAX, host names too */
#define CONFIG_MAX_BYTES (64 * 1024)
#define RECORD_MAX_BYTES (64 * 1024)
#define END { NULL, 0, false, 0, 0, NULL }

static const struct proto_arg a_name[] = { { "name", PA_NAME, true, 0, 0, NULL }, END };
static const struct proto_arg a_name_opt[] = {
	{ "name", PA_NAME, false, 0, 0, NULL },
	{ "last", PA_INT, false, 1, 100000, NULL },
	{ "since_us", PA_INT, false, 0, INT64_MAX, NULL },
	END,
};
static const struct proto_arg a_create[] = {
	{ "config", PA_TEXT, true, 0, CONFIG_MAX_BYTES, NULL },
	{ "source", PA_TEXT, false, 0, 256, NULL },
	END,
};
static const struct proto_arg a_shutdown[] = {
	{ "name", PA_NAME, true, 0, 0, NULL },
	{ "timeout_s", PA_INT, false, 1, 3600, NULL },
	END,
};
static const struct proto_arg a_dest[] = {
	{ "host", PA_NAME, true, 0, 0, NULL },
	{ "addr", PA_ADDR, true, 0, 0, NULL },
	{ "port", PA_INT, true, 1, 65535, NULL },
	END,
};
/* The meaning and the combinations: mig_opts_from_json. */
static const struct proto_arg a_opts[] = {
	{ "downtime_ms", PA_INT, false, 1, 60000, NULL },
	{ "downtime_default", PA_BOOL, false, 0, 0, NULL },
	{ "bandwidth_mbps", PA_INT, false, 0, 1000000, NULL },
	{ "parallel", PA_INT, false, 1, 64, NULL },
	{ "auto_converge", PA_BOOL, false, 0, 0, NULL },
	{ "postcopy", PA_TEXT, false, 0, 8, NULL },
	{ "timeout_s", PA_INT, false, 0, 86400, NULL },
	{ "copy_storage", PA_BOOL, false, 0, 0, NULL },
	{ "insecure", PA_BOOL, false, 0, 0, NULL },
	{ "qemu_tls", PA_BOOL, false, 0, 0, NULL },
	{ "cold", PA_TEXT, false, 0, 8, NULL },
	{ "disk_passes", PA_INT, false, 1, 2, NULL },
	{ "keep_source", PA_BOOL, false, 0, 0, NULL },
	{ "move_disks", PA_BOOL, false, 0, 0, NULL },
	{ "force", PA_BOOL, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_check[] = {
	{ "config", PA_TEXT, true, 0, CONFIG_MAX_BYTES, NULL },
	{ "pools", PA_NAMES, false, 0, 255, NULL },
	{ "opts", PA_OBJ, false, 0, 0, a_opts },
	/* Cold moves: the data of each disk the mover will bring. */
	{ "disk_data", PA_SIZES, false, 0, 1LL << 42, NULL },
	END,
};
/* A preflight's question to the destination (preflight.h). */
static const struct proto_arg a_l2[] = {
	{ "nonce", PA_TEXT, true, 32, 32, NULL },
	END,
};
static const struct proto_arg a_host_facts[] = {
	{ "config", PA_TEXT, true, 0, CONFIG_MAX_BYTES, NULL },
	{ "pools", PA_NAMES, false, 0, 255, NULL },
	{ "machine", PA_TEXT, false, 0, 64, NULL },
	{ "l2", PA_OBJ, false, 0, 0, a_l2 },
	END,
};
static const struct proto_arg a_migrate[] = {
	{ "name", PA_NAME, true, 0, 0, NULL },
	{ "dest", PA_OBJ, true, 0, 0, a_dest },
	{ "opts", PA_OBJ, false, 0, 0, a_opts },
	END,
};
static const struct proto_arg a_record[] = { { "record", PA_RECORD, true, 0, RECORD_MAX_BYTES, NULL }, END };
/* The disk mover (docs/mover.md): a path inside vm_dirs or POOL/VOLUME. */
static const struct proto_arg a_copy[] = {
	{ "source", PA_TEXT, true, 1, 4096, NULL },
	{ "target", PA_TEXT, true, 1, 4096, NULL },
	{ "dest", PA_OBJ, true, 0, 0, a_dest },
	{ "streams", PA_INT, false, 1, 8, NULL },
	END,
};
/* copy-in: a target (ferry copy), or a cold move's disk: the guest's config
 * and the disk's name (the receiver names the file), first pass or final. */
static const struct proto_arg a_copy_in[] = {
	{ "target", PA_TEXT, false, 1, 4096, NULL },
	{ "config", PA_TEXT, false, 0, CONFIG_MAX_BYTES, NULL },
	{ "vdev", PA_NAME, false, 0, 0, NULL },
	{ "final", PA_BOOL, false, 0, 0, NULL },
	{ "size", PA_INT, true, 1, 1LL << 42, NULL },
	{ "data_bytes", PA_INT, false, 0, 1LL << 42, NULL },
	{ "streams", PA_INT, false, 1, 8, NULL },
	END,
};
/* copy-in-wait: the path copy-in answered. */
static const struct proto_arg a_copy_in_wait[] = {
	{ "path", PA_TEXT, true, 1, 4096, NULL },
	END,
};
/* mig-observed: what a client's probe saw of a move this agent ran. */
#define GAP_MAX_US 86400000000LL
static const struct proto_arg a_observed[] = {
	{ "name", PA_NAME, true, 0, 0, NULL },
	{ "started_us", PA_INT, true, 0, INT64_MAX, NULL },
	{ "icmp_gap_us", PA_INT, false, 0, GAP_MAX_US, NULL },
	{ "service_gap_us", PA_INT, false, 0, GAP_MAX_US, NULL },
	{ "guest_gap_us", PA_INT, false, 0, GAP_MAX_US, NULL },
	END,
};
/* save and restore (docs/save.md): a file on the agent's host, in vm_dirs. */
static const struct proto_arg a_save[] = {
	{ "name", PA_NAME, true, 0, 0, NULL },
	{ "file", PA_TEXT, true, 1, 4096, NULL },
	{ "keep_running", PA_BOOL, false, 0, 0, NULL },
	{ "with_disks", PA_BOOL, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_restore[] = {
	{ "file", PA_TEXT, true, 1, 4096, NULL },
	{ "paused", PA_BOOL, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_config[] = { { "config", PA_TEXT, true, 0, CONFIG_MAX_BYTES, NULL }, END };
/* RAM and disk sizes: at most 16 TiB (the destination also checks them
 * against its own limits). */
static const struct proto_arg a_prepare[] = {
	{ "config", PA_TEXT, true, 0, CONFIG_MAX_BYTES, NULL },
	{ "src_host", PA_NAME, true, 0, 0, NULL },
	{ "opts", PA_OBJ, false, 0, 0, a_opts },
	{ "disk_sizes", PA_SIZES, false, 1, 1LL << 44, NULL },
	{ "ram_bytes", PA_INT, false, 0, 1LL << 44, NULL },
	/* The source's pools of the config's pool disks: name -> location. */
	{ "pools", PA_NAMES, false, 0, 255, NULL },
	END,
};
/* Storage pools and their volumes (docs/storage.md). A volume name is
 * checked further by the agent (pool_vol_name_ok). */
static const struct proto_arg a_pool_define[] = {
	{ "name", PA_NAME, true, 0, 0, NULL },
	{ "type", PA_NAME, true, 0, 0, NULL },
	{ "location", PA_TEXT, true, 1, 255, NULL },
	{ "uid", PA_INT, false, -1, INT32_MAX, NULL },
	{ "gid", PA_INT, false, -1, INT32_MAX, NULL },
	{ "credentials", PA_TEXT, false, 1, 255, NULL },
	{ "ceph_conf", PA_TEXT, false, 1, 255, NULL },
	{ "ceph_user", PA_NAME, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_pool[] = { { "pool", PA_NAME, true, 0, 0, NULL }, END };
static const struct proto_arg a_vol[] = {
	{ "pool", PA_NAME, true, 0, 0, NULL },
	{ "name", PA_TEXT, true, 1, 64, NULL },
	END,
};
static const struct proto_arg a_vol_create[] = {
	{ "pool", PA_NAME, true, 0, 0, NULL },
	{ "name", PA_TEXT, true, 1, 64, NULL },
	{ "size", PA_INT, true, 1, 1LL << 44, NULL },
	{ "format", PA_NAME, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_vol_file[] = {
	{ "pool", PA_NAME, true, 0, 0, NULL },
	{ "name", PA_TEXT, true, 1, 64, NULL },
	{ "file", PA_TEXT, true, 1, 4095, NULL },
	{ "format", PA_NAME, false, 0, 0, NULL },
	END,
};
static const struct proto_arg a_none[] = { END };

static const struct proto_op ops[] = {
	{ "ping", a_none },
	{ "list", a_none },
	{ "create", a_create },
	{ "status", a_name },
	{ "shutdown", a_shutdown },
	{ "destroy", a_name },
	{ "console", a_name },
	{ "pause", a_name },
	{ "unpause", a_name },
	{ "migrate", a_migrate },
	{ "migrate-cancel", a_name },
	{ "migrate-recover", a_name },
	{ "history", a_name_opt },
	{ "history-add", a_record },
	{ "mig-observed", a_observed },
	{ "mig-check", a_check },
	{ "host-facts", a_host_facts },
	{ "net-sink", a_none },
	{ "vm-check", a_migrate },
	{ "mig-prepare", a_prepare },
	{ "mig-finish", a_name },
	{ "mig-postcopy", a_name },
	{ "mig-resumed", a_name },
	{ "mig-abort", a_name },
	{ "mig-recover", a_name },
	{ "mig-pause", a_name },
	{ "pool-define", a_pool_define },
	{ "pool-list", a_none },
	{ "pool-info", a_name },
	{ "pool-undefine", a_name },
	{ "vol-create", a_vol_create },
	{ "vol-list", a_pool },
	{ "vol-delete", a_vol },
	{ "vol-import", a_vol_file },
	{ "vol-export", a_vol_file },
	{ "copy", a_copy },
	{ "copy-in", a_copy_in },
	{ "copy-in-wait", a_copy_in_wait },
	{ "mig-disks-drop", a_config },
	{ "save", a_save },
	{ "restore", a_restore },
};

const struct proto_op *proto_op_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].name, name))
			return &ops[i];
	return NULL;
}

const struct proto_op *proto_op_at(size_t i)
{
	return i < ARRAY_SIZE(ops) ? &ops[i] : NULL;
}

static bool name_valid(const char *s)
{
	return s && ident_valid(s, NAME_MAX_LEN);
}

static bool addr_valid(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return sock_addr_parse(s, 0, &ss, &len) == 0;
}

/* A short printable rendering of a key for error messages: a hostile key
 * must not carry control characters or megabytes into a log or a reply. */
static void key_show(const char *k, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; k[i] && j + 4 < n; i++)
		out[j++] = (k[i] >= 0x20 && k[i] < 0x7f) ? k[i] : '?';
	if (strlen(k) > j)
		out[j++] = '.', out[j++] = '.', out[j++] = '.';
	out[j] = 0;
}

static int check_obj(const char *where, const struct proto_arg *spec, json_t *obj, bool strict, struct ferr *err);

static int check_one(const char *where, const struct proto_arg *a, json_t *v, struct ferr *err)
{
	const char *s = json_string_value(v);

	switch (a->type) {
	case PA_NAME:
		if (!name_valid(s)) {
			ferr_set(err, "%s%s must be a name (a letter, then up to 31 letters, digits, '-' or '_')", where, a->key);
			return -EINVAL;
		}
		return 0;
	case PA_ADDR:
		if (!addr_valid(s)) {
			ferr_set(err, "%s%s must be an IPv4 or IPv6 address", where, a->key);
			return -EINVAL;
		}
		return 0;
	case PA_TEXT:
		if (!s || json_string_length(v) > (size_t)a->max || strlen(s) != json_string_length(v)) {
			ferr_set(err, "%s%s must be a string of at most %lld bytes", where, a->key, a->max);
			return -EINVAL;
		}
		return 0;
	case PA_INT:
		if (!json_is_integer(v) || json_integer_value(v) < a->min || json_integer_value(v) > a->max) {
			ferr_set(err, "%s%s must be an integer from %lld to %lld", where, a->key, a->min, a->max);
			return -EINVAL;
		}
		return 0;
	case PA_BOOL:
		if (!json_is_boolean(v)) {
			ferr_set(err, "%s%s must be true or false", where, a->key);
			return -EINVAL;
		}
		return 0;
	case PA_OBJ: {
		char w[64];
		if (!json_is_object(v)) {
			ferr_set(err, "%s%s must be an object", where, a->key);
			return -EINVAL;
		}
		snprintf(w, sizeof(w), "%s%s.", where, a->key);
		return check_obj(w, a->sub, v, true, err);
	}
	case PA_RECORD: {
		if (!json_is_object(v) || !name_valid(json_string_value(json_object_get(v, "name")))) {
			ferr_set(err, "%s%s must be a migration record with a valid name", where, a->key);
			return -EINVAL;
		}
		size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
		if (n == 0 || n > (size_t)a->max) {
			ferr_set(err, "%s%s is larger than %lld bytes", where, a->key, a->max);
			return -EINVAL;
		}
		return 0;
	}
	case PA_SIZES: {
		const char *k;
		json_t *x;
		if (!json_is_object(v) || json_object_size(v) > 8) {
			ferr_set(err, "%s%s must be an object of at most 8 disks", where, a->key);
			return -EINVAL;
		}
		json_object_foreach(v, k, x) {
			if (!ident_valid(k, 7) || !json_is_integer(x) || json_integer_value(x) < a->min ||
			    json_integer_value(x) > a->max) {
				char ks[24];
				key_show(k, ks, sizeof(ks));
				ferr_set(err, "%s%s.%s must be a disk name with a size from %lld to %lld bytes", where, a->key,
					 ks, a->min, a->max);
				return -EINVAL;
			}
		}
		return 0;
	}
	case PA_NAMES: {
		const char *k;
		json_t *x;
		if (!json_is_object(v) || json_object_size(v) > 8) {
			ferr_set(err, "%s%s must be an object of at most 8 names", where, a->key);
			return -EINVAL;
		}
		json_object_foreach(v, k, x) {
			if (!name_valid(k) || !json_is_string(x) || json_string_length(x) > (size_t)a->max) {
				char ks[24];
				key_show(k, ks, sizeof(ks));
				ferr_set(err, "%s%s.%s must be a name with a string of at most %lld bytes", where, a->key, ks,
					 a->max);
				return -EINVAL;
			}
		}
		return 0;
	}
	}
	ferr_set(err, "%s%s: unknown argument type", where, a->key);
	return -EINVAL;
}

/* strict: unknown keys are refused (requests); else ignored (replies). */
static int check_obj(const char *where, const struct proto_arg *spec, json_t *obj, bool strict, struct ferr *err)
{
	const char *k;
	json_t *v;

	if (strict) {
		json_object_foreach(obj, k, v) {
			const struct proto_arg *a = spec;
			while (a->key && strcmp(a->key, k))
				a++;
			if (!a->key) {
				char ks[40];
				key_show(k, ks, sizeof(ks));
				ferr_set(err, "unknown argument '%s%s'", where, ks);
				return -EINVAL;
			}
		}
	}
	for (const struct proto_arg *a = spec; a->key; a++) {
		v = json_object_get(obj, a->key);
		if (!v) {
			if (a->required) {
				ferr_set(err, "argument '%s%s' is missing", where, a->key);
				return -EINVAL;
			}
			continue;
		}
		if (check_one(where, a, v, err) < 0)
			return -EINVAL;
	}
	return 0;
}

int proto_args_check(const struct proto_op *op, json_t *args, struct ferr *err)
{
	char where[64];
	json_t *empty = NULL;
	int r;

	if (!args)
		args = empty = json_object();
	if (!json_is_object(args)) {
		ferr_set(err, "the arguments of %s must be an object", op->name);
		return -EINVAL;
	}
	snprintf(where, sizeof(where), "%s: ", op->name);
	/* Errors read "create: argument 'config' is missing". */
	r = check_obj("", op->args, args, true, err);
	if (r < 0) {
		struct ferr e2;
		snprintf(e2.msg, sizeof(e2.msg), "%s", err->msg);
		ferr_set(err, "%s%s", where, e2.msg);
	}
	json_decref(empty);
	return r;
}

/* What a peer agent returns. Unknown keys are ignored (docs/protocol.md). */
static const struct proto_arg r_nbd[] = {
	{ "host", PA_ADDR, true, 0, 0, NULL },
	{ "port", PA_INT, true, 1, 65535, NULL },
	END,
};
static const struct proto_arg r_prepare[] = {
	{ "uri", PA_TEXT, true, 0, 128, NULL },
	{ "host", PA_NAME, true, 0, 0, NULL },
	{ "nbd", PA_OBJ, false, 0, 0, r_nbd },
	END,
};
static const struct proto_arg r_finish[] = {
	{ "host", PA_NAME, true, 0, 0, NULL },
	{ "resume_us", PA_INT, true, 0, INT64_MAX, NULL },
	{ "pid", PA_INT, false, 0, INT32_MAX, NULL },
	END,
};
static const struct proto_arg r_resumed[] = {
	{ "resume_us", PA_INT, false, 0, INT64_MAX, NULL },
	{ "ended", PA_BOOL, false, 0, 0, NULL },
	END,
};
static const struct proto_arg r_recover[] = { { "uri", PA_TEXT, true, 0, 128, NULL }, END };
static const struct proto_arg r_abort[] = { { "running", PA_BOOL, false, 0, 0, NULL }, END };
static const struct proto_arg r_copy_in[] = {
	{ "port", PA_INT, true, 1, 65535, NULL },
	{ "path", PA_TEXT, false, 1, 4096, NULL },
	END,
};
static const struct proto_arg r_copy_in_wait[] = {
	{ "path", PA_TEXT, true, 1, 4096, NULL },
	END,
};

static const struct {
	const char *op;
	const struct proto_arg *spec;
} results[] = {
	{ "mig-prepare", r_prepare },
	{ "mig-finish", r_finish },
	{ "mig-resumed", r_resumed },
	{ "mig-recover", r_recover },
	{ "mig-abort", r_abort },
	{ "copy-in", r_copy_in },
	{ "copy-in-wait", r_copy_in_wait },
};

int proto_result_check(const char *op, json_t *result, struct ferr *err)
{
	if (!json_is_object(result)) {
		ferr_set(err, "the reply to %s is not an object", op);
		return -EPROTO;
	}
	for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
		if (strcmp(results[i].op, op))
			continue;
		struct ferr e = {0};
		if (check_obj("", results[i].spec, result, false, &e) < 0) {
			ferr_set(err, "the reply to %s is malformed: %s", op, e.msg);
			return -EPROTO;
		}
	}
	return 0;
}

bool proto_same_addr(const char *a, const char *b)
{
	struct sockaddr_storage sa, sb;
	socklen_t la, lb;

	return sock_addr_parse(a, 0, &sa, &la) == 0 && sock_addr_parse(b, 0, &sb, &lb) == 0 && la == lb &&
	       !memcmp(&sa, &sb, la);
}

int proto_tcp_uri_check(const char *uri, const char *want_addr, char *addr, size_t addr_len, int *port,
			struct ferr *err)
{
	char host[64], shown[80];
	const char *colon, *h;
	size_t hl;
	long p;
	char *end;

	key_show(uri ? uri : "", shown, sizeof(shown));
	if (!uri || strncmp(uri, "tcp:", 4) || !(colon = strrchr(uri, ':')) || colon < uri + 4) {
		ferr_set(err, "the destination named a migration address that is not tcp:ADDRESS:PORT ('%s'): refused", shown);
		return -EPERM;
	}
	h = uri + 4;
	hl = colon - h;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
		h++, hl -= 2;
	if (hl == 0 || hl >= sizeof(host)) {
		ferr_set(err, "the destination named a migration address without a valid host ('%s'): refused", shown);
		return -EPERM;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || p < 1 || p > 65535) {
		ferr_set(err, "the destination named a migration address without a valid port ('%s'): refused", shown);
		return -EPERM;
	}
	if (!addr_valid(host)) {
		ferr_set(err, "the destination named a migration address that is not an IP address ('%s'): refused", shown);
		return -EPERM;
	}
	if (!proto_same_addr(host, want_addr)) {
		ferr_set(err, "the destination named a migration address (%s) that is not its own (%s): refused", shown,
			 want_addr ? want_addr : "?");
		return -EPERM;
	}
	if (strlen(host) >= addr_len) {
		ferr_set(err, "migration address too long");
		return -EPERM;
	}
	strcpy(addr, host);
	*port = (int)p;
	return 0;
}

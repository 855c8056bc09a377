/* facts_schema.c: the one place a host's facts are validated (preflight.h,
 * pf_facts_check): a peer agent's reply is hostile input like any other. */
#include "preflight/preflight.h"

#include <errno.h>
#include <string.h>

enum ft { F_STR, F_INT, F_NUM, F_BOOL, F_OBJ, F_OBJS, F_STRS };

struct field {
	const char *name;
	enum ft type;
	bool required;
	long long min, max;            /* ints; strings: length; lists: count */
	const struct field *sub;       /* F_OBJ, F_OBJS */
};
#define END { NULL, F_STR, false, 0, 0, NULL }
#define BIG (1LL << 60)

static const struct field f_qemu[] = {
	{ "version", F_INT, true, 0, 100000, NULL },
	{ "pc", F_STR, true, 0, PF_MAX_STR, NULL },
	{ "machine", F_STR, false, 0, PF_MAX_STR, NULL },
	{ "machine_ok", F_BOOL, false, 0, 0, NULL },
	END,
};
static const struct field f_kvm[] = {
	{ "usable", F_BOOL, true, 0, 0, NULL },
	{ "why", F_STR, false, 0, 300, NULL },
	END,
};
static const struct field f_cpu[] = {
	{ "model", F_STR, true, 1, PF_MAX_STR, NULL },
	{ "offered", F_BOOL, true, 0, 0, NULL },
	{ "limit", F_STR, false, 0, 1024, NULL },
	{ "flags", F_STRS, true, 0, PF_MAX_FLAGS, NULL },
	END,
};
static const struct field f_memory[] = {
	{ "available_mb", F_INT, true, 0, BIG, NULL },
	{ "total_mb", F_INT, true, 0, BIG, NULL },
	{ "limit_mb", F_INT, true, -1, BIG, NULL },
	{ "guests_mb", F_INT, true, 0, BIG, NULL },
	{ "hugepages_free", F_INT, true, 0, BIG, NULL },
	{ "hugepage_kb", F_INT, true, 0, BIG, NULL },
	END,
};
static const struct field f_mac[] = {
	{ "mac", F_STR, true, 17, 17, NULL },
	{ "vm", F_STR, true, 1, 32, NULL },
	END,
};
static const struct field f_bridge[] = {
	{ "name", F_STR, true, 1, 15, NULL },
	{ "exists", F_BOOL, true, 0, 0, NULL },
	END,
};
static const struct field f_disk[] = {
	{ "vdev", F_STR, true, 1, 7, NULL },
	{ "pool", F_STR, true, 0, 32, NULL },
	{ "shared", F_BOOL, true, 0, 0, NULL },
	{ "visible", F_BOOL, true, 0, 0, NULL },
	{ "used_by", F_STR, true, 0, 32, NULL },
	{ "cache", F_STR, true, 0, 15, NULL },
	{ "direct", F_BOOL, true, 0, 0, NULL },
	END,
};
static const struct field f_gdisk[] = {
	{ "vdev", F_STR, true, 1, 7, NULL },
	{ "shared", F_BOOL, true, 0, 0, NULL },
	{ "data_bytes", F_INT, true, 0, BIG, NULL },
	{ "size_bytes", F_INT, true, 0, BIG, NULL },
	END,
};
static const struct field f_vif[] = {
	{ "mac", F_STR, true, 17, 17, NULL },
	{ "bridge", F_STR, true, 1, 15, NULL },
	END,
};
static const struct field f_guest[] = {
	{ "name", F_STR, true, 1, 32, NULL },
	{ "memory_mb", F_INT, true, 1, BIG, NULL },
	{ "ram_bytes", F_INT, true, 0, BIG, NULL },
	{ "machine", F_STR, true, 0, PF_MAX_STR, NULL },
	{ "dirty_mb_s", F_NUM, true, -1, BIG, NULL },
	{ "disks", F_OBJS, true, 0, PF_MAX_LIST, f_gdisk },
	{ "vifs", F_OBJS, true, 0, PF_MAX_LIST, f_vif },
	END,
};
static const struct field f_host[] = {
	{ "host", F_STR, true, 1, 32, NULL },
	{ "protocol", F_INT, true, 0, 1000000, NULL },
	{ "version", F_STR, true, 0, 64, NULL },
	{ "time_us", F_INT, true, 0, BIG, NULL },
	{ "qemu", F_OBJ, true, 0, 0, f_qemu },
	{ "kvm", F_OBJ, true, 0, 0, f_kvm },
	{ "accel", F_STR, true, 3, 3, NULL },
	{ "cpu", F_OBJ, true, 0, 0, f_cpu },
	{ "memory", F_OBJ, true, 0, 0, f_memory },
	{ "name_taken", F_BOOL, true, 0, 0, NULL },
	{ "macs_taken", F_OBJS, true, 0, PF_MAX_LIST, f_mac },
	{ "bridges", F_OBJS, true, 0, PF_MAX_LIST, f_bridge },
	{ "disks", F_OBJS, true, 0, PF_MAX_LIST, f_disk },
	{ "disk_room_bytes", F_INT, true, -1, BIG, NULL },
	{ "allow_insecure", F_BOOL, true, 0, 0, NULL },
	{ "guest", F_OBJ, false, 0, 0, f_guest },
	END,
};

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 32 || *s == 127)
			return false;
	return true;
}

static int check_obj(json_t *o, const struct field *fs, const char *where, struct ferr *err);

static int check_value(json_t *v, const struct field *f, const char *where, struct ferr *err)
{
	switch (f->type) {
	case F_STR: {
		const char *s = json_string_value(v);
		size_t n = s ? json_string_length(v) : 0;
		if (!s || strlen(s) != n || (long long)n < f->min || (long long)n > f->max || !printable(s))
			goto bad;
		return 0;
	}
	case F_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			goto bad;
		return 0;
	case F_NUM:
		if (!json_is_number(v) || json_number_value(v) < f->min || json_number_value(v) > f->max ||
		    json_number_value(v) != json_number_value(v))
			goto bad;
		return 0;
	case F_BOOL:
		if (!json_is_boolean(v))
			goto bad;
		return 0;
	case F_OBJ:
		if (!json_is_object(v))
			goto bad;
		return check_obj(v, f->sub, f->name, err);
	case F_OBJS:
	case F_STRS: {
		size_t i;
		json_t *e;
		if (!json_is_array(v) || (long long)json_array_size(v) > f->max)
			goto bad;
		json_array_foreach(v, i, e) {
			if (f->type == F_OBJS) {
				if (!json_is_object(e) || check_obj(e, f->sub, f->name, err) < 0)
					goto bad;
			} else {
				const char *s = json_string_value(e);
				if (!s || json_string_length(e) > 64 || strlen(s) != json_string_length(e) || !printable(s))
					goto bad;
			}
		}
		return 0;
	}
	}
bad:
	if (!err->msg[0])
		ferr_set(err, "the host's facts are malformed: %s.%s", where, f->name);
	return -EPROTO;
}

static int check_obj(json_t *o, const struct field *fs, const char *where, struct ferr *err)
{
	const char *k;
	json_t *v;

	/* Nothing but the known members. */
	json_object_foreach(o, k, v) {
		const struct field *f = fs;
		while (f->name && strcmp(f->name, k))
			f++;
		if (!f->name) {
			ferr_set(err, "the host's facts are malformed: %s has an unknown member", where);
			return -EPROTO;
		}
		if (check_value(v, f, where, err) < 0)
			return -EPROTO;
	}
	for (const struct field *f = fs; f->name; f++)
		if (f->required && !json_object_get(o, f->name)) {
			ferr_set(err, "the host's facts are malformed: %s.%s is missing", where, f->name);
			return -EPROTO;
		}
	return 0;
}

int pf_facts_check(json_t *facts, bool guest, struct ferr *err)
{
	if (!json_is_object(facts)) {
		ferr_set(err, "the host's facts are malformed: not an object");
		return -EPROTO;
	}
	if (check_obj(facts, f_host, "facts", err) < 0)
		return -EPROTO;
	if (guest != (json_object_get(facts, "guest") != NULL)) {
		ferr_set(err, "the host's facts are malformed: facts.guest %s", guest ? "is missing" : "is not expected");
		return -EPROTO;
	}
	return 0;
}

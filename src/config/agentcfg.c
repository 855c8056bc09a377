/* agentcfg.c: parse and check ferryd's config. */
#include "config/agentcfg.h"
#include "config/cfgfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <limits.h>

void agentcfg_free(struct agent_config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	free(c->state_dir);
	free(c->metrics_file);
	free(c->key_file);
	free(c->qemu);
	for (int i = 0; i < c->n_vm_dirs; i++)
		free(c->vm_dirs[i]);
	for (int i = 0; i < c->n_ceph_dirs; i++)
		free(c->ceph_dirs[i]);
	for (int i = 0; i < c->n_cpu_models; i++)
		free(c->cpu_models[i]);
	free(c);
}

static int need_str(const struct cfg_doc *d, const struct cfg_entry *e, struct ferr *err)
{
	if (e->val.type == CFG_STR && e->val.str[0])
		return 0;
	ferr_set(err, "%s:%d: '%s' must be a non-empty quoted string", d->path, e->line, e->key);
	return -EINVAL;
}

static int need_size(const struct cfg_doc *d, const struct cfg_entry *e, long long lo, long long hi, long long *out,
		     struct ferr *err)
{
	if (e->val.type != CFG_INT || e->val.num < lo || e->val.num > hi) {
		ferr_set(err, "%s:%d: '%s' must be a number of bytes from %lld to %lld", d->path, e->line, e->key, lo, hi);
		return -EINVAL;
	}
	*out = e->val.num;
	return 0;
}

/* path without trailing slashes ("/" stays "/"). */
static char *dir_clean(const char *path)
{
	char *s = xstrdup(path);
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = 0;
	return s;
}

/* vm_dirs, ceph_dirs: absolute, resolved directories (a symlinked one is
 * resolved now, so that a later check compares real paths). */
static int parse_dirs(const struct cfg_doc *d, const struct cfg_entry *e, char **dirs, int *n, struct ferr *err)
{
	if (e->val.type != CFG_LIST || e->val.n_items > AGENT_MAX_VM_DIRS - 1 || *n) {
		ferr_set(err, "%s:%d: '%s' must be a list of at most %d directories, given once", d->path, e->line, e->key,
			 AGENT_MAX_VM_DIRS - 1);
		return -EINVAL;
	}
	for (size_t j = 0; j < e->val.n_items; j++) {
		const struct cfg_value *v = &e->val.items[j];
		char real[PATH_MAX];
		if (v->type != CFG_STR || v->str[0] != '/') {
			ferr_set(err, "%s:%d: each of '%s' must be an absolute path", d->path, v->line, e->key);
			return -EINVAL;
		}
		if (!realpath(v->str, real)) {
			ferr_set(err, "%s:%d: %s: %s: %s", d->path, v->line, e->key, v->str, strerror(errno));
			return -EINVAL;
		}
		dirs[(*n)++] = dir_clean(real);
	}
	return 0;
}

/* cpu_models = [ "qemu64", "Nehalem" ]: what this host lets its guests
 * see (an operator's pick of a model every host of theirs can offer). */
static int parse_cpu_models(const struct cfg_doc *d, const struct cfg_entry *e, struct agent_config *c,
			    struct ferr *err)
{
	if (e->val.type != CFG_LIST || e->val.n_items == 0 || e->val.n_items > AGENT_MAX_CPU_MODELS) {
		ferr_set(err, "%s:%d: 'cpu_models' must be a list of 1 to %d CPU model names", d->path, e->line,
			 AGENT_MAX_CPU_MODELS);
		return -EINVAL;
	}
	for (size_t j = 0; j < e->val.n_items; j++) {
		const struct cfg_value *v = &e->val.items[j];
		if (v->type != CFG_STR || !vm_cpu_model_valid(v->str)) {
			ferr_set(err, "%s:%d: each of 'cpu_models' must be a CPU model's name (qemu-system-x86_64 -cpu help)",
				 d->path, v->line);
			return -EINVAL;
		}
		c->cpu_models[c->n_cpu_models++] = xstrdup(v->str);
	}
	return 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strcmp(dir, "/") ? path[0] == '/' : !strncmp(path, dir, n) && path[n] == '/';
}

bool agentcfg_ceph_conf_allowed(const struct agent_config *c, const char *path)
{
	if (!c->n_ceph_dirs)
		return under(path, "/etc/ceph");
	for (int i = 0; i < c->n_ceph_dirs; i++)
		if (under(path, c->ceph_dirs[i]))
			return true;
	return false;
}

bool agentcfg_path_allowed(const struct agent_config *c, const char *path)
{
	for (int i = 0; i < c->n_vm_dirs; i++) {
		const char *dir = c->vm_dirs[i];
		size_t n = strlen(dir);
		if (!strcmp(dir, "/"))
			return path[0] == '/';
		if (!strncmp(path, dir, n) && path[n] == '/')
			return true;
	}
	return false;
}

static int parse_listen(const struct cfg_doc *d, const struct cfg_entry *e, struct agent_config *c, bool *tcp,
			struct ferr *err)
{
	if (e->val.type != CFG_LIST || e->val.n_items > AGENT_MAX_LISTEN) {
		ferr_set(err, "%s:%d: 'listen' must be a list of at most %d addresses", d->path, e->line, AGENT_MAX_LISTEN);
		return -EINVAL;
	}
	for (size_t j = 0; j < e->val.n_items; j++) {
		const struct cfg_value *v = &e->val.items[j];
		if (v->type != CFG_STR || (strncmp(v->str, "unix:/", 6) && strncmp(v->str, "tcp:", 4))) {
			ferr_set(err, "%s:%d: listen address must be \"unix:/PATH\" or \"tcp:ADDR:PORT\"", d->path, v->line);
			return -EINVAL;
		}
		*tcp |= !strncmp(v->str, "tcp:", 4);
		c->listen[c->n_listen++] = xstrdup(v->str);
	}
	return 0;
}

static int parse_accel(const struct cfg_doc *d, const struct cfg_entry *e, struct agent_config *c, struct ferr *err)
{
	int r = need_str(d, e, err);

	if (r)
		return r;
	if (!strcmp(e->val.str, "kvm"))
		c->accel = ACCEL_KVM;
	else if (!strcmp(e->val.str, "tcg"))
		c->accel = ACCEL_TCG;
	else if (strcmp(e->val.str, "auto")) {
		ferr_set(err, "%s:%d: accel '%s' is not one of auto, kvm, tcg", d->path, e->line, e->val.str);
		return -EINVAL;
	}
	return 0;
}

static int parse_group(const struct cfg_doc *d, const struct cfg_entry *e, struct agent_config *c, struct ferr *err)
{
	int r = need_str(d, e, err);
	struct group *g;

	if (r)
		return r;
	if (!(g = getgrnam(e->val.str))) {
		ferr_set(err, "%s:%d: no group named '%s'", d->path, e->line, e->val.str);
		return -EINVAL;
	}
	c->unix_gid = (int)g->gr_gid;
	return 0;
}

/* A string key into *dst (strdup'ed). */
static int parse_str(const struct cfg_doc *d, const struct cfg_entry *e, char **dst, struct ferr *err)
{
	int r = need_str(d, e, err);

	if (!r)
		*dst = xstrdup(e->val.str);
	return r;
}

/* One entry of the file into c. */
static int parse_entry(const struct cfg_doc *d, const struct cfg_entry *e, struct agent_config *c, bool *tcp,
		       struct ferr *err)
{
	int r;

	if (!strcmp(e->key, "host")) {
		if (!(r = need_str(d, e, err)) && !ident_valid(e->val.str, VM_NAME_MAX)) {
			ferr_set(err, "%s:%d: host '%s' is not a plain identifier", d->path, e->line, e->val.str);
			r = -EINVAL;
		}
		if (!r)
			snprintf(c->host, sizeof(c->host), "%s", e->val.str);
		return r;
	}
	if (!strcmp(e->key, "listen"))
		return parse_listen(d, e, c, tcp, err);
	if (!strcmp(e->key, "state_dir"))
		return parse_str(d, e, &c->state_dir, err);
	if (!strcmp(e->key, "key_file"))
		return parse_str(d, e, &c->key_file, err);
	if (!strcmp(e->key, "qemu"))
		return parse_str(d, e, &c->qemu, err);
	if (!strcmp(e->key, "accel"))
		return parse_accel(d, e, c, err);
	if (!strcmp(e->key, "allow_insecure")) {
		if (e->val.type != CFG_INT || (e->val.num != 0 && e->val.num != 1)) {
			ferr_set(err, "%s:%d: 'allow_insecure' must be 0 or 1", d->path, e->line);
			return -EINVAL;
		}
		c->allow_insecure = e->val.num == 1;
		return 0;
	}
	if (!strcmp(e->key, "vm_dirs"))
		return parse_dirs(d, e, c->vm_dirs, &c->n_vm_dirs, err);
	if (!strcmp(e->key, "ceph_dirs"))
		return parse_dirs(d, e, c->ceph_dirs, &c->n_ceph_dirs, err);
	if (!strcmp(e->key, "history_max_bytes"))
		return need_size(d, e, 64 * 1024, 1LL << 34, &c->history_max_bytes, err);
	if (!strcmp(e->key, "log_max_bytes"))
		return need_size(d, e, 64 * 1024, 1LL << 34, &c->log_max_bytes, err);
	if (!strcmp(e->key, "client_queue_max"))
		return need_size(d, e, 64 * 1024, 1LL << 30, &c->client_queue_max, err);
	if (!strcmp(e->key, "unix_group"))
		return parse_group(d, e, c, err);
	if (!strcmp(e->key, "cpu_models"))
		return parse_cpu_models(d, e, c, err);
	if (!strcmp(e->key, "metrics_file")) {
		if (e->val.type != CFG_STR || (e->val.str[0] && e->val.str[0] != '/')) {
			ferr_set(err, "%s:%d: 'metrics_file' must be an absolute path, or \"\" for none", d->path, e->line);
			return -EINVAL;
		}
		free(c->metrics_file);
		c->metrics_file = xstrdup(e->val.str);   /* "": none (complete) */
		return 0;
	}
	if (!strcmp(e->key, "guest_memory_mb")) {
		if (e->val.type != CFG_INT || e->val.num < 16 || e->val.num > (1LL << 30)) {
			ferr_set(err, "%s:%d: 'guest_memory_mb' must be a number of MiB from 16 to %lld", d->path, e->line,
				 1LL << 30);
			return -EINVAL;
		}
		c->guest_memory_mb = e->val.num;
		return 0;
	}
	ferr_set(err, "%s:%d: unknown key '%s' (host, listen, state_dir, key_file, qemu, accel, allow_insecure, "
		 "vm_dirs, ceph_dirs, history_max_bytes, log_max_bytes, client_queue_max, unix_group, cpu_models, "
		 "guest_memory_mb, metrics_file)",
		 d->path, e->line, e->key);
	return -EINVAL;
}

/* What the file must say, and the defaults. */
static int complete(const struct cfg_doc *d, struct agent_config *c, bool tcp, struct ferr *err)
{
	if (!c->host[0]) {
		ferr_set(err, "%s: 'host' is required", d->path);
		return -EINVAL;
	}
	if (!c->state_dir) {
		ferr_set(err, "%s: 'state_dir' is required", d->path);
		return -EINVAL;
	}
	if (c->n_listen == 0) {
		ferr_set(err, "%s: 'listen' is required (for example [ \"unix:/run/ferry/ferryd.sock\" ])", d->path);
		return -EINVAL;
	}
	if (tcp && !c->key_file) {
		ferr_set(err, "%s: a tcp listener needs 'key_file' (every TCP connection is TLS with a pre-shared key)", d->path);
		return -EINVAL;
	}
	if (!c->qemu)
		c->qemu = xstrdup("qemu-system-x86_64");
	if (c->state_dir[0] != '/') {
		ferr_set(err, "%s: 'state_dir' must be an absolute path", d->path);
		return -EINVAL;
	}
	if (!c->metrics_file) {
		struct buf b = {0};
		buf_printf(&b, "%s/metrics.prom", c->state_dir);
		c->metrics_file = b.data;
	} else if (!c->metrics_file[0]) {
		free(c->metrics_file);
		c->metrics_file = NULL;
	}
	if (c->n_vm_dirs < AGENT_MAX_VM_DIRS) {
		/* Resolved if it exists already: paths are compared resolved. */
		char real[PATH_MAX];
		c->vm_dirs[c->n_vm_dirs++] = dir_clean(realpath(c->state_dir, real) ? real : c->state_dir);
	}
	return 0;
}

int agentcfg_parse(const char *text, size_t len, const char *path, struct agent_config **out, struct ferr *err)
{
	struct cfg_doc *d;
	struct agent_config *c;
	bool tcp = false;
	int r = cfg_parse(text, len, path, &d, err);

	if (r < 0)
		return r;
	c = xcalloc(1, sizeof(*c));
	c->history_max_bytes = AGENT_HISTORY_MAX_DEFAULT;
	c->guest_memory_mb = -1;
	c->log_max_bytes = AGENT_LOG_MAX_DEFAULT;
	c->client_queue_max = AGENT_CLIENT_QUEUE_DEFAULT;
	c->unix_gid = -1;
	for (size_t i = 0; i < d->n && r == 0; i++)
		r = parse_entry(d, &d->entries[i], c, &tcp, err);
	if (!r)
		r = complete(d, c, tcp, err);
	cfg_doc_free(d);
	if (r < 0) {
		agentcfg_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int agentcfg_load(const char *path, struct agent_config **out, struct ferr *err)
{
	char *text;
	size_t len;
	int r = cfg_read_file(path, &text, &len, err);

	if (r < 0)
		return r;
	r = agentcfg_parse(text, len, path, out, err);
	free(text);
	return r;
}

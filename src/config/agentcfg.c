/* agentcfg.c: parse and check ferryd's config. */
#include "config/agentcfg.h"
#include "config/cfgfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agentcfg_free(struct agent_config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	free(c->state_dir);
	free(c->key_file);
	free(c->qemu);
	free(c);
}

static int need_str(const struct cfg_doc *d, const struct cfg_entry *e, struct ferr *err)
{
	if (e->val.type == CFG_STR && e->val.str[0])
		return 0;
	ferr_set(err, "%s:%d: '%s' must be a non-empty quoted string", d->path, e->line, e->key);
	return -EINVAL;
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
	for (size_t i = 0; i < d->n && r == 0; i++) {
		const struct cfg_entry *e = &d->entries[i];
		if (!strcmp(e->key, "host")) {
			if (!(r = need_str(d, e, err)) && !ident_valid(e->val.str, VM_NAME_MAX)) {
				ferr_set(err, "%s:%d: host '%s' is not a plain identifier", d->path, e->line, e->val.str);
				r = -EINVAL;
			}
			if (!r)
				snprintf(c->host, sizeof(c->host), "%s", e->val.str);
		} else if (!strcmp(e->key, "listen")) {
			if (e->val.type != CFG_LIST || e->val.n_items > AGENT_MAX_LISTEN) {
				ferr_set(err, "%s:%d: 'listen' must be a list of at most %d addresses", d->path, e->line, AGENT_MAX_LISTEN);
				r = -EINVAL;
				break;
			}
			for (size_t j = 0; j < e->val.n_items; j++) {
				const struct cfg_value *v = &e->val.items[j];
				if (v->type != CFG_STR || (strncmp(v->str, "unix:/", 6) && strncmp(v->str, "tcp:", 4))) {
					ferr_set(err, "%s:%d: listen address must be \"unix:/PATH\" or \"tcp:ADDR:PORT\"", d->path, v->line);
					r = -EINVAL;
					break;
				}
				tcp |= !strncmp(v->str, "tcp:", 4);
				c->listen[c->n_listen++] = xstrdup(v->str);
			}
		} else if (!strcmp(e->key, "state_dir")) {
			if (!(r = need_str(d, e, err)))
				c->state_dir = xstrdup(e->val.str);
		} else if (!strcmp(e->key, "key_file")) {
			if (!(r = need_str(d, e, err)))
				c->key_file = xstrdup(e->val.str);
		} else if (!strcmp(e->key, "qemu")) {
			if (!(r = need_str(d, e, err)))
				c->qemu = xstrdup(e->val.str);
		} else if (!strcmp(e->key, "accel")) {
			if (!(r = need_str(d, e, err))) {
				if (!strcmp(e->val.str, "kvm")) c->accel = ACCEL_KVM;
				else if (!strcmp(e->val.str, "tcg")) c->accel = ACCEL_TCG;
				else if (strcmp(e->val.str, "auto")) {
					ferr_set(err, "%s:%d: accel '%s' is not one of auto, kvm, tcg", d->path, e->line, e->val.str);
					r = -EINVAL;
				}
			}
		} else {
			ferr_set(err, "%s:%d: unknown key '%s' (host, listen, state_dir, key_file, qemu, accel)",
				 d->path, e->line, e->key);
			r = -EINVAL;
		}
	}
	if (!r && !c->host[0]) {
		ferr_set(err, "%s: 'host' is required", d->path);
		r = -EINVAL;
	}
	if (!r && !c->state_dir) {
		ferr_set(err, "%s: 'state_dir' is required", d->path);
		r = -EINVAL;
	}
	if (!r && c->n_listen == 0) {
		ferr_set(err, "%s: 'listen' is required (for example [ \"unix:/run/ferry/ferryd.sock\" ])", d->path);
		r = -EINVAL;
	}
	if (!r && tcp && !c->key_file) {
		ferr_set(err, "%s: a tcp listener needs 'key_file' (every TCP connection is TLS with a pre-shared key)", d->path);
		r = -EINVAL;
	}
	if (!r && !c->qemu)
		c->qemu = xstrdup("qemu-system-x86_64");
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
	int r = file_read_all(path, CFG_MAX_BYTES, &text, &len);

	if (r < 0) {
		ferr_set(err, "%s: %s", path, strerror(-r));
		return r;
	}
	r = agentcfg_parse(text, len, path, out, err);
	free(text);
	return r;
}

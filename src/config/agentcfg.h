/* agentcfg.h: ferryd's own config file (same syntax as VM configs). */
#ifndef FERRY_AGENTCFG_H
#define FERRY_AGENTCFG_H

#include "config/vmcfg.h"

#define AGENT_MAX_LISTEN 8

struct agent_config {
	char host[VM_NAME_MAX + 1];        /* this host's name, e.g. "a" */
	char *listen[AGENT_MAX_LISTEN];    /* "unix:/path" or "tcp:ADDR:PORT" */
	int n_listen;
	char *state_dir;
	char *key_file;                    /* required when a tcp: listener is set */
	char *qemu;                        /* QEMU binary (default qemu-system-x86_64) */
	enum vm_accel accel;               /* default for VMs that say "auto" */
};

int agentcfg_load(const char *path, struct agent_config **out, struct ferr *err);
int agentcfg_parse(const char *text, size_t len, const char *path, struct agent_config **out, struct ferr *err);
void agentcfg_free(struct agent_config *c);

#endif

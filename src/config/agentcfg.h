/* agentcfg.h: ferryd's own config file (same syntax as VM configs). */
#ifndef FERRY_AGENTCFG_H
#define FERRY_AGENTCFG_H

#include "config/vmcfg.h"

#define AGENT_MAX_LISTEN 8
#define AGENT_MAX_VM_DIRS 16
#define AGENT_HISTORY_MAX_DEFAULT (8LL << 20)   /* ~8,000 records */
#define AGENT_LOG_MAX_DEFAULT (4LL << 20)
#define AGENT_CLIENT_QUEUE_DEFAULT (4LL << 20)

#define AGENT_MAX_CPU_MODELS 32

struct agent_config {
	char host[VM_NAME_MAX + 1];        /* this host's name, e.g. "a" */
	char *listen[AGENT_MAX_LISTEN];    /* "unix:/path" or "tcp:ADDR:PORT" */
	int n_listen;
	char *state_dir;
	char *key_file;                    /* required when a tcp: listener is set */
	char *qemu;                        /* QEMU binary (default qemu-system-x86_64) */
	enum vm_accel accel;               /* default for VMs that say "auto" */
	bool allow_insecure;               /* accept --insecure moves (a plaintext stream) */
	char *vm_dirs[AGENT_MAX_VM_DIRS];  /* where VM files (kernel, initrd, disks) may be */
	int n_vm_dirs;                     /* state_dir is always one of them */
	long long history_max_bytes;       /* history.jsonl and its predecessor together */
	long long log_max_bytes;           /* each VM's serial.log and events.jsonl */
	long long client_queue_max;        /* bytes queued to one client before it is held back */
	char *cpu_models[AGENT_MAX_CPU_MODELS]; /* the CPU models guests may have here; none listed: any QEMU knows */
	int n_cpu_models;
	long long guest_memory_mb;         /* RAM all guests here may have together; -1: no limit but the host's */
	int unix_gid;                      /* -1: only root on the Unix socket; else root or this group */
	char *ceph_dirs[AGENT_MAX_VM_DIRS]; /* where an rbd pool's ceph.conf may be; none listed: /etc/ceph */
	int n_ceph_dirs;
	char *metrics_file;                /* Prometheus textfile (docs/downtime.md); NULL: none */
};

int agentcfg_load(const char *path, struct agent_config **out, struct ferr *err);
int agentcfg_parse(const char *text, size_t len, const char *path, struct agent_config **out, struct ferr *err);
void agentcfg_free(struct agent_config *c);
/* Is path (absolute, already resolved: no symlink, no "..") inside one of
 * the directories VM files may come from? */
bool agentcfg_path_allowed(const struct agent_config *c, const char *path);
/* The same for a Ceph configuration file (ceph_dirs, default /etc/ceph). */
bool agentcfg_ceph_conf_allowed(const struct agent_config *c, const char *path);

#endif

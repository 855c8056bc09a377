/* sbench.h: ferry storage bench (cmd_storage.c): the guest and host-side
 * helpers it runs its jobs with (sbench_exec.c) and its output (sbench_out.c). */
#ifndef FERRY_SBENCH_H
#define FERRY_SBENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cli/cli.h"
#include "cli/lab_ceph.h"

#define SB_OUT_MAX (256 * 1024)   /* output kept of any command */

/* The bench guest and its volumes. */
#define VM_NAME "sbench"
#define VM_IP "10.77.0.20"
#define VM_MAC "52:54:00:77:00:20"
#define ROOT_VOL "sbench-root.qcow2"
#define ROOT_VOL_RBD "sbench-root"   /* RBD volumes are raw images */
#define SCRATCH_VOL "sbench-scratch.raw"
#define SCRATCH_MB 256
#define NBD_SOCK "/run/ferry-lab/sbench-nbd.sock"
#define MAX_LIST 4

/* The bench's state (cmd_storage.c), shared with its fault part. */
struct sb {
	struct cli *cli;
	const char *image_dir;
	int runs, seconds, wrk_seconds, conns;
	int jobs[MAX_LIST], n_jobs, depths[MAX_LIST], n_depths;
	bool migrate, csv;
	int fault_at, fault_for, fault_after;   /* --fault: seconds; fault_for 0: no fault bench */
	json_t *fault;         /* the fault bench's record: rec.fault */
	char self[512], tmp[128];
	json_t *rec;           /* what the bench found */
	/* The pool under test. */
	json_t *pool;          /* its pool-info on a */
	const char *pname, *ptype;
	pid_t server;          /* ganesha or smbd (process group), 0: none */
	pid_t osds[LAB_CEPH_HOSTS]; /* rbd: the OSDs, the cluster's servers */
	const char *root_vol, *root_fmt;
	pid_t agent;           /* agent a */
};

/* ferry itself, as a child: args after the program name, NULL-ended. Its
 * exit status, output in *out (caller frees). */
int sb_ferry(struct sb *b, char **out, int timeout_s, const char *a0, ...);
/* True once Ctrl-C (or SIGTERM) asked the bench to stop. */
bool sb_stop_asked(void);
/* Waits up to limit_s for the bench guest's page from the lab's client: 0 or -1. */
int sb_wait_http(struct sb *b, int limit_s);

/* --fault (sbench_fault.c): the guest on the pool under test is up on host
 * a; runs the outage of its storage server with the load, the writer and a
 * live move, adds the pool's figures and series to b->fault. 0 or -1. */
int sb_fault_pool(struct sb *b, struct ferr *err);
/* Whether the pool type has a server --fault can stop (NULL) or why not;
 * what --fault stops for it. */
const char *sb_fault_unfit(const char *pool_type);
const char *sb_fault_victim(const char *pool_type);
#define MOVE_AFTER_S 5   /* --fault: from the stop to the live move */

/* Runs cmd in the root shell on the VM's serial console (host's agent) and
 * waits up to timeout_s for it to end: 0 with its output (lines only, the
 * shell's echo dropped; caller frees) and its exit status in *status, or -1
 * with err. The guest is hostile: its output is bounded. */
int sb_guest_run(const struct cli *cli, const char *host, const char *vm, const char *cmd, int timeout_s, char **out,
		 int *status, struct ferr *err);

/* Runs argv (no shell) with stdout and stderr captured (bounded): its exit
 * status (or -1 when it could not run or ran out of time: then ended). */
int sb_run(char *const argv[], int timeout_s, char **out);
/* Starts argv in the background, stdout and stderr to the file out_path
 * (NULL: /dev/null): its pid, or -1. */
pid_t sb_spawn(char *const argv[], const char *out_path);
/* Ends a child of ours: sig, then SIGKILL after wait_ms; reaps it. */
void sb_end(pid_t pid, int sig, int wait_ms);

/* CPU seconds (user + system) of pid; of every process in group pgid; of
 * the children of ppid named comm. 0 when none. */
double sb_cpu_pid(pid_t pid);
double sb_cpu_group(pid_t pgid);
double sb_cpu_children(pid_t ppid, const char *comm);
pid_t sb_child_named(pid_t ppid, const char *comm);

/* Drops a file's pages from the page cache (after writing back its dirty
 * ones): the storage server's cache made cold for one image. */
void sb_drop_file_cache(const char *path);

/* Output (sbench_out.c): medians over runs, with the 95% CI of the median,
 * for every (pool, side, job) in the record; table, CSV, HTML section. */
void sb_print_table(json_t *rec);
void sb_print_csv(json_t *rec);
/* Adds "summary" to rec (medians, CIs). */
void sb_summarize(json_t *rec);

#endif

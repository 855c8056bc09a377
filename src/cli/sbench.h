/* sbench.h: ferry storage bench (cmd_storage.c): the guest and host-side
 * helpers it runs its jobs with (sbench_exec.c) and its output (sbench_out.c). */
#ifndef FERRY_SBENCH_H
#define FERRY_SBENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cli/cli.h"

#define SB_OUT_MAX (256 * 1024)   /* output kept of any command */

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

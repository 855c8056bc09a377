/* cli.h: the ferry CLI's shared pieces: global options, the agent client,
 * and one function per verb (cmd_*.c). */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include "util/util.h"

struct cli {
	const char *host;      /* -H NAME, NULL: the local agent */
	const char *hosts;     /* hosts file */
	const char *socket;    /* local agent socket */
	const char *key;       /* key file override */
	bool json;
	int timeout_ms;        /* per request */
};

struct agent_conn;

/* Connects to the agent named by cli->host (or the local one) and reads its
 * greeting. Prints nothing; err says why on failure. */
int agent_connect(const struct cli *cli, const char *host, struct agent_conn **out, struct ferr *err);
/* Sends op with args (stolen) and waits for the reply: 0 and a new reference
 * in *result, or -errno with err (the agent's sentence if it refused). */
int agent_call(struct agent_conn *c, const char *op, json_t *args, int timeout_ms, json_t **result, struct ferr *err);
/* As agent_call; progress messages for the request go to on_progress. */
typedef void (*agent_progress_fn)(json_t *progress, void *opaque);
int agent_call_progress(struct agent_conn *c, const char *op, json_t *args, int timeout_ms, json_t **result,
			struct ferr *err, agent_progress_fn on_progress, void *opaque);
const char *agent_host(const struct agent_conn *c);
int agent_fd(const struct agent_conn *c);
/* Raw byte access after a mode switch (console). */
ssize_t agent_read_raw(struct agent_conn *c, void *p, size_t n);
int agent_write_raw(struct agent_conn *c, const void *p, size_t n);
bool agent_pending(const struct agent_conn *c);
void agent_close(struct agent_conn *c);

/* Connects, calls, prints "ferry: <reason>" on failure. Returns 0 or 1. */
int cli_call(const struct cli *cli, const char *op, json_t *args, json_t **result);
void cli_print_json(json_t *v);
/* Prints a verb's usage + help text. */
int cli_usage(const char *verb, bool to_stderr);

typedef int (*verb_fn)(struct cli *cli, int argc, char **argv);
struct verb {
	const char *name;
	verb_fn fn;
	const char *usage;
	const char *help;
};

int cmd_create(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_shutdown(struct cli *cli, int argc, char **argv);
int cmd_destroy(struct cli *cli, int argc, char **argv);
int cmd_console(struct cli *cli, int argc, char **argv);
int cmd_lab(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_evacuate(struct cli *cli, int argc, char **argv);
int cmd_import_xl(struct cli *cli, int argc, char **argv);
int cmd_convert(struct cli *cli, int argc, char **argv);
/* migrate's options (check takes the same): the agent's opts into m->opts;
 * 0, or 2 (the exit status) after saying why. */
struct migrate_args {
	json_t *opts;            /* for the agent */
	const char *special;     /* "migrate-cancel" or "migrate-recover" */
	const char *probe;
	bool timeline;
	const char *timeline_svg;  /* --timeline FILE.svg */
};
int migrate_parse_opts(struct cli *cli, int argc, char **argv, struct migrate_args *m);
/* The arguments of a move of NAME to the host dest (hosts file entry)
 * with the agent's opts (borrowed): for the ops migrate and vm-check. */
struct host_entry;
json_t *migrate_request(const char *name, const struct host_entry *dest, json_t *opts);
/* One move of NAME from host src (NULL: the local agent) to dest with the
 * agent's opts (borrowed), as ferry migrate makes it, --probe included:
 * 0 and the result record in *rec; -EINVAL (a bad probe), -EEXIST (the same
 * host), -ENOENT (an unknown host) or -EIO (the move failed; the guest is
 * where the agent's sentence says) with err. Progress goes to on_prog. */
int migrate_one(struct cli *cli, const char *src, const char *name, const char *dest, json_t *opts,
		const char *probe, bool timeline, agent_progress_fn on_prog, void *opaque, json_t **rec, struct ferr *err);
int cmd_history(struct cli *cli, int argc, char **argv);
int cmd_pool(struct cli *cli, int argc, char **argv);
int cmd_vol(struct cli *cli, int argc, char **argv);
int cmd_probe(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);
int cmd_bench_command(struct cli *cli, int argc, char **argv);

/* --probe ADDR[:methods]: a child process probes the guest during a move and
 * hands its samples back through a file (cmd_migrate.c). */
#include "probe/probe.h"
struct prober {
	pid_t pid;
	char path[64];
	struct probe_cfg cfg;
	bool timeline;   /* add every reply time to the record (ferry bench --report) */
};
int cli_prober_start(struct prober *p, const char *spec, struct ferr *err);
/* Stops the prober a moment later and adds the gaps to rec. */
void cli_prober_finish(struct prober *p, json_t *rec);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_storage(struct cli *cli, int argc, char **argv);
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_save(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
/* The lab's switches' namespace (br-switch, the VM network). */
#define LAB_SWITCH_NETNS "/run/netns/ferry-net"
/* The pid of the lab agent of host ("a", "b"), or 0 when it does not run. */
#include <sys/types.h>
pid_t lab_agent_pid(const char *host);

/* "VERB NAME" with only global options: the name, or NULL after saying
 * what is wrong. */
const char *cli_one_name(struct cli *cli, int argc, char **argv);
/* "12m05s" since started_us (realtime microseconds). */
void cli_format_uptime(long long started_us, char *out, size_t n);

/* One probe method's gap analysis as JSON; times shifted by offset_us
 * (0: monotonic; realtime - monotonic: to line up with QEMU's events). */
struct probe_gaps;
json_t *cli_gaps_json(const struct probe_gaps *g, int interval_us, int64_t offset_us);
struct probe_guest;
/* The heartbeat collector's findings (probe_guest_analyze) as JSON. */
json_t *cli_guest_json(const struct probe_guest *g, int64_t offset_us);

/* cli_opts.c. getopt_long over the verb's options (shortopts, verb_opts;
 * either may be NULL) plus the global ones, which it applies to cli: the
 * verb's option codes, -1 at the end (optind at the first operand), '?'
 * after printing what is wrong (unknown option, missing or bad value). */
struct option;
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *verb_opts);
/* A global option by code ('H' or from the table): 1 applied, 0 not a
 * global one, -1 bad value (message printed). */
int cli_global_opt(struct cli *cli, int code, const char *arg);
/* After cli_getopt: exactly `want` operands left, else a message and -1. */
int cli_args_done(int argc, char **argv, int want);
/* One way to read a number: decimal, no trailing text, within lo..hi;
 * else "ferry: WHAT needs a whole number from LO to HI, not 'S'" and -EINVAL. */
int cli_parse_num(const char *what, const char *s, long long lo, long long hi, long long *out);
/* The same for a decimal fraction (--interval-ms 0.5). */
int cli_parse_real(const char *what, const char *s, double lo, double hi, double *out);

/* True if argv holds -h/--help; verbs then print their usage. */
bool want_help(int argc, char **argv);

#endif

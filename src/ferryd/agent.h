/* agent.h: ferryd's state: its config, the VMs it owns, its clients.
 * Everything runs on one thread, in the event loop. */
#ifndef FERRYD_AGENT_H
#define FERRYD_AGENT_H

#include <jansson.h>
#include <sys/types.h>
#include "config/agentcfg.h"
#include "ferryd/request.h"
#include "ferryd/loop.h"
#include "net/l2probe.h"
#include "net/stream.h"
#include "qmp/qmp.h"
#include "stats/metrics.h"
#include "util/jsonframe.h"

struct request;
struct pool;
struct mig_prep;
struct child;

enum vm_state { VM_STARTING, VM_INCOMING, VM_RUNNING, VM_PAUSED, VM_SHUTTING_DOWN, VM_GONE };

/* A request waiting for a VM to reach a state (create: running; shutdown and
 * destroy: gone). Points at its client by id: the client may leave first. */
enum wait_kind { WAIT_RUNNING, WAIT_GONE };
struct vm;
/* A waiter either answers a client request or calls fn (err NULL: reached). */
typedef void (*vm_wait_fn)(struct vm *vm, const char *err, void *opaque);
struct waiter {
	enum wait_kind kind;
	struct request *req;    /* answered when the wait ends; NULL: fn instead */
	vm_wait_fn fn;
	void *opaque;
	long timer_id;          /* deadline; 0: none */
	struct vm *vm;
	struct waiter *next;
};

/* Who follows a VM: the migration code registers here (vm.c knows nothing
 * of migrations). on_event: each QMP event; on_gone: the QEMU ended (the
 * listener is removed right after); describe: a member of the VM's status
 * named after the listener; busy: the VM may not be paused, moved or
 * prepared again while such a listener is there; outgoing: the VM's
 * MIGRATION events are about an outgoing stream. */
struct vm_listener_ops {
	const char *name;
	bool busy, outgoing;
	void (*on_event)(void *opaque, struct vm *vm, const char *event, json_t *data, int64_t qemu_us);
	void (*on_gone)(void *opaque, struct vm *vm);
	json_t *(*describe)(void *opaque);
};
struct vm_listener {
	const struct vm_listener_ops *ops;
	void *opaque;
	struct vm_listener *next;
};

struct vm {
	struct agent *ag;
	struct vm_config *cfg;
	char dir[512];          /* state_dir/vms/NAME */
	enum vm_state state;
	enum vm_accel accel;    /* what QEMU was started with */
	long ram_kb;            /* guest RAM QEMU was given (-m); 0: not known */
	pid_t launcher;         /* vm.c's launcher: exits once QEMU serves QMP (0) or failed */
	pid_t pid;              /* the running QEMU */
	int pidfd;              /* readable when that QEMU has exited; -1: none */
	struct qmp *qmp;
	int64_t started_us;     /* realtime */
	long kill_timer;
	long button_timer;      /* ferry shutdown: press the power button again */
	int button_presses;
	struct waiter *waiters;
	bool incoming;          /* a migration destination, not yet running */
	bool incoming_active;   /* QEMU still receives an incoming migration (post-copy:
				 * after the guest runs here, until "completed") */
	struct vm_listener *listeners;
	struct vm *next;
};

struct client;
#define SERVER_MAX_HOOKS 4
typedef void (*client_gone_fn)(struct agent *ag, long client_id, void *opaque);

#define AGENT_MAX_UNRESUMED 8   /* see agent.ended_unresumed */
#define AGENT_MAX_MOVED_IN 32   /* see agent.moved_in */
#define AGENT_MAX_L2SOCKS 8     /* see agent.l2socks */

struct agent {
	struct agent_config *cfg;
	struct loop *loop;
	struct tls_key key;
	bool have_key;
	int listen_fd[AGENT_MAX_LISTEN];
	bool listen_tcp[AGENT_MAX_LISTEN];
	int n_listen;
	struct vm *vms;
	struct client *clients;
	long next_client_id;
	struct { client_gone_fn fn; void *opaque; } gone_hooks[SERVER_MAX_HOOKS];
	int n_gone_hooks;
	int sigfd;
	int qemu_version;       /* major * 100 + minor; 0: unknown */
	char qemu_pc[64];       /* what machine "pc" stands for in this QEMU ("": not known) */
	char *qemu_machines;    /* its machine types, "\nA\nB\n" (qemu_list_has); NULL: not known */
	char *qemu_cpus;        /* its CPU models, the same way */
	/* Incoming migrations whose QEMU ended before the guest ever ran here
	 * (mig_dst.c): a post-copy source may take its guest back. */
	char ended_unresumed[AGENT_MAX_UNRESUMED][VM_NAME_MAX + 1];
	int next_ended;
	struct child *children;  /* child.c: helpers running, with their callbacks */
	struct mig_prep *preps;  /* mig_dst.c: prepares creating their disks */
	struct pool *pools;      /* pool.c: this host's storage pools */
	/* Disks cold moves sent here that no guest has run on yet (mover_ops.c):
	 * the only ones mig-disks-drop may remove. */
	char moved_in[AGENT_MAX_MOVED_IN][600];
	int next_moved_in;
	/* facts.c: the L2 probe's sockets, one per bridge (fd 0: free). */
	struct { char name[16]; unsigned ifindex; int fd; } l2socks[AGENT_MAX_L2SOCKS];
	struct l2probe_seen l2seen;   /* the probes read from them (l2probe.h) */
	struct metrics metrics;       /* mig.c: written to cfg->metrics_file after each move */
};

/* child.c */
typedef void (*child_exit_fn)(struct agent *ag, int status, void *opaque);
/* Runs argv (stdio on /dev/null, stderr kept) without waiting; fn gets its
 * exit status (128+signal if killed). Returns the pid or -errno. */
pid_t child_spawn(struct agent *ag, char *const argv[], child_exit_fn fn, void *opaque);
/* The same with the environment envp (NULL: ferryd's). */
pid_t child_spawn_env(struct agent *ag, char *const argv[], char *const envp[], child_exit_fn fn, void *opaque);
/* Runs fn(arg) in a forked child (it may block: the loop does not wait);
 * done gets what fn returned (borrowed; fn's {"error": ...} is passed as is)
 * or NULL with err (the child died, sent over 1 MiB, or took over
 * timeout_ms). fn must not touch the agent's sockets. The child's pid. */
typedef json_t *(*child_fn)(void *arg);
/* A child_fn's failure: {"error": the message} (control bytes and all). */
json_t *child_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
typedef void (*child_done_fn)(struct agent *ag, json_t *result, const char *err, void *opaque);
pid_t child_call(struct agent *ag, child_fn fn, void *arg, int timeout_ms, child_done_fn done, void *opaque);
/* The same, and keep_fd stays open in the child as CHILD_KEEP_FD (every
 * other fd but the result pipe is closed there). */
#define CHILD_KEEP_FD 4
pid_t child_call_keep(struct agent *ag, child_fn fn, void *arg, int keep_fd, int timeout_ms, child_done_fn done,
		      void *opaque);
/* At the agent's end: the children still running are left to themselves
 * (their callbacks are not called). */
void child_forget_all(struct agent *ag);
/* From the SIGCHLD handler: true if pid was one of child_spawn's. */
bool child_on_exit(struct agent *ag, pid_t pid, int status);

/* mover_ops.c: the disk mover's ops (docs/mover.md). */
struct request;
void mover_op_copy(struct request *r, json_t *args, struct vm *unused);
void mover_op_copy_in(struct request *r, json_t *args, struct vm *unused);
void mover_op_copy_in_wait(struct request *r, json_t *args, struct vm *unused);
/* saverestore.c: save (the guest's state into a file) and restore. */
void save_op_save(struct request *r, json_t *args, struct vm *vm);
void save_op_restore(struct request *r, json_t *args, struct vm *unused);
/* mig-disks-drop: the disks a failed cold move sent here, removed. */
void mover_op_disks_drop(struct request *r, json_t *args, struct vm *unused);

/* server.c */
int server_start(struct agent *ag, struct ferr *err);
void server_stop(struct agent *ag);
void server_cron(struct agent *ag);
/* Checks that the op table and proto/args.c's schemas name the same ops. */
int server_ops_check(struct ferr *err);
/* One request from client_id: parsed, its op found in the table, its args
 * checked against the op's schema, its VM found; then the op's handler
 * answers through send (the server's writes to the connection). */
void server_dispatch(struct agent *ag, long client_id, json_t *msg, request_send_fn send);
/* The "console" op (server.c: it turns the connection into a serial line). */
void server_op_console(struct request *r, json_t *args, struct vm *vm);
/* Runs fn(ag, client_id, opaque) whenever a client's connection closes.
 * Registering the same fn and opaque again does nothing; -ENOSPC past
 * SERVER_MAX_HOOKS. */
int server_on_client_gone(struct agent *ag, client_gone_fn fn, void *opaque);
/* The local IP address of a TCP client's connection (the address that
 * client reaches us on); -ENOENT for a Unix client or a gone one. */
int server_client_local_addr(struct agent *ag, long client_id, char *out, size_t n);
/* The IP address a TCP client connects from; -ENOENT for Unix or gone. */
int server_client_peer_addr(struct agent *ag, long client_id, char *out, size_t n);
/* Microseconds since a client last sent anything; -1 if it is gone. */
long long server_client_idle_us(struct agent *ag, long client_id);

/* vm.c */
struct vm *vm_find(struct agent *ag, const char *name);
/* A VM of this agent with target (a disk's path or URL) among its disks
 * (writers_only: opened writable); NULL: none. */
struct vm *vm_image_user(struct agent *ag, const char *target, bool writers_only);
/* Could cfg start here now (name free, its files allowed and there, QEMU,
 * bridges)? Resolves cfg's file paths (confine.c). */
int vm_can_start(struct agent *ag, struct vm_config *cfg, struct ferr *err);

/* confine.c: every file of c (kernel, ramdisk, disks) a regular file inside
 * the agent's vm_dirs once symlinks are resolved (paths rewritten to the
 * resolved ones); qcow2 without a backing file. -EPERM/-ENOENT with
 * err = "source:line: why". */
int vm_confine_paths(const struct agent *ag, struct vm_config *c, struct ferr *err);
/* 1 if the qcow2 image at path names another file (backing, external data
 * file), 0 if not (or not qcow2), -errno. */
int qcow2_names_file(const char *path);
/* One file a request names (vol import): resolved into out, inside vm_dirs,
 * a regular file; errors as for a config's files. */
int vm_confine_file(const struct agent *ag, const char *what, const char *path, char *out, size_t n, struct ferr *err);
/* A new file's path (absolute, a plain name, its folder inside vm_dirs),
 * resolved into out; -EPERM with err otherwise. Whether it exists is the
 * caller's to check. */
int vm_confine_new_file(const struct agent *ag, const char *spec, char *out, size_t n, struct ferr *err);
int qcow2_header_names_file(const unsigned char *h, size_t n);
/* Starts a VM (takes cfg). The reply goes to the client when it runs. */
void vm_create(struct request *req, struct vm_config *cfg);
/* Starts a QEMU waiting for an incoming migration (-incoming defer), its
 * TAPs wired, with the source's RAM size (ram_kb; 0: from cfg); fn runs when
 * it is ready or failed. Takes cfg. NULL + err
 * when it cannot even start. */
struct vm *vm_create_incoming(struct agent *ag, struct vm_config *cfg, long ram_kb, vm_wait_fn fn, void *opaque,
			      struct ferr *err);
/* Boots a VM (takes cfg) as vm_create does; fn runs when it runs or failed. */
struct vm *vm_boot(struct agent *ag, struct vm_config *cfg, vm_wait_fn fn, void *opaque, struct ferr *err);
/* Sends QMP commands ([{"execute":..,"arguments":..}...], stolen) in order;
 * fn gets NULL when all succeeded, else the first error (with the command). */
void vm_qmp_batch(struct vm *vm, json_t *cmds, vm_wait_fn fn, void *opaque);
/* Sends one QMP command; fn as for vm_qmp_batch, *result for the return
 * value; fn NULL: nobody waits for the answer. */
typedef void (*vm_qmp_fn)(struct vm *vm, json_t *ret, const char *err, void *opaque);
void vm_qmp(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque);
/* The same for a command built by qmp/cmds.h (cmd stolen). */
void vm_qmp_cmd(struct vm *vm, json_t *cmd, vm_qmp_fn fn, void *opaque);
/* Out-of-band where QEMU allows it (migrate-pause, migrate-recover...). */
void vm_qmp_oob(struct vm *vm, const char *cmd, json_t *args, vm_qmp_fn fn, void *opaque);
/* Waits until the VM is gone (fn with NULL) after quit/kill by someone. */
void vm_wait_gone(struct vm *vm, vm_wait_fn fn, void *opaque);
/* Drops the callback waiters registered with this opaque. */
void vm_unwait(struct vm *vm, void *opaque);
/* Ends the VM's QEMU without a client to answer. */
void vm_kill(struct vm *vm);
void vm_shutdown(struct vm *vm, int timeout_s, struct request *req);
/* Presses the guest's ACPI power button, and again every 5 s for for_s
 * seconds while it runs (a guest may miss a press); for_s 0: once. */
void vm_power_button(struct vm *vm, int for_s);
void vm_destroy(struct vm *vm, struct request *req);
/* QMP stop (pause) or cont; answers the client. */
void vm_pause(struct vm *vm, bool pause, struct request *req);
/* Listeners (appended; at most one per ops and VM is the callers' rule). */
void vm_listen(struct vm *vm, const struct vm_listener_ops *ops, void *opaque);
void vm_unlisten(struct vm *vm, const struct vm_listener_ops *ops, void *opaque);
/* The opaque of vm's listener with these ops, or NULL. */
void *vm_listener(const struct vm *vm, const struct vm_listener_ops *ops);
bool vm_busy(const struct vm *vm);
bool vm_outgoing(const struct vm *vm);
json_t *vm_describe(const struct vm *vm, bool full);
const char *vm_state_name(enum vm_state s);
/* Re-attaches to QEMUs left running by an earlier ferryd. */
void vm_reattach_all(struct agent *ag);
void vm_on_child_exit(struct agent *ag, pid_t pid, int status);
void vm_cron(struct agent *ag);
void vm_detach_all(struct agent *ag);

/* qemu.c: how a VM becomes a QEMU command line, and the host checks. */
int qemu_choose_accel(enum vm_accel want, enum vm_accel *out, struct ferr *err);
int qemu_check_host(const struct agent *ag, const struct vm_config *c, struct ferr *err);
/* Cache modes: whether d opens with O_DIRECT; refuses host caching on
 * shared storage (-EINVAL with err naming the disk, the mode and why). */
bool qemu_cache_direct(const struct vm_disk *d);
int qemu_check_cache(const struct vm_config *c, struct ferr *err);
/* argv for QEMU, with ram_kb of guest RAM; free with qemu_argv_free. */
char **qemu_build_argv(const char *qemu, const struct vm_config *c, enum vm_accel accel, long ram_kb,
		       const char *dir, bool incoming);
/* "QEMU emulator version 7.2.19 (...)" -> 702; 0 if not understood. */
int qemu_parse_version(const char *text);
/* Runs qemu --version: major * 100 + minor, 0 if unknown. */
int qemu_probe_version(const char *qemu);
/* Guest RAM to give QEMU: the config's, plus a work-around for QEMU's TCG
 * migration bug where this QEMU (version as above, 0: unknown) has it. */
long qemu_ram_kb(const struct vm_config *c, enum vm_accel accel, int qemu_version);
void qemu_argv_free(char **argv);
/* `-machine help` and `-cpu help` of this QEMU into qemu_pc, qemu_machines,
 * qemu_cpus (at the agent's start). The parsers, for tests: names into
 * names as "\nA\nB\n"; pc gets what "pc" is an alias of. */
void qemu_probe_lists(struct agent *ag);
void qemu_parse_machines(const char *text, struct buf *names, char *pc, size_t n);
void qemu_parse_cpus(const char *text, struct buf *names);
bool qemu_list_has(const char *list, const char *name);
/* Can a guest here have CPU model `model`: its QEMU knows it, and the
 * agent's cpu_models (if any) lists it. */
bool qemu_cpu_offered(const struct agent *ag, const char *model);
void qemu_tap_name(const struct vm_config *c, int idx, char out[16]);
int qemu_tap_attach(const char *tap, const char *bridge, struct ferr *err);

#endif

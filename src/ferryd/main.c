/* main.c: ferryd, the host agent: config, signals, the event loop. */
#include "ferryd/agent.h"
#include "ferryd/facts.h"
#include "ferryd/mover_ops.h"
#include "ferryd/pool.h"
#include "ferryd/mig.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <gnutls/gnutls.h>

static const char usage[] =
	"Usage: ferryd -c CONFIG [-v]\n"
	"       ferryd --gen-key FILE\n"
	"\n"
	"ferry's host agent: owns this host's QEMU guests and serves the ferry CLI\n"
	"and peer agents (Unix socket: local; TCP: TLS with a pre-shared key).\n"
	"Runs in the foreground and logs key=value lines to stderr.\n"
	"\n"
	"  -c, --config FILE   agent config (see docs/config.md)\n"
	"  -v, --verbose       debug logs\n"
	"      --gen-key FILE  write a new random pre-shared key (mode 0600) and exit\n"
	"  -h, --help          this text\n";

static void on_signal(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct agent *ag = opaque;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int st;
			pid_t pid;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				if (!child_on_exit(ag, pid, st))
					vm_on_child_exit(ag, pid, st);
		} else {
			log_info("stopping", "signal=%s", strsignal(si.ssi_signo));
			loop_stop(l);
		}
	}
}

static void cron(struct loop *l, void *opaque)
{
	struct agent *ag = opaque;

	(void)l;
	server_cron(ag);
	vm_cron(ag);
	mig_dst_cron(ag);
}

/* Config, key, state folder and its lock: the agent's own resources, taken
 * before anything listens. The lock fd (kept open), or -1 with a message. */
static int agent_open(struct agent *ag, const char *config)
{
	struct ferr err = {0};
	char path[600];
	int lockfd;

	if (agentcfg_load(config, &ag->cfg, &err) < 0 ||
	    (ag->cfg->key_file && tls_key_load(ag->cfg->key_file, &ag->key, &err) < 0)) {
		fprintf(stderr, "ferryd: %s\n", err.msg);
		return -1;
	}
	ag->have_key = ag->cfg->key_file != NULL;
	if (mkdir_p(ag->cfg->state_dir, 0700) < 0) {
		fprintf(stderr, "ferryd: cannot create state_dir %s: %s\n", ag->cfg->state_dir, strerror(errno));
		return -1;
	}
	/* One agent per state folder, or two would both own its VMs. */
	snprintf(path, sizeof(path), "%s/ferryd.lock", ag->cfg->state_dir);
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "ferryd: another ferryd already runs with state_dir %s\n", ag->cfg->state_dir);
		return -1;
	}
	dprintf(lockfd, "%d\n", (int)getpid());
	return lockfd;
}

/* Signals arrive through a signalfd on the loop. */
static void signals_to_fd(struct agent *ag)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ag->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The options: the config path, or an exit status (>= 0) to return now. */
static int parse_args(int argc, char **argv, const char **config)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "gen-key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct ferr err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'k':
			if (tls_key_generate(optarg, &err) < 0) {
				fprintf(stderr, "ferryd: %s\n", err.msg);
				return 1;
			}
			return 0;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!*config || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	struct agent ag = {0};
	struct ferr err = {0};
	int lockfd, r;

	if ((r = parse_args(argc, argv, &config)) >= 0)
		return r;
	if ((lockfd = agent_open(&ag, config)) < 0)
		return 1;
	gnutls_global_init();
	signals_to_fd(&ag);
	/* QEMU outlives its launcher (vm_launch.c): as a subreaper, its exit
	 * comes back to us to reap instead of lingering as a zombie under init. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	ag.loop = loop_new();
	loop_add_fd(ag.loop, ag.sigfd, false, on_signal, &ag);
	if (server_start(&ag, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", err.msg);
		return 1;
	}
	pool_load_all(&ag);
	vm_reattach_all(&ag);
	mover_drop_partial(&ag);
	loop_set_cron(ag.loop, 1000, cron, &ag);
	metrics_init(&ag.metrics, time_real_us() / 1000000);
	mig_any_metrics_write(&ag);   /* the exporter sees this agent's series from its start */
	ag.qemu_version = qemu_probe_version(ag.cfg->qemu);
	qemu_probe_lists(&ag);
	log_info("ferryd ready", "host=%s version=%s pid=%d qemu=%d.%d", ag.cfg->host, FERRY_VERSION, (int)getpid(),
		 ag.qemu_version / 100, ag.qemu_version % 100);
	loop_run(ag.loop);

	server_stop(&ag);
	vm_detach_all(&ag);
	pool_free_all(&ag);
	child_forget_all(&ag);
	facts_l2_close_all(&ag);
	loop_free(ag.loop);
	close(ag.sigfd);
	agentcfg_free(ag.cfg);
	free(ag.qemu_machines);
	free(ag.qemu_cpus);
	gnutls_global_deinit();
	/* The lock file stays: the lock, not the file, says an agent runs. */
	close(lockfd);
	log_info("ferryd stopped", "%s", "");
	return 0;
}

/* child.c: work run from the event loop without blocking it: helper
 * programs (qemu-img create for a migration's blank disks: fork + exec, a
 * callback when the child exits; main.c's SIGCHLD handler reaps it), and
 * functions that may block (a pool's NFS server that does not answer) run
 * in a forked child that sends back one JSON value. */
#include "ferryd/agent.h"
#include "util/log.h"
#include "proto/proto.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

struct child {
	pid_t pid;
	child_exit_fn fn;
	void *opaque;
	struct child *next;
};

pid_t child_spawn(struct agent *ag, char *const argv[], child_exit_fn fn, void *opaque)
{
	return child_spawn_env(ag, argv, NULL, fn, opaque);
}

pid_t child_spawn_env(struct agent *ag, char *const argv[], char *const envp[], child_exit_fn fn, void *opaque)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(null, 0);
		dup2(null, 1);
		close_range(3, ~0U, 0);
		if (envp)
			execvpe(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	struct child *c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->fn = fn;
	c->opaque = opaque;
	c->next = ag->children;
	ag->children = c;
	return pid;
}

void child_forget_all(struct agent *ag)
{
	while (ag->children) {
		struct child *c = ag->children;
		ag->children = c->next;
		free(c);
	}
}

bool child_on_exit(struct agent *ag, pid_t pid, int status)
{
	for (struct child **cp = &ag->children; *cp; cp = &(*cp)->next) {
		struct child *c = *cp;
		if (c->pid != pid)
			continue;
		*cp = c->next;
		c->fn(ag, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), c->opaque);
		free(c);
		return true;
	}
	return false;
}

/* ---- a function in a child --------------------------------------------- */

#define CALL_MAX_BYTES (1 << 20)

struct call {
	struct agent *ag;
	pid_t pid;
	int fd;
	long timer;
	struct buf out;
	child_done_fn done;
	void *opaque;
	bool over;
};

static void ignore_exit(struct agent *ag, int status, void *opaque)
{
	(void)ag;
	(void)status;
	(void)opaque;
}

static void call_end(struct call *c, json_t *result, const char *err)
{
	loop_del_fd(c->ag->loop, c->fd);
	close(c->fd);
	if (c->timer)
		loop_cancel_timer(c->ag->loop, c->timer);
	c->done(c->ag, result, err, c->opaque);
	json_decref(result);
	buf_free(&c->out);
	free(c);
}

static void call_timeout(struct loop *l, void *opaque)
{
	struct call *c = opaque;

	(void)l;
	c->timer = 0;
	kill(c->pid, SIGKILL);
	call_end(c, NULL, "timed out");
}

static void call_io(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct call *c = opaque;
	char chunk[16384];
	ssize_t n;

	(void)l;
	(void)events;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (c->out.len + n > CALL_MAX_BYTES) {
			kill(c->pid, SIGKILL);
			call_end(c, NULL, "answer too large");
			return;
		}
		buf_append(&c->out, chunk, n);
	}
	if (n < 0 && errno == EAGAIN)
		return;
	json_t *j = c->out.len ? json_loadb(c->out.data, c->out.len, 0, NULL) : NULL;
	call_end(c, j, j ? NULL : "the helper ended without an answer");
}

pid_t child_call(struct agent *ag, child_fn fn, void *arg, int timeout_ms, child_done_fn done, void *opaque)
{
	return child_call_keep(ag, fn, arg, -1, timeout_ms, done, opaque);
}

pid_t child_call_keep(struct agent *ag, child_fn fn, void *arg, int keep_fd, int timeout_ms, child_done_fn done,
		      void *opaque)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t ag_pid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* A helper never outlives its agent (a killed agent's transfer
		 * must not go on writing behind the next one's back). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ag_pid)
			_exit(1);
		/* keep_fd out of the way first: it may be 3 itself. */
		int keep = keep_fd >= 0 ? fcntl(keep_fd, F_DUPFD, 16) : -1;
		dup2(p[1], 3);
		if (keep >= 0) {
			dup2(keep, CHILD_KEEP_FD);
			close_range(CHILD_KEEP_FD + 1, ~0U, 0);
		} else {
			close_range(4, ~0U, 0);
		}
		json_t *r = fn(arg);
		char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
		if (s)
			write_all(3, s, strlen(s));
		_exit(s ? 0 : 1);
	}
	close(p[1]);
	fd_set_nonblock(p[0]);
	struct call *c = xcalloc(1, sizeof(*c));
	c->ag = ag;
	c->pid = pid;
	c->fd = p[0];
	c->done = done;
	c->opaque = opaque;
	if (timeout_ms > 0)
		c->timer = loop_add_timer(ag->loop, timeout_ms, call_timeout, c);
	loop_add_fd(ag->loop, p[0], false, call_io, c);
	struct child *ch = xcalloc(1, sizeof(*ch));
	ch->pid = pid;
	ch->fn = ignore_exit;
	ch->next = ag->children;
	ag->children = ch;
	return pid;
}

json_t *child_error(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}

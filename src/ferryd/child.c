/* child.c: helper programs run from the event loop without blocking it
 * (qemu-img create for a migration's blank disks): fork + exec, and a
 * callback when the child exits (main.c's SIGCHLD handler reaps it). */
#include "ferryd/agent.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

struct child {
	pid_t pid;
	child_exit_fn fn;
	void *opaque;
	struct child *next;
};

pid_t child_spawn(struct agent *ag, char *const argv[], child_exit_fn fn, void *opaque)
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

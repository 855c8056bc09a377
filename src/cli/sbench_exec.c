/* sbench_exec.c: how the storage bench runs things: in the guest (its serial
 * console), on the host (bounded child processes), and what they cost in CPU
 * (/proc). */
#include "cli/sbench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

/* The marker that ends a command's output; never in the command's text, so
 * the shell's echo of the command cannot end it early. */
#define END_A "FERRY"
#define END_B "-DONE:"

int sb_guest_run(const struct cli *cli, const char *host, const char *vm, const char *cmd, int timeout_s, char **out,
		 int *status, struct ferr *err)
{
	struct agent_conn *c;
	json_t *res;
	char line[1024], buf[4096];
	size_t ll = 0, ol = 0;
	int64_t deadline = time_mono_us() + (int64_t)timeout_s * 1000000;
	char *o = xmalloc(SB_OUT_MAX + 1);
	bool done = false;

	*out = NULL;
	if (agent_connect(cli, host, &c, err) < 0) {
		free(o);
		return -1;
	}
	if (agent_call(c, "console", json_pack("{s:s}", "name", vm), cli->timeout_ms, &res, err) < 0) {
		agent_close(c);
		free(o);
		return -1;
	}
	json_decref(res);
	char *text = NULL;
	if (asprintf(&text, "\n( %s ) > /tmp/ferry-cmd.out 2>&1; rc=$?; sed 's/^/OUT:/' /tmp/ferry-cmd.out; printf '%%s%%s%%d\\n' %s %s $rc\n",
		     cmd, END_A, END_B) < 0 || agent_write_raw(c, text, strlen(text)) < 0) {
		ferr_set(err, "cannot write to the console of %s", vm);
		free(text);
		agent_close(c);
		free(o);
		return -1;
	}
	free(text);
	while (!done) {
		int64_t left = deadline - time_mono_us();
		if (left <= 0) {
			ferr_set(err, "no answer from %s's console in %d s", vm, timeout_s);
			break;
		}
		struct pollfd p = { agent_fd(c), POLLIN, 0 };
		if (!agent_pending(c) && poll(&p, 1, (int)(left / 1000) + 1) <= 0)
			continue;
		ssize_t n = agent_read_raw(c, buf, sizeof(buf));
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			ferr_set(err, "the console of %s closed", vm);
			break;
		}
		for (ssize_t i = 0; i < n && !done; i++) {
			if (buf[i] != '\n') {
				if (buf[i] != '\r' && ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			/* The shell's prompt can come just before a line of output
			 * (the tty echoes input at once, the shell prompts later). */
			char *l = line;
			while (!strncmp(l, "# ", 2))
				l += 2;
			memmove(line, l, strlen(l) + 1);
			if (!strncmp(line, END_A END_B, strlen(END_A END_B))) {
				*status = atoi(line + strlen(END_A END_B));
				done = true;
			} else if (!strncmp(line, "OUT:", 4)) {
				size_t k = strlen(line + 4);
				if (ol + k + 1 <= SB_OUT_MAX) {
					memcpy(o + ol, line + 4, k);
					o[ol + k] = '\n';
					ol += k + 1;
				}
			}
		}
	}
	agent_close(c);
	o[ol] = 0;
	if (!done) {
		free(o);
		return -1;
	}
	*out = o;
	return 0;
}

static void child_exec(char *const argv[], int fd)
{
	int null = open("/dev/null", O_RDONLY);

	dup2(null, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close_range(3, ~0U, 0);
	execvp(argv[0], argv);
	_exit(127);
}

int sb_run(char *const argv[], int timeout_s, char **out)
{
	int p[2];
	size_t ol = 0;
	char *o = xmalloc(SB_OUT_MAX + 1);
	int64_t deadline = time_mono_us() + (int64_t)timeout_s * 1000000;

	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(o);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		child_exec(argv, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		free(o);
		return -1;
	}
	bool timed_out = false;
	for (;;) {
		int64_t left = deadline - time_mono_us();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf = { p[0], POLLIN, 0 };
		if (poll(&pf, 1, (int)(left / 1000) + 1) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		size_t k = (size_t)n < SB_OUT_MAX - ol ? (size_t)n : SB_OUT_MAX - ol;
		memcpy(o + ol, buf, k);
		ol += k;
	}
	close(p[0]);
	if (timed_out)
		sb_end(pid, SIGKILL, 0);
	int st = 0;
	if (!timed_out && waitpid(pid, &st, 0) < 0)
		st = -1;
	o[ol] = 0;
	*out = o;
	if (timed_out)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

pid_t sb_spawn(char *const argv[], const char *out_path)
{
	int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		child_exec(argv, fd);
	}
	close(fd);
	return pid;
}

void sb_end(pid_t pid, int sig, int wait_ms)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, sig);
	for (int i = 0; i < wait_ms / 20; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Fields of /proc/PID/stat after the command name: state is [0]. */
static int stat_fields(pid_t pid, char **f, int n, char *buf, size_t len)
{
	char path[64];
	int fd, k = 0;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	char *p = strrchr(buf, ')'), *save = NULL;
	if (!p)
		return 0;
	for (char *w = strtok_r(p + 1, " ", &save); w && k < n; w = strtok_r(NULL, " ", &save))
		f[k++] = w;
	return k;
}

double sb_cpu_pid(pid_t pid)
{
	char buf[1024], *f[16];

	if (stat_fields(pid, f, 16, buf, sizeof(buf)) < 13)
		return 0;
	/* utime and stime: fields 14 and 15 of stat, [11] and [12] here. */
	return (double)(strtoull(f[11], NULL, 10) + strtoull(f[12], NULL, 10)) / (double)sysconf(_SC_CLK_TCK);
}

/* Calls fn for every process whose field idx equals v. */
static double sum_where(int idx, pid_t v, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	double sum = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		char buf[1024], *f[16], name[64] = "";
		if (pid <= 0 || stat_fields(pid, f, 16, buf, sizeof(buf)) < 13 || (pid_t)strtol(f[idx], NULL, 10) != v)
			continue;
		if (comm) {
			char path[64], *t;
			size_t n;
			snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
			if (file_read_all(path, 64, &t, &n) < 0)
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(t, "\n"), t);
			free(t);
			if (strcmp(name, comm))
				continue;
		}
		sum += sb_cpu_pid(pid);
	}
	closedir(d);
	return sum;
}

double sb_cpu_group(pid_t pgid)
{
	return pgid > 0 ? sum_where(2, pgid, NULL) : 0;
}

double sb_cpu_children(pid_t ppid, const char *comm)
{
	return ppid > 0 ? sum_where(1, ppid, comm) : 0;
}

pid_t sb_child_named(pid_t ppid, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		char buf[1024], *f[16], path[64], *t;
		size_t n;
		if (pid <= 0 || stat_fields(pid, f, 16, buf, sizeof(buf)) < 2 || (pid_t)strtol(f[1], NULL, 10) != ppid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		if (file_read_all(path, 64, &t, &n) < 0)
			continue;
		if (!strncmp(t, comm, strlen(comm)) && (t[strlen(comm)] == '\n' || !t[strlen(comm)]))
			found = pid;
		free(t);
	}
	closedir(d);
	return found;
}

void sb_drop_file_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

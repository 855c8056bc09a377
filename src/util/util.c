/* util.c: small helpers shared by every ferry module. */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <linux/kvm.h>

void ferr_set(struct ferr *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(e->msg);
}

/* Length of the UTF-8 sequence starting with lead byte c, 0 if c cannot lead. */
static int utf8_len(unsigned char c)
{
	if (c < 0x80) return 1;
	if (c >= 0xc2 && c <= 0xdf) return 2;
	if (c >= 0xe0 && c <= 0xef) return 3;
	if (c >= 0xf0 && c <= 0xf4) return 4;
	return 0;
}

static bool utf8_seq_ok(const unsigned char *p, int n)
{
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return false;
	if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
		return false;   /* overlong, or a UTF-16 surrogate */
	if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
		return false;   /* overlong, or beyond U+10FFFF */
	return true;
}

void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0;

	while (p[i]) {
		int n = utf8_len(p[i]);
		size_t avail = strnlen(s + i, 4);
		if (n > 0 && (size_t)n > avail) {
			/* A character cut at the end (snprintf's limit): drop it. */
			bool partial = true;
			for (size_t k = 1; k < avail; k++)
				partial &= (p[i + k] & 0xc0) == 0x80;
			if (partial) {
				p[i] = 0;
				return;
			}
			n = 0;
		}
		if (n == 0 || !utf8_seq_ok(p + i, n)) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

static int64_t clock_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t time_real_us(void) { return clock_us(CLOCK_REALTIME); }
int64_t time_cpu_us(void) { return clock_us(CLOCK_PROCESS_CPUTIME_ID); }

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "ferry: out of memory\n");
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p) {
		fprintf(stderr, "ferry: out of memory\n");
		abort();
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "ferry: out of memory\n");
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	return s ? strcpy(xmalloc(strlen(s) + 1), s) : NULL;
}

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	struct buf b = {0};
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			buf_free(&b);
			return e;
		}
		if (b.len + n > max) {
			close(fd);
			buf_free(&b);
			return -EFBIG;
		}
		buf_append(&b, chunk, n);
	}
	close(fd);
	if (!b.data)
		buf_append(&b, "", 0);
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= w;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *p, size_t n, int mode)
{
	char tmp[4096];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);   /* never through a link */
	if (fd < 0)
		return -errno;
	r = write_all(fd, p, n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int mkdir_p(const char *path, int mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char sub[4096];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	return rmdir(path) < 0 ? -errno : 0;
}

int fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int fd_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}


uint32_t hash_fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

bool ident_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n <= max;
}

/* Waits for pid: its exit status (127, exec failed: -ENOENT), 128 + the
 * signal that ended it, or -errno. */
static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st) == 127 ? -ENOENT : WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int run_cmd(char *const argv[], bool quiet)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return wait_exit(pid);
}

static int capture(const char *path, char *const argv[], struct buf *out, bool with_stderr)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(fds[1], 1);
		if (with_stderr)
			dup2(fds[1], 2);
		if (strchr(path, '/'))
			execv(path, argv);
		else
			execvp(path, argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char tmp[8192];
		ssize_t r = read(fds[0], tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_append(out, tmp, (size_t)r);
	}
	buf_append(out, "", 1);   /* NUL-terminated; len counts it */
	out->len--;
	close(fds[0]);
	return wait_exit(pid);
}

int run_capture(const char *path, char *const argv[], struct buf *out)
{
	return capture(path, argv, out, false);
}

int run_capture_all(const char *path, char *const argv[], struct buf *out)
{
	return capture(path, argv, out, true);
}

bool pid_alive(int pid)
{
	char path[64], *stat;
	bool alive;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (file_read_all(path, 4096, &stat, NULL) < 0)
		return false;
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	char *rp = strrchr(stat, ')');
	alive = rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
	free(stat);
	return alive;
}

int pid_read_file(const char *path)
{
	char *text;
	int pid = 0;

	if (file_read_all(path, 64, &text, NULL) == 0) {
		pid = atoi(text);
		free(text);
	}
	return pid;
}

bool pid_cmdline_has(int pid, const char *needle)
{
	char path[64], *cmd;
	size_t len;
	bool has;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if (pid <= 0 || file_read_all(path, 1 << 20, &cmd, &len) < 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	has = strstr(cmd, needle) != NULL;
	free(cmd);
	return has;
}

/* KVM can run a stock guest only with hardware virtualisation: a paravirtual
 * /dev/kvm without VMX/SVM (as on some cloud machines) hangs the kernel. */
bool kvm_usable(char *why, size_t n)
{
	char *cpuinfo;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, n, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (api != KVM_API_VERSION) {
		snprintf(why, n, "/dev/kvm answers API version %d, not %d", api, KVM_API_VERSION);
		return false;
	}
	if (file_read_all("/proc/cpuinfo", 16 << 20, &cpuinfo, NULL) < 0) {
		snprintf(why, n, "cannot read /proc/cpuinfo");
		return false;
	}
	bool hw = strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
	free(cpuinfo);
	if (!hw) {
		snprintf(why, n, "the CPU has no VMX/SVM flag (a paravirtual KVM cannot boot a stock kernel)");
		return false;
	}
	return true;
}

/* util.h: small helpers shared by every ferry module: errors, time, buffers, fds. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>

#define FERRY_VERSION "0.1.0"

struct agent;
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* An error report: one sentence a user can act on. Set once, where found. */
struct ferr {
	char msg[1024];
};
void ferr_set(struct ferr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes s valid UTF-8 in place: a character cut at the end (by a fixed-size
 * buffer) is dropped, any other invalid byte becomes '?'. JSON strings must
 * be valid UTF-8: every message that may reach a reply goes through this. */
void utf8_sanitize(char *s);

/* Microseconds on CLOCK_MONOTONIC / CLOCK_REALTIME. */
int64_t time_mono_us(void);
int64_t time_real_us(void);
int64_t time_cpu_us(void);   /* this process's CPU time (all threads) */

/* A growable byte buffer; data[len] is always 0. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n);   /* drop n bytes from the front */
void buf_free(struct buf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Reads a whole file (at most max bytes). Returns 0 or -errno. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);
/* Writes a file atomically (tmp + rename) with the given mode. */
int file_write_atomic(const char *path, const void *p, size_t n, int mode);
int mkdir_p(const char *path, int mode);
int rm_rf(const char *path);

int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd);
/* Writes all n bytes to a blocking fd. */
int write_all(int fd, const void *p, size_t n);

/* FNV-1a, 32 bits: stable short names and MACs derived from a VM's name. */
uint32_t hash_fnv1a(const char *s);

/* True if s is a plain identifier: [A-Za-z][A-Za-z0-9_-]{0,max-1}. */
bool ident_valid(const char *s, size_t max);

/* The pid written in a pidfile, or 0. */
int pid_read_file(const char *path);
/* True if pid's command line (arguments joined by spaces) contains needle:
 * a pid found in a pidfile may have been reused by another program. */
bool pid_cmdline_has(int pid, const char *needle);

/* True if pid exists and is not a zombie (an exited child nobody reaped yet). */
bool pid_alive(int pid);

/* Runs argv (execvp) and waits; output to /dev/null unless quiet is false.
 * Returns the exit status, or -errno if it could not run. */
int run_cmd(char *const argv[], bool quiet);
/* Runs path (a file if it holds '/', else looked up in PATH) with argv and
 * appends its standard output to out (NUL-terminated); stderr stays ours.
 * Returns the exit status, or -errno if it could not run. */
int run_capture(const char *path, char *const argv[], struct buf *out);
/* The same with its stderr in out too (a tool's error message). */
int run_capture_all(const char *path, char *const argv[], struct buf *out);

/* True if /dev/kvm can run a stock guest here; else false with why. */
bool kvm_usable(char *why, size_t n);

#endif

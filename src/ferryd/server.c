/* server.c: ferryd's listeners and clients: TLS-PSK handshake on TCP, plain on
 * the Unix socket, JSON requests dispatched to the VM layer, console relay. */
#include "ferryd/agent.h"
#include "ferryd/mig.h"
#include "ferryd/request.h"
#include "proto/args.h"
#include "proto/proto.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Strangers get a bounded share: connections still in the TLS handshake
 * have their own small quota (in all, and per source address) and a short
 * deadline; the Unix socket and authenticated clients count against
 * MAX_CLIENTS only, so a flood of idle connections never locks them out. */
#define HANDSHAKE_TIMEOUT_US (5 * 1000000)
#define MAX_HANDSHAKES 32
#define MAX_HANDSHAKES_PER_ADDR 8
#define MAX_CLIENTS 256
#define MAX_TCP_CLIENTS 224      /* authenticated TCP; the rest is the Unix socket's */
/* At the fd limit a pending connection cannot be accepted: stop listening
 * for this long instead of waking up for it again and again. */
#define ACCEPT_BACKOFF_MS 100
#define CONSOLE_HIGH_WATER (256 * 1024)
#define CONSOLE_BEHIND_US (10 * 1000000)

enum client_phase { C_HANDSHAKE, C_OPEN, C_CONSOLE, C_CLOSING };

struct client {
	long id;
	struct agent *ag;
	struct stream *st;
	enum client_phase phase;
	char peer[64];
	char addr[48];           /* TCP: the peer's IP address; "": Unix */
	int listener;            /* index in ag->listen_fd */
	int64_t accepted_us;
	int64_t last_rx_us;
	struct jsonframe in;
	struct buf out;
	int console_fd;          /* C_CONSOLE: the VM's serial socket */
	int64_t behind_since_us; /* C_CONSOLE: output over the high-water mark since; 0: not */
	struct buf console_out;  /* client -> serial bytes not yet written */
	struct client *next;
};

static void client_close(struct client *c, const char *why);
static void client_update(struct client *c);

/* Clients past the handshake: all of them, or the TCP ones only. */
static int n_clients(struct agent *ag, bool tcp_only)
{
	int n = 0;
	for (struct client *c = ag->clients; c; c = c->next)
		n += c->phase != C_HANDSHAKE && (!tcp_only || c->addr[0]);
	return n;
}

/* Connections still in the handshake on one listener: all of them, and
 * from addr. */
static int n_handshakes(struct agent *ag, int listener, const char *addr, int *from_addr)
{
	int n = 0;

	*from_addr = 0;
	for (struct client *c = ag->clients; c; c = c->next) {
		if (c->phase != C_HANDSHAKE || c->listener != listener)
			continue;
		n++;
		*from_addr += !strcmp(c->addr, addr);
	}
	return n;
}

static struct client *find_client(struct agent *ag, long id)
{
	for (struct client *c = ag->clients; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

long long server_client_idle_us(struct agent *ag, long client_id)
{
	struct client *c = find_client(ag, client_id);

	return c ? time_mono_us() - c->last_rx_us : -1;
}

int server_client_peer_addr(struct agent *ag, long client_id, char *out, size_t n)
{
	struct client *c = find_client(ag, client_id);

	if (!c || !c->addr[0])
		return -ENOENT;
	snprintf(out, n, "%s", c->addr);
	return 0;
}

int server_client_local_addr(struct agent *ag, long client_id, char *out, size_t n)
{
	struct client *c = find_client(ag, client_id);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!c || getsockname(stream_fd(c->st), (struct sockaddr *)&ss, &sl) < 0 || sock_addr_ntop(&ss, out, n) < 0)
		return -ENOENT;
	return 0;
}

static void server_reply(struct agent *ag, long client_id, json_t *reply)
{
	struct client *c = find_client(ag, client_id);

	if (c && c->phase == C_OPEN) {
		if (proto_encode(reply, &c->out) < 0)
			log_error("reply could not be encoded, dropped", "client=%ld", client_id);
		client_update(c);
	}
	json_decref(reply);
}

/* Flushes queued output; switches write interest. */
static int flush_out(struct client *c)
{
	struct ferr err = {0};

	return stream_flush_buf(c->st, &c->out, &err) < 0 ? -1 : 0;
}

/* Closes a client from the loop, not from under a caller that holds it. */
struct client_ref {
	struct agent *ag;
	long id;
};

static void close_later(struct loop *l, void *opaque)
{
	struct client_ref *r = opaque;
	struct client *c = find_client(r->ag, r->id);

	(void)l;
	free(r);
	if (c)
		client_close(c, "write failed");
}

static void client_update(struct client *c)
{
	if (c->phase == C_HANDSHAKE || c->phase == C_CLOSING)
		return;
	/* A client that does not read is held back, then dropped: a console
	 * client over CONSOLE_HIGH_WATER stops the reading of the serial
	 * socket (the guest's UART waits, as on a real line) and is dropped
	 * if it stays behind CONSOLE_BEHIND_US; any client whose replies pile
	 * up over client_queue_max is dropped at once. */
	int64_t now = time_mono_us();
	bool behind = (long long)c->out.len > c->ag->cfg->client_queue_max;
	if (c->phase == C_CONSOLE) {
		bool hold = c->out.len > CONSOLE_HIGH_WATER;
		if (hold && !c->behind_since_us)
			c->behind_since_us = now;
		else if (!hold)
			c->behind_since_us = 0;
		loop_set_read(c->ag->loop, c->console_fd, !hold);
		behind |= c->behind_since_us && now - c->behind_since_us > CONSOLE_BEHIND_US;
	}
	if (behind)
		log_warn("client too slow, dropping it", "client=%ld peer=%s queued=%zu", c->id, c->peer, c->out.len);
	if (behind || flush_out(c) < 0) {
		c->phase = C_CLOSING;
		struct client_ref *r = xcalloc(1, sizeof(*r));
		r->ag = c->ag;
		r->id = c->id;
		loop_add_timer(c->ag->loop, 0, close_later, r);
		return;
	}
	loop_set_write(c->ag->loop, stream_fd(c->st), c->out.len > 0);
	if (c->phase == C_CONSOLE)
		loop_set_write(c->ag->loop, c->console_fd, c->console_out.len > 0);
}

static void client_close(struct client *c, const char *why)
{
	struct agent *ag = c->ag;

	log_debug("client closed", "client=%ld peer=%s reason=\"%s\"", c->id, c->peer, why);
	for (struct client **cp = &ag->clients; *cp; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	for (int i = 0; i < ag->n_gone_hooks; i++)
		ag->gone_hooks[i].fn(ag, c->id, ag->gone_hooks[i].opaque);
	loop_del_fd(ag->loop, stream_fd(c->st));
	if (c->console_fd >= 0) {
		loop_del_fd(ag->loop, c->console_fd);
		close(c->console_fd);
	}
	stream_free(c->st);
	jsonframe_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->console_out);
	free(c);
}

int server_on_client_gone(struct agent *ag, client_gone_fn fn, void *opaque)
{
	for (int i = 0; i < ag->n_gone_hooks; i++)
		if (ag->gone_hooks[i].fn == fn && ag->gone_hooks[i].opaque == opaque)
			return 0;
	if (ag->n_gone_hooks >= SERVER_MAX_HOOKS)
		return -ENOSPC;
	ag->gone_hooks[ag->n_gone_hooks].fn = fn;
	ag->gone_hooks[ag->n_gone_hooks++].opaque = opaque;
	return 0;
}

static void console_io(struct loop *l, int fd, uint32_t events, void *opaque);

/* The console op: the connection becomes the VM's serial line. */

void server_op_console(struct request *r, json_t *args, struct vm *vm)
{
	struct client *c = find_client(r->ag, r->client_id);
	char path[600];
	struct ferr err = {0};
	int fd;

	(void)args;
	snprintf(path, sizeof(path), "%s/serial.sock", vm->dir);
	if (!c || (fd = sock_connect_unix(path, &err)) < 0) {
		request_err(r, "cannot open the console of %s (is another console attached?)", vm->cfg->name);
		return;
	}
	fd_set_nonblock(fd);
	request_ok(r, json_pack("{s:s}", "console", vm->cfg->name));
	c->phase = C_CONSOLE;
	c->console_fd = fd;
	loop_add_fd(c->ag->loop, fd, false, console_io, c);
	/* Bytes after the request are keystrokes already. */
	buf_append(&c->console_out, c->in.in.data, c->in.in.len);
	jsonframe_free(&c->in);
	client_update(c);
}


static void dispatch(struct client *c, json_t *msg)
{
	server_dispatch(c->ag, c->id, msg, server_reply);
}

static void on_readable(struct client *c)
{
	char chunk[16384];
	struct ferr err = {0};
	json_t *msg;
	int r = 0;

	do {
		/* Console bytes go to the serial line as they are; requests
		 * through the framer. */
		ssize_t n = c->phase == C_CONSOLE ? stream_read(c->st, chunk, sizeof(chunk), &err)
						  : stream_read_frames(c->st, &c->in, &err);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			client_close(c, n == 0 ? "eof" : err.msg);
			return;
		}
		c->last_rx_us = time_mono_us();
		if (c->phase == C_CONSOLE) {
			buf_append(&c->console_out, chunk, n);
			continue;
		}
		/* A malformed message gets its error and the ones behind it are
		 * still served, unless the framing itself is lost. */
		while (c->phase == C_OPEN && (r = jsonframe_next(&c->in, &msg, &err)) != 0) {
			if (r == 1) {
				dispatch(c, msg);
				json_decref(msg);
				continue;
			}
			server_reply(c->ag, c->id, proto_reply_err(0, "bad request: %s", err.msg));
			if (c->in.broken) {
				flush_out(c);
				client_close(c, err.msg);
				return;
			}
		}
		if (c->phase == C_CLOSING)
			return;
	} while (stream_pending(c->st));
	client_update(c);
}

static void client_io(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct client *c = opaque;
	struct ferr err = {0};

	(void)l;
	(void)fd;
	if (c->phase == C_CLOSING)
		return;   /* close_later ends it */
	if (c->phase == C_HANDSHAKE) {
		int r = stream_handshake(c->st, &err);
		if (r == -EAGAIN) {
			loop_set_write(c->ag->loop, stream_fd(c->st), stream_handshake_wants_write(c->st));
			return;
		}
		if (r < 0) {
			log_warn("client refused", "peer=%s reason=\"%s\"", c->peer, err.msg);
			client_close(c, err.msg);
			return;
		}
		if (n_clients(c->ag, true) >= MAX_TCP_CLIENTS) {
			log_warn("too many clients, refusing one", "peer=%s max=%d", c->peer, MAX_TCP_CLIENTS);
			client_close(c, "too many clients");
			return;
		}
		c->phase = C_OPEN;
		log_info("client authenticated", "client=%ld peer=%s", c->id, c->peer);
		json_t *g = proto_greeting_new(c->ag->cfg->host);
		server_reply(c->ag, c->id, g);
		return;
	}
	if (events & EPOLLOUT) {
		if (flush_out(c) < 0) {
			client_close(c, "write failed");
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
		on_readable(c);
		return;
	}
	client_update(c);
}

static void console_io(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct client *c = opaque;
	char chunk[4096];

	(void)l;
	if (events & EPOLLOUT) {
		while (c->console_out.len) {
			ssize_t n = send(fd, c->console_out.data, c->console_out.len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN)
					break;
				client_close(c, "console write failed");
				return;
			}
			buf_consume(&c->console_out, n);
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			flush_out(c);
			client_close(c, "console closed (the VM stopped)");
			return;
		}
		if (n > 0)
			buf_append(&c->out, chunk, n);
	}
	client_update(c);
}

struct relisten {
	struct agent *ag;
	int fd;
};

static void on_accept(struct loop *l, int lfd, uint32_t events, void *opaque);

static void relisten(struct loop *l, void *opaque)
{
	struct relisten *rl = opaque;

	loop_add_fd(l, rl->fd, false, on_accept, rl->ag);
	free(rl);
}

/* The Unix socket is mode 0600 already; SO_PEERCRED says who connected
 * even if someone loosened that: root, or the configured group. */
static bool unix_peer_allowed(struct agent *ag, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	if (cr.uid == 0 || (ag->cfg->unix_gid >= 0 && cr.gid == (gid_t)ag->cfg->unix_gid))
		return true;
	log_warn("local client refused", "uid=%d gid=%d pid=%d reason=\"not root, not in unix_group\"", (int)cr.uid,
		 (int)cr.gid, (int)cr.pid);
	return false;
}

static void on_accept(struct loop *l, int lfd, uint32_t events, void *opaque)
{
	struct agent *ag = opaque;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	bool tcp = false;
	int fd, one = 1, listener = 0;

	(void)events;
	for (int i = 0; i < ag->n_listen; i++)
		if (ag->listen_fd[i] == lfd)
			tcp = ag->listen_tcp[i], listener = i;
	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("cannot accept (out of file descriptors): pausing this listener", "error=\"%s\" ms=%d",
				 strerror(errno), ACCEPT_BACKOFF_MS);
			loop_del_fd(l, lfd);
			struct relisten *rl = xcalloc(1, sizeof(*rl));
			rl->ag = ag;
			rl->fd = lfd;
			loop_add_timer(l, ACCEPT_BACKOFF_MS, relisten, rl);
		}
		return;
	}
	char host[INET6_ADDRSTRLEN] = "?";
	int port = tcp ? sock_addr_ntop(&ss, host, sizeof(host)) : 0;
	if (port < 0)
		port = 0;
	if (tcp) {
		int from_addr, all = n_handshakes(ag, listener, host, &from_addr);
		if (all >= MAX_HANDSHAKES || from_addr >= MAX_HANDSHAKES_PER_ADDR) {
			log_warn("too many unauthenticated connections, refusing one", "peer=%s:%d pending=%d from_addr=%d",
				 host, port, all, from_addr);
			close(fd);
			return;
		}
	} else if (!unix_peer_allowed(ag, fd)) {
		close(fd);
		return;
	}
	if (!tcp && n_clients(ag, false) >= MAX_CLIENTS) {
		log_warn("too many clients, refusing one", "max=%d", MAX_CLIENTS);
		close(fd);
		return;
	}
	struct client *c = xcalloc(1, sizeof(*c));
	c->id = ++ag->next_client_id;
	c->ag = ag;
	c->console_fd = -1;
	c->accepted_us = c->last_rx_us = time_mono_us();
	c->listener = listener;
	if (tcp) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		snprintf(c->addr, sizeof(c->addr), "%s", host);
		snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
		c->st = stream_new_server(fd, &ag->key);
		c->phase = C_HANDSHAKE;
	} else {
		snprintf(c->peer, sizeof(c->peer), "unix");
		c->st = stream_new_server(fd, NULL);
		c->phase = C_OPEN;
	}
	c->next = ag->clients;
	ag->clients = c;
	loop_add_fd(l, fd, false, client_io, c);
	if (c->phase == C_OPEN)
		server_reply(ag, c->id, proto_greeting_new(ag->cfg->host));
}

int server_start(struct agent *ag, struct ferr *err)
{
	if (server_ops_check(err) < 0)
		return -EINVAL;
	for (int i = 0; i < ag->cfg->n_listen; i++) {
		const char *spec = ag->cfg->listen[i];
		int fd = sock_listen(spec, err);
		if (fd < 0)
			return fd;
		ag->listen_fd[ag->n_listen] = fd;
		ag->listen_tcp[ag->n_listen] = !strncmp(spec, "tcp:", 4);
		ag->n_listen++;
		loop_add_fd(ag->loop, fd, false, on_accept, ag);
		if (strncmp(spec, "tcp:", 4) && ag->cfg->unix_gid >= 0 &&
		    (chown(spec + 5, 0, (gid_t)ag->cfg->unix_gid) < 0 || chmod(spec + 5, 0660) < 0))
			log_warn("cannot open the socket to unix_group", "path=%s error=\"%s\"", spec + 5, strerror(errno));
		log_info("listening", "address=%s%s", spec, !strncmp(spec, "tcp:", 4) ? " tls=psk" : "");
	}
	return 0;
}

void server_stop(struct agent *ag)
{
	while (ag->clients)
		client_close(ag->clients, "agent stopping");
	for (int i = 0; i < ag->n_listen; i++) {
		loop_del_fd(ag->loop, ag->listen_fd[i]);
		close(ag->listen_fd[i]);
		if (!ag->listen_tcp[i])
			unlink(ag->cfg->listen[i] + 5);
	}
	ag->n_listen = 0;
}

void server_cron(struct agent *ag)
{
	int64_t now = time_mono_us();
	struct client *c, *next;

	for (c = ag->clients; c; c = next) {
		next = c->next;
		if (c->phase == C_HANDSHAKE && now - c->accepted_us > HANDSHAKE_TIMEOUT_US) {
			log_warn("client refused", "peer=%s reason=\"no TLS handshake within 5 s\"", c->peer);
			client_close(c, "handshake timeout");
		} else if (c->phase == C_CONSOLE && c->behind_since_us && now - c->behind_since_us > CONSOLE_BEHIND_US) {
			log_warn("console client behind for 10 s, dropping it", "client=%ld peer=%s queued=%zu", c->id, c->peer,
				 c->out.len);
			client_close(c, "console client too slow");
		}
	}
}

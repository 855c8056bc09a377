/* server.c: ferryd's listeners and clients: TLS-PSK handshake on TCP, plain on
 * the Unix socket, JSON requests dispatched to the VM layer, console relay. */
#include "ferryd/agent.h"
#include "ferryd/mig.h"
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

void server_progress(struct agent *ag, long client_id, long req_id, json_t *progress)
{
	server_reply(ag, client_id, json_pack("{s:I, s:o}", "id", (json_int_t)req_id, "progress", progress));
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

void server_reply(struct agent *ag, long client_id, json_t *reply)
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
static void close_later(struct loop *l, void *opaque)
{
	struct req_ref *r = opaque;
	struct client *c = find_client(r->ag, r->client_id);

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
		loop_add_timer(c->ag->loop, 0, close_later, req_ref_new(c->ag, c->id, 0));
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
	mig_dst_on_client_gone(ag, c->id);
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

/* The VM named in args (checked: a valid name); else answers why not. */
static struct vm *need_vm(struct client *c, long id, json_t *args)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct vm *vm = vm_find(c->ag, name);

	if (!vm)
		server_reply(c->ag, c->id, proto_reply_err(id, "no VM named %s on host %s", name, c->ag->cfg->host));
	return vm;
}

static void console_io(struct loop *l, int fd, uint32_t events, void *opaque);

static void op_console(struct client *c, long id, struct vm *vm)
{
	char path[600];
	struct ferr err = {0};
	int fd;

	snprintf(path, sizeof(path), "%s/serial.sock", vm->dir);
	if ((fd = sock_connect_unix(path, &err)) < 0) {
		server_reply(c->ag, c->id, proto_reply_err(id, "cannot open the console of %s (is another console attached?)",
							   vm->cfg->name));
		return;
	}
	fd_set_nonblock(fd);
	server_reply(c->ag, c->id, proto_reply_ok(id, json_pack("{s:s}", "console", vm->cfg->name)));
	c->phase = C_CONSOLE;
	c->console_fd = fd;
	loop_add_fd(c->ag->loop, fd, false, console_io, c);
	/* Bytes after the request are keystrokes already. */
	buf_append(&c->console_out, c->in.in.data, c->in.in.len);
	jsonframe_free(&c->in);
	client_update(c);
}

/* ---- op handlers: args are checked against proto/args.c already -------- */

static void op_ping(struct client *c, long id, json_t *args)
{
	(void)args;
	server_reply(c->ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:s}", "host", c->ag->cfg->host,
								 "version", FERRY_VERSION)));
}

static void op_list(struct client *c, long id, json_t *args)
{
	json_t *vms = json_array();

	(void)args;
	for (struct vm *vm = c->ag->vms; vm; vm = vm->next)
		json_array_append_new(vms, vm_describe(vm, false));
	server_reply(c->ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:o}", "host", c->ag->cfg->host, "vms", vms)));
}

static void op_create(struct client *c, long id, json_t *args)
{
	const char *text = json_string_value(json_object_get(args, "config"));
	const char *src = json_string_value(json_object_get(args, "source"));
	struct vm_config *cfg;
	struct ferr err = {0};

	if (vmcfg_parse(text, strlen(text), src ? src : "<config>", NULL, &cfg, &err) < 0) {
		server_reply(c->ag, c->id, proto_reply_err(id, "%s", err.msg));
		return;
	}
	vm_create(c->ag, cfg, c->id, id);
}

/* Ops on one VM: dispatch() found it (args "name") before calling these. */
static void op_status(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	server_reply(c->ag, c->id, proto_reply_ok(id, vm_describe(vm, true)));
}

static void op_shutdown(struct client *c, long id, json_t *args, struct vm *vm)
{
	json_t *t = json_object_get(args, "timeout_s");

	vm_shutdown(vm, t ? (int)json_integer_value(t) : 60, c->id, id);
}

static void op_destroy(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	vm_destroy(vm, c->id, id);
}

static void op_console_req(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	op_console(c, id, vm);
}

static void op_pause(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	vm_pause(vm, true, c->id, id);
}

static void op_unpause(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	vm_pause(vm, false, c->id, id);
}

static void op_migrate(struct client *c, long id, json_t *args, struct vm *vm)
{
	mig_src_start(c->ag, vm, args, c->id, id);
}

static void op_migrate_cancel(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	mig_src_cancel(vm, c->id, id);
}

static void op_migrate_recover(struct client *c, long id, json_t *args, struct vm *vm)
{
	(void)args;
	mig_src_recover(vm, c->id, id);
}

static void op_history(struct client *c, long id, json_t *args)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *last = json_object_get(args, "last"), *since = json_object_get(args, "since_us");
	json_t *recs = mig_any_history_read(c->ag, name, last ? (long)json_integer_value(last) : MIG_HISTORY_PAGE,
					    since ? (int64_t)json_integer_value(since) : 0);

	server_reply(c->ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:o}", "host", c->ag->cfg->host, "migrations", recs)));
}

static void op_history_add(struct client *c, long id, json_t *args)
{
	mig_any_history_append(c->ag, json_object_get(args, "record"));
	server_reply(c->ag, c->id, proto_reply_ok(id, NULL));
}

typedef void (*dst_op_fn)(struct agent *ag, json_t *args, long client_id, long req_id);

/* The op table: one of fn (any op), vm_fn (an op on the VM named in args,
 * found first) or dst (the destination side of a migration). The argument
 * schemas are proto/args.c's, checked before any of these runs. */
static const struct {
	const char *name;
	void (*fn)(struct client *c, long id, json_t *args);
	void (*vm_fn)(struct client *c, long id, json_t *args, struct vm *vm);
	dst_op_fn dst;
} handlers[] = {
	{ "ping", op_ping, NULL, NULL },
	{ "list", op_list, NULL, NULL },
	{ "create", op_create, NULL, NULL },
	{ "status", NULL, op_status, NULL },
	{ "shutdown", NULL, op_shutdown, NULL },
	{ "destroy", NULL, op_destroy, NULL },
	{ "console", NULL, op_console_req, NULL },
	{ "pause", NULL, op_pause, NULL },
	{ "unpause", NULL, op_unpause, NULL },
	{ "migrate", NULL, op_migrate, NULL },
	{ "migrate-cancel", NULL, op_migrate_cancel, NULL },
	{ "migrate-recover", NULL, op_migrate_recover, NULL },
	{ "history", op_history, NULL, NULL },
	{ "history-add", op_history_add, NULL, NULL },
	{ "mig-prepare", NULL, NULL, mig_dst_prepare },
	{ "mig-finish", NULL, NULL, mig_dst_finish },
	{ "mig-check", NULL, NULL, mig_dst_check },
	{ "mig-postcopy", NULL, NULL, mig_dst_postcopy },
	{ "mig-resumed", NULL, NULL, mig_dst_resumed },
	{ "mig-abort", NULL, NULL, mig_dst_abort },
	{ "mig-recover", NULL, NULL, mig_dst_recover },
	{ "mig-pause", NULL, NULL, mig_dst_pause },
};

static void dispatch(struct client *c, json_t *msg)
{
	struct agent *ag = c->ag;
	struct ferr err = {0};
	const struct proto_op *spec;
	const char *op;
	json_t *args, *empty = NULL;
	long id;

	if (proto_request_parse(msg, &id, &op, &args, &err) < 0) {
		server_reply(ag, c->id, proto_reply_err(0, "bad request: %s", err.msg));
		return;
	}
	if (!(spec = proto_op_find(op))) {
		char shown[40];
		snprintf(shown, sizeof(shown), "%s", op);
		utf8_sanitize(shown);
		server_reply(ag, c->id, proto_reply_err(id, "unknown op '%s' (this agent speaks protocol %d)", shown,
							 PROTO_VERSION));
		return;
	}
	if (proto_args_check(spec, args, &err) < 0) {
		log_warn("request refused", "client=%ld peer=%s op=%s reason=\"%s\"", c->id, c->peer, op, err.msg);
		server_reply(ag, c->id, proto_reply_err(id, "%s", err.msg));
		return;
	}
	log_debug("request", "client=%ld op=%s", c->id, op);
	if (!args)
		args = empty = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (strcmp(handlers[i].name, op))
			continue;
		struct vm *vm;
		if (handlers[i].fn)
			handlers[i].fn(c, id, args);
		else if (handlers[i].dst)
			handlers[i].dst(ag, args, c->id, id);
		else if ((vm = need_vm(c, id, args)))
			handlers[i].vm_fn(c, id, args, vm);
		break;
	}
	json_decref(empty);
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

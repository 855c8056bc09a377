/* server.c: ferryd's listeners and clients: TLS-PSK handshake on TCP, plain on
 * the Unix socket, JSON requests dispatched to the VM layer, console relay. */
#include "ferryd/agent.h"
#include "ferryd/mig.h"
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

#define HANDSHAKE_TIMEOUT_US (10 * 1000000)
#define MAX_CLIENTS 256

enum client_phase { C_HANDSHAKE, C_OPEN, C_CONSOLE, C_CLOSING };

struct client {
	long id;
	struct agent *ag;
	struct stream *st;
	enum client_phase phase;
	char peer[64];
	int64_t accepted_us;
	int64_t last_rx_us;
	struct jsonframe in;
	struct buf out;
	int console_fd;          /* C_CONSOLE: the VM's serial socket */
	struct buf console_out;  /* client -> serial bytes not yet written */
	struct client *next;
};

static void client_close(struct client *c, const char *why);
static void client_update(struct client *c);

static int n_clients(struct agent *ag)
{
	int n = 0;
	for (struct client *c = ag->clients; c; c = c->next)
		n++;
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

void server_reply(struct agent *ag, long client_id, json_t *reply)
{
	struct client *c = find_client(ag, client_id);

	if (c && c->phase == C_OPEN) {
		proto_encode(reply, &c->out);
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
	struct agent *ag = ((void **)opaque)[0];
	long id = (long)(intptr_t)((void **)opaque)[1];
	struct client *c = find_client(ag, id);

	(void)l;
	free(opaque);
	if (c)
		client_close(c, "write failed");
}

static void client_update(struct client *c)
{
	if (c->phase == C_HANDSHAKE || c->phase == C_CLOSING)
		return;
	if (flush_out(c) < 0) {
		void **arg = xcalloc(2, sizeof(void *));
		arg[0] = c->ag;
		arg[1] = (void *)(intptr_t)c->id;
		c->phase = C_CLOSING;
		loop_add_timer(c->ag->loop, 0, close_later, arg);
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

static struct vm *need_vm(struct client *c, long id, json_t *args)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct vm *vm;

	if (!name) {
		server_reply(c->ag, c->id, proto_reply_err(id, "this request needs a VM name"));
		return NULL;
	}
	if (!(vm = vm_find(c->ag, name)))
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

static void dispatch(struct client *c, json_t *msg)
{
	struct agent *ag = c->ag;
	struct ferr err = {0};
	const char *op;
	json_t *args;
	long id;
	struct vm *vm;

	if (proto_request_parse(msg, &id, &op, &args, &err) < 0) {
		server_reply(ag, c->id, proto_reply_err(0, "bad request: %s", err.msg));
		return;
	}
	log_debug("request", "client=%ld op=%s", c->id, op);
	if (!strcmp(op, "ping")) {
		server_reply(ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:s}", "host", ag->cfg->host,
								     "version", FERRY_VERSION)));
	} else if (!strcmp(op, "list")) {
		json_t *vms = json_array();
		for (vm = ag->vms; vm; vm = vm->next)
			json_array_append_new(vms, vm_describe(vm, false));
		server_reply(ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:o}", "host", ag->cfg->host, "vms", vms)));
	} else if (!strcmp(op, "create")) {
		const char *text = json_string_value(json_object_get(args, "config"));
		const char *src = json_string_value(json_object_get(args, "source"));
		struct vm_config *cfg;
		if (!text) {
			server_reply(ag, c->id, proto_reply_err(id, "create needs a config"));
			return;
		}
		if (vmcfg_parse(text, strlen(text), src ? src : "<config>", NULL, &cfg, &err) < 0) {
			server_reply(ag, c->id, proto_reply_err(id, "%s", err.msg));
			return;
		}
		vm_create(ag, cfg, c->id, id);
	} else if (!strcmp(op, "status")) {
		if ((vm = need_vm(c, id, args)))
			server_reply(ag, c->id, proto_reply_ok(id, vm_describe(vm, true)));
	} else if (!strcmp(op, "shutdown")) {
		json_t *t = json_object_get(args, "timeout_s");
		int timeout = t ? (int)json_integer_value(t) : 60;
		if (t && (!json_is_integer(t) || timeout < 1 || timeout > 3600)) {
			server_reply(ag, c->id, proto_reply_err(id, "timeout_s must be 1 to 3600 seconds"));
			return;
		}
		if ((vm = need_vm(c, id, args)))
			vm_shutdown(vm, timeout, c->id, id);
	} else if (!strcmp(op, "destroy")) {
		if ((vm = need_vm(c, id, args)))
			vm_destroy(vm, c->id, id);
	} else if (!strcmp(op, "console")) {
		if ((vm = need_vm(c, id, args)))
			op_console(c, id, vm);
	} else if (!strcmp(op, "pause") || !strcmp(op, "unpause")) {
		if ((vm = need_vm(c, id, args)))
			vm_pause(vm, !strcmp(op, "pause"), c->id, id);
	} else if (!strcmp(op, "migrate")) {
		if ((vm = need_vm(c, id, args)))
			mig_src_start(ag, vm, args, c->id, id);
	} else if (!strcmp(op, "migrate-cancel")) {
		if ((vm = need_vm(c, id, args)))
			mig_src_cancel(vm, c->id, id);
	} else if (!strcmp(op, "migrate-recover")) {
		if ((vm = need_vm(c, id, args)))
			mig_src_recover(vm, c->id, id);
	} else if (!strcmp(op, "history")) {
		const char *name = json_string_value(json_object_get(args, "name"));
		server_reply(ag, c->id, proto_reply_ok(id, json_pack("{s:s, s:o}", "host", ag->cfg->host,
								     "migrations", mig_any_history_read(ag, name))));
	} else if (!strcmp(op, "history-add")) {
		mig_any_history_append(ag, args);
		server_reply(ag, c->id, proto_reply_ok(id, NULL));
	} else if (!strcmp(op, "mig-prepare")) {
		mig_dst_prepare(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-finish")) {
		mig_dst_finish(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-check")) {
		mig_dst_check(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-postcopy")) {
		mig_dst_postcopy(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-resumed")) {
		mig_dst_resumed(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-abort")) {
		mig_dst_abort(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-recover")) {
		mig_dst_recover(ag, args, c->id, id);
	} else if (!strcmp(op, "mig-pause")) {
		mig_dst_pause(ag, args, c->id, id);
	} else {
		server_reply(ag, c->id, proto_reply_err(id, "unknown op '%s' (this agent speaks protocol %d)", op, PROTO_VERSION));
	}
}

static void on_readable(struct client *c)
{
	char chunk[16384];
	struct ferr err = {0};
	json_t *msg;
	int r = 0;

	do {
		ssize_t n = stream_read(c->st, chunk, sizeof(chunk), &err);
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
		jsonframe_feed(&c->in, chunk, n);
		while (c->phase == C_OPEN && (r = jsonframe_next(&c->in, &msg, &err)) == 1) {
			dispatch(c, msg);
			json_decref(msg);
		}
		if (c->phase == C_CLOSING)
			return;
		if (c->phase == C_OPEN && r < 0) {
			server_reply(c->ag, c->id, proto_reply_err(0, "bad request: %s", err.msg));
			if (c->in.broken) {
				flush_out(c);
				client_close(c, err.msg);
				return;
			}
		}
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

static void on_accept(struct loop *l, int lfd, uint32_t events, void *opaque)
{
	struct agent *ag = opaque;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	bool tcp = false;
	int fd, one = 1;

	(void)events;
	for (int i = 0; i < ag->n_listen; i++)
		if (ag->listen_fd[i] == lfd)
			tcp = ag->listen_tcp[i];
	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (n_clients(ag) >= MAX_CLIENTS) {
		log_warn("too many clients, refusing one", "max=%d", MAX_CLIENTS);
		close(fd);
		return;
	}
	struct client *c = xcalloc(1, sizeof(*c));
	c->id = ++ag->next_client_id;
	c->ag = ag;
	c->console_fd = -1;
	c->accepted_us = c->last_rx_us = time_mono_us();
	if (tcp) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char host[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
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
			log_warn("client refused", "peer=%s reason=\"no TLS handshake within 10 s\"", c->peer);
			client_close(c, "handshake timeout");
		}
	}
}

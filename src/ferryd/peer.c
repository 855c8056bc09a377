/* peer.c: ferryd's asynchronous client to a peer agent. */
#include "ferryd/peer.h"
#include "ferryd/agent.h"
#include "proto/args.h"
#include "proto/proto.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum peer_phase { P_CONNECTING, P_HANDSHAKE, P_GREETING, P_READY, P_DEAD };

struct call {
	long id;
	char op[24];              /* its reply is checked against this op's schema */
	peer_reply_cb cb;
	void *opaque;
	struct peer *peer;
	long timer;
	int timeout_ms;
	struct call *next;
};

struct peer {
	struct agent *ag;
	char host[64], where[96];
	int fd;
	struct stream *st;
	enum peer_phase phase;
	struct jsonframe in;
	struct buf out;
	struct call *calls;
	long next_id;
	int64_t last_rx_us;
	long timer;               /* connect + handshake deadline */
	char early_error[128];    /* a failure found in peer_connect, reported from the loop */
	peer_ready_cb ready;
	void *opaque;
	bool freeing;             /* peer_free called; memory goes at the next loop turn */
};

const char *peer_host(const struct peer *p) { return p->host; }
long long peer_idle_us(const struct peer *p) { return time_mono_us() - p->last_rx_us; }

static void peer_io(struct loop *l, int fd, uint32_t events, void *opaque);

/* The connection is unusable: tell whoever waits, once. */
static void peer_fail(struct peer *p, const char *why)
{
	struct call *c, *next;
	enum peer_phase was = p->phase;

	if (p->phase == P_DEAD)
		return;
	p->phase = P_DEAD;
	log_warn("peer connection lost", "peer=%s reason=\"%s\"", p->where, why);
	if (p->timer) {
		loop_cancel_timer(p->ag->loop, p->timer);
		p->timer = 0;
	}
	loop_del_fd(p->ag->loop, p->fd);
	c = p->calls;
	p->calls = NULL;
	if (was != P_READY && p->ready) {
		char msg[600];
		snprintf(msg, sizeof(msg), "cannot reach host %s: %s", p->host, why);
		p->ready(p, msg, p->opaque);
	}
	for (; c; c = next) {
		next = c->next;
		if (c->timer)
			loop_cancel_timer(p->ag->loop, c->timer);
		char msg[600];
		snprintf(msg, sizeof(msg), "lost the connection to host %s: %s", p->host, why);
		if (c->cb)
			c->cb(p, NULL, msg, c->opaque);
		free(c);
	}
}

static void on_deadline(struct loop *l, void *opaque)
{
	struct peer *p = opaque;

	(void)l;
	p->timer = 0;
	if (p->phase != P_READY)
		peer_fail(p, p->early_error[0] ? p->early_error : "no answer within 10 s");
}

struct peer *peer_connect(struct agent *ag, const char *host, const char *addr, int port,
			  peer_ready_cb ready, void *opaque)
{
	struct peer *p = xcalloc(1, sizeof(*p));
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int one = 1;

	p->ag = ag;
	p->ready = ready;
	p->opaque = opaque;
	p->next_id = 1;
	p->fd = -1;
	p->last_rx_us = time_mono_us();
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->where, sizeof(p->where), "%s (%s:%d)", host, addr, port);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		len = sizeof(*a6);
	} else {
		/* Callbacks never run before peer_connect returns: report from the loop. */
		snprintf(p->early_error, sizeof(p->early_error), "'%s' is not an IP address", addr);
		p->phase = P_CONNECTING;
		p->timer = loop_add_timer(ag->loop, 0, on_deadline, p);
		return p;
	}
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->phase = P_CONNECTING;
	p->st = stream_new_client(p->fd, &ag->key);
	if (connect(p->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		snprintf(p->early_error, sizeof(p->early_error), "%s", strerror(errno));
		p->timer = loop_add_timer(ag->loop, 0, on_deadline, p);
		return p;
	}
	loop_add_fd(ag->loop, p->fd, true, peer_io, p);
	p->timer = loop_add_timer(ag->loop, 10000, on_deadline, p);
	return p;
}

static void peer_free_now(struct loop *l, void *opaque)
{
	struct peer *p = opaque;

	(void)l;
	if (p->st)
		stream_free(p->st);
	else if (p->fd >= 0)
		close(p->fd);
	jsonframe_free(&p->in);
	buf_free(&p->out);
	free(p);
}

/* Callers free their peer from inside its own callbacks (a failed call, a
 * retry): the peer's I/O code is still on the stack then. So: detach it now
 * (no more I/O, timers or callbacks: the loops below stop on P_DEAD), free
 * the memory from the loop once that code has returned. */
void peer_forget(struct peer *p, long id)
{
	for (struct call **pc = &p->calls; *pc; pc = &(*pc)->next) {
		struct call *c = *pc;
		if (c->id != id)
			continue;
		*pc = c->next;
		if (c->timer)
			loop_cancel_timer(p->ag->loop, c->timer);
		free(c);
		return;
	}
}

void peer_free(struct peer *p)
{
	if (!p || p->freeing)
		return;
	p->freeing = true;
	p->phase = P_DEAD;
	p->ready = NULL;
	if (p->timer)
		loop_cancel_timer(p->ag->loop, p->timer);
	p->timer = 0;
	if (p->fd >= 0)
		loop_del_fd(p->ag->loop, p->fd);
	while (p->calls) {
		struct call *c = p->calls;
		p->calls = c->next;
		if (c->timer)
			loop_cancel_timer(p->ag->loop, c->timer);
		free(c);
	}
	loop_add_timer(p->ag->loop, 0, peer_free_now, p);
}

static void flush(struct peer *p)
{
	struct ferr err = {0};

	if (stream_flush_buf(p->st, &p->out, &err) < 0) {
		peer_fail(p, err.msg);
		return;
	}
	loop_set_write(p->ag->loop, p->fd, p->out.len > 0);
}

static void unlink_call(struct peer *p, struct call *c)
{
	for (struct call **cp = &p->calls; *cp; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	if (c->timer)
		loop_cancel_timer(p->ag->loop, c->timer);
}

/* No answer in time: a link that drops silently would keep TCP retrying for
 * minutes, so every call has a deadline. */
static void on_call_timeout(struct loop *l, void *opaque)
{
	struct call *c = opaque;
	struct peer *p = c->peer;
	char msg[200];

	(void)l;
	c->timer = 0;
	unlink_call(p, c);
	snprintf(msg, sizeof(msg), "host %s did not answer within %d s", p->host, c->timeout_ms / 1000);
	if (c->cb)
		c->cb(p, NULL, msg, c->opaque);
	free(c);
}

long peer_call(struct peer *p, const char *op, json_t *args, peer_reply_cb cb, void *opaque)
{
	return peer_call_timeout(p, op, args, 60000, cb, opaque);
}

long peer_call_timeout(struct peer *p, const char *op, json_t *args, int timeout_ms, peer_reply_cb cb, void *opaque)
{
	struct call *c;
	json_t *req;

	if (p->phase != P_READY) {
		json_decref(args);
		if (cb)
			cb(p, NULL, "the peer connection is not open", opaque);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = p->next_id++;
	snprintf(c->op, sizeof(c->op), "%s", op);
	c->cb = cb;
	c->opaque = opaque;
	c->peer = p;
	c->timeout_ms = timeout_ms;
	c->timer = loop_add_timer(p->ag->loop, timeout_ms, on_call_timeout, c);
	c->next = p->calls;
	p->calls = c;
	req = proto_request_new(c->id, op, args);
	proto_encode(req, &p->out);
	json_decref(req);
	flush(p);
	return c->id;
}

static void dispatch(struct peer *p, json_t *msg)
{
	struct ferr err = {0};
	json_t *result;
	long id = (long)json_integer_value(json_object_get(msg, "id"));

	if (p->phase == P_GREETING) {
		const char *host;
		if (proto_greeting_check(msg, &host, &err) < 0) {
			peer_fail(p, err.msg);
			return;
		}
		if (strcmp(host, p->host)) {
			char why[200];
			snprintf(why, sizeof(why), "the agent there is host %s, not %s", host, p->host);
			peer_fail(p, why);
			return;
		}
		p->phase = P_READY;
		loop_cancel_timer(p->ag->loop, p->timer);
		p->timer = 0;
		if (p->ready)
			p->ready(p, NULL, p->opaque);
		return;
	}
	if (json_object_get(msg, "progress"))
		return;
	for (struct call **cp = &p->calls; *cp; cp = &(*cp)->next) {
		struct call *c = *cp;
		if (c->id != id)
			continue;
		*cp = c->next;
		if (c->timer)
			loop_cancel_timer(p->ag->loop, c->timer);
		int r = proto_reply_parse(msg, id, &result, &err);
		/* The one check of what a peer returns, before anyone uses it. */
		if (r == 0 && proto_result_check(c->op, result, &err) < 0) {
			log_warn("peer reply refused", "peer=%s op=%s reason=\"%s\"", p->where, c->op, err.msg);
			r = -EPROTO;
		}
		if (c->cb)
			c->cb(p, r == 0 ? result : NULL, r == 0 ? NULL : err.msg, c->opaque);
		free(c);
		return;
	}
}

static void peer_io(struct loop *l, int fd, uint32_t events, void *opaque)
{
	struct peer *p = opaque;
	struct ferr err = {0};
	json_t *msg;

	(void)l;
	(void)fd;
	if (p->phase == P_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			peer_fail(p, strerror(soerr));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		p->phase = P_HANDSHAKE;
	}
	if (p->phase == P_HANDSHAKE) {
		int r = stream_handshake(p->st, &err);
		if (r == -EAGAIN) {
			loop_set_write(p->ag->loop, p->fd, stream_handshake_wants_write(p->st));
			return;
		}
		if (r < 0) {
			peer_fail(p, err.msg);
			return;
		}
		p->phase = P_GREETING;
		loop_set_write(p->ag->loop, p->fd, false);
	}
	if (events & EPOLLOUT)
		flush(p);
	if (p->phase == P_DEAD)
		return;
	do {
		ssize_t n = stream_read_frames(p->st, &p->in, &err);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			peer_fail(p, n == 0 ? "the peer closed the connection" : err.msg);
			return;
		}
		p->last_rx_us = time_mono_us();
		int r = 0;
		while (p->phase != P_DEAD && (r = jsonframe_next(&p->in, &msg, &err)) == 1) {
			dispatch(p, msg);
			json_decref(msg);
		}
		if (p->phase != P_DEAD && r < 0) {
			peer_fail(p, err.msg);
			return;
		}
	} while (p->phase != P_DEAD && stream_pending(p->st));
}

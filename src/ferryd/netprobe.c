/* netprobe.c: the rate of the link between two agents, for a preflight's
 * estimate: the source sends for NETPROBE_MS (NETPROBE_MAX bytes at most)
 * over TLS-PSK to a one-shot listener of the destination's (op net-sink),
 * the way ferry's relay and the disk mover carry data; the rate is the bytes
 * the destination counted over the time until it said so. Both ends run in
 * helper processes (child_call): the agents' loops never wait. */
#include "ferryd/netprobe.h"
#include "ferryd/mig_dst.h"
#include "util/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define NETPROBE_MS 300
#define NETPROBE_MAX (512LL << 20)
#define SINK_LIFE_MS 15000     /* the listener's whole life */
#define CONNECT_MS 5000
#define SOCKBUF (4 << 20)

struct sink {
	struct tls_key key;
	char from[64];
};

/* In a child: one connection from the source's address; everything read is
 * counted and dropped; the count goes back at the sender's end of stream. */
static json_t *sink_main(void *arg)
{
	struct sink *k = arg;
	struct ferr err = {0};
	static uint8_t buf[256 << 10];

	signal(SIGPIPE, SIG_IGN);
	int fd = sock_accept_from(CHILD_KEEP_FD, k->from, CONNECT_MS);
	if (fd < 0)
		return child_error("the source did not connect in time");
	close(CHILD_KEEP_FD);
	struct stream *s = stream_new_server(fd, &k->key);
	long long got = 0;
	int r = stream_handshake_wait(s, CONNECT_MS, &err);
	while (r == 0 && got <= NETPROBE_MAX) {
		ssize_t n = stream_read(s, buf, sizeof(buf), &err);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			r = n < 0 ? (int)n : 0;
			break;
		}
		got += n;
	}
	uint8_t c[8];
	for (int i = 0; i < 8; i++)
		c[i] = (uint8_t)((unsigned long long)got >> (8 * i));
	if (r == 0)
		r = stream_write_all(s, c, 8, &err);
	stream_bye(s);
	stream_free(s);
	return r < 0 ? child_error("%s", err.msg[0] ? err.msg : "the probe stream broke") : json_pack("{s:I}", "bytes", got);
}

static void sink_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	(void)ag;
	log_info("net probe received", "bytes=%lld error=\"%s\"",
		 (long long)json_integer_value(json_object_get(result, "bytes")),
		 err ? err : json_string_value(json_object_get(result, "error")) ?: "");
	free(opaque);
}

void netprobe_op_sink(struct request *r, json_t *args, struct vm *unused)
{
	struct agent *ag = r->ag;
	struct sink *k = xcalloc(1, sizeof(*k));
	struct ferr err = {0};
	char addr[64];
	int port = 0;

	(void)args;
	(void)unused;
	if (dst_listen_addr(ag, r->client_id, addr, sizeof(addr)) < 0 ||
	    server_client_peer_addr(ag, r->client_id, k->from, sizeof(k->from)) < 0) {
		request_err(r, "net-sink comes from another agent over TCP");
		free(k);
		return;
	}
	int lfd = sock_listen_free_port(addr, SOCKBUF, &port, &err);
	if (lfd < 0) {
		request_err(r, "cannot listen for the probe: %s", err.msg);
		free(k);
		return;
	}
	k->key = ag->key;
	if (child_call_keep(ag, sink_main, k, lfd, SINK_LIFE_MS, sink_done, k) < 0) {
		request_err(r, "cannot start the probe: out of processes");
		close(lfd);
		free(k);
		return;
	}
	close(lfd);   /* the child has it */
	request_ok(r, json_pack("{s:i}", "port", port));
}

struct send {
	struct tls_key key;
	char addr[64];
	int port;
};

/* In a child: NETPROBE_MS of data, then the destination's count. */
static json_t *send_main(void *arg)
{
	struct send *x = arg;
	struct ferr err = {0};
	static uint8_t buf[256 << 10];
	long long sent = 0;

	signal(SIGPIPE, SIG_IGN);
	int fd = sock_connect_tcp(x->addr, x->port, CONNECT_MS, &err);
	if (fd < 0)
		return child_error("%s", err.msg);
	int yes = 1, sz = SOCKBUF;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	struct stream *s = stream_new_client(fd, &x->key);
	int r = stream_handshake_wait(s, CONNECT_MS, &err);
	int64_t t0 = time_mono_us(), end = t0 + NETPROBE_MS * 1000LL;
	memset(buf, 0x5a, sizeof(buf));
	while (r == 0 && time_mono_us() < end && sent < NETPROBE_MAX) {
		r = stream_write_all(s, buf, sizeof(buf), &err);
		sent += (long long)sizeof(buf);
	}
	stream_bye(s);
	uint8_t c[8];
	size_t have = 0;
	while (r == 0 && have < 8) {
		ssize_t n = stream_read(s, c + have, 8 - have, &err);
		if (n == -EAGAIN) {
			struct pollfd p = { fd, POLLIN, 0 };
			if (poll(&p, 1, CONNECT_MS) <= 0)
				r = -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			r = n < 0 ? (int)n : -EPIPE;
		else
			have += (size_t)n;
	}
	int64_t us = time_mono_us() - t0;
	stream_free(s);
	if (r < 0)
		return child_error("%s", err.msg[0] ? err.msg : "the probe stream broke");
	unsigned long long got = 0;
	for (int i = 7; i >= 0; i--)
		got = got << 8 | c[i];
	return json_pack("{s:I, s:I}", "bytes", (json_int_t)got, "us", (json_int_t)us);
}

struct send_call {
	netprobe_done_fn done;
	void *opaque;
	struct send x;
};

static void send_done(struct agent *ag, json_t *result, const char *err, void *opaque)
{
	struct send_call *c = opaque;
	double mb_s = -1;
	const char *why = err ? err : json_string_value(json_object_get(result, "error"));

	if (!why) {
		json_int_t bytes = json_integer_value(json_object_get(result, "bytes")),
			   us = json_integer_value(json_object_get(result, "us"));
		if (bytes > 0 && us > 0)
			mb_s = (double)bytes / (double)us;   /* bytes per us = MB/s */
		else
			why = "the destination counted nothing";
	}
	c->done(ag, mb_s, why, c->opaque);
	free(c);
}

int netprobe_send(struct agent *ag, const char *addr, int port, netprobe_done_fn done, void *opaque)
{
	struct send_call *c = xcalloc(1, sizeof(*c));

	c->done = done;
	c->opaque = opaque;
	c->x.key = ag->key;
	c->x.port = port;
	snprintf(c->x.addr, sizeof(c->x.addr), "%s", addr);
	if (child_call(ag, send_main, &c->x, SINK_LIFE_MS, send_done, c) < 0) {
		free(c);
		return -EAGAIN;
	}
	return 0;
}

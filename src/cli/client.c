/* client.c: the CLI's connection to an agent: Unix socket (local) or TCP +
 * TLS-PSK (named host), greeting check, blocking request/reply. */
#include "cli/cli.h"
#include "config/hosts.h"
#include "net/stream.h"
#include "proto/proto.h"
#include "util/jsonframe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct agent_conn {
	struct stream *st;
	struct jsonframe in;
	char host[64];
	char where[128];
	long next_id;
};

const char *agent_host(const struct agent_conn *c) { return c->host; }
int agent_fd(const struct agent_conn *c) { return stream_fd(c->st); }
bool agent_pending(const struct agent_conn *c) { return stream_pending(c->st); }

void agent_close(struct agent_conn *c)
{
	if (!c)
		return;
	if (c->st)
		stream_bye(c->st);
	stream_free(c->st);
	jsonframe_free(&c->in);
	free(c);
}

/* Connect from inside network namespace ns (the lab's client), then return. */
static int connect_in_netns(const char *ns, const char *addr, int port, struct ferr *err)
{
	char path[256];
	int self, target, fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
		ferr_set(err, "cannot enter network namespace %s: %s%s", ns, strerror(errno),
			 errno == ENOENT ? " (is the lab up? run 'ferry lab up')" : "");
		if (self >= 0) close(self);
		if (target >= 0) close(target);
		return -ENOENT;
	}
	fd = sock_connect_tcp(addr, port, 5000, err);
	setns(self, CLONE_NEWNET);
	close(self);
	close(target);
	return fd;
}

static int wait_fd(int fd, short ev, int64_t deadline_us)
{
	struct pollfd p = { fd, ev, 0 };
	int64_t left = deadline_us - time_mono_us();

	if (left <= 0)
		return -ETIMEDOUT;
	int n = poll(&p, 1, (int)((left + 999) / 1000));
	return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

static int read_message(struct agent_conn *c, int timeout_ms, json_t **msg, struct ferr *err)
{
	int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;

	for (;;) {
		int r = jsonframe_next(&c->in, msg, err);
		if (r == 1)
			return 0;
		if (r < 0)
			return -EPROTO;
		if (!stream_pending(c->st) && (r = wait_fd(stream_fd(c->st), POLLIN, deadline)) < 0) {
			ferr_set(err, "%s did not answer within %d s", c->where, timeout_ms / 1000);
			return r;
		}
		ssize_t n = stream_read_frames(c->st, &c->in, err);
		if (n == -EAGAIN)
			continue;
		if (n == 0) {
			ferr_set(err, "%s closed the connection", c->where);
			return -EPIPE;
		}
		if (n < 0)
			return (int)n;
	}
}

int agent_connect(const struct cli *cli, const char *host, struct agent_conn **out, struct ferr *err)
{
	struct agent_conn *c = xcalloc(1, sizeof(*c));
	struct host_entry h;
	struct tls_key key;
	json_t *greet = NULL;
	const char *gh;
	int fd, r;

	c->next_id = 1;
	if (!host) {
		const char *path = cli->socket;
		if (!path) path = getenv("FERRY_SOCKET");
		if (!path) path = "/run/ferry/ferryd.sock";
		snprintf(c->where, sizeof(c->where), "the local agent (%s)", path);
		if ((fd = sock_connect_unix(path, err)) < 0) {
			ferr_set(err, "cannot reach the local agent at %s: %s%s", path, strerror(-fd),
				 fd == -ENOENT || fd == -ECONNREFUSED ? " (is ferryd running?)" : "");
			goto fail;
		}
		c->st = stream_new_client(fd, NULL);
	} else {
		const char *hosts = cli->hosts ? cli->hosts : hosts_default_path();
		if ((r = hosts_lookup(hosts, host, &h, err)) < 0)
			goto fail;
		snprintf(c->where, sizeof(c->where), "host %s (%s:%d)", host, h.addr, h.port);
		const char *keyfile = cli->key ? cli->key : h.key[0] ? h.key : "/etc/ferry/key";
		if (tls_key_load(keyfile, &key, err) < 0)
			goto fail;
		fd = h.netns[0] ? connect_in_netns(h.netns, h.addr, h.port, err) : sock_connect_tcp(h.addr, h.port, 5000, err);
		if (fd < 0) {
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			ferr_set(err, "host %s is unreachable: %s", host, why);
			goto fail;
		}
		fd_set_nonblock(fd);
		c->st = stream_new_client(fd, &key);
		int64_t deadline = time_mono_us() + 10000000;
		while ((r = stream_handshake(c->st, err)) == -EAGAIN) {
			if (wait_fd(fd, stream_handshake_wants_write(c->st) ? POLLOUT : POLLIN, deadline) < 0) {
				ferr_set(err, "host %s: no TLS handshake within 10 s", host);
				goto fail;
			}
		}
		if (r < 0) {
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			ferr_set(err, "host %s refused us: %s (key file %s)", host, why, keyfile);
			goto fail;
		}
	}
	if ((r = read_message(c, 10000, &greet, err)) < 0)
		goto fail;
	if (proto_greeting_check(greet, &gh, err) < 0)
		goto fail;
	snprintf(c->host, sizeof(c->host), "%s", gh);
	json_decref(greet);
	*out = c;
	return 0;
fail:
	json_decref(greet);
	agent_close(c);
	return -ECONNREFUSED;
}

int agent_call(struct agent_conn *c, const char *op, json_t *args, int timeout_ms, json_t **result, struct ferr *err)
{
	return agent_call_progress(c, op, args, timeout_ms, result, err, NULL, NULL);
}

int agent_call_progress(struct agent_conn *c, const char *op, json_t *args, int timeout_ms, json_t **result,
			struct ferr *err, agent_progress_fn on_progress, void *opaque)
{
	long id = c->next_id++;
	json_t *req = proto_request_new(id, op, args), *reply = NULL, *res;
	struct buf b = {0};
	int r;

	proto_encode(req, &b);
	json_decref(req);
	r = agent_write_raw(c, b.data, b.len);
	buf_free(&b);
	if (r < 0) {
		ferr_set(err, "cannot send to %s: %s", c->where, strerror(-r));
		return r;
	}
	/* Progress messages for this request come first; the timeout is per message. */
	for (;;) {
		if ((r = read_message(c, timeout_ms, &reply, err)) < 0)
			return r;
		json_t *prog = json_object_get(reply, "progress");
		if (!prog)
			break;
		if (on_progress && json_integer_value(json_object_get(reply, "id")) == id)
			on_progress(prog, opaque);
		json_decref(reply);
	}
	if ((r = proto_reply_parse(reply, id, &res, err)) == 0)
		*result = json_incref(res);
	json_decref(reply);
	return r;
}

int agent_write_raw(struct agent_conn *c, const void *p, size_t n)
{
	struct ferr err;
	const char *s = p;

	while (n) {
		ssize_t w = stream_write(c->st, s, n, &err);
		if (w == -EAGAIN) {
			if (wait_fd(stream_fd(c->st), POLLOUT, time_mono_us() + 10000000) < 0)
				return -ETIMEDOUT;
			continue;
		}
		if (w < 0)
			return (int)w;
		s += w;
		n -= w;
	}
	return 0;
}

ssize_t agent_read_raw(struct agent_conn *c, void *p, size_t n)
{
	struct ferr err;

	/* Bytes the JSON framer already holds come first. */
	if (c->in.in.len) {
		size_t k = n < c->in.in.len ? n : c->in.in.len;
		memcpy(p, c->in.in.data, k);
		buf_consume(&c->in.in, k);
		return k;
	}
	return stream_read(c->st, p, n, &err);
}

int cli_call(const struct cli *cli, const char *op, json_t *args, json_t **result)
{
	struct agent_conn *c;
	struct ferr err = {0};
	int r;

	if (agent_connect(cli, cli->host, &c, &err) < 0) {
		json_decref(args);
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	r = agent_call(c, op, args, cli->timeout_ms, result, &err);
	agent_close(c);
	if (r < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	return 0;
}

/* 15 significant digits: 9.589 prints as 9.589, not 9.5890000000000004
 * (the shortest exact form jansson uses by default); timestamps are
 * integers, and ms figures carry at most us. */
void cli_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));

	printf("%s\n", s);
	free(s);
}

/* fake_peer.c: a hostile destination agent for tests. It holds the lab's
 * key, greets as host NAME and answers every op with ok, except mig-prepare,
 * which gets the JSON result given on the command line (an exec: URI, a
 * foreign NBD address, wrong types...), and host-facts, which gets the
 * contents of the file FAKE_PEER_FACTS (a real host's answer: the move then
 * gets past its preflight to mig-prepare). FAKE_PEER_PROTOCOL=N greets with
 * protocol version N (an agent of another ferry). One connection at a time,
 * blocking.
 * Usage: fake_peer LISTEN_ADDR PORT KEYFILE NAME PREPARE_RESULT_JSON */
#include "net/stream.h"
#include "proto/proto.h"
#include "util/jsonframe.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

static int send_msg(struct stream *s, json_t *m)
{
	struct buf b = {0};
	struct ferr err = {0};
	int r = proto_encode(m, &b);

	json_decref(m);
	while (r == 0 && b.len) {
		r = stream_flush_buf(s, &b, &err);
		if (r == 0 && b.len) {
			struct pollfd p = { stream_fd(s), POLLOUT, 0 };
			poll(&p, 1, 1000);
		}
	}
	buf_free(&b);
	return r;
}

static json_t *facts;   /* FAKE_PEER_FACTS */

static json_t *greeting(const char *name)
{
	const char *v = getenv("FAKE_PEER_PROTOCOL");
	json_t *g = proto_greeting_new(name);

	if (v)
		json_object_set_new(g, "ferry", json_integer(atoi(v)));
	return g;
}

static void serve(int fd, const struct tls_key *key, const char *name, json_t *prepare)
{
	struct stream *s = stream_new_server(fd, key);
	struct jsonframe f = {0};
	struct ferr err = {0};
	char chunk[16384];
	int r;

	while ((r = stream_handshake(s, &err)) == -EAGAIN) {
		struct pollfd p = { fd, stream_handshake_wants_write(s) ? POLLOUT : POLLIN, 0 };
		if (poll(&p, 1, 5000) <= 0)
			break;
	}
	if (r < 0 || send_msg(s, greeting(name)) < 0)
		goto out;
	for (;;) {
		ssize_t n = stream_read(s, chunk, sizeof(chunk), &err);
		if (n == -EAGAIN) {
			struct pollfd p = { fd, POLLIN, 0 };
			if (poll(&p, 1, 30000) <= 0)
				goto out;
			continue;
		}
		if (n <= 0)
			goto out;
		jsonframe_feed(&f, chunk, n);
		json_t *m;
		while (jsonframe_next(&f, &m, &err) == 1) {
			long id;
			const char *op;
			json_t *args;
			if (proto_request_parse(m, &id, &op, &args, &err) == 0) {
				printf("fake_peer: %s\n", op);
				fflush(stdout);
				json_t *res = !strcmp(op, "mig-prepare") ? json_incref(prepare) :
					      !strcmp(op, "host-facts") && facts ? json_incref(facts) : NULL;
				send_msg(s, proto_reply_ok(id, res));
			}
			json_decref(m);
		}
	}
out:
	jsonframe_free(&f);
	stream_free(s);
}

int main(int argc, char **argv)
{
	struct tls_key key;
	struct ferr err = {0};
	char spec[128];
	json_error_t je;

	if (argc != 6) {
		fprintf(stderr, "usage: fake_peer ADDR PORT KEYFILE NAME PREPARE_RESULT_JSON\n");
		return 2;
	}
	json_t *prepare = json_loads(argv[5], 0, &je);
	if (!prepare || tls_key_load(argv[3], &key, &err) < 0) {
		fprintf(stderr, "fake_peer: %s\n", prepare ? err.msg : je.text);
		return 1;
	}
	if (getenv("FAKE_PEER_FACTS") && !(facts = json_load_file(getenv("FAKE_PEER_FACTS"), 0, &je))) {
		fprintf(stderr, "fake_peer: %s: %s\n", getenv("FAKE_PEER_FACTS"), je.text);
		return 1;
	}
	snprintf(spec, sizeof(spec), "tcp:%s:%s", argv[1], argv[2]);
	int lfd = sock_listen(spec, &err);
	if (lfd < 0) {
		fprintf(stderr, "fake_peer: %s\n", err.msg);
		return 1;
	}
	for (;;) {
		struct pollfd p = { lfd, POLLIN, 0 };
		poll(&p, 1, -1);
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			serve(fd, &key, argv[4], prepare);
	}
}

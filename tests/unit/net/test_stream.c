/* test_stream.c: TLS-PSK streams: key files, a good key is served, a wrong
 * key is refused on both ends, no plaintext on the wire. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "net/stream.h"

/* Relays bytes between two socketpairs so the test can see the wire. */
struct wire {
	int cli, srv;           /* the stream ends */
	int cli_far, srv_far;   /* the relay's ends */
	char seen[65536];
	size_t n_seen;
};

static void wire_init(struct wire *w)
{
	int a[2], b[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	w->cli = a[0]; w->cli_far = a[1];
	w->srv = b[0]; w->srv_far = b[1];
	w->n_seen = 0;
	fcntl(w->cli, F_SETFL, O_NONBLOCK);
	fcntl(w->srv, F_SETFL, O_NONBLOCK);
	fcntl(w->cli_far, F_SETFL, O_NONBLOCK);
	fcntl(w->srv_far, F_SETFL, O_NONBLOCK);
}

static void relay(struct wire *w)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(w->cli_far, buf, sizeof(buf))) > 0) {
		(void)!write(w->srv_far, buf, n);
		if (w->n_seen + n <= sizeof(w->seen)) {
			memcpy(w->seen + w->n_seen, buf, n);
			w->n_seen += n;
		}
	}
	while ((n = read(w->srv_far, buf, sizeof(buf))) > 0)
		(void)!write(w->cli_far, buf, n);
}

static void make_key(const char *path, char fill)
{
	char hex[65];
	memset(hex, fill, 64);
	hex[64] = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(write(fd, hex, 64) == 64);
	close(fd);
}

/* Runs both handshakes to the end; returns client and server results. */
static void handshake_both(struct wire *w, struct stream *c, struct stream *s, int *rc, int *rs,
			   struct ferr *ec, struct ferr *es)
{
	*rc = *rs = -EAGAIN;
	for (int i = 0; i < 200 && (*rc == -EAGAIN || *rs == -EAGAIN); i++) {
		if (*rc == -EAGAIN)
			*rc = stream_handshake(c, ec);
		relay(w);
		if (*rs == -EAGAIN)
			*rs = stream_handshake(s, es);
		relay(w);
	}
}

static void test_key_files(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-key-XXXXXX";
	struct tls_key k;
	struct ferr err = {0};
	int fd = mkstemp(path);

	close(fd);
	unlink(path);
	assert_int_equal(tls_key_generate(path, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(tls_key_load(path, &k, &err), 0);
	/* Refuses to overwrite a key. */
	assert_int_not_equal(tls_key_generate(path, &err), 0);
	/* Group/other readable: refused with the fix in the message. */
	chmod(path, 0644);
	assert_int_equal(tls_key_load(path, &k, &err), -EPERM);
	assert_non_null(strstr(err.msg, "chmod 600"));
	chmod(path, 0600);
	/* Owned by someone else (who could replace it): refused, with the fix. */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(tls_key_load(path, &k, &err), -EPERM);
		assert_non_null(strstr(err.msg, "chown 0"));
		assert_int_equal(chown(path, 0, 0), 0);
		assert_int_equal(tls_key_load(path, &k, &err), 0);
	}
	/* Short or non-hex content. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(write(fd, "abcd\n", 5) == 5);
	close(fd);
	assert_int_equal(tls_key_load(path, &k, &err), -EINVAL);
	make_key(path, 'g');
	assert_int_equal(tls_key_load(path, &k, &err), -EINVAL);
	unlink(path);
	assert_true(tls_key_load(path, &k, &err) < 0);
}

static void test_good_key_and_no_plaintext(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-key-good";
	struct tls_key k;
	struct ferr ec = {0}, es = {0};
	struct wire w;
	int rc, rs;
	const char secret[] = "PLANTED-SECRET-PATTERN-0123456789";
	char buf[256];

	make_key(path, 'a');
	assert_int_equal(tls_key_load(path, &k, &ec), 0);
	unlink(path);
	wire_init(&w);
	struct stream *c = stream_new_client(w.cli, &k), *s = stream_new_server(w.srv, &k);
	handshake_both(&w, c, s, &rc, &rs, &ec, &es);
	assert_int_equal(rc, 0);
	assert_int_equal(rs, 0);
	assert_true(stream_is_tls(c));
	assert_int_equal(stream_write(c, secret, sizeof(secret), &ec), (ssize_t)sizeof(secret));
	relay(&w);
	ssize_t n = stream_read(s, buf, sizeof(buf), &es);
	assert_int_equal(n, (ssize_t)sizeof(secret));
	assert_string_equal(buf, secret);
	/* The wire never carried the plaintext. */
	assert_true(w.n_seen > 0);
	assert_null(memmem(w.seen, w.n_seen, "PLANTED-SECRET", 14));
	stream_free(c);
	stream_free(s);
	close(w.cli_far);
	close(w.srv_far);
}

static void test_wrong_key_refused(void **state)
{
	(void)state;
	struct tls_key k1, k2;
	struct ferr ec = {0}, es = {0};
	struct wire w;
	int rc, rs;

	memset(&k1, 0x11, sizeof(k1));
	memset(&k2, 0x22, sizeof(k2));
	wire_init(&w);
	struct stream *c = stream_new_client(w.cli, &k1), *s = stream_new_server(w.srv, &k2);
	handshake_both(&w, c, s, &rc, &rs, &ec, &es);
	assert_int_equal(rs, -EPROTO);
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(es.msg, "keys do not match"));
	assert_non_null(strstr(ec.msg, "keys do not match"));
	stream_free(c);
	stream_free(s);
	close(w.cli_far);
	close(w.srv_far);
}

static void test_plain_unix(void **state)
{
	(void)state;
	int sv[2];
	struct ferr err = {0};
	char buf[16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct stream *a = stream_new_client(sv[0], NULL), *b = stream_new_server(sv[1], NULL);
	assert_int_equal(stream_handshake(a, &err), 0);
	assert_false(stream_is_tls(a));
	assert_int_equal(stream_write(a, "hello", 5, &err), 5);
	assert_int_equal(stream_read(b, buf, sizeof(buf), &err), 5);
	assert_memory_equal(buf, "hello", 5);
	stream_free(a);
	assert_int_equal(stream_read(b, buf, sizeof(buf), &err), 0);   /* EOF */
	stream_free(b);
}

static void test_listen_specs(void **state)
{
	(void)state;
	struct ferr err = {0};

	assert_true(sock_listen("http://x", &err) < 0);
	assert_non_null(strstr(err.msg, "unix: or tcp:"));
	assert_true(sock_listen("tcp:nohost:1", &err) < 0);
	assert_non_null(strstr(err.msg, "not an IP address"));
	assert_true(sock_listen("tcp:127.0.0.1:99999", &err) < 0);
	int fd = sock_listen("unix:/tmp/ferry-test-listen.sock", &err);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(stat("/tmp/ferry-test-listen.sock", &st), 0);
	assert_int_equal(st.st_mode & 077, 0);   /* only the owner may connect */
	close(fd);
	unlink("/tmp/ferry-test-listen.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_good_key_and_no_plaintext),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test(test_plain_unix),
		cmocka_unit_test(test_listen_specs),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}

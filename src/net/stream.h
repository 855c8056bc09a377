/* stream.h: a byte stream to a peer: a plain Unix socket (local only) or TCP
 * wrapped in TLS with a pre-shared key (GnuTLS PSK). Plus listen/connect. */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util/util.h"

#define TLS_KEY_BYTES 32
#define TLS_PSK_IDENTITY "ferry"

struct tls_key {
	unsigned char bytes[TLS_KEY_BYTES];
};

/* Reads a key file: 64 hex digits. Refuses a file that group or others can
 * read or write (the key is the only thing between the network and root). */
int tls_key_load(const char *path, struct tls_key *key, struct ferr *err);
/* Writes a fresh random key to path with mode 0600 (fails if it exists). */
int tls_key_generate(const char *path, struct ferr *err);

struct stream;

/* Takes ownership of fd. key NULL: plain (Unix sockets only). */
struct stream *stream_new_server(int fd, const struct tls_key *key);
struct stream *stream_new_client(int fd, const struct tls_key *key);
void stream_free(struct stream *s);   /* closes fd; NULL is a no-op */

int stream_fd(const struct stream *s);
bool stream_is_tls(const struct stream *s);
/* Drives the TLS handshake: 0 when done, -EAGAIN to call again when the fd is
 * ready (stream_handshake_wants_write says which way), else -EPROTO with err. */
int stream_handshake(struct stream *s, struct ferr *err);
/* The whole handshake on a blocking caller's stream (a helper process),
 * within timeout_ms: 0, -ETIMEDOUT, or stream_handshake's error. */
int stream_handshake_wait(struct stream *s, int timeout_ms, struct ferr *err);
bool stream_handshake_wants_write(const struct stream *s);
/* n > 0 bytes, 0 at EOF, -EAGAIN, or -errno/-EPROTO. */
ssize_t stream_read(struct stream *s, void *p, size_t n, struct ferr *err);
ssize_t stream_write(struct stream *s, const void *p, size_t n, struct ferr *err);
/* Writes all of p, waiting for the socket when it is full (for the relays'
 * and the mover's children, which may block): 0, or -errno (-EPIPE when the
 * stream ended) with err. */
int stream_write_all(struct stream *s, const void *p, size_t n, struct ferr *err);
/* Reads what is there (at most 16 KiB) into the JSON framer f: as
 * stream_read (n > 0 bytes fed, 0 at EOF, -EAGAIN, -errno). The one
 * read-and-frame step of the server, the peer client and the CLI. */
struct jsonframe;
ssize_t stream_read_frames(struct stream *s, struct jsonframe *f, struct ferr *err);
/* Writes as much of b as the stream takes now and drops it from b.
 * 0 (b may still hold bytes: wait for POLLOUT), or -errno with err. */
struct buf;
int stream_flush_buf(struct stream *s, struct buf *b, struct ferr *err);
/* True if decrypted bytes wait inside the TLS layer (poll will not show them). */
bool stream_pending(const struct stream *s);
/* Orderly TLS close (best effort) before stream_free. */
void stream_bye(struct stream *s);

/* The one parser of IP literals: ip (IPv4 or IPv6, no brackets) and port
 * into *ss and *len; -EINVAL if ip is not an IP literal. */
#include <sys/socket.h>
int sock_addr_parse(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len);
int sock_addr_port(const struct sockaddr_storage *ss);
/* The one formatter: the IP literal of ss into out; returns its port, or
 * -EAFNOSUPPORT (out unchanged) for anything but IPv4/IPv6. */
int sock_addr_ntop(const struct sockaddr_storage *ss, char *out, size_t n);

/* "unix:/path" or "tcp:ADDR:PORT" (ADDR an IPv4/IPv6 literal). */
int sock_listen(const char *spec, struct ferr *err);
/* Listens on addr (an IP literal) at a port the kernel picks, which stays
 * ours (no probe-then-bind race): the fd, with the port in *port; rcvbuf > 0
 * sets SO_RCVBUF first (accepted sockets inherit it). -errno with err. */
int sock_listen_free_port(const char *addr, int rcvbuf, int *port, struct ferr *err);
/* One connection on listener lfd from the IP address `from` (others are
 * closed unseen) within timeout_ms: the connected fd (blocking), or
 * -ETIMEDOUT. For a helper process's one-shot listener. */
int sock_accept_from(int lfd, const char *from, int timeout_ms);
int sock_connect_unix(const char *path, struct ferr *err);
int sock_connect_tcp(const char *addr, int port, int timeout_ms, struct ferr *err);

#endif

/* tunnel.c: carries a migration stream between two hosts in TLS-PSK.
 *
 * QEMU's own TLS channel (tls-creds) writes every page header and every
 * 4 KiB page as a TLS record of its own, and the receiver reads each record
 * with two system calls: on this machine that ran at 70-100 MB/s, against
 * ~1 GB/s for the plain stream. So by default QEMU migrates in plaintext to
 * a Unix socket only root can reach, and a relay process moves the bytes to
 * the other host in full 16 KiB records, with the hosts' pre-shared key:
 *
 *   source QEMU -> unix:mig-out.sock -> relay -> TCP+TLS -> relay ->
 *   unix:mig-in.sock -> destination QEMU
 *
 * Each connection QEMU opens (main stream, multifd channels, a post-copy
 * recovery) becomes one TLS connection; the relay forks a child per
 * connection, which copies both ways with blocking I/O until either side
 * closes. The listening relay lives until ferryd stops it (tunnel_stop).
 *
 * QEMU 7.2's destination takes the first connection it accepts for the
 * main stream and every later one for a multifd channel (--parallel). The
 * out relay's children connect and shake hands at once, so a channel could
 * overtake the main stream and the move would stall or break (seen: 2 in 8
 * moves with --parallel 4). So each TLS connection begins with a header,
 * "FSEQ" and its number in the order QEMU opened them here (0: the main
 * stream), and the in relay hands number 0 to QEMU before any other.
 *
 * The incoming relay faces the network: it takes connections only from the
 * source agent's address, runs at most TUNNEL_MAX_PENDING handshakes at a
 * time itself (each within TUNNEL_HANDSHAKE_MS) and forks only for an
 * authenticated connection, at most TUNNEL_MAX_COPIERS at once: a thousand
 * slow strangers cost a thousand closed sockets, not a thousand processes. */
#include "ferryd/tunnel.h"
#include "net/stream.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define CHUNK (64 * 1024)
/* Socket buffers on the relay's legs. Whatever sits in buffers when QEMU
 * stops the guest must cross the slowest stage (encryption) during the
 * pause, and QEMU sizes its last round as if it went at the rate it could
 * fill them. Linux lets TCP grow them to MBs: tens of ms at relay speed. */
#define SOCKBUF (512 * 1024)
#define CONNECT_TIMEOUT_MS 5000
#define SEQ_MAGIC "FSEQ"
#define SEQ_LEN 8             /* the magic, then the number (big-endian) */

struct relay {
	bool out;                /* listens on Unix, connects TCP+TLS */
	char from[64];           /* in: the only address connections may come from */
	char unix_path[108];     /* out: where QEMU connects; in: where QEMU listens */
	char addr[64];           /* out: the other relay */
	int port;
	struct tls_key key;
};

/* Copies plain <-> tls until either side ends. */
static void pump(int plain, struct stream *tls)
{
	static char buf[CHUNK];
	struct ferr err = {0};
	int tfd = stream_fd(tls);

	for (;;) {
		struct pollfd p[2] = { { plain, POLLIN, 0 }, { tfd, POLLIN, 0 } };
		if (!stream_pending(tls) && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (stream_pending(tls) || p[1].revents) {
			ssize_t r = stream_read(tls, buf, sizeof(buf), &err);
			if (r == 0 || (r < 0 && r != -EAGAIN))
				return;
			if (r > 0 && write_all(plain, buf, (size_t)r) < 0)
				return;
		}
		if (p[0].revents) {
			ssize_t r = recv(plain, buf, sizeof(buf), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return;
			if (stream_write_all(tls, buf, (size_t)r, &err) < 0)
				return;
		}
	}
}

/* Both sides, in a child: the TLS leg is up; copy until either side ends. */
static void copy_and_close(int plain, struct stream *s)
{
	int fl = fcntl(plain, F_GETFL), sz = SOCKBUF;

	fcntl(plain, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(plain, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	pump(plain, s);
	stream_bye(s);
	stream_free(s);
	close(plain);
}

/* Out side: QEMU connected to our Unix socket (fd), its seq-th connection;
 * reach the other relay and say which one this is. */
static void serve_out(const struct relay *rl, int fd, uint32_t seq)
{
	struct ferr err = {0};
	struct stream *s;
	int tcp, one = 1, fl, sz = SOCKBUF;

	if ((tcp = sock_connect_tcp(rl->addr, rl->port, CONNECT_TIMEOUT_MS, &err)) < 0) {
		log_error("tunnel: cannot reach the other host", "error=\"%s\"", err.msg);
		return;
	}
	s = stream_new_client(tcp, &rl->key);
	setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* The stream layer is non-blocking; the relay child blocks in poll. */
	fl = fcntl(tcp, F_GETFL);
	fcntl(tcp, F_SETFL, fl | O_NONBLOCK);
	if (stream_handshake_wait(s, CONNECT_TIMEOUT_MS, &err) < 0) {
		log_error("tunnel: TLS handshake failed", "error=\"%s\"", err.msg);
		stream_free(s);
		return;
	}
	char hdr[SEQ_LEN] = SEQ_MAGIC;
	hdr[4] = (char)(seq >> 24);
	hdr[5] = (char)(seq >> 16);
	hdr[6] = (char)(seq >> 8);
	hdr[7] = (char)seq;
	if (stream_write_all(s, hdr, sizeof(hdr), &err) < 0) {
		log_error("tunnel: cannot send the connection's number", "error=\"%s\"", err.msg);
		stream_free(s);
		return;
	}
	copy_and_close(fd, s);
}

static void relay_main(const struct relay *rl, int lfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);   /* ferryd blocks them for signalfd */
	signal(SIGCHLD, SIG_IGN);                /* children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "ferry-tunnel");
	setpgid(0, 0);
	for (uint32_t next_seq = 0;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		uint32_t seq = next_seq++;   /* QEMU's connections, in the order it made them */
		pid_t pid = fork();
		if (pid == 0) {
			/* A live stream outlives the agent: cut during post-copy it
			 * could make the destination QEMU give up the guest. It ends
			 * when either side closes; tunnel_stop ends it too. */
			close(lfd);
			prctl(PR_SET_PDEATHSIG, 0);
			serve_out(rl, fd, seq);
			_exit(0);
		}
		close(fd);
	}
}

/* A connection of the in side, from its accept to its copier: the TLS
 * handshake, then its header, then (a channel before the main stream came)
 * its turn. */
enum pend_stage { P_HANDSHAKE, P_HEADER, P_WAIT_MAIN };
struct pending {
	struct stream *s;
	int64_t deadline_us;
	enum pend_stage stage;
	char hdr[SEQ_LEN];
	int hdr_len;
	uint32_t seq;
};

static bool from_allowed(const struct relay *rl, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "";

	sock_addr_ntop(ss, host, sizeof(host));
	return !rl->from[0] || !strcmp(host, rl->from);
}

/* A new connection: kept for its handshake if it comes from the source
 * agent's address and a slot is free; else closed. */
static void in_accept(const struct relay *rl, int lfd, struct pending *pend)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int slot = -1, one = 1;

	if (fd < 0)
		return;
	for (int i = 0; i < TUNNEL_MAX_PENDING && slot < 0; i++)
		if (!pend[i].s)
			slot = i;
	if (!from_allowed(rl, &ss) || slot < 0) {
		log_warn("tunnel: connection refused", "reason=\"%s\"",
			 slot < 0 ? "too many handshakes at once" : "not from the source agent's address");
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pend[slot] = (struct pending){ .s = stream_new_server(fd, &rl->key),
				       .deadline_us = time_mono_us() + TUNNEL_HANDSHAKE_MS * 1000LL };
}

/* An authenticated stream whose turn it is: connected to QEMU here, in
 * order, then a child of its own copies it. Returns 1 if a copier started. */
static int in_start_copier(const struct relay *rl, int lfd, struct pending *pend, struct stream *s, int copiers)
{
	struct ferr err = {0};
	int plain = copiers < TUNNEL_MAX_COPIERS ? sock_connect_unix(rl->unix_path, &err) : -1;

	if (plain < 0) {
		log_error("tunnel: cannot reach QEMU", "error=\"%s\"", err.msg[0] ? err.msg : "too many copiers");
		stream_free(s);
		return 0;
	}
	pid_t pid = fork();

	if (pid == 0) {
		/* A live stream outlives the agent: cut during post-copy it
		 * could make the destination QEMU give up the guest. */
		close(lfd);
		for (int j = 0; j < TUNNEL_MAX_PENDING; j++)
			if (pend[j].s)
				close(stream_fd(pend[j].s));
		prctl(PR_SET_PDEATHSIG, 0);
		int fl = fcntl(stream_fd(s), F_GETFL);
		fcntl(stream_fd(s), F_SETFL, fl | O_NONBLOCK);
		copy_and_close(plain, s);
		_exit(0);
	}
	close(plain);
	stream_free(s);   /* the child's copy carries the session */
	return pid > 0;
}

/* Reads what the header still lacks: 1 when whole and valid (its number
 * in p->seq), 0 when more must come, -1 when it is not one. */
static int in_read_header(struct pending *p)
{
	struct ferr err = {0};

	while (p->hdr_len < SEQ_LEN) {
		ssize_t r = stream_read(p->s, p->hdr + p->hdr_len, (size_t)(SEQ_LEN - p->hdr_len), &err);
		if (r == -EAGAIN)
			return 0;
		if (r <= 0)
			return -1;
		p->hdr_len += (int)r;
	}
	if (memcmp(p->hdr, SEQ_MAGIC, 4))
		return -1;
	const unsigned char *u = (const unsigned char *)p->hdr + 4;
	p->seq = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
	return 1;
}

/* The pending handshakes to poll (expired ones closed): their count. */
static int in_poll_set(struct pending *pend, struct pollfd *p, int *idx)
{
	int64_t now = time_mono_us();
	int n = 0;

	for (int i = 0; i < TUNNEL_MAX_PENDING; i++) {
		if (!pend[i].s)
			continue;
		if (now > pend[i].deadline_us) {
			log_warn("tunnel: no TLS handshake in time, closed", "ms=%d", TUNNEL_HANDSHAKE_MS);
			stream_free(pend[i].s);
			pend[i].s = NULL;
			continue;
		}
		if (pend[i].stage == P_WAIT_MAIN)
			continue;   /* nothing to read until its turn */
		idx[n] = i;
		p[n++] = (struct pollfd){ stream_fd(pend[i].s),
					  pend[i].stage == P_HANDSHAKE && stream_handshake_wants_write(pend[i].s) ? POLLOUT : POLLIN, 0 };
	}
	return n;
}

/* One step of pending connection i (its socket is ready, or decrypted
 * bytes wait): the handshake, then the header, then its copier when it is
 * the main stream's turn or the main stream has gone to QEMU already. */
static void in_step(const struct relay *rl, int lfd, struct pending *pend, int i, bool *main_in, int *copiers)
{
	struct pending *p = &pend[i];
	struct ferr err = {0};

	if (p->stage == P_HANDSHAKE) {
		int r = stream_handshake(p->s, &err);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			log_error("tunnel: TLS handshake failed", "error=\"%s\"", err.msg);
			stream_free(p->s);
			p->s = NULL;
			return;
		}
		p->stage = P_HEADER;
	}
	int h = in_read_header(p);
	if (h == 0)
		return;
	struct stream *s = p->s;
	if (h < 0) {
		log_error("tunnel: a connection without its number, closed", "%s", "");
		stream_free(s);
		p->s = NULL;
		return;
	}
	if (p->seq != 0 && !*main_in) {
		p->stage = P_WAIT_MAIN;   /* a channel overtook the main stream: after it */
		log_info("tunnel: a channel came before the main stream; it waits", "seq=%u", p->seq);
		return;
	}
	p->s = NULL;
	*copiers += in_start_copier(rl, lfd, pend, s, *copiers);
	if (p->seq != 0 || *main_in)
		return;
	*main_in = true;
	for (int k = 0; k < TUNNEL_MAX_PENDING; k++)
		if (pend[k].s && pend[k].stage == P_WAIT_MAIN) {
			s = pend[k].s;
			pend[k].s = NULL;
			*copiers += in_start_copier(rl, lfd, pend, s, *copiers);
		}
}

/* The in side's relay: handshakes in this process (at most
 * TUNNEL_MAX_PENDING at once, each within TUNNEL_HANDSHAKE_MS, only from
 * the source agent), then one copier child per stream, the main stream's
 * first. */
static void relay_in_main(const struct relay *rl, int lfd)
{
	struct pending pend[TUNNEL_MAX_PENDING] = {0};
	int copiers = 0;
	bool main_in = false;

	for (;;) {
		struct pollfd p[1 + TUNNEL_MAX_PENDING];
		int idx[TUNNEL_MAX_PENDING], wait_ms = 200;
		pid_t dead;

		while ((dead = waitpid(-1, NULL, WNOHANG)) > 0)
			copiers--;
		p[0] = (struct pollfd){ lfd, copiers < TUNNEL_MAX_COPIERS ? POLLIN : 0, 0 };
		int n = 1 + in_poll_set(pend, p + 1, idx);
		/* Bytes GnuTLS decrypted already do not make the socket readable. */
		for (int k = 1; k < n; k++)
			if (pend[idx[k - 1]].stage == P_HEADER && stream_pending(pend[idx[k - 1]].s))
				wait_ms = 0;
		if (poll(p, n, wait_ms) < 0 && errno != EINTR)
			_exit(1);
		if (p[0].revents & POLLIN)
			in_accept(rl, lfd, pend);
		for (int k = 1; k < n; k++) {
			int i = idx[k - 1];
			if (pend[i].s && (p[k].revents || (pend[i].stage == P_HEADER && stream_pending(pend[i].s))))
				in_step(rl, lfd, pend, i, &main_in, &copiers);
		}
	}
}

/* Forks the relay around an open listening socket; closes it here. */
static pid_t relay_fork(const struct relay *rl, int lfd, struct ferr *err)
{
	pid_t pid = fork();

	if (pid < 0) {
		ferr_set(err, "cannot fork the tunnel: %s", strerror(errno));
		close(lfd);
		return -errno;
	}
	if (pid == 0) {
		/* Keep only stdio (the agent's log) and the listener. */
		if (lfd != 3) {
			dup2(lfd, 3);
			lfd = 3;
		}
		close_range(4, ~0U, 0);
		if (rl->out) {
			relay_main(rl, lfd);
		} else {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGCHLD, SIG_DFL);   /* reaped and counted */
			signal(SIGPIPE, SIG_IGN);
			signal(SIGTERM, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			prctl(PR_SET_NAME, "ferry-tunnel");
			setpgid(0, 0);
			relay_in_main(rl, lfd);
		}
	}
	close(lfd);
	setpgid(pid, pid);   /* tunnel_stop ends the relay and its children */
	return pid;
}

pid_t tunnel_out_start(const char *unix_path, const char *addr, int port, const struct tls_key *key,
		       struct ferr *err)
{
	struct relay rl = { .out = true, .port = port, .key = *key };
	char spec[160];
	int lfd;

	snprintf(rl.unix_path, sizeof(rl.unix_path), "%s", unix_path);
	snprintf(rl.addr, sizeof(rl.addr), "%s", addr);
	unlink(unix_path);
	snprintf(spec, sizeof(spec), "unix:%s", unix_path);
	if ((lfd = sock_listen(spec, err)) < 0)
		return lfd;
	int fl = fcntl(lfd, F_GETFL);
	fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK);
	return relay_fork(&rl, lfd, err);
}

pid_t tunnel_in_start(const char *addr, const char *from, int *port, const char *unix_path,
		      const struct tls_key *key, struct ferr *err)
{
	struct relay rl = { .out = false, .key = *key };
	int lfd;

	snprintf(rl.unix_path, sizeof(rl.unix_path), "%s", unix_path);
	snprintf(rl.from, sizeof(rl.from), "%s", from ? from : "");
	/* Port 0: the kernel picks a free one, and it stays ours. */
	lfd = sock_listen_free_port(addr, SOCKBUF, port, err);
	if (lfd < 0)
		return lfd;
	return relay_fork(&rl, lfd, err);
}

void tunnel_stop(pid_t pid)
{
	if (pid > 0)
		kill(-pid, SIGTERM);   /* the relay's process group: it and its children */
}

/* probe.c: the probe loop (one thread, poll, sleeps until the next send) and
 * the gap analysis. */
#include "probe/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>

#define MAX_CONNS 512
#define DRAIN_US 10000   /* how often datagram replies are read */
#define SUBSCRIBE_US 1000000   /* how often the guest is asked for heartbeats */

static const char *names[PROBE_N] = { "icmp", "udp", "tcp", "http", "guest" };

const char *probe_method_name(enum probe_method m) { return names[m]; }

void probe_cfg_default(struct probe_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->interval_us[PROBE_ICMP] = 1000;
	c->interval_us[PROBE_UDP] = 1000;
	c->interval_us[PROBE_TCP] = 50000;
	c->interval_us[PROBE_HTTP] = 20000;
	c->interval_us[PROBE_GUEST] = 1000;   /* ferry-guest's default rate */
	c->timeout_ms = 3000;
	c->udp_port = 7777;
	c->tcp_port = 80;
	c->hb_port = 7778;
}

int probe_parse_methods(const char *list, bool use[PROBE_N], struct ferr *err)
{
	char buf[128], *tok, *save = NULL;
	bool any = false;

	memset(use, 0, PROBE_N * sizeof(bool));
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int m;
		for (m = 0; m < PROBE_N && strcmp(tok, names[m]); m++)
			;
		if (m == PROBE_N) {
			ferr_set(err, "unknown probe method '%s' (icmp, udp, tcp, http, guest)", tok);
			return -EINVAL;
		}
		use[m] = any = true;
	}
	if (!any) {
		ferr_set(err, "no probe method given (icmp, udp, tcp, http, guest)");
		return -EINVAL;
	}
	return 0;
}

enum probe_frame_kind probe_parse_frame(const uint8_t *p, size_t n, uint16_t ethertype, uint32_t target,
					const uint8_t mac[6], uint8_t sender[6])
{
	static const uint8_t zero[6];
	uint32_t spa, tpa;

	/* htype 1 (Ethernet), ptype 0x0800 (IPv4), hlen 6, plen 4, then oper,
	 * sha[6], spa[4], tha[6], tpa[4]: 28 bytes. */
	if (n < 28 || p[0] != 0 || p[1] != 1 || p[2] != 0x08 || p[3] != 0 || p[4] != 6 || p[5] != 4 || p[6] != 0)
		return PROBE_FRAME_NONE;
	memcpy(&spa, p + 14, 4);
	memcpy(&tpa, p + 24, 4);
	if (sender)
		memcpy(sender, p + 8, 6);
	if (ethertype == 0x8035)
		return (p[7] == 3 || p[7] == 4) && (!mac || !memcmp(mac, zero, 6) || !memcmp(mac, p + 8, 6))
			       ? PROBE_FRAME_RARP : PROBE_FRAME_NONE;
	if (ethertype != 0x0806 || spa != target || (p[7] != 1 && p[7] != 2))
		return PROBE_FRAME_NONE;
	return tpa == target ? PROBE_FRAME_GARP : p[7] == 2 ? PROBE_FRAME_ARP_REPLY : PROBE_FRAME_NONE;
}

int probe_parse_fdb(const uint8_t *buf, size_t n, const uint8_t mac[6], int *port)
{
	int found = 0;

	for (size_t off = 0; n - off >= sizeof(struct nlmsghdr);) {
		struct nlmsghdr h;
		memcpy(&h, buf + off, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > n - off)
			break;
		struct ndmsg nd;
		size_t end = off + h.nlmsg_len, a = off + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nd));
		if (h.nlmsg_type == RTM_NEWNEIGH && a <= end) {
			memcpy(&nd, buf + off + NLMSG_HDRLEN, sizeof(nd));
			while (nd.ndm_family == AF_BRIDGE && end - a >= sizeof(struct rtattr)) {
				struct rtattr ra;
				memcpy(&ra, buf + a, sizeof(ra));
				if (ra.rta_len < sizeof(ra) || ra.rta_len > end - a)
					break;
				if (ra.rta_type == NDA_LLADDR && ra.rta_len == RTA_LENGTH(6) && !memcmp(buf + a + RTA_LENGTH(0), mac, 6)) {
					found++;
					*port = nd.ndm_ifindex;
				}
				if (RTA_ALIGN(ra.rta_len) >= end - a)
					break;
				a += RTA_ALIGN(ra.rta_len);
			}
		}
		if (NLMSG_ALIGN(h.nlmsg_len) >= n - off)
			break;
		off += NLMSG_ALIGN(h.nlmsg_len);
	}
	return found;
}

struct conn {
	int fd;
	uint8_t method;
	bool sent_request;
	size_t sample;
};

struct run {
	const struct probe_cfg *c;
	struct sockaddr_in addr;
	struct probe_sample *s;
	size_t n, cap;
	int icmp_fd, udp_fd, hb_fd;
	int frame_fd[2];            /* ARP, RARP (probe_cfg.frames) */
	int fdb_fd;                 /* netlink, in probe_cfg.fdb_netns */
	uint8_t target_mac[6];      /* learnt from its ARP (zero: not yet) */
	size_t hb_got;             /* heartbeats received */
	uint16_t echo_id;
	int64_t real_minus_mono;   /* converts kernel receive times */
	struct conn conns[MAX_CONNS];
	int n_conns;
	uint32_t seq[PROBE_N + 1];   /* + PROBE_FRAME */
	size_t n_frames;
};

static size_t add_sample(struct run *r, uint8_t m, int64_t now)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 4096;
		r->s = xrealloc(r->s, r->cap * sizeof(*r->s));
	}
	r->s[r->n] = (struct probe_sample){ m, r->seq[m]++, now, 0 };
	return r->n++;
}

static uint16_t icmp_sum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t sum = 0;

	for (; n > 1; n -= 2)
		sum += *w++;
	if (n)
		sum += *(const uint8_t *)w;
	sum = (sum >> 16) + (sum & 0xffff);
	sum += sum >> 16;
	return (uint16_t)~sum;
}

/* Payload of ICMP and UDP probes: the sample index, to match replies. */
struct payload {
	uint32_t magic;
	uint32_t index;
};
#define PAYLOAD_MAGIC 0x46525259u   /* "FRRY" */

/* Sends on fd to the target's UDP echo port (ferry-guest's). */
static ssize_t send_to_echo_port(struct run *r, int fd, const void *p, size_t n)
{
	struct sockaddr_in a = r->addr;

	a.sin_port = htons((uint16_t)r->c->udp_port);
	return sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof(a));
}

static int send_icmp(struct run *r, int64_t now, struct ferr *err)
{
	struct { struct icmphdr h; struct payload p; } pkt = {0};
	size_t i = add_sample(r, PROBE_ICMP, now);

	pkt.h.type = ICMP_ECHO;
	pkt.h.un.echo.id = htons(r->echo_id);
	pkt.h.un.echo.sequence = htons((uint16_t)r->s[i].seq);
	pkt.p.magic = PAYLOAD_MAGIC;
	pkt.p.index = (uint32_t)i;
	pkt.h.checksum = icmp_sum(&pkt, sizeof(pkt));
	if (sendto(r->icmp_fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&r->addr, sizeof(r->addr)) < 0 &&
	    (errno == ENETUNREACH || errno == EHOSTUNREACH) && r->n == 1) {
		ferr_set(err, "%s is unreachable: %s", r->c->target, strerror(errno));
		return -errno;
	}
	return 0;
}

static int send_udp(struct run *r, int64_t now, struct ferr *err)
{
	size_t i = add_sample(r, PROBE_UDP, now);
	struct payload p = { PAYLOAD_MAGIC, (uint32_t)i };

	if (send_to_echo_port(r, r->udp_fd, &p, sizeof(p)) < 0 &&
	    (errno == ENETUNREACH || errno == EHOSTUNREACH) && r->n == 1) {
		ferr_set(err, "%s is unreachable: %s", r->c->target, strerror(errno));
		return -errno;
	}
	return 0;
}

static void start_conn(struct run *r, uint8_t m, int64_t now)
{
	size_t i = add_sample(r, m, now);
	struct sockaddr_in a = r->addr;
	int fd;

	if (r->n_conns == MAX_CONNS)
		return;   /* counted as lost: too many stuck connections */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	a.sin_port = htons(r->c->tcp_port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	r->conns[r->n_conns++] = (struct conn){ fd, m, false, i };
}

static void end_conn(struct run *r, int k)
{
	close(r->conns[k].fd);
	r->conns[k] = r->conns[--r->n_conns];
}

static void on_conn(struct run *r, int k, short revents, int64_t now)
{
	struct conn *c = &r->conns[k];
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (!c->sent_request) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr || (revents & (POLLERR | POLLHUP) && !(revents & POLLOUT))) {
			end_conn(r, k);   /* refused: lost */
			return;
		}
		if (!(revents & POLLOUT))
			return;
		if (c->method == PROBE_TCP) {
			r->s[c->sample].reply_us = now;
			end_conn(r, k);
			return;
		}
		static const char req[] = "GET / HTTP/1.0\r\nHost: probe\r\nUser-Agent: ferry-probe\r\n\r\n";
		if (send(c->fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
			end_conn(r, k);
			return;
		}
		c->sent_request = true;
		return;
	}
	char buf[512];
	ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = 0;
		/* The status line is the answer; the body does not matter. */
		if (!strncmp(buf, "HTTP/1.", 7) && strstr(buf, " 200"))
			r->s[c->sample].reply_us = now;
		end_conn(r, k);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		end_conn(r, k);
	}
}

struct heartbeat {
	char magic[8];                 /* "FERRYHB1" */
	uint64_t seq;
	uint64_t guest_mono_ns;
} __attribute__((packed));

int probe_parse_datagram(const char *buf, size_t n, enum probe_sock sock, uint16_t echo_id, size_t n_samples,
			 struct probe_reply *out)
{
	struct payload p;

	memset(out, 0, sizeof(*out));
	if (sock == PROBE_SOCK_HB) {
		struct heartbeat h;
		/* ferry-guest's answer to our ask: its cookie goes back. */
		if (n >= 16 && !memcmp(buf, "FERRYHB!", 8)) {
			memcpy(&out->cookie, buf + 8, 8);
			return out->kind = PROBE_REPLY_COOKIE;
		}
		if (n < sizeof(h))
			return PROBE_REPLY_NONE;
		memcpy(&h, buf, sizeof(h));
		if (memcmp(h.magic, "FERRYHB1", 8))
			return PROBE_REPLY_NONE;
		out->seq = h.seq;
		out->guest_mono_ns = h.guest_mono_ns;
		return out->kind = PROBE_REPLY_HEARTBEAT;
	}
	if (sock == PROBE_SOCK_ICMP) {
		if (n < sizeof(struct iphdr))
			return PROBE_REPLY_NONE;
		const struct iphdr *ip = (const struct iphdr *)buf;
		size_t hl = (size_t)ip->ihl * 4;
		struct icmphdr h;
		if (hl < sizeof(struct iphdr) || n < hl + sizeof(h) + sizeof(p))
			return PROBE_REPLY_NONE;
		memcpy(&h, buf + hl, sizeof(h));
		if (h.type != ICMP_ECHOREPLY || ntohs(h.un.echo.id) != echo_id)
			return PROBE_REPLY_NONE;
		memcpy(&p, buf + hl + sizeof(h), sizeof(p));
	} else {
		if (n < sizeof(p))
			return PROBE_REPLY_NONE;
		memcpy(&p, buf, sizeof(p));
	}
	if (p.magic != PAYLOAD_MAGIC || p.index >= n_samples)
		return PROBE_REPLY_NONE;
	out->index = p.index;
	return out->kind = PROBE_REPLY_ECHO;
}

static void on_heartbeat(struct run *r, const char *buf, size_t n, int64_t at)
{
	struct probe_reply rep;

	switch (probe_parse_datagram(buf, n, PROBE_SOCK_HB, 0, 0, &rep)) {
	case PROBE_REPLY_COOKIE: {
		char ok[16] = "FERRYHB+";
		memcpy(ok + 8, &rep.cookie, 8);
		send_to_echo_port(r, r->hb_fd, ok, sizeof(ok));
		return;
	}
	case PROBE_REPLY_HEARTBEAT: {
		r->hb_got++;
		size_t i = add_sample(r, PROBE_GUEST, at);
		r->s[i].seq = (uint32_t)rep.seq;
		r->s[i].send_us = (int64_t)(rep.guest_mono_ns / 1000);
		r->s[i].reply_us = at;
		return;
	}
	default:
		return;
	}
}

/* When the kernel received what mh holds (SO_TIMESTAMPNS, realtime), on the
 * monotonic clock; now if it did not say. */
static int64_t recv_time(const struct run *r, struct msghdr *mh, int64_t now)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - r->real_minus_mono;
		}
	return now;
}

/* Replies carry the kernel's receive time (SO_TIMESTAMPNS, realtime), so the
 * loop need not wake for each one: it drains them when it wakes to send. */
static void on_datagram(struct run *r, int fd, int64_t now)
{
	enum { BATCH = 64 };
	static char bufs[BATCH][256], ctls[BATCH][128];
	static struct sockaddr_in from[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr mm[BATCH];
	int got;

	/* One syscall drains a batch of replies. */
	do {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
			mm[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]), .msg_iov = &iov[i],
							 .msg_iovlen = 1, .msg_control = ctls[i], .msg_controllen = sizeof(ctls[i]) };
		}
		got = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < got; i++) {
			struct msghdr *mh = &mm[i].msg_hdr;
			char *buf = bufs[i];
			size_t n = mm[i].msg_len;
			int64_t at = recv_time(r, mh, now);
			if (from[i].sin_addr.s_addr != r->addr.sin_addr.s_addr)
				continue;
			if (fd == r->hb_fd) {
				on_heartbeat(r, buf, n, at);
				continue;
			}
			struct probe_reply rep;
			if (probe_parse_datagram(buf, n, fd == r->icmp_fd ? PROBE_SOCK_ICMP : PROBE_SOCK_UDP, r->echo_id, r->n,
						 &rep) != PROBE_REPLY_ECHO || r->s[rep.index].reply_us)
				continue;
			r->s[rep.index].reply_us = at;
		}
	} while (got == BATCH);
}

static void run_close(struct run *r)
{
	int *fds[] = { &r->icmp_fd, &r->udp_fd, &r->hb_fd, &r->frame_fd[0], &r->frame_fd[1], &r->fdb_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

#define MAX_FRAMES 4096   /* frames noted per run: an ARP storm does not grow the samples */

/* A frame (or a bridge event) of that kind noted at at, while fewer than
 * MAX_FRAMES were. */
static void note_frame(struct run *r, enum probe_frame_kind kind, int64_t at)
{
	if (r->n_frames == MAX_FRAMES)
		return;
	size_t i = add_sample(r, PROBE_FRAME, at);
	r->s[i].seq = kind;
	r->s[i].reply_us = at;
	r->n_frames++;
}

/* The target's MAC from this namespace's neighbour table, if it is there
 * (the prober's pings resolved it, or an earlier exchange did). */
static void learn_mac(struct run *r)
{
	char line[256], ip[INET_ADDRSTRLEN];
	unsigned m[6];
	FILE *f = fopen("/proc/net/arp", "re");

	if (!f)
		return;
	inet_ntop(AF_INET, &r->addr.sin_addr, ip, sizeof(ip));
	while (fgets(line, sizeof(line), f)) {
		char a[64];
		if (sscanf(line, "%63s %*s %*s %x:%x:%x:%x:%x:%x", a, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 7 &&
		    !strcmp(a, ip) && (m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
			for (int i = 0; i < 6; i++)
				r->target_mac[i] = (uint8_t)m[i];
			break;
		}
	}
	fclose(f);
}

/* A bridge's forwarding changes for the target's MAC (probe_cfg.fdb_netns). */
static void on_fdb(struct run *r, int64_t now)
{
	static const uint8_t zero[6];
	uint8_t buf[8192];

	for (int k = 0; k < 64; k++) {
		ssize_t n = recv(r->fdb_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return;
		if (!memcmp(r->target_mac, zero, 6))
			learn_mac(r);
		int port = 0, found = memcmp(r->target_mac, zero, 6) ? probe_parse_fdb(buf, (size_t)n, r->target_mac, &port) : 0;
		if (found)
			note_frame(r, PROBE_FRAME_FDB, now);
	}
}

/* A netlink socket for the neighbour (forwarding database) events of the
 * namespace at path: opened there, used from here. -errno. */
static int fdb_open(const char *path)
{
	int here = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), there = open(path, O_RDONLY | O_CLOEXEC), fd = -1;

	if (here >= 0 && there >= 0 && setns(there, CLONE_NEWNET) == 0) {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_NEIGH };
		if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
		if (setns(here, CLONE_NEWNET) < 0)
			abort();   /* we would probe from the wrong network */
	}
	int e = fd < 0 ? -errno : 0;
	if (here >= 0)
		close(here);
	if (there >= 0)
		close(there);
	return fd < 0 ? (e ? e : -EIO) : fd;
}

/* The ARP or RARP frames fd holds, with the kernel's receive times. */
static void on_frames(struct run *r, int fd, uint16_t ethertype, int64_t now)
{
	uint8_t buf[256], sender[6];
	char ctl[128];

	for (int k = 0; k < 256; k++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return;
		int64_t at = recv_time(r, &mh, now);
		enum probe_frame_kind kind = probe_parse_frame(buf, (size_t)n, ethertype, r->addr.sin_addr.s_addr,
							       r->target_mac, sender);
		if (kind == PROBE_FRAME_NONE)
			continue;
		if (kind != PROBE_FRAME_RARP)
			memcpy(r->target_mac, sender, 6);   /* its RARPs are the ones to note */
		note_frame(r, kind, at);
	}
}

/* The sockets the methods in use need; 0, or -errno with err (nothing left open). */
static int run_open(struct run *r, const struct probe_cfg *c, struct ferr *err)
{
	int one = 1;

	r->addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, c->target, &r->addr.sin_addr) != 1) {
		ferr_set(err, "'%s' is not an IPv4 address", c->target);
		return -EINVAL;
	}
	for (int m = 0; m < PROBE_N; m++) {
		if (c->use[m] && c->interval_us[m] <= 0) {
			ferr_set(err, "the %s interval must be positive", names[m]);
			return -EINVAL;
		}
	}
	if (c->use[PROBE_ICMP] &&
	    (r->icmp_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)) < 0) {
		ferr_set(err, "ICMP probes need a raw socket (root or CAP_NET_RAW): %s", strerror(errno));
		return -errno;
	}
	if (c->use[PROBE_UDP])
		r->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->use[PROBE_GUEST]) {
		struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->hb_port) };
		r->hb_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->hb_fd < 0 || bind(r->hb_fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			ferr_set(err, "cannot receive heartbeats on UDP port %d: %s", c->hb_port, strerror(errno));
			run_close(r);
			return -EADDRINUSE;
		}
		setsockopt(r->hb_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	for (int k = 0; c->frames && k < 2; k++) {
		r->frame_fd[k] = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(k ? 0x8035 : 0x0806));
		if (r->frame_fd[k] < 0) {
			ferr_set(err, "noting ARP and RARP frames needs a packet socket (root or CAP_NET_RAW): %s",
				 strerror(errno));
			run_close(r);
			return -EPERM;
		}
		setsockopt(r->frame_fd[k], SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	if (c->frames && c->fdb_netns[0] && (r->fdb_fd = fdb_open(c->fdb_netns)) < 0) {
		ferr_set(err, "cannot watch the bridges of %s: %s", c->fdb_netns, strerror(-r->fdb_fd));
		run_close(r);
		return -EPERM;
	}
	if (r->icmp_fd >= 0)
		setsockopt(r->icmp_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (r->udp_fd >= 0)
		setsockopt(r->udp_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	r->real_minus_mono = time_real_us() - time_mono_us();
	r->echo_id = (uint16_t)getpid();
	return 0;
}

/* Sends what is due; after a stall, skips missed slots (no burst). */
static int send_due(struct run *r, int64_t *next, int64_t now, struct ferr *err)
{
	const struct probe_cfg *c = r->c;
	int rc = 0;

	for (int m = 0; m < PROBE_N && rc == 0; m++) {
		if (!c->use[m] || m == PROBE_GUEST || now < next[m])
			continue;
		if (m == PROBE_ICMP) rc = send_icmp(r, now, err);
		else if (m == PROBE_UDP) rc = send_udp(r, now, err);
		else start_conn(r, (uint8_t)m, now);
		next[m] += c->interval_us[m];
		if (next[m] < now)
			next[m] = now + c->interval_us[m];
	}
	return rc;
}

/* The replies waiting in the datagram sockets, with their receive times. */
static void drain(struct run *r, int64_t now)
{
	if (r->icmp_fd >= 0)
		on_datagram(r, r->icmp_fd, now);
	if (r->udp_fd >= 0)
		on_datagram(r, r->udp_fd, now);
	if (r->hb_fd >= 0)
		on_datagram(r, r->hb_fd, now);
	for (int k = 0; k < 2; k++)
		if (r->frame_fd[k] >= 0)
			on_frames(r, r->frame_fd[k], k ? 0x8035 : 0x0806, now);
}

/* Waits until wake for the TCP/HTTP connections, and serves them. */
static void wait_conns(struct run *r, int64_t wake)
{
	struct pollfd pfd[MAX_CONNS];
	struct timespec ts = { 0, 0 };
	int np = 0;

	for (int k = 0; k < r->n_conns; k++)
		pfd[np++] = (struct pollfd){ r->conns[k].fd, r->conns[k].sent_request ? POLLIN : POLLOUT, 0 };
	int64_t wait_us = wake - time_mono_us();
	if (wait_us > 0) {
		ts.tv_sec = wait_us / 1000000;
		ts.tv_nsec = (wait_us % 1000000) * 1000;
	}
	if (ppoll(pfd, np, &ts, NULL) <= 0)
		return;
	int64_t now = time_mono_us();
	/* Walk backwards: on_conn may move the last connection into k. */
	for (int k = np - 1; k >= 0; k--)
		if (pfd[k].revents && k < r->n_conns && r->conns[k].fd == pfd[k].fd)
			on_conn(r, k, pfd[k].revents, now);
}

int probe_run(const struct probe_cfg *c, struct probe_sample **out, size_t *n_out, struct ferr *err)
{
	struct run r = { .c = c, .icmp_fd = -1, .udp_fd = -1, .hb_fd = -1, .frame_fd = { -1, -1 }, .fdb_fd = -1 };
	int64_t next[PROBE_N], start = time_mono_us(), end, last_drain = start, next_sub = start;
	int rc = run_open(&r, c, err);

	if (rc < 0)
		return rc;
	for (int m = 0; m < PROBE_N; m++)
		next[m] = start;
	end = c->duration_ms ? start + (int64_t)c->duration_ms * 1000 : INT64_MAX;
	for (;;) {
		int64_t now = time_mono_us();
		if (now >= end || (c->stop && *c->stop))
			break;
		if ((rc = send_due(&r, next, now, err)) < 0)
			break;
		/* The bridge's events carry no receive time: read them at each
		 * wake (every probe interval), not every DRAIN_US. */
		if (r.fdb_fd >= 0)
			on_fdb(&r, now);
		/* Ask the guest for heartbeats, and renew the ask every second
		 * (ferry-guest sends them for 5 s to whoever asked and returned
		 * its cookie: on_heartbeat answers). */
		if (r.hb_fd >= 0 && now >= next_sub) {
			send_to_echo_port(&r, r.hb_fd, "FERRYHB?\0\0\0\0\0\0\0\0", 16);
			/* Until the first heartbeat, ask again soon: an ask or its
			 * answer may be lost (e.g. while ARP resolves). */
			next_sub = now + (r.hb_got ? SUBSCRIBE_US : SUBSCRIBE_US / 20);
		}
		/* Give up on connections older than the timeout. */
		for (int k = r.n_conns - 1; k >= 0; k--)
			if (now - r.s[r.conns[k].sample].send_us > (int64_t)c->timeout_ms * 1000)
				end_conn(&r, k);
		int64_t wake = end;
		for (int m = 0; m < PROBE_N; m++)
			if (c->use[m] && m != PROBE_GUEST && next[m] < wake)
				wake = next[m];
		/* Heartbeats alone: wake to drain them. */
		if (wake == end && r.hb_fd >= 0)
			wake = now + DRAIN_US;
		/* Datagram replies wait in their sockets with the kernel's
		 * receive time: wake only to send (or for TCP/HTTP), and drain
		 * them every DRAIN_US, not on every wake (a syscall fewer per
		 * probe; the socket holds hundreds of replies). */
		if (now - last_drain >= DRAIN_US) {
			last_drain = now;
			drain(&r, now);
		}
		wait_conns(&r, wake);
	}
	drain(&r, time_mono_us());
	/* Late replies past the timeout do not count (heartbeats have no send time here). */
	for (size_t i = 0; i < r.n; i++)
		if (r.s[i].method != PROBE_GUEST && r.s[i].reply_us &&
		    r.s[i].reply_us - r.s[i].send_us > (int64_t)c->timeout_ms * 1000)
			r.s[i].reply_us = 0;
	while (r.n_conns)
		end_conn(&r, 0);
	run_close(&r);
	if (rc < 0) {
		free(r.s);
		return rc;
	}
	*out = r.s;
	*n_out = r.n;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

void probe_analyze(const struct probe_sample *s, size_t n, enum probe_method m, int64_t threshold_us,
		   struct probe_gaps *g)
{
	int64_t *t = xmalloc((n ? n : 1) * sizeof(int64_t));
	int64_t first_send = 0, last_unanswered = 0;
	size_t k = 0;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		if (s[i].method != m)
			continue;
		if (!g->sent++)
			first_send = s[i].send_us;
		if (s[i].reply_us)
			t[k++] = s[i].reply_us;
		else if (s[i].send_us > last_unanswered)
			last_unanswered = s[i].send_us;
	}
	g->replied = k;
	qsort(t, k, sizeof(int64_t), cmp_i64);
	for (size_t i = 1; i < k; i++) {
		int64_t d = t[i] - t[i - 1];
		if (d > g->longest_us) {
			g->longest_us = d;
			g->longest_from_us = t[i - 1];
			g->longest_to_us = t[i];
		}
		if (d > threshold_us)
			g->over_threshold++;
	}
	/* An outage that never ended: from the last reply (or the first probe)
	 * to the last probe that got no answer. */
	int64_t last = k ? t[k - 1] : first_send;
	if (last_unanswered > last && last_unanswered - last > g->longest_us) {
		g->longest_us = last_unanswered - last;
		g->longest_from_us = last;
		g->longest_to_us = last_unanswered;
		g->open = true;
		if (g->longest_us > threshold_us)
			g->over_threshold++;
	}
	free(t);
}

static int cmp_reply(const void *a, const void *b)
{
	const struct probe_sample *x = a, *y = b;
	return x->reply_us < y->reply_us ? -1 : x->reply_us > y->reply_us;
}

void probe_guest_analyze(const struct probe_sample *s, size_t n, struct probe_guest *g)
{
	struct probe_sample *h = xmalloc((n ? n : 1) * sizeof(*h));
	size_t k = 0;
	uint32_t lo = UINT32_MAX, hi = 0;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		if (s[i].method != PROBE_GUEST)
			continue;
		h[k++] = s[i];
		if (s[i].seq < lo) lo = s[i].seq;
		if (s[i].seq > hi) hi = s[i].seq;
	}
	g->received = k;
	if (k)
		g->lost = (uint64_t)(hi - lo) + 1 > k ? (uint64_t)(hi - lo) + 1 - k : 0;
	qsort(h, k, sizeof(*h), cmp_reply);
	for (size_t i = 1; i < k; i++) {
		int64_t d = h[i].reply_us - h[i - 1].reply_us;
		if (d <= g->gap_us)
			continue;
		g->gap_us = d;
		g->gap_from_us = h[i - 1].reply_us;
		g->gap_to_us = h[i].reply_us;
		g->lost_in_gap = h[i].seq > h[i - 1].seq ? h[i].seq - h[i - 1].seq - 1 : 0;
		g->guest_advance_us = h[i].send_us - h[i - 1].send_us;
		g->clock_jump_us = g->guest_advance_us - d;
	}
	free(h);
}

int64_t probe_gap_around(const struct probe_sample *s, size_t n, enum probe_method m, int64_t from_us, int64_t to_us)
{
	int64_t before = -1, after = -1;

	for (size_t i = 0; i < n; i++) {
		int64_t t = s[i].reply_us;
		if (s[i].method != m || !t)
			continue;
		if (t <= from_us && (before < 0 || t > before))
			before = t;
		if (t >= to_us && (after < 0 || t < after))
			after = t;
	}
	return before < 0 || after < 0 ? -1 : after - before;
}

/* probe.h: availability probes from outside a guest: ICMP echo, UDP echo,
 * TCP connect and HTTP GET sent on a fixed schedule (overlapping), with
 * microsecond send and reply times, and the gap analysis of the replies. */
#ifndef FERRY_PROBE_H
#define FERRY_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* PROBE_GUEST sends nothing: it collects the heartbeats ferry-guest sends
 * from inside the guest (UDP, magic "FERRYHB1", sequence number, the guest's
 * monotonic clock in ns). Its samples hold the guest's clock in send_us and
 * the arrival time here in reply_us. */
enum probe_method { PROBE_ICMP, PROBE_UDP, PROBE_TCP, PROBE_HTTP, PROBE_GUEST, PROBE_N };

struct probe_cfg {
	char target[64];                /* IPv4 address */
	bool use[PROBE_N];
	int interval_us[PROBE_N];       /* > 0 */
	int timeout_ms;                 /* a reply later than this counts as lost */
	int duration_ms;                /* 0: until *stop */
	int udp_port, tcp_port;         /* defaults 7777 (ferry-guest), 80 */
	int hb_port;                    /* heartbeats arrive here; default 7778 */
	const volatile bool *stop;      /* set from a signal handler */
	bool frames;                    /* also note the ARP and RARP frames about the target (root) */
	char fdb_netns[64];             /* with frames: a network namespace (a /run/netns/ path) whose
					 * bridges' forwarding changes for the target's MAC to note
					 * too (the lab's switch); "": none */
};

/* Samples of method PROBE_FRAME (not a probe method: nothing is sent) are
 * frames seen here (probe_cfg.frames): reply_us (and send_us) when, seq
 * the kind. A guest's announcements after a move are what tells switches
 * where it is now: QEMU's RARPs (from the guest's MAC), the guest's own
 * gratuitous ARP. */
#define PROBE_FRAME PROBE_N
enum probe_frame_kind { PROBE_FRAME_NONE, PROBE_FRAME_RARP, PROBE_FRAME_GARP, PROBE_FRAME_ARP_REPLY,
			PROBE_FRAME_FDB /* a bridge (re)learnt the target's MAC on a port */ };
/* The only parser of those frames: an ARP or RARP packet (ethertype 0x0806
 * or 0x8035, the payload after the Ethernet header, as a SOCK_DGRAM packet
 * socket gives it) about target (network order): RARP from mac (NULL or all
 * zero: any MAC), a gratuitous ARP of target, or target's ARP reply; its
 * sender MAC into sender (may be NULL). */
enum probe_frame_kind probe_parse_frame(const uint8_t *p, size_t n, uint16_t ethertype, uint32_t target,
					const uint8_t mac[6], uint8_t sender[6]);
/* A netlink datagram from a bridge's forwarding database (RTM_NEWNEIGH,
 * AF_BRIDGE; several messages may share it): how many of its messages say
 * a bridge port learnt mac (the port's ifindex of the last into *port). */
int probe_parse_fdb(const uint8_t *buf, size_t n, const uint8_t mac[6], int *port);

struct probe_sample {
	uint8_t method;
	uint32_t seq;
	int64_t send_us;                /* CLOCK_MONOTONIC */
	int64_t reply_us;               /* 0: no reply */
};

struct probe_gaps {
	size_t sent, replied;
	int64_t longest_us;             /* longest time between consecutive replies */
	int64_t longest_from_us, longest_to_us;
	size_t over_threshold;          /* gaps longer than the threshold */
	bool open;                      /* the longest gap had not ended: probes
					 * after the last reply went unanswered */
};

/* The guest's view (PROBE_GUEST): the longest time between two heartbeats
 * arriving here; how many heartbeats went missing inside it (0: the guest
 * did not send, it was not running; more: the network lost them); how far
 * the guest's own clock moved across it, and the jump: that minus the real
 * time (negative: the guest's clock stood still while it was paused). */
struct probe_guest {
	size_t received;
	uint64_t lost;                  /* over the whole run, from the sequence numbers */
	int64_t gap_us, gap_from_us, gap_to_us;
	uint64_t lost_in_gap;
	int64_t guest_advance_us, clock_jump_us;
};

const char *probe_method_name(enum probe_method m);
/* "icmp,http" -> use[]; -EINVAL with err on an unknown name. */
int probe_parse_methods(const char *list, bool use[PROBE_N], struct ferr *err);
void probe_cfg_default(struct probe_cfg *c);

/* Runs the probes; *samples (malloc'd) and *n on success. -errno with err
 * when the target cannot be probed at all (bad address, no route). */
int probe_run(const struct probe_cfg *c, struct probe_sample **samples, size_t *n, struct ferr *err);

/* Gap analysis of one method's samples (reply times, not send times: a reply
 * held in a paused guest's ring comes late). */
void probe_analyze(const struct probe_sample *s, size_t n, enum probe_method m, int64_t threshold_us,
		   struct probe_gaps *out);
void probe_guest_analyze(const struct probe_sample *s, size_t n, struct probe_guest *out);
/* The gap of method m that spans [from_us, to_us] (e.g. a migration's pause
 * window): from the last reply at or before from_us to the first reply at or
 * after to_us. -1 if there is no reply on one side. */
int64_t probe_gap_around(const struct probe_sample *s, size_t n, enum probe_method m, int64_t from_us, int64_t to_us);

/* What one datagram from the target means (the only parser of what the
 * target sends): an echo of our probe number index (< n_samples), a
 * heartbeat, ferry-guest's cookie, or nothing to count. */
enum probe_sock { PROBE_SOCK_UDP, PROBE_SOCK_ICMP, PROBE_SOCK_HB };
enum probe_reply_kind { PROBE_REPLY_NONE, PROBE_REPLY_ECHO, PROBE_REPLY_COOKIE, PROBE_REPLY_HEARTBEAT };
struct probe_reply {
	enum probe_reply_kind kind;
	uint32_t index;          /* ECHO */
	uint64_t cookie;         /* COOKIE */
	uint64_t seq, guest_mono_ns;   /* HEARTBEAT */
};
int probe_parse_datagram(const char *buf, size_t n, enum probe_sock sock, uint16_t echo_id, size_t n_samples,
			 struct probe_reply *out);

#endif

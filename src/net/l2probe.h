/* l2probe.h: do two hosts' bridges reach the same L2 segment? The
 * destination sends a few broadcast frames of the local experimental
 * ethertype carrying a nonce from its bridge; the source listens on its own
 * bridge of the same name for that nonce. No IP address is needed (a VM
 * bridge usually has none). */
#ifndef FERRY_L2PROBE_H
#define FERRY_L2PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L2PROBE_ETHERTYPE 0x88b5   /* IEEE 802 local experimental 1 */
#define L2PROBE_NONCE_LEN 32       /* hex characters */

/* A fresh nonce (L2PROBE_NONCE_LEN hex characters and a NUL). */
int l2probe_nonce(char out[L2PROBE_NONCE_LEN + 1]);
/* A non-blocking socket for the probe's ethertype on ifname (it sends and
 * receives); -errno. Opening and closing one each cost ~8 ms here (the
 * kernel waits for an RCU grace period): keep it. */
int l2probe_open(const char *ifname);
/* Sends count frames with nonce out of interface ifname through fd (an
 * l2probe_open socket of ifname): 0 or -errno. */
int l2probe_send(int fd, const char *ifname, const char *nonce, int count);
/* An agent keeps one socket per bridge (see l2probe_open), and several
 * probes may run through it at once (an evacuation starts moves together):
 * whoever drains it keeps the nonces read, per socket, in a set all of them
 * look in. The set holds the newest L2PROBE_SEEN_MAX; zeroed is empty. */
#define L2PROBE_SEEN_MAX 32
struct l2probe_seen {
	struct { int fd; char nonce[L2PROBE_NONCE_LEN + 1]; } e[L2PROBE_SEEN_MAX];
	unsigned next;
};
/* Reads what fd queued (at most 256 frames) into s. */
void l2probe_drain(int fd, struct l2probe_seen *s);
/* Did a frame carrying nonce come through fd (as drained into s)? */
bool l2probe_was_seen(const struct l2probe_seen *s, int fd, const char *nonce);
/* Is frame[0..n) (an Ethernet frame as read) a probe carrying nonce? Every
 * frame on the segment may come here: a guest's too. */
bool l2probe_match(const uint8_t *frame, size_t n, const char *nonce);
/* The nonce a probe frame carries (hex only) into out; false if it is not one. */
bool l2probe_nonce_of(const uint8_t *frame, size_t n, char out[L2PROBE_NONCE_LEN + 1]);

#endif

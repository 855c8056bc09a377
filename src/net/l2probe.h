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
/* Drains fd: true if a frame carrying nonce arrived. */
bool l2probe_seen(int fd, const char *nonce);
/* Is frame[0..n) (an Ethernet frame as read) a probe carrying nonce? Every
 * frame on the segment may come here: a guest's too. */
bool l2probe_match(const uint8_t *frame, size_t n, const char *nonce);

#endif

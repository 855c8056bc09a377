/* packet.h: how ferry-guest classifies a datagram on its service port (what
 * anyone on the VM network may send it). Header-only: ferry-guest is one
 * static file, and tests/fuzz/fuzz_guest.c checks this same code. */
#ifndef FERRY_GUEST_PACKET_H
#define FERRY_GUEST_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FG_ECHO_PORT 7777

enum fg_packet {
	FG_DROP,      /* answer nothing */
	FG_ASK,       /* "FERRYHB?": send a cookie back */
	FG_CONFIRM,   /* "FERRYHB+" cookie: start heartbeats if it is ours */
	FG_ECHO,      /* anything else: echo it back */
};

/* src_port in host order. Never echoes to a service port (the source port
 * of another ferry-guest, or 0): a datagram forged "from" one would bounce
 * between two guests forever. */
static inline enum fg_packet fg_classify(const char *buf, size_t n, uint16_t src_port, uint64_t *cookie)
{
	if (n >= 16 && !memcmp(buf, "FERRYHB?", 8))
		return FG_ASK;
	if (n >= 16 && !memcmp(buf, "FERRYHB+", 8)) {
		memcpy(cookie, buf + 8, 8);
		return FG_CONFIRM;
	}
	if (n == 0 || src_port == FG_ECHO_PORT || src_port == 0)
		return FG_DROP;
	return FG_ECHO;
}

#endif

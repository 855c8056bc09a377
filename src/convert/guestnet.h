/* guestnet.h: how a guest image configures its network, read from its own
 * files (ifupdown's /etc/network/interfaces, systemd-networkd's .network
 * files): DHCP, or a static IPv4 address. Used to reach a converted guest
 * when it is verified, and to warn before a cloud import (a VPC gives
 * addresses by DHCP). The text comes from an image: untrusted, any bytes. */
#ifndef FERRY_GUESTNET_H
#define FERRY_GUESTNET_H

#include <stddef.h>

enum guestnet_method { GUESTNET_UNKNOWN, GUESTNET_DHCP, GUESTNET_STATIC };

struct guestnet {
	enum guestnet_method method;
	char addr[16];   /* dotted IPv4, when static */
	int prefix;      /* 1..32, when static */
};

/* The first interface other than loopback in an interfaces(5) text: 1 if
 * one was found (g filled), 0 if none. */
int guestnet_interfaces(const char *text, size_t len, struct guestnet *g);
/* A systemd.network(5) text: 1 if it gives DHCP or an IPv4 address, else 0. */
int guestnet_networkd(const char *text, size_t len, struct guestnet *g);
const char *guestnet_method_name(enum guestnet_method m);

#endif

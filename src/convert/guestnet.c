/* guestnet.c: a guest's network configuration read from its files
 * (guestnet.h). Lines are bounded; anything not understood is skipped. */
#include "convert/guestnet.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 512

const char *guestnet_method_name(enum guestnet_method m)
{
	return m == GUESTNET_DHCP ? "dhcp" : m == GUESTNET_STATIC ? "static" : "unknown";
}

/* Next line of text[*pos..len) into line (cut at LINE_MAX_LEN, comments
 * and surrounding blanks removed); 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, char line[LINE_MAX_LEN])
{
	if (*pos >= len)
		return 0;
	const char *s = text + *pos, *nl = memchr(s, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	if (n >= LINE_MAX_LEN)
		n = LINE_MAX_LEN - 1;
	memcpy(line, s, n);
	line[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (line[i] == '#' || line[i] == 0) {
			line[i] = 0;
			break;
		}
	n = strlen(line);
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		line[--n] = 0;
	size_t lead = strspn(line, " \t");
	memmove(line, line + lead, n - lead + 1);
	return 1;
}

/* "10.0.0.5/24", or "10.0.0.5" with prefix_default: into g; 0 or -1. */
static int set_addr(struct guestnet *g, const char *s, int prefix_default)
{
	char a[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr in;
	int prefix = prefix_default;

	if (n == 0 || n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = 0;
	if (inet_pton(AF_INET, a, &in) != 1)
		return -1;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || p < 1 || p > 32)
			return -1;
		prefix = (int)p;
	}
	g->method = GUESTNET_STATIC;
	snprintf(g->addr, sizeof(g->addr), "%s", a);
	g->prefix = prefix;
	return 0;
}

/* 255.255.255.0 -> 24; -1 if not a contiguous mask. */
static int mask_prefix(const char *s)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return -1;
	unsigned m = ntohl(in.s_addr);
	int p = 0;
	while (p < 32 && (m & (1u << (31 - p))))
		p++;
	if (p == 0 || (p < 32 && (m << p)))
		return -1;
	return p;
}

int guestnet_interfaces(const char *text, size_t len, struct guestnet *g)
{
	char line[LINE_MAX_LEN];
	size_t pos = 0;
	int in_iface = 0, found = 0, netmask = 0, slash = 0;

	memset(g, 0, sizeof(*g));
	while (next_line(text, len, &pos, line)) {
		char k[64], v1[128], v2[64], v3[64];
		int n = sscanf(line, "%63s %127s %63s %63s", k, v1, v2, v3);
		if (n < 1)
			continue;
		if (!strcmp(k, "iface")) {
			if (found)   /* the first interface decides */
				break;
			in_iface = 0;
			if (n == 4 && strcmp(v1, "lo") && !strcmp(v2, "inet")) {
				if (!strcmp(v3, "dhcp")) {
					g->method = GUESTNET_DHCP;
					found = 1;
				} else if (!strcmp(v3, "static")) {
					in_iface = 1;
					found = 1;
					g->method = GUESTNET_UNKNOWN;   /* until an address */
				}
			}
			continue;
		}
		if (!strcmp(k, "auto") || !strcmp(k, "allow-hotplug") || !strcmp(k, "mapping") || !strcmp(k, "source") ||
		    !strcmp(k, "source-directory")) {
			in_iface = 0;
			continue;
		}
		if (in_iface && n >= 2) {
			if (!strcmp(k, "address")) {
				slash = strchr(v1, '/') != NULL;
				if (set_addr(g, v1, 24) < 0)
					g->method = GUESTNET_UNKNOWN;
			} else if (!strcmp(k, "netmask")) {
				netmask = mask_prefix(v1);
			}
		}
	}
	if (g->method == GUESTNET_STATIC && !slash && netmask > 0)
		g->prefix = netmask;   /* address A, netmask M (either order) */
	return found;
}

int guestnet_networkd(const char *text, size_t len, struct guestnet *g)
{
	char line[LINE_MAX_LEN];
	size_t pos = 0;
	int section = 0;   /* 1 [Network], 2 [Address], 0 other */
	struct guestnet s = {0};
	int dhcp = 0;

	memset(g, 0, sizeof(*g));
	while (next_line(text, len, &pos, line)) {
		if (line[0] == '[') {
			section = !strcmp(line, "[Network]") ? 1 : !strcmp(line, "[Address]") ? 2 : 0;
			continue;
		}
		char *eq = strchr(line, '=');
		if (!section || !eq)
			continue;
		*eq = 0;
		char *k = line, *v = eq + 1;
		size_t kl = strlen(k);
		while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
			k[--kl] = 0;
		v += strspn(v, " \t");
		if (section == 1 && !strcmp(k, "DHCP"))
			dhcp = !strcmp(v, "yes") || !strcmp(v, "ipv4") || !strcmp(v, "true") || !strcmp(v, "both");
		else if (!strcmp(k, "Address") && s.method != GUESTNET_STATIC && strchr(v, '.'))
			set_addr(&s, v, 32);
	}
	if (s.method == GUESTNET_STATIC) {
		*g = s;
		return 1;
	}
	if (dhcp) {
		g->method = GUESTNET_DHCP;
		return 1;
	}
	return 0;
}

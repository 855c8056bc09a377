/* test_probe.c: gap analysis on reply times, and method parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "probe/probe.h"

static void test_gaps_use_reply_times(void **state)
{
	(void)state;
	/* Sent every 1 ms; the ones sent at 3..5 ms were held in a paused guest
	 * and answered together at 100 ms; 6 ms and 7 ms got no reply. */
	struct probe_sample s[] = {
		{ PROBE_ICMP, 0, 0, 100 },     { PROBE_ICMP, 1, 1000, 1100 }, { PROBE_ICMP, 2, 2000, 2100 },
		{ PROBE_ICMP, 3, 3000, 100000 }, { PROBE_ICMP, 4, 4000, 100010 }, { PROBE_ICMP, 5, 5000, 100020 },
		{ PROBE_ICMP, 6, 6000, 0 },    { PROBE_ICMP, 7, 7000, 0 },    { PROBE_ICMP, 8, 101000, 101100 },
		{ PROBE_UDP, 0, 0, 50 },       { PROBE_UDP, 1, 1000, 90000 },
	};
	struct probe_gaps g;

	probe_analyze(s, sizeof(s) / sizeof(s[0]), PROBE_ICMP, 10000, &g);
	assert_int_equal(g.sent, 9);
	assert_int_equal(g.replied, 7);
	/* Reply times: the gap is 2.1 ms -> 100 ms, not the send times' 1 ms. */
	assert_int_equal(g.longest_us, 100000 - 2100);
	assert_int_equal(g.longest_from_us, 2100);
	assert_int_equal(g.longest_to_us, 100000);
	assert_int_equal(g.over_threshold, 1);
	probe_analyze(s, sizeof(s) / sizeof(s[0]), PROBE_UDP, 10000, &g);
	assert_int_equal(g.sent, 2);
	assert_int_equal(g.longest_us, 90000 - 50);
	assert_false(g.open);
	/* Replies stop for good: the open gap runs to the last unanswered probe. */
	struct probe_sample dead[] = {
		{ PROBE_ICMP, 0, 0, 100 }, { PROBE_ICMP, 1, 1000, 1100 },
		{ PROBE_ICMP, 2, 2000, 0 }, { PROBE_ICMP, 3, 50000, 0 },
	};
	probe_analyze(dead, 4, PROBE_ICMP, 10000, &g);
	assert_true(g.open);
	assert_int_equal(g.longest_us, 50000 - 1100);
	assert_int_equal(g.over_threshold, 1);
	probe_analyze(s, sizeof(s) / sizeof(s[0]), PROBE_HTTP, 10000, &g);
	assert_int_equal(g.sent, 0);
	assert_int_equal(g.longest_us, 0);
}

/* Heartbeats every 1 ms; the guest paused 100 ms (its clock stood still,
 * no sequence number missing), later the network lost 49 of them. */
static void test_guest_heartbeats(void **state)
{
	(void)state;
	struct probe_sample s[300];
	size_t n = 0;
	int64_t host = 1000000, guest = 5000;
	uint32_t seq = 10;

	for (int i = 0; i < 100; i++, host += 1000, guest += 1000)
		s[n++] = (struct probe_sample){ PROBE_GUEST, seq++, guest, host };
	host += 99000;   /* paused: the next heartbeat arrives 100 ms later, 1 ms later on the guest's clock */
	for (int i = 0; i < 50; i++, host += 1000, guest += 1000)
		s[n++] = (struct probe_sample){ PROBE_GUEST, seq++, guest, host };
	host += 49000, guest += 49000, seq += 49;   /* lost on the way: 50 ms, both clocks */
	for (int i = 0; i < 50; i++, host += 1000, guest += 1000)
		s[n++] = (struct probe_sample){ PROBE_GUEST, seq++, guest, host };
	s[n++] = (struct probe_sample){ PROBE_ICMP, 0, 1, 2 };   /* other methods ignored */

	struct probe_guest g;
	probe_guest_analyze(s, n, &g);
	assert_int_equal(g.received, 200);
	assert_int_equal(g.lost, 49);
	assert_int_equal(g.gap_us, 100000);
	assert_int_equal(g.lost_in_gap, 0);
	assert_int_equal(g.guest_advance_us, 1000);
	assert_int_equal(g.clock_jump_us, -99000);

	/* Without the pause, the longest gap is the network's: no clock jump. */
	n = 0, host = 0, guest = 0, seq = 0;
	for (int i = 0; i < 10; i++, host += 1000, guest += 1000)
		s[n++] = (struct probe_sample){ PROBE_GUEST, seq++, guest, host };
	host += 29000, guest += 29000, seq += 29;
	s[n++] = (struct probe_sample){ PROBE_GUEST, seq++, guest, host };
	probe_guest_analyze(s, n, &g);
	assert_int_equal(g.gap_us, 30000);
	assert_int_equal(g.lost_in_gap, 29);
	assert_int_equal(g.clock_jump_us, 0);

	probe_guest_analyze(s, 0, &g);
	assert_int_equal(g.received, 0);
	assert_int_equal(g.gap_us, 0);
}

/* The gap around a pause window, not the longest one elsewhere. */
static void test_gap_around(void **state)
{
	(void)state;
	struct probe_sample s[] = {
		{ PROBE_ICMP, 0, 0, 100 },   { PROBE_ICMP, 1, 1000, 1100 },   /* then 150 ms of nothing early on */
		{ PROBE_ICMP, 2, 2000, 151100 }, { PROBE_ICMP, 3, 152000, 152100 },
		{ PROBE_ICMP, 4, 153000, 0 }, /* the pause: 153.5 .. 160 ms */ { PROBE_ICMP, 5, 154000, 185000 },
		{ PROBE_ICMP, 6, 186000, 186100 }, { PROBE_UDP, 0, 150000, 190000 },
	};
	size_t n = sizeof(s) / sizeof(s[0]);
	assert_int_equal(probe_gap_around(s, n, PROBE_ICMP, 153500, 160000), 185000 - 152100);
	assert_int_equal(probe_gap_around(s, n, PROBE_ICMP, 0, 10), -1);          /* nothing before */
	assert_int_equal(probe_gap_around(s, n, PROBE_ICMP, 180000, 190000), -1); /* nothing after */
	struct probe_gaps g;
	probe_analyze(s, n, PROBE_ICMP, 10000, &g);
	assert_int_equal(g.longest_us, 150000);   /* the longest is elsewhere */
}

static void test_methods(void **state)
{
	(void)state;
	bool use[PROBE_N];
	struct ferr err = {0};

	assert_int_equal(probe_parse_methods("icmp,http", use, &err), 0);
	assert_true(use[PROBE_ICMP] && use[PROBE_HTTP] && !use[PROBE_UDP] && !use[PROBE_TCP]);
	assert_int_not_equal(probe_parse_methods("icmp,smoke", use, &err), 0);
	assert_non_null(strstr(err.msg, "smoke"));
	assert_int_not_equal(probe_parse_methods("", use, &err), 0);
	struct probe_cfg c;
	probe_cfg_default(&c);
	c.use[PROBE_ICMP] = true;
	c.interval_us[PROBE_ICMP] = 0;
	snprintf(c.target, sizeof(c.target), "10.77.0.2");
	struct probe_sample *s;
	size_t n;
	assert_int_not_equal(probe_run(&c, &s, &n, &err), 0);
	assert_non_null(strstr(err.msg, "interval"));
	c.interval_us[PROBE_ICMP] = 1000;
	snprintf(c.target, sizeof(c.target), "not-an-ip");
	assert_int_not_equal(probe_run(&c, &s, &n, &err), 0);
	assert_non_null(strstr(err.msg, "IPv4"));
}

/* An ARP/RARP payload (after the Ethernet header): oper, sender MAC and
 * IP, target MAC and IP. */
static void arp(uint8_t p[28], int oper, const uint8_t sha[6], const char *spa, const uint8_t tha[6], const char *tpa)
{
	uint32_t s = 0, t = 0;

	memset(p, 0, 28);
	p[1] = 1;
	p[2] = 0x08;
	p[4] = 6;
	p[5] = 4;
	p[7] = (uint8_t)oper;
	memcpy(p + 8, sha, 6);
	if (spa)
		inet_pton(AF_INET, spa, &s);
	memcpy(p + 14, &s, 4);
	memcpy(p + 18, tha, 6);
	if (tpa)
		inet_pton(AF_INET, tpa, &t);
	memcpy(p + 24, &t, 4);
}

static void test_frames(void **state)
{
	static const uint8_t guest[6] = { 0x52, 0x54, 0, 0x77, 0, 2 }, other[6] = { 0x52, 0x54, 0, 0x77, 0, 9 };
	static const uint8_t client[6] = { 2, 0, 0, 0, 0, 0x64 }, zero[6] = { 0 };
	uint32_t target;
	uint8_t p[28], sender[6];

	(void)state;
	inet_pton(AF_INET, "10.77.0.2", &target);
	/* QEMU's announcement: RARP request-reverse from the guest's MAC, IPs 0 */
	arp(p, 3, guest, NULL, guest, NULL);
	assert_int_equal(probe_parse_frame(p, 28, 0x8035, target, zero, sender), PROBE_FRAME_RARP);
	assert_memory_equal(sender, guest, 6);
	assert_int_equal(probe_parse_frame(p, 28, 0x8035, target, guest, NULL), PROBE_FRAME_RARP);
	/* another guest's RARP, once the target's MAC is known: not its */
	arp(p, 3, other, NULL, other, NULL);
	assert_int_equal(probe_parse_frame(p, 28, 0x8035, target, guest, NULL), PROBE_FRAME_NONE);
	/* the guest's gratuitous ARP (request and reply forms) */
	arp(p, 1, guest, "10.77.0.2", zero, "10.77.0.2");
	assert_int_equal(probe_parse_frame(p, 28, 0x0806, target, NULL, NULL), PROBE_FRAME_GARP);
	arp(p, 2, guest, "10.77.0.2", guest, "10.77.0.2");
	assert_int_equal(probe_parse_frame(p, 28, 0x0806, target, NULL, NULL), PROBE_FRAME_GARP);
	/* its answer to the client's question; the question itself is not its */
	arp(p, 2, guest, "10.77.0.2", client, "10.77.0.100");
	assert_int_equal(probe_parse_frame(p, 28, 0x0806, target, NULL, NULL), PROBE_FRAME_ARP_REPLY);
	arp(p, 1, client, "10.77.0.100", zero, "10.77.0.2");
	assert_int_equal(probe_parse_frame(p, 28, 0x0806, target, NULL, NULL), PROBE_FRAME_NONE);
	/* another address's GARP, a short frame, a bad header, an ARP on the RARP type */
	arp(p, 1, other, "10.77.0.9", zero, "10.77.0.9");
	assert_int_equal(probe_parse_frame(p, 28, 0x0806, target, NULL, NULL), PROBE_FRAME_NONE);
	arp(p, 3, guest, NULL, guest, NULL);
	assert_int_equal(probe_parse_frame(p, 27, 0x8035, target, NULL, NULL), PROBE_FRAME_NONE);
	p[4] = 8;
	assert_int_equal(probe_parse_frame(p, 28, 0x8035, target, NULL, NULL), PROBE_FRAME_NONE);
	arp(p, 1, guest, "10.77.0.2", zero, "10.77.0.2");
	assert_int_equal(probe_parse_frame(p, 28, 0x8035, target, NULL, NULL), PROBE_FRAME_NONE);
	assert_int_equal(probe_parse_frame(p, 28, 0x0800, target, NULL, NULL), PROBE_FRAME_NONE);
}

/* A netlink datagram as a bridge sends it: RTM_NEWNEIGH, AF_BRIDGE,
 * ifindex, NDA_LLADDR; n_msgs of them back to back. */
static size_t fdb_msg(uint8_t *buf, const uint8_t mac[6], int ifindex, int family, int type)
{
	struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct ndmsg)) + RTA_SPACE(6) + RTA_SPACE(2)),
			      .nlmsg_type = (uint16_t)type };
	struct ndmsg nd = { .ndm_family = (uint8_t)family, .ndm_ifindex = ifindex };
	struct rtattr vlan = { .rta_len = RTA_LENGTH(2), .rta_type = NDA_VLAN }, ll = { .rta_len = RTA_LENGTH(6), .rta_type = NDA_LLADDR };
	size_t a = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nd));

	memset(buf, 0, h.nlmsg_len);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + NLMSG_HDRLEN, &nd, sizeof(nd));
	memcpy(buf + a, &vlan, sizeof(vlan));   /* another attribute first */
	a += RTA_SPACE(2);
	memcpy(buf + a, &ll, sizeof(ll));
	memcpy(buf + a + RTA_LENGTH(0), mac, 6);
	return h.nlmsg_len;
}

static void test_fdb(void **state)
{
	static const uint8_t guest[6] = { 0x52, 0x54, 0, 0x77, 0, 2 }, other[6] = { 0x52, 0x54, 0, 0x77, 0, 9 };
	uint8_t buf[512];
	int port = 0;

	(void)state;
	size_t n = fdb_msg(buf, other, 5, AF_BRIDGE, RTM_NEWNEIGH);
	n += fdb_msg(buf + n, guest, 7, AF_BRIDGE, RTM_NEWNEIGH);   /* two in one datagram */
	assert_int_equal(probe_parse_fdb(buf, n, guest, &port), 1);
	assert_int_equal(port, 7);
	assert_int_equal(probe_parse_fdb(buf, n, other, &port), 1);
	assert_int_equal(port, 5);
	/* a deletion, an IPv4 neighbour, a cut datagram: nothing */
	n = fdb_msg(buf, guest, 7, AF_BRIDGE, RTM_DELNEIGH);
	assert_int_equal(probe_parse_fdb(buf, n, guest, &port), 0);
	n = fdb_msg(buf, guest, 7, AF_INET, RTM_NEWNEIGH);
	assert_int_equal(probe_parse_fdb(buf, n, guest, &port), 0);
	n = fdb_msg(buf, guest, 7, AF_BRIDGE, RTM_NEWNEIGH);
	assert_int_equal(probe_parse_fdb(buf, n - 4, guest, &port), 0);
	/* an attribute longer than its message */
	buf[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg))] = 200;
	assert_int_equal(probe_parse_fdb(buf, n, guest, &port), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gaps_use_reply_times),
		cmocka_unit_test(test_guest_heartbeats),
		cmocka_unit_test(test_gap_around),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_fdb),
	};
	return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}

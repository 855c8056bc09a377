/* test_guestnet.c: a guest's address read from its own files: ifupdown's
 * interfaces (static with a prefix or a netmask, DHCP, loopback skipped,
 * the first interface deciding) and systemd-networkd (Address=, DHCP=);
 * nonsense gives "unknown", never a made-up address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "convert/guestnet.h"

static int ifup(const char *t, struct guestnet *g)
{
	return guestnet_interfaces(t, strlen(t), g);
}

static int nd(const char *t, struct guestnet *g)
{
	return guestnet_networkd(t, strlen(t), g);
}

static void test_interfaces_static(void **state)
{
	struct guestnet g;
	(void)state;
	assert_int_equal(ifup("auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
			      "    address 192.168.7.20/26\n    gateway 192.168.7.1\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_STATIC);
	assert_string_equal(g.addr, "192.168.7.20");
	assert_int_equal(g.prefix, 26);
	/* netmask before or after the address */
	assert_int_equal(ifup("iface ens3 inet static\n\tnetmask 255.255.0.0\n\taddress 10.1.2.3\n", &g), 1);
	assert_string_equal(g.addr, "10.1.2.3");
	assert_int_equal(g.prefix, 16);
	assert_int_equal(ifup("iface ens3 inet static # main\n  address 10.1.2.3 # here\n  netmask 255.255.255.0\n", &g), 1);
	assert_int_equal(g.prefix, 24);
	/* no mask: /24 as ifupdown's default for a bare address */
	assert_int_equal(ifup("iface eth0 inet static\naddress 10.9.9.9\n", &g), 1);
	assert_int_equal(g.prefix, 24);
}

static void test_interfaces_dhcp_and_order(void **state)
{
	struct guestnet g;
	(void)state;
	assert_int_equal(ifup("iface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_DHCP);
	/* the first interface decides; a later static one does not override */
	assert_int_equal(ifup("iface eth0 inet dhcp\niface eth1 inet static\naddress 10.0.0.9/24\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_DHCP);
	/* an address line outside a static stanza is not the guest's */
	assert_int_equal(ifup("auto eth0\naddress 10.0.0.9/24\n", &g), 0);
	assert_int_equal(g.method, GUESTNET_UNKNOWN);
	assert_int_equal(ifup("source /etc/network/interfaces.d/*\n", &g), 0);
	assert_int_equal(ifup("iface eth0 inet6 static\naddress fd00::5/64\n", &g), 0);
}

static void test_interfaces_nonsense(void **state)
{
	struct guestnet g;
	(void)state;
	assert_int_equal(ifup("iface eth0 inet static\naddress 999.1.1.1/24\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_UNKNOWN);
	assert_int_equal(ifup("iface eth0 inet static\naddress 10.0.0.1/33\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_UNKNOWN);
	assert_int_equal(ifup("iface eth0 inet static\naddress 10.0.0.1/24\nnetmask 255.0.255.0\n", &g), 1);
	assert_int_equal(g.prefix, 24);
	assert_int_equal(ifup("", &g), 0);
	char big[4000];
	memset(big, 'a', sizeof(big));
	assert_int_equal(guestnet_interfaces(big, sizeof(big), &g), 0);   /* not NUL-terminated, one long line */
}

static void test_networkd(void **state)
{
	struct guestnet g;
	(void)state;
	assert_int_equal(nd("[Match]\nName=e*\n\n[Network]\nAddress=10.77.0.5/24\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_STATIC);
	assert_string_equal(g.addr, "10.77.0.5");
	assert_int_equal(g.prefix, 24);
	assert_int_equal(nd("[Network]\nDHCP=yes\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_DHCP);
	assert_int_equal(nd("[Network]\nDHCP = ipv4\n", &g), 1);
	assert_int_equal(g.method, GUESTNET_DHCP);
	assert_int_equal(nd("[Network]\nDHCP=ipv6\n", &g), 0);
	/* an IPv6 address first, then the IPv4 one; [Address] sections too */
	assert_int_equal(nd("[Network]\nAddress=fd00::1/64\n[Address]\nAddress=172.16.0.9/12\n", &g), 1);
	assert_string_equal(g.addr, "172.16.0.9");
	assert_int_equal(g.prefix, 12);
	/* keys of other sections are not the address */
	assert_int_equal(nd("[Route]\nAddress=10.0.0.1/8\nGateway=10.0.0.1\n", &g), 0);
	assert_int_equal(nd("Address=10.0.0.1/8\n", &g), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interfaces_static),
		cmocka_unit_test(test_interfaces_dhcp_and_order),
		cmocka_unit_test(test_interfaces_nonsense),
		cmocka_unit_test(test_networkd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

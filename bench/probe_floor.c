/* probe_floor.c: the least any 1 kHz ICMP prober must do: wake on an
 * absolute 1 ms timer, send one echo request, read what came back. The
 * floor bench/probe-cpu compares ferry probe against.
 * Usage: probe_floor ADDR SECONDS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/ip_icmp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timespec t;
	int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);

	if (argc != 3 || fd < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (long i = 0, n = atol(argv[2]) * 1000; i < n; i++) {
		struct icmphdr h = { .type = ICMP_ECHO };
		unsigned short *w = (unsigned short *)&h;
		unsigned s = 0;
		char buf[256];

		t.tv_nsec += 1000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_nsec -= 1000000000;
			t.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
		h.un.echo.id = htons((unsigned short)getpid());
		h.un.echo.sequence = htons((unsigned short)i);
		for (int k = 0; k < 4; k++)
			s += w[k];
		s = (s >> 16) + (s & 0xffff);
		h.checksum = (unsigned short)~(s + (s >> 16));
		sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&a, sizeof(a));
		while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	return 0;
}

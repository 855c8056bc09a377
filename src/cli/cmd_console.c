/* cmd_console.c: ferry console NAME — relay the VM's serial console. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x1d   /* Ctrl-] */
#define LINGER_MS 1500     /* output still read after stdin ends (and after each output) */

int cmd_console(struct cli *cli, int argc, char **argv)
{
	struct agent_conn *c;
	struct ferr err = {0};
	struct termios saved, raw;
	bool tty = isatty(0), stdin_open = true;
	int64_t linger_until = 0;
	json_t *res;
	char buf[4096];

	if (cli_getopt(cli, argc, argv, NULL, NULL) != -1 || cli_args_done(argc, argv, 1) < 0)
		return 2;
	if (agent_connect(cli, cli->host, &c, &err) < 0 ||
	    agent_call(c, "console", json_pack("{s:s}", "name", argv[optind]), cli->timeout_ms, &res, &err) < 0) {
		fprintf(stderr, "ferry: %s\n", err.msg);
		return 1;
	}
	json_decref(res);
	if (tty) {
		fprintf(stderr, "ferry: console of %s on host %s; Ctrl-] detaches\r\n", argv[1], agent_host(c));
		tcgetattr(0, &saved);
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	int rc = 0;
	for (;;) {
		struct pollfd p[2] = { { agent_fd(c), POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
		int timeout = -1;
		if (!stdin_open) {
			int64_t left = linger_until - time_mono_us();
			if (left <= 0)
				break;
			timeout = (int)(left / 1000) + 1;
		}
		if (!agent_pending(c) && poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (agent_pending(c) || p[0].revents) {
			ssize_t n = agent_read_raw(c, buf, sizeof(buf));
			if (n == 0 || (n < 0 && n != -EAGAIN)) {
				if (stdin_open)
					fprintf(stderr, "%sferry: the console of %s closed\n", tty ? "\r\n" : "", argv[1]);
				break;
			}
			if (n > 0 && write_all(1, buf, n) < 0)
				break;
			if (n > 0 && !stdin_open)   /* still talking: keep listening */
				linger_until = time_mono_us() + LINGER_MS * 1000;
		}
		if (p[1].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				stdin_open = false;
				linger_until = time_mono_us() + LINGER_MS * 1000;
				continue;
			}
			if (tty && memchr(buf, ESCAPE_CHAR, n))
				break;
			if (agent_write_raw(c, buf, n) < 0) {
				rc = 1;
				break;
			}
		}
	}
	if (tty) {
		tcsetattr(0, TCSANOW, &saved);
		fprintf(stderr, "\nferry: detached from %s\n", argv[1]);
	}
	agent_close(c);
	return rc;
}

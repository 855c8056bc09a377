/* cli_util.c: small helpers shared by the CLI verbs. */
#include "cli/cli.h"

#include <stdio.h>

/* Parses "VERB NAME" with no options; prints usage on a mismatch. */
const char *cli_one_name(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		cli_usage(argv[0], true);
		return NULL;
	}
	return argv[1];
}

void cli_format_uptime(long long started_us, char *out, size_t n)
{
	long long s = started_us ? (time_real_us() - started_us) / 1000000 : 0;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
}

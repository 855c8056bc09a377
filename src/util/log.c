/* log.c: key=value logs with a level and a microsecond timestamp, to stderr. */
#include "util/log.h"
#include "util/util.h"

#include <stdio.h>
#include <stdarg.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level l) { min_level = l; }

void log_msg(enum log_level l, const char *msg, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char kv[2048] = "";
	va_list ap;
	int64_t now = time_real_us();
	time_t sec = now / 1000000;
	struct tm tm;
	char ts[32];

	if (l < min_level)
		return;
	if (fmt && *fmt) {
		va_start(ap, fmt);
		vsnprintf(kv, sizeof(kv), fmt, ap);
		va_end(ap);
	}
	/* Values may come from the network (names, error texts): no control
	 * byte may start a forged line or hide one. */
	for (char *p = kv; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "ts=%s.%06dZ level=%s msg=\"%s\"%s%s\n", ts, (int)(now % 1000000),
		names[l], msg, *kv ? " " : "", kv);
}

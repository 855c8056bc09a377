/* log.h: key=value logs with a level and a microsecond timestamp, to stderr. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level l);
/* fmt holds the key=value pairs after "msg": log_msg(LOG_INFO, "vm started", "vm=%s", name). */
void log_msg(enum log_level l, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(m, ...) log_msg(LOG_DEBUG, m, __VA_ARGS__)
#define log_info(m, ...) log_msg(LOG_INFO, m, __VA_ARGS__)
#define log_warn(m, ...) log_msg(LOG_WARN, m, __VA_ARGS__)
#define log_error(m, ...) log_msg(LOG_ERROR, m, __VA_ARGS__)

#endif

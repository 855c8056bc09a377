/* qmp.h: QEMU Machine Protocol client, transport layer: framing, greeting and
 * capability negotiation, command/reply matching by id, timestamped events.
 * Non-blocking: the owner polls qmp_fd() and calls qmp_on_readable/writable. */
#ifndef FERRY_QMP_H
#define FERRY_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

struct qmp;

/* reply is the whole message ({"return":..} or {"error":..}), borrowed;
 * NULL when the connection closed before the reply came. */
typedef void (*qmp_reply_cb)(struct qmp *q, json_t *reply, void *opaque);
/* qemu_us: QEMU's own timestamp (realtime); recv_us: when ferry read it
 * (realtime, so both compare); data may be NULL. */
typedef void (*qmp_event_cb)(struct qmp *q, const char *event, json_t *data,
			     int64_t qemu_us, int64_t recv_us, void *opaque);

/* Takes ownership of fd (a connected stream socket; made non-blocking). */
struct qmp *qmp_new(int fd, qmp_event_cb on_event, void *opaque);
/* Closes the fd; every pending callback gets reply == NULL. NULL is a no-op. */
void qmp_free(struct qmp *q);

int qmp_fd(const struct qmp *q);
/* Writes every message sent and received to fd (taken; closed with q), one
 * JSON line each: {"us":realtime,"out":...} or {"in":...}. For recording
 * the transcripts the unit tests replay (see FERRYD_QMP_TRACE in vm.c). */
void qmp_set_trace(struct qmp *q, int fd);
bool qmp_ready(const struct qmp *q);      /* greeting + capabilities done */
bool qmp_want_write(const struct qmp *q);
/* Return 0, or -errno (-EPIPE on EOF, -EPROTO on a protocol error, see err). */
int qmp_on_readable(struct qmp *q, struct ferr *err);
int qmp_on_writable(struct qmp *q);

/* Queues a command (sent once the handshake is done). args is stolen (may be
 * NULL). Returns the command id (> 0). */
long qmp_send(struct qmp *q, const char *cmd, json_t *args, qmp_reply_cb cb, void *opaque);

/* As qmp_send, but out-of-band when QEMU offered it ("exec-oob"): runs in
 * the monitor's own thread even while QEMU's main loop is blocked (e.g. by
 * a post-copy page fault). Falls back to in-band. */
long qmp_send_oob(struct qmp *q, const char *cmd, json_t *args, qmp_reply_cb cb, void *opaque);
bool qmp_has_oob(const struct qmp *q);

/* If reply is an error, returns its description (borrowed), else NULL. */
const char *qmp_reply_error(json_t *reply);

/* Blocking helpers, for the CLI and tests: connect to a QMP Unix socket, and
 * run one command waiting up to timeout_ms (events are dispatched meanwhile).
 * On success *reply is a new reference to the "return" value. */
int qmp_connect_unix(const char *path, struct ferr *err);
int qmp_call(struct qmp *q, const char *cmd, json_t *args, int timeout_ms,
	     json_t **reply, struct ferr *err);

#endif

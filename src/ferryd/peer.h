/* peer.h: ferryd's client to another agent (TLS-PSK over TCP), driven by the
 * event loop: connect, handshake, greeting, then request/reply by id. */
#ifndef FERRYD_PEER_H
#define FERRYD_PEER_H

#include <jansson.h>

struct agent;
struct peer;

/* ready: err NULL when the peer greeted us as host `host`. */
typedef void (*peer_ready_cb)(struct peer *p, const char *err, void *opaque);
/* result: the reply's result (borrowed) or NULL with err (the peer's sentence,
 * or why the connection failed). */
typedef void (*peer_reply_cb)(struct peer *p, json_t *result, const char *err, void *opaque);

struct peer *peer_connect(struct agent *ag, const char *host, const char *addr, int port,
			  peer_ready_cb ready, void *opaque);
/* A call without an answer within 60 s (or timeout_ms) fails with err. */
long peer_call(struct peer *p, const char *op, json_t *args, peer_reply_cb cb, void *opaque);
long peer_call_timeout(struct peer *p, const char *op, json_t *args, int timeout_ms, peer_reply_cb cb, void *opaque);
/* Forgets a call still waiting (its callback will not run). */
void peer_forget(struct peer *p, long id);
/* Drops the connection; pending callbacks are not called. NULL is a no-op. */
void peer_free(struct peer *p);
/* Microseconds since the peer last sent anything (for liveness checks). */
long long peer_idle_us(const struct peer *p);
const char *peer_host(const struct peer *p);

#endif

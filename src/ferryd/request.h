/* request.h: one client request waiting for its answer. The server makes
 * one per request it dispatches; whoever holds it answers it exactly once
 * (request_ok / request_err free it), or drops it. Nothing below server.c
 * writes protocol replies: it answers the request it was handed. */
#ifndef FERRYD_REQUEST_H
#define FERRYD_REQUEST_H

#include <jansson.h>

struct agent;

/* How a reply reaches the client (stolen msg); the server's sends it on the
 * connection if that is still open, a test's records it. */
typedef void (*request_send_fn)(struct agent *ag, long client_id, json_t *msg);

struct request {
	struct agent *ag;
	long client_id;          /* the connection it came on */
	long id;                 /* its id, echoed in the reply */
	request_send_fn send;
};

struct request *request_new(struct agent *ag, long client_id, long id, request_send_fn send);
/* Answers (result stolen, may be NULL) and frees r. */
void request_ok(struct request *r, json_t *result);
void request_err(struct request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* {"id":..,"progress":p} (stolen); r stays open. */
void request_progress(struct request *r, json_t *p);
/* Frees r without an answer (NULL: no-op). */
void request_drop(struct request *r);

#endif

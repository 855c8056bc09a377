/* proto.h: ferry's control protocol (version 4, docs/protocol.md): JSON
 * objects, one per line, between the CLI or a peer agent and ferryd. */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <jansson.h>
#include "util/util.h"

#define PROTO_VERSION 6

/* Agent -> client, first message: {"ferry":1,"agent":"ferryd","version":..,"host":..} */
json_t *proto_greeting_new(const char *host);
/* Checks a greeting; *host (borrowed from msg) is the agent's host name. */
int proto_greeting_check(json_t *msg, const char **host, struct ferr *err);

/* {"id":N,"op":"list","args":{...}}; args stolen, NULL means {}. */
json_t *proto_request_new(long id, const char *op, json_t *args);
/* Validates a request; op and args are borrowed from msg. */
int proto_request_parse(json_t *msg, long *id, const char **op, json_t **args, struct ferr *err);

/* {"id":N,"ok":true,"result":{...}}; result stolen, NULL means {}. */
json_t *proto_reply_ok(long id, json_t *result);
/* {"id":N,"ok":false,"error":"sentence"} */
json_t *proto_reply_err(long id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a reply to request id: 0 and *result (borrowed) if ok; -EREMOTEIO with
 * err = the agent's sentence if not; -EPROTO if the reply is malformed. */
int proto_reply_parse(json_t *msg, long id, json_t **result, struct ferr *err);

/* Appends msg as one line to b. -EINVAL (b unchanged) if msg is NULL or
 * cannot be encoded: a reply built from bad input never crashes a writer. */
int proto_encode(json_t *msg, struct buf *b);

#endif

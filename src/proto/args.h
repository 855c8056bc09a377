/* args.h: the one place where the arguments of every control-protocol op are
 * checked (types, lengths, ranges, no unknown keys) before a handler runs,
 * and where the results a peer agent returns are checked before they are
 * used. Everything that arrives from the network passes through here. */
#ifndef FERRY_PROTO_ARGS_H
#define FERRY_PROTO_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include "util/util.h"

enum proto_arg_type {
	PA_NAME,    /* a VM or host name: [A-Za-z][A-Za-z0-9_-]{0,31} */
	PA_ADDR,    /* an IPv4 or IPv6 literal */
	PA_TEXT,    /* a string of at most max bytes (valid UTF-8: jansson) */
	PA_INT,     /* an integer from min to max */
	PA_BOOL,
	PA_OBJ,     /* an object checked against sub */
	PA_RECORD,  /* a migration record: an object, "name" a PA_NAME, at most max bytes encoded */
	PA_SIZES,   /* {vdev: bytes}: at most 8 keys of at most 7 bytes, values min..max */
	PA_NAMES,   /* {name: string}: at most 8 keys that are PA_NAMEs, strings of at most max bytes */
};

struct proto_arg {
	const char *key;
	enum proto_arg_type type;
	bool required;
	long long min, max;             /* PA_INT, PA_SIZES: range; PA_TEXT, PA_RECORD: max bytes */
	const struct proto_arg *sub;    /* PA_OBJ: its keys, ended by key NULL */
};

/* Who may send an op: anyone holding the key (the CLI or a peer agent). */
struct proto_op {
	const char *name;
	const struct proto_arg *args;   /* ended by key NULL; NULL: takes no arguments */
};

/* The op named name, or NULL. */
const struct proto_op *proto_op_find(const char *name);
/* The i-th op of the schema list (0, 1, ...), NULL past its end. */
const struct proto_op *proto_op_at(size_t i);
/* Checks args (NULL: none) against op's schema: 0, or -EINVAL with err
 * naming the argument and what it must be. */
int proto_args_check(const struct proto_op *op, json_t *args, struct ferr *err);
/* Checks a peer's reply to op (its "result" object) before it is used. */
int proto_result_check(const char *op, json_t *result, struct ferr *err);

/* Are a and b the same IP address (compared as addresses: "::1" and
 * "0:0::1" are one)? False if either is not an IP literal. */
bool proto_same_addr(const char *a, const char *b);
/* Migration URIs a source accepts from a destination: "tcp:IP:PORT" where IP
 * is an IP literal equal to want_addr (the destination agent's own address;
 * IPv6 in brackets). Never exec:, unix:, fd:, file: or a host name. Writes
 * the address and port on success. */
int proto_tcp_uri_check(const char *uri, const char *want_addr, char *addr, size_t addr_len, int *port,
			struct ferr *err);

#endif

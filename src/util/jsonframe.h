/* jsonframe.h: splits a byte stream into top-level JSON values (QMP and ferry's
 * control protocol both send one JSON object after another). */
#ifndef FERRY_JSONFRAME_H
#define FERRY_JSONFRAME_H

#include <jansson.h>
#include "util/util.h"

#define JSONFRAME_MAX (1u << 20)   /* one message is at most 1 MiB */

struct jsonframe {
	struct buf in;
	size_t scan;     /* bytes of in already scanned */
	int depth;
	bool in_str, esc;
	bool broken;     /* framing lost: the stream is unusable */
};

void jsonframe_feed(struct jsonframe *f, const void *p, size_t n);
/* Takes the next complete message. Returns 1 and a new reference in *out,
 * 0 if more bytes are needed, -EBADMSG / -EMSGSIZE if the stream is bad
 * (then err says why). */
int jsonframe_next(struct jsonframe *f, json_t **out, struct ferr *err);
void jsonframe_free(struct jsonframe *f);

#endif

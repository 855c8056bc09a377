/* jsonframe.c: splits a byte stream into top-level JSON objects by tracking
 * bracket depth outside strings; jansson then parses each one. */
#include "util/jsonframe.h"

#include <errno.h>
#include <string.h>

void jsonframe_feed(struct jsonframe *f, const void *p, size_t n)
{
	buf_append(&f->in, p, n);
}

void jsonframe_free(struct jsonframe *f)
{
	buf_free(&f->in);
	memset(f, 0, sizeof(*f));
}

int jsonframe_next(struct jsonframe *f, json_t **out, struct ferr *err)
{
	if (f->broken) {
		ferr_set(err, "the stream is no longer readable after an earlier error");
		return -EBADMSG;
	}
	/* Skip whitespace between messages. */
	if (f->depth == 0 && f->scan == 0) {
		size_t skip = 0;
		while (skip < f->in.len && strchr(" \t\r\n", f->in.data[skip]))
			skip++;
		buf_consume(&f->in, skip);
		if (f->in.len && f->in.data[0] != '{') {
			f->broken = true;
			ferr_set(err, "expected a JSON object, got byte 0x%02x", (unsigned char)f->in.data[0]);
			return -EBADMSG;
		}
	}
	for (; f->scan < f->in.len; f->scan++) {
		char c = f->in.data[f->scan];
		if (f->in_str) {
			if (f->esc)
				f->esc = false;
			else if (c == '\\')
				f->esc = true;
			else if (c == '"')
				f->in_str = false;
			continue;
		}
		if (c == '"') {
			f->in_str = true;
		} else if (c == '{' || c == '[') {
			if (++f->depth > 64) {
				f->broken = true;
				ferr_set(err, "JSON nested deeper than 64 levels");
				return -EBADMSG;
			}
		} else if (c == '}' || c == ']') {
			if (--f->depth < 0) {
				f->broken = true;
				ferr_set(err, "unbalanced '%c' in JSON stream", c);
				return -EBADMSG;
			}
			if (f->depth == 0) {
				size_t n = f->scan + 1;
				json_error_t je;
				json_t *v = json_loadb(f->in.data, n, JSON_REJECT_DUPLICATES, &je);
				buf_consume(&f->in, n);
				f->scan = 0;
				if (!v || !json_is_object(v)) {
					json_decref(v);
					ferr_set(err, "malformed JSON message: %s", v ? "not an object" : je.text);
					return -EBADMSG;
				}
				*out = v;
				return 1;
			}
		}
	}
	if (f->in.len > JSONFRAME_MAX) {
		f->broken = true;
		ferr_set(err, "JSON message larger than %u bytes", JSONFRAME_MAX);
		return -EMSGSIZE;
	}
	return 0;
}

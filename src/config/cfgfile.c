/* cfgfile.c: a small recursive-descent parser for xl-style config files. */
#include "config/cfgfile.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct lexer {
	const char *p, *end;
	int line;
	const char *path;
	struct ferr *err;
};

static int fail(struct lexer *lx, const char *reason)
{
	ferr_set(lx->err, "%s:%d: %s", lx->path, lx->line, reason);
	return -EINVAL;
}

/* Skips blanks, comments and (if nl) newlines. */
static void skip_space(struct lexer *lx, bool nl)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->p++;
		} else if (c == '\n' && nl) {
			lx->line++;
			lx->p++;
		} else {
			break;
		}
	}
}

static void value_free(struct cfg_value *v)
{
	free(v->str);
	for (size_t i = 0; i < v->n_items; i++)
		value_free(&v->items[i]);
	free(v->items);
}

static int parse_string(struct lexer *lx, struct cfg_value *v)
{
	char q = *lx->p++;
	struct buf b = {0};

	for (;;) {
		if (lx->p >= lx->end || *lx->p == '\n') {
			buf_free(&b);
			return fail(lx, "unterminated string");
		}
		char c = *lx->p++;
		if (c == q)
			break;
		if (c == '\\') {
			if (lx->p >= lx->end || *lx->p == '\n') {
				buf_free(&b);
				return fail(lx, "unterminated string");
			}
			c = *lx->p++;
			if (c == 'n')
				c = '\n';
			else if (c != '\\' && c != '"' && c != '\'') {
				buf_free(&b);
				return fail(lx, "unknown escape in string (use \\\\, \\\", \\' or \\n)");
			}
		} else if ((unsigned char)c < 0x20 && c != '\t') {
			buf_free(&b);
			return fail(lx, "control character in string");
		}
		if (b.len >= CFG_MAX_STRING) {
			buf_free(&b);
			return fail(lx, "string longer than 4096 bytes");
		}
		buf_append(&b, &c, 1);
	}
	if (!b.data)
		buf_append(&b, "", 0);
	v->type = CFG_STR;
	v->str = b.data;
	return 0;
}

static int parse_int(struct lexer *lx, struct cfg_value *v)
{
	char tmp[32];
	size_t n = 0;
	char *end;

	if (*lx->p == '-')
		tmp[n++] = *lx->p++;
	while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
		if (n >= sizeof(tmp) - 1)
			return fail(lx, "number too large");
		tmp[n++] = *lx->p++;
	}
	tmp[n] = 0;
	if (n == 0 || (n == 1 && tmp[0] == '-'))
		return fail(lx, "expected a number");
	if (lx->p < lx->end && (*lx->p == '_' || *lx->p == '.' ||
	    (*lx->p >= 'a' && *lx->p <= 'z') || (*lx->p >= 'A' && *lx->p <= 'Z')))
		return fail(lx, "expected a plain integer (no units or fractions)");
	errno = 0;
	v->num = strtoll(tmp, &end, 10);
	if (errno == ERANGE)
		return fail(lx, "number too large");
	v->type = CFG_INT;
	return 0;
}

static int parse_scalar(struct lexer *lx, struct cfg_value *v)
{
	v->line = lx->line;
	if (lx->p >= lx->end)
		return fail(lx, "expected a value");
	if (*lx->p == '"' || *lx->p == '\'')
		return parse_string(lx, v);
	if (*lx->p == '-' || (*lx->p >= '0' && *lx->p <= '9'))
		return parse_int(lx, v);
	return fail(lx, "expected a quoted string, a number or a [list]");
}

static int parse_value(struct lexer *lx, struct cfg_value *v)
{
	if (lx->p >= lx->end || *lx->p != '[')
		return parse_scalar(lx, v);
	v->type = CFG_LIST;
	v->line = lx->line;
	lx->p++;
	for (;;) {
		skip_space(lx, true);
		if (lx->p >= lx->end)
			return fail(lx, "unterminated list: missing ']'");
		if (*lx->p == ']') {
			lx->p++;
			return 0;
		}
		if (*lx->p == '[')
			return fail(lx, "lists cannot be nested");
		if (v->n_items >= CFG_MAX_ITEMS)
			return fail(lx, "list has more than 64 items");
		v->items = xrealloc(v->items, (v->n_items + 1) * sizeof(*v->items));
		memset(&v->items[v->n_items], 0, sizeof(*v->items));
		int r = parse_scalar(lx, &v->items[v->n_items]);
		if (r < 0) {
			value_free(&v->items[v->n_items]);
			return r;
		}
		v->n_items++;
		skip_space(lx, true);
		if (lx->p < lx->end && *lx->p == ',')
			lx->p++;
		else if (lx->p < lx->end && *lx->p != ']')
			return fail(lx, "expected ',' or ']' in list");
	}
}

void cfg_doc_free(struct cfg_doc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->entries[i].key);
		value_free(&d->entries[i].val);
	}
	free(d->entries);
	free(d->path);
	free(d);
}

const struct cfg_entry *cfg_get(const struct cfg_doc *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->entries[i].key, key))
			return &d->entries[i];
	return NULL;
}

static bool key_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

int cfg_parse(const char *text, size_t len, const char *path, struct cfg_doc **out, struct ferr *err)
{
	struct lexer lx = { text, text + len, 1, path ? path : "<config>", err };
	struct cfg_doc *d;
	int r = 0;

	if (len > CFG_MAX_BYTES) {
		ferr_set(err, "%s: file larger than %d bytes", lx.path, CFG_MAX_BYTES);
		return -EINVAL;
	}
	if (memchr(text, 0, len)) {
		lx.line = 1;
		for (const char *q = text; *q; q++)
			lx.line += *q == '\n';
		return fail(&lx, "NUL byte in config file");
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(lx.path);
	for (;;) {
		skip_space(&lx, true);
		if (lx.p >= lx.end)
			break;
		const char *k = lx.p;
		if (!key_char(*k, true)) {
			r = fail(&lx, "expected a key (letters, digits, '_')");
			break;
		}
		while (lx.p < lx.end && key_char(*lx.p, false))
			lx.p++;
		size_t klen = lx.p - k;
		if (klen > 64) {
			r = fail(&lx, "key longer than 64 characters");
			break;
		}
		if (d->n >= CFG_MAX_ENTRIES) {
			r = fail(&lx, "more than " CFG_MAX_ENTRIES_TEXT " settings in one file");
			break;
		}
		char *key = strndup(k, klen);
		/* Linear, but bounded: at most CFG_MAX_ENTRIES keys. */
		if (cfg_get(d, key)) {
			char msg[128];
			snprintf(msg, sizeof(msg), "'%s' is set twice", key);
			free(key);
			r = fail(&lx, msg);
			break;
		}
		skip_space(&lx, false);
		if (lx.p >= lx.end || *lx.p != '=') {
			free(key);
			r = fail(&lx, "expected '=' after the key");
			break;
		}
		lx.p++;
		skip_space(&lx, false);
		struct cfg_entry e = { key, lx.line, {0} };
		r = parse_value(&lx, &e.val);
		if (r < 0) {
			free(key);
			value_free(&e.val);
			break;
		}
		d->entries = xrealloc(d->entries, (d->n + 1) * sizeof(*d->entries));
		d->entries[d->n++] = e;
		skip_space(&lx, false);
		if (lx.p < lx.end && *lx.p == ';')
			lx.p++;
		skip_space(&lx, false);
		if (lx.p < lx.end && *lx.p != '\n') {
			r = fail(&lx, "unexpected text after the value (one setting per line)");
			break;
		}
	}
	if (r < 0) {
		cfg_doc_free(d);
		return r;
	}
	*out = d;
	return 0;
}

int cfg_read_file(const char *path, char **text, size_t *len, struct ferr *err)
{
	int r = file_read_all(path, CFG_MAX_BYTES, text, len);

	if (r < 0)
		ferr_set(err, "%s: %s", path, r == -EFBIG ? "file larger than 256 KiB" : strerror(-r));
	return r;
}

int cfg_parse_file(const char *path, struct cfg_doc **out, struct ferr *err)
{
	char *text;
	size_t len;
	int r = cfg_read_file(path, &text, &len, err);

	if (r < 0)
		return r;
	r = cfg_parse(text, len, path, out, err);
	free(text);
	return r;
}

void cfg_quote(struct buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_append(b, "\\", 1);
		if (*s == '\n')
			buf_append(b, "\\n", 2);
		else
			buf_append(b, s, 1);
	}
	buf_append(b, "\"", 1);
}

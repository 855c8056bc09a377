/* cfgfile.h: the xl-style config syntax shared by VM configs and agent configs:
 *   # comment
 *   key = "string" | 'string' | 123 | [ "a", "b", ]
 * Every value remembers its line, so errors can say file:line. */
#ifndef FERRY_CFGFILE_H
#define FERRY_CFGFILE_H

#include <stddef.h>
#include "util/util.h"

#define CFG_MAX_BYTES (256 * 1024)
#define CFG_MAX_STRING 4096
#define CFG_MAX_ITEMS 64
/* Real configs have a few dozen keys; the bound keeps the duplicate check cheap. */
#define CFG_MAX_ENTRIES 256
#define CFG_MAX_ENTRIES_TEXT "256"

enum cfg_type { CFG_STR, CFG_INT, CFG_LIST };

struct cfg_value {
	enum cfg_type type;
	int line;
	char *str;               /* CFG_STR */
	long long num;           /* CFG_INT */
	struct cfg_value *items; /* CFG_LIST: strings or integers only */
	size_t n_items;
};

struct cfg_entry {
	char *key;
	int line;
	struct cfg_value val;
};

struct cfg_doc {
	char *path;              /* for messages: "path:line: ..." */
	struct cfg_entry *entries;
	size_t n;
};

/* Parses text (len bytes, NULs rejected). On error returns -EINVAL and sets
 * err to "path:line: reason"; *out is written only on success. */
int cfg_parse(const char *text, size_t len, const char *path, struct cfg_doc **out, struct ferr *err);
int cfg_parse_file(const char *path, struct cfg_doc **out, struct ferr *err);
/* The one reader of config files: at most CFG_MAX_BYTES; err = "path: why". */
int cfg_read_file(const char *path, char **text, size_t *len, struct ferr *err);
void cfg_doc_free(struct cfg_doc *d);

/* Returns the entry for key, or NULL. */
const struct cfg_entry *cfg_get(const struct cfg_doc *d, const char *key);

/* Appends a quoted string literal for s (escaping \ and ") to b. */
struct buf;
void cfg_quote(struct buf *b, const char *s);

#endif

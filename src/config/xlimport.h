/* xlimport.h: a Xen xl guest config (xl.cfg(5), xl-disk-configuration(5))
 * read and written as a ferry VM config (docs/config.md), with every key
 * that could not be translated listed with the reason. Pure text to text:
 * the file is read by the caller; nothing it names is opened. */
#ifndef FERRY_XLIMPORT_H
#define FERRY_XLIMPORT_H

#include <jansson.h>
#include "util/util.h"

/* Translates the xl config text (len bytes; path for messages). 0 with
 * *config (ferry config text, caller frees) and *notes (a JSON array of
 * {"key", "line", "why"}: what was left out or changed), or -EINVAL with
 * err ("path:line: why") when the input is not an xl config ferry can use
 * at all (no name, no memory and nothing to boot, a syntax error). */
int xl_import(const char *text, size_t len, const char *path, char **config, json_t **notes, struct ferr *err);

#endif

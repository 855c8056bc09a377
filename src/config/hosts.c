/* hosts.c: read the hosts file. */
#include "config/hosts.h"
#include "net/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *hosts_default_path(void)
{
	const char *env = getenv("FERRY_HOSTS");

	if (env && *env)
		return env;
	if (access("/etc/ferry/hosts", R_OK) == 0)
		return "/etc/ferry/hosts";
	return "/run/ferry-lab/hosts";
}

static int parse_line(char *line, struct host_entry *h)
{
	char *save = NULL, *tok;
	int i = 0;

	memset(h, 0, sizeof(*h));
	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save), i++) {
		if (i == 0) {
			if (!ident_valid(tok, 32))
				return -EINVAL;
			snprintf(h->name, sizeof(h->name), "%s", tok);
		} else if (i == 1) {
			char *colon = strrchr(tok, ':');
			if (!colon || colon == tok || (size_t)(colon - tok) >= sizeof(h->addr))
				return -EINVAL;
			*colon = 0;
			snprintf(h->addr, sizeof(h->addr), "%s", tok[0] == '[' ? tok + 1 : tok);
			char *rb = strchr(h->addr, ']');
			if (rb)
				*rb = 0;
			h->port = atoi(colon + 1);
			if (h->port < 1 || h->port > 65535)
				return -EINVAL;
			struct sockaddr_storage ss;
			socklen_t sl;
			if (sock_addr_parse(h->addr, h->port, &ss, &sl) < 0)
				return -EINVAL;
		} else if (!strncmp(tok, "netns=", 6)) {
			/* Too long is an error, never a cut (a cut path names another file). */
			if (strlen(tok + 6) >= sizeof(h->netns) || !ident_valid(tok + 6, sizeof(h->netns) - 1))
				return -EINVAL;
			snprintf(h->netns, sizeof(h->netns), "%s", tok + 6);
		} else if (!strncmp(tok, "key=", 4)) {
			if (strlen(tok + 4) >= sizeof(h->key))
				return -EINVAL;
			snprintf(h->key, sizeof(h->key), "%s", tok + 4);
		} else if (!strncmp(tok, "socket=", 7)) {
			if (strlen(tok + 7) >= sizeof(h->socket))
				return -EINVAL;
			snprintf(h->socket, sizeof(h->socket), "%s", tok + 7);
		} else {
			return -EINVAL;
		}
	}
	return i >= 2 ? 0 : -EINVAL;
}

/* The next host of the text at *cursor (modified in place; strtok_r would
 * skip empty lines, and the line numbers count them): 1 with it in h, 0 at
 * the end, -1 on a bad line (its number in *lineno). */
static int next_entry(char **cursor, int *lineno, struct host_entry *h)
{
	for (char *line = *cursor; line; line = *cursor) {
		*cursor = strchr(line, '\n');
		if (*cursor)
			*(*cursor)++ = 0;
		(*lineno)++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		if (strspn(line, " \t\r") == strlen(line))
			continue;
		return parse_line(line, h) < 0 ? -1 : 1;
	}
	return 0;
}

#define BAD_LINE "%s:%d: expected NAME ADDRESS:PORT [netns=NS] [key=FILE] [socket=PATH]"

int hosts_lookup_text(char *text, const char *path, const char *name, struct host_entry *out, struct ferr *err)
{
	struct buf known = {0};
	struct host_entry h;
	int lineno = 0, r;

	while ((r = next_entry(&text, &lineno, &h)) > 0) {
		if (!strcmp(h.name, name)) {
			*out = h;
			buf_free(&known);
			return 0;
		}
		/* The list of known names is for a message: keep it short. */
		if (known.len < 512)
			buf_printf(&known, "%s%s", known.len ? ", " : "", h.name);
	}
	if (r < 0)
		ferr_set(err, BAD_LINE, path, lineno);
	else
		ferr_set(err, "unknown host '%s' (%s knows: %s)", name, path, known.len ? known.data : "none");
	buf_free(&known);
	return r < 0 ? -EINVAL : -ENOENT;
}

int hosts_lookup(const char *path, const char *name, struct host_entry *out, struct ferr *err)
{
	char *text;
	int r;

	if ((r = file_read_all(path, 1 << 20, &text, NULL)) < 0) {
		ferr_set(err, "unknown host '%s': cannot read the hosts file %s (%s)%s", name, path, strerror(-r),
			 r == -ENOENT ? "; run 'ferry lab up' or write one (docs/config.md)" : "");
		return -ENOENT;
	}
	r = hosts_lookup_text(text, path, name, out, err);
	free(text);
	return r;
}

int hosts_names(const char *path, char (*names)[33], int max, struct ferr *err)
{
	struct host_entry h;
	char *text, *cursor;
	int r, n = 0, lineno = 0;

	if ((r = file_read_all(path, 1 << 20, &text, NULL)) < 0) {
		ferr_set(err, "cannot read the hosts file %s (%s)", path, strerror(-r));
		return r;
	}
	cursor = text;
	while ((r = next_entry(&cursor, &lineno, &h)) > 0 && n < max)
		memcpy(names[n++], h.name, sizeof(h.name));
	free(text);
	if (r < 0) {
		ferr_set(err, BAD_LINE, path, lineno);
		return -EINVAL;
	}
	if (r > 0) {
		ferr_set(err, "%s: more than %d hosts", path, max);
		return -E2BIG;
	}
	return n;
}

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

int hosts_lookup_text(char *text, const char *path, const char *name, struct host_entry *out, struct ferr *err)
{
	char *line, *save = NULL;
	struct buf known = {0};
	int lineno = 0;

	/* strtok_r skips empty lines, so count them by hand. */
	for (line = text; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		if (strspn(line, " \t\r") == strlen(line))
			continue;
		struct host_entry h;
		if (parse_line(line, &h) < 0) {
			ferr_set(err, "%s:%d: expected NAME ADDRESS:PORT [netns=NS] [key=FILE] [socket=PATH]", path, lineno);
			buf_free(&known);
			return -EINVAL;
		}
		if (!strcmp(h.name, name)) {
			*out = h;
			buf_free(&known);
			return 0;
		}
		/* The list of known names is for a message: keep it short. */
		if (known.len < 512)
			buf_printf(&known, "%s%s", known.len ? ", " : "", h.name);
	}
	ferr_set(err, "unknown host '%s' (%s knows: %s)", name, path, known.len ? known.data : "none");
	buf_free(&known);
	return -ENOENT;
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

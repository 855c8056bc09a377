/* hosts.h: the hosts file that names agents for `ferry -H NAME`.
 * One host per line:  NAME ADDRESS:PORT [netns=NS] [key=FILE] [socket=PATH]
 * netns: connect from inside that network namespace (the lab's client). */
#ifndef FERRY_HOSTS_H
#define FERRY_HOSTS_H

#include "util/util.h"

struct host_entry {
	char name[33];
	char addr[64];
	int port;
	char netns[64];
	char key[512];
	char socket[512];
};

/* Finds name in the hosts file at path. -ENOENT with a sentence listing the
 * known names when it is not there; -EINVAL with path:line on a bad line. */
int hosts_lookup(const char *path, const char *name, struct host_entry *out, struct ferr *err);
/* The same on the file's text (NUL-terminated; modified in place). */
int hosts_lookup_text(char *text, const char *path, const char *name, struct host_entry *out, struct ferr *err);
/* The names in the hosts file at path, in its order, into names (max of
 * them): how many, or -errno with err. */
int hosts_names(const char *path, char (*names)[33], int max, struct ferr *err);
/* The hosts file to use: $FERRY_HOSTS, /etc/ferry/hosts, /run/ferry-lab/hosts. */
const char *hosts_default_path(void);

#endif

/* tunnel.h: the migration stream in TLS-PSK, carried by ferry (tunnel.c). */
#ifndef FERRYD_TUNNEL_H
#define FERRYD_TUNNEL_H

#include <sys/types.h>
#include "net/stream.h"
#include "util/util.h"

/* Source side: listens on unix_path (mode 0600); each connection QEMU makes
 * there is carried to addr:port in TLS with key. Returns the relay's pid. */
pid_t tunnel_out_start(const char *unix_path, const char *addr, int port, const struct tls_key *key,
		       struct ferr *err);
/* Destination side: listens on addr (a free port, in *port); each TLS
 * connection with key from the address from (the source agent's) is
 * carried to QEMU listening on unix_path. Handshakes run in the relay
 * itself, bounded in number and time; only an authenticated connection
 * gets a copier process, at most TUNNEL_MAX_COPIERS at once. */
#define TUNNEL_MAX_PENDING 8
#define TUNNEL_MAX_COPIERS 64
#define TUNNEL_HANDSHAKE_MS 5000
pid_t tunnel_in_start(const char *addr, const char *from, int *port, const char *unix_path,
		      const struct tls_key *key, struct ferr *err);
/* Ends the relay and the connections it carries. */
void tunnel_stop(pid_t pid);

#endif

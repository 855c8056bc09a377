/* cmds.h: the QMP commands ferry sends, built in one place next to the
 * transport, each as {"execute": ..., "arguments": {...}} in the form QEMU
 * 7.2 accepts (tests/unit/qmp/test_cmds.c holds the exact JSON). Strings
 * passed in are the caller's, checked before (names, IP literals, paths in
 * the VM's own state folder). */
#ifndef FERRY_QMP_CMDS_H
#define FERRY_QMP_CMDS_H

#include <jansson.h>
#include <stdbool.h>

#define QMP_TLS_CREDS_ID "ferry-mig-tls"

/* {"execute": name, "arguments": args (stolen; NULL: none)} */
json_t *qmp_cmd(const char *name, json_t *args);
/* A tls-creds-psk object reading DIR/keys.psk; username only for clients.
 * AES-GCM, not GnuTLS's default ChaCha20 (2x slower here, FIELD-NOTES). */
json_t *qmp_cmd_tls_creds_psk(const char *dir, bool server, const char *username);
/* migrate-set-capabilities from parallel arrays of names and states. */
json_t *qmp_cmd_migrate_caps(const char *const names[], const bool on[], int n);
/* migrate-set-parameters; tls_creds NULL: none (plain stream to QEMU). */
json_t *qmp_cmd_migrate_params(long long downtime_ms, long long max_bandwidth_bps, int multifd_channels,
			       const char *tls_creds, long long max_postcopy_bandwidth_bps);
/* nbd-server-start on host:port (QEMU 7.2: the legacy address form). */
json_t *qmp_cmd_nbd_server_start(const char *host, int port, const char *tls_creds);
json_t *qmp_cmd_nbd_server_add(const char *device, bool writable);
/* blockdev-add of an NBD client node for the export named export. */
json_t *qmp_cmd_blockdev_add_nbd(const char *node, const char *host, int port, const char *export,
				 const char *tls_creds);
json_t *qmp_cmd_blockdev_mirror(const char *job, const char *device, const char *target);
json_t *qmp_cmd_migrate(const char *uri, bool resume);
json_t *qmp_cmd_migrate_incoming(const char *uri);

#endif

/* cmds.c: the JSON of each QMP command ferry sends. */
#include "qmp/cmds.h"

#include <stdio.h>

json_t *qmp_cmd(const char *name, json_t *args)
{
	json_t *c = json_pack("{s:s}", "execute", name);

	if (args)
		json_object_set_new(c, "arguments", args);
	return c;
}

json_t *qmp_cmd_tls_creds_psk(const char *dir, bool server, const char *username)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s}", "qom-type", "tls-creds-psk", "id", QMP_TLS_CREDS_ID,
			      "endpoint", server ? "server" : "client", "dir", dir, "priority", "NORMAL:-CHACHA20-POLY1305");

	if (!server && username)
		json_object_set_new(a, "username", json_string(username));
	return qmp_cmd("object-add", a);
}

json_t *qmp_cmd_migrate_caps(const char *const names[], const bool on[], int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:b}", "capability", names[i], "state", on[i]));
	return qmp_cmd("migrate-set-capabilities", json_pack("{s:o}", "capabilities", a));
}

json_t *qmp_cmd_migrate_params(long long downtime_ms, long long max_bandwidth_bps, int multifd_channels,
			       const char *tls_creds, long long max_postcopy_bandwidth_bps)
{
	return qmp_cmd("migrate-set-parameters",
		       json_pack("{s:I, s:I, s:i, s:s, s:s, s:I}", "downtime-limit", (json_int_t)downtime_ms,
				 "max-bandwidth", (json_int_t)max_bandwidth_bps, "multifd-channels", multifd_channels,
				 "tls-creds", tls_creds ? tls_creds : "", "tls-hostname", "",
				 "max-postcopy-bandwidth", (json_int_t)max_postcopy_bandwidth_bps));
}

json_t *qmp_cmd_nbd_server_start(const char *host, int port, const char *tls_creds)
{
	char ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	json_t *a = json_pack("{s:{s:s, s:{s:s, s:s}}}", "addr", "type", "inet", "data", "host", host, "port", ps);
	if (tls_creds)
		json_object_set_new(a, "tls-creds", json_string(tls_creds));
	return qmp_cmd("nbd-server-start", a);
}

json_t *qmp_cmd_nbd_server_add(const char *device, bool writable)
{
	return qmp_cmd("nbd-server-add", json_pack("{s:s, s:s, s:b}", "device", device, "name", device, "writable", writable));
}

json_t *qmp_cmd_blockdev_add_nbd(const char *node, const char *host, int port, const char *export,
				 const char *tls_creds)
{
	char ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	json_t *a = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s}", "driver", "nbd", "node-name", node, "server", "type",
			      "inet", "host", host, "port", ps, "export", export);
	if (tls_creds)
		json_object_set_new(a, "tls-creds", json_string(tls_creds));
	return qmp_cmd("blockdev-add", a);
}

json_t *qmp_cmd_blockdev_mirror(const char *job, const char *device, const char *target)
{
	return qmp_cmd("blockdev-mirror", json_pack("{s:s, s:s, s:s, s:s}", "job-id", job, "device", device, "target",
						    target, "sync", "full"));
}

json_t *qmp_cmd_migrate(const char *uri, bool resume)
{
	json_t *a = json_pack("{s:s}", "uri", uri);

	if (resume)
		json_object_set_new(a, "resume", json_true());
	return qmp_cmd("migrate", a);
}

json_t *qmp_cmd_migrate_incoming(const char *uri)
{
	return qmp_cmd("migrate-incoming", json_pack("{s:s}", "uri", uri));
}

/* pool_name.c: the names and locations of pools and volumes, checked
 * (pure functions: the unit tests and tests/fuzz/fuzz_pool.c use them). */
#include "ferryd/pool.h"
#include "net/stream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *type_names[POOL_N_TYPES] = { "dir", "path", "nfs", "smb", "rbd" };

const char *pool_type_name(enum pool_type t)
{
	return t < POOL_N_TYPES ? type_names[t] : "?";
}

int pool_type_parse(const char *s, enum pool_type *t)
{
	for (int i = 0; s && i < POOL_N_TYPES; i++) {
		if (!strcmp(s, type_names[i])) {
			*t = (enum pool_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool pool_type_shareable(enum pool_type t)
{
	return t != POOL_DIR;
}

bool pool_vol_name_ok(const char *vol)
{
	size_t n = vol ? strlen(vol) : 0;

	if (n == 0 || n > POOL_VOL_MAX || !((vol[0] >= 'a' && vol[0] <= 'z') || (vol[0] >= 'A' && vol[0] <= 'Z') ||
					      (vol[0] >= '0' && vol[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = vol[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return !strstr(vol, "..");
}

int pool_nfs_split(const char *url, char *host, size_t hn, char *export, size_t en, struct ferr *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (!url || strncmp(url, "nfs://", 6)) {
		ferr_set(err, "an NFS pool's location is nfs://SERVER/EXPORT (SERVER an IP address)");
		return -EINVAL;
	}
	const char *h = url + 6, *slash = strchr(h, '/');
	if (!slash || (size_t)(slash - h) >= hn || slash == h) {
		ferr_set(err, "'%s' has no server and export (nfs://SERVER/EXPORT)", url);
		return -EINVAL;
	}
	snprintf(host, hn, "%.*s", (int)(slash - h), h);
	if (sock_addr_parse(host, 0, &ss, &sl) < 0) {
		ferr_set(err, "the NFS server in '%s' must be an IP address (ferry resolves no names)", url);
		return -EINVAL;
	}
	if (strlen(slash) >= en || strstr(slash, "..") || strspn(slash, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != strlen(slash)) {
		ferr_set(err, "the NFS export in '%s' must be a plain absolute path", url);
		return -EINVAL;
	}
	snprintf(export, en, "%s", slash);
	while (strlen(export) > 1 && export[strlen(export) - 1] == '/')
		export[strlen(export) - 1] = 0;
	return 0;
}

int pool_smb_split(const char *url, char *host, size_t hn, char *share, size_t sn, struct ferr *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (!url || strncmp(url, "smb://", 6)) {
		ferr_set(err, "an SMB pool's location is smb://SERVER/SHARE (SERVER an IP address)");
		return -EINVAL;
	}
	const char *h = url + 6, *slash = strchr(h, '/');
	if (!slash || slash == h || (size_t)(slash - h) >= hn) {
		ferr_set(err, "'%s' has no server and share (smb://SERVER/SHARE)", url);
		return -EINVAL;
	}
	snprintf(host, hn, "%.*s", (int)(slash - h), h);
	if (sock_addr_parse(host, 0, &ss, &sl) < 0 || strchr(host, ':')) {
		ferr_set(err, "the SMB server in '%s' must be an IPv4 address (ferry resolves no names)", url);
		return -EINVAL;
	}
	const char *sh = slash + 1;
	size_t n = strlen(sh);
	while (n && sh[n - 1] == '/')
		n--;
	if (n == 0 || n >= sn || strspn(sh, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < n ||
	    sh[0] == '.') {
		ferr_set(err, "the SMB share in '%s' must be a plain name", url);
		return -EINVAL;
	}
	snprintf(share, sn, "%.*s", (int)n, sh);
	return 0;
}

int pool_rbd_split(const char *url, char *fsid, size_t fn, char *pool, size_t pn, struct ferr *err)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

	if (!url || strncmp(url, "rbd://", 6)) {
		ferr_set(err, "an RBD pool's location is rbd://POOL (a pool of the cluster --ceph-conf names)");
		return -EINVAL;
	}
	const char *a = url + 6, *slash = strchr(a, '/');
	const char *name = slash ? slash + 1 : a;
	size_t fl = slash ? (size_t)(slash - a) : 0, nl = strlen(name);
	if (slash && (fl != 36 || strspn(a, "0123456789abcdef-") < 36 || fl >= fn)) {
		ferr_set(err, "'%s': rbd://POOL, or rbd://FSID/POOL with the cluster's fsid", url);
		return -EINVAL;
	}
	if (nl == 0 || nl >= pn || nl > 63 || name[0] == '.' || strspn(name, name_chars) < nl) {
		ferr_set(err, "the RBD pool in '%s' must be a plain name", url);
		return -EINVAL;
	}
	snprintf(fsid, fn, "%.*s", (int)fl, a);
	snprintf(pool, pn, "%s", name);
	return 0;
}

/* fuzz_pool.c: pool locations and volume names as a request carries them
 * (pool-define's location, vol-* names): what the split functions accept
 * must be safe to turn into a path or URL. */
#include "ferryd/pool.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char s[300], host[64], rest[POOL_LOCATION_MAX];
	struct ferr err;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (pool_vol_name_ok(s) && (strchr(s, '/') || strstr(s, "..") || s[0] == '.' || strlen(s) > POOL_VOL_MAX))
		abort();
	if (pool_nfs_split(s, host, sizeof(host), rest, sizeof(rest), &err) == 0 &&
	    (rest[0] != '/' || strstr(rest, "..") || strpbrk(rest, "?&,=: ") || strpbrk(host, "/?&,")))
		abort();
	if (pool_smb_split(s, host, sizeof(host), rest, sizeof(rest), &err) == 0 &&
	    (!rest[0] || strchr(rest, '/') || rest[0] == '.' || strpbrk(rest, "?&,=: ") || strpbrk(host, "/?&,:")))
		abort();
	char fsid[40];
	if (pool_rbd_split(s, fsid, sizeof(fsid), rest, sizeof(rest), &err) == 0 &&
	    (!rest[0] || strpbrk(rest, "/?&,=:@ ") || rest[0] == '.' || (fsid[0] && strlen(fsid) != 36) ||
	     strpbrk(fsid, "/?&,=:@ ")))
		abort();
	enum pool_type t;
	if (pool_type_parse(s, &t) == 0 && strcmp(pool_type_name(t), s))
		abort();
	return 0;
}

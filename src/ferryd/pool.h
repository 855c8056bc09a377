/* pool.h: an agent's storage pools, in the spirit of libvirt's: a named
 * place where volumes (disk images) live.
 *   dir   a folder of this host (created; not shared with other hosts)
 *   path  a folder the operator mounted (a kernel NFS or CIFS mount on real
 *         hosts): shared when another host defines the same location
 *   nfs   nfs://SERVER/EXPORT, opened by QEMU's own NFS client (libnfs,
 *         NFSv3): nothing mounted; ferry speaks as uid/gid (root squash)
 *   smb   smb://SERVER/SHARE with a credentials file (mode 0600): QEMU has
 *         no SMB client, so the agent keeps a FUSE mount (smbnetfs) of the
 *         share in STATE/mnt/NAME while the pool is defined
 *   rbd   rbd://POOL of a Ceph cluster named by a ceph.conf (its keyring
 *         named in it) and a cephx user: volumes are RBD images, made and
 *         read through librbd; QEMU opens them with its rbd driver. Kept as
 *         rbd://FSID/POOL: the same location on two hosts means the same
 *         cluster, so a move between them copies no disk
 * Definitions live in STATE/pools/NAME.pool (the config syntax). Local
 * locations must be inside the agent's vm_dirs, like every file a VM uses:
 * a pool never opens the rest of the host to a key holder. */
#ifndef FERRYD_POOL_H
#define FERRYD_POOL_H

#include <jansson.h>
#include <stdbool.h>
#include "util/util.h"

struct agent;

enum pool_type { POOL_DIR, POOL_PATH, POOL_NFS, POOL_SMB, POOL_RBD, POOL_N_TYPES };

#define POOL_LOCATION_MAX 256
#define POOL_VOL_MAX 64
#define POOL_MAX 64              /* pools per agent */

struct pool {
	char name[33];
	enum pool_type type;
	char location[POOL_LOCATION_MAX];  /* dir, path: a resolved folder; nfs: nfs://IP/EXPORT */
	int uid, gid;                      /* nfs: who ferry is on the server (-1: root, squashed) */
	char credentials[POOL_LOCATION_MAX]; /* smb: username=, password= (a file, 0600) */
	char folder[POOL_LOCATION_MAX + 96]; /* dir, path: location; smb: the share in its mount */
	pid_t mounter;                     /* smb: the smbnetfs process keeping the mount; 0: none */
	char ceph_conf[POOL_LOCATION_MAX]; /* rbd: the cluster's ceph.conf (root's, not writable by others) */
	char ceph_user[33];                /* rbd: the cephx user, without "client." */
	struct pool *next;
};

const char *pool_type_name(enum pool_type t);
int pool_type_parse(const char *s, enum pool_type *t);
/* Can the pool be seen from other hosts (same location, same images)? */
bool pool_type_shareable(enum pool_type t);
/* A volume name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, no "..". */
bool pool_vol_name_ok(const char *vol);
/* nfs://IP/EXPORT, split (host: an IP literal, export: an absolute path of
 * [A-Za-z0-9._/-] without ".."). */
int pool_nfs_split(const char *url, char *host, size_t hn, char *export, size_t en, struct ferr *err);
/* smb://IP/SHARE, split (share: [A-Za-z0-9._-]+). */
int pool_smb_split(const char *url, char *host, size_t hn, char *share, size_t sn, struct ferr *err);

/* rbd://POOL or rbd://FSID/POOL, split (pool: [A-Za-z0-9._-]+, fsid: a
 * UUID or "" when not given). */
int pool_rbd_split(const char *url, char *fsid, size_t fn, char *pool, size_t pn, struct ferr *err);

/* Checks a definition and normalizes its location (local folders resolved,
 * inside vm_dirs; dir folders are created). 0 or -errno with err. */
int pool_check(const struct agent *ag, struct pool *p, struct ferr *err);
int pool_save(const struct agent *ag, const struct pool *p, struct ferr *err);
int pool_remove(const struct agent *ag, const char *name);
/* smb: (re)starts the FUSE mount of the share (its files into
 * STATE/smbnetfs/NAME, mode 0700); the share appears at p->folder once
 * smbnetfs has logged in (pool_io's jobs wait for it). 0 or -errno. */
int pool_smb_mount(struct agent *ag, struct pool *p, struct ferr *err);
/* Ends the mount (the process, then fusermount -u). */
void pool_smb_unmount(struct agent *ag, struct pool *p);
/* Reads STATE/pools/ (a broken file is logged and skipped). */
void pool_load_all(struct agent *ag);
void pool_free_all(struct agent *ag);
struct pool *pool_find(const struct agent *ag, const char *name);

/* Where volume vol of p is: a path, an nfs:// URL for QEMU's and
 * qemu-img's NFS client (uid and gid given), or for rbd
 * rbd://FSID/POOL/VOL?user=USER&conf=PATH (qemu.c makes QEMU's options). */
void pool_vol_target(const struct pool *p, const char *vol, char *out, size_t n);
/* The pool's description for pool list/info and the migration's check. */
json_t *pool_json(const struct pool *p);

struct vm_config;
/* Finds where c's pool disks are (those not resolved yet): target, and
 * shared when the pool can be seen from other hosts and, with src_pools
 * (the source host's {name: location}), is at the same location there.
 * -ENOENT/-EINVAL with err = "config:line: why". */
int pool_resolve_disks(const struct agent *ag, struct vm_config *c, json_t *src_pools, struct ferr *err);
/* {name: location} of the pools c's disks are on (for the destination);
 * NULL when it has none (the request then goes as an older agent knows it). */
json_t *pool_locations(const struct agent *ag, const struct vm_config *c);

/* The ops (server_ops.c's table). */
struct request;
struct vm;
void pool_op_define(struct request *r, json_t *args, struct vm *unused);
void pool_op_list(struct request *r, json_t *args, struct vm *unused);
void pool_op_info(struct request *r, json_t *args, struct vm *unused);
void pool_op_undefine(struct request *r, json_t *args, struct vm *unused);
void pool_op_vol_create(struct request *r, json_t *args, struct vm *unused);
void pool_op_vol_list(struct request *r, json_t *args, struct vm *unused);
void pool_op_vol_delete(struct request *r, json_t *args, struct vm *unused);
void pool_op_vol_import(struct request *r, json_t *args, struct vm *unused);
void pool_op_vol_export(struct request *r, json_t *args, struct vm *unused);

#endif

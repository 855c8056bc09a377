/* lab_storage.h: the lab's storage host (namespace ferry-storage, 10.78.0.3):
 * an NFS server and an SMB server, each exporting one folder (docs/lab.md). */
#ifndef FERRY_LAB_STORAGE_H
#define FERRY_LAB_STORAGE_H

#include <jansson.h>
#include <stdbool.h>

/* Their data lives on disk, not in /run (a tmpfs on real hosts): exported
 * images can be larger than RAM. lab down removes it. */
#define LAB_STORE_DIR "/var/lib/ferry-lab"
#define LAB_STORAGE_IP "10.78.0.3"
/* The exported folders on the storage host's disk. */
#define LAB_NFS_DATA LAB_STORE_DIR "/storage/nfs"
#define LAB_SMB_DATA LAB_STORE_DIR "/storage/smb"
/* The identity that owns the NFS export and its images (root is squashed to
 * nobody there, as on a real server): ferry's NFS pools speak as it. */
#define LAB_NFS_UID 7077
#define LAB_NFS_EXPORT "/export"
#define LAB_SMB_SHARE "vm"
#define LAB_SMB_USER "ferry"
/* The credentials file of the SMB share (username=, password=; mode 0600). */
#define LAB_SMB_CREDENTIALS "/run/ferry-lab/smb-credentials"

/* Starts the servers that do not run yet (idempotent). 0, or -1 after
 * saying why on stderr. */
int lab_storage_up(void);
/* Their pids and exports, for lab status. */
json_t *lab_storage_status(void);
/* Ends both servers (their process groups). */
void lab_storage_stop(void);
/* One of them, "nfs" or "smb", ended (run false) or started if it does not
 * run (the fault bench). 0, or -1 after saying why. */
int lab_storage_server(const char *which, bool run);
/* After every process of the lab ended: their data and state go. */
void lab_storage_remove(void);

#endif

/* vmcfg.h: a VM's configuration (xl-style file, see docs/config.md). */
#ifndef FERRY_VMCFG_H
#define FERRY_VMCFG_H

#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

#define VM_NAME_MAX 32
#define VM_MAX_DISKS 8
#define VM_MAX_VIFS 4

enum vm_accel { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

struct vm_disk {
	char *target;     /* absolute path (or URL for network storage); for a
			   * pool volume, set by the agent from its pool */
	char pool[33];    /* a pool volume: the pool's name ("": a path) */
	char vol[65];     /* and the volume's */
	char *format;     /* "raw" | "qcow2" */
	char vdev[8];     /* vda.. / xvda.. / sda.. / hda.. */
	bool readonly;
	bool shared;      /* on storage that every host sees at the same path */
	char cache[16];   /* "": ferry's choice (none on shared storage, else
			   * writeback); none | directsync | writethrough |
			   * writeback | unsafe, as xl and libvirt spell them */
	int line;         /* of the config text it came from; 0: not known */
};

struct vm_vif {
	uint8_t mac[6];
	char bridge[16];
	char model[24];   /* QEMU device: virtio-net-pci, e1000, rtl8139 */
};

struct vm_config {
	char name[VM_NAME_MAX + 1];
	int memory_mb;
	int vcpus;
	enum vm_accel accel;
	char cpu[32];                   /* CPU model (-cpu); "": QEMU's default, qemu64 */
	char *kernel, *ramdisk, *extra; /* kernel NULL: boot the first disk (BIOS) */
	int kernel_line, ramdisk_line;  /* of the config text; 0: not known */
	char *source;                   /* the config's name in messages ("web1.cfg") */
	struct vm_disk disks[VM_MAX_DISKS];
	int n_disks;
	struct vm_vif vifs[VM_MAX_VIFS];
	int n_vifs;
};

/* Parses and validates a VM config. Relative paths are resolved against
 * base_dir (the config file's folder; NULL: the working directory). On error
 * returns -EINVAL with err = "path:line: reason"; *out written on success. */
int vmcfg_parse(const char *text, size_t len, const char *path, const char *base_dir,
		struct vm_config **out, struct ferr *err);
int vmcfg_load(const char *path, struct vm_config **out, struct ferr *err);
void vmcfg_free(struct vm_config *c);

/* Canonical text of c (absolute paths, every default spelled out); parses
 * back to the same config. Caller frees. */
char *vmcfg_format(const struct vm_config *c);

const char *vm_accel_name(enum vm_accel a);
/* A CPU model's name as QEMU spells them: [A-Za-z0-9][A-Za-z0-9_.-]{0,30}. */
bool vm_cpu_model_valid(const char *s);
/* The model a guest of c runs with: its cpu, else QEMU's default. */
const char *vm_cpu_model(const struct vm_config *c);
void vm_mac_format(const uint8_t mac[6], char out[18]);

#endif

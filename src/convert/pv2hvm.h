/* pv2hvm.h: a Xen PV guest's disk (one bare ext2/3/4 file system) into a
 * disk a PC BIOS boots (docs/convert.md): an MBR with one partition, the
 * file system copied in and grown to fill it, fstab and the kernel command
 * line on UUID= and ttyS0, GRUB for BIOS boot, the drivers checked; raw,
 * qcow2, VMDK or VHD. Nothing is mounted, no loop device; the input is
 * never written; the output appears only when whole. */
#ifndef FERRY_PV2HVM_H
#define FERRY_PV2HVM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

struct pv2hvm_opts {
	const char *in, *out;
	uint64_t size;         /* the output disk's size; 0: the input's + 1 MiB */
	const char *format;    /* raw (default), qcow2, vmdk, vhd */
	void (*progress)(const char *step, void *opaque);
	void *opaque;
};

/* Converts; 0 with *report ({"kernel", "initrd", "uuid", "size", "format",
 * "drivers": {name: bool}, "guest": {"os", "network", "ssh_server",
 * "ena_module", "kernel_version", "file_system", "other_disks"},
 * "warnings": [...], "seconds"}), or -errno with
 * err saying why (nothing left behind). */
int pv2hvm_convert(const struct pv2hvm_opts *o, json_t **report, struct ferr *err);

#endif

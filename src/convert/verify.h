/* verify.h: boot a converted disk as an HVM guest under QEMU from the disk
 * alone (SeaBIOS, its boot loader, its kernel: no -kernel), and wait for
 * its web page. The guest runs on a copy-on-write overlay (the disk is
 * never written), in a private network namespace made for it, behind
 * QEMU's user-mode network with restrict=on: it reaches nothing, and only
 * the forwarded port 80 reaches it. Needs root (the namespace). The calling
 * process stays in that namespace afterwards: call it last. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <jansson.h>
#include "convert/guestnet.h"
#include "util/util.h"

struct verify_opts {
	const char *disk;
	const char *format;        /* raw, qcow2, vmdk, vhd */
	const char *bus;           /* virtio (default) or ahci */
	struct guestnet net;       /* how the guest gets its address */
	int timeout_s;             /* to the page; default 300 */
	int mem_mb;                /* default 512 */
	void (*progress)(const char *step, void *opaque);
	void *opaque;
};

/* 0 with *report {"accel", "bus", "address", "console_s", "page_s",
 * "http_status", "page_bytes"}; -errno with err saying why (and *report,
 * when the guest ran, with "console_tail": its last console lines). */
int convert_verify(const struct verify_opts *o, json_t **report, struct ferr *err);

#endif

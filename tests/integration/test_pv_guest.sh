#!/bin/bash
# test_pv_guest.sh: the lab's Xen-style PV guest (make pv-guest) is stored as
# Xen PV guests are (one ext4 file system, no partition table, a 6500 MB
# sparse image, fstab on /dev/xvda, console hvc0, an xl config beside it),
# and ferry runs it PV-style (its kernel and initrd given from outside, root
# on the bare file system): it serves its page.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap '$FERRY lab down >/dev/null 2>&1' EXIT
P=build/pv-guest

check "the image is a bare ext4 file system (no partition table)" sh -c "blkid -p -o value -s TYPE $P/pv1.img | grep -qx ext4 && ! blkid -p -o value -s PTTYPE $P/pv1.img | grep -q ."
check "6500 MB, sparse" sh -c "[ \$(stat -c %s $P/pv1.img) = $((6500 << 20)) ] && [ \$(du -m $P/pv1.img | cut -f1) -lt 2000 ]"
check "its fstab names /dev/xvda" sh -c "debugfs -R 'cat /etc/fstab' $P/pv1.img 2>/dev/null | grep -q '^/dev/xvda / ext4'"
check "it carries its own kernel and initramfs in /boot" sh -c "debugfs -R 'ls /boot' $P/pv1.img 2>/dev/null | grep -q vmlinuz- && debugfs -R 'ls /boot' $P/pv1.img 2>/dev/null | grep -q initrd.img-"
check "the xl config a Xen host would run (PV: kernel, root on xvda, console hvc0)" sh -c \
	"grep -q 'root = \"/dev/xvda ro\"' $P/pv1.xl.cfg && grep -q 'console=hvc0' $P/pv1.xl.cfg && grep -q \"file:.*pv1.img,xvda,w\" $P/pv1.xl.cfg"
check "import-xl reads its xl config, and says the Xen devices do not exist here" sh -c \
	"$FERRY import-xl $P/pv1.xl.cfg 2>&1 >/dev/null | grep -q 'hvc0, xvd' && $FERRY import-xl $P/pv1.xl.cfg 2>/dev/null | grep -q 'vdev=xvda'"
$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
t0=$(date +%s%N)
check "ferry runs it PV-style" $FERRY -H a create $P/pv1.cfg
check "it serves its page" wait_http 10.77.0.5 240
t1=$(date +%s%N)
note "figure: PV-style boot to the page: $(( (t1 - t0) / 1000000 )) ms (TCG)"
check "the page is the PV guest's" sh -c "$FERRY lab exec client curl -s -m 2 http://10.77.0.5/ | grep -qx 'ferry pv guest'"
check "pv1 goes" $FERRY -H a destroy pv1
finish

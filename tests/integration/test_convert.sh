#!/bin/bash
# test_convert.sh: ferry convert pv2hvm on the lab's PV guest (make
# pv-guest): the result is an MBR disk with GRUB, its root on UUID= and its
# console on ttyS0, the input untouched; it boots as an HVM guest from its
# disk alone (SeaBIOS, GRUB, its own kernel) and serves its page; the qcow2,
# VMDK and VHD outputs hold the same disk (qemu-img compare). Bad input: a
# clear error and nothing left behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
D=/var/lib/ferry-lab/convert
trap 'umount $D/ro 2>/dev/null; $FERRY lab down >/dev/null 2>&1; rm -rf $D' EXIT
P=build/pv-guest
$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
mkdir -p $D
in_sum() { head -c 64M $P/pv1.img | md5sum; }
before=$(in_sum); mtime=$(stat -c %Y $P/pv1.img)

t0=$(date +%s%N)
check "convert pv2hvm (raw, 7000 MB: the file system grows)" sh -c "$FERRY --json convert pv2hvm $P/pv1.img $D/hvm.img --size 7000M > $D/rep.json"
t1=$(date +%s%N)
note "figure: conversion to raw: $(( (t1 - t0) / 1000000 )) ms, $(du -m $D/hvm.img | cut -f1) MB used of $(( $(stat -c %s $D/hvm.img) >> 20 )) MB"
check "the report names the kernel and finds the disk drivers in its initramfs" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["kernel"].startswith("/boot/vmlinuz-") and r["initrd"].startswith("/boot/initrd.img-"), r
assert r["drivers"]["virtio_blk"] and r["drivers"]["ahci"] and r["drivers"]["xen-blkfront"], r' $D/rep.json
check "an MBR with one active Linux partition at 1 MiB, GRUB's boot code before it" python3 -c '
import struct, sys
m = open(sys.argv[1], "rb").read(1 << 20)
assert m[510:512] == b"\x55\xaa"
st, typ, lba, n = m[446], m[450], struct.unpack("<I", m[454:458])[0], struct.unpack("<I", m[458:462])[0]
assert st == 0x80 and typ == 0x83 and lba == 2048 and n > 0, (st, typ, lba, n)
assert b"GRUB" in m[:512] and m[512:1024] != bytes(512)' $D/hvm.img
uuid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uuid"])' $D/rep.json)
check "inside: fstab's root on UUID=, the old /dev/xvda gone" sh -c \
	"debugfs -R 'cat /etc/fstab' '$D/hvm.img?offset=1048576' 2>/dev/null | grep -q '^UUID=$uuid / ext4' && ! debugfs -R 'cat /etc/fstab' '$D/hvm.img?offset=1048576' 2>/dev/null | grep -q '^/dev/xvda'"
check "inside: grub.cfg boots the kernel with root=UUID= and console=ttyS0" sh -c \
	"debugfs -R 'cat /boot/grub/grub.cfg' '$D/hvm.img?offset=1048576' 2>/dev/null | grep -q 'root=UUID=$uuid ro console=tty0 console=ttyS0'"
blocks=$(dumpe2fs -h "$D/hvm.img?offset=1048576" 2>/dev/null | awk -F: '/^Block count/ {print $2 + 0}')
fsbytes=$(( ${blocks:-0} * 4096 ))
check "the file system grew to fill the partition ($fsbytes bytes)" test "${fsbytes:-0}" -ge $(( (7000 << 20) - (1 << 20) - 4096 ))
check "e2fsck finds it clean" e2fsck -fn "$D/hvm.img?offset=1048576"
check "the same input gives the same disk (a second conversion, byte for byte)" sh -c \
	"$FERRY convert pv2hvm $P/pv1.img $D/again.img --size 7000M >/dev/null && cmp -s $D/hvm.img $D/again.img && rm -f $D/again.img"
check "the input is untouched" sh -c "[ '$(in_sum)' = '$before' ] && [ \$(stat -c %Y $P/pv1.img) = $mtime ] && debugfs -R 'cat /etc/fstab' $P/pv1.img 2>/dev/null | grep -q '^/dev/xvda'"

# The other formats, from the same conversion (before the guest writes to
# the raw disk by booting it).
for f in qcow2 vmdk vhd; do
	t0=$(date +%s%N)
	check "convert pv2hvm --format $f" $FERRY convert pv2hvm $P/pv1.img $D/hvm.$f --format $f --size 7000M
	t1=$(date +%s%N)
	note "figure: conversion to $f: $(( (t1 - t0) / 1000000 )) ms, $(du -m $D/hvm.$f | cut -f1) MB"
	fmt=$f; [ $f = vhd ] && fmt=vpc
	check "the $f disk holds the same as the raw one (qemu-img compare)" qemu-img compare -q -f raw -F $fmt $D/hvm.img $D/hvm.$f
	rm -f $D/hvm.$f
done

printf 'name = "hvm1"\nmemory = 512\nvcpus = 1\ndisk = [ "target=%s/hvm.img,format=raw,vdev=vda,access=w" ]\nvif = [ "mac=52:54:00:77:00:05,bridge=br-vm" ]\n' $D > $D/hvm1.cfg
t0=$(date +%s%N)
check "the converted disk boots as an HVM guest (no kernel given: SeaBIOS, GRUB)" $FERRY -H a create $D/hvm1.cfg
check "and serves the PV guest's page" wait_http 10.77.0.5 300
t1=$(date +%s%N)
note "figure: converted HVM boot to the page: $(( (t1 - t0) / 1000000 )) ms (TCG)"
check "the page is the PV guest's" sh -c "$FERRY lab exec client curl -s -m 2 http://10.77.0.5/ | grep -qx 'ferry pv guest'"
check "its console is ttyS0 now (its serial log has the login prompt)" sh -c "grep -aq 'ttyS0' /run/ferry-lab/a/vms/hvm1/serial.log"
check "hvm1 goes" $FERRY -H a destroy hvm1


# Bad input: a clear error, nothing left behind.
head -c 16M /dev/urandom > $D/junk.img
check_fails "a file that is not a file system" "not an ext2/3/4 file system" $FERRY convert pv2hvm $D/junk.img $D/out1.img
mkdir -p $D/empty/boot; truncate -s 64M $D/nokernel.img; mkfs.ext4 -q -F -d $D/empty $D/nokernel.img
check_fails "a file system without a kernel" "holds no kernel" $FERRY convert pv2hvm $D/nokernel.img $D/out2.img
check_fails "an output equal to the input" "exists \(it is the input\)" $FERRY convert pv2hvm $P/pv1.img $P/pv1.img
check_fails "a size smaller than the data" "smaller than the data" $FERRY convert pv2hvm $P/pv1.img $D/out3.img --size 300M
mkdir -p $D/ro && mount -t tmpfs -o ro,size=1m ferry-test $D/ro
check_fails "an output folder it cannot write (read-only)" "cannot write in $D/ro" $FERRY convert pv2hvm $P/pv1.img $D/ro/out4.img
umount $D/ro
check "nothing left behind by the failures" sh -c "! ls $D | grep -E '^out|\.part'"
check "the input is still untouched" sh -c "[ '$(in_sum)' = '$before' ]"
finish

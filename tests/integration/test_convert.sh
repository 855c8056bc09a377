#!/bin/bash
# test_convert.sh: ferry convert pv2hvm on the lab's PV guest (make
# pv-guest): the result is an MBR disk with GRUB, its root on UUID= and its
# console on ttyS0, the input untouched; --verify boots it as an HVM guest
# from its disk alone (SeaBIOS, GRUB, its own kernel) and gets its page
# without writing the disk; the qcow2, VMDK and VHD outputs hold the same
# disk (qemu-img compare); --cloud aws judges VM Import's requirements and
# writes the import's files. Bad input: a clear error and nothing left
# behind. No lab: the verification makes its own network namespace.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
D=/var/lib/ferry-lab/convert
trap 'umount $D/ro 2>/dev/null; rm -rf $D' EXIT
P=build/pv-guest
verify_dirs() { ls -d /tmp/ferry-verify-* 2>/dev/null | sort; }
dirs_before=$(verify_dirs)
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

# The other formats, from the same conversion; the VMDK one for Amazon,
# verified by booting it.
for f in qcow2 vhd; do
	t0=$(date +%s%N)
	check "convert pv2hvm --format $f" $FERRY convert pv2hvm $P/pv1.img $D/hvm.$f --format $f --size 7000M
	t1=$(date +%s%N)
	note "figure: conversion to $f: $(( (t1 - t0) / 1000000 )) ms, $(du -m $D/hvm.$f | cut -f1) MB"
	fmt=$f; [ $f = vhd ] && fmt=vpc
	check "the $f disk holds the same as the raw one (qemu-img compare)" qemu-img compare -q -f raw -F $fmt $D/hvm.img $D/hvm.$f
	rm -f $D/hvm.$f
done
check "convert pv2hvm --format vmdk --cloud aws --s3 ... --verify" sh -c \
	"$FERRY --json convert pv2hvm $P/pv1.img $D/hvm.vmdk --format vmdk --size 7000M --cloud aws --s3 s3://ferry-test/imports --verify > $D/vrep.json"
note "figure: $(python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["verify"]; print("converted HVM (VMDK) boot from its disk alone: console after %.1f s, page after %.1f s (%s, %s)" % (v["console_s"], v["page_s"], v["accel"], v["bus"]))' $D/vrep.json 2>/dev/null), $(du -m $D/hvm.vmdk | cut -f1) MB"
check "--verify: it booted from its disk alone and served its page at the guest's own address" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["verify"]
assert v["ok"] and v["http_status"] == 200 and v["page_bytes"] > 0, v
assert v["address"] == "10.77.0.5" and v["bus"] == "virtio", v   # read from the networkd file in the image
assert 0 < v["console_s"] < v["page_s"], v                         # the kernel wrote on ttyS0 first' $D/vrep.json
check "--verify wrote nothing on the disk (the VMDK still equals the raw one)" qemu-img compare -q -f raw -F vmdk $D/hvm.img $D/hvm.vmdk
check "--verify left no folder, no QEMU, no namespace behind" sh -c \
	"[ \"\$(ls -d /tmp/ferry-verify-* 2>/dev/null | sort)\" = '$dirs_before' ] && ! pgrep -f '[q]emu-system-x86_64.*ferry-verif[y]' >/dev/null"
check "--cloud aws: each VM Import requirement judged from the image's facts" python3 -c '
import json, sys
c = {x["requirement"]: x for x in json.load(open(sys.argv[1]))["aws"]["checks"]}
st = lambda k: c[k]["status"]
assert st("image format") == "ok" and st("boot") == "ok" and st("size") == "ok", c
assert st("NVMe driver") == "ok" and st("ENA network driver") == "ok", c
assert st("network") == "warning" and "10.77.0.5/24" in c["network"]["detail"], c   # static: a VPC gives DHCP
assert st("kernel") == "warning" and "Debian 12" in c["kernel"]["detail"], c         # not on the list
assert st("a way in") == "warning", c                                                # no sshd in the test guest
assert [k for k in c if c[k]["status"] == "cloud"], c' $D/vrep.json
check "--cloud aws: containers.json names the bucket and key, import.sh is a valid script" sh -c "
python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))[0]; assert c[\"Format\"]==\"vmdk\" and c[\"UserBucket\"]=={\"S3Bucket\":\"ferry-test\",\"S3Key\":\"imports/hvm.vmdk\"}, c' $D/hvm.vmdk.aws/containers.json &&
sh -n $D/hvm.vmdk.aws/import.sh && grep -q \"^aws s3 cp '\$(realpath $D/hvm.vmdk)' 's3://ferry-test/imports/hvm.vmdk'\" $D/hvm.vmdk.aws/import.sh &&
grep -q 'aws ec2 import-image .*--boot-mode legacy-bios' $D/hvm.vmdk.aws/import.sh && grep -q 'describe-import-image-tasks' $D/hvm.vmdk.aws/import.sh"
check_fails "--cloud aws refuses qcow2 before converting" "VM Import does not take qcow2" $FERRY convert pv2hvm $P/pv1.img $D/out5.qcow2 --format qcow2 --cloud aws
check_fails "--s3 with a bucket name S3 refuses" "not an S3 bucket name" $FERRY convert pv2hvm $P/pv1.img $D/out6.vmdk --format vmdk --cloud aws --s3 's3://Bad_Bucket/x'
check_fails "the import's folder exists: refused before converting" "exists" $FERRY convert pv2hvm $P/pv1.img $D/hvm.vmdk --format vmdk --cloud aws
rm -f $D/hvm.vmdk
check_fails "--verify that times out: a clear error" "no page from 10.77.0.5:80 within 3 s" $FERRY convert pv2hvm $P/pv1.img $D/short.img --size 7000M --verify --verify-timeout 3
check "after a failed verification: the disk kept, no folder, no QEMU left" sh -c \
	"[ -s $D/short.img ] && [ \"\$(ls -d /tmp/ferry-verify-* 2>/dev/null | sort)\" = '$dirs_before' ] && ! pgrep -f '[q]emu-system-x86_64.*ferry-verif[y]' >/dev/null && rm -f $D/short.img"

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

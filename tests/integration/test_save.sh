#!/bin/bash
# test_save.sh: ferry save / restore (xl save / restore): the guest's whole
# state into a file and back, on the same host and on the other, running or
# --paused, with --keep-running, --with-disks (the disk packed beside it runs
# the guest on the other host); a damaged file or packed disk, and a file
# another QEMU or machine type wrote, are refused with nothing left behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
D=/var/lib/ferry-lab   # a folder of vm_dirs itself

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
mkdir -p $D
check "create web1 on a" $FERRY -H a create build/guest/web1.cfg
check "web1 serves" wait_http 10.77.0.2 90
boot=$(bootid)
guest a 'echo kept-in-memory-$$ > /tmp/marker; cat /tmp/marker' > "$tmp/marker"
check "the guest holds a marker in memory (tmpfs)" grep -q kept-in-memory "$tmp/marker"

check "save web1 on a" sh -c "$FERRY -H a --json save web1 $D/web1.state > $tmp/save.json"
check "the record names the QEMU and machine type" python3 -c "
import json,sys; r=json.load(open('$tmp/save.json'))
sys.exit(not (r['qemu'].startswith('7.') and r['machine'].startswith('pc') and r['bytes'] > 1e6 and not r['kept_running']))"
note "figure: save of web1 (256 MiB guest): $(python3 -c "import json; r=json.load(open('$tmp/save.json')); print('%.1f MB in %.2f s' % (r['bytes']/1e6, r['seconds']))")"
check "web1 is off on a when the save answers (no wait)" sh -c "! $FERRY -H a list | grep -q web1"
check "the file starts with the header" sh -c "head -c 14 $D/web1.state | grep -q FERRY-STATE"
check "nothing half-made is left beside it" test ! -e $D/web1.state.part

check "restore it on a" sh -c "$FERRY -H a restore $D/web1.state > $tmp/restore.out"
check "web1 serves again" wait_http 10.77.0.2 30
check "same boot id (the same running guest)" test "$(bootid)" = "$boot"
check "its memory came back" sh -c "$(declare -f guest); FERRY=$FERRY guest a 'cat /tmp/marker' | grep -q kept-in-memory"
check_fails "restoring it again while it runs is refused" "already exists on host a" $FERRY -H a restore $D/web1.state
check_fails "saving over an existing file is refused" "exists already" $FERRY -H a save web1 $D/web1.state

check "save --keep-running (xl save -c)" $FERRY -H a save web1 $D/web1-2.state --keep-running
check "web1 keeps running on a" sh -c "$FERRY -H a list | grep -qE '^web1 +[a-z]+ +running' && [ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ]"
check_fails "saving outside vm_dirs is refused" "in a folder VM files may come from" $FERRY -H a save web1 /etc/web1.state
check "and web1 still runs" sh -c "$FERRY -H a list | grep -qE '^web1 +[a-z]+ +running'"
check "destroy web1 on a" $FERRY -H a destroy web1

# Damaged, foreign, and not a state file at all: refused, nothing started.
cp $D/web1-2.state $D/bad.state
printf 'X' | dd of=$D/bad.state bs=1 seek=$(( $(stat -c %s $D/bad.state) / 2 )) conv=notrunc status=none
check_fails "a damaged state file is refused" "damaged: its checksum does not match" $FERRY -H b restore $D/bad.state
check "and nothing started on b" sh -c "! $FERRY -H b list | grep -q web1"
rewrite() {   # rewrite SRC DST KEY VALUE: the header's KEY set to VALUE
	python3 - "$@" <<'PY'
import json, struct, sys
src, dst, key, val = sys.argv[1:]
b = open(src, 'rb').read()
n = struct.unpack('<I', b[14:18])[0]
h = json.loads(b[18:18 + n]); h[key] = val
j = json.dumps(h, sort_keys=True, separators=(',', ':')).encode()
open(dst, 'wb').write(b[:14] + struct.pack('<I', len(j)) + j + b[18 + n:])
PY
}
rewrite $D/web1-2.state $D/machine.state machine pc-i440fx-99.0
check_fails "a state of another machine type is refused" "machine type pc-i440fx-99.0.*refused" $FERRY -H b restore $D/machine.state
rewrite $D/web1-2.state $D/newer.state qemu 99.1.0
check_fails "a state written by a newer QEMU is refused" "QEMU 99.1.0.*older.*refused" $FERRY -H b restore $D/newer.state
for i in $(seq 50); do $FERRY -H b list 2>/dev/null | grep -q web1 || break; sleep 0.1; done
check "nothing is left on b after the refusals" sh -c "! $FERRY -H b list | grep -q web1"
check_fails "a file that is not a state file is refused" "not a ferry state file" $FERRY -H b restore $PWD/build/guest/web1.cfg
check_fails "a state file outside vm_dirs is refused" "outside the folders VM files may come from" $FERRY -H b restore /etc/passwd

# Across hosts, paused.
check "restore the kept-running save on b, --paused" $FERRY -H b restore $D/web1-2.state --paused
check "web1 is paused on b" sh -c "$FERRY -H b list | grep -qE '^web1 +[a-z]+ +paused'"
check "unpause it" $FERRY -H b unpause web1
check "web1 serves from b, same boot id" sh -c "$(declare -f wait_http); FERRY=$FERRY wait_http 10.77.0.2 30 >/dev/null && [ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ]"
check "destroy web1 on b" $FERRY -H b destroy web1

# --with-disks: a guest whose disk is a's own; the disk goes beside the state,
# and a restore on b runs on a copy of it there (a's file is gone by then).
ldisk=/var/lib/ferry-lab/a/pool/web1-local.img
cp build/guest/web1-data.img $ldisk
sed -e "s|target=web1-data.img,format=raw,vdev=vda,access=w,shared=yes|target=$ldisk,format=raw,vdev=vda,access=w|" \
    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$tmp/web1-local.cfg"
check "create web1 with a local disk on a" $FERRY -H a create "$tmp/web1-local.cfg"
check "web1 serves" wait_http 10.77.0.2 90
lboot=$(bootid)
guest a 'dd if=/dev/urandom of=/www/saved bs=1M count=2 2>/dev/null; sync; md5sum /www/saved > /tmp/saved.sum' >/dev/null
for i in $(seq 20); do lsum=$(guest a 'cat /tmp/saved.sum 2>/dev/null' | cut -d' ' -f1); [ -n "$lsum" ] && break; done
check "the guest wrote a file to its disk" test -n "$lsum"
check "save --with-disks" sh -c "$FERRY -H a save web1 $D/local.state --with-disks > $tmp/wd.out"
check "the disk is packed beside the state" sh -c "[ -s $D/local.state.disk-vda ] && head -c 13 $D/local.state.disk-vda | grep -q FERRY-DISK && grep -q 'and its disk in' $tmp/wd.out"
rm -f $ldisk
check "restore it on b (a's disk file is gone)" $FERRY -H b restore $D/local.state
check "web1 serves from b, same boot id" sh -c "$(declare -f wait_http); FERRY=$FERRY wait_http 10.77.0.2 30 >/dev/null && [ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$lboot' ]"
check "it runs on b's copy of the disk" sh -c "$FERRY -H b --json status web1 | grep -q '/run/ferry-lab/b/disks/web1-vda.raw'"
guest b 'sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /www/saved' > "$tmp/lsums"
check "the file reads back identical from that disk" grep -q "^$lsum  /www/saved" "$tmp/lsums"
check_fails "restoring it again on b is refused (its disk's place is taken)" "already exists on host b|exists already" $FERRY -H b restore $D/local.state
cp $D/local.state.disk-vda $D/damaged.pack
$FERRY -H b destroy web1 >/dev/null
rm -f /run/ferry-lab/b/disks/web1-vda.raw
printf 'X' | dd of=$D/local.state.disk-vda bs=1 seek=$(( $(stat -c %s $D/local.state.disk-vda) / 2 )) conv=notrunc status=none
check_fails "a damaged packed disk is refused" "damaged" $FERRY -H b restore $D/local.state
check "and nothing is left on b (no VM, no disk)" sh -c "! $FERRY -H b list | grep -q web1 && [ ! -e /run/ferry-lab/b/disks/web1-vda.raw ] && [ ! -e /run/ferry-lab/b/disks/web1-vda.raw.part ]"
check "lab down" $FERRY lab down
finish

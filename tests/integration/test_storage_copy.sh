#!/bin/bash
# test_storage_copy.sh: --copy-storage mirrors a local disk while the guest
# writes; the destination's disk holds everything. The migration stream is
# not plaintext (a planted memory pattern never shows on the wire), unless
# --insecure is asked for.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

$FERRY lab down >/dev/null 2>&1
cp build/guest/web1-data.img "$tmp/local.img"
sed -e "s|target=web1-data.img,format=raw,vdev=vda,access=w,shared=yes|target=$tmp/local.img,format=raw,vdev=vda,access=w|" \
    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$tmp/web1.cfg"
check "lab up (--allow-insecure: this test moves a guest --insecure too)" $FERRY lab up --allow-insecure
check "create web1 with a local disk on a" $FERRY -H a create "$tmp/web1.cfg"
check "web1 serves" wait_http 10.77.0.2 90
boot=$(bootid)
check_fails "a local disk without --copy-storage is refused" "not on shared storage.*use --copy-storage" $FERRY -H a migrate web1 b
# A --copy-storage move that fails (1 MB/s, 3 s to complete): the guest
# stays on a, and b keeps nothing: no VM, no NBD export, no listener.
check_fails "a --copy-storage move that cannot complete in time fails" "did not complete within 3 s" \
	$FERRY -H a migrate web1 b --copy-storage --bandwidth 1 --timeout 3
check "after the failed move: web1 runs on a" sh -c "$FERRY -H a list | grep -qE '^web1 +[a-z]+ +running'"
for i in $(seq 50); do $FERRY -H b list 2>/dev/null | grep -q web1 || break; sleep 0.1; done
check "after the failed move: no web1 on b" sh -c "! $FERRY -H b list | grep -q web1"
check "after the failed move: no QEMU listens on b (no NBD export left)" sh -c "! ip netns exec ferry-b ss -ltnp | grep -q qemu"
check "after the failed move: b's blank copy is removed" sh -c "! ls /run/ferry-lab/b/disks/ 2>/dev/null | grep -q web1"

# The serial shell runs one command after another: the checksum is read once dd is done.
guest a 'dd if=/dev/urandom of=/www/before bs=1M count=4 2>/dev/null; sync; md5sum /www/before > /tmp/before.sum' >/dev/null
for i in $(seq 20); do sum=$(guest a 'cat /tmp/before.sum 2>/dev/null' | cut -d' ' -f1); [ -n "$sum" ] && break; done
check "the guest wrote data before the move" test -n "$sum"
check "start a writer in the guest" sh -c "$(declare -f guest); FERRY=$FERRY guest a '(i=0; while [ \$i -lt 400 ]; do echo \$i >> /www/during; i=\$((i+1)); usleep 10000; done; sync; echo done > /www/writer-done; sync) </dev/null >/dev/null 2>&1 & echo started' | grep -q started"
check "--copy-storage moves web1 a -> b while it writes" $FERRY -H a migrate web1 b --copy-storage
check "same guest, on b only" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ]"
for i in $(seq 60); do guest b 'test -e /www/writer-done && echo FINISHED' | grep -q FINISHED && break; sleep 0.5; done
# Read back from the disk, not from the page cache that came with the RAM.
guest b 'sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /www/before; seq 0 399 | md5sum; md5sum < /www/during' > "$tmp/sums"
check "the data written before the move is intact on b" grep -q "^$sum  /www/before" "$tmp/sums"
check "every write during the move reached b's disk, in order" sh -c "[ \$(sed -n 2p $tmp/sums | cut -d' ' -f1) = \$(sed -n 3p $tmp/sums | cut -d' ' -f1) ]"
check "b's copy lives in b's state folder" sh -c "ls /run/ferry-lab/b/disks/ | grep -q web1-vda"
# The NBD export of the copy ends with the move: nothing of b's QEMU listens.
check "no NBD (or any TCP) listener of QEMU is left on b" sh -c "! ip netns exec ferry-b ss -ltnp | grep -q qemu"
check "b's agent logged the export's end" grep -q "nbd export stopped" /run/ferry-lab/b/ferryd.log
check "shut web1 down on b" $FERRY -H b shutdown web1 --timeout 60
img=$(ls /run/ferry-lab/b/disks/web1-vda.* 2>/dev/null | head -1)
check "b's disk image holds the writes (read offline)" sh -c "debugfs -R 'cat /during' '$img' 2>/dev/null | md5sum | grep -q \$(seq 0 399 | md5sum | cut -d' ' -f1)"

# The stream is encrypted: plant a pattern in guest memory, capture the move.
check "create web1 again on a (shared disk)" $FERRY -H a create build/guest/web1.cfg
check "web1 serves" wait_http 10.77.0.2 90
PATTERN=FERRY-PLANTED-c0ffee-0123456789
check "plant a pattern in guest memory" sh -c "$(declare -f guest); FERRY=$FERRY guest a 'ferry-guest --plant $PATTERN --size 16 </dev/null >/dev/null 2>&1 & sleep 1; echo planted' | grep -q planted"
capture() {
	ip netns exec ferry-b tcpdump -i mig0 -w "$tmp/$1.pcap" -U 'tcp and not port 7077' >/dev/null 2>&1 &
	local cap=$!
	sleep 1
	$FERRY -H $2 migrate web1 $3 $4 >/dev/null; local rc=$?
	sleep 0.5; kill $cap; wait $cap 2>/dev/null
	return $rc
}
check "a default (TLS) move is captured on the migration network" capture tls a b
check "the capture holds the migration (megabytes)" sh -c "[ \$(stat -c %s $tmp/tls.pcap) -gt 50000000 ]"
check "the planted pattern is not in the TLS capture" sh -c "[ \$(grep -ac $PATTERN $tmp/tls.pcap) = 0 ]"
check "an --insecure move is captured too" capture plain b a --insecure
check "the planted pattern is in the plaintext capture (the check can fail)" sh -c "[ \$(grep -ac $PATTERN $tmp/plain.pcap) -gt 100 ]"
check "a --qemu-tls move (QEMU's own TLS channel) is captured" capture qtls a b --qemu-tls
check "the planted pattern is not in the --qemu-tls capture" sh -c "[ \$(stat -c %s $tmp/qtls.pcap) -gt 50000000 ] && [ \$(grep -ac $PATTERN $tmp/qtls.pcap) = 0 ]"
finish

#!/bin/bash
# test_cold_disks.sh: cold moves of a guest whose data disk is not shared: the
# disk mover takes it along. Suspend (two passes, then one) and reboot,
# a -> b -> a: what the guest wrote reads back identically, suspend keeps the
# boot id and reboot changes it, the page is served from the destination, and
# the source's file goes only after success (or stays with --keep-source).
# Faults: the destination agent killed during the copy, the destination out
# of space: the guest stays on the source, a clear error, nothing half-made
# left on the destination.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
DISKS_B=/run/ferry-lab/b/disks
# in_b CMD...: CMD in b's agent's mount namespace (where its files are).
in_b() { nsenter -t "$(cat /run/ferry-lab/b/ferryd.lock)" -m "$@"; }
cleanup() {
	in_b umount $DISKS_B 2>/dev/null
	$FERRY lab down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
# web1 with its data disk in a's own folder (not shared): 256 MiB, the
# guest's 32 MiB file system, and 48 MiB of random data past it that the
# guest never touches (the mover must carry it byte for byte).
disk=/var/lib/ferry-lab/a/pool/web1-local.img
cp build/guest/web1-data.img $disk
truncate -s 256M $disk
dd if=/dev/urandom of=$disk bs=1M seek=100 count=48 conv=notrunc status=none
cp $disk "$tmp/tail.ref"
sed -e "s|target=web1-data.img,format=raw,vdev=vda,access=w,shared=yes|target=$disk,format=raw,vdev=vda,access=w|" \
    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$tmp/web1.cfg"
check "create web1 with a local data disk on a" $FERRY -H a create "$tmp/web1.cfg"
check "web1 serves" wait_http 10.77.0.2 90
boot=$(bootid)
# tailsum FILE: the checksum of the random bytes past the guest's file system.
tailsum() { dd if="$1" bs=1M skip=100 count=48 status=none | md5sum | cut -d' ' -f1; }
ref=$(tailsum "$tmp/tail.ref")

guest a 'dd if=/dev/urandom of=/www/before bs=1M count=4 2>/dev/null; sync; md5sum /www/before > /tmp/before.sum' >/dev/null
for i in $(seq 20); do sum=$(guest a 'cat /tmp/before.sum 2>/dev/null' | cut -d' ' -f1); [ -n "$sum" ] && break; done
check "the guest wrote a file before the moves" test -n "$sum"
check_fails "a live move still needs shared storage or --copy-storage" "not on shared storage.*use --copy-storage" \
	$FERRY -H a migrate web1 b
check_fails "--keep-source is for cold moves" "for cold moves" $FERRY -H a migrate web1 b --keep-source
check_fails "--disk-passes takes 1 or 2" "disk-passes" $FERRY -H a migrate web1 b --cold suspend --disk-passes 3

# Fault: b runs out of space in its disks folder during the copy. Its free
# space looks ample (the data's allocated size: a byte every MiB over 24 MiB
# is 96 KiB allocated), but the mover writes whole 1 MiB blocks.
python3 - "$disk" <<'PY'
import sys
f = open(sys.argv[1], 'r+b')
for i in range(24):
    f.seek((200 + i) << 20); f.write(b'x')
PY
mkdir -p $DISKS_B
in_b mount -t tmpfs -o size=$(( $(stat -c %b $disk) / 2048 + 12 ))m ferry-test $DISKS_B
check_fails "a cold move to a host whose disk folder fills up fails" "No space left on device.*keeps running on host a" \
	$FERRY -H a migrate web1 b --cold suspend
check "after it: web1 runs on a only, same boot" test "$(owners | tr '\n' ' ')/$(bootid)" = "a /$boot"
for i in $(seq 30); do [ -z "$(in_b ls -A $DISKS_B)" ] && break; sleep 0.1; done
check "after it: nothing is left in b's disk folder" test -z "$(in_b ls -A $DISKS_B)"
check "after it: a's disk is still there" test -s $disk
in_b umount $DISKS_B

# Fault: b's agent killed during the copy (a 384 MiB random disk makes it
# take a moment): the guest keeps running on a; b's agent, started again,
# removes what it had received.
dd if=/dev/urandom of=$disk bs=1M seek=160 count=384 conv=notrunc status=none
$FERRY -H a migrate web1 b --cold suspend > "$tmp/kill.out" 2>&1 &
mig=$!
for i in $(seq 300); do
	ls $DISKS_B/web1-vda.raw.journal* >/dev/null 2>&1 && [ "$(stat -c %b $DISKS_B/web1-vda.raw 2>/dev/null || echo 0)" -gt 100000 ] && break
	sleep 0.02
done
bpid=$(cat /run/ferry-lab/b/ferryd.lock)
kill -9 "$bpid"
wait $mig; rc=$?
check "killing b's agent mid-copy fails the move" sh -c "[ $rc != 0 ] && grep -q 'copying disk vda.*failed.*keeps running on host a' '$tmp/kill.out'"
check "web1 still runs on a, same boot" test "$(owners | tr '\n' ' ')/$(bootid)" = "a /$boot"
# The old agent and its helpers gone (a helper in the middle of a disk write
# dies when the write returns), then b's agent again.
for i in $(seq 300); do dead "$bpid" && break; sleep 0.1; done
for i in 1 2 3; do wait_agent_stopped b && break; done
# (Waiting by taking the lock for a moment could make the new agent's own
# lock fail: it answering is what is waited for.)
for try in 1 2 3; do
	ip netns exec ferry-b ${FERRY%ferry}ferryd -c /run/ferry-lab/b.conf 2>>/run/ferry-lab/b/ferryd.log &
	newb=$!
	for i in $(seq 150); do $FERRY -H b list >/dev/null 2>&1 && break; alive $newb || break; sleep 0.1; done
	$FERRY -H b list >/dev/null 2>&1 && break
	note "b's agent did not start (try $try): $(tail -3 /run/ferry-lab/b/ferryd.log | tr '\n' ' ')"
	sleep 2
done
for i in $(seq 50); do ls $DISKS_B | grep -q web1 || break; sleep 0.1; done
check "b's agent, started again, removed the half-received disk" sh -c "! ls $DISKS_B | grep -q web1"
ref=$(tailsum $disk)
dsize=$(stat -c %s $disk)

# Suspend, two passes: a -> b.
check "--cold suspend moves web1 a -> b, its disk with it" sh -c "$FERRY -H a --json migrate web1 b --cold suspend > $tmp/s2.json"
check "the record has the disk, both passes, the phases" python3 -c "
import json,sys; r=json.load(open('$tmp/s2.json')); d=r['disks'][0]
ph=[p['phase'] for p in r['phases']]
sys.exit(not (r['mode']=='suspend' and r['disk_passes']==2 and d['vdev']=='vda' and d['live_sent_bytes']>400e6
  and d['final_sent_bytes'] < d['live_sent_bytes']/10 and r['disk_wire_bytes']>0
  and ph[:7]==['connecting','preflight','checking','copying-disks','preparing','suspending','copying-disks-final']))"
note "figure: cold suspend, 2 passes: $(python3 -c "
import json; r=json.load(open('$tmp/s2.json')); d=r['disks'][0]
print('pause %.0f ms, total %d ms, live pass %.0f MB in %d ms, final pass %.1f MB in %d ms' % (r['pause_ms'], r['total_ms'], d['live_sent_bytes']/1e6, d['live_ms'], d['final_sent_bytes']/1e6, d['final_ms']))")"
check "same boot id, web1 on b only" test "$(owners | tr '\n' ' ')/$(bootid)" = "b /$boot"
check "the page is served (from b: web1 runs there only)" wait_http 10.77.0.2 10
check "a's disk file is gone (moved)" test ! -e $disk
bdisk=$DISKS_B/web1-vda.raw
check "b holds the disk, whole, no journal" sh -c "[ -s $bdisk ] && ! ls $bdisk.journal* 2>/dev/null && [ \$(stat -c %s $bdisk) = $dsize ]"
check "the bytes past the file system arrived identical" test "$(tailsum $bdisk)" = "$ref"
guest b 'sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /www/before' > "$tmp/sums"
check "the guest reads its file back identical on b (from disk)" grep -q "^$sum  /www/before" "$tmp/sums"

# Suspend, one pass: b -> a, --keep-source.
check "--cold suspend --disk-passes 1 --keep-source moves it b -> a" sh -c "$FERRY -H b --json migrate web1 a --cold suspend --disk-passes 1 --keep-source > $tmp/s1.json"
check "one pass: copied after the pause, before the prepare" python3 -c "
import json,sys; r=json.load(open('$tmp/s1.json')); d=r['disks'][0]
ph=[p['phase'] for p in r['phases']]
sys.exit(not (r['disk_passes']==1 and d['live_sent_bytes']==0 and d['final_sent_bytes']>400e6
  and ph[:6]==['connecting','preflight','checking','suspending','copying-disks-final','preparing']))"
note "figure: cold suspend, 1 pass: $(python3 -c "
import json; r=json.load(open('$tmp/s1.json')); d=r['disks'][0]
print('pause %.0f ms, total %d ms, %.0f MB in %d ms' % (r['pause_ms'], r['total_ms'], d['final_sent_bytes']/1e6, d['final_ms']))")"
check "same boot id on a" test "$(owners | tr '\n' ' ')/$(bootid)" = "a /$boot"
check "--keep-source: b's file stays" test -s $bdisk
adisk=/run/ferry-lab/a/disks/web1-vda.raw
check "a's copy is identical to b's" cmp $adisk $bdisk
rm -f $bdisk

# Reboot: a -> b; then back.
check "--cold reboot moves web1 a -> b with its disk" sh -c "$FERRY -H a --json migrate web1 b --cold reboot > $tmp/r.json"
check "web1 serves on b" wait_http 10.77.0.2 120
nb=$(bootid)
check "reboot: a new boot id" test -n "$nb" -a "$nb" != "$boot"
check "the record has power-off, the final pass, the boot there" python3 -c "
import json,sys; r=json.load(open('$tmp/r.json'))
ph=[p['phase'] for p in r['phases']]
sys.exit(not (r['mode']=='reboot' and 'powering-off' in ph and 'copying-disks-final' in ph and 'booting-there' in ph))"
guest b 'md5sum /www/before' > "$tmp/sums"
check "after the reboot move the file reads back identical" grep -q "^$sum  /www/before" "$tmp/sums"
check "--cold reboot moves it back b -> a" sh -c "$FERRY -H b migrate web1 a --cold reboot > $tmp/r2.out"
check "the summary says what it measured, and that the boot is not in it" grep -q "power-off to QEMU running there .* ms (the guest's boot is not included): stop .* disks .* boot there" "$tmp/r2.out"
check "web1 serves on a" wait_http 10.77.0.2 120
check "b's disk folder is empty" sh -c "[ -z \"\$(ls -A $DISKS_B)\" ]"
# mig-disks-drop removes only what a move sent and no guest ran on: not the
# disk of a guest that ran here and is off now.
check "shut web1 down on a" $FERRY -H a shutdown web1 --timeout 60
check "its disk stays in a's folder" test -s $adisk
python3 - /run/ferry-lab/a/ferryd.sock "$tmp/web1.cfg" > "$tmp/drop.out" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
f = s.makefile("rb"); f.readline()
s.sendall((json.dumps({"id": 1, "op": "mig-disks-drop", "args": {"config": open(sys.argv[2]).read()}}) + "\n").encode())
print(f.readline().decode().strip())
PY
check "a mig-disks-drop request for it answers, and the disk is still there" sh -c "grep -q '\"ok\":true' $tmp/drop.out && [ -s $adisk ]"

# A final pass longer than the 10 s after which a destination holding a
# prepared QEMU takes a silent source for gone: the link slowed to 20 MB/s
# for the first pass, 100 MiB it already sent rewritten, then the senders
# frozen for 12 s in the final pass. The source pings while the disks travel:
# the move completes.
cp $adisk $disk
check "create web1 on a again" $FERRY -H a create "$tmp/web1.cfg"
check "web1 serves" wait_http 10.77.0.2 90
phase() { $FERRY -H a --json status web1 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('migration',{}).get('phase',''))" 2>/dev/null; }
ip netns exec ferry-a tc qdisc add dev mig0 root tbf rate 160mbit burst 256k latency 200ms
$FERRY -H a --json migrate web1 b --cold suspend > "$tmp/long.json" 2> "$tmp/long.err" &
mig=$!
# Half the first pass (the 100 MiB at 160 MiB sent by then), then rewrite it.
for i in $(seq 2000); do [ "$(stat -c %b $DISKS_B/web1-vda.raw 2>/dev/null || echo 0)" -gt 460000 ] && break; sleep 0.02; done
dd if=/dev/urandom of=$disk bs=1M seek=160 count=100 conv=notrunc status=none
for i in $(seq 1000); do [ "$(phase)" = copying-disks-final ] && break; sleep 0.02; done
senders=$(pgrep -P "$(cat /run/ferry-lab/a/ferryd.lock)" -x ferryd | tr '\n' ' ')
kill -STOP $senders 2>/dev/null
ip netns exec ferry-a tc qdisc del dev mig0 root
sleep 12
kill -CONT $senders 2>/dev/null
wait $mig; rc=$?
check "a cold move whose final pass takes over 10 s completes" sh -c "[ $rc = 0 ] && python3 -c \"
import json,sys; r=json.load(open('$tmp/long.json')); sys.exit(not (r['disks'][0]['final_ms'] > 10000 and r['disks'][0]['final_sent_bytes'] > 50e6))\""
note "long final pass: $(python3 -c "import json; r=json.load(open('$tmp/long.json')); d=r['disks'][0]; print('%.0f MB in %d ms, pause %.0f ms' % (d['final_sent_bytes']/1e6, d['final_ms'], r['pause_ms']))" 2>/dev/null || cat "$tmp/long.err")"
check "lab down" $FERRY lab down
finish

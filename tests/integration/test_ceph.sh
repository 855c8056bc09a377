#!/bin/bash
# test_ceph.sh: the lab's Ceph cluster (lab up --ceph: three storage hosts, a
# monitor and an OSD on each) comes up healthy; the rbd pool lab-rbd on a and
# b is the same cluster; volumes go in and out through librbd; a guest whose
# disk is on it boots, moves live a -> b and cold b -> a with no disk byte
# moved, and what it wrote reads back; one storage host stopped while the
# guest writes: it keeps serving and writing, and the cluster heals when the
# host returns. Bad input (a wrong key, an unknown pool, monitors that do not
# answer, a configuration outside ceph_dirs): a clear error in bounded time,
# nothing defined. lab down leaves nothing: processes, namespaces, files.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
sysdirs() { ls -la /var/log/ceph /var/lib/ceph /run/ceph /etc/ceph 2>&1 | grep -v ' \.\.\?$' | grep -v '^total'; }
sysdirs > "$tmp/sys-before"
daemons() { pgrep -f '^ceph-(mon|mgr|osd) -f -c /run/ferry-lab/ceph/ceph.conf' | wc -l; }

$FERRY lab down >/dev/null 2>&1
check "lab up --ceph" $FERRY lab up --ceph
$FERRY --json lab status > "$tmp/status"
check "lab status: ceph healthy, every placement group active+clean" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["ceph"]
assert c["healthy"] and "HEALTH_OK" in c["health"], c
assert all(d["pid"] > 0 for d in c["daemons"].values()) and len(c["daemons"]) == 7, c
assert c["bringup_s"] > 0 and c["rss_mb"] > 0, c' "$tmp/status"
note "figure: $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["ceph"]; print("ceph bring-up %.1f s, %d daemons %.0f MB resident" % (c["bringup_s"], len(c["daemons"]), c["rss_mb"]))' "$tmp/status")"
check "three monitors in quorum, three OSDs up and in, one per host" sh -c \
	"$FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin -s | grep -q 'quorum ceph1,ceph2,ceph3' &&
	 $FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin -s | grep -q '3 osds: 3 up.*3 in' &&
	 [ \$($FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin osd tree | grep -c ' host ceph') = 3 ]"
check "pool ferry: size 3, min_size 2" sh -c \
	"$FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin osd pool ls detail | grep -q \"'ferry' replicated size 3 min_size 2\""
check "every keyring is mode 0600" sh -c "[ -z \"\$(find /run/ferry-lab/ceph -name '*keyring*' ! -perm 600)\" ]"
check "the agents' folder holds client.ferry's key only" sh -c \
	"[ \"\$(ls /run/ferry-lab/ceph/client)\" = \"\$(printf 'ceph.client.ferry.keyring\nceph.conf')\" ] && ! grep -q client.admin /run/ferry-lab/ceph/client/*"
fsid=$($FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin fsid)
check "lab-rbd on a and b: the same cluster (rbd://FSID/ferry)" sh -c \
	"$FERRY -H a pool list | grep -q 'lab-rbd  *rbd  *yes  *rbd://$fsid/ferry' && $FERRY -H b pool list | grep -q 'lab-rbd  *rbd  *yes  *rbd://$fsid/ferry'"

# Bad input: a clear error, in bounded time, nothing defined.
$FERRY -H a pool list --json > "$tmp/pools-before"
C=/run/ferry-lab/ceph/client
sed "s|^keyring = .*|keyring = $C/bad.keyring|" $C/ceph.conf > $C/bad-key.conf
printf '[client.ferry]\n\tkey = %s\n' "$(ceph-authtool --gen-print-key)" > $C/bad.keyring; chmod 600 $C/bad.keyring
check_fails "a wrong cephx key" "cannot reach the Ceph cluster .* as client.ferry" \
	$FERRY -H a pool define r1 rbd rbd://ferry --ceph-conf $C/bad-key.conf --ceph-user ferry
check_fails "an unknown pool" "has no pool named nosuch" \
	$FERRY -H a pool define r2 rbd rbd://nosuch --ceph-conf $C/ceph.conf --ceph-user ferry
sed "s|^mon host = .*|mon host = [v2:10.78.0.99:3300,v1:10.78.0.99:6789]|" $C/ceph.conf > $C/no-mon.conf
t0=$(date +%s)
check_fails "monitors that do not answer" "no monitor answered within 10 s" \
	$FERRY -H a pool define r3 rbd rbd://ferry --ceph-conf $C/no-mon.conf --ceph-user ferry
check "... said within 25 s" test $(( $(date +%s) - t0 )) -le 25
cp $C/ceph.conf "$tmp/elsewhere.conf"
check_fails "a configuration outside ceph_dirs" "outside the folders a Ceph configuration may come from" \
	$FERRY -H a pool define r4 rbd rbd://ferry --ceph-conf "$tmp/elsewhere.conf" --ceph-user ferry
check_fails "another cluster's fsid" "the cluster of .* is $fsid, not 00000000-0000-0000-0000-000000000000" \
	$FERRY -H a pool define r5 rbd rbd://00000000-0000-0000-0000-000000000000/ferry --ceph-conf $C/ceph.conf --ceph-user ferry
check_fails "qcow2 volumes on rbd" "raw images" $FERRY -H a vol create lab-rbd x.qcow2 16M --format qcow2
rm -f $C/bad-key.conf $C/bad.keyring $C/no-mon.conf
$FERRY -H a pool list --json > "$tmp/pools-after"
check "after the refusals: the same pools, no image made" sh -c \
	"cmp -s '$tmp/pools-before' '$tmp/pools-after' && [ -z \"\$($FERRY -H a vol list lab-rbd | sed 1d)\" ]"

# Volumes through librbd.
check "vol import: the guest's raw data disk into lab-rbd" $FERRY -H a vol import lab-rbd web1-data build/guest/web1-data.img
check "b sees it (one cluster), sparse" sh -c "$FERRY -H b --json vol list lab-rbd | python3 -c '
import json, sys
v = {x[\"name\"]: x for x in json.load(sys.stdin)[\"volumes\"]}[\"web1-data\"]
assert v[\"size_bytes\"] == $(stat -c %s build/guest/web1-data.img) and 0 < v[\"allocated_bytes\"] < v[\"size_bytes\"], v'"
check "vol export from b is the image, byte for byte" sh -c \
	"$FERRY -H b vol export lab-rbd web1-data $tmp/out.raw && cmp build/guest/web1-data.img $tmp/out.raw"
rm -f "$tmp/out.raw"

# A guest on lab-rbd: it boots, moves live and cold with no disk byte copied.
sed -e 's|^disk = .*|disk = [ "pool=lab-rbd,vol=web1-data,format=raw,vdev=vda" ]|' \
    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$tmp/web1.cfg"
check "create web1 with its disk on lab-rbd" $FERRY -H a create "$tmp/web1.cfg"
check "QEMU opens it with its rbd driver, as client.ferry" \
	grep -q 'driver=rbd,pool=ferry,image=web1-data,user=ferry,conf=/run/ferry-lab/ceph/client/ceph.conf' /run/ferry-lab/a/ferryd.log
check "web1 serves from that disk" wait_http 10.77.0.2 90
guest a 'head -c 65536 /dev/urandom > /www/mark; sync; md5sum /www/mark > /tmp/mark.sum' >/dev/null
for i in $(seq 20); do sum=$(guest a 'cat /tmp/mark.sum 2>/dev/null' | cut -d' ' -f1); [ -n "$sum" ] && break; done
check "the guest wrote a file to its disk" test -n "$sum"
boot=$(bootid)
check "live a -> b" sh -c "$FERRY -H a --json migrate web1 b > $tmp/live.json"
check "live: no disk byte moved (one cluster)" python3 -c "import json,sys; r=json.load(open('$tmp/live.json')); sys.exit(r['bytes'] != r['ram_bytes'])"
check "live: same guest, on b only" test "$(bootid) $(owners)" = "$boot b"
check "cold (suspend) b -> a" sh -c "$FERRY -H b --json migrate web1 a --cold suspend > $tmp/cold.json"
check "cold: no disk byte moved" python3 -c "import json,sys; r=json.load(open('$tmp/cold.json')); sys.exit(r['bytes'] != r['ram_bytes'])"
check "cold: on a only" test "$(owners)" = a
after=$(guest a 'sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /www/mark' | cut -d' ' -f1)
check "the file reads back identically after both moves" test "$after" = "$sum"
check_fails "a volume a QEMU has open cannot be deleted from the other host" "open by a client" \
	$FERRY -H b vol delete lab-rbd web1-data
sed -e 's|^name = .*|name = "web9"|' -e 's|mac=[0-9a-f:]*|mac=52:54:00:77:00:09|' "$tmp/web1.cfg" > "$tmp/web9.cfg"
check_fails "a second guest on the image from the other host is refused (its exclusive lock would not)" \
	"web9: disk vda \(web1-data of pool lab-rbd\) is open by another client of the cluster" $FERRY -H b create "$tmp/web9.cfg"
check "nothing started for it" sh -c "! $FERRY -H b list | grep -q web9"

# One storage host of three goes away while the guest writes.
guest a '(i=0; while :; do i=$((i+1)); echo $i > /www/counter; sync; sleep 0.2; done) >/dev/null 2>&1 &' >/dev/null
sleep 2
c0=$(guest a 'cat /www/counter')
check "stop storage host ceph3 (its monitor and OSD)" $FERRY lab stop ceph3
t0=$(date +%s%N); c1=$c0
for i in $(seq 60); do
	c1=$(guest a 'cat /www/counter'); [ -n "$c1" ] && [ "$c1" -gt $((c0 + 5)) ] && break; sleep 0.5
done
note "figure: with ceph3 stopped, the guest's writes went on after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "the guest keeps writing with one storage host of three down" test "${c1:-0}" -gt $((c0 + 5))
check "and keeps serving" wait_http 10.77.0.2 10
check "the cluster says so (1 host down, degraded, still in quorum)" sh -c \
	"$FERRY lab exec ceph1 ceph -c /run/ferry-lab/ceph/ceph.conf -n client.admin health | grep -q '1 host (1 osds) down'"
check "start ceph3 again" $FERRY lab start ceph3
healthy() { $FERRY --json lab status | python3 -c 'import json,sys; sys.exit(not json.load(sys.stdin)["ceph"]["healthy"])'; }
t0=$(date +%s)
for i in $(seq 90); do healthy && break; sleep 1; done
note "figure: healthy again $(( $(date +%s) - t0 )) s after ceph3 returned"
check "the cluster heals (HEALTH_OK, all active+clean)" healthy
check "destroy web1" $FERRY -H a destroy web1
check "vol delete once nothing has it open" $FERRY -H a vol delete lab-rbd web1-data

check "lab down" $FERRY lab down
check "no ceph daemon left" test "$(daemons)" = 0
check "no ferry-ceph namespace left" sh -c "! ip netns list | grep -q ferry-ceph"
check "no lab folder left" sh -c "[ ! -e /run/ferry-lab ] && [ ! -e /var/lib/ferry-lab ]"
sysdirs > "$tmp/sys-after"
check "nothing written in /var/log/ceph, /var/lib/ceph, /run/ceph, /etc/ceph" cmp "$tmp/sys-before" "$tmp/sys-after"
finish

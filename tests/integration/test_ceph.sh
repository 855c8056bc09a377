#!/bin/bash
# test_ceph.sh: the lab's Ceph cluster (lab up --ceph: three storage hosts, a
# monitor and an OSD on each) comes up healthy; the rbd pool lab-rbd on a and
# b is the same cluster; volumes go in and out through librbd; a guest whose
# disk is on it boots, moves live a -> b and cold b -> a with no disk byte
# moved, and what it wrote reads back; the fault bench on lab-nfs and
# lab-rbd (storage bench --fault): with one storage host of three stopped the
# RBD guest keeps serving and its writes resume before the host returns, the
# NFS guest's stall the whole outage, and the cluster heals when the host
# returns. Bad input (a wrong key, an unknown pool, monitors that do not
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

check "destroy web1" $FERRY -H a destroy web1
check "vol delete once nothing has it open" $FERRY -H a vol delete lab-rbd web1-data

# The fault bench, short: the same outage (6 s in, for 22 s, 6 s after) of
# the NFS server and of storage host ceph3 (its monitor and OSD), under
# load, a live move in it. (The cluster needs ~16 s to take ceph3 out:
# docs/storage.md; the outage is longer, to see the writes resume in it.)
check_fails "--fault on a pool without a server to stop: refused first" "pool lab-dir: it has no storage server to stop" \
	$FERRY storage bench lab-nfs lab-dir --fault
check_fails "--fault-at under 5 s: refused" "fault-at" $FERRY storage bench lab-nfs --fault-at 2
check "nothing started by those (no bench guest, the NFS server still runs)" sh -c \
	"! $FERRY -H a list | grep -q sbench && $FERRY --json lab status | python3 -c 'import json,sys; sys.exit(not json.load(sys.stdin)[\"storage\"][\"nfs\"][\"pid\"])'"
t0=$(date +%s)
check "storage bench --fault on lab-nfs and lab-rbd" sh -c "$FERRY --json storage bench lab-nfs lab-rbd --fault-at 6 \
	--fault-for 22 --fault-after 6 --report $tmp/fault.html > $tmp/fault.json 2> $tmp/fault.err"
note "figure: fault bench (2 pools, 34 s runs) $(( $(date +%s) - t0 )) s"
sed 's/^/# /' "$tmp/fault.err" | tail -5
$FERRY storage bench --from-json "$tmp/fault.json" 2>&1 | sed 's/^/# /'
cp "$tmp/fault.json" build/test-logs/fault-bench.json 2>/dev/null
fp() { python3 -c "import json,sys; f=json.load(open('$tmp/fault.json'))['fault']; p={x['pool']:x for x in f['pools']}; $1"; }
check "both guests survived, their writers wrote before the stop, their logs read" fp "sys.exit(not all(p[n]['survived'] and p[n]['writes'] > 100 and p[n]['io_first_s'] < 6 and 'writer_error' not in p[n] for n in ('lab-nfs','lab-rbd')))"
check "the client's series and the writer's cover the run on both" fp "
sys.exit(not all(p[n]['series'][0][0] < 1.5 and p[n]['series'][-1][0] > p[n]['end_s'] - 3 and p[n]['baseline_rps'] > 0
                 and len(p[n]['io']) >= p[n]['end_s'] - 1 for n in ('lab-nfs','lab-rbd')))"
check "NFS server stopped: no write completes while it is away (stall >= 80% of 22 s), they resume after" fp "
n=p['lab-nfs']; sys.exit(not (n['io_stall_ms'] >= 0.8 * 22000 and n['io_recovery_s'] is not None and n['io_recovery_s'] < 10))"
check "ceph3 stopped: the writes resume with two hosts of three, before ceph3 returns" fp "
n=p['lab-rbd']; sys.exit(not (n['io_stall_at_s'] + n['io_stall_ms'] / 1000 < 22 and n['io_recovery_s'] == 0))"
check "each live move during the outage ended, said how" fp "
sys.exit(not all(p[n]['migration']['outcome'] in ('completed','failed') and p[n]['host'] in ('a','b') for n in ('lab-nfs','lab-rbd')))"
check "the report: four charts on one time axis, a line per pool, the outage shaded" sh -c "
for c in fault-web fault-p99 fault-io fault-lat; do grep -q \"data-chart=\\\"\$c\\\"\" $tmp/fault.html || exit 1; done;
[ \$(grep -c '<path class=\"series\" data-pool=\"lab-nfs\"' $tmp/fault.html) = 4 ] &&
[ \$(grep -c '<path class=\"series\" data-pool=\"lab-rbd\"' $tmp/fault.html) = 4 ] && grep -q 'class=\"outage\"' $tmp/fault.html"
check "after it: no bench guest, no bench volume, the NFS server and ceph3 back" sh -c "
! $FERRY -H a list | grep -q sbench && ! $FERRY -H b list | grep -q sbench &&
! $FERRY -H a vol list lab-nfs | grep -q sbench && ! $FERRY -H a vol list lab-rbd | grep -q sbench &&
$FERRY --json lab status | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(not (s[\"storage\"][\"nfs\"][\"pid\"] and all(s[\"ceph\"][\"daemons\"][d][\"pid\"] for d in (\"osd.2\",\"mon.ceph3\"))))'"
healthy() { $FERRY --json lab status | python3 -c 'import json,sys; sys.exit(not json.load(sys.stdin)["ceph"]["healthy"])'; }
t0=$(date +%s)
for i in $(seq 90); do healthy && break; sleep 1; done
note "figure: healthy again $(( $(date +%s) - t0 )) s after the bench ended (ceph3 back 6 s before its end)"
check "the cluster heals (HEALTH_OK, all active+clean)" healthy

check "lab down" $FERRY lab down
check "no ceph daemon left" test "$(daemons)" = 0
check "no ferry-ceph namespace left" sh -c "! ip netns list | grep -q ferry-ceph"
check "no lab folder left" sh -c "[ ! -e /run/ferry-lab ] && [ ! -e /var/lib/ferry-lab ]"
sysdirs > "$tmp/sys-after"
check "nothing written in /var/log/ceph, /var/lib/ceph, /run/ceph, /etc/ceph" cmp "$tmp/sys-before" "$tmp/sys-after"
finish

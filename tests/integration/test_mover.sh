#!/bin/bash
# test_mover.sh: ferry copy between the lab's agents: a sparse image with
# scattered data and zeros arrives identical and sparse; bad input is refused
# with nothing made; an interrupted copy (one of the receiving streams
# killed) leaves nothing in place, and the same command again sends less than
# half; one stream and four give the same image.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
src=/var/lib/ferry-lab/a/pool/src.img
# 2 GiB sparse: 256 MiB of random data in 64 scattered 4 MiB pieces, 64 MiB of text, holes.
python3 - "$src" <<'PY'
import os, sys, random
random.seed(7)
f = open(sys.argv[1], 'wb'); f.truncate(2 << 30)
for i in range(64):
    f.seek(random.randrange(0, (2 << 30) - (4 << 20), 1 << 20)); f.write(os.urandom(4 << 20))
f.seek(1 << 30); f.write(b'ferry moves disks ' * ((64 << 20) // 18))
f.close()
PY
check "copy a 2 GiB sparse image a -> b" sh -c "$FERRY -H a --json copy $src b:/var/lib/ferry-lab/b/pool/dst.img > $tmp/copy.json"
check "it arrives identical" cmp $src /var/lib/ferry-lab/b/pool/dst.img
check "and sparse (allocated no more than the source)" sh -c "[ \$(stat -c %b /var/lib/ferry-lab/b/pool/dst.img) -le \$(( \$(stat -c %b $src) + 8192 )) ]"
check "only the data was sent, the text compressed on the wire" python3 -c "
import json,sys; r=json.load(open('$tmp/copy.json'))
sys.exit(not (r['sent_bytes'] == r['data_bytes'] and r['data_bytes'] <= 330 << 20 and r['wire_bytes'] < r['sent_bytes'] - (50 << 20)))"
note "figure: mover 2 GiB sparse image, $(python3 -c "import json; r=json.load(open('$tmp/copy.json')); print('%.2f s, %.0f MiB data, %.0f MiB on the wire' % (r['seconds'], r['data_bytes']/1048576, r['wire_bytes']/1048576))")"
check "pool volumes too: lab-dir/src.img -> b:lab-dir/copy.img" $FERRY -H a copy lab-dir/src.img b:lab-dir/copy.img
check "the volume is listed on b" sh -c "$FERRY -H b vol list lab-dir | grep -q copy.img"

check_fails "an existing target is refused" "exists already" $FERRY -H a copy $src b:/var/lib/ferry-lab/b/pool/dst.img
check_fails "a source outside vm_dirs is refused" "outside the folders VM files may come from" $FERRY -H a copy /etc/passwd b:/var/lib/ferry-lab/b/pool/p
check_fails "a target outside vm_dirs is refused" "a folder VM files may come from on host b" $FERRY -H a copy $src b:/etc/ferry-copy
check "and nothing was written there" test ! -e /etc/ferry-copy
check_fails "an NFS pool is not a copy target" "opened by QEMU's own client" $FERRY -H a copy $src b:lab-nfs/x.img
check_fails "an unknown host is refused" "nosuch" $FERRY -H a copy $src nosuch:/var/lib/ferry-lab/b/pool/x
check_fails "a bad target is a usage error" "HOST:PATH" $FERRY -H a copy $src /var/lib/ferry-lab/b/pool/x

# Cut: one of b's receiving streams killed while the copy runs (the other
# stream stops too); the same copy again: only the rest travels. 1 GiB of
# random data (incompressible: a few seconds on the wire), cut once 800 MiB
# have arrived.
big=/var/lib/ferry-lab/a/pool/big.img
head -c 1G /dev/urandom > $big
$FERRY -H a --json copy $big b:/var/lib/ferry-lab/b/pool/cut.img > $tmp/cut1.json 2>&1 &
cp_pid=$!
for i in $(seq 1000); do ls /var/lib/ferry-lab/b/pool/cut.img.journal* >/dev/null 2>&1 && [ $(stat -c %b /var/lib/ferry-lab/b/pool/cut.img.part 2>/dev/null || echo 0) -gt 1638400 ] && break; sleep 0.02; done
bpid=$(cat /run/ferry-lab/b/ferryd.lock)
recv=$(pgrep -P "$bpid" -x ferryd | head -1)
kill -9 "$recv" 2>/dev/null
wait $cp_pid
check "the cut copy failed, and nothing is in place" test ! -e /var/lib/ferry-lab/b/pool/cut.img
check "its part and its streams' journals stay for the next run" sh -c "[ -e /var/lib/ferry-lab/b/pool/cut.img.part ] && [ \$(ls /var/lib/ferry-lab/b/pool/cut.img.journal.* | wc -l) = 2 ]"
check "the same copy again" sh -c "$FERRY -H a --json copy $big b:/var/lib/ferry-lab/b/pool/cut.img > $tmp/cut2.json"
check "it sent less than half the data" python3 -c "
import json,sys; r=json.load(open('$tmp/cut2.json')); sys.exit(not (r['sent_bytes'] < r['data_bytes'] / 2 and r['skipped_blocks'] > 0))"
check "and the image is whole" cmp $big /var/lib/ferry-lab/b/pool/cut.img
check "the journals are gone" sh -c "! ls /var/lib/ferry-lab/b/pool/cut.img.journal* 2>/dev/null"
# The receiving end has the last word: a file made at the target's name on b
# while the copy runs cannot be replaced, and ferry copy says so (it waits
# for b to put the file in place before it answers).
$FERRY -H a copy $big b:/var/lib/ferry-lab/b/pool/late.img > $tmp/late.out 2>&1 &
cp_pid=$!
for i in $(seq 500); do [ -e /var/lib/ferry-lab/b/pool/late.img.part ] && break; sleep 0.02; done
echo intruder > /var/lib/ferry-lab/b/pool/late.img
wait $cp_pid
rc=$?
check "a file made at the target on b during the copy: ferry copy fails, saying why" sh -c \
	"[ $rc != 0 ] && grep -q 'did not receive .*late.img whole: cannot put .*late.img in place' $tmp/late.out" || cat "$tmp/late.out"
check "and that file is untouched" grep -qx intruder /var/lib/ferry-lab/b/pool/late.img
check "one stream (--streams 1) arrives identical too" sh -c "$FERRY -H a --json copy --streams 1 $src b:/var/lib/ferry-lab/b/pool/one.img > $tmp/one.json && cmp $src /var/lib/ferry-lab/b/pool/one.img"
check "and four (--streams 4)" sh -c "$FERRY -H a --json copy $src b:/var/lib/ferry-lab/b/pool/four.img --streams 4 > $tmp/four.json && cmp $src /var/lib/ferry-lab/b/pool/four.img && grep -q '\"streams\": 4' $tmp/four.json"
check_fails "--streams takes 1 to 8" "streams" $FERRY -H a copy --streams 9 $src b:/var/lib/ferry-lab/b/pool/nine.img
check "lab down" $FERRY lab down
finish

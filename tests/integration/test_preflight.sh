#!/bin/bash
# test_preflight.sh: ferry check, and the same checks at the start of every
# move. A healthy pair passes with no warning and real figures; then each
# blocking condition is made for real in the lab: a guest of the same name on
# b, a bridge b lacks, a bridge b has on another L2 segment, a CPU model b does
# not offer, b's guest memory limit, an unshared disk without --copy-storage,
# an agent of another protocol version. Each time ferry check names it, ferry
# migrate refuses with the same reason, and neither host changed.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
fake=
cleanup() {
	[ -n "$fake" ] && kill "$fake" 2>/dev/null
	$FERRY lab down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
FAKE_PEER=${FERRY%/ferry}/tools/fake_peer
G=$PWD/build/guest

# bare NAME MEM [EXTRA-LINE]...: a config of a guest with no disk and no NIC
# unless the extra lines give them (QEMU runs; what it boots does not matter).
bare() {
	local name=$1 mem=$2
	shift 2
	printf 'name = "%s"\nmemory = %s\nvcpus = 1\nkernel = "%s/vmlinuz"\nramdisk = "%s/initrd.img"\n' \
		"$name" "$mem" "$G" "$G" > "$tmp/$name.cfg"
	for l in "$@"; do echo "$l" >> "$tmp/$name.cfg"; done
	echo "$tmp/$name.cfg"
}
# verdict JSON ID: the verdicts of the checks with that id, space-separated.
verdict() { python3 -c 'import json,sys; print(" ".join(c["verdict"] for c in json.load(open(sys.argv[1]))["checks"] if c["id"] == sys.argv[2]))' "$1" "$2"; }
# refusal JSON ID: the sentence of the first blocking check with that id.
refusal() { python3 -c 'import json,sys; print(next(c["title"] + ": " + c["destination"] for c in json.load(open(sys.argv[1]))["checks"] if c["id"] == sys.argv[2] and c["verdict"] == "blocking"))' "$1" "$2"; }
# same_reason JSON ID CMD...: CMD (a move) fails with the check's sentence
# (its figures aside: free memory changes from one moment to the next).
same_reason() {
	local json=$1 id=$2 why out
	shift 2
	why=$(refusal "$json" "$id") || return 1
	out=$("$@" 2>&1) && { echo "the move went: $out"; return 1; }
	echo "$out" | sed 's/[0-9][0-9.]*/N/g' | grep -qF "$(echo "$why" | sed 's/[0-9][0-9.]*/N/g')" ||
		{ echo "check: $why"; echo "move:  $out"; return 1; }
}
# on HOST NAME: NAME runs on HOST.
on() { $FERRY -H "$1" list 2>/dev/null | grep -qE "^$2 +[a-z]+ +running"; }
pid_of() { $FERRY -H "$1" --json status "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
# agent_restart HOST CONF: HOST's agent again, with CONF; waits until it answers.
agent_restart() {
	local h=$1 conf=$2 pid new i
	pid=$(cat /run/ferry-lab/$h/ferryd.lock)
	kill "$pid"
	for i in $(seq 200); do dead "$pid" && break; sleep 0.1; done
	ip netns exec ferry-$h ${FERRY%ferry}ferryd -c "$conf" 2>>/run/ferry-lab/$h/ferryd.log &
	new=$!
	for i in $(seq 150); do $FERRY -H "$h" list >/dev/null 2>&1 && return 0; alive $new || break; sleep 0.1; done
	return 1
}

# (for the checks below that run in bash -c)
export FERRY
export -f on pid_of bootid verdict

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
check "create web1 on a" $FERRY -H a create $G/web1.cfg
check "web1 serves" wait_http 10.77.0.2 90

# A healthy pair: nothing blocks, nothing warns, and the figures are real.
t0=$(date +%s%N)
check "ferry check web1 b: passes (exit 0)" bash -c "$FERRY -H a check web1 b > $tmp/ok.txt"
t1=$(date +%s%N)
note "ferry check took $(( (t1 - t0) / 1000000 )) ms"
sed 's/^/# /' "$tmp/ok.txt" | head -8
check "healthy: 0 blocking, 0 warnings" grep -q "0 blocking, 0 warning(s)" "$tmp/ok.txt"
$FERRY -H a check web1 b --json > "$tmp/ok.json"
check "healthy --json: every verdict ok or not-needed" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad = [c["id"] + ":" + c["verdict"] for c in r["checks"] if c["verdict"] not in ("ok", "not-needed")]
assert not bad and r["blocking"] == 0, bad' "$tmp/ok.json"
check "healthy: measured round trip, link rate, clock offset, dirty rate, L2 segment" python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); n = r["net"]
assert 0 < n["rtt_ms"] < 50 and n["bandwidth_mb_s"] > 10 and abs(n["clock_offset_ms"]) < 5, n
assert r["facts"]["source"]["guest"]["dirty_mb_s"] >= 0 and n["l2"] == [{"bridge": "br-vm", "seen": True}], r
net = [c for c in r["checks"] if c["id"] == "network"][0]["facts"]
assert net["estimate_s"] > 0 and net["converges"], net' "$tmp/ok.json"
check "a cold check states what a cold move does not need" bash -c \
	"$FERRY -H a check web1 b --cold reboot --json | grep -q '\"not-needed\"'"
boot=$(bootid)

# A guest named web1 on b already.
check "a bare VM named web1 starts on b" $FERRY -H b create "$(bare web1 64)"
bpid=$(pid_of b web1)
check_fails "name taken: ferry check exits 1" "" $FERRY -H a check web1 b
$FERRY -H a check web1 b --json > "$tmp/name.json"
check "name taken: the check names it" test "$(verdict "$tmp/name.json" name)" = blocking
check "name taken: migrate refuses with the same reason" same_reason "$tmp/name.json" name $FERRY -H a migrate web1 b
check "name taken: nothing changed (web1 on a, same boot; b's web1 the same QEMU)" \
	bash -c "on a web1 && [ '$(bootid)' = '$boot' ] && [ \$($FERRY -H b --json status web1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"pid\"])') = $bpid ]"
check "the bare web1 on b goes" $FERRY -H b destroy web1

# A bridge b lacks; then one of that name on b that is not the same segment.
ip netns exec ferry-a ip link add br-test type bridge && ip netns exec ferry-a ip link set br-test up
check "a guest on bridge br-test starts on a" $FERRY -H a create \
	"$(bare nic1 64 'vif = [ "mac=52:54:00:77:00:91,bridge=br-test" ]')"
$FERRY -H a check nic1 b --json > "$tmp/br.json"
check "no bridge on b: the check names it" bash -c "[ '$(verdict "$tmp/br.json" bridge)' = blocking ] && grep -q 'b has no bridge br-test' $tmp/br.json"
check "no bridge on b: migrate refuses with the same reason" same_reason "$tmp/br.json" bridge $FERRY -H a migrate nic1 b
check "no bridge on b: nic1 still on a, not on b" bash -c "on a nic1 && ! $FERRY -H b list | grep -q nic1"
ip netns exec ferry-b ip link add br-test type bridge && ip netns exec ferry-b ip link set br-test up
$FERRY -H a check nic1 b --json > "$tmp/l2.json"
check "br-test on b, another segment: the check names it" grep -q 'did not reach the source' "$tmp/l2.json"
check "another segment: migrate refuses with the same reason" same_reason "$tmp/l2.json" bridge $FERRY -H a migrate nic1 b
check "another segment: nic1 still on a" bash -c "on a nic1 && ! $FERRY -H b list | grep -q nic1"
check "--force overrides it (overridable), and the record says so" bash -c \
	"$FERRY -H a --json migrate nic1 b --force > $tmp/forced.json"
check "the record names the check overridden, and nic1 runs on b" bash -c \
	"python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))[\"preflight\"][\"forced\"] == \"bridge\"' $tmp/forced.json && on b nic1"
check "nic1 goes" $FERRY -H b destroy nic1

# An unshared disk, live, without --copy-storage.
truncate -s 16M /var/lib/ferry-lab/a/pool/disk1.img
check "a guest with a disk of a's own starts" $FERRY -H a create \
	"$(bare disk1 64 'disk = [ "target=/var/lib/ferry-lab/a/pool/disk1.img,format=raw,vdev=vda,access=w" ]')"
$FERRY -H a check disk1 b --json > "$tmp/disk.json"
check "unshared disk: the check names it" bash -c "[ '$(verdict "$tmp/disk.json" storage)' = blocking ] && grep -q 'use --copy-storage' $tmp/disk.json"
check "unshared disk: migrate refuses with the same reason" same_reason "$tmp/disk.json" storage $FERRY -H a migrate disk1 b
check "unshared disk: disk1 still on a, nothing on b" bash -c "on a disk1 && ! $FERRY -H b list | grep -q disk1 && ! ls /run/ferry-lab/b/disks 2>/dev/null | grep -q disk1"
check "unshared disk, cold: the mover takes it (ok, with the size to copy)" bash -c \
	"$FERRY -H a check disk1 b --cold suspend --json > $tmp/cold.json && [ '$(verdict "$tmp/cold.json" storage)' = ok ] || python3 -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))[\"checks\"] if c[\"id\"]==\"storage\"]; assert c[0][\"verdict\"]==\"ok\" and c[0][\"facts\"][\"room_bytes\"] > 0, c' $tmp/cold.json"
check "disk1 goes" $FERRY -H a destroy disk1

# b offers only qemu64, and lends its guests 128 MiB in all.
cp /run/ferry-lab/b.conf "$tmp/b-strict.conf"
printf 'cpu_models = [ "qemu64" ]\nguest_memory_mb = 128\n' >> "$tmp/b-strict.conf"
check "b's agent again, with cpu_models and guest_memory_mb" agent_restart b "$tmp/b-strict.conf"
check "a guest with CPU model Nehalem starts on a" $FERRY -H a create "$(bare cpu1 64 'cpu = "Nehalem"')"
$FERRY -H a check cpu1 b --json > "$tmp/cpu.json"
check "CPU model: the check names it" bash -c "[ '$(verdict "$tmp/cpu.json" cpu)' = blocking ] && grep -q 'does not offer Nehalem' $tmp/cpu.json"
check "CPU model: migrate refuses with the same reason" same_reason "$tmp/cpu.json" cpu $FERRY -H a migrate cpu1 b
check "CPU model: cpu1 still on a, not on b" bash -c "on a cpu1 && ! $FERRY -H b list | grep -q cpu1"
$FERRY -H a check web1 b --json > "$tmp/mem.json"
check "memory limit: the check names it (256 MiB against 128)" bash -c "[ '$(verdict "$tmp/mem.json" memory)' = blocking ] && grep -q 'guests may use 128 MiB' $tmp/mem.json"
check "memory limit: migrate refuses with the same reason" same_reason "$tmp/mem.json" memory $FERRY -H a migrate web1 b
check "memory limit: web1 on a, same boot" bash -c "on a web1 && [ '$(bootid)' = '$boot' ] && ! $FERRY -H b list | grep -q web1"
check "cpu1 goes" $FERRY -H a destroy cpu1
check "b's agent again, with its lab config" agent_restart b /run/ferry-lab/b.conf

# An agent of another protocol version answers for b.
key=/run/ferry-lab/key
printf 'a 10.78.0.1:7077 netns=ferry-client key=%s socket=/run/ferry-lab/a/ferryd.sock\nb 10.78.0.2:7102 netns=ferry-client key=%s\n' \
	$key $key > "$tmp/hosts"
FAKE_PEER_PROTOCOL=3 ip netns exec ferry-b "$FAKE_PEER" 10.78.0.2 7102 $key b '{}' > "$tmp/fake.log" 2>&1 &
fake=$!
sleep 0.3
$FERRY --hosts "$tmp/hosts" -H a check web1 b --json > "$tmp/proto.json"
check "protocol 3 there: the check names it" bash -c "[ '$(verdict "$tmp/proto.json" agent)' = blocking ] && grep -q 'protocol version 3' $tmp/proto.json"
check "protocol 3 there: migrate refuses with the same reason" same_reason "$tmp/proto.json" agent \
	$FERRY --hosts "$tmp/hosts" -H a migrate web1 b
kill $fake; wait $fake 2>/dev/null; fake=
check "web1 on a all along, same boot" bash -c "on a web1 && [ '$(bootid)' = '$boot' ]"

# And after all that, the healthy pair moves.
check "web1 moves a -> b" $FERRY -H a migrate web1 b
check "web1 serves from b" wait_http 10.77.0.2 20
finish

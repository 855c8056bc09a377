#!/bin/bash
# test_migration.sh: live migration on the real lab: repeated moves keep the
# same running guest; refusals change nothing; faults leave the guest running
# on the source; post-copy; storage copy; the stream is encrypted.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
CFG=build/guest/web1.cfg

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
check "create web1 on a" $FERRY -H a create $CFG
check "web1 serves" wait_http 10.77.0.2 90
boot=$(bootid)
check "the guest has a boot id" test -n "$boot"

# Repeated moves a -> b -> a, while a program in the guest rewrites 1 MiB of
# memory flat out and checks that no page ever loses a write (QEMU 7.2 under
# TCG lost 100-250 page writes per move before ferry's work-around).
guest a 'setsid ferry-guest --memcheck /tmp/mc --size 1024 </dev/null >/dev/null 2>&1 &' >/dev/null
sleep 1.5
mc0=$(guest a 'cat /tmp/mc')
check "the memory checker runs in the guest" sh -c "echo '$mc0' | grep -q 'errors=0'"
# Rounds 3-5 with --parallel 4 (multifd: five connections through the TLS
# relays, the main stream's first; a channel that overtook it stalled or
# broke 2 moves in 8 before the relays numbered their connections).
for i in 1 2 3 4 5; do
	par=$([ $i -ge 3 ] && echo "--parallel 4")
	for pair in "a b" "b a"; do
		set -- $pair
		if $FERRY -H $1 --json migrate web1 $2 $par > "$tmp/rec.json" 2> "$tmp/err"; then
			ok "round $i: live migrate $1 -> $2 $par"
			grep -E '"(pause_ms|total_ms|qemu_downtime_ms)"' "$tmp/rec.json" | tr -d ' \n' | sed 's/^/# /'; echo
		else
			not_ok "round $i: live migrate $1 -> $2 $par"; sed 's/^/#   /' "$tmp/err"
		fi
		check "round $i: web1 runs on $2 only" sh -c "[ \"\$(FERRY=$FERRY; . tests/integration/lib.sh; owners | tr '\n' ' ')\" = '$2 ' ]"
		check "round $i: same boot id after $1 -> $2" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ]"
	done
done
check "the record says TLS (by ferry's relay), pre-copy, 4 channels" sh -c "grep -q '\"tls\": true' $tmp/rec.json && grep -q '\"tls_by\": \"ferry\"' $tmp/rec.json && grep -q '\"mode\": \"precopy\"' $tmp/rec.json && grep -q '\"parallel\": 4' $tmp/rec.json"
check "no TLS relay is left after the moves" sh -c "! pgrep -x ferry-tunnel"
sleep 1.5
mc1=$(guest a 'cat /tmp/mc; kill $(sed "s/pid=\([0-9]*\).*/\1/" /tmp/mc)')
note "memory checker before: $mc0; after 10 moves: $mc1"
gen() { echo "$1" | sed -n 's/.*gen=\([0-9]*\).*/\1/p'; }
check "no guest page lost a write in 10 moves" sh -c "echo '$mc1' | grep -q ' errors=0' && [ '$(gen "$mc1")' -gt '$(gen "$mc0")' ]"
check "history on a lists the moves" sh -c "[ \$($FERRY -H a --json history web1 | grep -c '\"status\": \"completed\"') -ge 5 ]"

# Refusals change nothing.
check_fails "a move to the host it is on is refused" "already runs on host a|same" $FERRY -H a migrate web1 a
check_fails "a move to an unknown host is refused" "unknown host 'c'" $FERRY -H a migrate web1 c
check_fails "a move of an unknown guest is refused" "no VM named web9 on host a" $FERRY -H a migrate web9 b
check_fails "a bad option is refused" "postcopy is off, on or auto" $FERRY -H a migrate web1 b --postcopy sometimes
sed 's/,shared=yes//' $CFG > build/guest/web1-local.cfg
check "web1 still runs on a only" sh -c "[ \"\$(FERRY=$FERRY; . tests/integration/lib.sh; owners | tr '\n' ' ')\" = 'a ' ]"

# A destination agent with another key: refused, guest untouched.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmp/other.key"; chmod 600 "$tmp/other.key"
kill "$(cat /run/ferry-lab/b/ferryd.lock)"; wait_agent_stopped b
sed "s|key_file = .*|key_file = \"$tmp/other.key\"|" /run/ferry-lab/b.conf > "$tmp/b-other.conf"
ip netns exec ferry-b ${FERRY%ferry}ferryd -c "$tmp/b-other.conf" 2>>/run/ferry-lab/b/ferryd.log &
for i in $(seq 50); do [ -S /run/ferry-lab/b/ferryd.sock ] && ! flock -n /run/ferry-lab/b/ferryd.lock true && break; sleep 0.1; done
check_fails "a destination with another key is refused" "keys do not match" $FERRY -H a migrate web1 b
check "after the refusal web1 runs on a, same boot id" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && $FERRY -H a list | grep -qE '^web1 +a +running'"
kill "$(cat /run/ferry-lab/b/ferryd.lock)"; wait_agent_stopped b
check "b's agent back with the lab key" $FERRY lab up

# A destination host whose agent is down.
kill "$(cat /run/ferry-lab/b/ferryd.lock)"; wait_agent_stopped b
check_fails "a move to a host that is down is refused" "host b is unreachable|cannot reach host b" $FERRY -H a migrate web1 b
check "web1 still runs on a, same boot id" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && $FERRY -H a list | grep -qE '^web1 +a +running'"
check "b's agent back" $FERRY lab up

# --cancel during a slow migration.
$FERRY -H a migrate web1 b --bandwidth 15 > "$tmp/cancel.out" 2>&1 &
mig=$!
sleep 2
check "--cancel is accepted" $FERRY -H a migrate --cancel web1
wait $mig; rc=$?
check "the cancelled migration fails with the reason" sh -c "[ $rc != 0 ] && grep -q 'cancelled by the user.*keeps running on host a' '$tmp/cancel.out'"
check "after --cancel web1 runs on a only, same boot id" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && [ \"\$(FERRY=$FERRY; . tests/integration/lib.sh; owners | tr '\n' ' ')\" = 'a ' ]"

# kill_dst_midway SRC DST OUT [OPTIONS]: a move SRC -> DST at 15 MB/s whose
# destination QEMU is killed 1.5 s after it appears; rc: the move's status.
kill_dst_midway() {
	local src=$1 dst=$2 out=$3 dpid i; shift 3
	$FERRY -H $src migrate web1 $dst --bandwidth 15 "$@" > "$out" 2>&1 &
	mig=$!
	for i in $(seq 100); do dpid=$($FERRY -H $dst --json list | sed -n 's/.*"pid": \([0-9][0-9]*\).*/\1/p'); [ -n "$dpid" ] && [ "$dpid" != 0 ] && break; sleep 0.1; done
	sleep 1.5
	kill -9 "$dpid" 2>/dev/null
	wait $mig; rc=$?
}
# The destination QEMU dies mid-migration.
kill_dst_midway a b "$tmp/kill.out"
check "killing the destination QEMU fails the migration" sh -c "[ $rc != 0 ] && grep -q 'keeps running on host a' '$tmp/kill.out'"
check "the guest still runs on a with the same boot id" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && $FERRY -H a list | grep -qE '^web1 +a +running'"
check "b has no web1 left" sh -c "! $FERRY -H b list | grep -q web1"

# The migration link drops mid pre-copy.
$FERRY -H a migrate web1 b --bandwidth 15 > "$tmp/link.out" 2>&1 &
mig=$!
sleep 2
ip -n ferry-b link set mig0 down
wait $mig; rc=$?
ip -n ferry-b link set mig0 up
check "a dropped link fails the pre-copy migration" sh -c "[ $rc != 0 ] && grep -q 'stalled' '$tmp/link.out'"
check "after the dropped link the guest runs on a, same boot id" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && $FERRY -H a list | grep -qE '^web1 +a +running'"
for i in $(seq 150); do $FERRY -H b list 2>/dev/null | grep -q web1 || break; sleep 0.1; done
check "b dropped its half-made copy" sh -c "! $FERRY -H b list | grep -q web1"
check "and web1 still moves afterwards" $FERRY -H a migrate web1 b
check "and back" $FERRY -H b migrate web1 a

# Cold, suspend: the guest is paused for the whole copy, then resumed on b.
check_fails "--cold with --postcopy is refused" "cold migration takes no --postcopy" $FERRY -H a migrate web1 b --cold suspend --postcopy on
check_fails "--cold with an unknown mode is refused" "--cold is suspend" $FERRY -H a migrate web1 b --cold later
check "web1 untouched on a after the refusals" sh -c "$FERRY -H a list | grep -qE '^web1 +a +running' && ! $FERRY -H b list | grep -q web1"
check "--cold suspend moves web1 a -> b" sh -c "$FERRY -H a --json migrate web1 b --cold suspend > $tmp/cold.json"
check "the record says suspend" grep -q '"mode": "suspend"' "$tmp/cold.json"
# Paused for the copy of ~90 MB: hundreds of ms, where a live move pauses ~10.
cold_pause=$(sed -n 's/.*"pause_ms": \([0-9.]*\).*/\1/p' "$tmp/cold.json")
check "the pause spans the copy ($cold_pause ms > 100 ms)" awk -v p="$cold_pause" 'BEGIN { exit !(p > 100) }'
check "after --cold suspend: same boot id, web1 on b only" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && [ \"\$(FERRY=$FERRY; . tests/integration/lib.sh; owners | tr '\n' ' ')\" = 'b ' ]"
note "figure: --cold suspend: $(tr -d ' \n' < $tmp/cold.json | grep -oE '"(total_ms|pause_ms|bytes)":[0-9.]+' | paste -sd ' ' -)"
# The destination QEMU dies during a cold move: the guest runs again on b.
kill_dst_midway b a "$tmp/coldkill.out" --cold suspend
check "killing the destination QEMU fails the cold move" sh -c "[ $rc != 0 ] && grep -q 'keeps running on host b' '$tmp/coldkill.out'"
check "the guest runs again on b (resumed, same boot id)" sh -c "[ \"\$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)\" = '$boot' ] && $FERRY -H b list | grep -qE '^web1 +b +running'"

# Cold, reboot: power off on b (ACPI), boot on a from the same config.
# Refused first when a cannot take it: a VM named web1 already runs there (a
# bare one: no disk, no NIC, so it clashes with nothing else).
sed -n '/^\(kernel\|ramdisk\)/p' $CFG > "$tmp/clash.cfg"
printf 'name = "web1"\nmemory = 64\nvcpus = 1\n' >> "$tmp/clash.cfg"
sed -i "s|\"vmlinuz\"|\"$PWD/build/guest/vmlinuz\"|; s|\"initrd.img\"|\"$PWD/build/guest/initrd.img\"|" "$tmp/clash.cfg"
check "a bare VM named web1 starts on a" $FERRY -H a create "$tmp/clash.cfg"
check_fails "--cold reboot to a host that has a web1 is refused" "web1 cannot move to host a: guest name free: a already has a guest named web1" \
	$FERRY -H b migrate web1 a --cold reboot
id=$(bootid)
check "web1 untouched on b (same boot id)" sh -c "[ '$id' = '$boot' ] && $FERRY -H b list | grep -qE '^web1 +b +running'"
check "the bare web1 goes" $FERRY -H a destroy web1
# A guest that ignores the power button: the move gives up after --timeout.
guest b 'mv /etc/acpi/PWRF /etc/acpi/PWRF.off' >/dev/null
check_fails "--cold reboot of a guest that does not power off fails after --timeout" "did not power off within 3 s.*keeps running on host b" \
	$FERRY -H b migrate web1 a --cold reboot --timeout 3
id=$(bootid)
check "it still runs on b, same boot id" sh -c "[ '$id' = '$boot' ] && $FERRY -H b list | grep -qE '^web1 +b +running'"
guest b 'mv /etc/acpi/PWRF.off /etc/acpi/PWRF' >/dev/null
check "--cold reboot moves web1 b -> a" sh -c "$FERRY -H b --json migrate web1 a --cold reboot > $tmp/reboot.json"
check "the record says reboot" grep -q '"mode": "reboot"' "$tmp/reboot.json"
check "web1 serves again after its boot on a" wait_http 10.77.0.2 120
id=$(bootid)
check "a new boot (not the same running guest), on a only" sh -c "[ -n '$id' ] && [ '$id' != '$boot' ] && [ \"\$(FERRY=$FERRY; . tests/integration/lib.sh; owners | tr '\n' ' ')\" = 'a ' ]"
check "history on b lists the reboot move" sh -c "$FERRY -H b --json history web1 | grep -q '\"mode\": \"reboot\"'"
# The destination goes away while the guest powers off (its power-button
# handler made 3 s slower): the source boots the guest again, nothing lost.
boot2=$(bootid)
guest a 'mv /etc/acpi/PWRF /etc/acpi/PWRF.real && mkdir /etc/acpi/PWRF && printf "#!/bin/sh\nsleep 3\nexec /etc/acpi/PWRF.real/00000080\n" > /etc/acpi/PWRF/00000080 && chmod 755 /etc/acpi/PWRF/00000080' >/dev/null
$FERRY -H a migrate web1 b --cold reboot > "$tmp/reboot-fail.out" 2>&1 &
mig=$!
sleep 1
kill "$(cat /run/ferry-lab/b/ferryd.lock)"; wait_agent_stopped b
wait $mig; rc=$?
check "a destination gone during the power-off fails the move" sh -c "[ $rc != 0 ] && grep -q 'could not boot web1.*was booted again on host a' '$tmp/reboot-fail.out'"
sed 's/^/#   /' "$tmp/reboot-fail.out"
check "web1 serves again from a after its boot there" wait_http 10.77.0.2 120
id=$(bootid)
check "a new boot on a, the only owner" sh -c "[ -n '$id' ] && [ '$id' != '$boot2' ] && $FERRY -H a list | grep -qE '^web1 +a +running'"
check "b's agent back" $FERRY lab up
check "and b has no web1" sh -c "! $FERRY -H b list | grep -q web1"
finish

#!/bin/bash
# test_evacuate.sh: ferry evacuate empties a lab host of three booted guests:
# --dry-run changes nothing; a guest its destination refuses (b runs a guest
# of the same name) stays on a, serving, and is named while the others move;
# then every guest leaves a, each serving from b.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
P="$PWD/$FERRY"

# evac_cfg N [NAME]: a 128 MiB lab guest at 10.77.0.1N with its own disk.
evac_cfg() {
	local n=$1 name=${2:-evac$1}
	cp build/guest/web1-data.img "$tmp/$name-$n.img"
	sed -e "s/^name = .*/name = \"$name\"/" -e 's/^memory = .*/memory = 128/' \
	    -e "s/ferry.name=web1/ferry.name=$name/" -e "s/ferry.ip=10.77.0.2/ferry.ip=10.77.0.1$n/" \
	    -e "s/52:54:00:77:00:02/52:54:00:77:00:1$n/" -e "s|target=web1-data.img|target=$tmp/$name-$n.img|" \
	    -e 's|^kernel = "|kernel = "'"$PWD"'/build/guest/|' -e 's|^ramdisk = "|ramdisk = "'"$PWD"'/build/guest/|' \
	    build/guest/web1.cfg > "$tmp/$name-$n.cfg"
	echo "$tmp/$name-$n.cfg"
}
on() { $FERRY -H "$1" list 2>/dev/null | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' '; }
# serves N: guest N answers HTTP from the client (where it runs: list).
serves() { $FERRY lab exec client curl -s -m 3 -o /dev/null -w '%{http_code}' "http://10.77.0.1$1/" 2>/dev/null | grep -q 200; }

# metric FILE SERIES: the value of one series of an agent's metrics file,
# read by the Prometheus client library's own parser (which fails on a file
# that is not valid text exposition format).
metric() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
want = sys.argv[2]
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        key = s.name + '{' + ','.join('%s="%s"' % kv for kv in sorted(s.labels.items())) + '}'
        if key == want:
            print(int(s.value))
            sys.exit(0)
sys.exit(1)
PY
}
MOVES='ferry_migrations_total{mode="precopy",outcome="completed"}'
GAPS='ferry_migration_client_gap_seconds_count{mode="precopy",probe="icmp"}'

$FERRY lab down >/dev/null 2>&1
check "lab up" $FERRY lab up
check "each agent wrote its metrics file at start, no move counted" sh -c "[ \"\$($(declare -f metric); metric /run/ferry-lab/a/metrics.prom '$MOVES')\" = 0 ] && [ -f /run/ferry-lab/b/metrics.prom ]"
for n in 1 2 3; do
	check "create evac$n on a" $FERRY -H a create "$(evac_cfg $n)"
done
for n in 1 2 3; do
	check "evac$n serves" wait_http 10.77.0.1$n 120
done

check "--dry-run prints a plan of three moves to b" sh -c "$FERRY evacuate a --dry-run > $tmp/dry.out 2>&1 && grep -q 'evac1' $tmp/dry.out && [ \$(grep -cE '^[123] +evac[123] +128 .* b +' $tmp/dry.out) = 3 ]"
check "--dry-run changed nothing" test "$(on a)/$(on b)" = "evac1 evac2 evac3 /"
check_fails "a host that is not in the hosts file is refused" "unknown host 'nowhere'" $FERRY evacuate a --to nowhere
check_fails "--to the host being emptied is refused" "the host being emptied" $FERRY evacuate a --to a
check_fails "--max-parallel 0 is refused" "--max-parallel needs a whole number from 1 to 16" $FERRY evacuate a --max-parallel 0
check_fails "--cold is not an option (evacuate moves live)" "unknown option --cold" $FERRY evacuate a --cold suspend

# b runs a guest named evac3 (another one): b refuses a's evac3.
check "b runs another guest named evac3" $FERRY -H b create "$(evac_cfg 4 evac3)"
$FERRY lab exec client "$P" evacuate a --json --probe evac1=10.77.0.11:icmp > "$tmp/part.json" 2> "$tmp/part.err"
rc=$?
check "evacuate exits non-zero when a guest stays" test $rc = 1
check "it names the guest that stayed and why" sh -c "grep -q 'still on a: evac3' $tmp/part.err && python3 -c \"
import json, sys
s = json.load(open('$tmp/part.json'))
g = {x['name']: x for x in s['guests']}
ok = g['evac3']['status'] == 'stays' or g['evac3']['status'] == 'stayed'
ok = ok and 'evac3' in g['evac3']['error'] and g['evac1']['status'] == 'completed' and g['evac2']['status'] == 'completed'
ok = ok and g['evac1']['net_gap_ms'] > 0 and g['evac1']['pause_ms'] > 0 and s['total_ms'] > 0
sys.exit(0 if ok else 1)\""
check "a's metrics: two more completed moves, one with a client's ICMP gap" sh -c "[ \"\$($(declare -f metric); metric /run/ferry-lab/a/metrics.prom '$MOVES')\" = 2 ] && [ \"\$($(declare -f metric); metric /run/ferry-lab/a/metrics.prom '$GAPS')\" = 1 ]"
check "evac3 stayed on a, the others are on b" test "$(on a)/$(on b)" = "evac3 /evac1 evac2 evac3 "
check "evac1, evac2 (on b) and a's evac3 serve" sh -c "$(declare -f serves); FERRY=$FERRY; serves 1 && serves 2 && serves 3"

# b's evac3 goes; the two on b come back; then a is emptied whole.
check "b's evac3 destroyed" $FERRY -H b destroy evac3
check "evac1 back on a" sh -c "$FERRY -H b migrate evac1 a >/dev/null"
check "b's metrics file counts that move (0 -> 1)" sh -c "[ \"\$($(declare -f metric); metric /run/ferry-lab/b/metrics.prom '$MOVES')\" = 1 ]"
check "evac2 back on a" sh -c "$FERRY -H b migrate evac2 a >/dev/null"
check "evacuate a moves all three" sh -c "$FERRY evacuate a --max-parallel 3 > $tmp/all.out 2>&1 || { cat $tmp/all.out; exit 1; }"
check "a is empty, the three run on b" test "$(on a)/$(on b)" = "/evac1 evac2 evac3 "
check "each serves from b" sh -c "$(declare -f serves); FERRY=$FERRY; serves 1 && serves 2 && serves 3"
check "the summary has a completed line per guest and the total" sh -c "cat $tmp/all.out; [ \$(grep -cE '^evac[123] +b +completed +precopy' $tmp/all.out) = 3 ] && grep -q 'evacuation of a took' $tmp/all.out"
note "figure: $(grep 'evacuation of a took' $tmp/all.out)"
check "an empty host: nothing to move" sh -c "$FERRY evacuate a | grep -q 'a has no running guest to move'"
finish

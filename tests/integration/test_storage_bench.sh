#!/bin/bash
# test_storage_bench.sh: ferry storage bench on the lab's three pools (dir,
# nfs, smb) with the Debian Apache guest, short: every job measured on both
# sides, Apache answering cold and warm, the moves on the shared pools with no
# disk byte copied; the table, the CSV and the HTML report (rendered in
# headless Chromium) from the same record. Nothing is left behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

$FERRY lab down >/dev/null 2>&1
check "the bench guest is built (make apache-guest)" test -s build/apache-guest/rootfs.img -a -s build/apache-guest/wrk.lua
check "its file set is larger than the guest's RAM (192 MiB)" sh -c "[ \$(sed -n 's/^bytes=//p' build/apache-guest/fileset.txt) -gt $((192 * 1048576)) ]"
check "lab up" $FERRY lab up

# Bad input first: a clear error, nothing started.
check_fails "an unknown pool is refused before anything starts" "no pool named nosuch on host a" \
	$FERRY storage bench lab-nfs nosuch
check_fails "no pool at all is a usage error" "needs one or more pools" $FERRY storage bench
check_fails "a bad --jobs is refused" "--jobs needs a whole number" $FERRY storage bench lab-nfs --jobs 0
check "nothing was started for them" sh -c "! $FERRY -H a list | grep -q sbench && ! $FERRY -H a vol list lab-nfs | grep -q sbench"

start=$(date +%s)
check "storage bench on lab-dir, lab-nfs and lab-smb (1 run, short jobs)" sh -c \
	"$FERRY --json storage bench lab-dir lab-nfs lab-smb --runs 1 --seconds 1 --jobs 1 --depths 32 --wrk-seconds 2 \
	 --report $tmp/storage.html > $tmp/sb.json 2> $tmp/sb.err"
note "figure: storage bench (3 pools, short) $(( $(date +%s) - start )) s"
sed 's/^/# /' "$tmp/sb.err" | tail -5
py() { python3 -c "import json,sys; r=json.load(open('$tmp/sb.json')); $1"; }
check "the record names the three pools, nfs and smb shared" py "p={x['name']:x for x in r['pools']}; sys.exit(not (p['lab-nfs']['shared'] and p['lab-smb']['shared'] and not p['lab-dir']['shared']))"
check "raw I/O: 4 jobs on both sides of each pool, each moved data" py "
raw=r['raw']
sys.exit(not (len(raw) == 3*2*4 and all(x['mbps'] > 0 and x['iops'] > 0 and x['p99_ms'] >= x['p50_ms'] > 0 for x in raw)))"
check "the client's CPU per MB is measured everywhere, the server's on nfs and smb" py "
raw=r['raw']
sys.exit(not (all(x['client_cpu_ms_per_mb'] >= 0 for x in raw) and all('server_cpu_ms_per_mb' in x for x in raw if x['pool'] != 'lab-dir') and sum(x['server_cpu_ms_per_mb'] for x in raw if x['pool'] == 'lab-nfs') > 0))"
check "Apache answered wrk cold and warm on each pool, without errors" py "
w=r['web']
sys.exit(not (len(w) == 6 and all(x['rps'] > 0 and x['errors'] == 0 for x in w)))"
check "moves on the shared pools only: live and cold, no disk byte copied" py "
m=r['moves']
sys.exit(not (sorted((x['pool'], x['kind']) for x in m) == [('lab-nfs','cold'),('lab-nfs','live'),('lab-smb','cold'),('lab-smb','live')] and all(x['disk_bytes'] == 0 for x in m)))"
check "the client saw each move: an ICMP and an HTTP gap, the cold one longer" py "
m={(x['pool'],x['kind']):x for x in r['moves']}
sys.exit(not all(m[(p,'cold')]['net_gap_ms'] > m[(p,'live')]['pause_ms'] and m[(p,k)]['service_gap_ms'] > 0 for p in ('lab-nfs','lab-smb') for k in ('live','cold')))"
check "the summary has medians with a CI" py "s=r['summary']['raw'][0]['mbps']; sys.exit(not (s['ci95'][0] <= s['median'] <= s['ci95'][1]))"

check "the table from the record" sh -c "$FERRY storage bench --from-json $tmp/sb.json > $tmp/table"
check "the table has the raw, Apache and move sections" sh -c "grep -q '^Raw I/O' $tmp/table && grep -qE '^lab-smb +guest +rand-read +32 ' $tmp/table && grep -qE '^lab-nfs +cold ' $tmp/table && grep -qE '^lab-nfs +live ' $tmp/table"
check "the CSV from the record: a line per measurement" sh -c "$FERRY storage bench --from-json $tmp/sb.json --csv > $tmp/sb.csv && [ \$(grep -c '^raw,' $tmp/sb.csv) = 24 ] && [ \$(grep -c '^web,' $tmp/sb.csv) = 6 ] && [ \$(grep -c '^move,' $tmp/sb.csv) = 4 ]"
check_fails "--from-json of something else is refused" "not a storage bench record" $FERRY storage bench --from-json /etc/hostname

check "chromium takes a screenshot of the report" sh -c "$(declare -f chrome); tmp=$tmp; chrome --window-size=1200,2600 --screenshot=$tmp/storage.png file://$tmp/storage.html 2>$tmp/chrome1.err >/dev/null; [ \$(stat -c %s $tmp/storage.png) -gt 20000 ]"
chrome --dump-dom "file://$tmp/storage.html" > "$tmp/storage.dom" 2> "$tmp/chrome2.err"
check "the rendered page has the pools side by side: bar charts with a bar per pool" sh -c "[ \$(grep -o '<svg class=\"bars\"' $tmp/storage.dom | wc -l) -ge 15 ] && grep -q 'data-chart=\"raw-guest-rand-read\"' $tmp/storage.dom && for p in lab-dir lab-nfs lab-smb; do grep -q \"<g class=\\\"bar\\\" data-pool=\\\"\$p\\\"\" $tmp/storage.dom || exit 1; done"
check "the moves chart has nfs and smb, and the spread is drawn" sh -c "grep -q 'data-chart=\"move-icmp\"' $tmp/storage.dom && grep -q 'id=\"storage\"' $tmp/storage.dom"
check "no console errors while rendering" sh -c "! grep -h 'CONSOLE' $tmp/chrome1.err $tmp/chrome2.err"
cp "$tmp/storage.png" build/test-logs/storage-report.png 2>/dev/null

check "nothing left: no bench VM on a or b" sh -c "! $FERRY -H a list | grep -q sbench && ! $FERRY -H b list | grep -q sbench"
check "nothing left: no bench volume in any pool" sh -c "for p in lab-dir lab-nfs lab-smb; do $FERRY -H a vol list \$p | grep -q sbench && exit 1; done; exit 0"
none_alive() { for p in $(pgrep -x "$1"); do alive "$p" && return 1; done; return 0; }
check "nothing left: no qemu-nbd, fio or wrk" sh -c "$(declare -f alive none_alive); none_alive qemu-nbd && none_alive wrk && none_alive fio"
check "lab down" $FERRY lab down
finish

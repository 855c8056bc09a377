# lib.sh: helpers for integration tests: TAP output, the lab, cleanup.
# Sourced by tests/integration/test_*.sh; each test runs from the repo root.
FERRY=${FERRY:-build/ferry}
# Temporary files under the checkout: the lab's agents take VM files only
# from their vm_dirs (the folder lab up ran in, and /run/ferry-lab/images).
export TMPDIR=$PWD/build/test-tmp
mkdir -p "$TMPDIR"
T_N=0
T_FAIL=0

ok() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
not_ok() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"; }
# check DESC CMD...: ok if CMD succeeds.
check() { local d=$1; shift; if "$@" >/tmp/ferry-test-out.$$ 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/#   /' /tmp/ferry-test-out.$$; fi; }
# check_fails DESC PATTERN CMD...: ok if CMD fails and its output matches PATTERN.
check_fails() {
	local d=$1 pat=$2; shift 2
	if "$@" >/tmp/ferry-test-out.$$ 2>&1; then
		not_ok "$d (it succeeded)"; sed 's/^/#   /' /tmp/ferry-test-out.$$
	elif grep -qE -- "$pat" /tmp/ferry-test-out.$$; then
		ok "$d"
	else
		not_ok "$d (no '$pat' in the output)"; sed 's/^/#   /' /tmp/ferry-test-out.$$
	fi
}
note() { echo "# $*"; }
# dump_lab_logs: the ends of the lab's agent, QEMU and serial logs, as TAP
# comments, so a failure on a machine nobody can log into can still be read.
dump_lab_logs() {
	local f
	for f in /run/ferry-lab/*/ferryd.log /run/ferry-lab/*/vms/*/qemu.log /run/ferry-lab/*/vms/*/serial.log; do
		[ -s "$f" ] || continue
		echo "# --- last lines of $f"
		tail -n 25 "$f" | tr -d '\r' | cut -c1-300 | sed 's/^/#   /'
	done
}
finish() {
	rm -f /tmp/ferry-test-out.$$
	[ "$T_FAIL" = 0 ] || dump_lab_logs
	# The whole logs too, for a failure nobody can reproduce at will.
	if [ "$T_FAIL" != 0 ] && [ -d /run/ferry-lab ]; then
		local keep=build/test-logs/lab-$(basename "$0" .sh)
		rm -rf "$keep"; mkdir -p "$keep"
		for f in /run/ferry-lab/*/ferryd.log /run/ferry-lab/*/vms/*/qemu.log; do
			[ -f "$f" ] && cp "$f" "$keep/$(echo "${f#/run/ferry-lab/}" | tr / _)"
		done
		echo "# full lab logs kept in $keep"
	fi
	echo "1..$T_N"
	[ "$T_FAIL" = 0 ]
}

# Waits up to $2 s for the guest at $1 to answer HTTP from the client.
wait_http() {
	local ip=$1 limit=$2 start now
	start=$(date +%s%N)
	while :; do
		if $FERRY lab exec client curl -s -m 1 -o /dev/null -w '%{http_code}' "http://$ip/" 2>/dev/null | grep -q 200; then
			now=$(date +%s%N)
			echo $(((now - start) / 1000000))
			return 0
		fi
		now=$(date +%s%N)
		[ $(((now - start) / 1000000000)) -ge "$limit" ] && return 1
		sleep 0.2
	done
}

# alive PID: the process exists and is not a zombie.
alive() { local s; s=$(cat /proc/$1/stat 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
dead() { ! alive "$1"; }
no_ferryd() { dead "$1" || return 1; for p in $(pgrep -x ferryd); do alive "$p" && return 1; done; return 0; }
# wait_agent_stopped HOST: waits up to 20 s for the lab agent to release its lock.
wait_agent_stopped() {
	for i in $(seq 200); do flock -n /run/ferry-lab/$1/ferryd.lock true && return 0; sleep 0.1; done
	return 1
}

# guest HOST CMD: runs CMD in web1's shell on the serial console of HOST and
# prints its output (lines marked OUT: by the guest, unmarked here).
guest() {
	local host=$1; shift
	echo "( $* ) 2>&1 | sed 's/^/OUT:/'" | timeout 20 $FERRY -H "$host" console web1 2>/dev/null | tr -d '\r' | sed -n 's/^OUT://p'
}
# owner: the hosts where web1 runs (one line each).
owners() { for h in a b; do $FERRY -H $h list 2>/dev/null | grep -qE '^web1 +[a-z]+ +running' && echo $h; done; }
bootid() { $FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid; }

# chrome ARGS...: headless Chromium as the report tests run it; its profile
# in $tmp/chromium (each test's own temporary folder).
chrome() { timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	--disable-component-update --disable-sync --user-data-dir="$tmp/chromium" --enable-logging=stderr --v=0 "$@"; }

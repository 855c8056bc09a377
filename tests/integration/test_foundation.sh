#!/bin/bash
# test_foundation.sh: the lab, ferryd on a and b, a guest created, served,
# listed, re-attached after an agent restart, shut down, destroyed; keys;
# bad input; lab down leaves nothing behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
tmp=$(mktemp -d)
CFG=build/guest/web1.cfg

$FERRY lab down >/dev/null 2>&1
check "lab up builds the lab" $FERRY lab up
for ns in ferry-net ferry-a ferry-b ferry-client ferry-storage; do
	check "namespace $ns exists" test -e /run/netns/$ns
done
check "STP is off on a's VM bridge" sh -c "[ \$($FERRY lab exec a cat /sys/class/net/br-vm/bridge/stp_state) = 0 ]"
check "STP is off on the switch" sh -c "[ \$(ip netns exec ferry-net cat /sys/class/net/br-switch/bridge/stp_state) = 0 ]"
pid_a=$(cat /run/ferry-lab/a/ferryd.lock)
check "lab up is idempotent (same agents)" sh -c "$FERRY lab up >/dev/null && [ \$(cat /run/ferry-lab/a/ferryd.lock) = $pid_a ]"
check "the client reaches host a on the management network" $FERRY lab exec client ping -c 1 -W 2 10.78.0.1
check "hosts a and b are not on the VM network" sh -c "! $FERRY lab exec client ping -c 1 -W 1 10.78.0.1 -I eth0"
check "ferryd on a answers over TLS" sh -c "$FERRY -H a --json list | grep -q '\"host\": \"a\"'"
check "ferryd on b answers over TLS" sh -c "$FERRY -H b --json list | grep -q '\"host\": \"b\"'"
check "ferryd listens only where asked (unix + tcp 10.78.0.1:7077)" sh -c \
	"[ \"\$($FERRY lab exec a ss -Htln | awk '{print \$4}' | sort | tr '\n' ' ')\" = '10.78.0.1:7077 ' ]"

# Bad input: clear error, nothing started.
printf 'name = "web1"\nmemory = 256\nmemroy = 3\nkernel = "vmlinuz"\n' > "$tmp/bad.cfg"
check_fails "a malformed config is refused with file:line" "bad.cfg:3: unknown key 'memroy'" $FERRY -H a create "$tmp/bad.cfg"
sed "s|^kernel = .*|kernel = \"$tmp/no-such-kernel\"|" $CFG > "$tmp/nokernel.cfg"
sed -i "s|\"initrd.img\"|\"$PWD/build/guest/initrd.img\"|; s|\"web1-data.img|\"$PWD/build/guest/web1-data.img|" "$tmp/nokernel.cfg"
check_fails "a missing kernel is one clear sentence" "nokernel.cfg:[0-9]+: kernel .*no-such-kernel cannot be used on host a: No such file" $FERRY -H a create "$tmp/nokernel.cfg"
sed 's|^vif = .*|vif = [ "mac=52:54:00:77:00:02,bridge=br-nope" ]|' $CFG > build/guest/nobridge.cfg
check_fails "a missing bridge is refused" "bridge br-nope .* does not exist on host a" $FERRY -H a create build/guest/nobridge.cfg
rm -f build/guest/nobridge.cfg
sed 's|^accel = .*||; $a accel = "kvm"' $CFG > build/guest/kvm.cfg
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	check_fails "forcing KVM where it cannot run a guest is refused" "KVM cannot run a guest on this host" $FERRY -H a create build/guest/kvm.cfg
fi
rm -f build/guest/kvm.cfg
# A local agent on its Unix socket only, with no QEMU where it looks.
printf 'host = "solo"\nlisten = [ "unix:%s/solo.sock" ]\nstate_dir = "%s/solo"\nqemu = "/nonexistent/qemu-system-x86_64"\nvm_dirs = [ "%s/build" ]\n' "$tmp" "$tmp" "$PWD" > "$tmp/solo.conf"
${FERRY%ferry}ferryd -c "$tmp/solo.conf" 2> "$tmp/solo.log" &
solo=$!
for i in $(seq 50); do [ -S "$tmp/solo.sock" ] && break; sleep 0.1; done
check "a local agent answers on its Unix socket" sh -c "$FERRY --socket $tmp/solo.sock --json list | grep -q '\"host\": \"solo\"'"
# Global options before or after the verb, as git/kubectl/virsh users expect.
check "global options after the verb: ferry list --socket S --json" sh -c "$FERRY list --socket $tmp/solo.sock --json | grep -q '\"host\": \"solo\"'"
check "global options mixed: ferry --json list --socket S" sh -c "$FERRY --json list --socket=$tmp/solo.sock | grep -q '\"host\": \"solo\"'"
check "history --json after the verb" sh -c "$FERRY history --socket $tmp/solo.sock --json --last 5 | grep -q '\"migrations\"'"
check_fails "an unknown option is an error on every verb" "ferry list: unknown option --bogus" $FERRY list --socket $tmp/solo.sock --bogus
check_fails "a stray argument is an error" "ferry list: unexpected argument 'extra'" $FERRY list --socket $tmp/solo.sock extra
check_fails "numbers are parsed one way: trailing text refused" "--timeout needs a whole number from 1 to 86400, not '5s'" $FERRY --timeout 5s list
check_fails "numbers are parsed one way: the verb's own --timeout too" "--timeout needs a whole number from 1 to 3600, not '-1'" $FERRY shutdown web1 --timeout -1
check_fails "lab up with an unknown option builds nothing" "ferry lab up: unknown option --bogus" $FERRY lab up --bogus
check_fails "a missing QEMU is one clear sentence" "QEMU \(/nonexistent/qemu-system-x86_64\) is not installed on host solo" $FERRY --socket "$tmp/solo.sock" create $CFG
check "the Unix socket is for its owner only" sh -c "[ \$(( 0\$(stat -c %a $tmp/solo.sock) & 077 )) = 0 ]"
check_fails "a second agent on the same state folder is refused" "another ferryd already runs" ${FERRY%ferry}ferryd -c "$tmp/solo.conf"
printf 'host = "x"\nlisten = [ "tcp:127.0.0.1:7999" ]\nstate_dir = "%s/x"\n' "$tmp" > "$tmp/nokey.conf"
check_fails "an agent config with TCP but no key is refused" "nokey.conf: a tcp listener needs 'key_file'" ${FERRY%ferry}ferryd -c "$tmp/nokey.conf"
kill $solo; wait $solo 2>/dev/null
check_fails "the CLI says when no local agent runs" "cannot reach the local agent .*is ferryd running" $FERRY --socket "$tmp/solo.sock" list
check_fails "an unknown host is refused" "unknown host 'c'" $FERRY -H c list
check "nothing was started by the bad requests" sh -c "[ \$($FERRY -H a --json list | grep -c '\"name\"') = 0 ]"

# The guest.
t0=$(date +%s%N)
check "ferry -H a create web1" $FERRY -H a create $CFG
if ms=$(wait_http 10.77.0.2 90); then
	total=$((($(date +%s%N) - t0) / 1000000))
	ok "the client fetches web1's page over HTTP"
	note "figure: ferry create to first HTTP answer: ${total} ms (TCG)"
else
	not_ok "the client fetches web1's page over HTTP"
fi
check "the page is the one on the data disk" sh -c "$FERRY lab exec client curl -s -m 2 http://10.77.0.2/ | grep -q 'ferry test guest'"
check "list shows web1 running on a" sh -c "$FERRY -H a list | grep -E '^web1 +a +running'"
check "list on b does not show web1" sh -c "! $FERRY -H b list | grep -q web1"
check_fails "a second web1 on a is refused" "already exists on host a" $FERRY -H a create $CFG

# Keys: a wrong key is refused, the agent keeps serving the right one.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmp/wrong.key"; chmod 600 "$tmp/wrong.key"
check_fails "a client with a wrong key is refused" "refused us.*keys do not match" $FERRY -H a --key "$tmp/wrong.key" list
check "a good client is served right after" sh -c "$FERRY -H a list | grep -q web1"
check "the agent logged the refusal" grep -q 'client refused' /run/ferry-lab/a/ferryd.log
chmod 644 "$tmp/wrong.key"
check_fails "a key file open to others is refused" "chmod 600" $FERRY -H a --key "$tmp/wrong.key" list
printf '{"id":1,"op":"list"}\n' > "$tmp/plain.req"
$FERRY lab exec client timeout 3 bash -c "exec 3<>/dev/tcp/10.78.0.1/7077; cat '$tmp/plain.req' >&3; cat <&3" > "$tmp/plain.out" 2>&1
check "a plaintext client on the TLS port gets no answer" sh -c "! grep -q -e web1 -e ferry '$tmp/plain.out'"

# Agent restart: it re-attaches to the running QEMU.
qpid=$($FERRY -H a --json list | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid_a/status)
cpu0=$(awk '{print $14 + $15}' /proc/$pid_a/stat); sleep 5; cpu1=$(awk '{print $14 + $15}' /proc/$pid_a/stat)
note "figure: ferryd idle RSS ${rss} KiB; idle CPU $((cpu1 - cpu0)) ticks in 5 s"
kill "$pid_a"
check "ferryd on a is stopped" wait_agent_stopped a
check "the guest keeps serving while ferryd is down" sh -c "$FERRY lab exec client curl -s -m 2 http://10.77.0.2/ | grep -q 'ferry test guest'"
check "lab up restarts ferryd on a" $FERRY lab up
check "the restarted ferryd still sees web1 (same QEMU)" sh -c "$FERRY -H a --json list | grep -q '\"pid\": $qpid'"
check "status shows the effective config" sh -c "$FERRY -H a status web1 | grep -q 'mac=52:54:00:77:00:02'"

# Console: a command typed on the serial console answers.
bootid=$($FERRY lab exec client curl -s -m 2 http://10.77.0.2/cgi-bin/bootid)
check "the console relays the guest's shell" sh -c "echo 'cat /proc/sys/kernel/random/boot_id' | $FERRY -H a console web1 | grep -q '$bootid'"

# Shutdown and destroy.
check "shutdown powers web1 off" $FERRY -H a shutdown web1 --timeout 60
if [ -d /run/ferry-lab/a/vms/web1 ]; then   # diagnostics when it did not
	note "guest console, last lines:"; tail -15 /run/ferry-lab/a/vms/web1/serial.log 2>/dev/null | sed 's/^/#   /'
	note "QEMU events, last lines:"; tail -5 /run/ferry-lab/a/vms/web1/events.jsonl 2>/dev/null | sed 's/^/#   /'
fi
check "web1 is gone after shutdown" sh -c "! $FERRY -H a list | grep -q web1"
check "its QEMU ended" dead $qpid
check_fails "shutdown of an unknown VM is refused" "no VM named web1 on host a" $FERRY -H a shutdown web1
# A guest that misses the first power-button press (its acpid not running
# yet) is shut down by a later press (ferryd presses every 5 s).
check "create web1 again" $FERRY -H a create $CFG
check "web1 serves again" wait_http 10.77.0.2 90
guest a 'kill $(pidof acpid); (sleep 8; acpid -c /etc/acpi -l /dev/null) </dev/null >/dev/null 2>&1 &' >/dev/null
check "the guest's acpid is down for now" sh -c "! (FERRY=$FERRY; $(declare -f guest); guest a 'pidof acpid') | grep -q '[0-9]'"
check "shutdown still powers it off (a later press)" $FERRY -H a shutdown web1 --timeout 30
check "the agent pressed again" grep -q 'pressing the power button again.*vm=web1' /run/ferry-lab/a/ferryd.log
check "create web1 once more" $FERRY -H a create $CFG
qpid=$($FERRY -H a --json list | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
check "destroy ends web1" $FERRY -H a destroy web1
check "its QEMU is gone" dead $qpid
check "list is empty" sh -c "! $FERRY -H a list | grep -q web1"

# A QEMU left running is cleaned up by lab down.
check "create web1 for lab down" $FERRY -H a create $CFG
qpid=$($FERRY -H a --json list | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
# Stop the agents ourselves first, so their exit reports (sanitizers) land in their logs.
for h in a b; do kill "$(cat /run/ferry-lab/$h/ferryd.lock)"; wait_agent_stopped $h; done
check "the agents' logs hold no sanitizer report" sh -c "! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' /run/ferry-lab/a/ferryd.log /run/ferry-lab/b/ferryd.log"
check "lab down" $FERRY lab down
check "no lab namespace is left" sh -c "! ip netns list | grep -q '^ferry-'"
check "no QEMU of the lab is left" dead $qpid
check "no ferryd of the lab is left" no_ferryd $pid_a
check "the lab folder is gone" test ! -e /run/ferry-lab
check "lab down twice is fine" $FERRY lab down
finish

#!/bin/bash
# test_install.sh: make install puts every piece where a Debian user expects
# it; the man page, --help and the bash completion list the same verbs; the
# completion completes verbs and host names. Needs no lab.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
B=$(dirname "$FERRY")

check "make install DESTDIR=... PREFIX=/usr" make -s install B="$B" DESTDIR="$tmp/root" PREFIX=/usr
for f in usr/bin/ferry usr/sbin/ferryd usr/share/man/man1/ferry.1 usr/share/man/man5/ferry.cfg.5 \
	 usr/share/man/man8/ferryd.8 usr/share/bash-completion/completions/ferry usr/lib/systemd/system/ferryd.service \
	 usr/share/doc/ferry/ferryd.conf.example; do
	check "installed: /$f" test -s "$tmp/root/$f"
done
check "the unit starts the installed ferryd" grep -q "ExecStart=/usr/sbin/ferryd -c" "$tmp/root/usr/lib/systemd/system/ferryd.service"
check "the installed ferry runs" "$tmp/root/usr/bin/ferry" --version

# One list of verbs: --help, the man page, the completion.
$FERRY --help | sed -n '/^Verbs:/,$p' | grep -E '^  [a-z]' | awk '{print $1}' | sort -u > "$tmp/help"
grep -E '^\.B [a-z-]+' man/ferry.1 | awk '{print $2}' | grep -vx ferry | sort -u > "$tmp/man"
check "ferry(1) lists exactly the verbs of --help" diff "$tmp/help" "$tmp/man"
sed -n 's/^.*verbs="\(.*\)"$/\1/p' contrib/bash-completion/ferry | tr ' ' '\n' | sort -u > "$tmp/comp"
check "the completion offers every user verb of --help" sh -c "grep -vx bench-command $tmp/help | diff - $tmp/comp"

# The completion itself.
printf 'alpha 10.0.0.1:7077\nbeta 10.0.0.2:7077 # a comment\n' > "$tmp/hosts"
cat > "$tmp/comp.sh" <<EOS
. contrib/bash-completion/ferry
COMP_WORDS=(ferry cre); COMP_CWORD=1; _ferry; echo "verb: \${COMPREPLY[*]}"
COMP_WORDS=(ferry -H b); COMP_CWORD=2; FERRY_HOSTS=$tmp/hosts _ferry; echo "host: \${COMPREPLY[*]}"
COMP_WORDS=(ferry migrate web1 a); COMP_CWORD=3; FERRY_HOSTS=$tmp/hosts _ferry; echo "dest: \${COMPREPLY[*]}"
EOS
bash "$tmp/comp.sh" > "$tmp/comp.out" 2>&1
sed 's/^/# /' "$tmp/comp.out"
check "completion: a verb" grep -qx "verb: create" "$tmp/comp.out"
check "completion: a host name from the hosts file" grep -qx "host: beta" "$tmp/comp.out"
check "completion: migrate's DEST from the hosts file" grep -qx "dest: alpha" "$tmp/comp.out"
finish

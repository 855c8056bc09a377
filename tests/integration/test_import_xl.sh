#!/bin/bash
# test_import_xl.sh: ferry import-xl as a user runs it: a new output file
# written, an existing one never overwritten, the notes on stderr and in
# --json, a config ferry cannot use refused with nothing written. (The
# translations themselves: tests/unit/config/test_xlimport.c.)
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
X=tests/unit/config/xl

check "a PV xl config becomes a ferry config (-o, a new file)" $FERRY import-xl $X/pv-debian.cfg -o $tmp/web.cfg
check "the file is what the translation gives" cmp -s $tmp/web.cfg $X/pv-debian.out
$FERRY import-xl $X/pv-debian.cfg -o $tmp/web2.cfg 2> $tmp/notes
check "each key left out is named on stderr with its line" sh -c "grep -q 'pv-debian.cfg:5: maxmem: no memory ballooning' $tmp/notes && grep -q 'wrote $tmp/web2.cfg' $tmp/notes"
echo "keep me" > $tmp/exists.cfg
check_fails "an existing output is not overwritten" "cannot write .*exists" $FERRY import-xl $X/hvm.cfg -o $tmp/exists.cfg
check "and stays as it was" grep -qx "keep me" $tmp/exists.cfg
check "--json gives the config and the notes" sh -c "$FERRY --json import-xl $X/hvm.cfg | python3 -c 'import json,sys; r=json.load(sys.stdin); assert \"vdev=hda\" in r[\"config\"] and any(n[\"key\"] == \"vnc\" for n in r[\"notes\"])'"
check_fails "a config with nothing to boot is refused" "nothing to boot" $FERRY import-xl $X/bad-nothing.cfg -o $tmp/none.cfg
check "and nothing is written" test ! -e $tmp/none.cfg
check_fails "a missing file is refused" "nosuch" $FERRY import-xl $tmp/nosuch.cfg
finish

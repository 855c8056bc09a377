#!/bin/bash
# test_storage.sh: the lab's storage host (nfs-ganesha with root squash, smbd
# with generated credentials), the agents' pools and volumes, and a guest
# whose disk is on the shared NFS pool: it boots from it (QEMU's own NFS
# client), moves live a -> b and cold b -> a with no disk byte copied, and
# what it wrote before reads back after. Bad input: a clear error, and
# nothing created.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
tmp=$(mktemp -d)
trap '$FERRY lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

$FERRY lab down >/dev/null 2>&1
check "lab up starts the storage servers" $FERRY lab up
$FERRY --json lab status > "$tmp/status"
check "lab status: the NFS server runs" python3 -c "import json,sys; s=json.load(open('$tmp/status'))['storage']; sys.exit(not s['nfs']['pid'])"
check "lab status: the SMB server runs" python3 -c "import json,sys; s=json.load(open('$tmp/status'))['storage']; sys.exit(not s['smb']['pid'])"

# Root squash: root on a client host is nobody on the export (owned by the
# lab's storage identity, 7077, mode 0750); as that identity ferry may write.
check_fails "NFS root squash: root cannot create on the export" "NFS3ERR_ACCES" \
	ip netns exec ferry-a qemu-img create -q -f raw nfs://10.78.0.3/export/as-root.img 1M
check "NFS: the storage identity can" ip netns exec ferry-a qemu-img create -q -f raw 'nfs://10.78.0.3/export/as-7077.img?uid=7077&gid=7077' 1M
check "NFSv4 is served too (port 2049, pseudo root)" ip netns exec ferry-storage ss -ltn 'sport = :2049'
pw=$(sed -n 's/^password=//p' /run/ferry-lab/smb-credentials)
check "the SMB credentials file is mode 0600" test "$(stat -c %a /run/ferry-lab/smb-credentials)" = 600
check "SMB: the generated account reads and writes the share" sh -c \
	"ip netns exec ferry-a smbclient //10.78.0.3/vm -U 'ferry%$pw' -c 'put /etc/hostname probe.txt; ls' 2>&1 | grep -q probe.txt"
check_fails "SMB: a wrong password is refused" "LOGON_FAILURE" \
	ip netns exec ferry-a smbclient //10.78.0.3/vm -U 'ferry%wrong' -c ls

# Pools: lab up defined lab-nfs (shared) and lab-dir (each host's own).
check "pools on a: lab-nfs and lab-smb (shared), lab-dir" sh -c "$FERRY -H a pool list | grep -q 'lab-nfs  *nfs  *yes' && $FERRY -H a pool list | grep -q 'lab-smb  *smb  *yes' && $FERRY -H a pool list | grep -q 'lab-dir  *dir  *no'"
check "pool info shows capacity and volumes" sh -c "$FERRY -H b pool info lab-nfs | grep -q 'as-7077.img'"
$FERRY -H a pool list --json > "$tmp/pools-before"
check_fails "an unknown pool type is refused" "unknown pool type 'ceph'" $FERRY -H a pool define p1 ceph /x
check_fails "an unreachable NFS server is refused" "cannot reach the NFS export" \
	$FERRY -H a pool define p2 nfs nfs://10.78.0.99/export --uid 7077 --gid 7077
check_fails "an export this identity cannot write is refused" "not writable as uid 1234" \
	$FERRY -H a pool define p3 nfs nfs://10.78.0.3/export --uid 1234 --gid 1234
check_fails "a folder outside vm_dirs is refused" "outside the folders VM files may come from" \
	$FERRY -H a pool define p4 path /etc
check_fails "a pool name that exists is refused" "already exists" $FERRY -H a pool define lab-nfs dir /var/lib/ferry-lab/x
$FERRY -H a pool list --json > "$tmp/pools-after"
check "after the refusals: the same pools" cmp "$tmp/pools-before" "$tmp/pools-after"
check "no p1..p4 folder or file was made" sh -c "! ls /run/ferry-lab/a/pools/ | grep -q '^p[0-9]'"
check "vol create on lab-dir" $FERRY -H a vol create lab-dir scratch.qcow2 16M
check_fails "a volume that exists is refused" "already has a volume scratch.qcow2" $FERRY -H a vol create lab-dir scratch.qcow2 16M
check_fails "a bad volume name is refused" "not a volume name" $FERRY -H a vol create lab-dir ../etc 16M
check "vol delete" $FERRY -H a vol delete lab-dir scratch.qcow2
check "the volume is gone" sh -c "! $FERRY -H a vol list lab-dir | grep -q scratch"
# Images in and out: sparse copies of files inside vm_dirs.
check "vol import: the guest's raw data disk into lab-nfs as qcow2" \
	$FERRY -H a vol import lab-nfs web1-data.qcow2 build/guest/web1-data.img
check_fails "vol import from outside vm_dirs is refused" "outside the folders VM files may come from" \
	$FERRY -H a vol import lab-dir x.raw /etc/passwd
qemu-img create -q -f qcow2 -b "$PWD/build/guest/web1-data.img" -F raw "$tmp/backed.qcow2"
check_fails "a qcow2 that names another file is not imported" "names another file" \
	$FERRY -H a vol import lab-dir b.qcow2 "$tmp/backed.qcow2"
check "vol export from lab-nfs on b, as raw" $FERRY -H b vol export lab-nfs web1-data.qcow2 "$tmp/out.raw" --format raw
check "the export is the image, byte for byte" qemu-img compare -q -f raw -F raw build/guest/web1-data.img "$tmp/out.raw"
check_fails "an export onto an existing file is refused" "cannot create" \
	$FERRY -H b vol export lab-nfs web1-data.qcow2 "$tmp/out.raw"
check_fails "an export outside vm_dirs is refused" "folder VM files may come from" \
	$FERRY -H b vol export lab-nfs web1-data.qcow2 /etc/ferry-export.raw
check "and nothing was written there" test ! -e /etc/ferry-export.raw

# A guest on each shared pool: it boots from it, moves live a -> b and cold
# b -> a with no disk byte copied, and what it wrote reads back after.
guest_on() { # POOL IMAGE-TARGET
	local pool=$1
	sed -e "s|^disk = .*|disk = [ \"pool=$pool,vol=web1-data.qcow2,format=qcow2,vdev=vda\" ]|" \
	    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
	    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$tmp/web1.cfg"
	check "$pool: create web1 with its disk on $pool" $FERRY -H a create "$tmp/web1.cfg"
	check "$pool: web1 serves from that disk" wait_http 10.77.0.2 90
	check_fails "$pool: a volume in use cannot be deleted" "in use by web1" $FERRY -H a vol delete $pool web1-data.qcow2
	check_fails "$pool: a pool in use cannot be undefined" "in use by web1" $FERRY -H a pool undefine $pool
	guest a 'head -c 65536 /dev/urandom > /www/mark; sync; md5sum /www/mark > /tmp/mark.sum' >/dev/null
	for i in $(seq 20); do sum=$(guest a 'cat /tmp/mark.sum 2>/dev/null' | cut -d' ' -f1); [ -n "$sum" ] && break; done
	check "$pool: the guest wrote a file to its disk" test -n "$sum"
	boot=$(bootid)
	check "$pool: live a -> b" sh -c "$FERRY -H a --json migrate web1 b > $tmp/live.json"
	check "$pool: live: no disk byte moved (the pool is shared)" python3 -c "import json,sys; r=json.load(open('$tmp/live.json')); sys.exit(r['bytes'] != r['ram_bytes'])"
	check "$pool: live: same guest" test "$(bootid)" = "$boot"
	check "$pool: live: on b only" test "$(owners)" = b
	check "$pool: cold (suspend) b -> a" sh -c "$FERRY -H b --json migrate web1 a --cold suspend > $tmp/cold.json"
	check "$pool: cold: no disk byte moved" python3 -c "import json,sys; r=json.load(open('$tmp/cold.json')); sys.exit(r['bytes'] != r['ram_bytes'])"
	check "$pool: cold: on a only" test "$(owners)" = a
	after=$(guest a 'sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /www/mark' | cut -d' ' -f1)
	check "$pool: the file reads back identically from the disk after both moves" test "$after" = "$sum"
	check "$pool: destroy web1" $FERRY -H a destroy web1
}

sed -e 's|^disk = .*|disk = [ "pool=nosuch,vol=web1-data.qcow2,format=qcow2,vdev=vda" ]|' build/guest/web1.cfg > "$tmp/bad.cfg"
check_fails "a config naming an unknown pool: file:line" "bad.cfg:[0-9]+: no pool named nosuch on host a" $FERRY -H a create "$tmp/bad.cfg"
check "nothing started for it" sh -c "! $FERRY -H a list | grep -q web1"

guest_on lab-nfs
check "lab-nfs: QEMU opened the disk with its own NFS client, as the storage identity" \
	grep -q 'driver=nfs,server.type=inet,server.host=10.78.0.3,path=/export/web1-data.qcow2,user=7077,group=7077' /run/ferry-lab/a/ferryd.log

# SMB: through the agent's FUSE mount of the share (QEMU has no SMB client).
check "lab-smb is defined, shared, and mounted on a" sh -c "$FERRY -H a --json pool info lab-smb | grep -q '\"mounted\": true'"
printf 'username=ferry\npassword=wrong\n' > "$tmp/bad-cred"; chmod 600 "$tmp/bad-cred"
check_fails "SMB: wrong credentials are refused" "cannot write to the SMB share .*credentials" \
	$FERRY -H a pool define s1 smb smb://10.78.0.3/vm --credentials "$tmp/bad-cred"
chmod 644 "$tmp/bad-cred"
check_fails "SMB: a credentials file others can read is refused" "mode 0600" \
	$FERRY -H a pool define s2 smb smb://10.78.0.3/vm --credentials "$tmp/bad-cred"
check "SMB: nothing left of the refused pools" sh -c "! $FERRY -H a pool list | grep -q '^s[12] ' && ! ls /run/ferry-lab/a/pools/ | grep -q '^s[12]'"
# (The mount is the agent's own: ip netns exec gives it a mount namespace of
# its own, which its QEMUs share. The image goes up with smbclient.)
qemu-img convert -O qcow2 build/guest/web1-data.img "$tmp/web1-data.qcow2"
ip netns exec ferry-a smbclient //10.78.0.3/vm -A /run/ferry-lab/smb-credentials -c "put $tmp/web1-data.qcow2 web1-data.qcow2" >/dev/null 2>&1
guest_on lab-smb
check "lab-smb: QEMU opened the disk through the mount, O_DIRECT" \
	grep -q 'filename=/run/ferry-lab/a/mnt/lab-smb/10.78.0.3/vm/web1-data.qcow2,node-name=vda-file,cache.direct=on' /run/ferry-lab/a/ferryd.log

# Safety on shared disks: cache modes that would cache on this host refused;
# one VM per image, with the holder named.
mkcfg() { # NAME DISK-SPEC OUT
	sed -e "s|^name = .*|name = \"$1\"|" -e "s|^disk = .*|disk = [ \"$2\" ]|" \
	    -e "s|^kernel = \"vmlinuz\"|kernel = \"$PWD/build/guest/vmlinuz\"|" \
	    -e "s|^ramdisk = \"initrd.img\"|ramdisk = \"$PWD/build/guest/initrd.img\"|" build/guest/web1.cfg > "$3"
}
mkcfg web1 "pool=lab-nfs,vol=web1-data.qcow2,format=qcow2,vdev=vda,cache=writeback" "$tmp/wb.cfg"
check_fails "cache=writeback on a shared pool is refused, with the reason" \
	"wb.cfg:[0-9]+: disk vda: cache=writeback is refused on shared storage \(pool lab-nfs\): this host's page cache" \
	$FERRY -H a create "$tmp/wb.cfg"
mkcfg web1 "pool=lab-nfs,vol=web1-data.qcow2,format=qcow2,vdev=vda,cache=unsafe" "$tmp/us.cfg"
check_fails "cache=unsafe too" "cache=unsafe is refused on shared storage .*drops the guest's flushes" $FERRY -H a create "$tmp/us.cfg"
check "nothing started for them" sh -c "! $FERRY -H a list | grep -q web1"
check "a volume for the lock checks" $FERRY -H a vol create lab-dir lock.raw 16M --format raw
mkcfg web1 "pool=lab-dir,vol=lock.raw,format=raw,vdev=vda,cache=writeback" "$tmp/l1.cfg"
mkcfg web9 "pool=lab-dir,vol=lock.raw,format=raw,vdev=vda" "$tmp/l2.cfg"
check "cache=writeback on a pool of this host only is accepted" $FERRY -H a create "$tmp/l1.cfg"
check_fails "a second VM on the same image of one host is refused, naming the first" \
	"disk vda \(lock.raw\) is in use by VM web1 on host a" $FERRY -H a create "$tmp/l2.cfg"
check "destroy web1" $FERRY -H a destroy web1
# Another process holds the image (QEMU's image lock): the holder is named.
qemu-nbd --fork --persistent --socket="$tmp/nbd.sock" --pid-file="$tmp/nbd.pid" -f raw /var/lib/ferry-lab/a/pool/lock.raw
mkcfg web9 "target=/var/lib/ferry-lab/a/pool/lock.raw,format=raw,vdev=vda" "$tmp/l3.cfg"
check_fails "QEMU's lock conflict in one sentence, naming the holder" \
	"disk vda \(/var/lib/ferry-lab/a/pool/lock.raw\) is in use by process $(cat "$tmp/nbd.pid") \(qemu-nbd\) on host a" \
	$FERRY -H a create "$tmp/l3.cfg"
kill "$(cat "$tmp/nbd.pid")"
check "nothing left of web9" sh -c "! $FERRY -H a list | grep -q web9"

check "lab down" $FERRY lab down
none_alive() { for p in $(pgrep -x "$1"); do alive "$p" && return 1; done; return 0; }
check "lab down stops the storage servers" sh -c "$(declare -f alive none_alive); none_alive ganesha.nfsd && none_alive smbd && none_alive rpcbind"
check "and removes their data" test ! -e /var/lib/ferry-lab
check "no mount is left" sh -c "! grep -q /run/ferry-lab /proc/mounts"
finish

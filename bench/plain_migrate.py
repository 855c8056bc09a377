#!/usr/bin/env python3
"""plain_migrate.py: the baseline for bench/live-vs-plain: plain QEMU live
migration between the lab's hosts a and b, QEMU's default parameters, no
ferry involved. Starts the guest on a with the same QEMU arguments ferryd
uses, then moves it back and forth RUNS times, printing one JSON record per
move (pause from the source STOP to the destination RESUME QMP timestamps,
QEMU's downtime and total time, bytes). Only the events capability is set,
to get those timestamps; every parameter keeps QEMU's default."""
import json, os, socket, subprocess, sys, time

CFG = sys.argv[1]            # the guest's config (build/guest/web1.cfg or a copy beside it)
GUEST = os.path.dirname(os.path.abspath(CFG))
RUNS = int(sys.argv[2])
WORK = sys.argv[3]           # scratch folder
HOSTS = {"a": "10.78.0.1", "b": "10.78.0.2"}
# The same guest as ferry's runs: the kernel command line of its config
# (a boot-time memory dirtier included, if the config asks for one).
# And the same RAM: QEMU < 9.0 under TCG loses guest writes during migration
# unless the RAM size is off a multiple of 64 pages (docs/migration.md);
# ferry adds 8 KiB there, and a baseline whose guest gets corrupted (it then
# hangs, and a hung guest dirties nothing) would not measure the same work.
_ver = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
_m = [int(x) for x in _ver.split("version ")[1].split(".")[:2]] if "version " in _ver else [0, 0]
RAM = "262152k" if _m[0] * 100 + _m[1] < 900 else "256"
APPEND = next(l.split("=", 1)[1].strip().strip('"') for l in open(CFG) if l.startswith("extra"))

class QMP:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX); self.s.connect(path); break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        self.read()                                   # greeting
        self.cmd("qmp_capabilities")
    def read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("QMP closed")
        return json.loads(line)
    def cmd(self, name, **args):
        self.f.write((json.dumps({"execute": name, "arguments": args}) + "\n").encode())
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m); continue
            if "error" in m:
                raise RuntimeError(f"{name}: {m['error']['desc']}")
            return m.get("return")
    def wait_event(self, name, timeout=60):
        end = time.time() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e); return e
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                self.events.append(self.read())
            finally:
                self.s.settimeout(None)

def ts(e):
    return e["timestamp"]["seconds"] * 1_000_000 + e["timestamp"]["microseconds"]

def start(host, incoming_port=None):
    d = f"{WORK}/{host}"
    os.makedirs(d, exist_ok=True)
    for f in ("qmp.sock", "qemu.pid"):
        try: os.unlink(f"{d}/{f}")
        except FileNotFoundError: pass
    argv = ["ip", "netns", "exec", f"ferry-{host}", "qemu-system-x86_64", "-name", "web1", "-machine", "pc",
            "-accel", "tcg", "-m", RAM, "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-daemonize", "-pidfile", f"{d}/qemu.pid", "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
            "-serial", f"file:{d}/serial.log",
            "-kernel", f"{GUEST}/vmlinuz", "-initrd", f"{GUEST}/initrd.img",
            "-append", APPEND,
            "-blockdev", f"driver=file,filename={GUEST}/web1-data.img,node-name=vda-file",
            "-blockdev", "driver=raw,file=vda-file,node-name=vda", "-device", "virtio-blk-pci,drive=vda,id=vda-dev",
            "-netdev", "tap,id=net0,ifname=fy-web1.0,script=no,downscript=no",
            "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:77:00:02,id=net0-dev"]
    if incoming_port:
        argv += ["-incoming", f"tcp:{HOSTS[host]}:{incoming_port}"]
    subprocess.run(argv, check=True)
    subprocess.run(["ip", "-n", f"ferry-{host}", "link", "set", "fy-web1.0", "master", "br-vm", "up"], check=True)
    q = QMP(f"{d}/qmp.sock")
    q.pid = int(open(f"{d}/qemu.pid").read())
    return q

def main():
    src_host, dst_host = "a", "b"
    src = start(src_host)
    # Wait until the guest serves, as ferry's bench does.
    for _ in range(600):
        r = subprocess.run(["ip", "netns", "exec", "ferry-client", "curl", "-s", "-m", "1", "-o", "/dev/null",
                            "http://10.77.0.2/"])
        if r.returncode == 0: break
        time.sleep(0.2)
    port = 49000
    for run in range(RUNS + 1):                           # run 0: warm-up, not printed
        port += 1
        t0 = time.monotonic()
        dst = start(dst_host, port)
        for q in (src, dst):
            q.cmd("migrate-set-capabilities", capabilities=[{"capability": "events", "state": True}])
        t1 = time.monotonic()
        src.cmd("migrate", uri=f"tcp:{HOSTS[dst_host]}:{port}")
        while True:
            info = src.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"): break
            time.sleep(0.05)
        if info["status"] != "completed":
            raise SystemExit(f"plain migration {info['status']}")
        resume = dst.wait_event("RESUME")
        stop = next(e for e in src.events if e["event"] == "STOP")
        t2 = time.monotonic()
        rec = {"status": "completed", "pause_ms": (ts(resume) - ts(stop)) / 1000,
               "qemu_downtime_ms": info.get("downtime"), "qemu_total_ms": info.get("total-time"),
               "total_ms": round((t2 - t0) * 1000), "migrate_ms": round((t2 - t1) * 1000),
               "bytes": info["ram"]["transferred"], "src": src_host, "dst": dst_host}
        # The guest must still answer on the destination (a move that broke
        # it would make the next ones look cheap).
        for _ in range(50):
            r = subprocess.run(["ip", "netns", "exec", "ferry-client", "curl", "-s", "-m", "1", "-o", "/dev/null",
                                "http://10.77.0.2/"])
            if r.returncode == 0: break
        else:
            raise SystemExit("plain migration: the guest no longer answers on the destination")
        if run > 0:
            print(json.dumps(rec), flush=True)
        src.cmd("quit")
        time.sleep(0.2)
        src, src_host, dst_host = dst, dst_host, src_host
    src.cmd("quit")

if __name__ == "__main__":
    main()

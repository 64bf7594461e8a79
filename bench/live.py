#!/usr/bin/env python3
"""Live-VM benchmark, side by side in one run (stdlib only):

- the incremental backup of a running QEMU VM after 1 % guest writes, driven
  by its dirty bitmap (changed-block tracking), against the same backup when
  the bitmap is gone and the whole disk is re-read and compared by hash;
- a restore of one recovery point from the instant tier (its snapshot files
  on the host) against the same point restored from the vault, once its
  instant window has passed.

usage: bench/live.py IMAGE [RUNS]   (the release build in $CARGO_TARGET_DIR)
The image is converted to qcow2 and attached to a paused QEMU (TCG); guest
writes are made with qemu-io on the VM's own block backend.
"""
import json
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/rsvault/target")) / "release" / "rsvault"
PORT = 7463


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw).stdout


def cli(*args):
    out = sh(BIN, *args, "-o", "json")
    return json.loads(out) if out.strip() else None


def qmp(sock, command, **args):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    f = s.makefile("rw")
    json.loads(f.readline())
    for cmd, a in (("qmp_capabilities", {}), (command, args)):
        f.write(json.dumps({"execute": cmd, "arguments": a}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" not in r:
                break
    s.close()
    if "error" in r:
        raise RuntimeError(r["error"])
    return r["return"]


def job_seconds(job, t0):
    """Waits for the job, polling every 50 ms; wall seconds since t0 (the
    server runs on a simulated clock, so the job's own duration is not
    wall time)."""
    while True:
        d = cli("backup", "job", "show", "-g", "bench", "-v", "bench-vault", "-n", job)
        if d["properties"]["status"] not in ("InProgress", "Cancelling"):
            return d, time.monotonic() - t0
        time.sleep(0.05)


def backup():
    t0 = time.monotonic()
    j = cli("backup", "protection", "backup-now", "-g", "bench", "-v", "bench-vault", "-c", "live-vm", "-i", "live-vm")
    d, secs = job_seconds(j["name"], t0)
    assert d["properties"]["status"] in ("Completed", "CompletedWithWarnings"), d
    bag = d["properties"]["extendedInfo"]["propertyBag"]
    return secs, bag


def restore(rp):
    seen = {j["name"] for j in cli("backup", "job", "list", "-g", "bench", "-v", "bench-vault")}
    t0 = time.monotonic()
    cli("backup", "restore", "restore-disks", "-g", "bench", "-v", "bench-vault", "-c", "live-vm", "-i", "live-vm",
        "-r", rp, "--storage-account", "benchsa")
    (job,) = [j["name"] for j in cli("backup", "job", "list", "-g", "bench", "-v", "bench-vault") if j["name"] not in seen]
    d, secs = job_seconds(job, t0)
    assert d["properties"]["status"] == "Completed", d
    bag = d["properties"]["extendedInfo"]["propertyBag"]
    os.remove(bag["OS disk"])
    return secs, bag["Restore Source"]


def guest_writes(sock, size, rng):
    """1 % of the disk in 64 KiB writes at random places."""
    n = size // 100 // 65536
    for _ in range(n):
        off = rng.randrange(size // 65536) * 65536
        qmp(sock, "human-monitor-command", **{"command-line": f'qemu-io drive0 "write -P {rng.randrange(1, 255)} {off} 64k"'})
    return n * 65536


def main():
    image = Path(sys.argv[1]).resolve()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as w:
        w = Path(w)
        disk = w / "live.qcow2"
        sh("qemu-img", "convert", "-O", "qcow2", image, disk)
        size = int(json.loads(sh("qemu-img", "info", "--output=json", disk))["virtual-size"])
        (w / "data").mkdir()
        (w / "rsvault.toml").write_text('[scheduler]\ninterval_seconds = 3600\n[testing]\nsimulated_clock = "2026-06-01T00:00:00Z"\n')
        srv = subprocess.Popen([BIN, "serve", "--data-dir", w / "data", "--listen", f"127.0.0.1:{PORT}",
                                "--config", w / "rsvault.toml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        vm = subprocess.Popen(["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "256", "-nodefaults", "-S",
                               "-display", "none", "-monitor", "none",
                               "-qmp", f"unix:{w}/qmp.sock,server=on,wait=off", "-qmp", f"unix:{w}/bench.sock,server=on,wait=off",
                               "-drive", f"if=none,id=drive0,file={disk},format=qcow2,node-name=disk0",
                               "-device", "virtio-blk-pci,drive=drive0"], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if (w / "data" / "identity" / "owner.json").exists() and (w / "bench.sock").exists():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            os.environ.update(RSVAULT_ENDPOINT=f"https://127.0.0.1:{PORT}", RSVAULT_DATA_DIR=str(w / "data"))
            # One login as the host Owner; every command then sends its token.
            got = subprocess.run([BIN, "account", "get-access-token"], capture_output=True, text=True, check=True)
            os.environ["RSVAULT_TOKEN"] = json.loads(got.stdout)["accessToken"]
            tls = ssl.create_default_context(cafile=str(w / "data" / "tls" / "server.crt"))
            cli("vm", "create", "-g", "bench", "-n", "live-vm", "-l", "westeurope", "--os-disk", disk, "--qmp-socket", w / "qmp.sock")
            cli("backup", "vault", "create", "-g", "bench", "-n", "bench-vault", "-l", "westeurope")
            cli("backup", "protection", "enable-for-vm", "-g", "bench", "-v", "bench-vault", "--vm", "live-vm", "--policy-name", "DefaultPolicy")
            full, _ = backup()
            print(f"first (full) live backup of a {size >> 30} GiB disk: {full:.2f} s")
            rows = []
            for r in range(runs):
                written = guest_writes(w / "bench.sock", size, rng)
                cbt, bag = backup()
                assert bag["Changed-block tracking (os)"] == "used", bag
                read_cbt = bag["Data Read"]
                guest_writes(w / "bench.sock", size, rng)
                for b in qmp(w / "bench.sock", "query-block")[0]["inserted"].get("dirty-bitmaps", []):
                    qmp(w / "bench.sock", "block-dirty-bitmap-remove", node="disk0", name=b["name"])
                fullread, bag = backup()
                assert bag["Changed-block tracking (os)"].startswith("not used"), bag
                rows.append((cbt, fullread))
                print(f"run {r}: {written >> 20} MiB written; CBT {cbt:.2f} s (read {read_cbt}), "
                      f"full re-read {fullread:.2f} s (read {bag['Data Read']})")
            cm, fm = statistics.median(x[0] for x in rows), statistics.median(x[1] for x in rows)
            print(f"incremental after 1 % writes, median of {runs}: CBT {cm:.2f} s, full re-read {fm:.2f} s, ratio {fm / cm:.1f}x")

            rp = max(cli("backup", "recoverypoint", "list", "-g", "bench", "-v", "bench-vault", "-c", "live-vm", "-i", "live-vm"),
                     key=lambda p: p["properties"]["recoveryPointTime"])["name"]
            inst = [restore(rp) for _ in range(runs)]
            assert all(s == "Snapshot (InstantRP)" for _, s in inst), inst
            # Past the instant window (DefaultPolicy keeps snapshots 2 days).
            req = urllib.request.Request(f"https://127.0.0.1:{PORT}/rsvault/clock", method="POST",
                                         data=json.dumps({"advanceSeconds": 3 * 86400}).encode(),
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            started = json.load(urllib.request.urlopen(req, context=tls))["startedJobs"]
            for j in started:
                cli("backup", "job", "wait", "-g", "bench", "-v", "bench-vault", "-n", j)
            req.data = json.dumps({"advanceSeconds": 60}).encode()
            urllib.request.urlopen(req, context=tls).read()
            vault = [restore(rp) for _ in range(runs)]
            assert all(s == "Vault (HardenedRP)" for _, s in vault), vault
            im, vm_ = statistics.median(s for s, _ in inst), statistics.median(s for s, _ in vault)
            print(f"restore of one point, median of {runs}: instant tier {im:.2f} s, vault {vm_:.2f} s, ratio {vm_ / im:.1f}x")
        finally:
            vm.kill()
            srv.terminate()
            srv.wait()


if __name__ == "__main__":
    main()

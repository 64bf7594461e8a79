#!/usr/bin/env python3
"""libvirt benchmark, side by side in one run (stdlib only):

- rsvault's incremental backup of a libvirt domain's qcow2 disk after 1 %
  guest writes, through libvirt's backup API with a checkpoint (only the
  changed extents are read over NBD);
- the same backup when the checkpoint is gone and the whole disk is read
  again and compared by hash (rsvault's fallback);
- Debian's virtnbdbackup doing the same incremental (`-l inc`) from the
  same domain over the same writes (the same seeds), after rsvault: it
  refuses a domain holding checkpoints it did not make.

usage: bench/libvirt.py IMAGE [RUNS]   (the release build in $CARGO_TARGET_DIR)
The image is converted to qcow2 and attached to a paused TCG domain on
qemu:///system; guest writes are made with qemu-io on the domain's own
block backend (HMP through virsh).
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/rsvault/target")) / "release" / "rsvault"
URI = "qemu:///system"
PORT = 7464
NAME = f"rsvault-bench-{os.getpid()}"
DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>"""


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw).stdout


def virsh(*args):
    return sh("virsh", "-c", URI, *args)


def cli(*args):
    out = sh(BIN, *args, "-o", "json")
    return json.loads(out) if out.strip() else None


def rsvault_backup():
    t0 = time.monotonic()
    j = cli("backup", "protection", "backup-now", "-g", "bench", "-v", "bench-vault", "-c", NAME, "-i", NAME)
    while True:
        d = cli("backup", "job", "show", "-g", "bench", "-v", "bench-vault", "-n", j["name"])
        if d["properties"]["status"] not in ("InProgress", "Cancelling"):
            break
        time.sleep(0.05)
    secs = time.monotonic() - t0
    assert d["properties"]["status"] in ("Completed", "CompletedWithWarnings"), d
    return secs, d["properties"]["extendedInfo"]["propertyBag"]


def virtnbd(level, out):
    before = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.exists() else 0
    t0 = time.monotonic()
    r = subprocess.run(["virtnbdbackup", "-U", URI, "-d", NAME, "-l", level, "-o", str(out), "-n"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    secs = time.monotonic() - t0
    after = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return secs, after - before


def drop_rsvault_checkpoints():
    for cp in virsh("checkpoint-list", NAME, "--name").split():
        if cp.startswith("rsvault-"):
            virsh("checkpoint-delete", NAME, cp)


def guest_writes(size, rng):
    """1 % of the disk in 64 KiB writes at random places."""
    n = size // 100 // 65536
    dev = "/machine/peripheral/virtio-disk0/virtio-backend"
    for _ in range(n):
        off = rng.randrange(size // 65536) * 65536
        out = virsh("qemu-monitor-command", NAME, "--hmp",
                    f'qemu-io -d {dev} "write -P {rng.randrange(1, 255)} {off} 64k"')
        assert "error" not in out.lower(), out
    return n * 65536


def mb(n):
    return f"{n / 1e6:.0f} MB"


def main():
    image = Path(sys.argv[1]).resolve()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    w = Path(tempfile.mkdtemp(prefix="rsvault-bench-libvirt-", dir="/var/tmp"))
    w.chmod(0o755)  # libvirt's QEMU user reaches the image
    srv = None
    try:
        disk = w / "vm.qcow2"
        sh("qemu-img", "convert", "-O", "qcow2", image, disk)
        size = int(json.loads(sh("qemu-img", "info", "--output=json", disk))["virtual-size"])
        (w / "d.xml").write_text(DOMAIN.format(name=NAME, disk=disk))
        virsh("define", w / "d.xml")
        virsh("start", "--paused", NAME)
        (w / "data").mkdir()
        (w / "rsvault.toml").write_text("[scheduler]\ninterval_seconds = 3600\n"
                                        '[libvirt]\nresource_group = "rg-kvm"\nlocation = "westeurope"\n')
        srv = subprocess.Popen([BIN, "serve", "--data-dir", w / "data", "--listen", f"127.0.0.1:{PORT}",
                                "--config", w / "rsvault.toml", "--libvirt", URI],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if (w / "data" / "identity" / "owner.json").exists():
                break
            time.sleep(0.1)
        time.sleep(1)
        os.environ.update(RSVAULT_ENDPOINT=f"https://127.0.0.1:{PORT}", RSVAULT_DATA_DIR=str(w / "data"))
        got = subprocess.run([BIN, "account", "get-access-token"], capture_output=True, text=True, check=True)
        os.environ["RSVAULT_TOKEN"] = json.loads(got.stdout)["accessToken"]
        vm = cli("vm", "show", "-g", "rg-kvm", "-n", NAME)
        cli("backup", "vault", "create", "-g", "bench", "-n", "bench-vault", "-l", "westeurope")
        cli("backup", "protection", "enable-for-vm", "-g", "bench", "-v", "bench-vault", "--vm", vm["id"],
            "--policy-name", "DefaultPolicy")
        full, bag = rsvault_backup()
        print(f"first (full) backup of a {size >> 30} GiB disk: rsvault {full:.2f} s (read {bag['Data Read']})")
        rows = []
        for r in range(runs):
            written = guest_writes(size, random.Random(r))
            cbt, bag = rsvault_backup()
            assert bag["Changed-block tracking (os)"] == "used", bag
            read_cbt = bag["Data Read"]
            # The same amount again, then rsvault without its checkpoint.
            guest_writes(size, random.Random(1000 + r))
            drop_rsvault_checkpoints()
            fullread, bag = rsvault_backup()
            assert bag["Changed-block tracking (os)"].startswith("not used"), bag
            rows.append((cbt, fullread))
            print(f"run {r}: {written >> 20} MiB written; rsvault checkpoint {cbt:.2f} s (read {read_cbt}), "
                  f"rsvault full re-read {fullread:.2f} s (read {bag['Data Read']})")
        # virtnbdbackup refuses a domain with checkpoints it did not make
        # ("Foreign checkpoint found"), so it runs second on the same
        # domain, over the same writes (same seeds).
        drop_rsvault_checkpoints()
        vfull, vbytes = virtnbd("full", w / "virtnbd")
        print(f"virtnbdbackup full: {vfull:.2f} s (wrote {mb(vbytes)})")
        vrows = []
        for r in range(runs):
            guest_writes(size, random.Random(r))
            vinc, vbytes = virtnbd("inc", w / "virtnbd")
            vrows.append(vinc)
            print(f"run {r}: virtnbdbackup inc {vinc:.2f} s (wrote {mb(vbytes)})")
        cm, fm = (statistics.median(x[i] for x in rows) for i in range(2))
        vm_ = statistics.median(vrows)
        print(f"incremental after 1 % writes, median of {runs}: rsvault checkpoint {cm:.2f} s, "
              f"rsvault full re-read {fm:.2f} s ({fm / cm:.1f}x), virtnbdbackup inc {vm_:.2f} s ({vm_ / cm:.1f}x)")
    finally:
        if srv:
            srv.terminate()
            srv.wait()
        subprocess.run(["virsh", "-c", URI, "destroy", NAME], capture_output=True)
        subprocess.run(["virsh", "-c", URI, "undefine", NAME, "--checkpoints-metadata"], capture_output=True)
        shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Crash and fault suite: `kill -9` of the vault server at random moments of
a backup, a restore and a retention tick (which expires points, runs gc and
starts scheduled backups), then a restart. After each restart: no job stays
in progress, every listed recovery point restores bit-identically, the
stores verify clean, the store and the catalogue hold the same points, and
the next gc leaves nothing waiting.

RSVAULT_CRASH_TRIALS sets the number of kills (default 9 in CI, three per
phase; bench/crash.sh runs more) and RSVAULT_CRASH_SEED replays a run. The
figures of a long run are in docs/RELIABILITY.md; with
RSVAULT_CRASH_REPORT=FILE the test writes its own as JSON."""
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time

import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (BackupRequestResource, IaasVMBackupRequest,
                                                      IaasVMRestoreRequest, RestoreRequestResource)

from conftest import SUB, Server, clients, rsvault_bin, vault_stores
from test_backup_now import wait_job
from test_protection import RG, VM_RG, protect

CONFIG = """
[scheduler]
interval_seconds = 86400
max_concurrent_backups = 2

[testing]
simulated_clock = "{now}"
"""
VAULT = "v-crash"
SIZE = 24 << 20


def h(server):
    return {"Authorization": f"Bearer {server.token}"}


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def make_vm(server, img, name):
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(img), str(SIZE)], check=True)
    r = requests.put(
        f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}",
        headers=h(server), json={"location": "westeurope", "properties": {"storageProfile": {
            "osDisk": {"osType": "Linux", "vhd": {"uri": f"file://{img}"}}}}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def write_random(img, rng):
    with open(img, "r+b") as f:
        for _ in range(3):
            off = rng.randrange(0, SIZE - (2 << 20)) & ~4095
            f.seek(off)
            f.write(rng.randbytes(rng.randrange(64 << 10, 2 << 20)))
        f.flush()
        os.fsync(f.fileno())


class Rig:
    def __init__(self, data_dir, rng):
        self.data_dir = data_dir
        self.rng = rng
        # The simulated clock is not kept across restarts: each start is
        # given the time the test has reached.
        self.sim_now = dt.datetime(2026, 6, 1, 8, tzinfo=dt.timezone.utc)
        self.server = Server(data_dir, config=self.config())
        self.rs, self.bk = clients(self.server)
        self.vms = []  # (container, item, image)
        self.expected = {}  # recovery point name -> sha256 of the disk
        self.stats = {"trials": 0, "kills": {}, "jobs_running_at_kill": {}, "points_restored": 0,
                      "points_made_in_crashed_trials": 0}

    def config(self):
        return CONFIG.format(now=self.sim_now.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def restart(self, kill=True):
        if kill:
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait()
        self.server = Server(self.data_dir, config=self.config())
        self.rs, self.bk = clients(self.server)

    def clock(self, **body):
        return requests.post(f"{self.server.endpoint}/rsvault/clock", json=body, headers=h(self.server), timeout=120)

    def backup_now(self, c, i, expiry):
        self.bk.backups.trigger(VAULT, RG, "Azure", c, i, BackupRequestResource(
            properties=IaasVMBackupRequest(recovery_point_expiry_time_in_utc=expiry)))

    def restore(self, c, i, rp):
        sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/crashsa"
        self.bk.restores.begin_trigger(VAULT, RG, "Azure", c, i, rp, RestoreRequestResource(
            properties=IaasVMRestoreRequest(recovery_point_id=rp, recovery_type="RestoreDisks",
                                            storage_account_id=sa))).result()

    def points(self):
        out = {}
        for c, i, img in self.vms:
            for p in self.bk.recovery_points.list(VAULT, RG, "Azure", c, i):
                out[p.name] = (c, i, img)
        return out

    def jobs(self):
        return list(self.bk.backup_jobs.list(VAULT, RG))

    def wait_idle(self, timeout=120):
        deadline = time.time() + timeout
        while True:
            busy = [j for j in self.jobs() if j.properties.status in ("InProgress", "Cancelling")]
            if not busy:
                return
            assert time.time() < deadline, f"jobs stuck: {[(j.name, j.properties.operation) for j in busy]}"
            time.sleep(0.3)


def setup(rig):
    rig.rs.vaults.begin_create_or_update(RG, VAULT, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    images = rig.data_dir / "images"
    images.mkdir(exist_ok=True)
    for n in range(2):
        name = f"vm-crash{n}"
        img = images / f"{name}.raw"
        src = make_vm(rig.server, img, name)
        write_random(img, rig.rng)
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{name}", f"VM;iaasvmcontainerv2;{VM_RG};{name}"
        protect(rig.bk, VAULT, c, i, src, rig.bk.protection_policies.get(VAULT, RG, "DefaultPolicy").id)
        rig.vms.append((c, i, img))


def phase_backup(rig, delay):
    """Backup now of every VM, some points expiring within the day."""
    for c, i, _ in rig.vms:
        rig.backup_now(c, i, rig.sim_now + dt.timedelta(hours=rig.rng.choice([2, 30])))
    time.sleep(delay)


def phase_restore(rig, delay):
    pts = rig.points()
    if pts:
        rp = rig.rng.choice(sorted(pts))
        c, i, _ = pts[rp]
        threading.Thread(target=lambda: _quiet(rig.restore, c, i, rp), daemon=True).start()
    time.sleep(delay)


def phase_tick(rig, delay):
    """A day later: expired points go (forget + gc) and scheduled backups start."""
    rig.sim_now += dt.timedelta(days=1)
    now = rig.sim_now.strftime("%Y-%m-%dT%H:%M:%SZ")
    threading.Thread(target=lambda: _quiet(rig.clock, now=now), daemon=True).start()
    time.sleep(delay)


def _quiet(f, *a, **kw):
    try:
        f(*a, **kw)
    except Exception:  # the server is killed under it
        pass


def store_dirs(rig):
    return vault_stores(rig.data_dir)


def disk_cli(rig, sub, store, *args):
    key = rig.data_dir / "keys" / f"{store.name}.key"
    return subprocess.run([rsvault_bin(), "disk", sub, "--store", str(store), "--key-file", str(key), *args],
                          capture_output=True, text=True)


def check(rig, ctx, made_in_trial):
    rig.wait_idle()
    pts = rig.points()
    for rp, (c, i, img) in sorted(pts.items()):
        if rp not in rig.expected:
            # Only a backup of this trial can have made it: the disk is as it was.
            assert rp in made_in_trial, f"{ctx}: point {rp} appeared from nowhere"
            rig.expected[rp] = made_in_trial[rp]
    for rp in sorted(set(pts) - rig.checked):
        c, i, img = pts[rp]
        job_names = {j.name for j in rig.jobs()}
        rig.restore(c, i, rp)
        (job,) = [j for j in rig.jobs() if j.name not in job_names and j.properties.operation == "Restore"]
        job = wait_job(rig.bk, VAULT, job.name, timeout=120)
        assert job.properties.status == "Completed", f"{ctx}: restore of {rp}: {job.properties.error_details}"
        disk = job.properties.extended_info.property_bag["OS disk"]
        assert sha(disk) == rig.expected[rp], f"{ctx}: point {rp} does not restore to its disk"
        os.remove(disk)
        rig.checked.add(rp)
        rig.stats["points_restored"] += 1
    # With the server stopped cleanly (so no gc of its own runs meanwhile):
    # the store holds exactly the catalogue's points (each VM has one disk,
    # so one store point per recovery point); verify is clean; after a gc
    # nothing waits and a second gc finds nothing to delete.
    assert rig.server.stop() == 0, f"{ctx}: a clean stop"
    in_stores = 0
    for store in store_dirs(rig):
        out = disk_cli(rig, "points", store, "--json")
        assert out.returncode == 0, out.stderr
        in_stores += len(json.loads(out.stdout))
        v = disk_cli(rig, "verify", store)
        assert v.returncode == 0, f"{ctx}: verify: {v.stdout}{v.stderr}"
        g = disk_cli(rig, "gc", store, "--json")
        assert g.returncode == 0, g.stderr
        g2 = json.loads(disk_cli(rig, "gc", store, "--json").stdout)
        assert g2["packs_pending"] == 0 and g2["packs_deleted"] == 0, f"{ctx}: {g2}"
    assert in_stores == len(pts), f"{ctx}: {in_stores} points in the store, {len(pts)} in the catalogue"
    # A replication killed part way leaves the paired region's copy whole.
    for store in set(vault_stores(rig.data_dir, secondaries=True)) - set(store_dirs(rig)):
        v = disk_cli(rig, "verify", store)
        assert v.returncode == 0, f"{ctx}: verify of the secondary: {v.stdout}{v.stderr}"
    rig.restart(kill=False)
    # No temporary restore files survive a restart.
    left = [p for p in rig.data_dir.rglob("*.rsvault-restore*")]
    assert not left, f"{ctx}: {left}"


def test_kill_9_at_random_moments_never_loses_or_half_keeps_a_point(tmp_path):
    seed = int(os.environ.get("RSVAULT_CRASH_SEED", random.randrange(1 << 32)))
    trials = int(os.environ.get("RSVAULT_CRASH_TRIALS", "9"))
    print(f"seed {seed}")
    (tmp_path / "data").mkdir()
    rig = Rig(tmp_path / "data", random.Random(seed))
    rig.checked = set()
    setup(rig)
    phases = [("backup", phase_backup), ("restore", phase_restore), ("tick", phase_tick)]
    # A first point of each VM, so that restores and ticks have work.
    phase_backup(rig, 0)
    rig.wait_idle()
    for rp in rig.points():
        c, i, img = rig.points()[rp]
        rig.expected[rp] = sha(img)
    for t in range(trials):
        name, run = phases[t % len(phases)]
        ctx = f"seed {seed} trial {t} ({name})"
        rig.wait_idle()
        for _, _, img in rig.vms:
            if rig.rng.random() < 0.7:
                write_random(img, rig.rng)
        disk_now = {img: sha(img) for _, _, img in rig.vms}
        before = set(rig.points())
        run(rig, rig.rng.uniform(0.0, 3.0))
        try:
            running = sum(j.properties.status == "InProgress" for j in rig.jobs())
        except Exception:
            running = 0  # the server was busy answering the killed request
        rig.restart(kill=True)
        rig.stats["trials"] += 1
        rig.stats["kills"][name] = rig.stats["kills"].get(name, 0) + 1
        rig.stats["jobs_running_at_kill"][name] = rig.stats["jobs_running_at_kill"].get(name, 0) + running
        # Scheduled backups the restart's own tick starts see the same disks.
        rig.wait_idle()
        pts = rig.points()
        made = {rp: disk_now[img] for rp, (_, _, img) in pts.items() if rp not in before}
        rig.stats["points_made_in_crashed_trials"] += len(made)
        check(rig, ctx, made)
    assert rig.stats["points_restored"] >= 2
    report = os.environ.get("RSVAULT_CRASH_REPORT")
    if report:
        open(report, "w").write(json.dumps({"seed": seed, **rig.stats}, indent=2))
    assert rig.server.proc.poll() is None
    rig.server.proc.send_signal(signal.SIGTERM)
    assert rig.server.proc.wait(timeout=30) == 0

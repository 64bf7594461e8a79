"""Live backups of running QEMU VMs (real qemu-system-x86_64 under TCG):
changed-block tracking from persistent dirty bitmaps across restarts and
crashes, point-in-time snapshots while the guest writes, a VM killed during
its snapshot, the instant-restore tier and its expiry."""
import datetime as dt
import subprocess
import time

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSVMProtectionPolicy, BackupRequestResource,
                                                      DailyRetentionSchedule, IaasVMBackupRequest,
                                                      IaasVMRestoreRequest, LongTermRetentionPolicy,
                                                      ProtectionPolicyResource, RestoreRequestResource,
                                                      RetentionDuration, SimpleSchedulePolicy)

from conftest import SUB, Server, clients
from qemu_vm import Vm, register_vm
from test_backup_now import wait_job
from test_protection import RG, VM_RG, protect

LOC = "westeurope"
SA = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/livesa"


def start_backup(bk, vault, c, i):
    h = bk.backups.trigger(vault, RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()),
                           cls=lambda resp, _b, _h: resp.http_response.headers)
    op = h["Azure-AsyncOperation"].rsplit("/", 1)[1]
    return bk.backup_operation_statuses.get(vault, RG, op).properties.job_id


def wait(bk, vault, job, timeout=300):
    return wait_job(bk, vault, job, timeout)


def backup(bk, vault, c, i):
    return wait(bk, vault, start_backup(bk, vault, c, i))


def codes(job):
    return [e.error_code for e in job.properties.error_details or []]


def bag(job):
    return job.properties.extended_info.property_bag


def restore_disks(bk, vault, c, i, rp, vm_id):
    seen = {j.name for j in bk.backup_jobs.list(vault, RG, filter="operation eq 'Restore'")}
    bk.restores.begin_trigger(vault, RG, "Azure", c, i, rp, RestoreRequestResource(properties=IaasVMRestoreRequest(
        recovery_point_id=rp, recovery_type="RestoreDisks", storage_account_id=SA, source_resource_id=vm_id))).result()
    (job,) = [j for j in bk.backup_jobs.list(vault, RG, filter="operation eq 'Restore'") if j.name not in seen]
    job = wait(bk, vault, job.name)
    assert job.properties.status == "Completed", job.properties.error_details
    return bag(job)


def same(a, fmt_a, b, fmt_b="raw"):
    """qemu-img compare, sharing the lock of an image QEMU has open."""
    r = subprocess.run(["qemu-img", "compare", "-U", "-f", fmt_a, "-F", fmt_b, str(a), str(b)], capture_output=True, text=True)
    return r.returncode == 0


def snapshot_raw(img, fmt, out):
    subprocess.run(["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", str(img), str(out)], check=True)
    return out


def make_disks(tmp_path):
    os_img, data_img = tmp_path / "os.qcow2", tmp_path / "data.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(os_img), "64M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 16M", "-c", "write -P 0x22 40M 8M", str(os_img)],
                   check=True, capture_output=True)
    subprocess.run(["truncate", "-s", "32M", str(data_img)], check=True)
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x33 0 8M", str(data_img)], check=True, capture_output=True)
    return [(os_img, "qcow2"), (data_img, "raw")]


def verify_stores(server):
    """Every vault store reads back whole (`rsvault disk verify`)."""
    from conftest import rsvault_bin, vault_stores
    for store in vault_stores(server.data_dir, secondaries=True):
        key = server.data_dir / "keys" / f"{store.name}.key"
        r = subprocess.run([rsvault_bin(), "disk", "verify", "--store", str(store), "--key-file", str(key)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def points(bk, vault, c, i):
    return sorted(bk.recovery_points.list(vault, RG, "Azure", c, i), key=lambda p: p.properties.recovery_point_time)


def tiers(rp):
    return [t.type for t in rp.properties.recovery_point_tier_details]


def move_clock(server, seconds):
    r = requests.post(f"{server.endpoint}/rsvault/clock", json={"advanceSeconds": seconds},
                      headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200, r.text
    return r.json()


SIM = """
[scheduler]
interval_seconds = 3600

[testing]
simulated_clock = "2026-06-01T00:00:00Z"
"""


def test_cbt_across_restarts_and_crashes_then_instant_tier_expiry(tmp_path):
    (tmp_path / "srv").mkdir()
    server = Server(tmp_path / "srv", config=SIM)
    vm = None
    try:
        rs, bk = clients(server)
        rs.vaults.begin_create_or_update(RG, "v-live", Vault(location=LOC, sku=Sku(name="Standard"))).result()
        t = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)
        pol = bk.protection_policies.create_or_update("v-live", RG, "nightly", ProtectionPolicyResource(
            properties=AzureIaaSVMProtectionPolicy(
                policy_type="V1", time_zone="UTC", instant_rp_retention_range_in_days=2,
                schedule_policy=SimpleSchedulePolicy(schedule_run_frequency="Daily", schedule_run_times=[t]),
                retention_policy=LongTermRetentionPolicy(daily_schedule=DailyRetentionSchedule(
                    retention_times=[t], retention_duration=RetentionDuration(count=30, duration_type="Days"))))))
        disks = make_disks(tmp_path)
        (os_img, _), (data_img, _) = disks
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        # The VM names a guest agent socket nobody serves: the agent is missing.
        vm_id = register_vm(server, "live-1", LOC, disks, qmp=vm.qmp_sock, agent=tmp_path / "no-agent.sock")
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};live-1", f"VM;iaasvmcontainerv2;{VM_RG};live-1"
        protect(bk, "v-live", c, i, vm_id, pol.id)

        j1 = backup(bk, "v-live", c, i)
        assert j1.properties.status == "CompletedWithWarnings", j1.properties.error_details
        assert codes(j1) == ["UserErrorGuestAgentStatusUnavailable"]
        assert bag(j1)["Consistency"] == "CrashConsistent"
        assert bag(j1)["Changed-block tracking (os)"].startswith("not used: first backup")
        item = bk.protected_items.get("v-live", RG, "Azure", c, i).properties
        assert item["healthStatus"] == "ActionSuggested" and item["guestAgent"]["status"] == "Unreachable"
        (rp1,) = points(bk, "v-live", c, i)
        assert rp1.properties.recovery_point_type == "CrashConsistent"
        assert tiers(rp1) == ["InstantRP", "HardenedRP"]
        mine = [b for b in vm.bitmaps(0) if b["name"].startswith("rsvault-")]
        assert len(mine) == 1 and mine[0]["persistent"] and mine[0]["granularity"] <= 65536
        assert [b["persistent"] for b in vm.bitmaps(1) if b["name"].startswith("rsvault-")] == [False], "raw: in memory"

        # 1 MiB of guest writes on each disk: only that is read.
        move_clock(server, 3600)
        vm.write(0, "5M", "1M", "0x44")
        vm.write(1, "7M", "1M", "0x55")
        j2 = backup(bk, "v-live", c, i)
        assert j2.properties.status == "CompletedWithWarnings"
        assert bag(j2)["Changed-block tracking (os)"] == "used"
        assert bag(j2)["Changed-block tracking (lun-0)"] == "used"
        assert bag(j2)["Data Read"] == "2 MB", bag(j2)
        assert len([b for b in vm.bitmaps(0) if b["name"].startswith("rsvault-")]) == 1, "the old bitmap is retired"
        rp2 = points(bk, "v-live", c, i)[-1]
        out = restore_disks(bk, "v-live", c, i, rp2.name, vm_id)
        assert out["Restore Source"] == "Snapshot (InstantRP)"
        assert same(os_img, "qcow2", out["OS disk"]) and same(data_img, "raw", out["Data disk (LUN 0)"])

        # The instant tier as Azure shows it.
        rg = "AzureBackupRG_westeurope_1"
        h = {"Authorization": f"Bearer {server.token}"}
        base = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections"
        (rpc,) = requests.get(base, headers=h).json()["value"]
        assert rpc["name"].startswith("AzureBackup_live-1_") and rpc["properties"]["source"]["id"] == vm_id
        full = requests.get(f"{base}/{rpc['name']}?$expand=restorePoints", headers=h).json()
        assert [p["name"] for p in full["properties"]["restorePoints"]] == [rp1.name, rp2.name]
        assert full["properties"]["restorePoints"][0]["properties"]["consistencyMode"] == "CrashConsistent"
        one = requests.get(f"{base}/{rpc['name']}/restorePoints/{rp2.name}", headers=h)
        assert one.status_code == 200 and one.json()["name"] == rp2.name

        # A clean restart: the persistent bitmap (qcow2) survives, the raw
        # disk's in-memory one does not, and that disk is read in full.
        vm.quit()
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        move_clock(server, 3600)
        vm.write(0, "9M", "1M", "0x66")
        j3 = backup(bk, "v-live", c, i)
        assert bag(j3)["Changed-block tracking (os)"] == "used"
        assert "missing" in bag(j3)["Changed-block tracking (lun-0)"]
        expected3 = snapshot_raw(os_img, "qcow2", tmp_path / "rp3.raw")

        # QEMU killed: a bitmap it had loaded from the qcow2 is marked
        # inconsistent and not trusted.
        vm.quit()
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        vm.kill()
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        move_clock(server, 3600)
        vm.write(0, "11M", "1M", "0x77")
        j4 = backup(bk, "v-live", c, i)
        assert "inconsistent" in bag(j4)["Changed-block tracking (os)"], bag(j4)
        assert not [b for b in vm.bitmaps(0) if b.get("inconsistent")], "the untrusted bitmap is removed"

        # A bitmap removed behind rsvault's back: a full read again.
        (cur,) = [b["name"] for b in vm.bitmaps(0) if b["name"].startswith("rsvault-")]
        vm.qmp("block-dirty-bitmap-remove", node="disk0", name=cur)
        vm.write(0, "13M", "1M", "0x78")
        move_clock(server, 3600)
        j5 = backup(bk, "v-live", c, i)
        assert "missing" in bag(j5)["Changed-block tracking (os)"]
        rp5 = points(bk, "v-live", c, i)[-1]
        expected5 = snapshot_raw(os_img, "qcow2", tmp_path / "rp5.raw")
        out = restore_disks(bk, "v-live", c, i, rp5.name, vm_id)
        assert same(expected5, "raw", out["OS disk"])

        # The VM off: read from its files, crash-consistent, no instant tier.
        vm.quit()
        vm = None
        move_clock(server, 3600)
        j6 = backup(bk, "v-live", c, i)
        assert j6.properties.status == "Completed" and bag(j6)["Consistency"] == "CrashConsistent"
        assert bk.protected_items.get("v-live", RG, "Azure", c, i).properties["guestAgent"]["status"] == "VMStopped"
        assert tiers(points(bk, "v-live", c, i)[-1]) == ["HardenedRP"]

        # Two days after the first points: RP1 and RP2 leave the instant tier;
        # RP3, built on them, takes in their data first and still restores
        # bit-identically from its snapshot.
        started = move_clock(server, 2 * 86400 - 4 * 3600 + 60)
        for job in started["startedJobs"]:
            wait(bk, "v-live", job)
        assert set(started["instantExpired"]) == {rp1.name, rp2.name}, started
        pts = {p.name: p for p in points(bk, "v-live", c, i)}
        assert tiers(pts[rp1.name]) == ["HardenedRP"] and tiers(pts[rp2.name]) == ["HardenedRP"]
        rp3 = sorted(pts.values(), key=lambda p: p.properties.recovery_point_time)[2]
        assert tiers(rp3) == ["InstantRP", "HardenedRP"]
        out = restore_disks(bk, "v-live", c, i, rp3.name, vm_id)
        assert out["Restore Source"] == "Snapshot (InstantRP)"
        assert same(expected3, "raw", out["OS disk"])
        out = restore_disks(bk, "v-live", c, i, rp2.name, vm_id)
        assert out["Restore Source"] == "Vault (HardenedRP)"

        # Later, all of it: no snapshot file is left behind.
        done = move_clock(server, 86400)
        for job in done["startedJobs"]:
            wait(bk, "v-live", job)
        move_clock(server, 60)
        assert all(tiers(p) == ["HardenedRP"] for p in points(bk, "v-live", c, i))
        assert not list((server.data_dir / "snapshots").rglob("*.qcow2"))
        assert requests.get(base, headers=h).json()["value"] == []
        out = restore_disks(bk, "v-live", c, i, rp5.name, vm_id)
        assert out["Restore Source"] == "Vault (HardenedRP)" and same(expected5, "raw", out["OS disk"])
    finally:
        if vm is not None and vm.alive():
            vm.kill()
        assert server.stop() == 0


RATE = """
[live]
snapshot_rate_limit_mib = 4
"""


def test_point_in_time_while_the_guest_writes_and_a_vm_killed_mid_snapshot(tmp_path):
    (tmp_path / "srv").mkdir()
    server = Server(tmp_path / "srv", config=RATE)
    vm = None
    try:
        rs, bk = clients(server)
        rs.vaults.begin_create_or_update(RG, "v-pit", Vault(location=LOC, sku=Sku(name="Standard"))).result()
        disks = make_disks(tmp_path)
        os_img = disks[0][0]
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        vm_id = register_vm(server, "live-2", LOC, disks, qmp=vm.qmp_sock)
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};live-2", f"VM;iaasvmcontainerv2;{VM_RG};live-2"
        protect(bk, "v-pit", c, i, vm_id, bk.protection_policies.get("v-pit", RG, "DefaultPolicy").id)
        expected = snapshot_raw(os_img, "qcow2", tmp_path / "expected.raw")

        # The guest overwrites its data while QEMU copies the snapshot (4 MiB/s) ...
        job = start_backup(bk, "v-pit", c, i)
        while bk.job_details.get("v-pit", RG, job).properties.extended_info.progress_percentage < 1:
            time.sleep(0.05)
        # ... and keeps writing through the transfer, until the job ends.
        n = 0
        while bk.job_details.get("v-pit", RG, job).properties.status == "InProgress":
            vm.write(0, f"{(n * 2) % 24}M", "2M", f"0x{0xe0 + n % 16:x}")
            n += 1
        assert n >= 12, "the guest wrote over all its data while the job ran"
        j = wait(bk, "v-pit", job)
        assert j.properties.status == "CompletedWithWarnings", j.properties.error_details
        assert not same(os_img, "qcow2", expected), "the guest's writes landed"
        rp = points(bk, "v-pit", c, i)[-1]
        out = restore_disks(bk, "v-pit", c, i, rp.name, vm_id)
        assert same(expected, "raw", out["OS disk"]), "the point is the disk when the snapshot was taken"

        # QEMU killed while it copies: a clear error, no point, no leftovers.
        before = len(points(bk, "v-pit", c, i))
        snaps = server.data_dir / "snapshots"
        files = sorted(snaps.rglob("*.qcow2"))
        assert len(files) == 2, "the previous point's two disks"
        job = start_backup(bk, "v-pit", c, i)
        while bk.job_details.get("v-pit", RG, job).properties.extended_info.progress_percentage < 1:
            time.sleep(0.05)
        vm.kill()
        j = wait(bk, "v-pit", job)
        assert j.properties.status == "Failed" and codes(j) == ["UserErrorVmSnapshotFailed"], j.properties.error_details
        assert "stopped" in j.properties.error_details[0].error_string
        assert j.properties.error_details[0].recommendations
        assert len(points(bk, "v-pit", c, i)) == before
        assert sorted(snaps.rglob("*.qcow2")) == files, "the failed job's snapshot files are gone"
        verify_stores(server)

        # A running QEMU rsvault was not told of: its image is not read in place.
        vm = Vm(tmp_path, disks, paused=True, agent=False)
        register_vm(server, "live-2", LOC, disks)
        j = backup(bk, "v-pit", c, i)
        assert j.properties.status == "Failed" and codes(j) == ["UserErrorVmDiskInUse"], j.properties.error_details
        register_vm(server, "live-2", LOC, disks, qmp=vm.qmp_sock)

        # After a restart the next backup is whole and restores exactly.
        j = backup(bk, "v-pit", c, i)
        assert bag(j)["Changed-block tracking (os)"].startswith("not used")
        rp = points(bk, "v-pit", c, i)[-1]
        out = restore_disks(bk, "v-pit", c, i, rp.name, vm_id)
        assert same(os_img, "qcow2", out["OS disk"])
        verify_stores(server)
    finally:
        if vm is not None and vm.alive():
            vm.kill()
        assert server.stop() == 0

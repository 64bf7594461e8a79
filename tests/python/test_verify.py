"""Verify jobs: each vault's store is verified on its schedule (the server's
`[verify] schedule`, or the vault's own `rsvaultVerify.schedule`), as a
backup job with operation Verify. A store damaged on purpose (bytes flipped
in a pack file of one VM's point) fails its scheduled verify, which names
the damaged point; the point and its item show the damage; a clean vault's
verify is Completed. Time moves with POST /rsvault/clock."""
import datetime as dt
import subprocess

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSComputeVMProtectedItem, BackupRequestResource,
                                                      IaasVMBackupRequest, ProtectedItemResource)

from conftest import SUB, Server, clients, temp_server, vault_stores
from test_backup_now import wait_job
from test_cli import run as cli
from test_protection import RG, VM_RG, make_vm

# 2026-03-27 is a Friday.
CONFIG = """
[scheduler]
interval_seconds = 3600

[verify]
schedule = "sun 03:00"

[testing]
simulated_clock = "2026-03-27T12:00:00Z"
"""


@pytest.fixture
def sim_server():
    with temp_server(CONFIG) as s:
        yield s


def arm(server, method, path, **kw):
    r = requests.request(method, f"{server.endpoint}{path}", params={"api-version": "2025-02-01"},
                         headers={"Authorization": f"Bearer {server.token}"}, **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.text else None


def vault_path(name):
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{name}"


def move_clock(server, now):
    r = requests.post(f"{server.endpoint}/rsvault/clock", json={"now": now},
                      headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200, r.text
    return r.json()


def packs(store):
    return {p for p in (store / "packs").rglob("*") if p.is_file()}


def new_store(server, before):
    (store,) = set(vault_stores(server.data_dir)) - before
    return store


def backed_up_vm(server, bk, tmp_path, vault, vm, pattern):
    """A VM with its own data, protected by `vault` and backed up once; returns
    (container, item, recovery point name)."""
    make_vm(server, tmp_path, vm, "westeurope")
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} 0 2M", str(tmp_path / f"{vm}.qcow2")],
                   check=True, capture_output=True)
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", f"VM;iaasvmcontainerv2;{VM_RG};{vm}"
    policy = bk.protection_policies.get(vault, RG, "DefaultPolicy").id
    bk.protected_items.begin_create_or_update(vault, RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(policy_id=policy))).result()
    bk.backups.trigger(vault, RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest(
        recovery_point_expiry_time_in_utc=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))))
    (job,) = [j for j in bk.backup_jobs.list(vault, RG) if j.properties.operation == "Backup"
              and j.properties.entity_friendly_name == vm]
    assert wait_job(bk, vault, job.name).properties.status == "Completed"
    (rp,) = list(bk.recovery_points.list(vault, RG, "Azure", c, i))
    # Suspended: no scheduled backup adds points while the clock moves.
    bk.protected_items.begin_create_or_update(vault, RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(policy_id=policy, protection_state="BackupsSuspended"))).result()
    return c, i, rp.name


def flip_bytes(pack):
    data = bytearray(pack.read_bytes())
    for off in range(16, 48):
        data[off] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_scheduled_verify_names_the_damaged_point(sim_server, tmp_path):
    server = sim_server
    rs, bk = clients(server)
    before = set(vault_stores(server.data_dir))
    rs.vaults.begin_create_or_update(RG, "v-dmg", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    store = new_store(server, before)
    rs.vaults.begin_create_or_update(RG, "v-clean", Vault(location="westeurope", sku=Sku(name="Standard"))).result()

    c_a, i_a, rp_a = backed_up_vm(server, bk, tmp_path, "v-dmg", "vm-a", "0x11")
    packs_a = packs(store)
    c_b, i_b, rp_b = backed_up_vm(server, bk, tmp_path, "v-dmg", "vm-b", "0x22")
    assert packs(store) - packs_a, "vm-b's point has packs of its own"
    backed_up_vm(server, bk, tmp_path, "v-clean", "vm-c", "0x33")

    # The server's default schedule, and a vault's own.
    cfg = arm(server, "GET", vault_path("v-dmg") + "/backupconfig/vaultconfig")["properties"]["rsvaultVerify"]
    assert cfg["effectiveSchedule"] == "sun 03:00" and cfg["scheduleSource"] == "ServerDefault"
    assert cfg["nextVerifyTime"] == "2026-03-29T03:00:00Z" and cfg["lastVerify"] is None
    bad = requests.patch(f"{server.endpoint}{vault_path('v-clean')}/backupconfig/vaultconfig",
                         params={"api-version": "2025-02-01"}, headers={"Authorization": f"Bearer {server.token}"},
                         json={"properties": {"rsvaultVerify": {"schedule": "someday 03:00"}}})
    assert bad.status_code == 400 and "someday" in bad.json()["error"]["message"], bad.text
    cli(server, "backup", "vault", "backup-properties", "set", "-n", "v-clean", "-g", RG, "--verify-schedule", "SAT 06:00")
    cfg = arm(server, "GET", vault_path("v-clean") + "/backupconfig/vaultconfig")["properties"]["rsvaultVerify"]
    assert (cfg["schedule"], cfg["scheduleSource"], cfg["nextVerifyTime"]) == ("sat 06:00", "Vault", "2026-03-28T06:00:00Z")

    for p in packs_a:
        flip_bytes(p)

    # Saturday 06:00: only the clean vault's own schedule is due.
    assert move_clock(server, "2026-03-28T05:59:00Z")["startedVerifyJobs"] == []
    (clean_job,) = move_clock(server, "2026-03-28T06:00:00Z")["startedVerifyJobs"]
    job = wait_job(bk, "v-clean", clean_job)
    assert (job.properties.operation, job.properties.status) == ("Verify", "Completed"), job.properties.error_details
    bag = job.properties.extended_info.property_bag
    assert (bag["Recovery Points Checked"], bag["Damaged Recovery Points"]) == ("1", "0")
    assert job.properties.is_user_triggered is False and job.properties.entity_friendly_name == "v-clean"

    # Sunday 03:00: the server's default schedule verifies the damaged vault.
    (dmg_job,) = move_clock(server, "2026-03-29T03:00:00Z")["startedVerifyJobs"]
    job = wait_job(bk, "v-dmg", dmg_job)
    assert (job.properties.operation, job.properties.status) == ("Verify", "Failed")
    ext = job.properties.extended_info
    assert ext.tasks_list[0].task_id == "Verify recovery points" and ext.tasks_list[0].status == "Failed"
    assert (ext.property_bag["Recovery Points Checked"], ext.property_bag["Damaged Recovery Points"]) == ("2", "1")
    assert "vm-a" in ext.property_bag["Damaged Point 1"] and rp_a in ext.property_bag["Damaged Point 1"]
    (err,) = [e for e in job.properties.error_details if e.error_code == "UserErrorRecoveryPointDamaged"]
    assert rp_a in err.error_string and "vm-a" in err.error_string and err.recommendations
    raw = arm(server, "GET", vault_path("v-dmg") + f"/backupJobs/{dmg_job}")
    (named,) = raw["properties"]["extendedInfo"]["rsvaultVerify"]["damagedRecoveryPoints"]
    assert (named["friendlyName"], named["recoveryPointId"], named["protectedItemName"]) == ("vm-a", rp_a, i_a)
    assert "OS disk" in named["damage"] and named["recoveryPointTime"]

    # The catalogue: the damaged point, its item's health; the other point intact.
    point = bk.recovery_points.get("v-dmg", RG, "Azure", c_a, i_a, rp_a)
    tiers = {t.type: t.status for t in point.properties.recovery_point_tier_details}
    assert tiers["HardenedRP"] == "Invalid"
    raw_rp = arm(server, "GET", vault_path("v-dmg") + f"/backupFabrics/Azure/protectionContainers/{c_a}/protectedItems/{i_a}/recoveryPoints/{rp_a}")
    assert raw_rp["properties"]["rsvaultVerify"]["status"] == "Damaged"
    raw_b = arm(server, "GET", vault_path("v-dmg") + f"/backupFabrics/Azure/protectionContainers/{c_b}/protectedItems/{i_b}/recoveryPoints/{rp_b}")
    assert raw_b["properties"]["rsvaultVerify"]["status"] == "Intact"
    assert {t["status"] for t in raw_b["properties"]["recoveryPointTierDetails"]} == {"Valid"}
    item_a = bk.protected_items.get("v-dmg", RG, "Azure", c_a, i_a).properties
    assert item_a["healthStatus"] == "ActionRequired"
    assert rp_a in item_a["healthDetails"][0]["message"] and item_a["healthDetails"][0]["recommendations"]
    assert bk.protected_items.get("v-dmg", RG, "Azure", c_b, i_b).properties["healthStatus"] == "Passed"

    # The vault shows its last verify.
    v = arm(server, "GET", vault_path("v-dmg"))["properties"]["rsvaultVerify"]
    assert v["lastVerify"]["jobId"] == dmg_job and v["lastVerify"]["status"] == "Failed"
    assert v["damagedRecoveryPointCount"] == 1 and v["nextVerifyTime"] == "2026-04-05T03:00:00Z"
    assert arm(server, "GET", vault_path("v-clean"))["properties"]["rsvaultVerify"]["lastVerify"]["status"] == "Completed"

    # On demand, from the CLI: the damage fails the command.
    p = cli(server, "backup", "vault", "verify", "-n", "v-dmg", "-g", RG, "--wait", ok=False)
    assert p.returncode != 0 and "damaged recovery point" in p.stderr, p.stderr
    jobs = {j.name: j.properties for j in bk.backup_jobs.list("v-dmg", RG, filter="operation eq 'Verify'")}
    assert len(jobs) == 2 and dmg_job in jobs
    (user_job,) = [p for name, p in jobs.items() if name != dmg_job]
    assert user_job.is_user_triggered and user_job.status == "Failed"
    p = cli(server, "backup", "vault", "verify", "-n", "v-clean", "-g", RG, "--wait", "-o", "table")
    assert "Verify" in p.stdout and "Completed" in p.stdout, p.stdout

    # Nothing more is due before the clean vault's next Saturday.
    assert move_clock(server, "2026-04-04T05:59:00Z")["startedVerifyJobs"] == []

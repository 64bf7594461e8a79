"""Issue 9's worst defect, through the SDK on a simulated clock: the tick
that expires on-demand points (forget + gc) also starts the scheduled
backups, which deduplicate against the packs gc is condemning. Every
scheduled job must end Completed with a point that restores bit-identically
at once, and the stores must verify clean, without any gc in between."""
import datetime as dt
import subprocess
import time

import pytest
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import BackupRequestResource, IaasVMBackupRequest

from conftest import SUB, Server, clients, rsvault_bin, temp_server, vault_stores
from test_backup_now import wait_job
from test_protection import RG, VM_RG, make_vm, protect
from test_restore import raw_of, trigger
from test_scheduler import move_clock

CONFIG = """
[scheduler]
interval_seconds = 3600
max_concurrent_backups = 3

[testing]
simulated_clock = "2026-05-11T12:00:00Z"
"""


@pytest.fixture
def sim_server():
    with temp_server(CONFIG) as s:
        yield s


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_expiry_tick_and_scheduled_backups_leave_restorable_points(sim_server, tmp_path):
    server = sim_server
    rs, bk = clients(server)
    vms = []
    for n in range(3):
        vault = f"v-race{n % 2}"  # two VMs share a store, one has its own
        rs.vaults.begin_create_or_update(RG, vault, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        name = f"vm-race{n}"
        src = make_vm(server, tmp_path, name, "westeurope")
        img = tmp_path / f"{name}.qcow2"
        # Distinct data per VM, enough for several packs' worth of chunks.
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {0x21 + n} 0 20M", str(img)],
                       check=True, capture_output=True)
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{name}", f"VM;iaasvmcontainerv2;{VM_RG};{name}"
        protect(bk, vault, c, i, src, bk.protection_policies.get(vault, RG, "DefaultPolicy").id)
        vms.append((vault, c, i, img))

    nxt = ts(bk.protected_items.get(vms[0][0], RG, "Azure", vms[0][1], vms[0][2])
             .properties["extendedInfo"]["nextScheduledBackupTime"])
    move_clock(server, now=(nxt - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # Backup now, each point expiring a minute before the scheduled run.
    jobs = []
    for vault, c, i, _ in vms:
        headers = bk.backups.trigger(vault, RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest(
            recovery_point_expiry_time_in_utc=nxt - dt.timedelta(minutes=1))),
            cls=lambda resp, _b, _h: resp.http_response.headers)
        op = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
        jobs.append((vault, bk.backup_operation_statuses.get(vault, RG, op).properties.job_id))
    for vault, j in jobs:
        assert wait_job(bk, vault, j).properties.status == "Completed"
    # Packs younger than a running writer are left alone by gc: age them.
    time.sleep(2)

    r = move_clock(server, now=nxt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(r["expiredRecoveryPoints"]) >= 3, r
    assert len(r["startedJobs"]) == 3, r
    for job_id in r["startedJobs"]:
        vault = next(v for v, *_ in vms if any(j.name == job_id for j in bk.backup_jobs.list(v, RG)))
        job = wait_job(bk, vault, job_id)
        assert job.properties.status == "Completed", job.properties.error_details

    # No gc has run since: every listed point restores bit-identically now.
    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/racesa"
    for vault, c, i, img in vms:
        want = raw_of(img, tmp_path, "want.raw")
        points = list(bk.recovery_points.list(vault, RG, "Azure", c, i))
        assert len(points) == 1, "the on-demand point expired, the scheduled one stays"
        job = trigger(bk, vault, c, i, points[0].name, recovery_type="RestoreDisks", storage_account_id=sa)
        assert job.properties.status == "Completed", job.properties.error_details
        disk = job.properties.extended_info.property_bag["OS disk"]
        assert open(disk, "rb").read() == want, f"{vault}/{i} restores to its disk"
    for store in vault_stores(server.data_dir, secondaries=True):
        out = subprocess.run([rsvault_bin(), "disk", "verify", "--store", str(store),
                              "--key-file", str(server.data_dir / "keys" / f"{store.name}.key")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr

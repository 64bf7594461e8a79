"""Backup now → job with tasks and progress → recovery point, through the
Azure SDK; the point's disks restore bit-identically from the vault's store."""
import datetime as dt
import subprocess
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSComputeVMProtectedItem, BackupRequestResource,
                                                      IaasVMBackupRequest, ProtectedItemResource)

from conftest import rsvault_bin, vault_stores
from test_protection import make_vm, RG, VM_RG


def wait_job(bk, vault, job_id, timeout=60):
    deadline = time.time() + timeout
    while True:
        job = bk.job_details.get(vault, RG, job_id)
        if job.properties.status not in ("InProgress", "Cancelling"):
            return job
        assert time.time() < deadline, "job did not finish"
        time.sleep(0.2)


def test_backup_now_creates_a_recovery_point(server, rs, bk, tmp_path):
    rs.vaults.begin_create_or_update(RG, "v-bk", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    make_vm(server, tmp_path, "vm-bk", "westeurope", os_type="Windows")
    img = tmp_path / "vm-bk.qcow2"
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", str(img)], check=True, capture_output=True)
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-bk", f"VM;iaasvmcontainerv2;{VM_RG};vm-bk"
    bk.protected_items.begin_create_or_update("v-bk", RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(policy_id=bk.protection_policies.get("v-bk", RG, "DefaultPolicy").id))).result()

    with pytest.raises(HttpResponseError) as e:
        bk.backups.trigger("v-bk", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest(
            recovery_point_expiry_time_in_utc=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))))
    assert e.value.status_code == 400 and "future" in e.value.error.message

    headers = bk.backups.trigger("v-bk", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest(
        recovery_point_expiry_time_in_utc=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))),
        cls=lambda resp, _b, _h: resp.http_response.headers)
    op = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
    job_id = bk.backup_operation_statuses.get("v-bk", RG, op).properties.job_id
    job = wait_job(bk, "v-bk", job_id)
    assert job.properties.status == "Completed", job.properties.error_details
    assert job.properties.operation == "Backup" and job.properties.entity_friendly_name == "vm-bk"
    assert [t.task_id for t in job.properties.extended_info.tasks_list] == ["Take Snapshot", "Transfer data to vault"]
    assert all(t.status == "Completed" for t in job.properties.extended_info.tasks_list)
    assert job.properties.extended_info.progress_percentage == 100
    assert "Backup Size" in job.properties.extended_info.property_bag
    assert job.properties.duration.total_seconds() >= 0

    item = bk.protected_items.get("v-bk", RG, "Azure", c, i)
    assert item.properties["protectionState"] == "Protected"
    assert item.properties["lastBackupStatus"] == "Completed"
    assert item.properties["extendedInfo"]["recoveryPointCount"] == 1
    rps = list(bk.recovery_points.list("v-bk", RG, "Azure", c, i))
    assert len(rps) == 1
    rp = rps[0]
    assert rp.properties.recovery_point_type == "CrashConsistent"
    assert rp.properties.os_type == "Windows", "the VM's OS type at backup time"
    assert [t.type for t in rp.properties.recovery_point_tier_details] == ["HardenedRP"]
    assert bk.recovery_points.get("v-bk", RG, "Azure", c, i, rp.name).name == rp.name
    late = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%d %I:%M:%S %p")
    assert list(bk.recovery_points.list("v-bk", RG, "Azure", c, i, filter=f"startDate eq '{late}'")) == []

    jobs = list(bk.backup_jobs.list("v-bk", RG, filter="operation eq 'Backup' and status eq 'Completed'"))
    assert [j.name for j in jobs] == [job_id]
    assert list(bk.backup_jobs.list("v-bk", RG, filter="status eq 'Failed'")) == []

    # The recovery point's disk, restored from the vault's store, is the VM's disk bit for bit.
    (store,) = vault_stores(server.data_dir)
    data_id = item.properties["protectedItemDataId"]
    out = tmp_path / "restored.raw"
    subprocess.run([rsvault_bin(), "disk", "restore", "--store", str(store),
                    "--key-file", str(server.data_dir / "keys" / f"{store.name}.key"),
                    "--name", f"{data_id}/os", "--output", str(out)], check=True, capture_output=True)
    ref = tmp_path / "ref.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(img), str(ref)], check=True)
    assert out.read_bytes() == ref.read_bytes()

"""`rsvault serve --demo`: demo VMs in two regions with real ext4 disks; the
whole walkthrough runs on them, and a restored disk is a clean file system
holding the VM's files."""
import subprocess
import tempfile
import time

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSComputeVMProtectedItem, BackupRequestResource,
                                                      IaasVMBackupRequest, IaasVMRestoreRequest, ProtectedItemResource,
                                                      RestoreRequestResource)

from conftest import Server, clients
from test_restore import raw_of

DEMO_SUB = "00000000-0000-0000-0000-000000000000"


def wait_job(bk, job_id):
    deadline = time.time() + 120
    while (job := bk.job_details.get("demo-vault", "demo-rg", job_id)).properties.status == "InProgress":
        assert time.time() < deadline
        time.sleep(0.2)
    return job


@pytest.fixture
def demo_server():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, extra=["--demo"])
        yield s
        assert s.stop() == 0


def test_demo_inventory_and_walkthrough(demo_server, tmp_path):
    server = demo_server
    h = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.endpoint}/subscriptions/{DEMO_SUB}/providers"
    vms = requests.get(f"{base}/Microsoft.Compute/virtualMachines", headers=h).json()["value"]
    assert sorted((v["name"], v["location"]) for v in vms) == [
        ("app-eu-01", "westeurope"), ("db-01", "japaneast"), ("web-01", "japaneast")]
    classic = requests.get(f"{base}/Microsoft.ClassicCompute/virtualMachines", headers=h).json()["value"]
    assert [v["name"] for v in classic] == ["legacy-01"]
    web = next(v for v in vms if v["name"] == "web-01")
    os_image = web["properties"]["storageProfile"]["osDisk"]["vhd"]["uri"].removeprefix("file://")
    assert web["properties"]["storageProfile"]["dataDisks"][0]["managedDisk"]["id"].endswith("/disks/web-01-data")

    rs, bk = clients(server, DEMO_SUB)
    rs.vaults.begin_create_or_update("demo-rg", "demo-vault", Vault(location="japaneast", sku=Sku(name="Standard"))).result()
    bk.protection_containers.refresh("demo-vault", "demo-rg", "Azure")
    found = sorted(p.properties["friendlyName"] for p in bk.backup_protectable_items.list(
        "demo-vault", "demo-rg", filter="backupManagementType eq 'AzureIaasVM'"))
    assert found == ["db-01", "legacy-01", "web-01"], "the japaneast VMs"
    c, i = "IaasVMContainer;iaasvmcontainerv2;demo-rg;web-01", "VM;iaasvmcontainerv2;demo-rg;web-01"
    bk.protected_items.begin_create_or_update("demo-vault", "demo-rg", "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(
            policy_id=bk.protection_policies.get("demo-vault", "demo-rg", "DefaultPolicy").id))).result()
    bk.backups.trigger("demo-vault", "demo-rg", "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()))
    (job,) = list(bk.backup_jobs.list("demo-vault", "demo-rg", filter="operation eq 'Backup'"))
    assert wait_job(bk, job.name).properties.status == "Completed"
    rp = list(bk.recovery_points.list("demo-vault", "demo-rg", "Azure", c, i))[0].name

    sa = f"/subscriptions/{DEMO_SUB}/resourceGroups/demo-rg/providers/Microsoft.Storage/storageAccounts/demosa"
    seen = {j.name for j in bk.backup_jobs.list("demo-vault", "demo-rg", filter="operation eq 'Restore'")}
    bk.restores.begin_trigger("demo-vault", "demo-rg", "Azure", c, i, rp, RestoreRequestResource(
        properties=IaasVMRestoreRequest(recovery_point_id=rp, recovery_type="RestoreDisks", storage_account_id=sa))).result()
    (job,) = [j for j in bk.backup_jobs.list("demo-vault", "demo-rg", filter="operation eq 'Restore'") if j.name not in seen]
    job = wait_job(bk, job.name)
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    restored = bag["OS disk"]
    assert open(restored, "rb").read() == raw_of(os_image, tmp_path, "web-os.raw")
    assert subprocess.run(["e2fsck", "-fn", restored], capture_output=True).returncode == 0, "a clean ext4 file system"
    out = subprocess.run(["debugfs", "-R", "cat /etc/hostname", restored], capture_output=True, text=True)
    assert out.stdout.strip() == "web-01"
    data = bag["Data disk (LUN 0)"]
    out = subprocess.run(["debugfs", "-R", "cat /etc/hostname", data], capture_output=True, text=True)
    assert out.stdout.strip() == "web-01"

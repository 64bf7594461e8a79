"""Restore through the Azure SDK: RestoreDisks writes bit-identical images
into the storage account folder; OriginalLocation replaces a stopped VM's disk."""
import json
import subprocess

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservicesbackup.models import IaasVMRestoreRequest, RestoreRequestResource

from conftest import SUB
from test_backup_now import wait_job
from test_lifecycle import setup
from test_protection import RG, VM_RG


def trigger(bk, vault, c, i, rp, **kw):
    """Runs the SDK's restore LRO to completion, then waits for the Restore job it started."""
    seen = {j.name for j in bk.backup_jobs.list(vault, RG, filter="operation eq 'Restore'")}
    bk.restores.begin_trigger(vault, RG, "Azure", c, i, rp, RestoreRequestResource(
        properties=IaasVMRestoreRequest(recovery_point_id=rp, **kw))).result()
    (job,) = [j for j in bk.backup_jobs.list(vault, RG, filter="operation eq 'Restore'") if j.name not in seen]
    return wait_job(bk, vault, job.name)


def raw_of(img, tmp_path, name):
    out = tmp_path / name
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(img), str(out)], check=True)
    return out.read_bytes()


def test_restore_disks_and_original_location(server, rs, bk, tmp_path):
    img = tmp_path / "vm-rs.qcow2"
    c, i, _ = setup(server, rs, bk, tmp_path, "v-rs", "vm-rs")
    # setup() backed up the disk before this write: the point holds zeros here.
    before = raw_of(img, tmp_path, "before.raw")
    rp = list(bk.recovery_points.list("v-rs", RG, "Azure", c, i))[0].name
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 2M", str(img)], check=True, capture_output=True)

    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/restoresa"
    job = trigger(bk, "v-rs", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa,
                  source_resource_id=f"/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-rs")
    assert job.properties.status == "Completed", job.properties.error_details
    assert job.properties.operation == "Restore"
    bag = job.properties.extended_info.property_bag
    assert bag["Target Storage Account Name"] == "restoresa"
    disk = bag["OS disk"]
    assert disk.startswith(str(server.data_dir / "storageAccounts" / "restoresa"))
    assert open(disk, "rb").read() == before, "the restored disk is the disk at the recovery point"
    cfg = json.load(open(bag["Config Blob Name"]))
    assert cfg["recoveryPoint"] == rp and cfg["virtualMachine"]["name"] == "vm-rs"

    # Replacing the disks needs the VM stopped.
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-rs", c, i, rp, recovery_type="OriginalLocation")
    assert e.value.error.code == "UserErrorVmNotShutDown"
    h = {"Authorization": f"Bearer {server.token}"}
    vm = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-rs"
    assert requests.post(f"{vm}/powerOff", headers=h).status_code == 200
    job = trigger(bk, "v-rs", c, i, rp, recovery_type="OriginalLocation")
    assert job.properties.status == "Completed", job.properties.error_details
    assert raw_of(img, tmp_path, "after.raw") == before, "the VM's own disk is back to the recovery point"
    subprocess.run(["qemu-img", "check", "-q", str(img)], check=True)

    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-rs", c, i, rp, recovery_type="AlternateLocation")
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError):
        trigger(bk, "v-rs", c, i, "123", recovery_type="RestoreDisks", storage_account_id=sa)


def test_alternate_location_creates_a_new_vm(server, rs, bk, tmp_path):
    img = tmp_path / "vm-alt.qcow2"
    c, i, _ = setup(server, rs, bk, tmp_path, "v-alt", "vm-alt")
    before = raw_of(img, tmp_path, "before.raw")
    rp = list(bk.recovery_points.list("v-alt", RG, "Azure", c, i))[0].name
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x44 0 1M", str(img)], check=True, capture_output=True)
    target_rg = "rg-restored"
    target = f"/subscriptions/{SUB}/resourceGroups/{target_rg}/providers/Microsoft.Compute/virtualMachines/vm-alt-restored"
    common = dict(recovery_type="AlternateLocation", target_resource_group_id=f"/subscriptions/{SUB}/resourceGroups/{target_rg}",
                  source_resource_id=f"/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-alt",
                  region="westeurope", create_new_cloud_service=False, original_storage_account_option=False,
                  virtual_network_id=f"/subscriptions/{SUB}/resourceGroups/{target_rg}/providers/Microsoft.Network/virtualNetworks/vnet",
                  subnet_id=f"/subscriptions/{SUB}/resourceGroups/{target_rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default")

    # The new VM must not exist, and must be in the vault's region.
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-alt", c, i, rp, target_virtual_machine_id=target.replace("vm-alt-restored", "vm-alt").replace(target_rg, VM_RG), **common)
    assert e.value.status_code == 409 and e.value.error.code == "UserErrorVmAlreadyExists"
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-alt", c, i, rp, target_virtual_machine_id=target, **{**common, "region": "eastus"})
    assert e.value.status_code == 400 and "region" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-alt", c, i, rp, target_virtual_machine_id=target + "-", **common)
    assert e.value.error.code == "InvalidParameter"

    job = trigger(bk, "v-alt", c, i, rp, target_virtual_machine_id=target, **common)
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    assert bag["Target VM Name"] == "vm-alt-restored" and bag["Target Resource Group"] == target_rg

    h = {"Authorization": f"Bearer {server.token}"}
    vm = requests.get(f"{server.endpoint}{target}?$expand=instanceView", headers=h).json()
    assert vm["location"] == "westeurope"
    assert vm["properties"]["instanceView"]["statuses"][1]["code"] == "PowerState/running"
    disk_id = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    assert f"/resourceGroups/{target_rg}/providers/Microsoft.Compute/disks/" in disk_id
    disk = requests.get(f"{server.endpoint}{disk_id}", headers=h).json()
    assert disk["properties"]["diskState"] == "Attached"
    path = disk["properties"]["creationData"]["sourceUri"].removeprefix("file://")
    assert path == bag["OS disk"]
    assert subprocess.run(["qemu-img", "check", "-q", path]).returncode == 0
    assert raw_of(path, tmp_path, "restored.raw") == before, "the new VM's disk is the disk at the recovery point"
    # The source VM is untouched.
    assert raw_of(img, tmp_path, "now.raw") != before


def test_bad_lun_lists_and_expiry_times_are_refused(server, rs, bk, tmp_path):
    c, i, _ = setup(server, rs, bk, tmp_path, "v-bad", "vm-bad")
    rp = list(bk.recovery_points.list("v-bad", RG, "Azure", c, i))[0].name
    item = (f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices"
            f"/vaults/v-bad/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}")
    h = {"Authorization": f"Bearer {server.token}"}
    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/restoresa"
    for luns, field in (([-1, 99], "[0]"), ([99], "[0]"), ([0], "[0]"), ("0", "")):
        r = requests.post(f"{item}/recoveryPoints/{rp}/restore", headers=h, json={"properties": {
            "objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "storageAccountId": sa,
            "restoreDiskLunList": luns}})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"].startswith(f"properties.restoreDiskLunList{field}:"), r.text
    r = requests.post(f"{item}/backup", headers=h, json={"properties": {
        "objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": 12345}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith("properties.recoveryPointExpiryTimeInUTC:"), r.text

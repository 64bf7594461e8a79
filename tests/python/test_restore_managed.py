"""RestoreDisks of a VM with managed disks and a target resource group
(`targetResourceGroupId`, `az backup restore restore-disks
--target-resource-group`): the disks come back as managed disks
(Microsoft.Compute/disks) in that group, bit-identical to the disks at the
recovery point; the storage account only stages the VM's configuration."""
import json
import subprocess
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import Sku, Vault

from az_cli import az_server
from conftest import SUB
from test_backup_now import wait_job
from test_lifecycle import backup, put
from test_protection import RG, VM_RG
from test_restore import raw_of, trigger


def managed_vm(server, tmp_path, name):
    """A VM whose OS disk (qcow2) and data disk (raw, LUN 1) are managed
    disks, each holding a pattern; returns the disks' images."""
    h = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute"
    images, ids = {}, {}
    for disk, fmt, size, pattern in (("os", "qcow2", "32M", "0x5a"), ("data", "raw", "16M", "0xc3")):
        img = tmp_path / f"{name}-{disk}.{fmt}"
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(img), size], check=True)
        subprocess.run(["qemu-io", "-f", fmt, "-c", f"write -P {pattern} 1M 3M", str(img)], check=True, capture_output=True)
        r = requests.put(f"{base}/disks/{name}-{disk}", headers=h, json={
            "location": "westeurope", "properties": {"creationData": {"createOption": "Import", "sourceUri": f"file://{img}"}}})
        assert r.status_code == 201, r.text
        images[disk], ids[disk] = img, r.json()["id"]
    r = requests.put(f"{base}/virtualMachines/{name}", headers=h, json={"location": "westeurope", "properties": {
        "storageProfile": {"osDisk": {"name": f"{name}-os", "osType": "Linux", "managedDisk": {"id": ids["os"]}},
                           "dataDisks": [{"lun": 1, "name": f"{name}-data", "managedDisk": {"id": ids["data"]}}]}}})
    assert r.status_code == 201, r.text
    return images


def backed_up(server, rs, bk, tmp_path, vault, vm):
    """A protected managed-disk VM with one recovery point: its container,
    item, point and the raw bytes of its disks at that point."""
    rs.vaults.begin_create_or_update(RG, vault, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    images = managed_vm(server, tmp_path, vm)
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", f"VM;iaasvmcontainerv2;{VM_RG};{vm}"
    put(bk, vault, c, i, policy_id=bk.protection_policies.get(vault, RG, "DefaultPolicy").id)
    assert backup(bk, vault, c, i).properties.status == "Completed"
    (rp,) = bk.recovery_points.list(vault, RG, "Azure", c, i)
    assert rp.properties.is_managed_virtual_machine is True
    at_point = {d: raw_of(img, tmp_path, f"{d}-point.raw") for d, img in images.items()}
    # After the point the VM's disks change: a restore brings back the point.
    for img in images.values():
        fmt = "qcow2" if img.suffix == ".qcow2" else "raw"
        subprocess.run(["qemu-io", "-f", fmt, "-c", "write -P 0x11 0 2M", str(img)], check=True, capture_output=True)
    return c, i, rp.name, at_point


def disks_in(server, group):
    h = {"Authorization": f"Bearer {server.token}"}
    r = requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/disks", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["value"]


def check_restored(server, tmp_path, group, vm, bag, at_point):
    """The group holds the VM's two disks as managed disks, each the disk at
    the point; the bag names them; the account holds only the configuration."""
    disks = {d["name"]: d for d in disks_in(server, group)}
    assert len(disks) == 2, disks
    os_name = next(n for n in disks if n.startswith(f"{vm}-osdisk-"))
    data_name = next(n for n in disks if n.startswith(f"{vm}-datadisk-1-"))
    for name, which, label, key in ((os_name, "os", "OS disk", "Managed Disk (OS)"),
                                    (data_name, "data", "Data disk (LUN 1)", "Managed Disk (LUN 1)")):
        d = disks[name]
        assert d["type"] == "Microsoft.Compute/disks"
        assert d["id"] == f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/disks/{name}"
        assert d["properties"]["diskState"] == "Unattached"
        assert bag[key] == d["id"], bag
        path = d["properties"]["creationData"]["sourceUri"].removeprefix("file://")
        assert path == bag[label]
        assert raw_of(path, tmp_path, f"{name}.raw") == at_point[which], f"{label} is the disk at the recovery point"
    assert bag["Target Resource Group"] == group
    cfg = json.load(open(bag["Config Blob Name"]))
    assert cfg["virtualMachine"]["name"] == vm
    staged = sorted(p.name for p in Path(bag["Config Blob Name"]).parent.iterdir())
    assert staged == ["vmconfig.json"], f"the account only stages the configuration: {staged}"


def test_restore_disks_into_a_target_resource_group(server, rs, bk, tmp_path):
    vm, group = "vm-md", "rg-md-restored"
    c, i, rp, at_point = backed_up(server, rs, bk, tmp_path, "v-md", vm)
    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/mdstage"
    source = f"/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{vm}"

    # A target that is not a resource group's id is refused before any job.
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-md", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa, source_resource_id=source,
                target_resource_group_id=f"/subscriptions/{SUB}/resourceGroups/{group}/providers/x")
    assert e.value.status_code == 400 and "targetResourceGroupId" in e.value.error.message
    assert disks_in(server, group) == []

    job = trigger(bk, "v-md", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa, source_resource_id=source,
                  target_resource_group_id=f"/subscriptions/{SUB}/resourceGroups/{group}")
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    assert bag["Target Storage Account Name"] == "mdstage"
    check_restored(server, tmp_path, group, vm, bag, at_point)


@pytest.fixture
def az():
    with az_server() as a:
        yield a


def test_az_restore_disks_with_a_target_resource_group(az, tmp_path):
    rs, bk = az.sdk_clients()
    vm, group = "vm-az-md", "rg-az-md"
    c, i, rp, at_point = backed_up(az.server, rs, bk, tmp_path, "v-az-md", vm)
    az.json("storage", "account", "create", "-g", RG, "-n", "azmdstage", "-l", "westeurope")
    job = az.json("backup", "restore", "restore-disks", "-g", RG, "-v", "v-az-md", "-c", c, "-i", i,
                  "-r", rp, "--storage-account", "azmdstage", "--target-resource-group", group)
    done = wait_job(bk, "v-az-md", job["name"])
    assert done.properties.status == "Completed", done.properties.error_details
    check_restored(az.server, tmp_path, group, vm, done.properties.extended_info.property_bag, at_point)

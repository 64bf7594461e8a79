"""A full data directory, for real: the server's data dir on a small tmpfs.

A backup that does not fit fails with UserErrorStorageFull and its recommended
action, and leaves none of its packs behind; a server restarted on a full disk
comes up, reads, and says why writes fail; restores write to the configured
restore root, off the full file system. Mounting needs root (CI runs as
root); elsewhere these tests skip."""
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSComputeVMProtectedItem, BackupRequestResource,
                                                      IaasVMBackupRequest, IaasVMRestoreRequest, ProtectedItemResource,
                                                      RestoreRequestResource)

from conftest import SUB, Server, clients
from test_backup_now import wait_job
from test_protection import RG, VM_RG


@pytest.fixture
def tmpfs():
    """Mounts small tmpfs file systems (`tmpfs(size_mib)`), unmounted afterwards."""
    mounted = []

    def mount(size_mib):
        d = tempfile.mkdtemp(prefix="rsvault-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", d], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(d)
            pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip()}); these tests need root")
        mounted.append(d)
        return Path(d)

    yield mount
    for d in mounted:
        if subprocess.run(["umount", d]).returncode != 0:
            subprocess.run(["umount", "-l", d])
        os.rmdir(d)


def fill(path):
    """Fills the file system of `path` to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    for size in (1 << 20, 4096, 512, 1):
        try:
            while True:
                os.write(fd, b"\xff" * size)
        except OSError:
            pass
    os.close(fd)


def raw_vm(server, tmp_path, name, mib):
    """A VM whose disk is `mib` MiB of random (incompressible) data."""
    img = tmp_path / f"{name}.raw"
    img.write_bytes(os.urandom(mib << 20))
    r = requests.put(
        f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": f"file://{img}"}}}}})
    assert r.status_code == 201, r.text


def protect(rs, bk, vault, vm):
    rs.vaults.begin_create_or_update(RG, vault, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", f"VM;iaasvmcontainerv2;{VM_RG};{vm}"
    bk.protected_items.begin_create_or_update(vault, RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(policy_id=bk.protection_policies.get(vault, RG, "DefaultPolicy").id))).result()
    return c, i


def backup(bk, vault, c, i):
    headers = bk.backups.trigger(vault, RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()),
                                 cls=lambda resp, _b, _h: resp.http_response.headers)
    op = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
    return wait_job(bk, vault, bk.backup_operation_statuses.get(vault, RG, op).properties.job_id, timeout=120)


def pack_bytes(data_dir):
    return sum(f.stat().st_size for f in (data_dir / "stores").glob("**/packs/*/*"))


def assert_storage_full(error):
    assert error.error_code == "UserErrorStorageFull", error
    assert "storage is full" in error.error_string, error.error_string
    assert error.recommendations and "Free space" in error.recommendations[0], error.recommendations


def test_a_backup_that_does_not_fit_fails_as_storage_full_and_keeps_nothing(tmpfs, tmp_path):
    data = tmpfs(40)
    server = Server(data)
    try:
        rs, bk = clients(server)
        raw_vm(server, tmp_path, "vm-big", 64)
        c, i = protect(rs, bk, "v-full", "vm-big")
        job = backup(bk, "v-full", c, i)
        assert job.properties.status == "Failed"
        (err,) = job.properties.error_details
        assert_storage_full(err)
        assert list(bk.recovery_points.list("v-full", RG, "Azure", c, i)) == []
        assert pack_bytes(data) == 0, "the failed backup's packs are gone"
        st = os.statvfs(data)
        assert st.f_bavail * st.f_frsize > 30 << 20, "the space is free again"
    finally:
        assert server.stop() == 0


def test_a_server_on_a_full_disk_starts_reads_and_says_why_writes_fail(tmpfs, tmp_path):
    data, restores = tmpfs(48), tmp_path / "restores"
    config = f'[storage]\nrestore_root = "{restores}"\n'
    server = Server(data, config=config)
    rs, bk = clients(server)
    raw_vm(server, tmp_path, "vm-ok", 4)
    c, i = protect(rs, bk, "v-ok", "vm-ok")
    assert backup(bk, "v-ok", c, i).properties.status == "Completed"
    fill(data / "filler")
    assert server.stop() == 0

    server = Server(data, config=config)
    try:
        rs, bk = clients(server)
        assert [v.name for v in rs.vaults.list_by_resource_group(RG)] == ["v-ok"]
        (rp,) = bk.recovery_points.list("v-ok", RG, "Azure", c, i)
        # A write the disk cannot take is refused as storage full.
        try:
            job = backup(bk, "v-ok", c, i)
            assert job.properties.status == "Failed"
            assert_storage_full(job.properties.error_details[0])
        except HttpResponseError as e:
            assert e.status_code == 507 and e.error.code == "UserErrorStorageFull", e
            assert "storage is full" in e.error.message
        assert len(list(bk.recovery_points.list("v-ok", RG, "Azure", c, i))) == 1
        jobs = {j.properties.status for j in bk.backup_jobs.list("v-ok", RG, filter="operation eq 'Backup'")}
        assert "InProgress" not in jobs, jobs

        # With space again, everything works, and restores go to the restore root.
        os.remove(data / "filler")
        assert backup(bk, "v-ok", c, i).properties.status == "Completed"
        assert len(list(bk.recovery_points.list("v-ok", RG, "Azure", c, i))) == 2
        sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/fullsa"
        bk.restores.begin_trigger("v-ok", RG, "Azure", c, i, rp.name, RestoreRequestResource(
            properties=IaasVMRestoreRequest(recovery_point_id=rp.name, recovery_type="RestoreDisks",
                                            storage_account_id=sa))).result()
        (rj,) = bk.backup_jobs.list("v-ok", RG, filter="operation eq 'Restore'")
        rj = wait_job(bk, "v-ok", rj.name)
        assert rj.properties.status == "Completed", rj.properties.error_details
        disk = rj.properties.extended_info.property_bag["OS disk"]
        assert disk.startswith(str(restores / "fullsa")), disk
        assert open(disk, "rb").read() == (tmp_path / "vm-ok.raw").read_bytes()
        assert not (data / "storageAccounts").exists()
    finally:
        assert server.stop() == 0

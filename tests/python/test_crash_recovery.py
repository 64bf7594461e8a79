"""What `kill -9` of the server leaves behind is cleared at the next start:
an interrupted backup's packs are collected, the store holds no point the
catalogue does not list, and an interrupted restore's temporary files go."""
import json
import random
import subprocess
import time

from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (BackupRequestResource, IaasVMBackupRequest, IaasVMRestoreRequest,
                                                      RestoreRequestResource)

from conftest import SUB, Server, clients, rsvault_bin, vault_stores
from test_backup_now import wait_job
from test_jobs_cancel import big_vm
from test_protection import RG, VM_RG, protect


def pack_bytes(data):
    """Pack bytes of the vault's primary store (its geo-redundant copy
    fills on its own time)."""
    return sum(f.stat().st_size for store in vault_stores(data) for f in store.glob("packs/*/*"))


def engine_points(data):
    (store,) = vault_stores(data)
    out = subprocess.run([rsvault_bin(), "disk", "points", "--store", str(store), "--key-file",
                          str(data / "keys" / f"{store.name}.key"), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def killed(server):
    server.proc.kill()
    server.proc.wait(timeout=20)
    return Server(server.data_dir)


def test_kill_9_leftovers_are_reclaimed_at_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    server = Server(data)
    try:
        rs, bk = clients(server)
        rs.vaults.begin_create_or_update(RG, "v-crash", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        src = big_vm(server, tmp_path, "vm-crash", 96)
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-crash", f"VM;iaasvmcontainerv2;{VM_RG};vm-crash"
        protect(bk, "v-crash", c, i, src, bk.protection_policies.get("v-crash", RG, "DefaultPolicy").id)
        bk.backups.trigger("v-crash", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()))
        (job,) = bk.backup_jobs.list("v-crash", RG, filter="operation eq 'Backup'")
        assert wait_job(bk, "v-crash", job.name, timeout=120).properties.status == "Completed"
        one_point = pack_bytes(data)

        # A backup of new data, killed while it writes packs.
        with open(tmp_path / "vm-crash.raw", "r+b") as f:
            f.write(random.randbytes(96 << 20))
        bk.backups.trigger("v-crash", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()))
        deadline = time.time() + 60
        while pack_bytes(data) < one_point + (16 << 20):
            assert time.time() < deadline, "the second backup wrote no packs"
            time.sleep(0.01)
        server = killed(server)
        rs, bk = clients(server)
        jobs = [j.properties.status for j in bk.backup_jobs.list("v-crash", RG, filter="operation eq 'Backup'")]
        assert sorted(jobs) == ["Completed", "Failed"], jobs
        listed = list(bk.recovery_points.list("v-crash", RG, "Azure", c, i))
        assert len(listed) == 1 and len(engine_points(data)) == 1, "the store holds only listed points"
        deadline = time.time() + 30
        while pack_bytes(data) > one_point + (1 << 20):
            assert time.time() < deadline, f"the interrupted backup's packs stay: {pack_bytes(data)} > {one_point}"
            time.sleep(0.1)

        # A restore killed while it writes leaves a temporary file; the next start removes it.
        sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/crashsa"
        bk.restores.begin_trigger("v-crash", RG, "Azure", c, i, listed[0].name, RestoreRequestResource(
            properties=IaasVMRestoreRequest(recovery_point_id=listed[0].name, recovery_type="RestoreDisks",
                                            storage_account_id=sa)), polling=False)
        tmp = data / "storageAccounts" / "crashsa" / f"vm-crash-{listed[0].name}" / "vm-crash.raw.raw.rsvault-restore"
        # The engine writes TMP.rsvault-partial, renames it to TMP when done,
        # and the service then publishes TMP under its final name.
        leftovers = lambda: [p for p in (tmp, tmp.with_name(tmp.name + ".rsvault-partial")) if p.exists()]
        deadline = time.time() + 60
        while not leftovers():
            assert time.time() < deadline, "the restore wrote no temporary file"
        server.proc.kill()
        server.proc.wait(timeout=20)
        assert leftovers(), "killed mid-restore"
        server = Server(data)
        assert list(data.glob("storageAccounts/**/*.rsvault-restore*")) == []
    finally:
        assert server.stop() == 0

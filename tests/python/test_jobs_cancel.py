"""Cancelling a running job (POST backupJobs/{job}/cancel) through the SDK,
the jobs that enabling and stopping protection record, and the vault's
soft-delete settings through backupconfig/vaultconfig."""
import os
import subprocess
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (BackupRequestResource, BackupResourceVaultConfig,
                                                      BackupResourceVaultConfigResource, IaasVMBackupRequest)

from conftest import SUB
from test_backup_now import wait_job
from test_protection import RG, VM_RG, protect


def big_vm(server, tmp_path, name, mib):
    img = tmp_path / f"{name}.raw"
    with open(img, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    r = requests.put(
        f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": f"file://{img}"}}}}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_cancel_a_running_backup(server, rs, bk, tmp_path):
    rs.vaults.begin_create_or_update(RG, "v-cancel", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    src = big_vm(server, tmp_path, "vm-big", 384)
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-big", f"VM;iaasvmcontainerv2;{VM_RG};vm-big"
    protect(bk, "v-cancel", c, i, src, bk.protection_policies.get("v-cancel", RG, "DefaultPolicy").id)
    configure = list(bk.backup_jobs.list("v-cancel", RG, filter="operation eq 'ConfigureBackup'"))
    assert len(configure) == 1 and configure[0].properties.status == "Completed"
    assert configure[0].properties.entity_friendly_name == "vm-big"

    headers = bk.backups.trigger("v-cancel", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()),
                                 cls=lambda resp, _b, _h: resp.http_response.headers)
    op = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
    job_id = bk.backup_operation_statuses.get("v-cancel", RG, op).properties.job_id
    assert bk.job_details.get("v-cancel", RG, job_id).properties.actions_info == ["Cancellable"]

    headers = bk.job_cancellations.trigger("v-cancel", RG, job_id, cls=lambda resp, _b, _h: resp.http_response.headers)
    location = headers["Location"]
    assert f"/backupJobs/{job_id}/operationResults/" in location
    deadline = time.time() + 60
    while True:
        r = requests.get(location, headers={"Authorization": f"Bearer {server.token}"})
        if r.status_code != 202:
            break
        assert time.time() < deadline
        time.sleep(0.1)
    assert r.status_code == 204
    job = wait_job(bk, "v-cancel", job_id)
    assert job.properties.status == "Cancelled"
    assert [t.status for t in job.properties.extended_info.tasks_list] == ["Completed", "Cancelled"]
    assert list(bk.recovery_points.list("v-cancel", RG, "Azure", c, i)) == [], "no partial recovery point"
    packs = [f for f in (server.data_dir / "stores").glob("**/packs/*/*")]
    assert packs == [], "the cancelled backup's packs went before the job ended"
    item = bk.protected_items.get("v-cancel", RG, "Azure", c, i)
    assert item.properties["protectionState"] == "IRPending"

    # A finished job cannot be cancelled; an unknown one is not found.
    with pytest.raises(HttpResponseError) as e:
        bk.job_cancellations.trigger("v-cancel", RG, job_id)
    assert e.value.status_code == 400 and e.value.error.code == "BMSUserErrorJobNotCancellable"
    with pytest.raises(HttpResponseError) as e:
        bk.job_cancellations.trigger("v-cancel", RG, "nope")
    assert e.value.status_code == 404

    # The cancelled job's data does not linger: after it, a backup completes
    # and the vault store holds that one point.
    bk.backups.trigger("v-cancel", RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()))
    for j in bk.backup_jobs.list("v-cancel", RG, filter="operation eq 'Backup' and status eq 'InProgress'"):
        assert wait_job(bk, "v-cancel", j.name, timeout=120).properties.status == "Completed"
    assert len(list(bk.recovery_points.list("v-cancel", RG, "Azure", c, i))) == 1


def test_vault_config_soft_delete(server, rs, bk):
    rs.vaults.begin_create_or_update(RG, "v-cfg", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    cfg = bk.backup_resource_vault_configs.get("v-cfg", RG)
    assert cfg.properties.soft_delete_feature_state == "Enabled"
    assert cfg.properties.storage_type == "GeoRedundant"
    cfg = bk.backup_resource_vault_configs.update("v-cfg", RG, BackupResourceVaultConfigResource(
        properties=BackupResourceVaultConfig(soft_delete_feature_state="Disabled")))
    assert cfg.properties.soft_delete_feature_state == "Disabled"
    vault = rs.vaults.get(RG, "v-cfg")
    assert vault.properties.security_settings.soft_delete_settings.soft_delete_state == "Disabled"
    bk.backup_resource_vault_configs.put("v-cfg", RG, BackupResourceVaultConfigResource(
        properties=BackupResourceVaultConfig(soft_delete_feature_state="AlwaysON")))
    with pytest.raises(HttpResponseError) as e:
        bk.backup_resource_vault_configs.update("v-cfg", RG, BackupResourceVaultConfigResource(
            properties=BackupResourceVaultConfig(soft_delete_feature_state="Disabled")))
    assert e.value.status_code == 400
    assert e.value.error.code == "BMSUserErrorDisablingSoftDeleteStateNotAllowed"
    enc = bk.backup_resource_encryption_configs.get("v-cfg", RG)
    assert enc.properties.encryption_at_rest_type == "MicrosoftManaged"

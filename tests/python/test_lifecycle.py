"""Suspend, resume, stop protection, delete with soft delete, undelete —
through the Azure SDK against `rsvault serve`."""
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices.models import Sku, Vault, VaultProperties
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSComputeVMProtectedItem, BackupRequestResource,
                                                      IaasVMBackupRequest, ProtectedItemResource)

from test_backup_now import wait_job
from test_protection import make_vm, RG, VM_RG


def put(bk, vault, c, i, **props):
    return bk.protected_items.begin_create_or_update(vault, RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(**props))).result()


def trigger_backup(bk, vault, c, i):
    """Starts Backup now; returns its job's name."""
    h = bk.backups.trigger(vault, RG, "Azure", c, i, BackupRequestResource(properties=IaasVMBackupRequest()),
                           cls=lambda resp, _b, _h: resp.http_response.headers)
    op = h["Azure-AsyncOperation"].rsplit("/", 1)[1]
    return bk.backup_operation_statuses.get(vault, RG, op).properties.job_id


def backup(bk, vault, c, i):
    return wait_job(bk, vault, trigger_backup(bk, vault, c, i))


def setup(server, rs, bk, tmp_path, vault, vm, **vault_props):
    rs.vaults.begin_create_or_update(RG, vault, Vault(location="westeurope", sku=Sku(name="Standard"),
                                                      properties=VaultProperties(**vault_props))).result()
    make_vm(server, tmp_path, vm, "westeurope")
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", f"VM;iaasvmcontainerv2;{VM_RG};{vm}"
    policy = bk.protection_policies.get(vault, RG, "DefaultPolicy").id
    put(bk, vault, c, i, policy_id=policy)
    assert backup(bk, vault, c, i).properties.status == "Completed"
    return c, i, policy


def test_suspend_resume_stop_delete_undelete(server, rs, bk, tmp_path):
    c, i, policy = setup(server, rs, bk, tmp_path, "v-life", "vm-life")
    state = lambda: bk.protected_items.get("v-life", RG, "Azure", c, i).properties

    put(bk, "v-life", c, i, policy_id=policy, protection_state="BackupsSuspended")
    assert state()["protectionState"] == "BackupsSuspended" and state()["policyName"] == "DefaultPolicy"
    with pytest.raises(HttpResponseError) as e:
        backup(bk, "v-life", c, i)
    assert e.value.status_code == 400
    put(bk, "v-life", c, i, policy_id=policy)
    assert state()["protectionState"] == "Protected"

    put(bk, "v-life", c, i, policy_id="", protection_state="ProtectionStopped")
    assert state()["protectionState"] == "ProtectionStopped"
    assert len(list(bk.recovery_points.list("v-life", RG, "Azure", c, i))) == 1, "stopping keeps the data"

    bk.protected_items.delete("v-life", RG, "Azure", c, i)
    s = state()
    assert s["isScheduledForDeferredDelete"] is True and s["deferredDeleteTimeInUTC"]
    assert s["deferredDeleteTimeRemaining"].startswith(("13.", "14."))
    assert len(list(bk.recovery_points.list("v-life", RG, "Azure", c, i))) == 1, "soft-deleted data is kept"
    with pytest.raises(HttpResponseError):
        bk.protected_items.delete("v-life", RG, "Azure", c, i)
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_delete(RG, "v-life").result()
    assert e.value.error.code == "ServiceResourceNotEmptyWithContainerDetails", "soft-deleted items still count"

    put(bk, "v-life", c, i, policy_id="", protection_state="ProtectionStopped", is_rehydrate=True)
    assert state()["isScheduledForDeferredDelete"] is False
    assert state()["protectionState"] == "ProtectionStopped"


def test_without_soft_delete_data_goes_at_once(server, rs, bk, tmp_path):
    c, i, _ = setup(server, rs, bk, tmp_path, "v-hard", "vm-hard",
                    security_settings={"softDeleteSettings": {"softDeleteState": "Disabled"}})
    bk.protected_items.delete("v-hard", RG, "Azure", c, i)
    with pytest.raises(ResourceNotFoundError):
        bk.protected_items.get("v-hard", RG, "Azure", c, i)
    rs.vaults.begin_delete(RG, "v-hard").result()

"""Discovery and enabling protection through azure-mgmt-recoveryservicesbackup,
as the seed's walkthrough does it, against `rsvault serve`."""
import subprocess

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import PatchVault, Sku, Vault, VaultProperties
from azure.mgmt.recoveryservicesbackup.models import AzureIaaSComputeVMProtectedItem, ProtectedItemResource

from conftest import SUB

RG = "rg-prot"
VM_RG = "rg-vms"


def make_vm(server, tmp_path, name, location, provider="Microsoft.Compute", os_type="Linux"):
    img = tmp_path / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "32M"], check=True)
    r = requests.put(
        f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/{provider}/virtualMachines/{name}",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"location": location, "properties": {"storageProfile": {"osDisk": {"osType": os_type, "vhd": {"uri": f"file://{img}"}}}}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def protect(bk, vault, container, item, source, policy_id):
    return bk.protected_items.begin_create_or_update(vault, RG, "Azure", container, item, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(source_resource_id=source, policy_id=policy_id))).result()


def test_discover_then_enable_protection(server, rs, bk, tmp_path):
    rs.vaults.begin_create_or_update(RG, "vault-we", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    vm_a = make_vm(server, tmp_path, "vm-a", "westeurope")
    make_vm(server, tmp_path, "vm-far", "eastus")
    make_vm(server, tmp_path, "vm-classic", "westeurope", "Microsoft.ClassicCompute")

    bk.protection_containers.refresh("vault-we", RG, "Azure")
    found = list(bk.backup_protectable_items.list("vault-we", RG, filter="backupManagementType eq 'AzureIaasVM'"))
    assert sorted(p.properties["friendlyName"] for p in found) == ["vm-a", "vm-classic"], "only the vault's region"
    pi = next(p for p in found if p.properties["friendlyName"] == "vm-a")
    assert pi.properties["virtualMachineVersion"] == "Compute"
    container = pi.id.split("/protectionContainers/")[1].split("/")[0]
    item = pi.id.split("/protectableItems/")[1]
    assert (container, item) == (f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-a", f"VM;iaasvmcontainerv2;{VM_RG};vm-a")

    policy = bk.protection_policies.get("vault-we", RG, "DefaultPolicy")
    got = protect(bk, "vault-we", container, item, pi.properties["virtualMachineId"], policy.id)
    assert got.properties["protectionState"] == "IRPending"
    assert got.properties["containerName"] == f"iaasvmcontainerv2;{VM_RG};vm-a"
    assert got.properties["policyName"] == "DefaultPolicy"
    assert got.properties["virtualMachineId"] == vm_a
    items = list(bk.backup_protected_items.list("vault-we", RG, filter="backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"))
    assert [i.properties["friendlyName"] for i in items] == ["vm-a"]
    assert bk.protection_policies.get("vault-we", RG, "DefaultPolicy").properties.protected_items_count == 1
    assert [p.properties["friendlyName"] for p in bk.backup_protectable_items.list("vault-we", RG)] == ["vm-classic"]
    assert [c.name for c in bk.backup_protection_containers.list("vault-we", RG, filter="backupManagementType eq 'AzureIaasVM' and status eq 'Registered'")] == [container]

    # Terraform style: lower-case names, no discovery first; a classic VM.
    got = protect(bk, "vault-we", f"iaasvmcontainer;iaasvmcontainer;{VM_RG.lower()};vm-classic",
                  f"vm;iaasvmcontainer;{VM_RG.lower()};vm-classic", None, policy.id)
    assert got.properties["protectedItemType"] == "Microsoft.ClassicCompute/virtualMachines"

    # Storage redundancy is locked now; the policy and vault are in use.
    assert bk.backup_resource_storage_configs_non_crr.get("vault-we", RG).properties.storage_type_state == "Locked"
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_update(RG, "vault-we", PatchVault(properties=VaultProperties(
            redundancy_settings={"standardTierStorageRedundancy": "LocallyRedundant"}))).result()
    assert e.value.error.code == "StorageModelModifyError"
    with pytest.raises(HttpResponseError) as e:
        bk.protection_policies.begin_delete("vault-we", RG, "DefaultPolicy").result()
    assert e.value.status_code == 400
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_delete(RG, "vault-we").result()
    assert e.value.error.code == "ServiceResourceNotEmptyWithContainerDetails"


def test_region_and_one_vault_rules(server, rs, bk, tmp_path):
    for name in ("v-one", "v-two"):
        rs.vaults.begin_create_or_update(RG, name, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    far = make_vm(server, tmp_path, "vm-east", "eastus")
    make_vm(server, tmp_path, "vm-x", "westeurope")
    pol = lambda v: bk.protection_policies.get(v, RG, "DefaultPolicy").id
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-east", f"VM;iaasvmcontainerv2;{VM_RG};vm-east"
    with pytest.raises(HttpResponseError) as e:
        protect(bk, "v-one", c, i, far, pol("v-one"))
    assert e.value.error.code == "BMSUserErrorInvalidConfigureProtectionRequest" and "own region" in e.value.error.message
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-x", f"VM;iaasvmcontainerv2;{VM_RG};vm-x"
    protect(bk, "v-one", c, i, None, pol("v-one"))
    with pytest.raises(HttpResponseError) as e:
        protect(bk, "v-two", c, i, None, pol("v-two"))
    assert "already protected by another vault" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        protect(bk, "v-one", f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};nope", f"VM;iaasvmcontainerv2;{VM_RG};nope", None, pol("v-one"))
    assert "Not Found" in e.value.error.message


def test_operation_urls_answer_as_the_cli_polls(server, rs, bk, tmp_path):
    rs.vaults.begin_create_or_update(RG, "v-ops", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    make_vm(server, tmp_path, "vm-ops", "westeurope")
    h = {"Authorization": f"Bearer {server.token}"}
    v = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-ops"
    r = requests.post(f"{v}/backupFabrics/Azure/refreshContainers?api-version=2026-10-01", headers=h)
    assert r.status_code == 202 and r.headers["Retry-After"] == "1"
    assert requests.get(r.headers["Location"], headers=h).status_code == 204
    pi = f"{v}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-ops/protectedItems/VM;iaasvmcontainerv2;{VM_RG};vm-ops"
    r = requests.put(pi, headers=h, json={"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
                                                         "policyId": f"{v}/backupPolicies/DefaultPolicy"}})
    assert r.status_code == 202, r.text
    op = r.headers["Azure-AsyncOperation"].rsplit("/", 1)[1]
    assert r.headers["Azure-AsyncOperation"].startswith(server.endpoint)
    for url in (r.headers["Azure-AsyncOperation"], f"{v}/backupOperations/{op}"):
        body = requests.get(url, headers=h).json()
        assert body["status"] == "Succeeded" and body["name"] == op
    for url in (r.headers["Location"], f"{v}/backupOperationResults/{op}", f"{v}/backupFabrics/Azure/operationResults/{op}"):
        assert requests.get(url, headers=h).status_code == 204
    assert bk.backup_operation_statuses.get("v-ops", RG, op).status == "Succeeded"
    assert requests.get(f"{v}/backupOperations/unknown", headers=h).status_code == 404


def test_backup_status_and_resource_groups(server, rs, bk, tmp_path):
    from azure.mgmt.recoveryservicesbackup.models import BackupStatusRequest
    rs.vaults.begin_create_or_update(RG, "vault-st", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    vm = make_vm(server, tmp_path, "vm-st", "westeurope")
    other = make_vm(server, tmp_path, "vm-free", "westeurope")
    st = bk.backup_status.get("westeurope", BackupStatusRequest(resource_type="VM", resource_id=vm))
    assert st.protection_status == "NotProtected" and st.vault_id is None
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-st", f"VM;iaasvmcontainerv2;{VM_RG};vm-st"
    protect(bk, "vault-st", c, i, vm, bk.protection_policies.get("vault-st", RG, "DefaultPolicy").id)
    st = bk.backup_status.get("westeurope", BackupStatusRequest(resource_type="VM", resource_id=vm))
    assert st.protection_status == "Protected" and st.policy_name == "DefaultPolicy"
    assert st.vault_id.endswith(f"/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/vault-st")
    assert (st.container_name, st.protected_item_name) == (c, i)
    assert bk.backup_status.get("westeurope", BackupStatusRequest(resource_type="VM", resource_id=other)).protection_status == "NotProtected"
    with pytest.raises(HttpResponseError) as e:
        bk.backup_status.get("westeurope", BackupStatusRequest(resource_type="VM", resource_id="not-an-id"))
    assert e.value.error.code == "BMSUserErrorInvalidInput"

    h = {"Authorization": f"Bearer {server.token}"}
    groups = requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourcegroups", headers=h).json()["value"]
    assert [g["name"] for g in groups] == sorted([RG, VM_RG], key=str.lower)
    assert requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourcegroups/{VM_RG}", headers=h).json()["location"] == "westeurope"
    r = requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourcegroups/nope", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    subs = requests.get(f"{server.endpoint}/subscriptions", headers=h).json()["value"]
    assert [s["subscriptionId"] for s in subs] == [SUB]

"""The real Azure CLI on the lists it has the server filter (the SDK's view
is test_filters.py): with two VMs protected under different policies,
`az backup container show --name <vm>` shows that VM's container,
`az backup item show` and `item list` find the right items, `az backup
policy list-associated-items` names the policy's VMs only, and `az backup
job list --operation …` the jobs of that operation.

It runs `az` through az_cli.py's harness (a TLS relay and a token endpoint
in front of the server); without that harness, or without `az`, it skips."""
import pytest
from azure.mgmt.recoveryservices.models import Sku, Vault

from test_policies import daily_policy
from test_protection import RG, VM_RG, make_vm, protect

az_cli = pytest.importorskip("az_cli", reason="the az harness (az_cli.py) is not in this tree")

VAULT = "v-az-filters"


@pytest.fixture(scope="module")
def az(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("az-filters")
    with az_cli.az_server() as a:
        rs, bk = a.sdk_clients()
        rs.vaults.begin_create_or_update(RG, VAULT, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        bk.protection_policies.create_or_update(VAULT, RG, "pol-b", daily_policy())
        default = bk.protection_policies.get(VAULT, RG, "DefaultPolicy").id
        pol_b = bk.protection_policies.get(VAULT, RG, "pol-b").id
        for vm, policy in [("vm-x1", default), ("vm-x2", pol_b)]:
            vm_id = make_vm(a.server, tmp_path, vm, "westeurope")
            protect(bk, VAULT, f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}",
                    f"VM;iaasvmcontainerv2;{VM_RG};{vm}", vm_id, policy)
        make_vm(a.server, tmp_path, "vm-x3", "westeurope")
        yield a


def vault_args():
    return ["--vault-name", VAULT, "--resource-group", RG]


def test_az_container_show_picks_the_named_vm(az):
    for vm in ["vm-x1", "vm-x2"]:
        c = az.json("backup", "container", "show", "--name", vm, "--backup-management-type", "AzureIaasVM",
                    *vault_args())
        assert c["name"] == f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", c
        assert c["properties"]["friendlyName"] == vm
    listed = az.json("backup", "container", "list", "--backup-management-type", "AzureIaasVM", *vault_args())
    assert sorted(c["properties"]["friendlyName"] for c in listed) == ["vm-x1", "vm-x2"]


def test_az_items_and_associated_items(az):
    items = az.json("backup", "item", "list", "--backup-management-type", "AzureIaasVM", "--workload-type", "VM",
                    *vault_args())
    assert sorted(i["properties"]["friendlyName"] for i in items) == ["vm-x1", "vm-x2"]
    item = az.json("backup", "item", "show", "--container-name", "vm-x2", "--name", "vm-x2",
                   "--backup-management-type", "AzureIaasVM", "--workload-type", "VM", *vault_args())
    assert item["properties"]["friendlyName"] == "vm-x2" and item["properties"]["policyName"] == "pol-b"
    assoc = az.json("backup", "policy", "list-associated-items", "--name", "pol-b", *vault_args())
    assert [i["properties"]["friendlyName"] for i in assoc] == ["vm-x2"]
    assoc = az.json("backup", "policy", "list-associated-items", "--name", "DefaultPolicy", *vault_args())
    assert [i["properties"]["friendlyName"] for i in assoc] == ["vm-x1"]


def test_az_job_list_by_operation(az):
    jobs = az.json("backup", "job", "list", "--operation", "ConfigureBackup", *vault_args())
    assert sorted(j["properties"]["entityFriendlyName"] for j in jobs) == ["vm-x1", "vm-x2"]
    assert az.json("backup", "job", "list", "--operation", "Backup", *vault_args()) == []
    assert len(az.json("backup", "job", "list", "--status", "Completed", *vault_args())) == 2


def test_az_vault_delete_force_removes_every_item_then_the_vault(az, tmp_path):
    """`az backup vault delete --force` lists the vault's containers and
    items (with the server's filters), stops protection with deletion of
    each item's data, and then deletes the vault: a vault with two protected
    VMs, one of them with a recovery point, goes, and the other vault's
    items stay."""
    rs, bk = az.sdk_clients()
    name = "v-az-force"
    rs.vaults.begin_create_or_update(RG, name, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    default = bk.protection_policies.get(name, RG, "DefaultPolicy").id
    for vm in ["vm-f1", "vm-f2"]:
        vm_id = make_vm(az.server, tmp_path, vm, "westeurope")
        protect(bk, name, f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}",
                f"VM;iaasvmcontainerv2;{VM_RG};{vm}", vm_id, default)
    az.json("backup", "protection", "backup-now", "--container-name", "vm-f1", "--item-name", "vm-f1",
            "--backup-management-type", "AzureIaasVM", "--workload-type", "VM",
            "--vault-name", name, "--resource-group", RG)
    jobs = az.json("backup", "job", "list", "--operation", "Backup", "--vault-name", name, "--resource-group", RG)
    assert len(jobs) == 1
    az.run("backup", "job", "wait", "--name", jobs[0]["name"], "--vault-name", name, "--resource-group", RG)
    vault = ["--vault-name", name, "--resource-group", RG]
    item = ["--backup-management-type", "AzureIaasVM", "--workload-type", "VM"]
    # Without --force the vault is refused while it protects items.
    refused = az.run("backup", "vault", "delete", "--name", name, "--resource-group", RG, "--yes", ok=False)
    assert refused.returncode != 0 and "existing resources within the vault" in refused.stderr
    # With --force, az deletes every item's data; soft delete (on by
    # default, as in Azure) keeps them, and the vault stays, saying why.
    held = az.run("backup", "vault", "delete", "--name", name, "--resource-group", RG, "--force", "--yes",
                  ok=False)
    assert held.returncode != 0 and "soft-deleted state" in held.stderr, held.stderr
    states = {i["properties"]["friendlyName"]: i["properties"].get("isScheduledForDeferredDelete")
              for i in az.json("backup", "item", "list", *item, *vault)}
    assert states == {"vm-f1": True, "vm-f2": True}, states
    # Azure's way out: soft delete off, undelete, delete again.
    az.run("backup", "vault", "backup-properties", "set", "--soft-delete-feature-state", "Disable",
           "--name", name, "--resource-group", RG)
    for vm in ["vm-f1", "vm-f2"]:
        az.run("backup", "protection", "undelete", "--container-name", vm, "--item-name", vm, *item, *vault)
    az.run("backup", "vault", "delete", "--name", name, "--resource-group", RG, "--force", "--yes")
    names = [v["name"] for v in az.json("backup", "vault", "list", "--resource-group", RG)]
    assert name not in names and VAULT in names
    items = az.json("backup", "item", "list", *item, *vault_args())
    assert sorted(i["properties"]["friendlyName"] for i in items) == ["vm-x1", "vm-x2"]

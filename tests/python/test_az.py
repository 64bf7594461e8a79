"""The real Azure CLI against rsvault (see az_cli.py): `az storage account`
create, show, list, check-name and delete, and `az backup restore
restore-disks --storage-account NAME` on a vault with two protected VMs."""
import pytest
from azure.mgmt.recoveryservices.models import Sku, Vault

from az_cli import az_server
from conftest import SUB
from test_backup_now import wait_job
from test_lifecycle import backup, put
from test_protection import RG, VM_RG, make_vm


@pytest.fixture
def az():
    with az_server() as a:
        yield a


def test_az_storage_account_commands(az):
    a = az.json("storage", "account", "create", "-g", "rg-az", "-n", "azsa", "-l", "westeurope", "--sku", "Standard_LRS",
                "--tags", "team=backup")
    assert a["id"] == f"/subscriptions/{SUB}/resourceGroups/rg-az/providers/Microsoft.Storage/storageAccounts/azsa"
    assert (a["provisioningState"], a["sku"]["name"], a["kind"], a["tags"]) == ("Succeeded", "Standard_LRS", "StorageV2",
                                                                                {"team": "backup"})
    assert (az.server.data_dir / "storageAccounts" / "azsa").is_dir()
    assert az.json("storage", "account", "show", "-g", "rg-az", "-n", "azsa")["id"] == a["id"]
    az.json("storage", "account", "create", "-g", "rg-az2", "-n", "azsecond", "-l", "japaneast")
    assert [x["name"] for x in az.json("storage", "account", "list", "-g", "rg-az")] == ["azsa"]
    assert sorted(x["name"] for x in az.json("storage", "account", "list")) == ["azsa", "azsecond"]
    taken = az.json("storage", "account", "check-name", "-n", "azsa")
    assert (taken["nameAvailable"], taken["reason"]) == (False, "AlreadyExists")
    bad = az.json("storage", "account", "check-name", "-n", "Not-Valid")
    assert (bad["nameAvailable"], bad["reason"]) == (False, "AccountNameInvalid")
    assert az.json("storage", "account", "check-name", "-n", "freename")["nameAvailable"] is True
    # az checks the name first, as Azure's names are global.
    p = az.run("storage", "account", "create", "-g", "rg-other", "-n", "azsa", "-l", "westeurope", ok=False)
    assert p.returncode != 0 and "already taken" in p.stderr, p.stderr
    az.run("storage", "account", "delete", "-g", "rg-az", "-n", "azsa", "--yes")
    assert not (az.server.data_dir / "storageAccounts" / "azsa").exists()
    p = az.run("storage", "account", "show", "-g", "rg-az", "-n", "azsa", ok=False)
    assert p.returncode != 0 and "ResourceNotFound" in p.stderr, p.stderr
    assert [x["name"] for x in az.json("storage", "account", "list")] == ["azsecond"]


def test_az_restore_disks_into_a_storage_account(az, tmp_path):
    rs, bk = az.sdk_clients()
    rs.vaults.begin_create_or_update(RG, "v-az", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    policy = bk.protection_policies.get("v-az", RG, "DefaultPolicy").id
    items = {}
    for vm in ["vm-az-1", "vm-az-2"]:
        make_vm(az.server, tmp_path, vm, "westeurope")
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}", f"VM;iaasvmcontainerv2;{VM_RG};{vm}"
        put(bk, "v-az", c, i, policy_id=policy)
        assert backup(bk, "v-az", c, i).properties.status == "Completed"
        items[vm] = (c, i)
    az.json("storage", "account", "create", "-g", RG, "-n", "azrestore", "-l", "westeurope")
    for vm, (c, i) in items.items():
        (rp,) = bk.recovery_points.list("v-az", RG, "Azure", c, i)
        # Native names: with two VMs in the vault, friendly names need the
        # containers' $filter, which the service does not apply yet.
        job = az.json("backup", "restore", "restore-disks", "-g", RG, "-v", "v-az", "-c", c, "-i", i,
                      "-r", rp.name, "--storage-account", "azrestore")
        assert job["properties"]["operation"] == "Restore", job
        done = wait_job(bk, "v-az", job["name"])
        assert done.properties.status == "Completed", done.properties.error_details
        bag = done.properties.extended_info.property_bag
        assert bag["Target Storage Account Name"] == "azrestore"
        folder = az.server.data_dir / "storageAccounts" / "azrestore" / f"{vm}-{rp.name}"
        assert bag["OS disk"].startswith(str(folder) + "/"), bag
        assert open(bag["OS disk"], "rb").read() == bytes(32 << 20), "the VM's (empty) 32 MiB disk"
    # An account az cannot find is az's error, before any restore starts.
    c, i = items["vm-az-1"]
    (rp,) = bk.recovery_points.list("v-az", RG, "Azure", c, i)
    p = az.run("backup", "restore", "restore-disks", "-g", RG, "-v", "v-az", "-c", c, "-i", i,
               "-r", rp.name, "--storage-account", "nosuchaccount", ok=False)
    assert p.returncode != 0 and "ResourceNotFound" in p.stderr, p.stderr


def test_az_role_assignments_and_definitions():
    import requests
    with az_server() as az:
        s = az.server
        r = requests.post(s.endpoint + "/rsvault/directory/servicePrincipals?api-version=2022-04-01", json={"displayName": "op"},
                          headers={"Authorization": f"Bearer {s.token}"}, verify=s.verify(), timeout=30)
        sp = r.json()
        scope = f"/subscriptions/{SUB}/resourceGroups/rg-roles"
        made = az.json("role", "assignment", "create", "--assignee-object-id", sp["objectId"],
                       "--assignee-principal-type", "ServicePrincipal", "--role", "Backup Operator", "--scope", scope)
        assert made["principalId"] == sp["objectId"] and made["scope"] == scope
        listed = az.json("role", "assignment", "list", "--scope", scope)
        assert [(a["principalId"], a["roleDefinitionName"]) for a in listed] == [(sp["objectId"], "Backup Operator")]
        defs = az.json("role", "definition", "list", "--name", "Backup Reader")
        assert [d["name"] for d in defs] == ["a795c7a0-d4a2-40c1-ae25-d81f01202912"]
        az.run("role", "assignment", "delete", "--ids", made["id"])
        assert az.json("role", "assignment", "list", "--scope", scope) == []


def test_az_vault_immutability_locks_for_good():
    with az_server() as az:
        az.run("backup", "vault", "create", "-g", "rg-imm", "-n", "v-imm", "-l", "westeurope")
        for state in ("Unlocked", "Locked"):
            v = az.json("backup", "vault", "update", "-g", "rg-imm", "-n", "v-imm", "--immutability-state", state)
            assert v["properties"]["securitySettings"]["immutabilitySettings"]["state"] == state
        p = az.run("backup", "vault", "update", "-g", "rg-imm", "-n", "v-imm", "--immutability-state", "Unlocked", ok=False)
        assert p.returncode != 0 and "UserErrorUnsupportedVaultImmutabilityStateChange" in p.stderr

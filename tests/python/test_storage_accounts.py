"""Storage accounts (the targets of RestoreDisks) through azure-mgmt-storage
and the `rsvault storage account` commands: create, show, list, delete, the
name check, a restore into an account, and the account a restore creates."""
import json
import os
import stat
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import Sku, StorageAccountCheckNameAvailabilityParameters, StorageAccountCreateParameters

from conftest import SUB, HttpBearerPolicy, TokenCredential
from test_cli import run, js
from test_lifecycle import setup
from test_protection import RG
from test_restore import trigger


def storage(server):
    cred = TokenCredential(server.token)
    return StorageManagementClient(cred, SUB, base_url=server.endpoint, polling_interval=1,
                                   authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))


def create(st, rg, name, location="westeurope", **kw):
    return st.storage_accounts.begin_create(rg, name, StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="StorageV2", location=location, **kw)).result()


def test_storage_accounts_through_the_sdk(server):
    st = storage(server)
    a = create(st, "rg-sa", "sdkaccount", tags={"team": "backup"})
    assert a.id == f"/subscriptions/{SUB}/resourceGroups/rg-sa/providers/Microsoft.Storage/storageAccounts/sdkaccount"
    assert (a.name, a.location, a.sku.name, a.kind, a.provisioning_state) == (
        "sdkaccount", "westeurope", "Standard_LRS", "StorageV2", "Succeeded")
    assert a.tags == {"team": "backup"} and a.creation_time is not None
    folder = server.data_dir / "storageAccounts" / "sdkaccount"
    record = folder / ".rsvault-account.json"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert json.loads(record.read_text())["resourceGroup"] == "rg-sa"

    assert st.storage_accounts.get_properties("RG-SA", "sdkaccount").id == a.id, "groups match case-insensitively"
    create(st, "rg-sa2", "second", location="japaneast")
    assert sorted(x.name for x in st.storage_accounts.list()) == ["sdkaccount", "second"]
    assert [x.name for x in st.storage_accounts.list_by_resource_group("rg-sa2")] == ["second"]

    check = lambda n: st.storage_accounts.check_name_availability(
        StorageAccountCheckNameAvailabilityParameters(name=n))
    assert check("freshname").name_available
    taken = check("sdkaccount")
    assert (taken.name_available, taken.reason) == (False, "AlreadyExists")
    for bad in ["ab", "UpperCase", "with-dash", "a" * 25]:
        r = check(bad)
        assert (r.name_available, r.reason) == (False, "AccountNameInvalid"), bad
    # Names are global: another group cannot take one, and bad names are refused.
    with pytest.raises(HttpResponseError) as e:
        create(st, "rg-other", "sdkaccount")
    assert e.value.status_code == 409 and e.value.error.code == "StorageAccountAlreadyTaken"
    with pytest.raises(HttpResponseError) as e:
        create(st, "rg-sa", "Bad_Name")
    assert e.value.status_code == 400 and e.value.error.code == "AccountNameInvalid"

    # Deleting removes the folder with what was restored into it.
    (folder / "vm-x-1").mkdir()
    (folder / "vm-x-1" / "disk.raw").write_bytes(b"restored")
    st.storage_accounts.delete("rg-sa", "sdkaccount")
    assert not folder.exists()
    with pytest.raises(ResourceNotFoundError):
        st.storage_accounts.get_properties("rg-sa", "sdkaccount")
    assert check("sdkaccount").name_available
    h = {"Authorization": f"Bearer {server.token}"}
    gone = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/rg-sa/providers/Microsoft.Storage/storageAccounts/sdkaccount?api-version=2025-06-01"
    assert requests.delete(gone, headers=h).status_code == 204, "deleting what is not there is 204, as in Azure"


def test_az_style_lookups_by_name(server):
    """`az backup restore restore-disks` reads the account with an empty
    resource type, after trying classic storage (which must be a 404)."""
    create(storage(server), "rg-look", "lookupsa")
    h = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.endpoint}/subscriptions/{SUB}/resourcegroups/rg-look/providers"
    r = requests.get(f"{base}/Microsoft.ClassicStorage/storageAccounts//lookupsa?api-version=2015-12-01", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = requests.get(f"{base}/Microsoft.Storage/storageAccounts//lookupsa?api-version=2016-01-01", headers=h)
    assert r.status_code == 200 and r.json()["name"] == "lookupsa", r.text
    r = requests.get(f"{base}/Microsoft.Storage/storageAccounts//%2E%2E?api-version=2016-01-01", headers=h)
    assert r.status_code == 404


def test_restores_write_into_accounts_and_create_missing_ones(server, rs, bk, tmp_path):
    st = storage(server)
    c, i, _ = setup(server, rs, bk, tmp_path, "v-sa", "vm-sa")
    rp = list(bk.recovery_points.list("v-sa", RG, "Azure", c, i))[0].name
    create(st, RG, "madefirst")
    for name in ["madefirst", "madebyrestore"]:
        sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/{name}"
        job = trigger(bk, "v-sa", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa)
        assert job.properties.status == "Completed", job.properties.error_details
        disk = job.properties.extended_info.property_bag["OS disk"]
        assert disk.startswith(str(server.data_dir / "storageAccounts" / name) + "/"), disk
    # The account the restore created is an account like the others.
    a = st.storage_accounts.get_properties(RG, "madebyrestore")
    assert (a.location, a.sku.name) == ("westeurope", "Standard_LRS")
    assert sorted(x.name for x in st.storage_accounts.list_by_resource_group(RG)) == ["madebyrestore", "madefirst"]
    st.storage_accounts.delete(RG, "madebyrestore")
    assert not (server.data_dir / "storageAccounts" / "madebyrestore").exists()


def test_restored_disks_are_found_as_containers_and_blobs(server, rs, bk, tmp_path):
    """A restore of disks is a container of its account, its disks and
    vmconfig.json the blobs in it: through azure-mgmt-storage, the REST
    API and `rsvault storage container/blob list`; a restore still writing
    and the account's record are never listed."""
    st = storage(server)
    c, i, _ = setup(server, rs, bk, tmp_path, "v-blob", "vm-blob")
    rp = list(bk.recovery_points.list("v-blob", RG, "Azure", c, i))[0].name
    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/blobsa"
    job = trigger(bk, "v-blob", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa)
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    folder = server.data_dir / "storageAccounts" / "blobsa"
    container = bag["Config Blob Container Name"]
    assert Path(bag["Config Blob Name"]).parent == folder / container
    # A restore in progress leaves a temporary file; it is no blob.
    (folder / container / "extra.raw.rsvault-restore").write_bytes(b"half")

    got = list(st.blob_containers.list(RG, "blobsa"))
    assert [x.name for x in got] == [container]
    assert got[0].id == f"{sa}/blobServices/default/containers/{container}"
    assert got[0].type == "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert got[0].last_modified_time is not None and got[0].public_access == "None"
    one = st.blob_containers.get(RG, "blobsa", container)
    assert one.name == container
    with pytest.raises(ResourceNotFoundError) as e:
        st.blob_containers.get(RG, "blobsa", "no-such-container")
    assert e.value.error.code == "ContainerNotFound"
    with pytest.raises(ResourceNotFoundError):
        list(st.blob_containers.list(RG, "nosuchaccount"))

    h = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.endpoint}{sa}/blobServices/default/containers/{container}/blobs?api-version=2025-06-01"
    blobs = requests.get(url, headers=h).json()["value"]
    disk = Path(bag["OS disk"])
    want = {disk.name: ("PageBlob", "application/octet-stream", disk.stat().st_size),
            "vmconfig.json": ("BlockBlob", "application/json", (folder / container / "vmconfig.json").stat().st_size)}
    assert {b["name"]: (b["properties"]["blobType"], b["properties"]["contentType"], b["properties"]["contentLength"])
            for b in blobs} == want
    escape = f"{server.endpoint}{sa}/blobServices/default/containers/%2E%2E/blobs?api-version=2025-06-01"
    r = requests.get(escape, headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ContainerNotFound", r.text

    # The CLI, with or without the account's resource group.
    assert [x["name"] for x in js(server, "storage", "container", "list", "--account-name", "blobsa")] == [container]
    listed = js(server, "storage", "blob", "list", "--account-name", "blobsa", "-g", RG, "-c", container)
    assert sorted(b["name"] for b in listed) == sorted(want)
    table = run(server, "storage", "blob", "list", "--account-name", "blobsa", "-c", container, "-o", "table").stdout.splitlines()
    assert table[0].split() == ["Name", "Blob", "Type", "Length", "Content", "Type", "Last", "Modified"]
    assert any(line.startswith("vmconfig.json") and "BlockBlob" in line for line in table[2:])
    p = run(server, "storage", "container", "list", "--account-name", "nosuchsa", ok=False)
    assert p.returncode == 1 and "(ResourceNotFound)" in p.stderr


def test_rsvault_storage_account_commands(server):
    a = js(server, "storage", "account", "create", "-g", "rg-cli-sa", "-n", "clisa", "-l", "westeurope",
           "--sku", "Standard_GRS", "--tags", "a=b")
    assert (a["name"], a["sku"]["name"], a["resourceGroup"], a["tags"]) == ("clisa", "Standard_GRS", "rg-cli-sa", {"a": "b"})
    assert js(server, "storage", "account", "show", "-g", "rg-cli-sa", "-n", "clisa")["id"] == a["id"]
    assert [x["name"] for x in js(server, "storage", "account", "list", "-g", "rg-cli-sa")] == ["clisa"]
    assert [x["name"] for x in js(server, "storage", "account", "list")] == ["clisa"]
    table = run(server, "storage", "account", "list", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["CreationTime", "Kind", "Location", "Name", "PrimaryLocation", "ProvisioningState",
                                "ResourceGroup", "StatusOfPrimary"]
    assert "clisa" in table[2] and "Succeeded" in table[2]
    assert js(server, "storage", "account", "check-name", "-n", "clisa") == {
        "nameAvailable": False, "reason": "AlreadyExists", "message": "The storage account named clisa is already taken."}
    assert js(server, "storage", "account", "check-name", "-n", "Nope")["reason"] == "AccountNameInvalid"
    p = run(server, "storage", "account", "delete", "-g", "rg-cli-sa", "-n", "clisa", ok=False)
    assert p.returncode == 1 and "--yes" in p.stderr
    run(server, "storage", "account", "delete", "-g", "rg-cli-sa", "-n", "clisa", "--yes")
    p = run(server, "storage", "account", "show", "-g", "rg-cli-sa", "-n", "clisa", ok=False)
    assert p.returncode == 1 and "(ResourceNotFound)" in p.stderr

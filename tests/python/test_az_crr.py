"""Cross-region restore with the real Azure CLI (see az_cli.py), as the
walkthrough's user runs it: enable it on a geo-redundant vault, list the
recovery points of the secondary region, and restore disks there with
`--use-secondary-region` while the primary region's store is gone."""
import time

import pytest
import requests

from az_cli import az_server
from conftest import SUB, vault_stores
from test_protection import RG
from test_restore_managed import backed_up, check_restored


@pytest.fixture
def az():
    with az_server("[scheduler]\ninterval_seconds = 1\n") as a:
        yield a


def in_sync(server, vault, timeout=120):
    url = (f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{vault}"
           "/backupstorageconfig/vaultstorageconfig?api-version=2025-02-01")
    deadline = time.time() + timeout
    while True:
        r = requests.get(url, headers={"Authorization": f"Bearer {server.token}"}).json()["properties"]["rsvaultReplication"]
        if r["state"] == "InSync":
            return r
        assert time.time() < deadline, r
        time.sleep(0.5)


def test_az_cross_region_restore_with_the_primary_store_gone(az, tmp_path):
    rs, bk = az.sdk_clients()
    vm, group = "vm-crr", "rg-crr"
    c, i, rp, at_point = backed_up(az.server, rs, bk, tmp_path, "v-crr", vm)
    p = az.run("backup", "recoverypoint", "list", "-g", RG, "-v", "v-crr", "-c", c, "-i", i,
               "--backup-management-type", "AzureIaasVM", "--use-secondary-region", ok=False)
    assert p.returncode != 0 and "BMSUserErrorCrossRegionRestoreNotEnabled" in p.stderr, p.stderr
    az.run("backup", "vault", "backup-properties", "set", "-g", RG, "-n", "v-crr", "--cross-region-restore-flag", "true")
    props = az.json("backup", "vault", "backup-properties", "show", "-g", RG, "-n", "v-crr")
    assert props[0]["properties"]["crossRegionRestoreFlag"] is True, props
    in_sync(az.server, "v-crr")

    points = az.json("backup", "recoverypoint", "list", "-g", RG, "-v", "v-crr", "-c", c, "-i", i,
                     "--backup-management-type", "AzureIaasVM", "--use-secondary-region")
    assert [p["name"] for p in points] == [rp]
    assert [t["type"] for t in points[0]["properties"]["recoveryPointTierDetails"]] == ["HardenedRP"]

    # The primary region's store is lost.
    (primary,) = vault_stores(az.server.data_dir)
    primary.rename(primary.with_name(primary.name + ".lost"))
    az.json("storage", "account", "create", "-g", RG, "-n", "azcrr", "-l", "northeurope")
    job = az.json("backup", "restore", "restore-disks", "-g", RG, "-v", "v-crr", "-c", c, "-i", i, "-r", rp,
                  "--storage-account", "azcrr", "--use-secondary-region", "--target-resource-group", group)
    assert job["properties"]["operation"] == "CrossRegionRestore", job
    deadline = time.time() + 120
    while job["properties"]["status"] == "InProgress":
        assert time.time() < deadline
        time.sleep(1)
        job = az.json("backup", "job", "show", "-g", RG, "-v", "v-crr", "-n", job["name"], "--use-secondary-region")
    assert job["properties"]["status"] == "Completed", job
    bag = job["properties"]["extendedInfo"]["propertyBag"]
    assert bag["Restore Source"] == "Secondary region vault (HardenedRP)", bag
    check_restored(az.server, tmp_path, group, vm, bag, at_point)
    jobs = az.json("backup", "job", "list", "-g", RG, "-v", "v-crr", "--use-secondary-region")
    assert [j["name"] for j in jobs] == [job["name"]]

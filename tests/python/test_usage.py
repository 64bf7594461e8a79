"""Vault usage through both SDKs: protected items and instances by Azure's
size bands, recovery points, and storage after deduplication and compression
(which is what the vault's store really occupies on disk)."""
import requests

from conftest import SUB, secondary_store, vault_stores

from test_geo import in_sync
from test_lifecycle import backup, setup
from test_protection import RG


def test_usages_and_backup_usage_summaries(server, rs, bk, tmp_path):
    c, i, _ = setup(server, rs, bk, tmp_path, "v-use", "vm-use")
    usages = {u.name.value: u for u in rs.usages.list_by_vaults(RG, "v-use")}
    assert usages["ProtectedItemCount"].current_value == 1
    assert usages["ProtectedInstanceCount"].current_value == 1
    assert usages["SmallProtectedInstanceCount"].current_value == 1, "a 32 MiB VM is in the ≤ 50 GB band"
    assert usages["ProtectedBytes"].current_value == 32 << 20
    assert usages["RecoveryPointCount"].current_value == 1
    stored = usages["GRSStorageUsage"]
    assert stored.unit == "Bytes"
    (root,) = vault_stores(server.data_dir)
    data = sum(f.stat().st_size for d in ("packs", "index", "points") for f in (root / d).rglob("*") if f.is_file())
    assert stored.current_value == data + (root / "config").stat().st_size
    assert stored.current_value < usages["ProtectedBytes"].current_value, "deduplicated and compressed"
    assert usages["BackedUpBytes"].current_value == 32 << 20, "one point of the whole VM, before deduplication"
    # Geo-redundant: the secondary region's copy, once replication caught up,
    # is what its store occupies there.
    in_sync(server, "v-use")
    second = secondary_store(server.data_dir, root)
    second_data = sum(f.stat().st_size for d in ("packs", "index", "points") for f in (second / d).rglob("*") if f.is_file())
    usages = {u.name.value: u for u in rs.usages.list_by_vaults(RG, "v-use")}
    assert usages["SecondaryStorageUsage"].current_value == second_data + (second / "config").stat().st_size
    assert usages["SecondaryStorageUsage"].current_value > 0

    summaries = {s.name.value: s.current_value for s in bk.backup_usage_summaries.list(
        "v-use", RG, filter="type eq 'BackupProtectedItemCountSummary' and backupManagementType eq 'AzureIaasVM'")}
    assert summaries["ProtectedItemCount"] == 1 and summaries["ProtectedInstanceCount"] == 1
    assert summaries["StorageUsage"] == stored.current_value
    assert "ProtectionContainerCount" not in summaries

    # Per item (rsvault's extendedInfo): the VM's size at its newest point
    # and what its points backed up; a second point doubles the latter.
    h = {"Authorization": f"Bearer {server.token}"}
    vault = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-use"
    item = f"{vault}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}?api-version=2026-08-01"
    ext = requests.get(item, headers=h, verify=server.verify()).json()["properties"]["extendedInfo"]
    assert (ext["rsvaultProtectedBytes"], ext["rsvaultBackedUpBytes"]) == (32 << 20, 32 << 20), ext
    assert backup(bk, "v-use", c, i).properties.status == "Completed"
    listed = requests.get(f"{vault}/backupProtectedItems?api-version=2026-08-01", headers=h, verify=server.verify()).json()["value"]
    assert [(x["properties"]["extendedInfo"]["recoveryPointCount"], x["properties"]["extendedInfo"]["rsvaultBackedUpBytes"])
            for x in listed] == [(2, 64 << 20)]
    assert {u.name.value: u.current_value for u in rs.usages.list_by_vaults(RG, "v-use")}["BackedUpBytes"] == 64 << 20

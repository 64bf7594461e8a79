"""Vault usage through both SDKs: protected items and instances by Azure's
size bands, recovery points, and storage after deduplication and compression
(which is what the vault's store really occupies on disk)."""
from conftest import vault_stores

from test_lifecycle import setup
from test_protection import RG


def test_usages_and_backup_usage_summaries(server, rs, bk, tmp_path):
    setup(server, rs, bk, tmp_path, "v-use", "vm-use")
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

    summaries = {s.name.value: s.current_value for s in bk.backup_usage_summaries.list(
        "v-use", RG, filter="type eq 'BackupProtectedItemCountSummary' and backupManagementType eq 'AzureIaasVM'")}
    assert summaries["ProtectedItemCount"] == 1 and summaries["ProtectedInstanceCount"] == 1
    assert summaries["StorageUsage"] == stored.current_value
    assert "ProtectionContainerCount" not in summaries

//! Usage of a vault: `usages` (Recovery Services) and
//! `backupUsageSummaries` (Backup). Protected instances are counted as
//! Azure bills them: a VM of at most 50 GB is one small instance, one of
//! 50–500 GB one instance, and a larger one an instance per started 500 GB.
//! Storage is what the vault's store occupies after deduplication and
//! compression.

use crate::Service;
use crate::error::Result;
use crate::inventory::{ResourceRef, VmProvider};
use crate::jobs::parse_filter;
use crate::metastore::records::PointRecord;
use crate::vault::VaultRef;
use rsvault_arm::usage::{UsageEntry, UsageName};
use std::collections::HashMap;

const GB: u64 = 1_000_000_000;

/// Instances one VM of `bytes` counts as: `(small, standard)`.
pub fn instances(bytes: u64) -> (u64, u64) {
    if bytes <= 50 * GB {
        (1, 0)
    } else if bytes <= 500 * GB {
        (0, 1)
    } else {
        (0, bytes.div_ceil(500 * GB))
    }
}

/// What one protected item's recovery points come to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ItemUsage {
    /// The disks of its newest point: the VM's size when last backed up.
    pub protected_bytes: u64,
    /// Its points' disks summed: what it backed up before deduplication
    /// and compression.
    pub backed_up_bytes: u64,
}

/// The disks of a point summed: what it backed up.
fn point_size(p: &PointRecord) -> Result<u64> {
    disks_size(&p.disks)
}

fn disks_size(disks: &str) -> Result<u64> {
    Ok(crate::point_disks::parse(disks)?
        .iter()
        .map(|d| d.size)
        .sum())
}

/// Each item's usage of these points (by the item's row id). A point whose
/// disk list does not read is left out of the figures (and logged): a
/// listing still shows the items.
fn usages_of(points: Vec<PointRecord>) -> HashMap<i64, ItemUsage> {
    let mut out: HashMap<i64, (jiff::Timestamp, ItemUsage)> = HashMap::new();
    for p in points {
        let size = match point_size(&p) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(point = %p.name, "left out of the item's usage: {e}");
                continue;
            }
        };
        let time = p
            .time
            .parse::<jiff::Timestamp>()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let (newest, u) = out
            .entry(p.item)
            .or_insert((jiff::Timestamp::MIN, ItemUsage::default()));
        u.backed_up_bytes = u.backed_up_bytes.saturating_add(size);
        if time >= *newest {
            *newest = time;
            u.protected_bytes = size;
        }
    }
    out.into_iter().map(|(k, (_, u))| (k, u)).collect()
}

/// A vault's usage figures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    pub protected_items: u64,
    pub small_instances: u64,
    pub instances: u64,
    pub protected_bytes: u64,
    pub stored_bytes: u64,
    /// The disks' sizes summed over every recovery point: what the store
    /// would hold without deduplication and compression.
    pub backed_up_bytes: u64,
    pub recovery_points: u64,
    pub redundancy: String,
    /// What a geo-redundant vault's secondary copy occupies, when its
    /// store answers.
    pub secondary_stored_bytes: Option<u64>,
}

fn entry(name: &str, localized: &str, unit: &str, value: u64) -> UsageEntry {
    UsageEntry {
        unit: Some(unit.into()),
        quota_period: Some("P1D".into()),
        current_value: Some(value),
        limit: Some(-1),
        name: Some(UsageName {
            value: Some(name.into()),
            localized_value: Some(localized.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Service {
    /// Computes a vault's usage.
    pub fn usage(&self, v: &VaultRef) -> Result<Usage> {
        let vault = self.vault_row(v)?;
        let items: Vec<(VmProvider, String, String)> = self
            .meta
            .vault_items(vault.rowid)?
            .into_iter()
            .map(|i| (i.provider, i.vm.resource_group, i.vm.name))
            .collect();
        let mut u = Usage {
            protected_items: items.len() as u64,
            redundancy: vault.redundancy.clone(),
            ..Default::default()
        };
        for (provider, rg, vm) in items {
            let r = ResourceRef {
                subscription: v.subscription.clone(),
                resource_group: rg,
                name: vm,
            };
            // A VM deleted from the inventory is still protected: its size
            // is that of its latest recovery point.
            let bytes = match self.vm_disks(provider, &r) {
                Ok(disks) => disks.iter().map(|d| d.size).sum(),
                Err(_) => self.latest_point_size(vault.rowid, &r)?,
            };
            let (small, std) = instances(bytes);
            u.small_instances += small;
            u.instances += small + std;
            u.protected_bytes += bytes;
        }
        let points = self.meta.vault_points(vault.rowid)?;
        u.recovery_points = points.len() as u64;
        for p in &points {
            u.backed_up_bytes = u.backed_up_bytes.saturating_add(point_size(p)?);
        }
        u.stored_bytes = self.open_vault_store(&vault.store)?.stored_bytes()?;
        // The secondary region's store may be out of reach: the usage of
        // the primary is still shown, without the secondary's figure.
        if let Some(s) = &vault.secondary {
            match self
                .open_vault_store(&s.store)
                .and_then(|st| Ok(st.stored_bytes()?))
            {
                Ok(n) => u.secondary_stored_bytes = Some(n),
                Err(e) => {
                    tracing::warn!(vault = %v.name, "the secondary store's usage is unknown: {e}")
                }
            }
        }
        Ok(u)
    }

    /// The usage of each item (by the item's row id) of the vault's
    /// recovery points, for a listing of its items.
    pub(crate) fn item_usages(&self, vault_rowid: i64) -> Result<HashMap<i64, ItemUsage>> {
        Ok(usages_of(self.meta.vault_points(vault_rowid)?))
    }

    /// The usage of one item, of its own recovery points only.
    pub(crate) fn item_usage(&self, item: i64) -> Result<Option<ItemUsage>> {
        Ok(usages_of(self.meta.item_points(item)?).remove(&item))
    }

    fn latest_point_size(&self, vault_rowid: i64, r: &ResourceRef) -> Result<u64> {
        let disks: Option<String> = self
            .meta
            .vault_items(vault_rowid)?
            .into_iter()
            .find(|i| {
                i.vm.resource_group.eq_ignore_ascii_case(&r.resource_group)
                    && i.vm.name.eq_ignore_ascii_case(&r.name)
            })
            .map(|i| self.meta.item_points(i.id))
            .transpose()?
            .and_then(|points| points.into_iter().last())
            .map(|p| p.disks);
        Ok(match disks {
            Some(d) => disks_size(&d)?,
            None => 0,
        })
    }

    /// `GET {vault}/usages`, as `RecoveryServicesClient.usages.list_by_vaults` reads it.
    pub fn vault_usages(&self, v: &VaultRef) -> Result<Vec<UsageEntry>> {
        let u = self.usage(v)?;
        let storage = if u.redundancy == "LocallyRedundant" {
            ("LRSStorageUsage", "LRS storage usage")
        } else {
            ("GRSStorageUsage", "GRS storage usage")
        };
        Ok([
            entry(
                "ProtectedItemCount",
                "Protected items",
                "Count",
                u.protected_items,
            ),
            entry(
                "IaaSVMProtectedItemCount",
                "Azure virtual machines protected",
                "Count",
                u.protected_items,
            ),
            entry(
                "ProtectedInstanceCount",
                "Protected instances",
                "Count",
                u.instances,
            ),
            entry(
                "SmallProtectedInstanceCount",
                "Protected instances of at most 50 GB",
                "Count",
                u.small_instances,
            ),
            entry(
                "ProtectedBytes",
                "Size of protected virtual machines",
                "Bytes",
                u.protected_bytes,
            ),
            entry(
                "RecoveryPointCount",
                "Recovery points",
                "Count",
                u.recovery_points,
            ),
            entry(storage.0, storage.1, "Bytes", u.stored_bytes),
            entry(
                "BackedUpBytes",
                "Data backed up, before deduplication and compression",
                "Bytes",
                u.backed_up_bytes,
            ),
        ]
        .into_iter()
        .chain(u.secondary_stored_bytes.map(|n| {
            entry(
                "SecondaryStorageUsage",
                "Storage used by the secondary region's copy (GRS)",
                "Bytes",
                n,
            )
        }))
        .collect())
    }

    /// `GET {vault}/backupUsageSummaries[?$filter=type eq '…']`.
    pub fn backup_usage_summaries(&self, v: &VaultRef, filter: &str) -> Result<Vec<UsageEntry>> {
        let u = self.usage(v)?;
        let f = parse_filter(filter);
        let kind = f
            .iter()
            .find(|(k, _)| k == "type")
            .map(|(_, v)| v.to_ascii_lowercase());
        let all = vec![
            (
                "backupprotecteditemcountsummary",
                entry(
                    "ProtectedItemCount",
                    "Protected items",
                    "Count",
                    u.protected_items,
                ),
            ),
            (
                "backupprotectioncontainercountsummary",
                entry(
                    "ProtectionContainerCount",
                    "Protection containers",
                    "Count",
                    u.protected_items,
                ),
            ),
            (
                "backupprotecteditemcountsummary",
                entry(
                    "ProtectedInstanceCount",
                    "Protected instances",
                    "Count",
                    u.instances,
                ),
            ),
            (
                "backupprotecteditemcountsummary",
                entry(
                    "SmallProtectedInstanceCount",
                    "Protected instances of at most 50 GB",
                    "Count",
                    u.small_instances,
                ),
            ),
            (
                "",
                entry(
                    "StorageUsage",
                    "Storage used after deduplication and compression",
                    "Bytes",
                    u.stored_bytes,
                ),
            ),
        ];
        Ok(all
            .into_iter()
            .filter(|(k, _)| {
                kind.as_deref()
                    .is_none_or(|want| k.is_empty() || *k == want)
            })
            .map(|(_, e)| e)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_bands() {
        for (gb, want) in [
            (1, (1, 0)),
            (50, (1, 0)),
            (51, (0, 1)),
            (500, (0, 1)),
            (501, (0, 2)),
            (1000, (0, 2)),
            (1001, (0, 3)),
            (4096, (0, 9)),
        ] {
            assert_eq!(instances(gb * GB), want, "{gb} GB");
        }
        assert_eq!(instances(50 * GB + 1), (0, 1));
    }
}

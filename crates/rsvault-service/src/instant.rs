//! The instant-restore tier: the snapshot files a live backup leaves on the
//! host, kept for the policy's `instantRpRetentionRangeInDays`.
//!
//! An incremental snapshot is a qcow2 overlay on the previous one, so a
//! point's snapshot is a full image through its backing chain. When a
//! snapshot leaves the tier, the snapshot built on it first takes in the
//! data it needs (`qemu-img rebase`, which keeps the overlay's view at
//! every step), then the file goes. The tier is served as Azure serves it:
//! `Microsoft.Compute/restorePointCollections` in the resource group
//! `AzureBackupRG_<region>_1`.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::VmProvider;
use crate::metastore::records::ActiveJobQuery;
use crate::point_disks::{self, PointDisk};
use crate::protection::ItemName;
use rsvault_arm::Resource;
use rsvault_arm::policy::InstantRpDetails;
use rsvault_arm::restore_point::{
    ConsistencyMode, DiskRestorePointRef, RestorePoint, RestorePointCollection,
    RestorePointCollectionProperties, RestorePointCollectionSource, RestorePointDisk,
    RestorePointProperties, RestorePointSourceMetadata, RestorePointStorageProfile,
};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn rebase(child: &Path, new_base: Option<&Path>) -> Result<()> {
    let mut c = Command::new("qemu-img");
    c.args(["rebase", "-q", "-f", "qcow2"]);
    match new_base {
        Some(b) => c.args([
            "-F".as_ref(),
            "qcow2".as_ref(),
            "-b".as_ref(),
            b.as_os_str(),
        ]),
        None => c.args(["-b", ""]),
    };
    let out = c
        .arg(child)
        .output()
        .map_err(|e| ServiceError::Internal(format!("cannot run qemu-img: {e}")))?;
    if !out.status.success() {
        return Err(ServiceError::Internal(format!(
            "qemu-img rebase {}: {}",
            child.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn remove_snapshot(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a snapshot file");
    }
    // The job's directory goes with its last file.
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The resource group of the instant tier: the policy's
/// `instantRPDetails` prefix and suffix, or Azure's default name.
pub fn backup_resource_group(location: &str, details: Option<&InstantRpDetails>) -> String {
    let prefix = details.and_then(|d| d.azure_backup_rg_name_prefix.as_deref());
    match prefix {
        Some(p) if !p.is_empty() => {
            let suffix = details
                .and_then(|d| d.azure_backup_rg_name_suffix.as_deref())
                .unwrap_or("");
            format!("{p}1{suffix}")
        }
        _ => format!("AzureBackupRG_{location}_1"),
    }
}

fn consistency_mode(c: &str) -> ConsistencyMode {
    match c {
        "AppConsistent" => ConsistencyMode::ApplicationConsistent,
        "FileSystemConsistent" => ConsistencyMode::FileSystemConsistent,
        _ => ConsistencyMode::CrashConsistent,
    }
}

/// A disk's snapshot file: its LUN (`None` for the OS disk) and path.
pub(crate) type SnapshotSource = (Option<i64>, PathBuf);

/// One item's points in the instant tier.
struct TierItem {
    vm_subscription: String,
    vm_resource_group: String,
    vm_name: String,
    provider: String,
    location: String,
    vault_rg: String,
    vault_name: String,
    vault_sub: String,
    policy: String,
    rowid: i64,
}

impl Service {
    /// Removes one point's snapshots from the instant tier.
    pub(crate) fn drop_instant(&self, item: i64, rp: &str) -> Result<bool> {
        let row: Option<(i64, String, Option<String>)> = self
            .meta
            .find_point(rp)?
            .filter(|p| p.item == item)
            .map(|p| (p.id, p.disks, p.instant_until));
        let Some((rowid, disks, Some(_))) = row else {
            return Ok(false);
        };
        let mut disks = point_disks::parse(&disks)?;
        let mut others: Vec<(i64, Vec<PointDisk>)> = Vec::new();
        for p in self.meta.item_points(item)? {
            if p.id != rowid && p.instant_until.is_some() {
                others.push((p.id, point_disks::parse(&p.disks)?));
            }
        }
        for d in &mut disks {
            let Some(snap) = d.snapshot.take() else {
                continue;
            };
            let base = d.base.take();
            for (crow, cd) in &mut others {
                let mut changed = false;
                for c in cd.iter_mut() {
                    if c.lun == d.lun && c.base.as_ref() == Some(&snap) {
                        let child = c.snapshot.clone().unwrap_or_default();
                        rebase(&child, base.as_deref())?;
                        c.base.clone_from(&base);
                        changed = true;
                    }
                }
                if changed {
                    // Kept current: the next disk of this point reads it.
                    self.meta
                        .set_point_disks(*crow, &point_disks::to_text(cd))?;
                }
            }
            remove_snapshot(&snap);
        }
        self.meta
            .leave_instant_tier(rowid, &point_disks::to_text(&disks))?;
        Ok(true)
    }

    /// Removes snapshot files no recovery point refers to: what a backup
    /// interrupted by a crash or restart left behind. Run at start, when no
    /// job runs.
    pub(crate) fn sweep_snapshots(&self) -> Result<usize> {
        let root = self.data_dir().join("snapshots");
        if !root.is_dir() {
            return Ok(0);
        }
        let kept: std::collections::HashSet<PathBuf> = {
            // A row that does not read stops the sweep: its snapshots
            // might be among the files.
            let mut kept = std::collections::HashSet::new();
            for p in self.meta.instant_points()? {
                kept.extend(
                    point_disks::parse(&p.disks)?
                        .into_iter()
                        .filter_map(|d| d.snapshot),
                );
            }
            kept
        };
        let mut removed = 0;
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if !kept.contains(&p) {
                    tracing::info!(file = %p.display(), "removing a snapshot file no point refers to");
                    remove_snapshot(&p);
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Removes every snapshot of an item (its data is being deleted).
    pub(crate) fn drop_item_snapshots(&self, item: i64) -> Result<()> {
        let rows: Vec<String> = self
            .meta
            .item_points(item)?
            .into_iter()
            .filter(|p| p.instant_until.is_some())
            .map(|p| p.disks)
            .collect();
        for disks in rows {
            for s in point_disks::parse(&disks)?
                .into_iter()
                .filter_map(|d| d.snapshot)
            {
                remove_snapshot(&s);
            }
        }
        self.meta.clear_item_instant(item)?;
        Ok(())
    }

    /// Takes points whose instant window ended out of the tier, oldest
    /// first; items with a running backup or restore wait for the next tick.
    pub(crate) fn expire_instant(&self, now: jiff::Timestamp) -> Result<Vec<String>> {
        let mut rows: Vec<(i64, String, String, String, String, String)> = Vec::new();
        for p in self.meta.instant_points()? {
            let (Some(until), Some(it)) = (p.instant_until, self.meta.item_by_id(p.item)?) else {
                continue;
            };
            rows.push((
                p.item,
                p.name,
                until,
                it.provider.key().to_owned(),
                it.vm.resource_group,
                it.vm.name,
            ));
        }
        let mut gone = Vec::new();
        for (item, rp, until, provider, rg, vm) in rows {
            let due = until.parse::<jiff::Timestamp>().is_ok_and(|u| u <= now);
            if !due {
                continue;
            }
            let n = ItemName {
                provider: VmProvider::from_key(&provider),
                resource_group: rg,
                vm,
            };
            let busy = self.meta.active_jobs(&ActiveJobQuery {
                vault: None,
                container: Some(n.container_property()),
                operations: vec!["Backup".into(), "Restore".into()],
            })?;
            if !busy.is_empty() {
                continue;
            }
            if self.drop_instant(item, &rp)? {
                tracing::info!(vm = %n.vm, point = %rp, "instant-restore snapshot expired");
                gone.push(rp);
            }
        }
        Ok(gone)
    }

    /// A point's snapshot files, by disk LUN, if it is in the instant tier
    /// and every file is there.
    pub(crate) fn instant_sources(
        &self,
        rp: &str,
        disks: &[&PointDisk],
    ) -> Result<Option<Vec<SnapshotSource>>> {
        let until: Option<String> = self.meta.find_point(rp)?.and_then(|p| p.instant_until);
        let valid = until
            .and_then(|u| u.parse::<jiff::Timestamp>().ok())
            .is_some_and(|u| u > self.now());
        if !valid {
            return Ok(None);
        }
        let mut out = Vec::new();
        for d in disks {
            match &d.snapshot {
                Some(p) if p.is_file() => out.push((d.lun, p.clone())),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// The tier's items in a subscription (optionally one resource group).
    fn tier_items(&self, subscription: &str) -> Result<Vec<TierItem>> {
        let mut ids: Vec<i64> = self.meta.instant_points()?.iter().map(|p| p.item).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            let Some(pi) = self.meta.item_by_id(id)? else {
                continue;
            };
            if !pi.vm.subscription.eq_ignore_ascii_case(subscription) {
                continue;
            }
            let Some(v) = self.meta.vault_by_id(pi.vault)? else {
                continue;
            };
            out.push(TierItem {
                vm_subscription: pi.vm.subscription,
                vm_resource_group: pi.vm.resource_group,
                vm_name: pi.vm.name,
                provider: pi.provider.key().to_owned(),
                location: v.location,
                vault_rg: v.vref.resource_group,
                vault_name: v.vref.name,
                vault_sub: v.vref.subscription,
                policy: pi.policy,
                rowid: pi.id,
            });
        }
        out.sort_by(|a, b| a.vm_name.cmp(&b.vm_name).then(a.rowid.cmp(&b.rowid)));
        Ok(out)
    }

    fn tier_rg(&self, it: &TierItem) -> String {
        let v = crate::VaultRef {
            subscription: it.vault_sub.clone(),
            resource_group: it.vault_rg.clone(),
            name: it.vault_name.clone(),
        };
        let policy = self.get_policy(&v, &it.policy).ok();
        let details = policy
            .as_ref()
            .and_then(|p| p.properties.as_iaas_vm())
            .and_then(|p| p.instant_rp_details.as_ref());
        backup_resource_group(&it.location, details)
    }

    fn collection_view(
        &self,
        it: &TierItem,
        rg: &str,
        expand: bool,
    ) -> Result<RestorePointCollection> {
        let p = VmProvider::from_key(&it.provider);
        let vm_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/virtualMachines/{}",
            it.vm_subscription,
            it.vm_resource_group,
            p.namespace(),
            it.vm_name
        );
        let name = format!("AzureBackup_{}_{}", it.vm_name, it.rowid);
        let id = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}",
            it.vm_subscription
        );
        let restore_points = if expand {
            Some(self.tier_points(it, &id, &vm_id)?)
        } else {
            None
        };
        let properties = RestorePointCollectionProperties {
            source: Some(RestorePointCollectionSource {
                id: Some(vm_id),
                location: Some(it.location.clone()),
                ..Default::default()
            }),
            provisioning_state: Some("Succeeded".into()),
            restore_point_collection_id: Some(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                it.rowid, it.rowid
            )),
            restore_points,
            ..Default::default()
        };
        let mut r = Resource::with_properties(properties);
        r.id = Some(id);
        r.name = Some(name);
        r.kind = Some("Microsoft.Compute/restorePointCollections".into());
        r.location = Some(it.location.clone());
        r.tags = Some(serde_json::Map::from_iter([(
            "AzureBackupVault".to_owned(),
            it.vault_name.clone().into(),
        )]));
        Ok(r)
    }

    fn tier_points(&self, it: &TierItem, rpc_id: &str, vm_id: &str) -> Result<Vec<RestorePoint>> {
        let mut out = Vec::new();
        for p in self.meta.item_points(it.rowid)? {
            let Some(until) = p.instant_until else {
                continue;
            };
            let id = format!("{rpc_id}/restorePoints/{}", p.name);
            let disks = point_disks::parse(&p.disks)?;
            let view = |d: &PointDisk| RestorePointDisk {
                lun: d.lun,
                name: Some(d.name.clone()),
                disk_restore_point: Some(DiskRestorePointRef {
                    id: Some(format!("{id}/diskRestorePoints/{}", d.name)),
                    source_disk_resource_id: Some(d.name.clone()),
                    ..Default::default()
                }),
                snapshot_file: d.snapshot.as_ref().map(|s| s.display().to_string()),
                base_snapshot_file: d.base.as_ref().map(|s| s.display().to_string()),
                ..Default::default()
            };
            let storage_profile = RestorePointStorageProfile {
                os_disk: disks.iter().find(|d| d.lun.is_none()).map(view),
                data_disks: disks.iter().filter(|d| d.lun.is_some()).map(view).collect(),
                ..Default::default()
            };
            let properties = RestorePointProperties {
                consistency_mode: Some(consistency_mode(&p.consistency)),
                time_created: Some(p.time),
                provisioning_state: Some("Succeeded".into()),
                instant_restore_expiry_time: Some(until),
                source_metadata: Some(RestorePointSourceMetadata {
                    vm_id: Some(vm_id.to_owned()),
                    location: Some(it.location.clone()),
                    storage_profile: Some(storage_profile),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let mut r = Resource::with_properties(properties);
            r.id = Some(id);
            r.name = Some(p.name);
            r.kind = Some("Microsoft.Compute/restorePointCollections/restorePoints".into());
            out.push(r);
        }
        Ok(out)
    }

    /// Restore point collections of the instant tier in a resource group.
    pub fn list_restore_point_collections(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<RestorePointCollection>> {
        let mut out = Vec::new();
        for it in self.tier_items(subscription)? {
            let rg = self.tier_rg(&it);
            if resource_group.is_none_or(|g| g.eq_ignore_ascii_case(&rg)) {
                out.push(self.collection_view(&it, &rg, false)?);
            }
        }
        Ok(out)
    }

    /// One restore point collection (`expand`: with its restore points).
    pub fn get_restore_point_collection(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        expand: bool,
    ) -> Result<RestorePointCollection> {
        for it in self.tier_items(subscription)? {
            let rg = self.tier_rg(&it);
            if rg.eq_ignore_ascii_case(resource_group)
                && format!("AzureBackup_{}_{}", it.vm_name, it.rowid).eq_ignore_ascii_case(name)
            {
                return self.collection_view(&it, &rg, expand);
            }
        }
        Err(ServiceError::not_found(
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.Compute/restorePointCollections/{name}' under resource group '{resource_group}' was not found."
            ),
        ))
    }

    /// One restore point of a collection.
    pub fn get_restore_point(
        &self,
        subscription: &str,
        resource_group: &str,
        collection: &str,
        point: &str,
    ) -> Result<RestorePoint> {
        let c =
            self.get_restore_point_collection(subscription, resource_group, collection, true)?;
        c.properties
            .restore_points
            .into_iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(point))
            .ok_or_else(|| {
                ServiceError::not_found(
                    "ResourceNotFound",
                    format!("The Resource 'Microsoft.Compute/restorePointCollections/{collection}/restorePoints/{point}' under resource group '{resource_group}' was not found."),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphaned_snapshot_files_are_swept_at_start() {
        let d = tempfile::tempdir().unwrap();
        let orphan = d.path().join("snapshots/store/item/job/os.qcow2");
        std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        std::fs::write(&orphan, b"left by a crash").unwrap();
        drop(Service::open(d.path()).unwrap());
        assert!(!orphan.exists());
        assert!(
            !orphan.parent().unwrap().exists(),
            "its job directory goes too"
        );
    }

    #[test]
    fn resource_group_names() {
        assert_eq!(
            backup_resource_group("japaneast", None),
            "AzureBackupRG_japaneast_1"
        );
        let empty = InstantRpDetails {
            azure_backup_rg_name_prefix: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            backup_resource_group("japaneast", Some(&empty)),
            "AzureBackupRG_japaneast_1"
        );
        let p = InstantRpDetails {
            azure_backup_rg_name_prefix: Some("rsv-ir-".into()),
            azure_backup_rg_name_suffix: Some("-x".into()),
            ..Default::default()
        };
        assert_eq!(backup_resource_group("japaneast", Some(&p)), "rsv-ir-1-x");
    }
}

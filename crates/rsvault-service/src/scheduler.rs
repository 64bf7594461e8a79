//! The scheduler: one tick runs, at the service's current time,
//! - each protected item's policy (the latest scheduled time since the item
//!   was last handled, once: after downtime it catches up with one backup),
//!   at most `max_concurrent_backups` backups at a time (the rest wait for
//!   the next tick);
//! - retention: recovery points no tier of the item's policy keeps any
//!   longer are deleted, and their vault store's space reclaimed;
//! - the purge of soft-deleted items whose period has ended;
//! - each vault's verify job at its verify schedule (see [`crate::verify`]);
//! - the object locks of immutable vaults' stores (see
//!   [`crate::storage_lock`]).
//!
//! The time comes from the service's clock, so tests drive the scheduler
//! across days and daylight-saving changes without waiting.

use crate::Service;
use crate::error::Result;
use crate::metastore::records::ActiveJobQuery;
use crate::policy::model::Policy;
use crate::policy::retention::{self, PointInfo};
use crate::policy::schedule;
use crate::protection::ItemName;
use crate::vault::VaultRef;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Scheduled backup jobs started.
    pub started: Vec<String>,
    /// Items whose scheduled time came but whose backup waits for a free slot.
    pub waiting: usize,
    /// Recovery points deleted by retention.
    pub expired: Vec<String>,
    /// Soft-deleted items purged.
    pub purged: usize,
    /// Recovery points whose instant-restore snapshots were removed.
    pub instant_expired: Vec<String>,
    /// Scheduled verify jobs started.
    pub verify_started: Vec<String>,
    /// Immutable vaults' stores whose object locks were extended.
    pub lock_sweeps: usize,
}

/// An item the scheduler looks at.
struct Candidate {
    rowid: i64,
    vault: VaultRef,
    vault_rowid: i64,
    store: String,
    name: ItemName,
    policy: String,
    state: String,
    after: jiff::Timestamp,
}

impl Service {
    /// Runs one scheduler tick at the service's current time.
    pub fn scheduler_tick(self: &Arc<Self>, max_concurrent_backups: usize) -> Result<TickReport> {
        // Leftovers of failed and interrupted backups first: they may be
        // what fills the disk.
        self.clean_up_pending();
        let now = self.now();
        let mut report = TickReport {
            purged: self.purge_expired(now)?,
            ..Default::default()
        };
        report.instant_expired = self.expire_instant(now)?;
        report.verify_started = self.scheduled_verifies(now)?;
        let items = self.schedule_candidates()?;
        let mut running: usize = self
            .meta
            .active_jobs(&ActiveJobQuery {
                operations: vec!["Backup".into()],
                ..Default::default()
            })?
            .len();
        let mut vaults_to_collect = BTreeSet::new();
        for it in &items {
            let Some(policy) = self.item_policy(it.vault_rowid, &it.policy)? else {
                continue;
            };
            // Retention first: it waits while a backup of the item runs (a
            // running backup may build on the snapshots it would drop).
            let gone = self.apply_retention(it, &policy, now)?;
            if !gone.is_empty() {
                vaults_to_collect.insert(it.store.clone());
                report.expired.extend(gone);
            }
            if let Some(slot) = schedule::due(&policy, it.after, now) {
                if it.state == "BackupsSuspended" {
                    self.set_sched_after(it.rowid, slot)?;
                } else if running >= max_concurrent_backups.max(1) {
                    report.waiting += 1;
                } else {
                    match self.start_backup(&it.vault, &it.name, None, false) {
                        Ok((job, _)) => {
                            running += 1;
                            tracing::info!(vm = %it.name.vm, vault = %it.vault.name, %slot, %job, "scheduled backup started");
                            report.started.push(job);
                        }
                        // A backup of the item is already running (Backup
                        // now): this slot is served by it.
                        Err(e) => {
                            tracing::warn!(vm = %it.name.vm, vault = %it.vault.name, %slot, "scheduled backup not started: {e}")
                        }
                    }
                    self.set_sched_after(it.rowid, slot)?;
                }
            }
        }
        // Geo-redundant vaults behind their secondary (after the retention
        // above, so what it forgot reaches the secondary too).
        self.request_due_replications(now)?;
        report.lock_sweeps = self.extend_store_locks()?;
        for store in vaults_to_collect {
            let store = self.open_vault_store(&store)?;
            match rsvault_engine::gc(
                &store,
                &rsvault_engine::GcOptions::default(),
                &rsvault_engine::NoProgress,
            ) {
                Ok(_) | Err(rsvault_engine::Error::Locked(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    fn schedule_candidates(&self) -> Result<Vec<Candidate>> {
        let mut vaults = std::collections::HashMap::new();
        let mut out = Vec::new();
        for it in self.meta.scheduled_items()? {
            if let std::collections::hash_map::Entry::Vacant(e) = vaults.entry(it.vault) {
                e.insert(self.meta.vault_by_id(it.vault)?);
            }
            let Some(Some(v)) = vaults.get(&it.vault) else {
                continue;
            };
            let after = it.sched_after.as_deref().unwrap_or(&it.created);
            let Ok(after) = after.parse() else { continue };
            out.push(Candidate {
                rowid: it.id,
                vault: v.vref.clone(),
                vault_rowid: it.vault,
                store: v.store.clone(),
                name: ItemName {
                    provider: it.provider,
                    resource_group: it.vm.resource_group,
                    vm: it.vm.name,
                },
                policy: it.policy,
                state: it.state,
                after,
            });
        }
        Ok(out)
    }

    pub(crate) fn item_policy(&self, vault_rowid: i64, name: &str) -> Result<Option<Policy>> {
        let props: Option<String> = self
            .meta
            .find_policy(vault_rowid, name)?
            .map(|p| p.properties);
        let Some(props) = props else { return Ok(None) };
        // Stored policies were validated when they were written.
        Ok(Policy::parse(&crate::policy::stored_properties(&props)).ok())
    }

    fn set_sched_after(&self, rowid: i64, t: jiff::Timestamp) -> Result<()> {
        self.meta.set_item_sched_after(rowid, &t.to_string())?;
        Ok(())
    }

    /// Deletes the item's recovery points that its policy no longer keeps;
    /// returns their names. Items being backed up or restored are left
    /// alone until the job ends; a suspended item keeps its latest point.
    fn apply_retention(
        &self,
        it: &Candidate,
        policy: &Policy,
        now: jiff::Timestamp,
    ) -> Result<Vec<String>> {
        let restoring = self.meta.active_jobs(&ActiveJobQuery {
            vault: Some(it.vault_rowid),
            container: Some(it.name.container_property()),
            operations: vec![
                "Restore".into(),
                crate::crr::CRR_OPERATION.into(),
                "Backup".into(),
            ],
        })?;
        if !restoring.is_empty() {
            return Ok(Vec::new());
        }
        let points: Vec<(String, String, Option<String>, String)> = self
            .meta
            .item_points(it.rowid)?
            .into_iter()
            .map(|p| (p.name, p.time, p.expiry, p.disks))
            .collect();
        let infos: Vec<PointInfo> = points
            .iter()
            .filter_map(|(name, time, expiry, _)| {
                Some(PointInfo {
                    id: name.clone(),
                    time: time.parse().ok()?,
                    on_demand_expiry: expiry.as_deref().and_then(|e| e.parse().ok()),
                })
            })
            .collect();
        let latest = infos.iter().map(|p| p.time).max();
        let mut gone = Vec::new();
        let mut store = None;
        for v in retention::evaluate(policy, &infos, now) {
            if v.keep {
                continue;
            }
            let time = infos.iter().find(|p| p.id == v.id).map(|p| p.time);
            if it.state == "BackupsSuspended" && time == latest {
                continue;
            }
            let Some((_, _, _, disks)) = points.iter().find(|p| p.0 == v.id) else {
                continue;
            };
            if store.is_none() {
                store = Some(self.open_vault_store(&it.store)?);
            }
            let store = store.as_ref().expect("opened above");
            let disks = crate::point_disks::parse(disks)?;
            // Its snapshots leave the instant tier (a newer snapshot built
            // on them takes in their data first).
            self.drop_instant(it.rowid, &v.id)?;
            // The catalogue entry goes first: a crash in between leaves
            // unreferenced data for gc, never a point whose data is gone.
            self.meta.delete_point(it.rowid, &v.id)?;
            self.forget_point_disks(store, &disks)?;
            self.note_forgotten(it.vault_rowid);
            tracing::info!(vm = %it.name.vm, point = %v.id, expired = %v.expires, "recovery point expired");
            gone.push(v.id);
        }
        Ok(gone)
    }
}

//! The verify job of a vault: the engine's full verify over the vault's
//! store (every pack read, every blob authenticated and hash-checked, every
//! point's tree walked), recorded as a backup job with operation `Verify`.
//!
//! It changes no data: it holds a reader session while it runs, so garbage
//! collection keeps every pack it may still read, and backups go on beside
//! it. Only the recovery points that were in the catalogue when it started
//! are judged (a point committed during the run is judged by the next one).
//! Each judged point is marked intact or damaged in the catalogue; damaged
//! points show on their recovery point, on their protected item's health and
//! by name in the job.
//!
//! The job ends `Failed` when a recovery point is damaged (as Proxmox Backup
//! Server's verify job does), `CompletedWithWarnings` when only objects no
//! judged point needs are damaged, `Completed` when everything is intact.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::jobs::{JobProgressHandle, JobState, PropertyBag, job_error};
use crate::metastore::PageRequest;
use crate::metastore::records::{ActiveJobQuery, JobQuery};
use crate::point_disks::PointDisk;
use crate::protection::ItemName;
use crate::vault::{VaultRef, VaultRow};
use crate::verify_schedule::{self, VerifySchedule};
use rsvault_arm::error::JobErrorInfo;
use rsvault_arm::item::HealthDetail;
use rsvault_arm::job::DamagedRecoveryPoint;
use rsvault_arm::vault::{LastVerify, VerifyScheduleSource, VerifyStatus};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The operation name of verify jobs.
pub const VERIFY: &str = "Verify";
/// The one task of a verify job.
pub(crate) const VERIFY_TASK: &str = "Verify recovery points";
const DAMAGED: &str = "UserErrorRecoveryPointDamaged";
const STORE_DAMAGED: &str = "UserErrorVaultStoreDamaged";
const RECOMMEND: &str = "Do not restore from this recovery point. Run Backup now to create an intact recovery point; keep the vault's storage healthy (check the disk under the data directory).";

/// Server-wide verify settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySettings {
    /// The schedule of vaults that set none (`[verify] schedule`).
    pub default_schedule: VerifySchedule,
}

/// A recovery point as the catalogue holds it when a verify starts.
#[derive(Debug, Clone)]
struct CatalogPoint {
    rowid: i64,
    name: String,
    time: String,
    item: ItemName,
    disks: Vec<PointDisk>,
}

/// A damaged recovery point, as the job names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Damage {
    rowid: i64,
    what: String,
}

/// Engine progress mapped onto the job's (the total is known at `start`).
struct VerifyProgress {
    handle: JobProgressHandle,
    total: AtomicU64,
    done: AtomicU64,
}

impl rsvault_engine::Progress for VerifyProgress {
    fn start(&self, _phase: &str, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    fn advance(&self, n: u64) {
        let d = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let total = self.total.load(Ordering::Relaxed).max(1);
        // The tree walk after the packs is the last 5 %.
        self.handle.set(950 * d.min(total) / total);
    }
}

/// What the engine's report means for the catalogue's points: the damaged
/// ones, with what is damaged. A point is damaged when the engine names one
/// of its disks' store points, or when a disk's store point is gone.
fn judge(
    points: &[CatalogPoint],
    report: &rsvault_engine::VerifyReport,
    present: &HashSet<String>,
) -> Vec<Damage> {
    let by_id: HashMap<&str, &str> = report
        .damaged_points
        .iter()
        .map(|d| (d.id.as_str(), d.reason.as_str()))
        .collect();
    let mut out = Vec::new();
    for p in points {
        let mut what = Vec::new();
        for d in &p.disks {
            let disk = disk_label(d);
            if d.point.is_empty() {
                continue;
            }
            let id = d.point.as_str();
            if let Some(reason) = by_id.get(id) {
                what.push(format!("{disk}: {reason}"));
            } else if !present.contains(id) {
                what.push(format!(
                    "{disk}: its data in the vault store is missing (manifest {id} deleted or unreadable)"
                ));
            }
        }
        if !what.is_empty() {
            out.push(Damage {
                rowid: p.rowid,
                what: what.join("; "),
            });
        }
    }
    out
}

fn disk_label(d: &PointDisk) -> String {
    match d.lun {
        None => "OS disk".to_owned(),
        Some(l) => format!("data disk LUN {l}"),
    }
}

/// Findings that name no catalogued point: damaged objects and lost manifests.
fn other_findings(report: &rsvault_engine::VerifyReport) -> Vec<String> {
    report
        .damaged_objects
        .iter()
        .chain(&report.missing_points)
        .cloned()
        .collect()
}

impl Service {
    /// Sets the server-wide verify settings.
    pub fn set_verify_settings(&self, s: VerifySettings) {
        *self.verify.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// A vault's effective schedule: its own, else the server's default.
    fn effective_schedule(&self, stored: Option<&str>) -> VerifySchedule {
        stored
            .and_then(|s| verify_schedule::parse(s).ok())
            .unwrap_or_else(|| {
                self.verify
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .default_schedule
            })
    }

    /// `POST {vault}/verify`: starts a verify job of the vault's store now.
    /// Returns the accepted operation (which names the job).
    pub fn verify_now(self: &Arc<Self>, v: &VaultRef) -> Result<String> {
        let vault = self.vault_row(v)?;
        Ok(self.start_verify(&vault, true)?.1)
    }

    /// Starts a verify job; refused while one of the vault runs.
    fn start_verify(self: &Arc<Self>, vault: &VaultRow, user: bool) -> Result<(String, String)> {
        let running = self.meta.active_jobs(&ActiveJobQuery {
            vault: Some(vault.rowid),
            container: None,
            operations: vec![VERIFY.into()],
        })?;
        if !running.is_empty() {
            return Err(ServiceError::conflict(
                "BMSUserErrorVerifyAlreadyInProgress",
                format!(
                    "A verify job of vault '{}' is already in progress.",
                    vault.vref.name
                ),
            ));
        }
        let points = self.catalog_points(vault.rowid)?;
        let (job, op, handle) = self.start_job(
            vault.rowid,
            VERIFY,
            &vault.vref.name,
            "",
            &[VERIFY_TASK],
            user,
        )?;
        let (svc, store, j, name) = (
            self.clone(),
            vault.store.clone(),
            job.clone(),
            vault.vref.name.clone(),
        );
        let entity = vault.vref.name.clone();
        self.spawn_job(
            "verify",
            &job,
            (VERIFY_TASK, entity),
            move || {
                if let Err(e) = svc.run_verify(&j, &store, &name, &points, &handle) {
                    tracing::warn!(vault = %name, job = %j, "verify failed: {e}");
                    let _ =
                        svc.finish_job(&j, &JobState::failed(VERIFY_TASK, &name, &e, handle.get()));
                }
            },
            |_| {},
        )?;
        tracing::info!(vault = %vault.vref.name, %job, user, "verify started");
        Ok((job, op))
    }

    fn catalog_points(&self, vault_rowid: i64) -> Result<Vec<CatalogPoint>> {
        let items: std::collections::HashMap<i64, ItemName> = self
            .meta
            .vault_items(vault_rowid)?
            .into_iter()
            .map(|i| {
                let n = ItemName {
                    provider: i.provider,
                    resource_group: i.vm.resource_group,
                    vm: i.vm.name,
                };
                (i.id, n)
            })
            .collect();
        let mut out = Vec::new();
        for p in self.meta.vault_points(vault_rowid)? {
            let Some(item) = items.get(&p.item) else {
                continue;
            };
            out.push(CatalogPoint {
                rowid: p.id,
                item: item.clone(),
                disks: crate::point_disks::parse(&p.disks)?,
                name: p.name,
                time: p.time,
            });
        }
        Ok(out)
    }

    fn run_verify(
        &self,
        job: &str,
        store_name: &str,
        vault_name: &str,
        points: &[CatalogPoint],
        handle: &JobProgressHandle,
    ) -> Result<()> {
        // The engine's verify holds a reader session: gc deletes nothing
        // while it reads.
        let store = self.open_vault_store(store_name)?;
        let progress = VerifyProgress {
            handle: handle.clone(),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
        };
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let report = rsvault_engine::verify(&store, threads, &progress);
        let present: Result<HashSet<String>> = store
            .list_points_checked()
            .map(|(ok, _)| ok.into_iter().map(|m| m.id).collect())
            .map_err(Into::into);
        let (report, present) = (report?, present?);
        if handle.is_cancelled() {
            return self.finish_job(
                job,
                &JobState::cancelled(&[(VERIFY_TASK, false)], vault_name, handle.get()),
            );
        }
        let damaged = judge(points, &report, &present);
        let judged = self.record_verify(points, &damaged)?;
        let st = verify_state(vault_name, &report, &judged);
        self.set_job_extra(job, &verify_extra(&report, &judged))?;
        handle.set(1000);
        tracing::info!(vault = %vault_name, %job, checked = judged.checked, damaged = judged.damaged.len(), "verify finished");
        self.finish_job(job, &st)
    }

    /// Marks the judged points intact or damaged; returns those still in
    /// the catalogue (retention may have removed some meanwhile).
    fn record_verify(&self, points: &[CatalogPoint], damaged: &[Damage]) -> Result<Judged> {
        let now = self.now().to_string();
        let mut out = Judged::default();
        for p in points {
            let what = damaged
                .iter()
                .find(|d| d.rowid == p.rowid)
                .map(|d| d.what.clone());
            if !self
                .meta
                .set_point_verified(p.rowid, what.as_deref(), &now)?
            {
                continue;
            }
            out.checked += 1;
            if let Some(what) = what {
                out.damaged.push((p.clone(), what));
            }
        }
        Ok(out)
    }

    /// Sets a job's rsvault extension (`extendedInfo.rsvaultVerify`).
    fn set_job_extra(&self, job: &str, extra: &rsvault_arm::job::VerifyReport) -> Result<()> {
        self.meta
            .set_job_extra(job, &serde_json::to_string(extra).unwrap_or_default())?;
        Ok(())
    }

    /// Starts the verify jobs whose time has come (a scheduler tick).
    pub(crate) fn scheduled_verifies(
        self: &Arc<Self>,
        now: jiff::Timestamp,
    ) -> Result<Vec<String>> {
        let rows: Vec<(i64, VaultRef, Option<String>, String)> = self
            .meta
            .all_vaults()?
            .into_iter()
            .map(|v| {
                let after = v.verify_after.unwrap_or(v.created);
                (v.id, v.vref, v.verify_schedule, after)
            })
            .collect();
        let mut started = Vec::new();
        for (rowid, vref, stored, after) in rows {
            let Ok(after) = after.parse() else { continue };
            let sched = self.effective_schedule(stored.as_deref());
            let Some(slot) = verify_schedule::due(&sched, after, now) else {
                continue;
            };
            match self.start_verify(&self.vault_row(&vref)?, false) {
                Ok((job, _)) => started.push(job),
                // One is running already (Verify now): it serves this slot.
                Err(e) => {
                    tracing::warn!(vault = %vref.name, %slot, "scheduled verify not started: {e}")
                }
            }
            self.set_verify_after(rowid, slot)?;
        }
        Ok(started)
    }

    fn set_verify_after(&self, vault_rowid: i64, t: jiff::Timestamp) -> Result<()> {
        self.meta.set_verify_after(vault_rowid, &t.to_string())?;
        Ok(())
    }

    /// Sets a vault's verify schedule (`None`: the server's default). The
    /// new schedule counts from now: no verify is due for a time already past.
    pub(crate) fn set_verify_schedule(
        &self,
        vault_rowid: i64,
        schedule: Option<&str>,
    ) -> Result<()> {
        let canonical = schedule
            .map(|s| verify_schedule::parse(s).map(|s| s.to_string()))
            .transpose()?;
        self.meta.set_verify_schedule(
            vault_rowid,
            canonical.as_deref(),
            &self.now().to_string(),
        )?;
        Ok(())
    }

    /// The vault's verify settings and last result (`rsvaultVerify`, an
    /// rsvault extension of the vault and of `backupconfig/vaultconfig`).
    pub(crate) fn verify_view(&self, vault_rowid: i64) -> Result<VerifyStatus> {
        let stored: Option<String> = self
            .meta
            .vault_by_id(vault_rowid)?
            .and_then(|v| v.verify_schedule);
        let last: Option<LastVerify> = self
            .meta
            .list_jobs(
                vault_rowid,
                &JobQuery {
                    operation: Some(VERIFY.into()),
                    ..Default::default()
                },
                &PageRequest::first(1),
            )?
            .items
            .into_iter()
            .next()
            .map(|j| {
                let status = match self.unrecorded(&j.job_id) {
                    Some((u, _)) => u.status.to_owned(),
                    None => j.status,
                };
                LastVerify {
                    job_id: Some(j.job_id),
                    status: Some(status.as_str().into()),
                    start_time: Some(j.start_time),
                    end_time: j.end_time,
                    ..Default::default()
                }
            });
        let damaged = self
            .meta
            .vault_points(vault_rowid)?
            .iter()
            .filter(|p| p.damage.is_some())
            .count();
        let sched = self.effective_schedule(stored.as_deref());
        Ok(VerifyStatus {
            schedule_source: Some(if stored.is_some() {
                VerifyScheduleSource::Vault
            } else {
                VerifyScheduleSource::ServerDefault
            }),
            schedule: stored,
            effective_schedule: Some(sched.to_string()),
            next_verify_time: verify_schedule::next_run(&sched, self.now()).map(|t| t.to_string()),
            last_verify: last,
            damaged_recovery_point_count: Some(damaged as u64),
            ..Default::default()
        })
    }

    /// The health detail of an item whose recovery points of these names
    /// are damaged, if any are.
    pub(crate) fn damage_health(names: &[String]) -> Option<HealthDetail> {
        (!names.is_empty()).then(|| {
            crate::item_health::detail(
                DAMAGED,
                "Damaged recovery points",
                format!(
                    "The vault's verify job found {} damaged recovery point(s) of this item: {}.",
                    names.len(),
                    names.join(", ")
                ),
                RECOMMEND,
            )
        })
    }
}

/// The judged points still in the catalogue.
#[derive(Debug, Default)]
struct Judged {
    checked: usize,
    damaged: Vec<(CatalogPoint, String)>,
}

fn point_line(p: &CatalogPoint, what: &str) -> String {
    format!(
        "{} recovery point {} ({}): {what}",
        p.item.vm, p.name, p.time
    )
}

/// The job's final state: status, property bag (strings, as Azure's) and
/// one error per damaged point or other finding.
fn verify_state(vault: &str, report: &rsvault_engine::VerifyReport, j: &Judged) -> JobState {
    let others = other_findings(report);
    let mut bag = PropertyBag::new();
    bag.insert("Vault Name".into(), vault.to_owned());
    bag.insert("Recovery Points Checked".into(), j.checked.to_string());
    bag.insert(
        "Damaged Recovery Points".into(),
        j.damaged.len().to_string(),
    );
    bag.insert("Packs Read".into(), report.packs.to_string());
    bag.insert(
        "Data Verified".into(),
        format!("{} MB", report.bytes.div_ceil(1 << 20)),
    );
    for (i, (p, what)) in j.damaged.iter().enumerate() {
        bag.insert(format!("Damaged Point {}", i + 1), point_line(p, what));
    }
    let mut errors: Vec<JobErrorInfo> = j
        .damaged
        .iter()
        .map(|(p, what)| {
            let text = format!(
                "Recovery point {} of {} ({}) is damaged: {what}",
                p.name, p.item.vm, p.time
            );
            job_error(DAMAGED, text, RECOMMEND)
        })
        .collect();
    errors.extend(others.iter().map(|o| {
        job_error(
            STORE_DAMAGED,
            format!("The vault store is damaged: {o}"),
            "Check the disk under the data directory; recovery points that need the damaged object are named separately.",
        )
    }));
    let status = if !j.damaged.is_empty() {
        "Failed"
    } else if !others.is_empty() {
        "CompletedWithWarnings"
    } else {
        "Completed"
    };
    let task = if status == "Failed" {
        "Failed"
    } else {
        "Completed"
    };
    JobState::verified(status, VERIFY_TASK, task, bag, errors)
}

/// `extendedInfo.rsvaultVerify`: the same facts, structured.
fn verify_extra(
    report: &rsvault_engine::VerifyReport,
    j: &Judged,
) -> rsvault_arm::job::VerifyReport {
    let damaged = j
        .damaged
        .iter()
        .map(|(p, what)| DamagedRecoveryPoint {
            container_name: Some(p.item.container()),
            protected_item_name: Some(p.item.item()),
            friendly_name: Some(p.item.vm.clone()),
            recovery_point_id: Some(p.name.clone()),
            recovery_point_time: Some(p.time.clone()),
            damage: Some(what.clone()),
            ..Default::default()
        })
        .collect();
    rsvault_arm::job::VerifyReport {
        recovery_points_checked: Some(j.checked as u64),
        packs_read: Some(report.packs as u64),
        blobs_read: Some(report.blobs),
        bytes_verified: Some(report.bytes),
        damaged_recovery_points: Some(damaged),
        other_findings: Some(other_findings(report)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::VmProvider;
    use serde_json::{Value, json};

    fn point(rowid: i64, disks: Value) -> CatalogPoint {
        CatalogPoint {
            rowid,
            name: format!("rp{rowid}"),
            time: "2026-03-29T03:00:00Z".into(),
            item: ItemName {
                provider: VmProvider::Compute,
                resource_group: "rg".into(),
                vm: "vm1".into(),
            },
            disks: serde_json::from_value(disks).unwrap(),
        }
    }

    #[test]
    fn judge_table() {
        let points = [
            point(1, json!([{"lun": null, "point": "a"}])),
            point(
                2,
                json!([{"lun": null, "point": "b"}, {"lun": 0, "point": "c"}]),
            ),
            point(3, json!([{"lun": null, "point": "gone"}])),
        ];
        let report = rsvault_engine::VerifyReport {
            damaged_points: vec![rsvault_engine::verify::DamagedPoint {
                id: "c".into(),
                name: "x/lun-0".into(),
                time: String::new(),
                reason: "chunk 1 is missing or damaged".into(),
            }],
            ..Default::default()
        };
        let present: HashSet<String> = ["a", "b", "c"].map(String::from).into();
        let d = judge(&points, &report, &present);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].rowid, 2);
        assert_eq!(d[0].what, "data disk LUN 0: chunk 1 is missing or damaged");
        assert_eq!(d[1].rowid, 3);
        assert!(
            d[1].what
                .starts_with("OS disk: its data in the vault store is missing")
        );
        assert!(judge(&points[..1], &report, &present).is_empty());
    }

    #[test]
    fn status_table() {
        let clean = rsvault_engine::VerifyReport::default();
        let objects = rsvault_engine::VerifyReport {
            damaged_objects: vec!["packs/ab/x: bad".into()],
            ..Default::default()
        };
        let one = Judged {
            checked: 1,
            damaged: vec![(point(1, json!([])), "OS disk: bad".into())],
        };
        for (report, judged, want) in [
            (&clean, Judged::default(), "Completed"),
            (&objects, Judged::default(), "CompletedWithWarnings"),
            (&clean, one, "Failed"),
        ] {
            let st = verify_state("v", report, &judged);
            assert_eq!(st.status(), want);
        }
    }
}

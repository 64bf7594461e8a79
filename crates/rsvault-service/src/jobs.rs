//! Backup now, backup jobs and recovery points.
//!
//! A backup job runs on a worker of the job runner ([`crate::runner`]):
//! "Take Snapshot" (a running VM through the hypervisor port, see
//! [`crate::live`]; a VM that is off is read from its image files,
//! crash-consistent), then "Transfer data to
//! vault", one engine backup per disk with live progress. A recovery point is recorded only
//! when every disk has been committed to the vault's store.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::ResourceRef;
use crate::metastore::records::{ActiveJobQuery, JobQuery, JobRecord, JobUpdate, NewJob};
use crate::metastore::{Page, PageRequest};
use crate::point_disks::PointDisk;
use crate::protection::ItemName;
use crate::vault::VaultRef;
use rsvault_arm::Resource;
use rsvault_arm::common::BackupManagementType;
use rsvault_arm::error::JobErrorInfo;
use rsvault_arm::job::{
    IaasVmJob, Job, JobExtendedInfo, JobResource, JobStatus, JobSupportedAction, JobTask,
    VerifyReport,
};
use rsvault_arm::recovery_point::{
    DiskConfiguration, IaasVmRecoveryPoint, PointIntegrity, PointIntegrityStatus, RecoveryPoint,
    RecoveryPointResource, RecoveryPointTier, RecoveryPointTierStatus, RecoveryPointTierType,
};
use rsvault_arm::request::IaasVmBackupRequest;
use rsvault_engine::Progress;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What one backup job works on.
pub(crate) struct BackupRun<'a> {
    pub job: &'a str,
    pub store_name: &'a str,
    pub item_id: i64,
    pub data_id: &'a str,
    pub vm_name: &'a str,
    pub os_type: &'a str,
    pub disks: &'a [crate::inventory::VmDisk],
    pub expiry: Option<jiff::Timestamp>,
    pub instant_days: u32,
    pub link: Option<&'a rsvault_hypervisor::VmAddress>,
    /// A host's VM: its definition now, kept with the point.
    pub config: Option<&'a str>,
}

pub(crate) const SNAPSHOT: &str = "Take Snapshot";
pub(crate) const TRANSFER: &str = "Transfer data to vault";

fn iso_duration(start: &str, end: Option<&str>, now: jiff::Timestamp) -> String {
    let s: jiff::Timestamp = start.parse().unwrap_or(now);
    let e: jiff::Timestamp = end.and_then(|e| e.parse().ok()).unwrap_or(now);
    let secs = (e.as_millisecond() - s.as_millisecond()).max(0) as f64 / 1000.0;
    format!("PT{secs:.3}S")
}

fn job_not_found(v: &VaultRef, job: &str) -> ServiceError {
    ServiceError::not_found(
        "BMSUserErrorJobNotFound",
        format!("Job {job} was not found in vault '{}'.", v.name),
    )
}

/// Parses the `x eq 'v' and y eq 'w'` filters the SDKs and `az` send.
pub fn parse_filter(filter: &str) -> Vec<(String, String)> {
    filter
        .split(" and ")
        .filter_map(|c| {
            let (k, v) = c.split_once(" eq ")?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('\'').to_owned(),
            ))
        })
        .collect()
}

/// A job's property bag: facts about the job as label → text.
pub(crate) type PropertyBag = BTreeMap<String, String>;

/// A task of a job in a state (`NotStarted`, `InProgress`, `Completed`…).
pub(crate) fn task(id: &str, status: &str) -> JobTask {
    JobTask {
        task_id: Some(id.to_owned()),
        status: Some(status.into()),
        ..Default::default()
    }
}

/// An error of a job: its code, text and the one recommended action.
pub(crate) fn job_error(code: &str, text: String, recommendation: &str) -> JobErrorInfo {
    JobErrorInfo {
        error_code: Some(code.into()),
        error_string: Some(text),
        recommendations: Some(vec![recommendation.to_owned()]),
        ..Default::default()
    }
}

/// The property bag every VM job starts with.
pub(crate) fn vm_bag(entity: &str) -> PropertyBag {
    PropertyBag::from([("VM Name".to_owned(), entity.to_owned())])
}

/// A stored JSON column read as its model; a column that does not read is
/// the model's empty value, as a job view shows it.
fn stored<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

/// A model as the JSON text the metadata store keeps.
fn to_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Parses filter times: ISO 8601, or `az`'s `%Y-%m-%d %I:%M:%S %p` (UTC).
pub fn parse_filter_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    for fmt in ["%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = jiff::civil::DateTime::strptime(fmt, s) {
            return jiff::tz::TimeZone::UTC
                .to_ambiguous_timestamp(dt)
                .compatible()
                .ok();
        }
    }
    None
}

/// The one task of a restore job.
pub(crate) const RESTORE_TASK: &str = "Transfer data from vault";

/// A running job's live progress (per-mille) and cancel flag, shared
/// between its worker, the API and the job runner (which writes the
/// progress to the store and sets the flag from cancel requests there).
#[derive(Debug, Clone, Default)]
pub(crate) struct JobProgressHandle {
    permille: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl JobProgressHandle {
    /// Progress in percent.
    pub(crate) fn get(&self) -> f64 {
        self.permille.load(Ordering::Relaxed) as f64 / 10.0
    }

    /// Progress in per-mille.
    pub(crate) fn permille(&self) -> u64 {
        self.permille.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, permille: u64) {
        self.permille.store(permille, Ordering::Relaxed);
    }

    /// Asks the job's worker to stop.
    pub(crate) fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The flag the engine watches; set when the job is cancelled.
    pub(crate) fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// True once the job was asked to stop.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// An engine progress sink covering `total` bytes from `base` per-mille to 1000.
    pub(crate) fn progress(&self, total: u64, base: u64) -> JobProgress {
        JobProgress {
            done: AtomicU64::new(0),
            total,
            base,
            permille: self.permille.clone(),
        }
    }
}

/// A job's recorded state.
#[derive(Debug, Clone)]
pub(crate) struct JobState {
    pub(crate) status: &'static str,
    pub(crate) tasks: Vec<JobTask>,
    pub(crate) progress: f64,
    pub(crate) bag: PropertyBag,
    pub(crate) errors: Vec<JobErrorInfo>,
}

impl JobState {
    /// A completed single-task job.
    pub(crate) fn done(name: &str, bag: PropertyBag) -> Self {
        JobState {
            status: "Completed",
            tasks: vec![task(name, "Completed")],
            progress: 100.0,
            bag,
            errors: Vec::new(),
        }
    }

    /// A finished verify job: its status, its one task's, its bag and errors.
    pub(crate) fn verified(
        status: &'static str,
        name: &str,
        task_status: &str,
        bag: PropertyBag,
        errors: Vec<JobErrorInfo>,
    ) -> Self {
        JobState {
            status,
            tasks: vec![task(name, task_status)],
            progress: 100.0,
            bag,
            errors,
        }
    }

    /// The job's status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> &str {
        self.status
    }

    /// A cancelled job: its running task is cancelled, earlier ones stay
    /// completed.
    pub(crate) fn cancelled(tasks: &[(&str, bool)], entity: &str, progress: f64) -> Self {
        let tasks = tasks
            .iter()
            .map(|(t, done)| task(t, if *done { "Completed" } else { "Cancelled" }))
            .collect();
        JobState {
            status: "Cancelled",
            tasks,
            progress,
            bag: vm_bag(entity),
            errors: Vec::new(),
        }
    }

    /// A failed single-task job.
    pub(crate) fn failed(name: &str, entity: &str, e: &ServiceError, progress: f64) -> Self {
        JobState {
            status: "Failed",
            tasks: vec![task(name, "Failed")],
            progress,
            bag: vm_bag(entity),
            errors: vec![job_error(
                e.code(),
                e.to_string(),
                e.recommendation().unwrap_or("Check the error, then retry."),
            )],
        }
    }
}

impl JobState {
    /// The state as the store records it; a status other than InProgress
    /// also ends the job (at `end`).
    pub(crate) fn update(&self, end: jiff::Timestamp) -> JobUpdate {
        JobUpdate {
            status: self.status.to_owned(),
            tasks: to_text(&self.tasks),
            progress: self.progress,
            bag: to_text(&self.bag),
            errors: to_text(&self.errors),
            end,
        }
    }
}

/// Engine progress mapped onto a job's progress.
pub(crate) struct JobProgress {
    done: AtomicU64,
    total: u64,
    base: u64,
    permille: Arc<AtomicU64>,
}

impl Progress for JobProgress {
    fn advance(&self, n: u64) {
        let d = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let p = self.base + (1000 - self.base) * d.min(self.total) / self.total.max(1);
        self.permille.store(p, Ordering::Relaxed);
    }
}

impl Service {
    /// Records a new running job and the accepted operation naming it. Its
    /// tasks are `NotStarted` until a worker of the job runner takes it up
    /// ([`Service::spawn_job`]).
    pub(crate) fn start_job(
        &self,
        vault_rowid: i64,
        operation: &str,
        entity: &str,
        container: &str,
        tasks: &[&str],
        user: bool,
    ) -> Result<(String, String, JobProgressHandle)> {
        let job = crate::protection::new_id();
        let tasks: Vec<JobTask> = tasks.iter().map(|t| task(t, "NotStarted")).collect();
        let op = self.job_operation(vault_rowid, &job);
        self.meta.insert_job(
            &NewJob {
                vault: vault_rowid,
                job_id: job.clone(),
                operation: operation.to_owned(),
                status: "InProgress".into(),
                entity: entity.to_owned(),
                container: container.to_owned(),
                start: self.now(),
                end: None,
                user_triggered: user,
                tasks: to_text(&tasks),
                progress: 0.0,
                bag: to_text(&vm_bag(entity)),
                errors: "[]".into(),
            },
            &op,
        )?;
        let op = op.op_id;
        let handle = JobProgressHandle::default();
        self.runner.track(&job, handle.clone());
        Ok((job, op, handle))
    }

    /// Records a job's final state and forgets its live progress. When the
    /// database cannot take the write (a full disk), the outcome is kept in
    /// memory, shown by the API and written later (see [`crate::outcome`]).
    pub(crate) fn finish_job(&self, job: &str, st: &JobState) -> Result<()> {
        let end = self.now();
        let r = self
            .meta
            .update_job(job, &st.update(end))
            .map(|_| ())
            .map_err(ServiceError::from);
        if let Err(e) = &r {
            tracing::warn!(%job, status = st.status, "could not record the job's outcome, kept until it can be: {e}");
            self.keep_unrecorded(job, st.clone(), end);
        }
        self.runner.forget(job);
        r
    }

    /// The disks recorded for a recovery point.
    pub(crate) fn recovery_point_disks(&self, rp: &str) -> Result<Vec<PointDisk>> {
        let d: String = self.meta.find_point(rp)?.map(|p| p.disks).ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorRecoveryPointNotFound",
                format!("Recovery point {rp} was not found."),
            )
        })?;
        crate::point_disks::parse(&d)
    }

    /// Records a job that completed as it was accepted (configuring,
    /// stopping or deleting protection); returns the operation naming it.
    pub(crate) fn completed_job(
        &self,
        vault_rowid: i64,
        operation: &str,
        entity: &str,
        container: &str,
    ) -> Result<String> {
        let job = crate::protection::new_id();
        let now = self.now();
        let op = self.job_operation(vault_rowid, &job);
        self.meta.insert_job(
            &NewJob {
                vault: vault_rowid,
                job_id: job.clone(),
                operation: operation.to_owned(),
                status: "Completed".into(),
                entity: entity.to_owned(),
                container: container.to_owned(),
                start: now,
                end: Some(now),
                user_triggered: true,
                tasks: "[]".into(),
                progress: 100.0,
                bag: to_text(&vm_bag(entity)),
                errors: "[]".into(),
            },
            &op,
        )?;
        Ok(op.op_id)
    }

    /// Asks a running job to stop (`POST backupJobs/{job}/cancel`). The
    /// request is recorded in the job's row, where the server running it
    /// sees it; here its flag is also set at once. The job shows
    /// `Cancelling` until its worker has stopped and cleaned up, then
    /// `Cancelled`; a job still queued ends `Cancelled` without running.
    /// Returns the id of the cancel operation.
    pub fn cancel_job(&self, v: &VaultRef, job: &str) -> Result<String> {
        let vault = self.vault_row(v)?;
        let status = self
            .job_status(vault.rowid, job)?
            .ok_or_else(|| job_not_found(v, job))?;
        match status.as_str() {
            "InProgress" | "Cancelling" => {
                self.meta.request_cancel(job, self.now())?;
                if let Some(queued) = self.runner.cancel(job) {
                    queued.end_cancelled();
                }
                self.operation_for_job(vault.rowid, job)
            }
            other => Err(ServiceError::bad_request(
                "BMSUserErrorJobNotCancellable",
                format!(
                    "Job {job} has already ended ({other}); only running jobs can be cancelled."
                ),
            )),
        }
    }

    /// Whether the cancel operation `op` of a job has finished (the job has
    /// stopped, one way or another).
    pub fn job_operation_done(&self, v: &VaultRef, job: &str, op: &str) -> Result<bool> {
        let vault = self.vault_row(v)?;
        let named: Option<String> = self
            .meta
            .find_operation(vault.rowid, op)?
            .and_then(|o| o.job_id);
        if named.as_deref() != Some(job) {
            return Err(ServiceError::not_found(
                "BMSUserErrorOperationNotFound",
                format!("Operation {op} of job {job} was not found."),
            ));
        }
        let status = self
            .job_status(vault.rowid, job)?
            .ok_or_else(|| job_not_found(v, job))?;
        Ok(!matches!(status.as_str(), "InProgress" | "Cancelling"))
    }

    fn job_status(&self, vault_rowid: i64, job: &str) -> Result<Option<String>> {
        let status: Option<String> = self
            .meta
            .find_job(Some(vault_rowid), job)?
            .map(|j| j.status);
        Ok(status.map(|st| match self.unrecorded(job) {
            Some((u, _)) => u.status.to_owned(),
            None => st,
        }))
    }

    /// Records a running job's task states and progress.
    pub(crate) fn set_job_tasks(
        &self,
        job: &str,
        tasks: &[(&str, &str)],
        progress: f64,
    ) -> Result<()> {
        let tasks: Vec<JobTask> = tasks.iter().map(|(t, st)| task(t, st)).collect();
        self.meta.set_job_tasks(job, &to_text(&tasks), progress)?;
        Ok(())
    }

    /// Marks jobs that were running when the server stopped as failed;
    /// returns the vaults (row ids) whose backups were interrupted. On a
    /// full disk the outcomes are kept in memory until they can be written.
    pub(crate) fn fail_interrupted_jobs(&self) -> Result<Vec<i64>> {
        let errors = vec![job_error(
            "ServiceRestarted",
            "The rsvault server stopped while this job was running; nothing partial was kept."
                .into(),
            "Run Backup now again, or let the next scheduled backup run.",
        )];
        let jobs: Vec<(String, i64, String, String, f64, String)> = self
            .meta
            .active_jobs(&ActiveJobQuery::default())?
            .into_iter()
            .map(|j| (j.job_id, j.vault, j.operation, j.tasks, j.progress, j.bag))
            .collect();
        let now = self.now();
        for (job, _, _, tasks, progress, bag) in &jobs {
            let st = JobState {
                status: "Failed",
                tasks: stored(tasks),
                progress: *progress,
                bag: stored(bag),
                errors: errors.clone(),
            };
            if let Err(e) = self.meta.update_job(job, &st.update(now)) {
                tracing::warn!(%job, "could not record an interrupted job as failed, kept until it can be: {e}");
                self.keep_unrecorded(job, st, now);
            }
        }
        let mut vaults: Vec<i64> = jobs
            .iter()
            .filter(|j| j.2 == "Backup")
            .map(|j| j.1)
            .collect();
        vaults.sort_unstable();
        vaults.dedup();
        Ok(vaults)
    }

    /// Backup now: starts a backup job of a protected item (`properties` of
    /// the request; its expiry, when given, must be a time within 99 years).
    /// Returns the id of the accepted operation (which names the job).
    pub fn backup_now(
        self: &Arc<Self>,
        v: &VaultRef,
        container: &str,
        item: &str,
        req: &IaasVmBackupRequest,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        // The item must exist and be visible in this vault.
        self.get_protected_item(v, container, item)?;
        let expiry = match req.recovery_point_expiry_time_in_utc.as_deref() {
            None => self
                .now()
                .checked_add(jiff::SignedDuration::from_hours(24 * 30))
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            Some(s) => {
                let t = parse_filter_time(s).ok_or_else(|| {
                    ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        format!("properties.recoveryPointExpiryTimeInUTC: '{s}' is not a time"),
                    )
                })?;
                if t <= self.now() {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        "properties.recoveryPointExpiryTimeInUTC: the retain-until date must be in the future",
                    ));
                }
                let max = self
                    .now()
                    .checked_add(jiff::SignedDuration::from_hours(24 * 366 * 99))
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                if t > max {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        "properties.recoveryPointExpiryTimeInUTC: a recovery point is kept at most 99 years",
                    ));
                }
                t
            }
        };
        let it = self.find_item(vault.rowid, &n)?.ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorProtectedItemNotFound",
                format!("Item '{item}' is not protected by vault '{}'.", v.name),
            )
        })?;
        if it.deferred.is_some()
            || it.state == "ProtectionStopped"
            || it.state == "BackupsSuspended"
        {
            return Err(ServiceError::bad_request(
                "UserErrorBackupNotAllowedOnStoppedItem",
                format!(
                    "Backups of '{}' are stopped or suspended; resume protection first.",
                    n.vm
                ),
            ));
        }
        let (_, op) = self.start_backup(v, &n, Some(expiry), true)?;
        Ok(op)
    }

    /// Starts a backup job of a protected item: on demand (`user`, with the
    /// expiry the user chose) or scheduled (kept as the policy says).
    /// Returns the job and the operation naming it.
    pub(crate) fn start_backup(
        self: &Arc<Self>,
        v: &VaultRef,
        n: &ItemName,
        expiry: Option<jiff::Timestamp>,
        user: bool,
    ) -> Result<(String, String)> {
        let vault = self.vault_row(v)?;
        let pi = self.get_protected_item(v, &n.container(), &n.item())?;
        let it = self.find_item(vault.rowid, n)?.ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorProtectedItemNotFound",
                format!("Item '{}' is not protected by vault '{}'.", n.vm, v.name),
            )
        })?;
        let cname = n.container_property();
        let busy: Vec<String> = self
            .meta
            .active_jobs(&ActiveJobQuery {
                vault: Some(vault.rowid),
                container: Some(cname.clone()),
                operations: vec!["Backup".into()],
            })?
            .into_iter()
            .map(|j| j.job_id)
            .collect();
        if busy.iter().any(|j| self.unrecorded(j).is_none()) {
            return Err(ServiceError::conflict(
                "UserErrorBackupOperationInProgress",
                format!("A backup of {} is already in progress.", n.vm),
            ));
        }
        let vm_ref = ResourceRef {
            subscription: v.subscription.clone(),
            resource_group: n.resource_group.clone(),
            name: n.vm.clone(),
        };
        let disks = self.vm_disks(n.provider, &vm_ref)?;
        let link = self.vm_address(n.provider, &vm_ref)?;
        let instant_days = self
            .item_policy(vault.rowid, &it.policy)?
            .map_or(2, |p| p.instant_rp_days);
        let os_type = self
            .get_vm(n.provider, &vm_ref, false)
            .ok()
            .and_then(|vm| vm.properties.storage_profile?.os_disk?.os_type)
            .unwrap_or_else(|| "Linux".into());
        let pi = pi.properties.as_iaas_vm();
        let vm_name = pi
            .and_then(|p| p.friendly_name.clone())
            .unwrap_or_else(|| n.vm.clone());
        let (job, op, permille) = self.start_job(
            vault.rowid,
            "Backup",
            &vm_name,
            &cname,
            &[SNAPSHOT, TRANSFER],
            user,
        )?;
        let item_id = it.rowid;
        let data_id = pi
            .and_then(|p| p.protected_item_data_id.clone())
            .unwrap_or_else(|| "0".into());
        let svc = self.clone();
        let store_name = vault.store.clone();
        let (vault_rowid, geo) = (vault.rowid, vault.redundancy == "GeoRedundant");
        let j = job.clone();
        let (panic_store, entity) = (store_name.clone(), vm_name.clone());
        self.spawn_job(
            "backup",
            &job,
            (TRANSFER, entity),
            move || {
                // A host's definition of its VM (none for a plain QEMU VM).
                let config = link
                    .as_ref()
                    .and_then(|l| svc.host_vm(l))
                    .map(|h| h.config)
                    .filter(|c| !c.is_empty());
                let run = BackupRun {
                    job: &j,
                    store_name: &store_name,
                    item_id,
                    data_id: &data_id,
                    vm_name: &vm_name,
                    os_type: &os_type,
                    disks: &disks,
                    expiry,
                    instant_days,
                    link: link.as_ref(),
                    config: config.as_deref(),
                };
                let began = std::time::SystemTime::now();
                let done = svc.run_backup(&run, &permille);
                if done.is_ok() {
                    svc.lock_written(vault_rowid, &store_name, began);
                }
                if done.is_ok() && geo {
                    // The new point's second copy, asynchronously.
                    svc.request_replication(vault_rowid);
                }
                if let Err(e) = done {
                    let st = if permille.is_cancelled() {
                        JobState::cancelled(
                            &[(SNAPSHOT, true), (TRANSFER, false)],
                            &vm_name,
                            permille.get(),
                        )
                    } else {
                        let rec = e
                            .recommendation()
                            .unwrap_or("Check the VM's disk images, then run Backup now again.");
                        let errors = vec![job_error(e.code(), e.to_string(), rec)];
                        let tasks = if permille.get() < 30.0 && link.is_some() {
                            vec![task(SNAPSHOT, "Failed"), task(TRANSFER, "NotStarted")]
                        } else {
                            vec![task(SNAPSHOT, "Completed"), task(TRANSFER, "Failed")]
                        };
                        JobState {
                            status: "Failed",
                            tasks,
                            progress: permille.get(),
                            bag: vm_bag(&vm_name),
                            errors,
                        }
                    };
                    // What only this backup wrote goes before the job ends.
                    svc.collect_after_failure(&store_name);
                    let _ = svc.finish_job(&j, &st);
                }
            },
            // What only this backup wrote goes before the job ends.
            move |svc| svc.collect_after_failure(&panic_store),
        )?;
        Ok((job, op))
    }

    fn run_backup(&self, run: &BackupRun<'_>, permille: &JobProgressHandle) -> Result<()> {
        let started = self.now();
        if let Some(rsvault_hypervisor::VmAddress::Libvirt(a)) = run.link
            && let Some(host) = crate::agents::agent_host_of(&a.uri)
        {
            let (done, end) = self.run_agent_backup(run, host, &a.uuid, permille)?;
            let host_name = self
                .meta
                .host(host)?
                .map_or_else(|| host.to_owned(), |h| h.name);
            match done {
                crate::agents::run::AgentDone::Live(outcome) => {
                    self.record_live(run, started, outcome, false, permille)?;
                }
                crate::agents::run::AgentDone::InPlace { disks, stored } => {
                    self.record_in_place(run, started, &disks, stored, Some(&host_name), permille)?;
                }
            }
            end.recorded();
            return Ok(());
        }
        if let Some(link) = run.link {
            match self.run_live_backup(run, link, permille)? {
                Some(outcome) => {
                    let disks = self.record_live(run, started, outcome, true, permille)?;
                    self.retire_bitmaps(link, &disks);
                    return Ok(());
                }
                None => {
                    // Nothing runs the VM: it is off, and its image files
                    // are read in place (crash-consistent).
                }
            }
        }
        // Take Snapshot: the images are read in place (crash-consistent),
        // unless a QEMU rsvault does not know of is writing to one.
        for d in run.disks {
            crate::live::check_not_in_use(&d.path)?;
        }
        permille.set(100);
        self.set_job_tasks(
            run.job,
            &[(SNAPSHOT, "Completed"), (TRANSFER, "InProgress")],
            10.0,
        )?;
        let store = self.open_vault_store(run.store_name)?;
        let (recorded, stored) = read_in_place(&store, run.disks, run.data_id, permille, &|d| {
            self.open_disk_for_backup(d)
        })?;
        if run.link.is_some() {
            self.set_health(
                run.item_id,
                &crate::item_health::StoredHealth::vm_stopped(self.now()),
            )?;
        }
        self.record_in_place(run, started, &recorded, stored, None, permille)
    }

    /// Records a live backup's point; returns its disks.
    fn record_live(
        &self,
        run: &BackupRun<'_>,
        started: jiff::Timestamp,
        outcome: crate::live::LiveOutcome,
        instant: bool,
        permille: &JobProgressHandle,
    ) -> Result<Vec<PointDisk>> {
        let crate::live::LiveOutcome {
            consistency,
            disks,
            warnings,
            bag,
        } = outcome;
        let instant_until = started
            .checked_add(jiff::SignedDuration::from_hours(
                24 * i64::from(run.instant_days),
            ))
            .ok()
            .filter(|_| instant);
        let disks = disks
            .into_iter()
            .map(|mut d| {
                if d.lun.is_none() {
                    d.os_type = Some(run.os_type.to_owned());
                    d.config = run.config.map(str::to_owned);
                }
                d
            })
            .collect::<Vec<_>>();
        let point = crate::outcome::NewPoint {
            item_id: run.item_id,
            started,
            consistency,
            expiry: run.expiry,
            disks: &disks,
            instant_until,
        };
        let mut bag = bag;
        bag.insert("VM Name".into(), run.vm_name.to_owned());
        bag.insert("Consistency".into(), consistency.to_owned());
        let tasks = vec![task(SNAPSHOT, "Completed"), task(TRANSFER, "Completed")];
        let st = JobState {
            status: if warnings.is_empty() {
                "Completed"
            } else {
                "CompletedWithWarnings"
            },
            tasks,
            progress: 100.0,
            bag,
            errors: warnings,
        };
        self.commit_or_forget(run, &point, st)?;
        permille.set(1000);
        Ok(disks)
    }

    /// Records a point of images read in place (crash-consistent).
    fn record_in_place(
        &self,
        run: &BackupRun<'_>,
        started: jiff::Timestamp,
        disks: &[PointDisk],
        stored: u64,
        host: Option<&str>,
        permille: &JobProgressHandle,
    ) -> Result<()> {
        let disks: Vec<PointDisk> = disks
            .iter()
            .cloned()
            .map(|mut d| {
                if d.lun.is_none() {
                    d.os_type = Some(run.os_type.to_owned());
                    d.config = run.config.map(str::to_owned);
                }
                d
            })
            .collect();
        let point = crate::outcome::NewPoint {
            item_id: run.item_id,
            started,
            consistency: "CrashConsistent",
            expiry: run.expiry,
            disks: &disks,
            instant_until: None,
        };
        let tasks = vec![task(SNAPSHOT, "Completed"), task(TRANSFER, "Completed")];
        let mut bag = vm_bag(run.vm_name);
        bag.insert(
            "Backup Size".into(),
            format!("{} MB", stored.div_ceil(1 << 20)),
        );
        bag.insert("Consistency".into(), "CrashConsistent".into());
        if let Some(h) = host {
            bag.insert("Host".into(), h.to_owned());
        }
        let st = JobState {
            status: "Completed",
            tasks,
            progress: 100.0,
            bag,
            errors: Vec::new(),
        };
        self.commit_or_forget(run, &point, st)?;
        permille.set(1000);
        Ok(())
    }

    /// Records a backup whose disks the engine committed; if the catalogue
    /// does not take it, its engine points are forgotten (or left for
    /// reconciliation), so no point outlives a failed job.
    fn commit_or_forget(
        &self,
        run: &BackupRun<'_>,
        point: &crate::outcome::NewPoint<'_>,
        st: JobState,
    ) -> Result<String> {
        self.commit_backup(run.job, point, st).inspect_err(|e| {
            tracing::warn!(job = %run.job, "could not record the recovery point, forgetting its disks: {e}");
            self.forget_uncatalogued(run.store_name, point.disks);
        })
    }

    fn job_view(&self, v: &VaultRef, r: &JobRecord) -> JobResource {
        let job = r.job_id.clone();
        let mut status = r.status.clone();
        let start = r.start_time.clone();
        let mut end = r.end_time.clone();
        let mut tasks: Vec<JobTask> = stored(&r.tasks);
        let mut progress = r.progress;
        let mut bag: PropertyBag = stored(&r.bag);
        let mut errors: Vec<JobErrorInfo> = stored(&r.errors);
        // An outcome the database could not take yet (a full disk) is the
        // job's outcome all the same.
        if let Some((st, at)) = self.unrecorded(&job) {
            status = st.status.to_owned();
            end = Some(at.to_string());
            (tasks, progress, bag, errors) = (st.tasks, st.progress, st.bag, st.errors);
        }
        if (status == "InProgress" || status == "Cancelling")
            && let Some(p) = self.runner.handle(&job)
        {
            progress = p.get();
        }
        let single = tasks.len() == 1;
        for (i, t) in tasks.iter_mut().enumerate() {
            let st = t.status.as_ref().map_or("", JobStatus::as_str);
            let share = match (i, st) {
                (_, "Completed") => 100.0,
                (_, "InProgress") if single => progress,
                (0, "InProgress") => progress.min(10.0) * 10.0,
                (1, "InProgress") => ((progress - 10.0) / 0.9).max(0.0),
                _ => 0.0,
            };
            t.duration = Some("PT0S".into());
            t.progress_percentage = Some(share);
        }
        let verify: Option<VerifyReport> = r
            .extra
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok());
        let duration = iso_duration(&start, end.as_deref(), self.now());
        let status = JobStatus::from(status.as_str());
        let actions = if status == JobStatus::InProgress {
            vec![JobSupportedAction::Cancellable]
        } else {
            Vec::new()
        };
        let properties = IaasVmJob {
            operation: Some(r.operation.as_str().into()),
            status: Some(status),
            entity_friendly_name: Some(r.entity.clone()),
            backup_management_type: Some(BackupManagementType::AzureIaasVm),
            start_time: Some(start),
            end_time: end,
            duration: Some(duration),
            activity_id: Some(job.clone()),
            virtual_machine_version: Some("Compute".into()),
            container_name: Some(r.container.clone()),
            is_user_triggered: Some(r.user_triggered),
            actions_info: Some(actions),
            error_details: Some(errors),
            extended_info: Some(JobExtendedInfo {
                tasks_list: Some(tasks),
                property_bag: Some(bag),
                progress_percentage: Some(progress),
                rsvault_verify: verify,
                ..Default::default()
            }),
            ..Default::default()
        };
        Resource {
            id: Some(format!("{}/backupJobs/{job}", v.id())),
            name: Some(job),
            kind: Some("Microsoft.RecoveryServices/vaults/backupJobs".into()),
            ..Resource::with_properties(Job::IaasVm(properties))
        }
    }

    /// Reads a job.
    pub fn get_job(&self, v: &VaultRef, job: &str) -> Result<JobResource> {
        let vault = self.vault_row(v)?;
        self.meta
            .find_job(Some(vault.rowid), job)?
            .map(|r| self.job_view(v, &r))
            .ok_or_else(|| job_not_found(v, job))
    }

    /// One page of a vault's jobs, newest first, that match a `$filter`:
    /// `operation`, `status`, `startTime` and `endTime` (bounds of the
    /// start time) and `backupManagementType`.
    pub fn list_jobs(
        &self,
        v: &VaultRef,
        filter: &str,
        page: &PageRequest,
    ) -> Result<Page<JobResource>> {
        let vault = self.vault_row(v)?;
        let f = crate::filter::Filter::parse(filter)?;
        let q = JobQuery {
            operation: f.get("operation").map(str::to_owned),
            status: f.get("status").map(str::to_owned),
            status_overrides: self.unrecorded_statuses(),
            start_from: f.time("starttime", "startTime")?,
            start_to: f.time("endtime", "endTime")?,
            container: None,
        };
        if !f.management_type_matches() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        Ok(self
            .meta
            .list_jobs(vault.rowid, &q, page)?
            .map(|r| self.job_view(v, &r)))
    }

    /// Recovery points of an item, newest first, optionally within
    /// `startDate`/`endDate`.
    pub fn list_recovery_points(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        filter: &str,
    ) -> Result<Vec<RecoveryPointResource>> {
        let (base, rows) = self.item_point_rows(v, container, item, filter)?;
        Ok(rows.into_iter().map(|p| point_view(&base, p)).collect())
    }

    /// An item's id and its catalogued points, newest first, within the
    /// `$filter`'s `startDate`/`endDate`.
    pub(crate) fn item_point_rows(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        filter: &str,
    ) -> Result<(String, Vec<crate::metastore::records::PointRecord>)> {
        let pi = self.get_protected_item(v, container, item)?;
        let f = parse_filter(filter);
        let bound = |k: &str| -> Result<Option<jiff::Timestamp>> {
            f.iter()
                .find(|(key, _)| key == k)
                .map(|(_, s)| {
                    parse_filter_time(s).ok_or_else(|| {
                        ServiceError::bad_request(
                            "BMSUserErrorInvalidInput",
                            format!("$filter {k} '{s}' is not a time"),
                        )
                    })
                })
                .transpose()
        };
        let (start, end) = (bound("startdate")?, bound("enddate")?);
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        let rows = match self
            .meta
            .find_item(vault.rowid, n.provider, &n.resource_group, &n.vm)?
        {
            Some(it) => {
                let mut points = self.meta.item_points(it.id)?;
                points.reverse();
                points
            }
            None => Vec::new(),
        };
        let base = pi.id().to_owned();
        let rows = rows
            .into_iter()
            .filter(|p| {
                let t: Option<jiff::Timestamp> = p.time.parse().ok();
                start.is_none_or(|s| t.is_some_and(|t| t >= s))
                    && end.is_none_or(|e| t.is_some_and(|t| t <= e))
            })
            .collect();
        Ok((base, rows))
    }

    /// One recovery point.
    pub fn get_recovery_point(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        rp: &str,
    ) -> Result<RecoveryPointResource> {
        pick_point(self.list_recovery_points(v, container, item, "")?, rp, "")
    }
}

/// The point named `rp` of a list, or `BMSUserErrorRecoveryPointNotFound`
/// (with `why` after the message).
pub(crate) fn pick_point(
    points: Vec<RecoveryPointResource>,
    rp: &str,
    why: &str,
) -> Result<RecoveryPointResource> {
    points.into_iter().find(|p| p.name() == rp).ok_or_else(|| {
        ServiceError::not_found(
            "BMSUserErrorRecoveryPointNotFound",
            format!("Recovery point {rp} was not found{why}."),
        )
    })
}

/// A recovery point as ARM shows it, under its item's id `base`.
pub(crate) fn point_view(
    base: &str,
    p: crate::metastore::records::PointRecord,
) -> RecoveryPointResource {
    let crate::metastore::records::PointRecord {
        name,
        time,
        consistency,
        disks,
        instant_until,
        damage,
        verified,
        ..
    } = p;
    let mut tiers = Vec::new();
    if let Some(until) = instant_until {
        tiers.push(RecoveryPointTier {
            kind: Some(RecoveryPointTierType::InstantRp),
            status: Some(RecoveryPointTierStatus::Valid),
            extended_info: Some(BTreeMap::from([("expiryTime".to_owned(), until)])),
            ..Default::default()
        });
    }
    // A point verify found damaged is no longer a valid vault copy.
    tiers.push(RecoveryPointTier {
        kind: Some(RecoveryPointTierType::HardenedRp),
        status: Some(if damage.is_some() {
            RecoveryPointTierStatus::Invalid
        } else {
            RecoveryPointTierStatus::Valid
        }),
        ..Default::default()
    });
    let integrity = PointIntegrity {
        status: Some(if damage.is_some() {
            PointIntegrityStatus::Damaged
        } else if verified.is_some() {
            PointIntegrityStatus::Intact
        } else {
            PointIntegrityStatus::NotVerified
        }),
        last_verified_time: verified,
        damage,
        ..Default::default()
    };
    let disks = crate::point_disks::parse(&disks).unwrap_or_else(|e| {
        tracing::warn!(point = %name, "{e}");
        Vec::new()
    });
    let count = u32::try_from(disks.len()).unwrap_or(u32::MAX);
    let managed = disks.iter().any(|d| d.managed);
    let os_type = disks
        .iter()
        .find_map(|d| d.os_type.clone())
        .unwrap_or_else(|| "Linux".to_owned());
    let properties = IaasVmRecoveryPoint {
        recovery_point_type: Some(consistency.as_str().into()),
        recovery_point_time: Some(time),
        recovery_point_additional_info: Some(String::new()),
        source_vm_storage_type: Some("NormalStorage".into()),
        is_source_vm_encrypted: Some(false),
        is_instant_ilr_session_active: Some(false),
        is_managed_virtual_machine: Some(managed),
        original_storage_account_option: Some(false),
        os_type: Some(os_type),
        security_type: Some("None".into()),
        is_private_access_enabled_on_any_disk: Some(false),
        recovery_point_tier_details: Some(tiers),
        recovery_point_disk_configuration: Some(DiskConfiguration {
            number_of_disks_included_in_backup: Some(count),
            number_of_disks_attached_to_vm: Some(count),
            ..Default::default()
        }),
        rsvault_verify: Some(integrity),
        ..Default::default()
    };
    Resource {
        id: Some(format!("{base}/recoveryPoints/{name}")),
        name: Some(name),
        kind: Some(RECOVERY_POINT_TYPE.into()),
        ..Resource::with_properties(RecoveryPoint::IaasVm(properties))
    }
}

const RECOVERY_POINT_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints";

/// Reads a stopped VM's images in place into the store (the transfer is
/// 10 % to 100 % of the job); returns the point's disks and the bytes
/// stored. A point is all its disks or nothing: on failure the disks
/// already committed are forgotten, and gc reclaims what only they used.
pub(crate) fn read_in_place(
    store: &rsvault_engine::Store,
    disks: &[crate::inventory::VmDisk],
    data_id: &str,
    permille: &JobProgressHandle,
    open: &dyn Fn(&crate::inventory::VmDisk) -> Result<Box<dyn rsvault_engine::source::DiskSource>>,
) -> Result<(Vec<PointDisk>, u64)> {
    let total: u64 = disks.iter().map(|d| d.size).sum();
    let progress = permille.progress(total, 100);
    let mut recorded = Vec::new();
    let mut stored = 0u64;
    let mut committed = Vec::new();
    let transferred = (|| -> Result<()> {
        for d in disks {
            let src = open(d)?;
            let opts = rsvault_engine::BackupOptions {
                name: format!("{data_id}/{}", crate::live::disk_key(d)),
                cancel: Some(permille.cancel_flag()),
                ..Default::default()
            };
            let m = rsvault_engine::backup(store, src.as_ref(), &opts, &progress)?;
            committed.push((m.name.clone(), m.id.clone()));
            stored += m.stats.bytes_stored;
            recorded.push(PointDisk {
                lun: d.lun,
                name: d.name.clone(),
                point: m.id,
                store_name: m.name,
                path: Some(d.path.clone()),
                size: m.size,
                format: m.source_format,
                managed: d.managed_id.is_some(),
                ..Default::default()
            });
        }
        if permille.is_cancelled() {
            return Err(rsvault_engine::Error::Cancelled.into());
        }
        Ok(())
    })();
    if let Err(e) = transferred {
        for (name, id) in committed {
            let _ = store.forget(&name, &id);
        }
        return Err(e);
    }
    Ok((recorded, stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_times() {
        let f = parse_filter(
            "startTime eq '2016-01-01 00:00:00 AM' and operation eq 'Backup' and status eq 'InProgress'",
        );
        assert_eq!(f[1], ("operation".into(), "Backup".into()));
        assert_eq!(
            parse_filter_time("2016-01-01 01:30:00 PM"),
            Some("2016-01-01T13:30:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_filter_time("2027-01-01T00:00:00Z"),
            Some("2027-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(parse_filter_time("nope"), None);
        assert_eq!(
            iso_duration(
                "2026-01-01T00:00:00Z",
                Some("2026-01-01T00:00:09.870Z"),
                jiff::Timestamp::UNIX_EPOCH
            ),
            "PT9.870S"
        );
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use crate::inventory::{ResourceRef, VmProvider};
    use serde_json::json;

    fn job_status(j: &JobResource) -> JobStatus {
        j.properties
            .as_iaas_vm()
            .and_then(|j| j.status.clone())
            .unwrap_or(JobStatus::Invalid)
    }

    #[test]
    fn soft_deleted_data_is_purged_after_its_period() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(Service::open(dir.path()).unwrap());
        let v = VaultRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "vault1".into(),
        };
        s.put_vault(&v, rsvault_arm::vault::VaultPut::located("westeurope"))
            .unwrap();
        let img = dir.path().join("images/os.raw");
        std::fs::write(&img, vec![7u8; 3 << 20]).unwrap();
        let vm = ResourceRef {
            subscription: "s".into(),
            resource_group: "vms".into(),
            name: "vm1".into(),
        };
        s.put_vm(VmProvider::Compute, &vm, &serde_json::from_value(json!({"location": "westeurope",
            "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": format!("file://{}", img.display())}}}}})).unwrap())
            .unwrap();
        let (c, i) = (
            "IaasVMContainer;iaasvmcontainerv2;vms;vm1",
            "VM;iaasvmcontainerv2;vms;vm1",
        );
        s.put_protected_item(&v, c, i, &serde_json::from_value(json!({"properties": {"policyId": format!("{}/backupPolicies/DefaultPolicy", v.id())}})).unwrap()).unwrap();
        // The expiry, when given, is a time in the coming 99 years.
        for (bad, why) in [
            ("soon", "is not a time"),
            ("2001-01-01T00:00:00Z", "must be in the future"),
            ("2999-01-01T00:00:00Z", "at most 99 years"),
        ] {
            let req = IaasVmBackupRequest {
                recovery_point_expiry_time_in_utc: Some(bad.into()),
                ..Default::default()
            };
            let e = s.backup_now(&v, c, i, &req).unwrap_err();
            assert_eq!(e.code(), "BMSUserErrorInvalidInput", "{bad}");
            let msg = e.to_string();
            assert!(
                msg.starts_with("properties.recoveryPointExpiryTimeInUTC:") && msg.contains(why),
                "{bad}: {msg}"
            );
        }
        let op = s
            .backup_now(&v, c, i, &IaasVmBackupRequest::default())
            .unwrap();
        let job = s
            .operation_status(&v, &op)
            .unwrap()
            .job_id()
            .unwrap()
            .to_owned();
        for _ in 0..500 {
            if !job_status(&s.get_job(&v, &job).unwrap()).is_running() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            job_status(&s.get_job(&v, &job).unwrap()),
            JobStatus::Completed
        );
        let store_name = s.vault_row(&v).unwrap().store;
        assert_eq!(
            s.open_vault_store(&store_name)
                .unwrap()
                .list_points()
                .unwrap()
                .len(),
            1
        );

        s.delete_protected_item(&v, c, i).unwrap();
        let now = jiff::Timestamp::now();
        assert_eq!(
            s.purge_expired(now).unwrap(),
            0,
            "within the 14 days nothing goes"
        );
        let later = now
            .checked_add(jiff::SignedDuration::from_hours(24 * 15))
            .unwrap();
        assert_eq!(s.purge_expired(later).unwrap(), 1);
        assert!(s.get_protected_item(&v, c, i).is_err());
        assert!(
            s.open_vault_store(&store_name)
                .unwrap()
                .list_points()
                .unwrap()
                .is_empty(),
            "points forgotten and collected"
        );
        s.delete_vault(&v).unwrap();
    }
}

//! A backup job of an agent's VM, on the server's side: the task goes on
//! the board, the job follows its progress, and fails at once when the
//! host is not connected or goes silent. The result's engine points are
//! checked in the vault store before the point is recorded.

use super::board::Board;
use super::wire::{AgentTask, BackupDone, BackupTask, TaskResult};
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::item_health::StoredHealth;
use crate::jobs::{BackupRun, JobProgressHandle, SNAPSHOT, TRANSFER};
use crate::live::LiveOutcome;
use crate::point_disks::PointDisk;
use std::time::{Duration, Instant};

/// What an agent's backup gave.
pub(crate) enum AgentDone {
    /// A running VM's snapshot.
    Live(LiveOutcome),
    /// A stopped VM's images, read in place.
    InPlace { disks: Vec<PointDisk>, stored: u64 },
}

/// Ends the task on the board when dropped: `recorded` tells the agent
/// whether to keep its new checkpoints.
pub(crate) struct TaskEnd<'a> {
    board: &'a Board,
    id: String,
    recorded: bool,
}

impl TaskEnd<'_> {
    pub(crate) fn recorded(mut self) {
        self.recorded = true;
    }
}

impl Drop for TaskEnd<'_> {
    fn drop(&mut self) {
        self.board.end(&self.id, self.recorded);
    }
}

const UNAVAILABLE: &str = "UserErrorGuestAgentStatusUnavailable";

fn unavailable(message: String) -> ServiceError {
    ServiceError::Job {
        code: UNAVAILABLE.into(),
        message,
        recommendation: "Check that 'rsvault agent' runs on the host (systemctl status rsvault-agent) and reaches the vault server, then run Backup now again.".into(),
    }
}

/// A restore on an agent's host: in place, or a new domain.
pub(crate) struct AgentRestore<'a> {
    pub job: &'a str,
    pub store_name: &'a str,
    pub host_id: &'a str,
    pub vm_uuid: &'a str,
    /// The point's disks to write.
    pub disks: &'a [&'a PointDisk],
    /// The checkpoints the item's points started.
    pub checkpoints: Vec<rsvault_hypervisor::DiskCheckpoint>,
    /// The target VM of a new domain (`AlternateLocation`): the domain gets
    /// its name and is registered as it.
    pub new_vm: Option<&'a crate::inventory::ResourceRef>,
}

/// What a restore on an agent's host did.
pub(crate) struct AgentRestored {
    /// Each disk's label and the image written on the host.
    pub written: std::collections::BTreeMap<String, String>,
    pub host: String,
    /// The new domain (name and UUID), registered as the target VM.
    pub defined: Option<(String, String)>,
}

/// A task's error, as the job's.
fn task_error(
    host: &crate::metastore::HostRecord,
    e: Option<rsvault_arm::error::JobErrorInfo>,
    default_code: &str,
) -> ServiceError {
    let e = e.unwrap_or_default();
    ServiceError::Job {
        code: e
            .error_code
            .map_or_else(|| default_code.to_owned(), |c| c.to_string()),
        message: format!(
            "On host '{}': {}",
            host.name,
            e.error_string.unwrap_or_else(|| "the task failed".into())
        ),
        recommendation: e
            .recommendations
            .and_then(|r| r.into_iter().next())
            .unwrap_or_else(|| "Run the job again.".into()),
    }
}

impl Service {
    /// Replaces a stopped VM's disks on an agent's host, or defines a new
    /// domain there, through its agent. A new domain is registered as the
    /// target VM before the agent hears that the task is done; if it cannot
    /// be, the agent undefines it again.
    pub(crate) fn run_agent_restore(
        &self,
        r: &AgentRestore<'_>,
        permille: &JobProgressHandle,
    ) -> Result<AgentRestored> {
        let AgentRestore {
            job,
            store_name,
            host_id,
            vm_uuid,
            disks,
            checkpoints,
            new_vm,
        } = r;
        let host = self.check_host_connected(host_id)?;
        let pairs: Vec<serde_json::Value> = checkpoints
            .iter()
            .map(|c| serde_json::json!({"image": c.image, "checkpoint": c.checkpoint}))
            .collect();
        let task = AgentTask {
            id: crate::identity::secrets::new_guid(),
            backup: None,
            restore: Some(super::wire::RestoreTask {
                job: (*job).to_owned(),
                vm_uuid: (*vm_uuid).to_owned(),
                new_domain: new_vm.map(|v| v.name.clone()),
                disks: serde_json::to_value(disks)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
                checkpoints: serde_json::Value::Array(pairs),
            }),
        };
        let board = &self.agents.board;
        let end = TaskEnd {
            board,
            id: task.id.clone(),
            recorded: false,
        };
        board.submit(&host.id, store_name, task);
        tracing::info!(job, host = %host.name, task = %end.id, "restore handed to the host's agent");
        let r = self.follow_task(None, &host, &end.id, permille)?;
        if r.cancelled {
            return Err(rsvault_engine::Error::Cancelled.into());
        }
        let Some(written) = r.restored else {
            return Err(task_error(&host, r.error, "UserErrorRestoreFailed"));
        };
        let defined = match (new_vm, r.defined) {
            (None, _) => None,
            (Some(vm), Some(d)) => {
                let uri = super::agent_uri(&host.id);
                self.register_restored_vm(&uri, &host.location, vm, &d.to_host_vm(&uri))?;
                Some((d.name, d.uuid))
            }
            (Some(_), None) => {
                return Err(ServiceError::Internal(format!(
                    "the agent on host '{}' restored the disks but named no new domain",
                    host.name
                )));
            }
        };
        end.recorded();
        Ok(AgentRestored {
            written,
            host: host.name,
            defined,
        })
    }

    /// Fails unless the agent's host is connected.
    pub(crate) fn check_host_connected(
        &self,
        host_id: &str,
    ) -> Result<crate::metastore::HostRecord> {
        let h = self.meta.host(host_id)?.ok_or_else(|| {
            unavailable(format!(
                "The VM's host ({host_id}) is no longer enrolled with this vault server."
            ))
        })?;
        if !self.host_connected(&h) {
            let since = h
                .last_contact_ms
                .and_then(|t| jiff::Timestamp::from_millisecond(t).ok())
                .map_or_else(|| "its enrolment".to_owned(), |t| t.to_string());
            return Err(unavailable(format!(
                "The agent on host '{}' is not connected: its last heartbeat was at {since}.",
                h.name
            )));
        }
        Ok(h)
    }

    /// Runs a backup of an agent host's VM through its agent.
    pub(crate) fn run_agent_backup(
        &self,
        run: &BackupRun<'_>,
        host_id: &str,
        vm_uuid: &str,
        permille: &JobProgressHandle,
    ) -> Result<(AgentDone, TaskEnd<'_>)> {
        let host = self.check_host_connected(host_id)?;
        let previous = self
            .item_points_for_agent(run.item_id)?
            .map(|d| serde_json::to_value(d).map_err(|e| ServiceError::Internal(e.to_string())))
            .transpose()?;
        let settings = self.live_settings();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let task = AgentTask {
            id: crate::identity::secrets::new_guid(),
            restore: None,
            backup: Some(BackupTask {
                job: run.job.to_owned(),
                data_id: run.data_id.to_owned(),
                vm_uuid: vm_uuid.to_owned(),
                previous,
                freeze_timeout_ms: ms(settings.freeze_timeout),
                agent_timeout_ms: ms(settings.agent_timeout),
                rate_limit: settings.rate_limit,
            }),
        };
        let board = &self.agents.board;
        let end = TaskEnd {
            board,
            id: task.id.clone(),
            recorded: false,
        };
        board.submit(&host.id, run.store_name, task);
        tracing::info!(job = %run.job, host = %host.name, task = %end.id, "backup handed to the host's agent");
        let result = self.follow_task(Some(run.job), &host, &end.id, permille)?;
        let done = self.check_result(run, &host, result)?;
        Ok((done, end))
    }

    /// The item's newest point's disks as the agent builds on them: its
    /// snapshot files are the host's.
    fn item_points_for_agent(&self, item_id: i64) -> Result<Option<Vec<PointDisk>>> {
        let Some(last) = self.meta.item_points(item_id)?.into_iter().last() else {
            return Ok(None);
        };
        let mut disks = crate::point_disks::parse(&last.disks)?;
        for d in &mut disks {
            d.snapshot = d.host_snapshot.take();
        }
        Ok(Some(disks))
    }

    /// Waits for the task's result, passing its progress to the job.
    fn follow_task(
        &self,
        backup_job: Option<&str>,
        host: &crate::metastore::HostRecord,
        task: &str,
        permille: &JobProgressHandle,
    ) -> Result<TaskResult> {
        let board = &self.agents.board;
        let submitted = Instant::now();
        let mut snapshot_marked = false;
        loop {
            let seen = board.watch(task, Duration::from_millis(500));
            if let Some(r) = seen.result {
                return Ok(r);
            }
            permille.set(seen.permille);
            if let Some(job) = backup_job
                && seen.snapshot_taken
                && !snapshot_marked
            {
                snapshot_marked = true;
                self.set_job_tasks(
                    job,
                    &[(SNAPSHOT, "Completed"), (TRANSFER, "InProgress")],
                    permille.get(),
                )?;
            }
            if permille.is_cancelled() {
                board.cancel(task);
            }
            let stale = self.agent_settings().stale_after;
            let h = self.meta.host(&host.id)?;
            if !h.as_ref().is_some_and(|h| self.host_connected(h)) {
                return Err(unavailable(format!(
                    "The agent on host '{}' stopped answering during the job (no heartbeat for {} s); nothing of it was kept.",
                    host.name,
                    stale.as_secs()
                )));
            }
            if !seen.taken && submitted.elapsed() > stale {
                return Err(unavailable(format!(
                    "The agent on host '{}' did not take the job within {} s.",
                    host.name,
                    stale.as_secs()
                )));
            }
        }
    }

    /// Checks an agent's result: its engine points must be this item's and
    /// in the store.
    fn check_result(
        &self,
        run: &BackupRun<'_>,
        host: &crate::metastore::HostRecord,
        r: TaskResult,
    ) -> Result<AgentDone> {
        if r.cancelled {
            return Err(rsvault_engine::Error::Cancelled.into());
        }
        let Some(done) = r.done else {
            return Err(task_error(host, r.error, "UserErrorBackupFailed"));
        };
        let BackupDone {
            consistency,
            live,
            disks,
            warnings,
            bag,
            guest_agent,
            stored_bytes,
        } = done;
        let mut disks: Vec<PointDisk> = serde_json::from_value(disks)
            .map_err(|e| ServiceError::Internal(format!("the agent's point does not read: {e}")))?;
        if disks.len() != run.disks.len() {
            return Err(ServiceError::Internal(format!(
                "the agent backed up {} disks of a VM with {}",
                disks.len(),
                run.disks.len()
            )));
        }
        let store = self.open_vault_store(run.store_name)?;
        for d in &mut disks {
            let key = match d.lun {
                None => "os".to_owned(),
                Some(l) => format!("lun-{l}"),
            };
            let expected = format!("{}/{key}", run.data_id);
            let found = d.store_name == expected
                && store
                    .points_of(&d.store_name)?
                    .iter()
                    .any(|p| p.id == d.point);
            if !found {
                return Err(ServiceError::Internal(format!(
                    "the agent reported point {} of {}, which the vault store does not hold",
                    d.point, d.store_name
                )));
            }
            d.host = Some(host.id.clone());
            d.host_snapshot = d.snapshot.take();
            d.base = None;
        }
        if let Some(a) = guest_agent {
            let health = if live {
                StoredHealth::of_agent(&a.to_state(), self.now())
            } else {
                StoredHealth::vm_stopped(self.now())
            };
            self.set_health(run.item_id, &health)?;
        }
        if !live {
            return Ok(AgentDone::InPlace {
                disks,
                stored: stored_bytes,
            });
        }
        let consistency = match consistency.as_str() {
            "AppConsistent" => "AppConsistent",
            "FileSystemConsistent" => "FileSystemConsistent",
            _ => "CrashConsistent",
        };
        let mut bag = bag;
        bag.insert("Host".into(), host.name.clone());
        Ok(AgentDone::Live(LiveOutcome {
            consistency,
            disks,
            warnings,
            bag,
        }))
    }
}

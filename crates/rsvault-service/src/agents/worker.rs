//! The agent's side of a backup task: on its own host, the VM is found by
//! its UUID through the host's hypervisor (never by paths the server
//! names), snapshotted and read there, and its data written into the
//! task's store — the same code the vault server runs for its own host.
//! The snapshot files stay in the agent's state directory: the newest one
//! per disk is the base of the next incremental.

use super::wire::{
    BackupDone, BackupTask, GuestAgent, Heartbeat, ReportedVm, TaskProgress, TaskResult,
};
use crate::error::{Result, ServiceError};
use crate::inventory::VmDisk;
use crate::jobs::JobProgressHandle;
use crate::live::{LiveJob, LiveReport, LiveSettings, take_live};
use crate::point_disks::PointDisk;
use rsvault_hypervisor::{AgentState, Discovery, HostVm, Hypervisor, VmAddress};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the task reaches its job: progress up, cancellation down.
pub trait TaskChannel: Send + Sync {
    /// Reports progress; answers whether the job was cancelled.
    fn progress(&self, p: &TaskProgress) -> bool;
}

/// What an agent runs tasks with.
#[derive(Debug, Clone)]
pub struct Worker {
    pub hypervisor: Arc<dyn Hypervisor>,
    pub discovery: Arc<dyn Discovery>,
    /// The agent's state directory (its snapshots go under `snapshots/`,
    /// its unfinished restores' files are listed under `restores/`).
    pub state_dir: PathBuf,
    /// The names of the domains restores are defining: not reported until
    /// the server has registered them as their target VMs.
    pub(super) defining: Arc<Mutex<BTreeSet<String>>>,
}

/// How often progress goes to the server.
const REPORT_EVERY: Duration = Duration::from_millis(700);

pub(super) fn error_result(e: &ServiceError, cancelled: bool) -> TaskResult {
    if cancelled {
        return TaskResult {
            cancelled: true,
            ..Default::default()
        };
    }
    TaskResult {
        error: Some(crate::jobs::job_error(
            e.code(),
            e.to_string(),
            e.recommendation().unwrap_or("Run Backup now again."),
        )),
        ..Default::default()
    }
}

/// The reported state of the guest agent and the snapshot.
#[derive(Default)]
struct Seen {
    agent: Mutex<Option<AgentState>>,
    snapshot_taken: AtomicBool,
}

impl LiveReport for Seen {
    fn agent(&self, state: &AgentState) {
        *self.agent.lock().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
    }

    fn snapshot_taken(&self) -> Result<()> {
        self.snapshot_taken.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// The files a host names for its VM: disks and backing chains.
pub(super) fn files_of(vm: &HostVm) -> Vec<PathBuf> {
    vm.disks
        .iter()
        .flat_map(|d| std::iter::once(d.path.clone()).chain(d.backing.clone()))
        .collect()
}

fn open_confined(d: &VmDisk) -> Result<Box<dyn rsvault_engine::source::DiskSource>> {
    let roots = rsvault_engine::source::ImageRoots::new(Vec::new())
        .with_files(d.host_files.iter().cloned());
    let (_, src) = rsvault_engine::source::open_image_within(&d.path, &roots)?;
    Ok(src)
}

/// A task's folder name: the data id with no separators.
fn safe(s: &str) -> String {
    s.replace(['/', '\\', '.'], "_")
}

impl Worker {
    pub fn new(
        hypervisor: Arc<dyn Hypervisor>,
        discovery: Arc<dyn Discovery>,
        state_dir: PathBuf,
    ) -> Self {
        Worker {
            hypervisor,
            discovery,
            state_dir,
            defining: Arc::default(),
        }
    }

    /// A heartbeat: the host's VMs (but the domains restores are still
    /// defining), or why its hypervisor did not list them.
    pub fn heartbeat(&self) -> Heartbeat {
        let version = super::AGENT_VERSION.to_owned();
        match self.discovery.list() {
            Ok(vms) => {
                let hidden = self.defining.lock().unwrap_or_else(|p| p.into_inner());
                Heartbeat {
                    agent_version: version,
                    vms: Some(
                        vms.iter()
                            .filter(|v| !hidden.contains(&v.name))
                            .map(ReportedVm::of)
                            .collect(),
                    ),
                    error: None,
                }
            }
            Err(e) => Heartbeat {
                agent_version: version,
                vms: None,
                error: Some(e.to_string()),
            },
        }
    }

    /// Where the host reaches the VM: its domain, or a plain QEMU VM's
    /// monitor (a VM the host no longer lists: its libvirt domain).
    pub(super) fn link(&self, uuid: &str) -> VmAddress {
        match self.discovery.get(uuid) {
            Ok(Some(vm)) => vm.address,
            _ => VmAddress::libvirt(self.discovery.uri(), uuid),
        }
    }

    fn item_dir(&self, data_id: &str) -> PathBuf {
        self.state_dir.join("snapshots").join(safe(data_id))
    }

    /// The VM's disks as the host names them (the OS disk first).
    pub(super) fn disks(&self, vm: &HostVm) -> Result<Vec<VmDisk>> {
        let files = files_of(vm);
        vm.disks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut disk = VmDisk {
                    lun: if i == 0 {
                        None
                    } else {
                        i64::try_from(i - 1).ok()
                    },
                    name: format!("{}-{}", vm.name, d.device),
                    path: d.path.clone(),
                    format: d.format.clone(),
                    size: 0,
                    managed_id: None,
                    host_files: files.clone(),
                };
                disk.size = open_confined(&disk)?.size();
                Ok(disk)
            })
            .collect()
    }

    /// Runs a backup task into `store`.
    pub fn backup(
        &self,
        task: &BackupTask,
        store: &rsvault_engine::Store,
        chan: &dyn TaskChannel,
    ) -> TaskResult {
        let permille = JobProgressHandle::default();
        let seen = Seen::default();
        let r = reporting(chan, &permille, &seen.snapshot_taken, || {
            self.run(task, store, &permille, &seen)
        });
        match r {
            Ok(done) => TaskResult {
                done: Some(done),
                ..Default::default()
            },
            Err(e) => error_result(&e, permille.is_cancelled()),
        }
    }

    /// The VM by UUID, through the host's own hypervisor.
    pub(super) fn find(&self, uuid: &str) -> Result<HostVm> {
        self.discovery
            .get(uuid)
            .map_err(|e| ServiceError::Job {
                code: "UserErrorGuestAgentStatusUnavailable".into(),
                message: format!("The host's hypervisor does not answer: {e}"),
                recommendation:
                    "Check that the host's hypervisor (libvirtd, or the VM's QEMU) answers, then run the job again."
                        .into(),
            })?
            .ok_or_else(|| ServiceError::Job {
                code: "UserErrorVmNotFound".into(),
                message: format!("The host no longer defines the VM {uuid}."),
                recommendation:
                    "Refresh the vault's containers; stop protection of a VM that is gone.".into(),
            })
    }

    fn run(
        &self,
        task: &BackupTask,
        store: &rsvault_engine::Store,
        permille: &JobProgressHandle,
        seen: &Seen,
    ) -> Result<BackupDone> {
        let vm = self.find(&task.vm_uuid)?;
        let disks = self.disks(&vm)?;
        let prev = previous(task)?;
        let link = vm.address.clone();
        let job = LiveJob {
            hypervisor: self.hypervisor.as_ref(),
            store,
            link: &link,
            job: &task.job,
            data_id: &task.data_id,
            disks: &disks,
            prev: prev.as_ref(),
            snapshot_dir: self.item_dir(&task.data_id).join(safe(&task.job)),
            settings: LiveSettings {
                freeze_timeout: Duration::from_millis(task.freeze_timeout_ms),
                agent_timeout: Duration::from_millis(task.agent_timeout_ms),
                rate_limit: task.rate_limit,
            },
        };
        let to_json = |d: &[PointDisk]| {
            serde_json::to_value(d).map_err(|e| ServiceError::Internal(e.to_string()))
        };
        if let Some(out) = take_live(&job, permille, seen)? {
            let agent = seen.agent.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Ok(BackupDone {
                consistency: out.consistency.to_owned(),
                live: true,
                disks: to_json(&out.disks)?,
                warnings: out.warnings,
                bag: out.bag,
                guest_agent: agent.as_ref().map(GuestAgent::of),
                stored_bytes: 0,
            });
        }
        for d in &disks {
            crate::live::check_not_in_use(&d.path)?;
        }
        permille.set(100);
        seen.snapshot_taken.store(true, Ordering::SeqCst);
        let (points, stored) =
            crate::jobs::read_in_place(store, &disks, &task.data_id, permille, &open_confined)?;
        Ok(BackupDone {
            consistency: "CrashConsistent".into(),
            live: false,
            disks: to_json(&points)?,
            warnings: Vec::new(),
            bag: Default::default(),
            guest_agent: Some(GuestAgent::of(&AgentState::NotConfigured)),
            stored_bytes: stored,
        })
    }

    /// After the server's verdict: a recorded live point's checkpoints and
    /// snapshots become the base of the next incremental (older ones go);
    /// an unrecorded one's go, and the previous ones still cover every
    /// write since the last point.
    pub fn finish(&self, task: &BackupTask, result: &TaskResult, recorded: bool) {
        let Some(done) = result.done.as_ref().filter(|d| d.live) else {
            return;
        };
        let Ok(disks) = serde_json::from_value::<Vec<PointDisk>>(done.disks.clone()) else {
            return;
        };
        let link = self.link(&task.vm_uuid);
        let pairs = crate::live::checkpoints_of(&disks);
        let job_dir = self.item_dir(&task.data_id).join(safe(&task.job));
        if !recorded {
            if let Err(e) = self.hypervisor.discard_checkpoints(&link, &pairs) {
                tracing::warn!(error = %e, "could not drop the checkpoints of an unrecorded backup");
            }
            let _ = std::fs::remove_dir_all(&job_dir);
            return;
        }
        if let Err(e) = self.hypervisor.retire_checkpoints(&link, &pairs) {
            tracing::warn!(error = %e, "could not retire old checkpoints (the next backup will)");
        }
        // The new snapshots stand alone, then the older ones go.
        for d in &disks {
            if let (Some(snap), Some(_)) = (&d.snapshot, &d.base)
                && let Err(e) = crate::instant::rebase(snap, None)
            {
                tracing::warn!(error = %e, "could not flatten the new snapshot; the older ones stay");
                return;
            }
        }
        prune_except(&self.item_dir(&task.data_id), &job_dir);
    }
}

/// Runs `f` while a thread reports its progress to the job every
/// [`REPORT_EVERY`], and cancels it when the job is cancelled.
pub(super) fn reporting<R>(
    chan: &dyn TaskChannel,
    permille: &JobProgressHandle,
    snapshot_taken: &AtomicBool,
    f: impl FnOnce() -> R,
) -> R {
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::SeqCst) {
                let p = TaskProgress {
                    permille: permille.permille(),
                    snapshot_taken: snapshot_taken.load(Ordering::SeqCst),
                };
                if chan.progress(&p) {
                    permille.cancel();
                }
                std::thread::sleep(REPORT_EVERY);
            }
        });
        let r = f();
        finished.store(true, Ordering::SeqCst);
        r
    })
}

/// The item's previous point as the task gives it; a snapshot no longer
/// on the host is not built on.
fn previous(task: &BackupTask) -> Result<Option<(Vec<PointDisk>, bool)>> {
    let Some(v) = &task.previous else {
        return Ok(None);
    };
    let mut disks: Vec<PointDisk> = serde_json::from_value(v.clone()).map_err(|e| {
        ServiceError::Internal(format!("the task's previous point does not read: {e}"))
    })?;
    for d in &mut disks {
        if d.snapshot.as_deref().is_some_and(|s| !s.is_file()) {
            d.snapshot = None;
        }
    }
    let any = disks.iter().any(|d| d.snapshot.is_some());
    Ok(Some((disks, any)))
}

/// Removes every job folder of an item but `keep`.
fn prune_except(item_dir: &Path, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(item_dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p != keep
            && let Err(e) = std::fs::remove_dir_all(&p)
        {
            tracing::warn!(path = %p.display(), error = %e, "could not remove an old snapshot");
        }
    }
}

//! The port over libvirt: domains reached through a libvirt connection,
//! snapshotted with libvirt's own backup API (a pull-mode backup job with a
//! checkpoint, read over NBD), file systems frozen with libvirt's
//! `virDomainFSFreeze`. No QMP command and no agent command passes
//! through libvirt, so the domain is never tainted.
//!
//! - [`xml`]: the domain, backup and checkpoint documents;
//! - [`ffi`]: the libvirt calls the `virt` crate does not wrap;
//! - [`pull`]: the NBD exports copied into the snapshot files.

mod discover;
pub mod ffi;
mod pull;
pub mod xml;

pub use discover::LibvirtDiscovery;

use crate::address::{LibvirtAddress, VmAddress};
use crate::error::HvError;
use crate::finding::{self, Finding};
use crate::port::{
    AgentState, AttachedDisk, CheckpointInfo, Consistency, DiskCheckpoint, DiskRequest,
    DiskSnapshot, GRANULARITY, Hypervisor, PowerState, Snapshot, SnapshotError, SnapshotFailure,
    SnapshotRequest,
};
use ffi::CallError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use xml::{BackupDisk, DomainDisk};

/// libvirt's QEMU domains. Every call opens its own connection.
#[derive(Debug, Clone)]
pub struct LibvirtHypervisor {
    /// Where pull backups put their NBD socket and scratch files. QEMU
    /// (libvirt's QEMU user) creates the socket, so the directory is made
    /// that user's (see [`LibvirtHypervisor::prepare`]).
    pub work_dir: PathBuf,
}

/// libvirt's own state directory of QEMU domains on a system connection;
/// its owner is the user QEMU runs as.
const SYSTEM_QEMU_DIR: &str = "/var/lib/libvirt/qemu";

const LIBVIRT_REC: &str =
    "Check that libvirtd runs and the domain is defined on this host, then run Backup now again.";

impl Default for LibvirtHypervisor {
    fn default() -> Self {
        LibvirtHypervisor {
            work_dir: Path::new(SYSTEM_QEMU_DIR).join("rsvault-backup"),
        }
    }
}

fn hv_err(what: &str, e: impl std::fmt::Display) -> HvError {
    HvError::Libvirt(format!("{what}: {e}"))
}

fn address(vm: &VmAddress) -> Result<&LibvirtAddress, HvError> {
    match vm {
        VmAddress::Libvirt(a) => Ok(a),
        other => Err(HvError::Protocol(format!(
            "{other:?} is not a libvirt domain's address"
        ))),
    }
}

/// Opens the connection and looks the domain up; `Ok(None)` when the
/// domain is not defined there.
fn open(a: &LibvirtAddress) -> Result<(Connect, Option<Domain>), HvError> {
    virt::error::clear_error_callback();
    let conn =
        Connect::open(Some(&a.uri)).map_err(|e| hv_err(&format!("connecting to {}", a.uri), e))?;
    match conn.lookup_domain_by_uuid_string(&a.uuid) {
        Ok(d) => Ok((conn, Some(d))),
        Err(e) if CallError::from(e.clone()).code == ffi::code::NO_DOMAIN => Ok((conn, None)),
        Err(e) => Err(hv_err(&format!("looking up domain {}", a.uuid), e)),
    }
}

fn domain_xml(dom: &Domain) -> Result<xml::DomainInfo, HvError> {
    let x = dom
        .xml_desc(0)
        .map_err(|e| hv_err("reading the domain XML", e))?;
    xml::parse_domain(&x).map_err(HvError::Protocol)
}

/// Which disks each checkpoint covers.
fn checkpoint_map(dom: &Domain) -> Result<HashMap<String, Vec<String>>, HvError> {
    let mut m = HashMap::new();
    for (name, x) in ffi::checkpoints(dom).map_err(|e| hv_err("listing checkpoints", e))? {
        m.insert(name, xml::checkpoint_disks(&x).map_err(HvError::Protocol)?);
    }
    Ok(m)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

fn find_disk<'a>(disks: &'a [DomainDisk], image: &Path) -> Option<&'a DomainDisk> {
    let want = canonical(image);
    disks.iter().find(|d| canonical(&d.source) == want)
}

impl LibvirtHypervisor {
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        LibvirtHypervisor {
            work_dir: work_dir.into(),
        }
    }

    /// Creates the work directory (mode 0700), owned by the user of
    /// libvirt's QEMU state directory when this process may hand it over
    /// (a system connection run as root), so that QEMU can create the
    /// export's socket in it.
    pub fn prepare(&self) -> Result<(), HvError> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let d = &self.work_dir;
        std::fs::create_dir_all(d)
            .map_err(|e| HvError::io(format!("creating {}", d.display()), e))?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| HvError::io(format!("chmod {}", d.display()), e))?;
        if let Ok(m) = std::fs::metadata(SYSTEM_QEMU_DIR) {
            let me = std::fs::metadata(d)
                .map_err(|e| HvError::io(format!("stat {}", d.display()), e))?;
            if me.uid() != m.uid() {
                // Only root may give a directory away; anyone else runs
                // QEMU as themselves (a session connection).
                let _ = std::os::unix::fs::chown(d, Some(m.uid()), Some(m.gid()));
            }
        }
        Ok(())
    }
}

/// How the guest's file systems were handled around the backup's start.
struct Guest {
    state: AgentState,
    warnings: Vec<Finding>,
    frozen_at: Option<Instant>,
}

fn agent_unavailable(msg: String) -> Finding {
    Finding::new(finding::AGENT_UNAVAILABLE, msg, LIBVIRT_AGENT_REC)
}

const LIBVIRT_AGENT_REC: &str = "Install and start qemu-ga in the guest and give the domain the channel <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>.";

/// Freezes the guest's file systems, if its agent answers.
fn freeze(dom: &Domain, timeout: Duration) -> Guest {
    let secs = timeout.as_secs().clamp(1, i32::MAX as u64) as i32;
    let _ = ffi::set_agent_timeout(dom, secs);
    match ffi::fs_freeze(dom) {
        Ok(_) => Guest {
            state: AgentState::Ready {
                version: "connected (through libvirt)".into(),
            },
            warnings: Vec::new(),
            frozen_at: Some(Instant::now()),
        },
        Err(e) if e.message.contains("not configured") => Guest {
            state: AgentState::NotConfigured,
            warnings: vec![agent_unavailable(
                "The domain has no guest agent channel, so the snapshot is crash-consistent."
                    .into(),
            )],
            frozen_at: None,
        },
        Err(e)
            if e.code == ffi::code::AGENT_UNRESPONSIVE
                || e.message.contains("not connected")
                || e.message.contains("not responding") =>
        {
            Guest {
                state: AgentState::Unreachable(e.message.clone()),
                warnings: vec![agent_unavailable(format!(
                    "The guest agent did not answer ({e}), so the snapshot is crash-consistent."
                ))],
                frozen_at: None,
            }
        }
        Err(e) => Guest {
            state: AgentState::Ready {
                version: "connected (through libvirt)".into(),
            },
            warnings: vec![Finding::new(
                finding::FREEZE_FAILED,
                format!(
                    "The guest's file systems could not be frozen ({e}), so the snapshot is crash-consistent."
                ),
                "Check the guest agent's log and the guest's fsfreeze hooks, then run Backup now again.",
            )],
            frozen_at: None,
        },
    }
}

impl Guest {
    /// Thaws, if frozen; how long the file systems were frozen.
    fn thaw(&mut self, dom: &Domain) -> Option<Duration> {
        let at = self.frozen_at.take()?;
        if let Err(e) = ffi::fs_thaw(dom) {
            self.warnings.push(Finding::new(
                finding::THAW_FAILED,
                format!("Thawing the guest's file systems failed: {e}"),
                "Check the guest; qemu-ga thaws by itself when its freeze times out.",
            ));
        }
        Some(at.elapsed())
    }
}

/// One disk's plan: where it is in the domain and what it builds on.
struct Planned<'a> {
    req: &'a DiskRequest,
    disk: &'a DomainDisk,
    base: Option<&'a Path>,
    full_reason: Option<String>,
    checkpoint: bool,
}

/// Decides whether the disk's backup can be incremental.
fn plan_disk<'a>(
    req: &'a DiskRequest,
    disk: &'a DomainDisk,
    checkpoints: &HashMap<String, Vec<String>>,
) -> Planned<'a> {
    let qcow2 = disk.format == "qcow2";
    let why = if !qcow2 {
        Some(format!(
            "libvirt keeps no checkpoint on {} disks (qcow2 only)",
            disk.format
        ))
    } else {
        match &req.base {
            None => Some(
                req.no_base_reason
                    .clone()
                    .unwrap_or_else(|| "first backup of this disk".into()),
            ),
            Some(b)
                if !checkpoints
                    .get(&b.checkpoint)
                    .is_some_and(|d| d.contains(&disk.target)) =>
            {
                Some(format!(
                    "checkpoint {} is missing on {} (it was deleted, the domain was redefined or moved, or libvirt lost its metadata)",
                    b.checkpoint, disk.target
                ))
            }
            Some(b) if !b.snapshot.is_file() => {
                Some("the previous snapshot left the instant-restore tier".into())
            }
            Some(_) => None,
        }
    };
    Planned {
        req,
        disk,
        base: if why.is_none() {
            req.base.as_ref().map(|b| b.snapshot.as_path())
        } else {
            None
        },
        full_reason: why,
        checkpoint: qcow2,
    }
}

fn snapshot_error(code: &'static str, msg: String, rec: &str, agent: &AgentState) -> SnapshotError {
    SnapshotError {
        finding: Finding::new(code, msg, rec),
        cancelled: false,
        agent: agent.clone(),
    }
}

/// The pull-backup job of one snapshot and its files.
struct Job<'a> {
    dom: &'a Domain,
    socket: PathBuf,
    scratch: Vec<PathBuf>,
    checkpoint: String,
    started: bool,
}

impl Job<'_> {
    /// Ends the job (libvirt removes the socket and its scratch files).
    fn end(&mut self) {
        if std::mem::take(&mut self.started) {
            if let Err(e) = ffi::abort_job(self.dom) {
                tracing::warn!(error = %e, "could not end the libvirt backup job");
            }
        }
        let _ = std::fs::remove_file(&self.socket);
        for s in &self.scratch {
            let _ = std::fs::remove_file(s);
        }
    }

    /// Undoes a failed snapshot: the job, the checkpoint it started.
    fn undo(&mut self, targets: &[&Path]) {
        self.end();
        for t in targets {
            let _ = std::fs::remove_file(t);
        }
        if let Err(e) = ffi::delete_checkpoint(self.dom, &self.checkpoint, false) {
            tracing::warn!(error = %e, checkpoint = %self.checkpoint, "could not delete the checkpoint of a failed snapshot");
        }
    }
}

impl LibvirtHypervisor {
    fn begin<'a>(
        &self,
        dom: &'a Domain,
        plan: &[Planned<'_>],
        all_targets: &[&str],
        checkpoint: &str,
    ) -> Result<Job<'a>, CallError> {
        let tag: String = checkpoint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let socket = self.work_dir.join(format!("{tag}.sock"));
        let scratch: Vec<PathBuf> = plan
            .iter()
            .map(|p| {
                self.work_dir
                    .join(format!("{tag}.{}.scratch", p.disk.target))
            })
            .collect();
        for f in std::iter::once(&socket).chain(&scratch) {
            let _ = std::fs::remove_file(f);
        }
        let disks: Vec<BackupDisk<'_>> = plan
            .iter()
            .zip(&scratch)
            .map(|(p, s)| BackupDisk {
                target: &p.disk.target,
                incremental: p
                    .base
                    .and(p.req.base.as_ref())
                    .map(|b| b.checkpoint.as_str()),
                scratch: s,
                checkpoint: p.checkpoint,
            })
            .collect();
        let bx = xml::backup_xml(&socket, &disks, all_targets);
        // libvirt wants at least one bitmap in a checkpoint: a domain of
        // raw disks only is backed up without one.
        let cx = disks
            .iter()
            .any(|d| d.checkpoint)
            .then(|| xml::checkpoint_xml(checkpoint, &disks, all_targets));
        ffi::backup_begin(dom, &bx, cx.as_deref())?;
        Ok(Job {
            dom,
            socket,
            scratch,
            checkpoint: checkpoint.to_owned(),
            started: true,
        })
    }

    /// Ends a backup job this hypervisor left behind (a crash mid-copy):
    /// it holds the domain's job lock. Someone else's job is refused.
    fn clear_leftover(&self, dom: &Domain) -> Result<(), String> {
        match ffi::backup_job(dom) {
            Ok(None) => Ok(()),
            Ok(Some(x)) if x.contains(&*self.work_dir.to_string_lossy()) => {
                tracing::warn!("ending a backup job left behind by an earlier rsvault run");
                ffi::abort_job(dom).map_err(|e| e.message)
            }
            Ok(Some(_)) => Err("another backup job (not rsvault's) runs on this domain".into()),
            Err(e) => Err(e.message),
        }
    }

    fn take(
        &self,
        dom: &Domain,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotError> {
        let none = AgentState::NotConfigured;
        let info = domain_xml(dom).map_err(|e| {
            snapshot_error(finding::SNAPSHOT_FAILED, e.to_string(), LIBVIRT_REC, &none)
        })?;
        let mut found = Vec::new();
        for r in &request.disks {
            let Some(d) = find_disk(&info.disks, &r.image) else {
                return Err(snapshot_error(
                    finding::DISK_NOT_ATTACHED,
                    format!(
                        "{} is not a disk of domain {}.",
                        r.image.display(),
                        info.name
                    ),
                    "Refresh the VM's disks (Refresh containers), then run Backup now again.",
                    &none,
                ));
            };
            found.push((r, d));
        }
        if cancel.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SnapshotError {
                finding: Finding::new(finding::SNAPSHOT_FAILED, "cancelled", ""),
                cancelled: true,
                agent: none,
            });
        }
        let fail = |e: String, agent: &AgentState| {
            snapshot_error(finding::SNAPSHOT_FAILED, e, LIBVIRT_REC, agent)
        };
        self.prepare().map_err(|e| fail(e.to_string(), &none))?;
        self.clear_leftover(dom).map_err(|e| fail(e, &none))?;
        let cps = checkpoint_map(dom).map_err(|e| fail(e.to_string(), &none))?;
        let mut plan: Vec<Planned<'_>> = found.iter().map(|(r, d)| plan_disk(r, d, &cps)).collect();
        let new_cp = request
            .disks
            .first()
            .map(|d| d.new_checkpoint.clone())
            .unwrap_or_default();
        let all: Vec<&str> = info.disks.iter().map(|d| d.target.as_str()).collect();

        // Freeze, begin (one instant for every disk, with the new
        // checkpoint), thaw. A checkpoint that libvirt finds broken at
        // begin makes the disks full, and the sequence runs once more.
        let mut guest = freeze(dom, request.settings.freeze_timeout);
        let mut r = self.begin(dom, &plan, &all, &new_cp);
        if let Err(e) = &r {
            if plan.iter().any(|p| p.base.is_some()) && e.message.contains("checkpoint") {
                let why = format!("libvirt refused the checkpoint: {}", e.message);
                let _ = ffi::delete_checkpoint(dom, &new_cp, false);
                for p in &mut plan {
                    if p.base.take().is_some() {
                        p.full_reason = Some(why.clone());
                    }
                }
                let _ = guest.thaw(dom);
                guest = freeze(dom, request.settings.freeze_timeout);
                r = self.begin(dom, &plan, &all, &new_cp);
            }
        }
        let frozen_for = guest.thaw(dom);
        let mut job = match r {
            Ok(j) => j,
            Err(e) => {
                let _ = ffi::delete_checkpoint(dom, &new_cp, false);
                return Err(fail(
                    format!(
                        "libvirt could not start the backup of domain {}: {e}",
                        info.name
                    ),
                    &guest.state,
                ));
            }
        };
        let targets: Vec<&Path> = plan.iter().map(|p| p.req.target.as_path()).collect();
        match self.copy_all(&job, &plan, request.settings.rate_limit, progress, cancel) {
            Ok(()) => job.end(),
            Err(pull::CopyError::Cancelled) => {
                job.undo(&targets);
                return Err(SnapshotError {
                    finding: Finding::new(finding::SNAPSHOT_FAILED, "cancelled", ""),
                    cancelled: true,
                    agent: guest.state,
                });
            }
            Err(pull::CopyError::Failed(e)) => {
                job.undo(&targets);
                return Err(fail(e, &guest.state));
            }
        }
        let mut warnings = guest.warnings;
        let disks = plan
            .iter()
            .map(|p| {
                if let Some(why) = &p.full_reason {
                    if p.req.base.is_some() || !p.checkpoint {
                        warnings.push(Finding::cbt_fallback(&p.req.image, why, "checkpoint"));
                    }
                }
                DiskSnapshot {
                    image: p.req.image.clone(),
                    target: p.req.target.clone(),
                    base: p.base.map(Path::to_owned),
                    checkpoint: new_cp.clone(),
                    full_reason: p.full_reason.clone(),
                }
            })
            .collect();
        Ok(Snapshot {
            // The guest's fsfreeze hook is its pre/post script where the
            // domain's metadata says it quiesces the applications.
            consistency: Consistency::judge(false, info.app_quiesce, true, frozen_for.is_some()),
            warnings,
            agent: guest.state,
            disks,
            frozen_for,
        })
    }

    fn copy_all(
        &self,
        job: &Job<'_>,
        plan: &[Planned<'_>],
        rate: Option<u64>,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<(), pull::CopyError> {
        let mut planned = Vec::new();
        for p in plan {
            let c = pull::Copy {
                export: &p.disk.target,
                target: &p.req.target,
                base: p.base,
            };
            planned.push(pull::plan(&job.socket, &c).map_err(pull::CopyError::Failed)?);
        }
        let total: u64 = planned.iter().map(pull::Planned::bytes).sum();
        let mut done = 0u64;
        progress(0, total);
        for p in planned {
            pull::copy(
                p,
                rate,
                &mut |n| {
                    done += n;
                    progress(done, total);
                },
                cancel,
            )?;
        }
        progress(total, total);
        Ok(())
    }
}

impl Hypervisor for LibvirtHypervisor {
    fn power_state(&self, vm: &VmAddress) -> Result<PowerState, HvError> {
        let (_c, dom) = open(address(vm)?)?;
        let Some(dom) = dom else {
            return Ok(PowerState::Stopped);
        };
        discover::power(&dom)
    }

    fn disks(&self, vm: &VmAddress) -> Result<Vec<AttachedDisk>, HvError> {
        let (_c, dom) = open(address(vm)?)?;
        let dom = dom.ok_or_else(|| HvError::Libvirt("the domain is not defined".into()))?;
        if !dom.is_active().unwrap_or(false) {
            return Err(HvError::Libvirt("the domain is not running".into()));
        }
        let info = domain_xml(&dom)?;
        let cps = checkpoint_map(&dom)?;
        info.disks
            .iter()
            .map(|d| {
                let size = dom
                    .block_info(&d.target, 0)
                    .map_err(|e| hv_err(&format!("reading the size of {}", d.target), e))?
                    .capacity;
                let mut checkpoints: Vec<CheckpointInfo> = cps
                    .iter()
                    .filter(|(_, disks)| disks.contains(&d.target))
                    .map(|(name, _)| CheckpointInfo {
                        name: name.clone(),
                        granularity: GRANULARITY,
                        recording: true,
                        consistent: true,
                    })
                    .collect();
                checkpoints.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(AttachedDisk {
                    image: d.source.clone(),
                    format: d.format.clone(),
                    size,
                    device: d.target.clone(),
                    checkpoints,
                })
            })
            .collect()
    }

    fn snapshot(
        &self,
        vm: &VmAddress,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotFailure> {
        let unreachable = |e: HvError| {
            SnapshotFailure::Unreachable(Finding::new(
                finding::SNAPSHOT_FAILED,
                format!("libvirt does not answer: {e}"),
                LIBVIRT_REC,
            ))
        };
        let a = address(vm).map_err(unreachable)?;
        let (_c, dom) = open(a).map_err(unreachable)?;
        let Some(dom) = dom else {
            return Err(SnapshotFailure::NotRunning(format!(
                "domain {} is not defined on {}",
                a.uuid, a.uri
            )));
        };
        if !dom
            .is_active()
            .map_err(|e| unreachable(hv_err("reading the domain state", e)))?
        {
            return Err(SnapshotFailure::NotRunning(format!(
                "domain {} is shut off",
                a.uuid
            )));
        }
        self.take(&dom, request, progress, cancel)
            .map_err(SnapshotFailure::Snapshot)
    }

    fn retire_checkpoints(
        &self,
        vm: &VmAddress,
        keep: &[DiskCheckpoint],
    ) -> Result<usize, HvError> {
        let (_c, dom) = open(address(vm)?)?;
        let dom = dom.ok_or_else(|| HvError::Libvirt("the domain is not defined".into()))?;
        if !dom.is_active().unwrap_or(false) {
            return Err(HvError::Libvirt(
                "the domain is not running, so its checkpoints cannot be removed".into(),
            ));
        }
        let keep: Vec<&str> = keep.iter().map(|k| k.checkpoint.as_str()).collect();
        let mut removed = 0;
        for (name, disks) in checkpoint_map(&dom)? {
            if !name.starts_with(crate::port::CHECKPOINT_PREFIX) || keep.contains(&name.as_str()) {
                continue;
            }
            // A checkpoint whose bitmap is already gone can only lose its
            // metadata.
            let r = ffi::delete_checkpoint(&dom, &name, false).or_else(|e| {
                if e.message.contains("not found") {
                    ffi::delete_checkpoint(&dom, &name, true)
                } else {
                    Err(e)
                }
            });
            if r.map_err(|e| hv_err(&format!("deleting checkpoint {name}"), e))? {
                removed += disks.len();
            }
        }
        Ok(removed)
    }

    fn discard_checkpoints(
        &self,
        vm: &VmAddress,
        discard: &[DiskCheckpoint],
    ) -> Result<(), HvError> {
        let (_c, dom) = open(address(vm)?)?;
        let dom = dom.ok_or_else(|| HvError::Libvirt("the domain is not defined".into()))?;
        let mut names: Vec<&str> = discard.iter().map(|d| d.checkpoint.as_str()).collect();
        names.dedup();
        for n in names {
            // A checkpoint whose bitmaps are gone (its images were
            // replaced) goes from libvirt's metadata at least: it must
            // never again pass for a record of the guest's writes.
            if let Err(e) = ffi::delete_checkpoint(&dom, n, false) {
                tracing::debug!(error = %e, checkpoint = n, "deleting the metadata only");
                ffi::delete_checkpoint(&dom, n, true)
                    .map_err(|e| hv_err(&format!("deleting checkpoint {n}"), e))?;
            }
        }
        Ok(())
    }
}

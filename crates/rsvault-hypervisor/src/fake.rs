//! An in-process hypervisor for tests: it keeps its own VMs, disks and
//! checkpoints, and can be told to fail in the ways a real one does. Its
//! snapshots are real qcow2 files (made with `qemu-img` and `qemu-io`), so
//! whoever reads them reads them as it reads QEMU's.
//!
//! A VM's disks are image files; [`FakeHypervisor::guest_write`] writes to
//! one as its guest would, and every checkpoint of that disk records the
//! 64 KiB clusters written.

use crate::address::VmAddress;
use crate::error::HvError;
use crate::finding::{self, Finding};
use crate::port::{
    AgentState, AttachedDisk, Base, CHECKPOINT_PREFIX, CheckpointInfo, Consistency, DiskCheckpoint,
    DiskRequest, DiskSnapshot, GRANULARITY, Hypervisor, PowerState, Snapshot, SnapshotError,
    SnapshotFailure, SnapshotRequest,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A way for the fake to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Something answers at the VM's address, but not in time.
    Unresponsive,
    /// The guest agent cannot freeze the file systems.
    FreezeFails,
    /// The freeze does not answer in time.
    FreezeTimesOut,
    /// The hypervisor refuses the snapshot.
    SnapshotRefused,
    /// The VM stops while its snapshot data is copied.
    StopsDuringSnapshot,
}

/// The guest's pre/post scripts, as the fake agent runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeScripts {
    /// No script configuration in the guest.
    None,
    /// Both scripts succeed.
    Succeed,
    /// The pre-script fails.
    PreFails { continue_on_failure: bool },
}

/// The fake guest agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeAgent {
    NotConfigured,
    Unreachable,
    Ready {
        version: String,
        scripts: FakeScripts,
    },
}

#[derive(Debug, Clone)]
struct Checkpoint {
    name: String,
    dirty: BTreeSet<u64>,
    consistent: bool,
}

#[derive(Debug, Clone)]
struct Disk {
    image: PathBuf,
    format: String,
    size: u64,
    checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Clone)]
struct Vm {
    power: PowerState,
    disks: Vec<Disk>,
    agent: FakeAgent,
    faults: HashSet<Fault>,
}

/// One disk of a snapshot: the request, the disk's index, the checkpoint
/// that drives an incremental copy and why the copy is full.
struct FakePlan<'a> {
    disk: &'a DiskRequest,
    index: usize,
    base: Option<Base>,
    full_reason: Option<String>,
}

/// What the guest side of a snapshot reached.
struct Quiesced {
    agent: AgentState,
    warnings: Vec<Finding>,
    crash_forced: bool,
    scripts_ok: bool,
    freeze_wanted: bool,
    frozen: bool,
    freeze_started: Instant,
}

impl Vm {
    /// Each disk, and whether its checkpoint can drive an incremental
    /// snapshot.
    fn plan<'a>(&self, request: &'a SnapshotRequest) -> Result<Vec<FakePlan<'a>>, SnapshotFailure> {
        let mut planned = Vec::new();
        for d in &request.disks {
            let Some(index) = self
                .disks
                .iter()
                .position(|x| same_file(&x.image, &d.image))
            else {
                return Err(fail(
                    finding::DISK_NOT_ATTACHED,
                    format!(
                        "The running VM has no disk with image {}.",
                        d.image.display()
                    ),
                    &AgentState::NotConfigured,
                ));
            };
            let (base, full_reason) = match &d.base {
                None => (
                    None,
                    Some(
                        d.no_base_reason
                            .clone()
                            .unwrap_or_else(|| "first backup of this disk".into()),
                    ),
                ),
                Some(b) => match self.disks[index]
                    .checkpoints
                    .iter()
                    .find(|c| c.name == b.checkpoint)
                {
                    None => (
                        None,
                        Some(format!("checkpoint {} is missing", b.checkpoint)),
                    ),
                    Some(c) if !c.consistent => (
                        None,
                        Some(format!(
                            "checkpoint {} is inconsistent: the VM stopped without saving it",
                            b.checkpoint
                        )),
                    ),
                    Some(_) if !b.snapshot.is_file() => (
                        None,
                        Some("the previous snapshot left the instant-restore tier".into()),
                    ),
                    Some(_) => (Some(b.clone()), None),
                },
            };
            planned.push(FakePlan {
                disk: d,
                index,
                base,
                full_reason,
            });
        }
        Ok(planned)
    }

    /// The agent: scripts and freeze.
    fn quiesce(
        &self,
        request: &SnapshotRequest,
        cancel: &AtomicBool,
    ) -> Result<Quiesced, SnapshotFailure> {
        let has = |f: Fault| self.faults.contains(&f);
        let mut warnings = Vec::new();
        let agent = match &self.agent {
            FakeAgent::NotConfigured => AgentState::NotConfigured,
            FakeAgent::Unreachable => {
                AgentState::Unreachable("fake guest agent (unreachable)".into())
            }
            FakeAgent::Ready { version, .. } => AgentState::Ready {
                version: version.clone(),
            },
        };
        let ready = matches!(agent, AgentState::Ready { .. });
        if !ready {
            warnings.push(Finding::new(
                finding::AGENT_UNAVAILABLE,
                "The guest agent cannot be reached, so the snapshot is crash-consistent.",
                finding::AGENT_RECOMMENDATION,
            ));
        }
        let scripts = match &self.agent {
            FakeAgent::Ready { scripts, .. } => *scripts,
            _ => FakeScripts::None,
        };
        let (mut crash_forced, mut scripts_ok) = (false, false);
        match scripts {
            FakeScripts::None => {}
            FakeScripts::Succeed => scripts_ok = true,
            FakeScripts::PreFails {
                continue_on_failure: true,
            } => {
                warnings.push(Finding::new(
                    finding::PRE_SCRIPT_FAILED,
                    "The pre-script failed; continueBackupOnFailure is set, so the snapshot is crash-consistent.",
                    "Fix the pre-script.",
                ));
                crash_forced = true;
            }
            FakeScripts::PreFails {
                continue_on_failure: false,
            } => {
                return Err(fail(
                    finding::PRE_SCRIPT_FAILED,
                    "The pre-script failed; continueBackupOnFailure is not set, so no snapshot was taken.",
                    &agent,
                ));
            }
        }
        if cancel.load(Ordering::SeqCst) {
            return Err(cancelled(&agent));
        }
        let freeze_wanted = !crash_forced;
        let mut frozen = false;
        let freeze_started = Instant::now();
        if freeze_wanted && ready {
            if has(Fault::FreezeFails) {
                warnings.push(Finding::new(
                    finding::FREEZE_FAILED,
                    "Freezing the guest's file systems failed (injected); the snapshot is crash-consistent.",
                    "Check the guest's mounts and fsfreeze hooks.",
                ));
            } else if has(Fault::FreezeTimesOut) {
                warnings.push(Finding::new(
                    finding::FREEZE_TIMEOUT,
                    format!(
                        "The freeze did not answer within {} s; the snapshot is crash-consistent and the guest is sent a thaw.",
                        request.settings.freeze_timeout.as_secs()
                    ),
                    "Check the guest's fsfreeze hooks and its agent.",
                ));
            } else {
                frozen = true;
            }
        }
        Ok(Quiesced {
            agent,
            warnings,
            crash_forced,
            scripts_ok,
            freeze_wanted,
            frozen,
            freeze_started,
        })
    }

    /// Copies each disk to its snapshot file; on failure none is left.
    fn copy(
        &mut self,
        planned: &[FakePlan<'_>],
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
        agent: &AgentState,
    ) -> Result<(), SnapshotFailure> {
        let total: u64 = planned.iter().map(|p| self.disks[p.index].size).sum();
        let mut done = 0;
        let mut made: Vec<PathBuf> = Vec::new();
        let undo = |made: &[PathBuf]| {
            for f in made {
                let _ = std::fs::remove_file(f);
            }
        };
        for p in planned {
            let disk = &self.disks[p.index];
            let dirty = p.base.as_ref().and_then(|b| {
                disk.checkpoints
                    .iter()
                    .find(|c| c.name == b.checkpoint)
                    .map(|c| (b.snapshot.as_path(), &c.dirty))
            });
            if let Err(e) = copy_out(disk, &p.disk.target, dirty) {
                undo(&made);
                let _ = std::fs::remove_file(&p.disk.target);
                return Err(fail(finding::SNAPSHOT_FAILED, e, agent));
            }
            made.push(p.disk.target.clone());
            done += disk.size;
            if self.faults.contains(&Fault::StopsDuringSnapshot) {
                self.power = PowerState::Stopped;
                undo(&made);
                return Err(fail(
                    finding::SNAPSHOT_FAILED,
                    "The VM stopped while its snapshot was taken.",
                    agent,
                ));
            }
            progress(done, total);
            if cancel.load(Ordering::SeqCst) {
                undo(&made);
                return Err(cancelled(agent));
            }
        }
        Ok(())
    }

    /// Each disk starts its new checkpoint; the older ones go on recording.
    fn start_checkpoints(
        &mut self,
        planned: Vec<FakePlan<'_>>,
        warnings: &mut Vec<Finding>,
    ) -> Vec<DiskSnapshot> {
        let mut disks = Vec::new();
        for p in planned {
            let d = p.disk;
            self.disks[p.index].checkpoints.push(Checkpoint {
                name: d.new_checkpoint.clone(),
                dirty: BTreeSet::new(),
                consistent: true,
            });
            if let Some(r) = &p.full_reason {
                warnings.push(Finding::cbt_fallback(&d.image, r, "checkpoint"));
            }
            disks.push(DiskSnapshot {
                image: d.image.clone(),
                target: d.target.clone(),
                base: p.base.map(|b| b.snapshot),
                checkpoint: d.new_checkpoint.clone(),
                full_reason: p.full_reason,
            });
        }
        disks
    }
}

/// The fake hypervisor. VMs are keyed by their address.
#[derive(Debug, Default)]
pub struct FakeHypervisor {
    vms: Mutex<HashMap<VmAddress, Vm>>,
}

fn refused(vm: &VmAddress) -> HvError {
    let path = match vm {
        VmAddress::Qemu(q) => q.qmp_socket.clone(),
        VmAddress::Libvirt(l) => l.uri.clone().into(),
    };
    HvError::Connect {
        what: "fake hypervisor",
        path,
        source: std::io::ErrorKind::ConnectionRefused.into(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn virtual_size(image: &Path) -> Result<u64, HvError> {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(image)
        .output()
        .map_err(|e| HvError::io("qemu-img info", e))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        HvError::Protocol(format!(
            "qemu-img info {}: {e} ({})",
            image.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })?;
    v["virtual-size"]
        .as_u64()
        .ok_or_else(|| HvError::Protocol(format!("qemu-img info {}: no size", image.display())))
}

fn fail(code: &'static str, msg: impl Into<String>, agent: &AgentState) -> SnapshotFailure {
    SnapshotFailure::Snapshot(SnapshotError {
        finding: Finding::new(
            code,
            msg,
            "Check that the VM is running, then run Backup now again.",
        ),
        cancelled: false,
        agent: agent.clone(),
    })
}

fn cancelled(agent: &AgentState) -> SnapshotFailure {
    SnapshotFailure::Snapshot(SnapshotError {
        finding: Finding::new("Cancelled", "The backup was cancelled.", ""),
        cancelled: true,
        agent: agent.clone(),
    })
}

/// The clusters of `dirty` as (offset, length) runs within `size`.
fn runs(dirty: &BTreeSet<u64>, size: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &c in dirty {
        let off = c * GRANULARITY;
        if off >= size {
            break;
        }
        let len = GRANULARITY.min(size - off);
        match out.last_mut() {
            Some((o, l)) if *o + *l == off => *l += len,
            _ => out.push((off, len)),
        }
    }
    out
}

/// Copies the disk's data into `target`: all of it, or (on `base`) only
/// the clusters in `dirty`.
fn copy_out(
    disk: &Disk,
    target: &Path,
    base: Option<(&Path, &BTreeSet<u64>)>,
) -> Result<(), String> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    let Some((base, dirty)) = base else {
        return run(Command::new("qemu-img")
            .args(["convert", "-U", "-f", &disk.format, "-O", "qcow2"])
            .args(["-o", "cluster_size=65536"])
            .arg(&disk.image)
            .arg(target));
    };
    run(Command::new("qemu-img")
        .args([
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "cluster_size=65536",
            "-F",
            "qcow2",
            "-b",
        ])
        .arg(base)
        .arg(target)
        .arg(disk.size.to_string()))?;
    let runs = runs(dirty, disk.size);
    if runs.is_empty() {
        return Ok(());
    }
    // The guest's view of the disk, as raw bytes to cut the runs from.
    let scratch = tempfile_dir(target)?;
    let r = (|| {
        let raw = scratch.join("disk.raw");
        run(Command::new("qemu-img")
            .args(["convert", "-U", "-f", &disk.format, "-O", "raw"])
            .arg(&disk.image)
            .arg(&raw))?;
        let data = std::fs::read(&raw).map_err(|e| format!("read {}: {e}", raw.display()))?;
        let mut io = Command::new("qemu-io");
        io.args(["-f", "qcow2"]).arg(target);
        for (i, (off, len)) in runs.iter().enumerate() {
            let piece = scratch.join(format!("run{i}"));
            let (o, l) = (*off as usize, *len as usize);
            std::fs::write(&piece, &data[o..o + l])
                .map_err(|e| format!("write {}: {e}", piece.display()))?;
            io.arg("-c")
                .arg(format!("write -q -s {} {off} {len}", piece.display()));
        }
        run(&mut io)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    r
}

fn tempfile_dir(target: &Path) -> Result<PathBuf, String> {
    let d = target.with_extension("fake-scratch");
    std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
    Ok(d)
}

impl FakeHypervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a VM at `vm` with these disks (image, format), running, with
    /// no guest agent.
    pub fn add_vm(&self, vm: VmAddress, disks: &[(PathBuf, &str)]) -> Result<(), HvError> {
        let mut d = Vec::new();
        for (image, format) in disks {
            d.push(Disk {
                image: std::fs::canonicalize(image)
                    .map_err(|e| HvError::io(image.display().to_string(), e))?,
                format: (*format).to_owned(),
                size: virtual_size(image)?,
                checkpoints: Vec::new(),
            });
        }
        self.vms.lock().expect("lock").insert(
            vm,
            Vm {
                power: PowerState::Running,
                disks: d,
                agent: FakeAgent::NotConfigured,
                faults: HashSet::new(),
            },
        );
        Ok(())
    }

    fn with_vm<T>(&self, vm: &VmAddress, f: impl FnOnce(&mut Vm) -> T) -> T {
        let mut vms = self.vms.lock().expect("lock");
        let v = vms
            .get_mut(vm)
            .unwrap_or_else(|| panic!("the fake hypervisor has no VM at {vm:?}"));
        f(v)
    }

    /// Sets the VM's guest agent.
    pub fn set_agent(&self, vm: &VmAddress, agent: FakeAgent) {
        self.with_vm(vm, |v| v.agent = agent);
    }

    /// Powers the VM on or off.
    pub fn set_power(&self, vm: &VmAddress, power: PowerState) {
        self.with_vm(vm, |v| v.power = power);
    }

    /// Makes the VM fail so from now on.
    pub fn inject(&self, vm: &VmAddress, fault: Fault) {
        self.with_vm(vm, |v| v.faults.insert(fault));
    }

    /// Takes every fault away.
    pub fn clear_faults(&self, vm: &VmAddress) {
        self.with_vm(vm, |v| v.faults.clear());
    }

    /// A hard stop, as `kill -9` of QEMU: the VM is off, and its
    /// checkpoints can no longer be vouched for.
    pub fn crash(&self, vm: &VmAddress) {
        self.with_vm(vm, |v| {
            v.power = PowerState::Stopped;
            for d in &mut v.disks {
                for c in &mut d.checkpoints {
                    c.consistent = false;
                }
            }
        });
    }

    /// The names of a disk's checkpoints, oldest first.
    pub fn checkpoints(&self, vm: &VmAddress, disk: usize) -> Vec<String> {
        self.with_vm(vm, |v| {
            v.disks[disk]
                .checkpoints
                .iter()
                .map(|c| c.name.clone())
                .collect()
        })
    }

    /// A guest write of `len` bytes of `pattern` at `offset` on disk
    /// number `disk`.
    pub fn guest_write(
        &self,
        vm: &VmAddress,
        disk: usize,
        offset: u64,
        len: u64,
        pattern: u8,
    ) -> Result<(), HvError> {
        self.with_vm(vm, |v| {
            let d = &mut v.disks[disk];
            if d.format == "raw" {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&d.image)
                    .map_err(|e| HvError::io(d.image.display().to_string(), e))?;
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.write_all(&vec![pattern; len as usize]))
                    .map_err(|e| HvError::io(d.image.display().to_string(), e))?;
            } else {
                run(Command::new("qemu-io")
                    .args(["-f", &d.format])
                    .arg(&d.image)
                    .arg("-c")
                    .arg(format!("write -q -P {pattern} {offset} {len}")))
                .map_err(HvError::Protocol)?;
            }
            if len > 0 {
                for c in &mut d.checkpoints {
                    c.dirty
                        .extend(offset / GRANULARITY..=(offset + len - 1) / GRANULARITY);
                }
            }
            Ok(())
        })
    }

    fn running(&self, vm: &VmAddress) -> Result<(), HvError> {
        let vms = self.vms.lock().expect("lock");
        match vms.get(vm) {
            Some(v) if v.faults.contains(&Fault::Unresponsive) => Err(HvError::Timeout(
                "fake hypervisor (injected unresponsive)".into(),
            )),
            Some(v) if v.power != PowerState::Stopped => Ok(()),
            _ => Err(refused(vm)),
        }
    }
}

impl Hypervisor for FakeHypervisor {
    fn power_state(&self, vm: &VmAddress) -> Result<PowerState, HvError> {
        match self.running(vm) {
            Ok(()) => Ok(self.with_vm(vm, |v| v.power)),
            Err(HvError::Connect { .. }) => Ok(PowerState::Stopped),
            Err(e) => Err(e),
        }
    }

    fn disks(&self, vm: &VmAddress) -> Result<Vec<AttachedDisk>, HvError> {
        self.running(vm)?;
        Ok(self.with_vm(vm, |v| {
            v.disks
                .iter()
                .enumerate()
                .map(|(i, d)| AttachedDisk {
                    image: d.image.clone(),
                    format: d.format.clone(),
                    size: d.size,
                    device: format!("fake{i}"),
                    checkpoints: d
                        .checkpoints
                        .iter()
                        .map(|c| CheckpointInfo {
                            name: c.name.clone(),
                            granularity: GRANULARITY,
                            recording: true,
                            consistent: c.consistent,
                        })
                        .collect(),
                })
                .collect()
        }))
    }

    fn snapshot(
        &self,
        vm: &VmAddress,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotFailure> {
        match self.running(vm) {
            Ok(()) => {}
            Err(e @ HvError::Connect { .. }) => {
                return Err(SnapshotFailure::NotRunning(e.to_string()));
            }
            Err(e) => {
                return Err(SnapshotFailure::Unreachable(Finding::new(
                    finding::SNAPSHOT_FAILED,
                    format!("The VM's hypervisor does not answer: {e}"),
                    "Check the hypervisor, then run Backup now again.",
                )));
            }
        }
        let mut vms = self.vms.lock().expect("lock");
        let v = vms
            .get_mut(vm)
            .ok_or_else(|| SnapshotFailure::NotRunning("the VM went away".into()))?;
        let planned = v.plan(request)?;
        let mut q = v.quiesce(request, cancel)?;
        // The point in time.
        if v.faults.contains(&Fault::SnapshotRefused) {
            return Err(fail(
                finding::SNAPSHOT_FAILED,
                "The hypervisor refused the snapshot (injected).",
                &q.agent,
            ));
        }
        let frozen_for = q
            .frozen
            .then(|| q.freeze_started.elapsed().max(Duration::from_millis(1)));
        let consistency =
            Consistency::judge(q.crash_forced, q.scripts_ok, q.freeze_wanted, q.frozen);
        v.copy(&planned, progress, cancel, &q.agent)?;
        let disks = v.start_checkpoints(planned, &mut q.warnings);
        Ok(Snapshot {
            consistency,
            warnings: q.warnings,
            agent: q.agent,
            disks,
            frozen_for,
        })
    }

    fn retire_checkpoints(
        &self,
        vm: &VmAddress,
        keep: &[DiskCheckpoint],
    ) -> Result<usize, HvError> {
        self.running(vm)?;
        Ok(self.with_vm(vm, |v| {
            let mut n = 0;
            for k in keep {
                if let Some(d) = v.disks.iter_mut().find(|d| same_file(&d.image, &k.image)) {
                    let before = d.checkpoints.len();
                    d.checkpoints.retain(|c| {
                        !c.name.starts_with(CHECKPOINT_PREFIX) || c.name == k.checkpoint
                    });
                    n += before - d.checkpoints.len();
                }
            }
            n
        }))
    }

    fn discard_checkpoints(
        &self,
        vm: &VmAddress,
        discard: &[DiskCheckpoint],
    ) -> Result<(), HvError> {
        self.running(vm)?;
        self.with_vm(vm, |v| {
            for k in discard {
                if let Some(d) = v.disks.iter_mut().find(|d| same_file(&d.image, &k.image)) {
                    d.checkpoints.retain(|c| c.name != k.checkpoint);
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_clusters_coalesce_into_runs_within_the_disk() {
        let d: BTreeSet<u64> = [0, 1, 3, 10].into_iter().collect();
        assert_eq!(
            runs(&d, 10 * GRANULARITY + 100),
            vec![
                (0, 2 * GRANULARITY),
                (3 * GRANULARITY, GRANULARITY),
                (10 * GRANULARITY, 100)
            ]
        );
        assert_eq!(runs(&d, 2 * GRANULARITY), vec![(0, 2 * GRANULARITY)]);
    }
}

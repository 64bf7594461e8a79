//! The hypervisor port: what the vault service asks of the thing that runs
//! its VMs, in words that fit QEMU's QMP ([`crate::QemuHypervisor`]), an
//! in-process fake ([`crate::FakeHypervisor`]) and libvirt's backup API
//! alike.
//!
//! - A VM is reached at a [`VmAddress`], read from the VM resource.
//! - A snapshot is consistent (application, file system or crash) and
//!   leaves one point-in-time qcow2 file per disk. An incremental one is an
//!   overlay on the previous snapshot whose own clusters are what the guest
//!   wrote since that snapshot's **checkpoint**.
//! - Change tracking is a named checkpoint per disk. The snapshot starts a
//!   new one; the older ones are retired once the new point is committed,
//!   or the new one is discarded when the transfer failed.

use crate::error::HvError;
use crate::finding::Finding;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use crate::address::{AddressError, LibvirtAddress, QemuAddress, VmAddress};

/// The checkpoints rsvault owns are named with this prefix.
pub const CHECKPOINT_PREFIX: &str = "rsvault-";
/// Change-tracking granularity: 64 KiB, the engine's chunk size.
pub const GRANULARITY: u64 = 64 << 10;

/// The checkpoint a backup job starts.
pub fn checkpoint_name(job: &str) -> String {
    format!("{CHECKPOINT_PREFIX}{job}")
}

/// A VM's power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Running,
    /// Paused, but its hypervisor answers: it is snapshotted live.
    Paused,
    /// Nothing runs at the VM's address.
    Stopped,
}

/// A disk attached to a running VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedDisk {
    /// The image file, as the hypervisor names it.
    pub image: PathBuf,
    /// `qcow2`, `raw`, ...
    pub format: String,
    pub size: u64,
    /// The hypervisor's own name of the disk (a QEMU block node, a libvirt
    /// target such as `vda`).
    pub device: String,
    pub checkpoints: Vec<CheckpointInfo>,
}

/// A change-tracking checkpoint of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub name: String,
    pub granularity: u64,
    /// It records the guest's writes.
    pub recording: bool,
    /// False when the hypervisor cannot vouch for it (it stopped without
    /// saving it, so it may miss writes).
    pub consistent: bool,
}

/// A disk's checkpoint, for retiring and discarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCheckpoint {
    pub image: PathBuf,
    pub checkpoint: String,
}

/// One disk to snapshot.
#[derive(Debug, Clone)]
pub struct DiskRequest {
    /// The VM's image file.
    pub image: PathBuf,
    /// The snapshot file to create (qcow2).
    pub target: PathBuf,
    /// The previous point's checkpoint and snapshot, if there is one.
    pub base: Option<Base>,
    /// The checkpoint to start at this snapshot.
    pub new_checkpoint: String,
    /// Why there is no base, when there is none (reported to the user).
    pub no_base_reason: Option<String>,
}

/// What an incremental snapshot builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The checkpoint started at the previous recovery point.
    pub checkpoint: String,
    /// The previous point's snapshot file (still in the instant tier).
    pub snapshot: PathBuf,
}

/// Limits and knobs of a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotSettings {
    /// Time limit of a guest-agent command (other than freeze and scripts).
    pub agent_timeout: Duration,
    /// Longest wait for the guest's file systems to freeze.
    pub freeze_timeout: Duration,
    /// How long a hung agent is given to take a late thaw.
    pub thaw_grace: Duration,
    /// Snapshot copy rate limit in bytes per second.
    pub rate_limit: Option<u64>,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        SnapshotSettings {
            agent_timeout: Duration::from_secs(10),
            freeze_timeout: Duration::from_secs(60),
            thaw_grace: Duration::from_secs(600),
            rate_limit: None,
        }
    }
}

/// The consistency of a snapshot, Azure's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Scripts ran and the file systems were frozen.
    Application,
    /// The file systems were frozen.
    FileSystem,
    /// Neither: as after a power cut.
    Crash,
}

impl Consistency {
    pub fn azure_name(self) -> &'static str {
        match self {
            Consistency::Application => "AppConsistent",
            Consistency::FileSystem => "FileSystemConsistent",
            Consistency::Crash => "CrashConsistent",
        }
    }

    /// The consistency a snapshot earned: application-consistent when the
    /// pre-script succeeded and the file systems were frozen (or freezing
    /// is turned off in the script configuration), file-system-consistent
    /// when they were frozen only, else crash-consistent.
    pub fn judge(crash_forced: bool, scripts_ok: bool, freeze_wanted: bool, frozen: bool) -> Self {
        match (crash_forced, scripts_ok, freeze_wanted, frozen) {
            (true, ..) => Consistency::Crash,
            (false, true, true, true) | (false, true, false, _) => Consistency::Application,
            (false, false, _, true) => Consistency::FileSystem,
            _ => Consistency::Crash,
        }
    }
}

/// The guest agent as a snapshot found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    NotConfigured,
    Unreachable(String),
    Ready { version: String },
}

/// One disk's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSnapshot {
    pub image: PathBuf,
    /// The snapshot file: a full point-in-time image through its backing
    /// chain.
    pub target: PathBuf,
    /// The previous snapshot it is an overlay on (incremental).
    pub base: Option<PathBuf>,
    /// The checkpoint started at this snapshot.
    pub checkpoint: String,
    /// Why change tracking was not used, if it was not.
    pub full_reason: Option<String>,
}

impl DiskSnapshot {
    pub fn incremental(&self) -> bool {
        self.base.is_some()
    }
}

/// A taken snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub consistency: Consistency,
    pub warnings: Vec<Finding>,
    pub agent: AgentState,
    pub disks: Vec<DiskSnapshot>,
    /// How long the guest's file systems were frozen.
    pub frozen_for: Option<Duration>,
}

/// Why the Take Snapshot task failed.
#[derive(Debug, Clone)]
pub struct SnapshotError {
    pub finding: Finding,
    pub cancelled: bool,
    /// The agent as found (for health reporting).
    pub agent: AgentState,
}

/// Why [`Hypervisor::snapshot`] gave no snapshot.
#[derive(Debug, Clone)]
pub enum SnapshotFailure {
    /// Nothing runs at the VM's address: the VM is off, and its images can
    /// be read in place.
    NotRunning(String),
    /// Something is there but does not answer (another client holds it):
    /// nothing was touched, the agent was not asked.
    Unreachable(Finding),
    /// The task itself failed (or was cancelled); what it set up is undone.
    Snapshot(SnapshotError),
}

/// What a snapshot is asked for.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    pub disks: Vec<DiskRequest>,
    pub settings: SnapshotSettings,
}

/// The hypervisor port. Methods block; each call stands alone (no
/// connection is kept between calls, so that the hypervisor stays free for
/// others while the data moves).
pub trait Hypervisor: Send + Sync + std::fmt::Debug {
    /// The VM's power state. `Err` when it cannot be told (the hypervisor
    /// is busy): the caller keeps what it knew.
    fn power_state(&self, vm: &VmAddress) -> Result<PowerState, HvError>;

    /// The disks attached to the running VM, with their checkpoints.
    fn disks(&self, vm: &VmAddress) -> Result<Vec<AttachedDisk>, HvError>;

    /// Takes a consistent snapshot of the requested disks: the guest's
    /// pre-script, freeze, one point in time for every disk with a new
    /// checkpoint each, thaw (on every path), post-script; then the
    /// point-in-time data is copied into each disk's `target`. `progress`
    /// is told (done, total) bytes of that copy; `cancel` stops it.
    fn snapshot(
        &self,
        vm: &VmAddress,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotFailure>;

    /// After a committed point: on each disk, removes every rsvault
    /// checkpoint but the one named. Returns how many were removed.
    fn retire_checkpoints(&self, vm: &VmAddress, keep: &[DiskCheckpoint])
    -> Result<usize, HvError>;

    /// After a failed transfer: removes the checkpoints the snapshot
    /// started (the previous ones still cover every write since the last
    /// committed point).
    fn discard_checkpoints(
        &self,
        vm: &VmAddress,
        discard: &[DiskCheckpoint],
    ) -> Result<(), HvError>;
}

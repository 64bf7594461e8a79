//! The port over a bare QEMU process: its QMP monitor and its guest agent.
//! This is what the service uses in production.

use crate::address::{QemuAddress, VmAddress};
use crate::error::HvError;
use crate::finding::{self, Finding};
use crate::port::{
    AttachedDisk, CheckpointInfo, DiskCheckpoint, Hypervisor, PowerState, Snapshot,
    SnapshotFailure, SnapshotRequest,
};
use crate::qmp::{self, Qmp};
use crate::snapshot::{self, AgentLink};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// QEMU reached at its QMP socket (and guest-agent socket). QEMU serves one
/// client per QMP socket, so every call connects and lets go.
#[derive(Debug, Clone)]
pub struct QemuHypervisor {
    /// Time limit of connecting and of each QMP command (snapshots,
    /// checkpoints).
    pub command_timeout: Duration,
    /// Time limit of a power-state query: a monitor that a backup holds
    /// does not answer, and the caller keeps what it knew.
    pub power_timeout: Duration,
}

impl Default for QemuHypervisor {
    fn default() -> Self {
        QemuHypervisor {
            command_timeout: Duration::from_secs(10),
            power_timeout: Duration::from_millis(800),
        }
    }
}

fn qemu(vm: &VmAddress) -> Result<&QemuAddress, HvError> {
    match vm {
        VmAddress::Qemu(q) => Ok(q),
        other => Err(HvError::Protocol(format!(
            "{other:?} is not a QEMU process's address"
        ))),
    }
}

impl QemuHypervisor {
    fn monitor(&self, vm: &VmAddress, timeout: Duration) -> Result<Qmp, HvError> {
        Qmp::connect(&qemu(vm)?.qmp_socket, timeout)
    }
}

impl Hypervisor for QemuHypervisor {
    fn power_state(&self, vm: &VmAddress) -> Result<PowerState, HvError> {
        let mut q = match self.monitor(vm, self.power_timeout) {
            Ok(q) => q,
            // The socket refuses: no QEMU runs there.
            Err(HvError::Connect { .. }) => return Ok(PowerState::Stopped),
            Err(e) => return Err(e),
        };
        Ok(match qmp::run_state(&mut q)?.as_str() {
            "shutdown" | "guest-panicked" => PowerState::Stopped,
            "paused" | "suspended" => PowerState::Paused,
            _ => PowerState::Running,
        })
    }

    fn disks(&self, vm: &VmAddress) -> Result<Vec<AttachedDisk>, HvError> {
        let mut q = self.monitor(vm, self.command_timeout)?;
        Ok(qmp::block_nodes(&mut q)?
            .into_iter()
            .map(|n| AttachedDisk {
                image: n.file,
                format: n.driver,
                size: n.virtual_size,
                device: n.node,
                checkpoints: n
                    .bitmaps
                    .into_iter()
                    .map(|b| CheckpointInfo {
                        name: b.name,
                        granularity: b.granularity,
                        recording: b.recording && !b.busy,
                        consistent: !b.inconsistent,
                    })
                    .collect(),
            })
            .collect())
    }

    fn snapshot(
        &self,
        vm: &VmAddress,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotFailure> {
        let a = qemu(vm).map_err(|e| {
            SnapshotFailure::Unreachable(Finding::new(
                finding::SNAPSHOT_FAILED,
                e.to_string(),
                "Check the VM's properties.qemu, then run Backup now again.",
            ))
        })?;
        let mut q = match self.monitor(vm, self.command_timeout) {
            Ok(q) => q,
            Err(e @ HvError::Connect { .. }) => {
                return Err(SnapshotFailure::NotRunning(e.to_string()));
            }
            Err(e) => {
                return Err(SnapshotFailure::Unreachable(Finding::new(
                    finding::SNAPSHOT_FAILED,
                    format!(
                        "The VM's QMP socket {} does not answer: {e}",
                        a.qmp_socket.display()
                    ),
                    "Check that no other client holds the QMP socket, then run Backup now again.",
                )));
            }
        };
        let agent = AgentLink::connect(a.agent_socket.as_deref(), request.settings.agent_timeout);
        snapshot::take(
            &mut q,
            agent,
            &request.disks,
            &request.settings,
            progress,
            cancel,
        )
        .map_err(SnapshotFailure::Snapshot)
    }

    fn retire_checkpoints(
        &self,
        vm: &VmAddress,
        keep: &[DiskCheckpoint],
    ) -> Result<usize, HvError> {
        let mut q = self.monitor(vm, self.command_timeout)?;
        crate::bitmaps::retire(&mut q, keep)
    }

    fn discard_checkpoints(
        &self,
        vm: &VmAddress,
        discard: &[DiskCheckpoint],
    ) -> Result<(), HvError> {
        let mut q = self.monitor(vm, self.command_timeout)?;
        crate::bitmaps::discard(&mut q, discard)
    }
}

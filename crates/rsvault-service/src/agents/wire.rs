//! The agent protocol: what an agent and the vault server say to each other
//! (JSON, camelCase) under `/rsvault/agent/`, after the agent logged in as
//! its service principal. The agent polls; the server never calls it.
//!
//! - `POST enroll` (the one call without a token: the enrolment token is
//!   the credential) → [`Enrollment`];
//! - `POST hosts/{id}/heartbeat` [`Heartbeat`] → [`HeartbeatReply`], with
//!   the tasks waiting for the host;
//! - `POST tasks/{id}/progress` [`TaskProgress`] → [`ProgressReply`];
//! - `POST tasks/{id}/result` [`TaskResult`] → [`ResultReply`];
//! - `GET|PUT|DELETE tasks/{id}/store/objects/{key}`, `GET
//!   tasks/{id}/store/list?prefix=`, `GET tasks/{id}/store/info`: the
//!   vault store of the task's job, while the task runs.

use rsvault_arm::error::JobErrorInfo;
use rsvault_hypervisor::{HostDisk, HostVm, PowerState, VmAddress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `POST /rsvault/agent/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollRequest {
    pub token: String,
    /// The host's name; the machine's name in the vault.
    pub host_name: String,
    pub agent_version: String,
}

/// What enrolment gives the agent: its identity and where it belongs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub host_id: String,
    /// The machine's ARM id.
    pub machine_id: String,
    pub subscription: String,
    pub resource_group: String,
    pub location: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// One disk of a reported VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedDisk {
    pub device: String,
    pub path: PathBuf,
    pub format: String,
    #[serde(default)]
    pub block: bool,
    #[serde(default)]
    pub backing: Vec<PathBuf>,
}

/// One VM of the host, as the agent's hypervisor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedVm {
    pub name: String,
    pub uuid: String,
    /// `running`, `paused` or `stopped`.
    pub power: String,
    #[serde(default)]
    pub os_type: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<ReportedDisk>,
    /// libvirt's inactive domain XML.
    #[serde(default)]
    pub config: String,
}

impl ReportedVm {
    /// What the agent reports of a VM its hypervisor lists.
    pub fn of(vm: &HostVm) -> Self {
        ReportedVm {
            name: vm.name.clone(),
            uuid: vm.uuid.clone(),
            power: match vm.power {
                PowerState::Running => "running",
                PowerState::Paused => "paused",
                PowerState::Stopped => "stopped",
            }
            .into(),
            os_type: vm.os_type.clone(),
            vcpus: vm.vcpus,
            memory_mib: vm.memory_mib,
            disks: vm
                .disks
                .iter()
                .map(|d| ReportedDisk {
                    device: d.device.clone(),
                    path: d.path.clone(),
                    format: d.format.clone(),
                    block: d.block,
                    backing: d.backing.clone(),
                })
                .collect(),
            config: vm.config.clone(),
        }
    }

    /// The VM as the server keeps it, reached at `uri` (the agent's host):
    /// the address is the server's, never the agent's word.
    pub fn to_host_vm(&self, uri: &str) -> HostVm {
        HostVm {
            address: VmAddress::libvirt(uri, self.uuid.clone()),
            name: self.name.clone(),
            uuid: self.uuid.clone(),
            power: match self.power.as_str() {
                "running" => PowerState::Running,
                "paused" => PowerState::Paused,
                _ => PowerState::Stopped,
            },
            os_type: self.os_type.clone(),
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disks: self
                .disks
                .iter()
                .map(|d| HostDisk {
                    device: d.device.clone(),
                    path: d.path.clone(),
                    format: d.format.clone(),
                    block: d.block,
                    backing: d.backing.clone(),
                })
                .collect(),
            config: self.config.clone(),
        }
    }
}

/// `POST /rsvault/agent/hosts/{id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub agent_version: String,
    /// The host's VMs; `None` when its hypervisor did not answer.
    #[serde(default)]
    pub vms: Option<Vec<ReportedVm>>,
    /// Why the hypervisor did not answer.
    #[serde(default)]
    pub error: Option<String>,
}

/// The server's answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatReply {
    /// How long to wait before the next heartbeat.
    pub interval_seconds: u64,
    pub tasks: Vec<AgentTask>,
}

/// Work for an agent: a backup or a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTask {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreTask>,
}

/// Replace a stopped VM's disks, in place, with a recovery point's; or,
/// with `new_domain`, define a new domain on the point's disks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreTask {
    pub job: String,
    /// The VM (its libvirt domain UUID); the agent finds its disks itself.
    pub vm_uuid: String,
    /// The name of a new domain to define, left shut off, from the
    /// definition saved with the point (an `AlternateLocation` restore);
    /// its images go beside the source's OS disk on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_domain: Option<String>,
    /// The point's disks to restore (JSON, as the catalogue keeps them).
    pub disks: serde_json::Value,
    /// The checkpoints the item's points started (JSON list of image and
    /// checkpoint): they no longer describe the replaced disks.
    #[serde(default)]
    pub checkpoints: serde_json::Value,
}

/// Back up one of the host's VMs into the task's store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupTask {
    pub job: String,
    /// The protected item's data id: the store's disk names start with it.
    pub data_id: String,
    /// The VM (its libvirt domain UUID); the agent finds its disks itself.
    pub vm_uuid: String,
    /// The item's newest point's disks (JSON, as the catalogue keeps them),
    /// for changed-block tracking.
    #[serde(default)]
    pub previous: Option<serde_json::Value>,
    pub freeze_timeout_ms: u64,
    pub agent_timeout_ms: u64,
    #[serde(default)]
    pub rate_limit: Option<u64>,
}

/// `POST /rsvault/agent/tasks/{id}/progress`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskProgress {
    /// 0–1000.
    pub permille: u64,
    /// The snapshot is taken; the transfer runs.
    #[serde(default)]
    pub snapshot_taken: bool,
}

/// The server's answer to progress: whether the job was cancelled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressReply {
    pub cancel: bool,
}

/// The guest agent as the snapshot found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestAgent {
    /// `Ready`, `Unreachable` or `NotConfigured`.
    pub state: String,
    #[serde(default)]
    pub detail: Option<String>,
}

impl GuestAgent {
    pub fn of(a: &rsvault_hypervisor::AgentState) -> Self {
        use rsvault_hypervisor::AgentState as A;
        let (state, detail) = match a {
            A::NotConfigured => ("NotConfigured", None),
            A::Unreachable(why) => ("Unreachable", Some(why.clone())),
            A::Ready { version } => ("Ready", Some(version.clone())),
        };
        GuestAgent {
            state: state.into(),
            detail,
        }
    }

    pub fn to_state(&self) -> rsvault_hypervisor::AgentState {
        use rsvault_hypervisor::AgentState as A;
        let detail = self.detail.clone().unwrap_or_default();
        match self.state.as_str() {
            "Ready" => A::Ready { version: detail },
            "Unreachable" => A::Unreachable(detail),
            _ => A::NotConfigured,
        }
    }
}

/// A finished backup on the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupDone {
    /// `AppConsistent`, `FileSystemConsistent` or `CrashConsistent`.
    pub consistency: String,
    /// Whether a running VM was snapshotted (else its images were read in
    /// place, the VM off).
    pub live: bool,
    /// The point's disks (JSON, as the catalogue keeps them), with the
    /// host's own paths.
    pub disks: serde_json::Value,
    #[serde(default)]
    pub warnings: Vec<JobErrorInfo>,
    #[serde(default)]
    pub bag: BTreeMap<String, String>,
    #[serde(default)]
    pub guest_agent: Option<GuestAgent>,
    /// Bytes the backup added to the store.
    #[serde(default)]
    pub stored_bytes: u64,
}

/// `POST /rsvault/agent/tasks/{id}/result`: done, or why not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    #[serde(default)]
    pub done: Option<BackupDone>,
    /// A restore's disks: label (`OS disk`, `Data disk (LUN n)`) and the
    /// image written.
    #[serde(default)]
    pub restored: Option<BTreeMap<String, String>>,
    /// The domain a restore defined (with `new_domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined: Option<ReportedVm>,
    #[serde(default)]
    pub error: Option<JobErrorInfo>,
    #[serde(default)]
    pub cancelled: bool,
}

/// Whether the server recorded the point: only then does the agent keep
/// the checkpoints it made (else it drops them, and the previous ones still
/// cover every write); or the domain a restore defined (else it undefines
/// it and removes its images).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultReply {
    pub recorded: bool,
}

/// `GET tasks/{id}/store/info`: what the store offers its writers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreInfo {
    pub location: String,
    /// The store's master key (hex): the agent encrypts what it writes.
    pub key: String,
    pub conditional_puts: bool,
    pub parallel_writes: usize,
}

/// One object of a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreObject {
    pub key: String,
    pub size: u64,
    /// Milliseconds since 1970.
    pub modified_ms: u64,
}

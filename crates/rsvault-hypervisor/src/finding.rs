//! Findings: what a job reports to the user, in Azure's shape (an error
//! code, a message and a recommended action).

use serde::Serialize;

/// One warning or error of a backup, with the action that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub message: String,
    pub recommendation: String,
}

impl Finding {
    pub fn new(code: &'static str, message: impl Into<String>, rec: impl Into<String>) -> Self {
        Finding {
            code,
            message: message.into(),
            recommendation: rec.into(),
        }
    }

    /// A disk read whole because changed-block tracking could not serve
    /// it (`why`); `next` is what the next backup uses instead.
    pub fn cbt_fallback(image: &std::path::Path, why: &str, next: &str) -> Self {
        Finding::new(
            CBT_FALLBACK,
            format!(
                "{}: the whole disk is read and compared by hash: {why}.",
                image.display()
            ),
            format!("None needed; the next backup uses the new {next}."),
        )
    }
}

/// The guest agent could not be reached.
pub const AGENT_UNAVAILABLE: &str = "UserErrorGuestAgentStatusUnavailable";
/// guest-fsfreeze-freeze failed.
pub const FREEZE_FAILED: &str = "UserErrorFsFreezeFailed";
/// guest-fsfreeze-freeze did not answer in time.
pub const FREEZE_TIMEOUT: &str = "UserErrorFsFreezeTimeout";
/// guest-fsfreeze-thaw failed or did not answer in time.
pub const THAW_FAILED: &str = "UserErrorFsThawFailed";
/// The pre-script failed, timed out or was not found.
pub const PRE_SCRIPT_FAILED: &str = "UserErrorPreScriptFailed";
/// The post-script failed, timed out or was not found.
pub const POST_SCRIPT_FAILED: &str = "UserErrorPostScriptFailed";
/// VMSnapshotScriptPluginConfig.json could not be used.
pub const SCRIPT_CONFIG_INVALID: &str = "UserErrorScriptConfigInvalid";
/// QEMU failed to take the snapshot, or the VM stopped while it did.
pub const SNAPSHOT_FAILED: &str = "UserErrorVmSnapshotFailed";
/// A disk of the VM is not attached to the running QEMU.
pub const DISK_NOT_ATTACHED: &str = "UserErrorVmDiskNotAttached";
/// A VM's image is open for writing by a hypervisor rsvault was not told of.
pub const DISK_IN_USE: &str = "UserErrorVmDiskInUse";
/// The recommended action for [`DISK_IN_USE`].
pub const DISK_IN_USE_RECOMMENDATION: &str = "Name the VM's QMP socket (properties.qemu.qmpSocket) so rsvault snapshots it live, or stop the VM.";
/// Changed-block tracking could not be used for a disk (informational).
pub const CBT_FALLBACK: &str = "ChangedBlockTrackingFallback";

/// The recommended action when the agent cannot be reached.
pub const AGENT_RECOMMENDATION: &str = "Install and start qemu-ga in the guest, attach its virtio-serial port org.qemu.guest_agent.0 to a host socket, and name that socket as the VM's properties.qemu.guestAgentSocket.";

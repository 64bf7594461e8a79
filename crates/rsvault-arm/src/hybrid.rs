//! Hypervisor hosts that run the rsvault agent, as Azure Arc shows servers
//! (`Microsoft.HybridCompute/machines`), and the one-time tokens that enrol
//! them (an rsvault action: `…/providers/Microsoft.HybridCompute/
//! enrollmentTokens`).

use crate::error::ErrorDetail;
use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A host.
pub type MachineResource = Resource<MachineProperties>;

/// `properties` of a host, as Azure Arc names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// `Connected`, `Disconnected` or `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The agent's last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The host's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<Vec<ErrorDetail>>,
    /// rsvault: the VMs the host reported at its last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_properties: Option<DetectedProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What the agent found on its host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectedProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_count: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `POST …/enrollmentTokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentTokenRequest {
    /// The region the host's VMs appear in (required).
    #[serde(default)]
    pub location: String,
    /// How long the token may be used (1 to 1440 minutes; 60 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_minutes: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A one-time enrolment token, shown once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentToken {
    /// What `rsvault agent --enroll` takes: the secret and the SHA-256 of
    /// the server's certificate, which the agent pins.
    pub token: String,
    pub expires_on: String,
    pub resource_group: String,
    pub location: String,
    /// Hex SHA-256 of the server's TLS certificate (DER).
    pub server_certificate_sha256: String,
    #[serde(flatten)]
    pub extra: Extra,
}

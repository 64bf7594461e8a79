//! The status of a long-running operation: the body behind an
//! `Azure-AsyncOperation` URL (`operationsStatus/{op}`, `backupOperations/{op}`).

use crate::error::ErrorDetail;
use crate::resource::Extra;
use serde::{Deserialize, Serialize};

crate::arm_enum! {
    /// The state of an operation.
    pub enum OperationState { Invalid, InProgress, Succeeded, Failed, Canceled }
}

impl OperationState {
    /// Whether the operation has ended.
    pub fn is_done(&self) -> bool {
        !matches!(self, OperationState::InProgress)
    }
}

/// An operation's status. `endTime` is written even when null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OperationState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// Why the operation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<OperationStatusInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl OperationStatus {
    /// The job the operation started, if it names one.
    pub fn job_id(&self) -> Option<&str> {
        match &self.properties {
            Some(OperationStatusInfo::Job(j)) => j.job_id.as_deref().filter(|j| !j.is_empty()),
            _ => None,
        }
    }
}

crate::arm_union! {
    /// `properties` of an operation's status, by `objectType`.
    pub enum OperationStatusInfo tag "objectType" {
        /// The job the operation started.
        Job("OperationStatusJobExtendedInfo") => OperationStatusJob,
    }
}

/// OperationStatusJobExtendedInfo.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

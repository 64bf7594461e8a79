//! Backup jobs (`backupJobs`): AzureIaaSVMJob and AzureIaaSVMJobV2, with
//! their tasks, property bag, errors and (rsvault) verify results.

use crate::common::BackupManagementType;
use crate::error::JobErrorInfo;
use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A job.
pub type JobResource = Resource<Job>;

crate::arm_union! {
    /// `properties` of a job, by `jobType`.
    pub enum Job tag "jobType" {
        /// A VM job.
        IaasVm("AzureIaaSVMJob") => IaasVmJob,
        /// A VM job in the V2 shape (the same fields).
        IaasVmV2("AzureIaaSVMJobV2") => IaasVmJob,
    }
}

impl Job {
    /// The VM job, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmJob> {
        match self {
            Job::IaasVm(j) | Job::IaasVmV2(j) => Some(j),
            Job::Other(_) => None,
        }
    }
}

crate::arm_enum! {
    /// A job's status.
    pub enum JobStatus {
        Invalid,
        InProgress,
        Completed,
        Failed,
        CompletedWithWarnings,
        Cancelled,
        Cancelling,
    }
}

impl JobStatus {
    /// Whether the job still runs (InProgress or Cancelling).
    pub fn is_running(&self) -> bool {
        matches!(self, JobStatus::InProgress | JobStatus::Cancelling)
    }
}

crate::arm_enum! {
    /// What a job does; `Verify` is rsvault's.
    pub enum JobOperation {
        Invalid,
        Register,
        UnRegister,
        ConfigureBackup,
        Backup,
        Restore,
        DisableBackup,
        DeleteBackupData,
        CrossRegionRestore,
        Undelete,
        UpdateCustomerManagedKey,
        Verify,
    }
}

crate::arm_enum! {
    /// What can be done to a running job.
    pub enum JobSupportedAction { Invalid, Cancellable, Retriable }
}

/// `properties` of a VM job. `endTime` is written even when null (the job
/// runs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<JobOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<BackupManagementType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// ISO 8601 (`PT9.878S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_user_triggered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_info: Option<Vec<JobSupportedAction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<Vec<JobErrorInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_info: Option<JobExtendedInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `extendedInfo` of a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExtendedInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_list: Option<Vec<JobTask>>,
    /// Facts about the job as label → text (`VM Name`, `Backup Size`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_bag: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_property_bag: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_remaining_duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_error_message: Option<String>,
    /// rsvault: what a Verify job checked and found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_verify: Option<VerifyReport>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One task of a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_execution_details: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `extendedInfo.rsvaultVerify` of a Verify job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_points_checked: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packs_read: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs_read: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_verified: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged_recovery_points: Option<Vec<DamagedRecoveryPoint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_findings: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A recovery point a Verify job found damaged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DamagedRecoveryPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_item_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damage: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

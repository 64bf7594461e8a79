//! Protected items (`protectedItems`, `backupProtectedItems`): a VM a
//! vault backs up, with its policy, state, health and extended info.

use crate::common::{BackupManagementType, HealthStatus, ProtectionState, WorkloadType};
use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A protected item.
pub type ProtectedItemResource = Resource<ProtectedItem>;

crate::arm_union! {
    /// `properties` of a protected item, by `protectedItemType`.
    pub enum ProtectedItem tag "protectedItemType" {
        /// An ARM VM (AzureIaaSComputeVMProtectedItem).
        Compute("Microsoft.Compute/virtualMachines") => IaasVmProtectedItem,
        /// A classic VM (AzureIaaSClassicComputeVMProtectedItem).
        ClassicCompute("Microsoft.ClassicCompute/virtualMachines") => IaasVmProtectedItem,
    }
}

impl ProtectedItem {
    /// The VM item, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmProtectedItem> {
        match self {
            ProtectedItem::Compute(p) | ProtectedItem::ClassicCompute(p) => Some(p),
            ProtectedItem::Other(_) => None,
        }
    }

    /// The VM fields of these properties, whatever their
    /// `protectedItemType` says (a PUT body may carry none): a known kind
    /// as it is, an unknown one read as a VM item. An error when an unknown
    /// kind's fields do not fit a VM item's.
    pub fn read_as_iaas_vm(&self) -> Result<IaasVmProtectedItem, serde_json::Error> {
        match self {
            ProtectedItem::Compute(p) | ProtectedItem::ClassicCompute(p) => Ok(p.clone()),
            ProtectedItem::Other(m) => {
                let mut m = m.clone();
                m.remove(Self::TAG);
                serde_json::from_value(serde_json::Value::Object(m))
            }
        }
    }
}

/// `properties` of a protected VM (AzureIaaSVMProtectedItem).
///
/// `guestAgent`, `lastBackupTime`, `lastRecoveryPoint`,
/// `deferredDeleteTimeInUTC` and `deferredDeleteTimeRemaining` are written
/// even when null, as the service writes them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmProtectedItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<BackupManagementType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_type: Option<WorkloadType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_resource_id: Option<String>,
    /// `iaasvmcontainerv2;rg;vm`: the container without its first part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_state: Option<ProtectionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_details: Option<Vec<HealthDetail>>,
    /// KPI health by KPI name (`TransferToVault`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpis_healths: Option<BTreeMap<String, KpiHealth>>,
    /// rsvault: the guest agent of a live VM, as last checked.
    #[serde(default)]
    pub guest_agent: Option<GuestAgent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_status: Option<String>,
    #[serde(default)]
    pub last_backup_time: Option<String>,
    #[serde(default)]
    pub last_recovery_point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_item_data_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_info: Option<IaasVmProtectedItemExtendedInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_scheduled_for_deferred_delete: Option<bool>,
    #[serde(rename = "deferredDeleteTimeInUTC", default)]
    pub deferred_delete_time_in_utc: Option<String>,
    /// `d.hh:mm:ss` left of the soft-delete period.
    #[serde(default)]
    pub deferred_delete_time_remaining: Option<String>,
    /// In a PUT: undelete a soft-deleted item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_rehydrate: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One health finding of a protected item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::error::Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The health of one KPI.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KpiHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_health_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_health_details: Option<Vec<HealthDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `guestAgent` (rsvault): status, version and check time, each possibly null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestAgent {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub last_checked: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `extendedInfo` of a protected VM. `nextScheduledBackupTime` (rsvault)
/// is written even when null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmProtectedItemExtendedInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_recovery_point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_inconsistent: Option<bool>,
    #[serde(default)]
    pub next_scheduled_backup_time: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

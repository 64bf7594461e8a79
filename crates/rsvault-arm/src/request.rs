//! Request bodies of actions: Backup now (`backup`) and restore
//! (`recoveryPoints/{rp}/restore`).

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// The body of `POST .../protectedItems/{item}/backup`.
pub type BackupRequestResource = Resource<BackupRequest>;
/// The body of `POST .../recoveryPoints/{rp}/restore`.
pub type RestoreRequestResource = Resource<RestoreRequest>;

crate::arm_union! {
    /// `properties` of a Backup now request, by `objectType`.
    pub enum BackupRequest tag "objectType" {
        /// Backup now of a VM.
        IaasVm("IaasVMBackupRequest") => IaasVmBackupRequest,
    }
}

/// IaasVMBackupRequest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmBackupRequest {
    /// Until when the point is kept (ISO 8601, UTC).
    #[serde(
        rename = "recoveryPointExpiryTimeInUTC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recovery_point_expiry_time_in_utc: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_union! {
    /// `properties` of a restore request, by `objectType`.
    pub enum RestoreRequest tag "objectType" {
        /// Restore of a VM's point.
        IaasVm("IaasVMRestoreRequest") => IaasVmRestoreRequest,
        /// Restore of an archived point, rehydrating it first.
        IaasVmWithRehydration("IaasVMRestoreWithRehydrationRequest") => IaasVmRestoreRequest,
    }
}

crate::arm_enum! {
    /// Where a restore writes.
    pub enum RecoveryType { Invalid, OriginalLocation, AlternateLocation, RestoreDisks, Offline }
}

/// IaasVMRestoreRequest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmRestoreRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_type: Option<RecoveryType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_virtual_machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_domain_name_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_new_cloud_service: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_storage_account_option: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_details: Option<EncryptionDetails>,
    /// LUNs of the data disks to restore (empty: only the OS disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_disk_lun_list: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_with_managed_disks: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_set_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_info: Option<IdentityInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_based_restore_details: Option<IdentityBasedRestoreDetails>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `encryptionDetails` of a restore.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_vault_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_vault_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `identityInfo` of a restore: the identity the restore acts as.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_system_assigned_identity: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity_resource_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `identityBasedRestoreDetails` of a restore.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBasedRestoreDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_storage_account_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

//! Recovery points (`recoveryPoints`): IaasVMRecoveryPoint, with its
//! consistency, tiers, move readiness, disk configuration and (rsvault)
//! integrity.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A recovery point.
pub type RecoveryPointResource = Resource<RecoveryPoint>;

crate::arm_union! {
    /// `properties` of a recovery point, by `objectType`.
    pub enum RecoveryPoint tag "objectType" {
        /// A VM's recovery point.
        IaasVm("IaasVMRecoveryPoint") => IaasVmRecoveryPoint,
    }
}

impl RecoveryPoint {
    /// The VM recovery point, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmRecoveryPoint> {
        match self {
            RecoveryPoint::IaasVm(p) => Some(p),
            RecoveryPoint::Other(_) => None,
        }
    }
}

crate::arm_enum! {
    /// `recoveryPointType`: how consistent the point is.
    pub enum RecoveryPointConsistency { AppConsistent, CrashConsistent, FileSystemConsistent }
}

crate::arm_enum! {
    /// A tier a point is held in.
    pub enum RecoveryPointTierType {
        Invalid,
        InstantRp = "InstantRP",
        HardenedRp = "HardenedRP",
        ArchivedRp = "ArchivedRP",
    }
}

crate::arm_enum! {
    /// The state of a point in one tier.
    pub enum RecoveryPointTierStatus { Invalid, Valid, Disabled, Deleted, Rehydrated }
}

crate::arm_enum! {
    /// What rsvault's verify found of a point.
    pub enum PointIntegrityStatus { NotVerified, Intact, Damaged }
}

/// `properties` of a VM recovery point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmRecoveryPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_type: Option<RecoveryPointConsistency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_additional_info: Option<String>,
    #[serde(
        rename = "sourceVMStorageType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_vm_storage_type: Option<String>,
    #[serde(
        rename = "isSourceVMEncrypted",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_source_vm_encrypted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_instant_ilr_session_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_tier_details: Option<Vec<RecoveryPointTier>>,
    /// By tier name (`ArchivedRP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_move_readiness_info: Option<BTreeMap<String, MoveReadiness>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_managed_virtual_machine: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_storage_account_option: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_private_access_enabled_on_any_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_disk_configuration: Option<DiskConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_properties: Option<RecoveryPointProperties>,
    /// rsvault: what the vault's verify found of this point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_verify: Option<PointIntegrity>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl IaasVmRecoveryPoint {
    /// Whether the point is held `status` in tier `tier`.
    pub fn has_tier(&self, tier: RecoveryPointTierType, status: RecoveryPointTierStatus) -> bool {
        self.recovery_point_tier_details
            .iter()
            .flatten()
            .any(|t| t.kind.as_ref() == Some(&tier) && t.status.as_ref() == Some(&status))
    }
}

/// One tier of a point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointTier {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RecoveryPointTierType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RecoveryPointTierStatus>,
    /// e.g. `expiryTime` of the instant tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_info: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Whether a point can move to a tier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveReadiness {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_ready_for_move: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `recoveryPointDiskConfiguration`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_disks_included_in_backup: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_disks_attached_to_vm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_disk_list: Option<Vec<DiskInformation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_disk_list: Option<Vec<DiskInformation>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A disk of a point's disk configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskInformation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lun: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `recoveryPointProperties`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_soft_deleted: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rsvaultVerify` of a point. `lastVerifiedTime` and `damage` are written
/// even when null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointIntegrity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PointIntegrityStatus>,
    #[serde(default)]
    pub last_verified_time: Option<String>,
    #[serde(default)]
    pub damage: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

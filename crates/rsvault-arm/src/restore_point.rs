//! The instant tier as `Microsoft.Compute` shows it: restore point
//! collections (one per protected VM) and their restore points, in the
//! resource group that the policy's `instantRPDetails` names.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// `Microsoft.Compute/restorePointCollections/{name}`.
pub type RestorePointCollection = Resource<RestorePointCollectionProperties>;
/// `…/restorePointCollections/{name}/restorePoints/{point}`.
pub type RestorePoint = Resource<RestorePointProperties>;

crate::arm_enum! {
    /// `consistencyMode` of a restore point.
    pub enum ConsistencyMode { CrashConsistent, FileSystemConsistent, ApplicationConsistent }
}

/// `properties` of a restore point collection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RestorePointCollectionSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_collection_id: Option<String>,
    /// With `$expand=restorePoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_points: Option<Vec<RestorePoint>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The VM a collection's points are of.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `properties` of a restore point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency_mode: Option<ConsistencyMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// rsvault: when the point leaves the instant tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_restore_expiry_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_metadata: Option<RestorePointSourceMetadata>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The VM at the time of the point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointSourceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<RestorePointStorageProfile>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The point's disks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointStorageProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_disk: Option<RestorePointDisk>,
    #[serde(default)]
    pub data_disks: Vec<RestorePointDisk>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One disk of a restore point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointDisk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lun: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_restore_point: Option<DiskRestorePointRef>,
    /// rsvault: the snapshot file on the vault server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_file: Option<String>,
    /// rsvault: the snapshot file that this one is a delta over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_snapshot_file: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `diskRestorePoint`: the disk's restore point and its source disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_disk_resource_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

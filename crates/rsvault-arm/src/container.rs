//! Protection containers (`backupProtectionContainers`, one per protected
//! VM) and protectable items (`backupProtectableItems`: VMs no vault
//! protects yet).

use crate::common::{BackupManagementType, ProtectionStatus, WorkloadType};
use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A protection container.
pub type ProtectionContainerResource = Resource<ProtectionContainer>;
/// A protectable item.
pub type ProtectableItemResource = Resource<ProtectableItem>;

crate::arm_union! {
    /// `properties` of a container, by `containerType`.
    pub enum ProtectionContainer tag "containerType" {
        /// The container of an ARM VM (IaaSVMContainer, iaasvmcontainerv2).
        Compute("Microsoft.Compute/virtualMachines") => IaasVmContainer,
        /// The container of a classic VM (iaasvmcontainer).
        ClassicCompute("Microsoft.ClassicCompute/virtualMachines") => IaasVmContainer,
    }
}

impl ProtectionContainer {
    /// The VM container, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmContainer> {
        match self {
            ProtectionContainer::Compute(c) | ProtectionContainer::ClassicCompute(c) => Some(c),
            ProtectionContainer::Other(_) => None,
        }
    }
}

/// `properties` of a VM's container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmContainer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<BackupManagementType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protectable_object_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_union! {
    /// `properties` of a protectable item, by `protectableItemType`.
    pub enum ProtectableItem tag "protectableItemType" {
        /// An ARM VM.
        Compute("Microsoft.Compute/virtualMachines") => IaasVmProtectableItem,
        /// A classic VM.
        ClassicCompute("Microsoft.ClassicCompute/virtualMachines") => IaasVmProtectableItem,
    }
}

impl ProtectableItem {
    /// The VM, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmProtectableItem> {
        match self {
            ProtectableItem::Compute(p) | ProtectableItem::ClassicCompute(p) => Some(p),
            ProtectableItem::Other(_) => None,
        }
    }
}

/// `properties` of a protectable VM (IaaSVMProtectableItem).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmProtectableItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_state: Option<ProtectionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<BackupManagementType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_type: Option<WorkloadType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

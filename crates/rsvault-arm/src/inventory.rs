//! The inventory rsvault keeps in the manner of `Microsoft.Compute`:
//! virtual machines whose disks are image files, and managed disks
//! imported from image files.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A virtual machine (`Microsoft.Compute/virtualMachines` or
/// `Microsoft.ClassicCompute/virtualMachines`).
pub type VirtualMachine = Resource<VmProperties>;
/// A managed disk (`Microsoft.Compute/disks`).
pub type ManagedDisk = Resource<DiskProperties>;

/// `properties` of a VM.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<HardwareProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<StorageProfile>,
    /// With `$expand=instanceView`: the VM's provisioning and power states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<InstanceView>,
    /// rsvault: the running QEMU process of a live VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu: Option<QemuLink>,
    /// rsvault: the libvirt domain of a VM discovered on a libvirt host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt: Option<LibvirtLink>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl VmProperties {
    /// The `displayStatus` of the VM's `PowerState/…` status, if shown.
    pub fn power_state(&self) -> Option<&str> {
        self.instance_view
            .as_ref()?
            .statuses
            .iter()
            .flatten()
            .find(|s| {
                s.code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("PowerState/"))
            })
            .and_then(|s| s.display_status.as_deref())
    }
}

/// `hardwareProfile`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `storageProfile`: the OS disk and the data disks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_disk: Option<VmDisk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_disks: Option<Vec<VmDisk>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A disk of a VM: an image file (`vhd.uri`, `file:///…`) or a managed disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmDisk {
    /// Data disks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lun: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_option: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhd: Option<VirtualHardDisk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_disk: Option<ManagedDiskRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `vhd` of a disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHardDisk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `managedDisk` of a disk: the managed disk's id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDiskRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `instanceView` of a VM.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<InstanceViewStatus>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One status of an instance view (`PowerState/running`…).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceViewStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `qemu` of a live VM (rsvault): its QMP socket, and its guest agent's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QemuLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qmp_socket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_agent_socket: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `libvirt` of a discovered VM (rsvault): the host's connection and the
/// domain, which discovery keeps up to date.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibvirtLink {
    /// The connection URI (`qemu:///system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The domain's UUID, which the VM's ARM id follows across renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_uuid: Option<String>,
    /// The domain's name as libvirt has it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// `Present`, or `Removed` once the host no longer defines it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// The device names of the disks, OS disk first (`vda`, `vdb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `properties` of a managed disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_data: Option<CreationData>,
    #[serde(
        rename = "diskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_size_gb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size_bytes: Option<u64>,
    /// rsvault: the image's format (`raw`, `qcow2`, `vhd`, `vhdx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// `Attached` or `Unattached`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_state: Option<String>,
    /// The VM the disk is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `creationData` of a managed disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_option: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

//! The inventory: virtual machines and managed disks, and the
//! subscriptions and resource groups that hold anything.

use super::MetaResult;
use super::records::{DiskRecord, NewDisk, NewVm, ResourceGroupRecord, VmRecord};
use crate::inventory::{ResourceRef, VmProvider};

/// Virtual machines and managed disks.
pub trait InventoryStore {
    /// A managed disk, by name in any case.
    fn find_disk(&self, disk: &ResourceRef) -> MetaResult<Option<DiskRecord>>;
    /// Records a managed disk; returns its id.
    fn insert_disk(&self, disk: &NewDisk) -> MetaResult<i64>;
    /// Replaces a disk's body.
    fn update_disk_body(&self, id: i64, body: &str) -> MetaResult<()>;
    /// Deletes a disk; false when there was none.
    fn delete_disk(&self, id: i64) -> MetaResult<bool>;
    /// Disks of a subscription (optionally one group), by group and name.
    fn list_disks(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<DiskRecord>>;
    /// A VM, by name in any case.
    fn find_vm(&self, provider: VmProvider, vm: &ResourceRef) -> MetaResult<Option<VmRecord>>;
    /// Records a VM; returns its id.
    fn insert_vm(&self, vm: &NewVm) -> MetaResult<i64>;
    /// Replaces a VM's body.
    fn update_vm_body(&self, id: i64, body: &str) -> MetaResult<()>;
    /// Sets a VM's power state.
    fn set_vm_power(&self, id: i64, state: &str) -> MetaResult<()>;
    /// Deletes a VM; false when there was none.
    fn delete_vm(&self, id: i64) -> MetaResult<bool>;
    /// VMs of one provider in a subscription (optionally one group), by
    /// group and name.
    fn list_vms(
        &self,
        provider: VmProvider,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<VmRecord>>;
    /// Every VM, by id.
    fn all_vms(&self) -> MetaResult<Vec<VmRecord>>;
    /// The subscriptions that hold a vault, a VM or a disk, sorted.
    fn subscriptions(&self) -> MetaResult<Vec<String>>;
    /// The resource groups of a subscription that hold a vault, a VM or a
    /// disk, by name regardless of case (one entry per name in any case).
    fn resource_groups(&self, subscription: &str) -> MetaResult<Vec<ResourceGroupRecord>>;
}

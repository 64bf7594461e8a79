//! Protected items.

use super::records::{ItemOverview, ItemQuery, ItemRecord, NewItem};
use super::{MetaResult, Page, PageRequest};
use crate::inventory::{ResourceRef, VmProvider};

/// Protected items.
pub trait ItemStore {
    /// Records a protected item; returns its id. A VM protected already
    /// (by any vault) is [`super::MetaError::Duplicate`].
    fn insert_item(&self, item: &NewItem) -> MetaResult<i64>;
    /// The item of an id.
    fn item_by_id(&self, id: i64) -> MetaResult<Option<ItemRecord>>;
    /// The item of a VM in a vault (group and name in any case).
    fn find_item(
        &self,
        vault: i64,
        provider: VmProvider,
        resource_group: &str,
        vm: &str,
    ) -> MetaResult<Option<ItemRecord>>;
    /// The item of a VM in any vault.
    fn item_for_vm(&self, provider: VmProvider, vm: &ResourceRef)
    -> MetaResult<Option<ItemRecord>>;
    /// One page of a vault's items that match a query, by the VM's group
    /// and name.
    fn list_items(
        &self,
        vault: i64,
        query: &ItemQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<ItemRecord>>;
    /// The same page as [`ItemStore::list_items`], each item with its
    /// overview: its points, its last backup and its policy, read in one
    /// query (and one more for the names of damaged points, if any).
    fn list_item_overviews(
        &self,
        vault: i64,
        query: &ItemQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<ItemOverview>>;
    /// Every item of a vault, by the VM's group and name.
    fn vault_items(&self, vault: i64) -> MetaResult<Vec<ItemRecord>>;
    /// Soft-deleted items of every vault, by id.
    fn soft_deleted_items(&self) -> MetaResult<Vec<ItemRecord>>;
    /// Items of every vault that have a policy and are not soft-deleted,
    /// by id (the scheduler's candidates).
    fn scheduled_items(&self) -> MetaResult<Vec<ItemRecord>>;
    /// How many items a vault has (with a policy, when named, in any case).
    fn count_items(&self, vault: i64, policy: Option<&str>) -> MetaResult<u64>;
    /// Sets an item's protection state and policy.
    fn set_item_protection(&self, id: i64, state: &str, policy: &str) -> MetaResult<()>;
    /// Soft-deletes an item until `until`: protection stopped, no policy.
    fn soft_delete_item(&self, id: i64, until: &str) -> MetaResult<()>;
    /// Undeletes a soft-deleted item (protection stays stopped).
    fn undelete_item(&self, id: i64) -> MetaResult<()>;
    /// Records an item's agent health (JSON).
    fn set_item_health(&self, id: i64, health: &str) -> MetaResult<()>;
    /// Records the last scheduled backup time handled.
    fn set_item_sched_after(&self, id: i64, after: &str) -> MetaResult<()>;
    /// Deletes an item and its recovery points, in one transaction.
    fn purge_item(&self, id: i64) -> MetaResult<()>;
}

//! Vaults and their backup policies.

use super::MetaResult;
use super::records::{NewVault, PolicyRecord, Secondary, VaultRecord, VaultUpdate};
use crate::vault::VaultRef;

/// Vaults.
pub trait VaultStore {
    /// Creates a vault together with its first policy, in one transaction;
    /// returns the vault's id. A vault of the same name (in any case) is
    /// [`super::MetaError::Duplicate`].
    fn insert_vault(
        &self,
        vault: &NewVault,
        policy_name: &str,
        policy_properties: &str,
    ) -> MetaResult<i64>;
    /// The vault a reference names, case-insensitively.
    fn find_vault(&self, v: &VaultRef) -> MetaResult<Option<VaultRecord>>;
    /// The vault of an id.
    fn vault_by_id(&self, id: i64) -> MetaResult<Option<VaultRecord>>;
    /// The vault that owns an engine store.
    fn vault_by_store(&self, store: &str) -> MetaResult<Option<VaultRecord>>;
    /// Vaults of a subscription (optionally one resource group), by group
    /// and name; both compare case-insensitively.
    fn list_vaults(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<VaultRecord>>;
    /// Every vault, by id.
    fn all_vaults(&self) -> MetaResult<Vec<VaultRecord>>;
    /// Sets a vault's settable fields.
    fn update_vault(&self, id: i64, update: &VaultUpdate) -> MetaResult<()>;
    /// Deletes a vault with its policies, operations and jobs; false when
    /// there was none.
    fn delete_vault(&self, id: i64) -> MetaResult<bool>;
    /// Sets a vault's verify schedule and the time it counts from.
    fn set_verify_schedule(&self, id: i64, schedule: Option<&str>, after: &str) -> MetaResult<()>;
    /// Sets the last scheduled verify time handled.
    fn set_verify_after(&self, id: i64, after: &str) -> MetaResult<()>;
    /// Sets (or clears) a vault's secondary store; its replication state
    /// starts over.
    fn set_vault_secondary(&self, id: i64, secondary: Option<&Secondary>) -> MetaResult<()>;
    /// Records a replication attempt: `Ok(time)` brought the secondary up
    /// to the primary (and clears the last error), `Err(error)` failed
    /// (the last success's time stays).
    fn set_vault_replication(
        &self,
        id: i64,
        outcome: std::result::Result<&str, &str>,
    ) -> MetaResult<()>;
}

/// Backup policies.
pub trait PolicyStore {
    /// A vault's policy, by name in any case.
    fn find_policy(&self, vault: i64, name: &str) -> MetaResult<Option<PolicyRecord>>;
    /// Creates a policy, or replaces the properties of the one of that name
    /// (in any case), in one transaction. Returns the stored name, or
    /// `None` when creating it would exceed `limit` policies. The limit
    /// holds however many servers and threads save policies at once.
    fn save_policy(
        &self,
        vault: i64,
        name: &str,
        properties: &str,
        limit: usize,
    ) -> MetaResult<Option<String>>;
    /// Deletes a policy; false when there was none.
    fn delete_policy(&self, vault: i64, name: &str) -> MetaResult<bool>;
    /// A vault's policies, by name.
    fn list_policies(&self, vault: i64) -> MetaResult<Vec<PolicyRecord>>;
}

//! Multi-user authorization: resource guards, the guard a vault is linked
//! to, and the unlocks that let one guarded delete through.

use super::MetaResult;

/// A resource guard (`Microsoft.DataProtection/resourceGuards`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGuardRecord {
    /// Its ARM id; the store keys it lower-case.
    pub id: String,
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    /// The tags, a JSON object.
    pub tags: String,
    pub description: Option<String>,
    /// The critical operations it does not guard (`vaultCriticalOperation`
    /// strings), a JSON array.
    pub exclusions: String,
    pub created: String,
    pub updated: String,
}

/// A vault's link to a guard (its `VaultProxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardProxyRecord {
    pub vault: i64,
    /// The guard's id (lower-case).
    pub guard: String,
    pub description: Option<String>,
    pub updated: String,
}

/// What deleting a guard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardDeletion {
    Deleted,
    NotFound,
    /// A vault is linked to it: it stays.
    InUse,
}

/// Resource guards, vault links and unlocks.
pub trait GuardStore {
    /// Creates or replaces a guard (by id, in any case); true when created.
    fn put_resource_guard(&self, g: &ResourceGuardRecord) -> MetaResult<bool>;
    /// A guard by id, in any case.
    fn resource_guard(&self, id: &str) -> MetaResult<Option<ResourceGuardRecord>>;
    /// The guards of a subscription, or of one of its resource groups (in
    /// any case), by id.
    fn list_resource_guards(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<ResourceGuardRecord>>;
    /// Deletes a guard no vault is linked to, in one transaction.
    fn delete_resource_guard(&self, id: &str) -> MetaResult<GuardDeletion>;
    /// Links a vault to a guard (replacing its link), in one transaction;
    /// false (and nothing linked) when the guard does not exist.
    fn set_guard_proxy(&self, p: &GuardProxyRecord) -> MetaResult<bool>;
    /// The vault's link, if any.
    fn guard_proxy(&self, vault: i64) -> MetaResult<Option<GuardProxyRecord>>;
    /// Unlinks a vault (and drops its unlocks); false when it had no link.
    fn delete_guard_proxy(&self, vault: i64) -> MetaResult<bool>;
    /// Lets one guarded delete of `resource` (any case) through until
    /// `expires_ms`, replacing an earlier unlock of it.
    fn grant_unlock(&self, vault: i64, resource: &str, expires_ms: i64) -> MetaResult<()>;
    /// Uses up the unlock of `resource`: true when one was there and had
    /// not expired at `now_ms`. An expired one is dropped all the same.
    fn take_unlock(&self, vault: i64, resource: &str, now_ms: i64) -> MetaResult<bool>;
}

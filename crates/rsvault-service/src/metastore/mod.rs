//! The metadata store: the port the service keeps its catalogue behind
//! (vaults, policies, the inventory, protected items, operations, jobs and
//! recovery points), and its engines.
//!
//! The service talks only to [`MetaStore`], made of one trait per area
//! ([`VaultStore`], [`PolicyStore`], [`InventoryStore`], [`ItemStore`],
//! [`JobStore`], [`PointStore`], [`IdentityStore`], [`GuardStore`],
//! [`HostStore`], [`ActivityStore`]) whose methods are typed operations on the
//! [`records`]. What the service does in one transaction is one method.
//!
//! One SQL implementation ([`sql`]) runs on two engines: SQLite (the
//! default, `<data-dir>/metadata.db`) and PostgreSQL (`--database
//! postgres://…`). It is written once in the SQL both understand, over a
//! small driver per engine; each engine has its own migrations
//! (`migrations/<engine>/NNNN_*.sql`). [`conformance::run`] checks any
//! implementation.

pub mod activity;
pub mod conformance;
mod error;
pub mod guards;
pub mod hosts;
mod identity;
mod inventory;
mod items;
mod jobs;
mod points;
pub mod records;
pub mod sql;
mod url;
mod vaults;

pub use activity::{ActivityQuery, ActivityRecord, ActivityStore};
pub use error::{MetaError, MetaResult};
pub use guards::{GuardDeletion, GuardProxyRecord, GuardStore, ResourceGuardRecord};
pub use hosts::{EnrollTokenRecord, HostRecord, HostStore};
pub use identity::{
    CredentialRecord, IdentityStore, PrincipalKind, PrincipalRecord, RoleAssignmentRecord,
};
pub use inventory::InventoryStore;
pub use items::ItemStore;
pub use jobs::JobStore;
pub use points::PointStore;
pub use url::DatabaseUrl;
pub use vaults::{PolicyStore, VaultStore};

use std::path::Path;
use std::sync::Arc;

/// The whole metadata store.
pub trait MetaStore:
    VaultStore
    + PolicyStore
    + InventoryStore
    + ItemStore
    + JobStore
    + PointStore
    + IdentityStore
    + GuardStore
    + HostStore
    + ActivityStore
    + Send
    + Sync
{
    /// The engine, for logs (`sqlite`, `postgres`).
    fn engine(&self) -> &'static str;
}

impl std::fmt::Debug for dyn MetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MetaStore({})", self.engine())
    }
}

/// Which page of a list to read: after `token` (a `$skiptoken` the store
/// gave out; `None` for the first page), at most `size` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub token: Option<String>,
    pub size: usize,
}

impl PageRequest {
    /// The first page of `size` items.
    pub fn first(size: usize) -> Self {
        PageRequest {
            token: None,
            size: size.max(1),
        }
    }
}

/// One page of a list, and the token of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page with its items mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// Opens the metadata store a URL names, or SQLite at
/// `<data_dir>/metadata.db` when none is given; runs pending migrations.
pub fn open(database: Option<&DatabaseUrl>, data_dir: &Path) -> MetaResult<Arc<dyn MetaStore>> {
    match database {
        None => Ok(Arc::new(sql::SqlStore::sqlite(
            &data_dir.join("metadata.db"),
        )?)),
        Some(DatabaseUrl::Sqlite(path)) => Ok(Arc::new(sql::SqlStore::sqlite(path)?)),
        Some(DatabaseUrl::Postgres(url)) => Ok(Arc::new(sql::SqlStore::postgres(url)?)),
    }
}

#[cfg(test)]
pub(crate) mod tests;

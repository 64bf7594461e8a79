//! The activity log: what was written through the API, by whom, from
//! where, with what outcome. Append-only: no method changes or removes an
//! entry, and both engines refuse it.

use super::MetaResult;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    /// A GUID (`eventDataId`).
    pub event_id: String,
    /// When, in milliseconds since the epoch, and as RFC 3339.
    pub at_ms: i64,
    pub at: String,
    pub subscription: String,
    pub resource_group: Option<String>,
    /// The resource (or scope) written, as the caller wrote it.
    pub resource_id: String,
    /// The Azure RBAC action (`Microsoft.RecoveryServices/Vaults/write`).
    pub operation: String,
    pub method: String,
    /// `Succeeded`, `Accepted` or `Failed`.
    pub status: String,
    pub http_status: i64,
    /// The caller's name (an app id, a user name, `rsvault-admin`).
    pub caller: String,
    pub caller_oid: String,
    pub client_ip: String,
    pub correlation_id: String,
    /// A failure's code and message.
    pub message: Option<String>,
}

/// Which entries a query wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    pub subscription: String,
    /// From and to (inclusive), milliseconds since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only this resource group (any case).
    pub resource_group: Option<String>,
    /// Only this resource and what is under it (any case).
    pub resource_prefix: Option<String>,
    pub correlation_id: Option<String>,
    pub caller: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The activity log.
pub trait ActivityStore {
    /// Appends an entry. `Duplicate` when its event id is taken.
    fn append_activity(&self, e: &ActivityRecord) -> MetaResult<()>;
    /// The entries a query selects, newest first.
    fn activities(&self, q: &ActivityQuery) -> MetaResult<Vec<ActivityRecord>>;
}

//! Hypervisor hosts that run the rsvault agent
//! (`Microsoft.HybridCompute/machines`), and the one-time tokens that
//! enrol them.

use super::MetaResult;

/// An enrolled host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// Its id (a UUID, lower-case), also its machine's `vmId`.
    pub id: String,
    pub subscription: String,
    pub resource_group: String,
    /// The machine's name (unique in its group, any case).
    pub name: String,
    pub location: String,
    /// The object id of the agent's service principal.
    pub principal: String,
    pub agent_version: String,
    pub enrolled: String,
    /// The agent's last heartbeat (milliseconds since 1970), if any.
    pub last_contact_ms: Option<i64>,
    /// What the agent last said it could not do (its hypervisor does not
    /// answer), if anything.
    pub last_error: Option<String>,
}

/// An enrolment token, by the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollTokenRecord {
    /// Hex SHA-256 of the token's secret; the secret itself is never kept.
    pub hash: String,
    pub subscription: String,
    pub resource_group: String,
    pub location: String,
    pub expires_ms: i64,
    /// Who made it (an object id).
    pub created_by: String,
}

/// Hosts and enrolment tokens.
pub trait HostStore {
    /// Adds a host; false (nothing added) when its id or its name in the
    /// group (any case) is taken.
    fn insert_host(&self, h: &HostRecord) -> MetaResult<bool>;
    /// A host by id (any case).
    fn host(&self, id: &str) -> MetaResult<Option<HostRecord>>;
    /// A host by group and name (any case).
    fn host_by_name(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> MetaResult<Option<HostRecord>>;
    /// The hosts of a subscription, or of one of its groups (any case), by
    /// group and name.
    fn list_hosts(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<HostRecord>>;
    /// Every host.
    fn all_hosts(&self) -> MetaResult<Vec<HostRecord>>;
    /// Records a heartbeat: its time, the agent's version and error; false
    /// when the host does not exist.
    fn touch_host(
        &self,
        id: &str,
        at_ms: i64,
        agent_version: &str,
        error: Option<&str>,
    ) -> MetaResult<bool>;
    /// Removes a host; false when it did not exist.
    fn delete_host(&self, id: &str) -> MetaResult<bool>;
    /// Keeps an enrolment token.
    fn insert_enroll_token(&self, t: &EnrollTokenRecord) -> MetaResult<()>;
    /// Uses up a token: it is gone after this call, whatever it answers;
    /// `None` when there was none or it had expired at `now_ms`.
    fn take_enroll_token(&self, hash: &str, now_ms: i64) -> MetaResult<Option<EnrollTokenRecord>>;
}

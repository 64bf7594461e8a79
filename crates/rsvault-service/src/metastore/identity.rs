//! Identity: principals, their credentials and role assignments.

use super::MetaResult;

/// What kind of principal a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An application: logs in with its app id and a client secret.
    ServicePrincipal,
    /// A person: logs in with a user name and a password.
    User,
    /// A process on the vault host: logs in through the managed-identity
    /// endpoint.
    ManagedIdentity,
}

impl PrincipalKind {
    /// How the store and Azure's `principalType` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::ServicePrincipal => "ServicePrincipal",
            PrincipalKind::User => "User",
            // Azure lists managed identities as service principals.
            PrincipalKind::ManagedIdentity => "ManagedIdentity",
        }
    }

    /// The kind a stored name names.
    pub fn parse(s: &str) -> MetaResult<Self> {
        match s {
            "ServicePrincipal" => Ok(PrincipalKind::ServicePrincipal),
            "User" => Ok(PrincipalKind::User),
            "ManagedIdentity" => Ok(PrincipalKind::ManagedIdentity),
            other => Err(super::MetaError::Corrupt(format!(
                "principal kind {other:?}"
            ))),
        }
    }
}

/// A principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    /// The object id (a lower-case GUID): `oid` in its tokens.
    pub object_id: String,
    pub kind: PrincipalKind,
    /// The application (client) id of a service principal or managed
    /// identity (a lower-case GUID).
    pub app_id: Option<String>,
    /// A user's sign-in name (`alice@rsvault.local`).
    pub user_name: Option<String>,
    pub display_name: String,
    pub created: String,
}

/// A credential of a principal: the argon2 hash of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The credential's id (a lower-case GUID), named in the tokens it
    /// gets, so that removing it revokes them.
    pub key_id: String,
    pub principal: String,
    /// The secret's argon2 hash (a PHC string).
    pub hash: String,
    pub display_name: String,
    pub created: String,
    /// When it stops working (RFC 3339), if ever.
    pub expires: Option<String>,
}

/// A role assignment: a principal holds a role at a scope and below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignmentRecord {
    /// Its name (a lower-case GUID).
    pub name: String,
    /// `/`, `/subscriptions/S`, `/subscriptions/S/resourceGroups/G` or a
    /// resource's id, as the caller wrote it.
    pub scope: String,
    /// The role definition's GUID (lower case).
    pub role_definition: String,
    /// The principal's object id.
    pub principal: String,
    /// `User`, `ServicePrincipal`, … as the caller gave it.
    pub principal_type: String,
    pub description: Option<String>,
    pub created: String,
    /// The object id of the principal that made it.
    pub created_by: String,
}

/// Principals, credentials and role assignments.
pub trait IdentityStore {
    /// Records a principal. `Duplicate` when its object id, app id or user
    /// name (in any case) is taken.
    fn insert_principal(&self, p: &PrincipalRecord) -> MetaResult<()>;
    /// A principal by object id, in any case.
    fn find_principal(&self, object_id: &str) -> MetaResult<Option<PrincipalRecord>>;
    /// A principal by app id, in any case.
    fn find_principal_by_app(&self, app_id: &str) -> MetaResult<Option<PrincipalRecord>>;
    /// A user by sign-in name, in any case.
    fn find_principal_by_user(&self, user_name: &str) -> MetaResult<Option<PrincipalRecord>>;
    /// Every principal, by display name then object id.
    fn list_principals(&self) -> MetaResult<Vec<PrincipalRecord>>;
    /// Deletes a principal with its credentials and role assignments;
    /// false when there was none.
    fn delete_principal(&self, object_id: &str) -> MetaResult<bool>;
    /// Adds a credential to its principal, removing the principal's other
    /// credentials when `replace` is set (a reset), in one transaction.
    fn add_credential(&self, c: &CredentialRecord, replace: bool) -> MetaResult<()>;
    /// Removes one credential of a principal; false when it had none of
    /// that id.
    fn delete_credential(&self, principal: &str, key_id: &str) -> MetaResult<bool>;
    /// A principal's credentials, oldest first.
    fn credentials(&self, principal: &str) -> MetaResult<Vec<CredentialRecord>>;
    /// Records a role assignment. `Duplicate` when its name, or the same
    /// principal, role and scope (in any case), is taken.
    fn insert_role_assignment(&self, a: &RoleAssignmentRecord) -> MetaResult<()>;
    /// A role assignment by name, in any case.
    fn find_role_assignment(&self, name: &str) -> MetaResult<Option<RoleAssignmentRecord>>;
    /// Deletes a role assignment; the deleted one, if there was one.
    fn delete_role_assignment(&self, name: &str) -> MetaResult<Option<RoleAssignmentRecord>>;
    /// Every role assignment, by scope then name.
    fn list_role_assignments(&self) -> MetaResult<Vec<RoleAssignmentRecord>>;
    /// The role assignments of one principal, by scope then name.
    fn role_assignments_of(&self, principal: &str) -> MetaResult<Vec<RoleAssignmentRecord>>;
}

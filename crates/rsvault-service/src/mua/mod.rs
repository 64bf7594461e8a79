//! Multi-user authorization (MUA): a vault linked to a resource guard
//! runs its critical operations only with the guard's approval. The guard
//! is a resource of its own, usually in a subscription or group the backup
//! admins hold no rights on; approving means holding the guard's action
//! for that operation (Contributor or Backup MUA Operator on the guard,
//! granted just in time) and naming the guard's request for it in the
//! call (`resourceGuardOperationRequests`), as `az` and the portal do.
//!
//! The rules ([`Critical`], [`check`]) are pure; [`guards`] holds the
//! guards' use cases, [`proxy`] a vault's link, `unlockDelete` and the
//! checks the vault, policy and protection use cases call.

pub mod guards;
pub mod proxy;

use crate::error::{Result, ServiceError};
use std::sync::Arc;

/// The code of a critical operation refused for want of approval.
pub const UNAPPROVED: &str = "LinkedAuthorizationFailed";
/// How long an `unlockDelete` lets the delete through.
pub const UNLOCK_MINUTES: i64 = 30;
/// The resource type of guards.
pub const GUARD_TYPE: &str = "Microsoft.DataProtection/resourceGuards";

/// A critical operation of a vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Critical {
    /// Unlinking the vault from its guard.
    DeleteProxy,
    /// Turning soft delete (or the enhanced security) off.
    DisableSoftDelete,
    /// Stopping protection with deletion of the data.
    DeleteProtectedItem,
    /// A policy change that shortens retention.
    UpdatePolicy,
    /// Moving an item to a policy with shorter retention.
    UpdateProtectedItem,
    /// Stopping protection, retaining the data.
    StopProtection,
    /// Immutability from Unlocked to Disabled.
    ReduceImmutability,
}

impl Critical {
    /// Every critical operation, in the order guards list them.
    pub const ALL: [Critical; 7] = [
        Critical::DeleteProxy,
        Critical::DisableSoftDelete,
        Critical::DeleteProtectedItem,
        Critical::UpdatePolicy,
        Critical::UpdateProtectedItem,
        Critical::StopProtection,
        Critical::ReduceImmutability,
    ];

    /// Its `vaultCriticalOperation`, exactly as `az` compares it.
    pub fn operation(self) -> &'static str {
        match self {
            Critical::DeleteProxy => {
                "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete"
            }
            Critical::DisableSoftDelete => "Microsoft.RecoveryServices/vaults/backupconfig/write",
            Critical::DeleteProtectedItem => {
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete"
            }
            Critical::UpdatePolicy => "Microsoft.RecoveryServices/vaults/backupPolicies/write",
            Critical::UpdateProtectedItem => {
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write"
            }
            Critical::StopProtection => {
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write#stopProtectionWithRetainData"
            }
            Critical::ReduceImmutability => {
                "Microsoft.RecoveryServices/vaults/write#reduceImmutabilityState"
            }
        }
    }

    /// The type of the guard's requests that approve it.
    pub fn request_type(self) -> &'static str {
        match self {
            Critical::DeleteProxy => "deleteResourceGuardProxyRequests",
            Critical::DisableSoftDelete => "disableSoftDeleteRequests",
            Critical::DeleteProtectedItem => "deleteProtectedItemRequests",
            Critical::UpdatePolicy => "updateProtectionPolicyRequests",
            Critical::UpdateProtectedItem => "updateProtectedItemRequests",
            Critical::StopProtection => "stopProtectionWithRetainDataRequests",
            Critical::ReduceImmutability => "disableImmutabilityRequests",
        }
    }

    /// Whether a guard may leave it out: unlinking and turning soft delete
    /// off are always guarded.
    pub fn mandatory(self) -> bool {
        matches!(self, Critical::DeleteProxy | Critical::DisableSoftDelete)
    }

    /// The operation a `vaultCriticalOperation` names, in any case.
    pub fn from_operation(s: &str) -> Option<Critical> {
        Critical::ALL
            .into_iter()
            .find(|c| c.operation().eq_ignore_ascii_case(s))
    }

    /// A request type's operation, in any case.
    pub fn from_request_type(s: &str) -> Option<Critical> {
        Critical::ALL
            .into_iter()
            .find(|c| c.request_type().eq_ignore_ascii_case(s))
    }

    /// The Azure RBAC action that approves it, held at the guard.
    pub fn action(self) -> String {
        format!(
            "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/{}/action",
            self.request_type()
        )
    }

    /// What it is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Critical::DeleteProxy => "removing the vault's resource guard",
            Critical::DisableSoftDelete => "disabling soft delete",
            Critical::DeleteProtectedItem => "stopping protection with deletion of the backup data",
            Critical::UpdatePolicy => "a policy change that shortens retention",
            Critical::UpdateProtectedItem => "moving an item to a policy with shorter retention",
            Critical::StopProtection => "stopping protection",
            Critical::ReduceImmutability => "disabling immutability",
        }
    }
}

/// The RBAC action of reading a guard (what linking a vault to it needs).
pub const READ_GUARD: &str =
    "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/read";

/// Whether a caller holds an action (the first argument) at a scope.
pub type Rights = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// What a request brings to approve a critical operation: the guard
/// requests it names, and the caller's rights.
#[derive(Clone)]
pub struct Approval {
    /// Who asks, for messages.
    pub caller: String,
    /// The `resourceGuardOperationRequests` of the request.
    pub requests: Vec<String>,
    /// Whether the caller holds an action at a scope.
    may: Rights,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("caller", &self.caller)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Approval {
    pub fn new(caller: impl Into<String>, requests: Vec<String>, may: Rights) -> Self {
        Approval {
            caller: caller.into(),
            requests,
            may,
        }
    }

    /// No approval at all: a guarded critical operation is refused.
    pub fn none() -> Self {
        Approval::new("(no caller)", Vec::new(), Arc::new(|_, _| false))
    }

    /// The same caller with other requests (`unlockDelete` names them in
    /// its body).
    pub fn with_requests(&self, requests: Vec<String>) -> Self {
        Approval {
            requests,
            ..self.clone()
        }
    }

    /// Whether the caller holds `action` at `scope`.
    pub fn may(&self, action: &str, scope: &str) -> bool {
        (self.may)(action, scope)
    }
}

/// The request id that approves `op` at a guard.
pub fn default_request(guard_id: &str, op: Critical) -> String {
    format!("{guard_id}/{}/default", op.request_type())
}

/// Whether a guard guards `op`: mandatory ones always, the rest unless
/// its exclusion list names them.
pub fn guards(exclusions: &[String], op: Critical) -> bool {
    op.mandatory()
        || !exclusions
            .iter()
            .any(|e| e.eq_ignore_ascii_case(op.operation()))
}

/// Checks a critical operation of a vault linked to the guard `guard_id`
/// (with `exclusions`): unless the guard leaves it out, the request must
/// name the guard's request for it and the caller must hold its action on
/// the guard.
pub fn check(guard_id: &str, exclusions: &[String], op: Critical, a: &Approval) -> Result<()> {
    if !guards(exclusions, op) {
        return Ok(());
    }
    let wanted = default_request(guard_id, op);
    if !a.requests.iter().any(|r| r.eq_ignore_ascii_case(&wanted)) {
        return Err(ServiceError::forbidden(
            UNAPPROVED,
            format!(
                "The vault is protected by the resource guard '{guard_id}': {} is a critical operation and needs its approval. Name '{wanted}' in properties.resourceGuardOperationRequests (az does this by itself), as a principal that holds '{}' on the resource guard.",
                op.describe(),
                op.action()
            ),
        ));
    }
    if !a.may(&op.action(), guard_id) {
        return Err(ServiceError::forbidden(
            UNAPPROVED,
            format!(
                "The client '{}' does not have permission to perform action '{}' on the linked scope '{guard_id}': {} is a critical operation that the resource guard must approve. Ask the guard's owner for the Backup MUA Operator role on it, then retry.",
                a.caller,
                op.action(),
                op.describe()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str =
        "/subscriptions/s/resourceGroups/sec/providers/Microsoft.DataProtection/resourceGuards/g";

    fn approval(requests: &[&str], holds: bool) -> Approval {
        Approval::new(
            "app",
            requests.iter().map(|r| (*r).to_owned()).collect(),
            Arc::new(move |action, scope| holds && scope == G && action.ends_with("/action")),
        )
    }

    #[test]
    fn critical_operations_need_the_request_and_the_right_on_the_guard() {
        let policy = default_request(G, Critical::UpdatePolicy);
        let upper = policy.to_uppercase();
        let proxy = default_request(G, Critical::DeleteProxy);
        let excluded = vec![Critical::UpdatePolicy.operation().to_uppercase()];
        type Case<'a> = (Critical, Vec<String>, Vec<&'a str>, bool, bool);
        let table: Vec<Case> = vec![
            // (operation, exclusions, requests, holds the action, allowed)
            (Critical::UpdatePolicy, vec![], vec![&policy], true, true),
            (Critical::UpdatePolicy, vec![], vec![&policy], false, false),
            (Critical::UpdatePolicy, vec![], vec![], true, false),
            (Critical::UpdatePolicy, vec![], vec![&proxy], true, false),
            (
                Critical::UpdatePolicy,
                excluded.clone(),
                vec![],
                false,
                true,
            ),
            (Critical::UpdatePolicy, vec![], vec![&upper], true, true),
        ];
        for (op, exclusions, requests, holds, allowed) in table {
            assert_eq!(
                check(G, &exclusions, op, &approval(&requests, holds)).is_ok(),
                allowed,
                "{op:?} excluding {exclusions:?} with {requests:?}, holding: {holds}"
            );
        }
    }

    #[test]
    fn mandatory_operations_cannot_be_excluded() {
        let all: Vec<String> = Critical::ALL.iter().map(|c| c.operation().into()).collect();
        for op in Critical::ALL {
            assert_eq!(guards(&all, op), op.mandatory(), "{op:?}");
            assert_eq!(
                Critical::from_operation(&op.operation().to_lowercase()),
                Some(op)
            );
            assert_eq!(Critical::from_request_type(op.request_type()), Some(op));
        }
        let e = check(G, &all, Critical::DisableSoftDelete, &Approval::none()).unwrap_err();
        assert_eq!(e.code(), UNAPPROVED);
    }
}

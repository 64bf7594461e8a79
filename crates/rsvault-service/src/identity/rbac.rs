//! Azure RBAC: what a principal may do where. A role assignment holds at
//! its scope and everything under it (`/` is everything; a subscription
//! holds its resource groups, a group its resources, a resource what is
//! under its id). A request is allowed when some assignment that holds at
//! its scope has a role that allows its action. Pure functions of the
//! assignments.

use super::roles::{self, RoleDefinition};
use crate::metastore::RoleAssignmentRecord;

/// A scope's segments, for comparing: empty ones (`//`, a trailing `/`)
/// dropped, in lower case.
fn segments(scope: &str) -> Vec<String> {
    scope
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether an assignment at `outer` holds at `inner`: `outer`'s segments
/// begin `inner`'s, in any case.
pub fn covers(outer: &str, inner: &str) -> bool {
    let (o, i) = (segments(outer), segments(inner));
    o.len() <= i.len() && o.iter().zip(&i).all(|(a, b)| a == b)
}

/// A scope written the one way: a leading `/`, no empty segments, no
/// trailing `/`; `/` for the root.
pub fn normalize(scope: &str) -> String {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segs.join("/"))
}

/// Whether a scope is one an assignment can be made at: `/`, a
/// subscription, a resource group, or a resource under a provider.
pub fn valid_scope(scope: &str) -> bool {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let eq = |i: usize, w: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(w));
    match segs.len() {
        0 => true,
        2 => eq(0, "subscriptions"),
        4 => eq(0, "subscriptions") && eq(2, "resourceGroups"),
        n => {
            n >= 8
                && n % 2 == 0
                && eq(0, "subscriptions")
                && eq(2, "resourceGroups")
                && eq(4, "providers")
        }
    }
}

/// One role a principal holds at a scope.
#[derive(Debug, Clone)]
pub struct Grant {
    pub scope: String,
    pub role: &'static RoleDefinition,
}

/// What a principal may do: its grants.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub grants: Vec<Grant>,
}

impl Access {
    /// The grants of a principal's role assignments (assignments of a role
    /// that no longer exists grant nothing).
    pub fn of(assignments: &[RoleAssignmentRecord]) -> Self {
        Access {
            grants: assignments
                .iter()
                .filter_map(|a| {
                    roles::by_id(&a.role_definition).map(|role| Grant {
                        scope: a.scope.clone(),
                        role,
                    })
                })
                .collect(),
        }
    }

    /// Whether `action` is allowed at `scope`.
    pub fn allows(&self, action: &str, scope: &str) -> bool {
        self.grants
            .iter()
            .any(|g| covers(&g.scope, scope) && g.role.allows(action))
    }

    /// The permissions the principal holds at `scope` (Azure's
    /// `Microsoft.Authorization/permissions`): every block of every role
    /// assigned at it or above it.
    pub fn permissions_at(&self, scope: &str) -> Vec<roles::Permission> {
        self.grants
            .iter()
            .filter(|g| covers(&g.scope, scope))
            .flat_map(|g| g.role.permissions.iter().cloned())
            .collect()
    }

    /// Whether `action` is allowed somewhere under `scope` (a list at
    /// `scope` then shows what is under those places).
    pub fn allows_under(&self, action: &str, scope: &str) -> bool {
        self.grants
            .iter()
            .any(|g| covers(scope, &g.scope) && g.role.allows(action))
    }

    /// Whether the principal holds any role in a subscription (it then
    /// sees the subscription, as in Azure).
    pub fn in_subscription(&self, subscription: &str) -> bool {
        let scope = format!("/subscriptions/{subscription}");
        self.grants
            .iter()
            .any(|g| covers(&g.scope, &scope) || covers(&scope, &g.scope))
    }

    /// The subscriptions the principal's assignments name.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut subs: Vec<String> = self
            .grants
            .iter()
            .filter_map(|g| {
                let s: Vec<&str> = g.scope.split('/').filter(|s| !s.is_empty()).collect();
                (s.len() >= 2 && s[0].eq_ignore_ascii_case("subscriptions"))
                    .then(|| s[1].to_owned())
            })
            .collect();
        subs.sort_by_key(|s| s.to_ascii_lowercase());
        subs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        subs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::roles::*;

    fn access(grants: &[(&str, &str)]) -> Access {
        Access {
            grants: grants
                .iter()
                .map(|(scope, role)| Grant {
                    scope: (*scope).into(),
                    role: by_id(role).unwrap(),
                })
                .collect(),
        }
    }

    const RG: &str = "/subscriptions/s1/resourceGroups/rg1";
    const VAULT: &str =
        "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults/v1";
    const DELETE_ITEM: &str = "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete";
    const BACKUP: &str = "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action";

    #[test]
    fn scopes_cover_what_is_under_them() {
        let table = [
            ("/", VAULT, true),
            ("/subscriptions/S1", VAULT, true),
            (RG, VAULT, true),
            ("/subscriptions/s1/resourcegroups/RG1/", VAULT, true),
            (VAULT, RG, false),
            ("/subscriptions/s1/resourceGroups/rg", VAULT, false),
            ("/subscriptions/s2", VAULT, false),
            (VAULT, &format!("{VAULT}/backupPolicies/p"), true),
            ("//subscriptions//s1", RG, true),
        ];
        for (outer, inner, want) in table {
            assert_eq!(covers(outer, inner), want, "{outer} over {inner}");
        }
        assert_eq!(normalize("//subscriptions/s1/"), "/subscriptions/s1");
        assert_eq!(normalize(""), "/");
    }

    /// Grants (scope, role), an action, a scope, and whether it is allowed.
    type Row<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, bool);

    #[test]
    fn assignments_allow_by_role_and_scope() {
        // (grants, action, scope, allowed)
        let table: &[Row] = &[
            (&[("/", OWNER)], DELETE_ITEM, VAULT, true),
            (&[(RG, BACKUP_OPERATOR)], BACKUP, VAULT, true),
            (&[(RG, BACKUP_OPERATOR)], DELETE_ITEM, VAULT, false),
            (&[(RG, BACKUP_CONTRIBUTOR)], DELETE_ITEM, VAULT, true),
            (
                &[(VAULT, BACKUP_CONTRIBUTOR)],
                "Microsoft.RecoveryServices/Vaults/read",
                RG,
                false,
            ),
            (
                &[(RG, READER)],
                "Microsoft.RecoveryServices/Vaults/read",
                VAULT,
                true,
            ),
            (
                &[(RG, READER)],
                "Microsoft.RecoveryServices/Vaults/write",
                VAULT,
                false,
            ),
            (
                &[(RG, CONTRIBUTOR)],
                "Microsoft.Authorization/roleAssignments/write",
                VAULT,
                false,
            ),
            (&[("/subscriptions/s2", OWNER)], DELETE_ITEM, VAULT, false),
            (
                &[(RG, BACKUP_READER), ("/subscriptions/s1", BACKUP_OPERATOR)],
                BACKUP,
                VAULT,
                true,
            ),
            (&[], "Microsoft.RecoveryServices/Vaults/read", VAULT, false),
        ];
        for (grants, action, scope, want) in table {
            assert_eq!(
                access(grants).allows(action, scope),
                *want,
                "{grants:?} {action} at {scope}"
            );
        }
    }

    #[test]
    fn lists_see_below_and_subscriptions_with_any_role() {
        let a = access(&[(VAULT, BACKUP_READER)]);
        assert!(!a.allows(
            "Microsoft.RecoveryServices/Vaults/read",
            "/subscriptions/s1"
        ));
        assert!(a.allows_under(
            "Microsoft.RecoveryServices/Vaults/read",
            "/subscriptions/s1"
        ));
        assert!(!a.allows_under(
            "Microsoft.RecoveryServices/Vaults/read",
            "/subscriptions/s2"
        ));
        assert!(a.in_subscription("S1") && !a.in_subscription("s2"));
        assert_eq!(a.subscriptions(), ["s1"]);
        assert!(access(&[("/", OWNER)]).in_subscription("any"));
    }

    #[test]
    fn assignable_scopes() {
        for (scope, want) in [
            ("/", true),
            ("/subscriptions/s1", true),
            (RG, true),
            (VAULT, true),
            ("/subscriptions", false),
            ("/subscriptions/s1/resourceGroups", false),
            (
                "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.RecoveryServices",
                false,
            ),
            ("/foo/bar", false),
        ] {
            assert_eq!(valid_scope(scope), want, "{scope}");
        }
    }
}

//! Role definitions: Azure's built-in roles (copied from Azure's published
//! definitions, `azure-builtin-roles.json`, each entry naming its source)
//! and rsvault's own role for hypervisor-host agents. An action matches a
//! pattern as in Azure: regardless of case, `*` standing for any run of
//! characters (slashes included).

use serde::Deserialize;
use std::sync::OnceLock;

/// The Owner role's GUID.
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// The Contributor role's GUID.
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// The Reader role's GUID.
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// The Backup Contributor role's GUID.
pub const BACKUP_CONTRIBUTOR: &str = "5e467623-bb1f-42f4-a55d-6e525e11384b";
/// The Backup Operator role's GUID.
pub const BACKUP_OPERATOR: &str = "00c29273-979b-4161-815c-10b084fb9324";
/// The Backup Reader role's GUID.
pub const BACKUP_READER: &str = "a795c7a0-d4a2-40c1-ae25-d81f01202912";
/// rsvault's role for hypervisor-host agents (not one of Azure's).
pub const BACKUP_AGENT: &str = "6f3c1d52-8a4e-4b7a-9d2f-5c0e7b1a9e41";

/// One block of a role's permissions (ARM's model).
pub use rsvault_arm::authorization::Permission;

/// A role definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    /// Its GUID (lower case).
    pub id: String,
    pub role_name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
    /// Where its actions were copied from (Azure's roles).
    #[serde(default)]
    pub source: String,
}

impl RoleDefinition {
    /// Whether the role allows `action`: some block has an action that
    /// matches it and no not-action that does.
    pub fn allows(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| {
            p.actions.iter().any(|a| matches(a, action))
                && !p.not_actions.iter().any(|a| matches(a, action))
        })
    }
}

/// The agent role: what an agent on a hypervisor host does (report its
/// VMs and disks, read the vaults and items it backs up, follow and run
/// the jobs given to it, write new backups), and nothing that removes or
/// weakens a backup: no deletes, no policy, vault or role changes, no
/// restores.
fn agent_role() -> RoleDefinition {
    let actions = [
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Compute/virtualMachines/instanceView/read",
        "Microsoft.Compute/disks/read",
        "Microsoft.Compute/disks/write",
        "Microsoft.RecoveryServices/Vaults/read",
        "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
        "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action",
        "Microsoft.RecoveryServices/Vaults/backupJobs/read",
        "Microsoft.RecoveryServices/Vaults/backupOperations/read",
        "Microsoft.RecoveryServices/Vaults/backupOperationResults/read",
    ];
    RoleDefinition {
        id: BACKUP_AGENT.into(),
        role_name: "rsvault Backup Agent".into(),
        description: "For the agent on a hypervisor host: reports the host's VMs and disks, runs the backups given to it and writes new recovery points. It cannot delete, restore, or change vaults, policies or roles.".into(),
        permissions: vec![Permission {
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            ..Default::default()
        }],
        source: "rsvault".into(),
    }
}

/// Every built-in role: Azure's, then rsvault's.
pub fn builtin() -> &'static [RoleDefinition] {
    static ROLES: OnceLock<Vec<RoleDefinition>> = OnceLock::new();
    ROLES.get_or_init(|| {
        let mut roles: Vec<RoleDefinition> =
            serde_json::from_str(include_str!("azure-builtin-roles.json"))
                .expect("the built-in role definitions parse");
        roles.push(agent_role());
        roles
    })
}

/// A built-in role by GUID (in any case).
pub fn by_id(id: &str) -> Option<&'static RoleDefinition> {
    builtin().iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// A built-in role by name (in any case).
pub fn by_name(name: &str) -> Option<&'static RoleDefinition> {
    builtin()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}

/// Whether `action` matches `pattern`: regardless of case, `*` standing
/// for any run of characters. No allocation: it runs for every pattern of
/// every role on every request.
pub fn matches(pattern: &str, action: &str) -> bool {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        if needle.is_empty() {
            return Some(0);
        }
        hay.windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle))
    }
    let (p, mut rest) = (pattern.as_bytes(), action.as_bytes());
    let mut parts = p.split(|&b| b == b'*');
    let first = parts.next().unwrap_or_default();
    if rest.len() < first.len() || !rest[..first.len()].eq_ignore_ascii_case(first) {
        return false;
    }
    rest = &rest[first.len()..];
    let Some(mut part) = parts.next() else {
        // No `*`: the whole action.
        return rest.is_empty();
    };
    for next in parts {
        match find(rest, part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
        part = next;
    }
    // The last part ends the action.
    rest.len() >= part.len() && rest[rest.len() - part.len()..].eq_ignore_ascii_case(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_in_azure() {
        let table = [
            ("*", "Microsoft.RecoveryServices/Vaults/delete", true),
            ("*/read", "Microsoft.RecoveryServices/Vaults/read", true),
            ("*/read", "Microsoft.RecoveryServices/Vaults/write", false),
            ("*/read", "read", false),
            (
                "Microsoft.DataProtection/*/action",
                "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/disableSoftDeleteRequests/action",
                true,
            ),
            (
                "Microsoft.DataProtection/*/action",
                "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/read",
                false,
            ),
            ("a*b*c", "AxxBxxC", true),
            ("a*b*c", "AxxCxxB", false),
            ("a*a", "a", false),
            (
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/roleAssignments/write",
                true,
            ),
            (
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/write",
                false,
            ),
            (
                "Microsoft.RecoveryServices/Vaults/backupJobs/*",
                "microsoft.recoveryservices/vaults/backupjobs/cancel/action",
                true,
            ),
            (
                "Microsoft.RecoveryServices/Vaults/backupJobs/*",
                "Microsoft.RecoveryServices/Vaults/backupJobsExport/action",
                false,
            ),
            (
                "Microsoft.RecoveryServices/Vaults/read",
                "Microsoft.RecoveryServices/vaults/READ",
                true,
            ),
            (
                "Microsoft.RecoveryServices/Vaults/read",
                "Microsoft.RecoveryServices/Vaults/read/x",
                false,
            ),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("a*a", "a", false),
        ];
        for (pattern, action, want) in table {
            assert_eq!(matches(pattern, action), want, "{pattern} ~ {action}");
        }
    }

    #[test]
    fn built_in_roles_are_azure_s() {
        let names: Vec<&str> = builtin().iter().map(|r| r.role_name.as_str()).collect();
        for n in [
            "Owner",
            "Contributor",
            "Reader",
            "Backup Contributor",
            "Backup Operator",
            "Backup Reader",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
        assert_eq!(
            by_name("backup operator").map(|r| r.id.as_str()),
            Some(BACKUP_OPERATOR)
        );
        assert_eq!(
            by_id(&OWNER.to_uppercase()).map(|r| r.role_name.as_str()),
            Some("Owner")
        );
        let contributor = by_id(CONTRIBUTOR).unwrap();
        assert!(contributor.allows("Microsoft.RecoveryServices/Vaults/delete"));
        assert!(!contributor.allows("Microsoft.Authorization/roleAssignments/write"));
        let operator = by_id(BACKUP_OPERATOR).unwrap();
        assert!(operator.allows("Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action"));
        assert!(!operator.allows("Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete"));
        assert!(!operator.allows("Microsoft.RecoveryServices/Vaults/backupPolicies/write"));
        let agent = by_id(BACKUP_AGENT).unwrap();
        assert!(builtin().iter().all(|r| r.id == r.id.to_ascii_lowercase()));
        assert!(!agent.allows("Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete"));
        assert!(!agent.allows("Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/restore/action"));
    }
}

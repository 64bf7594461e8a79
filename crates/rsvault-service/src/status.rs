//! Subscription-level lookups Azure's clients make: which vault protects a
//! VM (`backupStatus`), and the subscription's resource groups.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::VmProvider;
use crate::protection::ItemName;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

/// Vault subscription, group and name; policy; state; VM name; soft delete.
type ProtectionRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// `(provider, subscription, resource group, name)` of a VM id.
fn parse_vm_id(id: &str) -> Option<(VmProvider, String, String, String)> {
    let seg: Vec<&str> = id.trim_matches('/').split('/').collect();
    match seg.as_slice() {
        [s, sub, r, rg, p, ns, v, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && v.eq_ignore_ascii_case("virtualMachines") =>
        {
            let provider = if ns.eq_ignore_ascii_case("Microsoft.ClassicCompute") {
                VmProvider::ClassicCompute
            } else if ns.eq_ignore_ascii_case("Microsoft.Compute") {
                VmProvider::Compute
            } else {
                return None;
            };
            Some((provider, sub.to_string(), rg.to_string(), name.to_string()))
        }
        _ => None,
    }
}

impl Service {
    /// `POST …/locations/{region}/backupStatus`: whether a VM is protected,
    /// and by which vault and policy.
    pub fn backup_status(&self, subscription: &str, body: &Value) -> Result<Value> {
        let id = body["resourceId"].as_str().unwrap_or("");
        let ty = body["resourceType"].as_str().unwrap_or("VM");
        if !ty.eq_ignore_ascii_case("VM") {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!("resourceType '{ty}' is not supported; use VM"),
            ));
        }
        let (provider, sub, rg, name) = parse_vm_id(id).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!("resourceId '{id}' is not the id of a virtual machine"),
            )
        })?;
        if !sub.eq_ignore_ascii_case(subscription) {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                "resourceId is in another subscription",
            ));
        }
        let row: Option<ProtectionRow> = self
            .db
            .conn()
            .query_row(
                "SELECT v.subscription, v.resource_group, v.name, pi.policy, pi.state, pi.vm_name, pi.deferred_delete
                 FROM protected_items pi JOIN vaults v ON pi.vault = v.id
                 WHERE pi.provider = ?1 AND pi.vm_subscription = ?2 COLLATE NOCASE
                   AND pi.vm_resource_group = ?3 COLLATE NOCASE AND pi.vm_name = ?4 COLLATE NOCASE",
                params![provider.key(), sub, rg, name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()?;
        Ok(match row {
            None => json!({"protectionStatus": "NotProtected", "fabricName": "Azure"}),
            Some((vsub, vrg, vname, policy, state, vm, deferred)) => {
                let n = ItemName {
                    provider,
                    resource_group: rg,
                    vm,
                };
                let status = match (state.as_str(), deferred.is_some()) {
                    (_, true) => "SoftDeleted",
                    ("ProtectionStopped", _) => "ProtectionStopped",
                    _ => "Protected",
                };
                json!({
                    "protectionStatus": status,
                    "vaultId": format!("/subscriptions/{vsub}/resourceGroups/{vrg}/providers/Microsoft.RecoveryServices/vaults/{vname}"),
                    "fabricName": "Azure", "containerName": n.container(), "protectedItemName": n.item(),
                    "policyName": policy, "registrationStatus": "Registered",
                })
            }
        })
    }

    /// The subscriptions that hold anything.
    pub fn list_subscriptions(&self) -> Result<Vec<Value>> {
        let conn = self.db.conn();
        let mut st = conn.prepare(
            "SELECT subscription FROM vaults UNION SELECT subscription FROM vms UNION SELECT subscription FROM disks ORDER BY 1",
        )?;
        let subs: Vec<String> = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(subs
            .into_iter()
            .map(|s| {
                json!({"id": format!("/subscriptions/{s}"), "subscriptionId": s, "displayName": s,
                "state": "Enabled", "tenantId": "00000000-0000-0000-0000-000000000000"})
            })
            .collect())
    }

    /// The resource groups of a subscription: every group that holds a
    /// vault, a VM or a disk (groups exist implicitly here).
    pub fn list_resource_groups(&self, subscription: &str) -> Result<Vec<Value>> {
        let conn = self.db.conn();
        let mut st = conn.prepare(
            "SELECT resource_group, min(location) FROM (
                SELECT resource_group, location FROM vaults WHERE subscription = ?1 COLLATE NOCASE
                UNION ALL SELECT resource_group, location FROM vms WHERE subscription = ?1 COLLATE NOCASE
                UNION ALL SELECT resource_group, location FROM disks WHERE subscription = ?1 COLLATE NOCASE)
             GROUP BY lower(resource_group) ORDER BY lower(resource_group)",
        )?;
        let rows: Vec<(String, String)> = st
            .query_map(params![subscription], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .into_iter()
            .map(|(rg, loc)| {
                json!({"id": format!("/subscriptions/{subscription}/resourceGroups/{rg}"), "name": rg,
                    "type": "Microsoft.Resources/resourceGroups", "location": loc,
                    "properties": {"provisioningState": "Succeeded"}})
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_ids() {
        assert_eq!(
            parse_vm_id(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
            ),
            Some((VmProvider::Compute, "s".into(), "rg".into(), "vm".into()))
        );
        assert_eq!(
            parse_vm_id("/subscriptions/s/resourcegroups/rg/providers/microsoft.classiccompute/virtualmachines/vm")
                .map(|v| v.0),
            Some(VmProvider::ClassicCompute)
        );
        assert!(
            parse_vm_id(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/virtualMachines/vm"
            )
            .is_none()
        );
        assert!(parse_vm_id("vm").is_none());
    }
}

//! Subscription-level lookups Azure's clients make: which vault protects a
//! VM (`backupStatus`), and the subscription's resource groups.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::VmProvider;
use crate::protection::ItemName;
use rsvault_arm::Resource;
use rsvault_arm::tenancy::{
    BackupStatusRequest, BackupStatusResponse, ResourceGroup, ResourceGroupProperties, Subscription,
};

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
    pub fn backup_status(
        &self,
        subscription: &str,
        body: &BackupStatusRequest,
    ) -> Result<BackupStatusResponse> {
        let id = body.resource_id.as_deref().unwrap_or("");
        let ty = body.resource_type.as_deref().unwrap_or("VM");
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
        let vm_ref = crate::inventory::ResourceRef {
            subscription: sub,
            resource_group: rg.clone(),
            name,
        };
        let row = match self.meta.item_for_vm(provider, &vm_ref)? {
            Some(it) => self.meta.vault_by_id(it.vault)?.map(|v| {
                (
                    v.vref.subscription,
                    v.vref.resource_group,
                    v.vref.name,
                    it.policy,
                    it.state,
                    it.vm.name,
                    it.deferred_delete,
                )
            }),
            None => None,
        };
        Ok(match row {
            None => BackupStatusResponse {
                protection_status: Some("NotProtected".into()),
                fabric_name: Some("Azure".into()),
                ..Default::default()
            },
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
                BackupStatusResponse {
                    protection_status: Some(status.into()),
                    vault_id: Some(format!(
                        "/subscriptions/{vsub}/resourceGroups/{vrg}/providers/Microsoft.RecoveryServices/vaults/{vname}"
                    )),
                    fabric_name: Some("Azure".into()),
                    container_name: Some(n.container()),
                    protected_item_name: Some(n.item()),
                    policy_name: Some(policy),
                    registration_status: Some("Registered".into()),
                    ..Default::default()
                }
            }
        })
    }

    /// The subscriptions a principal holds a role in: those that hold a
    /// vault, a VM or a disk, and those its role assignments name.
    pub fn subscriptions_of(
        &self,
        access: &crate::identity::rbac::Access,
        tenant: &str,
    ) -> Result<Vec<Subscription>> {
        let mut subs = self.meta.subscriptions()?;
        subs.extend(access.subscriptions());
        if access.grants.iter().any(|g| g.scope == "/") {
            // A principal over the whole server also sees the subscriptions
            // that only role assignments name so far.
            let all = crate::identity::rbac::Access::of(&self.meta.list_role_assignments()?);
            subs.extend(all.subscriptions());
        }
        subs.sort_by_key(|s| s.to_ascii_lowercase());
        subs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        subs.retain(|s| access.in_subscription(s));
        if subs.is_empty() && access.grants.iter().any(|g| g.scope == "/") {
            // A principal over the whole server (its host Owner) has a
            // subscription to work in before anything exists.
            subs.push(DEFAULT_SUBSCRIPTION.into());
        }
        Ok(subs.into_iter().map(|s| subscription(s, tenant)).collect())
    }

    /// The resource groups of a subscription: every group that holds a
    /// vault, a VM or a disk (groups exist implicitly here).
    pub fn list_resource_groups(&self, subscription: &str) -> Result<Vec<ResourceGroup>> {
        let rows: Vec<(String, String)> = self
            .meta
            .resource_groups(subscription)?
            .into_iter()
            .map(|g| (g.name, g.location))
            .collect();
        Ok(rows
            .into_iter()
            .map(|(rg, loc)| Resource {
                id: Some(format!("/subscriptions/{subscription}/resourceGroups/{rg}")),
                name: Some(rg),
                kind: Some("Microsoft.Resources/resourceGroups".into()),
                location: Some(loc),
                ..Resource::with_properties(ResourceGroupProperties {
                    provisioning_state: Some("Succeeded".into()),
                    ..Default::default()
                })
            })
            .collect())
    }
}

/// The subscription the CLI and the portal work in when none is named.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

fn subscription(s: String, tenant: &str) -> Subscription {
    Subscription {
        id: Some(format!("/subscriptions/{s}")),
        subscription_id: Some(s.clone()),
        display_name: Some(s),
        state: Some("Enabled".into()),
        tenant_id: Some(tenant.to_owned()),
        ..Default::default()
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

//! A vault's link to a resource guard (`backupResourceGuardProxies/
//! VaultProxy`), `unlockDelete`, and the checks the vault, policy and
//! protection use cases run before a critical operation.

use super::guards::{display_id, exclusions};
use super::{Approval, Critical, READ_GUARD, UNAPPROVED, UNLOCK_MINUTES};
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{GuardProxyRecord, ResourceGuardRecord};
use crate::vault::{VaultRef, VaultRow};
use rsvault_arm::guard::{
    ResourceGuardOperationDetail, ResourceGuardProxyProperties, ResourceGuardProxyResource,
    UnlockDeleteRequest, UnlockDeleteResponse,
};

/// The one link a vault has.
pub const PROXY_NAME: &str = "VaultProxy";
const PROXY_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies";

fn proxy_id(v: &VaultRef) -> String {
    format!("{}/backupResourceGuardProxies/{PROXY_NAME}", v.id())
}

fn check_proxy_name(name: &str) -> Result<()> {
    if name.eq_ignore_ascii_case(PROXY_NAME) {
        Ok(())
    } else {
        Err(ServiceError::not_found(
            "BMSUserErrorResourceGuardProxyNotFound",
            format!("A vault's resource guard mapping is named '{PROXY_NAME}', not '{name}'."),
        ))
    }
}

fn no_mapping(v: &VaultRef) -> ServiceError {
    ServiceError::not_found(
        "BMSUserErrorResourceGuardProxyNotFound",
        format!("The vault '{}' has no resource guard mapping.", v.name),
    )
}

impl Service {
    /// The vault's link and its guard, if it has one.
    fn linked_guard(&self, vault: i64) -> Result<Option<(GuardProxyRecord, ResourceGuardRecord)>> {
        let Some(p) = self.meta.guard_proxy(vault)? else {
            return Ok(None);
        };
        let g = self.meta.resource_guard(&p.guard)?.ok_or_else(|| {
            ServiceError::Internal(format!("the linked resource guard {} is missing", p.guard))
        })?;
        Ok(Some((p, g)))
    }

    fn proxy_view(
        &self,
        v: &VaultRef,
        p: &GuardProxyRecord,
        g: &ResourceGuardRecord,
    ) -> ResourceGuardProxyResource {
        let gid = display_id(g);
        let excluded = exclusions(g);
        let details = Critical::ALL
            .into_iter()
            .filter(|op| super::guards(&excluded, *op))
            .map(|op| ResourceGuardOperationDetail {
                vault_critical_operation: op.operation().to_owned(),
                default_resource_request: super::default_request(&gid, op),
                extra: Default::default(),
            })
            .collect();
        let mut r = ResourceGuardProxyResource::with_properties(ResourceGuardProxyProperties {
            resource_guard_resource_id: Some(gid),
            last_updated_time: Some(p.updated.clone()),
            description: p.description.clone(),
            resource_guard_operation_details: Some(details),
            extra: Default::default(),
        });
        r.id = Some(proxy_id(v));
        r.name = Some(PROXY_NAME.into());
        r.kind = Some(PROXY_TYPE.into());
        r
    }

    /// The vault's links (none or one), as `az` lists them before every
    /// guarded command.
    pub fn list_guard_proxies(&self, v: &VaultRef) -> Result<Vec<ResourceGuardProxyResource>> {
        let vault = self.vault_row(v)?;
        Ok(self
            .linked_guard(vault.rowid)?
            .map(|(p, g)| self.proxy_view(v, &p, &g))
            .into_iter()
            .collect())
    }

    pub fn get_guard_proxy(&self, v: &VaultRef, name: &str) -> Result<ResourceGuardProxyResource> {
        check_proxy_name(name)?;
        let vault = self.vault_row(v)?;
        let (p, g) = self
            .linked_guard(vault.rowid)?
            .ok_or_else(|| no_mapping(v))?;
        Ok(self.proxy_view(v, &p, &g))
    }

    /// Links the vault to a guard in its region, which the caller may read.
    /// A vault linked to another guard is unlinked first (a critical
    /// operation of its own).
    pub fn put_guard_proxy(
        &self,
        v: &VaultRef,
        name: &str,
        body: ResourceGuardProxyResource,
        approval: &Approval,
    ) -> Result<ResourceGuardProxyResource> {
        check_proxy_name(name)?;
        let vault = self.vault_row(v)?;
        let props = body.properties;
        let gid = props.resource_guard_resource_id.unwrap_or_default();
        if gid.is_empty() {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                "properties.resourceGuardResourceId: name the resource guard's ARM id.",
            ));
        }
        let g = self.meta.resource_guard(&gid)?.ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorResourceGuardNotFound",
                format!("properties.resourceGuardResourceId: there is no resource guard '{gid}'."),
            )
        })?;
        if !approval.may(READ_GUARD, &display_id(&g)) {
            return Err(ServiceError::forbidden(
                UNAPPROVED,
                format!(
                    "The client '{}' does not have permission to perform action '{READ_GUARD}' on the linked scope '{gid}': linking a vault to a resource guard needs the Reader role on the guard.",
                    approval.caller
                ),
            ));
        }
        if !g.location.eq_ignore_ascii_case(&vault.location) {
            return Err(ServiceError::bad_request(
                "BMSUserErrorResourceGuardLocationMismatch",
                format!(
                    "The resource guard is in '{}' and the vault in '{}': a vault links to a guard of its own region.",
                    g.location, vault.location
                ),
            ));
        }
        if let Some((p, _)) = self.linked_guard(vault.rowid)?
            && !p.guard.eq_ignore_ascii_case(&g.id)
        {
            return Err(ServiceError::conflict(
                "BMSUserErrorResourceGuardProxyExists",
                "The vault is linked to another resource guard: remove that mapping first (a critical operation its guard approves).",
            ));
        }
        let record = GuardProxyRecord {
            vault: vault.rowid,
            guard: g.id.clone(),
            description: props.description,
            updated: self.now().to_string(),
        };
        if !self.meta.set_guard_proxy(&record)? {
            return Err(ServiceError::conflict(
                "BMSUserErrorResourceGuardNotFound",
                "The resource guard was deleted meanwhile.",
            ));
        }
        tracing::info!(vault = %v.id(), guard = %gid, "vault linked to a resource guard");
        Ok(self.proxy_view(v, &record, &g))
    }

    /// Unlinks the vault from its guard: the guard must have approved it
    /// through `unlockDelete` first.
    pub fn delete_guard_proxy(&self, v: &VaultRef, name: &str) -> Result<()> {
        check_proxy_name(name)?;
        let vault = self.vault_row(v)?;
        if self.linked_guard(vault.rowid)?.is_none() {
            return Err(no_mapping(v));
        }
        self.approve_delete(&vault, Critical::DeleteProxy, &proxy_id(v))?;
        self.meta.delete_guard_proxy(vault.rowid)?;
        tracing::info!(vault = %v.id(), "resource guard mapping removed");
        Ok(())
    }

    /// Approves one delete (of a protected item, or of the mapping itself)
    /// for [`UNLOCK_MINUTES`] minutes, when the guard approves it.
    pub fn unlock_delete(
        &self,
        v: &VaultRef,
        name: &str,
        body: UnlockDeleteRequest,
        approval: &Approval,
    ) -> Result<UnlockDeleteResponse> {
        check_proxy_name(name)?;
        let vault = self.vault_row(v)?;
        let (_, g) = self
            .linked_guard(vault.rowid)?
            .ok_or_else(|| no_mapping(v))?;
        let (op, resource) = match body.resource_to_be_deleted {
            Some(r) if r.to_ascii_lowercase().contains("/protecteditems/") => {
                (Critical::DeleteProtectedItem, r)
            }
            Some(r) if !r.eq_ignore_ascii_case(&proxy_id(v)) => {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "resourceToBeDeleted: '{r}' is neither a protected item of the vault nor its resource guard mapping."
                    ),
                ));
            }
            _ => (Critical::DeleteProxy, proxy_id(v)),
        };
        let approval =
            approval.with_requests(body.resource_guard_operation_requests.unwrap_or_default());
        super::check(&display_id(&g), &exclusions(&g), op, &approval)?;
        let expires = self
            .now()
            .checked_add(jiff::SignedDuration::from_mins(UNLOCK_MINUTES))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.meta
            .grant_unlock(vault.rowid, &resource, expires.as_millisecond())?;
        tracing::info!(vault = %v.id(), resource, "delete unlocked by the resource guard");
        Ok(UnlockDeleteResponse {
            unlock_delete_expiry_time: expires.to_string(),
            extra: Default::default(),
        })
    }

    /// Checks a critical operation of a vault against its guard, if it is
    /// linked to one.
    pub(crate) fn approve(
        &self,
        vault: &VaultRow,
        op: Critical,
        approval: &Approval,
    ) -> Result<()> {
        match self.linked_guard(vault.rowid)? {
            None => Ok(()),
            Some((_, g)) => super::check(&display_id(&g), &exclusions(&g), op, approval),
        }
    }

    /// Checks a guarded delete: the guard must have unlocked `resource`
    /// (which the delete uses up).
    pub(crate) fn approve_delete(
        &self,
        vault: &VaultRow,
        op: Critical,
        resource: &str,
    ) -> Result<()> {
        let Some((_, g)) = self.linked_guard(vault.rowid)? else {
            return Ok(());
        };
        if !super::guards(&exclusions(&g), op) {
            return Ok(());
        }
        let now = self.now().as_millisecond();
        if self.meta.take_unlock(vault.rowid, resource, now)? {
            return Ok(());
        }
        Err(ServiceError::forbidden(
            UNAPPROVED,
            format!(
                "The vault is protected by the resource guard '{}': {} is a critical operation. Unlock it first with POST {}/unlockDelete naming '{}' (az does this by itself); an unlock serves one delete within {UNLOCK_MINUTES} minutes.",
                display_id(&g),
                op.describe(),
                proxy_id(&vault.vref),
                super::default_request(&display_id(&g), op)
            ),
        ))
    }

    /// Whether the vault is linked to a resource guard.
    pub(crate) fn mua_enabled(&self, vault: i64) -> Result<bool> {
        Ok(self.meta.guard_proxy(vault)?.is_some())
    }
}

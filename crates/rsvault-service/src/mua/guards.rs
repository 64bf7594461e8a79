//! Resource guards: create or update, read, list and delete, and their
//! operation request objects (`…/{requestType}/default`).

use super::{Critical, GUARD_TYPE};
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{GuardDeletion, ResourceGuardRecord};
use rsvault_arm::guard::{
    DppBaseResource, ResourceGuardOperation, ResourceGuardProperties, ResourceGuardResource,
};

/// Names a resource guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl GuardRef {
    /// Its ARM id, in the caller's casing.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{GUARD_TYPE}/{}",
            self.subscription, self.resource_group, self.name
        )
    }

    fn of(r: &ResourceGuardRecord) -> GuardRef {
        GuardRef {
            subscription: r.subscription.clone(),
            resource_group: r.resource_group.clone(),
            name: r.name.clone(),
        }
    }
}

/// The code of an exclusion list a guard cannot have.
const BAD_EXCLUSIONS: &str = "BMSUserErrorInvalidCriticalOperationExclusionList";

/// The exclusions a stored guard holds.
pub(crate) fn exclusions(r: &ResourceGuardRecord) -> Vec<String> {
    serde_json::from_str(&r.exclusions).unwrap_or_default()
}

/// A stored guard's id, in its creator's casing.
pub(crate) fn display_id(r: &ResourceGuardRecord) -> String {
    GuardRef::of(r).id()
}

fn not_found(g: &GuardRef) -> ServiceError {
    ServiceError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{GUARD_TYPE}/{}' under resource group '{}' was not found.",
            g.name, g.resource_group
        ),
    )
}

fn check_name(name: &str) -> Result<()> {
    let ok = (3..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "InvalidResourceName",
            format!(
                "The resource guard name '{name}' is invalid: use 3 to 64 letters, digits, '-' or '_'."
            ),
        ))
    }
}

/// The exclusions a PUT asks for, in canonical spelling: known operations
/// only, never a mandatory one.
fn canonical_exclusions(asked: Option<Vec<String>>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for e in asked.unwrap_or_default() {
        let op = Critical::from_operation(&e).ok_or_else(|| {
            ServiceError::bad_request(
                BAD_EXCLUSIONS,
                format!(
                    "properties.vaultCriticalOperationExclusionList: '{e}' is not a critical operation a resource guard guards."
                ),
            )
        })?;
        if op.mandatory() {
            return Err(ServiceError::bad_request(
                BAD_EXCLUSIONS,
                format!(
                    "properties.vaultCriticalOperationExclusionList: '{}' ({}) is always guarded and cannot be excluded.",
                    op.operation(),
                    op.describe()
                ),
            ));
        }
        if !out.iter().any(|o| o == op.operation()) {
            out.push(op.operation().to_owned());
        }
    }
    Ok(out)
}

fn view(r: &ResourceGuardRecord) -> ResourceGuardResource {
    let excluded = exclusions(r);
    let operations = Critical::ALL
        .into_iter()
        .filter(|op| super::guards(&excluded, *op))
        .map(|op| ResourceGuardOperation {
            vault_critical_operation: op.operation().to_owned(),
            request_resource_type: format!("{GUARD_TYPE}/{}", op.request_type()),
            extra: Default::default(),
        })
        .collect();
    let mut g = ResourceGuardResource::with_properties(ResourceGuardProperties {
        provisioning_state: Some("Succeeded".into()),
        allow_auto_approvals: Some(false),
        description: r.description.clone(),
        vault_critical_operation_exclusion_list: Some(excluded),
        resource_guard_operations: Some(operations),
        extra: Default::default(),
    });
    g.id = Some(display_id(r));
    g.name = Some(r.name.clone());
    g.kind = Some(GUARD_TYPE.into());
    g.location = Some(r.location.clone());
    g.tags = Some(serde_json::from_str(&r.tags).unwrap_or_default());
    g
}

impl Service {
    /// Creates or updates a resource guard; true when created.
    pub fn put_resource_guard(
        &self,
        g: &GuardRef,
        body: ResourceGuardResource,
    ) -> Result<(ResourceGuardResource, bool)> {
        check_name(&g.name)?;
        let location = body.location.clone().unwrap_or_default();
        crate::names::check_location(&location, GUARD_TYPE)?;
        let existing = self.meta.resource_guard(&g.id())?;
        if let Some(e) = &existing
            && !e.location.eq_ignore_ascii_case(&location)
        {
            return Err(ServiceError::bad_request(
                "InvalidResourceLocation",
                format!(
                    "The resource '{}' already exists in location '{}'; a resource guard cannot move to '{location}'.",
                    g.name, e.location
                ),
            ));
        }
        let props = body.properties;
        let now = self.now().to_string();
        let record = ResourceGuardRecord {
            id: g.id(),
            subscription: g.subscription.clone(),
            resource_group: g.resource_group.clone(),
            name: g.name.clone(),
            location: existing.as_ref().map_or(location, |e| e.location.clone()),
            tags: serde_json::to_string(&body.tags.unwrap_or_default())
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            description: props.description,
            exclusions: serde_json::to_string(&canonical_exclusions(
                props.vault_critical_operation_exclusion_list,
            )?)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
            created: existing.map_or_else(|| now.clone(), |e| e.created),
            updated: now,
        };
        let created = self.meta.put_resource_guard(&record)?;
        tracing::info!(guard = %g.id(), created, "resource guard saved");
        Ok((self.get_resource_guard(g)?, created))
    }

    pub fn get_resource_guard(&self, g: &GuardRef) -> Result<ResourceGuardResource> {
        let r = self
            .meta
            .resource_guard(&g.id())?
            .ok_or_else(|| not_found(g))?;
        Ok(view(&r))
    }

    /// The guards of a subscription or of one of its resource groups.
    pub fn list_resource_guards(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<ResourceGuardResource>> {
        Ok(self
            .meta
            .list_resource_guards(subscription, resource_group)?
            .iter()
            .map(view)
            .collect())
    }

    /// Deletes a guard no vault is linked to.
    pub fn delete_resource_guard(&self, g: &GuardRef) -> Result<()> {
        match self.meta.delete_resource_guard(&g.id())? {
            GuardDeletion::Deleted => Ok(()),
            GuardDeletion::NotFound => Err(not_found(g)),
            GuardDeletion::InUse => Err(ServiceError::conflict(
                "UserErrorResourceGuardInUse",
                format!(
                    "A vault is linked to the resource guard '{}': remove the vault's resource guard mapping first (a critical operation the guard approves).",
                    g.name
                ),
            )),
        }
    }

    /// A guard's request object for a critical operation (`name` is
    /// `default`, the only one).
    pub fn guard_request(
        &self,
        g: &GuardRef,
        request_type: &str,
        name: &str,
    ) -> Result<DppBaseResource> {
        let r = self
            .meta
            .resource_guard(&g.id())?
            .ok_or_else(|| not_found(g))?;
        let op = Critical::from_request_type(request_type)
            .filter(|_| name.eq_ignore_ascii_case("default"))
            .ok_or_else(|| {
                ServiceError::not_found(
                    "ResourceNotFound",
                    format!(
                        "The resource guard '{}' has no request '{request_type}/{name}'.",
                        g.name
                    ),
                )
            })?;
        Ok(DppBaseResource {
            id: super::default_request(&display_id(&r), op),
            name: "default".into(),
            kind: format!("{GUARD_TYPE}/{}", op.request_type()),
            extra: Default::default(),
        })
    }
}

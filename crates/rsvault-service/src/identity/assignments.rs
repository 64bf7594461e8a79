//! Role assignments (`Microsoft.Authorization/roleAssignments`): made,
//! read, listed and deleted at a scope, with Azure's checks and errors.

use super::rbac::{covers, normalize, valid_scope};
use super::roles::{self, RoleDefinition};
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{MetaError, RoleAssignmentRecord};

/// What a role assignment PUT asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub scope: String,
    pub name: String,
    /// The role definition's id: a full id or a GUID.
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: Option<String>,
    pub description: Option<String>,
}

/// Which assignments a list asks for (`$filter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentFilter {
    /// No filter: at, above and below the scope.
    All,
    /// `atScope()`: at the scope and above it.
    AtScope,
    /// `principalId eq '…'` or `assignedTo('…')`: the principal's, at,
    /// above and below the scope.
    Principal(String),
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// The role a definition id names: `…/roleDefinitions/{guid}` or a GUID.
pub fn role_of(id: &str) -> Result<&'static RoleDefinition> {
    let guid = id.rsplit('/').next().unwrap_or(id);
    roles::by_id(guid).ok_or_else(|| {
        ServiceError::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{guid}' does not exist."),
        )
    })
}

/// A scope as assignments may name it, or Azure's error.
pub fn check_scope(scope: &str) -> Result<String> {
    if !valid_scope(scope) {
        return Err(ServiceError::bad_request(
            "InvalidRoleAssignmentScope",
            format!(
                "The scope '{scope}' is not valid for a role assignment: it is '/', a subscription, a resource group or a resource id."
            ),
        ));
    }
    Ok(normalize(scope))
}

fn not_found(name: &str) -> ServiceError {
    ServiceError::not_found(
        "RoleAssignmentNotFound",
        format!("The role assignment '{name}' is not found."),
    )
}

impl Service {
    /// Makes a role assignment (`created_by`: the caller's object id).
    pub fn create_role_assignment(
        &self,
        new: &NewAssignment,
        created_by: &str,
    ) -> Result<(RoleAssignmentRecord, bool)> {
        let scope = check_scope(&new.scope)?;
        if !is_guid(&new.name) {
            return Err(ServiceError::bad_request(
                "InvalidRoleAssignmentId",
                format!(
                    "The role assignment ID '{}' is not valid. The role assignment ID must be a GUID.",
                    new.name
                ),
            ));
        }
        let role = role_of(&new.role_definition_id)?;
        let Some(principal) = self.meta.find_principal(&new.principal_id)? else {
            return Err(ServiceError::bad_request(
                "PrincipalNotFound",
                format!(
                    "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.",
                    new.principal_id,
                    self.tenant_hint()
                ),
            ));
        };
        let record = RoleAssignmentRecord {
            name: new.name.to_ascii_lowercase(),
            scope: scope.clone(),
            role_definition: role.id.clone(),
            principal: principal.object_id.clone(),
            principal_type: new
                .principal_type
                .clone()
                .unwrap_or_else(|| match principal.kind {
                    crate::metastore::PrincipalKind::User => "User".into(),
                    _ => "ServicePrincipal".into(),
                }),
            description: new.description.clone(),
            created: self.now().to_string(),
            created_by: created_by.to_owned(),
        };
        if let Some(old) = self.meta.find_role_assignment(&new.name)? {
            let same = covers(&old.scope, &scope)
                && covers(&scope, &old.scope)
                && old.role_definition == record.role_definition
                && old.principal == record.principal;
            return if same {
                Ok((old, false))
            } else {
                Err(ServiceError::conflict(
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                ))
            };
        }
        match self.meta.insert_role_assignment(&record) {
            Ok(()) => Ok((record, true)),
            Err(MetaError::Duplicate(_)) => Err(ServiceError::conflict(
                "RoleAssignmentExists",
                "The role assignment already exists.",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A role assignment by name, if it is at `scope`.
    pub fn role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignmentRecord> {
        let scope = check_scope(scope)?;
        match self.meta.find_role_assignment(name)? {
            Some(a) if covers(&a.scope, &scope) && covers(&scope, &a.scope) => Ok(a),
            _ => Err(not_found(name)),
        }
    }

    /// A role assignment by name wherever it is.
    pub fn role_assignment_by_name(&self, name: &str) -> Result<RoleAssignmentRecord> {
        self.meta
            .find_role_assignment(name)?
            .ok_or_else(|| not_found(name))
    }

    /// Deletes a role assignment at `scope`; `None` when there was none.
    /// The last assignment of Owner at `/` cannot be deleted.
    pub fn delete_role_assignment(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<Option<RoleAssignmentRecord>> {
        let a = match self.role_assignment(scope, name) {
            Ok(a) => a,
            Err(ServiceError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let owners = self.root_owners()?;
        if owners.len() == 1 && owners[0].name == a.name {
            return Err(ServiceError::conflict(
                "LastOwner",
                "This is the last assignment of the Owner role at scope '/': deleting it would leave nobody able to manage this server. Assign Owner at '/' to another principal first.",
            ));
        }
        Ok(self.meta.delete_role_assignment(&a.name)?)
    }

    /// The role assignments a list at `scope` shows.
    pub fn role_assignments(
        &self,
        scope: &str,
        filter: &AssignmentFilter,
    ) -> Result<Vec<RoleAssignmentRecord>> {
        let scope = normalize(scope);
        let all = self.meta.list_role_assignments()?;
        Ok(all
            .into_iter()
            .filter(|a| match filter {
                AssignmentFilter::AtScope => covers(&a.scope, &scope),
                AssignmentFilter::All => covers(&a.scope, &scope) || covers(&scope, &a.scope),
                AssignmentFilter::Principal(p) => {
                    a.principal.eq_ignore_ascii_case(p)
                        && (covers(&a.scope, &scope) || covers(&scope, &a.scope))
                }
            })
            .collect())
    }

    /// The tenant named in directory errors.
    fn tenant_hint(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("identity/tenant"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    }
}

/// Reads a list's `$filter` on role assignments.
pub fn parse_filter(filter: &str) -> Result<AssignmentFilter> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(AssignmentFilter::All);
    }
    if f.eq_ignore_ascii_case("atScope()") {
        return Ok(AssignmentFilter::AtScope);
    }
    let quoted = |rest: &str| -> Option<String> {
        let r = rest.trim();
        r.strip_prefix('\'')?.strip_suffix('\'').map(str::to_owned)
    };
    let lower = f.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("principalid eq ") {
        if let Some(p) = quoted(&f[f.len() - rest.len()..]) {
            return Ok(AssignmentFilter::Principal(p));
        }
    }
    for prefix in ["assignedto(", "atscope() and assignedto("] {
        if let Some(rest) = lower.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')) {
            let start = prefix.len();
            if let Some(p) = quoted(&f[start..start + rest.len()]) {
                return Ok(AssignmentFilter::Principal(p));
            }
        }
    }
    Err(ServiceError::bad_request(
        "InvalidFilterInQueryString",
        format!(
            "The filter '{filter}' is not supported. Supported filters are atScope(), principalId eq '{{id}}' and assignedTo('{{id}}')."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(parse_filter("").unwrap(), AssignmentFilter::All);
        assert_eq!(
            parse_filter("atScope()").unwrap(),
            AssignmentFilter::AtScope
        );
        assert_eq!(
            parse_filter("principalId eq 'AbC'").unwrap(),
            AssignmentFilter::Principal("AbC".into())
        );
        assert_eq!(
            parse_filter("assignedTo('x-1')").unwrap(),
            AssignmentFilter::Principal("x-1".into())
        );
        assert_eq!(
            parse_filter("atScope() and assignedTo('y')").unwrap(),
            AssignmentFilter::Principal("y".into())
        );
        assert!(parse_filter("roleName eq 'x'").is_err());
        assert!(parse_filter("principalId eq x").is_err());
    }

    #[test]
    fn role_ids_resolve() {
        assert_eq!(role_of("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/00c29273-979b-4161-815c-10b084fb9324").unwrap().role_name, "Backup Operator");
        assert_eq!(
            role_of("8E3AF657-A8FF-443C-A75C-2FE8C4BCB635")
                .unwrap()
                .role_name,
            "Owner"
        );
        assert!(role_of("nope").is_err());
    }
}

//! Role assignments, role definitions and the directory of principals.

use super::reply::{Reply, blocking, json, listed, put};
use crate::AppState;
use crate::arm::ArmError;
use crate::auth::Caller;
use crate::request::ArmRequest as R;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rsvault_arm::authorization::{
    Credential, Principal, ROLE_ASSIGNMENT_TYPE, ROLE_DEFINITION_TYPE, RoleAssignment,
    RoleAssignmentProperties, RoleDefinition, RoleDefinitionProperties,
};
use rsvault_arm::resource::Resource;
use rsvault_service::identity::assignments::{NewAssignment, parse_filter, role_of};
use rsvault_service::identity::roles::{self, RoleDefinition as Role};
use rsvault_service::metastore::{PrincipalKind, PrincipalRecord, RoleAssignmentRecord};
use std::sync::Arc;

/// Whether a request is one of these.
pub fn handles(r: &R) -> bool {
    matches!(
        r,
        R::ListRoleAssignments { .. }
            | R::GetRoleAssignment { .. }
            | R::PutRoleAssignment { .. }
            | R::DeleteRoleAssignment { .. }
            | R::ListRoleDefinitions { .. }
            | R::GetRoleDefinition { .. }
            | R::CreateServicePrincipal { .. }
            | R::CreateUser { .. }
            | R::ListPrincipals
            | R::GetPrincipal { .. }
            | R::DeletePrincipal { .. }
            | R::ResetCredential { .. }
    )
}

/// The subscription a scope is in, if any.
fn subscription_of(scope: &str) -> Option<&str> {
    let mut s = scope.split('/').filter(|s| !s.is_empty());
    match (s.next(), s.next()) {
        (Some(k), Some(sub)) if k.eq_ignore_ascii_case("subscriptions") => Some(sub),
        _ => None,
    }
}

/// A role definition's id as seen from `scope`: subscription-scoped where
/// the scope has a subscription (what `az` compares assignments with).
fn definition_id(scope: &str, guid: &str) -> String {
    match subscription_of(scope) {
        Some(sub) => {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        }
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
    }
}

fn prefix(scope: &str) -> &str {
    if scope == "/" { "" } else { scope }
}

fn assignment(a: RoleAssignmentRecord) -> RoleAssignment {
    let mut r = Resource::with_properties(RoleAssignmentProperties {
        role_definition_id: definition_id(&a.scope, &a.role_definition),
        principal_id: a.principal,
        principal_type: Some(a.principal_type),
        scope: Some(a.scope.clone()),
        description: a.description,
        condition: None,
        condition_version: None,
        created_on: Some(a.created.clone()),
        updated_on: Some(a.created),
        created_by: Some(a.created_by.clone()),
        updated_by: Some(a.created_by),
        extra: Default::default(),
    });
    r.id = Some(format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        prefix(&a.scope),
        a.name
    ));
    r.name = Some(a.name);
    r.kind = Some(ROLE_ASSIGNMENT_TYPE.into());
    r
}

fn definition(scope: &str, role: &Role) -> RoleDefinition {
    let mut r = Resource::with_properties(RoleDefinitionProperties {
        role_name: role.role_name.clone(),
        kind: "BuiltInRole".into(),
        description: role.description.clone(),
        assignable_scopes: vec!["/".into()],
        permissions: role.permissions.clone(),
        extra: Default::default(),
    });
    r.id = Some(definition_id(scope, &role.id));
    r.name = Some(role.id.clone());
    r.kind = Some(ROLE_DEFINITION_TYPE.into());
    r
}

fn principal(p: PrincipalRecord) -> Principal {
    let (odata, kind) = match p.kind {
        PrincipalKind::User => ("#microsoft.graph.user", "User"),
        PrincipalKind::ServicePrincipal => {
            ("#microsoft.graph.servicePrincipal", "ServicePrincipal")
        }
        PrincipalKind::ManagedIdentity => ("#microsoft.graph.servicePrincipal", "ManagedIdentity"),
    };
    Principal {
        id: p.object_id,
        odata_type: odata.into(),
        principal_type: kind.into(),
        display_name: p.display_name,
        app_id: p.app_id,
        user_principal_name: p.user_name,
        created_date_time: p.created,
    }
}

fn credential(p: &PrincipalRecord, password: Option<String>, tenant: &str) -> Credential {
    Credential {
        app_id: p.app_id.clone(),
        user_principal_name: p.user_name.clone(),
        display_name: p.display_name.clone(),
        password,
        tenant: tenant.to_owned(),
        object_id: Some(p.object_id.clone()),
    }
}

/// `roleName eq '…'` (and `type eq 'BuiltInRole'`) on role definitions.
fn definition_filter(filter: &str) -> Result<Option<String>, ArmError> {
    let f = filter.trim();
    if f.is_empty() || f.eq_ignore_ascii_case("type eq 'BuiltInRole'") {
        return Ok(None);
    }
    let lower = f.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("rolename eq ") {
        let raw = &f[f.len() - rest.len()..];
        if let Some(name) = raw
            .trim()
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
        {
            return Ok(Some(name.replace("''", "'")));
        }
    }
    Err(ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidFilterInQueryString",
        format!(
            "The filter '{filter}' is not supported. Supported: roleName eq '{{name}}', type eq 'BuiltInRole'."
        ),
    ))
}

/// Runs one of these requests for `caller`.
pub async fn execute(state: &Arc<AppState>, caller: &Caller, request: R) -> Reply {
    let tenant = state.issuer.tenant().to_owned();
    let me = caller.principal.object_id.clone();
    match request {
        R::ListRoleAssignments { scope, filter } => {
            let f = parse_filter(&filter).map_err(ArmError::from)?;
            listed(
                blocking(state, move |s| s.role_assignments(&scope, &f))
                    .await?
                    .into_iter()
                    .map(assignment)
                    .collect(),
            )
        }
        R::GetRoleAssignment { scope, name } => json(assignment(
            blocking(state, move |s| s.role_assignment(&scope, &name)).await?,
        )),
        R::PutRoleAssignment { scope, name, body } => {
            let p = body.properties;
            let new = NewAssignment {
                scope,
                name,
                role_definition_id: p.role_definition_id,
                principal_id: p.principal_id,
                principal_type: p.principal_type,
                description: p.description,
            };
            let (a, created) =
                blocking(state, move |s| s.create_role_assignment(&new, &me)).await?;
            put(assignment(a), created)
        }
        R::DeleteRoleAssignment { scope, name } => {
            match blocking(state, move |s| s.delete_role_assignment(&scope, &name)).await? {
                Some(a) => json(assignment(a)),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        R::ListRoleDefinitions { scope, filter } => {
            let name = definition_filter(&filter)?;
            let found: Vec<RoleDefinition> = roles::builtin()
                .iter()
                .filter(|r| {
                    name.as_deref()
                        .is_none_or(|n| r.role_name.eq_ignore_ascii_case(n))
                })
                .map(|r| definition(&scope, r))
                .collect();
            listed(found)
        }
        R::GetRoleDefinition { scope, id } => json(definition(
            &scope,
            role_of(&id).map_err(|_| {
                ArmError::new(
                    StatusCode::NOT_FOUND,
                    "RoleDefinitionDoesNotExist",
                    format!("The specified role definition with ID '{id}' does not exist."),
                )
            })?,
        )),
        R::CreateServicePrincipal { body } => {
            let role = match &body.role {
                Some(r) => Some(resolve_role(r)?.id.clone()),
                None => None,
            };
            if role.is_some() && body.scopes.is_empty() {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    "A role needs at least one scope (--scopes).",
                ));
            }
            for scope in &body.scopes {
                // Making a principal with a role is assigning that role.
                if !caller
                    .access
                    .allows("Microsoft.Authorization/roleAssignments/write", scope)
                {
                    return Err(
                        caller.refused("Microsoft.Authorization/roleAssignments/write", scope)
                    );
                }
            }
            let t = tenant.clone();
            let out = blocking(state, move |s| {
                let (p, secret) = s.create_service_principal(&body.display_name)?;
                if let Some(role) = role {
                    for scope in &body.scopes {
                        let new = NewAssignment {
                            scope: scope.clone(),
                            name: rsvault_service::identity::secrets::new_guid(),
                            role_definition_id: role.clone(),
                            principal_id: p.object_id.clone(),
                            principal_type: Some("ServicePrincipal".into()),
                            description: None,
                        };
                        if let Err(e) = s.create_role_assignment(&new, &me) {
                            let _ = s.delete_principal(&p.object_id);
                            return Err(e);
                        }
                    }
                }
                Ok(credential(&p, Some(secret), &t))
            })
            .await?;
            put(out, true)
        }
        R::CreateUser { body } => {
            let out = blocking(state, move |s| {
                let (p, pw) = s.create_user(
                    &body.user_principal_name,
                    &body.display_name,
                    body.password.as_deref(),
                )?;
                Ok(credential(&p, Some(pw), &tenant))
            })
            .await?;
            put(out, true)
        }
        R::ListPrincipals => listed(
            blocking(state, |s| s.principals())
                .await?
                .into_iter()
                .map(principal)
                .collect(),
        ),
        R::GetPrincipal { id } => {
            json(principal(blocking(state, move |s| s.principal(&id)).await?))
        }
        R::DeletePrincipal { id } => {
            blocking(state, move |s| s.delete_principal(&id)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        R::ResetCredential { id, body } => {
            let out = blocking(state, move |s| {
                if let Some(pem) = &body.certificate {
                    let p = s.reset_certificate(&id, pem)?;
                    return Ok(credential(&p, None, &tenant));
                }
                let (p, secret) = s.reset_credential(&id, body.password.as_deref())?;
                Ok(credential(&p, Some(secret), &tenant))
            })
            .await?;
            json(out)
        }
        other => Err(ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("no handler runs {other:?}"),
        )),
    }
}

/// A role by name, GUID or definition id.
fn resolve_role(r: &str) -> Result<&'static Role, ArmError> {
    roles::by_name(r)
        .map(Ok)
        .unwrap_or_else(|| role_of(r).map_err(ArmError::from))
}

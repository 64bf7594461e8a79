//! `Microsoft.Authorization`: role definitions and role assignments (the
//! 2022-04-01 assignment and 2022-05-01-preview definition shapes `az`
//! uses), and rsvault's directory of principals (what `az ad` manages in
//! Entra ID), whose answers are `az ad sp create-for-rbac`'s.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// The resource type of role assignments.
pub const ROLE_ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/roleAssignments";
/// The resource type of role definitions.
pub const ROLE_DEFINITION_TYPE: &str = "Microsoft.Authorization/roleDefinitions";

/// A role assignment's properties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    #[serde(default)]
    pub role_definition_id: String,
    #[serde(default)]
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub condition_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A role assignment.
pub type RoleAssignment = Resource<RoleAssignmentProperties>;

/// One block of a role definition's permissions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// A role definition's properties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    pub role_name: String,
    /// `BuiltInRole` or `CustomRole`.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub assignable_scopes: Vec<String>,
    pub permissions: Vec<Permission>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A role definition.
pub type RoleDefinition = Resource<RoleDefinitionProperties>;

/// What `POST /rsvault/directory/servicePrincipals` takes (`az ad sp
/// create-for-rbac`'s options).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalCreate {
    #[serde(default)]
    pub display_name: String,
    /// A role to assign it (name or GUID) at each of `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// What `POST /rsvault/directory/users` takes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCreate {
    #[serde(default)]
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What a credential reset takes: the new secret, or none for a random one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialReset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A certificate (PEM) to log in with instead of a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// A new credential, as `az ad sp create-for-rbac` and `az ad sp
/// credential reset` print it (`appId` for a service principal,
/// `userPrincipalName` for a user).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    pub display_name: String,
    /// The new secret (none after a certificate reset).
    #[serde(default)]
    pub password: Option<String>,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
}

/// A principal, as the directory lists it (Graph's field names).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// The object id.
    pub id: String,
    /// `#microsoft.graph.servicePrincipal`, `#microsoft.graph.user`, …
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    /// `ServicePrincipal`, `User` or `ManagedIdentity`.
    pub principal_type: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    pub created_date_time: String,
}

//! Multi-user authorization: resource guards
//! (`Microsoft.DataProtection/resourceGuards`), a vault's link to one
//! (`backupResourceGuardProxies/VaultProxy`) and `unlockDelete`.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A resource guard.
pub type ResourceGuardResource = Resource<ResourceGuardProperties>;

/// `properties` of a resource guard. A PUT names the exclusions and a
/// description; the rest is the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGuardProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_auto_approvals: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The critical operations the guard does not guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_critical_operation_exclusion_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_operations: Option<Vec<ResourceGuardOperation>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A critical operation a guard guards, and the type of its requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGuardOperation {
    pub vault_critical_operation: String,
    pub request_resource_type: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A guard's operation request object (`…/{requestType}/default`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DppBaseResource {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A vault's link to a guard.
pub type ResourceGuardProxyResource = Resource<ResourceGuardProxyProperties>;

/// `properties` of a vault's link. A PUT names the guard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGuardProxyProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_operation_details: Option<Vec<ResourceGuardOperationDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A guarded operation of a linked vault and the request that approves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGuardOperationDetail {
    pub vault_critical_operation: String,
    pub default_resource_request: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `unlockDelete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockDeleteRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_operation_requests: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_to_be_deleted: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `unlockDelete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockDeleteResponse {
    pub unlock_delete_expiry_time: String,
    #[serde(flatten)]
    pub extra: Extra,
}

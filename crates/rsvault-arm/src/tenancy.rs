//! What sits above vaults: subscriptions, resource groups, and the backup
//! status of a VM (`locations/{region}/backupStatus`: which vault protects it).

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A resource group (`Microsoft.Resources/resourceGroups`).
pub type ResourceGroup = Resource<ResourceGroupProperties>;

/// A subscription, as `GET /subscriptions` lists it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Enabled`, `Disabled`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `properties` of a resource group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `POST …/locations/{region}/backupStatus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatusRequest {
    /// `VM` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The VM's ARM id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_logical_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `backupStatus`: whether the VM is protected, and where.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatusResponse {
    /// `NotProtected`, `Protected`, `ProtectionStopped` or (rsvault)
    /// `SoftDeleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_item_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_status: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn same<T: Serialize + serde::de::DeserializeOwned>(body: Value) -> T {
        let t: T = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), body);
        t
    }

    #[test]
    fn tenancy_bodies_round_trip() {
        let s: Subscription = same(json!({"id": "/subscriptions/s", "subscriptionId": "s",
            "displayName": "s", "state": "Enabled", "tenantId": "00000000-0000-0000-0000-000000000000"}));
        assert_eq!(s.subscription_id.as_deref(), Some("s"));
        let g: ResourceGroup = same(
            json!({"id": "/subscriptions/s/resourceGroups/rg", "name": "rg",
            "type": "Microsoft.Resources/resourceGroups", "location": "westeurope",
            "properties": {"provisioningState": "Succeeded"}}),
        );
        assert_eq!(g.name(), "rg");
        let r: BackupStatusRequest =
            same(json!({"resourceType": "VM", "resourceId": "/subscriptions/s/x"}));
        assert_eq!(r.resource_type.as_deref(), Some("VM"));
        same::<BackupStatusResponse>(
            json!({"protectionStatus": "NotProtected", "fabricName": "Azure"}),
        );
        same::<BackupStatusResponse>(json!({"protectionStatus": "Protected",
            "vaultId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v",
            "fabricName": "Azure", "containerName": "c", "protectedItemName": "i",
            "policyName": "DefaultPolicy", "registrationStatus": "Registered"}));
    }
}

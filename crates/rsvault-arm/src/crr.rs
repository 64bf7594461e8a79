//! Cross-region restore (the "passive stamp" API of a geo-redundant
//! vault's secondary region): the AAD properties a client asks for, the
//! access token a recovery point hands out, the restore request that
//! carries it, and the secondary region's job requests.

use crate::request::IaasVmRestoreRequest;
use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `properties` of `backupAadProperties`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AadProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_object_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET …/locations/{region}/backupAadProperties`.
pub type AadPropertiesResource = Resource<AadProperties>;

/// A recovery point's cross-region restore token (`CrrAccessToken`; the
/// point hands it out as `WorkloadCrrAccessToken`, and `az` sends it back
/// as `CrrAccessToken`). `accessTokenString` is what the server checks;
/// the rest describes the point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrrAccessToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource_container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_tier_information: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "rpIsManagedVirtualMachine",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rp_is_managed_virtual_machine: Option<bool>,
    #[serde(
        rename = "bMSActiveRegion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bms_active_region: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST …/recoveryPoints/{rp}/accessToken`'s answer.
pub type CrrAccessTokenResource = Resource<CrrAccessToken>;

/// `POST …/locations/{region}/backupCrossRegionRestore`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossRegionRestoreRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_restore_access_details: Option<CrrAccessToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_request: Option<IaasVmRestoreRequest>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST …/locations/{region}/backupCrrJob` (`jobName`) and
/// `…/backupCrrJobs` (only `resourceId`, the vault's id).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrrJobRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

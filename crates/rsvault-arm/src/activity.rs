//! The activity log (`Microsoft.Insights/eventtypes/management/values`):
//! Azure Monitor's `EventData`, as `az monitor activity-log list` reads it.

use crate::resource::Extra;
use serde::{Deserialize, Serialize};

/// A localizable name (`{"value": …, "localizedValue": …}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalizableString {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localized_value: Option<String>,
}

impl LocalizableString {
    pub fn of(value: &str) -> Self {
        LocalizableString {
            value: value.to_owned(),
            localized_value: Some(value.to_owned()),
        }
    }
}

/// Who was allowed to do what, where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderAuthorization {
    pub action: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The HTTP request of an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequestInfo {
    pub client_request_id: String,
    pub client_ip_address: String,
    pub method: String,
}

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    pub id: String,
    pub event_data_id: String,
    pub authorization: SenderAuthorization,
    pub caller: String,
    pub channels: String,
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub correlation_id: String,
    pub description: String,
    pub category: LocalizableString,
    pub event_name: LocalizableString,
    pub event_timestamp: String,
    pub submission_timestamp: String,
    pub http_request: HttpRequestInfo,
    pub level: String,
    pub operation_id: String,
    pub operation_name: LocalizableString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group_name: Option<String>,
    pub resource_provider_name: LocalizableString,
    pub resource_type: LocalizableString,
    pub resource_id: String,
    pub status: LocalizableString,
    pub sub_status: LocalizableString,
    pub subscription_id: String,
    pub tenant_id: String,
    pub properties: serde_json::Map<String, serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

//! Storage accounts (`Microsoft.Storage/storageAccounts`): the targets of
//! `RestoreDisks`, and the name check of `checkNameAvailability`.

use crate::resource::{Extra, Resource};
use serde::{Deserialize, Serialize};

/// A storage account. Its `kind` (`StorageV2`…) is in the envelope's
/// `extra`, read with [`account_kind`].
pub type StorageAccountResource = Resource<StorageAccountProperties>;

/// The account's kind (`StorageV2`…), as the envelope carries it.
pub fn account_kind(a: &StorageAccountResource) -> Option<&str> {
    a.extra.get("kind").and_then(serde_json::Value::as_str)
}

/// `properties` of a storage account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_of_primary: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `checkNameAvailability`. Both fields may be absent in what
/// a client sends (the server names what is missing).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckNameRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Microsoft.Storage/storageAccounts`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The answer of `checkNameAvailability`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameResult {
    pub name_available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

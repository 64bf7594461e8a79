//! The Microsoft Graph (`/v1.0`) objects `az ad` and `az role` read and
//! send: users, service principals, applications and their passwords.

use crate::resource::Extra;
use serde::{Deserialize, Serialize};

/// A directory object as Graph returns it (user, service principal or
/// application: the fields that kind has).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A client secret of an application (its text only in `addPassword`'s answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_text: Option<String>,
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `addPassword`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddPassword {
    #[serde(default)]
    pub password_credential: Option<PasswordCredential>,
}

/// The body of `removePassword`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovePassword {
    #[serde(default)]
    pub key_id: Option<String>,
}

/// The body of `directoryObjects/getByIds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetByIds {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub types: Vec<String>,
}

/// A user's password in `POST /users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordProfile {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `POST /users`, `POST /applications`, `PATCH
/// /applications/{id}` and `POST /servicePrincipals` (the fields each uses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryWrite {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub password_profile: Option<PasswordProfile>,
    #[serde(default)]
    pub app_id: Option<String>,
    /// An application's certificates (a PATCH replaces them all).
    #[serde(default)]
    pub key_credentials: Option<Vec<KeyCredential>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A certificate of an application (`key`: base64 of its DER, only sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub usage: Option<String>,
    /// Its SHA-1 thumbprint (hex), as Azure shows it.
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

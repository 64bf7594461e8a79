//! The ARM error envelope: `{"error": {"code", "message", "target",
//! "details": [...], "additionalInfo": [...]}}`, with the `recommendations`
//! RecoveryServices adds, and the error entries of a job.

use crate::resource::Extra;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of an ARM error answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub error: ErrorDetail,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ErrorResponse {
    /// The envelope of one error.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorDetail::new(code, message),
            extra: Extra::new(),
        }
    }
}

/// One error: a code clients branch on and a message people read; nested
/// `details`, and (RecoveryServices) the recommended actions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ErrorDetail>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<Vec<ErrorAdditionalInfo>>,
    /// What to do about it (only when there is something to recommend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ErrorDetail {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorDetail {
            code: code.into(),
            message: message.into(),
            ..Default::default()
        }
    }
}

/// `additionalInfo` of an error: a typed blob.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorAdditionalInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An error or health code: Azure documents numbers (`400239`), rsvault
/// sends code names (`UserErrorStorageFull`); either is kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Code {
    Number(i64),
    Text(String),
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Code::Number(n) => write!(f, "{n}"),
            Code::Text(s) => f.write_str(s),
        }
    }
}

impl From<&str> for Code {
    fn from(s: &str) -> Self {
        Code::Text(s.to_owned())
    }
}

/// An error of a job (`errorDetails[]` of an AzureIaaSVMJob): the error's
/// code, its text and the recommended actions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobErrorInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Code>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_table() {
        for body in [
            json!({"error": {"code": "ResourceNotFound", "message": "gone"}}),
            json!({"error": {"code": "UserErrorStorageFull", "message": "full", "recommendations": ["free space"]}}),
            json!({"error": {"code": "BadRequest", "message": "m", "target": "properties.x",
                "details": [{"code": "Inner", "message": "i"}],
                "additionalInfo": [{"type": "PolicyViolation", "info": {"policy": "p"}}]}}),
        ] {
            let e: ErrorResponse = serde_json::from_value(body.clone()).unwrap();
            assert!(!e.error.code.is_empty());
            assert_eq!(serde_json::to_value(&e).unwrap(), body);
        }
        let e: ErrorResponse = serde_json::from_value(json!({"error": {}})).unwrap();
        assert_eq!(e.error.code, "");
        assert!(serde_json::from_value::<ErrorResponse>(json!({"code": "x"})).is_err());
        for code in [json!(400239), json!("UserErrorStorageFull")] {
            let e: JobErrorInfo = serde_json::from_value(json!({"errorCode": code})).unwrap();
            assert_eq!(serde_json::to_value(&e).unwrap()["errorCode"], code);
        }
        assert_eq!(Code::from("X").to_string(), "X");
        assert_eq!(Code::Number(7).to_string(), "7");
        assert_eq!(
            serde_json::to_value(ErrorResponse::new("C", "m")).unwrap(),
            json!({"error": {"code": "C", "message": "m"}})
        );
    }
}

//! A vault's usage figures: `usages` (VaultUsage) and
//! `backupUsageSummaries` (BackupManagementUsage), which share one shape.

use crate::resource::Extra;
use serde::{Deserialize, Serialize};

/// One usage figure.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageEntry {
    /// `Count`, `Bytes`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// ISO 8601 period (`P1D`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reset_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_value: Option<u64>,
    /// `-1`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<UsageName>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The name of a usage figure.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localized_value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl UsageEntry {
    /// The figure's name (`ProtectedItemCount`…), or "".
    pub fn name(&self) -> &str {
        self.name
            .as_ref()
            .and_then(|n| n.value.as_deref())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_round_trips() {
        let body = json!({"unit": "Count", "quotaPeriod": "P1D", "currentValue": 3, "limit": -1,
            "name": {"value": "ProtectedItemCount", "localizedValue": "Protected items"}});
        let u: UsageEntry = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(
            (u.name(), u.current_value, u.limit),
            ("ProtectedItemCount", Some(3), Some(-1))
        );
        assert_eq!(serde_json::to_value(&u).unwrap(), body);
    }
}

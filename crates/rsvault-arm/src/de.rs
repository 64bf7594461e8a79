//! Reading a body into its model, and saying where it fails: the dotted
//! path of the field at fault (`properties.schedulePolicy.hourlySchedule.interval`),
//! through the polymorphic objects of [`arm_union!`](crate::arm_union) too.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A body that does not read as its model: the path of the field at fault
/// (empty for the body itself) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if .path.is_empty() { .message.clone() } else { format!("{}: {}", .path, .message) })]
pub struct BodyError {
    pub path: String,
    pub message: String,
}

/// Reads `body` as a `T`, or says which field does not read.
pub fn from_value<T: DeserializeOwned>(body: Value) -> Result<T, BodyError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        locate(
            if path == "." { String::new() } else { path },
            e.inner().to_string(),
        )
    })
}

/// Reads the body of one kind of an [`arm_union!`](crate::arm_union). The
/// error is the tail of the union's message: ` (at {path}): {why}` when a
/// field inside fails, `: {why}` when the object itself does.
#[doc(hidden)]
pub fn variant<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!(": {}", e.inner())
        } else {
            format!(" (at {path}): {}", e.inner())
        }
    })
}

/// Follows the messages of nested unions (`{tag} {kind} (at {path}): {why}`)
/// down to the field at fault.
fn locate(mut path: String, mut message: String) -> BodyError {
    while let Some((inner, why)) = union_tail(&message) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(inner);
        message = why.to_owned();
    }
    BodyError { path, message }
}

/// `(path, why)` of a union's message about a field inside it.
fn union_tail(message: &str) -> Option<(&str, &str)> {
    let (head, rest) = message.split_once(" (at ")?;
    let (path, why) = rest.split_once("): ")?;
    let two_words = head.split(' ').count() == 2 && !head.contains(':');
    (two_words && !path.is_empty()).then_some((path, why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BackupPolicy;
    use serde_json::json;

    #[test]
    fn errors_name_the_field_through_unions_table() {
        let hourly = |h: Value| {
            json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2",
                "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "hourlySchedule": h}}})
        };
        let cases = [
            (
                json!({"properties": {"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": "3"}}),
                "properties.instantRpRetentionRangeInDays",
            ),
            (
                json!({"properties": {"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": -5}}),
                "properties.instantRpRetentionRangeInDays",
            ),
            (
                hourly(json!({"interval": 4_294_967_300u64})),
                "properties.schedulePolicy.hourlySchedule.interval",
            ),
            (
                hourly(json!({"scheduleWindowDuration": "x"})),
                "properties.schedulePolicy.hourlySchedule.scheduleWindowDuration",
            ),
            (
                json!({"properties": {"backupManagementType": "AzureIaasVM", "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunTimes": ["t", 5]}}}),
                "properties.schedulePolicy.scheduleRunTimes[1]",
            ),
            (
                json!({"properties": {"backupManagementType": "AzureIaasVM", "schedulePolicy": 5}}),
                "properties.schedulePolicy",
            ),
            (json!({"id": 5, "properties": {}}), "id"),
            (json!({"tags": {}}), ""),
        ];
        for (body, path) in cases {
            let e = from_value::<BackupPolicy>(body.clone()).expect_err(&body.to_string());
            assert_eq!(e.path, path, "{body}: {e}");
            assert!(!e.message.contains(" (at "), "{e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(path) && shown.len() > path.len(),
                "{shown}"
            );
        }
        assert!(from_value::<BackupPolicy>(json!({"properties": {}})).is_ok());
    }

    #[test]
    fn only_union_messages_are_followed() {
        assert_eq!(
            union_tail("objectType KindA (at n): bad"),
            Some(("n", "bad"))
        );
        for m in [
            "invalid type: string \"x\", expected u32",
            "a b c (at n): x",
            "objectType KindA: missing field `n`",
            "x: y (at n): z",
        ] {
            assert_eq!(union_tail(m), None, "{m}");
        }
        let e = locate("p".into(), "t A (at q): u B (at r.s[0]): why".into());
        assert_eq!(e.path, "p.q.r.s[0]");
        assert_eq!(e.message, "why");
    }
}

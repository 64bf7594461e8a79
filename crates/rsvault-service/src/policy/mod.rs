//! Backup policies of a vault (reading them, and the `DefaultPolicy` every
//! vault is created with).

use crate::Service;
pub mod model;
pub mod retention;
pub mod schedule;
pub mod timezone;

use crate::error::{Result, ServiceError};
use crate::vault::VaultRef;
use serde_json::{Value, json};

/// The policy every vault is created with.
pub const DEFAULT_POLICY: &str = "DefaultPolicy";

/// Policies a vault holds at most.
const MAX_POLICIES: usize = 200;

/// The ARM resource type of a policy.
pub const POLICY_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupPolicies";

/// Properties of `DefaultPolicy` as Azure creates it: daily at 21:00 UTC,
/// daily points kept 30 days, instant restore 2 days.
pub fn default_policy_properties() -> Value {
    let t = "2020-04-28T21:00:00Z";
    json!({
        "backupManagementType": "AzureIaasVM",
        "policyType": "V1",
        "instantRPDetails": {},
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Daily",
            "scheduleRunTimes": [t],
            "scheduleWeeklyFrequency": 0
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": [t],
                "retentionDuration": {"count": 30, "durationType": "Days"}
            }
        },
        "instantRpRetentionRangeInDays": 2,
        "timeZone": "UTC"
    })
}

fn envelope(v: &VaultRef, name: &str, mut props: Value, count: u64) -> Value {
    props["protectedItemsCount"] = json!(count);
    json!({
        "id": format!("{}/backupPolicies/{name}", v.id()),
        "name": name,
        "type": POLICY_TYPE,
        "properties": props,
    })
}

/// Checks a policy name: 3–150 characters, a letter first, then letters,
/// digits, `-`, `_` or `!`.
pub fn check_policy_name(name: &str) -> Result<()> {
    let ok = (3..=150).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_!".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "BMSUserErrorInvalidPolicyInput",
            format!(
                "The policy name '{name}' is invalid: it must be 3 to 150 characters long, start with a letter, and contain only letters, numbers, '-', '_' and '!'."
            ),
        ))
    }
}

/// The stored form of valid policy properties: the client's body with the
/// defaults Azure fills in made explicit.
fn normalized(props: &Value, policy: &model::Policy) -> Value {
    let mut p = props.clone();
    p["backupManagementType"] = json!("AzureIaasVM");
    p["policyType"] = json!(match policy.version {
        model::PolicyVersion::V1 => "V1",
        model::PolicyVersion::V2 => "V2",
    });
    p["instantRpRetentionRangeInDays"] = json!(policy.instant_rp_days);
    p["timeZone"] = json!(policy.time_zone_name);
    if p.get("instantRPDetails").is_none() {
        p["instantRPDetails"] = json!({});
    }
    if let Some(m) = p.as_object_mut() {
        m.remove("protectedItemsCount");
    }
    p
}

impl Service {
    /// Creates or replaces a policy after validating it.
    pub fn put_policy(&self, v: &VaultRef, name: &str, body: &Value) -> Result<Value> {
        check_policy_name(name)?;
        let vault = self.vault_row(v)?;
        let props = &body["properties"];
        let policy = model::Policy::parse(props)?;
        let stored = normalized(props, &policy);
        let name = self
            .meta
            .save_policy(vault.rowid, name, &stored.to_string(), MAX_POLICIES)?
            .ok_or_else(|| {
                ServiceError::bad_request(
                    "BMSUserErrorInvalidPolicyInput",
                    "A vault holds at most 200 policies.",
                )
            })?;
        self.get_policy(v, &name)
    }

    /// Deletes a policy that protects no item.
    pub fn delete_policy(&self, v: &VaultRef, name: &str) -> Result<()> {
        let vault = self.vault_row(v)?;
        let used = self.policy_item_count(vault.rowid, name)?;
        if used > 0 {
            return Err(ServiceError::bad_request(
                "BMSUserErrorPolicyInUse",
                format!(
                    "Policy '{name}' protects {used} item(s); move them to another policy before deleting it."
                ),
            ));
        }
        if !self.meta.delete_policy(vault.rowid, name)? {
            return Err(ServiceError::not_found(
                "BMSUserErrorPolicyNotExist",
                format!("The policy '{name}' does not exist in vault '{}'.", v.name),
            ));
        }
        Ok(())
    }

    /// Reads a policy.
    pub fn get_policy(&self, v: &VaultRef, name: &str) -> Result<Value> {
        let vault = self.vault_row(v)?;
        let found = self
            .meta
            .find_policy(vault.rowid, name)?
            .map(|p| (p.name, p.properties));
        let (name, props) = found.ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorPolicyNotExist",
                format!("The policy '{name}' does not exist in vault '{}'.", v.name),
            )
        })?;
        let count = self.policy_item_count(vault.rowid, &name)?;
        Ok(envelope(
            v,
            &name,
            serde_json::from_str(&props).unwrap_or(Value::Null),
            count,
        ))
    }

    /// Lists a vault's policies that match a `$filter`
    /// (`backupManagementType`: every policy here is `AzureIaasVM`).
    pub fn list_policies(&self, v: &VaultRef, filter: &str) -> Result<Vec<Value>> {
        let vault = self.vault_row(v)?;
        let f = crate::filter::Filter::parse(filter)?;
        if !f.management_type_matches() {
            return Ok(Vec::new());
        }
        self.meta
            .list_policies(vault.rowid)?
            .into_iter()
            .map(|p| {
                let count = self.policy_item_count(vault.rowid, &p.name)?;
                Ok(envelope(
                    v,
                    &p.name,
                    serde_json::from_str(&p.properties).unwrap_or(Value::Null),
                    count,
                ))
            })
            .collect()
    }
}

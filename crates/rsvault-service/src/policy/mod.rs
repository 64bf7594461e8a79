//! Backup policies of a vault (reading them, and the `DefaultPolicy` every
//! vault is created with).

use crate::Service;
pub mod model;
pub mod retention;
pub mod schedule;
pub mod timezone;

use crate::error::{Result, ServiceError};
use crate::vault::VaultRef;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

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

fn envelope(v: &VaultRef, name: &str, mut props: Value, count: i64) -> Value {
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
        let conn = self.db.conn();
        let existing: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, name FROM policies WHERE vault = ?1 AND name = ?2 COLLATE NOCASE",
                params![vault.rowid, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let name = match existing {
            Some((id, stored_name)) => {
                conn.execute(
                    "UPDATE policies SET properties = ?1 WHERE id = ?2",
                    params![stored.to_string(), id],
                )?;
                stored_name
            }
            None => {
                let n: i64 = conn.query_row(
                    "SELECT count(*) FROM policies WHERE vault = ?1",
                    params![vault.rowid],
                    |r| r.get(0),
                )?;
                if n >= 200 {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidPolicyInput",
                        "A vault holds at most 200 policies.",
                    ));
                }
                conn.execute(
                    "INSERT INTO policies (vault, name, properties) VALUES (?1, ?2, ?3)",
                    params![vault.rowid, name, stored.to_string()],
                )?;
                name.to_owned()
            }
        };
        drop(conn);
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
        let n = self.db.conn().execute(
            "DELETE FROM policies WHERE vault = ?1 AND name = ?2 COLLATE NOCASE",
            params![vault.rowid, name],
        )?;
        if n == 0 {
            return Err(ServiceError::not_found(
                "BMSUserErrorPolicyNotExist",
                format!("The policy '{name}' does not exist in vault '{}'.", v.name),
            ));
        }
        Ok(())
    }

    pub(crate) fn create_default_policy(&self, vault_rowid: i64) -> Result<()> {
        self.db.conn().execute(
            "INSERT INTO policies (vault, name, properties) VALUES (?1, 'DefaultPolicy', ?2)",
            params![vault_rowid, default_policy_properties().to_string()],
        )?;
        Ok(())
    }

    /// Reads a policy.
    pub fn get_policy(&self, v: &VaultRef, name: &str) -> Result<Value> {
        let vault = self.vault_row(v)?;
        let found: Option<(String, String)> = self
            .db
            .conn()
            .query_row(
                "SELECT name, properties FROM policies WHERE vault = ?1 AND name = ?2 COLLATE NOCASE",
                params![vault.rowid, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
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

    /// Lists a vault's policies.
    pub fn list_policies(&self, v: &VaultRef) -> Result<Vec<Value>> {
        let vault = self.vault_row(v)?;
        let conn = self.db.conn();
        let mut st =
            conn.prepare("SELECT name, properties FROM policies WHERE vault = ?1 ORDER BY name")?;
        let rows = st
            .query_map(params![vault.rowid], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(st);
        drop(conn);
        rows.into_iter()
            .map(|(n, p)| {
                let count = self.policy_item_count(vault.rowid, &n)?;
                Ok(envelope(
                    v,
                    &n,
                    serde_json::from_str(&p).unwrap_or(Value::Null),
                    count,
                ))
            })
            .collect()
    }
}

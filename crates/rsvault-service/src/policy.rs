//! Backup policies of a vault (reading them, and the `DefaultPolicy` every
//! vault is created with).

use crate::Service;
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

impl Service {
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
        Ok(envelope(
            v,
            &name,
            serde_json::from_str(&props).unwrap_or(Value::Null),
            0,
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
        Ok(rows
            .into_iter()
            .map(|(n, p)| envelope(v, &n, serde_json::from_str(&p).unwrap_or(Value::Null), 0))
            .collect())
    }
}

//! Recovery Services vaults: create, read, update, delete, list, and their
//! storage redundancy.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::records::{NewVault, VaultRecord, VaultUpdate};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The ARM resource type of a vault.
pub const VAULT_TYPE: &str = "Microsoft.RecoveryServices/vaults";

/// Names a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl VaultRef {
    /// The vault's ARM id with canonical casing.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

/// Storage redundancy of a vault's backup data.
pub const REDUNDANCY: [&str; 3] = ["GeoRedundant", "LocallyRedundant", "ZoneRedundant"];

/// A vault as ARM returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Vault {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub location: String,
    pub tags: Value,
    pub sku: Value,
    pub properties: Value,
}

/// Checks Azure's vault name rule: 2–50 characters, starting with a letter,
/// then letters, digits and hyphens.
pub fn check_vault_name(name: &str) -> Result<()> {
    let ok = (2..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "InvalidResourceName",
            format!(
                "The vault name '{name}' is invalid: a vault name must be 2 to 50 characters long, start with a letter, and contain only letters, numbers and hyphens."
            ),
        ))
    }
}

/// Canonical casing of an enum value sent in any case.
fn canonical(value: &str, allowed: &[&'static str], field: &str) -> Result<&'static str> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| {
            ServiceError::bad_request(
                "BadRequest",
                format!(
                    "{field} '{value}' is not valid; use one of {}",
                    allowed.join(", ")
                ),
            )
        })
}

fn not_found(v: &VaultRef) -> ServiceError {
    ServiceError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{VAULT_TYPE}/{}' under resource group '{}' was not found.",
            v.name, v.resource_group
        ),
    )
}

/// The stored row of a vault.
pub(crate) struct VaultRow {
    pub rowid: i64,
    pub vref: VaultRef,
    pub location: String,
    pub sku: String,
    pub tags: Value,
    pub properties: Value,
    pub redundancy: String,
    pub cross_region_restore: String,
    pub store: String,
}

impl VaultRow {
    fn to_vault(&self) -> Vault {
        let mut props = match &self.properties {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        props.insert("provisioningState".into(), json!("Succeeded"));
        props.insert(
            "redundancySettings".into(),
            json!({"standardTierStorageRedundancy": self.redundancy, "crossRegionRestore": self.cross_region_restore}),
        );
        let sec = props.entry("securitySettings").or_insert_with(|| json!({}));
        if let Value::Object(sec) = sec {
            sec.entry("immutabilitySettings")
                .or_insert_with(|| json!({"state": "Disabled"}));
            let sd = sec.entry("softDeleteSettings").or_insert_with(|| json!({}));
            if let Value::Object(sd) = sd {
                sd.entry("softDeleteState")
                    .or_insert_with(|| json!("Enabled"));
                sd.entry("softDeleteRetentionPeriodInDays")
                    .or_insert_with(|| json!(14));
                sd.entry("enhancedSecurityState")
                    .or_insert_with(|| json!("Enabled"));
            }
            sec.entry("multiUserAuthorization")
                .or_insert_with(|| json!("Disabled"));
        }
        props
            .entry("publicNetworkAccess")
            .or_insert_with(|| json!("Enabled"));
        props.insert("privateEndpointStateForBackup".into(), json!("None"));
        props.insert("privateEndpointStateForSiteRecovery".into(), json!("None"));
        Vault {
            id: self.vref.id(),
            name: self.vref.name.clone(),
            kind: VAULT_TYPE,
            location: self.location.clone(),
            tags: self.tags.clone(),
            sku: json!({"name": self.sku}),
            properties: Value::Object(props),
        }
    }
}

impl From<VaultRecord> for VaultRow {
    fn from(r: VaultRecord) -> Self {
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        VaultRow {
            rowid: r.id,
            tags: parse(&r.tags),
            properties: parse(&r.properties),
            vref: r.vref,
            location: r.location,
            sku: r.sku,
            redundancy: r.redundancy,
            cross_region_restore: r.cross_region_restore,
            store: r.store,
        }
    }
}

/// Redundancy settings found in a request's `properties`, validated.
fn redundancy_of(props: &Value) -> Result<(Option<&'static str>, Option<&'static str>)> {
    let rs = &props["redundancySettings"];
    let red = match rs["standardTierStorageRedundancy"].as_str() {
        Some(v) => Some(canonical(v, &REDUNDANCY, "standardTierStorageRedundancy")?),
        None => None,
    };
    let crr = match rs["crossRegionRestore"].as_str() {
        Some(v) => Some(canonical(
            v,
            &["Enabled", "Disabled"],
            "crossRegionRestore",
        )?),
        None => None,
    };
    Ok((red, crr))
}

/// Client-settable properties kept as sent (server-owned ones are dropped).
fn client_properties(props: &Value) -> Value {
    let mut m = match props {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for k in [
        "provisioningState",
        "redundancySettings",
        "privateEndpointStateForBackup",
        "privateEndpointStateForSiteRecovery",
        "privateEndpointConnections",
        "rsvaultVerify",
    ] {
        m.remove(k);
    }
    Value::Object(m)
}

impl Service {
    pub(crate) fn vault_row(&self, v: &VaultRef) -> Result<VaultRow> {
        self.meta
            .find_vault(v)?
            .map(VaultRow::from)
            .ok_or_else(|| not_found(v))
    }

    /// Creates or updates a vault from an ARM PUT body. Returns the vault and
    /// whether it was created.
    pub fn put_vault(&self, v: &VaultRef, body: &Value) -> Result<(Vault, bool)> {
        check_vault_name(&v.name)?;
        let location = body["location"]
            .as_str()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                ServiceError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            })?
            .to_owned();
        crate::names::check_location(&location, "Microsoft.RecoveryServices/vaults")?;
        let sku = match body["sku"]["name"].as_str() {
            Some(s) => canonical(s, &["Standard", "RS0"], "sku.name")?,
            None => "Standard",
        };
        let tags = match &body["tags"] {
            Value::Null => json!({}),
            t @ Value::Object(_) => t.clone(),
            _ => {
                return Err(ServiceError::bad_request(
                    "InvalidRequestContent",
                    "tags must be an object",
                ));
            }
        };
        let props = &body["properties"];
        let (red, crr) = redundancy_of(props)?;
        match self.vault_row(v) {
            Ok(existing) => {
                if !existing.location.eq_ignore_ascii_case(&location) {
                    return Err(ServiceError::bad_request(
                        "InvalidResourceLocation",
                        format!(
                            "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'.",
                            v.name, existing.location, v.resource_group
                        ),
                    ));
                }
                let red = red.unwrap_or(&existing.redundancy).to_owned();
                let crr = crr.unwrap_or(&existing.cross_region_restore).to_owned();
                self.check_redundancy_change(&existing, &red, &crr)?;
                self.meta.update_vault(
                    existing.rowid,
                    &VaultUpdate {
                        sku: sku.to_owned(),
                        tags: tags.to_string(),
                        properties: client_properties(props).to_string(),
                        redundancy: red,
                        cross_region_restore: crr,
                    },
                )?;
                Ok((self.get_vault(v)?, false))
            }
            Err(ServiceError::NotFound { .. }) => {
                let red = red.unwrap_or("GeoRedundant");
                let crr = crr.unwrap_or("Disabled");
                if crr == "Enabled" && red != "GeoRedundant" {
                    return Err(ServiceError::bad_request(
                        "BadRequest",
                        "Cross-region restore needs GeoRedundant storage.",
                    ));
                }
                let store = self.create_vault_store()?;
                let now = self.now().to_string();
                let new = NewVault {
                    vref: v.clone(),
                    location,
                    sku: sku.to_owned(),
                    tags: tags.to_string(),
                    properties: client_properties(props).to_string(),
                    redundancy: red.to_owned(),
                    cross_region_restore: crr.to_owned(),
                    store: store.clone(),
                    created: now,
                };
                let created = self.meta.insert_vault(
                    &new,
                    crate::policy::DEFAULT_POLICY,
                    &crate::policy::default_policy_properties().to_string(),
                );
                if let Err(e) = created {
                    // The store of a vault that was not recorded goes.
                    let _ = self.remove_vault_store(&store);
                    return Err(e.into());
                }
                Ok((self.get_vault(v)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a vault.
    pub fn get_vault(&self, v: &VaultRef) -> Result<Vault> {
        self.vault_view(&self.vault_row(v)?)
    }

    /// A vault as ARM returns it, with its verify settings and last result
    /// (`properties.rsvaultVerify`, read-only here).
    fn vault_view(&self, r: &VaultRow) -> Result<Vault> {
        let mut vault = r.to_vault();
        vault.properties["rsvaultVerify"] = self.verify_view(r.rowid)?;
        Ok(vault)
    }

    /// Applies an ARM PATCH body: tags, redundancy settings and other
    /// client properties (merged one level deep).
    pub fn patch_vault(&self, v: &VaultRef, body: &Value) -> Result<Vault> {
        let existing = self.vault_row(v)?;
        let props = &body["properties"];
        let (red, crr) = redundancy_of(props)?;
        let red = red.unwrap_or(&existing.redundancy).to_owned();
        let crr = crr.unwrap_or(&existing.cross_region_restore).to_owned();
        self.check_redundancy_change(&existing, &red, &crr)?;
        let mut merged = match client_properties(&existing.properties) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let before = soft_delete_state(&merged);
        if let Value::Object(patch) = client_properties(props) {
            merge_patch(&mut merged, patch);
        }
        check_soft_delete(&mut merged, &before)?;
        let tags = match &body["tags"] {
            Value::Null => existing.tags.clone(),
            t @ Value::Object(_) => t.clone(),
            _ => {
                return Err(ServiceError::bad_request(
                    "InvalidRequestContent",
                    "tags must be an object",
                ));
            }
        };
        self.meta.update_vault(
            existing.rowid,
            &VaultUpdate {
                sku: existing.sku.clone(),
                tags: tags.to_string(),
                properties: Value::Object(merged).to_string(),
                redundancy: red,
                cross_region_restore: crr,
            },
        )?;
        self.get_vault(v)
    }

    fn check_redundancy_change(&self, existing: &VaultRow, red: &str, crr: &str) -> Result<()> {
        if existing.cross_region_restore == "Enabled" && crr == "Disabled" {
            return Err(ServiceError::bad_request(
                "BadRequest",
                "Cross-region restore cannot be disabled once it is enabled.",
            ));
        }
        if crr == "Enabled" && red != "GeoRedundant" {
            return Err(ServiceError::bad_request(
                "BadRequest",
                "Cross-region restore needs GeoRedundant storage.",
            ));
        }
        if red != existing.redundancy && self.storage_locked(existing)? {
            return Err(ServiceError::bad_request(
                "StorageModelModifyError",
                "Storage Redundancy option is locked when the first machine is registered with the vault, and cannot be modified thereafter.",
            ));
        }
        Ok(())
    }

    /// Whether the vault's storage redundancy is locked: once the first item
    /// is registered with the vault.
    pub(crate) fn storage_locked(&self, existing: &VaultRow) -> Result<bool> {
        Ok(self.item_count(existing.rowid)? > 0)
    }

    /// Deletes a vault, its policies and its store; refused while it
    /// protects items.
    pub fn delete_vault(&self, v: &VaultRef) -> Result<()> {
        let existing = self.vault_row(v)?;
        let items = self.item_count(existing.rowid)?;
        if items > 0 {
            return Err(ServiceError::bad_request(
                "ServiceResourceNotEmptyWithContainerDetails",
                format!(
                    "Vault '{}' cannot be deleted as there are {items} existing resources within the vault. Stop protection and delete the backup data of every item first.",
                    v.name
                ),
            ));
        }
        self.meta.delete_vault(existing.rowid)?;
        self.remove_vault_store(&existing.store)
    }

    /// Lists vaults of a subscription, or of one resource group.
    pub fn list_vaults(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<Vault>> {
        let rows: Vec<VaultRow> = self
            .meta
            .list_vaults(subscription, resource_group)?
            .into_iter()
            .map(VaultRow::from)
            .collect();
        rows.iter().map(|r| self.vault_view(r)).collect()
    }

    /// `backupstorageconfig/vaultstorageconfig` of a vault.
    pub fn storage_config(&self, v: &VaultRef) -> Result<Value> {
        let r = self.vault_row(v)?;
        let locked = self.storage_locked(&r)?;
        Ok(json!({
            "id": format!("{}/backupstorageconfig/vaultstorageconfig", v.id()),
            "name": "vaultstorageconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupstorageconfig",
            "properties": {
                "storageModelType": r.redundancy,
                "storageType": r.redundancy,
                "storageTypeState": if locked { "Locked" } else { "Unlocked" },
                "dedupState": "Disabled",
                "xcoolState": "Disabled",
                "crossRegionRestoreFlag": r.cross_region_restore == "Enabled",
            }
        }))
    }

    /// The name of a vault's engine store (for [`Service::open_vault_store`]).
    pub fn vault_store_name(&self, v: &VaultRef) -> Result<String> {
        Ok(self.vault_row(v)?.store)
    }

    /// `backupconfig/vaultconfig` of a vault: its soft-delete settings.
    pub fn vault_config(&self, v: &VaultRef) -> Result<Value> {
        let vault = self.get_vault(v)?;
        let r = self.vault_row(v)?;
        let sd = &vault.properties["securitySettings"]["softDeleteSettings"];
        let state = sd["softDeleteState"].as_str().unwrap_or("Enabled");
        Ok(json!({
            "id": format!("{}/backupconfig/vaultconfig", v.id()),
            "name": "vaultconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupconfig",
            "properties": {
                "storageModelType": r.redundancy,
                "storageType": r.redundancy,
                "storageTypeState": if self.storage_locked(&r)? { "Locked" } else { "Unlocked" },
                "enhancedSecurityState": "Enabled",
                "softDeleteFeatureState": state,
                "softDeleteRetentionPeriodInDays": sd["softDeleteRetentionPeriodInDays"],
                "isSoftDeleteFeatureStateEditable": state != "AlwaysON",
                "resourceGuardOperationRequests": [],
                "rsvaultVerify": self.verify_view(r.rowid)?,
            }
        }))
    }

    /// Sets soft-delete settings through `backupconfig/vaultconfig` (PUT or
    /// PATCH), as `az backup vault backup-properties set` does.
    pub fn set_vault_config(&self, v: &VaultRef, body: &Value) -> Result<Value> {
        let p = &body["properties"];
        if let Some(verify) = p.get("rsvaultVerify").filter(|x| x.is_object())
            && let Some(s) = verify.get("schedule")
        {
            let r = self.vault_row(v)?;
            let s = match s {
                Value::Null => None,
                Value::String(s) => Some(s.as_str()),
                _ => {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        "properties.rsvaultVerify.schedule must be a string (e.g. 'sun 03:00', 'off') or null (the server's default)",
                    ));
                }
            };
            self.set_verify_schedule(r.rowid, s)?;
        }
        let mut sd = Map::new();
        if let Some(s) = p["softDeleteFeatureState"].as_str() {
            sd.insert("softDeleteState".into(), json!(s));
        }
        if let Some(d) = p
            .get("softDeleteRetentionPeriodInDays")
            .filter(|d| !d.is_null())
        {
            sd.insert("softDeleteRetentionPeriodInDays".into(), d.clone());
        }
        if let Some(t) = p["storageType"]
            .as_str()
            .or_else(|| p["storageModelType"].as_str())
        {
            self.patch_vault(v, &json!({"properties": {"redundancySettings": {"standardTierStorageRedundancy": t}}}))?;
        }
        if !sd.is_empty() {
            self.patch_vault(
                v,
                &json!({"properties": {"securitySettings": {"softDeleteSettings": sd}}}),
            )?;
        }
        self.vault_config(v)
    }

    /// Sets storage redundancy through `backupstorageconfig` (PUT or PATCH).
    pub fn set_storage_config(&self, v: &VaultRef, body: &Value) -> Result<Value> {
        let p = &body["properties"];
        let mut rs = Map::new();
        if let Some(t) = p["storageType"]
            .as_str()
            .or_else(|| p["storageModelType"].as_str())
        {
            rs.insert("standardTierStorageRedundancy".into(), json!(t));
        }
        if let Some(f) = p["crossRegionRestoreFlag"].as_bool() {
            rs.insert(
                "crossRegionRestore".into(),
                json!(if f { "Enabled" } else { "Disabled" }),
            );
        }
        self.patch_vault(v, &json!({"properties": {"redundancySettings": rs}}))?;
        self.storage_config(v)
    }
}

/// JSON merge patch (RFC 7386) of one object into another.
fn merge_patch(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, val) in patch {
        match (target.get_mut(&k), val) {
            (_, Value::Null) => {
                target.remove(&k);
            }
            (Some(Value::Object(t)), Value::Object(p)) => merge_patch(t, p),
            (_, val) => {
                target.insert(k, val);
            }
        }
    }
}

fn soft_delete_state(props: &Map<String, Value>) -> String {
    props
        .get("securitySettings")
        .and_then(|s| s["softDeleteSettings"]["softDeleteState"].as_str())
        .unwrap_or("Enabled")
        .to_owned()
}

/// Checks and canonicalises soft-delete settings: `Enabled`, `Disabled` or
/// `AlwaysON` (compared case-insensitively, as `az` sends `AlwaysOn`), which
/// cannot be turned off again; retention 14–180 days.
fn check_soft_delete(props: &mut Map<String, Value>, before: &str) -> Result<()> {
    let Some(Value::Object(sd)) = props
        .get_mut("securitySettings")
        .and_then(|s| s.get_mut("softDeleteSettings"))
    else {
        return Ok(());
    };
    if let Some(state) = sd.get("softDeleteState").and_then(Value::as_str) {
        let canon = match state.to_ascii_lowercase().as_str() {
            "enabled" | "enable" => "Enabled",
            "disabled" | "disable" => "Disabled",
            "alwayson" => "AlwaysON",
            _ => {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "properties.securitySettings.softDeleteSettings.softDeleteState: '{state}' is not Enabled, Disabled or AlwaysON"
                    ),
                ));
            }
        };
        if before.eq_ignore_ascii_case("AlwaysON") && canon != "AlwaysON" {
            return Err(ServiceError::bad_request(
                "BMSUserErrorDisablingSoftDeleteStateNotAllowed",
                "Soft delete is always on for this vault and cannot be disabled.",
            ));
        }
        sd.insert("softDeleteState".into(), json!(canon));
    }
    if let Some(d) = sd.get("softDeleteRetentionPeriodInDays") {
        if !d.as_i64().is_some_and(|d| (14..=180).contains(&d)) {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays: {d} is not a number of days from 14 to 180"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_delete_settings_table() {
        let mut p = Map::new();
        for (patch, before, ok, state) in [
            (
                json!({"softDeleteState": "disabled"}),
                "Enabled",
                true,
                "Disabled",
            ),
            (
                json!({"softDeleteState": "AlwaysOn"}),
                "Enabled",
                true,
                "AlwaysON",
            ),
            (
                json!({"softDeleteState": "Disabled"}),
                "AlwaysON",
                false,
                "",
            ),
            (
                json!({"softDeleteState": "sometimes"}),
                "Enabled",
                false,
                "",
            ),
            (
                json!({"softDeleteRetentionPeriodInDays": 13}),
                "Enabled",
                false,
                "",
            ),
            (
                json!({"softDeleteRetentionPeriodInDays": 180}),
                "Enabled",
                true,
                "",
            ),
            (
                json!({"softDeleteRetentionPeriodInDays": "x"}),
                "Enabled",
                false,
                "",
            ),
        ] {
            p.insert(
                "securitySettings".into(),
                json!({"softDeleteSettings": patch.clone()}),
            );
            let r = check_soft_delete(&mut p, before);
            assert_eq!(r.is_ok(), ok, "{patch} after {before}");
            if ok && !state.is_empty() {
                assert_eq!(soft_delete_state(&p), state);
            }
        }
        let mut t = json!({"a": {"b": 1, "c": 2}, "d": 1})
            .as_object()
            .unwrap()
            .clone();
        merge_patch(
            &mut t,
            json!({"a": {"b": 3}, "d": null})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(Value::Object(t), json!({"a": {"b": 3, "c": 2}}));
    }

    #[test]
    fn vault_name_rule_table() {
        for (name, ok) in [
            ("v1", true),
            ("a", false),
            ("1vault", false),
            ("my-vault-01", true),
            ("my_vault", false),
            ("-x", false),
            (&"a".repeat(50), true),
            (&"a".repeat(51), false),
            ("vault.x", false),
        ] {
            assert_eq!(check_vault_name(name).is_ok(), ok, "{name}");
        }
    }
}

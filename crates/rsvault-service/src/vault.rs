//! Recovery Services vaults: create, read, update, delete, list, their
//! storage redundancy and their backup settings, as the typed ARM models of
//! `rsvault-arm`.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::immutability;
use crate::metastore::records::{NewVault, VaultRecord, VaultUpdate};
use crate::mua::{Approval, Critical};
use rsvault_arm::vault::{
    BackupEncryptionConfig, BackupEncryptionConfigProperties, BackupStorageConfig,
    BackupStorageConfigProperties, BackupStorageConfigPut, BackupVaultConfig,
    BackupVaultConfigProperties, BackupVaultConfigPut, EnabledState, ImmutabilitySettings,
    ImmutabilityState, RedundancySettings, SecuritySettings, SoftDeleteSettings, SoftDeleteState,
    StorageRedundancy, StorageTypeState, VaultPatch, VaultProperties, VaultPut,
};
use rsvault_arm::{Resource, Sku};
use serde_json::{Map, Value};

pub use rsvault_arm::vault::Vault;

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

/// The stored row of a vault, its tags and client properties read into
/// their models.
pub(crate) struct VaultRow {
    pub rowid: i64,
    pub vref: VaultRef,
    pub location: String,
    pub sku: String,
    pub tags: Map<String, Value>,
    pub properties: VaultProperties,
    pub redundancy: String,
    pub cross_region_restore: String,
    pub store: String,
    /// The second copy of a geo-redundant vault.
    pub secondary: Option<crate::metastore::records::Secondary>,
}

impl VaultRow {
    /// The vault as ARM returns it, but for `rsvaultVerify`: the client's
    /// properties with the server's filled in.
    fn to_vault(&self) -> Vault {
        let mut props = self.properties.clone();
        props.provisioning_state = Some("Succeeded".into());
        props.redundancy_settings = Some(RedundancySettings {
            standard_tier_storage_redundancy: Some(self.redundancy.as_str().into()),
            cross_region_restore: Some(self.cross_region_restore.as_str().into()),
            ..Default::default()
        });
        let sec = props
            .security_settings
            .get_or_insert_with(SecuritySettings::default);
        sec.immutability_settings
            .get_or_insert_with(|| ImmutabilitySettings {
                state: Some(ImmutabilityState::Disabled),
                ..Default::default()
            });
        let sd = sec
            .soft_delete_settings
            .get_or_insert_with(SoftDeleteSettings::default);
        sd.soft_delete_state.get_or_insert(SoftDeleteState::Enabled);
        sd.soft_delete_retention_period_in_days.get_or_insert(14);
        sd.enhanced_security_state
            .get_or_insert(SoftDeleteState::Enabled);
        sec.multi_user_authorization
            .get_or_insert(EnabledState::Disabled);
        props
            .public_network_access
            .get_or_insert(EnabledState::Enabled);
        props.private_endpoint_state_for_backup = Some("None".into());
        props.private_endpoint_state_for_site_recovery = Some("None".into());
        Resource {
            id: Some(self.vref.id()),
            name: Some(self.vref.name.clone()),
            kind: Some(VAULT_TYPE.into()),
            location: Some(self.location.clone()),
            tags: Some(self.tags.clone()),
            sku: Some(Sku {
                name: self.sku.clone(),
                ..Default::default()
            }),
            ..Resource::with_properties(props)
        }
    }
}

impl From<VaultRecord> for VaultRow {
    fn from(r: VaultRecord) -> Self {
        VaultRow {
            rowid: r.id,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            properties: serde_json::from_str(&r.properties).unwrap_or_default(),
            vref: r.vref,
            location: r.location,
            sku: r.sku,
            redundancy: r.redundancy,
            cross_region_restore: r.cross_region_restore,
            store: r.store,
            secondary: r.secondary,
        }
    }
}

/// Redundancy settings found in a request's `properties`, validated.
fn redundancy_of(
    props: Option<&VaultProperties>,
) -> Result<(Option<&'static str>, Option<&'static str>)> {
    let rs = props.and_then(|p| p.redundancy_settings.as_ref());
    let red = rs
        .and_then(|r| r.standard_tier_storage_redundancy.as_ref())
        .map(|v| canonical(v.as_str(), &REDUNDANCY, "standardTierStorageRedundancy"))
        .transpose()?;
    if red == Some("ZoneRedundant") {
        // Not a label alone: zone-redundant storage would need a second
        // location in the region, which this server does not keep.
        return Err(ServiceError::bad_request(
            "UserErrorStorageRedundancyNotSupported",
            "ZoneRedundant storage is not offered by this server: it would need a second storage location in the vault's region. Choose LocallyRedundant (one copy in the region) or GeoRedundant (a second copy in the paired region).",
        ));
    }
    let crr = rs
        .and_then(|r| r.cross_region_restore.as_ref())
        .map(|v| canonical(v.as_str(), &["Enabled", "Disabled"], "crossRegionRestore"))
        .transpose()?;
    Ok((red, crr))
}

/// Client-settable properties kept as sent (server-owned ones are dropped).
fn client_properties(props: Option<VaultProperties>) -> VaultProperties {
    let mut p = props.unwrap_or_default();
    p.provisioning_state = None;
    p.redundancy_settings = None;
    p.private_endpoint_state_for_backup = None;
    p.private_endpoint_state_for_site_recovery = None;
    p.rsvault_verify = None;
    p.extra.remove("privateEndpointConnections");
    // An approval is for the one request, and the guard link is the
    // server's to say.
    p.extra.remove("resourceGuardOperationRequests");
    if let Some(s) = p.security_settings.as_mut() {
        s.multi_user_authorization = None;
    }
    p
}

/// The stored JSON of a model (the metadata store keeps bodies as text).
fn stored<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Whether the vault's storage redundancy is `Locked` or `Unlocked`.
fn storage_type_state(locked: bool) -> StorageTypeState {
    if locked {
        StorageTypeState::Locked
    } else {
        StorageTypeState::Unlocked
    }
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
    pub fn put_vault(&self, v: &VaultRef, body: VaultPut) -> Result<(Vault, bool)> {
        self.put_vault_as(v, body, &Approval::none())
    }

    /// [`Service::put_vault`], with what the request brings to approve a
    /// critical change of a vault linked to a resource guard.
    pub fn put_vault_as(
        &self,
        v: &VaultRef,
        body: VaultPut,
        approval: &Approval,
    ) -> Result<(Vault, bool)> {
        check_vault_name(&v.name)?;
        let location = body
            .location
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                ServiceError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            })?;
        crate::names::check_location(&location, "Microsoft.RecoveryServices/vaults")?;
        let sku = match &body.sku {
            Some(s) => canonical(&s.name, &["Standard", "RS0"], "sku.name")?,
            None => "Standard",
        };
        let tags = stored(&body.tags.unwrap_or_default())?;
        let (red, crr) = redundancy_of(body.properties.as_ref())?;
        let mut props = client_properties(body.properties);
        match self.vault_row(v) {
            Ok(existing) => {
                // A PUT without security settings keeps the vault's: soft
                // delete that is always on, and immutability, stay.
                if soft_delete_settings(&props).is_none()
                    && let Some(sd) = soft_delete_settings(&existing.properties).cloned()
                {
                    props
                        .security_settings
                        .get_or_insert_with(SecuritySettings::default)
                        .soft_delete_settings = Some(sd);
                }
                check_soft_delete(&mut props, &soft_delete_state(&existing.properties))?;
                immutability::check(&mut props, Some(immutability::of(&existing.properties)))?;
                self.approve_changes(&existing, &props, approval)?;
                let properties = stored(&props)?;
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
                let changed = red != existing.redundancy;
                self.meta.update_vault(
                    existing.rowid,
                    &VaultUpdate {
                        sku: sku.to_owned(),
                        tags,
                        properties,
                        redundancy: red,
                        cross_region_restore: crr,
                    },
                )?;
                if changed {
                    self.apply_redundancy(&existing)?;
                }
                Ok((self.get_vault(v)?, false))
            }
            Err(ServiceError::NotFound { .. }) => {
                check_soft_delete(&mut props, &SoftDeleteState::Enabled)?;
                immutability::check(&mut props, None)?;
                let properties = stored(&props)?;
                // Azure's default, where the region has a pair to replicate to.
                let red = red.unwrap_or(if self.regions.pair(&location).is_some() {
                    "GeoRedundant"
                } else {
                    "LocallyRedundant"
                });
                let crr = crr.unwrap_or("Disabled");
                if crr == "Enabled" && red != "GeoRedundant" {
                    return Err(ServiceError::bad_request(
                        "BadRequest",
                        "Cross-region restore needs GeoRedundant storage.",
                    ));
                }
                if red == "GeoRedundant" {
                    self.regions.require_pair(&location)?;
                }
                let store = self.create_vault_store(&location)?;
                let secondary = if red == "GeoRedundant" {
                    match self.create_secondary(&location, &store) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            let _ = self.remove_vault_store(&store);
                            return Err(e);
                        }
                    }
                } else {
                    None
                };
                let now = self.now().to_string();
                let new = NewVault {
                    vref: v.clone(),
                    location,
                    sku: sku.to_owned(),
                    tags,
                    properties,
                    redundancy: red.to_owned(),
                    cross_region_restore: crr.to_owned(),
                    store: store.clone(),
                    secondary: secondary.clone(),
                    created: now,
                };
                let created =
                    stored(&crate::policy::default_policy_properties()).and_then(|policy| {
                        self.meta
                            .insert_vault(&new, crate::policy::DEFAULT_POLICY, &policy)
                            .map_err(Into::into)
                    });
                if let Err(e) = created {
                    // The stores of a vault that was not recorded go.
                    if let Some(s) = &secondary {
                        let _ = self.remove_secondary(s);
                    }
                    let _ = self.remove_vault_store(&store);
                    return Err(e);
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
        vault
            .properties
            .security_settings
            .get_or_insert_with(SecuritySettings::default)
            .multi_user_authorization = Some(if self.mua_enabled(r.rowid)? {
            EnabledState::Enabled
        } else {
            EnabledState::Disabled
        });
        vault.properties.rsvault_verify = Some(self.verify_view(r.rowid)?);
        Ok(vault)
    }

    /// Applies an ARM PATCH body: tags, redundancy settings and other
    /// client properties (merged as a JSON merge patch).
    pub fn patch_vault(&self, v: &VaultRef, body: VaultPatch) -> Result<Vault> {
        self.patch_vault_as(v, body, &Approval::none())
    }

    /// [`Service::patch_vault`], with what the request brings to approve a
    /// critical change of a vault linked to a resource guard.
    pub fn patch_vault_as(
        &self,
        v: &VaultRef,
        body: VaultPatch,
        approval: &Approval,
    ) -> Result<Vault> {
        let existing = self.vault_row(v)?;
        let (red, crr) = redundancy_of(body.properties.as_ref())?;
        let red = red.unwrap_or(&existing.redundancy).to_owned();
        let crr = crr.unwrap_or(&existing.cross_region_restore).to_owned();
        self.check_redundancy_change(&existing, &red, &crr)?;
        let before = soft_delete_state(&existing.properties);
        let mut merged = merged(
            client_properties(Some(existing.properties.clone())),
            client_properties(body.properties),
        )?;
        check_soft_delete(&mut merged, &before)?;
        immutability::check(&mut merged, Some(immutability::of(&existing.properties)))?;
        self.approve_changes(&existing, &merged, approval)?;
        let tags = body.tags.unwrap_or_else(|| existing.tags.clone());
        let changed = red != existing.redundancy;
        self.meta.update_vault(
            existing.rowid,
            &VaultUpdate {
                sku: existing.sku.clone(),
                tags: stored(&tags)?,
                properties: stored(&merged)?,
                redundancy: red,
                cross_region_restore: crr,
            },
        )?;
        if changed {
            self.apply_redundancy(&existing)?;
        }
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
        if red == "GeoRedundant" && existing.redundancy != "GeoRedundant" {
            self.regions.require_pair(&existing.location)?;
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
        let items = self.meta.vault_items(existing.rowid)?;
        if !items.is_empty() {
            // Soft-deleted items hold the vault as Azure's do: until their
            // retention ends, or until they are undeleted and deleted with
            // soft delete off.
            let soft: Vec<&str> = items
                .iter()
                .filter_map(|i| i.deferred_delete.as_deref())
                .collect();
            let why = if soft.len() == items.len() {
                let until = soft.iter().max().copied().unwrap_or_default();
                format!(
                    "All of them are backup items in soft-deleted state (kept until {until}). Disable soft delete, undelete the items and delete their backup data, or wait until their soft-delete retention ends."
                )
            } else if soft.is_empty() {
                "Stop protection and delete the backup data of every item first.".to_owned()
            } else {
                format!(
                    "{} of them are in soft-deleted state. Stop protection and delete the backup data of every other item; soft-deleted items go when their retention ends, or when undeleted and deleted with soft delete off.",
                    soft.len()
                )
            };
            return Err(ServiceError::bad_request(
                "ServiceResourceNotEmptyWithContainerDetails",
                format!(
                    "Vault '{}' cannot be deleted as there are {} existing resources within the vault. {why}",
                    v.name,
                    items.len()
                ),
            ));
        }
        self.meta.delete_vault(existing.rowid)?;
        if let Some(s) = &existing.secondary {
            self.remove_secondary(s)?;
        }
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
    pub fn storage_config(&self, v: &VaultRef) -> Result<BackupStorageConfig> {
        let r = self.vault_row(v)?;
        let red = StorageRedundancy::from(r.redundancy.as_str());
        Ok(Resource {
            id: Some(format!("{}/backupstorageconfig/vaultstorageconfig", v.id())),
            name: Some("vaultstorageconfig".into()),
            kind: Some("Microsoft.RecoveryServices/vaults/backupstorageconfig".into()),
            ..Resource::with_properties(BackupStorageConfigProperties {
                storage_model_type: Some(red.clone()),
                storage_type: Some(red),
                storage_type_state: Some(storage_type_state(self.storage_locked(&r)?)),
                dedup_state: Some(EnabledState::Disabled),
                xcool_state: Some(EnabledState::Disabled),
                cross_region_restore_flag: Some(r.cross_region_restore == "Enabled"),
                rsvault_replication: self.replication_status(&r)?,
                rsvault_object_lock: Some(self.object_lock_status(&r.properties, &r.store)),
                ..Default::default()
            })
        })
    }

    /// The name of a vault's engine store (for [`Service::open_vault_store`]).
    pub fn vault_store_name(&self, v: &VaultRef) -> Result<String> {
        Ok(self.vault_row(v)?.store)
    }

    /// `backupconfig/vaultconfig` of a vault: its soft-delete settings.
    pub fn vault_config(&self, v: &VaultRef) -> Result<BackupVaultConfig> {
        let r = self.vault_row(v)?;
        let vault = self.vault_view(&r)?;
        let sd = vault
            .properties
            .security_settings
            .and_then(|s| s.soft_delete_settings)
            .unwrap_or_default();
        let state = sd.soft_delete_state.unwrap_or(SoftDeleteState::Enabled);
        let red = StorageRedundancy::from(r.redundancy.as_str());
        Ok(Resource {
            id: Some(format!("{}/backupconfig/vaultconfig", v.id())),
            name: Some("vaultconfig".into()),
            kind: Some("Microsoft.RecoveryServices/vaults/backupconfig".into()),
            ..Resource::with_properties(BackupVaultConfigProperties {
                storage_model_type: Some(red.clone()),
                storage_type: Some(red),
                storage_type_state: Some(storage_type_state(self.storage_locked(&r)?)),
                enhanced_security_state: Some(SoftDeleteState::Enabled),
                is_soft_delete_feature_state_editable: Some(state != SoftDeleteState::AlwaysOn),
                soft_delete_feature_state: Some(state),
                soft_delete_retention_period_in_days: sd.soft_delete_retention_period_in_days,
                resource_guard_operation_requests: Some(Vec::new()),
                rsvault_verify: vault.properties.rsvault_verify,
                ..Default::default()
            })
        })
    }

    /// Sets soft-delete settings, storage redundancy and (rsvault) the
    /// verify schedule through `backupconfig/vaultconfig` (PUT or PATCH),
    /// as `az backup vault backup-properties set` does.
    pub fn set_vault_config(
        &self,
        v: &VaultRef,
        body: BackupVaultConfigPut,
    ) -> Result<BackupVaultConfig> {
        self.set_vault_config_as(v, body, &Approval::none())
    }

    /// [`Service::set_vault_config`], with what the request brings to
    /// approve turning soft delete off on a vault linked to a resource guard.
    pub fn set_vault_config_as(
        &self,
        v: &VaultRef,
        body: BackupVaultConfigPut,
        approval: &Approval,
    ) -> Result<BackupVaultConfig> {
        let p = body.properties.unwrap_or_default();
        if let Some(Some(schedule)) = p.rsvault_verify.as_ref().map(|r| &r.schedule) {
            let r = self.vault_row(v)?;
            self.set_verify_schedule(r.rowid, schedule.as_deref())?;
        }
        if let Some(t) = p.storage_type.or(p.storage_model_type) {
            self.patch_vault_as(v, redundancy_patch(Some(t), None), approval)?;
        }
        if p.soft_delete_feature_state.is_some() || p.soft_delete_retention_period_in_days.is_some()
        {
            let sd = SoftDeleteSettings {
                soft_delete_state: p.soft_delete_feature_state,
                soft_delete_retention_period_in_days: p.soft_delete_retention_period_in_days,
                ..Default::default()
            };
            let patch = VaultProperties {
                security_settings: Some(SecuritySettings {
                    soft_delete_settings: Some(sd),
                    ..Default::default()
                }),
                ..Default::default()
            };
            self.patch_vault_as(
                v,
                VaultPatch {
                    tags: None,
                    properties: Some(patch),
                },
                approval,
            )?;
        }
        self.vault_config(v)
    }

    /// Sets storage redundancy through `backupstorageconfig` (PUT or PATCH).
    pub fn set_storage_config(
        &self,
        v: &VaultRef,
        body: BackupStorageConfigPut,
    ) -> Result<BackupStorageConfig> {
        let p = body.properties.unwrap_or_default();
        let crr = p.cross_region_restore_flag.map(|f| {
            if f {
                EnabledState::Enabled
            } else {
                EnabledState::Disabled
            }
        });
        self.patch_vault(
            v,
            redundancy_patch(p.storage_type.or(p.storage_model_type), crr),
        )?;
        self.storage_config(v)
    }

    /// `backupEncryptionConfigs/backupResourceEncryptionConfig` of a vault:
    /// backups here are encrypted with keys the server manages.
    pub fn encryption_config(&self, v: &VaultRef) -> Result<BackupEncryptionConfig> {
        self.vault_row(v)?;
        Ok(Resource {
            id: Some(format!(
                "{}/backupEncryptionConfigs/backupResourceEncryptionConfig",
                v.id()
            )),
            name: Some("backupResourceEncryptionConfig".into()),
            kind: Some("Microsoft.RecoveryServices/vaults/backupEncryptionConfigs".into()),
            ..Resource::with_properties(BackupEncryptionConfigProperties {
                encryption_at_rest_type: Some("MicrosoftManaged".into()),
                infrastructure_encryption_state: Some(EnabledState::Disabled),
                last_update_status: Some("Succeeded".into()),
                ..Default::default()
            })
        })
    }
}

/// A vault PATCH that changes only redundancy settings.
fn redundancy_patch(
    redundancy: Option<StorageRedundancy>,
    cross_region_restore: Option<EnabledState>,
) -> VaultPatch {
    VaultPatch {
        tags: None,
        properties: Some(VaultProperties {
            redundancy_settings: Some(RedundancySettings {
                standard_tier_storage_redundancy: redundancy,
                cross_region_restore,
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// `patch` merged into `props` as a JSON merge patch (RFC 7386): unmodelled
/// settings merge as objects, and a null removes one.
fn merged(props: VaultProperties, patch: VaultProperties) -> Result<VaultProperties> {
    let internal = |e: serde_json::Error| ServiceError::Internal(e.to_string());
    let (Value::Object(mut target), Value::Object(patch)) = (
        serde_json::to_value(props).map_err(internal)?,
        serde_json::to_value(patch).map_err(internal)?,
    ) else {
        return Err(ServiceError::Internal(
            "vault properties are not an object".into(),
        ));
    };
    merge_patch(&mut target, patch);
    serde_json::from_value(Value::Object(target)).map_err(internal)
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

fn soft_delete_settings(props: &VaultProperties) -> Option<&SoftDeleteSettings> {
    props
        .security_settings
        .as_ref()?
        .soft_delete_settings
        .as_ref()
}

impl Service {
    /// Checks the critical changes from a vault's properties to `after`
    /// against its resource guard, if it is linked to one.
    fn approve_changes(
        &self,
        existing: &VaultRow,
        after: &VaultProperties,
        approval: &Approval,
    ) -> Result<()> {
        for op in critical_changes(&existing.properties, after) {
            self.approve(existing, op, approval)?;
        }
        Ok(())
    }
}

/// The critical operations (multi-user authorization) a change of a
/// vault's properties makes: soft delete or its enhanced security turned
/// off, immutability from Unlocked to Disabled.
fn critical_changes(before: &VaultProperties, after: &VaultProperties) -> Vec<Critical> {
    let off = |s: &SoftDeleteState| *s == SoftDeleteState::Disabled;
    let enhanced = |p: &VaultProperties| {
        soft_delete_settings(p).and_then(|s| s.enhanced_security_state.clone())
    };
    let mut ops = Vec::new();
    let soft_delete_off = !off(&soft_delete_state(before)) && off(&soft_delete_state(after));
    let enhanced_off =
        !enhanced(before).is_some_and(|s| off(&s)) && enhanced(after).is_some_and(|s| off(&s));
    if soft_delete_off || enhanced_off {
        ops.push(Critical::DisableSoftDelete);
    }
    if immutability::of(before) == immutability::Immutability::Unlocked
        && immutability::of(after) == immutability::Immutability::Disabled
    {
        ops.push(Critical::ReduceImmutability);
    }
    ops
}

fn soft_delete_state(props: &VaultProperties) -> SoftDeleteState {
    soft_delete_settings(props)
        .and_then(|sd| sd.soft_delete_state.clone())
        .unwrap_or(SoftDeleteState::Enabled)
}

/// Checks and canonicalises soft-delete settings: `Enabled`, `Disabled` or
/// `AlwaysON` (compared case-insensitively, as `az` sends `AlwaysOn`), which
/// cannot be turned off again; retention 14–180 days.
fn check_soft_delete(props: &mut VaultProperties, before: &SoftDeleteState) -> Result<()> {
    let Some(sd) = props
        .security_settings
        .as_mut()
        .and_then(|s| s.soft_delete_settings.as_mut())
    else {
        return Ok(());
    };
    if let Some(state) = &sd.soft_delete_state {
        let canon = match state.as_str().to_ascii_lowercase().as_str() {
            "enabled" | "enable" => SoftDeleteState::Enabled,
            "disabled" | "disable" => SoftDeleteState::Disabled,
            "alwayson" => SoftDeleteState::AlwaysOn,
            _ => {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "properties.securitySettings.softDeleteSettings.softDeleteState: '{state}' is not Enabled, Disabled or AlwaysON"
                    ),
                ));
            }
        };
        if *before == SoftDeleteState::AlwaysOn && canon != SoftDeleteState::AlwaysOn {
            return Err(ServiceError::bad_request(
                "BMSUserErrorDisablingSoftDeleteStateNotAllowed",
                "Soft delete is always on for this vault and cannot be disabled.",
            ));
        }
        sd.soft_delete_state = Some(canon);
    }
    if let Some(d) = sd.soft_delete_retention_period_in_days
        && !(14..=180).contains(&d)
    {
        return Err(ServiceError::bad_request(
            "BMSUserErrorInvalidInput",
            format!(
                "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays: {d} is not a number of days from 14 to 180"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> VaultProperties {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn soft_delete_settings_table() {
        for (patch, before, ok, state) in [
            (
                json!({"softDeleteState": "disabled"}),
                "Enabled",
                true,
                "Disabled",
            ),
            (
                json!({"softDeleteState": "enable"}),
                "Enabled",
                true,
                "Enabled",
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
                json!({"softDeleteState": "AlwaysOn"}),
                "alwayson",
                true,
                "AlwaysON",
            ),
            (
                json!({"softDeleteState": "sometimes"}),
                "Enabled",
                false,
                "",
            ),
            (json!({"softDeleteState": "Invalid"}), "Enabled", false, ""),
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
                json!({"softDeleteRetentionPeriodInDays": 181}),
                "Enabled",
                false,
                "",
            ),
        ] {
            let mut p = props(json!({"securitySettings": {"softDeleteSettings": patch.clone()}}));
            let r = check_soft_delete(&mut p, &before.into());
            assert_eq!(r.is_ok(), ok, "{patch} after {before}");
            if let Err(e) = r {
                assert!(e.code().starts_with("BMSUserError"), "{e}");
            }
            if ok && !state.is_empty() {
                assert_eq!(soft_delete_state(&p).as_str(), state);
            }
        }
        // Unmodelled settings merge as objects; a null removes one.
        let m = merged(
            props(json!({"monitoringSettings": {"b": 1, "c": 2}, "d": 1, "publicNetworkAccess": "Disabled"})),
            props(json!({"monitoringSettings": {"b": 3}, "d": null,
                "securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}}})),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            json!({"monitoringSettings": {"b": 3, "c": 2}, "publicNetworkAccess": "Disabled",
                "securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}}})
        );
    }

    #[test]
    fn server_owned_properties_are_not_kept() {
        let p = client_properties(Some(props(json!({"provisioningState": "x",
            "redundancySettings": {"crossRegionRestore": "Enabled"}, "privateEndpointConnections": [],
            "privateEndpointStateForBackup": "x", "rsvaultVerify": {"schedule": "off"},
            "publicNetworkAccess": "Disabled"}))));
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            json!({"publicNetworkAccess": "Disabled"})
        );
        assert_eq!(
            redundancy_of(Some(&props(
                json!({"redundancySettings": {"standardTierStorageRedundancy": "locallyredundant"}})
            )))
            .unwrap(),
            (Some("LocallyRedundant"), None)
        );
        let zrs = props(
            json!({"redundancySettings": {"standardTierStorageRedundancy": "zoneredundant"}}),
        );
        let e = redundancy_of(Some(&zrs)).unwrap_err();
        assert_eq!(e.code(), "UserErrorStorageRedundancyNotSupported");
        assert!(e.to_string().contains("second storage location"), "{e}");
        for bad in [
            json!({"standardTierStorageRedundancy": "ReadAccessGeoZoneRedundant"}),
            json!({"standardTierStorageRedundancy": "Invalid"}),
            json!({"crossRegionRestore": "Sometimes"}),
        ] {
            let p = props(json!({ "redundancySettings": bad }));
            assert_eq!(redundancy_of(Some(&p)).unwrap_err().code(), "BadRequest");
        }
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

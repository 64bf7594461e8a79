//! Recovery Services vaults (`Microsoft.RecoveryServices/vaults`) and the
//! vault-wide backup settings: storage configuration
//! (`backupstorageconfig/vaultstorageconfig`), vault configuration
//! (`backupconfig/vaultconfig`) and encryption configuration.

use crate::resource::{Extra, Resource, ResourceBody};
use serde::{Deserialize, Serialize};

/// A vault.
pub type Vault = Resource<VaultProperties>;
/// A vault's storage configuration.
pub type BackupStorageConfig = Resource<BackupStorageConfigProperties>;
/// A vault's backup configuration (soft delete, verify schedule).
pub type BackupVaultConfig = Resource<BackupVaultConfigProperties>;
/// A vault's encryption configuration.
pub type BackupEncryptionConfig = Resource<BackupEncryptionConfigProperties>;
/// The body of a vault PUT: location, tags, SKU and properties, each of
/// which may be left out (the server requires the location).
pub type VaultPut = ResourceBody<VaultProperties>;
/// The body of a PUT or PATCH of a vault's storage configuration.
pub type BackupStorageConfigPut = ResourceBody<BackupStorageConfigProperties>;
/// The body of a PUT or PATCH of a vault's backup configuration.
pub type BackupVaultConfigPut = ResourceBody<BackupVaultConfigUpdate>;

crate::arm_enum! {
    /// Storage redundancy of a vault's backup data (`standardTierStorageRedundancy`,
    /// `storageType`, `storageModelType`).
    pub enum StorageRedundancy {
        Invalid,
        GeoRedundant,
        LocallyRedundant,
        ZoneRedundant,
        ReadAccessGeoZoneRedundant,
    }
}

crate::arm_enum! {
    /// An on/off state (`crossRegionRestore`, `publicNetworkAccess`,
    /// `multiUserAuthorization`, `dedupState`…).
    pub enum EnabledState { Enabled, Disabled, Invalid }
}

crate::arm_enum! {
    /// Soft-delete state. `AlwaysON` cannot be turned off again; Azure's
    /// clients send it as `AlwaysOn`.
    pub enum SoftDeleteState { Invalid, Enabled, Disabled, AlwaysOn = "AlwaysON" }
}

crate::arm_enum! {
    /// Whether a vault's storage redundancy can still change.
    pub enum StorageTypeState { Invalid, Locked, Unlocked }
}

crate::arm_enum! {
    /// Immutability of a vault.
    pub enum ImmutabilityState { Disabled, Unlocked, Locked }
}

crate::arm_enum! {
    /// Where a vault's verify schedule comes from (rsvault).
    pub enum VerifyScheduleSource { Vault, ServerDefault }
}

/// `properties` of a vault. Client-settable properties the service keeps
/// but does not interpret land in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redundancy_settings: Option<RedundancySettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_settings: Option<SecuritySettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<EnabledState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_state_for_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_state_for_site_recovery: Option<String>,
    /// rsvault: the vault's verify schedule and last verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_verify: Option<VerifyStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of a vault PATCH: the tags and the properties to change
/// (either may be left out).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<VaultProperties>,
}

/// `redundancySettings` of a vault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedundancySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_tier_storage_redundancy: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_restore: Option<EnabledState>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `securitySettings` of a vault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutability_settings: Option<ImmutabilitySettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_settings: Option<SoftDeleteSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_user_authorization: Option<EnabledState>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `immutabilitySettings` of a vault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImmutabilitySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ImmutabilityState>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `softDeleteSettings` of a vault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftDeleteSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_state: Option<SoftDeleteState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_period_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_security_state: Option<SoftDeleteState>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rsvaultVerify` of a vault and of its backup configuration (rsvault):
/// when the vault's store is verified, and what the last verify found.
/// The null fields are written as null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyStatus {
    /// The vault's own schedule (null: the server's default).
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_source: Option<VerifyScheduleSource>,
    #[serde(default)]
    pub next_verify_time: Option<String>,
    #[serde(default)]
    pub last_verify: Option<LastVerify>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged_recovery_point_count: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The last Verify job of a vault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastVerify {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::job::JobStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `properties` of `backupstorageconfig/vaultstorageconfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageConfigProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_model_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type_state: Option<StorageTypeState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_state: Option<EnabledState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xcool_state: Option<EnabledState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_restore_flag: Option<bool>,
    /// rsvault's own, read-only: where a geo-redundant vault's second copy
    /// is and how far it is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_replication: Option<ReplicationStatus>,
    /// rsvault's own, read-only: whether the storage itself keeps the
    /// vault's data from deletion (object lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_object_lock: Option<ObjectLockStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_enum! {
    /// Whether a vault's storage locks its objects.
    pub enum ObjectLockState {
        /// The vault is not immutable: nothing is locked.
        Disabled,
        /// Immutable, and every object of its stores was locked.
        Enabled,
        /// Immutable, and the first lock of its stores has not run yet.
        Pending,
        /// Immutable, but the storage has no object lock (local folders,
        /// Azure Blob, a bucket made without it): the server's rules only.
        NotSupported,
    }
}

/// The object lock of an immutable vault's stores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectLockStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ObjectLockState>,
    /// `Governance` (an Unlocked vault) or `Compliance` (Locked: nobody
    /// can lift it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How long storage keeps data after the server last saw it live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_in_days: Option<u32>,
    /// When every object's lock was last extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_extended: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_enum! {
    /// How a geo-redundant vault's secondary copy stands.
    pub enum ReplicationState {
        /// Every recovery point is on the secondary.
        InSync,
        /// Points wait to be copied (replication is asynchronous).
        Replicating,
        /// The last attempt failed; it is retried.
        Failed,
    }
}

/// The replication of a geo-redundant vault to its paired region (the
/// null fields are written as null).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ReplicationState>,
    /// Recovery points not yet on the secondary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_recovery_points: Option<u64>,
    /// How far the secondary is behind: the age of the oldest recovery
    /// point not yet on it (0 when in sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_in_seconds: Option<u64>,
    /// When replication last brought the secondary up to the primary.
    #[serde(default)]
    pub last_sync_time: Option<String>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `properties` of `backupconfig/vaultconfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupVaultConfigProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_model_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type_state: Option<StorageTypeState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_security_state: Option<SoftDeleteState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_feature_state: Option<SoftDeleteState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_period_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_soft_delete_feature_state_editable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_operation_requests: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_verify: Option<VerifyStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body that sets a vault's verify schedule (rsvault): a PATCH of
/// `backupconfig/vaultconfig` with `{"properties": {"rsvaultVerify":
/// {"schedule": ...}}}`; a null schedule restores the server's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyScheduleUpdate {
    pub rsvault_verify: VerifyScheduleSetting,
}

/// `rsvaultVerify` of a [`VerifyScheduleUpdate`]: the schedule, written
/// even when null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyScheduleSetting {
    #[serde(default)]
    pub schedule: Option<String>,
}

/// `properties` of a PUT or PATCH of `backupconfig/vaultconfig` as the
/// server reads it: the settings `az backup vault backup-properties set`
/// changes and (rsvault) the verify schedule. What is left out stays.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupVaultConfigUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_model_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageRedundancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_feature_state: Option<SoftDeleteState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_period_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvault_verify: Option<VerifyScheduleChange>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rsvaultVerify` of a [`BackupVaultConfigUpdate`]: a schedule that is
/// left out stays, a null one restores the server's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyScheduleChange {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub schedule: Option<Option<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A field that is there, null or not (`Some(None)` for null).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `properties` of `backupEncryptionConfigs/backupResourceEncryptionConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupEncryptionConfigProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_at_rest_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_encryption_state: Option<EnabledState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn az_spellings_read_and_unknown_settings_stay() {
        let body = json!({"location": "westeurope", "sku": {"name": "Standard"},
            "properties": {"securitySettings": {"softDeleteSettings": {"softDeleteState": "AlwaysOn"}},
                "redundancySettings": {"standardTierStorageRedundancy": "locallyredundant"},
                "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"}}}});
        let v: Vault = serde_json::from_value(body).unwrap();
        let sd = v
            .properties
            .security_settings
            .as_ref()
            .unwrap()
            .soft_delete_settings
            .as_ref()
            .unwrap();
        assert_eq!(sd.soft_delete_state, Some(SoftDeleteState::AlwaysOn));
        let back = serde_json::to_value(&v).unwrap();
        assert_eq!(
            back["properties"]["securitySettings"]["softDeleteSettings"]["softDeleteState"],
            "AlwaysON"
        );
        assert_eq!(
            back["properties"]["redundancySettings"]["standardTierStorageRedundancy"],
            "LocallyRedundant"
        );
        assert_eq!(
            back["properties"]["monitoringSettings"]["azureMonitorAlertSettings"]["alertsForAllJobFailures"],
            "Enabled"
        );
    }

    #[test]
    fn patches_carry_only_what_changes() {
        let tags = json!({"env": "prod"}).as_object().cloned();
        let p = VaultPatch {
            tags,
            properties: None,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"tags": {"env": "prod"}})
        );
    }

    #[test]
    fn config_updates_tell_a_null_schedule_from_none() {
        let read =
            |b: serde_json::Value| -> BackupVaultConfigPut { serde_json::from_value(b).unwrap() };
        let schedule = |b: &BackupVaultConfigPut| {
            b.properties
                .as_ref()
                .and_then(|p| p.rsvault_verify.as_ref())
                .map(|v| v.schedule.clone())
        };
        for (body, want) in [
            (json!({}), None),
            (json!({"properties": {"rsvaultVerify": {}}}), Some(None)),
            (
                json!({"properties": {"rsvaultVerify": {"schedule": null}}}),
                Some(Some(None)),
            ),
            (
                json!({"properties": {"rsvaultVerify": {"schedule": "sun 03:00"}}}),
                Some(Some(Some("sun 03:00".to_owned()))),
            ),
        ] {
            let b = read(body.clone());
            assert_eq!(schedule(&b), want, "{body}");
            assert_eq!(serde_json::to_value(&b).unwrap(), body);
        }
        // What the CLI sends reads as a change.
        let cli = crate::Resource::with_properties(VerifyScheduleUpdate::default());
        let b = read(serde_json::to_value(cli).unwrap());
        assert_eq!(schedule(&b), Some(Some(None)));
        assert!(
            serde_json::from_value::<BackupVaultConfigPut>(
                json!({"properties": {"rsvaultVerify": {"schedule": 5}}})
            )
            .is_err()
        );
    }

    #[test]
    fn verify_schedule_update_writes_null() {
        let u = crate::Resource::with_properties(VerifyScheduleUpdate::default());
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"properties": {"rsvaultVerify": {"schedule": null}}})
        );
    }
}

//! `backup vault`: create, list, show, delete, verify, and backup
//! properties (storage redundancy, soft delete, verify schedule).

use super::{Ctx, confirm};
use crate::arm_client::{ArmError, BACKUP_API, VAULT_API, encode};
use crate::output::{Column, col, show};
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use rsvault_arm::job::JobStatus;
use rsvault_arm::vault::{
    BackupStorageConfig, BackupVaultConfig, BackupVaultConfigProperties, EnabledState,
    ImmutabilitySettings, ImmutabilityState, RedundancySettings, SecuritySettings, SoftDeleteState,
    StorageRedundancy, Vault, VaultPatch, VaultProperties, VerifyScheduleSetting,
    VerifyScheduleUpdate,
};
use rsvault_arm::{Resource, Sku};
use serde::Serialize;
use serde_json::{Map, Value};

const COLUMNS: &[Column<Vault>] = &[
    col("Location", |v| show(&v.location)),
    col("Name", |v| v.name().to_owned()),
    col("ResourceGroup", |v| show(&v.resource_group())),
];

/// One of the two resources `backup-properties show` prints.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum BackupProperty {
    Storage(Box<BackupStorageConfig>),
    Config(Box<BackupVaultConfig>),
}

impl BackupProperty {
    fn name(&self) -> String {
        match self {
            BackupProperty::Storage(s) => s.name().to_owned(),
            BackupProperty::Config(c) => c.name().to_owned(),
        }
    }

    fn storage_type(&self) -> String {
        match self {
            BackupProperty::Storage(s) => show(&s.properties.storage_type),
            BackupProperty::Config(c) => show(&c.properties.storage_type),
        }
    }

    fn storage_type_state(&self) -> String {
        match self {
            BackupProperty::Storage(s) => show(&s.properties.storage_type_state),
            BackupProperty::Config(c) => show(&c.properties.storage_type_state),
        }
    }

    fn storage(&self) -> Option<&BackupStorageConfig> {
        match self {
            BackupProperty::Storage(s) => Some(s),
            BackupProperty::Config(_) => None,
        }
    }

    fn config(&self) -> Option<&BackupVaultConfigProperties> {
        match self {
            BackupProperty::Storage(_) => None,
            BackupProperty::Config(c) => Some(&c.properties),
        }
    }
}

const PROPERTY_COLUMNS: &[Column<BackupProperty>] = &[
    col("Name", BackupProperty::name),
    col("StorageType", BackupProperty::storage_type),
    col("StorageTypeState", BackupProperty::storage_type_state),
    col("CrossRegionRestore", |v| {
        show(
            &v.storage()
                .and_then(|s| s.properties.cross_region_restore_flag),
        )
    }),
    col("SoftDeleteFeatureState", |v| {
        show(
            &v.config()
                .and_then(|c| c.soft_delete_feature_state.as_ref()),
        )
    }),
    col("SoftDeleteRetentionPeriodInDays", |v| {
        show(
            &v.config()
                .and_then(|c| c.soft_delete_retention_period_in_days),
        )
    }),
    col("VerifySchedule", |v| {
        show(
            &v.config()
                .and_then(|c| c.rsvault_verify.as_ref())
                .and_then(|r| r.effective_schedule.as_ref()),
        )
    }),
];

/// A vault by name.
#[derive(Debug, Args)]
pub struct VaultName {
    /// Name of the Recovery services vault.
    #[arg(short = 'n', long = "name")]
    pub name: String,
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
}

impl VaultName {
    pub(super) fn args(&self) -> super::VaultArgs {
        super::VaultArgs {
            vault_name: self.name.clone(),
            resource_group: self.resource_group.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Redundancy {
    #[value(name = "GeoRedundant")]
    Geo,
    #[value(name = "LocallyRedundant")]
    Locally,
    #[value(name = "ZoneRedundant")]
    Zone,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeatureState {
    #[value(name = "Enable")]
    Enable,
    #[value(name = "Disable")]
    Disable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImmutabilityChoice {
    Disabled,
    Unlocked,
    Locked,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrueFalse {
    #[value(name = "True")]
    True,
    #[value(name = "False")]
    False,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create a new Recovery Services vault or update an existing one.
    Create {
        #[command(flatten)]
        vault: VaultName,
        /// Location (region) of the vault, e.g. westeurope.
        #[arg(short = 'l', long)]
        location: String,
        /// Space-separated tags: key[=value] [key[=value] ...].
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
    },
    /// Update a Recovery Services vault: its tags, or its immutability
    /// (Disabled, Unlocked, then Locked for good).
    Update {
        #[command(flatten)]
        vault: VaultName,
        /// Immutability state of the vault.
        #[arg(long, value_enum, ignore_case = true)]
        immutability_state: Option<ImmutabilityChoice>,
        /// Space-separated tags: key[=value] [key[=value] ...].
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
    },
    /// List Recovery Services vaults within a subscription or resource group.
    List {
        /// Name of resource group (default: every group of the subscription).
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
    },
    /// Show details of a particular Recovery service vault.
    Show {
        #[command(flatten)]
        vault: VaultName,
    },
    /// Delete an existing Recovery services vault.
    Delete {
        #[command(flatten)]
        vault: VaultName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Verify every recovery point in the vault's store now (an rsvault
    /// Verify job; it also runs on the vault's verify schedule).
    Verify {
        #[command(flatten)]
        vault: VaultName,
        /// Wait for the job to end; exit non-zero when it finds damage.
        #[arg(long)]
        wait: bool,
        /// With --wait: maximum time, in seconds, to wait.
        #[arg(long, requires = "wait")]
        timeout: Option<u64>,
    },
    /// Properties of the Recovery Services vault.
    #[command(subcommand)]
    BackupProperties(BackupPropertiesCommand),
    /// Link the vault to a resource guard, show or remove the link (multi-user authorization).
    #[command(subcommand)]
    ResourceGuardMapping(super::mua::MappingCommand),
}

#[derive(Debug, Subcommand)]
pub enum BackupPropertiesCommand {
    /// Gets backup related properties of the Recovery Services vault.
    Show {
        #[command(flatten)]
        vault: VaultName,
    },
    /// Sets backup related properties of the Recovery Services vault.
    Set {
        #[command(flatten)]
        vault: VaultName,
        /// Set backup storage properties for a Recovery Services vault.
        #[arg(long, value_enum, ignore_case = true)]
        backup_storage_redundancy: Option<Redundancy>,
        /// Set soft-delete feature state for a Recovery Services Vault.
        #[arg(long, value_enum, ignore_case = true)]
        soft_delete_feature_state: Option<FeatureState>,
        /// Set soft-delete retention duration time in days (14 to 180).
        #[arg(long, value_parser = clap::value_parser!(u32).range(14..=180))]
        soft_delete_duration: Option<u32>,
        /// Set cross-region-restore feature state for a Recovery Services Vault. Default: False.
        #[arg(long, value_enum, ignore_case = true)]
        cross_region_restore_flag: Option<TrueFalse>,
        /// When the vault's verify job runs (rsvault): weekdays and a UTC
        /// time ("sun 03:00", "daily 02:30", "mon..fri 22:00"), "off", or
        /// "default" for the server's schedule.
        #[arg(long)]
        verify_schedule: Option<String>,
    },
}

/// `az`'s `key[=value]` tags.
pub fn parse_tags(tags: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for t in tags.iter().filter(|t| !t.is_empty()) {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        m.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    m
}

fn not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ArmError>()
        .is_some_and(|a| a.status == 404)
}

/// `[backupstorageconfig, backupconfig]` as `az backup vault
/// backup-properties show` prints them.
fn backup_properties(ctx: &Ctx, v: &super::VaultArgs) -> Result<Vec<BackupProperty>> {
    let vp = ctx.vault_path(v);
    let storage = ctx.arm.get(
        &format!("{vp}/backupstorageconfig/vaultstorageconfig"),
        BACKUP_API,
    )?;
    let config = match ctx
        .arm
        .get(&format!("{vp}/backupconfig/vaultconfig"), BACKUP_API)
    {
        Ok(c) => c,
        // Servers without that resource: the same facts from the vault.
        Err(e) if not_found(&e) => {
            let vault: Vault = ctx.arm.get(&vp, VAULT_API)?;
            let id = format!("{}/backupconfig/vaultconfig", vault.id());
            let sd = vault
                .properties
                .security_settings
                .and_then(|s| s.soft_delete_settings)
                .unwrap_or_default();
            Resource {
                id: Some(id),
                name: Some("vaultconfig".into()),
                kind: Some("Microsoft.RecoveryServices/vaults/backupconfig".into()),
                ..Resource::with_properties(BackupVaultConfigProperties {
                    soft_delete_feature_state: sd.soft_delete_state,
                    soft_delete_retention_period_in_days: sd.soft_delete_retention_period_in_days,
                    enhanced_security_state: sd.enhanced_security_state,
                    ..Default::default()
                })
            }
        }
        Err(e) => return Err(e),
    };
    Ok(vec![
        BackupProperty::Storage(Box::new(storage)),
        BackupProperty::Config(Box::new(config)),
    ])
}

/// What `backup-properties set` changes.
struct PropertyChanges {
    redundancy: Option<Redundancy>,
    soft_delete: Option<FeatureState>,
    days: Option<u32>,
    crr: Option<TrueFalse>,
    verify_schedule: Option<String>,
}

/// Sets the vault's verify schedule (`default`: the server's).
fn set_verify_schedule(ctx: &Ctx, vp: &str, schedule: &str) -> Result<()> {
    let schedule = (!schedule.eq_ignore_ascii_case("default")).then(|| schedule.to_owned());
    let body = Resource::with_properties(VerifyScheduleUpdate {
        rsvault_verify: VerifyScheduleSetting { schedule },
    });
    ctx.arm.send_json(
        "PATCH",
        &format!("{vp}/backupconfig/vaultconfig"),
        &[("api-version", BACKUP_API)],
        &body,
    )?;
    Ok(())
}

fn set_properties(
    ctx: &Ctx,
    v: &super::VaultArgs,
    c: PropertyChanges,
) -> Result<Vec<BackupProperty>> {
    let PropertyChanges {
        redundancy,
        soft_delete,
        days,
        crr,
        verify_schedule,
    } = c;
    if redundancy.is_none()
        && soft_delete.is_none()
        && days.is_none()
        && crr.is_none()
        && verify_schedule.is_none()
    {
        bail!(
            "give at least one of --backup-storage-redundancy, --soft-delete-feature-state, --soft-delete-duration, --cross-region-restore-flag, --verify-schedule"
        );
    }
    let vp = ctx.vault_path(v);
    if let Some(s) = &verify_schedule {
        set_verify_schedule(ctx, &vp, s)?;
    }
    if redundancy.is_none() && soft_delete.is_none() && days.is_none() && crr.is_none() {
        return backup_properties(ctx, v);
    }
    let vault: Vault = ctx.arm.get(&vp, VAULT_API)?;
    let mut props = VaultProperties::default();
    if redundancy.is_some() || crr.is_some() {
        props.redundancy_settings = Some(RedundancySettings {
            standard_tier_storage_redundancy: redundancy.map(|r| match r {
                Redundancy::Geo => StorageRedundancy::GeoRedundant,
                Redundancy::Locally => StorageRedundancy::LocallyRedundant,
                Redundancy::Zone => StorageRedundancy::ZoneRedundant,
            }),
            cross_region_restore: crr.map(|c| match c {
                TrueFalse::True => EnabledState::Enabled,
                TrueFalse::False => EnabledState::Disabled,
            }),
            ..Default::default()
        });
    }
    if soft_delete.is_some() || days.is_some() {
        // PATCH replaces `securitySettings` whole: send it back complete.
        let mut sec = vault.properties.security_settings.unwrap_or_default();
        let sd = sec
            .soft_delete_settings
            .get_or_insert_with(Default::default);
        if let Some(s) = soft_delete {
            sd.soft_delete_state = Some(match s {
                FeatureState::Enable => SoftDeleteState::Enabled,
                FeatureState::Disable => SoftDeleteState::Disabled,
            });
        }
        if let Some(d) = days {
            sd.soft_delete_retention_period_in_days = Some(d);
        }
        props.security_settings = Some(sec);
    }
    let patch = VaultPatch {
        tags: None,
        properties: Some(props),
    };
    let patch = match soft_delete {
        Some(FeatureState::Disable) => {
            super::mua::approved_body(ctx, v, super::mua::DISABLE_SOFT_DELETE, &patch)?
        }
        _ => serde_json::to_value(&patch)?,
    };
    let reply = ctx
        .arm
        .send_json("PATCH", &vp, &[("api-version", VAULT_API)], &patch)?;
    if reply.status == 202 && reply.async_operation.is_some() {
        ctx.arm.wait_async(&reply, VAULT_API)?;
    }
    backup_properties(ctx, v)
}

/// `backup vault update`: a PATCH of the tags and the immutability state;
/// Unlocked to Disabled names the vault's resource guard request, as `az`.
fn update(
    ctx: &Ctx,
    v: &super::VaultArgs,
    immutability: Option<ImmutabilityChoice>,
    tags: Option<&[String]>,
) -> Result<Vault> {
    if immutability.is_none() && tags.is_none() {
        bail!("give --immutability-state or --tags");
    }
    let vp = ctx.vault_path(v);
    let mut props = VaultProperties::default();
    if let Some(state) = immutability {
        props.security_settings = Some(SecuritySettings {
            immutability_settings: Some(ImmutabilitySettings {
                state: Some(match state {
                    ImmutabilityChoice::Disabled => ImmutabilityState::Disabled,
                    ImmutabilityChoice::Unlocked => ImmutabilityState::Unlocked,
                    ImmutabilityChoice::Locked => ImmutabilityState::Locked,
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let patch = VaultPatch {
        tags: tags.map(parse_tags),
        properties: immutability.map(|_| props),
    };
    let body = if immutability == Some(ImmutabilityChoice::Disabled) {
        super::mua::approved_body(ctx, v, super::mua::REDUCE_IMMUTABILITY, &patch)?
    } else {
        serde_json::to_value(&patch)?
    };
    let reply = ctx
        .arm
        .send_json("PATCH", &vp, &[("api-version", VAULT_API)], &body)?;
    if reply.status == 202 && reply.async_operation.is_some() {
        ctx.arm.wait_async(&reply, VAULT_API)?;
    }
    ctx.arm.get(&vp, VAULT_API)
}

/// `backup vault verify`: starts a Verify job, prints it (once it has
/// ended, with `--wait`); a job that found damage fails the command.
fn verify(ctx: &Ctx, v: &super::VaultArgs, wait: bool, timeout: Option<u64>) -> Result<()> {
    let vp = ctx.vault_path(v);
    let reply = ctx.arm.send(
        "POST",
        &format!("{vp}/verify"),
        &[("api-version", BACKUP_API)],
    )?;
    let mut job = match ctx.finish_operation(&vp, &reply)? {
        super::Outcome::Job(j) => *j,
        other => return ctx.print_outcome(&other),
    };
    if wait {
        job = super::job::wait(ctx, v, job.name(), timeout)?;
    }
    ctx.print_one(&job, super::job::COLUMNS)?;
    let props = job.properties.as_iaas_vm();
    let failed = props.and_then(|p| p.status.as_ref()) == Some(&JobStatus::Failed);
    if wait && failed {
        let damaged = props
            .and_then(|p| p.extended_info.as_ref())
            .and_then(|e| e.property_bag.as_ref())
            .and_then(|b| b.get("Damaged Recovery Points"))
            .map_or("?", String::as_str);
        bail!(
            "verify job {} failed: {damaged} damaged recovery point(s); see its errorDetails",
            job.name()
        );
    }
    Ok(())
}

/// Runs a `backup vault` command.
pub fn run(ctx: &Ctx, cmd: VaultCommand) -> Result<()> {
    match cmd {
        VaultCommand::Create {
            vault,
            location,
            tags,
        } => {
            let vp = ctx.vault_path(&vault.args());
            let tags = tags.as_deref().map(parse_tags);
            let v: Vault = match ctx.arm.get::<Vault>(&vp, VAULT_API) {
                Ok(existing) => {
                    let at = existing.location.as_deref().unwrap_or("");
                    if !at.eq_ignore_ascii_case(&location) {
                        bail!(
                            "vault '{}' already exists in location '{at}'; a vault cannot move to '{location}'",
                            vault.name
                        );
                    }
                    match tags {
                        Some(t) => {
                            let patch = VaultPatch {
                                tags: Some(t),
                                properties: None,
                            };
                            ctx.arm
                                .send_json("PATCH", &vp, &[("api-version", VAULT_API)], &patch)?
                                .body()?
                        }
                        None => existing,
                    }
                }
                Err(e) if not_found(&e) => {
                    let body = Resource {
                        location: Some(location),
                        sku: Some(Sku {
                            name: "Standard".into(),
                            ..Default::default()
                        }),
                        tags,
                        ..Resource::with_properties(VaultProperties {
                            public_network_access: Some(EnabledState::Enabled),
                            ..Default::default()
                        })
                    };
                    ctx.arm
                        .send_json("PUT", &vp, &[("api-version", VAULT_API)], &body)?
                        .body()?
                }
                Err(e) => return Err(e),
            };
            ctx.print_one(&v, COLUMNS)
        }
        VaultCommand::Update {
            vault,
            immutability_state,
            tags,
        } => {
            let v = update(ctx, &vault.args(), immutability_state, tags.as_deref())?;
            ctx.print_one(&v, COLUMNS)
        }
        VaultCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "{}/providers/Microsoft.RecoveryServices/vaults",
                    ctx.arm.group_path(&rg)
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults",
                    encode(ctx.arm.subscription())
                ),
            };
            let vaults: Vec<Vault> = ctx.arm.list(&path, VAULT_API, None)?;
            ctx.print_list(&vaults, COLUMNS)
        }
        VaultCommand::Show { vault } => {
            let v: Vault = ctx.arm.get(&ctx.vault_path(&vault.args()), VAULT_API)?;
            ctx.print_one(&v, COLUMNS)
        }
        VaultCommand::Delete { vault, yes } => {
            if !confirm(yes, "Are you sure you want to delete this vault?")? {
                return Ok(());
            }
            let reply = ctx.arm.send(
                "DELETE",
                &ctx.vault_path(&vault.args()),
                &[("api-version", VAULT_API)],
            )?;
            if reply.status == 202 && reply.async_operation.is_some() {
                ctx.arm.wait_async(&reply, VAULT_API)?;
            }
            Ok(())
        }
        VaultCommand::ResourceGuardMapping(cmd) => super::mua::run(ctx, cmd),
        VaultCommand::BackupProperties(BackupPropertiesCommand::Show { vault }) => {
            ctx.print_list(&backup_properties(ctx, &vault.args())?, PROPERTY_COLUMNS)
        }
        VaultCommand::BackupProperties(BackupPropertiesCommand::Set {
            vault,
            backup_storage_redundancy,
            soft_delete_feature_state,
            soft_delete_duration,
            cross_region_restore_flag,
            verify_schedule,
        }) => {
            let changes = PropertyChanges {
                redundancy: backup_storage_redundancy,
                soft_delete: soft_delete_feature_state,
                days: soft_delete_duration,
                crr: cross_region_restore_flag,
                verify_schedule,
            };
            let v = set_properties(ctx, &vault.args(), changes)?;
            ctx.print_list(&v, PROPERTY_COLUMNS)
        }
        VaultCommand::Verify {
            vault,
            wait,
            timeout,
        } => verify(ctx, &vault.args(), wait, timeout),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_like_az() {
        let t = super::parse_tags(&["env=prod".into(), "owner".into(), "".into()]);
        assert_eq!(
            serde_json::Value::Object(t),
            serde_json::json!({"env": "prod", "owner": ""})
        );
    }
}

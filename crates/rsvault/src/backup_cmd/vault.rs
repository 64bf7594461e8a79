//! `backup vault`: create, list, show, delete, verify, and backup
//! properties (storage redundancy, soft delete, verify schedule).

use super::{Ctx, confirm};
use crate::arm_client::{ArmError, BACKUP_API, VAULT_API, encode};
use crate::output::{Column, col, text};
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

const COLUMNS: &[Column] = &[
    col("Location", |v| text(&v["location"])),
    col("Name", |v| text(&v["name"])),
    col("ResourceGroup", |v| text(&v["resourceGroup"])),
];

const PROPERTY_COLUMNS: &[Column] = &[
    col("Name", |v| text(&v["name"])),
    col("StorageType", |v| text(&v["properties"]["storageType"])),
    col("StorageTypeState", |v| {
        text(&v["properties"]["storageTypeState"])
    }),
    col("CrossRegionRestore", |v| {
        text(&v["properties"]["crossRegionRestoreFlag"])
    }),
    col("SoftDeleteFeatureState", |v| {
        text(&v["properties"]["softDeleteFeatureState"])
    }),
    col("SoftDeleteRetentionPeriodInDays", |v| {
        text(&v["properties"]["softDeleteRetentionPeriodInDays"])
    }),
    col("VerifySchedule", |v| {
        text(&v["properties"]["rsvaultVerify"]["effectiveSchedule"])
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
    fn args(&self) -> super::VaultArgs {
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

fn parse_tags(tags: &[String]) -> Value {
    let mut m = Map::new();
    for t in tags.iter().filter(|t| !t.is_empty()) {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        m.insert(k.to_owned(), json!(v));
    }
    Value::Object(m)
}

fn not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ArmError>()
        .is_some_and(|a| a.status == 404)
}

/// `[backupstorageconfig, backupconfig]` as `az backup vault
/// backup-properties show` prints them.
fn backup_properties(ctx: &Ctx, v: &super::VaultArgs) -> Result<Value> {
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
            let vault = ctx.arm.get(&vp, VAULT_API)?;
            let sd = &vault["properties"]["securitySettings"]["softDeleteSettings"];
            json!({
                "id": format!("{}/backupconfig/vaultconfig", vault["id"].as_str().unwrap_or("")),
                "name": "vaultconfig",
                "type": "Microsoft.RecoveryServices/vaults/backupconfig",
                "properties": {
                    "softDeleteFeatureState": sd["softDeleteState"],
                    "softDeleteRetentionPeriodInDays": sd["softDeleteRetentionPeriodInDays"],
                    "enhancedSecurityState": sd["enhancedSecurityState"],
                }
            })
        }
        Err(e) => return Err(e),
    };
    Ok(json!([storage, config]))
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
    let value = if schedule.eq_ignore_ascii_case("default") {
        Value::Null
    } else {
        json!(schedule)
    };
    ctx.arm.send(
        "PATCH",
        &format!("{vp}/backupconfig/vaultconfig"),
        &[("api-version", BACKUP_API)],
        Some(&json!({"properties": {"rsvaultVerify": {"schedule": value}}})),
    )?;
    Ok(())
}

fn set_properties(ctx: &Ctx, v: &super::VaultArgs, c: PropertyChanges) -> Result<Value> {
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
    let vault = ctx.arm.get(&vp, VAULT_API)?;
    let mut props = Map::new();
    if redundancy.is_some() || crr.is_some() {
        let mut rs = Map::new();
        if let Some(r) = redundancy {
            let name = match r {
                Redundancy::Geo => "GeoRedundant",
                Redundancy::Locally => "LocallyRedundant",
                Redundancy::Zone => "ZoneRedundant",
            };
            rs.insert("standardTierStorageRedundancy".into(), json!(name));
        }
        if let Some(c) = crr {
            let state = match c {
                TrueFalse::True => "Enabled",
                TrueFalse::False => "Disabled",
            };
            rs.insert("crossRegionRestore".into(), json!(state));
        }
        props.insert("redundancySettings".into(), Value::Object(rs));
    }
    if soft_delete.is_some() || days.is_some() {
        // PATCH replaces `securitySettings` whole: send it back complete.
        let mut sec = vault["properties"]["securitySettings"].clone();
        if !sec.is_object() {
            sec = json!({});
        }
        if !sec["softDeleteSettings"].is_object() {
            sec["softDeleteSettings"] = json!({});
        }
        if let Some(s) = soft_delete {
            sec["softDeleteSettings"]["softDeleteState"] = json!(match s {
                FeatureState::Enable => "Enabled",
                FeatureState::Disable => "Disabled",
            });
        }
        if let Some(d) = days {
            sec["softDeleteSettings"]["softDeleteRetentionPeriodInDays"] = json!(d);
        }
        props.insert("securitySettings".into(), sec);
    }
    let reply = ctx.arm.send(
        "PATCH",
        &vp,
        &[("api-version", VAULT_API)],
        Some(&json!({ "properties": props })),
    )?;
    if reply.status == 202 && reply.async_operation.is_some() {
        ctx.arm.wait_async(&reply, VAULT_API)?;
    }
    backup_properties(ctx, v)
}

/// `backup vault verify`: starts a Verify job, prints it (once it has
/// ended, with `--wait`); a job that found damage fails the command.
fn verify(ctx: &Ctx, v: &super::VaultArgs, wait: bool, timeout: Option<u64>) -> Result<()> {
    let vp = ctx.vault_path(v);
    let reply = ctx.arm.send(
        "POST",
        &format!("{vp}/verify"),
        &[("api-version", BACKUP_API)],
        None,
    )?;
    let mut job = ctx.finish_operation(&vp, &reply)?;
    if wait && let Some(name) = job["name"].as_str().map(str::to_owned) {
        job = super::job::wait(ctx, v, &name, timeout)?;
    }
    ctx.print(&job, super::job::COLUMNS)?;
    let status = job["properties"]["status"].as_str().unwrap_or("");
    if wait && status == "Failed" {
        bail!(
            "verify job {} failed: {} damaged recovery point(s); see its errorDetails",
            job["name"].as_str().unwrap_or(""),
            job["properties"]["extendedInfo"]["propertyBag"]["Damaged Recovery Points"]
                .as_str()
                .unwrap_or("?")
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
            let v = match ctx.arm.get(&vp, VAULT_API) {
                Ok(existing) => {
                    let at = existing["location"].as_str().unwrap_or("");
                    if !at.eq_ignore_ascii_case(&location) {
                        bail!(
                            "vault '{}' already exists in location '{at}'; a vault cannot move to '{location}'",
                            vault.name
                        );
                    }
                    match tags {
                        Some(t) => {
                            ctx.arm
                                .send(
                                    "PATCH",
                                    &vp,
                                    &[("api-version", VAULT_API)],
                                    Some(&json!({ "tags": t })),
                                )?
                                .body
                        }
                        None => existing,
                    }
                }
                Err(e) if not_found(&e) => {
                    let mut body = json!({
                        "location": location,
                        "sku": {"name": "Standard"},
                        "properties": {"publicNetworkAccess": "Enabled"},
                    });
                    if let Some(t) = tags {
                        body["tags"] = t;
                    }
                    ctx.arm
                        .send("PUT", &vp, &[("api-version", VAULT_API)], Some(&body))?
                        .body
                }
                Err(e) => return Err(e),
            };
            ctx.print(&v, COLUMNS)
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
            ctx.print(
                &Value::Array(ctx.arm.list(&path, VAULT_API, None)?),
                COLUMNS,
            )
        }
        VaultCommand::Show { vault } => {
            let v = ctx.arm.get(&ctx.vault_path(&vault.args()), VAULT_API)?;
            ctx.print(&v, COLUMNS)
        }
        VaultCommand::Delete { vault, yes } => {
            if !confirm(yes, "Are you sure you want to delete this vault?")? {
                return Ok(());
            }
            let reply = ctx.arm.send(
                "DELETE",
                &ctx.vault_path(&vault.args()),
                &[("api-version", VAULT_API)],
                None,
            )?;
            if reply.status == 202 && reply.async_operation.is_some() {
                ctx.arm.wait_async(&reply, VAULT_API)?;
            }
            Ok(())
        }
        VaultCommand::BackupProperties(BackupPropertiesCommand::Show { vault }) => {
            ctx.print(&backup_properties(ctx, &vault.args())?, PROPERTY_COLUMNS)
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
            ctx.print(&v, PROPERTY_COLUMNS)
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
        assert_eq!(t, serde_json::json!({"env": "prod", "owner": ""}));
    }
}

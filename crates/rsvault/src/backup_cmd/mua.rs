//! `rsvault backup vault resource-guard-mapping …`, and what every guarded
//! command does as `az` does it: look up the vault's resource guard
//! mapping, name the guard's request for a critical operation in the
//! body, and unlock a delete first (`unlockDelete`).

use super::{Ctx, VaultArgs, confirm};
use crate::arm_client::BACKUP_API;
use crate::output::{Column, col, show};
use anyhow::{Result, bail};
use clap::Subcommand;
use rsvault_arm::Resource;
use rsvault_arm::guard::{
    ResourceGuardProxyProperties, ResourceGuardProxyResource, UnlockDeleteRequest,
};

/// The critical operations, as the mapping names them.
pub const DISABLE_SOFT_DELETE: &str = "Microsoft.RecoveryServices/vaults/backupconfig/write";
pub const UPDATE_POLICY: &str = "Microsoft.RecoveryServices/vaults/backupPolicies/write";
pub const UPDATE_ITEM: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write";
pub const STOP_PROTECTION: &str = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write#stopProtectionWithRetainData";
pub const DELETE_ITEM: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete";
pub const DELETE_MAPPING: &str =
    "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete";
pub const REDUCE_IMMUTABILITY: &str =
    "Microsoft.RecoveryServices/vaults/write#reduceImmutabilityState";

const NAME: &str = "VaultProxy";

const COLUMNS: &[Column<ResourceGuardProxyResource>] = &[
    col("Name", |p| p.name().to_owned()),
    col("ResourceGuardResourceId", |p| {
        show(&p.properties.resource_guard_resource_id)
    }),
    col("LastUpdatedTime", |p| show(&p.properties.last_updated_time)),
];

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Link the vault to a resource guard (multi-user authorization).
    Update {
        #[command(flatten)]
        vault: super::vault::VaultName,
        /// ARM ID of the Resource Guard to be associated with the vault.
        #[arg(long)]
        resource_guard_id: String,
    },
    /// Show the vault's resource guard mapping.
    Show {
        #[command(flatten)]
        vault: super::vault::VaultName,
    },
    /// Remove the vault's resource guard mapping (the guard must approve it).
    Delete {
        #[command(flatten)]
        vault: super::vault::VaultName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

fn mapping_path(ctx: &Ctx, v: &VaultArgs) -> String {
    format!("{}/backupResourceGuardProxies/{NAME}", ctx.vault_path(v))
}

/// The vault's mapping, if it has one.
fn mapping(ctx: &Ctx, v: &VaultArgs) -> Result<Option<ResourceGuardProxyResource>> {
    let all: Vec<ResourceGuardProxyResource> = ctx.arm.list(
        &format!("{}/backupResourceGuardProxies", ctx.vault_path(v)),
        BACKUP_API,
        None,
    )?;
    Ok(all.into_iter().next())
}

/// The guard's request that approves `operation`, when the vault is linked
/// to a guard that guards it.
pub fn request_for(ctx: &Ctx, v: &VaultArgs, operation: &str) -> Result<Option<String>> {
    Ok(mapping(ctx, v)?.and_then(|m| {
        m.properties
            .resource_guard_operation_details
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.vault_critical_operation.eq_ignore_ascii_case(operation))
            .map(|d| d.default_resource_request)
    }))
}

/// The `resourceGuardOperationRequests` to send with `operation` (none
/// without a guard).
pub fn requests_for(ctx: &Ctx, v: &VaultArgs, operation: &str) -> Result<Option<Vec<String>>> {
    Ok(request_for(ctx, v, operation)?.map(|r| vec![r]))
}

/// Unlocks one delete of `resource` (the mapping itself when `None`),
/// when the vault's guard guards `operation`.
pub fn unlock_delete(
    ctx: &Ctx,
    v: &VaultArgs,
    operation: &str,
    resource: Option<&str>,
) -> Result<()> {
    let Some(request) = request_for(ctx, v, operation)? else {
        return Ok(());
    };
    let body = UnlockDeleteRequest {
        resource_guard_operation_requests: Some(vec![request]),
        resource_to_be_deleted: resource.map(str::to_owned),
        extra: Default::default(),
    };
    ctx.arm.send_json(
        "POST",
        &format!("{}/unlockDelete", mapping_path(ctx, v)),
        &[("api-version", BACKUP_API)],
        &body,
    )?;
    Ok(())
}

/// Runs a `backup vault resource-guard-mapping` command.
pub fn run(ctx: &Ctx, cmd: MappingCommand) -> Result<()> {
    match cmd {
        MappingCommand::Update {
            vault,
            resource_guard_id,
        } => {
            let v = vault.args();
            if mapping(ctx, &v)?.is_some() {
                delete(ctx, &v)?;
            }
            let body = Resource::with_properties(ResourceGuardProxyProperties {
                resource_guard_resource_id: Some(resource_guard_id),
                ..Default::default()
            });
            let m: ResourceGuardProxyResource = ctx
                .arm
                .send_json(
                    "PUT",
                    &mapping_path(ctx, &v),
                    &[("api-version", BACKUP_API)],
                    &body,
                )?
                .body()?;
            ctx.print_one(&m, COLUMNS)
        }
        MappingCommand::Show { vault } => {
            let v = vault.args();
            let m: ResourceGuardProxyResource = ctx.arm.get(&mapping_path(ctx, &v), BACKUP_API)?;
            ctx.print_one(&m, COLUMNS)
        }
        MappingCommand::Delete { vault, yes } => {
            if !confirm(
                yes,
                "Are you sure you want to remove the vault's resource guard mapping?",
            )? {
                return Ok(());
            }
            let v = vault.args();
            if mapping(ctx, &v)?.is_none() {
                bail!("vault '{}' has no resource guard mapping", v.vault_name);
            }
            delete(ctx, &v)
        }
    }
}

fn delete(ctx: &Ctx, v: &VaultArgs) -> Result<()> {
    unlock_delete(ctx, v, DELETE_MAPPING, None)?;
    ctx.arm.send(
        "DELETE",
        &mapping_path(ctx, v),
        &[("api-version", BACKUP_API)],
    )?;
    Ok(())
}

/// A request body with `properties.resourceGuardOperationRequests` set to
/// the guard's request for `operation`, when the vault has a guard that
/// guards it (the server checks it only when the change is critical).
pub fn approved_body<T: serde::Serialize>(
    ctx: &Ctx,
    v: &VaultArgs,
    operation: &str,
    body: &T,
) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(body)?;
    if let Some(requests) = requests_for(ctx, v, operation)?
        && let Some(props) = value.get_mut("properties").and_then(|p| p.as_object_mut())
    {
        props.insert("resourceGuardOperationRequests".into(), requests.into());
    }
    Ok(value)
}

//! `rsvault dataprotection resource-guard …`: resource guards, in the
//! manner of `az dataprotection resource-guard` (the `dataprotection`
//! extension). A vault linked to a guard (`rsvault backup vault
//! resource-guard-mapping update`) runs its critical operations only with
//! the guard's approval.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::backup_cmd::{confirm, parse_tags};
use crate::output::{self, Column, col, show};
use anyhow::Result;
use clap::{Args, Subcommand};
use rsvault_arm::guard::{ResourceGuardProperties, ResourceGuardResource};
use std::process::ExitCode;

/// `api-version` of `Microsoft.DataProtection`.
pub const GUARD_API: &str = "2025-07-01";

/// `rsvault dataprotection`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: DataProtectionCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataProtectionCommand {
    /// Manage resource guards: who approves a vault's critical operations.
    #[command(subcommand)]
    ResourceGuard(GuardCommand),
}

/// A guard by name.
#[derive(Debug, Args)]
pub struct GuardName {
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
    /// The name of the resource guard.
    #[arg(short = 'n', long = "resource-guard-name", alias = "name")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Create a resource guard.
    Create {
        #[command(flatten)]
        guard: GuardName,
        /// Location (region): the same as the vaults it guards.
        #[arg(short = 'l', long)]
        location: String,
        /// Critical operations the guard leaves unguarded (disabling soft
        /// delete and removing the mapping are always guarded).
        #[arg(long, num_args = 0..)]
        critical_operation_exclusion_list: Option<Vec<String>>,
        /// Space-separated tags: key[=value] [key[=value] ...].
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
    },
    /// Update a resource guard's excluded operations or tags.
    Update {
        #[command(flatten)]
        guard: GuardName,
        #[arg(long, num_args = 0..)]
        critical_operation_exclusion_list: Option<Vec<String>>,
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
    },
    /// Show a resource guard.
    Show {
        #[command(flatten)]
        guard: GuardName,
    },
    /// List the resource guards of a subscription or resource group.
    List {
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
    },
    /// Delete a resource guard no vault is linked to.
    Delete {
        #[command(flatten)]
        guard: GuardName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

const COLUMNS: &[Column<ResourceGuardResource>] = &[
    col("Name", |g| g.name().to_owned()),
    col("Location", |g| show(&g.location)),
    col("ResourceGroup", |g| show(&g.resource_group())),
    col("Excluded", |g| {
        g.properties
            .vault_critical_operation_exclusion_list
            .as_deref()
            .unwrap_or_default()
            .join(", ")
    }),
];

fn guard_path(arm: &Arm, g: &GuardName) -> String {
    format!(
        "{}/providers/Microsoft.DataProtection/resourceGuards/{}",
        arm.group_path(&g.resource_group),
        encode(&g.name)
    )
}

fn save(arm: &Arm, path: &str, g: &ResourceGuardResource) -> Result<ResourceGuardResource> {
    arm.send_json("PUT", path, &[("api-version", GUARD_API)], g)?
        .body()
}

/// Runs an `rsvault dataprotection` command.
pub fn run(args: GuardArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    let DataProtectionCommand::ResourceGuard(command) = args.command;
    match command {
        GuardCommand::Create {
            guard,
            location,
            critical_operation_exclusion_list,
            tags,
        } => {
            let mut g = ResourceGuardResource::with_properties(ResourceGuardProperties {
                vault_critical_operation_exclusion_list: critical_operation_exclusion_list,
                ..Default::default()
            });
            g.location = Some(location);
            g.tags = tags.as_deref().map(parse_tags);
            output::print_one(format, &save(&arm, &guard_path(&arm, &guard), &g)?, COLUMNS)?;
        }
        GuardCommand::Update {
            guard,
            critical_operation_exclusion_list,
            tags,
        } => {
            let path = guard_path(&arm, &guard);
            let mut g: ResourceGuardResource = arm.get(&path, GUARD_API)?;
            if let Some(list) = critical_operation_exclusion_list {
                g.properties.vault_critical_operation_exclusion_list = Some(list);
            }
            if let Some(t) = tags {
                g.tags = Some(parse_tags(&t));
            }
            output::print_one(format, &save(&arm, &path, &g)?, COLUMNS)?;
        }
        GuardCommand::Show { guard } => {
            let g: ResourceGuardResource = arm.get(&guard_path(&arm, &guard), GUARD_API)?;
            output::print_one(format, &g, COLUMNS)?;
        }
        GuardCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "{}/providers/Microsoft.DataProtection/resourceGuards",
                    arm.group_path(&rg)
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.DataProtection/resourceGuards",
                    encode(arm.subscription())
                ),
            };
            let all: Vec<ResourceGuardResource> = arm.list(&path, GUARD_API, None)?;
            output::print_list(format, &all, COLUMNS)?;
        }
        GuardCommand::Delete { guard, yes } => {
            if confirm(yes, "Are you sure you want to delete the resource guard?")? {
                arm.send(
                    "DELETE",
                    &guard_path(&arm, &guard),
                    &[("api-version", GUARD_API)],
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

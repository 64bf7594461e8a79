//! `backup container`: the registered containers (one per protected VM).

use super::item::is_native;
use super::{Ctx, VaultArgs};
use crate::arm_client::BACKUP_API;
use crate::output::{Column, col, text};
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::Value;

const COLUMNS: &[Column] = &[
    col("Name", |v| text(&v["name"])),
    col("Friendly Name", |v| text(&v["properties"]["friendlyName"])),
    col("Resource Group", |v| text(&v["resourceGroup"])),
    col("Type", |v| text(&v["properties"]["backupManagementType"])),
    col("Registration Status", |v| {
        text(&v["properties"]["registrationStatus"])
    }),
];

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers registered to a Recovery services vault.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// The backup management type.
        #[arg(long, default_value = "AzureIaasVM", value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: String,
    },
    /// Show details of a container registered to a Recovery services vault.
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// Name of the container (its native name or the VM's name).
        #[arg(short = 'n', long = "name")]
        name: String,
        /// The backup management type.
        #[arg(long, default_value = "AzureIaasVM", value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: String,
    },
}

fn list(ctx: &Ctx, vault: &VaultArgs) -> Result<Vec<Value>> {
    ctx.arm.list(
        &format!("{}/backupProtectionContainers", ctx.vault_path(vault)),
        BACKUP_API,
        Some("backupManagementType eq 'AzureIaasVM' and status eq 'Registered'"),
    )
}

/// Runs a `backup container` command.
pub fn run(ctx: &Ctx, cmd: ContainerCommand) -> Result<()> {
    match cmd {
        ContainerCommand::List { vault, .. } => {
            ctx.print(&Value::Array(list(ctx, &vault)?), COLUMNS)
        }
        ContainerCommand::Show { vault, name, .. } => {
            let key = if is_native(&name) {
                "name"
            } else {
                "friendlyName"
            };
            let found: Vec<Value> = list(ctx, &vault)?
                .into_iter()
                .filter(|c| {
                    let v = if key == "name" {
                        &c["name"]
                    } else {
                        &c["properties"]["friendlyName"]
                    };
                    v.as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
                .collect();
            match found.as_slice() {
                [] => bail!(
                    "Container '{name}' is not registered to vault '{}'.",
                    vault.vault_name
                ),
                [c] => ctx.print(c, COLUMNS),
                _ => bail!("Multiple containers found. Please give native names instead."),
            }
        }
    }
}

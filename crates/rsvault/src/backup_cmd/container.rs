//! `backup container`: the registered containers (one per protected VM).

use super::item::is_native;
use super::{Ctx, VaultArgs};
use crate::arm_client::BACKUP_API;
use crate::output::{Column, col, show};
use anyhow::{Result, bail};
use clap::Subcommand;
use rsvault_arm::container::{IaasVmContainer, ProtectionContainerResource};

/// A VM container's properties (other kinds show empty columns).
fn props(c: &ProtectionContainerResource) -> Option<&IaasVmContainer> {
    c.properties.as_iaas_vm()
}

const COLUMNS: &[Column<ProtectionContainerResource>] = &[
    col("Name", |c| c.name().to_owned()),
    col("Friendly Name", |c| {
        show(&props(c).and_then(|p| p.friendly_name.as_ref()))
    }),
    col("Resource Group", |c| show(&c.resource_group())),
    col("Type", |c| {
        show(&props(c).and_then(|p| p.backup_management_type.as_ref()))
    }),
    col("Registration Status", |c| {
        show(&props(c).and_then(|p| p.registration_status.as_ref()))
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

fn list(ctx: &Ctx, vault: &VaultArgs) -> Result<Vec<ProtectionContainerResource>> {
    ctx.arm.list(
        &format!("{}/backupProtectionContainers", ctx.vault_path(vault)),
        BACKUP_API,
        Some("backupManagementType eq 'AzureIaasVM' and status eq 'Registered'"),
    )
}

/// Runs a `backup container` command.
pub fn run(ctx: &Ctx, cmd: ContainerCommand) -> Result<()> {
    match cmd {
        ContainerCommand::List { vault, .. } => ctx.print_list(&list(ctx, &vault)?, COLUMNS),
        ContainerCommand::Show { vault, name, .. } => {
            let native = is_native(&name);
            let found: Vec<ProtectionContainerResource> = list(ctx, &vault)?
                .into_iter()
                .filter(|c| {
                    let n = if native {
                        c.name.as_deref()
                    } else {
                        props(c).and_then(|p| p.friendly_name.as_deref())
                    };
                    n.is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
                .collect();
            match found.as_slice() {
                [] => bail!(
                    "Container '{name}' is not registered to vault '{}'.",
                    vault.vault_name
                ),
                [c] => ctx.print_one(c, COLUMNS),
                _ => bail!("Multiple containers found. Please give native names instead."),
            }
        }
    }
}

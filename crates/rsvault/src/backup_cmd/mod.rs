//! `rsvault backup …`: the `az backup` commands, against `rsvault serve`.
//!
//! Command paths, flag names and output follow `az backup` so that its
//! users need no manual; each submodule holds one command group.

mod container;
mod dates;
mod item;
mod job;
mod policy;
mod protection;
mod recoverypoint;
mod restore;
mod vault;

use crate::arm_client::{Arm, BACKUP_API, ConnArgs, Reply, encode};
use crate::output::{self, Column, Format};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// `rsvault backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Online storage entity in Azure used to hold data such as backup copies, recovery points and backup policies.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// A backup policy defines when you want to take a backup and for how long you would retain each backup copy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Manage protection of your items, enable protection or disable it, or take on-demand backups.
    #[command(subcommand)]
    Protection(protection::ProtectionCommand),
    /// An item which is already protected or backed up to a Recovery Services vault with an associated policy.
    #[command(subcommand)]
    Item(item::ItemCommand),
    /// Resource which houses items or applications to be protected.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Entity which contains details of the job.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// A snapshot of data at that point-of-time, stored in a Recovery Services vault, from which you can restore information.
    #[command(subcommand)]
    Recoverypoint(recoverypoint::RecoveryPointCommand),
    /// Restore backed up items from recovery points in a Recovery Services vault.
    #[command(subcommand)]
    Restore(restore::RestoreCommand),
}

/// The vault a command works in.
#[derive(Debug, Args)]
pub struct VaultArgs {
    /// Name of the Recovery services vault.
    #[arg(short = 'v', long = "vault-name")]
    pub vault_name: String,
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
}

/// A protected item: its vault, container and item names (native names
/// such as `IaasVMContainer;iaasvmcontainerv2;rg;vm` or the VM's name).
#[derive(Debug, Args)]
pub struct ItemArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Name of the backup container. Accepts 'Name' or 'FriendlyName' from the output of az backup container list command.
    #[arg(short = 'c', long = "container-name")]
    pub container_name: String,
    /// Name of the backed up item.
    #[arg(short = 'i', long = "item-name")]
    pub item_name: String,
}

/// What every command needs: the client and the output format.
pub struct Ctx {
    pub arm: Arm,
    pub format: Format,
}

impl Ctx {
    /// `{V}`: the vault's path.
    pub fn vault_path(&self, v: &VaultArgs) -> String {
        format!(
            "{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.arm.group_path(&v.resource_group),
            encode(&v.vault_name)
        )
    }

    /// Prints a result with the given table columns.
    pub fn print(&self, v: &Value, columns: &[Column]) -> Result<()> {
        output::print(self.format, v, columns)
    }

    /// Prints the outcome of an operation: a job with the job columns,
    /// anything else with generic ones.
    pub fn print_outcome(&self, v: &Value) -> Result<()> {
        let is_job = v["type"].as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("Microsoft.RecoveryServices/vaults/backupJobs")
        });
        self.print(v, if is_job { job::COLUMNS } else { &[] })
    }

    /// After an accepted protected-item or backup request: waits for the
    /// operation, then returns the job it names (or the operation status
    /// when it names none), as `az` does.
    pub fn finish_operation(&self, vault: &str, reply: &Reply) -> Result<Value> {
        if reply.status != 202 || reply.async_operation.is_none() {
            return Ok(reply.body.clone());
        }
        let status = self.arm.wait_async(reply, BACKUP_API)?;
        match status["properties"]["jobId"]
            .as_str()
            .filter(|j| !j.is_empty())
        {
            Some(job) => self
                .arm
                .get(&format!("{vault}/backupJobs/{}", encode(job)), BACKUP_API),
            None => Ok(status),
        }
    }
}

/// Asks before destructive commands, as `az` does; `--yes` skips it.
pub fn confirm(yes: bool, question: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("Unable to prompt for confirmation as no tty available. Use --yes.");
    }
    eprint!("{question} (y/n): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Parses `az`'s three-state flags (`true`, `false`, `yes`, `no`…).
pub fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Runs one `rsvault backup` command.
pub fn run(args: BackupArgs) -> Result<ExitCode> {
    let ctx = Ctx {
        arm: Arm::new(&args.conn)?,
        format: args.conn.output,
    };
    match args.command {
        BackupCommand::Vault(c) => vault::run(&ctx, c),
        BackupCommand::Policy(c) => policy::run(&ctx, c),
        BackupCommand::Protection(c) => protection::run(&ctx, c),
        BackupCommand::Item(c) => item::run(&ctx, c),
        BackupCommand::Container(c) => container::run(&ctx, c),
        BackupCommand::Job(c) => job::run(&ctx, c),
        BackupCommand::Recoverypoint(c) => recoverypoint::run(&ctx, c),
        BackupCommand::Restore(c) => restore::run(&ctx, c),
    }?;
    Ok(ExitCode::SUCCESS)
}

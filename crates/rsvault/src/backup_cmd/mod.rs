//! `rsvault backup …`: the `az backup` commands, against `rsvault serve`.
//!
//! Command paths, flag names and output follow `az backup` so that its
//! users need no manual; each submodule holds one command group.

mod container;
mod crr;
mod dates;
mod item;
mod job;
mod mua;
mod policy;
mod protection;
mod recoverypoint;
mod restore;
mod vault;

pub use vault::parse_tags;

use crate::arm_client::{Arm, BACKUP_API, ConnArgs, Reply, encode};
use crate::output::{self, Column, Format};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use rsvault_arm::Resource;
use rsvault_arm::job::JobResource;
use rsvault_arm::operation::OperationStatus;
use serde::Serialize;
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

/// What an accepted request came to, as `az` shows it.
pub enum Outcome {
    /// The job the operation started.
    Job(Box<JobResource>),
    /// The operation's status, when it names no job.
    Status(Box<OperationStatus>),
    /// The answer of a server that did not run the request as an operation:
    /// printed as it came (nothing when it had no body).
    Answer(Option<serde_json::Value>),
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

    /// Prints one resource with the given table columns.
    pub fn print_one<T: Serialize>(&self, v: &T, columns: &[Column<T>]) -> Result<()> {
        output::print_one(self.format, v, columns)
    }

    /// Prints resources with the given table columns.
    pub fn print_list<T: Serialize>(&self, v: &[T], columns: &[Column<T>]) -> Result<()> {
        output::print_list(self.format, v, columns)
    }

    /// Prints the outcome of an operation: a job with the job columns,
    /// anything else with generic ones.
    pub fn print_outcome(&self, o: &Outcome) -> Result<()> {
        match o {
            Outcome::Job(j) => self.print_one(&**j, job::COLUMNS),
            Outcome::Status(s) => self.print_one(&**s, &[]),
            Outcome::Answer(a) => self.print_one(a, &[]),
        }
    }

    /// After an accepted protected-item or backup request: waits for the
    /// operation, then returns the job it names (or the operation status
    /// when it names none), as `az` does.
    pub fn finish_operation(&self, vault: &str, reply: &Reply) -> Result<Outcome> {
        if reply.status != 202 || reply.async_operation.is_none() {
            let answer: Option<Resource<serde_json::Value>> = reply.json().ok().flatten();
            let is_job = answer
                .as_ref()
                .and_then(|r| r.kind.as_deref())
                .is_some_and(|t| {
                    t.eq_ignore_ascii_case("Microsoft.RecoveryServices/vaults/backupJobs")
                });
            return Ok(if is_job {
                Outcome::Job(Box::new(reply.body()?))
            } else {
                Outcome::Answer(reply.json()?)
            });
        }
        let status = self.arm.wait_async(reply, BACKUP_API)?;
        match status.job_id() {
            Some(job) => Ok(Outcome::Job(Box::new(
                self.arm
                    .get(&format!("{vault}/backupJobs/{}", encode(job)), BACKUP_API)?,
            ))),
            None => Ok(Outcome::Status(Box::new(status))),
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

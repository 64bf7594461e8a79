//! `backup job`: list (with `az`'s filters), show, wait, stop.

use super::{Ctx, VaultArgs, dates};
use crate::arm_client::{BACKUP_API, encode};
use crate::output::{Column, col, duration, show};
use anyhow::Result;
use clap::{Args, Subcommand};
use rsvault_arm::job::{IaasVmJob, JobResource};
use std::time::{Duration, Instant};

/// A VM job's properties (other kinds show empty columns).
fn props(j: &JobResource) -> Option<&IaasVmJob> {
    j.properties.as_iaas_vm()
}

/// `az backup job list -o table` columns.
pub const COLUMNS: &[Column<JobResource>] = &[
    col("Name", |j| j.name().to_owned()),
    col("Operation", |j| {
        show(&props(j).and_then(|p| p.operation.as_ref()))
    }),
    col("Status", |j| {
        show(&props(j).and_then(|p| p.status.as_ref()))
    }),
    col("Item Name", |j| {
        show(&props(j).and_then(|p| p.entity_friendly_name.as_ref()))
    }),
    col("Backup Management Type", |j| {
        show(&props(j).and_then(|p| p.backup_management_type.as_ref()))
    }),
    col("Start Time UTC", |j| {
        show(&props(j).and_then(|p| p.start_time.as_ref()))
    }),
    col("Duration", |j| {
        duration(props(j).and_then(|p| p.duration.as_deref()).unwrap_or(""))
    }),
];

const STATUSES: [&str; 6] = [
    "Cancelled",
    "Cancelling",
    "Completed",
    "CompletedWithWarnings",
    "Failed",
    "InProgress",
];
const OPERATIONS: [&str; 8] = [
    "Backup",
    "ConfigureBackup",
    "DeleteBackupData",
    "DisableBackup",
    "Restore",
    "Undelete",
    "CrossRegionRestore",
    "Verify",
];

/// A job by name.
#[derive(Debug, Args)]
pub struct JobName {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Name of the job. You can use the backup job list command to get the name of a job.
    #[arg(short = 'n', long = "name")]
    pub name: String,
    /// The job in the vault's paired (secondary) region (a cross-region restore).
    #[arg(long)]
    pub use_secondary_region: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List all backup jobs of a Recovery Services vault.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Status of the Job.
        #[arg(long, value_parser = STATUSES, ignore_case = true)]
        status: Option<String>,
        /// User initiated operation.
        #[arg(long, value_parser = OPERATIONS, ignore_case = true)]
        operation: Option<String>,
        /// The start date of the range in UTC (d-m-Y).
        #[arg(long)]
        start_date: Option<String>,
        /// The end date of the range in UTC (d-m-Y).
        #[arg(long)]
        end_date: Option<String>,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// List the jobs of the vault's paired (secondary) region: its cross-region restores.
        #[arg(long)]
        use_secondary_region: bool,
    },
    /// Show details of a particular job.
    Show {
        #[command(flatten)]
        job: JobName,
    },
    /// Wait until either the job completes or the specified timeout value is reached.
    Wait {
        #[command(flatten)]
        job: JobName,
        /// Maximum time, in seconds, to wait before aborting.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Suspend or terminate a currently running job.
    Stop {
        #[command(flatten)]
        job: JobName,
    },
}

/// The canonical spelling of a value accepted in any case.
fn canonical(value: &str, allowed: &[&'static str]) -> String {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .map_or_else(|| value.to_owned(), |a| (*a).to_owned())
}

/// The `$filter` `az` sends, its clauses in `az`'s (sorted) order.
fn job_filter(
    status: Option<&str>,
    operation: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
    management: Option<&str>,
) -> Result<String> {
    let range = dates::range(start, end)?;
    let mut clauses = Vec::new();
    if let Some(m) = management {
        clauses.push(format!(
            "backupManagementType eq '{}'",
            canonical(m, &["AzureIaasVM"])
        ));
    }
    if let Some((_, e)) = range {
        clauses.push(format!("endTime eq '{}'", dates::filter(e)));
    }
    if let Some(o) = operation {
        clauses.push(format!("operation eq '{}'", canonical(o, &OPERATIONS)));
    }
    if let Some((s, _)) = range {
        clauses.push(format!("startTime eq '{}'", dates::filter(s)));
    }
    if let Some(s) = status {
        clauses.push(format!("status eq '{}'", canonical(s, &STATUSES)));
    }
    Ok(clauses.join(" and "))
}

fn running(job: &JobResource) -> bool {
    props(job)
        .and_then(|p| p.status.as_ref())
        .is_some_and(|s| s.is_running())
}

/// A job of the vault, or of its secondary region.
fn get(ctx: &Ctx, job: &JobName) -> Result<JobResource> {
    if job.use_secondary_region {
        let region = super::crr::secondary_region(ctx, &job.vault)?;
        return super::crr::job(ctx, &job.vault, &region, &job.name);
    }
    let path = format!(
        "{}/backupJobs/{}",
        ctx.vault_path(&job.vault),
        encode(&job.name)
    );
    ctx.arm.get(&path, BACKUP_API)
}

/// Polls a job while it is InProgress or Cancelling.
pub fn wait(ctx: &Ctx, vault: &VaultArgs, name: &str, timeout: Option<u64>) -> Result<JobResource> {
    wait_for(
        ctx,
        &JobName {
            vault: VaultArgs {
                vault_name: vault.vault_name.clone(),
                resource_group: vault.resource_group.clone(),
            },
            name: name.to_owned(),
            use_secondary_region: false,
        },
        timeout,
    )
}

fn wait_for(ctx: &Ctx, j: &JobName, timeout: Option<u64>) -> Result<JobResource> {
    let name = &j.name;
    let started = Instant::now();
    loop {
        let job = get(ctx, j)?;
        if !running(&job) {
            return Ok(job);
        }
        if let Some(t) = timeout
            && started.elapsed() >= Duration::from_secs(t)
        {
            eprintln!("WARNING: Command timed out while waiting for job '{name}'");
            return Ok(job);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs a `backup job` command.
pub fn run(ctx: &Ctx, cmd: JobCommand) -> Result<()> {
    match cmd {
        JobCommand::List {
            vault,
            status,
            operation,
            start_date,
            end_date,
            backup_management_type,
            use_secondary_region,
        } => {
            let filter = job_filter(
                status.as_deref(),
                operation.as_deref(),
                start_date.as_deref(),
                end_date.as_deref(),
                backup_management_type.as_deref(),
            )?;
            if use_secondary_region {
                let region = super::crr::secondary_region(ctx, &vault)?;
                let jobs = super::crr::jobs(ctx, &vault, &region, &filter)?;
                return ctx.print_list(&jobs, COLUMNS);
            }
            let jobs: Vec<JobResource> = ctx.arm.list(
                &format!("{}/backupJobs", ctx.vault_path(&vault)),
                BACKUP_API,
                Some(&filter),
            )?;
            ctx.print_list(&jobs, COLUMNS)
        }
        JobCommand::Show { job } => ctx.print_one(&get(ctx, &job)?, COLUMNS),
        JobCommand::Wait { job, timeout } => ctx.print_one(&wait_for(ctx, &job, timeout)?, COLUMNS),
        JobCommand::Stop { job } => {
            if job.use_secondary_region {
                anyhow::bail!("a job of the secondary region cannot be stopped");
            }
            let path = format!(
                "{}/backupJobs/{}",
                ctx.vault_path(&job.vault),
                encode(&job.name)
            );
            let reply = ctx.arm.send(
                "POST",
                &format!("{path}/cancel"),
                &[("api-version", BACKUP_API)],
            )?;
            if reply.status == 202 && reply.location.is_some() {
                ctx.arm.wait_location(&reply, BACKUP_API)?;
            }
            let j: JobResource = ctx.arm.get(&path, BACKUP_API)?;
            ctx.print_one(&j, COLUMNS)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_in_az_order() {
        let f = super::job_filter(
            Some("inprogress"),
            Some("backup"),
            Some("01-01-2016"),
            Some("02-01-2016"),
            None,
        )
        .unwrap();
        assert_eq!(
            f,
            "endTime eq '2016-01-02 11:59:59 PM' and operation eq 'Backup' and startTime eq '2016-01-01 12:00:00 AM' and status eq 'InProgress'"
        );
        assert_eq!(super::job_filter(None, None, None, None, None).unwrap(), "");
        assert!(super::job_filter(None, None, Some("nope"), None, None).is_err());
    }
}

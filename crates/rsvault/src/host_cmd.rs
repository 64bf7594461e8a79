//! `rsvault host …`: the hypervisor hosts that run the rsvault agent
//! (`Microsoft.HybridCompute/machines`, as `az connectedmachine` shows Arc
//! servers), and their one-time enrolment tokens.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, show};
use anyhow::Result;
use clap::{Args, Subcommand};
use rsvault_arm::hybrid::{EnrollmentToken, EnrollmentTokenRequest, MachineResource};
use std::process::ExitCode;

/// `api-version` of `Microsoft.HybridCompute`.
pub const HYBRID_API: &str = "2024-07-10";

/// `rsvault host`.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: HostCommand,
}

/// A host by name.
#[derive(Debug, Args)]
pub struct HostName {
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
    /// The host's name (as its agent enrolled).
    #[arg(short = 'n', long)]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Make a one-time token that enrols a host: `rsvault agent --enroll TOKEN`.
    EnrollToken {
        /// The resource group the host's VMs appear in.
        #[arg(short = 'g', long = "resource-group")]
        resource_group: String,
        /// The region the host's VMs appear in.
        #[arg(short = 'l', long = "region", alias = "location")]
        region: String,
        /// Minutes the token may be used (1 to 1440).
        #[arg(long, default_value_t = 60)]
        expires_in_minutes: u32,
    },
    /// List the hosts of the subscription or of a resource group, with their agents' health.
    List {
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
    },
    /// Show a host.
    Show {
        #[command(flatten)]
        host: HostName,
    },
    /// Remove a host: its agent's identity is deleted and its VMs are marked removed (their recovery points stay).
    Delete {
        #[command(flatten)]
        host: HostName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

const COLUMNS: &[Column<MachineResource>] = &[
    col("Name", |m| m.name().to_owned()),
    col("ResourceGroup", |m| show(&m.resource_group())),
    col("Location", |m| show(&m.location)),
    col("Status", |m| show(&m.properties.status)),
    col("LastHeartbeat", |m| show(&m.properties.last_status_change)),
    col("AgentVersion", |m| show(&m.properties.agent_version)),
    col("VMs", |m| {
        show(
            &m.properties
                .detected_properties
                .as_ref()
                .and_then(|d| d.vm_count.clone()),
        )
    }),
];

const TOKEN_COLUMNS: &[Column<EnrollmentToken>] = &[
    col("Token", |t| t.token.clone()),
    col("ExpiresOn", |t| t.expires_on.clone()),
    col("ResourceGroup", |t| t.resource_group.clone()),
    col("Location", |t| t.location.clone()),
];

fn host_path(arm: &Arm, h: &HostName) -> String {
    format!(
        "{}/providers/Microsoft.HybridCompute/machines/{}",
        arm.group_path(&h.resource_group),
        encode(&h.name)
    )
}

/// Runs an `rsvault host` command.
pub fn run(args: HostArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    match args.command {
        HostCommand::EnrollToken {
            resource_group,
            region,
            expires_in_minutes,
        } => {
            let path = format!(
                "{}/providers/Microsoft.HybridCompute/enrollmentTokens",
                arm.group_path(&resource_group)
            );
            let body = EnrollmentTokenRequest {
                location: region,
                expires_in_minutes: Some(expires_in_minutes),
                ..Default::default()
            };
            let t: EnrollmentToken = arm
                .send_json("POST", &path, &[("api-version", HYBRID_API)], &body)?
                .body()?;
            output::print_one(format, &t, TOKEN_COLUMNS)?;
        }
        HostCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "{}/providers/Microsoft.HybridCompute/machines",
                    arm.group_path(&rg)
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.HybridCompute/machines",
                    encode(arm.subscription())
                ),
            };
            let all: Vec<MachineResource> = arm.list(&path, HYBRID_API, None)?;
            output::print_list(format, &all, COLUMNS)?;
        }
        HostCommand::Show { host } => {
            let m: MachineResource = arm.get(&host_path(&arm, &host), HYBRID_API)?;
            output::print_one(format, &m, COLUMNS)?;
        }
        HostCommand::Delete { host, yes } => {
            if confirm(yes, "Are you sure you want to remove the host?")? {
                arm.send(
                    "DELETE",
                    &host_path(&arm, &host),
                    &[("api-version", HYBRID_API)],
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `rsvault monitor activity-log list`: the server's activity log (every
//! write made through the API, refusals included), in the manner of
//! `az monitor activity-log list`.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::output::{self, Column, col, show};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use rsvault_arm::activity::EventData;
use std::process::ExitCode;

const MONITOR_API: &str = "2015-04-01";

/// `rsvault monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: MonitorCommand,
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// The activity log: who wrote what, where, when, from where, and how it ended.
    #[command(subcommand)]
    ActivityLog(ActivityLogCommand),
}

#[derive(Debug, Subcommand)]
pub enum ActivityLogCommand {
    /// List events, newest first.
    List {
        /// Only this resource group's events.
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
        /// Only the events of this resource and what it holds.
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        correlation_id: Option<String>,
        /// Only the events of this caller (an app id or user name).
        #[arg(long)]
        caller: Option<String>,
        /// Only events of this status: Succeeded, Accepted or Failed.
        #[arg(long)]
        status: Option<String>,
        /// Start time (ISO 8601, UTC) [default: --offset before the end].
        #[arg(long)]
        start_time: Option<String>,
        /// End time (ISO 8601, UTC) [default: now, or --offset after the start].
        #[arg(long)]
        end_time: Option<String>,
        /// The time span when only one of the times is given: 6h, 30m, 2d.
        #[arg(long, default_value = "6h")]
        offset: String,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        max_events: usize,
    },
}

const COLUMNS: &[Column<EventData>] = &[
    col("EventTimestamp", |e| e.event_timestamp.clone()),
    col("Caller", |e| e.caller.clone()),
    col("Operation", |e| e.operation_name.value.clone()),
    col("Status", |e| e.status.value.clone()),
    col("ResourceGroup", |e| show(&e.resource_group_name)),
    col("ClientIp", |e| e.http_request.client_ip_address.clone()),
];

/// `6h`, `30m`, `2d`, `90s` as a span.
fn offset(s: &str) -> Result<jiff::SignedDuration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--offset {s}: give a number and a unit (d, h, m or s)"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" | "" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => bail!("--offset {s}: the unit is d, h, m or s"),
    };
    Ok(jiff::SignedDuration::from_secs(n.saturating_mul(secs)))
}

fn time(flag: &str, s: &str) -> Result<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let dt: jiff::civil::DateTime = s
        .parse()
        .map_err(|e| anyhow::anyhow!("{flag} {s}: not an ISO 8601 time ({e})"))?;
    Ok(jiff::tz::TimeZone::UTC
        .to_ambiguous_timestamp(dt)
        .compatible()?)
}

/// Runs an `rsvault monitor` command.
pub fn run(args: MonitorArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let MonitorCommand::ActivityLog(ActivityLogCommand::List {
        resource_group,
        resource_id,
        correlation_id,
        caller,
        status,
        start_time,
        end_time,
        offset: span,
        max_events,
    }) = args.command;
    let span = offset(&span)?;
    let (start, end) = match (start_time, end_time) {
        (Some(s), Some(e)) => (time("--start-time", &s)?, time("--end-time", &e)?),
        (Some(s), None) => {
            let s = time("--start-time", &s)?;
            (s, s.checked_add(span)?)
        }
        (None, Some(e)) => {
            let e = time("--end-time", &e)?;
            (e.checked_sub(span)?, e)
        }
        (None, None) => {
            let e = jiff::Timestamp::now();
            (e.checked_sub(span)?, e)
        }
    };
    let mut filter = format!("eventTimestamp ge '{start}' and eventTimestamp le '{end}'");
    for (key, value) in [
        ("resourceGroupName", resource_group),
        ("resourceId", resource_id),
        ("correlationId", correlation_id),
        ("caller", caller),
        ("status", status),
    ] {
        if let Some(v) = value {
            filter.push_str(&format!(" and {key} eq '{}'", v.replace('\'', "''")));
        }
    }
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.Insights/eventtypes/management/values",
        encode(arm.subscription())
    );
    let mut events: Vec<EventData> = arm.list(&path, MONITOR_API, Some(&filter))?;
    events.truncate(max_events);
    output::print_list(args.conn.output, &events, COLUMNS)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_as_az_writes_them() {
        let table = [
            ("6h", Some(6 * 3600)),
            ("30m", Some(1800)),
            ("2d", Some(172_800)),
            ("1", Some(3600)),
            ("h", None),
            ("5w", None),
        ];
        for (s, want) in table {
            assert_eq!(offset(s).ok().map(|d| d.as_secs()), want, "{s}");
        }
    }
}

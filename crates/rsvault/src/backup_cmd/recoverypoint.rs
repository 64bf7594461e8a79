//! `backup recoverypoint`: the recovery points of a protected item.

use super::item::{item_path, resolve_item};
use super::{Ctx, ItemArgs, dates};
use crate::arm_client::{BACKUP_API, encode};
use crate::output::{Column, col, text};
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

const COLUMNS: &[Column] = &[
    col("Name", |v| text(&v["name"])),
    col("Time", |v| text(&v["properties"]["recoveryPointTime"])),
    col("Consistency", |v| {
        text(&v["properties"]["recoveryPointType"])
    }),
    col("Tier", |v| text(&v["tierType"])),
];

#[derive(Debug, Subcommand)]
pub enum RecoveryPointCommand {
    /// List all recovery points of a backed up item.
    List {
        #[command(flatten)]
        item: ItemArgs,
        /// The start date of the range in UTC (d-m-Y).
        #[arg(long)]
        start_date: Option<String>,
        /// The end date of the range in UTC (d-m-Y).
        #[arg(long)]
        end_date: Option<String>,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type.
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
    },
    /// Show details of a particular recovery point.
    Show {
        #[command(flatten)]
        item: ItemArgs,
        /// Name of the recovery point. You can use the backup recovery point list command to get the name of a backed up item.
        #[arg(short = 'n', long = "name")]
        name: String,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type.
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
    },
}

/// The tier `az` shows for a point (`custom_common.fetch_tier_for_rp`).
fn tier(rp: &Value) -> Option<&'static str> {
    let details = rp["properties"]["recoveryPointTierDetails"].as_array()?;
    let has = |ty: &str, status: &str| {
        details
            .iter()
            .any(|d| d["type"] == ty && d["status"] == status)
    };
    let (instant, hardened, archived) = (
        has("InstantRP", "Valid"),
        has("HardenedRP", "Valid"),
        has("ArchivedRP", "Valid"),
    );
    Some(
        if (hardened && archived) || has("ArchivedRP", "Rehydrated") {
            "VaultStandardRehydrated"
        } else if instant && hardened {
            "SnapshotAndVaultStandard"
        } else if instant && archived {
            "SnapshotAndVaultArchive"
        } else if archived {
            "VaultArchive"
        } else if instant {
            "Snapshot"
        } else if hardened {
            "VaultStandard"
        } else {
            return None;
        },
    )
}

fn with_tier(mut rp: Value) -> Value {
    if let Some(t) = tier(&rp) {
        rp["tierType"] = json!(t);
    }
    rp
}

/// Runs a `backup recoverypoint` command.
pub fn run(ctx: &Ctx, cmd: RecoveryPointCommand) -> Result<()> {
    match cmd {
        RecoveryPointCommand::List {
            item: a,
            start_date,
            end_date,
            ..
        } => {
            let filter = dates::range(start_date.as_deref(), end_date.as_deref())?.map(|(s, e)| {
                format!(
                    "startDate eq '{}' and endDate eq '{}'",
                    dates::filter(s),
                    dates::filter(e)
                )
            });
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            let rps = ctx.arm.list(
                &format!("{}/recoveryPoints", item_path(ctx, &a.vault, &item)?),
                BACKUP_API,
                filter.as_deref(),
            )?;
            let rps: Vec<Value> = rps.into_iter().map(with_tier).collect();
            ctx.print(&Value::Array(rps), COLUMNS)
        }
        RecoveryPointCommand::Show { item: a, name, .. } => {
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            let rp = ctx.arm.get(
                &format!(
                    "{}/recoveryPoints/{}",
                    item_path(ctx, &a.vault, &item)?,
                    encode(&name)
                ),
                BACKUP_API,
            )?;
            ctx.print(&with_tier(rp), COLUMNS)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn tiers_like_az() {
        let rp = |d: serde_json::Value| json!({"properties": {"recoveryPointTierDetails": d}});
        assert_eq!(
            super::tier(&rp(json!([{"type": "HardenedRP", "status": "Valid"}]))),
            Some("VaultStandard")
        );
        assert_eq!(
            super::tier(&rp(
                json!([{"type": "InstantRP", "status": "Valid"}, {"type": "HardenedRP", "status": "Valid"}])
            )),
            Some("SnapshotAndVaultStandard")
        );
        assert_eq!(super::tier(&json!({})), None);
    }
}

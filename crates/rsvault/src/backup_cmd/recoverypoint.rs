//! `backup recoverypoint`: the recovery points of a protected item.

use super::item::{item_path, resolve_item};
use super::{Ctx, ItemArgs, dates};
use crate::arm_client::{BACKUP_API, CRR_API, encode};
use crate::output::{Column, col, show};
use anyhow::Result;
use clap::Subcommand;
use rsvault_arm::recovery_point::{
    IaasVmRecoveryPoint, RecoveryPointResource, RecoveryPointTierStatus as Status,
    RecoveryPointTierType as Tier,
};

/// `tierType`, which the CLI adds to each point as `az` does.
const TIER_TYPE: &str = "tierType";

fn props(rp: &RecoveryPointResource) -> Option<&IaasVmRecoveryPoint> {
    rp.properties.as_iaas_vm()
}

const COLUMNS: &[Column<RecoveryPointResource>] = &[
    col("Name", |rp| rp.name().to_owned()),
    col("Time", |rp| {
        show(&props(rp).and_then(|p| p.recovery_point_time.as_ref()))
    }),
    col("Consistency", |rp| {
        show(&props(rp).and_then(|p| p.recovery_point_type.as_ref()))
    }),
    col("Tier", |rp| {
        show(&rp.extra.get(TIER_TYPE).and_then(|t| t.as_str()))
    }),
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
        /// List the recovery points in the vault's paired (secondary) region: those replicated there.
        #[arg(long)]
        use_secondary_region: bool,
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
        /// Show the recovery point as the vault's paired (secondary) region has it.
        #[arg(long)]
        use_secondary_region: bool,
    },
}

/// The api-version of the primary or the secondary region's view.
fn api(secondary: bool) -> &'static str {
    if secondary { CRR_API } else { BACKUP_API }
}

/// The tier `az` shows for a point (`custom_common.fetch_tier_for_rp`).
fn tier(rp: &RecoveryPointResource) -> Option<&'static str> {
    let p = props(rp)?;
    p.recovery_point_tier_details.as_ref()?;
    let has = |t: Tier, s: Status| p.has_tier(t, s);
    let (instant, hardened, archived) = (
        has(Tier::InstantRp, Status::Valid),
        has(Tier::HardenedRp, Status::Valid),
        has(Tier::ArchivedRp, Status::Valid),
    );
    Some(
        if (hardened && archived) || has(Tier::ArchivedRp, Status::Rehydrated) {
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

fn with_tier(mut rp: RecoveryPointResource) -> RecoveryPointResource {
    if let Some(t) = tier(&rp) {
        rp.extra.insert(TIER_TYPE.into(), t.into());
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
            use_secondary_region,
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
            let rps: Vec<RecoveryPointResource> = ctx.arm.list(
                &format!("{}/recoveryPoints", item_path(ctx, &a.vault, &item)?),
                api(use_secondary_region),
                filter.as_deref(),
            )?;
            let rps: Vec<RecoveryPointResource> = rps.into_iter().map(with_tier).collect();
            ctx.print_list(&rps, COLUMNS)
        }
        RecoveryPointCommand::Show {
            item: a,
            name,
            use_secondary_region,
            ..
        } => {
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            let rp: RecoveryPointResource = ctx.arm.get(
                &format!(
                    "{}/recoveryPoints/{}",
                    item_path(ctx, &a.vault, &item)?,
                    encode(&name)
                ),
                api(use_secondary_region),
            )?;
            ctx.print_one(&with_tier(rp), COLUMNS)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn tiers_like_az() {
        let rp = |d: serde_json::Value| {
            serde_json::from_value(json!({"properties": {"objectType": "IaasVMRecoveryPoint",
                "recoveryPointTierDetails": d}}))
            .unwrap()
        };
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
        assert_eq!(
            super::tier(&rp(json!([{"type": "ArchivedRP", "status": "Rehydrated"}]))),
            Some("VaultStandardRehydrated")
        );
        let none =
            serde_json::from_value(json!({"properties": {"objectType": "IaasVMRecoveryPoint"}}))
                .unwrap();
        assert_eq!(super::tier(&none), None);
        let shown = super::with_tier(rp(json!([{"type": "InstantRP", "status": "Valid"}])));
        assert_eq!(
            serde_json::to_value(&shown).unwrap()["tierType"],
            "Snapshot"
        );
    }
}

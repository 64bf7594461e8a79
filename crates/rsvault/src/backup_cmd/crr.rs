//! `--use-secondary-region`: a geo-redundant vault's paired region, as
//! `az` reaches it. Reads use the vault's own paths with the passive
//! stamp's api-version; restores and jobs go to
//! `…/locations/{secondaryRegion}/`. The secondary region is the one the
//! server replicates the vault to (its `backupstorageconfig`), not a table
//! of this client's.

use super::{Ctx, VaultArgs};
use crate::arm_client::{BACKUP_API, CRR_API, encode};
use anyhow::{Result, anyhow};
use rsvault_arm::crr::{
    AadPropertiesResource, CrossRegionRestoreRequest, CrrAccessTokenResource, CrrJobRequest,
};
use rsvault_arm::job::JobResource;
use rsvault_arm::request::IaasVmRestoreRequest;
use rsvault_arm::vault::BackupStorageConfig;

/// The region a vault's second copy is in.
pub fn secondary_region(ctx: &Ctx, vault: &VaultArgs) -> Result<String> {
    let cfg: BackupStorageConfig = ctx.arm.get(
        &format!(
            "{}/backupstorageconfig/vaultstorageconfig",
            ctx.vault_path(vault)
        ),
        BACKUP_API,
    )?;
    cfg.properties
        .rsvault_replication
        .and_then(|r| r.secondary_region)
        .ok_or_else(|| {
            anyhow!(
                "vault '{}' is not geo-redundant: it has no secondary region",
                vault.vault_name
            )
        })
}

fn region_path(ctx: &Ctx, region: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.RecoveryServices/locations/{}",
        ctx.arm.subscription(),
        encode(region)
    )
}

/// The vault's id (`resourceId` of the secondary region's job requests).
fn vault_id(ctx: &Ctx, vault: &VaultArgs) -> String {
    ctx.vault_path(vault)
}

/// A cross-region restore job.
pub fn job(ctx: &Ctx, vault: &VaultArgs, region: &str, name: &str) -> Result<JobResource> {
    let body = CrrJobRequest {
        resource_id: Some(vault_id(ctx, vault)),
        job_name: Some(name.to_owned()),
        ..Default::default()
    };
    ctx.arm
        .send_json(
            "POST",
            &format!("{}/backupCrrJob", region_path(ctx, region)),
            &[("api-version", CRR_API)],
            &body,
        )?
        .body()
}

/// The vault's cross-region restore jobs matching a `$filter`.
pub fn jobs(ctx: &Ctx, vault: &VaultArgs, region: &str, filter: &str) -> Result<Vec<JobResource>> {
    let body = CrrJobRequest {
        resource_id: Some(vault_id(ctx, vault)),
        ..Default::default()
    };
    let mut query = vec![("api-version", CRR_API)];
    if !filter.is_empty() {
        query.push(("$filter", filter));
    }
    let list: rsvault_arm::List<JobResource> = ctx
        .arm
        .send_json(
            "POST",
            &format!("{}/backupCrrJobs", region_path(ctx, region)),
            &query,
            &body,
        )?
        .body()?;
    Ok(list.value)
}

/// Restores point `rp_path` in the secondary region: the region's AAD
/// properties, the point's access token, the restore, its operation;
/// returns the job it started.
pub fn restore(
    ctx: &Ctx,
    vault: &VaultArgs,
    region: &str,
    rp_path: &str,
    mut request: IaasVmRestoreRequest,
) -> Result<JobResource> {
    let rp = region_path(ctx, region);
    let aad: AadPropertiesResource = ctx.arm.get(&format!("{rp}/backupAadProperties"), CRR_API)?;
    let token: CrrAccessTokenResource = ctx
        .arm
        .send_json(
            "POST",
            &format!("{rp_path}/accessToken"),
            &[("api-version", CRR_API)],
            &aad,
        )?
        .body()?;
    let mut token = token.properties;
    token.object_type = Some("CrrAccessToken".into());
    request.region = Some(region.to_owned());
    let body = CrossRegionRestoreRequest {
        cross_region_restore_access_details: Some(token),
        restore_request: Some(request),
        ..Default::default()
    };
    let reply = ctx.arm.send_json(
        "POST",
        &format!("{rp}/backupCrossRegionRestore"),
        &[("api-version", CRR_API)],
        &body,
    )?;
    let status = ctx.arm.wait_async(&reply, CRR_API)?;
    let name = status
        .job_id()
        .ok_or_else(|| anyhow!("the cross-region restore started no job"))?
        .to_owned();
    job(ctx, vault, region, &name)
}

//! `backup restore restore-disks`: restores a recovery point as a Restore
//! job, as `az backup restore restore-disks` does: its disks into a storage
//! account (or as managed disks of `--target-resource-group`), as a new VM
//! (`--target-vm-name`), or in place (`--restore-mode OriginalLocation`).

use super::item::{item_path, props, resolve_item};
use super::{Ctx, ItemArgs, boolish};
use crate::arm_client::{BACKUP_API, CRR_API, VAULT_API, encode};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use rsvault_arm::Resource;
use rsvault_arm::recovery_point::RecoveryPointResource;
use rsvault_arm::request::{EncryptionDetails, IaasVmRestoreRequest, RecoveryType, RestoreRequest};
use rsvault_arm::vault::Vault;

#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Restore disks of the backed VM from the specified recovery point.
    RestoreDisks {
        #[command(flatten)]
        item: ItemArgs,
        /// Name of the recovery point.
        #[arg(short = 'r', long = "rp-name")]
        rp_name: String,
        /// Name or ID of the staging storage account. The VM configuration will be restored to this storage account.
        #[arg(long)]
        storage_account: String,
        /// Use this to specify the target resource group in which the restored disks will be saved.
        #[arg(short = 't', long)]
        target_resource_group: Option<String>,
        /// Restore the disks to the staging storage account (--storage-account) rather than to their original storage accounts.
        #[arg(long, value_parser = boolish(), num_args = 0..=1, default_missing_value = "true")]
        restore_to_staging_storage_account: Option<bool>,
        /// LUNs of the data disks to restore (the OS disk is always restored).
        #[arg(long, num_args = 1.., value_parser = clap::value_parser!(u32).range(0..64))]
        diskslist: Option<Vec<u32>>,
        /// Restore only the OS disk of the backed up VM.
        #[arg(long, value_parser = boolish(), num_args = 0..=1, default_missing_value = "true")]
        restore_only_osdisk: Option<bool>,
        /// AlternateLocation restores the disks (or, with --target-vm-name, a new VM); OriginalLocation replaces the disks of the original VM, which must be stopped.
        #[arg(long, value_parser = ["AlternateLocation", "OriginalLocation"], ignore_case = true, default_value = "AlternateLocation")]
        restore_mode: String,
        /// Name of the VM to create from the recovery point, in --target-resource-group (a libvirt host's VM becomes a new domain on its host, left shut off).
        #[arg(long)]
        target_vm_name: Option<String>,
        /// Restore from the vault's paired (secondary) region (cross-region restore): it reads only the copy there, so it works while the primary region's storage is down.
        #[arg(long)]
        use_secondary_region: bool,
    },
}

/// The id of a storage account given by name (in `rg`) or by id.
fn storage_account_id(ctx: &Ctx, sa: &str, rg: &str) -> Result<String> {
    if sa.starts_with('/') {
        if !sa
            .to_ascii_lowercase()
            .contains("/providers/microsoft.storage/storageaccounts/")
        {
            bail!(
                "--storage-account '{sa}' is neither a storage account name nor a Microsoft.Storage/storageAccounts id"
            );
        }
        return Ok(sa.to_owned());
    }
    if sa.is_empty() || !sa.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("--storage-account '{sa}': a storage account name has only letters and digits");
    }
    Ok(format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{sa}",
        ctx.arm.subscription()
    ))
}

/// Runs a `backup restore` command.
pub fn run(ctx: &Ctx, cmd: RestoreCommand) -> Result<()> {
    let RestoreCommand::RestoreDisks {
        item: a,
        rp_name,
        storage_account,
        target_resource_group,
        restore_to_staging_storage_account,
        diskslist,
        restore_only_osdisk,
        restore_mode,
        target_vm_name,
        use_secondary_region,
    } = cmd;
    let in_place = restore_mode.eq_ignore_ascii_case("OriginalLocation");
    let sub = ctx.arm.subscription().to_owned();
    let (recovery_type, target_vm, target_group) = match (in_place, target_vm_name) {
        (true, Some(_)) => bail!("--target-vm-name needs --restore-mode AlternateLocation"),
        (true, None) => (RecoveryType::OriginalLocation, None, None),
        (false, Some(vm)) => {
            let rg = target_resource_group
                .as_deref()
                .ok_or_else(|| anyhow!("--target-vm-name needs --target-resource-group"))?;
            let id = format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}"
            );
            (RecoveryType::AlternateLocation, Some(id), None)
        }
        (false, None) => (
            RecoveryType::RestoreDisks,
            None,
            target_resource_group.map(|rg| format!("/subscriptions/{sub}/resourceGroups/{rg}")),
        ),
    };
    if restore_only_osdisk == Some(true) && diskslist.is_some() {
        bail!("--restore-only-osdisk and --diskslist cannot be given together");
    }
    let vp = ctx.vault_path(&a.vault);
    let vault: Vault = ctx.arm.get(&vp, VAULT_API)?;
    let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
    let pi = item_path(ctx, &a.vault, &item)?;
    let rp_path = format!("{pi}/recoveryPoints/{}", encode(&rp_name));
    let secondary = if use_secondary_region {
        Some(super::crr::secondary_region(ctx, &a.vault)?)
    } else {
        None
    };
    let rp: RecoveryPointResource = ctx.arm.get(
        &rp_path,
        if secondary.is_some() {
            CRR_API
        } else {
            BACKUP_API
        },
    )?;
    let original = rp
        .properties
        .as_iaas_vm()
        .and_then(|p| p.original_storage_account_option)
        == Some(true)
        && restore_to_staging_storage_account != Some(true);
    let source = props(&item)
        .and_then(|p| {
            p.source_resource_id
                .clone()
                .or(p.virtual_machine_id.clone())
        })
        .unwrap_or_default();
    let request = IaasVmRestoreRequest {
        recovery_point_id: Some(rp.name.clone().unwrap_or(rp_name)),
        recovery_type: Some(recovery_type),
        target_virtual_machine_id: target_vm,
        source_resource_id: Some(source),
        storage_account_id: Some(storage_account_id(
            ctx,
            &storage_account,
            &a.vault.resource_group,
        )?),
        region: vault.location,
        create_new_cloud_service: Some(false),
        original_storage_account_option: Some(original),
        encryption_details: Some(EncryptionDetails {
            encryption_enabled: Some(false),
            ..Default::default()
        }),
        target_resource_group_id: target_group,
        restore_disk_lun_list: if restore_only_osdisk == Some(true) {
            Some(Vec::new())
        } else {
            diskslist
        },
        ..Default::default()
    };
    if let Some(region) = secondary {
        let job = super::crr::restore(ctx, &a.vault, &region, &rp_path, request)?;
        return ctx.print_one(&job, super::job::COLUMNS);
    }
    let reply = ctx.arm.send_json(
        "POST",
        &format!("{rp_path}/restore"),
        &[("api-version", BACKUP_API)],
        &Resource::with_properties(RestoreRequest::IaasVm(request)),
    )?;
    let outcome = ctx.finish_operation(&vp, &reply)?;
    ctx.print_outcome(&outcome)
}

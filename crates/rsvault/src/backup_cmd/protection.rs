//! `backup protection`: enable protection of a VM, Backup now, disable
//! (stop, suspend, or delete the data), undelete, resume.

use super::item::{item_body, item_path, policy_id, props, resolve_item};
use super::{Ctx, ItemArgs, Outcome, VaultArgs, boolish, confirm, dates};
use crate::arm_client::{ArmError, BACKUP_API, COMPUTE_API, VAULT_API, encode};
use crate::output::show;
use anyhow::{Result, bail};
use clap::Subcommand;
use rsvault_arm::Resource;
use rsvault_arm::common::{BackupManagementType, ProtectionState, VmKind};
use rsvault_arm::container::ProtectableItemResource;
use rsvault_arm::inventory::VirtualMachine;
use rsvault_arm::item::{IaasVmProtectedItem, ProtectedItem, ProtectedItemResource};
use rsvault_arm::policy::BackupPolicy;
use rsvault_arm::request::{BackupRequest, IaasVmBackupRequest};
use rsvault_arm::resource::segment_after;
use rsvault_arm::vault::Vault;

#[derive(Debug, Subcommand)]
pub enum ProtectionCommand {
    /// Start protecting a previously unprotected Azure VM as per the specified policy to a Recovery services vault.
    EnableForVm {
        #[command(flatten)]
        vault: VaultArgs,
        /// Name or ID of the Virtual Machine to be protected (a name is looked up in --resource-group).
        #[arg(long)]
        vm: String,
        /// Name of the backup policy.
        #[arg(short = 'p', long = "policy-name")]
        policy_name: String,
    },
    /// Perform an on-demand backup of a backed up item.
    BackupNow {
        #[command(flatten)]
        item: ItemArgs,
        /// The date until which this backed up copy will be available for retrieval, in UTC (d-m-Y). If not specified, 30 days will be taken as default value.
        #[arg(long)]
        retain_until: Option<String>,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type.
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
    },
    /// Stop protecting a backed up item. Can retain the backed up data forever or choose to delete it.
    Disable {
        #[command(flatten)]
        item: ItemArgs,
        /// Option to delete existing backed up data in the Recovery services vault.
        #[arg(long, value_parser = boolish(), default_value = "false", num_args = 0..=1, default_missing_value = "true")]
        delete_backup_data: bool,
        /// Keep recovery points as per the policy (suspend backups) instead of forever.
        #[arg(long, value_parser = boolish(), default_value = "false", num_args = 0..=1, default_missing_value = "true")]
        retain_recovery_points_as_per_policy: bool,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type.
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Rehydrate an item from softdeleted state to stop protection with retain data state.
    Undelete {
        #[command(flatten)]
        item: ItemArgs,
        /// The backup management type.
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type.
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
    },
    /// Resume backup for the associated backup item. Use this to change the policy associated with the backup item.
    Resume {
        #[command(flatten)]
        item: ItemArgs,
        /// Name of the backup policy.
        #[arg(short = 'p', long = "policy-name")]
        policy_name: String,
    },
}

/// The path of a VM given by ARM id, or by name in `rg` (in `namespace`:
/// `Microsoft.Compute` or, for classic VMs, `Microsoft.ClassicCompute`).
fn vm_path(ctx: &Ctx, vm: &str, rg: &str, namespace: &str) -> Result<String> {
    if vm.starts_with('/') {
        let seg: Vec<&str> = vm.trim_matches('/').split('/').collect();
        let ok = seg.len() == 8
            && seg[0].eq_ignore_ascii_case("subscriptions")
            && seg[2].eq_ignore_ascii_case("resourceGroups")
            && seg[4].eq_ignore_ascii_case("providers")
            && (seg[5].eq_ignore_ascii_case("Microsoft.Compute")
                || seg[5].eq_ignore_ascii_case("Microsoft.ClassicCompute"))
            && seg[6].eq_ignore_ascii_case("virtualMachines");
        if !ok {
            bail!(
                "--vm '{vm}' is not a VM id (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME)"
            );
        }
        return Ok(format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/virtualMachines/{}",
            encode(seg[1]),
            encode(seg[3]),
            encode(seg[5]),
            encode(seg[7])
        ));
    }
    Ok(format!(
        "{}/providers/{namespace}/virtualMachines/{}",
        ctx.arm.group_path(rg),
        encode(vm)
    ))
}

/// Reads the VM to protect; a name not found among ARM VMs is looked up
/// among classic VMs.
fn get_vm(ctx: &Ctx, vm: &str, rg: &str) -> Result<VirtualMachine> {
    match ctx
        .arm
        .get(&vm_path(ctx, vm, rg, "Microsoft.Compute")?, COMPUTE_API)
    {
        Err(e)
            if !vm.starts_with('/')
                && e.downcast_ref::<ArmError>()
                    .is_some_and(|a| a.status == 404) =>
        {
            ctx.arm
                .get(
                    &vm_path(ctx, vm, rg, "Microsoft.ClassicCompute")?,
                    COMPUTE_API,
                )
                .map_err(|_| e)
        }
        r => r,
    }
}

/// The segment after `key` in an ARM id.
fn after<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    segment_after(id, key)
}

fn enable_for_vm(ctx: &Ctx, vault: &VaultArgs, vm: &str, policy: &str) -> Result<Outcome> {
    let vp = ctx.vault_path(vault);
    let vm = get_vm(ctx, vm, &vault.resource_group)?;
    let v: Vault = ctx.arm.get(&vp, VAULT_API)?;
    let policy: BackupPolicy = ctx.arm.get(
        &format!("{vp}/backupPolicies/{}", encode(policy)),
        BACKUP_API,
    )?;
    let (vm_loc, vault_loc) = (
        vm.location.as_deref().unwrap_or(""),
        v.location.as_deref().unwrap_or(""),
    );
    if !vm_loc.eq_ignore_ascii_case(vault_loc) {
        bail!(
            "The VM should be in the same location as that of the Recovery Services vault to enable protection (VM '{}' is in '{vm_loc}', vault '{}' in '{vault_loc}').",
            vm.name(),
            vault.vault_name
        );
    }
    if policy.properties.management_type() != BackupManagementType::AzureIaasVm {
        bail!(
            "The policy type should match with the workload being protected. Use the relevant get-default policy command and use it to protect the workload."
        );
    }
    let vm_id = vm.id();
    // Discovery, then the VM's protectable item names its container and item.
    let r = ctx.arm.send(
        "POST",
        &format!("{vp}/backupFabrics/Azure/refreshContainers"),
        &[("api-version", BACKUP_API)],
    )?;
    if r.status == 202 && r.location.is_some() {
        ctx.arm.wait_location(&r, BACKUP_API)?;
    }
    let protectable: Vec<ProtectableItemResource> = ctx.arm.list(
        &format!("{vp}/backupProtectableItems"),
        BACKUP_API,
        Some("backupManagementType eq 'AzureIaasVM'"),
    )?;
    let found = protectable.iter().find(|p| {
        p.properties
            .as_iaas_vm()
            .and_then(|p| p.virtual_machine_id.as_deref())
            .is_some_and(|id| id.eq_ignore_ascii_case(vm_id))
    });
    let Some(found) = found else {
        bail!(
            "The specified Azure Virtual Machine Not Found. Possible causes are\n   1. VM does not exist\n   2. The VM name or the Service name needs to be case sensitive\n   3. VM is already Protected with same or other Vault. Please Unprotect VM first and then try to protect it again."
        );
    };
    let id = found.id();
    let (Some(container), Some(item)) = (
        after(id, "protectionContainers"),
        after(id, "protectableItems"),
    ) else {
        bail!("the server returned a protectable item without a usable id: '{id}'");
    };
    let p = IaasVmProtectedItem {
        source_resource_id: Some(vm_id.to_owned()),
        policy_id: policy.id.clone(),
        ..Default::default()
    };
    let classic = vm.kind.as_deref().map(VmKind::from) == Some(VmKind::ClassicCompute);
    let body = Resource::with_properties(if classic {
        ProtectedItem::ClassicCompute(p)
    } else {
        ProtectedItem::Compute(p)
    });
    let reply = ctx.arm.send_json(
        "PUT",
        &format!(
            "{vp}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            encode(container),
            encode(item)
        ),
        &[("api-version", BACKUP_API)],
        &body,
    )?;
    ctx.finish_operation(&vp, &reply)
}

fn backup_now(ctx: &Ctx, a: &ItemArgs, retain_until: Option<&str>) -> Result<Outcome> {
    let expiry = match retain_until {
        Some(s) => dates::iso(dates::parse(s)?),
        None => {
            let t =
                jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * 30))?;
            dates::iso(jiff::tz::TimeZone::UTC.to_datetime(t))
        }
    };
    let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
    let body = Resource::with_properties(BackupRequest::IaasVm(IaasVmBackupRequest {
        recovery_point_expiry_time_in_utc: Some(expiry),
        ..Default::default()
    }));
    let reply = ctx.arm.send_json(
        "POST",
        &format!("{}/backup", item_path(ctx, &a.vault, &item)?),
        &[("api-version", BACKUP_API)],
        &body,
    )?;
    ctx.finish_operation(&ctx.vault_path(&a.vault), &reply)
}

fn put_item(
    ctx: &Ctx,
    a: &ItemArgs,
    item: &ProtectedItemResource,
    set: impl FnOnce(&mut IaasVmProtectedItem),
) -> Result<Outcome> {
    let body = item_body(item, set);
    let stops = body.properties.as_iaas_vm().is_some_and(|p| {
        p.protection_state == Some(ProtectionState::ProtectionStopped) && p.is_rehydrate.is_none()
    });
    let body = if stops {
        super::mua::approved_body(ctx, &a.vault, super::mua::STOP_PROTECTION, &body)?
    } else {
        serde_json::to_value(&body)?
    };
    let reply = ctx.arm.send_json(
        "PUT",
        &item_path(ctx, &a.vault, item)?,
        &[("api-version", BACKUP_API)],
        &body,
    )?;
    ctx.finish_operation(&ctx.vault_path(&a.vault), &reply)
}

/// Runs a `backup protection` command.
pub fn run(ctx: &Ctx, cmd: ProtectionCommand) -> Result<()> {
    let outcome = match cmd {
        ProtectionCommand::EnableForVm {
            vault,
            vm,
            policy_name,
        } => enable_for_vm(ctx, &vault, &vm, &policy_name)?,
        ProtectionCommand::BackupNow {
            item, retain_until, ..
        } => backup_now(ctx, &item, retain_until.as_deref())?,
        ProtectionCommand::Disable {
            item: a,
            delete_backup_data,
            retain_recovery_points_as_per_policy,
            yes,
            ..
        } => {
            if delete_backup_data && retain_recovery_points_as_per_policy {
                bail!(
                    "--delete-backup-data and --retain-recovery-points-as-per-policy cannot both be true"
                );
            }
            if !confirm(
                yes,
                "Are you sure you want to disable protection for this item?",
            )? {
                return Ok(());
            }
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            if delete_backup_data {
                let id = item.id.clone();
                super::mua::unlock_delete(ctx, &a.vault, super::mua::DELETE_ITEM, id.as_deref())?;
                let reply = ctx.arm.send(
                    "DELETE",
                    &item_path(ctx, &a.vault, &item)?,
                    &[("api-version", BACKUP_API)],
                )?;
                ctx.finish_operation(&ctx.vault_path(&a.vault), &reply)?
            } else if retain_recovery_points_as_per_policy {
                let policy = props(&item).and_then(|p| p.policy_id.clone());
                put_item(ctx, &a, &item, |p| {
                    p.policy_id = policy;
                    p.protection_state = Some(ProtectionState::BackupsSuspended);
                })?
            } else {
                put_item(ctx, &a, &item, |p| {
                    p.policy_id = Some(String::new());
                    p.protection_state = Some(ProtectionState::ProtectionStopped);
                })?
            }
        }
        ProtectionCommand::Undelete { item: a, .. } => {
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            put_item(ctx, &a, &item, |p| {
                p.policy_id = Some(String::new());
                p.protection_state = Some(ProtectionState::ProtectionStopped);
                p.is_rehydrate = Some(true);
            })?
        }
        ProtectionCommand::Resume {
            item: a,
            policy_name,
        } => {
            let item = resolve_item(ctx, &a.vault, &a.container_name, &a.item_name)?;
            let state = props(&item).and_then(|p| p.protection_state.clone());
            if !matches!(
                state,
                Some(ProtectionState::ProtectionStopped | ProtectionState::BackupsSuspended)
            ) {
                bail!(
                    "Azure Virtual Machine is already protected (its protection state is {}).",
                    show(&state)
                );
            }
            let policy = policy_id(ctx, &a.vault, &policy_name)?;
            put_item(ctx, &a, &item, |p| p.policy_id = Some(policy))?
        }
    };
    ctx.print_outcome(&outcome)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_split_like_az() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;vm/protectableItems/VM;iaasvmcontainerv2;rg;vm";
        assert_eq!(
            super::after(id, "protectionContainers"),
            Some("IaasVMContainer;iaasvmcontainerv2;rg;vm")
        );
        assert_eq!(
            super::after(id, "protectableItems"),
            Some("VM;iaasvmcontainerv2;rg;vm")
        );
        assert_eq!(super::after(id, "nothing"), None);
    }
}

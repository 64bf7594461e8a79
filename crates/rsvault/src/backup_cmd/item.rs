//! `backup item`: protected items, and how `az` resolves the names users
//! give for them (a VM's name, or the native container and item names).

use super::{Ctx, VaultArgs};
use crate::arm_client::{BACKUP_API, encode};
use crate::output::{Column, col, show};
use anyhow::{Result, bail};
use clap::Subcommand;
use rsvault_arm::Resource;
use rsvault_arm::item::{IaasVmProtectedItem, ProtectedItem, ProtectedItemResource};
use rsvault_arm::policy::BackupPolicy;

/// A VM item's properties (other kinds show empty columns).
pub fn props(i: &ProtectedItemResource) -> Option<&IaasVmProtectedItem> {
    i.properties.as_iaas_vm()
}

/// `az backup item list -o table` columns (and the protection state).
pub const COLUMNS: &[Column<ProtectedItemResource>] = &[
    col("Name", |i| i.name().to_owned()),
    col("Friendly Name", |i| {
        show(&props(i).and_then(|p| p.friendly_name.as_ref()))
    }),
    col("Container name", |i| {
        show(&props(i).and_then(|p| p.container_name.as_ref()))
    }),
    col("Resource Group", |i| show(&i.resource_group())),
    col("Type", |i| {
        show(&props(i).and_then(|p| p.workload_type.as_ref()))
    }),
    col("Last Backup Status", |i| {
        show(&props(i).and_then(|p| p.last_backup_status.as_ref()))
    }),
    col("Last Recovery Point", |i| {
        show(&props(i).and_then(|p| p.last_recovery_point.as_ref()))
    }),
    col("Protection Status", |i| {
        show(&props(i).and_then(|p| p.protection_status.as_ref()))
    }),
    col("Protection State", |i| {
        show(&props(i).and_then(|p| p.protection_state.as_ref()))
    }),
    col("Health Status", |i| {
        show(&props(i).and_then(|p| p.health_status.as_ref()))
    }),
];

const ITEM_FILTER: &str = "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'";

#[derive(Debug, Subcommand)]
pub enum ItemCommand {
    /// List all backed up items within a container.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Name of the backup container (its native name or the VM's name).
        #[arg(short = 'c', long = "container-name")]
        container_name: Option<String>,
        /// The backup management type (rsvault protects Azure IaaS VMs).
        #[arg(long, value_parser = ["AzureIaasVM"], ignore_case = true)]
        backup_management_type: Option<String>,
        /// The workload type (rsvault protects VMs).
        #[arg(long, value_parser = ["VM"], ignore_case = true)]
        workload_type: Option<String>,
    },
    /// Show details of a particular backed up item.
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// Name of the backup container (its native name or the VM's name).
        #[arg(short = 'c', long = "container-name")]
        container_name: String,
        /// Name of the backed up item (its native name or the VM's name).
        #[arg(short = 'n', long = "name")]
        name: String,
    },
    /// Update the policy associated with this item.
    SetPolicy {
        #[command(flatten)]
        vault: VaultArgs,
        /// Name of the backup container (its native name or the VM's name).
        #[arg(short = 'c', long = "container-name")]
        container_name: String,
        /// Name of the backed up item (its native name or the VM's name).
        #[arg(short = 'n', long = "name")]
        name: String,
        /// Name of the Backup policy. You can use the backup policy list command to get the name of a backup policy.
        #[arg(short = 'p', long = "policy-name")]
        policy_name: String,
    },
}

/// Whether a name is a native (`;`-separated) name rather than a friendly one.
pub fn is_native(name: &str) -> bool {
    name.contains(';')
}

/// `IaasVMContainer;iaasvmcontainerv2;rg;vm` from either that or the
/// `containerName` form `iaasvmcontainerv2;rg;vm`.
fn full_container(c: &str) -> String {
    if c.split(';').count() == 3 {
        format!("IaasVMContainer;{c}")
    } else {
        c.to_owned()
    }
}

/// `VM;iaasvmcontainerv2;rg;vm` from either that or `iaasvmcontainerv2;rg;vm`.
fn full_item(i: &str) -> String {
    if i.split(';').count() == 3 {
        format!("VM;{i}")
    } else {
        i.to_owned()
    }
}

fn container_matches(item: &ProtectedItemResource, container: &str) -> bool {
    let cn = props(item)
        .and_then(|p| p.container_name.as_deref())
        .unwrap_or("");
    if is_native(container) {
        let rest = container.split_once(';').map_or("", |(_, r)| r);
        cn.eq_ignore_ascii_case(container) || cn.eq_ignore_ascii_case(rest)
    } else {
        cn.rsplit(';')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(container))
    }
}

/// The vault's protected VMs, optionally those of one container.
pub fn list_items(
    ctx: &Ctx,
    vault: &VaultArgs,
    container: Option<&str>,
) -> Result<Vec<ProtectedItemResource>> {
    let items: Vec<ProtectedItemResource> = ctx.arm.list(
        &format!("{}/backupProtectedItems", ctx.vault_path(vault)),
        BACKUP_API,
        Some(ITEM_FILTER),
    )?;
    Ok(match container {
        Some(c) => items
            .into_iter()
            .filter(|i| container_matches(i, c))
            .collect(),
        None => items,
    })
}

/// Finds one protected item as `az` does: native names are read directly;
/// a friendly name (the VM's) is looked up in the vault's item list.
pub fn resolve_item(
    ctx: &Ctx,
    vault: &VaultArgs,
    container: &str,
    item: &str,
) -> Result<ProtectedItemResource> {
    if is_native(container) && is_native(item) {
        let path = format!(
            "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            ctx.vault_path(vault),
            encode(&full_container(container)),
            encode(&full_item(item))
        );
        return ctx.arm.get(&path, BACKUP_API);
    }
    let mut found: Vec<ProtectedItemResource> = list_items(ctx, vault, Some(container))?
        .into_iter()
        .filter(|i| {
            if is_native(item) {
                i.name().eq_ignore_ascii_case(&full_item(item))
            } else {
                props(i)
                    .and_then(|p| p.friendly_name.as_deref())
                    .is_some_and(|n| n.eq_ignore_ascii_case(item))
            }
        })
        .collect();
    match (found.pop(), found.is_empty()) {
        (None, _) => bail!(
            "Item not found. Please provide a valid item_name (vault '{}' protects no item '{item}' in container '{container}'; see `rsvault backup item list`).",
            vault.vault_name
        ),
        (Some(one), true) => Ok(one),
        (Some(_), false) => bail!("Multiple items found. Please give native names instead."),
    }
}

/// `{V}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}`
/// of a protected item, from its id.
pub fn item_path(ctx: &Ctx, vault: &VaultArgs, item: &ProtectedItemResource) -> Result<String> {
    let id = item.id();
    let seg: Vec<&str> = id.split('/').collect();
    let after = |key: &str| {
        seg.iter()
            .position(|s| s.eq_ignore_ascii_case(key))
            .and_then(|i| seg.get(i + 1))
            .copied()
    };
    match (after("protectionContainers"), after("protectedItems")) {
        (Some(c), Some(i)) => Ok(format!(
            "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            ctx.vault_path(vault),
            encode(c),
            encode(i)
        )),
        _ => bail!("the server returned a protected item without a usable id: '{id}'"),
    }
}

/// The PUT body that keeps an item's identity (`protectedItemType`,
/// `sourceResourceId`) and sets what `set` sets.
pub fn item_body(
    item: &ProtectedItemResource,
    set: impl FnOnce(&mut IaasVmProtectedItem),
) -> Resource<ProtectedItem> {
    let source = props(item)
        .and_then(|p| {
            p.source_resource_id
                .clone()
                .or(p.virtual_machine_id.clone())
        })
        .unwrap_or_default();
    let mut p = IaasVmProtectedItem {
        source_resource_id: Some(source),
        ..Default::default()
    };
    set(&mut p);
    Resource::with_properties(match item.properties {
        ProtectedItem::ClassicCompute(_) => ProtectedItem::ClassicCompute(p),
        _ => ProtectedItem::Compute(p),
    })
}

/// The policy's id, after checking it exists.
pub fn policy_id(ctx: &Ctx, vault: &VaultArgs, policy: &str) -> Result<String> {
    let p: BackupPolicy = ctx.arm.get(
        &format!(
            "{}/backupPolicies/{}",
            ctx.vault_path(vault),
            encode(policy)
        ),
        BACKUP_API,
    )?;
    match p.id {
        Some(id) => Ok(id),
        None => bail!("the server returned policy '{policy}' without an id"),
    }
}

/// Runs a `backup item` command.
pub fn run(ctx: &Ctx, cmd: ItemCommand) -> Result<()> {
    match cmd {
        ItemCommand::List {
            vault,
            container_name,
            ..
        } => {
            let items = list_items(ctx, &vault, container_name.as_deref())?;
            ctx.print_list(&items, COLUMNS)
        }
        ItemCommand::Show {
            vault,
            container_name,
            name,
        } => ctx.print_one(&resolve_item(ctx, &vault, &container_name, &name)?, COLUMNS),
        ItemCommand::SetPolicy {
            vault,
            container_name,
            name,
            policy_name,
        } => {
            let item = resolve_item(ctx, &vault, &container_name, &name)?;
            let policy = policy_id(ctx, &vault, &policy_name)?;
            let body = item_body(&item, |p| p.policy_id = Some(policy));
            let body = super::mua::approved_body(ctx, &vault, super::mua::UPDATE_ITEM, &body)?;
            let reply = ctx.arm.send_json(
                "PUT",
                &item_path(ctx, &vault, &item)?,
                &[("api-version", BACKUP_API)],
                &body,
            )?;
            let done = ctx.finish_operation(&ctx.vault_path(&vault), &reply)?;
            ctx.print_outcome(&done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsvault_arm::common::ProtectionState;
    use serde_json::json;

    fn item(props: serde_json::Value) -> ProtectedItemResource {
        serde_json::from_value(json!({"properties": props})).unwrap()
    }

    #[test]
    fn container_names_match_like_az() {
        let item = item(
            json!({"protectedItemType": "Microsoft.Compute/virtualMachines",
            "containerName": "iaasvmcontainerv2;rg-vms;vm1"}),
        );
        assert!(container_matches(&item, "vm1"));
        assert!(container_matches(&item, "VM1"));
        assert!(container_matches(
            &item,
            "IaasVMContainer;iaasvmcontainerv2;rg-vms;vm1"
        ));
        assert!(container_matches(&item, "iaasvmcontainerv2;rg-vms;vm1"));
        assert!(!container_matches(&item, "vm2"));
        assert_eq!(
            full_container("iaasvmcontainerv2;rg;vm"),
            "IaasVMContainer;iaasvmcontainerv2;rg;vm"
        );
        assert_eq!(
            full_item("VM;iaasvmcontainerv2;rg;vm"),
            "VM;iaasvmcontainerv2;rg;vm"
        );
    }

    #[test]
    fn item_bodies_keep_the_identity() {
        let classic = item(
            json!({"protectedItemType": "Microsoft.ClassicCompute/virtualMachines",
            "sourceResourceId": "/x", "friendlyName": "vm1", "policyId": "/p"}),
        );
        let b = item_body(&classic, |p| {
            p.protection_state = Some(ProtectionState::ProtectionStopped);
            p.policy_id = Some(String::new());
        });
        let b = serde_json::to_value(&b).unwrap();
        let p = &b["properties"];
        assert_eq!(
            p["protectedItemType"],
            "Microsoft.ClassicCompute/virtualMachines"
        );
        assert_eq!(p["sourceResourceId"], "/x");
        assert_eq!(p["protectionState"], "ProtectionStopped");
        assert_eq!(p["policyId"], "");
        assert!(
            p.get("friendlyName").is_none(),
            "only the identity and the change"
        );
        let by_vm = item(
            json!({"protectedItemType": "Microsoft.Compute/virtualMachines", "virtualMachineId": "/vm"}),
        );
        let b = serde_json::to_value(item_body(&by_vm, |_| {})).unwrap();
        assert_eq!(b["properties"]["sourceResourceId"], "/vm");
    }
}

//! `backup item`: protected items, and how `az` resolves the names users
//! give for them (a VM's name, or the native container and item names).

use super::{Ctx, VaultArgs};
use crate::arm_client::{BACKUP_API, encode};
use crate::output::{Column, col, text};
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};

/// `az backup item list -o table` columns (and the protection state).
pub const COLUMNS: &[Column] = &[
    col("Name", |v| text(&v["name"])),
    col("Friendly Name", |v| text(&v["properties"]["friendlyName"])),
    col("Container name", |v| {
        text(&v["properties"]["containerName"])
    }),
    col("Resource Group", |v| text(&v["resourceGroup"])),
    col("Type", |v| text(&v["properties"]["workloadType"])),
    col("Last Backup Status", |v| {
        text(&v["properties"]["lastBackupStatus"])
    }),
    col("Last Recovery Point", |v| {
        text(&v["properties"]["lastRecoveryPoint"])
    }),
    col("Protection Status", |v| {
        text(&v["properties"]["protectionStatus"])
    }),
    col("Protection State", |v| {
        text(&v["properties"]["protectionState"])
    }),
    col("Health Status", |v| text(&v["properties"]["healthStatus"])),
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

fn container_matches(item: &Value, container: &str) -> bool {
    let cn = item["properties"]["containerName"].as_str().unwrap_or("");
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
pub fn list_items(ctx: &Ctx, vault: &VaultArgs, container: Option<&str>) -> Result<Vec<Value>> {
    let items = ctx.arm.list(
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
pub fn resolve_item(ctx: &Ctx, vault: &VaultArgs, container: &str, item: &str) -> Result<Value> {
    if is_native(container) && is_native(item) {
        let path = format!(
            "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            ctx.vault_path(vault),
            encode(&full_container(container)),
            encode(&full_item(item))
        );
        return ctx.arm.get(&path, BACKUP_API);
    }
    let found: Vec<Value> = list_items(ctx, vault, Some(container))?
        .into_iter()
        .filter(|i| {
            if is_native(item) {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&full_item(item)))
            } else {
                i["properties"]["friendlyName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(item))
            }
        })
        .collect();
    match found.len() {
        0 => bail!(
            "Item not found. Please provide a valid item_name (vault '{}' protects no item '{item}' in container '{container}'; see `rsvault backup item list`).",
            vault.vault_name
        ),
        1 => Ok(found.into_iter().next().unwrap_or(Value::Null)),
        _ => bail!("Multiple items found. Please give native names instead."),
    }
}

/// `{V}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}`
/// of a protected item, from its id.
pub fn item_path(ctx: &Ctx, vault: &VaultArgs, item: &Value) -> Result<String> {
    let id = item["id"].as_str().unwrap_or("");
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
/// `sourceResourceId`) and sets the given properties.
pub fn item_body(item: &Value, props: Value) -> Value {
    let p = &item["properties"];
    let mut body = json!({"properties": {
        "protectedItemType": p["protectedItemType"].as_str().unwrap_or("Microsoft.Compute/virtualMachines"),
        "sourceResourceId": p["sourceResourceId"].as_str().or(p["virtualMachineId"].as_str()).unwrap_or(""),
    }});
    if let (Some(m), Value::Object(extra)) = (body["properties"].as_object_mut(), props) {
        m.extend(extra);
    }
    body
}

/// The policy's id, after checking it exists.
pub fn policy_id(ctx: &Ctx, vault: &VaultArgs, policy: &str) -> Result<String> {
    let p = ctx.arm.get(
        &format!(
            "{}/backupPolicies/{}",
            ctx.vault_path(vault),
            encode(policy)
        ),
        BACKUP_API,
    )?;
    match p["id"].as_str() {
        Some(id) => Ok(id.to_owned()),
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
            ctx.print(&Value::Array(items), COLUMNS)
        }
        ItemCommand::Show {
            vault,
            container_name,
            name,
        } => ctx.print(&resolve_item(ctx, &vault, &container_name, &name)?, COLUMNS),
        ItemCommand::SetPolicy {
            vault,
            container_name,
            name,
            policy_name,
        } => {
            let item = resolve_item(ctx, &vault, &container_name, &name)?;
            let policy = policy_id(ctx, &vault, &policy_name)?;
            let body = item_body(&item, json!({ "policyId": policy }));
            let reply = ctx.arm.send(
                "PUT",
                &item_path(ctx, &vault, &item)?,
                &[("api-version", BACKUP_API)],
                Some(&body),
            )?;
            let done = ctx.finish_operation(&ctx.vault_path(&vault), &reply)?;
            ctx.print_outcome(&done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_match_like_az() {
        let item = json!({"properties": {"containerName": "iaasvmcontainerv2;rg-vms;vm1"}});
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
        let item = json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": "/x"}});
        let b = item_body(
            &item,
            json!({"protectionState": "ProtectionStopped", "policyId": ""}),
        );
        assert_eq!(b["properties"]["sourceResourceId"], "/x");
        assert_eq!(b["properties"]["protectionState"], "ProtectionStopped");
    }
}

//! `rsvault storage account …`: the server's storage accounts
//! (`Microsoft.Storage/storageAccounts`, folders of restored disks under its
//! restore root), in the manner of `az storage account`. `rsvault backup
//! restore restore-disks --storage-account NAME` restores into one.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, text};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

/// `api-version` of `Microsoft.Storage`.
pub const STORAGE_API: &str = "2025-06-01";

/// `rsvault storage`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: StorageCommand,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Manage storage accounts: the targets of restore-disks.
    #[command(subcommand)]
    Account(AccountCommand),
}

/// An account by name.
#[derive(Debug, Args)]
pub struct AccountName {
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
    /// The storage account name.
    #[arg(short = 'n', long = "name")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a storage account (or update its SKU and tags).
    Create {
        #[command(flatten)]
        account: AccountName,
        /// Location (region), e.g. westeurope.
        #[arg(short = 'l', long)]
        location: String,
        /// The storage account SKU.
        #[arg(long, default_value = "Standard_LRS")]
        sku: String,
        /// The type of storage account.
        #[arg(long, default_value = "StorageV2")]
        kind: String,
        /// Space-separated tags: key[=value] [key[=value] ...].
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
    },
    /// Show storage account properties.
    Show {
        #[command(flatten)]
        account: AccountName,
    },
    /// List storage accounts.
    List {
        /// Name of resource group (default: every group of the subscription).
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
    },
    /// Delete a storage account and the restored disks in it.
    Delete {
        #[command(flatten)]
        account: AccountName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Check that the storage account name is valid and is not already in use.
    CheckName {
        /// The storage account name.
        #[arg(short = 'n', long = "name")]
        name: String,
    },
}

const COLUMNS: &[Column] = &[
    col("CreationTime", |v| text(&v["properties"]["creationTime"])),
    col("Kind", |v| text(&v["kind"])),
    col("Location", |v| text(&v["location"])),
    col("Name", |v| text(&v["name"])),
    col("PrimaryLocation", |v| {
        text(&v["properties"]["primaryLocation"])
    }),
    col("ProvisioningState", |v| {
        text(&v["properties"]["provisioningState"])
    }),
    col("ResourceGroup", |v| text(&v["resourceGroup"])),
    col("StatusOfPrimary", |v| {
        text(&v["properties"]["statusOfPrimary"])
    }),
];

fn account_path(arm: &Arm, a: &AccountName) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{}",
        arm.group_path(&a.resource_group),
        encode(&a.name)
    )
}

/// The body of `storage account create`.
fn create_body(location: &str, sku: &str, kind: &str, tags: Option<&[String]>) -> Value {
    let mut body =
        json!({"location": location, "sku": {"name": sku}, "kind": kind, "properties": {}});
    if let Some(tags) = tags {
        let mut m = Map::new();
        for t in tags.iter().filter(|t| !t.is_empty()) {
            let (k, v) = t.split_once('=').unwrap_or((t, ""));
            m.insert(k.to_owned(), json!(v));
        }
        body["tags"] = Value::Object(m);
    }
    body
}

/// Runs one `rsvault storage` command.
pub fn run(args: StorageArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let print = |v: &Value, columns: &[Column]| output::print(args.conn.output, v, columns);
    let api = [("api-version", STORAGE_API)];
    let StorageCommand::Account(command) = args.command;
    match command {
        AccountCommand::Create {
            account,
            location,
            sku,
            kind,
            tags,
        } => {
            let body = create_body(&location, &sku, &kind, tags.as_deref());
            let reply = arm.send("PUT", &account_path(&arm, &account), &api, Some(&body))?;
            print(&reply.body, COLUMNS)?;
        }
        AccountCommand::Show { account } => {
            print(
                &arm.get(&account_path(&arm, &account), STORAGE_API)?,
                COLUMNS,
            )?;
        }
        AccountCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "{}/providers/Microsoft.Storage/storageAccounts",
                    arm.group_path(&rg)
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.Storage/storageAccounts",
                    encode(arm.subscription())
                ),
            };
            print(&Value::Array(arm.list(&path, STORAGE_API, None)?), COLUMNS)?;
        }
        AccountCommand::Delete { account, yes } => {
            let question = "The storage account and the restored disks in it will be deleted. Are you sure you want to perform this operation?";
            if confirm(yes, question)? {
                arm.send("DELETE", &account_path(&arm, &account), &api, None)?;
            }
        }
        AccountCommand::CheckName { name } => {
            let path = format!(
                "/subscriptions/{}/providers/Microsoft.Storage/checkNameAvailability",
                encode(arm.subscription())
            );
            let body = json!({"name": name, "type": "Microsoft.Storage/storageAccounts"});
            print(&arm.send("POST", &path, &api, Some(&body))?.body, &[])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn create_bodies_carry_sku_kind_and_tags() {
        let tags = ["a=b".to_owned(), "c".to_owned(), String::new()];
        let b = super::create_body("westeurope", "Standard_LRS", "StorageV2", Some(&tags));
        assert_eq!(b["sku"]["name"], "Standard_LRS");
        assert_eq!(b["kind"], "StorageV2");
        assert_eq!(b["tags"], serde_json::json!({"a": "b", "c": ""}));
        assert!(
            super::create_body("x", "s", "k", None)
                .get("tags")
                .is_none()
        );
    }
}

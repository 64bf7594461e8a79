//! `rsvault storage account …`: the server's storage accounts
//! (`Microsoft.Storage/storageAccounts`, folders of restored disks under its
//! restore root), in the manner of `az storage account`. `rsvault backup
//! restore restore-disks --storage-account NAME` restores into one.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, show};
use anyhow::Result;
use clap::{Args, Subcommand};
use rsvault_arm::resource::{Resource, Sku};
use rsvault_arm::storage::{
    CheckNameRequest, CheckNameResult, StorageAccountProperties, StorageAccountResource,
    account_kind,
};
use serde_json::{Map, Value};
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
    /// The containers of a storage account: one per restore of disks.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// The blobs of a container: restored disks and vmconfig.json.
    #[command(subcommand)]
    Blob(BlobCommand),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List the containers of a storage account.
    List {
        #[command(flatten)]
        account: crate::storage_blobs::AccountRef,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// List the blobs of a container.
    List {
        #[command(flatten)]
        account: crate::storage_blobs::AccountRef,
        /// The container name.
        #[arg(short = 'c', long = "container-name")]
        container_name: String,
    },
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

const COLUMNS: &[Column<StorageAccountResource>] = &[
    col("CreationTime", |a| show(&a.properties.creation_time)),
    col("Kind", |a| account_kind(a).unwrap_or_default().to_owned()),
    col("Location", |a| show(&a.location)),
    col("Name", |a| show(&a.name)),
    col("PrimaryLocation", |a| show(&a.properties.primary_location)),
    col("ProvisioningState", |a| {
        show(&a.properties.provisioning_state)
    }),
    col("ResourceGroup", |a| {
        a.id.as_deref()
            .and_then(output::resource_group_of)
            .unwrap_or_default()
            .to_owned()
    }),
    col("StatusOfPrimary", |a| show(&a.properties.status_of_primary)),
];

fn account_path(arm: &Arm, a: &AccountName) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{}",
        arm.group_path(&a.resource_group),
        encode(&a.name)
    )
}

/// The body of `storage account create`.
fn create_body(
    location: &str,
    sku: &str,
    kind: &str,
    tags: Option<&[String]>,
) -> StorageAccountResource {
    let mut body = Resource::with_properties(StorageAccountProperties::default());
    body.location = Some(location.to_owned());
    body.sku = Some(Sku {
        name: sku.to_owned(),
        tier: None,
        extra: Map::new(),
    });
    body.extra
        .insert("kind".into(), Value::String(kind.to_owned()));
    body.tags = tags.map(|tags| {
        tags.iter()
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (k, v) = t.split_once('=').unwrap_or((t, ""));
                (k.to_owned(), Value::String(v.to_owned()))
            })
            .collect()
    });
    body
}

/// Runs one `rsvault storage` command.
pub fn run(args: StorageArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    let api = [("api-version", STORAGE_API)];
    let command = match args.command {
        StorageCommand::Account(c) => c,
        StorageCommand::Container(ContainerCommand::List { account }) => {
            crate::storage_blobs::list_containers(&arm, format, &account)?;
            return Ok(ExitCode::SUCCESS);
        }
        StorageCommand::Blob(BlobCommand::List {
            account,
            container_name,
        }) => {
            crate::storage_blobs::list_blobs(&arm, format, &account, &container_name)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    match command {
        AccountCommand::Create {
            account,
            location,
            sku,
            kind,
            tags,
        } => {
            let body = create_body(&location, &sku, &kind, tags.as_deref());
            let reply = arm.send_json("PUT", &account_path(&arm, &account), &api, &body)?;
            let created: StorageAccountResource = reply.body()?;
            output::print_one(format, &created, COLUMNS)?;
        }
        AccountCommand::Show { account } => {
            let a: StorageAccountResource = arm.get(&account_path(&arm, &account), STORAGE_API)?;
            output::print_one(format, &a, COLUMNS)?;
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
            let all: Vec<StorageAccountResource> = arm.list(&path, STORAGE_API, None)?;
            output::print_list(format, &all, COLUMNS)?;
        }
        AccountCommand::Delete { account, yes } => {
            let question = "The storage account and the restored disks in it will be deleted. Are you sure you want to perform this operation?";
            if confirm(yes, question)? {
                arm.send("DELETE", &account_path(&arm, &account), &api)?;
            }
        }
        AccountCommand::CheckName { name } => {
            let path = format!(
                "/subscriptions/{}/providers/Microsoft.Storage/checkNameAvailability",
                encode(arm.subscription())
            );
            let body = CheckNameRequest {
                name: Some(name),
                kind: Some("Microsoft.Storage/storageAccounts".into()),
            };
            let result: CheckNameResult = arm.send_json("POST", &path, &api, &body)?.body()?;
            output::print_one(format, &result, &[])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn create_bodies_carry_sku_kind_and_tags() {
        let tags = ["a=b".to_owned(), "c".to_owned(), String::new()];
        let b = serde_json::to_value(super::create_body(
            "westeurope",
            "Standard_LRS",
            "StorageV2",
            Some(&tags),
        ))
        .unwrap();
        assert_eq!(b["sku"]["name"], "Standard_LRS");
        assert_eq!(b["kind"], "StorageV2");
        assert_eq!(b["location"], "westeurope");
        assert_eq!(b["tags"], serde_json::json!({"a": "b", "c": ""}));
        let bare = serde_json::to_value(super::create_body("x", "s", "k", None)).unwrap();
        assert!(bare.get("tags").is_none());
    }
}

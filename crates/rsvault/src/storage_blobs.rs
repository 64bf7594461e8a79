//! `rsvault storage container list` and `rsvault storage blob list`: what a
//! storage account holds, in the manner of `az storage container list` and
//! `az storage blob list`: each restore's folder is a container, each
//! restored disk and `vmconfig.json` a blob in it.

use crate::arm_client::{Arm, encode};
use crate::output::{self, Column, col};
use anyhow::{Result, bail};
use clap::Args;
use rsvault_arm::storage::StorageAccountResource;
use serde::{Deserialize, Serialize};

use crate::storage_cmd::STORAGE_API;

/// The account a listing reads.
#[derive(Debug, Args)]
pub struct AccountRef {
    /// The storage account name.
    #[arg(long = "account-name")]
    pub account_name: String,
    /// Name of resource group (default: the group the account is in).
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: Option<String>,
}

/// A container as the server lists it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub properties: ContainerProperties,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProperties {
    #[serde(default)]
    pub last_modified_time: Option<String>,
    #[serde(default)]
    pub lease_status: Option<String>,
}

/// A blob as the server lists it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub name: String,
    #[serde(default)]
    pub properties: BlobProperties,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobProperties {
    #[serde(default)]
    pub content_length: Option<u64>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub blob_type: Option<String>,
}

const CONTAINER_COLUMNS: &[Column<Container>] = &[
    col("Name", |c| c.name.clone()),
    col("Lease Status", |c| output::show(&c.properties.lease_status)),
    col("Last Modified", |c| {
        output::show(&c.properties.last_modified_time)
    }),
];

const BLOB_COLUMNS: &[Column<Blob>] = &[
    col("Name", |b| b.name.clone()),
    col("Blob Type", |b| output::show(&b.properties.blob_type)),
    col("Length", |b| output::show(&b.properties.content_length)),
    col("Content Type", |b| output::show(&b.properties.content_type)),
    col("Last Modified", |b| {
        output::show(&b.properties.last_modified)
    }),
];

/// The ARM path of the account: in the group given, or found by name among
/// the subscription's accounts (names are global).
fn account_path(arm: &Arm, a: &AccountRef) -> Result<String> {
    if let Some(rg) = &a.resource_group {
        return Ok(format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            arm.group_path(rg),
            encode(&a.account_name)
        ));
    }
    let all: Vec<StorageAccountResource> = arm.list(
        &format!(
            "/subscriptions/{}/providers/Microsoft.Storage/storageAccounts",
            encode(arm.subscription())
        ),
        STORAGE_API,
        None,
    )?;
    match all
        .iter()
        .filter(|x| {
            x.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&a.account_name))
        })
        .find_map(|x| x.id.clone())
    {
        Some(id) => Ok(id),
        None => bail!(
            "(ResourceNotFound) The storage account '{}' was not found in subscription '{}'.",
            a.account_name,
            arm.subscription()
        ),
    }
}

/// `rsvault storage container list`.
pub fn list_containers(arm: &Arm, format: output::Format, a: &AccountRef) -> Result<()> {
    let path = format!("{}/blobServices/default/containers", account_path(arm, a)?);
    let all: Vec<Container> = arm.list(&path, STORAGE_API, None)?;
    output::print_list(format, &all, CONTAINER_COLUMNS)
}

/// `rsvault storage blob list`.
pub fn list_blobs(
    arm: &Arm,
    format: output::Format,
    a: &AccountRef,
    container: &str,
) -> Result<()> {
    let path = format!(
        "{}/blobServices/default/containers/{}/blobs",
        account_path(arm, a)?,
        encode(container)
    );
    let all: Vec<Blob> = arm.list(&path, STORAGE_API, None)?;
    output::print_list(format, &all, BLOB_COLUMNS)
}

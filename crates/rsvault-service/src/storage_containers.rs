//! The blob containers of a storage account and the blobs in them, where a
//! user finds what a `RestoreDisks` restore wrote. A restore writes its
//! disks and `vmconfig.json` into one folder of the account's folder
//! (`<vm>-<point>`); here each such folder is a container
//! (`…/blobServices/default/containers/{name}`, as Azure's management API
//! lists them) and each file in it a blob. Hidden files (the account's
//! record) and the temporary files of a restore still running are never
//! listed, and symbolic links are neither listed nor followed.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::ResourceRef;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The ARM resource type of a container.
pub const CONTAINER_TYPE: &str = "Microsoft.Storage/storageAccounts/blobServices/containers";

/// A container as ARM returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobContainer {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: &'static str,
    pub properties: ContainerProperties,
}

/// A container's properties (those of Azure's `ContainerProperties` that
/// mean something here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProperties {
    /// RFC 3339.
    pub last_modified_time: String,
    pub public_access: &'static str,
    pub lease_status: &'static str,
    pub lease_state: &'static str,
    pub has_immutability_policy: bool,
    pub has_legal_hold: bool,
    pub deleted: bool,
}

/// A blob in a container, shaped as an entry of Blob storage's
/// `List Blobs` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    pub name: String,
    pub properties: BlobProperties,
}

/// A blob's properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobProperties {
    pub content_length: u64,
    /// RFC 3339.
    pub last_modified: String,
    pub content_type: &'static str,
    pub blob_type: &'static str,
}

fn io(what: &str, path: &Path, e: &std::io::Error) -> ServiceError {
    ServiceError::io(format_args!("{what} {}", path.display()), e)
}

fn container_not_found(name: &str) -> ServiceError {
    ServiceError::not_found(
        "ContainerNotFound",
        format!(
            "The specified container '{}' does not exist.",
            name.escape_debug()
        ),
    )
}

/// When a file or folder last changed, as RFC 3339.
fn modified(meta: &std::fs::Metadata) -> String {
    meta.modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// What a restored file holds, by its name.
fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        _ => "application/octet-stream",
    }
}

/// The entries of a folder a listing may show: not hidden, not a restore's
/// temporary file, and not a symbolic link; each with its name and metadata.
fn listed_entries(dir: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| io("read", dir, &e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io("read", dir, &e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || crate::recovery::is_restore_temp(Path::new(&name)) {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| io("read", &entry.path(), &e))?;
        if !meta.file_type().is_symlink() {
            out.push((name, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl Service {
    /// The blob containers of the storage account `r` names, by name.
    pub fn list_blob_containers(&self, r: &ResourceRef) -> Result<Vec<BlobContainer>> {
        let (account, root) = self.storage_account_folder(r)?;
        Ok(listed_entries(&root)?
            .into_iter()
            .filter(|(_, meta)| meta.is_dir())
            .map(|(name, meta)| container(&account.id, name, &meta))
            .collect())
    }

    /// One blob container of the storage account `r` names.
    pub fn get_blob_container(&self, r: &ResourceRef, name: &str) -> Result<BlobContainer> {
        self.container_folder(r, name).map(|(c, _)| c)
    }

    fn container_folder(&self, r: &ResourceRef, name: &str) -> Result<(BlobContainer, PathBuf)> {
        let (account, root) = self.storage_account_folder(r)?;
        listed_entries(&root)?
            .into_iter()
            .find(|(n, meta)| meta.is_dir() && n.eq_ignore_ascii_case(name))
            .map(|(n, meta)| {
                let dir = root.join(&n);
                (container(&account.id, n, &meta), dir)
            })
            .ok_or_else(|| container_not_found(name))
    }

    /// The blobs of one container, by name.
    pub fn list_blobs(&self, r: &ResourceRef, container_name: &str) -> Result<Vec<Blob>> {
        let (_, dir) = self.container_folder(r, container_name)?;
        Ok(listed_entries(&dir)?
            .into_iter()
            .filter(|(_, meta)| meta.is_file())
            .map(|(name, meta)| {
                let content_type = content_type(&name);
                Blob {
                    properties: BlobProperties {
                        content_length: meta.len(),
                        last_modified: modified(&meta),
                        content_type,
                        // Disk images are page blobs in Azure, the rest block blobs.
                        blob_type: if content_type == "application/octet-stream" {
                            "PageBlob"
                        } else {
                            "BlockBlob"
                        },
                    },
                    name,
                }
            })
            .collect())
    }
}

fn container(account_id: &str, name: String, meta: &std::fs::Metadata) -> BlobContainer {
    BlobContainer {
        id: format!("{account_id}/blobServices/default/containers/{name}"),
        name,
        resource_type: CONTAINER_TYPE,
        properties: ContainerProperties {
            last_modified_time: modified(meta),
            public_access: "None",
            lease_status: "Unlocked",
            lease_state: "Available",
            has_immutability_policy: false,
            has_legal_hold: false,
            deleted: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_files_are_typed_by_name() {
        assert_eq!(content_type("vmconfig.json"), "application/json");
        assert_eq!(content_type("domain.xml"), "application/xml");
        assert_eq!(content_type("disk.raw"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn listings_hide_records_temporaries_and_links() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".rsvault-account.json"), b"{}").unwrap();
        std::fs::write(d.path().join("a.raw"), b"x").unwrap();
        std::fs::write(d.path().join("b.raw.rsvault-restore"), b"x").unwrap();
        std::fs::create_dir(d.path().join("vm-1")).unwrap();
        std::os::unix::fs::symlink("/", d.path().join("escape")).unwrap();
        let names: Vec<String> = listed_entries(d.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a.raw", "vm-1"]);
    }
}

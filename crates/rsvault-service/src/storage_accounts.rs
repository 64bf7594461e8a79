//! Storage accounts (`Microsoft.Storage/storageAccounts`), the targets of
//! `RestoreDisks` restores. An account is a folder under the restore root
//! (`<restore_root>/<name>/`) that holds the restored images; its ARM record
//! (location, SKU, kind, tags, resource group, creation time) is a small
//! JSON file inside that folder, written atomically (a temporary file
//! renamed over it) and readable by the owner only. As in Azure, names are
//! global (one account of a name, whatever the subscription) and are 3 to
//! 24 lower-case letters and digits; a restore that names an account that
//! does not exist yet creates it, as restores always did.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::ResourceRef;
use rsvault_arm::storage::{CheckNameRequest, StorageAccountResource, account_kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The ARM resource type of an account.
pub const ACCOUNT_TYPE: &str = "Microsoft.Storage/storageAccounts";

/// The name of the record file inside an account's folder.
pub const RECORD_FILE: &str = ".rsvault-account.json";

/// The SKUs an account may have.
pub const SKUS: [&str; 8] = [
    "Standard_LRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_ZRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
    "Premium_LRS",
    "Premium_ZRS",
];

/// The kinds an account may be.
pub const KINDS: [&str; 5] = [
    "StorageV2",
    "Storage",
    "BlobStorage",
    "BlockBlobStorage",
    "FileStorage",
];

/// Creations and deletions of accounts, one at a time (names are global).
static CHANGES: Mutex<()> = Mutex::new(());

/// An account's record, as kept in its folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRecord {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub sku: String,
    pub kind: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// RFC 3339.
    pub creation_time: String,
}

/// A storage account as ARM returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageAccount {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: &'static str,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub sku: Sku,
    pub kind: String,
    pub properties: AccountProperties,
}

/// An account's SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sku {
    pub name: String,
    pub tier: &'static str,
}

/// An account's properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProperties {
    pub provisioning_state: &'static str,
    pub creation_time: String,
    pub primary_location: String,
    pub status_of_primary: &'static str,
    /// The folder of the account's restored images, as a `file://` URI.
    pub primary_endpoints: Endpoints,
    pub supports_https_traffic_only: bool,
}

/// Where an account's data is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    pub blob: String,
}

/// The answer of a name check (`checkNameAvailability`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NameAvailability {
    pub name_available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a name cannot be an account's, by Azure's rule (3–24 characters,
/// lower-case letters and digits only); `None` when it can.
pub fn name_problem(name: &str) -> Option<String> {
    let ok = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (!ok).then(|| {
        let shown: String = name.chars().take(100).collect();
        format!(
            "{} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
            shown.escape_debug()
        )
    })
}

/// Whether a name is safe to use as a folder name under the restore root:
/// letters and digits only (restores have always taken upper case too).
fn is_folder_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 63 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn not_found(r: &ResourceRef) -> ServiceError {
    ServiceError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{ACCOUNT_TYPE}/{}' under resource group '{}' was not found.",
            r.name, r.resource_group
        ),
    )
}

fn io(what: impl std::fmt::Display, path: &Path, e: &std::io::Error) -> ServiceError {
    ServiceError::io(format_args!("{what} {}", path.display()), e)
}

impl AccountRecord {
    /// The account's ARM id.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{ACCOUNT_TYPE}/{}",
            self.subscription, self.resource_group, self.name
        )
    }

    /// Whether the record is the account `r` names (case-insensitive).
    fn is(&self, r: &ResourceRef) -> bool {
        self.subscription.eq_ignore_ascii_case(&r.subscription)
            && self.resource_group.eq_ignore_ascii_case(&r.resource_group)
            && self.name.eq_ignore_ascii_case(&r.name)
    }

    /// The account as ARM returns it; `dir` is its folder.
    fn to_account(&self, dir: &Path) -> StorageAccount {
        let tier = if self.sku.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        StorageAccount {
            id: self.id(),
            name: self.name.clone(),
            resource_type: ACCOUNT_TYPE,
            location: self.location.clone(),
            tags: self.tags.clone(),
            sku: Sku {
                name: self.sku.clone(),
                tier,
            },
            kind: self.kind.clone(),
            properties: AccountProperties {
                provisioning_state: "Succeeded",
                creation_time: self.creation_time.clone(),
                primary_location: self.location.clone(),
                status_of_primary: "available",
                primary_endpoints: Endpoints {
                    blob: format!("file://{}/", dir.display()),
                },
                supports_https_traffic_only: true,
            },
        }
    }
}

/// Reads an account folder's record; `None` when the folder has none.
fn read_record(dir: &Path) -> Result<Option<AccountRecord>> {
    let path = dir.join(RECORD_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            ServiceError::Internal(format!("storage account record {}: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", &path, &e)),
    }
}

/// Writes an account folder's record atomically (0600).
fn write_record(dir: &Path, rec: &AccountRecord) -> Result<()> {
    let path = dir.join(RECORD_FILE);
    let tmp = dir.join(format!(
        "{RECORD_FILE}.{}.tmp",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let data = serde_json::to_vec_pretty(rec)
        .map_err(|e| ServiceError::Internal(format!("storage account record: {e}")))?;
    crate::images::write_private(&tmp, &data)?;
    let synced = std::fs::File::open(&tmp).and_then(|f| f.sync_all());
    let renamed = synced.and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", &path, &e));
    }
    Ok(())
}

/// A text field, unless it is blank.
fn text(field: Option<&str>) -> Option<&str> {
    field.filter(|s| !s.trim().is_empty())
}

/// The tags of a body (`tags`: an object of strings).
fn tags_of(body: &StorageAccountResource) -> Result<Option<BTreeMap<String, String>>> {
    body.tags
        .as_ref()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ServiceError::bad_request(
                        "InvalidTagValue",
                        format!("tags.{k}: a tag's value is a string"),
                    )),
                })
                .collect::<Result<_>>()
        })
        .transpose()
}

/// The SKU and kind of a body, checked.
fn sku_and_kind(body: &StorageAccountResource) -> Result<(String, String)> {
    let sku = body.sku.as_ref().map(|s| s.name.as_str()).ok_or_else(|| {
        ServiceError::bad_request(
            "MissingRequiredProperty",
            "sku.name: the storage account's SKU (for example Standard_LRS) is required",
        )
    })?;
    let sku = SKUS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(sku))
        .ok_or_else(|| {
            ServiceError::bad_request(
                "InvalidRequestPropertyValue",
                format!(
                    "sku.name: '{}' is not one of {}",
                    sku.escape_debug(),
                    SKUS.join(", ")
                ),
            )
        })?;
    let kind = text(account_kind(body)).unwrap_or("StorageV2");
    let kind = KINDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .ok_or_else(|| {
            ServiceError::bad_request(
                "InvalidRequestPropertyValue",
                format!(
                    "kind: '{}' is not one of {}",
                    kind.escape_debug(),
                    KINDS.join(", ")
                ),
            )
        })?;
    Ok(((*sku).to_owned(), (*kind).to_owned()))
}

impl Service {
    /// The folder of the account named `name` (matched case-insensitively),
    /// if there is one; a symbolic link is never an account's folder.
    fn account_dir(&self, name: &str) -> Result<Option<PathBuf>> {
        if !is_folder_name(name) {
            return Ok(None);
        }
        let root = self.restore_root();
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", root, &e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io("read", root, &e))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir
                && entry
                    .file_name()
                    .to_string_lossy()
                    .eq_ignore_ascii_case(name)
            {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    }

    /// The record and folder of the account named `name`, if it has one.
    fn account_record(&self, name: &str) -> Result<Option<(AccountRecord, PathBuf)>> {
        let Some(dir) = self.account_dir(name)? else {
            return Ok(None);
        };
        Ok(read_record(&dir)?.map(|r| (r, dir)))
    }

    /// Creates or updates a storage account; returns it and whether it is new.
    pub fn put_storage_account(
        &self,
        r: &ResourceRef,
        body: &StorageAccountResource,
    ) -> Result<(StorageAccount, bool)> {
        if let Some(p) = name_problem(&r.name) {
            return Err(ServiceError::bad_request("AccountNameInvalid", p));
        }
        crate::names::check_resource_group_name(&r.resource_group)?;
        let location = text(body.location.as_deref()).ok_or_else(|| {
            ServiceError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
        crate::names::check_location(location, ACCOUNT_TYPE)?;
        let location: String = location.replace(' ', "").to_ascii_lowercase();
        let (sku, kind) = sku_and_kind(body)?;
        let tags = tags_of(body)?;
        let _one = CHANGES.lock().unwrap_or_else(|e| e.into_inner());
        let existing = self.account_record(&r.name)?;
        let (rec, dir, created) = match existing {
            Some((old, _)) if !old.is(r) => {
                return Err(ServiceError::conflict(
                    "StorageAccountAlreadyTaken",
                    format!("The storage account named {} is already taken.", r.name),
                ));
            }
            Some((old, dir)) => {
                if old.location != location {
                    return Err(ServiceError::conflict(
                        "InvalidResourceLocation",
                        format!(
                            "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'.",
                            old.name, old.location, old.resource_group
                        ),
                    ));
                }
                let tags = tags.unwrap_or_else(|| old.tags.clone());
                (
                    AccountRecord {
                        sku,
                        kind,
                        tags,
                        ..old
                    },
                    dir,
                    false,
                )
            }
            None => {
                let dir = match self.account_dir(&r.name)? {
                    Some(d) => d,
                    None => self.restore_root().join(&r.name),
                };
                let rec = AccountRecord {
                    subscription: r.subscription.clone(),
                    resource_group: r.resource_group.clone(),
                    name: r.name.clone(),
                    location,
                    sku,
                    kind,
                    tags: tags.unwrap_or_default(),
                    creation_time: self.now().to_string(),
                };
                (rec, dir, true)
            }
        };
        crate::images::create_private_dir(&dir)?;
        write_record(&dir, &rec)?;
        Ok((rec.to_account(&dir), created))
    }

    /// The storage account `r` names.
    pub fn get_storage_account(&self, r: &ResourceRef) -> Result<StorageAccount> {
        self.storage_account_folder(r).map(|(a, _)| a)
    }

    /// The storage account `r` names and its folder.
    pub(crate) fn storage_account_folder(
        &self,
        r: &ResourceRef,
    ) -> Result<(StorageAccount, PathBuf)> {
        match self.account_record(&r.name)? {
            Some((rec, dir)) if rec.is(r) => Ok((rec.to_account(&dir), dir)),
            _ => Err(not_found(r)),
        }
    }

    /// The storage accounts of a subscription, or of one of its resource
    /// groups, by name.
    pub fn list_storage_accounts(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<StorageAccount>> {
        let root = self.restore_root();
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", root, &e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io("read", root, &e))?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = entry.path();
            let Some(rec) = read_record(&dir)? else {
                continue;
            };
            let in_scope = rec.subscription.eq_ignore_ascii_case(subscription)
                && resource_group.is_none_or(|g| rec.resource_group.eq_ignore_ascii_case(g));
            if in_scope {
                out.push(rec.to_account(&dir));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes a storage account and the restored images in it, as Azure
    /// does; `false` when there was no such account. Symbolic links inside
    /// the folder are removed, never followed.
    pub fn delete_storage_account(&self, r: &ResourceRef) -> Result<bool> {
        let _one = CHANGES.lock().unwrap_or_else(|e| e.into_inner());
        match self.account_record(&r.name)? {
            Some((rec, dir)) if rec.is(r) => {
                // Only the record goes first: a deletion cut short leaves a
                // folder of data no account claims, never a half-listed one.
                let record = dir.join(RECORD_FILE);
                std::fs::remove_file(&record).map_err(|e| io("remove", &record, &e))?;
                std::fs::remove_dir_all(&dir).map_err(|e| io("remove", &dir, &e))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether `name` can be a new account's name (`checkNameAvailability`).
    pub fn check_storage_account_name(&self, body: &CheckNameRequest) -> Result<NameAvailability> {
        let name = body.name.as_deref().ok_or_else(|| {
            ServiceError::bad_request(
                "MissingRequiredProperty",
                "name: the storage account name to check is required",
            )
        })?;
        if let Some(t) = body.kind.as_deref()
            && !t.eq_ignore_ascii_case(ACCOUNT_TYPE)
        {
            return Err(ServiceError::bad_request(
                "InvalidRequestPropertyValue",
                format!("type: '{}' is not {ACCOUNT_TYPE}", t.escape_debug()),
            ));
        }
        if let Some(p) = name_problem(name) {
            return Ok(NameAvailability {
                name_available: false,
                reason: Some("AccountNameInvalid"),
                message: Some(p),
            });
        }
        Ok(match self.account_record(name)? {
            Some(_) => NameAvailability {
                name_available: false,
                reason: Some("AlreadyExists"),
                message: Some(format!(
                    "The storage account named {name} is already taken."
                )),
            },
            None => NameAvailability {
                name_available: true,
                reason: None,
                message: None,
            },
        })
    }

    /// The folder a `RestoreDisks` restore into account `name` writes
    /// under, and the record to keep if the account does not exist yet
    /// (`storage_account_id` names its subscription and resource group;
    /// the vault's stand in when it does not). The record is written by
    /// [`Service::register_restore_account`] once the restore runs.
    pub(crate) fn restore_account(
        &self,
        name: &str,
        storage_account_id: &str,
        vault: &crate::VaultRef,
    ) -> Result<(PathBuf, Option<AccountRecord>)> {
        if let Some(dir) = self.account_dir(name)?
            && read_record(&dir)?.is_some()
        {
            return Ok((dir, None));
        }
        let seg: Vec<&str> = storage_account_id.trim_matches('/').split('/').collect();
        let (subscription, resource_group) = match seg.as_slice() {
            [s, sub, g, rg, ..]
                if s.eq_ignore_ascii_case("subscriptions")
                    && g.eq_ignore_ascii_case("resourceGroups")
                    && crate::names::check_resource_group_name(rg).is_ok() =>
            {
                ((*sub).to_owned(), (*rg).to_owned())
            }
            _ => (vault.subscription.clone(), vault.resource_group.clone()),
        };
        let dir = self
            .account_dir(name)?
            .unwrap_or_else(|| self.restore_root().join(name));
        let rec = AccountRecord {
            subscription,
            resource_group,
            name: name.to_owned(),
            location: self.vault_row(vault)?.location,
            sku: SKUS[0].to_owned(),
            kind: KINDS[0].to_owned(),
            tags: BTreeMap::new(),
            creation_time: self.now().to_string(),
        };
        Ok((dir, Some(rec)))
    }

    /// Keeps the record of an account a restore created (unless another
    /// request made the account meanwhile); `dir` is its folder.
    pub(crate) fn register_restore_account(&self, dir: &Path, rec: &AccountRecord) -> Result<()> {
        let _one = CHANGES.lock().unwrap_or_else(|e| e.into_inner());
        crate::images::create_private_dir(dir)?;
        if read_record(dir)?.is_none() {
            write_record(dir, rec)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn account(rg: &str, name: &str) -> ResourceRef {
        ResourceRef {
            subscription: "sub1".into(),
            resource_group: rg.into(),
            name: name.into(),
        }
    }

    /// A PUT body, as the server reads it (no `properties`: `{}`).
    fn sa(mut v: Value) -> StorageAccountResource {
        v["properties"] = json!({});
        serde_json::from_value(v).unwrap()
    }

    fn body() -> StorageAccountResource {
        sa(
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"a": "b"}}),
        )
    }

    #[test]
    fn names_follow_azure_rule() {
        for ok in ["abc", "restoresa", "a1b2c3", &"a".repeat(24)] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "with-dash",
            "",
            &"a".repeat(25),
            "../x",
            "sa%2F",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn lifecycle_with_a_private_atomic_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::open(dir.path()).unwrap();
        let r = account("RG1", "restoresa");
        let (a, created) = s.put_storage_account(&r, &body()).unwrap();
        assert!(created);
        assert_eq!(
            a.id,
            "/subscriptions/sub1/resourceGroups/RG1/providers/Microsoft.Storage/storageAccounts/restoresa"
        );
        assert_eq!(
            (a.sku.name.as_str(), a.sku.tier),
            ("Standard_LRS", "Standard")
        );
        let folder = s.restore_root().join("restoresa");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join(RECORD_FILE)), 0o600);
        let names: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [RECORD_FILE], "no temporary file is left");
        // Names and groups match case-insensitively.
        assert_eq!(
            s.get_storage_account(&account("rg1", "RESTORESA")).unwrap(),
            a
        );
        let (again, created) = s
            .put_storage_account(
                &account("rg1", "restoresa"),
                &sa(json!({"location": "West Europe", "sku": {"name": "standard_grs"}})),
            )
            .unwrap();
        assert!(!created);
        assert_eq!(
            (again.sku.name.as_str(), again.tags["a"].as_str()),
            ("Standard_GRS", "b")
        );
        let e = s
            .put_storage_account(&account("other", "restoresa"), &body())
            .unwrap_err();
        assert_eq!(e.code(), "StorageAccountAlreadyTaken");
        let e = s
            .put_storage_account(
                &r,
                &sa(json!({"location": "eastus", "sku": {"name": "Standard_LRS"}})),
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidResourceLocation");
        assert_eq!(
            s.put_storage_account(&account("rg1", "Bad-Name"), &body())
                .unwrap_err()
                .code(),
            "AccountNameInvalid"
        );
        assert_eq!(
            s.put_storage_account(
                &account("rg1", "second"),
                &sa(json!({"location": "westeurope"}))
            )
            .unwrap_err()
            .code(),
            "MissingRequiredProperty"
        );
        s.put_storage_account(&account("rg2", "second"), &body())
            .unwrap();
        let names = |g| {
            s.list_storage_accounts("SUB1", g)
                .unwrap()
                .into_iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(None), ["restoresa", "second"]);
        assert_eq!(names(Some("rg2")), ["second"]);
        assert!(s.list_storage_accounts("other", None).unwrap().is_empty());
        assert!(matches!(
            s.get_storage_account(&account("rg2", "restoresa")),
            Err(ServiceError::NotFound { .. })
        ));
    }

    #[test]
    fn name_checks_and_deletion_with_data_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::open(dir.path()).unwrap();
        let check = |n: &str| {
            s.check_storage_account_name(&CheckNameRequest {
                name: Some(n.into()),
                kind: Some(ACCOUNT_TYPE.into()),
            })
            .unwrap()
        };
        assert!(check("fresh").name_available);
        assert_eq!(check("No").reason, Some("AccountNameInvalid"));
        let r = account("rg", "delme");
        s.put_storage_account(&r, &body()).unwrap();
        assert_eq!(check("delme").reason, Some("AlreadyExists"));
        // Restored data and a link out of the root: the data goes, the
        // link's target stays.
        let folder = s.restore_root().join("delme");
        std::fs::create_dir_all(folder.join("vm-1")).unwrap();
        std::fs::write(folder.join("vm-1").join("disk.raw"), b"data").unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("vm-1").join("link")).unwrap();
        assert!(
            !s.delete_storage_account(&account("other", "delme"))
                .unwrap()
        );
        assert!(s.delete_storage_account(&r).unwrap());
        assert!(!folder.exists());
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"keep");
        assert!(!s.delete_storage_account(&r).unwrap());
        assert!(check("delme").name_available);
        // A link in the root is never an account.
        std::os::unix::fs::symlink(&outside, s.restore_root().join("linked")).unwrap();
        std::fs::write(
            outside.join(RECORD_FILE),
            serde_json::to_vec(&json!({})).unwrap(),
        )
        .unwrap();
        assert!(s.list_storage_accounts("sub1", None).unwrap().is_empty());
        assert!(!s.delete_storage_account(&account("rg", "linked")).unwrap());
        assert!(outside.join("keep").exists());
    }
}

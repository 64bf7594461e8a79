//! Where disk images may live. The API names images by `file://` URI, so
//! without a limit any client could have the server read (and a restore
//! overwrite) any file it can reach. Images must lie under the configured
//! roots (`[inventory] image_roots`, by default `<data-dir>/images`); the
//! server's own folder of restored managed disks is always allowed.

use crate::Service;
use crate::error::{Result, ServiceError};
use rsvault_arm::inventory::{self as arm, ManagedDisk, VirtualMachine};
use rsvault_engine::source::{DiskSource, ImageRoots};
use std::path::{Path, PathBuf};

/// The default root, under the data directory.
pub const DEFAULT_ROOT: &str = "images";

/// Where `AlternateLocation` restores write managed disks (under the data
/// directory).
pub const MANAGED_DISKS: &str = "managedDisks";

/// The error code of an image path outside the roots.
pub const PATH_NOT_ALLOWED: &str = "ImagePathNotAllowed";

/// Creates a folder (and its parents) readable by the owner only (0700).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ServiceError::io(format_args!("create {}", dir.display()), &e))
}

/// Writes a new file readable by the owner only (0600).
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| ServiceError::io(format_args!("write {}", path.display()), &e))
}

/// Creates `path` (0600) holding `data`, whole or not at all: written to a
/// temporary file, synced, then linked into place, which fails if `path`
/// exists (another writer was first).
pub fn write_private_new(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
    let r = write_private(&tmp, data)
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| ServiceError::io(format_args!("sync {}", tmp.display()), &e))
        })
        .and_then(|()| {
            std::fs::hard_link(&tmp, path)
                .map_err(|e| ServiceError::io(format_args!("create {}", path.display()), &e))
        });
    let _ = std::fs::remove_file(&tmp);
    r
}

impl Service {
    /// Sets the folders disk images may be named under (absolute paths).
    pub fn set_image_roots(&self, roots: Vec<PathBuf>) {
        *self.image_roots.write().expect("lock") = roots;
    }

    /// The roots in force: the configured ones and the folder of restored
    /// managed disks.
    pub fn image_roots(&self) -> ImageRoots {
        let mut roots = self.image_roots.read().expect("lock").clone();
        roots.push(self.data_dir().join(MANAGED_DISKS));
        ImageRoots::new(roots)
    }

    /// Opens a disk image confined to the roots; returns its canonical path.
    /// A path outside them is a 400 `ImagePathNotAllowed` naming `field`.
    pub(crate) fn open_confined(
        &self,
        path: &Path,
        field: &str,
        host_files: &[PathBuf],
    ) -> Result<(PathBuf, Box<dyn DiskSource>)> {
        let roots = self.image_roots().with_files(host_files.iter().cloned());
        rsvault_engine::source::open_image_within(path, &roots).map_err(|e| {
            if matches!(e, rsvault_engine::Error::PathNotAllowed { .. }) {
                ServiceError::bad_request(
                    PATH_NOT_ALLOWED,
                    format!("{field}: {e}. Put the image under one of these folders, or add its folder to [inventory] image_roots in the server's configuration."),
                )
            } else {
                ServiceError::bad_request("InvalidParameter", format!("{field}: {e}"))
            }
        })
    }
}

/// The error code of a change to a protected disk's image.
pub const PATH_CHANGE: &str = "PropertyChangeNotAllowed";

/// The canonical path of a `file://` URI, or the path as written when it
/// does not resolve (no file is opened).
fn uri_canonical(uri: &str) -> Option<PathBuf> {
    let p = PathBuf::from(uri.strip_prefix("file://")?);
    Some(std::fs::canonicalize(&p).unwrap_or(p))
}

/// The disk entries of a VM body by LUN (`None`: the OS disk).
fn profile_disks(body: &VirtualMachine) -> Vec<(Option<i64>, &arm::VmDisk)> {
    let Some(sp) = &body.properties.storage_profile else {
        return Vec::new();
    };
    let mut out: Vec<_> = sp.os_disk.iter().map(|d| (None, d)).collect();
    for d in sp.data_disks.iter().flatten() {
        out.push((d.lun.map(i64::from), d));
    }
    out
}

/// `properties.creationData.sourceUri` of a managed disk.
fn source_uri(d: &ManagedDisk) -> Option<&str> {
    d.properties.creation_data.as_ref()?.source_uri.as_deref()
}

fn path_change(what: &str, old: &Path, new: &Path) -> ServiceError {
    ServiceError::conflict(
        PATH_CHANGE,
        format!(
            "Changing the image of {what} from {} to {} is not allowed while its VM is protected: attach the new image as a new disk (another LUN), or stop protection first.",
            old.display(),
            new.display()
        ),
    )
}

impl Service {
    /// Whether a VM has a protected item (in any state: its recovery points
    /// name its disks' images).
    pub(crate) fn vm_is_protected(
        &self,
        provider: &str,
        r: &crate::inventory::ResourceRef,
    ) -> Result<bool> {
        let provider = crate::inventory::VmProvider::from_key(provider);
        Ok(self.meta.item_for_vm(provider, r)?.is_some())
    }

    /// The canonical image path of a storage-profile disk entry, as stored.
    fn entry_path(&self, d: &arm::VmDisk) -> Option<PathBuf> {
        if let Some(uri) = d.vhd.as_ref().and_then(|v| v.uri.as_deref()) {
            return uri_canonical(uri);
        }
        let id = d.managed_disk.as_ref()?.id.as_deref()?;
        let body = self.managed_disk_body(id)?;
        uri_canonical(source_uri(&body)?)
    }

    /// Refuses a VM update that points a disk of a protected VM (same LUN)
    /// at another image.
    pub(crate) fn check_disk_paths(
        &self,
        provider: &str,
        r: &crate::inventory::ResourceRef,
        old_body: &VirtualMachine,
        new: &[crate::inventory::VmDisk],
    ) -> Result<()> {
        if !self.vm_is_protected(provider, r)? {
            return Ok(());
        }
        for (lun, entry) in profile_disks(old_body) {
            let (Some(old), Some(d)) = (self.entry_path(entry), new.iter().find(|d| d.lun == lun))
            else {
                continue;
            };
            if old != d.path {
                let what = match lun {
                    None => format!("the OS disk of VM '{}'", r.name),
                    Some(l) => format!("data disk LUN {l} of VM '{}'", r.name),
                };
                return Err(path_change(&what, &old, &d.path));
            }
        }
        Ok(())
    }

    /// Refuses pointing a managed disk attached to a protected VM at
    /// another image.
    pub(crate) fn check_managed_source(
        &self,
        disk_id: &str,
        old_body: &ManagedDisk,
        new: &Path,
    ) -> Result<()> {
        let Some(old) = source_uri(old_body).and_then(uri_canonical) else {
            return Ok(());
        };
        if old == new {
            return Ok(());
        }
        let Some((provider, vm)) = self.vm_of_disk(disk_id)? else {
            return Ok(());
        };
        if self.vm_is_protected(provider, &vm)? {
            return Err(path_change(&format!("managed disk {disk_id}"), &old, new));
        }
        Ok(())
    }
}

impl Service {
    /// Opens a VM disk's image for a backup, under the image roots; the
    /// image must still be the file the VM names.
    pub(crate) fn open_disk_for_backup(
        &self,
        d: &crate::inventory::VmDisk,
    ) -> Result<Box<dyn DiskSource>> {
        let roots = self.image_roots().with_files(d.host_files.iter().cloned());
        let (path, src) = rsvault_engine::source::open_image_within(&d.path, &roots)
            .map_err(|e| match e {
                rsvault_engine::Error::PathNotAllowed { .. } => ServiceError::Job {
                    code: format!("UserError{PATH_NOT_ALLOWED}"),
                    message: format!("The image of disk '{}' cannot be read: {e}.", d.name),
                    recommendation: "Move the image under a folder of [inventory] image_roots and update the VM, or add its folder to image_roots.".into(),
                },
                other => other.into(),
            })?;
        if path != d.path {
            return Err(ServiceError::Job {
                code: format!("UserError{PATH_NOT_ALLOWED}"),
                message: format!(
                    "The image of disk '{}' moved from {} to {} since it was checked.",
                    d.name,
                    d.path.display(),
                    path.display()
                ),
                recommendation: "Run Backup now again.".into(),
            });
        }
        Ok(src)
    }
}

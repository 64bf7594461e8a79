//! Restores of a host's VM (a libvirt domain), which its host defines:
//! - `AlternateLocation` defines a new domain from the definition saved
//!   with the point ([`crate::point_disks::PointDisk::config`]): the
//!   target VM's name, a UUID and MAC addresses of its own, each restored
//!   disk a qcow2 image beside the source's OS disk; it is left shut off
//!   and registered as the target VM, linked to the new domain.
//! - `OriginalLocation` asks the hypervisor, when the request comes and
//!   again before the images are replaced, whether the VM runs, and
//!   refuses if it does (or if it cannot tell).
//! - `RestoreDisks` writes the saved definition beside the images.
//!
//! The new images' paths come from the host (the directory of the
//! source's own OS disk) and from the target VM's checked name, never
//! from the caller; an existing file is never replaced.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::hosts::HostConfig;
use crate::inventory::ResourceRef;
use crate::point_disks::PointDisk;
use rsvault_hypervisor::libvirt::xml::{self, RestoredDisk};
use rsvault_hypervisor::{HostVm, PowerState, VmAddress};
use std::path::{Path, PathBuf};

/// Where libvirt keeps images by default: a restored VM whose OS disk was
/// a block device gets its image files here.
const DEFAULT_POOL: &str = "/var/lib/libvirt/images";

/// A new domain's images and definition, placed on its host: where the
/// vault server's own host or an agent's puts a restored VM.
#[derive(Debug, Clone)]
pub(crate) struct NewDomain {
    /// The new domain's (and VM's) name, checked.
    pub name: String,
    /// The directory of the new images.
    pub dir: PathBuf,
    /// The definition saved with the point.
    pub config: String,
    /// Each restored disk's LUN and target device (`vda`).
    pub devices: Vec<(Option<i64>, String)>,
}

/// A new domain, restored from a point of the server's own host's VM.
#[derive(Debug)]
pub(crate) struct HostTarget {
    pub vm: ResourceRef,
    pub host: HostConfig,
    pub domain: NewDomain,
}

fn not_placeable(why: String) -> ServiceError {
    ServiceError::bad_request(
        "BMSUserErrorInvalidInput",
        format!("{why}; restore the disks with RestoreDisks instead."),
    )
}

/// The definition saved with a point (its OS disk's), if the point is of a
/// host's VM.
pub(crate) fn saved_config(disks: &[&PointDisk]) -> Option<String> {
    disks
        .iter()
        .find(|d| d.lun.is_none())
        .and_then(|d| d.config.clone())
}

/// Each disk's target device in the saved definition `config`; refuses a
/// disk it does not name, or a device that is not a plain name.
pub(crate) fn devices_of(config: &str, disks: &[&PointDisk]) -> Result<Vec<(Option<i64>, String)>> {
    let info = xml::parse_domain(config)
        .map_err(|e| ServiceError::Internal(format!("the point's saved definition: {e}")))?;
    if info.disks.is_empty() {
        return Err(not_placeable(
            "the VM's saved definition has no disk".into(),
        ));
    }
    let mut devices = Vec::new();
    for d in disks {
        let recorded = d.image.as_ref().or(d.path.as_ref());
        let dev = info
            .disks
            .iter()
            .find(|x| Some(&x.source) == recorded)
            .map(|x| x.target.clone())
            .ok_or_else(|| {
                not_placeable(format!(
                    "the {} is not in the VM's saved definition",
                    d.label()
                ))
            })?;
        if !dev.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(not_placeable(format!(
                "the disk's device '{dev}' is not a plain name"
            )));
        }
        devices.push((d.lun, dev));
    }
    Ok(devices)
}

impl NewDomain {
    /// Places a new domain named `name` (checked by the caller) on this
    /// machine: its images go beside the source's OS disk (or in libvirt's
    /// default pool when that was a block device or is gone), and none of
    /// them may exist yet.
    pub fn place(name: &str, config: String, disks: &[&PointDisk]) -> Result<NewDomain> {
        let devices = devices_of(&config, disks)?;
        let info = xml::parse_domain(&config)
            .map_err(|e| ServiceError::Internal(format!("the point's saved definition: {e}")))?;
        let os = info
            .disks
            .first()
            .ok_or_else(|| not_placeable("the VM's saved definition has no disk".into()))?;
        let dir = match os.source.parent() {
            Some(p) if !os.block && p.is_dir() => p.to_path_buf(),
            _ => PathBuf::from(DEFAULT_POOL),
        };
        if !dir.is_dir() {
            return Err(not_placeable(format!(
                "there is no directory {} on the host for the new images",
                dir.display()
            )));
        }
        let d = NewDomain {
            name: name.to_owned(),
            dir,
            config,
            devices,
        };
        for (lun, _) in &d.devices {
            let img = d.image(*lun);
            if img.symlink_metadata().is_ok() {
                return Err(ServiceError::conflict(
                    "UserErrorVmAlreadyExists",
                    format!(
                        "{} already exists on the host; choose another name for the VM.",
                        img.display()
                    ),
                ));
            }
        }
        Ok(d)
    }

    /// The image a restored disk is written to.
    pub fn image(&self, lun: Option<i64>) -> PathBuf {
        let dev = self
            .devices
            .iter()
            .find(|(l, _)| *l == lun)
            .map_or("disk", |(_, d)| d.as_str());
        self.dir.join(format!("{}-{dev}.qcow2", self.name))
    }

    /// The new domain's definition on the published `images` (image and
    /// LUN).
    pub fn definition(&self, images: &[(PathBuf, Option<i64>)]) -> Result<String> {
        let restored: Vec<RestoredDisk<'_>> = images
            .iter()
            .filter_map(|(img, lun)| {
                let dev = self.devices.iter().find(|(l, _)| l == lun)?;
                Some(RestoredDisk {
                    target: &dev.1,
                    image: img,
                })
            })
            .collect();
        xml::restored_domain(&self.config, &self.name, &restored)
            .map_err(|e| ServiceError::Internal(format!("the point's saved definition: {e}")))
    }
}

/// Refuses a new domain's name that `host` already has.
pub(crate) fn check_name_free(host: &dyn rsvault_hypervisor::Discovery, name: &str) -> Result<()> {
    let taken = host.has_name(name).map_err(|e| {
        not_placeable(format!(
            "the hypervisor host {} does not answer: {e}",
            host.uri()
        ))
    })?;
    if taken {
        return Err(ServiceError::conflict(
            "UserErrorVmAlreadyExists",
            format!(
                "The host {} already has a VM named '{name}'; choose another name.",
                host.uri()
            ),
        ));
    }
    Ok(())
}

impl Service {
    /// The `AlternateLocation` target of a point of a host's VM (`source`
    /// is where the VM was reached); `None` when the point is not of one.
    pub(crate) fn host_alternate(
        &self,
        source: Option<&VmAddress>,
        disks: &[&PointDisk],
        vm: &ResourceRef,
    ) -> Result<Option<HostTarget>> {
        let Some(config) = saved_config(disks) else {
            return Ok(None);
        };
        let host = source.and_then(|a| self.host_of(a)).ok_or_else(|| {
            not_placeable(
                "the hypervisor host that ran the VM is not one of this server's hosts".into(),
            )
        })?;
        let domain = NewDomain::place(&vm.name, config, disks)?;
        check_name_free(host.discovery.as_ref(), &vm.name)?;
        Ok(Some(HostTarget {
            vm: vm.clone(),
            host,
            domain,
        }))
    }

    /// Defines the restored domain on the published images and registers
    /// it; on failure the images are the caller's to remove.
    pub(crate) fn define_restored(
        &self,
        t: &HostTarget,
        images: &[(PathBuf, Option<i64>, String)],
    ) -> Result<HostVm> {
        let images: Vec<(PathBuf, Option<i64>)> =
            images.iter().map(|(i, l, _)| (i.clone(), *l)).collect();
        let config = t.domain.definition(&images)?;
        self.define_host_vm(&t.host, &t.vm, &config)
    }

    /// Refuses to replace the disks of a VM its hypervisor runs (or of one
    /// whose state it cannot tell).
    pub(crate) fn refuse_running(&self, link: Option<&VmAddress>, vm: &str) -> Result<()> {
        let Some(link) = link else {
            return Ok(());
        };
        let why = match self.hypervisor.power_state(link) {
            Ok(PowerState::Stopped) => return Ok(()),
            Ok(_) => "it is running".to_owned(),
            Err(e) => format!("its hypervisor cannot tell whether it runs ({e})"),
        };
        Err(ServiceError::bad_request(
            "UserErrorVmNotShutDown",
            format!(
                "VM '{vm}' must be stopped before its disks are replaced, and {why}; power it off and retry."
            ),
        ))
    }
}

/// Publishes a complete image at `out` without replacing anything there.
pub(crate) fn publish_new(tmp: &Path, out: &Path) -> Result<()> {
    std::fs::hard_link(tmp, out).map_err(|e| {
        ServiceError::Internal(format!(
            "publish {} as {}: {e}",
            tmp.display(),
            out.display()
        ))
    })?;
    let _ = std::fs::remove_file(tmp);
    Ok(())
}

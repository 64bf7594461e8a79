//! The inventory: virtual machines (`Microsoft.Compute/virtualMachines`,
//! and classic `Microsoft.ClassicCompute/virtualMachines`) and managed
//! disks (`Microsoft.Compute/disks`), whose data lives in image files on
//! this host. A disk is unmanaged (`vhd.uri` = `file:///absolute/path`) or
//! managed (`managedDisk.id` of a disk resource imported from a file).
//! Every image is opened with the engine's format probe when it is
//! registered, so a VM that cannot be backed up is refused up front.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::records::{DiskRecord, NewDisk, NewVm, VmRecord};
use rsvault_arm::inventory::{
    self as arm, CreationData, DiskProperties, InstanceView, InstanceViewStatus, ManagedDisk,
    VirtualMachine,
};
use rsvault_arm::{Resource, Sku};
use rsvault_hypervisor::{Hypervisor, PowerState, VmAddress};
use std::path::PathBuf;

/// Checks a VM name as Azure does: 1–64 letters, digits, `-`, `_` or `.`,
/// not starting with `_` nor ending with `.` or `-`.
pub fn check_vm_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('_')
        && !name.ends_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "InvalidParameter",
            format!(
                "The VM name '{name}' is invalid: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '_' nor ending with '.' or '-'."
            ),
        ))
    }
}

/// Names a resource in a resource group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// Which kind of virtual machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmProvider {
    /// `Microsoft.Compute/virtualMachines` (Resource Manager).
    Compute,
    /// `Microsoft.ClassicCompute/virtualMachines` (classic).
    ClassicCompute,
}

impl VmProvider {
    /// The resource provider namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            VmProvider::Compute => "Microsoft.Compute",
            VmProvider::ClassicCompute => "Microsoft.ClassicCompute",
        }
    }

    /// Every provider.
    pub(crate) const ALL: [VmProvider; 2] = [VmProvider::Compute, VmProvider::ClassicCompute];

    /// The kind in the names of its VMs' protection containers
    /// (`IaasVMContainer;<kind>;<group>;<vm>`).
    pub(crate) fn container_kind(self) -> &'static str {
        match self {
            VmProvider::Compute => "iaasvmcontainerv2",
            VmProvider::ClassicCompute => "iaasvmcontainer",
        }
    }

    /// The provider's key in the metadata database.
    pub(crate) fn key(self) -> &'static str {
        match self {
            VmProvider::Compute => "compute",
            VmProvider::ClassicCompute => "classiccompute",
        }
    }
}

impl VmProvider {
    /// The provider stored under a database key.
    pub(crate) fn from_key(key: &str) -> Self {
        if key == VmProvider::ClassicCompute.key() {
            VmProvider::ClassicCompute
        } else {
            VmProvider::Compute
        }
    }
}

/// Power states a VM can be put in.
pub const POWER_STATES: [&str; 3] = ["running", "stopped", "deallocated"];

impl ResourceRef {
    fn id(&self, ty: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{ty}/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_request("InvalidParameter", format!("{field}: {msg}"))
}

/// The path a `file://` URI names.
fn uri_path(uri: &str, field: &str) -> Result<PathBuf> {
    uri.strip_prefix("file://")
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| {
            invalid(
                field,
                format!("'{uri}' must be a file:///absolute/path URI of a disk image on this host"),
            )
        })
}

/// The body's `location`, one of Azure's regions.
fn location_of(location: Option<&str>, resource_type: &str) -> Result<String> {
    let l = location.filter(|l| !l.trim().is_empty()).ok_or_else(|| {
        ServiceError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        )
    })?;
    crate::names::check_location(l, resource_type)?;
    Ok(l.to_owned())
}

/// One disk of a VM, resolved to its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDisk {
    /// `None` for the OS disk.
    pub lun: Option<i64>,
    pub name: String,
    pub path: PathBuf,
    pub format: String,
    pub size: u64,
    /// The managed disk's id, if managed.
    pub managed_id: Option<String>,
    /// Files the VM's host named (a discovered VM's images and backing
    /// chains), which may be read outside the image roots.
    pub host_files: Vec<PathBuf>,
}

/// Reads and checks where the VM's hypervisor is reached (an rsvault
/// extension of the VM resource), if it names one.
fn address_of(body: &VirtualMachine) -> Result<Option<VmAddress>> {
    let body = serde_json::to_value(body).map_err(|e| ServiceError::Internal(e.to_string()))?;
    VmAddress::from_vm_body(&body).map_err(|e| invalid(&e.field, e.message))
}

/// A stored body as JSON text.
fn stored_text<T: serde::Serialize>(body: &T) -> Result<String> {
    serde_json::to_string(body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The managed disk ids a VM's storage profile names.
fn managed_ids(vm: &VirtualMachine) -> impl Iterator<Item = &str> {
    let sp = vm.properties.storage_profile.as_ref();
    let os = sp.and_then(|s| s.os_disk.as_ref());
    let data = sp.and_then(|s| s.data_disks.as_ref()).into_iter().flatten();
    os.into_iter()
        .chain(data)
        .filter_map(|d| d.managed_disk.as_ref()?.id.as_deref())
}

/// One status of an instance view.
fn status(code: String, display: String) -> InstanceViewStatus {
    InstanceViewStatus {
        code: Some(code),
        level: Some("Info".into()),
        display_status: Some(display),
        ..Default::default()
    }
}

/// The power state of a VM a hypervisor runs: asks it, briefly. A VM
/// nothing runs for is off; a hypervisor that is busy (a backup holds it)
/// gives no answer, and the stored state stands.
fn live_power(hv: &dyn Hypervisor, vm: &VmAddress) -> Option<&'static str> {
    match hv.power_state(vm) {
        Ok(PowerState::Stopped) => Some("stopped"),
        Ok(PowerState::Running | PowerState::Paused) => Some("running"),
        Err(_) => None,
    }
}

/// Parses `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/name`.
fn parse_disk_id(id: &str) -> Option<ResourceRef> {
    let seg: Vec<&str> = id.trim_matches('/').split('/').collect();
    match seg.as_slice() {
        [s, sub, r, rg, p, ns, d, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Compute")
                && d.eq_ignore_ascii_case("disks") =>
        {
            Some(ResourceRef {
                subscription: sub.to_string(),
                resource_group: rg.to_string(),
                name: name.to_string(),
            })
        }
        _ => None,
    }
}

impl Service {
    /// Opens an image named by a `file://` URI under the image roots;
    /// returns its canonical path, format and size.
    fn probe_uri(
        &self,
        uri: &str,
        field: &str,
        host_files: &[PathBuf],
    ) -> Result<(PathBuf, String, u64)> {
        let (path, src) = self.open_confined(&uri_path(uri, field)?, field, host_files)?;
        Ok((path, src.format().to_owned(), src.size()))
    }

    // ----- managed disks -----

    fn disk_row(&self, r: &ResourceRef) -> Result<Option<(i64, String, String, ManagedDisk)>> {
        Ok(self.meta.find_disk(r)?.map(|d: DiskRecord| {
            (
                d.id,
                d.disk.name,
                d.location,
                serde_json::from_str(&d.body).unwrap_or_default(),
            )
        }))
    }

    fn disk_view(
        &self,
        r: &ResourceRef,
        name: &str,
        location: &str,
        body: &ManagedDisk,
    ) -> Result<ManagedDisk> {
        let canon = ResourceRef {
            name: name.to_owned(),
            ..r.clone()
        };
        let id = canon.id("Microsoft.Compute/disks");
        let attached = self.vm_using_disk(&id)?;
        let mut props = body.properties.clone();
        props.provisioning_state = Some("Succeeded".into());
        props.disk_state = Some(
            if attached.is_some() {
                "Attached"
            } else {
                "Unattached"
            }
            .into(),
        );
        if let Some(vm) = attached {
            props.managed_by = Some(vm);
        }
        Ok(Resource {
            id: Some(id),
            name: Some(name.to_owned()),
            kind: Some("Microsoft.Compute/disks".into()),
            location: Some(location.to_owned()),
            tags: body.tags.clone(),
            sku: body.sku.clone(),
            ..Resource::with_properties(props)
        })
    }

    /// Creates or updates a managed disk imported from an image file
    /// (`properties.creationData.sourceUri`).
    pub fn put_disk(&self, r: &ResourceRef, body: &ManagedDisk) -> Result<(ManagedDisk, bool)> {
        let location = location_of(body.location.as_deref(), "Microsoft.Compute/disks")?;
        const SKUS: [&str; 6] = [
            "Standard_LRS",
            "Premium_LRS",
            "StandardSSD_LRS",
            "UltraSSD_LRS",
            "Premium_ZRS",
            "StandardSSD_ZRS",
        ];
        let sku = match body.sku.as_ref().map(|s| s.name.as_str()) {
            None => "Standard_LRS",
            Some(s) => SKUS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s))
                .copied()
                .ok_or_else(|| {
                    invalid(
                        "sku.name",
                        format!("'{s}' is not one of {}", SKUS.join(", ")),
                    )
                })?,
        };
        let cd = body.properties.creation_data.as_ref();
        let uri = cd.and_then(|c| c.source_uri.as_deref()).ok_or_else(|| {
            invalid(
                "properties.creationData.sourceUri",
                "the file:/// URI of the disk image is required",
            )
        })?;
        let (path, format, size) = self.probe_uri(uri, "properties.creationData.sourceUri", &[])?;
        let props = DiskProperties {
            creation_data: Some(CreationData {
                create_option: Some("Import".into()),
                source_uri: Some(uri.to_owned()),
                ..Default::default()
            }),
            disk_size_gb: Some(size.div_ceil(1 << 30)),
            disk_size_bytes: Some(size),
            image_format: Some(format),
            time_created: Some(
                body.properties
                    .time_created
                    .clone()
                    .unwrap_or_else(|| self.now().to_string()),
            ),
            ..body.properties.clone()
        };
        let stored = Resource {
            tags: Some(body.tags.clone().unwrap_or_default()),
            sku: Some(Sku {
                name: sku.to_owned(),
                tier: sku.split('_').next().map(str::to_owned),
                ..Default::default()
            }),
            ..Resource::with_properties(props)
        };
        let existing = self.disk_row(r)?;
        if let Some((_, name, _, old)) = &existing {
            let id = ResourceRef {
                name: name.clone(),
                ..r.clone()
            }
            .id("Microsoft.Compute/disks");
            self.check_managed_source(&id, old, &path)?;
        }
        let (name, created) = match &existing {
            Some((id, name, loc, _)) => {
                if !loc.eq_ignore_ascii_case(&location) {
                    return Err(invalid("location", format!("the disk exists in '{loc}'")));
                }
                self.meta.update_disk_body(*id, &stored_text(&stored)?)?;
                (name.clone(), false)
            }
            None => {
                self.meta.insert_disk(&NewDisk {
                    disk: r.clone(),
                    location: location.clone(),
                    body: stored_text(&stored)?,
                })?;
                (r.name.clone(), true)
            }
        };
        let loc = existing.map(|e| e.2).unwrap_or(location);
        Ok((self.disk_view(r, &name, &loc, &stored)?, created))
    }

    /// Reads a managed disk.
    pub fn get_disk(&self, r: &ResourceRef) -> Result<ManagedDisk> {
        let (_, name, loc, body) = self
            .disk_row(r)?
            .ok_or_else(|| not_found("Microsoft.Compute/disks", r))?;
        self.disk_view(r, &name, &loc, &body)
    }

    /// Lists managed disks.
    pub fn list_disks(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<ManagedDisk>> {
        let rows: Vec<(String, String, String)> = self
            .meta
            .list_disks(subscription, resource_group)?
            .into_iter()
            .map(|d| (d.disk.resource_group, d.disk.name, d.location))
            .collect();
        rows.into_iter()
            .map(|(rg, name, _)| {
                self.get_disk(&ResourceRef {
                    subscription: subscription.to_owned(),
                    resource_group: rg,
                    name,
                })
            })
            .collect()
    }

    /// Deletes a managed disk that no VM uses.
    pub fn delete_disk(&self, r: &ResourceRef) -> Result<()> {
        let (id, name, _, _) = self
            .disk_row(r)?
            .ok_or_else(|| not_found("Microsoft.Compute/disks", r))?;
        let disk_id = ResourceRef { name, ..r.clone() }.id("Microsoft.Compute/disks");
        if let Some(vm) = self.vm_using_disk(&disk_id)? {
            return Err(ServiceError::conflict(
                "OperationNotAllowed",
                format!(
                    "Disk {} is attached to VM {vm}; detach it or delete the VM first.",
                    r.name
                ),
            ));
        }
        self.meta.delete_disk(id)?;
        Ok(())
    }

    /// The id of the VM that has a managed disk attached, if any.
    fn vm_using_disk(&self, disk_id: &str) -> Result<Option<String>> {
        Ok(self.vm_of_disk(disk_id)?.map(|(prov, r)| {
            let provider = VmProvider::from_key(prov);
            r.id(&format!("{}/virtualMachines", provider.namespace()))
        }))
    }

    /// The VM (its provider key and name) that has a managed disk attached.
    pub(crate) fn vm_of_disk(&self, disk_id: &str) -> Result<Option<(&'static str, ResourceRef)>> {
        let rows: Vec<(String, String, String, String, String)> = self
            .meta
            .all_vms()?
            .into_iter()
            .map(|v| {
                (
                    v.provider.key().to_owned(),
                    v.vm.subscription,
                    v.vm.resource_group,
                    v.vm.name,
                    v.body,
                )
            })
            .collect();
        for (prov, sub, rg, name, body) in rows {
            let b: VirtualMachine = serde_json::from_str(&body).unwrap_or_default();
            if managed_ids(&b).any(|i| i.eq_ignore_ascii_case(disk_id)) {
                let r = ResourceRef {
                    subscription: sub,
                    resource_group: rg,
                    name,
                };
                return Ok(Some((VmProvider::from_key(&prov).key(), r)));
            }
        }
        Ok(None)
    }

    /// The stored body of the managed disk an id names.
    pub(crate) fn managed_disk_body(&self, disk_id: &str) -> Option<ManagedDisk> {
        let r = parse_disk_id(disk_id)?;
        self.disk_row(&r).ok().flatten().map(|row| row.3)
    }

    // ----- virtual machines -----

    /// Resolves one disk entry of a storage profile.
    fn resolve_disk(
        &self,
        d: &arm::VmDisk,
        field: &str,
        lun: Option<i64>,
        host_files: &[PathBuf],
    ) -> Result<VmDisk> {
        let vhd = d.vhd.as_ref().and_then(|v| v.uri.as_deref());
        let managed = d.managed_disk.as_ref().and_then(|m| m.id.as_deref());
        let name = d.name.clone().unwrap_or_default();
        match (vhd, managed) {
            (Some(uri), None) => {
                let (path, format, size) =
                    self.probe_uri(uri, &format!("{field}.vhd.uri"), host_files)?;
                let name = if name.is_empty() {
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    name
                };
                Ok(VmDisk {
                    lun,
                    name,
                    path,
                    format,
                    size,
                    managed_id: None,
                    host_files: host_files.to_vec(),
                })
            }
            (None, Some(id)) => {
                let r = parse_disk_id(id).ok_or_else(|| {
                    invalid(
                        &format!("{field}.managedDisk.id"),
                        format!("'{id}' is not a Microsoft.Compute/disks id"),
                    )
                })?;
                let (_, dname, _, body) = self.disk_row(&r)?.ok_or_else(|| {
                    invalid(
                        &format!("{field}.managedDisk.id"),
                        format!("disk '{id}' does not exist"),
                    )
                })?;
                let uri = body
                    .properties
                    .creation_data
                    .as_ref()
                    .and_then(|c| c.source_uri.as_deref())
                    .unwrap_or("");
                let (path, format, size) =
                    self.probe_uri(uri, &format!("{field}.managedDisk.id"), &[])?;
                let canon = ResourceRef {
                    name: dname.clone(),
                    ..r
                }
                .id("Microsoft.Compute/disks");
                Ok(VmDisk {
                    lun,
                    name: if name.is_empty() { dname } else { name },
                    path,
                    format,
                    size,
                    managed_id: Some(canon),
                    host_files: Vec::new(),
                })
            }
            _ => Err(invalid(
                field,
                "a disk needs exactly one of vhd.uri (an image file) and managedDisk.id",
            )),
        }
    }

    /// The disks of a VM body, validated.
    fn body_disks(&self, body: &VirtualMachine) -> Result<Vec<VmDisk>> {
        let sp = body.properties.storage_profile.as_ref();
        let os = sp
            .and_then(|s| s.os_disk.as_ref())
            .ok_or_else(|| invalid("properties.storageProfile.osDisk", "an OS disk is required"))?;
        match os.os_type.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("Linux") || t.eq_ignore_ascii_case("Windows") => {}
            _ => {
                return Err(invalid(
                    "properties.storageProfile.osDisk.osType",
                    "must be Linux or Windows",
                ));
            }
        }
        if on_agent_host(body) {
            return Ok(agent_disks(body));
        }
        let address = address_of(body)?;
        let host_files = address.map(|a| self.host_files(&a)).unwrap_or_default();
        let mut disks =
            vec![self.resolve_disk(os, "properties.storageProfile.osDisk", None, &host_files)?];
        if let Some(dd) = sp.and_then(|s| s.data_disks.as_ref()) {
            for (i, d) in dd.iter().enumerate() {
                let field = format!("properties.storageProfile.dataDisks[{i}]");
                let lun = d
                    .lun
                    .map(i64::from)
                    .filter(|l| (0..64).contains(l))
                    .ok_or_else(|| {
                        invalid(&format!("{field}.lun"), "a LUN from 0 to 63 is required")
                    })?;
                if disks.iter().any(|x| x.lun == Some(lun)) {
                    return Err(invalid(
                        &format!("{field}.lun"),
                        format!("LUN {lun} is used twice"),
                    ));
                }
                disks.push(self.resolve_disk(d, &field, Some(lun), &host_files)?);
            }
        }
        Ok(disks)
    }

    fn vm_row(&self, p: VmProvider, r: &ResourceRef) -> Result<Option<VmRow>> {
        Ok(self.meta.find_vm(p, r)?.map(|v: VmRecord| VmRow {
            rowid: v.id,
            name: v.vm.name,
            location: v.location,
            vm_id: v.vm_id,
            power: v.power_state,
            body: serde_json::from_str(&v.body).unwrap_or_default(),
        }))
    }

    fn vm_view(
        &self,
        p: VmProvider,
        r: &ResourceRef,
        row: &VmRow,
        instance_view: bool,
    ) -> VirtualMachine {
        let canon = ResourceRef {
            name: row.name.clone(),
            ..r.clone()
        };
        let ty = format!("{}/virtualMachines", p.namespace());
        let mut props = row.body.properties.clone();
        props.vm_id = Some(row.vm_id.clone());
        props.provisioning_state = Some("Succeeded".into());
        if instance_view {
            // A domain its host no longer defines stays as discovery left it.
            let removed = row
                .body
                .properties
                .libvirt
                .as_ref()
                .is_some_and(|l| l.state.as_deref() == Some(crate::hosts::REMOVED));
            let live = address_of(&row.body)
                .ok()
                .flatten()
                .filter(|_| !removed)
                .and_then(|a| live_power(self.hypervisor.as_ref(), &a));
            let power = live.unwrap_or(&row.power);
            props.instance_view = Some(InstanceView {
                statuses: Some(vec![
                    status(
                        "ProvisioningState/succeeded".into(),
                        "Provisioning succeeded".into(),
                    ),
                    status(format!("PowerState/{power}"), format!("VM {power}")),
                ]),
                ..Default::default()
            });
        }
        Resource {
            id: Some(canon.id(&ty)),
            name: Some(row.name.clone()),
            kind: Some(ty),
            location: Some(row.location.clone()),
            tags: row.body.tags.clone(),
            ..Resource::with_properties(props)
        }
    }

    /// Creates or updates a VM. Its disks must open as images; a managed disk
    /// attaches to one VM only.
    pub fn put_vm(
        &self,
        p: VmProvider,
        r: &ResourceRef,
        body: &VirtualMachine,
    ) -> Result<(VirtualMachine, bool)> {
        check_vm_name(&r.name)?;
        let location = location_of(
            body.location.as_deref(),
            &format!("{}/virtualMachines", p.namespace()),
        )?;
        let existing = self.vm_row(p, r)?;
        let old_link = existing
            .as_ref()
            .and_then(|e| e.body.properties.libvirt.as_ref());
        if let Some(link) = body.properties.libvirt.as_ref() {
            let same =
                old_link.is_some_and(|o| o.uri == link.uri && o.domain_uuid == link.domain_uuid);
            let configured = link.uri.as_deref().is_some_and(|u| self.is_host_uri(u));
            if !same || !configured {
                return Err(invalid(
                    "properties.libvirt",
                    "libvirt domains are discovered from the hosts the server is configured with (rsvault serve --libvirt URI) and cannot be named through the API",
                ));
            }
        }
        let disks = self.body_disks(body)?;
        address_of(body)?;
        let self_id = existing.as_ref().map(|e| {
            ResourceRef {
                name: e.name.clone(),
                ..r.clone()
            }
            .id(&format!("{}/virtualMachines", p.namespace()))
        });
        for d in &disks {
            if let Some(id) = &d.managed_id
                && let Some(other) = self.vm_using_disk(id)?
                && Some(&other) != self_id.as_ref()
            {
                return Err(ServiceError::conflict(
                    "OperationNotAllowed",
                    format!("Disk {id} is already attached to VM {other}."),
                ));
            }
        }
        if let Some(row) = &existing {
            self.check_disk_paths(p.key(), r, &row.body, &disks)?;
        }
        let stored = Resource {
            tags: Some(body.tags.clone().unwrap_or_default()),
            ..Resource::with_properties(body.properties.clone())
        };
        match existing {
            Some(mut row) => {
                if !row.location.eq_ignore_ascii_case(&location) {
                    return Err(invalid(
                        "location",
                        format!("the VM exists in '{}'", row.location),
                    ));
                }
                self.meta
                    .update_vm_body(row.rowid, &stored_text(&stored)?)?;
                row.body = stored;
                Ok((self.vm_view(p, r, &row, false), false))
            }
            None => {
                let row = VmRow {
                    rowid: 0,
                    name: r.name.clone(),
                    location,
                    vm_id: uuid_v4(),
                    power: "running".into(),
                    body: stored,
                };
                self.meta.insert_vm(&NewVm {
                    provider: p,
                    vm: r.clone(),
                    location: row.location.clone(),
                    vm_id: row.vm_id.clone(),
                    power_state: row.power.clone(),
                    body: stored_text(&row.body)?,
                })?;
                Ok((self.vm_view(p, r, &row, false), true))
            }
        }
    }

    /// Reads a VM, with its power state when `instance_view` is set.
    pub fn get_vm(
        &self,
        p: VmProvider,
        r: &ResourceRef,
        instance_view: bool,
    ) -> Result<VirtualMachine> {
        let row = self
            .vm_row(p, r)?
            .ok_or_else(|| not_found(&format!("{}/virtualMachines", p.namespace()), r))?;
        Ok(self.vm_view(p, r, &row, instance_view))
    }

    /// Lists VMs of a subscription or resource group.
    pub fn list_vms(
        &self,
        p: VmProvider,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<VirtualMachine>> {
        let rows: Vec<(String, String)> = self
            .meta
            .list_vms(p, subscription, resource_group)?
            .into_iter()
            .map(|v| (v.vm.resource_group, v.vm.name))
            .collect();
        rows.into_iter()
            .map(|(rg, name)| {
                self.get_vm(
                    p,
                    &ResourceRef {
                        subscription: subscription.to_owned(),
                        resource_group: rg,
                        name,
                    },
                    true,
                )
            })
            .collect()
    }

    /// Deletes a VM (its disks and image files stay).
    pub fn delete_vm(&self, p: VmProvider, r: &ResourceRef) -> Result<()> {
        let row = self
            .vm_row(p, r)?
            .ok_or_else(|| not_found(&format!("{}/virtualMachines", p.namespace()), r))?;
        let id = row.rowid;
        self.meta.delete_vm(id)?;
        Ok(())
    }

    /// Sets a VM's power state (`running`, `stopped` or `deallocated`).
    pub fn set_power(&self, p: VmProvider, r: &ResourceRef, state: &str) -> Result<()> {
        if !POWER_STATES.contains(&state) {
            return Err(invalid(
                "powerState",
                format!("'{state}' is not one of {}", POWER_STATES.join(", ")),
            ));
        }
        let row = self
            .vm_row(p, r)?
            .ok_or_else(|| not_found(&format!("{}/virtualMachines", p.namespace()), r))?;
        let id = row.rowid;
        self.meta.set_vm_power(id, state)?;
        Ok(())
    }

    /// Where the VM's hypervisor is reached, if the VM names one.
    pub fn vm_address(&self, p: VmProvider, r: &ResourceRef) -> Result<Option<VmAddress>> {
        let row = self
            .vm_row(p, r)?
            .ok_or_else(|| not_found(&format!("{}/virtualMachines", p.namespace()), r))?;
        address_of(&row.body)
    }

    /// The disk images of every VM in the inventory (those that resolve).
    pub(crate) fn all_disk_images(&self) -> Result<Vec<PathBuf>> {
        let bodies: Vec<String> = self.meta.all_vms()?.into_iter().map(|v| v.body).collect();
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<VirtualMachine>(b).ok())
            // An agent host's paths are that host's, never this machine's.
            .filter(|b| !on_agent_host(b))
            .filter_map(|b| self.body_disks(&b).ok())
            .flatten()
            .map(|d| d.path)
            .collect())
    }

    /// A VM's disks resolved to their images (the OS disk first).
    pub fn vm_disks(&self, p: VmProvider, r: &ResourceRef) -> Result<Vec<VmDisk>> {
        let row = self
            .vm_row(p, r)?
            .ok_or_else(|| not_found(&format!("{}/virtualMachines", p.namespace()), r))?;
        self.body_disks(&row.body)
    }
}

/// Whether a VM is an agent host's (reached at `rsvault-agent://…`).
fn on_agent_host(body: &VirtualMachine) -> bool {
    matches!(address_of(body), Ok(Some(VmAddress::Libvirt(a)))
        if crate::agents::agent_host_of(&a.uri).is_some())
}

/// The disks of an agent host's VM, as its host reported them: their
/// paths are the host's, which the server never opens (their size and
/// format are the agent's to find).
fn agent_disks(body: &VirtualMachine) -> Vec<VmDisk> {
    let sp = body.properties.storage_profile.as_ref();
    let os = sp.and_then(|s| s.os_disk.as_ref()).map(|d| (None, d));
    let data = sp
        .and_then(|s| s.data_disks.as_ref())
        .into_iter()
        .flatten()
        .map(|d| (d.lun.map(i64::from), d));
    os.into_iter()
        .chain(data)
        .map(|(lun, d)| VmDisk {
            lun,
            name: d.name.clone().unwrap_or_default(),
            path: d
                .vhd
                .as_ref()
                .and_then(|v| v.uri.as_deref())
                .map(|u| PathBuf::from(u.strip_prefix("file://").unwrap_or(u)))
                .unwrap_or_default(),
            format: "host".into(),
            size: 0,
            managed_id: None,
            host_files: Vec::new(),
        })
        .collect()
}

/// A stored VM.
struct VmRow {
    rowid: i64,
    name: String,
    location: String,
    vm_id: String,
    power: String,
    body: VirtualMachine,
}

fn not_found(ty: &str, r: &ResourceRef) -> ServiceError {
    ServiceError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{ty}/{}' under resource group '{}' was not found.",
            r.name, r.resource_group
        ),
    )
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn value<T: serde::Serialize>(t: T) -> Value {
        serde_json::to_value(t).unwrap()
    }

    fn rr(name: &str) -> ResourceRef {
        ResourceRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: name.into(),
        }
    }

    #[test]
    fn vms_and_disks() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::open(dir.path()).unwrap();
        let img = dir.path().join("images/os.raw");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        let uri = format!("file://{}", img.display());
        let (d, created) = s
            .put_disk(&rr("data1"), &typed(json!({"location": "westeurope", "sku": {"name": "premium_lrs"}, "properties": {"creationData": {"sourceUri": uri}}})))
            .unwrap();
        let d = value(d);
        assert!(created);
        assert_eq!(d["sku"]["name"], "Premium_LRS");
        assert_eq!(d["properties"]["diskSizeBytes"], 8 << 20);
        let disk_id = d["id"].as_str().unwrap().to_owned();
        let vm: VirtualMachine = typed(
            json!({"location": "westeurope", "properties": {"storageProfile": {
            "osDisk": {"osType": "Linux", "vhd": {"uri": uri}},
            "dataDisks": [{"lun": 0, "managedDisk": {"id": disk_id.to_lowercase()}}]}}}),
        );
        let (v, _) = s.put_vm(VmProvider::Compute, &rr("vm1"), &vm).unwrap();
        assert_eq!(v.kind.as_deref(), Some("Microsoft.Compute/virtualMachines"));
        assert_eq!(
            s.get_disk(&rr("DATA1"))
                .unwrap()
                .properties
                .disk_state
                .as_deref(),
            Some("Attached")
        );
        // A managed disk attaches to one VM only; an attached disk cannot be deleted.
        assert_eq!(
            s.put_vm(VmProvider::Compute, &rr("vm2"), &vm)
                .unwrap_err()
                .code(),
            "OperationNotAllowed"
        );
        assert_eq!(
            s.delete_disk(&rr("data1")).unwrap_err().code(),
            "OperationNotAllowed"
        );
        let disks = s.vm_disks(VmProvider::Compute, &rr("vm1")).unwrap();
        assert_eq!(
            (disks[0].lun, disks[1].lun, disks[1].format.as_str()),
            (None, Some(0), "raw")
        );
        s.set_power(VmProvider::Compute, &rr("vm1"), "deallocated")
            .unwrap();
        let v = value(s.get_vm(VmProvider::Compute, &rr("vm1"), true).unwrap());
        assert_eq!(
            v["properties"]["instanceView"]["statuses"][1]["code"],
            "PowerState/deallocated"
        );
        assert!(
            s.get_vm(VmProvider::ClassicCompute, &rr("vm1"), false)
                .is_err()
        );
        // Bad inputs name their field.
        for (body, field) in [
            (
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": "http://x"}}}}}),
                "properties.storageProfile.osDisk.vhd.uri",
            ),
            (
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": "file:///nonexistent.raw"}}}}}),
                "properties.storageProfile.osDisk.vhd.uri",
            ),
            (
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"vhd": {"uri": uri}}}}}),
                "properties.storageProfile.osDisk.osType",
            ),
            (
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": uri}}, "dataDisks": [{"vhd": {"uri": uri}}]}}}),
                "properties.storageProfile.dataDisks[0].lun",
            ),
            (
                json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}}}),
                "properties.storageProfile.osDisk",
            ),
        ] {
            let e = s
                .put_vm(VmProvider::Compute, &rr("bad"), &typed(body))
                .unwrap_err();
            assert!(e.to_string().starts_with(field), "{field}: {e}");
        }
        s.delete_vm(VmProvider::Compute, &rr("vm1")).unwrap();
        s.delete_disk(&rr("data1")).unwrap();
        assert!(s.list_disks("s", None).unwrap().is_empty());
    }
}

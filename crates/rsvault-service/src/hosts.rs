//! Hypervisor hosts whose VMs are discovered rather than registered: each
//! configured host ([`HostConfig`], e.g. `rsvault serve --libvirt URI`)
//! lists its VMs through the [`Discovery`] port, and every VM becomes a
//! `Microsoft.Compute/virtualMachines` resource in the host's resource
//! group and region. A VM is keyed by the hypervisor's id (libvirt's
//! domain UUID, which is also its `vmId`), so its ARM id stays when the
//! domain is renamed; one the host no longer defines is marked `Removed`.
//!
//! The disk paths of a discovered VM come from its host, not from a
//! caller: they may be read without lying under the image roots, but only
//! for that VM, and `properties.libvirt` cannot be set through the API.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::{ResourceRef, VmProvider, check_vm_name};
use crate::metastore::records::{NewVm, VmRecord};
use rsvault_arm::Resource;
use rsvault_arm::inventory::{
    HardwareProfile, LibvirtLink, StorageProfile, VirtualHardDisk, VirtualMachine, VmDisk,
    VmProperties,
};
use rsvault_hypervisor::{Discovery, HostVm, PowerState, VmAddress};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// A host, and where its VMs appear.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub discovery: Arc<dyn Discovery>,
    pub subscription: String,
    pub resource_group: String,
    pub location: String,
}

/// The configured hosts and, per discovered VM, the files its host named.
#[derive(Debug, Default)]
pub struct Hosts {
    configs: RwLock<Vec<HostConfig>>,
    files: RwLock<HashMap<VmAddress, Vec<PathBuf>>>,
    /// Agents' hosts, by URI, as their last heartbeat listed them.
    reported: RwLock<HashMap<String, HostConfig>>,
}

/// An agent's host as its last heartbeat listed it. Its VMs are the
/// agent's to back up and define: the server reads none of their files.
#[derive(Debug)]
pub struct Reported {
    uri: String,
    vms: Vec<HostVm>,
}

impl Reported {
    pub fn new(uri: String, vms: Vec<HostVm>) -> Self {
        Reported { uri, vms }
    }
}

impl Discovery for Reported {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn list(&self) -> std::result::Result<Vec<HostVm>, rsvault_hypervisor::HvError> {
        Ok(self.vms.clone())
    }

    fn get(&self, uuid: &str) -> std::result::Result<Option<HostVm>, rsvault_hypervisor::HvError> {
        Ok(self.vms.iter().find(|v| v.uuid == uuid).cloned())
    }

    fn has_name(&self, name: &str) -> std::result::Result<bool, rsvault_hypervisor::HvError> {
        Ok(self.vms.iter().any(|v| v.name == name))
    }

    fn define(&self, _config: &str) -> std::result::Result<HostVm, rsvault_hypervisor::HvError> {
        Err(rsvault_hypervisor::HvError::Protocol(
            "an agent's host does not define VMs for the server: restore the disks with RestoreDisks, then define the VM on the host".into(),
        ))
    }

    fn undefine(&self, _uuid: &str) -> std::result::Result<(), rsvault_hypervisor::HvError> {
        Err(rsvault_hypervisor::HvError::Protocol(
            "an agent's host does not undefine VMs for the server".into(),
        ))
    }
}

/// What one refresh changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// `Present` or `Removed`.
const PRESENT: &str = "Present";
pub(crate) const REMOVED: &str = "Removed";

fn power_text(p: PowerState) -> &'static str {
    match p {
        PowerState::Running | PowerState::Paused => "running",
        PowerState::Stopped => "stopped",
    }
}

fn disk_entry(vm: &HostVm, i: usize) -> VmDisk {
    let d = &vm.disks[i];
    VmDisk {
        lun: if i == 0 {
            None
        } else {
            u32::try_from(i - 1).ok()
        },
        name: Some(format!("{}-{}", vm.name, d.device)),
        os_type: (i == 0).then(|| "Linux".to_owned()),
        create_option: Some("Attach".into()),
        vhd: Some(VirtualHardDisk {
            uri: Some(format!("file://{}", d.path.display())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The VM resource body of a host's VM (tags kept from `old`).
fn body_of(vm: &HostVm, uri: &str, location: &str, old: Option<&VirtualMachine>) -> VirtualMachine {
    let data: Vec<VmDisk> = (1..vm.disks.len()).map(|i| disk_entry(vm, i)).collect();
    let props = VmProperties {
        hardware_profile: Some(HardwareProfile {
            vm_size: Some(format!("libvirt-{}vcpu-{}MiB", vm.vcpus, vm.memory_mib)),
            ..Default::default()
        }),
        storage_profile: Some(StorageProfile {
            os_disk: Some(disk_entry(vm, 0)),
            data_disks: Some(data),
            ..Default::default()
        }),
        libvirt: Some(LibvirtLink {
            uri: Some(uri.to_owned()),
            domain_uuid: Some(vm.uuid.clone()),
            domain_name: Some(vm.name.clone()),
            state: Some(PRESENT.into()),
            vcpus: Some(vm.vcpus),
            memory_mib: Some(vm.memory_mib),
            devices: Some(vm.disks.iter().map(|d| d.device.clone()).collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    Resource {
        location: Some(location.to_owned()),
        tags: Some(old.and_then(|o| o.tags.clone()).unwrap_or_default()),
        ..Resource::with_properties(props)
    }
}

/// The files a host names for its VM: disks and backing chains.
fn files_of(vm: &HostVm) -> Vec<PathBuf> {
    vm.disks
        .iter()
        .flat_map(|d| std::iter::once(d.path.clone()).chain(d.backing.clone()))
        .collect()
}

fn text(body: &VirtualMachine) -> Result<String> {
    serde_json::to_string(body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// A valid, free VM name for a domain.
fn vm_name(domain: &str, uuid: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let clean: String = domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    let clean = clean.trim_start_matches('_').trim_end_matches(['.', '-']);
    let short: String = uuid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let mut candidates = Vec::new();
    if !clean.is_empty() {
        candidates.push(clean.to_owned());
        candidates.push(format!("{clean}-{short}"));
    }
    candidates.push(format!("vm-{short}"));
    candidates
        .into_iter()
        .find(|c| check_vm_name(c).is_ok() && !taken(c))
        .unwrap_or_else(|| {
            let all: String = uuid.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("vm-{all}")
        })
}

impl Service {
    /// Sets the hosts whose VMs are discovered.
    pub fn set_hosts(&self, hosts: Vec<HostConfig>) {
        *self.hosts.configs.write().expect("lock") = hosts;
    }

    /// Whether a libvirt URI is one of the configured hosts'.
    pub(crate) fn is_host_uri(&self, uri: &str) -> bool {
        self.hosts
            .configs
            .read()
            .expect("lock")
            .iter()
            .any(|h| h.discovery.uri() == uri)
    }

    /// The files a host named for its VM (disks and backing chains).
    pub(crate) fn host_files(&self, vm: &VmAddress) -> Vec<PathBuf> {
        self.hosts
            .files
            .read()
            .expect("lock")
            .get(vm)
            .cloned()
            .unwrap_or_default()
    }

    /// The configured host a VM address belongs to (or the agent's host,
    /// as its last heartbeat listed it).
    pub(crate) fn host_of(&self, vm: &VmAddress) -> Option<HostConfig> {
        let VmAddress::Libvirt(a) = vm else {
            return None;
        };
        if crate::agents::agent_host_of(&a.uri).is_some() {
            return self
                .hosts
                .reported
                .read()
                .expect("lock")
                .get(&a.uri)
                .cloned();
        }
        self.hosts
            .configs
            .read()
            .expect("lock")
            .iter()
            .find(|h| h.discovery.uri() == a.uri)
            .cloned()
    }

    /// How many VMs an agent's host listed at its last heartbeat.
    pub(crate) fn reported_vm_count(&self, uri: &str) -> usize {
        self.hosts
            .reported
            .read()
            .expect("lock")
            .get(uri)
            .and_then(|h| h.discovery.list().ok())
            .map_or(0, |v| v.len())
    }

    /// Takes an agent host's listing into the inventory.
    pub(crate) fn refresh_reported(&self, h: HostConfig) -> Result<Refreshed> {
        let r = self.refresh_host(&h, false)?;
        self.hosts
            .reported
            .write()
            .expect("lock")
            .insert(h.discovery.uri().to_owned(), h);
        Ok(r)
    }

    /// The VM as its host describes it now (`None` when it is not a host's
    /// VM or the host does not answer).
    pub(crate) fn host_vm(&self, vm: &VmAddress) -> Option<HostVm> {
        let VmAddress::Libvirt(a) = vm else {
            return None;
        };
        let host = self.host_of(vm)?;
        match host.discovery.get(&a.uuid) {
            Ok(vm) => vm,
            Err(e) => {
                tracing::warn!(host = %a.uri, "cannot describe the VM: {e}");
                None
            }
        }
    }

    /// Defines a VM on `host` from `config` (a host definition without a
    /// UUID) and registers it as VM `vm` of the inventory, linked to the
    /// new domain; if it cannot be registered, the domain is undefined.
    pub(crate) fn define_host_vm(
        &self,
        host: &HostConfig,
        vm: &ResourceRef,
        config: &str,
    ) -> Result<HostVm> {
        let uri = host.discovery.uri();
        let defined = host
            .discovery
            .define(config)
            .map_err(|e| ServiceError::Job {
                code: "UserErrorGuestAgentStatusUnavailable".into(),
                message: format!("The hypervisor host {uri} did not define the restored VM: {e}"),
                recommendation: "Check that libvirtd runs on the host, then restore again.".into(),
            })?;
        if let Err(e) = self.register_restored_vm(uri, &host.location, vm, &defined) {
            if let Err(u) = host.discovery.undefine(&defined.uuid) {
                tracing::warn!(host = %uri, uuid = %defined.uuid, "could not undefine the restored domain: {u}");
            }
            return Err(e);
        }
        self.hosts
            .files
            .write()
            .expect("lock")
            .insert(defined.address.clone(), files_of(&defined));
        Ok(defined)
    }

    /// Registers a domain a restore defined on host `uri` as the target VM
    /// `vm` (tagged as restored); the host's listings then keep it there,
    /// by its UUID.
    pub(crate) fn register_restored_vm(
        &self,
        uri: &str,
        location: &str,
        vm: &ResourceRef,
        defined: &HostVm,
    ) -> Result<()> {
        let mut body = body_of(defined, uri, location, None);
        body.tags = Some(crate::restore::restored_by());
        let t = text(&body)?;
        self.meta.insert_vm(&NewVm {
            provider: VmProvider::Compute,
            vm: vm.clone(),
            location: location.to_owned(),
            vm_id: defined.uuid.clone(),
            power_state: power_text(defined.power).into(),
            body: t,
        })?;
        Ok(())
    }

    /// Lists every host's VMs into the inventory. A host that does not
    /// answer keeps its VMs as they were; its error is returned after the
    /// other hosts are done.
    pub fn refresh_hosts(&self) -> Result<Refreshed> {
        let hosts = self.hosts.configs.read().expect("lock").clone();
        let mut total = Refreshed::default();
        let mut failed = None;
        for h in &hosts {
            match self.refresh_host(h, true) {
                Ok(r) => {
                    total.added += r.added;
                    total.updated += r.updated;
                    total.removed += r.removed;
                }
                Err(e) => {
                    tracing::warn!(host = %h.discovery.uri(), "cannot list the host's VMs: {e}");
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Lists a host's VMs into the inventory; `local`: the host is this
    /// machine, whose VMs' files the server may read.
    fn refresh_host(&self, h: &HostConfig, local: bool) -> Result<Refreshed> {
        let uri = h.discovery.uri();
        let listed = h.discovery.list().map_err(|e| ServiceError::Job {
            code: "UserErrorGuestAgentStatusUnavailable".into(),
            message: format!("The hypervisor host {uri} does not answer: {e}"),
            recommendation: "Check that libvirtd runs on the host, then refresh again.".into(),
        })?;
        let p = VmProvider::Compute;
        let mut known: HashMap<String, (VmRecord, VirtualMachine)> = HashMap::new();
        for rec in self.meta.all_vms()? {
            let Ok(body) = serde_json::from_str::<VirtualMachine>(&rec.body) else {
                continue;
            };
            let link = body.properties.libvirt.as_ref();
            if link.and_then(|l| l.uri.as_deref()) == Some(uri)
                && let Some(uuid) = link.and_then(|l| l.domain_uuid.clone())
            {
                known.insert(uuid, (rec, body));
            }
        }
        let mut r = Refreshed::default();
        let mut files = self.hosts.files.write().expect("lock").clone();
        for vm in &listed {
            if vm.disks.is_empty() {
                continue;
            }
            if local {
                files.insert(vm.address.clone(), files_of(vm));
            }
            match known.remove(&vm.uuid) {
                Some((rec, old)) => {
                    let body = body_of(vm, uri, &rec.location, Some(&old));
                    if body != old {
                        self.meta.update_vm_body(rec.id, &text(&body)?)?;
                    }
                    if rec.power_state != power_text(vm.power) {
                        self.meta.set_vm_power(rec.id, power_text(vm.power))?;
                    }
                    r.updated += 1;
                }
                None => {
                    let taken = |n: &str| {
                        self.meta
                            .find_vm(
                                p,
                                &ResourceRef {
                                    subscription: h.subscription.clone(),
                                    resource_group: h.resource_group.clone(),
                                    name: n.to_owned(),
                                },
                            )
                            .map_or(true, |v| v.is_some())
                    };
                    let name = vm_name(&vm.name, &vm.uuid, &taken);
                    let body = body_of(vm, uri, &h.location, None);
                    self.meta.insert_vm(&NewVm {
                        provider: p,
                        vm: ResourceRef {
                            subscription: h.subscription.clone(),
                            resource_group: h.resource_group.clone(),
                            name,
                        },
                        location: h.location.clone(),
                        vm_id: vm.uuid.clone(),
                        power_state: power_text(vm.power).into(),
                        body: text(&body)?,
                    })?;
                    r.added += 1;
                }
            }
        }
        for (uuid, (rec, mut body)) in known {
            // Its files are no longer the host's to name.
            files.remove(&VmAddress::libvirt(uri, uuid));
            if let Some(l) = body.properties.libvirt.as_mut()
                && l.state.as_deref() != Some(REMOVED)
            {
                l.state = Some(REMOVED.into());
                self.meta.update_vm_body(rec.id, &text(&body)?)?;
                self.meta.set_vm_power(rec.id, "deallocated")?;
                r.removed += 1;
            }
        }
        *self.hosts.files.write().expect("lock") = files;
        tracing::info!(host = %uri, added = r.added, updated = r.updated, removed = r.removed, "listed the host's VMs");
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsvault_hypervisor::{FakeDiscovery, HostDisk};

    fn host_vm(name: &str, uuid: &str, disks: &[&std::path::Path], power: PowerState) -> HostVm {
        HostVm {
            address: VmAddress::libvirt("test:///h1", uuid),
            name: name.into(),
            uuid: uuid.into(),
            power,
            os_type: Some("hvm".into()),
            vcpus: 2,
            memory_mib: 512,
            disks: disks
                .iter()
                .enumerate()
                .map(|(i, p)| HostDisk {
                    device: format!("vd{}", char::from(b'a' + i as u8)),
                    path: p.to_path_buf(),
                    format: "raw".into(),
                    block: false,
                    backing: Vec::new(),
                })
                .collect(),
            config: "<domain/>".into(),
        }
    }

    fn rr(name: &str) -> ResourceRef {
        ResourceRef {
            subscription: "s".into(),
            resource_group: "rg-kvm".into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_hosts_vms_are_added_renamed_kept_and_marked_removed() {
        let dir = tempfile::tempdir().unwrap();
        let images = tempfile::tempdir().unwrap();
        let (a, b) = (images.path().join("a.raw"), images.path().join("b.raw"));
        for p in [&a, &b] {
            std::fs::write(p, vec![0u8; 1 << 20]).unwrap();
        }
        let svc = Service::open(dir.path()).unwrap();
        let host = Arc::new(FakeDiscovery::new("test:///h1"));
        svc.set_hosts(vec![HostConfig {
            discovery: host.clone(),
            subscription: "s".into(),
            resource_group: "rg-kvm".into(),
            location: "japaneast".into(),
        }]);
        host.set(vec![
            host_vm("web 01", "u-1", &[&a], PowerState::Running),
            host_vm("db", "u-2", &[&b, &a], PowerState::Stopped),
            host_vm("no-disks", "u-3", &[], PowerState::Stopped),
        ]);
        let r = svc.refresh_hosts().unwrap();
        assert_eq!(
            (r.added, r.updated, r.removed),
            (2, 0, 0),
            "a VM without disks is left out"
        );
        // The host's files open outside the image roots, for its own VMs.
        let disks = svc.vm_disks(VmProvider::Compute, &rr("web-01")).unwrap();
        assert_eq!(disks[0].path, a.canonicalize().unwrap());
        let db = svc.get_vm(VmProvider::Compute, &rr("db"), false).unwrap();
        assert_eq!(db.properties.vm_id.as_deref(), Some("u-2"));
        assert_eq!(
            svc.vm_disks(VmProvider::Compute, &rr("db")).unwrap().len(),
            2
        );
        // Nobody sets properties.libvirt through the API.
        let mut forged = db.clone();
        forged.properties.vm_id = None;
        let e = svc
            .put_vm(VmProvider::Compute, &rr("forged"), &forged)
            .unwrap_err();
        assert!(e.to_string().contains("properties.libvirt"), "{e}");
        // ... and without it, the host's files stay outside the roots.
        forged.properties.libvirt = None;
        assert!(
            svc.put_vm(VmProvider::Compute, &rr("forged"), &forged)
                .is_err()
        );

        // Renamed: the same VM; gone: marked; unreachable: kept as it was.
        host.set(vec![host_vm(
            "web-renamed",
            "u-1",
            &[&a],
            PowerState::Stopped,
        )]);
        let r = svc.refresh_hosts().unwrap();
        assert_eq!((r.added, r.updated, r.removed), (0, 1, 1));
        let web = svc
            .get_vm(VmProvider::Compute, &rr("web-01"), false)
            .unwrap();
        let link = web.properties.libvirt.unwrap();
        assert_eq!(link.domain_name.as_deref(), Some("web-renamed"));
        let db = svc.get_vm(VmProvider::Compute, &rr("db"), true).unwrap();
        assert_eq!(
            db.properties.libvirt.as_ref().unwrap().state.as_deref(),
            Some(REMOVED)
        );
        assert_eq!(db.properties.power_state(), Some("VM deallocated"));
        assert!(
            svc.host_files(&VmAddress::libvirt("test:///h1", "u-2"))
                .is_empty(),
            "a removed domain's files are no longer the host's"
        );
        host.fail("libvirtd is down");
        let e = svc.refresh_hosts().unwrap_err();
        assert!(e.to_string().contains("does not answer"), "{e}");
        let web = svc
            .get_vm(VmProvider::Compute, &rr("web-01"), false)
            .unwrap();
        assert_eq!(
            web.properties.libvirt.unwrap().state.as_deref(),
            Some(PRESENT)
        );
    }

    #[test]
    fn a_defined_vm_is_registered_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        let svc = Service::open(dir.path()).unwrap();
        let host = Arc::new(FakeDiscovery::new("test:///h1"));
        let cfg = HostConfig {
            discovery: host.clone(),
            subscription: "s".into(),
            resource_group: "rg-kvm".into(),
            location: "japaneast".into(),
        };
        svc.set_hosts(vec![cfg.clone()]);
        let xml = "<domain type='qemu'><name>copy</name><memory unit='MiB'>64</memory><devices>\
                   <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
                   <source file='/r/copy-vda.qcow2'/><target dev='vda'/></disk></devices></domain>";
        let target = ResourceRef {
            resource_group: "rg-restored".into(),
            ..rr("copy")
        };
        let vm = svc.define_host_vm(&cfg, &target, xml).unwrap();
        let body = svc.get_vm(VmProvider::Compute, &target, false).unwrap();
        assert_eq!(body.properties.vm_id.as_deref(), Some(vm.uuid.as_str()));
        let link = body.properties.libvirt.unwrap();
        assert_eq!(link.domain_uuid.as_deref(), Some(vm.uuid.as_str()));
        assert_eq!(
            svc.host_files(&vm.address),
            [std::path::PathBuf::from("/r/copy-vda.qcow2")]
        );
        // A refresh keeps it where the restore put it.
        svc.refresh_hosts().unwrap();
        assert!(svc.get_vm(VmProvider::Compute, &target, false).is_ok());
        assert!(svc.get_vm(VmProvider::Compute, &rr("copy"), false).is_err());
        // Registering over an existing VM fails and undoes the define.
        let again = xml.replace("<name>copy</name>", "<name>copy2</name>");
        assert!(svc.define_host_vm(&cfg, &target, &again).is_err());
        assert!(!host.list().unwrap().iter().any(|v| v.name == "copy2"));
    }

    #[test]
    fn vm_names_are_valid_and_free() {
        let none = |_: &str| false;
        assert_eq!(vm_name("web-01", "abcd-1234-5678", &none), "web-01");
        assert_eq!(vm_name("my vm!", "u", &none), "my-vm");
        assert_eq!(vm_name("_x.", "1234abcd99", &none), "x");
        let taken = |n: &str| n == "web";
        assert_eq!(vm_name("web", "1234abcd99", &taken), "web-1234abcd");
        assert_eq!(vm_name("---", "1234abcd99", &none), "vm-1234abcd");
    }
}

//! Discovery: the VMs a hypervisor host runs or keeps defined, as the host
//! itself describes them, so that nobody registers them by hand.
//!
//! [`Discovery`] is the port; [`crate::libvirt::LibvirtDiscovery`] lists a
//! libvirt connection's domains, [`FakeDiscovery`] holds a list for tests,
//! [`crate::qemu_vms::QemuVmsDiscovery`] a host's configured plain QEMU VMs,
//! and [`conformance`] is the suite all pass.

use crate::address::VmAddress;
use crate::error::HvError;
use crate::port::PowerState;
use std::path::PathBuf;
use std::sync::Mutex;

/// A VM a host knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVm {
    /// Where the VM is reached (keyed by what survives renames).
    pub address: VmAddress,
    pub name: String,
    /// The hypervisor's own id of the VM (libvirt's domain UUID).
    pub uuid: String,
    pub power: PowerState,
    /// The OS type the hypervisor knows (`hvm`), if any.
    pub os_type: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The disks a backup reads (CD-ROMs and read-only disks left out).
    pub disks: Vec<HostDisk>,
    /// The hypervisor's description of the VM (libvirt's inactive domain
    /// XML), kept with each recovery point to define the VM again.
    pub config: String,
}

impl HostVm {
    /// A VM as its libvirt domain XML describes it.
    pub fn of_domain(
        uri: &str,
        info: crate::libvirt::xml::DomainInfo,
        power: PowerState,
        config: String,
    ) -> HostVm {
        HostVm {
            address: VmAddress::libvirt(uri, info.uuid.clone()),
            name: info.name,
            uuid: info.uuid,
            power,
            os_type: info.os_type,
            vcpus: info.vcpus,
            memory_mib: info.memory_kib >> 10,
            disks: info
                .disks
                .into_iter()
                .map(|d| HostDisk {
                    device: d.target,
                    path: d.source,
                    format: d.format,
                    block: d.block,
                    backing: d.backing,
                })
                .collect(),
            config,
        }
    }
}

/// A disk of a host's VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDisk {
    /// The device name (`vda`).
    pub device: String,
    /// The image file or block device.
    pub path: PathBuf,
    /// `qcow2`, `raw`, ...
    pub format: String,
    pub block: bool,
    /// The backing chain the hypervisor reports, nearest first.
    pub backing: Vec<PathBuf>,
}

/// The VMs of one host.
pub trait Discovery: Send + Sync + std::fmt::Debug {
    /// The host's connection, as configured (`qemu:///system`).
    fn uri(&self) -> &str;
    /// Every VM the host knows, running or not.
    fn list(&self) -> Result<Vec<HostVm>, HvError>;
    /// One VM by the hypervisor's id (`None`: the host has no such VM).
    fn get(&self, uuid: &str) -> Result<Option<HostVm>, HvError>;
    /// Whether the host has a VM of this name.
    fn has_name(&self, name: &str) -> Result<bool, HvError>;
    /// Defines a new VM from a definition in the host's own terms
    /// (libvirt's domain XML, without a UUID: the host gives it one),
    /// shut off; returns it as [`Discovery::list`] would.
    fn define(&self, config: &str) -> Result<HostVm, HvError>;
    /// Removes a VM's definition, not its disks (to undo a define).
    fn undefine(&self, uuid: &str) -> Result<(), HvError>;
}

/// A host whose VMs are set by the test.
#[derive(Debug)]
pub struct FakeDiscovery {
    uri: String,
    vms: Mutex<Result<Vec<HostVm>, String>>,
    defined: std::sync::atomic::AtomicU64,
}

impl FakeDiscovery {
    pub fn new(uri: impl Into<String>) -> Self {
        FakeDiscovery {
            uri: uri.into(),
            vms: Mutex::new(Ok(Vec::new())),
            defined: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sets what the host reports.
    pub fn set(&self, vms: Vec<HostVm>) {
        *self.vms.lock().expect("lock") = Ok(vms);
    }

    /// Makes the host unreachable.
    pub fn fail(&self, why: impl Into<String>) {
        *self.vms.lock().expect("lock") = Err(why.into());
    }
}

impl Discovery for FakeDiscovery {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn list(&self) -> Result<Vec<HostVm>, HvError> {
        self.vms
            .lock()
            .expect("lock")
            .clone()
            .map_err(HvError::Libvirt)
    }

    fn get(&self, uuid: &str) -> Result<Option<HostVm>, HvError> {
        Ok(self.list()?.into_iter().find(|v| v.uuid == uuid))
    }

    fn has_name(&self, name: &str) -> Result<bool, HvError> {
        Ok(self.list()?.iter().any(|v| v.name == name))
    }

    fn define(&self, config: &str) -> Result<HostVm, HvError> {
        let info = crate::libvirt::xml::parse_domain(config).map_err(HvError::Protocol)?;
        if !info.uuid.is_empty() {
            return Err(HvError::Libvirt(format!(
                "domain '{}' already exists with uuid {}",
                info.name, info.uuid
            )));
        }
        let mut vms = self.vms.lock().expect("lock");
        let vms = vms.as_mut().map_err(|e| HvError::Libvirt(e.clone()))?;
        if vms.iter().any(|v| v.name == info.name) {
            return Err(HvError::Libvirt(format!(
                "domain '{}' already exists",
                info.name
            )));
        }
        let n = self
            .defined
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let info = crate::libvirt::xml::DomainInfo {
            uuid: format!("00000000-0000-4000-8000-{n:012x}"),
            ..info
        };
        let vm = HostVm::of_domain(&self.uri, info, PowerState::Stopped, config.to_owned());
        vms.push(vm.clone());
        Ok(vm)
    }

    fn undefine(&self, uuid: &str) -> Result<(), HvError> {
        let mut vms = self.vms.lock().expect("lock");
        let vms = vms.as_mut().map_err(|e| HvError::Libvirt(e.clone()))?;
        let before = vms.len();
        vms.retain(|v| v.uuid != uuid);
        if vms.len() == before {
            return Err(HvError::Libvirt(format!("no domain with uuid {uuid}")));
        }
        Ok(())
    }
}

/// The contract of [`Discovery`]: `host` reports `running` (with disks
/// `qcow2` then `raw`, and a CD-ROM and a read-only disk it must leave
/// out) as running and `stopped` as stopped, each at an address of this
/// host (a domain of its libvirt connection, with its definition, or a
/// QEMU monitor's socket). Panics with what broke.
pub mod conformance {
    use super::*;
    use std::path::Path;

    /// What the lab defined on the host.
    pub struct Expected<'a> {
        pub name: &'a str,
        pub power: PowerState,
        pub disks: &'a [(&'a Path, &'a str)],
    }

    pub fn run(host: &dyn Discovery, expected: &[Expected<'_>]) {
        let vms = host.list().expect("the host lists its VMs");
        for e in expected {
            let vm = vms
                .iter()
                .find(|v| v.name == e.name)
                .unwrap_or_else(|| panic!("{} is listed: {vms:?}", e.name));
            assert_eq!(vm.power, e.power, "{vm:?}");
            assert!(!vm.uuid.is_empty(), "{vm:?}");
            assert!(vm.vcpus >= 1 && vm.memory_mib >= 1, "{vm:?}");
            match &vm.address {
                VmAddress::Libvirt(a) => {
                    assert_eq!(a.uri, host.uri());
                    assert_eq!(a.uuid, vm.uuid);
                    assert!(!vm.config.is_empty(), "a domain's definition: {vm:?}");
                }
                // A plain QEMU VM is reached at its own monitor, and has no
                // definition beyond what the host's configuration says.
                VmAddress::Qemu(a) => assert!(a.qmp_socket.is_absolute(), "{vm:?}"),
            }
            let got: Vec<(PathBuf, &str)> = vm
                .disks
                .iter()
                .map(|d| (d.path.clone(), d.format.as_str()))
                .collect();
            let want: Vec<(PathBuf, &str)> =
                e.disks.iter().map(|(p, f)| (p.to_path_buf(), *f)).collect();
            assert_eq!(got, want, "only the backup's disks, in order: {vm:?}");
            let mut devices: Vec<&str> = vm.disks.iter().map(|d| d.device.as_str()).collect();
            devices.dedup();
            assert_eq!(devices.len(), vm.disks.len(), "device names are distinct");
            assert_eq!(
                host.get(&vm.uuid).expect("get by uuid").as_ref(),
                Some(vm),
                "get(uuid) is the listed VM"
            );
            assert!(host.has_name(e.name).expect("lookup by name"));
        }
        assert_eq!(
            host.get("6b1d2a9e-0000-4000-8000-00000000dead")
                .expect("get of an unknown uuid"),
            None
        );
        assert!(
            !host
                .has_name("rsvault-no-such-vm")
                .expect("lookup of an unknown name")
        );
        let mut uuids: Vec<&str> = vms.iter().map(|v| v.uuid.as_str()).collect();
        uuids.sort_unstable();
        uuids.dedup();
        assert_eq!(uuids.len(), vms.len(), "one entry a VM");
    }

    /// A copy of VM `from` defined anew as `name` on the qcow2 `image`
    /// (its first disk only): listed shut off, with a UUID of its own and
    /// that one disk; gone again once undefined.
    pub fn define(host: &dyn Discovery, from: &str, name: &str, image: &Path) {
        let vms = host.list().expect("the host lists its VMs");
        let src = vms
            .iter()
            .find(|v| v.name == from)
            .unwrap_or_else(|| panic!("{from} is listed: {vms:?}"));
        let config = crate::libvirt::xml::restored_domain(
            &src.config,
            name,
            &[crate::libvirt::xml::RestoredDisk {
                target: &src.disks[0].device,
                image,
            }],
        )
        .expect("a copy of the definition");
        let vm = host.define(&config).expect("the copy is defined");
        assert_eq!(vm.name, name);
        assert_eq!(vm.power, PowerState::Stopped, "{vm:?}");
        assert!(!vm.uuid.is_empty() && vm.uuid != src.uuid, "{vm:?}");
        let got: Vec<(&Path, &str)> = vm
            .disks
            .iter()
            .map(|d| (d.path.as_path(), d.format.as_str()))
            .collect();
        assert_eq!(got, [(image, "qcow2")], "{vm:?}");
        let listed = host.list().expect("list");
        assert!(listed.iter().any(|v| v.uuid == vm.uuid && v.name == name));
        assert!(
            host.define(&config).is_err(),
            "a second VM of the same name is refused"
        );
        host.undefine(&vm.uuid).expect("undefine");
        let listed = host.list().expect("list");
        assert!(!listed.iter().any(|v| v.uuid == vm.uuid));
        assert!(host.undefine(&vm.uuid).is_err(), "undefined once");
        assert!(
            listed.iter().any(|v| v.uuid == src.uuid),
            "the source stays"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_host_conforms() {
        let host = FakeDiscovery::new("test:///fake");
        let disk = |dev: &str, p: &str, f: &str| HostDisk {
            device: dev.into(),
            path: p.into(),
            format: f.into(),
            block: false,
            backing: Vec::new(),
        };
        let vm = |name: &str, uuid: &str, power| HostVm {
            address: VmAddress::libvirt("test:///fake", uuid),
            name: name.into(),
            uuid: uuid.into(),
            power,
            os_type: Some("hvm".into()),
            vcpus: 1,
            memory_mib: 128,
            disks: vec![
                disk("vda", "/i/os.qcow2", "qcow2"),
                disk("vdb", "/i/d.raw", "raw"),
            ],
            config: format!(
                "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>128</memory>\
                 <vcpu>1</vcpu><os><type>hvm</type></os><devices>\
                 <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
                 <source file='/i/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
                 <disk type='file' device='disk'><driver name='qemu' type='raw'/>\
                 <source file='/i/d.raw'/><target dev='vdb' bus='virtio'/></disk></devices></domain>"
            ),
        };
        host.set(vec![
            vm("running", "u1", PowerState::Running),
            vm("stopped", "u2", PowerState::Stopped),
        ]);
        let disks = [
            (Path::new("/i/os.qcow2"), "qcow2"),
            (Path::new("/i/d.raw"), "raw"),
        ];
        conformance::run(
            &host,
            &[
                conformance::Expected {
                    name: "running",
                    power: PowerState::Running,
                    disks: &disks,
                },
                conformance::Expected {
                    name: "stopped",
                    power: PowerState::Stopped,
                    disks: &disks,
                },
            ],
        );
        conformance::define(&host, "stopped", "copy", Path::new("/r/copy-vda.qcow2"));
        host.fail("down");
        assert!(host.list().is_err());
    }
    use std::path::Path;
}

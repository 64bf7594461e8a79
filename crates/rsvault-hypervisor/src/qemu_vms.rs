//! Plain QEMU VMs (no libvirt) as a host's [`Discovery`]: the VMs a host's
//! configuration lists by their QMP socket, guest-agent socket and disks.
//! QEMU itself keeps no list of VMs, so their names, ids and disks are the
//! configuration's; the power state is QEMU's, asked over QMP (a socket
//! nobody answers is a stopped VM). They hold no definition to make a new
//! VM from: `define` is refused, and a new VM is restored as disks.

use crate::address::VmAddress;
use crate::discovery::{Discovery, HostDisk, HostVm};
use crate::error::HvError;
use crate::port::Hypervisor;
use std::path::PathBuf;
use std::sync::Arc;

/// One configured QEMU VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuVm {
    pub name: String,
    /// Its stable id (Azure's `vmId`), kept across renames.
    pub uuid: String,
    pub qmp: PathBuf,
    pub guest_agent: Option<PathBuf>,
    pub os_type: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The OS disk first, then the data disks (LUN 0, 1, …).
    pub disks: Vec<HostDisk>,
}

/// The configured QEMU VMs of one host.
#[derive(Debug)]
pub struct QemuVmsDiscovery {
    uri: String,
    vms: Vec<QemuVm>,
    hypervisor: Arc<dyn Hypervisor>,
}

impl QemuVmsDiscovery {
    /// `uri` names the host's list (it is shown, never dialled);
    /// `hypervisor` answers the VMs' power state (QEMU's own).
    pub fn new(uri: impl Into<String>, vms: Vec<QemuVm>, hypervisor: Arc<dyn Hypervisor>) -> Self {
        QemuVmsDiscovery {
            uri: uri.into(),
            vms,
            hypervisor,
        }
    }

    fn host_vm(&self, vm: &QemuVm) -> Result<HostVm, HvError> {
        let address = VmAddress::qemu(vm.qmp.clone(), vm.guest_agent.clone());
        let power = self.hypervisor.power_state(&address)?;
        Ok(HostVm {
            address,
            name: vm.name.clone(),
            uuid: vm.uuid.clone(),
            power,
            os_type: vm.os_type.clone(),
            vcpus: vm.vcpus,
            memory_mib: vm.memory_mib,
            disks: vm.disks.clone(),
            config: String::new(),
        })
    }
}

impl Discovery for QemuVmsDiscovery {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn list(&self) -> Result<Vec<HostVm>, HvError> {
        self.vms.iter().map(|v| self.host_vm(v)).collect()
    }

    fn get(&self, uuid: &str) -> Result<Option<HostVm>, HvError> {
        self.vms
            .iter()
            .find(|v| v.uuid == uuid)
            .map(|v| self.host_vm(v))
            .transpose()
    }

    fn has_name(&self, name: &str) -> Result<bool, HvError> {
        Ok(self.vms.iter().any(|v| v.name == name))
    }

    fn define(&self, _config: &str) -> Result<HostVm, HvError> {
        Err(HvError::Protocol(
            "plain QEMU VMs are listed in the host's configuration; rsvault does not define them"
                .into(),
        ))
    }

    fn undefine(&self, uuid: &str) -> Result<(), HvError> {
        Err(HvError::Protocol(format!(
            "the plain QEMU VM {uuid} is the host configuration's to remove"
        )))
    }
}

/// Several lists of one host's VMs as one: libvirt's domains and the
/// configured QEMU VMs. A new VM is defined by the first.
#[derive(Debug)]
pub struct HostDiscoveries {
    pub hosts: Vec<Arc<dyn Discovery>>,
}

impl HostDiscoveries {
    fn first(&self) -> Result<&dyn Discovery, HvError> {
        self.hosts
            .first()
            .map(AsRef::as_ref)
            .ok_or_else(|| HvError::Protocol("this host lists no VMs".into()))
    }
}

impl Discovery for HostDiscoveries {
    fn uri(&self) -> &str {
        self.hosts.first().map_or("", |h| h.uri())
    }

    fn list(&self) -> Result<Vec<HostVm>, HvError> {
        let mut all = Vec::new();
        for h in &self.hosts {
            all.extend(h.list()?);
        }
        Ok(all)
    }

    fn get(&self, uuid: &str) -> Result<Option<HostVm>, HvError> {
        for h in &self.hosts {
            if let Some(vm) = h.get(uuid)? {
                return Ok(Some(vm));
            }
        }
        Ok(None)
    }

    fn has_name(&self, name: &str) -> Result<bool, HvError> {
        for h in &self.hosts {
            if h.has_name(name)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn define(&self, config: &str) -> Result<HostVm, HvError> {
        self.first()?.define(config)
    }

    fn undefine(&self, uuid: &str) -> Result<(), HvError> {
        for h in &self.hosts {
            if h.get(uuid)?.is_some() {
                return h.undefine(uuid);
            }
        }
        self.first()?.undefine(uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::FakeDiscovery;
    use crate::{FakeHypervisor, PowerState};

    fn disk(p: &str) -> HostDisk {
        HostDisk {
            device: "vda".into(),
            path: p.into(),
            format: "qcow2".into(),
            block: false,
            backing: Vec::new(),
        }
    }

    fn configured(hv: &Arc<FakeHypervisor>) -> QemuVmsDiscovery {
        let vm = QemuVm {
            name: "web".into(),
            uuid: "u-web".into(),
            qmp: "/run/web.qmp".into(),
            guest_agent: None,
            os_type: None,
            vcpus: 1,
            memory_mib: 256,
            disks: vec![disk("/srv/web.qcow2")],
        };
        let address = VmAddress::qemu("/run/web.qmp", None);
        hv.add_vm(address.clone(), &[]).expect("add");
        hv.set_power(&address, PowerState::Paused);
        QemuVmsDiscovery::new("qemu+config:///h", vec![vm], hv.clone())
    }

    #[test]
    fn configured_vms_carry_qemus_power_state_and_cannot_be_defined() {
        let hv = Arc::new(FakeHypervisor::new());
        let host = configured(&hv);
        let vms = host.list().expect("list");
        assert_eq!(vms.len(), 1);
        assert_eq!(vms[0].power, PowerState::Paused);
        assert_eq!(vms[0].address, VmAddress::qemu("/run/web.qmp", None));
        assert_eq!(host.get("u-web").expect("get"), Some(vms[0].clone()));
        assert_eq!(host.get("u-other").expect("get"), None);
        assert!(host.has_name("web").expect("name") && !host.has_name("db").expect("name"));
        assert!(host.define("<domain/>").is_err() && host.undefine("u-web").is_err());
    }

    #[test]
    fn several_lists_answer_as_one_and_define_on_the_first() {
        let hv = Arc::new(FakeHypervisor::new());
        let libvirt = Arc::new(FakeDiscovery::new("test:///h"));
        let both = HostDiscoveries {
            hosts: vec![libvirt.clone(), Arc::new(configured(&hv))],
        };
        assert_eq!(both.uri(), "test:///h");
        assert_eq!(both.list().expect("list").len(), 1);
        assert!(both.get("u-web").expect("get").is_some());
        assert!(both.has_name("web").expect("name"));
        assert!(both.undefine("u-web").is_err(), "the configured VM stays");
        libvirt.fail("libvirtd is down");
        assert!(
            both.list().is_err(),
            "a list that fails is not half an answer"
        );
    }
}

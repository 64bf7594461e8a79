//! One [`Hypervisor`] over several: each call goes to the implementation
//! for the kind of the VM's address (QEMU's sockets, or a libvirt domain).

use crate::address::VmAddress;
use crate::error::HvError;
use crate::port::{
    AttachedDisk, DiskCheckpoint, Hypervisor, PowerState, Snapshot, SnapshotFailure,
    SnapshotRequest,
};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// QEMU processes and libvirt domains, each to its own implementation.
#[derive(Debug, Clone)]
pub struct RoutingHypervisor {
    pub qemu: Arc<dyn Hypervisor>,
    pub libvirt: Arc<dyn Hypervisor>,
}

impl RoutingHypervisor {
    fn to(&self, vm: &VmAddress) -> &dyn Hypervisor {
        match vm {
            VmAddress::Qemu(_) => self.qemu.as_ref(),
            VmAddress::Libvirt(_) => self.libvirt.as_ref(),
        }
    }
}

impl Hypervisor for RoutingHypervisor {
    fn power_state(&self, vm: &VmAddress) -> Result<PowerState, HvError> {
        self.to(vm).power_state(vm)
    }

    fn disks(&self, vm: &VmAddress) -> Result<Vec<AttachedDisk>, HvError> {
        self.to(vm).disks(vm)
    }

    fn snapshot(
        &self,
        vm: &VmAddress,
        request: &SnapshotRequest,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SnapshotFailure> {
        self.to(vm).snapshot(vm, request, progress, cancel)
    }

    fn retire_checkpoints(
        &self,
        vm: &VmAddress,
        keep: &[DiskCheckpoint],
    ) -> Result<usize, HvError> {
        self.to(vm).retire_checkpoints(vm, keep)
    }

    fn discard_checkpoints(
        &self,
        vm: &VmAddress,
        discard: &[DiskCheckpoint],
    ) -> Result<(), HvError> {
        self.to(vm).discard_checkpoints(vm, discard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeHypervisor;

    #[test]
    fn calls_go_by_the_kind_of_address() {
        let qemu = Arc::new(FakeHypervisor::new());
        let libvirt = Arc::new(FakeHypervisor::new());
        let q = VmAddress::qemu("/run/a.qmp", None);
        let l = VmAddress::libvirt("qemu:///system", "u1");
        qemu.add_vm(q.clone(), &[]).unwrap();
        libvirt.add_vm(l.clone(), &[]).unwrap();
        libvirt.set_power(&l, PowerState::Paused);
        let r = RoutingHypervisor {
            qemu: qemu.clone(),
            libvirt: libvirt.clone(),
        };
        assert_eq!(r.power_state(&q).unwrap(), PowerState::Running);
        assert_eq!(r.power_state(&l).unwrap(), PowerState::Paused);
        libvirt.set_power(&l, PowerState::Stopped);
        assert_eq!(r.power_state(&l).unwrap(), PowerState::Stopped);
        assert_eq!(r.power_state(&q).unwrap(), PowerState::Running);
    }
}

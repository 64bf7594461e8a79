//! rsvault's hypervisor edge: running QEMU VMs.
//!
//! The service sees only the port, [`Hypervisor`] ([`port`]), with VMs
//! reached at a [`VmAddress`]. Its implementations:
//! - [`QemuHypervisor`] ([`qemu`]): QEMU's QMP monitor and guest agent,
//!   the production one;
//! - [`LibvirtHypervisor`] ([`libvirt`]): libvirt's domains, through
//!   libvirt's backup API (pull mode over NBD, checkpoints);
//! - [`FakeHypervisor`] ([`fake`]): in-process, for tests, with injected
//!   faults;
//! - [`conformance`]: the one suite all pass;
//! - [`RoutingHypervisor`] ([`route`]): QEMU and libvirt behind one port,
//!   by the kind of address.
//!
//! [`Discovery`] ([`discovery`]) is the second port: the VMs a host knows,
//! listed by libvirt ([`LibvirtDiscovery`]), by a host's configuration of
//! plain QEMU VMs ([`QemuVmsDiscovery`]), or set by a test
//! ([`FakeDiscovery`]); [`HostDiscoveries`] joins a host's lists.
//!
//! Below the QEMU one:
//! - [`qmp`]: a client of QEMU's QMP monitor;
//! - [`agent`]: a client of the QEMU guest agent (qemu-ga), behind the
//!   narrow [`agent::GuestAgent`] trait;
//! - [`scripts`]: Azure's `VMSnapshotScriptPluginConfig.json` pre/post
//!   scripts, run in the guest through the agent;
//! - [`snapshot`]: the Take Snapshot task: freeze, one QMP transaction
//!   (dirty bitmaps and point-in-time backup jobs), thaw;
//! - [`bitmaps`]: keeping and retiring the dirty bitmaps that drive
//!   changed-block tracking.
//!
//! It knows nothing of HTTP, vaults or the store.

mod address;
pub mod agent;
pub mod bitmaps;
pub mod conformance;
mod conn;
pub mod discovery;
pub mod error;
pub mod fake;
pub mod finding;
pub mod libvirt;
pub mod port;
pub mod qemu;
pub mod qemu_vms;
pub mod qmp;
pub mod route;
pub mod scripts;
pub mod snapshot;

pub use discovery::{Discovery, FakeDiscovery, HostDisk, HostVm};
pub use error::{HvError, Result};
pub use fake::FakeHypervisor;
pub use finding::Finding;
pub use libvirt::LibvirtDiscovery;
pub use libvirt::LibvirtHypervisor;
pub use port::{
    AddressError, AgentState, AttachedDisk, Base, CheckpointInfo, Consistency, DiskCheckpoint,
    DiskRequest, DiskSnapshot, Hypervisor, LibvirtAddress, PowerState, QemuAddress, Snapshot,
    SnapshotError, SnapshotFailure, SnapshotRequest, SnapshotSettings, VmAddress, checkpoint_name,
};
pub use qemu::QemuHypervisor;
pub use qemu_vms::{HostDiscoveries, QemuVm, QemuVmsDiscovery};
pub use route::RoutingHypervisor;

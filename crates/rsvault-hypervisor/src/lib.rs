//! rsvault's hypervisor edge: running QEMU VMs.
//!
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

pub mod agent;
pub mod bitmaps;
mod conn;
pub mod error;
pub mod finding;
pub mod qmp;
pub mod scripts;
pub mod snapshot;

pub use error::{HvError, Result};
pub use finding::Finding;

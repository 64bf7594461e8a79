//! rsvault's backup engine: disk sources, the vault store, backup, restore,
//! garbage collection and verification. It knows nothing of HTTP.
//!
//! A store keeps recovery points of disks. Each point is logically a full
//! image: a tree of content ids of the disk's 64 KiB chunks. Chunks are
//! deduplicated across all disks and points, compressed with zstd,
//! encrypted with AES-256-GCM and packed into pack objects on a
//! [`backend::Backend`].

pub mod backend;
pub mod backup;
pub mod clock;
pub mod codec;
pub mod copy;
pub mod error;
pub mod gc;
mod guard;
pub mod id;
pub mod index;
pub mod index_cache;
pub mod key;
pub mod manifest;
pub mod pack;
pub mod progress;
pub mod ranges;
pub mod replicate;
pub mod restore;
pub mod session;
pub mod source;
pub mod store;
pub mod target;
pub mod tree;
pub mod verify;
mod writer;

pub use backup::{BackupOptions, backup};
pub use copy::copy_image;
pub use error::{Error, Result};
pub use gc::{GcOptions, GcStats, gc};
pub use key::MasterKey;
pub use manifest::{BackupStats, Manifest};
pub use progress::{NoProgress, Progress};
pub use replicate::{
    ReplicateOptions, ReplicationOutcome, ReplicationStats, replicate_all, replicate_point,
};
pub use restore::{RestoreFormat, RestoreOptions, RestoreStats, restore};
pub use store::{InitOptions, Store};
pub use verify::{VerifyReport, verify};

//! Storage backends: where a store's objects live.
//!
//! The trait is shaped for object storage: whole-object puts (optionally
//! only-if-absent), whole or ranged gets, prefix listing and deletes. There
//! is no rename and no atime. Every successful `put` is durable when it
//! returns.

use crate::error::Result;
use std::time::SystemTime;

pub mod azure;
pub mod conformance;
pub mod local;
pub mod lock;
pub mod memory;
pub mod object;
pub mod options;
pub mod s3;
mod s3_lock;
pub mod testing;
pub mod url;

pub use conformance::conformance;
pub use local::LocalBackend;
pub use memory::MemoryBackend;
pub use object::ObjectBackend;
pub use options::{RetryOptions, Secret, StorageOptions};
pub use url::{OpenMode, open_url, open_url_with};

/// How a put treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Fail with [`crate::Error::AlreadyExists`] if the key exists.
    Create,
    /// Replace the object atomically.
    Overwrite,
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Full key, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
}

/// A place to keep objects. Implementations must be safe to use from many
/// threads and many processes at once.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Stores `data` under `key`, atomically: readers see the old object, no
    /// object, or the whole new one. Durable on return.
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> Result<()>;
    /// Reads a whole object. A missing key is [`crate::Error::MissingObject`].
    fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Reads `len` bytes at `offset`; a short object is an error.
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>>;
    /// Lists objects whose key starts with `prefix` (which ends in `/` or is empty).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Metadata of one object, or `None` if it does not exist.
    fn head(&self, key: &str) -> Result<Option<ObjectMeta>>;
    /// Deletes an object; deleting a missing key succeeds.
    fn delete(&self, key: &str) -> Result<()>;
    /// A human-readable location, for messages.
    fn location(&self) -> String;
    /// Whether the storage itself enforces [`PutMode::Create`] (an object
    /// store that honours `If-None-Match: *`). A backend that answers
    /// `false` refuses `Create` puts with [`crate::Error::NoConditionalPuts`]
    /// unless it was opened for a single writer, so two writers can never
    /// both win one commit.
    fn conditional_puts(&self) -> Result<bool> {
        Ok(true)
    }
    /// How many packs a writer stores at once: one fills a pack while the
    /// others' puts run. Two keep a local disk busy; object storage, where
    /// each put waits on the network and the server, takes more.
    fn parallel_writes(&self) -> usize {
        2
    }
    /// Removes leftovers of puts that never completed (a writer killed
    /// mid-put) older than `older_than`; returns how many. Backends whose puts
    /// leave nothing behind keep the default.
    fn sweep_incomplete(&self, _older_than: SystemTime) -> Result<usize> {
        Ok(0)
    }
    /// The storage's object lock (see [`lock`]), if it has one.
    fn object_lock(&self) -> Option<&dyn lock::ObjectLock> {
        None
    }
    /// Removes every object and the location itself (a vault's store when
    /// the vault is deleted). A location already gone succeeds. The
    /// default deletes what `list` finds; backends with a cheaper way
    /// override it.
    fn destroy(&self) -> Result<()> {
        for o in self.list("")? {
            self.delete(&o.key)?;
        }
        Ok(())
    }
}

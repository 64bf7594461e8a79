//! Recovery point manifests: the committed record of one backup of one disk.

use crate::id::ChunkId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counters of one backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStats {
    /// Bytes read from the disk source.
    pub bytes_read: u64,
    /// Bytes of disk data not already in the store (before compression).
    pub bytes_new: u64,
    /// Bytes added to the store (packs and index, after compression and encryption).
    pub bytes_stored: u64,
    /// Chunks in the disk.
    pub chunks: u64,
    /// Chunks that were all zeros or holes.
    pub chunks_zero: u64,
    /// Chunks that were new to the store.
    pub chunks_new: u64,
    /// Chunks taken from the previous point without reading (changed-block tracking).
    pub chunks_reused: u64,
    /// Chunks read and found already in the store (deduplicated).
    #[serde(default)]
    pub chunks_deduplicated: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// A recovery point: logically a full image of one disk at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// Point id (time-ordered).
    pub id: String,
    /// The disk's name in the store.
    pub name: String,
    /// When the backup started (RFC 3339, UTC).
    pub time: String,
    /// Disk size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u32,
    /// Root of the chunk tree.
    pub root: ChunkId,
    /// Height of the chunk tree.
    pub height: u32,
    /// The previous point of the same disk this one was made against, if any.
    pub parent: Option<String>,
    /// The source image's format.
    pub source_format: String,
    /// Whether the backup used a caller's changed-block list.
    pub used_changed_ranges: bool,
    /// Counters.
    pub stats: BackupStats,
    /// Free-form labels (the vault service keeps its own metadata here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Manifest {
    /// Number of chunks of the disk.
    pub fn nchunks(&self) -> u64 {
        self.size.div_ceil(self.chunk_size as u64)
    }
}

/// True for a string that can be a point id (the object key's last part):
/// 1 to 64 ASCII letters, digits, `-` or `_`. Backups make 32 hex digits.
pub fn is_point_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

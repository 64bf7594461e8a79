//! A writer's side of the commit order, shared by backup and replication:
//! encoded blobs gathered into packs that are stored as they fill, then one
//! index file listing them, then the manifest with put-if-absent, with the
//! gc guard's revive check before and after it.

use crate::backend::PutMode;
use crate::codec::BlobKind;
use crate::error::Result;
use crate::guard::Guard;
use crate::id::ChunkId;
use crate::index::encode_index_file;
use crate::manifest::Manifest;
use crate::pack::{PackBuilder, PackEntry, TARGET_SIZE, pack_key};
use crate::session::Session;
use crate::store::{LoadedIndex, Store};

/// Packs stored so far: pack id and entries.
pub(crate) type Written = Vec<(String, Vec<PackEntry>)>;

/// Gathers encoded blobs into packs and stores each one (put-if-absent
/// under a fresh id) once it reaches [`TARGET_SIZE`].
pub(crate) struct PackWriter<'a> {
    store: &'a Store,
    // One buffer for the writer's whole life: allocating a fresh 16 MiB
    // buffer per pack makes the allocator hold several of them per thread.
    pack: PackBuilder,
    written: Written,
}

impl<'a> PackWriter<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        PackWriter {
            store,
            pack: PackBuilder::new(),
            written: Vec::new(),
        }
    }

    /// Appends an encoded blob; stores the pack when it is full. Returns
    /// the bytes stored by this call (0 or the pack's size).
    pub(crate) fn add(
        &mut self,
        kind: BlobKind,
        id: ChunkId,
        encoded: &[u8],
        raw_len: u32,
    ) -> Result<u64> {
        self.pack.add(kind, id, encoded, raw_len);
        if self.pack.len() >= TARGET_SIZE {
            return self.flush();
        }
        Ok(0)
    }

    /// Stores the pack being filled, if it holds anything; returns its size.
    /// On failure the pack's blobs are dropped.
    pub(crate) fn flush(&mut self) -> Result<u64> {
        if self.pack.is_empty() {
            return Ok(0);
        }
        let pack_id = crate::id::random_hex_id();
        let (bytes, entries) = self.pack.seal(self.store.codec(), &pack_id);
        let size = bytes.len() as u64;
        let r = self
            .store
            .backend()
            .put(&pack_key(&pack_id), bytes, PutMode::Create);
        self.pack.reset();
        r?;
        self.written.push((pack_id, entries));
        Ok(size)
    }

    /// The packs stored since the last call.
    pub(crate) fn take_written(&mut self) -> Written {
        std::mem::take(&mut self.written)
    }
}

/// Stores one index file listing `packs` (nothing when there are none);
/// returns its size.
pub(crate) fn put_index(store: &Store, packs: &[(String, Vec<PackEntry>)]) -> Result<u64> {
    if packs.is_empty() {
        return Ok(0);
    }
    let file_id = crate::id::random_hex_id();
    let blob = encode_index_file(store.codec(), &file_id, packs);
    store
        .backend()
        .put(&format!("index/{file_id}"), &blob, PutMode::Create)?;
    Ok(blob.len() as u64)
}

/// Commits `manifest` for a writer that loaded `loaded` when its session
/// began and stored `written` since (packs and index durable already).
/// Packs gc condemned meanwhile that the point needs are revived before the
/// manifest's put-if-absent, and once more after it for a gc record that
/// landed in between (see `guard`). An existing manifest of the same id is
/// [`crate::Error::AlreadyExists`].
pub(crate) fn commit_manifest(
    store: &Store,
    loaded: &LoadedIndex,
    written: &[(String, Vec<PackEntry>)],
    session: &Session,
    manifest: &Manifest,
) -> Result<()> {
    let mut guard = Guard::new(store, loaded, written, &session.record().id);
    guard.secure(manifest.root, manifest.height)?;
    store.commit_point(manifest)?;
    if let Err(e) = guard.secure(manifest.root, manifest.height) {
        // Readers still find the blobs (condemned packs are read too) and gc
        // revives what a committed point needs before it deletes anything.
        tracing::warn!(point = %manifest.id, "could not re-check gc records after the commit: {e}");
    }
    Ok(())
}

//! A local copy of a store's index files, for stores on object storage: a
//! store opened again lists `index/` (one request) but reads only index
//! files it has not seen. Index files are never changed once written (gc
//! replaces them under new names), and each is authenticated when decoded,
//! so a cached copy is used only if it still decodes; a damaged or
//! tampered copy is read again from the store. Files the listing no longer
//! shows are dropped from the cache.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The cache of one store: `<dir>/<file id>`.
#[derive(Debug, Clone)]
pub struct IndexCache {
    dir: PathBuf,
}

impl IndexCache {
    /// The cache of store `store_id` under `root`, made private (0700).
    pub(crate) fn open(root: &Path, store_id: &str) -> Option<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = root.join(store_id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| tracing::warn!("index cache {} not used: {e}", dir.display()))
            .ok()?;
        Some(IndexCache { dir })
    }

    fn path(&self, file_id: &str) -> Option<PathBuf> {
        // Index file ids are hex: nothing else names a file here.
        (!file_id.is_empty() && file_id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(file_id))
    }

    /// The cached bytes of an index file of `size` bytes, if any.
    pub(crate) fn get(&self, file_id: &str, size: u64) -> Option<Vec<u8>> {
        let p = self.path(file_id)?;
        let bytes = std::fs::read(p).ok()?;
        (bytes.len() as u64 == size).then_some(bytes)
    }

    /// Keeps a copy (written whole or not at all; failures only cost a
    /// later read).
    pub(crate) fn put(&self, file_id: &str, bytes: &[u8]) {
        let Some(p) = self.path(file_id) else { return };
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &p))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Drops copies of files the store no longer lists.
    pub(crate) fn retain(&self, listed: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !listed.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

//! A writer's side of the gc protocol: before (and right after) a backup
//! commits its manifest, any pack that gc condemned after the writer loaded
//! its index, and that the new point references, is revived.
//!
//! A writer deduplicates against the index it loaded when it started. If gc
//! condemns some of those packs while the writer runs (the point that used
//! them was forgotten), the new point may reference blobs that only a
//! condemned pack holds. Gc never deletes such a pack while the writer's
//! session lives, but until it is revived, new writers do not see it. So the
//! writer checks for gc records it has not seen, walks its new tree, and
//! writes a `revived/<pack>` marker for every condemned pack it needs,
//! having checked that the pack still exists. The check runs again after the
//! commit, for a record that landed in between; gc in turn re-reads the
//! points after writing a record and revives what a point committed during
//! its mark needs. Between them every case of the race is covered.

use crate::error::{Error, Result};
use crate::id::{ChunkId, IdSet};
use crate::index::ChunkIndex;
use crate::pack::{PackEntry, pack_key};
use crate::store::{LoadedIndex, Store};
use std::collections::HashSet;

/// What a writer knows of the gc records, and how to find its blobs.
pub(crate) struct Guard<'a> {
    store: &'a Store,
    loaded: &'a LoadedIndex,
    written: ChunkIndex,
    seen: HashSet<String>,
    session: String,
}

impl<'a> Guard<'a> {
    /// A guard over the index the writer loaded and the packs it wrote.
    pub(crate) fn new(
        store: &'a Store,
        loaded: &'a LoadedIndex,
        written: &[(String, Vec<PackEntry>)],
        session: &str,
    ) -> Self {
        let mut idx = ChunkIndex::default();
        for (pid, es) in written {
            idx.add_pack(pid, es);
        }
        Guard {
            store,
            loaded,
            written: idx,
            seen: loaded.gc_records.iter().map(|r| r.id.clone()).collect(),
            session: session.to_owned(),
        }
    }

    /// Revives every pack condemned since the last check that the tree at
    /// `root` needs. Returns the packs revived.
    pub(crate) fn secure(&mut self, root: ChunkId, height: u32) -> Result<Vec<String>> {
        let records = self.store.gc_records()?;
        let mut fresh: HashSet<String> = HashSet::new();
        for r in &records {
            if self.seen.insert(r.id.clone()) {
                fresh.extend(r.packs.iter().cloned());
            }
        }
        // Packs this writer never saw (condemned before it loaded) it cannot
        // have used; revived ones are visible already.
        fresh.retain(|p| self.loaded.is_visible(p) && self.loaded.packs.contains_key(p));
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let markers = self.store.revived_markers()?;
        fresh.retain(|p| !markers.contains(p));
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let mut needed: Vec<String> = self.needed(root, height, &fresh)?.into_iter().collect();
        needed.sort();
        for pid in &needed {
            if self.store.backend().head(&pack_key(pid))?.is_none() {
                return Err(Error::corrupt(
                    pack_key(pid),
                    "a pack this backup deduplicated against was deleted while it ran; \
                     its session must have expired (no heartbeat for 10 minutes)",
                ));
            }
        }
        if !needed.is_empty() {
            self.store.revive_packs(&needed, &self.session)?;
            tracing::info!(
                packs = needed.len(),
                "revived condemned packs a new point needs"
            );
        }
        Ok(needed)
    }

    /// The packs of `among` holding a blob of the tree at `root`.
    fn needed(
        &self,
        root: ChunkId,
        height: u32,
        among: &HashSet<String>,
    ) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        let mut seen = IdSet::default();
        let mut stack = vec![(root, height)];
        while let Some((id, h)) = stack.pop() {
            if id.is_zero() || !seen.insert(id) {
                continue;
            }
            self.note(&id, among, &mut out);
            let index = if self.written.contains(&id) {
                &self.written
            } else {
                &self.loaded.index
            };
            let children = self.store.read_node(index, &id)?;
            for c in children {
                if h > 1 {
                    stack.push((c, h - 1));
                } else if !c.is_zero() && seen.insert(c) {
                    self.note(&c, among, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// Adds the pack of a blob the writer did not write itself, if it is
    /// one of `among`.
    fn note(&self, id: &ChunkId, among: &HashSet<String>, out: &mut HashSet<String>) {
        if self.written.contains(id) {
            return;
        }
        if let Some(loc) = self.loaded.index.get(id) {
            let pid = self.loaded.index.pack_id(loc);
            if among.contains(pid) {
                out.insert(pid.to_owned());
            }
        }
    }
}

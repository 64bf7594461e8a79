//! The walk of a point's tree on the primary, a level at a time: every
//! node is read (its entries lead on), and every node and chunk the
//! secondary does not show is sent on to be packed.

use super::ReplicationStats;
use super::fetch::{Fetched, Wanted, fetch};
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdSet};
use crate::index::ChunkIndex;
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::Store;
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, Ordering};

/// Tree nodes read from the primary per batch.
const NODE_BATCH: usize = 256;
/// Chunks read from the primary per batch, in stored bytes.
const CHUNK_BATCH: u64 = 32 << 20;

pub(super) struct Walker<'w> {
    pub src: &'w Store,
    /// Where the primary keeps blobs (readers' index).
    pub from: &'w ChunkIndex,
    /// What the secondary shows a writer.
    pub have: &'w ChunkIndex,
    /// Blobs this run sent to packs.
    pub copied: &'w mut IdSet,
    pub threads: usize,
    pub cancel: Option<&'w AtomicBool>,
    pub progress: &'w dyn Progress,
    /// To the pack writer.
    pub out: Sender<Fetched>,
}

/// Chunks waiting to be read from the primary.
#[derive(Default)]
struct ChunkBatch {
    wanted: Vec<Wanted>,
    ids: IdSet,
    bytes: u64,
}

impl Walker<'_> {
    fn present(&self, id: &ChunkId) -> bool {
        self.have.contains(id) || self.copied.contains(id)
    }

    fn cancelled(&self) -> Result<()> {
        match self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    /// Where the primary keeps a blob of point `m`.
    fn locate(&self, m: &Manifest, id: ChunkId) -> Result<Wanted> {
        match self.from.get(&id) {
            Some(loc) => Ok(Wanted { id, loc: *loc }),
            None => Err(Error::MissingChunk {
                point: m.id.clone(),
                chunk: format!("{id} (not on the primary)"),
            }),
        }
    }

    /// Copies every node and chunk of `m` the secondary lacks.
    pub(super) fn copy_tree(&mut self, m: &Manifest, stats: &mut ReplicationStats) -> Result<()> {
        let leaf_span = crate::tree::FANOUT as u64 * m.chunk_size as u64;
        let mut left = m.size;
        let mut walked = IdSet::default();
        let mut level = vec![m.root];
        let mut height = m.height;
        let mut batch = ChunkBatch::default();
        while height >= 1 && !level.is_empty() {
            let mut below = Vec::new();
            for group in level.chunks(NODE_BATCH) {
                self.cancelled()?;
                let wanted = group
                    .iter()
                    .filter(|id| !id.is_zero() && walked.insert(**id))
                    .map(|id| self.locate(m, *id))
                    .collect::<Result<Vec<_>>>()?;
                let (nodes, cost) = fetch(self.src, self.from, &wanted, self.threads, &m.id)?;
                stats.bytes_fetched += cost.bytes;
                for mut node in nodes {
                    let children = node.children.take().unwrap_or_default();
                    if self.present(&node.id) {
                        stats.blobs_skipped += 1;
                        stats.bytes_skipped += node.encoded.len() as u64;
                    } else {
                        stats.nodes_copied += 1;
                        self.send(node, stats)?;
                    }
                    if height > 1 {
                        below.extend(children.into_iter().filter(|c| !c.is_zero()));
                        continue;
                    }
                    for c in children.into_iter().filter(|c| !c.is_zero()) {
                        if self.present(&c) {
                            stats.blobs_skipped += 1;
                            stats.bytes_skipped += self.from.get(&c).map_or(0, |l| l.len as u64);
                        } else if batch.ids.insert(c) {
                            let w = self.locate(m, c)?;
                            batch.bytes += w.loc.len as u64;
                            batch.wanted.push(w);
                            if batch.bytes >= CHUNK_BATCH {
                                self.copy_chunks(m, &mut batch, stats)?;
                            }
                        }
                    }
                    self.progress.advance(leaf_span.min(left));
                    left = left.saturating_sub(leaf_span);
                }
            }
            level = below;
            height -= 1;
        }
        self.copy_chunks(m, &mut batch, stats)?;
        self.progress.advance(left);
        Ok(())
    }

    /// Reads a batch of chunks from the primary and sends them to be packed.
    fn copy_chunks(
        &mut self,
        m: &Manifest,
        batch: &mut ChunkBatch,
        stats: &mut ReplicationStats,
    ) -> Result<()> {
        if batch.wanted.is_empty() {
            return Ok(());
        }
        self.cancelled()?;
        let (chunks, cost) = fetch(self.src, self.from, &batch.wanted, self.threads, &m.id)?;
        stats.bytes_fetched += cost.bytes;
        for c in chunks {
            stats.chunks_copied += 1;
            self.send(c, stats)?;
        }
        *batch = ChunkBatch::default();
        Ok(())
    }

    fn send(&mut self, b: Fetched, stats: &mut ReplicationStats) -> Result<()> {
        stats.bytes_copied += b.encoded.len() as u64;
        self.copied.insert(b.id);
        self.out
            .send(b)
            // The writer failed; its error is reported instead.
            .map_err(|_| Error::InvalidInput("the pack writer stopped".into()))
    }
}

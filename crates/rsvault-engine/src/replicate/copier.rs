//! The writing side of a replication: a writer session and the index it
//! deduplicates against on the secondary, the readable index of the
//! primary, packs stored by threads of their own while the tree is walked,
//! and the commit of each point.

use super::fetch::Fetched;
use super::run::Stores;
use super::walk::Walker;
use super::{ReplicateOptions, ReplicationOutcome, ReplicationStats, same_manifest};
use crate::error::{Error, Result};
use crate::id::IdSet;
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::session::Session;
use crate::store::{LoadedIndex, Store};
use crate::writer::{PackWriter, Written, commit_manifest, put_index};
use crossbeam_channel::bounded;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Blobs read but not yet in a pack: a batch of reads (32 MiB of 64 KiB
/// chunks), so the next batch is read while packs are stored.
const QUEUE: usize = 512;

pub(super) struct Copier<'s> {
    src: &'s Store,
    dst: &'s Store,
    session: Session,
    /// The secondary's index as a writer sees it: what need not be copied.
    have: LoadedIndex,
    /// The primary's index as readers see it: where to read.
    from: LoadedIndex,
    /// Packs stored since the last index file.
    pending: Written,
    /// Every pack this run stored.
    written: Written,
    /// Blobs this run sent to packs.
    copied: IdSet,
    threads: usize,
    cancel: Option<Arc<AtomicBool>>,
    progress: &'s dyn Progress,
}

impl<'s> Copier<'s> {
    /// Registers the writer session on the secondary, then loads both
    /// indexes (the primary's read session is the run's).
    pub(super) fn begin(
        stores: &'s Stores,
        opts: &ReplicateOptions,
        progress: &'s dyn Progress,
    ) -> Result<Self> {
        let session = stores.dst.begin_session("replicate")?;
        let have = stores.dst.load_index()?;
        let from = stores.src.load_index_readable()?;
        let threads = match opts.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(4),
            n => n,
        };
        Ok(Copier {
            src: &stores.src,
            dst: &stores.dst,
            session,
            have,
            from,
            pending: Vec::new(),
            written: Vec::new(),
            copied: IdSet::default(),
            threads,
            cancel: opts.cancel.clone(),
            progress,
        })
    }

    /// Ends the writer session.
    pub(super) fn end(self) -> Result<()> {
        self.session.end()
    }

    /// Copies what `m` needs, then commits it on the secondary.
    pub(super) fn replicate(
        &mut self,
        m: &Manifest,
        stats: &mut ReplicationStats,
    ) -> Result<ReplicationOutcome> {
        self.progress.start("replicate", m.size);
        // A failed pack write ends the run: the blobs of that pack were
        // counted as copied.
        let copied = self.copy_tree(m, stats)?;
        self.progress.finish();
        // What was gathered is stored either way: later points of this run
        // count on it, and a rerun reuses it.
        let stored = self.store_pending(stats);
        let key = Store::point_key(&m.id);
        if let Err(e) = copied {
            // Forgotten meanwhile: its packs may have gone with it.
            return match self.src.backend().head(&key) {
                Ok(None) if stored.is_ok() => Ok(ReplicationOutcome::ForgottenOnPrimary),
                _ => Err(e),
            };
        }
        stored?;
        if self.src.backend().head(&key)?.is_none() {
            return Ok(ReplicationOutcome::ForgottenOnPrimary);
        }
        match commit_manifest(self.dst, &self.have, &self.written, &self.session, m) {
            Ok(()) => Ok(ReplicationOutcome::Replicated),
            // Another replicator committed it first.
            Err(Error::AlreadyExists(_)) => match self.dst.point(&m.id)? {
                Some(s) => same_manifest(m, &s).map(|()| ReplicationOutcome::AlreadyReplicated),
                None => Err(Error::corrupt(
                    key,
                    "exists on the secondary but cannot be read",
                )),
            },
            Err(e) => Err(e),
        }
    }

    /// Walks `m`'s tree on this thread while writer threads add the blobs
    /// it reads to packs and store them as they fill (and what they hold
    /// at the end, whether the walk succeeded or not). The outer error is
    /// a writer's, the inner one the walk's.
    fn copy_tree(&mut self, m: &Manifest, stats: &mut ReplicationStats) -> Result<Result<()>> {
        let (tx, rx) = bounded::<Fetched>(QUEUE);
        let dst = self.dst;
        let mut walker = Walker {
            src: self.src,
            from: &self.from.index,
            have: &self.have.index,
            copied: &mut self.copied,
            threads: self.threads,
            cancel: self.cancel.as_deref(),
            progress: self.progress,
            out: tx,
        };
        let (walked, stored) = std::thread::scope(|s| {
            // As a backup has: one fills a pack while the others' are
            // stored (a put is durable when it returns).
            let writers: Vec<_> = (0..dst.backend().parallel_writes().max(1))
                .map(|_| {
                    let rx = rx.clone();
                    s.spawn(move || -> Result<(u64, Written)> {
                        let mut pack = PackWriter::new(dst);
                        let mut stored = 0;
                        for b in rx {
                            stored += pack.add(b.kind, b.id, &b.encoded, b.raw_len)?;
                        }
                        stored += pack.flush()?;
                        Ok((stored, pack.take_written()))
                    })
                })
                .collect();
            drop(rx);
            let walked = walker.copy_tree(m, stats);
            // Closes the queue: the writers end once they took everything.
            drop(walker);
            let stored: Vec<Result<(u64, Written)>> = writers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(Error::InvalidInput("a pack writer panicked".into()))
                    })
                })
                .collect();
            (walked, stored)
        });
        // A writer's error stops the walk: it is the cause.
        for r in stored {
            let (n, mut packs) = r?;
            stats.bytes_stored += n;
            self.pending.append(&mut packs);
        }
        Ok(walked)
    }

    /// Stores an index file of the packs stored since the last one.
    fn store_pending(&mut self, stats: &mut ReplicationStats) -> Result<()> {
        let packs = std::mem::take(&mut self.pending);
        stats.packs_written += packs.len() as u64;
        stats.bytes_stored += put_index(self.dst, &packs)?;
        self.written.extend(packs);
        Ok(())
    }
}

//! One replication call: its stores (over request-counting backends), the
//! chain of points a point needs first, and tombstones.

use super::copier::Copier;
use super::requests::CountingBackend;
use super::{
    PointReplication, ReplicateOptions, ReplicationOutcome, ReplicationStats, done, same_manifest,
};
use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::session::Session;
use crate::store::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Both stores of a call, over backends that count its requests.
pub(super) struct Stores {
    pub(super) src: Store,
    pub(super) dst: Store,
    src_counts: Arc<CountingBackend>,
    dst_counts: Arc<CountingBackend>,
}

impl Stores {
    pub(super) fn new(primary: &Store, secondary: &Store) -> Self {
        let src_counts = Arc::new(CountingBackend::new(primary.backend().clone()));
        let dst_counts = Arc::new(CountingBackend::new(secondary.backend().clone()));
        Stores {
            src: primary.with_backend(src_counts.clone()),
            dst: secondary.with_backend(dst_counts.clone()),
            src_counts,
            dst_counts,
        }
    }
}

/// Where a point stands on the secondary.
enum OnSecondary {
    Present,
    Forgotten,
    Absent,
}

/// One call: what it did, and the copier once a point needs copying.
pub(super) struct Run<'s> {
    stores: &'s Stores,
    opts: &'s ReplicateOptions,
    progress: &'s dyn Progress,
    started: Instant,
    pub(super) stats: ReplicationStats,
    /// The reader's session on the primary.
    pub(super) read: Option<Session>,
    copier: Option<Copier<'s>>,
}

impl<'s> Run<'s> {
    pub(super) fn new(
        stores: &'s Stores,
        opts: &'s ReplicateOptions,
        progress: &'s dyn Progress,
    ) -> Self {
        Run {
            stores,
            opts,
            progress,
            started: Instant::now(),
            stats: ReplicationStats::default(),
            read: None,
            copier: None,
        }
    }

    /// Ends the sessions, if they began, and counts.
    pub(super) fn finish(mut self) -> Result<ReplicationStats> {
        if let Some(c) = self.copier.take() {
            c.end()?;
        }
        // A reader's session that cannot be removed only holds gc off
        // until it expires (its drop says so in the log).
        drop(self.read.take());
        self.stats.primary_requests = self.stores.src_counts.counts();
        self.stats.secondary_requests = self.stores.dst_counts.counts();
        self.stats.duration_ms = self.started.elapsed().as_millis() as u64;
        Ok(self.stats)
    }

    fn on_secondary(&self, m: &Manifest) -> Result<OnSecondary> {
        let dst = &self.stores.dst;
        if let Some(s) = dst.point(&m.id)? {
            same_manifest(m, &s)?;
            return Ok(OnSecondary::Present);
        }
        if dst
            .backend()
            .head(&format!("forgotten/{}", m.id))?
            .is_some()
        {
            return Ok(OnSecondary::Forgotten);
        }
        Ok(OnSecondary::Absent)
    }

    /// Replicates `id` and the ancestors the secondary lacks, oldest first.
    pub(super) fn chain(&mut self, id: &str) -> Result<()> {
        let stores: &'s Stores = self.stores;
        let src = &stores.src;
        let Some(m) = src.point(id)? else {
            return self.not_on_primary(id);
        };
        let mut todo: Vec<Manifest> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut next = Some(m);
        while let Some(m) = next.take() {
            if !seen.insert(m.id.clone()) {
                break;
            }
            let first = todo.is_empty();
            match self.on_secondary(&m)? {
                OnSecondary::Present if first => {
                    self.stats
                        .points
                        .push(done(&m, ReplicationOutcome::AlreadyReplicated));
                    break;
                }
                // Asked for by id: copied again. Not so an ancestor.
                OnSecondary::Forgotten if first => {}
                OnSecondary::Present | OnSecondary::Forgotten => break,
                OnSecondary::Absent => {}
            }
            let parent = m.parent.clone();
            todo.push(m);
            let Some(pid) = parent else { break };
            match src.point(&pid) {
                Ok(Some(p)) => next = Some(p),
                Ok(None) => self.copy_tombstone(&pid)?,
                Err(e) => tracing::warn!(
                    "replicate: the parent {pid} of {id} cannot be read on the primary ({e}); \
                     replicating from {id} on"
                ),
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        if self.copier.is_none() {
            self.copier = Some(Copier::begin(self.stores, self.opts, self.progress)?);
        }
        let c = self.copier.as_mut().expect("set above");
        for m in todo.into_iter().rev() {
            let outcome = c.replicate(&m, &mut self.stats)?;
            self.stats.points.push(done(&m, outcome));
        }
        Ok(())
    }

    fn not_on_primary(&mut self, id: &str) -> Result<()> {
        match tombstone_name(&self.stores.src, id)? {
            Some(name) => {
                self.stats.points.push(PointReplication {
                    id: id.to_owned(),
                    name,
                    outcome: ReplicationOutcome::ForgottenOnPrimary,
                });
                Ok(())
            }
            None => Err(Error::PointNotFound(format!(
                "the primary store has no recovery point {id}"
            ))),
        }
    }

    /// Copies the primary's tombstone of a forgotten point the secondary
    /// never had, so the secondary's verify sees the gap in the chain as a
    /// deletion, as the primary's does.
    fn copy_tombstone(&self, id: &str) -> Result<()> {
        let (src, dst) = (&self.stores.src, &self.stores.dst);
        let key = format!("forgotten/{id}");
        if dst.point(id)?.is_some() || dst.backend().head(&key)?.is_some() {
            return Ok(());
        }
        match src.backend().get(&key) {
            // Encoded under its key with the shared master key: valid as is.
            Ok(blob) => dst
                .backend()
                .put(&key, &blob, crate::backend::PutMode::Overwrite),
            Err(Error::MissingObject(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The disk name a tombstone records, if the store has one for `id`.
fn tombstone_name(store: &Store, id: &str) -> Result<Option<String>> {
    let key = format!("forgotten/{id}");
    let blob = match store.backend().get(&key) {
        Ok(b) => b,
        Err(Error::MissingObject(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = store
        .codec()
        .decode(BlobKind::Meta, key.as_bytes(), &blob, &key)
        .ok()
        .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok())
        .and_then(|v| v.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Some(name))
}

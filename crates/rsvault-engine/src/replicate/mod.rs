//! Replication of recovery points to a secondary store (geo-redundant
//! storage): the secondary is a complete store of its own, in the same
//! format, that verifies and restores without the primary.
//!
//! A point is copied blob by blob: its tree is walked on the primary, and
//! every tree node and chunk the secondary does not show is read from the
//! primary as it is stored (still compressed and encrypted: both stores
//! derive their keys from one master key and a blob's associated data is
//! its kind and id, not its place), authenticated and hash-checked, and
//! added to new packs of the secondary. Then, as a backup commits, one
//! index file and the manifest, unchanged (same id, name, time, tree,
//! parent), with put-if-absent.
//!
//! On the primary the replicator is a reader with a read session, so gc
//! defers deleting what it reads; on the secondary it is a writer with a
//! session whose commit revives condemned packs it deduplicated against,
//! through the backup writer's own commit (`writer`).

mod fetch;
pub mod requests;

pub use requests::{CountingBackend, RequestCounts};

use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdSet};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::session::Session;
use crate::store::{LoadedIndex, Store};
use crate::writer::{PackWriter, Written, commit_manifest, put_index};
use fetch::{Wanted, fetch};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Tree nodes read from the primary per request batch.
const NODE_BATCH: usize = 256;
/// Chunks read from the primary per batch, in encoded bytes.
const CHUNK_BATCH: u64 = 32 << 20;

/// Options of a replication.
#[derive(Debug, Clone, Default)]
pub struct ReplicateOptions {
    /// Parallel reads from the primary (0: one per core, at least 4).
    pub threads: usize,
    /// Set to cancel; what was stored stays for the next run to reuse.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What became of one recovery point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationOutcome {
    /// Copied and committed on the secondary.
    Replicated,
    /// The secondary had it already: nothing was copied.
    AlreadyReplicated,
    /// The primary forgot it before it was committed on the secondary: skipped.
    ForgottenOnPrimary,
    /// The secondary forgot it (it holds a tombstone): not copied again.
    ForgottenOnSecondary,
    /// Forgotten on the secondary because the primary forgot it ([`replicate_all`]).
    Forgotten,
}

/// One recovery point a replication looked at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PointReplication {
    pub id: String,
    /// The disk's name (empty when only a tombstone knew the point).
    pub name: String,
    pub outcome: ReplicationOutcome,
}

/// What a replication did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplicationStats {
    /// The points acted on, in order: ancestors a point needed first.
    pub points: Vec<PointReplication>,
    /// Chunks copied.
    pub chunks_copied: u64,
    /// Tree nodes copied.
    pub nodes_copied: u64,
    /// Bytes of the blobs copied, as stored (compressed and encrypted).
    pub bytes_copied: u64,
    /// Blob references found on the secondary already, and their bytes as
    /// stored (a blob referenced twice counts twice).
    pub blobs_skipped: u64,
    pub bytes_skipped: u64,
    /// Packs written to the secondary.
    pub packs_written: u64,
    /// Bytes written to the secondary: packs, index files and manifests.
    pub bytes_stored: u64,
    /// Bytes of ranged reads of blobs from the primary (with the small gaps
    /// between blobs read in one request).
    pub bytes_fetched: u64,
    /// Requests made of each store.
    pub primary_requests: RequestCounts,
    pub secondary_requests: RequestCounts,
    pub duration_ms: u64,
}

impl ReplicationStats {
    /// What became of a point, if this replication looked at it.
    pub fn outcome(&self, id: &str) -> Option<ReplicationOutcome> {
        self.points.iter().find(|p| p.id == id).map(|p| p.outcome)
    }

    /// Blobs copied (chunks and tree nodes).
    pub fn blobs_copied(&self) -> u64 {
        self.chunks_copied + self.nodes_copied
    }
}

/// Checks that `secondary` can hold replicas of `primary`'s points: the
/// same master key and encryption (so stored blobs are valid in both as
/// they are) and the same chunk size.
pub fn check_replica(primary: &Store, secondary: &Store) -> Result<()> {
    let (p, s) = (primary.config(), secondary.config());
    let reason = if p.store_id == s.store_id {
        Some("it is the same store")
    } else if p.encryption != s.encryption {
        Some("its encryption differs")
    } else if !primary.codec().same_keys(secondary.codec()) {
        Some("it is opened with another key")
    } else if p.chunk_size != s.chunk_size {
        Some("its chunk size differs")
    } else {
        None
    };
    match reason {
        Some(r) => Err(Error::NotAReplica {
            primary: primary.backend().location(),
            secondary: secondary.backend().location(),
            reason: r.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Replicates one recovery point of `primary` to `secondary`, with the
/// points before it on its disk's chain that the secondary lacks (oldest
/// first: the secondary never holds a point whose parent it lacks but the
/// primary has; a parent the primary forgot gets its tombstone copied).
/// Copies only blobs the secondary does not show; a point the secondary
/// has already is a no-op that reads two manifests. A point the primary
/// forgot is skipped ([`ReplicationOutcome::ForgottenOnPrimary`]); an id
/// the primary never had is [`Error::PointNotFound`].
///
/// After a crash or an error, run it again: the packs stored before are
/// found on the secondary and not copied again (those no point needs are
/// removed by the secondary's gc).
pub fn replicate_point(
    primary: &Store,
    secondary: &Store,
    point_id: &str,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<ReplicationStats> {
    check_replica(primary, secondary)?;
    let stores = Stores::new(primary, secondary);
    let mut run = Run::new(&stores, opts, progress);
    // A point the secondary has is done without any session or index.
    if let (Some(s), Some(p)) = (stores.dst.point(point_id)?, stores.src.point(point_id)?) {
        same_manifest(&p, &s)?;
        run.stats
            .points
            .push(done(&p, ReplicationOutcome::AlreadyReplicated));
        return run.finish();
    }
    let _read = stores
        .src
        .begin_read_session(&format!("replicate {point_id} (read)"));
    run.chain(point_id)?;
    run.finish()
}

/// Brings `secondary` up to `primary`: replicates every point of the
/// primary the secondary lacks (oldest first; points the secondary forgot
/// stay forgotten), then forgets on the secondary the points the primary
/// forgot. [`ReplicationStats::points`] lists what it did.
pub fn replicate_all(
    primary: &Store,
    secondary: &Store,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<ReplicationStats> {
    check_replica(primary, secondary)?;
    let stores = Stores::new(primary, secondary);
    let mut run = Run::new(&stores, opts, progress);
    let _read = stores.src.begin_read_session("replicate (read)");
    let (points, bad) = stores.src.list_points_checked()?;
    for (key, e) in &bad {
        tracing::warn!("replicate: {key} on the primary cannot be read and is not replicated: {e}");
    }
    let (have, bad) = stores.dst.list_points_checked()?;
    let mut have: HashSet<String> = have.into_iter().map(|m| m.id).collect();
    // A damaged manifest on the secondary is left for verify to report.
    have.extend(
        bad.iter()
            .map(|(k, _)| k.trim_start_matches("points/").to_owned()),
    );
    let gone = stores.dst.forgotten()?;
    for p in points
        .iter()
        .filter(|p| !have.contains(&p.id) && !gone.contains(&p.id))
    {
        // An earlier point's chain may have brought it.
        if stores.dst.point(&p.id)?.is_none() {
            run.chain(&p.id)?;
        }
    }
    let forgotten = stores.src.forgotten()?;
    for m in stores.dst.list_points()? {
        if forgotten.contains(&m.id) {
            stores.dst.forget(&m.name, &m.id)?;
            run.stats
                .points
                .push(done(&m, ReplicationOutcome::Forgotten));
        }
    }
    run.finish()
}

fn done(m: &Manifest, outcome: ReplicationOutcome) -> PointReplication {
    PointReplication {
        id: m.id.clone(),
        name: m.name.clone(),
        outcome,
    }
}

fn same_manifest(primary: &Manifest, secondary: &Manifest) -> Result<()> {
    if primary != secondary {
        return Err(Error::corrupt(
            Store::point_key(&primary.id),
            "the secondary's manifest differs from the primary's of the same id",
        ));
    }
    Ok(())
}

/// Both stores of a call, over backends that count its requests.
struct Stores {
    src: Store,
    dst: Store,
    src_counts: Arc<CountingBackend>,
    dst_counts: Arc<CountingBackend>,
}

impl Stores {
    fn new(primary: &Store, secondary: &Store) -> Self {
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
struct Run<'s> {
    stores: &'s Stores,
    opts: &'s ReplicateOptions,
    progress: &'s dyn Progress,
    started: Instant,
    stats: ReplicationStats,
    copier: Option<Copier<'s>>,
}

impl<'s> Run<'s> {
    fn new(stores: &'s Stores, opts: &'s ReplicateOptions, progress: &'s dyn Progress) -> Self {
        Run {
            stores,
            opts,
            progress,
            started: Instant::now(),
            stats: ReplicationStats::default(),
            copier: None,
        }
    }

    /// Ends the secondary's writer session, if one began, and counts.
    fn finish(mut self) -> Result<ReplicationStats> {
        if let Some(c) = self.copier.take() {
            c.session.end()?;
        }
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
    fn chain(&mut self, id: &str) -> Result<()> {
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
                OnSecondary::Forgotten if first => {
                    self.stats
                        .points
                        .push(done(&m, ReplicationOutcome::ForgottenOnSecondary));
                    break;
                }
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

/// The copying part of a run: a writer session and index on the secondary,
/// the readable index of the primary, the packs stored so far.
struct Copier<'s> {
    src: &'s Store,
    dst: &'s Store,
    session: Session,
    /// The secondary's index as a writer sees it: what need not be copied.
    have: LoadedIndex,
    /// The primary's index as readers see it: where to read.
    from: LoadedIndex,
    pack: PackWriter<'s>,
    written: Written,
    /// Blobs this run added to packs (stored, or in the pack being filled).
    copied: IdSet,
    threads: usize,
    cancel: Option<Arc<AtomicBool>>,
    progress: &'s dyn Progress,
}

impl<'s> Copier<'s> {
    /// Registers the writer session on the secondary, then loads both
    /// indexes (the primary's read session is the caller's).
    fn begin(
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
            pack: PackWriter::new(&stores.dst),
            written: Vec::new(),
            copied: IdSet::default(),
            threads,
            cancel: opts.cancel.clone(),
            progress,
        })
    }

    fn present(&self, id: &ChunkId) -> bool {
        self.have.index.contains(id) || self.copied.contains(id)
    }

    /// Copies what `m` needs, then commits it on the secondary.
    fn replicate(
        &mut self,
        m: &Manifest,
        stats: &mut ReplicationStats,
    ) -> Result<ReplicationOutcome> {
        self.progress.start("replicate", m.size);
        let copied = self.copy_tree(m, stats);
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

    /// Stores the pack being filled and an index file of the packs stored
    /// since the last one.
    fn store_pending(&mut self, stats: &mut ReplicationStats) -> Result<()> {
        stats.bytes_stored += self.pack.flush()?;
        let packs = self.pack.take_written();
        stats.packs_written += packs.len() as u64;
        stats.bytes_stored += put_index(self.dst, &packs)?;
        self.written.extend(packs);
        Ok(())
    }

    fn cancelled(&self) -> Result<()> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Where the primary keeps a blob of point `m`.
    fn locate(&self, m: &Manifest, id: ChunkId) -> Result<Wanted> {
        match self.from.index.get(&id) {
            Some(loc) => Ok(Wanted { id, loc: *loc }),
            None => Err(Error::MissingChunk {
                point: m.id.clone(),
                chunk: format!("{id} (not on the primary)"),
            }),
        }
    }

    /// Walks `m`'s tree on the primary a level at a time and copies every
    /// node and chunk the secondary lacks.
    fn copy_tree(&mut self, m: &Manifest, stats: &mut ReplicationStats) -> Result<()> {
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
                let (nodes, cost) =
                    fetch(self.src, &self.from.index, &wanted, self.threads, &m.id)?;
                stats.bytes_fetched += cost.bytes;
                for node in nodes {
                    if self.present(&node.id) {
                        stats.blobs_skipped += 1;
                        stats.bytes_skipped += node.encoded.len() as u64;
                    } else {
                        self.store_blob(&node, stats)?;
                        stats.nodes_copied += 1;
                    }
                    let children = node.children.unwrap_or_default();
                    if height > 1 {
                        below.extend(children.into_iter().filter(|c| !c.is_zero()));
                        continue;
                    }
                    for c in children.into_iter().filter(|c| !c.is_zero()) {
                        if self.present(&c) {
                            stats.blobs_skipped += 1;
                            stats.bytes_skipped +=
                                self.from.index.get(&c).map_or(0, |l| l.len as u64);
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

    /// Reads a batch of chunks from the primary and adds them to packs.
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
        let (chunks, cost) = fetch(
            self.src,
            &self.from.index,
            &batch.wanted,
            self.threads,
            &m.id,
        )?;
        stats.bytes_fetched += cost.bytes;
        for c in &chunks {
            self.store_blob(c, stats)?;
            stats.chunks_copied += 1;
        }
        *batch = ChunkBatch::default();
        Ok(())
    }

    fn store_blob(&mut self, b: &fetch::Fetched, stats: &mut ReplicationStats) -> Result<()> {
        stats.bytes_stored += self.pack.add(b.kind, b.id, &b.encoded, b.raw_len)?;
        stats.bytes_copied += b.encoded.len() as u64;
        self.copied.insert(b.id);
        Ok(())
    }
}

/// Chunks waiting to be read from the primary.
#[derive(Default)]
struct ChunkBatch {
    wanted: Vec<Wanted>,
    ids: IdSet,
    bytes: u64,
}

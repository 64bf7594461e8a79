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

mod copier;
mod fetch;
pub mod requests;
mod run;
mod walk;

pub use requests::{CountingBackend, RequestCounts};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::Store;
use run::{Run, Stores};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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
    /// Bytes written to the secondary's packs and index files.
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
/// has already is a no-op that reads two manifests. A point the secondary
/// forgot is copied again (to repair a damaged one there: forget it on the
/// secondary, replicate it), though not as an ancestor of another. A point the primary
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
    run.read = stores
        .src
        .begin_read_session(&format!("replicate {point_id} (read)"));
    run.chain(point_id)?;
    run.finish()
}

/// Brings `secondary` up to `primary`: replicates every point of the
/// primary the secondary lacks (oldest first; points the secondary forgot
/// stay forgotten), then forgets on the secondary the points the primary
/// forgot. Run it after an outage, and now and then: it also forgets a
/// point whose replication committed just as the primary forgot it. [`ReplicationStats::points`] lists what it did.
pub fn replicate_all(
    primary: &Store,
    secondary: &Store,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<ReplicationStats> {
    check_replica(primary, secondary)?;
    let stores = Stores::new(primary, secondary);
    let mut run = Run::new(&stores, opts, progress);
    run.read = stores.src.begin_read_session("replicate (read)");
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
        if !forgotten.contains(&m.id) {
            continue;
        }
        match stores.dst.forget(&m.name, &m.id) {
            Ok(_) => run
                .stats
                .points
                .push(done(&m, ReplicationOutcome::Forgotten)),
            // Forgotten there meanwhile.
            Err(Error::PointNotFound(_)) => {}
            Err(e) => return Err(e),
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

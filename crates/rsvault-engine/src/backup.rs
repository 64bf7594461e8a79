//! Backing up a disk into a store.
//!
//! Pipeline (all threads scoped to the call):
//! - a reader walks the disk a leaf (64 MiB) at a time, skipping holes and,
//!   with a changed-block list, every chunk outside it (taking the previous
//!   point's id instead);
//! - workers hash each chunk, drop known ones, and compress and encrypt new ones;
//! - pack writers gather new blobs into packs and store them;
//! - the calling thread puts the ids back in disk order and builds the tree.
//!
//! Packs are stored first, then one index file, then the manifest: a point
//! exists only once everything it needs is durable.

use crate::clock::{rfc3339, unix_ms};
use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdSet};
use crate::index::ChunkIndex;
use crate::manifest::{BackupStats, Manifest};
use crate::pack::PackEntry;
use crate::progress::Progress;
use crate::ranges::RangeSet;
use crate::source::{DiskSource, ExtentKind};
use crate::store::Store;
use crate::tree::{FANOUT, TreeBuilder, TreeReader};
use crate::writer::PackWriter;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Options of one backup.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// The disk's name in the store.
    pub name: String,
    /// Byte ranges changed since the previous point of this disk. Without
    /// it, every allocated byte is read and compared by hash.
    pub changed_ranges: Option<RangeSet>,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Labels stored in the manifest.
    pub labels: BTreeMap<String, String>,
    /// Set to cancel.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Checks a disk name: 1–200 printable characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "disk name {name:?} must be 1 to 200 printable characters"
        )));
    }
    Ok(())
}

enum Res {
    /// Consecutive ids starting at a chunk number.
    Ids(u64, Vec<ChunkId>),
    /// One chunk's id.
    One(u64, ChunkId),
    /// A run of all-zero chunks.
    Zeros(u64, u64),
}

struct Shared<'a> {
    store: &'a Store,
    index: &'a ChunkIndex,
    queued: Mutex<IdSet>,
    failed: Mutex<Option<Error>>,
    abort: AtomicBool,
    bytes_read: AtomicU64,
    bytes_new: AtomicU64,
    chunks_new: AtomicU64,
    chunks_zero: AtomicU64,
    chunks_reused: AtomicU64,
    chunks_dedup: AtomicU64,
    bytes_stored: AtomicU64,
}

impl Shared<'_> {
    fn fail(&self, e: Error) {
        let mut f = self.failed.lock().expect("lock");
        if f.is_none() {
            *f = Some(e);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    /// Queues a new blob unless it is known or already queued; true if queued.
    fn claim(&self, id: &ChunkId) -> bool {
        !self.index.contains(id) && self.queued.lock().expect("lock").insert(*id)
    }
}

type PackMsg = (BlobKind, ChunkId, Vec<u8>, u32);

/// Backs up `source` as a new recovery point of `opts.name`.
pub fn backup(
    store: &Store,
    source: &dyn DiskSource,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<Manifest> {
    check_name(&opts.name)?;
    let started = Instant::now();
    let start_time = store.clock().now();
    let session = store.begin_session(&format!("backup {}", opts.name))?;
    let loaded = store.load_index()?;
    let index = &loaded.index;
    let cs = store.config().chunk_size as u64;
    let size = source.size();
    let nchunks = size.div_ceil(cs);

    let parent = store.points_of(&opts.name)?.pop();
    let cbt = match (&opts.changed_ranges, &parent) {
        (Some(r), Some(p)) if p.size == size && p.chunk_size as u64 == cs => Some((r, p)),
        (Some(_), _) => {
            tracing::info!(
                "changed-block list ignored: no earlier point of the same size; reading the whole disk"
            );
            None
        }
        _ => None,
    };

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        opts.threads
    };
    let shared = Shared {
        store,
        index,
        queued: Mutex::new(IdSet::default()),
        failed: Mutex::new(None),
        abort: AtomicBool::new(false),
        bytes_read: AtomicU64::new(0),
        bytes_new: AtomicU64::new(0),
        chunks_new: AtomicU64::new(0),
        chunks_zero: AtomicU64::new(0),
        chunks_reused: AtomicU64::new(0),
        chunks_dedup: AtomicU64::new(0),
        bytes_stored: AtomicU64::new(0),
    };
    progress.start("backup", size);

    let (work_tx, work_rx) = bounded::<(u64, Vec<u8>)>(threads * 4);
    let (res_tx, res_rx) = bounded::<Res>(FANOUT * 4);
    let (pack_tx, pack_rx) = bounded::<PackMsg>(threads * 4);
    // Recycled 64 KiB buffers for reads and encoded blobs.
    let (pool_tx, pool_rx) = bounded::<Vec<u8>>(threads * 16 + 16);
    let mut root = ChunkId::ZERO;
    let mut height = crate::tree::height_for(nchunks);
    let mut written: Vec<(String, Vec<PackEntry>)> = Vec::new();

    std::thread::scope(|s| {
        // Pack writers: as many as the backend stores packs at once.
        let writers: Vec<_> = (0..shared.store.backend().parallel_writes().max(1))
            .map(|_| {
                let (rx, pool) = (pack_rx.clone(), pool_tx.clone());
                let sh = &shared;
                s.spawn(move || pack_writer(sh, rx, pool))
            })
            .collect();
        drop(pack_rx);
        // Workers.
        for _ in 0..threads {
            let (rx, res, pack) = (work_rx.clone(), res_tx.clone(), pack_tx.clone());
            let pool = (pool_tx.clone(), pool_rx.clone());
            let sh = &shared;
            s.spawn(move || worker(sh, rx, res, pack, pool));
        }
        drop(work_rx);
        // Reader.
        {
            let (sh, res, pool) = (&shared, res_tx.clone(), pool_rx.clone());
            let cancel = opts.cancel.clone();
            s.spawn(move || {
                let io = ReaderIo {
                    work: work_tx,
                    res,
                    pool,
                    cancel: cancel.as_deref(),
                };
                if let Err(e) = reader(sh, source, cbt, cs, nchunks, io, progress) {
                    sh.fail(e);
                }
            });
        }
        drop(res_tx);
        // Collector, on this thread.
        match collect(&shared, nchunks, res_rx, &pack_tx) {
            Ok((r, h)) => {
                root = r;
                height = h;
            }
            Err(e) => shared.fail(e),
        }
        drop(pack_tx);
        for w in writers {
            match w.join() {
                Ok(Ok(mut packs)) => written.append(&mut packs),
                Ok(Err(e)) => shared.fail(e),
                Err(_) => shared.fail(Error::InvalidInput("a pack writer panicked".into())),
            }
        }
    });
    progress.finish();
    if let Some(e) = shared.failed.lock().expect("lock").take() {
        return Err(e);
    }

    // Index file, then the manifest: the commit point.
    let index_bytes = crate::writer::put_index(store, &written)?;
    shared
        .bytes_stored
        .fetch_add(index_bytes, Ordering::Relaxed);
    let id = uuid::Uuid::now_v7().simple().to_string();
    let manifest = Manifest {
        version: 1,
        id,
        name: opts.name.clone(),
        time: rfc3339(start_time),
        size,
        chunk_size: cs as u32,
        root,
        height,
        parent: parent.as_ref().map(|p| p.id.clone()),
        source_format: source.format().to_owned(),
        used_changed_ranges: cbt.is_some(),
        stats: BackupStats {
            bytes_read: shared.bytes_read.load(Ordering::Relaxed),
            bytes_new: shared.bytes_new.load(Ordering::Relaxed),
            bytes_stored: shared.bytes_stored.load(Ordering::Relaxed),
            chunks: nchunks,
            chunks_zero: shared.chunks_zero.load(Ordering::Relaxed),
            chunks_new: shared.chunks_new.load(Ordering::Relaxed),
            chunks_reused: shared.chunks_reused.load(Ordering::Relaxed),
            chunks_deduplicated: shared.chunks_dedup.load(Ordering::Relaxed),
            duration_ms: started.elapsed().as_millis() as u64,
        },
        labels: opts.labels.clone(),
    };
    crate::writer::commit_manifest(store, &loaded, &written, &session, &manifest)?;
    session.end()?;
    tracing::debug!(point = %manifest.id, ms = unix_ms(store.clock().now()) - unix_ms(start_time), "backup committed");
    Ok(manifest)
}

/// The reader's channels: chunks to hash, ids in order, recycled buffers.
struct ReaderIo<'c> {
    work: Sender<(u64, Vec<u8>)>,
    res: Sender<Res>,
    pool: Receiver<Vec<u8>>,
    cancel: Option<&'c AtomicBool>,
}

fn reader(
    sh: &Shared<'_>,
    source: &dyn DiskSource,
    cbt: Option<(&RangeSet, &Manifest)>,
    cs: u64,
    nchunks: u64,
    io: ReaderIo<'_>,
    progress: &dyn Progress,
) -> Result<()> {
    let ReaderIo {
        work,
        res,
        pool,
        cancel,
    } = io;
    let size = source.size();
    let fetch = |id: &ChunkId| sh.store.read_node(sh.index, id);
    let mut prev = match cbt {
        Some((_, p)) => Some(TreeReader::new(p.root, p.height, p.nchunks(), &fetch)?),
        None => None,
    };
    let leaves = nchunks.div_ceil(FANOUT as u64);
    for leaf in 0..leaves {
        if sh.abort.load(Ordering::Relaxed) {
            return Ok(());
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        let first = leaf * FANOUT as u64;
        let count = (nchunks - first).min(FANOUT as u64);
        let span_start = first * cs;
        let span_end = ((first + count) * cs).min(size);
        // Which chunks must be read?
        let prev_ids = match (&mut prev, cbt) {
            (Some(r), Some((ranges, _))) if !ranges.overlaps(span_start, span_end) => {
                let ids = r.leaf(leaf)?;
                if ids.iter().all(|id| sh.index.contains(id)) {
                    sh.chunks_reused.fetch_add(count, Ordering::Relaxed);
                    progress.advance(span_end - span_start);
                    if res.send(Res::Ids(first, ids)).is_err() {
                        return Ok(());
                    }
                    continue;
                }
                Some(ids)
            }
            (Some(r), Some(_)) => Some(r.leaf(leaf)?),
            _ => None,
        };
        let extents = source.map(span_start, span_end - span_start)?;
        if prev_ids.is_none() && extents.iter().all(|e| e.kind == ExtentKind::Zero) {
            sh.chunks_zero.fetch_add(count, Ordering::Relaxed);
            progress.advance(span_end - span_start);
            if res.send(Res::Zeros(first, count)).is_err() {
                return Ok(());
            }
            continue;
        }
        let mut ei = 0usize;
        for c in 0..count {
            let pos = first + c;
            let cstart = pos * cs;
            let cend = (cstart + cs).min(size);
            if let (Some(ids), Some((ranges, _))) = (&prev_ids, cbt) {
                let id = ids[c as usize];
                if !ranges.overlaps(cstart, cend) && sh.index.contains(&id) {
                    sh.chunks_reused.fetch_add(1, Ordering::Relaxed);
                    progress.advance(cend - cstart);
                    if res.send(Res::One(pos, id)).is_err() {
                        return Ok(());
                    }
                    continue;
                }
            }
            // Does any data extent intersect this chunk?
            while ei < extents.len() && extents[ei].offset + extents[ei].len <= cstart {
                ei += 1;
            }
            let has_data = extents[ei..]
                .iter()
                .take_while(|e| e.offset < cend)
                .any(|e| e.kind == ExtentKind::Data);
            if !has_data {
                sh.chunks_zero.fetch_add(1, Ordering::Relaxed);
                progress.advance(cend - cstart);
                if res.send(Res::One(pos, ChunkId::ZERO)).is_err() {
                    return Ok(());
                }
                continue;
            }
            let mut buf = pool.try_recv().unwrap_or_default();
            buf.clear();
            buf.resize((cend - cstart) as usize, 0);
            source.read_at(&mut buf, cstart)?;
            sh.bytes_read.fetch_add(buf.len() as u64, Ordering::Relaxed);
            progress.advance(cend - cstart);
            if work.send((pos, buf)).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn worker(
    sh: &Shared<'_>,
    rx: Receiver<(u64, Vec<u8>)>,
    res: Sender<Res>,
    pack: Sender<PackMsg>,
    (pool_tx, pool_rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>),
) {
    let codec = sh.store.codec();
    for (pos, buf) in rx {
        if sh.abort.load(Ordering::Relaxed) {
            continue;
        }
        let id = codec.chunk_id(&buf);
        if id.is_zero() {
            sh.chunks_zero.fetch_add(1, Ordering::Relaxed);
        } else if sh.claim(&id) {
            let mut enc = pool_rx.try_recv().unwrap_or_default();
            codec.encode_into(BlobKind::Chunk, &id.0, &buf, true, &mut enc);
            sh.bytes_new.fetch_add(buf.len() as u64, Ordering::Relaxed);
            sh.chunks_new.fetch_add(1, Ordering::Relaxed);
            if pack
                .send((BlobKind::Chunk, id, enc, buf.len() as u32))
                .is_err()
            {
                return;
            }
        }
        let _ = pool_tx.try_send(buf);
        if res.send(Res::One(pos, id)).is_err() {
            return;
        }
    }
}

fn pack_writer(
    sh: &Shared<'_>,
    rx: Receiver<PackMsg>,
    pool: Sender<Vec<u8>>,
) -> Result<Vec<(String, Vec<PackEntry>)>> {
    let mut pack = PackWriter::new(sh.store);
    for (kind, id, enc, raw_len) in rx {
        if sh.abort.load(Ordering::Relaxed) {
            continue;
        }
        let r = pack.add(kind, id, &enc, raw_len);
        let _ = pool.try_send(enc);
        match r {
            Ok(n) => {
                sh.bytes_stored.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => sh.fail(e),
        }
    }
    if !sh.abort.load(Ordering::Relaxed) {
        let n = pack.flush()?;
        sh.bytes_stored.fetch_add(n, Ordering::Relaxed);
    }
    Ok(pack.take_written())
}

fn collect(
    sh: &Shared<'_>,
    nchunks: u64,
    rx: Receiver<Res>,
    pack: &Sender<PackMsg>,
) -> Result<(ChunkId, u32)> {
    let codec = sh.store.codec();
    let mut builder = TreeBuilder::new(nchunks);
    let height = builder.height();
    let mut emit = |entries: &[ChunkId]| -> Result<ChunkId> {
        let bytes = crate::tree::encode_node(entries);
        let id = codec.tree_id(&bytes);
        if sh.claim(&id) {
            let enc = codec.encode(BlobKind::Tree, &id.0, &bytes, true);
            pack.send((BlobKind::Tree, id, enc, bytes.len() as u32))
                .map_err(|_| Error::InvalidInput("pack writers stopped".into()))?;
        }
        Ok(id)
    };
    let mut pending: HashMap<u64, Res> = HashMap::new();
    let mut next = 0u64;
    while next < nchunks {
        let Ok(r) = rx.recv() else {
            // Every sender is gone before the disk was covered: a thread failed.
            return Err(sh
                .failed
                .lock()
                .expect("lock")
                .take()
                .unwrap_or_else(|| Error::InvalidInput("backup pipeline stopped early".into())));
        };
        let key = match &r {
            Res::Ids(p, _) | Res::One(p, _) | Res::Zeros(p, _) => *p,
        };
        pending.insert(key, r);
        while let Some(r) = pending.remove(&next) {
            match r {
                Res::One(_, id) => {
                    builder.push(id, &mut emit)?;
                    next += 1;
                }
                Res::Zeros(_, n) => {
                    next += n;
                    for _ in 0..n {
                        builder.push(ChunkId::ZERO, &mut emit)?;
                    }
                }
                Res::Ids(_, ids) => {
                    next += ids.len() as u64;
                    for id in ids {
                        builder.push(id, &mut emit)?;
                    }
                }
            }
        }
    }
    Ok((builder.finish(&mut emit)?, height))
}

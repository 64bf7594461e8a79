//! Restoring a recovery point to an image file.
//!
//! The point's tree is walked in disk order; non-zero chunks are fetched,
//! authenticated, decompressed and hash-checked by parallel workers and
//! written at their offsets. Zero chunks are never written, so a raw restore
//! is sparse. The image is written under a temporary name and renamed into
//! place only when every chunk was verified: a damaged point makes the
//! restore fail and leaves no output behind.

use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::index::{ChunkIndex, Location};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::Store;
use crate::target::qcow2::Qcow2Writer;
use crate::tree::TreeReader;
use crossbeam_channel::bounded;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreFormat {
    /// A sparse raw image.
    #[default]
    Raw,
    /// A qcow2 image with only non-zero clusters allocated.
    Qcow2,
}

/// Options of a restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub format: RestoreFormat,
    /// Worker threads (0: automatic).
    pub threads: usize,
    /// fsync the image before publishing it.
    pub sync: bool,
    /// Set to cancel.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            format: RestoreFormat::Raw,
            threads: 0,
            sync: true,
            cancel: None,
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RestoreStats {
    pub point: String,
    pub size: u64,
    pub bytes_written: u64,
    pub chunks: u64,
    pub chunks_zero: u64,
    pub duration_ms: u64,
}

pub(crate) enum Sink {
    Raw(File),
    Qcow2(Qcow2Writer),
}

impl Sink {
    /// A new image of `size` bytes at `path`, in `format` (`cluster`: the
    /// qcow2 cluster size).
    pub(crate) fn create(
        format: RestoreFormat,
        path: &Path,
        size: u64,
        cluster: u32,
    ) -> Result<Self> {
        Ok(match format {
            RestoreFormat::Raw => {
                let f = create_private(path)?;
                f.set_len(size)
                    .map_err(|e| Error::io(format!("size {}", path.display()), e))?;
                Sink::Raw(f)
            }
            RestoreFormat::Qcow2 => Sink::Qcow2(Qcow2Writer::create(path, size, cluster)?),
        })
    }

    pub(crate) fn write(&self, offset: u64, data: &[u8], cluster: usize) -> Result<()> {
        match self {
            Sink::Raw(f) => f
                .write_all_at(data, offset)
                .map_err(|e| Error::io(format!("write restored image at {offset}"), e)),
            Sink::Qcow2(w) => {
                for (i, piece) in data.chunks(cluster).enumerate() {
                    if !crate::codec::is_zero(piece) {
                        w.write_cluster(offset + (i * cluster) as u64, piece)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Creates (or truncates) a file for restored data, readable and writable
/// by its owner only (0600): a restored disk holds everything its VM had.
pub(crate) fn create_private(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|f| {
            // A file left from before keeps its mode when truncated.
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            Ok(f)
        })
        .map_err(|e| Error::io(format!("create {}", path.display()), e))
}

/// Writer threads of a restore or copy: as asked, or one per core plus one.
pub(crate) fn worker_threads(asked: usize) -> usize {
    if asked == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            + 1
    } else {
        asked
    }
}

pub(crate) fn partial_path(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".rsvault-partial");
    output.with_file_name(name)
}

/// Restores `point` to `output`.
pub fn restore(
    store: &Store,
    point: &Manifest,
    output: &Path,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreStats> {
    let started = Instant::now();
    let _session = store.begin_read_session(&format!("restore {}", point.id));
    let loaded = store.load_index_readable()?;
    let index = &loaded.index;
    let cs = point.chunk_size as u64;
    let nchunks = point.nchunks();
    let partial = partial_path(output);
    let cluster = (cs as usize).min(2 << 20);
    let sink = Sink::create(opts.format, &partial, point.size, cluster as u32)?;
    let threads = worker_threads(opts.threads);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let abort = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let mut zero = 0u64;
    let fail = |e: Error| {
        let mut f = failed.lock().expect("lock");
        if f.is_none() {
            *f = Some(e);
        }
        abort.store(true, Ordering::SeqCst);
    };
    progress.start("restore", point.size);
    let damaged = |e: Error| match e {
        Error::MissingObject(what) => Error::MissingChunk {
            point: point.id.clone(),
            chunk: what,
        },
        e => e,
    };
    std::thread::scope(|s| {
        let (tx, rx) = bounded::<Run>(threads * 2);
        for _ in 0..threads {
            let rx = rx.clone();
            let (sink, fail, abort, written) = (&sink, &fail, &abort, &written);
            s.spawn(move || {
                for run in rx {
                    if abort.load(Ordering::Relaxed) {
                        continue;
                    }
                    let r = read_run(store, index, &run)
                        .map_err(damaged)
                        .and_then(|chunks| {
                            for (pos, id, data) in chunks {
                                let want = (cs.min(point.size - pos * cs)) as usize;
                                if data.len() != want {
                                    return Err(Error::corrupt(
                                        format!("chunk {id}"),
                                        "chunk has the wrong length for its place",
                                    ));
                                }
                                sink.write(pos * cs, &data, cluster)?;
                                written.fetch_add(data.len() as u64, Ordering::Relaxed);
                                progress.advance(data.len() as u64);
                            }
                            Ok(())
                        });
                    if let Err(e) = r {
                        fail(e);
                    }
                }
            });
        }
        drop(rx);
        let fetch = |id: &ChunkId| store.read_node(index, id).map_err(damaged);
        let mut walk = || -> Result<()> {
            let mut reader = TreeReader::new(point.root, point.height, nchunks, &fetch)?;
            let mut runs = Runs::new(index, &tx);
            for leaf in 0..reader.leaves() {
                if abort.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if opts
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    return Err(Error::Cancelled);
                }
                let first = leaf * crate::tree::FANOUT as u64;
                for (i, id) in reader.leaf(leaf)?.into_iter().enumerate() {
                    let pos = first + i as u64;
                    if id.is_zero() {
                        zero += 1;
                        progress.advance(cs.min(point.size - pos * cs));
                    } else if !runs.add(pos, id).map_err(damaged)? {
                        return Ok(());
                    }
                }
            }
            runs.flush();
            Ok(())
        };
        if let Err(e) = walk() {
            fail(e);
        }
        drop(tx);
    });
    progress.finish();
    conclude(
        failed.into_inner().expect("lock"),
        sink,
        opts.sync,
        &partial,
        output,
    )?;
    Ok(RestoreStats {
        point: point.id.clone(),
        size: point.size,
        bytes_written: written.load(Ordering::Relaxed),
        chunks: nchunks,
        chunks_zero: zero,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Chunks read with one ranged request: neighbours in one pack, in the
/// order the disk holds them (a backup stores them in that order).
struct Run {
    pack: u32,
    start: u64,
    end: u64,
    /// Disk position, id and place of each chunk.
    members: Vec<(u64, ChunkId, Location)>,
}

/// Gathers a disk's chunks into [`Run`]s and hands them to the workers.
/// A backup's pack writers take turns, so neighbouring chunks of a disk
/// sit in a few packs at once: a run is kept open per pack.
struct Runs<'a> {
    index: &'a ChunkIndex,
    tx: &'a crossbeam_channel::Sender<Run>,
    open: std::collections::HashMap<u32, Run>,
}

/// Runs kept open at most (one per pack being read).
const OPEN_RUNS: usize = 32;

impl<'a> Runs<'a> {
    fn new(index: &'a ChunkIndex, tx: &'a crossbeam_channel::Sender<Run>) -> Self {
        Runs {
            index,
            tx,
            open: Default::default(),
        }
    }

    /// Adds a chunk; false when the workers are gone (a failure).
    fn add(&mut self, pos: u64, id: ChunkId) -> Result<bool> {
        let loc = *self
            .index
            .get(&id)
            .ok_or_else(|| Error::MissingObject(format!("blob {id} (not in any readable pack)")))?;
        let (start, end) = (loc.offset as u64, loc.offset as u64 + loc.len as u64);
        if let Some(r) = self.open.get_mut(&loc.pack)
            && start >= r.start
            && start <= r.end + crate::pack::READ_GAP
            && end.max(r.end) - r.start <= crate::pack::READ_MAX
        {
            r.end = r.end.max(end);
            r.members.push((pos, id, loc));
            return Ok(true);
        }
        let next = Run {
            pack: loc.pack,
            start,
            end,
            members: vec![(pos, id, loc)],
        };
        if let Some(done) = self.open.insert(loc.pack, next)
            && self.tx.send(done).is_err()
        {
            return Ok(false);
        }
        if self.open.len() > OPEN_RUNS {
            // The run that started longest ago on the disk goes first.
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, r)| r.members[0].0)
                .map(|(p, _)| *p);
            if let Some(done) = oldest.and_then(|p| self.open.remove(&p)) {
                return Ok(self.tx.send(done).is_ok());
            }
        }
        Ok(true)
    }

    fn flush(&mut self) {
        for (_, done) in self.open.drain() {
            let _ = self.tx.send(done);
        }
    }
}

/// Reads a run with one ranged request; each chunk authenticated, decoded
/// and hash-checked.
fn read_run(store: &Store, index: &ChunkIndex, run: &Run) -> Result<Vec<(u64, ChunkId, Vec<u8>)>> {
    let key = crate::pack::pack_key(&index.packs[run.pack as usize]);
    let bytes = store
        .backend()
        .get_range(&key, run.start, run.end - run.start)?;
    run.members
        .iter()
        .map(|(pos, id, loc)| {
            let from = (loc.offset as u64 - run.start) as usize;
            let data =
                store.decode_blob(&key, id, loc.kind, &bytes[from..from + loc.len as usize])?;
            Ok((*pos, *id, data))
        })
        .collect()
}

/// Ends a write of an image: on success the image is made durable and
/// renamed into place; on failure (`failed`, or finishing itself) the
/// partial file is removed and the error returned.
pub(crate) fn conclude(
    failed: Option<Error>,
    sink: Sink,
    sync: bool,
    partial: &Path,
    output: &Path,
) -> Result<()> {
    let result = match failed {
        Some(e) => Err(e),
        None => finish(sink, sync, partial, output),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(partial);
    }
    result
}

fn finish(sink: Sink, sync: bool, partial: &Path, output: &Path) -> Result<()> {
    match sink {
        Sink::Raw(f) => {
            if sync {
                f.sync_all()
                    .map_err(|e| Error::io(format!("fsync {}", partial.display()), e))?;
            }
        }
        Sink::Qcow2(w) => {
            w.finish()?;
        }
    }
    std::fs::rename(partial, output)
        .map_err(|e| Error::io(format!("rename to {}", output.display()), e))?;
    if sync {
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("fsync {}", dir.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn restored_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.raw");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::create_private(&p).unwrap();
        let q = dir.path().join("new.raw");
        super::create_private(&q).unwrap();
        for f in [p, q] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
    }
}

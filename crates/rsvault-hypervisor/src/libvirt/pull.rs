//! Reading a pull-mode backup's NBD exports into the snapshot files: a
//! full export's allocated clusters into a plain qcow2, an incremental
//! export's dirty clusters into a qcow2 overlay on the previous snapshot.

use crate::port::GRANULARITY;
use rsvault_engine::source::nbd::{NbdAddress, NbdOptions, NbdSource};
use rsvault_engine::source::{DiskSource, ExtentKind};
use rsvault_engine::target::qcow2::Qcow2Writer;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One export to copy.
pub struct Copy<'a> {
    /// The export's name (the disk's target, `vda`).
    pub export: &'a str,
    pub target: &'a Path,
    /// The previous snapshot, for an incremental export.
    pub base: Option<&'a Path>,
}

/// Why a copy stopped.
#[derive(Debug)]
pub enum CopyError {
    Cancelled,
    Failed(String),
}

/// An open export and the clusters to copy from it.
pub struct Planned {
    source: NbdSource,
    clusters: Vec<u64>,
    target: PathBuf,
    base: Option<PathBuf>,
}

impl Planned {
    pub fn bytes(&self) -> u64 {
        let size = self.source.size();
        self.clusters
            .iter()
            .map(|&c| GRANULARITY.min(size - c))
            .sum()
    }
}

/// The cluster offsets (multiples of [`GRANULARITY`]) that `ranges` touch.
fn clusters_of(ranges: impl Iterator<Item = (u64, u64)>, size: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for (start, end) in ranges {
        let mut c = start - start % GRANULARITY;
        while c < end.min(size) {
            if out.last() != Some(&c) {
                out.push(c);
            }
            c += GRANULARITY;
        }
    }
    out
}

/// Opens the export and lists what to copy: the dirty clusters of an
/// incremental, the clusters holding data of a full export.
pub fn plan(socket: &Path, c: &Copy<'_>) -> Result<Planned, String> {
    let opts = NbdOptions {
        export: c.export.to_owned(),
        dirty_bitmap: c.base.map(|_| format!("backup-{}", c.export)),
        timeout: Some(Duration::from_secs(120)),
    };
    let src = NbdSource::connect(&NbdAddress::Unix(socket.to_owned()), &opts)
        .map_err(|e| format!("opening the NBD export {}: {e}", c.export))?;
    let size = src.size();
    let clusters = if c.base.is_some() {
        let dirty = src
            .dirty_ranges()
            .map_err(|e| format!("reading the changed blocks of {}: {e}", c.export))?;
        clusters_of(dirty.ranges().iter().copied(), size)
    } else {
        let map = src
            .map(0, size)
            .map_err(|e| format!("reading the allocation map of {}: {e}", c.export))?;
        clusters_of(
            map.iter()
                .filter(|e| e.kind == ExtentKind::Data)
                .map(|e| (e.offset, e.offset + e.len)),
            size,
        )
    };
    Ok(Planned {
        source: src,
        clusters,
        target: c.target.to_owned(),
        base: c.base.map(Path::to_owned),
    })
}

/// Keeps a copy at or under `rate` bytes per second (the `[live]`
/// snapshot rate limit, which spares the guest's IO).
struct Pace {
    rate: Option<u64>,
    start: std::time::Instant,
    done: u64,
}

impl Pace {
    fn new(rate: Option<u64>) -> Self {
        Pace {
            rate: rate.filter(|r| *r > 0),
            start: std::time::Instant::now(),
            done: 0,
        }
    }

    /// Counts `n` bytes, and waits until the copy is back under the rate
    /// (in steps, so a cancel is seen).
    fn take(&mut self, n: u64, cancel: &AtomicBool) {
        let Some(rate) = self.rate else {
            return;
        };
        self.done += n;
        let due = Duration::from_secs_f64(self.done as f64 / rate as f64);
        while let Some(wait) = due.checked_sub(self.start.elapsed()) {
            if cancel.load(Ordering::SeqCst) || wait.is_zero() {
                return;
            }
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
    }
}

/// Copies the planned clusters into the target file, at most `rate` bytes
/// per second. `progress` is told each cluster's bytes.
pub fn copy(
    p: Planned,
    rate: Option<u64>,
    progress: &mut dyn FnMut(u64),
    cancel: &AtomicBool,
) -> Result<(), CopyError> {
    let mut pace = Pace::new(rate);
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        CopyError::Failed(format!("{what} {}: {e}", p.target.display()))
    };
    if let Some(dir) = p.target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed("creating the directory of", &e))?;
    }
    let size = p.source.size();
    let cs = GRANULARITY as u32;
    let w = match &p.base {
        Some(b) => Qcow2Writer::create_overlay(&p.target, size, cs, b, "qcow2"),
        None => Qcow2Writer::create(&p.target, size, cs),
    }
    .map_err(|e| failed("creating", &e))?;
    let mut buf = vec![0u8; GRANULARITY as usize];
    for &c in &p.clusters {
        if cancel.load(Ordering::SeqCst) {
            return Err(CopyError::Cancelled);
        }
        let n = GRANULARITY.min(size - c) as usize;
        p.source
            .read_at(&mut buf[..n], c)
            .map_err(|e| CopyError::Failed(format!("reading the NBD export at {c}: {e}")))?;
        w.write_cluster(c, &buf[..n])
            .map_err(|e| failed("writing", &e))?;
        progress(n as u64);
        pace.take(n as u64, cancel);
    }
    w.finish().map_err(|e| failed("finishing", &e))?;
    let _ = p.source.disconnect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_whole_clusters() {
        const G: u64 = GRANULARITY;
        assert_eq!(clusters_of([(0, 1)].into_iter(), 10 * G), [0]);
        assert_eq!(
            clusters_of([(G - 1, G + 1), (2 * G, 3 * G + 5)].into_iter(), 10 * G),
            [0, G, 2 * G, 3 * G]
        );
        // The last partial cluster of a disk, nothing past the end.
        assert_eq!(clusters_of([(G, 5 * G)].into_iter(), G + 100), [G]);
        assert!(clusters_of(std::iter::empty(), G).is_empty());
    }
}

//! Native qcow2 image writer used by restore.
//!
//! Produces a qcow2 version 3 image (QEMU `docs/interop/qcow2.rst`) with no
//! compression, no encryption, no snapshots and 16-bit refcounts
//! (`refcount_order` 4); optionally an overlay on a backing file
//! ([`Qcow2Writer::create_overlay`]), whose written clusters are then the
//! only ones it defines (all-zero ones as zero clusters, so that they hide
//! the backing file's bytes).
//!
//! Layout of the finished file, in host clusters:
//!
//! ```text
//! 0                      header (zeros until `finish` writes it, last)
//! 1 .. D                 guest data clusters, in the order they were written
//! D .. D+L2              L2 tables, in guest order
//! .. +L1                 the L1 table (at least one cluster)
//! .. +RT                 the refcount table
//! .. +RB                 the refcount blocks
//! ```
//!
//! Every host cluster in the file is in use, so every refcount is 1 and
//! every L1/L2 entry carries the COPIED flag. Guest clusters that are never
//! written stay unallocated (L2 entry 0): zeros, or an overlay's backing
//! file's bytes. Written clusters of all zeros stay unallocated too without
//! a backing file, and become zero clusters (L2 entry 1) in an overlay.
//! An overlay's header cluster also holds the backing format extension and
//! the backing file name.
//!
//! While writing, data clusters get consecutive host offsets under a short
//! mutex (which also records the guest-to-host mapping in lazily allocated
//! L2 tables); the data itself is written with positional writes outside the
//! lock, so several threads can write at once. Memory use is one cluster per
//! L2 table that holds at least one data cluster (1/8192 of the written data
//! at 64 KiB clusters) and nothing for unwritten ranges.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// `QFI\xfb`.
const MAGIC: u32 = 0x5146_49fb;
const VERSION: u32 = 3;
/// Length of the version 3 header without the optional compression-type field.
const HEADER_LENGTH: u32 = 104;
/// 16-bit refcounts.
const REFCOUNT_ORDER: u32 = 4;
const REFCOUNT_BYTES: u64 = 1 << (REFCOUNT_ORDER - 3);
/// L1/L2 entry flag: the cluster's refcount is exactly one.
const OFLAG_COPIED: u64 = 1 << 63;
/// Host offsets must fit in bits 9..=55 of L1/L2 entries.
const MAX_HOST_OFFSET: u64 = (1 << 56) - 1;
/// QEMU refuses images whose active L1 table is larger than this.
const MAX_L1_BYTES: u64 = 32 << 20;
/// QEMU refuses images whose refcount table is larger than this.
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
const MIN_CLUSTER_BITS: u32 = 9;
const MAX_CLUSTER_BITS: u32 = 21;
/// QEMU stores virtual sizes in whole 512-byte sectors.
const SECTOR: u64 = 512;
/// Size of the buffer the metadata is written through in `finish`.
const FLUSH_BYTES: usize = 4 << 20;
/// L2 entry of a cluster that reads as zeros without host data.
const L2_ZERO: u64 = 1;
/// Header extension: the backing file's format name.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// QEMU's longest backing file name.
const MAX_BACKING_NAME: usize = 1023;

/// The file an overlay builds on, as its header names it.
#[derive(Debug, Clone)]
struct Backing {
    name: String,
    format: String,
}

/// Writes a qcow2 (version 3, no compression, no encryption) image, plain
/// or as an overlay on a backing file.
///
/// The virtual size recorded in the header is `virtual_size` rounded up to a
/// multiple of 512 bytes (as `qemu-img create` does); the padding reads as
/// zeros.
pub struct Qcow2Writer {
    file: File,
    path: PathBuf,
    cluster_bits: u32,
    /// Virtual size as given to `create` (data lengths are checked against it).
    virtual_size: u64,
    /// Number of L1 entries.
    l1_entries: u64,
    state: Mutex<State>,
    /// Set when a data write failed after its host cluster was mapped: the
    /// image can then no longer be finished.
    failed: AtomicBool,
    backing: Option<Backing>,
}

struct State {
    /// Host offset of the next data cluster.
    next_host: u64,
    /// L2 tables by L1 index; each holds `cluster_size / 8` entries.
    l2: BTreeMap<u64, Box<[u64]>>,
}

impl Qcow2Writer {
    /// Creates (truncating) `path` as a qcow2 image of `virtual_size` bytes with clusters of `cluster_size` bytes (power of two, 512..=2 MiB; restore uses 65536).
    pub fn create(path: &Path, virtual_size: u64, cluster_size: u32) -> Result<Self> {
        if !cluster_size.is_power_of_two()
            || !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_size.trailing_zeros())
        {
            return Err(Error::InvalidInput(format!(
                "qcow2 cluster size {cluster_size} is not a power of two between 512 bytes and 2 MiB"
            )));
        }
        let cluster_bits = cluster_size.trailing_zeros();
        let cs = u64::from(cluster_size);
        let l2_entries = cs / 8;
        let header_size = virtual_size
            .checked_next_multiple_of(SECTOR)
            .filter(|s| *s <= i64::MAX as u64)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "virtual size {virtual_size} is too large for a qcow2 image"
                ))
            })?;
        let guest_clusters = header_size.div_ceil(cs);
        let l1_entries = guest_clusters.div_ceil(l2_entries);
        if l1_entries * 8 > MAX_L1_BYTES {
            return Err(Error::InvalidInput(format!(
                "virtual size {virtual_size} is too large for a qcow2 image with {cluster_size}-byte clusters \
                 (its L1 table would exceed {MAX_L1_BYTES} bytes); use a larger cluster size"
            )));
        }
        let file = crate::restore::create_private(path)?;
        // Reserve cluster 0 for the header; it stays zeros (not a valid
        // image) until `finish` writes the header.
        file.set_len(cs)
            .map_err(|e| Error::io(format!("sizing {}", path.display()), e))?;
        Ok(Qcow2Writer {
            file,
            path: path.to_owned(),
            cluster_bits,
            virtual_size,
            l1_entries,
            state: Mutex::new(State {
                next_host: cs,
                l2: BTreeMap::new(),
            }),
            failed: AtomicBool::new(false),
            backing: None,
        })
    }

    /// Creates (truncating) `path` as an overlay on `backing` (its name as
    /// the header records it: absolute, or relative to the overlay's
    /// directory) in format `backing_format` (`qcow2`, `raw`). Clusters
    /// never written read from the backing file; written ones, all-zero
    /// ones included, hide it.
    pub fn create_overlay(
        path: &Path,
        virtual_size: u64,
        cluster_size: u32,
        backing: &Path,
        backing_format: &str,
    ) -> Result<Self> {
        let name = backing.to_str().ok_or_else(|| {
            Error::InvalidInput(format!(
                "the backing file name {} is not UTF-8",
                backing.display()
            ))
        })?;
        if name.is_empty() || name.len() > MAX_BACKING_NAME {
            return Err(Error::InvalidInput(format!(
                "the backing file name must be 1 to {MAX_BACKING_NAME} bytes long"
            )));
        }
        if backing_format.is_empty() || !backing_format.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidInput(format!(
                "{backing_format:?} is not a backing format name"
            )));
        }
        if u64::from(cluster_size) < HEADER_LENGTH as u64 + 24 + 8 + name.len() as u64 + 8 {
            return Err(Error::InvalidInput(format!(
                "a {cluster_size}-byte header cluster cannot hold the backing file name"
            )));
        }
        let mut w = Self::create(path, virtual_size, cluster_size)?;
        w.backing = Some(Backing {
            name: name.to_owned(),
            format: backing_format.to_owned(),
        });
        Ok(w)
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Writes one whole guest cluster's data at guest offset `guest_offset` (a multiple of cluster_size). `data.len()` is cluster_size, or shorter only for the final partial cluster of the disk. May be called from several threads at once, in any order, each guest cluster at most once. Clusters never written read as zeros (unallocated).
    ///
    /// A cluster whose data is all zeros is left unallocated too, or made a
    /// zero cluster in an overlay.
    pub fn write_cluster(&self, guest_offset: u64, data: &[u8]) -> Result<()> {
        let cs = self.cluster_size();
        if !guest_offset.is_multiple_of(cs) {
            return Err(Error::InvalidInput(format!(
                "qcow2 write at guest offset {guest_offset} is not aligned to the {cs}-byte cluster size"
            )));
        }
        if guest_offset >= self.virtual_size {
            return Err(Error::InvalidInput(format!(
                "qcow2 write at guest offset {guest_offset} is beyond the virtual size {}",
                self.virtual_size
            )));
        }
        let expected = cs.min(self.virtual_size - guest_offset);
        if data.len() as u64 != expected {
            return Err(Error::InvalidInput(format!(
                "qcow2 write at guest offset {guest_offset} has {} bytes, expected {expected}",
                data.len()
            )));
        }
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.failed_error());
        }
        let zero = is_zero(data);
        if zero && self.backing.is_none() {
            return Ok(());
        }

        let guest_cluster = guest_offset >> self.cluster_bits;
        let l2_bits = self.cluster_bits - 3;
        let l1_index = guest_cluster >> l2_bits;
        let l2_index = (guest_cluster & ((1 << l2_bits) - 1)) as usize;
        let host = {
            // Nothing panics while the lock is held with the state half
            // updated, so a poisoned lock still guards consistent state.
            let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let State { next_host, l2 } = &mut *guard;
            let table = l2
                .entry(l1_index)
                .or_insert_with(|| vec![0u64; (cs / 8) as usize].into_boxed_slice());
            if table[l2_index] != 0 {
                return Err(Error::InvalidInput(format!(
                    "qcow2 guest cluster at offset {guest_offset} written twice"
                )));
            }
            if zero {
                table[l2_index] = L2_ZERO;
                return Ok(());
            }
            let host = *next_host;
            if host + cs > MAX_HOST_OFFSET {
                return Err(Error::InvalidInput(format!(
                    "{}: qcow2 image grew beyond the largest host offset",
                    self.path.display()
                )));
            }
            *next_host += cs;
            table[l2_index] = host | OFLAG_COPIED;
            host
        };
        self.file.write_all_at(data, host).map_err(|e| {
            self.failed.store(true, Ordering::Relaxed);
            Error::io(
                format!(
                    "writing guest offset {guest_offset} to {}",
                    self.path.display()
                ),
                e,
            )
        })
    }

    fn failed_error(&self) -> Error {
        Error::InvalidInput(format!(
            "{}: an earlier write to this qcow2 image failed; it cannot be completed",
            self.path.display()
        ))
    }

    /// Writes the L1/L2 tables, refcount structures and header, fsyncs the file, and returns the file size. Nothing is valid before this returns Ok.
    pub fn finish(mut self) -> Result<u64> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.failed_error());
        }
        let cs = self.cluster_size();
        let ctx = |what: &str| format!("{} {}", what, self.path.display());
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        let state = State {
            next_host: state.next_host,
            l2: std::mem::take(&mut state.l2),
        };

        let l2_offset = state.next_host;
        let l1_offset = l2_offset + state.l2.len() as u64 * cs;
        let l1_clusters = (self.l1_entries * 8).div_ceil(cs).max(1);
        let reftable_offset = l1_offset + l1_clusters * cs;
        let layout = RefcountLayout::compute(reftable_offset / cs, cs);
        if layout.table_clusters * cs > MAX_REFTABLE_BYTES {
            return Err(Error::InvalidInput(format!(
                "{}: qcow2 refcount table would exceed {MAX_REFTABLE_BYTES} bytes; use a larger cluster size",
                self.path.display()
            )));
        }
        let blocks_offset = reftable_offset + layout.table_clusters * cs;
        let end = layout.total_clusters * cs;
        if end > MAX_HOST_OFFSET {
            return Err(Error::InvalidInput(format!(
                "{}: qcow2 image grew beyond the largest host offset",
                self.path.display()
            )));
        }

        let mut out = SeqWriter::new(&self.file, l2_offset);
        let w = |r: std::io::Result<()>| r.map_err(|e| Error::io(ctx("writing metadata of"), e));

        // L2 tables, in L1 order; the L1 table points at them.
        let mut l1 = vec![0u64; self.l1_entries as usize];
        for (i, (&l1_index, table)) in state.l2.iter().enumerate() {
            l1[l1_index as usize] = (l2_offset + i as u64 * cs) | OFLAG_COPIED;
            for &entry in table.iter() {
                w(out.push(&entry.to_be_bytes()))?;
            }
        }
        drop(state);

        // L1 table, padded to whole clusters.
        debug_assert_eq!(out.pos(), l1_offset);
        for &entry in &l1 {
            w(out.push(&entry.to_be_bytes()))?;
        }
        drop(l1);
        w(out.zero_to(reftable_offset))?;

        // Refcount table.
        for i in 0..layout.blocks {
            w(out.push(&(blocks_offset + i * cs).to_be_bytes()))?;
        }
        w(out.zero_to(blocks_offset))?;

        // Refcount blocks: every cluster of the file has refcount 1.
        let per_block = cs / REFCOUNT_BYTES;
        let full_block: Vec<u8> = 1u16.to_be_bytes().repeat((cs / REFCOUNT_BYTES) as usize);
        for i in 0..layout.blocks {
            let used = layout
                .total_clusters
                .saturating_sub(i * per_block)
                .min(per_block);
            let bytes = (used * REFCOUNT_BYTES) as usize;
            w(out.push(&full_block[..bytes]))?;
            w(out.zero_to(blocks_offset + (i + 1) * cs))?;
        }
        debug_assert_eq!(out.pos(), end);
        w(out.flush())?;
        self.file
            .set_len(end)
            .map_err(|e| Error::io(ctx("sizing"), e))?;
        // Make tables and data durable before the header makes them valid.
        self.file
            .sync_all()
            .map_err(|e| Error::io(ctx("syncing"), e))?;

        let header = self.header(l1_offset, reftable_offset, layout.table_clusters);
        self.file
            .write_all_at(&header, 0)
            .map_err(|e| Error::io(ctx("writing header of"), e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io(ctx("syncing"), e))?;
        Ok(end)
    }

    /// The version 3 header followed by the end-of-extensions marker.
    fn header(&self, l1_offset: u64, reftable_offset: u64, reftable_clusters: u64) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER_LENGTH as usize + 8);
        h.extend_from_slice(&MAGIC.to_be_bytes());
        h.extend_from_slice(&VERSION.to_be_bytes());
        // The backing file name follows the header extensions.
        let ext_len = self
            .backing
            .as_ref()
            .map_or(0, |b| 8 + b.format.len().next_multiple_of(8));
        let (name_offset, name_len) = match &self.backing {
            Some(b) => (
                (HEADER_LENGTH as usize + ext_len + 8) as u64,
                b.name.len() as u32,
            ),
            None => (0, 0),
        };
        h.extend_from_slice(&name_offset.to_be_bytes()); // backing_file_offset
        h.extend_from_slice(&name_len.to_be_bytes()); // backing_file_size
        h.extend_from_slice(&self.cluster_bits.to_be_bytes());
        let size = self.virtual_size.next_multiple_of(SECTOR);
        h.extend_from_slice(&size.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes()); // crypt_method
        h.extend_from_slice(&(self.l1_entries as u32).to_be_bytes());
        h.extend_from_slice(&l1_offset.to_be_bytes());
        h.extend_from_slice(&reftable_offset.to_be_bytes());
        h.extend_from_slice(&(reftable_clusters as u32).to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes()); // nb_snapshots
        h.extend_from_slice(&0u64.to_be_bytes()); // snapshots_offset
        h.extend_from_slice(&0u64.to_be_bytes()); // incompatible_features
        h.extend_from_slice(&0u64.to_be_bytes()); // compatible_features
        h.extend_from_slice(&0u64.to_be_bytes()); // autoclear_features
        h.extend_from_slice(&REFCOUNT_ORDER.to_be_bytes());
        h.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
        debug_assert_eq!(h.len(), HEADER_LENGTH as usize);
        if let Some(b) = &self.backing {
            h.extend_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
            h.extend_from_slice(&(b.format.len() as u32).to_be_bytes());
            h.extend_from_slice(b.format.as_bytes());
            h.resize(h.len().next_multiple_of(8), 0);
        }
        h.extend_from_slice(&[0u8; 8]); // header extension type 0: end
        if let Some(b) = &self.backing {
            debug_assert_eq!(h.len() as u64, name_offset);
            h.extend_from_slice(b.name.as_bytes());
        }
        h
    }
}

/// Sizes of the refcount structures for an image whose other clusters
/// (header, data, L2, L1) number `base_clusters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RefcountLayout {
    table_clusters: u64,
    blocks: u64,
    /// All clusters of the file, refcount structures included.
    total_clusters: u64,
}

impl RefcountLayout {
    /// The refcount table and blocks must also count themselves: grow them
    /// until they cover everything, themselves included.
    fn compute(base_clusters: u64, cluster_size: u64) -> Self {
        let per_block = cluster_size / REFCOUNT_BYTES;
        let per_table_cluster = cluster_size / 8;
        let (mut table_clusters, mut blocks) = (0, 0);
        loop {
            let total_clusters = base_clusters + table_clusters + blocks;
            let need_blocks = total_clusters.div_ceil(per_block);
            let need_table = need_blocks.div_ceil(per_table_cluster);
            if need_blocks == blocks && need_table == table_clusters {
                return RefcountLayout {
                    table_clusters,
                    blocks,
                    total_clusters,
                };
            }
            // Both only grow, and each step adds far less than it covers, so
            // this ends after a few rounds.
            blocks = need_blocks.max(blocks);
            table_clusters = need_table.max(table_clusters);
        }
    }
}

/// Buffered sequential writes at increasing offsets via positional writes.
struct SeqWriter<'a> {
    file: &'a File,
    /// File offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
}

impl<'a> SeqWriter<'a> {
    fn new(file: &'a File, start: u64) -> Self {
        SeqWriter {
            file,
            start,
            buf: Vec::with_capacity(FLUSH_BYTES),
        }
    }

    fn pos(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    fn push(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends zeros up to file offset `offset`.
    fn zero_to(&mut self, offset: u64) -> std::io::Result<()> {
        debug_assert!(offset >= self.pos());
        let new_len = self.buf.len() + (offset - self.pos()) as usize;
        self.buf.resize(new_len, 0);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_all_at(&self.buf, self.start)?;
        self.start += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn is_zero(data: &[u8]) -> bool {
    let mut chunks = data.chunks_exact(16);
    chunks
        .by_ref()
        .all(|c| c.try_into().is_ok_and(|a| u128::from_ne_bytes(a) == 0))
        && chunks.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::Arc;

    const QEMU_IMG: &str = "/usr/bin/qemu-img";
    const QEMU_IO: &str = "/usr/bin/qemu-io";

    fn tool(path: &str) -> Command {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install qemu-utils (apt-get install qemu-utils) to run the qcow2 writer tests"
        );
        Command::new(path)
    }

    fn run(cmd: &mut Command) -> (bool, String) {
        let out = cmd.output().expect("running qemu tool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `qemu-img check` must succeed with no errors and no leaks.
    fn check_clean(path: &Path) {
        let (ok, text) = run(tool(QEMU_IMG).args(["check", "-f", "qcow2"]).arg(path));
        assert!(ok, "qemu-img check failed:\n{text}");
        assert!(
            text.contains("No errors were found on the image."),
            "qemu-img check output:\n{text}"
        );
        assert!(!text.contains("leak"), "qemu-img check output:\n{text}");
        let (ok, json) = run(tool(QEMU_IMG)
            .args(["check", "-f", "qcow2", "--output=json"])
            .arg(path));
        assert!(ok, "qemu-img check --output=json failed:\n{json}");
        let v: serde_json::Value = serde_json::from_str(&json).expect("check json");
        assert_eq!(v["check-errors"], 0, "{json}");
        assert!(v.get("leaks").is_none_or(|l| l == 0), "{json}");
        assert!(v.get("corruptions").is_none_or(|c| c == 0), "{json}");
        assert_eq!(
            v["image-end-offset"].as_u64(),
            Some(std::fs::metadata(path).unwrap().len()),
            "{json}"
        );
    }

    fn info(path: &Path) -> serde_json::Value {
        let (ok, json) = run(tool(QEMU_IMG)
            .args(["info", "-f", "qcow2", "--output=json"])
            .arg(path));
        assert!(ok, "qemu-img info failed:\n{json}");
        serde_json::from_str(&json).expect("info json")
    }

    fn convert_to_raw(path: &Path, dir: &Path) -> Vec<u8> {
        let raw = dir.join("out.raw");
        let (ok, text) = run(tool(QEMU_IMG)
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(path)
            .arg(&raw));
        assert!(ok, "qemu-img convert failed:\n{text}");
        std::fs::read(&raw).unwrap()
    }

    /// xorshift64*: deterministic pseudo-random bytes.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.next() as u8;
            }
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                v.swap(i, (self.next() % (i as u64 + 1)) as usize);
            }
        }
    }

    /// Writes `clusters` (guest offset, data) from `threads` threads.
    fn write_parallel(w: &Arc<Qcow2Writer>, clusters: Vec<(u64, Vec<u8>)>, threads: usize) {
        let clusters = Arc::new(clusters);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (w, clusters) = (Arc::clone(w), Arc::clone(&clusters));
                std::thread::spawn(move || {
                    for (off, data) in clusters.iter().skip(t).step_by(threads) {
                        w.write_cluster(*off, data).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    fn finish(w: Arc<Qcow2Writer>) -> u64 {
        Arc::into_inner(w)
            .expect("writer still shared")
            .finish()
            .unwrap()
    }

    #[test]
    fn writer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Qcow2Writer>();
    }

    #[test]
    fn mixed_disk_round_trips_through_qemu() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.qcow2");
        let cs = 65536u64;
        let size = (10 << 20) + 1000;
        let mut expected = vec![0u8; size as usize];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut clusters = Vec::new();
        for (i, off) in (0..size).step_by(cs as usize).enumerate() {
            let len = cs.min(size - off) as usize;
            let last = off + cs >= size;
            // Write about 2/3 of the clusters (always the last, partial one);
            // some of the written ones are all zeros.
            match (last, i % 3, i % 7) {
                (false, 0, _) => continue,
                (false, _, 5) => clusters.push((off, vec![0u8; len])),
                _ => {
                    let mut data = vec![0u8; len];
                    rng.fill(&mut data);
                    expected[off as usize..off as usize + len].copy_from_slice(&data);
                    clusters.push((off, data));
                }
            }
        }
        rng.shuffle(&mut clusters);
        let w = Arc::new(Qcow2Writer::create(&path, size, cs as u32).unwrap());
        write_parallel(&w, clusters, 4);
        let file_size = finish(w);
        assert_eq!(file_size, std::fs::metadata(&path).unwrap().len());

        check_clean(&path);
        let info = info(&path);
        // The virtual size is rounded up to whole sectors, as qemu-img does.
        let padded = size.next_multiple_of(512);
        assert_eq!(info["virtual-size"].as_u64(), Some(padded), "{info}");
        assert_eq!(info["format"], "qcow2");
        assert_eq!(info["cluster-size"].as_u64(), Some(cs));
        let raw = convert_to_raw(&path, dir.path());
        expected.resize(padded as usize, 0);
        assert!(
            raw == expected,
            "converted image differs from the written data"
        );
    }

    #[test]
    fn huge_sparse_disk_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse.qcow2");
        let cs = 65536u64;
        let size = 2u64 << 40;
        let offsets = [
            0,
            cs,
            123 * cs,
            (1 << 30) + 5 * cs,
            (700u64 << 30) + 77 * cs,
            (1u64 << 40) + 9 * cs,
            size - cs,
        ];
        let clusters: Vec<_> = offsets
            .iter()
            .enumerate()
            .map(|(i, &off)| (off, vec![0x11 * (i as u8 + 1); cs as usize]))
            .collect();
        let start = std::time::Instant::now();
        let w = Arc::new(Qcow2Writer::create(&path, size, cs as u32).unwrap());
        write_parallel(&w, clusters, 3);
        let file_size = finish(w);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "took {:?}",
            start.elapsed()
        );
        assert!(file_size < 4 << 20, "file is {file_size} bytes");
        assert_eq!(file_size, std::fs::metadata(&path).unwrap().len());

        check_clean(&path);
        assert_eq!(info(&path)["virtual-size"].as_u64(), Some(size));
        let mut args = Vec::new();
        for (i, &off) in offsets.iter().enumerate() {
            args.push(format!("read -P {} {off} {cs}", 0x11 * (i + 1)));
        }
        // Unwritten ranges read as zeros, including right after written ones.
        for off in [
            2 * cs,
            122 * cs,
            124 * cs,
            1 << 30,
            (1 << 40) + 8 * cs,
            size - 2 * cs,
        ] {
            args.push(format!("read -P 0 {off} {cs}"));
        }
        // A failing pattern must be detected by this harness.
        args.push(format!("read -P 0 {} 512", 123 * cs));
        let mut cmd = tool(QEMU_IO);
        cmd.args(["-f", "qcow2"]);
        for a in &args {
            cmd.args(["-c", a]);
        }
        let (_, text) = run(cmd.arg(&path));
        let failures = text.matches("Pattern verification failed").count();
        assert_eq!(failures, 1, "qemu-io output:\n{text}");
        assert!(
            text.lines().filter(|l| l.starts_with("read ")).count() >= args.len() - 1,
            "qemu-io output:\n{text}"
        );
        assert!(
            text.contains(&format!(
                "Pattern verification failed at offset {}",
                123 * cs
            )),
            "qemu-io output:\n{text}"
        );
    }

    #[test]
    fn many_refcount_blocks_and_l2_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small-clusters.qcow2");
        let cs = 512u64;
        let size = 16u64 << 20; // 32768 clusters
        let mut rng = Rng(42);
        let mut expected = vec![0u8; size as usize];
        let mut clusters = Vec::new();
        for off in (0..size).step_by(cs as usize) {
            if rng.next() % 8 < 5 {
                let mut data = vec![0u8; cs as usize];
                rng.fill(&mut data);
                data[0] |= 1;
                expected[off as usize..(off + cs) as usize].copy_from_slice(&data);
                clusters.push((off, data));
            }
        }
        let written = clusters.len() as u64;
        rng.shuffle(&mut clusters);
        let w = Arc::new(Qcow2Writer::create(&path, size, cs as u32).unwrap());
        write_parallel(&w, clusters, 4);
        let file_size = finish(w);
        // ~20000 data clusters: ~80 refcount blocks of 256 clusters, so two
        // refcount table clusters of 64 entries each; 512 L2 tables.
        assert!(written > 16384, "{written}");
        let h = std::fs::read(&path).unwrap();
        let be32 = |o: usize| u32::from_be_bytes(h[o..o + 4].try_into().unwrap());
        let be64 = |o: usize| u64::from_be_bytes(h[o..o + 8].try_into().unwrap());
        assert_eq!(be32(36), 512, "L1 entries");
        let l1 = be64(40) as usize;
        assert!(
            (0..512).all(|i| be64(l1 + 8 * i) != 0),
            "every L2 table allocated"
        );
        assert_eq!(be32(56), 2, "refcount table clusters");
        let reftable = be64(48) as usize;
        let blocks = (0..128).filter(|i| be64(reftable + 8 * i) != 0).count() as u64;
        assert_eq!(blocks, (file_size / cs).div_ceil(256), "refcount blocks");
        assert!(blocks > 64, "{blocks}");
        check_clean(&path);
        let raw = convert_to_raw(&path, dir.path());
        assert!(
            raw == expected,
            "converted image differs from the written data"
        );
    }

    /// Data cluster counts around the point where the refcount structures
    /// themselves need one more refcount block.
    #[test]
    fn refcount_block_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let cs = 512u64;
        let size = 512 * cs;
        for n in 245..=260u64 {
            let path = dir.path().join(format!("b{n}.qcow2"));
            let w = Qcow2Writer::create(&path, size, cs as u32).unwrap();
            for i in 0..n {
                w.write_cluster(i * cs, &[(i % 251) as u8 + 1; 512])
                    .unwrap();
            }
            w.finish().unwrap();
            check_clean(&path);
            let raw = convert_to_raw(&path, dir.path());
            assert_eq!(raw.len() as u64, size);
            for i in 0..size / cs {
                let want = if i < n { (i % 251) as u8 + 1 } else { 0 };
                let c = &raw[(i * cs) as usize..((i + 1) * cs) as usize];
                assert!(c.iter().all(|&b| b == want), "n {n} cluster {i}");
            }
        }
    }

    #[test]
    fn refcount_layout_fixed_point() {
        for cs in [512u64, 4096, 65536] {
            let per_block = cs / 2;
            let per_table = cs / 8;
            for base in (1..3 * per_block).chain([per_block * per_table - 5, 1 << 30]) {
                let l = RefcountLayout::compute(base, cs);
                assert_eq!(l.total_clusters, base + l.blocks + l.table_clusters);
                assert!(
                    l.blocks * per_block >= l.total_clusters,
                    "{cs} {base} {l:?}"
                );
                assert!(
                    l.table_clusters * per_table >= l.blocks,
                    "{cs} {base} {l:?}"
                );
                // Minimal: one block fewer would not cover everything.
                assert!(
                    (l.blocks - 1) * per_block < l.total_clusters,
                    "{cs} {base} {l:?}"
                );
            }
        }
        assert_eq!(
            RefcountLayout::compute(254, 512),
            RefcountLayout {
                table_clusters: 1,
                blocks: 1,
                total_clusters: 256
            }
        );
        assert_eq!(
            RefcountLayout::compute(255, 512),
            RefcountLayout {
                table_clusters: 1,
                blocks: 2,
                total_clusters: 258
            }
        );
    }

    #[test]
    fn empty_disk_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.qcow2");
        let w = Qcow2Writer::create(&path, 1 << 30, 65536).unwrap();
        let size = w.finish().unwrap();
        assert_eq!(size, 4 * 65536);
        check_clean(&path);
        assert_eq!(info(&path)["virtual-size"].as_u64(), Some(1 << 30));
    }

    #[test]
    fn argument_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("args.qcow2");
        for bad in [0u32, 256, 1000, 4 << 20, 65535] {
            assert!(
                matches!(
                    Qcow2Writer::create(&path, 1 << 20, bad),
                    Err(Error::InvalidInput(_))
                ),
                "cluster size {bad}"
            );
        }
        // L1 table would exceed QEMU's limit.
        assert!(matches!(
            Qcow2Writer::create(&path, 1 << 50, 512),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Qcow2Writer::create(&path, u64::MAX, 65536),
            Err(Error::InvalidInput(_))
        ));

        let cs = 4096usize;
        let size = 10 * cs as u64 + 100;
        let w = Qcow2Writer::create(&path, size, cs as u32).unwrap();
        let full = vec![7u8; cs];
        let bad = |r: Result<()>| matches!(r, Err(Error::InvalidInput(_)));
        assert!(bad(w.write_cluster(1, &full)), "unaligned");
        assert!(bad(w.write_cluster(cs as u64 + 512, &full)), "unaligned");
        assert!(
            bad(w.write_cluster(11 * cs as u64, &full[..100])),
            "beyond size"
        );
        assert!(bad(w.write_cluster(1 << 40, &full)), "beyond size");
        assert!(bad(w.write_cluster(0, &full[..cs - 1])), "short");
        assert!(bad(w.write_cluster(0, &[7u8; 8192])), "long");
        assert!(bad(w.write_cluster(10 * cs as u64, &full)), "long final");
        assert!(
            bad(w.write_cluster(10 * cs as u64, &full[..99])),
            "short final"
        );
        w.write_cluster(10 * cs as u64, &full[..100]).unwrap();
        w.write_cluster(0, &full).unwrap();
        assert!(bad(w.write_cluster(0, &full)), "written twice");
        w.finish().unwrap();
        check_clean(&path);
        let raw = convert_to_raw(&path, dir.path());
        let mut expected = vec![0u8; size.next_multiple_of(512) as usize];
        expected[..cs].fill(7);
        expected[10 * cs..10 * cs + 100].fill(7);
        assert!(raw == expected);
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 100]));
        let mut v = vec![0u8; 100];
        for i in [0, 15, 16, 95, 96, 99] {
            v[i] = 1;
            assert!(!is_zero(&v), "{i}");
            v[i] = 0;
        }
    }
}

#[cfg(test)]
mod overlay_tests {
    use super::*;
    use crate::source::DiskSource;
    use std::process::Command;

    const CS: u64 = 65536;

    fn qemu(args: &[&str], path: &Path) -> String {
        let out = Command::new("qemu-img")
            .args(args)
            .arg(path)
            .output()
            .expect("qemu-img (apt-get install qemu-utils)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "qemu-img {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    #[test]
    fn an_overlay_hides_the_backing_file_only_where_it_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.qcow2");
        let size = 8 * CS + 4096;
        let mut raw = vec![0x55u8; size as usize];
        raw[..CS as usize].fill(0x11);
        let raw_path = dir.path().join("base.raw");
        std::fs::write(&raw_path, &raw).unwrap();
        let out = Command::new("qemu-img")
            .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
            .arg(&raw_path)
            .arg(&base)
            .status()
            .unwrap();
        assert!(out.success());

        let top = dir.path().join("top.qcow2");
        let w = Qcow2Writer::create_overlay(&top, size, CS as u32, &base, "qcow2").unwrap();
        w.write_cluster(2 * CS, &vec![0x77u8; CS as usize]).unwrap();
        // Zeros written over the backing file's 0x55 must read as zeros.
        w.write_cluster(4 * CS, &vec![0u8; CS as usize]).unwrap();
        assert!(
            w.write_cluster(4 * CS, &[0u8; CS as usize]).is_err(),
            "twice"
        );
        w.finish().unwrap();

        let check = qemu(&["check", "-f", "qcow2"], &top);
        assert!(check.contains("No errors"), "{check}");
        let info: serde_json::Value =
            serde_json::from_str(&qemu(&["info", "--output=json"], &top)).unwrap();
        assert_eq!(info["backing-filename"], base.to_str().unwrap());
        assert_eq!(info["backing-filename-format"], "qcow2");

        let mut want = raw.clone();
        want[2 * CS as usize..3 * CS as usize].fill(0x77);
        want[4 * CS as usize..5 * CS as usize].fill(0);
        let flat = dir.path().join("flat.raw");
        let out = Command::new("qemu-img")
            .args(["convert", "-q", "-O", "raw"])
            .arg(&top)
            .arg(&flat)
            .status()
            .unwrap();
        assert!(out.success());
        assert!(
            std::fs::read(&flat).unwrap() == want,
            "qemu reads the chain"
        );

        let img = crate::source::qcow2::Qcow2Image::open(&top).unwrap();
        let mut got = vec![0u8; size as usize];
        img.read_at(&mut got, 0).unwrap();
        assert!(got == want, "rsvault reads the chain");
        let here = img.allocated_here().unwrap();
        assert_eq!(here.ranges(), [(2 * CS, 3 * CS), (4 * CS, 5 * CS)]);
    }

    #[test]
    fn overlay_arguments_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top.qcow2");
        let long = "a".repeat(MAX_BACKING_NAME + 1);
        for (name, fmt) in [
            ("", "qcow2"),
            (long.as_str(), "qcow2"),
            ("/b", "q c"),
            ("/b", ""),
        ] {
            assert!(
                Qcow2Writer::create_overlay(&top, CS, CS as u32, Path::new(name), fmt).is_err(),
                "{name:?} {fmt:?}"
            );
        }
        assert!(
            Qcow2Writer::create_overlay(&top, CS, 512, Path::new(&"b".repeat(500)), "raw").is_err()
        );
    }
}

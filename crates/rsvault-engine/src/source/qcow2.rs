//! qcow2 images (versions 2 and 3), read natively.
//!
//! Supported: normal, zero and compressed clusters (zlib/deflate and zstd),
//! unallocated clusters (zeros, or the backing file's bytes), backing chains
//! of any format rsvault reads (relative names are resolved against the
//! image's directory), images with the dirty bit set (the bit only concerns
//! refcounts). Refused: encryption, external data files, extended L2 entries
//! (subclusters), unknown incompatible features, and images marked corrupt.
//! Snapshots are ignored: the active L1 table is read.
//!
//! Every header field, table offset and L2 entry is bounds-checked, so any
//! input gives either a readable disk or a clean error.

use super::{DiskSource, Extent, ExtentKind, ImageFormat, check_range, coalesce};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FORMAT: &str = "qcow2";
const MAGIC: u32 = 0x5146_49fb;
/// Longest backing chain followed below an image.
const MAX_BACKING_DEPTH: usize = 16;
/// Largest active L1 table accepted, in bytes (QEMU's own limit).
const MAX_L1_BYTES: u64 = 32 << 20;
/// Memory the L2 table cache may use.
const L2_CACHE_BYTES: u64 = 32 << 20;
const L2_CACHE_MAX_TABLES: u64 = 1024;
/// Longest backing file name (QEMU's limit).
const MAX_BACKING_NAME: u32 = 1023;

const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_NAMES: u32 = 0x6803_f857;

/// Host offset bits of L1 and standard L2 entries (bits 9..=55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_COMPRESSED: u64 = 1 << 62;
const L2_ZERO: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Zlib,
    Zstd,
}

/// What one guest cluster (or a run of clusters without an L2 table) maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cluster {
    /// Not allocated here: the backing file's bytes, or zeros.
    Unallocated,
    /// Reads as zeros.
    Zero,
    /// Stored uncompressed at this host offset (cluster-aligned).
    Normal(u64),
    /// Compressed data at this host offset, at most this many bytes long.
    Compressed { offset: u64, len: u64 },
}

/// A bounded least-recently-used cache of L2 tables, keyed by host offset.
#[derive(Debug, Default)]
struct L2Cache {
    tables: HashMap<u64, (Arc<[u64]>, u64)>,
    tick: u64,
}

/// A qcow2 image opened read-only, with its backing chain.
pub struct Qcow2Image {
    file: File,
    path: PathBuf,
    file_len: u64,
    size: u64,
    cluster_bits: u32,
    /// log2 of the number of entries of an L2 table.
    l2_bits: u32,
    l1: Vec<u64>,
    compression: Compression,
    backing: Option<Box<dyn DiskSource>>,
    l2_cache: Mutex<L2Cache>,
    l2_cache_cap: usize,
    /// The last decompressed cluster, keyed by its host offset.
    last_compressed: Mutex<Option<(u64, Vec<u8>)>>,
}

impl std::fmt::Debug for Qcow2Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qcow2Image")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("cluster_bits", &self.cluster_bits)
            .field("compression", &self.compression)
            .field("backing", &self.backing.as_ref().map(|b| b.format()))
            .finish_non_exhaustive()
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidImage {
        path: path.to_owned(),
        format: FORMAT,
        reason: reason.into(),
    }
}

fn unsupported(path: &Path, reason: impl Into<String>) -> Error {
    Error::UnsupportedImage {
        path: path.to_owned(),
        format: FORMAT,
        reason: reason.into(),
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads `buf.len()` bytes at `offset`; a read past the end of the file is a
/// truncated image.
fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64, what: &str) -> Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid(
                path,
                format!(
                    "{what} at offset {offset} runs past the end of the file (truncated image?)"
                ),
            )
        } else {
            Error::io(format!("read {} at {offset}", path.display()), e)
        }
    })
}

/// Names of incompatible feature bits from the feature name table extension.
fn feature_names(table: &[(u8, u8, String)], bits: u64) -> String {
    (0..64u8)
        .filter(|b| bits & (1u64 << b) != 0)
        .map(|b| {
            table
                .iter()
                .find(|(t, bit, _)| *t == 0 && *bit == b)
                .map(|(_, _, n)| format!("bit {b} ({n})"))
                .unwrap_or_else(|| format!("bit {b}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Qcow2Image {
    /// Opens a qcow2 image read-only, with its backing chain.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_in_chain(path, &mut Vec::new())
    }

    /// Opens `path` as a member of a backing chain whose overlays (canonical
    /// paths, topmost first) are in `chain`.
    fn open_in_chain(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();

        // Fixed part of the header: 72 bytes for v2, 104 for v3.
        if file_len < 72 {
            return Err(invalid(
                path,
                format!(
                    "the file is {file_len} bytes long, shorter than a qcow2 header (truncated?)"
                ),
            ));
        }
        let mut h = [0u8; 112];
        let head_len = file_len.min(112) as usize;
        read_exact_at(&file, path, &mut h[..head_len], 0, "header")?;
        if be32(&h, 0) != MAGIC {
            return Err(invalid(path, "bad magic (not a qcow2 image)"));
        }
        let version = be32(&h, 4);
        if version != 2 && version != 3 {
            return Err(unsupported(
                path,
                format!("qcow2 version {version} (rsvault reads versions 2 and 3)"),
            ));
        }
        let backing_file_offset = be64(&h, 8);
        let backing_file_size = be32(&h, 16);
        let cluster_bits = be32(&h, 20);
        let size = be64(&h, 24);
        let crypt_method = be32(&h, 32);
        let l1_size = be32(&h, 36);
        let l1_table_offset = be64(&h, 40);
        let refcount_table_offset = be64(&h, 48);
        let refcount_table_clusters = be32(&h, 56);
        let nb_snapshots = be32(&h, 60);
        let snapshots_offset = be64(&h, 64);

        if !(9..=21).contains(&cluster_bits) {
            return Err(invalid(
                path,
                format!("cluster_bits {cluster_bits} is outside 9..=21"),
            ));
        }
        let cluster_size = 1u64 << cluster_bits;

        let (incompat, header_length, compression_type) = if version == 3 {
            if file_len < 104 {
                return Err(invalid(
                    path,
                    format!(
                        "the file is {file_len} bytes long, shorter than a version 3 header (truncated?)"
                    ),
                ));
            }
            let header_length = be32(&h, 100);
            if header_length < 104 {
                return Err(invalid(
                    path,
                    format!("header_length {header_length} is shorter than 104"),
                ));
            }
            if u64::from(header_length) > cluster_size {
                return Err(invalid(
                    path,
                    format!("header_length {header_length} exceeds the cluster size"),
                ));
            }
            if u64::from(header_length) > file_len {
                return Err(invalid(
                    path,
                    "the header runs past the end of the file (truncated?)",
                ));
            }
            let refcount_order = be32(&h, 96);
            if refcount_order > 6 {
                return Err(invalid(
                    path,
                    format!("refcount_order {refcount_order} is larger than 6"),
                ));
            }
            let ct = if header_length > 104 { h[104] } else { 0 };
            (be64(&h, 72), header_length, ct)
        } else {
            (0, 72, 0)
        };

        if crypt_method != 0 {
            return Err(unsupported(
                path,
                format!(
                    "the image is encrypted (crypt_method {crypt_method}); decrypt it first with \
                     `qemu-img convert --object secret,... --image-opts ... -O qcow2`"
                ),
            ));
        }

        // The header cluster: header extensions and the backing file name live
        // here. Bytes past the end of a short file read as zeros, as in QEMU.
        let mut hc = vec![0u8; cluster_size as usize];
        let hc_len = file_len.min(cluster_size) as usize;
        read_exact_at(&file, path, &mut hc[..hc_len], 0, "header cluster")?;

        // Header extensions (version 3; version 2 images may have them too).
        let mut backing_format: Option<String> = None;
        let mut features: Vec<(u8, u8, String)> = Vec::new();
        {
            let ext_end = if backing_file_offset != 0 {
                backing_file_offset.min(cluster_size)
            } else {
                cluster_size
            } as usize;
            let mut off = header_length as usize;
            while off < ext_end {
                if ext_end - off < 8 {
                    return Err(invalid(
                        path,
                        "a header extension runs past the end of the header area",
                    ));
                }
                let typ = be32(&hc, off);
                let len = be32(&hc, off + 4) as usize;
                off += 8;
                if typ == EXT_END {
                    break;
                }
                if len > ext_end - off {
                    return Err(invalid(
                        path,
                        format!(
                            "header extension {typ:#x} ({len} bytes) runs past the end of the header area"
                        ),
                    ));
                }
                let data = &hc[off..off + len];
                match typ {
                    EXT_BACKING_FORMAT => {
                        let name = String::from_utf8_lossy(data);
                        backing_format = Some(name.trim_end_matches('\0').to_owned());
                    }
                    EXT_FEATURE_NAMES => {
                        for e in data.chunks_exact(48) {
                            let name = String::from_utf8_lossy(&e[2..]);
                            features.push((e[0], e[1], name.trim_end_matches('\0').to_owned()));
                        }
                    }
                    _ => {}
                }
                // Extension data is padded to a multiple of 8 bytes.
                off = off.saturating_add(len.div_ceil(8) * 8);
            }
        }

        if incompat & INCOMPAT_CORRUPT != 0 {
            return Err(invalid(
                path,
                "the image is marked corrupt; run `qemu-img check -r all` on it",
            ));
        }
        if incompat & INCOMPAT_DATA_FILE != 0 {
            return Err(unsupported(
                path,
                "the image keeps its data in an external data file; convert it with \
                 `qemu-img convert -O qcow2` first",
            ));
        }
        if incompat & INCOMPAT_EXTL2 != 0 {
            return Err(unsupported(
                path,
                "the image uses extended L2 entries (subclusters); convert it with \
                 `qemu-img convert -O qcow2` first",
            ));
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(unsupported(
                path,
                format!(
                    "unknown incompatible features: {}",
                    feature_names(&features, incompat & !INCOMPAT_KNOWN)
                ),
            ));
        }
        let compression = match (compression_type, incompat & INCOMPAT_COMPRESSION != 0) {
            (0, false) => Compression::Zlib,
            (0, true) => {
                return Err(invalid(
                    path,
                    "the compression-type feature bit is set but the compression type is zlib",
                ));
            }
            (_, false) => {
                return Err(invalid(
                    path,
                    "the compression type is not zlib but its feature bit is not set",
                ));
            }
            (1, true) => Compression::Zstd,
            (t, true) => return Err(unsupported(path, format!("compression type {t}"))),
        };

        // Tables.
        let l2_bits = cluster_bits - 3;
        let l1_span_bits = cluster_bits + l2_bits; // bytes covered by one L1 entry
        let needed_l1 = size.div_ceil(1u64 << l1_span_bits);
        if u64::from(l1_size) * 8 > MAX_L1_BYTES {
            return Err(unsupported(
                path,
                format!(
                    "the L1 table has {l1_size} entries, more than {}",
                    MAX_L1_BYTES / 8
                ),
            ));
        }
        if u64::from(l1_size) < needed_l1 {
            return Err(invalid(
                path,
                format!(
                    "the L1 table has {l1_size} entries, too few for a {size}-byte disk ({needed_l1} needed)"
                ),
            ));
        }
        let check_table = |what: &str, offset: u64, bytes: u64, in_file: bool| -> Result<()> {
            if offset % cluster_size != 0 {
                return Err(invalid(
                    path,
                    format!("the {what} offset {offset:#x} is not cluster-aligned"),
                ));
            }
            match offset.checked_add(bytes) {
                Some(end) if !in_file || end <= file_len => Ok(()),
                _ => Err(invalid(
                    path,
                    format!(
                        "the {what} at {offset:#x} ({bytes} bytes) runs past the end of the \
                         {file_len}-byte file (truncated image?)"
                    ),
                )),
            }
        };
        // Only the L1 table, L2 tables and data are read. Offsets of the other
        // tables are still checked for sanity.
        if l1_size > 0 {
            check_table("L1 table", l1_table_offset, u64::from(l1_size) * 8, true)?;
        }
        check_table(
            "refcount table",
            refcount_table_offset,
            u64::from(refcount_table_clusters) << cluster_bits,
            true,
        )?;
        if nb_snapshots > 0 {
            check_table("snapshot table", snapshots_offset, 0, true)?;
        }
        // Only the entries that cover the disk are kept; the rest can't be reached.
        let mut raw_l1 = vec![0u8; (needed_l1 * 8) as usize];
        read_exact_at(&file, path, &mut raw_l1, l1_table_offset, "L1 table")?;
        let l1: Vec<u64> = raw_l1.chunks_exact(8).map(|c| be64(c, 0)).collect();
        drop(raw_l1);

        let l2_cache_cap = (L2_CACHE_BYTES / cluster_size).clamp(4, L2_CACHE_MAX_TABLES) as usize;
        let mut img = Qcow2Image {
            file,
            path: path.to_owned(),
            file_len,
            size,
            cluster_bits,
            l2_bits,
            l1,
            compression,
            backing: None,
            l2_cache: Mutex::new(L2Cache::default()),
            l2_cache_cap,
            last_compressed: Mutex::new(None),
        };

        // Backing file.
        if backing_file_offset != 0 && backing_file_size != 0 {
            if backing_file_size > MAX_BACKING_NAME {
                return Err(invalid(
                    path,
                    format!(
                        "the backing file name is {backing_file_size} bytes long (at most {MAX_BACKING_NAME})"
                    ),
                ));
            }
            let start = backing_file_offset;
            let end = start + u64::from(backing_file_size);
            if end > cluster_size {
                return Err(invalid(
                    path,
                    "the backing file name lies outside the header cluster",
                ));
            }
            if end > file_len {
                return Err(invalid(
                    path,
                    "the backing file name runs past the end of the file (truncated?)",
                ));
            }
            let name = hc[start as usize..end as usize].to_vec();
            img.backing = Some(img.open_backing(&name, backing_format.as_deref(), chain)?);
        }
        Ok(img)
    }

    fn open_backing(
        &self,
        name: &[u8],
        format: Option<&str>,
        chain: &mut Vec<PathBuf>,
    ) -> Result<Box<dyn DiskSource>> {
        let path = &self.path;
        let shown = String::from_utf8_lossy(name).into_owned();
        let name = name.strip_prefix(b"file:").unwrap_or(name);
        if name.starts_with(b"json:") {
            return Err(unsupported(
                path,
                format!(
                    "the backing file is a JSON specification ({shown}); rebase the image onto a plain file"
                ),
            ));
        }
        let first_component = name.split(|&b| b == b'/').next().unwrap_or_default();
        if first_component.contains(&b':') {
            return Err(unsupported(
                path,
                format!(
                    "the backing file {shown} uses a protocol; rebase the image onto a plain file"
                ),
            ));
        }
        let rel = Path::new(OsStr::from_bytes(name));
        let bpath = if rel.is_absolute() {
            rel.to_owned()
        } else {
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.join(rel),
                _ => rel.to_owned(),
            }
        };
        let fmt = match format {
            None | Some("") => super::probe_format(&bpath).map_err(|e| self.backing_error(e))?,
            Some("qcow2") => ImageFormat::Qcow2,
            Some("raw") => ImageFormat::Raw,
            Some("vpc") => ImageFormat::Vhd,
            Some("vhdx") => ImageFormat::Vhdx,
            Some(other) => {
                return Err(unsupported(
                    path,
                    format!("backing file {shown} has format {other}, which rsvault does not read"),
                ));
            }
        };

        // Loop and depth guard.
        let me = std::fs::canonicalize(path)
            .map_err(|e| Error::io(format!("resolve {}", path.display()), e))?;
        if chain.is_empty() {
            chain.push(me);
        }
        let canon = std::fs::canonicalize(&bpath)
            .map_err(|e| self.backing_error(Error::io(format!("open {}", bpath.display()), e)))?;
        if chain.contains(&canon) {
            return Err(invalid(
                path,
                format!("the backing chain loops back to {}", canon.display()),
            ));
        }
        if chain.len() > MAX_BACKING_DEPTH {
            return Err(unsupported(
                path,
                format!("the backing chain is deeper than {MAX_BACKING_DEPTH} images"),
            ));
        }
        chain.push(canon);
        let backing: Box<dyn DiskSource> = match fmt {
            ImageFormat::Qcow2 => Box::new(Qcow2Image::open_in_chain(&bpath, chain)?),
            other => super::open_image_as(&bpath, other)?,
        };
        Ok(backing)
    }

    /// Says which image an I/O error on a backing file comes from.
    fn backing_error(&self, e: Error) -> Error {
        match e {
            Error::Io { context, source } => Error::io(
                format!("backing file of {}: {context}", self.path.display()),
                source,
            ),
            other => other,
        }
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// The L2 table at host offset `offset`, through the cache.
    fn l2_table(&self, offset: u64) -> Result<Arc<[u64]>> {
        let cs = self.cluster_size();
        if offset % cs != 0 {
            return Err(invalid(
                &self.path,
                format!("L2 table offset {offset:#x} is not cluster-aligned"),
            ));
        }
        {
            let mut c = self.l2_cache.lock().unwrap_or_else(|p| p.into_inner());
            c.tick += 1;
            let tick = c.tick;
            if let Some((t, used)) = c.tables.get_mut(&offset) {
                *used = tick;
                return Ok(t.clone());
            }
        }
        let mut raw = vec![0u8; cs as usize];
        read_exact_at(&self.file, &self.path, &mut raw, offset, "L2 table")?;
        let table: Arc<[u64]> = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
        let mut c = self.l2_cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.tables.len() >= self.l2_cache_cap {
            if let Some(old) = c
                .tables
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            {
                c.tables.remove(&old);
            }
        }
        let tick = c.tick;
        c.tables.insert(offset, (table.clone(), tick));
        Ok(table)
    }

    fn decode_l2(&self, entry: u64) -> Result<Cluster> {
        if entry & L2_COMPRESSED != 0 {
            let csize_shift = 62 - (self.cluster_bits - 8);
            let offset = entry & ((1u64 << csize_shift) - 1);
            let sectors = ((entry >> csize_shift) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let len = sectors * 512 - (offset & 511);
            if offset >= self.file_len {
                return Err(invalid(
                    &self.path,
                    format!(
                        "compressed cluster at {offset:#x} is past the end of the file (truncated image?)"
                    ),
                ));
            }
            // The sector count may run past the end of the file for the last cluster.
            let len = len.min(self.file_len - offset);
            return Ok(Cluster::Compressed { offset, len });
        }
        if entry & L2_ZERO != 0 {
            return Ok(Cluster::Zero);
        }
        let host = entry & OFFSET_MASK;
        if host == 0 {
            return Ok(Cluster::Unallocated);
        }
        if host % self.cluster_size() != 0 {
            return Err(invalid(
                &self.path,
                format!("data cluster offset {host:#x} is not cluster-aligned"),
            ));
        }
        if host >= self.file_len {
            return Err(invalid(
                &self.path,
                format!("data cluster at {host:#x} is past the end of the file (truncated image?)"),
            ));
        }
        Ok(Cluster::Normal(host))
    }

    /// Calls `f(offset, len, cluster)` for consecutive pieces of
    /// `[offset, offset+len)`: one per cluster, or one per L1 entry without
    /// an L2 table. The range must lie within the disk.
    fn walk(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, Cluster) -> Result<()>,
    ) -> Result<()> {
        let end = offset + len;
        let cb = self.cluster_bits;
        let span_bits = cb + self.l2_bits;
        let mut pos = offset;
        while pos < end {
            let l1_idx = pos >> span_bits;
            let span_end = (l1_idx + 1)
                .checked_shl(span_bits)
                .unwrap_or(u64::MAX)
                .min(end);
            let l1e = match self.l1.get(l1_idx as usize) {
                Some(e) => *e,
                None => return Err(invalid(&self.path, "read past the end of the L1 table")),
            };
            let l2_off = l1e & OFFSET_MASK;
            if l2_off == 0 {
                f(pos, span_end - pos, Cluster::Unallocated)?;
                pos = span_end;
                continue;
            }
            let table = self.l2_table(l2_off)?;
            while pos < span_end {
                let idx = ((pos >> cb) & ((1u64 << self.l2_bits) - 1)) as usize;
                let cend = ((pos >> cb) + 1)
                    .checked_shl(cb)
                    .unwrap_or(u64::MAX)
                    .min(span_end);
                let c = self.decode_l2(table[idx])?;
                f(pos, cend - pos, c)?;
                pos = cend;
            }
        }
        Ok(())
    }

    /// Reads host bytes; bytes past the end of the file read as zeros (as in
    /// QEMU), which only happens in the last cluster of a file.
    fn read_host(&self, buf: &mut [u8], host: u64) -> Result<()> {
        let avail = self.file_len.saturating_sub(host).min(buf.len() as u64) as usize;
        let (head, tail) = buf.split_at_mut(avail);
        if !head.is_empty() {
            read_exact_at(&self.file, &self.path, head, host, "data cluster")?;
        }
        tail.fill(0);
        Ok(())
    }

    /// Copies `buf.len()` bytes starting `in_cluster` bytes into the
    /// compressed cluster at `offset`.
    fn read_compressed(
        &self,
        buf: &mut [u8],
        offset: u64,
        len: u64,
        in_cluster: usize,
    ) -> Result<()> {
        {
            let cache = self
                .last_compressed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((o, data)) = cache.as_ref() {
                if *o == offset {
                    buf.copy_from_slice(&data[in_cluster..in_cluster + buf.len()]);
                    return Ok(());
                }
            }
        }
        let mut input = vec![0u8; len as usize];
        read_exact_at(
            &self.file,
            &self.path,
            &mut input,
            offset,
            "compressed cluster",
        )?;
        let mut out = vec![0u8; self.cluster_size() as usize];
        let res = match self.compression {
            Compression::Zlib => flate2::read::DeflateDecoder::new(&input[..]).read_exact(&mut out),
            Compression::Zstd => zstd::stream::read::Decoder::with_buffer(&input[..])
                .and_then(|d| d.single_frame().read_exact(&mut out)),
        };
        res.map_err(|e| {
            invalid(
                &self.path,
                format!("compressed cluster at {offset:#x} does not decompress: {e}"),
            )
        })?;
        buf.copy_from_slice(&out[in_cluster..in_cluster + buf.len()]);
        *self
            .last_compressed
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((offset, out));
        Ok(())
    }

    fn read_backing(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        match &self.backing {
            Some(b) => {
                let bsize = b.size();
                let n = bsize.saturating_sub(offset).min(buf.len() as u64) as usize;
                let (head, tail) = buf.split_at_mut(n);
                if !head.is_empty() {
                    b.read_at(head, offset)?;
                }
                tail.fill(0);
            }
            None => buf.fill(0),
        }
        Ok(())
    }
}

impl DiskSource for Qcow2Image {
    fn size(&self) -> u64 {
        self.size
    }

    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        // Runs of (offset, len, kind), kind None = unallocated here.
        let mut runs: Vec<(u64, u64, Option<ExtentKind>)> = Vec::new();
        self.walk(offset, len, |o, l, c| {
            let kind = match c {
                Cluster::Unallocated => None,
                Cluster::Zero => Some(ExtentKind::Zero),
                Cluster::Normal(_) | Cluster::Compressed { .. } => Some(ExtentKind::Data),
            };
            match runs.last_mut() {
                Some(last) if last.2 == kind && last.0 + last.1 == o => last.1 += l,
                _ => runs.push((o, l, kind)),
            }
            Ok(())
        })?;
        let mut out = Vec::with_capacity(runs.len());
        for (o, l, kind) in runs {
            match (kind, &self.backing) {
                (Some(kind), _) => out.push(Extent {
                    offset: o,
                    len: l,
                    kind,
                }),
                (None, None) => out.push(Extent {
                    offset: o,
                    len: l,
                    kind: ExtentKind::Zero,
                }),
                (None, Some(b)) => {
                    let bsize = b.size();
                    let n = bsize.saturating_sub(o).min(l);
                    if n > 0 {
                        let mut sub = b.map(o, n)?;
                        // Keep the backing's answer within what was asked.
                        sub.retain(|e| e.len > 0 && e.offset >= o && e.offset + e.len <= o + n);
                        let covered: u64 = sub.iter().map(|e| e.len).sum();
                        if covered != n {
                            out.push(Extent {
                                offset: o,
                                len: n,
                                kind: ExtentKind::Data,
                            });
                        } else {
                            out.extend(sub);
                        }
                    }
                    if n < l {
                        out.push(Extent {
                            offset: o + n,
                            len: l - n,
                            kind: ExtentKind::Zero,
                        });
                    }
                }
            }
        }
        Ok(coalesce(out))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        let cmask = self.cluster_size() - 1;
        // A pending host read (host offset, buffer start, length), grown while
        // consecutive clusters are consecutive in the file.
        let mut pending: Option<(u64, usize, usize)> = None;
        let len = buf.len() as u64;
        self.walk(offset, len, |o, l, c| {
            let b = (o - offset) as usize;
            let n = l as usize;
            if let Cluster::Normal(host) = c {
                let h = host + (o & cmask);
                match &mut pending {
                    Some((ph, pb, pn)) if *ph + *pn as u64 == h && *pb + *pn == b => *pn += n,
                    _ => {
                        if let Some((ph, pb, pn)) = pending.take() {
                            self.read_host(&mut buf[pb..pb + pn], ph)?;
                        }
                        pending = Some((h, b, n));
                    }
                }
                return Ok(());
            }
            if let Some((ph, pb, pn)) = pending.take() {
                self.read_host(&mut buf[pb..pb + pn], ph)?;
            }
            let dst = &mut buf[b..b + n];
            match c {
                Cluster::Unallocated => self.read_backing(dst, o),
                Cluster::Zero => {
                    dst.fill(0);
                    Ok(())
                }
                Cluster::Compressed {
                    offset: co,
                    len: cl,
                } => self.read_compressed(dst, co, cl, (o & cmask) as usize),
                Cluster::Normal(_) => Ok(()),
            }
        })?;
        if let Some((ph, pb, pn)) = pending.take() {
            self.read_host(&mut buf[pb..pb + pn], ph)?;
        }
        Ok(())
    }

    fn format(&self) -> &'static str {
        "qcow2"
    }
}

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

use super::util::{be32, be64, read_exact_at};
use super::{DiskSource, Extent, ExtentKind, ImageFormat, ImageRoots, check_range, coalesce};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
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

/// A backing chain being opened: its members' canonical paths (topmost
/// first) and, when confined, the roots every member must lie under.
struct Chain<'a> {
    members: Vec<PathBuf>,
    roots: Option<&'a ImageRoots>,
}

impl Qcow2Image {
    /// Opens a qcow2 image read-only, with its backing chain.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Self::from_file(file, path, None)
    }

    /// Reads a qcow2 image from a file already open (`path` names it and
    /// anchors relative backing file names). With `roots`, every backing
    /// file must lie under them and is opened without following a final
    /// symlink.
    pub fn from_file(file: File, path: &Path, roots: Option<&ImageRoots>) -> Result<Self> {
        let mut chain = Chain {
            members: Vec::new(),
            roots,
        };
        Self::open_in_chain(file, path, &mut chain)
    }

    /// Opens `path` as a member of a backing chain.
    fn open_in_chain(file: File, path: &Path, chain: &mut Chain<'_>) -> Result<Self> {
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
        read_exact_at(FORMAT, &file, path, &mut h[..head_len], 0, "header")?;
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
        read_exact_at(FORMAT, &file, path, &mut hc[..hc_len], 0, "header cluster")?;

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
            if !offset.is_multiple_of(cluster_size) {
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
        read_exact_at(
            FORMAT,
            &file,
            path,
            &mut raw_l1,
            l1_table_offset,
            "L1 table",
        )?;
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
        chain: &mut Chain<'_>,
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
        // Loop and depth guard.
        let me = std::fs::canonicalize(path)
            .map_err(|e| Error::io(format!("resolve {}", path.display()), e))?;
        if chain.members.is_empty() {
            chain.members.push(me);
        }
        let canon = std::fs::canonicalize(&bpath)
            .map_err(|e| self.backing_error(Error::io(format!("open {}", bpath.display()), e)))?;
        if let Some(roots) = chain.roots {
            roots.check(&canon).map_err(|e| self.backing_error(e))?;
        }
        // FIFOs, character devices and the like could block forever.
        let ft = std::fs::metadata(&canon)
            .map_err(|e| self.backing_error(Error::io(format!("stat {}", canon.display()), e)))?
            .file_type();
        if !(ft.is_file() || ft.is_block_device()) {
            return Err(unsupported(
                path,
                format!(
                    "the backing file {} is neither a regular file nor a block device",
                    canon.display()
                ),
            ));
        }
        if chain.members.contains(&canon) {
            return Err(invalid(
                path,
                format!("the backing chain loops back to {}", canon.display()),
            ));
        }
        if chain.members.len() > MAX_BACKING_DEPTH {
            return Err(unsupported(
                path,
                format!("the backing chain is deeper than {MAX_BACKING_DEPTH} images"),
            ));
        }
        let fmt = match format {
            None | Some("") => super::probe_format(&canon).map_err(|e| self.backing_error(e))?,
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

        chain.members.push(canon.clone());
        // Confined, the backing file is opened by its checked canonical path.
        let bpath = if chain.roots.is_some() { canon } else { bpath };
        let file =
            super::open_file(&bpath, chain.roots.is_some()).map_err(|e| self.backing_error(e))?;
        let backing: Box<dyn DiskSource> = match fmt {
            ImageFormat::Qcow2 => Box::new(Qcow2Image::open_in_chain(file, &bpath, chain)?),
            other => super::from_file_as(file, &bpath, other, chain.roots)?,
        };
        Ok(backing)
    }

    /// Says which image an I/O error on a backing file comes from.
    /// The byte ranges this image itself defines (data, compressed or zero
    /// clusters), leaving out what falls through to the backing file. For
    /// an overlay written by a QEMU backup job in `sync=bitmap` mode, this
    /// is exactly the guest's changed-block list.
    pub fn allocated_here(&self) -> Result<crate::ranges::RangeSet> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        self.walk(0, self.size, |o, l, c| {
            if c != Cluster::Unallocated {
                match runs.last_mut() {
                    Some(last) if last.1 == o => last.1 = o + l,
                    _ => runs.push((o, o + l)),
                }
            }
            Ok(())
        })?;
        crate::ranges::RangeSet::from_extents(runs.into_iter().map(|(a, b)| (a, b - a)))
    }

    /// True if the image has a backing file.
    pub fn has_backing(&self) -> bool {
        self.backing.is_some()
    }

    fn backing_error(&self, e: Error) -> Error {
        match e {
            Error::Io { context, cause } => Error::io(
                format!("backing file of {}: {context}", self.path.display()),
                cause,
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
        if !offset.is_multiple_of(cs) {
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
        read_exact_at(FORMAT, &self.file, &self.path, &mut raw, offset, "L2 table")?;
        let table: Arc<[u64]> = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
        let mut c = self.l2_cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.tables.len() >= self.l2_cache_cap
            && let Some(old) = c
                .tables
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
        {
            c.tables.remove(&old);
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
        if !host.is_multiple_of(self.cluster_size()) {
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

    /// Reads host bytes of data clusters. Bytes past the end of the file are
    /// an error (QEMU would read zeros): the image was truncated, and inventing
    /// zeros would back up damaged data silently.
    fn read_host(&self, buf: &mut [u8], host: u64) -> Result<()> {
        read_exact_at(FORMAT, &self.file, &self.path, buf, host, "data cluster")
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
            if let Some((o, data)) = cache.as_ref()
                && *o == offset
            {
                buf.copy_from_slice(&data[in_cluster..in_cluster + buf.len()]);
                return Ok(());
            }
        }
        let mut input = vec![0u8; len as usize];
        read_exact_at(
            FORMAT,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CB: u32 = 12; // 4 KiB clusters, 512 L2 entries
    const CS: usize = 1 << CB;

    #[derive(Clone, Copy)]
    enum C {
        Data(u8),
        Zero,
        Compressed(u8),
        Raw(u64),
    }

    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    fn put64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }

    /// A version 3 image of `size` bytes: header in cluster 0, refcount table
    /// in 1, L1 in 2, one L2 table in 3, then data clusters. `backing` is
    /// (name, format).
    fn build(size: u64, clusters: &[(u64, C)], backing: Option<(&str, &str)>) -> Vec<u8> {
        let mut b = vec![0u8; 4 * CS];
        put32(&mut b, 0, MAGIC);
        put32(&mut b, 4, 3);
        put32(&mut b, 20, CB);
        put64(&mut b, 24, size);
        let l1_size = size.div_ceil(1 << (2 * CB - 3)).max(1);
        put32(&mut b, 36, l1_size as u32);
        put64(&mut b, 40, 2 * CS as u64);
        put64(&mut b, 48, CS as u64);
        put32(&mut b, 56, 1);
        put32(&mut b, 96, 4);
        put32(&mut b, 100, 104);
        let mut ext = 104;
        if let Some((name, fmt)) = backing {
            put32(&mut b, ext, EXT_BACKING_FORMAT);
            put32(&mut b, ext + 4, fmt.len() as u32);
            b[ext + 8..ext + 8 + fmt.len()].copy_from_slice(fmt.as_bytes());
            ext += 8 + fmt.len().div_ceil(8) * 8;
            put64(&mut b, 8, 1024);
            put32(&mut b, 16, name.len() as u32);
            b[1024..1024 + name.len()].copy_from_slice(name.as_bytes());
        }
        let _ = ext; // the end-of-extensions marker is the zeros that follow
        put64(&mut b, 2 * CS, (3 * CS as u64) | (1 << 63));
        for &(idx, c) in clusters {
            b.resize(b.len().div_ceil(CS) * CS, 0);
            let host = b.len() as u64;
            let entry = match c {
                C::Data(v) => {
                    b.extend(std::iter::repeat_n(v, CS));
                    host | 1 << 63
                }
                C::Zero => L2_ZERO,
                C::Compressed(v) => {
                    let mut e = flate2::write::DeflateEncoder::new(
                        Vec::new(),
                        flate2::Compression::default(),
                    );
                    e.write_all(&vec![v; CS]).unwrap();
                    let z = e.finish().unwrap();
                    // Start mid-sector to exercise the offset arithmetic.
                    let start = host + 100;
                    b.extend(std::iter::repeat_n(0, 100));
                    b.extend(&z);
                    let sectors = (100 + z.len() as u64).div_ceil(512) - 1;
                    L2_COMPRESSED | sectors << (62 - (CB - 8)) | start
                }
                C::Raw(e) => e,
            };
            put64(&mut b, 3 * CS + idx as usize * 8, entry);
        }
        b
    }

    fn write(dir: &Path, name: &str, b: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    }

    fn open_bytes(b: &[u8]) -> Result<Qcow2Image> {
        let dir = tempfile::tempdir().unwrap();
        Qcow2Image::open(&write(dir.path(), "t.qcow2", b))
    }

    fn is_invalid<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(e @ Error::InvalidImage { .. }) => e.to_string(),
            other => panic!("expected InvalidImage, got {other:?}"),
        }
    }

    fn is_unsupported<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(e @ Error::UnsupportedImage { .. }) => e.to_string(),
            other => panic!("expected UnsupportedImage, got {other:?}"),
        }
    }

    fn sample() -> Vec<u8> {
        build(
            1 << 20,
            &[
                (0, C::Data(1)),
                (1, C::Zero),
                (3, C::Compressed(7)),
                (4, C::Data(2)),
                (5, C::Data(3)),
            ],
            None,
        )
    }

    #[test]
    fn reads_all_cluster_kinds() {
        let img = open_bytes(&sample()).unwrap();
        assert_eq!(img.size(), 1 << 20);
        assert_eq!(img.format(), "qcow2");
        let mut buf = vec![0xffu8; 6 * CS];
        img.read_at(&mut buf, 0).unwrap();
        assert!(buf[..CS].iter().all(|&x| x == 1));
        assert!(buf[CS..3 * CS].iter().all(|&x| x == 0));
        assert!(buf[3 * CS..4 * CS].iter().all(|&x| x == 7));
        assert!(buf[4 * CS..5 * CS].iter().all(|&x| x == 2));
        assert!(buf[5 * CS..].iter().all(|&x| x == 3));
        // An unaligned read across kinds.
        let mut small = [0u8; 3];
        img.read_at(&mut small, 4 * CS as u64 - 1).unwrap();
        assert_eq!(small, [7, 2, 2]);
        let cs = CS as u64;
        let m = img.map(0, 1 << 20).unwrap();
        let want = [
            (0, cs, ExtentKind::Data),
            (cs, 2 * cs, ExtentKind::Zero),
            (3 * cs, 3 * cs, ExtentKind::Data),
            (6 * cs, (1 << 20) - 6 * cs, ExtentKind::Zero),
        ];
        let got: Vec<_> = m.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(got, want);
        assert!(img.read_at(&mut small, (1 << 20) - 2).is_err());
        assert!(img.map(1, 1 << 20).is_err());
    }

    #[test]
    fn truncated_or_bad_header() {
        let b = sample();
        assert!(is_invalid(open_bytes(&b[..50])).contains("shorter"));
        assert!(is_invalid(open_bytes(&b[..100])).contains("shorter"));
        let mut m = b.clone();
        m[0] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("magic"));
        for v in [1, 4] {
            let mut m = b.clone();
            put32(&mut m, 4, v);
            is_unsupported(open_bytes(&m));
        }
        for cb in [8, 22, 64, 1 << 31] {
            let mut m = b.clone();
            put32(&mut m, 20, cb);
            assert!(is_invalid(open_bytes(&m)).contains("cluster_bits"));
        }
        let mut m = b.clone();
        put32(&mut m, 100, 96);
        is_invalid(open_bytes(&m));
        let mut m = b.clone();
        put32(&mut m, 100, CS as u32 + 8);
        is_invalid(open_bytes(&m));
        // A header extension longer than the header cluster.
        let mut m = b.clone();
        put32(&mut m, 104, 0x1234);
        put32(&mut m, 108, 1 << 20);
        assert!(is_invalid(open_bytes(&m)).contains("extension"));
        let mut m = b.clone();
        put32(&mut m, 96, 7);
        is_invalid(open_bytes(&m));
    }

    #[test]
    fn refused_features() {
        let b = sample();
        let mut m = b.clone();
        put32(&mut m, 32, 2);
        assert!(is_unsupported(open_bytes(&m)).contains("encrypted"));
        let mut m = b.clone();
        m[79] |= INCOMPAT_CORRUPT as u8;
        assert!(is_invalid(open_bytes(&m)).contains("qemu-img check -r all"));
        let mut m = b.clone();
        m[79] |= INCOMPAT_DATA_FILE as u8;
        assert!(is_unsupported(open_bytes(&m)).contains("external data file"));
        let mut m = b.clone();
        m[79] |= INCOMPAT_EXTL2 as u8;
        assert!(is_unsupported(open_bytes(&m)).contains("subclusters"));
        // Unknown bit, named by the feature name table.
        let mut m = b.clone();
        m[79] |= 1 << 5;
        put32(&mut m, 104, EXT_FEATURE_NAMES);
        put32(&mut m, 108, 48);
        m[112] = 0;
        m[113] = 5;
        m[114..120].copy_from_slice(b"frobby");
        assert!(is_unsupported(open_bytes(&m)).contains("bit 5 (frobby)"));
        // Compression type vs its feature bit.
        let mut m = b.clone();
        put32(&mut m, 100, 112);
        m[104] = 1;
        is_invalid(open_bytes(&m));
        m[79] |= INCOMPAT_COMPRESSION as u8;
        open_bytes(&m).unwrap();
        m[104] = 9;
        is_unsupported(open_bytes(&m));
        // The dirty bit only concerns refcounts.
        let mut m = b.clone();
        m[79] |= INCOMPAT_DIRTY as u8;
        open_bytes(&m).unwrap();
    }

    #[test]
    fn bad_tables() {
        let b = sample();
        // L1 too small for the size.
        let mut m = b.clone();
        put64(&mut m, 24, 10 << 20);
        assert!(is_invalid(open_bytes(&m)).contains("too few"));
        // L1 unaligned, past the end, absurdly large.
        let mut m = b.clone();
        put64(&mut m, 40, 2 * CS as u64 + 8);
        assert!(is_invalid(open_bytes(&m)).contains("aligned"));
        let mut m = b.clone();
        put64(&mut m, 40, 1 << 40);
        assert!(is_invalid(open_bytes(&m)).contains("past the end"));
        let mut m = b.clone();
        put32(&mut m, 36, u32::MAX);
        is_unsupported(open_bytes(&m));
        let mut m = b.clone();
        put64(&mut m, 48, 12345);
        is_invalid(open_bytes(&m));
        // Bad L2 table and data offsets fail at read time.
        let mut m = b.clone();
        put64(&mut m, 2 * CS, 3 * CS as u64 + 512);
        let img = open_bytes(&m).unwrap();
        is_invalid(img.map(0, 4096));
        let mut m = b.clone();
        put64(&mut m, 2 * CS, 1 << 40);
        is_invalid(open_bytes(&m).unwrap().read_at(&mut [0u8; 1], 0));
        let m = build(1 << 20, &[(0, C::Raw(5 * CS as u64 + 512))], None);
        is_invalid(open_bytes(&m).unwrap().read_at(&mut [0u8; 1], 0));
        let m = build(1 << 20, &[(0, C::Raw(1 << 40))], None);
        is_invalid(open_bytes(&m).unwrap().read_at(&mut [0u8; 1], 0));
        // Garbage compressed data.
        let mut m = sample();
        let l2e = be64(&m, 3 * CS + 3 * 8);
        let host = (l2e & ((1 << (62 - (CB - 8))) - 1)) as usize;
        m[host..host + 16].fill(0xff);
        let img = open_bytes(&m).unwrap();
        assert!(is_invalid(img.read_at(&mut [0u8; 4], 3 * CS as u64)).contains("decompress"));
        // Truncated after the tables: the data cluster read fails.
        let m = sample();
        let img = open_bytes(&m[..4 * CS + 100]).unwrap();
        is_invalid(img.read_at(&mut [0u8; 1], 4 * CS as u64));
    }

    #[test]
    fn backing_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A raw base shorter than the overlay.
        write(d, "base.raw", &[9u8; 3 * CS + 10]);
        let top = build(
            8 * CS as u64,
            &[(1, C::Data(5)), (2, C::Zero)],
            Some(("base.raw", "raw")),
        );
        let img = Qcow2Image::open(&write(d, "top.qcow2", &top)).unwrap();
        let mut buf = vec![0xeeu8; 8 * CS];
        img.read_at(&mut buf, 0).unwrap();
        assert!(buf[..CS].iter().all(|&x| x == 9));
        assert!(buf[CS..2 * CS].iter().all(|&x| x == 5));
        assert!(buf[2 * CS..3 * CS].iter().all(|&x| x == 0));
        assert!(buf[3 * CS..3 * CS + 10].iter().all(|&x| x == 9));
        assert!(buf[3 * CS + 10..].iter().all(|&x| x == 0));
        let m = img.map(0, 8 * CS as u64).unwrap();
        let cs = CS as u64;
        let data: u64 = m
            .iter()
            .filter(|e| e.kind == ExtentKind::Data)
            .map(|e| e.len)
            .sum();
        assert!(data >= 2 * cs + 10 && data <= 4 * cs, "{m:?}");
        assert!(
            m.iter()
                .any(|e| e.kind == ExtentKind::Zero && e.offset == 2 * cs)
        );
        assert_eq!(m.last().unwrap().kind, ExtentKind::Zero);
        // Only the overlay's own clusters (data and zero) are its changes.
        let here = img.allocated_here().unwrap();
        assert_eq!(here.ranges(), &[(cs, 3 * cs)]);
        assert!(img.has_backing());

        // A qcow2 middle layer, probed (no backing format extension).
        let mid = build(8 * CS as u64, &[(0, C::Data(4))], Some(("base.raw", "raw")));
        write(d, "mid.qcow2", &mid);
        let top2 = build(8 * CS as u64, &[], Some(("mid.qcow2", "")));
        let img = Qcow2Image::open(&write(d, "top2.qcow2", &top2)).unwrap();
        let mut b2 = [0u8; 2];
        img.read_at(&mut b2, CS as u64 - 1).unwrap();
        assert_eq!(b2, [4, 9]);

        // Loops, refused formats, protocols, missing files, FIFOs.
        let selfref = build(CS as u64, &[], Some(("self.qcow2", "qcow2")));
        assert!(is_invalid(Qcow2Image::open(&write(d, "self.qcow2", &selfref))).contains("loops"));
        write(
            d,
            "a.qcow2",
            &build(CS as u64, &[], Some(("b.qcow2", "qcow2"))),
        );
        write(
            d,
            "b.qcow2",
            &build(CS as u64, &[], Some(("a.qcow2", "qcow2"))),
        );
        assert!(is_invalid(Qcow2Image::open(&d.join("a.qcow2"))).contains("loops"));
        let vmdk = build(CS as u64, &[], Some(("base.raw", "vmdk")));
        is_unsupported(Qcow2Image::open(&write(d, "vmdk.qcow2", &vmdk)));
        let nbd = build(CS as u64, &[], Some(("nbd://host/x", "raw")));
        is_unsupported(Qcow2Image::open(&write(d, "nbd.qcow2", &nbd)));
        let json = build(CS as u64, &[], Some(("json:{}", "raw")));
        is_unsupported(Qcow2Image::open(&write(d, "json.qcow2", &json)));
        let missing = build(CS as u64, &[], Some(("nope.raw", "raw")));
        assert!(matches!(
            Qcow2Image::open(&write(d, "m.qcow2", &missing)),
            Err(Error::Io { .. })
        ));
        let dev = build(CS as u64, &[], Some(("/dev/null", "raw")));
        is_unsupported(Qcow2Image::open(&write(d, "dev.qcow2", &dev)));
        // A chain deeper than the limit.
        write(d, "c0.qcow2", &build(CS as u64, &[], None));
        for i in 1..=MAX_BACKING_DEPTH + 1 {
            let b = build(
                CS as u64,
                &[],
                Some((&format!("c{}.qcow2", i - 1), "qcow2")),
            );
            write(d, &format!("c{i}.qcow2"), &b);
        }
        Qcow2Image::open(&d.join(format!("c{MAX_BACKING_DEPTH}.qcow2"))).unwrap();
        assert!(
            is_unsupported(Qcow2Image::open(
                &d.join(format!("c{}.qcow2", MAX_BACKING_DEPTH + 1))
            ))
            .contains("deeper")
        );
    }

    #[test]
    fn l2_cache_stays_bounded() {
        let img = open_bytes(&sample()).unwrap();
        for _ in 0..3 {
            img.map(0, 1 << 20).unwrap();
        }
        assert_eq!(img.l2_cache.lock().unwrap().tables.len(), 1);
        assert!(img.l2_cache_cap >= 4 && img.l2_cache_cap <= L2_CACHE_MAX_TABLES as usize);
    }
}

//! VHDX images (MS-VHDX), read natively.
//!
//! Layout: file identifier (`vhdxfile`) at 0, two headers at 64 KiB and
//! 128 KiB (the valid one with the highest sequence number wins), a region
//! table at 192 KiB (copy at 256 KiB) locating the block allocation table
//! (BAT) and the metadata region. The BAT interleaves payload block entries
//! with sector bitmap entries (one every `chunk_ratio` payload entries).
//! All structures are little-endian and protected by CRC-32C.
//!
//! Refused: differencing disks (HasParent), images with an unreplayed log,
//! unknown required regions or metadata items.

use super::util::{le16, le32, le64, read_exact_at};
use super::{DiskSource, Extent, ExtentKind, check_range, coalesce};
use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

const FORMAT: &str = "vhdx";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const HEADER_SIZE: usize = 4096;
const HEADER_OFFSETS: [u64; 2] = [64 * KIB, 128 * KIB];
const REGION_TABLE_SIZE: usize = 64 * 1024;
const REGION_TABLE_OFFSETS: [u64; 2] = [192 * KIB, 256 * KIB];
const METADATA_TABLE_SIZE: usize = 64 * 1024;
const MAX_TABLE_ENTRIES: u32 = 2047;
const MAX_DISK_SIZE: u64 = 64 << 40;

const PAYLOAD_NOT_PRESENT: u64 = 0;
const PAYLOAD_UNDEFINED: u64 = 1;
const PAYLOAD_ZERO: u64 = 2;
const PAYLOAD_UNMAPPED: u64 = 3;
/// UNMAPPED as written by QEMU and drafts of the specification.
const PAYLOAD_UNMAPPED_OLD: u64 = 5;
const PAYLOAD_FULLY_PRESENT: u64 = 6;
const PAYLOAD_PARTIALLY_PRESENT: u64 = 7;

/// A GUID in its on-disk (little-endian fields) byte order.
const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

const BAT_GUID: [u8; 16] = guid(
    0x2DC2_7766,
    0xF623,
    0x4200,
    [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08],
);
const METADATA_GUID: [u8; 16] = guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);
const FILE_PARAMETERS_GUID: [u8; 16] = guid(
    0xCAA1_6737,
    0xFA36,
    0x4D43,
    [0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B],
);
const VIRTUAL_DISK_SIZE_GUID: [u8; 16] = guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
const VIRTUAL_DISK_ID_GUID: [u8; 16] = guid(
    0xBECA_12AB,
    0xB2E6,
    0x4523,
    [0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46],
);
const LOGICAL_SECTOR_GUID: [u8; 16] = guid(
    0x8141_BF1D,
    0xA96F,
    0x4709,
    [0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F],
);
const PHYSICAL_SECTOR_GUID: [u8; 16] = guid(
    0xCDA3_48C7,
    0x445D,
    0x4471,
    [0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56],
);
const PARENT_LOCATOR_GUID: [u8; 16] = guid(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);

const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32C (Castagnoli), as used by VHDX.
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Whether the CRC-32C stored at bytes 4..8 of `block` matches the block
/// computed with that field zeroed.
fn crc_ok(block: &[u8]) -> bool {
    let stored = le32(block, 4);
    let mut copy = block.to_vec();
    copy[4..8].fill(0);
    crc32c(&copy) == stored
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

/// A region (BAT or metadata) of the file.
#[derive(Debug, Clone, Copy)]
struct Region {
    offset: u64,
    len: u64,
}

/// A VHDX image opened read-only.
#[derive(Debug)]
pub struct VhdxImage {
    file: File,
    path: PathBuf,
    size: u64,
    block_size: u64,
    /// The payload block entries of the BAT, one per block of the disk.
    bat: Vec<u64>,
}

impl VhdxImage {
    /// Opens a (non-differencing) VHDX read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Self::from_file(file, path)
    }

    /// Reads an image from a file already open; `path` names it in errors.
    pub fn from_file(file: File, path: &Path) -> Result<Self> {
        let file_len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();
        let min_len = REGION_TABLE_OFFSETS[0] + REGION_TABLE_SIZE as u64;
        if file_len < min_len {
            return Err(invalid(
                path,
                format!(
                    "the file is {file_len} bytes long, shorter than the VHDX header section (truncated?)"
                ),
            ));
        }
        let mut ident = [0u8; 8];
        read_exact_at(FORMAT, &file, path, &mut ident, 0, "file identifier")?;
        if &ident != b"vhdxfile" {
            return Err(invalid(path, "bad file identifier (\"vhdxfile\" missing)"));
        }

        // Headers: the valid one with the highest sequence number.
        let mut best: Option<(u64, Vec<u8>)> = None;
        for off in HEADER_OFFSETS {
            let mut h = vec![0u8; HEADER_SIZE];
            read_exact_at(FORMAT, &file, path, &mut h, off, "header")?;
            if &h[..4] != b"head" || !crc_ok(&h) {
                continue;
            }
            let seq = le64(&h, 8);
            if best.as_ref().is_none_or(|(s, _)| seq > *s) {
                best = Some((seq, h));
            }
        }
        let Some((_, header)) = best else {
            return Err(invalid(
                path,
                "neither header copy is valid (bad signature or CRC-32C)",
            ));
        };
        let version = le16(&header, 66);
        if version != 1 {
            return Err(unsupported(
                path,
                format!("VHDX version {version} (rsvault reads version 1)"),
            ));
        }
        if header[48..64].iter().any(|&b| b != 0) {
            return Err(unsupported(
                path,
                "the VHDX has an unreplayed log; run `qemu-img check -r all` on it first",
            ));
        }

        // Region table: the first valid copy.
        let mut table = None;
        for off in REGION_TABLE_OFFSETS {
            let mut t = vec![0u8; REGION_TABLE_SIZE];
            read_exact_at(FORMAT, &file, path, &mut t, off, "region table")?;
            if &t[..4] == b"regi" && crc_ok(&t) && le32(&t, 8) <= MAX_TABLE_ENTRIES {
                table = Some(t);
                break;
            }
        }
        let Some(table) = table else {
            return Err(invalid(
                path,
                "neither region table copy is valid (bad signature, CRC-32C or entry count)",
            ));
        };
        let mut bat_region = None;
        let mut meta_region = None;
        for i in 0..le32(&table, 8) as usize {
            let e = &table[16 + i * 32..16 + (i + 1) * 32];
            let region = Region {
                offset: le64(e, 16),
                len: u64::from(le32(e, 24)),
            };
            let required = le32(e, 28) & 1 != 0;
            let slot = if e[..16] == BAT_GUID {
                &mut bat_region
            } else if e[..16] == METADATA_GUID {
                &mut meta_region
            } else if required {
                return Err(unsupported(
                    path,
                    "the region table has an unknown required region",
                ));
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(invalid(path, "the region table lists a region twice"));
            }
            if !region.offset.is_multiple_of(MIB) || region.offset < MIB {
                return Err(invalid(
                    path,
                    format!(
                        "region offset {:#x} is not a multiple of 1 MiB",
                        region.offset
                    ),
                ));
            }
            match region.offset.checked_add(region.len) {
                Some(end) if end <= file_len => {}
                _ => {
                    return Err(invalid(
                        path,
                        format!(
                            "a region at {:#x} runs past the end of the file (truncated?)",
                            region.offset
                        ),
                    ));
                }
            }
            *slot = Some(region);
        }
        let (Some(bat_region), Some(meta_region)) = (bat_region, meta_region) else {
            return Err(invalid(
                path,
                "the region table lacks the BAT or the metadata region",
            ));
        };

        let meta = Metadata::read(&file, path, meta_region)?;
        if meta.has_parent {
            return Err(unsupported(
                path,
                "differencing VHDX images are not read; merge it with its parent, e.g. \
                 `qemu-img convert -O vhdx child.vhdx merged.vhdx`",
            ));
        }
        let block_size = u64::from(meta.block_size);
        let chunk_ratio = ((1u64 << 23) * u64::from(meta.logical_sector_size)) / block_size;
        let blocks = meta.size.div_ceil(block_size);
        let entries = if blocks == 0 {
            0
        } else {
            blocks + (blocks - 1) / chunk_ratio
        };
        let bat_bytes = entries * 8;
        if bat_bytes > bat_region.len {
            return Err(invalid(
                path,
                format!(
                    "the BAT region ({} bytes) is too small for {entries} entries",
                    bat_region.len
                ),
            ));
        }
        let mut raw = vec![0u8; bat_bytes as usize];
        read_exact_at(FORMAT, &file, path, &mut raw, bat_region.offset, "BAT")?;
        let mut bat = Vec::with_capacity(blocks as usize);
        for i in 0..blocks {
            let idx = (i + i / chunk_ratio) as usize;
            let e = le64(&raw, idx * 8);
            match e & 7 {
                PAYLOAD_NOT_PRESENT | PAYLOAD_UNDEFINED | PAYLOAD_ZERO | PAYLOAD_UNMAPPED
                | PAYLOAD_UNMAPPED_OLD => {}
                PAYLOAD_FULLY_PRESENT => {
                    let off = e & !(MIB - 1);
                    let used = block_size.min(meta.size - i * block_size);
                    if off < MIB || off.checked_add(used).is_none_or(|end| end > file_len) {
                        return Err(invalid(
                            path,
                            format!(
                                "block {i} at {off:#x} lies outside the file (truncated image?)"
                            ),
                        ));
                    }
                }
                PAYLOAD_PARTIALLY_PRESENT => {
                    return Err(invalid(
                        path,
                        format!(
                            "block {i} is partially present, which only differencing images may have"
                        ),
                    ));
                }
                s => return Err(invalid(path, format!("block {i} has unknown state {s}"))),
            }
            bat.push(e);
        }
        Ok(VhdxImage {
            file,
            path: path.to_owned(),
            size: meta.size,
            block_size,
            bat,
        })
    }

    /// Calls `f(offset, len, host)` for consecutive pieces of
    /// `[offset, offset+len)` (one per block): `host` is where the bytes are
    /// in the file, or `None` where they read as zeros.
    fn walk(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, Option<u64>) -> Result<()>,
    ) -> Result<()> {
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let block = pos / self.block_size;
            let block_start = block * self.block_size;
            let block_end = (block_start + self.block_size).min(end);
            let e = self.bat.get(block as usize).copied().unwrap_or(0);
            let host =
                (e & 7 == PAYLOAD_FULLY_PRESENT).then(|| (e & !(MIB - 1)) + (pos - block_start));
            f(pos, block_end - pos, host)?;
            pos = block_end;
        }
        Ok(())
    }
}

/// The metadata items rsvault uses.
#[derive(Debug)]
struct Metadata {
    block_size: u32,
    has_parent: bool,
    size: u64,
    logical_sector_size: u32,
}

impl Metadata {
    fn read(file: &File, path: &Path, region: Region) -> Result<Metadata> {
        if region.len < METADATA_TABLE_SIZE as u64 {
            return Err(invalid(
                path,
                "the metadata region is smaller than its table",
            ));
        }
        let mut t = vec![0u8; METADATA_TABLE_SIZE];
        read_exact_at(FORMAT, file, path, &mut t, region.offset, "metadata table")?;
        if &t[..8] != b"metadata" {
            return Err(invalid(path, "bad metadata table signature"));
        }
        let count = le16(&t, 10);
        if u32::from(count) > MAX_TABLE_ENTRIES {
            return Err(invalid(
                path,
                format!("the metadata table claims {count} entries"),
            ));
        }
        let mut params = None;
        let mut size = None;
        let mut logical = None;
        let mut physical = None;
        let mut seen: Vec<[u8; 16]> = Vec::new();
        for i in 0..count as usize {
            let e = &t[32 + i * 32..32 + (i + 1) * 32];
            let mut id = [0u8; 16];
            id.copy_from_slice(&e[..16]);
            let item_off = u64::from(le32(e, 16));
            let item_len = u64::from(le32(e, 20));
            let required = le32(e, 24) & 4 != 0;
            // Item ids are unique (user and system items share the namespace).
            if seen.contains(&id) {
                return Err(invalid(path, "the metadata table lists an item twice"));
            }
            seen.push(id);
            let want: usize = match id {
                FILE_PARAMETERS_GUID | VIRTUAL_DISK_SIZE_GUID => 8,
                LOGICAL_SECTOR_GUID | PHYSICAL_SECTOR_GUID => 4,
                VIRTUAL_DISK_ID_GUID | PARENT_LOCATOR_GUID => continue,
                _ if required => {
                    return Err(unsupported(
                        path,
                        "the metadata has an unknown required item",
                    ));
                }
                _ => continue,
            };
            if item_len < want as u64
                || item_off < METADATA_TABLE_SIZE as u64
                || item_off
                    .checked_add(item_len)
                    .is_none_or(|end| end > region.len)
            {
                return Err(invalid(
                    path,
                    "a metadata item lies outside the metadata region or is too short",
                ));
            }
            let mut v = [0u8; 8];
            read_exact_at(
                FORMAT,
                file,
                path,
                &mut v[..want],
                region.offset + item_off,
                "metadata item",
            )?;
            match id {
                FILE_PARAMETERS_GUID => params = Some((le32(&v, 0), le32(&v, 4))),
                VIRTUAL_DISK_SIZE_GUID => size = Some(le64(&v, 0)),
                LOGICAL_SECTOR_GUID => logical = Some(le32(&v, 0)),
                _ => physical = Some(le32(&v, 0)),
            }
        }
        let (Some((block_size, flags)), Some(size), Some(logical), Some(physical)) =
            (params, size, logical, physical)
        else {
            return Err(invalid(
                path,
                "the metadata lacks file parameters, disk size or sector sizes",
            ));
        };
        if !block_size.is_power_of_two() || !(MIB..=256 * MIB).contains(&u64::from(block_size)) {
            return Err(invalid(path, format!("invalid block size {block_size}")));
        }
        if logical != 512 && logical != 4096 {
            return Err(invalid(
                path,
                format!("invalid logical sector size {logical}"),
            ));
        }
        if physical != 512 && physical != 4096 {
            return Err(invalid(
                path,
                format!("invalid physical sector size {physical}"),
            ));
        }
        if size > MAX_DISK_SIZE {
            return Err(invalid(
                path,
                format!("virtual disk size {size} exceeds 64 TiB"),
            ));
        }
        Ok(Metadata {
            block_size,
            has_parent: flags & 2 != 0,
            size,
            logical_sector_size: logical,
        })
    }
}

impl DiskSource for VhdxImage {
    fn size(&self) -> u64 {
        self.size
    }

    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let mut out: Vec<Extent> = Vec::new();
        self.walk(offset, len, |o, l, host| {
            let kind = if host.is_some() {
                ExtentKind::Data
            } else {
                ExtentKind::Zero
            };
            match out.last_mut() {
                Some(last) if last.kind == kind && last.offset + last.len == o => last.len += l,
                _ => out.push(Extent {
                    offset: o,
                    len: l,
                    kind,
                }),
            }
            Ok(())
        })?;
        Ok(coalesce(out))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        let len = buf.len() as u64;
        self.walk(offset, len, |o, l, host| {
            let b = (o - offset) as usize;
            let dst = &mut buf[b..b + l as usize];
            match host {
                Some(h) => read_exact_at(FORMAT, &self.file, &self.path, dst, h, "data block"),
                None => {
                    dst.fill(0);
                    Ok(())
                }
            }
        })
    }

    fn format(&self) -> &'static str {
        "vhdx"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAT_AT: usize = MIB as usize;
    const META_AT: usize = 2 * MIB as usize;
    const DATA_AT: usize = 3 * MIB as usize;

    fn header(seq: u64, log_guid: u8) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_SIZE];
        h[..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        h[48] = log_guid;
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        seal(&mut h);
        h
    }

    fn seal(b: &mut [u8]) {
        b[4..8].fill(0);
        let c = crc32c(b);
        b[4..8].copy_from_slice(&c.to_le_bytes());
    }

    struct Spec {
        size: u64,
        block_size: u32,
        flags: u32,
        /// Raw BAT entries, by BAT index.
        bat: Vec<(usize, u64)>,
        extra_meta: Option<([u8; 16], u32)>,
    }

    /// Builds a VHDX: BAT region at 1 MiB, metadata at 2 MiB, payload
    /// blocks from 3 MiB; `blocks` data blocks filled with 1, 2, 3...
    fn build(spec: &Spec, blocks: usize) -> Vec<u8> {
        let mut b = vec![0u8; DATA_AT + blocks * spec.block_size as usize];
        for (i, chunk) in b[DATA_AT..]
            .chunks_mut(spec.block_size as usize)
            .enumerate()
        {
            chunk.fill(i as u8 + 1);
        }
        b[..8].copy_from_slice(b"vhdxfile");
        b[64 * 1024..68 * 1024].copy_from_slice(&header(1, 0));
        b[128 * 1024..132 * 1024].copy_from_slice(&header(2, 0));
        let mut rt = vec![0u8; REGION_TABLE_SIZE];
        rt[..4].copy_from_slice(b"regi");
        rt[8..12].copy_from_slice(&2u32.to_le_bytes());
        for (i, (g, off)) in [(BAT_GUID, BAT_AT), (METADATA_GUID, META_AT)]
            .iter()
            .enumerate()
        {
            let e = &mut rt[16 + i * 32..16 + (i + 1) * 32];
            e[..16].copy_from_slice(g);
            e[16..24].copy_from_slice(&(*off as u64).to_le_bytes());
            e[24..28].copy_from_slice(&(MIB as u32).to_le_bytes());
            e[28..32].copy_from_slice(&1u32.to_le_bytes());
        }
        seal(&mut rt);
        b[192 * 1024..256 * 1024].copy_from_slice(&rt);
        b[256 * 1024..320 * 1024].copy_from_slice(&rt);
        let m = &mut b[META_AT..META_AT + MIB as usize];
        m[..8].copy_from_slice(b"metadata");
        let mut items: Vec<([u8; 16], Vec<u8>, u32)> = vec![
            (
                FILE_PARAMETERS_GUID,
                [spec.block_size.to_le_bytes(), spec.flags.to_le_bytes()].concat(),
                4,
            ),
            (VIRTUAL_DISK_SIZE_GUID, spec.size.to_le_bytes().to_vec(), 6),
            (LOGICAL_SECTOR_GUID, 512u32.to_le_bytes().to_vec(), 6),
            (PHYSICAL_SECTOR_GUID, 4096u32.to_le_bytes().to_vec(), 6),
        ];
        if let Some((g, flags)) = spec.extra_meta {
            items.push((g, vec![0u8; 8], flags));
        }
        m[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        for (i, (g, v, flags)) in items.iter().enumerate() {
            let off = 64 * 1024 + i * 16;
            let e = &mut m[32 + i * 32..32 + (i + 1) * 32];
            e[..16].copy_from_slice(g);
            e[16..20].copy_from_slice(&(off as u32).to_le_bytes());
            e[20..24].copy_from_slice(&(v.len() as u32).to_le_bytes());
            e[24..28].copy_from_slice(&flags.to_le_bytes());
            m[off..off + v.len()].copy_from_slice(v);
        }
        for &(idx, e) in &spec.bat {
            b[BAT_AT + idx * 8..BAT_AT + idx * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
        b
    }

    fn data_entry(block: usize) -> u64 {
        (DATA_AT as u64 + block as u64 * MIB) | PAYLOAD_FULLY_PRESENT
    }

    /// 4 blocks of 1 MiB (the last partly used): data, zero, absent, data.
    fn sample_spec() -> Spec {
        Spec {
            size: 3 * MIB + 512,
            block_size: MIB as u32,
            flags: 0,
            bat: vec![
                (0, data_entry(0)),
                (1, PAYLOAD_ZERO),
                (2, PAYLOAD_NOT_PRESENT),
                (3, data_entry(1)),
            ],
            extra_meta: None,
        }
    }

    fn open_bytes(b: &[u8]) -> Result<VhdxImage> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.vhdx");
        std::fs::write(&p, b).unwrap();
        VhdxImage::open(&p)
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

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn guid_byte_order() {
        assert_eq!(
            BAT_GUID,
            [
                0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD,
                0x4A, 0x08
            ]
        );
    }

    #[test]
    fn reads_blocks() {
        let img = open_bytes(&build(&sample_spec(), 2)).unwrap();
        assert_eq!(img.format(), "vhdx");
        assert_eq!(img.size(), 3 * MIB + 512);
        let m = img.map(0, img.size()).unwrap();
        let got: Vec<_> = m.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            got,
            vec![
                (0, MIB, ExtentKind::Data),
                (MIB, 2 * MIB, ExtentKind::Zero),
                (3 * MIB, 512, ExtentKind::Data)
            ]
        );
        let mut buf = vec![0xeeu8; img.size() as usize];
        img.read_at(&mut buf, 0).unwrap();
        let mib = MIB as usize;
        assert!(buf[..mib].iter().all(|&x| x == 1));
        assert!(buf[mib..3 * mib].iter().all(|&x| x == 0));
        assert!(buf[3 * mib..].iter().all(|&x| x == 2));
        assert!(img.read_at(&mut buf[..2], img.size() - 1).is_err());
    }

    #[test]
    fn bat_skips_sector_bitmap_entries() {
        // 256 MiB blocks: chunk_ratio 16, so block 16 is BAT entry 17 and
        // entry 16 is a sector bitmap entry.
        let bs = 256 * MIB;
        let spec = Spec {
            size: 16 * bs + 4096,
            block_size: bs as u32,
            flags: 0,
            bat: vec![
                (16, data_entry(0)),
                (17, (DATA_AT as u64) | PAYLOAD_FULLY_PRESENT),
            ],
            extra_meta: None,
        };
        let mut b = build(&spec, 0);
        b.resize(DATA_AT + 4096, 0x5c);
        let img = open_bytes(&b).unwrap();
        let m = img.map(0, img.size()).unwrap();
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!((m[1].offset, m[1].kind), (16 * bs, ExtentKind::Data));
        let mut x = [0u8; 4];
        img.read_at(&mut x, 16 * bs + 10).unwrap();
        assert_eq!(x, [0x5c; 4]);
    }

    #[test]
    fn header_selection() {
        let good = build(&sample_spec(), 2);
        // One damaged header: the other is used.
        let mut m = good.clone();
        m[64 * 1024 + 100] ^= 1;
        open_bytes(&m).unwrap();
        let mut m = good.clone();
        m[128 * 1024 + 100] ^= 1;
        open_bytes(&m).unwrap();
        m[64 * 1024] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("header"));
        // The highest sequence number wins: give it a log.
        let mut m = good.clone();
        m[128 * 1024..132 * 1024].copy_from_slice(&header(2, 7));
        assert!(is_unsupported(open_bytes(&m)).contains("qemu-img check -r all"));
        m[64 * 1024..68 * 1024].copy_from_slice(&header(3, 0));
        open_bytes(&m).unwrap();
        let mut m = good.clone();
        let mut h = header(5, 0);
        h[66] = 2;
        seal(&mut h);
        m[64 * 1024..68 * 1024].copy_from_slice(&h);
        is_unsupported(open_bytes(&m));
    }

    #[test]
    fn region_tables() {
        let good = build(&sample_spec(), 2);
        let mut m = good.clone();
        m[192 * 1024 + 20] ^= 1;
        open_bytes(&m).unwrap();
        m[256 * 1024 + 20] ^= 1;
        assert!(is_invalid(open_bytes(&m)).contains("region table"));
        let patch = |f: &dyn Fn(&mut [u8])| {
            let mut m = good.clone();
            for at in [192 * 1024, 256 * 1024] {
                f(&mut m[at..at + REGION_TABLE_SIZE]);
                seal(&mut m[at..at + REGION_TABLE_SIZE]);
            }
            open_bytes(&m)
        };
        is_invalid(patch(&|t| t[8..12].copy_from_slice(&5000u32.to_le_bytes())));
        is_invalid(patch(&|t| t[8..12].copy_from_slice(&1u32.to_le_bytes())));
        is_invalid(patch(&|t| {
            t[32..40].copy_from_slice(&(MIB + 4096).to_le_bytes())
        }));
        is_invalid(patch(&|t| {
            t[32..40].copy_from_slice(&(1u64 << 50).to_le_bytes())
        }));
        is_invalid(patch(&|t| t.copy_within(16..32, 48)));
        is_unsupported(patch(&|t| {
            t[8] = 3;
            t[80] = 0x42;
            t[80 + 16..80 + 24].copy_from_slice(&(4 * MIB).to_le_bytes());
            t[80 + 28] = 1;
        }));
        patch(&|t| {
            t[8] = 3;
            t[80] = 0x42;
            t[80 + 16..80 + 24].copy_from_slice(&(4 * MIB).to_le_bytes());
        })
        .unwrap();
    }

    #[test]
    fn metadata_and_bat_checks() {
        let spec = sample_spec();
        let with = |f: &dyn Fn(&mut Spec)| {
            let mut s = sample_spec();
            f(&mut s);
            open_bytes(&build(&s, 2))
        };
        assert!(is_unsupported(with(&|s| s.flags = 2)).contains("differencing"));
        with(&|s| s.flags = 1).unwrap(); // LeaveBlockAllocated
        assert!(is_invalid(with(&|s| s.block_size = 3 * MIB as u32)).contains("block size"));
        assert!(is_invalid(with(&|s| s.block_size = 512 * 1024)).contains("block size"));
        is_invalid(with(&|s| s.size = 100 << 40));
        is_unsupported(with(&|s| s.extra_meta = Some(([7; 16], 4))));
        with(&|s| s.extra_meta = Some(([7; 16], 0))).unwrap();
        is_invalid(with(&|s| s.extra_meta = Some((FILE_PARAMETERS_GUID, 4))));
        assert!(
            is_invalid(with(&|s| s.bat[1].1 = PAYLOAD_PARTIALLY_PRESENT)).contains("partially")
        );
        is_invalid(with(&|s| s.bat[1].1 = 4));
        assert!(is_invalid(with(&|s| s.bat[1].1 = data_entry(9))).contains("outside"));
        with(&|s| s.bat[1].1 = PAYLOAD_UNMAPPED_OLD).unwrap();
        // Size so large the BAT region cannot hold its entries.
        is_invalid(with(&|s| s.size = 1 << 40));
        // Truncated files and missing identifier.
        let good = build(&spec, 2);
        assert!(is_invalid(open_bytes(&good[..100_000])).contains("shorter"));
        is_invalid(open_bytes(&good[..DATA_AT + 1000]));
        is_invalid(open_bytes(&good[..META_AT + 100]));
        let mut m = good.clone();
        m[0] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("vhdxfile"));
        let mut m = good.clone();
        m[META_AT] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("metadata"));
        let mut m = good.clone();
        m[META_AT + 32 + 16..META_AT + 32 + 20].copy_from_slice(&(2 * MIB as u32).to_le_bytes());
        is_invalid(open_bytes(&m));
    }
}

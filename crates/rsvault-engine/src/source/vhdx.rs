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

use super::{DiskSource, Extent, ExtentKind, check_range, coalesce};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
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

fn le16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
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
        read_exact_at(&file, path, &mut ident, 0, "file identifier")?;
        if &ident != b"vhdxfile" {
            return Err(invalid(path, "bad file identifier (\"vhdxfile\" missing)"));
        }

        // Headers: the valid one with the highest sequence number.
        let mut best: Option<(u64, Vec<u8>)> = None;
        for off in HEADER_OFFSETS {
            let mut h = vec![0u8; HEADER_SIZE];
            read_exact_at(&file, path, &mut h, off, "header")?;
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
            read_exact_at(&file, path, &mut t, off, "region table")?;
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
            if region.offset % MIB != 0 || region.offset < MIB {
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
        read_exact_at(&file, path, &mut raw, bat_region.offset, "BAT")?;
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
        read_exact_at(file, path, &mut t, region.offset, "metadata table")?;
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
                Some(h) => read_exact_at(&self.file, &self.path, dst, h, "data block"),
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

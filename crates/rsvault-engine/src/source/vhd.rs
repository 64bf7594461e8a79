//! VHD images (Microsoft Virtual Hard Disk Image Format v1.0, QEMU's `vpc`),
//! fixed and dynamic, read natively.
//!
//! A fixed disk is its data followed by a 512-byte footer. A dynamic disk has
//! a footer copy at 0, a dynamic header, a block allocation table (BAT) of
//! big-endian sector numbers, and blocks each preceded by a sector bitmap; a
//! sector whose bitmap bit is clear reads as zeros. The virtual size is the
//! footer's current size (for images QEMU makes it equals the CHS size).
//! Differencing disks are refused.

use super::{DiskSource, Extent, ExtentKind, check_range, coalesce};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FORMAT: &str = "vhd";
const FOOTER_COOKIE: &[u8; 8] = b"conectix";
const DYN_COOKIE: &[u8; 8] = b"cxsparse";
const FOOTER_SIZE: u64 = 512;
const DYN_HEADER_SIZE: usize = 1024;
const SECTOR: u64 = 512;
const UNALLOCATED: u32 = 0xffff_ffff;
/// Largest block size accepted (the spec's default is 2 MiB).
const MAX_BLOCK_SIZE: u32 = 1 << 28;

const TYPE_FIXED: u32 = 2;
const TYPE_DYNAMIC: u32 = 3;
const TYPE_DIFFERENCING: u32 = 4;

#[derive(Debug)]
enum Layout {
    Fixed,
    Dynamic {
        block_size: u64,
        /// Bytes of the sector bitmap before each block (a multiple of 512).
        bitmap_size: u64,
        /// One entry per block of the disk: sector of the block's bitmap.
        bat: Vec<u32>,
        /// The last sector bitmap read, keyed by block index.
        bitmap_cache: Mutex<Option<(u64, Arc<[u8]>)>>,
    },
}

/// A VHD image opened read-only.
#[derive(Debug)]
pub struct VhdImage {
    file: File,
    path: PathBuf,
    file_len: u64,
    size: u64,
    layout: Layout,
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

/// The VHD checksum: one's complement of the byte sum, with the checksum
/// field (4 bytes at `field`) taken as zero.
fn checksum(b: &[u8], field: usize) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(field..field + 4).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
    !sum
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

/// Why a 512-byte footer candidate was rejected.
fn check_footer(f: &[u8; 512]) -> std::result::Result<(), String> {
    if &f[..8] != FOOTER_COOKIE {
        return Err("no footer (the \"conectix\" cookie is missing)".into());
    }
    let stored = be32(f, 64);
    let computed = checksum(f, 64);
    if stored != computed {
        return Err(format!(
            "footer checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Ok(())
}

impl VhdImage {
    /// Opens a fixed or dynamic VHD read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();
        if file_len < FOOTER_SIZE {
            return Err(invalid(
                path,
                format!(
                    "the file is {file_len} bytes long, shorter than a VHD footer (truncated?)"
                ),
            ));
        }

        // The footer at the end; for dynamic disks a copy at 0 is used if
        // the one at the end is damaged.
        let mut footer = [0u8; 512];
        read_exact_at(&file, path, &mut footer, file_len - FOOTER_SIZE, "footer")?;
        if let Err(end_problem) = check_footer(&footer) {
            let mut copy = [0u8; 512];
            read_exact_at(&file, path, &mut copy, 0, "footer copy")?;
            let copy_ok = check_footer(&copy).is_ok()
                && matches!(be32(&copy, 60), TYPE_DYNAMIC | TYPE_DIFFERENCING);
            if !copy_ok {
                return Err(invalid(path, end_problem));
            }
            footer = copy;
        }
        let data_offset = be64(&footer, 16);
        let current_size = be64(&footer, 48);
        let disk_type = be32(&footer, 60);

        let (size, layout) = match disk_type {
            TYPE_FIXED => {
                if current_size > file_len - FOOTER_SIZE {
                    return Err(invalid(
                        path,
                        format!(
                            "the footer says {current_size} bytes but the file holds only {} bytes of data (truncated?)",
                            file_len - FOOTER_SIZE
                        ),
                    ));
                }
                (current_size, Layout::Fixed)
            }
            TYPE_DYNAMIC => Self::open_dynamic(&file, path, file_len, data_offset, current_size)?,
            TYPE_DIFFERENCING => {
                return Err(unsupported(
                    path,
                    "differencing VHDs are not read; merge it with its parent, e.g. \
                     `qemu-img convert -O vpc -o subformat=dynamic child.vhd merged.vhd`",
                ));
            }
            t => return Err(invalid(path, format!("unknown disk type {t}"))),
        };
        Ok(VhdImage {
            file,
            path: path.to_owned(),
            file_len,
            size,
            layout,
        })
    }

    fn open_dynamic(
        file: &File,
        path: &Path,
        file_len: u64,
        data_offset: u64,
        size: u64,
    ) -> Result<(u64, Layout)> {
        match data_offset.checked_add(DYN_HEADER_SIZE as u64) {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(invalid(
                    path,
                    format!(
                        "the dynamic header offset {data_offset:#x} is past the end of the file"
                    ),
                ));
            }
        }
        let mut h = [0u8; DYN_HEADER_SIZE];
        read_exact_at(file, path, &mut h, data_offset, "dynamic header")?;
        if &h[..8] != DYN_COOKIE {
            return Err(invalid(
                path,
                "bad dynamic header cookie (\"cxsparse\" missing)",
            ));
        }
        let stored = be32(&h, 36);
        let computed = checksum(&h, 36);
        if stored != computed {
            return Err(invalid(
                path,
                format!(
                    "dynamic header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                ),
            ));
        }
        let table_offset = be64(&h, 16);
        let max_entries = be32(&h, 28);
        let block_size = be32(&h, 32);
        if !block_size.is_power_of_two()
            || u64::from(block_size) < SECTOR
            || block_size > MAX_BLOCK_SIZE
        {
            return Err(invalid(path, format!("invalid block size {block_size}")));
        }
        let block_size = u64::from(block_size);
        let blocks = size.div_ceil(block_size);
        if blocks > u64::from(max_entries) {
            return Err(invalid(
                path,
                format!("the BAT has {max_entries} entries, too few for a {size}-byte disk"),
            ));
        }
        // Only the entries covering the disk are read; they must be in the file.
        let bat_bytes = blocks * 4;
        match table_offset.checked_add(bat_bytes) {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(invalid(
                    path,
                    format!(
                        "the BAT at {table_offset:#x} ({bat_bytes} bytes) runs past the end of the file (truncated?)"
                    ),
                ));
            }
        }
        let mut raw = vec![0u8; bat_bytes as usize];
        read_exact_at(file, path, &mut raw, table_offset, "BAT")?;
        let bat = raw.chunks_exact(4).map(|c| be32(c, 0)).collect();
        let bitmap_size = (block_size / SECTOR).div_ceil(8).div_ceil(SECTOR) * SECTOR;
        Ok((
            size,
            Layout::Dynamic {
                block_size,
                bitmap_size,
                bat,
                bitmap_cache: Mutex::new(None),
            },
        ))
    }

    /// The sector bitmap of allocated block `block` whose bitmap starts at `start`.
    fn bitmap(
        &self,
        cache: &Mutex<Option<(u64, Arc<[u8]>)>>,
        block: u64,
        start: u64,
        bitmap_size: u64,
    ) -> Result<Arc<[u8]>> {
        {
            let c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((b, bm)) = c.as_ref() {
                if *b == block {
                    return Ok(bm.clone());
                }
            }
        }
        let mut raw = vec![0u8; bitmap_size as usize];
        read_exact_at(&self.file, &self.path, &mut raw, start, "sector bitmap")?;
        let bm: Arc<[u8]> = raw.into();
        *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((block, bm.clone()));
        Ok(bm)
    }

    /// Calls `f(offset, len, host)` for consecutive pieces of
    /// `[offset, offset+len)`: `host` is where the bytes are in the file, or
    /// `None` where they read as zeros.
    fn walk(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, Option<u64>) -> Result<()>,
    ) -> Result<()> {
        let end = offset + len;
        let Layout::Dynamic {
            block_size,
            bitmap_size,
            bat,
            bitmap_cache,
        } = &self.layout
        else {
            return if len > 0 {
                f(offset, len, Some(offset))
            } else {
                Ok(())
            };
        };
        let (block_size, bitmap_size) = (*block_size, *bitmap_size);
        let mut pos = offset;
        while pos < end {
            let block = pos / block_size;
            let block_start = block * block_size;
            let block_end = (block_start + block_size).min(end);
            let entry = bat.get(block as usize).copied().unwrap_or(UNALLOCATED);
            if entry == UNALLOCATED {
                f(pos, block_end - pos, None)?;
                pos = block_end;
                continue;
            }
            let bitmap_start = u64::from(entry) * SECTOR;
            let data_start = bitmap_start + bitmap_size;
            // The part of the block the disk uses must be in the file.
            let used = block_size.min(self.size - block_start);
            if data_start + used > self.file_len {
                return Err(invalid(
                    &self.path,
                    format!(
                        "block {block} at {bitmap_start:#x} runs past the end of the file (truncated image?)"
                    ),
                ));
            }
            let bm = self.bitmap(bitmap_cache, block, bitmap_start, bitmap_size)?;
            // Runs of sectors with the same bitmap bit.
            while pos < block_end {
                let in_block = pos - block_start;
                let sector = in_block / SECTOR;
                let bit = |s: u64| bm[(s / 8) as usize] & (0x80 >> (s % 8)) != 0;
                let present = bit(sector);
                let whole = if present { 0xff } else { 0 };
                let mut s = sector + 1;
                let last_sector = (block_end - block_start).div_ceil(SECTOR);
                while s < last_sector {
                    if s % 8 == 0 && s + 8 <= last_sector && bm[(s / 8) as usize] == whole {
                        s += 8;
                    } else if bit(s) == present {
                        s += 1;
                    } else {
                        break;
                    }
                }
                let run_end = (block_start + s * SECTOR).min(block_end);
                f(pos, run_end - pos, present.then_some(data_start + in_block))?;
                pos = run_end;
            }
        }
        Ok(())
    }
}

impl DiskSource for VhdImage {
    fn size(&self) -> u64 {
        self.size
    }

    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let mut out = Vec::new();
        self.walk(offset, len, |o, l, host| {
            let kind = if host.is_some() {
                ExtentKind::Data
            } else {
                ExtentKind::Zero
            };
            match out.last_mut() {
                Some(Extent {
                    offset: lo,
                    len: ll,
                    kind: lk,
                }) if *lk == kind && *lo + *ll == o => *ll += l,
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
                Some(h) => read_exact_at(&self.file, &self.path, dst, h, "data"),
                None => {
                    dst.fill(0);
                    Ok(())
                }
            }
        })
    }

    fn format(&self) -> &'static str {
        match self.layout {
            Layout::Fixed => "vhd-fixed",
            Layout::Dynamic { .. } => "vhd-dynamic",
        }
    }
}

//! VHD images (Microsoft Virtual Hard Disk Image Format v1.0, QEMU's `vpc`),
//! fixed and dynamic, read natively.
//!
//! A fixed disk is its data followed by a 512-byte footer. A dynamic disk has
//! a footer copy at 0, a dynamic header, a block allocation table (BAT) of
//! big-endian sector numbers, and blocks each preceded by a sector bitmap; a
//! sector whose bitmap bit is clear reads as zeros. The virtual size is the
//! footer's current size (for images QEMU makes it equals the CHS size).
//! Differencing disks are refused.

use super::util::{be32, be64, read_exact_at};
use super::{DiskSource, Extent, ExtentKind, check_range, coalesce};
use crate::error::{Error, Result};
use std::fs::File;
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

/// The last sector bitmap read, keyed by block index.
type BitmapCache = Mutex<Option<(u64, Arc<[u8]>)>>;

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
        bitmap_cache: BitmapCache,
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
        Self::from_file(file, path)
    }

    /// Reads an image from a file already open; `path` names it in errors.
    pub fn from_file(file: File, path: &Path) -> Result<Self> {
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
        read_exact_at(
            FORMAT,
            &file,
            path,
            &mut footer,
            file_len - FOOTER_SIZE,
            "footer",
        )?;
        if let Err(end_problem) = check_footer(&footer) {
            let mut copy = [0u8; 512];
            read_exact_at(FORMAT, &file, path, &mut copy, 0, "footer copy")?;
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
        read_exact_at(FORMAT, file, path, &mut h, data_offset, "dynamic header")?;
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
        read_exact_at(FORMAT, file, path, &mut raw, table_offset, "BAT")?;
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
        cache: &BitmapCache,
        block: u64,
        start: u64,
        bitmap_size: u64,
    ) -> Result<Arc<[u8]>> {
        {
            let c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((b, bm)) = c.as_ref()
                && *b == block
            {
                return Ok(bm.clone());
            }
        }
        let mut raw = vec![0u8; bitmap_size as usize];
        read_exact_at(
            FORMAT,
            &self.file,
            &self.path,
            &mut raw,
            start,
            "sector bitmap",
        )?;
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
                    if s.is_multiple_of(8) && s + 8 <= last_sector && bm[(s / 8) as usize] == whole
                    {
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
                Some(h) => read_exact_at(FORMAT, &self.file, &self.path, dst, h, "data"),
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

#[cfg(test)]
mod tests {
    use super::*;

    const BS: usize = 4096; // 8 sectors per block, a 512-byte bitmap

    fn footer(disk_type: u32, size: u64, data_offset: u64) -> [u8; 512] {
        let mut f = [0u8; 512];
        f[..8].copy_from_slice(FOOTER_COOKIE);
        f[8..12].copy_from_slice(&2u32.to_be_bytes());
        f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[16..24].copy_from_slice(&data_offset.to_be_bytes());
        f[28..32].copy_from_slice(b"test");
        f[40..48].copy_from_slice(&size.to_be_bytes());
        f[48..56].copy_from_slice(&size.to_be_bytes());
        f[60..64].copy_from_slice(&disk_type.to_be_bytes());
        seal(&mut f, 64);
        f
    }

    fn seal(b: &mut [u8], field: usize) {
        b[field..field + 4].fill(0);
        let c = checksum(b, field);
        b[field..field + 4].copy_from_slice(&c.to_be_bytes());
    }

    fn fixed(data: &[u8]) -> Vec<u8> {
        let mut b = data.to_vec();
        b.extend_from_slice(&footer(TYPE_FIXED, data.len() as u64, u64::MAX));
        b
    }

    /// A dynamic disk of `size` bytes whose blocks are (index, bitmap byte,
    /// fill byte): footer copy, dynamic header at 512, BAT at 1536, blocks.
    fn dynamic(size: u64, max_entries: u32, blocks: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = footer(TYPE_DYNAMIC, size, 512).to_vec();
        let mut h = [0u8; DYN_HEADER_SIZE];
        h[..8].copy_from_slice(DYN_COOKIE);
        h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        h[16..24].copy_from_slice(&1536u64.to_be_bytes());
        h[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        h[28..32].copy_from_slice(&max_entries.to_be_bytes());
        h[32..36].copy_from_slice(&(BS as u32).to_be_bytes());
        seal(&mut h, 36);
        b.extend_from_slice(&h);
        let bat_len = (max_entries as usize * 4).div_ceil(512) * 512;
        b.extend(std::iter::repeat_n(0xff, bat_len));
        for &(idx, bits, fill) in blocks {
            let sector = (b.len() / 512) as u32;
            b[1536 + idx * 4..1536 + idx * 4 + 4].copy_from_slice(&sector.to_be_bytes());
            let mut bitmap = [0u8; 512];
            bitmap[0] = bits;
            b.extend_from_slice(&bitmap);
            b.extend(std::iter::repeat_n(fill, BS));
        }
        let f = footer(TYPE_DYNAMIC, size, 512);
        b.extend_from_slice(&f);
        b
    }

    fn open_bytes(b: &[u8]) -> Result<VhdImage> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.vhd");
        std::fs::write(&p, b).unwrap();
        VhdImage::open(&p)
    }

    fn is_invalid<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(e @ Error::InvalidImage { .. }) => e.to_string(),
            other => panic!("expected InvalidImage, got {other:?}"),
        }
    }

    #[test]
    fn fixed_disk() {
        let data: Vec<u8> = (0..3 * 512 + 100).map(|i| (i % 251) as u8).collect();
        let img = open_bytes(&fixed(&data)).unwrap();
        assert_eq!(img.format(), "vhd-fixed");
        assert_eq!(img.size(), data.len() as u64);
        let mut buf = vec![0u8; data.len()];
        img.read_at(&mut buf, 0).unwrap();
        assert_eq!(buf, data);
        let m = img.map(10, 100).unwrap();
        assert_eq!(
            m,
            vec![Extent {
                offset: 10,
                len: 100,
                kind: ExtentKind::Data
            }]
        );
        assert!(img.read_at(&mut buf[..2], data.len() as u64 - 1).is_err());
    }

    #[test]
    fn dynamic_disk_honours_bitmaps() {
        // Block 0: sectors 0 and 2 present; block 1 unallocated; block 2 full.
        let size = 3 * BS as u64 - 100;
        let img = open_bytes(&dynamic(size, 4, &[(0, 0b1010_0000, 7), (2, 0xff, 9)])).unwrap();
        assert_eq!(img.format(), "vhd-dynamic");
        assert_eq!(img.size(), size);
        let mut buf = vec![0xeeu8; size as usize];
        img.read_at(&mut buf, 0).unwrap();
        let mut want = vec![0u8; size as usize];
        want[..512].fill(7);
        want[1024..1536].fill(7);
        want[2 * BS..].fill(9);
        assert!(buf == want);
        let m = img.map(0, size).unwrap();
        let got: Vec<_> = m.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            got,
            vec![
                (0, 512, ExtentKind::Data),
                (512, 512, ExtentKind::Zero),
                (1024, 512, ExtentKind::Data),
                (1536, 2 * BS as u64 - 1536, ExtentKind::Zero),
                (2 * BS as u64, BS as u64 - 100, ExtentKind::Data),
            ]
        );
        // A read starting mid-sector inside a run.
        let mut b = [0u8; 4];
        img.read_at(&mut b, 1022).unwrap();
        assert_eq!(b, [0, 0, 7, 7]);
    }

    #[test]
    fn bad_footers() {
        let good = fixed(&[1u8; 1024]);
        let n = good.len();
        assert!(is_invalid(open_bytes(&good[..300])).contains("shorter"));
        let mut m = good.clone();
        m[n - 512] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("cookie"));
        let mut m = good.clone();
        m[n - 512 + 50] ^= 1;
        assert!(is_invalid(open_bytes(&m)).contains("checksum"));
        let mut m = good.clone();
        m[n - 512 + 64] ^= 1;
        assert!(is_invalid(open_bytes(&m)).contains("checksum"));
        // Size beyond the data.
        let mut m = good[..n - 512].to_vec();
        m.extend_from_slice(&footer(TYPE_FIXED, 4096, u64::MAX));
        assert!(is_invalid(open_bytes(&m)).contains("truncated"));
        let mut m = good[..n - 512].to_vec();
        m.extend_from_slice(&footer(9, 1024, u64::MAX));
        assert!(is_invalid(open_bytes(&m)).contains("disk type"));
        let mut m = good[..n - 512].to_vec();
        m.extend_from_slice(&footer(TYPE_DIFFERENCING, 1024, 512));
        match open_bytes(&m) {
            Err(e @ Error::UnsupportedImage { .. }) => {
                assert!(e.to_string().contains("qemu-img convert"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_dynamic_headers() {
        let good = dynamic(2 * BS as u64, 2, &[(0, 0xff, 1)]);
        let n = good.len();
        open_bytes(&good).unwrap();
        // Damaged end footer: the copy at 0 is used; both damaged: refused.
        let mut m = good.clone();
        m[n - 512 + 50] ^= 1;
        open_bytes(&m).unwrap();
        m[50] ^= 1;
        is_invalid(open_bytes(&m));
        let mut m = good.clone();
        m[512] = b'X';
        assert!(is_invalid(open_bytes(&m)).contains("cxsparse"));
        let mut m = good.clone();
        m[512 + 100] ^= 1;
        assert!(is_invalid(open_bytes(&m)).contains("checksum"));
        let patch = |f: &dyn Fn(&mut [u8])| {
            let mut m = good.clone();
            f(&mut m[512..1536]);
            seal(&mut m[512..1536], 36);
            open_bytes(&m)
        };
        assert!(
            is_invalid(patch(&|h| h[32..36].copy_from_slice(&3000u32.to_be_bytes())))
                .contains("block size")
        );
        assert!(
            is_invalid(patch(&|h| h[32..36].copy_from_slice(&256u32.to_be_bytes())))
                .contains("block size")
        );
        assert!(
            is_invalid(patch(&|h| h[28..32].copy_from_slice(&1u32.to_be_bytes())))
                .contains("too few")
        );
        assert!(
            is_invalid(patch(
                &|h| h[16..24].copy_from_slice(&u64::MAX.to_be_bytes())
            ))
            .contains("BAT")
        );
        // The dynamic header offset past the end of the file.
        let mut m = good.clone();
        let mut f = footer(TYPE_DYNAMIC, 2 * BS as u64, 1 << 40);
        m[..512].copy_from_slice(&f);
        f = footer(TYPE_DYNAMIC, 2 * BS as u64, 1 << 40);
        m[n - 512..].copy_from_slice(&f);
        is_invalid(open_bytes(&m));
        // A block pointing past the end of the file fails at read time.
        let mut m = good.clone();
        m[1536..1540].copy_from_slice(&0x00ff_0000u32.to_be_bytes());
        let img = open_bytes(&m).unwrap();
        assert!(is_invalid(img.read_at(&mut [0u8; 1], 0)).contains("truncated"));
        is_invalid(img.map(0, 1));
    }

    #[test]
    fn checksum_is_ones_complement_of_byte_sum() {
        let mut b = [0u8; 16];
        b[0] = 1;
        b[1] = 2;
        b[8] = 0xff; // inside the field: ignored
        assert_eq!(checksum(&b, 8), !3u32);
    }
}

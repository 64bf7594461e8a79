//! Raw disk images, read sparse-aware: holes (found with `SEEK_DATA` /
//! `SEEK_HOLE`) are reported as [`ExtentKind::Zero`] and never read.

use super::{DiskSource, Extent, ExtentKind, check_range, coalesce};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A raw image file.
#[derive(Debug)]
pub struct RawImage {
    file: File,
    path: PathBuf,
    size: u64,
}

impl RawImage {
    /// Opens a raw image read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Self::from_file(file, path)
    }

    /// Reads an image from a file already open; `path` names it in errors.
    pub fn from_file(file: File, path: &Path) -> Result<Self> {
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
        let size = if meta.file_type().is_block_device() {
            use std::io::{Seek, SeekFrom};
            (&file)
                .seek(SeekFrom::End(0))
                .map_err(|e| Error::io(format!("size of {}", path.display()), e))?
        } else {
            meta.len()
        };
        Ok(RawImage {
            file,
            path: path.to_owned(),
            size,
        })
    }

    fn seek(&self, whence: rustix::fs::SeekFrom) -> Result<Option<u64>> {
        match rustix::fs::seek(&self.file, whence) {
            Ok(p) => Ok(Some(p)),
            Err(rustix::io::Errno::NXIO) => Ok(None),
            Err(e) => Err(Error::io(
                format!("seek in {}", self.path.display()),
                e.into(),
            )),
        }
    }
}

use std::os::unix::fs::FileTypeExt;

impl DiskSource for RawImage {
    fn size(&self) -> u64 {
        self.size
    }

    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let end = offset + len;
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let data = match self.seek(rustix::fs::SeekFrom::Data(pos)) {
                Ok(Some(d)) => d.min(end),
                Ok(None) => end,
                // Filesystems or devices without SEEK_DATA: everything is data.
                Err(_) => {
                    out.push(Extent {
                        offset: pos,
                        len: end - pos,
                        kind: ExtentKind::Data,
                    });
                    break;
                }
            };
            if data > pos {
                out.push(Extent {
                    offset: pos,
                    len: data - pos,
                    kind: ExtentKind::Zero,
                });
            }
            if data >= end {
                break;
            }
            let hole = self
                .seek(rustix::fs::SeekFrom::Hole(data))?
                .unwrap_or(end)
                .min(end);
            out.push(Extent {
                offset: data,
                len: hole - data,
                kind: ExtentKind::Data,
            });
            pos = hole;
        }
        Ok(coalesce(out))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(format!("read {} at {offset}", self.path.display()), e))
    }

    fn format(&self) -> &'static str {
        "raw"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn sparse_file_maps_holes_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.raw");
        let mut f = File::create(&p).unwrap();
        f.set_len(8 << 20).unwrap();
        f.seek(SeekFrom::Start(3 << 20)).unwrap();
        f.write_all(&[7u8; 65536]).unwrap();
        f.sync_all().unwrap();
        let img = RawImage::open(&p).unwrap();
        let m = img.map(0, 8 << 20).unwrap();
        let data: u64 = m
            .iter()
            .filter(|e| e.kind == ExtentKind::Data)
            .map(|e| e.len)
            .sum();
        assert!((65536..8 << 20).contains(&data), "{m:?}");
        assert_eq!(m.iter().map(|e| e.len).sum::<u64>(), 8 << 20);
        let mut b = vec![0u8; 16];
        img.read_at(&mut b, 3 << 20).unwrap();
        assert_eq!(b, vec![7u8; 16]);
        assert!(img.read_at(&mut b, (8 << 20) - 8).is_err());
    }
}

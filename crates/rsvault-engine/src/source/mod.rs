//! Disk sources: the images a recovery point is read from.
//!
//! A [`DiskSource`] is a virtual disk of a fixed size that can say which of its
//! ranges hold data and which read as zeros without being read (holes,
//! unallocated or zero clusters), and read any range. Format readers live in
//! the submodules; [`open_image`] probes the format of a file.

use crate::error::{Error, Result};
use std::path::Path;

mod confine;
pub mod nbd;
pub mod qcow2;
pub mod raw;
mod util;
pub mod vhd;
pub mod vhdx;

pub use confine::{ImageRoots, open_image_within};

/// What a range of a disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentKind {
    /// The range may hold non-zero data and must be read.
    Data,
    /// The range reads as zeros; it need not be read.
    Zero,
}

/// A contiguous range of a disk with one [`ExtentKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
    pub kind: ExtentKind,
}

/// A readable virtual disk.
///
/// Implementations must be usable from several threads at once
/// (`read_at` takes `&self`).
pub trait DiskSource: Send + Sync {
    /// Virtual size of the disk in bytes.
    fn size(&self) -> u64;

    /// The extents covering `[offset, offset + len)`, in order, without gaps,
    /// clipped to the range. Adjacent extents may have the same kind.
    /// `offset + len` must not exceed [`DiskSource::size`].
    fn map(&self, offset: u64, len: u64) -> Result<Vec<Extent>>;

    /// Fills `buf` with the disk's bytes at `offset`. Ranges that are holes or
    /// zero clusters read as zeros. `offset + buf.len()` must not exceed the size.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Short name of the format, e.g. `raw`, `qcow2`, `vhd-dynamic`.
    fn format(&self) -> &'static str;
}

/// The image formats rsvault reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Raw,
    Qcow2,
    Vhd,
    Vhdx,
}

/// Guesses the format of an image file from its magic numbers:
/// qcow2 (`QFI\xfb` at 0), VHDX (`vhdxfile` at 0), VHD (`conectix` in the
/// last 512 bytes, or at 0 for a dynamic disk's footer copy), else raw.
pub fn probe_format(path: &Path) -> Result<ImageFormat> {
    let f = open_file(path, false)?;
    probe_file(&f, path)
}

/// [`probe_format`] of a file already open (its offset is left as is).
pub fn probe_file(file: &std::fs::File, path: &Path) -> Result<ImageFormat> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file
        .try_clone()
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
        .len();
    let mut head = [0u8; 8];
    let n = read_full(&mut f, &mut head)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    if n >= 4 && &head[..4] == b"QFI\xfb" {
        return Ok(ImageFormat::Qcow2);
    }
    if n == 8 && &head == b"vhdxfile" {
        return Ok(ImageFormat::Vhdx);
    }
    if n == 8 && &head == b"conectix" {
        return Ok(ImageFormat::Vhd);
    }
    if len >= 512 {
        let mut tail = [0u8; 8];
        f.seek(SeekFrom::Start(len - 512))
            .map_err(|e| Error::io(format!("seek {}", path.display()), e))?;
        f.read_exact(&mut tail)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        if &tail == b"conectix" {
            return Ok(ImageFormat::Vhd);
        }
    }
    Ok(ImageFormat::Raw)
}

/// Opens a file read-only; with `no_follow`, a final symlink is refused
/// (`O_NOFOLLOW`) rather than followed.
pub(crate) fn open_file(path: &Path, no_follow: bool) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    if no_follow {
        o.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    o.open(path).map_err(|e| {
        if no_follow && e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            Error::PathNotAllowed {
                path: path.to_owned(),
                reason: "is a symbolic link; name the image file itself".into(),
            }
        } else {
            Error::io(format!("open {}", path.display()), e)
        }
    })
}

/// Reads an image of a known format from a file already open; `roots`
/// confines a qcow2 image's backing chain.
pub(crate) fn from_file_as(
    file: std::fs::File,
    path: &Path,
    format: ImageFormat,
    roots: Option<&ImageRoots>,
) -> Result<Box<dyn DiskSource>> {
    Ok(match format {
        ImageFormat::Raw => Box::new(raw::RawImage::from_file(file, path)?),
        ImageFormat::Qcow2 => Box::new(qcow2::Qcow2Image::from_file(file, path, roots)?),
        ImageFormat::Vhd => Box::new(vhd::VhdImage::from_file(file, path)?),
        ImageFormat::Vhdx => Box::new(vhdx::VhdxImage::from_file(file, path)?),
    })
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Opens an image file, probing its format.
pub fn open_image(path: &Path) -> Result<Box<dyn DiskSource>> {
    open_image_as(path, probe_format(path)?)
}

/// Opens an image file as the given format.
pub fn open_image_as(path: &Path, format: ImageFormat) -> Result<Box<dyn DiskSource>> {
    Ok(match format {
        ImageFormat::Raw => Box::new(raw::RawImage::open(path)?),
        ImageFormat::Qcow2 => Box::new(qcow2::Qcow2Image::open(path)?),
        ImageFormat::Vhd => Box::new(vhd::VhdImage::open(path)?),
        ImageFormat::Vhdx => Box::new(vhdx::VhdxImage::open(path)?),
    })
}

/// Merges adjacent extents of the same kind.
pub fn coalesce(extents: Vec<Extent>) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::with_capacity(extents.len());
    for e in extents {
        if e.len == 0 {
            continue;
        }
        if let Some(last) = out.last_mut()
            && last.kind == e.kind
            && last.offset + last.len == e.offset
        {
            last.len += e.len;
            continue;
        }
        out.push(e);
    }
    out
}

/// Checks that `[offset, offset+len)` lies within a disk of `size` bytes.
pub fn check_range(size: u64, offset: u64, len: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::InvalidInput(format!(
            "range {offset}+{len} is beyond the end of a {size}-byte disk"
        ))),
    }
}

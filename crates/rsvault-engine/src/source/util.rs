//! Helpers shared by the image format readers.

use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Reads exactly `buf.len()` bytes at `offset`; a short file is an invalid
/// `format` image ("truncated"), other failures are I/O errors.
pub(crate) fn read_exact_at(
    format: &'static str,
    file: &File,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
    what: &str,
) -> Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::InvalidImage {
                path: path.to_owned(),
                format,
                reason: format!(
                    "{what} at offset {offset} runs past the end of the file (truncated image?)"
                ),
            }
        } else {
            Error::io(format!("read {} at {offset}", path.display()), e)
        }
    })
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Big-endian u32 at `at` (the caller checked the bounds).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(b, at))
}

/// Big-endian u64 at `at`.
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(b, at))
}

/// Little-endian u16 at `at`.
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array(b, at))
}

/// Little-endian u32 at `at`.
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(b, at))
}

/// Little-endian u64 at `at`.
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(b, at))
}

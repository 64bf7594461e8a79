//! Shared harness of the image reader fuzz targets: the readers take paths,
//! so each input is written to a file and opened, mapped and read.

use rsvault_engine::source::{DiskSource, qcow2, vhd, vhdx};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Which reader a target drives.
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    Qcow2,
    Vhd,
    Vhdx,
}

/// A scratch file private to this process.
fn scratch(reader: Reader) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("rsvault-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create scratch dir");
        d
    });
    dir.join(format!("{reader:?}.img").to_lowercase())
}

/// Opens `data` as an image with `reader`; if that works, maps and reads a
/// little of it. Errors are fine; panics, hangs and huge allocations are bugs.
pub fn exercise(reader: Reader, data: &[u8]) {
    let path = scratch(reader);
    std::fs::write(&path, data).expect("write scratch image");
    let src: Box<dyn DiskSource> = match reader {
        Reader::Qcow2 => match qcow2::Qcow2Image::open(&path) {
            Ok(i) => Box::new(i),
            Err(_) => return,
        },
        Reader::Vhd => match vhd::VhdImage::open(&path) {
            Ok(i) => Box::new(i),
            Err(_) => return,
        },
        Reader::Vhdx => match vhdx::VhdxImage::open(&path) {
            Ok(i) => Box::new(i),
            Err(_) => return,
        },
    };
    let size = src.size();
    let span = size.min(64 << 20);
    if let Ok(extents) = src.map(0, span) {
        assert_eq!(
            extents.iter().map(|e| e.len).sum::<u64>(),
            span,
            "map does not cover the range"
        );
        let mut pos = 0;
        for e in &extents {
            assert_eq!(e.offset, pos, "map has a gap");
            pos += e.len;
        }
        let mut buf = [0u8; 512];
        for e in extents.iter().take(16) {
            let n = e.len.min(512) as usize;
            let _ = src.read_at(&mut buf[..n], e.offset);
        }
    }
    let mut head = vec![0u8; span.min(256 << 10) as usize];
    let _ = src.read_at(&mut head, 0);
    let tail_len = size.min(4096);
    let mut tail = vec![0u8; tail_len as usize];
    let _ = src.read_at(&mut tail, size - tail_len);
    let _ = src.map(size - tail_len, tail_len);
    assert!(
        src.read_at(&mut [0u8; 1], size).is_err(),
        "read past the end succeeded"
    );
}

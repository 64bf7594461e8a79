//! Copying a disk source to an image file: restores from the instant tier,
//! where the point is a snapshot image on the host rather than chunks in
//! the store. Only ranges holding data are read; zeros are never written.
//! Like a restore, the image is written under a temporary name and renamed
//! into place only when complete.

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::restore::{RestoreOptions, RestoreStats, Sink, conclude, partial_path, worker_threads};
use crate::source::{DiskSource, ExtentKind};
use crossbeam_channel::bounded;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Unit of work: 1 MiB, a multiple of the 64 KiB cluster.
const PIECE: u64 = 1 << 20;
const CLUSTER: usize = 64 << 10;

/// Copies `source` to `output` in the chosen format.
pub fn copy_image(
    source: &dyn DiskSource,
    output: &Path,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreStats> {
    let started = Instant::now();
    let size = source.size();
    let partial = partial_path(output);
    let sink = Sink::create(opts.format, &partial, size, CLUSTER as u32)?;
    let threads = worker_threads(opts.threads);
    let extents = source.map(0, size)?;
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let abort = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let fail = |e: Error| {
        let mut f = failed.lock().expect("lock");
        if f.is_none() {
            *f = Some(e);
        }
        abort.store(true, Ordering::SeqCst);
    };
    progress.start("copy", size);
    std::thread::scope(|s| {
        let (tx, rx) = bounded::<(u64, u64)>(threads * 4);
        for _ in 0..threads {
            let rx = rx.clone();
            let (sink, fail, abort, written) = (&sink, &fail, &abort, &written);
            s.spawn(move || {
                let mut buf = vec![0u8; PIECE as usize];
                for (off, len) in rx {
                    if abort.load(Ordering::Relaxed) {
                        continue;
                    }
                    let b = &mut buf[..len as usize];
                    let r = source.read_at(b, off).and_then(|()| {
                        // Write cluster by cluster, skipping zeros, so the
                        // copy stays sparse in both formats.
                        for (i, piece) in b.chunks(CLUSTER).enumerate() {
                            if !crate::codec::is_zero(piece) {
                                sink.write(off + (i * CLUSTER) as u64, piece, CLUSTER)?;
                                written.fetch_add(piece.len() as u64, Ordering::Relaxed);
                            }
                        }
                        progress.advance(len);
                        Ok(())
                    });
                    if let Err(e) = r {
                        fail(e);
                    }
                }
            });
        }
        drop(rx);
        'feed: for e in &extents {
            if e.kind == ExtentKind::Zero {
                progress.advance(e.len);
                continue;
            }
            // Pieces aligned to PIECE so clusters never straddle two.
            let mut off = e.offset - e.offset % CLUSTER as u64;
            let end = e.offset + e.len;
            while off < end {
                if abort.load(Ordering::Relaxed) {
                    break 'feed;
                }
                if opts
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    fail(Error::Cancelled);
                    break 'feed;
                }
                let next = ((off / PIECE) + 1) * PIECE;
                let stop = next.min(end.next_multiple_of(CLUSTER as u64)).min(size);
                if tx.send((off, stop - off)).is_err() {
                    break 'feed;
                }
                off = stop;
            }
        }
        drop(tx);
    });
    progress.finish();
    conclude(
        failed.into_inner().expect("lock"),
        sink,
        opts.sync,
        &partial,
        output,
    )?;
    Ok(RestoreStats {
        point: String::new(),
        size,
        bytes_written: written.load(Ordering::Relaxed),
        chunks: size.div_ceil(CLUSTER as u64),
        chunks_zero: 0,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::restore::RestoreFormat;
    use crate::source::open_image;
    use std::fs::File;

    #[test]
    fn copies_are_identical_and_sparse() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.raw");
        let size = 5 * PIECE + 12288;
        let f = File::create(&src).unwrap();
        f.set_len(size).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&[7u8; 100_000], PIECE - 50_000).unwrap();
        f.write_all_at(&[9u8; 10], size - 10).unwrap();
        drop(f);
        let img = open_image(&src).unwrap();
        for format in [RestoreFormat::Raw, RestoreFormat::Qcow2] {
            let out = d.path().join(format!("out-{format:?}"));
            let opts = RestoreOptions {
                format,
                ..Default::default()
            };
            let st = copy_image(img.as_ref(), &out, &opts, &NoProgress).unwrap();
            assert!(st.bytes_written < 4 * CLUSTER as u64 + 100_000, "{st:?}");
            let back = open_image(&out).unwrap();
            assert_eq!(back.size(), size);
            let (mut a, mut b) = (vec![0u8; size as usize], vec![0u8; size as usize]);
            img.read_at(&mut a, 0).unwrap();
            back.read_at(&mut b, 0).unwrap();
            assert!(a == b, "{format:?} copy differs");
        }
    }
}

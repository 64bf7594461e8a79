//! Reading blobs from the primary as they are stored: blobs of one pack
//! that lie close together are read with one ranged GET, and every blob is
//! authenticated and hash-checked before it is copied (damage is never
//! spread), by parallel workers.

use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::index::{ChunkIndex, Location};
use crate::pack::pack_key;
use crate::store::Store;
use crossbeam_channel::bounded;
use std::sync::Mutex;

use crate::pack::{READ_GAP as MAX_GAP, READ_MAX as MAX_RANGE};

/// A blob to read: its id and where the primary keeps it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub id: ChunkId,
    pub loc: Location,
}

/// A blob as read: its encoded bytes (to be copied as they are) and, for a
/// tree node, its entries.
#[derive(Debug)]
pub(super) struct Fetched {
    pub id: ChunkId,
    pub kind: BlobKind,
    pub raw_len: u32,
    pub encoded: Vec<u8>,
    pub children: Option<Vec<ChunkId>>,
}

/// One ranged read: a pack, a byte range, and the blobs inside it.
struct Span {
    pack: u32,
    start: u64,
    end: u64,
    members: Vec<usize>,
}

/// Groups blobs into ranged reads, in pack and offset order.
fn spans(wanted: &[Wanted]) -> Vec<Span> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| (wanted[i].loc.pack, wanted[i].loc.offset));
    let mut out: Vec<Span> = Vec::new();
    for i in order {
        let loc = &wanted[i].loc;
        let (start, end) = (loc.offset as u64, loc.offset as u64 + loc.len as u64);
        match out.last_mut() {
            Some(s)
                if s.pack == loc.pack
                    && start >= s.start
                    && start <= s.end + MAX_GAP
                    && end.max(s.end) - s.start <= MAX_RANGE =>
            {
                s.end = s.end.max(end);
                s.members.push(i);
            }
            _ => out.push(Span {
                pack: loc.pack,
                start,
                end,
                members: vec![i],
            }),
        }
    }
    out
}

/// What a fetch read.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FetchCost {
    /// Bytes of the ranges read.
    pub bytes: u64,
}

/// Reads and checks `wanted` from `store` with `threads` workers; returns
/// the blobs in the order asked. `point` names the recovery point in the
/// error when a blob is missing.
pub(super) fn fetch(
    store: &Store,
    index: &ChunkIndex,
    wanted: &[Wanted],
    threads: usize,
    point: &str,
) -> Result<(Vec<Fetched>, FetchCost)> {
    if wanted.is_empty() {
        return Ok((Vec::new(), FetchCost::default()));
    }
    let spans = spans(wanted);
    let cost = FetchCost {
        bytes: spans.iter().map(|s| s.end - s.start).sum(),
    };
    let slots: Mutex<Vec<Option<Fetched>>> = Mutex::new((0..wanted.len()).map(|_| None).collect());
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let workers = threads.clamp(1, spans.len().max(1));
    std::thread::scope(|s| {
        let (tx, rx) = bounded::<&Span>(workers * 2);
        for _ in 0..workers {
            let rx = rx.clone();
            let (slots, failed) = (&slots, &failed);
            s.spawn(move || {
                for span in rx {
                    if failed.lock().expect("lock").is_some() {
                        continue;
                    }
                    match read_span(store, index, wanted, span, point) {
                        Ok(got) => {
                            let mut slots = slots.lock().expect("lock");
                            for (i, f) in got {
                                slots[i] = Some(f);
                            }
                        }
                        Err(e) => {
                            failed.lock().expect("lock").get_or_insert(e);
                        }
                    }
                }
            });
        }
        for span in &spans {
            if tx.send(span).is_err() {
                break;
            }
        }
    });
    if let Some(e) = failed.into_inner().expect("lock") {
        return Err(e);
    }
    let out = slots
        .into_inner()
        .expect("lock")
        .into_iter()
        .map(|f| f.expect("every span was read"))
        .collect();
    Ok((out, cost))
}

fn read_span(
    store: &Store,
    index: &ChunkIndex,
    wanted: &[Wanted],
    span: &Span,
    point: &str,
) -> Result<Vec<(usize, Fetched)>> {
    let pack_id = &index.packs[span.pack as usize];
    let key = pack_key(pack_id);
    let bytes = store
        .backend()
        .get_range(&key, span.start, span.end - span.start)
        .map_err(|e| match e {
            // A pack gc deleted under a reader without a session, or lost.
            Error::MissingObject(what) => Error::MissingChunk {
                point: point.to_owned(),
                chunk: format!("{} (in {what} on the primary)", wanted[span.members[0]].id),
            },
            e => e,
        })?;
    let mut out = Vec::with_capacity(span.members.len());
    for &i in &span.members {
        let Wanted { id, loc } = wanted[i];
        let from = (loc.offset as u64 - span.start) as usize;
        let encoded = bytes[from..from + loc.len as usize].to_vec();
        let data = store.decode_blob(&key, &id, loc.kind, &encoded)?;
        let children = match loc.kind {
            BlobKind::Tree => Some(crate::tree::decode_node(&data, &format!("tree node {id}"))?),
            _ => None,
        };
        out.push((
            i,
            Fetched {
                id,
                kind: loc.kind,
                raw_len: loc.raw_len,
                encoded,
                children,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(pack: u32, offset: u32, len: u32) -> Wanted {
        Wanted {
            id: ChunkId::ZERO,
            loc: Location {
                pack,
                offset,
                len,
                raw_len: len,
                kind: BlobKind::Chunk,
            },
        }
    }

    #[test]
    fn close_blobs_of_one_pack_are_read_together() {
        let w = [
            want(1, 8, 100),
            want(0, 5000, 10),
            want(0, 8, 100),
            want(0, 108, 50),
            // Beyond the gap: a request of its own.
            want(0, 5010 + MAX_GAP as u32 + 1, 10),
        ];
        let s = spans(&w);
        let got: Vec<(u32, u64, u64, Vec<usize>)> = s
            .into_iter()
            .map(|s| (s.pack, s.start, s.end, s.members))
            .collect();
        let far = 5010 + MAX_GAP + 1;
        assert_eq!(
            got,
            vec![
                (0, 8, 5010, vec![2, 3, 1]),
                (0, far, far + 10, vec![4]),
                (1, 8, 108, vec![0]),
            ]
        );
    }

    #[test]
    fn a_read_stays_under_the_largest_range() {
        let w: Vec<Wanted> = (0..40)
            .map(|i| want(0, 8 + i * (1 << 20), 1 << 20))
            .collect();
        let s = spans(&w);
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|s| s.end - s.start <= MAX_RANGE));
        assert_eq!(s.iter().map(|s| s.members.len()).sum::<usize>(), 40);
    }
}

//! Full verification of a store: every pack is read, every blob
//! authenticated, decoded and hash-checked, every point's tree walked to
//! its chunks, and the chain of each disk's points checked for gaps.

use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdMap, IdSet};
use crate::pack::{self, pack_key};
use crate::progress::Progress;
use crate::store::Store;
use crossbeam_channel::bounded;
use std::collections::HashSet;
use std::sync::Mutex;

/// A damaged recovery point.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedPoint {
    pub id: String,
    pub name: String,
    pub time: String,
    pub reason: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub points: usize,
    pub packs: usize,
    pub blobs: u64,
    pub bytes: u64,
    pub damaged_points: Vec<DamagedPoint>,
    /// Problems with objects: packs, index files, manifests, records.
    pub damaged_objects: Vec<String>,
    /// Points whose manifests are gone though a later point names them.
    pub missing_points: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damaged_points.is_empty()
            && self.damaged_objects.is_empty()
            && self.missing_points.is_empty()
    }
}

/// Verifies the whole store.
pub fn verify(store: &Store, threads: usize, progress: &dyn Progress) -> Result<VerifyReport> {
    let mut rep = VerifyReport::default();
    // Condemned packs that still exist are read too: a point committed by a
    // writer that deduplicated against them before gc condemned them needs
    // them until gc revives them.
    let _session = store.begin_read_session("verify");
    let li = store.load_index_readable()?;
    for (f, why) in &li.damaged_files {
        rep.damaged_objects.push(format!("index/{f}: {why}"));
    }
    for p in &li.missing_packs {
        rep.damaged_objects
            .push(format!("{}: listed in the index but missing", pack_key(p)));
    }
    for (p, why) in &li.bad_packs {
        rep.damaged_objects.push(format!("{}: {why}", pack_key(p)));
    }
    let visible: Vec<(String, u64)> = {
        let mut v: Vec<_> = li.packs.iter().map(|(p, m)| (p.clone(), m.size)).collect();
        v.sort();
        v
    };
    rep.packs = visible.len();
    progress.start("verify", visible.iter().map(|v| v.1).sum());

    // Read every visible pack; collect the ids that decode correctly.
    let good = Mutex::new(IdSet::default());
    let problems = Mutex::new(Vec::<String>::new());
    let counters = Mutex::new((0u64, 0u64));
    let threads = threads.max(1);
    std::thread::scope(|s| {
        let (tx, rx) = bounded::<(String, u64)>(threads * 2);
        for _ in 0..threads {
            let rx = rx.clone();
            let (good, problems, counters, li) = (&good, &problems, &counters, &li);
            s.spawn(move || {
                for (pid, size) in rx {
                    let key = pack_key(&pid);
                    let r = check_pack(store, &pid, size, li);
                    progress.advance(size);
                    match r {
                        Ok((ids, errs, n, bytes)) => {
                            good.lock().expect("lock").extend(ids);
                            problems
                                .lock()
                                .expect("lock")
                                .extend(errs.into_iter().map(|e| format!("{key}: {e}")));
                            let mut c = counters.lock().expect("lock");
                            c.0 += n;
                            c.1 += bytes;
                        }
                        // A condemned pack that gc deleted meanwhile held
                        // nothing a point needs.
                        Err(Error::MissingObject(_)) if !li.is_visible(&pid) => {}
                        Err(e) => problems.lock().expect("lock").push(format!("{key}: {e}")),
                    }
                }
            });
        }
        for v in visible {
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    progress.finish();
    let good = good.into_inner().expect("lock");
    rep.damaged_objects
        .extend(problems.into_inner().expect("lock"));
    let (n, bytes) = counters.into_inner().expect("lock");
    rep.blobs = n;
    rep.bytes = bytes;

    // Walk every point.
    let (points, bad) = store.list_points_checked()?;
    for (key, e) in &bad {
        rep.damaged_objects.push(format!("{key}: {e}"));
    }
    rep.points = points.len();
    let mut subtree_ok: IdMap<bool> = IdMap::default();
    for p in &points {
        let mut reasons = Vec::new();
        check_subtree(
            store,
            &li.index,
            &good,
            p.root,
            p.height,
            &mut subtree_ok,
            &mut reasons,
        );
        if !reasons.is_empty() {
            let extra = if reasons.len() > 3 {
                format!(" (and {} more)", reasons.len() - 3)
            } else {
                String::new()
            };
            reasons.truncate(3);
            rep.damaged_points.push(crate::verify::DamagedPoint {
                id: p.id.clone(),
                name: p.name.clone(),
                time: p.time.clone(),
                reason: format!("{}{extra}", reasons.join("; ")),
            });
        }
    }
    // Gaps in each disk's chain.
    let ids: HashSet<&str> = points.iter().map(|p| p.id.as_str()).collect();
    let forgotten = store.forgotten()?;
    let bad_keys: HashSet<String> = bad
        .iter()
        .map(|(k, _)| k.trim_start_matches("points/").to_owned())
        .collect();
    for p in &points {
        if let Some(parent) = &p.parent
            && !ids.contains(parent.as_str())
            && !forgotten.contains(parent)
            && !bad_keys.contains(parent)
        {
            rep.missing_points.push(format!(
                    "recovery point {parent} of disk {:?} (before {}) is missing: its manifest was deleted or lost",
                    p.name, p.id
                ));
        }
    }
    rep.missing_points.sort();
    rep.missing_points.dedup();
    Ok(rep)
}

fn check_subtree(
    store: &Store,
    index: &crate::index::ChunkIndex,
    good: &IdSet,
    id: ChunkId,
    height: u32,
    memo: &mut IdMap<bool>,
    reasons: &mut Vec<String>,
) -> bool {
    if id.is_zero() {
        return true;
    }
    if let Some(ok) = memo.get(&id) {
        if !ok {
            reasons.push(format!("tree node {id} (damaged, seen above)"));
        }
        return *ok;
    }
    let ok = if !good.contains(&id) {
        reasons.push(format!("tree node {id} is missing or damaged"));
        false
    } else {
        match store.read_node(index, &id) {
            Err(e) => {
                reasons.push(format!("tree node {id}: {e}"));
                false
            }
            Ok(children) => {
                let mut all = true;
                for c in children {
                    if height > 1 {
                        all &= check_subtree(store, index, good, c, height - 1, memo, reasons);
                    } else if !c.is_zero() && !good.contains(&c) {
                        reasons.push(format!("chunk {c} is missing or damaged"));
                        all = false;
                    }
                }
                all
            }
        }
    };
    memo.insert(id, ok);
    ok
}

type PackCheck = (Vec<ChunkId>, Vec<String>, u64, u64);

fn check_pack(
    store: &Store,
    pid: &str,
    size: u64,
    li: &crate::store::LoadedIndex,
) -> Result<PackCheck> {
    let key = pack_key(pid);
    let data = store.backend().get(&key)?;
    if data.len() as u64 != size {
        return Err(Error::corrupt(&key, "size changed while reading"));
    }
    if data.len() < 8 + pack::TAIL as usize {
        return Err(Error::corrupt(&key, "pack is too short"));
    }
    let mut errs = Vec::new();
    // A damaged header is reported, but each blob is still judged by its own
    // authentication: restores read blobs by range and never use the header.
    if let Err(e) = pack::check_magic(&data, &key) {
        errs.push(e.to_string());
    }
    // A damaged trailer is reported too; the blobs are then judged by the
    // entries the index holds for this pack, exactly as restores find them.
    let entries = match read_trailer(store, pid, &key, &data) {
        Ok(entries) => entries,
        Err(e) => {
            errs.push(e.to_string());
            li.index.entries_in(pid)
        }
    };
    let mut ids = Vec::with_capacity(entries.len());
    let mut bytes = 0u64;
    for e in &entries {
        let Some(blob) = data.get(e.offset as usize..(e.offset as usize + e.len as usize)) else {
            errs.push(format!("blob {} lies beyond the end of the pack", e.id));
            continue;
        };
        if !matches!(e.kind, BlobKind::Chunk | BlobKind::Tree) {
            errs.push(format!("blob {} has kind {:?}", e.id, e.kind));
            continue;
        }
        match store.decode_blob(&key, &e.id, e.kind, blob) {
            Ok(d) => {
                bytes += d.len() as u64;
                ids.push(e.id);
            }
            Err(err) => errs.push(err.to_string()),
        }
        // The index must agree with the pack.
        if let Some(loc) = li.index.get(&e.id)
            && li.index.pack_id(loc) == pid
            && (loc.offset != e.offset || loc.len != e.len)
        {
            errs.push(format!("index disagrees with the pack about blob {}", e.id));
        }
    }
    Ok((ids, errs, entries.len() as u64, bytes))
}

fn read_trailer(store: &Store, pid: &str, key: &str, data: &[u8]) -> Result<Vec<pack::PackEntry>> {
    let tail = &data[data.len() - pack::TAIL as usize..];
    let tlen = pack::trailer_len(tail, key)? as usize;
    let start = data
        .len()
        .checked_sub(pack::TAIL as usize + tlen)
        .filter(|s| *s >= 8)
        .ok_or_else(|| Error::corrupt(key, "trailer length exceeds the pack"))?;
    pack::parse_trailer(store.codec(), pid, &data[start..start + tlen], start as u64)
}

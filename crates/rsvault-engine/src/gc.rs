//! Garbage collection, safe while backups run.
//!
//! 1. Mark every blob reachable from a committed point (shared subtrees are
//!    walked once).
//! 2. Packs with nothing live are *condemned*: a gc record lists them and
//!    from then on no new session sees them. Packs with much garbage are
//!    repacked first (their live blobs copied into new packs), then condemned.
//! 3. A condemned pack is deleted only once every session that was running
//!    when it was condemned has ended, and after marking again: if a point
//!    committed since needs a blob found only there, the pack is revived.
//!
//! So nothing a committed or an in-flight point needs is ever removed. When
//! no other writer is running, one gc run does all three steps; otherwise
//! the deletions wait for the next run.

use crate::backend::PutMode;
use crate::clock::unix_ms;
use crate::codec::BlobKind;
use crate::error::{Error, Result};
use crate::id::{ChunkId, IdSet};
use crate::index::{ChunkIndex, encode_index_file};
use crate::manifest::Manifest;
use crate::pack::{PackBuilder, PackEntry, TARGET_SIZE, pack_key};
use crate::progress::Progress;
use crate::session::{self, SessionRecord};
use crate::store::{GcRecord, Store};
use std::collections::{HashMap, HashSet};

const LOCK_KEY: &str = "locks/gc";

/// Options of a gc run.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Repack a pack when more than this share of its bytes is garbage.
    pub repack_garbage_ratio: f64,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            repack_garbage_ratio: 0.25,
        }
    }
}

/// What a gc run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GcStats {
    pub points: usize,
    pub live_blobs: usize,
    pub packs_before: usize,
    pub packs_after: usize,
    pub packs_deleted: usize,
    pub packs_repacked: usize,
    pub packs_revived: usize,
    /// Condemned packs left for a later run because other writers are active.
    pub packs_pending: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub stale_sessions_removed: usize,
    /// Leftovers of puts that never completed, removed.
    pub incomplete_removed: usize,
}

struct GcLock<'a> {
    store: &'a Store,
}

impl Drop for GcLock<'_> {
    fn drop(&mut self) {
        let _ = self.store.backend().delete(LOCK_KEY);
    }
}

fn take_lock(store: &Store) -> Result<GcLock<'_>> {
    let codec = store.codec();
    let now = unix_ms(store.clock().now());
    let pid = std::process::id();
    let rec = SessionRecord {
        id: "gc".into(),
        what: "gc".into(),
        host: session::hostname(),
        pid,
        proc_start: session::proc_start_time(pid).unwrap_or(0),
        started_ms: now,
        heartbeat_ms: now,
    };
    let blob = codec.encode(
        BlobKind::Meta,
        LOCK_KEY.as_bytes(),
        &serde_json::to_vec(&rec).expect("json"),
        false,
    );
    for _ in 0..2 {
        match store.backend().put(LOCK_KEY, &blob, PutMode::Create) {
            Ok(()) => return Ok(GcLock { store }),
            Err(Error::AlreadyExists(_)) => {
                let held = store
                    .backend()
                    .get(LOCK_KEY)
                    .ok()
                    .and_then(|b| {
                        codec
                            .decode(BlobKind::Meta, LOCK_KEY.as_bytes(), &b, LOCK_KEY)
                            .ok()
                    })
                    .and_then(|j| serde_json::from_slice::<SessionRecord>(&j).ok());
                match held {
                    Some(h) if h.alive(now) => {
                        return Err(Error::Locked(format!(
                            "another gc is running (pid {} on {}); try again when it has finished",
                            h.pid, h.host
                        )));
                    }
                    // A stale or unreadable lock from a gc that died.
                    _ => store.backend().delete(LOCK_KEY)?,
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Locked("could not take the gc lock".into()))
}

/// Entries of every existing pack (visible or condemned), by pack id.
fn all_pack_entries(
    store: &Store,
    li: &crate::store::LoadedIndex,
) -> Result<HashMap<String, Vec<PackEntry>>> {
    let mut out: HashMap<String, Vec<PackEntry>> = HashMap::new();
    for f in &li.files {
        let blob = match store.backend().get(&format!("index/{f}")) {
            Ok(b) => b,
            Err(Error::MissingObject(_)) => continue,
            Err(e) => return Err(e),
        };
        for (pid, entries) in crate::index::decode_index_file(store.codec(), f, &blob)? {
            if li.packs.contains_key(&pid) {
                out.entry(pid).or_insert(entries);
            }
        }
    }
    for (pid, meta) in &li.packs {
        if !out.contains_key(pid) {
            match store.read_trailer(pid, meta.size) {
                Ok(e) => {
                    out.insert(pid.clone(), e);
                }
                Err(e) => tracing::warn!("gc: pack {pid} is unreadable and left alone: {e}"),
            }
        }
    }
    Ok(out)
}

/// Marks every blob reachable from `points` into `live`, looking blobs up
/// in `lookups` in turn. Subtrees already in `known` are not walked again.
fn mark(
    store: &Store,
    lookups: &[&ChunkIndex],
    points: &[Manifest],
    known: &IdSet,
    live: &mut IdSet,
) -> Result<()> {
    for p in points {
        let mut stack = vec![(p.root, p.height)];
        while let Some((id, h)) = stack.pop() {
            if id.is_zero() || known.contains(&id) || !live.insert(id) {
                continue;
            }
            let index = lookups
                .iter()
                .find(|i| i.contains(&id))
                .unwrap_or(&lookups[0]);
            let children = store.read_node(index, &id).map_err(|e| {
                Error::InvalidInput(format!(
                    "gc stopped: recovery point {} of {:?} cannot be read ({e}); run `rsvault disk verify` and forget damaged points first",
                    p.id, p.name
                ))
            })?;
            if h > 1 {
                stack.extend(children.into_iter().map(|c| (c, h - 1)));
            } else {
                live.extend(
                    children
                        .into_iter()
                        .filter(|c| !c.is_zero() && !known.contains(c)),
                );
            }
        }
    }
    Ok(())
}

fn lookup_index(entries: &HashMap<String, Vec<PackEntry>>) -> ChunkIndex {
    let mut idx = ChunkIndex::default();
    let mut ids: Vec<&String> = entries.keys().collect();
    ids.sort();
    for pid in ids {
        idx.add_pack(pid, &entries[pid]);
    }
    idx
}

/// Points committed since `seen` was taken.
fn fresh_points(store: &Store, seen: &HashSet<String>) -> Result<Vec<Manifest>> {
    let (points, bad) = store.list_points_checked()?;
    if let Some((key, e)) = bad.first() {
        return Err(Error::InvalidInput(format!(
            "gc stopped: manifest {key} is damaged ({e})"
        )));
    }
    Ok(points
        .into_iter()
        .filter(|p| !seen.contains(&p.id))
        .collect())
}

/// Writes this run's gc record, then names in it the writer sessions that
/// could have seen its packs, and revives (with `revived/` markers) the
/// packs that a point committed since the mark needs. Returns the sessions
/// the record waits for and the blobs those fresh points made live.
fn write_record(
    store: &Store,
    record: &mut GcRecord,
    entries: &HashMap<String, Vec<PackEntry>>,
    lookup: &ChunkIndex,
    seen: &HashSet<String>,
    live: &IdSet,
    me: &str,
) -> Result<(Vec<String>, IdSet)> {
    store.put_gc_record(record)?;
    let now = unix_ms(store.clock().now());
    let (sessions, _) = session::list_sessions(store.backend().as_ref(), store.codec())?;
    let blocking: Vec<String> = sessions
        .iter()
        .filter(|s| s.id != me && s.alive(now))
        .map(|s| s.id.clone())
        .collect();
    record.blocking = Some(blocking.clone());
    store.put_gc_record(record)?;
    // A writer that committed between the mark and the record may need a
    // condemned pack; a writer that commits later sees the record itself.
    let fresh = fresh_points(store, seen)?;
    let mut extra = IdSet::default();
    if !fresh.is_empty() {
        let now_index = store.load_index_readable()?.index;
        mark(store, &[lookup, &now_index], &fresh, live, &mut extra)?;
    }
    let needed: Vec<String> = record
        .packs
        .iter()
        .filter(|p| {
            entries
                .get(*p)
                .is_some_and(|es| es.iter().any(|e| extra.contains(&e.id)))
        })
        .cloned()
        .collect();
    if !needed.is_empty() {
        store.revive_packs(&needed, me)?;
    }
    Ok((blocking, extra))
}

/// Deletes the session records of writers that died and the leftovers of
/// puts that never completed; returns the live sessions.
fn housekeeping(store: &Store, stats: &mut GcStats) -> Result<Vec<SessionRecord>> {
    let backend = store.backend();
    let now = unix_ms(store.clock().now());
    let (sessions, damaged_sessions) = session::list_sessions(backend.as_ref(), store.codec())?;
    for s in sessions.iter().filter(|s| !s.alive(now)) {
        backend.delete(&session::session_key(&s.id))?;
        stats.stale_sessions_removed += 1;
    }
    for k in damaged_sessions {
        tracing::warn!("gc: ignoring unreadable session record {k}");
    }
    // Temporary files of puts that died: a put in progress is younger than a
    // day by far, so a day-old one is certainly dead.
    stats.incomplete_removed = backend
        .sweep_incomplete(store.clock().now() - std::time::Duration::from_secs(24 * 3600))?;
    Ok(sessions.into_iter().filter(|s| s.alive(now)).collect())
}

/// Step 3 for one record whose waiting is over: each pack is revived when a
/// `revived/` marker names it or a live blob is found nowhere visible, and
/// deleted otherwise. Revived packs are added to `revived`.
struct Settle<'a> {
    store: &'a Store,
    entries: &'a HashMap<String, Vec<PackEntry>>,
    markers: &'a HashSet<String>,
}

impl Settle<'_> {
    fn run(
        &self,
        rec: &GcRecord,
        live: &[&IdSet],
        visible: &ChunkIndex,
        stats: &mut GcStats,
        revived: &mut Vec<String>,
    ) -> Result<()> {
        for pid in &rec.packs {
            let Some(es) = self.entries.get(pid) else {
                continue;
            };
            let needed = self.markers.contains(pid)
                || es
                    .iter()
                    .any(|e| live.iter().any(|l| l.contains(&e.id)) && !visible.contains(&e.id));
            if needed {
                revived.push(pid.clone());
                stats.packs_revived += 1;
            } else {
                self.store.backend().delete(&pack_key(pid))?;
                stats.packs_deleted += 1;
            }
        }
        Ok(())
    }
}

/// Step 2's choice among visible packs: those with nothing live to condemn,
/// and those that are mostly garbage to repack.
fn plan(
    li: &crate::store::LoadedIndex,
    entries: &HashMap<String, Vec<PackEntry>>,
    live: &IdSet,
    oldest_writer: u64,
    opts: &GcOptions,
) -> (Vec<String>, Vec<String>) {
    let mut owner: HashMap<ChunkId, &str> = HashMap::new();
    for (pid, es) in entries {
        if li.condemned.contains(pid) {
            continue;
        }
        for e in es {
            if let Some(loc) = li.index.get(&e.id)
                && li.index.pack_id(loc) == pid
                && loc.offset == e.offset
            {
                owner.insert(e.id, pid);
            }
        }
    }
    let mut condemn = Vec::new();
    let mut repack = Vec::new();
    let mut visible_ids: Vec<&String> = entries
        .keys()
        .filter(|p| !li.condemned.contains(*p))
        .collect();
    visible_ids.sort();
    for pid in visible_ids {
        let meta = &li.packs[pid];
        // A pack as new as the oldest running writer may be that writer's:
        // leave it for a later run. (Only an optimisation: condemned packs a
        // writer needs are revived, never deleted.)
        if unix_ms(meta.modified).saturating_add(1_000) >= oldest_writer {
            continue;
        }
        let live_bytes: u64 = entries[pid]
            .iter()
            .filter(|e| live.contains(&e.id) && owner.get(&e.id) == Some(&pid.as_str()))
            .map(|e| e.len as u64)
            .sum();
        if live_bytes == 0 {
            condemn.push(pid.clone());
        } else if (meta.size - live_bytes) as f64 > opts.repack_garbage_ratio * meta.size as f64 {
            repack.push(pid.clone());
        }
    }
    (condemn, repack)
}

/// Copies the live blobs of `packs` into new packs; returns them.
fn repack(
    store: &Store,
    packs: &[String],
    entries: &HashMap<String, Vec<PackEntry>>,
    live: &IdSet,
    owned: impl Fn(&ChunkId, &str) -> bool,
    stats: &mut GcStats,
) -> Result<Vec<(String, Vec<PackEntry>)>> {
    let (backend, codec) = (store.backend(), store.codec());
    let mut new_packs = Vec::new();
    let mut builder = PackBuilder::new();
    let flush = |b: &mut PackBuilder, out: &mut Vec<(String, Vec<PackEntry>)>| -> Result<()> {
        let id = crate::id::random_hex_id();
        let (bytes, es) = b.seal(codec, &id);
        backend.put(&pack_key(&id), bytes, PutMode::Create)?;
        b.reset();
        out.push((id, es));
        Ok(())
    };
    for pid in packs {
        let pack = backend.get(&pack_key(pid))?;
        for e in &entries[pid] {
            if !(live.contains(&e.id) && owned(&e.id, pid)) {
                continue;
            }
            let blob = &pack[e.offset as usize..(e.offset + e.len) as usize];
            // Copy only blobs that still authenticate: never spread damage.
            store.decode_blob(&pack_key(pid), &e.id, e.kind, blob)?;
            builder.add(e.kind, e.id, blob, e.raw_len);
            if builder.len() >= TARGET_SIZE {
                flush(&mut builder, &mut new_packs)?;
            }
        }
        stats.packs_repacked += 1;
    }
    if !builder.is_empty() {
        flush(&mut builder, &mut new_packs)?;
    }
    Ok(new_packs)
}

/// Writes one index file listing `packs`.
fn put_index_file(store: &Store, packs: &[(String, Vec<PackEntry>)]) -> Result<()> {
    let file_id = crate::id::random_hex_id();
    store.backend().put(
        &format!("index/{file_id}"),
        &encode_index_file(store.codec(), &file_id, packs),
        PutMode::Create,
    )
}

/// Runs garbage collection. A pass that revives packs (settling an older
/// record) cannot judge them in the same pass; when nothing else waits, a
/// second pass does, so one call leaves the store at its fixed point.
pub fn gc(store: &Store, opts: &GcOptions, progress: &dyn Progress) -> Result<GcStats> {
    let first = gc_pass(store, opts, progress)?;
    if first.packs_revived == 0 || first.packs_pending > 0 {
        return Ok(first);
    }
    let second = gc_pass(store, opts, progress)?;
    Ok(GcStats {
        packs_before: first.packs_before,
        bytes_before: first.bytes_before,
        packs_deleted: first.packs_deleted + second.packs_deleted,
        packs_repacked: first.packs_repacked + second.packs_repacked,
        packs_revived: first.packs_revived + second.packs_revived,
        stale_sessions_removed: first.stale_sessions_removed + second.stale_sessions_removed,
        incomplete_removed: first.incomplete_removed + second.incomplete_removed,
        ..second
    })
}

fn gc_pass(store: &Store, opts: &GcOptions, progress: &dyn Progress) -> Result<GcStats> {
    let _lock = take_lock(store)?;
    let session = store.begin_session("gc")?;
    let me = session.record().id.clone();
    let backend = store.backend();
    let mut stats = GcStats::default();
    progress.start("gc", 0);
    let sessions = housekeeping(store, &mut stats)?;

    // Points are listed after the session check, so every point those
    // sessions made is seen, and before the packs, so every pack a listed
    // point needs is listed too (a point committed later is one of the
    // fresh points step 2 marks again).
    let (points, bad) = store.list_points_checked()?;
    if let Some((key, e)) = bad.first() {
        return Err(Error::InvalidInput(format!(
            "gc stopped: manifest {key} is damaged ({e}), so what it needs is unknown; run `rsvault disk verify`"
        )));
    }

    // Records whose waiting is over: no session that may have seen their
    // packs is alive. Markers are read after the sessions: a writer that
    // revives a pack does so while it is alive.
    let li = store.load_index()?;
    let ripe: Vec<GcRecord> = li
        .gc_records
        .iter()
        .filter(|r| !r.waits_for(&sessions, &me))
        .cloned()
        .collect();

    let entries = all_pack_entries(store, &li)?;
    let lookup = lookup_index(&entries);
    stats.points = points.len();
    let mut live = IdSet::default();
    mark(store, &[&lookup], &points, &IdSet::default(), &mut live)?;
    let seen: HashSet<String> = points.iter().map(|p| p.id.clone()).collect();
    stats.packs_before = li.packs.len();
    stats.bytes_before = li.packs.values().map(|m| m.size).sum();

    // Step 3 for ripe records: delete or revive.
    let settle = Settle {
        store,
        entries: &entries,
        markers: &li.revived,
    };
    let mut revived: Vec<String> = Vec::new();
    for rec in &ripe {
        settle.run(rec, &[&live], &li.index, &mut stats, &mut revived)?;
    }

    // Step 2: condemn and repack among visible packs.
    let oldest_writer = sessions
        .iter()
        .filter(|s| s.id != me)
        .map(|s| s.started_ms)
        .min()
        .unwrap_or(u64::MAX);
    let (mut condemn, to_repack) = plan(&li, &entries, &live, oldest_writer, opts);
    let owned = |id: &ChunkId, pid: &str| {
        li.index
            .get(id)
            .is_some_and(|loc| li.index.pack_id(loc) == pid)
    };
    let new_packs = repack(store, &to_repack, &entries, &live, owned, &mut stats)?;
    condemn.extend(to_repack.iter().cloned());

    let now = unix_ms(store.clock().now());
    let mut record = GcRecord {
        id: format!("{:013x}-{}", now, crate::id::random_hex_id()),
        created_ms: now,
        ready_ms: now,
        packs: condemn.clone(),
        blocking: None,
    };
    let (blocking, extra, mut markers) = if record.packs.is_empty() {
        (Vec::new(), IdSet::default(), li.revived.clone())
    } else {
        let (b, x) = write_record(store, &mut record, &entries, &lookup, &seen, &live, &me)?;
        (b, x, store.revived_markers()?)
    };

    // One index file for everything visible now; then drop the old ones.
    let gone: HashSet<&String> = ripe
        .iter()
        .flat_map(|r| r.packs.iter())
        .filter(|p| !revived.contains(p))
        .collect();
    let still_condemned: HashSet<&String> = li
        .gc_records
        .iter()
        .filter(|r| !ripe.iter().any(|x| x.id == r.id))
        .flat_map(|r| r.packs.iter())
        .chain(condemn.iter())
        .collect();
    let mut keep: Vec<(String, Vec<PackEntry>)> = entries
        .iter()
        .filter(|(pid, _)| !gone.contains(pid))
        .filter(|(pid, _)| !still_condemned.contains(pid) || markers.contains(*pid))
        .filter(|(pid, _)| {
            !li.condemned.contains(*pid) || revived.contains(pid) || markers.contains(*pid)
        })
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    keep.extend(new_packs.iter().cloned());
    keep.sort_by(|a, b| a.0.cmp(&b.0));
    put_index_file(store, &keep)?;
    for f in li
        .files
        .iter()
        .chain(li.damaged_files.iter().map(|(f, _)| f))
    {
        backend.delete(&format!("index/{f}"))?;
    }
    for rec in &ripe {
        backend.delete(&format!("gc/{}", rec.id))?;
    }

    // Step 3 for this run's record when no other writer could have seen its packs.
    let mut pending_here = false;
    if !record.packs.is_empty() {
        if blocking.is_empty() {
            let mut visible = ChunkIndex::default();
            for (pid, es) in &keep {
                visible.add_pack(pid, es);
            }
            let mut revived2 = Vec::new();
            let settle = Settle {
                store,
                entries: &entries,
                markers: &markers,
            };
            settle.run(
                &record,
                &[&live, &extra],
                &visible,
                &mut stats,
                &mut revived2,
            )?;
            if !revived2.is_empty() {
                let back: Vec<(String, Vec<PackEntry>)> = revived2
                    .iter()
                    .map(|p| (p.clone(), entries[p].clone()))
                    .collect();
                put_index_file(store, &back)?;
            }
            backend.delete(&format!("gc/{}", record.id))?;
        } else {
            stats.packs_pending += record.packs.len();
            pending_here = true;
        }
    }
    // Markers whose pack is indexed again (or gone) have done their work.
    let waiting: HashSet<&String> = li
        .gc_records
        .iter()
        .filter(|r| !ripe.iter().any(|x| x.id == r.id))
        .flat_map(|r| r.packs.iter())
        .chain(record.packs.iter().filter(|_| pending_here))
        .collect();
    markers.retain(|p| !waiting.contains(p));
    for p in &markers {
        store.drop_revived_marker(p)?;
    }
    stats.packs_pending += li
        .gc_records
        .iter()
        .filter(|r| !ripe.iter().any(|x| x.id == r.id))
        .map(|r| r.packs.len())
        .sum::<usize>();
    stats.live_blobs = live.len() + extra.len();
    let after = backend.list("packs/")?;
    stats.packs_after = after.len();
    stats.bytes_after = after.iter().map(|m| m.size).sum();
    session.end()?;
    progress.finish();
    Ok(stats)
}

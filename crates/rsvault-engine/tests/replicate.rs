//! Replication of recovery points to a secondary store: complete on its
//! own, incremental, resumable, and safe against gc on either side.

mod common;

use common::*;
use rand::{RngCore, SeedableRng};
use rsvault_engine::backend::{Backend, LocalBackend, MemoryBackend, ObjectMeta, PutMode};
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::replicate::CountingBackend;
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, GcOptions, InitOptions, Manifest, MasterKey, NoProgress, Progress,
    ReplicateOptions, ReplicationOutcome, ReplicationStats, RestoreOptions, Store, backup, gc,
    replicate_all, replicate_point, restore, verify,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

/// A primary and its replica on local disks, and the key of both.
struct Pair {
    dir: tempfile::TempDir,
    key: MasterKey,
    primary: Store,
    secondary: Store,
}

impl Pair {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut key = MasterKey::generate();
        let primary = Store::init(
            Arc::new(LocalBackend::new(&dir.path().join("primary")).unwrap()),
            &mut key,
            &InitOptions::default(),
        )
        .unwrap();
        let secondary = Store::init_replica(
            Arc::new(LocalBackend::new(&dir.path().join("secondary")).unwrap()),
            &primary,
        )
        .unwrap();
        Pair {
            dir,
            key,
            primary,
            secondary,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh handle on a store of the pair, opened with the key file's key.
    fn open(&self, which: &str) -> Store {
        Store::open(
            Arc::new(LocalBackend::open_existing(&self.path(which)).unwrap()),
            &self.key,
        )
        .unwrap()
    }

    fn backup(&self, image: &Path, name: &str, changed: Option<&[(u64, u64)]>) -> Manifest {
        let opts = BackupOptions {
            name: name.into(),
            changed_ranges: changed.map(|c| RangeSet::from_extents(c.iter().copied()).unwrap()),
            ..Default::default()
        };
        backup(
            &self.primary,
            &RawImage::open(image).unwrap(),
            &opts,
            &NoProgress,
        )
        .unwrap()
    }

    fn replicate(&self, id: &str) -> ReplicationStats {
        replicate_point(
            &self.primary,
            &self.secondary,
            id,
            &ReplicateOptions::default(),
            &NoProgress,
        )
        .unwrap()
    }
}

fn restore_bytes(store: &Store, m: &Manifest, out: &Path) -> Vec<u8> {
    restore(store, m, out, &RestoreOptions::default(), &NoProgress).unwrap();
    let b = read(out);
    std::fs::remove_file(out).unwrap();
    b
}

#[track_caller]
fn assert_clean(store: &Store) -> rsvault_engine::VerifyReport {
    let rep = verify(store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{rep:?}");
    rep
}

/// A raw image of random (incompressible) data.
fn random_image(path: &Path, size: usize, seed: u64) -> Vec<u8> {
    let mut b = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut b);
    std::fs::write(path, &b).unwrap();
    b
}

/// Blocks the caller's first progress phase until released: a replication
/// stops there with its sessions registered and both indexes loaded.
struct Gate {
    reached: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

fn gate() -> (Gate, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (reached_tx, reached_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let g = Gate {
        reached: Mutex::new(Some(reached_tx)),
        release: Mutex::new(release_rx),
    };
    (g, reached_rx, release_tx)
}

impl Progress for Gate {
    fn start(&self, _: &str, _: u64) {
        if let Some(tx) = self.reached.lock().unwrap().take() {
            tx.send(()).unwrap();
            let _ = self.release.lock().unwrap().recv();
        }
    }
}

/// A backend whose puts fail once a budget is spent: a process killed
/// after its first N writes (every put before is durable, none after).
#[derive(Debug)]
struct FailingBackend {
    inner: Arc<dyn Backend>,
    puts_left: AtomicI64,
}

impl Backend for FailingBackend {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> rsvault_engine::Result<()> {
        if self.puts_left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(Error::io(
                format!("put {key}"),
                std::io::Error::other("injected failure"),
            ));
        }
        self.inner.put(key, data, mode)
    }
    fn get(&self, key: &str) -> rsvault_engine::Result<Vec<u8>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> rsvault_engine::Result<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> rsvault_engine::Result<Vec<ObjectMeta>> {
        self.inner.list(prefix)
    }
    fn head(&self, key: &str) -> rsvault_engine::Result<Option<ObjectMeta>> {
        self.inner.head(key)
    }
    fn delete(&self, key: &str) -> rsvault_engine::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

#[test]
fn full_and_incrementals_restore_from_the_secondary_alone() {
    let pair = Pair::new();
    let img_path = pair.path("d.raw");
    let mut images = vec![make_image(&img_path, 12 << 20, 1)];
    let mut points = vec![pair.backup(&img_path, "d", None)];
    let full = pair.replicate(&points[0].id);
    assert_eq!(
        full.outcome(&points[0].id),
        Some(ReplicationOutcome::Replicated)
    );
    assert_eq!(full.chunks_copied, points[0].stats.chunks_new);
    for seed in [2, 3] {
        let mut img = images.last().unwrap().clone();
        let changed = mutate(&img_path, &mut img, seed, 6);
        let m = pair.backup(&img_path, "d", Some(&changed));
        let st = pair.replicate(&m.id);
        assert_eq!(st.outcome(&m.id), Some(ReplicationOutcome::Replicated));
        // Exactly the incremental's new chunks travel, not the disk.
        assert_eq!(st.chunks_copied, m.stats.chunks_new, "{st:?}");
        assert!(st.blobs_skipped > 0);
        assert!(
            st.bytes_copied * 4 < full.bytes_copied,
            "incremental {} vs full {}",
            st.bytes_copied,
            full.bytes_copied
        );
        images.push(img);
        points.push(m);
    }
    // The secondary lists the same points with the same manifests.
    assert_eq!(pair.secondary.list_points().unwrap(), points);

    // The primary is gone: the secondary alone verifies and restores, with
    // the key file made for the primary.
    let Pair {
        dir,
        key,
        primary,
        secondary,
    } = pair;
    drop((primary, secondary));
    std::fs::remove_dir_all(dir.path().join("primary")).unwrap();
    let secondary = Store::open(
        Arc::new(LocalBackend::open_existing(&dir.path().join("secondary")).unwrap()),
        &key,
    )
    .unwrap();
    assert_ne!(Some(&secondary.config().store_id), key.store_id.as_ref());
    let rep = assert_clean(&secondary);
    assert_eq!(rep.points, 3);
    for (m, want) in points.iter().zip(&images) {
        let got = restore_bytes(&secondary, m, &dir.path().join("out.raw"));
        assert_same(&got, want, &format!("point {}", m.id));
    }
}

#[test]
fn an_incremental_costs_few_requests_and_only_its_new_bytes() {
    let key = MasterKey::from_bytes([5; 32]);
    let mut k = key.clone();
    let raw = Arc::new(MemoryBackend::new("p"));
    let primary = Store::init(raw.clone(), &mut k, &InitOptions::default()).unwrap();
    let secondary = Store::init_replica(Arc::new(MemoryBackend::new("s")), &primary).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.raw");
    let mut img = random_image(&p, 24 << 20, 9);
    let opts = |changed: Option<RangeSet>| BackupOptions {
        name: "d".into(),
        changed_ranges: changed,
        ..Default::default()
    };
    let first = backup(
        &primary,
        &RawImage::open(&p).unwrap(),
        &opts(None),
        &NoProgress,
    )
    .unwrap();
    let o = ReplicateOptions::default();
    replicate_point(&primary, &secondary, &first.id, &o, &NoProgress).unwrap();
    // 5 % of the disk rewritten, in 64 KiB-aligned pieces.
    let mut changed = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    for i in 0..19u64 {
        let off = (i * 20 + 3) << 16;
        rng.fill_bytes(&mut img[off as usize..(off + (1 << 16)) as usize]);
        changed.push((off, 1 << 16));
    }
    std::fs::write(&p, &img).unwrap();
    let ranges = RangeSet::from_extents(changed.iter().copied()).unwrap();
    let m = backup(
        &primary,
        &RawImage::open(&p).unwrap(),
        &opts(Some(ranges)),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(m.stats.chunks_new, 19);
    let st = replicate_point(&primary, &secondary, &m.id, &o, &NoProgress).unwrap();
    assert_eq!(st.chunks_copied, 19, "{st:?}");
    let changed_bytes = 19 << 16;
    assert!(
        st.bytes_copied < changed_bytes + (1 << 20),
        "copied {} for {changed_bytes} changed: {st:?}",
        st.bytes_copied
    );
    assert!(st.bytes_skipped > 20 << 20, "{st:?}");
    // The 19 chunks lie together in the incremental's pack: a handful of
    // ranged reads for them and the tree, one pack, one index, one manifest.
    assert!(st.primary_requests.get_range <= 8, "{st:?}");
    assert_eq!(st.primary_requests.put, 1, "the read session: {st:?}");
    // One pack per pack writer at most.
    assert!((1..=2).contains(&st.packs_written), "{st:?}");
    // Session, packs, index file, manifest.
    assert_eq!(st.secondary_requests.put, 3 + st.packs_written, "{st:?}");
    assert!(
        st.secondary_requests.bytes_written < changed_bytes + (1 << 20),
        "{st:?}"
    );
    // A counting wrapper sees the same as the stats report.
    let counted = Arc::new(CountingBackend::new(raw));
    let primary2 = Store::open(counted.clone(), &key).unwrap();
    let before = counted.counts();
    let again = replicate_point(&primary2, &secondary, &m.id, &o, &NoProgress).unwrap();
    assert_eq!(again.primary_requests, counted.counts().since(&before));
}

#[test]
fn replicating_a_replicated_point_is_a_no_op() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    make_image(&p, 4 << 20, 4);
    let m = pair.backup(&p, "d", None);
    pair.replicate(&m.id);
    let before = pair.secondary.stored_bytes().unwrap();
    let st = pair.replicate(&m.id);
    assert_eq!(
        st.outcome(&m.id),
        Some(ReplicationOutcome::AlreadyReplicated)
    );
    assert_eq!((st.blobs_copied(), st.bytes_stored), (0, 0), "{st:?}");
    assert_eq!(st.secondary_requests.put, 0, "{st:?}");
    assert_eq!(st.primary_requests.put, 0, "no session for nothing: {st:?}");
    assert_eq!(st.primary_requests.get + st.secondary_requests.get, 2);
    assert_eq!(pair.secondary.stored_bytes().unwrap(), before);
    // And replicate_all finds nothing to do either.
    let all = replicate_all(
        &pair.primary,
        &pair.secondary,
        &ReplicateOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(all.points.is_empty(), "{all:?}");
    assert_eq!(all.secondary_requests.put, 0, "{all:?}");
}

/// A replication killed after any number of writes completes on the next
/// run without copying again what was durable.
#[test]
fn an_interrupted_replication_completes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = MasterKey::generate();
    let primary = Store::init(
        Arc::new(MemoryBackend::new("p")),
        &mut key,
        &InitOptions::default(),
    )
    .unwrap();
    let p = dir.path().join("d.raw");
    // Random data: two packs' worth.
    let img = random_image(&p, 20 << 20, 11);
    let m = backup(
        &primary,
        &RawImage::open(&p).unwrap(),
        &BackupOptions {
            name: "d".into(),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let o = ReplicateOptions::default();
    // Session, two packs, index, manifest: five puts. Stop after each.
    for budget in 0..5 {
        let raw: Arc<dyn Backend> = Arc::new(MemoryBackend::new("s"));
        Store::init_replica(raw.clone(), &primary).unwrap();
        let failing = Arc::new(FailingBackend {
            inner: raw.clone(),
            puts_left: AtomicI64::new(budget),
        });
        let broken = Store::open(failing, &key).unwrap();
        let e = replicate_point(&primary, &broken, &m.id, &o, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("injected failure"), "{e}");
        let secondary = Store::open(raw, &key).unwrap();
        assert!(secondary.list_points().unwrap().is_empty());
        let durable = secondary.load_index().unwrap().index.len() as u64;
        let st = replicate_point(&primary, &secondary, &m.id, &o, &NoProgress).unwrap();
        assert_eq!(st.outcome(&m.id), Some(ReplicationOutcome::Replicated));
        // What the first run stored is not stored again (the tree is one leaf).
        assert_eq!(
            st.blobs_copied() + durable,
            m.stats.chunks_new + 1,
            "budget {budget}: {st:?}"
        );
        assert_clean(&secondary);
        let got = restore_bytes(&secondary, &m, &dir.path().join("out.raw"));
        assert_same(&got, &img, &format!("budget {budget}"));
        // Nothing is left over for gc, and it keeps the point whole.
        let g = gc(&secondary, &GcOptions::default(), &NoProgress).unwrap();
        assert_eq!(g.packs_deleted, 0, "budget {budget}: {g:?}");
        assert_clean(&secondary);
    }
}

/// Gc on the primary while a replication reads it: it condemns and
/// repacks what the replicator loaded, but deletes nothing until the
/// replicator's read session ends.
#[test]
fn gc_on_the_primary_waits_for_the_replicator() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    let a = random_image(&p, 6 << 20, 20);
    let ma = pair.backup(&p, "d", None);
    let mut b = a.clone();
    // Rewrite most of the disk: A's packs become mostly garbage once A goes.
    b[..5 << 20].fill(7);
    std::fs::write(&p, &b).unwrap();
    let mb = pair.backup(&p, "d", None);
    pair.primary.forget("d", &ma.id).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let (st, gst) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            replicate_point(
                &pair.primary,
                &pair.secondary,
                &mb.id,
                &ReplicateOptions::default(),
                &g,
            )
        });
        reached.recv().unwrap();
        let gst = gc(&pair.open("primary"), &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        (h.join().unwrap().unwrap(), gst)
    });
    assert!(gst.packs_repacked > 0 || gst.packs_pending > 0, "{gst:?}");
    assert!(
        gst.packs_pending > 0,
        "deletions wait for the reader: {gst:?}"
    );
    assert_eq!(gst.packs_deleted, 0, "{gst:?}");
    assert_eq!(st.outcome(&mb.id), Some(ReplicationOutcome::Replicated));
    // A's tombstone came along: the secondary's chain has no unexplained gap.
    assert_clean(&pair.secondary);
    let got = restore_bytes(&pair.secondary, &mb, &pair.path("out.raw"));
    assert_same(&got, &b, "B from the secondary");
    // The next primary gc finishes its deletions; both stay clean.
    let gst = gc(&pair.primary, &GcOptions::default(), &NoProgress).unwrap();
    assert!(gst.packs_deleted > 0, "{gst:?}");
    assert_clean(&pair.primary);
    assert_clean(&pair.secondary);
}

#[test]
fn a_point_forgotten_on_the_primary_is_skipped() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    make_image(&p, 4 << 20, 30);
    let m1 = pair.backup(&p, "d", None);
    pair.primary.forget("d", &m1.id).unwrap();
    let st = pair.replicate(&m1.id);
    assert_eq!(
        st.outcome(&m1.id),
        Some(ReplicationOutcome::ForgottenOnPrimary)
    );
    assert_eq!(st.points[0].name, "d");
    assert_eq!(st.secondary_requests.put, 0, "{st:?}");
    // An id the primary never had is an error.
    let e = replicate_point(
        &pair.primary,
        &pair.secondary,
        "0123456789abcdef0123456789abcdef",
        &ReplicateOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, Error::PointNotFound(_)), "{e}");
    let e = replicate_point(
        &pair.primary,
        &pair.secondary,
        "../config",
        &ReplicateOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");

    // Forgotten (and collected) while it is being copied: not committed.
    make_image(&p, 4 << 20, 31);
    let m2 = pair.backup(&p, "e", None);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let st = std::thread::scope(|s| {
        let h = s.spawn(|| {
            replicate_point(
                &pair.primary,
                &pair.secondary,
                &m2.id,
                &ReplicateOptions::default(),
                &g,
            )
        });
        reached.recv().unwrap();
        let primary = pair.open("primary");
        primary.forget("e", &m2.id).unwrap();
        gc(&primary, &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        h.join().unwrap().unwrap()
    });
    assert_eq!(
        st.outcome(&m2.id),
        Some(ReplicationOutcome::ForgottenOnPrimary)
    );
    assert!(pair.secondary.list_points().unwrap().is_empty());
    // What it copied is garbage that the secondary's gc removes.
    let g = gc(&pair.secondary, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(g.packs_after, 0, "{g:?}");
    assert_clean(&pair.secondary);
}

/// Gc on the secondary condemns the packs of a point forgotten there while
/// a replication deduplicates against them: the replication revives them,
/// and no later gc removes what the replicated point needs.
#[test]
fn gc_on_the_secondary_keeps_what_a_replicated_point_needs() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    let mut img = make_image(&p, 8 << 20, 40);
    let ma = pair.backup(&p, "d", None);
    pair.replicate(&ma.id);
    let changed = mutate(&p, &mut img, 41, 3);
    let mb = pair.backup(&p, "d", Some(&changed));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let (st, gst) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            replicate_point(
                &pair.primary,
                &pair.secondary,
                &mb.id,
                &ReplicateOptions::default(),
                &g,
            )
        });
        reached.recv().unwrap();
        // Retention on the secondary removes A while B is on its way.
        let secondary = pair.open("secondary");
        secondary.forget("d", &ma.id).unwrap();
        let gst = gc(&secondary, &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        (h.join().unwrap().unwrap(), gst)
    });
    assert!(gst.packs_pending > 0, "{gst:?}");
    assert_eq!(st.outcome(&mb.id), Some(ReplicationOutcome::Replicated));
    assert_eq!(
        st.chunks_copied, mb.stats.chunks_new,
        "deduplicated: {st:?}"
    );
    // The packs B shares with A are visible to writers again at once
    // (revived), and B restores before any later gc and after each.
    let li = pair.secondary.load_index().unwrap();
    assert!(!li.revived.is_empty(), "the replication revived A's packs");
    let fetch = |id: &rsvault_engine::id::ChunkId| pair.secondary.read_node(&li.index, id);
    let mut tree =
        rsvault_engine::tree::TreeReader::new(mb.root, mb.height, mb.nchunks(), &fetch).unwrap();
    for leaf in 0..tree.leaves() {
        for c in tree.leaf(leaf).unwrap() {
            assert!(
                li.index.contains(&c),
                "chunk {c} of B is hidden from writers"
            );
        }
    }
    let got = restore_bytes(&pair.secondary, &mb, &pair.path("out.raw"));
    assert_same(&got, &img, "B before gc");
    let gst = gc(&pair.secondary, &GcOptions::default(), &NoProgress).unwrap();
    assert!(gst.packs_revived > 0, "{gst:?}");
    gc(&pair.secondary, &GcOptions::default(), &NoProgress).unwrap();
    assert_clean(&pair.secondary);
    let got = restore_bytes(&pair.secondary, &mb, &pair.path("out.raw"));
    assert_same(&got, &img, "B after gc");
}

#[test]
fn forget_and_gc_on_both_sides_leave_both_clean() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    let mut img = make_image(&p, 8 << 20, 50);
    let mut points = Vec::new();
    let mut images = Vec::new();
    for seed in 51..55 {
        let changed = if points.is_empty() {
            None
        } else {
            Some(mutate(&p, &mut img, seed, 5))
        };
        points.push(pair.backup(&p, "d", changed.as_deref()));
        images.push(img.clone());
    }
    let o = ReplicateOptions::default();
    let st = replicate_all(&pair.primary, &pair.secondary, &o, &NoProgress).unwrap();
    assert_eq!(st.points.len(), 4, "{st:?}");
    // Retention drops the two oldest on the primary; replication follows.
    for m in &points[..2] {
        pair.primary.forget("d", &m.id).unwrap();
    }
    let st = replicate_all(&pair.primary, &pair.secondary, &o, &NoProgress).unwrap();
    let forgotten: Vec<&str> = st
        .points
        .iter()
        .filter(|p| p.outcome == ReplicationOutcome::Forgotten)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(forgotten, [&points[0].id, &points[1].id]);
    for store in [&pair.primary, &pair.secondary] {
        gc(store, &GcOptions::default(), &NoProgress).unwrap();
        let rep = assert_clean(store);
        assert_eq!(rep.points, 2);
        for (m, want) in points[2..].iter().zip(&images[2..]) {
            assert_same(&restore_bytes(store, m, &pair.path("out.raw")), want, &m.id);
        }
    }
    // Both hold the same data after gc.
    let (a, b) = (
        pair.primary.stored_bytes().unwrap(),
        pair.secondary.stored_bytes().unwrap(),
    );
    assert!(b <= a + (64 << 10), "primary {a}, secondary {b}");
}

/// Replicating the newest point of a disk brings the points before it
/// that the secondary lacks, oldest first; a parent the primary forgot
/// leaves its tombstone, so the secondary's chain has no unexplained gap.
#[test]
fn a_point_brings_its_missing_ancestors() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    let mut img = make_image(&p, 4 << 20, 60);
    let m0 = pair.backup(&p, "d", None);
    let mut m = vec![m0];
    for seed in 61..64 {
        let changed = mutate(&p, &mut img, seed, 3);
        m.push(pair.backup(&p, "d", Some(&changed)));
    }
    pair.primary.forget("d", &m[0].id).unwrap();
    let st = pair.replicate(&m[3].id);
    let ids: Vec<(&str, ReplicationOutcome)> = st
        .points
        .iter()
        .map(|p| (p.id.as_str(), p.outcome))
        .collect();
    assert_eq!(
        ids,
        [
            (m[1].id.as_str(), ReplicationOutcome::Replicated),
            (m[2].id.as_str(), ReplicationOutcome::Replicated),
            (m[3].id.as_str(), ReplicationOutcome::Replicated),
        ]
    );
    assert!(pair.secondary.forgotten().unwrap().contains(&m[0].id));
    let rep = assert_clean(&pair.secondary);
    assert_eq!(rep.points, 3);
    // A point forgotten on the secondary stays forgotten when the
    // secondary catches up, and as an ancestor of another...
    pair.secondary.forget("d", &m[1].id).unwrap();
    gc(&pair.secondary, &GcOptions::default(), &NoProgress).unwrap();
    let o = ReplicateOptions::default();
    let st = replicate_all(&pair.primary, &pair.secondary, &o, &NoProgress).unwrap();
    assert!(st.points.is_empty(), "{st:?}");
    pair.secondary.forget("d", &m[2].id).unwrap();
    let st = pair.replicate(&m[2].id);
    let ids: Vec<&str> = st.points.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [m[2].id.as_str()], "{st:?}");
    assert!(pair.secondary.point(&m[1].id).unwrap().is_none());
    assert_clean(&pair.secondary);
    // ...but asked for by id, it is copied again (a repair).
    let st = pair.replicate(&m[1].id);
    assert_eq!(st.outcome(&m[1].id), Some(ReplicationOutcome::Replicated));
    assert_same(
        &restore_bytes(&pair.secondary, &m[1], &pair.path("out.raw")),
        &restore_bytes(&pair.primary, &m[1], &pair.path("out.raw")),
        "a point replicated again",
    );
    assert_clean(&pair.secondary);
}

#[test]
fn only_a_store_with_the_same_key_and_chunk_size_takes_replicas() {
    let pair = Pair::new();
    let p = pair.path("d.raw");
    make_image(&p, 1 << 20, 70);
    let m = pair.backup(&p, "d", None);
    let o = ReplicateOptions::default();
    let mut other_key = MasterKey::generate();
    let other = Store::init(
        Arc::new(MemoryBackend::new("o")),
        &mut other_key,
        &InitOptions::default(),
    )
    .unwrap();
    let mut k = pair.key.clone();
    k.store_id = None;
    let small = Store::init(
        Arc::new(MemoryBackend::new("c")),
        &mut k,
        &InitOptions {
            chunk_size: 16 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    for (s, why) in [
        (&other, "another key"),
        (&small, "chunk size"),
        (&pair.primary, "same store"),
    ] {
        let e = replicate_point(&pair.primary, s, &m.id, &o, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::NotAReplica { .. }), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
    // A replica opens with the primary's key file, not with another store's.
    let replica_backend =
        || Arc::new(LocalBackend::open_existing(&pair.path("secondary")).unwrap());
    assert!(Store::open(replica_backend(), &pair.key).is_ok());
    let e = Store::open(replica_backend(), &other_key).unwrap_err();
    assert!(matches!(e, Error::WrongKey(_)), "{e}");
    let mut renamed = pair.key.clone();
    renamed.store_id = Some(other.config().store_id.clone());
    let e = Store::open(replica_backend(), &renamed).unwrap_err();
    assert!(e.to_string().contains("the key is for store"), "{e}");
    // A store is never made over another.
    assert!(matches!(
        Store::init_replica(replica_backend(), &pair.primary),
        Err(Error::StoreExists(_))
    ));
    // Its settings follow the primary's.
    let (pc, sc) = (pair.primary.config(), pair.secondary.config());
    assert_eq!(
        (pc.chunk_size, pc.encryption, pc.zstd_level),
        (sc.chunk_size, sc.encryption, sc.zstd_level)
    );
    assert_eq!(sc.origin.as_deref(), Some(pc.store_id.as_str()));
}

#[test]
fn unencrypted_stores_replicate_too() {
    let mut key = MasterKey::generate();
    let primary = Store::init(
        Arc::new(MemoryBackend::new("p")),
        &mut key,
        &InitOptions {
            encryption: rsvault_engine::codec::Encryption::None,
            chunk_size: 16 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    let secondary = Store::init_replica(Arc::new(MemoryBackend::new("s")), &primary).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.raw");
    let img = make_image(&p, 3 << 20, 80);
    let m = backup(
        &primary,
        &RawImage::open(&p).unwrap(),
        &BackupOptions {
            name: "d".into(),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let o = ReplicateOptions::default();
    replicate_point(&primary, &secondary, &m.id, &o, &NoProgress).unwrap();
    assert_clean(&secondary);
    let got = restore_bytes(&secondary, &m, &dir.path().join("out.raw"));
    assert_same(&got, &img, "unencrypted replica");
}

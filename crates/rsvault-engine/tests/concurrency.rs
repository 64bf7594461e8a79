//! Concurrent writers: two backups at once, backups while gc runs, and the
//! gc protocol against a backup that deduplicated against condemned data.

mod common;

use common::*;
use rand::SeedableRng;
use rsvault_engine::backend::{Backend, LocalBackend, ObjectMeta, PutMode};
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, GcOptions, NoProgress, Progress, RestoreOptions, Store, backup, gc, restore,
    verify,
};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc;

fn opts(name: &str) -> BackupOptions {
    BackupOptions {
        name: name.into(),
        ..Default::default()
    }
}

fn check_restore(t: &TestStore, id: &str, name: &str, want: &[u8]) {
    let m = t.store.resolve_point(name, id).unwrap();
    let out = t.path(&format!("r-{id}.raw"));
    restore(&t.store, &m, &out, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_same(&read(&out), want, &format!("point {id} of {name}"));
    std::fs::remove_file(out).unwrap();
}

#[test]
fn two_backups_into_one_store_at_once() {
    let t = TestStore::new();
    let imgs: Vec<_> = (0..3)
        .map(|i| {
            (
                t.path(&format!("d{i}.raw")),
                make_image(&t.path(&format!("d{i}.raw")), 16 << 20, 40 + i),
            )
        })
        .collect();
    let points: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = imgs
            .iter()
            .enumerate()
            .map(|(i, (p, _))| {
                let store = t.reopen();
                // Two different disks and one disk name twice.
                let name = if i == 2 {
                    "d0".to_string()
                } else {
                    format!("d{i}")
                };
                s.spawn(move || {
                    backup(
                        &store,
                        &RawImage::open(p).unwrap(),
                        &opts(&name),
                        &NoProgress,
                    )
                    .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, m) in points.iter().enumerate() {
        check_restore(&t, &m.id, &m.name, &imgs[i].1);
    }
    assert!(verify(&t.store, 2, &NoProgress).unwrap().is_clean());
}

#[test]
fn backups_while_gc_runs() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let mut img = make_image(&p, 16 << 20, 50);
    let done = std::sync::atomic::AtomicBool::new(false);
    let kept: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let store = t.reopen();
            let mut ids: Vec<String> = Vec::new();
            for i in 0..8u64 {
                if i > 0 {
                    mutate(&p, &mut img, 60 + i, 8);
                }
                let m = backup(
                    &store,
                    &RawImage::open(&p).unwrap(),
                    &opts("d"),
                    &NoProgress,
                )
                .unwrap();
                ids.push(m.id.clone());
                kept.lock().unwrap().push((m.id, img.clone()));
                // Keep the last two points: gc has work every round.
                if ids.len() > 2 {
                    let old = ids.remove(0);
                    store.forget("d", &old).unwrap();
                    kept.lock().unwrap().retain(|(id, _)| *id != old);
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        s.spawn(|| {
            let store = t.reopen();
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 2 {
                match gc(&store, &GcOptions::default(), &NoProgress) {
                    Ok(_) => runs += 1,
                    Err(rsvault_engine::Error::Locked(_)) => {}
                    Err(e) => panic!("gc failed: {e}"),
                }
            }
        });
    });
    gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    let rep = verify(&t.store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{rep:?}");
    let kept = kept.into_inner().unwrap();
    assert_eq!(rep.points, kept.len());
    for (id, bytes) in &kept {
        check_restore(&t, id, "d", bytes);
    }
}

/// Blocks a backup right after it loaded the index, until released.
struct Gate {
    reached: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Progress for Gate {
    fn start(&self, _: &str, _: u64) {
        if let Some(tx) = self.reached.lock().unwrap().take() {
            tx.send(()).unwrap();
            // A dropped sender (the test failed) also releases the backup.
            let _ = self.release.lock().unwrap().recv();
        }
    }
}

#[test]
fn gc_never_deletes_what_an_inflight_backup_deduplicated_against() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let img = make_image(&p, 8 << 20, 70);
    let first = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    // Packs younger than a running writer are left alone by gc; age them.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (reached_tx, reached_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let gate = Gate {
        reached: Mutex::new(Some(reached_tx)),
        release: Mutex::new(release_rx),
    };
    let (second, st) = std::thread::scope(|s| {
        // Disk "e" has the same data: it will reuse every chunk of "d".
        let h = s.spawn(|| backup(&t.reopen(), &RawImage::open(&p).unwrap(), &opts("e"), &gate));
        reached_rx.recv().unwrap();
        // While it runs, the only point using those chunks goes away.
        t.store.forget("d", &first.id).unwrap();
        let st = gc(&t.store, &GcOptions::default(), &NoProgress);
        drop(release_tx);
        (h.join().unwrap().unwrap(), st.unwrap())
    });
    assert!(
        st.packs_pending > 0,
        "condemned packs wait for the running backup: {st:?}"
    );
    assert_eq!(st.packs_deleted, 0, "{st:?}");
    assert_eq!(
        second.stats.chunks_new, 0,
        "the backup deduplicated against the condemned chunks"
    );
    // The next gc sees the new point and revives the packs instead of deleting them.
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert!(st.packs_revived > 0, "{st:?}");
    assert_eq!(st.packs_pending, 0);
    // One call reaches the fixed point: the next finds nothing to do.
    let again = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(
        (again.packs_deleted, again.packs_repacked),
        (0, 0),
        "{again:?}"
    );
    let rep = verify(&t.store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{rep:?}");
    check_restore(&t, &second.id, "e", &img);
    // And once it too is forgotten, gc reclaims everything.
    t.store.forget("e", &second.id).unwrap();
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_after, 0, "{st:?}");
}

/// Pauses a backup at the end of its reads (before its index file and commit).
struct LateGate(Gate);

impl Progress for LateGate {
    fn finish(&self) {
        self.0.start("", 0);
    }
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

/// The scheduler's daily race (issue 9): the tick that expires yesterday's
/// point (forget + gc) also starts today's backup, which deduplicates
/// against the packs gc is condemning. The new point must restore at once,
/// before any later gc, and new writers must see those packs again.
#[test]
fn a_point_deduplicated_against_condemned_packs_restores_before_the_next_gc() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let img = make_image(&p, 8 << 20, 71);
    let first = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let (second, st) = std::thread::scope(|s| {
        let h = s.spawn(|| backup(&t.reopen(), &RawImage::open(&p).unwrap(), &opts("d"), &g));
        reached.recv().unwrap();
        t.store.forget("d", &first.id).unwrap();
        let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        (h.join().unwrap().unwrap(), st)
    });
    assert!(st.packs_pending > 0, "{st:?}");
    assert_eq!(
        second.stats.chunks_new, 0,
        "deduplicated against condemned data"
    );
    // No gc in between: the point restores as soon as the backup returns.
    check_restore(&t, &second.id, "d", &img);
    let rep = verify(&t.store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{rep:?}");
    // The packs it needs are visible to writers again (revived).
    let li = t.store.load_index().unwrap();
    assert!(
        !li.revived.is_empty(),
        "the backup revived the packs it needs"
    );
    assert!(li.index.contains(&second.root), "the new root is visible");
    // The next gc settles the record: revives, deletes nothing needed.
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_pending, 0, "{st:?}");
    assert!(
        t.store.load_index().unwrap().revived.is_empty(),
        "markers are dropped once indexed"
    );
    check_restore(&t, &second.id, "d", &img);
    assert!(verify(&t.store, 2, &NoProgress).unwrap().is_clean());
}

/// The same race for an incremental whose changed-block list makes it take
/// the forgotten parent's subtrees by reference, paused after its reads.
#[test]
fn an_incremental_on_a_forgotten_parent_restores_before_the_next_gc() {
    use rsvault_engine::ranges::RangeSet;
    let t = TestStore::new();
    let p = t.path("d.raw");
    let mut img = make_image(&p, 8 << 20, 72);
    let first = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    let changed = mutate(&p, &mut img, 73, 4);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let late = LateGate(g);
    let o = BackupOptions {
        changed_ranges: Some(RangeSet::from_extents(changed.iter().copied()).unwrap()),
        ..opts("d")
    };
    let second = std::thread::scope(|s| {
        let h = s.spawn(|| backup(&t.reopen(), &RawImage::open(&p).unwrap(), &o, &late));
        reached.recv().unwrap();
        t.store.forget("d", &first.id).unwrap();
        gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        h.join().unwrap().unwrap()
    });
    assert!(second.used_changed_ranges);
    check_restore(&t, &second.id, "d", &img);
    assert!(verify(&t.store, 2, &NoProgress).unwrap().is_clean());
    gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    check_restore(&t, &second.id, "d", &img);
    t.store.forget("d", &second.id).unwrap();
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_after, 0, "{st:?}");
}

/// A restore that loaded its index before gc repacks the packs it reads
/// still finishes: readers hold a session, so gc defers the deletions.
#[test]
fn a_restore_survives_a_gc_that_repacks_what_it_reads() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let mut img = make_image(&p, 8 << 20, 74);
    let first = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    // Change the second half: half of the first point's pack is then garbage
    // once the first point goes, and gc repacks the live half.
    let half = img.len() / 2;
    let mut rng = rand::rngs::StdRng::seed_from_u64(75);
    rand::RngCore::fill_bytes(&mut rng, &mut img[half..]);
    std::fs::write(&p, &img).unwrap();
    let second = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let out = t.path("restored.raw");
    let (restored, st) = std::thread::scope(|s| {
        let h = s.spawn(|| restore(&t.reopen(), &second, &out, &RestoreOptions::default(), &g));
        reached.recv().unwrap();
        t.store.forget("d", &first.id).unwrap();
        let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
        drop(release);
        (h.join().unwrap(), st)
    });
    assert!(st.packs_repacked > 0, "{st:?}");
    assert!(
        st.packs_pending > 0,
        "deletions wait for the reader: {st:?}"
    );
    restored.expect("the restore reads what it loaded");
    assert_same(&read(&out), &img, "restored during gc");
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_pending, 0, "{st:?}");
    check_restore(&t, &second.id, "d", &img);
}

/// A writer that revived condemned packs and then died before its commit
/// leaves markers for packs nothing needs: the next gc call still reclaims
/// them (its second pass judges what its first revived).
#[test]
fn packs_revived_by_a_writer_that_never_committed_go_at_the_next_gc() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    make_image(&p, 8 << 20, 76);
    let first = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (g, reached, release) = gate();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let o = BackupOptions {
        cancel: Some(cancel.clone()),
        ..opts("d")
    };
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| backup(&t.reopen(), &RawImage::open(&p).unwrap(), &o, &g));
        reached.recv().unwrap();
        t.store.forget("d", &first.id).unwrap();
        let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
        assert!(st.packs_pending > 0, "{st:?}");
        // As the writer would just before its commit, then it dies.
        let condemned: Vec<String> = t
            .store
            .load_index()
            .unwrap()
            .condemned
            .into_iter()
            .collect();
        t.store
            .revive_packs(&condemned, "a writer that dies")
            .unwrap();
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(release);
        h.join().unwrap()
    });
    assert!(r.is_err(), "the writer was cancelled");
    let st = gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_after, 0, "{st:?}");
    assert!(t.store.load_index().unwrap().revived.is_empty());
}

/// A backend that runs a hook once, just before its first listing of a
/// prefix.
struct ListHook {
    inner: Arc<dyn Backend>,
    prefix: &'static str,
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for ListHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListHook({})", self.prefix)
    }
}

impl Backend for ListHook {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> rsvault_engine::Result<()> {
        self.inner.put(key, data, mode)
    }
    fn get(&self, key: &str) -> rsvault_engine::Result<Vec<u8>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> rsvault_engine::Result<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> rsvault_engine::Result<Vec<ObjectMeta>> {
        if prefix == self.prefix
            && let Some(hook) = self.hook.lock().unwrap().take()
        {
            hook();
        }
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

/// A point committed while gc lists the store, just before it lists the
/// points and just before it lists the packs: gc neither stops on it (its
/// new packs are not in a listing made before) nor deletes what it shares
/// with the point forgotten before.
#[test]
fn a_point_committed_while_gc_lists_the_store_survives_it() {
    for prefix in ["points/", "packs/"] {
        let t = TestStore::new();
        let p = t.path("d.raw");
        let mut img = make_image(&p, 4 << 20, 80);
        let first = backup(
            &t.store,
            &RawImage::open(&p).unwrap(),
            &opts("d"),
            &NoProgress,
        )
        .unwrap();
        t.store.forget("d", &first.id).unwrap();
        // The new point shares most of the forgotten one and adds packs.
        mutate(&p, &mut img, 81, 4);
        let committed = Arc::new(Mutex::new(None));
        let (root, key, image, out) = (t.root(), t.key.clone(), p.clone(), committed.clone());
        let hooked = ListHook {
            inner: Arc::new(LocalBackend::open_existing(&t.root()).unwrap()),
            prefix,
            hook: Mutex::new(Some(Box::new(move || {
                let s = Store::open(Arc::new(LocalBackend::open_existing(&root).unwrap()), &key)
                    .unwrap();
                let m = backup(
                    &s,
                    &RawImage::open(&image).unwrap(),
                    &opts("e"),
                    &NoProgress,
                )
                .unwrap();
                *out.lock().unwrap() = Some(m.id);
            }))),
        };
        let store = Store::open(Arc::new(hooked), &t.key).unwrap();
        let st = gc(&store, &GcOptions::default(), &NoProgress)
            .unwrap_or_else(|e| panic!("{prefix}: {e}"));
        let id = committed.lock().unwrap().clone().expect("the hook ran");
        assert!(
            verify(&t.store, 2, &NoProgress).unwrap().is_clean(),
            "{prefix}: {st:?}"
        );
        check_restore(&t, &id, "e", &img);
        gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
        check_restore(&t, &id, "e", &img);
    }
}

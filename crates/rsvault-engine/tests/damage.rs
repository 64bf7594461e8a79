//! Tampering and bad input: damage is named by verify and refused by
//! restore; wrong keys and unknown versions are clear errors.

mod common;

use common::*;
use rsvault_engine::backend::LocalBackend;
use rsvault_engine::pack;
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, Manifest, MasterKey, NoProgress, RestoreOptions, Store, backup, restore,
    verify,
};
use std::sync::Arc;

/// A store with two disks: `a` with three points, `b` with one.
fn setup() -> (TestStore, Vec<Manifest>) {
    let t = TestStore::new();
    let pa = t.path("a.raw");
    let pb = t.path("b.raw");
    let mut img = make_image(&pa, 6 << 20, 11);
    make_image(&pb, 3 << 20, 12);
    let mut points = Vec::new();
    for i in 0..3 {
        if i > 0 {
            mutate(&pa, &mut img, 20 + i, 5);
        }
        let o = BackupOptions {
            name: "a".into(),
            ..Default::default()
        };
        points.push(backup(&t.store, &RawImage::open(&pa).unwrap(), &o, &NoProgress).unwrap());
    }
    let o = BackupOptions {
        name: "b".into(),
        ..Default::default()
    };
    points.push(backup(&t.store, &RawImage::open(&pb).unwrap(), &o, &NoProgress).unwrap());
    assert!(verify(&t.store, 2, &NoProgress).unwrap().is_clean());
    (t, points)
}

fn try_restore(t: &TestStore, m: &Manifest) -> Result<(), Error> {
    let out = t.path("out.raw");
    let r = restore(
        &t.reopen(),
        m,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .map(|_| ());
    if r.is_err() {
        assert!(!out.exists(), "a failed restore leaves no output");
        assert!(
            !t.path("out.raw.rsvault-partial").exists(),
            "nor a partial file"
        );
    }
    let _ = std::fs::remove_file(&out);
    r
}

#[test]
fn flipping_a_byte_anywhere_in_a_pack_is_named_and_refused() {
    // Many positions over every pack: header, blobs and trailer.
    for seed in 0..12u64 {
        let (t, points) = setup();
        let packs = t.objects("packs");
        let pack = &packs[seed as usize % packs.len()];
        let len = std::fs::metadata(pack).unwrap().len();
        let pos = (seed * 7919 * 104729) % len;
        let blobs_end = {
            let data = std::fs::read(pack).unwrap();
            let tail = &data[data.len() - pack::TAIL as usize..];
            len - pack::TAIL - u64::from(pack::trailer_len(tail, "p").unwrap())
        };
        flip(pack, pos);
        let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
        assert!(
            !rep.is_clean(),
            "seed {seed}: flip at {pos} of {len} went unnoticed"
        );
        let name = pack.file_name().unwrap().to_str().unwrap();
        assert!(
            rep.damaged_objects.iter().any(|o| o.contains(name)),
            "{rep:?}"
        );
        // Every point verify calls damaged must refuse to restore, and every
        // other point must still restore.
        for p in &points {
            let damaged = rep.damaged_points.iter().any(|d| d.id == p.id);
            assert_eq!(
                try_restore(&t, p).is_err(),
                damaged,
                "seed {seed} point {}: {rep:?}",
                p.id
            );
        }
        // A flip in a blob names a point. One in the magic or the trailer
        // names only the pack: restores never read those bytes, and every
        // blob still authenticates on its own.
        if (8..blobs_end).contains(&pos) {
            assert!(!rep.damaged_points.is_empty(), "seed {seed}: {rep:?}");
        }
    }
}

#[test]
fn a_damaged_pack_trailer_is_named_but_its_blobs_still_restore() {
    let (t, points) = setup();
    let pack = t.objects("packs")[0].clone();
    let data = std::fs::read(&pack).unwrap();
    let len = data.len() as u64;
    let tail = &data[data.len() - pack::TAIL as usize..];
    let trailer = u64::from(pack::trailer_len(tail, "p").unwrap());
    flip(&pack, len - pack::TAIL - trailer + 3);
    let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap();
    assert!(
        rep.damaged_objects.iter().any(|o| o.contains(name)),
        "{rep:?}"
    );
    assert!(rep.damaged_points.is_empty(), "{rep:?}");
    for p in &points {
        try_restore(&t, p).unwrap();
    }
}

#[test]
fn truncated_or_deleted_pack_is_named_and_refused() {
    for truncate in [true, false] {
        let (t, points) = setup();
        let pack = t.objects("packs")[0].clone();
        if truncate {
            let f = std::fs::OpenOptions::new().write(true).open(&pack).unwrap();
            f.set_len(std::fs::metadata(&pack).unwrap().len() / 2)
                .unwrap();
        } else {
            std::fs::remove_file(&pack).unwrap();
        }
        let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
        assert!(!rep.is_clean());
        assert!(!rep.damaged_points.is_empty(), "{rep:?}");
        for d in &rep.damaged_points {
            let p = points.iter().find(|p| p.id == d.id).unwrap();
            assert!(try_restore(&t, p).is_err());
        }
    }
}

#[test]
fn damaged_manifest_and_index_files() {
    let (t, points) = setup();
    // A flipped manifest: its point is named.
    let victim = &points[1];
    let mpath = t.root().join("points").join(&victim.id);
    flip(&mpath, 40);
    let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
    assert!(
        rep.damaged_objects.iter().any(|o| o.contains(&victim.id)),
        "{rep:?}"
    );
    assert!(t.reopen().resolve_point("a", &victim.id).is_err());
    // A deleted manifest in the middle of a chain is named as missing.
    std::fs::remove_file(&mpath).unwrap();
    let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
    assert!(
        rep.missing_points.iter().any(|m| m.contains(&victim.id)),
        "{rep:?}"
    );
    // Forgetting a point is not damage.
    let (t, points) = setup();
    t.store.forget("a", &points[1].id).unwrap();
    assert!(verify(&t.reopen(), 2, &NoProgress).unwrap().is_clean());
    // Index files are caches of pack trailers: a damaged one is reported and
    // restores still get authenticated data from the packs.
    let idx = t.objects("index")[0].clone();
    flip(&idx, 30);
    let rep = verify(&t.reopen(), 2, &NoProgress).unwrap();
    assert!(
        rep.damaged_objects.iter().any(|o| o.starts_with("index/")),
        "{rep:?}"
    );
    assert!(rep.damaged_points.is_empty());
    try_restore(&t, &points[2]).unwrap();
    std::fs::remove_file(&idx).unwrap();
    try_restore(&t, &points[2]).unwrap();
}

#[test]
fn wrong_key_unknown_version_and_missing_store_are_clear_errors() {
    let (t, _) = setup();
    let backend = || Arc::new(LocalBackend::open_existing(&t.root()).unwrap());
    // Another key without a store id: authentication of the config fails.
    let other = MasterKey::generate();
    assert!(matches!(
        Store::open(backend(), &other),
        Err(Error::WrongKey(_))
    ));
    // A key made for another store says so.
    let mut k2 = MasterKey::generate();
    let t2 = TestStore::new();
    Store::init(
        Arc::new(LocalBackend::new(&t2.path("s2")).unwrap()),
        &mut k2,
        &Default::default(),
    )
    .unwrap();
    let e = Store::open(backend(), &k2).unwrap_err();
    assert!(e.to_string().contains("the key is for store"), "{e}");
    // An unknown format version.
    let cfg = t.root().join("config");
    let mut b = std::fs::read(&cfg).unwrap();
    b[14] = 9;
    std::fs::write(&cfg, &b).unwrap();
    assert!(matches!(
        Store::open(backend(), &t.key),
        Err(Error::UnsupportedStoreVersion {
            found: 9,
            supported: 1
        })
    ));
    // A damaged config.
    b[14] = 1;
    let n = b.len();
    b[n - 3] ^= 1;
    std::fs::write(&cfg, &b).unwrap();
    assert!(matches!(
        Store::open(backend(), &t.key),
        Err(Error::WrongKey(_))
    ));
    // Not a store at all.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open(
            Arc::new(LocalBackend::open_existing(empty.path()).unwrap()),
            &t.key
        ),
        Err(Error::NotAStore(_))
    ));
    assert!(LocalBackend::open_existing(&empty.path().join("nope")).is_err());
}

#[test]
fn bad_names_and_points_are_rejected() {
    let (t, _) = setup();
    let p = t.path("a.raw");
    for bad in ["", "a\nb", &"x".repeat(201)] {
        let o = BackupOptions {
            name: bad.into(),
            ..Default::default()
        };
        assert!(matches!(
            backup(&t.store, &RawImage::open(&p).unwrap(), &o, &NoProgress),
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(matches!(
        t.store.resolve_point("a", "zzzz"),
        Err(Error::PointNotFound(_))
    ));
    assert!(matches!(
        t.store.resolve_point("nobody", "latest"),
        Err(Error::PointNotFound(_))
    ));
    // An ambiguous prefix (every uuid-v7 id of this run shares its first digit).
    assert!(matches!(
        t.store.resolve_point("a", "0"),
        Err(Error::InvalidInput(_))
    ));
}

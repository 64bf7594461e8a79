//! Backup, restore, forget, gc and verify of a store, end to end.

mod common;

use common::*;
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::source::{open_image, raw::RawImage};
use rsvault_engine::{
    BackupOptions, Error, GcOptions, NoProgress, RestoreFormat, RestoreOptions, backup, gc,
    restore, verify,
};

fn opts(name: &str) -> BackupOptions {
    BackupOptions {
        name: name.into(),
        ..Default::default()
    }
}

fn restore_bytes(t: &TestStore, name: &str, point: &str, format: RestoreFormat) -> Vec<u8> {
    let m = t.store.resolve_point(name, point).unwrap();
    let out = t.path(&format!("restore-{point}.img"));
    let o = RestoreOptions {
        format,
        ..Default::default()
    };
    restore(&t.store, &m, &out, &o, &NoProgress).unwrap();
    let bytes = match format {
        RestoreFormat::Raw => read(&out),
        RestoreFormat::Qcow2 => {
            let src = open_image(&out).unwrap();
            assert_eq!(src.format(), "qcow2");
            let mut b = vec![0u8; src.size() as usize];
            src.read_at(&mut b, 0).unwrap();
            b
        }
    };
    std::fs::remove_file(&out).unwrap();
    bytes
}

#[test]
fn odd_sized_sparse_disk_round_trips_raw_and_qcow2() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let size = 5 * 1024 * 1024 + 12345; // not a multiple of any chunk size
    let img = make_image(&p, size, 1);
    let src = RawImage::open(&p).unwrap();
    let m = backup(&t.store, &src, &opts("d"), &NoProgress).unwrap();
    assert_eq!(m.size, size);
    assert!(m.stats.bytes_read < size, "holes are not read");
    assert_same(
        &restore_bytes(&t, "d", "latest", RestoreFormat::Raw),
        &img,
        "raw restore",
    );
    // qcow2 sizes are whole 512-byte sectors: the tail is padded with zeros.
    let q = restore_bytes(&t, "d", "latest", RestoreFormat::Qcow2);
    assert_eq!(q.len() as u64, size.div_ceil(512) * 512);
    assert_same(&q[..img.len()], &img, "qcow2 restore");
    assert!(q[img.len()..].iter().all(|&b| b == 0));
    // The raw restore is sparse: it allocates no more than the source.
    let out = t.path("sparse.raw");
    restore(&t.store, &m, &out, &RestoreOptions::default(), &NoProgress).unwrap();
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        std::fs::metadata(&p).unwrap().blocks(),
        std::fs::metadata(&out).unwrap().blocks(),
    );
    assert!(b <= a + 256, "restored {b} blocks vs source {a}");
}

#[test]
fn all_zero_and_empty_disks_cost_nothing() {
    let t = TestStore::new();
    let p = t.path("z.raw");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(300 << 20).unwrap();
    let before = t.store_bytes();
    let m = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("z"),
        &NoProgress,
    )
    .unwrap();
    assert!(m.root.is_zero());
    assert_eq!(m.stats.bytes_read, 0);
    assert!(
        t.store_bytes() - before < 4096,
        "only a manifest was written"
    );
    assert_same(
        &restore_bytes(&t, "z", "latest", RestoreFormat::Raw),
        &vec![0u8; 300 << 20],
        "zero disk",
    );
    f.set_len(0).unwrap();
    backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("empty"),
        &NoProgress,
    )
    .unwrap();
    assert!(restore_bytes(&t, "empty", "latest", RestoreFormat::Raw).is_empty());
}

#[test]
fn incremental_chain_then_forget_and_gc_keeps_every_remaining_point_exact() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let size = 12 * 1024 * 1024 + 777;
    let mut img = make_image(&p, size, 2);
    let mut expected = Vec::new();
    for i in 0..10u64 {
        let changed = if i == 0 {
            None
        } else {
            Some(mutate(&p, &mut img, 100 + i, 6))
        };
        let o = BackupOptions {
            name: "vm".into(),
            // Every other incremental uses the changed-block list.
            changed_ranges: changed
                .filter(|_| i % 2 == 0)
                .map(|c| RangeSet::from_extents(c).unwrap()),
            ..Default::default()
        };
        let m = backup(&t.store, &RawImage::open(&p).unwrap(), &o, &NoProgress).unwrap();
        if i > 0 && i % 2 == 0 {
            assert!(m.used_changed_ranges);
            assert!(
                m.stats.bytes_read < size / 4,
                "only changed chunks are read: {}",
                m.stats.bytes_read
            );
        }
        expected.push((m.id.clone(), img.clone()));
    }
    // Forget an arbitrary subset, including the first and a middle one.
    let forget = [0usize, 3, 4, 7];
    for &i in &forget {
        t.store.forget("vm", &expected[i].0).unwrap();
    }
    let before = t.store_bytes();
    // Repack every pack holding garbage: how chunks spread over packs
    // depends on which pack writer took them, so a threshold would make
    // this run's outcome vary.
    let all = GcOptions {
        repack_garbage_ratio: 0.0,
    };
    let st = gc(&t.store, &all, &NoProgress).unwrap();
    assert_eq!(st.packs_pending, 0);
    assert!(st.packs_deleted + st.packs_repacked > 0, "{st:?}");
    assert!(t.store_bytes() < before, "gc reclaimed space");
    let rep = verify(&t.store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{rep:?}");
    assert_eq!(rep.points, 6);
    for (i, (id, bytes)) in expected.iter().enumerate() {
        if forget.contains(&i) {
            assert!(matches!(
                t.store.resolve_point("vm", id),
                Err(Error::PointNotFound(_))
            ));
        } else {
            assert_same(
                &restore_bytes(&t, "vm", id, RestoreFormat::Raw),
                bytes,
                &format!("point {i}"),
            );
        }
    }
    // Forget all but the last; gc twice more; the last still restores.
    for (i, (id, _)) in expected.iter().enumerate().take(9) {
        if !forget.contains(&i) {
            t.store.forget("vm", id).unwrap();
        }
    }
    gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    gc(&t.store, &GcOptions::default(), &NoProgress).unwrap();
    assert_same(
        &restore_bytes(&t, "vm", "latest", RestoreFormat::Raw),
        &expected[9].1,
        "last point",
    );
    assert!(verify(&t.store, 2, &NoProgress).unwrap().is_clean());
    // A fresh backup after all that still works.
    backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("vm"),
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn dedup_across_disks_and_points() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let img = make_image(&p, 8 << 20, 3);
    let m1 = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("a"),
        &NoProgress,
    )
    .unwrap();
    let m2 = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("b"),
        &NoProgress,
    )
    .unwrap();
    let m3 = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("a"),
        &NoProgress,
    )
    .unwrap();
    assert!(m1.stats.chunks_new > 0);
    assert_eq!(
        m2.stats.chunks_new, 0,
        "another disk with the same data stores nothing new"
    );
    assert_eq!(m3.stats.chunks_new, 0);
    assert_eq!(m2.root, m1.root);
    assert!(
        m3.stats.bytes_stored == 0,
        "an unchanged disk adds no pack: {:?}",
        m3.stats
    );
    assert_same(
        &restore_bytes(&t, "b", "latest", RestoreFormat::Raw),
        &img,
        "disk b",
    );
}

#[test]
fn scattered_small_writes_store_about_what_changed() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let size: u64 = 256 << 20;
    let mut img = make_image(&p, size, 4);
    backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    // 200 scattered 4 KiB writes of random data: 800 KiB changed.
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    use rand::{Rng, RngCore, SeedableRng};
    use std::os::unix::fs::FileExt;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for _ in 0..200 {
        let off = rng.random_range(0..size / 4096) * 4096;
        let mut b = [0u8; 4096];
        rng.fill_bytes(&mut b);
        f.write_all_at(&b, off).unwrap();
        img[off as usize..off as usize + 4096].copy_from_slice(&b);
    }
    let m = backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    // 64 KiB granularity: at most 200 chunks are new; random 4 KiB plus
    // compressible or zero remainder, plus tree nodes.
    assert!(m.stats.chunks_new <= 200, "{:?}", m.stats);
    assert!(m.stats.bytes_stored < 200 * 64 * 1024, "{:?}", m.stats);
    assert_same(
        &restore_bytes(&t, "d", "latest", RestoreFormat::Raw),
        &img,
        "restore",
    );
}

#[test]
fn unencrypted_store_still_authenticates() {
    let t = TestStore::with(rsvault_engine::InitOptions {
        encryption: rsvault_engine::codec::Encryption::None,
        ..Default::default()
    });
    let p = t.path("d.raw");
    let img = make_image(&p, 3 << 20, 5);
    backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    assert_same(
        &restore_bytes(&t, "d", "latest", RestoreFormat::Raw),
        &img,
        "restore",
    );
    let pack = t.objects("packs")[0].clone();
    flip(&pack, 100);
    assert!(!verify(&t.reopen(), 1, &NoProgress).unwrap().is_clean());
}

#[test]
fn changed_ranges_of_a_different_size_disk_fall_back_to_a_full_read() {
    let t = TestStore::new();
    let p = t.path("d.raw");
    let _ = make_image(&p, 4 << 20, 6);
    backup(
        &t.store,
        &RawImage::open(&p).unwrap(),
        &opts("d"),
        &NoProgress,
    )
    .unwrap();
    let img = make_image(&p, 6 << 20, 7);
    let o = BackupOptions {
        name: "d".into(),
        changed_ranges: Some(RangeSet::from_extents([(0, 1)]).unwrap()),
        ..Default::default()
    };
    let m = backup(&t.store, &RawImage::open(&p).unwrap(), &o, &NoProgress).unwrap();
    assert!(!m.used_changed_ranges);
    assert_same(
        &restore_bytes(&t, "d", "latest", RestoreFormat::Raw),
        &img,
        "restore",
    );
}

#[test]
fn a_restore_reads_neighbouring_chunks_with_one_request() {
    use rsvault_engine::replicate::CountingBackend;
    use std::sync::Arc;
    let t = TestStore::new();
    let img = t.path("disk.raw");
    // 12 MiB of distinct chunks: 192 of them, in one pack or two.
    let data = make_image(&img, 12 << 20, 7);
    let src = open_image(&img).unwrap();
    let m = backup(&t.store, src.as_ref(), &opts("d"), &NoProgress).unwrap();
    let counted = Arc::new(CountingBackend::new(t.store.backend().clone()));
    let store = rsvault_engine::Store::open(counted.clone(), &t.key).unwrap();
    let out = t.path("out.raw");
    let before = counted.counts();
    restore(&store, &m, &out, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_same(&read(&out), &data, "restore");
    let c = counted.counts().since(&before);
    let chunks = (12u64 << 20) / (64 << 10);
    assert!(
        c.get_range <= 8,
        "{} ranged reads for {chunks} chunks: {c:?}",
        c.get_range
    );
}

#[test]
fn the_index_cache_saves_reading_index_files_again() {
    use rsvault_engine::replicate::CountingBackend;
    use std::sync::Arc;
    let t = TestStore::new();
    let img = t.path("disk.raw");
    let mut data = make_image(&img, 4 << 20, 3);
    let src = open_image(&img).unwrap();
    backup(&t.store, src.as_ref(), &opts("d"), &NoProgress).unwrap();
    data[1 << 20] ^= 0xff;
    std::fs::write(&img, &data).unwrap();
    let src = open_image(&img).unwrap();
    backup(&t.store, src.as_ref(), &opts("d"), &NoProgress).unwrap();
    let cache = t.path("cache");
    let counted = Arc::new(CountingBackend::new(t.store.backend().clone()));
    let open = || {
        rsvault_engine::Store::open(counted.clone(), &t.key)
            .unwrap()
            .with_index_cache(&cache)
    };
    let gets = |s: &rsvault_engine::Store| {
        let before = counted.counts();
        let li = s.load_index().unwrap();
        (counted.counts().since(&before).get, li.files.len())
    };
    assert_eq!(
        gets(&open()),
        (2, 2),
        "the first open reads both index files"
    );
    assert_eq!(gets(&open()), (0, 2), "the next reads none");
    // A damaged copy is read again from the store, and replaced.
    let id = t.store.load_index().unwrap().files[0].clone();
    let copy = cache.join(&t.store.config().store_id).join(&id);
    let mut bytes = std::fs::read(&copy).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&copy, &bytes).unwrap();
    assert_eq!(gets(&open()), (1, 2));
    assert_eq!(gets(&open()), (0, 2));
    // A file gc removed leaves the cache too.
    let s = open();
    s.backend().delete(&format!("index/{id}")).unwrap();
    s.load_index().unwrap();
    assert!(!copy.exists());
}

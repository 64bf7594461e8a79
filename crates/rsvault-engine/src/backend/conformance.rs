//! The contract every [`Backend`] must keep, as one suite: run it against
//! each implementation (`conformance(&backend)`; it panics with what broke).
//! Use an empty backend: the suite writes under `conformance/`, and ends by
//! destroying the location.

use super::{Backend, PutMode};
use crate::error::Error;
use std::sync::Barrier;

const P: &str = "conformance";

fn key(k: &str) -> String {
    format!("{P}/{k}")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Runs every check against `b`.
pub fn conformance(b: &dyn Backend) {
    create_and_overwrite(b);
    missing_objects(b);
    ranged_reads(b);
    listing(b);
    large_objects(b);
    put_if_absent_race(b);
    overwrite_is_atomic(b);
    if let Some(lock) = b.object_lock()
        && lock.enabled().expect("read whether object lock is on")
    {
        super::lock::conformance(b);
    }
    for m in b.list(&format!("{P}/")).expect("list") {
        b.delete(&m.key).expect("delete");
    }
    assert!(
        b.list(&format!("{P}/")).expect("list").is_empty(),
        "delete removes objects"
    );
    destroy(b);
}

/// Last: `destroy` removes every object, under any prefix, and a second
/// `destroy` of the location now gone succeeds.
fn destroy(b: &dyn Backend) {
    let keys = [key("d/one"), "outside-the-suite-prefix".to_owned()];
    for k in &keys {
        b.put(k, b"x", PutMode::Overwrite).expect("put");
    }
    b.destroy().expect("destroy");
    for k in &keys {
        assert_eq!(
            b.head(k).expect("head after destroy"),
            None,
            "destroyed: {k}"
        );
    }
    b.destroy()
        .expect("destroying a destroyed location succeeds");
}

fn create_and_overwrite(b: &dyn Backend) {
    let k = key("one");
    b.put(&k, b"first", PutMode::Create).expect("create");
    assert_eq!(b.get(&k).expect("get"), b"first");
    match b.put(&k, b"second", PutMode::Create) {
        Err(Error::AlreadyExists(_)) => {}
        other => panic!("a second Create of {k} must fail with AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        b.get(&k).expect("get"),
        b"first",
        "a refused Create leaves the object"
    );
    b.put(&k, b"third!", PutMode::Overwrite).expect("overwrite");
    assert_eq!(b.get(&k).expect("get"), b"third!");
    let h = b.head(&k).expect("head").expect("head finds the object");
    assert_eq!((h.key.as_str(), h.size), (k.as_str(), 6), "head");
    b.put(&key("empty"), b"", PutMode::Create)
        .expect("an empty object");
    assert_eq!(b.get(&key("empty")).expect("get"), b"");
    assert_eq!(
        b.head(&key("empty")).expect("head").map(|m| m.size),
        Some(0)
    );
}

fn missing_objects(b: &dyn Backend) {
    let k = key("never-written");
    assert!(
        matches!(b.get(&k), Err(Error::MissingObject(_))),
        "get of a missing key"
    );
    assert!(
        matches!(b.get_range(&k, 0, 1), Err(Error::MissingObject(_))),
        "ranged get of a missing key"
    );
    assert_eq!(b.head(&k).expect("head"), None, "head of a missing key");
    b.delete(&k).expect("deleting a missing key succeeds");
    b.put(&key("gone"), b"x", PutMode::Create).expect("put");
    b.delete(&key("gone")).expect("delete");
    assert!(
        matches!(b.get(&key("gone")), Err(Error::MissingObject(_))),
        "deleted"
    );
    assert_eq!(b.head(&key("gone")).expect("head"), None);
    b.put(&key("gone"), b"y", PutMode::Create)
        .expect("a deleted key can be created again");
}

fn ranged_reads(b: &dyn Backend) {
    let k = key("range");
    let data = pattern(10_000, 3);
    b.put(&k, &data, PutMode::Create).expect("put");
    let n = data.len() as u64;
    for (off, len) in [(0, 1), (0, n), (n - 1, 1), (1234, 4321), (n, 0), (0, 0)] {
        let got = b.get_range(&k, off, len).expect("range within the object");
        assert_eq!(
            got,
            &data[off as usize..(off + len) as usize],
            "range {off}+{len}"
        );
    }
    for (off, len) in [(n - 1, 2), (n, 1), (n + 5, 1), (u64::MAX, 1)] {
        assert!(
            b.get_range(&k, off, len).is_err(),
            "range {off}+{len} past the end of a {n}-byte object must fail"
        );
    }
}

fn listing(b: &dyn Backend) {
    for (k, len) in [
        ("l/a/1", 1),
        ("l/a/2", 2),
        ("l/ab/3", 3),
        ("l/b/x/y", 4),
        ("l/c", 5),
    ] {
        b.put(&key(k), &pattern(len, 1), PutMode::Create)
            .expect("put");
    }
    let keys = |prefix: &str| -> Vec<(String, u64)> {
        b.list(&key(prefix))
            .expect("list")
            .into_iter()
            .map(|m| {
                (
                    m.key.trim_start_matches(&format!("{P}/")).to_owned(),
                    m.size,
                )
            })
            .collect()
    };
    assert_eq!(
        keys("l/a/"),
        [("l/a/1".into(), 1), ("l/a/2".into(), 2)],
        "prefix l/a/"
    );
    assert_eq!(
        keys("l/b/"),
        [("l/b/x/y".into(), 4)],
        "nested keys are listed"
    );
    assert_eq!(
        keys("l/"),
        [
            ("l/a/1".into(), 1),
            ("l/a/2".into(), 2),
            ("l/ab/3".into(), 3),
            ("l/b/x/y".into(), 4),
            ("l/c".into(), 5),
        ],
        "sorted, every depth"
    );
    assert!(keys("l/none/").is_empty(), "a prefix with nothing under it");
}

fn large_objects(b: &dyn Backend) {
    let k = key("large");
    let data = pattern(20 << 20, 9);
    b.put(&k, &data, PutMode::Create).expect("a 20 MiB put");
    assert!(
        b.get(&k).expect("get") == data,
        "a 20 MiB object reads back"
    );
    let mid = b.get_range(&k, (7 << 20) + 3, 1 << 20).expect("range");
    assert!(
        mid[..] == data[(7 << 20) + 3..(8 << 20) + 3],
        "a range of a large object"
    );
}

fn put_if_absent_race(b: &dyn Backend) {
    const N: usize = 8;
    for round in 0..4 {
        let k = key(&format!("race/{round}"));
        let barrier = Barrier::new(N);
        let wins: Vec<Option<usize>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..N)
                .map(|i| {
                    let (k, barrier) = (&k, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        match b.put(k, &pattern(4096 + i, i as u8), PutMode::Create) {
                            Ok(()) => Some(i),
                            Err(Error::AlreadyExists(_)) => None,
                            Err(e) => panic!("a racing Create failed otherwise: {e}"),
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let winners: Vec<usize> = wins.into_iter().flatten().collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one of {N} racing Creates wins: {winners:?}"
        );
        let w = winners[0];
        assert_eq!(
            b.get(&k).expect("get"),
            pattern(4096 + w, w as u8),
            "the winner's data"
        );
    }
}

fn overwrite_is_atomic(b: &dyn Backend) {
    let k = key("atomic");
    let a = pattern(1 << 20, 0xA);
    let c = pattern((1 << 20) + 7, 0xC);
    b.put(&k, &a, PutMode::Create).expect("put");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..40 {
                b.put(&k, if i % 2 == 0 { &c } else { &a }, PutMode::Overwrite)
                    .expect("overwrite");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let got = b
                        .get(&k)
                        .expect("an object being overwritten is always readable");
                    assert!(
                        got == a || got == c,
                        "a reader saw a torn object ({} bytes)",
                        got.len()
                    );
                }
            });
        }
    });
}

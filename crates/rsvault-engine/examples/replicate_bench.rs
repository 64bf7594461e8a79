//! Replication of an incremental against the incremental backup itself, on
//! local stores: a disk image of SIZE MiB (half random, a third
//! compressible, the rest holes) is backed up and replicated, then CHANGED
//! percent of it is rewritten in 64 KiB to 1 MiB pieces, backed up again
//! with the changed ranges and replicated, ROUNDS times; the medians.
//!
//! usage: cargo run --release -p rsvault-engine --example replicate_bench -- [SIZE_MIB] [CHANGED_PERCENT] [ROUNDS] [DIR]
//! (defaults 1024, 5, 5, a temporary directory)

use rand::{Rng, SeedableRng};
use rsvault_engine::backend::LocalBackend;
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, InitOptions, MasterKey, NoProgress, ReplicateOptions, ReplicationStats, Store,
    backup, replicate_point,
};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const MIB: u64 = 1 << 20;

fn fill(rng: &mut impl Rng, block: &mut [u8], kind: u32) {
    match kind {
        0..=4 => rng.fill_bytes(block),
        5..=7 => {
            let seed: u8 = rng.random();
            for (i, b) in block.iter_mut().enumerate() {
                *b = ((i / 61) as u8).wrapping_add(seed) ^ 0x5a;
            }
        }
        _ => block.fill(0),
    }
}

fn make_image(path: &Path, size: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let f = File::create(path).unwrap();
    f.set_len(size).unwrap();
    let mut block = vec![0u8; MIB as usize];
    for i in 0..size / MIB {
        let kind = rng.random_range(0..10u32);
        if kind >= 8 {
            continue; // a hole
        }
        fill(&mut rng, &mut block, kind);
        f.write_all_at(&block, i * MIB).unwrap();
    }
    f.sync_all().unwrap();
}

fn rewrite(path: &Path, size: u64, percent: u64, seed: u64) -> Vec<(u64, u64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let target = size * percent / 100;
    let mut done = 0;
    let mut ranges = Vec::new();
    let mut buf = vec![0u8; MIB as usize];
    while done < target {
        let len = (rng.random_range(1..=16u64) << 16).min(target - done);
        let off = rng.random_range(0..(size - len) / (64 << 10)) * (64 << 10);
        let kind = rng.random_range(0..8u32);
        fill(&mut rng, &mut buf[..len as usize], kind);
        f.write_all_at(&buf[..len as usize], off).unwrap();
        ranges.push((off, len));
        done += len;
    }
    f.sync_all().unwrap();
    ranges
}

fn replicate(primary: &Store, secondary: &Store, id: &str) -> (f64, ReplicationStats) {
    let t = Instant::now();
    let st = replicate_point(
        primary,
        secondary,
        id,
        &ReplicateOptions::default(),
        &NoProgress,
    )
    .unwrap();
    (t.elapsed().as_secs_f64(), st)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args.get(1).map_or(1024, |s| s.parse().unwrap()) * MIB;
    let percent: u64 = args.get(2).map_or(5, |s| s.parse().unwrap());
    let rounds: u64 = args.get(3).map_or(5, |s| s.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .get(4)
        .map_or(tmp.path().to_owned(), std::path::PathBuf::from);
    let image = dir.join("disk.raw");
    make_image(&image, size);
    let mut key = MasterKey::generate();
    let primary = Store::init(
        Arc::new(LocalBackend::new(&dir.join("primary")).unwrap()),
        &mut key,
        &InitOptions::default(),
    )
    .unwrap();
    let secondary = Store::init_replica(
        Arc::new(LocalBackend::new(&dir.join("secondary")).unwrap()),
        &primary,
    )
    .unwrap();
    let run = |ranges: Option<RangeSet>| {
        let t = Instant::now();
        let opts = BackupOptions {
            name: "disk".into(),
            changed_ranges: ranges,
            ..Default::default()
        };
        let m = backup(
            &primary,
            &RawImage::open(&image).unwrap(),
            &opts,
            &NoProgress,
        )
        .unwrap();
        (t.elapsed().as_secs_f64(), m)
    };
    println!("what\tseconds\tstored_or_copied_MiB\tprimary_requests\tsecondary_requests");
    let (t, full) = run(None);
    println!(
        "backup full\t{t:.2}\t{:.1}",
        full.stats.bytes_stored as f64 / MIB as f64
    );
    let (t, st) = replicate(&primary, &secondary, &full.id);
    println!(
        "replicate full\t{t:.2}\t{:.1}\t{}\t{}",
        st.bytes_copied as f64 / MIB as f64,
        st.primary_requests.total(),
        st.secondary_requests.total()
    );
    // Rounds of: CHANGED percent rewritten, an incremental with the
    // changed ranges, its replication.
    let (mut backups, mut replications) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let changed = rewrite(&image, size, percent, 2 + round);
        let ranges = RangeSet::from_extents(changed.iter().copied()).unwrap();
        let (tb, inc) = run(Some(ranges));
        println!(
            "backup incremental {round} ({percent} %, changed ranges)\t{tb:.2}\t{:.1}",
            inc.stats.bytes_stored as f64 / MIB as f64
        );
        let (tr, st) = replicate(&primary, &secondary, &inc.id);
        println!(
            "replicate incremental {round}\t{tr:.2}\t{:.1}\t{}\t{}",
            st.bytes_copied as f64 / MIB as f64,
            st.primary_requests.total(),
            st.secondary_requests.total()
        );
        backups.push(tb);
        replications.push(tr);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, r) = (median(&mut backups), median(&mut replications));
    println!(
        "median of {rounds}: backup incremental {b:.2} s, its replication {r:.2} s ({:.2}x)",
        r / b
    );
}

//! Randomised race of replication with backups, forgets and gcs on both
//! stores, in threads (one store handle each, as separate processes would
//! have). After every round the secondary is brought up to the primary;
//! then every point of the secondary restores bit-identically, at once,
//! and both stores verify clean.
//!
//! `RSVAULT_RACE_SECONDS` bounds the run (default 10 s) and
//! `RSVAULT_RACE_SEED` replays one seed.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rsvault_engine::backend::LocalBackend;
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, GcOptions, MasterKey, NoProgress, ReplicateOptions, RestoreOptions,
    Store, backup, gc, replicate_all, replicate_point, restore, verify,
};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DISK: usize = 2 << 20;
const DISKS: usize = 3;

struct Env {
    dir: tempfile::TempDir,
    key: MasterKey,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut key = MasterKey::generate();
        let primary = Store::init(
            Arc::new(LocalBackend::new(&dir.path().join("primary")).unwrap()),
            &mut key,
            &Default::default(),
        )
        .unwrap();
        Store::init_replica(
            Arc::new(LocalBackend::new(&dir.path().join("secondary")).unwrap()),
            &primary,
        )
        .unwrap();
        Env { dir, key }
    }
    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn open(&self, which: &str) -> Store {
        let backend = Arc::new(LocalBackend::open_existing(&self.p(which)).unwrap());
        Store::open(backend, &self.key).unwrap()
    }
}

/// Every point committed on the primary: disk and content.
type Model = BTreeMap<String, (usize, Arc<Vec<u8>>)>;

#[derive(Debug)]
enum Op {
    Backup {
        disk: usize,
        file: PathBuf,
        ranges: Option<RangeSet>,
    },
    Forget {
        store: &'static str,
        point: String,
    },
    Gc(&'static str),
    Replicate(String),
    ReplicateAll,
}

fn name(disk: usize) -> String {
    format!("disk{disk}")
}

/// Disks share their first third, so points deduplicate across disks too.
fn first_content(rng: &mut StdRng, disk: usize) -> Vec<u8> {
    let mut v = vec![0u8; DISK];
    StdRng::seed_from_u64(7).fill_bytes(&mut v[..DISK / 3]);
    rng.fill_bytes(&mut v[DISK / 3..DISK / 2]);
    v[DISK - 1] = disk as u8;
    v
}

fn mutate(rng: &mut StdRng, base: &[u8]) -> (Vec<u8>, RangeSet) {
    let mut v = base.to_vec();
    let mut ranges = Vec::new();
    for _ in 0..rng.random_range(1..4) {
        let off = rng.random_range(0..DISK - 70_000);
        let len = rng.random_range(1..70_000);
        rng.fill_bytes(&mut v[off..off + len]);
        ranges.push((off as u64, len as u64));
    }
    (v, RangeSet::from_extents(ranges).unwrap())
}

/// The newest point of each disk on the primary.
fn newest(model: &Model, history: &[Vec<String>], disk: usize) -> Option<String> {
    history[disk]
        .iter()
        .rev()
        .find(|id| model.contains_key(*id))
        .cloned()
}

/// Two to six operations that run at once, with the contents backups will
/// commit.
fn plan(
    rng: &mut StdRng,
    env: &Env,
    model: &Model,
    history: &[Vec<String>],
    round: usize,
) -> Vec<(Op, Option<Arc<Vec<u8>>>)> {
    let mut ops = Vec::new();
    let mut backing = HashSet::new();
    let ids: Vec<&String> = model.keys().collect();
    for i in 0..rng.random_range(2..7) {
        let disk = rng.random_range(0..DISKS);
        match rng.random_range(0..12) {
            0..=2 if backing.insert(disk) => {
                let (content, ranges) = match newest(model, history, disk) {
                    Some(id) => {
                        let (c, r) = mutate(rng, &model[&id].1);
                        (c, rng.random_bool(0.5).then_some(r))
                    }
                    None => (first_content(rng, disk), None),
                };
                let file = env.p(&format!("img-{round}-{i}.raw"));
                std::fs::write(&file, &content).unwrap();
                ops.push((Op::Backup { disk, file, ranges }, Some(Arc::new(content))));
            }
            3..=4 if !ids.is_empty() => {
                let point = ids[rng.random_range(0..ids.len())].clone();
                let store = if rng.random_bool(0.5) {
                    "primary"
                } else {
                    "secondary"
                };
                ops.push((Op::Forget { store, point }, None));
            }
            5 => ops.push((Op::Gc("primary"), None)),
            6..=7 => ops.push((Op::Gc("secondary"), None)),
            8..=9 => {
                if let Some(id) = newest(model, history, disk) {
                    ops.push((Op::Replicate(id), None));
                }
            }
            _ => ops.push((Op::ReplicateAll, None)),
        }
    }
    // A backup with a changed-block list is relative to the newest point of
    // its disk: a forget of that point in the same round makes it read the
    // whole disk instead (the engine ignores a list without its parent).
    let forgotten: HashSet<String> = ops
        .iter()
        .filter_map(|(o, _)| match o {
            Op::Forget {
                store: "primary",
                point,
            } => Some(point.clone()),
            _ => None,
        })
        .collect();
    for (o, _) in &mut ops {
        if let Op::Backup { disk, ranges, .. } = o
            && newest(model, history, *disk).is_some_and(|id| forgotten.contains(&id))
        {
            *ranges = None;
        }
    }
    ops
}

enum Outcome {
    Committed(usize, String),
    ForgottenOnPrimary(String),
    Nothing,
}

fn run(env: &Env, op: &Op) -> Outcome {
    let o = ReplicateOptions {
        threads: 2,
        ..Default::default()
    };
    match op {
        Op::Backup { disk, file, ranges } => {
            let opts = BackupOptions {
                name: name(*disk),
                changed_ranges: ranges.clone(),
                threads: 1,
                ..Default::default()
            };
            let m = backup(
                &env.open("primary"),
                &RawImage::open(file).unwrap(),
                &opts,
                &NoProgress,
            )
            .unwrap();
            Outcome::Committed(*disk, m.id)
        }
        Op::Forget { store, point } => {
            let s = env.open(store);
            let Some(m) = s.point(point).unwrap() else {
                return Outcome::Nothing;
            };
            match s.forget(&m.name, point) {
                Ok(_) if *store == "primary" => Outcome::ForgottenOnPrimary(point.clone()),
                Ok(_) | Err(Error::PointNotFound(_)) => Outcome::Nothing,
                Err(e) => panic!("forget {point} on the {store}: {e}"),
            }
        }
        Op::Gc(store) => match gc(&env.open(store), &GcOptions::default(), &NoProgress) {
            Ok(_) | Err(Error::Locked(_)) => Outcome::Nothing,
            Err(e) => panic!("gc of the {store} failed: {e}"),
        },
        Op::Replicate(id) => {
            replicate_point(
                &env.open("primary"),
                &env.open("secondary"),
                id,
                &o,
                &NoProgress,
            )
            .unwrap_or_else(|e| panic!("replicate {id}: {e}"));
            Outcome::Nothing
        }
        Op::ReplicateAll => {
            replicate_all(
                &env.open("primary"),
                &env.open("secondary"),
                &o,
                &NoProgress,
            )
            .unwrap_or_else(|e| panic!("replicate_all: {e}"));
            Outcome::Nothing
        }
    }
}

/// Brings the secondary up to the primary, then checks it restores every
/// point it holds, holds every point of the primary it did not forget, and
/// that both verify clean.
fn check(env: &Env, model: &Model, ctx: &str) {
    let (primary, secondary) = (env.open("primary"), env.open("secondary"));
    replicate_all(
        &primary,
        &secondary,
        &ReplicateOptions::default(),
        &NoProgress,
    )
    .unwrap_or_else(|e| panic!("{ctx}: replicate_all: {e}"));
    let gone = secondary.forgotten().unwrap();
    let out = env.p("check.raw");
    let held: HashSet<String> = secondary
        .list_points()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    for (id, (disk, want)) in model {
        if !held.contains(id) {
            assert!(gone.contains(id), "{ctx}: point {id} was never replicated");
            continue;
        }
        let m = secondary.resolve_point(&name(*disk), id).unwrap();
        restore(
            &secondary,
            &m,
            &out,
            &RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap_or_else(|e| panic!("{ctx}: point {id} does not restore: {e}"));
        assert!(
            std::fs::read(&out).unwrap() == **want,
            "{ctx}: point {id} restores to other data"
        );
    }
    for id in &held {
        assert!(
            model.contains_key(id),
            "{ctx}: the secondary holds {id}, which the primary forgot"
        );
    }
    for (which, s) in [("primary", &primary), ("secondary", &secondary)] {
        let rep = verify(s, 2, &NoProgress).unwrap();
        assert!(rep.is_clean(), "{ctx}: verify of the {which}: {rep:?}");
    }
}

#[test]
fn replication_races_backups_forgets_and_gcs_on_both_sides() {
    let seconds: u64 = std::env::var("RSVAULT_RACE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("RSVAULT_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64());
    eprintln!("replicate race: seed {seed} (RSVAULT_RACE_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let env = Env::new();
    let mut model = Model::new();
    let mut history: Vec<Vec<String>> = vec![Vec::new(); DISKS];
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(seconds) || round < 3 {
        let ops = plan(&mut rng, &env, &model, &history, round);
        let ctx = format!("seed {seed} round {round} {ops:?}");
        let outcomes: Vec<(Outcome, Option<Arc<Vec<u8>>>)> = std::thread::scope(|s| {
            let handles: Vec<_> = ops
                .iter()
                .map(|(op, content)| {
                    let env = &env;
                    (s.spawn(move || run(env, op)), content.clone())
                })
                .collect();
            handles
                .into_iter()
                .map(|(h, c)| (h.join().unwrap_or_else(|_| panic!("{ctx}")), c))
                .collect()
        });
        for (o, content) in outcomes {
            match o {
                Outcome::Committed(disk, id) => {
                    history[disk].push(id.clone());
                    model.insert(id, (disk, content.expect("a backup's content")));
                }
                Outcome::ForgottenOnPrimary(id) => {
                    model.remove(&id);
                }
                Outcome::Nothing => {}
            }
        }
        for (op, _) in &ops {
            if let Op::Backup { file, .. } = op {
                let _ = std::fs::remove_file(file);
            }
        }
        check(&env, &model, &ctx);
        round += 1;
    }
    eprintln!(
        "replicate race: seed {seed}, {round} rounds, {} points",
        model.len()
    );
    // In the end, forgetting everything on the primary empties both.
    let primary = env.open("primary");
    for (id, (disk, _)) in &model {
        primary.forget(&name(*disk), id).unwrap();
    }
    check(&env, &Model::new(), "all forgotten");
    for which in ["primary", "secondary"] {
        let st = gc(&env.open(which), &GcOptions::default(), &NoProgress).unwrap();
        assert_eq!(st.packs_after, 0, "{which}: {st:?}");
    }
}

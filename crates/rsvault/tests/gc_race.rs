//! Randomised race of backups, forgets, gcs and restores on one store, in
//! threads (the engine's API, one store handle each) and in processes (the
//! `rsvault disk` binary) at once. After every round, every committed point
//! restores bit-identically and verify is clean.
//!
//! `RSVAULT_RACE_SECONDS` bounds the run (default 25 s, as CI runs it; the
//! bench runs it longer) and `RSVAULT_RACE_SEED` replays one seed.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rsvault_engine::backend::{OpenMode, open_url};
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, GcOptions, MasterKey, NoProgress, RestoreOptions, Store, backup, gc,
    restore, verify,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DISK: usize = 3 << 20;
const DISKS: usize = 3;

struct Env {
    dir: tempfile::TempDir,
    key: MasterKey,
}

/// What the test knows: every committed point and its content.
#[derive(Default, Clone)]
struct Model {
    /// point id -> (disk, content)
    points: BTreeMap<String, (usize, Arc<Vec<u8>>)>,
    /// disk -> (latest point id, its content), in commit order
    history: Vec<Vec<String>>,
}

enum Op {
    Backup {
        disk: usize,
        file: PathBuf,
        content: Arc<Vec<u8>>,
        ranges: Option<RangeSet>,
    },
    Forget {
        disk: usize,
        point: String,
    },
    Gc,
    Restore {
        disk: usize,
        point: String,
    },
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Backup { disk, ranges, .. } => {
                write!(
                    f,
                    "backup disk{disk} (changed ranges: {})",
                    ranges.is_some()
                )
            }
            Op::Forget { disk, point } => write!(f, "forget disk{disk} {point}"),
            Op::Gc => write!(f, "gc"),
            Op::Restore { disk, point } => write!(f, "restore disk{disk} {point}"),
        }
    }
}

enum Outcome {
    Committed(usize, String, Arc<Vec<u8>>),
    Forgotten(String),
    Nothing,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut key = MasterKey::generate();
        let backend =
            open_url(dir.path().join("store").to_str().unwrap(), OpenMode::Create).unwrap();
        Store::init(backend, &mut key, &Default::default()).unwrap();
        key.save_new(&dir.path().join("key")).unwrap();
        Env { dir, key }
    }
    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn store(&self) -> Store {
        let backend = open_url(self.p("store").to_str().unwrap(), OpenMode::Existing).unwrap();
        Store::open(backend, &self.key).unwrap()
    }
    fn cli(&self, sub: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_rsvault"))
            .args(["disk", sub, "--store"])
            .arg(self.p("store"))
            .arg("--key-file")
            .arg(self.p("key"))
            .args(args)
            .output()
            .unwrap()
    }
}

fn name(disk: usize) -> String {
    format!("disk{disk}")
}

/// Disks share their first third, so points deduplicate across disks too.
fn first_content(rng: &mut StdRng, disk: usize) -> Vec<u8> {
    let mut v = vec![0u8; DISK];
    let mut shared = StdRng::seed_from_u64(7);
    shared.fill_bytes(&mut v[..DISK / 3]);
    rng.fill_bytes(&mut v[DISK / 3..DISK / 3 + DISK / 4]);
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

/// Chooses two to five operations that run at once. A forget may take the
/// newest point of a disk while a backup of that disk runs (as the
/// scheduler's tick expires yesterday's point while today's backup starts);
/// that backup then reads the whole disk, since its changed-block list
/// would be relative to a point it may not find. Restores read points no
/// forget of the round takes.
fn plan(rng: &mut StdRng, env: &Env, model: &Model, round: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut backing = std::collections::HashSet::new();
    let mut forgetting = std::collections::HashMap::new();
    for i in 0..rng.random_range(2..6) {
        let disk = rng.random_range(0..DISKS);
        let h = &model.history[disk];
        match rng.random_range(0..10) {
            0..=3 if !backing.contains(&disk) => {
                backing.insert(disk);
                let (content, ranges) = match h.last() {
                    Some(id) => {
                        let (c, r) = mutate(rng, &model.points[id].1);
                        (c, rng.random_bool(0.5).then_some(r))
                    }
                    None => (first_content(rng, disk), None),
                };
                let file = env.p(&format!("img-{round}-{i}.raw"));
                std::fs::write(&file, &content).unwrap();
                ops.push(Op::Backup {
                    disk,
                    file,
                    content: Arc::new(content),
                    ranges,
                });
            }
            4..=5 if !forgetting.contains_key(&disk) && !h.is_empty() => {
                let newest = rng.random_bool(0.6);
                let point = if newest {
                    h[h.len() - 1].clone()
                } else {
                    h[rng.random_range(0..h.len())].clone()
                };
                forgetting.insert(disk, point.clone());
                ops.push(Op::Forget { disk, point });
            }
            6..=8 => ops.push(Op::Gc),
            _ => {
                if let Some(point) = h.last() {
                    ops.push(Op::Restore {
                        disk,
                        point: point.clone(),
                    });
                }
            }
        }
    }
    // Restores of points a forget takes cannot succeed; changed-block lists
    // are only right while the newest point stays.
    ops.retain(|o| match o {
        Op::Restore { disk, point } => forgetting.get(disk) != Some(point),
        _ => true,
    });
    for o in &mut ops {
        if let Op::Backup { disk, ranges, .. } = o
            && forgetting.get(disk) == model.history[*disk].last()
        {
            *ranges = None;
        }
    }
    ops
}

fn run_thread(env: &Env, op: &Op, out: &Path) -> Outcome {
    let store = env.store();
    match op {
        Op::Backup {
            disk,
            file,
            content,
            ranges,
        } => {
            let o = BackupOptions {
                name: name(*disk),
                changed_ranges: ranges.clone(),
                threads: 1,
                ..Default::default()
            };
            let m = backup(&store, &RawImage::open(file).unwrap(), &o, &NoProgress).unwrap();
            Outcome::Committed(*disk, m.id, content.clone())
        }
        Op::Forget { disk, point } => {
            store.forget(&name(*disk), point).unwrap();
            Outcome::Forgotten(point.clone())
        }
        Op::Gc => match gc(&store, &GcOptions::default(), &NoProgress) {
            Ok(_) | Err(Error::Locked(_)) => Outcome::Nothing,
            Err(e) => panic!("gc failed: {e}"),
        },
        Op::Restore { disk, point } => {
            let m = store.resolve_point(&name(*disk), point).unwrap();
            let o = RestoreOptions {
                threads: 1,
                ..Default::default()
            };
            restore(&store, &m, out, &o, &NoProgress)
                .unwrap_or_else(|e| panic!("restore of {point} during the round: {e}"));
            Outcome::Nothing
        }
    }
}

fn run_process(env: &Env, op: &Op, out: &Path) -> Outcome {
    let ok = |o: std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() || (what == "gc" && err.contains("another gc")),
            "{what}: {err}"
        );
        o
    };
    match op {
        Op::Backup {
            disk,
            file,
            content,
            ranges,
        } => {
            let mut args = vec![
                "--name".to_string(),
                name(*disk),
                "--json".into(),
                "--threads".into(),
                "1".into(),
            ];
            if let Some(r) = ranges {
                let list = out.with_extension("ranges");
                let text: String = r
                    .ranges()
                    .iter()
                    .map(|(o, l)| format!("{o} {l}\n"))
                    .collect();
                std::fs::write(&list, text).unwrap();
                args.extend(["--changed-ranges".into(), list.display().to_string()]);
            }
            args.push(file.display().to_string());
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = ok(env.cli("backup", &argv), "backup");
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            Outcome::Committed(*disk, v["id"].as_str().unwrap().into(), content.clone())
        }
        Op::Forget { disk, point } => {
            ok(
                env.cli("forget", &["--name", &name(*disk), "--point", point]),
                "forget",
            );
            Outcome::Forgotten(point.clone())
        }
        Op::Gc => {
            ok(env.cli("gc", &[]), "gc");
            Outcome::Nothing
        }
        Op::Restore { disk, point } => {
            let o = out.display().to_string();
            ok(
                env.cli(
                    "restore",
                    &["--name", &name(*disk), "--point", point, "--output", &o],
                ),
                "restore",
            );
            Outcome::Nothing
        }
    }
}

/// Every committed point restores to its content; verify is clean.
fn check(env: &Env, model: &Model, ctx: &str) {
    let store = env.store();
    let out = env.p("check.raw");
    for (id, (disk, want)) in &model.points {
        let m = store
            .resolve_point(&name(*disk), id)
            .unwrap_or_else(|e| panic!("{ctx}: point {id} is gone: {e}"));
        restore(&store, &m, &out, &RestoreOptions::default(), &NoProgress)
            .unwrap_or_else(|e| panic!("{ctx}: point {id} does not restore: {e}"));
        let got = std::fs::read(&out).unwrap();
        assert!(got == **want, "{ctx}: point {id} restores to other data");
        std::fs::remove_file(&out).unwrap();
    }
    let listed = store.list_points().unwrap();
    assert_eq!(
        listed.len(),
        model.points.len(),
        "{ctx}: points in the store"
    );
    let rep = verify(&store, 2, &NoProgress).unwrap();
    assert!(rep.is_clean(), "{ctx}: verify: {rep:?}");
}

fn one_seed(seed: u64, deadline: Instant) -> usize {
    let env = Env::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model {
        history: vec![Vec::new(); DISKS],
        ..Default::default()
    };
    let mut rounds = 0;
    while rounds < 12 && Instant::now() < deadline {
        let ops = plan(&mut rng, &env, &model, rounds);
        let in_process: Vec<bool> = ops.iter().map(|_| rng.random_bool(0.4)).collect();
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let hs: Vec<_> = ops
                .iter()
                .zip(&in_process)
                .enumerate()
                .map(|(i, (op, proc_))| {
                    let env = &env;
                    let out = env.p(&format!("out-{rounds}-{i}.raw"));
                    s.spawn(move || {
                        let r = if *proc_ {
                            run_process(env, op, &out)
                        } else {
                            run_thread(env, op, &out)
                        };
                        let _ = std::fs::remove_file(&out);
                        r
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in outcomes {
            match o {
                Outcome::Committed(disk, id, content) => {
                    model.history[disk].push(id.clone());
                    model.points.insert(id, (disk, content));
                }
                Outcome::Forgotten(id) => {
                    let (disk, _) = model.points.remove(&id).unwrap();
                    model.history[disk].retain(|p| *p != id);
                }
                Outcome::Nothing => {}
            }
        }
        for op in &ops {
            if let Op::Backup { file, .. } = op {
                std::fs::remove_file(file).unwrap();
            }
        }
        check(
            &env,
            &model,
            &format!("seed {seed} round {rounds} ({ops:?})"),
        );
        rounds += 1;
    }
    // In the end, forgetting everything lets gc reclaim every pack.
    let store = env.store();
    for (id, (disk, _)) in &model.points {
        store.forget(&name(*disk), id).unwrap();
    }
    gc(&store, &GcOptions::default(), &NoProgress).unwrap();
    let st = gc(&store, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_after, 0, "seed {seed}: {st:?}");
    rounds
}

#[test]
fn backups_forgets_gcs_and_restores_race_in_threads_and_processes() {
    let secs: u64 = std::env::var("RSVAULT_RACE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let deadline = Instant::now() + Duration::from_secs(secs);
    if let Some(seed) = std::env::var("RSVAULT_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        one_seed(seed, Instant::now() + Duration::from_secs(3600));
        return;
    }
    let mut seeds = 0;
    let mut rounds = 0;
    let base = rand::rng().next_u64();
    while Instant::now() < deadline || seeds < 2 {
        let seed = base.wrapping_add(seeds);
        eprintln!("seed {seed}");
        rounds += one_seed(seed, deadline.max(Instant::now() + Duration::from_secs(5)));
        seeds += 1;
    }
    eprintln!("{seeds} seeds, {rounds} rounds");
}

//! Crash safety through the real binary: `kill -9` backups and gc runs at
//! random moments; no committed point is lost, no partial point appears,
//! verify stays clean and the next backup works.

use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = e.run(&["init"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }
    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn cmd(&self, sub: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rsvault"));
        c.arg("disk").arg(sub);
        c.arg("--store")
            .arg(self.p("store"))
            .arg("--key-file")
            .arg(self.p("key"));
        c.args(extra);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }
    fn run(&self, sub: &[&str], extra: &[&str]) -> Output {
        self.cmd(sub[0], extra).output().unwrap()
    }
    fn points(&self) -> Vec<String> {
        let out = self.run(&["points"], &["--name", "vm", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    }
    fn verify_clean(&self, ctx: &str) {
        let out = self.run(&["verify"], &[]);
        assert!(
            out.status.success(),
            "{ctx}: verify found damage:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    /// Starts a command, kills it with SIGKILL after `after`, returns whether it had finished.
    fn kill_after(&self, sub: &str, extra: &[&str], after: Duration) -> bool {
        let mut child = self.cmd(sub, extra).spawn().unwrap();
        let deadline = Instant::now() + after;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "{sub} failed on its own");
                return true;
            }
            if Instant::now() >= deadline {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn write_image(path: &Path, img: &[u8]) {
    std::fs::write(path, img).unwrap();
}

fn mutate(img: &mut [u8], rng: &mut impl Rng) {
    for _ in 0..6 {
        let off = rng.random_range(0..img.len() - 300_000);
        let len = rng.random_range(1000..300_000);
        rng.fill_bytes(&mut img[off..off + len]);
    }
}

fn check_all(env: &Env, expected: &BTreeMap<String, Vec<u8>>) {
    for id in env.points() {
        let want = expected
            .get(&id)
            .unwrap_or_else(|| panic!("point {id} appeared from nowhere"));
        let out = env.p("restored.raw");
        let o = env.run(
            &["restore"],
            &[
                "--name",
                "vm",
                "--point",
                &id,
                "--output",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = std::fs::read(&out).unwrap();
        assert!(got == *want, "point {id} does not restore to its image");
        std::fs::remove_file(out).unwrap();
    }
}

fn base_image(rng: &mut impl Rng) -> Vec<u8> {
    let mut img = vec![0u8; 40 << 20];
    for (i, b) in img.iter_mut().enumerate().take(20 << 20) {
        *b = (i / 1000) as u8;
    }
    rng.fill_bytes(&mut img[20 << 20..30 << 20]);
    img
}

#[test]
fn kill_9_during_backup_never_loses_or_half_commits_a_point() {
    let env = Env::new();
    let seed = rand::rng().next_u64();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let image = env.p("disk.raw");
    let mut img = base_image(&mut rng);
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // One complete backup, timed, to aim the kills.
    write_image(&image, &img);
    let t = Instant::now();
    let o = env.run(&["backup"], &["--name", "vm", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Aim the kills within the time the last completed backup took.
    let mut aim = t.elapsed();
    expected.insert(env.points()[0].clone(), img.clone());
    let mut killed = 0;
    for trial in 0..16 {
        mutate(&mut img, &mut rng);
        write_image(&image, &img);
        let before = env.points();
        let after =
            Duration::from_micros(rng.random_range(0..(aim.as_micros() as u64 * 9 / 10).max(1000)));
        let t = Instant::now();
        let finished = env.kill_after("backup", &["--name", "vm", image.to_str().unwrap()], after);
        if finished {
            aim = t.elapsed();
        }
        killed += usize::from(!finished);
        let now = env.points();
        let new: Vec<&String> = now.iter().filter(|p| !before.contains(p)).collect();
        assert!(
            before.iter().all(|p| now.contains(p)),
            "trial {trial}: a committed point was lost"
        );
        assert!(new.len() <= 1, "trial {trial}: {new:?}");
        if finished {
            assert_eq!(
                new.len(),
                1,
                "trial {trial}: a finished backup must commit its point"
            );
        }
        if let Some(id) = new.first() {
            expected.insert((*id).clone(), img.clone());
        }
        env.verify_clean(&format!("backup trial {trial} (killed: {})", !finished));
    }
    assert!(
        killed >= 4,
        "too few backups were actually killed ({killed}) to mean anything"
    );
    check_all(&env, &expected);
    // The store is still usable: a new backup and gc work.
    let o = env.run(&["backup"], &["--name", "vm", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = env.run(&["gc"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.verify_clean("after crashes, backup and gc");
}

#[test]
fn kill_9_during_gc_never_damages_the_store() {
    let env = Env::new();
    let seed = rand::rng().next_u64();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let image = env.p("disk.raw");
    let mut img = base_image(&mut rng);
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut gc_time = Duration::from_millis(50);
    let mut killed = 0;
    for trial in 0..14 {
        // Two new points, then forget the oldest two: gc has work each round.
        for _ in 0..2 {
            mutate(&mut img, &mut rng);
            write_image(&image, &img);
            let before = env.points();
            let o = env.run(&["backup"], &["--name", "vm", image.to_str().unwrap()]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let id = env
                .points()
                .into_iter()
                .find(|p| !before.contains(p))
                .unwrap();
            expected.insert(id, img.clone());
        }
        let points = env.points();
        if points.len() > 3 {
            for id in &points[..2] {
                let o = env.run(&["forget"], &["--name", "vm", "--point", id]);
                assert!(o.status.success());
                expected.remove(id);
            }
        }
        let after = Duration::from_micros(
            rng.random_range(0..(gc_time.as_micros() as u64 * 9 / 10).max(1000)),
        );
        let t = Instant::now();
        let finished = env.kill_after("gc", &[], after);
        if finished {
            gc_time = t.elapsed();
        }
        killed += usize::from(!finished);
        env.verify_clean(&format!("gc trial {trial} (killed: {})", !finished));
        let now = env.points();
        assert_eq!(
            now.len(),
            expected.len(),
            "trial {trial}: points lost or resurrected"
        );
    }
    assert!(
        killed >= 4,
        "too few gc runs were actually killed ({killed})"
    );
    check_all(&env, &expected);
    // A later gc completes and reclaims; backups still work.
    let o = env.run(&["gc"], &["--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["packs_pending"], 0, "{v}");
    env.verify_clean("final gc");
    check_all(&env, &expected);
}

//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use rand::{Rng, RngCore, SeedableRng};
use rsvault_engine::backend::LocalBackend;
use rsvault_engine::{InitOptions, MasterKey, Store};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
    pub store: Store,
}

impl TestStore {
    pub fn new() -> Self {
        Self::with(InitOptions::default())
    }

    pub fn with(opts: InitOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut key = MasterKey::generate();
        let backend = Arc::new(LocalBackend::new(&dir.path().join("store")).unwrap());
        let store = Store::init(backend, &mut key, &opts).unwrap();
        TestStore { dir, key, store }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Opens the same store again (a fresh handle, as another process would).
    pub fn reopen(&self) -> Store {
        let backend = Arc::new(LocalBackend::open_existing(&self.root()).unwrap());
        Store::open(backend, &self.key).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every object file under the store, relative keys.
    pub fn objects(&self, prefix: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root().join(prefix), &mut out);
        out.sort();
        out
    }

    pub fn store_bytes(&self) -> u64 {
        self.objects("")
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        if e.file_name() == ".tmp" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// A sparse raw image: random data in some regions, explicit zeros in
/// others, holes elsewhere. Returns its bytes.
pub fn make_image(path: &Path, size: u64, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    let mut img = vec![0u8; size as usize];
    let regions = 8 + (size >> 20) as usize;
    for _ in 0..regions {
        let off = rng.random_range(0..size);
        let len = rng.random_range(1..(size - off).min(300_000) + 1);
        let s = &mut img[off as usize..(off + len) as usize];
        if rng.random_bool(0.2) {
            s.fill(0); // written zeros: allocated but zero
        } else if rng.random_bool(0.5) {
            rng.fill_bytes(s); // incompressible
        } else {
            for (i, b) in s.iter_mut().enumerate() {
                *b = (i / 97) as u8 ^ 0x5a; // compressible
            }
        }
        f.seek(SeekFrom::Start(off)).unwrap();
        f.write_all(s).unwrap();
    }
    f.sync_all().unwrap();
    img
}

/// Applies random writes to an image file and its in-memory copy; returns
/// the changed ranges.
pub fn mutate(path: &Path, img: &mut [u8], seed: u64, writes: usize) -> Vec<(u64, u64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let size = img.len() as u64;
    let mut ranges = Vec::new();
    for _ in 0..writes {
        let off = rng.random_range(0..size);
        let len = rng.random_range(1..(size - off).min(20_000) + 1);
        let s = &mut img[off as usize..(off + len) as usize];
        if rng.random_bool(0.15) {
            s.fill(0);
        } else {
            rng.fill_bytes(s);
        }
        f.seek(SeekFrom::Start(off)).unwrap();
        f.write_all(s).unwrap();
        ranges.push((off, len));
    }
    f.sync_all().unwrap();
    ranges
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Flips one bit of a file at `pos % len`.
pub fn flip(path: &Path, pos: u64) {
    let mut b = std::fs::read(path).unwrap();
    let i = (pos % b.len() as u64) as usize;
    b[i] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

pub fn random_seed() -> u64 {
    rand::rng().next_u64()
}

/// Asserts two images are identical, reporting the first difference only.
#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got.len() != want.len() {
        panic!("{what}: length {} != expected {}", got.len(), want.len());
    }
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {i} ({:#x} != {:#x})",
            got[i], want[i]
        );
    }
}

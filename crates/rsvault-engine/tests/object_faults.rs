//! The S3 server lost in the middle of a backup: between the store and moto
//! runs a TCP relay that, once a given number of bytes went up, drops every
//! connection and refuses new ones, as a crashed server does. The backup
//! fails with a storage error, leaves no recovery point, and once the
//! server is back a backup works and verify is clean.

mod common;

use common::*;
use rsvault_engine::backend::{OpenMode, open_url_with, testing};
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, MasterKey, NoProgress, RestoreOptions, Store, backup, restore, verify,
};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A relay from a loopback port to `upstream` that goes down once
/// `down_after` bytes were sent up, until `up()`.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    budget: Arc<AtomicU64>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: &str) -> Relay {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let r = Relay {
            port: listener.local_addr().unwrap().port(),
            down: Arc::new(AtomicBool::new(false)),
            budget: Arc::new(AtomicU64::new(u64::MAX)),
            open: Default::default(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (down, budget, open, stop) = (
            r.down.clone(),
            r.budget.clone(),
            r.open.clone(),
            r.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                if down.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                open.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let pipe = |mut from: TcpStream, mut to: TcpStream, up: bool| {
                    let (down, budget, open) = (down.clone(), budget.clone(), open.clone());
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if up
                                && budget
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                                        Some(b.saturating_sub(n as u64))
                                    })
                                    .is_ok_and(|b| b <= n as u64)
                                && !down.swap(true, Ordering::SeqCst)
                            {
                                for s in open.lock().unwrap().drain(..) {
                                    let _ = s.shutdown(Shutdown::Both);
                                }
                            }
                            if down.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                };
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    true,
                );
                pipe(server, client, false);
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Goes down after `bytes` more bytes went up.
    fn down_after(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }

    fn up(&self) {
        self.budget.store(u64::MAX, Ordering::SeqCst);
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_backup_through_a_dying_s3_server_fails_cleanly_and_the_next_one_works() {
    let Some(upstream) = testing::server(testing::S3_VAR) else {
        return;
    };
    let bucket = testing::fresh_name("rsv");
    testing::create_bucket(&upstream, &bucket).unwrap();
    let relay = Relay::start(&upstream);
    let o = testing::s3_options(&relay.url());
    let url = format!("s3://{bucket}/vault");
    let open = |mode| open_url_with(&url, mode, &o).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.raw");
    let mut data = make_image(&img, 40 << 20, 11);
    let mut key = MasterKey::generate();
    let store = Store::init(open(OpenMode::Create), &mut key, &Default::default()).unwrap();
    let opts = BackupOptions {
        name: "d".into(),
        ..Default::default()
    };
    let first = backup(&store, &RawImage::open(&img).unwrap(), &opts, &NoProgress).unwrap();

    // New data, most of a pack or more: the server goes away mid-upload.
    let changes = mutate(&img, &mut data, 5, 400);
    assert!(!changes.is_empty());
    // Incompressible: more than a pack goes up.
    rand::RngCore::fill_bytes(
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9),
        &mut data[8 << 20..32 << 20],
    );
    std::fs::write(&img, &data).unwrap();
    relay.down_after(6 << 20);
    let started = std::time::Instant::now();
    match backup(&store, &RawImage::open(&img).unwrap(), &opts, &NoProgress) {
        Err(e @ Error::Storage { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&url), "the error names the storage: {msg}");
            eprintln!("the backup failed as it should: {msg}");
        }
        other => panic!("a backup through a dead server must fail with a storage error: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "retries are bounded"
    );

    relay.up();
    let again = Store::open(open(OpenMode::Existing), &key).unwrap();
    let points = again.points_of("d").unwrap();
    assert_eq!(points.len(), 1, "no partial point: {points:?}");
    assert_eq!(points[0].id, first.id);

    let second = backup(&again, &RawImage::open(&img).unwrap(), &opts, &NoProgress).unwrap();
    let out = dir.path().join("r.raw");
    restore(
        &again,
        &second,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same(&read(&out), &data, "the backup after the outage");
    let report = verify(&again, 2, &NoProgress).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

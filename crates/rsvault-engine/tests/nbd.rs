//! The NBD client against QEMU's own server (`qemu-nbd`, Debian's
//! qemu-utils), on a qcow2 image made and written by qemu-img and qemu-io:
//! reads equal `qemu-img convert -O raw`, `base:allocation` marks the
//! never-written ranges as zeros, a dirty bitmap's ranges are exactly the
//! writes since it was added, and a backup from the export restores bit for
//! bit and, as an incremental with the bitmap's ranges, reads only those.

mod common;

use common::*;
use rsvault_engine::source::nbd::{NbdAddress, NbdOptions, NbdSource};
use rsvault_engine::source::{DiskSource, ExtentKind};
use rsvault_engine::{BackupOptions, NoProgress, RestoreOptions, backup, restore};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn run(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install qemu-utils"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(img: &Path, byte: u8, offset: u64, len: u64) {
    run(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            &format!("write -P {byte} {offset} {len}"),
            s(img),
        ],
    );
}

/// `qemu-nbd` serving `img` read-only on a Unix socket, with `bitmap`.
struct Server(Child);

impl Server {
    fn start(img: &Path, sock: &Path, bitmap: Option<&str>) -> Self {
        let mut args = vec![
            "--read-only".to_owned(),
            "--persistent".to_owned(),
            "--format=qcow2".to_owned(),
            "--export-name=vda".to_owned(),
            format!("--socket={}", sock.display()),
        ];
        if let Some(b) = bitmap {
            args.push(format!("--bitmap={b}"));
        }
        args.push(img.display().to_string());
        let child = Command::new("qemu-nbd")
            .args(&args)
            .spawn()
            .expect("run qemu-nbd (qemu-utils)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "qemu-nbd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(sock: &Path, bitmap: Option<&str>) -> NbdSource {
    let opts = NbdOptions {
        export: "vda".into(),
        dirty_bitmap: bitmap.map(str::to_owned),
        timeout: Some(Duration::from_secs(30)),
    };
    NbdSource::connect(&NbdAddress::Unix(sock.to_owned()), &opts).unwrap()
}

#[test]
fn an_nbd_export_reads_maps_and_reports_its_dirty_bitmap() {
    let t = TestStore::new();
    let img = t.path("disk.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", s(&img), "64M"]);
    write(&img, 0x11, 0, MIB);
    write(&img, 0x22, 40 * MIB, 3 * MIB);
    run("qemu-img", &["bitmap", "--add", s(&img), "cp1"]);
    // After the checkpoint: one write in new space, one over old data.
    write(&img, 0x33, 20 * MIB, 128 << 10);
    write(&img, 0x44, 41 * MIB, 64 << 10);
    let reference = t.path("reference.raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            s(&img),
            s(&reference),
        ],
    );
    let want = read(&reference);

    let sock = t.path("nbd.sock");
    let _server = Server::start(&img, &sock, Some("cp1"));
    let src = connect(&sock, Some("cp1"));
    assert_eq!(src.size(), 64 * MIB);
    assert_eq!(src.format(), "nbd");

    // Reads: whole (over the 32 MiB request limit) and unaligned.
    let mut all = vec![0u8; want.len()];
    src.read_at(&mut all, 0).unwrap();
    assert_same(&all, &want, "the export read whole");
    let mut part = vec![0u8; 5000];
    src.read_at(&mut part, 40 * MIB - 1234).unwrap();
    assert_eq!(part[..], want[(40 * MIB - 1234) as usize..][..5000]);
    assert!(
        src.read_at(&mut [0u8; 2], 64 * MIB - 1).is_err(),
        "past the end"
    );

    // base:allocation: only what was written holds data.
    let extents = src.map(0, src.size()).unwrap();
    assert_eq!(extents.first().unwrap().offset, 0);
    assert_eq!(extents.iter().map(|e| e.len).sum::<u64>(), 64 * MIB);
    let data: u64 = extents
        .iter()
        .filter(|e| e.kind == ExtentKind::Data)
        .map(|e| e.len)
        .sum();
    assert!(
        (MIB + 3 * MIB + (128 << 10)..=6 * MIB).contains(&data),
        "{data} bytes of data: {extents:?}"
    );
    for e in extents.iter().filter(|e| e.kind == ExtentKind::Zero) {
        let z = &want[e.offset as usize..(e.offset + e.len) as usize];
        assert!(z.iter().all(|b| *b == 0), "a zero extent at {}", e.offset);
    }

    // The dirty bitmap: exactly the writes since it was added (64 KiB
    // granularity, the image's cluster size).
    let dirty = src.dirty_ranges().unwrap();
    assert_eq!(
        dirty.ranges(),
        &[
            (20 * MIB, 20 * MIB + (128 << 10)),
            (41 * MIB, 41 * MIB + (64 << 10))
        ]
    );

    // A full backup from the export, then an incremental with the
    // bitmap's ranges: both restore bit for bit; the incremental reads
    // only the dirty bytes.
    let full = backup(
        &t.store,
        &src,
        &BackupOptions {
            name: "vda".into(),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let out = t.path("restored.raw");
    restore(
        &t.store,
        &full,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same(&read(&out), &want, "the full backup from NBD restored");
    let inc = backup(
        &t.store,
        &src,
        &BackupOptions {
            name: "vda".into(),
            changed_ranges: Some(dirty.clone()),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert!(
        inc.stats.bytes_read <= dirty.total(),
        "the incremental read {} bytes, the bitmap marks {}",
        inc.stats.bytes_read,
        dirty.total()
    );
    restore(
        &t.store,
        &inc,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same(&read(&out), &want, "the incremental from NBD restored");
    src.disconnect().unwrap();
}

#[test]
fn missing_exports_and_bitmaps_are_clear_errors() {
    let t = TestStore::new();
    let img = t.path("disk.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", s(&img), "4M"]);
    let sock = t.path("nbd.sock");
    let _server = Server::start(&img, &sock, None);
    let addr = NbdAddress::Unix(sock.clone());
    let e = NbdSource::connect(
        &addr,
        &NbdOptions {
            export: "vdb".into(),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("refused option"), "{e}");
    let e = NbdSource::connect(
        &addr,
        &NbdOptions {
            export: "vda".into(),
            dirty_bitmap: Some("nope".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("dirty bitmap \"nope\""), "{e}");
    let e = NbdSource::connect(
        &NbdAddress::Unix(t.path("none.sock")),
        &NbdOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("connect to nbd+unix://"), "{e}");
    // Without a bitmap the export still reads, and dirty ranges are refused.
    let src = connect(&sock, None);
    assert!(src.dirty_ranges().is_err());
    assert_eq!(src.map(0, 4 * MIB).unwrap()[0].kind, ExtentKind::Zero);
}

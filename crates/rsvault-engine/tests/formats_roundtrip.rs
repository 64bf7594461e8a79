//! Backup → restore is bit-identical for every image format, with images
//! made by qemu-img (Debian's qemu-utils): the restored disk equals
//! `qemu-img convert -O raw` of the source.

mod common;

use common::*;
use rsvault_engine::source::open_image;
use rsvault_engine::{BackupOptions, NoProgress, RestoreFormat, RestoreOptions, backup, restore};
use std::path::Path;
use std::process::Command;

fn qemu(tool: &str, args: &[&str]) {
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

fn round_trip(t: &TestStore, img: &Path, fmt: &str, want_format: &str) {
    let reference = t.path("reference.raw");
    qemu(
        "qemu-img",
        &["convert", "-f", fmt, "-O", "raw", s(img), s(&reference)],
    );
    let want = read(&reference);
    let src = open_image(img).unwrap();
    assert_eq!(src.format(), want_format);
    let name = img.file_name().unwrap().to_str().unwrap();
    let o = BackupOptions {
        name: name.into(),
        ..Default::default()
    };
    let m = backup(&t.store, src.as_ref(), &o, &NoProgress).unwrap();
    assert_eq!(m.source_format, want_format);
    for format in [RestoreFormat::Raw, RestoreFormat::Qcow2] {
        let out = t.path("restored");
        let ro = RestoreOptions {
            format,
            ..Default::default()
        };
        restore(&t.store, &m, &out, &ro, &NoProgress).unwrap();
        let got = match format {
            RestoreFormat::Raw => read(&out),
            RestoreFormat::Qcow2 => {
                // Read it back with qemu itself.
                let back = t.path("back.raw");
                qemu(
                    "qemu-img",
                    &["convert", "-f", "qcow2", "-O", "raw", s(&out), s(&back)],
                );
                let mut b = read(&back);
                b.truncate(want.len());
                b
            }
        };
        assert_same(&got, &want, &format!("{name} restored as {format:?}"));
    }
}

#[test]
fn every_format_round_trips_bit_identically() {
    let t = TestStore::new();
    let raw = t.path("src.raw");
    // Not a multiple of any chunk or cluster size; holes, zeros and data.
    make_image(&raw, 7 * 1024 * 1024 + 4096 * 3 + 512, 80);
    round_trip(&t, &raw, "raw", "raw");
    let q = |name: &str, extra: &[&str]| {
        let p = t.path(name);
        let mut a = vec!["convert", "-f", "raw", "-O"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[s(&raw), s(&p)]);
        qemu("qemu-img", &a);
        p
    };
    round_trip(&t, &q("plain.qcow2", &["qcow2"]), "qcow2", "qcow2");
    round_trip(&t, &q("zlib.qcow2", &["qcow2", "-c"]), "qcow2", "qcow2");
    round_trip(
        &t,
        &q(
            "zstd.qcow2",
            &["qcow2", "-c", "-o", "compression_type=zstd"],
        ),
        "qcow2",
        "qcow2",
    );
    round_trip(
        &t,
        &q("fixed.vhd", &["vpc", "-o", "subformat=fixed"]),
        "vpc",
        "vhd-fixed",
    );
    round_trip(
        &t,
        &q("dynamic.vhd", &["vpc", "-o", "subformat=dynamic"]),
        "vpc",
        "vhd-dynamic",
    );
    round_trip(&t, &q("disk.vhdx", &["vhdx"]), "vhdx", "vhdx");
    // A qcow2 overlay on a compressed base, written by qemu-io.
    let base = q("base.qcow2", &["qcow2", "-c"]);
    let overlay = t.path("overlay.qcow2");
    qemu(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            s(&base),
            "-F",
            "qcow2",
            s(&overlay),
        ],
    );
    qemu(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0x5a 1M 200k",
            "-c",
            "write -z 3M 64k",
            s(&overlay),
        ],
    );
    round_trip(&t, &overlay, "qcow2", "qcow2");
}

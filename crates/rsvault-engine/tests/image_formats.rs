//! Image format readers checked against QEMU: images are made with
//! `qemu-img` / `qemu-io`, read through [`open_image`] and compared byte for
//! byte with `qemu-img convert -O raw` of the same image.
//!
//! These tests need qemu-img and qemu-io (Debian/Ubuntu package
//! `qemu-utils`); they fail, not skip, when those are missing.

use proptest::prelude::*;
use rsvault_engine::error::Error;
use rsvault_engine::source::qcow2::Qcow2Image;
use rsvault_engine::source::vhd::VhdImage;
use rsvault_engine::source::vhdx::VhdxImage;
use rsvault_engine::source::{DiskSource, ExtentKind, open_image};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// Size of the test disk: not a multiple of 64 KiB, nor of 512.
const DISK_SIZE: u64 = 5 * MIB + 12345;

fn tool(name: &str) -> PathBuf {
    let found = Command::new(name).arg("--version").output();
    match found {
        Ok(o) if o.status.success() => PathBuf::from(name),
        _ => panic!(
            "{name} is required by these tests but was not found on PATH; install qemu-utils (apt-get install qemu-utils)"
        ),
    }
}

/// Runs a command, failing the test with its output if it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn qemu_img(args: &[&str]) -> String {
    run(Command::new(tool("qemu-img")).args(args))
}

/// `qemu_img`, tried up to ten times, a moment apart (for qemu-img's own
/// flaky steps).
fn qemu_img_retrying(args: &[&str]) -> String {
    for _ in 0..9 {
        let out = Command::new(tool("qemu-img"))
            .args(args)
            .output()
            .expect("run qemu-img");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    qemu_img(args)
}

fn qemu_io(fmt: &str, path: &Path, cmd: &str) {
    run(Command::new(tool("qemu-io"))
        .args(["-f", fmt, "-c", cmd])
        .arg(path));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A sparse raw disk of [`DISK_SIZE`] bytes with random data, explicit
/// zeros, holes, a compressible pattern and unaligned boundaries.
fn make_raw(dir: &Path) -> PathBuf {
    let p = dir.join("disk.raw");
    let f = File::create(&p).unwrap();
    f.set_len(DISK_SIZE).unwrap();
    let put = |off: u64, data: &[u8]| f.write_all_at(data, off).unwrap();
    put(0, &pseudo_random(1, 256 * KIB as usize));
    put(256 * KIB, &vec![0u8; 256 * KIB as usize]);
    // hole up to 1M + 3000
    put(MIB + 3000, &pseudo_random(2, 200_000));
    // holes 1M+203000 .. 4M (2M..4M is a whole VHD block)
    put(4 * MIB, &vec![0x11u8; 64 * KIB as usize]);
    put(4 * MIB + 100 * KIB + 17, &pseudo_random(3, 999));
    // hole up to 5M
    put(5 * MIB, &pseudo_random(4, 12345));
    f.sync_all().unwrap();
    p
}

/// `qemu-img convert -O raw` of an image: the reference bytes.
fn reference(img: &Path, fmt: &str) -> Vec<u8> {
    let out = img.with_extension("ref.raw");
    qemu_img(&["convert", "-f", fmt, "-O", "raw", s(img), s(&out)]);
    let data = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    data
}

/// The virtual size `qemu-img info` reports.
fn qemu_size(img: &Path, fmt: &str) -> u64 {
    let info = qemu_img(&["info", "-f", fmt, "--output=json", s(img)]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

/// Checks a source against QEMU's view of the image: size, map (complete,
/// in order, zero ranges really zero), map-driven read, and plain reads in
/// odd-sized pieces. Returns the number of bytes mapped as zero.
fn check_against_qemu(img: &Path, qemu_fmt: &str, want_format: &str) -> u64 {
    let src = open_image(img).unwrap_or_else(|e| panic!("open {}: {e}", img.display()));
    assert_eq!(src.format(), want_format, "{}", img.display());
    let want = reference(img, qemu_fmt);
    assert_eq!(src.size(), want.len() as u64, "size of {}", img.display());
    assert_eq!(src.size(), qemu_size(img, qemu_fmt));
    compare(&*src, &want, &img.display().to_string())
}

fn compare(src: &dyn DiskSource, want: &[u8], what: &str) -> u64 {
    let size = src.size();
    let extents = src.map(0, size).unwrap();
    let mut pos = 0;
    let mut got = vec![0u8; size as usize];
    let mut zero_bytes = 0;
    for e in &extents {
        assert_eq!(
            e.offset, pos,
            "{what}: map has a gap or overlap: {extents:?}"
        );
        assert!(e.len > 0, "{what}: empty extent");
        let r = e.offset as usize..(e.offset + e.len) as usize;
        match e.kind {
            ExtentKind::Zero => {
                assert!(
                    want[r.clone()].iter().all(|&b| b == 0),
                    "{what}: {e:?} is mapped zero but holds data"
                );
                zero_bytes += e.len;
            }
            ExtentKind::Data => {
                // Read in odd pieces so that reads cross cluster/block edges.
                let mut o = r.start;
                while o < r.end {
                    let n = (r.end - o).min(300_007);
                    src.read_at(&mut got[o..o + n], o as u64).unwrap();
                    o += n;
                }
            }
        }
        pos += e.len;
    }
    assert_eq!(pos, size, "{what}: map does not cover the disk");
    assert!(
        got == want,
        "{what}: map-driven read differs from qemu-img's"
    );

    // Plain reads over everything, zero ranges included.
    let mut plain = vec![0xeeu8; size as usize];
    let mut o = 0usize;
    while o < plain.len() {
        let n = (plain.len() - o).min(65_537 * 3);
        src.read_at(&mut plain[o..o + n], o as u64).unwrap();
        o += n;
    }
    assert!(plain == want, "{what}: read_at differs from qemu-img's");

    // Sub-ranges of the map are clipped to the range.
    let mid = src.map(size / 3, size / 3).unwrap();
    assert_eq!(mid.first().map(|e| e.offset), Some(size / 3));
    assert_eq!(mid.iter().map(|e| e.len).sum::<u64>(), size / 3);
    assert!(src.read_at(&mut [0u8; 2], size - 1).is_err());
    zero_bytes
}

#[test]
fn qcow2_variants_match_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let raw = make_raw(dir.path());
    let variants: &[(&str, &[&str])] = &[
        ("v3.qcow2", &["-O", "qcow2"]),
        ("v2.qcow2", &["-O", "qcow2", "-o", "compat=0.10"]),
        ("c512.qcow2", &["-O", "qcow2", "-o", "cluster_size=512"]),
        ("c2m.qcow2", &["-O", "qcow2", "-o", "cluster_size=2M"]),
        ("zlib.qcow2", &["-O", "qcow2", "-c"]),
        (
            "zstd.qcow2",
            &["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
        ),
        (
            "zlib4k.qcow2",
            &["-O", "qcow2", "-c", "-o", "cluster_size=4096"],
        ),
        (
            "prealloc.qcow2",
            &["-O", "qcow2", "-o", "preallocation=metadata"],
        ),
    ];
    for (name, args) in variants {
        let img = dir.path().join(name);
        let mut a = vec!["convert", "-f", "raw"];
        a.extend_from_slice(args);
        a.push(s(&raw));
        a.push(s(&img));
        qemu_img(&a);
        let zero = check_against_qemu(&img, "qcow2", "qcow2");
        if *name != "prealloc.qcow2" && *name != "c2m.qcow2" {
            assert!(zero >= 2 * MIB, "{name}: only {zero} bytes mapped zero");
        }
    }
}

#[test]
fn qcow2_zero_clusters_and_backing_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw = make_raw(d);
    let base = d.join("base.qcow2");
    qemu_img(&["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&base)]);

    // Overlay larger than its base, with data, zero clusters and discards.
    let overlay = d.join("overlay.qcow2");
    let big = (DISK_SIZE + 3 * MIB).to_string();
    let ov_cmd = |args: &[&str]| {
        run(Command::new(tool("qemu-img")).current_dir(d).args(args));
    };
    // Relative backing name: resolved against the overlay's directory.
    ov_cmd(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "overlay.qcow2",
        &big,
    ]);
    qemu_io("qcow2", &overlay, "write -P 0x5a 1M 64k");
    qemu_io("qcow2", &overlay, "write -z 64k 128k"); // zero clusters over base data
    qemu_io("qcow2", &overlay, "write -P 0x33 5M 1M"); // straddles the base's end
    qemu_io("qcow2", &overlay, "write -P 0x44 7340032 4096");
    let zero = check_against_qemu(&overlay, "qcow2", "qcow2");
    assert!(zero >= 2 * MIB);
    let ov = open_image(&overlay).unwrap();
    // Zero clusters hide the base's data.
    let m = ov.map(64 * KIB, 128 * KIB).unwrap();
    assert!(m.iter().all(|e| e.kind == ExtentKind::Zero), "{m:?}");
    // Past the base's end and not written: zero.
    let m = ov.map(DISK_SIZE + MIB + 4096, 64 * KIB).unwrap();
    assert!(m.iter().all(|e| e.kind == ExtentKind::Zero), "{m:?}");

    // Three levels with a raw bottom and a compressed middle.
    let mid = d.join("mid.qcow2");
    run(Command::new(tool("qemu-img")).current_dir(d).args([
        "create",
        "-f",
        "qcow2",
        "-b",
        "disk.raw",
        "-F",
        "raw",
        "mid.qcow2",
    ]));
    qemu_io("qcow2", &mid, "write -c -P 0x77 0 64k");
    let top = d.join("top.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        s(&mid),
        "-F",
        "qcow2",
        s(&top),
    ]);
    qemu_io("qcow2", &top, "write -P 0x99 4000k 8k");
    check_against_qemu(&top, "qcow2", "qcow2");

    // A backing file named without a format is probed.
    // (qemu-img insists on -F, so the backing format extension is renamed
    // to an unknown, ignored type afterwards.)
    let nofmt = d.join("nofmt.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        s(&base),
        "-F",
        "qcow2",
        s(&nofmt),
    ]);
    qemu_io("qcow2", &nofmt, "write -P 0x61 300k 3k");
    let mut b = std::fs::read(&nofmt).unwrap();
    let at = b[..4096]
        .windows(4)
        .position(|w| w == [0xe2, 0x79, 0x2a, 0xca])
        .unwrap();
    b[at..at + 4].copy_from_slice(&[0x0b, 0xad, 0xf0, 0x0d]);
    std::fs::write(&nofmt, &b).unwrap();
    check_against_qemu(&nofmt, "qcow2", "qcow2");
}

#[test]
fn vhd_variants_match_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let raw = make_raw(dir.path());
    for (name, opts, kind) in [
        ("fixed.vhd", "subformat=fixed", "vhd-fixed"),
        ("fixed-sz.vhd", "subformat=fixed,force_size=on", "vhd-fixed"),
        ("dyn.vhd", "subformat=dynamic", "vhd-dynamic"),
        (
            "dyn-sz.vhd",
            "subformat=dynamic,force_size=on",
            "vhd-dynamic",
        ),
    ] {
        let img = dir.path().join(name);
        qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            opts,
            s(&raw),
            s(&img),
        ]);
        let zero = check_against_qemu(&img, "vpc", kind);
        if kind == "vhd-dynamic" {
            assert!(zero >= 2 * MIB, "{name}: {zero}");
        }
    }
}

#[test]
fn vhdx_variants_match_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let raw = make_raw(dir.path());
    for (name, opts) in [
        ("default.vhdx", "subformat=dynamic"),
        ("b1m.vhdx", "block_size=1M"),
        ("fixed.vhdx", "subformat=fixed"),
        ("nozero.vhdx", "block_size=1M,block_state_zero=off"),
    ] {
        let img = dir.path().join(name);
        qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "vhdx",
            "-o",
            opts,
            s(&raw),
            s(&img),
        ]);
        let zero = check_against_qemu(&img, "vhdx", "vhdx");
        if name == "b1m.vhdx" {
            assert!(zero >= 2 * MIB, "{name}: {zero}");
        }
    }
}

/// Multi-TiB sparse disks map quickly and read back what was written.
#[test]
fn large_sparse_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("big.qcow2", "qcow2", "4T", vec![]),
        ("big.vhd", "vpc", "2000G", vec!["-o", "subformat=dynamic"]),
        ("big.vhdx", "vhdx", "8T", vec![]),
    ];
    for (name, fmt, size, extra) in cases {
        let img = d.join(name);
        let mut a = vec!["create", "-f", fmt];
        a.extend(extra);
        a.push(s(&img));
        a.push(size);
        qemu_img(&a);
        let at = 1_000_000 * MIB + 4096; // ~ 977 GiB, unaligned to blocks
        qemu_io(fmt, &img, &format!("write -P 0xab {at} 100k"));
        let src = open_image(&img).unwrap();
        assert_eq!(src.size(), qemu_size(&img, fmt), "{name}");
        let t = std::time::Instant::now();
        let m = src.map(0, src.size()).unwrap();
        assert!(
            t.elapsed().as_secs() < 20,
            "{name}: map took {:?}",
            t.elapsed()
        );
        assert_eq!(m.iter().map(|e| e.len).sum::<u64>(), src.size());
        let data: Vec<_> = m.iter().filter(|e| e.kind == ExtentKind::Data).collect();
        let data_len: u64 = data.iter().map(|e| e.len).sum();
        assert!(
            (100 * KIB..=64 * MIB).contains(&data_len),
            "{name}: {data:?}"
        );
        assert!(
            data.iter()
                .all(|e| e.offset <= at && e.offset + e.len >= at + 100 * KIB)
                || data.len() > 1
        );
        let mut buf = vec![0u8; 100 * KIB as usize + 2];
        src.read_at(&mut buf, at - 1).unwrap();
        assert_eq!(buf[0], 0);
        assert!(buf[1..buf.len() - 1].iter().all(|&b| b == 0xab), "{name}");
        assert_eq!(buf[buf.len() - 1], 0);
    }
}

fn assert_invalid(r: Result<impl std::fmt::Debug, Error>, what: &str) {
    match r {
        Err(Error::InvalidImage { .. }) => {}
        other => panic!("{what}: expected InvalidImage, got {other:?}"),
    }
}

fn assert_unsupported(r: Result<impl std::fmt::Debug, Error>, what: &str) -> String {
    match r {
        Err(e @ Error::UnsupportedImage { .. }) => e.to_string(),
        other => panic!("{what}: expected UnsupportedImage, got {other:?}"),
    }
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let enc = d.join("enc.qcow2");
    // qemu-img times its LUKS key derivation by thread CPU time; on a busy
    // or coarse-clocked machine it sometimes measures nothing and gives up
    // ("Unable to get accurate CPU usage"), so creation is retried.
    qemu_img_retrying(&[
        "create",
        "-f",
        "qcow2",
        "--object",
        "secret,id=sec0,data=abc",
        "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0",
        s(&enc),
        "1M",
    ]);
    let msg = assert_unsupported(Qcow2Image::open(&enc), "encrypted");
    assert!(msg.contains("encrypted"), "{msg}");
    assert_unsupported(open_image(&enc).map(|_| ()), "encrypted via probe");

    let ext = d.join("extl2.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "extended_l2=on",
        s(&ext),
        "1M",
    ]);
    assert_unsupported(Qcow2Image::open(&ext), "extended L2");

    let df = d.join("df.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        &format!("data_file={}", s(&d.join("df.raw"))),
        s(&df),
        "1M",
    ]);
    assert_unsupported(Qcow2Image::open(&df), "external data file");

    // Garbled and truncated headers.
    let good = d.join("good.qcow2");
    qemu_img(&["create", "-f", "qcow2", s(&good), "16M"]);
    qemu_io("qcow2", &good, "write -P 1 0 1M");
    let bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        let p = d.join(name);
        std::fs::write(&p, &b).unwrap();
        p
    };
    assert_invalid(
        Qcow2Image::open(&variant("t50", &|b| b.truncate(50))),
        "truncated qcow2 header",
    );
    assert_invalid(
        Qcow2Image::open(&variant("magic", &|b| b[0] = b'X')),
        "bad magic",
    );
    assert_invalid(
        Qcow2Image::open(&variant("cbits", &|b| b[23] = 30)),
        "cluster_bits 30",
    );
    assert_invalid(
        Qcow2Image::open(&variant("l1off", &|b| b[47] |= 0x08)),
        "unaligned L1",
    );
    assert_invalid(
        Qcow2Image::open(&variant("l1size", &|b| b[39] = 0)),
        "L1 too small",
    );
    let corrupt = variant("corrupt", &|b| b[79] |= 2);
    let e = Qcow2Image::open(&corrupt).unwrap_err();
    assert!(e.to_string().contains("qemu-img check"), "{e}");
    assert_invalid(Err::<(), _>(e), "corrupt bit");
    assert_unsupported(
        Qcow2Image::open(&variant("incompat", &|b| b[79] |= 0x80)),
        "unknown incompat",
    );
    // Data cut off: opens, but reading the lost data fails cleanly.
    let cut = variant("cut", &|b| b.truncate(b.len() - 512 * 1024));
    match Qcow2Image::open(&cut) {
        Ok(img) => {
            let mut buf = vec![0u8; MIB as usize];
            assert_invalid(img.read_at(&mut buf, 0).map(|_| ()), "truncated data");
        }
        Err(e) => assert_invalid(Err::<(), _>(e), "truncated data"),
    }

    // Backing loop: a.qcow2 -> b.qcow2 -> a.qcow2.
    qemu_img(&["create", "-f", "qcow2", s(&d.join("la.qcow2")), "1M"]);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "la.qcow2",
        "-F",
        "qcow2",
        s(&d.join("lb.qcow2")),
    ]);
    qemu_img(&[
        "rebase",
        "-u",
        "-f",
        "qcow2",
        "-b",
        "lb.qcow2",
        "-F",
        "qcow2",
        s(&d.join("la.qcow2")),
    ]);
    let e = Qcow2Image::open(&d.join("lb.qcow2")).unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
    // A missing backing file is an I/O error naming the overlay.
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "missing.qcow2",
        "-F",
        "qcow2",
        s(&d.join("orphan.qcow2")),
        "1M",
    ]);
    let e = Qcow2Image::open(&d.join("orphan.qcow2")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");

    // VHD: broken footer checksum, bad cookie, truncated.
    let raw = make_raw(d);
    for sub in ["fixed", "dynamic"] {
        let vhd = d.join(format!("{sub}.vhd"));
        qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            &format!("subformat={sub}"),
            s(&raw),
            s(&vhd),
        ]);
        let bytes = std::fs::read(&vhd).unwrap();
        let n = bytes.len();
        let bad = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bytes.clone();
            f(&mut b);
            let p = d.join(format!("{sub}-{name}.vhd"));
            std::fs::write(&p, &b).unwrap();
            VhdImage::open(&p).map(|_| ())
        };
        // Both footers broken (a dynamic disk falls back to the copy at 0).
        assert_invalid(
            bad("sum", &|b| {
                b[n - 512 + 40] ^= 1;
                if sub == "dynamic" {
                    b[40] ^= 1;
                }
            }),
            "footer checksum",
        );
        assert_invalid(
            bad("cookie", &|b| {
                b[n - 512] = b'X';
                b[0] = b'X';
            }),
            "footer cookie",
        );
        assert_invalid(bad("short", &|b| b.truncate(100)), "truncated vhd");
        if sub == "dynamic" {
            // End footer damaged: the copy at 0 is used.
            bad("endonly", &|b| b[n - 512 + 40] ^= 1).unwrap();
            assert_invalid(
                bad("dynsum", &|b| b[512 + 40] ^= 1),
                "dynamic header checksum",
            );
        } else {
            // Data cut short of the size in the footer.
            assert_invalid(
                bad("cut", &|b| {
                    b.drain(0..4096);
                }),
                "truncated fixed vhd",
            );
        }
    }

    // VHDX: both headers damaged, both region tables damaged, truncated.
    let vhdx = d.join("x.vhdx");
    qemu_img(&["convert", "-f", "raw", "-O", "vhdx", s(&raw), s(&vhdx)]);
    let bytes = std::fs::read(&vhdx).unwrap();
    let bad = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        let p = d.join(format!("{name}.vhdx"));
        std::fs::write(&p, &b).unwrap();
        VhdxImage::open(&p).map(|_| ())
    };
    bad("one-header", &|b| b[64 * 1024 + 20] ^= 1).unwrap();
    assert_invalid(
        bad("headers", &|b| {
            b[64 * 1024 + 20] ^= 1;
            b[128 * 1024 + 20] ^= 1;
        }),
        "vhdx headers",
    );
    assert_invalid(
        bad("regions", &|b| {
            b[192 * 1024 + 40] ^= 1;
            b[256 * 1024 + 40] ^= 1;
        }),
        "vhdx region tables",
    );
    assert_invalid(bad("ident", &|b| b[0] = b'X'), "vhdx identifier");
    assert_invalid(bad("short", &|b| b.truncate(200 * 1024)), "truncated vhdx");
    assert_invalid(
        bad("cut", &|b| b.truncate(b.len() - 4 * MIB as usize)),
        "vhdx data cut off",
    );
}

/// CRC-32C, to re-seal mutated VHDX structures.
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn vhd_checksum(b: &mut [u8], field: usize) {
    b[field..field + 4].fill(0);
    let sum = b.iter().fold(0u32, |s, &x| s.wrapping_add(u32::from(x)));
    b[field..field + 4].copy_from_slice(&(!sum).to_be_bytes());
}

fn vhdx_crc(b: &mut [u8]) {
    b[4..8].fill(0);
    let c = crc32c(b);
    b[4..8].copy_from_slice(&c.to_le_bytes());
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Qcow2,
    Vhd,
    Vhdx,
}

struct Seed {
    name: &'static str,
    kind: Kind,
    bytes: Vec<u8>,
    /// Byte ranges worth mutating (headers and tables).
    hot: Vec<(usize, usize)>,
}

fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let raw = d.join("small.raw");
        let f = File::create(&raw).unwrap();
        f.set_len(3 * MIB).unwrap();
        f.write_all_at(&pseudo_random(9, 300_000), 100_000).unwrap();
        f.write_all_at(&[0x22; 70_000], 2 * MIB + 5).unwrap();
        drop(f);
        let make = |name: &'static str, kind: Kind, args: &[&str]| {
            let p = d.join(name);
            let mut a = vec!["convert", "-f", "raw"];
            a.extend_from_slice(args);
            a.push(s(&raw));
            a.push(s(&p));
            qemu_img(&a);
            let bytes = std::fs::read(&p).unwrap();
            let n = bytes.len();
            let hot = match kind {
                Kind::Qcow2 => vec![(0, n.min(40_000))],
                Kind::Vhd => vec![(0, n.min(4096)), (n.saturating_sub(512), n)],
                Kind::Vhdx => {
                    let mut h = vec![
                        (0, 16),
                        (64 * 1024, 64 * 1024 + 96),
                        (128 * 1024, 128 * 1024 + 96),
                        (192 * 1024, 192 * 1024 + 96),
                    ];
                    for i in 0..2 {
                        let e = 192 * 1024 + 16 + i * 32;
                        let off =
                            u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
                        h.push((off, off + 200));
                        h.push((off + 64 * 1024, off + 64 * 1024 + 64));
                    }
                    h
                }
            };
            Seed {
                name,
                kind,
                bytes,
                hot,
            }
        };
        vec![
            make(
                "q.qcow2",
                Kind::Qcow2,
                &["-O", "qcow2", "-o", "cluster_size=4096"],
            ),
            make(
                "qz.qcow2",
                Kind::Qcow2,
                &[
                    "-O",
                    "qcow2",
                    "-c",
                    "-o",
                    "cluster_size=4096,compression_type=zstd",
                ],
            ),
            make(
                "qc.qcow2",
                Kind::Qcow2,
                &["-O", "qcow2", "-c", "-o", "cluster_size=4096,compat=0.10"],
            ),
            make(
                "d.vhd",
                Kind::Vhd,
                &["-O", "vpc", "-o", "subformat=dynamic"],
            ),
            make("f.vhd", Kind::Vhd, &["-O", "vpc", "-o", "subformat=fixed"]),
            make(
                "x.vhdx",
                Kind::Vhdx,
                &["-O", "vhdx", "-o", "block_size=1M,log_size=1M"],
            ),
        ]
    })
}

/// Opens mutated bytes with every reader and exercises the result. Any
/// outcome but a panic (or a hang) is fine.
fn exercise(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img");
    std::fs::write(&p, bytes).unwrap();
    let opened: Vec<Result<Box<dyn DiskSource>, Error>> = vec![
        Qcow2Image::open(&p).map(|i| Box::new(i) as Box<dyn DiskSource>),
        VhdImage::open(&p).map(|i| Box::new(i) as Box<dyn DiskSource>),
        VhdxImage::open(&p).map(|i| Box::new(i) as Box<dyn DiskSource>),
        open_image(&p),
    ];
    for src in opened.into_iter().flatten() {
        let size = src.size();
        let span = size.min(16 * MIB);
        if let Ok(m) = src.map(0, span) {
            assert_eq!(m.iter().map(|e| e.len).sum::<u64>(), span);
        }
        let _ = src.map(size - size.min(MIB), size.min(MIB));
        let mut buf = vec![0u8; span.min(MIB) as usize];
        let _ = src.read_at(&mut buf, 0);
        let mut tail = vec![0u8; size.min(8192) as usize];
        let tail_at = size - tail.len() as u64;
        let _ = src.read_at(&mut tail, tail_at);
        let mut one = [0u8; 1];
        let _ = src.read_at(&mut one, size); // out of range: Err
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_headers_never_panic(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..12),
        reseal in any::<bool>(),
        cut in proptest::option::weighted(0.15, any::<prop::sample::Index>()),
    ) {
        let seed = &seeds()[which];
        let mut b = seed.bytes.clone();
        for (range, pos, val) in &edits {
            let (lo, hi) = seed.hot[range.index(seed.hot.len())];
            let hi = hi.min(b.len());
            if lo < hi {
                let i = lo + pos.index(hi - lo);
                b[i] = *val;
            }
        }
        if reseal {
            let n = b.len();
            match seed.kind {
                Kind::Qcow2 => {}
                Kind::Vhd => {
                    vhd_checksum(&mut b[n - 512..], 64);
                    if &b[..8] == b"conectix" {
                        vhd_checksum(&mut b[..512], 64);
                        vhd_checksum(&mut b[512..1536], 36);
                    }
                }
                Kind::Vhdx => {
                    vhdx_crc(&mut b[64 * 1024..68 * 1024]);
                    vhdx_crc(&mut b[128 * 1024..132 * 1024]);
                    vhdx_crc(&mut b[192 * 1024..256 * 1024]);
                }
            }
        }
        if let Some(c) = cut {
            let n = c.index(b.len());
            b.truncate(n);
        }
        let _ = seed.name;
        exercise(&b);
    }
}

#[test]
fn seeds_are_valid() {
    for seed in seeds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(seed.name);
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&p)
            .unwrap();
        f.write_all(&seed.bytes).unwrap();
        drop(f);
        let src = open_image(&p).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        let fmt = match seed.kind {
            Kind::Qcow2 => "qcow2",
            Kind::Vhd => "vpc",
            Kind::Vhdx => "vhdx",
        };
        let want = reference(&p, fmt);
        compare(&*src, &want, seed.name);
    }
}

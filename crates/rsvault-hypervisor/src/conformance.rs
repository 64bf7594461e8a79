//! The contract every [`Hypervisor`] keeps, as one suite: run it against
//! each implementation through a [`Lab`] that starts its VMs
//! (`conformance::run(&mut lab, dir)`; it panics with what broke). It needs
//! `qemu-img` to look into the snapshot files.
//!
//! The lab's VMs have a guest agent port that nobody answers on (no guest
//! OS), so every snapshot here is crash-consistent; what an agent adds is
//! the fake's and the QEMU guest tests' business.

use crate::VmAddress;
use crate::finding;
use crate::port::{
    AgentState, Base, Consistency, DiskCheckpoint, DiskRequest, Hypervisor, PowerState, Snapshot,
    SnapshotFailure, SnapshotRequest, SnapshotSettings, checkpoint_name,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Starts and drives VMs for the suite.
pub trait Lab {
    /// The hypervisor under test.
    fn hypervisor(&self) -> &dyn Hypervisor;
    /// Starts a VM with these disks (absolute image path, format), and a
    /// guest agent port on which nothing answers.
    fn start(&mut self, disks: &[(PathBuf, &'static str)]) -> VmAddress;
    /// A guest write of `len` bytes of `pattern` at `offset` of disk
    /// number `disk`, through the VM (so change tracking sees it).
    fn guest_write(&mut self, vm: &VmAddress, disk: usize, offset: u64, len: u64, pattern: u8);
    /// Stops the VM (cleanly).
    fn stop(&mut self, vm: &VmAddress);
    /// An address of this hypervisor's kind where no VM runs.
    fn nowhere(&self) -> VmAddress {
        VmAddress::qemu("/nonexistent/rsvault-conformance.qmp", None)
    }
    /// Whether raw disks keep checkpoints (QEMU's bitmaps live in the
    /// running process; libvirt keeps checkpoints on qcow2 disks only, so
    /// a raw disk is read whole every time, and says why).
    fn raw_checkpoints(&self) -> bool {
        true
    }
}

const MIB: u64 = 1 << 20;

fn sh(c: &mut Command) -> std::process::Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn make_disks(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let os = dir.join("os.qcow2");
    let data = dir.join("data.raw");
    sh(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&os)
        .arg("4M"));
    sh(Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -q -P 0x11 0 1M", "-c"])
        .arg("write -q -P 0x22 3M 512k")
        .arg(&os));
    let mut raw = vec![0u8; 2 * MIB as usize];
    raw[..MIB as usize].fill(0x33);
    std::fs::write(&data, raw).expect("write data.raw");
    vec![(os, "qcow2"), (data, "raw")]
}

/// The snapshot file (through its chain) holds what the image holds.
fn same(snapshot: &Path, image: &Path, fmt: &str) -> bool {
    Command::new("qemu-img")
        .args(["compare", "-U", "-q", "-f", "qcow2", "-F", fmt])
        .arg(snapshot)
        .arg(image)
        .status()
        .expect("qemu-img compare")
        .success()
}

/// The (offset, length) ranges allocated in the file itself, not in its
/// backing chain.
fn allocated_here(snapshot: &Path) -> Vec<(u64, u64)> {
    let out = sh(Command::new("qemu-img")
        .args(["map", "-U", "--output=json", "-f", "qcow2"])
        .arg(snapshot));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("qemu-img map JSON");
    let mut r: Vec<(u64, u64)> = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        if e["depth"] == 0 && e["data"] == true {
            let (o, l) = (
                e["start"].as_u64().unwrap_or(0),
                e["length"].as_u64().unwrap_or(0),
            );
            match r.last_mut() {
                Some((po, pl)) if *po + *pl == o => *pl += l,
                _ => r.push((o, l)),
            }
        }
    }
    r
}

fn settings() -> SnapshotSettings {
    SnapshotSettings {
        agent_timeout: Duration::from_secs(1),
        freeze_timeout: Duration::from_secs(5),
        thaw_grace: Duration::from_secs(5),
        rate_limit: None,
    }
}

fn snap(
    hv: &dyn Hypervisor,
    vm: &VmAddress,
    disks: Vec<DiskRequest>,
    cancel: bool,
) -> Result<(Snapshot, Vec<(u64, u64)>), SnapshotFailure> {
    let mut calls = Vec::new();
    let r = hv.snapshot(
        vm,
        &SnapshotRequest {
            disks,
            settings: settings(),
        },
        &mut |d, t| calls.push((d, t)),
        &AtomicBool::new(cancel),
    );
    r.map(|s| (s, calls))
}

fn request(image: &Path, target: PathBuf, job: &str, base: Option<Base>) -> DiskRequest {
    DiskRequest {
        image: image.to_owned(),
        target,
        base,
        new_checkpoint: checkpoint_name(job),
        no_base_reason: None,
    }
}

fn ours(hv: &dyn Hypervisor, vm: &VmAddress, disk: &Path) -> Vec<String> {
    let want = std::fs::canonicalize(disk).expect("canonical image");
    let disks = hv.disks(vm).expect("disks");
    let d = disks
        .iter()
        .find(|d| std::fs::canonicalize(&d.image).is_ok_and(|c| c == want))
        .unwrap_or_else(|| panic!("{} is attached: {disks:?}", disk.display()));
    d.checkpoints
        .iter()
        .filter(|c| c.name.starts_with(crate::port::CHECKPOINT_PREFIX))
        .map(|c| c.name.clone())
        .collect()
}

/// Whether disks of this format keep checkpoints under the lab's
/// hypervisor.
fn tracked(lab: &dyn Lab, format: &str) -> bool {
    format != "raw" || lab.raw_checkpoints()
}

/// Runs every check. `dir` is an empty directory (absolute path) for the
/// disks and snapshot files.
pub fn run(lab: &mut dyn Lab, dir: &Path) {
    let disks = make_disks(dir);
    let vm = lab.start(&disks);
    power_and_disks(lab.hypervisor(), &vm, &disks, &lab.nowhere());
    refusals(lab.hypervisor(), &vm, &disks, dir);
    let first = full_snapshot(lab, &vm, &disks, dir);
    let second = incremental_snapshot(lab, &vm, &disks, dir, &first);
    fallbacks_and_discard(lab, &vm, &disks, dir, &second);
    lab.stop(&vm);
    stopped(lab.hypervisor(), &vm, &disks, dir);
}

fn power_and_disks(
    hv: &dyn Hypervisor,
    vm: &VmAddress,
    disks: &[(PathBuf, &str)],
    nobody: &VmAddress,
) {
    assert_eq!(
        hv.power_state(vm).expect("power state"),
        PowerState::Running
    );
    assert_eq!(
        hv.power_state(nobody)
            .expect("an address where nothing runs"),
        PowerState::Stopped
    );
    let attached = hv.disks(vm).expect("disks");
    for (image, fmt) in disks {
        let want = std::fs::canonicalize(image).unwrap();
        let d = attached
            .iter()
            .find(|d| std::fs::canonicalize(&d.image).is_ok_and(|c| c == want))
            .unwrap_or_else(|| panic!("{} is listed: {attached:?}", image.display()));
        assert_eq!(d.format, *fmt, "{d:?}");
        assert!(!d.device.is_empty(), "{d:?}");
        assert!(ours(hv, vm, image).is_empty(), "no checkpoint yet: {d:?}");
    }
    assert_eq!(
        attached
            .iter()
            .find(|d| d.image.ends_with("os.qcow2"))
            .map(|d| d.size),
        Some(4 * MIB)
    );
}

fn refusals(hv: &dyn Hypervisor, vm: &VmAddress, disks: &[(PathBuf, &str)], dir: &Path) {
    // A disk the VM does not have.
    let other = dir.join("other.raw");
    std::fs::write(&other, vec![0u8; MIB as usize]).unwrap();
    let target = dir.join("refused/other.qcow2");
    match snap(
        hv,
        vm,
        vec![request(&other, target.clone(), "r1", None)],
        false,
    ) {
        Err(SnapshotFailure::Snapshot(e)) => {
            assert_eq!(e.finding.code, finding::DISK_NOT_ATTACHED, "{e:?}");
            assert!(!e.cancelled);
        }
        other => panic!("a disk that is not attached is refused, got {other:?}"),
    }
    assert!(!target.exists(), "nothing is left behind");
    // A cancelled snapshot.
    let target = dir.join("refused/os.qcow2");
    match snap(
        hv,
        vm,
        vec![request(&disks[0].0, target.clone(), "r2", None)],
        true,
    ) {
        Err(SnapshotFailure::Snapshot(e)) => assert!(e.cancelled, "{e:?}"),
        other => panic!("a cancelled snapshot ends cancelled, got {other:?}"),
    }
    assert!(!target.exists(), "a cancelled snapshot leaves no file");
    for (image, _) in disks {
        assert!(
            ours(hv, vm, image).is_empty(),
            "a failed snapshot starts no checkpoint"
        );
    }
}

fn full_snapshot(
    lab: &mut dyn Lab,
    vm: &VmAddress,
    disks: &[(PathBuf, &str)],
    dir: &Path,
) -> Vec<PathBuf> {
    let targets: Vec<PathBuf> = (0..disks.len())
        .map(|i| dir.join(format!("s1/d{i}.qcow2")))
        .collect();
    let reqs = disks
        .iter()
        .zip(&targets)
        .map(|((img, _), t)| request(img, t.clone(), "j1", None))
        .collect();
    let (s, calls) = snap(lab.hypervisor(), vm, reqs, false).expect("a full snapshot");
    assert_eq!(s.consistency, Consistency::Crash, "no agent answers");
    assert!(
        !matches!(s.agent, AgentState::Ready { .. }),
        "no agent answers: {:?}",
        s.agent
    );
    assert!(
        s.warnings
            .iter()
            .any(|w| w.code == finding::AGENT_UNAVAILABLE),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.frozen_for, None, "nothing was frozen");
    assert!(
        calls.last().is_some_and(|&(d, t)| d == t && t > 0),
        "progress ends with all copied: {calls:?}"
    );
    assert_eq!(s.disks.len(), disks.len());
    for ((d, (img, fmt)), t) in s.disks.iter().zip(disks).zip(&targets) {
        assert!(!d.incremental(), "{d:?}");
        assert_eq!(&d.target, t);
        assert_eq!(d.checkpoint, checkpoint_name("j1"));
        let kept = tracked(lab, fmt);
        let why = if kept { "first backup" } else { "raw" };
        assert!(
            d.full_reason.as_deref().is_some_and(|r| r.contains(why)),
            "{d:?}"
        );
        assert!(same(t, img, fmt), "{} holds {}", t.display(), img.display());
        let want = if kept {
            vec![checkpoint_name("j1")]
        } else {
            Vec::new()
        };
        assert_eq!(ours(lab.hypervisor(), vm, img), want);
    }
    // The snapshot is a point in time: later writes do not reach it.
    lab.guest_write(vm, 0, MIB, 64 << 10, 0x44);
    assert!(
        !same(&targets[0], &disks[0].0, disks[0].1),
        "the write reached the disk"
    );
    let pre = dir.join("s1/expected.raw");
    sh(Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        .arg(&targets[0])
        .arg(&pre));
    let bytes = std::fs::read(&pre).unwrap();
    assert_eq!(bytes[MIB as usize], 0, "the snapshot keeps the old data");
    assert_eq!(bytes[0], 0x11);
    targets
}

fn incremental_snapshot(
    lab: &mut dyn Lab,
    vm: &VmAddress,
    disks: &[(PathBuf, &str)],
    dir: &Path,
    first: &[PathBuf],
) -> Vec<PathBuf> {
    let targets: Vec<PathBuf> = (0..disks.len())
        .map(|i| dir.join(format!("s2/d{i}.qcow2")))
        .collect();
    let reqs = disks
        .iter()
        .zip(&targets)
        .zip(first)
        .map(|(((img, _), t), prev)| {
            let base = Base {
                checkpoint: checkpoint_name("j1"),
                snapshot: prev.clone(),
            };
            request(img, t.clone(), "j2", Some(base))
        })
        .collect();
    let (s, _) = snap(lab.hypervisor(), vm, reqs, false).expect("an incremental snapshot");
    for ((d, (img, fmt)), prev) in s.disks.iter().zip(disks).zip(first) {
        if tracked(lab, fmt) {
            assert!(d.incremental(), "{d:?}");
            assert_eq!(d.base.as_deref(), Some(prev.as_path()));
            assert_eq!(d.full_reason, None);
        } else {
            assert!(!d.incremental(), "{d:?}");
            assert!(
                d.full_reason.as_deref().is_some_and(|r| r.contains("raw")),
                "{d:?}"
            );
        }
        assert!(
            same(&d.target, img, fmt),
            "{} holds {}",
            d.target.display(),
            img.display()
        );
    }
    assert_eq!(
        allocated_here(&targets[0]),
        [(MIB, 64 << 10)],
        "the overlay holds exactly what the guest wrote"
    );
    if tracked(lab, disks[1].1) {
        assert_eq!(
            allocated_here(&targets[1]),
            [],
            "an unwritten disk copies nothing"
        );
    }
    let with_checkpoints: Vec<&(PathBuf, &str)> =
        disks.iter().filter(|(_, f)| tracked(lab, f)).collect();
    let hv = lab.hypervisor();
    for (img, _) in &with_checkpoints {
        let mut cps = ours(hv, vm, img);
        cps.sort();
        assert_eq!(cps, [checkpoint_name("j1"), checkpoint_name("j2")]);
    }
    let keep: Vec<DiskCheckpoint> = disks
        .iter()
        .map(|(img, _)| DiskCheckpoint {
            image: img.clone(),
            checkpoint: checkpoint_name("j2"),
        })
        .collect();
    assert_eq!(
        hv.retire_checkpoints(vm, &keep).expect("retire"),
        with_checkpoints.len()
    );
    for (img, _) in &with_checkpoints {
        assert_eq!(
            ours(hv, vm, img),
            [checkpoint_name("j2")],
            "the old checkpoint goes"
        );
    }
    assert_eq!(hv.retire_checkpoints(vm, &keep).expect("retire again"), 0);
    targets
}

fn fallbacks_and_discard(
    lab: &dyn Lab,
    vm: &VmAddress,
    disks: &[(PathBuf, &str)],
    dir: &Path,
    second: &[PathBuf],
) {
    let t0 = dir.join("s3/d0.qcow2");
    let t1 = dir.join("s3/d1.qcow2");
    let reqs = vec![
        request(
            &disks[0].0,
            t0,
            "j3",
            Some(Base {
                checkpoint: checkpoint_name("gone"),
                snapshot: second[0].clone(),
            }),
        ),
        request(
            &disks[1].0,
            t1,
            "j3",
            Some(Base {
                checkpoint: checkpoint_name("j2"),
                snapshot: dir.join("s2/removed.qcow2"),
            }),
        ),
    ];
    let hv = lab.hypervisor();
    let (s, _) = snap(hv, vm, reqs, false).expect("a snapshot with unusable bases");
    let why = |i: usize| s.disks[i].full_reason.clone().unwrap_or_default();
    assert!(
        !s.disks[0].incremental() && why(0).contains("missing"),
        "{:?}",
        s.disks[0]
    );
    let raw_why = if tracked(lab, disks[1].1) {
        "instant-restore tier"
    } else {
        "raw"
    };
    assert!(
        !s.disks[1].incremental() && why(1).contains(raw_why),
        "{:?}",
        s.disks[1]
    );
    assert!(
        s.warnings
            .iter()
            .filter(|w| w.code == finding::CBT_FALLBACK)
            .count()
            == 2,
        "{:?}",
        s.warnings
    );
    for ((d, (img, fmt)), _) in s.disks.iter().zip(disks).zip(0..) {
        assert!(same(&d.target, img, fmt));
    }
    // The transfer failed: the new checkpoint goes, the previous one stays.
    let discard: Vec<DiskCheckpoint> = disks
        .iter()
        .map(|(img, _)| DiskCheckpoint {
            image: img.clone(),
            checkpoint: checkpoint_name("j3"),
        })
        .collect();
    hv.discard_checkpoints(vm, &discard).expect("discard");
    for (img, fmt) in disks {
        let want = if tracked(lab, fmt) {
            vec![checkpoint_name("j2")]
        } else {
            Vec::new()
        };
        assert_eq!(ours(hv, vm, img), want);
    }
}

fn stopped(hv: &dyn Hypervisor, vm: &VmAddress, disks: &[(PathBuf, &str)], dir: &Path) {
    assert_eq!(
        hv.power_state(vm).expect("power state"),
        PowerState::Stopped
    );
    let target = dir.join("s4/d0.qcow2");
    match snap(
        hv,
        vm,
        vec![request(&disks[0].0, target.clone(), "j4", None)],
        false,
    ) {
        Err(SnapshotFailure::NotRunning(_)) => {}
        other => panic!("a stopped VM is not running, got {other:?}"),
    }
    assert!(!target.exists());
    assert!(
        hv.retire_checkpoints(
            vm,
            &[DiskCheckpoint {
                image: disks[0].0.clone(),
                checkpoint: checkpoint_name("j2")
            }]
        )
        .is_err(),
        "a stopped VM has no checkpoints to retire"
    );
}

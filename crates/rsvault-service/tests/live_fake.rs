//! Live backups through the hypervisor port, against the in-process fake:
//! the paths that otherwise need a running QEMU (a freeze that fails, a VM
//! that stops mid-snapshot, a hypervisor that does not answer, a failing
//! pre-script, change tracking across points). The fake's snapshots are
//! real qcow2 files, so these tests need `qemu-img` and `qemu-io`; they
//! are skipped without them unless `CI` is `true`.

mod common;

use common::*;
use rsvault_hypervisor::PowerState;
use rsvault_hypervisor::fake::{FakeAgent, FakeScripts, Fault};
use rsvault_service::inventory::VmProvider;

#[test]
fn a_failed_freeze_gives_a_crash_consistent_point_then_tracking_carries_on() {
    if !tools_present() {
        return;
    }
    let w = world();
    w.hv.set_agent(
        &w.vm,
        FakeAgent::Ready {
            version: "9.1".into(),
            scripts: FakeScripts::None,
        },
    );
    w.hv.inject(&w.vm, Fault::FreezeFails);
    let j = w.backup();
    assert_eq!(j["status"], "CompletedWithWarnings", "{j}");
    assert_eq!(codes(&j), ["UserErrorFsFreezeFailed"]);
    assert_eq!(bag(&j, "Consistency"), "CrashConsistent");
    assert_eq!(bag(&j, "Guest agent version"), "9.1");
    assert_eq!(
        bag(&j, "Changed-block tracking (os)"),
        "not used: first backup of this disk"
    );
    let pts = w.points();
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0]["properties"]["recoveryPointType"], "CrashConsistent");
    assert_eq!(w.agent_status(), "Ready");
    let first = w.hv.checkpoints(&w.vm, 0);
    assert_eq!(first.len(), 1, "the snapshot started a checkpoint");

    // The freeze works again; the guest writes; the next point is
    // file-system consistent and reads only what changed.
    w.hv.clear_faults(&w.vm);
    w.hv.guest_write(&w.vm, 0, 1 << 20, 64 << 10, 0x5a).unwrap();
    let j = w.backup();
    assert_eq!(j["status"], "Completed", "{j}");
    assert_eq!(bag(&j, "Consistency"), "FileSystemConsistent");
    assert_eq!(bag(&j, "Changed-block tracking (os)"), "used");
    assert_eq!(bag(&j, "Changed-block tracking (lun-0)"), "used");
    assert!(bag(&j, "File systems frozen for").is_string(), "{j}");
    assert_eq!(
        bag(&j, "Data Read"),
        "1 MB",
        "one 64 KiB cluster is read: {j}"
    );
    assert_eq!(w.points().len(), 2);
    let second = w.hv.checkpoints(&w.vm, 0);
    assert_eq!(
        second.len(),
        1,
        "the older checkpoint is retired: {second:?}"
    );
    assert_ne!(second, first);
    assert_eq!(w.hv.checkpoints(&w.vm, 1), second);
}

#[test]
fn a_vm_that_stops_mid_snapshot_fails_the_job_and_leaves_nothing() {
    if !tools_present() {
        return;
    }
    let w = world();
    w.hv.inject(&w.vm, Fault::StopsDuringSnapshot);
    let j = w.backup();
    assert_eq!(j["status"], "Failed", "{j}");
    assert_eq!(codes(&j), ["UserErrorVmSnapshotFailed"]);
    assert_eq!(j["extendedInfo"]["tasksList"][0]["status"], "Failed", "{j}");
    assert_eq!(j["extendedInfo"]["tasksList"][1]["status"], "NotStarted");
    assert!(w.points().is_empty());
    assert_eq!(w.snapshot_files(), 0, "no snapshot file is left");
    assert!(
        w.hv.checkpoints(&w.vm, 0).is_empty(),
        "no checkpoint is left"
    );
    assert_eq!(w.agent_status(), "NotConfigured");
    let vm = value(w.svc.get_vm(VmProvider::Compute, &w.vm_ref, true).unwrap());
    assert_eq!(
        vm["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/stopped"
    );
}

#[test]
fn a_vm_nothing_runs_is_read_from_its_files() {
    if !tools_present() {
        return;
    }
    let w = world();
    let vm = value(w.svc.get_vm(VmProvider::Compute, &w.vm_ref, true).unwrap());
    assert_eq!(
        vm["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/running"
    );
    w.hv.set_power(&w.vm, PowerState::Stopped);
    let j = w.backup();
    assert_eq!(j["status"], "Completed", "{j}");
    assert_eq!(bag(&j, "Consistency"), "CrashConsistent", "{j}");
    assert!(
        bag(&j, "Changed-block tracking (os)").is_null(),
        "no snapshot: {j}"
    );
    let pts = w.points();
    assert_eq!(pts[0]["properties"]["recoveryPointType"], "CrashConsistent");
    assert_eq!(w.agent_status(), "VMStopped");
    assert_eq!(w.snapshot_files(), 0, "the images were read in place");
}

#[test]
fn a_hypervisor_that_does_not_answer_or_a_failing_pre_script_fails_the_job() {
    if !tools_present() {
        return;
    }
    let w = world();
    w.hv.inject(&w.vm, Fault::Unresponsive);
    let j = w.backup();
    assert_eq!(j["status"], "Failed", "{j}");
    assert_eq!(codes(&j), ["UserErrorVmSnapshotFailed"]);
    let vm = value(w.svc.get_vm(VmProvider::Compute, &w.vm_ref, true).unwrap());
    assert_eq!(
        vm["properties"]["instanceView"]["statuses"][1]["code"], "PowerState/running",
        "a busy hypervisor leaves the stored power state"
    );
    w.hv.clear_faults(&w.vm);
    w.hv.set_agent(
        &w.vm,
        FakeAgent::Ready {
            version: "9.1".into(),
            scripts: FakeScripts::PreFails {
                continue_on_failure: false,
            },
        },
    );
    let j = w.backup();
    assert_eq!(j["status"], "Failed", "{j}");
    assert_eq!(codes(&j), ["UserErrorPreScriptFailed"]);
    assert!(w.points().is_empty());
    assert_eq!(w.agent_status(), "Ready");
    // With continueBackupOnFailure the point is kept, crash-consistent;
    // when the scripts succeed it is application-consistent.
    w.hv.set_agent(
        &w.vm,
        FakeAgent::Ready {
            version: "9.1".into(),
            scripts: FakeScripts::PreFails {
                continue_on_failure: true,
            },
        },
    );
    let j = w.backup();
    assert_eq!(j["status"], "CompletedWithWarnings", "{j}");
    assert_eq!(codes(&j), ["UserErrorPreScriptFailed"]);
    assert_eq!(bag(&j, "Consistency"), "CrashConsistent");
    w.hv.set_agent(
        &w.vm,
        FakeAgent::Ready {
            version: "9.1".into(),
            scripts: FakeScripts::Succeed,
        },
    );
    let j = w.backup();
    assert_eq!(j["status"], "Completed", "{j}");
    assert_eq!(bag(&j, "Consistency"), "AppConsistent");
}

//! Live backups through the hypervisor port, against the in-process fake:
//! the paths that otherwise need a running QEMU (a freeze that fails, a VM
//! that stops mid-snapshot, a hypervisor that does not answer, a failing
//! pre-script, change tracking across points). The fake's snapshots are
//! real qcow2 files, so these tests need `qemu-img` and `qemu-io`; they
//! are skipped without them unless `CI` is `true`.

use rsvault_hypervisor::fake::{FakeAgent, FakeScripts, Fault};
use rsvault_hypervisor::{FakeHypervisor, PowerState, VmAddress};
use rsvault_service::inventory::{ResourceRef, VmProvider};
use rsvault_service::{Service, StorageSettings, VaultRef};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A typed request body from JSON.
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A typed answer as JSON.
fn value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap()
}

const C: &str = "IaasVMContainer;iaasvmcontainerv2;vms;vm1";
const I: &str = "VM;iaasvmcontainerv2;vms;vm1";

struct World {
    dir: tempfile::TempDir,
    svc: Arc<Service>,
    hv: Arc<FakeHypervisor>,
    vault: VaultRef,
    vm: VmAddress,
    vm_ref: ResourceRef,
}

fn tools_present() -> bool {
    let ok = ["qemu-img", "qemu-io"].iter().all(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but qemu-img/qemu-io are missing"
    );
    ok
}

/// A vault protecting vm1 (an OS and a data disk), which the fake runs.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let hv = Arc::new(FakeHypervisor::new());
    let svc = Arc::new(
        Service::open_with_hypervisor(
            dir.path(),
            Arc::new(rsvault_engine::clock::SystemClock),
            StorageSettings::default(),
            hv.clone(),
        )
        .unwrap(),
    );
    let vault = VaultRef {
        subscription: "s".into(),
        resource_group: "rg".into(),
        name: "vault1".into(),
    };
    svc.put_vault(&vault, rsvault_arm::vault::VaultPut::located("westeurope"))
        .unwrap();
    let images = std::fs::canonicalize(dir.path().join("images")).unwrap();
    let os = images.join("os.raw");
    let data = images.join("data.raw");
    std::fs::write(&os, vec![7u8; 2 << 20]).unwrap();
    std::fs::write(&data, vec![9u8; 1 << 20]).unwrap();
    let qmp = dir.path().join("vm1.qmp");
    let vm = VmAddress::qemu(qmp.clone(), None);
    hv.add_vm(vm.clone(), &[(os.clone(), "raw"), (data.clone(), "raw")])
        .unwrap();
    let vm_ref = ResourceRef {
        subscription: "s".into(),
        resource_group: "vms".into(),
        name: "vm1".into(),
    };
    svc.put_vm(
        VmProvider::Compute,
        &vm_ref,
        &typed(json!({"location": "westeurope",
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Linux", "vhd": {"uri": format!("file://{}", os.display())}},
                "dataDisks": [{"lun": 0, "vhd": {"uri": format!("file://{}", data.display())}}]},
            "qemu": {"qmpSocket": qmp}}})),
    )
    .unwrap();
    svc.put_protected_item(&vault, C, I, &typed(json!({"properties": {"policyId": format!("{}/backupPolicies/DefaultPolicy", vault.id())}})))
        .unwrap();
    World {
        dir,
        svc,
        hv,
        vault,
        vm,
        vm_ref,
    }
}

impl World {
    /// Runs Backup now to its end; the job.
    fn backup(&self) -> Value {
        let op = self
            .svc
            .backup_now(&self.vault, C, I, &Default::default())
            .unwrap();
        let job = self
            .svc
            .operation_status(&self.vault, &op)
            .unwrap()
            .job_id()
            .unwrap()
            .to_owned();
        for _ in 0..1500 {
            let j = serde_json::to_value(self.svc.get_job(&self.vault, &job).unwrap()).unwrap();
            if j["properties"]["status"] != "InProgress" {
                return j["properties"].clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("backup job {job} did not end");
    }

    fn points(&self) -> Vec<Value> {
        self.svc
            .list_recovery_points(&self.vault, C, I, "")
            .unwrap()
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .collect()
    }

    fn snapshot_files(&self) -> usize {
        fn count(d: &std::path::Path) -> usize {
            std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { count(&p) } else { 1 }
                })
                .sum()
        }
        count(&self.dir.path().join("snapshots"))
    }

    fn agent_status(&self) -> Value {
        value(self.svc.get_protected_item(&self.vault, C, I).unwrap())["properties"]["guestAgent"]
            ["status"]
            .clone()
    }
}

fn codes(job: &Value) -> Vec<String> {
    job["errorDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["errorCode"].as_str().map(str::to_owned))
        .collect()
}

fn bag<'a>(job: &'a Value, key: &str) -> &'a Value {
    &job["extendedInfo"]["propertyBag"][key]
}

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

//! What the service's integration tests share: a service over a fake
//! hypervisor, with a vault protecting one VM, and readers of its answers.
#![allow(dead_code)] // each test file uses part of it

use rsvault_hypervisor::{FakeHypervisor, VmAddress};
use rsvault_service::inventory::{ResourceRef, VmProvider};
use rsvault_service::{Service, StorageSettings, VaultRef};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A typed request body from JSON.
pub fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A typed answer as JSON.
pub fn value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap()
}

pub const C: &str = "IaasVMContainer;iaasvmcontainerv2;vms;vm1";
pub const I: &str = "VM;iaasvmcontainerv2;vms;vm1";

pub struct World {
    pub dir: tempfile::TempDir,
    pub svc: Arc<Service>,
    pub hv: Arc<FakeHypervisor>,
    pub vault: VaultRef,
    pub vm: VmAddress,
    pub vm_ref: ResourceRef,
}

pub fn tools_present() -> bool {
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
pub fn world() -> World {
    world_with(
        StorageSettings::default(),
        rsvault_arm::vault::VaultPut::located("westeurope"),
    )
}

/// [`world`] with storage settings and the vault's PUT body.
pub fn world_with(storage: StorageSettings, vault_put: rsvault_arm::vault::VaultPut) -> World {
    let dir = tempfile::tempdir().unwrap();
    let hv = Arc::new(FakeHypervisor::new());
    let svc = Arc::new(
        Service::open_with_hypervisor(
            dir.path(),
            Arc::new(rsvault_engine::clock::SystemClock),
            storage,
            hv.clone(),
        )
        .unwrap(),
    );
    let vault = VaultRef {
        subscription: "s".into(),
        resource_group: "rg".into(),
        name: "vault1".into(),
    };
    svc.put_vault(&vault, vault_put).unwrap();
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
    pub fn backup(&self) -> Value {
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

    pub fn points(&self) -> Vec<Value> {
        self.svc
            .list_recovery_points(&self.vault, C, I, "")
            .unwrap()
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .collect()
    }

    pub fn snapshot_files(&self) -> usize {
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

    pub fn agent_status(&self) -> Value {
        value(self.svc.get_protected_item(&self.vault, C, I).unwrap())["properties"]["guestAgent"]
            ["status"]
            .clone()
    }
}

pub fn codes(job: &Value) -> Vec<String> {
    job["errorDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["errorCode"].as_str().map(str::to_owned))
        .collect()
}

pub fn bag<'a>(job: &'a Value, key: &str) -> &'a Value {
    &job["extendedInfo"]["propertyBag"][key]
}

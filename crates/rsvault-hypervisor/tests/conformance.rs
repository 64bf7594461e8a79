//! The port's conformance suite against both implementations: the fake,
//! and QEMU with a real qemu-system-x86_64 under TCG (skipped only when
//! QEMU is absent and `CI` is not `true`).

use rsvault_hypervisor::conformance::{self, Lab};
use rsvault_hypervisor::fake::FakeAgent;
use rsvault_hypervisor::qmp::{Monitor, Qmp};
use rsvault_hypervisor::{FakeHypervisor, Hypervisor, PowerState, QemuHypervisor, VmAddress};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct FakeLab {
    hv: FakeHypervisor,
    dir: PathBuf,
}

impl Lab for FakeLab {
    fn hypervisor(&self) -> &dyn Hypervisor {
        &self.hv
    }

    fn start(&mut self, disks: &[(PathBuf, &'static str)]) -> VmAddress {
        let vm = VmAddress::qemu(self.dir.join("vm.qmp"), Some(self.dir.join("vm.qga")));
        self.hv.add_vm(vm.clone(), disks).expect("add the VM");
        self.hv.set_agent(&vm, FakeAgent::Unreachable);
        vm
    }

    fn guest_write(&mut self, vm: &VmAddress, disk: usize, offset: u64, len: u64, pattern: u8) {
        self.hv
            .guest_write(vm, disk, offset, len, pattern)
            .expect("guest write");
    }

    fn stop(&mut self, vm: &VmAddress) {
        self.hv.set_power(vm, PowerState::Stopped);
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the suite can run here; on CI it must.
fn can_run(programs: &[&str]) -> bool {
    let missing: Vec<&&str> = programs.iter().filter(|p| !have(p)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {missing:?} is not installed"
    );
    eprintln!("skipped: {missing:?} not installed");
    false
}

#[test]
fn the_fake_hypervisor_conforms() {
    if !can_run(&["qemu-img", "qemu-io"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(d.path()).unwrap();
    let mut lab = FakeLab {
        hv: FakeHypervisor::new(),
        dir: dir.clone(),
    };
    conformance::run(&mut lab, &dir);
}

/// QEMU processes started by the lab, with a second QMP socket of the
/// lab's own (`test.sock`) for guest writes and quitting.
struct QemuLab {
    hv: QemuHypervisor,
    dir: PathBuf,
    vms: Vec<(VmAddress, PathBuf, Child)>,
}

impl QemuLab {
    fn test_sock(&self, vm: &VmAddress) -> &Path {
        &self
            .vms
            .iter()
            .find(|(a, ..)| a == vm)
            .expect("a VM of this lab")
            .1
    }

    fn hmp(&self, vm: &VmAddress, line: &str) -> String {
        let mut q = Qmp::connect(self.test_sock(vm), Duration::from_secs(30)).expect("test QMP");
        let out = q
            .execute("human-monitor-command", json!({"command-line": line}))
            .expect("HMP command");
        out.as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for QemuLab {
    fn drop(&mut self) {
        for (.., child) in &mut self.vms {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Lab for QemuLab {
    fn hypervisor(&self) -> &dyn Hypervisor {
        &self.hv
    }

    fn start(&mut self, disks: &[(PathBuf, &'static str)]) -> VmAddress {
        let n = self.vms.len();
        let qmp = self.dir.join(format!("vm{n}.qmp"));
        let test = self.dir.join(format!("vm{n}-test.qmp"));
        let qga = self.dir.join(format!("vm{n}.qga"));
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-machine", "q35,accel=tcg", "-m", "128", "-smp", "1"])
            .args(["-nodefaults", "-display", "none", "-monitor", "none"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", test.display()));
        for (i, (path, fmt)) in disks.iter().enumerate() {
            c.arg("-drive")
                .arg(format!(
                    "if=none,id=drive{i},file={},format={fmt},node-name=disk{i}",
                    path.display()
                ))
                .arg("-device")
                .arg(format!("virtio-blk-pci,drive=drive{i},id=vd{i}"));
        }
        c.args(["-device", "virtio-serial", "-chardev"])
            .arg(format!(
                "socket,path={},server=on,wait=off,id=qga0",
                qga.display()
            ))
            .args([
                "-device",
                "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            ]);
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start QEMU");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !test.exists() {
            assert!(
                child.try_wait().expect("QEMU status").is_none(),
                "QEMU exited at start"
            );
            assert!(Instant::now() < deadline, "QEMU did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let vm = VmAddress::qemu(qmp, Some(qga));
        self.vms.push((vm.clone(), test, child));
        vm
    }

    fn guest_write(&mut self, vm: &VmAddress, disk: usize, offset: u64, len: u64, pattern: u8) {
        let out = self.hmp(
            vm,
            &format!("qemu-io drive{disk} \"write -P {pattern} {offset} {len}\""),
        );
        assert!(!out.to_lowercase().contains("error"), "{out}");
    }

    fn stop(&mut self, vm: &VmAddress) {
        if let Ok(mut q) = Qmp::connect(self.test_sock(vm), Duration::from_secs(10)) {
            let _ = q.execute("quit", json!({}));
        }
        let i = self.vms.iter().position(|(a, ..)| a == vm).unwrap();
        let child = &mut self.vms[i].2;
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("QEMU status").is_none() {
            assert!(Instant::now() < deadline, "QEMU did not quit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_qemu_hypervisor_conforms() {
    if !can_run(&["qemu-system-x86_64", "qemu-img", "qemu-io"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(d.path()).unwrap();
    let mut lab = QemuLab {
        hv: QemuHypervisor::default(),
        dir: dir.clone(),
        vms: Vec::new(),
    };
    conformance::run(&mut lab, &dir);
}

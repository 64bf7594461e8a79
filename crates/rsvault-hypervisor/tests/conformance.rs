//! The port's conformance suite against both implementations: the fake,
//! and QEMU with a real qemu-system-x86_64 under TCG (skipped only when
//! QEMU is absent and `CI` is not `true`).

use rsvault_hypervisor::conformance::{self, Lab};
use rsvault_hypervisor::fake::FakeAgent;
use rsvault_hypervisor::qmp::{Monitor, Qmp};
use rsvault_hypervisor::{
    FakeHypervisor, Hypervisor, LibvirtHypervisor, PowerState, QemuHypervisor, VmAddress,
};
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

/// A new, empty 4 MiB qcow2 image.
fn qcow2_4m(path: &Path) {
    assert!(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(path)
            .arg("4M")
            .status()
            .unwrap()
            .success()
    );
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

/// A host's configured plain QEMU VMs: one running QEMU (its power state
/// asked over QMP), one whose monitor nobody answers (stopped).
#[test]
fn configured_qemu_vms_discovery_conforms() {
    use rsvault_hypervisor::discovery::conformance::{self as dc, Expected};
    use rsvault_hypervisor::{HostDisk, QemuVm, QemuVmsDiscovery};
    if !can_run(&["qemu-system-x86_64", "qemu-img"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(d.path()).unwrap();
    let (os, data) = (dir.join("os.qcow2"), dir.join("data.raw"));
    qcow2_4m(&os);
    std::fs::write(&data, vec![0u8; 1 << 20]).unwrap();
    let disks = [(os.clone(), "qcow2"), (data.clone(), "raw")];
    let mut lab = QemuLab {
        hv: QemuHypervisor::default(),
        dir: dir.clone(),
        vms: Vec::new(),
    };
    let running = lab.start(&disks);
    let VmAddress::Qemu(addr) = &running else {
        unreachable!()
    };
    let host_disks: Vec<HostDisk> = disks
        .iter()
        .enumerate()
        .map(|(i, (p, f))| HostDisk {
            device: format!("disk{i}"),
            path: p.clone(),
            format: (*f).into(),
            block: false,
            backing: Vec::new(),
        })
        .collect();
    let vm = |name: &str, uuid: &str, qmp: PathBuf| QemuVm {
        name: name.into(),
        uuid: uuid.into(),
        qmp,
        guest_agent: None,
        os_type: Some("hvm".into()),
        vcpus: 1,
        memory_mib: 128,
        disks: host_disks.clone(),
    };
    let host = QemuVmsDiscovery::new(
        "qemu+config:///conformance",
        vec![
            vm(
                "q-on",
                "0c5e3f7a-1b2c-4d5e-8f90-000000000001",
                addr.qmp_socket.clone(),
            ),
            vm(
                "q-off",
                "0c5e3f7a-1b2c-4d5e-8f90-000000000002",
                dir.join("gone.qmp"),
            ),
        ],
        std::sync::Arc::new(QemuHypervisor::default()),
    );
    let want = [(os.as_path(), "qcow2"), (data.as_path(), "raw")];
    dc::run(
        &host,
        &[
            Expected {
                name: "q-on",
                power: PowerState::Running,
                disks: &want,
            },
            Expected {
                name: "q-off",
                power: PowerState::Stopped,
                disks: &want,
            },
        ],
    );
}

/// libvirt domains (TCG, no guest OS) defined on the connection named by
/// `RSVAULT_TEST_LIBVIRT` (e.g. `qemu:///system`; the test command starts
/// libvirtd). Guest writes go through the lab's own HMP `qemu-io` via
/// `virsh qemu-monitor-command`, which taints these lab domains; the
/// untainted path is what the live libvirt test checks.
struct LibvirtLab {
    hv: LibvirtHypervisor,
    uri: String,
    conn: virt::connect::Connect,
    dir: PathBuf,
    names: Vec<String>,
}

impl LibvirtLab {
    fn domain(&self, vm: &VmAddress) -> virt::domain::Domain {
        let VmAddress::Libvirt(a) = vm else {
            panic!("{vm:?} is not a libvirt address")
        };
        self.conn
            .lookup_domain_by_uuid_string(&a.uuid)
            .expect("the lab's domain")
    }
}

impl Drop for LibvirtLab {
    fn drop(&mut self) {
        for n in &self.names {
            if let Ok(d) = self.conn.lookup_domain_by_name(n) {
                let _ = d.destroy();
                // VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                let _ = d.undefine_flags(16);
            }
        }
    }
}

fn domain_xml(name: &str, disks: &[(PathBuf, &'static str)]) -> String {
    let mut x = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
    );
    for (i, (path, fmt)) in disks.iter().enumerate() {
        let dev = char::from(b'a' + u8::try_from(i).expect("few disks"));
        x.push_str(&format!(
            "<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>\
             <source file='{}'/><target dev='vd{dev}' bus='virtio'/></disk>",
            path.display()
        ));
    }
    x.push_str(
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\
         </devices></domain>",
    );
    x
}

impl Lab for LibvirtLab {
    fn hypervisor(&self) -> &dyn Hypervisor {
        &self.hv
    }

    fn start(&mut self, disks: &[(PathBuf, &'static str)]) -> VmAddress {
        let name = format!(
            "rsvault-conformance-{}-{}",
            std::process::id(),
            self.names.len()
        );
        let d = self
            .conn
            .define_domain_xml(&domain_xml(&name, disks))
            .expect("define the lab's domain");
        self.names.push(name);
        d.create().expect("start the lab's domain");
        VmAddress::libvirt(self.uri.clone(), d.uuid_string().expect("uuid"))
    }

    fn guest_write(&mut self, vm: &VmAddress, disk: usize, offset: u64, len: u64, pattern: u8) {
        let name = self.domain(vm).name().expect("name");
        // The virtio-blk device's own backend: libvirt's nodes share no
        // write permission with a second user.
        let line = format!(
            "qemu-io -d /machine/peripheral/virtio-disk{disk}/virtio-backend \"write -P {pattern} {offset} {len}\""
        );
        let out = Command::new("virsh")
            .args([
                "-c",
                &self.uri,
                "qemu-monitor-command",
                &name,
                "--hmp",
                &line,
            ])
            .output()
            .expect("virsh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && (text.trim().is_empty() || text.contains("wrote")),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&mut self, vm: &VmAddress) {
        self.domain(vm).destroy().expect("stop the lab's domain");
    }

    fn nowhere(&self) -> VmAddress {
        VmAddress::libvirt(self.uri.clone(), "6b2f3c1e-0000-4000-8000-00000000dead")
    }

    fn raw_checkpoints(&self) -> bool {
        false
    }
}

/// The libvirt connection of the tests, when there is one; on CI there
/// must be.
fn test_libvirt() -> Option<String> {
    match std::env::var("RSVAULT_TEST_LIBVIRT") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but RSVAULT_TEST_LIBVIRT names no libvirt connection"
            );
            eprintln!("skipped: RSVAULT_TEST_LIBVIRT is not set");
            None
        }
    }
}

#[test]
fn the_libvirt_hypervisor_conforms() {
    let Some(uri) = test_libvirt() else { return };
    if !can_run(&["qemu-img", "qemu-io", "virsh"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(d.path()).unwrap();
    // libvirt's QEMU runs as its own user: it must reach the images.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conn = virt::connect::Connect::open(Some(&uri)).expect("connect to libvirt");
    let mut lab = LibvirtLab {
        hv: LibvirtHypervisor::new(dir.join("work")),
        uri,
        conn,
        dir: dir.clone(),
        names: Vec::new(),
    };
    conformance::run(&mut lab, &dir);
    let _ = &lab.dir;
}

#[test]
fn libvirt_discovery_conforms() {
    use rsvault_hypervisor::discovery::conformance::{self as dc, Expected};
    let Some(uri) = test_libvirt() else { return };
    if !can_run(&["qemu-img"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(d.path()).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let os = dir.join("os.qcow2");
    let data = dir.join("data.raw");
    let iso = dir.join("cd.iso");
    let shared = dir.join("shared.raw");
    qcow2_4m(&os);
    for f in [&data, &iso, &shared] {
        std::fs::write(f, vec![0u8; 1 << 20]).unwrap();
    }
    let conn = virt::connect::Connect::open(Some(&uri)).expect("connect to libvirt");
    let mut lab = LibvirtLab {
        hv: LibvirtHypervisor::new(dir.join("work")),
        uri: uri.clone(),
        conn,
        dir: dir.clone(),
        names: Vec::new(),
    };
    let extra = format!(
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='sda' bus='sata'/><readonly/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='vdc' bus='virtio'/><readonly/></disk>",
        iso.display(),
        shared.display()
    );
    let disks = [(os.clone(), "qcow2"), (data.clone(), "raw")];
    let define = |lab: &mut LibvirtLab, suffix: &str| {
        let name = format!("rsvault-discovery-{}-{suffix}", std::process::id());
        let x = domain_xml(&name, &disks).replace("<channel", &format!("{extra}<channel"));
        let dom = lab.conn.define_domain_xml(&x).expect("define");
        lab.names.push(name.clone());
        (name, dom)
    };
    let (running, dom) = define(&mut lab, "on");
    dom.create().expect("start");
    let (stopped, _) = define(&mut lab, "off");
    let want = [(os.as_path(), "qcow2"), (data.as_path(), "raw")];
    let host = rsvault_hypervisor::LibvirtDiscovery::new(uri);
    dc::run(
        &host,
        &[
            Expected {
                name: &running,
                power: PowerState::Running,
                disks: &want,
            },
            Expected {
                name: &stopped,
                power: PowerState::Stopped,
                disks: &want,
            },
        ],
    );
    let copy = dir.join("copy.qcow2");
    qcow2_4m(&copy);
    let copy_name = format!("{stopped}-copy");
    lab.names.push(copy_name.clone());
    dc::define(&host, &stopped, &copy_name, &copy);
    let _ = &lab.dir;
}

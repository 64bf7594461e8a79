//! The plain QEMU VMs of an agent's host (`--qemu-vms FILE`): QEMU keeps
//! no list of its VMs, so the host's administrator names them, each with
//! its QMP socket, guest-agent socket and disks. Every disk must lie under
//! one of the agent's image roots (`--image-root`); it is read, and
//! restored in place, only there.
//!
//! ```toml
//! [[vm]]
//! name = "web-01"
//! uuid = "6f1c…"            # optional: kept across renames (default: from the name)
//! qmp_socket = "/run/qemu/web-01.qmp"
//! guest_agent_socket = "/run/qemu/web-01.qga"   # optional
//! vcpus = 2                 # optional, default 1
//! memory_mib = 2048         # optional, default 1024
//! disks = ["/srv/vms/web-01.qcow2", "/srv/vms/web-01-data.raw"]
//! ```

use anyhow::{Context, Result, bail};
use rsvault_engine::source::{ImageFormat, ImageRoots, probe_format};
use rsvault_hypervisor::{HostDisk, QemuVm};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    vm: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    uuid: Option<String>,
    qmp_socket: PathBuf,
    guest_agent_socket: Option<PathBuf>,
    #[serde(default = "one")]
    vcpus: u32,
    #[serde(default = "gib")]
    memory_mib: u64,
    disks: Vec<PathBuf>,
}

fn one() -> u32 {
    1
}

fn gib() -> u64 {
    1024
}

/// A stable id for a VM named `name`, when the file gives none.
fn uuid_of(name: &str) -> String {
    let h = Sha256::digest(format!("rsvault agent qemu vm\0{name}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Builder::from_custom_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn socket(p: &Path, what: &str, vm: &str) -> Result<PathBuf> {
    if !p.is_absolute() {
        bail!("VM {vm}: {what} {} is not an absolute path", p.display());
    }
    Ok(p.to_owned())
}

fn disk(path: &Path, i: usize, roots: &ImageRoots, vm: &str) -> Result<HostDisk> {
    let canon = roots
        .check(path)
        .with_context(|| format!("VM {vm}, disk {i}"))?;
    let format = match probe_format(&canon).with_context(|| format!("VM {vm}"))? {
        ImageFormat::Qcow2 => "qcow2",
        ImageFormat::Raw => "raw",
        other => bail!(
            "VM {vm}: {} is a {other:?} image; a QEMU VM's disks are qcow2 or raw",
            path.display()
        ),
    };
    let block = std::fs::metadata(&canon).is_ok_and(|m| !m.is_file());
    Ok(HostDisk {
        device: format!("disk{i}"),
        path: canon,
        format: format.into(),
        block,
        backing: Vec::new(),
    })
}

fn entry(e: Entry, roots: &ImageRoots) -> Result<QemuVm> {
    rsvault_service::inventory::check_vm_name(&e.name)
        .map_err(|err| anyhow::anyhow!("VM name '{}': {err}", e.name))?;
    let uuid = match e.uuid {
        Some(u) => uuid::Uuid::parse_str(&u)
            .with_context(|| format!("VM {}: uuid '{u}' is not a UUID", e.name))?
            .hyphenated()
            .to_string(),
        None => uuid_of(&e.name),
    };
    if e.disks.is_empty() || e.disks.len() > 65 {
        bail!("VM {}: a VM has an OS disk and up to 64 data disks", e.name);
    }
    if e.vcpus == 0 || e.memory_mib == 0 {
        bail!("VM {}: vcpus and memory_mib are at least 1", e.name);
    }
    let disks = e
        .disks
        .iter()
        .enumerate()
        .map(|(i, p)| disk(p, i, roots, &e.name))
        .collect::<Result<Vec<_>>>()?;
    Ok(QemuVm {
        qmp: socket(&e.qmp_socket, "qmp_socket", &e.name)?,
        guest_agent: e
            .guest_agent_socket
            .as_deref()
            .map(|g| socket(g, "guest_agent_socket", &e.name))
            .transpose()?,
        name: e.name,
        uuid,
        os_type: Some("hvm".into()),
        vcpus: e.vcpus,
        memory_mib: e.memory_mib,
        disks,
    })
}

/// Reads the host's QEMU VMs; every disk must be under `roots`.
pub fn load(path: &Path, roots: &[PathBuf]) -> Result<Vec<QemuVm>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse(&text, roots).with_context(|| format!("{}", path.display()))
}

fn parse(text: &str, roots: &[PathBuf]) -> Result<Vec<QemuVm>> {
    let file: File = toml::from_str(text)?;
    if !file.vm.is_empty() && roots.is_empty() {
        bail!("the QEMU VMs' disks must lie under an image root: pass --image-root DIR");
    }
    let roots = ImageRoots::new(roots.iter().cloned());
    let vms = file
        .vm
        .into_iter()
        .map(|e| entry(e, &roots))
        .collect::<Result<Vec<_>>>()?;
    let mut names = BTreeSet::new();
    let mut uuids = BTreeSet::new();
    for v in &vms {
        if !names.insert(v.name.as_str()) || !uuids.insert(v.uuid.as_str()) {
            bail!("VM {} is listed twice (by name or uuid)", v.name);
        }
    }
    Ok(vms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap().join("vms");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("os.raw"), vec![0u8; 4096]).unwrap();
        (d, root)
    }

    #[test]
    fn vms_are_read_with_their_disks_under_the_roots() {
        let (_d, root) = lab();
        let text = format!(
            "[[vm]]\nname = \"web-01\"\nqmp_socket = \"/run/w.qmp\"\ndisks = [\"{}\"]\n",
            root.join("os.raw").display()
        );
        let vms = parse(&text, std::slice::from_ref(&root)).unwrap();
        assert_eq!(vms.len(), 1);
        let v = &vms[0];
        assert_eq!((v.vcpus, v.memory_mib), (1, 1024));
        assert_eq!(v.uuid, uuid_of("web-01"), "a stable id from the name");
        assert_eq!(v.disks[0].format, "raw");
        assert_eq!(v.disks[0].path, root.join("os.raw"));
        // The same file again, with a UUID of its own.
        let with = text.replace(
            "name = \"web-01\"",
            "name = \"web-01\"\nuuid = \"6B0B7C1E-2F7A-4C0E-9D55-0A1B2C3D4E5F\"",
        );
        let vms = parse(&with, &[root]).unwrap();
        assert_eq!(vms[0].uuid, "6b0b7c1e-2f7a-4c0e-9d55-0a1b2c3d4e5f");
    }

    #[test]
    fn disks_outside_the_roots_and_bad_entries_are_refused() {
        let (d, root) = lab();
        let outside = d.path().join("secret.raw");
        std::fs::write(&outside, b"x").unwrap();
        let vm = |disk: &Path, extra: &str| {
            format!(
                "[[vm]]\nname = \"a\"\nqmp_socket = \"/run/a.qmp\"\ndisks = [\"{}\"]\n{extra}",
                disk.display()
            )
        };
        let roots = std::slice::from_ref(&root);
        let err = |t: &str, r: &[PathBuf]| format!("{:#}", parse(t, r).unwrap_err());
        assert!(err(&vm(&outside, ""), roots).contains("secret.raw"));
        let through = root.join("link.raw");
        std::os::unix::fs::symlink(&outside, &through).unwrap();
        assert!(err(&vm(&through, ""), roots).contains("link.raw"));
        let os = root.join("os.raw");
        assert!(err(&vm(&os, ""), &[]).contains("--image-root"));
        assert!(err(&vm(&os, "vcpus = 0\n"), roots).contains("at least 1"));
        assert!(err(&vm(&os, "uuid = \"nope\"\n"), roots).contains("not a UUID"));
        assert!(err(&vm(&os, "colour = \"red\"\n"), roots).contains("colour"));
        let twice = format!("{}{}", vm(&os, ""), vm(&os, ""));
        assert!(err(&twice, roots).contains("listed twice"));
        let relative = vm(&os, "").replace("/run/a.qmp", "a.qmp");
        assert!(err(&relative, roots).contains("absolute"));
    }
}

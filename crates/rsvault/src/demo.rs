//! `rsvault serve --demo`: registers a few VMs in two regions, whose disks
//! are small images holding real ext4 file systems (made with `mkfs.ext4 -d`
//! from e2fsprogs and converted with `qemu-img`), so a newcomer can walk
//! through vault, policy, protection, Backup now and restore at once, with
//! a storage account per region to restore disks into. VMs and accounts
//! that exist already are left as they are.

use anyhow::{Context, Result, bail};
use rsvault_arm::inventory::{
    CreationData, DiskProperties, HardwareProfile, ManagedDisk, ManagedDiskRef, StorageProfile,
    VirtualHardDisk, VirtualMachine, VmDisk, VmProperties,
};
use rsvault_arm::storage::{StorageAccountProperties, StorageAccountResource};
use rsvault_arm::{Extra, Resource, Sku};
use rsvault_service::Service;
use rsvault_service::inventory::{ResourceRef, VmProvider};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The subscription of the demo (also the CLI's default subscription).
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
/// The demo's resource group.
pub const RESOURCE_GROUP: &str = "demo-rg";

/// One demo disk: an image format and a size in MiB.
struct DiskSpec {
    name: &'static str,
    format: &'static str,
    mib: u64,
    managed: bool,
}

struct VmSpec {
    name: &'static str,
    location: &'static str,
    provider: VmProvider,
    os: DiskSpec,
    data: &'static [DiskSpec],
    running: bool,
}

const VMS: &[VmSpec] = &[
    VmSpec {
        name: "web-01",
        location: "japaneast",
        provider: VmProvider::Compute,
        os: DiskSpec {
            name: "web-01-os",
            format: "qcow2",
            mib: 96,
            managed: false,
        },
        data: &[DiskSpec {
            name: "web-01-data",
            format: "raw",
            mib: 64,
            managed: true,
        }],
        running: true,
    },
    VmSpec {
        name: "db-01",
        location: "japaneast",
        provider: VmProvider::Compute,
        os: DiskSpec {
            name: "db-01-os",
            format: "raw",
            mib: 96,
            managed: false,
        },
        data: &[],
        running: false,
    },
    VmSpec {
        name: "legacy-01",
        location: "japaneast",
        provider: VmProvider::ClassicCompute,
        os: DiskSpec {
            name: "legacy-01-os",
            format: "vpc",
            mib: 64,
            managed: false,
        },
        data: &[],
        running: true,
    },
    VmSpec {
        name: "app-eu-01",
        location: "westeurope",
        provider: VmProvider::Compute,
        os: DiskSpec {
            name: "app-eu-01-os",
            format: "vhdx",
            mib: 96,
            managed: false,
        },
        data: &[],
        running: true,
    },
];

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| {
        format!(
            "run {:?} (the demo needs e2fsprogs and qemu-utils)",
            cmd.get_program()
        )
    })?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes the files of a small Linux-looking file system.
fn populate(root: &Path, host: &str, seed: u64) -> Result<()> {
    let w = |rel: &str, data: &[u8]| -> Result<()> {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        std::fs::write(&p, data).with_context(|| format!("write {}", p.display()))
    };
    w("etc/hostname", format!("{host}\n").as_bytes())?;
    w(
        "etc/os-release",
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
    )?;
    w("etc/fstab", b"LABEL=root / ext4 errors=remount-ro 0 1\n")?;
    w(
        "home/azureuser/README.txt",
        format!(
            "This disk belongs to the rsvault demo VM {host}.\nBack it up, change it, restore it.\n"
        )
        .as_bytes(),
    )?;
    // Some text that compresses and some data that does not.
    let log: String = (0..20_000)
        .map(|i| {
            format!(
                "2026-11-25T09:{:02}:{:02}Z {host} app[{}]: request {i} served in {} ms\n",
                i / 60 % 60,
                i % 60,
                1000 + i % 7,
                i % 97
            )
        })
        .collect();
    w("var/log/app.log", log.as_bytes())?;
    let mut x = seed | 1;
    let noise: Vec<u8> = (0..(4 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    w("var/lib/app/data.bin", &noise)?;
    Ok(())
}

/// Makes one image; returns its path.
fn make_image(dir: &Path, host: &str, d: &DiskSpec, seed: u64) -> Result<PathBuf> {
    let ext = match d.format {
        "vpc" => "vhd",
        f => f,
    };
    let out = dir.join(format!("{}.{ext}", d.name));
    if out.exists() {
        return Ok(out);
    }
    let tmp = tempfile::tempdir_in(dir)?;
    let tree = tmp.path().join("tree");
    populate(&tree, host, seed)?;
    let raw = tmp.path().join("disk.raw");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", d.name, "-d"])
        .arg(&tree)
        .arg(&raw)
        .arg(format!("{}M", d.mib)))?;
    let staged = tmp.path().join("disk.out");
    if d.format == "raw" {
        std::fs::rename(&raw, &staged)?;
    } else {
        let mut cmd = Command::new("qemu-img");
        cmd.args(["convert", "-q", "-O", d.format]);
        if d.format == "vpc" {
            cmd.args(["-o", "subformat=dynamic"]);
        }
        run(cmd.arg(&raw).arg(&staged))?;
    }
    std::fs::rename(&staged, &out)?;
    Ok(out)
}

/// The folder of the demo's images, under the data directory (an image
/// root when the server runs with `--demo`).
pub const IMAGES: &str = "demo-images";

/// Registers the demo VMs (and their images under `<data-dir>/demo-images`).
pub fn seed(service: &Service) -> Result<()> {
    let dir = service.data_dir().join(IMAGES);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    for (i, vm) in VMS.iter().enumerate() {
        let r = ResourceRef {
            subscription: SUBSCRIPTION.into(),
            resource_group: RESOURCE_GROUP.into(),
            name: vm.name.into(),
        };
        if service.get_vm(vm.provider, &r, false).is_ok() {
            continue;
        }
        let os = make_image(&dir, vm.name, &vm.os, i as u64 * 7 + 1)?;
        let mut data_disks = Vec::new();
        for (lun, d) in vm.data.iter().enumerate() {
            let img = make_image(&dir, vm.name, d, i as u64 * 7 + 2 + lun as u64)?;
            let uri = format!("file://{}", img.display());
            if d.managed {
                let dr = ResourceRef {
                    name: d.name.into(),
                    ..r.clone()
                };
                let body = ManagedDisk {
                    location: Some(vm.location.into()),
                    sku: Some(standard_lrs()),
                    ..Resource::with_properties(DiskProperties {
                        creation_data: Some(CreationData {
                            create_option: Some("Import".into()),
                            source_uri: Some(uri),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                };
                let (disk, _) = service.put_disk(&dr, &body)?;
                data_disks.push(VmDisk {
                    lun: Some(lun as u32),
                    name: Some(d.name.into()),
                    managed_disk: Some(ManagedDiskRef {
                        id: disk.id,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            } else {
                data_disks.push(VmDisk {
                    lun: Some(lun as u32),
                    name: Some(d.name.into()),
                    vhd: Some(VirtualHardDisk {
                        uri: Some(uri),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
        }
        let os_disk = VmDisk {
            name: Some(vm.os.name.into()),
            os_type: Some("Linux".into()),
            vhd: Some(VirtualHardDisk {
                uri: Some(format!("file://{}", os.display())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = VirtualMachine {
            location: Some(vm.location.into()),
            tags: Some(demo_tags()),
            ..Resource::with_properties(VmProperties {
                hardware_profile: Some(HardwareProfile {
                    vm_size: Some("Standard_B2s".into()),
                    ..Default::default()
                }),
                storage_profile: Some(StorageProfile {
                    os_disk: Some(os_disk),
                    data_disks: Some(data_disks),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        service.put_vm(vm.provider, &r, &body)?;
        if !vm.running {
            service.set_power(vm.provider, &r, "stopped")?;
        }
        tracing::info!(vm = vm.name, location = vm.location, "demo VM registered");
    }
    seed_storage_accounts(service)
}

/// One storage account per region of the demo VMs (`demosa<region>`), for
/// restore-disks; accounts that exist already are left as they are.
fn seed_storage_accounts(service: &Service) -> Result<()> {
    let mut regions: Vec<&str> = VMS.iter().map(|v| v.location).collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        let r = ResourceRef {
            subscription: SUBSCRIPTION.into(),
            resource_group: RESOURCE_GROUP.into(),
            name: storage_account(region),
        };
        if service.get_storage_account(&r).is_ok() {
            continue;
        }
        let mut body = StorageAccountResource {
            location: Some(region.into()),
            sku: Some(standard_lrs()),
            tags: Some(demo_tags()),
            ..Resource::with_properties(StorageAccountProperties::default())
        };
        body.extra.insert("kind".into(), "StorageV2".into());
        service.put_storage_account(&r, &body)?;
        tracing::info!(
            account = r.name,
            location = region,
            "demo storage account registered"
        );
    }
    Ok(())
}

/// The SKU of the demo's disks and accounts.
fn standard_lrs() -> Sku {
    Sku {
        name: "Standard_LRS".into(),
        ..Default::default()
    }
}

/// The tags of what the demo registers.
fn demo_tags() -> Extra {
    Extra::from_iter([("rsvault-demo".to_owned(), "true".into())])
}

/// The demo's storage account of a region.
pub fn storage_account(region: &str) -> String {
    format!("demosa{region}")
}

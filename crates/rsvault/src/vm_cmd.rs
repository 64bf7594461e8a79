//! `rsvault vm …`: the VM inventory (`Microsoft.Compute/virtualMachines`)
//! whose disks are image files on the server's host, in the manner of
//! `az vm`.

use crate::arm_client::{Arm, COMPUTE_API, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, show};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use rsvault_arm::Resource;
use rsvault_arm::inventory::{
    HardwareProfile, QemuLink, StorageProfile, VirtualHardDisk, VirtualMachine, VmDisk,
    VmProperties,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `rsvault vm`.
#[derive(Debug, Args)]
pub struct VmArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: VmCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OsType {
    #[value(name = "Linux")]
    Linux,
    #[value(name = "Windows")]
    Windows,
}

/// A VM by name.
#[derive(Debug, Args)]
pub struct VmName {
    /// Name of resource group.
    #[arg(short = 'g', long = "resource-group")]
    pub resource_group: String,
    /// The name of the Virtual Machine.
    #[arg(short = 'n', long = "name")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Create (or update) a VM whose disks are image files (raw, qcow2, VHD, VHDX) on the server's host.
    Create {
        #[command(flatten)]
        vm: VmName,
        /// Location (region), e.g. westeurope; a vault protects the VMs of its own region.
        #[arg(short = 'l', long)]
        location: String,
        /// Image file of the OS disk.
        #[arg(long, value_name = "FILE")]
        os_disk: PathBuf,
        /// Image file of a data disk; repeat for more disks (LUN 0, 1, …).
        #[arg(long, value_name = "FILE")]
        data_disk: Vec<PathBuf>,
        /// Type of OS on the OS disk.
        #[arg(long, value_enum, default_value = "Linux", ignore_case = true)]
        os_type: OsType,
        /// The VM size.
        #[arg(long, default_value = "Standard_D2s_v3")]
        size: String,
        /// Space-separated tags: key[=value] [key[=value] ...].
        #[arg(long, num_args = 0..)]
        tags: Option<Vec<String>>,
        /// The running QEMU's QMP socket (`-qmp unix:PATH,server=on,wait=off`):
        /// backups then snapshot the VM live (docs/LIVE-VMS.md).
        #[arg(long, value_name = "PATH")]
        qmp_socket: Option<PathBuf>,
        /// The host end of the guest agent's virtio-serial port
        /// (org.qemu.guest_agent.0), for app- and file-system-consistent backups.
        #[arg(long, value_name = "PATH", requires = "qmp_socket")]
        guest_agent_socket: Option<PathBuf>,
    },
    /// List details of Virtual Machines.
    List {
        /// Name of resource group (default: every group of the subscription).
        #[arg(short = 'g', long = "resource-group")]
        resource_group: Option<String>,
    },
    /// Get the details of a VM.
    Show {
        #[command(flatten)]
        vm: VmName,
        /// Show public ip address, FQDN, and power states. command will run slow
        #[arg(short = 'd', long)]
        show_details: bool,
    },
    /// Delete a VM (its disk images stay).
    Delete {
        #[command(flatten)]
        vm: VmName,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Start a stopped VM.
    Start {
        #[command(flatten)]
        vm: VmName,
    },
    /// Power off (stop) a running VM.
    Stop {
        #[command(flatten)]
        vm: VmName,
    },
    /// Deallocate a VM.
    Deallocate {
        #[command(flatten)]
        vm: VmName,
    },
}

fn power_state(v: &VirtualMachine) -> String {
    v.properties.power_state().unwrap_or_default().to_owned()
}

fn storage(v: &VirtualMachine) -> Option<&StorageProfile> {
    v.properties.storage_profile.as_ref()
}

const COLUMNS: &[Column<VirtualMachine>] = &[
    col("Name", |v| v.name().to_owned()),
    col("ResourceGroup", |v| show(&v.resource_group())),
    col("Location", |v| show(&v.location)),
    col("PowerState", power_state),
    col("OsType", |v| {
        show(
            &storage(v)
                .and_then(|s| s.os_disk.as_ref())
                .and_then(|d| d.os_type.as_ref()),
        )
    }),
    col("DataDisks", |v| {
        storage(v)
            .and_then(|s| s.data_disks.as_ref())
            .map_or(0, Vec::len)
            .to_string()
    }),
];

/// `file:///abs/path` of an existing image file.
fn file_uri(path: &Path, flag: &str) -> Result<String> {
    let abs = std::fs::canonicalize(path).with_context(|| format!("{flag} {}", path.display()))?;
    if !abs.is_file() {
        bail!("{flag} {}: not a file", path.display());
    }
    let s = abs
        .to_str()
        .with_context(|| format!("{flag} {}: the path is not UTF-8", path.display()))?;
    Ok(format!("file://{s}"))
}

fn vm_path(arm: &Arm, vm: &VmName) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{}",
        arm.group_path(&vm.resource_group),
        encode(&vm.name)
    )
}

/// A disk of `vm create`: an image file attached as it is.
fn image_disk(name: String, path: &Path, flag: &str) -> Result<VmDisk> {
    Ok(VmDisk {
        name: Some(name),
        create_option: Some("Attach".into()),
        vhd: Some(VirtualHardDisk {
            uri: Some(file_uri(path, flag)?),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The body of `vm create`.
fn create_body(
    vm: &VmName,
    location: &str,
    os_disk: &Path,
    data_disks: &[PathBuf],
    os_type: OsType,
    size: &str,
    tags: Option<&[String]>,
) -> Result<VirtualMachine> {
    let os_type = match os_type {
        OsType::Linux => "Linux",
        OsType::Windows => "Windows",
    };
    let mut data = Vec::new();
    for (lun, d) in data_disks.iter().enumerate() {
        let lun = u32::try_from(lun).context("too many data disks")?;
        data.push(VmDisk {
            lun: Some(lun),
            ..image_disk(format!("{}_DataDisk_{lun}", vm.name), d, "--data-disk")?
        });
    }
    let os = VmDisk {
        os_type: Some(os_type.into()),
        ..image_disk(format!("{}_OsDisk", vm.name), os_disk, "--os-disk")?
    };
    Ok(Resource {
        location: Some(location.to_owned()),
        tags: tags.map(crate::backup_cmd::parse_tags),
        ..Resource::with_properties(VmProperties {
            hardware_profile: Some(HardwareProfile {
                vm_size: Some(size.to_owned()),
                ..Default::default()
            }),
            storage_profile: Some(StorageProfile {
                os_disk: Some(os),
                data_disks: Some(data),
                ..Default::default()
            }),
            ..Default::default()
        })
    })
}

/// An absolute path as the server takes it (text).
fn socket_path(p: PathBuf, flag: &str) -> Result<String> {
    let abs = std::path::absolute(&p).unwrap_or(p);
    abs.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{flag} {}: the path is not UTF-8", abs.display()))
}

/// Runs one `rsvault vm` command.
pub fn run(args: VmArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    let print = |v: &VirtualMachine| output::print_one(format, v, COLUMNS);
    let api = [("api-version", COMPUTE_API)];
    match args.command {
        VmCommand::Create {
            vm,
            location,
            os_disk,
            data_disk,
            os_type,
            size,
            tags,
            qmp_socket,
            guest_agent_socket,
        } => {
            if data_disk.len() > 64 {
                bail!("a VM has at most 64 data disks");
            }
            let mut body = create_body(
                &vm,
                &location,
                &os_disk,
                &data_disk,
                os_type,
                &size,
                tags.as_deref(),
            )?;
            if let Some(q) = qmp_socket {
                body.properties.qemu = Some(QemuLink {
                    qmp_socket: Some(socket_path(q, "--qmp-socket")?),
                    guest_agent_socket: guest_agent_socket
                        .map(|g| socket_path(g, "--guest-agent-socket"))
                        .transpose()?,
                    ..Default::default()
                });
            }
            let created: VirtualMachine = arm
                .send_json("PUT", &vm_path(&arm, &vm), &api, &body)?
                .body()?;
            print(&created)?;
        }
        VmCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "{}/providers/Microsoft.Compute/virtualMachines",
                    arm.group_path(&rg)
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.Compute/virtualMachines",
                    encode(arm.subscription())
                ),
            };
            let vms: Vec<VirtualMachine> = arm.list(&path, COMPUTE_API, None)?;
            output::print_list(format, &vms, COLUMNS)?;
        }
        VmCommand::Show { vm, show_details } => {
            let mut query = api.to_vec();
            if show_details {
                query.push(("$expand", "instanceView"));
            }
            let mut v: VirtualMachine = arm.send("GET", &vm_path(&arm, &vm), &query)?.body()?;
            if show_details {
                v.extra.insert("powerState".into(), power_state(&v).into());
            }
            print(&v)?;
        }
        VmCommand::Delete { vm, yes } => {
            if confirm(yes, "Are you sure you want to perform this operation?")? {
                arm.send("DELETE", &vm_path(&arm, &vm), &api)?;
            }
        }
        VmCommand::Start { vm } => {
            arm.send("POST", &format!("{}/start", vm_path(&arm, &vm)), &api)?;
        }
        VmCommand::Stop { vm } => {
            arm.send("POST", &format!("{}/powerOff", vm_path(&arm, &vm)), &api)?;
        }
        VmCommand::Deallocate { vm } => {
            arm.send("POST", &format!("{}/deallocate", vm_path(&arm, &vm)), &api)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_point_at_absolute_files() {
        let dir = tempfile::tempdir().unwrap();
        let (os, data) = (dir.path().join("os.qcow2"), dir.path().join("d.raw"));
        std::fs::write(&os, b"x").unwrap();
        std::fs::write(&data, b"y").unwrap();
        let vm = VmName {
            resource_group: "rg".into(),
            name: "vm1".into(),
        };
        let b = create_body(
            &vm,
            "westeurope",
            &os,
            &[data.clone(), data],
            OsType::Linux,
            "S",
            None,
        )
        .unwrap();
        let b = serde_json::to_value(&b).unwrap();
        let sp = &b["properties"]["storageProfile"];
        let uri = sp["osDisk"]["vhd"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("file:///") && uri.ends_with("/os.qcow2"),
            "{uri}"
        );
        assert_eq!(sp["dataDisks"][1]["lun"], 1);
        assert_eq!(sp["osDisk"]["osType"], "Linux");
        assert!(
            create_body(
                &vm,
                "x",
                &dir.path().join("missing"),
                &[],
                OsType::Linux,
                "S",
                None
            )
            .is_err()
        );
    }
}

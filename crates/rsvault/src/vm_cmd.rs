//! `rsvault vm …`: the VM inventory (`Microsoft.Compute/virtualMachines`)
//! whose disks are image files on the server's host, in the manner of
//! `az vm`.

use crate::arm_client::{Arm, COMPUTE_API, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, text};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
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

fn power_state(v: &Value) -> String {
    v["properties"]["instanceView"]["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| {
            s["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("PowerState/"))
        })
        .map(|s| text(&s["displayStatus"]))
        .unwrap_or_default()
}

const COLUMNS: &[Column] = &[
    col("Name", |v| text(&v["name"])),
    col("ResourceGroup", |v| text(&v["resourceGroup"])),
    col("Location", |v| text(&v["location"])),
    col("PowerState", power_state),
    col("OsType", |v| {
        text(&v["properties"]["storageProfile"]["osDisk"]["osType"])
    }),
    col("DataDisks", |v| {
        v["properties"]["storageProfile"]["dataDisks"]
            .as_array()
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

/// The body of `vm create`.
fn create_body(
    vm: &VmName,
    location: &str,
    os_disk: &Path,
    data_disks: &[PathBuf],
    os_type: OsType,
    size: &str,
    tags: Option<&[String]>,
) -> Result<Value> {
    let os_type = match os_type {
        OsType::Linux => "Linux",
        OsType::Windows => "Windows",
    };
    let mut data = Vec::new();
    for (lun, d) in data_disks.iter().enumerate() {
        data.push(json!({
            "lun": lun,
            "name": format!("{}_DataDisk_{lun}", vm.name),
            "createOption": "Attach",
            "vhd": {"uri": file_uri(d, "--data-disk")?},
        }));
    }
    let mut body = json!({
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "osDisk": {
                    "name": format!("{}_OsDisk", vm.name),
                    "osType": os_type,
                    "createOption": "Attach",
                    "vhd": {"uri": file_uri(os_disk, "--os-disk")?},
                },
                "dataDisks": data,
            },
        },
    });
    if let Some(tags) = tags {
        let mut m = Map::new();
        for t in tags.iter().filter(|t| !t.is_empty()) {
            let (k, v) = t.split_once('=').unwrap_or((t, ""));
            m.insert(k.to_owned(), json!(v));
        }
        body["tags"] = Value::Object(m);
    }
    Ok(body)
}

/// Runs one `rsvault vm` command.
pub fn run(args: VmArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let print = |v: &Value| output::print(args.conn.output, v, COLUMNS);
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
                let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
                body["properties"]["qemu"] = json!({"qmpSocket": abs(q)});
                if let Some(g) = guest_agent_socket {
                    body["properties"]["qemu"]["guestAgentSocket"] = json!(abs(g));
                }
            }
            print(
                &arm.send("PUT", &vm_path(&arm, &vm), &api, Some(&body))?
                    .body,
            )?;
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
            print(&Value::Array(arm.list(&path, COMPUTE_API, None)?))?;
        }
        VmCommand::Show { vm, show_details } => {
            let mut query = api.to_vec();
            if show_details {
                query.push(("$expand", "instanceView"));
            }
            let mut v = arm.send("GET", &vm_path(&arm, &vm), &query, None)?.body;
            if show_details {
                v["powerState"] = json!(power_state(&v));
            }
            print(&v)?;
        }
        VmCommand::Delete { vm, yes } => {
            if confirm(yes, "Are you sure you want to perform this operation?")? {
                arm.send("DELETE", &vm_path(&arm, &vm), &api, None)?;
            }
        }
        VmCommand::Start { vm } => {
            arm.send("POST", &format!("{}/start", vm_path(&arm, &vm)), &api, None)?;
        }
        VmCommand::Stop { vm } => {
            arm.send(
                "POST",
                &format!("{}/powerOff", vm_path(&arm, &vm)),
                &api,
                None,
            )?;
        }
        VmCommand::Deallocate { vm } => {
            arm.send(
                "POST",
                &format!("{}/deallocate", vm_path(&arm, &vm)),
                &api,
                None,
            )?;
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

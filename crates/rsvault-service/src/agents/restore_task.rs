//! The agent's side of a restore task, on its own host, found by the VM's
//! UUID through the host's hypervisor (never by paths the server names):
//! - in place: the stopped VM's disks are replaced with the point's, each
//!   written beside its image first and renamed only when all are complete
//!   and the VM is still off;
//! - a new domain (`new_domain`): the point's disks as qcow2 images beside
//!   the source's OS disk, none replacing a file, defined from the
//!   definition saved with the point (new name, UUID and MACs) and left
//!   shut off. It is not reported until the server has registered it as
//!   the target VM; one the server does not register is undefined again
//!   and its images removed.
//!
//! The files a restore writes are listed in the state directory first
//! ([`super::leftovers`]): a failed task removes them, a dead agent's next
//! start does.

use super::leftovers::Leftovers;
use super::wire::{ReportedVm, RestoreTask, TaskResult};
use super::worker::{TaskChannel, Worker, error_result, files_of, reporting};
use crate::error::{Result, ServiceError};
use crate::host_restore::{NewDomain, check_name_free, publish_new, saved_config};
use crate::jobs::JobProgressHandle;
use crate::point_disks::PointDisk;
use rsvault_engine::{Manifest, RestoreFormat, RestoreOptions};
use rsvault_hypervisor::{DiskCheckpoint, HostVm, VmAddress};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// One disk to write: the point's disk, its engine point, where it goes.
struct Planned<'a> {
    disk: &'a PointDisk,
    manifest: Manifest,
    out: PathBuf,
    format: RestoreFormat,
}

/// A checkpoint as a restore task names it.
#[derive(serde::Deserialize)]
struct Pair {
    image: PathBuf,
    checkpoint: String,
}

/// How a restore's job names a disk.
fn label(lun: Option<i64>) -> String {
    match lun {
        None => "OS disk".to_owned(),
        Some(l) => format!("Data disk (LUN {l})"),
    }
}

fn format_of(d: &PointDisk) -> RestoreFormat {
    if d.format == "qcow2" {
        RestoreFormat::Qcow2
    } else {
        RestoreFormat::Raw
    }
}

fn task_disks(task: &RestoreTask) -> Result<Vec<PointDisk>> {
    serde_json::from_value(task.disks.clone())
        .map_err(|e| ServiceError::Internal(format!("the task's disks do not read: {e}")))
}

/// A disk written to its temporary file.
struct Written {
    tmp: PathBuf,
    out: PathBuf,
    label: String,
    lun: Option<i64>,
}

/// Writes each planned disk to its temporary file.
fn write_temps(
    store: &rsvault_engine::Store,
    plan: &[Planned<'_>],
    permille: &JobProgressHandle,
) -> Result<Vec<Written>> {
    let total: u64 = plan.iter().map(|p| p.manifest.size).sum();
    let progress = permille.progress(total, 0);
    let mut written = Vec::new();
    for p in plan {
        let tmp = crate::recovery::restore_temp_of(p.out.clone());
        let opts = RestoreOptions {
            format: p.format,
            cancel: Some(permille.cancel_flag()),
            ..Default::default()
        };
        rsvault_engine::restore(store, &p.manifest, &tmp, &opts, &progress)?;
        written.push(Written {
            tmp,
            out: p.out.clone(),
            label: label(p.disk.lun),
            lun: p.disk.lun,
        });
    }
    Ok(written)
}

/// The temporary files of restoring to `outs`.
fn temps_of(outs: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    outs.into_iter()
        .flat_map(crate::recovery::restore_temps_of)
        .collect()
}

impl Worker {
    /// Runs a restore task (in place, or a new domain).
    pub fn restore(
        &self,
        task: &RestoreTask,
        store: &rsvault_engine::Store,
        chan: &dyn TaskChannel,
    ) -> TaskResult {
        let permille = JobProgressHandle::default();
        let never = AtomicBool::new(false);
        let r = reporting(chan, &permille, &never, || match &task.new_domain {
            Some(name) => self
                .restore_new(task, name, store, &permille)
                .map(|(w, vm)| (w, Some(vm))),
            None => self
                .restore_in_place(task, store, &permille)
                .map(|w| (w, None)),
        });
        match r {
            Ok((written, defined)) => TaskResult {
                restored: Some(written),
                defined: defined.as_ref().map(ReportedVm::of),
                ..Default::default()
            },
            Err(e) => error_result(&e, permille.is_cancelled()),
        }
    }

    /// After the server's verdict on a restore task (`None`: no word from
    /// it): a new domain it said it did not register is undefined and its
    /// images removed; one it may have registered stays, and is reported.
    pub fn finish_restore(&self, task: &RestoreTask, result: &TaskResult, recorded: Option<bool>) {
        let Some(name) = &task.new_domain else {
            return;
        };
        if let (Some(vm), Some(false)) = (&result.defined, recorded) {
            tracing::warn!(domain = %vm.name, "the server did not register the restored domain: undefined again");
            if let Err(e) = self.discovery.undefine(&vm.uuid) {
                tracing::warn!(domain = %vm.name, error = %e, "could not undefine the restored domain");
            } else {
                for f in result.restored.iter().flat_map(|r| r.values()) {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        self.defining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    fn refuse_running(&self, link: &VmAddress) -> Result<()> {
        let why = match self.hypervisor.power_state(link) {
            Ok(rsvault_hypervisor::PowerState::Stopped) => return Ok(()),
            Ok(_) => "it is running".to_owned(),
            Err(e) => format!("its hypervisor cannot tell whether it runs ({e})"),
        };
        Err(ServiceError::bad_request(
            "UserErrorVmNotShutDown",
            format!(
                "The VM must be stopped before its disks are replaced, and {why}; power it off and retry."
            ),
        ))
    }

    fn restore_in_place(
        &self,
        task: &RestoreTask,
        store: &rsvault_engine::Store,
        permille: &JobProgressHandle,
    ) -> Result<BTreeMap<String, String>> {
        let vm = self.find(&task.vm_uuid)?;
        let link = vm.address.clone();
        self.refuse_running(&link)?;
        let current = self.disks(&vm)?;
        let disks = task_disks(task)?;
        let roots = rsvault_engine::source::ImageRoots::new(Vec::new()).with_files(files_of(&vm));
        let mut plan = Vec::new();
        for d in &disks {
            let out = crate::restore::original_target_within(d, &current, &roots)?;
            if vm.disks.iter().any(|x| x.path == out && x.block) {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "{} is a block device; restore it with RestoreDisks",
                        out.display()
                    ),
                ));
            }
            plan.push(Planned {
                disk: d,
                manifest: store.resolve_point(&d.store_name, &d.point)?,
                out,
                format: format_of(d),
            });
        }
        // Only the temporary files: the disks themselves are the host's.
        let files = Leftovers::begin(
            &self.state_dir,
            &task.job,
            temps_of(plan.iter().map(|p| p.out.clone())),
        )?;
        let written = write_temps(store, &plan, permille)?;
        self.refuse_running(&link)?;
        let mut out = BTreeMap::new();
        for w in written {
            std::fs::rename(&w.tmp, &w.out).map_err(|e| {
                ServiceError::Internal(format!(
                    "rename {} to {}: {e}",
                    w.tmp.display(),
                    w.out.display()
                ))
            })?;
            out.insert(w.label, w.out.display().to_string());
        }
        files.keep();
        // The replaced disks hold none of the bitmaps their checkpoints
        // name: the next backup reads them whole.
        let pairs: Vec<DiskCheckpoint> =
            serde_json::from_value::<Vec<Pair>>(task.checkpoints.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|p| DiskCheckpoint {
                    image: p.image,
                    checkpoint: p.checkpoint,
                })
                .collect();
        if !pairs.is_empty()
            && let Err(e) = self.hypervisor.discard_checkpoints(&link, &pairs)
        {
            tracing::warn!(error = %e, "could not drop the checkpoints of replaced disks");
        }
        permille.set(1000);
        Ok(out)
    }

    fn restore_new(
        &self,
        task: &RestoreTask,
        name: &str,
        store: &rsvault_engine::Store,
        permille: &JobProgressHandle,
    ) -> Result<(BTreeMap<String, String>, HostVm)> {
        // The server checked the name; the host checks it again, as its
        // images' names come from it.
        crate::inventory::check_vm_name(name)?;
        let disks = task_disks(task)?;
        let chosen: Vec<&PointDisk> = disks.iter().collect();
        let config = saved_config(&chosen).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                "the point holds no definition of the VM to define a new one from; restore the disks with RestoreDisks instead.",
            )
        })?;
        let domain = NewDomain::place(name, config, &chosen)?;
        check_name_free(self.discovery.as_ref(), name)?;
        self.defining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
        let mut plan = Vec::new();
        for d in &chosen {
            plan.push(Planned {
                disk: d,
                manifest: store.resolve_point(&d.store_name, &d.point)?,
                out: domain.image(d.lun),
                format: RestoreFormat::Qcow2,
            });
        }
        let mut files = Leftovers::begin(
            &self.state_dir,
            &task.job,
            temps_of(plan.iter().map(|p| p.out.clone())),
        )?;
        let written = write_temps(store, &plan, permille)?;
        let mut out = BTreeMap::new();
        let mut published = Vec::new();
        for w in written {
            // A new domain's images never replace a file: each is listed
            // only once it is this restore's.
            publish_new(&w.tmp, &w.out)?;
            files.add(w.out.clone())?;
            out.insert(w.label, w.out.display().to_string());
            published.push((w.out, w.lun));
        }
        let definition = domain.definition(&published)?;
        let vm = self
            .discovery
            .define(&definition)
            .map_err(|e| ServiceError::Job {
                code: "UserErrorGuestAgentStatusUnavailable".into(),
                message: format!("The host's hypervisor did not define the restored VM: {e}"),
                recommendation: "Check that libvirtd runs on the host, then restore again.".into(),
            })?;
        files.keep();
        permille.set(1000);
        Ok((out, vm))
    }
}
